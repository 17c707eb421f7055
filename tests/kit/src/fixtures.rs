//! Snapshots for tests: what a gateway publishes on the bus
//! ([`MetricsSnapshot`], built by [`MetricsSnapshotBuilder`]) and what an
//! agent sends over gRPC ([`agent_metrics`]). Values are fixed and distinct,
//! so a test can check each one where it lands.

use chrono::{DateTime, SecondsFormat, Utc};
use vigil_bus::messages::{
    ContainerMetrics, CpuMetrics, CustomMetric, DiskMetrics, HostMetrics, InterfaceMetrics, LoadMetrics, MemoryMetrics,
    MetricsSnapshot, MountMetrics, NetworkMetrics, ServiceMetrics,
};

/// A time as the agent writes it (RFC 3339, milliseconds, `Z`).
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Mount `index` of a built snapshot: `/` (ext4, 40,000 of 100,000 bytes
/// used), `/data` (xfs, 90,000 of 900,000), then container overlays
/// (`/var/lib/docker/overlay2/<index as 64 hex digits>/merged`, 100 GiB,
/// `index` GiB used).
pub fn mount(index: usize) -> MountMetrics {
    match index {
        0 => MountMetrics { path: "/".to_owned(), total: 100_000, used: 40_000, percent: 40.0, fs_type: "ext4".to_owned() },
        1 => MountMetrics { path: "/data".to_owned(), total: 900_000, used: 90_000, percent: 10.0, fs_type: "xfs".to_owned() },
        i => MountMetrics {
            path: format!("/var/lib/docker/overlay2/{i:064x}/merged"),
            total: 100 << 30,
            used: (i as u64) << 30,
            percent: i as f64,
            fs_type: "overlay".to_owned(),
        },
    }
}

/// Interface `index` of a built snapshot: `eth0` (1,000 bytes in, 2,000
/// out), `eth1` (30 in, 40 out), then container veths (`veth<index as 7 hex
/// digits>`, large counters).
pub fn interface(index: usize) -> InterfaceMetrics {
    match index {
        0 => InterfaceMetrics { name: "eth0".to_owned(), rx_bytes: 1000, tx_bytes: 2000, ..Default::default() },
        1 => InterfaceMetrics { name: "eth1".to_owned(), rx_bytes: 30, tx_bytes: 40, ..Default::default() },
        i => InterfaceMetrics {
            name: format!("veth{i:07x}"),
            rx_bytes: 123_456_789_000 + i as u64,
            tx_bytes: 987_654_321_000 + i as u64,
            rx_packets: 1_234_567,
            tx_packets: 7_654_321,
            rx_errors: 0,
            tx_errors: 0,
        },
    }
}

/// The snapshot [`MetricsSnapshotBuilder::new`] builds, unchanged.
pub fn metrics_snapshot(tenant_id: &str, host_id: &str, seq: u64, collected_at: DateTime<Utc>) -> MetricsSnapshot {
    MetricsSnapshotBuilder::new(tenant_id, host_id, seq, collected_at).build()
}

/// Builds a bus [`MetricsSnapshot`] of `host_id` (tenant `tenant_id`).
/// By default: uptime `3600 + seq`, 4 cores at 42.5 %, 3 of 8 GB memory
/// used (37.5 %), load 1.25/0.75/0.5, the first 2 [`mount`]s, the first 2
/// [`interface`]s, one container (`nginx`, docker, memory limit 5678, 3
/// processes), one service (`sshd`, pid 42, port 22), no custom metrics;
/// `received_at` is now.
#[derive(Debug, Clone)]
pub struct MetricsSnapshotBuilder {
    tenant_id: String,
    host_id: String,
    seq: u64,
    collected_at: DateTime<Utc>,
    mounts: usize,
    interfaces: usize,
    containers: Vec<ContainerMetrics>,
    services: Vec<ServiceMetrics>,
    custom: Vec<CustomMetric>,
}

impl MetricsSnapshotBuilder {
    pub fn new(tenant_id: &str, host_id: &str, seq: u64, collected_at: DateTime<Utc>) -> MetricsSnapshotBuilder {
        MetricsSnapshotBuilder {
            tenant_id: tenant_id.to_owned(),
            host_id: host_id.to_owned(),
            seq,
            collected_at,
            mounts: 2,
            interfaces: 2,
            containers: vec![ContainerMetrics {
                name: "nginx".to_owned(),
                runtime: "docker".to_owned(),
                status: "running".to_owned(),
                cpu_percent: 3.5,
                memory_used: 1234,
                memory_limit: 5678,
                processes: 3,
                ..Default::default()
            }],
            services: vec![ServiceMetrics {
                name: "sshd".to_owned(),
                status: "active".to_owned(),
                pid: 42,
                memory: 999,
                cpu_percent: 0.25,
                ports: vec![22],
                uptime: 77,
            }],
            custom: vec![],
        }
    }

    /// The first `count` [`mount`]s (0: an empty disk section).
    pub fn mounts(mut self, count: usize) -> Self {
        self.mounts = count;
        self
    }

    /// The first `count` [`interface`]s (0: an empty network section).
    pub fn interfaces(mut self, count: usize) -> Self {
        self.interfaces = count;
        self
    }

    /// Exactly these containers instead of the default one.
    pub fn containers(mut self, containers: Vec<ContainerMetrics>) -> Self {
        self.containers = containers;
        self
    }

    /// Exactly these services instead of the default one.
    pub fn services(mut self, services: Vec<ServiceMetrics>) -> Self {
        self.services = services;
        self
    }

    /// These custom metrics (none by default).
    pub fn custom(mut self, custom: Vec<CustomMetric>) -> Self {
        self.custom = custom;
        self
    }

    pub fn build(self) -> MetricsSnapshot {
        MetricsSnapshot {
            tenant_id: self.tenant_id,
            host_id: self.host_id,
            seq: self.seq,
            collected_at: self.collected_at,
            received_at: Utc::now(),
            host: HostMetrics {
                uptime: 3600 + self.seq,
                cpu: CpuMetrics { percent: 42.5, cores: 4, model: "test cpu".to_owned(), per_core: vec![40.0, 45.0, 41.0, 44.0] },
                memory: MemoryMetrics {
                    total: 8_000_000_000,
                    used: 3_000_000_000,
                    available: 5_000_000_000,
                    percent: 37.5,
                    swap_total: 1_000_000,
                    swap_used: 1000,
                },
                disk: DiskMetrics { mounts: (0..self.mounts).map(mount).collect() },
                network: NetworkMetrics { interfaces: (0..self.interfaces).map(interface).collect() },
                load: LoadMetrics { load_1m: 1.25, load_5m: 0.75, load_15m: 0.5 },
            },
            containers: self.containers,
            services: self.services,
            custom: self.custom,
            errors: vec![],
        }
    }
}

/// A plausible snapshot as an agent sends it (`vigil.Metrics`): host
/// section only, one mount (`/`), one interface (`eth0`); `seed` varies the
/// values (cpu `seed % 1000 / 10` %, memory, counters) so rows can be told
/// apart.
pub fn agent_metrics(seq: u64, collected_at: DateTime<Utc>, seed: u64) -> vigil_proto::Metrics {
    use vigil_proto as p;
    let f = (seed % 1000) as f64 / 10.0;
    let timestamp = rfc3339(collected_at);
    p::Metrics {
        timestamp: timestamp.clone(),
        seq,
        host: Some(p::HostMetrics {
            timestamp,
            uptime: 86_400 + seed,
            cpu: Some(p::CpuMetrics {
                percent: f,
                cores: 4,
                model: "Sim CPU".to_owned(),
                per_core: vec![f, f / 2.0, f / 3.0, f / 4.0],
            }),
            memory: Some(p::MemoryMetrics {
                total: 8 << 30,
                used: (2 << 30) + seed * 4096,
                available: (6 << 30) - seed * 4096,
                percent: 25.0,
                swap_total: 1 << 30,
                swap_used: 0,
            }),
            disk: Some(p::DiskMetrics {
                mounts: vec![p::MountMetrics {
                    path: "/".to_owned(),
                    total: 100 << 30,
                    used: 40 << 30,
                    percent: 40.0,
                    fs_type: "ext4".to_owned(),
                }],
            }),
            network: Some(p::NetworkMetrics {
                interfaces: vec![p::InterfaceMetrics {
                    name: "eth0".to_owned(),
                    rx_bytes: 1_000_000 + seed,
                    tx_bytes: 2_000_000 + seed,
                    rx_packets: 1000,
                    tx_packets: 2000,
                    rx_errors: 0,
                    tx_errors: 0,
                }],
            }),
            load: Some(p::LoadMetrics { load_1m: 0.5, load_5m: 0.4, load_15m: 0.3 }),
        }),
        containers: vec![],
        services: vec![],
        custom: vec![],
        errors: vec![],
    }
}
