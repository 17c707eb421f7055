//! Supervision of the services running inside one `vigil` process.
//!
//! Each service runs as its own task. When it fails (an error or a panic) or
//! stops by itself, the failure is logged and the service is started again
//! after a backoff that doubles from 1 s to 30 s (reset once a run lasted a
//! minute). A health loop asks every NATS service `$SRV.PING.<name>` every
//! 10 s and warns about the ones that do not answer.
//!
//! Invariants: once [`ShutdownTrigger::trigger`] is called no service is
//! (re)started again; every service gets the same shutdown signal and
//! [`Supervisor::stop`] returns only after every task has ended.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use vigil_runtime::{Backoff, CancellationToken};

/// Error type services report to the supervisor.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
/// What one run of a service returns.
pub type ServiceRun = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// First restart delay.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest restart delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run lasting this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How often services are pinged.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping waits for its answer.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Something the supervisor keeps running.
pub trait Service: Send + Sync + 'static {
    /// Name in logs.
    fn name(&self) -> &'static str;
    /// The name this service answers `$SRV.PING.<name>` with, if it is a NATS service.
    fn ping_name(&self) -> Option<&'static str>;
    /// One run, until `shutdown` fires (then `Ok`) or the service fails.
    fn run(&self, shutdown: Shutdown) -> ServiceRun;
}

/// The shutdown signal a service runs under: a child of the process's
/// [`CancellationToken`] (the one shutdown primitive of every service).
#[derive(Debug, Clone)]
pub struct Shutdown(CancellationToken);

/// Fires the shutdown of everything subscribed to it.
#[derive(Debug)]
pub struct ShutdownTrigger(CancellationToken);

/// A new shutdown signal, not yet fired.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let token = CancellationToken::new();
    (ShutdownTrigger(token.clone()), Shutdown(token))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.cancel();
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.child_token())
    }
}

impl Shutdown {
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// A future that completes when shutdown is triggered, as the gateway's
    /// `run_until_stopped` wants it.
    pub fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        self.0.clone().cancelled_owned()
    }

    /// The token itself, as a `vigil_runtime::Service` wants it.
    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
}

/// Restart delays: 1 s, 2 s, 4 s … capped at 30 s.
pub fn restart_backoff() -> Backoff {
    Backoff::new(BACKOFF_START, BACKOFF_MAX)
}

/// The tasks of one process's services.
pub struct Supervisor {
    trigger: ShutdownTrigger,
    tasks: JoinSet<()>,
    /// `$SRV.PING` names of the services spawned so far.
    ping_names: Vec<&'static str>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

impl Supervisor {
    pub fn new() -> Supervisor {
        let (trigger, _) = shutdown_channel();
        Supervisor { trigger, tasks: JoinSet::new(), ping_names: Vec::new() }
    }

    /// The signal services are stopped with.
    pub fn shutdown(&self) -> Shutdown {
        self.trigger.subscribe()
    }

    /// Starts `service` and keeps it running until shutdown.
    pub fn spawn(&mut self, service: Arc<dyn Service>) {
        if let Some(name) = service.ping_name() {
            self.ping_names.push(name);
        }
        let shutdown = self.shutdown();
        self.tasks.spawn(supervise(service, shutdown));
    }

    /// Starts the health loop pinging, every `interval`, the NATS services
    /// spawned so far.
    pub fn spawn_health(&mut self, nats: async_nats::Client, interval: Duration) {
        let shutdown = self.shutdown();
        self.tasks.spawn(health_loop(nats, self.ping_names.clone(), interval, shutdown));
    }

    /// Fires shutdown and waits for every task.
    pub async fn stop(mut self) {
        self.trigger.trigger();
        while let Some(result) = self.tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(error = %error, "supervision task ended abnormally");
            }
        }
    }
}

async fn supervise(service: Arc<dyn Service>, shutdown: Shutdown) {
    let name = service.name();
    let mut backoff = restart_backoff();
    loop {
        let started = Instant::now();
        // a task of its own, so that a panic is a failure like any other
        let outcome = tokio::spawn(service.run(shutdown.clone())).await;
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(join) => Some(format!("panicked: {join}")),
        };
        if shutdown.is_triggered() {
            match failure {
                Some(error) => tracing::warn!(service = name, error = %error, "service stopped with an error"),
                None => tracing::info!(service = name, "service stopped"),
            }
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        match failure {
            Some(error) => {
                tracing::error!(service = name, error = %error, restart_in = ?delay, "service failed; restarting")
            }
            None => tracing::warn!(service = name, restart_in = ?delay, "service stopped by itself; restarting"),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.signal() => return,
        }
    }
}

/// Waits for SIGINT or SIGTERM and returns its name.
pub async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => Ok("sigterm"),
        _ = interrupt.recv() => Ok("sigint"),
    }
}

/// True when a `name` service answers `$SRV.PING.<name>` within `timeout`.
pub async fn ping(nats: &async_nats::Client, name: &str, timeout: Duration) -> bool {
    let subject = vigil_bus::subjects::service_ping(name);
    matches!(tokio::time::timeout(timeout, nats.request(subject, Default::default())).await, Ok(Ok(_)))
}

async fn health_loop(nats: async_nats::Client, names: Vec<&'static str>, interval: Duration, shutdown: Shutdown) {
    if names.is_empty() {
        return;
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut down: Vec<&'static str> = Vec::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.signal() => return,
        }
        for name in &names {
            let answered = ping(&nats, name, PING_TIMEOUT).await;
            if shutdown.is_triggered() {
                return;
            }
            let was_down = down.contains(name);
            match (answered, was_down) {
                (false, _) => {
                    tracing::warn!(service = *name, "service does not answer its nats ping");
                    if !was_down {
                        down.push(name);
                    }
                }
                (true, true) => {
                    tracing::info!(service = *name, "service answers its nats ping again");
                    down.retain(|n| n != name);
                }
                (true, false) => tracing::debug!(service = *name, "service answers its nats ping"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;

    /// Fails its first `failures` runs, then runs until shutdown.
    struct Flaky {
        runs: Arc<AtomicUsize>,
        failures: usize,
        panics: bool,
        stopped_cleanly: Arc<Mutex<bool>>,
    }

    impl Service for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn ping_name(&self) -> Option<&'static str> {
            None
        }
        fn run(&self, shutdown: Shutdown) -> ServiceRun {
            let run = self.runs.fetch_add(1, Ordering::SeqCst);
            let (failures, panics, stopped) = (self.failures, self.panics, self.stopped_cleanly.clone());
            Box::pin(async move {
                if run < failures {
                    if panics {
                        panic!("run {run} panics");
                    }
                    return Err(format!("run {run} fails").into());
                }
                shutdown.signal().await;
                *stopped.lock().unwrap() = true;
                Ok(())
            })
        }
    }

    #[test]
    fn restarts_back_off_from_one_second_to_thirty() {
        let mut backoff = restart_backoff();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    async fn restarted_until_it_stays_up(panics: bool) {
        let runs = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(Mutex::new(false));
        let mut supervisor = Supervisor::new();
        supervisor.spawn(Arc::new(Flaky { runs: runs.clone(), failures: 2, panics, stopped_cleanly: stopped.clone() }));
        // paused clock: the 1 s and 2 s backoffs elapse instantly
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two failed runs then one that stays up");
        supervisor.stop().await;
        assert!(*stopped.lock().unwrap(), "the running service saw the shutdown");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "no restart after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn failing_service_is_restarted_with_backoff() {
        restarted_until_it_stays_up(false).await;
    }

    #[tokio::test(start_paused = true)]
    async fn panicking_service_is_restarted_with_backoff() {
        restarted_until_it_stays_up(true).await;
    }

    #[tokio::test(start_paused = true)]
    async fn restart_waits_for_the_backoff() {
        let runs = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(Mutex::new(false));
        let mut supervisor = Supervisor::new();
        supervisor.spawn(Arc::new(Flaky { runs: runs.clone(), failures: 10, panics: false, stopped_cleanly: stopped }));
        // runs at t=0, 1, 3 (delays 1 s, 2 s); the next one is due at t=7
        tokio::time::sleep(Duration::from_millis(6_500)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        supervisor.stop().await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "shutdown interrupts the backoff");
    }

    #[tokio::test]
    async fn ping_answers_only_for_a_running_nats_service() {
        use async_nats::service::ServiceExt;
        let server = vigil_testkit::NatsServer::start().await;
        let nats = server.client().await;
        let name = format!("vigil_ping_test_{}", hex::encode(rand::random::<[u8; 4]>()));
        assert!(!ping(&nats, &name, Duration::from_millis(500)).await);
        let service = nats.service_builder().start(name.clone(), "0.1.0".to_owned()).await.unwrap();
        assert!(ping(&nats, &name, Duration::from_secs(2)).await);
        service.stop().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!ping(&nats, &name, Duration::from_millis(500)).await);
    }
}
