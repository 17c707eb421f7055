//! Reads of a host's inventory: the containers and services of its latest
//! snapshot, a container's stored points, and custom metric points.
//!
//! Invariants:
//! - every read is scoped by tenant: a host of another tenant is `NotFound`,
//!   exactly like a host that does not exist;
//! - "latest" is the host's newest stored snapshot (`MAX(timestamp)` of its
//!   `metrics_host` rows, written in the same transaction as its container and
//!   service rows): a container or service absent from that snapshot is not
//!   listed, whatever older snapshots hold;
//! - ranges are oldest first and capped at [`MAX_RANGE_POINTS`];
//! - container names are compared byte for byte (the column's collation is
//!   case-insensitive; the `BINARY` filter keeps `Web` ≠ `web`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlPool, QueryBuilder, Row};
use vigil_bus::messages::{
    ContainerMetrics, ContainerPoint, ContainerRange, ContainerRecord, CustomLatest, CustomPoint, CustomRange, GetContainer,
    HostContainers, HostServices, ListContainers, ServiceMetrics, ServiceRecord,
};
use vigil_bus::{ContainerId, ErrorCode, ServiceError};

use futures::StreamExt;

use std::sync::Arc;

use crate::chunk::{Chunk, ChunkError, Sections};
use crate::compact::Merged;
use crate::hosts::{self, bad_id, internal, not_found};
use crate::metrics::{ensure_host, MAX_RANGE_POINTS};

/// Longest custom metric name (the `VARCHAR(100)` of `metrics_custom`).
const MAX_CUSTOM_NAME_CHARS: usize = 100;

/// Columns of a container row, table aliased `c`.
pub(crate) const CONTAINER_COLUMNS: &str = "c.host_id, c.container_name, c.timestamp, c.runtime, c.status, c.image, c.created, \
    CAST(c.cpu_percent AS DOUBLE) AS cpu_percent, c.memory_used, c.memory_limit, \
    CAST(c.memory_percent AS DOUBLE) AS memory_percent, c.disk_used, c.network_rx, c.network_tx, c.processes";

/// The time of the host's newest snapshot, the host id bound once. A
/// constant subquery (MariaDB resolves it from the primary key's last entry),
/// so the rows of that snapshot are a `(host_id, timestamp)` index lookup;
/// the `FORCE INDEX (idx_host_time)` of the callers keeps the optimizer from
/// walking the host's whole history through the primary key instead.
const LATEST_OF_HOST: &str = "(SELECT MAX(m.timestamp) FROM metrics_host m WHERE m.host_id = ?)";

/// Hosts per statement when listing the containers of a whole tenant.
const HOSTS_PER_QUERY: usize = 1000;

pub(crate) const SERVICE_COLUMNS: &str = "s.host_id, s.service_name, s.timestamp, s.status, s.pid, s.memory_used, \
    CAST(s.cpu_percent AS DOUBLE) AS cpu_percent, s.ports, s.uptime";

pub(crate) const CUSTOM_COLUMNS: &str = "c.name, c.type, c.value, c.error, c.timestamp";

fn text(row: &MySqlRow, column: &str) -> Result<String, sqlx::Error> {
    Ok(row.try_get::<Option<String>, _>(column)?.unwrap_or_default())
}

fn number(row: &MySqlRow, column: &str) -> Result<u64, sqlx::Error> {
    Ok(row.try_get::<Option<u64>, _>(column)?.unwrap_or(0))
}

fn real(row: &MySqlRow, column: &str) -> Result<f64, sqlx::Error> {
    Ok(row.try_get::<Option<f64>, _>(column)?.unwrap_or(0.0))
}

pub(crate) fn container_metrics(row: &MySqlRow) -> Result<ContainerMetrics, sqlx::Error> {
    let memory_used = number(row, "memory_used")?;
    let memory_limit = number(row, "memory_limit")?;
    // rows stored before the column existed: derive it like the agent does
    let memory_percent = match row.try_get::<Option<f64>, _>("memory_percent")? {
        Some(percent) => percent,
        None if memory_limit == 0 => 0.0,
        None => (memory_used as f64 * 10_000.0 / memory_limit as f64).round() / 100.0,
    };
    Ok(ContainerMetrics {
        name: binary_text(row, "container_name")?,
        runtime: text(row, "runtime")?,
        status: text(row, "status")?,
        created: text(row, "created")?,
        image: text(row, "image")?,
        cpu_percent: real(row, "cpu_percent")?,
        memory_used,
        memory_limit,
        memory_percent,
        disk_used: number(row, "disk_used")?,
        network_rx: number(row, "network_rx")?,
        network_tx: number(row, "network_tx")?,
        processes: row.try_get::<Option<u32>, _>("processes")?.unwrap_or(0),
    })
}

fn container_record(row: &MySqlRow, host_name: Option<String>) -> Result<ContainerRecord, sqlx::Error> {
    let metrics = container_metrics(row)?;
    let host_id: String = row.try_get("host_id")?;
    Ok(ContainerRecord {
        id: ContainerId::format(&host_id, &metrics.name),
        host_name,
        host_id,
        timestamp: row.try_get("timestamp")?,
        metrics,
    })
}

pub(crate) fn service_record(row: &MySqlRow) -> Result<ServiceRecord, sqlx::Error> {
    // JSON is LONGTEXT with a binary collation: it arrives as bytes
    let ports = match row.try_get::<Option<Vec<u8>>, _>("ports")? {
        Some(json) => serde_json::from_slice(&json)
            .map_err(|e| sqlx::Error::ColumnDecode { index: "ports".to_owned(), source: Box::new(e) })?,
        None => Vec::new(),
    };
    Ok(ServiceRecord {
        host_id: row.try_get("host_id")?,
        timestamp: row.try_get("timestamp")?,
        metrics: ServiceMetrics {
            name: binary_text(row, "service_name")?,
            status: text(row, "status")?,
            pid: row.try_get::<Option<u32>, _>("pid")?.unwrap_or(0),
            memory: number(row, "memory_used")?,
            cpu_percent: real(row, "cpu_percent")?,
            ports,
            uptime: number(row, "uptime")?,
        },
    })
}

/// A text column with a binary collation (case-sensitive names): it arrives as bytes.
fn binary_text(row: &MySqlRow, column: &str) -> Result<String, sqlx::Error> {
    String::from_utf8(row.try_get::<Vec<u8>, _>(column)?)
        .map_err(|e| sqlx::Error::ColumnDecode { index: column.to_owned(), source: Box::new(e) })
}

pub(crate) fn custom_point(row: &MySqlRow) -> Result<CustomPoint, sqlx::Error> {
    Ok(CustomPoint {
        name: binary_text(row, "name")?,
        kind: row.try_get("type")?,
        value: row.try_get("value")?,
        error: row.try_get("error")?,
        timestamp: row.try_get("timestamp")?,
    })
}

pub(crate) fn decode<T>(
    rows: &[MySqlRow],
    what: &'static str,
    each: impl Fn(&MySqlRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, ServiceError> {
    rows.iter().map(each).collect::<Result<_, _>>().map_err(|e| internal(what, e))
}

fn bad_container(error: vigil_bus::ContainerIdError) -> ServiceError {
    ServiceError::from_error(&error, crate::error::SERVICE)
}

/// `BadRequest` when `from` is after `to`.
pub(crate) fn check_order(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ServiceError> {
    if from > to {
        return Err(ServiceError::new(
            ErrorCode::BadRequest,
            format!("from ({}) is after to ({}); swap them", from.to_rfc3339(), to.to_rfc3339()),
        ));
    }
    Ok(())
}

/// Checks a range request; returns the effective limit (0 means the cap).
pub(crate) fn check_window(from: DateTime<Utc>, to: DateTime<Utc>, limit: u32) -> Result<u32, ServiceError> {
    check_order(from, to)?;
    Ok(if limit == 0 { MAX_RANGE_POINTS } else { limit.min(MAX_RANGE_POINTS) })
}

/// The containers of the host's latest snapshot, by name.
pub(crate) async fn host_containers(pool: &MySqlPool, request: HostContainers) -> Result<Vec<ContainerRecord>, ServiceError> {
    ensure_host(pool, &request.tenant_id, &request.host_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {CONTAINER_COLUMNS} FROM metrics_container c FORCE INDEX (idx_host_time) \
         WHERE c.host_id = ? AND c.timestamp = {LATEST_OF_HOST} ORDER BY c.container_name"
    ))
    .bind(&request.host_id)
    .bind(&request.host_id)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("reading containers", e))?;
    decode(&rows, "decoding containers", |row| container_record(row, None))
}

/// The containers of the latest snapshot of each of the tenant's hosts, by
/// host name, host id, container name. Three steps, each an index read: the
/// tenant's hosts; their newest snapshot times (a loose index scan of
/// `metrics_host`'s primary key); the container rows at those times.
pub(crate) async fn list_containers(pool: &MySqlPool, request: ListContainers) -> Result<Vec<ContainerRecord>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    let hosts: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM hosts WHERE tenant_id = ? ORDER BY name, id")
        .bind(&request.tenant_id)
        .fetch_all(pool)
        .await
        .map_err(|e| internal("listing hosts", e))?;
    let mut records = Vec::new();
    for chunk in hosts.chunks(HOSTS_PER_QUERY) {
        let mut newest = QueryBuilder::<MySql>::new("SELECT host_id, MAX(timestamp) FROM metrics_host WHERE host_id IN (");
        let mut ids = newest.separated(", ");
        for (id, _) in chunk {
            ids.push_bind(id);
        }
        newest.push(") GROUP BY host_id");
        let latest: Vec<(String, DateTime<Utc>)> =
            newest.build_query_as().fetch_all(pool).await.map_err(|e| internal("reading the latest snapshots", e))?;
        if latest.is_empty() {
            continue;
        }
        let mut query = QueryBuilder::<MySql>::new(format!(
            "SELECT {CONTAINER_COLUMNS} FROM metrics_container c FORCE INDEX (idx_host_time) WHERE "
        ));
        for (index, (host_id, at)) in latest.iter().enumerate() {
            if index > 0 {
                query.push(" OR ");
            }
            query.push("(c.host_id = ").push_bind(host_id).push(" AND c.timestamp = ").push_bind(*at).push(")");
        }
        let rows = query.build().fetch_all(pool).await.map_err(|e| internal("listing containers", e))?;
        let names: BTreeMap<&str, &str> = chunk.iter().map(|(id, name)| (id.as_str(), name.as_str())).collect();
        for row in &rows {
            let host_id: String = row.try_get("host_id").map_err(|e| internal("decoding containers", e))?;
            let host_name = names.get(host_id.as_str()).map(|name| (*name).to_owned());
            records.push(container_record(row, host_name).map_err(|e| internal("decoding containers", e))?);
        }
    }
    records.sort_by(|a, b| {
        (a.host_name.as_deref(), a.host_id.as_str(), a.metrics.name.as_str()).cmp(&(
            b.host_name.as_deref(),
            b.host_id.as_str(),
            b.metrics.name.as_str(),
        ))
    });
    Ok(records)
}

/// One container of the host's latest snapshot.
pub(crate) async fn get_container(pool: &MySqlPool, request: GetContainer) -> Result<ContainerRecord, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    let id = ContainerId::new(&request.host_id, &request.container_name).map_err(bad_container)?;
    let host = hosts::find(pool, &request.tenant_id, id.host_id())
        .await
        .map_err(|e| internal("reading a host", e))?
        .ok_or_else(|| not_found(id.host_id()))?;
    let row = sqlx::query(&format!(
        "SELECT {CONTAINER_COLUMNS} FROM metrics_container c FORCE INDEX (idx_host_time) \
         WHERE c.host_id = ? AND c.timestamp = {LATEST_OF_HOST} AND c.container_name = ? AND BINARY c.container_name = ?"
    ))
    .bind(id.host_id())
    .bind(id.host_id())
    .bind(id.name())
    .bind(id.name())
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("reading a container", e))?;
    match row {
        Some(row) => container_record(&row, Some(host.name)).map_err(|e| internal("decoding a container", e)),
        None => Err(ServiceError::new(
            ErrorCode::NotFound,
            format!("no container {:?} in the latest snapshot of host {:?}", id.name(), id.host_id()),
        )),
    }
}

/// Stored points of one container, oldest first. A container without points
/// in the window (or never seen) answers an empty list.
pub(crate) async fn container_range(pool: &MySqlPool, request: ContainerRange) -> Result<Vec<ContainerPoint>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    let id = ContainerId::new(&request.host_id, &request.container_name).map_err(bad_container)?;
    ensure_host(pool, &request.tenant_id, id.host_id()).await?;
    let limit = check_window(request.from, request.to, request.limit)?;
    let sql = format!(
        "SELECT {CONTAINER_COLUMNS} FROM metrics_container c WHERE c.host_id = ? AND c.container_name = ? \
         AND BINARY c.container_name = ? AND c.timestamp >= ? AND c.timestamp <= ? ORDER BY c.timestamp ASC"
    );
    let raw =
        sqlx::query(&sql).bind(id.host_id()).bind(id.name()).bind(id.name()).bind(request.from).bind(request.to).fetch(pool).map(
            |row| {
                row.and_then(|row| Ok(ContainerPoint { timestamp: row.try_get("timestamp")?, metrics: container_metrics(&row)? }))
            },
        );
    let name = id.name();
    let points = Merged::open(
        pool,
        id.host_id(),
        (request.from, request.to),
        Sections::CONTAINERS,
        raw,
        |point: &ContainerPoint| point.timestamp,
        |chunk: &Arc<Chunk>, at: usize| {
            let snapshot = chunk.snapshot(at)?;
            let timestamp = snapshot.timestamp;
            Ok(snapshot
                .containers
                .into_iter()
                .filter(|c| c.name == name)
                .map(|metrics| ContainerPoint { timestamp, metrics })
                .collect())
        },
    )
    .await;
    take(points, limit).await.map_err(|e| internal("reading container metrics", e))
}

/// The first `limit` items of a merged read.
async fn take<T, R, F, G>(points: Result<Merged<T, R, F, G>, sqlx::Error>, limit: u32) -> Result<Vec<T>, sqlx::Error>
where
    R: futures::Stream<Item = Result<T, sqlx::Error>> + Unpin,
    F: Fn(&T) -> DateTime<Utc>,
    G: Fn(&Arc<Chunk>, usize) -> Result<Vec<T>, ChunkError>,
{
    let mut points = points?;
    let mut taken = Vec::new();
    while taken.len() < limit as usize {
        match points.next().await {
            Some(point) => taken.push(point?),
            None => break,
        }
    }
    Ok(taken)
}

/// The services of the host's latest snapshot, by name.
pub(crate) async fn host_services(pool: &MySqlPool, request: HostServices) -> Result<Vec<ServiceRecord>, ServiceError> {
    ensure_host(pool, &request.tenant_id, &request.host_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM metrics_service s FORCE INDEX (idx_host_time) \
         WHERE s.host_id = ? AND s.timestamp = {LATEST_OF_HOST} ORDER BY s.service_name"
    ))
    .bind(&request.host_id)
    .bind(&request.host_id)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("reading services", e))?;
    decode(&rows, "decoding services", service_record)
}

/// Custom metric points in the window, oldest first (then by name).
pub(crate) async fn custom_range(pool: &MySqlPool, request: CustomRange) -> Result<Vec<CustomPoint>, ServiceError> {
    ensure_host(pool, &request.tenant_id, &request.host_id).await?;
    let limit = check_window(request.from, request.to, request.limit)?;
    if let Some(name) = &request.name {
        if name.is_empty() || name.chars().count() > MAX_CUSTOM_NAME_CHARS {
            return Err(ServiceError::new(
                ErrorCode::BadRequest,
                format!("custom metric name {name:?} must be 1 to {MAX_CUSTOM_NAME_CHARS} characters"),
            ));
        }
    }
    let name_filter = if request.name.is_some() { " AND c.name = ?" } else { "" };
    let sql = format!(
        "SELECT {CUSTOM_COLUMNS} FROM metrics_custom c WHERE c.host_id = ? AND c.timestamp >= ? AND c.timestamp <= ?{name_filter} \
         ORDER BY c.timestamp ASC, c.name ASC"
    );
    let mut query = sqlx::query(&sql).bind(&request.host_id).bind(request.from).bind(request.to);
    if let Some(name) = &request.name {
        query = query.bind(name);
    }
    let raw = query.fetch(pool).map(|row| row.and_then(|row| custom_point(&row)));
    let name = request.name.as_deref();
    let points = Merged::open(
        pool,
        &request.host_id,
        (request.from, request.to),
        Sections::CUSTOM,
        raw,
        |point: &CustomPoint| point.timestamp,
        |chunk: &Arc<Chunk>, at: usize| {
            Ok(chunk.snapshot(at)?.custom.into_iter().filter(|c| name.is_none_or(|name| c.name == name)).collect())
        },
    )
    .await;
    take(points, limit).await.map_err(|e| internal("reading custom metrics", e))
}

/// The newest point of each custom metric of the host, by name.
pub(crate) async fn custom_latest(pool: &MySqlPool, request: CustomLatest) -> Result<Vec<CustomPoint>, ServiceError> {
    ensure_host(pool, &request.tenant_id, &request.host_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {CUSTOM_COLUMNS} FROM metrics_custom c \
         JOIN (SELECT name, MAX(timestamp) AS newest FROM metrics_custom WHERE host_id = ? GROUP BY name) n \
         ON n.name = c.name AND n.newest = c.timestamp WHERE c.host_id = ? ORDER BY c.name"
    ))
    .bind(&request.host_id)
    .bind(&request.host_id)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("reading custom metrics", e))?;
    decode(&rows, "decoding custom metrics", custom_point)
}
