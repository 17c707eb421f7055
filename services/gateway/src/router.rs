//! The gateway's one HTTP router: every route and every layer, listed here.
//!
//! Invariants: every `/api` route has the same body limit
//! ([`rest::BODY_LIMIT`], 1 MiB; over it a 413 in the API's error shape) and
//! the same trace layer; an unknown `/api` path is a JSON 404, never the
//! dashboard; everything else falls back to the embedded dashboard.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::{actions, alerts, downloads, inventory, live, rest, scenarios, users, web, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/auth/login", post(rest::login))
        .route("/auth/refresh", post(rest::refresh))
        .route("/auth/logout", post(rest::logout))
        .route("/health", get(rest::health))
        .route("/hosts", get(rest::list_hosts))
        .route("/hosts/{id}", get(rest::get_host))
        .route("/hosts/{id}/metrics", get(rest::host_metrics))
        .route("/hosts/{id}/metrics/hourly", get(rest::host_metrics_hourly))
        .route("/hosts/{id}/containers", get(inventory::host_containers))
        .route("/hosts/{id}/services", get(inventory::host_services))
        .route("/hosts/{id}/custom", get(inventory::host_custom))
        .route("/hosts/{id}/custom/latest", get(inventory::host_custom_latest))
        .route("/containers", get(inventory::list_containers))
        .route("/containers/{id}", get(inventory::get_container))
        .route("/containers/{id}/metrics", get(inventory::container_metrics))
        .route("/hosts/{id}/action", post(actions::host_action))
        .route("/containers/{id}/action", post(actions::container_action))
        .route("/actions", get(actions::list_actions))
        .route("/actions/{id}", get(actions::get_action))
        .route("/scenarios", get(scenarios::list_scenarios).post(scenarios::create_scenario))
        .route("/scenarios/runs", get(scenarios::list_runs))
        .route("/scenarios/runs/{id}", get(scenarios::get_run))
        .route("/scenarios/{id}", get(scenarios::get_scenario).put(scenarios::update_scenario).delete(scenarios::delete_scenario))
        .route("/scenarios/{id}/run", post(scenarios::run_scenario))
        .route("/config/scenarios", get(scenarios::get_settings).put(scenarios::put_settings))
        .route("/tokens", get(rest::list_tokens).post(rest::create_token))
        .route("/tokens/{id}", delete(rest::revoke_token))
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users/{id}", patch(users::update_user).delete(users::delete_user))
        .route("/alerts", get(alerts::list_alerts))
        .route("/alerts/history", get(alerts::history))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/rules", get(alerts::list_rules).post(alerts::create_rule))
        .route("/alerts/rules/validate", post(alerts::validate_rule))
        .route("/alerts/rules/preview", post(alerts::preview_rule))
        .route("/alerts/rules/{id}", put(alerts::update_rule).delete(alerts::delete_rule))
        .route("/alerts/silences", get(alerts::list_silences).post(alerts::create_silence))
        .route("/alerts/silences/{id}", put(alerts::update_silence).delete(alerts::delete_silence))
        .route("/alerts/maintenance", get(alerts::list_maintenance).post(alerts::create_maintenance))
        .route("/alerts/maintenance/{id}", put(alerts::update_maintenance).delete(alerts::delete_maintenance))
        .route("/config/notifications", get(alerts::list_channels).put(alerts::put_channels))
        .route("/config/notifications/{id}/test", post(alerts::test_channel))
        .fallback(rest::api_not_found)
        .layer(DefaultBodyLimit::max(rest::BODY_LIMIT));
    Router::new()
        .nest("/api", api)
        .route("/ws", get(live::upgrade))
        .with_state(shared.clone())
        .merge(downloads::router(&shared.config))
        .fallback(web::serve)
        .layer(TraceLayer::new_for_http())
}
