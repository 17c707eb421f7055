//! Host online/offline events → the host-status rules (the built-in host
//! offline rule). One event at a time, under the host's lock, acked after
//! the commit. An offline event older than the newest snapshot evaluated
//! (the host reported again meanwhile) changes nothing.

use std::sync::Arc;

use async_nats::jetstream;
use vigil_bus::messages::{HostEvent, HostEventKind};
use vigil_runtime::batch::{BatchStore, Committed, Refusal, StoreError};

use crate::ingest::under_host_locks;
use crate::store::Queued;
use crate::Shared;

pub(crate) struct HostEventStore {
    pub shared: Arc<Shared>,
}

impl BatchStore for HostEventStore {
    type Item = HostEvent;
    type After = Queued;

    fn decode(&self, message: &jetstream::Message) -> Result<HostEvent, Refusal> {
        let event: HostEvent =
            serde_json::from_slice(&message.payload).map_err(|error| Refusal(format!("not a host event: {error}")))?;
        vigil_bus::validate("tenant", &event.tenant_id).map_err(|error| Refusal(error.to_string()))?;
        vigil_bus::validate("host", &event.host_id).map_err(|error| Refusal(error.to_string()))?;
        if message.subject.as_str() != vigil_bus::subjects::host_event(&event.tenant_id, &event.host_id, event.event) {
            return Err(Refusal(format!("subject {} does not match the event", message.subject)));
        }
        Ok(event)
    }

    async fn store(&self, items: &[HostEvent]) -> Result<Committed<Queued>, StoreError> {
        apply(&self.shared, items).await.map_err(StoreError::from_sqlx)
    }

    async fn after_commit(&self, queued: Queued) {
        if queued.outbox_rows > 0 {
            self.shared.deliveries.notify_one();
        }
    }
}

async fn apply(shared: &Shared, events: &[HostEvent]) -> Result<Committed<Queued>, sqlx::Error> {
    fn ids(event: &HostEvent) -> (&str, &str) {
        (&event.tenant_id, &event.host_id)
    }
    under_host_locks(shared, events, (0..events.len()).collect(), ids, |context, host, instances, event, changes| {
        let online = match event.event {
            HostEventKind::Online => true,
            HostEventKind::Offline => false,
            HostEventKind::Registered | HostEventKind::Degraded => return,
        };
        // an offline event decided before the newest snapshot evaluated: stale
        let stale = !online
            && matches!((event.last_seen, host.evaluated_at), (Some(last_seen), Some(evaluated)) if evaluated > last_seen);
        if !stale {
            context.status(host, online, instances, event.at, changes);
        }
    })
    .await
}
