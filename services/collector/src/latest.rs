//! `vigil.collector.hosts.latest`: a page of a tenant's hosts with their
//! latest stored data, for the gateway's Prometheus exposition.
//!
//! Invariants:
//! - scoped by tenant: only the tenant's `hosts` rows are read, and data is
//!   read only for those hosts' ids;
//! - a page is the tenant's hosts by id after the cursor (the `idx_tenant`
//!   index holds `(tenant_id, id)`), so paging never skips nor repeats a host;
//! - data is read only for fresh hosts (`last_seen >= fresh_since`), and only
//!   from `timestamp >= fresh_since` minus [`CLOCK_SLACK`], so the daily
//!   partitions of older days are pruned;
//! - per page, five statements whatever its size: the hosts, their newest
//!   snapshot rows, then side by side the containers and services of those
//!   snapshots and the newest value of each custom metric; each joins on the
//!   hosts' newest snapshot times (a loose scan of a primary key), never on
//!   a list of `OR`ed `(host_id, timestamp)` pairs, which the optimizer took
//!   10 to 20 times longer over (300 vs 20 ms per 1,000 hosts).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlPool, QueryBuilder, Row};
use vigil_bus::messages::{ContainerMetrics, CustomPoint, HostLatest, LatestData, LatestPage, ServiceMetrics, MAX_LATEST_HOSTS};
use vigil_bus::ServiceError;

use crate::hosts::{bad_id, internal, status_of};
use crate::inventory::{container_metrics, custom_point, service_record, CONTAINER_COLUMNS, SERVICE_COLUMNS};
use crate::metrics::{point, POINT_COLUMNS};

/// How far before `fresh_since` a fresh host's newest snapshot may be: its
/// `last_seen` is the collection time capped at the collector's clock, so
/// the newest row of a fresh host is at or after `fresh_since`; the slack
/// covers clocks a little apart between collectors.
const CLOCK_SLACK: chrono::Duration = chrono::Duration::minutes(5);

/// One page of the tenant's hosts with their latest data (see [`LatestPage`]).
pub(crate) async fn page(pool: &MySqlPool, request: LatestPage) -> Result<Vec<HostLatest>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    if let Some(after) = &request.after {
        bad_id("host", after)?;
    }
    let limit = if request.limit == 0 { MAX_LATEST_HOSTS } else { request.limit.min(MAX_LATEST_HOSTS) };
    let started = std::time::Instant::now();
    if request.shards > 1 && request.shard >= request.shards {
        return Err(ServiceError::new(
            vigil_bus::ErrorCode::BadRequest,
            format!("shard {} is not below shards {}", request.shard, request.shards),
        ));
    }
    let shard_filter = if request.shards > 1 { " AND CRC32(id) % ? = ?" } else { "" };
    let sql = format!(
        "SELECT id, name, CAST(status AS CHAR) AS status, last_seen FROM hosts \
         WHERE tenant_id = ? AND id > ?{shard_filter} ORDER BY id LIMIT ?"
    );
    let mut query = sqlx::query(&sql).bind(&request.tenant_id).bind(request.after.as_deref().unwrap_or(""));
    if request.shards > 1 {
        query = query.bind(request.shards).bind(request.shard);
    }
    let rows = query.bind(limit).fetch_all(pool).await.map_err(|e| internal("listing hosts", e))?;
    let mut hosts = rows
        .iter()
        .map(|row| {
            Ok(HostLatest {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                status: status_of(&row.try_get::<String, _>("status")?),
                last_seen: row.try_get("last_seen")?,
                latest: None,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| internal("reading hosts", e))?;
    let fresh: Vec<&str> = hosts
        .iter()
        .filter(|host| host.last_seen.is_some_and(|seen| seen >= request.fresh_since))
        .map(|host| host.id.as_str())
        .collect();
    if fresh.is_empty() {
        return Ok(hosts);
    }
    let hosts_read = started.elapsed();
    let mut data = read_latest(pool, &fresh, request.fresh_since - CLOCK_SLACK).await?;
    for host in &mut hosts {
        host.latest = data.remove(&host.id);
    }
    tracing::debug!(
        tenant_id = %request.tenant_id,
        hosts = hosts.len(),
        hosts_ms = hosts_read.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "latest page read"
    );
    Ok(hosts)
}

/// The latest data of each of `host_ids` that has a snapshot since `since`.
async fn read_latest(
    pool: &MySqlPool,
    host_ids: &[&str],
    since: DateTime<Utc>,
) -> Result<HashMap<String, LatestData>, ServiceError> {
    // the newest snapshot row of each host, in one statement
    let columns: Vec<String> = POINT_COLUMNS.split(", ").map(|column| prefixed("m", column)).collect();
    let mut query = QueryBuilder::<MySql>::new(format!("SELECT m.host_id, {} FROM ", columns.join(", ")));
    push_newest(&mut query, host_ids, since);
    query.push(" JOIN metrics_host m ON m.host_id = n.host_id AND m.timestamp = n.newest");
    let rows = query.build().fetch_all(pool).await.map_err(|e| internal("reading the latest snapshots", e))?;
    let mut latest = HashMap::with_capacity(rows.len());
    for row in &rows {
        let host_id: String = row.try_get("host_id").map_err(|e| internal("decoding the latest snapshots", e))?;
        let point = point(row).map_err(|e| internal("decoding the latest snapshots", e))?;
        latest.insert(
            host_id,
            LatestData {
                timestamp: point.timestamp,
                host: point.host,
                containers: Vec::new(),
                services: Vec::new(),
                custom: Vec::new(),
            },
        );
    }
    if latest.is_empty() {
        return Ok(latest);
    }
    let (containers, services, custom) = tokio::try_join!(
        containers_at(pool, host_ids, since),
        services_at(pool, host_ids, since),
        custom_since(pool, host_ids, since),
    )?;
    for (host_id, container) in containers {
        if let Some(data) = latest.get_mut(&host_id) {
            data.containers.push(container);
        }
    }
    for (host_id, service) in services {
        if let Some(data) = latest.get_mut(&host_id) {
            data.services.push(service);
        }
    }
    for (host_id, point) in custom {
        if let Some(data) = latest.get_mut(&host_id) {
            data.custom.push(point);
        }
    }
    Ok(latest)
}

/// `timestamp` → `m.timestamp`, `CAST(x AS DOUBLE) AS x` → `CAST(m.x AS DOUBLE) AS x`.
fn prefixed(table: &str, column: &str) -> String {
    match column.strip_prefix("CAST(") {
        Some(rest) => format!("CAST({table}.{rest}"),
        None => format!("{table}.{column}"),
    }
}

fn push_ids(query: &mut QueryBuilder<'_, MySql>, host_ids: &[&str]) {
    let mut ids = query.separated(", ");
    for id in host_ids {
        ids.push_bind(id.to_string());
    }
}

/// `(SELECT host_id, MAX(timestamp) AS newest ...) n`: the time of each
/// host's newest snapshot since `since`, a loose scan of `metrics_host`'s
/// primary key. The rows of those snapshots are joined on it: an `OR` of
/// 1,000 `(host_id, timestamp)` pairs took the optimizer 10 to 20 times longer.
fn push_newest(query: &mut QueryBuilder<'_, MySql>, host_ids: &[&str], since: DateTime<Utc>) {
    query.push("(SELECT host_id, MAX(timestamp) AS newest FROM metrics_host WHERE host_id IN (");
    push_ids(query, host_ids);
    query.push(") AND timestamp >= ").push_bind(since).push(" GROUP BY host_id) n");
}

async fn containers_at(
    pool: &MySqlPool,
    host_ids: &[&str],
    since: DateTime<Utc>,
) -> Result<Vec<(String, ContainerMetrics)>, ServiceError> {
    let mut query = QueryBuilder::<MySql>::new(format!("SELECT {CONTAINER_COLUMNS} FROM "));
    push_newest(&mut query, host_ids, since);
    query.push(
        " JOIN metrics_container c FORCE INDEX (idx_host_time) ON c.host_id = n.host_id AND c.timestamp = n.newest \
         ORDER BY c.host_id, c.container_name",
    );
    let rows = query.build().fetch_all(pool).await.map_err(|e| internal("reading the latest containers", e))?;
    rows.iter()
        .map(|row| Ok((row.try_get("host_id")?, container_metrics(row)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| internal("decoding the latest containers", e))
}

async fn services_at(
    pool: &MySqlPool,
    host_ids: &[&str],
    since: DateTime<Utc>,
) -> Result<Vec<(String, ServiceMetrics)>, ServiceError> {
    let mut query = QueryBuilder::<MySql>::new(format!("SELECT {SERVICE_COLUMNS} FROM "));
    push_newest(&mut query, host_ids, since);
    query.push(
        " JOIN metrics_service s FORCE INDEX (idx_host_time) ON s.host_id = n.host_id AND s.timestamp = n.newest \
         ORDER BY s.host_id, s.service_name",
    );
    let rows = query.build().fetch_all(pool).await.map_err(|e| internal("reading the latest services", e))?;
    rows.iter()
        .map(|row| Ok((row.try_get("host_id")?, service_record(row)?.metrics)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| internal("decoding the latest services", e))
}

/// The newest value of each custom metric of the hosts since `since` (custom
/// commands run on their own schedules: a snapshot need not carry them all).
async fn custom_since(
    pool: &MySqlPool,
    host_ids: &[&str],
    since: DateTime<Utc>,
) -> Result<Vec<(String, CustomPoint)>, ServiceError> {
    let mut query = QueryBuilder::<MySql>::new(
        "SELECT c.host_id, c.name, c.type, c.value, c.error, c.timestamp FROM (SELECT host_id, name, MAX(timestamp) AS newest \
         FROM metrics_custom WHERE host_id IN (",
    );
    push_ids(&mut query, host_ids);
    query.push(") AND timestamp >= ").push_bind(since).push(
        " GROUP BY host_id, name) n JOIN metrics_custom c ON c.host_id = n.host_id AND c.name = n.name AND c.timestamp = n.newest \
         ORDER BY c.host_id, c.name",
    );
    let rows = query.build().fetch_all(pool).await.map_err(|e| internal("reading the latest custom metrics", e))?;
    rows.iter()
        .map(|row| Ok((row.try_get("host_id")?, custom_point(row)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| internal("decoding the latest custom metrics", e))
}
