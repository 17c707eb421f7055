//! `sovigilant run`: the daemon. Three tasks share the on-disk queue:
//! - the collector: every `collection.interval`, collects a snapshot
//!   ([`crate::collect::Collectors`]: host, containers, services, custom
//!   metrics, each bounded in time) and pushes it to the queue (never waits on
//!   the gateway);
//! - the sender: registers if there is no host id yet (else refreshes the
//!   registration in the background), then drains the queue over `Connect`
//!   and reconnects as needed ([`crate::client::Sender`]), handing remote
//!   actions to the actions worker ([`crate::actions`]);
//! - the status writer: rewrites `state_dir/status.json` every few seconds.
//!
//! On shutdown (the [`CancellationToken`] given to [`run`] is cancelled; each
//! task holds a child of it) the snapshot being written is finished, the
//! tasks stop and the status file is removed.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use vigil_proto::Metrics;
use vigil_runtime::shutdown::{sleep_or_cancelled, CancellationToken};

use crate::client::{ensure_host_id, Sender};
use crate::collect::Collectors;
use crate::config::Config;
use crate::host::HostCollector;
use crate::queue::{Queue, QueueError, SharedQueue};
use crate::status::{self, Status};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot create the state directory {path}: {source}; set state_dir to a writable directory")]
    StateDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Gap between the CPU base sample and the first collection.
const FIRST_SAMPLE_GAP: Duration = Duration::from_millis(250);

/// Builds one snapshot (not yet numbered) from the host collector.
pub fn snapshot(collector: &mut HostCollector, host_enabled: bool) -> Metrics {
    let timestamp = crate::now_rfc3339();
    let host = host_enabled.then(|| {
        let mut host = collector.collect();
        host.timestamp = timestamp.clone();
        host
    });
    Metrics { timestamp, host, ..Default::default() }
}

/// Opens the queue in `state_dir` (creating the directory).
pub async fn open_queue(state_dir: &Path, max_snapshots: usize) -> Result<SharedQueue, AgentError> {
    let state_dir = state_dir.to_owned();
    let queue = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&state_dir)
            .map_err(|source| AgentError::StateDir { path: state_dir.display().to_string(), source })?;
        Queue::open(&state_dir, max_snapshots).map_err(AgentError::from)
    })
    .await??;
    Ok(Arc::new(Mutex::new(queue)))
}

/// Runs the agent until `shutdown` is cancelled, or until its sender ends
/// on its own (a panic): then everything stops and the error is returned, so
/// the service manager restarts the agent instead of it collecting into a
/// queue nobody drains.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), AgentError> {
    let shutdown = shutdown.child_token();
    let queue = open_queue(&config.state_dir, config.buffer.max_snapshots).await?;
    let previous = status::read(&config.state_dir);
    let status =
        Arc::new(Status::new(config.server.address.clone(), crate::client::stored_host_id(&config.state_dir), previous.as_ref()));
    status.set_queued(queue.lock().unwrap_or_else(|p| p.into_inner()).len());
    let wake = Arc::new(Notify::new());
    let (interval_tx, interval_rx) = watch::channel(config.collection.interval);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        server = %config.server.address,
        tls = config.server.tls.enabled,
        interval_ms = config.collection.interval.as_millis() as u64,
        state_dir = %config.state_dir.display(),
        "sovigilant starting"
    );

    let collector = tokio::spawn(collect_loop(
        config.clone(),
        queue.clone(),
        wake.clone(),
        status.clone(),
        interval_rx,
        shutdown.child_token(),
    ));
    let status_writer = tokio::spawn(status_loop(config.state_dir.clone(), status.clone(), shutdown.child_token()));

    let sender = {
        let config = config.clone();
        let queue = queue.clone();
        let status = status.clone();
        let shutdown = shutdown.child_token();
        tokio::spawn(async move {
            let Some(registered) = ensure_host_id(&config, &shutdown).await else { return };
            status.set_agent_id(&registered.host_id);
            if registered.interval_seconds > 0 {
                interval_tx.send_replace(Duration::from_secs(u64::from(registered.interval_seconds)));
            }
            let (tenant_tx, tenant_rx) = watch::channel(registered.tenant_id.clone());
            if !registered.registered_now {
                let (config, host_id, shutdown) = (config.clone(), registered.host_id.clone(), shutdown.clone());
                // (the receiver keeps the last tenant once this sender is gone)
                tokio::spawn(async move { crate::client::refresh_registration(&config, &host_id, &tenant_tx, &shutdown).await });
            }
            let identity = crate::actions::Identity { host_id: registered.host_id.clone(), tenant: tenant_rx };
            let actions = crate::actions::start(&config, identity, shutdown.child_token());
            let sender = Sender {
                server: config.server.clone(),
                host_id: registered.host_id,
                queue,
                wake,
                status,
                interval: interval_tx,
                heartbeat: crate::client::HEARTBEAT_PERIOD,
                actions: Some(actions),
            };
            sender.run(shutdown).await;
        })
    };

    let sent = sender.await;
    if !shutdown.is_cancelled() {
        tracing::error!(error = ?sent.as_ref().err(), "the sender stopped on its own; stopping the agent");
        shutdown.cancel();
    }
    let collected = collector.await;
    let written = status_writer.await;
    let _ = std::fs::remove_file(status::status_path(&config.state_dir));
    collected?;
    sent?;
    written?;
    tracing::info!(metrics_sent = status.metrics_sent(), "sovigilant stopped");
    Ok(())
}

/// The interval the collector runs at: the one the server pushed
/// (`ConfigUpdate`, the tenant's), or the configured one when it pushed 0.
pub fn effective_interval(configured: Duration, pushed: Duration) -> Duration {
    if pushed.is_zero() {
        configured
    } else {
        pushed
    }
}

async fn collect_loop(
    config: Config,
    queue: SharedQueue,
    wake: Arc<Notify>,
    status: Arc<Status>,
    mut interval_rx: watch::Receiver<Duration>,
    shutdown: CancellationToken,
) {
    let mut collectors = Collectors::new(&config.collection, &shutdown);
    let mut interval = effective_interval(config.collection.interval, *interval_rx.borrow_and_update());
    let mut next = Instant::now() + FIRST_SAMPLE_GAP;
    // false once the interval's sender is gone (a closed watch is always
    // "changed": selecting on it then would spin)
    let mut interval_open = true;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            changed = interval_rx.changed(), if interval_open => {
                if changed.is_ok() {
                    let new_interval = effective_interval(config.collection.interval, *interval_rx.borrow_and_update());
                    if new_interval != interval {
                        next = next.checked_sub(interval).unwrap_or(next) + new_interval;
                        interval = new_interval;
                    }
                } else {
                    interval_open = false;
                }
                continue;
            }
            () = shutdown.cancelled() => return,
        }
        next += interval;
        let now = Instant::now();
        if next <= now {
            next = now + interval;
        }
        // Not cancelled by shutdown: the collection (bounded by the section
        // timeouts) and the write in progress always finish.
        let metrics = collectors.snapshot().await;
        let queue_for_task = queue.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut queue = queue_for_task.lock().unwrap_or_else(|p| p.into_inner());
            let pushed = queue.push(metrics);
            (pushed, queue.len())
        })
        .await;
        match result {
            Ok((pushed, len)) => {
                status.set_queued(len);
                match pushed {
                    Ok(seq) => {
                        tracing::debug!(seq, queued = len, "snapshot queued");
                        wake.notify_one();
                    }
                    Err(error) => tracing::error!(error = %error, "cannot queue a snapshot; it is lost"),
                }
            }
            Err(join) => tracing::error!(error = %join, "queue task failed; the snapshot is lost"),
        }
    }
}

async fn status_loop(state_dir: std::path::PathBuf, status: Arc<Status>, shutdown: CancellationToken) {
    loop {
        let file = status.snapshot();
        let dir = state_dir.clone();
        match tokio::task::spawn_blocking(move || status::write(&dir, &file)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(error = %error, "cannot write the status file"),
            Err(join) => tracing::warn!(error = %join, "status task failed"),
        }
        if sleep_or_cancelled(status::STATUS_PERIOD, &shutdown).await {
            return;
        }
    }
}
