//! Reads of stored host metrics (`metrics.range`, `metrics.latest`), always
//! scoped by tenant: the host must be the tenant's (else `NotFound`).

use bytes::Bytes;
use futures::StreamExt;
use sqlx::{MySqlPool, Row};
use vigil_bus::messages::{
    CpuMetrics, DiskMetrics, HostMetrics, LoadMetrics, MemoryMetrics, MetricsLatest, MetricsPoint, MetricsRange, NetworkMetrics,
    MAX_RANGE_STEP,
};
use vigil_bus::{ErrorCode, ServiceError};

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::chunk::{Chunk, Sections};
use crate::compact::Merged;
use crate::error::QueryError;
use crate::hosts::{bad_id, internal, not_found};

/// Most points one `metrics.range` answer carries.
pub const MAX_RANGE_POINTS: u32 = 10_000;

pub(crate) const POINT_COLUMNS: &str = "timestamp, uptime, CAST(cpu_percent AS DOUBLE) AS cpu_percent, cpu_cores, memory_used, \
    memory_total, memory_available, swap_used, swap_total, CAST(load_1m AS DOUBLE) AS load_1m, \
    CAST(load_5m AS DOUBLE) AS load_5m, CAST(load_15m AS DOUBLE) AS load_15m, per_core, mounts, interfaces";

pub(crate) fn point(row: &sqlx::mysql::MySqlRow) -> Result<MetricsPoint, sqlx::Error> {
    fn parse<T: serde::de::DeserializeOwned + Default>(row: &sqlx::mysql::MySqlRow, column: &str) -> Result<T, sqlx::Error> {
        // JSON is LONGTEXT with a binary collation: it arrives as bytes
        match row.try_get::<Option<Vec<u8>>, _>(column)? {
            Some(text) => serde_json::from_slice(&text)
                .map_err(|e| sqlx::Error::ColumnDecode { index: column.to_owned(), source: Box::new(e) }),
            None => Ok(T::default()),
        }
    }
    let number = |column: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<Option<u64>, _>(column)?.unwrap_or(0)) };
    let real = |column: &str| -> Result<f64, sqlx::Error> { Ok(row.try_get::<Option<f64>, _>(column)?.unwrap_or(0.0)) };
    let total = number("memory_total")?;
    let used = number("memory_used")?;
    let memory_percent = if total == 0 { 0.0 } else { (used as f64 * 10_000.0 / total as f64).round() / 100.0 };
    Ok(MetricsPoint {
        timestamp: row.try_get("timestamp")?,
        host: HostMetrics {
            uptime: number("uptime")?,
            cpu: CpuMetrics {
                percent: real("cpu_percent")?,
                cores: u32::from(row.try_get::<Option<u16>, _>("cpu_cores")?.unwrap_or(0)),
                model: String::new(),
                per_core: parse(row, "per_core")?,
            },
            memory: MemoryMetrics {
                total,
                used,
                available: number("memory_available")?,
                percent: memory_percent,
                swap_total: number("swap_total")?,
                swap_used: number("swap_used")?,
            },
            disk: DiskMetrics { mounts: parse(row, "mounts")? },
            network: NetworkMetrics { interfaces: parse(row, "interfaces")? },
            load: LoadMetrics { load_1m: real("load_1m")?, load_5m: real("load_5m")?, load_15m: real("load_15m")? },
        },
    })
}

/// `Ok` when the host exists and is the tenant's, `NotFound` otherwise.
pub(crate) async fn ensure_host(pool: &MySqlPool, tenant_id: &str, host_id: &str) -> Result<(), ServiceError> {
    bad_id("tenant", tenant_id)?;
    bad_id("host", host_id)?;
    let found: Option<(String,)> = sqlx::query_as("SELECT id FROM hosts WHERE id = ? AND tenant_id = ?")
        .bind(host_id)
        .bind(tenant_id)
        .fetch_optional(pool)
        .await
        .map_err(|e| internal("reading a host", e))?;
    found.map(|_| ()).ok_or_else(|| not_found(host_id))
}

/// Points with `from <= timestamp <= to`, oldest first, one per `step`
/// bucket when `step` is set (see [`MetricsRange`]). `limit` is capped at
/// [`MAX_RANGE_POINTS`]; 0 means the cap.
pub(crate) async fn range(
    pool: &MySqlPool,
    request: MetricsRange,
    chunk_bytes: usize,
) -> Result<impl futures::Stream<Item = Result<Bytes, ServiceError>> + Send, ServiceError> {
    ensure_host(pool, &request.tenant_id, &request.host_id).await?;
    let limit = crate::inventory::check_window(request.from, request.to, request.limit)?;
    if request.step > MAX_RANGE_STEP {
        let step = request.step;
        return Err(ServiceError::new(ErrorCode::BadRequest, format!("step={step} is over {MAX_RANGE_STEP} seconds (one day)")));
    }
    // Points are encoded as they come and handed on a chunk at a time: the
    // channel holds one chunk, so the reader waits for the requester to pull
    // (a 10,000-point answer of a host with 200 interfaces is ~300 MB of JSON,
    // never held whole here or in the gateway). Compacted hours are decoded
    // one at a time.
    let (sender, mut chunks) = tokio::sync::mpsc::channel::<Result<Bytes, ServiceError>>(1);
    let pool = pool.clone();
    tokio::spawn(async move {
        let sql = match request.step {
            0 => format!(
                "SELECT {POINT_COLUMNS} FROM metrics_host WHERE host_id = ? AND timestamp >= ? AND timestamp <= ? ORDER BY timestamp ASC"
            ),
            // the raw rows' winner of each bucket, picked by MariaDB (only
            // keys go through the window: a host of 200 interfaces sends 70
            // rows for a day, not 8,640); the chunks' candidates compete below
            step => format!(
                "SELECT {POINT_COLUMNS} FROM (SELECT timestamp AS picked FROM (SELECT timestamp, ROW_NUMBER() OVER (\
                   PARTITION BY TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', timestamp) DIV {step} \
                   ORDER BY cpu_percent DESC, timestamp ASC) AS bucket_rank \
                 FROM metrics_host WHERE host_id = ? AND timestamp >= ? AND timestamp <= ?) AS ranked WHERE bucket_rank = 1) AS buckets \
                 JOIN metrics_host ON metrics_host.host_id = ? AND metrics_host.timestamp = buckets.picked \
                 ORDER BY timestamp ASC"
            ),
        };
        let mut query = sqlx::query(&sql).bind(&request.host_id).bind(request.from).bind(request.to);
        if request.step > 0 {
            query = query.bind(&request.host_id);
        }
        let raw = query.fetch(&pool).map(|row| row.and_then(|row| point(&row)).map(Candidate::Raw));
        let opened = Merged::open(
            &pool,
            &request.host_id,
            (request.from, request.to),
            Sections::HOST,
            raw,
            Candidate::time,
            |chunk: &Arc<Chunk>, at: usize| {
                Ok(if chunk.has_host(at) { vec![Candidate::Chunk(chunk.clone(), at)] } else { Vec::new() })
            },
        )
        .await;
        let mut points = match opened {
            Ok(points) => points,
            Err(error) => {
                let _ = sender.send(Err(internal("reading metrics", error))).await;
                return;
            }
        };
        let mut out = Answer::new(sender, chunk_bytes, limit);
        // per `step` bucket (on the unix epoch) the highest cpu wins, the
        // earliest of equals
        let step = i64::from(request.step);
        let mut best: Option<(i64, Candidate)> = None;
        loop {
            let point = match points.next().await {
                Some(Ok(point)) => point,
                Some(Err(error)) => return out.fail(internal("reading metrics", error)).await,
                None => break,
            };
            let ready = if step == 0 {
                Some(point)
            } else {
                let bucket = point.time().timestamp().div_euclid(step);
                match &mut best {
                    Some((kept_bucket, kept)) if *kept_bucket == bucket => {
                        if point.cpu() > kept.cpu() {
                            *kept = point;
                        }
                        None
                    }
                    _ => best.replace((bucket, point)).map(|(_, point)| point),
                }
            };
            if let Some(point) = ready {
                if !out.push(point).await {
                    return;
                }
            }
        }
        if let Some((_, point)) = best {
            if !out.push(point).await {
                return;
            }
        }
        out.finish().await;
    });
    Ok(futures::stream::poll_fn(move |context| chunks.poll_recv(context)))
}

/// A point of a range read: a raw row's, or snapshot `at` of a chunk, built
/// only when it is answered (a 7-day chart keeps one snapshot in 100).
enum Candidate {
    Raw(MetricsPoint),
    Chunk(Arc<Chunk>, usize),
}

impl Candidate {
    fn time(&self) -> DateTime<Utc> {
        match self {
            Candidate::Raw(point) => point.timestamp,
            Candidate::Chunk(chunk, at) => chunk.time(*at),
        }
    }

    fn cpu(&self) -> f64 {
        match self {
            Candidate::Raw(point) => point.host.cpu.percent,
            Candidate::Chunk(chunk, at) => chunk.cpu(*at).unwrap_or(0.0),
        }
    }

    fn point(self) -> Result<MetricsPoint, sqlx::Error> {
        match self {
            Candidate::Raw(point) => Ok(point),
            Candidate::Chunk(chunk, at) => {
                let snapshot = chunk.snapshot(at).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let host = snapshot.host.unwrap_or_default(); // has_host was checked
                Ok(MetricsPoint { timestamp: snapshot.timestamp, host })
            }
        }
    }
}

/// A `metrics.range` answer written as it is read: `{"ok":[` points `]}`,
/// handed on in chunks of about `chunk_bytes`, at most `limit` points.
struct Answer {
    sender: tokio::sync::mpsc::Sender<Result<Bytes, ServiceError>>,
    chunk: Vec<u8>,
    chunk_bytes: usize,
    left: u32,
    first: bool,
}

impl Answer {
    fn new(sender: tokio::sync::mpsc::Sender<Result<Bytes, ServiceError>>, chunk_bytes: usize, limit: u32) -> Answer {
        let mut chunk = Vec::with_capacity(chunk_bytes + 64 * 1024);
        chunk.extend_from_slice(br#"{"ok":["#);
        Answer { sender, chunk, chunk_bytes, left: limit, first: true }
    }

    /// Adds a point; `false` when the answer is over (the limit reached and
    /// the answer sent, the requester gone, or an error sent).
    async fn push(&mut self, candidate: Candidate) -> bool {
        if self.left == 0 {
            self.finish_now().await;
            return false;
        }
        let point = match candidate.point() {
            Ok(point) => point,
            Err(error) => {
                let _ = self.sender.send(Err(internal("reading metrics", error))).await;
                return false;
            }
        };
        let encoded = match serde_json::to_vec(&point) {
            Ok(encoded) => encoded,
            Err(source) => {
                let _ = self.sender.send(Err(QueryError::Encode { what: "a metrics point", source }.into())).await;
                return false;
            }
        };
        if !self.first && self.chunk.len() + encoded.len() + 1 > self.chunk_bytes {
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_bytes + 64 * 1024));
            if self.sender.send(Ok(full.into())).await.is_err() {
                return false; // the requester went away
            }
        }
        if !self.first {
            self.chunk.push(b',');
        }
        self.first = false;
        self.chunk.extend_from_slice(&encoded);
        self.left -= 1;
        true
    }

    async fn fail(self, error: ServiceError) {
        let _ = self.sender.send(Err(error)).await;
    }

    async fn finish_now(&mut self) {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.extend_from_slice(b"]}");
        let _ = self.sender.send(Ok(chunk.into())).await;
    }

    async fn finish(mut self) {
        self.finish_now().await;
    }
}

/// The newest stored point of the tenant's host, `None` when it has none.
pub(crate) async fn latest(pool: &MySqlPool, request: MetricsLatest) -> Result<Option<MetricsPoint>, ServiceError> {
    ensure_host(pool, &request.tenant_id, &request.host_id).await?;
    let row = sqlx::query(&format!("SELECT {POINT_COLUMNS} FROM metrics_host WHERE host_id = ? ORDER BY timestamp DESC LIMIT 1"))
        .bind(&request.host_id)
        .fetch_optional(pool)
        .await
        .map_err(|e| internal("reading metrics", e))?;
    row.as_ref().map(point).transpose().map_err(|e| internal("decoding metrics", e))
}
