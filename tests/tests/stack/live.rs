//! Live updates over `/ws`: a real gateway + collector, simulated agents over
//! the real gRPC+TLS protocol, and WebSocket clients acting as dashboards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use vigil_testkit::eventually;
use vigil_tests::live::{self, Ws};
use vigil_tests::{sim, Stack, TenantFixture};

use crate::get;

/// A registered simulated host with an open `Connect` stream.
struct SimHost {
    id: String,
    connection: sim::Connection,
    seq: u64,
}

impl SimHost {
    async fn start(stack: &Stack, fixture: &TenantFixture, machine: &str) -> SimHost {
        let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
        let id = sim::register(channel.clone(), &fixture.token, machine, machine).await.unwrap();
        let connection = sim::connect(channel, &fixture.token, &id).await.unwrap();
        SimHost { id, connection, seq: 0 }
    }

    /// Sends one snapshot with `cpu = (seed % 1000) / 10`; returns its timestamp text.
    async fn send(&mut self, seed: u64) -> String {
        self.send_with_containers(seed, 0).await
    }

    /// Same, with `containers` running containers (bigger frames).
    async fn send_with_containers(&mut self, seed: u64, containers: usize) -> String {
        self.seq += 1;
        let at: DateTime<Utc> = Utc::now();
        let mut metrics = sim::snapshot(self.seq, at, seed);
        metrics.containers = (0..containers)
            .map(|c| vigil_proto::ContainerMetrics {
                name: format!("container-with-a-rather-long-name-{c:04}"),
                runtime: "docker".to_owned(),
                status: "running".to_owned(),
                cpu_percent: 1.5,
                memory_percent: 2.5,
                ..Default::default()
            })
            .collect();
        self.connection.sender.send(sim::metrics_message(&self.id, metrics)).await.expect("gateway stream open");
        sim::rfc3339(at)
    }
}

fn is_metrics_of(frame: &Value, host_id: &str, timestamp: &str) -> bool {
    frame["type"] == "metrics" && frame["host_id"] == host_id && frame["timestamp"] == timestamp
}

/// Sends snapshots until the socket shows one (the subscribe is processed
/// asynchronously by the server); returns when the path is warm.
async fn warm_up(ws: &mut Ws, host: &mut SimHost) {
    for attempt in 0..20 {
        let timestamp = host.send(attempt).await;
        let id = host.id.clone();
        if live::wait_frame(ws, Duration::from_millis(1500), |f| is_metrics_of(f, &id, &timestamp)).await.unwrap().is_some() {
            return;
        }
    }
    panic!("no metrics frame for {} after 20 snapshots", host.id);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_reaches_a_subscribed_dashboard_within_one_second() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let mut ws = live::connect(stack.http_port, &jwt).await.unwrap();
    live::subscribe(&mut ws, None).await.unwrap();
    let mut host = SimHost::start(&stack, &acme, "live-1").await;
    warm_up(&mut ws, &mut host).await;

    for seed in [123_u64, 456, 789] {
        let sent = Instant::now();
        let timestamp = host.send(seed).await;
        let frame = live::wait_frame(&mut ws, Duration::from_secs(1), |f| is_metrics_of(f, &host.id, &timestamp))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no frame for the snapshot of {timestamp} within 1 s"));
        let latency = sent.elapsed();
        assert!(latency < Duration::from_secs(1), "frame after {latency:?}");
        let cpu = frame["data"]["cpu"].as_f64().unwrap();
        assert!((cpu - (seed % 1000) as f64 / 10.0).abs() < 1e-9, "{frame}");
        assert_eq!(frame["data"]["memory"].as_f64(), Some(25.0), "{frame}");
        assert_eq!(frame["data"]["disk"].as_f64(), Some(40.0), "{frame}");
        assert_eq!(frame["data"]["containers"], serde_json::json!([]), "{frame}");
        assert_eq!(frame["data"]["services_count"].as_u64(), Some(0), "{frame}");
        println!("snapshot {seed}: frame after {latency:?}");
    }

    // A new dashboard gets the latest stored values right after subscribing.
    eventually("the latest snapshot stored", Duration::from_secs(20), || async {
        let (_, detail) = get(&stack, &format!("/api/hosts/{}", host.id), &jwt).await;
        (detail["latest"]["host"]["cpu"]["percent"].as_f64() == Some(78.9)).then_some(())
    })
    .await;
    let mut late = live::connect(stack.http_port, &jwt).await.unwrap();
    live::subscribe(&mut late, Some(std::slice::from_ref(&host.id))).await.unwrap();
    let first =
        live::wait_frame(&mut late, Duration::from_secs(5), |f| f["type"] == "metrics" && f["host_id"] == host.id.as_str())
            .await
            .unwrap()
            .expect("the latest values after subscribe");
    assert_eq!(first["data"]["cpu"].as_f64(), Some(78.9), "{first}");
}

/// Subjects of every core subscription on the stack's nats-server (its
/// monitoring endpoint, not a client's view).
async fn subscribed_subjects(stack: &Stack) -> Vec<String> {
    let body = stack.nats.monitor("/connz?subs=1").await.unwrap();
    let connz: Value = serde_json::from_str(&body).unwrap();
    connz["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["subscriptions_list"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_reads_a_tenants_snapshots_only_while_one_of_its_dashboards_is_connected() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let mut host = SimHost::start(&stack, &acme, "watched-1").await;
    host.send(1).await;
    let acme_snapshots = "metrics.acme.>";

    let before = subscribed_subjects(&stack).await;
    assert!(!before.iter().any(|s| s.starts_with("metrics.")), "no dashboard, yet snapshots are read: {before:?}");

    let mut ws = live::connect(stack.http_port, &jwt).await.unwrap();
    live::subscribe(&mut ws, None).await.unwrap();
    eventually("the gateway reads acme's snapshots", Duration::from_secs(10), || async {
        subscribed_subjects(&stack).await.iter().any(|s| s == acme_snapshots).then_some(())
    })
    .await;
    warm_up(&mut ws, &mut host).await;
    let during = subscribed_subjects(&stack).await;
    assert_eq!(during.iter().filter(|s| s.starts_with("metrics.")).collect::<Vec<_>>(), [acme_snapshots], "{during:?}");

    drop(ws);
    eventually("the gateway stops reading acme's snapshots", Duration::from_secs(10), || async {
        (!subscribed_subjects(&stack).await.iter().any(|s| s.starts_with("metrics."))).then_some(())
    })
    .await;

    // the next dashboard gets live frames again
    let mut again = live::connect(stack.http_port, &jwt).await.unwrap();
    live::subscribe(&mut again, None).await.unwrap();
    warm_up(&mut again, &mut host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_stops_reporting_turns_offline_on_the_socket() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let mut ws = live::connect(stack.http_port, &jwt).await.unwrap();
    live::subscribe(&mut ws, None).await.unwrap();
    let mut host = SimHost::start(&stack, &acme, "live-offline").await;
    warm_up(&mut ws, &mut host).await;
    let id = host.id.clone();
    drop(host);
    let stopped = Instant::now();

    // VIGIL_COLLECTOR_OFFLINE_AFTER is 5 s in the sandbox.
    let frame = live::wait_frame(&mut ws, Duration::from_secs(30), |f| {
        f["type"] == "host_status" && f["host_id"] == id.as_str() && f["status"] == "offline"
    })
    .await
    .unwrap()
    .expect("a host_status offline frame");
    assert!(DateTime::parse_from_rfc3339(frame["timestamp"].as_str().unwrap()).is_ok(), "{frame}");
    println!("offline frame {:?} after the host stopped", stopped.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_of_another_tenant_receives_nothing() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let acme_jwt = stack.login(&acme).await.unwrap();
    let globex_jwt = stack.login(&globex).await.unwrap();

    let mut acme_ws = live::connect(stack.http_port, &acme_jwt).await.unwrap();
    live::subscribe(&mut acme_ws, None).await.unwrap();
    let mut globex_all = live::connect(stack.http_port, &globex_jwt).await.unwrap();
    live::subscribe(&mut globex_all, None).await.unwrap();
    let mut host = SimHost::start(&stack, &acme, "acme-live").await;
    warm_up(&mut acme_ws, &mut host).await;
    eventually("acme's snapshot stored", Duration::from_secs(20), || async {
        let (_, detail) = get(&stack, &format!("/api/hosts/{}", host.id), &acme_jwt).await;
        (!detail["latest"].is_null()).then_some(())
    })
    .await;

    // globex names acme's host explicitly: still nothing, not even latest values.
    let mut globex_named = live::connect(stack.http_port, &globex_jwt).await.unwrap();
    live::subscribe(&mut globex_named, Some(std::slice::from_ref(&host.id))).await.unwrap();
    for seed in 0..5 {
        let timestamp = host.send(seed).await;
        let frame =
            live::wait_frame(&mut acme_ws, Duration::from_secs(2), |f| is_metrics_of(f, &host.id, &timestamp)).await.unwrap();
        assert!(frame.is_some(), "acme's own dashboard gets its frames");
    }
    for (name, ws) in [("globex (all hosts)", &mut globex_all), ("globex (acme's host named)", &mut globex_named)] {
        let leaked = live::next_frame(ws, Duration::from_secs(2)).await.unwrap();
        assert!(leaked.is_none(), "{name} received {leaked:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_missing_and_expired_tokens_are_refused_before_the_upgrade() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();

    let secret = std::fs::read_to_string(stack.data_dir.path().join("jwt.secret")).unwrap();
    let now = Utc::now().timestamp();
    let sign = |secret: &[u8], exp: i64| {
        let claims = serde_json::json!({"sub": "u-1", "tenant": "acme", "role": "admin", "iat": now - 3600, "exp": exp});
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
    };
    let expired = sign(secret.trim().as_bytes(), now - 60);
    let foreign = sign(b"another-secret-another-secret-another-secret", now + 600);
    for (what, token) in
        [("garbage", "not-a-jwt"), ("empty", ""), ("expired", expired.as_str()), ("signed elsewhere", foreign.as_str())]
    {
        match live::connect(stack.http_port, token).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 401, "{what} token");
                let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
                assert_eq!(body["error"]["code"], "unauthorized", "{what} token: {body}");
            }
            Err(other) => panic!("{what} token: expected an HTTP 401, got {other}"),
            Ok(_) => panic!("{what} token was accepted"),
        }
    }
    // The same secret with a live expiry is accepted: the refusals above are about the token.
    assert!(live::connect(stack.http_port, &sign(secret.trim().as_bytes(), now + 600)).await.is_ok());
    assert!(live::connect(stack.http_port, &jwt).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_that_never_reads_does_not_delay_another() {
    const HOSTS: usize = 10;
    const SNAPSHOTS: u64 = 300;
    const EVERY: Duration = Duration::from_millis(20);
    // ~4.5 KB frames: 3,000 of them exceed what the kernel buffers for a
    // socket nobody reads (4 MB send buffer at most here) plus the queue.
    const CONTAINERS: usize = 50;

    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let mut collector = stack.spawn(&["collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let mut fast = live::connect(stack.http_port, &jwt).await.unwrap();
    live::subscribe(&mut fast, None).await.unwrap();
    let mut slow = live::connect_small_buffer(stack.http_port, &jwt, 4096).await.unwrap();
    live::subscribe(&mut slow, None).await.unwrap();

    let mut hosts = Vec::new();
    for h in 0..HOSTS {
        hosts.push(SimHost::start(&stack, &acme, &format!("flood-{h}")).await);
    }
    warm_up(&mut fast, &mut hosts[0]).await;
    // Frames come from the gateway alone; without the collector the flood
    // does not load the database on this small machine.
    collector.stop();

    // Every host sends SNAPSHOTS snapshots, one per EVERY; send times by (host, timestamp).
    let sent_at: Arc<Mutex<HashMap<(String, String), Instant>>> = Arc::default();
    let mut senders = Vec::new();
    for mut host in hosts {
        let sent_at = sent_at.clone();
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            for seed in 0..SNAPSHOTS {
                tick.tick().await;
                let now = Instant::now();
                let timestamp = host.send_with_containers(seed, CONTAINERS).await;
                sent_at.lock().unwrap().insert((host.id.clone(), timestamp), now);
            }
            host
        }));
    }
    let total = HOSTS * SNAPSHOTS as usize;
    let mut latencies = Vec::with_capacity(total);
    let deadline = Instant::now() + EVERY * SNAPSHOTS as u32 + Duration::from_secs(20);
    while latencies.len() < total && Instant::now() < deadline {
        let Some(frame) = live::next_frame(&mut fast, Duration::from_secs(5)).await.unwrap() else { break };
        let received = Instant::now();
        if frame["type"] != "metrics" {
            continue;
        }
        let key = (frame["host_id"].as_str().unwrap_or("").to_owned(), frame["timestamp"].as_str().unwrap_or("").to_owned());
        if let Some(at) = sent_at.lock().unwrap().get(&key) {
            latencies.push(received - *at);
        }
    }
    let _hosts: Vec<SimHost> = futures::future::join_all(senders).await.into_iter().map(Result::unwrap).collect();
    latencies.sort();
    let (p50, p99, max) =
        (percentile(&latencies, 0.5), percentile(&latencies, 0.99), latencies.last().copied().unwrap_or_default());
    println!("fast dashboard: {} of {total} frames, latency p50 {p50:?} p99 {p99:?} max {max:?}", latencies.len());
    assert_eq!(latencies.len(), total, "the reading dashboard lost frames while another did not read");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?} with a stalled dashboard connected");

    // The stalled dashboard did fall behind: its queue dropped frames (or the
    // server gave up on it), so the test above ran against a real backlog.
    let mut slow_frames = 0usize;
    loop {
        match live::next_frame(&mut slow, Duration::from_secs(1)).await {
            Ok(Some(frame)) if frame["type"] == "metrics" => slow_frames += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    println!("stalled dashboard: received {slow_frames} of {total} frames once it read");
    assert!(slow_frames < total, "the stalled dashboard got every frame: it was never backed up");
}
