//! The record of each action id, `state_dir/actions/<id>.json`: what makes
//! an action run at most once. Written (with [`vigil_runtime::files::replace`])
//! `running` before the action starts and with its final report after; an
//! order whose id has a record is answered from it and never run again.
//!
//! Invariants: a record only moves from `running` to a final status; a
//! record left `running` by an agent that died is turned `failed` ("the agent
//! restarted while it ran") when the agent starts; records older than
//! [`KEEP`] are removed (at start and every [`PRUNE_EVERY`]), as are
//! temporary files a crash left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use vigil_proto::ActionResult;

/// Directory of the records, under `state_dir`.
pub const DIR: &str = "actions";
/// How long a record is kept.
pub const KEEP: Duration = Duration::from_secs(7 * 86_400);
/// How often old records are removed.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The error of an action whose agent died while it ran.
pub const RESTARTED: &str = "the agent restarted while it ran";

/// One action's report, as stored (the fields of [`ActionResult`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub action_id: String,
    pub status: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub output: String,
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub duration_ms: u64,
    /// Who asked and what (for someone reading the file).
    #[serde(default)]
    pub requested_by: String,
    #[serde(default, rename = "type")]
    pub action_type: String,
}

impl Record {
    pub fn from_result(result: &ActionResult, requested_by: &str, action_type: &str) -> Self {
        Record {
            action_id: result.action_id.clone(),
            status: result.status.clone(),
            command: result.command.clone(),
            rule: result.rule.clone(),
            exit_code: result.exit_code,
            output: result.output.clone(),
            truncated: result.truncated,
            error: result.error.clone(),
            started_at: result.started_at.clone(),
            duration_ms: result.duration_ms,
            requested_by: requested_by.to_owned(),
            action_type: action_type.to_owned(),
        }
    }

    pub fn to_result(&self) -> ActionResult {
        ActionResult {
            action_id: self.action_id.clone(),
            success: self.status == "success",
            output: self.output.clone(),
            error: self.error.clone(),
            status: self.status.clone(),
            command: self.command.clone(),
            rule: self.rule.clone(),
            exit_code: self.exit_code,
            truncated: self.truncated,
            started_at: self.started_at.clone(),
            duration_ms: self.duration_ms,
        }
    }

    fn is_running(&self) -> bool {
        self.status == "running"
    }

    /// This running record as its agent's death left it: `failed`.
    fn interrupted(mut self) -> Self {
        self.status = "failed".into();
        self.error = RESTARTED.into();
        self
    }
}

/// The records of one agent.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(state_dir: &Path) -> Self {
        Records { dir: state_dir.join(DIR) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `id` (an id checked by `vigil_bus::ids::validate`).
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The record of `id`, if any. An unreadable or damaged one is an error:
    /// the action may have run, so it must not run again.
    pub fn read(&self, id: &str) -> std::io::Result<Option<Record>> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {error}", path.display()))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Writes the record of its id (creating the directory).
    pub fn write(&self, record: &Record) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        vigil_runtime::files::replace(&self.path(&record.action_id), &bytes, 0o600)
    }

    /// At start: every record left `running` is rewritten `failed` (its agent
    /// died while it ran). Returns the ids.
    pub fn fail_interrupted(&self) -> std::io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for (path, _) in self.files()? {
            let Some(id) = record_id(&path) else { continue };
            if let Ok(Some(record)) = self.read(&id) {
                if record.is_running() {
                    self.write(&record.interrupted())?;
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// Removes the records (and leftover temporary files) last written
    /// before `now - KEEP`; returns how many.
    pub fn prune(&self, now: SystemTime) -> std::io::Result<usize> {
        let mut removed = 0;
        for (path, modified) in self.files()? {
            let stale_tmp =
                path.extension().is_some_and(|e| e == "tmp") && now.duration_since(modified).unwrap_or_default() > PRUNE_EVERY;
            if stale_tmp || now.duration_since(modified).unwrap_or_default() > KEEP {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(removed)
    }

    fn files(&self) -> std::io::Result<Vec<(PathBuf, SystemTime)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry?;
            let Ok(metadata) = entry.metadata() else { continue };
            if metadata.is_file() {
                files.push((entry.path(), metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
        Ok(files)
    }

    /// The record of `id` as an answer: a record left `running` by a dead
    /// agent (not running now) is turned `failed` first.
    pub fn answer(&self, id: &str) -> std::io::Result<Option<Record>> {
        match self.read(id)? {
            Some(record) if record.is_running() => {
                let record = record.interrupted();
                self.write(&record)?;
                Ok(Some(record))
            }
            other => Ok(other),
        }
    }
}

fn record_id(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let id = name.strip_suffix(".json")?;
    vigil_bus::ids::validate("action", id).is_ok().then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: &str) -> Record {
        Record {
            action_id: id.into(),
            status: status.into(),
            command: "systemctl restart nginx.service".into(),
            rule: "systemctl restart *".into(),
            exit_code: None,
            output: String::new(),
            truncated: false,
            error: String::new(),
            started_at: "2026-12-06T10:00:00.000Z".into(),
            duration_ms: 0,
            requested_by: "ops@example.com".into(),
            action_type: "restart_service".into(),
        }
    }

    #[test]
    fn a_record_left_running_is_failed_at_start_and_finals_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(dir.path());
        records.write(&record("a1", "running")).unwrap();
        records.write(&record("a2", "success")).unwrap();
        assert_eq!(records.fail_interrupted().unwrap(), ["a1"]);
        let a1 = records.read("a1").unwrap().unwrap();
        assert_eq!((a1.status.as_str(), a1.error.as_str()), ("failed", RESTARTED));
        assert_eq!(records.read("a2").unwrap().unwrap().status, "success");
        assert_eq!(records.read("a3").unwrap(), None);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(records.path("a2")).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn records_older_than_seven_days_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(dir.path());
        records.write(&record("old", "success")).unwrap();
        let now = SystemTime::now();
        assert_eq!(records.prune(now).unwrap(), 0);
        assert_eq!(records.prune(now + KEEP + Duration::from_secs(60)).unwrap(), 1);
        assert_eq!(records.read("old").unwrap(), None);
        assert_eq!(records.prune(now).unwrap(), 0, "no directory yet is fine");
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(dir.path());
        std::fs::create_dir_all(records.dir()).unwrap();
        std::fs::write(records.path("bad"), "{not json").unwrap();
        assert!(records.read("bad").is_err());
    }
}
