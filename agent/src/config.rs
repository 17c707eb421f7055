//! The agent's configuration file (`/etc/sovigilant/config.yaml`).
//!
//! The YAML is the seed's §3.3 shape plus keys of our own: `state_dir`
//! (host id, sequence counter, on-disk queue, status file, pinned release
//! key), `buffer.max_snapshots` (bound of the on-disk queue),
//! `server.http_url` (the gateway's HTTP side, where `sovigilant update`
//! downloads builds; default `http://<server host>:8080`) and
//! `collection.host.max_mounts` / `max_interfaces` (entries listed one by
//! one before the rest is summed into `(other)`, so a snapshot stays small;
//! see `docs/agent-snapshot-size.md`), and in `actions` (remote actions,
//! `docs/actions.md`) `timeout`, `service_manager` and `max_concurrent`
//! besides the seed's `enabled`, `allowed` and `denied`.
//!
//! The file's shape is typed once, as the serde model [`ConfigFile`]: what
//! is read, what `sovigilant init` writes ([`init_file`]) and what `vigil up`
//! writes and updates for its local agent. Parsing is done in two steps:
//! serde reads the text into a [`ConfigFile`] (`deny_unknown_fields`
//! everywhere, so a typo is an error, never ignored; serde_yaml's errors name
//! the key path), then [`Config::from_file`] checks every value and builds
//! the typed [`Config`]. Invariant: every error names the file, the key path
//! and the value, and says what is expected.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the config is read from when neither `--config` nor
/// `SOVIGILANT_CONFIG` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sovigilant/config.yaml";
/// Default `state_dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sovigilant";
/// Default `buffer.max_snapshots`: 24 h at the default 10 s interval.
pub const DEFAULT_MAX_SNAPSHOTS: usize = 8640;
/// Default `collection.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default `collection.host.max_mounts`: mounts listed one by one; the rest
/// are summed into one `(other)` entry (see [`crate::host::bound_mounts`]).
pub const DEFAULT_MAX_MOUNTS: usize = 32;
/// Default `collection.host.max_interfaces`: interfaces listed one by one;
/// the rest are summed into one `(other)` entry (see
/// [`crate::host::bound_interfaces`]).
pub const DEFAULT_MAX_INTERFACES: usize = 32;
/// Largest value of `collection.host.max_mounts` and `max_interfaces`: even
/// then the host section stays well below [`vigil_proto::MAX_MESSAGE_BYTES`]
/// for ordinary paths (and the snapshot cap of [`crate::collect`] handles the rest).
pub const MAX_HOST_ENTRIES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config file: {source}; create it with `sovigilant init --server HOST:PORT --token TOKEN` or point --config / SOVIGILANT_CONFIG at it")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: {key}: {reason}")]
    Invalid { file: PathBuf, key: String, reason: String },
}

/// One entry of `collection.host.metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostMetric {
    Cpu,
    Memory,
    Disk,
    Network,
    Load,
    Uptime,
}

impl HostMetric {
    pub const ALL: [HostMetric; 6] = [Self::Cpu, Self::Memory, Self::Disk, Self::Network, Self::Load, Self::Uptime];

    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Disk => "disk",
            Self::Network => "network",
            Self::Load => "load",
            Self::Uptime => "uptime",
        }
    }
}

/// One entry of `collection.containers.metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContainerMetric {
    Cpu,
    Memory,
    Disk,
    Network,
    Status,
}

impl ContainerMetric {
    pub const ALL: [ContainerMetric; 5] = [Self::Cpu, Self::Memory, Self::Disk, Self::Network, Self::Status];

    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Disk => "disk",
            Self::Network => "network",
            Self::Status => "status",
        }
    }
}

/// `collection.containers.runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Auto,
    Docker,
    Podman,
    Incus,
}

/// `collection.custom_metrics[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
}

impl MetricType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Counter => "counter",
        }
    }
}

/// `logging.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from (for messages).
    pub file: PathBuf,
    pub agent: AgentConfig,
    pub server: ServerConfig,
    pub collection: CollectionConfig,
    pub logging: LoggingConfig,
    pub actions: ActionsConfig,
    pub state_dir: PathBuf,
    pub buffer: BufferConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// `None` for `auto`: the server chooses the host id.
    pub id: Option<String>,
    /// Display name, `{{hostname}}` already replaced.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `host:port` as written.
    pub address: String,
    pub host: String,
    pub port: u16,
    pub token: String,
    pub tls: TlsConfig,
    /// `server.http_url`: the gateway's HTTP base URL (`http://host:port`,
    /// no trailing `/`), where `update` fetches builds.
    pub http_url: String,
}

/// Port of the gateway's HTTP side when `server.http_url` is not set.
pub const DEFAULT_HTTP_PORT: u16 = 8080;

#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM file with the CA that signed the gateway's certificate; `None`:
    /// the system's roots.
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectionConfig {
    pub interval: Duration,
    pub host: HostCollection,
    pub containers: ContainersConfig,
    pub services: ServicesConfig,
    pub custom_metrics: Vec<CustomMetricConfig>,
}

impl Default for CollectionConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            host: HostCollection {
                enabled: true,
                metrics: HostMetric::ALL.into_iter().collect(),
                max_mounts: DEFAULT_MAX_MOUNTS,
                max_interfaces: DEFAULT_MAX_INTERFACES,
            },
            // containers and services are collected unless the file says
            // otherwise, as the seed's config shows them
            containers: ContainersConfig {
                enabled: true,
                runtime: Runtime::Auto,
                metrics: ContainerMetric::ALL.into_iter().collect(),
                docker_socket: None,
                podman_socket: None,
                incus_socket: None,
            },
            services: ServicesConfig { enabled: true, discover: true, watch: Vec::new(), custom: Vec::new() },
            custom_metrics: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostCollection {
    pub enabled: bool,
    pub metrics: BTreeSet<HostMetric>,
    /// `collection.host.max_mounts`: mounts reported one by one (1..=4096).
    pub max_mounts: usize,
    /// `collection.host.max_interfaces`: interfaces reported one by one (1..=4096).
    pub max_interfaces: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainersConfig {
    pub enabled: bool,
    pub runtime: Runtime,
    pub metrics: BTreeSet<ContainerMetric>,
    /// `collection.containers.docker_socket`; `None`: `/var/run/docker.sock`.
    pub docker_socket: Option<PathBuf>,
    /// `collection.containers.podman_socket`; `None`: `/run/podman/podman.sock`
    /// and `$XDG_RUNTIME_DIR/podman/podman.sock`.
    pub podman_socket: Option<PathBuf>,
    /// `collection.containers.incus_socket`; `None`: `/var/lib/incus/unix.socket`.
    pub incus_socket: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServicesConfig {
    pub enabled: bool,
    pub discover: bool,
    pub watch: Vec<String>,
    pub custom: Vec<CustomService>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomService {
    pub name: String,
    pub check: String,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomMetricConfig {
    pub name: String,
    pub command: String,
    pub kind: MetricType,
    pub interval: Duration,
    /// The command is killed after this long (`timeout`, default 5s, or half
    /// the interval when the interval is 5s or less); always < `interval`.
    pub timeout: Duration,
}

/// Default `collection.custom_metrics[].timeout`.
pub const DEFAULT_CUSTOM_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    pub level: LogLevel,
    /// `None`: stderr.
    pub output: Option<PathBuf>,
    /// Bytes a log file may reach before it is rotated.
    pub max_size: u64,
    /// Rotated files kept besides the current one.
    pub max_files: u32,
}

/// `actions`: remote actions (docs/actions.md).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionsConfig {
    /// `actions.enabled` (default false): every action is refused when off.
    pub enabled: bool,
    /// Globs matched against the canonical command line; one must match.
    pub allowed: Vec<String>,
    /// Globs that refuse what they match, before `allowed` is looked at.
    pub denied: Vec<String>,
    /// `actions.timeout` (default [`DEFAULT_ACTION_TIMEOUT`]): used when an
    /// order says 0; at most [`MAX_ACTION_TIMEOUT`].
    pub timeout: Duration,
    /// `actions.service_manager`; `None` for `auto` (detected when used).
    pub service_manager: Option<crate::actions::ServiceManager>,
    /// `actions.max_concurrent` (default [`DEFAULT_MAX_CONCURRENT_ACTIONS`]):
    /// actions running at once; the others wait their turn.
    pub max_concurrent: usize,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allowed: Vec::new(),
            denied: Vec::new(),
            timeout: DEFAULT_ACTION_TIMEOUT,
            service_manager: None,
            max_concurrent: DEFAULT_MAX_CONCURRENT_ACTIONS,
        }
    }
}

/// Default `actions.timeout`.
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest `actions.timeout`, and cap of an order's `timeout_seconds`.
pub const MAX_ACTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default `actions.max_concurrent`.
pub const DEFAULT_MAX_CONCURRENT_ACTIONS: usize = 4;
/// Largest `actions.max_concurrent`.
pub const MAX_CONCURRENT_ACTIONS: usize = 64;
/// Most `actions.allowed` (or `denied`) entries; the gateway refuses a
/// registration with more.
pub const MAX_ACTION_RULES: usize = 256;
/// Longest `actions.allowed` / `denied` entry, in bytes (the gateway's bound).
pub const MAX_ACTION_RULE_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct BufferConfig {
    pub max_snapshots: usize,
}

// ---------------------------------------------------------------------------
// the file's shape (serde)

/// The config file as it is written: the one serde model of the YAML, used
/// to read it ([`Config::parse`] checks it into a [`Config`]), by
/// `sovigilant init` ([`init_file`]) and by `vigil up` for its local agent.
///
/// Every section and key is optional here (absent keys take their default in
/// [`Config::from_file`], which also reports what is missing), unknown keys
/// are refused (`deny_unknown_fields`), and serializing writes only the keys
/// that are set, so a written file stays as small as the one that was read.
/// Names (runtime, metrics, level, type), durations and sizes stay text here:
/// [`Config::from_file`] checks them and says what is expected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "is_default")]
    pub agent: AgentSection,
    /// Required by [`Config::from_file`]; optional here so that its absence
    /// is reported as `server: missing` rather than as a serde error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSection>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub collection: CollectionSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub logging: LoggingSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub actions: ActionsSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub buffer: BufferSection,
}

/// `agent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// `auto` (or absent): the server chooses the host id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name; `{{hostname}}` is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `server`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// `host:port` of the gateway's gRPC side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub tls: TlsSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_url: Option<String>,
}

/// `server.tls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
}

/// `collection`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSection {
    /// A duration such as `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub host: HostSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub containers: ContainersSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub services: ServicesSection,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_metrics: Vec<CustomMetricEntry>,
}

/// `collection.host`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Names of [`HostMetric`]; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
    /// A number, or a string of digits (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mounts: Option<serde_yaml::Value>,
    /// A number, or a string of digits (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interfaces: Option<serde_yaml::Value>,
}

/// `collection.containers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainersSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `auto`, `docker`, `podman` or `incus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Names of [`ContainerMetric`]; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_socket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podman_socket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incus_socket: Option<String>,
}

/// `collection.services`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomServiceEntry>,
}

/// One entry of `collection.services.custom`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomServiceEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Wider than a port so that 70000 is reported as "not a TCP port".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

/// One entry of `collection.custom_metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetricEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `gauge` or `counter`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `logging`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// A path, or `stderr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// A number of bytes, or a size such as `10MB` (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u32>,
}

/// `actions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    /// A duration such as `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `auto`, `systemd`, `openrc` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_manager: Option<String>,
    /// A number, or a string of digits (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<serde_yaml::Value>,
}

/// `buffer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_snapshots: Option<u64>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl ConfigFile {
    /// Reads `text` as if it had been read from `file` (named in errors). An
    /// empty text is an empty file. Only the shape is checked here: unknown
    /// keys and values of the wrong type are errors naming the key path;
    /// [`Config::from_file`] checks the values.
    pub fn parse(file: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        serde_yaml::from_str(text).map_err(|error| ConfigError::Parse { file: file.to_owned(), message: error.to_string() })
    }

    /// The YAML text of this file: the keys that are set, in the documented
    /// order, without comments.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }
}

// ---------------------------------------------------------------------------

/// Builds errors naming the file and the key path.
struct Checker<'a> {
    file: &'a Path,
}

impl Checker<'_> {
    fn invalid(&self, key: impl fmt::Display, reason: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid { file: self.file.to_owned(), key: key.to_string(), reason: reason.to_string() }
    }

    fn duration(&self, key: &str, value: &str) -> Result<Duration, ConfigError> {
        let duration = vigil_bus::duration::parse(value).map_err(|error| self.invalid(key, error))?;
        if duration < Duration::from_secs(1) {
            return Err(self.invalid(key, format!("{value:?} is shorter than the 1s minimum")));
        }
        Ok(duration)
    }

    /// A count between 1 and `max` (`default` when absent). A YAML number or
    /// a string of digits; anything else names the key and the value.
    fn count(&self, key: &str, value: Option<&serde_yaml::Value>, default: usize, max: usize) -> Result<usize, ConfigError> {
        let expected = format!("write a whole number between 1 and {max}");
        let count = match value {
            None => return Ok(default),
            Some(serde_yaml::Value::Number(number)) => {
                number.as_u64().ok_or_else(|| self.invalid(key, format!("{number} is not a count; {expected}")))?
            }
            Some(serde_yaml::Value::String(text)) => {
                text.trim().parse::<u64>().map_err(|_| self.invalid(key, format!("{text:?} is not a number; {expected}")))?
            }
            Some(other) => {
                let shown = serde_yaml::to_string(other).map(|text| text.trim().to_owned()).unwrap_or_default();
                return Err(self.invalid(key, format!("{shown:?} is not a number; {expected}")));
            }
        };
        if count == 0 || count > max as u64 {
            return Err(self.invalid(key, format!("{count} is out of range; {expected}")));
        }
        Ok(count as usize)
    }

    fn required<'v>(&self, key: &str, value: &'v Option<String>, what: &str) -> Result<&'v str, ConfigError> {
        match value.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(self.invalid(key, format!("missing; set {what}"))),
        }
    }
}

impl Config {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: path.to_owned(), source })?;
        Self::parse(path, &text)
    }

    /// Checks `text` as if it had been read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        Self::from_file(file, ConfigFile::parse(file, text)?)
    }

    /// Checks every value of `raw` (read from `file`, named in errors) and
    /// fills in the defaults.
    pub fn from_file(file: &Path, raw: ConfigFile) -> Result<Config, ConfigError> {
        Self::checked(file, raw, &crate::sysinfo::hostname())
    }

    fn checked(file: &Path, raw: ConfigFile, hostname: &str) -> Result<Config, ConfigError> {
        let check = Checker { file };

        // agent
        let id = match raw.agent.id.as_deref().map(str::trim) {
            None | Some("auto") => None,
            Some(id) => {
                vigil_bus::ids::validate("agent", id)
                    .map_err(|error| check.invalid("agent.id", format!("{error}; write `auto` or an id like web-01")))?;
                Some(id.to_owned())
            }
        };
        let name_template = raw.agent.name.unwrap_or_else(|| "{{hostname}}".to_owned());
        let name = name_template.replace("{{hostname}}", hostname).trim().to_owned();
        if name.is_empty() {
            return Err(check.invalid("agent.name", "is empty; write a display name or \"{{hostname}}\""));
        }

        // server
        let raw_server =
            raw.server.ok_or_else(|| check.invalid("server", "missing; set server.address (host:port) and server.token"))?;
        let address = check.required("server.address", &raw_server.address, "the gateway's host:port")?;
        let (host, port) = split_address(address).map_err(|reason| {
            check.invalid("server.address", format!("{address:?} {reason}; write host:port, e.g. vigil.example.com:9090"))
        })?;
        let token = check.required("server.token", &raw_server.token, "the agent token given by the server")?;
        if let Some(bad) = token.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(check.invalid("server.token", format!("contains {bad:?}; a token is printable ASCII without spaces")));
        }
        let tls = TlsConfig {
            enabled: raw_server.tls.enabled.unwrap_or(true),
            ca_cert: match raw_server.tls.ca_cert.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(path) => Some(PathBuf::from(path)),
            },
        };
        let http_url = match raw_server.http_url.as_deref().map(str::trim) {
            None | Some("") if host.contains(':') => format!("http://[{host}]:{DEFAULT_HTTP_PORT}"),
            None | Some("") => format!("http://{host}:{DEFAULT_HTTP_PORT}"),
            Some(url) => {
                crate::http::Url::parse(url).map_err(|reason| {
                    check.invalid(
                        "server.http_url",
                        format!("{url:?}: {reason}; write the gateway's HTTP address, e.g. http://vigil.example.com:8080"),
                    )
                })?;
                url.trim_end_matches('/').to_owned()
            }
        };
        let server = ServerConfig { address: address.to_owned(), host, port, token: token.to_owned(), tls, http_url };

        // collection
        let collection = raw.collection;
        let interval = match collection.interval.as_deref() {
            None => DEFAULT_INTERVAL,
            Some(text) => check.duration("collection.interval", text)?,
        };
        let host_metrics = match collection.host.metrics {
            None => HostMetric::ALL.into_iter().collect(),
            Some(names) => names
                .iter()
                .map(|name| {
                    HostMetric::ALL.into_iter().find(|m| m.name() == name.trim()).ok_or_else(|| {
                        check.invalid(
                            "collection.host.metrics",
                            format!("unknown metric {name:?}, expected one of cpu, memory, disk, network, load, uptime"),
                        )
                    })
                })
                .collect::<Result<BTreeSet<_>, _>>()?,
        };
        let max_mounts = check.count(
            "collection.host.max_mounts",
            collection.host.max_mounts.as_ref(),
            DEFAULT_MAX_MOUNTS,
            MAX_HOST_ENTRIES,
        )?;
        let max_interfaces = check.count(
            "collection.host.max_interfaces",
            collection.host.max_interfaces.as_ref(),
            DEFAULT_MAX_INTERFACES,
            MAX_HOST_ENTRIES,
        )?;
        let runtime = match collection.containers.runtime.as_deref().map(str::trim) {
            None | Some("auto") => Runtime::Auto,
            Some("docker") => Runtime::Docker,
            Some("podman") => Runtime::Podman,
            Some("incus") => Runtime::Incus,
            Some(other) => {
                return Err(check.invalid(
                    "collection.containers.runtime",
                    format!("unknown runtime {other:?}, expected one of auto, docker, podman, incus"),
                ))
            }
        };
        let container_metrics = match collection.containers.metrics {
            None => ContainerMetric::ALL.into_iter().collect(),
            Some(names) => names
                .iter()
                .map(|name| {
                    ContainerMetric::ALL.into_iter().find(|m| m.name() == name.trim()).ok_or_else(|| {
                        check.invalid(
                            "collection.containers.metrics",
                            format!("unknown metric {name:?}, expected one of cpu, memory, disk, network, status"),
                        )
                    })
                })
                .collect::<Result<BTreeSet<_>, _>>()?,
        };
        for (index, service) in collection.services.watch.iter().enumerate() {
            if service.trim().is_empty() {
                return Err(check.invalid(format!("collection.services.watch[{index}]"), "is empty; write a service name"));
            }
        }
        let mut custom_services = Vec::new();
        for (index, service) in collection.services.custom.into_iter().enumerate() {
            let key = format!("collection.services.custom[{index}]");
            let name = check.required(&format!("{key}.name"), &service.name, "the service's name")?.to_owned();
            let command = check
                .required(&format!("{key}.check"), &service.check, "a command that exits 0 when the service is up")?
                .to_owned();
            let port = match service.port {
                None => None,
                Some(port) if (1..=65535).contains(&port) => Some(port as u16),
                Some(port) => return Err(check.invalid(format!("{key}.port"), format!("{port} is not a TCP port (1-65535)"))),
            };
            custom_services.push(CustomService { name, check: command, port });
        }
        let mut custom_metrics = Vec::new();
        let mut seen_names = BTreeSet::new();
        for (index, metric) in collection.custom_metrics.into_iter().enumerate() {
            let key = format!("collection.custom_metrics[{index}]");
            let name = check.required(&format!("{key}.name"), &metric.name, "the metric's name")?.to_owned();
            if !seen_names.insert(name.clone()) {
                return Err(
                    check.invalid(format!("{key}.name"), format!("{name:?} is used by two custom metrics; names must be unique"))
                );
            }
            let command = check.required(&format!("{key}.command"), &metric.command, "a command printing a number")?.to_owned();
            let kind = match metric.kind.as_deref().map(str::trim) {
                None | Some("gauge") => MetricType::Gauge,
                Some("counter") => MetricType::Counter,
                Some(other) => {
                    return Err(check.invalid(format!("{key}.type"), format!("unknown type {other:?}, expected gauge or counter")))
                }
            };
            let interval = match metric.interval.as_deref() {
                None => interval,
                Some(text) => check.duration(&format!("{key}.interval"), text)?,
            };
            let timeout = match metric.timeout.as_deref() {
                None if interval > DEFAULT_CUSTOM_TIMEOUT => DEFAULT_CUSTOM_TIMEOUT,
                None => interval / 2,
                Some(text) => {
                    let timeout = check.duration(&format!("{key}.timeout"), text)?;
                    if timeout >= interval {
                        return Err(check.invalid(
                            format!("{key}.timeout"),
                            format!(
                                "{text:?} is not shorter than the metric's interval ({}s); write a timeout below the interval",
                                interval.as_secs_f64()
                            ),
                        ));
                    }
                    timeout
                }
            };
            custom_metrics.push(CustomMetricConfig { name, command, kind, interval, timeout });
        }
        let collection = CollectionConfig {
            interval,
            host: HostCollection {
                enabled: collection.host.enabled.unwrap_or(true),
                metrics: host_metrics,
                max_mounts,
                max_interfaces,
            },
            containers: ContainersConfig {
                enabled: collection.containers.enabled.unwrap_or(true),
                runtime,
                metrics: container_metrics,
                docker_socket: socket_path(collection.containers.docker_socket),
                podman_socket: socket_path(collection.containers.podman_socket),
                incus_socket: socket_path(collection.containers.incus_socket),
            },
            services: ServicesConfig {
                enabled: collection.services.enabled.unwrap_or(true),
                discover: collection.services.discover.unwrap_or(true),
                watch: collection.services.watch,
                custom: custom_services,
            },
            custom_metrics,
        };

        // logging
        let level = match raw.logging.level.as_deref().map(str::trim) {
            None | Some("info") => LogLevel::Info,
            Some("trace") => LogLevel::Trace,
            Some("debug") => LogLevel::Debug,
            Some("warn") | Some("warning") => LogLevel::Warn,
            Some("error") => LogLevel::Error,
            Some(other) => {
                return Err(check.invalid(
                    "logging.level",
                    format!("unknown level {other:?}, expected one of trace, debug, info, warn, error"),
                ))
            }
        };
        let max_size = match raw.logging.max_size {
            None => 10 * 1024 * 1024,
            Some(serde_yaml::Value::Number(number)) => number
                .as_u64()
                .ok_or_else(|| check.invalid("logging.max_size", format!("{number} is not a size; write e.g. 10MB")))?,
            Some(serde_yaml::Value::String(text)) => {
                parse_size(&text).map_err(|reason| check.invalid("logging.max_size", reason))?
            }
            Some(other) => return Err(check.invalid("logging.max_size", format!("{other:?} is not a size; write e.g. 10MB"))),
        };
        if max_size < 4096 {
            return Err(check.invalid("logging.max_size", format!("{max_size} bytes is below the 4KB minimum")));
        }
        let logging = LoggingConfig {
            level,
            output: match raw.logging.output.as_deref().map(str::trim) {
                None | Some("") | Some("stderr") => None,
                Some(path) => Some(PathBuf::from(path)),
            },
            max_size,
            max_files: raw.logging.max_files.unwrap_or(5),
        };

        // actions
        for (key, entries) in [("actions.allowed", &raw.actions.allowed), ("actions.denied", &raw.actions.denied)] {
            if entries.len() > MAX_ACTION_RULES {
                return Err(check.invalid(key, format!("has {} entries; at most {MAX_ACTION_RULES}", entries.len())));
            }
            for (index, entry) in entries.iter().enumerate() {
                let key = format!("{key}[{index}]");
                if entry.trim().is_empty() {
                    return Err(check.invalid(key, "is empty; write a command line glob such as \"systemctl restart *\""));
                }
                if entry.len() > MAX_ACTION_RULE_LEN {
                    return Err(check.invalid(key, format!("is longer than {MAX_ACTION_RULE_LEN} bytes")));
                }
                if let Some(bad) = entry.chars().find(|c| c.is_control()) {
                    return Err(check.invalid(key, format!("{entry:?} contains the control character {bad:?}; write one line")));
                }
            }
        }
        let action_timeout = match raw.actions.timeout.as_deref() {
            None => DEFAULT_ACTION_TIMEOUT,
            Some(text) => {
                let timeout = check.duration("actions.timeout", text)?;
                if timeout > MAX_ACTION_TIMEOUT {
                    return Err(check.invalid(
                        "actions.timeout",
                        format!("{text:?} is longer than the {}s maximum", MAX_ACTION_TIMEOUT.as_secs()),
                    ));
                }
                timeout
            }
        };
        let service_manager = match raw.actions.service_manager.as_deref().map(str::trim) {
            None | Some("auto") => None,
            Some(name) => Some(crate::actions::ServiceManager::from_name(name).ok_or_else(|| {
                check.invalid(
                    "actions.service_manager",
                    format!("unknown service manager {name:?}, expected one of auto, systemd, openrc, none"),
                )
            })?),
        };
        let max_concurrent = check.count(
            "actions.max_concurrent",
            raw.actions.max_concurrent.as_ref(),
            DEFAULT_MAX_CONCURRENT_ACTIONS,
            MAX_CONCURRENT_ACTIONS,
        )?;
        let actions = ActionsConfig {
            enabled: raw.actions.enabled.unwrap_or(false),
            allowed: raw.actions.allowed,
            denied: raw.actions.denied,
            timeout: action_timeout,
            service_manager,
            max_concurrent,
        };

        let state_dir = match raw.state_dir.as_deref().map(str::trim) {
            None => PathBuf::from(DEFAULT_STATE_DIR),
            Some("") => return Err(check.invalid("state_dir", "is empty; write a directory path")),
            Some(path) => PathBuf::from(path),
        };
        let max_snapshots = raw.buffer.max_snapshots.unwrap_or(DEFAULT_MAX_SNAPSHOTS as u64);
        if !(1..=10_000_000).contains(&max_snapshots) {
            return Err(check.invalid(
                "buffer.max_snapshots",
                format!("{max_snapshots} is out of range; write a number between 1 and 10000000"),
            ));
        }

        Ok(Config {
            file: file.to_owned(),
            agent: AgentConfig { id, name },
            server,
            collection,
            logging,
            actions,
            state_dir,
            buffer: BufferConfig { max_snapshots: max_snapshots as usize },
        })
    }
}

fn socket_path(value: Option<String>) -> Option<PathBuf> {
    value.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty()).map(PathBuf::from)
}

/// Splits `host:port` (`[v6]:port` for IPv6 literals).
pub fn split_address(address: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, rest) = rest.split_once(']').ok_or("has an unclosed '['")?;
        let port = rest.strip_prefix(':').ok_or("has no port")?;
        (host, port)
    } else {
        address.rsplit_once(':').ok_or("has no port")?
    };
    if host.is_empty() {
        return Err("has no host");
    }
    if host.contains(['/', ' ']) || (!address.starts_with('[') && host.contains(':')) {
        return Err("is not a host:port pair");
    }
    let port: u16 = port.parse().map_err(|_| "has a port that is not a number between 1 and 65535")?;
    if port == 0 {
        return Err("has port 0");
    }
    Ok((host.to_owned(), port))
}

/// Parses sizes like `10MB`, `512KB`, `1GB`, `4096` (bytes). K, M and G are
/// powers of 1024 (`10MB` = 10 MiB).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let error = || format!("{text:?} is not a size; write a number followed by B, KB, MB or GB (e.g. 10MB)");
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| error())?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1024,
        "M" | "MB" | "MIB" => 1024 * 1024,
        "G" | "GB" | "GIB" => 1024 * 1024 * 1024,
        _ => return Err(error()),
    };
    number.checked_mul(factor).ok_or_else(error)
}

// ---------------------------------------------------------------------------
// the file `sovigilant init` writes (seed §7.2 shape)

/// What `sovigilant init` was asked to write.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub server: String,
    pub token: String,
    pub ca_cert: Option<String>,
    pub name: Option<String>,
    pub state_dir: Option<String>,
    /// `false`: `tls.enabled: false` (plaintext; for tests and private networks).
    pub tls: bool,
    /// `server.http_url` (default: `http://<server host>:8080`).
    pub http_url: Option<String>,
    /// `collection.interval` as written (default: `10s`).
    pub interval: Option<String>,
}

/// The file `sovigilant init` writes: the seed §7.2 shape, plus
/// `tls.ca_cert`, `server.http_url` and `state_dir` when given.
pub fn init_file(options: &InitOptions) -> ConfigFile {
    ConfigFile {
        agent: AgentSection { id: None, name: Some(options.name.clone().unwrap_or_else(|| "{{hostname}}".to_owned())) },
        server: Some(ServerSection {
            address: Some(options.server.clone()),
            token: Some(options.token.clone()),
            tls: TlsSection { enabled: Some(options.tls), ca_cert: options.ca_cert.clone() },
            http_url: options.http_url.clone(),
        }),
        collection: CollectionSection {
            interval: Some(options.interval.clone().unwrap_or_else(|| "10s".to_owned())),
            host: HostSection { enabled: Some(true), ..HostSection::default() },
            containers: ContainersSection {
                enabled: Some(true),
                runtime: Some("auto".to_owned()),
                ..ContainersSection::default()
            },
            services: ServicesSection { enabled: Some(true), discover: Some(true), ..ServicesSection::default() },
            custom_metrics: Vec::new(),
        },
        state_dir: Some(options.state_dir.clone().unwrap_or_else(|| DEFAULT_STATE_DIR.to_owned())),
        ..ConfigFile::default()
    }
}

/// The YAML text `sovigilant init` writes: a header comment and [`init_file`].
pub fn render_init(options: &InitOptions) -> String {
    let body = init_file(options).to_yaml().unwrap_or_else(|error| {
        // Serializing strings, bools and numbers cannot fail; keep a
        // readable trace if it ever does.
        format!("# cannot render config: {error}\n")
    });
    format!("# sovigilant configuration, written by `sovigilant init`\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/sovigilant/config.yaml"), text)
    }

    #[test]
    fn splits_addresses() {
        assert_eq!(split_address("vigil.example.com:9090"), Ok(("vigil.example.com".into(), 9090)));
        assert_eq!(split_address("[::1]:9090"), Ok(("::1".into(), 9090)));
        assert!(split_address("vigil.example.com").is_err());
        assert!(split_address(":9090").is_err());
        assert!(split_address("host:99999").is_err());
        assert!(split_address("::1:9090").is_err());
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("10MB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("512KB"), Ok(512 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("MB").is_err());
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = parse("server:\n  address: gw:9090\n  token: abc\n").unwrap();
        assert_eq!(config.collection.interval, DEFAULT_INTERVAL);
        assert!(config.server.tls.enabled);
        assert_eq!(config.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(config.buffer.max_snapshots, DEFAULT_MAX_SNAPSHOTS);
        assert!(!config.actions.enabled, "remote actions must be opt-in");
        assert_eq!(config.agent.id, None);
        assert_eq!((config.collection.host.max_mounts, config.collection.host.max_interfaces), (32, 32));
        assert_eq!(CollectionConfig::default().host, config.collection.host);
        // containers and services on, as the seed's config shows them
        assert!(
            config.collection.containers.enabled && config.collection.services.enabled && config.collection.services.discover
        );
        assert_eq!(CollectionConfig::default().containers, config.collection.containers);
        assert_eq!(CollectionConfig::default().services, config.collection.services);
    }

    #[test]
    fn init_output_parses_back() {
        let text = render_init(&InitOptions {
            server: "gw.example.com:9090".into(),
            token: "tok-123".into(),
            ca_cert: Some("/etc/sovigilant/ca.pem".into()),
            name: Some("web \"01\": main".into()),
            state_dir: Some("/tmp/state".into()),
            tls: true,
            http_url: Some("http://gw.example.com:8081/".into()),
            interval: Some("2s".into()),
        });
        let config = parse(&text).unwrap();
        assert_eq!(config.agent.name, "web \"01\": main");
        assert_eq!(config.server.tls.ca_cert, Some(PathBuf::from("/etc/sovigilant/ca.pem")));
        assert_eq!(config.state_dir, PathBuf::from("/tmp/state"));
        assert!(config.collection.containers.enabled);
        assert_eq!(config.server.http_url, "http://gw.example.com:8081");
        assert_eq!(config.collection.interval, Duration::from_secs(2));
    }

    #[test]
    fn init_writes_the_seed_shape_and_nothing_else() {
        let options = InitOptions {
            server: "gw:9090".into(),
            token: "tok".into(),
            ca_cert: None,
            name: None,
            state_dir: None,
            tls: true,
            http_url: None,
            interval: None,
        };
        let expected = "# sovigilant configuration, written by `sovigilant init`
agent:
  name: '{{hostname}}'
server:
  address: gw:9090
  token: tok
  tls:
    enabled: true
collection:
  interval: 10s
  host:
    enabled: true
  containers:
    enabled: true
    runtime: auto
  services:
    enabled: true
    discover: true
state_dir: /var/lib/sovigilant
";
        assert_eq!(render_init(&options), expected);
    }

    #[test]
    fn http_url_defaults_to_the_server_host_on_8080_and_must_be_http() {
        let config = parse("server:\n  address: gw.example.com:9090\n  token: t\n").unwrap();
        assert_eq!(config.server.http_url, "http://gw.example.com:8080");
        let config = parse("server:\n  address: \"[::1]:9090\"\n  token: t\n").unwrap();
        assert_eq!(config.server.http_url, "http://[::1]:8080");
        let error = parse("server:\n  address: gw:9090\n  token: t\n  http_url: https://gw\n").unwrap_err().to_string();
        assert!(error.contains("server.http_url") && error.contains("https://gw"), "{error}");
    }

    #[test]
    fn custom_metric_timeout_defaults_and_must_be_below_interval() {
        let base = "server:\n  address: gw:9090\n  token: t\ncollection:\n  custom_metrics:\n";
        let config = parse(&format!("{base}    - name: a\n      command: echo 1\n      interval: 30s\n    - name: b\n      command: echo 2\n      interval: 4s\n    - name: c\n      command: echo 3\n      interval: 10s\n      timeout: 2s\n")).unwrap();
        let timeouts: Vec<_> = config.collection.custom_metrics.iter().map(|m| m.timeout).collect();
        assert_eq!(timeouts, [Duration::from_secs(5), Duration::from_secs(2), Duration::from_secs(2)]);
        let error = parse(&format!("{base}    - name: a\n      command: echo 1\n      interval: 10s\n      timeout: 10s\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("custom_metrics[0].timeout") && error.contains("interval"), "{error}");
    }

    #[test]
    fn container_socket_paths_are_read() {
        let config = parse("server:\n  address: gw:9090\n  token: t\ncollection:\n  containers:\n    enabled: true\n    docker_socket: /tmp/d.sock\n    incus_socket: /tmp/i.sock\n").unwrap();
        assert_eq!(config.collection.containers.docker_socket, Some(PathBuf::from("/tmp/d.sock")));
        assert_eq!(config.collection.containers.podman_socket, None);
        assert_eq!(config.collection.containers.incus_socket, Some(PathBuf::from("/tmp/i.sock")));
    }

    #[test]
    fn missing_server_is_rejected_with_what_to_set() {
        let error = parse("agent:\n  name: x\n").unwrap_err().to_string();
        assert!(error.contains("/etc/sovigilant/config.yaml: server: missing"), "{error}");
    }

    #[test]
    fn bad_agent_id_is_rejected() {
        let error = parse("agent:\n  id: a.b\nserver:\n  address: gw:9090\n  token: t\n").unwrap_err().to_string();
        assert!(error.contains("agent.id") && error.contains("a.b"), "{error}");
    }
}
