//! Starting a run, in the caller's transaction (the alert batch's, the cron
//! tick's, a manual run's): the scenario's row is locked, a trigger seen
//! before (`trigger_key`) starts nothing new, the guards decide on facts
//! read under that lock, and the run is recorded with its steps: running
//! (leased to this orchestrator, steps pending, params rendered), skipped,
//! or stopped (with a notice step when it is the first stop of its window).

use chrono::{DateTime, Utc};
use vigil_bus::messages::{Alert, RunStatus, ScenarioRecord, ScenarioSpec, StepSpec, StepStatus};

use crate::guards::{self, Facts, Verdict};
use crate::render::{self, Host};
use crate::spec::{self, StepKind, TriggerKind};
use crate::store::{self, NewRun, NewStep, Tx};
use crate::Shared;

/// What starts a run.
pub(crate) struct Trigger<'a> {
    pub kind: TriggerKind,
    /// `alert:<alert id>`, `cron:<due ms>:<host>`: the same key twice starts one run.
    pub key: Option<String>,
    pub host: Option<Host>,
    pub alert: Option<&'a Alert>,
}

/// What [`start`] recorded.
pub(crate) struct Started {
    pub run_id: String,
    /// Recorded now (not a trigger seen before).
    pub new: bool,
    /// It has steps to run: this orchestrator holds its lease and drives it.
    pub drive: bool,
}

/// The steps of `steps` (the scenario's, or a step's `on_fail`) rendered
/// with `data`, pending; the first that does not render is the error
/// (`steps[0].params.host_id: unknown variable ...`).
pub(crate) fn steps(steps: &[StepSpec], parent: Option<&str>, data: &serde_json::Value) -> Result<Vec<NewStep>, String> {
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let path = spec::step_path(parent, index);
            let kind =
                StepKind::of(step).map_err(|(field, message)| format!("{}.{field}: {message}", spec::written_path(&path)))?;
            let params = render::render_params(&step.params, data)
                .map_err(|(key, error)| format!("{}.params.{key}: {error}", spec::written_path(&path)))?;
            Ok(NewStep {
                seq: index as u32,
                path,
                step_id: step.id.clone(),
                kind: kind.name(),
                status: StepStatus::Pending,
                params,
                detail: None,
            })
        })
        .collect()
}

/// The message of a stop notice.
fn stop_notice(spec: &ScenarioSpec, host: Option<&Host>, reason: &str) -> String {
    let on = host.map(|host| format!(" on {}", host.name)).unwrap_or_default();
    format!(
        "Scenario {:?} was stopped{on}: {reason}. It starts no run there until fewer than {} runs started within {}.",
        spec.name,
        spec.guards.max_attempts,
        vigil_bus::duration::format(spec.guards.window)
    )
}

/// Starts (or records as skipped or stopped) a run of scenario
/// `scenario_id`; `None` when the scenario is gone.
pub(crate) async fn start(
    tx: &mut Tx<'_>,
    shared: &Shared,
    scenario_id: &str,
    trigger: Trigger<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Started>, sqlx::Error> {
    let now = store::millis(now);
    let Some(ScenarioRecord { id, tenant_id, spec, .. }) = store::lock_scenario(tx, scenario_id).await? else {
        return Ok(None);
    };
    if let Some(key) = &trigger.key {
        if let Some(run_id) = store::run_by_key(tx, &id, key).await? {
            return Ok(Some(Started { run_id, new: false, drive: false }));
        }
    }
    let host_id = trigger.host.as_ref().map(|host| host.id.as_str());
    let window = chrono::Duration::from_std(spec.guards.window).unwrap_or(chrono::Duration::MAX);
    let facts = Facts {
        enabled: store::settings(&mut **tx, &tenant_id).await?.enabled,
        silenced: trigger.alert.is_some_and(|alert| alert.silenced),
        ..store::guard_facts(tx, &id, host_id, now.checked_sub_signed(window).unwrap_or(DateTime::<Utc>::MIN_UTC)).await?
    };
    let verdict = guards::decide(&spec.guards, &facts, now);
    let run_id = vigil_runtime::new_id("run");
    let data = render::data(trigger.alert, trigger.host.as_ref(), &id, &spec.name, &run_id);
    let lease_until = now + chrono::Duration::from_std(shared.config.run_lease).unwrap_or(chrono::Duration::seconds(15));
    let (status, reason, steps, drive) = match verdict {
        Verdict::Start => match steps(&spec.steps, None, &data) {
            Ok(steps) => (RunStatus::Running, None, steps, true),
            Err(error) => (RunStatus::Failed, Some(format!("cannot render the steps: {error}")), Vec::new(), false),
        },
        Verdict::Skip(reason) => (RunStatus::Skipped, Some(reason), Vec::new(), false),
        Verdict::Stop { reason, notify } => {
            let notice = notify.then(|| NewStep {
                seq: 0,
                path: "stopped".to_owned(),
                step_id: "stopped".to_owned(),
                kind: StepKind::Notify.name(),
                status: StepStatus::Pending,
                params: [("message".to_owned(), stop_notice(&spec, trigger.host.as_ref(), &reason))].into_iter().collect(),
                detail: None,
            });
            (RunStatus::Stopped, Some(reason), notice.into_iter().collect(), notify)
        }
    };
    let run = NewRun {
        id: &run_id,
        tenant_id: &tenant_id,
        scenario_id: &id,
        scenario_name: &spec.name,
        host_id,
        trigger: trigger.kind.as_str(),
        alert_id: trigger.alert.map(|alert| alert.id.as_str()),
        trigger_key: trigger.key.as_deref(),
        status,
        reason: reason.as_deref(),
        spec: &spec,
        context: &data,
        started_at: now,
        finished_at: (!drive).then_some(now),
        lease: drive.then_some((shared.instance.as_str(), lease_until)),
    };
    store::insert_run(tx, &run, &steps).await?;
    tracing::info!(
        %tenant_id, scenario_id = %id, run_id = %run_id, host_id = ?host_id, trigger = trigger.kind.as_str(),
        status = store::run_status_str(status), reason = reason.as_deref().unwrap_or(""), "scenario run recorded"
    );
    Ok(Some(Started { run_id, new: true, drive }))
}
