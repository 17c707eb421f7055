//! `vigil`: parse the command line, load the configuration (exit 64 when it is
//! bad), set up logging, run the command, print errors lowercase.

mod cli;

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use vigil::config::{Config, LogFormat};

/// How often freed memory is handed back to the system.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// glibc keeps freed memory in its per-thread arenas: after a burst of
/// oversized input `vigil` held 72 MiB instead of 23 (`vigil-abuse-bench`).
/// Fewer arenas (`M_ARENA_MAX=2`) gave it back but cost about 17 % more CPU
/// per snapshot in `vigil-bench` (lock contention); trimming every
/// [`TRIM_EVERY`] gives it back at no measurable cost.
#[allow(unsafe_code)]
fn trim_freed_memory_periodically() {
    let spawned = std::thread::Builder::new().name("vigil-malloc-trim".into()).spawn(|| loop {
        std::thread::sleep(TRIM_EVERY);
        // SAFETY: malloc_trim only returns free pages of glibc's heaps to
        // the system; it takes each arena's lock like any allocation
        unsafe {
            libc::malloc_trim(0);
        }
    });
    if let Err(error) = spawned {
        eprintln!("vigil: cannot start the memory trimming thread: {error}");
    }
}

/// `EX_USAGE`: the configuration is wrong.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    trim_freed_memory_periodically();
    let cli = cli::Cli::parse();
    // non-UTF-8 variables cannot be overrides; they are not ours
    let env: HashMap<String, String> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let (config_path, _) = Config::path(cli.config.as_deref(), &env);
    let config = match Config::load(cli.config.as_deref(), &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("vigil: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vigil: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let path_env = env.get("PATH").cloned();
    match runtime.block_on(cli::execute(cli.command, config, config_path, path_env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vigil: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    // the level was validated when the configuration was loaded
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
