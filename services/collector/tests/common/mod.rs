//! Test infrastructure for the collector: helpers to run a collector and
//! register hosts. The rest comes from `vigil-testkit`: a private
//! nats-server per test (the durable consumer `collector` would otherwise be
//! shared by every test on the machine's server), a private database per
//! test on the shared MariaDB, the private mariadbd that can be stopped,
//! snapshots, publishing them, and waiting.

#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::MySqlPool;
use tokio::task::JoinHandle;
use vigil_bus::messages::*;
use vigil_collector::{Collector, CollectorConfig, CollectorError};

pub use vigil_testkit::{random_suffix, NatsServer, TestDb};

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
        actions: None,
    }
}

pub async fn register(client: &async_nats::Client, tenant_id: &str, machine_id: &str) -> HostRecord {
    request(client, vigil_bus::subjects::collector::REGISTER_HOST, &register_request(tenant_id, machine_id))
        .await
        .expect("register host")
}

pub async fn count_rows(pool: &MySqlPool, table: &str, host_id: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE host_id = ?"))
        .bind(host_id)
        .fetch_one(pool)
        .await
        .expect("count rows")
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
