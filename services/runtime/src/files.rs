//! Writing a file safely: the one way every part of Vigil (server and
//! agent) replaces a file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `bytes` so that a reader (or a crash) sees either the
/// old content or the new one, never a mix: written to a new sibling file
/// created with `mode` (so a secret is never readable by others, not even
/// for an instant), fsynced, then renamed over `path`. The temporary file is
/// removed when anything fails.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let temporary = temporary_sibling(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&temporary)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Creates `path` with `bytes` only if it does not exist yet (an
/// `AlreadyExists` error otherwise, leaving the existing file alone): the
/// whole content is written and fsynced under a temporary name first, then
/// hard-linked into place, so no reader ever sees a half-written file, and
/// of two processes racing to create it exactly one wins.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let temporary = temporary_sibling(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&temporary)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    written
}

/// `.<name>.<pid>-<n>.tmp` next to `path`: unique per process and call, and
/// ending in `.tmp` so a directory scan can tell (and remove) what a crash
/// left behind.
fn temporary_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn replaces_the_content_with_the_mode_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("vigil-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "old").unwrap();
        replace(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret")]);
        // a failure (missing directory) leaves nothing behind and says why
        let error = replace(&dir.join("missing/file"), b"x", 0o600).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn create_new_writes_once_and_keeps_the_first() {
        let dir = std::env::temp_dir().join(format!("vigil-files-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jwt.secret");
        create_new(&path, b"first", 0o600).unwrap();
        let error = create_new(&path, b"second", 0o600).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
