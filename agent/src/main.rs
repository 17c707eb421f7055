//! The `sovigilant` command: `init`, `run`, `collect`, `metrics`, `status`.
//! Exit codes: 0 success, 1 runtime failure, 64 bad usage or bad config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sovigilant::config::{self, CollectionConfig, Config, ConfigError, InitOptions};
use sovigilant::host::HostCollector;

/// Exit code for a bad configuration or bad arguments (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(name = "sovigilant", version, about = "The Vigil agent: collects host metrics and streams them to the Vigil gateway")]
struct Cli {
    /// Config file.
    #[arg(long, global = true, env = "SOVIGILANT_CONFIG", default_value = config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the config file, register with the gateway and print the host id.
    Init {
        /// Gateway gRPC address, HOST:PORT.
        #[arg(long)]
        server: String,
        /// Agent token given by the Vigil server.
        #[arg(long)]
        token: String,
        /// PEM file of the CA that signed the gateway's certificate.
        #[arg(long)]
        ca_cert: Option<String>,
        /// Display name (default: the hostname).
        #[arg(long)]
        name: Option<String>,
        /// Where the agent keeps its host id and queue.
        #[arg(long)]
        state_dir: Option<String>,
        /// Connect without TLS (tls.enabled: false); only for tests or trusted networks.
        #[arg(long)]
        plaintext: bool,
        /// Overwrite an existing config file.
        #[arg(long)]
        force: bool,
    },
    /// Run the agent (foreground daemon).
    Run,
    /// Collect host metrics and report what was collected.
    Collect {
        /// Collect once and exit (otherwise collect every interval until Ctrl-C).
        #[arg(long)]
        once: bool,
    },
    /// Print the current host metrics.
    Metrics,
    /// Show the running agent's status.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sovigilant: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Init { server, token, ca_cert, name, state_dir, plaintext, force } => {
            sovigilant::logging::init_cli();
            let options = InitOptions { server, token, ca_cert, name, state_dir, tls: !plaintext };
            init(&cli.config, options, force).await
        }
        Command::Run => {
            let config = match load(&cli.config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            if let Err(error) = sovigilant::logging::init_daemon(&config.logging) {
                eprintln!("sovigilant: {}: logging.output: {error}", config.file.display());
                return ExitCode::from(EXIT_CONFIG);
            }
            run(config).await
        }
        Command::Collect { once } => {
            sovigilant::logging::init_cli();
            let collection = match collection_config(&cli.config) {
                Ok(collection) => collection,
                Err(code) => return code,
            };
            collect(collection, once).await
        }
        Command::Metrics => {
            sovigilant::logging::init_cli();
            let collection = match collection_config(&cli.config) {
                Ok(collection) => collection,
                Err(code) => return code,
            };
            metrics(collection).await
        }
        Command::Status => {
            let state_dir = match Config::load(&cli.config) {
                Ok(config) => config.state_dir,
                Err(ConfigError::Read { .. }) => PathBuf::from(config::DEFAULT_STATE_DIR),
                Err(error) => {
                    eprintln!("sovigilant: {error}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match sovigilant::status::read(&state_dir) {
                Some(status) => {
                    print!("{}", sovigilant::status::render(&status, chrono::Utc::now()));
                    ExitCode::SUCCESS
                }
                None => {
                    println!(
                        "sovigilant is not running (no {}); start it with `sovigilant run` or `systemctl start sovigilant`",
                        sovigilant::status::status_path(&state_dir).display()
                    );
                    ExitCode::from(3)
                }
            }
        }
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|error| {
        eprintln!("sovigilant: {error}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// The collection settings: from the config file when there is one, the
/// defaults when there is none (so `collect`/`metrics` work before `init`).
fn collection_config(path: &Path) -> Result<CollectionConfig, ExitCode> {
    match Config::load(path) {
        Ok(config) => Ok(config.collection),
        Err(ConfigError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(CollectionConfig::default())
        }
        Err(error) => {
            eprintln!("sovigilant: {error}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

async fn init(path: &Path, options: InitOptions, force: bool) -> ExitCode {
    if path.exists() && !force {
        eprintln!("sovigilant: {} already exists; pass --force to overwrite it", path.display());
        return ExitCode::from(EXIT_CONFIG);
    }
    let text = config::render_init(&options);
    // Check what we are about to write, so a bad --server or --token is
    // reported before anything is written.
    let config = match Config::parse(path, &text) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sovigilant: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(error) = std::fs::create_dir_all(parent) {
            eprintln!("sovigilant: cannot create {}: {error}", parent.display());
            return ExitCode::from(1);
        }
    }
    if let Err(error) = write_private(path, &text) {
        eprintln!("sovigilant: cannot write {}: {error}", path.display());
        return ExitCode::from(1);
    }
    println!("Wrote {}", path.display());
    match sovigilant::client::register(&config).await {
        Ok(response) => {
            println!("Registered: host id {}", response.host_id);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sovigilant: registration failed: {error}");
            eprintln!("the config is written; `sovigilant run` will keep trying to register");
            ExitCode::from(1)
        }
    }
}

/// Writes the config (it holds the token) readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

async fn run(config: Config) -> ExitCode {
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop signal received; finishing the current write");
        let _ = shutdown_tx.send(true);
        // Keep the sender alive so receivers do not see it dropped.
        std::future::pending::<()>().await;
    });
    match sovigilant::agent::run(config, shutdown_rx).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "sovigilant failed");
            eprintln!("sovigilant: {error}");
            ExitCode::from(1)
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot install SIGTERM handler; only Ctrl-C stops the agent");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn collect_once(collection: &CollectionConfig) -> Result<vigil_proto::HostMetrics, Vec<String>> {
    let metrics = collection.host.metrics.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut collector = HostCollector::new("/proc", metrics);
        collector.collect_blocking_once(Duration::from_millis(250))
    })
    .await;
    match result {
        Ok((host, errors)) if errors.is_empty() => Ok(host),
        Ok((_, errors)) => Err(errors.iter().map(ToString::to_string).collect()),
        Err(join) => Err(vec![join.to_string()]),
    }
}

async fn collect(collection: CollectionConfig, once: bool) -> ExitCode {
    if !collection.host.enabled {
        println!("Host metrics collection is disabled (collection.host.enabled: false)");
        return ExitCode::SUCCESS;
    }
    loop {
        print!("Collecting host metrics... ");
        let code = match collect_once(&collection).await {
            Ok(host) => {
                let mounts = host.disk.as_ref().map(|d| d.mounts.len()).unwrap_or(0);
                let interfaces = host.network.as_ref().map(|n| n.interfaces.len()).unwrap_or(0);
                println!("OK ({mounts} mounts, {interfaces} interfaces)");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                println!("FAILED");
                for error in errors {
                    println!("  {error}");
                }
                ExitCode::from(1)
            }
        };
        if once {
            return code;
        }
        tokio::select! {
            _ = tokio::time::sleep(collection.interval) => {}
            _ = tokio::signal::ctrl_c() => return code,
        }
    }
}

async fn metrics(collection: CollectionConfig) -> ExitCode {
    let metrics = collection.host.metrics.clone();
    let result = tokio::task::spawn_blocking(move || {
        HostCollector::new("/proc", metrics).collect_blocking_once(Duration::from_millis(250))
    })
    .await;
    let (host, errors) = match result {
        Ok(collected) => collected,
        Err(join) => {
            eprintln!("sovigilant: collection failed: {join}");
            return ExitCode::from(1);
        }
    };
    print!("{}", render_host(&host));
    for error in &errors {
        eprintln!("warning: {error}");
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The HOST section of `sovigilant metrics` (seed §3.5).
fn render_host(host: &vigil_proto::HostMetrics) -> String {
    use sovigilant::status::format_uptime;
    let mut out = String::from("HOST\n");
    if let Some(cpu) = &host.cpu {
        out.push_str(&format!("  CPU: {:.1}% ({} cores)\n", cpu.percent, cpu.cores));
    }
    if let Some(memory) = &host.memory {
        out.push_str(&format!(
            "  Memory: {} / {} ({:.0}%)\n",
            human_bytes(memory.used),
            human_bytes(memory.total),
            memory.percent
        ));
    }
    if let Some(disk) = &host.disk {
        for mount in &disk.mounts {
            out.push_str(&format!(
                "  Disk {}: {} / {} ({:.0}%)\n",
                mount.path,
                human_bytes(mount.used),
                human_bytes(mount.total),
                mount.percent
            ));
        }
    }
    if let Some(load) = &host.load {
        out.push_str(&format!("  Load: {:.2} {:.2} {:.2}\n", load.load_1m, load.load_5m, load.load_15m));
    }
    if host.uptime > 0 {
        out.push_str(&format!("  Uptime: {}\n", format_uptime(host.uptime)));
    }
    out
}

/// `4.0GB`, `512MB`, `12KB` (powers of 1024, like the seed's examples).
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}
