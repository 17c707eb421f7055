//! `vigil-runtime`: what every Vigil service runs on, so that a new service
//! is this template filled in rather than a copy of another service.
//!
//! - [`service::Service`]: `build(config, connections)` then
//!   `run_until_stopped(shutdown)`; the `vigil` binary supervises any of them;
//! - [`shutdown`]: the one shutdown signal (tokio-util's `CancellationToken`);
//! - [`backoff::Backoff`]: the one retry delay, and [`files::replace`], the
//!   one way to write a file safely (both also used by the agent, with the
//!   default feature off);
//! - [`nats`]: the authenticated NATS connection;
//! - [`endpoints::EndpointTable`]: request/reply endpoints served from a
//!   table of typed handlers;
//! - [`batch::BatchLoop`]: the ack-after-commit loop over a durable
//!   JetStream consumer, with dead letters and batch splitting;
//! - [`setup`]: the streams, durable consumers and endpoints a service
//!   sets up at build, with one error for them;
//! - [`config`]: the checks every service's config section shares;
//! - [`errors`]: what endpoints answer when the database fails, an item is
//!   missing or an id is malformed;
//! - [`signing`]: the Ed25519 keys the server signs releases and actions with;
//! - [`metrics`]: the process-wide registry of the services' operational
//!   metrics (`prometheus-client`), served at the gateway's `/metrics`.

pub mod backoff;
#[cfg(feature = "service")]
pub mod batch;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod endpoints;
#[cfg(feature = "service")]
pub mod errors;
pub mod files;
#[cfg(feature = "service")]
pub mod metrics;
#[cfg(feature = "service")]
pub mod nats;
#[cfg(feature = "service")]
pub mod service;
#[cfg(feature = "service")]
pub mod setup;
#[cfg(any(feature = "shutdown", feature = "service"))]
pub mod shutdown;
#[cfg(feature = "signing")]
pub mod signing;

pub use backoff::Backoff;

/// A new random id with a prefix: `act-3f9a0c1d2e4b5a69` (16 hex digits,
/// so it is also a valid subject token and fits `VARCHAR(50)`).
#[cfg(feature = "service")]
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 8] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}
#[cfg(feature = "service")]
pub use service::{Connections, Service};
#[cfg(any(feature = "shutdown", feature = "service"))]
pub use shutdown::CancellationToken;
