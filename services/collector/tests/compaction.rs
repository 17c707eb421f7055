//! Compaction (services/collector/src/compact.rs): complete hours of raw
//! rows folded into one `metrics_chunk` row per host and hour, every answer
//! of the collector unchanged, redelivered and late snapshots kept once.
//! Real nats-server (one per test) and MariaDB (one database per test); the
//! snapshots are the benchmark's realistic `seed` host.

mod common;

use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, DurationRound, Utc};
use serde_json::Value;
use vigil_bus::messages::*;
use vigil_bus::rpc::request;
use vigil_bus::subjects::collector;
use vigil_collector::{compact, downsample, Retention};
use vigil_testkit::bus::{collector_consumer_info, publish_raw};
use vigil_testkit::eventually;
use vigil_testkit::shapes::{HostSeries, Shape};

use common::*;

const WAIT: Duration = Duration::from_secs(30);

/// Every answer the collector gives about `host` over `from ..= to`, as JSON.
async fn answers(
    client: &async_nats::Client,
    tenant: &str,
    host: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(String, Value)> {
    async fn ask<Req: serde::Serialize, Resp: serde::de::DeserializeOwned + serde::Serialize>(
        client: &async_nats::Client,
        endpoint: vigil_bus::subjects::Endpoint<Req, Resp>,
        body: &Req,
    ) -> Value {
        let answer: Resp = request(client, endpoint, body).await.unwrap_or_else(|e| panic!("{}: {e}", endpoint.subject()));
        serde_json::to_value(answer).expect("encode")
    }
    let of_host = GetHost { tenant_id: tenant.to_owned(), host_id: host.to_owned() };
    let range =
        |step: u32, limit: u32| MetricsRange { tenant_id: tenant.to_owned(), host_id: host.to_owned(), from, to, limit, step };
    let custom = |name: Option<&str>| CustomRange {
        tenant_id: tenant.to_owned(),
        host_id: host.to_owned(),
        name: name.map(str::to_owned),
        from,
        to,
        limit: 0,
    };
    let history = |step: u32| FleetHistoryQuery {
        tenant_id: tenant.to_owned(),
        host_ids: vec![],
        from,
        to,
        step,
        source: Some(HistorySource::Raw),
    };
    let hourly = HourlyRange { tenant_id: tenant.to_owned(), host_id: host.to_owned(), from: from - TimeDelta::hours(1), to };
    let container = ContainerRange {
        tenant_id: tenant.to_owned(),
        host_id: host.to_owned(),
        container_name: "postgres".to_owned(),
        from,
        to,
        limit: 0,
    };
    let latest_page = LatestPage {
        tenant_id: tenant.to_owned(),
        after: None,
        limit: 10,
        fresh_since: from - TimeDelta::days(1),
        shard: 0,
        shards: 0,
    };
    vec![
        ("range".into(), ask(client, collector::METRICS_RANGE, &range(0, 0)).await),
        ("range step 600".into(), ask(client, collector::METRICS_RANGE, &range(600, 0)).await),
        ("range step 7 limit 50".into(), ask(client, collector::METRICS_RANGE, &range(7, 50)).await),
        ("latest".into(), ask(client, collector::METRICS_LATEST, &of_host).await),
        ("hourly".into(), ask(client, collector::METRICS_HOURLY, &hourly).await),
        ("history step 60".into(), ask(client, collector::METRICS_HISTORY, &history(60)).await),
        ("history step 900".into(), ask(client, collector::METRICS_HISTORY, &history(900)).await),
        ("containers".into(), ask(client, collector::HOST_CONTAINERS, &of_host).await),
        ("container range".into(), ask(client, collector::CONTAINER_RANGE, &container).await),
        ("services".into(), ask(client, collector::HOST_SERVICES, &of_host).await),
        ("custom range".into(), ask(client, collector::CUSTOM_RANGE, &custom(None)).await),
        ("custom range one".into(), ask(client, collector::CUSTOM_RANGE, &custom(Some("queue_depth"))).await),
        ("custom latest".into(), ask(client, collector::CUSTOM_LATEST, &of_host).await),
        ("hosts latest".into(), ask(client, collector::HOSTS_LATEST, &latest_page).await),
    ]
}

fn assert_same(before: &[(String, Value)], after: &[(String, Value)]) {
    for ((name, before), (_, after)) in before.iter().zip(after) {
        assert!(before != &Value::Array(vec![]), "{name}: the test reads something");
        assert_eq!(before, after, "{name} changed");
    }
}

/// The shape's snapshot with custom metrics: `queue_depth` always,
/// `backup_age` until minute 100 (then no more: its newest point stays raw).
fn with_custom(mut snapshot: MetricsSnapshot, minute: i64) -> MetricsSnapshot {
    snapshot.custom = vec![CustomMetric {
        name: "queue_depth".into(),
        kind: "gauge".into(),
        value: (minute as f64).sin() * 1e6,
        error: (minute % 50 == 0).then(|| "timed out".to_owned()),
    }];
    if minute < 100 {
        snapshot.custom.push(CustomMetric { name: "backup_age".into(), kind: "gauge".into(), value: 1.5, error: None });
    }
    snapshot
}

/// Publishes `snapshot` with its own message id (a redelivery is a second message).
async fn send(client: &async_nats::Client, snapshot: &MetricsSnapshot, msg_id: &str) {
    let subject = vigil_bus::subjects::metrics(&snapshot.tenant_id, &snapshot.host_id);
    publish_raw(client, subject, serde_json::to_vec(snapshot).expect("encode"), msg_id).await;
}

async fn settled(client: &async_nats::Client, messages: u64) {
    eventually("every snapshot stored", WAIT, || async {
        let info = collector_consumer_info(client).await;
        info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence == messages
    })
    .await;
}

#[tokio::test]
async fn compacted_hours_answer_exactly_as_their_raw_rows_did() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("compact-1").await;
    let pool = &db.pool;
    // three complete hours, one snapshot a minute, the last 30 s before this hour
    let this_hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    let start = this_hour - TimeDelta::hours(3) + TimeDelta::milliseconds(1234);
    let mut series = HostSeries::new(Shape::Seed, 7);
    let mut snapshots = Vec::new();
    for minute in 0..180 {
        snapshots.push(with_custom(series.next_snapshot(&tenant, &host.id, start + TimeDelta::minutes(minute)), minute));
    }
    for (i, snapshot) in snapshots.iter().enumerate() {
        send(&client, snapshot, &format!("s-{i}")).await;
    }
    settled(&client, 180).await;
    let (from, to) = (start - TimeDelta::minutes(5), this_hour);
    // the hourly rows of those hours, as the scheduled run makes them from raw rows
    let retention = Retention::of(&test_config());
    downsample(pool, this_hour + TimeDelta::minutes(1), &retention, &[], true).await.unwrap();
    let before = answers(&client, &tenant, &host.id, from, to).await;

    let report = compact(pool, this_hour + TimeDelta::minutes(1)).await.unwrap();
    assert_eq!((report.chunks, report.snapshots, report.skipped), (3, 180, 0), "{report:?}");
    assert_eq!(count_rows(pool, "metrics_chunk", &host.id).await, 3);
    // left raw: the host's newest snapshot (1 host row, its 5 containers and 4
    // services, 1 custom point) and backup_age's newest point
    assert_eq!(count_rows(pool, "metrics_host", &host.id).await, 1);
    assert_eq!(count_rows(pool, "metrics_container", &host.id).await, 5);
    assert_eq!(count_rows(pool, "metrics_service", &host.id).await, 4);
    assert_eq!(count_rows(pool, "metrics_custom", &host.id).await, 2);
    assert_same(&before, &answers(&client, &tenant, &host.id, from, to).await);
    // nothing left to fold: a second run changes nothing
    let again = compact(pool, this_hour + TimeDelta::minutes(1)).await.unwrap();
    assert_eq!(again.chunks, 0, "{again:?}");

    // a snapshot redelivered after its hour was folded: stored raw, folded
    // again, the chunk's copy wins; every answer the same
    send(&client, &snapshots[30], "again-30").await;
    settled(&client, 181).await;
    assert_eq!(count_rows(pool, "metrics_host", &host.id).await, 2);
    assert_same(&before, &answers(&client, &tenant, &host.id, from, to).await);
    let report = compact(pool, this_hour + TimeDelta::minutes(1)).await.unwrap();
    assert_eq!((report.chunks, report.deleted_rows), (0, 5 + 4 + 1 + 1 + 1), "only the copy's rows go: {report:?}");
    assert_eq!(count_rows(pool, "metrics_host", &host.id).await, 1);
    assert_same(&before, &answers(&client, &tenant, &host.id, from, to).await);

    // a late snapshot of a folded hour (an agent replaying its queue): read
    // at once, folded by the next run, counted in its hour's hourly row
    let late_at = start + TimeDelta::minutes(30) + TimeDelta::seconds(20);
    let late = series.next_snapshot(&tenant, &host.id, late_at);
    send(&client, &late, "late").await;
    settled(&client, 182).await;
    let with_late = answers(&client, &tenant, &host.id, from, to).await;
    let range: Vec<MetricsPoint> = serde_json::from_value(with_late[0].1.clone()).unwrap();
    assert_eq!(range.len(), 181);
    assert_eq!(range[31].timestamp, late_at, "in time order, between the chunk's snapshots");
    let report = compact(pool, this_hour + TimeDelta::minutes(1)).await.unwrap();
    assert_eq!((report.chunks, report.snapshots), (1, 61), "{report:?}");
    let after_late = answers(&client, &tenant, &host.id, from, to).await;
    for ((name, with), (_, after)) in with_late.iter().zip(&after_late) {
        if name != "hourly" {
            assert_eq!(with, after, "{name} changed when the late snapshot was folded");
        }
    }
    let hourly: Vec<HourlyPoint> = serde_json::from_value(after_late[4].1.clone()).unwrap();
    assert_eq!(hourly.iter().map(|h| h.values.samples).collect::<Vec<_>>(), vec![61, 60, 60], "{hourly:?}");

    running.stop().await.unwrap();
}

#[tokio::test]
async fn hourly_rows_of_compacted_hours_are_the_ones_the_raw_rows_gave() {
    // the compaction writes each folded hour's hourly row itself (late
    // snapshots included); it must equal what the SQL fold gives
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("compact-2").await;
    let pool = &db.pool;
    let this_hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    let start = this_hour - TimeDelta::hours(2);
    let mut series = HostSeries::new(Shape::Docker, 3);
    for i in 0..240 {
        let snapshot = series.next_snapshot(&tenant, &host.id, start + TimeDelta::seconds(30 * i));
        send(&client, &snapshot, &format!("d-{i}")).await;
    }
    settled(&client, 240).await;
    let retention = Retention::of(&test_config());
    downsample(pool, this_hour + TimeDelta::minutes(1), &retention, &[], true).await.unwrap();
    let hourly = HourlyRange { tenant_id: tenant.clone(), host_id: host.id.clone(), from: start, to: this_hour };
    let folded: Vec<HourlyPoint> = request(&client, collector::METRICS_HOURLY, &hourly).await.unwrap();
    assert_eq!(folded.len(), 2);
    // drop the SQL fold's rows: the compaction writes them again from the
    // snapshots; two collectors at once, each hour folded once
    sqlx::query("DELETE FROM metrics_host_hourly").execute(pool).await.unwrap();
    let (one, two) = tokio::join!(compact(pool, this_hour), compact(pool, this_hour));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.chunks + two.chunks, 2, "{one:?} {two:?}");
    assert_eq!(count_rows(pool, "metrics_chunk", &host.id).await, 2);
    assert_eq!(count_rows(pool, "metrics_host", &host.id).await, 1);
    let compacted: Vec<HourlyPoint> = request(&client, collector::METRICS_HOURLY, &hourly).await.unwrap();
    assert_eq!(folded, compacted);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_chunk_that_does_not_decode_is_an_error_naming_it_and_never_overwritten() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("compact-3").await;
    let pool = &db.pool;
    let this_hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    let start = this_hour - TimeDelta::hours(2);
    let mut series = HostSeries::new(Shape::Small, 1);
    for i in 0..6 {
        send(&client, &series.next_snapshot(&tenant, &host.id, start + TimeDelta::minutes(20 * i)), &format!("x-{i}")).await;
    }
    settled(&client, 6).await;
    assert_eq!(compact(pool, this_hour).await.unwrap().chunks, 2);
    sqlx::query("UPDATE metrics_chunk SET data = 'not a chunk' WHERE host_id = ? AND hour = ?")
        .bind(&host.id)
        .bind(start.naive_utc())
        .execute(pool)
        .await
        .unwrap();
    let range =
        MetricsRange { tenant_id: tenant.clone(), host_id: host.id.clone(), from: start, to: this_hour, limit: 0, step: 0 };
    let error = request::<_, Vec<MetricsPoint>>(&client, collector::METRICS_RANGE, &range).await.unwrap_err();
    assert!(error.to_string().contains("reading metrics"), "{error}"); // the cause is logged, not told
                                                                       // a late snapshot of that hour stays raw: the broken chunk is not replaced
    send(&client, &series.next_snapshot(&tenant, &host.id, start + TimeDelta::minutes(5)), "late").await;
    settled(&client, 7).await;
    let report = compact(pool, this_hour).await.unwrap();
    assert_eq!((report.chunks, report.skipped), (0, 1), "{report:?}");
    let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM metrics_chunk WHERE host_id = ? AND hour = ?")
        .bind(&host.id)
        .bind(start.naive_utc())
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(data, b"not a chunk");
    // the other host-hours still answer
    let second = MetricsRange { from: start + TimeDelta::hours(1), ..range };
    let points: Vec<MetricsPoint> = request(&client, collector::METRICS_RANGE, &second).await.unwrap();
    assert_eq!(points.len(), 3);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_database_of_the_previous_release_converts_in_place() {
    // The previous release wrote the same raw rows (services/collector/src/ingest.rs
    // is unchanged by the chunks) and had no metrics_chunk table. Fill the
    // raw tables through the collector, take the database back to the
    // previous release's schema, then run the migrations and a compaction as
    // an upgraded server does.
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("compact-4").await;
    let pool = &db.pool;
    let this_hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    let start = this_hour - TimeDelta::hours(4);
    let mut series = HostSeries::new(Shape::Seed, 11);
    for i in 0..240 {
        let snapshot = with_custom(series.next_snapshot(&tenant, &host.id, start + TimeDelta::minutes(i)), i);
        send(&client, &snapshot, &format!("p-{i}")).await;
    }
    settled(&client, 240).await;
    running.stop().await.unwrap();
    sqlx::query("DROP TABLE metrics_chunk").execute(pool).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 20261208000001").execute(pool).await.unwrap();
    let raw_before = count_rows(pool, "metrics_host", &host.id).await;
    assert_eq!(raw_before, 240);

    vigil_testkit::migrate(pool).await;
    let running = start_collector(test_config(), &_nats, pool.clone()).await;
    let (from, to) = (start, this_hour);
    downsample(pool, this_hour, &Retention::of(&test_config()), &[], true).await.unwrap();
    let before = answers(&client, &tenant, &host.id, from, to).await;
    let report = compact(pool, this_hour).await.unwrap();
    assert_eq!((report.chunks, report.snapshots), (4, 240), "{report:?}");
    assert_eq!(count_rows(pool, "metrics_host", &host.id).await, 1, "only the newest snapshot stays raw");
    assert_same(&before, &answers(&client, &tenant, &host.id, from, to).await);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_current_hour_is_folded_run_by_run_and_its_hourly_row_waits_for_its_end() {
    let OneHost { nats: _nats, db, running, client, tenant, host } = OneHost::start("compact-5").await;
    let pool = &db.pool;
    let this_hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    let hour = this_hour - TimeDelta::hours(2);
    let mut series = HostSeries::new(Shape::Seed, 5);
    for minute in 0..70 {
        let snapshot = with_custom(series.next_snapshot(&tenant, &host.id, hour + TimeDelta::minutes(minute)), minute);
        send(&client, &snapshot, &format!("c-{minute}")).await;
    }
    settled(&client, 70).await;
    let (from, to) = (hour, hour + TimeDelta::minutes(70));
    let raw = answers(&client, &tenant, &host.id, from, to).await;
    let hourly = |from| HourlyRange { tenant_id: tenant.clone(), host_id: host.id.clone(), from, to: this_hour };
    // runs at a quarter past and half past: the hour's first part folded, no hourly row yet
    let quarter = compact(pool, hour + TimeDelta::minutes(15)).await.unwrap();
    assert_eq!((quarter.chunks, quarter.snapshots), (1, 15), "{quarter:?}");
    let half = compact(pool, hour + TimeDelta::minutes(30)).await.unwrap();
    assert_eq!((half.chunks, half.snapshots), (1, 30), "{half:?}");
    assert_eq!(count_rows(pool, "metrics_host", &host.id).await, 40);
    let rows: Vec<HourlyPoint> = request(&client, collector::METRICS_HOURLY, &hourly(hour)).await.unwrap();
    assert!(rows.is_empty(), "no hourly row before the hour is over: {rows:?}");
    for ((name, before), (_, after)) in raw.iter().zip(&answers(&client, &tenant, &host.id, from, to).await) {
        if name != "hourly" {
            assert_eq!(before, after, "{name} changed by a partial fold");
        }
    }
    // the run after the hour: the rest folded, the hour's row written from all 60
    let over = compact(pool, hour + TimeDelta::minutes(61)).await.unwrap();
    assert_eq!((over.chunks, over.snapshots), (2, 60 + 1), "the hour, and the next one's first minute: {over:?}");
    let rows: Vec<HourlyPoint> = request(&client, collector::METRICS_HOURLY, &hourly(hour)).await.unwrap();
    assert_eq!(rows.iter().map(|r| (r.hour, r.values.samples)).collect::<Vec<_>>(), vec![(hour, 60)]);
    running.stop().await.unwrap();
}
