//! The orchestrator's operational metrics, in the process-wide registry of
//! `vigil_runtime::metrics` (served at the gateway's `/metrics`): scenario
//! runs by outcome. No tenant data in any label.

use std::sync::OnceLock;

use vigil_runtime::metrics::prometheus_client::metrics::counter::Counter;
use vigil_runtime::metrics::prometheus_client::metrics::family::Family;

pub(crate) struct OrchestratorMetrics {
    pub runs: Family<[(&'static str, String); 1], Counter>,
}

/// Registered at the orchestrator's first build.
pub(crate) fn metrics() -> &'static OrchestratorMetrics {
    static CELL: OnceLock<OrchestratorMetrics> = OnceLock::new();
    vigil_runtime::metrics::registered(&CELL, |registry| {
        let metrics = OrchestratorMetrics { runs: Family::default() };
        registry.register("orchestrator_runs_finished", "Scenario runs that ended, by outcome", metrics.runs.clone());
        metrics
    })
}

/// Counts a run that ended with `outcome` (committed).
pub(crate) fn run_finished(outcome: &str) {
    metrics().runs.get_or_create(&[("outcome", outcome.to_owned())]).inc();
}
