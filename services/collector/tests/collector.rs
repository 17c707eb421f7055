//! Collector behaviour against a real nats-server (one private server per
//! test) and a real MariaDB (one database per test).

mod common;

use std::time::Duration;

use chrono::{Duration as TimeDelta, DurationRound, Utc};
use futures::StreamExt;
use sqlx::Row;
use vigil_bus::messages::*;
use vigil_bus::subjects::collector;
use vigil_bus::ErrorCode;
use vigil_collector::{downsample, ensure_partitions, CollectorConfig, Retention, PARTITIONED_TABLES};
use vigil_testkit::bus::{collector_consumer_info, publish, publish_raw};
use vigil_testkit::fixtures::metrics_snapshot;
use vigil_testkit::{eventually, PrivateMariaDb};

use common::*;

const WAIT: Duration = Duration::from_secs(15);

fn tenant() -> String {
    format!("t-{}", random_suffix())
}

#[tokio::test]
async fn snapshot_values_are_stored_in_their_columns() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let collected_at = now_ms();
    let sent = metrics_snapshot(&tenant, &host.id, 1, collected_at);
    publish(&client, &sent).await;
    eventually("snapshot row stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 1 }).await;

    let row = sqlx::query(
        "SELECT timestamp, uptime, CAST(cpu_percent AS DOUBLE) AS cpu, cpu_cores, memory_used, memory_total, memory_available, \
         swap_used, swap_total, disk_used, disk_total, CAST(load_1m AS DOUBLE) AS l1, CAST(load_5m AS DOUBLE) AS l5, \
         CAST(load_15m AS DOUBLE) AS l15, network_rx, network_tx, per_core, mounts, interfaces FROM metrics_host WHERE host_id = ?",
    )
    .bind(&host.id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let h = &sent.host;
    assert_eq!(row.get::<chrono::DateTime<Utc>, _>("timestamp"), collected_at);
    assert_eq!(row.get::<u64, _>("uptime"), h.uptime);
    assert_eq!(row.get::<f64, _>("cpu"), h.cpu.percent);
    assert_eq!(u32::from(row.get::<u16, _>("cpu_cores")), h.cpu.cores);
    assert_eq!(row.get::<u64, _>("memory_used"), h.memory.used);
    assert_eq!(row.get::<u64, _>("memory_total"), h.memory.total);
    assert_eq!(row.get::<u64, _>("memory_available"), h.memory.available);
    assert_eq!(row.get::<u64, _>("swap_used"), h.memory.swap_used);
    assert_eq!(row.get::<u64, _>("swap_total"), h.memory.swap_total);
    assert_eq!(row.get::<u64, _>("disk_used"), 130_000);
    assert_eq!(row.get::<u64, _>("disk_total"), 1_000_000);
    assert_eq!(row.get::<f64, _>("l1"), h.load.load_1m);
    assert_eq!(row.get::<f64, _>("l5"), h.load.load_5m);
    assert_eq!(row.get::<f64, _>("l15"), h.load.load_15m);
    assert_eq!(row.get::<u64, _>("network_rx"), 1030);
    assert_eq!(row.get::<u64, _>("network_tx"), 2040);
    let per_core: Vec<f64> = serde_json::from_slice(&row.get::<Vec<u8>, _>("per_core")).unwrap();
    assert_eq!(per_core, h.cpu.per_core);
    let mounts: Vec<MountMetrics> = serde_json::from_slice(&row.get::<Vec<u8>, _>("mounts")).unwrap();
    assert_eq!(mounts, h.disk.mounts);
    let interfaces: Vec<InterfaceMetrics> = serde_json::from_slice(&row.get::<Vec<u8>, _>("interfaces")).unwrap();
    assert_eq!(interfaces, h.network.interfaces);

    let (name, memory_limit, processes): (String, u64, u32) =
        sqlx::query_as("SELECT CAST(container_name AS CHAR), memory_limit, processes FROM metrics_container WHERE host_id = ?")
            .bind(&host.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), memory_limit, processes), ("nginx", 5678, 3));
    let (name, pid, ports): (String, u32, Vec<u8>) =
        sqlx::query_as("SELECT CAST(service_name AS CHAR), pid, ports FROM metrics_service WHERE host_id = ?")
            .bind(&host.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), pid), ("sshd", 42));
    assert_eq!(serde_json::from_slice::<Vec<u32>>(&ports).unwrap(), vec![22]);

    let (status, last_seen): (String, chrono::DateTime<Utc>) =
        sqlx::query_as("SELECT status, last_seen FROM hosts WHERE id = ?").bind(&host.id).fetch_one(&db.pool).await.unwrap();
    assert_eq!((status.as_str(), last_seen), ("online", collected_at));

    // the latest point read back through the endpoint carries the same values
    let latest: Option<MetricsPoint> =
        request(&client, collector::METRICS_LATEST, &GetHost { tenant_id: tenant.clone(), host_id: host.id.clone() })
            .await
            .unwrap();
    let latest = latest.expect("a latest point");
    assert_eq!(latest.timestamp, collected_at);
    assert_eq!(latest.host.disk, h.disk);
    assert_eq!(latest.host.network, h.network);
    assert_eq!(latest.host.load, h.load);
    assert_eq!(latest.host.memory.percent, 37.5);

    running.stop().await.unwrap();
}

#[tokio::test]
async fn republished_snapshot_leaves_one_row() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let first = metrics_snapshot(&tenant, &host.id, 1, now_ms() - TimeDelta::seconds(5));
    let subject = vigil_bus::subjects::metrics(&tenant, &host.id);
    let payload = serde_json::to_vec(&first).unwrap();
    // different msg ids: JetStream keeps both, the collector sees the snapshot twice
    publish_raw(&client, subject.clone(), payload.clone(), "copy-1").await;
    publish_raw(&client, subject, payload, "copy-2").await;
    publish(&client, &metrics_snapshot(&tenant, &host.id, 2, now_ms())).await;

    eventually("every message settled", WAIT, || async {
        let info = collector_consumer_info(&client).await;
        info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence == 3
    })
    .await;
    assert_eq!(count_rows(&db.pool, "metrics_host", &host.id).await, 2);
    assert_eq!(count_rows(&db.pool, "metrics_container", &host.id).await, 2);
    assert_eq!(count_rows(&db.pool, "metrics_service", &host.id).await, 2);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn undecodable_and_unknown_host_snapshots_are_terminated_and_ingest_goes_on() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let running = start_collector(test_config(), &nats, db.pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();
    let other_tenant = format!("{tenant}-other");
    let host = register(&client, &tenant, "m1").await;
    let now = now_ms();
    let mut terminated = client
        .subscribe(format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{}.{}",
            vigil_bus::streams::METRICS_STREAM,
            vigil_bus::streams::COLLECTOR_CONSUMER
        ))
        .await
        .unwrap();
    client.flush().await.unwrap();

    // 1: not json
    publish_raw(&client, vigil_bus::subjects::metrics(&tenant, &host.id), b"{not json".to_vec(), "bad-1").await;
    // 2: payload names another host than the subject
    let mut mismatch = metrics_snapshot(&tenant, "host-elsewhere", 1, now);
    mismatch.host_id = "host-elsewhere".into();
    publish_raw(&client, vigil_bus::subjects::metrics(&tenant, &host.id), serde_json::to_vec(&mismatch).unwrap(), "bad-2").await;
    // 3: a host that was never registered
    publish(&client, &metrics_snapshot(&tenant, "host-unknown", 1, now)).await;
    // 4: the right host under the wrong tenant (subject and payload agree)
    publish(&client, &metrics_snapshot(&other_tenant, &host.id, 1, now - TimeDelta::seconds(1))).await;
    // 5: a good one
    publish(&client, &metrics_snapshot(&tenant, &host.id, 2, now)).await;

    eventually("good snapshot stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 1 }).await;
    eventually("bad messages terminated, nothing left to redeliver", WAIT, || async {
        let info = collector_consumer_info(&client).await;
        info.num_pending == 0 && info.num_ack_pending == 0 && info.num_redelivered == 0 && info.ack_floor.stream_sequence == 5
    })
    .await;
    let mut terminated_sequences = Vec::new();
    for _ in 0..4 {
        let advisory = tokio::time::timeout(WAIT, terminated.next()).await.expect("a termination advisory").unwrap();
        let advisory: serde_json::Value = serde_json::from_slice(&advisory.payload).unwrap();
        terminated_sequences.push(advisory["stream_seq"].as_u64().unwrap());
    }
    terminated_sequences.sort_unstable();
    assert_eq!(terminated_sequences, vec![1, 2, 3, 4], "the four bad messages are terminated, not acked");
    assert_eq!(count_rows(&db.pool, "metrics_host", "host-unknown").await, 0);
    assert_eq!(count_rows(&db.pool, "metrics_host", "host-elsewhere").await, 0);
    let stored: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT timestamp FROM metrics_host WHERE host_id = ?")
        .bind(&host.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, now, "only the good snapshot is stored, not the other tenant's");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn database_outage_acks_nothing_and_everything_is_stored_once_after_recovery() {
    let nats = NatsServer::start().await;
    let mut mariadb = PrivateMariaDb::start().await;
    let pool = mariadb.create_db("vigil_outage").await;
    let running = start_collector(test_config(), &nats, pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();
    let host = register(&client, &tenant, "m1").await;

    mariadb.stop();
    let start = now_ms() - TimeDelta::seconds(60);
    for i in 0..20 {
        publish(&client, &metrics_snapshot(&tenant, &host.id, i, start + TimeDelta::seconds(i as i64))).await;
    }
    // the collector fetches them, fails to commit, acks nothing
    tokio::time::sleep(Duration::from_secs(3)).await;
    let info = collector_consumer_info(&client).await;
    assert_eq!(info.ack_floor.stream_sequence, 0, "nothing is acked while the database is down");
    assert!(info.num_redelivered > 0 || info.num_ack_pending > 0, "the collector did try: {info:?}");

    mariadb.resume().await;
    eventually("all 20 snapshots stored after recovery", Duration::from_secs(60), || async {
        let info = collector_consumer_info(&client).await;
        info.ack_floor.stream_sequence == 20 && info.num_ack_pending == 0
    })
    .await;
    assert_eq!(count_rows(&pool, "metrics_host", &host.id).await, 20);
    assert_eq!(count_rows(&pool, "metrics_container", &host.id).await, 20);
    running.stop().await.unwrap();
}

async fn next_event(events: &mut async_nats::Subscriber, timeout: Duration) -> HostEvent {
    let message = tokio::time::timeout(timeout, events.next()).await.expect("a host event in time").expect("subscription open");
    serde_json::from_slice(&message.payload).expect("a host event")
}

#[tokio::test]
async fn silent_host_goes_offline_and_next_snapshot_brings_it_online_with_events() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let config =
        CollectorConfig { offline_after: Duration::from_secs(1), sweep_interval: Duration::from_millis(100), ..test_config() };
    let running = start_collector(config, &nats, db.pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();
    let mut events = client.subscribe(format!("hosts.{tenant}.>")).await.unwrap();
    client.flush().await.unwrap();

    let host = register(&client, &tenant, "m1").await;
    let registered = next_event(&mut events, WAIT).await;
    assert_eq!((registered.event, registered.host_id.as_str()), (HostEventKind::Registered, host.id.as_str()));
    assert_eq!(host.status, HostStatus::Offline);

    publish(&client, &metrics_snapshot(&tenant, &host.id, 1, now_ms())).await;
    let online = next_event(&mut events, WAIT).await;
    assert_eq!(online.event, HostEventKind::Online);
    let get = GetHost { tenant_id: tenant.clone(), host_id: host.id.clone() };
    let record: HostRecord = request(&client, collector::GET_HOST, &get).await.unwrap();
    assert_eq!(record.status, HostStatus::Online);

    let offline = next_event(&mut events, Duration::from_secs(5)).await;
    assert_eq!((offline.event, offline.host_id.as_str()), (HostEventKind::Offline, host.id.as_str()));
    let record: HostRecord = request(&client, collector::GET_HOST, &get).await.unwrap();
    assert_eq!(record.status, HostStatus::Offline);

    publish(&client, &metrics_snapshot(&tenant, &host.id, 2, now_ms())).await;
    let online = next_event(&mut events, WAIT).await;
    assert_eq!(online.event, HostEventKind::Online);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_new_machines_registering_at_once_all_get_a_host() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let running = start_collector(test_config(), &nats, db.pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();
    let answers = futures::future::join_all((0..40).map(|i| {
        let asked = register_request(&tenant, &format!("fleet-{i:02}"));
        let client = client.clone();
        async move { request::<_, HostRecord>(&client, collector::REGISTER_HOST, &asked).await }
    }))
    .await;
    let failed: Vec<String> = answers.iter().filter_map(|answer| answer.as_ref().err().map(|e| e.message.clone())).collect();
    assert!(failed.is_empty(), "{} of 40 refused: {failed:?}", failed.len());
    let ids: std::collections::BTreeSet<String> = answers.into_iter().map(|answer| answer.unwrap().id).collect();
    assert_eq!(ids.len(), 40);
    assert_eq!(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM hosts").fetch_one(&db.pool).await.unwrap(), 40);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn registering_the_same_machine_twice_returns_the_same_id() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let running = start_collector(test_config(), &nats, db.pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();

    let first = register(&client, &tenant, "machine-a").await;
    assert!(first.id.starts_with("host-") && first.id.len() == 17, "{}", first.id);
    assert!(first.id[5..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let mut again = register_request(&tenant, "machine-a");
    again.os = "linux 6.1".into();
    again.agent_version = "0.2.0".into();
    let second: HostRecord = request(&client, collector::REGISTER_HOST, &again).await.unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!((second.os.as_str(), second.agent_version.as_str()), ("linux 6.1", "0.2.0"));
    let other = register(&client, &tenant, "machine-b").await;
    assert_ne!(other.id, first.id);

    // a requested id is used as is, and cannot be taken by another tenant
    let mut wanted = register_request(&tenant, "machine-c");
    wanted.requested_id = Some(format!("srv-{}", random_suffix()));
    let named: HostRecord = request(&client, collector::REGISTER_HOST, &wanted).await.unwrap();
    assert_eq!(Some(named.id.clone()), wanted.requested_id);
    let mut stolen = register_request(&format!("{tenant}-x"), "machine-z");
    stolen.requested_id = wanted.requested_id.clone();
    let error = request::<_, HostRecord>(&client, collector::REGISTER_HOST, &stolen).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::Conflict);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn hosts_and_metrics_are_only_visible_to_their_tenant() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let running = start_collector(test_config(), &nats, db.pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();
    let stranger = format!("{tenant}-s");
    let host = register(&client, &tenant, "m1").await;

    let mine: Vec<HostRecord> = request(&client, collector::LIST_HOSTS, &ListHosts { tenant_id: tenant.clone() }).await.unwrap();
    assert_eq!(mine.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec![host.id.as_str()]);
    let theirs: Vec<HostRecord> =
        request(&client, collector::LIST_HOSTS, &ListHosts { tenant_id: stranger.clone() }).await.unwrap();
    assert!(theirs.is_empty());

    let own: HostRecord =
        request(&client, collector::GET_HOST, &GetHost { tenant_id: tenant.clone(), host_id: host.id.clone() }).await.unwrap();
    assert_eq!(own, host);
    let foreign = GetHost { tenant_id: stranger.clone(), host_id: host.id.clone() };
    let error = request::<_, HostRecord>(&client, collector::GET_HOST, &foreign).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
    let missing = GetHost { tenant_id: stranger.clone(), host_id: "host-nothere".into() };
    let missing_error = request::<_, HostRecord>(&client, collector::GET_HOST, &missing).await.unwrap_err();
    assert_eq!(missing_error.message.replace("host-nothere", &host.id), error.message, "same answer as for a missing host");
    let error = request::<_, Option<MetricsPoint>>(&client, collector::METRICS_LATEST, &foreign).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
    let range = MetricsRange {
        tenant_id: stranger,
        host_id: host.id.clone(),
        from: Utc::now() - TimeDelta::hours(1),
        to: Utc::now(),
        limit: 10,
        step: 0,
    };
    let error = request::<_, Vec<MetricsPoint>>(&client, collector::METRICS_RANGE, &range).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_range_returns_points_oldest_first_within_bounds() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let t0 = now_ms() - TimeDelta::minutes(10);
    for i in [3i64, 0, 4, 1, 2] {
        publish(&client, &metrics_snapshot(&tenant, &host.id, i as u64, t0 + TimeDelta::seconds(i))).await;
    }
    eventually("5 points stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 5 }).await;

    let ask = |from, to, limit| MetricsRange { tenant_id: tenant.clone(), host_id: host.id.clone(), from, to, limit, step: 0 };
    let points: Vec<MetricsPoint> =
        request(&client, collector::METRICS_RANGE, &ask(t0 + TimeDelta::seconds(1), t0 + TimeDelta::seconds(3), 100))
            .await
            .unwrap();
    let times: Vec<_> = points.iter().map(|p| p.timestamp).collect();
    assert_eq!(times, (1..=3).map(|i| t0 + TimeDelta::seconds(i)).collect::<Vec<_>>());
    assert_eq!(points[0].host.uptime, 3601);

    let limited: Vec<MetricsPoint> =
        request(&client, collector::METRICS_RANGE, &ask(t0, t0 + TimeDelta::seconds(10), 2)).await.unwrap();
    assert_eq!(limited.iter().map(|p| p.timestamp).collect::<Vec<_>>(), vec![t0, t0 + TimeDelta::seconds(1)]);

    let error = request::<_, Vec<MetricsPoint>>(&client, collector::METRICS_RANGE, &ask(t0 + TimeDelta::seconds(5), t0, 10))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_range_with_a_step_gives_each_bucket_its_highest_cpu_snapshot() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    // 30 snapshots, one a second from a minute boundary: buckets of 10 s are [0,10), [10,20), [20,30)
    let base = now_ms() - TimeDelta::minutes(10);
    let t0 = base - TimeDelta::seconds(base.timestamp() % 60) - TimeDelta::milliseconds(base.timestamp_subsec_millis().into());
    let cpu = |i: i64| match i {
        3 => 90.0,       // the peak of the first bucket
        17 => 75.0,      // of the second
        20 | 25 => 60.0, // a tie in the third: the earlier one wins
        _ => 10.0 + i as f64 / 10.0,
    };
    for i in 0..30i64 {
        let mut s = metrics_snapshot(&tenant, &host.id, i as u64, t0 + TimeDelta::seconds(i));
        s.host.cpu.percent = cpu(i);
        publish(&client, &s).await;
    }
    eventually("30 points stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 30 }).await;

    let ask = |step, limit| MetricsRange {
        tenant_id: tenant.clone(),
        host_id: host.id.clone(),
        from: t0,
        to: t0 + TimeDelta::seconds(29),
        limit,
        step,
    };
    let points: Vec<MetricsPoint> = request(&client, collector::METRICS_RANGE, &ask(10, 100)).await.unwrap();
    let got: Vec<_> = points.iter().map(|p| (p.timestamp, p.host.cpu.percent)).collect();
    assert_eq!(
        got,
        vec![(t0 + TimeDelta::seconds(3), 90.0), (t0 + TimeDelta::seconds(17), 75.0), (t0 + TimeDelta::seconds(20), 60.0)],
        "one point per 10 s bucket, oldest first"
    );
    assert_eq!(
        points[0].host.disk.mounts.len(),
        metrics_snapshot(&tenant, &host.id, 0, t0).host.disk.mounts.len(),
        "whole points"
    );

    // the limit still applies, and a step of one second is every point
    let limited: Vec<MetricsPoint> = request(&client, collector::METRICS_RANGE, &ask(10, 2)).await.unwrap();
    assert_eq!(limited.len(), 2);
    let every: Vec<MetricsPoint> = request(&client, collector::METRICS_RANGE, &ask(1, 100)).await.unwrap();
    assert_eq!(every.len(), 30);

    let error = request::<_, Vec<MetricsPoint>>(&client, collector::METRICS_RANGE, &ask(86_401, 10)).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.contains("step=86401"), "{}", error.message);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn bad_ids_and_malformed_requests_get_bad_request_and_the_service_keeps_serving() {
    let OneHost { nats: _nats, db: _db, running, client, tenant, host } = OneHost::start("m1").await;

    let error =
        request::<_, HostRecord>(&client, collector::GET_HOST, &GetHost { tenant_id: tenant.clone(), host_id: "a.b".into() })
            .await
            .unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);
    let error =
        request::<_, Vec<HostRecord>>(&client, collector::LIST_HOSTS, &ListHosts { tenant_id: "*".into() }).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);
    let mut bad_register = register_request(&tenant, "m2");
    bad_register.requested_id = Some("has space".into());
    let error = request::<_, HostRecord>(&client, collector::REGISTER_HOST, &bad_register).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);

    let raw = client.request(collector::LIST_HOSTS.subject(), "not json".into()).await.unwrap();
    match serde_json::from_slice::<Reply<Vec<HostRecord>>>(&raw.payload).unwrap() {
        Reply::Error(error) => assert_eq!(error.code, ErrorCode::BadRequest),
        Reply::Ok(_) => panic!("a malformed request must not succeed"),
    }

    let hosts: Vec<HostRecord> = request(&client, collector::LIST_HOSTS, &ListHosts { tenant_id: tenant }).await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].id, host.id);
    running.stop().await.unwrap();
}

async fn partition_names(pool: &sqlx::MySqlPool, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
         ORDER BY PARTITION_ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn partition_maintenance_creates_the_days_ahead_and_is_idempotent() {
    let db = TestDb::create().await;
    let retention = Duration::from_secs(7 * 24 * 3600);
    // two collectors at once, then once more
    let (a, b) = tokio::join!(ensure_partitions(&db.pool, 3, retention), ensure_partitions(&db.pool, 3, retention));
    let (a, b) = (a.unwrap(), b.unwrap());
    let tables = PARTITIONED_TABLES.len();
    assert_eq!(tables, 5, "metrics_host, metrics_container, metrics_service, metrics_custom, metrics_chunk");
    assert_eq!(a.created.len() + b.created.len(), 4 * tables, "4 days × every table created exactly once: {a:?} {b:?}");
    let again = ensure_partitions(&db.pool, 3, retention).await.unwrap();
    assert!(again.created.is_empty() && again.dropped.is_empty(), "{again:?}");

    let today = Utc::now().date_naive();
    let mut expected = vec!["p_past".to_owned()];
    expected.extend((0..=3).map(|d| format!("p{}", (today + TimeDelta::days(d)).format("%Y%m%d"))));
    expected.push("p_future".to_owned());
    for table in PARTITIONED_TABLES {
        assert_eq!(partition_names(&db.pool, table).await, expected, "{table}");
    }
    let today_rows: i64 = sqlx::query_scalar("SELECT TO_DAYS(UTC_DATE()) + 1 = CAST(PARTITION_DESCRIPTION AS SIGNED) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'metrics_host' AND PARTITION_NAME = ?")
        .bind(format!("p{}", today.format("%Y%m%d")))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(today_rows, 1, "today's partition ends at tomorrow");
}

#[tokio::test]
async fn daily_partitions_older_than_retention_are_dropped() {
    let db = TestDb::create().await;
    let old = Utc::now().date_naive() - TimeDelta::days(30);
    for table in PARTITIONED_TABLES {
        sqlx::query(&format!(
            "ALTER TABLE {table} REORGANIZE PARTITION p_future INTO (PARTITION p{} VALUES LESS THAN (TO_DAYS('{}')), \
             PARTITION p_future VALUES LESS THAN MAXVALUE)",
            old.format("%Y%m%d"),
            (old + TimeDelta::days(1)).format("%Y-%m-%d")
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let report = ensure_partitions(&db.pool, 1, Duration::from_secs(7 * 24 * 3600)).await.unwrap();
    assert_eq!(report.dropped.len(), PARTITIONED_TABLES.len(), "{report:?}");
    assert_eq!(report.created.len(), 2 * PARTITIONED_TABLES.len(), "{report:?}");
    let names = partition_names(&db.pool, "metrics_host").await;
    assert!(!names.contains(&format!("p{}", old.format("%Y%m%d"))), "{names:?}");
    assert!(names.contains(&"p_past".to_owned()) && names.contains(&"p_future".to_owned()));
}

#[tokio::test]
async fn stopping_mid_stream_acks_only_stored_snapshots_and_a_restart_stores_the_rest() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let client = nats.client().await;
    let registrar = start_collector(test_config(), &nats, db.pool.clone()).await;
    let tenant = tenant();
    let host = register(&client, &tenant, "m1").await;
    registrar.stop().await.unwrap();
    let t0 = now_ms() - TimeDelta::hours(1);
    for i in 0..300 {
        publish(&client, &metrics_snapshot(&tenant, &host.id, i, t0 + TimeDelta::seconds(i as i64))).await;
    }
    // small batches, so the stop lands in the middle of the stream
    let config = CollectorConfig { batch_size: 2, ..test_config() };
    let running = start_collector(config.clone(), &nats, db.pool.clone()).await;
    eventually("some snapshots stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await > 0 }).await;
    running.stop().await.unwrap();

    let info = collector_consumer_info(&client).await;
    assert_eq!(info.num_ack_pending, 0, "the batch in hand was finished before returning: {info:?}");
    assert!(info.num_pending > 0, "stopped before the end of the stream: {info:?}");
    let acked = 300 - info.num_pending as i64;
    assert_eq!(count_rows(&db.pool, "metrics_host", &host.id).await, acked, "exactly the stored snapshots were acked");

    let running = start_collector(config, &nats, db.pool.clone()).await;
    eventually("the rest stored by the next collector", WAIT, || async {
        count_rows(&db.pool, "metrics_host", &host.id).await == 300
    })
    .await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn two_collectors_share_the_stream_and_announce_online_once() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let client = nats.client().await;
    let config = CollectorConfig { batch_size: 10, ..test_config() };
    let first = start_collector(config.clone(), &nats, db.pool.clone()).await;
    let second = start_collector(config, &nats, db.pool.clone()).await;
    let tenant = tenant();
    let mut online = client.subscribe(format!("hosts.{tenant}.*.online")).await.unwrap();
    client.flush().await.unwrap();
    let host = register(&client, &tenant, "m1").await;
    let t0 = now_ms() - TimeDelta::seconds(20);
    for i in 0..200 {
        publish(&client, &metrics_snapshot(&tenant, &host.id, i, t0 + TimeDelta::milliseconds(i as i64 * 100))).await;
    }
    eventually("200 snapshots stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 200 }).await;
    first.stop().await.unwrap();
    second.stop().await.unwrap();
    let event = tokio::time::timeout(WAIT, online.next()).await.expect("one online event").unwrap();
    let event: HostEvent = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event.host_id, host.id);
    assert!(tokio::time::timeout(Duration::from_millis(500), online.next()).await.is_err(), "a second online event");
    let last_seen: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT last_seen FROM hosts WHERE id = ?").bind(&host.id).fetch_one(&db.pool).await.unwrap();
    assert_eq!(last_seen, t0 + TimeDelta::milliseconds(199 * 100), "last_seen is the newest snapshot, whatever the order");
}

#[tokio::test]
async fn endpoints_answer_as_soon_as_build_returns() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let tenant = tenant();
    // a subscription still in flight when build returns made about one
    // request in ten fail with "no responders"
    for attempt in 0..10 {
        let client = nats.client().await;
        let running = start_collector(test_config(), &nats, db.pool.clone()).await;
        let answer: Result<HostRecord, _> =
            request(&client, collector::REGISTER_HOST, &register_request(&tenant, &format!("m{attempt}"))).await;
        assert!(answer.is_ok(), "attempt {attempt}: {answer:?}");
        running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn downsampling_folds_complete_hours_into_hourly_rows_idempotently_and_expires_old_ones() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;
    let now = Utc::now();
    let this_hour = now.duration_trunc(TimeDelta::hours(1)).unwrap();
    let (a, b) = (this_hour - TimeDelta::hours(2), this_hour - TimeDelta::hours(1));
    // (offset from its hour, cpu, memory used, eth0 rx bytes)
    let send = |hour: chrono::DateTime<Utc>, minute: i64, cpu: f64, used: u64, rx: u64, seq: u64| {
        let mut s = metrics_snapshot(&tenant, &host.id, seq, hour + TimeDelta::minutes(minute));
        s.host.cpu.percent = cpu;
        s.host.memory.used = used;
        s.host.memory.total = 8_000;
        s.host.network.interfaces[0].rx_bytes = rx;
        s
    };
    for s in [
        send(a, 0, 10.0, 1_000, 5_000, 1),
        send(a, 30, 30.0, 3_000, 6_000, 2),
        send(a, 59, 20.0, 2_000, 9_000, 3),
        send(b, 10, 50.0, 4_000, 9_500, 4),
        send(this_hour, 0, 99.0, 7_000, 9_900, 5), // the current hour: not complete, not folded
    ] {
        publish(&client, &s).await;
    }
    eventually("5 points stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 5 }).await;
    // an hourly row past the 90-day retention
    sqlx::query("INSERT INTO metrics_host_hourly (host_id, hour, cpu_avg, samples) VALUES (?, ?, 1, 1)")
        .bind(&host.id)
        .bind((this_hour - TimeDelta::days(100)).naive_utc())
        .execute(&db.pool)
        .await
        .unwrap();

    let day = Duration::from_secs(86_400);
    let retention = Retention { raw: 7 * day, hourly: 90 * day, daily: 730 * day };
    let report = downsample(&db.pool, now, &retention, &[], true).await.unwrap();
    assert_eq!(report.expired, 1);
    let ask = HourlyRange { tenant_id: tenant.clone(), host_id: host.id.clone(), from: now - TimeDelta::days(1), to: now };
    let hours: Vec<HourlyPoint> = request(&client, collector::METRICS_HOURLY, &ask).await.unwrap();
    assert_eq!(hours.len(), 2, "two complete hours: {hours:?}");
    let first = &hours[0];
    assert_eq!((first.hour, first.values.samples), (a, 3));
    assert!((first.values.cpu_avg - 20.0).abs() < 0.01 && (first.values.cpu_max - 30.0).abs() < 0.01, "{first:?}");
    assert_eq!((first.values.memory_avg, first.values.memory_max, first.values.memory_total), (2_000, 3_000, 8_000));
    // eth0 grew 4,000 bytes in the hour (eth1 stays at 30)
    assert_eq!(first.values.network_rx_total, 4_000);
    assert_eq!((hours[1].hour, hours[1].values.samples, hours[1].values.cpu_max), (b, 1, 50.0));

    // a snapshot of hour b arriving late is folded in by the next run; the rest is unchanged
    publish(&client, &send(b, 50, 70.0, 6_000, 9_800, 6)).await;
    eventually("the late point stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 6 }).await;
    let again = downsample(&db.pool, now, &retention, &[], true).await.unwrap();
    assert_eq!(again.expired, 0);
    let after: Vec<HourlyPoint> = request(&client, collector::METRICS_HOURLY, &ask).await.unwrap();
    assert_eq!(after[0], hours[0], "a rerun rewrites the same aggregate");
    assert_eq!((after[1].values.samples, after[1].values.cpu_max, after[1].values.network_rx_total), (2, 70.0, 300));

    // another tenant's request for this host: not found, as for the raw range
    let stranger = HourlyRange { tenant_id: "t-stranger".into(), ..ask.clone() };
    let error = request::<_, Vec<HourlyPoint>>(&client, collector::METRICS_HOURLY, &stranger).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
    running.stop().await.unwrap();
}

/// An hourly row as the hourly fold writes it.
#[allow(clippy::too_many_arguments)]
async fn hourly_row(
    pool: &sqlx::MySqlPool,
    host_id: &str,
    hour: chrono::DateTime<Utc>,
    cpu_avg: f64,
    cpu_max: f64,
    memory: u64,
    rx: u64,
    samples: u32,
) {
    sqlx::query(
        "INSERT INTO metrics_host_hourly (host_id, hour, cpu_avg, cpu_max, memory_avg, memory_max, memory_total, disk_avg, \
            disk_max, disk_total, network_rx_total, network_tx_total, samples) VALUES (?, ?, ?, ?, ?, ?, 8000, 500, 600, 1000, ?, 0, ?) \
         ON DUPLICATE KEY UPDATE cpu_avg = VALUES(cpu_avg), samples = VALUES(samples)",
    )
    .bind(host_id)
    .bind(hour.naive_utc())
    .bind(cpu_avg)
    .bind(cpu_max)
    .bind(memory)
    .bind(memory)
    .bind(rx)
    .bind(samples)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn daily_rows_fold_hourly_ones_weighted_redo_the_last_days_and_expire_per_server_and_per_tenant() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;
    let other = register(&client, &format!("t-{}", random_suffix()), "m2").await;
    let now = Utc::now();
    let today = now.duration_trunc(TimeDelta::days(1)).unwrap();
    let (d1, d2) = (today - TimeDelta::days(3), today - TimeDelta::days(1));
    hourly_row(&db.pool, &host.id, d1 + TimeDelta::hours(1), 10.0, 20.0, 1_000, 100, 3).await;
    hourly_row(&db.pool, &host.id, d1 + TimeDelta::hours(2), 30.0, 50.0, 5_000, 50, 1).await;
    hourly_row(&db.pool, &host.id, d2 + TimeDelta::hours(5), 40.0, 45.0, 2_000, 10, 2).await;
    hourly_row(&db.pool, &other.id, d1 + TimeDelta::hours(1), 70.0, 80.0, 2_000, 10, 1).await;
    // today is not complete: not folded
    hourly_row(&db.pool, &host.id, today, 99.0, 99.0, 2_000, 10, 1).await;

    let day = Duration::from_secs(86_400);
    let retention = Retention { raw: 7 * day, hourly: 90 * day, daily: 730 * day };
    let report = downsample(&db.pool, now, &retention, &[], true).await.unwrap();
    assert!(report.days >= 3, "{report:?}");
    let ask = DailyRange { tenant_id: tenant.clone(), host_id: host.id.clone(), from: today - TimeDelta::days(10), to: now };
    let days: Vec<DailyPoint> = request(&client, collector::METRICS_DAILY, &ask).await.unwrap();
    assert_eq!(days.len(), 2, "two complete days with hours: {days:?}");
    assert_eq!((days[0].day, days[0].values.samples), (d1, 4));
    // weighted by snapshots: (10 x 3 + 30 x 1) / 4
    assert!((days[0].values.cpu_avg - 15.0).abs() < 0.01 && (days[0].values.cpu_max - 50.0).abs() < 0.01, "{:?}", days[0]);
    assert_eq!((days[0].values.memory_avg, days[0].values.memory_max, days[0].values.memory_total), (2_000, 5_000, 8_000));
    assert_eq!(days[0].values.network_rx_total, 150);
    assert_eq!((days[1].day, days[1].values.samples, days[1].values.cpu_avg), (d2, 2, 40.0));

    // a rerun writes the same rows, also two collectors running it side by side
    let (one, two) =
        tokio::join!(downsample(&db.pool, now, &retention, &[], true), downsample(&db.pool, now, &retention, &[], true));
    one.unwrap();
    two.unwrap();
    let again: Vec<DailyPoint> = request(&client, collector::METRICS_DAILY, &ask).await.unwrap();
    assert_eq!(again, days, "idempotent");

    // late data: yesterday's hour refolded (more snapshots) reaches its day
    // at the next run; a day before the lookback is left as it was
    hourly_row(&db.pool, &host.id, d2 + TimeDelta::hours(5), 20.0, 45.0, 2_000, 10, 4).await;
    hourly_row(&db.pool, &host.id, d1 + TimeDelta::hours(2), 90.0, 50.0, 5_000, 50, 1).await;
    downsample(&db.pool, now, &retention, &[], true).await.unwrap();
    let late: Vec<DailyPoint> = request(&client, collector::METRICS_DAILY, &ask).await.unwrap();
    assert_eq!((late[1].values.samples, late[1].values.cpu_avg), (4, 20.0), "{late:?}");
    assert_eq!(late[0], days[0], "three days ago is past the lookback");

    // folding off: nothing new is folded, retention still applies
    let folded_off = downsample(&db.pool, now, &retention, &[], false).await.unwrap();
    assert_eq!((folded_off.hours, folded_off.days), (0, 0));

    // the server's daily retention
    sqlx::query("INSERT INTO metrics_host_daily (host_id, day, cpu_avg, samples) VALUES (?, ?, 1, 1)")
        .bind(&host.id)
        .bind((today - TimeDelta::days(800)).naive_utc())
        .execute(&db.pool)
        .await
        .unwrap();
    let expired = downsample(&db.pool, now, &retention, &[], false).await.unwrap();
    assert_eq!(expired.expired_daily, 1);

    // a tenant's own retentions: its raw rows older than a day and daily rows
    // older than two days go; the other tenant's stay
    publish(&client, &metrics_snapshot(&tenant, &host.id, 1, now - TimeDelta::days(2))).await;
    publish(&client, &metrics_snapshot(&other.tenant_id, &other.id, 1, now - TimeDelta::days(2))).await;
    eventually("two raw rows", WAIT, || async {
        count_rows(&db.pool, "metrics_host", &host.id).await + count_rows(&db.pool, "metrics_host", &other.id).await == 2
    })
    .await;
    // newer snapshots: the old ones are folded into chunks, which a tenant's
    // raw retention deletes too
    publish(&client, &metrics_snapshot(&tenant, &host.id, 2, now - TimeDelta::minutes(1))).await;
    publish(&client, &metrics_snapshot(&other.tenant_id, &other.id, 2, now - TimeDelta::minutes(1))).await;
    eventually("four raw rows", WAIT, || async {
        count_rows(&db.pool, "metrics_host", &host.id).await + count_rows(&db.pool, "metrics_host", &other.id).await == 4
    })
    .await;
    assert_eq!(vigil_collector::compact(&db.pool, now).await.unwrap().chunks, 2);
    let own = TenantRetention {
        tenant_id: tenant.clone(),
        raw_seconds: Some(86_400),
        hourly_seconds: None,
        daily_seconds: Some(2 * 86_400),
    };
    // a tenant asking for more than the server keeps changes nothing
    let greedy = TenantRetention {
        tenant_id: other.tenant_id.clone(),
        raw_seconds: Some(365 * 86_400),
        hourly_seconds: None,
        daily_seconds: None,
    };
    let report = downsample(&db.pool, now, &retention, &[own, greedy], false).await.unwrap();
    assert!(report.expired_tenants >= 2, "the raw rows and day d1: {report:?}");
    assert_eq!(count_rows(&db.pool, "metrics_chunk", &host.id).await, 0);
    assert_eq!(count_rows(&db.pool, "metrics_chunk", &other.id).await, 1);
    assert_eq!(count_rows(&db.pool, "metrics_host", &host.id).await, 1, "the fresh snapshot stays");
    assert_eq!(count_rows(&db.pool, "metrics_host", &other.id).await, 1);
    let kept: Vec<DailyPoint> = request(&client, collector::METRICS_DAILY, &ask).await.unwrap();
    assert_eq!(kept.iter().map(|d| d.day).collect::<Vec<_>>(), vec![d2]);
    assert_eq!(count_rows(&db.pool, "metrics_host_daily", &other.id).await, 1, "the other tenant's day stays");

    // another tenant asking for this host's days: not found
    let stranger = DailyRange { tenant_id: other.tenant_id.clone(), ..ask.clone() };
    let error = request::<_, Vec<DailyPoint>>(&client, collector::METRICS_DAILY, &stranger).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
    running.stop().await.unwrap();
}
