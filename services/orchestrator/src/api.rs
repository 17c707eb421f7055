//! What the orchestrator answers on its endpoints: scenarios (list, get,
//! save from their text, delete), runs (manual and dry runs, list, get) and
//! the tenant's kill switch. Every request names its tenant; another
//! tenant's item is `NotFound`. Who may call them (admins) is the gateway's
//! business.

use std::sync::Arc;

use chrono::Utc;
use vigil_bus::messages::{
    Alert, ListAlerts, ListRuns, OfTenant, PutScenarioSettings, RunScenario, RunStatus, SaveScenario, ScenarioRecord,
    ScenarioRun, ScenarioSettings, StepSpec, StepStatus, TenantItem,
};
use vigil_bus::subjects::alerter;
use vigil_bus::{ErrorCode, ServiceError};

use crate::error::{bad_id, db, not_found, FieldError};
use crate::guards::{self, Facts, Verdict};
use crate::render::{self, Host};
use crate::spec::{self, TriggerKind};
use crate::start::{self, Trigger};
use crate::store::{self, NewRun, NewStep};
use crate::{executor, triggers, Shared};

/// Longest `by` (a user's email).
const MAX_BY_BYTES: usize = 255;

fn check_by(by: &str) -> Result<(), ServiceError> {
    if by.trim().is_empty() || by.len() > MAX_BY_BYTES {
        return Err(FieldError::new("by", format!("must be 1 to {MAX_BY_BYTES} bytes")).into());
    }
    Ok(())
}

fn unavailable(what: &str, error: &ServiceError) -> ServiceError {
    ServiceError::new(ErrorCode::Unavailable, format!("{what}: {}; retry later", error.message))
}

// ---------------------------------------------------------------- scenarios

pub(crate) async fn list(shared: &Shared, request: OfTenant) -> Result<Vec<ScenarioRecord>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    store::list_scenarios(&shared.pool, &request.tenant_id).await.map_err(db("reading scenarios"))
}

pub(crate) async fn get(shared: &Shared, request: TenantItem) -> Result<ScenarioRecord, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("scenario", &request.id)?;
    store::get_scenario(&shared.pool, &request.tenant_id, &request.id)
        .await
        .map_err(db("reading a scenario"))?
        .ok_or_else(|| not_found("scenario", &request.id))
}

/// The rule `wanted` names among the tenant's: its id, else its name (the
/// id is what the stored spec keeps).
async fn resolve_rule(shared: &Shared, tenant_id: &str, wanted: &str) -> Result<String, ServiceError> {
    let rules = vigil_bus::messages::request(&shared.nats, alerter::LIST_RULES, &OfTenant { tenant_id: tenant_id.to_owned() })
        .await
        .map_err(|error| unavailable("cannot check trigger.alert: the alerter did not answer", &error))?;
    if rules.iter().any(|rule| rule.id == wanted) {
        return Ok(wanted.to_owned());
    }
    let named: Vec<&str> = rules.iter().filter(|rule| rule.rule.name == wanted).map(|rule| rule.id.as_str()).collect();
    match named.as_slice() {
        [id] => Ok((*id).to_owned()),
        [] => {
            Err(FieldError::new("trigger.alert", format!("no alert rule {wanted:?} in this tenant (give a rule's id or name)"))
                .into())
        }
        many => Err(FieldError::new(
            "trigger.alert",
            format!("{} rules are named {wanted:?} ({}); give the rule's id", many.len(), many.join(", ")),
        )
        .into()),
    }
}

pub(crate) async fn save(shared: &Shared, request: SaveScenario) -> Result<ScenarioRecord, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    if let Some(id) = &request.id {
        bad_id("scenario", id)?;
    }
    check_by(&request.by)?;
    let mut spec = spec::parse(&request.source)?;
    spec::check(&spec, shared.config.max_run_steps)?;
    let kind = TriggerKind::of(&spec.trigger)?;
    if let Some(wanted) = spec.trigger.alert.clone() {
        spec.trigger.alert = Some(resolve_rule(shared, &request.tenant_id, wanted.trim()).await?);
    }
    let now = store::millis(Utc::now());
    let record = ScenarioRecord {
        id: request.id.clone().unwrap_or_else(|| vigil_runtime::new_id("scn")),
        tenant_id: request.tenant_id.clone(),
        source: request.source.clone(),
        spec,
        created_at: now,
        updated_at: now,
        updated_by: request.by.clone(),
    };
    let saved = store::save_scenario(&shared.pool, &record, kind.as_str(), request.id.is_some()).await;
    match saved {
        Ok(true) => {}
        Ok(false) => return Err(not_found("scenario", &record.id)),
        Err(error) if store::is_duplicate(&error) => {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                format!("a scenario named {:?} exists in this tenant; give another name", record.spec.name.trim()),
            ))
        }
        Err(error) => return Err(db("saving a scenario")(error)),
    }
    tracing::info!(tenant_id = %record.tenant_id, scenario_id = %record.id, by = %record.updated_by, trigger = kind.as_str(), "scenario saved");
    store::get_scenario(&shared.pool, &record.tenant_id, &record.id)
        .await
        .map_err(db("reading a scenario"))?
        .ok_or_else(|| not_found("scenario", &record.id))
}

/// Deletes a scenario; its runs stay (a run under way finishes its steps).
pub(crate) async fn delete(shared: &Shared, request: TenantItem) -> Result<(), ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("scenario", &request.id)?;
    if !store::delete_scenario(&shared.pool, &request.tenant_id, &request.id).await.map_err(db("deleting a scenario"))? {
        return Err(not_found("scenario", &request.id));
    }
    tracing::info!(tenant_id = %request.tenant_id, scenario_id = %request.id, "scenario deleted");
    Ok(())
}

// ---------------------------------------------------------------- runs

/// The host a manual run acts on: the one asked for (one of the trigger's
/// hosts, when it names some), else the trigger's only host, else none.
fn manual_host(hosts: &[String], asked: Option<&str>) -> Result<Option<String>, ServiceError> {
    match (asked, hosts) {
        (Some(host), hosts) if !hosts.is_empty() && !hosts.iter().any(|h| h == host) => {
            Err(FieldError::new("host_id", format!("{host:?} is not one of the scenario's hosts ({})", hosts.join(", "))).into())
        }
        (Some(host), _) => Ok(Some(host.to_owned())),
        (None, [only]) => Ok(Some(only.clone())),
        (None, []) => Ok(None),
        (None, many) => Err(FieldError::new(
            "host_id",
            format!("the scenario acts on {} hosts ({}); give the one to run on", many.len(), many.join(", ")),
        )
        .into()),
    }
}

/// Every step of `steps` and their `on_fail` steps, rendered, in order.
fn all_steps(steps: &[StepSpec], parent: Option<&str>, data: &serde_json::Value, out: &mut Vec<NewStep>) -> Result<(), String> {
    let rendered = start::steps(steps, parent, data)?;
    for (step, mut new) in steps.iter().zip(rendered) {
        let path = new.path.clone();
        new.seq = out.len() as u32;
        new.status = StepStatus::Skipped;
        new.detail = Some("dry run: nothing requested".to_owned());
        out.push(new);
        all_steps(&step.on_fail, Some(&path), data, out)?;
    }
    Ok(())
}

/// A manual run (started; its steps go on after the reply) or a dry run
/// (every step rendered and recorded, nothing requested; the reason says
/// what the guards would decide now).
pub(crate) async fn run(shared: &Arc<Shared>, request: RunScenario) -> Result<ScenarioRun, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("scenario", &request.id)?;
    if let Some(host) = &request.host_id {
        bad_id("host", host)?;
    }
    check_by(&request.by)?;
    let scenario = get(shared, TenantItem { tenant_id: request.tenant_id.clone(), id: request.id.clone() }).await?;
    let spec = &scenario.spec;
    let kind = TriggerKind::of(&spec.trigger)?;
    let host_id = manual_host(&spec.trigger.hosts, request.host_id.as_deref())?;
    let host = match host_id {
        Some(id) => {
            let name = triggers::host_name(&shared.nats, &request.tenant_id, &id).await.map_err(|_| not_found("host", &id))?;
            Some(Host { id, name })
        }
        None if kind == TriggerKind::Alert && request.dry_run => Some(render::sample_host()),
        None if kind == TriggerKind::Alert => {
            return Err(FieldError::new("host_id", "give the host whose firing alert the run acts on").into());
        }
        None => None,
    };
    let alert = match (kind, &host) {
        (TriggerKind::Alert, Some(host)) => {
            let rule = spec.trigger.alert.as_deref().unwrap_or_default();
            let active = vigil_bus::messages::request(
                &shared.nats,
                alerter::LIST_ALERTS,
                &ListAlerts { tenant_id: request.tenant_id.clone(), host_id: Some(host.id.clone()), ..ListAlerts::default() },
            )
            .await
            .map_err(|error| unavailable("cannot read the host's alerts: the alerter did not answer", &error))?;
            let firing: Option<Alert> = active.into_iter().find(|alert| alert.rule_id == rule);
            match firing {
                // asked for: a silence does not hold it back
                Some(alert) => Some(Alert { silenced: false, ..alert }),
                None if request.dry_run => Some(render::sample_alert(rule, host)),
                None => {
                    return Err(FieldError::new(
                        "host_id",
                        format!(
                            "no alert of rule {rule:?} is active on {}; this scenario acts on a firing alert (a dry run shows its steps on a sample one)",
                            host.id
                        ),
                    )
                    .into())
                }
            }
        }
        _ => None,
    };
    if request.dry_run {
        return dry_run(shared, &scenario, host.as_ref(), alert.as_ref()).await;
    }
    // a run that cannot render its steps is refused, not recorded failed
    let probe = render::data(alert.as_ref(), host.as_ref(), &scenario.id, &spec.name, "run-probe");
    start::steps(&spec.steps, None, &probe)
        .map_err(|error| FieldError::new("host_id", format!("the steps need what this run lacks: {error}")))?;
    let mut tx = shared.pool.begin().await.map_err(db("starting a run"))?;
    let trigger = Trigger { kind: TriggerKind::Manual, key: None, host, alert: alert.as_ref() };
    let started = start::start(&mut tx, shared, &scenario.id, trigger, Utc::now())
        .await
        .map_err(db("starting a run"))?
        .ok_or_else(|| not_found("scenario", &scenario.id))?;
    tx.commit().await.map_err(db("starting a run"))?;
    tracing::info!(tenant_id = %scenario.tenant_id, scenario_id = %scenario.id, run_id = %started.run_id, by = %request.by, "manual run");
    if started.drive {
        executor::spawn(shared, started.run_id.clone());
    }
    get_run(shared, TenantItem { tenant_id: request.tenant_id, id: started.run_id }).await
}

async fn dry_run(
    shared: &Shared,
    scenario: &ScenarioRecord,
    host: Option<&Host>,
    alert: Option<&Alert>,
) -> Result<ScenarioRun, ServiceError> {
    let run_id = vigil_runtime::new_id("run");
    let data = render::data(alert, host, &scenario.id, &scenario.spec.name, &run_id);
    let mut steps = Vec::new();
    all_steps(&scenario.spec.steps, None, &data, &mut steps)
        .map_err(|error| FieldError::new("host_id", format!("the steps need what this run lacks: {error}")))?;
    let now = store::millis(Utc::now());
    let mut tx = shared.pool.begin().await.map_err(db("recording a dry run"))?;
    // what the guards would say now (read, not locked: nothing is started)
    let window = chrono::Duration::from_std(scenario.spec.guards.window).unwrap_or(chrono::Duration::MAX);
    let host_id = host.map(|host| host.id.as_str());
    let facts = Facts {
        enabled: store::settings(&mut *tx, &scenario.tenant_id).await.map_err(db("recording a dry run"))?.enabled,
        silenced: false,
        ..store::guard_facts(
            &mut tx,
            &scenario.id,
            host_id,
            now.checked_sub_signed(window).unwrap_or(chrono::DateTime::<Utc>::MIN_UTC),
        )
        .await
        .map_err(db("recording a dry run"))?
    };
    let reason = match guards::decide(&scenario.spec.guards, &facts, now) {
        Verdict::Start => "dry run: nothing requested; a run now would start".to_owned(),
        Verdict::Skip(why) => format!("dry run: nothing requested; a run now would be skipped: {why}"),
        Verdict::Stop { reason, .. } => format!("dry run: nothing requested; a run now would be stopped: {reason}"),
    };
    let run = NewRun {
        id: &run_id,
        tenant_id: &scenario.tenant_id,
        scenario_id: &scenario.id,
        scenario_name: &scenario.spec.name,
        host_id,
        trigger: TriggerKind::Manual.as_str(),
        alert_id: alert.map(|alert| alert.id.as_str()).filter(|id| *id != "alert-sample"),
        trigger_key: None,
        status: RunStatus::DryRun,
        reason: Some(&reason),
        spec: &scenario.spec,
        context: &data,
        started_at: now,
        finished_at: Some(now),
        lease: None,
    };
    store::insert_run(&mut tx, &run, &steps).await.map_err(db("recording a dry run"))?;
    tx.commit().await.map_err(db("recording a dry run"))?;
    get_run(shared, TenantItem { tenant_id: scenario.tenant_id.clone(), id: run_id }).await
}

pub(crate) async fn list_runs(shared: &Shared, request: ListRuns) -> Result<Vec<ScenarioRun>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    if let Some(id) = &request.scenario_id {
        bad_id("scenario", id)?;
    }
    if let Some(before) = &request.before {
        bad_id("run", before)?;
    }
    store::list_runs(&shared.pool, &request).await.map_err(db("reading runs"))
}

pub(crate) async fn get_run(shared: &Shared, request: TenantItem) -> Result<ScenarioRun, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("run", &request.id)?;
    store::get_run(&shared.pool, &request.tenant_id, &request.id)
        .await
        .map_err(db("reading a run"))?
        .ok_or_else(|| not_found("run", &request.id))
}

// ---------------------------------------------------------------- the kill switch

pub(crate) async fn get_settings(shared: &Shared, request: OfTenant) -> Result<ScenarioSettings, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    store::settings(&shared.pool, &request.tenant_id).await.map_err(db("reading scenario settings"))
}

pub(crate) async fn put_settings(shared: &Shared, request: PutScenarioSettings) -> Result<ScenarioSettings, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    check_by(&request.by)?;
    let now = store::millis(Utc::now());
    store::put_settings(&shared.pool, &request.tenant_id, request.enabled, &request.by, now)
        .await
        .map_err(db("saving scenario settings"))?;
    tracing::info!(tenant_id = %request.tenant_id, enabled = request.enabled, by = %request.by, "scenario kill switch set");
    store::settings(&shared.pool, &request.tenant_id).await.map_err(db("reading scenario settings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_manual_run_acts_on_the_host_asked_or_the_triggers_only_one() {
        assert_eq!(manual_host(&[], None).unwrap(), None);
        assert_eq!(manual_host(&[], Some("h1")).unwrap().as_deref(), Some("h1"));
        assert_eq!(manual_host(&hosts(&["h1"]), None).unwrap().as_deref(), Some("h1"));
        assert_eq!(manual_host(&hosts(&["h1", "h2"]), Some("h2")).unwrap().as_deref(), Some("h2"));
        let many = manual_host(&hosts(&["h1", "h2"]), None).unwrap_err();
        assert_eq!(many.message, "host_id: the scenario acts on 2 hosts (h1, h2); give the one to run on");
        let other = manual_host(&hosts(&["h1"]), Some("h9")).unwrap_err();
        assert_eq!(
            (other.code, other.message.as_str()),
            (ErrorCode::Unprocessable, "host_id: \"h9\" is not one of the scenario's hosts (h1)")
        );
    }
}
