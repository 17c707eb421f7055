//! Test infrastructure shared by every crate's tests and the whole-stack
//! tests, so that each piece exists once:
//! - servers: a private `nats-server` with JetStream per test, run from the
//!   project's configuration (authenticated, its limits; the collector's
//!   durable consumer has a fixed name, so tests must not share a server), a
//!   throwaway database on the machine's MariaDB migrated from
//!   `migrations/` ([`TestDb`]), and a mariadbd of a test's own that can be
//!   stopped and started ([`PrivateMariaDb`]). All real; all clean up on `Drop`;
//! - waiting: [`eventually`] / [`try_eventually`] (module [`poll`]);
//! - fixtures: snapshots as the bus and the agent carry them ([`fixtures`]),
//!   publishing them as the gateway does ([`bus`]), the agent's gRPC client
//!   ([`agent`], and [`raw_grpc`] for bytes no client would send);
//! - realistic hosts for benchmarks: a [`shapes::Shape`] and its series of
//!   snapshots whose values move as real ones do ([`shapes`]);
//! - contracts: checks against the JSON Schemas of `schemas/` ([`schemas`]).

pub mod agent;
pub mod bus;
pub mod fixtures;
mod mariadb;
pub mod poll;
pub mod raw_grpc;
pub mod receivers;
pub mod schemas;
pub mod shapes;

pub use mariadb::PrivateMariaDb;
pub use poll::{eventually, try_eventually, Probe, TimedOut};

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::Rng;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::MySqlPool;

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free port on 127.0.0.1")
}

/// Ten random hex characters, for unique names.
pub fn random_suffix() -> String {
    let bytes: [u8; 5] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The nats-server configuration renderer `vigil up` uses (one source,
/// `nats/conf.rs`), so test servers run from the project's template.
#[path = "../../../nats/conf.rs"]
pub mod nats_conf;

/// A nats-server on a free port, run from the project's configuration
/// (`nats/nats-server.conf`: operator mode, the system account and the
/// platform account `VIGIL` with JetStream, its limits) with fresh bus keys
/// (`vigil_bus::accounts::BusKeys`), and its own store. The store (with the
/// account JWTs pushed to it) and the keys survive [`NatsServer::restart`];
/// the process dies with the value. Anonymous clients are refused, as in
/// production: connect with [`NatsServer::client`] (the services' user, its
/// creds in `credentials`), [`NatsServer::system_client`] or
/// [`NatsServer::connect_with`] other creds.
pub struct NatsServer {
    pub port: u16,
    pub url: String,
    /// The HTTP monitoring port (`/connz`, `/subsz`, …).
    pub monitor_port: u16,
    /// The bus keys the server trusts (its operator) and every JWT comes from.
    pub keys: vigil_bus::accounts::BusKeys,
    /// The creds file text of the services' user of `VIGIL`.
    pub credentials: String,
    /// The JetStream store, the config and the server log live here (kept for its drop).
    store: tempfile::TempDir,
    conf: std::path::PathBuf,
    process: Option<Child>,
}

impl NatsServer {
    /// Starts a server on free ports. A port picked free can be taken by a
    /// concurrent test before nats-server binds it; the server then exits,
    /// and the start is retried on other ports (its log names the cause).
    pub async fn start() -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir for jetstream");
        let keys = vigil_bus::accounts::BusKeys::generate();
        let credentials = keys.platform_user_creds().expect("the services' creds");
        let conf = store.path().join("nats-server.conf");
        let mut server =
            NatsServer { port: 0, url: String::new(), monitor_port: 0, keys, credentials, store, conf, process: None };
        let mut attempt = 1;
        loop {
            server.port = free_port();
            server.monitor_port = free_port();
            server.url = format!("nats://127.0.0.1:{}", server.port);
            let text = server.render().expect("render nats/nats-server.conf");
            std::fs::write(&server.conf, text).expect("write the nats-server config");
            match server.spawn().await {
                Ok(()) => return server,
                Err(SpawnError::Exited(log)) if attempt < 5 => {
                    eprintln!(
                        "testkit: nats-server on {} exited at start (attempt {attempt}), retrying on other ports: {log}",
                        server.url
                    );
                    attempt += 1;
                }
                Err(error) => panic!("{error}"),
            }
        }
    }

    /// The configuration of this server (`nats/nats-server.conf` rendered with its keys).
    fn render(&self) -> Result<String, String> {
        let keys = &self.keys;
        let jwt = |made: Result<String, vigil_bus::accounts::AccountsError>| made.map_err(|error| error.to_string());
        let (operator_jwt, system_account, system_account_jwt) =
            (jwt(keys.operator_jwt())?, jwt(keys.system_account_public())?, jwt(keys.system_account_jwt())?);
        let (platform_account, platform_account_jwt) = (jwt(keys.platform_account_public())?, jwt(keys.platform_account_jwt())?);
        nats_conf::render(&nats_conf::ServerConf {
            host: "127.0.0.1",
            port: self.port,
            store_dir: self.store.path(),
            trust: nats_conf::Trust {
                operator_jwt: &operator_jwt,
                system_account: &system_account,
                system_account_jwt: &system_account_jwt,
                platform_account: &platform_account,
                platform_account_jwt: &platform_account_jwt,
            },
        })
    }

    /// Runs nats-server on the configured ports until JetStream answers its
    /// API, the process exits, or 10 s pass.
    async fn spawn(&mut self) -> Result<(), SpawnError> {
        let log_path = self.store.path().join("nats-server.log");
        let log = std::fs::File::create(&log_path).expect("create the nats-server log");
        let process = Command::new("nats-server")
            .arg("-c")
            .arg(&self.conf)
            .args(["-m", &self.monitor_port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server (is it on PATH?)");
        self.process = Some(process);
        let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default().trim().to_owned();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let last = match self.connect_with(&self.credentials).await {
                Ok(client) => match client.request("$JS.API.INFO", "".into()).await {
                    Ok(_) => return Ok(()),
                    Err(error) => error.to_string(),
                },
                Err(error) => error.to_string(),
            };
            let process = self.process.as_mut().expect("spawned above");
            if let Ok(Some(status)) = process.try_wait() {
                self.process = None;
                return Err(SpawnError::Exited(format!("{status}; log: {}", read_log())));
            }
            if std::time::Instant::now() >= deadline {
                return Err(SpawnError::NotReady(format!(
                    "timed out after 10s waiting for nats-server on {} to answer JetStream; last observed: {last:?}; log: {}",
                    self.url,
                    read_log()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|process| process.id())
    }

    /// The body of a monitoring endpoint, e.g. `/connz?subs=1` (JSON).
    pub async fn monitor(&self, path_and_query: &str) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.monitor_port)).await?;
        stream.write_all(format!("GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        match response.split_once("\r\n\r\n") {
            Some((head, body)) if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
            _ => Err(std::io::Error::other(format!(
                "nats monitor {path_and_query}: {}",
                response.lines().next().unwrap_or("no answer")
            ))),
        }
    }

    /// A client authenticated as the services' user of the `VIGIL` account.
    pub async fn client(&self) -> async_nats::Client {
        self.connect_with(&self.credentials).await.expect("connect to the test nats-server")
    }

    /// A client of the system account (pushes account JWTs).
    pub async fn system_client(&self) -> async_nats::Client {
        let creds = self.keys.system_user_creds().expect("the system user's creds");
        self.connect_with(&creds).await.expect("connect to the test nats-server as the system user")
    }

    /// A connection attempt with the creds file text `creds` (integrators,
    /// tests of refusals).
    pub async fn connect_with(&self, creds: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
        let options = async_nats::ConnectOptions::new()
            .credentials(creds)
            .map_err(|error| async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::Authentication, error))?;
        options.connect(&self.url).await
    }

    /// A connection attempt without credentials; the server refuses it
    /// (`ConnectErrorKind::AuthorizationViolation`).
    pub async fn anonymous_client_result(&self) -> Result<async_nats::Client, async_nats::ConnectError> {
        async_nats::connect(&self.url).await
    }

    /// Writes the services' creds to `path` (mode 0600), as
    /// `nats.credentials_file` wants them.
    pub fn write_credentials_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        write_private(path, self.credentials.as_bytes())
    }

    /// Writes the bus keys to `path` (mode 0600), as `vigil` keeps them in
    /// `data_dir/nats.keys` (the gateway signs tenant accounts with them).
    pub fn write_keys_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        write_private(path, &serde_json::to_vec_pretty(&self.keys).map_err(std::io::Error::other)?)
    }

    /// Stops the server (SIGKILL); its store stays for [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.stop();
        if let Err(error) = self.spawn().await {
            panic!("{error}");
        }
    }

    /// Restarts the server with an empty store: no stream, and no account
    /// but the preloaded system and platform ones (a server that lost its
    /// disk, or a new one).
    pub async fn restart_empty(&mut self) {
        self.stop();
        for dir in ["jetstream", "jwt"] {
            let path = self.store.path().join(dir);
            if path.exists() {
                std::fs::remove_dir_all(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
            }
        }
        if let Err(error) = self.spawn().await {
            panic!("{error}");
        }
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

/// Why a test nats-server did not come up.
#[derive(Debug)]
enum SpawnError {
    /// The process exited (a port taken between the pick and the bind).
    Exited(String),
    NotReady(String),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Exited(detail) => write!(f, "nats-server exited at start: {detail}"),
            SpawnError::NotReady(detail) => f.write_str(detail),
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the test databases live: `TEST_MARIADB_URL`, default
/// `mysql://root@127.0.0.1:3306`.
pub fn mariadb_server_url() -> String {
    std::env::var("TEST_MARIADB_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// Applies `migrations/` (read at run time, so a test sees the files as they are).
pub async fn migrate(pool: &MySqlPool) {
    let migrations = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"));
    sqlx::migrate::Migrator::new(migrations).await.expect("read migrations").run(pool).await.expect("run migrations");
}

/// A fresh database `vigil_t_<random>`, migrated, dropped on `Drop`.
pub struct TestDb {
    pub name: String,
    pub pool: MySqlPool,
    server: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let server = mariadb_server_url();
        let name = format!("vigil_t_{}", random_suffix());
        let admin = MySqlPoolOptions::new().max_connections(1).connect(&server).await.expect("connect to mariadb");
        sqlx::query(&format!("CREATE DATABASE `{name}`")).execute(&admin).await.expect("create test database");
        admin.close().await;
        let pool =
            MySqlPoolOptions::new().max_connections(5).connect(&format!("{server}/{name}")).await.expect("connect test db");
        migrate(&pool).await;
        TestDb { name, pool, server }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// The single integer a `SELECT COUNT(*) ...` returns.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e"])
            .arg(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_servers_require_the_creds_across_restarts() {
        let mut server = NatsServer::start().await;
        let refused = server.anonymous_client_result().await.map(|_| ()).unwrap_err();
        assert_eq!(refused.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{refused}");
        let stranger = vigil_bus::accounts::BusKeys::generate().platform_user_creds().unwrap();
        let wrong = server.connect_with(&stranger).await.map(|_| ()).unwrap_err();
        assert_eq!(wrong.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{wrong}");
        let client = server.client().await;
        assert!(client.server_info().auth_required);
        assert_eq!(client.server_info().max_payload, 4 * 1024 * 1024, "the project's limits");
        drop(client);
        server.restart().await;
        assert!(server.anonymous_client_result().await.is_err());
        server.client().await.flush().await.unwrap();
        assert!(server.monitor("/varz").await.unwrap().contains("\"max_payload\": 4194304"));
    }

    #[test]
    fn built_snapshots_match_the_bus_schema() {
        let at = chrono::Utc::now();
        let default = fixtures::metrics_snapshot("acme", "host-1", 7, at);
        assert_eq!((default.host.disk.mounts.len(), default.host.network.interfaces.len()), (2, 2));
        assert_eq!((default.host.disk.used(), default.host.disk.total()), (130_000, 1_000_000));
        schemas::assert_valid("metrics-snapshot.schema.json", None, &serde_json::to_value(&default).unwrap());
        let wide = fixtures::MetricsSnapshotBuilder::new("acme", "host-1", 8, at).mounts(64).interfaces(200).build();
        assert_eq!((wide.host.disk.mounts.len(), wide.host.network.interfaces.len()), (64, 200));
        schemas::assert_valid("metrics-snapshot.schema.json", None, &serde_json::to_value(&wide).unwrap());
        let bare = fixtures::MetricsSnapshotBuilder::new("acme", "host-1", 9, at)
            .mounts(0)
            .interfaces(0)
            .containers(vec![])
            .services(vec![]);
        schemas::assert_valid("metrics-snapshot.schema.json", None, &serde_json::to_value(bare.build()).unwrap());
    }

    #[tokio::test]
    async fn returns_the_value_once_the_probe_reports_it() {
        let mut runs = 0;
        let value = eventually("the third run", Duration::from_secs(5), || {
            runs += 1;
            let now = runs;
            async move { (now >= 3).then_some(now) }
        })
        .await;
        assert_eq!(value, 3);
        eventually("a bool", Duration::from_secs(1), || async { true }).await;
    }

    #[tokio::test]
    async fn a_timeout_names_what_and_the_last_state() {
        let error = try_eventually("five rows", Duration::from_millis(120), || async { Err::<(), _>(4) }).await.unwrap_err();
        assert_eq!(error.to_string(), "timed out after 120ms waiting for five rows; last observed: 4");
        let error = try_eventually("a flag", Duration::ZERO, || async { false }).await.unwrap_err();
        assert_eq!(error.to_string(), "timed out after 0ns waiting for a flag");
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 0ns waiting for nothing; last observed: \"still\"")]
    async fn eventually_panics_with_the_timeout() {
        eventually("nothing", Duration::ZERO, || async { Err::<(), _>("still") }).await;
    }
}
