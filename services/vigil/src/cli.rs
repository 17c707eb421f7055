//! The `vigil` command line: argument parsing and one function per command.
//! Everything here prints for a human; the work is done by the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use vigil::agent::{self, AgentError, AgentProcess};
use vigil::config::mask_password;
use vigil::nats::OwnServer;
use vigil::release::{self, ReleaseKey};
use vigil::supervisor::wait_for_signal;
use vigil::up::{self, AdminOutcome};
use vigil::{db, Config, ServiceKind, Stack};
use vigil_gateway::admin::{self, Role};

#[derive(Debug, Parser)]
#[command(name = "vigil", version, about = "vigil: monitoring server — run services, the whole stack, migrations, tokens, users")]
pub struct Cli {
    /// Configuration file (default /etc/vigil/vigil.yaml; missing there means all defaults).
    #[arg(long, global = true, env = "VIGIL_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run services in this process: any of gateway, collector.
    Run {
        #[arg(required = true, value_name = "SERVICE", value_parser = parse_service)]
        services: Vec<ServiceKind>,
    },
    /// Run the whole stack on this machine: database, first tenant and admin, every service, a local agent.
    Up,
    /// Create the database if needed and apply the schema migrations.
    Migrate,
    /// Agent tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Dashboard users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Agent builds served at /downloads/ for `sovigilant update` and install.sh.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// The gateway's TLS material.
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
    /// Exit 0 when an instance of SERVICE answers its NATS ping ($SRV.PING), 1 otherwise (a container healthcheck).
    Ping {
        #[arg(value_name = "SERVICE", value_parser = parse_service)]
        service: ServiceKind,
    },
    /// Integrators: NATS users of a tenant's own account, reading its metrics, hosts, alerts and actions.
    Integrator {
        #[command(subcommand)]
        command: IntegratorCommand,
    },
    /// The NATS bus: the configuration of a nats-server run apart.
    Nats {
        #[command(subcommand)]
        command: NatsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum IntegratorCommand {
    /// Create an integrator of a tenant (the tenant is created if absent, its NATS account with its first
    /// integrator); its creds file is printed (or written to --out) once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: Option<String>,
        /// Write the creds file here (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NatsCommand {
    /// Write DIR/nats-server.conf, the configuration `vigil up` runs, trusting the operator of data_dir/nats.keys
    /// (generated if absent): for a nats-server run apart (compose, a cluster); services connect with nats.credentials_file.
    Config {
        /// Directory to write nats-server.conf into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Address the server listens on (default: the host and port of nats.url).
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// JetStream and account store of that server, as it sees it (default: data_dir/nats).
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Publish an agent build: copy it to data_dir/downloads/sovigilant-OS-ARCH with a signed manifest.
    Add {
        /// Operating system of the build, as `uname -s | tr A-Z a-z` prints it (default: this machine's).
        #[arg(long, default_value = std::env::consts::OS)]
        os: String,
        /// Architecture of the build, as `uname -m` prints it (default: this machine's).
        #[arg(long, default_value = std::env::consts::ARCH)]
        arch: String,
        /// Version the build reports with `sovigilant --version`.
        #[arg(long = "version", value_name = "VERSION")]
        release_version: String,
        /// The sovigilant binary to publish.
        path: PathBuf,
    },
    /// Print the release public key (base64) agents pin; generated if absent.
    Key,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Print the CA certificate agents trust (PEM), or write it to --out; with gateway.tls empty the CA and the
    /// server certificate are generated in data_dir/tls first if absent, as the gateway does.
    Ca {
        /// File to write the CA into (mode 0644) instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an agent token (the tenant is created if absent), or with
    /// `--scrape` a Prometheus scrape token; the token is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: Option<String>,
        /// a scrape token for GET /api/metrics/prometheus (docs/grafana.md)
        #[arg(long)]
        scrape: bool,
    },
    /// Revoke an agent token (with `--scrape`, a scrape token) by its id.
    Revoke {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long)]
        scrape: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (the tenant is created if absent); a generated password is printed once.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Viewer)]
        role: RoleArg,
        /// Default: a random 20-character password, printed.
        #[arg(long)]
        password: Option<String>,
        /// When a user with this email exists, say so and change nothing (exit 0).
        #[arg(long)]
        if_absent: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, each key with its documentation and default.
    Print,
    /// Check the configuration and exit.
    Check,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

fn parse_service(name: &str) -> Result<ServiceKind, String> {
    name.parse()
}

/// Runs `command` with `config` (read from `config_path`).
pub async fn execute(command: Command, config: Config, config_path: PathBuf, path_env: Option<String>) -> anyhow::Result<()> {
    match command {
        Command::Run { services } => run(config, services).await,
        Command::Up => up(config, path_env).await,
        Command::Migrate => {
            let pool = db::connect_and_migrate(&config.database.url, 1).await?;
            pool.close().await;
            println!("database {} is up to date", mask_password(&config.database.url));
            Ok(())
        }
        Command::Token { command } => token(config, command).await,
        Command::Release { command } => release_command(config, command).await,
        Command::Tls { command: TlsCommand::Ca { out } } => tls_ca(config, out).await,
        Command::Ping { service } => ping(config, service).await,
        Command::Nats { command: NatsCommand::Config { out, listen, store } } => nats_config(config, out, listen, store).await,
        Command::Integrator { command } => integrator(config, command).await,
        Command::User { command } => user(config, command).await,
        Command::Config { command: ConfigCommand::Print } => {
            print!("{}", config.render_documented());
            Ok(())
        }
        Command::Config { command: ConfigCommand::Check } => {
            if config_path.exists() {
                println!("{}: ok", config_path.display());
            } else {
                println!("{}: no such file; the defaults (and VIGIL_* variables) are ok", config_path.display());
            }
            Ok(())
        }
    }
}

async fn run(config: Config, mut services: Vec<ServiceKind>) -> anyhow::Result<()> {
    services.dedup();
    let metrics = match config.metrics.listen.as_str() {
        "" => None,
        listen => Some(
            tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on metrics.listen {listen:?}; free the port or change it"))?,
        ),
    };
    let stack = Stack::start_services(config, &services).await?;
    if let (Some(http), Some(grpc)) = (stack.http_addr(), stack.grpc_addr()) {
        tracing::info!(http = %http, grpc = %grpc, "gateway listening");
    }
    let stop_metrics = vigil_runtime::CancellationToken::new();
    if let Some(listener) = metrics {
        tracing::info!(listen = ?listener.local_addr().ok(), "serving /metrics");
        tokio::spawn(vigil_gateway::serve_metrics(listener, stop_metrics.clone()));
    }
    let result = serve_until_signal(stack).await;
    stop_metrics.cancel();
    result
}

async fn serve_until_signal(stack: Stack) -> anyhow::Result<()> {
    let signal = wait_for_signal().await;
    match &signal {
        Ok(name) => tracing::info!(signal = name, "stopping"),
        Err(error) => tracing::error!(error = %error, "cannot listen for signals; stopping"),
    }
    stack.stop().await;
    signal.map(|_| ()).context("cannot listen for sigint/sigterm")
}

async fn up(config: Config, path_env: Option<String>) -> anyhow::Result<()> {
    // the bus first: services connect to it as they start, and stop before it
    let nats = match config.up.nats {
        true => Some(OwnServer::start(&config, path_env.as_deref()).await?),
        false => None,
    };
    let result = up_services(&config, path_env).await;
    if let Some(nats) = nats {
        nats.stop().await;
    }
    result
}

async fn up_services(config: &Config, path_env: Option<String>) -> anyhow::Result<()> {
    let mut stack = Stack::start(config.clone()).await?;
    match prepare_up(config, &mut stack, path_env).await {
        Ok(()) => serve_until_signal(stack).await,
        Err(error) => {
            stack.stop().await;
            Err(error)
        }
    }
}

async fn prepare_up(config: &Config, stack: &mut Stack, path_env: Option<String>) -> anyhow::Result<()> {
    let (Some(http), Some(grpc), Some(ca)) = (stack.http_addr(), stack.grpc_addr(), stack.ca_path().map(PathBuf::from)) else {
        anyhow::bail!("the gateway did not start");
    };
    match up::bootstrap(config, stack.pool()).await.context("cannot create the first tenant and admin")? {
        AdminOutcome::Created { email, password } => {
            println!("admin: {email} / {password}");
            println!("(this password is shown once; change it after logging in)");
        }
        AdminOutcome::Exists { email } => println!("admin {email} exists (its password was shown on the first start)"),
    }
    if config.up.agent {
        match agent::find_binary(&config.up.agent_binary, path_env.as_deref()) {
            Ok(binary) => {
                match release::publish_local(&config.data_dir, &binary).await {
                    Ok(Some(manifest)) => println!(
                        "published the local agent build {} for {}-{} at /downloads/{}",
                        manifest.version,
                        manifest.os,
                        manifest.arch,
                        vigil_bus::release::binary_name(&manifest.os, &manifest.arch)
                    ),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot publish the local agent build");
                        eprintln!("vigil: cannot publish the local agent build: {error}");
                    }
                }
                let config_path = agent::ensure_config(config, stack.pool(), grpc, &ca).await?;
                println!("local agent: {} run --config {}", binary.display(), config_path.display());
                stack.spawn(Arc::new(AgentProcess { binary, config_path }));
            }
            Err(error @ AgentError::BinaryNotFound { .. }) => {
                tracing::warn!(error = %error, "running without a local agent");
                eprintln!("vigil: {error}; running without a local agent");
            }
            Err(error) => return Err(error.into()),
        }
    }
    let own = if config.up.nats {
        format!(", its nats-server from {}", config.nats_dir().join("nats-server.conf").display())
    } else {
        String::new()
    };
    println!("nats: {} (services' creds in {}{own})", mask_password(&config.nats.url), config.nats_credentials_path().display());
    println!("vigil is up: dashboard/API http://{}, agents grpc {}", shown(http), config.agent_address(grpc.port()));
    println!("agents on other hosts trust {}", ca.display());
    Ok(())
}

/// Listening everywhere is shown as loopback, an address one can open.
fn shown(addr: SocketAddr) -> SocketAddr {
    agent::local_address(addr)
}

async fn release_command(config: Config, command: ReleaseCommand) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    match command {
        ReleaseCommand::Add { os, arch, release_version, path } => {
            let manifest = tokio::task::spawn_blocking(move || {
                let key = ReleaseKey::ensure(&data_dir)?;
                let what = release::Publish { os: &os, arch: &arch, version: &release_version, binary: &path };
                release::publish(&release::downloads_dir(&data_dir), &key, &what)
            })
            .await??;
            let name = vigil_bus::release::binary_name(&manifest.os, &manifest.arch);
            println!(
                "published sovigilant {} for {}-{} ({} bytes, sha256 {})",
                manifest.version, manifest.os, manifest.arch, manifest.size, manifest.sha256
            );
            println!("served at /downloads/{name} and /downloads/{name}.json; agents install it with `sovigilant update`");
        }
        ReleaseCommand::Key => {
            let key = tokio::task::spawn_blocking(move || ReleaseKey::ensure(&data_dir)).await??;
            println!("{}", key.public_key_base64());
        }
    }
    Ok(())
}

async fn nats_config(config: Config, out: PathBuf, listen: Option<String>, store: Option<PathBuf>) -> anyhow::Result<()> {
    let (host, port) = match &listen {
        Some(listen) => parse_listen(listen)?,
        None => vigil::nats::listen_address(&config.nats.url)?,
    };
    let store = store.unwrap_or_else(|| config.nats_dir());
    let creds_path = config.nats_credentials_path();
    let path = tokio::task::spawn_blocking(move || {
        let path = vigil::nats::write_config(&config, &out, &host, port, &store)?;
        vigil::secret::ensure_nats_credentials(&config.nats_credentials_path(), &config.nats_keys_path())?;
        Ok::<_, anyhow::Error>(path)
    })
    .await??;
    println!("wrote {} (run nats-server -c on it)", path.display());
    println!("services connect with the creds in {} (nats.credentials_file)", creds_path.display());
    Ok(())
}

async fn integrator(config: Config, command: IntegratorCommand) -> anyhow::Result<()> {
    let IntegratorCommand::Create { tenant, name, out } = command;
    check_tenant(&tenant)?;
    let keys_path = config.nats_keys_path();
    let keys =
        tokio::task::spawn_blocking(move || vigil::secret::nats_keys_if_present(&keys_path)).await??.with_context(|| {
            format!(
                "{}: no nats keys; run vigil from the data_dir of the stack (vigil up or vigil nats config made them)",
                config.nats_keys_path().display()
            )
        })?;
    let authority = vigil_gateway::integrators::NatsAuthority { keys, url: config.nats.url.clone() };
    let pool = db::connect_and_migrate(&config.database.url, 2).await?;
    let result = async {
        admin::ensure_tenant(&pool, &tenant, &tenant).await?;
        let created = vigil_gateway::integrators::create(&pool, Some(&authority), &tenant, name.as_deref()).await?;
        println!("integrator id: {} ({}) of tenant {tenant}", created.integrator.id, created.integrator.name);
        println!("account: {}; stream {}; subjects {}", created.account, created.stream, created.subjects.join(" "));
        match out {
            Some(path) => {
                let text = created.credentials.clone();
                let shown = path.display().to_string();
                tokio::task::spawn_blocking(move || vigil_runtime::files::replace(&path, text.as_bytes(), 0o600))
                    .await?
                    .with_context(|| format!("{shown}: cannot write the creds file"))?;
                println!("creds written to {shown} (mode 0600; they cannot be read back)");
            }
            None => {
                print!("{}", created.credentials);
                println!("(the creds are shown once; save them as a .creds file)");
            }
        }
        println!("connect: nats --server {} --creds FILE sub 'metrics.{tenant}.>'", mask_password(&config.nats.url));
        Ok::<_, anyhow::Error>(())
    }
    .await;
    pool.close().await;
    result
}

/// `host:port` of `--listen` (`[v6]:port` too).
fn parse_listen(listen: &str) -> anyhow::Result<(String, u16)> {
    vigil::nats::listen_address(&format!("nats://{listen}"))
        .ok()
        .filter(|_| listen.contains(':'))
        .with_context(|| format!("--listen {listen:?} is not HOST:PORT (e.g. 0.0.0.0:4222)"))
}

async fn tls_ca(config: Config, out: Option<PathBuf>) -> anyhow::Result<()> {
    let tls = tokio::task::spawn_blocking(move || vigil::tls::ensure(&config)).await??;
    let pem = tokio::fs::read_to_string(&tls.ca_path)
        .await
        .with_context(|| format!("{}: cannot read the ca", tls.ca_path.display()))?;
    match out {
        Some(out) => {
            let written = out.clone();
            tokio::task::spawn_blocking(move || vigil_runtime::files::replace(&written, pem.as_bytes(), 0o644))
                .await?
                .with_context(|| format!("{}: cannot write the ca", out.display()))?;
            println!("wrote the ca agents trust ({}) to {}", tls.ca_path.display(), out.display());
        }
        None => print!("{pem}"),
    }
    Ok(())
}

/// How long `vigil ping` waits for an answer.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn ping(config: Config, service: ServiceKind) -> anyhow::Result<()> {
    let nats = vigil::stack::connect_nats(&config, "vigil ping").await?;
    let answered = vigil::supervisor::ping(&nats, service.name(), PING_TIMEOUT).await;
    let _ = nats.drain().await;
    if !answered {
        anyhow::bail!("no {service} answered its nats ping within {} s", PING_TIMEOUT.as_secs());
    }
    println!("{service} answers");
    Ok(())
}

fn check_tenant(tenant: &str) -> anyhow::Result<()> {
    vigil_bus::ids::validate("tenant", tenant).with_context(|| format!("--tenant {tenant:?} cannot be used"))
}

async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let pool = db::connect_and_migrate(&config.database.url, 2).await?;
    let result = async {
        match command {
            TokenCommand::Create { tenant, name, scrape: true } => {
                check_tenant(&tenant)?;
                admin::ensure_tenant(&pool, &tenant, &tenant).await?;
                let created = vigil_gateway::scrape_tokens::create_scrape_token(&pool, &tenant, name.as_deref()).await?;
                println!("scrape token id: {}", created.id);
                println!("scrape token: {}", created.token);
                println!("(the token is shown once; it cannot be read back)");
                println!("give it to Prometheus as the bearer token of GET /api/metrics/prometheus (docs/grafana.md)");
            }
            TokenCommand::Revoke { tenant, id, scrape: true } => {
                check_tenant(&tenant)?;
                vigil_gateway::scrape_tokens::revoke_scrape_token(&pool, &tenant, &id).await?;
                println!("scrape token {id} of tenant {tenant} revoked");
            }
            TokenCommand::Create { tenant, name, scrape: false } => {
                check_tenant(&tenant)?;
                admin::ensure_tenant(&pool, &tenant, &tenant).await?;
                let created = admin::create_agent_token(&pool, &tenant, name.as_deref()).await?;
                println!("token id: {}", created.id);
                println!("token: {}", created.token);
                println!("(the token is shown once; it cannot be read back)");
                println!("install the agent on a host with:");
                println!(
                    "  sovigilant init --server {} --token {} --ca-cert {}",
                    config.agent_address(config.gateway.grpc_listen.port()),
                    created.token,
                    config.ca_path().display()
                );
            }
            TokenCommand::Revoke { tenant, id, scrape: false } => {
                check_tenant(&tenant)?;
                admin::revoke_agent_token(&pool, &tenant, &id).await?;
                println!("token {id} of tenant {tenant} revoked");
            }
        }
        Ok(())
    }
    .await;
    pool.close().await;
    result
}

async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Add { tenant, email, role, password, if_absent } = command;
    check_tenant(&tenant)?;
    let pool = db::connect_and_migrate(&config.database.url, 2).await?;
    let result = async {
        if if_absent && admin::user_exists(&pool, &email).await? {
            println!("user {email} exists; unchanged");
            return Ok(());
        }
        admin::ensure_tenant(&pool, &tenant, &tenant).await?;
        let generated = password.is_none();
        let password = password.unwrap_or_else(up::generate_password);
        let id = admin::add_user(&pool, &tenant, &email, &password, role.into()).await?;
        println!("user {email} ({}) added to tenant {tenant} (id {id})", format!("{role:?}").to_lowercase());
        if generated {
            println!("password: {password}");
            println!("(shown once)");
        }
        Ok(())
    }
    .await;
    pool.close().await;
    result
}
