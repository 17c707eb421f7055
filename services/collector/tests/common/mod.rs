//! Test infrastructure for the collector: a private nats-server per test (the
//! durable consumer `collector` would otherwise be shared by every test on the
//! machine's server), a private database per test on the shared MariaDB, a
//! private mariadbd that can be stopped, and helpers to run a collector and
//! publish snapshots.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::MySqlPool;
use tokio::task::JoinHandle;
use vigil_bus::messages::*;
use vigil_collector::{Collector, CollectorConfig, CollectorError};

pub use vigil_testkit::{free_port, migrate, random_suffix, NatsServer, TestDb};

/// Kills (and reaps) a child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A mariadbd of its own (own datadir and port) that a test can stop and
/// start again to simulate a database outage.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    pub port: u16,
    process: Option<KillOnDrop>,
}

impl PrivateMariaDb {
    pub async fn start() -> PrivateMariaDb {
        let dir = tempfile::tempdir().expect("temp dir for mariadb");
        let status = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(["--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run mariadb-install-db");
        assert!(status.success(), "mariadb-install-db failed");
        let mut db = PrivateMariaDb { dir, port: free_port(), process: None };
        db.resume().await;
        db
    }

    pub fn options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new().host("127.0.0.1").port(self.port).username("root")
    }

    /// Starts mariadbd (again) on the same datadir and port.
    pub async fn resume(&mut self) {
        let dir = self.dir.path();
        let process = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
            .args(["--bind-address=127.0.0.1", "--skip-grant-tables", "--innodb-buffer-pool-size=16M"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.process = Some(KillOnDrop(process));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(pool) = MySqlPoolOptions::new().max_connections(1).connect_with(self.options()).await {
                pool.close().await;
                return;
            }
            assert!(Instant::now() < deadline, "private mariadbd on port {} did not start within 30s", self.port);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops mariadbd (SIGKILL: an outage, not a clean shutdown).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Creates a migrated database and a pool on it.
    pub async fn create_db(&self, name: &str) -> MySqlPool {
        let admin =
            MySqlPoolOptions::new().max_connections(1).connect_with(self.options()).await.expect("connect private mariadb");
        sqlx::query(&format!("CREATE DATABASE `{name}`")).execute(&admin).await.expect("create database");
        admin.close().await;
        let pool = MySqlPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(self.options().database(name))
            .await
            .expect("connect private db");
        migrate(&pool).await;
        pool
    }
}

/// A collector running in the background until [`Running::stop`].
pub struct Running {
    stop: vigil_runtime::CancellationToken,
    task: JoinHandle<Result<(), CollectorError>>,
}

impl Running {
    pub async fn stop(mut self) -> Result<(), CollectorError> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("collector stops within 20s")
            .expect("collector task does not panic")
    }
}

/// Test configuration: small waits so tests run fast.
pub fn test_config() -> CollectorConfig {
    CollectorConfig { batch_wait: Duration::from_millis(50), ..CollectorConfig::default() }
}

pub async fn start_collector(config: CollectorConfig, nats: &NatsServer, pool: MySqlPool) -> Running {
    let collector = Collector::build(config, nats.client().await, pool).await.expect("build collector");
    let stop = vigil_runtime::CancellationToken::new();
    let task = tokio::spawn(collector.run_until_stopped(stop.clone()));
    Running { stop, task }
}

pub fn register_request(tenant_id: &str, machine_id: &str) -> RegisterHost {
    RegisterHost {
        tenant_id: tenant_id.to_owned(),
        requested_id: None,
        name: format!("web-{machine_id}"),
        hostname: format!("web-{machine_id}.example"),
        machine_id: machine_id.to_owned(),
        os: "linux".to_owned(),
        arch: "x86_64".to_owned(),
        agent_version: "0.1.0".to_owned(),
        ip_address: "10.0.0.7".to_owned(),
    }
}

pub async fn register(client: &async_nats::Client, tenant_id: &str, machine_id: &str) -> HostRecord {
    request(client, vigil_bus::subjects::collector::REGISTER_HOST, &register_request(tenant_id, machine_id))
        .await
        .expect("register host")
}

/// A snapshot with distinct, checkable values.
pub fn snapshot(tenant_id: &str, host_id: &str, seq: u64, collected_at: DateTime<Utc>) -> MetricsSnapshot {
    MetricsSnapshot {
        tenant_id: tenant_id.to_owned(),
        host_id: host_id.to_owned(),
        seq,
        collected_at,
        received_at: Utc::now(),
        host: HostMetrics {
            uptime: 3600 + seq,
            cpu: CpuMetrics { percent: 42.5, cores: 4, model: "test cpu".to_owned(), per_core: vec![40.0, 45.0, 41.0, 44.0] },
            memory: MemoryMetrics {
                total: 8_000_000_000,
                used: 3_000_000_000,
                available: 5_000_000_000,
                percent: 37.5,
                swap_total: 1_000_000,
                swap_used: 1000,
            },
            disk: DiskMetrics {
                mounts: vec![
                    MountMetrics {
                        path: "/".to_owned(),
                        total: 100_000,
                        used: 40_000,
                        percent: 40.0,
                        fs_type: "ext4".to_owned(),
                    },
                    MountMetrics {
                        path: "/data".to_owned(),
                        total: 900_000,
                        used: 90_000,
                        percent: 10.0,
                        fs_type: "xfs".to_owned(),
                    },
                ],
            },
            network: NetworkMetrics {
                interfaces: vec![
                    InterfaceMetrics { name: "eth0".to_owned(), rx_bytes: 1000, tx_bytes: 2000, ..Default::default() },
                    InterfaceMetrics { name: "eth1".to_owned(), rx_bytes: 30, tx_bytes: 40, ..Default::default() },
                ],
            },
            load: LoadMetrics { load_1m: 1.25, load_5m: 0.75, load_15m: 0.5 },
        },
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
        errors: vec![],
    }
}

/// Publishes through JetStream with `Nats-Msg-Id` = `msg_id`, awaiting the PubAck.
pub async fn publish_raw(client: &async_nats::Client, subject: String, payload: Vec<u8>, msg_id: &str) {
    let jetstream = jetstream::new(client.clone());
    jetstream
        .send_publish(subject, jetstream::message::PublishMessage::build().payload(payload.into()).message_id(msg_id))
        .await
        .expect("publish snapshot")
        .await
        .expect("snapshot pub ack");
}

pub async fn publish(client: &async_nats::Client, snapshot: &MetricsSnapshot) {
    publish_raw(
        client,
        vigil_bus::subjects::metrics(&snapshot.tenant_id, &snapshot.host_id),
        serde_json::to_vec(snapshot).expect("encode snapshot"),
        &snapshot.msg_id(),
    )
    .await;
}

pub async fn count_rows(pool: &MySqlPool, table: &str, host_id: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE host_id = ?"))
        .bind(host_id)
        .fetch_one(pool)
        .await
        .expect("count rows")
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Info of the collector's durable consumer.
pub async fn consumer_info(client: &async_nats::Client) -> jetstream::consumer::Info {
    let jetstream = jetstream::new(client.clone());
    let stream = jetstream.get_stream(vigil_bus::streams::METRICS_STREAM).await.expect("metrics stream");
    let mut consumer: jetstream::consumer::PullConsumer =
        stream.get_consumer(vigil_bus::streams::COLLECTOR_CONSUMER).await.expect("collector consumer");
    consumer.info().await.expect("consumer info").clone()
}

/// Now, at the millisecond precision the database keeps.
pub fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid time")
}

/// The usual start of a test: a private nats-server, a throwaway database, a
/// running collector, a client, a fresh tenant and one registered host.
pub struct OneHost {
    pub nats: NatsServer,
    pub db: TestDb,
    pub running: Running,
    pub client: async_nats::Client,
    pub tenant: String,
    pub host: HostRecord,
}

impl OneHost {
    pub async fn start(machine_id: &str) -> OneHost {
        let nats = NatsServer::start().await;
        let db = TestDb::create().await;
        let running = start_collector(test_config(), &nats, db.pool.clone()).await;
        let client = nats.client().await;
        let tenant = format!("t-{}", random_suffix());
        let host = register(&client, &tenant, machine_id).await;
        OneHost { nats, db, running, client, tenant, host }
    }
}
