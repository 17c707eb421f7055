//! `agent-footprint`: the agent's cost next to Debian's
//! `prometheus-node-exporter` on this machine, at the same cadence (issue 3,
//! Benchmark).
//!
//! Runs side by side for `--collections` intervals (after a warm-up):
//! - node_exporter (default collectors) on 127.0.0.1:<free port>, scraped by
//!   this command every interval (`GET /metrics`);
//! - the release `sovigilant run` with host, containers (runtime auto),
//!   services (discover) and one custom metric enabled, sending to a real
//!   private gateway (nats-server + MariaDB database + `vigil run gateway
//!   collector`, see [`vigil_tests::Stack`]), or with `--offline` to an
//!   address where nothing listens (its snapshots queue on disk).
//!
//! Measured from `/proc/<pid>/stat` and `/proc/<pid>/status` of each process:
//! - CPU per collection: (utime + stime) over the measured window /
//!   collections in that window (the target); the reaped children (cutime +
//!   cstime: the agent's custom metric command) are shown on a line of their
//!   own, node_exporter spawns none. This command's own scraping is not
//!   counted;
//! - RSS: `VmRSS` sampled once per interval between collections (steady = the
//!   median of the last half) and every 200 ms (max);
//! - binary size: the file size of each binary (the release profile strips).
//!
//! Installs and builds nothing: it needs `/usr/bin/prometheus-node-exporter`
//! and `sovigilant` (and `vigil` unless `--offline`) next to itself in
//! `target/release`.
//!
//! Run: `cargo build --release -p sovigilant -p vigil -p vigil-tests --bin agent-footprint`
//! then `target/release/agent-footprint [--interval 2s] [--collections 20]`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tempfile::TempDir;
use vigil_tests::{free_port, procstat, Stack};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const RSS_TARGET: f64 = 0.5;
const CPU_TARGET: f64 = 0.5;
/// 8 MB (decimal: the stricter reading).
const BINARY_TARGET: u64 = 8_000_000;

#[derive(Parser, Debug)]
#[command(about = "sovigilant's RSS, CPU per collection and binary size next to prometheus-node-exporter")]
struct Args {
    /// collection interval of the agent and scrape interval of node_exporter (at least 1s)
    #[arg(long, default_value = "10s", value_parser = vigil_bus::duration::parse)]
    interval: Duration,
    /// collections (and scrapes) measured
    #[arg(long, default_value_t = 30)]
    collections: u32,
    /// collections (and scrapes) run before measuring
    #[arg(long, default_value_t = 2)]
    warmup: u32,
    /// send to an address where nothing listens (snapshots queue on disk) instead of a real gateway
    #[arg(long)]
    offline: bool,
}

/// CPU (clock ticks) and RSS (KiB) of one process, now.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// utime + stime
    ticks: u64,
    /// cutime + cstime: reaped children (the agent's custom metric commands)
    child_ticks: u64,
    rss_kib: u64,
}

fn sample(pid: u32) -> Result<Sample> {
    let ticks = procstat::cpu_ticks(pid).with_context(|| format!("process {pid} is gone"))?;
    let rss_kib = procstat::rss_kib(pid).with_context(|| format!("no VmRSS for process {pid}"))?;
    Ok(Sample { ticks: ticks.own, child_ticks: ticks.children, rss_kib })
}

/// Kills the child on drop.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: a plain kill(2) on a pid this process spawned and has not reaped.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn release_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("exe dir")?.to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.interval < Duration::from_secs(1) {
        bail!("--interval {:?} is too short: the agent's interval is at least 1s", args.interval);
    }
    if args.collections < 2 {
        bail!("--collections must be at least 2");
    }
    if !Path::new(NODE_EXPORTER).exists() {
        bail!("{NODE_EXPORTER} is absent; install it with `apt-get install prometheus-node-exporter` (this command installs nothing)");
    }
    let dir = release_dir()?;
    let agent_bin = dir.join("sovigilant");
    if !agent_bin.exists() {
        bail!(
            "{} is absent; build it with `cargo build --release -p sovigilant` (this command builds nothing)",
            agent_bin.display()
        );
    }
    if !args.offline && !dir.join("vigil").exists() {
        bail!(
            "{} is absent; build it with `cargo build --release -p vigil`, or pass --offline to run the agent without a gateway",
            dir.join("vigil").display()
        );
    }
    let agent_size = std::fs::metadata(&agent_bin)?.len();
    let exporter_size = std::fs::metadata(NODE_EXPORTER)?.len();
    let exporter_version = Command::new(NODE_EXPORTER)
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(if o.stdout.is_empty() { &o.stderr } else { &o.stdout })
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let interval = args.interval;
    let work = TempDir::new()?;

    // ---- the agent's server: a real gateway, or nothing at all
    let stack;
    let mut _services = None;
    let (server, token, tls) = if args.offline {
        stack = None;
        (format!("127.0.0.1:{}", free_port()), "offline-token".to_owned(), "    enabled: false\n".to_owned())
    } else {
        let s = Stack::new()
            .await
            .context("cannot start the private stack (nats-server, MariaDB); pass --offline to run without a gateway")?;
        _services = Some(s.spawn(&["gateway", "collector"]).await?);
        let fixture = s.tenant("footprint").await?;
        let tls = format!("    enabled: true\n    ca_cert: {}\n", s.ca_path().display());
        let out = (s.grpc_address(), fixture.token.clone(), tls);
        stack = Some(s);
        out
    };

    // ---- sovigilant run, configured as a real install would be
    let state_dir = work.path().join("state");
    let config = work.path().join("config.yaml");
    let interval_text = vigil_bus::duration::format(interval);
    std::fs::write(
        &config,
        format!(
            "agent:\n  id: auto\n  name: footprint\nserver:\n  address: {server}\n  token: \"{token}\"\n  tls:\n{tls}\
collection:\n  interval: {interval_text}\n  host:\n    enabled: true\n  containers:\n    enabled: true\n    runtime: auto\n  \
services:\n    enabled: true\n    discover: true\n  custom_metrics:\n    - name: root_fs_used_percent\n      \
command: \"df -P / | awk 'NR==2 {{print $5+0}}'\"\n      type: gauge\n      interval: {interval_text}\n\
logging:\n  level: info\nstate_dir: {}\n",
            state_dir.display()
        ),
    )?;

    // ---- start both, as close together as possible
    let exporter_port = free_port();
    let exporter_log = work.path().join("node_exporter.log");
    let exporter = Owned(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&exporter_log)?)
            .spawn()
            .with_context(|| format!("cannot start {NODE_EXPORTER}"))?,
    );
    let agent_log = work.path().join("agent.log");
    let started = Instant::now();
    let agent = Owned(
        Command::new(&agent_bin)
            .arg("--config")
            .arg(&config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log)?)
            .spawn()
            .with_context(|| format!("cannot start {}", agent_bin.display()))?,
    );
    let (exporter_pid, agent_pid) = (exporter.0.id(), agent.0.id());
    let url = format!("http://127.0.0.1:{exporter_port}/metrics");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;

    println!(
        "agent-footprint: {} collections every {} after {} warm-up; agent {} ({}), node_exporter {exporter_version}",
        args.collections,
        interval_text,
        args.warmup,
        agent_bin.display(),
        if args.offline { "run, no gateway: queueing on disk".to_owned() } else { format!("run -> gateway {server}") },
    );

    // The agent collects at started + 250 ms + k·interval. Samples (and the
    // window's ends) fall half an interval after a collection, when both are
    // idle, so the window holds exactly `collections` agent collections.
    let phase = Duration::from_millis(250) + interval / 2;
    let tick = |k: u32| started + phase + interval * k;

    // max RSS, every 200 ms, for the whole run
    let max_rss = Arc::new(Mutex::new((0u64, 0u64)));
    let sampler = {
        let max_rss = max_rss.clone();
        tokio::spawn(async move {
            loop {
                {
                    let mut max = max_rss.lock().unwrap_or_else(|p| p.into_inner());
                    if let Ok(s) = sample(agent_pid) {
                        max.0 = max.0.max(s.rss_kib);
                    }
                    if let Ok(s) = sample(exporter_pid) {
                        max.1 = max.1.max(s.rss_kib);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // wait for node_exporter to answer
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(&url).send().await.map(|r| r.status().is_success()).ok() != Some(true) {
        if Instant::now() > deadline {
            bail!(
                "node_exporter did not answer {url} within 20 s; log:\n{}",
                std::fs::read_to_string(&exporter_log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The agent's newest sequence number: the largest `<seq>.pb` queued or
    // kept as the record of the last acknowledged one (`acked/`), or the
    // `seq` file older agents write before each snapshot.
    let read_seq = || {
        let named = ["queue", "acked"]
            .iter()
            .filter_map(|dir| std::fs::read_dir(state_dir.join(dir)).ok())
            .flat_map(|entries| entries.flatten())
            .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".pb")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let file = std::fs::read_to_string(state_dir.join("seq")).ok().and_then(|t| t.trim().parse::<u64>().ok()).unwrap_or(0);
        named.max(file)
    };
    let mut scrape_times = Vec::new();
    let mut body_bytes = 0usize;
    let mut agent_rss = Vec::new();
    let mut exporter_rss = Vec::new();
    let mut first: Option<(Sample, Sample, u64)> = None;
    let mut passed = false;
    let total = args.warmup + args.collections;
    for k in 0..=total {
        tokio::time::sleep_until(tick(k).into()).await;
        // both idle: half an interval after the agent's collection, before the scrape
        let a = sample(agent_pid)
            .with_context(|| format!("sovigilant exited; log:\n{}", std::fs::read_to_string(&agent_log).unwrap_or_default()))?;
        let e = sample(exporter_pid).context("node_exporter exited")?;
        if k == args.warmup {
            first = Some((a, e, read_seq()));
        }
        if k > args.warmup {
            agent_rss.push(a.rss_kib);
            exporter_rss.push(e.rss_kib);
        }
        if k == total {
            let (a0, e0, seq0) = first.context("no window start")?;
            let seq1 = read_seq();
            sampler.abort();
            let (max_agent, max_exporter) = *max_rss.lock().unwrap_or_else(|p| p.into_inner());
            let hz = procstat::ticks_per_second();
            let collections = f64::from(args.collections);
            let agent_cpu_ms = (a.ticks - a0.ticks) as f64 / hz * 1000.0 / collections;
            let exporter_cpu_ms = (e.ticks - e0.ticks) as f64 / hz * 1000.0 / collections;
            let agent_children_ms = (a.child_ticks - a0.child_ticks) as f64 / hz * 1000.0 / collections;
            let exporter_children_ms = (e.child_ticks - e0.child_ticks) as f64 / hz * 1000.0 / collections;
            let half = agent_rss.len() / 2;
            let agent_steady = median(&agent_rss[half..]);
            let exporter_steady = median(&exporter_rss[half..]);
            let scrape_p50 = median(&scrape_times);
            passed = report(Report {
                agent_steady,
                exporter_steady,
                max_agent,
                max_exporter,
                agent_cpu_ms,
                exporter_cpu_ms,
                agent_children_ms,
                exporter_children_ms,
                agent_size,
                exporter_size,
                agent_collections: seq1.saturating_sub(seq0),
                expected: u64::from(args.collections),
                scrape_p50,
                body_bytes,
                hz,
            });
            let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
            let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
            if !warnings.is_empty() {
                println!("\nagent log: {} warning/error lines, the last: {}", warnings.len(), warnings[warnings.len() - 1]);
            }
            break;
        }
        // node_exporter's collection: one scrape per interval
        let at = Instant::now();
        let response = http.get(&url).send().await.context("scrape node_exporter")?;
        let body = response.bytes().await?;
        body_bytes = body.len();
        if k >= args.warmup {
            scrape_times.push(at.elapsed().as_millis() as u64);
        }
    }
    drop(agent);
    drop(exporter);
    drop(_services);
    drop(stack);
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

struct Report {
    agent_steady: u64,
    exporter_steady: u64,
    max_agent: u64,
    max_exporter: u64,
    agent_cpu_ms: f64,
    exporter_cpu_ms: f64,
    agent_children_ms: f64,
    exporter_children_ms: f64,
    agent_size: u64,
    exporter_size: u64,
    agent_collections: u64,
    expected: u64,
    scrape_p50: u64,
    body_bytes: usize,
    hz: f64,
}

/// Prints the table; true when every target is met.
fn report(r: Report) -> bool {
    let rss_ratio = r.agent_steady as f64 / r.exporter_steady.max(1) as f64;
    let cpu_ratio = if r.exporter_cpu_ms > 0.0 { r.agent_cpu_ms / r.exporter_cpu_ms } else { f64::INFINITY };
    let size_ratio = r.agent_size as f64 / r.exporter_size.max(1) as f64;
    println!();
    println!("{:<28} {:>14} {:>16} {:>8}", "", "sovigilant", "node_exporter", "ratio");
    println!(
        "{:<28} {:>14} {:>16} {:>7.0}%",
        "RSS steady (median, 2nd half)",
        mib(r.agent_steady),
        mib(r.exporter_steady),
        rss_ratio * 100.0
    );
    println!(
        "{:<28} {:>14} {:>16} {:>7.0}%",
        "RSS max",
        mib(r.max_agent),
        mib(r.max_exporter),
        r.max_agent as f64 / r.max_exporter.max(1) as f64 * 100.0
    );
    println!(
        "{:<28} {:>11.1} ms {:>13.1} ms {:>7.0}%",
        "CPU per collection / scrape",
        r.agent_cpu_ms,
        r.exporter_cpu_ms,
        cpu_ratio * 100.0
    );
    let with_children =
        (r.agent_cpu_ms + r.agent_children_ms) / (r.exporter_cpu_ms + r.exporter_children_ms).max(f64::MIN_POSITIVE);
    println!(
        "{:<28} {:>11.1} ms {:>13.1} ms {:>7.0}%",
        "  + reaped child processes",
        r.agent_cpu_ms + r.agent_children_ms,
        r.exporter_cpu_ms + r.exporter_children_ms,
        with_children * 100.0
    );
    println!(
        "{:<28} {:>14} {:>16} {:>7.0}%",
        "binary size",
        format!("{:.2} MB", r.agent_size as f64 / 1e6),
        format!("{:.2} MB", r.exporter_size as f64 / 1e6),
        size_ratio * 100.0
    );
    println!(
        "\nagent collections in the window: {} (expected {}); node_exporter scrape p50 {} ms, {} KiB of metrics; CPU resolution {:.0} ms total",
        r.agent_collections,
        r.expected,
        r.scrape_p50,
        r.body_bytes / 1024,
        1000.0 / r.hz
    );
    println!(
        "CPU is utime+stime of the process (all threads); its reaped children (the agent's custom metric command: sh, df, awk) are shown apart, node_exporter's textfile equivalent would run from cron"
    );
    println!("\ntargets:");
    println!("  RSS <= 50% of node_exporter's          {:>5.0}%   {}", rss_ratio * 100.0, verdict(rss_ratio <= RSS_TARGET));
    println!("  CPU per collection <= 50% per scrape   {:>5.0}%   {}", cpu_ratio * 100.0, verdict(cpu_ratio <= CPU_TARGET));
    let size_pass = r.agent_size <= BINARY_TARGET;
    println!("  binary <= 8 MB                         {:>5.2} MB {}", r.agent_size as f64 / 1e6, verdict(size_pass));
    rss_ratio <= RSS_TARGET && cpu_ratio <= CPU_TARGET && size_pass
}
