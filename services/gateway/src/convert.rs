//! Conversion of an agent's protobuf `Metrics` into the bus's
//! [`MetricsSnapshot`], with the checks that make a snapshot publishable.
//!
//! Invariants: a converted snapshot has a collection time parsed from RFC 3339
//! (kept to the millisecond, the precision of its `Nats-Msg-Id` and of the
//! stored row) and inside the [`Window`] the tables can hold (no more than
//! `max_clock_skew` ahead, no older than the raw retention), a `host` section, and only finite numbers (JSON has no NaN:
//! one would reach the collector as `null` and be unreadable). Tenant and host
//! come from the caller (the token and the stream header), never from the
//! message.

use chrono::{DateTime, SubsecRound, Utc};
use vigil_bus::messages::{
    ActionPolicy, ContainerMetrics, CpuMetrics, CustomMetric, DiskMetrics, HostMetrics, InterfaceMetrics, LoadMetrics,
    MemoryMetrics, MetricsSnapshot, MountMetrics, NetworkMetrics, ServiceMetrics,
};
use vigil_proto as proto;

/// Why a snapshot was refused for good (sent back in `Ack.error`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("metrics.timestamp {value:?} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00.000Z): {reason}")]
    Timestamp { value: String, reason: String },
    #[error(
        "metrics.timestamp {value} is outside the accepted window {earliest} .. {latest} (at most {skew_s} s ahead of the gateway's clock, no older than the raw retention); check the agent's clock"
    )]
    TimestampOutOfWindow { value: String, earliest: String, latest: String, skew_s: u64 },
    #[error("metrics.host is missing; every snapshot carries the host section")]
    MissingHost,
    #[error("{field} is {value}, not a finite number")]
    NotFinite { field: String, value: f64 },
}

/// A refused snapshot is the agent's to fix (`Ack.error` carries the message).
impl vigil_bus::error::HasErrorCode for ConvertError {
    fn error_code(&self) -> vigil_bus::ErrorCode {
        vigil_bus::ErrorCode::Unprocessable
    }
}

/// The collection times a snapshot may carry, relative to its arrival.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// How far ahead of the gateway's clock.
    pub max_clock_skew: std::time::Duration,
    /// How far back (the raw retention).
    pub max_age: std::time::Duration,
}

impl Window {
    fn check(&self, value: &str, collected_at: DateTime<Utc>, received_at: DateTime<Utc>) -> Result<(), ConvertError> {
        let delta = |d: std::time::Duration| chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
        let latest = received_at.checked_add_signed(delta(self.max_clock_skew)).unwrap_or(DateTime::<Utc>::MAX_UTC);
        // never before the epoch: the read side and `Nats-Msg-Id` work in unix time
        let earliest =
            received_at.checked_sub_signed(delta(self.max_age)).unwrap_or(DateTime::UNIX_EPOCH).max(DateTime::UNIX_EPOCH);
        if collected_at < earliest || collected_at > latest {
            return Err(ConvertError::TimestampOutOfWindow {
                value: value.to_owned(),
                earliest: earliest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                latest: latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                skew_s: self.max_clock_skew.as_secs(),
            });
        }
        Ok(())
    }
}

/// Builds the snapshot of `tenant_id`/`host_id` from an agent's message.
pub fn snapshot(
    tenant_id: &str,
    host_id: &str,
    metrics: proto::Metrics,
    received_at: DateTime<Utc>,
    window: Window,
) -> Result<MetricsSnapshot, ConvertError> {
    let collected_at = DateTime::parse_from_rfc3339(metrics.timestamp.trim())
        .map_err(|e| ConvertError::Timestamp { value: metrics.timestamp.clone(), reason: e.to_string() })?
        .with_timezone(&Utc)
        .trunc_subsecs(3);
    window.check(metrics.timestamp.trim(), collected_at, received_at)?;
    let host = metrics.host.ok_or(ConvertError::MissingHost)?;
    let snapshot = MetricsSnapshot {
        tenant_id: tenant_id.to_owned(),
        host_id: host_id.to_owned(),
        seq: metrics.seq,
        collected_at,
        received_at,
        host: host_metrics(host),
        containers: metrics.containers.into_iter().map(container).collect(),
        services: metrics.services.into_iter().map(service).collect(),
        custom: metrics.custom.into_iter().map(custom).collect(),
        errors: metrics
            .errors
            .into_iter()
            .map(|e| vigil_bus::messages::SectionError { section: e.section, error: e.error })
            .collect(),
    };
    check_finite(&snapshot)?;
    Ok(snapshot)
}

fn host_metrics(host: proto::HostMetrics) -> HostMetrics {
    let cpu = host.cpu.unwrap_or_default();
    let memory = host.memory.unwrap_or_default();
    let load = host.load.unwrap_or_default();
    HostMetrics {
        uptime: host.uptime,
        cpu: CpuMetrics { percent: cpu.percent, cores: cpu.cores, model: cpu.model, per_core: cpu.per_core },
        memory: MemoryMetrics {
            total: memory.total,
            used: memory.used,
            available: memory.available,
            percent: memory.percent,
            swap_total: memory.swap_total,
            swap_used: memory.swap_used,
        },
        disk: DiskMetrics {
            mounts: host
                .disk
                .unwrap_or_default()
                .mounts
                .into_iter()
                .map(|m| MountMetrics { path: m.path, total: m.total, used: m.used, percent: m.percent, fs_type: m.fs_type })
                .collect(),
        },
        network: NetworkMetrics {
            interfaces: host
                .network
                .unwrap_or_default()
                .interfaces
                .into_iter()
                .map(|i| InterfaceMetrics {
                    name: i.name,
                    rx_bytes: i.rx_bytes,
                    tx_bytes: i.tx_bytes,
                    rx_packets: i.rx_packets,
                    tx_packets: i.tx_packets,
                    rx_errors: i.rx_errors,
                    tx_errors: i.tx_errors,
                })
                .collect(),
        },
        load: LoadMetrics { load_1m: load.load_1m, load_5m: load.load_5m, load_15m: load.load_15m },
    }
}

fn container(c: proto::ContainerMetrics) -> ContainerMetrics {
    ContainerMetrics {
        name: c.name,
        runtime: c.runtime,
        status: c.status,
        created: c.created,
        image: c.image,
        cpu_percent: c.cpu_percent,
        memory_used: c.memory_used,
        memory_limit: c.memory_limit,
        memory_percent: c.memory_percent,
        disk_used: c.disk_used,
        network_rx: c.network_rx,
        network_tx: c.network_tx,
        processes: c.processes,
    }
}

fn service(s: proto::ServiceMetrics) -> ServiceMetrics {
    ServiceMetrics {
        name: s.name,
        status: s.status,
        pid: s.pid,
        memory: s.memory,
        cpu_percent: s.cpu_percent,
        ports: s.ports,
        uptime: s.uptime,
    }
}

fn custom(c: proto::CustomMetric) -> CustomMetric {
    CustomMetric { name: c.name, kind: c.r#type, value: c.value, error: Some(c.error).filter(|e| !e.is_empty()) }
}

fn check_finite(snapshot: &MetricsSnapshot) -> Result<(), ConvertError> {
    let check = |field: &dyn Fn() -> String, value: f64| {
        if value.is_finite() {
            Ok(())
        } else {
            Err(ConvertError::NotFinite { field: field(), value })
        }
    };
    let host = &snapshot.host;
    check(&|| "host.cpu.percent".to_owned(), host.cpu.percent)?;
    for (i, v) in host.cpu.per_core.iter().enumerate() {
        check(&|| format!("host.cpu.per_core[{i}]"), *v)?;
    }
    check(&|| "host.memory.percent".to_owned(), host.memory.percent)?;
    for (i, m) in host.disk.mounts.iter().enumerate() {
        check(&|| format!("host.disk.mounts[{i}].percent"), m.percent)?;
    }
    check(&|| "host.load.load_1m".to_owned(), host.load.load_1m)?;
    check(&|| "host.load.load_5m".to_owned(), host.load.load_5m)?;
    check(&|| "host.load.load_15m".to_owned(), host.load.load_15m)?;
    for (i, c) in snapshot.containers.iter().enumerate() {
        check(&|| format!("containers[{i}].cpu_percent"), c.cpu_percent)?;
        check(&|| format!("containers[{i}].memory_percent"), c.memory_percent)?;
    }
    for (i, s) in snapshot.services.iter().enumerate() {
        check(&|| format!("services[{i}].cpu_percent"), s.cpu_percent)?;
    }
    for (i, c) in snapshot.custom.iter().enumerate() {
        // A failed custom command carries `error`; its value is meaningless but
        // must still be encodable.
        check(&|| format!("custom[{i}] ({}).value", c.name), c.value)?;
    }
    Ok(())
}

/// Most `allowed` or `denied` entries a registration may carry.
pub const MAX_POLICY_ENTRIES: usize = 256;
/// Longest `allowed` or `denied` entry.
pub const MAX_POLICY_ENTRY_LEN: usize = 512;

/// The agent's action policy from its `RegisterRequest`, bounded: it is
/// shown to users, so an agent cannot make it arbitrarily large or odd.
/// `None` from an agent older than remote actions.
pub fn action_policy(policy: Option<proto::ActionPolicy>) -> Result<Option<ActionPolicy>, String> {
    let Some(policy) = policy else { return Ok(None) };
    for (field, entries) in [("actions.allowed", &policy.allowed), ("actions.denied", &policy.denied)] {
        if entries.len() > MAX_POLICY_ENTRIES {
            return Err(format!("{field} has {} entries; at most {MAX_POLICY_ENTRIES}", entries.len()));
        }
        if let Some(entry) = entries.iter().find(|e| e.len() > MAX_POLICY_ENTRY_LEN || e.chars().any(char::is_control)) {
            let shown: String = entry.chars().take(40).collect();
            return Err(format!(
                "{field} entry {shown:?}... is longer than {MAX_POLICY_ENTRY_LEN} bytes or holds a control character"
            ));
        }
    }
    if !["systemd", "openrc", "none"].contains(&policy.service_manager.as_str()) {
        return Err(format!("actions.service_manager {:?} is not one of systemd, openrc, none", policy.service_manager));
    }
    if let Some(engine) = policy.engines.iter().find(|e| !vigil_bus::actions::ENGINES.contains(&e.as_str())) {
        return Err(format!("actions.engines: {engine:?} is not one of docker, podman, incus"));
    }
    Ok(Some(ActionPolicy {
        enabled: policy.enabled,
        allowed: policy.allowed,
        denied: policy.denied,
        service_manager: policy.service_manager,
        engines: policy.engines,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Window =
        Window { max_clock_skew: std::time::Duration::from_secs(300), max_age: std::time::Duration::from_secs(7 * 86_400) };

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn metrics(timestamp: &str) -> proto::Metrics {
        proto::Metrics {
            timestamp: timestamp.to_owned(),
            seq: 9,
            host: Some(proto::HostMetrics {
                uptime: 10,
                cpu: Some(proto::CpuMetrics { percent: 12.5, cores: 2, model: "m".into(), per_core: vec![1.0, 2.0] }),
                disk: Some(proto::DiskMetrics {
                    mounts: vec![proto::MountMetrics {
                        path: "/".into(),
                        total: 10,
                        used: 4,
                        percent: 40.0,
                        fs_type: "ext4".into(),
                    }],
                }),
                ..Default::default()
            }),
            custom: vec![proto::CustomMetric { name: "q".into(), r#type: "gauge".into(), value: 3.0, error: String::new() }],
            errors: vec![proto::SectionError { section: "containers.docker".into(), error: "socket timed out".into() }],
            ..Default::default()
        }
    }

    #[test]
    fn converts_with_tenant_and_host_from_the_caller_and_millisecond_time() {
        let received = at("2026-03-01T09:01:00Z");
        let snapshot = snapshot("acme", "h1", metrics("2026-03-01T10:00:00.123456+01:00"), received, WINDOW).unwrap();
        assert_eq!(snapshot.tenant_id, "acme");
        assert_eq!(snapshot.host_id, "h1");
        assert_eq!(snapshot.seq, 9);
        assert_eq!(snapshot.collected_at.to_rfc3339(), "2026-03-01T09:00:00.123+00:00");
        assert_eq!(snapshot.msg_id(), format!("h1:{}", snapshot.collected_at.timestamp_millis()));
        assert_eq!(snapshot.host.cpu.per_core, vec![1.0, 2.0]);
        assert_eq!(snapshot.host.disk.used(), 4);
        assert_eq!(snapshot.custom[0].error, None);
        assert_eq!(
            snapshot.errors,
            vec![vigil_bus::messages::SectionError { section: "containers.docker".into(), error: "socket timed out".into() }]
        );
        assert_eq!(snapshot.received_at, received);
    }

    #[test]
    fn refuses_a_timestamp_that_is_not_rfc3339_naming_it() {
        let error = snapshot("acme", "h1", metrics("yesterday"), Utc::now(), WINDOW).unwrap_err();
        assert!(matches!(error, ConvertError::Timestamp { .. }));
        assert!(error.to_string().contains("yesterday"), "{error}");
    }

    #[test]
    fn refuses_a_snapshot_without_host_section() {
        let mut m = metrics("2026-03-01T10:00:00Z");
        m.host = None;
        assert_eq!(snapshot("acme", "h1", m, at("2026-03-01T10:00:00Z"), WINDOW).unwrap_err(), ConvertError::MissingHost);
    }

    #[test]
    fn refuses_non_finite_numbers_naming_the_field() {
        let mut m = metrics("2026-03-01T10:00:00Z");
        m.host.as_mut().unwrap().cpu.as_mut().unwrap().per_core[1] = f64::NAN;
        let error = snapshot("acme", "h1", m, at("2026-03-01T10:00:00Z"), WINDOW).unwrap_err();
        assert!(error.to_string().contains("host.cpu.per_core[1]"), "{error}");
    }

    #[test]
    fn refuses_times_the_tables_cannot_hold_or_past_the_skew_window() {
        let received = at("2026-03-01T10:00:00Z");
        for stamp in [
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "1000-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-02-21T09:59:59Z", // 7 days and 1 s old
            "2026-03-01T10:05:01Z", // 5 min 1 s ahead
            "2040-01-01T00:00:00Z",
            "2099-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let error = snapshot("acme", "h1", metrics(stamp), received, WINDOW).unwrap_err();
            assert!(matches!(error, ConvertError::TimestampOutOfWindow { .. }), "{stamp}: {error}");
            assert!(error.to_string().contains(stamp), "{error}");
            assert!(error.to_string().contains("2026-02-22T10:00:00Z .. 2026-03-01T10:05:00Z"), "{error}");
        }
        for stamp in ["2026-02-22T10:00:00Z", "2026-03-01T10:05:00Z", "2026-03-01T09:59:50Z"] {
            assert!(snapshot("acme", "h1", metrics(stamp), received, WINDOW).is_ok(), "{stamp}");
        }
    }
}
