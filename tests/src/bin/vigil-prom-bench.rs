//! `vigil-prom-bench`: the cost of `GET /api/metrics/prometheus` for a tenant
//! of many hosts, per series, next to Prometheus's own node_exporter scraped
//! for one host (issue 12's benchmark).
//!
//! - starts a private stack (nats-server, a fresh MariaDB database, `vigil run
//!   gateway collector` of the same profile as this command);
//! - seeds a tenant of `--hosts` hosts, each with a realistic latest
//!   snapshot (2 mounts, 2 interfaces, 3 containers, 4 services, 2 custom
//!   metrics), **written straight into the collector's tables** (`hosts`,
//!   `metrics_host`, `metrics_container`, `metrics_service`,
//!   `metrics_custom`) with multi-row inserts: ingesting 10,000 snapshots
//!   through gRPC would only measure ingest again (`vigil-bench` does);
//! - creates a scrape token and times the scrapes: the first (cold: the
//!   processes' first exposition, statements not yet prepared) and the p50
//!   of `--scrapes` more (warm); counts bytes and series;
//! - starts `prometheus-node-exporter` (Debian's, default collectors) on a
//!   free port and times `--scrapes` scrapes of it the same way;
//! - prints µs and bytes per series of both, and their ratio.
//!
//! Run: `cargo build --release -p vigil -p vigil-tests --bin vigil --bin vigil-prom-bench`
//! then `target/release/vigil-prom-bench --hosts 10000`. With
//! `PROM_BENCH_LOG=1 STACK_LOG=info,vigil_collector=debug` it also prints the
//! collector's time per page.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::Parser;
use sqlx::{MySql, QueryBuilder};
use vigil_tests::{free_port, Stack};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

#[derive(Parser, Debug)]
#[command(about = "GET /api/metrics/prometheus for a tenant of many hosts, per series, next to node_exporter")]
struct Args {
    /// hosts of the tenant
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// warm scrapes of each target (after the cold one)
    #[arg(long, default_value_t = 7)]
    scrapes: usize,
    /// hosts per insert statement while seeding
    #[arg(long, default_value_t = 500)]
    seed_batch: usize,
}

/// One scrape: how long until the whole body arrived, its bytes and series.
struct Scrape {
    elapsed: Duration,
    bytes: usize,
    series: usize,
}

async fn scrape(client: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Scrape> {
    let started = Instant::now();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!("{url}: {status}: {}", String::from_utf8_lossy(&body[..body.len().min(500)]));
    }
    let series = body.split(|b| *b == b'\n').filter(|line| !line.is_empty() && line[0] != b'#').count();
    Ok(Scrape { elapsed, bytes: body.len(), series })
}

/// The cold scrape and the warm ones of `url`.
async fn measure(client: &reqwest::Client, url: &str, token: Option<&str>, warm: usize) -> Result<(Scrape, Vec<Scrape>)> {
    let cold = scrape(client, url, token).await?;
    let mut scrapes = Vec::with_capacity(warm);
    for _ in 0..warm {
        scrapes.push(scrape(client, url, token).await?);
    }
    scrapes.sort_by_key(|s| s.elapsed);
    Ok((cold, scrapes))
}

fn p50(scrapes: &[Scrape]) -> &Scrape {
    &scrapes[scrapes.len() / 2]
}

fn per_series(scrape: &Scrape) -> (f64, f64) {
    let series = scrape.series.max(1) as f64;
    (scrape.elapsed.as_secs_f64() * 1e6 / series, scrape.bytes as f64 / series)
}

/// Seeds `count` hosts of `tenant`, each with one snapshot at `now`.
async fn seed(pool: &sqlx::MySqlPool, tenant: &str, count: usize, batch: usize) -> Result<()> {
    let now = Utc::now().naive_utc();
    let mounts = serde_json::json!([
        {"path": "/", "total": 107_374_182_400u64, "used": 42_949_672_960u64, "percent": 40.0, "fs_type": "ext4"},
        {"path": "/var/lib/data", "total": 536_870_912_000u64, "used": 268_435_456_000u64, "percent": 50.0, "fs_type": "xfs"},
    ])
    .to_string();
    let ids: Vec<String> = (0..count).map(|i| format!("host-{i:06}")).collect();
    for chunk in ids.chunks(batch.max(1)) {
        let mut hosts = QueryBuilder::<MySql>::new(
            "INSERT INTO hosts (id, tenant_id, name, hostname, machine_id, ip_address, os, arch, agent_version, status, last_seen, created_at) ",
        );
        hosts.push_values(chunk, |mut row, id| {
            row.push_bind(id)
                .push_bind(tenant)
                .push_bind(format!("web-{id}"))
                .push_bind(format!("web-{id}.example.net"))
                .push_bind(format!("m-{id}"))
                .push_bind("10.0.0.1")
                .push_bind("linux")
                .push_bind("x86_64")
                .push_bind("0.1.0")
                .push_bind("online")
                .push_bind(now)
                .push_bind(now);
        });
        let mut metrics = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_host (host_id, timestamp, uptime, cpu_percent, cpu_cores, memory_used, memory_total, \
             memory_available, swap_used, swap_total, disk_used, disk_total, load_1m, load_5m, load_15m, network_rx, network_tx, \
             per_core, mounts, interfaces) ",
        );
        metrics.push_values(chunk.iter().enumerate(), |mut row, (i, id)| {
            let interfaces = serde_json::json!([
                {"name": "eth0", "rx_bytes": 1_000_000_000u64 + i as u64, "tx_bytes": 2_000_000_000u64 + i as u64, "rx_packets": 1_000_000, "tx_packets": 2_000_000, "rx_errors": 0, "tx_errors": 1},
                {"name": "eth1", "rx_bytes": 3_000_000 + i as u64, "tx_bytes": 4_000_000 + i as u64, "rx_packets": 3000, "tx_packets": 4000, "rx_errors": 2, "tx_errors": 0},
            ])
            .to_string();
            row.push_bind(id)
                .push_bind(now)
                .push_bind(864_000 + i as u64)
                .push_bind(12.5 + (i % 80) as f64)
                .push_bind(8u16)
                .push_bind(8_589_934_592u64 + i as u64 * 4096)
                .push_bind(34_359_738_368u64)
                .push_bind(25_769_803_776u64)
                .push_bind(0u64)
                .push_bind(4_294_967_296u64)
                .push_bind(311_385_128_960u64)
                .push_bind(644_245_094_400u64)
                .push_bind(1.25)
                .push_bind(0.75)
                .push_bind(0.5)
                .push_bind(1_003_000_000u64)
                .push_bind(2_004_000_000u64)
                .push_bind("[12.5,10.0,14.0,9.5,11.0,13.0,12.0,10.5]")
                .push_bind(mounts.clone())
                .push_bind(interfaces);
        });
        let mut containers = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_container (host_id, container_name, timestamp, runtime, status, image, created, cpu_percent, \
             memory_used, memory_limit, memory_percent, disk_used, network_rx, network_tx, processes) ",
        );
        let container_rows = chunk.iter().flat_map(|id| ["web", "worker", "redis"].map(move |name| (id, name)));
        containers.push_values(container_rows, |mut row, (id, name)| {
            row.push_bind(id)
                .push_bind(name)
                .push_bind(now)
                .push_bind("docker")
                .push_bind("running")
                .push_bind(format!("registry.example.net/{name}:1.4.2"))
                .push_bind("2026-11-30T10:00:00Z")
                .push_bind(3.25)
                .push_bind(268_435_456u64)
                .push_bind(1_073_741_824u64)
                .push_bind(25.0)
                .push_bind(52_428_800u64)
                .push_bind(123_456_789u64)
                .push_bind(98_765_432u64)
                .push_bind(6u32);
        });
        let mut services = QueryBuilder::<MySql>::new(
            "INSERT INTO metrics_service (host_id, service_name, timestamp, status, pid, memory_used, cpu_percent, ports, uptime) ",
        );
        let service_rows = chunk
            .iter()
            .flat_map(|id| ["nginx.service", "sshd.service", "cron.service", "postgresql.service"].map(move |s| (id, s)));
        services.push_values(service_rows, |mut row, (id, name)| {
            row.push_bind(id)
                .push_bind(name)
                .push_bind(now)
                .push_bind("active")
                .push_bind(1234u32)
                .push_bind(52_428_800u64)
                .push_bind(0.75)
                .push_bind("[80,443]")
                .push_bind(86_400u64);
        });
        let mut custom = QueryBuilder::<MySql>::new("INSERT INTO metrics_custom (host_id, name, timestamp, type, value) ");
        let custom_rows =
            chunk.iter().flat_map(|id| [(id, "queue_depth", "gauge", 17.0), (id, "jobs_done", "counter", 123_456.0)]);
        custom.push_values(custom_rows, |mut row, (id, name, kind, value)| {
            row.push_bind(id).push_bind(name).push_bind(now).push_bind(kind).push_bind(value);
        });
        let mut tx = pool.begin().await?;
        for query in [&mut hosts, &mut metrics, &mut containers, &mut services, &mut custom] {
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Every page of the tenant's hosts, one cursor (the gateway reads 4 side by side).
async fn collector_pages(nats: &async_nats::Client, tenant: &str) -> Result<Duration> {
    use vigil_bus::messages::{HostLatest, LatestPage, MAX_LATEST_HOSTS};
    let started = Instant::now();
    let fresh_since = Utc::now() - chrono::Duration::hours(1);
    let mut after = None;
    loop {
        let request = LatestPage {
            tenant_id: tenant.to_owned(),
            after: after.take(),
            limit: MAX_LATEST_HOSTS,
            fresh_since,
            shard: 0,
            shards: 0,
        };
        let page: Vec<HostLatest> = vigil_bus::rpc::request(nats, vigil_bus::subjects::collector::HOSTS_LATEST, &request)
            .await
            .map_err(|e| anyhow::anyhow!("hosts.latest: {e}"))?;
        if page.len() < MAX_LATEST_HOSTS as usize {
            return Ok(started.elapsed());
        }
        after = page.last().map(|host| host.id.clone());
    }
}

struct NodeExporter(std::process::Child);

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !std::path::Path::new(NODE_EXPORTER).exists() {
        bail!("{NODE_EXPORTER} is absent; install it with `apt-get install prometheus-node-exporter` (this command installs nothing)");
    }
    let mut stack = Stack::new().await?;
    // the seeded snapshots stay fresh for the whole run
    stack.extra_env.insert("VIGIL_COLLECTOR_OFFLINE_AFTER".into(), "1h".into());
    stack.extra_env.insert("VIGIL_GATEWAY_PROMETHEUS_STALE_AFTER".into(), "1h".into());
    let vigil = stack.spawn(&["gateway", "collector"]).await?;
    let tenant = "bench";
    vigil_gateway::admin::ensure_tenant(&stack.db.pool, tenant, tenant).await?;
    let started = Instant::now();
    seed(&stack.db.pool, tenant, args.hosts, args.seed_batch).await.context("seeding the collector's tables")?;
    let seeded = started.elapsed();
    let token = vigil_gateway::scrape_tokens::create_scrape_token(&stack.db.pool, tenant, Some("bench")).await?.token;

    // where the time goes: the collector's pages alone, as the gateway asks for them
    let nats = stack.nats.client().await;
    let mut pages = Vec::new();
    for _ in 0..3 {
        pages.push(collector_pages(&nats, tenant).await?);
    }
    pages.sort();

    let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let url = stack.http("/api/metrics/prometheus");
    let (vigil_cold, vigil_warm) = measure(&client, &url, Some(&token), args.scrapes).await?;

    let port = free_port();
    let exporter = NodeExporter(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting node_exporter")?,
    );
    let node_url = format!("http://127.0.0.1:{port}/metrics");
    let mut waited = 0;
    while scrape(&client, &node_url, None).await.is_err() {
        waited += 1;
        if waited > 100 {
            bail!("node_exporter did not answer on 127.0.0.1:{port}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (node_cold, node_warm) = measure(&client, &node_url, None, args.scrapes).await?;
    drop(exporter);

    println!(
        "vigil-prom-bench: {} hosts seeded in {:.1} s (2 mounts, 2 interfaces, 3 containers, 4 services, 2 custom metrics each); {} warm scrapes each",
        args.hosts,
        seeded.as_secs_f64(),
        args.scrapes
    );
    println!("{:<34} {:>10} {:>12} {:>10} {:>11} {:>13}", "target", "time ms", "bytes", "series", "µs/series", "bytes/series");
    let row = |name: &str, scrape: &Scrape| {
        let (us, bytes) = per_series(scrape);
        println!(
            "{name:<34} {:>10.1} {:>12} {:>10} {:>11.3} {:>13.1}",
            scrape.elapsed.as_secs_f64() * 1000.0,
            scrape.bytes,
            scrape.series,
            us,
            bytes
        );
    };
    row("vigil /api/metrics/prometheus cold", &vigil_cold);
    row("vigil /api/metrics/prometheus p50", p50(&vigil_warm));
    row("node_exporter /metrics cold", &node_cold);
    row("node_exporter /metrics p50", p50(&node_warm));
    println!(
        "the collector's hosts.latest pages read by one cursor (over NATS, decoded, no text): median {:.1} ms of 3",
        pages[1].as_secs_f64() * 1000.0
    );
    if std::env::var_os("PROM_BENCH_LOG").is_some() {
        for line in vigil.log_text().lines().filter(|line| line.contains("latest")).take(40) {
            println!("{line}");
        }
    }
    let (vigil_us, vigil_bytes) = per_series(p50(&vigil_warm));
    let (node_us, node_bytes) = per_series(p50(&node_warm));
    println!(
        "per series, vigil / node_exporter (warm p50): time {:.3}x, bytes {:.3}x",
        vigil_us / node_us.max(f64::MIN_POSITIVE),
        vigil_bytes / node_bytes.max(f64::MIN_POSITIVE)
    );
    Ok(())
}
