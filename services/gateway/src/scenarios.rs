//! REST routes of scenarios, under `/api`, answered by the orchestrator's
//! endpoints (it owns the scenario tables):
//!
//! - `GET /api/scenarios`, `GET /api/scenarios/{id}`;
//! - `POST /api/scenarios`, `PUT /api/scenarios/{id}`: the body is the
//!   scenario as YAML or JSON text (any content type), checked by the
//!   orchestrator (422 naming the field);
//! - `DELETE /api/scenarios/{id}`;
//! - `POST /api/scenarios/{id}/run?dry_run=true` `{host_id?}`: a manual run
//!   (202, the run as started) or a dry run (200, the steps rendered);
//! - `GET /api/scenarios/runs?scenario_id=&before=&limit=`, `GET /api/scenarios/runs/{id}`;
//! - `GET/PUT /api/config/scenarios` `{enabled}`: the tenant's kill switch.
//!
//! Invariants (besides those of [`crate::rest`]): viewers read; admins
//! write scenarios; operators and admins run them and flip the kill switch
//! (stopping automation must not wait for an admin); the caller's tenant
//! scopes every request.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use vigil_bus::messages::{
    self, ListRuns, OfTenant, PutScenarioSettings, RunScenario, RunStatus, SaveScenario, ScenarioRecord, ScenarioRun,
    ScenarioSettings, TenantItem,
};
use vigil_bus::subjects::orchestrator;

use crate::error::ApiError;
use crate::rest::{host_id_from_path, id_from_path, ApiBody, ApiJson, ApiQuery, Caller};
use crate::Shared;

type AppState = Arc<Shared>;

#[utoipa::path(
    get,
    path = "/scenarios",
    tag = "scenarios",
    responses((status = 200, description = "the tenant's scenarios", body = Vec<ScenarioRecord>)),
)]
pub(crate) async fn list_scenarios(
    State(shared): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ScenarioRecord>>, ApiError> {
    let request = OfTenant { tenant_id: caller.tenant_id };
    Ok(Json(messages::request(&shared.nats, orchestrator::LIST, &request).await?))
}

#[utoipa::path(
    get,
    path = "/scenarios/{id}",
    tag = "scenarios",
    params(("id" = String, Path, description = "scenario id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses((status = 200, description = "the scenario", body = ScenarioRecord)),
)]
pub(crate) async fn get_scenario(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScenarioRecord>, ApiError> {
    id_from_path("scenario", &id)?;
    let request = TenantItem { tenant_id: caller.tenant_id, id };
    Ok(Json(messages::request(&shared.nats, orchestrator::GET, &request).await?))
}

/// A scenario's text: any content type, but UTF-8 (a 400 in the API's error
/// shape otherwise, not axum's plain-text rejection).
fn scenario_source(body: axum::body::Bytes) -> Result<String, ApiError> {
    String::from_utf8(body.into()).map_err(|error| {
        ApiError::bad_request(format!(
            "the body is not UTF-8 text (byte {}); send the scenario as YAML or JSON",
            error.utf8_error().valid_up_to()
        ))
    })
}

async fn save(shared: &Shared, caller: &Caller, id: Option<String>, source: String) -> Result<ScenarioRecord, ApiError> {
    caller.require_admin()?;
    if source.trim().is_empty() {
        return Err(ApiError::new(vigil_bus::ErrorCode::Unprocessable, "the body is empty; send the scenario as YAML or JSON"));
    }
    let request = SaveScenario { tenant_id: caller.tenant_id.clone(), id, source, by: caller.email(shared).await };
    Ok(messages::request(&shared.nats, orchestrator::SAVE, &request).await?)
}

#[utoipa::path(
    post,
    path = "/scenarios",
    tag = "scenarios",
    request_body(description = "the scenario as YAML or JSON text (any content type)", content((vigil_bus::messages::ScenarioSpec = "application/json"), (String = "application/yaml"))),
    responses(
        (status = 201, description = "the scenario", body = ScenarioRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_scenario(
    State(shared): State<AppState>,
    caller: Caller,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<ScenarioRecord>), ApiError> {
    Ok((StatusCode::CREATED, Json(save(&shared, &caller, None, scenario_source(body)?).await?)))
}

#[utoipa::path(
    put,
    path = "/scenarios/{id}",
    tag = "scenarios",
    params(("id" = String, Path, description = "scenario id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    request_body(description = "the scenario as YAML or JSON text (any content type)", content((vigil_bus::messages::ScenarioSpec = "application/json"), (String = "application/yaml"))),
    responses(
        (status = 200, description = "the scenario, replaced", body = ScenarioRecord),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_scenario(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiBody(body): ApiBody,
) -> Result<Json<ScenarioRecord>, ApiError> {
    id_from_path("scenario", &id)?;
    Ok(Json(save(&shared, &caller, Some(id), scenario_source(body)?).await?))
}

#[utoipa::path(
    delete,
    path = "/scenarios/{id}",
    tag = "scenarios",
    params(("id" = String, Path, description = "scenario id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses(
        (status = 204, description = "deleted; its runs are kept"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn delete_scenario(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    id_from_path("scenario", &id)?;
    let request = TenantItem { tenant_id: caller.tenant_id, id };
    messages::request(&shared.nats, orchestrator::DELETE, &request).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunQuery {
    /// Render the steps without doing anything (200 instead of 202).
    #[serde(default)]
    dry_run: bool,
}

/// Body of `POST /api/scenarios/{id}/run`, optional.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunBody {
    /// The host the run acts on (else the trigger's hosts, else the steps' `host_id`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    host_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/scenarios/{id}/run",
    tag = "scenarios",
    params(("id" = String, Path, description = "scenario id", pattern = "^[A-Za-z0-9_-]{1,50}$"), RunQuery),
    request_body(content = Option<RunBody>, description = "optional: nothing or null means the trigger's hosts"),
    responses(
        (status = 202, description = "the run, started", body = ScenarioRun),
        (status = 200, description = "a dry run: the steps rendered, nothing done", body = ScenarioRun),
        (status = 403, description = "the caller is a viewer", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn run_scenario(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RunQuery>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<ScenarioRun>), ApiError> {
    caller.require_operator()?;
    id_from_path("scenario", &id)?;
    let host_id = run_body(&body)?.host_id;
    if let Some(host) = &host_id {
        host_id_from_path(host)?;
    }
    let request =
        RunScenario { tenant_id: caller.tenant_id.clone(), id, host_id, dry_run: query.dry_run, by: caller.email(&shared).await };
    let run: ScenarioRun = messages::request(&shared.nats, orchestrator::RUN, &request).await?;
    let status = if run.status == RunStatus::DryRun { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(run)))
}

/// The body of a run is optional: nothing (or `null`) means the trigger's hosts.
fn run_body(body: &[u8]) -> Result<RunBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RunBody::default());
    }
    let bad = |e: String| ApiError::bad_request(format!("bad JSON body: {e}; send {{\"host_id\": \"...\"}} or nothing"));
    match serde_json::from_slice(body).map_err(|e| bad(e.to_string()))? {
        serde_json::Value::Null => Ok(RunBody::default()),
        object @ serde_json::Value::Object(_) => serde_json::from_value(object).map_err(|e| bad(e.to_string())),
        _ => Err(bad("not an object".to_owned())),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// Only this scenario's runs.
    #[param(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    scenario_id: Option<String>,
    /// Only runs older than this one (the last id of the previous page).
    #[param(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    before: Option<String>,
    /// At most this many (default 50; taken within 1 to 500).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/scenarios/runs",
    tag = "scenarios",
    params(RunsQuery),
    responses((status = 200, description = "runs with their steps, newest first", body = Vec<ScenarioRun>)),
)]
pub(crate) async fn list_runs(
    State(shared): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> Result<Json<Vec<ScenarioRun>>, ApiError> {
    if let Some(id) = &query.scenario_id {
        id_from_path("scenario", id)?;
    }
    if let Some(id) = &query.before {
        id_from_path("run", id)?;
    }
    let request =
        ListRuns { tenant_id: caller.tenant_id, scenario_id: query.scenario_id, before: query.before, limit: query.limit };
    Ok(Json(messages::request(&shared.nats, orchestrator::LIST_RUNS, &request).await?))
}

#[utoipa::path(
    get,
    path = "/scenarios/runs/{id}",
    tag = "scenarios",
    params(("id" = String, Path, description = "run id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses((status = 200, description = "the run with its steps", body = ScenarioRun)),
)]
pub(crate) async fn get_run(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScenarioRun>, ApiError> {
    id_from_path("run", &id)?;
    let request = TenantItem { tenant_id: caller.tenant_id, id };
    Ok(Json(messages::request(&shared.nats, orchestrator::GET_RUN, &request).await?))
}

#[utoipa::path(
    get,
    path = "/config/scenarios",
    tag = "scenarios",
    responses((status = 200, description = "the tenant's kill switch", body = ScenarioSettings)),
)]
pub(crate) async fn get_settings(State(shared): State<AppState>, caller: Caller) -> Result<Json<ScenarioSettings>, ApiError> {
    let request = OfTenant { tenant_id: caller.tenant_id };
    Ok(Json(messages::request(&shared.nats, orchestrator::GET_SETTINGS, &request).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsBody {
    enabled: bool,
}

#[utoipa::path(
    put,
    path = "/config/scenarios",
    tag = "scenarios",
    request_body = SettingsBody,
    responses(
        (status = 200, description = "the kill switch, set", body = ScenarioSettings),
        (status = 403, description = "the caller is a viewer", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn put_settings(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Json<ScenarioSettings>, ApiError> {
    caller.require_operator()?;
    let request =
        PutScenarioSettings { tenant_id: caller.tenant_id.clone(), enabled: body.enabled, by: caller.email(&shared).await };
    Ok(Json(messages::request(&shared.nats, orchestrator::PUT_SETTINGS, &request).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_body_that_is_not_utf8_is_a_400_in_the_error_shape() {
        assert_eq!(scenario_source(axum::body::Bytes::from_static(b"name: x\n")).unwrap(), "name: x\n");
        let error = scenario_source(axum::body::Bytes::from_static(b"X\x15C\xff")).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.message, "the body is not UTF-8 text (byte 3); send the scenario as YAML or JSON");
    }

    #[test]
    fn a_run_body_may_be_absent_null_or_name_a_host() {
        for absent in ["", " \n", "null"] {
            assert_eq!(run_body(absent.as_bytes()).unwrap().host_id, None, "{absent:?}");
        }
        assert_eq!(run_body(br#"{"host_id": "web-1"}"#).unwrap().host_id.as_deref(), Some("web-1"));
        for bad in ["{", "[]", "[null]", "7", r#"{"host": "web-1"}"#] {
            let error = run_body(bad.as_bytes()).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(error.message.starts_with("bad JSON body"), "{bad}: {}", error.message);
        }
    }
}
