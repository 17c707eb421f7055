//! Waiting for an effect a test cannot be told about: run a probe every
//! [`POLL_INTERVAL`] until it reports what is awaited, or time runs out.
//!
//! The one polling helper of every crate's tests. It needs only `std` and
//! tokio's timer, so the agent's tests compile this file by `#[path]`
//! instead of depending on `vigil-testkit` (which would bring NATS and
//! MariaDB clients into the agent's test build).

use std::fmt::{self, Debug};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits between two runs of a probe.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What a probe returns: `true`, `Some(value)` or `Ok(value)` once what is
/// awaited holds; `false`, `None` or `Err(state)` while it does not yet
/// (the `state` of the last run is shown if time runs out).
pub trait Probe {
    type Value;
    /// `Ok(value)` when done, else the observed state if the probe gave one.
    fn check(self) -> Result<Self::Value, Option<String>>;
}

impl Probe for bool {
    type Value = ();
    fn check(self) -> Result<(), Option<String>> {
        if self {
            Ok(())
        } else {
            Err(None)
        }
    }
}

impl<T> Probe for Option<T> {
    type Value = T;
    fn check(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, S: Debug> Probe for Result<T, S> {
    type Value = T;
    fn check(self) -> Result<T, Option<String>> {
        self.map_err(|state| Some(format!("{state:?}")))
    }
}

/// Time ran out before the probe reported what was awaited.
#[derive(Debug, Clone)]
pub struct TimedOut {
    pub what: String,
    pub timeout: Duration,
    /// The state the last run of the probe reported (its `Err`), if any.
    pub last: Option<String>,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?} waiting for {}", self.timeout, self.what)?;
        match &self.last {
            Some(last) => write!(f, "; last observed: {last}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for TimedOut {}

/// Runs `probe` until it reports what is awaited and returns its value, or
/// returns [`TimedOut`] once `timeout` has passed (the probe runs at least
/// once, and once more after the deadline's last sleep).
pub async fn try_eventually<P, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<P::Value, TimedOut>
where
    P: Probe,
    F: FnMut() -> Fut,
    Fut: Future<Output = P>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe().await.check() {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(TimedOut { what: what.to_owned(), timeout, last });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Runs `probe` until it reports what is awaited and returns its value;
/// panics naming `what` and the last observed state once `timeout` has passed.
///
/// ```ignore
/// eventually("the row stored", WAIT, || async { db.count(sql).await == 1 }).await;
/// let id = eventually("a host id", WAIT, || async { agent.host_id() }).await;
/// eventually("5 rows", WAIT, || async { let n = db.count(sql).await; if n == 5 { Ok(()) } else { Err(n) } }).await;
/// ```
pub async fn eventually<P, F, Fut>(what: &str, timeout: Duration, probe: F) -> P::Value
where
    P: Probe,
    F: FnMut() -> Fut,
    Fut: Future<Output = P>,
{
    match try_eventually(what, timeout, probe).await {
        Ok(value) => value,
        Err(timed_out) => panic!("{timed_out}"),
    }
}
