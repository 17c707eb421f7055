//! sovigilant, the Vigil agent: collects host metrics from `/proc`, keeps
//! each snapshot in a bounded on-disk queue, and streams the queue to the
//! gateway over gRPC (+TLS), removing a snapshot only once acknowledged.
//!
//! Modules: [`config`] (the YAML file), [`host`] (host metrics),
//! [`containers`] (Docker/Podman/Incus over [`http`]), [`services`],
//! [`custom`] (custom metrics), [`collect`] (one snapshot of them all), [`queue`]
//! (on-disk queue), [`client`] (Register, Connect, reconnects), [`agent`]
//! (the `run` daemon tying them together), [`status`] (status file),
//! [`logging`], [`sysinfo`] (facts sent at registration), [`update`]
//! (verified self-update from the gateway's `/downloads/`), [`actions`]
//! (remote actions: signed orders, the agent's policy, at most once).
#![deny(unsafe_code)]

pub mod actions;
pub mod agent;
pub mod client;
pub mod collect;
pub mod config;
pub mod containers;
pub mod custom;
pub mod host;
pub mod http;
pub mod logging;
pub mod queue;
pub mod services;
pub mod status;
pub mod sysinfo;
pub mod update;

/// Now, RFC 3339 UTC with milliseconds (`2025-01-15T10:30:00.123Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
