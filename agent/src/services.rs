//! Service metrics (`collection.services`, seed §3.3/§3.4).
//!
//! Which services: the `watch` names (always reported, `not-found` when
//! nothing matches), the well-known services that are running when
//! `discover: true` ([`KNOWN`]), and the `custom` checks.
//!
//! Status and main pid: from systemd (`systemctl show`) when systemd runs
//! (`/run/systemd/system`), from OpenRC (`rc-service NAME status`) when it runs
//! (`/run/openrc`), and otherwise — or when the init system has no such unit —
//! from the running processes (`/proc/*/comm` and `cmdline`).
//!
//! Per service the process tree is every matching process whose parent does
//! not match (the roots; the main pid is a root with matching children — a
//! master — if there is one, else the oldest) plus their descendants:
//! memory is the sum of their `VmRSS`, cpu the share of one CPU their
//! utime+stime took since the previous collection (since their start on the
//! first one), ports the TCP sockets in LISTEN state they hold (socket inodes
//! of `/proc/PID/fd` matched against the kernel's LISTEN sockets), uptime the
//! main pid's age.
//!
//! Cost (the agent must stay lighter than node_exporter): the LISTEN sockets
//! come from the kernel's sock_diag netlink interface asking for the LISTEN
//! state only ([`listening_sockets`]), because reading `/proc/net/tcp{,6}`
//! walks the whole established-connections hash table (262 144 buckets on a
//! few-GB host) for each of the two files, which cost several milliseconds of
//! CPU per collection; `/proc/net/tcp{,6}` stays the fallback when netlink is
//! unavailable and is what a `proc_root` other than `/proc` (tests) is read
//! for. A process's command line is read once per (pid, start time, comm)
//! and kept in [`CmdlineCache`] between collections (an `exec` changes the
//! comm, a new process the start time); `/proc` files are read with one
//! reusable buffer, without the size probes of `read_to_string`.
//!
//! Invariants: commands (`systemctl`, `rc-service`, custom checks) run with a
//! timeout and concurrently, so the section takes at most about one
//! [`COMMAND_TIMEOUT`]; a failing init system falls back to process
//! matching and is reported as a [`SectionFailure`]. `/proc` reading runs on
//! the blocking pool. Clock ticks are taken as 100 per second (USER_HZ is
//! 100 on every Linux architecture that reports it to user space).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vigil_proto::ServiceMetrics;

use crate::config::{CustomService, ServicesConfig};
use crate::containers::SectionFailure;
use crate::custom::{run_shell, CommandOutcome};

/// Timeout of `systemctl`, `rc-service` and custom checks.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// USER_HZ.
const CLOCK_TICKS: f64 = 100.0;

/// How a process is recognised.
#[derive(Debug, Clone, Copy)]
pub enum Matcher {
    /// comm (or argv\[0\]'s file name) equals one of these.
    Names(&'static [&'static str]),
    /// comm starts with this (php-fpm8.2).
    Prefix(&'static str),
    /// comm equals the first, and the command line contains the second.
    NameWith(&'static str, &'static str),
}

/// A well-known service.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub name: &'static str,
    /// Other names it is watched under.
    pub aliases: &'static [&'static str],
    /// systemd units / OpenRC services to ask, first found wins.
    pub units: &'static [&'static str],
    pub matcher: Matcher,
}

/// The services `discover: true` looks for.
pub const KNOWN: &[Known] = &[
    Known { name: "nginx", aliases: &[], units: &["nginx"], matcher: Matcher::Names(&["nginx"]) },
    Known { name: "mariadb", aliases: &["mysql", "mysqld", "mariadbd"], units: &["mariadb", "mysql", "mysqld"], matcher: Matcher::Names(&["mariadbd", "mysqld"]) },
    Known { name: "postgresql", aliases: &["postgres"], units: &["postgresql"], matcher: Matcher::Names(&["postgres", "postmaster"]) },
    Known { name: "redis", aliases: &["redis-server"], units: &["redis-server", "redis"], matcher: Matcher::Names(&["redis-server"]) },
    Known { name: "php-fpm", aliases: &[], units: &["php-fpm", "php8.4-fpm", "php8.3-fpm", "php8.2-fpm", "php8.1-fpm", "php7.4-fpm"], matcher: Matcher::Prefix("php-fpm") },
    Known { name: "sshd", aliases: &["ssh"], units: &["ssh", "sshd"], matcher: Matcher::Names(&["sshd"]) },
    Known { name: "docker", aliases: &["dockerd"], units: &["docker"], matcher: Matcher::Names(&["dockerd"]) },
    Known { name: "podman", aliases: &[], units: &["podman"], matcher: Matcher::Names(&["podman"]) },
    Known { name: "containerd", aliases: &[], units: &["containerd"], matcher: Matcher::Names(&["containerd"]) },
    Known { name: "incus", aliases: &["incusd"], units: &["incus"], matcher: Matcher::Names(&["incusd"]) },
    Known { name: "memcached", aliases: &[], units: &["memcached"], matcher: Matcher::Names(&["memcached"]) },
    Known { name: "haproxy", aliases: &[], units: &["haproxy"], matcher: Matcher::Names(&["haproxy"]) },
    Known { name: "apache2", aliases: &["httpd", "apache"], units: &["apache2", "httpd"], matcher: Matcher::Names(&["apache2", "httpd"]) },
    Known { name: "caddy", aliases: &[], units: &["caddy"], matcher: Matcher::Names(&["caddy"]) },
    Known { name: "traefik", aliases: &[], units: &["traefik"], matcher: Matcher::Names(&["traefik"]) },
    Known { name: "rabbitmq", aliases: &["rabbitmq-server"], units: &["rabbitmq-server", "rabbitmq"], matcher: Matcher::NameWith("beam.smp", "rabbit") },
    Known { name: "mongod", aliases: &["mongodb"], units: &["mongod", "mongodb"], matcher: Matcher::Names(&["mongod"]) },
    Known { name: "named", aliases: &["bind9", "bind"], units: &["named", "bind9"], matcher: Matcher::Names(&["named"]) },
    Known { name: "postfix", aliases: &[], units: &["postfix"], matcher: Matcher::NameWith("master", "postfix") },
    Known { name: "dovecot", aliases: &[], units: &["dovecot"], matcher: Matcher::Names(&["dovecot"]) },
    Known { name: "nats-server", aliases: &["nats"], units: &["nats-server", "nats"], matcher: Matcher::Names(&["nats-server"]) },
    Known { name: "cron", aliases: &["crond"], units: &["cron", "crond"], matcher: Matcher::Names(&["cron", "crond"]) },
];

/// Finds the well-known entry for a watched name.
pub fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name || k.aliases.contains(&name))
}

/// The init system in charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitSystem {
    Systemd,
    OpenRc,
    /// Neither: processes only.
    None,
}

impl InitSystem {
    /// systemd when `/run/systemd/system` exists, OpenRC when `/run/openrc`
    /// does, none otherwise.
    pub fn detect() -> Self {
        if Path::new("/run/systemd/system").is_dir() {
            Self::Systemd
        } else if Path::new("/run/openrc").is_dir() {
            Self::OpenRc
        } else {
            Self::None
        }
    }
}

/// One process, from `/proc/PID/stat` and `cmdline`.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub cmdline: String,
    /// utime + stime, clock ticks.
    pub ticks: u64,
    /// Start time after boot, clock ticks.
    pub start: u64,
}

/// The processes of `/proc` and its LISTEN sockets.
#[derive(Debug, Default)]
pub struct ProcTable {
    pub procs: HashMap<u32, Proc>,
    pub children: HashMap<u32, Vec<u32>>,
    /// socket inode → port, TCP LISTEN (v4 and v6).
    pub listen_inodes: HashMap<u64, u16>,
    pub uptime_seconds: f64,
}

/// Parses one `/proc/PID/stat` line.
pub fn parse_stat(pid: u32, text: &str) -> Option<Proc> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let number = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
    Some(Proc {
        pid,
        ppid: number(1)? as u32,
        comm,
        cmdline: String::new(),
        ticks: number(11)? + number(12)?,
        start: number(19)?,
    })
}

/// Parses `/proc/net/tcp` or `tcp6`: LISTEN socket inode → local port.
pub fn parse_net_tcp(text: &str, into: &mut HashMap<u64, u16>) {
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 || fields[3] != "0A" {
            continue;
        }
        let Some(port) = fields[1].rsplit(':').next().and_then(|hex| u16::from_str_radix(hex, 16).ok()) else {
            continue;
        };
        if let Ok(inode) = fields[9].parse::<u64>() {
            if inode != 0 {
                into.insert(inode, port);
            }
        }
    }
}

/// Reads a whole (small, `/proc`) file into `buf`: open, read until end,
/// close; no `statx` size probe, no growing probe reads.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    let mut file = std::fs::File::open(path)?;
    let mut chunk = [0u8; 4096];
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}

/// Command lines seen at the previous scans, by pid; an entry is reused only
/// while the pid's start time and comm are unchanged (a new process or an
/// `exec` re-reads it) and dropped when the pid is gone.
#[derive(Debug, Default)]
pub struct CmdlineCache {
    entries: HashMap<u32, (u64, String, String)>,
}

/// Reads the process table from `proc_root`.
pub fn scan(proc_root: &Path) -> Result<ProcTable, String> {
    scan_cached(proc_root, &mut CmdlineCache::default())
}

/// [`scan`], reusing the command lines `cache` holds (and updating it).
pub fn scan_cached(proc_root: &Path, cache: &mut CmdlineCache) -> Result<ProcTable, String> {
    let entries = std::fs::read_dir(proc_root).map_err(|e| format!("cannot list {}: {e}", proc_root.display()))?;
    let mut table = ProcTable::default();
    let mut buf = Vec::with_capacity(4096);
    let mut path = proc_root.to_path_buf();
    let mut seen = HashMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        path.push(entry.file_name());
        path.push("stat");
        // processes come and go while we read: skip those that vanished
        let stat = read_into(&path, &mut buf).ok().and_then(|()| parse_stat(pid, &String::from_utf8_lossy(&buf)));
        path.pop();
        let Some(mut proc_) = stat else {
            path.pop();
            continue;
        };
        match cache.entries.remove(&pid) {
            Some((start, comm, cmdline)) if start == proc_.start && comm == proc_.comm => proc_.cmdline = cmdline,
            _ => {
                path.push("cmdline");
                if read_into(&path, &mut buf).is_ok() {
                    proc_.cmdline = buf.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>().join(" ");
                }
                path.pop();
            }
        }
        path.pop();
        seen.insert(pid, (proc_.start, proc_.comm.clone(), proc_.cmdline.clone()));
        table.children.entry(proc_.ppid).or_default().push(pid);
        table.procs.insert(pid, proc_);
    }
    cache.entries = seen;
    if table.procs.is_empty() {
        return Err(format!("no process found in {}", proc_root.display()));
    }
    let from_kernel = if proc_root == Path::new("/proc") {
        match listening_sockets() {
            Ok(sockets) => Some(sockets),
            Err(error) => {
                tracing::debug!(error = %error, "sock_diag netlink unavailable; reading /proc/net/tcp");
                None
            }
        }
    } else {
        None
    };
    match from_kernel {
        Some(sockets) => table.listen_inodes = sockets,
        None => {
            for name in ["net/tcp", "net/tcp6"] {
                if let Ok(text) = std::fs::read_to_string(proc_root.join(name)) {
                    parse_net_tcp(&text, &mut table.listen_inodes);
                }
            }
        }
    }
    let uptime = proc_root.join("uptime");
    table.uptime_seconds = std::fs::read_to_string(&uptime)
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|f| f.parse().ok()))
        .ok_or_else(|| format!("cannot read the uptime from {}", uptime.display()))?;
    Ok(table)
}

fn matches(matcher: &Matcher, proc_: &Proc) -> bool {
    let argv0 = proc_.cmdline.split(' ').next().unwrap_or_default();
    let argv0 = argv0.rsplit('/').next().unwrap_or_default();
    // "nginx: master process ..." sets its own title; keep the word before ':'
    let argv0 = argv0.split(':').next().unwrap_or_default();
    match matcher {
        Matcher::Names(names) => names.iter().any(|n| proc_.comm == *n || argv0 == *n),
        Matcher::Prefix(prefix) => proc_.comm.starts_with(prefix) || argv0.starts_with(prefix),
        Matcher::NameWith(name, needle) => proc_.comm == *name && proc_.cmdline.contains(needle),
    }
}

/// Pids of the matching roots (matching processes whose parent does not
/// match), oldest first.
fn roots(table: &ProcTable, matcher: &Matcher) -> Vec<u32> {
    let matching: BTreeSet<u32> = table.procs.values().filter(|p| matches(matcher, p)).map(|p| p.pid).collect();
    let mut roots: Vec<&Proc> =
        matching.iter().filter_map(|pid| table.procs.get(pid)).filter(|p| !matching.contains(&p.ppid)).collect();
    // a master (a root with matching children) before a stray lone process,
    // then the oldest
    let has_children = |p: &Proc| table.children.get(&p.pid).is_some_and(|c| c.iter().any(|c| matching.contains(c)));
    roots.sort_by_key(|p| (!has_children(p), p.start, p.pid));
    roots.into_iter().map(|p| p.pid).collect()
}

fn tree(table: &ProcTable, roots: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack: Vec<u32> = roots.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) || !table.procs.contains_key(&pid) {
            continue;
        }
        out.push(pid);
        if let Some(children) = table.children.get(&pid) {
            stack.extend(children);
        }
    }
    out
}

fn rss_bytes(proc_root: &Path, pid: u32) -> u64 {
    let mut buf = Vec::with_capacity(4096);
    if read_into(&proc_root.join(pid.to_string()).join("status"), &mut buf).is_err() {
        return 0;
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:").and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HEADER: usize = 16;
/// `struct inet_diag_msg`: up to and including `idiag_inode`.
const INET_DIAG_MSG: usize = 72;
/// `TCP_LISTEN` in the kernel's TCP state numbering.
const TCP_LISTEN: u8 = 10;

/// The TCP sockets in LISTEN state (IPv4 and IPv6): socket inode → local
/// port, from the kernel's sock_diag netlink interface. The request asks for
/// the LISTEN state only, so the kernel walks its listening hash and not the
/// established connections (unlike `/proc/net/tcp`). Needs no privilege.
pub fn listening_sockets() -> std::io::Result<HashMap<u64, u16>> {
    use std::io::{Read, Write};
    let mut socket = sock_diag_socket()?;
    let mut sockets = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    for (seq, family) in [(1u32, libc::AF_INET), (2, libc::AF_INET6)] {
        // struct nlmsghdr + struct inet_diag_req_v2 (inet_diag_sockid zeroed)
        let mut request = Vec::with_capacity(NLMSG_HEADER + 56);
        request.extend_from_slice(&((NLMSG_HEADER + 56) as u32).to_ne_bytes());
        request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        request.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
        request.extend_from_slice(&seq.to_ne_bytes());
        request.extend_from_slice(&0u32.to_ne_bytes());
        request.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
        request.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        request.extend_from_slice(&[0u8; 48]);
        socket.write_all(&request)?;
        'dump: loop {
            let read = socket.read(&mut buf)?;
            if read == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "sock_diag dump ended without NLMSG_DONE"));
            }
            let mut offset = 0;
            while offset + NLMSG_HEADER <= read {
                let header = &buf[offset..];
                let length = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let kind = u16::from_ne_bytes([header[4], header[5]]);
                if length < NLMSG_HEADER || offset + length > read {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("sock_diag message of {length} bytes at {offset} in a {read}-byte reply")));
                }
                match kind {
                    NLMSG_DONE => break 'dump,
                    NLMSG_ERROR => {
                        let code = header.get(16..20).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        return Err(std::io::Error::from_raw_os_error(code.saturating_neg()));
                    }
                    _ if length >= NLMSG_HEADER + INET_DIAG_MSG => {
                        let message = &header[NLMSG_HEADER..NLMSG_HEADER + INET_DIAG_MSG];
                        let port = u16::from_be_bytes([message[4], message[5]]);
                        let inode = u32::from_ne_bytes([message[68], message[69], message[70], message[71]]);
                        if message[1] == TCP_LISTEN && inode != 0 {
                            sockets.insert(u64::from(inode), port);
                        }
                    }
                    _ => {}
                }
                offset += (length + 3) & !3;
            }
        }
    }
    Ok(sockets)
}

/// A `NETLINK_SOCK_DIAG` socket, as a `File` (read = recv, write = send to
/// the kernel).
#[allow(unsafe_code)]
fn sock_diag_socket() -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) takes plain integers and has no memory effects.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(std::fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
}

fn listening_ports(proc_root: &Path, table: &ProcTable, pids: &[u32]) -> Vec<u32> {
    let mut ports = BTreeSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(proc_root.join(pid.to_string()).join("fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let target = target.to_string_lossy();
            if let Some(inode) = target.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')).and_then(|i| i.parse::<u64>().ok()) {
                if let Some(port) = table.listen_inodes.get(&inode) {
                    ports.insert(u32::from(*port));
                }
            }
        }
    }
    ports.into_iter().collect()
}

/// The state an init system reports for a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    pub status: String,
    pub main_pid: u32,
}

/// Parses `systemctl show --property=Id,LoadState,ActiveState,MainPID u1 u2 ...`
/// (blocks separated by blank lines, in the order asked).
pub fn parse_systemctl_show(text: &str) -> Vec<BTreeMap<String, String>> {
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter_map(|line| line.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|block| !block.is_empty())
        .collect()
}

/// Maps systemd's ActiveState to ours.
pub fn systemd_status(active_state: &str) -> &'static str {
    match active_state {
        "active" | "reloading" | "activating" | "refreshing" => "active",
        "failed" => "failed",
        _ => "inactive",
    }
}

/// One service to report.
#[derive(Debug, Clone)]
struct Wanted {
    /// Name reported.
    name: String,
    units: Vec<String>,
    matcher: Option<Matcher>,
    /// Owned name for the generic matcher.
    generic: Option<String>,
}

/// Collects service metrics; keeps the previous cpu ticks per service.
#[derive(Debug)]
pub struct ServiceCollector {
    config: ServicesConfig,
    pub proc_root: PathBuf,
    pub init: InitSystem,
    previous: HashMap<String, (u64, Instant)>,
    cmdlines: CmdlineCache,
}

impl ServiceCollector {
    pub fn new(config: ServicesConfig) -> Self {
        Self {
            config,
            proc_root: PathBuf::from("/proc"),
            init: InitSystem::detect(),
            previous: HashMap::new(),
            cmdlines: CmdlineCache::default(),
        }
    }

    /// Collects every service; never fails as a whole (a broken `/proc`
    /// gives an empty list and a failure).
    pub async fn collect(&mut self) -> (Vec<ServiceMetrics>, Vec<SectionFailure>) {
        let mut failures = Vec::new();
        let root = self.proc_root.clone();
        let mut cmdlines = std::mem::take(&mut self.cmdlines);
        let scanned = tokio::task::spawn_blocking(move || {
            let table = scan_cached(&root, &mut cmdlines);
            (table, cmdlines)
        })
        .await
        .map(|(table, cmdlines)| {
            self.cmdlines = cmdlines;
            table
        });
        let table = match scanned {
            Ok(Ok(table)) => std::sync::Arc::new(table),
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "service metrics not collected");
                failures.push(SectionFailure { section: "services".into(), error });
                return (self.custom_only().await, failures);
            }
            Err(join) => {
                failures.push(SectionFailure { section: "services".into(), error: join.to_string() });
                return (Vec::new(), failures);
            }
        };

        // which services
        let mut wanted: Vec<Wanted> = Vec::new();
        let mut covered: BTreeSet<&'static str> = BTreeSet::new();
        for name in &self.config.watch {
            let name = name.trim();
            match known(name) {
                Some(k) => {
                    covered.insert(k.name);
                    wanted.push(Wanted { name: name.to_owned(), units: k.units.iter().map(|u| u.to_string()).collect(), matcher: Some(k.matcher), generic: None });
                }
                None => wanted.push(Wanted { name: name.to_owned(), units: vec![name.to_owned()], matcher: None, generic: Some(name.to_owned()) }),
            }
        }
        if self.config.discover {
            for k in KNOWN {
                if covered.contains(k.name) {
                    continue;
                }
                if !roots(&table, &k.matcher).is_empty() {
                    wanted.push(Wanted { name: k.name.to_owned(), units: k.units.iter().map(|u| u.to_string()).collect(), matcher: Some(k.matcher), generic: None });
                }
            }
        }

        // init system states, concurrently with the custom checks
        let init = self.init;
        let units: Vec<Vec<String>> = wanted.iter().map(|w| w.units.clone()).collect();
        let custom = self.config.custom.clone();
        let (states, custom_results) = tokio::join!(init_states(init, units), run_custom_checks(custom));
        let states = match states {
            Ok(states) => states,
            Err(error) => {
                tracing::warn!(error = %error, "init system not asked; using processes only");
                failures.push(SectionFailure { section: "services.init".into(), error });
                vec![None; wanted.len()]
            }
        };

        // metrics from /proc
        let root = self.proc_root.clone();
        let previous = std::mem::take(&mut self.previous);
        let table_for_task = table.clone();
        let computed = tokio::task::spawn_blocking(move || {
            let table = table_for_task;
            let now = Instant::now();
            let mut next_previous = HashMap::new();
            let mut out = Vec::new();
            for (want, state) in wanted.iter().zip(states) {
                let matcher = want.matcher.unwrap_or(Matcher::Names(&[]));
                let mut process_roots = match (&want.generic, want.matcher) {
                    (Some(name), _) => {
                        let mut found: Vec<&Proc> = table.procs.values().filter(|p| p.comm == *name || p.cmdline.split(' ').next().and_then(|a| a.rsplit('/').next()) == Some(name.as_str())).collect();
                        let pids: BTreeSet<u32> = found.iter().map(|p| p.pid).collect();
                        found.retain(|p| !pids.contains(&p.ppid));
                        found.sort_by_key(|p| (p.start, p.pid));
                        found.into_iter().map(|p| p.pid).collect()
                    }
                    (None, _) => roots(&table, &matcher),
                };
                let (status, main_pid) = match state {
                    Some(UnitState { status, main_pid }) => {
                        if main_pid != 0 && table.procs.contains_key(&main_pid) && !process_roots.contains(&main_pid) {
                            process_roots.insert(0, main_pid);
                        }
                        let pid = if main_pid != 0 { main_pid } else if status == "active" { process_roots.first().copied().unwrap_or(0) } else { 0 };
                        (status, pid)
                    }
                    None => match process_roots.first() {
                        Some(pid) => ("active".to_owned(), *pid),
                        None => ("not-found".to_owned(), 0),
                    },
                };
                let mut metrics = ServiceMetrics { name: want.name.clone(), status, pid: main_pid, ..Default::default() };
                if main_pid != 0 && metrics.status == "active" {
                    let roots_for_tree = if process_roots.is_empty() { vec![main_pid] } else { process_roots.clone() };
                    let pids = tree(&table, &roots_for_tree);
                    metrics.memory = pids.iter().map(|pid| rss_bytes(&root, *pid)).sum();
                    metrics.ports = listening_ports(&root, &table, &pids);
                    let ticks: u64 = pids.iter().filter_map(|pid| table.procs.get(pid)).map(|p| p.ticks).sum();
                    metrics.cpu_percent = match previous.get(&want.name) {
                        Some((before, at)) if ticks >= *before => {
                            let wall = now.duration_since(*at).as_secs_f64();
                            if wall > 0.0 { round2((ticks - before) as f64 / CLOCK_TICKS / wall * 100.0) } else { 0.0 }
                        }
                        _ => {
                            // first sight: average since the main process started
                            let started = table.procs.get(&main_pid).map_or(0.0, |p| p.start as f64 / CLOCK_TICKS);
                            let age = table.uptime_seconds - started;
                            if age > 0.0 { round2(ticks as f64 / CLOCK_TICKS / age * 100.0) } else { 0.0 }
                        }
                    };
                    next_previous.insert(want.name.clone(), (ticks, now));
                    if let Some(main) = table.procs.get(&main_pid) {
                        metrics.uptime = (table.uptime_seconds - main.start as f64 / CLOCK_TICKS).max(0.0) as u64;
                    }
                }
                out.push(metrics);
            }
            (out, next_previous)
        })
        .await;
        let mut services = match computed {
            Ok((services, next_previous)) => {
                self.previous = next_previous;
                services
            }
            Err(join) => {
                failures.push(SectionFailure { section: "services".into(), error: join.to_string() });
                Vec::new()
            }
        };
        services.extend(custom_results.into_iter().map(|(service, listening)| finish_custom(service, &table, listening)));
        (services, failures)
    }

    async fn custom_only(&self) -> Vec<ServiceMetrics> {
        let empty = ProcTable::default();
        run_custom_checks(self.config.custom.clone()).await.into_iter().map(|(s, l)| finish_custom(s, &empty, l)).collect()
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Asks the init system about each service's candidate units; `None` for a
/// service it does not know.
async fn init_states(init: InitSystem, units: Vec<Vec<String>>) -> Result<Vec<Option<UnitState>>, String> {
    match init {
        InitSystem::None => Ok(vec![None; units.len()]),
        InitSystem::Systemd => {
            let all: Vec<String> = units.iter().flatten().map(|u| if u.contains('.') { u.clone() } else { format!("{u}.service") }).collect();
            if all.is_empty() {
                return Ok(Vec::new());
            }
            let command = format!(
                "systemctl show --property=Id,LoadState,ActiveState,MainPID -- {}",
                all.iter().map(|u| shell_quote(u)).collect::<Vec<_>>().join(" ")
            );
            let text = match run_shell(&command, COMMAND_TIMEOUT).await {
                CommandOutcome::Exited { code: Some(0), stdout, .. } => stdout,
                CommandOutcome::Exited { code, stderr, .. } => {
                    return Err(format!("systemctl show exited with {code:?}: {}", stderr.trim()))
                }
                CommandOutcome::TimedOut => return Err(format!("systemctl show timed out after {}s", COMMAND_TIMEOUT.as_secs())),
                CommandOutcome::SpawnFailed(error) => return Err(format!("cannot run systemctl: {error}")),
            };
            let blocks = parse_systemctl_show(&text);
            let by_id: HashMap<&str, &BTreeMap<String, String>> =
                blocks.iter().filter_map(|b| b.get("Id").map(|id| (id.as_str(), b))).collect();
            Ok(units
                .iter()
                .map(|candidates| {
                    candidates.iter().find_map(|unit| {
                        let id = if unit.contains('.') { unit.clone() } else { format!("{unit}.service") };
                        let block = by_id.get(id.as_str())?;
                        if block.get("LoadState").map(String::as_str) != Some("loaded") {
                            return None;
                        }
                        Some(UnitState {
                            status: systemd_status(block.get("ActiveState").map_or("", String::as_str)).to_owned(),
                            main_pid: block.get("MainPID").and_then(|p| p.parse().ok()).unwrap_or(0),
                        })
                    })
                })
                .collect())
        }
        InitSystem::OpenRc => {
            let mut tasks = tokio::task::JoinSet::new();
            for (index, candidates) in units.into_iter().enumerate() {
                tasks.spawn(async move {
                    for unit in candidates {
                        let outcome = run_shell(&format!("rc-service {} status", shell_quote(&unit)), COMMAND_TIMEOUT).await;
                        if let CommandOutcome::Exited { code, stdout, stderr } = outcome {
                            let text = format!("{stdout}{stderr}").to_ascii_lowercase();
                            if text.contains("does not exist") {
                                continue;
                            }
                            let status = if code == Some(0) {
                                "active"
                            } else if text.contains("crashed") {
                                "failed"
                            } else {
                                "inactive"
                            };
                            return (index, Some(UnitState { status: status.to_owned(), main_pid: 0 }));
                        }
                    }
                    (index, None)
                });
            }
            let mut states = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                if let Ok(result) = joined {
                    states.push(result);
                }
            }
            states.sort_by_key(|(index, _)| *index);
            Ok(states.into_iter().map(|(_, state)| state).collect())
        }
    }
}

/// `'text'` for sh.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Runs each custom check concurrently: (metrics with status, port to check).
async fn run_custom_checks(custom: Vec<CustomService>) -> Vec<(ServiceMetrics, Option<u16>)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, service) in custom.into_iter().enumerate() {
        tasks.spawn(async move {
            let status = match run_shell(&service.check, COMMAND_TIMEOUT).await {
                CommandOutcome::Exited { code: Some(0), .. } => "active",
                CommandOutcome::Exited { code, stderr, .. } => {
                    tracing::debug!(service = %service.name, code = ?code, stderr = %stderr.trim(), "custom service check failed");
                    "failed"
                }
                CommandOutcome::TimedOut => {
                    tracing::warn!(service = %service.name, timeout_s = COMMAND_TIMEOUT.as_secs(), "custom service check timed out");
                    "failed"
                }
                CommandOutcome::SpawnFailed(error) => {
                    tracing::warn!(service = %service.name, error = %error, "custom service check could not run");
                    "failed"
                }
            };
            (index, ServiceMetrics { name: service.name, status: status.to_owned(), ..Default::default() }, service.port)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            out.push(result);
        }
    }
    out.sort_by_key(|(index, _, _)| *index);
    out.into_iter().map(|(_, metrics, port)| (metrics, port)).collect()
}

/// A custom service with a port is active only if something listens there.
fn finish_custom(mut service: ServiceMetrics, table: &ProcTable, port: Option<u16>) -> ServiceMetrics {
    if let Some(port) = port {
        let listening = if table.listen_inodes.is_empty() { listening_now(port) } else { table.listen_inodes.values().any(|p| *p == port) };
        if listening {
            service.ports = vec![u32::from(port)];
        } else if service.status == "active" {
            service.status = "failed".into();
        }
    }
    service
}

fn listening_now(port: u16) -> bool {
    if let Ok(sockets) = listening_sockets() {
        return sockets.values().any(|p| *p == port);
    }
    let mut map = HashMap::new();
    for name in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(name) {
            parse_net_tcp(&text, &mut map);
        }
    }
    map.values().any(|p| *p == port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let line = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 98765 1000000 200 18446744073709551615";
        let p = parse_stat(1234, line).unwrap();
        assert_eq!((p.comm.as_str(), p.ppid, p.ticks, p.start), ("my (odd) proc", 1, 300, 98765));
    }

    #[test]
    fn net_tcp_keeps_only_listen_sockets() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:C350 0100007F:18EB 01 00000000:00000000 00:00000000 00000000   101        0 4343 1 0000000000000000 100 0 0 10 0\n";
        let mut map = HashMap::new();
        parse_net_tcp(text, &mut map);
        assert_eq!(map, HashMap::from([(4242, 6379)]));
    }

    /// The socket inode of `listener`, from `/proc/self/fd`.
    fn socket_inode(listener: &std::net::TcpListener) -> u64 {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        link.to_string_lossy().strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')).unwrap().parse().unwrap()
    }

    #[test]
    fn sock_diag_lists_listening_sockets_with_inode_and_port_like_proc_net_tcp() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0").ok();
        // a connected socket is not listed
        let client = std::net::TcpStream::connect(v4.local_addr().unwrap()).unwrap();
        let (accepted, _) = v4.accept().unwrap();
        let sockets = listening_sockets().unwrap();
        assert_eq!(sockets.get(&socket_inode(&v4)), Some(&v4.local_addr().unwrap().port()));
        if let Some(v6) = &v6 {
            assert_eq!(sockets.get(&socket_inode(v6)), Some(&v6.local_addr().unwrap().port()));
        }
        let ports: BTreeSet<u16> = sockets.values().copied().collect();
        assert!(!ports.contains(&client.local_addr().unwrap().port()), "a client socket is listed as listening");
        drop(accepted);
        // same LISTEN sockets as /proc/net/tcp{,6} report (ours at least, and
        // every inode both know maps to the same port)
        let mut from_proc = HashMap::new();
        for name in ["/proc/net/tcp", "/proc/net/tcp6"] {
            parse_net_tcp(&std::fs::read_to_string(name).unwrap_or_default(), &mut from_proc);
        }
        for (inode, port) in &from_proc {
            if let Some(netlink_port) = sockets.get(inode) {
                assert_eq!(netlink_port, port, "inode {inode}");
            }
        }
        assert_eq!(from_proc.get(&socket_inode(&v4)), sockets.get(&socket_inode(&v4)));
    }

    #[test]
    fn cached_scan_rereads_a_command_line_when_the_process_changes() {
        let mut cache = CmdlineCache::default();
        let first = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        let me = std::process::id();
        assert!(first.procs[&me].cmdline.contains("sovigilant"), "{}", first.procs[&me].cmdline);
        // a stale entry under another start time is not reused
        let entry = cache.entries.get_mut(&me).unwrap();
        entry.0 += 1;
        entry.2 = "stale".into();
        let second = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert!(second.procs[&me].cmdline.contains("sovigilant"));
        // an unchanged one is
        cache.entries.get_mut(&me).unwrap().2 = "kept".into();
        let third = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert_eq!(third.procs[&me].cmdline, "kept");
        // gone pids leave the cache
        cache.entries.insert(u32::MAX, (0, "ghost".into(), "ghost".into()));
        scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert!(!cache.entries.contains_key(&u32::MAX));
    }

    #[test]
    fn systemctl_show_blocks_are_split() {
        let text = "Id=nginx.service\nLoadState=loaded\nActiveState=active\nMainPID=812\n\nId=redis.service\nLoadState=not-found\nActiveState=inactive\nMainPID=0\n";
        let blocks = parse_systemctl_show(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0]["MainPID"], "812");
        assert_eq!(systemd_status(&blocks[0]["ActiveState"]), "active");
        assert_eq!(systemd_status("failed"), "failed");
        assert_eq!(systemd_status("deactivating"), "inactive");
    }
}
