//! Ingest: pulls snapshots from the durable consumer, stores a batch in one
//! MariaDB transaction, and only then acks.
//!
//! Invariants:
//! - ack only after commit; on a database failure nothing of the batch is
//!   acked: each message is nak'ed with a delay (redelivered, to this or
//!   another collector) and ingest backs off 1s → 30s;
//! - inserts use `ON DUPLICATE KEY UPDATE host_id = host_id`, so a
//!   redelivered snapshot leaves exactly one row in each table (host,
//!   containers, services, custom metrics — all in the same transaction);
//! - a message that can never be stored is kept on the dead-letter subject
//!   `deadletter.<subject>` with why (stored in the `DEADLETTER` stream before
//!   anything else), then terminated (`AckKind::Term`) with a warning naming
//!   its subject and stream sequence: undecodable payload, subject/payload
//!   mismatch, unknown host, tenant mismatch, or data the database refuses;
//! - errors are permanent ([`StoreError::Data`]: the database refuses these
//!   rows, SQLSTATE classes 22 and 23 and a few MariaDB codes) or transient
//!   (anything else: connection lost, lock timeout, deadlock...). A batch that
//!   fails for a permanent reason is split in halves until the refused
//!   snapshots stand alone, so every other snapshot of the batch is stored
//!   (one bad snapshot costs about 2·log2(batch) extra transactions, never a
//!   stall); a transient failure naks what is not stored yet and backs off;
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

use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::{MySql, QueryBuilder, Row, Transaction};
use tokio::sync::watch;
use vigil_bus::messages::{DeadLetter, HostEventKind, MetricsSnapshot};

use crate::{CollectorError, Shared};

/// Rows per multi-row INSERT (keeps every statement far below the 65 535
/// placeholders and the server's `max_allowed_packet`).
const ROWS_PER_INSERT: usize = 500;

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A decoded message, ready to store.
struct Item {
    message: jetstream::Message,
    snapshot: MetricsSnapshot,
}

/// Why a store attempt failed.
#[derive(Debug)]
enum StoreError {
    /// The database refused the data itself: retrying the same rows fails again.
    Data(sqlx::Error),
    /// The database is unreachable, busy, deadlocked...: retry later.
    Unavailable(sqlx::Error),
}

/// MariaDB errors about the rows themselves whose SQLSTATE is the generic
/// `HY000`: incorrect string value (1366), no partition for the value (1526),
/// invalid JSON text (3140), CHECK constraint failed (4025), truncated wrong
/// value (1292, also sent as 22007).
const DATA_ERROR_NUMBERS: [u16; 5] = [1292, 1366, 1526, 3140, 4025];

/// Whether the database refused the data itself (retrying the same rows
/// fails again): SQLSTATE class 22 (data exception: out of range, too long,
/// bad datetime) and 23 (integrity: `1048 Column cannot be null`, duplicate
/// or foreign key), or one of [`DATA_ERROR_NUMBERS`].
fn is_data_error(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else { return false };
    if db.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23")) {
        return true;
    }
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| DATA_ERROR_NUMBERS.contains(&e.number()))
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_data_error(&error) {
            StoreError::Data(error)
        } else {
            StoreError::Unavailable(error)
        }
    }
}

/// What a committed transaction decided for each item of its batch.
#[derive(Default)]
struct Stored {
    /// Index → why the item was not stored (terminate it).
    rejected: BTreeMap<usize, String>,
    /// Hosts that went offline → online: (tenant, host, last_seen).
    went_online: Vec<(String, String, DateTime<Utc>)>,
}

/// Runs until `stop` turns true: fetch, decode, store, ack.
pub(crate) async fn ingest_loop(
    shared: Arc<Shared>,
    consumer: PullConsumer,
    mut stop: watch::Receiver<bool>,
) -> Result<(), CollectorError> {
    let mut backoff = BACKOFF_MIN;
    loop {
        if *stop.borrow() {
            break;
        }
        let messages = match fetch(&consumer, shared.config.batch_size).await {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "cannot fetch snapshots from jetstream");
                if sleep_or_stop(backoff, &mut stop).await {
                    break;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if messages.is_empty() {
            // nothing waiting: look again after batch_wait
            if sleep_or_stop(shared.config.batch_wait, &mut stop).await {
                break;
            }
            continue;
        }
        match handle_batch(&shared, messages, backoff).await {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(error) => {
                tracing::error!(error = %error, retry_in_ms = backoff.as_millis() as u64, "cannot store snapshots; nothing acked, they will be redelivered");
                if sleep_or_stop(backoff, &mut stop).await {
                    break;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    Ok(())
}

/// Sleeps `duration`; true when stop was requested meanwhile.
async fn sleep_or_stop(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// Takes what is waiting, up to `max`, without waiting for more (`no_wait`
/// fetch). We do not hold a pull request open with `expires`: nats-server 2.9
/// does not always end an expired request, and the client then gives up only
/// 5 s later, which stalled ingest for 5 s under light load.
async fn fetch(consumer: &PullConsumer, max: usize) -> Result<Vec<jetstream::Message>, String> {
    let mut batch = consumer.fetch().max_messages(max).messages().await.map_err(|e| e.to_string())?;
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        match message {
            Ok(message) => messages.push(message),
            Err(error) if messages.is_empty() => return Err(error.to_string()),
            Err(error) => {
                tracing::debug!(error = %error, "fetch ended early");
                break;
            }
        }
    }
    Ok(messages)
}

fn stream_sequence(message: &jetstream::Message) -> u64 {
    message.info().map(|info| info.stream_sequence).unwrap_or(0)
}

/// Keeps a message that can never be stored on `deadletter.<subject>` with
/// `reason`, then terminates it. If the dead letter cannot be stored, the
/// message is nak'ed instead (redelivered later): nothing is dropped that
/// was not kept somewhere.
async fn terminate(shared: &Shared, message: &jetstream::Message, reason: &str) {
    let sequence = stream_sequence(message);
    let subject = message.subject.as_str();
    tracing::warn!(%subject, stream_sequence = sequence, reason, "snapshot terminated, not stored; kept as a dead letter");
    let letter =
        DeadLetter::new(vigil_bus::subjects::collector::SERVICE_NAME, subject, sequence, reason.to_owned(), &message.payload);
    let kept = match serde_json::to_vec(&letter) {
        Ok(payload) => match shared.jetstream.publish(vigil_bus::subjects::dead_letter(subject), payload.into()).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        },
        Err(error) => Err(error.to_string()),
    };
    let kind = match kept {
        Ok(()) => AckKind::Term,
        Err(error) => {
            tracing::error!(%subject, stream_sequence = sequence, error = %error, "cannot keep the dead letter; the snapshot will be redelivered");
            AckKind::Nak(Some(BACKOFF_MAX))
        }
    };
    if let Err(error) = message.ack_with(kind).await {
        tracing::warn!(%subject, error = %error, "cannot terminate message; it will be redelivered");
    }
}

fn decode(message: &jetstream::Message) -> Result<MetricsSnapshot, String> {
    let subject = message.subject.as_str();
    let (tenant_id, host_id) =
        vigil_bus::subjects::parse_metrics(subject).ok_or_else(|| "subject is not metrics.<tenant>.<host>".to_owned())?;
    let snapshot: MetricsSnapshot =
        serde_json::from_slice(&message.payload).map_err(|e| format!("payload is not a metrics snapshot: {e}"))?;
    vigil_bus::ids::validate("tenant", &snapshot.tenant_id).map_err(|e| e.to_string())?;
    vigil_bus::ids::validate("host", &snapshot.host_id).map_err(|e| e.to_string())?;
    if snapshot.tenant_id != tenant_id || snapshot.host_id != host_id {
        return Err(format!(
            "payload is for tenant {:?} host {:?} but the subject names tenant {tenant_id:?} host {host_id:?}",
            snapshot.tenant_id, snapshot.host_id
        ));
    }
    Ok(snapshot)
}

/// Decodes, stores and acks one fetched batch. `Err` when the database is
/// unavailable: every message not stored yet was nak'ed with `retry_after`.
async fn handle_batch(shared: &Shared, messages: Vec<jetstream::Message>, retry_after: Duration) -> Result<(), sqlx::Error> {
    let fetched = messages.len();
    let mut items = Vec::with_capacity(fetched);
    for message in messages {
        match decode(&message) {
            Ok(snapshot) => items.push(Item { message, snapshot }),
            Err(reason) => terminate(shared, &message, &reason).await,
        }
    }
    // Ranges still to store, the next one last. A range the database refuses
    // for its data is split in two until the refused snapshot stands alone.
    let mut todo: Vec<std::ops::Range<usize>> = Vec::with_capacity(16);
    todo.push(0..items.len());
    while let Some(range) = todo.pop() {
        if range.is_empty() {
            continue;
        }
        let batch = &items[range.clone()];
        match store(shared, batch).await {
            Ok(stored) => finish(shared, batch, stored).await,
            Err(StoreError::Data(error)) if batch.len() > 1 => {
                tracing::warn!(error = %error, snapshots = batch.len(), "database refused a batch; splitting it to isolate the snapshot");
                let middle = range.start + batch.len() / 2;
                todo.push(middle..range.end);
                todo.push(range.start..middle);
            }
            Err(StoreError::Data(error)) => {
                terminate(shared, &batch[0].message, &format!("database refused the snapshot: {error}")).await
            }
            Err(StoreError::Unavailable(error)) => {
                nak_all(batch, retry_after).await;
                for rest in todo {
                    nak_all(&items[rest], retry_after).await;
                }
                return Err(error);
            }
        }
    }
    tracing::debug!(fetched, "snapshot batch handled");
    Ok(())
}

async fn nak_all(items: &[Item], delay: Duration) {
    for item in items {
        if let Err(error) = item.message.ack_with(AckKind::Nak(Some(delay))).await {
            tracing::debug!(error = %error, "cannot nak message; it is redelivered after ack_wait");
        }
    }
}

/// After the commit: ack what was stored, terminate what was rejected,
/// publish the online events.
async fn finish(shared: &Shared, items: &[Item], stored: Stored) {
    for (index, item) in items.iter().enumerate() {
        if let Some(reason) = stored.rejected.get(&index) {
            terminate(shared, &item.message, reason).await;
        } else if let Err(error) = item.message.ack().await {
            tracing::warn!(subject = %item.message.subject, error = %error, "cannot ack stored snapshot; its redelivery will be a no-op");
        }
    }
    for (tenant_id, host_id, last_seen) in stored.went_online {
        crate::events::publish(&shared.jetstream, &tenant_id, &host_id, HostEventKind::Online, Some(last_seen)).await;
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
    async fn of(&self, pool: &sqlx::MySqlPool, items: &[Item]) -> Result<BTreeMap<String, String>, sqlx::Error> {
        let mut found = BTreeMap::new();
        let mut missing = BTreeSet::new();
        {
            let known = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for item in items {
                let host_id = &item.snapshot.host_id;
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
}

/// Stores `items` in one transaction; nothing is acked here.
async fn store(shared: &Shared, items: &[Item]) -> Result<Stored, StoreError> {
    let tenants = shared.host_tenants.of(&shared.pool, items).await?;

    let mut stored = Stored::default();
    let mut accepted: Vec<&MetricsSnapshot> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let snapshot = &item.snapshot;
        match tenants.get(&snapshot.host_id) {
            None => {
                stored.rejected.insert(index, format!("unknown host id {:?}; register the host first", snapshot.host_id));
            }
            Some(tenant_id) if *tenant_id != snapshot.tenant_id => {
                stored.rejected.insert(
                    index,
                    format!("host {:?} belongs to another tenant than {:?}", snapshot.host_id, snapshot.tenant_id),
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
    stored.went_online = update_hosts(&mut tx, &hosts, &accepted, shared.config.offline_after).await?;
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
    let mut query = QueryBuilder::<MySql>::new("SELECT id, tenant_id, status, last_seen FROM hosts WHERE id IN (");
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
    let mut newest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for snapshot in accepted {
        // an agent clock ahead of ours must not keep its host online forever
        let seen = millis(snapshot.collected_at.min(now));
        newest.entry(&snapshot.host_id).and_modify(|t| *t = (*t).max(seen)).or_insert(seen);
    }
    let mut changes = Vec::new();
    let mut went_online = Vec::new();
    for (host_id, seen) in newest {
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
