//! `vigil`: parse the command line, load the configuration (exit 64 when it is
//! bad), set up logging, run the command, print errors lowercase.

mod cli;

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use vigil::config::{Config, LogFormat};

/// glibc gives each thread that allocates under contention an arena of its
/// own (up to 8 per core) and keeps freed memory in them: after a burst of
/// oversized input `vigil` held 72 MiB instead of 23 (`vigil-abuse-bench`),
/// 34 MiB with two arenas. `MALLOC_ARENA_MAX` in the environment still wins.
const MALLOC_ARENAS: i32 = 2;

#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a glibc tunable; called before any
        // other thread exists
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}

/// `EX_USAGE`: the configuration is wrong.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    limit_malloc_arenas();
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
