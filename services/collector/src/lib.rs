//! The collector: stores the agents' snapshots from JetStream in MariaDB, owns
//! the `hosts` and `metrics_*` tables, answers queries about them over the
//! NATS `service` API, tracks host status (online/offline) and keeps the daily
//! partitions of the metrics tables.
//!
//! Invariants:
//! - a snapshot is acked only after the transaction that stored it committed;
//!   its row key `(host_id, timestamp)` makes a redelivered snapshot a no-op;
//! - a message that can never be stored (undecodable, subject/payload
//!   mismatch, unknown host, tenant mismatch, rejected data) is terminated,
//!   never stored and never retried forever;
//! - several collector processes may run against the same stream, consumer
//!   and database at once.

#![forbid(unsafe_code)]

mod chunk;
mod compact;
mod downsample;
mod endpoints;
mod error;
mod events;
mod history;
mod hosts;
mod ingest;
mod inventory;
mod latest;
mod metrics;
mod partitions;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use sqlx::MySqlPool;
use vigil_runtime::batch::BatchLoop;
use vigil_runtime::endpoints::Serving;
use vigil_runtime::{CancellationToken, Connections};

pub use compact::{compact, CompactReport};
pub use downsample::{downsample, DownsampleReport, Retention};
pub use error::PartitionError;
pub use partitions::{ensure_partitions, PartitionReport, PARTITIONED_TABLES};

/// Ingest loops per collector process. Their batches insert side by side and
/// lock the `hosts` rows they touch only at the end of the transaction, in
/// primary-key order, so two loops wait for each other briefly rather than
/// deadlock.
pub const INGEST_WORKERS: usize = 2;

/// The collector's section of the configuration (`collector:` in the
/// `vigil` file, `VIGIL_COLLECTOR_*` overrides): its defaults are written
/// once, in [`Default`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Most snapshots stored in one transaction.
    #[serde(deserialize_with = "vigil_runtime::config::positive_usize")]
    pub batch_size: usize,
    /// When no snapshot is waiting, how long before looking again.
    #[serde(with = "vigil_bus::duration::serde_text")]
    pub batch_wait: Duration,
    /// No snapshot for this long: the host is offline.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub offline_after: Duration,
    /// How often offline hosts are looked for.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub sweep_interval: Duration,
    /// Daily partitions created ahead of today.
    pub partitions_ahead_days: u32,
    /// Daily partitions entirely older than this are dropped.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub retention_raw: Duration,
    /// Hourly aggregates (`metrics_host_hourly`) older than this are deleted.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub retention_hourly: Duration,
    /// Daily aggregates (`metrics_host_daily`) older than this are deleted.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub retention_daily: Duration,
    /// When raw rows are folded into hourly and daily ones (seed:
    /// `collect.downsample`).
    pub downsample: DownsampleConfig,
    /// When raw rows are folded into hourly chunks.
    pub compaction: CompactionConfig,
}

/// `collector.compaction`: folding raw rows into `metrics_chunk`
/// (`compact.rs`), on a cron schedule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// Cron, UTC, 5 fields or 6 (seconds first). Each run folds every raw
    /// snapshot older than its start, the current hour's too: the raw rows
    /// kept between runs are what a snapshot costs most (~3.4 KB a `seed`
    /// snapshot against ~90 bytes folded).
    #[serde(deserialize_with = "vigil_runtime::config::cron_text")]
    pub schedule: String,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        // every 15 minutes, a minute past the quarter: the hour that just
        // ended is folded at :01, as the downsampling runs
        CompactionConfig { schedule: "1-59/15 * * * *".to_owned() }
    }
}

/// `collector.downsample`: folding into `metrics_host_hourly` and
/// `metrics_host_daily`, and the retention deletes, on a cron schedule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownsampleConfig {
    /// `false`: nothing is folded (the retention deletes still run).
    pub enabled: bool,
    /// Cron, UTC, 5 fields (`min hour day month weekday`) or 6 (seconds first).
    #[serde(deserialize_with = "vigil_runtime::config::cron_text")]
    pub schedule: String,
}

impl Default for DownsampleConfig {
    fn default() -> Self {
        // the seed's hourly "0 * * * *", a minute later: the last snapshots
        // of the hour that ended are in by then
        DownsampleConfig { enabled: true, schedule: "1 * * * *".to_owned() }
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            batch_wait: Duration::from_millis(100),
            offline_after: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(5),
            partitions_ahead_days: 3,
            retention_raw: Duration::from_secs(7 * 24 * 3600),
            retention_hourly: Duration::from_secs(90 * 24 * 3600),
            retention_daily: Duration::from_secs(730 * 24 * 3600),
            downsample: DownsampleConfig::default(),
            compaction: CompactionConfig::default(),
        }
    }
}

/// How often partitions are checked after start-up.
const PARTITION_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("invalid collector config: {0}")]
    Config(String),
    #[error(transparent)]
    Setup(#[from] vigil_runtime::setup::SetupError),
    #[error("partition maintenance of table {table} failed: {source}")]
    Partition {
        table: String,
        #[source]
        source: error::PartitionError,
    },
}

/// What every task of a collector shares.
pub(crate) struct Shared {
    pub config: CollectorConfig,
    pub nats: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub pool: MySqlPool,
    /// Tenant of each registered host seen by ingest.
    pub host_tenants: ingest::HostTenants,
}

/// A collector ready to run: streams, consumer, partitions and service
/// endpoints exist; nothing is consumed before [`Collector::run_until_stopped`].
pub struct Collector {
    shared: Arc<Shared>,
    consumer: jetstream::consumer::PullConsumer,
    serving: Serving<Shared>,
}

impl vigil_runtime::Service for Collector {
    const NAME: &'static str = vigil_bus::subjects::collector::SERVICE_NAME;
    type Config = CollectorConfig;
    type Error = CollectorError;

    async fn build(config: CollectorConfig, connections: Connections) -> Result<Collector, CollectorError> {
        Collector::build(config, connections.nats, connections.pool).await
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), CollectorError> {
        Collector::run_until_stopped(self, shutdown).await
    }
}

impl Collector {
    /// Ensures the JetStream streams and the durable consumer, creates the
    /// daily partitions, catches up the hourly aggregates and adds the
    /// `service` endpoints. Does not start consuming yet (requests to the
    /// endpoints wait until `run_until_stopped`).
    pub async fn build(config: CollectorConfig, nats: async_nats::Client, pool: MySqlPool) -> Result<Collector, CollectorError> {
        if config.batch_size == 0 {
            return Err(CollectorError::Config("batch_size is 0; set it to at least 1 (default 500)".into()));
        }
        if config.sweep_interval.is_zero() {
            return Err(CollectorError::Config("sweep_interval is 0; set it to a positive duration (default 5s)".into()));
        }
        if let Err(error) = vigil_runtime::config::cron_schedule(&config.downsample.schedule) {
            return Err(CollectorError::Config(format!("downsample.schedule: {error}")));
        }
        if let Err(error) = vigil_runtime::config::cron_schedule(&config.compaction.schedule) {
            return Err(CollectorError::Config(format!("compaction.schedule: {error}")));
        }
        let jetstream = jetstream::new(nats.clone());
        vigil_runtime::setup::ensure_streams(&jetstream).await?;
        let consumer = vigil_runtime::setup::durable_consumer(
            &jetstream,
            vigil_bus::streams::METRICS_STREAM,
            vigil_bus::streams::collector_consumer(),
        )
        .await?;

        let report = partitions::ensure_partitions(&pool, config.partitions_ahead_days, config.retention_raw).await?;
        tracing::info!(created = report.created.len(), dropped = report.dropped.len(), "metrics partitions checked");
        // catch up the hours no collector folded while none ran, before serving
        downsample::run_once(&pool, &nats, &config).await;

        let shared = Arc::new(Shared { config, nats: nats.clone(), jetstream, pool, host_tenants: Default::default() });
        let serving = endpoints::table()
            .start(
                &nats,
                vigil_bus::subjects::collector::SERVICE_NAME,
                "vigil collector: hosts, stored metrics and inventory",
                vigil_bus::subjects::collector::QUEUE_GROUP,
                shared.clone(),
            )
            .await?;
        tracing::info!("collector built");
        Ok(Collector { shared, consumer, serving })
    }

    /// Consumes, stores, answers queries, sweeps and maintains partitions
    /// until `shutdown` is cancelled; then stops fetching, finishes (commits
    /// and acks) the batches in hand, stops the service and returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), CollectorError> {
        let Collector { shared, consumer, serving } = self;
        // the helper tasks stop with the collector, also when it fails
        let tasks_stop = shutdown.child_token();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serving.serve(tasks_stop.clone()));
        tasks.spawn(hosts::sweep_loop(shared.clone(), tasks_stop.clone()));
        tasks.spawn(partitions::maintenance_loop(shared.clone(), tasks_stop.clone()));
        tasks.spawn(downsample::downsample_loop(shared.clone(), tasks_stop.clone()));
        tasks.spawn(compact::compaction_loop(shared.clone(), tasks_stop.clone()));
        tracing::info!("collector running");

        // INGEST_WORKERS loops pull from the same consumer, so one batch is
        // decoded and prepared while another commits (measured with
        // vigil-bench: one loop 21k snapshots/s, two ~27k on 2 cores).
        let batches = BatchLoop {
            service: vigil_bus::subjects::collector::SERVICE_NAME,
            consumer,
            jetstream: shared.jetstream.clone(),
            batch_size: shared.config.batch_size,
            batch_wait: shared.config.batch_wait,
            linger: Duration::ZERO,
        };
        let store = Arc::new(ingest::SnapshotStore { shared: shared.clone() });
        futures::future::join_all((0..INGEST_WORKERS).map(|_| batches.clone().run(store.clone(), shutdown.clone()))).await;

        tasks_stop.cancel();
        let stop_all = tokio::time::timeout(Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} });
        if stop_all.await.is_err() {
            tracing::warn!("collector tasks did not stop within 10s; aborting them");
            tasks.abort_all();
        }
        if let Err(error) = shared.nats.flush().await {
            tracing::warn!(error = %error, "cannot flush the last acks to nats");
        }
        tracing::info!("collector stopped");
        Ok(())
    }
}
