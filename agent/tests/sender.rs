//! The sender against a real gRPC peer (tonic server implementing the
//! generated `VigilService`): order, acks, replay after reconnect, refusals,
//! registration and the whole `run` daemon in process.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{config_text, eventually, Behaviour, Gateway, Server, HOST_ID, TOKEN};
use sovigilant::client::Sender;
use sovigilant::config::Config;
use sovigilant::queue::{Queue, SharedQueue};
use sovigilant::status::Status;
use tokio::sync::{watch, Notify};
use vigil_proto::{HostMetrics, Metrics};
use vigil_runtime::CancellationToken;

fn config(address: std::net::SocketAddr, state_dir: &Path) -> Config {
    Config::parse(Path::new("test.yaml"), &config_text(address, state_dir, "1s")).unwrap()
}

fn queue_with(state_dir: &Path, count: u64) -> SharedQueue {
    let mut queue = Queue::open(state_dir, 1000).unwrap();
    for i in 0..count {
        queue
            .push(Metrics {
                timestamp: sovigilant::now_rfc3339(),
                host: Some(HostMetrics { uptime: i, ..Default::default() }),
                ..Default::default()
            })
            .unwrap();
    }
    Arc::new(Mutex::new(queue))
}

struct Running {
    queue: SharedQueue,
    wake: Arc<Notify>,
    status: Arc<Status>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start_sender(config: &Config, queue: SharedQueue) -> Running {
    start_sender_with_heartbeat(config, queue, sovigilant::client::HEARTBEAT_PERIOD)
}

fn start_sender_with_heartbeat(config: &Config, queue: SharedQueue, heartbeat: Duration) -> Running {
    let wake = Arc::new(Notify::new());
    let status = Arc::new(Status::new(config.server.address.clone(), Some(HOST_ID.into()), None));
    let shutdown = CancellationToken::new();
    let sender = Sender {
        server: config.server.clone(),
        host_id: HOST_ID.into(),
        queue: queue.clone(),
        wake: wake.clone(),
        status: status.clone(),
        interval: watch::channel(config.collection.interval).0,
        heartbeat,
        actions: None,
    };
    let task = tokio::spawn(sender.run(shutdown.clone()));
    Running { queue, wake, status, shutdown, task }
}

impl Running {
    fn queued(&self) -> Vec<u64> {
        self.queue.lock().unwrap().seqs()
    }

    /// Waits until every queued snapshot was acked (and so left the queue).
    async fn wait_drained(&self, timeout: Duration) {
        eventually("the queue drained", timeout, || async {
            let queued = self.queued();
            if queued.is_empty() {
                Ok(())
            } else {
                Err(queued)
            }
        })
        .await;
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("sender stops on shutdown").unwrap();
    }
}

#[tokio::test]
async fn queued_snapshots_are_sent_in_order_and_removed_when_acked() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let running = start_sender(&config, queue_with(state.path(), 20));

    running.wait_drained(Duration::from_secs(10)).await;
    let seqs: Vec<u64> = gateway.received().iter().map(|(_, seq)| *seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    assert_eq!(running.status.metrics_sent(), 20);
    assert!(running.status.connected());
    {
        let record = gateway.record.lock().unwrap();
        assert_eq!(record.authorizations, vec![format!("Bearer {TOKEN}")]);
        assert_eq!(record.host_ids, vec![HOST_ID.to_owned()]);
    }
    assert_eq!(std::fs::read_dir(state.path().join("queue")).unwrap().count(), 0, "acked files removed");

    // a snapshot queued later is sent as soon as the collector wakes the sender
    let seq = running.queue.lock().unwrap().push(Metrics::default()).unwrap();
    running.wake.notify_one();
    running.wait_drained(Duration::from_secs(5)).await;
    assert_eq!(gateway.received().last().map(|(_, s)| *s), Some(seq));
    running.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn unacknowledged_snapshots_are_replayed_in_order_after_the_stream_fails() {
    let state = tempfile::tempdir().unwrap();
    // first stream: receives 6, acks 3, then fails
    let gateway = Gateway::new(Behaviour { break_first_after: Some(6), ack_first: 3, ..Default::default() });
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let running = start_sender(&config, queue_with(state.path(), 10));

    running.wait_drained(Duration::from_secs(15)).await;
    let received = gateway.received();
    let first: Vec<u64> = received.iter().filter(|(c, _)| *c == 1).map(|(_, s)| *s).collect();
    let second: Vec<u64> = received.iter().filter(|(c, _)| *c == 2).map(|(_, s)| *s).collect();
    assert_eq!(first, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(second, vec![4, 5, 6, 7, 8, 9, 10], "replay starts at the oldest unacknowledged, in order");
    assert_eq!(gateway.connections(), 2);
    running.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn snapshots_queued_while_the_gateway_is_down_are_sent_when_it_returns() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let address = server.address;
    let config = config(address, state.path());
    let running = start_sender(&config, queue_with(state.path(), 3));
    running.wait_drained(Duration::from_secs(10)).await;

    server.stop().await;
    eventually("the disconnect noticed", Duration::from_secs(5), || async { !running.status.connected() }).await;
    for _ in 0..5 {
        running.queue.lock().unwrap().push(Metrics::default()).unwrap();
        running.wake.notify_one();
    }
    assert_eq!(running.queued(), vec![4, 5, 6, 7, 8], "kept on disk while the gateway is away");

    let server = Server::start_on(address, gateway.restarted(Behaviour::default())).await;
    running.wait_drained(Duration::from_secs(15)).await;
    let after: Vec<u64> = gateway.received().iter().filter(|(c, _)| *c == 2).map(|(_, s)| *s).collect();
    assert_eq!(after, vec![4, 5, 6, 7, 8]);
    running.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn refused_snapshot_is_dropped_and_not_resent() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour { refuse: Some(2), ..Default::default() });
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let running = start_sender(&config, queue_with(state.path(), 4));
    running.wait_drained(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seqs: Vec<u64> = gateway.received().iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "seq 2 sent once, never retried");
    assert_eq!(running.status.metrics_sent(), 3, "a refusal is not counted as sent");
    running.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn queued_snapshot_over_the_message_limit_is_dropped_not_resent() {
    // what an agent version without the size cap could leave in its queue
    let state = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(state.path(), 1000).unwrap();
    let interfaces: Vec<vigil_proto::InterfaceMetrics> = (0..40_000)
        .map(|i| vigil_proto::InterfaceMetrics { name: format!("veth{i:011}"), rx_bytes: u64::MAX, ..Default::default() })
        .collect();
    let huge = Metrics {
        timestamp: sovigilant::now_rfc3339(),
        host: Some(HostMetrics { network: Some(vigil_proto::NetworkMetrics { interfaces }), ..Default::default() }),
        ..Default::default()
    };
    assert!(prost::Message::encoded_len(&huge) > vigil_proto::MAX_MESSAGE_BYTES);
    for metrics in [Metrics::default(), huge, Metrics::default()] {
        queue.push(metrics).unwrap();
    }
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let running = start_sender(&config, Arc::new(Mutex::new(queue)));
    running.wait_drained(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seqs: Vec<u64> = gateway.received().iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, vec![1, 3], "the oversized snapshot is never sent");
    assert_eq!(gateway.connections(), 1, "the stream never failed over it");
    assert_eq!(running.status.metrics_sent(), 2);
    running.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn at_most_256_snapshots_are_in_flight() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour { never_ack: true, ..Default::default() });
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let running = start_sender(&config, queue_with(state.path(), 300));
    eventually("256 snapshots received", Duration::from_secs(10), || async { gateway.received().len() >= 256 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gateway.received().len(), sovigilant::client::MAX_IN_FLIGHT);
    assert_eq!(running.queued().len(), 300, "nothing leaves the queue without an ack");
    running.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn register_sends_the_token_and_machine_facts_and_stores_the_host_id() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());

    let response = sovigilant::client::register(&config).await.unwrap();
    assert_eq!(response.host_id, HOST_ID);
    assert_eq!(sovigilant::client::stored_host_id(state.path()).as_deref(), Some(HOST_ID));
    let request = gateway.record.lock().unwrap().registers[0].clone();
    assert_eq!(request.name, "test-agent");
    assert_eq!(request.hostname, sovigilant::sysinfo::hostname());
    assert_eq!(request.agent_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(request.arch, std::env::consts::ARCH);
    assert_eq!(request.ip_address, "127.0.0.1");
    assert_eq!(request.machine_id, sovigilant::sysinfo::machine_id());
    assert!(!request.os.is_empty());
    assert_eq!(request.requested_id, "", "agent.id auto requests nothing");
    server.stop().await;
}

#[tokio::test]
async fn wrong_token_is_refused_and_nothing_is_stored() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(Gateway::new(Behaviour::default())).await;
    let text = config_text(server.address, state.path(), "1s").replace(TOKEN, "wrong-token");
    let config = Config::parse(Path::new("test.yaml"), &text).unwrap();
    let error = sovigilant::client::register(&config).await.unwrap_err().to_string();
    assert!(error.contains("Register failed") && error.contains("bad token"), "{error}");
    assert_eq!(sovigilant::client::stored_host_id(state.path()), None);
    server.stop().await;
}

#[tokio::test]
async fn run_registers_collects_sends_writes_status_and_stops_cleanly() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sovigilant::agent::run(config, shutdown.clone()));

    eventually("2 snapshots received", Duration::from_secs(10), || async { gateway.received().len() >= 2 }).await;
    let snapshot = gateway.record.lock().unwrap().snapshots[0].clone();
    let host = snapshot.host.expect("host metrics sent");
    assert!(host.cpu.is_some() && host.memory.is_some() && host.disk.is_some() && host.load.is_some());
    assert_eq!(snapshot.timestamp, host.timestamp);
    assert_eq!(gateway.record.lock().unwrap().registers.len(), 1, "registered once");
    assert_eq!(sovigilant::client::stored_host_id(state.path()).as_deref(), Some(HOST_ID));

    eventually("the status file to show a connected agent", Duration::from_secs(8), || async {
        sovigilant::status::read(state.path()).is_some_and(|s| s.connected && s.metrics_sent >= 1)
    })
    .await;
    let status = sovigilant::status::read(state.path()).unwrap();
    assert_eq!(status.agent_id.as_deref(), Some(HOST_ID));
    assert_eq!(status.pid, std::process::id());

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("run stops on shutdown").unwrap().unwrap();
    assert!(sovigilant::status::read(state.path()).is_none(), "status file removed on a clean stop");
    // seqs are consecutive from 1
    let seqs: Vec<u64> = gateway.received().iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn run_stops_on_shutdown_while_registration_waits_to_retry() {
    let state = tempfile::tempdir().unwrap();
    // a port nobody listens on: every Register fails at once
    let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sovigilant::agent::run(config(address, state.path()), shutdown.clone()));
    // attempts at 0 and 0.75..1.25 s; the second wait lasts 1.5..2.5 s
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let started = tokio::time::Instant::now();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("run stops on shutdown").unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_millis(400), "stopped after {:?}, not during the wait", started.elapsed());
    assert_eq!(sovigilant::client::stored_host_id(state.path()), None);
}

#[tokio::test]
async fn idle_sender_sends_heartbeats() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let running = start_sender_with_heartbeat(&config, queue_with(state.path(), 0), Duration::from_millis(200));
    eventually("3 heartbeats", Duration::from_secs(5), || async { gateway.record.lock().unwrap().heartbeats >= 3 }).await;
    assert!(gateway.received().is_empty(), "a heartbeat is not a snapshot");
    running.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_config_update_changes_the_collection_interval_and_zero_goes_back_to_the_configured_one() {
    let state = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let config = config(server.address, state.path());
    let (interval, mut pushed) = watch::channel(config.collection.interval);
    let shutdown = CancellationToken::new();
    let sender = Sender {
        server: config.server.clone(),
        host_id: HOST_ID.into(),
        queue: queue_with(state.path(), 1),
        wake: Arc::new(Notify::new()),
        status: Arc::new(Status::new(config.server.address.clone(), Some(HOST_ID.into()), None)),
        interval,
        heartbeat: sovigilant::client::HEARTBEAT_PERIOD,
        actions: None,
    };
    let task = tokio::spawn(sender.run(shutdown.clone()));
    let update = |seconds: u32| vigil_proto::ServerMessage {
        payload: Some(vigil_proto::server_message::Payload::Config(vigil_proto::ConfigUpdate { interval_seconds: seconds })),
    };
    eventually("the stream open", Duration::from_secs(10), || async { gateway.send(update(30)).await }).await;
    tokio::time::timeout(Duration::from_secs(5), pushed.wait_for(|d| *d == Duration::from_secs(30))).await.unwrap().unwrap();
    let collected = sovigilant::agent::effective_interval(config.collection.interval, *pushed.borrow());
    assert_eq!(collected, Duration::from_secs(30), "the collector runs at the tenant's interval");

    assert!(gateway.send(update(0)).await);
    tokio::time::timeout(Duration::from_secs(5), pushed.wait_for(|d| d.is_zero())).await.unwrap().unwrap();
    let collected = sovigilant::agent::effective_interval(config.collection.interval, *pushed.borrow());
    assert_eq!(collected, Duration::from_secs(1), "back to the configured 1s");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("sender stops on shutdown").unwrap();
    server.stop().await;
}
