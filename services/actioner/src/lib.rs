//! The actioner: records every remote action in `actions_log`, signs its
//! order with the server's action key, publishes it for the gateway that
//! holds the host's agent, and stores what comes back (dispatches, the
//! agent's reports), expiring what was not started in time.
//!
//! Invariants:
//! - an order is in `actions_log` (pending, signed) before it is published;
//!   one the bus did not take is marked failed, so it never runs unseen;
//! - the agent decides (its own `actions` config) and runs each id at most
//!   once; the actioner only records: a dispatch or report is acked after
//!   the transaction holding it committed, and statuses only move forward,
//!   so a redelivery or a duplicate is a no-op;
//! - every state lives in MariaDB: several actioners share the durable
//!   consumer and the endpoints' queue group, any of them answers.

#![forbid(unsafe_code)]

mod api;
mod config;
mod endpoints;
pub mod error;
mod events;
mod progress;
pub mod store;
mod sweep;
mod telemetry;

use std::sync::Arc;

use async_nats::jetstream;
use sqlx::MySqlPool;
use vigil_runtime::batch::BatchLoop;
use vigil_runtime::endpoints::Serving;
use vigil_runtime::signing::SigningKey;
use vigil_runtime::{CancellationToken, Connections};

pub use config::ActionerConfig;
pub use error::ActionerError;

/// What every task of an actioner shares.
pub(crate) struct Shared {
    pub config: ActionerConfig,
    pub nats: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub pool: MySqlPool,
    /// Signs every order (`actioner.signing_key_file`).
    pub key: SigningKey,
}

/// An actioner ready to run: key loaded, streams, consumer and endpoints
/// exist; nothing is consumed before [`Actioner::run_until_stopped`].
pub struct Actioner {
    shared: Arc<Shared>,
    progress: jetstream::consumer::PullConsumer,
    serving: Serving<Shared>,
}

impl vigil_runtime::Service for Actioner {
    const NAME: &'static str = vigil_bus::subjects::actioner::SERVICE_NAME;
    type Config = ActionerConfig;
    type Error = ActionerError;

    async fn build(config: ActionerConfig, connections: Connections) -> Result<Actioner, ActionerError> {
        Actioner::build(config, connections.nats, connections.pool).await
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), ActionerError> {
        Actioner::run_until_stopped(self, shutdown).await
    }
}

impl Actioner {
    /// Loads (or generates) the signing key, ensures the streams, the
    /// durable consumer and the endpoints.
    pub async fn build(config: ActionerConfig, nats: async_nats::Client, pool: MySqlPool) -> Result<Actioner, ActionerError> {
        telemetry::metrics();
        if config.signing_key_file.is_empty() {
            return Err(ActionerError::Config("signing_key_file is empty; give the action key's file".into()));
        }
        let path = std::path::PathBuf::from(&config.signing_key_file);
        let key = tokio::task::spawn_blocking(move || SigningKey::ensure(&path, "action key")).await??;
        let jetstream = jetstream::new(nats.clone());
        vigil_runtime::setup::ensure_streams(&jetstream).await?;
        let progress = vigil_runtime::setup::durable_consumer(
            &jetstream,
            vigil_bus::streams::ACTIONS_STREAM,
            vigil_bus::streams::actioner_consumer(),
        )
        .await?;
        tracing::info!(public_key = %key.public_key_base64(), "action key loaded");
        let shared = Arc::new(Shared { config, nats: nats.clone(), jetstream, pool, key });
        let serving = endpoints::table()
            .start(
                &nats,
                vigil_bus::subjects::actioner::SERVICE_NAME,
                "vigil actioner: remote actions, signed, recorded in actions_log",
                vigil_bus::subjects::actioner::QUEUE_GROUP,
                shared.clone(),
            )
            .await?;
        tracing::info!("actioner built");
        Ok(Actioner { shared, progress, serving })
    }

    /// Answers, stores reports and expires orders until `shutdown` is
    /// cancelled; then finishes (commits and acks) the batch in hand.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), ActionerError> {
        let Actioner { shared, progress, serving } = self;
        let tasks_stop = shutdown.child_token();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serving.serve(tasks_stop.clone()));
        tasks.spawn(sweep::sweep_loop(shared.clone(), tasks_stop.clone()));
        tracing::info!("actioner running");
        let reports = BatchLoop {
            service: vigil_bus::subjects::actioner::SERVICE_NAME,
            consumer: progress,
            jetstream: shared.jetstream.clone(),
            batch_size: 200,
            batch_wait: shared.config.batch_wait,
            linger: std::time::Duration::ZERO,
        };
        reports.run(Arc::new(progress::ProgressStore { shared: shared.clone() }), shutdown.clone()).await;
        tasks_stop.cancel();
        let stop_all =
            tokio::time::timeout(std::time::Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} });
        if stop_all.await.is_err() {
            tracing::warn!("actioner tasks did not stop within 10s; aborting them");
            tasks.abort_all();
        }
        if let Err(error) = shared.nats.flush().await {
            tracing::warn!(error = %error, "cannot flush the last acks to nats");
        }
        tracing::info!("actioner stopped");
        Ok(())
    }
}
