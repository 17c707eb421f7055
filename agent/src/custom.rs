//! Custom metrics (`collection.custom_metrics`): a shell command (`sh -c`)
//! printing one number, run on its own interval in its own task.
//!
//! Invariants: the snapshot only reads the latest result ([`CustomMetrics::latest`]),
//! it never waits on a command; a command is killed when it runs past its
//! `timeout` (the child is spawned with `kill_on_drop`); a non-zero exit, an
//! output that is not a number, or a timeout is reported in
//! `CustomMetric.error` (value 0). A metric appears in snapshots once its
//! first run has finished.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Command;
use vigil_proto::CustomMetric;
use vigil_runtime::CancellationToken;

use crate::config::CustomMetricConfig;

/// Most bytes of a command's stderr quoted in an error.
const STDERR_QUOTE: usize = 200;

/// Runs a shell command with a timeout; the outcome, for reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    Exited { code: Option<i32>, stdout: String, stderr: String },
    TimedOut,
    SpawnFailed(String),
}

/// Runs `sh -c command`, killing it after `timeout`. The command runs in a
/// process group of its own, and the whole group is killed at the timeout, so
/// a `sleep` forked by the shell does not outlive it.
pub async fn run_shell(command: &str, timeout: Duration) -> CommandOutcome {
    use tokio::io::AsyncReadExt;
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return CommandOutcome::SpawnFailed(error.to_string()),
    };
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let run = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(pipe) = stdout.as_mut() {
                let _ = pipe.take(1024 * 1024).read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(pipe) = stderr.as_mut() {
                let _ = pipe.take(64 * 1024).read_to_end(&mut err).await;
            }
        };
        let (status, _, _) = tokio::join!(child.wait(), read_out, read_err);
        (status, out, err)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((Ok(status), stdout, stderr)) => CommandOutcome::Exited {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        },
        Ok((Err(error), _, _)) => CommandOutcome::SpawnFailed(error.to_string()),
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            // `child` is dropped here: kill_on_drop kills and reaps the shell
            CommandOutcome::TimedOut
        }
    }
}

/// Sends SIGKILL to the process group `pgid` (the command and what it forked).
#[allow(unsafe_code)]
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else { return };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and has no memory effects; a
    // negative pid addresses the group we created with process_group(0).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Runs one custom metric once.
pub async fn run_once(config: &CustomMetricConfig) -> CustomMetric {
    let mut metric = CustomMetric { name: config.name.clone(), r#type: config.kind.name().to_owned(), ..Default::default() };
    match run_shell(&config.command, config.timeout).await {
        CommandOutcome::Exited { code: Some(0), stdout, .. } => match stdout.trim().parse::<f64>() {
            Ok(value) if value.is_finite() => metric.value = value,
            _ => {
                let shown: String = stdout.trim().chars().take(80).collect();
                metric.error = format!("output {shown:?} is not a number");
            }
        },
        CommandOutcome::Exited { code, stderr, .. } => {
            let code = code.map_or_else(|| "killed by a signal".to_owned(), |c| format!("exited with status {c}"));
            let stderr: String = stderr.trim().chars().take(STDERR_QUOTE).collect();
            metric.error = if stderr.is_empty() { code } else { format!("{code}: {stderr}") };
        }
        CommandOutcome::TimedOut => {
            metric.error = format!("timed out after {}s", format_seconds(config.timeout));
        }
        CommandOutcome::SpawnFailed(error) => metric.error = format!("cannot run sh -c: {error}"),
    }
    metric
}

fn format_seconds(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds.fract() == 0.0 {
        format!("{}", seconds as u64)
    } else {
        format!("{seconds:.1}")
    }
}

/// The running custom metrics: one task each, results shared.
#[derive(Debug, Clone)]
pub struct CustomMetrics {
    names: Vec<String>,
    latest: Arc<Mutex<HashMap<String, CustomMetric>>>,
}

impl CustomMetrics {
    /// Starts one task per metric; they stop when `stop` is cancelled.
    pub fn start(configs: &[CustomMetricConfig], stop: CancellationToken) -> Self {
        let latest: Arc<Mutex<HashMap<String, CustomMetric>>> = Arc::default();
        for config in configs.iter().cloned() {
            let latest = latest.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(config.interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        () = stop.cancelled() => return,
                    }
                    if stop.is_cancelled() {
                        return;
                    }
                    let metric = tokio::select! {
                        metric = run_once(&config) => metric,
                        () = stop.cancelled() => return,
                    };
                    if !metric.error.is_empty() {
                        tracing::warn!(metric = %config.name, error = %metric.error, "custom metric failed");
                    }
                    latest.lock().unwrap_or_else(|p| p.into_inner()).insert(config.name.clone(), metric);
                }
            });
        }
        Self { names: configs.iter().map(|c| c.name.clone()).collect(), latest }
    }

    /// The latest result of each metric that has run, in config order.
    pub fn latest(&self) -> Vec<CustomMetric> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        self.names.iter().filter_map(|name| latest.get(name).cloned()).collect()
    }
}
