//! Today's raw rows of snapshots, written as the collector's ingest writes
//! them (`services/collector/src/ingest.rs`: one multi-row INSERT per table
//! and 500 rows, decimals at 2 places, JSON details, a redelivered row a
//! no-op): the benchmarks' raw insert ceilings, outside the collector.

use sqlx::{MySql, QueryBuilder};
use vigil_bus::messages::MetricsSnapshot;

/// Rows per INSERT statement, as the collector writes them.
pub const ROWS_PER_INSERT: usize = 500;

/// The last snapshots' `metrics_host` rows found among `(host, time)`.
pub async fn last_rows_stored(pool: &sqlx::MySqlPool, rows: &[(String, chrono::NaiveDateTime)]) -> Result<usize, sqlx::Error> {
    let mut query = QueryBuilder::<MySql>::new("SELECT COUNT(*) FROM metrics_host WHERE (host_id, timestamp) IN (");
    let mut list = query.separated(", ");
    for (host_id, timestamp) in rows {
        list.push("(")
            .push_bind_unseparated(host_id)
            .push_unseparated(", ")
            .push_bind_unseparated(*timestamp)
            .push_unseparated(")");
    }
    query.push(")");
    Ok(query.build_query_scalar::<i64>().fetch_one(pool).await? as usize)
}

/// Inserts the rows of `snapshots` into the four raw tables; the rows inserted.
pub async fn insert(tx: &mut sqlx::Transaction<'_, MySql>, snapshots: &[MetricsSnapshot]) -> Result<u64, sqlx::Error> {
    let mut rows = 0;
    let decimal = |value: f64| (value * 100.0).round() / 100.0;
    for chunk in snapshots.chunks(ROWS_PER_INSERT) {
        let mut query = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_host (host_id, timestamp, uptime, cpu_percent, cpu_cores, memory_used, memory_total, \
             memory_available, swap_used, swap_total, disk_used, disk_total, load_1m, load_5m, load_15m, network_rx, \
             network_tx, per_core, mounts, interfaces) ",
        );
        query.push_values(chunk, |mut row, s| {
            let host = &s.host;
            row.push_bind(&s.host_id)
                .push_bind(s.collected_at)
                .push_bind(host.uptime)
                .push_bind(decimal(host.cpu.percent))
                .push_bind(host.cpu.cores as u16)
                .push_bind(host.memory.used)
                .push_bind(host.memory.total)
                .push_bind(host.memory.available)
                .push_bind(host.memory.swap_used)
                .push_bind(host.memory.swap_total)
                .push_bind(host.disk.used())
                .push_bind(host.disk.total())
                .push_bind(decimal(host.load.load_1m))
                .push_bind(decimal(host.load.load_5m))
                .push_bind(decimal(host.load.load_15m))
                .push_bind(host.network.rx_bytes())
                .push_bind(host.network.tx_bytes())
                .push_bind(json(&host.cpu.per_core))
                .push_bind(json(&host.disk.mounts))
                .push_bind(json(&host.network.interfaces));
        });
        query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
        rows += query.build().execute(&mut **tx).await?.rows_affected();
    }
    let containers: Vec<_> = snapshots.iter().flat_map(|s| s.containers.iter().map(move |c| (s, c))).collect();
    for chunk in containers.chunks(ROWS_PER_INSERT) {
        let mut query = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_container (host_id, container_name, timestamp, runtime, status, image, created, cpu_percent, \
             memory_used, memory_limit, memory_percent, disk_used, network_rx, network_tx, processes) ",
        );
        query.push_values(chunk, |mut row, (s, c)| {
            row.push_bind(&s.host_id)
                .push_bind(&c.name)
                .push_bind(s.collected_at)
                .push_bind(&c.runtime)
                .push_bind(&c.status)
                .push_bind(&c.image)
                .push_bind(&c.created)
                .push_bind(decimal(c.cpu_percent))
                .push_bind(c.memory_used)
                .push_bind(c.memory_limit)
                .push_bind(decimal(c.memory_percent))
                .push_bind(c.disk_used)
                .push_bind(c.network_rx)
                .push_bind(c.network_tx)
                .push_bind(c.processes);
        });
        query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
        rows += query.build().execute(&mut **tx).await?.rows_affected();
    }
    let services: Vec<_> = snapshots.iter().flat_map(|s| s.services.iter().map(move |v| (s, v))).collect();
    for chunk in services.chunks(ROWS_PER_INSERT) {
        let mut query = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_service (host_id, service_name, timestamp, status, pid, memory_used, cpu_percent, ports, uptime) ",
        );
        query.push_values(chunk, |mut row, (s, v)| {
            row.push_bind(&s.host_id)
                .push_bind(&v.name)
                .push_bind(s.collected_at)
                .push_bind(&v.status)
                .push_bind(v.pid)
                .push_bind(v.memory)
                .push_bind(decimal(v.cpu_percent))
                .push_bind(json(&v.ports))
                .push_bind(v.uptime);
        });
        query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
        rows += query.build().execute(&mut **tx).await?.rows_affected();
    }
    let custom: Vec<_> = snapshots.iter().flat_map(|s| s.custom.iter().map(move |m| (s, m))).collect();
    for chunk in custom.chunks(ROWS_PER_INSERT) {
        let mut query = QueryBuilder::<MySql>::new("INSERT INTO metrics_custom (host_id, name, timestamp, type, value, error) ");
        query.push_values(chunk, |mut row, (s, m)| {
            row.push_bind(&s.host_id)
                .push_bind(&m.name)
                .push_bind(s.collected_at)
                .push_bind(&m.kind)
                .push_bind(m.value)
                .push_bind(m.error.as_deref());
        });
        query.push(" ON DUPLICATE KEY UPDATE host_id = host_id");
        rows += query.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(rows)
}

/// JSON text of a column value, as the collector writes it.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
