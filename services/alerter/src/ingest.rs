//! Snapshots → rule evaluation, one transaction per batch (the runtime's
//! ack-after-commit [`BatchLoop`](vigil_runtime::batch::BatchLoop)): the
//! batch's hosts are locked, their instances read, every snapshot newer
//! than the host's last evaluated one is evaluated in collection order, and
//! the changes with their outbox rows are written before the acks.
//!
//! A snapshot collected more than `max_snapshot_age` ago (a backlog replayed
//! after an outage) is acked without evaluation: alerts are about now.
//!
//! A redelivered or late snapshot (not newer than the host's
//! `evaluated_at`) changes nothing and is acked, so a snapshot delivered
//! twice (an alerter killed before its acks, another taking over) never
//! fires or notifies twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_nats::jetstream;
use chrono::Utc;
use vigil_bus::messages::MetricsSnapshot;
use vigil_runtime::batch::{BatchStore, Committed, Refusal, StoreError};

use crate::evaluate::{Changes, Context, HostState, Instance};
use crate::store::{self, Queued};
use crate::Shared;

pub(crate) struct SnapshotStore {
    pub shared: Arc<Shared>,
}

impl BatchStore for SnapshotStore {
    type Item = MetricsSnapshot;
    type After = Queued;

    fn decode(&self, message: &jetstream::Message) -> Result<MetricsSnapshot, Refusal> {
        let snapshot: MetricsSnapshot =
            serde_json::from_slice(&message.payload).map_err(|error| Refusal(format!("not a metrics snapshot: {error}")))?;
        match vigil_bus::subjects::parse_metrics(&message.subject) {
            Some((tenant, host)) if tenant == snapshot.tenant_id && host == snapshot.host_id => {}
            _ => {
                return Err(Refusal(format!(
                    "subject {} does not match the snapshot's tenant {:?} and host {:?}",
                    message.subject, snapshot.tenant_id, snapshot.host_id
                )))
            }
        }
        vigil_bus::validate("tenant", &snapshot.tenant_id).map_err(|error| Refusal(error.to_string()))?;
        vigil_bus::validate("host", &snapshot.host_id).map_err(|error| Refusal(error.to_string()))?;
        Ok(snapshot)
    }

    async fn store(&self, items: &[MetricsSnapshot]) -> Result<Committed<Queued>, StoreError> {
        evaluate(&self.shared, items).await.map_err(StoreError::from_sqlx)
    }

    async fn after_commit(&self, queued: Queued) {
        if queued.outbox_rows > 0 {
            self.shared.deliveries.notify_one();
        }
    }
}

async fn evaluate(shared: &Shared, items: &[MetricsSnapshot]) -> Result<Committed<Queued>, sqlx::Error> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|a, b| (&items[*a].host_id, items[*a].collected_at).cmp(&(&items[*b].host_id, items[*b].collected_at)));
    fn ids(snapshot: &MetricsSnapshot) -> (&str, &str) {
        (&snapshot.tenant_id, &snapshot.host_id)
    }
    let oldest = Utc::now() - chrono::Duration::from_std(shared.config.max_snapshot_age).unwrap_or(chrono::Duration::minutes(15));
    under_host_locks(shared, items, order, ids, |context, host, instances, snapshot, changes| {
        if snapshot.collected_at < oldest {
            tracing::debug!(host = %snapshot.host_id, collected_at = %snapshot.collected_at, "snapshot older than max_snapshot_age; not evaluated");
            return;
        }
        if host.evaluated_at.is_none_or(|evaluated| snapshot.collected_at > evaluated) {
            crate::telemetry::metrics().evaluations.inc();
            context.snapshot(host, instances, snapshot, changes);
        }
    })
    .await
}

/// The frame of every evaluation: the tenants' configurations and the
/// hosts' names (read before locking), then in one transaction the hosts'
/// locks and instances, `step` for each item in `order` (an item whose host
/// belongs to another tenant is refused), and the changes written.
pub(crate) async fn under_host_locks<T>(
    shared: &Shared,
    items: &[T],
    order: Vec<usize>,
    ids: fn(&T) -> (&str, &str),
    mut step: impl FnMut(&Context<'_>, &mut HostState, &mut HashMap<String, Instance>, &T, &mut Changes),
) -> Result<Committed<Queued>, sqlx::Error> {
    let tenant_ids: BTreeSet<&str> = items.iter().map(|item| ids(item).0).collect();
    let tenants = shared.tenants.get_many(&shared.pool, &tenant_ids).await?;
    let mut hosts: Vec<(&str, &str)> = items.iter().map(|item| (ids(item).1, ids(item).0)).collect();
    hosts.sort_unstable();
    hosts.dedup_by(|a, b| a.0 == b.0);
    let by_tenant: Vec<(&str, &str)> = hosts.iter().map(|(host, tenant)| (*tenant, *host)).collect();
    let names = shared.host_names.names(&by_tenant).await;

    let now = Utc::now();
    let mut tx = shared.pool.begin().await?;
    let (mut states, mut instances) = store::lock_hosts(&mut tx, &hosts).await?;
    let mut changes = Changes::default();
    let mut refused = BTreeMap::new();
    for index in order {
        let item = &items[index];
        let (tenant_id, host_id) = ids(item);
        let Some(host) = states.get_mut(host_id) else { continue };
        if host.tenant_id != tenant_id {
            refused.insert(index, Refusal(format!("host {host_id:?} belongs to tenant {:?}, not {tenant_id:?}", host.tenant_id)));
            continue;
        }
        let Some(tenant) = tenants.get(tenant_id) else { continue };
        let context = shared.context(tenant, &names, host_id, now);
        step(&context, host, &mut instances, item, &mut changes);
    }
    let queued = store::apply(&mut tx, &tenants, &instances, &changes, shared.config.dashboard_url(), now).await?;
    store::save_hosts(&mut tx, states.values()).await?;
    tx.commit().await?;
    Ok(Committed { refused, after: queued })
}
