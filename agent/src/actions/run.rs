//! Running one command of an action: an argv through execve (never a shell
//! string; an allowed `exec` is the argv `sh -c <command>`), in a process
//! group of its own, with its stdout and stderr in one pipe.
//!
//! Invariants:
//! - the child and everything it forks share its process group; at the
//!   timeout the whole group gets SIGKILL, and when the child exits what is
//!   left of its group gets SIGKILL too (something meant to outlive the action
//!   must leave the group: `setsid`, `systemd-run`); so does the group of a
//!   run dropped before its end (the agent stopping);
//! - the output is read as it comes, both streams into one buffer of at
//!   most [`OUTPUT_CAP`] bytes; past it the pipe is still drained (so the
//!   child never blocks on a full pipe) and the rest dropped, `truncated` set;
//! - after the child is gone the pipe is read for at most [`DRAIN_GRACE`]
//!   more (a process that left the group may hold it open).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::time::Instant;

/// Most bytes of output kept.
pub const OUTPUT_CAP: usize = vigil_bus::actions::MAX_OUTPUT_BYTES;
/// How long the pipe is still read once the child is gone.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The exit status; `None` when killed by a signal, timed out or not started.
    pub exit_code: Option<i32>,
    /// stdout and stderr as they came (at most [`OUTPUT_CAP`] bytes, UTF-8
    /// with invalid bytes replaced).
    pub output: String,
    pub truncated: bool,
    /// Why it failed, when it did not exit 0.
    pub error: Option<String>,
    pub duration: Duration,
}

impl Finished {
    /// Exited 0 (a command), or done (an engine API call): no error.
    pub fn success(&self) -> bool {
        self.error.is_none()
    }
}

/// The output read so far.
#[derive(Debug, Default)]
struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Capture {
    fn push(&mut self, chunk: &[u8]) {
        let room = OUTPUT_CAP.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// The text, never above [`OUTPUT_CAP`] bytes: a character cut by the cap
    /// is dropped, invalid bytes become U+FFFD (and the text is cut again if
    /// that made it longer).
    fn into_text(self) -> (String, bool) {
        let mut truncated = self.truncated;
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if truncated && text.ends_with('\u{FFFD}') && std::str::from_utf8(&self.bytes).is_err() {
            // most likely a character cut in half by the cap
            text.pop();
        }
        if text.len() > OUTPUT_CAP {
            let kept = vigil_bus::text::truncate(&text, OUTPUT_CAP).len();
            text.truncate(kept);
            truncated = true;
        }
        (text, truncated)
    }
}

/// A command's process group, killed when dropped (a run that does not
/// finish: the agent stops).
struct Group(Option<u32>);

impl Group {
    fn kill(&self) {
        if let Some(pid) = self.0 {
            crate::custom::kill_group(pid);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn drain(mut pipe: tokio::net::unix::pipe::Receiver, capture: &mut Capture) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => capture.push(&buffer[..read]),
        }
    }
}

/// Runs `argv` (at least one element) for at most `timeout`; see the module
/// invariants.
pub async fn run(argv: &[String], timeout: Duration) -> Finished {
    let started = Instant::now();
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let not_started = |error: std::io::Error| Finished {
        exit_code: None,
        output: String::new(),
        truncated: false,
        error: Some(format!("cannot run {program}: {error}")),
        duration: started.elapsed(),
    };
    let (writer, reader) = match tokio::net::unix::pipe::pipe() {
        Ok(pipe) => pipe,
        Err(error) => return not_started(error),
    };
    let (stdout, stderr) = match writer.into_blocking_fd().and_then(|fd| Ok((fd.try_clone()?, fd))) {
        Ok(fds) => fds,
        Err(error) => return not_started(error),
    };
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(true);
    let spawned = command.spawn();
    // the command holds our copies of the pipe's write end: close them, so
    // the pipe ends when the child's group is gone
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return not_started(error),
    };
    let pid = child.id();
    let mut group = Group(pid);

    let mut capture = Capture::default();
    let (status, timed_out) = {
        let drained = drain(reader, &mut capture);
        tokio::pin!(drained);
        let mut pipe_closed = false;
        let waited = tokio::time::timeout(timeout, async {
            loop {
                tokio::select! {
                    status = child.wait() => break status,
                    () = &mut drained, if !pipe_closed => pipe_closed = true,
                }
            }
        })
        .await;
        // the child is gone, or is killed now: so is what is left of its group
        group.kill();
        let (status, timed_out) = match waited {
            Ok(status) => (status, false),
            Err(_) => (child.wait().await, true),
        };
        if !pipe_closed {
            let _ = tokio::time::timeout(DRAIN_GRACE, &mut drained).await;
        }
        (status, timed_out)
    };
    group.0 = None;
    let (output, truncated) = capture.into_text();
    let duration = started.elapsed();
    let (exit_code, error) = if timed_out {
        (None, Some(format!("timed out after {} s", timeout.as_secs())))
    } else {
        match status {
            Ok(status) => match status.code() {
                Some(0) => (Some(0), None),
                Some(code) => (Some(code), Some(format!("{program} exited with status {code}"))),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    let signal = status.signal().unwrap_or_default();
                    (None, Some(format!("{program} was killed by signal {signal}")))
                }
            },
            Err(error) => (None, Some(format!("cannot wait for {program}: {error}"))),
        }
    };
    Finished { exit_code, output, truncated, error, duration }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[tokio::test]
    async fn both_streams_land_in_one_buffer_in_order() {
        let finished = run(&argv(&["sh", "-c", "echo one; echo two >&2; echo three; exit 3"]), Duration::from_secs(10)).await;
        assert_eq!(finished.output, "one\ntwo\nthree\n");
        assert_eq!(finished.exit_code, Some(3));
        assert_eq!(finished.error.as_deref(), Some("sh exited with status 3"));
        assert!(!finished.success());
    }

    #[tokio::test]
    async fn a_missing_program_is_reported() {
        let finished = run(&argv(&["/nonexistent/systemctl", "restart", "x"]), Duration::from_secs(10)).await;
        assert_eq!(finished.exit_code, None);
        let error = finished.error.unwrap();
        assert!(error.starts_with("cannot run /nonexistent/systemctl: "), "{error}");
    }

    #[test]
    fn the_cap_never_splits_a_character_nor_grows_with_replacements() {
        let mut capture = Capture::default();
        capture.push(&vec![b'a'; OUTPUT_CAP - 1]);
        capture.push("é".as_bytes());
        let (text, truncated) = capture.into_text();
        assert!(truncated);
        assert_eq!(text.len(), OUTPUT_CAP - 1);
        let mut capture = Capture::default();
        capture.push(&vec![0xff; OUTPUT_CAP]);
        let (text, truncated) = capture.into_text();
        assert!(truncated && text.len() <= OUTPUT_CAP);
    }
}
