//! The bounded on-disk queue of snapshots waiting for the gateway's `Ack`.
//!
//! Layout under `state_dir`:
//! - `queue/<seq:020>.pb`: one prost-encoded `Metrics` per file, named by its
//!   sequence number so a directory listing sorts in sending order;
//! - `acked/<seq:020>.pb`: the newest snapshot once acknowledged, moved
//!   there (renamed, not deleted) as the record of the last sequence number;
//!   one file (an older record is removed once a newer one is in place);
//!   never sent again;
//! - `seq`: a sequence number handed out (decimal text), written only when a
//!   snapshot file that may be the newest is removed as corrupt (and by
//!   versions before the `.acked` record, which wrote it before every
//!   snapshot).
//!
//! Invariants:
//! - `seq` is strictly increasing across restarts: the newest sequence
//!   number handed out is always on disk, in the newest snapshot file (made
//!   durable before `push` returns), in the `acked/` record it is renamed to
//!   when acknowledged (the record of an older one is removed only after),
//!   or in `seq` (written durably before a possibly-newest corrupt file is
//!   removed); on open the counter resumes from the largest of the three;
//!   one fsynced file per snapshot (not two) is the cost;
//! - a snapshot file is complete or absent: it is written to a `.tmp` file,
//!   fsynced, then renamed (and the directory fsynced);
//! - at most `max_snapshots` files: pushing one more removes the oldest (the
//!   drop is logged with how many were dropped);
//! - a file that does not decode (or whose `seq` does not match its name) is
//!   logged and removed, at open or when it is read.
//!
//! All methods do blocking file I/O: async code calls them from
//! `spawn_blocking` (see [`SharedQueue`]).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use prost::Message;
use vigil_proto::Metrics;

/// The directory under `state_dir` of the newest acknowledged snapshot's record.
pub const ACKED_DIR: &str = "acked";

/// The queue shared by the collector (push) and the sender (read, ack).
pub type SharedQueue = Arc<Mutex<Queue>>;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot {action} {path}: {source}; check that the agent can write to its state_dir")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> QueueError + 'a {
    move |source| QueueError::Io { action, path: path.to_owned(), source }
}

#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    /// `state_dir/acked`: the record of the newest acknowledged snapshot.
    acked_dir: PathBuf,
    seq_file: PathBuf,
    max_snapshots: usize,
    last_seq: u64,
    entries: BTreeSet<u64>,
    /// The record in `acked/`, if any.
    acked: Option<u64>,
}

impl Queue {
    /// Opens (creating it if needed) the queue in `state_dir/queue`,
    /// recovering what a previous run left: corrupt and half-written files are
    /// removed, the rest kept in order.
    pub fn open(state_dir: &Path, max_snapshots: usize) -> Result<Queue, QueueError> {
        let dir = state_dir.join("queue");
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let acked_dir = state_dir.join(ACKED_DIR);
        fs::create_dir_all(&acked_dir).map_err(io("create", &acked_dir))?;
        let seq_file = state_dir.join("seq");
        let persisted_seq = match fs::read_to_string(&seq_file) {
            Ok(text) => match text.trim().parse::<u64>() {
                Ok(seq) => seq,
                Err(_) => {
                    tracing::error!(path = %seq_file.display(), content = %text.trim(), "sequence file is corrupt; resuming after the newest queued snapshot");
                    0
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(io("read", &seq_file)(error)),
        };

        let mut entries = BTreeSet::new();
        let mut records = BTreeSet::new();
        // the largest number any file names, corrupt ones included
        let mut named_max = 0;
        let mut corrupt = Vec::new();
        for dir_entry in fs::read_dir(&dir).map_err(io("list", &dir))? {
            let dir_entry = dir_entry.map_err(io("list", &dir))?;
            let path = dir_entry.path();
            let name = dir_entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                tracing::warn!(path = %path.display(), "removing a half-written snapshot left by a crash");
                remove_file(&path)?;
                continue;
            }
            let Some(seq) = parse_name(&name) else {
                tracing::warn!(path = %path.display(), "ignoring a file that is not a queued snapshot");
                continue;
            };
            named_max = named_max.max(seq);
            match read_snapshot(&path, seq) {
                Ok(_) => {
                    entries.insert(seq);
                }
                Err(reason) => {
                    tracing::error!(path = %path.display(), seq, reason = %reason, "corrupt queued snapshot removed");
                    // removed below, once the number it carried is recorded
                    corrupt.push(seq);
                }
            }
        }
        for dir_entry in fs::read_dir(&acked_dir).map_err(io("list", &acked_dir))? {
            let dir_entry = dir_entry.map_err(io("list", &acked_dir))?;
            match parse_name(&dir_entry.file_name().to_string_lossy()) {
                Some(seq) => {
                    named_max = named_max.max(seq);
                    records.insert(seq);
                }
                None => remove_file(&dir_entry.path())?, // a crash's leftover
            }
        }
        let last_seq = persisted_seq.max(named_max);
        let acked = records.last().copied();
        let mut queue = Queue { dir, acked_dir, seq_file, max_snapshots: max_snapshots.max(1), last_seq, entries, acked };
        if !corrupt.is_empty() {
            // a corrupt file may have been the newest: keep its number
            write_atomic(&queue.seq_file, last_seq.to_string().as_bytes())?;
            for seq in corrupt {
                remove_file(&queue.path(seq))?;
            }
        }
        // older records are redundant
        for seq in records.iter().filter(|seq| Some(**seq) != acked) {
            remove_file(&queue.record_path(*seq))?;
        }
        queue.enforce_bound()?;
        if !queue.entries.is_empty() {
            tracing::info!(queued = queue.entries.len(), last_seq, "recovered queued snapshots");
        }
        Ok(queue)
    }

    /// Gives `metrics` the next sequence number, stores it durably and
    /// returns the number. Drops the oldest snapshots beyond the bound.
    pub fn push(&mut self, mut metrics: Metrics) -> Result<u64, QueueError> {
        let seq = self.last_seq + 1;
        metrics.seq = seq;
        let path = self.path(seq);
        // the file is the record of `seq`: durable before the number is used
        write_atomic(&path, &metrics.encode_to_vec())?;
        sync_dir(&self.dir);
        self.last_seq = seq;
        self.entries.insert(seq);
        self.enforce_bound()?;
        Ok(seq)
    }

    /// Removes the snapshot `seq` (acknowledged, or refused for good).
    /// Returns whether it was still queued.
    pub fn ack(&mut self, seq: u64) -> Result<bool, QueueError> {
        if !self.entries.remove(&seq) {
            return Ok(false);
        }
        if seq == self.last_seq {
            // the newest: it stays as the record of the last number
            let record = self.record_path(seq);
            fs::rename(self.path(seq), &record).map_err(io("rename", &record))?;
            if let Some(older) = self.acked.replace(seq) {
                remove_file(&self.record_path(older))?;
            }
        } else {
            remove_file(&self.path(seq))?;
        }
        Ok(true)
    }

    /// Reads the snapshot `seq`; `None` when it is no longer queued. A file
    /// that no longer decodes is logged and removed (`None`).
    pub fn read(&mut self, seq: u64) -> Result<Option<Metrics>, QueueError> {
        if !self.entries.contains(&seq) {
            return Ok(None);
        }
        let path = self.path(seq);
        match read_snapshot(&path, seq) {
            Ok(metrics) => Ok(Some(metrics)),
            Err(reason) => {
                tracing::error!(path = %path.display(), seq, reason = %reason, "corrupt queued snapshot removed");
                if seq == self.last_seq {
                    // it was the record of the last number
                    write_atomic(&self.seq_file, seq.to_string().as_bytes())?;
                }
                self.entries.remove(&seq);
                remove_file(&path)?;
                Ok(None)
            }
        }
    }

    /// Up to `limit` queued sequence numbers greater than `after`, in order.
    pub fn seqs_after(&self, after: u64, limit: usize) -> Vec<u64> {
        self.entries.range(after.saturating_add(1)..).take(limit).copied().collect()
    }

    /// Every queued sequence number, oldest first.
    pub fn seqs(&self) -> Vec<u64> {
        self.entries.iter().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last sequence number handed out (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.pb"))
    }

    fn record_path(&self, seq: u64) -> PathBuf {
        self.acked_dir.join(format!("{seq:020}.pb"))
    }

    fn enforce_bound(&mut self) -> Result<(), QueueError> {
        let excess = self.entries.len().saturating_sub(self.max_snapshots);
        if excess == 0 {
            return Ok(());
        }
        let dropped: Vec<u64> = self.entries.iter().take(excess).copied().collect();
        for seq in &dropped {
            self.entries.remove(seq);
            remove_file(&self.path(*seq))?;
        }
        tracing::warn!(
            dropped = excess,
            first_seq = dropped.first().copied().unwrap_or(0),
            last_seq = dropped.last().copied().unwrap_or(0),
            max_snapshots = self.max_snapshots,
            "on-disk queue full; oldest snapshots dropped"
        );
        Ok(())
    }
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".pb")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn read_snapshot(path: &Path, seq: u64) -> Result<Metrics, String> {
    let bytes = fs::read(path).map_err(|error| format!("cannot read: {error}"))?;
    let metrics = Metrics::decode(bytes.as_slice()).map_err(|error| format!("does not decode: {error}"))?;
    if metrics.seq != seq {
        return Err(format!("holds seq {} instead of {seq}", metrics.seq));
    }
    Ok(metrics)
}

fn remove_file(path: &Path) -> Result<(), QueueError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io("remove", path)(error)),
    }
}

/// Writes `bytes` to `path` so the file is either the old or the new
/// content (`vigil_runtime::files::replace`: a `.tmp` sibling, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    vigil_runtime::files::replace(path, bytes, 0o644).map_err(io("write", path))
}

/// Makes the renames in `dir` durable (best effort: not every filesystem
/// supports fsync on a directory).
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_seq_order() {
        assert_eq!(parse_name("00000000000000000042.pb"), Some(42));
        assert_eq!(parse_name("42.pb"), None);
        assert_eq!(parse_name("00000000000000000042.pb.tmp"), None);
    }
}
