//! The alerter's section of the configuration (`alerter:` in the `vigil`
//! file): its defaults are written once, in [`Default`].

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlerterConfig {
    /// Most snapshots evaluated in one transaction.
    #[serde(deserialize_with = "vigil_runtime::config::positive_usize")]
    pub batch_size: usize,
    /// When no snapshot is waiting, how long before looking again.
    #[serde(with = "vigil_bus::duration::serde_text")]
    pub batch_wait: Duration,
    /// After a batch smaller than `batch_size`, how long snapshots gather
    /// before the next one: fewer transactions for this much latency.
    #[serde(with = "vigil_bus::duration::serde_text")]
    pub batch_linger: Duration,
    /// Snapshots collected longer ago than this are not evaluated (a backlog
    /// replayed after an outage would notify about the past).
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub max_snapshot_age: Duration,
    /// A firing container, service or mount instance missing from the
    /// host's snapshots for this long is resolved.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub disappear_grace: Duration,
    /// How often a firing, unacknowledged alert is notified again, for
    /// rules that do not say.
    #[serde(with = "vigil_bus::duration::serde_text")]
    pub repeat_interval: Duration,
    /// How often held notifications (silences ended), repeats and
    /// event-driven durations are looked at.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub sweep_interval: Duration,
    /// Notifications sent at once by one alerter.
    #[serde(deserialize_with = "vigil_runtime::config::positive_usize")]
    pub delivery_concurrency: usize,
    /// Attempts before a notification is given up (recorded as failed).
    pub max_attempts: u32,
    /// The dashboard's public address, for links in notifications
    /// (e.g. `https://vigil.example.com`); empty: no links.
    pub public_url: String,
}

impl AlerterConfig {
    /// `public_url`, when set.
    pub fn dashboard_url(&self) -> Option<&str> {
        Some(self.public_url.as_str()).filter(|url| !url.is_empty())
    }
}

impl Default for AlerterConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            batch_wait: Duration::from_millis(100),
            batch_linger: Duration::from_millis(100),
            max_snapshot_age: Duration::from_secs(15 * 60),
            disappear_grace: Duration::from_secs(60),
            repeat_interval: Duration::from_secs(4 * 3600),
            sweep_interval: Duration::from_secs(1),
            delivery_concurrency: 8,
            max_attempts: 10,
            public_url: String::new(),
        }
    }
}
