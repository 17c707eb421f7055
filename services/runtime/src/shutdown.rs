//! The one shutdown signal: tokio-util's [`CancellationToken`]. A process
//! holds the root; each service gets a child, each task of a service a
//! child of that (cancelling a parent cancels its children, never the
//! reverse).

use std::time::Duration;

pub use tokio_util::sync::CancellationToken;

/// Sleeps `duration`; `true` when `shutdown` was cancelled meanwhile (or
/// already was), so a loop can `if sleep_or_cancelled(..).await { break }`.
pub async fn sleep_or_cancelled(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => shutdown.is_cancelled(),
        _ = shutdown.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sleep_returns_early_and_true_when_cancelled() {
        let token = CancellationToken::new();
        assert!(!sleep_or_cancelled(Duration::from_secs(5), &token).await);
        let child = token.child_token();
        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            canceller.cancel();
        });
        let started = tokio::time::Instant::now();
        assert!(sleep_or_cancelled(Duration::from_secs(60), &child).await);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
