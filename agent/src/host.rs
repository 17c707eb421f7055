//! Host metrics read straight from `/proc` and `statvfs(3)` (seed §3.4).
//!
//! [`HostCollector`] keeps the previous `/proc/stat` sample so the CPU
//! percentages are the usage between two collections. Every section (cpu,
//! memory, disk, network, load, uptime) is read independently: a file that is
//! missing or unreadable, or garbage, leaves that section empty (`None`) and
//! is reported as a [`SectionError`] (and logged by [`HostCollector::collect`]);
//! the rest of the snapshot still goes out.
//!
//! The `/proc` root is a parameter so tests can point at a fixture directory.
//! Mount points found in `<proc>/mounts` are absolute paths of the real
//! filesystem and are measured with `statvfs` there.
//!
//! Invariant: a snapshot lists at most `collection.host.max_mounts` mounts
//! and `max_interfaces` interfaces one by one; the rest are summed into one
//! more entry named [`OTHER`] (`(other)`), so host totals stay exact and the
//! host section's size is bounded whatever the machine runs (a container host
//! with thousands of veths once made a 1.7 MB snapshot). Which ones are kept
//! is decided by [`bound_mounts`] and [`bound_interfaces`].

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_proto::{
    CpuMetrics, DiskMetrics, HostMetrics, InterfaceMetrics, LoadMetrics, MemoryMetrics, MountMetrics, NetworkMetrics,
};

use crate::config::{HostMetric, DEFAULT_MAX_INTERFACES, DEFAULT_MAX_MOUNTS};

/// Name of the one entry summing the mounts or interfaces past the bound
/// (its `fs_type` too, for a mount). No mount path (always absolute) or
/// interface name the kernel makes can be this, and it is the same in every
/// snapshot, so it is one continuous series.
pub const OTHER: &str = "(other)";

/// Interface name prefixes of bridges and overlays made by container and VM
/// engines. Kept after the host's own interfaces (physical, bonds, VLANs,
/// VPNs: everything not listed here), before [`ENDPOINT_PREFIXES`].
pub const BRIDGE_PREFIXES: &[&str] = &[
    "docker",
    "br-",
    "virbr",
    "lxcbr",
    "lxdbr",
    "incusbr",
    "podman",
    "cni",
    "flannel",
    "vxlan",
    "cilium",
    "weave",
    "kube-",
    "tunl",
    "genev",
    "nodelocaldns",
];

/// Interface name prefixes of per-container or per-VM endpoints: there is
/// one per container (veth pairs, Calico, Cilium `lxc*`, tap and vnet
/// devices of VMs, Proxmox firewall links), so these are the ones that run
/// into thousands. Kept last.
pub const ENDPOINT_PREFIXES: &[&str] = &["veth", "cali", "lxc", "tap", "vnet", "vif", "fwpr", "fwln", "fwbr"];

/// Filesystems that hold no user data and are left out of `disk.mounts`.
///
/// `overlay` is left out too, except when mounted on `/`: inside a container
/// the root is an overlay and it is the disk the user cares about, while on a
/// container host every container's merged overlay (under
/// `/var/lib/docker/...`) only repeats the numbers of the backing filesystem.
/// `squashfs` images (snaps, live media) are read-only and always 100 % full.
pub const PSEUDO_FILESYSTEMS: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "rpc_pipefs",
    "nsfs",
    "ramfs",
    "efivarfs",
    "selinuxfs",
    "squashfs",
    "fuse.lxcfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "fuse.snapfuse",
    "nfsd",
    "overlay",
    "aufs",
    "shm",
    "none",
];

/// What went wrong reading one section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    #[error("{section}: cannot read {path}: {reason}")]
    Read { section: &'static str, path: PathBuf, reason: String },
    #[error("{section}: cannot parse {path}: {reason}")]
    Parse { section: &'static str, path: PathBuf, reason: String },
}

impl SectionError {
    pub fn section(&self) -> &'static str {
        match self {
            Self::Read { section, .. } | Self::Parse { section, .. } => section,
        }
    }
}

/// Jiffies of one CPU line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CpuSample {
    all: CpuTimes,
    cores: Vec<CpuTimes>,
}

/// Collects [`HostMetrics`]; keeps the previous CPU sample between calls.
///
/// On the real `/proc` the files read at every collection (`stat`,
/// `meminfo`, `mounts`, `net/dev`, `loadavg`, `uptime`) are opened once and
/// read again from offset 0 (`pread`: the kernel generates them afresh),
/// which saves an open and a close each; a file that fails is dropped and
/// opened again next time. The CPU model (`cpuinfo`, expensive to generate
/// on many-core machines) is read once, on the first collection that finds
/// one. A fixture root (tests) is read by path every time, so its files may
/// be replaced between collections.
#[derive(Debug)]
pub struct HostCollector {
    proc_root: PathBuf,
    metrics: BTreeSet<HostMetric>,
    previous_cpu: Option<CpuSample>,
    /// `Some` on the real `/proc`: the files kept open, by name.
    kept: Option<std::sync::Mutex<std::collections::HashMap<&'static str, std::fs::File>>>,
    cpu_model: std::sync::OnceLock<String>,
    /// Mounts listed one by one ([`bound_mounts`]).
    max_mounts: usize,
    /// Interfaces listed one by one ([`bound_interfaces`]).
    max_interfaces: usize,
}

impl HostCollector {
    /// A collector reading `proc_root` (normally `/proc`) for the given
    /// metrics, with the default bounds (32 mounts, 32 interfaces).
    pub fn new(proc_root: impl Into<PathBuf>, metrics: BTreeSet<HostMetric>) -> Self {
        let proc_root = proc_root.into();
        let kept = (proc_root == Path::new("/proc")).then(Default::default);
        Self {
            proc_root,
            metrics,
            previous_cpu: None,
            kept,
            cpu_model: std::sync::OnceLock::new(),
            max_mounts: DEFAULT_MAX_MOUNTS,
            max_interfaces: DEFAULT_MAX_INTERFACES,
        }
    }

    /// The same collector listing at most `max_mounts` mounts and
    /// `max_interfaces` interfaces one by one (the rest in [`OTHER`]).
    pub fn with_bounds(mut self, max_mounts: usize, max_interfaces: usize) -> Self {
        self.max_mounts = max_mounts;
        self.max_interfaces = max_interfaces;
        self
    }

    /// A collector of every host metric from `/proc`.
    pub fn system() -> Self {
        Self::new("/proc", HostMetric::ALL.into_iter().collect())
    }

    /// Takes a CPU sample so the next [`collect`](Self::collect) has a base.
    pub fn prime(&mut self) {
        if let Ok(sample) = self.read_cpu_sample() {
            self.previous_cpu = Some(sample);
        }
    }

    /// Collects once after a fresh base sample `gap` earlier (for one-shot
    /// commands). Blocks for `gap`.
    pub fn collect_blocking_once(&mut self, gap: Duration) -> (HostMetrics, Vec<SectionError>) {
        self.prime();
        std::thread::sleep(gap);
        self.collect_with_errors()
    }

    /// Collects a snapshot, logging each section that could not be read.
    pub fn collect(&mut self) -> HostMetrics {
        let (metrics, errors) = self.collect_with_errors();
        for error in &errors {
            tracing::warn!(section = error.section(), error = %error, "host metrics section left empty");
        }
        metrics
    }

    /// Collects a snapshot and returns what could not be read.
    pub fn collect_with_errors(&mut self) -> (HostMetrics, Vec<SectionError>) {
        let mut errors = Vec::new();
        let mut host = HostMetrics { timestamp: crate::now_rfc3339(), ..Default::default() };
        fn keep<T>(errors: &mut Vec<SectionError>, result: Result<T, SectionError>) -> Option<T> {
            result.map_err(|error| errors.push(error)).ok()
        }
        if self.metrics.contains(&HostMetric::Uptime) {
            host.uptime = keep(&mut errors, self.read_uptime()).unwrap_or(0);
        }
        if self.metrics.contains(&HostMetric::Cpu) {
            host.cpu = keep(&mut errors, self.read_cpu());
        }
        if self.metrics.contains(&HostMetric::Memory) {
            host.memory = keep(&mut errors, self.read_memory());
        }
        if self.metrics.contains(&HostMetric::Disk) {
            host.disk = keep(&mut errors, self.read_disk());
        }
        if self.metrics.contains(&HostMetric::Network) {
            host.network = keep(&mut errors, self.read_network());
        }
        if self.metrics.contains(&HostMetric::Load) {
            host.load = keep(&mut errors, self.read_load());
        }
        (host, errors)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.proc_root.join(name)
    }

    fn read(&self, section: &'static str, name: &'static str) -> Result<(PathBuf, String), SectionError> {
        let path = self.path(name);
        if let Some(kept) = &self.kept {
            let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(file) = kept.get(name) {
                match read_from_start(file) {
                    Ok(text) => return Ok((path, text)),
                    Err(_) => {
                        kept.remove(name);
                    }
                }
            }
            let opened = std::fs::File::open(&path).and_then(|file| read_from_start(&file).map(|text| (file, text)));
            return match opened {
                Ok((file, text)) => {
                    kept.insert(name, file);
                    Ok((path, text))
                }
                Err(error) => Err(SectionError::Read { section, path, reason: error.to_string() }),
            };
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(error) => Err(SectionError::Read { section, path, reason: error.to_string() }),
        }
    }

    fn read_uptime(&self) -> Result<u64, SectionError> {
        let (path, text) = self.read("uptime", "uptime")?;
        let seconds: f64 = text
            .split_whitespace()
            .next()
            .and_then(|first| first.parse().ok())
            .filter(|seconds: &f64| seconds.is_finite() && *seconds >= 0.0)
            .ok_or_else(|| SectionError::Parse {
                section: "uptime",
                path,
                reason: "first field is not a number of seconds".into(),
            })?;
        Ok(seconds as u64)
    }

    fn read_cpu_sample(&self) -> Result<CpuSample, SectionError> {
        let (path, text) = self.read("cpu", "stat")?;
        parse_stat(&text).map_err(|reason| SectionError::Parse { section: "cpu", path, reason })
    }

    fn read_cpu(&mut self) -> Result<CpuMetrics, SectionError> {
        let sample = self.read_cpu_sample()?;
        let previous = self.previous_cpu.replace(sample.clone());
        let percent = |now: CpuTimes, before: Option<CpuTimes>| -> f64 {
            let before = before.unwrap_or_default();
            let total = now.total.saturating_sub(before.total);
            let busy = now.busy.saturating_sub(before.busy);
            if total == 0 {
                0.0
            } else {
                round2((busy as f64 / total as f64 * 100.0).clamp(0.0, 100.0))
            }
        };
        // Without a previous sample the percentages are averages since boot.
        let all = percent(sample.all, previous.as_ref().map(|p| p.all));
        let per_core = sample
            .cores
            .iter()
            .enumerate()
            .map(|(index, core)| percent(*core, previous.as_ref().and_then(|p| p.cores.get(index).copied())))
            .collect();
        let model = match self.cpu_model.get() {
            Some(model) => model.clone(),
            None => {
                let model = std::fs::read_to_string(self.path("cpuinfo")).map(|text| cpu_model(&text)).unwrap_or_default();
                if !model.is_empty() {
                    let _ = self.cpu_model.set(model.clone());
                }
                model
            }
        };
        Ok(CpuMetrics { percent: all, cores: sample.cores.len() as u32, model, per_core })
    }

    fn read_memory(&self) -> Result<MemoryMetrics, SectionError> {
        let (path, text) = self.read("memory", "meminfo")?;
        parse_meminfo(&text).map_err(|reason| SectionError::Parse { section: "memory", path, reason })
    }

    fn read_disk(&self) -> Result<DiskMetrics, SectionError> {
        let (path, text) = self.read("disk", "mounts")?;
        let entries = parse_mounts(&text);
        if entries.is_empty() && !text.trim().is_empty() {
            return Err(SectionError::Parse { section: "disk", path, reason: "no mount line has 4 fields".into() });
        }
        // (device, mount): bind mounts and the same device mounted twice show
        // the same numbers, so each device is listed once, under its shortest path.
        let mut mounts: Vec<(u64, MountMetrics)> = Vec::new();
        for entry in entries {
            if is_pseudo(&entry.fs_type, &entry.target) {
                continue;
            }
            let target = Path::new(&entry.target);
            let device = match std::fs::metadata(target) {
                Ok(metadata) => metadata.dev(),
                Err(error) => {
                    tracing::debug!(mount = %entry.target, error = %error, "mount point not accessible; skipped");
                    continue;
                }
            };
            if let Some((_, existing)) = mounts.iter_mut().find(|(seen, _)| *seen == device) {
                if entry.target.len() < existing.path.len() {
                    existing.path = entry.target;
                }
                continue;
            }
            let stats = match statvfs(target) {
                Ok(stats) => stats,
                Err(error) => {
                    tracing::debug!(mount = %entry.target, error = %error, "statvfs failed; skipped");
                    continue;
                }
            };
            if stats.blocks == 0 {
                continue;
            }
            mounts.push((
                device,
                MountMetrics {
                    path: entry.target,
                    total: stats.total(),
                    used: stats.used(),
                    percent: stats.percent(),
                    fs_type: entry.fs_type,
                },
            ));
        }
        let mounts = mounts.into_iter().map(|(_, mount)| mount).collect();
        Ok(DiskMetrics { mounts: bound_mounts(mounts, self.max_mounts) })
    }

    fn read_network(&self) -> Result<NetworkMetrics, SectionError> {
        let (path, text) = self.read("network", "net/dev")?;
        let network = parse_net_dev(&text).map_err(|reason| SectionError::Parse { section: "network", path, reason })?;
        Ok(NetworkMetrics { interfaces: bound_interfaces(network.interfaces, self.max_interfaces) })
    }

    fn read_load(&self) -> Result<LoadMetrics, SectionError> {
        let (path, text) = self.read("load", "loadavg")?;
        parse_loadavg(&text).map_err(|reason| SectionError::Parse { section: "load", path, reason })
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Which of `ranks.len()` entries to keep: the `max` with the lowest rank,
/// the earlier one first among equal ranks.
fn kept_entries(ranks: &[u8], max: usize) -> Vec<bool> {
    let mut order: Vec<(u8, usize)> = ranks.iter().copied().zip(0..).collect();
    order.sort_unstable();
    let mut keep = vec![false; ranks.len()];
    for &(_, index) in order.iter().take(max) {
        keep[index] = true;
    }
    keep
}

/// At most `max` mounts one by one, the rest summed into one more entry
/// named [`OTHER`] (path and `fs_type`).
///
/// The order is `/proc/mounts` order (mounted first, listed first), except
/// that `/` is always kept; an [`OTHER`] entry already there (a list bounded
/// before) is folded again. Kept mounts stay in their order, `(other)` comes
/// last with the sums of `total` and `used` (so the host's disk totals stay
/// exact) and `percent` = used / total of the folded mounts. A list of at
/// most `max` is returned unchanged.
pub fn bound_mounts(mounts: Vec<MountMetrics>, max: usize) -> Vec<MountMetrics> {
    if mounts.len() <= max {
        return mounts;
    }
    let ranks: Vec<u8> = mounts
        .iter()
        .map(|mount| match mount.path.as_str() {
            "/" => 0,
            OTHER => 2,
            _ => 1,
        })
        .collect();
    let keep = kept_entries(&ranks, max);
    let mut other = MountMetrics { path: OTHER.to_owned(), fs_type: OTHER.to_owned(), ..Default::default() };
    let mut kept = Vec::with_capacity(max + 1);
    for (mount, keep) in mounts.into_iter().zip(keep) {
        if keep {
            kept.push(mount);
        } else {
            other.total = other.total.saturating_add(mount.total);
            other.used = other.used.saturating_add(mount.used);
        }
    }
    other.percent = if other.total == 0 { 0.0 } else { round2(other.used as f64 / other.total as f64 * 100.0) };
    kept.push(other);
    kept
}

/// How an interface ranks when not all can be listed: 0 the host's own
/// (physical, bond, VLAN, VPN, anything unlisted), 1 engine bridges and
/// overlays ([`BRIDGE_PREFIXES`]), 2 per-container endpoints
/// ([`ENDPOINT_PREFIXES`]), 3 an [`OTHER`] entry of an earlier bound.
pub fn interface_rank(name: &str) -> u8 {
    if name == OTHER {
        3
    } else if BRIDGE_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
        1
    } else if ENDPOINT_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
        2
    } else {
        0
    }
}

/// At most `max` interfaces one by one, the rest summed into one more entry
/// named [`OTHER`].
///
/// Kept: the lowest [`interface_rank`] first (the host's own interfaces,
/// then bridges, then per-container endpoints such as `veth*`), kernel
/// (`/proc/net/dev`) order among equals. Kept interfaces stay in kernel
/// order, `(other)` comes last with every counter summed (so the host's
/// network totals stay exact). A list of at most `max` is returned unchanged.
pub fn bound_interfaces(interfaces: Vec<InterfaceMetrics>, max: usize) -> Vec<InterfaceMetrics> {
    if interfaces.len() <= max {
        return interfaces;
    }
    let ranks: Vec<u8> = interfaces.iter().map(|interface| interface_rank(&interface.name)).collect();
    let keep = kept_entries(&ranks, max);
    let mut other = InterfaceMetrics { name: OTHER.to_owned(), ..Default::default() };
    let mut kept = Vec::with_capacity(max + 1);
    for (interface, keep) in interfaces.into_iter().zip(keep) {
        if keep {
            kept.push(interface);
        } else {
            other.rx_bytes = other.rx_bytes.saturating_add(interface.rx_bytes);
            other.tx_bytes = other.tx_bytes.saturating_add(interface.tx_bytes);
            other.rx_packets = other.rx_packets.saturating_add(interface.rx_packets);
            other.tx_packets = other.tx_packets.saturating_add(interface.tx_packets);
            other.rx_errors = other.rx_errors.saturating_add(interface.rx_errors);
            other.tx_errors = other.tx_errors.saturating_add(interface.tx_errors);
        }
    }
    kept.push(other);
    kept
}

fn parse_cpu_line(fields: &[&str]) -> Option<CpuTimes> {
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    // guest time is already counted in user/nice.
    let numbers: Vec<u64> = fields.iter().take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if numbers.len() < 4 {
        return None;
    }
    let total: u64 = numbers.iter().sum();
    let idle = numbers[3] + numbers.get(4).copied().unwrap_or(0);
    Some(CpuTimes { busy: total - idle, total })
}

fn parse_stat(text: &str) -> Result<CpuSample, String> {
    let mut all = None;
    let mut cores = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some((name, rest)) = fields.split_first() else { continue };
        if *name == "cpu" {
            all = Some(parse_cpu_line(rest).ok_or("the `cpu` line has no numeric jiffies")?);
        } else if name.starts_with("cpu") && name[3..].chars().all(|c| c.is_ascii_digit()) {
            cores.push(parse_cpu_line(rest).ok_or_else(|| format!("the `{name}` line has no numeric jiffies"))?);
        }
    }
    let all = all.ok_or("no `cpu` line")?;
    if cores.is_empty() {
        return Err("no per-cpu `cpuN` line".into());
    }
    Ok(CpuSample { all, cores })
}

fn cpu_model(cpuinfo: &str) -> String {
    for key in ["model name", "Hardware", "Processor", "cpu model", "cpu"] {
        let found = cpuinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == key && !value.trim().is_empty()).then(|| value.trim().to_owned())
        });
        if let Some(model) = found {
            return model;
        }
    }
    String::new()
}

fn parse_meminfo(text: &str) -> Result<MemoryMetrics, String> {
    let field = |key: &str| -> Option<u64> {
        text.lines().find_map(|line| {
            let (name, rest) = line.split_once(':')?;
            if name.trim() != key {
                return None;
            }
            let mut parts = rest.split_whitespace();
            let value: u64 = parts.next()?.parse().ok()?;
            let factor = match parts.next() {
                Some("kB") => 1024,
                None => 1,
                Some(_) => return None,
            };
            value.checked_mul(factor)
        })
    };
    let total = field("MemTotal").ok_or("no numeric MemTotal")?;
    let available = match field("MemAvailable") {
        Some(available) => available,
        // kernels before 3.14
        None => {
            let free = field("MemFree").ok_or("neither MemAvailable nor MemFree")?;
            free + field("Buffers").unwrap_or(0) + field("Cached").unwrap_or(0)
        }
    }
    .min(total);
    let used = total - available;
    let swap_total = field("SwapTotal").unwrap_or(0);
    let swap_used = swap_total.saturating_sub(field("SwapFree").unwrap_or(swap_total));
    let percent = if total == 0 { 0.0 } else { round2(used as f64 / total as f64 * 100.0) };
    Ok(MemoryMetrics { total, used, available, percent, swap_total, swap_used })
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MountEntry {
    target: String,
    fs_type: String,
}

/// `/proc/mounts` escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\'
            && index + 3 < bytes.len()
            && bytes[index + 1..index + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[index + 1] - b'0') as u32 * 64 + (bytes[index + 2] - b'0') as u32 * 8 + (bytes[index + 3] - b'0') as u32;
            out.push(value as u8);
            index += 4;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _source = fields.next()?;
            let target = unescape_mount(fields.next()?);
            let fs_type = fields.next()?.to_owned();
            let _options = fields.next()?;
            target.starts_with('/').then_some(MountEntry { target, fs_type })
        })
        .collect()
}

fn is_pseudo(fs_type: &str, target: &str) -> bool {
    if fs_type == "overlay" && target == "/" {
        return false;
    }
    PSEUDO_FILESYSTEMS.contains(&fs_type)
}

/// The numbers of `statvfs(3)` that `df` uses.
#[derive(Debug, Clone, Copy)]
struct FsStats {
    blocks: u64,
    bfree: u64,
    bavail: u64,
    frsize: u64,
}

impl FsStats {
    fn total(&self) -> u64 {
        self.blocks.saturating_mul(self.frsize)
    }

    fn used(&self) -> u64 {
        self.blocks.saturating_sub(self.bfree).saturating_mul(self.frsize)
    }

    /// Like `df`: used / (used + available to unprivileged users), rounded
    /// to two decimals.
    fn percent(&self) -> f64 {
        let used = self.used() as f64;
        let denominator = used + self.bavail.saturating_mul(self.frsize) as f64;
        if denominator == 0.0 {
            0.0
        } else {
            round2(used / denominator * 100.0)
        }
    }
}

/// Reads `file` (a `/proc` file kept open) from offset 0 to its end.
fn read_from_start(file: &std::fs::File) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let mut bytes = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let read = file.read_at(&mut chunk, bytes.len() as u64)?;
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Calls `statvfs(3)` on `path`.
#[allow(unsafe_code)]
fn statvfs(path: &Path) -> std::io::Result<FsStats> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `statvfs` is plain old data for which all-zero bytes are a
    // valid value; `c_path` is a NUL-terminated string that outlives the
    // call, and `stats` is a valid, exclusively borrowed out-pointer. The
    // kernel only writes into `stats`.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    let result = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = if stats.f_frsize > 0 { stats.f_frsize as u64 } else { stats.f_bsize as u64 };
    Ok(FsStats { blocks: stats.f_blocks as u64, bfree: stats.f_bfree as u64, bavail: stats.f_bavail as u64, frsize })
}

fn parse_net_dev(text: &str) -> Result<NetworkMetrics, String> {
    let mut interfaces = Vec::new();
    for line in text.lines() {
        let Some((name, counters)) = line.split_once(':') else { continue };
        let name = name.trim();
        if name.is_empty() || name.contains('|') {
            continue;
        }
        let numbers: Vec<u64> = counters
            .split_whitespace()
            .map(|field| field.parse())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("interface {name:?} has a counter that is not a number"))?;
        if numbers.len() < 11 {
            return Err(format!("interface {name:?} has {} counters, expected 16", numbers.len()));
        }
        if name == "lo" {
            continue;
        }
        interfaces.push(InterfaceMetrics {
            name: name.to_owned(),
            rx_bytes: numbers[0],
            rx_packets: numbers[1],
            rx_errors: numbers[2],
            tx_bytes: numbers[8],
            tx_packets: numbers[9],
            tx_errors: numbers[10],
        });
    }
    if interfaces.is_empty() && !text.contains("Inter-|") {
        return Err("no interface line and no header".into());
    }
    Ok(NetworkMetrics { interfaces })
}

fn parse_loadavg(text: &str) -> Result<LoadMetrics, String> {
    let values: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(|field| field.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0))
        .collect::<Option<_>>()
        .ok_or("the first three fields are not load averages")?;
    if values.len() < 3 {
        return Err("fewer than three load averages".into());
    }
    Ok(LoadMetrics { load_1m: values[0], load_5m: values[1], load_15m: values[2] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_proc_files_give_fresh_numbers_at_each_collection() {
        let mut collector = HostCollector::system();
        let (first, errors) = collector.collect_with_errors();
        assert!(errors.is_empty(), "{errors:?}");
        let kept: Vec<&str> = collector.kept.as_ref().unwrap().lock().unwrap().keys().copied().collect();
        for name in ["stat", "meminfo", "mounts", "net/dev", "loadavg", "uptime"] {
            assert!(kept.contains(&name), "{name} not kept: {kept:?}");
        }
        std::thread::sleep(Duration::from_millis(1100));
        let (second, errors) = collector.collect_with_errors();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(second.uptime > first.uptime, "uptime {} then {}", first.uptime, second.uptime);
        let uptime: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
        assert!((uptime - second.uptime as f64).abs() < 2.0, "{} vs {uptime}", second.uptime);
        assert_eq!(second.disk.as_ref().map(|d| d.mounts.len()), first.disk.as_ref().map(|d| d.mounts.len()));
        assert_eq!(first.cpu.as_ref().unwrap().model, second.cpu.as_ref().unwrap().model);
        // a fixture root keeps nothing open
        assert!(HostCollector::new("/tmp/not-proc", HostMetric::ALL.into_iter().collect()).kept.is_none());
    }

    #[test]
    fn cpu_percent_is_busy_share_of_the_delta() {
        let before = parse_stat("cpu 100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n").unwrap();
        let after = parse_stat("cpu 150 0 150 900 0 0 0 0 0 0\ncpu0 150 0 150 900 0 0 0 0 0 0\n").unwrap();
        assert_eq!(after.all.busy - before.all.busy, 100);
        assert_eq!(after.all.total - before.all.total, 200);
    }

    #[test]
    fn iowait_counts_as_idle() {
        let sample = parse_stat("cpu 10 0 10 50 30 0 0 0\ncpu0 10 0 10 50 30 0 0 0\n").unwrap();
        assert_eq!(sample.all, CpuTimes { busy: 20, total: 100 });
    }

    #[test]
    fn garbage_stat_is_an_error() {
        assert!(parse_stat("cpu a b c d\ncpu0 1 2 3 4\n").is_err());
        assert!(parse_stat("hello\n").is_err());
    }

    #[test]
    fn meminfo_used_is_total_minus_available() {
        let memory =
            parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\nSwapTotal: 200 kB\nSwapFree: 50 kB\n")
                .unwrap();
        assert_eq!(memory.total, 1_024_000);
        assert_eq!(memory.available, 409_600);
        assert_eq!(memory.used, 614_400);
        assert_eq!(memory.percent, 60.0);
        assert_eq!(memory.swap_total, 204_800);
        assert_eq!(memory.swap_used, 153_600);
    }

    #[test]
    fn mount_paths_are_unescaped() {
        let mounts = parse_mounts("/dev/sda1 /mnt/my\\040disk ext4 rw 0 0\n");
        assert_eq!(mounts, vec![MountEntry { target: "/mnt/my disk".into(), fs_type: "ext4".into() }]);
    }

    #[test]
    fn root_overlay_is_kept_other_overlays_are_not() {
        assert!(!is_pseudo("overlay", "/"));
        assert!(is_pseudo("overlay", "/var/lib/docker/overlay2/x/merged"));
        assert!(is_pseudo("tmpfs", "/run"));
        assert!(!is_pseudo("ext4", "/"));
    }

    #[test]
    fn net_dev_skips_loopback() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 1 2 3 0 0 0 0 0 4 5 6 0 0 0 0 0\n  eth0: 10 20 30 0 0 0 0 0 40 50 60 0 0 0 0 0\n";
        let network = parse_net_dev(text).unwrap();
        assert_eq!(network.interfaces.len(), 1);
        let eth0 = &network.interfaces[0];
        assert_eq!((eth0.rx_bytes, eth0.rx_packets, eth0.rx_errors), (10, 20, 30));
        assert_eq!((eth0.tx_bytes, eth0.tx_packets, eth0.tx_errors), (40, 50, 60));
    }

    #[test]
    fn interfaces_rank_host_then_bridges_then_container_endpoints() {
        for name in ["eth0", "enp3s0", "bond0", "eth0.100", "wg0", "tun0", "tailscale0", "ens5"] {
            assert_eq!(interface_rank(name), 0, "{name}");
        }
        for name in ["docker0", "br-1a2b3c", "virbr0", "lxcbr0", "cni0", "flannel.1", "vxlan.calico", "cilium_host", "tunl0"] {
            assert_eq!(interface_rank(name), 1, "{name}");
        }
        for name in ["veth1a2b3c", "cali12ab", "lxc1234", "tap100i0", "vnet3", "fwpr100p0"] {
            assert_eq!(interface_rank(name), 2, "{name}");
        }
        assert_eq!(interface_rank(OTHER), 3);
    }

    #[test]
    fn an_earlier_other_is_folded_again() {
        let interface = |name: &str, rx: u64| InterfaceMetrics { name: name.into(), rx_bytes: rx, ..Default::default() };
        let once = bound_interfaces(vec![interface("eth0", 1), interface("veth0", 2), interface("veth1", 4)], 1);
        assert_eq!(once, vec![interface("eth0", 1), interface(OTHER, 6)]);
        let again = bound_interfaces(once, 0);
        assert_eq!(again, vec![interface(OTHER, 7)]);
    }

    #[test]
    fn loadavg_parses_three_values() {
        let load = parse_loadavg("0.25 1.09 0.80 1/140 19769\n").unwrap();
        assert_eq!((load.load_1m, load.load_5m, load.load_15m), (0.25, 1.09, 0.80));
        assert!(parse_loadavg("x y z").is_err());
    }
}
