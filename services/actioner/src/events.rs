//! `actions.<tenant>.<host>.status`: an action's record after each change
//! the actioner stored (what dashboards are sent as `action` frames and
//! integrators read). Published after the commit; a failed publish is
//! logged, the row stays the truth (`GET /api/actions/{id}`).

use vigil_bus::messages::{ActionRecord, ActionStage};
use vigil_bus::subjects;

use crate::{store, Shared};

/// Publishes the record of `tenant_id`'s action `id` as it is now.
pub(crate) async fn publish_status(shared: &Shared, tenant_id: &str, id: &str) {
    match store::get(&shared.pool, tenant_id, id).await {
        Ok(Some(record)) => publish_record(shared, &record).await,
        Ok(None) => {}
        Err(error) => tracing::warn!(%tenant_id, action_id = %id, error = %error, "cannot read an action to publish its status"),
    }
}

pub(crate) async fn publish_record(shared: &Shared, record: &ActionRecord) {
    if record.status.is_final() {
        crate::telemetry::metrics().finished.get_or_create(&[("status", record.status.as_str().to_owned())]).inc();
    }
    let subject = subjects::action(&record.tenant_id, &record.host_id, ActionStage::Status);
    let payload = match serde_json::to_vec(record) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::error!(action_id = %record.id, error = %error, "cannot encode an action status");
            return;
        }
    };
    let published = match shared.jetstream.publish(subject, payload.into()).await {
        Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = published {
        tracing::warn!(tenant_id = %record.tenant_id, action_id = %record.id, status = record.status.as_str(), error = %error, "cannot publish an action status");
    }
}
