//! The orchestrator's section of the configuration (`orchestrator:` in the
//! `vigil` file): its defaults are written once, in [`Default`].

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrchestratorConfig {
    /// When no fired alert is waiting, how long before looking again.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub batch_wait: Duration,
    /// How often cron schedules are looked at, and runs whose orchestrator
    /// died are looked for (at most a third of `run_lease`).
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub tick_interval: Duration,
    /// Most steps one scenario holds, its `on_fail` steps included.
    #[serde(deserialize_with = "vigil_runtime::config::positive_usize")]
    pub max_run_steps: usize,
    /// How long a run is left to the orchestrator driving it without news
    /// (renewed every third of it): after that another one resumes it.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub run_lease: Duration,
    /// Runs one orchestrator drives at once (others wait for a free slot or
    /// another orchestrator).
    #[serde(deserialize_with = "vigil_runtime::config::positive_usize")]
    pub max_concurrent_runs: usize,
    /// How often a step waiting for an action's result or an alert's
    /// resolution looks again.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub poll_interval: Duration,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            batch_wait: Duration::from_millis(50),
            tick_interval: Duration::from_secs(1),
            max_run_steps: 50,
            run_lease: Duration::from_secs(15),
            max_concurrent_runs: 64,
            poll_interval: Duration::from_millis(250),
        }
    }
}
