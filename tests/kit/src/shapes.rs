//! Realistic hosts for benchmarks: a [`Shape`] says what a host has (cores,
//! mounts, interfaces, containers, services) and a [`HostSeries`] gives its
//! snapshots one after the other, with values that move the way real ones
//! do, from a small PRNG seeded by the caller (the same seed and times give
//! the same series):
//! - counters only grow: interface bytes by a per-interface rate (bytes per
//!   second) that itself wanders, packets by about bytes / 800, errors
//!   almost never; idle interfaces (`lo`, `docker0`) and idle containers
//!   grow slowly;
//! - percentages wander around a per-host mean, within bounds, with two
//!   decimals like a `/proc` reading; each core around the total;
//! - memory moves in 4 KiB pages, disk usage grows slowly in 4 KiB blocks,
//!   load averages follow the CPU smoothly, uptime moves with the clock;
//! - totals, limits, names, images, creation times and service pids stay.
//!
//! Everything that moves does so by the time between two snapshots, so a
//! series sent every 10 ms (a saturation run) changes its counters little
//! and one at 10 s as a real host would.
//!
//! Bounds keep every host inside the steady load of `vigil-alert-bench`:
//! host CPU at most 45 %, memory at most 70 %, every mount under 90 % with
//! more than 1 GB free, network well under 100 MB/s, containers running and
//! services active.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vigil_bus::messages::{
    ContainerMetrics, CpuMetrics, DiskMetrics, HostMetrics, InterfaceMetrics, LoadMetrics, MemoryMetrics, MetricsSnapshot,
    MountMetrics, NetworkMetrics, ServiceMetrics,
};

use crate::fixtures::rfc3339;

/// What a host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 2 cores, 1 mount, 2 interfaces (`lo`, `eth0`), no containers or services.
    Small,
    /// The seed's §3.4 example: 8 cores, 3 mounts, 3 interfaces (`lo`,
    /// `eth0`, `docker0`), 5 containers, 4 services.
    Seed,
    /// A container host: 32 cores, 4 mounts, 40 interfaces (`lo`, `eth0`,
    /// `docker0` and 37 veths), 30 containers, 8 services.
    Docker,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Small, Shape::Seed, Shape::Docker];

    pub fn cores(self) -> u32 {
        match self {
            Shape::Small => 2,
            Shape::Seed => 8,
            Shape::Docker => 32,
        }
    }

    pub fn mounts(self) -> usize {
        self.mount_specs().len()
    }

    pub fn interfaces(self) -> usize {
        match self {
            Shape::Small => 2,
            Shape::Seed => 3,
            Shape::Docker => 40,
        }
    }

    pub fn containers(self) -> usize {
        match self {
            Shape::Small => 0,
            Shape::Seed => 5,
            Shape::Docker => 30,
        }
    }

    pub fn services(self) -> usize {
        match self {
            Shape::Small => 0,
            Shape::Seed => 4,
            Shape::Docker => 8,
        }
    }

    fn model(self) -> &'static str {
        match self {
            Shape::Small => "AMD EPYC 7282 16-Core Processor",
            Shape::Seed => "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
            Shape::Docker => "AMD EPYC 7543 32-Core Processor",
        }
    }

    /// MemTotal as the kernel reports it (never a round number).
    fn memory_total(self) -> u64 {
        match self {
            Shape::Small => 4_020_445_184,
            Shape::Seed => 8_340_422_656,
            Shape::Docker => 134_877_020_160,
        }
    }

    /// (path, fs type, size as statvfs gives it).
    fn mount_specs(self) -> &'static [(&'static str, &'static str, u64)] {
        match self {
            Shape::Small => &[("/", "ext4", 41_555_521_536)],
            Shape::Seed => {
                &[("/", "ext4", 105_088_212_992), ("/home", "ext4", 524_945_539_072), ("/var/lib/docker", "xfs", 214_643_507_200)]
            }
            Shape::Docker => &[
                ("/", "ext4", 105_088_212_992),
                ("/home", "ext4", 262_144_000_000),
                ("/var/lib/docker", "xfs", 1_099_511_627_776),
                ("/data", "xfs", 2_199_023_255_552),
            ],
        }
    }

    /// (name, port list) of the services, in order.
    fn service_specs(self) -> &'static [(&'static str, &'static [u32])] {
        const ALL: [(&str, &[u32]); 8] = [
            ("nginx", &[80, 443]),
            ("postgresql", &[5432]),
            ("redis-server", &[6379]),
            ("sshd", &[22]),
            ("docker", &[]),
            ("containerd", &[]),
            ("cron", &[]),
            ("systemd-journald", &[]),
        ];
        &ALL[..self.services()]
    }
}

/// A name that is not a [`Shape`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownShape(pub String);

impl fmt::Display for UnknownShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown shape {:?}: expected small, seed or docker", self.0)
    }
}

impl std::error::Error for UnknownShape {}

impl FromStr for Shape {
    type Err = UnknownShape;

    fn from_str(value: &str) -> Result<Shape, UnknownShape> {
        match value {
            "small" => Ok(Shape::Small),
            "seed" => Ok(Shape::Seed),
            "docker" => Ok(Shape::Docker),
            other => Err(UnknownShape(other.to_owned())),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::Small => "small",
            Shape::Seed => "seed",
            Shape::Docker => "docker",
        })
    }
}

/// A value wandering around `mean`: each step pulls it back by `pull` of
/// its distance and moves it by at most `step` either way, so it stays
/// within `mean ± step / pull` (and `min ..= max`).
#[derive(Debug, Clone)]
struct Wander {
    value: f64,
    mean: f64,
    pull: f64,
    step: f64,
    min: f64,
    max: f64,
}

impl Wander {
    fn new(mean: f64, pull: f64, step: f64, min: f64, max: f64) -> Wander {
        Wander { value: mean, mean, pull, step, min, max }
    }

    fn next(&mut self, rng: &mut StdRng) -> f64 {
        let moved = self.value + self.pull * (self.mean - self.value) + rng.gen_range(-self.step..=self.step);
        self.value = moved.clamp(self.min, self.max);
        self.value
    }
}

/// A counter growing by a wandering rate (units per second); whole units
/// are read, the fraction is kept, so it never goes back.
#[derive(Debug, Clone)]
struct Counter {
    total: f64,
    rate: Wander,
}

impl Counter {
    /// A counter that has grown at about `rate` for `seconds`.
    fn new(rate: f64, seconds: f64) -> Counter {
        Counter { total: rate * seconds, rate: Wander::new(rate, 0.1, rate * 0.1, 0.0, rate * 3.0) }
    }

    /// Grows it for `seconds`; the whole units added.
    fn advance(&mut self, rng: &mut StdRng, seconds: f64) -> u64 {
        let before = self.value();
        self.total += self.rate.next(rng) * seconds;
        self.value() - before
    }

    fn value(&self) -> u64 {
        self.total as u64
    }
}

const PAGE: u64 = 4096;

/// A value in whole 4 KiB pages (memory) or blocks (disk).
fn pages(bytes: f64) -> u64 {
    (bytes.max(0.0) as u64 / PAGE) * PAGE
}

/// Two decimals, as a percentage read from `/proc` is shown.
fn hundredths(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    hundredths(part as f64 / whole as f64 * 100.0)
}

struct Interface {
    name: String,
    rx: Counter,
    tx: Counter,
    /// Mean packet size of this interface, bytes.
    packet: f64,
    rx_packets: f64,
    tx_packets: f64,
    rx_errors: u64,
    tx_errors: u64,
}

impl Interface {
    fn new(rng: &mut StdRng, name: String, rate: f64, uptime: f64) -> Interface {
        let packet = rng.gen_range(600.0..1000.0);
        let rx = Counter::new(rate, uptime);
        // what lo sends it receives
        let tx = if name == "lo" { rx.clone() } else { Counter::new(rate * rng.gen_range(0.3..1.5), uptime) };
        let (rx_packets, tx_packets) = (rx.total / packet, tx.total / packet);
        let mut errors = || if name != "lo" && rng.gen_bool(0.2) { rng.gen_range(1..50) } else { 0 };
        let (rx_errors, tx_errors) = (errors(), errors());
        Interface { name, rx, tx, packet, rx_packets, tx_packets, rx_errors, tx_errors }
    }

    fn advance(&mut self, rng: &mut StdRng, seconds: f64) {
        let loopback = self.name == "lo";
        let received = self.rx.advance(rng, seconds);
        let sent = if loopback {
            self.tx.total += received as f64;
            received
        } else {
            self.tx.advance(rng, seconds)
        };
        self.rx_packets += received as f64 / self.packet;
        self.tx_packets += sent as f64 / self.packet;
        if !loopback && seconds > 0.0 {
            self.rx_errors += u64::from(rng.gen_bool(0.001));
            self.tx_errors += u64::from(rng.gen_bool(0.0005));
        }
    }

    fn metrics(&self) -> InterfaceMetrics {
        InterfaceMetrics {
            name: self.name.clone(),
            rx_bytes: self.rx.value(),
            tx_bytes: self.tx.value(),
            rx_packets: self.rx_packets as u64,
            tx_packets: self.tx_packets as u64,
            rx_errors: self.rx_errors,
            tx_errors: self.tx_errors,
        }
    }
}

struct Mount {
    path: &'static str,
    fs_type: &'static str,
    total: u64,
    /// Bytes written per second (kept in whole blocks).
    used: Counter,
}

struct Container {
    /// Name, runtime, status, image, creation time, limit: they stay.
    fixed: ContainerMetrics,
    cpu: Wander,
    memory: Wander,
    disk: Counter,
    rx: Counter,
    tx: Counter,
    processes: u32,
}

struct Service {
    fixed: ServiceMetrics,
    cpu: Wander,
    memory: Wander,
    /// The main pid's start, seconds after the host's boot.
    started: u64,
}

/// Container templates: (name, image, memory limit in MiB (0: none), busy).
const CONTAINERS: [(&str, &str, u64, bool); 10] = [
    ("nginx", "nginx:1.27-alpine", 512, true),
    ("postgres", "postgres:16.4", 4096, true),
    ("redis", "redis:7.2-alpine", 1024, true),
    ("app", "registry.example.com/shop/app:2.14.1", 2048, true),
    ("worker", "registry.example.com/shop/worker:2.14.1", 2048, false),
    ("grafana", "grafana/grafana:11.2.0", 1024, false),
    ("prometheus", "prom/prometheus:v2.54.1", 4096, true),
    ("mailhog", "mailhog/mailhog:v1.0.1", 0, false),
    ("minio", "minio/minio:RELEASE.2024-09-13T20-26-02Z", 0, false),
    ("api", "registry.example.com/shop/api:3.2.0", 1536, true),
];

/// The snapshots of one host of a [`Shape`], in order: [`HostSeries::next`]
/// as its agent sends them, [`HostSeries::next_snapshot`] as the gateway
/// publishes them. Each call is the next snapshot (`seq` 1, 2, ...) taken
/// at `at`; times should not go back (a time before the previous one
/// counts as no time passed).
pub struct HostSeries {
    shape: Shape,
    rng: StdRng,
    seq: u64,
    /// Seconds since boot at the first snapshot.
    boot_uptime: u64,
    first: Option<DateTime<Utc>>,
    previous: Option<DateTime<Utc>>,
    cpu: Wander,
    per_core: Vec<Wander>,
    memory: Wander,
    swap_total: u64,
    swap_used: u64,
    load: [f64; 3],
    mounts: Vec<Mount>,
    interfaces: Vec<Interface>,
    containers: Vec<Container>,
    services: Vec<Service>,
}

impl HostSeries {
    pub fn new(shape: Shape, seed: u64) -> HostSeries {
        let mut rng = StdRng::seed_from_u64(seed);
        let boot_uptime = rng.gen_range(3_600..60 * 86_400u64);
        let uptime = boot_uptime as f64;
        let cores = shape.cores() as usize;
        let cpu = Wander::new(rng.gen_range(3.0..30.0), 0.2, 3.0, 0.0, 100.0);
        let per_core = (0..cores).map(|_| Wander::new(0.0, 0.3, 5.0, -100.0, 100.0)).collect();
        let memory = Wander::new(rng.gen_range(0.3..0.6), 0.1, 0.01, 0.05, 0.95);
        let swap_total = 2 << 30;
        let swap_used = if rng.gen_bool(0.5) { 0 } else { pages(rng.gen_range(0.0..50e6)) };
        let load = [cpu.value / 100.0 * cores as f64; 3];
        let mounts = shape
            .mount_specs()
            .iter()
            .map(|&(path, fs_type, total)| {
                let fraction = rng.gen_range(0.2..0.7);
                let mut used = Counter::new(rng.gen_range(200.0..25_000.0), 0.0);
                used.total = pages(total as f64 * fraction) as f64;
                Mount { path, fs_type, total, used }
            })
            .collect();
        // (name, bytes per second received)
        let mut links = vec![("lo".to_owned(), rng.gen_range(2e3..20e3)), ("eth0".to_owned(), rng.gen_range(50e3..2e6))];
        if shape != Shape::Small {
            links.push(("docker0".to_owned(), rng.gen_range(200.0..5e3)));
        }
        while links.len() < shape.interfaces() {
            let name = format!("veth{:07x}", rng.gen_range(0..0x1000_0000u32));
            let idle = rng.gen_bool(0.3);
            links.push((name, if idle { rng.gen_range(20.0..200.0) } else { rng.gen_range(1e3..200e3) }));
        }
        let interfaces = links.into_iter().map(|(name, rate)| Interface::new(&mut rng, name, rate, uptime)).collect();
        let containers = (0..shape.containers()).map(|index| container(&mut rng, shape, index, uptime)).collect();
        let services = shape
            .service_specs()
            .iter()
            .map(|&(name, ports)| {
                let memory = rng.gen_range(20e6..400e6);
                Service {
                    fixed: ServiceMetrics {
                        name: name.to_owned(),
                        status: "active".to_owned(),
                        pid: rng.gen_range(300..60_000),
                        ports: ports.to_vec(),
                        ..Default::default()
                    },
                    cpu: Wander::new(rng.gen_range(0.05..3.0), 0.2, 0.2, 0.0, 100.0),
                    memory: Wander::new(memory, 0.1, memory * 0.01, memory * 0.5, memory * 1.5),
                    // since boot, or restarted in the first half of the host's uptime
                    started: if rng.gen_bool(0.7) { rng.gen_range(5..60) } else { rng.gen_range(60..boot_uptime / 2) },
                }
            })
            .collect();
        HostSeries {
            shape,
            rng,
            seq: 0,
            boot_uptime,
            first: None,
            previous: None,
            cpu,
            per_core,
            memory,
            swap_total,
            swap_used,
            load,
            mounts,
            interfaces,
            containers,
            services,
        }
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The next snapshot as the agent sends it, taken at `at`.
    pub fn next(&mut self, at: DateTime<Utc>) -> vigil_proto::Metrics {
        let (host, containers, services) = self.advance(at);
        to_proto(self.seq, at, host, containers, services)
    }

    /// The next snapshot, taken at `at`, as the gateway publishes it for
    /// `tenant_id`/`host_id` (collection time to the millisecond; received at `at`).
    pub fn next_snapshot(&mut self, tenant_id: &str, host_id: &str, at: DateTime<Utc>) -> MetricsSnapshot {
        let (host, containers, services) = self.advance(at);
        MetricsSnapshot {
            tenant_id: tenant_id.to_owned(),
            host_id: host_id.to_owned(),
            seq: self.seq,
            collected_at: at.trunc_subsecs(3),
            received_at: at,
            host,
            containers,
            services,
            custom: vec![],
            errors: vec![],
        }
    }

    /// Moves every value to `at`; the readings.
    fn advance(&mut self, at: DateTime<Utc>) -> (HostMetrics, Vec<ContainerMetrics>, Vec<ServiceMetrics>) {
        self.seq += 1;
        let first = *self.first.get_or_insert(at);
        let seconds = self.previous.map_or(0.0, |previous| (at - previous).num_milliseconds().max(0) as f64 / 1000.0);
        self.previous = Some(self.previous.map_or(at, |previous| previous.max(at)));
        let uptime = self.boot_uptime + (at - first).num_seconds().max(0) as u64;
        let rng = &mut self.rng;

        let cpu = self.cpu.next(rng);
        let per_core = self.per_core.iter_mut().map(|core| hundredths((cpu + core.next(rng)).clamp(0.0, 100.0))).collect();
        let cores = self.shape.cores();
        let running = cpu / 100.0 * f64::from(cores);
        for (load, minutes) in self.load.iter_mut().zip([1.0, 5.0, 15.0]) {
            *load = running + (*load - running) * (-seconds / (minutes * 60.0)).exp();
        }
        let total = self.shape.memory_total();
        let used = pages(self.memory.next(rng) * total as f64);
        if rng.gen_bool(0.02) {
            self.swap_used = pages(self.swap_used as f64 + rng.gen_range(-1e6..1e6));
        }
        for mount in &mut self.mounts {
            mount.used.advance(rng, seconds);
        }
        for interface in &mut self.interfaces {
            interface.advance(rng, seconds);
        }
        let host = HostMetrics {
            uptime,
            cpu: CpuMetrics { percent: hundredths(cpu), cores, model: self.shape.model().to_owned(), per_core },
            memory: MemoryMetrics {
                total,
                used,
                available: total - used,
                percent: percent(used, total),
                swap_total: self.swap_total,
                swap_used: self.swap_used,
            },
            disk: DiskMetrics {
                mounts: self
                    .mounts
                    .iter()
                    .map(|mount| {
                        let used = pages(mount.used.total);
                        MountMetrics {
                            path: mount.path.to_owned(),
                            total: mount.total,
                            used,
                            percent: percent(used, mount.total),
                            fs_type: mount.fs_type.to_owned(),
                        }
                    })
                    .collect(),
            },
            network: NetworkMetrics { interfaces: self.interfaces.iter().map(Interface::metrics).collect() },
            load: LoadMetrics {
                load_1m: hundredths(self.load[0]),
                load_5m: hundredths(self.load[1]),
                load_15m: hundredths(self.load[2]),
            },
        };
        let containers = self
            .containers
            .iter_mut()
            .map(|container| {
                let used = pages(container.memory.next(rng));
                container.disk.advance(rng, seconds);
                container.rx.advance(rng, seconds);
                container.tx.advance(rng, seconds);
                if rng.gen_bool(0.01) {
                    container.processes = (container.processes + rng.gen_range(0..=2)).saturating_sub(1).max(1);
                }
                let limit = container.fixed.memory_limit;
                ContainerMetrics {
                    cpu_percent: hundredths(container.cpu.next(rng)),
                    memory_used: used,
                    memory_percent: percent(used, limit),
                    disk_used: pages(container.disk.total),
                    network_rx: container.rx.value(),
                    network_tx: container.tx.value(),
                    processes: container.processes,
                    ..container.fixed.clone()
                }
            })
            .collect();
        let services = self
            .services
            .iter_mut()
            .map(|service| ServiceMetrics {
                memory: pages(service.memory.next(rng)),
                cpu_percent: hundredths(service.cpu.next(rng)),
                uptime: uptime.saturating_sub(service.started),
                ..service.fixed.clone()
            })
            .collect();
        (host, containers, services)
    }
}

/// Container `index` of a host: the templates in turn (numbered from the
/// second round on), created some days before the first snapshot.
fn container(rng: &mut StdRng, shape: Shape, index: usize, uptime: f64) -> Container {
    let (base, image, limit_mib, busy) = CONTAINERS[index % CONTAINERS.len()];
    let name = match index / CONTAINERS.len() {
        0 => base.to_owned(),
        round => format!("{base}-{}", round + 1),
    };
    let busy = busy && !rng.gen_bool(0.2);
    // no limit: the engine reports the host's memory
    let limit = if limit_mib == 0 { shape.memory_total() } else { limit_mib << 20 };
    let memory = limit as f64 * rng.gen_range(0.05..0.5);
    let created = DateTime::from_timestamp(1_767_225_600 - rng.gen_range(0..200 * 86_400), 0).unwrap_or_default();
    let age = uptime.min(rng.gen_range(3_600.0..30.0 * 86_400.0));
    let (cpu, rate) = if busy {
        (rng.gen_range(0.5..15.0), rng.gen_range(5e3..300e3))
    } else {
        (rng.gen_range(0.01..0.3), rng.gen_range(5.0..100.0))
    };
    let mut disk = Counter::new(if busy { rng.gen_range(10.0..2_000.0) } else { 0.0 }, age);
    disk.total += rng.gen_range(1e6..500e6);
    Container {
        fixed: ContainerMetrics {
            name,
            runtime: "docker".to_owned(),
            status: "running".to_owned(),
            created: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            image: image.to_owned(),
            memory_limit: limit,
            ..Default::default()
        },
        cpu: Wander::new(cpu, 0.2, cpu * 0.2, 0.0, 100.0),
        memory: Wander::new(memory, 0.1, memory * 0.01, memory * 0.5, memory * 1.5),
        disk,
        rx: Counter::new(rate, age),
        tx: Counter::new(rate * rng.gen_range(0.2..2.0), age),
        processes: if busy { rng.gen_range(2..60) } else { rng.gen_range(1..4) },
    }
}

/// The agent's message with these readings (the gateway's conversion read backwards).
fn to_proto(
    seq: u64,
    at: DateTime<Utc>,
    host: HostMetrics,
    containers: Vec<ContainerMetrics>,
    services: Vec<ServiceMetrics>,
) -> vigil_proto::Metrics {
    use vigil_proto as p;
    let timestamp = rfc3339(at);
    p::Metrics {
        timestamp: timestamp.clone(),
        seq,
        host: Some(p::HostMetrics {
            timestamp,
            uptime: host.uptime,
            cpu: Some(p::CpuMetrics {
                percent: host.cpu.percent,
                cores: host.cpu.cores,
                model: host.cpu.model,
                per_core: host.cpu.per_core,
            }),
            memory: Some(p::MemoryMetrics {
                total: host.memory.total,
                used: host.memory.used,
                available: host.memory.available,
                percent: host.memory.percent,
                swap_total: host.memory.swap_total,
                swap_used: host.memory.swap_used,
            }),
            disk: Some(p::DiskMetrics {
                mounts: host
                    .disk
                    .mounts
                    .into_iter()
                    .map(|m| p::MountMetrics {
                        path: m.path,
                        total: m.total,
                        used: m.used,
                        percent: m.percent,
                        fs_type: m.fs_type,
                    })
                    .collect(),
            }),
            network: Some(p::NetworkMetrics {
                interfaces: host
                    .network
                    .interfaces
                    .into_iter()
                    .map(|i| p::InterfaceMetrics {
                        name: i.name,
                        rx_bytes: i.rx_bytes,
                        tx_bytes: i.tx_bytes,
                        rx_packets: i.rx_packets,
                        tx_packets: i.tx_packets,
                        rx_errors: i.rx_errors,
                        tx_errors: i.tx_errors,
                    })
                    .collect(),
            }),
            load: Some(p::LoadMetrics { load_1m: host.load.load_1m, load_5m: host.load.load_5m, load_15m: host.load.load_15m }),
        }),
        containers: containers
            .into_iter()
            .map(|c| p::ContainerMetrics {
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
            })
            .collect(),
        services: services
            .into_iter()
            .map(|s| p::ServiceMetrics {
                name: s.name,
                status: s.status,
                pid: s.pid,
                memory: s.memory,
                cpu_percent: s.cpu_percent,
                ports: s.ports,
                uptime: s.uptime,
            })
            .collect(),
        custom: vec![],
        errors: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T00:00:00.250Z").unwrap().with_timezone(&Utc)
    }

    /// `count` snapshots of a host of `shape`, 10 s apart.
    fn series(shape: Shape, seed: u64, count: usize) -> Vec<MetricsSnapshot> {
        let mut series = HostSeries::new(shape, seed);
        (0..count).map(|i| series.next_snapshot("acme", "h-1", start() + chrono::Duration::seconds(10 * i as i64))).collect()
    }

    #[test]
    fn shapes_parse_from_their_names_and_print_them() {
        for shape in Shape::ALL {
            assert_eq!(shape.to_string().parse::<Shape>(), Ok(shape));
        }
        let error = "huge".parse::<Shape>().unwrap_err();
        assert_eq!(error.to_string(), "unknown shape \"huge\": expected small, seed or docker");
    }

    #[test]
    fn shapes_have_the_stated_counts() {
        let expected = [(Shape::Small, 2, 1, 2, 0, 0), (Shape::Seed, 8, 3, 3, 5, 4), (Shape::Docker, 32, 4, 40, 30, 8)];
        for (shape, cores, mounts, interfaces, containers, services) in expected {
            for snapshot in series(shape, 7, 3) {
                let host = &snapshot.host;
                assert_eq!((host.cpu.cores, host.cpu.per_core.len()), (cores, cores as usize), "{shape}");
                assert_eq!(host.disk.mounts.len(), mounts, "{shape}");
                assert_eq!(host.network.interfaces.len(), interfaces, "{shape}");
                assert_eq!((snapshot.containers.len(), snapshot.services.len()), (containers, services), "{shape}");
            }
        }
        let seed = &series(Shape::Seed, 1, 1)[0];
        let names = |names: Vec<&str>| names.join(" ");
        assert_eq!(names(seed.host.disk.mounts.iter().map(|m| m.path.as_str()).collect()), "/ /home /var/lib/docker");
        assert_eq!(names(seed.host.disk.mounts.iter().map(|m| m.fs_type.as_str()).collect()), "ext4 ext4 xfs");
        assert_eq!(names(seed.host.network.interfaces.iter().map(|i| i.name.as_str()).collect()), "lo eth0 docker0");
        assert_eq!(names(seed.containers.iter().map(|c| c.name.as_str()).collect()), "nginx postgres redis app worker");
        assert_eq!(names(seed.services.iter().map(|s| s.name.as_str()).collect()), "nginx postgresql redis-server sshd");
        let docker = &series(Shape::Docker, 1, 1)[0];
        let veths = docker.host.network.interfaces.iter().filter(|i| i.name.starts_with("veth") && i.name.len() == 11);
        assert_eq!(veths.count(), 37);
        let names: std::collections::BTreeSet<_> = docker.containers.iter().map(|c| &c.name).collect();
        assert_eq!(names.len(), 30, "container names are unique");
    }

    #[test]
    fn a_seed_gives_the_same_series_and_another_seed_another() {
        for shape in Shape::ALL {
            assert_eq!(series(shape, 42, 50), series(shape, 42, 50), "{shape}");
            assert_ne!(series(shape, 42, 5), series(shape, 43, 5), "{shape}");
        }
        let (mut a, mut b) = (HostSeries::new(Shape::Seed, 9), HostSeries::new(Shape::Seed, 9));
        assert_eq!(a.next(start()), b.next(start()));
    }

    #[test]
    fn counters_never_decrease_over_a_thousand_steps() {
        for shape in Shape::ALL {
            let snapshots = series(shape, 3, 1000);
            for pair in snapshots.windows(2) {
                let (before, after) = (&pair[0], &pair[1]);
                assert_eq!(after.host.uptime, before.host.uptime + 10, "{shape}");
                for (b, a) in before.host.network.interfaces.iter().zip(&after.host.network.interfaces) {
                    let counters =
                        |i: &InterfaceMetrics| [i.rx_bytes, i.tx_bytes, i.rx_packets, i.tx_packets, i.rx_errors, i.tx_errors];
                    for (b, a) in counters(b).into_iter().zip(counters(a)) {
                        assert!(a >= b, "{shape} seq {}: {b} then {a}", after.seq);
                    }
                }
                for (b, a) in before.host.disk.mounts.iter().zip(&after.host.disk.mounts) {
                    assert!(a.used >= b.used && a.used % 4096 == 0, "{shape} {}: {} then {}", a.path, b.used, a.used);
                }
                for (b, a) in before.containers.iter().zip(&after.containers) {
                    assert!(a.network_rx >= b.network_rx && a.network_tx >= b.network_tx, "{shape} {}", a.name);
                    assert!(a.disk_used >= b.disk_used, "{shape} {}", a.name);
                }
            }
            let (first, last) = (&snapshots[0], &snapshots[999]);
            let grew = |s: &MetricsSnapshot| s.host.network.rx_bytes();
            assert!(grew(last) > grew(first), "{shape}: the network counters grow");
        }
    }

    #[test]
    fn percentages_wander_within_bounds_with_two_decimals() {
        let snapshots = series(Shape::Docker, 11, 1000);
        let cpus: std::collections::BTreeSet<u64> = snapshots.iter().map(|s| (s.host.cpu.percent * 100.0) as u64).collect();
        assert!(cpus.len() > 100, "cpu wanders: {} distinct values", cpus.len());
        let two_decimals = |v: f64| (v * 100.0 - (v * 100.0).round()).abs() < 1e-6;
        for s in &snapshots {
            let host = &s.host;
            assert!(host.cpu.percent <= 45.0 && two_decimals(host.cpu.percent), "{}", host.cpu.percent);
            assert!(host.cpu.per_core.iter().all(|c| (0.0..=100.0).contains(c) && two_decimals(*c)));
            assert!(host.memory.percent <= 70.0 && host.memory.used % 4096 == 0);
            assert_eq!(host.memory.used + host.memory.available, host.memory.total);
            assert!(host.disk.mounts.iter().all(|m| m.percent < 90.0 && m.total - m.used > 1_000_000_000));
            assert!(s.containers.iter().all(|c| c.memory_used % 4096 == 0 && c.memory_percent < 95.0 && c.cpu_percent < 90.0));
            assert!(s.services.iter().all(|v| v.memory % 4096 == 0));
        }
        let (first, last) = (&snapshots[0], &snapshots[999]);
        for (a, b) in first.services.iter().zip(&last.services) {
            assert_eq!((a.pid, &a.ports), (b.pid, &b.ports), "a service keeps its pid and ports");
        }
        for (a, b) in first.containers.iter().zip(&last.containers) {
            assert_eq!((&a.image, &a.created, a.memory_limit), (&b.image, &b.created, b.memory_limit));
        }
    }

    #[test]
    fn the_agents_message_carries_the_published_values() {
        let (mut agent, mut gateway) = (HostSeries::new(Shape::Seed, 5), HostSeries::new(Shape::Seed, 5));
        for step in 0..3 {
            let at = start() + chrono::Duration::seconds(10 * step);
            let (metrics, snapshot) = (agent.next(at), gateway.next_snapshot("acme", "h-1", at));
            assert_eq!((metrics.seq, metrics.timestamp.as_str()), (snapshot.seq, rfc3339(snapshot.collected_at).as_str()));
            let host = metrics.host.unwrap();
            assert_eq!(host.cpu.unwrap().per_core, snapshot.host.cpu.per_core);
            assert_eq!(host.memory.unwrap().used, snapshot.host.memory.used);
            let interfaces = host.network.unwrap().interfaces;
            assert_eq!(interfaces.iter().map(|i| i.rx_bytes).sum::<u64>(), snapshot.host.network.rx_bytes());
            assert_eq!(host.disk.unwrap().mounts.iter().map(|m| m.used).sum::<u64>(), snapshot.host.disk.used());
            let cpu = |c: &vigil_proto::ContainerMetrics| (c.name.clone(), c.cpu_percent, c.network_rx);
            let bus_cpu = |c: &ContainerMetrics| (c.name.clone(), c.cpu_percent, c.network_rx);
            assert_eq!(
                metrics.containers.iter().map(cpu).collect::<Vec<_>>(),
                snapshot.containers.iter().map(bus_cpu).collect::<Vec<_>>()
            );
            assert_eq!(
                metrics.services.iter().map(|s| s.memory).collect::<Vec<_>>(),
                snapshot.services.iter().map(|s| s.memory).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn shaped_snapshots_match_the_bus_schema() {
        for shape in Shape::ALL {
            let snapshot = &series(shape, 2, 2)[1];
            crate::schemas::assert_valid("metrics-snapshot.schema.json", None, &serde_json::to_value(snapshot).unwrap());
        }
    }
}
