//! Container metrics from the engines' REST APIs on their unix sockets
//! (seed §3.4): Docker and Podman through the Docker Engine API
//! (`/containers/json?all=1&size=1`, then `/containers/{id}/stats?stream=false`
//! for each running container), Incus through `/1.0/instances?recursion=2`.
//!
//! Invariants:
//! - the list is asked afresh at every collection, so containers that appear
//!   or disappear show up in the next snapshot;
//! - every request has its own timeout and the stats of all containers are
//!   asked concurrently, so one slow container (or a socket that never
//!   answers) delays the snapshot by at most [`ContainerCollector::timeout`]
//!   (list) + the same again (stats);
//! - an engine that fails is reported as a [`SectionFailure`] for
//!   `containers.<runtime>`; the other engines' containers are still returned;
//! - the stats of a single container that fail leave that container with its
//!   list fields only (status, image, created, disk), logged at debug level.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_proto::ContainerMetrics;

use crate::config::{ContainersConfig, Runtime};
use crate::http;

/// Default per-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
pub const DEFAULT_PODMAN_SOCKET: &str = "/run/podman/podman.sock";
pub const DEFAULT_INCUS_SOCKET: &str = "/var/lib/incus/unix.socket";

/// The kind of API a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Docker,
    Podman,
    Incus,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
            Self::Incus => "incus",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Docker, Self::Podman, Self::Incus].into_iter().find(|engine| engine.name() == name)
    }
}

/// The engines of `endpoints`, each once, in order (what remote actions
/// act through).
pub fn engines(endpoints: &[Endpoint]) -> Vec<Engine> {
    let mut engines = Vec::new();
    for endpoint in endpoints {
        if !engines.contains(&endpoint.engine) {
            engines.push(endpoint.engine);
        }
    }
    engines
}

/// One socket to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub engine: Engine,
    pub socket: PathBuf,
}

/// A section of the snapshot that could not be collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionFailure {
    pub section: String,
    pub error: String,
}

impl From<SectionFailure> for vigil_proto::SectionError {
    fn from(failure: SectionFailure) -> Self {
        vigil_proto::SectionError { section: failure.section, error: failure.error }
    }
}

/// The endpoints `config` asks for: with `auto`, every default (or
/// configured) socket that exists; with one runtime, that runtime's sockets
/// even if absent (so a missing engine is reported). The same socket reached
/// twice (e.g. `docker.sock` linked to podman's) is asked once.
pub fn endpoints(config: &ContainersConfig) -> Vec<Endpoint> {
    let docker = vec![config.docker_socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DOCKER_SOCKET))];
    let podman = match &config.podman_socket {
        Some(path) => vec![path.clone()],
        None => {
            let mut paths = vec![PathBuf::from(DEFAULT_PODMAN_SOCKET)];
            if let Some(runtime_dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
                paths.push(PathBuf::from(runtime_dir).join("podman/podman.sock"));
            }
            paths
        }
    };
    let incus = vec![config.incus_socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_INCUS_SOCKET))];
    let candidates: Vec<(Engine, Vec<PathBuf>)> = match config.runtime {
        Runtime::Auto => vec![(Engine::Docker, docker), (Engine::Podman, podman), (Engine::Incus, incus)],
        Runtime::Docker => vec![(Engine::Docker, docker)],
        Runtime::Podman => vec![(Engine::Podman, podman)],
        Runtime::Incus => vec![(Engine::Incus, incus)],
    };
    let auto = config.runtime == Runtime::Auto;
    let mut seen = Vec::new();
    let mut endpoints = Vec::new();
    for (engine, paths) in candidates {
        let present: Vec<PathBuf> = paths.iter().filter(|path| path.exists()).cloned().collect();
        // An explicitly chosen runtime with no socket present is still asked,
        // so the snapshot says why it has no containers.
        let chosen = if present.is_empty() && !auto { paths.into_iter().take(1).collect() } else { present };
        for path in chosen {
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            endpoints.push(Endpoint { engine, socket: path });
        }
    }
    endpoints
}

/// Collects container metrics; keeps the previous Incus CPU counters.
#[derive(Debug)]
pub struct ContainerCollector {
    config: ContainersConfig,
    /// Fixed endpoints (tests); `None`: [`endpoints`] at each collection.
    fixed: Option<Vec<Endpoint>>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// (socket, instance name) → (cpu usage ns, when read).
    incus_cpu: HashMap<(PathBuf, String), (u64, Instant)>,
}

impl ContainerCollector {
    pub fn new(config: ContainersConfig) -> Self {
        Self { config, fixed: None, timeout: REQUEST_TIMEOUT, incus_cpu: HashMap::new() }
    }

    /// A collector asking exactly these endpoints.
    pub fn with_endpoints(config: ContainersConfig, endpoints: Vec<Endpoint>) -> Self {
        Self { fixed: Some(endpoints), ..Self::new(config) }
    }

    /// The endpoints the next collection will ask.
    pub fn current_endpoints(&self) -> Vec<Endpoint> {
        self.fixed.clone().unwrap_or_else(|| endpoints(&self.config))
    }

    /// Collects every engine concurrently; never fails as a whole.
    pub async fn collect(&mut self) -> (Vec<ContainerMetrics>, Vec<SectionFailure>) {
        let endpoints = self.current_endpoints();
        let timeout = self.timeout;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, endpoint) in endpoints.iter().cloned().enumerate() {
            tasks.spawn(async move {
                let result = match endpoint.engine {
                    Engine::Docker | Engine::Podman => collect_docker(&endpoint, timeout).await.map(Collected::Docker),
                    Engine::Incus => collect_incus(&endpoint.socket, timeout).await.map(Collected::Incus),
                };
                (index, result)
            });
        }
        let mut results: Vec<(usize, Result<Collected, String>)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                Err(join) => tracing::error!(error = %join, "container collection task failed"),
            }
        }
        results.sort_by_key(|(index, _)| *index);
        let mut containers = Vec::new();
        let mut failures = Vec::new();
        let mut seen_incus = Vec::new();
        let mut failed_sockets = Vec::new();
        for (index, result) in results {
            let endpoint = &endpoints[index];
            match result {
                Ok(Collected::Docker(list)) => containers.extend(list),
                Ok(Collected::Incus(instances)) => {
                    let now = Instant::now();
                    for (mut metrics, usage_ns) in instances {
                        let key = (endpoint.socket.clone(), metrics.name.clone());
                        if let Some(usage) = usage_ns {
                            if let Some((previous, at)) = self.incus_cpu.get(&key) {
                                let wall = now.duration_since(*at).as_nanos() as f64;
                                if wall > 0.0 && usage >= *previous {
                                    metrics.cpu_percent = round2((usage - previous) as f64 / wall * 100.0);
                                }
                            }
                            self.incus_cpu.insert(key.clone(), (usage, now));
                        }
                        seen_incus.push(key);
                        containers.push(metrics);
                    }
                }
                Err(error) => {
                    failed_sockets.push(endpoint.socket.clone());
                    tracing::warn!(runtime = endpoint.engine.name(), socket = %endpoint.socket.display(), error = %error, "container metrics not collected");
                    failures.push(SectionFailure { section: format!("containers.{}", endpoint.engine.name()), error });
                }
            }
        }
        // Forget instances that are gone, keep counters of failed sockets.
        self.incus_cpu.retain(|key, _| seen_incus.contains(key) || failed_sockets.contains(&key.0));
        self.filter_metrics(&mut containers);
        (containers, failures)
    }

    /// Zeroes the metrics left out of `collection.containers.metrics`.
    fn filter_metrics(&self, containers: &mut [ContainerMetrics]) {
        use crate::config::ContainerMetric as M;
        let wanted = &self.config.metrics;
        for container in containers {
            if !wanted.contains(&M::Cpu) {
                container.cpu_percent = 0.0;
            }
            if !wanted.contains(&M::Memory) {
                container.memory_used = 0;
                container.memory_limit = 0;
                container.memory_percent = 0.0;
            }
            if !wanted.contains(&M::Disk) {
                container.disk_used = 0;
            }
            if !wanted.contains(&M::Network) {
                container.network_rx = 0;
                container.network_tx = 0;
            }
        }
    }
}

enum Collected {
    Docker(Vec<ContainerMetrics>),
    /// Metrics without cpu, with the cumulated cpu ns.
    Incus(Vec<(ContainerMetrics, Option<u64>)>),
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn json(bytes: &[u8], what: &str) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|error| format!("{what}: response is not JSON: {error}"))
}

fn u64_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(|v| v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)))
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Docker Engine API (Docker, or Podman's Docker-compatible API).
async fn collect_docker(endpoint: &Endpoint, timeout: Duration) -> Result<Vec<ContainerMetrics>, String> {
    let socket = &endpoint.socket;
    let response = http::get(socket, "/containers/json?all=1&size=1", timeout).await.map_err(|e| e.to_string())?;
    let list = json(&response.body, &format!("{}: /containers/json", socket.display()))?;
    let list = parse_docker_list(&list, endpoint.engine)
        .map_err(|reason| format!("{}: /containers/json: {reason}", socket.display()))?;
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (id, metrics)) in list.iter().enumerate() {
        if metrics.status != "running" {
            continue;
        }
        let socket = socket.clone();
        let id = id.clone();
        tasks.spawn(async move {
            let path = format!("/containers/{id}/stats?stream=false");
            let stats = match http::get(&socket, &path, timeout).await {
                Ok(response) => json(&response.body, &path),
                Err(error) => Err(error.to_string()),
            };
            (index, stats)
        });
    }
    let mut list = list;
    while let Some(joined) = tasks.join_next().await {
        let Ok((index, stats)) = joined else { continue };
        match stats {
            Ok(stats) => apply_docker_stats(&mut list[index].1, &stats),
            Err(error) => tracing::debug!(container = %list[index].1.name, error = %error, "container stats not collected"),
        }
    }
    Ok(list.into_iter().map(|(_, metrics)| metrics).collect())
}

/// Parses a `/containers/json?all=1&size=1` answer into (id, metrics with the
/// list fields).
pub fn parse_docker_list(list: &Value, engine: Engine) -> Result<Vec<(String, ContainerMetrics)>, String> {
    let items = list.as_array().ok_or("expected a JSON array of containers")?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let id = str_at(item, "/Id").ok_or("a container has no Id")?.to_owned();
        let name = item
            .pointer("/Names/0")
            .and_then(Value::as_str)
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| id.chars().take(12).collect());
        let created = match item.get("Created") {
            Some(Value::Number(seconds)) => seconds
                .as_i64()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            Some(Value::String(text)) => text.clone(),
            _ => String::new(),
        };
        let status = str_at(item, "/State").unwrap_or("unknown").to_ascii_lowercase();
        let metrics = ContainerMetrics {
            name,
            runtime: engine.name().to_owned(),
            status,
            created,
            image: str_at(item, "/Image").unwrap_or_default().to_owned(),
            disk_used: u64_at(item, "/SizeRw").unwrap_or(0),
            ..Default::default()
        };
        out.push((id, metrics));
    }
    Ok(out)
}

/// Fills cpu, memory, network and processes from a
/// `/containers/{id}/stats?stream=false` answer.
pub fn apply_docker_stats(metrics: &mut ContainerMetrics, stats: &Value) {
    // cpu: (cpu_delta / system_delta) * online_cpus * 100
    let total = u64_at(stats, "/cpu_stats/cpu_usage/total_usage");
    let pre_total = u64_at(stats, "/precpu_stats/cpu_usage/total_usage");
    let system = u64_at(stats, "/cpu_stats/system_cpu_usage");
    let pre_system = u64_at(stats, "/precpu_stats/system_cpu_usage");
    let online = u64_at(stats, "/cpu_stats/online_cpus")
        .filter(|n| *n > 0)
        .or_else(|| stats.pointer("/cpu_stats/cpu_usage/percpu_usage").and_then(Value::as_array).map(|a| a.len() as u64));
    if let (Some(total), Some(pre_total), Some(system), Some(pre_system), Some(online)) =
        (total, pre_total, system, pre_system, online)
    {
        let cpu_delta = total.saturating_sub(pre_total) as f64;
        let system_delta = system.saturating_sub(pre_system) as f64;
        if system_delta > 0.0 {
            metrics.cpu_percent = round2(cpu_delta / system_delta * online as f64 * 100.0);
        }
    }
    // memory: usage minus cache (cgroup v2: inactive_file; v1: total_inactive_file, cache)
    if let Some(usage) = u64_at(stats, "/memory_stats/usage") {
        let cache = u64_at(stats, "/memory_stats/stats/inactive_file")
            .or_else(|| u64_at(stats, "/memory_stats/stats/total_inactive_file"))
            .or_else(|| u64_at(stats, "/memory_stats/stats/cache"))
            .unwrap_or(0);
        let used = usage.saturating_sub(cache);
        let limit = u64_at(stats, "/memory_stats/limit").unwrap_or(0);
        metrics.memory_used = used;
        metrics.memory_limit = limit;
        metrics.memory_percent = if limit > 0 { round2(used as f64 / limit as f64 * 100.0) } else { 0.0 };
    }
    if let Some(networks) = stats.get("networks").and_then(Value::as_object) {
        metrics.network_rx = networks.values().filter_map(|n| u64_at(n, "/rx_bytes")).sum();
        metrics.network_tx = networks.values().filter_map(|n| u64_at(n, "/tx_bytes")).sum();
    }
    if let Some(pids) = u64_at(stats, "/pids_stats/current") {
        metrics.processes = pids.min(u64::from(u32::MAX)) as u32;
    }
}

async fn collect_incus(socket: &Path, timeout: Duration) -> Result<Vec<(ContainerMetrics, Option<u64>)>, String> {
    let response = http::get(socket, "/1.0/instances?recursion=2", timeout).await.map_err(|e| e.to_string())?;
    let body = json(&response.body, &format!("{}: /1.0/instances", socket.display()))?;
    parse_incus_instances(&body).map_err(|reason| format!("{}: /1.0/instances: {reason}", socket.display()))
}

/// Parses a `/1.0/instances?recursion=2` answer: metrics (cpu left at 0) and
/// the cumulated cpu usage in ns.
pub fn parse_incus_instances(body: &Value) -> Result<Vec<(ContainerMetrics, Option<u64>)>, String> {
    if let Some(error) = str_at(body, "/error").filter(|e| !e.is_empty()) {
        return Err(format!("incus error: {error}"));
    }
    let items = body.get("metadata").and_then(Value::as_array).ok_or("expected metadata to be a list of instances")?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let name = str_at(item, "/name").ok_or("an instance has no name")?.to_owned();
        let config = item.get("config");
        let config_str = |key: &str| config.and_then(|c| c.get(key)).and_then(Value::as_str);
        let image = match (config_str("image.os"), config_str("image.release")) {
            (Some(os), Some(release)) => format!("{}/{}", os.to_ascii_lowercase(), release),
            (Some(os), None) => os.to_ascii_lowercase(),
            _ => config_str("image.description").unwrap_or_default().to_owned(),
        };
        let state = item.get("state").filter(|s| !s.is_null());
        let status = state
            .and_then(|s| str_at(s, "/status"))
            .or_else(|| str_at(item, "/status"))
            .unwrap_or("unknown")
            .to_ascii_lowercase();
        let mut metrics = ContainerMetrics {
            name,
            runtime: Engine::Incus.name().to_owned(),
            status,
            created: str_at(item, "/created_at").unwrap_or_default().to_owned(),
            image,
            ..Default::default()
        };
        let mut cpu = None;
        if let Some(state) = state {
            cpu = u64_at(state, "/cpu/usage");
            let used = u64_at(state, "/memory/usage").unwrap_or(0);
            let limit = u64_at(state, "/memory/total")
                .filter(|t| *t > 0)
                .or_else(|| config_str("limits.memory").and_then(|text| crate::config::parse_size(text).ok()))
                .unwrap_or(0);
            metrics.memory_used = used;
            metrics.memory_limit = limit;
            metrics.memory_percent = if limit > 0 { round2(used as f64 / limit as f64 * 100.0) } else { 0.0 };
            metrics.disk_used = u64_at(state, "/disk/root/usage").unwrap_or(0);
            if let Some(networks) = state.get("network").and_then(Value::as_object) {
                for (interface, network) in networks {
                    if interface == "lo" {
                        continue;
                    }
                    metrics.network_rx += u64_at(network, "/counters/bytes_received").unwrap_or(0);
                    metrics.network_tx += u64_at(network, "/counters/bytes_sent").unwrap_or(0);
                }
            }
            metrics.processes = u64_at(state, "/processes").unwrap_or(0).min(u64::from(u32::MAX)) as u32;
        }
        out.push((metrics, cpu));
    }
    Ok(out)
}
