//! The orchestrator: scenarios (seed §4.5) — a trigger (a fired alert, a
//! cron schedule, a manual run), guards, and steps run in order through the
//! actioner (remote actions) and the alerter (notify, verify). Its user's
//! view is `docs/scenarios.md`.
//!
//! Invariants:
//! - a run starts, or is recorded skipped or stopped, in the transaction
//!   that evaluated its guards under the scenario's row lock: orchestrators
//!   side by side agree on cooldowns, attempts and concurrency;
//! - a fired alert is acked only after the runs it started committed, and
//!   starts a scenario once (`trigger_key`); a cron instant is claimed once;
//! - a step is written running (with its deadline) before it starts and
//!   done after; a run is driven by the orchestrator holding its lease, and
//!   when that one dies, resumed by the next that claims it at the step it
//!   was on; a resumed step never acts twice (idempotency keys
//!   `<run id>:<step path>` at the actioner and the alerter);
//! - every state lives in MariaDB: several orchestrators share the durable
//!   consumer and the endpoints' queue group, any of them answers.

#![forbid(unsafe_code)]

mod api;
mod config;
mod endpoints;
pub mod error;
mod executor;
pub mod guards;
pub mod render;
pub mod spec;
mod start;
mod store;
mod telemetry;
mod triggers;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use sqlx::MySqlPool;
use vigil_runtime::batch::BatchLoop;
use vigil_runtime::endpoints::Serving;
use vigil_runtime::{CancellationToken, Connections};

pub use config::OrchestratorConfig;
pub use error::OrchestratorError;

/// What every task of an orchestrator shares.
pub(crate) struct Shared {
    pub config: OrchestratorConfig,
    pub nats: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub pool: MySqlPool,
    /// This process's name in run leases (`orch-<16 hex>`): new at each start.
    pub instance: String,
    /// The runs this orchestrator drives now.
    pub running: Mutex<HashSet<String>>,
    /// Cancelled when the orchestrator stops: runs let their leases go.
    pub stop: CancellationToken,
}

/// An orchestrator ready to run: streams, its consumer and endpoints exist;
/// nothing is consumed before [`Orchestrator::run_until_stopped`].
pub struct Orchestrator {
    shared: Arc<Shared>,
    alerts: jetstream::consumer::PullConsumer,
    serving: Serving<Shared>,
}

impl vigil_runtime::Service for Orchestrator {
    const NAME: &'static str = vigil_bus::subjects::orchestrator::SERVICE_NAME;
    type Config = OrchestratorConfig;
    type Error = OrchestratorError;

    async fn build(config: OrchestratorConfig, connections: Connections) -> Result<Orchestrator, OrchestratorError> {
        Orchestrator::build(config, connections.nats, connections.pool).await
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), OrchestratorError> {
        Orchestrator::run_until_stopped(self, shutdown).await
    }
}

impl Orchestrator {
    /// Ensures the streams, its durable consumer of fired alerts and its endpoints.
    pub async fn build(
        config: OrchestratorConfig,
        nats: async_nats::Client,
        pool: MySqlPool,
    ) -> Result<Orchestrator, OrchestratorError> {
        telemetry::metrics();
        if config.run_lease < Duration::from_secs(1) {
            return Err(OrchestratorError::Config(format!(
                "run_lease {} is too short; give at least 1s",
                vigil_bus::duration::format(config.run_lease)
            )));
        }
        if config.tick_interval > config.run_lease / 3 {
            return Err(OrchestratorError::Config(format!(
                "tick_interval {} is longer than a third of run_lease {}: leases would lapse before they are renewed",
                vigil_bus::duration::format(config.tick_interval),
                vigil_bus::duration::format(config.run_lease)
            )));
        }
        let jetstream = jetstream::new(nats.clone());
        vigil_runtime::setup::ensure_streams(&jetstream).await?;
        let alerts = vigil_runtime::setup::durable_consumer(
            &jetstream,
            vigil_bus::streams::ALERTS_STREAM,
            vigil_bus::streams::orchestrator_consumer(),
        )
        .await?;
        let shared = Arc::new(Shared {
            config,
            nats: nats.clone(),
            jetstream,
            pool,
            instance: vigil_runtime::new_id("orch"),
            running: Mutex::new(HashSet::new()),
            stop: CancellationToken::new(),
        });
        let serving = endpoints::table()
            .start(
                &nats,
                vigil_bus::subjects::orchestrator::SERVICE_NAME,
                "vigil orchestrator: scenarios, their runs and the kill switch",
                vigil_bus::subjects::orchestrator::QUEUE_GROUP,
                shared.clone(),
            )
            .await?;
        tracing::info!(instance = %shared.instance, "orchestrator built");
        Ok(Orchestrator { shared, alerts, serving })
    }

    /// Answers, starts runs from fired alerts and cron schedules, drives
    /// runs until `shutdown` is cancelled; then finishes the batch in hand
    /// and lets the runs under way go (another orchestrator, or this one
    /// restarted, resumes them).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), OrchestratorError> {
        let Orchestrator { shared, alerts, serving } = self;
        let tasks_stop = shutdown.child_token();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serving.serve(tasks_stop.clone()));
        tasks.spawn(executor::lease_loop(shared.clone(), tasks_stop.clone()));
        tasks.spawn(triggers::cron_loop(shared.clone(), tasks_stop.clone()));
        tracing::info!("orchestrator running");
        let fired = BatchLoop {
            service: vigil_bus::subjects::orchestrator::SERVICE_NAME,
            consumer: alerts,
            jetstream: shared.jetstream.clone(),
            batch_size: 100,
            batch_wait: shared.config.batch_wait,
            linger: Duration::ZERO,
        };
        fired.run(Arc::new(triggers::AlertStore { shared: shared.clone() }), shutdown.clone()).await;
        tasks_stop.cancel();
        shared.stop.cancel();
        let stop_all = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
            // the runs under way let their leases go
            while !shared.running.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        if stop_all.await.is_err() {
            tracing::warn!("orchestrator tasks did not stop within 10s; aborting them");
            tasks.abort_all();
        }
        if let Err(error) = shared.nats.flush().await {
            tracing::warn!(error = %error, "cannot flush the last acks to nats");
        }
        tracing::info!("orchestrator stopped");
        Ok(())
    }
}
