//! The `hosts` table: registration, tenant-scoped reads, and the sweeper that
//! turns silent hosts offline.
//!
//! Invariants:
//! - every read and write is scoped by tenant: a host of another tenant is
//!   answered `NotFound`, exactly like a host that does not exist;
//! - the same `(tenant, machine_id)` always gets the same host id back;
//! - a host id never moves to another tenant (`Conflict`);
//! - status changes lock the rows they read (`FOR UPDATE`), so with several
//!   collectors exactly one publishes each `Online`/`Offline` event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::{MySqlPool, Row};
use vigil_bus::messages::{ActionPolicy, GetHost, HostEventKind, HostRecord, HostStatus, ListHosts, RegisterHost};
use vigil_bus::{ErrorCode, ServiceError};

use crate::error::SERVICE;
use crate::Shared;

const HOST_COLUMNS: &str =
    "id, tenant_id, name, hostname, ip_address, os, arch, cpu_model, agent_version, status, last_seen, created_at, action_policy";

/// MariaDB "duplicate entry" (a concurrent registration won the race).
const ER_DUP_ENTRY: u16 = 1062;
/// A deadlock (InnoDB chose this transaction as the victim): two new
/// machines' `SELECT ... FOR UPDATE` took gap locks their inserts then wait on.
const ER_LOCK_DEADLOCK: u16 = 1213;
/// Attempts of one registration.
const REGISTER_ATTEMPTS: u32 = 5;

/// A database error while `action`: `Unavailable`, the cause only logged.
pub(crate) fn internal(action: &'static str, source: sqlx::Error) -> ServiceError {
    vigil_runtime::errors::db(SERVICE, action)(source)
}

pub(crate) use vigil_runtime::errors::bad_id;

fn bad_field(field: &str, value: &str, max_chars: usize) -> Result<(), ServiceError> {
    if value.chars().count() > max_chars {
        return Err(ServiceError::new(ErrorCode::BadRequest, format!("{field} is longer than {max_chars} characters")));
    }
    Ok(())
}

pub(crate) fn status_of(text: &str) -> HostStatus {
    match text {
        "online" => HostStatus::Online,
        "degraded" => HostStatus::Degraded,
        _ => HostStatus::Offline,
    }
}

fn record(row: &sqlx::mysql::MySqlRow) -> Result<HostRecord, sqlx::Error> {
    let text =
        |column: &str| -> Result<String, sqlx::Error> { Ok(row.try_get::<Option<String>, _>(column)?.unwrap_or_default()) };
    Ok(HostRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        hostname: text("hostname")?,
        ip_address: text("ip_address")?,
        os: text("os")?,
        arch: text("arch")?,
        cpu_model: text("cpu_model")?,
        agent_version: text("agent_version")?,
        status: status_of(&row.try_get::<String, _>("status")?),
        last_seen: row.try_get("last_seen")?,
        created_at: row.try_get("created_at")?,
        // a policy that no longer reads (older shape) shows as unknown
        actions: row.try_get::<Option<sqlx::types::Json<ActionPolicy>>, _>("action_policy").ok().flatten().map(|policy| policy.0),
    })
}

/// The tenant's host, or `None` when it does not exist or is another tenant's.
pub(crate) async fn find(pool: &MySqlPool, tenant_id: &str, host_id: &str) -> Result<Option<HostRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ? AND tenant_id = ?"))
        .bind(host_id)
        .bind(tenant_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(record).transpose()
}

pub(crate) async fn get(pool: &MySqlPool, request: GetHost) -> Result<HostRecord, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("host", &request.host_id)?;
    find(pool, &request.tenant_id, &request.host_id)
        .await
        .map_err(|e| internal("reading a host", e))?
        .ok_or_else(|| not_found(&request.host_id))
}

pub(crate) fn not_found(host_id: &str) -> ServiceError {
    ServiceError::new(ErrorCode::NotFound, format!("no host {host_id:?} in this tenant"))
}

pub(crate) async fn list(pool: &MySqlPool, request: ListHosts) -> Result<Vec<HostRecord>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    let rows = sqlx::query(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE tenant_id = ? ORDER BY name, id"))
        .bind(&request.tenant_id)
        .fetch_all(pool)
        .await
        .map_err(|e| internal("listing hosts", e))?;
    rows.iter().map(record).collect::<Result<_, _>>().map_err(|e| internal("reading hosts", e))
}

fn new_host_id() -> String {
    let bytes: [u8; 6] = rand::thread_rng().gen();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("host-{hex}")
}

/// Registers (or re-registers) an agent. See the module invariants.
pub(crate) async fn register(shared: &Shared, request: RegisterHost) -> Result<HostRecord, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    if let Some(id) = &request.requested_id {
        bad_id("host", id)?;
    }
    let name = if request.name.trim().is_empty() { request.hostname.trim() } else { request.name.trim() };
    if name.is_empty() {
        return Err(ServiceError::new(ErrorCode::BadRequest, "name and hostname are both empty; give the host a name"));
    }
    bad_field("name", name, 100)?;
    bad_field("hostname", &request.hostname, 255)?;
    bad_field("machine_id", &request.machine_id, 64)?;
    bad_field("ip_address", &request.ip_address, 45)?;
    bad_field("os", &request.os, 100)?;
    bad_field("arch", &request.arch, 20)?;
    bad_field("agent_version", &request.agent_version, 20)?;
    let machine_id = (!request.machine_id.trim().is_empty()).then(|| request.machine_id.trim());

    // a concurrent registration of the same machine may win the insert, and
    // concurrent registrations of new machines may deadlock on the gap
    // locks of their lookups: both are retried (with a short random pause)
    for attempt in 1..=REGISTER_ATTEMPTS {
        match register_once(&shared.pool, &request, name, machine_id).await {
            Ok((record, created)) => {
                if created {
                    tracing::info!(tenant_id = %record.tenant_id, host_id = %record.id, "host registered");
                    crate::events::publish(&shared.jetstream, &record.tenant_id, &record.id, HostEventKind::Registered, None)
                        .await;
                }
                return Ok(record);
            }
            Err(RegisterError::Service(error)) => return Err(error),
            Err(RegisterError::Database(sqlx::Error::Database(db)))
                if attempt < REGISTER_ATTEMPTS
                    && db
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .is_some_and(|e| e.number() == ER_DUP_ENTRY || e.number() == ER_LOCK_DEADLOCK) =>
            {
                let pause = rand::random::<u64>() % (10 * u64::from(attempt));
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                continue;
            }
            Err(RegisterError::Database(error)) => return Err(internal("registering a host", error)),
        }
    }
    Err(ServiceError::new(ErrorCode::Conflict, "the host was registered concurrently with other values; retry"))
}

enum RegisterError {
    Service(ServiceError),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for RegisterError {
    fn from(error: sqlx::Error) -> Self {
        RegisterError::Database(error)
    }
}

async fn register_once(
    pool: &MySqlPool,
    request: &RegisterHost,
    name: &str,
    machine_id: Option<&str>,
) -> Result<(HostRecord, bool), RegisterError> {
    let mut tx = pool.begin().await?;
    let existing: Option<(String, String)> = match &request.requested_id {
        Some(id) => {
            sqlx::query_as("SELECT id, tenant_id FROM hosts WHERE id = ? FOR UPDATE").bind(id).fetch_optional(&mut *tx).await?
        }
        None => match machine_id {
            Some(machine) => {
                sqlx::query_as("SELECT id, tenant_id FROM hosts WHERE tenant_id = ? AND machine_id = ? FOR UPDATE")
                    .bind(&request.tenant_id)
                    .bind(machine)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => None,
        },
    };
    let (id, created) = match existing {
        Some((id, tenant)) if tenant != request.tenant_id => {
            tracing::warn!(tenant_id = %request.tenant_id, host_id = %id, "registration asks for a host id of another tenant");
            return Err(RegisterError::Service(ServiceError::new(
                ErrorCode::Conflict,
                format!("host id {id:?} is already taken; choose another agent.id or use auto"),
            )));
        }
        Some((id, _)) => {
            if request.requested_id.is_some() {
                if let Some(machine) = machine_id {
                    let other: Option<(String,)> =
                        sqlx::query_as("SELECT id FROM hosts WHERE tenant_id = ? AND machine_id = ? AND id <> ?")
                            .bind(&request.tenant_id)
                            .bind(machine)
                            .bind(&id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if let Some((other,)) = other {
                        return Err(RegisterError::Service(machine_conflict(&other)));
                    }
                }
            }
            sqlx::query(
                "UPDATE hosts SET name = ?, hostname = ?, machine_id = COALESCE(?, machine_id), ip_address = ?, os = ?, \
                 arch = ?, agent_version = ?, action_policy = ? WHERE id = ?",
            )
            .bind(name)
            .bind(&request.hostname)
            .bind(machine_id)
            .bind(&request.ip_address)
            .bind(&request.os)
            .bind(&request.arch)
            .bind(&request.agent_version)
            .bind(request.actions.as_ref().map(sqlx::types::Json))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            (id, false)
        }
        None => {
            if let (Some(_), Some(machine)) = (&request.requested_id, machine_id) {
                let other: Option<(String,)> = sqlx::query_as("SELECT id FROM hosts WHERE tenant_id = ? AND machine_id = ?")
                    .bind(&request.tenant_id)
                    .bind(machine)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((other,)) = other {
                    return Err(RegisterError::Service(machine_conflict(&other)));
                }
            }
            let id = request.requested_id.clone().unwrap_or_else(new_host_id);
            sqlx::query(
                "INSERT INTO hosts (id, tenant_id, name, hostname, machine_id, ip_address, os, arch, agent_version, \
                 action_policy, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'offline', ?)",
            )
            .bind(&id)
            .bind(&request.tenant_id)
            .bind(name)
            .bind(&request.hostname)
            .bind(machine_id)
            .bind(&request.ip_address)
            .bind(&request.os)
            .bind(&request.arch)
            .bind(&request.agent_version)
            .bind(request.actions.as_ref().map(sqlx::types::Json))
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
            (id, true)
        }
    };
    let row = sqlx::query(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ?")).bind(&id).fetch_one(&mut *tx).await?;
    let record = record(&row)?;
    tx.commit().await?;
    Ok((record, created))
}

fn machine_conflict(other: &str) -> ServiceError {
    ServiceError::new(
        ErrorCode::Conflict,
        format!("this machine is already registered as host {other:?}; set agent.id to it or to auto"),
    )
}

/// Marks online (or degraded) hosts whose `last_seen` is older than
/// `offline_after` as offline and publishes their `Offline` events.
/// Returns how many hosts went offline.
pub(crate) async fn sweep(shared: &Shared) -> Result<usize, sqlx::Error> {
    let offline_after = chrono::Duration::from_std(shared.config.offline_after).unwrap_or(chrono::Duration::MAX);
    let cutoff = Utc::now() - offline_after;
    // candidates without locks, then lock only them by primary key (a
    // locking full scan would hold every hosts row until commit)
    let candidates: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM hosts WHERE status IN ('online', 'degraded') AND (last_seen IS NULL OR last_seen < ?)")
            .bind(cutoff)
            .fetch_all(&shared.pool)
            .await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let mut tx = shared.pool.begin().await?;
    let mut query = sqlx::QueryBuilder::<sqlx::MySql>::new("SELECT id, tenant_id, last_seen FROM hosts WHERE id IN (");
    let mut list = query.separated(", ");
    for (id,) in &candidates {
        list.push_bind(id);
    }
    // re-checked under the lock: a snapshot may have arrived meanwhile
    query
        .push(") AND status IN ('online', 'degraded') AND (last_seen IS NULL OR last_seen < ")
        .push_bind(cutoff)
        .push(") FOR UPDATE");
    let stale: Vec<(String, String, Option<DateTime<Utc>>)> = query.build_query_as().fetch_all(&mut *tx).await?;
    if stale.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut query = sqlx::QueryBuilder::<sqlx::MySql>::new("UPDATE hosts SET status = 'offline' WHERE id IN (");
    let mut list = query.separated(", ");
    for (id, _, _) in &stale {
        list.push_bind(id);
    }
    query.push(")");
    query.build().execute(&mut *tx).await?;
    tx.commit().await?;
    for (host_id, tenant_id, last_seen) in &stale {
        tracing::info!(tenant_id = %tenant_id, host_id = %host_id, "host went offline");
        crate::events::publish(&shared.jetstream, tenant_id, host_id, HostEventKind::Offline, *last_seen).await;
    }
    Ok(stale.len())
}

pub(crate) async fn sweep_loop(shared: Arc<Shared>, stop: vigil_runtime::CancellationToken) {
    let mut interval = tokio::time::interval(shared.config.sweep_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.cancelled() => return,
        }
        if stop.is_cancelled() {
            return;
        }
        if let Err(error) = sweep(&shared).await {
            tracing::warn!(error = %error, "offline sweep failed; retrying at the next interval");
        }
    }
}
