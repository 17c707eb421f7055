//! The running agent's status, shared between its tasks and written to
//! `state_dir/status.json` every few seconds for `sovigilant status`.
//!
//! Invariants: a reader gets a whole document or none: the file is
//! rewritten in place (`pwrite` of the new text, then truncated to its
//! length) and [`read`] reads again when what it read does not parse (a
//! write caught halfway). It is neither replaced through a new file and a
//! rename nor fsynced: it describes the running process and is rewritten
//! every [`STATUS_PERIOD`], and on ext4 a rename over it costs a new inode,
//! a writeback started at once and the old blocks' discard, which at two
//! writes per 10 s collection was an eighth of the agent's CPU; a crash of
//! the machine may at worst leave an old or empty file, which reads as "not
//! running" and restarts `metrics_sent` from 0. `run` removes it on a clean
//! stop, so a missing file means "not running" and a file whose
//! `updated_at` is old means the agent died without cleaning up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// File name under `state_dir`.
pub const STATUS_FILE: &str = "status.json";
/// How often `run` rewrites the file.
pub const STATUS_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// What `status.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusFile {
    pub pid: u32,
    pub agent_id: Option<String>,
    pub server: String,
    pub connected: bool,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Time of the last snapshot the gateway acknowledged.
    pub last_push: Option<DateTime<Utc>>,
    /// Snapshots acknowledged by the gateway, over every run.
    pub metrics_sent: u64,
    /// Snapshots waiting in the on-disk queue.
    pub queued: u64,
}

/// Live counters updated by the sender and the collector.
#[derive(Debug)]
pub struct Status {
    server: String,
    started_at: DateTime<Utc>,
    connected: AtomicBool,
    metrics_sent: AtomicU64,
    queued: AtomicU64,
    agent_id: Mutex<Option<String>>,
    last_push: Mutex<Option<DateTime<Utc>>>,
}

impl Status {
    /// `previous` (the last run's file, if any) carries `metrics_sent` over.
    pub fn new(server: String, agent_id: Option<String>, previous: Option<&StatusFile>) -> Self {
        Self {
            server,
            started_at: Utc::now(),
            connected: AtomicBool::new(false),
            metrics_sent: AtomicU64::new(previous.map(|p| p.metrics_sent).unwrap_or(0)),
            queued: AtomicU64::new(0),
            agent_id: Mutex::new(agent_id),
            last_push: Mutex::new(previous.and_then(|p| p.last_push)),
        }
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn set_agent_id(&self, id: &str) {
        *self.agent_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_owned());
    }

    pub fn set_queued(&self, queued: usize) {
        self.queued.store(queued as u64, Ordering::Relaxed);
    }

    /// Records one snapshot acknowledged by the gateway.
    pub fn record_ack(&self) {
        self.metrics_sent.fetch_add(1, Ordering::Relaxed);
        *self.last_push.lock().unwrap_or_else(|p| p.into_inner()) = Some(Utc::now());
    }

    pub fn metrics_sent(&self) -> u64 {
        self.metrics_sent.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> StatusFile {
        StatusFile {
            pid: std::process::id(),
            agent_id: self.agent_id.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            server: self.server.clone(),
            connected: self.connected(),
            started_at: self.started_at,
            updated_at: Utc::now(),
            last_push: *self.last_push.lock().unwrap_or_else(|p| p.into_inner()),
            metrics_sent: self.metrics_sent(),
            queued: self.queued.load(Ordering::Relaxed),
        }
    }
}

pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATUS_FILE)
}

/// Writes the status file in place (no new file, no rename, no fsync).
pub fn write(state_dir: &Path, status: &StatusFile) -> Result<(), crate::queue::QueueError> {
    use std::os::unix::fs::FileExt;
    let text = serde_json::to_vec_pretty(status).unwrap_or_default();
    let path = status_path(state_dir);
    let io = |action: &'static str| {
        let path = path.clone();
        move |source| crate::queue::QueueError::Io { action, path, source }
    };
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&path).map_err(io("open"))?;
    file.write_all_at(&text, 0).map_err(io("write"))?;
    file.set_len(text.len() as u64).map_err(io("truncate"))?;
    Ok(())
}

/// Reads the status file; `None` when absent or unreadable. A document that
/// does not parse is read again a few times (a write caught halfway).
pub fn read(state_dir: &Path) -> Option<StatusFile> {
    let path = status_path(state_dir);
    for attempt in 0..4 {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let text = std::fs::read(&path).ok()?;
        if let Ok(status) = serde_json::from_slice(&text) {
            return Some(status);
        }
    }
    None
}

/// `5d 12h 30m`, `3m 12s`, `42s`.
pub fn format_uptime(seconds: u64) -> String {
    let (days, hours, minutes, secs) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes}m")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `45,230`.
pub fn format_count(value: u64) -> String {
    let digits = value.to_string();
    let lead = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        rest => rest,
    };
    let mut out = digits[..lead].to_owned();
    for group in digits.as_bytes()[lead..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

/// The text `sovigilant status` prints for `status` at time `now`.
pub fn render(status: &StatusFile, now: DateTime<Utc>) -> String {
    let stale = now.signed_duration_since(status.updated_at).num_seconds() > 3 * STATUS_PERIOD.as_secs() as i64;
    let state = if stale {
        format!("not running (last seen {})", ago(status.updated_at, now))
    } else if status.connected {
        "connected".to_owned()
    } else {
        "disconnected".to_owned()
    };
    let uptime = if stale {
        "-".to_owned()
    } else {
        format_uptime(now.signed_duration_since(status.started_at).num_seconds().max(0) as u64)
    };
    let last_push = status.last_push.map(|t| ago(t, now)).unwrap_or_else(|| "never".to_owned());
    format!(
        "Agent ID: {}\nStatus: {state}\nServer: {}\nUptime: {uptime}\nLast push: {last_push}\nMetrics sent: {}\nQueued: {}\n",
        status.agent_id.as_deref().unwrap_or("(not registered yet)"),
        status.server,
        format_count(status.metrics_sent),
        format_count(status.queued),
    )
}

fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", format_uptime(now.signed_duration_since(then).num_seconds().max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_seed() {
        assert_eq!(format_uptime(5 * 86_400 + 12 * 3600 + 30 * 60), "5d 12h 30m");
        assert_eq!(format_uptime(2), "2s");
        assert_eq!(format_count(45_230), "45,230");
        assert_eq!(format_count(1_000_000), "1,000,000");
        assert_eq!(format_count(999), "999");
    }

    #[test]
    fn stale_status_says_not_running() {
        let now = Utc::now();
        let mut status = StatusFile {
            pid: 1,
            agent_id: Some("host-abc123".into()),
            server: "gw:9090".into(),
            connected: true,
            started_at: now - chrono::Duration::seconds(90),
            updated_at: now - chrono::Duration::seconds(1),
            last_push: Some(now - chrono::Duration::seconds(2)),
            metrics_sent: 45_230,
            queued: 0,
        };
        let text = render(&status, now);
        assert!(text.contains("Agent ID: host-abc123\nStatus: connected\n"), "{text}");
        assert!(text.contains("Last push: 2s ago"), "{text}");
        assert!(text.contains("Metrics sent: 45,230"), "{text}");
        status.updated_at = now - chrono::Duration::seconds(600);
        assert!(render(&status, now).contains("Status: not running"));
    }

    #[test]
    fn rewrites_in_place_shorter_and_longer() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let mut status = StatusFile {
            pid: 42,
            agent_id: Some("a-much-longer-agent-identifier".into()),
            server: "gw:9090".into(),
            connected: true,
            started_at: now,
            updated_at: now,
            last_push: Some(now),
            metrics_sent: 123_456_789,
            queued: 7,
        };
        write(dir.path(), &status).unwrap();
        assert_eq!(read(dir.path()).unwrap(), status);
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(status_path(dir.path())).unwrap());
        status.agent_id = None;
        status.last_push = None;
        status.metrics_sent = 1;
        write(dir.path(), &status).unwrap();
        assert_eq!(read(dir.path()).unwrap(), status, "no leftover of the longer document");
        let same = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(status_path(dir.path())).unwrap());
        assert_eq!(inode, same, "rewritten in place");
        // a document caught halfway does not parse: None after the retries
        std::fs::write(status_path(dir.path()), b"{\"pid\": 4").unwrap();
        assert_eq!(read(dir.path()), None);
    }
}
