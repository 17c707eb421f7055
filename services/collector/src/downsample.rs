//! Downsampling (seed: `collect.downsample` and `collect.retention`):
//! folds each complete hour of `metrics_host` into one `metrics_host_hourly`
//! row per host and each complete UTC day of those into one
//! `metrics_host_daily` row, deletes rows past their retention (the
//! server's `retention_hourly` and `retention_daily`, and each tenant's own
//! when shorter, raw rows included), and answers `metrics.hourly` and
//! `metrics.daily`. Runs on `collector.downsample.schedule` (cron, UTC).
//!
//! Invariants:
//! - an hour is aggregated once it is over: each run covers the complete hours
//!   from [`LOOKBACK`] before the newest aggregated hour (or from the raw
//!   retention on an empty table) up to the current hour, so a run that was
//!   missed is caught up and snapshots arriving up to [`LOOKBACK`] late (an
//!   agent replaying its queue) are folded in;
//! - a day likewise, from the hourly rows: the days from [`DAILY_LOOKBACK`]
//!   before the newest folded day (or from the hourly retention) up to
//!   today, so the last two complete days are redone at every run and an
//!   hour refolded late reaches its day;
//! - a run is idempotent (`INSERT … SELECT … ON DUPLICATE KEY UPDATE` with
//!   the period's whole aggregate), so collectors running it side by side, or
//!   a run repeated after a crash, write the same rows;
//! - work is cut into one statement per hour or day, so no transaction holds a
//!   day of raw rows; deletes go 10,000 rows a statement;
//! - a tenant's retention comes from the gateway (`vigil.gateway.tenants.retention`,
//!   it owns `tenants`), never from its table; without an answer only the
//!   server's retentions apply (rows are kept longer, never deleted early).

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::{MySqlPool, Row};
use vigil_bus::messages::{
    DailyPoint, DailyRange, HourlyPoint, HourlyRange, ListTenantRetentions, Rollup, TenantRetention, MAX_DAILY_POINTS,
    MAX_HOURLY_POINTS,
};
use vigil_bus::ServiceError;

use crate::hosts::internal;
use crate::inventory::{check_order, decode};
use crate::metrics::ensure_host;

/// Hours re-aggregated behind the newest aggregated one (late snapshots).
const LOOKBACK: TimeDelta = TimeDelta::hours(3);
/// Days re-folded behind the newest folded one (hours refolded late).
const DAILY_LOOKBACK: TimeDelta = TimeDelta::days(1);
/// Rows deleted per statement when enforcing a retention.
const DELETE_CHUNK: u32 = 10_000;
/// Tables of raw rows, deleted per tenant past its raw retention (the
/// server's is kept by dropping partitions).
const RAW_TABLES: [&str; 4] = ["metrics_host", "metrics_container", "metrics_service", "metrics_custom"];

/// The server's retentions (`collector.retention_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub hourly: Duration,
    pub daily: Duration,
}

impl Retention {
    pub fn of(config: &crate::CollectorConfig) -> Retention {
        Retention { raw: config.retention_raw, hourly: config.retention_hourly, daily: config.retention_daily }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DownsampleReport {
    /// Hours aggregated (each one statement).
    pub hours: u32,
    /// Hourly rows written or rewritten.
    pub rows: u64,
    /// Days folded (each one statement).
    pub days: u32,
    /// Daily rows written or rewritten.
    pub daily_rows: u64,
    /// Hourly rows older than the retention, deleted.
    pub expired: u64,
    /// Daily rows older than the retention, deleted.
    pub expired_daily: u64,
    /// Rows of tenants with a shorter retention of their own, deleted.
    pub expired_tenants: u64,
}

fn hour_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

fn day_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::days(1)).unwrap_or(at)
}

fn before(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    let cut = now.checked_sub_signed(TimeDelta::from_std(span).unwrap_or(TimeDelta::MAX)).unwrap_or(DateTime::UNIX_EPOCH);
    cut.max(DateTime::UNIX_EPOCH)
}

/// As of `now`: with `fold`, aggregates the complete hours and days not yet
/// aggregated (see the module's invariants); then deletes hourly and daily
/// rows past the server's retentions, and each tenant's rows past its own
/// shorter ones (`tenants`).
pub async fn downsample(
    pool: &MySqlPool,
    now: DateTime<Utc>,
    retention: &Retention,
    tenants: &[TenantRetention],
    fold: bool,
) -> Result<DownsampleReport, sqlx::Error> {
    let mut report = DownsampleReport::default();
    if fold {
        fold_hours(pool, now, retention, &mut report).await?;
        fold_days(pool, now, retention, &mut report).await?;
    }
    report.expired = delete_before(pool, "metrics_host_hourly", "hour", None, before(now, retention.hourly)).await?;
    report.expired_daily = delete_before(pool, "metrics_host_daily", "day", None, before(now, retention.daily)).await?;
    for tenant in tenants {
        let shorter = |own: Option<u64>, server: Duration| own.map(Duration::from_secs).filter(|own| *own < server);
        let id = Some(tenant.tenant_id.as_str());
        if let Some(raw) = shorter(tenant.raw_seconds, retention.raw) {
            for table in RAW_TABLES {
                report.expired_tenants += delete_before(pool, table, "timestamp", id, before(now, raw)).await?;
            }
            // a chunk goes once its whole hour is past the retention
            let chunks_before = before(now, raw) - TimeDelta::hours(1);
            report.expired_tenants += delete_before(pool, "metrics_chunk", "hour", id, chunks_before).await?;
        }
        if let Some(hourly) = shorter(tenant.hourly_seconds, retention.hourly) {
            report.expired_tenants += delete_before(pool, "metrics_host_hourly", "hour", id, before(now, hourly)).await?;
        }
        if let Some(daily) = shorter(tenant.daily_seconds, retention.daily) {
            report.expired_tenants += delete_before(pool, "metrics_host_daily", "day", id, before(now, daily)).await?;
        }
    }
    Ok(report)
}

/// Deletes the rows of `table` with `column < cutoff` (only the tenant's
/// hosts' when `tenant_id` is set), [`DELETE_CHUNK`] rows a statement.
async fn delete_before(
    pool: &MySqlPool,
    table: &str,
    column: &str,
    tenant_id: Option<&str>,
    cutoff: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql = match tenant_id {
        None => format!("DELETE FROM {table} WHERE {column} < ? LIMIT ?"),
        Some(_) => {
            format!("DELETE FROM {table} WHERE host_id IN (SELECT id FROM hosts WHERE tenant_id = ?) AND {column} < ? LIMIT ?")
        }
    };
    let mut total = 0;
    loop {
        let mut query = sqlx::query(&sql);
        if let Some(tenant_id) = tenant_id {
            query = query.bind(tenant_id);
        }
        let deleted = query.bind(cutoff.naive_utc()).bind(DELETE_CHUNK).execute(pool).await?.rows_affected();
        total += deleted;
        if deleted < u64::from(DELETE_CHUNK) {
            return Ok(total);
        }
    }
}

/// The complete days from [`DAILY_LOOKBACK`] before the newest folded one
/// (or the hourly retention) up to today, each from its hourly rows.
async fn fold_days(
    pool: &MySqlPool,
    now: DateTime<Utc>,
    retention: &Retention,
    report: &mut DownsampleReport,
) -> Result<(), sqlx::Error> {
    let today = day_floor(now);
    let newest: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT MAX(day) FROM metrics_host_daily").fetch_one(pool).await?;
    let hourly_start = day_floor(before(now, retention.hourly));
    let mut day = match newest {
        Some(newest) => (newest - DAILY_LOOKBACK).max(hourly_start),
        None => hourly_start,
    };
    while day < today {
        let next = day + TimeDelta::days(1);
        // averages weighted by the snapshots of each hour
        let done = sqlx::query(
            "INSERT INTO metrics_host_daily \
               (host_id, day, cpu_avg, cpu_max, memory_avg, memory_max, memory_total, disk_avg, disk_max, disk_total, \
                network_rx_total, network_tx_total, samples) \
             SELECT host_id, ?, SUM(cpu_avg * samples) / SUM(samples), MAX(cpu_max), \
                SUM(memory_avg * samples) / SUM(samples), MAX(memory_max), MAX(memory_total), \
                SUM(disk_avg * samples) / SUM(samples), MAX(disk_max), MAX(disk_total), \
                SUM(network_rx_total), SUM(network_tx_total), SUM(samples) \
             FROM metrics_host_hourly WHERE hour >= ? AND hour < ? AND samples > 0 GROUP BY host_id \
             ON DUPLICATE KEY UPDATE cpu_avg = VALUES(cpu_avg), cpu_max = VALUES(cpu_max), \
                memory_avg = VALUES(memory_avg), memory_max = VALUES(memory_max), memory_total = VALUES(memory_total), \
                disk_avg = VALUES(disk_avg), disk_max = VALUES(disk_max), disk_total = VALUES(disk_total), \
                network_rx_total = VALUES(network_rx_total), network_tx_total = VALUES(network_tx_total), \
                samples = VALUES(samples)",
        )
        .bind(day.naive_utc())
        .bind(day.naive_utc())
        .bind(next.naive_utc())
        .execute(pool)
        .await?;
        report.days += 1;
        report.daily_rows += done.rows_affected();
        day = next;
    }
    Ok(())
}

async fn fold_hours(
    pool: &MySqlPool,
    now: DateTime<Utc>,
    retention: &Retention,
    report: &mut DownsampleReport,
) -> Result<(), sqlx::Error> {
    let end = hour_floor(now);
    let newest: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT MAX(hour) FROM metrics_host_hourly").fetch_one(pool).await?;
    let raw_start = hour_floor(before(now, retention.raw));
    let mut hour = match newest {
        Some(newest) => (newest - LOOKBACK).max(raw_start),
        None => raw_start,
    };
    while hour < end {
        let next = hour + TimeDelta::hours(1);
        let done = sqlx::query(
            "INSERT INTO metrics_host_hourly \
               (host_id, hour, cpu_avg, cpu_max, memory_avg, memory_max, memory_total, disk_avg, disk_max, disk_total, \
                network_rx_total, network_tx_total, samples) \
             SELECT host_id, ?, AVG(cpu_percent), MAX(cpu_percent), AVG(memory_used), MAX(memory_used), MAX(memory_total), \
                AVG(disk_used), MAX(disk_used), MAX(disk_total), \
                MAX(network_rx) - MIN(network_rx), MAX(network_tx) - MIN(network_tx), COUNT(*) \
             FROM metrics_host m WHERE timestamp >= ? AND timestamp < ? \
                AND NOT EXISTS (SELECT 1 FROM metrics_chunk k WHERE k.host_id = m.host_id AND k.hour = ?) GROUP BY host_id \
             ON DUPLICATE KEY UPDATE cpu_avg = VALUES(cpu_avg), cpu_max = VALUES(cpu_max), \
                memory_avg = VALUES(memory_avg), memory_max = VALUES(memory_max), memory_total = VALUES(memory_total), \
                disk_avg = VALUES(disk_avg), disk_max = VALUES(disk_max), disk_total = VALUES(disk_total), \
                network_rx_total = VALUES(network_rx_total), \
                network_tx_total = VALUES(network_tx_total), samples = VALUES(samples)",
        )
        .bind(hour.naive_utc())
        .bind(hour.naive_utc())
        .bind(next.naive_utc())
        .bind(hour.naive_utc())
        .execute(pool)
        .await?;
        report.hours += 1;
        // MariaDB counts an updated row twice, an unchanged one not at all
        report.rows += done.rows_affected();
        hour = next;
    }
    Ok(())
}

/// `metrics.hourly`: the tenant's host's hourly rows with `from <= hour <= to`.
pub(crate) async fn hourly(pool: &MySqlPool, request: HourlyRange) -> Result<Vec<HourlyPoint>, ServiceError> {
    let rows = rollups(pool, RollupTable::Hourly, &request.tenant_id, &request.host_id, request.from, request.to).await?;
    Ok(rows.into_iter().map(|(hour, values)| HourlyPoint { hour, values }).collect())
}

/// `metrics.daily`: the tenant's host's daily rows with `from <= day <= to`.
pub(crate) async fn daily(pool: &MySqlPool, request: DailyRange) -> Result<Vec<DailyPoint>, ServiceError> {
    let rows = rollups(pool, RollupTable::Daily, &request.tenant_id, &request.host_id, request.from, request.to).await?;
    Ok(rows.into_iter().map(|(day, values)| DailyPoint { day, values }).collect())
}

/// The two tables of aggregates, read the same way.
#[derive(Clone, Copy)]
enum RollupTable {
    Hourly,
    Daily,
}

impl RollupTable {
    /// (table, its period column, most rows an answer carries, what a failure was doing)
    fn parts(self) -> (&'static str, &'static str, u32, &'static str) {
        match self {
            RollupTable::Hourly => ("metrics_host_hourly", "hour", MAX_HOURLY_POINTS, "reading hourly metrics"),
            RollupTable::Daily => ("metrics_host_daily", "day", MAX_DAILY_POINTS, "reading daily metrics"),
        }
    }
}

/// The tenant's host's rows of `table` whose period holds or follows
/// `from` and starts before or at `to`, oldest first.
async fn rollups(
    pool: &MySqlPool,
    table: RollupTable,
    tenant_id: &str,
    host_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, Rollup)>, ServiceError> {
    ensure_host(pool, tenant_id, host_id).await?;
    check_order(from, to)?;
    let (name, period, limit, action) = table.parts();
    let from = match table {
        RollupTable::Hourly => hour_floor(from),
        RollupTable::Daily => day_floor(from),
    };
    let rows = sqlx::query(&format!(
        "SELECT {period} AS period, samples, CAST(cpu_avg AS DOUBLE) AS cpu_avg, CAST(cpu_max AS DOUBLE) AS cpu_max, \
            CAST(memory_avg AS UNSIGNED) AS memory_avg, CAST(memory_max AS UNSIGNED) AS memory_max, \
            CAST(IFNULL(memory_total, 0) AS UNSIGNED) AS memory_total, CAST(disk_avg AS UNSIGNED) AS disk_avg, \
            CAST(network_rx_total AS UNSIGNED) AS network_rx_total, CAST(network_tx_total AS UNSIGNED) AS network_tx_total \
         FROM {name} WHERE host_id = ? AND {period} >= ? AND {period} <= ? ORDER BY {period} ASC LIMIT ?"
    ))
    .bind(host_id)
    .bind(from.naive_utc())
    .bind(to.naive_utc())
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| internal(action, e))?;
    decode(&rows, action, |row| {
        let num = |column: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<Option<u64>, _>(column)?.unwrap_or(0)) };
        let values = Rollup {
            samples: row.try_get("samples")?,
            cpu_avg: row.try_get::<Option<f64>, _>("cpu_avg")?.unwrap_or(0.0),
            cpu_max: row.try_get::<Option<f64>, _>("cpu_max")?.unwrap_or(0.0),
            memory_avg: num("memory_avg")?,
            memory_max: num("memory_max")?,
            memory_total: num("memory_total")?,
            disk_avg: num("disk_avg")?,
            network_rx_total: num("network_rx_total")?,
            network_tx_total: num("network_tx_total")?,
        };
        Ok((row.try_get::<chrono::NaiveDateTime, _>("period")?.and_utc(), values))
    })
}

/// The tenants' own retentions, asked of the gateway (it owns `tenants`);
/// empty, with a warning, when no gateway answers.
async fn tenant_retentions(nats: &async_nats::Client) -> Vec<TenantRetention> {
    match vigil_bus::messages::request(nats, vigil_bus::subjects::gateway::TENANT_RETENTIONS, &ListTenantRetentions {}).await {
        Ok(tenants) => tenants,
        Err(error) => {
            tracing::warn!(error = %error, "cannot read the tenants' retentions from a gateway; only the server's retentions apply this run");
            Vec::new()
        }
    }
}

/// One run of [`downsample`] with the service's retentions and the
/// tenants' (asked of a gateway), logged.
pub(crate) async fn run_once(pool: &sqlx::MySqlPool, nats: &async_nats::Client, config: &crate::CollectorConfig) {
    let tenants = tenant_retentions(nats).await;
    match downsample(pool, Utc::now(), &Retention::of(config), &tenants, config.downsample.enabled).await {
        Ok(report) => tracing::info!(
            hours = report.hours,
            rows = report.rows,
            days = report.days,
            daily_rows = report.daily_rows,
            expired = report.expired,
            expired_daily = report.expired_daily,
            expired_tenants = report.expired_tenants,
            "metrics downsampled"
        ),
        Err(error) => tracing::error!(error = %error, "downsampling or retention failed; retrying at the next scheduled run"),
    }
}

/// The next instant of `schedule` after `now` (`None`: it never comes).
fn next_run(schedule: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    vigil_runtime::config::cron_schedule(schedule).ok()?.after(&now).next()
}

/// Runs `run` at each instant of the cron `schedule` (`what` names it in
/// the logs), until stop: the downsampling's and the compaction's loop.
pub(crate) async fn on_schedule<F: std::future::Future<Output = ()>>(
    schedule: &str,
    what: &str,
    stop: vigil_runtime::CancellationToken,
    mut run: impl FnMut() -> F,
) {
    loop {
        let now = Utc::now();
        let Some(next) = next_run(schedule, now) else {
            tracing::warn!(schedule, what, "the schedule never comes again; no more runs");
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep((next - now).to_std().unwrap_or_default()) => {}
            _ = stop.cancelled() => return,
        }
        run().await;
    }
}

/// Runs [`downsample`] at each instant of `collector.downsample.schedule`,
/// until stop. The catch-up of what was missed while no collector ran is
/// done by `Collector::build`, before the collector serves anything.
pub(crate) async fn downsample_loop(shared: std::sync::Arc<crate::Shared>, stop: vigil_runtime::CancellationToken) {
    on_schedule(&shared.config.downsample.schedule, "downsample", stop, || run_once(&shared.pool, &shared.nats, &shared.config))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_schedule_runs_a_minute_past_each_hour() {
        let schedule = crate::DownsampleConfig::default().schedule;
        assert_eq!(next_run(&schedule, at("2026-12-02T10:20:00Z")), Some(at("2026-12-02T11:01:00Z")));
        assert_eq!(next_run(&schedule, at("2026-12-02T10:00:30Z")), Some(at("2026-12-02T10:01:00Z")));
        assert_eq!(next_run("30 2 * * *", at("2026-12-02T10:00:00Z")), Some(at("2026-12-03T02:30:00Z")));
        assert_eq!(hour_floor(at("2026-12-02T10:59:59.999Z")), at("2026-12-02T10:00:00Z"));
        assert_eq!(day_floor(at("2026-12-02T23:59:59.999Z")), at("2026-12-02T00:00:00Z"));
    }

    #[test]
    fn a_retention_longer_than_time_itself_cuts_nothing() {
        assert_eq!(before(at("2026-12-02T10:00:00Z"), Duration::MAX), DateTime::UNIX_EPOCH);
    }
}
