//! Compaction: folds a host's raw rows (`metrics_host`,
//! `metrics_container`, `metrics_service`, `metrics_custom`) into one
//! `metrics_chunk` row per UTC hour ([`crate::chunk`]), and reads ranges
//! back from both ([`Merged`]). Runs on `collector.compaction.schedule`
//! (every 15 minutes): each run folds every snapshot older than its start,
//! so the current hour's chunk grows run by run.
//!
//! Invariants:
//! - one collector at a time folds a host-hour (a named lock, `GET_LOCK`
//!   with no wait: the others skip it), in one transaction: the chunk
//!   (merged with the hour's existing chunk, if any), once the hour is over
//!   its `metrics_host_hourly` row computed from every snapshot of the hour
//!   (the downsampling leaves hours with a chunk to it), and the delete of
//!   exactly the raw rows read (by their times), commit together or not at
//!   all; a snapshot stored while the hour is being folded stays raw for the
//!   next run;
//! - each host's newest snapshot, and each custom metric's newest point,
//!   stay raw (the "latest" readers and `hosts.latest` read only raw rows);
//!   they are also in the chunk, and readers take a time from the chunk
//!   when both hold it;
//! - a snapshot redelivered after its hour was folded lands raw and is
//!   folded again by the next run, where the chunk's copy wins: storing a
//!   snapshot twice stays a no-op;
//! - a chunk that does not decode is never overwritten: its hour is left
//!   raw and logged.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, Utc};
use futures::{Stream, StreamExt};
use sqlx::{MySql, MySqlPool, QueryBuilder, Row, Transaction};
use vigil_bus::messages::HostMetrics;

use std::sync::Arc;

use crate::chunk::{self, Chunk, Sections, Snapshot};
use crate::inventory::{container_metrics, custom_point, service_record, CONTAINER_COLUMNS, CUSTOM_COLUMNS, SERVICE_COLUMNS};
use crate::metrics::{point, POINT_COLUMNS};

/// Runs [`compact`] at each instant of `collector.compaction.schedule`,
/// until stop, logged.
pub(crate) async fn compaction_loop(shared: std::sync::Arc<crate::Shared>, stop: vigil_runtime::CancellationToken) {
    crate::downsample::on_schedule(&shared.config.compaction.schedule, "compaction", stop, || async {
        match compact(&shared.pool, Utc::now()).await {
            Ok(report) => tracing::info!(
                chunks = report.chunks,
                snapshots = report.snapshots,
                deleted_rows = report.deleted_rows,
                bytes = report.bytes,
                skipped = report.skipped,
                raced = report.raced,
                "raw metrics compacted"
            ),
            Err(error) => tracing::error!(error = %error, "compacting raw metrics failed; retrying at the next scheduled run"),
        }
    })
    .await;
}

/// Largest chunk written (a hard limit of the server is `max_allowed_packet`,
/// 16 MiB by default); an hour that compresses to more stays raw.
const MAX_CHUNK_BYTES: usize = 8 << 20;
const HOUR: TimeDelta = TimeDelta::hours(1);
/// How far back a run looks for hours over whose chunk has no hourly row.
const HOURLY_LOOKBACK: TimeDelta = TimeDelta::hours(3);

/// What one [`compact`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Host-hours folded.
    pub chunks: u64,
    /// Snapshots the written chunks hold.
    pub snapshots: u64,
    /// Raw rows deleted, all four tables.
    pub deleted_rows: u64,
    /// Bytes of the written chunks.
    pub bytes: u64,
    /// Host-hours left raw (a chunk that does not decode, or too large).
    pub skipped: u64,
    /// Host-hours another collector was folding at the same time (left to
    /// it), or whose fold was a deadlock victim (left to the next run).
    pub raced: u64,
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(HOUR).unwrap_or(at)
}

/// Folds every raw snapshot older than `before` (but each host's newest)
/// into its hour's chunk; writes the hourly row of each hour over by then.
pub async fn compact(pool: &MySqlPool, before: DateTime<Utc>) -> Result<CompactReport, sqlx::Error> {
    // host-hours holding a raw snapshot that is not the host's newest
    let mut work: BTreeSet<(NaiveDateTime, String)> = sqlx::query_as(
        "SELECT CAST(DATE_FORMAT(m.timestamp, '%Y-%m-%d %H:00:00') AS DATETIME) AS hour, m.host_id FROM metrics_host m \
         WHERE m.timestamp < ? AND m.timestamp < (SELECT MAX(x.timestamp) FROM metrics_host x WHERE x.host_id = m.host_id) \
         GROUP BY m.host_id, hour",
    )
    .bind(before)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    // and the hours just over whose chunk has no hourly row yet (the host
    // sent nothing more after the last run of the hour)
    let over = hour_of(before);
    let missing: Vec<(NaiveDateTime, String)> = sqlx::query_as(
        "SELECT k.hour, k.host_id FROM metrics_chunk k WHERE k.hour >= ? AND k.hour < ? \
         AND NOT EXISTS (SELECT 1 FROM metrics_host_hourly h WHERE h.host_id = k.host_id AND h.hour = k.hour)",
    )
    .bind((over - HOURLY_LOOKBACK).naive_utc())
    .bind(over.naive_utc())
    .fetch_all(pool)
    .await?;
    work.extend(missing);
    let mut report = CompactReport::default();
    for (hour, host_id) in work {
        let hour = hour.and_utc();
        // one collector at a time folds a host-hour: a named lock, not the
        // chunk's row lock (there is no row to lock before the first fold)
        let mut connection = pool.acquire().await?;
        let lock = format!("vc.{host_id}.{}", hour.timestamp() / 3600); // under MariaDB's 64 characters
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)").bind(&lock).fetch_one(&mut *connection).await?;
        if got != Some(1) {
            tracing::debug!(host_id, hour = %hour, "another collector is folding this hour; left to it");
            report.raced += 1;
            continue;
        }
        let folded = fold(&mut connection, &host_id, hour, before, &mut report).await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)").bind(&lock).execute(&mut *connection).await;
        if released.is_err() {
            // a lock lives as long as its connection: never hand this one back
            connection.detach();
        }
        match folded {
            Ok(()) => {}
            // an ingest batch writing late rows of this hour at the same time
            Err(error) if deadlock(&error) => {
                tracing::info!(host_id, hour = %hour, "folding an hour met a deadlock; the next run folds it");
                report.raced += 1;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(report)
}

fn deadlock(error: &sqlx::Error) -> bool {
    const ER_LOCK_DEADLOCK: u16 = 1213;
    matches!(error, sqlx::Error::Database(db)
        if db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| e.number() == ER_LOCK_DEADLOCK))
}

/// Folds the raw snapshots of `hour` older than `before` into its chunk.
async fn fold(
    connection: &mut sqlx::MySqlConnection,
    host_id: &str,
    hour: DateTime<Utc>,
    before: DateTime<Utc>,
    report: &mut CompactReport,
) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let over = hour + HOUR <= before;
    let end = (hour + HOUR).min(before);
    let mut tx = connection.begin().await?;
    let existing: Option<Vec<u8>> =
        // no row lock: the named lock keeps other folds out, and ingest never writes chunks
        sqlx::query_scalar("SELECT data FROM metrics_chunk WHERE host_id = ? AND hour = ?")
            .bind(host_id)
            .bind(hour.naive_utc())
            .fetch_optional(&mut *tx)
            .await?;
    let mut snapshots: BTreeMap<i64, Snapshot> = BTreeMap::new();
    if let Some(data) = &existing {
        match chunk::decode(data, Sections::ALL) {
            Ok(stored) => snapshots.extend(stored.into_iter().map(|s| (s.timestamp.timestamp_millis(), s))),
            Err(error) => {
                tracing::error!(host_id, hour = %hour, error = %error, "metrics chunk does not decode; its hour stays raw");
                report.skipped += 1;
                return Ok(());
            }
        }
    }
    let raw = raw_snapshots(&mut tx, host_id, hour, end).await?;
    let raw_times: Vec<DateTime<Utc>> = raw.iter().map(|s| s.timestamp).collect();
    if raw.iter().all(|s| snapshots.contains_key(&s.timestamp.timestamp_millis())) {
        // nothing new (redelivered copies, the kept newest, folded meanwhile
        // by another collector, or an hour over since its last fold): only
        // the copies go, and the hour's row is written once it is over
        if over {
            if let Some(row) = Hourly::of(snapshots.values().filter_map(|s| s.host.as_ref())) {
                row.upsert(&mut tx, host_id, hour).await?;
            }
        }
        report.deleted_rows += delete_raw(&mut tx, host_id, hour, end, &raw_times).await?;
        tx.commit().await?;
        return Ok(());
    }
    for snapshot in raw {
        // the chunk's copy wins: a redelivered snapshot changes nothing
        snapshots.entry(snapshot.timestamp.timestamp_millis()).or_insert(snapshot);
    }
    let snapshots: Vec<Snapshot> = snapshots.into_values().collect();
    let data = chunk::encode(&snapshots);
    if data.len() > MAX_CHUNK_BYTES {
        tracing::warn!(host_id, hour = %hour, bytes = data.len(), "hour too large for one metrics chunk; it stays raw");
        report.skipped += 1;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO metrics_chunk (host_id, hour, snapshots, data) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE snapshots = VALUES(snapshots), data = VALUES(data)",
    )
    .bind(host_id)
    .bind(hour.naive_utc())
    .bind(snapshots.len() as u64)
    .bind(&data)
    .execute(&mut *tx)
    .await?;
    if over {
        if let Some(row) = Hourly::of(snapshots.iter().filter_map(|s| s.host.as_ref())) {
            row.upsert(&mut tx, host_id, hour).await?;
        }
    }
    report.deleted_rows += delete_raw(&mut tx, host_id, hour, end, &raw_times).await?;
    tx.commit().await?;
    report.chunks += 1;
    report.snapshots += snapshots.len() as u64;
    report.bytes += data.len() as u64;
    Ok(())
}

/// The raw snapshots of a host with `from <= timestamp < to`, oldest first,
/// containers, services and custom metrics by name (as a chunk decodes).
async fn raw_snapshots(
    tx: &mut Transaction<'_, MySql>,
    host_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Snapshot>, sqlx::Error> {
    fn at(snapshots: &mut BTreeMap<DateTime<Utc>, Snapshot>, timestamp: DateTime<Utc>) -> &mut Snapshot {
        snapshots.entry(timestamp).or_insert_with(|| Snapshot {
            timestamp,
            host: None,
            containers: Vec::new(),
            services: Vec::new(),
            custom: Vec::new(),
        })
    }
    let mut snapshots: BTreeMap<DateTime<Utc>, Snapshot> = BTreeMap::new();
    let window = "host_id = ? AND timestamp >= ? AND timestamp < ?";
    let sql = [
        format!("SELECT {POINT_COLUMNS} FROM metrics_host WHERE {window}"),
        format!("SELECT {CONTAINER_COLUMNS} FROM metrics_container c WHERE c.{window}"),
        format!("SELECT {SERVICE_COLUMNS} FROM metrics_service s WHERE s.{window}"),
        format!("SELECT {CUSTOM_COLUMNS} FROM metrics_custom c WHERE c.{window}"),
    ];
    let mut tables = Vec::with_capacity(sql.len());
    for sql in &sql {
        tables.push(sqlx::query(sql).bind(host_id).bind(from).bind(to).fetch_all(&mut **tx).await?);
    }
    for row in &tables[0] {
        let point = point(row)?;
        at(&mut snapshots, point.timestamp).host = Some(point.host);
    }
    for row in &tables[1] {
        at(&mut snapshots, row.try_get("timestamp")?).containers.push(container_metrics(row)?);
    }
    for row in &tables[2] {
        let record = service_record(row)?;
        at(&mut snapshots, record.timestamp).services.push(record.metrics);
    }
    for row in &tables[3] {
        let point = custom_point(row)?;
        at(&mut snapshots, point.timestamp).custom.push(point);
    }
    Ok(snapshots
        .into_values()
        .map(|mut s| {
            s.containers.sort_by(|a, b| a.name.cmp(&b.name));
            s.services.sort_by(|a, b| a.name.cmp(&b.name));
            s.custom.sort_by(|a, b| a.name.cmp(&b.name));
            s
        })
        .collect())
}

/// Deletes the raw rows of the snapshots `times` (read in this
/// transaction), except the host's newest snapshot and each custom
/// metric's newest point.
async fn delete_raw(
    tx: &mut Transaction<'_, MySql>,
    host_id: &str,
    hour: DateTime<Utc>,
    end: DateTime<Utc>,
    times: &[DateTime<Utc>],
) -> Result<u64, sqlx::Error> {
    let newest: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT MAX(timestamp) FROM metrics_host WHERE host_id = ?")
        .bind(host_id)
        .fetch_one(&mut **tx)
        .await?;
    let times: Vec<&DateTime<Utc>> = times.iter().filter(|t| Some(**t) != newest).collect();
    if times.is_empty() {
        return Ok(0);
    }
    // names are binary-collated: they come back as bytes
    let kept_custom: Vec<(Vec<u8>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT name, MAX(timestamp) AS newest FROM metrics_custom WHERE host_id = ? GROUP BY name HAVING newest >= ? AND newest < ?",
    )
    .bind(host_id)
    .bind(hour)
    .bind(end)
    .fetch_all(&mut **tx)
    .await?;
    let mut deleted = 0;
    for table in ["metrics_host", "metrics_container", "metrics_service", "metrics_custom"] {
        let mut query = QueryBuilder::<MySql>::new(format!("DELETE FROM {table} WHERE host_id = "));
        query.push_bind(host_id).push(" AND timestamp IN (");
        let mut list = query.separated(", ");
        for time in &times {
            list.push_bind(**time);
        }
        query.push(")");
        if table == "metrics_custom" && !kept_custom.is_empty() {
            query.push(" AND (name, timestamp) NOT IN (");
            let mut list = query.separated(", ");
            for (name, time) in &kept_custom {
                list.push("(")
                    .push_bind_unseparated(name)
                    .push_unseparated(", ")
                    .push_bind_unseparated(*time)
                    .push_unseparated(")");
            }
            query.push(")");
        }
        deleted += query.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(deleted)
}

/// A `metrics_host_hourly` row computed from an hour's snapshots exactly
/// as the downsampling's `INSERT … SELECT AVG(…)` computes it from raw rows:
/// `AVG` of a `DECIMAL(5,2)` or a `BIGINT` is a decimal rounded to 4 more
/// places, then rounded again to the column's scale, half away from zero.
struct Hourly {
    cpu_avg: Option<f64>,
    cpu_max: Option<f64>,
    memory_avg: u64,
    memory_max: u64,
    memory_total: u64,
    disk_avg: u64,
    disk_max: u64,
    disk_total: u64,
    network_rx_total: u64,
    network_tx_total: u64,
    samples: u64,
}

/// `numerator / denominator` rounded half away from zero (both positive).
fn round_div(numerator: u128, denominator: u128) -> u128 {
    (numerator + denominator / 2) / denominator
}

/// MariaDB's `AVG` of integers (4 more decimal places), stored at 0 places.
fn sql_avg(sum: u128, n: u128) -> u128 {
    round_div(round_div(sum * 10_000, n), 10_000)
}

impl Hourly {
    fn of<'a>(hosts: impl Iterator<Item = &'a HostMetrics>) -> Option<Hourly> {
        let (mut n, mut cpu_n, mut cpu_sum, mut cpu_sum_neg, mut cpu_max) = (0u128, 0u128, 0u128, 0u128, None::<i64>);
        let (mut memory_sum, mut disk_sum) = (0u128, 0u128);
        let mut row = Hourly {
            cpu_avg: None,
            cpu_max: None,
            memory_avg: 0,
            memory_max: 0,
            memory_total: 0,
            disk_avg: 0,
            disk_max: 0,
            disk_total: 0,
            network_rx_total: 0,
            network_tx_total: 0,
            samples: 0,
        };
        let (mut rx_min, mut rx_max, mut tx_min, mut tx_max) = (u64::MAX, 0u64, u64::MAX, 0u64);
        for host in hosts {
            n += 1;
            if host.cpu.percent.is_finite() {
                let cents = (host.cpu.percent * 100.0).round() as i64;
                cpu_n += 1;
                if cents >= 0 {
                    cpu_sum += cents as u128;
                } else {
                    cpu_sum_neg += cents.unsigned_abs() as u128;
                }
                cpu_max = Some(cpu_max.map_or(cents, |max| max.max(cents)));
            }
            memory_sum += u128::from(host.memory.used);
            row.memory_max = row.memory_max.max(host.memory.used);
            row.memory_total = row.memory_total.max(host.memory.total);
            let disk = host.disk.used();
            disk_sum += u128::from(disk);
            row.disk_max = row.disk_max.max(disk);
            row.disk_total = row.disk_total.max(host.disk.total());
            let (rx, tx) = (host.network.rx_bytes(), host.network.tx_bytes());
            (rx_min, rx_max, tx_min, tx_max) = (rx_min.min(rx), rx_max.max(rx), tx_min.min(tx), tx_max.max(tx));
        }
        if n == 0 {
            return None;
        }
        if cpu_n > 0 {
            // percentages are never negative; a negative sum falls back to 0
            let avg = sql_avg(cpu_sum.saturating_sub(cpu_sum_neg), cpu_n);
            row.cpu_avg = Some(avg as f64 / 100.0);
            row.cpu_max = cpu_max.map(|cents| cents as f64 / 100.0);
        }
        row.memory_avg = sql_avg(memory_sum, n) as u64;
        row.disk_avg = sql_avg(disk_sum, n) as u64;
        row.network_rx_total = rx_max - rx_min;
        row.network_tx_total = tx_max - tx_min;
        row.samples = n as u64;
        Some(row)
    }

    async fn upsert(&self, tx: &mut Transaction<'_, MySql>, host_id: &str, hour: DateTime<Utc>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO metrics_host_hourly \
               (host_id, hour, cpu_avg, cpu_max, memory_avg, memory_max, memory_total, disk_avg, disk_max, disk_total, \
                network_rx_total, network_tx_total, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE cpu_avg = VALUES(cpu_avg), cpu_max = VALUES(cpu_max), \
                memory_avg = VALUES(memory_avg), memory_max = VALUES(memory_max), memory_total = VALUES(memory_total), \
                disk_avg = VALUES(disk_avg), disk_max = VALUES(disk_max), disk_total = VALUES(disk_total), \
                network_rx_total = VALUES(network_rx_total), network_tx_total = VALUES(network_tx_total), \
                samples = VALUES(samples)",
        )
        .bind(host_id)
        .bind(hour.naive_utc())
        .bind(self.cpu_avg)
        .bind(self.cpu_max)
        .bind(self.memory_avg)
        .bind(self.memory_max)
        .bind(self.memory_total)
        .bind(self.disk_avg)
        .bind(self.disk_max)
        .bind(self.disk_total)
        .bind(self.network_rx_total)
        .bind(self.network_tx_total)
        .bind(self.samples)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// The chunks of a host overlapping `from ..= to`, oldest first.
async fn chunks(
    pool: &MySqlPool,
    host_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, Vec<u8>)>, sqlx::Error> {
    let rows: Vec<(NaiveDateTime, Vec<u8>)> =
        sqlx::query_as("SELECT hour, data FROM metrics_chunk WHERE host_id = ? AND hour >= ? AND hour <= ? ORDER BY hour")
            .bind(host_id)
            .bind(hour_of(from).naive_utc())
            .bind(to.naive_utc())
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(hour, data)| (hour.and_utc(), data)).collect())
}

/// A chunk a read could not decode (reported as a `sqlx::Error::Decode`,
/// like a raw row that does not decode).
#[derive(Debug, thiserror::Error)]
#[error("metrics chunk of hour {hour} does not decode: {source}")]
pub(crate) struct ChunkReadError {
    hour: DateTime<Utc>,
    source: chunk::ChunkError,
}

/// Items of one host with `from <= time <= to`, oldest first, from its
/// chunks and its raw rows; at a time both hold, the chunk's. Pull them
/// with [`Merged::next`]: one hour is decoded at a time.
pub(crate) struct Merged<T, R: Stream<Item = Result<T, sqlx::Error>>, F, G> {
    chunks: std::collections::VecDeque<(DateTime<Utc>, Vec<u8>)>,
    raw: futures::stream::Peekable<R>,
    ready: std::collections::VecDeque<T>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sections: Sections,
    time: F,
    items: G,
}

impl<T, R, F, G> Merged<T, R, F, G>
where
    R: Stream<Item = Result<T, sqlx::Error>> + Unpin,
    F: Fn(&T) -> DateTime<Utc>,
    G: Fn(&Arc<Chunk>, usize) -> Result<Vec<T>, chunk::ChunkError>,
{
    /// `raw`: the raw items of the same window, oldest first; `time`: an
    /// item's time; `items`: snapshot `at` of an opened chunk (only
    /// `sections` decoded) as items.
    pub(crate) async fn open(
        pool: &MySqlPool,
        host_id: &str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        sections: Sections,
        raw: R,
        time: F,
        items: G,
    ) -> Result<Self, sqlx::Error> {
        Ok(Merged {
            chunks: chunks(pool, host_id, from, to).await?.into(),
            raw: raw.peekable(),
            ready: Default::default(),
            from,
            to,
            sections,
            time,
            items,
        })
    }

    pub(crate) async fn next(&mut self) -> Option<Result<T, sqlx::Error>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(Ok(item));
            }
            let Some((hour, data)) = self.chunks.pop_front() else {
                return self.raw.next().await;
            };
            if let Err(error) = self.fill(hour, &data).await {
                return Some(Err(error));
            }
        }
    }

    /// Readies the items of `hour`'s chunk and the raw items before its end.
    async fn fill(&mut self, hour: DateTime<Utc>, data: &[u8]) -> Result<(), sqlx::Error> {
        let decode_error = |source| sqlx::Error::Decode(Box::new(ChunkReadError { hour, source }));
        let opened = Arc::new(Chunk::open(data, self.sections).map_err(decode_error)?);
        let held: BTreeSet<DateTime<Utc>> = (0..opened.len()).map(|at| opened.time(at)).collect();
        let mut window: Vec<T> = Vec::new();
        for at in 0..opened.len() {
            let time = opened.time(at);
            if time >= self.from && time <= self.to {
                window.extend((self.items)(&opened, at).map_err(decode_error)?);
            }
        }
        // raw items before the end of this hour: earlier hours without a
        // chunk, and this hour's (the newest kept, late arrivals)
        let end = hour + HOUR;
        while let Some(next) = std::pin::Pin::new(&mut self.raw).peek().await {
            if next.as_ref().is_ok_and(|item| (self.time)(item) >= end) {
                break;
            }
            match self.raw.next().await {
                Some(Ok(item)) if !held.contains(&(self.time)(&item)) => window.push(item),
                Some(Ok(_)) | None => {}
                Some(Err(error)) => return Err(error),
            }
        }
        window.sort_by_key(|item| (self.time)(item)); // stable: names keep their order within a time
        self.ready.extend(window);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_like_mariadb() {
        // AVG(1, 2) = 1.5000 -> 2 ; AVG(cents 1, 2) = 0.015000 -> 0.02
        assert_eq!(sql_avg(3, 2), 2);
        assert_eq!(sql_avg(1, 3), 0); // 0.3333 -> 0
        assert_eq!(sql_avg(2, 3), 1); // 0.6667 -> 1
                                      // 1/8 = 0.125 -> 0.1250 at 4 places -> 0 at 0 places
        assert_eq!(sql_avg(1, 8), 0);
        // 0.49995 rounds to 0.5000 at 4 places, then to 1: the double rounding of the SQL path
        assert_eq!(sql_avg(9999, 20_000), 1);
    }
}
