//! Fleet-wide reads (seed §4.2 `/api/metrics/overview` and
//! `/api/metrics/history`): `metrics.overview`, the tenant's fleet now, and
//! `metrics.history`, fleet aggregates per step over raw, hourly or daily rows.
//!
//! Invariants: every read is scoped by the tenant (a join on `hosts`); a
//! host named in a history request that is not the tenant's is `NotFound`;
//! a history answer holds at most [`MAX_HISTORY_POINTS`] buckets, and a
//! request that would need more, or whose step does not fit its source, is
//! `Unprocessable` naming the field.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{MySql, MySqlPool, QueryBuilder, Row};
use vigil_bus::messages::{
    FleetHistory, FleetHistoryQuery, FleetOverview, FleetPoint, HistorySource, HostCounts, OfTenant, PercentStat, RunningCount,
    HISTORY_TARGET_POINTS, MAX_HISTORY_HOSTS, MAX_HISTORY_POINTS,
};
use vigil_bus::{ErrorCode, ServiceError};

use futures::StreamExt;
use vigil_bus::messages::MetricsPoint;

use std::sync::Arc;

use crate::chunk::{Chunk, Sections, Usage};
use crate::compact::Merged;
use crate::downsample::Retention;
use crate::hosts::{bad_id, internal, not_found};
use crate::metrics::{point, POINT_COLUMNS};

const HOUR: u32 = 3600;
const DAY: u32 = 86_400;

/// Steps a history picks from (seconds): the smallest giving at most
/// [`HISTORY_TARGET_POINTS`] buckets.
const NICE_STEPS: [u32; 16] =
    [10, 30, 60, 300, 600, 900, 1800, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY, 14 * DAY, 28 * DAY];

/// The newest snapshot time of each of the tenant's hosts (a loose index
/// scan of `metrics_host`'s primary key), as a derived table `n(host_id, newest)`.
const NEWEST: &str = "(SELECT m.host_id, MAX(m.timestamp) AS newest FROM metrics_host m \
     JOIN hosts h ON h.id = m.host_id WHERE h.tenant_id = ? GROUP BY m.host_id) n";

/// `metrics.overview`.
pub(crate) async fn overview(pool: &MySqlPool, request: OfTenant) -> Result<FleetOverview, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    let tenant = &request.tenant_id;
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT CAST(status AS CHAR), COUNT(*) FROM hosts WHERE tenant_id = ? GROUP BY status")
            .bind(tenant)
            .fetch_all(pool)
            .await
            .map_err(|e| internal("counting hosts", e))?;
    let mut hosts = HostCounts::default();
    for (status, count) in statuses {
        let count = count.max(0) as u64;
        hosts.total += count;
        match status.as_str() {
            "online" => hosts.online += count,
            "degraded" => hosts.degraded += count,
            _ => hosts.offline += count,
        }
    }
    let usage = sqlx::query(&format!(
        "SELECT CAST(AVG(m.cpu_percent) AS DOUBLE) AS cpu_avg, CAST(MAX(m.cpu_percent) AS DOUBLE) AS cpu_max, \
            CAST(AVG(m.memory_used * 100 / NULLIF(m.memory_total, 0)) AS DOUBLE) AS memory_avg, \
            CAST(MAX(m.memory_used * 100 / NULLIF(m.memory_total, 0)) AS DOUBLE) AS memory_max, \
            CAST(AVG(m.disk_used * 100 / NULLIF(m.disk_total, 0)) AS DOUBLE) AS disk_avg, \
            CAST(MAX(m.disk_used * 100 / NULLIF(m.disk_total, 0)) AS DOUBLE) AS disk_max \
         FROM {NEWEST} JOIN metrics_host m ON m.host_id = n.host_id AND m.timestamp = n.newest \
         JOIN hosts h ON h.id = n.host_id WHERE h.status = 'online'"
    ))
    .bind(tenant)
    .fetch_one(pool)
    .await
    .map_err(|e| internal("reading the online hosts' latest metrics", e))?;
    let stat = |avg: &str, max: &str| -> Result<PercentStat, sqlx::Error> {
        Ok(PercentStat {
            avg: usage.try_get::<Option<f64>, _>(avg)?.map(round2),
            max: usage.try_get::<Option<f64>, _>(max)?.map(round2),
        })
    };
    let decoded = (stat("cpu_avg", "cpu_max"), stat("memory_avg", "memory_max"), stat("disk_avg", "disk_max"));
    let (cpu, memory, disk) = match decoded {
        (Ok(cpu), Ok(memory), Ok(disk)) => (cpu, memory, disk),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Err(internal("decoding the fleet usage", e)),
    };
    let containers = running_count(pool, tenant, "metrics_container", "c.status = 'running'").await?;
    let services = running_count(pool, tenant, "metrics_service", "c.status IN ('active', 'running')").await?;
    Ok(FleetOverview { at: Utc::now(), hosts, containers, services, cpu, memory, disk })
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Rows of `table` in each host's latest snapshot, and those matching `running`.
async fn running_count(pool: &MySqlPool, tenant: &str, table: &str, running: &str) -> Result<RunningCount, ServiceError> {
    let (total, running): (i64, Option<i64>) = sqlx::query_as(&format!(
        "SELECT COUNT(*), CAST(SUM({running}) AS SIGNED) FROM {NEWEST} \
         JOIN {table} c ON c.host_id = n.host_id AND c.timestamp = n.newest"
    ))
    .bind(tenant)
    .fetch_one(pool)
    .await
    .map_err(|e| internal("counting the latest inventory", e))?;
    Ok(RunningCount { running: running.unwrap_or(0).max(0) as u64, total: total.max(0) as u64 })
}

fn unprocessable(message: String) -> ServiceError {
    ServiceError::new(ErrorCode::Unprocessable, message)
}

/// The step and source a history reads, or why the request cannot be read.
pub(crate) fn plan(
    query: &FleetHistoryQuery,
    retention: &Retention,
    now: DateTime<Utc>,
) -> Result<(u32, HistorySource), ServiceError> {
    if query.from >= query.to {
        return Err(unprocessable(format!(
            "from ({}) is not before to ({}); give a window that ends after it starts",
            query.from.to_rfc3339(),
            query.to.to_rfc3339()
        )));
    }
    let window = (query.to - query.from).num_seconds().max(1) as u64;
    let step = match query.step {
        0 => {
            let wanted = window.div_ceil(HISTORY_TARGET_POINTS);
            let nice = NICE_STEPS.iter().copied().find(|step| u64::from(*step) >= wanted);
            // past the largest nice step: whole weeks
            nice.unwrap_or_else(|| u32::try_from(wanted.div_ceil(u64::from(7 * DAY)) * u64::from(7 * DAY)).unwrap_or(u32::MAX))
        }
        step => step,
    };
    // (a retention longer than chrono's calendar keeps everything)
    let older_than = |span: Duration| {
        TimeDelta::from_std(span).ok().and_then(|span| now.checked_sub_signed(span)).is_some_and(|cut| cut > query.from)
    };
    let (step, source) = match query.source {
        Some(source) => (step, source),
        None => {
            let by_step = if step % DAY == 0 {
                HistorySource::Daily
            } else if step % HOUR == 0 {
                HistorySource::Hourly
            } else {
                HistorySource::Raw
            };
            if query.step != 0 {
                // an explicit step: the source follows it
                (step, by_step)
            } else if by_step != HistorySource::Daily && older_than(retention.hourly) {
                // a picked step: a coarser source when the window starts before what the finer one keeps
                (step.div_ceil(DAY) * DAY, HistorySource::Daily)
            } else if by_step == HistorySource::Raw && older_than(retention.raw) {
                (step.div_ceil(HOUR) * HOUR, HistorySource::Hourly)
            } else {
                (step, by_step)
            }
        }
    };
    match source {
        HistorySource::Hourly if step % HOUR != 0 => {
            return Err(unprocessable(format!("step={step} is not a whole number of hours (3600 s); source=hourly needs one")))
        }
        HistorySource::Daily if step % DAY != 0 => {
            return Err(unprocessable(format!("step={step} is not a whole number of days (86400 s); source=daily needs one")))
        }
        _ => {}
    }
    let points = window.div_ceil(u64::from(step));
    if points > MAX_HISTORY_POINTS {
        return Err(unprocessable(format!(
            "step={step} gives {points} points over the window, more than {MAX_HISTORY_POINTS}; give a larger step or a shorter window"
        )));
    }
    Ok((step, source))
}

/// `metrics.history`.
pub(crate) async fn history(
    pool: &MySqlPool,
    retention: &Retention,
    query: FleetHistoryQuery,
) -> Result<FleetHistory, ServiceError> {
    bad_id("tenant", &query.tenant_id)?;
    if query.host_ids.len() > MAX_HISTORY_HOSTS {
        return Err(unprocessable(format!(
            "host names {} hosts, more than {MAX_HISTORY_HOSTS}; leave it out for every host",
            query.host_ids.len()
        )));
    }
    for host_id in &query.host_ids {
        bad_id("host", host_id)?;
    }
    let (step, source) = plan(&query, retention, Utc::now())?;
    if !query.host_ids.is_empty() {
        let mut owned = QueryBuilder::<MySql>::new("SELECT id FROM hosts WHERE tenant_id = ");
        owned.push_bind(&query.tenant_id).push(" AND id IN (");
        let mut ids = owned.separated(", ");
        for host_id in &query.host_ids {
            ids.push_bind(host_id);
        }
        owned.push(")");
        let found: Vec<(String,)> = owned.build_query_as().fetch_all(pool).await.map_err(|e| internal("reading hosts", e))?;
        if let Some(missing) = query.host_ids.iter().find(|id| !found.iter().any(|(found,)| found == *id)) {
            return Err(not_found(missing));
        }
    }
    if source == HistorySource::Raw {
        return raw_history(pool, &query, step).await;
    }
    // one row per bucket; averages weighted by the snapshots of each row
    let (table, column, columns) = match source {
        HistorySource::Raw => unreachable!("read above"),
        HistorySource::Hourly | HistorySource::Daily => {
            let weighted = |expr: &str| {
                format!("CAST(SUM(({expr}) * a.samples) / NULLIF(SUM(IF(({expr}) IS NULL, 0, a.samples)), 0) AS DOUBLE)")
            };
            let (table, column) =
                if source == HistorySource::Hourly { ("metrics_host_hourly", "hour") } else { ("metrics_host_daily", "day") };
            let columns = format!(
                "{} AS cpu_avg, CAST(MAX(a.cpu_max) AS DOUBLE) AS cpu_max, {} AS memory_avg, \
                 CAST(MAX(a.memory_max * 100 / NULLIF(a.memory_total, 0)) AS DOUBLE) AS memory_max, {} AS disk_avg, \
                 CAST(MAX(a.disk_max * 100 / NULLIF(a.disk_total, 0)) AS DOUBLE) AS disk_max",
                weighted("a.cpu_avg"),
                weighted("a.memory_avg * 100 / NULLIF(a.memory_total, 0)"),
                weighted("a.disk_avg * 100 / NULLIF(a.disk_total, 0)"),
            );
            (table, column, columns)
        }
    };
    let mut sql = QueryBuilder::<MySql>::new(format!(
        "SELECT TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', a.{column}) DIV {step} AS bucket, \
            COUNT(DISTINCT a.host_id) AS hosts, {columns} \
         FROM {table} a JOIN hosts h ON h.id = a.host_id WHERE h.tenant_id = "
    ));
    sql.push_bind(&query.tenant_id);
    sql.push(format!(" AND a.{column} >= ")).push_bind(query.from.naive_utc());
    sql.push(format!(" AND a.{column} < ")).push_bind(query.to.naive_utc());
    if !query.host_ids.is_empty() {
        sql.push(" AND a.host_id IN (");
        let mut ids = sql.separated(", ");
        for host_id in &query.host_ids {
            ids.push_bind(host_id);
        }
        sql.push(")");
    }
    sql.push(format!(" GROUP BY bucket ORDER BY bucket LIMIT {MAX_HISTORY_POINTS}"));
    let rows = sql.build().fetch_all(pool).await.map_err(|e| internal("reading the fleet history", e))?;
    let mut points = Vec::with_capacity(rows.len());
    for row in &rows {
        let point = (|| -> Result<FleetPoint, sqlx::Error> {
            let bucket: i64 = row.try_get("bucket")?;
            let real = |name: &str| -> Result<Option<f64>, sqlx::Error> { Ok(row.try_get::<Option<f64>, _>(name)?.map(round2)) };
            Ok(FleetPoint {
                at: DateTime::from_timestamp(bucket * i64::from(step), 0).unwrap_or(DateTime::UNIX_EPOCH),
                hosts: u32::try_from(row.try_get::<i64, _>("hosts")?).unwrap_or(u32::MAX),
                cpu_avg: real("cpu_avg")?,
                cpu_max: real("cpu_max")?,
                memory_avg: real("memory_avg")?,
                memory_max: real("memory_max")?,
                disk_avg: real("disk_avg")?,
                disk_max: real("disk_max")?,
            })
        })()
        .map_err(|e| internal("decoding the fleet history", e))?;
        points.push(point);
    }
    Ok(FleetHistory { from: query.from, to: query.to, step, source, points })
}

/// One bucket of a raw history: sums over the snapshots in it.
#[derive(Default)]
struct Bucket {
    hosts: u32,
    last_host: Option<usize>,
    cpu: Stat,
    memory: Stat,
    disk: Stat,
}

#[derive(Default)]
struct Stat {
    sum: f64,
    count: u64,
    max: Option<f64>,
}

impl Stat {
    fn add(&mut self, value: Option<f64>) {
        if let Some(value) = value {
            self.sum += value;
            self.count += 1;
            self.max = Some(self.max.map_or(value, |max| max.max(value)));
        }
    }

    fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| round2(self.sum / self.count as f64))
    }
}

/// `used * 100 / total` as the SQL of the rollups computes it (4 decimal
/// places), `None` when `total` is 0.
fn percent_of(used: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| (used as f64 * 100.0 / total as f64 * 10_000.0).round() / 10_000.0)
}

/// `metrics.history` from raw snapshots (chunks and raw rows): per bucket
/// the average and the largest of each host snapshot's values, and how many
/// hosts reported.
async fn raw_history(pool: &MySqlPool, query: &FleetHistoryQuery, step: u32) -> Result<FleetHistory, ServiceError> {
    let hosts: Vec<String> = if query.host_ids.is_empty() {
        sqlx::query_scalar("SELECT id FROM hosts WHERE tenant_id = ? ORDER BY id")
            .bind(&query.tenant_id)
            .fetch_all(pool)
            .await
            .map_err(|e| internal("reading hosts", e))?
    } else {
        query.host_ids.clone()
    };
    let sql = format!(
        "SELECT {POINT_COLUMNS} FROM metrics_host WHERE host_id = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp"
    );
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for (index, host_id) in hosts.iter().enumerate() {
        let usage = |point: MetricsPoint| {
            let host = &point.host;
            let usage = Usage {
                cpu: host.cpu.percent,
                memory_used: host.memory.used,
                memory_total: host.memory.total,
                disk_used: host.disk.used(),
                disk_total: host.disk.total(),
            };
            (point.timestamp, usage)
        };
        let raw = sqlx::query(&sql)
            .bind(host_id)
            .bind(query.from)
            .bind(query.to)
            .fetch(pool)
            .map(|row| row.and_then(|row| point(&row)).map(usage));
        let mut points = Merged::open(
            pool,
            host_id,
            (query.from, query.to),
            Sections::HOST,
            raw,
            |(time, _): &(DateTime<Utc>, Usage)| *time,
            // only the few values a history needs, never the whole snapshot
            |chunk: &Arc<Chunk>, at: usize| Ok(chunk.usage(at).map(|usage| (chunk.time(at), usage)).into_iter().collect()),
        )
        .await
        .map_err(|e| internal("reading the fleet history", e))?;
        while let Some(point) = points.next().await {
            let (time, usage) = point.map_err(|e| internal("reading the fleet history", e))?;
            if time >= query.to {
                break;
            }
            let bucket = buckets.entry(time.timestamp().div_euclid(i64::from(step))).or_default();
            if bucket.last_host != Some(index) {
                bucket.last_host = Some(index);
                bucket.hosts += 1;
            }
            bucket.cpu.add(Some(usage.cpu));
            bucket.memory.add(percent_of(usage.memory_used, usage.memory_total));
            bucket.disk.add(percent_of(usage.disk_used, usage.disk_total));
        }
    }
    let points = buckets
        .into_iter()
        .take(MAX_HISTORY_POINTS as usize)
        .map(|(bucket, b)| FleetPoint {
            at: DateTime::from_timestamp(bucket * i64::from(step), 0).unwrap_or(DateTime::UNIX_EPOCH),
            hosts: b.hosts,
            cpu_avg: b.cpu.avg(),
            cpu_max: b.cpu.max.map(round2),
            memory_avg: b.memory.avg(),
            memory_max: b.memory.max.map(round2),
            disk_avg: b.disk.avg(),
            disk_max: b.disk.max.map(round2),
        })
        .collect();
    Ok(FleetHistory { from: query.from, to: query.to, step, source: HistorySource::Raw, points })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETENTION: Retention = Retention {
        raw: Duration::from_secs(7 * 86_400),
        hourly: Duration::from_secs(90 * 86_400),
        daily: Duration::from_secs(730 * 86_400),
    };

    fn query(span: TimeDelta, ago: TimeDelta, step: u32, source: Option<HistorySource>) -> (FleetHistoryQuery, DateTime<Utc>) {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z").unwrap().with_timezone(&Utc);
        let to = now - ago;
        (FleetHistoryQuery { tenant_id: "acme".into(), host_ids: vec![], from: to - span, to, step, source }, now)
    }

    fn planned(
        span: TimeDelta,
        ago: TimeDelta,
        step: u32,
        source: Option<HistorySource>,
    ) -> Result<(u32, HistorySource), String> {
        let (query, now) = query(span, ago, step, source);
        plan(&query, &RETENTION, now).map_err(|e| e.message)
    }

    #[test]
    fn a_picked_step_reads_raw_hourly_or_daily_by_the_window() {
        assert_eq!(planned(TimeDelta::hours(1), TimeDelta::zero(), 0, None), Ok((10, HistorySource::Raw)));
        assert_eq!(planned(TimeDelta::days(1), TimeDelta::zero(), 0, None), Ok((300, HistorySource::Raw)));
        assert_eq!(planned(TimeDelta::days(30), TimeDelta::zero(), 0, None), Ok((2 * HOUR, HistorySource::Hourly)));
        assert_eq!(planned(TimeDelta::days(365), TimeDelta::zero(), 0, None), Ok((DAY, HistorySource::Daily)));
        // a day three weeks ago: raw is gone, hourly holds it
        assert_eq!(planned(TimeDelta::days(1), TimeDelta::days(21), 0, None), Ok((HOUR, HistorySource::Hourly)));
        // a day half a year ago: only daily rows
        assert_eq!(planned(TimeDelta::days(1), TimeDelta::days(180), 0, None), Ok((DAY, HistorySource::Daily)));
    }

    #[test]
    fn an_explicit_step_or_source_is_kept_or_refused_naming_the_field() {
        assert_eq!(planned(TimeDelta::days(2), TimeDelta::zero(), 7200, None), Ok((7200, HistorySource::Hourly)));
        assert_eq!(planned(TimeDelta::days(2), TimeDelta::zero(), DAY, None), Ok((DAY, HistorySource::Daily)));
        assert_eq!(
            planned(TimeDelta::days(2), TimeDelta::zero(), 3600, Some(HistorySource::Raw)),
            Ok((3600, HistorySource::Raw))
        );
        let not_hours = planned(TimeDelta::days(2), TimeDelta::zero(), 600, Some(HistorySource::Hourly)).unwrap_err();
        assert!(not_hours.starts_with("step=600 is not a whole number of hours"), "{not_hours}");
        let not_days = planned(TimeDelta::days(2), TimeDelta::zero(), 3600, Some(HistorySource::Daily)).unwrap_err();
        assert!(not_days.starts_with("step=3600 is not a whole number of days"), "{not_days}");
        let too_many = planned(TimeDelta::days(7), TimeDelta::zero(), 60, None).unwrap_err();
        assert!(too_many.starts_with("step=60 gives 10080 points"), "{too_many}");
        let reversed = planned(TimeDelta::zero(), TimeDelta::zero(), 0, None).unwrap_err();
        assert!(reversed.starts_with("from ("), "{reversed}");
    }
}
