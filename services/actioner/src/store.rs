//! `actions_log`, the actioner's table: one row per action, written pending
//! (with its signed order) before the order is published, then moved
//! forward by dispatches, the agent's reports and the expiry sweep.
//!
//! Invariants: every statement names the tenant (and the host, for what an
//! agent reports), so nothing reaches another tenant's row; a status only
//! moves forward (see the migration): `running` only from `pending` or
//! `expired`, a final report only from `pending`, `running` or `expired`,
//! so a redelivered or duplicated report is a no-op.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, Row};
use vigil_bus::actions::MAX_OUTPUT_BYTES;
use vigil_bus::messages::{ActionOrder, ActionOutcome, ActionRecord, ActionStatus, ListActions};
use vigil_bus::text::truncate as cut;

/// Longest error, command or rule text kept.
const MAX_TEXT_BYTES: usize = 8 * 1024;

const COLUMNS: &str = "id, tenant_id, host_id, user_id, requested_by, action_type, params, CAST(status AS CHAR) AS status, \
     command, rule, exit_code, truncated, error, timeout_seconds, signature, created_at, expires_at, dispatched_at, \
     started_at, completed_at, duration_ms";

/// `at` to the millisecond, as `DATETIME(3)` keeps it.
pub fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

fn decode_error(column: &str, error: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("actions_log.{column}: {error}").into())
}

/// A row as its record; `output` when the query selected it.
fn record(row: &MySqlRow, with_output: bool) -> Result<ActionRecord, sqlx::Error> {
    let action_type: String = row.try_get("action_type")?;
    let status: String = row.try_get("status")?;
    let params: sqlx::types::Json<BTreeMap<String, String>> = row.try_get("params")?;
    Ok(ActionRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        host_id: row.try_get("host_id")?,
        action_type: action_type.parse().map_err(|e| decode_error("action_type", e))?,
        params: params.0,
        status: status.parse().map_err(|e| decode_error("status", e))?,
        user_id: row.try_get("user_id")?,
        requested_by: row.try_get("requested_by")?,
        command: row.try_get("command")?,
        rule: row.try_get("rule")?,
        exit_code: row.try_get("exit_code")?,
        output: if with_output { Some(row.try_get::<Option<String>, _>("output")?.unwrap_or_default()) } else { None },
        truncated: row.try_get("truncated")?,
        error: row.try_get("error")?,
        timeout_seconds: row.try_get("timeout_seconds")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        dispatched_at: row.try_get("dispatched_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}

/// The signed order a row was written with.
fn order(row: &MySqlRow) -> Result<ActionOrder, sqlx::Error> {
    let record = record(row, false)?;
    Ok(ActionOrder {
        id: record.id,
        tenant_id: record.tenant_id,
        host_id: record.host_id,
        action_type: record.action_type,
        params: record.params,
        requested_by: record.requested_by,
        requested_at: record.created_at,
        expires_at: record.expires_at,
        timeout_seconds: record.timeout_seconds,
        signature: row.try_get("signature")?,
    })
}

/// MariaDB "duplicate entry": an idempotency key used before.
const ER_DUP_ENTRY: u16 = 1062;

/// The record of `order` as [`insert`] writes it (pending, nothing reported yet).
pub fn pending_record(order: &ActionOrder, user_id: Option<String>) -> ActionRecord {
    ActionRecord {
        id: order.id.clone(),
        tenant_id: order.tenant_id.clone(),
        host_id: order.host_id.clone(),
        action_type: order.action_type,
        params: order.params.clone(),
        status: ActionStatus::Pending,
        user_id,
        requested_by: order.requested_by.clone(),
        command: None,
        rule: None,
        exit_code: None,
        output: Some(String::new()),
        truncated: false,
        error: None,
        timeout_seconds: order.timeout_seconds,
        created_at: order.requested_at,
        expires_at: order.expires_at,
        dispatched_at: None,
        started_at: None,
        completed_at: None,
        duration_ms: None,
    }
}

/// Writes a new pending action with its signed order; `false` when an
/// action with the same idempotency key exists (nothing written).
pub async fn insert(
    pool: &sqlx::MySqlPool,
    order: &ActionOrder,
    user_id: Option<&str>,
    idempotency_key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO actions_log (id, tenant_id, host_id, user_id, requested_by, action_type, params, status, \
         timeout_seconds, signature, created_at, expires_at, idempotency_key) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
    )
    .bind(&order.id)
    .bind(&order.tenant_id)
    .bind(&order.host_id)
    .bind(user_id)
    .bind(&order.requested_by)
    .bind(order.action_type.as_str())
    .bind(sqlx::types::Json(&order.params))
    .bind(order.timeout_seconds)
    .bind(&order.signature)
    .bind(order.requested_at)
    .bind(order.expires_at)
    .bind(idempotency_key)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(db))
            if idempotency_key.is_some()
                && db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| e.number() == ER_DUP_ENTRY) =>
        {
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// The tenant's action recorded with `key`, with its output.
pub async fn by_key(pool: &sqlx::MySqlPool, tenant_id: &str, key: &str) -> Result<Option<ActionRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS}, output FROM actions_log WHERE tenant_id = ? AND idempotency_key = ?"))
        .bind(tenant_id)
        .bind(key)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(|row| record(row, true)).transpose()
}

/// One action of the tenant, with its output.
pub async fn get<'e, E: sqlx::Executor<'e, Database = MySql>>(
    executor: E,
    tenant_id: &str,
    id: &str,
) -> Result<Option<ActionRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS}, output FROM actions_log WHERE id = ? AND tenant_id = ?"))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(|row| record(row, true)).transpose()
}

/// Most actions one list answers.
pub const MAX_LIST: u32 = 1000;
/// What a list answers when it does not say.
pub const DEFAULT_LIST: u32 = 100;

/// The tenant's actions, newest first, without output.
pub async fn list(pool: &sqlx::MySqlPool, request: &ListActions) -> Result<Vec<ActionRecord>, sqlx::Error> {
    let mut sql = format!("SELECT {COLUMNS} FROM actions_log WHERE tenant_id = ?");
    if request.host_id.is_some() {
        sql.push_str(" AND host_id = ?");
    }
    if request.status.is_some() {
        sql.push_str(" AND status = ?");
    }
    if request.action_type.is_some() {
        sql.push_str(" AND action_type = ?");
    }
    if request.before.is_some() {
        // the cursor row's (created_at, id), read in the same statement
        sql.push_str(" AND (created_at, id) < (SELECT c.created_at, c.id FROM actions_log c WHERE c.id = ? AND c.tenant_id = ?)");
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
    let mut query = sqlx::query(&sql).bind(&request.tenant_id);
    if let Some(host) = &request.host_id {
        query = query.bind(host);
    }
    if let Some(status) = request.status {
        query = query.bind(status.as_str());
    }
    if let Some(kind) = request.action_type {
        query = query.bind(kind.as_str());
    }
    if let Some(before) = &request.before {
        query = query.bind(before).bind(&request.tenant_id);
    }
    let limit = request.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter().map(|row| record(row, false)).collect()
}

/// The host's orders not finished yet (pending or running), oldest first.
pub async fn pending(pool: &sqlx::MySqlPool, tenant_id: &str, host_id: &str) -> Result<Vec<ActionOrder>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM actions_log WHERE tenant_id = ? AND host_id = ? AND status IN ('pending', 'running') \
         ORDER BY created_at, id"
    ))
    .bind(tenant_id)
    .bind(host_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(order).collect()
}

/// Marks a failed publish: the order never left, so it never runs.
pub async fn publish_failed(pool: &sqlx::MySqlPool, order: &ActionOrder, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE actions_log SET status = 'failed', error = ?, completed_at = ? WHERE id = ? AND tenant_id = ? AND status = 'pending'",
    )
    .bind(cut(error, MAX_TEXT_BYTES))
    .bind(Utc::now())
    .bind(&order.id)
    .bind(&order.tenant_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a dispatch; `true` when it changed the row (the first one).
pub async fn dispatched(
    tx: &mut sqlx::Transaction<'_, MySql>,
    tenant_id: &str,
    host_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE actions_log SET dispatched_at = ? WHERE id = ? AND tenant_id = ? AND host_id = ? AND dispatched_at IS NULL",
    )
    .bind(at)
    .bind(id)
    .bind(tenant_id)
    .bind(host_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records an agent's report; `true` when it changed the row.
pub async fn reported(tx: &mut sqlx::Transaction<'_, MySql>, outcome: &ActionOutcome) -> Result<bool, sqlx::Error> {
    let text = |value: &Option<String>| value.as_deref().map(|v| cut(v, MAX_TEXT_BYTES).to_owned());
    let done = if outcome.status == ActionStatus::Running {
        sqlx::query(
            "UPDATE actions_log SET status = 'running', command = ?, rule = ?, started_at = COALESCE(?, started_at, ?), \
             completed_at = NULL, error = NULL WHERE id = ? AND tenant_id = ? AND host_id = ? AND status IN ('pending', 'expired')",
        )
        .bind(text(&outcome.command))
        .bind(text(&outcome.rule))
        .bind(outcome.started_at)
        .bind(outcome.received_at)
        .bind(&outcome.action_id)
        .bind(&outcome.tenant_id)
        .bind(&outcome.host_id)
        .execute(&mut **tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE actions_log SET status = ?, command = COALESCE(?, command), rule = COALESCE(?, rule), exit_code = ?, \
             output = ?, truncated = ?, error = ?, started_at = COALESCE(?, started_at), completed_at = ?, duration_ms = ? \
             WHERE id = ? AND tenant_id = ? AND host_id = ? AND status IN ('pending', 'running', 'expired')",
        )
        .bind(outcome.status.as_str())
        .bind(text(&outcome.command))
        .bind(text(&outcome.rule))
        .bind(outcome.exit_code)
        .bind(cut(&outcome.output, MAX_OUTPUT_BYTES))
        .bind(outcome.truncated || outcome.output.len() > MAX_OUTPUT_BYTES)
        .bind(text(&outcome.error))
        .bind(outcome.started_at)
        .bind(outcome.received_at)
        .bind(outcome.duration_ms)
        .bind(&outcome.action_id)
        .bind(&outcome.tenant_id)
        .bind(&outcome.host_id)
        .execute(&mut **tx)
        .await?
    };
    Ok(done.rows_affected() > 0)
}

/// Marks pending orders whose `expires_at` is older than `before` expired;
/// returns `(tenant, id)` of each.
pub async fn expire(
    pool: &sqlx::MySqlPool,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT tenant_id, id FROM actions_log WHERE status = 'pending' AND expires_at < ? ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED",
    )
    .bind(before)
    .fetch_all(&mut *tx)
    .await?;
    for (tenant_id, id) in &rows {
        sqlx::query(
            "UPDATE actions_log SET status = 'expired', completed_at = ?, \
             error = 'the agent did not start it before it expired (offline, or not connected to a gateway)' \
             WHERE id = ? AND tenant_id = ? AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rows)
}
