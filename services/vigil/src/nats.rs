//! The nats-server `vigil up` runs (`up.nats: true`), and the configuration
//! every Vigil nats-server runs from.
//!
//! The configuration is the template `nats/nats-server.conf` rendered by
//! `nats/conf.rs` (one renderer, shared with `vigil-testkit`, see
//! [`render`]): operator mode, trusting the operator of `data_dir/nats.keys`
//! (`vigil_bus::accounts`), with the system account and the platform account
//! `VIGIL` preloaded and the resolver keeping pushed tenant accounts, and the
//! server's limits (`max_payload`). `vigil up` writes it to
//! `data_dir/nats/nats-server.conf`, JetStream and the resolver store in
//! `data_dir/nats/`; `vigil nats config` ([`write_config`]) writes the same
//! file for a server run apart. It holds JWTs only, no seed (mode 0644).
//!
//! Invariants:
//! - the server listens on the host and port of `nats.url`, the address the
//!   services connect to; a port already taken stops `vigil up` before
//!   anything starts, naming the port and the fix;
//! - services start only once the server answers an authenticated client
//!   and JetStream's API, and the server requires authentication (a server
//!   that lets anonymous clients in is not ours);
//! - the child runs as a supervised [`Service`] (restarted with the
//!   supervisor's backoff), gets SIGTERM at shutdown (SIGKILL after
//!   [`STOP_GRACE`]) after the services stopped, and never outlives `vigil`
//!   (`kill_on_drop`, and the kernel sends it SIGTERM when `vigil` dies);
//! - no seed is logged nor written in the configuration: the server's log
//!   lines are forwarded to `tracing` (target `nats_server`).

#[path = "../../../nats/conf.rs"]
mod conf;

use std::collections::VecDeque;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use conf::{render, render_template, ServerConf, Trust, TEMPLATE};
use tokio::io::AsyncBufReadExt;

use crate::agent::stop_child;
use crate::config::{mask_password, Config};
use crate::secret::{self, SecretError};
use crate::supervisor::{Service, ServiceRun, Shutdown, Supervisor};

/// Name of the server's executable.
pub const NATS_BINARY: &str = "nats-server";
/// Port of a `nats.url` without one.
pub const DEFAULT_PORT: u16 = 4222;
/// How long the first start may take until JetStream answers.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to stop after SIGTERM (JetStream flushes).
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Server log lines kept for error messages.
const LOG_TAIL: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("nats.url {url}: {message}")]
    Url { url: String, message: String },
    #[error(
        "nats.url {url}: port {port} on {host} is already in use (another nats-server?), so vigil up cannot run its own \
         nats-server there; set up.nats: false to use the server already running (it must run vigil's configuration, \
         written by vigil nats config), or give nats.url a free port"
    )]
    PortTaken { url: String, host: String, port: u16 },
    #[error("{NATS_BINARY} is not in PATH; install it (Debian: apt-get install nats-server), or set up.nats: false to use a running one")]
    NotInstalled,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("cannot render the nats-server configuration: {0}")]
    Render(String),
    #[error("{path}: {source}")]
    Keys { path: String, source: vigil_bus::accounts::AccountsError },
    #[error("cannot start {binary}: {source}")]
    Spawn { binary: String, source: std::io::Error },
    #[error("nats-server exited before it was ready ({status}); its last lines:\n{log}")]
    Exited { status: std::process::ExitStatus, log: String },
    #[error("nats-server on {url} did not answer within {timeout:?} (authenticated, JetStream); its last lines:\n{log}")]
    NotReady { url: String, timeout: Duration, log: String },
    #[error("nats setup failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The host and port `nats.url` names, where `vigil up`'s server listens.
pub fn listen_address(url: &str) -> Result<(String, u16), NatsError> {
    let bad = |message: &str| NatsError::Url { url: mask_password(url), message: message.to_owned() };
    if url.contains(',') {
        return Err(bad("names several servers; vigil up runs one (set up.nats: false to use a cluster)"));
    }
    let Some(rest) = url.strip_prefix("nats://") else {
        return Err(bad("vigil up runs a plain nats-server on loopback or a private network; write nats://host:port, or set up.nats: false to use a TLS server"));
    };
    // credentials in the url are not ours to listen with
    let address = rest.rsplit_once('@').map_or(rest, |(_, address)| address).trim_end_matches('/');
    let (host, port) = if let Some(bracketed) = address.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("has an unclosed '[' in its address"))?;
        (host, after.strip_prefix(':'))
    } else {
        match address.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\\') {
        return Err(bad("has no host to listen on"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port.parse::<u16>().ok().filter(|port| *port != 0).ok_or_else(|| bad("has no valid port"))?,
    };
    Ok((host.to_owned(), port))
}

/// `nats-server` in `path_env`.
pub fn find_binary(path_env: Option<&str>) -> Result<PathBuf, NatsError> {
    path_env
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(NATS_BINARY))
        .find(|candidate| candidate.is_file())
        .ok_or(NatsError::NotInstalled)
}

/// The server configuration for `host:port` with its store in `store_dir`,
/// trusting the operator of the bus keys in `data_dir/nats.keys` (generated
/// if absent). Blocking.
pub fn render_for(config: &Config, host: &str, port: u16, store_dir: &Path) -> Result<String, NatsError> {
    let keys_path = config.nats_keys_path();
    let keys = secret::ensure_nats_keys(&keys_path)?;
    let jwt = |made: Result<String, vigil_bus::accounts::AccountsError>| {
        made.map_err(|source| NatsError::Keys { path: keys_path.display().to_string(), source })
    };
    let (operator_jwt, system_account, system_account_jwt) =
        (jwt(keys.operator_jwt())?, jwt(keys.system_account_public())?, jwt(keys.system_account_jwt())?);
    let (platform_account, platform_account_jwt) = (jwt(keys.platform_account_public())?, jwt(keys.platform_account_jwt())?);
    let trust = Trust {
        operator_jwt: &operator_jwt,
        system_account: &system_account,
        system_account_jwt: &system_account_jwt,
        platform_account: &platform_account,
        platform_account_jwt: &platform_account_jwt,
    };
    render(&ServerConf { host, port, store_dir, trust }).map_err(NatsError::Render)
}

/// `vigil nats config`: writes `out_dir/nats-server.conf`, the configuration
/// `vigil up` would run, for a server listening on `host:port` with its store
/// in `store_dir` (paths as that server sees them). Returns the file's path.
/// Blocking.
pub fn write_config(config: &Config, out_dir: &Path, host: &str, port: u16, store_dir: &Path) -> Result<PathBuf, NatsError> {
    let text = render_for(config, host, port, store_dir)?;
    let path = out_dir.join("nats-server.conf");
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(out_dir).map_err(|source| NatsError::Io {
        path: out_dir.display().to_string(),
        action: "cannot create the directory",
        source,
    })?;
    vigil_runtime::files::replace(&path, text.as_bytes(), 0o644).map_err(|source| NatsError::Io {
        path: path.display().to_string(),
        action: "cannot write",
        source,
    })?;
    Ok(path)
}

/// Ensures the keys and the services' creds, writes the rendered
/// configuration and checks the port is free; returns the configuration's
/// path and the creds. Blocking.
fn prepare(config: &Config, host: &str, port: u16) -> Result<(PathBuf, String), NatsError> {
    let creds = secret::ensure_nats_credentials(&config.nats_credentials_path(), &config.nats_keys_path())?;
    let dir = config.nats_dir();
    let io = |action: &'static str, path: &Path| {
        let shown = path.display().to_string();
        move |source| NatsError::Io { path: shown, action, source }
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(io("cannot create the directory", &dir))?;
    let text = render_for(config, host, port, &dir)?;
    let path = dir.join("nats-server.conf");
    vigil_runtime::files::replace(&path, text.as_bytes(), 0o644).map_err(io("cannot write", &path))?;
    match std::net::TcpListener::bind((host, port)) {
        Ok(_) => Ok((path, creds)),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            Err(NatsError::PortTaken { url: mask_password(&config.nats.url), host: host.to_owned(), port })
        }
        Err(error) => Err(NatsError::Url {
            url: mask_password(&config.nats.url),
            message: format!("vigil up cannot listen on {host}:{port} ({error}); give nats.url an address of this machine"),
        }),
    }
}

/// The last lines a server printed.
type Tail = Arc<Mutex<VecDeque<String>>>;

fn tail_text(tail: &Tail) -> String {
    let lines = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if lines.is_empty() {
        return "(nothing)".to_owned();
    }
    lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
}

/// A running nats-server child and what it printed last.
struct Running {
    child: tokio::process::Child,
    tail: Tail,
}

fn spawn(binary: &Path, conf: &Path) -> Result<Running, NatsError> {
    let mut command = tokio::process::Command::new(binary);
    command.arg("-c").arg(conf).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|source| NatsError::Spawn { binary: binary.display().to_string(), source })?;
    let tail: Tail = Arc::default();
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward_log(stderr, tail.clone()));
    }
    Ok(Running { child, tail })
}

/// Asks the kernel to send the child SIGTERM when the thread that spawned it
/// ends (`vigil` exiting, even by SIGKILL). Children are spawned from the
/// main thread or a runtime worker, which live as long as `vigil`.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec; it calls only
    // prctl(2), which is async-signal-safe, and allocates nothing (an OS
    // error is a plain code).
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Forwards the server's log lines (`[pid] date time [LVL] message`) to
/// `tracing`: errors and warnings as such, the rest at debug.
async fn forward_log(stderr: tokio::process::ChildStderr, tail: Tail) {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let (level, message) = parse_log_line(&line);
        match level {
            "ERR" | "FTL" => tracing::error!(target: "nats_server", "{message}"),
            "WRN" => tracing::warn!(target: "nats_server", "{message}"),
            "DBG" | "TRC" => tracing::trace!(target: "nats_server", "{message}"),
            _ => tracing::debug!(target: "nats_server", "{message}"),
        }
        let mut kept = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() == LOG_TAIL {
            kept.pop_front();
        }
        kept.push_back(line);
    }
}

/// (level, message) of a nats-server log line; level "" when it has none.
fn parse_log_line(line: &str) -> (&str, &str) {
    for level in ["INF", "WRN", "ERR", "FTL", "DBG", "TRC"] {
        let tag = format!("[{level}] ");
        if let Some(at) = line.find(&tag) {
            return (level, &line[at + tag.len()..]);
        }
    }
    ("", line)
}

/// Connects with the services' creds; ready once the server requires
/// authentication and JetStream answers.
async fn answers(url: &str, creds: &str) -> bool {
    let Ok(options) = async_nats::ConnectOptions::new().credentials(creds) else { return false };
    let options = options.name("vigil up (nats-server readiness)").connection_timeout(Duration::from_secs(1));
    let Ok(client) = options.connect(url).await else { return false };
    let ready = client.server_info().auth_required
        && matches!(tokio::time::timeout(Duration::from_secs(2), client.request("$JS.API.INFO", "".into())).await, Ok(Ok(_)));
    drop(client);
    ready
}

/// Waits until the server answers (see [`answers`]), or it exits, or `timeout`.
async fn wait_ready(running: &mut Running, url: &str, creds: &str, timeout: Duration) -> Result<(), NatsError> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = running.child.try_wait().map_err(|source| NatsError::Spawn { binary: NATS_BINARY.into(), source })?;
        if let Some(status) = status {
            // let the log forwarder read the last lines
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Err(NatsError::Exited { status, log: tail_text(&running.tail) });
        }
        if answers(url, creds).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(NatsError::NotReady { url: mask_password(url), timeout, log: tail_text(&running.tail) });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The supervised `nats-server -c <conf>` child.
struct NatsProcess {
    /// Started and found ready by [`OwnServer::start`]; later runs start their own.
    first: Mutex<Option<Running>>,
    binary: PathBuf,
    conf: PathBuf,
}

impl Service for NatsProcess {
    fn name(&self) -> &'static str {
        NATS_BINARY
    }

    fn ping_name(&self) -> Option<&'static str> {
        None
    }

    fn run(&self, shutdown: Shutdown) -> ServiceRun {
        let first = self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let (binary, conf) = (self.binary.clone(), self.conf.clone());
        Box::pin(async move {
            let mut running = match first {
                Some(running) => running,
                None => {
                    let running = spawn(&binary, &conf)?;
                    tracing::info!(pid = running.child.id(), "nats-server started again");
                    running
                }
            };
            tokio::select! {
                status = running.child.wait() => {
                    let status = status.map_err(|error| format!("cannot wait for {NATS_BINARY}: {error}"))?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err(format!("{NATS_BINARY} exited ({status}); its last lines:\n{}", tail_text(&running.tail)).into())
                }
                () = shutdown.signal() => {
                    stop_child(&mut running.child, NATS_BINARY, STOP_GRACE).await;
                    Ok(())
                }
            }
        })
    }
}

/// The nats-server of `vigil up`, supervised until [`OwnServer::stop`].
pub struct OwnServer {
    supervisor: Supervisor,
    /// Where it listens (`nats.url`, credentials masked).
    pub url: String,
    /// Its rendered configuration.
    pub conf_path: PathBuf,
}

impl OwnServer {
    /// Renders the configuration, starts the server on `nats.url` and
    /// returns once it is ready for the services.
    pub async fn start(config: &Config, path_env: Option<&str>) -> Result<OwnServer, NatsError> {
        let (host, port) = listen_address(&config.nats.url)?;
        let binary = find_binary(path_env)?;
        let prepare_config = config.clone();
        let (conf_path, creds) = tokio::task::spawn_blocking(move || prepare(&prepare_config, &host, port)).await??;
        let mut running = spawn(&binary, &conf_path)?;
        if let Err(error) = wait_ready(&mut running, &config.nats.url, &creds, READY_TIMEOUT).await {
            stop_child(&mut running.child, NATS_BINARY, STOP_GRACE).await;
            return Err(error);
        }
        let url = mask_password(&config.nats.url);
        tracing::info!(pid = running.child.id(), url = %url, config = %conf_path.display(), "nats-server ready");
        let mut supervisor = Supervisor::new();
        supervisor.spawn(Arc::new(NatsProcess { first: Mutex::new(Some(running)), binary, conf: conf_path.clone() }));
        Ok(OwnServer { supervisor, url, conf_path })
    }

    /// Stops the server (SIGTERM) and waits for it.
    pub async fn stop(self) {
        self.supervisor.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> (vigil_bus::accounts::BusKeys, [String; 5]) {
        let keys = vigil_bus::accounts::BusKeys::generate();
        let jwts = [
            keys.operator_jwt().unwrap(),
            keys.system_account_public().unwrap(),
            keys.system_account_jwt().unwrap(),
            keys.platform_account_public().unwrap(),
            keys.platform_account_jwt().unwrap(),
        ];
        (keys, jwts)
    }

    fn conf<'a>(store_dir: &'a Path, jwts: &'a [String; 5]) -> ServerConf<'a> {
        let trust = Trust {
            operator_jwt: &jwts[0],
            system_account: &jwts[1],
            system_account_jwt: &jwts[2],
            platform_account: &jwts[3],
            platform_account_jwt: &jwts[4],
        };
        ServerConf { host: "127.0.0.1", port: 4223, store_dir, trust }
    }

    #[test]
    fn the_template_renders_every_placeholder_quoted() {
        let (keys, jwts) = trust();
        let text = render(&conf(Path::new("/var/lib/vigil/nats"), &jwts)).unwrap();
        assert!(!text.contains("{{"), "{text}");
        assert!(text.contains("host: \"127.0.0.1\"\nport: 4223\n"), "{text}");
        assert!(text.contains("store_dir: \"/var/lib/vigil/nats\""), "{text}");
        assert!(text.contains(&format!("operator: \"{}\"", jwts[0])), "{text}");
        assert!(text.contains(&format!("system_account: \"{}\"", jwts[1])), "{text}");
        assert!(text.contains("dir: \"/var/lib/vigil/nats/jwt\"\n  allow_delete: false"), "{text}");
        assert!(text.contains(&format!("  \"{}\": \"{}\"\n  \"{}\": \"{}\"\n", jwts[1], jwts[2], jwts[3], jwts[4])), "{text}");
        assert!(text.contains("max_payload: 4MB"), "{text}");
        for seed in [&keys.operator, &keys.system_account, &keys.system_user, &keys.platform_account, &keys.platform_user] {
            assert!(!text.contains(seed.as_str()), "no seed in the configuration: {text}");
        }
    }

    #[test]
    fn values_cannot_break_out_of_their_string() {
        let (_, mut jwts) = trust();
        let text = render(&conf(Path::new("/data/a\"b\\c"), &jwts)).unwrap();
        assert!(text.contains(r#"store_dir: "/data/a\"b\\c""#), "{text}");
        jwts[0] = "eyJ\"\n}\nauthorization: {}".into();
        let error = render(&conf(Path::new("/data"), &jwts)).unwrap_err();
        assert!(error.contains("operator_jwt holds a control character") && !error.contains("authorization"), "{error}");
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let (_, jwts) = trust();
        let error = render_template("port: {{port}}\nfoo: {{foo}}\n", &conf(Path::new("/d"), &jwts)).unwrap_err();
        assert!(error.contains("{{foo}}"), "{error}");
    }

    /// The Debian nats-server (2.9.10) accepts the rendered configuration.
    #[test]
    fn nats_server_accepts_the_rendered_configuration() {
        let Ok(binary) = find_binary(std::env::var("PATH").ok().as_deref()) else {
            eprintln!("nats-server is not installed; skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (_, jwts) = trust();
        let path = dir.path().join("nats-server.conf");
        std::fs::write(&path, render(&conf(dir.path(), &jwts)).unwrap()).unwrap();
        let output = std::process::Command::new(binary).arg("-c").arg(&path).arg("-t").output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success() && said.contains("is valid"), "{said}");
    }

    #[test]
    fn nats_config_writes_the_configuration_of_the_data_dirs_keys() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().join("data"), ..Config::default() };
        let out = dir.path().join("etc/nats");
        let path = write_config(&config, &out, "0.0.0.0", 4222, Path::new("/data")).unwrap();
        assert_eq!(path, out.join("nats-server.conf"));
        let text = std::fs::read_to_string(&path).unwrap();
        let keys = secret::ensure_nats_keys(&config.nats_keys_path()).unwrap();
        assert!(text.contains("host: \"0.0.0.0\"\nport: 4222\n") && text.contains("dir: \"/data/jwt\""), "{text}");
        assert!(text.contains(&keys.platform_account_public().unwrap()), "the keys of data_dir");
        assert!(!text.contains(&keys.operator) && !text.contains(&keys.platform_user), "no seed in the file");
        let again = write_config(&config, &out, "0.0.0.0", 4222, Path::new("/data")).unwrap();
        let again = std::fs::read_to_string(again).unwrap();
        let operator_jwt = again.lines().find_map(|line| line.strip_prefix("operator: \"")).unwrap().trim_end_matches('"');
        let claims = vigil_bus::accounts::decode_claims(operator_jwt).unwrap();
        assert_eq!(claims["iss"], keys.operator_key().unwrap().public_key(), "the same operator, from data_dir");
    }

    #[test]
    fn the_listen_address_comes_from_nats_url() {
        let listen = |url: &str| listen_address(url).map_err(|error| error.to_string());
        assert_eq!(listen("nats://127.0.0.1:4222").unwrap(), ("127.0.0.1".to_owned(), 4222));
        assert_eq!(listen("nats://localhost").unwrap(), ("localhost".to_owned(), DEFAULT_PORT));
        assert_eq!(listen("nats://u:secret@10.0.0.5:4333/").unwrap(), ("10.0.0.5".to_owned(), 4333));
        assert_eq!(listen("nats://[::1]:4444").unwrap(), ("::1".to_owned(), 4444));
        let error = listen("tls://127.0.0.1:4222").unwrap_err();
        assert!(error.contains("up.nats: false"), "{error}");
        let error = listen("nats://a:4222,nats://b:4222").unwrap_err();
        assert!(error.contains("several servers"), "{error}");
        let error = listen("nats://u:secret@127.0.0.1:http").unwrap_err();
        assert!(error.contains("no valid port") && !error.contains("secret"), "{error}");
    }

    #[test]
    fn log_lines_are_split_into_level_and_message() {
        assert_eq!(
            parse_log_line("[11312] 2026/12/06 07:14:39.424755 [WRN] Plaintext passwords detected"),
            ("WRN", "Plaintext passwords detected")
        );
        assert_eq!(parse_log_line("no level here"), ("", "no level here"));
    }

    #[test]
    fn a_taken_port_stops_vigil_up_naming_the_port_and_the_fix() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        config.nats.url = format!("nats://127.0.0.1:{port}");
        let error = prepare(&config, "127.0.0.1", port).unwrap_err().to_string();
        assert!(error.contains(&format!("port {port} on 127.0.0.1 is already in use")), "{error}");
        assert!(error.contains("up.nats: false") && error.contains("give nats.url a free port"), "{error}");
    }

    #[test]
    fn the_rendered_configuration_holds_no_secret_and_the_creds_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        let (path, creds) = prepare(&config, "127.0.0.1", vigil_testkit::free_port()).unwrap();
        assert_eq!(path, dir.path().join("nats/nats-server.conf"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.path().join("nats")).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(config.nats_credentials_path()).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(config.nats_credentials_path()).unwrap(), creds);
        let (_, seed) = vigil_bus::accounts::parse_creds(&creds, "t").unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains(&seed));
    }

    #[tokio::test]
    async fn own_server_requires_the_creds_and_stops_with_vigil() {
        if find_binary(std::env::var("PATH").ok().as_deref()).is_err() {
            eprintln!("nats-server is not installed; skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        config.nats.url = format!("nats://127.0.0.1:{}", vigil_testkit::free_port());
        let server = OwnServer::start(&config, std::env::var("PATH").ok().as_deref()).await.unwrap();
        let creds = std::fs::read_to_string(config.nats_credentials_path()).unwrap();
        let anonymous = async_nats::connect(config.nats.url.as_str()).await.map(|_| ()).unwrap_err();
        assert_eq!(anonymous.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{anonymous}");
        // a user the operator never signed: same shape, other keys
        let stranger = vigil_bus::accounts::BusKeys::generate().platform_user_creds().unwrap();
        let wrong = async_nats::ConnectOptions::new()
            .credentials(&stranger)
            .unwrap()
            .connect(config.nats.url.as_str())
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(wrong.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{wrong}");
        assert!(answers(&config.nats.url, &creds).await);
        assert!(dir.path().join("nats/jetstream").is_dir(), "JetStream stores in data_dir/nats");
        server.stop().await;
        assert!(tokio::net::TcpStream::connect(listen_address(&config.nats.url).map(|(h, p)| format!("{h}:{p}")).unwrap())
            .await
            .is_err());
    }
}
