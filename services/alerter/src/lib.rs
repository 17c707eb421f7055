//! The alerter: evaluates every tenant's alert rules on each snapshot and
//! host event as it arrives, keeps each alert instance's state in MariaDB,
//! and sends notifications through an outbox.
//!
//! Invariants:
//! - a snapshot or host event is acked only after the transaction holding
//!   the state changes it caused, and their outbox rows, committed;
//! - a host's snapshots and events are evaluated under its `alert_hosts` row
//!   lock, in collection order; one not newer than the last evaluated is a
//!   no-op, so a redelivery never fires or notifies twice;
//! - every state lives in MariaDB: several alerters share the durable
//!   consumers, any of them can take over another's hosts at once;
//! - a notification is sent at least once, after the notifications before
//!   it for the same alert and channel.

#![forbid(unsafe_code)]

mod api;
mod channels;
pub mod condition;
mod config;
mod endpoints;
pub mod error;
mod evaluate;
mod events;
mod hostnames;
mod ingest;
pub mod notify;
mod outbox;
mod preview;
pub mod rules;
mod silences;
mod store;
mod sweep;
mod telemetry;
pub mod template;
mod tenants;

use std::sync::Arc;

use async_nats::jetstream;
use sqlx::MySqlPool;
use vigil_runtime::batch::BatchLoop;
use vigil_runtime::endpoints::Serving;
use vigil_runtime::{CancellationToken, Connections};

pub use config::AlerterConfig;
pub use error::AlerterError;
pub use evaluate::fingerprint;
pub use outbox::retry_delay;

/// Snapshot loops per alerter process (one batch evaluates while another
/// commits).
pub const INGEST_WORKERS: usize = 2;

/// When no host event is waiting, how long before looking again.
const HOST_EVENTS_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// What every task of an alerter shares.
pub(crate) struct Shared {
    pub config: AlerterConfig,
    pub nats: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub pool: MySqlPool,
    pub tenants: tenants::Tenants,
    pub host_names: hostnames::HostNames,
    pub sender: notify::Sender,
    /// Woken when outbox rows were committed.
    pub deliveries: tokio::sync::Notify,
}

impl Shared {
    /// The context evaluating one host of `tenant` at `now`; the host's name
    /// from `names`, else its id.
    pub(crate) fn context<'a>(
        &self,
        tenant: &'a tenants::TenantConfig,
        names: &'a std::collections::HashMap<String, String>,
        host_id: &'a str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> evaluate::Context<'a> {
        evaluate::Context {
            tenant,
            host_name: names.get(host_id).map(String::as_str).unwrap_or(host_id),
            disappear_grace: self.config.disappear_grace,
            default_repeat: self.config.repeat_interval,
            now,
        }
    }
}

/// An alerter ready to run: streams, consumers and endpoints exist; nothing
/// is consumed before [`Alerter::run_until_stopped`].
pub struct Alerter {
    shared: Arc<Shared>,
    snapshots: jetstream::consumer::PullConsumer,
    host_events: jetstream::consumer::PullConsumer,
    serving: Serving<Shared>,
}

impl vigil_runtime::Service for Alerter {
    const NAME: &'static str = vigil_bus::subjects::alerter::SERVICE_NAME;
    type Config = AlerterConfig;
    type Error = AlerterError;

    async fn build(config: AlerterConfig, connections: Connections) -> Result<Alerter, AlerterError> {
        Alerter::build(config, connections.nats, connections.pool).await
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AlerterError> {
        Alerter::run_until_stopped(self, shutdown).await
    }
}

impl Alerter {
    /// Ensures the streams, its two durable consumers (snapshots, host
    /// events) and its endpoints.
    pub async fn build(config: AlerterConfig, nats: async_nats::Client, pool: MySqlPool) -> Result<Alerter, AlerterError> {
        telemetry::metrics();
        if let Some(url) = config.dashboard_url() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(AlerterError::Config(format!("public_url {url:?} must start with http:// or https://")));
            }
        }
        let jetstream = jetstream::new(nats.clone());
        vigil_runtime::setup::ensure_streams(&jetstream).await?;
        let snapshots = vigil_runtime::setup::durable_consumer(
            &jetstream,
            vigil_bus::streams::METRICS_STREAM,
            vigil_bus::streams::alerter_consumer(),
        )
        .await?;
        let host_events = vigil_runtime::setup::durable_consumer(
            &jetstream,
            vigil_bus::streams::HOSTS_STREAM,
            vigil_bus::streams::alerter_hosts_consumer(),
        )
        .await?;
        let shared = Arc::new(Shared {
            host_names: hostnames::HostNames::new(nats.clone()),
            config,
            nats: nats.clone(),
            jetstream,
            pool,
            tenants: tenants::Tenants::default(),
            sender: notify::Sender::new(),
            deliveries: tokio::sync::Notify::new(),
        });
        let serving = endpoints::table()
            .start(
                &nats,
                vigil_bus::subjects::alerter::SERVICE_NAME,
                "vigil alerter: alert rules, alerts, notification channels, silences",
                vigil_bus::subjects::alerter::QUEUE_GROUP,
                shared.clone(),
            )
            .await?;
        tracing::info!("alerter built");
        Ok(Alerter { shared, snapshots, host_events, serving })
    }

    /// Evaluates, delivers, sweeps and answers until `shutdown` is
    /// cancelled; then finishes (commits and acks) the batches in hand.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AlerterError> {
        let Alerter { shared, snapshots, host_events, serving } = self;
        let tasks_stop = shutdown.child_token();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serving.serve(tasks_stop.clone()));
        tasks.spawn(outbox::deliver_loop(shared.clone(), tasks_stop.clone()));
        tasks.spawn(sweep::sweep_loop(shared.clone(), tasks_stop.clone()));
        tracing::info!("alerter running");

        let service = vigil_bus::subjects::alerter::SERVICE_NAME;
        let batches = BatchLoop {
            service,
            consumer: snapshots,
            jetstream: shared.jetstream.clone(),
            batch_size: shared.config.batch_size,
            batch_wait: shared.config.batch_wait,
            linger: shared.config.batch_linger,
        };
        let events = BatchLoop {
            service,
            consumer: host_events,
            jetstream: shared.jetstream.clone(),
            batch_size: 100,
            // host events are rare: look less often when there is none
            batch_wait: HOST_EVENTS_WAIT,
            linger: std::time::Duration::ZERO,
        };
        let store = Arc::new(ingest::SnapshotStore { shared: shared.clone() });
        let event_store = Arc::new(events::HostEventStore { shared: shared.clone() });
        let snapshot_loops =
            futures::future::join_all((0..INGEST_WORKERS).map(|_| batches.clone().run(store.clone(), shutdown.clone())));
        tokio::join!(snapshot_loops, events.run(event_store, shutdown.clone()));

        tasks_stop.cancel();
        let stop_all =
            tokio::time::timeout(std::time::Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} });
        if stop_all.await.is_err() {
            tracing::warn!("alerter tasks did not stop within 10s; aborting them");
            tasks.abort_all();
        }
        if let Err(error) = shared.nats.flush().await {
            tracing::warn!(error = %error, "cannot flush the last acks to nats");
        }
        tracing::info!("alerter stopped");
        Ok(())
    }
}
