//! The actioner's section of the configuration (`actioner:` in the `vigil`
//! file): its defaults are written once, in [`Default`].

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionerConfig {
    /// How long an order waits for an offline agent before it is expired
    /// (requests may ask for less or more, up to `max_ttl`).
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub ttl: Duration,
    /// Longest TTL a request may ask for.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub max_ttl: Duration,
    /// After how long the agent kills an action (requests may say, up to `max_timeout`).
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub timeout: Duration,
    /// Longest timeout a request may ask for.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub max_timeout: Duration,
    /// The Ed25519 key orders are signed with (PKCS#8 PEM, generated when
    /// absent). `vigil` fills in `data_dir/actions.key` when empty.
    pub signing_key_file: String,
    /// When no dispatch or result is waiting, how long before looking again.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub batch_wait: Duration,
    /// How often orders past their TTL are marked expired.
    #[serde(with = "vigil_runtime::config::positive_duration")]
    pub sweep_interval: Duration,
    /// How long past its `expires_at` a pending order is left before it is
    /// marked expired (an agent whose clock lags may just have started it).
    #[serde(with = "vigil_bus::duration::serde_text")]
    pub expiry_grace: Duration,
}

impl Default for ActionerConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5 * 60),
            max_ttl: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(3600),
            signing_key_file: String::new(),
            batch_wait: Duration::from_millis(20),
            sweep_interval: Duration::from_secs(1),
            expiry_grace: Duration::from_secs(5),
        }
    }
}
