//! The `sovigilant` command: `init`, `run`, `collect`, `metrics`, `status`,
//! `logs`, `reset`, `install-service`, `update`.
//! Exit codes: 0 success, 1 runtime failure, 64 bad usage or bad config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sovigilant::collect::{Collectors, SectionReport};
use sovigilant::config::{self, CollectionConfig, Config, ConfigError, InitOptions};
use sovigilant::containers::SectionFailure;
use vigil_runtime::CancellationToken;

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
        /// The gateway's HTTP address for downloads and updates (server.http_url; default http://SERVER-HOST:8080).
        #[arg(long)]
        http_url: Option<String>,
        /// Collection interval (collection.interval; default 10s).
        #[arg(long)]
        interval: Option<String>,
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
    /// Print the log file (logging.output); --follow keeps printing new lines.
    Logs {
        /// Keep printing lines as they are written (like tail -f).
        #[arg(long, short)]
        follow: bool,
    },
    /// Clear the agent's state (host id, sequence number, queue, status); stops nothing.
    Reset {
        /// Confirm: without it nothing is removed.
        #[arg(long)]
        yes: bool,
    },
    /// Install the agent as a system service (systemd unit or OpenRC script).
    InstallService {
        /// Print the service file instead of writing it.
        #[arg(long)]
        print: bool,
        /// Write under this directory instead of / (for tests and packaging).
        #[arg(long)]
        target_dir: Option<PathBuf>,
        /// Init system to write for (default: the one running here).
        #[arg(long, value_parser = ["systemd", "openrc"])]
        init: Option<String>,
        /// Path of the sovigilant binary in the service file (default: this binary).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Install the build the gateway publishes for this os/arch (signature and SHA-256 checked), then restart.
    Update {
        /// Only compare the versions; install nothing.
        #[arg(long)]
        check: bool,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
}

/// How long an idle blocking-pool thread waits for work before it exits:
/// longer than the collection interval (10 s by default, tokio's own default
/// keep-alive), so the same few threads serve every collection.
const BLOCKING_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread runs every task (the collector's and the sender's work is a
    // few milliseconds per interval: worker threads waking and stealing from
    // each other cost more than they give); `/proc`, statvfs and the queue's
    // file I/O run on the blocking pool, whose threads stay alive across
    // intervals instead of being started again for each collection.
    let runtime =
        match tokio::runtime::Builder::new_current_thread().enable_all().thread_keep_alive(BLOCKING_THREAD_KEEP_ALIVE).build() {
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
        Command::Init { server, token, ca_cert, name, state_dir, plaintext, http_url, interval, force } => {
            sovigilant::logging::init_cli();
            let options = InitOptions { server, token, ca_cert, name, state_dir, tls: !plaintext, http_url, interval };
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
            status_command(&state_dir)
        }
        Command::Logs { follow } => {
            let config = match load(&cli.config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            logs(&config, follow).await
        }
        Command::Reset { yes } => {
            let config = match load(&cli.config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            reset(&config.state_dir, yes)
        }
        Command::InstallService { print, target_dir, init, binary } => {
            install_service(&cli.config, print, target_dir, init, binary)
        }
        Command::Update { check, yes } => {
            let config = match load(&cli.config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            update(&config, check, yes).await
        }
    }
}

fn status_command(state_dir: &Path) -> ExitCode {
    {
        {
            match sovigilant::status::read(state_dir) {
                Some(status) => {
                    print!("{}", sovigilant::status::render(&status, chrono::Utc::now()));
                    ExitCode::SUCCESS
                }
                None => {
                    println!(
                        "sovigilant is not running (no {}); start it with `sovigilant run` or `systemctl start sovigilant`",
                        sovigilant::status::status_path(state_dir).display()
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
        Err(ConfigError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(CollectionConfig::default()),
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
    pin_release_key(&config).await;
    pin_action_key(&config).await;
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

/// Pins the server's release key for `update` (trust on first use: a key
/// pinned before is kept). A failure is reported, not fatal.
async fn pin_release_key(config: &Config) {
    use sovigilant::update::{self, Pinned};
    let path = update::pinned_key_path(&config.state_dir);
    match update::pin_server_key(&config.server.http_url, &config.state_dir).await {
        Ok(Pinned::New { key }) => println!("Pinned the release key {key} in {}", path.display()),
        Ok(Pinned::Same { .. }) => println!("The release key pinned in {} is the server's", path.display()),
        Err(error) => {
            eprintln!("sovigilant: cannot pin the release key: {error}");
            eprintln!(
                "`sovigilant update` refuses to install builds until {} holds the server's key (`vigil release key`)",
                path.display()
            );
        }
    }
}

/// Pins the server's action key, which remote actions must be signed with
/// (trust on first use, as the release key). A server that does not serve
/// it (404: remote actions not set up there) or any failure is reported, not
/// fatal: until the key is pinned every action is refused.
async fn pin_action_key(config: &Config) {
    use sovigilant::http::HttpError;
    use sovigilant::update::{self, Pinned, UpdateError};
    let file = sovigilant::actions::PINNED_KEY_FILE;
    let path = sovigilant::actions::pinned_key_path(&config.state_dir);
    match update::pin_served_key(&config.server.http_url, &config.state_dir, file, "action key").await {
        Ok(Pinned::New { key }) => println!("Pinned the action key {key} in {}", path.display()),
        Ok(Pinned::Same { .. }) => println!("The action key pinned in {} is the server's", path.display()),
        Err(UpdateError::Http(HttpError::Status { status: 404, .. })) => {
            println!(
                "The server does not serve /downloads/{file} (remote actions are not set up on it); \
                 remote actions will be refused until {} holds its action key",
                path.display()
            );
        }
        Err(error) => {
            eprintln!("sovigilant: cannot pin the action key: {error}");
            eprintln!(
                "remote actions will be refused until {} holds the server's action key (GET /downloads/{file})",
                path.display()
            );
        }
    }
}

/// `sovigilant update [--check] [--yes]` (seed §3.5): prints the versions,
/// then downloads, verifies, installs and restarts.
async fn update(config: &Config, check: bool, yes: bool) -> ExitCode {
    use sovigilant::update::{self, Restart};
    use std::io::Write;
    let current = env!("CARGO_PKG_VERSION");
    let (os, arch) = update::platform();
    println!("Current version: {current}");
    // `in_step`: a "Step... " line is open and gets its FAILED
    let fail = |in_step: bool, error: &dyn std::fmt::Display| {
        if in_step {
            println!("FAILED");
        }
        eprintln!("sovigilant: {error}");
        ExitCode::from(1)
    };
    let base = match update::base_url(&config.server.http_url) {
        Ok(base) => base,
        Err(error) => return fail(false, &error),
    };
    let (url, manifest) = match update::fetch_manifest(&base, os, arch).await {
        Ok(found) => found,
        Err(error) => return fail(false, &error),
    };
    println!("Latest version: {}", manifest.version);
    let newer = match vigil_bus::release::compare_versions(&manifest.version, current) {
        Some(order) => order.is_gt(),
        None => manifest.version != current,
    };
    if !newer {
        println!("Already up to date.");
        return ExitCode::SUCCESS;
    }
    if check {
        println!("An update is available; install it with `sovigilant update`.");
        return ExitCode::SUCCESS;
    }
    let key = match update::read_pinned_key(&config.state_dir) {
        Ok(key) => key,
        Err(error) => return fail(false, &error),
    };
    if let Err(error) = update::verify_manifest(&url.to_string(), &manifest, &key, os, arch) {
        return fail(false, &error);
    }
    if !yes {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            eprintln!("sovigilant: not installing {} without confirmation; run `sovigilant update --yes`", manifest.version);
            return ExitCode::from(EXIT_CONFIG);
        }
        print!("Install version {}? [y/N] ", manifest.version);
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Nothing installed.");
            return ExitCode::SUCCESS;
        }
    }

    print!("Downloading... ");
    let _ = std::io::stdout().flush();
    let bytes = match update::download(&base, &manifest).await {
        Ok(bytes) => bytes,
        Err(error) => return fail(true, &error),
    };
    println!("OK");

    print!("Installing... ");
    let _ = std::io::stdout().flush();
    let exe = match update::current_exe() {
        Ok(exe) => exe,
        Err(error) => return fail(true, &error),
    };
    let staged = match update::stage(&exe, &bytes) {
        Ok(staged) => staged,
        Err(error) => return fail(true, &error),
    };
    if let Err(error) = update::check_starts(&staged, &manifest.version).await {
        let _ = std::fs::remove_file(&staged);
        return fail(true, &error);
    }
    let swapped = match update::swap(&exe, &staged) {
        Ok(swapped) => swapped,
        Err(error) => return fail(true, &error),
    };
    println!("OK");

    let restart = Restart::detect().await;
    if restart == Restart::Manual {
        println!("Restarting... skipped: no sovigilant service under systemd or OpenRC here; restart the agent yourself");
        println!("Installed {} {} (previous build kept at {})", exe.display(), manifest.version, swapped.old.display());
        return ExitCode::SUCCESS;
    }
    print!("Restarting... ");
    let _ = std::io::stdout().flush();
    match restart.run().await {
        Ok(()) => {
            println!("OK");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("FAILED");
            eprintln!("sovigilant: {error}");
            match swapped.rollback() {
                Ok(()) => {
                    let again = restart.run().await;
                    eprintln!(
                        "sovigilant: rolled back to {current}{}",
                        again.err().map(|e| format!("; restarting it failed too: {e}")).unwrap_or_default()
                    );
                }
                Err(error) => eprintln!("sovigilant: cannot roll back: {error}"),
            }
            ExitCode::from(1)
        }
    }
}

/// Writes the config (it holds the token) readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    vigil_runtime::files::replace(path, text.as_bytes(), 0o600)
}

async fn run(config: Config) -> ExitCode {
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            wait_for_signal().await;
            tracing::info!("stop signal received; finishing the current write");
            shutdown.cancel();
        }
    });
    match sovigilant::agent::run(config, shutdown).await {
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

/// One snapshot for the CLI: every enabled section, the custom metrics run
/// once each (concurrently).
async fn collect_snapshot(collection: &CollectionConfig) -> (vigil_proto::Metrics, Vec<SectionReport>) {
    let mut without_custom = collection.clone();
    without_custom.custom_metrics.clear();
    let mut collectors = Collectors::new(&without_custom, &CancellationToken::new());
    // a base for the cpu percentages
    tokio::time::sleep(Duration::from_millis(250)).await;
    let custom_configs = collection.custom_metrics.clone();
    let custom = async move {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, config) in custom_configs.into_iter().enumerate() {
            tasks.spawn(async move { (index, sovigilant::custom::run_once(&config).await) });
        }
        let mut results = Vec::new();
        while let Some(Ok(result)) = tasks.join_next().await {
            results.push(result);
        }
        results.sort_by_key(|(index, _)| *index);
        results.into_iter().map(|(_, metric)| metric).collect::<Vec<_>>()
    };
    let ((mut metrics, mut reports), custom) = tokio::join!(collectors.snapshot_with_reports(), custom);
    if let Some(report) = reports.iter_mut().find(|r| r.section == "custom_metrics") {
        report.enabled = !collection.custom_metrics.is_empty();
        report.count = custom.len();
        report.errors = custom
            .iter()
            .filter(|m| !m.error.is_empty())
            .map(|m| SectionFailure { section: format!("custom_metrics.{}", m.name), error: m.error.clone() })
            .collect();
    }
    metrics.custom = custom;
    (metrics, reports)
}

async fn collect(collection: CollectionConfig, once: bool) -> ExitCode {
    loop {
        let (metrics, reports) = collect_snapshot(&collection).await;
        let mut code = ExitCode::SUCCESS;
        for report in reports.iter().filter(|r| r.enabled) {
            let (label, summary) = match report.section {
                "host" => {
                    let mounts = metrics.host.as_ref().and_then(|h| h.disk.as_ref()).map_or(0, |d| d.mounts.len());
                    let interfaces = metrics.host.as_ref().and_then(|h| h.network.as_ref()).map_or(0, |n| n.interfaces.len());
                    ("host metrics", format!("{mounts} mounts, {interfaces} interfaces"))
                }
                "containers" => ("container metrics", plural(report.count, "container")),
                "services" => ("service metrics", plural(report.count, "service")),
                _ => ("custom metrics", plural(report.count, "metric")),
            };
            if report.errors.is_empty() {
                println!("Collecting {label}... OK ({summary})");
            } else {
                println!("Collecting {label}... FAILED ({summary})");
                for error in &report.errors {
                    println!("  {}: {}", error.section, error.error);
                }
                code = ExitCode::from(1);
            }
        }
        if once {
            return code;
        }
        tokio::select! {
            _ = tokio::time::sleep(collection.interval) => {}
            _ = tokio::signal::ctrl_c() => return code,
        }
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

async fn metrics(collection: CollectionConfig) -> ExitCode {
    let (metrics, reports) = collect_snapshot(&collection).await;
    if let Some(host) = &metrics.host {
        print!("{}", render_host(host));
    }
    if collection.containers.enabled {
        print!("\n{}", render_containers(&metrics.containers));
    }
    if collection.services.enabled || !metrics.services.is_empty() {
        print!("\n{}", render_services(&metrics.services));
    }
    if !metrics.custom.is_empty() {
        print!("\n{}", render_custom(&metrics.custom));
    }
    let mut failed = false;
    for report in &reports {
        for error in &report.errors {
            if report.section != "custom_metrics" {
                eprintln!("warning: {}: {}", error.section, error.error);
            }
            failed = true;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The CONTAINERS section (seed §3.5).
fn render_containers(containers: &[vigil_proto::ContainerMetrics]) -> String {
    let mut out = String::from("CONTAINERS\n");
    if containers.is_empty() {
        out.push_str("  (none)\n");
    }
    let width = containers.iter().map(|c| c.name.len()).max().unwrap_or(0).max(8);
    for c in containers {
        let cpu = format!("CPU: {:.1}%", c.cpu_percent);
        out.push_str(&format!(
            "  {:<width$}  {:<8} {:<11} MEM: {}/{}\n",
            c.name,
            c.status,
            cpu,
            human_bytes(c.memory_used),
            human_bytes(c.memory_limit),
        ));
    }
    out
}

/// The SERVICES section (seed §3.5).
fn render_services(services: &[vigil_proto::ServiceMetrics]) -> String {
    let mut out = String::from("SERVICES\n");
    if services.is_empty() {
        out.push_str("  (none)\n");
    }
    let width = services.iter().map(|s| s.name.len()).max().unwrap_or(0).max(8);
    for s in services {
        let pid = format!("PID: {}", s.pid);
        let mut line = format!("  {:<width$}  {:<10} {:<12} MEM: {}", s.name, s.status, pid, human_bytes(s.memory));
        if !s.ports.is_empty() {
            let ports: Vec<String> = s.ports.iter().map(u32::to_string).collect();
            line.push_str(&format!("  PORTS: {}", ports.join(",")));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The CUSTOM section.
fn render_custom(custom: &[vigil_proto::CustomMetric]) -> String {
    let mut out = String::from("CUSTOM\n");
    for metric in custom {
        if metric.error.is_empty() {
            out.push_str(&format!("  {}  {} ({})\n", metric.name, metric.value, metric.r#type));
        } else {
            out.push_str(&format!("  {}  error: {}\n", metric.name, metric.error));
        }
    }
    out
}

/// `sovigilant logs [--follow]`.
async fn logs(config: &Config, follow: bool) -> ExitCode {
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Some(path) = config.logging.output.clone() else {
        println!(
            "sovigilant logs to stderr (logging.output is not set in {}); see them with `journalctl -u sovigilant` (systemd) or in the service manager's log, or set logging.output to a file",
            config.file.display()
        );
        return ExitCode::SUCCESS;
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) => {
            eprintln!("sovigilant: cannot open the log file {}: {error}; has the agent run yet?", path.display());
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut position: u64 = 0;
    loop {
        match file.read(&mut buffer).await {
            Ok(0) => {
                let _ = stdout.flush();
                if !follow {
                    return ExitCode::SUCCESS;
                }
                // rotated or truncated: start again from the new file
                let current = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(position);
                if current < position {
                    if let Ok(reopened) = tokio::fs::File::open(&path).await {
                        file = reopened;
                        position = 0;
                        continue;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
                }
                let _ = file.seek(std::io::SeekFrom::Start(position)).await;
            }
            Ok(read) => {
                position += read as u64;
                if stdout.write_all(&buffer[..read]).is_err() {
                    return ExitCode::SUCCESS;
                }
            }
            Err(error) => {
                eprintln!("sovigilant: cannot read {}: {error}", path.display());
                return ExitCode::from(1);
            }
        }
    }
}

/// Files `reset` removes from the state directory.
const STATE_FILES: &[&str] = &["host_id", "seq", "status.json"];

/// `sovigilant reset --yes`.
fn reset(state_dir: &Path, yes: bool) -> ExitCode {
    if !yes {
        println!(
            "This removes the host id, the sequence number, the queued snapshots and the status file in {}.\nThe agent will register again as a new host. Run `sovigilant reset --yes` to confirm (stop the agent first).",
            state_dir.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let entries = match std::fs::read_dir(state_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            println!("Nothing to reset: {} does not exist", state_dir.display());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("sovigilant: cannot list {}: {error}", state_dir.display());
            return ExitCode::from(1);
        }
    };
    let mut removed = 0;
    let mut code = ExitCode::SUCCESS;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_queue = path.is_dir() && (name == "queue" || name == sovigilant::queue::ACKED_DIR);
        if !is_queue && !STATE_FILES.contains(&name.as_str()) && !name.ends_with(".tmp") {
            continue;
        }
        let result = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        match result {
            Ok(()) => removed += 1,
            Err(error) => {
                eprintln!("sovigilant: cannot remove {}: {error}", path.display());
                code = ExitCode::from(1);
            }
        }
    }
    println!("Reset {}: removed {removed} entries; the agent registers again at its next start", state_dir.display());
    code
}

/// The systemd unit `install-service` writes.
fn systemd_unit(binary: &Path, config: &Path) -> String {
    format!(
        "[Unit]\nDescription=SOGOMS Vigil Agent (sovigilant)\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=simple\nExecStart={} --config {} run\nRestart=always\nRestartSec=5\nKillSignal=SIGTERM\nTimeoutStopSec=30\n\n[Install]\nWantedBy=multi-user.target\n",
        binary.display(),
        config.display()
    )
}

/// The OpenRC script `install-service` writes.
fn openrc_script(binary: &Path, config: &Path) -> String {
    format!(
        "#!/sbin/openrc-run\n# sovigilant: the Vigil agent\n\nname=\"sovigilant\"\ndescription=\"SOGOMS Vigil Agent\"\ncommand=\"{}\"\ncommand_args=\"--config {} run\"\ncommand_background=\"yes\"\npidfile=\"/run/${{RC_SVCNAME}}.pid\"\nsupervisor=\"supervise-daemon\"\nrespawn_delay=5\nrespawn_max=0\noutput_log=\"/var/log/sovigilant.out\"\nerror_log=\"/var/log/sovigilant.err\"\n\ndepend() {{\n\tneed net\n\tafter firewall\n}}\n",
        binary.display(),
        config.display()
    )
}

fn install_service(
    config: &Path,
    print: bool,
    target_dir: Option<PathBuf>,
    init: Option<String>,
    binary: Option<PathBuf>,
) -> ExitCode {
    use sovigilant::services::InitSystem;
    let init = match init.as_deref() {
        Some("systemd") => InitSystem::Systemd,
        Some("openrc") => InitSystem::OpenRc,
        _ => InitSystem::detect(),
    };
    let binary = binary.or_else(|| std::env::current_exe().ok()).unwrap_or_else(|| PathBuf::from("/usr/local/bin/sovigilant"));
    let config = std::path::absolute(config).unwrap_or_else(|_| config.to_owned());
    let (path, text, mode, next) = match init {
        InitSystem::Systemd => (
            "etc/systemd/system/sovigilant.service",
            systemd_unit(&binary, &config),
            0o644,
            "systemctl daemon-reload\n  systemctl enable --now sovigilant\n  sovigilant status",
        ),
        InitSystem::OpenRc => (
            "etc/init.d/sovigilant",
            openrc_script(&binary, &config),
            0o755,
            "rc-update add sovigilant default\n  rc-service sovigilant start\n  sovigilant status",
        ),
        InitSystem::None => {
            eprintln!("sovigilant: neither systemd (/run/systemd/system) nor OpenRC (/run/openrc) runs here; pass --init systemd or --init openrc, or start `sovigilant run` from your own supervisor");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if print {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let target = target_dir.unwrap_or_else(|| PathBuf::from("/")).join(path);
    if let Some(parent) = target.parent() {
        if let Err(error) = std::fs::create_dir_all(parent) {
            eprintln!("sovigilant: cannot create {}: {error}", parent.display());
            return ExitCode::from(1);
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let written =
        std::fs::write(&target, &text).and_then(|()| std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)));
    if let Err(error) = written {
        eprintln!("sovigilant: cannot write {}: {error} (run as root?)", target.display());
        return ExitCode::from(1);
    }
    println!("Wrote {}\nNext:\n  {next}", target.display());
    ExitCode::SUCCESS
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
