//! The actioner's operational metrics, in the process-wide registry of
//! `vigil_runtime::metrics` (served at the gateway's `/metrics`): actions by
//! final status. No tenant data in any label.

use std::sync::OnceLock;

use vigil_runtime::metrics::prometheus_client::metrics::counter::Counter;
use vigil_runtime::metrics::prometheus_client::metrics::family::Family;

pub(crate) struct ActionerMetrics {
    pub finished: Family<[(&'static str, String); 1], Counter>,
}

/// Registered at the actioner's first build.
pub(crate) fn metrics() -> &'static ActionerMetrics {
    static CELL: OnceLock<ActionerMetrics> = OnceLock::new();
    vigil_runtime::metrics::registered(&CELL, |registry| {
        let metrics = ActionerMetrics { finished: Family::default() };
        registry.register(
            "actioner_actions_finished",
            "Actions that reached a final status (success, failed, denied, timeout, expired...)",
            metrics.finished.clone(),
        );
        metrics
    })
}
