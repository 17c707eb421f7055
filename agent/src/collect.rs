//! One snapshot from every enabled collector: host (`/proc`), containers
//! (engine sockets), services (init system + `/proc`) and the latest custom
//! metrics.
//!
//! Invariants: the sections are collected concurrently and each one is
//! bounded by [`Collectors::section_timeout`]; a section that fails or runs
//! out of time is left empty (or partial) and named in `Metrics.errors`, the
//! rest of the snapshot still leaves. Custom metrics are only read (their
//! commands run in their own tasks, see [`crate::custom`]).
//!
//! Invariant: no snapshot this module returns encodes (protobuf) to more than
//! [`MAX_SNAPSHOT_BYTES`], so the queue never holds a message the gateway
//! refuses at the transport level. The host section is bounded by
//! `collection.host.max_mounts` / `max_interfaces` ([`crate::host`]); the
//! lists of containers, services and custom metrics are not, so a snapshot
//! over the limit is logged (its size and the limit) and reduced by
//! [`cap_size`], which says in `errors` what it cut.

use std::time::Duration;

use prost::Message;
use vigil_proto::{ContainerMetrics, HostMetrics, Metrics, SectionError, ServiceMetrics};
use vigil_runtime::CancellationToken;

use crate::config::CollectionConfig;
use crate::containers::{ContainerCollector, SectionFailure};
use crate::custom::CustomMetrics;
use crate::host::HostCollector;
use crate::services::ServiceCollector;

/// Default bound of one section: the container list and stats requests (2 s
/// each) and the init-system commands fit in it.
pub const SECTION_TIMEOUT: Duration = Duration::from_secs(6);

/// Room left in a gRPC message for what goes around a snapshot: the
/// `AgentMessage` envelope (the host id, at most 50 bytes, its tag and
/// length; the payload's tag and length) and the `seq` the queue sets later
/// (at most 11 bytes).
pub const ENVELOPE_BYTES: usize = 128;

/// Largest encoded snapshot (`Metrics`, before its `seq`) the agent queues:
/// [`vigil_proto::MAX_MESSAGE_BYTES`] less [`ENVELOPE_BYTES`].
pub const MAX_SNAPSHOT_BYTES: usize = vigil_proto::MAX_MESSAGE_BYTES - ENVELOPE_BYTES;

/// Room kept by [`cap_size`] for the `errors` entries saying what it cut.
const CUT_NOTES_BYTES: usize = 4096;

/// What one section gave.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionReport {
    /// `host`, `containers`, `services`, `custom_metrics`.
    pub section: &'static str,
    pub enabled: bool,
    pub count: usize,
    pub errors: Vec<SectionFailure>,
}

/// The collectors of one agent.
#[derive(Debug)]
pub struct Collectors {
    host: Option<HostCollector>,
    host_metrics: std::collections::BTreeSet<crate::config::HostMetric>,
    /// `collection.host.max_mounts`, `max_interfaces`.
    host_bounds: (usize, usize),
    pub containers: Option<ContainerCollector>,
    pub services: Option<ServiceCollector>,
    pub custom: Option<CustomMetrics>,
    pub section_timeout: Duration,
    /// What stops the custom metric tasks: a child of the shutdown token
    /// given to [`Collectors::new`], also cancelled when these collectors
    /// are dropped.
    custom_stop: CancellationToken,
}

impl Drop for Collectors {
    fn drop(&mut self) {
        self.custom_stop.cancel();
    }
}

impl Collectors {
    /// Builds the collectors `collection` enables and starts the custom
    /// metric tasks (they stop when `shutdown` is cancelled or these
    /// collectors are dropped). Must run inside a tokio runtime.
    pub fn new(collection: &CollectionConfig, shutdown: &CancellationToken) -> Self {
        let custom_stop = shutdown.child_token();
        let host_bounds = (collection.host.max_mounts, collection.host.max_interfaces);
        let host = collection.host.enabled.then(|| {
            let mut host = HostCollector::new("/proc", collection.host.metrics.clone()).with_bounds(host_bounds.0, host_bounds.1);
            host.prime();
            host
        });
        Self {
            host,
            host_metrics: collection.host.metrics.clone(),
            host_bounds,
            containers: collection.containers.enabled.then(|| ContainerCollector::new(collection.containers.clone())),
            services: collection.services.enabled.then(|| ServiceCollector::new(collection.services.clone())),
            custom: (!collection.custom_metrics.is_empty())
                .then(|| CustomMetrics::start(&collection.custom_metrics, custom_stop.clone())),
            section_timeout: SECTION_TIMEOUT,
            custom_stop,
        }
    }

    /// Collects one snapshot (not yet numbered).
    pub async fn snapshot(&mut self) -> Metrics {
        self.snapshot_with_reports().await.0
    }

    /// Collects one snapshot and says what each section gave.
    pub async fn snapshot_with_reports(&mut self) -> (Metrics, Vec<SectionReport>) {
        let timestamp = crate::now_rfc3339();
        let limit = self.section_timeout;
        let host_metrics = self.host_metrics.clone();
        let host_bounds = self.host_bounds;
        let host_collector = self.host.take();
        let host_enabled = host_collector.is_some();
        let host_future = async move {
            let Some(mut collector) = host_collector else { return (None, None, Vec::new()) };
            match tokio::task::spawn_blocking(move || {
                let (host, errors) = collector.collect_with_errors();
                (collector, host, errors)
            })
            .await
            {
                Ok((collector, host, errors)) => {
                    for error in &errors {
                        tracing::warn!(section = error.section(), error = %error, "host metrics section left empty");
                    }
                    let failures = errors
                        .iter()
                        .map(|e| SectionFailure { section: format!("host.{}", e.section()), error: e.to_string() })
                        .collect();
                    (Some(collector), Some(host), failures)
                }
                Err(join) => {
                    let mut fresh = HostCollector::new("/proc", host_metrics).with_bounds(host_bounds.0, host_bounds.1);
                    fresh.prime();
                    (Some(fresh), None, vec![SectionFailure { section: "host".into(), error: join.to_string() }])
                }
            }
        };
        let containers_future = bounded("containers", limit, self.containers.as_mut().map(|c| c.collect()));
        let services_future = bounded("services", limit, self.services.as_mut().map(|s| s.collect()));
        let (host_result, containers, services) = tokio::join!(host_future, containers_future, services_future);
        let (collector, host, host_errors) = host_result;
        self.host = collector;

        let containers: Option<(Vec<ContainerMetrics>, Vec<SectionFailure>)> = containers;
        let services: Option<(Vec<ServiceMetrics>, Vec<SectionFailure>)> = services;
        let custom = self.custom.as_ref().map(CustomMetrics::latest).unwrap_or_default();
        let custom_errors: Vec<SectionFailure> = custom
            .iter()
            .filter(|m| !m.error.is_empty())
            .map(|m| SectionFailure { section: format!("custom_metrics.{}", m.name), error: m.error.clone() })
            .collect();

        let mut reports = vec![SectionReport {
            section: "host",
            enabled: host_enabled,
            count: usize::from(host.is_some()),
            errors: host_errors.clone(),
        }];
        let (containers, container_errors) = containers.unwrap_or_default();
        reports.push(SectionReport {
            section: "containers",
            enabled: self.containers.is_some(),
            count: containers.len(),
            errors: container_errors.clone(),
        });
        let (services, service_errors) = services.unwrap_or_default();
        reports.push(SectionReport {
            section: "services",
            enabled: self.services.is_some(),
            count: services.len(),
            errors: service_errors.clone(),
        });
        reports.push(SectionReport {
            section: "custom_metrics",
            enabled: self.custom.is_some(),
            count: custom.len(),
            errors: custom_errors,
        });

        let errors: Vec<SectionError> =
            host_errors.into_iter().chain(container_errors).chain(service_errors).map(SectionError::from).collect();
        let host: Option<HostMetrics> = host.map(|mut host| {
            host.timestamp = timestamp.clone();
            host
        });
        let mut metrics = Metrics { timestamp, host, containers, services, custom, errors, ..Default::default() };
        if let Some(reduction) = cap_size(&mut metrics, MAX_SNAPSHOT_BYTES) {
            let cut: Vec<String> = reduction.cuts.iter().map(|c| format!("{}: {}", c.section, c.error)).collect();
            tracing::error!(
                size = reduction.before,
                limit = MAX_SNAPSHOT_BYTES,
                reduced_size = reduction.after,
                cut = %cut.join("; "),
                "snapshot of {} bytes is over the {}-byte limit; a reduced snapshot is queued instead",
                reduction.before,
                MAX_SNAPSHOT_BYTES,
            );
            for failure in reduction.cuts {
                let section = failure.section.split('.').next().unwrap_or_default().to_owned();
                match reports.iter_mut().find(|r| r.section == section) {
                    Some(report) => report.errors.push(failure),
                    None => reports[0].errors.push(failure),
                }
            }
        }
        (metrics, reports)
    }
}

/// What [`cap_size`] did to a snapshot over the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    /// Encoded size before and after, in bytes.
    pub before: usize,
    pub after: usize,
    /// What was cut, one entry per section; also appended to `Metrics.errors`.
    pub cuts: Vec<SectionFailure>,
}

/// Bytes `message` takes as an entry of a repeated field of tag < 16.
fn entry_len<M: Message>(message: &M) -> usize {
    let len = message.encoded_len();
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

fn lists_len(metrics: &Metrics) -> usize {
    metrics.containers.iter().map(entry_len).sum::<usize>()
        + metrics.services.iter().map(entry_len).sum::<usize>()
        + metrics.custom.iter().map(entry_len).sum::<usize>()
}

/// Makes `metrics` encode to at most `limit` bytes; `None` when it already
/// does (nothing changed).
///
/// Otherwise, with the cut notes' room ([`CUT_NOTES_BYTES`]) set aside:
/// 1. when the rest of the snapshot leaves no room for the lists, the host
///    section is reduced, step by step until it fits: mounts and interfaces
///    bounded again at the defaults (32, the rest summed into `(other)`,
///    totals stay exact), then at 0 (only `(other)`) with the per-core cpu
///    list dropped, then the `errors` list cut to 16 short entries, and last
///    the host section and errors dropped;
/// 2. the containers, services and custom metrics lists share what is left:
///    each gets an equal share, a list needing less than its share gives the
///    rest to the others, and a list over its share keeps its first entries
///    (collection order) that fit.
///
/// Each cut adds an entry to `errors` naming the section, what was kept of
/// how many, and the size and the limit.
pub fn cap_size(metrics: &mut Metrics, limit: usize) -> Option<Reduction> {
    let before = metrics.encoded_len();
    if before <= limit {
        return None;
    }
    let why = format!("the snapshot was {before} bytes, over the {limit}-byte limit");
    let mut cuts = Vec::new();
    let budget = limit.saturating_sub(CUT_NOTES_BYTES);
    let base = |metrics: &Metrics| metrics.encoded_len() - lists_len(metrics);

    // 1. the host section and errors, when they alone leave no room
    let mut step = 0;
    while base(metrics) > budget && step < 4 {
        step += 1;
        match step {
            1 | 2 => {
                let (max_mounts, max_interfaces, drop_cores) = if step == 1 {
                    (crate::config::DEFAULT_MAX_MOUNTS, crate::config::DEFAULT_MAX_INTERFACES, false)
                } else {
                    (0, 0, true)
                };
                let Some(host) = metrics.host.as_mut() else { continue };
                if let Some(disk) = host.disk.as_mut() {
                    let count = disk.mounts.len();
                    if count > max_mounts + 1 {
                        disk.mounts = crate::host::bound_mounts(std::mem::take(&mut disk.mounts), max_mounts);
                        let kept = disk.mounts.len() - 1;
                        cuts.push(cut_note(
                            "host.disk",
                            format!("kept {kept} of {count} mounts, the rest summed in (other); {why}"),
                        ));
                    }
                }
                if let Some(network) = host.network.as_mut() {
                    let count = network.interfaces.len();
                    if count > max_interfaces + 1 {
                        network.interfaces =
                            crate::host::bound_interfaces(std::mem::take(&mut network.interfaces), max_interfaces);
                        let kept = network.interfaces.len() - 1;
                        cuts.push(cut_note(
                            "host.network",
                            format!("kept {kept} of {count} interfaces, the rest summed in (other); {why}"),
                        ));
                    }
                }
                if drop_cores {
                    if let Some(cpu) = host.cpu.as_mut().filter(|cpu| !cpu.per_core.is_empty()) {
                        cpu.per_core.clear();
                        cuts.push(cut_note("host.cpu", format!("per-core usage left out; {why}")));
                    }
                }
            }
            3 => {
                let (count, size) = (metrics.errors.len(), metrics.errors.iter().map(entry_len).sum::<usize>());
                metrics.errors.truncate(16);
                for error in &mut metrics.errors {
                    error.section = error.section.chars().take(64).collect();
                    error.error = error.error.chars().take(256).collect();
                }
                if metrics.errors.iter().map(entry_len).sum::<usize>() < size {
                    let kept = metrics.errors.len();
                    cuts.push(cut_note("errors", format!("kept {kept} of {count} section errors, shortened; {why}")));
                }
            }
            _ => {
                metrics.host = None;
                metrics.errors.clear();
                cuts.push(cut_note("host", format!("host section and section errors left out; {why}")));
            }
        }
    }

    // 2. the lists share what is left
    let room = budget.saturating_sub(base(metrics));
    let sizes: [Vec<usize>; 3] = [
        metrics.containers.iter().map(entry_len).collect(),
        metrics.services.iter().map(entry_len).collect(),
        metrics.custom.iter().map(entry_len).collect(),
    ];
    let keep = share(&sizes, room);
    let names = [("containers", "containers"), ("services", "services"), ("custom_metrics", "custom metrics")];
    for (index, (section, noun)) in names.into_iter().enumerate() {
        let count = sizes[index].len();
        if keep[index] < count {
            cuts.push(cut_note(section, format!("kept the first {} of {count} {noun}; {why}", keep[index])));
        }
    }
    metrics.containers.truncate(keep[0]);
    metrics.services.truncate(keep[1]);
    metrics.custom.truncate(keep[2]);

    metrics.errors.extend(cuts.iter().cloned().map(SectionError::from));
    if metrics.encoded_len() > limit {
        // cannot happen with the notes' room set aside; never queue it anyway
        *metrics = Metrics {
            timestamp: std::mem::take(&mut metrics.timestamp),
            errors: vec![SectionError { section: "snapshot".into(), error: format!("everything left out; {why}") }],
            ..Default::default()
        };
    }
    Some(Reduction { before, after: metrics.encoded_len(), cuts })
}

fn cut_note(section: &str, error: String) -> SectionFailure {
    SectionFailure { section: section.to_owned(), error }
}

/// How many leading entries of each list fit in `room` bytes when the lists
/// share it evenly (water-filling: the smallest list first; what a list does
/// not use goes to the ones after it).
fn share(sizes: &[Vec<usize>; 3], room: usize) -> [usize; 3] {
    let totals: Vec<usize> = sizes.iter().map(|list| list.iter().sum()).collect();
    let mut order = [0, 1, 2];
    order.sort_by_key(|&index| totals[index]);
    let mut remaining = room;
    let mut keep = [0; 3];
    for (position, &index) in order.iter().enumerate() {
        let share = remaining / (order.len() - position);
        let mut used = 0;
        for &size in &sizes[index] {
            if used + size > share {
                break;
            }
            used += size;
            keep[index] += 1;
        }
        remaining -= used;
    }
    keep
}

/// Runs a section with a time limit; `None` when the section is disabled.
async fn bounded<T, F>(section: &'static str, limit: Duration, future: Option<F>) -> Option<(Vec<T>, Vec<SectionFailure>)>
where
    F: std::future::Future<Output = (Vec<T>, Vec<SectionFailure>)>,
{
    let future = future?;
    match tokio::time::timeout(limit, future).await {
        Ok(result) => Some(result),
        Err(_) => {
            let error = format!("not collected within {}s", limit.as_secs_f64());
            tracing::warn!(section, error = %error, "section timed out");
            Some((Vec::new(), vec![SectionFailure { section: section.to_owned(), error }]))
        }
    }
}
