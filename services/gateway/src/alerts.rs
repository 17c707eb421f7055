//! REST routes of alerting, under `/api`, answered by the alerter's
//! endpoints (it owns every alert table):
//!
//! - `GET /api/alerts?host_id=&severity=&status=`: active alerts;
//! - `GET /api/alerts/history?host_id=&severity=&rule_id=&before=&limit=`:
//!   resolved alerts, newest first, paged by `next_before`;
//! - `POST /api/alerts/{id}/acknowledge`;
//! - `GET/POST /api/alerts/rules`, `PUT/DELETE /api/alerts/rules/{id}`,
//!   `POST /api/alerts/rules/validate`, `POST /api/alerts/rules/preview`;
//! - `GET/POST /api/alerts/silences`, `PUT/DELETE /api/alerts/silences/{id}`;
//! - `GET/POST /api/alerts/maintenance`, `PUT/DELETE /api/alerts/maintenance/{id}`;
//! - `GET/PUT /api/config/notifications`, `POST /api/config/notifications/{id}/test`.
//!
//! Invariants (besides those of [`crate::rest`]): viewers read (and may
//! validate or preview a condition), admins write (403 for a viewer); the
//! caller's tenant scopes every request, so another tenant's rule, alert,
//! channel or silence is a 404; path ids are checked before any request
//! leaves (400 naming the value); a value that cannot be used is a 422 whose
//! message starts with the field's name.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use vigil_bus::messages::{
    self, AcknowledgeAlert, Alert, AlertHistoryPage, AlertHistoryQuery, AlertStatus, ChannelInput, ChannelRecord,
    ChannelTestResult, CheckRule, ClearSpec, CreateRule, ListAlerts, MaintenanceInput, MaintenanceRecord, OfTenant, PutChannels,
    RuleCheck, RuleInput, RulePreview, RuleRecord, SaveMaintenance, SaveSilence, Severity, SilenceInput, SilenceRecord,
    TenantItem, UpdateRule,
};
use vigil_bus::subjects::alerter;

use crate::error::ApiError;
use crate::rest::{id_from_path, ApiJson, ApiJsonList, ApiQuery, Caller};
use crate::Shared;

type AppState = Arc<Shared>;

fn item(caller: &Caller, id: String) -> TenantItem {
    TenantItem { tenant_id: caller.tenant_id.clone(), id }
}

// ---------------------------------------------------------------- alerts

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertsQuery {
    /// Only this host's alerts.
    #[param(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    host_id: Option<String>,
    #[param(inline)]
    severity: Option<Severity>,
    #[param(inline)]
    status: Option<AlertStatus>,
}

#[utoipa::path(
    get,
    path = "/alerts",
    tag = "alerts",
    params(AlertsQuery),
    responses((status = 200, description = "active alerts (firing or acknowledged), newest first", body = Vec<Alert>)),
)]
pub(crate) async fn list_alerts(
    State(shared): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    if let Some(host) = &query.host_id {
        id_from_path("host", host)?;
    }
    let request =
        ListAlerts { tenant_id: caller.tenant_id, host_id: query.host_id, severity: query.severity, status: query.status };
    Ok(Json(messages::request(&shared.nats, alerter::LIST_ALERTS, &request).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Only this host's alerts.
    #[param(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    host_id: Option<String>,
    #[param(inline)]
    severity: Option<Severity>,
    /// Only this rule's alerts.
    #[param(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    rule_id: Option<String>,
    /// The previous page's `next_before`.
    #[param(value_type = Option<i64>, minimum = 0)]
    before: Option<u64>,
    /// Entries per page (default 50; taken within 1 to 500).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/alerts/history",
    tag = "alerts",
    params(HistoryQuery),
    responses((status = 200, description = "resolved alerts, newest first, one page", body = AlertHistoryPage)),
)]
pub(crate) async fn history(
    State(shared): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<AlertHistoryPage>, ApiError> {
    if let Some(host) = &query.host_id {
        id_from_path("host", host)?;
    }
    if let Some(rule) = &query.rule_id {
        id_from_path("rule", rule)?;
    }
    let before = history_position(query.before)?;
    let request = AlertHistoryQuery {
        tenant_id: caller.tenant_id,
        host_id: query.host_id,
        severity: query.severity,
        rule_id: query.rule_id,
        before,
        limit: query.limit.unwrap_or(50),
    };
    Ok(Json(messages::request(&shared.nats, alerter::ALERT_HISTORY, &request).await?))
}

#[utoipa::path(
    post,
    path = "/alerts/{id}/acknowledge",
    tag = "alerts",
    params(("id" = String, Path, description = "alert id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses(
        (status = 200, description = "the alert, acknowledged", body = Alert),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
        (status = 409, description = "the alert is already acknowledged or resolved", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn acknowledge(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Alert>, ApiError> {
    caller.require_admin()?;
    id_from_path("alert", &id)?;
    let request = AcknowledgeAlert { tenant_id: caller.tenant_id.clone(), alert_id: id, by: caller.email(&shared).await };
    Ok(Json(messages::request(&shared.nats, alerter::ACKNOWLEDGE, &request).await?))
}

/// `before` of a history page: a position is an `i64` (what the description
/// says), so a larger number is a 400 rather than an empty page.
fn history_position(before: Option<u64>) -> Result<Option<u64>, ApiError> {
    match before {
        Some(before) if i64::try_from(before).is_err() => {
            Err(ApiError::bad_request(format!("before={before} is past the last history position")))
        }
        before => Ok(before),
    }
}

// ---------------------------------------------------------------- rules

#[utoipa::path(
    get,
    path = "/alerts/rules",
    tag = "alert rules",
    responses((status = 200, description = "the tenant's rules", body = Vec<RuleRecord>)),
)]
pub(crate) async fn list_rules(State(shared): State<AppState>, caller: Caller) -> Result<Json<Vec<RuleRecord>>, ApiError> {
    let request = OfTenant { tenant_id: caller.tenant_id };
    Ok(Json(messages::request(&shared.nats, alerter::LIST_RULES, &request).await?))
}

#[utoipa::path(
    post,
    path = "/alerts/rules",
    tag = "alert rules",
    request_body = RuleInput,
    responses(
        (status = 201, description = "the rule", body = RuleRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_rule(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(rule): ApiJson<RuleInput>,
) -> Result<(StatusCode, Json<RuleRecord>), ApiError> {
    caller.require_admin()?;
    let request = CreateRule { tenant_id: caller.tenant_id, rule };
    Ok((StatusCode::CREATED, Json(messages::request(&shared.nats, alerter::CREATE_RULE, &request).await?)))
}

#[utoipa::path(
    put,
    path = "/alerts/rules/{id}",
    tag = "alert rules",
    params(("id" = String, Path, description = "rule id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    request_body = RuleInput,
    responses(
        (status = 200, description = "the rule, replaced", body = RuleRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_rule(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(rule): ApiJson<RuleInput>,
) -> Result<Json<RuleRecord>, ApiError> {
    caller.require_admin()?;
    id_from_path("rule", &id)?;
    let request = UpdateRule { tenant_id: caller.tenant_id, id, rule };
    Ok(Json(messages::request(&shared.nats, alerter::UPDATE_RULE, &request).await?))
}

#[utoipa::path(
    delete,
    path = "/alerts/rules/{id}",
    tag = "alert rules",
    params(("id" = String, Path, description = "rule id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses(
        (status = 204, description = "deleted; its firing alerts resolve"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn delete_rule(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    id_from_path("rule", &id)?;
    messages::request(&shared.nats, alerter::DELETE_RULE, &item(&caller, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckBody {
    condition: String,
    #[serde(default)]
    clear: Option<ClearSpec>,
    #[serde(default)]
    message: Option<String>,
}

impl CheckBody {
    fn request(self, caller: Caller) -> CheckRule {
        CheckRule { tenant_id: caller.tenant_id, condition: self.condition, clear: self.clear, message: self.message }
    }
}

#[utoipa::path(
    post,
    path = "/alerts/rules/validate",
    tag = "alert rules",
    request_body = CheckBody,
    responses((status = 200, description = "the condition compiles; what one instance of it is", body = RuleCheck)),
)]
pub(crate) async fn validate_rule(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CheckBody>,
) -> Result<Json<RuleCheck>, ApiError> {
    Ok(Json(messages::request(&shared.nats, alerter::VALIDATE_RULE, &body.request(caller)).await?))
}

#[utoipa::path(
    post,
    path = "/alerts/rules/preview",
    tag = "alert rules",
    request_body = CheckBody,
    responses((status = 200, description = "what the condition holds for now, on each host's latest data", body = RulePreview)),
)]
pub(crate) async fn preview_rule(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CheckBody>,
) -> Result<Json<RulePreview>, ApiError> {
    Ok(Json(messages::request(&shared.nats, alerter::PREVIEW_RULE, &body.request(caller)).await?))
}

// ---------------------------------------------------------------- silences and maintenance

#[utoipa::path(
    get,
    path = "/alerts/silences",
    tag = "silences",
    responses((status = 200, description = "the tenant's silences", body = Vec<SilenceRecord>)),
)]
pub(crate) async fn list_silences(State(shared): State<AppState>, caller: Caller) -> Result<Json<Vec<SilenceRecord>>, ApiError> {
    let request = OfTenant { tenant_id: caller.tenant_id };
    Ok(Json(messages::request(&shared.nats, alerter::LIST_SILENCES, &request).await?))
}

#[utoipa::path(
    post,
    path = "/alerts/silences",
    tag = "silences",
    request_body = SilenceInput,
    responses(
        (status = 201, description = "the silence", body = SilenceRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_silence(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(silence): ApiJson<SilenceInput>,
) -> Result<(StatusCode, Json<SilenceRecord>), ApiError> {
    caller.require_admin()?;
    let request = SaveSilence { by: caller.email(&shared).await, tenant_id: caller.tenant_id, id: None, silence };
    Ok((StatusCode::CREATED, Json(messages::request(&shared.nats, alerter::SAVE_SILENCE, &request).await?)))
}

#[utoipa::path(
    put,
    path = "/alerts/silences/{id}",
    tag = "silences",
    params(("id" = String, Path, description = "silence id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    request_body = SilenceInput,
    responses(
        (status = 200, description = "the silence, replaced", body = SilenceRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_silence(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(silence): ApiJson<SilenceInput>,
) -> Result<Json<SilenceRecord>, ApiError> {
    caller.require_admin()?;
    id_from_path("silence", &id)?;
    let request = SaveSilence { by: caller.email(&shared).await, tenant_id: caller.tenant_id, id: Some(id), silence };
    Ok(Json(messages::request(&shared.nats, alerter::SAVE_SILENCE, &request).await?))
}

#[utoipa::path(
    delete,
    path = "/alerts/silences/{id}",
    tag = "silences",
    params(("id" = String, Path, description = "silence id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn delete_silence(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    id_from_path("silence", &id)?;
    messages::request(&shared.nats, alerter::DELETE_SILENCE, &item(&caller, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/alerts/maintenance",
    tag = "maintenance windows",
    responses((status = 200, description = "the tenant's maintenance windows", body = Vec<MaintenanceRecord>)),
)]
pub(crate) async fn list_maintenance(
    State(shared): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<MaintenanceRecord>>, ApiError> {
    let request = OfTenant { tenant_id: caller.tenant_id };
    Ok(Json(messages::request(&shared.nats, alerter::LIST_MAINTENANCE, &request).await?))
}

#[utoipa::path(
    post,
    path = "/alerts/maintenance",
    tag = "maintenance windows",
    request_body = MaintenanceInput,
    responses(
        (status = 201, description = "the window", body = MaintenanceRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_maintenance(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(window): ApiJson<MaintenanceInput>,
) -> Result<(StatusCode, Json<MaintenanceRecord>), ApiError> {
    caller.require_admin()?;
    let request = SaveMaintenance { by: caller.email(&shared).await, tenant_id: caller.tenant_id, id: None, window };
    Ok((StatusCode::CREATED, Json(messages::request(&shared.nats, alerter::SAVE_MAINTENANCE, &request).await?)))
}

#[utoipa::path(
    put,
    path = "/alerts/maintenance/{id}",
    tag = "maintenance windows",
    params(("id" = String, Path, description = "maintenance window id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    request_body = MaintenanceInput,
    responses(
        (status = 200, description = "the window, replaced", body = MaintenanceRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_maintenance(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(window): ApiJson<MaintenanceInput>,
) -> Result<Json<MaintenanceRecord>, ApiError> {
    caller.require_admin()?;
    id_from_path("maintenance", &id)?;
    let request = SaveMaintenance { by: caller.email(&shared).await, tenant_id: caller.tenant_id, id: Some(id), window };
    Ok(Json(messages::request(&shared.nats, alerter::SAVE_MAINTENANCE, &request).await?))
}

#[utoipa::path(
    delete,
    path = "/alerts/maintenance/{id}",
    tag = "maintenance windows",
    params(("id" = String, Path, description = "maintenance window id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn delete_maintenance(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    id_from_path("maintenance", &id)?;
    messages::request(&shared.nats, alerter::DELETE_MAINTENANCE, &item(&caller, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- channels

#[utoipa::path(
    get,
    path = "/config/notifications",
    tag = "notification channels",
    responses((status = 200, description = "the tenant's channels, secrets masked", body = Vec<ChannelRecord>)),
)]
pub(crate) async fn list_channels(State(shared): State<AppState>, caller: Caller) -> Result<Json<Vec<ChannelRecord>>, ApiError> {
    let request = OfTenant { tenant_id: caller.tenant_id };
    Ok(Json(messages::request(&shared.nats, alerter::LIST_CHANNELS, &request).await?))
}

#[utoipa::path(
    put,
    path = "/config/notifications",
    tag = "notification channels",
    request_body = Vec<ChannelInput>,
    responses(
        (status = 200, description = "the tenant's channels, now exactly these", body = Vec<ChannelRecord>),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn put_channels(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJsonList(channels): ApiJsonList<ChannelInput>,
) -> Result<Json<Vec<ChannelRecord>>, ApiError> {
    caller.require_admin()?;
    let request = PutChannels { tenant_id: caller.tenant_id, channels };
    Ok(Json(messages::request(&shared.nats, alerter::PUT_CHANNELS, &request).await?))
}

#[utoipa::path(
    post,
    path = "/config/notifications/{id}/test",
    tag = "notification channels",
    params(("id" = String, Path, description = "channel id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses(
        (status = 200, description = "what the receiver said to a test message", body = ChannelTestResult),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn test_channel(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ChannelTestResult>, ApiError> {
    caller.require_admin()?;
    id_from_path("channel", &id)?;
    Ok(Json(messages::request(&shared.nats, alerter::TEST_CHANNEL, &item(&caller, id)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_position_past_i64_is_a_400() {
        assert_eq!(history_position(None).unwrap(), None);
        assert_eq!(history_position(Some(i64::MAX as u64)).unwrap(), Some(i64::MAX as u64));
        let error = history_position(Some(i64::MAX as u64 + 1)).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.message, "before=9223372036854775808 is past the last history position");
    }
}
