//! `vigil-bench`: load generator and ingest benchmark. Starts a private stack
//! (nats-server, fresh MariaDB database, `vigil run gateway collector`), then:
//!
//! 1. steady: N simulated agents over the real gRPC + TLS protocol, one
//!    connection each, one snapshot per interval; reports loss and the
//!    latency from send to committed row (p50/p99), and the server's RSS;
//! 2. saturation: a few agents send as fast as acks allow; reports snapshots/s
//!    stored end to end;
//! 3. ceiling: MariaDB's raw multi-row insert rate of the same snapshots'
//!    rows (as many, of as many hosts) into the four raw tables (`metrics_host`, `metrics_container`,
//!    `metrics_service`, `metrics_custom`; same columns, 500 snapshots per
//!    transaction, at most 500 rows per statement), in the same run.
//!
//! Every snapshot is a host of `--shape` (`vigil_testkit::shapes`: `small`,
//! `seed` as the seed's example, `docker` with 30 containers and 40
//! interfaces), its values moving as a real host's do.
//!
//! For saturation and ceiling it also prints the CPU time each process spent
//! per 1,000 snapshots (rows): the server (`vigil`), the private nats-server,
//! the machine's `mariadbd` and this load generator, from `/proc/<pid>/stat`.
//! The ratio of the two throughputs follows from how much of the 2 cores the
//! other hops take away from MariaDB.
//!
//! Latency is observed by polling `SELECT host_id, MAX(timestamp) ... GROUP BY
//! host_id` every 25 ms: a snapshot counts as committed at the first poll that
//! sees its timestamp (agents send in order), so figures carry up to ~25 ms of
//! polling granularity.
//!
//! Run: `cargo run --release -p vigil-tests --bin vigil-bench -- --hosts 1000 --shape seed`

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Parser;
use futures::StreamExt;
use tokio::sync::Mutex;
use vigil_bus::messages::MetricsSnapshot;
use vigil_proto::server_message;
use vigil_testkit::shapes::{HostSeries, Shape};
use vigil_tests::{procstat, raw_rows, sim, Stack};

#[derive(Parser, Debug)]
struct Args {
    /// simulated hosts in the steady phase
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// collection interval of each simulated host
    #[arg(long, default_value = "10s", value_parser = vigil_bus::duration::parse)]
    interval: Duration,
    /// length of the steady phase
    #[arg(long, default_value = "60s", value_parser = vigil_bus::duration::parse)]
    steady: Duration,
    /// agents in the saturation phase
    #[arg(long, default_value_t = 50)]
    saturation_hosts: usize,
    /// snapshots each saturation agent sends
    #[arg(long, default_value_t = 2000)]
    saturation_per_host: u64,
    /// run gateway and collectors as separate processes instead of one
    #[arg(long)]
    separate: bool,
    /// collector processes with --separate (they share the durable consumer)
    #[arg(long, default_value_t = 1)]
    collectors: usize,
    /// snapshots whose rows are inserted for the raw ceiling (default: as
    /// many as the saturation phase stores, so both fill the tables alike)
    #[arg(long)]
    ceiling_snapshots: Option<u64>,
    /// what each simulated host has: small, seed or docker
    #[arg(long, default_value = "seed")]
    shape: Shape,
}

type Pending = Arc<Mutex<HashMap<String, VecDeque<(DateTime<Utc>, Instant)>>>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let ceiling_snapshots = args.ceiling_snapshots.unwrap_or(args.saturation_hosts as u64 * args.saturation_per_host);
    let stack = Stack::new().await?;
    let mut collectors = Vec::new();
    let services = if args.separate {
        for _ in 0..args.collectors {
            collectors.push(stack.spawn(&["collector"]).await?);
        }
        stack.spawn(&["gateway"]).await?
    } else {
        stack.spawn(&["gateway", "collector"]).await?
    };
    let server_pid = services.pid();
    let fixture = stack.tenant("bench").await?;
    println!(
        "vigil-bench: shape {} ({}); {} hosts every {:?} for {:?}; saturation {}x{}; ceiling {} snapshots",
        args.shape,
        describe(args.shape),
        args.hosts,
        args.interval,
        args.steady,
        args.saturation_hosts,
        args.saturation_per_host,
        ceiling_snapshots
    );

    // ---- steady phase
    let mut host_ids = Vec::with_capacity(args.hosts);
    let mut channels = Vec::with_capacity(args.hosts);
    let registration = Instant::now();
    for h in 0..args.hosts {
        let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await?;
        host_ids.push(sim::register(channel.clone(), &fixture.token, &format!("bench-m-{h}"), &format!("bench-{h}")).await?);
        channels.push(channel);
    }
    println!("registered {} hosts over tls in {:.1?}", args.hosts, registration.elapsed());

    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let stop_polling = Arc::new(tokio::sync::Notify::new());
    let poller = tokio::spawn(poll_commits(stack.db.pool.clone(), pending.clone(), latencies.clone(), stop_polling.clone()));
    let rss = Arc::new(Mutex::new(RssSamples::default()));
    let rss_sampler = tokio::spawn(sample_rss(server_pid, rss.clone()));

    let steady_start = Instant::now();
    let mut agents = Vec::new();
    for (h, (host_id, channel)) in host_ids.iter().cloned().zip(channels).enumerate() {
        let token = fixture.token.clone();
        let pending = pending.clone();
        let interval = args.interval;
        let steady = args.steady;
        let mut series = HostSeries::new(args.shape, h as u64);
        let offset = interval.mul_f64(h as f64 / args.hosts as f64);
        agents.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut connection = sim::connect(channel, &token, &host_id).await.expect("connect");
            let mut ticker = tokio::time::interval(interval);
            let mut sent = 0u64;
            let started = Instant::now();
            let acks = tokio::spawn(async move {
                let mut acked = 0u64;
                while let Some(Ok(reply)) = connection.replies.next().await {
                    if let Some(server_message::Payload::Ack(ack)) = reply.payload {
                        assert!(ack.accepted, "refused: {}", ack.error);
                        acked += 1;
                    }
                }
                acked
            });
            while started.elapsed() < steady {
                ticker.tick().await;
                sent += 1;
                let at = Utc::now();
                pending.lock().await.entry(host_id.clone()).or_default().push_back((at, Instant::now()));
                connection.sender.send(sim::metrics_message(&host_id, series.next(at))).await.expect("send");
            }
            drop(connection.sender);
            drop(acks); // detached: it counts acks until the stream ends
            sent
        }));
    }
    let mut sent = 0u64;
    for agent in agents {
        sent += agent.await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stored = 0;
    while Instant::now() < deadline {
        stored = stack.db.count("SELECT COUNT(*) FROM metrics_host").await as u64;
        if stored >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_polling.notify_one();
    poller.await?;
    let mut steady_latencies = latencies.lock().await.clone();
    steady_latencies.sort_by(f64::total_cmp);
    let steady_rss = rss.lock().await.clone();
    println!("\n== steady: {} hosts, interval {:?}, {:.0?}", args.hosts, args.interval, steady_start.elapsed());
    println!("sent {sent} snapshots, stored {stored}, lost {}", sent.saturating_sub(stored));
    println!(
        "send -> committed row latency: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (n = {})",
        percentile(&steady_latencies, 0.50),
        percentile(&steady_latencies, 0.99),
        steady_latencies.last().copied().unwrap_or(0.0),
        steady_latencies.len()
    );
    println!(
        "server (gateway + collector, one process) rss: avg {:.1} MiB, max {:.1} MiB",
        steady_rss.avg_mib(),
        steady_rss.max_mib()
    );

    // ---- saturation phase
    let before = stack.db.count("SELECT COUNT(*) FROM metrics_host").await as u64;
    let total = args.saturation_hosts as u64 * args.saturation_per_host;
    let base = Utc::now() - chrono::Duration::days(1);
    let mut saturators = Vec::new();
    let mut sat_hosts = Vec::new();
    for h in 0..args.saturation_hosts {
        let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await?;
        let host_id = sim::register(channel.clone(), &fixture.token, &format!("sat-m-{h}"), &format!("sat-{h}")).await?;
        sat_hosts.push((host_id, channel));
    }
    let server_label = if args.separate { "vigil gateway" } else { "vigil (gateway+collector)" };
    let mut cpu_processes = vec![(server_label.to_owned(), server_pid)];
    for (n, collector) in collectors.iter().enumerate() {
        cpu_processes.push((format!("vigil collector {}", n + 1), collector.pid()));
    }
    cpu_processes.extend(stack.nats.pid().map(|pid| ("nats-server".to_owned(), pid)));
    cpu_processes.extend(procstat::pid_of("mariadbd").map(|pid| ("mariadbd".to_owned(), pid)));
    cpu_processes.push(("load generator (this command)".to_owned(), std::process::id()));
    let cpu_before = cpu_ticks(&cpu_processes);
    let saturation_start = Instant::now();
    let last_rows: Vec<(String, chrono::NaiveDateTime)> = sat_hosts
        .iter()
        .map(|(host_id, _)| {
            // stored at millisecond precision (DATETIME(3))
            let last = (base + chrono::Duration::milliseconds(args.saturation_per_host as i64 * 10)).timestamp_millis();
            (host_id.clone(), DateTime::from_timestamp_millis(last).expect("timestamp").naive_utc())
        })
        .collect();
    for (h, (host_id, channel)) in sat_hosts.into_iter().enumerate() {
        let token = fixture.token.clone();
        let per_host = args.saturation_per_host;
        let mut series = HostSeries::new(args.shape, (1 << 32) + h as u64);
        saturators.push(tokio::spawn(async move {
            let connection = sim::connect(channel, &token, &host_id).await.expect("connect");
            let sender = connection.sender.clone();
            let mut replies = connection.replies;
            let window = Arc::new(tokio::sync::Semaphore::new(256));
            let w = window.clone();
            let name = host_id.clone();
            let acker = tokio::spawn(async move {
                let mut acked = 0;
                while acked < per_host {
                    match replies.next().await {
                        Some(Ok(reply)) => {
                            if let Some(server_message::Payload::Ack(_)) = reply.payload {
                                acked += 1;
                                w.add_permits(1);
                            }
                        }
                        Some(Err(status)) => {
                            eprintln!("{name}: stream ended after {acked} acks: {status}");
                            break;
                        }
                        None => {
                            eprintln!("{name}: stream closed after {acked} acks");
                            break;
                        }
                    }
                }
            });
            for seq in 1..=per_host {
                match tokio::time::timeout(Duration::from_secs(30), window.acquire()).await {
                    Ok(permit) => permit.expect("window").forget(),
                    Err(_) => panic!("{host_id}: no ack for 30 s after {} sends; the stream ended?", seq - 1),
                }
                let at = base + chrono::Duration::milliseconds(seq as i64 * 10);
                sender.send(sim::metrics_message(&host_id, series.next(at))).await.expect("send");
            }
            acker.await.expect("acker");
        }));
    }
    for s in saturators {
        s.await?;
    }
    let acked_at = saturation_start.elapsed();
    // Done when every agent's last snapshot has a row (primary-key lookups,
    // cheap enough to ask every 20 ms), then confirmed by a full count: a
    // COUNT(*) of the growing table every 20 ms would itself take a good share
    // of MariaDB's CPU away from the collector.
    loop {
        if saturation_start.elapsed() > Duration::from_secs(300) {
            break;
        }
        if raw_rows::last_rows_stored(&stack.db.pool, &last_rows).await.unwrap_or(0) == last_rows.len()
            && stack.db.count("SELECT COUNT(*) FROM metrics_host").await as u64 - before >= total
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let saturation_elapsed = saturation_start.elapsed();
    let stored_sat = stack.db.count("SELECT COUNT(*) FROM metrics_host").await as u64 - before;
    let saturation_cpu = cpu_report(&cpu_processes, &cpu_before, stored_sat);
    let e2e_rate = stored_sat as f64 / saturation_elapsed.as_secs_f64();
    let sat_rss = rss.lock().await.clone();
    rss_sampler.abort();
    println!("\n== saturation: {} agents x {} snapshots", args.saturation_hosts, args.saturation_per_host);
    println!("all acked (in jetstream) after {acked_at:.2?}; all {stored_sat}/{total} stored after {saturation_elapsed:.2?}");
    println!("end to end: {e2e_rate:.0} snapshots/s stored; server rss max {:.1} MiB", sat_rss.max_mib());
    println!("cpu per 1000 snapshots: {saturation_cpu}");

    // ---- raw insert ceiling, same tables, same rows
    let cpu_before = cpu_ticks(&cpu_processes);
    let ceiling = raw_insert_ceiling(&stack, args.shape, args.saturation_hosts.max(1) as u64, ceiling_snapshots).await?;
    let ceiling_cpu = cpu_report(&cpu_processes, &cpu_before, ceiling_snapshots);
    println!(
        "\n== mariadb raw multi-row insert ceiling ({} snapshots of {} hosts of shape {}: their rows in the four raw tables, 500 snapshots per transaction, 1 connection)",
        ceiling_snapshots, args.saturation_hosts, args.shape
    );
    println!("{:.0} snapshots/s ({:.0} rows/s)", ceiling.snapshots_per_second, ceiling.rows_per_second);
    println!("cpu per 1000 snapshots: {ceiling_cpu}");
    println!("\n== summary");
    println!(
        "steady {} hosts @ {:?}: loss {}, p99 {:.0} ms (target: 0 loss, p99 < 1000 ms)",
        args.hosts,
        args.interval,
        sent.saturating_sub(stored),
        percentile(&steady_latencies, 0.99)
    );
    println!(
        "saturation, shape {}: {e2e_rate:.0} snapshots/s end to end vs {:.0}/s raw insert = {:.0}% of the ceiling (target >= 50%)",
        args.shape,
        ceiling.snapshots_per_second,
        100.0 * e2e_rate / ceiling.snapshots_per_second
    );
    if let Ok(keep) = std::env::var("BENCH_KEEP_LOG") {
        std::fs::copy(&services.log, &keep)?;
        println!("server log kept in {keep}");
    }
    drop(services);
    Ok(())
}

/// utime + stime of each process, in clock ticks (0 when it is gone).
fn cpu_ticks(processes: &[(String, u32)]) -> Vec<u64> {
    processes.iter().map(|(_, pid)| procstat::cpu_ticks(*pid).map_or(0, |t| t.own)).collect()
}

/// "name N ms, ..." : CPU time per 1000 units since `before`.
fn cpu_report(processes: &[(String, u32)], before: &[u64], units: u64) -> String {
    let ticks_per_second = procstat::ticks_per_second();
    let after = cpu_ticks(processes);
    let per_thousand = |ticks: u64| ticks as f64 / ticks_per_second * 1000.0 / (units.max(1) as f64 / 1000.0);
    let mut parts: Vec<String> = processes
        .iter()
        .zip(after.iter().zip(before))
        .map(|((name, _), (after, before))| format!("{name} {:.0} ms", per_thousand(after.saturating_sub(*before))))
        .collect();
    let total: u64 = after.iter().zip(before).map(|(a, b)| a.saturating_sub(*b)).sum();
    parts.push(format!("total {:.0} ms", per_thousand(total)));
    parts.join(", ")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn poll_commits(pool: sqlx::MySqlPool, pending: Pending, latencies: Arc<Mutex<Vec<f64>>>, stop: Arc<tokio::sync::Notify>) {
    loop {
        let rows: Vec<(String, chrono::NaiveDateTime)> =
            sqlx::query_as("SELECT host_id, MAX(timestamp) FROM metrics_host GROUP BY host_id")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
        let now = Instant::now();
        {
            let mut pending = pending.lock().await;
            let mut latencies = latencies.lock().await;
            for (host, max) in rows {
                let max = max.and_utc();
                if let Some(queue) = pending.get_mut(&host) {
                    while queue.front().is_some_and(|(at, _)| *at <= max + chrono::Duration::milliseconds(1)) {
                        let (at, sent) = queue.pop_front().expect("front");
                        let latency = now.duration_since(sent).as_secs_f64() * 1000.0;
                        if latency > 1000.0 && std::env::var_os("BENCH_SHOW_SLOW").is_some() {
                            println!("slow: {host} {at} {latency:.0} ms");
                        }
                        latencies.push(latency);
                    }
                }
            }
        }
        tokio::select! {
            _ = stop.notified() => return,
            _ = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
    }
}

#[derive(Default, Clone)]
struct RssSamples {
    samples: Vec<u64>,
}

impl RssSamples {
    fn max_mib(&self) -> f64 {
        self.samples.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    }
    fn avg_mib(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.samples.iter().sum::<u64>() as f64 / self.samples.len() as f64 / 1024.0
    }
}

async fn sample_rss(pid: u32, samples: Arc<Mutex<RssSamples>>) {
    loop {
        if let Some(kib) = procstat::rss_kib(pid) {
            samples.lock().await.samples.push(kib);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// "8 cores, 3 mounts, ...": what a host of `shape` has.
fn describe(shape: Shape) -> String {
    format!(
        "{} cores, {} mounts, {} interfaces, {} containers, {} services",
        shape.cores(),
        shape.mounts(),
        shape.interfaces(),
        shape.containers(),
        shape.services()
    )
}

struct Ceiling {
    snapshots_per_second: f64,
    rows_per_second: f64,
}

/// Inserts the rows of `count` snapshots of `hosts` hosts of `shape`, taken
/// in turn 10 ms apart per host as in the saturation phase, 500 snapshots
/// per transaction; the time of making the snapshots is left out.
async fn raw_insert_ceiling(stack: &Stack, shape: Shape, hosts: u64, count: u64) -> Result<Ceiling> {
    let mut series: Vec<HostSeries> = (0..hosts).map(|h| HostSeries::new(shape, (2 << 32) + h)).collect();
    let base = Utc::now() - chrono::Duration::days(2);
    let mut spent = Duration::ZERO;
    let (mut inserted, mut rows) = (0u64, 0u64);
    while inserted < count {
        let batch: Vec<MetricsSnapshot> = (inserted..count.min(inserted + 500))
            .map(|n| {
                let (host, step) = (n % hosts, n / hosts);
                let at = base + chrono::Duration::milliseconds(step as i64 * 10);
                series[host as usize].next_snapshot("bench", &format!("ceiling-{host}"), at)
            })
            .collect();
        let start = Instant::now();
        let mut tx = stack.db.pool.begin().await?;
        rows += raw_rows::insert(&mut tx, &batch).await?;
        tx.commit().await?;
        spent += start.elapsed();
        inserted += batch.len() as u64;
    }
    let seconds = spent.as_secs_f64();
    Ok(Ceiling { snapshots_per_second: count as f64 / seconds, rows_per_second: rows as f64 / seconds })
}
