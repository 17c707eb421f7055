//! Downsampling (seed: `collect.downsample`, hourly): folds each complete
//! hour of `metrics_host` into one `metrics_host_hourly` row per host, keeps
//! hourly rows for `retention_hourly` (default 90 days, against 7 days for
//! raw snapshots), and answers `metrics.hourly`.
//!
//! Invariants:
//! - an hour is aggregated once it is over: each run covers the complete hours
//!   from [`LOOKBACK`] before the newest aggregated hour (or from the raw
//!   retention on an empty table) up to the current hour, so a run that was
//!   missed is caught up and snapshots arriving up to [`LOOKBACK`] late (an
//!   agent replaying its queue) are folded in;
//! - a run is idempotent (`INSERT … SELECT … ON DUPLICATE KEY UPDATE` with
//!   the hour's whole aggregate), so collectors running it side by side, or a
//!   run repeated after a crash, write the same rows;
//! - work is cut into one statement per hour, so no transaction holds a day
//!   of raw rows.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::{MySqlPool, Row};
use vigil_bus::messages::{HourlyPoint, HourlyRange, MAX_HOURLY_POINTS};
use vigil_bus::ServiceError;

use crate::hosts::internal;
use crate::inventory::{check_order, decode};
use crate::metrics::ensure_host;

/// Hours re-aggregated behind the newest aggregated one (late snapshots).
const LOOKBACK: TimeDelta = TimeDelta::hours(3);
/// Hourly rows deleted per statement when enforcing the retention.
const DELETE_CHUNK: u32 = 10_000;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DownsampleReport {
    /// Hours aggregated (each one statement).
    pub hours: u32,
    /// Hourly rows written or rewritten.
    pub rows: u64,
    /// Hourly rows older than the retention, deleted.
    pub expired: u64,
}

fn hour_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Aggregates the complete hours not yet aggregated (see the module's
/// invariants) as of `now`, then deletes hourly rows older than `retention_hourly`.
pub async fn downsample(
    pool: &MySqlPool,
    now: DateTime<Utc>,
    retention_raw: Duration,
    retention_hourly: Duration,
) -> Result<DownsampleReport, sqlx::Error> {
    let mut report = DownsampleReport::default();
    let end = hour_floor(now);
    let newest: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT MAX(hour) FROM metrics_host_hourly").fetch_one(pool).await?;
    let raw_start = hour_floor(now - TimeDelta::from_std(retention_raw).unwrap_or(TimeDelta::days(7)));
    let mut hour = match newest {
        Some(newest) => (newest - LOOKBACK).max(raw_start),
        None => raw_start,
    };
    while hour < end {
        let next = hour + TimeDelta::hours(1);
        let done = sqlx::query(
            "INSERT INTO metrics_host_hourly \
               (host_id, hour, cpu_avg, cpu_max, memory_avg, memory_max, memory_total, disk_avg, \
                network_rx_total, network_tx_total, samples) \
             SELECT host_id, ?, AVG(cpu_percent), MAX(cpu_percent), AVG(memory_used), MAX(memory_used), MAX(memory_total), \
                AVG(disk_used), MAX(network_rx) - MIN(network_rx), MAX(network_tx) - MIN(network_tx), COUNT(*) \
             FROM metrics_host WHERE timestamp >= ? AND timestamp < ? GROUP BY host_id \
             ON DUPLICATE KEY UPDATE cpu_avg = VALUES(cpu_avg), cpu_max = VALUES(cpu_max), \
                memory_avg = VALUES(memory_avg), memory_max = VALUES(memory_max), memory_total = VALUES(memory_total), \
                disk_avg = VALUES(disk_avg), network_rx_total = VALUES(network_rx_total), \
                network_tx_total = VALUES(network_tx_total), samples = VALUES(samples)",
        )
        .bind(hour.naive_utc())
        .bind(hour.naive_utc())
        .bind(next.naive_utc())
        .execute(pool)
        .await?;
        report.hours += 1;
        // MariaDB counts an updated row twice, an unchanged one not at all
        report.rows += done.rows_affected();
        hour = next;
    }
    let cutoff = now - TimeDelta::from_std(retention_hourly).unwrap_or(TimeDelta::days(90));
    loop {
        let deleted = sqlx::query("DELETE FROM metrics_host_hourly WHERE hour < ? LIMIT ?")
            .bind(cutoff.naive_utc())
            .bind(DELETE_CHUNK)
            .execute(pool)
            .await?
            .rows_affected();
        report.expired += deleted;
        if deleted < u64::from(DELETE_CHUNK) {
            break;
        }
    }
    Ok(report)
}

/// `metrics.hourly`: the tenant's host's hourly rows with `from <= hour <= to`.
pub(crate) async fn hourly(pool: &MySqlPool, request: HourlyRange) -> Result<Vec<HourlyPoint>, ServiceError> {
    ensure_host(pool, &request.tenant_id, &request.host_id).await?;
    check_order(request.from, request.to)?;
    let rows = sqlx::query(
        "SELECT hour, samples, CAST(cpu_avg AS DOUBLE) AS cpu_avg, CAST(cpu_max AS DOUBLE) AS cpu_max, \
            CAST(memory_avg AS UNSIGNED) AS memory_avg, CAST(memory_max AS UNSIGNED) AS memory_max, \
            CAST(IFNULL(memory_total, 0) AS UNSIGNED) AS memory_total, CAST(disk_avg AS UNSIGNED) AS disk_avg, \
            CAST(network_rx_total AS UNSIGNED) AS network_rx_total, CAST(network_tx_total AS UNSIGNED) AS network_tx_total \
         FROM metrics_host_hourly WHERE host_id = ? AND hour >= ? AND hour <= ? ORDER BY hour ASC LIMIT ?",
    )
    .bind(&request.host_id)
    .bind(hour_floor(request.from).naive_utc())
    .bind(request.to.naive_utc())
    .bind(MAX_HOURLY_POINTS)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("reading hourly metrics", e))?;
    decode(&rows, "decoding hourly metrics", |row| {
        let num = |column: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<Option<u64>, _>(column)?.unwrap_or(0)) };
        Ok(HourlyPoint {
            hour: row.try_get::<chrono::NaiveDateTime, _>("hour")?.and_utc(),
            samples: row.try_get("samples")?,
            cpu_avg: row.try_get::<Option<f64>, _>("cpu_avg")?.unwrap_or(0.0),
            cpu_max: row.try_get::<Option<f64>, _>("cpu_max")?.unwrap_or(0.0),
            memory_avg: num("memory_avg")?,
            memory_max: num("memory_max")?,
            memory_total: num("memory_total")?,
            disk_avg: num("disk_avg")?,
            network_rx_total: num("network_rx_total")?,
            network_tx_total: num("network_tx_total")?,
        })
    })
}

/// How long after the hour's end a run starts (late snapshots of the hour's
/// last seconds are in by then).
const AFTER_HOUR: Duration = Duration::from_secs(60);

/// Time until the next run: [`AFTER_HOUR`] past the next hour's start.
fn until_next_run(now: DateTime<Utc>) -> Duration {
    let next = hour_floor(now) + TimeDelta::hours(1) + TimeDelta::from_std(AFTER_HOUR).unwrap_or_default();
    (next - now).to_std().unwrap_or(AFTER_HOUR)
}

/// One run of [`downsample`] with the service's retentions, logged.
pub(crate) async fn run_once(pool: &sqlx::MySqlPool, config: &crate::CollectorConfig) {
    match downsample(pool, Utc::now(), config.retention_raw, config.retention_hourly).await {
        Ok(report) => {
            tracing::info!(hours = report.hours, rows = report.rows, expired = report.expired, "hourly metrics downsampled")
        }
        Err(error) => tracing::error!(error = %error, "downsampling to metrics_host_hourly failed; retrying next hour"),
    }
}

/// Runs [`downsample`] a minute past every hour, until stop. The catch-up of
/// what was missed while no collector ran is done by `Collector::build`,
/// before the collector serves anything.
pub(crate) async fn downsample_loop(shared: std::sync::Arc<crate::Shared>, stop: vigil_runtime::CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(until_next_run(Utc::now())) => {}
            _ = stop.cancelled() => return,
        }
        run_once(&shared.pool, &shared.config).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_minute_past_the_next_hour() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(until_next_run(at("2026-12-02T10:20:00Z")), Duration::from_secs(41 * 60));
        assert_eq!(until_next_run(at("2026-12-02T10:00:30Z")), Duration::from_secs(3600 + 30));
        assert_eq!(hour_floor(at("2026-12-02T10:59:59.999Z")), at("2026-12-02T10:00:00Z"));
    }
}
