//! The shape of a service: built from its config and its connections, then
//! run until a shutdown token is cancelled.

use std::future::Future;

use crate::shutdown::CancellationToken;

/// What a service is given besides its config: its own NATS connection and
/// database pool (one each per service, as if it ran alone).
#[derive(Clone)]
pub struct Connections {
    pub nats: async_nats::Client,
    pub pool: sqlx::MySqlPool,
}

/// A service of the stack (collector, alerter, actioner, orchestrator). The
/// `vigil` binary supervises any `Service` the same way (restart with
/// backoff, `$SRV.PING` health), so adding one to `vigil run` and `vigil up`
/// is one line.
pub trait Service: Sized + Send + 'static {
    /// Its name: in logs, `vigil run <name>`, and `$SRV.PING.<name>`.
    const NAME: &'static str;
    /// Its section of the configuration, owned by its crate.
    type Config: Clone + Send + Sync + 'static;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Checks the config, creates what the service needs (streams,
    /// consumers, endpoints), consumes nothing yet. A failure here fails the
    /// start instead of looping in restarts.
    fn build(config: Self::Config, connections: Connections) -> impl Future<Output = Result<Self, Self::Error>> + Send;

    /// Runs until `shutdown` is cancelled (then finishes the work in hand and
    /// returns `Ok`) or fails.
    fn run_until_stopped(self, shutdown: CancellationToken) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
