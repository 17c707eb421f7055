//! REST routes of remote actions, under `/api`, answered by the actioner's
//! endpoints (it owns `actions_log` and signs every order):
//!
//! - `POST /api/hosts/{id}/action` `{type, params, timeout_seconds?, ttl_seconds?}`
//!   → 202 with the action, `pending`;
//! - `POST /api/containers/{id}/action` `{action: restart|start|stop}` (the
//!   container's engine is the one its host reported) → 202;
//! - `GET /api/actions?host_id=&status=&type=&before=&limit=`: newest first,
//!   without output;
//! - `GET /api/actions/{id}`: one action with its output.
//!
//! Invariants (besides those of [`crate::rest`]): operators and admins act,
//! viewers read (403 when they try to act); the caller's tenant scopes
//! every request, so another tenant's host, container or action is a 404;
//! what the action is asked to do is checked by the actioner (422 naming
//! the param) and decided by the host's agent, never here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use vigil_bus::messages::{
    self, ActionRecord, ActionStatus, ActionType, ContainerRecord, GetContainer, ListActions, RequestAction, TenantItem,
};
use vigil_bus::subjects::{actioner, collector};
use vigil_bus::{ContainerId, ErrorCode};

use crate::error::ApiError;
use crate::rest::{host_id_from_path, id_from_path, ApiJson, ApiQuery, Caller};
use crate::Shared;

type AppState = Arc<Shared>;

/// Body of `POST /api/hosts/{id}/action`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostAction {
    #[serde(rename = "type")]
    #[schema(value_type = ActionType)]
    action_type: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
    timeout_seconds: Option<u32>,
    ttl_seconds: Option<u32>,
}

fn action_type(text: &str) -> Result<ActionType, ApiError> {
    text.parse().map_err(|message: String| ApiError::new(ErrorCode::Unprocessable, format!("type: {message}")))
}

async fn request(shared: &Shared, caller: &Caller, request: RequestAction) -> Result<(StatusCode, Json<ActionRecord>), ApiError> {
    let record: ActionRecord = messages::request(&shared.nats, actioner::REQUEST, &request).await?;
    tracing::info!(tenant_id = %caller.tenant_id, user_id = %caller.user_id, action_id = %record.id, host_id = %record.host_id, action_type = record.action_type.as_str(), "action requested");
    Ok((StatusCode::ACCEPTED, Json(record)))
}

#[utoipa::path(
    post,
    path = "/hosts/{id}/action",
    tag = "actions",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    request_body = HostAction,
    responses(
        (status = 202, description = "the action, recorded and signed: pending", body = ActionRecord),
        (status = 403, description = "the caller is a viewer", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn host_action(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HostAction>,
) -> Result<(StatusCode, Json<ActionRecord>), ApiError> {
    caller.require_operator()?;
    host_id_from_path(&id)?;
    let action = RequestAction {
        tenant_id: caller.tenant_id.clone(),
        host_id: id,
        action_type: action_type(&body.action_type)?,
        params: body.params,
        user_id: Some(caller.user_id.clone()),
        requested_by: caller.email(&shared).await,
        ttl_seconds: body.ttl_seconds,
        timeout_seconds: body.timeout_seconds,
        idempotency_key: None,
    };
    request(&shared, &caller, action).await
}

/// Body of `POST /api/containers/{id}/action`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContainerAction {
    #[schema(pattern = "^(restart|start|stop)$")]
    action: String,
}

#[utoipa::path(
    post,
    path = "/containers/{id}/action",
    tag = "actions",
    params(
        ("id" = String, Path, description = "container id: <host_id>:<container name>", pattern = "^[A-Za-z0-9_-]{1,50}:[A-Za-z0-9_.-]{1,100}$"),
    ),
    request_body = ContainerAction,
    responses(
        (status = 202, description = "the action, recorded and signed: pending", body = ActionRecord),
        (status = 403, description = "the caller is a viewer", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn container_action(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ContainerAction>,
) -> Result<(StatusCode, Json<ActionRecord>), ApiError> {
    caller.require_operator()?;
    let container = ContainerId::parse(&id)?;
    let action_type = match body.action.as_str() {
        "restart" => ActionType::RestartContainer,
        "start" => ActionType::StartContainer,
        "stop" => ActionType::StopContainer,
        other => {
            return Err(ApiError::new(ErrorCode::Unprocessable, format!("action: {other:?} is not one of restart, start, stop")))
        }
    };
    // the container must be the tenant's; its engine is the one its host reported
    let get = GetContainer {
        tenant_id: caller.tenant_id.clone(),
        host_id: container.host_id().to_owned(),
        container_name: container.name().to_owned(),
    };
    let record: ContainerRecord = messages::request(&shared.nats, collector::GET_CONTAINER, &get).await?;
    let mut params = BTreeMap::from([("container".to_owned(), container.name().to_owned())]);
    if vigil_bus::actions::ENGINES.contains(&record.metrics.runtime.as_str()) {
        params.insert("engine".to_owned(), record.metrics.runtime.clone());
    }
    let action = RequestAction {
        tenant_id: caller.tenant_id.clone(),
        host_id: container.host_id().to_owned(),
        action_type,
        params,
        user_id: Some(caller.user_id.clone()),
        requested_by: caller.email(&shared).await,
        ttl_seconds: None,
        timeout_seconds: None,
        idempotency_key: None,
    };
    request(&shared, &caller, action).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActionsQuery {
    /// Only this host's actions.
    #[param(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    host_id: Option<String>,
    #[param(inline)]
    status: Option<ActionStatus>,
    #[serde(rename = "type")]
    #[param(inline)]
    action_type: Option<ActionType>,
    /// Only actions created before this one (the last id of the previous page).
    #[param(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    before: Option<String>,
    /// At most this many (default 100; taken within 1 to 1,000).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/actions",
    tag = "actions",
    params(ActionsQuery),
    responses((status = 200, description = "actions, newest first, without their output", body = Vec<ActionRecord>)),
)]
pub(crate) async fn list_actions(
    State(shared): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActionsQuery>,
) -> Result<Json<Vec<ActionRecord>>, ApiError> {
    if let Some(host) = &query.host_id {
        host_id_from_path(host)?;
    }
    if let Some(before) = &query.before {
        id_from_path("action", before)?;
    }
    let request = ListActions {
        tenant_id: caller.tenant_id,
        host_id: query.host_id,
        status: query.status,
        action_type: query.action_type,
        before: query.before,
        limit: query.limit,
    };
    Ok(Json(messages::request(&shared.nats, actioner::LIST, &request).await?))
}

#[utoipa::path(
    get,
    path = "/actions/{id}",
    tag = "actions",
    params(("id" = String, Path, description = "action id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses((status = 200, description = "the action with its output", body = ActionRecord)),
)]
pub(crate) async fn get_action(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ActionRecord>, ApiError> {
    id_from_path("action", &id)?;
    let request = TenantItem { tenant_id: caller.tenant_id, id };
    Ok(Json(messages::request(&shared.nats, actioner::GET, &request).await?))
}
