//! Ingest: how the collector stores a batch of snapshots, for the
//! ack-after-commit loop of `vigil_runtime::batch` (which fetches, acks
//! after the commit, splits a refused batch and keeps dead letters).
//!
//! Invariants:
//! - inserts use `ON DUPLICATE KEY UPDATE host_id = host_id`, so a
//!   redelivered snapshot leaves exactly one row in each table (host,
//!   containers, services, custom metrics — all in the same transaction);
//! - a message that can never be stored is refused (dead-lettered by the
//!   loop): undecodable payload, subject/payload mismatch, unknown host,
//!   tenant mismatch, or data the database refuses;
//! - errors are permanent (`StoreError::Data`: the database refuses these
//!   rows, SQLSTATE classes 22 and 23 and a few MariaDB codes) or transient
//!   (anything else: connection lost, lock timeout, deadlock...);
//! - a snapshot is stored only for a registered host of its own tenant; a
//!   host's tenant never changes, so the collector remembers it
//!   ([`HostTenants`]) and asks the database only about hosts it has not
//!   seen yet (without locking);
//! - the `hosts` rows of the batch are locked (`SELECT ... FOR UPDATE`) in the
//!   same transaction, after its metric rows are inserted and just before the
//!   commit, so exactly one collector sees an offline → online transition and
//!   publishes its `Online` event, after the commit; two ingest loops (or
//!   collectors) insert their batches at the same time and queue only for
//!   that short last step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use sqlx::{MySql, QueryBuilder, Row, Transaction};
use vigil_bus::messages::{HostEventKind, MetricsSnapshot};
use vigil_runtime::batch::{BatchStore, Committed, Refusal, StoreError};

use crate::Shared;

/// Rows per multi-row INSERT (keeps every statement far below the 65 535
/// placeholders and the server's `max_allowed_packet`).
const ROWS_PER_INSERT: usize = 500;

/// Stores snapshots for the batch loop.
pub(crate) struct SnapshotStore {
    pub shared: Arc<Shared>,
}

/// Hosts that went offline → online in a committed batch: (tenant, host, last_seen).
pub(crate) type WentOnline = Vec<(String, String, DateTime<Utc>)>;

impl BatchStore for SnapshotStore {
    type Item = MetricsSnapshot;
    type After = WentOnline;

    fn decode(&self, message: &jetstream::Message) -> Result<MetricsSnapshot, Refusal> {
        let subject = message.subject.as_str();
        let refuse = |reason: String| Refusal(reason);
        let (tenant_id, host_id) = vigil_bus::subjects::parse_metrics(subject)
            .ok_or_else(|| refuse("subject is not metrics.<tenant>.<host>".to_owned()))?;
        let snapshot: MetricsSnapshot =
            serde_json::from_slice(&message.payload).map_err(|e| refuse(format!("payload is not a metrics snapshot: {e}")))?;
        vigil_bus::ids::validate("tenant", &snapshot.tenant_id).map_err(|e| refuse(e.to_string()))?;
        vigil_bus::ids::validate("host", &snapshot.host_id).map_err(|e| refuse(e.to_string()))?;
        if snapshot.tenant_id != tenant_id || snapshot.host_id != host_id {
            return Err(refuse(format!(
                "payload is for tenant {:?} host {:?} but the subject names tenant {tenant_id:?} host {host_id:?}",
                snapshot.tenant_id, snapshot.host_id
            )));
        }
        Ok(snapshot)
    }

    async fn store(&self, items: &[MetricsSnapshot]) -> Result<Committed<WentOnline>, StoreError> {
        store(&self.shared, items).await.map_err(StoreError::from_sqlx)
    }

    async fn after_commit(&self, went_online: WentOnline) {
        for (tenant_id, host_id, last_seen) in went_online {
            crate::events::publish(&self.shared.jetstream, &tenant_id, &host_id, HostEventKind::Online, Some(last_seen)).await;
        }
    }
}

/// Host id → tenant id of the registered hosts this collector has seen. A
/// host's tenant is set when it registers and never changes (hosts are never
/// re-assigned), so an entry never goes stale; unknown hosts are not
/// remembered (they may register later). One entry per host of the fleet.
#[derive(Default)]
pub(crate) struct HostTenants(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl HostTenants {
    /// The tenant of each host of `items` that is registered: from memory,
    /// and for the others from one (non-locking) read of `hosts`.
    async fn of(&self, pool: &sqlx::MySqlPool, items: &[MetricsSnapshot]) -> Result<BTreeMap<String, String>, sqlx::Error> {
        let mut found = BTreeMap::new();
        let mut missing = BTreeSet::new();
        {
            let known = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for item in items {
                let host_id = &item.host_id;
                match known.get(host_id) {
                    Some(tenant_id) => {
                        found.insert(host_id.clone(), tenant_id.clone());
                    }
                    None => {
                        missing.insert(host_id.as_str());
                    }
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut query = QueryBuilder::<MySql>::new("SELECT id, tenant_id FROM hosts WHERE id IN (");
        let mut list = query.separated(", ");
        for id in &missing {
            list.push_bind(*id);
        }
        query.push(")");
        let rows = query.build().fetch_all(pool).await?;
        let mut known = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for row in rows {
            let (host_id, tenant_id): (String, String) = (row.try_get("id")?, row.try_get("tenant_id")?);
            known.insert(host_id.clone(), tenant_id.clone());
            found.insert(host_id, tenant_id);
        }
        Ok(found)
    }
}

/// Current `hosts` row of a host in the batch (locked).
struct HostRow {
    tenant_id: String,
    status: String,
    last_seen: Option<DateTime<Utc>>,
    cpu_model: Option<String>,
}

/// Stores `items` in one transaction; nothing is acked here.
async fn store(shared: &Shared, items: &[MetricsSnapshot]) -> Result<Committed<WentOnline>, sqlx::Error> {
    let tenants = shared.host_tenants.of(&shared.pool, items).await?;

    let mut stored = Committed { refused: BTreeMap::new(), after: Vec::new() };
    let mut accepted: Vec<&MetricsSnapshot> = Vec::with_capacity(items.len());
    for (index, snapshot) in items.iter().enumerate() {
        match tenants.get(&snapshot.host_id) {
            None => {
                stored.refused.insert(index, Refusal(format!("unknown host id {:?}; register the host first", snapshot.host_id)));
            }
            Some(tenant_id) if *tenant_id != snapshot.tenant_id => {
                stored.refused.insert(
                    index,
                    Refusal(format!("host {:?} belongs to another tenant than {:?}", snapshot.host_id, snapshot.tenant_id)),
                );
            }
            Some(_) => accepted.push(snapshot),
        }
    }
    if accepted.is_empty() {
        return Ok(stored);
    }

    let mut tx = shared.pool.begin().await?;
    for chunk in accepted.chunks(ROWS_PER_INSERT) {
        insert_host_rows(&mut tx, chunk).await?;
    }
    let containers: Vec<_> = accepted.iter().flat_map(|s| s.containers.iter().map(move |c| (*s, c))).collect();
    for chunk in containers.chunks(ROWS_PER_INSERT) {
        let mut query = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_container (host_id, container_name, timestamp, runtime, status, image, created, cpu_percent, \
             memory_used, memory_limit, memory_percent, disk_used, network_rx, network_tx, processes) ",
        );
        query.push_values(chunk, |mut row, (snapshot, container)| {
            row.push_bind(&snapshot.host_id)
                .push_bind(clip(&container.name, 100))
                .push_bind(millis(snapshot.collected_at))
                .push_bind(clip(&container.runtime, 20))
                .push_bind(clip(&container.status, 20))
                .push_bind(clip(&container.image, 255))
                .push_bind(clip(&container.created, 64))
                .push_bind(decimal(container.cpu_percent, 9999.99))
                .push_bind(container.memory_used)
                .push_bind(container.memory_limit)
                .push_bind(decimal(container.memory_percent, 9999.99))
                .push_bind(container.disk_used)
                .push_bind(container.network_rx)
                .push_bind(container.network_tx)
                .push_bind(container.processes);
        });
        query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
        query.build().execute(&mut *tx).await?;
    }
    let services: Vec<_> = accepted.iter().flat_map(|s| s.services.iter().map(move |v| (*s, v))).collect();
    for chunk in services.chunks(ROWS_PER_INSERT) {
        let mut query = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_service (host_id, service_name, timestamp, status, pid, memory_used, cpu_percent, ports, uptime) ",
        );
        query.push_values(chunk, |mut row, (snapshot, service)| {
            row.push_bind(&snapshot.host_id)
                .push_bind(clip(&service.name, 100))
                .push_bind(millis(snapshot.collected_at))
                .push_bind(clip(&service.status, 20))
                .push_bind(service.pid)
                .push_bind(service.memory)
                .push_bind(decimal(service.cpu_percent, 9999.99))
                .push_bind(json(&service.ports))
                .push_bind(service.uptime);
        });
        query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
        query.build().execute(&mut *tx).await?;
    }
    // a value JSON can carry is always finite; the guard keeps a NOT NULL
    // column from failing the whole batch should one ever not be
    let custom: Vec<_> =
        accepted.iter().flat_map(|s| s.custom.iter().filter(|c| c.value.is_finite()).map(move |c| (*s, c))).collect();
    for chunk in custom.chunks(ROWS_PER_INSERT) {
        let mut query = QueryBuilder::<MySql>::new("INSERT INTO metrics_custom (host_id, name, timestamp, type, value, error) ");
        query.push_values(chunk, |mut row, (snapshot, metric)| {
            row.push_bind(&snapshot.host_id)
                .push_bind(clip(&metric.name, 100))
                .push_bind(millis(snapshot.collected_at))
                .push_bind(clip(&metric.kind, 10))
                .push_bind(metric.value)
                .push_bind(metric.error.as_deref().map(|e| clip(e, 1000)));
        });
        query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
        query.build().execute(&mut *tx).await?;
    }

    // last: the hosts rows stay locked only from here to the commit
    let hosts = lock_hosts(&mut tx, &accepted).await?;
    stored.after = update_hosts(&mut tx, &hosts, &accepted, shared.config.offline_after).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Locks the `hosts` rows of `accepted` in primary-key order (two
/// transactions locking the same hosts wait for each other, never deadlock).
async fn lock_hosts(
    tx: &mut Transaction<'_, MySql>,
    accepted: &[&MetricsSnapshot],
) -> Result<BTreeMap<String, HostRow>, sqlx::Error> {
    let ids: BTreeSet<&str> = accepted.iter().map(|snapshot| snapshot.host_id.as_str()).collect();
    let mut query = QueryBuilder::<MySql>::new("SELECT id, tenant_id, status, last_seen, cpu_model FROM hosts WHERE id IN (");
    let mut list = query.separated(", ");
    for id in &ids {
        list.push_bind(*id);
    }
    query.push(") ORDER BY id FOR UPDATE");
    let rows = query.build().fetch_all(&mut **tx).await?;
    let mut hosts = BTreeMap::new();
    for row in rows {
        hosts.insert(
            row.try_get::<String, _>("id")?,
            HostRow {
                tenant_id: row.try_get("tenant_id")?,
                status: row.try_get("status")?,
                last_seen: row.try_get("last_seen")?,
                cpu_model: row.try_get("cpu_model")?,
            },
        );
    }
    Ok(hosts)
}

async fn insert_host_rows(tx: &mut Transaction<'_, MySql>, chunk: &[&MetricsSnapshot]) -> Result<(), sqlx::Error> {
    let mut query = QueryBuilder::<MySql>::new(
        "INSERT INTO metrics_host (host_id, timestamp, uptime, cpu_percent, cpu_cores, memory_used, memory_total, \
         memory_available, swap_used, swap_total, disk_used, disk_total, load_1m, load_5m, load_15m, network_rx, \
         network_tx, per_core, mounts, interfaces) ",
    );
    query.push_values(chunk, |mut row, snapshot| {
        let host = &snapshot.host;
        row.push_bind(&snapshot.host_id)
            .push_bind(millis(snapshot.collected_at))
            .push_bind(host.uptime)
            .push_bind(decimal(host.cpu.percent, 999.99))
            .push_bind(host.cpu.cores.min(u32::from(u16::MAX)) as u16)
            .push_bind(host.memory.used)
            .push_bind(host.memory.total)
            .push_bind(host.memory.available)
            .push_bind(host.memory.swap_used)
            .push_bind(host.memory.swap_total)
            .push_bind(host.disk.used())
            .push_bind(host.disk.total())
            .push_bind(decimal(host.load.load_1m, 999_999.99))
            .push_bind(decimal(host.load.load_5m, 999_999.99))
            .push_bind(decimal(host.load.load_15m, 999_999.99))
            .push_bind(host.network.rx_bytes())
            .push_bind(host.network.tx_bytes())
            .push_bind(json(&host.cpu.per_core))
            .push_bind(json(&host.disk.mounts))
            .push_bind(json(&host.network.interfaces));
    });
    query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// Keeps each host's CPU model as its newest snapshot of the batch reports
/// it (an empty model, an agent that could not read it, changes nothing).
/// A model changes only with the machine, so this writes nearly never.
async fn update_cpu_models(
    tx: &mut Transaction<'_, MySql>,
    hosts: &BTreeMap<String, HostRow>,
    newest: &BTreeMap<&str, &MetricsSnapshot>,
) -> Result<(), sqlx::Error> {
    for (host_id, snapshot) in newest {
        let model = vigil_bus::text::truncate(snapshot.host.cpu.model.trim(), CPU_MODEL_BYTES);
        let Some(row) = hosts.get(*host_id) else { continue };
        if model.is_empty() || row.cpu_model.as_deref() == Some(model) {
            continue;
        }
        sqlx::query("UPDATE hosts SET cpu_model = ? WHERE id = ?").bind(model).bind(host_id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// `hosts.cpu_model` is a VARCHAR(255): 255 bytes always fit.
const CPU_MODEL_BYTES: usize = 255;

/// Moves `last_seen` forward and turns fresh offline hosts online, in one
/// statement. Returns the hosts that went offline → online.
async fn update_hosts(
    tx: &mut Transaction<'_, MySql>,
    hosts: &BTreeMap<String, HostRow>,
    accepted: &[&MetricsSnapshot],
    offline_after: Duration,
) -> Result<Vec<(String, String, DateTime<Utc>)>, sqlx::Error> {
    let now = Utc::now();
    let fresh_after = now - chrono::Duration::from_std(offline_after).unwrap_or(chrono::Duration::MAX);
    // each host's newest snapshot of the batch
    let mut newest: BTreeMap<&str, &MetricsSnapshot> = BTreeMap::new();
    for snapshot in accepted {
        let entry = newest.entry(&snapshot.host_id).or_insert(snapshot);
        if snapshot.collected_at > entry.collected_at {
            *entry = snapshot;
        }
    }
    update_cpu_models(tx, hosts, &newest).await?;
    let mut changes = Vec::new();
    let mut went_online = Vec::new();
    for (host_id, snapshot) in newest {
        // an agent clock ahead of ours must not keep its host online forever
        let seen = millis(snapshot.collected_at.min(now));
        let Some(row) = hosts.get(host_id) else { continue };
        let last_seen = row.last_seen.map_or(seen, |current| current.max(seen));
        let online_now = row.status == "offline" && last_seen >= fresh_after;
        let status = if online_now { "online" } else { row.status.as_str() };
        if Some(last_seen) != row.last_seen || status != row.status {
            changes.push((host_id, last_seen, status));
        }
        if online_now {
            went_online.push((row.tenant_id.clone(), host_id.to_owned(), last_seen));
        }
    }
    if changes.is_empty() {
        return Ok(went_online);
    }
    let mut query = QueryBuilder::<MySql>::new("UPDATE hosts SET last_seen = CASE id");
    for (host_id, last_seen, _) in &changes {
        query.push(" WHEN ").push_bind(*host_id).push(" THEN ").push_bind(*last_seen);
    }
    query.push(" ELSE last_seen END, status = CASE id");
    for (host_id, _, status) in &changes {
        query.push(" WHEN ").push_bind(*host_id).push(" THEN ").push_bind(*status);
    }
    query.push(" ELSE status END WHERE id IN (");
    let mut list = query.separated(", ");
    for (host_id, _, _) in &changes {
        list.push_bind(*host_id);
    }
    query.push(")");
    query.build().execute(&mut **tx).await?;
    Ok(went_online)
}

/// The stored precision of a snapshot time (`DATETIME(3)`).
pub(crate) fn millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

/// A value for a `DECIMAL` column: clamped to what the column holds, `NULL`
/// when not a number (strict mode would reject the whole batch otherwise).
fn decimal(value: f64, max: f64) -> Option<f64> {
    value.is_finite().then(|| (value.clamp(-max, max) * 100.0).round() / 100.0)
}

/// A string for a `VARCHAR(n)` column, cut to `n` characters.
fn clip(value: &str, max_chars: usize) -> &str {
    match value.char_indices().nth(max_chars) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_clamps_and_drops_non_numbers() {
        assert_eq!(decimal(12.345, 999.99), Some(12.35));
        assert_eq!(decimal(5000.0, 999.99), Some(999.99));
        assert_eq!(decimal(f64::NAN, 999.99), None);
        assert_eq!(decimal(f64::INFINITY, 999.99), None);
    }

    #[test]
    fn clip_cuts_on_character_boundaries() {
        assert_eq!(clip("ééé", 2), "éé");
        assert_eq!(clip("abc", 10), "abc");
    }

    #[test]
    fn millis_drops_sub_millisecond_precision() {
        let time = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(millis(time).timestamp_subsec_nanos(), 123_000_000);
    }
}
