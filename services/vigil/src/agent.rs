//! The local `sovigilant` that `vigil up` runs next to the services.
//!
//! Invariants:
//! - its configuration (`data_dir/agent/config.yaml`, mode 0600 since it holds
//!   the agent token) is written once with a fresh token and reused on later
//!   starts; only `server.address` and `server.tls.ca_cert` are brought up to
//!   date, so the agent keeps its token and every other key an operator edited;
//! - the server's action key is pinned in the agent's `state_dir` (as
//!   `sovigilant init` pins it) when no key is pinned there; a pinned key is
//!   never replaced;
//! - the child runs as a supervised [`Service`]: when it exits it is started
//!   again with the supervisor's backoff; at shutdown it gets SIGTERM, then is
//!   killed if it still runs 5 s later; it never outlives `vigil`
//!   (`kill_on_drop`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sovigilant::config::{AgentSection, CollectionSection, ConfigError, ConfigFile, HostSection, ServerSection, TlsSection};
use sqlx::MySqlPool;

use crate::config::{hostname, Config};
use crate::supervisor::{Service, ServiceRun, Shutdown};

/// Name of the agent's executable.
pub const AGENT_BINARY: &str = "sovigilant";
/// Collection interval written into a new local agent config.
pub const LOCAL_INTERVAL: &str = "10s";
/// How long the agent may take to stop after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("up.agent_binary {path}: no such executable; fix the path, or set up.agent: false")]
    BinaryMissing { path: String },
    #[error("{AGENT_BINARY} is neither next to vigil ({next_to}) nor in PATH; install it, set up.agent_binary, or set up.agent: false")]
    BinaryNotFound { next_to: String },
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("{path}: not a sovigilant configuration ({message}); remove it to have vigil up write a new one")]
    BadConfig { path: String, message: String },
    #[error("cannot create the local agent's token: {0}")]
    Token(#[from] vigil_gateway::admin::AdminError),
    #[error("local agent setup failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The `sovigilant` to run: `up.agent_binary`, else next to the running
/// `vigil`, else the first in `PATH`.
pub fn find_binary(configured: &str, path_env: Option<&str>) -> Result<PathBuf, AgentError> {
    if !configured.is_empty() {
        let path = PathBuf::from(configured);
        return if path.is_file() { Ok(path) } else { Err(AgentError::BinaryMissing { path: configured.to_owned() }) };
    }
    let next_to = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(AGENT_BINARY)));
    if let Some(candidate) = next_to.as_ref().filter(|path| path.is_file()) {
        return Ok(candidate.clone());
    }
    path_env
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(AGENT_BINARY))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| AgentError::BinaryNotFound {
            next_to: next_to.map(|p| p.display().to_string()).unwrap_or_else(|| "unknown".into()),
        })
}

/// The address the local agent dials: the gateway's gRPC port on loopback
/// (or on the one address the gateway listens on).
pub fn local_address(grpc_addr: SocketAddr) -> SocketAddr {
    let ip = if grpc_addr.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { grpc_addr.ip() };
    SocketAddr::new(ip, grpc_addr.port())
}

/// The configuration `vigil up` writes for a new local agent: the gateway
/// on `address` trusted through `ca_cert`, a server-chosen host id, host
/// metrics every [`LOCAL_INTERVAL`], and its state under `state_dir`.
fn local_config_file(address: &str, token: &str, ca_cert: &str, state_dir: &str) -> ConfigFile {
    ConfigFile {
        agent: AgentSection { id: Some("auto".into()), name: Some(hostname()) },
        server: Some(ServerSection {
            address: Some(address.into()),
            token: Some(token.into()),
            tls: TlsSection { enabled: Some(true), ca_cert: Some(ca_cert.into()) },
            http_url: None,
        }),
        collection: CollectionSection {
            interval: Some(LOCAL_INTERVAL.into()),
            host: HostSection { enabled: Some(true), ..HostSection::default() },
            ..CollectionSection::default()
        },
        state_dir: Some(state_dir.into()),
        ..ConfigFile::default()
    }
}

/// The text of a new local agent config: a header naming the token, then `file`.
fn render_new(token_id: &str, file: &ConfigFile) -> Result<String, serde_yaml::Error> {
    Ok(format!(
        "# written by `vigil up` (token {token_id}); edit freely, vigil only keeps server.address and server.tls.ca_cert current\n{}",
        file.to_yaml()?
    ))
}

/// Writes (first start) or updates (later starts) the local agent's config
/// and returns its path. A token is created only when the file is new.
pub async fn ensure_config(
    config: &Config,
    pool: &MySqlPool,
    grpc_addr: SocketAddr,
    ca_path: &Path,
) -> Result<PathBuf, AgentError> {
    let dir = config.agent_dir();
    let path = dir.join("config.yaml");
    let address = local_address(grpc_addr).to_string();
    let ca_cert = ca_path.display().to_string();
    let exists = tokio::fs::try_exists(&path).await.map_err(|source| AgentError::Io {
        path: path.display().to_string(),
        action: "cannot check",
        source,
    })?;
    let key_path = config.actions_key_path();
    if exists {
        let file = path.clone();
        tokio::task::spawn_blocking(move || {
            update_config(&file, &address, &ca_cert)?;
            pin_action_key(&file, &key_path)
        })
        .await??;
        return Ok(path);
    }
    let token = vigil_gateway::admin::create_agent_token(pool, &config.up.tenant, Some("local agent (vigil up)")).await?;
    let contents = local_config_file(&address, &token.token, &ca_cert, &dir.join("state").display().to_string());
    let text = render_new(&token.id, &contents)
        .map_err(|error| AgentError::BadConfig { path: path.display().to_string(), message: error.to_string() })?;
    let file = path.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|source| AgentError::Io {
            path: dir.display().to_string(),
            action: "cannot create the directory",
            source,
        })?;
        write_private(&file, &text)?;
        pin_action_key(&file, &key_path)
    })
    .await??;
    tracing::info!(path = %path.display(), token_id = %token.id, "wrote the local agent's configuration");
    Ok(path)
}

/// Brings `server.address` and `server.tls.ca_cert` of the agent config at
/// `path` up to date; every other key is kept as the operator left it, and so
/// are the comments at the top of the file. Rewrites it only when one changed.
fn update_config(path: &Path, address: &str, ca_cert: &str) -> Result<(), AgentError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| AgentError::Io { path: shown.clone(), action: "cannot read", source })?;
    let bad = |message: String| AgentError::BadConfig { path: shown.clone(), message };
    let mut file = ConfigFile::parse(path, &text).map_err(|error| match error {
        ConfigError::Parse { message, .. } => bad(message),
        other => bad(other.to_string()),
    })?;
    let server = file.server.as_mut().ok_or_else(|| bad("no server section".into()))?;
    let mut changed = false;
    if server.address.as_deref() != Some(address) {
        server.address = Some(address.into());
        changed = true;
    }
    if server.tls.ca_cert.as_deref() != Some(ca_cert) {
        server.tls.ca_cert = Some(ca_cert.into());
        changed = true;
    }
    if changed {
        let body = file.to_yaml().map_err(|error| bad(error.to_string()))?;
        write_private(path, &format!("{}{body}", leading_comments(&text)))?;
        tracing::info!(path = %shown, address, "updated the local agent's server address");
    }
    Ok(())
}

/// Pins the server's action key (its public half, from `key_path`) in the
/// `state_dir` of the agent config at `config_path`, unless a key is pinned
/// there already. A key that cannot be read is logged: the agent then
/// refuses every action, saying no key is pinned.
fn pin_action_key(config_path: &Path, key_path: &Path) -> Result<(), AgentError> {
    let shown = config_path.display().to_string();
    let text = std::fs::read_to_string(config_path).map_err(|source| AgentError::Io {
        path: shown.clone(),
        action: "cannot read",
        source,
    })?;
    let file = ConfigFile::parse(config_path, &text)
        .map_err(|error| AgentError::BadConfig { path: shown, message: error.to_string() })?;
    let Some(state_dir) = file.state_dir else { return Ok(()) };
    let pinned = Path::new(&state_dir).join(vigil_bus::actions::PUBLIC_KEY_FILE);
    if pinned.exists() {
        return Ok(());
    }
    let key = match vigil_runtime::signing::SigningKey::ensure(key_path, "action key") {
        Ok(key) => key,
        Err(error) => {
            tracing::error!(error = %error, "cannot pin the action key for the local agent; it will refuse every action");
            return Ok(());
        }
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&state_dir).map_err(|source| AgentError::Io {
        path: state_dir.clone(),
        action: "cannot create the directory",
        source,
    })?;
    vigil_runtime::files::replace(&pinned, format!("{}\n", key.public_key_base64()).as_bytes(), 0o644)
        .map_err(|source| AgentError::Io { path: pinned.display().to_string(), action: "cannot write", source })?;
    tracing::info!(path = %pinned.display(), "pinned the action key for the local agent");
    Ok(())
}

/// The comment lines at the top of `text` (before its first key; blank lines
/// left out), each ending in a newline.
fn leading_comments(text: &str) -> String {
    text.lines()
        .take_while(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Replaces `path` atomically with a 0600 file holding `text`.
fn write_private(path: &Path, text: &str) -> Result<(), AgentError> {
    vigil_runtime::files::replace(path, text.as_bytes(), 0o600).map_err(|source| AgentError::Io {
        path: path.display().to_string(),
        action: "cannot write",
        source,
    })
}

/// The supervised `sovigilant run --config <path>` child.
pub struct AgentProcess {
    pub binary: PathBuf,
    pub config_path: PathBuf,
}

impl Service for AgentProcess {
    fn name(&self) -> &'static str {
        AGENT_BINARY
    }

    fn ping_name(&self) -> Option<&'static str> {
        None
    }

    fn run(&self, shutdown: Shutdown) -> ServiceRun {
        let (binary, config_path) = (self.binary.clone(), self.config_path.clone());
        Box::pin(async move {
            let mut child = tokio::process::Command::new(&binary)
                .arg("run")
                .arg("--config")
                .arg(&config_path)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
            tracing::info!(pid = child.id(), binary = %binary.display(), "local agent started");
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_err(|error| format!("cannot wait for {AGENT_BINARY}: {error}"))?;
                    Err(format!("{AGENT_BINARY} exited ({status})").into())
                }
                () = shutdown.signal() => {
                    stop_child(&mut child, AGENT_BINARY, STOP_GRACE).await;
                    Ok(())
                }
            }
        })
    }
}

/// SIGTERM, then SIGKILL after `grace`; `name` says which child in logs.
pub async fn stop_child(child: &mut tokio::process::Child, name: &str, grace: Duration) {
    if let Some(pid) = child.id() {
        send_sigterm(pid, name);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => tracing::info!(child = name, %status, "child stopped"),
        Ok(Err(error)) => tracing::warn!(child = name, error = %error, "cannot wait for the child"),
        Err(_) => {
            tracing::warn!(child = name, grace = ?grace, "child ignored sigterm; killing it");
            if let Err(error) = child.kill().await {
                tracing::warn!(child = name, error = %error, "cannot kill the child");
            }
        }
    }
}

/// Asks process `pid` to terminate. The standard library can only SIGKILL a
/// child, so this one syscall goes through libc.
#[allow(unsafe_code)]
fn send_sigterm(pid: u32, name: &str) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill(2) takes two integers and touches no memory of ours. `pid`
    // is our own child that has not been reaped yet (we still hold it and
    // `id()` returned it), so it cannot name a recycled process.
    let result = unsafe { libc::kill(pid, libc::SIGTERM) };
    if result != 0 {
        tracing::warn!(child = name, pid, error = %std::io::Error::last_os_error(), "cannot send sigterm");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;
    use sovigilant::config::Config as AgentConfig;

    #[test]
    fn local_agent_dials_loopback_when_the_gateway_listens_everywhere() {
        assert_eq!(local_address("0.0.0.0:9090".parse().unwrap()), "127.0.0.1:9090".parse().unwrap());
        assert_eq!(local_address("[::]:9090".parse().unwrap()), "127.0.0.1:9090".parse().unwrap());
        assert_eq!(local_address("10.1.2.3:9090".parse().unwrap()), "10.1.2.3:9090".parse().unwrap());
    }

    #[test]
    fn the_action_key_is_pinned_in_the_local_agents_state_dir_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let config = dir.path().join("config.yaml");
        let file = local_config_file("127.0.0.1:9090", "vgl_x", "/ca.pem", &state.display().to_string());
        std::fs::write(&config, file.to_yaml().unwrap()).unwrap();
        let key_path = dir.path().join("actions.key");
        pin_action_key(&config, &key_path).unwrap();
        let key = vigil_runtime::signing::SigningKey::load(&key_path, "action key").unwrap();
        let pinned = state.join("actions.pub");
        assert_eq!(std::fs::read_to_string(&pinned).unwrap().trim(), key.public_key_base64());
        std::fs::write(&pinned, "an operator's key\n").unwrap();
        pin_action_key(&config, &key_path).unwrap();
        assert_eq!(std::fs::read_to_string(&pinned).unwrap(), "an operator's key\n");
    }

    #[test]
    fn configured_agent_binary_must_exist() {
        let error = find_binary("/nonexistent/sovigilant", None).unwrap_err().to_string();
        assert!(error.starts_with("up.agent_binary /nonexistent/sovigilant: no such executable"), "{error}");
    }

    #[test]
    fn agent_binary_is_found_in_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(AGENT_BINARY), "#!/bin/sh\n").unwrap();
        let path = format!("/nonexistent:{}", dir.path().display());
        // unless a sovigilant sits next to the test executable, PATH decides
        let found = find_binary("", Some(&path)).unwrap();
        assert!(found.ends_with(AGENT_BINARY));
    }

    #[test]
    fn existing_agent_config_keeps_its_token_and_gets_the_new_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "agent: { id: auto, name: h }\nserver:\n  address: 127.0.0.1:1\n  token: tok-123\n  tls: { enabled: true, ca_cert: /old/ca.pem }\nstate_dir: /s\n").unwrap();
        update_config(&path, "127.0.0.1:9090", "/new/ca.pem").unwrap();
        let tree: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(tree["server"]["address"].as_str(), Some("127.0.0.1:9090"));
        assert_eq!(tree["server"]["token"].as_str(), Some("tok-123"));
        assert_eq!(tree["server"]["tls"]["ca_cert"].as_str(), Some("/new/ca.pem"));
        assert_eq!(tree["state_dir"].as_str(), Some("/s"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_new_local_config_parses_back_into_the_config_of_its_model() {
        let path = Path::new("/data/agent/config.yaml");
        let file = local_config_file("127.0.0.1:9090", "tok-123", "/data/tls/ca.pem", "/data/agent/state");
        let text = render_new("tid-1", &file).unwrap();
        assert!(text.starts_with("# written by `vigil up` (token tid-1)"), "{text}");
        let parsed = AgentConfig::parse(path, &text).unwrap();
        assert_eq!(parsed, AgentConfig::from_file(path, file).unwrap());
        assert_eq!(parsed.agent.id, None, "auto: the server chooses the host id");
        assert_eq!(parsed.agent.name, hostname());
        assert_eq!((parsed.server.address.as_str(), parsed.server.token.as_str()), ("127.0.0.1:9090", "tok-123"));
        assert!(parsed.server.tls.enabled);
        assert_eq!(parsed.server.tls.ca_cert.as_deref(), Some(Path::new("/data/tls/ca.pem")));
        assert_eq!(parsed.collection.interval, Duration::from_secs(10));
        assert!(parsed.collection.host.enabled);
        assert_eq!(parsed.state_dir, Path::new("/data/agent/state"));
    }

    #[test]
    fn an_update_keeps_what_the_operator_edited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let file = local_config_file("127.0.0.1:1", "tok-123", "/old/ca.pem", "/s");
        let mut text = render_new("tid-1", &file).unwrap();
        text.push_str("logging:\n  level: debug  # an operator's edit\n  max_size: 1MB\n");
        text = text.replace(
            "  host:\n    enabled: true\n",
            "  host:\n    enabled: true\n    max_mounts: 8\n  services:\n    enabled: true\n    watch: [nginx]\n",
        );
        std::fs::write(&path, &text).unwrap();
        let before = AgentConfig::load(&path).unwrap();

        update_config(&path, "127.0.0.1:9090", "/new/ca.pem").unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.starts_with("# written by `vigil up` (token tid-1)"), "the header is kept: {written}");
        let after = AgentConfig::load(&path).unwrap();
        assert_eq!((after.server.address.as_str(), after.server.port), ("127.0.0.1:9090", 9090));
        assert_eq!(after.server.tls.ca_cert.as_deref(), Some(Path::new("/new/ca.pem")));
        let mut expected = before.clone();
        expected.server = after.server.clone();
        assert_eq!(after, expected, "only server changed");
        assert_eq!(after.server.token, before.server.token);
        assert_eq!(after.logging.max_size, 1024 * 1024);
        assert_eq!(after.collection.host.max_mounts, 8);
        assert_eq!(after.collection.services.watch, ["nginx"]);

        // nothing to change: the file is left as it is
        update_config(&path, "127.0.0.1:9090", "/new/ca.pem").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    }

    #[test]
    fn an_unknown_key_is_a_bad_config_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "server:\n  address: 127.0.0.1:1\n  token: t\n  tsl: {}\n").unwrap();
        let error = update_config(&path, "127.0.0.1:9090", "/ca.pem").unwrap_err().to_string();
        assert!(error.contains("not a sovigilant configuration") && error.contains("tsl"), "{error}");
    }

    #[tokio::test]
    async fn stubborn_child_is_killed_after_the_grace_period() {
        // a shell that ignores SIGTERM
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg("trap '' TERM; while true; do sleep 0.05; done")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        stop_child(&mut child, "sh", Duration::from_millis(500)).await;
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(child.try_wait().unwrap().is_some(), "the child is gone");
    }

    #[tokio::test]
    async fn child_stops_on_sigterm_within_the_grace_period() {
        let mut child = tokio::process::Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let started = std::time::Instant::now();
        stop_child(&mut child, "sleep", Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        let status = child.try_wait().unwrap().expect("exited");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
