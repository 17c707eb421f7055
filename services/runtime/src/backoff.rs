//! One retry delay for everything that retries: a service restart, a
//! reconnect, a database that is down.

use std::time::Duration;

/// Delays that double from `start` up to `max`; optionally spread ±25 % so
/// that many agents reconnecting at once do not come back in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    start: Duration,
    max: Duration,
    next: Duration,
    /// xorshift64 state when jittered.
    jitter: Option<u64>,
}

impl Backoff {
    pub const fn new(start: Duration, max: Duration) -> Backoff {
        Backoff { start, max, next: start, jitter: None }
    }

    /// The same delays, each spread by ±25 % (never past `max`).
    pub fn with_jitter(mut self) -> Backoff {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32);
        self.jitter = Some(seed | 1);
        self
    }

    /// The delay to wait now; the following one doubles (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        match self.jitter.as_mut() {
            None => base,
            Some(state) => {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                let factor = 0.75 + (*state % 1000) as f64 / 2000.0; // 0.75 ..= 1.25
                base.mul_f64(factor).min(self.max)
            }
        }
    }

    /// Back to `start`, after a success.
    pub fn reset(&mut self) {
        self.next = self.start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_start_to_max_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_spreads_within_a_quarter_and_never_past_max() {
        let mut backoff = Backoff::new(Duration::from_millis(1000), Duration::from_millis(3000)).with_jitter();
        for expected in [1000.0, 2000.0, 3000.0, 3000.0, 3000.0] {
            let delay = backoff.next_delay().as_millis() as f64;
            assert!(delay >= expected * 0.75 && delay <= (expected * 1.25).min(3000.0), "{delay} for {expected}");
        }
    }
}
