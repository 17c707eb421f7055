//! Dispatches and the agents' reports, from the durable consumer `actioner`
//! on `ACTIONS` (`actions.*.*.dispatched`, `actions.*.*.result`): stored in
//! `actions_log` in one transaction per batch, acked after the commit, each
//! change then published as a status.
//!
//! Tenant and host come from the subject (the gateway wrote them from the
//! agent's authenticated stream) and must match the message: an agent can
//! only report on its own host's actions.

use vigil_bus::messages::{ActionDispatched, ActionOutcome};
use vigil_runtime::batch::{BatchStore, Committed, Refusal, StoreError};

use crate::{events, store, Shared};

pub(crate) enum Progress {
    Dispatched(ActionDispatched),
    Reported(ActionOutcome),
}

impl Progress {
    fn ids(&self) -> (&str, &str, &str) {
        match self {
            Progress::Dispatched(d) => (&d.tenant_id, &d.host_id, &d.action_id),
            Progress::Reported(r) => (&r.tenant_id, &r.host_id, &r.action_id),
        }
    }
}

pub(crate) struct ProgressStore {
    pub shared: std::sync::Arc<Shared>,
}

fn decode(message: &async_nats::jetstream::Message) -> Result<Progress, Refusal> {
    let subject = message.subject.as_str();
    let Some((tenant, host, stage)) = vigil_bus::subjects::parse_action(subject) else {
        return Err(Refusal(format!("{subject} is not an action subject")));
    };
    let progress = match stage {
        "dispatched" => serde_json::from_slice(&message.payload).map(Progress::Dispatched),
        "result" => serde_json::from_slice(&message.payload).map(Progress::Reported),
        other => return Err(Refusal(format!("stage {other:?} is not dispatched or result"))),
    }
    .map_err(|e| Refusal(format!("not an action {stage} message: {e}")))?;
    let (t, h, id) = progress.ids();
    if t != tenant || h != host {
        return Err(Refusal(format!("message names tenant {t:?} host {h:?}, its subject {subject}")));
    }
    vigil_bus::ids::validate("action", id).map_err(|e| Refusal(e.to_string()))?;
    Ok(progress)
}

impl BatchStore for ProgressStore {
    type Item = Progress;
    /// `(tenant, action id)` of each row that changed.
    type After = Vec<(String, String)>;

    fn decode(&self, message: &async_nats::jetstream::Message) -> Result<Progress, Refusal> {
        decode(message)
    }

    async fn store(&self, items: &[Progress]) -> Result<Committed<Self::After>, StoreError> {
        let mut tx = self.shared.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let mut changed = Vec::new();
        for item in items {
            let did = match item {
                Progress::Dispatched(d) => store::dispatched(&mut tx, &d.tenant_id, &d.host_id, &d.action_id, d.at).await,
                Progress::Reported(outcome) => store::reported(&mut tx, outcome).await,
            }
            .map_err(StoreError::from_sqlx)?;
            if did {
                let (tenant, _, id) = item.ids();
                changed.push((tenant.to_owned(), id.to_owned()));
            }
            if let Progress::Reported(outcome) = item {
                tracing::info!(tenant_id = %outcome.tenant_id, host_id = %outcome.host_id, action_id = %outcome.action_id, status = outcome.status.as_str(), exit_code = ?outcome.exit_code, stored = did, "action report");
            }
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(Committed { refused: Default::default(), after: changed })
    }

    async fn after_commit(&self, changed: Self::After) {
        for (tenant, id) in changed {
            events::publish_status(&self.shared, &tenant, &id).await;
        }
    }
}
