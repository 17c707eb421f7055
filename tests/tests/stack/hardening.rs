//! Failures found by attacking the running stack (issue 9), each reproduced
//! here: one tenant's bad snapshots never stall another tenant's ingest, a
//! snapshot that cannot be stored is refused or dead-lettered (never retried
//! forever), a read larger than one bus message still answers, and a
//! snapshot too large for the bus is refused for good.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_stream::StreamExt;
use vigil_proto::{server_message, Ack, InterfaceMetrics, MountMetrics};
use vigil_testkit::bus::{collector_consumer_info, publish};
use vigil_testkit::eventually;
use vigil_testkit::fixtures::MetricsSnapshotBuilder;
use vigil_testkit::schemas::assert_valid;
use vigil_tests::{sim, Stack};

use crate::get;

/// Waits for the next ack on `connection`.
async fn next_ack(connection: &mut sim::Connection) -> Ack {
    let reply = tokio::time::timeout(Duration::from_secs(15), connection.replies.next())
        .await
        .expect("an answer within 15 s")
        .expect("the stream is still open")
        .expect("not an error status: the stream must go on");
    match reply.payload {
        Some(server_message::Payload::Ack(ack)) => ack,
        other => panic!("expected an ack, got {other:?}"),
    }
}

const BAD_YEARS: [&str; 6] = ["0000", "0001", "1000", "2040", "2099", "9999"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_dated_outside_the_window_are_refused_and_another_tenant_loses_nothing() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let (acme, globex) = (stack.tenant("acme").await.unwrap(), stack.tenant("globex").await.unwrap());
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let bad_host = sim::register(channel.clone(), &acme.token, "m-bad", "bad").await.unwrap();
    let good_host = sim::register(channel.clone(), &globex.token, "m-good", "good").await.unwrap();
    let mut bad = sim::connect(channel.clone(), &acme.token, &bad_host).await.unwrap();
    let mut good = sim::connect(channel.clone(), &globex.token, &good_host).await.unwrap();

    let start = Utc::now() - chrono::Duration::seconds(120);
    for (round, year) in BAD_YEARS.iter().enumerate() {
        let seq = round as u64 + 1;
        let mut snapshot = sim::snapshot(seq, Utc::now(), seq);
        snapshot.timestamp = format!("{year}-06-01T12:00:00.000Z");
        bad.sender.send(sim::metrics_message(&bad_host, snapshot)).await.unwrap();
        let ack = next_ack(&mut bad).await;
        assert!(!ack.accepted && ack.seq == seq, "{year}: {ack:?}");
        assert!(ack.error.contains(&format!("{year}-06-01")) && ack.error.contains("window"), "{year}: {}", ack.error);

        // the other tenant's host keeps reporting, one snapshot a second of its clock
        for i in 0..10u64 {
            let n = round as u64 * 10 + i;
            good.sender
                .send(sim::metrics_message(&good_host, sim::snapshot(n + 1, start + chrono::Duration::seconds(n as i64), n)))
                .await
                .unwrap();
            assert!(next_ack(&mut good).await.accepted);
        }
    }
    // a refusal ends nothing: the same stream takes a good snapshot next
    let seq = BAD_YEARS.len() as u64 + 1;
    bad.sender.send(sim::metrics_message(&bad_host, sim::snapshot(seq, Utc::now(), seq))).await.unwrap();
    assert!(next_ack(&mut bad).await.accepted);

    let count = format!("SELECT COUNT(*) FROM metrics_host WHERE host_id = '{good_host}'");
    eventually("every snapshot of the other tenant stored", Duration::from_secs(30), || async {
        stack.db.count(&count).await == 60
    })
    .await;
    let stored_bad = format!("SELECT COUNT(*) FROM metrics_host WHERE host_id = '{bad_host}'");
    eventually("the good snapshot of the bad host stored", Duration::from_secs(30), || async {
        stack.db.count(&stored_bad).await == 1
    })
    .await;

    // reads with times outside what the database binds work instead of matching nothing
    let jwt = stack.login(&globex).await.unwrap();
    for (from, to) in [("0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"), ("-62135596800", "253402300799")] {
        let (status, body) = get(&stack, &format!("/api/hosts/{good_host}/metrics?from={from}&to={to}&limit=10000"), &jwt).await;
        assert_eq!(status, 200, "{from}..{to}: {body}");
        assert_eq!(body["points"].as_array().map(Vec::len), Some(60), "{from}..{to}");
    }
    let (status, body) =
        get(&stack, &format!("/api/hosts/{good_host}/metrics?from=1000-01-01T00:00:00Z&to=1001-01-01T00:00:00Z"), &jwt).await;
    assert_eq!((status, body["points"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
}

/// A snapshot of `host` as a gateway would publish it, with no disk,
/// network, container or service detail.
fn bus_snapshot(tenant: &str, host: &str, seq: u64, at: DateTime<Utc>) -> vigil_bus::messages::MetricsSnapshot {
    MetricsSnapshotBuilder::new(tenant, host, seq, at).mounts(0).interfaces(0).containers(vec![]).services(vec![]).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_the_database_refuses_is_dead_lettered_and_the_rest_of_its_batch_is_stored() {
    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let mut collector = stack.spawn(&["collector"]).await.unwrap();
    let (acme, globex) = (stack.tenant("acme").await.unwrap(), stack.tenant("globex").await.unwrap());
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let bad_host = sim::register(channel.clone(), &acme.token, "m-bad", "bad").await.unwrap();
    let good_host = sim::register(channel.clone(), &globex.token, "m-good", "good").await.unwrap();
    collector.stop();

    // With the collector stopped, one batch waits in the stream: 200 good
    // snapshots of one tenant with, in their middle, snapshots of another
    // tenant dated where the tables cannot go (a gateway refuses those now;
    // this is what a compromised or older gateway would publish).
    let nats = stack.nats.client().await;
    let jetstream = async_nats::jetstream::new(nats.clone());
    let mut dead_letters = nats.subscribe("deadletter.>").await.unwrap();
    let start = Utc::now() - chrono::Duration::seconds(600);
    for i in 0..200u64 {
        publish(&nats, &bus_snapshot("globex", &good_host, i + 1, start + chrono::Duration::seconds(i as i64))).await;
        if i % 50 == 25 {
            let year = ["0001", "9999", "0000", "1000"][(i / 50) as usize];
            let at: DateTime<Utc> = format!("{year}-06-01T12:00:00Z").parse().unwrap();
            publish(&nats, &bus_snapshot("acme", &bad_host, 1000 + i, at)).await;
        }
    }
    let _collector = stack.spawn(&["collector"]).await.unwrap();

    let count = format!("SELECT COUNT(*) FROM metrics_host WHERE host_id = '{good_host}'");
    eventually("the 200 good snapshots stored", Duration::from_secs(30), || async { stack.db.count(&count).await == 200 }).await;
    // every bad one is either stored as what it says (the database could
    // hold it) or kept as a dead letter naming the database's refusal;
    // none stays pending, none is retried
    let consumer_settled = || async {
        let info = collector_consumer_info(&nats).await;
        info.num_pending == 0 && info.num_ack_pending == 0
    };
    eventually("the collector consumer has nothing pending", Duration::from_secs(30), consumer_settled).await;
    let stored_bad = stack.db.count(&format!("SELECT COUNT(*) FROM metrics_host WHERE host_id = '{bad_host}'")).await;
    let mut letters = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), dead_letters.next()).await {
        letters.push(message);
    }
    assert_eq!(stored_bad as usize + letters.len(), 4, "stored {stored_bad}, dead letters {}", letters.len());
    assert!(!letters.is_empty(), "at least one of years 0000, 0001, 1000, 9999 is refused by the database");
    eprintln!("bad snapshots: {stored_bad} stored as dated, {} dead-lettered", letters.len());
    for message in &letters {
        assert_eq!(message.subject.as_str(), format!("deadletter.metrics.acme.{bad_host}"));
        let letter: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_valid("dead-letter.schema.json", None, &letter);
        assert_eq!(letter["service"], "collector");
        assert!(letter["error"].as_str().unwrap().contains("database refused the snapshot"), "{letter}");
        assert_eq!(letter["payload"]["host_id"], bad_host.as_str());
    }
    // kept durably in the DEADLETTER stream
    let mut stream = jetstream.get_stream(vigil_bus::streams::DEAD_LETTER_STREAM).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages as usize, letters.len());
}

/// Stores `count` points of `host_id` with 64 mounts and 200 interfaces
/// straight into `metrics_host` (the read path is what is tested here), one
/// a second up to now.
async fn store_wide_points(stack: &Stack, host_id: &str, count: u32) -> String {
    let wide = MetricsSnapshotBuilder::new("acme", host_id, 1, Utc::now()).mounts(64).interfaces(200).build();
    let mounts = serde_json::to_string(&wide.host.disk.mounts).unwrap();
    let interfaces = serde_json::to_string(&wide.host.network.interfaces).unwrap();
    sqlx::query(&format!(
        "INSERT INTO metrics_host (host_id, timestamp, uptime, cpu_percent, cpu_cores, memory_used, memory_total, memory_available, \
         swap_used, swap_total, disk_used, disk_total, load_1m, load_5m, load_15m, network_rx, network_tx, per_core, mounts, interfaces) \
         SELECT ?, UTC_TIMESTAMP(3) - INTERVAL seq SECOND, 1000, seq % 100, 4, 1, 2, 1, 0, 0, 1, 2, 0.1, 0.1, 0.1, 1, 1, '[1,2,3,4]', ?, ? \
         FROM seq_1_to_{count}"
    ))
    .bind(host_id)
    .bind(&mounts)
    .bind(&interfaces)
    .execute(&stack.db.pool)
    .await
    .unwrap();
    mounts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_points_of_a_host_with_64_mounts_and_200_interfaces_are_read_over_rest() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel, &acme.token, "m-wide", "wide").await.unwrap();
    store_wide_points(&stack, &host_id, 10_000).await;
    let jwt = stack.login(&acme).await.unwrap();

    let url = stack.http(&format!(
        "/api/hosts/{host_id}/metrics?from={}&limit=10000",
        (Utc::now() - chrono::Duration::hours(4)).timestamp()
    ));
    let response = reqwest::Client::new().get(url).bearer_auth(&jwt).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let started = std::time::Instant::now();
    let body = response.bytes().await.unwrap();
    eprintln!("10,000 wide points: {} bytes in {:?}", body.len(), started.elapsed());
    // far more than one bus message (1 MiB by default, 4 MB in nats/)
    assert!(body.len() > 100 * 1024 * 1024, "{} bytes", body.len());
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["host_id"], host_id.as_str());
    let points = answer["points"].as_array().unwrap();
    assert_eq!(points.len(), 10_000);
    let times: Vec<&str> = points.iter().map(|p| p["timestamp"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "oldest first, no point twice");
    for point in [&points[0], &points[9_999]] {
        assert_eq!(point["host"]["disk"]["mounts"].as_array().unwrap().len(), 64);
        assert_eq!(point["host"]["network"]["interfaces"].as_array().unwrap().len(), 200);
    }

    // the dashboard's default windows answer too (1 h, 24 h and 7 d with steps)
    for (path, expected) in [
        (format!("/api/hosts/{host_id}/metrics"), 1000usize), // last hour, default limit 1000
        (format!("/api/hosts/{host_id}/metrics?from={}&step=144", (Utc::now() - chrono::Duration::hours(24)).timestamp()), 70),
        (format!("/api/hosts/{host_id}/metrics?from={}&step=1008", (Utc::now() - chrono::Duration::days(7)).timestamp()), 10),
    ] {
        let (status, body) = get(&stack, &path, &jwt).await;
        assert_eq!(status, 200, "{path}: {}", body["error"]);
        let n = body["points"].as_array().unwrap().len();
        assert!(n >= expected, "{path}: {n} points");
    }
    // errors still arrive as errors, with their status
    let (status, body) = get(&stack, "/api/hosts/host-000000000000/metrics", &jwt).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_too_large_for_the_gateway_or_the_bus_is_refused_for_good() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel.clone(), &acme.token, "m-big", "big").await.unwrap();
    let mut connection = sim::connect(channel, &acme.token, &host_id).await.unwrap();

    // 1.7 MB of protobuf: over gateway.max_message_bytes (1 MiB)
    let mut big = sim::snapshot(1, Utc::now(), 1);
    let host = big.host.as_mut().unwrap();
    host.disk.as_mut().unwrap().mounts = (0..8_000)
        .map(|i| MountMetrics {
            path: format!("/mnt/{i:0200}"),
            total: 1 << 40,
            used: 1 << 39,
            percent: 50.0,
            fs_type: "ext4".into(),
        })
        .collect();
    assert!(prost::Message::encoded_len(&big) > 1_700_000);
    connection.sender.send(sim::metrics_message(&host_id, big)).await.unwrap();
    let ack = next_ack(&mut connection).await;
    assert!(!ack.accepted && ack.seq == 1, "{ack:?}");
    assert!(ack.error.contains("gateway.max_message_bytes"), "{}", ack.error);

    // 0.9 MB of protobuf that grows past the bus's max_payload as JSON
    // (a control character is one byte in protobuf, six in JSON)
    let mut grows = sim::snapshot(2, Utc::now(), 2);
    let host = grows.host.as_mut().unwrap();
    host.network.as_mut().unwrap().interfaces =
        (0..900).map(|i| InterfaceMetrics { name: format!("{i}{}", "\u{1}".repeat(1000)), ..Default::default() }).collect();
    assert!(prost::Message::encoded_len(&grows) < 1024 * 1024);
    connection.sender.send(sim::metrics_message(&host_id, grows)).await.unwrap();
    let ack = next_ack(&mut connection).await;
    assert!(!ack.accepted && ack.seq == 2, "{ack:?}");
    assert!(ack.error.contains("bus limit"), "{}", ack.error);

    // the stream goes on, and nothing of the refused ones reached the bus
    connection.sender.send(sim::metrics_message(&host_id, sim::snapshot(3, Utc::now(), 3))).await.unwrap();
    assert!(next_ack(&mut connection).await.accepted);
    let jetstream = async_nats::jetstream::new(stack.nats.client().await);
    let mut stream = jetstream.get_stream(vigil_bus::streams::METRICS_STREAM).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}
