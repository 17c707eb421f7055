//! The alerter's operational metrics, in the process-wide registry of
//! `vigil_runtime::metrics` (served at the gateway's `/metrics`): delivery
//! attempts by channel kind and result, snapshots evaluated. No tenant data
//! in any label.

use std::sync::OnceLock;

use vigil_runtime::metrics::prometheus_client::metrics::counter::Counter;
use vigil_runtime::metrics::prometheus_client::metrics::family::Family;

pub(crate) struct AlerterMetrics {
    /// Delivery attempts that the receiver accepted, by channel kind (`bus`: alert events).
    pub sent: Family<[(&'static str, String); 1], Counter>,
    /// Delivery attempts that failed (retried or given up), by channel kind.
    pub failed: Family<[(&'static str, String); 1], Counter>,
    pub evaluations: Counter,
}

/// Registered at the alerter's first build.
pub(crate) fn metrics() -> &'static AlerterMetrics {
    static CELL: OnceLock<AlerterMetrics> = OnceLock::new();
    vigil_runtime::metrics::registered(&CELL, |registry| {
        let metrics = AlerterMetrics { sent: Family::default(), failed: Family::default(), evaluations: Counter::default() };
        registry.register(
            "alerter_notifications_sent",
            "Notifications delivered, by channel kind (bus: alert events on ALERTS)",
            metrics.sent.clone(),
        );
        registry.register(
            "alerter_notifications_failed",
            "Delivery attempts that failed (then retried or given up), by channel kind",
            metrics.failed.clone(),
        );
        registry.register("alerter_evaluations", "Snapshots evaluated against the tenants' rules", metrics.evaluations.clone());
        metrics
    })
}

/// Counts one delivery attempt of a `kind` channel.
pub(crate) fn delivered(kind: &str, ok: bool) {
    let labels = [("kind", kind.to_owned())];
    if ok {
        metrics().sent.get_or_create(&labels).inc();
    } else {
        metrics().failed.get_or_create(&labels).inc();
    }
}
