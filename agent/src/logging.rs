//! Log output: stderr, or the `logging.output` file rotated at
//! `logging.max_size` keeping `logging.max_files` old files
//! (`sovigilant.log.1` is the newest rotated one). `RUST_LOG`, when set,
//! overrides `logging.level`: a default level and/or `target=level`
//! directives separated by commas (`debug`, `warn,sovigilant=debug`); a
//! value that does not parse is ignored. (These are [`Targets`] filters, not
//! the span and field filters of tracing's `EnvFilter`, whose regex engine
//! would add a quarter of a megabyte to the binary.)

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LoggingConfig;

/// A log file that rotates itself when it would grow past `max_size`.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl RotatingFile {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self { path: path.to_owned(), file, size, max_size, max_files })
    }

    fn rotated(&self, index: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{index}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.max_files == 0 {
            self.file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.max_files));
            for index in (1..self.max_files).rev() {
                let from = self.rotated(index);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(index + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
            self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_size {
            self.rotate()?;
        }
        let written = self.file.write(buf)?;
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// `RUST_LOG` when it is set and parses, else `level`.
fn filter(level: &str) -> Targets {
    parse_filter(std::env::var("RUST_LOG").ok().as_deref(), level)
}

fn parse_filter(rust_log: Option<&str>, level: &str) -> Targets {
    rust_log
        .filter(|value| !value.trim().is_empty())
        .and_then(|value| value.trim().parse::<Targets>().ok())
        .or_else(|| level.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Installs the daemon's logger (stderr or the rotated file).
pub fn init_daemon(config: &LoggingConfig) -> io::Result<()> {
    let filter = filter(config.level.name());
    match &config.output {
        Some(path) => {
            let file = RotatingFile::open(path, config.max_size, config.max_files)
                .map_err(|error| io::Error::new(error.kind(), format!("cannot open the log file {}: {error}", path.display())))?;
            let layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(Mutex::new(file));
            let _ = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
        }
        None => {
            let layer = tracing_subscriber::fmt::layer().with_ansi(io::stderr().is_terminal()).with_writer(io::stderr);
            let _ = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
        }
    }
    Ok(())
}

/// Installs a quiet stderr logger for one-shot commands (warnings and up).
pub fn init_cli() {
    let layer = tracing_subscriber::fmt::layer().with_ansi(io::stderr().is_terminal()).with_writer(io::stderr);
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter("warn"))).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_directives_override_the_level() {
        use tracing::Level;
        let config = parse_filter(None, "info");
        assert!(config.would_enable("sovigilant::agent", &Level::INFO));
        assert!(!config.would_enable("sovigilant::agent", &Level::DEBUG));
        let env = parse_filter(Some("warn,sovigilant=debug"), "info");
        assert!(env.would_enable("sovigilant::services", &Level::DEBUG));
        assert!(!env.would_enable("h2::codec", &Level::INFO));
        assert!(env.would_enable("h2::codec", &Level::WARN));
        assert!(parse_filter(Some("debug"), "warn").would_enable("anything", &Level::DEBUG));
        // unset, empty or unparsable: the configured level
        for ignored in [Some(""), Some("sovigilant=loud")] {
            let filter = parse_filter(ignored, "error");
            assert!(filter.would_enable("x", &Level::ERROR) && !filter.would_enable("x", &Level::WARN), "{ignored:?}");
        }
    }

    #[test]
    fn rotates_past_max_size_keeping_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.log");
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        for _ in 0..10 {
            file.write_all(&[b'x'; 60]).unwrap();
        }
        file.flush().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 60);
        assert!(dir.path().join("agent.log.1").exists());
        assert!(dir.path().join("agent.log.2").exists());
        assert!(!dir.path().join("agent.log.3").exists());
    }
}
