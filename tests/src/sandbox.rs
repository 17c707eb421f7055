//! Processes and databases a test owns (the private nats-server and the
//! database come from `vigil-testkit`, as does waiting: `eventually`). Every handle cleans up on `Drop`:
//! child processes are killed, temporary directories removed, databases dropped.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use rand::Rng;
use tempfile::TempDir;
use vigil_testkit::try_eventually;
pub use vigil_testkit::{free_port, NatsServer, TestDb};

/// Where cargo put this workspace's binaries (`target/debug` for tests).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/<test> or target/debug/<bin>
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(path.exists(), "{} not built; run `cargo build --workspace --bins` first", path.display());
    path
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn kill(child: &mut Child, signal: i32) {
    let pid = child.id() as i32;
    // SAFETY-free: `kill(1)` through the libc binding is a plain syscall on a pid we own.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, signal);
    }
}

/// The configuration every `vigil` process of one test shares: same NATS
/// (authenticated: the test server's services' creds are written to
/// `data_dir/nats.creds`, named by `VIGIL_NATS_CREDENTIALS_FILE`, and its bus
/// keys to `data_dir/nats.keys`, where the gateway finds the operator), database
/// and data dir (so the gateway's generated TLS material is reused across
/// restarts), fixed ports so a restarted gateway comes back where the agents
/// expect it.
pub struct Stack {
    pub nats: NatsServer,
    pub db: TestDb,
    pub data_dir: TempDir,
    pub http_port: u16,
    pub grpc_port: u16,
    pub extra_env: HashMap<String, String>,
}

impl Stack {
    pub async fn new() -> Result<Stack> {
        let stack = Stack {
            nats: NatsServer::start().await,
            db: TestDb::create().await,
            data_dir: TempDir::new()?,
            http_port: free_port(),
            grpc_port: free_port(),
            extra_env: HashMap::new(),
        };
        stack.nats.write_credentials_file(&stack.nats_credentials_file()).context("write the nats creds file")?;
        stack.nats.write_keys_file(&stack.nats_keys_file()).context("write the nats keys file")?;
        Ok(stack)
    }

    /// The test nats-server's services' creds (`nats.credentials_file`).
    pub fn nats_credentials_file(&self) -> PathBuf {
        self.data_dir.path().join("nats.creds")
    }

    /// The test nats-server's bus keys (`data_dir/nats.keys`).
    pub fn nats_keys_file(&self) -> PathBuf {
        self.data_dir.path().join("nats.keys")
    }

    pub fn env(&self) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = [
            ("VIGIL_NATS_URL", self.nats.url.clone()),
            ("VIGIL_NATS_CREDENTIALS_FILE", self.nats_credentials_file().display().to_string()),
            ("VIGIL_DATABASE_URL", self.db.url()),
            ("VIGIL_DATA_DIR", self.data_dir.path().display().to_string()),
            ("VIGIL_GATEWAY_HTTP_LISTEN", format!("127.0.0.1:{}", self.http_port)),
            ("VIGIL_GATEWAY_GRPC_LISTEN", format!("127.0.0.1:{}", self.grpc_port)),
            ("VIGIL_COLLECTOR_OFFLINE_AFTER", "5s".to_owned()),
            // the scheduled downsample (a minute past each hour) and
            // compaction (every 15 minutes) would fold a test's past
            // snapshots while it counts raw rows;
            // they run once a year here, and are tested on their own
            // (services/collector/tests: downsample, compaction)
            ("VIGIL_COLLECTOR_DOWNSAMPLE_SCHEDULE", "0 0 1 1 *".to_owned()),
            ("VIGIL_COLLECTOR_COMPACTION_SCHEDULE", "0 0 1 1 *".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.extra_env.clone());
        env
    }

    /// `vigil run <services>` as a child process; waits until what it serves answers.
    pub async fn spawn(&self, services: &[&str]) -> Result<VigilProcess> {
        let log = self.data_dir.path().join(format!("vigil-{}-{}.log", services.join("-"), rand::thread_rng().gen::<u32>()));
        let child = Command::new(bin("vigil"))
            .arg("run")
            .args(services)
            .envs(self.env())
            .env("VIGIL_LOG_LEVEL", std::env::var("STACK_LOG").unwrap_or_else(|_| "info".to_owned()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let process = VigilProcess { child: Some(child), log };
        let nats = self.nats.client().await;
        for service in services {
            let subject = vigil_bus::subjects::service_ping(service);
            let ready = try_eventually(&format!("{service} to answer {subject}"), Duration::from_secs(30), || {
                let nats = nats.clone();
                let subject = subject.clone();
                async move {
                    tokio::time::timeout(Duration::from_millis(500), nats.request(subject, "".into()))
                        .await
                        .is_ok_and(|r| r.is_ok())
                }
            })
            .await;
            if let Err(error) = ready {
                bail!("{error}; log:\n{}", process.log_text());
            }
        }
        if services.contains(&"gateway") {
            try_eventually("gateway http and grpc ports", Duration::from_secs(10), || async {
                port_open(self.http_port) && port_open(self.grpc_port)
            })
            .await?;
        }
        Ok(process)
    }

    pub fn ca_path(&self) -> PathBuf {
        self.data_dir.path().join("tls").join("ca.pem")
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn grpc_address(&self) -> String {
        format!("localhost:{}", self.grpc_port)
    }

    /// Tenant + admin user + agent token, through the gateway's admin API.
    pub async fn tenant(&self, tenant: &str) -> Result<TenantFixture> {
        use vigil_gateway::admin;
        admin::ensure_tenant(&self.db.pool, tenant, tenant).await?;
        let email = format!("admin@{tenant}.test");
        let password = format!("pw-{tenant}-0123456789");
        admin::add_user(&self.db.pool, tenant, &email, &password, admin::Role::Admin).await?;
        let token = admin::create_agent_token(&self.db.pool, tenant, Some("test")).await?;
        Ok(TenantFixture { tenant: tenant.to_owned(), email, password, token_id: token.id, token: token.token })
    }

    pub async fn login(&self, fixture: &TenantFixture) -> Result<String> {
        let response = reqwest::Client::new()
            .post(self.http("/api/auth/login"))
            .json(&serde_json::json!({"email": fixture.email, "password": fixture.password}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("login failed: {} {}", response.status(), response.text().await?);
        }
        let body: serde_json::Value = response.json().await?;
        Ok(body["access_token"].as_str().context("no access_token")?.to_owned())
    }

    /// A real `sovigilant run` process against this stack's gateway.
    pub fn agent(&self, fixture: &TenantFixture, interval: &str) -> Result<AgentProcess> {
        self.agent_with(fixture, interval, "", None)
    }

    /// A real `sovigilant run` process with `extra_yaml` appended to its
    /// config (e.g. an `actions:` section) and, when given, `action_key`
    /// (base64, as `/downloads/actions.pub` serves it) pinned in its state
    /// dir, as `sovigilant init` pins it.
    pub fn agent_with(
        &self,
        fixture: &TenantFixture,
        interval: &str,
        extra_yaml: &str,
        action_key: Option<&str>,
    ) -> Result<AgentProcess> {
        let dir = TempDir::new()?;
        let config = dir.path().join("config.yaml");
        let state = dir.path().join("state");
        std::fs::write(
            &config,
            format!(
                "agent:\n  id: auto\n  name: \"{{{{hostname}}}}\"\nserver:\n  address: {}\n  token: \"{}\"\n  tls:\n    enabled: true\n    ca_cert: {}\ncollection:\n  interval: {interval}\n  host:\n    enabled: true\nstate_dir: {}\n{extra_yaml}",
                self.grpc_address(),
                fixture.token,
                self.ca_path().display(),
                state.display()
            ),
        )?;
        if let Some(key) = action_key {
            std::fs::create_dir_all(&state)?;
            std::fs::write(state.join(vigil_bus::actions::PUBLIC_KEY_FILE), format!("{}\n", key.trim()))?;
        }
        let log = dir.path().join("agent.log");
        let mut agent = AgentProcess { child: None, dir, config, log };
        agent.start()?;
        Ok(agent)
    }
}

#[derive(Clone)]
pub struct TenantFixture {
    pub tenant: String,
    pub email: String,
    pub password: String,
    pub token_id: String,
    pub token: String,
}

pub struct VigilProcess {
    child: Option<Child>,
    pub log: PathBuf,
}

impl VigilProcess {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child, libc::SIGKILL);
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        kill(&mut child, libc::SIGTERM);
        child.wait().ok()
    }
}

impl Drop for VigilProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct AgentProcess {
    child: Option<Child>,
    pub dir: TempDir,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl AgentProcess {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn host_id(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("state").join("host_id")).ok().map(|s| s.trim().to_owned())
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child, libc::SIGTERM);
            let _ = child.wait();
        }
    }

    /// Starts `sovigilant run` with this agent's config and state (again,
    /// after [`AgentProcess::stop`]); its log is appended to.
    pub fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(bin("sovigilant"))
            .args(["--config"])
            .arg(&self.config)
            .arg("run")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
