//! `GET /api/metrics/prometheus`: a tenant's latest host, container, service
//! and custom metrics in the Prometheus text format (0.0.4), for a
//! Prometheus that authenticates with a scrape token
//! (`Authorization: Bearer vgs_...`, [`crate::scrape_tokens`]).
//!
//! What is served (docs/grafana.md lists every family):
//! - `vigil_host_up` (1 or 0) and `vigil_host_last_seen_timestamp_seconds`
//!   for every host of the tenant;
//! - the latest values of **fresh** hosts only: a host is fresh when the
//!   collector does not call it offline and its `last_seen` is within
//!   `gateway.prometheus_stale_after` (2 min). A stale host's series
//!   disappear from the scrape, so Prometheus ends them with its own
//!   staleness markers, and `vigil_host_up` turns 0;
//! - no sample timestamps: a sample is stamped with the scrape time by
//!   Prometheus. With the collection time instead, a value scraped twice is
//!   a duplicate sample, a host whose clock runs behind writes out of order,
//!   and Prometheus would never mark a vanished series stale. How old the
//!   data is shows in `vigil_host_last_seen_timestamp_seconds`.
//!
//! Names follow Prometheus conventions: base units (`_bytes`, `_seconds`,
//! `_ratio` for 0..1), `_total` for counters. Labels: `host` (the host's
//! name) and `host_id` on every series, plus `mount` and `fstype`,
//! `interface`, `container` and `runtime`, `service`. A custom metric
//! becomes `vigil_custom_<name>` (a counter `vigil_custom_<name>_total`), its
//! name lowercased with every character outside `[a-z0-9_:]` replaced by
//! `_`; when two names of a host end up the same, the first by name is kept.
//!
//! The text is written here rather than with `prometheus-client`: that crate
//! (0.24) writes label values unescaped (a container name holding `"` or a
//! newline, which the agent reports as the runtime has it, would break the
//! scrape) and only OpenMetrics, whose counter families promtool's linter
//! refuses; and it wants a registry built per scrape. Its cost would be
//! small (710,000 gauge samples through its `Collector` API: ~120 ms, against
//! ~45 ms for the same text written here, in a 1 s scrape); correctness
//! decided. [`escape_label_value`] is the one escaping, each host's labels
//! are escaped once per scrape.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use vigil_bus::messages::{self, HostLatest, HostStatus, LatestPage, MAX_LATEST_HOSTS};
use vigil_bus::subjects::collector;

use crate::error::ApiError;
use crate::{scrape_tokens, Shared};

/// Content type of the classic Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type AppState = Arc<Shared>;

#[utoipa::path(
    get,
    path = "/metrics/prometheus",
    tag = "prometheus",
    security(("scrape_token" = [])),
    responses(
        (status = 200, description = "the tenant's latest metrics in the Prometheus text format 0.0.4 (docs/grafana.md)",
         content_type = "text/plain", body = String),
    ),
)]
pub(crate) async fn exposition(State(shared): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = scrape_tokens::bearer(headers.get(header::AUTHORIZATION))?;
    let tenant_id = scrape_tokens::authenticate(&shared.pool, token).await?;
    let now = Utc::now();
    let stale_after = chrono::Duration::from_std(shared.config.settings.prometheus_stale_after).unwrap_or(chrono::Duration::MAX);
    let fresh_since = now.checked_sub_signed(stale_after).unwrap_or(DateTime::UNIX_EPOCH);
    let hosts = latest_of_tenant(&shared.nats, &tenant_id, fresh_since).await?;
    let host_count = hosts.len();
    let (body, series) = tokio::task::spawn_blocking(move || render(&hosts, fresh_since))
        .await
        .map_err(|e| ApiError::internal("writing the prometheus text", e))?;
    tracing::debug!(tenant_id, hosts = host_count, series, bytes = body.len(), "prometheus scrape served");
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// Cursors the tenant's hosts are read with, side by side (each a shard of
/// the hosts, paged by id): the collector's statements, its encoding and
/// this side's decoding of one shard overlap those of the others.
const CURSORS: u32 = 4;

/// Every host of the tenant with its latest data (only fresh hosts' data is
/// read), by id.
async fn latest_of_tenant(
    nats: &async_nats::Client,
    tenant_id: &str,
    fresh_since: DateTime<Utc>,
) -> Result<Vec<HostLatest>, ApiError> {
    let cursors = (0..CURSORS).map(|shard| {
        let (nats, tenant_id) = (nats.clone(), tenant_id.to_owned());
        tokio::spawn(async move { shard_of_tenant(&nats, &tenant_id, fresh_since, shard).await })
    });
    let mut hosts = Vec::new();
    for shard in futures::future::join_all(cursors).await {
        hosts.extend(shard.map_err(|e| ApiError::internal("reading the tenant's hosts", e))??);
    }
    hosts.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    Ok(hosts)
}

/// One shard of the tenant's hosts, page after page.
async fn shard_of_tenant(
    nats: &async_nats::Client,
    tenant_id: &str,
    fresh_since: DateTime<Utc>,
    shard: u32,
) -> Result<Vec<HostLatest>, vigil_bus::ServiceError> {
    let mut hosts: Vec<HostLatest> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let request = LatestPage {
            tenant_id: tenant_id.to_owned(),
            after: after.take(),
            limit: MAX_LATEST_HOSTS,
            fresh_since,
            shard,
            shards: CURSORS,
        };
        let page: Vec<HostLatest> = messages::request(nats, collector::HOSTS_LATEST, &request).await?;
        let last_page = page.len() < MAX_LATEST_HOSTS as usize;
        after = page.last().map(|host| host.id.clone());
        hosts.extend(page);
        if last_page || after.is_none() {
            return Ok(hosts);
        }
    }
}

// ---------------------------------------------------------------------------
// The text

/// `value` escaped for a label value: `\` → `\\`, `"` → `\"`, newline → `\n`
/// (the only three escapes of the text format).
pub fn escape_label_value(value: &str, out: &mut Vec<u8>) {
    for byte in value.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            other => out.push(other),
        }
    }
}

/// A custom metric's name as a metric name suffix: lowercased, every
/// character outside `[a-z0-9_:]` replaced by `_`; a gauge's `_total`
/// suffix is dropped (the convention keeps it for counters). `None` when
/// nothing usable is left.
pub fn sanitize_name(name: &str, counter: bool) -> Option<String> {
    let mut clean: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | ':') => c,
            _ => '_',
        })
        .collect();
    if clean.chars().all(|c| c == '_') {
        return None;
    }
    if counter {
        if !clean.ends_with("_total") {
            clean.push_str("_total");
        }
    } else if let Some(stripped) = clean.strip_suffix("_total") {
        if stripped.is_empty() {
            return None;
        }
        clean.truncate(stripped.len());
    }
    Some(clean)
}

/// A value as the text format writes it.
enum Value {
    Int(u64),
    Float(f64),
}

struct Text {
    out: Vec<u8>,
    series: usize,
    /// The family whose HELP/TYPE lines are not written yet (written with
    /// its first sample, so a family without samples costs nothing).
    pending: Option<(&'static str, &'static str, &'static str)>,
}

impl Text {
    fn family(&mut self, name: &'static str, kind: &'static str, help: &'static str) {
        self.pending = Some((name, kind, help));
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        self.out.extend_from_slice(b"# HELP ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(help.as_bytes());
        self.out.extend_from_slice(b"\n# TYPE ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(kind.as_bytes());
        self.out.push(b'\n');
    }

    /// One sample of the pending or current family: `host_labels` already
    /// escaped (`host="..",host_id=".."`), `extra` escaped here.
    fn sample(&mut self, name: &str, host_labels: &[u8], extra: &[(&str, &str)], value: Value) {
        if let Some((family, kind, help)) = self.pending.take() {
            self.header(family, kind, help);
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'{');
        self.out.extend_from_slice(host_labels);
        for (label, text) in extra {
            self.out.push(b',');
            self.out.extend_from_slice(label.as_bytes());
            self.out.extend_from_slice(b"=\"");
            escape_label_value(text, &mut self.out);
            self.out.push(b'"');
        }
        self.out.extend_from_slice(b"} ");
        match value {
            Value::Int(number) => self.out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes()),
            Value::Float(number) if number.is_nan() => self.out.extend_from_slice(b"NaN"),
            Value::Float(number) if number.is_infinite() => {
                self.out.extend_from_slice(if number > 0.0 { b"+Inf" } else { b"-Inf" })
            }
            Value::Float(number) => self.out.extend_from_slice(ryu::Buffer::new().format_finite(number).as_bytes()),
        }
        self.out.push(b'\n');
        self.series += 1;
    }
}

/// A host as the text shows it.
struct Shown<'a> {
    host: &'a HostLatest,
    labels: Vec<u8>,
}

type HostGauge = (&'static str, &'static str, fn(&vigil_bus::messages::LatestData) -> Value);

/// Host families of one value each: name, help, value.
const HOST_GAUGES: &[HostGauge] = &[
    ("vigil_host_uptime_seconds", "Seconds since the host booted.", |d| Value::Int(d.host.uptime)),
    ("vigil_host_cpu_usage_ratio", "CPU busy, all cores together (0 to 1).", |d| Value::Float(d.host.cpu.percent / 100.0)),
    ("vigil_host_cpu_cores", "CPU cores of the host.", |d| Value::Int(u64::from(d.host.cpu.cores))),
    ("vigil_host_memory_total_bytes", "Memory of the host.", |d| Value::Int(d.host.memory.total)),
    ("vigil_host_memory_used_bytes", "Memory used.", |d| Value::Int(d.host.memory.used)),
    ("vigil_host_memory_available_bytes", "Memory available to new processes.", |d| Value::Int(d.host.memory.available)),
    ("vigil_host_swap_total_bytes", "Swap space of the host.", |d| Value::Int(d.host.memory.swap_total)),
    ("vigil_host_swap_used_bytes", "Swap space used.", |d| Value::Int(d.host.memory.swap_used)),
    ("vigil_host_load1", "Load average over 1 minute.", |d| Value::Float(d.host.load.load_1m)),
    ("vigil_host_load5", "Load average over 5 minutes.", |d| Value::Float(d.host.load.load_5m)),
    ("vigil_host_load15", "Load average over 15 minutes.", |d| Value::Float(d.host.load.load_15m)),
];

type InterfaceCounter = (&'static str, &'static str, fn(&vigil_bus::messages::InterfaceMetrics) -> u64);

const INTERFACE_COUNTERS: &[InterfaceCounter] = &[
    ("vigil_host_network_receive_bytes_total", "Bytes received by the interface since boot.", |i| i.rx_bytes),
    ("vigil_host_network_transmit_bytes_total", "Bytes sent by the interface since boot.", |i| i.tx_bytes),
    ("vigil_host_network_receive_packets_total", "Packets received by the interface since boot.", |i| i.rx_packets),
    ("vigil_host_network_transmit_packets_total", "Packets sent by the interface since boot.", |i| i.tx_packets),
    ("vigil_host_network_receive_errors_total", "Receive errors of the interface since boot.", |i| i.rx_errors),
    ("vigil_host_network_transmit_errors_total", "Send errors of the interface since boot.", |i| i.tx_errors),
];

type ContainerFamily = (&'static str, &'static str, &'static str, fn(&vigil_bus::messages::ContainerMetrics) -> Value);

const CONTAINER_FAMILIES: &[ContainerFamily] = &[
    ("vigil_container_running", "gauge", "1 when the container is running, else 0.", |c| {
        Value::Int(u64::from(c.status == "running"))
    }),
    ("vigil_container_cpu_usage_ratio", "gauge", "CPU used by the container, in CPUs (1 is one full core).", |c| {
        Value::Float(c.cpu_percent / 100.0)
    }),
    ("vigil_container_memory_used_bytes", "gauge", "Memory used by the container.", |c| Value::Int(c.memory_used)),
    ("vigil_container_memory_limit_bytes", "gauge", "Memory limit of the container (0: none).", |c| Value::Int(c.memory_limit)),
    ("vigil_container_disk_used_bytes", "gauge", "Disk space used by the container's writable layer.", |c| {
        Value::Int(c.disk_used)
    }),
    ("vigil_container_network_receive_bytes_total", "counter", "Bytes received by the container since it started.", |c| {
        Value::Int(c.network_rx)
    }),
    ("vigil_container_network_transmit_bytes_total", "counter", "Bytes sent by the container since it started.", |c| {
        Value::Int(c.network_tx)
    }),
    ("vigil_container_processes", "gauge", "Processes in the container.", |c| Value::Int(u64::from(c.processes))),
];

type ServiceFamily = (&'static str, &'static str, fn(&vigil_bus::messages::ServiceMetrics) -> Value);

const SERVICE_FAMILIES: &[ServiceFamily] = &[
    ("vigil_service_up", "1 when the service is active, else 0.", |s| Value::Int(u64::from(s.status == "active"))),
    ("vigil_service_cpu_usage_ratio", "CPU used by the service's processes, in CPUs (1 is one full core).", |s| {
        Value::Float(s.cpu_percent / 100.0)
    }),
    ("vigil_service_memory_bytes", "Memory used by the service's processes.", |s| Value::Int(s.memory)),
    ("vigil_service_uptime_seconds", "Seconds since the service started.", |s| Value::Int(s.uptime)),
];

/// The text of every host, family after family; returns it with its
/// number of series.
pub(crate) fn render(hosts: &[HostLatest], fresh_since: DateTime<Utc>) -> (Vec<u8>, usize) {
    let shown: Vec<Shown<'_>> = hosts
        .iter()
        .map(|host| {
            let mut labels = Vec::with_capacity(host.name.len() + host.id.len() + 20);
            labels.extend_from_slice(b"host=\"");
            escape_label_value(&host.name, &mut labels);
            labels.extend_from_slice(b"\",host_id=\"");
            escape_label_value(&host.id, &mut labels);
            labels.push(b'"');
            Shown { host, labels }
        })
        .collect();
    let up = |host: &HostLatest| {
        host.status != HostStatus::Offline && host.last_seen.is_some_and(|seen| seen >= fresh_since) && host.latest.is_some()
    };
    let fresh: Vec<(&Shown<'_>, &vigil_bus::messages::LatestData)> =
        shown.iter().filter(|s| up(s.host)).filter_map(|s| s.host.latest.as_ref().map(|data| (s, data))).collect();
    let estimate = 160 + fresh.iter().map(|(_, d)| 40 + 4 * d.containers.len() + 2 * d.services.len()).sum::<usize>() * 100;
    let mut text = Text { out: Vec::with_capacity(estimate), series: 0, pending: None };

    text.family("vigil_host_up", "gauge", "1 when the host reports and its data is fresh, else 0 (its other series are absent).");
    for s in &shown {
        text.sample("vigil_host_up", &s.labels, &[], Value::Int(u64::from(up(s.host))));
    }
    text.family("vigil_host_last_seen_timestamp_seconds", "gauge", "When the host's newest snapshot was taken (unix seconds).");
    for s in &shown {
        if let Some(seen) = s.host.last_seen {
            text.sample(
                "vigil_host_last_seen_timestamp_seconds",
                &s.labels,
                &[],
                Value::Float(seen.timestamp_millis() as f64 / 1000.0),
            );
        }
    }
    for (name, help, value) in HOST_GAUGES {
        text.family(name, "gauge", help);
        for (s, data) in &fresh {
            text.sample(name, &s.labels, &[], value(data));
        }
    }
    text.family("vigil_host_filesystem_size_bytes", "gauge", "Size of the filesystem mounted there.");
    for (s, data) in &fresh {
        for mount in &data.host.disk.mounts {
            let labels = [("mount", mount.path.as_str()), ("fstype", mount.fs_type.as_str())];
            text.sample("vigil_host_filesystem_size_bytes", &s.labels, &labels, Value::Int(mount.total));
        }
    }
    text.family("vigil_host_filesystem_used_bytes", "gauge", "Space used on the filesystem mounted there.");
    for (s, data) in &fresh {
        for mount in &data.host.disk.mounts {
            let labels = [("mount", mount.path.as_str()), ("fstype", mount.fs_type.as_str())];
            text.sample("vigil_host_filesystem_used_bytes", &s.labels, &labels, Value::Int(mount.used));
        }
    }
    for (name, help, value) in INTERFACE_COUNTERS {
        text.family(name, "counter", help);
        for (s, data) in &fresh {
            for interface in &data.host.network.interfaces {
                text.sample(name, &s.labels, &[("interface", interface.name.as_str())], Value::Int(value(interface)));
            }
        }
    }
    for (name, kind, help, value) in CONTAINER_FAMILIES {
        text.family(name, kind, help);
        for (s, data) in &fresh {
            for container in &data.containers {
                let labels = [("container", container.name.as_str()), ("runtime", container.runtime.as_str())];
                text.sample(name, &s.labels, &labels, value(container));
            }
        }
    }
    for (name, help, value) in SERVICE_FAMILIES {
        text.family(name, "gauge", help);
        for (s, data) in &fresh {
            for service in &data.services {
                text.sample(name, &s.labels, &[("service", service.name.as_str())], value(service));
            }
        }
    }
    render_custom(&mut text, &fresh);
    let series = text.series;
    (text.out, series)
}

/// Custom metrics: one family per sanitised name; a family keeps the kind
/// it was first seen with, a host the first of its names that map to it.
fn render_custom(text: &mut Text, fresh: &[(&Shown<'_>, &vigil_bus::messages::LatestData)]) {
    let mut families: BTreeMap<String, (bool, Vec<(usize, f64)>)> = BTreeMap::new();
    let mut seen: HashSet<(String, usize)> = HashSet::new();
    for (index, (_, data)) in fresh.iter().enumerate() {
        for point in &data.custom {
            if point.error.is_some() {
                continue;
            }
            let counter = point.kind == "counter";
            let Some(name) = sanitize_name(&point.name, counter) else { continue };
            let family = format!("vigil_custom_{name}");
            if !seen.insert((family.clone(), index)) {
                continue;
            }
            let entry = families.entry(family).or_insert((counter, Vec::new()));
            if entry.0 == counter {
                entry.1.push((index, point.value));
            }
        }
    }
    for (family, (counter, samples)) in &families {
        let (kind, help) = if *counter {
            ("counter", "A custom metric of the agent (a counter).")
        } else {
            ("gauge", "A custom metric of the agent (a gauge).")
        };
        text.header(family, kind, help);
        for (index, value) in samples {
            text.sample(family, &fresh[*index].0.labels, &[], Value::Float(*value));
        }
    }
}

#[cfg(test)]
mod tests {
    use vigil_bus::messages::{
        ContainerMetrics, CustomPoint, HostMetrics, InterfaceMetrics, LatestData, MountMetrics, ServiceMetrics,
    };

    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = Vec::new();
        escape_label_value(value, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        assert_eq!(escaped(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escaped("line\nnext"), "line\\nnext");
        assert_eq!(escaped("/var/lib/Ünïcode {x=1}"), "/var/lib/Ünïcode {x=1}");
    }

    #[test]
    fn custom_names_become_lowercase_metric_names_and_counters_end_in_total() {
        assert_eq!(sanitize_name("Queue.Depth", false).as_deref(), Some("queue_depth"));
        assert_eq!(sanitize_name("jobs done", true).as_deref(), Some("jobs_done_total"));
        assert_eq!(sanitize_name("jobs_total", true).as_deref(), Some("jobs_total"));
        assert_eq!(sanitize_name("level_total", false).as_deref(), Some("level"));
        assert_eq!(sanitize_name("été-1", false).as_deref(), Some("_t__1"));
        assert_eq!(sanitize_name("...", false), None);
        assert_eq!(sanitize_name("_total", false), None);
    }

    fn host(id: &str, name: &str, seen: DateTime<Utc>, status: HostStatus, latest: Option<LatestData>) -> HostLatest {
        HostLatest { id: id.into(), name: name.into(), status, last_seen: Some(seen), latest }
    }

    fn data(at: DateTime<Utc>) -> LatestData {
        let mut host = HostMetrics::default();
        host.cpu.percent = 42.5;
        host.cpu.cores = 4;
        host.memory.total = 8_000;
        host.disk.mounts = vec![MountMetrics { path: "/".into(), total: 100, used: 40, percent: 40.0, fs_type: "ext4".into() }];
        host.network.interfaces = vec![InterfaceMetrics { name: "eth0".into(), rx_bytes: 7, ..InterfaceMetrics::default() }];
        LatestData {
            timestamp: at,
            host,
            containers: vec![ContainerMetrics {
                name: "we\"b".into(),
                runtime: "podman".into(),
                status: "running".into(),
                ..ContainerMetrics::default()
            }],
            services: vec![ServiceMetrics { name: "nginx".into(), status: "active".into(), ..ServiceMetrics::default() }],
            custom: vec![
                CustomPoint { name: "Queue.Depth".into(), kind: "gauge".into(), value: 3.5, error: None, timestamp: at },
                CustomPoint { name: "queue depth".into(), kind: "gauge".into(), value: 9.0, error: None, timestamp: at },
                CustomPoint {
                    name: "broken".into(),
                    kind: "gauge".into(),
                    value: 0.0,
                    error: Some("timeout".into()),
                    timestamp: at,
                },
            ],
        }
    }

    #[test]
    fn fresh_hosts_show_their_values_and_stale_or_offline_ones_only_up_zero() {
        let now = Utc::now();
        let fresh_since = now - chrono::Duration::minutes(2);
        let hosts = [
            host("h1", "web \"1\"", now, HostStatus::Online, Some(data(now))),
            host("h2", "old", now - chrono::Duration::minutes(10), HostStatus::Online, None),
            host("h3", "off", now, HostStatus::Offline, Some(data(now))),
        ];
        let (body, series) = render(&hosts, fresh_since);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("vigil_host_up{host=\"web \\\"1\\\"\",host_id=\"h1\"} 1\n"), "{text}");
        assert!(text.contains("vigil_host_up{host=\"old\",host_id=\"h2\"} 0\n"), "{text}");
        assert!(text.contains("vigil_host_up{host=\"off\",host_id=\"h3\"} 0\n"), "{text}");
        assert!(text.contains("vigil_host_cpu_usage_ratio{host=\"web \\\"1\\\"\",host_id=\"h1\"} 0.425\n"), "{text}");
        assert!(!text.contains("host_id=\"h3\"} 0.425"), "an offline host's values are absent: {text}");
        assert!(text.contains(
            "vigil_host_filesystem_used_bytes{host=\"web \\\"1\\\"\",host_id=\"h1\",mount=\"/\",fstype=\"ext4\"} 40\n"
        ));
        assert!(text.contains("# TYPE vigil_host_network_receive_bytes_total counter\n"));
        assert!(text.contains("container=\"we\\\"b\",runtime=\"podman\"} 1\n"), "{text}");
        assert!(text.contains("vigil_service_up{host=\"web \\\"1\\\"\",host_id=\"h1\",service=\"nginx\"} 1\n"));
        // two names that sanitise alike: the first by name is kept; errors are skipped
        assert!(text.contains("vigil_custom_queue_depth{host=\"web \\\"1\\\"\",host_id=\"h1\"} 3.5\n"), "{text}");
        assert_eq!(text.matches("vigil_custom_queue_depth{").count(), 1);
        assert!(!text.contains("broken"));
        assert_eq!(series, text.lines().filter(|line| !line.starts_with('#')).count());
        // every family is described once, before its samples
        assert_eq!(text.matches("# TYPE vigil_host_up gauge").count(), 1);
    }
}
