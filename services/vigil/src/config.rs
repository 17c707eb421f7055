//! The `vigil` configuration: one YAML file plus `VIGIL_<SECTION>_<KEY>`
//! environment overrides.
//!
//! Invariants kept here:
//! - every key has a default, so a missing file (at the default path) or an
//!   empty file is a complete configuration;
//! - unknown keys and unknown `VIGIL_*` variables are errors, never ignored;
//! - every error names where the value came from (the file or the environment
//!   variable), the key path and the offending value;
//! - the set of keys is derived from [`Config`] itself (its serialized
//!   default), so the environment mapping and the documentation printed by
//!   `vigil config print` cannot drift from the structs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_yaml::{Mapping, Value};

/// Where the configuration is read from when neither `--config` nor
/// `VIGIL_CONFIG` names a file. A missing file there means "all defaults".
pub const DEFAULT_PATH: &str = "/etc/vigil/vigil.yaml";
/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "VIGIL_CONFIG";
/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "VIGIL_";
/// The only configuration format version this build reads.
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration file: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: unknown key {key}; valid keys there: {valid}")]
    UnknownKey { origin: String, key: String, valid: String },
    #[error("unknown environment variable {name}; valid ones: {valid}")]
    UnknownEnv { name: String, valid: String },
    #[error("{origin}: {key}: {message}")]
    Invalid { origin: String, key: String, message: String },
}

/// The whole configuration. Field order is the order `vigil config print` uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    #[serde(deserialize_with = "de_version")]
    pub version: u32,
    pub data_dir: PathBuf,
    pub nats: NatsSection,
    pub database: DatabaseSection,
    /// Owned by the gateway crate (its defaults and checks live there).
    pub gateway: vigil_gateway::GatewaySettings,
    /// Owned by the collector crate (its defaults and checks live there).
    pub collector: vigil_collector::CollectorConfig,
    /// Owned by the alerter crate.
    pub alerter: vigil_alerter::AlerterConfig,
    /// Owned by the actioner crate.
    pub actioner: vigil_actioner::ActionerConfig,
    /// Owned by the orchestrator crate.
    pub orchestrator: vigil_orchestrator::OrchestratorConfig,
    pub up: UpSection,
    pub log: LogSection,
    pub metrics: MetricsSection,
}

/// Where a process serves its operational metrics besides the gateway's
/// `/metrics` (a `vigil run` process without a gateway has no other).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// `host:port` of a `/metrics` listener; empty: none.
    #[serde(deserialize_with = "de_optional_listen")]
    pub listen: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSection {
    #[serde(deserialize_with = "de_nats_url")]
    pub url: String,
    /// The creds file (user JWT + nkey seed) of the services' user of the
    /// `VIGIL` account. Empty means `data_dir/nats.creds`.
    pub credentials_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    #[serde(deserialize_with = "de_mysql_url")]
    pub url: String,
    #[serde(deserialize_with = "de_positive_u32")]
    pub max_connections: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpSection {
    #[serde(deserialize_with = "de_tenant")]
    pub tenant: String,
    #[serde(deserialize_with = "de_email")]
    pub admin_email: String,
    pub agent: bool,
    /// Empty: `sovigilant` next to the `vigil` executable, else in `PATH`.
    pub agent_binary: String,
    /// Run a nats-server of its own (listening on `nats.url`).
    pub nats: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    #[serde(deserialize_with = "de_log_level")]
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: VERSION,
            data_dir: PathBuf::from("/var/lib/vigil"),
            nats: NatsSection::default(),
            database: DatabaseSection::default(),
            gateway: vigil_gateway::GatewaySettings::default(),
            collector: vigil_collector::CollectorConfig::default(),
            alerter: vigil_alerter::AlerterConfig::default(),
            actioner: vigil_actioner::ActionerConfig::default(),
            orchestrator: vigil_orchestrator::OrchestratorConfig::default(),
            up: UpSection::default(),
            log: LogSection::default(),
            metrics: MetricsSection::default(),
        }
    }
}

impl Default for NatsSection {
    fn default() -> Self {
        NatsSection { url: "nats://127.0.0.1:4222".into(), credentials_file: String::new() }
    }
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection { url: "mysql://root@127.0.0.1:3306/vigil".into(), max_connections: 16 }
    }
}

impl Default for UpSection {
    fn default() -> Self {
        UpSection {
            tenant: "default".into(),
            admin_email: "admin@localhost".into(),
            agent: true,
            agent_binary: String::new(),
            nats: true,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { level: "info".into(), format: LogFormat::Text }
    }
}

/// One-line documentation of every key, shown by `vigil config print`.
/// A test checks that every key of [`Config`] is documented here.
pub const KEY_DOCS: &[(&str, &str)] = &[
    ("version", "configuration format version; only 1 exists"),
    ("data_dir", "generated TLS material, jwt secret, nats keys and creds, local agent state, vigil up's nats-server"),
    ("nats.url", "NATS server (nats:// or tls://); vigil up with up.nats: true runs its own nats-server on its host:port"),
    (
        "nats.credentials_file",
        "creds file (user JWT + nkey seed) the services connect to NATS with; empty: data_dir/nats.creds, generated from the bus keys in data_dir/nats.keys if absent",
    ),
    ("database.url", "MariaDB/MySQL url (mysql://user:password@host:port/database); the database is created if absent"),
    ("database.max_connections", "size of each service's connection pool (gateway, collector, alerter, actioner, orchestrator)"),
    ("gateway.http_listen", "REST API, WebSocket and dashboard listen address"),
    ("gateway.grpc_listen", "agents' gRPC (TLS) listen address"),
    ("gateway.public_address", "host[:port] agents dial; empty: this machine's hostname and the gRPC port"),
    ("gateway.tls.cert", "server certificate chain (PEM); cert, key and ca all empty: generated in data_dir/tls"),
    ("gateway.tls.key", "server private key (PEM)"),
    ("gateway.tls.ca", "CA certificate agents trust (PEM)"),
    (
        "gateway.tls_hostnames",
        "extra DNS names / IPs of the generated server certificate (localhost, 127.0.0.1, ::1 and the hostname are always in)",
    ),
    ("gateway.jwt_secret_file", "secret signing user tokens; empty: data_dir/jwt.secret, generated if absent"),
    ("gateway.access_token_ttl", "lifetime of a user access token"),
    ("gateway.refresh_token_ttl", "lifetime of a user refresh token"),
    (
        "gateway.max_message_bytes",
        "largest snapshot (protobuf bytes) accepted from an agent; a larger one is refused for good (Ack accepted=false)",
    ),
    (
        "gateway.max_clock_skew",
        "a snapshot collected further ahead of the gateway's clock is refused for good (older than collector.retention_raw too)",
    ),
    ("gateway.max_in_flight_per_agent", "snapshots of one agent awaiting their JetStream ack"),
    (
        "metrics.listen",
        "ip:port where this process also serves /metrics (its services' operational metrics); empty: only the gateway's /metrics",
    ),
    (
        "gateway.prometheus_stale_after",
        "/api/metrics/prometheus serves a host's values only while its newest snapshot is at most this old",
    ),
    ("collector.batch_size", "snapshots stored per database transaction"),
    ("collector.batch_wait", "when no snapshot is waiting, how long before looking again"),
    ("collector.offline_after", "a host silent this long is marked offline"),
    ("collector.sweep_interval", "how often hosts are checked for silence"),
    ("collector.partitions_ahead_days", "daily metrics partitions created ahead"),
    ("collector.retention_raw", "raw metrics older than this are dropped"),
    ("collector.retention_hourly", "hourly aggregates (metrics_host_hourly) older than this are deleted"),
    ("collector.retention_daily", "daily aggregates (metrics_host_daily) older than this are deleted; tenants may keep less, never more"),
    ("collector.downsample.enabled", "fold raw metrics into hourly and hourly into daily aggregates (retention deletes run either way)"),
    (
        "collector.downsample.schedule",
        "when downsampling and retention deletes run: cron, UTC, 5 fields (min hour day month weekday) or 6 (seconds first)",
    ),
    (
        "collector.compaction.schedule",
        "when raw metrics are folded into hourly compressed chunks (each run folds every snapshot older than its start): cron, UTC",
    ),
    ("alerter.batch_size", "snapshots evaluated per database transaction"),
    ("alerter.batch_wait", "when no snapshot is waiting, how long before looking again"),
    ("alerter.batch_linger", "after a batch smaller than batch_size, how long snapshots gather before the next (fewer transactions for this much latency)"),
    ("alerter.max_snapshot_age", "snapshots collected longer ago are not evaluated (a replayed backlog would notify about the past)"),
    ("alerter.disappear_grace", "a firing container, service or mount missing from the snapshots this long is resolved"),
    ("alerter.repeat_interval", "a firing, unacknowledged alert is notified again this often (rules may say otherwise; 0s: never)"),
    ("alerter.sweep_interval", "how often held notifications (silence ended), repeats and offline durations are looked at"),
    ("alerter.delivery_concurrency", "notifications one alerter sends at once"),
    ("alerter.max_attempts", "attempts before a notification is given up (recorded as failed)"),
    ("alerter.public_url", "dashboard address for links in notifications (https://vigil.example.com); empty: no links"),
    ("actioner.ttl", "how long an action waits for an offline agent before it is expired (never run late)"),
    ("actioner.max_ttl", "longest TTL a request may ask for"),
    ("actioner.timeout", "the agent kills an action's process group after this long (requests may say)"),
    ("actioner.max_timeout", "longest timeout a request may ask for"),
    ("actioner.signing_key_file", "Ed25519 key every action is signed with; empty: data_dir/actions.key, generated if absent (agents pin /downloads/actions.pub)"),
    ("actioner.batch_wait", "when no dispatch or result is waiting, how long before looking again"),
    ("actioner.sweep_interval", "how often actions past their TTL are marked expired"),
    ("actioner.expiry_grace", "how long past its expiry a pending action is left before it is marked expired"),
    ("orchestrator.batch_wait", "when no fired alert is waiting, how long before looking again"),
    ("orchestrator.tick_interval", "how often cron schedules are looked at and runs whose orchestrator died are looked for (at most a third of run_lease)"),
    ("orchestrator.max_run_steps", "most steps one scenario holds, on_fail steps included"),
    ("orchestrator.run_lease", "a run left without news this long by its orchestrator is resumed by another (renewed every third of it)"),
    ("orchestrator.max_concurrent_runs", "runs one orchestrator drives at once"),
    ("orchestrator.poll_interval", "how often a step waiting for an action's result or an alert's resolution looks again"),
    ("up.tenant", "vigil up: the first tenant"),
    ("up.admin_email", "vigil up: the first admin user (password printed once)"),
    ("up.agent", "vigil up: run a local sovigilant"),
    ("up.agent_binary", "path of sovigilant; empty: next to vigil, else in PATH"),
    (
        "up.nats",
        "vigil up: run its own nats-server (nats/nats-server.conf, authenticated, data in data_dir/nats) on nats.url; false: use a running one",
    ),
    ("log.level", "error | warn | info | debug | trace, or a tracing filter (e.g. info,vigil_gateway=debug)"),
    ("log.format", "text | json"),
];

impl Config {
    /// Loads the configuration: `explicit` (the `--config` flag), else the file
    /// named by `VIGIL_CONFIG` in `env`, else [`DEFAULT_PATH`] (where a missing
    /// file means all defaults); then applies the `VIGIL_*` overrides of `env`.
    pub fn load(explicit: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let (path, must_exist) = Config::path(explicit, env);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !must_exist => String::new(),
            Err(source) => return Err(ConfigError::Read { path: path.display().to_string(), source }),
        };
        Config::from_yaml(&text, &path.display().to_string(), env)
    }

    /// The file [`Config::load`] reads, and whether it must exist (false only
    /// for the default path).
    pub fn path(explicit: Option<&Path>, env: &HashMap<String, String>) -> (PathBuf, bool) {
        match (explicit, env.get(CONFIG_ENV).filter(|p| !p.is_empty())) {
            (Some(path), _) => (path.to_path_buf(), true),
            (None, Some(path)) => (PathBuf::from(path), true),
            (None, None) => (PathBuf::from(DEFAULT_PATH), false),
        }
    }

    /// Parses `text` (named `origin` in errors) and applies the overrides of `env`.
    pub fn from_yaml(text: &str, origin: &str, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut tree: Value = serde_yaml::from_str(text)
            .map_err(|error| ConfigError::Syntax { origin: origin.to_owned(), message: error.to_string() })?;
        if tree.is_null() {
            tree = Value::Mapping(Mapping::new());
        }
        if !tree.is_mapping() {
            return Err(ConfigError::Syntax {
                origin: origin.to_owned(),
                message: "the configuration must be a mapping of keys (version: 1, nats: ..., ...)".into(),
            });
        }
        let defaults = default_tree();
        check_keys(&tree, &defaults, &mut Vec::new(), origin)?;

        // Which leaf came from which environment variable, for error messages.
        let mut origins: BTreeMap<Vec<String>, String> = BTreeMap::new();
        let names = env_names(&defaults);
        let mut vars: Vec<(&String, &String)> =
            env.iter().filter(|(name, _)| name.starts_with(ENV_PREFIX) && name.as_str() != CONFIG_ENV).collect();
        vars.sort();
        for (name, raw) in vars {
            let Some(path) = names.get(name.as_str()) else {
                let valid: Vec<&str> = std::iter::once(CONFIG_ENV).chain(names.keys().map(String::as_str)).collect();
                return Err(ConfigError::UnknownEnv { name: name.clone(), valid: valid.join(", ") });
            };
            let template = lookup(&defaults, path).unwrap_or(&Value::Null);
            set(&mut tree, path, env_value(template, raw));
            origins.insert(path.clone(), format!("environment variable {name}"));
        }

        let config = match serde_path_to_error::deserialize::<_, Config>(tree.clone()) {
            Ok(config) => config,
            Err(error) => return Err(invalid_value(&tree, &origins, origin, error)),
        };
        config.check_consistency(origin)?;
        Ok(config)
    }

    /// Checks that span several keys (each key alone was checked while parsing).
    fn check_consistency(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, message: String| ConfigError::Invalid { origin: origin.to_owned(), key: key.to_owned(), message };
        let tls = &self.gateway.tls;
        let set: Vec<&str> = [("cert", &tls.cert), ("key", &tls.key), ("ca", &tls.ca)]
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, _)| *name)
            .collect();
        if !set.is_empty() && set.len() < 3 {
            let missing: Vec<&str> = ["cert", "key", "ca"].into_iter().filter(|name| !set.contains(name)).collect();
            return Err(invalid(
                &format!("gateway.tls.{}", missing[0]),
                format!(
                    "is empty while gateway.tls.{} is set; set cert, key and ca together, or none to generate them",
                    set.join(" and gateway.tls.")
                ),
            ));
        }
        let (http, grpc) = (self.gateway.http_listen, self.gateway.grpc_listen);
        if http.port() != 0 && http == grpc {
            return Err(invalid(
                "gateway.grpc_listen",
                format!("\"{grpc}\" is also gateway.http_listen; give each its own port"),
            ));
        }
        for name in &self.gateway.tls_hostnames {
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/' || c == '*') {
                return Err(invalid("gateway.tls_hostnames", format!("{name:?} is not a DNS name or an IP address")));
            }
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "is empty; give a directory (e.g. /var/lib/vigil)".into()));
        }
        Ok(())
    }

    /// `data_dir/tls`, where generated TLS material lives.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// The jwt secret file: `gateway.jwt_secret_file` or `data_dir/jwt.secret`.
    pub fn jwt_secret_path(&self) -> PathBuf {
        if self.gateway.jwt_secret_file.is_empty() {
            self.data_dir.join("jwt.secret")
        } else {
            PathBuf::from(&self.gateway.jwt_secret_file)
        }
    }

    /// The actioner's section with its key file resolved.
    pub fn actioner_config(&self) -> vigil_actioner::ActionerConfig {
        vigil_actioner::ActionerConfig {
            signing_key_file: self.actions_key_path().display().to_string(),
            ..self.actioner.clone()
        }
    }

    /// The action key file: `actioner.signing_key_file` or `data_dir/actions.key`.
    pub fn actions_key_path(&self) -> PathBuf {
        if self.actioner.signing_key_file.is_empty() {
            self.data_dir.join("actions.key")
        } else {
            PathBuf::from(&self.actioner.signing_key_file)
        }
    }

    /// The services' NATS creds file: `nats.credentials_file` or `data_dir/nats.creds`.
    pub fn nats_credentials_path(&self) -> PathBuf {
        if self.nats.credentials_file.is_empty() {
            self.data_dir.join("nats.creds")
        } else {
            PathBuf::from(&self.nats.credentials_file)
        }
    }

    /// `data_dir/nats.keys`: the seeds of the bus (operator, system and
    /// platform accounts and users), generated once.
    pub fn nats_keys_path(&self) -> PathBuf {
        self.data_dir.join("nats.keys")
    }

    /// `data_dir/nats`: the configuration and JetStream store of the
    /// nats-server `vigil up` runs.
    pub fn nats_dir(&self) -> PathBuf {
        self.data_dir.join("nats")
    }

    /// `data_dir/agent`: the local agent's config and state (`vigil up`).
    pub fn agent_dir(&self) -> PathBuf {
        self.data_dir.join("agent")
    }

    /// The CA agents must trust: `gateway.tls.ca` or the generated one.
    pub fn ca_path(&self) -> PathBuf {
        if self.gateway.tls.ca.is_empty() {
            self.tls_dir().join(crate::tls::CA_CERT)
        } else {
            PathBuf::from(&self.gateway.tls.ca)
        }
    }

    /// `host:port` agents dial: `gateway.public_address` (port added when it
    /// has none) or this machine's hostname and `grpc_port`.
    pub fn agent_address(&self, grpc_port: u16) -> String {
        let public = self.gateway.public_address.trim();
        if public.is_empty() {
            return format!("{}:{grpc_port}", hostname());
        }
        let has_port = match public.rsplit_once(':') {
            // a bracketed IPv6 address has its port after "]:"
            Some((host, port)) => port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
            None => false,
        };
        if has_port {
            public.to_owned()
        } else if public.contains(':') && !public.starts_with('[') {
            format!("[{public}]:{grpc_port}")
        } else {
            format!("{public}:{grpc_port}")
        }
    }

    /// The effective configuration as YAML, each key followed by its
    /// documentation and default. Passwords in urls are masked.
    pub fn render_documented(&self) -> String {
        let mut effective = serde_yaml::to_value(self).unwrap_or(Value::Null);
        if let Some(Value::String(url)) = lookup_mut(&mut effective, &["database".into(), "url".into()]) {
            *url = mask_password(url);
        }
        if let Some(Value::String(url)) = lookup_mut(&mut effective, &["nats".into(), "url".into()]) {
            *url = mask_password(url);
        }
        let defaults = default_tree();
        let docs: HashMap<&str, &str> = KEY_DOCS.iter().copied().collect();
        let mut out = String::from("# vigil configuration (effective values; `# default:` shows the built-in value)\n");
        render(&effective, &defaults, &docs, &mut Vec::new(), &mut out);
        out
    }
}

/// The hostname of this machine (`/proc/sys/kernel/hostname`, `/etc/hostname`),
/// or `localhost` when neither can be read.
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Every `VIGIL_*` override name, mapped to its key path.
pub fn env_names_of_defaults() -> Vec<String> {
    env_names(&default_tree()).into_keys().collect()
}

fn default_tree() -> Value {
    serde_yaml::to_value(Config::default()).unwrap_or(Value::Null)
}

fn key_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => serde_yaml::to_string(other).map(|text| text.trim_end().to_owned()).unwrap_or_default(),
    }
}

fn check_keys(tree: &Value, defaults: &Value, path: &mut Vec<String>, origin: &str) -> Result<(), ConfigError> {
    let (Value::Mapping(given), Value::Mapping(known)) = (tree, defaults) else {
        return Ok(());
    };
    for (key, child) in given {
        let name = key_of(key);
        path.push(name.clone());
        let Some(default_child) = known.get(Value::String(name.clone())) else {
            let valid: Vec<String> = known.keys().map(key_of).collect();
            return Err(ConfigError::UnknownKey { origin: origin.to_owned(), key: path.join("."), valid: valid.join(", ") });
        };
        if default_child.is_mapping() && !child.is_mapping() && !child.is_null() {
            let valid: Vec<String> = default_child.as_mapping().into_iter().flat_map(|m| m.keys().map(key_of)).collect();
            return Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                key: path.join("."),
                message: format!("{} is not a section; write its keys ({}) under it", render_scalar(child), valid.join(", ")),
            });
        }
        check_keys(child, default_child, path, origin)?;
        path.pop();
    }
    Ok(())
}

/// Leaf key paths (a leaf is anything that is not a mapping).
fn leaves(tree: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        Value::Mapping(map) => {
            for (key, child) in map {
                path.push(key_of(key));
                leaves(child, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn env_names(defaults: &Value) -> BTreeMap<String, Vec<String>> {
    let mut paths = Vec::new();
    leaves(defaults, &mut Vec::new(), &mut paths);
    paths.into_iter().map(|path| (format!("{ENV_PREFIX}{}", path.join("_").to_uppercase()), path)).collect()
}

fn lookup<'a>(tree: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(tree, |node, key| node.as_mapping()?.get(Value::String(key.clone())))
}

fn lookup_mut<'a>(tree: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(tree, |node, key| node.as_mapping_mut()?.get_mut(Value::String(key.clone())))
}

fn set(tree: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = tree;
    for key in parents {
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let map = node.as_mapping_mut().expect("just made a mapping");
        node = map.entry(Value::String(key.clone())).or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    if !node.is_mapping() {
        *node = Value::Mapping(Mapping::new());
    }
    node.as_mapping_mut().expect("just made a mapping").insert(Value::String(last.clone()), value);
}

/// An environment string typed like the default value of its key, so that
/// `VIGIL_COLLECTOR_BATCH_SIZE=10` is a number and `VIGIL_UP_AGENT=false` a bool;
/// what does not convert stays a string and is rejected with its value by
/// deserialization.
fn env_value(template: &Value, raw: &str) -> Value {
    match template {
        Value::Number(_) => raw
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .or_else(|_| raw.trim().parse::<i64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(raw.to_owned())),
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => Value::String(raw.to_owned()),
        },
        Value::Sequence(_) => Value::Sequence(
            raw.split(',').map(str::trim).filter(|item| !item.is_empty()).map(|item| Value::String(item.to_owned())).collect(),
        ),
        _ => Value::String(raw.to_owned()),
    }
}

/// Deserialization from a value tree carries no key path, so the failing key
/// is found by trying each given leaf alone on top of the defaults.
/// The error of a value serde refused, naming where it came from (the file
/// or the environment variable), its key path and the value.
fn invalid_value(
    tree: &Value,
    origins: &BTreeMap<Vec<String>, String>,
    origin: &str,
    error: serde_path_to_error::Error<serde_yaml::Error>,
) -> ConfigError {
    let path: Vec<String> = error
        .path()
        .iter()
        .map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => key.clone(),
            other => other.to_string(),
        })
        .collect();
    let message = error.inner().to_string();
    let message = match lookup(tree, &path) {
        Some(value) => {
            let rendered = render_scalar(value);
            if message.contains(&rendered) || message.contains(rendered.trim_matches('"')) {
                message
            } else {
                format!("{rendered}: {message}")
            }
        }
        None => message,
    };
    ConfigError::Invalid {
        origin: origins.get(&path).cloned().unwrap_or_else(|| origin.to_owned()),
        key: path.join("."),
        message,
    }
}

fn render_scalar(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Sequence(items) => format!("[{}]", items.iter().map(render_scalar).collect::<Vec<_>>().join(", ")),
        other => serde_yaml::to_string(other).map(|text| text.trim_end().to_owned()).unwrap_or_default(),
    }
}

fn render_yaml_scalar(value: &Value) -> String {
    match value {
        Value::Sequence(items) => format!("[{}]", items.iter().map(render_yaml_scalar).collect::<Vec<_>>().join(", ")),
        other => serde_yaml::to_string(other).map(|text| text.trim_end().to_owned()).unwrap_or_default(),
    }
}

fn render(tree: &Value, defaults: &Value, docs: &HashMap<&str, &str>, path: &mut Vec<String>, out: &mut String) {
    let Value::Mapping(map) = tree else { return };
    let indent = "  ".repeat(path.len());
    for (key, child) in map {
        let name = key_of(key);
        path.push(name.clone());
        let default_child = lookup(defaults, path);
        if child.is_mapping() {
            out.push_str(&format!("{indent}{name}:\n"));
            render(child, defaults, docs, path, out);
        } else {
            let doc = docs.get(path.join(".").as_str()).copied().unwrap_or("");
            let default = default_child.map(render_yaml_scalar).unwrap_or_default();
            out.push_str(&format!("{indent}{name}: {}  # {doc}; default: {default}\n", render_yaml_scalar(child)));
        }
        path.pop();
    }
}

pub use vigil_runtime::nats::mask_password;

fn de_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let version = u32::deserialize(deserializer)?;
    if version != VERSION {
        return Err(D::Error::custom(format!("{version} is not a supported version; this vigil reads version {VERSION}")));
    }
    Ok(version)
}

fn de_optional_listen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let listen = String::deserialize(deserializer)?;
    if !listen.is_empty() && listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(D::Error::custom(format!(
            "{listen:?} is not an address; write ip:port such as 127.0.0.1:9464, or leave it empty"
        )));
    }
    Ok(listen)
}

fn de_nats_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let ok = ["nats://", "tls://"].iter().any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
    if !ok {
        return Err(D::Error::custom(format!("{url:?} is not a nats url; write nats://host:port (or tls://host:port)")));
    }
    Ok(url)
}

fn de_mysql_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let ok = ["mysql://", "mariadb://"].iter().any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
    if !ok {
        return Err(D::Error::custom(format!("{url:?} is not a mysql url; write mysql://user[:password]@host:port/database")));
    }
    let options: Result<sqlx::mysql::MySqlConnectOptions, _> = url.parse();
    match options {
        Ok(options) if options.get_database().is_some_and(|name| !name.is_empty()) => Ok(url),
        Ok(_) => Err(D::Error::custom(format!("{url:?} names no database; end it with /<database>, e.g. /vigil"))),
        Err(error) => Err(D::Error::custom(format!("{url:?} is not a valid mysql url: {error}"))),
    }
}

fn de_positive_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = u32::deserialize(deserializer)?;
    if value == 0 {
        return Err(D::Error::custom("0 is not allowed; give a number of at least 1"));
    }
    Ok(value)
}

fn de_tenant<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let tenant = String::deserialize(deserializer)?;
    vigil_bus::ids::validate("tenant", &tenant).map_err(D::Error::custom)?;
    Ok(tenant)
}

fn de_email<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let email = String::deserialize(deserializer)?;
    let ok = email.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && !domain.is_empty());
    if !ok || email.contains(char::is_whitespace) {
        return Err(D::Error::custom(format!("{email:?} is not an email address")));
    }
    Ok(email)
}

fn de_log_level<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let level = String::deserialize(deserializer)?;
    tracing_subscriber::EnvFilter::builder().parse(&level).map_err(|error| {
        D::Error::custom(format!("{level:?} is not a log level ({error}); write error, warn, info, debug or trace"))
    })?;
    Ok(level)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const EXAMPLE: &str = r#"
version: 1
data_dir: /var/lib/vigil            # generated TLS material, jwt secret, local agent state
nats: { url: nats://127.0.0.1:4222, credentials_file: "" }
database: { url: mysql://root@127.0.0.1:3306/vigil, max_connections: 16 }
gateway:
  http_listen: 0.0.0.0:8080
  grpc_listen: 0.0.0.0:9090
  public_address: ""
  tls: { cert: "", key: "", ca: "" }
  tls_hostnames: []
  jwt_secret_file: ""
  access_token_ttl: 15m
  refresh_token_ttl: 30d
  max_message_bytes: 1048576
  max_clock_skew: 5m
collector: { batch_size: 500, batch_wait: 100ms, offline_after: 30s, sweep_interval: 5s, partitions_ahead_days: 3, retention_raw: 7d, retention_hourly: 90d }
up: { tenant: default, admin_email: admin@localhost, agent: true, agent_binary: "", nats: true }
log: { level: info, format: text }   # text | json
"#;

    fn no_env() -> HashMap<String, String> {
        HashMap::new()
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn error_of(text: &str, env: &HashMap<String, String>) -> String {
        Config::from_yaml(text, "/etc/vigil/vigil.yaml", env).expect_err("config was accepted").to_string()
    }

    #[test]
    fn a_bad_downsample_schedule_is_refused_naming_the_key_and_the_value() {
        let error = error_of("collector: { downsample: { schedule: \"61 * * * *\" } }\n", &no_env());
        assert!(error.starts_with("/etc/vigil/vigil.yaml: collector.downsample.schedule: "), "{error}");
        assert!(error.contains("61 * * * *"), "{error}");
        let error = error_of("", &env(&[("VIGIL_COLLECTOR_DOWNSAMPLE_SCHEDULE", "hourly")]));
        assert!(
            error.starts_with("environment variable VIGIL_COLLECTOR_DOWNSAMPLE_SCHEDULE: collector.downsample.schedule: "),
            "{error}"
        );
        assert!(error.contains("\"hourly\" has 1 fields; write 5"), "{error}");
        let config = Config::from_yaml("", "x.yaml", &env(&[("VIGIL_COLLECTOR_DOWNSAMPLE_SCHEDULE", "*/5 * * * *")])).unwrap();
        assert_eq!(config.collector.downsample.schedule, "*/5 * * * *");
    }

    #[test]
    fn missing_file_at_default_path_means_defaults() {
        // DEFAULT_PATH does not exist on the machines the tests run on
        if Path::new(DEFAULT_PATH).exists() {
            return;
        }
        assert_eq!(Config::load(None, &no_env()).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(Config::from_yaml("", "x.yaml", &no_env()).unwrap(), Config::default());
        assert_eq!(Config::from_yaml("# nothing\n", "x.yaml", &no_env()).unwrap(), Config::default());
    }

    #[test]
    fn missing_explicit_file_is_an_error_naming_it() {
        let error = Config::load(Some(Path::new("/nonexistent/vigil.yaml")), &no_env()).unwrap_err().to_string();
        assert!(error.starts_with("/nonexistent/vigil.yaml: cannot read"), "{error}");
        let error = Config::load(None, &env(&[("VIGIL_CONFIG", "/nonexistent/other.yaml")])).unwrap_err().to_string();
        assert!(error.starts_with("/nonexistent/other.yaml: cannot read"), "{error}");
    }

    #[test]
    fn documented_example_parses_to_the_defaults() {
        let config = Config::from_yaml(EXAMPLE, "example.yaml", &no_env()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.gateway.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.collector.batch_wait, Duration::from_millis(100));
    }

    #[test]
    fn file_values_override_defaults() {
        let text = "gateway: { http_listen: 127.0.0.1:0, tls_hostnames: [vigil.example.com, 10.0.0.5] }\ncollector: { batch_size: 10 }\nlog: { format: json }\n";
        let config = Config::from_yaml(text, "x.yaml", &no_env()).unwrap();
        assert_eq!(config.gateway.http_listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.gateway.tls_hostnames, vec!["vigil.example.com", "10.0.0.5"]);
        assert_eq!(config.collector.batch_size, 10);
        assert_eq!(config.collector.batch_wait, vigil_collector::CollectorConfig::default().batch_wait);
        assert_eq!(config.log.format, LogFormat::Json);
    }

    #[test]
    fn unknown_key_is_rejected_naming_file_and_key() {
        let error = error_of("collector: { batchsize: 10 }\n", &no_env());
        assert!(error.starts_with("/etc/vigil/vigil.yaml: unknown key collector.batchsize;"), "{error}");
        assert!(error.contains("batch_size"), "valid keys are listed: {error}");
        let error = error_of("colector: {}\n", &no_env());
        assert!(error.contains("unknown key colector"), "{error}");
        let error = error_of("gateway: { tls: { crt: a } }\n", &no_env());
        assert!(error.contains("unknown key gateway.tls.crt"), "{error}");
    }

    #[test]
    fn bad_duration_is_rejected_naming_file_key_and_value() {
        let error = error_of("gateway: { access_token_ttl: 15x }\n", &no_env());
        assert!(error.starts_with(r#"/etc/vigil/vigil.yaml: gateway.access_token_ttl: "15x" is not a duration"#), "{error}");
    }

    #[test]
    fn bad_url_scheme_is_rejected_naming_file_key_and_value() {
        let error = error_of("nats: { url: http://127.0.0.1:4222 }\n", &no_env());
        assert!(error.starts_with(r#"/etc/vigil/vigil.yaml: nats.url: "http://127.0.0.1:4222" is not a nats url"#), "{error}");
        let error = error_of("database: { url: postgres://localhost/vigil }\n", &no_env());
        assert!(
            error.starts_with(r#"/etc/vigil/vigil.yaml: database.url: "postgres://localhost/vigil" is not a mysql url"#),
            "{error}"
        );
        let error = error_of("database: { url: \"mysql://root@localhost\" }\n", &no_env());
        assert!(error.contains("database.url") && error.contains("names no database"), "{error}");
    }

    #[test]
    fn bad_listen_address_is_rejected_naming_file_key_and_value() {
        let error = error_of("gateway: { grpc_listen: \"localhost:90x\" }\n", &no_env());
        assert!(
            error.starts_with(r#"/etc/vigil/vigil.yaml: gateway.grpc_listen: "localhost:90x" is not a listen address"#),
            "{error}"
        );
    }

    #[test]
    fn zero_batch_size_is_rejected() {
        let error = error_of("collector: { batch_size: 0 }\n", &no_env());
        assert!(error.starts_with("/etc/vigil/vigil.yaml: collector.batch_size: 0"), "{error}");
    }

    #[test]
    fn wrong_version_is_rejected() {
        let error = error_of("version: 2\n", &no_env());
        assert!(error.contains("version: 2 is not a supported version"), "{error}");
    }

    #[test]
    fn wrong_type_is_rejected_with_its_value() {
        let error = error_of("collector: { batch_size: lots }\n", &no_env());
        assert!(error.contains("collector.batch_size") && error.contains("lots"), "{error}");
        let error = error_of("nats: 5\n", &no_env());
        assert!(error.contains("nats: 5 is not a section"), "{error}");
    }

    #[test]
    fn partial_tls_files_are_rejected_naming_the_missing_key() {
        let error = error_of("gateway: { tls: { cert: /a.pem, key: /a.key } }\n", &no_env());
        assert!(error.starts_with("/etc/vigil/vigil.yaml: gateway.tls.ca: is empty"), "{error}");
    }

    #[test]
    fn env_override_is_applied() {
        let vars = env(&[
            ("VIGIL_DATABASE_URL", "mysql://vigil:pw@db:3306/other"),
            ("VIGIL_COLLECTOR_BATCH_SIZE", "42"),
            ("VIGIL_GATEWAY_HTTP_LISTEN", "127.0.0.1:0"),
            ("VIGIL_GATEWAY_TLS_HOSTNAMES", "a.example, 10.1.2.3"),
            ("VIGIL_UP_AGENT", "false"),
            ("VIGIL_DATA_DIR", "/tmp/vigil-data"),
            ("VIGIL_CONFIG", "ignored-by-from-yaml"),
            ("PATH", "/usr/bin"),
        ]);
        let config = Config::from_yaml("database: { url: mysql://root@127.0.0.1/vigil }\n", "x.yaml", &vars).unwrap();
        assert_eq!(config.database.url, "mysql://vigil:pw@db:3306/other");
        assert_eq!(config.collector.batch_size, 42);
        assert_eq!(config.gateway.http_listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.gateway.tls_hostnames, vec!["a.example", "10.1.2.3"]);
        assert!(!config.up.agent);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/vigil-data"));
    }

    #[test]
    fn bad_env_value_is_rejected_naming_the_variable() {
        let error = error_of("", &env(&[("VIGIL_NATS_URL", "redis://x")]));
        assert!(error.starts_with(r#"environment variable VIGIL_NATS_URL: nats.url: "redis://x" is not a nats url"#), "{error}");
    }

    #[test]
    fn unknown_env_variable_is_rejected_listing_valid_ones() {
        let error = error_of("", &env(&[("VIGIL_FOO", "1")]));
        assert!(error.starts_with("unknown environment variable VIGIL_FOO; valid ones:"), "{error}");
        assert!(error.contains("VIGIL_DATABASE_URL") && error.contains("VIGIL_COLLECTOR_BATCH_SIZE"), "{error}");
    }

    #[test]
    fn every_key_has_an_env_name_and_a_doc() {
        let names = env_names_of_defaults();
        for expected in [
            "VIGIL_NATS_URL",
            "VIGIL_DATABASE_URL",
            "VIGIL_GATEWAY_HTTP_LISTEN",
            "VIGIL_DATA_DIR",
            "VIGIL_COLLECTOR_BATCH_SIZE",
            "VIGIL_GATEWAY_TLS_CERT",
        ] {
            assert!(names.iter().any(|name| name == expected), "{expected} missing from {names:?}");
        }
        let mut paths = Vec::new();
        leaves(&default_tree(), &mut Vec::new(), &mut paths);
        let docs: HashMap<&str, &str> = KEY_DOCS.iter().copied().collect();
        for path in &paths {
            assert!(docs.contains_key(path.join(".").as_str()), "{} has no doc in KEY_DOCS", path.join("."));
        }
        assert_eq!(paths.len(), KEY_DOCS.len(), "KEY_DOCS documents a key that does not exist");
        assert_eq!(names.len(), paths.len(), "two keys share one environment variable name");
    }

    #[test]
    fn printed_config_parses_back_to_itself() {
        let mut config = Config::default();
        config.gateway.tls_hostnames = vec!["a.example".into(), "10.0.0.1".into()];
        config.collector.batch_wait = Duration::from_millis(250);
        let printed = config.render_documented();
        assert!(printed.contains("access_token_ttl: 15m  # lifetime of a user access token; default: 15m"), "{printed}");
        assert_eq!(Config::from_yaml(&printed, "printed", &no_env()).unwrap(), config);
    }

    #[test]
    fn printed_config_masks_database_password() {
        let mut config = Config::default();
        config.database.url = "mysql://vigil:s3cret@db/vigil".into();
        let printed = config.render_documented();
        assert!(!printed.contains("s3cret") && printed.contains("mysql://vigil:***@db/vigil"), "{printed}");
    }

    #[test]
    fn nats_credentials_default_to_a_creds_file_in_data_dir() {
        let config = Config::from_yaml("data_dir: /srv/vigil\n", "x.yaml", &no_env()).unwrap();
        assert_eq!(config.nats_credentials_path(), PathBuf::from("/srv/vigil/nats.creds"));
        assert_eq!(config.nats_keys_path(), PathBuf::from("/srv/vigil/nats.keys"));
        assert_eq!(config.nats_dir(), PathBuf::from("/srv/vigil/nats"));
        assert!(config.up.nats);
        let vars = env(&[("VIGIL_NATS_CREDENTIALS_FILE", "/run/secrets/nats.creds"), ("VIGIL_UP_NATS", "false")]);
        let config = Config::from_yaml("", "x.yaml", &vars).unwrap();
        assert_eq!(config.nats_credentials_path(), PathBuf::from("/run/secrets/nats.creds"));
        assert!(!config.up.nats);
    }

    #[test]
    fn the_old_nats_user_and_password_keys_are_refused() {
        let error = error_of("nats: { user: vigil }\n", &no_env());
        assert!(error.contains("nats") && error.contains("user"), "{error}");
        let error = error_of("nats: { password_file: /x }\n", &no_env());
        assert!(error.contains("password_file"), "{error}");
    }

    #[test]
    fn printed_config_names_the_nats_creds_file_never_a_seed() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        let keys = crate::secret::ensure_nats_keys(&config.nats_keys_path()).unwrap();
        crate::secret::ensure_nats_credentials(&config.nats_credentials_path(), &config.nats_keys_path()).unwrap();
        let printed = config.render_documented();
        assert!(printed.contains("credentials_file: ''  # creds file"), "{printed}");
        assert!(!printed.contains(&keys.platform_user) && !printed.contains(&keys.operator), "{printed}");
    }

    #[test]
    fn agent_address_adds_the_grpc_port_when_missing() {
        let mut config = Config::default();
        config.gateway.public_address = "vigil.example.com".into();
        assert_eq!(config.agent_address(9090), "vigil.example.com:9090");
        config.gateway.public_address = "vigil.example.com:443".into();
        assert_eq!(config.agent_address(9090), "vigil.example.com:443");
        config.gateway.public_address = "::1".into();
        assert_eq!(config.agent_address(9090), "[::1]:9090");
        config.gateway.public_address = String::new();
        assert_eq!(config.agent_address(9090), format!("{}:9090", hostname()));
    }
}
