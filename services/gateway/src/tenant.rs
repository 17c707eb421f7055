//! Tenant settings (seed §4.2 `GET/PUT /api/config/tenant`): the tenant's
//! name, its own retentions of raw, hourly and daily metrics, and the
//! collection interval pushed to its agents. The gateway owns `tenants`.
//!
//! Invariants:
//! - every caller of the tenant reads; only admins write;
//! - a retention is at most the server's (`collector.retention_*`, given to
//!   the gateway as [`RetentionLimits`]) and the interval within
//!   [`MIN_AGENT_INTERVAL`] ..= [`MAX_AGENT_INTERVAL`]; otherwise 422 naming
//!   the field; `null` means the server's retention, each agent's own interval;
//! - a change is published on `tenants.<t>.settings` (core NATS); every
//!   gateway, this one included, pushes the interval (`ConfigUpdate`, 0: back
//!   to the agent's own) to the tenant's agent streams it holds, and an agent
//!   that connects gets its tenant's interval first, so it reaches agents
//!   whichever gateway holds them;
//! - the collector learns the retentions by asking `vigil.gateway.tenants.retention`,
//!   never by reading `tenants`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sqlx::MySqlPool;
use tokio::sync::mpsc;
use tonic::Status;
use vigil_bus::messages::{ListTenantRetentions, TenantRetention, TenantSettingsChanged};
use vigil_bus::{subjects, ErrorCode, ServiceError};
use vigil_proto::{server_message, ConfigUpdate, ServerMessage};
use vigil_runtime::endpoints::EndpointTable;
use vigil_runtime::CancellationToken;

use crate::error::ApiError;
use crate::rest::{ApiJson, Caller};
use crate::Shared;

type AppState = Arc<Shared>;

/// Shortest collection interval a tenant may push to its agents.
pub const MIN_AGENT_INTERVAL: Duration = Duration::from_secs(5);
/// Longest collection interval a tenant may push to its agents.
pub const MAX_AGENT_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest tenant name.
const MAX_NAME_CHARS: usize = 100;

/// The server's retentions (the collector's `retention_raw`,
/// `retention_hourly`, `retention_daily`): what a tenant may ask at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionLimits {
    pub raw: Duration,
    pub hourly: Duration,
    pub daily: Duration,
}

impl Default for RetentionLimits {
    /// The collector's defaults (seed: 7d, 90d, 2y).
    fn default() -> Self {
        RetentionLimits {
            raw: Duration::from_secs(7 * 86_400),
            hourly: Duration::from_secs(90 * 86_400),
            daily: Duration::from_secs(730 * 86_400),
        }
    }
}

/// Retentions as the REST API writes them: duration text (`30d`, `12h`),
/// `null` for the server's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetentionSettings {
    #[serde(default)]
    #[schema(pattern = "^[0-9]+(ms|s|m|h|d)$", example = "3d")]
    pub raw: Option<String>,
    #[serde(default)]
    #[schema(pattern = "^[0-9]+(ms|s|m|h|d)$", example = "30d")]
    pub hourly: Option<String>,
    #[serde(default)]
    #[schema(pattern = "^[0-9]+(ms|s|m|h|d)$", example = "365d")]
    pub daily: Option<String>,
}

/// What a tenant may set, as duration text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TenantLimits {
    /// The server's retentions: the most a tenant may keep.
    retention: RetentionSettings,
    agent_interval_min: String,
    agent_interval_max: String,
}

/// `GET /api/config/tenant` and the answer of PUT.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TenantConfig {
    id: String,
    name: String,
    retention: RetentionSettings,
    /// The collection interval pushed to the tenant's agents (`null`: each agent's own).
    agent_interval: Option<String>,
    limits: TenantLimits,
    updated_at: Option<DateTime<Utc>>,
}

/// `PUT /api/config/tenant`: the settings become exactly these (an absent
/// retention or interval is the server's, or the agent's own).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantConfigUpdate {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[serde(default, deserialize_with = "retention_object")]
    retention: RetentionSettings,
    #[serde(default)]
    #[schema(pattern = "^[0-9]+(ms|s|m|h|d)$", example = "30s")]
    agent_interval: Option<String>,
}

/// `retention` only as an object (serde would also read a struct from an
/// array of its fields in order).
fn retention_object<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<RetentionSettings, D::Error> {
    use serde::de::Error as _;
    match serde_json::Value::deserialize(deserializer)? {
        value @ serde_json::Value::Object(_) => serde_json::from_value(value).map_err(D::Error::custom),
        other => Err(D::Error::custom(format!("retention must be an object {{raw, hourly, daily}}, not {other}"))),
    }
}

/// A tenant's row, seconds as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Stored {
    name: String,
    raw: Option<u64>,
    hourly: Option<u64>,
    daily: Option<u64>,
    interval: Option<u32>,
    updated_at: Option<DateTime<Utc>>,
}

fn text(seconds: Option<u64>) -> Option<String> {
    seconds.map(|s| vigil_bus::duration::format(Duration::from_secs(s)))
}

fn limits(limits: &RetentionLimits) -> TenantLimits {
    let text = |d: Duration| Some(vigil_bus::duration::format(d));
    TenantLimits {
        retention: RetentionSettings { raw: text(limits.raw), hourly: text(limits.hourly), daily: text(limits.daily) },
        agent_interval_min: vigil_bus::duration::format(MIN_AGENT_INTERVAL),
        agent_interval_max: vigil_bus::duration::format(MAX_AGENT_INTERVAL),
    }
}

fn answer(id: String, stored: Stored, max: &RetentionLimits) -> TenantConfig {
    TenantConfig {
        id,
        name: stored.name,
        retention: RetentionSettings { raw: text(stored.raw), hourly: text(stored.hourly), daily: text(stored.daily) },
        agent_interval: text(stored.interval.map(u64::from)),
        limits: limits(max),
        updated_at: stored.updated_at,
    }
}

async fn read(pool: &MySqlPool, tenant_id: &str) -> Result<Option<Stored>, sqlx::Error> {
    type Row = (String, Option<u64>, Option<u64>, Option<u64>, Option<u32>, Option<DateTime<Utc>>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT name, retention_raw_seconds, retention_hourly_seconds, retention_daily_seconds, agent_interval_seconds, \
            settings_updated_at FROM tenants WHERE id = ?",
    )
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(name, raw, hourly, daily, interval, updated_at)| Stored { name, raw, hourly, daily, interval, updated_at }))
}

fn unprocessable(field: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::Unprocessable, format!("{field}: {message}"))
}

/// A duration of the body: `None` stays `None`; 422 naming `field` when it
/// is not a duration or not within `min ..= max`.
fn bounded(field: &str, value: Option<&str>, min: Duration, max: Duration, max_key: &str) -> Result<Option<u64>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    let duration = vigil_bus::duration::parse(text).map_err(|e| unprocessable(field, e.to_string()))?;
    let format = vigil_bus::duration::format;
    if duration < min {
        return Err(unprocessable(
            field,
            format!("{text:?} is shorter than {}; give {} to {}", format(min), format(min), format(max)),
        ));
    }
    if duration > max {
        return Err(unprocessable(
            field,
            format!("{text:?} is longer than the server's limit of {} ({max_key}); give at most {}", format(max), format(max)),
        ));
    }
    Ok(Some(duration.as_secs()))
}

/// The stored form of an update, or the first field that cannot be stored.
fn checked(update: &TenantConfigUpdate, max: &RetentionLimits) -> Result<Stored, ApiError> {
    let name = update.name.trim();
    if name.is_empty() {
        return Err(unprocessable("name", "is empty; give the tenant a name".to_owned()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(unprocessable("name", format!("is longer than {MAX_NAME_CHARS} characters")));
    }
    let hour = Duration::from_secs(3600);
    let retention = &update.retention;
    let raw = bounded("retention.raw", retention.raw.as_deref(), hour, max.raw, "collector.retention_raw")?;
    let hourly = bounded("retention.hourly", retention.hourly.as_deref(), hour, max.hourly, "collector.retention_hourly")?;
    let daily = bounded(
        "retention.daily",
        retention.daily.as_deref(),
        Duration::from_secs(86_400),
        max.daily,
        "collector.retention_daily",
    )?;
    let interval = bounded("agent_interval", update.agent_interval.as_deref(), MIN_AGENT_INTERVAL, MAX_AGENT_INTERVAL, "1h")?;
    Ok(Stored {
        name: name.to_owned(),
        raw,
        hourly,
        daily,
        interval: interval.map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
        updated_at: None,
    })
}

#[utoipa::path(
    get,
    path = "/config/tenant",
    tag = "tenant",
    responses((status = 200, description = "the caller's tenant settings and the server's limits", body = TenantConfig)),
)]
pub(crate) async fn get_tenant(State(shared): State<AppState>, caller: Caller) -> Result<Json<TenantConfig>, ApiError> {
    let stored = read(&shared.pool, &caller.tenant_id)
        .await
        .map_err(|e| ApiError::internal("reading the tenant", e))?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no tenant {}", caller.tenant_id)))?;
    Ok(Json(answer(caller.tenant_id, stored, &shared.config.max_retention)))
}

#[utoipa::path(
    put,
    path = "/config/tenant",
    tag = "tenant",
    request_body = TenantConfigUpdate,
    responses(
        (status = 200, description = "the settings as stored; the interval is pushed to the tenant's connected agents", body = TenantConfig),
        (status = 403, description = "not an admin"),
        (status = 422, description = "a field out of bounds, named"),
    ),
)]
pub(crate) async fn put_tenant(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(update): ApiJson<TenantConfigUpdate>,
) -> Result<Json<TenantConfig>, ApiError> {
    caller.require_admin()?;
    let wanted = checked(&update, &shared.config.max_retention)?;
    let updated = sqlx::query(
        "UPDATE tenants SET name = ?, retention_raw_seconds = ?, retention_hourly_seconds = ?, retention_daily_seconds = ?, \
            agent_interval_seconds = ?, settings_updated_at = UTC_TIMESTAMP() WHERE id = ?",
    )
    .bind(&wanted.name)
    .bind(wanted.raw)
    .bind(wanted.hourly)
    .bind(wanted.daily)
    .bind(wanted.interval)
    .bind(&caller.tenant_id)
    .execute(&shared.pool)
    .await
    .map_err(|e| ApiError::internal("writing the tenant", e))?;
    if updated.rows_affected() == 0 && read(&shared.pool, &caller.tenant_id).await.ok().flatten().is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no tenant {}", caller.tenant_id)));
    }
    let changed = TenantSettingsChanged {
        tenant_id: caller.tenant_id.clone(),
        agent_interval_seconds: wanted.interval,
        retention: TenantRetention {
            tenant_id: caller.tenant_id.clone(),
            raw_seconds: wanted.raw,
            hourly_seconds: wanted.hourly,
            daily_seconds: wanted.daily,
        },
    };
    publish_change(&shared.nats, &changed).await;
    tracing::info!(
        tenant_id = %caller.tenant_id,
        user_id = %caller.user_id,
        agent_interval_seconds = ?wanted.interval,
        retention_raw_seconds = ?wanted.raw,
        retention_hourly_seconds = ?wanted.hourly,
        retention_daily_seconds = ?wanted.daily,
        "tenant settings changed"
    );
    let stored = read(&shared.pool, &caller.tenant_id).await.map_err(|e| ApiError::internal("reading the tenant", e))?;
    Ok(Json(answer(caller.tenant_id, stored.unwrap_or(wanted), &shared.config.max_retention)))
}

async fn publish_change(nats: &async_nats::Client, changed: &TenantSettingsChanged) {
    let Ok(payload) = serde_json::to_vec(changed) else { return };
    let subject = subjects::tenant_settings(&changed.tenant_id);
    let sent = match nats.publish(subject.clone(), payload.into()).await {
        Ok(()) => nats.flush().await.map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = sent {
        tracing::warn!(%subject, error = %error, "cannot publish a tenant settings change; agents get it when they reconnect");
    }
}

type Outbound = mpsc::Sender<Result<ServerMessage, Status>>;

fn config_update(interval_seconds: Option<u32>) -> ServerMessage {
    ServerMessage {
        payload: Some(server_message::Payload::Config(ConfigUpdate { interval_seconds: interval_seconds.unwrap_or(0) })),
    }
}

/// Hands an agent that just connected its tenant's interval, when it has one.
pub(crate) async fn on_connect(shared: Arc<Shared>, tenant_id: String, host_id: String, outbound: Outbound) {
    let interval = match read(&shared.pool, &tenant_id).await {
        Ok(stored) => stored.and_then(|s| s.interval),
        Err(error) => {
            tracing::warn!(%tenant_id, %host_id, error = %error, "cannot read the tenant's agent interval; the agent keeps its own");
            return;
        }
    };
    if let Some(seconds) = interval {
        if outbound.send(Ok(config_update(Some(seconds)))).await.is_ok() {
            tracing::debug!(%tenant_id, %host_id, interval_seconds = seconds, "tenant interval handed to the agent");
        }
    }
}

/// The interval a connecting agent registers with (0: its own).
pub(crate) async fn agent_interval(pool: &MySqlPool, tenant_id: &str) -> u32 {
    read(pool, tenant_id).await.ok().flatten().and_then(|s| s.interval).unwrap_or(0)
}

/// Reads every tenant settings change and pushes the interval to the
/// tenant's agents this gateway holds, until `stop`.
pub(crate) async fn start(shared: Arc<Shared>, stop: CancellationToken) -> Result<(), async_nats::SubscribeError> {
    let mut changes = shared.nats.subscribe(subjects::TENANT_SETTINGS_ALL).await?;
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => break,
                message = changes.next() => match message { Some(message) => message, None => break },
            };
            let Some(tenant_id) = subjects::parse_tenant_settings(message.subject.as_str()) else { continue };
            let changed: TenantSettingsChanged = match serde_json::from_slice(&message.payload) {
                Ok(changed) => changed,
                Err(error) => {
                    tracing::warn!(subject = %message.subject, error = %error, "not a tenant settings change; skipped");
                    continue;
                }
            };
            if changed.tenant_id != tenant_id {
                tracing::warn!(subject = %message.subject, "a settings change's tenant differs from its subject; skipped");
                continue;
            }
            let streams = shared.agents.of_tenant(tenant_id);
            for (host_id, outbound) in &streams {
                let sent = tokio::time::timeout(
                    Duration::from_secs(5),
                    outbound.send(Ok(config_update(changed.agent_interval_seconds))),
                );
                if !matches!(sent.await, Ok(Ok(()))) {
                    tracing::info!(%tenant_id, %host_id, "agent stream gone or full; the interval reaches it when it reconnects");
                }
            }
            tracing::info!(%tenant_id, agents = streams.len(), interval_seconds = ?changed.agent_interval_seconds, "tenant interval pushed to held agents");
        }
    });
    Ok(())
}

/// `vigil.gateway.tenants.retention`: the tenants with a retention of their own.
async fn retentions(pool: &MySqlPool) -> Result<Vec<TenantRetention>, ServiceError> {
    type Row = (String, Option<u64>, Option<u64>, Option<u64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, retention_raw_seconds, retention_hourly_seconds, retention_daily_seconds FROM tenants \
         WHERE retention_raw_seconds IS NOT NULL OR retention_hourly_seconds IS NOT NULL OR retention_daily_seconds IS NOT NULL \
         ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .map_err(vigil_runtime::errors::db(subjects::gateway::SERVICE_NAME, "reading tenant retentions"))?;
    Ok(rows
        .into_iter()
        .map(|(tenant_id, raw_seconds, hourly_seconds, daily_seconds)| TenantRetention {
            tenant_id,
            raw_seconds,
            hourly_seconds,
            daily_seconds,
        })
        .collect())
}

/// The gateway's endpoints (group `vigil.gateway`, queue group `gateway`):
/// it registers the `gateway` service with them (`$SRV.PING.gateway`).
pub(crate) fn endpoints() -> EndpointTable<Shared> {
    EndpointTable::new(subjects::gateway::GROUP)
        .handle(subjects::gateway::TENANT_RETENTIONS, |s: Arc<Shared>, _: ListTenantRetentions| async move {
            retentions(&s.pool).await
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str, raw: Option<&str>, daily: Option<&str>, interval: Option<&str>) -> TenantConfigUpdate {
        TenantConfigUpdate {
            name: name.to_owned(),
            retention: RetentionSettings { raw: raw.map(Into::into), hourly: None, daily: daily.map(Into::into) },
            agent_interval: interval.map(Into::into),
        }
    }

    fn refused(update: TenantConfigUpdate) -> String {
        let error = checked(&update, &RetentionLimits::default()).unwrap_err();
        assert_eq!(error.status.as_u16(), 422, "{}", error.message);
        error.message
    }

    #[test]
    fn settings_within_the_limits_are_stored_in_seconds() {
        let stored = checked(&update(" Acme ", Some("3d"), Some("365d"), Some("30s")), &RetentionLimits::default()).unwrap();
        assert_eq!(stored.name, "Acme");
        assert_eq!((stored.raw, stored.hourly, stored.daily, stored.interval), (Some(259_200), None, Some(31_536_000), Some(30)));
    }

    #[test]
    fn each_field_out_of_bounds_is_named() {
        assert!(refused(update("a", Some("8d"), None, None))
            .starts_with("retention.raw: \"8d\" is longer than the server's limit of 7d"));
        assert!(refused(update("a", None, Some("800d"), None)).starts_with("retention.daily: \"800d\" is longer"));
        assert!(refused(update("a", None, Some("2h"), None)).starts_with("retention.daily: \"2h\" is shorter than 1d"));
        assert!(refused(update("a", Some("soon"), None, None)).starts_with("retention.raw: \"soon\" is not a duration"));
        assert!(
            refused(update("a", None, None, Some("1s"))).starts_with("agent_interval: \"1s\" is shorter than 5s; give 5s to 1h")
        );
        assert!(refused(update("a", None, None, Some("2h"))).starts_with("agent_interval: \"2h\" is longer"));
        assert!(refused(update("  ", None, None, None)).starts_with("name: is empty"));
    }

    #[test]
    fn retention_is_read_only_from_an_object() {
        let parse = |text: &str| serde_json::from_str::<TenantConfigUpdate>(text).map_err(|e| e.to_string());
        assert_eq!(parse(r#"{"name":"a","retention":{"raw":"3d"}}"#).unwrap().retention.raw.as_deref(), Some("3d"));
        assert_eq!(parse(r#"{"name":"a"}"#).unwrap().retention, RetentionSettings::default());
        assert!(parse(r#"{"name":"a","retention":[null,null]}"#).unwrap_err().contains("retention must be an object"));
        assert!(parse(r#"{"name":"a","retention":null}"#).is_err());
        assert!(parse(r#"{"name":"a","retention":{"weekly":"1d"}}"#).unwrap_err().contains("unknown field"));
    }

    #[test]
    fn a_cleared_interval_sends_zero_so_agents_go_back_to_their_own() {
        let Some(server_message::Payload::Config(update)) = config_update(None).payload else { panic!("a config update") };
        assert_eq!(update.interval_seconds, 0);
    }
}
