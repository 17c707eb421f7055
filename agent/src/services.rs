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
//! memory is the sum of their resident set (`VmRSS`, read from `statm`),
//! cpu the share of one CPU their utime+stime took since the previous
//! collection (since their start on the first one), ports the TCP sockets in LISTEN state they hold (socket inodes
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
//! for. The process scan is incremental ([`ProcCache`]): a process is read
//! in full (`stat`, `cmdline`) when it first shows up; after that a scan
//! re-reads only its `comm`, through a file kept open (`pread`: no path
//! walk, open or close, and a quarter of the cost of `stat`), and the `stat`
//! of the processes that are parents. An open `/proc` file stays bound to
//! its process, so a killed process (or one whose pid was already reused)
//! fails the read and the pid is read afresh; an `exec` changes the comm and
//! the command line is read again; a process's parent pid is read again when
//! its parent is gone, new or a zombie (the kernel reparents children only
//! when their parent exits). The cpu ticks and memory (`statm`, the same
//! pages as `VmRSS` for a fifth of the cost of `status`) are read only for
//! a service's processes; their descriptors are resolved with `readlinkat`
//! relative to the open `/proc/PID/fd`, and only when something listens at
//! all.
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
    Known {
        name: "mariadb",
        aliases: &["mysql", "mysqld", "mariadbd"],
        units: &["mariadb", "mysql", "mysqld"],
        matcher: Matcher::Names(&["mariadbd", "mysqld"]),
    },
    Known {
        name: "postgresql",
        aliases: &["postgres"],
        units: &["postgresql"],
        matcher: Matcher::Names(&["postgres", "postmaster"]),
    },
    Known {
        name: "redis",
        aliases: &["redis-server"],
        units: &["redis-server", "redis"],
        matcher: Matcher::Names(&["redis-server"]),
    },
    Known {
        name: "php-fpm",
        aliases: &[],
        units: &["php-fpm", "php8.4-fpm", "php8.3-fpm", "php8.2-fpm", "php8.1-fpm", "php7.4-fpm"],
        matcher: Matcher::Prefix("php-fpm"),
    },
    Known { name: "sshd", aliases: &["ssh"], units: &["ssh", "sshd"], matcher: Matcher::Names(&["sshd"]) },
    Known { name: "docker", aliases: &["dockerd"], units: &["docker"], matcher: Matcher::Names(&["dockerd"]) },
    Known { name: "podman", aliases: &[], units: &["podman"], matcher: Matcher::Names(&["podman"]) },
    Known { name: "containerd", aliases: &[], units: &["containerd"], matcher: Matcher::Names(&["containerd"]) },
    Known { name: "incus", aliases: &["incusd"], units: &["incus"], matcher: Matcher::Names(&["incusd"]) },
    Known { name: "memcached", aliases: &[], units: &["memcached"], matcher: Matcher::Names(&["memcached"]) },
    Known { name: "haproxy", aliases: &[], units: &["haproxy"], matcher: Matcher::Names(&["haproxy"]) },
    Known {
        name: "apache2",
        aliases: &["httpd", "apache"],
        units: &["apache2", "httpd"],
        matcher: Matcher::Names(&["apache2", "httpd"]),
    },
    Known { name: "caddy", aliases: &[], units: &["caddy"], matcher: Matcher::Names(&["caddy"]) },
    Known { name: "traefik", aliases: &[], units: &["traefik"], matcher: Matcher::Names(&["traefik"]) },
    Known {
        name: "rabbitmq",
        aliases: &["rabbitmq-server"],
        units: &["rabbitmq-server", "rabbitmq"],
        matcher: Matcher::NameWith("beam.smp", "rabbit"),
    },
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
    /// The file name of the command line's first word ([`argv0_name`]).
    pub argv0: String,
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

/// The fields of one `/proc/PID/stat` line; the comm as a range of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatFields {
    comm: std::ops::Range<usize>,
    /// The state letter (`R`, `S`, `Z`...).
    state: u8,
    ppid: u32,
    ticks: u64,
    start: u64,
}

/// Parses one `/proc/PID/stat` line without allocating: the comm is between
/// the first `(` and the last `)` (it may hold both), then space-separated
/// fields: state(0) ppid(1) … utime(11) stime(12) … starttime(19) …
/// (at least up to rss(21), so a cut line is refused).
fn parse_stat_fields(text: &[u8]) -> Option<StatFields> {
    let open = text.iter().position(|b| *b == b'(')?;
    let close = text.iter().rposition(|b| *b == b')')?;
    let comm = open + 1..close;
    text.get(comm.clone())?;
    let fields = text.get(close + 1..)?.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
    let mut values = [0u64; 22];
    let mut count = 0;
    let mut state = 0;
    for (index, field) in fields.take(22).enumerate() {
        if index == 0 {
            state = *field.first()?;
        } else if matches!(index, 1 | 11 | 12 | 19 | 21) {
            values[index] = std::str::from_utf8(field).ok()?.parse().ok()?;
        }
        count = index + 1;
    }
    if count < 22 {
        return None;
    }
    Some(StatFields { comm, state, ppid: u32::try_from(values[1]).ok()?, ticks: values[11] + values[12], start: values[19] })
}

/// Parses one `/proc/PID/stat` line.
pub fn parse_stat(pid: u32, text: &str) -> Option<Proc> {
    let fields = parse_stat_fields(text.as_bytes())?;
    Some(Proc {
        pid,
        ppid: fields.ppid,
        comm: String::from_utf8_lossy(&text.as_bytes()[fields.comm]).into_owned(),
        cmdline: String::new(),
        argv0: String::new(),
        start: fields.start,
    })
}

/// The page size, bytes.
#[allow(unsafe_code)]
fn page_size() -> u64 {
    static PAGE_SIZE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE_SIZE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions; it only reads a system constant.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
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
    read_from_start(&std::fs::File::open(path)?, buf, false)
}

/// Reads `file` from offset 0 to its end into `buf` (`pread`, so a `/proc`
/// file kept open is generated afresh at each call). With `short_is_end`, a
/// read that does not fill the chunk is taken as the end (true of the
/// single-record seq files such as `/proc/PID/stat`, whose whole text one
/// read returns), which saves the final empty read.
fn read_from_start(file: &std::fs::File, buf: &mut Vec<u8>, short_is_end: bool) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let read = file.read_at(&mut chunk, buf.len() as u64)?;
        buf.extend_from_slice(&chunk[..read]);
        if read == 0 || (short_is_end && read < chunk.len()) {
            return Ok(());
        }
    }
}

/// What the previous scans learned about each live pid, kept between
/// collections ([`scan_cached`]).
///
/// A process is read in full (`stat`, `cmdline`) once, when it first shows
/// up; after that each scan only reads its `comm` again, through a file
/// kept open (`pread`, about a quarter of the cost of reading `stat`, and no
/// path walk, open or close):
/// - an open `/proc` file belongs to the process it was opened for, not to
///   the number: once that process is gone (killed, or its pid already
///   reused by another one) the read fails with `ESRCH`, and the pid is read
///   afresh as a new process. So the start time never needs checking;
/// - an `exec` (or a rename) changes the comm: the command line is read
///   again;
/// - the parent pid changes only when the parent exits (the kernel
///   reparents its children then), so `stat` is read again at every scan
///   for the processes that are parents, and a process's parent pid is read
///   again when its parent is gone, new, or a zombie;
/// - utime+stime (which change all the time) are read only for the
///   processes of a service, when its cpu is computed ([`ProcCache::ticks`]),
///   and the memory likewise ([`ProcCache::resident_bytes`]).
///
/// Files kept open: `comm` for every process, `stat` for parents and service
/// processes, `statm` for service processes, at most
/// [`ProcCache::max_open`] in all (beyond it a process is read by path
/// every scan, start time and comm telling whether it is the same). Each
/// costs about one page of kernel memory (its seq_file buffer).
#[derive(Debug)]
pub struct ProcCache {
    entries: HashMap<u32, CachedProc>,
    /// Most files kept open.
    pub max_open: usize,
    /// Files kept open now.
    open: usize,
}

#[derive(Debug)]
struct CachedProc {
    /// `/proc/PID/comm`, kept open: `None` beyond the bound.
    comm_file: Option<std::fs::File>,
    /// `/proc/PID/stat`, kept open once read through [`ProcCache`] for a
    /// parent or a service process.
    stat: Option<std::fs::File>,
    /// `/proc/PID/statm`, kept open once the process's memory was asked.
    statm: Option<std::fs::File>,
    start: u64,
    ppid: u32,
    /// The state letter of the last `stat` read (`Z`: zombie).
    state: u8,
    comm: String,
    cmdline: String,
    argv0: String,
    /// Scans that read the command line again while it reads empty: a
    /// process caught inside an exec has its new comm before its new
    /// arguments ([`CMDLINE_RETRIES`]; a kernel thread's stays empty).
    cmdline_retries: u8,
    /// Read in full by this scan (a new process, or its pid reused).
    new: bool,
}

/// Scans that read an empty command line again (see `cmdline_retries`).
const CMDLINE_RETRIES: u8 = 3;

/// The retries an entry whose command line reads `cmdline` gets.
fn cmdline_retries(cmdline: &str) -> u8 {
    if cmdline.is_empty() {
        CMDLINE_RETRIES
    } else {
        0
    }
}

impl CachedProc {
    fn files(&self) -> usize {
        usize::from(self.comm_file.is_some()) + usize::from(self.stat.is_some()) + usize::from(self.statm.is_some())
    }
}

/// Default bound of the `/proc` files kept open.
pub const MAX_OPEN_STAT_FILES: usize = 1024;

impl Default for ProcCache {
    fn default() -> Self {
        Self { entries: HashMap::new(), max_open: open_files_budget(), open: 0 }
    }
}

impl ProcCache {
    /// Pids cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `/proc` files held open.
    pub fn open_files(&self) -> usize {
        self.entries.values().map(CachedProc::files).sum()
    }

    /// Reads `/proc/PID/stat` of a cached pid through its kept file (opened
    /// and kept, within the bound, if it was not); `None` when the process
    /// is gone (then forgotten) or unknown.
    fn read_stat(&mut self, proc_root: &Path, pid: u32, buf: &mut Vec<u8>) -> Option<StatFields> {
        let (open, max_open) = (&mut self.open, self.max_open);
        let entry = self.entries.get_mut(&pid)?;
        let path = || proc_root.join(pid.to_string()).join("stat");
        let fields = if entry.comm_file.is_none() {
            // beyond the bound: by path; the same process if the start time agrees
            read_into(&path(), buf).ok().and_then(|()| parse_stat_fields(buf))
        } else {
            let mut unkept = None;
            if entry.stat.is_none() {
                // by path, then the kept comm file must still read: the
                // process was alive when its stat file was opened, so the
                // file is its own
                let file = std::fs::File::open(path())
                    .ok()
                    .filter(|_| entry.comm_file.as_ref().is_some_and(|f| read_from_start(f, &mut Vec::new(), true).is_ok()));
                match file {
                    Some(file) if *open < max_open => {
                        entry.stat = Some(file);
                        *open += 1;
                    }
                    other => unkept = other,
                }
            }
            entry
                .stat
                .as_ref()
                .or(unkept.as_ref())
                .and_then(|file| read_from_start(file, buf, true).ok())
                .and_then(|()| parse_stat_fields(buf))
        };
        match fields {
            Some(fields) if fields.start == entry.start => Some(fields),
            _ => {
                // gone (or, read by path, already another process)
                if let Some(gone) = self.entries.remove(&pid) {
                    self.open -= gone.files();
                }
                None
            }
        }
    }

    /// utime+stime of `pid`, clock ticks, read now; `None` when the process
    /// is gone.
    pub fn ticks(&mut self, proc_root: &Path, pid: u32, buf: &mut Vec<u8>) -> Option<u64> {
        self.read_stat(proc_root, pid, buf).map(|f| f.ticks)
    }

    /// The resident set of `pid`, bytes: `resident` of `/proc/PID/statm`
    /// times the page size, the same page count `VmRSS` of `status` shows
    /// (the `rss` of `stat` is not: recent kernels sum it approximately).
    /// Read through a kept file when the pid's `comm` is kept; 0 when the
    /// process is gone.
    pub fn resident_bytes(&mut self, proc_root: &Path, pid: u32, buf: &mut Vec<u8>) -> u64 {
        let path = || proc_root.join(pid.to_string()).join("statm");
        let open = &mut self.open;
        let read = match self.entries.get_mut(&pid) {
            Some(entry) if entry.comm_file.is_some() => {
                if entry.statm.is_none() && *open < self.max_open {
                    entry.statm = std::fs::File::open(path()).ok();
                    *open += usize::from(entry.statm.is_some());
                }
                match &entry.statm {
                    Some(file) => {
                        let ok = read_from_start(file, buf, true).is_ok();
                        if !ok {
                            entry.statm = None;
                            *open -= 1;
                        }
                        ok
                    }
                    None => read_into(&path(), buf).is_ok(),
                }
            }
            _ => read_into(&path(), buf).is_ok(),
        };
        if !read {
            return 0;
        }
        let resident =
            buf.split(|b| *b == b' ').nth(1).and_then(|f| std::str::from_utf8(f).ok()).and_then(|f| f.trim().parse::<u64>().ok());
        resident.map_or(0, |pages| pages * page_size())
    }
}

/// [`MAX_OPEN_STAT_FILES`], or less when the soft `RLIMIT_NOFILE` is low:
/// at most half of what is left of it after 256 descriptors for the rest of
/// the agent.
#[allow(unsafe_code)]
fn open_files_budget() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 { limit.rlim_cur } else { 1024 };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    (soft.saturating_sub(256) / 2).min(MAX_OPEN_STAT_FILES)
}

/// Reads the process table from `proc_root`.
pub fn scan(proc_root: &Path) -> Result<ProcTable, String> {
    scan_cached(proc_root, &mut ProcCache::default())
}

/// Reads a process in full: `stat` by path, then its `comm` file (kept
/// within the bound) and its command line (unless `known` has it under the
/// same start time and comm). `None` when it vanished meanwhile.
fn read_new_process(
    path: &mut PathBuf,
    name: &std::ffi::OsStr,
    known: Option<CachedProc>,
    keep_comm: bool,
    buf: &mut Vec<u8>,
) -> Option<CachedProc> {
    path.push(name);
    let entry = (|| {
        path.push("stat");
        let fields = read_into(path, buf).ok().and_then(|()| parse_stat_fields(buf));
        path.pop();
        let fields = fields?;
        let stat_comm = buf[fields.comm.clone()].to_vec();
        let comm_file = if keep_comm {
            path.push("comm");
            let file = std::fs::File::open(&*path).ok();
            path.pop();
            // the comm file is of this process only if its comm is the same
            // (an exec or a reuse in between: read again next scan)
            file.filter(|f| {
                read_from_start(f, buf, true).is_ok() && buf.strip_suffix(b"\n").unwrap_or(buf) == stat_comm.as_slice()
            })
        } else {
            None
        };
        let (comm, cmdline, argv0) = match known {
            // same process, no exec since: nothing more to read
            Some(c) if c.start == fields.start && c.comm.as_bytes() == stat_comm.as_slice() => (c.comm, c.cmdline, c.argv0),
            _ => {
                path.push("cmdline");
                let cmdline = read_into(path, buf).map(|()| decode_cmdline(buf)).unwrap_or_default();
                path.pop();
                let argv0 = argv0_name(&cmdline).to_owned();
                (String::from_utf8_lossy(&stat_comm).into_owned(), cmdline, argv0)
            }
        };
        Some(CachedProc {
            comm_file,
            stat: None,
            statm: None,
            start: fields.start,
            ppid: fields.ppid,
            state: fields.state,
            cmdline_retries: cmdline_retries(&cmdline),
            comm,
            cmdline,
            argv0,
            new: true,
        })
    })();
    path.pop();
    entry
}

/// [`scan`], reusing what `cache` holds (and updating it): a new process is
/// read in full, a known one costs one `pread` of its kept `comm` (and of
/// its `stat` if it is a parent); see [`ProcCache`].
pub fn scan_cached(proc_root: &Path, cache: &mut ProcCache) -> Result<ProcTable, String> {
    let entries = std::fs::read_dir(proc_root).map_err(|e| format!("cannot list {}: {e}", proc_root.display()))?;
    let mut buf = Vec::with_capacity(4096);
    let mut path = proc_root.to_path_buf();
    // the parents at the previous scan: their state is read again
    let parents: std::collections::HashSet<u32> = cache.entries.values().map(|e| e.ppid).collect();
    let mut previous = std::mem::take(&mut cache.entries);
    cache.entries.reserve(previous.len());
    cache.open = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let mut known = previous.remove(&pid);
        // the same process as before if its kept comm file still reads
        if let Some(mut c) = known.take() {
            match &c.comm_file {
                Some(file) => {
                    if read_from_start(file, &mut buf, true).is_ok() {
                        let comm = buf.strip_suffix(b"\n").unwrap_or(&buf);
                        if comm == c.comm.as_bytes() {
                            if c.cmdline_retries > 0 {
                                // an exec read mid-way: its arguments now
                                path.push(&name);
                                path.push("cmdline");
                                c.cmdline = read_into(&path, &mut buf).map(|()| decode_cmdline(&buf)).unwrap_or_default();
                                path.pop();
                                path.pop();
                                c.argv0 = argv0_name(&c.cmdline).to_owned();
                                c.cmdline_retries = if c.cmdline.is_empty() { c.cmdline_retries - 1 } else { 0 };
                            }
                            c.new = false;
                            known = Some(c);
                        } else {
                            // exec or rename: same process, new comm and command line
                            let comm = String::from_utf8_lossy(comm).into_owned();
                            path.push(&name);
                            path.push("cmdline");
                            c.cmdline = read_into(&path, &mut buf).map(|()| decode_cmdline(&buf)).unwrap_or_default();
                            path.pop();
                            path.pop();
                            c.argv0 = argv0_name(&c.cmdline).to_owned();
                            c.cmdline_retries = cmdline_retries(&c.cmdline);
                            c.comm = comm;
                            c.new = false;
                            known = Some(c);
                        }
                    }
                    // else: gone, or the pid now names another process
                }
                // beyond the bound: read by path, the same process if the
                // start time and comm agree
                None => known = Some(c),
            }
        }
        let entry = match known {
            Some(c) if c.comm_file.is_some() => Some(c),
            other => read_new_process(&mut path, &name, other, cache.open < cache.max_open, &mut buf),
        };
        let Some(entry) = entry else { continue };
        cache.open += entry.files();
        cache.entries.insert(pid, entry);
    }
    drop(previous); // the pids that are gone: their files close here
                    // parents: state (and ticks) now; their children's parent pid is read
                    // again when the parent is gone, new or a zombie
    let pids: Vec<u32> = cache.entries.keys().copied().collect();
    for pid in &pids {
        let is_new = cache.entries.get(pid).is_some_and(|e| e.new);
        if parents.contains(pid) && !is_new {
            match cache.read_stat(proc_root, *pid, &mut buf) {
                Some(fields) => {
                    if let Some(entry) = cache.entries.get_mut(pid) {
                        entry.state = fields.state;
                        entry.ppid = fields.ppid;
                    }
                }
                None => continue,
            }
        }
    }
    let stale: Vec<u32> = cache
        .entries
        .iter()
        .filter(|(_, e)| !e.new && e.ppid != 0)
        .filter(|(_, e)| {
            cache.entries.get(&e.ppid).is_none_or(|parent| parent.new || parent.state == b'Z' || parent.state == b'X')
        })
        .map(|(pid, _)| *pid)
        .collect();
    for pid in stale {
        if let Some(fields) = cache.read_stat(proc_root, pid, &mut buf) {
            if let Some(entry) = cache.entries.get_mut(&pid) {
                entry.ppid = fields.ppid;
                entry.state = fields.state;
            }
        }
    }
    let mut table = ProcTable::default();
    table.procs.reserve(cache.entries.len());
    for (pid, e) in &cache.entries {
        table.children.entry(e.ppid).or_default().push(*pid);
        table.procs.insert(
            *pid,
            Proc {
                pid: *pid,
                ppid: e.ppid,
                comm: e.comm.clone(),
                cmdline: e.cmdline.clone(),
                argv0: e.argv0.clone(),
                start: e.start,
            },
        );
    }
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

/// A `/proc/<pid>/cmdline` (NUL-separated arguments) as one line, the
/// arguments joined by spaces (empty ones dropped, bytes that are not UTF-8
/// replaced).
fn decode_cmdline(raw: &[u8]) -> String {
    raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ")
}

/// The file name of a command line's first word (`/usr/sbin/nginx -g x` →
/// `nginx`), worked out once per command line read.
pub fn argv0_name(cmdline: &str) -> &str {
    let argv0 = cmdline.split(' ').next().unwrap_or_default();
    argv0.rsplit('/').next().unwrap_or_default()
}

fn matches(matcher: &Matcher, proc_: &Proc) -> bool {
    // "nginx: master process ..." sets its own title; keep the word before ':'
    let argv0 = proc_.argv0.split(':').next().unwrap_or_default();
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
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("sock_diag message of {length} bytes at {offset} in a {read}-byte reply"),
                    ));
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
    if table.listen_inodes.is_empty() {
        // nothing listens: no descriptor can be a listening socket
        return Vec::new();
    }
    let mut inodes = Vec::new();
    let mut path = proc_root.to_path_buf();
    for pid in pids {
        path.push(pid.to_string());
        path.push("fd");
        inodes.clear();
        socket_inodes(&path, &mut inodes);
        path.pop();
        path.pop();
        ports.extend(inodes.iter().filter_map(|inode| table.listen_inodes.get(inode)).map(|port| u32::from(*port)));
    }
    ports.into_iter().collect()
}

/// The socket inodes the descriptors in `fd_dir` (`/proc/PID/fd`) point to:
/// one `getdents64` pass and one `readlinkat` per descriptor relative to the
/// open directory (no path walk from `/`, no allocation per descriptor).
/// A process that is gone, or not ours to look into, gives nothing.
#[allow(unsafe_code)]
fn socket_inodes(fd_dir: &Path, into: &mut Vec<u64>) {
    use std::os::fd::AsRawFd;
    let Ok(dir) = std::fs::File::open(fd_dir) else { return };
    let dir_fd = dir.as_raw_fd();
    let mut entries = [0u8; 8192];
    let mut target = [0u8; 256];
    loop {
        // SAFETY: getdents64 writes at most `entries.len()` bytes into the
        // buffer we own, for a directory descriptor we hold open.
        let read = unsafe { libc::syscall(libc::SYS_getdents64, dir_fd, entries.as_mut_ptr(), entries.len()) };
        if read <= 0 {
            return;
        }
        let read = read as usize;
        let mut offset = 0;
        // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name (NUL-terminated)
        while offset + 19 < read {
            let reclen = usize::from(u16::from_ne_bytes([entries[offset + 16], entries[offset + 17]]));
            if reclen == 0 || offset + reclen > read {
                return;
            }
            let name = &entries[offset + 19..offset + reclen];
            let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
            offset += reclen;
            if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
                continue; // "." and ".."
            }
            let mut c_name = [0u8; 24];
            if name.len() >= c_name.len() {
                continue;
            }
            c_name[..name.len()].copy_from_slice(name);
            // SAFETY: `c_name` is NUL-terminated (zeroed beyond the name);
            // readlinkat writes at most `target.len()` bytes into `target`.
            let length = unsafe { libc::readlinkat(dir_fd, c_name.as_ptr().cast(), target.as_mut_ptr().cast(), target.len()) };
            if length <= 0 {
                continue; // closed meanwhile
            }
            let link = &target[..length as usize];
            if let Some(inode) = link.strip_prefix(b"socket:[").and_then(|r| r.strip_suffix(b"]")) {
                if let Some(inode) = std::str::from_utf8(inode).ok().and_then(|i| i.parse::<u64>().ok()) {
                    into.push(inode);
                }
            }
        }
    }
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
    procs: ProcCache,
}

impl ServiceCollector {
    pub fn new(config: ServicesConfig) -> Self {
        Self {
            config,
            proc_root: PathBuf::from("/proc"),
            init: InitSystem::detect(),
            previous: HashMap::new(),
            procs: ProcCache::default(),
        }
    }

    /// Collects every service; never fails as a whole (a broken `/proc`
    /// gives an empty list and a failure).
    pub async fn collect(&mut self) -> (Vec<ServiceMetrics>, Vec<SectionFailure>) {
        let mut failures = Vec::new();
        let root = self.proc_root.clone();
        let mut procs = std::mem::take(&mut self.procs);
        let scanned = tokio::task::spawn_blocking(move || {
            let table = scan_cached(&root, &mut procs);
            (table, procs)
        })
        .await
        .map(|(table, procs)| {
            self.procs = procs;
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
                    wanted.push(Wanted {
                        name: name.to_owned(),
                        units: k.units.iter().map(|u| u.to_string()).collect(),
                        matcher: Some(k.matcher),
                        generic: None,
                    });
                }
                None => wanted.push(Wanted {
                    name: name.to_owned(),
                    units: vec![name.to_owned()],
                    matcher: None,
                    generic: Some(name.to_owned()),
                }),
            }
        }
        if self.config.discover {
            for k in KNOWN {
                if covered.contains(k.name) {
                    continue;
                }
                if !roots(&table, &k.matcher).is_empty() {
                    wanted.push(Wanted {
                        name: k.name.to_owned(),
                        units: k.units.iter().map(|u| u.to_string()).collect(),
                        matcher: Some(k.matcher),
                        generic: None,
                    });
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
        let mut procs = std::mem::take(&mut self.procs);
        let table_for_task = table.clone();
        let computed = tokio::task::spawn_blocking(move || {
            let table = table_for_task;
            let mut buf = Vec::with_capacity(256);
            let now = Instant::now();
            let mut next_previous = HashMap::new();
            let mut out = Vec::new();
            for (want, state) in wanted.iter().zip(states) {
                let matcher = want.matcher.unwrap_or(Matcher::Names(&[]));
                let mut process_roots = match (&want.generic, want.matcher) {
                    (Some(name), _) => {
                        let mut found: Vec<&Proc> =
                            table.procs.values().filter(|p| p.comm == *name || p.argv0 == *name).collect();
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
                        let pid = if main_pid != 0 {
                            main_pid
                        } else if status == "active" {
                            process_roots.first().copied().unwrap_or(0)
                        } else {
                            0
                        };
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
                    metrics.memory = pids.iter().map(|pid| procs.resident_bytes(&root, *pid, &mut buf)).sum();
                    metrics.ports = listening_ports(&root, &table, &pids);
                    let ticks: u64 = pids.iter().filter_map(|pid| procs.ticks(&root, *pid, &mut buf)).sum();
                    metrics.cpu_percent = match previous.get(&want.name) {
                        Some((before, at)) if ticks >= *before => {
                            let wall = now.duration_since(*at).as_secs_f64();
                            if wall > 0.0 {
                                round2((ticks - before) as f64 / CLOCK_TICKS / wall * 100.0)
                            } else {
                                0.0
                            }
                        }
                        _ => {
                            // first sight: average since the main process started
                            let started = table.procs.get(&main_pid).map_or(0.0, |p| p.start as f64 / CLOCK_TICKS);
                            let age = table.uptime_seconds - started;
                            if age > 0.0 {
                                round2(ticks as f64 / CLOCK_TICKS / age * 100.0)
                            } else {
                                0.0
                            }
                        }
                    };
                    next_previous.insert(want.name.clone(), (ticks, now));
                    if let Some(main) = table.procs.get(&main_pid) {
                        metrics.uptime = (table.uptime_seconds - main.start as f64 / CLOCK_TICKS).max(0.0) as u64;
                    }
                }
                out.push(metrics);
            }
            (out, next_previous, procs)
        })
        .await;
        let mut services = match computed {
            Ok((services, next_previous, procs)) => {
                self.previous = next_previous;
                self.procs = procs;
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
            let all: Vec<String> =
                units.iter().flatten().map(|u| if u.contains('.') { u.clone() } else { format!("{u}.service") }).collect();
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
        let listening =
            if table.listen_inodes.is_empty() { listening_now(port) } else { table.listen_inodes.values().any(|p| *p == port) };
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
        assert_eq!((p.comm.as_str(), p.ppid, p.start), ("my (odd) proc", 1, 98765));
        let fields = parse_stat_fields(line.as_bytes()).unwrap();
        assert_eq!((fields.state, fields.ticks), (b'S', 300));
        // a line cut before rss is refused
        assert!(parse_stat(1234, "1234 (x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 98765").is_none());
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
        let mut cache = ProcCache::default();
        let first = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        let me = std::process::id();
        assert!(first.procs[&me].cmdline.contains("sovigilant"), "{}", first.procs[&me].cmdline);
        assert!(cache.entries[&me].comm_file.is_some(), "the comm file is kept open");
        // beyond the bound (read by path), an entry under another start
        // time is not reused
        let entry = cache.entries.get_mut(&me).unwrap();
        entry.comm_file = None;
        entry.start += 1;
        entry.cmdline = "stale".into();
        let second = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert!(second.procs[&me].cmdline.contains("sovigilant"));
        // nor one under another comm (an exec)
        let entry = cache.entries.get_mut(&me).unwrap();
        entry.comm = "before-exec".into();
        entry.cmdline = "stale".into();
        let second = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert!(second.procs[&me].cmdline.contains("sovigilant"));
        // one read empty (an exec caught mid-way) is read again, a few times
        let entry = cache.entries.get_mut(&me).unwrap();
        entry.cmdline = String::new();
        entry.cmdline_retries = CMDLINE_RETRIES;
        let again = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert!(again.procs[&me].cmdline.contains("sovigilant"));
        assert_eq!(cache.entries[&me].cmdline_retries, 0);
        // an unchanged one is
        cache.entries.get_mut(&me).unwrap().cmdline = "kept".into();
        let third = scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert_eq!(third.procs[&me].cmdline, "kept");
        // gone pids leave the cache
        cache.entries.insert(
            u32::MAX,
            CachedProc {
                comm_file: None,
                stat: None,
                statm: None,
                start: 0,
                ppid: 1,
                state: b'S',
                comm: "ghost".into(),
                cmdline: "ghost".into(),
                cmdline_retries: 0,
                argv0: "ghost".into(),
                new: false,
            },
        );
        scan_cached(Path::new("/proc"), &mut cache).unwrap();
        assert!(!cache.entries.contains_key(&u32::MAX));
    }

    fn sleeper(arg: &str) -> std::process::Child {
        std::process::Command::new("sleep").arg(arg).spawn().unwrap()
    }

    fn status_rss(pid: u32) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: u64 =
            text.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().split_whitespace().next().unwrap().parse().unwrap();
        kb * 1024
    }

    #[test]
    fn kept_stat_files_see_new_killed_and_execed_processes() {
        let mut cache = ProcCache::default();
        let root = Path::new("/proc");
        let mut child = sleeper("30.5");
        let pid = child.id();
        let table = scan_cached(root, &mut cache).unwrap();
        assert_eq!(table.procs[&pid].comm, "sleep");
        assert_eq!(table.procs[&pid].cmdline, "sleep 30.5");
        assert!(cache.entries[&pid].comm_file.is_some(), "the comm file is kept open");
        assert!(cache.entries[&pid].stat.is_none(), "stat is kept for parents and service processes only");
        // the next scan reads the kept file: same process, fresh numbers
        let again = scan_cached(root, &mut cache).unwrap();
        assert_eq!((again.procs[&pid].start, again.procs[&pid].ppid), (table.procs[&pid].start, std::process::id()));
        // rss is the status file's VmRSS (once the new process settled and
        // sleeps, it no longer moves between the two reads)
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut buf = Vec::new();
            let (from_statm, from_status) = (cache.resident_bytes(root, pid, &mut buf), status_rss(pid));
            if from_statm == from_status {
                assert!(from_statm > 0);
                assert!(cache.entries[&pid].statm.is_some(), "the statm file is kept open");
                break;
            }
            assert!(Instant::now() < deadline, "statm resident {from_statm} != VmRSS {from_status}");
            std::thread::sleep(Duration::from_millis(50));
        }
        // killed (and reaped): gone from the table and the cache, file closed
        child.kill().unwrap();
        child.wait().unwrap();
        let after = scan_cached(root, &mut cache).unwrap();
        assert!(!after.procs.contains_key(&pid));
        assert!(!cache.entries.contains_key(&pid));
        assert_eq!(cache.resident_bytes(root, pid, &mut Vec::new()), 0);

        // an exec keeps the pid and the open file; the new comm re-reads the command line
        let mut shell = std::process::Command::new("sh")
            .arg("-c")
            .arg("read line; exec sleep 30.25")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = shell.id();
        let before = scan_cached(root, &mut cache).unwrap();
        assert_eq!(before.procs[&pid].comm, "sh");
        {
            use std::io::Write;
            shell.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let table = scan_cached(root, &mut cache).unwrap();
            // a scan inside the exec sees the new comm before the new
            // arguments; the next one reads them
            if table.procs[&pid].comm == "sleep" && !table.procs[&pid].cmdline.is_empty() {
                assert_eq!(table.procs[&pid].cmdline, "sleep 30.25");
                assert_eq!(table.procs[&pid].start, before.procs[&pid].start);
                assert!(cache.entries[&pid].comm_file.is_some());
                break;
            }
            assert!(Instant::now() < deadline, "the exec was not seen: {:?}", table.procs[&pid]);
            std::thread::sleep(Duration::from_millis(20));
        }
        shell.kill().unwrap();
        shell.wait().unwrap();
    }

    #[test]
    fn a_reused_pid_is_read_as_the_new_process() {
        // pid reuse, staged: the cache holds the open stat file of a process
        // that is gone, under the pid of another live process (what the
        // cache holds when the number was handed to a new process between
        // two scans)
        let mut cache = ProcCache::default();
        let root = Path::new("/proc");
        let mut old = sleeper("30.75");
        let mut new = sleeper("31.25");
        let (old_pid, new_pid) = (old.id(), new.id());
        let table = scan_cached(root, &mut cache).unwrap();
        assert!(table.procs.contains_key(&old_pid) && table.procs.contains_key(&new_pid));
        old.kill().unwrap();
        old.wait().unwrap();
        let mut stale = cache.entries.remove(&old_pid).unwrap();
        assert!(stale.comm_file.is_some());
        // same comm and start time as the new one: only the file can tell
        stale.start = table.procs[&new_pid].start;
        stale.cmdline = "sleep 30.75".into();
        cache.entries.insert(new_pid, stale);
        let table = scan_cached(root, &mut cache).unwrap();
        assert_eq!(table.procs[&new_pid].cmdline, "sleep 31.25", "the old process's command line was reused");
        assert_eq!(table.procs[&new_pid].ppid, std::process::id());
        assert!(!table.procs.contains_key(&old_pid));
        // the reopened file is the new process's
        let again = scan_cached(root, &mut cache).unwrap();
        assert_eq!(again.procs[&new_pid].cmdline, "sleep 31.25");
        new.kill().unwrap();
        new.wait().unwrap();
    }

    #[test]
    fn ticks_are_read_when_asked_and_grow() {
        let mut cache = ProcCache::default();
        let root = Path::new("/proc");
        scan_cached(root, &mut cache).unwrap();
        let me = std::process::id();
        let mut buf = Vec::new();
        let before = cache.ticks(root, me, &mut buf).unwrap();
        assert!(cache.entries[&me].stat.is_some(), "kept once asked");
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(150) {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(7));
        }
        std::hint::black_box(x);
        let after = cache.ticks(root, me, &mut buf).unwrap();
        assert!(after >= before + 5, "ticks {before} then {after} after 150 ms of cpu");
        assert_eq!(cache.ticks(root, u32::MAX, &mut buf), None);
    }

    #[test]
    fn a_child_whose_parent_dies_is_seen_reparented_even_while_the_parent_is_a_zombie() {
        use std::io::BufRead;
        let mut cache = ProcCache::default();
        let root = Path::new("/proc");
        // parent: a shell that starts a child, prints its pid and becomes `sleep`
        let mut parent = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 33.5 & echo $!; exec sleep 34.5")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let parent_pid = parent.id();
        let mut line = String::new();
        std::io::BufReader::new(parent.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let child_pid: u32 = line.trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let table = scan_cached(root, &mut cache).unwrap();
            if table.procs.get(&parent_pid).is_some_and(|p| p.cmdline == "sleep 34.5") && table.procs.contains_key(&child_pid) {
                assert_eq!(table.procs[&child_pid].ppid, parent_pid);
                assert!(table.children[&parent_pid].contains(&child_pid));
                break;
            }
            assert!(Instant::now() < deadline, "parent and child not seen");
            std::thread::sleep(Duration::from_millis(20));
        }
        // a known scan (nothing new) keeps the relation
        let table = scan_cached(root, &mut cache).unwrap();
        assert_eq!(table.procs[&child_pid].ppid, parent_pid);
        // the parent dies; unreaped, it stays listed as a zombie, and the
        // kernel already gave the child another parent
        parent.kill().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(format!("/proc/{parent_pid}/stat")).unwrap().contains(") Z ") {
            assert!(Instant::now() < deadline, "the parent did not become a zombie");
            std::thread::sleep(Duration::from_millis(10));
        }
        let table = scan_cached(root, &mut cache).unwrap();
        assert!(table.procs.contains_key(&parent_pid), "a zombie is still listed");
        assert_ne!(table.procs[&child_pid].ppid, parent_pid, "the child is still under its dead parent");
        assert!(!table.children.get(&parent_pid).is_some_and(|c| c.contains(&child_pid)));
        let new_parent = table.procs[&child_pid].ppid;
        // reaped: gone; the child keeps its new parent
        parent.wait().unwrap();
        let table = scan_cached(root, &mut cache).unwrap();
        assert!(!table.procs.contains_key(&parent_pid));
        assert_eq!(table.procs[&child_pid].ppid, new_parent);
        std::process::Command::new("kill").arg(child_pid.to_string()).status().unwrap();
    }

    #[test]
    fn without_kept_files_the_scan_gives_the_same_table() {
        let mut sleeper = sleeper("32.5");
        let pid = sleeper.id();
        let mut kept = ProcCache::default();
        let mut none = ProcCache { max_open: 0, ..ProcCache::default() };
        for _ in 0..2 {
            let a = scan_cached(Path::new("/proc"), &mut kept).unwrap();
            let b = scan_cached(Path::new("/proc"), &mut none).unwrap();
            let (a, b) = (&a.procs[&pid], &b.procs[&pid]);
            assert_eq!((&a.comm, &a.cmdline, a.ppid, a.start), (&b.comm, &b.cmdline, b.ppid, b.start));
            let mut buf = Vec::new();
            let (kept_rss, path_rss) =
                (kept.resident_bytes(Path::new("/proc"), pid, &mut buf), none.resident_bytes(Path::new("/proc"), pid, &mut buf));
            assert!(kept_rss > 0 && path_rss > 0);
        }
        assert_eq!(none.open_files(), 0);
        assert!(kept.open_files() > 0 && kept.open_files() <= kept.max_open);
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
    }

    #[test]
    fn socket_inodes_of_a_process_include_its_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut inodes = Vec::new();
        socket_inodes(Path::new("/proc/self/fd"), &mut inodes);
        assert!(inodes.contains(&socket_inode(&listener)), "{inodes:?}");
        let mut none = Vec::new();
        socket_inodes(Path::new("/proc/no-such-pid/fd"), &mut none);
        assert!(none.is_empty());
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
