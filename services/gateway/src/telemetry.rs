//! The gateway's own operational metrics (registered in the process-wide
//! registry of `vigil_runtime::metrics`) and `GET /metrics`, which serves
//! that registry: the gateway's metrics and those of every other service
//! running in the same process (all of them under `vigil up`).
//!
//! `/metrics` needs no credential: it holds no tenant data (no tenant, host
//! or user in any name or label; REST routes are labelled by their template,
//! `/api/hosts/{id}`), like the `/metrics` of most servers. Where the HTTP
//! port is public, a proxy in front keeps `/metrics` to the monitoring
//! network (docs/grafana.md).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vigil_runtime::metrics::prometheus_client::metrics::counter::Counter;
use vigil_runtime::metrics::prometheus_client::metrics::family::Family;
use vigil_runtime::metrics::prometheus_client::metrics::gauge::Gauge;
use vigil_runtime::metrics::prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use vigil_runtime::metrics::prometheus_client::registry::Unit;

/// Labels of a REST request: its route template, method and status.
type RequestLabels = [(&'static str, String); 3];

pub(crate) struct GatewayMetrics {
    pub snapshots_received: Counter,
    pub snapshots_accepted: Counter,
    pub snapshots_refused: Counter,
    pub requests: Family<RequestLabels, Histogram>,
    pub websocket_clients: Gauge,
    pub agents_connected: Gauge,
}

/// The gateway's metrics, registered at the first call (its first build).
pub(crate) fn metrics() -> &'static GatewayMetrics {
    static CELL: OnceLock<GatewayMetrics> = OnceLock::new();
    vigil_runtime::metrics::registered(&CELL, |registry| {
        let metrics = GatewayMetrics {
            snapshots_received: Counter::default(),
            snapshots_accepted: Counter::default(),
            snapshots_refused: Counter::default(),
            // 1 ms to ~16 s
            requests: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15))),
            websocket_clients: Gauge::default(),
            agents_connected: Gauge::default(),
        };
        registry.register("gateway_snapshots_received", "Snapshots agents sent", metrics.snapshots_received.clone());
        registry.register(
            "gateway_snapshots_accepted",
            "Snapshots stored in JetStream and acknowledged to their agent",
            metrics.snapshots_accepted.clone(),
        );
        registry.register(
            "gateway_snapshots_refused",
            "Snapshots refused for good (too large, clock skew, wrong agent id)",
            metrics.snapshots_refused.clone(),
        );
        registry.register_with_unit(
            "gateway_http_request_duration",
            "REST requests by route template, method and status",
            Unit::Seconds,
            metrics.requests.clone(),
        );
        registry.register("gateway_websocket_clients", "Dashboards connected over WebSocket", metrics.websocket_clients.clone());
        registry.register("gateway_agents_connected", "Agent streams this gateway holds", metrics.agents_connected.clone());
        metrics
    })
}

/// Middleware of the `/api` routes: times each request under its route
/// template (`unmatched` for the JSON 404), never its concrete path.
pub(crate) async fn track_request(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [("route", route), ("method", method), ("status", response.status().as_u16().to_string())];
    metrics().requests.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: the process's registry, OpenMetrics when asked for
/// (Prometheus does), else the classic text format.
pub(crate) async fn serve(headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (text, content_type) = vigil_runtime::metrics::encode(vigil_runtime::metrics::wants_openmetrics(accept));
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Serves `GET /metrics` alone on `listener` until `shutdown` (the
/// `metrics.listen` of a `vigil run` process; the gateway serves its own on
/// its HTTP port).
pub async fn serve_metrics(listener: tokio::net::TcpListener, shutdown: vigil_runtime::CancellationToken) {
    let router = axum::Router::new().route("/metrics", axum::routing::get(serve));
    if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::error!(error = %error, "the metrics listener failed");
    }
}
