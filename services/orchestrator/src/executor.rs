//! Driving runs: each run with steps to run is driven by the orchestrator
//! holding its lease, one step at a time in `seq` order.
//!
//! A step is written `running` with its deadline before it starts and
//! `success`/`failed` after it ends (with the next steps skipped and its
//! `on_fail` steps added, when it failed), so a run whose orchestrator died
//! is resumed by whichever orchestrator claims it when its lease lapses, at
//! the step it was on. A resumed step is never started twice: an action is
//! requested with the idempotency key `<run id>:<step path>` (the actioner
//! answers the action it recorded under that key) and a notify with the
//! same key (the alerter queues it once); a verify only reads.
//!
//! The kill switch is looked at before each step: turned off, the run is
//! stopped before its next step (a step under way finishes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use vigil_bus::messages::{
    ActionRecord, ActionStatus, ListAlerts, NotifyChannels, RequestAction, RunStatus, StepStatus, TenantItem,
};
use vigil_bus::subjects::{actioner, alerter};
use vigil_bus::{ErrorCode, ServiceError};
use vigil_runtime::shutdown::sleep_or_cancelled;
use vigil_runtime::{Backoff, CancellationToken};

use crate::render::Host;
use crate::spec::{self, StepKind};
use crate::store::{self, Drive, StepRow};
use crate::Shared;

/// Longest idempotency key the actioner keeps.
const MAX_KEY_BYTES: usize = 120;

/// How a step ended, or why the orchestrator stopped driving the run.
enum Outcome {
    Done {
        success: bool,
        detail: String,
    },
    /// Another orchestrator holds the run now, or it finished.
    Lost,
    /// This orchestrator is stopping.
    Stopping,
}

fn done(success: bool, detail: impl Into<String>) -> Outcome {
    Outcome::Done { success, detail: detail.into() }
}

/// A failure worth retrying: the other service did not answer, or not
/// for good.
fn transient(error: &ServiceError) -> bool {
    matches!(error.code, ErrorCode::Unavailable | ErrorCode::Internal)
}

/// Drives `run_id` on a task of its own, if this orchestrator has room
/// and is not driving it already; `false` otherwise (its lease is let go,
/// so it is claimed again later, here or elsewhere).
pub(crate) fn spawn(shared: &Arc<Shared>, run_id: String) -> bool {
    {
        let mut running = shared.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.contains(&run_id) {
            return true;
        }
        if running.len() >= shared.config.max_concurrent_runs || shared.stop.is_cancelled() {
            drop(running);
            let shared = shared.clone();
            tokio::spawn(async move {
                if let Err(error) = store::release(&shared.pool, &shared.instance, &run_id).await {
                    tracing::warn!(run_id = %run_id, error = %error, "cannot let a run go; it is claimed when its lease lapses");
                }
            });
            return false;
        }
        running.insert(run_id.clone());
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        if let Err(error) = drive(&shared, &run_id).await {
            tracing::warn!(run_id = %run_id, error = %error, "cannot drive a run; it is resumed at its next claim");
            if let Err(error) = store::release(&shared.pool, &shared.instance, &run_id).await {
                tracing::debug!(run_id = %run_id, error = %error, "cannot let the run go; its lease lapses");
            }
        }
        shared.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&run_id);
    });
    true
}

/// Every `tick_interval`: renews the leases of the runs this orchestrator
/// drives (every third of `run_lease`) and claims runs whose lease lapsed.
pub(crate) async fn lease_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let lease = chrono::Duration::from_std(shared.config.run_lease).unwrap_or(chrono::Duration::seconds(15));
    let renew_every = shared.config.run_lease / 3;
    let mut renewed = std::time::Instant::now();
    loop {
        let now = Utc::now();
        if renewed.elapsed() >= renew_every {
            let ids: Vec<String> = shared.running.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
            match store::renew(&shared.pool, &shared.instance, &ids, now + lease).await {
                Ok(()) => renewed = std::time::Instant::now(),
                Err(error) => tracing::warn!(error = %error, "cannot renew the leases of the runs this orchestrator drives"),
            }
        }
        let room = {
            let running = shared.running.lock().unwrap_or_else(|p| p.into_inner());
            shared.config.max_concurrent_runs.saturating_sub(running.len())
        };
        if room > 0 {
            match store::claim(&shared.pool, &shared.instance, now + lease, now, room.min(32)).await {
                Ok(claimed) => {
                    for run_id in claimed {
                        tracing::info!(run_id = %run_id, "resuming a run whose orchestrator let it go or died");
                        spawn(&shared, run_id);
                    }
                }
                Err(error) => tracing::warn!(error = %error, "cannot claim runs to resume"),
            }
        }
        if sleep_or_cancelled(shared.config.tick_interval, &stop).await {
            return;
        }
    }
}

/// The run's host, as its template data holds it.
fn run_host(drive: &Drive) -> Option<Host> {
    let host = drive.context.get("host")?;
    Some(Host { id: host.get("id")?.as_str()?.to_owned(), name: host.get("name")?.as_str()?.to_owned() })
}

async fn drive(shared: &Arc<Shared>, run_id: &str) -> Result<(), sqlx::Error> {
    loop {
        if shared.stop.is_cancelled() {
            store::release(&shared.pool, &shared.instance, run_id).await?;
            return Ok(());
        }
        let Some(drive) = store::load_drive(&shared.pool, run_id).await? else { return Ok(()) };
        if drive.run.finished_at.is_some() || drive.leased_by.as_deref() != Some(shared.instance.as_str()) {
            return Ok(());
        }
        let Some(next) = drive.steps.iter().find(|s| matches!(s.step.status, StepStatus::Pending | StepStatus::Running)).cloned()
        else {
            finish(shared, &drive).await?;
            return Ok(());
        };
        if next.step.status == StepStatus::Pending
            && drive.run.status == RunStatus::Running
            && !store::settings(&shared.pool, &drive.run.tenant_id).await?.enabled
        {
            stop_by_kill_switch(shared, &drive, &next).await?;
            return Ok(());
        }
        let outcome = tokio::select! {
            outcome = execute(shared, &drive, &next) => outcome?,
            _ = shared.stop.cancelled() => Outcome::Stopping,
        };
        match outcome {
            Outcome::Lost => return Ok(()),
            Outcome::Stopping => {
                store::release(&shared.pool, &shared.instance, run_id).await?;
                return Ok(());
            }
            Outcome::Done { success, detail } => {
                if !record(shared, &drive, &next, success, &detail).await? {
                    return Ok(());
                }
            }
        }
    }
}

/// Writes a step's end; a failed one skips the steps after it and adds its
/// `on_fail` steps. `false` when the lease was lost (nothing written).
async fn record(shared: &Shared, drive: &Drive, step: &StepRow, success: bool, detail: &str) -> Result<bool, sqlx::Error> {
    let now = Utc::now();
    let run_id = &drive.run.id;
    let mut tx = shared.pool.begin().await?;
    if !store::lock_leased(&mut tx, run_id, &shared.instance).await? {
        return Ok(false);
    }
    let status = if success { StepStatus::Success } else { StepStatus::Failed };
    store::step_finished(&mut tx, run_id, step.seq, status, detail, now).await?;
    if !success {
        let skipped = format!("not run: {} ({}) failed", spec::written_path(&step.step.path), step.step.step_id);
        store::skip_pending(&mut tx, run_id, &skipped, now).await?;
        let on_fail = spec::step_at(&drive.spec, &step.step.path).map(|spec| spec.on_fail.as_slice()).unwrap_or_default();
        match crate::start::steps(on_fail, Some(&step.step.path), &drive.context) {
            Ok(steps) => store::append_steps(&mut tx, run_id, steps).await?,
            Err(error) => tracing::error!(run_id = %run_id, error = %error, "cannot render the on_fail steps"),
        }
    }
    tx.commit().await?;
    tracing::info!(
        tenant_id = %drive.run.tenant_id, run_id = %run_id, step = %step.step.path, step_id = %step.step.step_id,
        status = store::step_status_str(status), detail, "scenario step finished"
    );
    Ok(true)
}

/// Ends a run whose steps are all done: failed when one failed (the first
/// one says why), else success; a stopped run stays stopped.
async fn finish(shared: &Shared, drive: &Drive) -> Result<(), sqlx::Error> {
    let mut tx = shared.pool.begin().await?;
    if !store::lock_leased(&mut tx, &drive.run.id, &shared.instance).await? {
        return Ok(());
    }
    let failed = drive.steps.iter().find(|s| s.step.status == StepStatus::Failed);
    let (status, reason) = match (drive.run.status, failed) {
        (RunStatus::Running, Some(failed)) => (
            RunStatus::Failed,
            Some(format!(
                "{} ({}) failed: {}",
                spec::written_path(&failed.step.path),
                failed.step.step_id,
                failed.step.detail.as_deref().unwrap_or("")
            )),
        ),
        (RunStatus::Running, None) => (RunStatus::Success, None),
        (other, _) => (other, None),
    };
    store::run_finished(&mut tx, &drive.run.id, status, reason.as_deref(), Utc::now()).await?;
    tx.commit().await?;
    crate::telemetry::run_finished(store::run_status_str(status));
    tracing::info!(tenant_id = %drive.run.tenant_id, run_id = %drive.run.id, status = store::run_status_str(status), "scenario run finished");
    Ok(())
}

async fn stop_by_kill_switch(shared: &Shared, drive: &Drive, next: &StepRow) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let mut tx = shared.pool.begin().await?;
    if !store::lock_leased(&mut tx, &drive.run.id, &shared.instance).await? {
        return Ok(());
    }
    store::skip_pending(&mut tx, &drive.run.id, "not run: scenarios were turned off for this tenant (kill switch)", now).await?;
    let reason = format!(
        "stopped before {} ({}): scenarios were turned off for this tenant (kill switch)",
        spec::written_path(&next.step.path),
        next.step.step_id
    );
    store::run_finished(&mut tx, &drive.run.id, RunStatus::Stopped, Some(&reason), now).await?;
    tx.commit().await?;
    crate::telemetry::run_finished(store::run_status_str(RunStatus::Stopped));
    tracing::info!(tenant_id = %drive.run.tenant_id, run_id = %drive.run.id, "scenario run stopped by the kill switch");
    Ok(())
}

/// The key a step's request is made under: `<run id>:<step path>`.
fn step_key(drive: &Drive, step: &StepRow) -> String {
    let key = format!("{}:{}", drive.run.id, step.step.path);
    if key.len() <= MAX_KEY_BYTES {
        key
    } else {
        format!("{}:#{}", drive.run.id, step.seq)
    }
}

fn after(at: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::days(1))
}

/// Runs one step (resuming it when it is running already).
async fn execute(shared: &Shared, drive: &Drive, step: &StepRow) -> Result<Outcome, sqlx::Error> {
    let spec_step = spec::step_at(&drive.spec, &step.step.path);
    let kind = spec_step.and_then(|s| StepKind::of(s).ok());
    let timeout = spec_step.and_then(|s| s.timeout);
    let now = store::millis(Utc::now());
    let wait = match kind {
        Some(StepKind::Action(_)) => timeout.unwrap_or(spec::DEFAULT_ACTION_WAIT),
        Some(StepKind::Verify) => spec::within(&step.step.params).unwrap_or(spec::DEFAULT_WITHIN),
        _ => timeout.unwrap_or(spec::DEFAULT_NOTIFY_WAIT),
    };
    let deadline = match (step.step.status, step.deadline) {
        (StepStatus::Running, Some(deadline)) => deadline,
        _ => {
            let deadline = after(now, wait);
            if !store::step_started(&shared.pool, &drive.run.id, step.seq, &shared.instance, now, deadline).await? {
                return Ok(Outcome::Lost);
            }
            tracing::info!(run_id = %drive.run.id, step = %step.step.path, step_id = %step.step.step_id, "scenario step started");
            deadline
        }
    };
    match kind {
        // the notice of a stopped run has no step in the spec
        None if step.step.kind == "notify" => Ok(notify(shared, drive, step, deadline).await),
        None => Ok(done(false, "the step is not in the run's scenario")),
        Some(StepKind::Action(action)) => run_action(shared, drive, step, action, wait, timeout.is_some(), deadline).await,
        Some(StepKind::Notify) => Ok(notify(shared, drive, step, deadline).await),
        Some(StepKind::Verify) => Ok(verify(shared, drive, deadline).await),
    }
}

/// Asks until an answer other than "unavailable" or the deadline.
async fn ask<T, F, Fut>(shared: &Shared, deadline: DateTime<Utc>, mut call: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ServiceError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        match call().await {
            Err(error) if transient(&error) && Utc::now() < deadline => {
                tracing::warn!(error = %error.message, "a scenario step's request failed; retrying");
                if sleep_or_cancelled(backoff.next_delay(), &shared.stop).await {
                    return Err(error);
                }
            }
            other => return other,
        }
    }
}

fn describe(record: &ActionRecord) -> String {
    let mut text = format!("action {} {}", record.id, record.status.as_str());
    if let Some(code) = record.exit_code {
        text.push_str(&format!(" (exit {code})"));
    }
    if let Some(error) = &record.error {
        text.push_str(&format!(": {error}"));
    }
    text
}

async fn run_action(
    shared: &Shared,
    drive: &Drive,
    step: &StepRow,
    action: vigil_bus::messages::ActionType,
    wait: Duration,
    timeout_given: bool,
    mut deadline: DateTime<Utc>,
) -> Result<Outcome, sqlx::Error> {
    let host = run_host(drive);
    let Some(host_id) = spec::step_host(&step.step.params, host.as_ref()).map(str::to_owned) else {
        return Ok(done(false, "no host to act on: give params.host_id, or run it on a host"));
    };
    let request = RequestAction {
        tenant_id: drive.run.tenant_id.clone(),
        host_id,
        action_type: action,
        params: spec::action_params(&step.step.params),
        user_id: None,
        requested_by: format!("scenario:{}", drive.run.scenario_id),
        // an order not started in time is never started late
        ttl_seconds: Some(u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX)),
        timeout_seconds: None,
        idempotency_key: Some(step_key(drive, step)),
    };
    let asked = ask(shared, deadline, || vigil_bus::messages::request(&shared.nats, actioner::REQUEST, &request)).await;
    let mut record = match asked {
        Ok(record) => record,
        Err(error) if transient(&error) => {
            return Ok(done(false, format!("the actioner did not take the action in time: {}", error.message)))
        }
        Err(error) => return Ok(done(false, format!("the actioner refused the action: {}", error.message))),
    };
    if step.step.action_id.as_deref() != Some(record.id.as_str()) {
        if !timeout_given {
            // the action's own timeout decides, and 30 s more
            let own = Duration::from_secs(u64::from(record.timeout_seconds) + 30);
            deadline = deadline.max(after(record.created_at, own));
        }
        if !store::step_action(&shared.pool, &drive.run.id, step.seq, &shared.instance, &record.id, deadline).await? {
            return Ok(Outcome::Lost);
        }
        tracing::info!(run_id = %drive.run.id, step = %step.step.path, action_id = %record.id, "scenario action requested");
    }
    let get = TenantItem { tenant_id: drive.run.tenant_id.clone(), id: record.id.clone() };
    loop {
        if record.status.is_final() {
            let success = record.status == ActionStatus::Success;
            return Ok(done(success, describe(&record)));
        }
        if Utc::now() >= deadline {
            return Ok(done(
                false,
                format!("no result by {} ({} is still {})", deadline.format("%H:%M:%S UTC"), record.id, record.status.as_str()),
            ));
        }
        if sleep_or_cancelled(shared.config.poll_interval, &shared.stop).await {
            return Ok(Outcome::Stopping);
        }
        match vigil_bus::messages::request(&shared.nats, actioner::GET, &get).await {
            Ok(latest) => record = latest,
            Err(error) if transient(&error) => {
                tracing::debug!(error = %error.message, "cannot read an action's status; asking again")
            }
            Err(error) => return Ok(done(false, format!("cannot read action {}: {}", record.id, error.message))),
        }
    }
}

async fn notify(shared: &Shared, drive: &Drive, step: &StepRow, deadline: DateTime<Utc>) -> Outcome {
    let params: &BTreeMap<String, String> = &step.step.params;
    let request = NotifyChannels {
        tenant_id: drive.run.tenant_id.clone(),
        channel: params.get("channel").cloned(),
        host_id: drive.run.host_id.clone(),
        message: params.get("message").cloned().unwrap_or_default(),
        key: step_key(drive, step),
    };
    match ask(shared, deadline, || vigil_bus::messages::request(&shared.nats, alerter::NOTIFY, &request)).await {
        Ok(receipt) if receipt.channels.is_empty() => done(true, "no enabled channel: nothing sent"),
        Ok(receipt) => done(true, format!("queued for {}", receipt.channels.join(", "))),
        Err(error) if transient(&error) => {
            done(false, format!("the alerter did not take the message in time: {}", error.message))
        }
        Err(error) => done(false, format!("the alerter refused the message: {}", error.message)),
    }
}

async fn verify(shared: &Shared, drive: &Drive, deadline: DateTime<Utc>) -> Outcome {
    let Some(alert_id) = drive.run.alert_id.clone() else {
        return done(false, "no triggering alert to verify");
    };
    let request =
        ListAlerts { tenant_id: drive.run.tenant_id.clone(), host_id: drive.run.host_id.clone(), ..ListAlerts::default() };
    let every = shared.config.poll_interval.max(Duration::from_secs(1));
    loop {
        match vigil_bus::messages::request(&shared.nats, alerter::LIST_ALERTS, &request).await {
            Ok(active) if !active.iter().any(|alert| alert.id == alert_id) => {
                return done(true, format!("alert {alert_id} resolved"));
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(error = %error.message, "cannot list active alerts; asking again"),
        }
        if Utc::now() >= deadline {
            return done(false, format!("alert {alert_id} still active at {}", deadline.format("%H:%M:%S UTC")));
        }
        if sleep_or_cancelled(every, &shared.stop).await {
            return Outcome::Stopping;
        }
    }
}
