//! `vigil-storage-bench`: what a snapshot costs on disk and how fast it goes
//! in and comes back out, per host shape (issue 13's benchmark), today's
//! schema and the compacted one side by side in one run.
//!
//! For each shape (`--shape small|seed|docker|all`), on a private mariadbd
//! (its own datadir, a 1 GiB buffer pool, no buffer pool dump or load so a
//! restart is cold, MyRocks loaded when `ha_rocksdb.so` is installed), a
//! private nats-server and the real collector running in this process:
//!
//! 1. **ingest end to end**: `--hosts` registered hosts send `--hours` of
//!    10 s snapshots ending at the previous full hour, and one of them
//!    `--long-days` (7 d, for the 7 d chart), all from
//!    `vigil_testkit::shapes`, published on the bus as the gateway does
//!    (JetStream, `Nats-Msg-Id`, up to 1,024 PubAcks in flight), in time
//!    order; snapshots/s from the first publish to the last committed row;
//! 2. **raw insert ceiling**: the same snapshots (same seeds) inserted into
//!    the same tables of a second database, one connection, one transaction
//!    per 500 snapshots (as the collector's batches), multi-row INSERTs of at
//!    most 500 rows per table, as the collector writes them;
//! 3. **bytes per snapshot, today**: once the engine has flushed (`FLUSH
//!    TABLES ... FOR EXPORT`), the allocated bytes (`st_blocks * 512`) of
//!    the `.ibd` files of `metrics_host`, `metrics_container`,
//!    `metrics_service` and `metrics_custom` / snapshots; and
//!    information_schema's DATA_LENGTH + INDEX_LENGTH for comparison;
//! 4. **other engines, same rows**: copies of the 4 tables (`CREATE TABLE
//!    ... LIKE`, then `INSERT ... SELECT`) with InnoDB `PAGE_COMPRESSED=1`
//!    and, when the plugin is installed, MyRocks (`ENGINE=ROCKSDB`, its
//!    `.sst` files' growth after a memtable flush and a full compaction);
//! 5. **new storage**: `vigil_collector::compact` (the collector's
//!    compaction into `metrics_chunk`) up to the end of the data, timed; then the chunks'
//!    bytes per snapshot, the raw tables' after `OPTIMIZE TABLE`, and the
//!    steady state: chunks plus a head of 16 minutes of raw rows at today's
//!    bytes per snapshot;
//! 6. **reads as a chart asks them**: the collector's `metrics.range` over
//!    NATS, as the gateway requests it, for the long host: 24 h at
//!    `step=144` (~600 points) and 7 d at `step=1000`; p50/p95 of 50 warm
//!    reads and 5 cold ones (clean mariadbd restart, and the kernel's page
//!    cache dropped when this process may write `/proc/sys/vm/drop_caches`),
//!    before compaction and after, with a check that both answers are the
//!    same bytes;
//! 7. **projected disk** for 1,000 and 50,000 hosts at 10 s with the default
//!    retention (7 d raw, 90 d hourly); the hourly row's bytes are measured
//!    on a copy of `metrics_host_hourly` (after the collector's downsample)
//!    grown to 100,000 rows, hour by hour as the collector writes them.
//!
//! It prints one table per shape, then a summary of the ratios new/today.
//!
//! Run: `cargo run --release -p vigil-tests --bin vigil-storage-bench`
//! (about 8 min on 2 cores with the defaults; `--shape seed` for one shape).
//! MyRocks is measured when `mariadb-plugin-rocksdb` is installed (this
//! command installs nothing). See docs/storage.md for figures.

use std::collections::hash_map::DefaultHasher;
use std::future::IntoFuture;
use std::hash::Hasher;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_nats::jetstream;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use clap::Parser;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::MySqlPool;
use vigil_bus::messages::{MetricsRange, MetricsSnapshot, RegisterHost};
use vigil_bus::subjects::collector;
use vigil_collector::{Collector, CollectorConfig, CompactionConfig, DownsampleConfig, Retention};
use vigil_testkit::shapes::{HostSeries, Shape};
use vigil_testkit::{NatsServer, PrivateMariaDb};
use vigil_tests::raw_rows;

const ROCKSDB_PLUGIN: &str = "/usr/lib/mysql/plugin/ha_rocksdb.so";
/// Today's tables of a snapshot's rows.
const RAW_TABLES: [&str; 4] = ["metrics_host", "metrics_container", "metrics_service", "metrics_custom"];
/// The compacted storage's table.
const CHUNK_TABLE: &str = "metrics_chunk";
const INTERVAL: TimeDelta = TimeDelta::seconds(10);
/// Snapshots of one host in the default raw retention (7 d at 10 s).
const RAW_RETENTION_SNAPSHOTS: f64 = 7.0 * 8640.0;
/// Hourly rows of one host in the default hourly retention (90 d).
const HOURLY_RETENTION_ROWS: f64 = 90.0 * 24.0;
/// What the compacted storage keeps raw at most in a steady state: the
/// compaction runs every 15 minutes (`collector.compaction.schedule`) and
/// folds every older snapshot, so the raw rows peak at ~16 minutes (a
/// minute for the run itself), which the disk must hold.
const RAW_HEAD_SNAPSHOTS: f64 = 16.0 * 6.0;
/// Snapshots per transaction of the ceiling, as the collector's batch.
const CEILING_BATCH: usize = 500;
const DATABASE: &str = "vigil";
const TENANT: &str = "bench";

#[derive(Parser, Debug)]
#[command(about = "bytes per snapshot, ingest and chart reads per host shape: today's storage and the compacted one")]
struct Args {
    /// small, seed, docker or all
    #[arg(long, default_value = "all")]
    shape: String,
    /// hosts sending --hours of snapshots (one more sends --long-days)
    #[arg(long, default_value_t = 5)]
    hosts: usize,
    /// hours of 10 s snapshots of each host
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// days of snapshots of the long host (the 7 d chart reads it)
    #[arg(long, default_value_t = 7)]
    long_days: u32,
    /// warm reads of each window (after one unmeasured read)
    #[arg(long, default_value_t = 50)]
    warm_reads: usize,
    /// cold reads of each window (each after a restart of mariadbd)
    #[arg(long, default_value_t = 5)]
    cold_reads: usize,
    /// mariadbd's innodb_buffer_pool_size
    #[arg(long, default_value = "1G")]
    buffer_pool: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let shapes: Vec<Shape> = match args.shape.as_str() {
        "all" => Shape::ALL.to_vec(),
        name => vec![name.parse()?],
    };
    if args.hosts == 0 || args.hours == 0 || args.long_days == 0 || args.warm_reads == 0 || args.cold_reads == 0 {
        bail!("--hosts, --hours, --long-days, --warm-reads and --cold-reads must be at least 1");
    }
    let rocksdb = Path::new(ROCKSDB_PLUGIN).exists();
    // the data ends at the previous full hour: every hour of it is complete
    let end = Utc::now().duration_trunc(TimeDelta::hours(1))?;
    println!(
        "vigil-storage-bench: shapes {}; {} hosts x {} h + 1 host x {} d of 10 s snapshots ending {end}; {} warm and {} cold reads",
        shapes.iter().map(Shape::to_string).collect::<Vec<_>>().join(", "),
        args.hosts,
        args.hours,
        args.long_days,
        args.warm_reads,
        args.cold_reads
    );
    if !rocksdb {
        println!("myrocks: skipped (apt-get install mariadb-plugin-rocksdb)");
    }
    let mut reports = Vec::new();
    for shape in shapes {
        let report = run_shape(&args, shape, end, rocksdb).await.with_context(|| format!("shape {shape}"))?;
        report.print();
        reports.push(report);
    }
    summary(&reports);
    Ok(())
}

/// Which snapshots a run stores: host 0 sends `long_days`, the others
/// `hours`, every 10 s, each at its own offset within the 10 s, all before
/// `end`.
struct Plan {
    shape: Shape,
    /// Registered host ids; the first is the long host.
    hosts: Vec<String>,
    starts: Vec<DateTime<Utc>>,
    end: DateTime<Utc>,
}

impl Plan {
    fn offset(&self, host: usize) -> TimeDelta {
        TimeDelta::milliseconds((host as i64 * 10_000) / self.hosts.len() as i64)
    }

    fn snapshots(&self) -> Snapshots<'_> {
        let series = (0..self.hosts.len()).map(|h| HostSeries::new(self.shape, 1_000 * self.shape as u64 + h as u64)).collect();
        Snapshots { plan: self, series, tick: self.starts[0], host: 0 }
    }

    fn total(&self) -> u64 {
        (0..self.hosts.len()).map(|h| self.last(h).map_or(0, |_| ((self.end - self.starts[h]).num_seconds() / 10) as u64)).sum()
    }

    /// The time of host `h`'s last snapshot.
    fn last(&self, h: usize) -> Option<DateTime<Utc>> {
        let last = self.end - INTERVAL + self.offset(h);
        (last >= self.starts[h]).then_some(last)
    }
}

/// The plan's snapshots in time order, generated one at a time (the same
/// seeds give the same snapshots at every pass).
struct Snapshots<'a> {
    plan: &'a Plan,
    series: Vec<HostSeries>,
    tick: DateTime<Utc>,
    host: usize,
}

impl Iterator for Snapshots<'_> {
    type Item = MetricsSnapshot;

    fn next(&mut self) -> Option<MetricsSnapshot> {
        let plan = self.plan;
        loop {
            if self.tick >= plan.end {
                return None;
            }
            if self.host == plan.hosts.len() {
                self.host = 0;
                self.tick += INTERVAL;
                continue;
            }
            let h = self.host;
            self.host += 1;
            let at = self.tick + plan.offset(h);
            if at >= plan.starts[h] && at < plan.end {
                return Some(self.series[h].next_snapshot(TENANT, &plan.hosts[h], at));
            }
        }
    }
}

/// Everything measured for one shape.
#[derive(Default)]
struct Report {
    shape: String,
    snapshots: u64,
    ingest_rate: f64,
    ceiling_rate: f64,
    /// Allocated bytes of today's tables, per table.
    today_tables: Vec<(String, u64)>,
    today_bytes: u64,
    today_info_schema: u64,
    hourly_row_bytes: f64,
    page_compressed: Outcome,
    myrocks: Option<Outcome>,
    reads_today: Reads,
    new: NewStorage,
}

/// Bytes of the same rows in another engine, or why it failed.
#[derive(Default)]
enum Outcome {
    Bytes(u64),
    Failed(String),
    #[default]
    NotRun,
}

#[derive(Default)]
struct Reads {
    day: Window,
    week: Window,
}

#[derive(Default)]
struct Window {
    points: usize,
    bytes: usize,
    warm: Vec<f64>,
    cold: Vec<f64>,
    answer: u64,
}

/// The compacted storage (`vigil_collector::compact`).
#[derive(Default)]
struct NewStorage {
    chunks: u64,
    compacted: u64,
    seconds: f64,
    chunk_bytes: u64,
    raw_left: u64,
    raw_optimized: u64,
    reads: Reads,
}

impl Report {
    fn per_snapshot(&self, bytes: u64) -> f64 {
        bytes as f64 / self.snapshots.max(1) as f64
    }

    fn today(&self) -> f64 {
        self.per_snapshot(self.today_bytes)
    }

    /// Bytes per snapshot of the compacted storage in a steady state: chunks
    /// for all but the last 16 minutes, raw rows at today's cost for those.
    fn steady(&self) -> f64 {
        let chunk = self.new.chunk_bytes as f64 / self.new.compacted.max(1) as f64;
        let head = RAW_HEAD_SNAPSHOTS / RAW_RETENTION_SNAPSHOTS;
        chunk * (1.0 - head) + self.today() * head
    }

    /// Bytes on disk of `hosts` hosts kept 7 d raw (at `per_snapshot`) and 90 d hourly.
    fn projected(&self, hosts: f64, per_snapshot: f64) -> f64 {
        hosts * (per_snapshot * RAW_RETENTION_SNAPSHOTS + self.hourly_row_bytes * HOURLY_RETENTION_ROWS)
    }

    fn print(&self) {
        println!("\n== shape {}: {} snapshots", self.shape, self.snapshots);
        println!("ingest end to end       {:>10.0} snapshots/s", self.ingest_rate);
        println!(
            "raw insert ceiling      {:>10.0} snapshots/s (ingest = {:.0}% of it)",
            self.ceiling_rate,
            100.0 * self.ingest_rate / self.ceiling_rate
        );
        println!("bytes per snapshot, on disk after a flush (st_blocks), all of a snapshot's rows:");
        println!(
            "  today (innodb)        {:>10.0}   (information_schema data+index: {:.0})",
            self.today(),
            self.per_snapshot(self.today_info_schema)
        );
        for (table, bytes) in &self.today_tables {
            println!("    {table:<20}{:>10.0}", self.per_snapshot(*bytes));
        }
        let engine = |name: &str, outcome: &Outcome| match outcome {
            Outcome::Bytes(bytes) => {
                println!(
                    "  {name:<22}{:>10.0}   ({:.2} of today)",
                    self.per_snapshot(*bytes),
                    *bytes as f64 / self.today_bytes as f64
                )
            }
            Outcome::Failed(why) => println!("  {name:<22}    failed: {why}"),
            Outcome::NotRun => println!("  {name:<22}    not run"),
        };
        engine("innodb page_compressed", &self.page_compressed);
        match &self.myrocks {
            Some(outcome) => engine("myrocks", outcome),
            None => println!("  myrocks                  skipped (apt-get install mariadb-plugin-rocksdb)"),
        }
        let new = &self.new;
        println!(
            "  new: chunks           {:>10.0}   ({} chunks of {} snapshots)",
            new.chunk_bytes as f64 / new.compacted.max(1) as f64,
            new.chunks,
            new.compacted
        );
        println!(
            "  new: chunks + raw left{:>10.0}   (raw tables as the DELETE left them)",
            self.per_snapshot(new.chunk_bytes + new.raw_left)
        );
        println!(
            "  new: + OPTIMIZE raw   {:>10.0}   (the newest rows only)",
            self.per_snapshot(new.chunk_bytes + new.raw_optimized)
        );
        println!("  new: steady state     {:>10.0}   (chunks + 16 min of raw rows at today's cost)", self.steady());
        println!(
            "compaction              {:>10.0} snapshots/s ({} in {:.1} s)",
            new.compacted as f64 / new.seconds,
            new.compacted,
            new.seconds
        );
        println!("hourly row              {:>10.0} bytes", self.hourly_row_bytes);
        println!("reads of one host (metrics.range over nats), ms: p50 / p95 warm, p50 / max cold");
        let window = |name: &str, today: &Window, new: &Window| {
            let show = |w: &Window| {
                format!(
                    "{:>6.1} / {:>6.1}  {:>6.1} / {:>6.1}",
                    percentile(&w.warm, 0.5),
                    percentile(&w.warm, 0.95),
                    percentile(&w.cold, 0.5),
                    percentile(&w.cold, 1.0)
                )
            };
            println!("  {name:<8} today {}   ({} points, {} bytes)", show(today), today.points, today.bytes);
            let same = if new.answer == today.answer { "same answer" } else { "ANSWER DIFFERS" };
            println!("  {name:<8} new   {}   ({same})", show(new));
        };
        window("24 h", &self.reads_today.day, &self.new.reads.day);
        window("7 d", &self.reads_today.week, &self.new.reads.week);
        println!("projected disk, 10 s snapshots, 7 d raw + 90 d hourly:");
        for hosts in [1_000.0, 50_000.0] {
            let mut line = format!("  {hosts:>6} hosts: today {}", gigabytes(self.projected(hosts, self.today())));
            if let Outcome::Bytes(bytes) = self.page_compressed {
                line += &format!(", page_compressed {}", gigabytes(self.projected(hosts, self.per_snapshot(bytes))));
            }
            if let Some(Outcome::Bytes(bytes)) = self.myrocks {
                line += &format!(", myrocks {}", gigabytes(self.projected(hosts, self.per_snapshot(bytes))));
            }
            line += &format!(", new {}", gigabytes(self.projected(hosts, self.steady())));
            println!("{line}");
        }
    }
}

fn summary(reports: &[Report]) {
    println!("\n== summary (new / today; target: seed <= 100 bytes per snapshot, docker <= 1/10 of today)");
    println!(
        "{:<8} {:>10} {:>10} {:>8} {:>10} {:>10} {:>9} {:>11} {:>11}",
        "shape", "today B/s", "new B/s", "ratio", "pagecomp", "myrocks", "ingest %", "24h warm95", "24h cold50"
    );
    for report in reports {
        let engine = |outcome: Option<&Outcome>| match outcome {
            Some(Outcome::Bytes(bytes)) => format!("{:.0}", report.per_snapshot(*bytes)),
            Some(Outcome::Failed(_)) => "failed".to_owned(),
            _ => "-".to_owned(),
        };
        let warm = |w: &Window| format!("{:.1}", percentile(&w.warm, 0.95));
        let cold = |w: &Window| format!("{:.1}", percentile(&w.cold, 0.5));
        let (today, new) = (&report.reads_today.day, &report.new.reads.day);
        let (warm, cold) = (format!("{}->{}", warm(today), warm(new)), format!("{}->{}", cold(today), cold(new)));
        println!(
            "{:<8} {:>10.0} {:>10.0} {:>8.3} {:>10} {:>10} {:>9.0} {:>11} {:>11}",
            report.shape,
            report.today(),
            report.steady(),
            report.steady() / report.today(),
            engine(Some(&report.page_compressed)),
            engine(report.myrocks.as_ref()),
            100.0 * report.ingest_rate / report.ceiling_rate,
            warm,
            cold
        );
    }
    println!("(B/s: bytes per snapshot; new: steady state; ingest %: end to end / raw insert ceiling; reads in ms)");
}

fn gigabytes(bytes: f64) -> String {
    if bytes >= 1e12 {
        format!("{:.2} TB", bytes / 1e12)
    } else {
        format!("{:.1} GB", bytes / 1e9)
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn progress(shape: Shape, what: &str) {
    eprintln!("[{}] {shape}: {what}", Utc::now().format("%H:%M:%S"));
}

async fn run_shape(args: &Args, shape: Shape, end: DateTime<Utc>, rocksdb: bool) -> Result<Report> {
    let mut server_args = vec![
        format!("--innodb-buffer-pool-size={}", args.buffer_pool),
        "--innodb-file-per-table=1".to_owned(),
        // a restart must be cold: no buffer pool dump at shutdown, no load at start
        "--innodb-buffer-pool-dump-at-shutdown=0".to_owned(),
        "--innodb-buffer-pool-load-at-startup=0".to_owned(),
        "--max-allowed-packet=256M".to_owned(),
    ];
    if rocksdb {
        // INSTALL SONAME at run time crashes mariadbd 10.11: loaded at start
        server_args.push("--plugin-load-add=ha_rocksdb.so".to_owned());
    }
    progress(shape, "starting a private mariadbd and nats-server");
    let mut mariadb = PrivateMariaDb::start_with(server_args).await;
    mariadb.create_db(DATABASE).await.close().await;
    let pool = connect(mariadb.options().database(DATABASE)).await?;
    let nats = NatsServer::start().await;
    let client = nats.client().await;
    let config = CollectorConfig {
        // folded and compacted once, explicitly, after the ingest: not by
        // the schedule in the middle of a measure (next run on January 1st)
        downsample: DownsampleConfig { enabled: false, schedule: "0 0 1 1 *".to_owned() },
        compaction: CompactionConfig { schedule: "0 0 1 1 *".to_owned() },
        ..CollectorConfig::default()
    };
    let collector = Collector::build(config.clone(), nats.client().await, connect(mariadb.options().database(DATABASE)).await?)
        .await
        .context("building the collector")?;
    let stop = vigil_runtime::CancellationToken::new();
    let running = tokio::spawn(collector.run_until_stopped(stop.clone()));

    let mut hosts = Vec::new();
    let mut starts = Vec::new();
    for h in 0..=args.hosts {
        let record = vigil_bus::messages::request(&client, collector::REGISTER_HOST, &register_request(shape, h)).await?;
        hosts.push(record.id);
        let span = if h == 0 { TimeDelta::days(args.long_days.into()) } else { TimeDelta::hours(args.hours.into()) };
        starts.push(end - span);
    }
    let plan = Plan { shape, hosts, starts, end };
    let mut report = Report { shape: shape.to_string(), snapshots: plan.total(), ..Report::default() };
    // what the empty tables (and their daily partitions) take: not the snapshots'
    let datadir = mariadb.datadir().join(DATABASE);
    flush(&pool, &RAW_TABLES).await?;
    let empty: Vec<u64> = RAW_TABLES.iter().map(|table| allocated(&datadir, &[table])).collect::<Result<_>>()?;

    progress(shape, &format!("ingest of {} snapshots", report.snapshots));
    report.ingest_rate = ingest(&client, &pool, &plan, report.snapshots).await?;

    progress(shape, "bytes on disk");
    flush(&pool, &RAW_TABLES).await?;
    for (table, empty) in RAW_TABLES.iter().zip(&empty) {
        let bytes = allocated(&datadir, &[table])?.saturating_sub(*empty);
        report.today_tables.push((table.to_string(), bytes));
        report.today_bytes += bytes;
    }
    let empty: u64 = empty.iter().sum();
    report.today_info_schema = info_schema_bytes(&pool, &RAW_TABLES).await?;

    progress(shape, "raw insert ceiling");
    report.ceiling_rate = ceiling(&mariadb, &plan).await?;

    progress(shape, "hourly rollups");
    // A few hours are enough to measure an hourly row (its copies fill the
    // probe table). Each hour's fold scans the partition holding it, and
    // every day of this data is in today's partition: a collector makes
    // partitions from today on, and splitting the past days would leave
    // each partition so small that its extents, not its rows, would weigh.
    let recent = Retention { raw: Duration::from_secs(4 * 3600), ..Retention::of(&config) };
    vigil_collector::downsample(&pool, Utc::now(), &recent, &[], true).await?;
    report.hourly_row_bytes = hourly_row_bytes(&pool, &datadir).await?;

    progress(shape, "innodb page compression");
    let copies = RAW_TABLES.map(|table| format!("pc_{table}"));
    let copies: Vec<&str> = copies.iter().map(String::as_str).collect();
    report.page_compressed = copy_tables(&pool, "pc_", "PAGE_COMPRESSED=1", || async {
        flush(&pool, &copies).await?;
        allocated(&datadir, &copies)
    })
    .await;
    if rocksdb {
        progress(shape, "myrocks");
        let rocks_dir = mariadb.datadir().join("#rocksdb");
        report.myrocks = Some(
            copy_tables(&pool, "rocks_", "ENGINE=ROCKSDB", || async {
                sqlx::raw_sql("SET GLOBAL rocksdb_force_flush_memtable_now = 1").execute(&pool).await?;
                sqlx::raw_sql("SET GLOBAL rocksdb_compact_cf = 'default'").execute(&pool).await?;
                settled_sst_bytes(&rocks_dir).await
            })
            .await,
        );
    }

    let long_host = plan.hosts[0].clone();
    progress(shape, "reads, today's storage");
    report.reads_today = reads(args, &mut mariadb, &client, &long_host, end).await?;

    progress(shape, "compaction");
    flush(&pool, &[CHUNK_TABLE]).await.ok();
    let empty_chunks = allocated(&datadir, &[CHUNK_TABLE])?;
    let started = Instant::now();
    let compacted = vigil_collector::compact(&pool, end).await?;
    let took = started.elapsed();
    flush(&pool, &[&RAW_TABLES[..], &[CHUNK_TABLE]].concat()).await?;
    let chunk_bytes = allocated(&datadir, &[CHUNK_TABLE])?.saturating_sub(empty_chunks);
    let raw_left = allocated(&datadir, &RAW_TABLES)?.saturating_sub(empty);
    for table in RAW_TABLES {
        sqlx::raw_sql(&format!("OPTIMIZE TABLE {table}")).fetch_all(&pool).await?;
    }
    flush(&pool, &RAW_TABLES).await?;
    let raw_optimized = allocated(&datadir, &RAW_TABLES)?.saturating_sub(empty);
    progress(shape, "reads, new storage");
    let reads = reads(args, &mut mariadb, &client, &long_host, end).await?;
    report.new = NewStorage {
        chunks: compacted.chunks,
        compacted: compacted.snapshots,
        seconds: took.as_secs_f64(),
        chunk_bytes,
        raw_left,
        raw_optimized,
        reads,
    };

    stop.cancel();
    running.await?.context("the collector")?;
    pool.close().await;
    Ok(report)
}

async fn connect(options: MySqlConnectOptions) -> Result<MySqlPool> {
    Ok(MySqlPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(60)).connect_with(options).await?)
}

fn register_request(shape: Shape, h: usize) -> RegisterHost {
    RegisterHost {
        tenant_id: TENANT.to_owned(),
        requested_id: None,
        name: format!("{shape}-{h}"),
        hostname: format!("{shape}-{h}.example.net"),
        machine_id: format!("{shape}-machine-{h}"),
        os: "linux".to_owned(),
        arch: "x86_64".to_owned(),
        agent_version: "0.1.0".to_owned(),
        ip_address: "10.0.0.7".to_owned(),
        actions: None,
    }
}

/// Publishes the plan's snapshots as the gateway does while the collector
/// stores them; snapshots/s from the first publish to the last commit.
async fn ingest(client: &async_nats::Client, pool: &MySqlPool, plan: &Plan, total: u64) -> Result<f64> {
    let jetstream = jetstream::new(client.clone());
    let started = Instant::now();
    let mut acks = FuturesUnordered::new();
    for snapshot in plan.snapshots() {
        let message = jetstream::message::PublishMessage::build()
            .payload(serde_json::to_vec(&snapshot)?.into())
            .message_id(snapshot.msg_id());
        let subject = vigil_bus::subjects::metrics(&snapshot.tenant_id, &snapshot.host_id);
        acks.push(jetstream.send_publish(subject, message).await?.into_future());
        while acks.len() >= 1024 {
            acks.next().await.expect("pending acks")?;
        }
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    let published = started.elapsed();
    // committed when each host's last snapshot has its row (primary-key
    // lookups), confirmed by a full count: a COUNT(*) of the growing table
    // every 50 ms would take MariaDB's CPU away from the collector
    let last: Vec<(String, chrono::NaiveDateTime)> =
        (0..plan.hosts.len()).filter_map(|h| plan.last(h).map(|at| (plan.hosts[h].clone(), at.naive_utc()))).collect();
    loop {
        if raw_rows::last_rows_stored(pool, &last).await? == last.len() && count(pool, "metrics_host").await? >= total {
            break;
        }
        if started.elapsed() > published + Duration::from_secs(900) {
            bail!(
                "{} of {total} snapshots stored 15 min after the last publish (dead letters?)",
                count(pool, "metrics_host").await?
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

async fn count(pool: &MySqlPool, table: &str) -> Result<u64> {
    Ok(sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(pool).await? as u64)
}

/// The plan's snapshots inserted into a second migrated database of the
/// same server, one connection, as the collector writes a batch; rows/s.
/// The database is dropped afterwards.
async fn ceiling(mariadb: &PrivateMariaDb, plan: &Plan) -> Result<f64> {
    let name = "ceiling";
    mariadb.create_db(name).await.close().await;
    let pool = MySqlPoolOptions::new().max_connections(1).connect_with(mariadb.options().database(name)).await?;
    let mut connection = pool.acquire().await?;
    // only the transactions are timed, not making the snapshots
    let mut inserting = Duration::ZERO;
    let mut inserted = 0u64;
    let mut batch = Vec::with_capacity(CEILING_BATCH);
    let mut snapshots = plan.snapshots();
    loop {
        batch.clear();
        batch.extend(snapshots.by_ref().take(CEILING_BATCH));
        if batch.is_empty() {
            break;
        }
        let started = Instant::now();
        let mut tx = sqlx::Connection::begin(&mut *connection).await?;
        raw_rows::insert(&mut tx, &batch).await?;
        tx.commit().await?;
        inserting += started.elapsed();
        inserted += batch.len() as u64;
    }
    let rate = inserted as f64 / inserting.as_secs_f64();
    drop(connection);
    sqlx::raw_sql(&format!("DROP DATABASE {name}")).execute(&pool).await?;
    pool.close().await;
    Ok(rate)
}

/// Makes InnoDB write `tables`' pages to their files: `FLUSH TABLES ... FOR
/// EXPORT` (then `UNLOCK TABLES`), or, should the server refuse it, no dirty
/// page left in the buffer pool.
async fn flush(pool: &MySqlPool, tables: &[&str]) -> Result<()> {
    let mut connection = pool.acquire().await?;
    let exported = sqlx::raw_sql(&format!("FLUSH TABLES {} FOR EXPORT", tables.join(", "))).execute(&mut *connection).await;
    sqlx::raw_sql("UNLOCK TABLES").execute(&mut *connection).await?;
    if let Err(error) = exported {
        eprintln!("flush tables for export refused ({error}); waiting for no dirty page instead");
        sqlx::raw_sql("SET GLOBAL innodb_max_dirty_pages_pct = 0").execute(&mut *connection).await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, dirty): (String, String) =
                sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").fetch_one(&mut *connection).await?;
            if dirty == "0" || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sqlx::raw_sql("SET GLOBAL innodb_max_dirty_pages_pct = 90").execute(&mut *connection).await?;
    }
    Ok(())
}

/// Allocated bytes (`st_blocks * 512`, so holes punched by page compression
/// do not count) of the `.ibd` files of `tables` in `dir`: `t.ibd` or its
/// partitions' `t#P#<partition>.ibd`.
fn allocated(dir: &Path, tables: &[&str]) -> Result<u64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".ibd") else { continue };
        let table = stem.split_once("#P#").map_or(stem, |(table, _)| table);
        if tables.contains(&table) {
            bytes += entry.metadata()?.blocks() * 512;
        }
    }
    Ok(bytes)
}

/// information_schema's DATA_LENGTH + INDEX_LENGTH of `tables` (after ANALYZE).
async fn info_schema_bytes(pool: &MySqlPool, tables: &[&str]) -> Result<u64> {
    let mut bytes = 0;
    for table in tables {
        sqlx::raw_sql(&format!("ANALYZE TABLE {table}")).fetch_all(pool).await?;
        let length: Option<u64> = sqlx::query_scalar(
            "SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS UNSIGNED) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
        )
        .bind(table)
        .fetch_one(pool)
        .await?;
        bytes += length.unwrap_or(0);
    }
    Ok(bytes)
}

/// Copies of today's 4 tables named `<prefix><table>` with `options`
/// (`ALTER TABLE` on the empty copy), filled with `INSERT ... SELECT`; the
/// growth of their bytes as `measure` gives them, empty then filled. The
/// copies are dropped.
async fn copy_tables<F, M>(pool: &MySqlPool, prefix: &str, options: &str, measure: M) -> Outcome
where
    M: Fn() -> F,
    F: std::future::Future<Output = Result<u64>>,
{
    let copied = async {
        let mut connection = pool.acquire().await?;
        // MyRocks holds a transaction's row locks (1M at most by default):
        // the copy commits every rocksdb_bulk_load_size rows instead
        if options.contains("ROCKSDB") {
            sqlx::raw_sql("SET SESSION rocksdb_commit_in_the_middle = 1").execute(&mut *connection).await?;
        }
        for table in RAW_TABLES {
            let copy = format!("{prefix}{table}");
            sqlx::raw_sql(&format!("CREATE TABLE {copy} LIKE {table}")).execute(&mut *connection).await?;
            sqlx::raw_sql(&format!("ALTER TABLE {copy} {options}")).execute(&mut *connection).await?;
        }
        let empty = measure().await?;
        for table in RAW_TABLES {
            sqlx::raw_sql(&format!("INSERT INTO {prefix}{table} SELECT * FROM {table}")).execute(&mut *connection).await?;
        }
        drop(connection);
        anyhow::Ok(measure().await?.saturating_sub(empty))
    }
    .await;
    for table in RAW_TABLES {
        let _ = sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {prefix}{table}")).execute(pool).await;
    }
    match copied {
        Ok(bytes) => Outcome::Bytes(bytes),
        Err(error) => Outcome::Failed(format!("{error:#}").lines().next().unwrap_or_default().to_owned()),
    }
}

/// Allocated bytes of MyRocks's `.sst` files.
fn sst_bytes(dir: &Path) -> Result<u64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(".sst") {
            bytes += entry.metadata()?.blocks() * 512;
        }
    }
    Ok(bytes)
}

/// [`sst_bytes`] once it stayed the same for a second (obsolete files are
/// deleted after a compaction), at most 60 s.
async fn settled_sst_bytes(dir: &Path) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = sst_bytes(dir)?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sst_bytes(dir)?;
        if now == last || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// Bytes per row of `metrics_host_hourly` as the collector fills it: a copy
/// grown to at least 100,000 rows (the measured rows under more host ids),
/// written hour by hour as the collector's downsample writes them.
async fn hourly_row_bytes(pool: &MySqlPool, datadir: &Path) -> Result<f64> {
    let rows = count(pool, "metrics_host_hourly").await?;
    if rows == 0 {
        bail!("the downsample wrote no hourly row");
    }
    let copies = 100_000u64.div_ceil(rows);
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = 'metrics_host_hourly' ORDER BY ORDINAL_POSITION",
    )
    .fetch_all(pool)
    .await?;
    let select: Vec<String> = columns
        .iter()
        .map(|c| if c == "host_id" { "CONCAT(h.host_id, '-', s.seq)".to_owned() } else { format!("h.`{c}`") })
        .collect();
    sqlx::raw_sql("DROP TABLE IF EXISTS hourly_probe").execute(pool).await?;
    sqlx::raw_sql("CREATE TABLE hourly_probe LIKE metrics_host_hourly").execute(pool).await?;
    let hours: Vec<chrono::NaiveDateTime> =
        sqlx::query_scalar("SELECT DISTINCT hour FROM metrics_host_hourly ORDER BY hour").fetch_all(pool).await?;
    for hour in hours {
        sqlx::query(&format!(
            "INSERT INTO hourly_probe ({}) SELECT {} FROM metrics_host_hourly h JOIN seq_1_to_{copies} s WHERE h.hour = ?",
            columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
            select.join(", ")
        ))
        .bind(hour)
        .execute(pool)
        .await?;
    }
    flush(pool, &["hourly_probe"]).await?;
    let bytes = allocated(datadir, &["hourly_probe"])?;
    let rows = count(pool, "hourly_probe").await?;
    sqlx::raw_sql("DROP TABLE hourly_probe").execute(pool).await?;
    Ok(bytes as f64 / rows as f64)
}

/// The long host's 24 h and 7 d charts, warm and cold.
async fn reads(
    args: &Args,
    mariadb: &mut PrivateMariaDb,
    client: &async_nats::Client,
    host: &str,
    end: DateTime<Utc>,
) -> Result<Reads> {
    let day = MetricsRange {
        tenant_id: TENANT.to_owned(),
        host_id: host.to_owned(),
        from: end - TimeDelta::days(1),
        to: end,
        limit: 0,
        step: 144,
    };
    let week = MetricsRange { from: end - TimeDelta::days(7), step: 1000, ..day.clone() };
    let mut reads = Reads::default();
    for (range, window) in [(&day, &mut reads.day), (&week, &mut reads.week)] {
        window.points = vigil_bus::messages::request(client, collector::METRICS_RANGE, range).await?.len();
        let (_, bytes, answer) = read(client, range).await?;
        (window.bytes, window.answer) = (bytes, answer);
        for _ in 0..args.warm_reads {
            window.warm.push(read(client, range).await?.0);
        }
    }
    let mut dropped = true;
    for _ in 0..args.cold_reads {
        for (range, window) in [(&day, &mut reads.day), (&week, &mut reads.week)] {
            mariadb.shutdown().await;
            dropped &= drop_caches();
            mariadb.resume().await;
            window.cold.push(read(client, range).await?.0);
        }
    }
    if !dropped {
        eprintln!("cold reads: the page cache could not be dropped (not root?): cold means a restarted mariadbd only");
    }
    Ok(reads)
}

/// One `metrics.range` as the gateway asks it: ms until the last chunk, the
/// answer's bytes and their hash.
async fn read(client: &async_nats::Client, range: &MetricsRange) -> Result<(f64, usize, u64)> {
    let started = Instant::now();
    let mut chunks = vigil_bus::rpc::request_chunks(client, collector::METRICS_RANGE, range).await?;
    let (mut bytes, mut hash) = (0, DefaultHasher::new());
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        hash.write(&chunk);
    }
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    Ok((elapsed, bytes, hash.finish()))
}

/// Writes back and drops the kernel's page cache; `false` when not allowed.
fn drop_caches() -> bool {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}
