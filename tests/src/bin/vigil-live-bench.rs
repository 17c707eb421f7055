//! `vigil-live-bench`: live-update benchmark. Starts a private stack (nats-server,
//! fresh MariaDB database, `vigil run gateway` and `vigil run collector` as two
//! processes), N simulated agents over the real gRPC + TLS protocol (one
//! snapshot per interval each, phases spread over the interval) and M dashboard
//! WebSocket connections subscribed to every host, then reports:
//!
//! - latency from the agent sending a snapshot to each dashboard receiving its
//!   `metrics` frame (p50/p99/max over every frame of every connection);
//! - the gateway process's CPU time and RSS during the measured window;
//! - with `--browser`: runs `tests/e2e/bench.mjs` (Debian's chromium through
//!   playwright-core) on the host list while the same load goes on, and prints
//!   its frame-time figures.
//!
//! Every snapshot is a host of `--shape` (`vigil_testkit::shapes`: `small`,
//! `seed`, `docker`), its values moving as a real host's do.
//!
//! Run: `cargo run --release -p vigil-tests --bin vigil-live-bench -- --hosts 1000 --dashboards 20 --shape seed --browser`
//! (the `vigil` binary of the same profile must be built: `cargo build --release -p vigil`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use futures::StreamExt;
use vigil_testkit::shapes::{HostSeries, Shape};
use vigil_tests::{live, sim, Stack};

#[derive(Parser, Debug)]
struct Args {
    /// simulated hosts
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// dashboard WebSocket connections
    #[arg(long, default_value_t = 20)]
    dashboards: usize,
    /// collection interval of each simulated host
    #[arg(long, default_value = "10s", value_parser = vigil_bus::duration::parse)]
    interval: Duration,
    /// warm-up before measuring (first values after subscribe, connections settling)
    #[arg(long, default_value = "15s", value_parser = vigil_bus::duration::parse)]
    warmup: Duration,
    /// measured window
    #[arg(long, default_value = "60s", value_parser = vigil_bus::duration::parse)]
    duration: Duration,
    /// hosts per gRPC/TLS connection (HTTP/2 streams share it)
    #[arg(long, default_value_t = 50)]
    hosts_per_channel: usize,
    /// also measure the dashboard's frame times in chromium (tests/e2e/bench.mjs)
    #[arg(long)]
    browser: bool,
    /// how long the browser measures
    #[arg(long, default_value = "20s", value_parser = vigil_bus::duration::parse)]
    browser_duration: Duration,
    /// what each simulated host has: small, seed or docker
    #[arg(long, default_value = "seed")]
    shape: Shape,
}

type SentAt = Arc<Mutex<HashMap<(String, String), Instant>>>;

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    #[allow(unsafe_code)]
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let e2e = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    if args.browser && !e2e.join("node_modules").join("playwright-core").exists() {
        // a fresh checkout: the browser side needs playwright-core (Debian's chromium drives the page)
        let status = tokio::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&e2e)
            .status()
            .await
            .context("cannot run npm install in tests/e2e")?;
        anyhow::ensure!(status.success(), "npm install in {} failed: {status}", e2e.display());
    }
    let stack = Stack::new().await?;
    let gateway = stack.spawn(&["gateway"]).await?;
    let _collector = stack.spawn(&["collector"]).await?;
    let gateway_pid = gateway.pid();
    let fixture = stack.tenant("bench").await?;
    let jwt = stack.login(&fixture).await?;
    println!(
        "vigil-live-bench: {} hosts of shape {} every {:?}, {} dashboards, warm-up {:?}, measured {:?}",
        args.hosts, args.shape, args.interval, args.dashboards, args.warmup, args.duration
    );

    // Hosts: registered over TLS, a Connect stream each.
    let started = Instant::now();
    let mut connections = Vec::with_capacity(args.hosts);
    let mut channel = None;
    for h in 0..args.hosts {
        if h % args.hosts_per_channel.max(1) == 0 {
            channel = Some(sim::channel(&stack.grpc_address(), &stack.ca_path()).await?);
        }
        let channel = channel.clone().context("channel")?;
        let id = sim::register(channel.clone(), &fixture.token, &format!("live-m-{h}"), &format!("live-{h:04}")).await?;
        let connection = sim::connect(channel, &fixture.token, &id).await?;
        connections.push((id, connection));
    }
    println!("registered and connected {} hosts in {:.1?}", args.hosts, started.elapsed());

    // Dashboards: every host of the tenant.
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent_at: SentAt = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut readers = Vec::new();
    for _ in 0..args.dashboards {
        let mut ws = live::connect(stack.http_port, &jwt).await?;
        live::subscribe(&mut ws, None).await?;
        let (sent_at, latencies, measuring) = (sent_at.clone(), latencies.clone(), measuring.clone());
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let received = Instant::now();
                let tokio_tungstenite::tungstenite::Message::Text(text) = message else { continue };
                if !measuring.load(std::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                let Ok(frame) = serde_json::from_str::<serde_json::Value>(text.as_str()) else { continue };
                if frame["type"] != "metrics" {
                    continue;
                }
                let key =
                    (frame["host_id"].as_str().unwrap_or("").to_owned(), frame["timestamp"].as_str().unwrap_or("").to_owned());
                let at = sent_at.lock().unwrap_or_else(|p| p.into_inner()).get(&key).copied();
                if let Some(at) = at {
                    latencies.lock().unwrap_or_else(|p| p.into_inner()).push(received - at);
                }
            }
        }));
    }

    // Senders: each host on its own phase within the interval.
    let total =
        args.warmup + args.duration + if args.browser { args.browser_duration + Duration::from_secs(60) } else { Duration::ZERO };
    let stop_at = Instant::now() + total;
    let sent_count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut senders = Vec::new();
    for (index, (id, connection)) in connections.into_iter().enumerate() {
        let (sent_at, sent_count) = (sent_at.clone(), sent_count.clone());
        let offset = args.interval.mul_f64(index as f64 / args.hosts.max(1) as f64);
        let interval = args.interval;
        let mut series = HostSeries::new(args.shape, index as u64);
        senders.push(tokio::spawn(async move {
            let sim::Connection { sender, mut replies } = connection;
            // Acks are read and dropped so the stream never backs up.
            tokio::spawn(async move { while let Ok(Some(_)) = replies.message().await {} });
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            while Instant::now() < stop_at {
                tick.tick().await;
                let now_utc = chrono::Utc::now();
                let timestamp = sim::rfc3339(now_utc);
                let now = Instant::now();
                sent_at.lock().unwrap_or_else(|p| p.into_inner()).insert((id.clone(), timestamp), now);
                if sender.send(sim::metrics_message(&id, series.next(now_utc))).await.is_err() {
                    break;
                }
                sent_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }

    tokio::time::sleep(args.warmup).await;
    let cpu_before = cpu_seconds(gateway_pid).unwrap_or(0.0);
    let sent_before = sent_count.load(std::sync::atomic::Ordering::Relaxed);
    measuring.store(true, std::sync::atomic::Ordering::Relaxed);
    let window = Instant::now();
    let mut rss_max: f64 = 0.0;
    let mut rss_sum = 0.0;
    let mut rss_n = 0.0;
    while window.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(rss) = rss_mib(gateway_pid) {
            rss_max = rss_max.max(rss);
            rss_sum += rss;
            rss_n += 1.0;
        }
    }
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let cpu = cpu_seconds(gateway_pid).unwrap_or(0.0) - cpu_before;
    let sent = sent_count.load(std::sync::atomic::Ordering::Relaxed) - sent_before;
    let mut all = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    all.sort();
    println!(
        "snapshots sent in the window: {sent} ({:.0}/s); frames received: {} (expected ~{})",
        sent as f64 / elapsed,
        all.len(),
        sent as usize * args.dashboards
    );
    println!(
        "agent send -> websocket frame: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "gateway process: cpu {:.2} s over {:.0} s ({:.1} % of one core), rss avg {:.1} MiB, max {:.1} MiB",
        cpu,
        elapsed,
        cpu / elapsed * 100.0,
        if rss_n > 0.0 { rss_sum / rss_n } else { 0.0 },
        rss_max
    );

    if args.browser {
        let script = e2e.join("bench.mjs");
        let status = tokio::process::Command::new("node")
            .arg(&script)
            .args(["--base", &stack.http(""), "--email", &fixture.email, "--password", &fixture.password])
            .args(["--hosts", &args.hosts.to_string(), "--seconds", &args.browser_duration.as_secs().to_string()])
            .status()
            .await
            .with_context(|| format!("cannot run node {}", script.display()))?;
        if !status.success() {
            println!("browser measurement failed: {status}");
        }
    }
    for sender in senders {
        sender.abort();
    }
    for reader in readers {
        reader.abort();
    }
    Ok(())
}
