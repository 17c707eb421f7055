//! The orchestrator's tables (see `migrations/20261206000003_scenarios.sql`):
//! scenarios, the tenant's kill switch, runs and their steps, cron ticks.
//!
//! Invariants: every statement a request leads to names its tenant, so
//! nothing reaches another tenant's row; a run's or step's state is changed
//! only by the orchestrator holding the run's lease (the updates name
//! `leased_by`), so a run is driven by one orchestrator at a time.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlPool, Row, Transaction};
use vigil_bus::messages::{
    ListRuns, RunStatus, RunStep, ScenarioRecord, ScenarioRun, ScenarioSettings, ScenarioSpec, StepStatus,
};

pub type Tx<'c> = Transaction<'c, MySql>;

/// Longest detail or reason kept.
const MAX_TEXT_BYTES: usize = 4000;

/// `text` cut to at most [`MAX_TEXT_BYTES`], on a character boundary.
pub fn cut(text: &str) -> &str {
    vigil_bus::text::truncate(text, MAX_TEXT_BYTES)
}

/// `at` to the millisecond, as `DATETIME(3)` keeps it.
pub fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

pub fn run_status_str(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Success => "success",
        RunStatus::Failed => "failed",
        RunStatus::Skipped => "skipped",
        RunStatus::Stopped => "stopped",
        RunStatus::DryRun => "dry_run",
    }
}

fn run_status(text: &str) -> Result<RunStatus, sqlx::Error> {
    serde_json::from_value(serde_json::Value::from(text)).map_err(|e| decode_error("scenario_runs.status", e))
}

pub fn step_status_str(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pending => "pending",
        StepStatus::Running => "running",
        StepStatus::Success => "success",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}

fn step_status(text: &str) -> Result<StepStatus, sqlx::Error> {
    serde_json::from_value(serde_json::Value::from(text)).map_err(|e| decode_error("scenario_steps.status", e))
}

fn decode_error(column: &str, error: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column}: {error}").into())
}

// ---------------------------------------------------------------- scenarios

const SCENARIO_COLUMNS: &str = "id, tenant_id, source, spec, created_at, updated_at, updated_by";

fn scenario(row: &MySqlRow) -> Result<ScenarioRecord, sqlx::Error> {
    let spec: sqlx::types::Json<ScenarioSpec> = row.try_get("spec")?;
    Ok(ScenarioRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        source: row.try_get("source")?,
        spec: spec.0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

/// MariaDB "duplicate entry": a scenario name taken in the tenant.
const ER_DUP_ENTRY: u16 = 1062;

pub fn is_duplicate(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|e| e.number() == ER_DUP_ENTRY)
}

/// Writes a new scenario or replaces the tenant's scenario of the same id;
/// `false` when `replace` and there is none.
pub async fn save_scenario(
    pool: &MySqlPool,
    record: &ScenarioRecord,
    trigger_kind: &str,
    replace: bool,
) -> Result<bool, sqlx::Error> {
    let spec = sqlx::types::Json(&record.spec);
    let rule = record.spec.trigger.alert.as_deref();
    let done = if replace {
        sqlx::query(
            "UPDATE scenarios SET name = ?, source = ?, spec = ?, enabled = ?, trigger_kind = ?, trigger_rule = ?, \
             updated_at = ?, updated_by = ? WHERE id = ? AND tenant_id = ?",
        )
        .bind(record.spec.name.trim())
        .bind(&record.source)
        .bind(spec)
        .bind(record.spec.enabled)
        .bind(trigger_kind)
        .bind(rule)
        .bind(record.updated_at)
        .bind(&record.updated_by)
        .bind(&record.id)
        .bind(&record.tenant_id)
        .execute(pool)
        .await?
    } else {
        sqlx::query(
            "INSERT INTO scenarios (id, tenant_id, name, source, spec, enabled, trigger_kind, trigger_rule, created_at, \
             updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.id)
        .bind(&record.tenant_id)
        .bind(record.spec.name.trim())
        .bind(&record.source)
        .bind(spec)
        .bind(record.spec.enabled)
        .bind(trigger_kind)
        .bind(rule)
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(&record.updated_by)
        .execute(pool)
        .await?
    };
    Ok(done.rows_affected() > 0)
}

pub async fn get_scenario<'e, E: sqlx::Executor<'e, Database = MySql>>(
    executor: E,
    tenant_id: &str,
    id: &str,
) -> Result<Option<ScenarioRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE id = ? AND tenant_id = ?"))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(scenario).transpose()
}

pub async fn list_scenarios(pool: &MySqlPool, tenant_id: &str) -> Result<Vec<ScenarioRecord>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE tenant_id = ? ORDER BY name, id"))
        .bind(tenant_id)
        .fetch_all(pool)
        .await?;
    rows.iter().map(scenario).collect()
}

/// Deletes a scenario (its runs stay, as history); `false` when there is none.
pub async fn delete_scenario(pool: &MySqlPool, tenant_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM scenarios WHERE id = ? AND tenant_id = ?").bind(id).bind(tenant_id).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

/// The tenant's enabled scenarios triggered by rule `rule_id`.
pub async fn alert_scenarios(tx: &mut Tx<'_>, tenant_id: &str, rule_id: &str) -> Result<Vec<ScenarioRecord>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE tenant_id = ? AND trigger_rule = ? AND trigger_kind = 'alert' AND enabled"
    ))
    .bind(tenant_id)
    .bind(rule_id)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(scenario).collect()
}

/// Every enabled cron scenario of every tenant.
pub async fn cron_scenarios(pool: &MySqlPool) -> Result<Vec<ScenarioRecord>, sqlx::Error> {
    let rows =
        sqlx::query(&format!("SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE trigger_kind = 'cron' AND enabled ORDER BY id"))
            .fetch_all(pool)
            .await?;
    rows.iter().map(scenario).collect()
}

/// Locks a scenario's row (every run start of a scenario goes through it).
pub async fn lock_scenario(tx: &mut Tx<'_>, id: &str) -> Result<Option<ScenarioRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE id = ? FOR UPDATE"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(scenario).transpose()
}

// ---------------------------------------------------------------- settings

pub async fn settings<'e, E: sqlx::Executor<'e, Database = MySql>>(
    executor: E,
    tenant_id: &str,
) -> Result<ScenarioSettings, sqlx::Error> {
    let row = sqlx::query("SELECT enabled, updated_at, updated_by FROM scenario_settings WHERE tenant_id = ?")
        .bind(tenant_id)
        .fetch_optional(executor)
        .await?;
    Ok(match row {
        Some(row) => ScenarioSettings {
            tenant_id: tenant_id.to_owned(),
            enabled: row.try_get("enabled")?,
            updated_at: row.try_get("updated_at")?,
            updated_by: row.try_get("updated_by")?,
        },
        None => ScenarioSettings { tenant_id: tenant_id.to_owned(), enabled: true, updated_at: None, updated_by: None },
    })
}

pub async fn put_settings(
    pool: &MySqlPool,
    tenant_id: &str,
    enabled: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO scenario_settings (tenant_id, enabled, updated_at, updated_by) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE enabled = VALUES(enabled), updated_at = VALUES(updated_at), updated_by = VALUES(updated_by)",
    )
    .bind(tenant_id)
    .bind(enabled)
    .bind(now)
    .bind(by)
    .execute(pool)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- runs

/// A run to record.
pub struct NewRun<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub scenario_id: &'a str,
    pub scenario_name: &'a str,
    pub host_id: Option<&'a str>,
    pub trigger: &'a str,
    pub alert_id: Option<&'a str>,
    pub trigger_key: Option<&'a str>,
    pub status: RunStatus,
    pub reason: Option<&'a str>,
    pub spec: &'a ScenarioSpec,
    pub context: &'a serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Who drives it and until when (a run with steps to run).
    pub lease: Option<(&'a str, DateTime<Utc>)>,
}

/// A step to record.
pub struct NewStep {
    pub seq: u32,
    pub path: String,
    pub step_id: String,
    pub kind: &'static str,
    pub status: StepStatus,
    pub params: BTreeMap<String, String>,
    pub detail: Option<String>,
}

pub async fn insert_run(tx: &mut Tx<'_>, run: &NewRun<'_>, steps: &[NewStep]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO scenario_runs (id, tenant_id, scenario_id, scenario_name, host_id, `trigger`, alert_id, trigger_key, status, \
         reason, spec, context, started_at, finished_at, leased_by, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(run.id)
    .bind(run.tenant_id)
    .bind(run.scenario_id)
    .bind(run.scenario_name)
    .bind(run.host_id)
    .bind(run.trigger)
    .bind(run.alert_id)
    .bind(run.trigger_key)
    .bind(run_status_str(run.status))
    .bind(run.reason.map(cut))
    .bind(sqlx::types::Json(run.spec))
    .bind(sqlx::types::Json(run.context))
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(run.lease.map(|(by, _)| by))
    .bind(run.lease.map(|(_, until)| until))
    .execute(&mut **tx)
    .await?;
    insert_steps(tx, run.id, steps, run.finished_at).await
}

async fn insert_steps(
    tx: &mut Tx<'_>,
    run_id: &str,
    steps: &[NewStep],
    finished_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut insert = sqlx::QueryBuilder::<MySql>::new(
        "INSERT INTO scenario_steps (run_id, seq, path, step_id, kind, status, params, detail, finished_at) ",
    );
    insert.push_values(steps, |mut row, step| {
        row.push_bind(run_id)
            .push_bind(step.seq)
            .push_bind(&step.path)
            .push_bind(&step.step_id)
            .push_bind(step.kind)
            .push_bind(step_status_str(step.status))
            .push_bind(sqlx::types::Json(&step.params))
            .push_bind(step.detail.as_deref().map(cut))
            .push_bind(finished_at.filter(|_| !matches!(step.status, StepStatus::Pending | StepStatus::Running)));
    });
    insert.build().execute(&mut **tx).await?;
    Ok(())
}

/// The run of a scenario started by `key` (an alert, a cron tick), if any.
pub async fn run_by_key(tx: &mut Tx<'_>, scenario_id: &str, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM scenario_runs WHERE scenario_id = ? AND trigger_key = ?")
        .bind(scenario_id)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
}

/// The guards' facts of a scenario on `host_id` (the kill switch and
/// silence are the caller's): counts within the window since `window_start`.
pub async fn guard_facts(
    tx: &mut Tx<'_>,
    scenario_id: &str,
    host_id: Option<&str>,
    window_start: DateTime<Utc>,
) -> Result<crate::guards::Facts, sqlx::Error> {
    let (started, stopped): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(status IN ('running', 'success', 'failed')), 0) AS SIGNED), \
         CAST(COALESCE(SUM(status = 'stopped'), 0) AS SIGNED) \
         FROM scenario_runs WHERE scenario_id = ? AND host_id <=> ? AND started_at > ?",
    )
    .bind(scenario_id)
    .bind(host_id)
    .bind(window_start)
    .fetch_one(&mut **tx)
    .await?;
    let last_started: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT MAX(started_at) FROM scenario_runs WHERE scenario_id = ? AND host_id <=> ? \
         AND status IN ('running', 'success', 'failed')",
    )
    .bind(scenario_id)
    .bind(host_id)
    .fetch_one(&mut **tx)
    .await?;
    let (on_host, in_fleet): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(host_id <=> ?), 0) AS SIGNED), COUNT(*) FROM scenario_runs \
         WHERE scenario_id = ? AND status = 'running'",
    )
    .bind(host_id)
    .bind(scenario_id)
    .fetch_one(&mut **tx)
    .await?;
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(crate::guards::Facts {
        enabled: true,
        silenced: false,
        last_started,
        started_in_window: count(started),
        stopped_in_window: count(stopped),
        running_on_host: count(on_host),
        running_in_fleet: count(in_fleet),
    })
}

const RUN_COLUMNS: &str =
    "id, tenant_id, scenario_id, scenario_name, host_id, CAST(`trigger` AS CHAR) AS trigger_kind, alert_id, \
     CAST(status AS CHAR) AS status, reason, started_at, finished_at";
const STEP_COLUMNS: &str = "run_id, seq, path, step_id, CAST(kind AS CHAR) AS kind, CAST(status AS CHAR) AS status, params, \
     action_id, detail, started_at, deadline, finished_at";

fn run(row: &MySqlRow) -> Result<ScenarioRun, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(ScenarioRun {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        scenario_id: row.try_get("scenario_id")?,
        scenario_name: row.try_get("scenario_name")?,
        host_id: row.try_get("host_id")?,
        trigger: row.try_get("trigger_kind")?,
        alert_id: row.try_get("alert_id")?,
        status: run_status(&status)?,
        reason: row.try_get("reason")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        steps: Vec::new(),
    })
}

/// A step as stored, with what resuming it needs.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub seq: u32,
    pub step: RunStep,
    pub deadline: Option<DateTime<Utc>>,
}

fn step(row: &MySqlRow) -> Result<StepRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let params: sqlx::types::Json<BTreeMap<String, String>> = row.try_get("params")?;
    Ok(StepRow {
        seq: row.try_get("seq")?,
        step: RunStep {
            path: row.try_get("path")?,
            step_id: row.try_get("step_id")?,
            kind: row.try_get("kind")?,
            status: step_status(&status)?,
            params: params.0,
            action_id: row.try_get("action_id")?,
            detail: row.try_get("detail")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        },
        deadline: row.try_get("deadline")?,
    })
}

/// The steps of `run_ids`, each run's in execution order.
async fn steps_of<'e, E: sqlx::Executor<'e, Database = MySql>>(
    executor: E,
    run_ids: &[&str],
) -> Result<HashMap<String, Vec<RunStep>>, sqlx::Error> {
    let mut by_run: HashMap<String, Vec<RunStep>> = HashMap::new();
    if run_ids.is_empty() {
        return Ok(by_run);
    }
    let mut query = sqlx::QueryBuilder::<MySql>::new(format!("SELECT {STEP_COLUMNS} FROM scenario_steps WHERE run_id IN ("));
    let mut ids = query.separated(", ");
    for id in run_ids {
        ids.push_bind(*id);
    }
    query.push(") ORDER BY run_id, seq");
    for row in query.build().fetch_all(executor).await? {
        let run_id: String = row.try_get("run_id")?;
        by_run.entry(run_id).or_default().push(step(&row)?.step);
    }
    Ok(by_run)
}

/// One run of the tenant, with its steps.
pub async fn get_run(pool: &MySqlPool, tenant_id: &str, id: &str) -> Result<Option<ScenarioRun>, sqlx::Error> {
    let Some(row) = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM scenario_runs WHERE id = ? AND tenant_id = ?"))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let mut run = run(&row)?;
    run.steps = steps_of(pool, &[id]).await?.remove(id).unwrap_or_default();
    Ok(Some(run))
}

/// Most runs one list answers.
pub const MAX_LIST: u32 = 500;
/// What a list answers when it does not say.
pub const DEFAULT_LIST: u32 = 50;

/// The tenant's runs, newest first, with their steps.
pub async fn list_runs(pool: &MySqlPool, request: &ListRuns) -> Result<Vec<ScenarioRun>, sqlx::Error> {
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM scenario_runs WHERE tenant_id = ?");
    if request.scenario_id.is_some() {
        sql.push_str(" AND scenario_id = ?");
    }
    if request.before.is_some() {
        sql.push_str(
            " AND (started_at, id) < (SELECT c.started_at, c.id FROM scenario_runs c WHERE c.id = ? AND c.tenant_id = ?)",
        );
    }
    sql.push_str(" ORDER BY started_at DESC, id DESC LIMIT ?");
    let mut query = sqlx::query(&sql).bind(&request.tenant_id);
    if let Some(scenario) = &request.scenario_id {
        query = query.bind(scenario);
    }
    if let Some(before) = &request.before {
        query = query.bind(before).bind(&request.tenant_id);
    }
    let limit = request.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
    let rows = query.bind(limit).fetch_all(pool).await?;
    let mut runs: Vec<ScenarioRun> = rows.iter().map(run).collect::<Result<_, _>>()?;
    let ids: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
    let mut steps = steps_of(pool, &ids).await?;
    for run in &mut runs {
        run.steps = steps.remove(&run.id).unwrap_or_default();
    }
    Ok(runs)
}

// ---------------------------------------------------------------- driving runs

/// What driving a run needs: the run, the spec and data it started with,
/// its lease, its steps with their deadlines.
pub struct Drive {
    pub run: ScenarioRun,
    pub spec: ScenarioSpec,
    pub context: serde_json::Value,
    pub leased_by: Option<String>,
    pub steps: Vec<StepRow>,
}

pub async fn load_drive(pool: &MySqlPool, run_id: &str) -> Result<Option<Drive>, sqlx::Error> {
    let Some(row) = sqlx::query(&format!("SELECT {RUN_COLUMNS}, spec, context, leased_by FROM scenario_runs WHERE id = ?"))
        .bind(run_id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let spec: sqlx::types::Json<ScenarioSpec> = row.try_get("spec")?;
    let context: sqlx::types::Json<serde_json::Value> = row.try_get("context")?;
    let rows = sqlx::query(&format!("SELECT {STEP_COLUMNS} FROM scenario_steps WHERE run_id = ? ORDER BY seq"))
        .bind(run_id)
        .fetch_all(pool)
        .await?;
    Ok(Some(Drive {
        run: run(&row)?,
        spec: spec.0,
        context: context.0,
        leased_by: row.try_get("leased_by")?,
        steps: rows.iter().map(step).collect::<Result<_, _>>()?,
    }))
}

/// Marks a pending step running with its deadline, if `instance` holds the
/// run's lease; `false` otherwise (nothing written).
pub async fn step_started(
    pool: &MySqlPool,
    run_id: &str,
    seq: u32,
    instance: &str,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE scenario_steps s JOIN scenario_runs r ON r.id = s.run_id \
         SET s.status = 'running', s.started_at = ?, s.deadline = ? \
         WHERE s.run_id = ? AND s.seq = ? AND s.status = 'pending' AND r.leased_by = ? AND r.finished_at IS NULL",
    )
    .bind(now)
    .bind(deadline)
    .bind(run_id)
    .bind(seq)
    .bind(instance)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records the action a running step requested (and its deadline), if
/// `instance` holds the run's lease.
pub async fn step_action(
    pool: &MySqlPool,
    run_id: &str,
    seq: u32,
    instance: &str,
    action_id: &str,
    deadline: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE scenario_steps s JOIN scenario_runs r ON r.id = s.run_id SET s.action_id = ?, s.deadline = ? \
         WHERE s.run_id = ? AND s.seq = ? AND r.leased_by = ? AND r.finished_at IS NULL",
    )
    .bind(action_id)
    .bind(deadline)
    .bind(run_id)
    .bind(seq)
    .bind(instance)
    .execute(pool)
    .await?;
    // the same values again change no row: read it as held
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    holds_lease(pool, run_id, instance).await
}

async fn holds_lease<'e, E: sqlx::Executor<'e, Database = MySql>>(
    executor: E,
    run_id: &str,
    instance: &str,
) -> Result<bool, sqlx::Error> {
    let holder: Option<Option<String>> =
        sqlx::query_scalar("SELECT leased_by FROM scenario_runs WHERE id = ? AND finished_at IS NULL")
            .bind(run_id)
            .fetch_optional(executor)
            .await?;
    Ok(holder.flatten().as_deref() == Some(instance))
}

/// Locks the run's row; `true` when `instance` holds its lease.
pub async fn lock_leased(tx: &mut Tx<'_>, run_id: &str, instance: &str) -> Result<bool, sqlx::Error> {
    let holder: Option<Option<String>> =
        sqlx::query_scalar("SELECT leased_by FROM scenario_runs WHERE id = ? AND finished_at IS NULL FOR UPDATE")
            .bind(run_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(holder.flatten().as_deref() == Some(instance))
}

/// Writes a step's end.
pub async fn step_finished(
    tx: &mut Tx<'_>,
    run_id: &str,
    seq: u32,
    status: StepStatus,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE scenario_steps SET status = ?, detail = ?, finished_at = ?, started_at = COALESCE(started_at, ?) \
         WHERE run_id = ? AND seq = ?",
    )
    .bind(step_status_str(status))
    .bind(cut(detail))
    .bind(now)
    .bind(now)
    .bind(run_id)
    .bind(seq)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks every pending step of a run skipped, saying why.
pub async fn skip_pending(tx: &mut Tx<'_>, run_id: &str, detail: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE scenario_steps SET status = 'skipped', detail = ?, finished_at = ? WHERE run_id = ? AND status = 'pending'",
    )
    .bind(cut(detail))
    .bind(now)
    .bind(run_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds steps to a running run, after its others (`seq` is taken from there).
pub async fn append_steps(tx: &mut Tx<'_>, run_id: &str, mut steps: Vec<NewStep>) -> Result<(), sqlx::Error> {
    let last: Option<u32> =
        sqlx::query_scalar("SELECT MAX(seq) FROM scenario_steps WHERE run_id = ?").bind(run_id).fetch_one(&mut **tx).await?;
    let first = last.map_or(0, |last| last + 1);
    for (offset, step) in steps.iter_mut().enumerate() {
        step.seq = first + offset as u32;
    }
    insert_steps(tx, run_id, &steps, None).await
}

/// Ends a run: its status and reason, finished, its lease released.
pub async fn run_finished(
    tx: &mut Tx<'_>,
    run_id: &str,
    status: RunStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE scenario_runs SET status = ?, reason = COALESCE(?, reason), finished_at = ?, leased_by = NULL, lease_until = NULL \
         WHERE id = ?",
    )
    .bind(run_status_str(status))
    .bind(reason.map(cut))
    .bind(now)
    .bind(run_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes the lease of up to `limit` unfinished runs whose lease lapsed
/// (their orchestrator died or let them go); returns their ids.
pub async fn claim(
    pool: &MySqlPool,
    instance: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<String>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM scenario_runs WHERE finished_at IS NULL AND (lease_until IS NULL OR lease_until < ?) \
         ORDER BY started_at LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit as u32)
    .fetch_all(&mut *tx)
    .await?;
    if !ids.is_empty() {
        let mut update = sqlx::QueryBuilder::<MySql>::new("UPDATE scenario_runs SET leased_by = ");
        update.push_bind(instance).push(", lease_until = ").push_bind(until).push(" WHERE id IN (");
        let mut list = update.separated(", ");
        for id in &ids {
            list.push_bind(id);
        }
        update.push(")");
        update.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// Extends the leases `instance` holds on `run_ids`.
pub async fn renew(pool: &MySqlPool, instance: &str, run_ids: &[String], until: DateTime<Utc>) -> Result<(), sqlx::Error> {
    if run_ids.is_empty() {
        return Ok(());
    }
    let mut update = sqlx::QueryBuilder::<MySql>::new("UPDATE scenario_runs SET lease_until = ");
    update.push_bind(until).push(" WHERE leased_by = ").push_bind(instance).push(" AND finished_at IS NULL AND id IN (");
    let mut list = update.separated(", ");
    for id in run_ids {
        list.push_bind(id);
    }
    update.push(")");
    update.build().execute(pool).await?;
    Ok(())
}

/// Lets a run go at once (another orchestrator, or this one later, resumes it).
pub async fn release(pool: &MySqlPool, instance: &str, run_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE scenario_runs SET leased_by = NULL, lease_until = NULL WHERE id = ? AND leased_by = ? AND finished_at IS NULL",
    )
    .bind(run_id)
    .bind(instance)
    .execute(pool)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- cron ticks

/// Claims a cron schedule's due instant: `false` when another orchestrator did.
pub async fn claim_tick(
    tx: &mut Tx<'_>,
    scenario_id: &str,
    due_at: DateTime<Utc>,
    instance: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO scenario_cron_ticks (scenario_id, due_at, claimed_by, claimed_at) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE scenario_id = scenario_id",
    )
    .bind(scenario_id)
    .bind(due_at)
    .bind(instance)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Forgets cron ticks older than `before`.
pub async fn prune_ticks(pool: &MySqlPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM scenario_cron_ticks WHERE due_at < ?").bind(before).execute(pool).await?;
    Ok(done.rows_affected())
}
