//! [`Stack`]: the services of one `vigil` process, started from a [`Config`].
//!
//! `vigil run <service>...`, `vigil up` and the whole-stack tests all start
//! services through here, so they share one code path: TLS material and jwt
//! secret (gateway only), database created and migrated, NATS connected,
//! listeners bound, each service built once up front (so a broken setup fails
//! the start instead of looping in restarts), then handed to the
//! [`Supervisor`].
//!
//! The collector runs on a runtime of its own (its own worker threads, NATS
//! connection and database pool), as if it were a separate process: in one
//! shared runtime a saturated gateway left the collector's ingest loops so
//! few polls that it stored almost nothing until the agents stopped sending
//! (vigil-bench: 39 % of the raw insert ceiling in one runtime, 50 % as two
//! processes).
//!
//! Invariants: a restarted gateway binds the addresses the first one got
//! (also when the config said port 0), so agents and users keep their
//! endpoints; [`Stack::stop`] returns after every service has stopped.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use sqlx::MySqlPool;
use tokio::net::TcpListener;
use vigil_actioner::Actioner;
use vigil_alerter::Alerter;
use vigil_collector::Collector;
use vigil_gateway::{Gateway, GatewayConfig, TlsMaterial};
use vigil_orchestrator::Orchestrator;
use vigil_runtime::nats::NatsLogin;
use vigil_runtime::signing::SigningKey;
use vigil_runtime::Connections;

use crate::config::Config;
use crate::db::{self, DbError};
use crate::release::{self, ReleaseKey};
use crate::secret::{self, SecretError};
use crate::supervisor::{BoxError, Service, ServiceRun, Shutdown, Supervisor, HEALTH_INTERVAL};
use crate::tls::{self, ServerTls, TlsError};

/// A service `vigil run` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    Gateway,
    Collector,
    Alerter,
    Actioner,
    Orchestrator,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 5] =
        [ServiceKind::Gateway, ServiceKind::Collector, ServiceKind::Alerter, ServiceKind::Actioner, ServiceKind::Orchestrator];

    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Gateway => vigil_bus::subjects::gateway::SERVICE_NAME,
            ServiceKind::Collector => vigil_bus::subjects::collector::SERVICE_NAME,
            ServiceKind::Alerter => vigil_bus::subjects::alerter::SERVICE_NAME,
            ServiceKind::Actioner => vigil_bus::subjects::actioner::SERVICE_NAME,
            ServiceKind::Orchestrator => vigil_bus::subjects::orchestrator::SERVICE_NAME,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServiceKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let known = ServiceKind::ALL.map(ServiceKind::name).join(", ");
        if let Some(kind) = ServiceKind::ALL.into_iter().find(|kind| kind.name() == name) {
            return Ok(kind);
        }
        Err(format!("unknown service {name:?}; known services: {known}"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Nats(#[from] vigil_runtime::nats::NatsConnectError),
    #[error("gateway.{key}: cannot listen on {addr}: {source}")]
    Bind { key: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("gateway: {0}")]
    Gateway(#[from] vigil_gateway::GatewayError),
    #[error("{service}: {source}")]
    Service { service: &'static str, source: BoxError },
    #[error("cannot start the {service} runtime: {source}")]
    Runtime { service: String, source: std::io::Error },
    #[error("start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The running services of one process.
pub struct Stack {
    config: Config,
    supervisor: Supervisor,
    pool: MySqlPool,
    nats: async_nats::Client,
    http_addr: Option<SocketAddr>,
    grpc_addr: Option<SocketAddr>,
    ca_path: Option<PathBuf>,
    /// The services' own runtimes, dropped last: shut down once every
    /// service has stopped.
    _runtimes: Vec<ServiceRuntime>,
}

/// A multi-thread tokio runtime that one service runs on, shut down without
/// blocking when dropped (a `Runtime` dropped inside async code panics).
struct ServiceRuntime(Option<tokio::runtime::Runtime>);

impl ServiceRuntime {
    fn new(service: &str, worker_threads: usize) -> Result<ServiceRuntime, StackError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name(format!("vigil-{service}"))
            .enable_all()
            .build()
            .map(|runtime| ServiceRuntime(Some(runtime)))
            .map_err(|source| StackError::Runtime { service: service.to_owned(), source })
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.0.as_ref().expect("runtime lives until drop").handle().clone()
    }
}

impl Drop for ServiceRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Stack {
    /// Starts every service, as `vigil run gateway collector alerter` does.
    pub async fn start(config: Config) -> Result<Stack, StackError> {
        Stack::start_services(config, &ServiceKind::ALL).await
    }

    /// Starts `services` (any subset of [`ServiceKind::ALL`]).
    pub async fn start_services(config: Config, services: &[ServiceKind]) -> Result<Stack, StackError> {
        let with_gateway = services.contains(&ServiceKind::Gateway);
        let with_collector = services.contains(&ServiceKind::Collector);
        let with_alerter = services.contains(&ServiceKind::Alerter);
        let with_actioner = services.contains(&ServiceKind::Actioner);
        let with_orchestrator = services.contains(&ServiceKind::Orchestrator);

        let material = if with_gateway {
            let (tls_config, secret_path) = (config.clone(), config.jwt_secret_path());
            let (tls, secret, downloads) = tokio::task::spawn_blocking(move || {
                let tls = tls::ensure(&tls_config)?;
                let secret = secret::ensure_jwt_secret(&secret_path)?;
                let downloads = Downloads::prepare(&tls_config, &tls);
                let nats_keys = secret::nats_keys_if_present(&tls_config.nats_keys_path())?;
                Ok::<_, StackError>((tls, secret, (downloads, nats_keys)))
            })
            .await??;
            Some((tls, secret, downloads))
        } else {
            None
        };

        let pool = db::connect_and_migrate(&config.database.url, config.database.max_connections).await?;
        // one connection per service, as if each ran alone: the gateway's
        // publishes and PubAcks never queue in front of the collector's
        // fetches and acks on one socket and one connection task (with a
        // shared connection the collector stored almost nothing while the
        // gateway was saturated; vigil-bench)
        let nats = connect_nats(&config, "vigil supervisor").await?;

        // build everything before running anything: a failure leaves nothing behind
        let mut runtimes = Vec::new();
        let collector = match with_collector {
            true => Some(
                Supervised::<Collector>::build(&config, config.collector.clone(), vigil_collector::INGEST_WORKERS, &mut runtimes)
                    .await?,
            ),
            false => None,
        };
        let alerter = match with_alerter {
            true => Some(
                Supervised::<Alerter>::build(&config, config.alerter.clone(), vigil_alerter::INGEST_WORKERS, &mut runtimes)
                    .await?,
            ),
            false => None,
        };
        let actioner = match with_actioner {
            true => Some(Supervised::<Actioner>::build(&config, config.actioner_config(), 1, &mut runtimes).await?),
            false => None,
        };
        let orchestrator = match with_orchestrator {
            true => Some(Supervised::<Orchestrator>::build(&config, config.orchestrator.clone(), 1, &mut runtimes).await?),
            false => None,
        };
        let gateway = match material {
            Some((tls, secret, (downloads, nats_keys))) => {
                let grpc_listener = bind("grpc_listen", config.gateway.grpc_listen).await?;
                let http_listener = bind("http_listen", config.gateway.http_listen).await?;
                let parts = GatewayParts { config: config.clone(), tls, jwt_secret: secret, downloads, nats_keys };
                let nats = connect_nats(&config, "vigil gateway").await?;
                let gateway =
                    Gateway::build(parts.gateway_config(), grpc_listener, http_listener, nats.clone(), pool.clone()).await?;
                let addrs = (gateway.grpc_addr(), gateway.http_addr());
                Some(GatewayService { first: Mutex::new(Some(gateway)), parts, addrs, nats: nats.clone(), pool: pool.clone() })
            }
            None => None,
        };

        let mut supervisor = Supervisor::new();
        let (mut http_addr, mut grpc_addr, mut ca_path) = (None, None, None);
        if let Some(collector) = collector {
            supervisor.spawn(Arc::new(collector));
        }
        if let Some(alerter) = alerter {
            supervisor.spawn(Arc::new(alerter));
        }
        if let Some(actioner) = actioner {
            supervisor.spawn(Arc::new(actioner));
        }
        if let Some(orchestrator) = orchestrator {
            supervisor.spawn(Arc::new(orchestrator));
        }
        if let Some(gateway) = gateway {
            grpc_addr = Some(gateway.addrs.0);
            http_addr = Some(gateway.addrs.1);
            ca_path = Some(gateway.parts.tls.ca_path.clone());
            supervisor.spawn(Arc::new(gateway));
        }
        supervisor.spawn_health(nats.clone(), HEALTH_INTERVAL);
        tracing::info!(services = ?services.iter().map(|s| s.name()).collect::<Vec<_>>(), "services started");
        Ok(Stack { config, supervisor, pool, nats, http_addr, grpc_addr, ca_path, _runtimes: runtimes })
    }

    /// The REST/WebSocket address the gateway listens on (None without a gateway).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The agents' gRPC address (None without a gateway).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The CA agents trust (None without a gateway).
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs one more supervised service (e.g. the local agent of `vigil up`).
    pub fn spawn(&mut self, service: Arc<dyn Service>) {
        self.supervisor.spawn(service);
    }

    /// Stops every service and waits for them.
    pub async fn stop(self) {
        self.supervisor.stop().await;
        self.pool.close().await;
        let _ = self.nats.drain().await;
    }
}

/// A connection of its own for `name`, as the services' user: the creds of
/// `nats.credentials_file` (generated from `data_dir/nats.keys` when absent).
/// The bus is never anonymous: a server that does not require
/// authentication is refused.
pub async fn connect_nats(config: &Config, name: &str) -> Result<async_nats::Client, StackError> {
    let (creds_path, keys_path) = (config.nats_credentials_path(), config.nats_keys_path());
    let credentials_source = creds_path.display().to_string();
    let credentials = tokio::task::spawn_blocking(move || secret::ensure_nats_credentials(&creds_path, &keys_path)).await??;
    let login = NatsLogin { url: config.nats.url.clone(), credentials, credentials_source };
    Ok(vigil_runtime::nats::connect(&login, name).await?)
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StackError> {
    TcpListener::bind(addr).await.map_err(|source| StackError::Bind { key, addr, source })
}

/// Any [`vigil_runtime::Service`] under the supervisor: built once up front
/// (a broken setup fails the start), rebuilt after a failure, run on a tokio
/// runtime of its own with its own NATS connection and database pool, as if
/// it were a separate process.
struct Supervised<S: vigil_runtime::Service> {
    /// Built by [`Supervised::build`]; later runs build their own.
    first: Mutex<Option<S>>,
    config: S::Config,
    connections: Connections,
    /// The service's own runtime: every run is spawned there.
    runtime: tokio::runtime::Handle,
}

impl<S: vigil_runtime::Service> Supervised<S> {
    /// Makes the service's runtime (kept in `runtimes`), connections and
    /// first instance.
    async fn build(
        config: &Config,
        service_config: S::Config,
        worker_threads: usize,
        runtimes: &mut Vec<ServiceRuntime>,
    ) -> Result<Self, StackError> {
        let runtime = ServiceRuntime::new(S::NAME, worker_threads)?;
        let handle = runtime.handle();
        runtimes.push(runtime);
        let (stack_config, build_config) = (config.clone(), service_config.clone());
        // connection, pool and service are made on the service's runtime,
        // so their I/O and tasks live there
        let (service, connections) = handle
            .spawn(async move {
                let nats = connect_nats(&stack_config, &format!("vigil {}", S::NAME)).await?;
                let pool = db::connect(&stack_config.database.url, stack_config.database.max_connections).await?;
                let connections = Connections { nats, pool };
                let service = S::build(build_config, connections.clone())
                    .await
                    .map_err(|source| StackError::Service { service: S::NAME, source: Box::new(source) })?;
                Ok::<_, StackError>((service, connections))
            })
            .await??;
        Ok(Supervised { first: Mutex::new(Some(service)), config: service_config, connections, runtime: handle })
    }
}

impl<S: vigil_runtime::Service> Service for Supervised<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn ping_name(&self) -> Option<&'static str> {
        Some(S::NAME)
    }

    fn run(&self, shutdown: Shutdown) -> ServiceRun {
        let first = self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let (config, connections) = (self.config.clone(), self.connections.clone());
        let run = self.runtime.spawn(async move {
            let service = match first {
                Some(service) => service,
                None => S::build(config, connections).await?,
            };
            service.run_until_stopped(shutdown.token()).await?;
            Ok::<(), BoxError>(())
        });
        // a panic in the service's runtime reaches the supervisor as an error
        Box::pin(async move { run.await? })
    }
}

/// What a gateway is built from, kept to build it again after a failure.
#[derive(Clone)]
struct GatewayParts {
    config: Config,
    tls: ServerTls,
    jwt_secret: Vec<u8>,
    downloads: Downloads,
    /// `data_dir/nats.keys`: the gateway signs and pushes tenant accounts with them.
    nats_keys: Option<vigil_bus::accounts::BusKeys>,
}

/// What the gateway serves at `/downloads/`: the builds in
/// `data_dir/downloads`, the CA agents trust and the release public key
/// (generated with the release key on the first start). A release key that
/// cannot be read is logged and not served; it never stops the gateway.
#[derive(Clone)]
struct Downloads {
    dir: PathBuf,
    ca_pem: Option<String>,
    release_public_key: Option<String>,
    actions_public_key: Option<String>,
}

impl Downloads {
    /// Blocking: reads the CA and ensures the release key.
    fn prepare(config: &Config, tls: &ServerTls) -> Downloads {
        let release_public_key = match ReleaseKey::ensure(&config.data_dir) {
            Ok(key) => Some(key.public_key_base64()),
            Err(error) => {
                tracing::error!(error = %error, "no release key; /downloads/release.pub is not served and agents cannot pin it");
                None
            }
        };
        let actions_public_key = match SigningKey::ensure(&config.actions_key_path(), "action key") {
            Ok(key) => Some(key.public_key_base64()),
            Err(error) => {
                tracing::error!(error = %error, "no action key; /downloads/actions.pub is not served and agents cannot pin it");
                None
            }
        };
        let ca_pem = match std::fs::read_to_string(&tls.ca_path) {
            Ok(pem) => Some(pem),
            Err(error) => {
                tracing::warn!(path = %tls.ca_path.display(), error = %error, "cannot read the ca; /downloads/ca.pem is not served");
                None
            }
        };
        Downloads { dir: release::downloads_dir(&config.data_dir), ca_pem, release_public_key, actions_public_key }
    }
}

impl GatewayParts {
    fn gateway_config(&self) -> GatewayConfig {
        GatewayConfig {
            settings: self.config.gateway.clone(),
            jwt_secret: self.jwt_secret.clone(),
            tls: TlsMaterial {
                cert_chain_pem: self.tls.cert_chain_pem.clone(),
                private_key_pem: self.tls.private_key_pem.clone(),
            },
            max_snapshot_age: self.config.collector.retention_raw,
            max_retention: vigil_gateway::RetentionLimits {
                raw: self.config.collector.retention_raw,
                hourly: self.config.collector.retention_hourly,
                daily: self.config.collector.retention_daily,
            },
            downloads_dir: Some(self.downloads.dir.clone()),
            ca_pem: self.downloads.ca_pem.clone(),
            release_public_key: self.downloads.release_public_key.clone(),
            actions_public_key: self.downloads.actions_public_key.clone(),
            nats_authority: self
                .nats_keys
                .clone()
                .map(|keys| vigil_gateway::integrators::NatsAuthority { keys, url: self.config.nats.url.clone() }),
        }
    }
}

struct GatewayService {
    first: Mutex<Option<Gateway>>,
    parts: GatewayParts,
    /// (grpc, http) addresses the first gateway got; restarts bind them again.
    addrs: (SocketAddr, SocketAddr),
    nats: async_nats::Client,
    pool: MySqlPool,
}

impl Service for GatewayService {
    fn name(&self) -> &'static str {
        ServiceKind::Gateway.name()
    }

    fn ping_name(&self) -> Option<&'static str> {
        Some(ServiceKind::Gateway.name())
    }

    fn run(&self, shutdown: Shutdown) -> ServiceRun {
        let first = self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let (parts, addrs, nats, pool) = (self.parts.clone(), self.addrs, self.nats.clone(), self.pool.clone());
        Box::pin(async move {
            let gateway = match first {
                Some(gateway) => gateway,
                None => {
                    let grpc = bind("grpc_listen", addrs.0).await?;
                    let http = bind("http_listen", addrs.1).await?;
                    Gateway::build(parts.gateway_config(), grpc, http, nats, pool).await?
                }
            };
            gateway.run_until_stopped(shutdown.token()).await?;
            Ok(())
        })
    }
}
