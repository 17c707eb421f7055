//! One snapshot from every enabled collector: host (`/proc`), containers
//! (engine sockets), services (init system + `/proc`) and the latest custom
//! metrics.
//!
//! Invariants: the sections are collected concurrently and each one is
//! bounded by [`Collectors::section_timeout`]; a section that fails or runs
//! out of time is left empty (or partial) and named in `Metrics.errors`, the
//! rest of the snapshot still leaves. Custom metrics are only read (their
//! commands run in their own tasks, see [`crate::custom`]).

use std::time::Duration;

use tokio::sync::watch;
use vigil_proto::{ContainerMetrics, HostMetrics, Metrics, SectionError, ServiceMetrics};

use crate::config::CollectionConfig;
use crate::containers::{ContainerCollector, SectionFailure};
use crate::custom::CustomMetrics;
use crate::host::HostCollector;
use crate::services::ServiceCollector;

/// Default bound of one section: the container list and stats requests (2 s
/// each) and the init-system commands fit in it.
pub const SECTION_TIMEOUT: Duration = Duration::from_secs(6);

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
    pub containers: Option<ContainerCollector>,
    pub services: Option<ServiceCollector>,
    pub custom: Option<CustomMetrics>,
    pub section_timeout: Duration,
}

impl Collectors {
    /// Builds the collectors `collection` enables and starts the custom
    /// metric tasks (they stop with `shutdown`). Must run inside a tokio
    /// runtime.
    pub fn new(collection: &CollectionConfig, shutdown: watch::Receiver<bool>) -> Self {
        let host = collection.host.enabled.then(|| {
            let mut host = HostCollector::new("/proc", collection.host.metrics.clone());
            host.prime();
            host
        });
        Self {
            host,
            host_metrics: collection.host.metrics.clone(),
            containers: collection.containers.enabled.then(|| ContainerCollector::new(collection.containers.clone())),
            services: collection.services.enabled.then(|| ServiceCollector::new(collection.services.clone())),
            custom: (!collection.custom_metrics.is_empty()).then(|| CustomMetrics::start(&collection.custom_metrics, shutdown)),
            section_timeout: SECTION_TIMEOUT,
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
                    let mut fresh = HostCollector::new("/proc", host_metrics);
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
        let metrics = Metrics { timestamp, host, containers, services, custom, errors, ..Default::default() };
        (metrics, reports)
    }
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
