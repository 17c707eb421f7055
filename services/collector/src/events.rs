//! Host lifecycle events (`hosts.<tenant>.<host>.<event>`), published through
//! JetStream (stream `HOSTS`): an event counts as sent only once the server
//! acknowledged it (PubAck).

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use vigil_bus::messages::{HostEvent, HostEventKind};

/// Publishes one event and waits for its PubAck. Failures are logged: the
/// database change that caused the event is already committed.
pub(crate) async fn publish(
    jetstream: &jetstream::Context,
    tenant_id: &str,
    host_id: &str,
    event: HostEventKind,
    last_seen: Option<DateTime<Utc>>,
) -> bool {
    let subject = vigil_bus::subjects::host_event(tenant_id, host_id, event);
    let payload = HostEvent { tenant_id: tenant_id.to_owned(), host_id: host_id.to_owned(), event, at: Utc::now(), last_seen };
    let bytes = match serde_json::to_vec(&payload) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(subject = %subject, error = %error, "cannot encode host event");
            return false;
        }
    };
    let result = match jetstream.publish(subject.clone(), bytes.into()).await {
        Ok(ack) => ack.await.map(|_| ()),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => {
            tracing::info!(tenant_id, host_id, event = event.as_str(), "host event published");
            true
        }
        Err(error) => {
            tracing::error!(subject = %subject, error = %error, "cannot publish host event; it is lost");
            false
        }
    }
}
