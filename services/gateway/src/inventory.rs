//! REST routes of a host's inventory, under `/api`: containers, services and
//! custom metrics, answered by the collector's endpoints.
//!
//! - `GET /api/hosts/{id}/containers`, `/api/hosts/{id}/services`: what the
//!   host's latest snapshot holds;
//! - `GET /api/containers`: the containers of every host of the tenant, each
//!   with `host_id` and `host_name`;
//! - `GET /api/containers/{id}` and `/api/containers/{id}/metrics`, the id
//!   being [`ContainerId`] (`<host_id>:<container_name>`);
//! - `GET /api/hosts/{id}/custom?from=&to=&name=&limit=` and
//!   `/api/hosts/{id}/custom/latest`.
//!
//! Invariants (those of [`crate::rest`]): the caller's JWT tenant scopes every
//! query (another tenant's host is a 404 from the collector); path ids are
//! validated before any request leaves (400 naming the value); `from`/`to`/
//! `limit` follow the rules of `/api/hosts/{id}/metrics` (same parser).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vigil_bus::messages::{
    self, ContainerPoint, ContainerRange, ContainerRecord, CustomLatest, CustomPoint, CustomRange, GetContainer, HostContainers,
    HostServices, ListContainers, ServiceRecord,
};
use vigil_bus::subjects::collector;
use vigil_bus::ContainerId;

use crate::error::ApiError;
use crate::rest::{host_id_from_path, metrics_window, ApiQuery, Caller, MetricsQuery};
use crate::Shared;

type AppState = Arc<Shared>;

fn container_id_from_path(id: &str) -> Result<ContainerId, ApiError> {
    Ok(ContainerId::parse(id)?)
}

#[utoipa::path(
    get,
    path = "/hosts/{id}/containers",
    tag = "inventory",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses((status = 200, description = "the containers of the host's latest snapshot", body = Vec<ContainerRecord>)),
)]
pub(crate) async fn host_containers(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ContainerRecord>>, ApiError> {
    host_id_from_path(&id)?;
    let request: HostContainers = messages::GetHost { tenant_id: caller.tenant_id, host_id: id };
    Ok(Json(messages::request(&shared.nats, collector::HOST_CONTAINERS, &request).await?))
}

#[utoipa::path(
    get,
    path = "/hosts/{id}/services",
    tag = "inventory",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses((status = 200, description = "the services of the host's latest snapshot", body = Vec<ServiceRecord>)),
)]
pub(crate) async fn host_services(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ServiceRecord>>, ApiError> {
    host_id_from_path(&id)?;
    let request: HostServices = messages::GetHost { tenant_id: caller.tenant_id, host_id: id };
    Ok(Json(messages::request(&shared.nats, collector::HOST_SERVICES, &request).await?))
}

#[utoipa::path(
    get,
    path = "/containers",
    tag = "inventory",
    responses((status = 200, description = "the containers of every host of the tenant", body = Vec<ContainerRecord>)),
)]
pub(crate) async fn list_containers(
    State(shared): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ContainerRecord>>, ApiError> {
    let request: ListContainers = messages::ListHosts { tenant_id: caller.tenant_id };
    Ok(Json(messages::request(&shared.nats, collector::LIST_CONTAINERS, &request).await?))
}

#[utoipa::path(
    get,
    path = "/containers/{id}",
    tag = "inventory",
    params(
        ("id" = String, Path, description = "container id: <host_id>:<container name>", pattern = "^[A-Za-z0-9_-]{1,50}:[A-Za-z0-9_.-]{1,100}$"),
    ),
    responses((status = 200, description = "the container in its host's latest snapshot", body = ContainerRecord)),
)]
pub(crate) async fn get_container(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ContainerRecord>, ApiError> {
    let id = container_id_from_path(&id)?;
    let request =
        GetContainer { tenant_id: caller.tenant_id, host_id: id.host_id().to_owned(), container_name: id.name().to_owned() };
    Ok(Json(messages::request(&shared.nats, collector::GET_CONTAINER, &request).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ContainerMetricsAnswer {
    id: String,
    host_id: String,
    name: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: Vec<ContainerPoint>,
}

#[utoipa::path(
    get,
    path = "/containers/{id}/metrics",
    tag = "inventory",
    params(
        ("id" = String, Path, description = "container id: <host_id>:<container name>", pattern = "^[A-Za-z0-9_-]{1,50}:[A-Za-z0-9_.-]{1,100}$"),
        crate::rest::WindowQuery,
    ),
    responses((status = 200, description = "the container's points in the window, oldest first", body = ContainerMetricsAnswer)),
)]
pub(crate) async fn container_metrics(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> Result<Json<ContainerMetricsAnswer>, ApiError> {
    let id = container_id_from_path(&id)?;
    let (from, to, limit) = metrics_window(&query, Utc::now())?;
    let range = ContainerRange {
        tenant_id: caller.tenant_id,
        host_id: id.host_id().to_owned(),
        container_name: id.name().to_owned(),
        from,
        to,
        limit,
    };
    let points: Vec<ContainerPoint> = messages::request(&shared.nats, collector::CONTAINER_RANGE, &range).await?;
    Ok(Json(ContainerMetricsAnswer {
        id: id.to_string(),
        host_id: id.host_id().to_owned(),
        name: id.name().to_owned(),
        from,
        to,
        points,
    }))
}

/// `from`, `to`, `limit` as for host metrics, plus an optional metric name.
#[derive(Deserialize)]
pub(crate) struct CustomQuery {
    #[serde(flatten)]
    window: MetricsQuery,
    name: Option<String>,
}

#[utoipa::path(
    get,
    path = "/hosts/{id}/custom",
    tag = "inventory",
    params(
        ("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$"),
        crate::rest::WindowQuery,
        ("name" = Option<String>, Query, description = "only this custom metric's points"),
    ),
    responses((status = 200, description = "custom metric points in the window, oldest first", body = Vec<CustomPoint>)),
)]
pub(crate) async fn host_custom(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<CustomQuery>,
) -> Result<Json<Vec<CustomPoint>>, ApiError> {
    host_id_from_path(&id)?;
    let (from, to, limit) = metrics_window(&query.window, Utc::now())?;
    let range = CustomRange { tenant_id: caller.tenant_id, host_id: id, name: query.name, from, to, limit };
    Ok(Json(messages::request(&shared.nats, collector::CUSTOM_RANGE, &range).await?))
}

#[utoipa::path(
    get,
    path = "/hosts/{id}/custom/latest",
    tag = "inventory",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses((status = 200, description = "the newest point of each custom metric", body = Vec<CustomPoint>)),
)]
pub(crate) async fn host_custom_latest(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<CustomPoint>>, ApiError> {
    host_id_from_path(&id)?;
    let request: CustomLatest = messages::GetHost { tenant_id: caller.tenant_id, host_id: id };
    Ok(Json(messages::request(&shared.nats, collector::CUSTOM_LATEST, &request).await?))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn custom_query(query: &str) -> Result<CustomQuery, axum::extract::rejection::QueryRejection> {
        let uri: axum::http::Uri = format!("/api/hosts/h/custom?{query}").parse().unwrap();
        axum::extract::Query::try_from_uri(&uri).map(|axum::extract::Query(q)| q)
    }

    #[test]
    fn custom_query_reads_the_metrics_window_and_a_name() {
        let query = custom_query("from=1700000000&to=1700000060&name=queue_depth&limit=5").unwrap();
        assert_eq!(query.name.as_deref(), Some("queue_depth"));
        let (from, to, limit) = metrics_window(&query.window, Utc::now()).unwrap();
        assert_eq!((from.timestamp(), to.timestamp(), limit), (1_700_000_000, 1_700_000_060, 5));

        let query = custom_query("").unwrap();
        assert_eq!(query.name, None);
        let now = Utc::now();
        let (from, to, _) = metrics_window(&query.window, now).unwrap();
        assert_eq!((to, to - from), (now, chrono::Duration::hours(1)));
    }

    #[test]
    fn container_ids_outside_the_format_are_a_400_naming_the_value() {
        for bad in ["web", "host-1:a/b", "host.1:web", "host-1:"] {
            let error = container_id_from_path(bad).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(error.message.contains(&format!("{bad:?}")), "{bad}: {}", error.message);
        }
        assert_eq!(container_id_from_path("host-1:web.1").unwrap().to_string(), "host-1:web.1");
    }
}
