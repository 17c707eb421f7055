//! The gateway's one HTTP router: every route and every layer, listed here.
//!
//! Invariants: every `/api` route has the same body limit
//! ([`rest::BODY_LIMIT`], 1 MiB; over it a 413 in the API's error shape) and
//! the same trace layer; an unknown `/api` path is a JSON 404, never the
//! dashboard; everything else falls back to the embedded dashboard.
//!
//! **Every `/api` route is described** in `/api/openapi.json` ([`openapi`]):
//! an API route is added only with `.routes(routes!(handler))`, the handler
//! carrying its `#[utoipa::path]`, so the route and its description come
//! from the same line. One `routes!` takes the handlers of one path. A plain
//! `.route` under `/api` fails `every_api_route_is_described` below.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Extension, Router};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{
    actions, alerts, downloads, history, integrators, inventory, live, openapi, prometheus, rest, scenarios, scrape_tokens,
    telemetry, tenant, users, web, GatewayConfig, Shared,
};

type AppState = Arc<Shared>;

/// The routes under `/api`, each with its description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rest::login))
        .routes(routes!(rest::refresh))
        .routes(routes!(rest::logout))
        .routes(routes!(rest::health))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(openapi::docs_page))
        .routes(routes!(rest::list_hosts))
        .routes(routes!(rest::get_host))
        .routes(routes!(rest::host_metrics))
        .routes(routes!(rest::host_metrics_hourly))
        .routes(routes!(history::host_metrics_daily))
        .routes(routes!(history::overview))
        .routes(routes!(history::history))
        .routes(routes!(tenant::get_tenant, tenant::put_tenant))
        .routes(routes!(inventory::host_containers))
        .routes(routes!(inventory::host_services))
        .routes(routes!(inventory::host_custom))
        .routes(routes!(inventory::host_custom_latest))
        .routes(routes!(inventory::list_containers))
        .routes(routes!(inventory::get_container))
        .routes(routes!(inventory::container_metrics))
        .routes(routes!(actions::host_action))
        .routes(routes!(actions::container_action))
        .routes(routes!(actions::list_actions))
        .routes(routes!(actions::get_action))
        .routes(routes!(scenarios::list_scenarios, scenarios::create_scenario))
        .routes(routes!(scenarios::list_runs))
        .routes(routes!(scenarios::get_run))
        .routes(routes!(scenarios::get_scenario, scenarios::update_scenario, scenarios::delete_scenario))
        .routes(routes!(scenarios::run_scenario))
        .routes(routes!(scenarios::get_settings, scenarios::put_settings))
        .routes(routes!(rest::list_tokens, rest::create_token))
        .routes(routes!(rest::revoke_token))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user, users::delete_user))
        .routes(routes!(integrators::list_integrators, integrators::create_integrator))
        .routes(routes!(integrators::revoke_integrator))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::history))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::list_rules, alerts::create_rule))
        .routes(routes!(alerts::validate_rule))
        .routes(routes!(alerts::preview_rule))
        .routes(routes!(alerts::update_rule, alerts::delete_rule))
        .routes(routes!(alerts::list_silences, alerts::create_silence))
        .routes(routes!(alerts::update_silence, alerts::delete_silence))
        .routes(routes!(alerts::list_maintenance, alerts::create_maintenance))
        .routes(routes!(alerts::update_maintenance, alerts::delete_maintenance))
        .routes(routes!(alerts::list_channels, alerts::put_channels))
        .routes(routes!(alerts::test_channel))
        .routes(routes!(scrape_tokens::list, scrape_tokens::create))
        .routes(routes!(scrape_tokens::revoke))
        .routes(routes!(prometheus::exposition))
        .fallback(rest::api_not_found)
        .layer(DefaultBodyLimit::max(rest::BODY_LIMIT))
}

/// Every route and layer, before the state is given; the description the
/// router serves at `/api/openapi.json`.
fn routes(config: &GatewayConfig) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, description) = OpenApiRouter::with_openapi(openapi::base()).nest("/api", api()).split_for_parts();
    let description = openapi::finish(description);
    let router = api
        .layer(axum::middleware::from_fn(telemetry::track_request))
        .layer(Extension(openapi::Description::new(&description)))
        .route("/ws", get(live::upgrade))
        .route("/metrics", get(telemetry::serve))
        .merge(downloads::router(config).with_state(()))
        .fallback(web::serve)
        .layer(TraceLayer::new_for_http());
    (router, description)
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let (router, _) = routes(&shared.config);
    router.with_state(shared)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::TlsMaterial;

    const METHODS: [&str; 9] = ["get", "head", "delete", "options", "patch", "post", "put", "trace", "connect"];

    /// The (path, method) pairs a router serves. axum lists no routes, but its
    /// `Debug` shows each route's id, path and method endpoints
    /// (`RouteId(3): "/api/hosts"`, `RouteId(3): MethodRouter(MethodRouter {
    /// get: BoxedHandler, head: None, ...`); a route that is a whole service
    /// (`Route(Route)`) serves every method and is listed as `ANY`.
    fn served(router: &Router<AppState>) -> BTreeSet<(String, String)> {
        let text = format!("{router:?}");
        let text = &text[..text.find("fallback_router:").expect("axum's Router debug names its fallback_router")];
        let mut paths = std::collections::HashMap::new();
        let mut methods: std::collections::HashMap<&str, Vec<String>> = std::collections::HashMap::new();
        for entry in text.split("RouteId(").skip(1) {
            let Some((id, rest)) = entry.split_once("): ") else { continue };
            if let Some(path) = rest.strip_prefix('"') {
                paths.insert(id, path[..path.find('"').expect("a quoted path")].to_owned());
            } else if let Some(fields) = rest.strip_prefix("MethodRouter(MethodRouter { ") {
                let served = METHODS
                    .iter()
                    .filter(|method| {
                        let field = format!("{method}: ");
                        let value = fields.split(", ").find_map(|part| part.strip_prefix(field.as_str()));
                        !matches!(value.expect("each method of a MethodRouter"), "None")
                    })
                    .map(|method| method.to_uppercase())
                    .collect();
                methods.insert(id, served);
            } else {
                methods.insert(id, vec!["ANY".to_owned()]);
            }
        }
        let mut served = BTreeSet::new();
        for (id, path) in paths {
            for method in methods.get(id).unwrap_or_else(|| panic!("route {path} has no endpoint in the router's debug")) {
                served.insert((path.clone(), method.clone()));
            }
        }
        served
    }

    fn described(openapi: &utoipa::openapi::OpenApi) -> BTreeSet<(String, String)> {
        let json = serde_json::to_value(openapi).unwrap();
        let mut described = BTreeSet::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    described.insert((path.clone(), method.to_uppercase()));
                }
            }
        }
        described
    }

    fn config() -> GatewayConfig {
        GatewayConfig::new(b"test-secret".to_vec(), TlsMaterial { cert_chain_pem: String::new(), private_key_pem: String::new() })
    }

    #[test]
    fn every_api_route_is_described() {
        let (router, description) = routes(&config());
        let served = served(&router);
        // the parser still reads axum's debug output: the routes outside /api are there too
        assert!(served.contains(&("/ws".to_owned(), "GET".to_owned())), "{served:?}");
        assert!(served.contains(&("/api/hosts/{id}".to_owned(), "GET".to_owned())), "{served:?}");
        let served: BTreeSet<_> = served.into_iter().filter(|(path, _)| path.starts_with("/api/")).collect();
        let described = described(&description);
        let undescribed: Vec<_> = served.difference(&described).collect();
        assert!(
            undescribed.is_empty(),
            "routes served under /api but missing from /api/openapi.json (add them with .routes(routes!(handler)) \
             and a #[utoipa::path] on the handler): {undescribed:?}"
        );
        let unserved: Vec<_> = described.difference(&served).collect();
        assert!(unserved.is_empty(), "routes described but not served: {unserved:?}");
    }

    #[test]
    fn a_plain_route_under_api_is_seen_as_undescribed() {
        let (router, description) = routes(&config());
        let router = router.route("/api/undescribed", get(|| async { "" }));
        let served = served(&router);
        assert!(served.contains(&("/api/undescribed".to_owned(), "GET".to_owned())));
        assert!(!described(&description).contains(&("/api/undescribed".to_owned(), "GET".to_owned())));
    }

    #[test]
    fn the_description_is_openapi_3_1_with_the_error_shape_on_every_operation() {
        let (_, description) = routes(&config());
        let json = serde_json::to_value(&description).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"), "{}", json["openapi"]);
        assert_eq!(json["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert_eq!(json["components"]["schemas"]["Error"]["required"], serde_json::json!(["error"]));
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let answers = operation["responses"].as_object().unwrap();
                assert!(answers.keys().any(|status| status.starts_with('2')), "{method} {path} has no success answer");
                let internal = &answers["500"]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(internal, "#/components/schemas/Error", "{method} {path}");
            }
        }
    }
}
