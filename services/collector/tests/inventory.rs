//! Containers, services and custom metrics: stored with each snapshot, read
//! back through the collector's endpoints, scoped by tenant. Real nats-server
//! (one per test) and MariaDB (one database per test).

mod common;

use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use vigil_bus::messages::*;
use vigil_bus::subjects::collector;
use vigil_bus::ErrorCode;
use vigil_testkit::bus::{collector_consumer_info, publish, publish_raw};
use vigil_testkit::eventually;
use vigil_testkit::fixtures::MetricsSnapshotBuilder;

use common::*;

const WAIT: Duration = Duration::from_secs(15);

fn tenant() -> String {
    format!("t-{}", random_suffix())
}

fn container(name: &str, seed: u64) -> ContainerMetrics {
    ContainerMetrics {
        name: name.to_owned(),
        runtime: "podman".to_owned(),
        status: "running".to_owned(),
        created: "2026-01-02T03:04:05Z".to_owned(),
        image: format!("docker.io/library/{name}:1.{seed}"),
        cpu_percent: 12.25 + seed as f64,
        memory_used: 100_000_000 + seed,
        memory_limit: 400_000_000,
        memory_percent: 25.5 + seed as f64,
        disk_used: 5_000 + seed,
        network_rx: 7_000 + seed,
        network_tx: 8_000 + seed,
        processes: 3 + seed as u32,
    }
}

fn service(name: &str, seed: u64) -> ServiceMetrics {
    ServiceMetrics {
        name: name.to_owned(),
        status: "running".to_owned(),
        pid: 1000 + seed as u32,
        memory: 50_000 + seed,
        cpu_percent: 0.75 + seed as f64,
        ports: vec![80, 443 + seed as u32],
        uptime: 600 + seed,
    }
}

fn custom(name: &str, kind: &str, value: f64, error: Option<&str>) -> CustomMetric {
    CustomMetric { name: name.to_owned(), kind: kind.to_owned(), value, error: error.map(str::to_owned) }
}

/// A snapshot holding exactly these containers, services and custom metrics.
fn inventory_snapshot(
    tenant: &str,
    host_id: &str,
    seq: u64,
    at: DateTime<Utc>,
    containers: Vec<ContainerMetrics>,
    services: Vec<ServiceMetrics>,
    custom: Vec<CustomMetric>,
) -> MetricsSnapshot {
    MetricsSnapshotBuilder::new(tenant, host_id, seq, at).containers(containers).services(services).custom(custom).build()
}

fn get_host(tenant: &str, host_id: &str) -> GetHost {
    GetHost { tenant_id: tenant.to_owned(), host_id: host_id.to_owned() }
}

#[tokio::test]
async fn latest_containers_and_services_of_a_host_come_from_its_newest_snapshot() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let t1 = now_ms() - TimeDelta::seconds(20);
    let t2 = t1 + TimeDelta::seconds(10);
    // the newest snapshot first, then an older one arriving late (an agent
    // replaying its queue): "latest" is by collection time, not arrival
    let newest = inventory_snapshot(
        &tenant,
        &host.id,
        2,
        t2,
        vec![container("web", 2), container("db", 2)],
        vec![service("sshd", 2), service("nginx", 2)],
        vec![],
    );
    publish(&client, &newest).await;
    let older = inventory_snapshot(
        &tenant,
        &host.id,
        1,
        t1,
        vec![container("web", 1), container("db", 1), container("old", 1)],
        vec![service("sshd", 1), service("cron", 1)],
        vec![],
    );
    publish(&client, &older).await;
    eventually("both snapshots stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 2 }).await;

    let containers: Vec<ContainerRecord> =
        request(&client, collector::HOST_CONTAINERS, &get_host(&tenant, &host.id)).await.unwrap();
    // ordered by name; every value as the agent sent it
    let expected: Vec<ContainerRecord> = [container("db", 2), container("web", 2)]
        .into_iter()
        .map(|metrics| ContainerRecord {
            id: format!("{}:{}", host.id, metrics.name),
            host_id: host.id.clone(),
            host_name: None,
            timestamp: t2,
            metrics,
        })
        .collect();
    assert_eq!(containers, expected);

    let services: Vec<ServiceRecord> = request(&client, collector::HOST_SERVICES, &get_host(&tenant, &host.id)).await.unwrap();
    let expected: Vec<ServiceRecord> = [service("nginx", 2), service("sshd", 2)]
        .into_iter()
        .map(|metrics| ServiceRecord { host_id: host.id.clone(), timestamp: t2, metrics })
        .collect();
    assert_eq!(services, expected);

    // a host without any snapshot has no containers or services (not an error)
    let quiet = register(&client, &tenant, "m2").await;
    let none: Vec<ContainerRecord> = request(&client, collector::HOST_CONTAINERS, &get_host(&tenant, &quiet.id)).await.unwrap();
    assert!(none.is_empty());
    let none: Vec<ServiceRecord> = request(&client, collector::HOST_SERVICES, &get_host(&tenant, &quiet.id)).await.unwrap();
    assert!(none.is_empty());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn containers_and_services_differing_only_by_case_are_both_stored() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let at = now_ms() - TimeDelta::seconds(5);
    let both = inventory_snapshot(
        &tenant,
        &host.id,
        1,
        at,
        vec![container("Web", 1), container("web", 2)],
        vec![service("App", 1), service("app", 2)],
        vec![],
    );
    publish(&client, &both).await;
    eventually("snapshot stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 1 }).await;

    let containers: Vec<ContainerRecord> =
        request(&client, collector::HOST_CONTAINERS, &get_host(&tenant, &host.id)).await.unwrap();
    let names: Vec<(&str, u64)> = containers.iter().map(|c| (c.metrics.name.as_str(), c.metrics.memory_used)).collect();
    assert_eq!(names, vec![("Web", container("Web", 1).memory_used), ("web", container("web", 2).memory_used)]);
    let services: Vec<ServiceRecord> = request(&client, collector::HOST_SERVICES, &get_host(&tenant, &host.id)).await.unwrap();
    let names: Vec<(&str, u32)> = services.iter().map(|s| (s.metrics.name.as_str(), s.metrics.pid)).collect();
    assert_eq!(names, vec![("App", 1001), ("app", 1002)]);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_container_that_disappears_from_the_newest_snapshot_is_not_listed() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let t1 = now_ms() - TimeDelta::seconds(20);
    let t2 = t1 + TimeDelta::seconds(10);
    let t3 = t2 + TimeDelta::seconds(10);
    let both = vec![container("web", 1), container("worker", 1)];
    publish(&client, &inventory_snapshot(&tenant, &host.id, 1, t1, both, vec![service("sshd", 1)], vec![])).await;
    publish(&client, &inventory_snapshot(&tenant, &host.id, 2, t2, vec![container("web", 2)], vec![service("sshd", 2)], vec![]))
        .await;
    eventually("two snapshots stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 2 }).await;

    let names = |records: &[ContainerRecord]| records.iter().map(|c| c.metrics.name.clone()).collect::<Vec<_>>();
    let listed: Vec<ContainerRecord> = request(&client, collector::HOST_CONTAINERS, &get_host(&tenant, &host.id)).await.unwrap();
    assert_eq!(names(&listed), vec!["web"]);
    let all: Vec<ContainerRecord> =
        request(&client, collector::LIST_CONTAINERS, &ListContainers { tenant_id: tenant.clone() }).await.unwrap();
    assert_eq!(names(&all), vec!["web"]);
    let gone = GetContainer { tenant_id: tenant.clone(), host_id: host.id.clone(), container_name: "worker".into() };
    let error = request::<_, ContainerRecord>(&client, collector::GET_CONTAINER, &gone).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound, "{error}");
    // its history is still there
    let range = ContainerRange {
        tenant_id: tenant.clone(),
        host_id: host.id.clone(),
        container_name: "worker".into(),
        from: t1,
        to: t3,
        limit: 0,
    };
    let points: Vec<ContainerPoint> = request(&client, collector::CONTAINER_RANGE, &range).await.unwrap();
    assert_eq!(points, vec![ContainerPoint { timestamp: t1, metrics: container("worker", 1) }]);

    // a snapshot with no containers at all empties the list; services too
    publish(&client, &inventory_snapshot(&tenant, &host.id, 3, t3, vec![], vec![], vec![])).await;
    eventually("third snapshot stored", WAIT, || async { count_rows(&db.pool, "metrics_host", &host.id).await == 3 }).await;
    let listed: Vec<ContainerRecord> = request(&client, collector::HOST_CONTAINERS, &get_host(&tenant, &host.id)).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    let services: Vec<ServiceRecord> = request(&client, collector::HOST_SERVICES, &get_host(&tenant, &host.id)).await.unwrap();
    assert!(services.is_empty(), "{services:?}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn containers_of_every_host_of_the_tenant_are_listed_with_their_host() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let running = start_collector(test_config(), &nats, db.pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();
    let a = register(&client, &tenant, "a").await;
    let b = register(&client, &tenant, "b").await;
    let stranger = tenant.clone() + "-s";
    let theirs = register(&client, &stranger, "c").await;
    let at = now_ms();
    publish(&client, &inventory_snapshot(&tenant, &a.id, 1, at, vec![container("web", 1)], vec![], vec![])).await;
    publish(&client, &inventory_snapshot(&tenant, &b.id, 1, at, vec![container("db", 1), container("cache", 1)], vec![], vec![]))
        .await;
    publish(&client, &inventory_snapshot(&stranger, &theirs.id, 1, at, vec![container("secret", 1)], vec![], vec![])).await;
    eventually("three snapshots stored", WAIT, || async {
        count_rows(&db.pool, "metrics_host", &a.id).await
            + count_rows(&db.pool, "metrics_host", &b.id).await
            + count_rows(&db.pool, "metrics_host", &theirs.id).await
            == 3
    })
    .await;

    let all: Vec<ContainerRecord> =
        request(&client, collector::LIST_CONTAINERS, &ListContainers { tenant_id: tenant.clone() }).await.unwrap();
    let seen: Vec<(String, Option<String>, String)> =
        all.iter().map(|c| (c.host_id.clone(), c.host_name.clone(), c.metrics.name.clone())).collect();
    // by host name ("web-a" < "web-b"), then container name
    assert_eq!(
        seen,
        vec![
            (a.id.clone(), Some(a.name.clone()), "web".to_owned()),
            (b.id.clone(), Some(b.name.clone()), "cache".to_owned()),
            (b.id.clone(), Some(b.name.clone()), "db".to_owned()),
        ]
    );
    assert_eq!(all[1].id, format!("{}:cache", b.id));

    let one = GetContainer { tenant_id: tenant.clone(), host_id: b.id.clone(), container_name: "db".into() };
    let record: ContainerRecord = request(&client, collector::GET_CONTAINER, &one).await.unwrap();
    assert_eq!(record.metrics, container("db", 1));
    assert_eq!((record.host_name.as_deref(), record.timestamp), (Some(b.name.as_str()), at));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn inventory_of_another_tenants_host_is_not_found() {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let running = start_collector(test_config(), &nats, db.pool.clone()).await;
    let client = nats.client().await;
    let tenant = tenant();
    let stranger = tenant.clone() + "-s";
    let host = register(&client, &tenant, "m1").await;
    let at = now_ms();
    let sent = inventory_snapshot(
        &tenant,
        &host.id,
        1,
        at,
        vec![container("web", 1)],
        vec![service("sshd", 1)],
        vec![custom("queue", "gauge", 4.0, None)],
    );
    publish(&client, &sent).await;
    eventually("snapshot stored", WAIT, || async { count_rows(&db.pool, "metrics_custom", &host.id).await == 1 }).await;

    let foreign = get_host(&stranger, &host.id);
    let hour = TimeDelta::hours(1);
    let errors = [
        request::<_, Vec<ContainerRecord>>(&client, collector::HOST_CONTAINERS, &foreign).await.unwrap_err(),
        request::<_, Vec<ServiceRecord>>(&client, collector::HOST_SERVICES, &foreign).await.unwrap_err(),
        request::<_, Vec<CustomPoint>>(&client, collector::CUSTOM_LATEST, &foreign).await.unwrap_err(),
        request::<_, ContainerRecord>(
            &client,
            collector::GET_CONTAINER,
            &GetContainer { tenant_id: stranger.clone(), host_id: host.id.clone(), container_name: "web".into() },
        )
        .await
        .unwrap_err(),
        request::<_, Vec<ContainerPoint>>(
            &client,
            collector::CONTAINER_RANGE,
            &ContainerRange {
                tenant_id: stranger.clone(),
                host_id: host.id.clone(),
                container_name: "web".into(),
                from: at - hour,
                to: at + hour,
                limit: 0,
            },
        )
        .await
        .unwrap_err(),
        request::<_, Vec<CustomPoint>>(
            &client,
            collector::CUSTOM_RANGE,
            &CustomRange {
                tenant_id: stranger.clone(),
                host_id: host.id.clone(),
                name: None,
                from: at - hour,
                to: at + hour,
                limit: 0,
            },
        )
        .await
        .unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.code, ErrorCode::NotFound, "{error}");
        assert!(error.message.contains(&host.id), "{error}");
    }
    let listed: Vec<ContainerRecord> =
        request(&client, collector::LIST_CONTAINERS, &ListContainers { tenant_id: stranger }).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    // the owner sees all of it
    let own: Vec<ContainerRecord> = request(&client, collector::HOST_CONTAINERS, &get_host(&tenant, &host.id)).await.unwrap();
    assert_eq!(own.len(), 1);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn custom_metrics_are_stored_with_their_snapshot_once_when_redelivered() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let at = now_ms() - TimeDelta::seconds(5);
    let metrics = vec![
        custom("queue_depth", "gauge", 17.25, None),
        custom("jobs_total", "counter", 9_007_199_254_740_991.0, None),
        custom("tiny", "gauge", 1.0e-12, None),
        custom("backup_age", "gauge", 0.0, Some("command timed out after 5s")),
    ];
    let sent = inventory_snapshot(&tenant, &host.id, 1, at, vec![], vec![], metrics.clone());
    let subject = vigil_bus::subjects::metrics(&tenant, &host.id);
    let payload = serde_json::to_vec(&sent).unwrap();
    // different msg ids: JetStream keeps both, the collector sees the snapshot twice
    publish_raw(&client, subject.clone(), payload.clone(), "copy-1").await;
    publish_raw(&client, subject, payload, "copy-2").await;
    eventually("both copies settled", WAIT, || async {
        let info = collector_consumer_info(&client).await;
        info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence == 2
    })
    .await;
    assert_eq!(count_rows(&db.pool, "metrics_custom", &host.id).await, 4);
    assert_eq!(count_rows(&db.pool, "metrics_host", &host.id).await, 1);

    let range = CustomRange {
        tenant_id: tenant.clone(),
        host_id: host.id.clone(),
        name: None,
        from: at - TimeDelta::seconds(1),
        to: at + TimeDelta::seconds(1),
        limit: 0,
    };
    let points: Vec<CustomPoint> = request(&client, collector::CUSTOM_RANGE, &range).await.unwrap();
    // same timestamp: by name; values exactly as sent
    let mut expected: Vec<CustomPoint> = metrics
        .iter()
        .map(|m| CustomPoint {
            name: m.name.clone(),
            kind: m.kind.clone(),
            value: m.value,
            error: m.error.clone(),
            timestamp: at,
        })
        .collect();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(points, expected);

    // a newer snapshot with one metric only: latest is per name
    let later = at + TimeDelta::seconds(2);
    publish(
        &client,
        &inventory_snapshot(&tenant, &host.id, 2, later, vec![], vec![], vec![custom("queue_depth", "gauge", 3.5, None)]),
    )
    .await;
    eventually("second snapshot stored", WAIT, || async { count_rows(&db.pool, "metrics_custom", &host.id).await == 5 }).await;
    let latest: Vec<CustomPoint> = request(&client, collector::CUSTOM_LATEST, &get_host(&tenant, &host.id)).await.unwrap();
    let summary: Vec<(String, f64, DateTime<Utc>)> = latest.iter().map(|p| (p.name.clone(), p.value, p.timestamp)).collect();
    assert_eq!(
        summary,
        vec![
            ("backup_age".to_owned(), 0.0, at),
            ("jobs_total".to_owned(), 9_007_199_254_740_991.0, at),
            ("queue_depth".to_owned(), 3.5, later),
            ("tiny".to_owned(), 1.0e-12, at),
        ]
    );
    assert_eq!(latest[0].error.as_deref(), Some("command timed out after 5s"));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn custom_range_is_oldest_first_filtered_by_name_and_limited() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let t0 = now_ms() - TimeDelta::minutes(10);
    for i in [3i64, 0, 4, 1, 2] {
        let metrics = vec![custom("a", "gauge", i as f64, None), custom("b", "counter", 100.0 + i as f64, None)];
        publish(&client, &inventory_snapshot(&tenant, &host.id, i as u64, t0 + TimeDelta::seconds(i), vec![], vec![], metrics))
            .await;
    }
    eventually("10 points stored", WAIT, || async { count_rows(&db.pool, "metrics_custom", &host.id).await == 10 }).await;

    let ask = |name: Option<&str>, from, to, limit| CustomRange {
        tenant_id: tenant.clone(),
        host_id: host.id.clone(),
        name: name.map(str::to_owned),
        from,
        to,
        limit,
    };
    let points: Vec<CustomPoint> =
        request(&client, collector::CUSTOM_RANGE, &ask(None, t0 + TimeDelta::seconds(1), t0 + TimeDelta::seconds(2), 0))
            .await
            .unwrap();
    let seen: Vec<(String, f64)> = points.iter().map(|p| (p.name.clone(), p.value)).collect();
    assert_eq!(seen, vec![("a".into(), 1.0), ("b".into(), 101.0), ("a".into(), 2.0), ("b".into(), 102.0)]);

    let only_b: Vec<CustomPoint> =
        request(&client, collector::CUSTOM_RANGE, &ask(Some("b"), t0, t0 + TimeDelta::seconds(10), 3)).await.unwrap();
    let seen: Vec<(f64, DateTime<Utc>)> = only_b.iter().map(|p| (p.value, p.timestamp)).collect();
    assert_eq!(seen, (0..3).map(|i| (100.0 + i as f64, t0 + TimeDelta::seconds(i))).collect::<Vec<_>>());
    assert!(only_b.iter().all(|p| p.kind == "counter" && p.error.is_none()));

    let error = request::<_, Vec<CustomPoint>>(&client, collector::CUSTOM_RANGE, &ask(None, t0 + TimeDelta::seconds(5), t0, 0))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);
    let long = "n".repeat(101);
    let error = request::<_, Vec<CustomPoint>>(&client, collector::CUSTOM_RANGE, &ask(Some(&long), t0, t0, 0)).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.contains(&long), "{error}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn container_range_is_oldest_first_and_bad_container_names_are_refused() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("m1").await;

    let t0 = now_ms() - TimeDelta::minutes(10);
    for i in [2u64, 0, 1] {
        let at = t0 + TimeDelta::seconds(i as i64);
        publish(
            &client,
            &inventory_snapshot(&tenant, &host.id, i, at, vec![container("web", i), container("db", i)], vec![], vec![]),
        )
        .await;
    }
    eventually("6 container rows stored", WAIT, || async { count_rows(&db.pool, "metrics_container", &host.id).await == 6 })
        .await;

    let ask = |name: &str, limit| ContainerRange {
        tenant_id: tenant.clone(),
        host_id: host.id.clone(),
        container_name: name.to_owned(),
        from: t0,
        to: t0 + TimeDelta::seconds(10),
        limit,
    };
    let points: Vec<ContainerPoint> = request(&client, collector::CONTAINER_RANGE, &ask("web", 0)).await.unwrap();
    let expected: Vec<ContainerPoint> =
        (0..3).map(|i| ContainerPoint { timestamp: t0 + TimeDelta::seconds(i as i64), metrics: container("web", i) }).collect();
    assert_eq!(points, expected);
    let limited: Vec<ContainerPoint> = request(&client, collector::CONTAINER_RANGE, &ask("web", 2)).await.unwrap();
    assert_eq!(limited, expected[..2]);
    // names compare byte for byte
    let other_case: Vec<ContainerPoint> = request(&client, collector::CONTAINER_RANGE, &ask("WEB", 0)).await.unwrap();
    assert!(other_case.is_empty(), "{other_case:?}");

    for bad in ["a/b", "", "web:1", "a b"] {
        let error = request::<_, Vec<ContainerPoint>>(&client, collector::CONTAINER_RANGE, &ask(bad, 0)).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::BadRequest, "{bad:?}: {error}");
        let get = GetContainer { tenant_id: tenant.clone(), host_id: host.id.clone(), container_name: bad.to_owned() };
        let error = request::<_, ContainerRecord>(&client, collector::GET_CONTAINER, &get).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::BadRequest, "{bad:?}: {error}");
    }
    let bad_host = GetContainer { tenant_id: tenant.clone(), host_id: "a.b".into(), container_name: "web".into() };
    let error = request::<_, ContainerRecord>(&client, collector::GET_CONTAINER, &bad_host).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::BadRequest);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn inventory_tables_have_a_host_time_index_and_custom_is_partitioned() {
    let db = TestDb::create().await;
    for table in ["metrics_container", "metrics_service", "metrics_custom"] {
        let keys: Vec<(String, u64, String)> = sqlx::query_as(
            "SELECT INDEX_NAME, CAST(SEQ_IN_INDEX AS UNSIGNED), COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'idx_host_time' ORDER BY SEQ_IN_INDEX",
        )
        .bind(table)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(
            keys,
            vec![("idx_host_time".to_owned(), 1, "host_id".to_owned()), ("idx_host_time".to_owned(), 2, "timestamp".to_owned())],
            "{table}"
        );
    }
    let partitioned: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'metrics_custom' \
         AND PARTITION_NAME IN ('p_past', 'p_future')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(partitioned, 2);
}
