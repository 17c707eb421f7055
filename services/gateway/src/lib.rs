//! The gateway: the only door into Vigil from outside.
//!
//! - gRPC (tonic, always TLS) for agents: `Register` and the `Connect` stream,
//!   authenticated by agent tokens ([`grpc`]);
//! - REST (axum) for users: login/refresh/logout with JWT access tokens and
//!   rotating refresh tokens, tenant-scoped host and metrics queries, admin-only
//!   agent token management ([`rest`]); admin-only user management
//!   ([`users`]); containers, services and custom metrics of the tenant's
//!   hosts ([`inventory`]);
//! - agent builds, their signed manifests and `install.sh` at `/downloads/…`
//!   ([`downloads`]);
//! - the dashboard: the embedded web app at `/` ([`web`]) and live updates
//!   over WebSocket at `/ws`, fanned out from NATS ([`live`]);
//! - NATS: snapshots are published to JetStream, host queries are answered by
//!   the collector's service endpoints. The gateway never reads `hosts` or
//!   `metrics_*`; it owns `tenants`, `users`, `refresh_tokens`, `agent_tokens`.
//!
//! Invariants: every tenant or host id that reaches a subject went through
//! [`vigil_bus::ids::validate`]; every query is scoped to the tenant of the
//! caller's credential (agent token or JWT); secrets (agent tokens, refresh
//! tokens, passwords) are stored only hashed and never logged.
//!
//! What [`Gateway::build`] expects: the database migrations are applied (the
//! `vigil` binary does it) and NATS has JetStream enabled; `build` itself
//! creates or updates the JetStream streams.
#![forbid(unsafe_code)]

mod actions;
pub mod admin;
mod alerts;
mod auth;
mod convert;
mod dispatch;
mod downloads;
mod error;
mod grpc;
mod history;
pub mod integrators;
mod inventory;
mod live;
mod openapi;
mod prometheus;
mod rest;
mod router;
mod scenarios;
pub mod scrape_tokens;
mod telemetry;
mod tenant;
mod users;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sqlx::MySqlPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use vigil_bus::subjects::gateway;
use vigil_runtime::CancellationToken;

pub use error::GatewayError;
pub use telemetry::serve_metrics;
pub use tenant::RetentionLimits;

/// The gRPC server's TLS identity, PEM encoded.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Server certificate first, then any intermediates.
    pub cert_chain_pem: String,
    pub private_key_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("cert_chain_pem", &self.cert_chain_pem)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// The gateway's section of the configuration (`gateway:` in the `vigil`
/// file, `VIGIL_GATEWAY_*` overrides); its defaults are written once, in
/// [`Default`]. The listen addresses, TLS files and secret file are read by
/// the `vigil` binary, which binds the listeners and loads the material.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// REST API, WebSocket and dashboard.
    #[serde(deserialize_with = "vigil_runtime::config::listen_address")]
    pub http_listen: SocketAddr,
    /// Agents' gRPC (TLS).
    #[serde(deserialize_with = "vigil_runtime::config::listen_address")]
    pub grpc_listen: SocketAddr,
    /// `host[:port]` agents dial; empty means this machine's hostname.
    pub public_address: String,
    pub tls: TlsFiles,
    pub tls_hostnames: Vec<String>,
    /// Empty means `data_dir/jwt.secret`.
    pub jwt_secret_file: String,
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub access_token_ttl: Duration,
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub refresh_token_ttl: Duration,
    /// Largest snapshot (protobuf bytes) accepted from an agent; a larger one
    /// (up to [`GatewayConfig::transport_limit`]) is refused for good.
    #[serde(deserialize_with = "vigil_runtime::config::positive_usize")]
    pub max_message_bytes: usize,
    /// How far ahead of the gateway's clock a snapshot's collection time may
    /// be; a later one is refused for good.
    #[serde(with = "vigil_bus::duration::serde_text")]
    pub max_clock_skew: Duration,
    /// Unacknowledged JetStream publishes allowed per agent stream; past it the
    /// gateway stops reading from that agent until PubAcks arrive.
    #[serde(deserialize_with = "vigil_runtime::config::positive_usize")]
    pub max_in_flight_per_agent: usize,
    /// `/api/metrics/prometheus` serves a host's values only when its newest
    /// snapshot is at most this old (and the collector does not call it offline).
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub prometheus_stale_after: Duration,
}

/// PEM files of the gateway's TLS identity. All empty: generated in
/// `data_dir/tls`. Some but not all set: an error.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFiles {
    pub cert: String,
    pub key: String,
    pub ca: String,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            http_listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            grpc_listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            public_address: String::new(),
            tls: TlsFiles::default(),
            tls_hostnames: Vec::new(),
            jwt_secret_file: String::new(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 86_400),
            max_message_bytes: vigil_proto::MAX_MESSAGE_BYTES,
            max_clock_skew: Duration::from_secs(5 * 60),
            max_in_flight_per_agent: 256,
            prometheus_stale_after: Duration::from_secs(120),
        }
    }
}

/// Everything the gateway needs besides its listeners and connections: its
/// settings and what the `vigil` binary loaded for it.
#[derive(Clone)]
pub struct GatewayConfig {
    pub settings: GatewaySettings,
    /// HMAC key signing the JWT access tokens (HS256).
    pub jwt_secret: Vec<u8>,
    pub tls: TlsMaterial,
    /// How old a snapshot may be (the collector's raw retention: an older one
    /// would be stored in a dropped partition); an older one is refused for good.
    pub max_snapshot_age: Duration,
    /// The collector's retentions: the most a tenant may set (`/api/config/tenant`).
    pub max_retention: RetentionLimits,
    /// Directory of the agent builds and manifests served at `/downloads/`
    /// (`vigil release add` fills it); `None`: no builds served.
    pub downloads_dir: Option<PathBuf>,
    /// PEM of the CA agents trust, served at `/downloads/ca.pem`.
    pub ca_pem: Option<String>,
    /// Release public key (Ed25519, base64), served at `/downloads/release.pub`.
    pub release_public_key: Option<String>,
    /// Action public key (Ed25519, base64), served at `/downloads/actions.pub`
    /// (agents pin it at `sovigilant init` and verify every order with it).
    pub actions_public_key: Option<String>,
    /// The bus keys (`data_dir/nats.keys`) and server tenant accounts are
    /// signed with and pushed to ([`integrators`]); `None`: integrator routes
    /// answer 503.
    pub nats_authority: Option<integrators::NatsAuthority>,
}

impl GatewayConfig {
    /// Largest gRPC message tonic decodes at all: past `max_message_bytes` a
    /// snapshot is still read, so that it can be refused for good by its
    /// `seq` (an ended stream would make the agent replay it forever); past
    /// this the stream itself is ended. It bounds what one agent stream holds.
    pub fn transport_limit(&self) -> usize {
        self.settings.max_message_bytes.saturating_mul(2).max(4 * 1024 * 1024)
    }

    /// A config with default settings, for the given secret and TLS identity.
    pub fn new(jwt_secret: Vec<u8>, tls: TlsMaterial) -> Self {
        GatewayConfig {
            settings: GatewaySettings::default(),
            jwt_secret,
            tls,
            max_snapshot_age: vigil_collector_default_retention(),
            max_retention: RetentionLimits::default(),
            downloads_dir: None,
            ca_pem: None,
            release_public_key: None,
            actions_public_key: None,
            nats_authority: None,
        }
    }
}

/// The collector's default raw retention (7 days), the default snapshot age.
const fn vigil_collector_default_retention() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("settings", &self.settings)
            .field("jwt_secret", &"<redacted>")
            .field("tls", &self.tls)
            .field("max_snapshot_age", &self.max_snapshot_age)
            .field("max_retention", &self.max_retention)
            .field("downloads_dir", &self.downloads_dir)
            .field("release_public_key", &self.release_public_key)
            .field("actions_public_key", &self.actions_public_key)
            .finish()
    }
}

/// State shared by the gRPC and REST halves.
pub(crate) struct Shared {
    pub config: GatewayConfig,
    pub nats: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
    pub pool: MySqlPool,
    /// Cancelled at shutdown: open agent streams and dashboards end themselves.
    pub stopping: CancellationToken,
    /// Dashboard WebSocket clients, fed from NATS ([`live`]).
    pub live: Arc<live::Hub>,
    /// The agent streams this gateway holds, for their actions ([`dispatch`]).
    pub agents: dispatch::Agents,
}

/// A built gateway: listeners bound, streams ensured, service registered.
pub struct Gateway {
    shared: Arc<Shared>,
    tls: ServerTlsConfig,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    /// The `gateway` NATS service and its endpoints ([`tenant::endpoints`]).
    serving: vigil_runtime::endpoints::Serving<Shared>,
}

impl Gateway {
    /// Checks the config and TLS material, ensures the JetStream streams and
    /// registers the `gateway` NATS service (found by `$SRV.PING`).
    pub async fn build(
        config: GatewayConfig,
        grpc_listener: TcpListener,
        http_listener: TcpListener,
        nats: async_nats::Client,
        pool: MySqlPool,
    ) -> Result<Gateway, GatewayError> {
        if config.jwt_secret.len() < 32 {
            return Err(GatewayError::Config(format!(
                "jwt_secret is {} bytes; give at least 32 random bytes",
                config.jwt_secret.len()
            )));
        }
        if config.settings.max_in_flight_per_agent == 0 {
            return Err(GatewayError::Config("max_in_flight_per_agent is 0; give at least 1 (default 256)".to_owned()));
        }
        if config.settings.max_message_bytes == 0 {
            return Err(GatewayError::Config("max_message_bytes is 0; give a size such as 4194304".to_owned()));
        }
        check_tls(&config.tls)?;
        telemetry::metrics();
        let tls = ServerTlsConfig::new().identity(Identity::from_pem(&config.tls.cert_chain_pem, &config.tls.private_key_pem));
        // Fails here, not at serve time, when rustls refuses the identity.
        Server::builder()
            .tls_config(tls.clone())
            .map_err(|e| GatewayError::Tls(format!("the server identity is not usable: {e}")))?;

        let grpc_addr = grpc_listener.local_addr().map_err(|source| GatewayError::Listener { which: "grpc", source })?;
        let http_addr = http_listener.local_addr().map_err(|source| GatewayError::Listener { which: "http", source })?;

        let jetstream = async_nats::jetstream::new(nats.clone());
        vigil_bus::streams::ensure_streams(&jetstream).await?;
        let stopping = CancellationToken::new();
        let live = live::Hub::new();
        live.start(&nats, stopping.clone()).await?;
        let shared = Arc::new(Shared { config, nats, jetstream, pool, stopping, live, agents: Default::default() });
        dispatch::start(shared.clone(), shared.stopping.clone()).await.map_err(|e| GatewayError::Service(Box::new(e)))?;
        tenant::start(shared.clone(), shared.stopping.clone()).await.map_err(|e| GatewayError::Service(Box::new(e)))?;
        if let Some(authority) = shared.config.nats_authority.clone() {
            // a server that lost its store (or a new cluster member) gets the tenants' accounts back
            let pool = shared.pool.clone();
            tokio::spawn(async move { integrators::restore(&pool, &authority).await });
        }
        let serving = tenant::endpoints()
            .start(
                &shared.nats,
                gateway::SERVICE_NAME,
                "vigil gateway: agent gRPC ingress and REST API",
                gateway::QUEUE_GROUP,
                shared.clone(),
            )
            .await
            .map_err(|e| GatewayError::Service(Box::new(e)))?;
        tracing::info!(grpc = %grpc_addr, http = %http_addr, "gateway built");
        Ok(Gateway { shared, tls, grpc_listener, http_listener, grpc_addr, http_addr, serving })
    }

    /// Where agents connect (gRPC over TLS).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Where the REST API listens (plain HTTP; put a TLS proxy in front).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Serves gRPC and REST until `shutdown` is cancelled (or one server
    /// fails). At shutdown, open agent streams end with `unavailable` so
    /// agents reconnect elsewhere; unacknowledged snapshots are replayed by them.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), GatewayError> {
        let Gateway { shared, tls, grpc_listener, http_listener, grpc_addr, http_addr, serving } = self;
        let endpoints_stop = CancellationToken::new();
        let endpoints = tokio::spawn(serving.serve(endpoints_stop.clone()));
        let stop = shared.stopping.clone();
        let signal = {
            let stop = stop.clone();
            async move {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = stop.cancelled() => {}
                }
                stop.cancel();
            }
            .boxed()
            .shared()
        };

        let grpc_service = grpc::service(shared.clone());
        let grpc = async {
            let mut builder = Server::builder().tls_config(tls).map_err(|e| GatewayError::Tls(e.to_string()))?;
            builder
                .add_service(grpc_service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(grpc_listener), signal.clone())
                .await
                .map_err(GatewayError::Grpc)
        };
        let router = router::router(shared.clone());
        let http =
            async { axum::serve(http_listener, router).with_graceful_shutdown(signal.clone()).await.map_err(GatewayError::Http) };
        tracing::info!(grpc = %grpc_addr, http = %http_addr, "gateway serving");
        let result = futures::future::try_join(grpc, http).await.map(|_| ());
        // One server failing stops the other and every agent stream.
        stop.cancel();
        endpoints_stop.cancel();
        if let Err(error) = endpoints.await {
            tracing::warn!(error = %error, "the gateway nats service did not stop cleanly");
        }
        tracing::info!("gateway stopped");
        result
    }
}

/// Checks that the PEM texts hold a certificate and a private key, so a wrong
/// file is reported by name rather than as a handshake failure later.
fn check_tls(tls: &TlsMaterial) -> Result<(), GatewayError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<_> = CertificateDer::pem_slice_iter(tls.cert_chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| GatewayError::Tls(format!("cert_chain_pem is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(GatewayError::Tls(
            "cert_chain_pem holds no CERTIFICATE block; give the server certificate in PEM".to_owned(),
        ));
    }
    PrivateKeyDer::from_pem_slice(tls.private_key_pem.as_bytes())
        .map_err(|e| GatewayError::Tls(format!("private_key_pem holds no usable private key: {e}")))?;
    Ok(())
}
