//! Remote actions in tests: a server action key generated per test (ring's
//! Ed25519), pinned by writing `state_dir/actions.pub`, signed orders built
//! field by field, and a real `sovigilant run` process against the test
//! gateway.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use vigil_bus::messages::{ActionOrder, ActionType};
use vigil_proto::Action;

use super::{config_text, eventually, Behaviour, Gateway, Server, HOST_ID, TENANT_ID};
use sovigilant::config::Config;
use vigil_proto::ActionResult;
use vigil_runtime::CancellationToken;

pub const BIN: &str = env!("CARGO_BIN_EXE_sovigilant");
pub const REQUESTED_BY: &str = "ops@example.com";

/// The server's action key, as the actioner holds it.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl Default for Signer {
    fn default() -> Self {
        Self::new()
    }
}

impl Signer {
    pub fn new() -> Self {
        let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Signer { pair: Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap() }
    }

    pub fn public_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// Pins this key for the agent whose state is in `state_dir`.
    pub fn pin(&self, state_dir: &Path) {
        std::fs::create_dir_all(state_dir).unwrap();
        std::fs::write(state_dir.join("actions.pub"), format!("{}\n", self.public_base64())).unwrap();
    }

    /// `action` signed over the contract's message.
    pub fn sign(&self, mut action: Action) -> Action {
        action.signature = self.pair.sign(&message(&action)).as_ref().to_vec();
        action
    }

    /// A signed order of `action_type` for the test host and tenant,
    /// expiring in 5 minutes, with the agent's default timeout.
    pub fn order(&self, id: &str, action_type: &str, params: &[(&str, &str)]) -> Action {
        self.sign(unsigned(id, action_type, params))
    }
}

/// The bytes the actioner signs for `action` (`vigil_bus::actions::signed_message`).
pub fn message(action: &Action) -> Vec<u8> {
    let order = ActionOrder {
        id: action.id.clone(),
        tenant_id: action.tenant_id.clone(),
        host_id: action.host_id.clone(),
        action_type: action.r#type.parse::<ActionType>().unwrap(),
        params: action.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
        requested_by: action.requested_by.clone(),
        requested_at: chrono::Utc::now(),
        expires_at: chrono::DateTime::parse_from_rfc3339(&action.expires_at).unwrap().with_timezone(&chrono::Utc),
        timeout_seconds: action.timeout_seconds,
        signature: String::new(),
    };
    vigil_bus::actions::signed_message(&order)
}

/// An order as the gateway forwards it, before signing.
pub fn unsigned(id: &str, action_type: &str, params: &[(&str, &str)]) -> Action {
    Action {
        id: id.to_owned(),
        r#type: action_type.to_owned(),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        tenant_id: TENANT_ID.to_owned(),
        host_id: HOST_ID.to_owned(),
        requested_by: REQUESTED_BY.to_owned(),
        expires_at: vigil_bus::actions::signed_time(chrono::Utc::now() + chrono::Duration::minutes(5)),
        timeout_seconds: 0,
        signature: Vec::new(),
    }
}

/// An executable script `dir/name` with `body` (after `#!/bin/sh`).
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A real `sovigilant run` against a test gateway, with actions configured.
pub struct RunningAgent {
    pub gateway: Gateway,
    server: Option<Server>,
    address: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub log: PathBuf,
    /// Put first on the agent's PATH (fake `systemctl`, `rc-service`).
    pub bin: PathBuf,
    actions: String,
    child: Option<tokio::process::Child>,
}

impl RunningAgent {
    /// Starts the agent with `actions` as the YAML body of its `actions:`
    /// section (indented by two spaces) and waits for its stream.
    pub async fn start(actions: &str) -> RunningAgent {
        let gateway = Gateway::new(Behaviour::default());
        let server = Server::start(gateway.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = dir.path().join("agent.log");
        let address = server.address;
        let mut agent = RunningAgent {
            gateway,
            server: Some(server),
            address,
            state,
            log,
            bin,
            dir,
            actions: actions.to_owned(),
            child: None,
        };
        agent.spawn().await;
        agent
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// (Re)starts the process and waits for a new stream.
    pub async fn spawn(&mut self) {
        let body: String = self.actions.lines().map(|line| format!("  {line}\n")).collect();
        let text = format!("{}actions:\n{body}", config_text(self.address, &self.state, "60s"));
        std::fs::write(self.config_path(), text).unwrap();
        let connections = self.gateway.connections();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        let child = tokio::process::Command::new(BIN)
            .arg("--config")
            .arg(self.config_path())
            .arg("run")
            .env("PATH", path)
            .env_remove("RUST_LOG")
            .env_remove("SOVIGILANT_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let gateway = self.gateway.clone();
        eventually("the agent to open its stream", Duration::from_secs(20), || async { gateway.connections() > connections })
            .await;
    }

    /// Stops the gateway (failing the agent's stream) and starts it again on
    /// the same address, keeping its record.
    pub async fn restart_gateway(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.gateway = self.gateway.restarted(Behaviour::default());
        self.server = Some(Server::start_on(self.address, self.gateway.clone()).await);
    }

    /// Stops the process (SIGTERM, then waits).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            let _ = child.kill().await;
        }
    }

    /// Sends `action` and returns the reports on its id received since,
    /// once one is final (not `running`).
    pub async fn act(&self, action: Action) -> Vec<vigil_proto::ActionResult> {
        let id = action.id.clone();
        let before = self.gateway.action_results(&id).len();
        assert!(self.gateway.send_action(action).await, "no open stream to the agent");
        eventually(&format!("a final report of action {id:?}"), Duration::from_secs(20), || async {
            let results = self.gateway.action_results(&id).split_off(before);
            if results.last().is_some_and(|r| r.status != "running") {
                Ok(results)
            } else {
                Err(results)
            }
        })
        .await
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The agent's actions worker in process (no gRPC), for this host and
/// tenant; cancelled when dropped.
pub struct Worker {
    pub link: sovigilant::actions::Link,
    pub signer: Signer,
    shutdown: CancellationToken,
    _tenant: tokio::sync::watch::Sender<Option<String>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Worker {
    /// Starts the worker for `config`, its action key pinned.
    pub fn start(config: &Config) -> Worker {
        let signer = Signer::new();
        signer.pin(&config.state_dir);
        let shutdown = CancellationToken::new();
        let (tenant_tx, tenant) = tokio::sync::watch::channel(Some(TENANT_ID.to_owned()));
        let identity = sovigilant::actions::Identity { host_id: HOST_ID.to_owned(), tenant };
        let link = sovigilant::actions::start(config, identity, shutdown.clone());
        Worker { link, signer, shutdown, _tenant: tenant_tx }
    }

    /// Hands over `order` (already signed).
    pub fn send(&self, order: Action) {
        self.link.orders.send(order).unwrap();
    }

    /// The next report, whatever its action.
    pub async fn next(&mut self) -> ActionResult {
        tokio::time::timeout(Duration::from_secs(60), self.link.results.recv())
            .await
            .expect("a report within 60 s")
            .expect("the worker runs")
    }

    /// Sends a signed order and returns its final report.
    pub async fn act(&mut self, id: &str, action_type: &str, params: &[(&str, &str)]) -> ActionResult {
        self.send(self.signer.order(id, action_type, params));
        loop {
            let report = self.next().await;
            assert_eq!(report.action_id, id);
            if report.status != "running" {
                return report;
            }
        }
    }
}
