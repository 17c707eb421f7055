//! Long history and the fleet view (issue 12 point 5, seed §4.2, §4.3) on
//! the whole stack: real `vigil` processes, a private nats-server, a fresh
//! MariaDB database, simulated agents speaking the real gRPC+TLS protocol.
//!
//! - daily rows folded from hourly ones (idempotent, late data redone),
//!   served by `/api/hosts/{id}/metrics/daily` and `/api/metrics/history`;
//! - retention deletes per the server's config and per tenant;
//! - `/api/metrics/overview` against a known fleet;
//! - `/api/metrics/history` steps and host filters, another tenant's host
//!   invisible, bad parameters a 422 naming them;
//! - `/api/config/tenant` round trip, limits, admins only, and its interval
//!   reaching agents held by two gateways (`ConfigUpdate`);
//! - a bad downsample schedule refused by `vigil config check`.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use vigil_gateway::admin;
use vigil_testkit::eventually;
use vigil_testkit::schemas::checked_request;
use vigil_tests::{sim, Stack, TenantFixture};

use crate::{get, send};

const WAIT: Duration = Duration::from_secs(30);

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc)).expect("a time")
}

fn today() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::days(1)).unwrap()
}

async fn put(stack: &Stack, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(stack, Method::PUT, path, token, Some(body)).await
}

/// Waits until the host has `count` raw points since `from`.
async fn stored(stack: &Stack, jwt: &str, host: &str, from: DateTime<Utc>, count: usize) {
    let path = format!("/api/hosts/{host}/metrics?from={}&limit=10000", from.timestamp());
    eventually(&format!("{count} points of {host} stored"), WAIT, || async {
        let (_, body) = get(stack, &path, jwt).await;
        let stored = body["points"].as_array().map(Vec::len);
        if stored == Some(count) {
            Ok(())
        } else {
            Err(stored)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_rows_are_folded_from_hourly_ones_idempotently_and_late_data_reaches_its_day() {
    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let mut collector = stack.spawn(&["collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let mut agent = sim::Agent::start(&stack, &acme.token, "daily-1").await.unwrap();
    let (d3, d2) = (today() - TimeDelta::days(3), today() - TimeDelta::days(2));
    let ten = TimeDelta::hours(10);
    agent.send(d3 + ten, 10.0).await;
    agent.send(d3 + ten + TimeDelta::minutes(30), 30.0).await;
    agent.send(d2 + ten, 50.0).await;
    stored(&stack, &jwt, &agent.host, d3, 3).await;

    // a starting collector folds the hours, then the complete days
    collector.stop();
    collector = stack.spawn(&["collector"]).await.unwrap();
    let daily = format!("/api/hosts/{}/metrics/daily?from={}", agent.host, (d3 - TimeDelta::days(1)).timestamp());
    let first = eventually("two daily rows", WAIT, || async {
        let (status, body) = get(&stack, &daily, &jwt).await;
        (status == 200 && body["points"].as_array().map(Vec::len) == Some(2)).then_some(body)
    })
    .await;
    let points = &first["points"];
    assert_eq!((at(&points[0]["day"]), &points[0]["samples"]), (d3, &json!(2)), "{first}");
    assert_eq!((points[0]["cpu_avg"].as_f64(), points[0]["cpu_max"].as_f64()), (Some(20.0), Some(30.0)), "{first}");
    assert_eq!((at(&points[1]["day"]), points[1]["cpu_avg"].as_f64()), (d2, Some(50.0)), "{first}");
    // the fleet history reads the same days with a step of a day
    let window = format!("from={}&to={}", d3.timestamp(), today().timestamp());
    let (status, history) = get(&stack, &format!("/api/metrics/history?{window}&step=1d"), &jwt).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!((history["source"].as_str(), history["step"].as_u64()), (Some("daily"), Some(86_400)), "{history}");
    let cpu: Vec<Option<f64>> = history["points"].as_array().unwrap().iter().map(|p| p["cpu_avg"].as_f64()).collect();
    assert_eq!(cpu, vec![Some(20.0), Some(50.0)], "{history}");

    // another run (a restart) writes the same rows
    collector.stop();
    collector = stack.spawn(&["collector"]).await.unwrap();
    let (_, again) = get(&stack, &daily, &jwt).await;
    assert_eq!(again["points"], first["points"], "idempotent");

    // a snapshot replayed late, within the hours the next run redoes, reaches its day
    agent.send(d2 + ten - TimeDelta::minutes(30), 90.0).await;
    stored(&stack, &jwt, &agent.host, d3, 4).await;
    collector.stop();
    let _collector = stack.spawn(&["collector"]).await.unwrap();
    let late = eventually("day d2 with the late snapshot", WAIT, || async {
        let (_, body) = get(&stack, &daily, &jwt).await;
        (body["points"][1]["samples"] == json!(2)).then_some(body)
    })
    .await;
    assert_eq!(
        (late["points"][1]["cpu_avg"].as_f64(), late["points"][1]["cpu_max"].as_f64()),
        (Some(70.0), Some(90.0)),
        "{late}"
    );
    assert_eq!(late["points"][0], first["points"][0], "day d3 unchanged");

    // the bus endpoint behind it, against its schema
    let nats = stack.nats.client().await;
    let body = json!({"tenant_id": "acme", "host_id": agent.host, "from": d3.to_rfc3339(), "to": today().to_rfc3339()});
    let reply = checked_request(&nats, "vigil.collector.metrics.daily", "collector-metrics-daily.schema.json", body).await;
    assert_eq!(reply["ok"], late["points"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_follow_the_server_config_and_each_tenants_shorter_settings() {
    let mut stack = Stack::new().await.unwrap();
    stack.extra_env.insert("VIGIL_COLLECTOR_RETENTION_DAILY".into(), "4d".into());
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let mut collector = stack.spawn(&["collector"]).await.unwrap();
    let (acme, globex) = (stack.tenant("acme").await.unwrap(), stack.tenant("globex").await.unwrap());
    let (acme_jwt, globex_jwt) = (stack.login(&acme).await.unwrap(), stack.login(&globex).await.unwrap());
    let mut a = sim::Agent::start(&stack, &acme.token, "acme-1").await.unwrap();
    let mut g = sim::Agent::start(&stack, &globex.token, "globex-1").await.unwrap();
    let (d5, d2) = (today() - TimeDelta::days(5), today() - TimeDelta::days(2));
    for agent in [&mut a, &mut g] {
        agent.send(d5 + TimeDelta::hours(10), 10.0).await;
        agent.send(d2 + TimeDelta::hours(10), 20.0).await;
    }
    stored(&stack, &acme_jwt, &a.host, d5, 2).await;
    stored(&stack, &globex_jwt, &g.host, d5, 2).await;

    // acme keeps raw snapshots a day and hourly rows three days; more daily
    // rows than the server keeps is refused
    let settings = json!({"name": "Acme", "retention": {"raw": "1d", "hourly": "3d", "daily": "5d"}});
    let (status, body) = put(&stack, "/api/config/tenant", &acme_jwt, settings).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with("retention.daily: \"5d\" is longer than the server's limit of 4d"),
        "{body}"
    );
    let settings = json!({"name": "Acme", "retention": {"raw": "1d", "hourly": "3d"}});
    let (status, body) = put(&stack, "/api/config/tenant", &acme_jwt, settings).await;
    assert_eq!(status, 200, "{body}");

    // the next run (a starting collector) folds, then deletes
    collector.stop();
    let _collector = stack.spawn(&["collector"]).await.unwrap();
    let count = |jwt: String, path: String| {
        let stack = &stack;
        async move { get(stack, &path, &jwt).await.1["points"].as_array().map(Vec::len) }
    };
    let window = format!("from={}", (d5 - TimeDelta::days(1)).timestamp());
    let kinds = |host: &str| {
        (
            format!("/api/hosts/{host}/metrics?{window}&limit=10000"),
            format!("/api/hosts/{host}/metrics/hourly?{window}"),
            format!("/api/hosts/{host}/metrics/daily?{window}"),
        )
    };
    let (a_raw, a_hourly, a_daily) = kinds(&a.host);
    let (g_raw, g_hourly, g_daily) = kinds(&g.host);
    eventually("acme's rows past its retentions deleted", WAIT, || async {
        let counts = (
            count(acme_jwt.clone(), a_raw.clone()).await,
            count(acme_jwt.clone(), a_hourly.clone()).await,
            count(acme_jwt.clone(), a_daily.clone()).await,
        );
        // raw: none (older than a day); hourly: d2 only; daily: d2 only (server: 4 days)
        if counts == (Some(0), Some(1), Some(1)) {
            Ok(())
        } else {
            Err(counts)
        }
    })
    .await;
    let globex_counts = (
        count(globex_jwt.clone(), g_raw).await,
        count(globex_jwt.clone(), g_hourly).await,
        count(globex_jwt.clone(), g_daily).await,
    );
    // globex: the server's retentions only (raw 7 days, hourly 90 days, daily 4 days)
    assert_eq!(globex_counts, (Some(2), Some(2), Some(1)));

    // the gateway's endpoint the collector asked
    let nats = stack.nats.client().await;
    let reply =
        checked_request(&nats, "vigil.gateway.tenants.retention", "gateway-tenants-retention.schema.json", json!({})).await;
    assert_eq!(reply["ok"], json!([{"tenant_id": "acme", "raw_seconds": 86_400, "hourly_seconds": 259_200}]));
}

/// A snapshot of `host` now with these usages and inventory.
fn fleet_snapshot(
    metrics: &mut vigil_proto::Metrics,
    cpu: f64,
    memory_gib: u64,
    disk_gib: u64,
    containers: &[(&str, &str)],
    services: &[(&str, &str)],
) {
    let host = metrics.host.as_mut().unwrap();
    host.cpu.as_mut().unwrap().percent = cpu;
    let memory = host.memory.as_mut().unwrap();
    (memory.total, memory.used) = (8 << 30, memory_gib << 30);
    let mount = &mut host.disk.as_mut().unwrap().mounts[0];
    (mount.total, mount.used) = (100 << 30, disk_gib << 30);
    metrics.containers = containers
        .iter()
        .map(|(name, status)| vigil_proto::ContainerMetrics {
            name: (*name).to_owned(),
            runtime: "docker".to_owned(),
            status: (*status).to_owned(),
            ..Default::default()
        })
        .collect();
    metrics.services = services
        .iter()
        .map(|(name, status)| vigil_proto::ServiceMetrics {
            name: (*name).to_owned(),
            status: (*status).to_owned(),
            ..Default::default()
        })
        .collect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_a_known_fleet_and_only_the_tenants() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector", "alerter"]).await.unwrap();
    let (acme, globex) = (stack.tenant("acme").await.unwrap(), stack.tenant("globex").await.unwrap());
    let (jwt, globex_jwt) = (stack.login(&acme).await.unwrap(), stack.login(&globex).await.unwrap());
    // h3 reported once, a minute ago: offline after collector.offline_after (5 s here)
    let mut h3 = sim::Agent::start(&stack, &acme.token, "h3").await.unwrap();
    h3.send_with(Utc::now() - TimeDelta::minutes(1), |m| fleet_snapshot(m, 99.0, 8, 100, &[("old", "running")], &[])).await;
    let mut g1 = sim::Agent::start(&stack, &globex.token, "g1").await.unwrap();
    g1.send_with(Utc::now(), |m| fleet_snapshot(m, 100.0, 8, 100, &[("x", "running")], &[("y", "active")])).await;
    // h1 and h2 keep reporting
    let mut h1 = sim::Agent::start(&stack, &acme.token, "h1").await.unwrap();
    let mut h2 = sim::Agent::start(&stack, &acme.token, "h2").await.unwrap();
    let reporting = tokio::spawn(async move {
        loop {
            let now = Utc::now();
            h1.send_with(now, |m| {
                fleet_snapshot(
                    m,
                    20.0,
                    2,
                    40,
                    &[("web", "running"), ("batch", "exited")],
                    &[("nginx", "active"), ("cron", "failed")],
                )
            })
            .await;
            h2.send_with(now, |m| fleet_snapshot(m, 60.0, 6, 80, &[("db", "running")], &[])).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let overview = eventually("2 of 3 hosts online", WAIT, || async {
        let (status, body) = get(&stack, "/api/metrics/overview", &jwt).await;
        if status == 200 && body["hosts"] == json!({"total": 3, "online": 2, "offline": 1, "degraded": 0}) {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await;
    reporting.abort();
    // h3's old snapshot still counts for its containers (the latest of every host)
    assert_eq!(overview["containers"], json!({"running": 3, "total": 4}), "{overview}");
    assert_eq!(overview["services"], json!({"running": 1, "total": 2}), "{overview}");
    // usage of the online hosts only: h3 (99 %, full) is left out, globex never counts
    assert_eq!(overview["cpu"], json!({"avg": 40.0, "max": 60.0}), "{overview}");
    assert_eq!(overview["memory"], json!({"avg": 50.0, "max": 75.0}), "{overview}");
    assert_eq!(overview["disk"], json!({"avg": 60.0, "max": 80.0}), "{overview}");
    // the active alerts, as the alerter counts them (h3 going offline may fire its built-in rule)
    eventually("the overview's alerts are GET /api/alerts", WAIT, || async {
        let (_, overview) = get(&stack, "/api/metrics/overview", &jwt).await;
        let (_, alerts) = get(&stack, "/api/alerts", &jwt).await;
        let listed = alerts.as_array().map(|a| a.len() as u64);
        if overview["alerts"]["active"].as_u64().is_some() && overview["alerts"]["active"].as_u64() == listed {
            Ok(())
        } else {
            Err((overview["alerts"].clone(), listed))
        }
    })
    .await;

    let (status, other) = get(&stack, "/api/metrics/overview", &globex_jwt).await;
    assert_eq!(status, 200);
    assert_eq!(other["hosts"]["total"], json!(1), "{other}");
    assert_eq!(other["cpu"]["max"], json!(100.0), "{other}");

    let nats = stack.nats.client().await;
    let reply = checked_request(
        &nats,
        "vigil.collector.metrics.overview",
        "collector-metrics-overview.schema.json",
        json!({"tenant_id": "acme"}),
    )
    .await;
    assert_eq!(reply["ok"]["hosts"]["total"], json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_steps_and_host_filters_hide_other_tenants_and_refuse_bad_params() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let (acme, globex) = (stack.tenant("acme").await.unwrap(), stack.tenant("globex").await.unwrap());
    let jwt = stack.login(&acme).await.unwrap();
    let mut h1 = sim::Agent::start(&stack, &acme.token, "h1").await.unwrap();
    let mut h2 = sim::Agent::start(&stack, &acme.token, "h2").await.unwrap();
    let mut g1 = sim::Agent::start(&stack, &globex.token, "g1").await.unwrap();
    // two 10-minute buckets, 50 and 40 minutes ago
    let t0 = Utc::now().duration_trunc(TimeDelta::minutes(10)).unwrap() - TimeDelta::minutes(50);
    h1.send(t0 + TimeDelta::minutes(1), 10.0).await;
    h1.send(t0 + TimeDelta::minutes(11), 30.0).await;
    h2.send(t0 + TimeDelta::minutes(1), 50.0).await;
    g1.send(t0 + TimeDelta::minutes(1), 99.0).await;
    stored(&stack, &jwt, &h1.host, t0, 2).await;
    stored(&stack, &jwt, &h2.host, t0, 1).await;

    let window = format!("from={}&to={}", t0.timestamp(), Utc::now().timestamp());
    let history = |query: String| {
        let (stack, jwt) = (&stack, jwt.clone());
        async move { get(stack, &format!("/api/metrics/history?{query}"), &jwt).await }
    };
    let cpu = |body: &Value| -> Vec<(DateTime<Utc>, u64, f64, f64)> {
        body["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (at(&p["at"]), p["hosts"].as_u64().unwrap(), p["cpu_avg"].as_f64().unwrap(), p["cpu_max"].as_f64().unwrap()))
            .collect()
    };
    let (status, all) = history(format!("{window}&step=10m")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!((all["source"].as_str(), all["step"].as_u64()), (Some("raw"), Some(600)), "{all}");
    // globex's 99 % never shows
    assert_eq!(cpu(&all), vec![(t0, 2, 30.0, 50.0), (t0 + TimeDelta::minutes(10), 1, 30.0, 30.0)], "{all}");
    assert_eq!(all["points"][0]["memory_avg"].as_f64().map(f64::round), Some(25.0), "{all}");
    assert_eq!(all["points"][0]["disk_max"].as_f64(), Some(40.0), "{all}");
    let (_, only_h1) = history(format!("{window}&step=600&host={}", h1.host)).await;
    assert_eq!(cpu(&only_h1), vec![(t0, 1, 10.0, 10.0), (t0 + TimeDelta::minutes(10), 1, 30.0, 30.0)], "{only_h1}");
    let (_, both) = history(format!("{window}&step=600&host={},{}", h1.host, h2.host)).await;
    assert_eq!(both["points"], all["points"], "a comma list of every host is the whole fleet");
    let (_, repeated) = history(format!("{window}&step=600&host={}&host={}", h1.host, h2.host)).await;
    assert_eq!(repeated["points"], all["points"], "a repeated host is a list too");
    // a picked step: about 500 points of the hour, raw
    let (status, auto) = history(window.clone()).await;
    assert_eq!((status, auto["source"].as_str(), auto["step"].as_u64()), (200, Some("raw"), Some(10)), "{auto}");
    // an hourly step reads the hourly rows (none folded yet for this hour)
    let (status, hourly) = history(format!("{window}&step=1h")).await;
    assert_eq!((status, hourly["source"].as_str()), (200, Some("hourly")), "{hourly}");

    // another tenant's host: not found, as everywhere
    let (status, body) = history(format!("{window}&host={}", g1.host)).await;
    assert_eq!(status, 404, "{body}");

    // each bad parameter: a 422 naming it
    let week = format!("from={}&to={}", (Utc::now() - TimeDelta::days(7)).timestamp(), Utc::now().timestamp());
    for (query, starts) in [
        ("from=yesterday".to_owned(), "from="),
        (format!("{window}&step=often"), "step=\"often\""),
        (format!("{window}&source=weekly"), "source: \"weekly\""),
        (format!("{window}&step=600&source=hourly"), "step=600 is not a whole number of hours"),
        (format!("{week}&step=60"), "step=60 gives 10080 points"),
        (format!("from={}&to={}", Utc::now().timestamp(), t0.timestamp()), "from ("),
        (format!("{window}&host=a.b"), "host: "),
    ] {
        let (status, body) = history(query.clone()).await;
        assert_eq!(status, 422, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(starts), "{query}: {message}");
    }

    let nats = stack.nats.client().await;
    let body =
        json!({"tenant_id": "acme", "host_ids": [h1.host], "from": t0.to_rfc3339(), "to": Utc::now().to_rfc3339(), "step": 600});
    let reply = checked_request(&nats, "vigil.collector.metrics.history", "collector-metrics-history.schema.json", body).await;
    assert_eq!(reply["ok"]["points"], only_h1["points"]);
}

/// A user of `fixture`'s tenant with `role`, signed in.
async fn user(stack: &Stack, fixture: &TenantFixture, role: admin::Role) -> String {
    let email = format!("{}@{}.test", role.as_str(), fixture.tenant);
    let password = format!("pw-{}-0123456789", role.as_str());
    admin::add_user(&stack.db.pool, &fixture.tenant, &email, &password, role).await.unwrap();
    stack.login(&TenantFixture { email, password, ..fixture.clone() }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_settings_round_trip_within_the_servers_limits_and_only_admins_change_them() {
    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let viewer = user(&stack, &acme, admin::Role::Viewer).await;

    let (status, initial) = get(&stack, "/api/config/tenant", &viewer).await;
    assert_eq!(status, 200, "{initial}");
    assert_eq!(initial["retention"], json!({"raw": null, "hourly": null, "daily": null}), "the server's: {initial}");
    assert_eq!(initial["agent_interval"], Value::Null);
    assert_eq!(initial["limits"]["retention"], json!({"raw": "7d", "hourly": "90d", "daily": "730d"}));
    assert_eq!(
        (initial["limits"]["agent_interval_min"].as_str(), initial["limits"]["agent_interval_max"].as_str()),
        (Some("5s"), Some("1h"))
    );

    let wanted =
        json!({"name": "Acme Corp", "retention": {"raw": "3d", "hourly": "30d", "daily": "365d"}, "agent_interval": "30s"});
    let (status, body) = put(&stack, "/api/config/tenant", &viewer, wanted.clone()).await;
    assert_eq!(status, 403, "viewers read only: {body}");
    let (status, saved) = put(&stack, "/api/config/tenant", &jwt, wanted).await;
    assert_eq!(status, 200, "{saved}");
    let (_, read) = get(&stack, "/api/config/tenant", &viewer).await;
    assert_eq!(read["name"], "Acme Corp");
    assert_eq!(read["retention"], json!({"raw": "3d", "hourly": "30d", "daily": "365d"}));
    assert_eq!(read["agent_interval"], "30s");
    assert!(read["updated_at"].is_string(), "{read}");
    assert_eq!(read, saved);

    for (body, field) in [
        (json!({"name": "Acme", "retention": {"raw": "8d"}}), "retention.raw: \"8d\" is longer than the server's limit of 7d"),
        (json!({"name": "Acme", "retention": {"hourly": "91d"}}), "retention.hourly: \"91d\" is longer"),
        (json!({"name": "Acme", "retention": {"daily": "3y"}}), "retention.daily: \"3y\" is not a duration"),
        (json!({"name": "Acme", "agent_interval": "1s"}), "agent_interval: \"1s\" is shorter than 5s"),
        (json!({"name": "Acme", "agent_interval": "2h"}), "agent_interval: \"2h\" is longer"),
        (json!({"name": " "}), "name: is empty"),
    ] {
        let (status, answer) = put(&stack, "/api/config/tenant", &jwt, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let (status, _) = put(&stack, "/api/config/tenant", &jwt, json!({"name": "Acme", "colour": "red"})).await;
    assert_eq!(status, 422, "unknown fields are refused");
    let (_, unchanged) = get(&stack, "/api/config/tenant", &jwt).await;
    assert_eq!(unchanged, read, "refused changes change nothing");
}

/// The next `ConfigUpdate` on `connection` within 10 s (acks skipped).
async fn next_config(connection: &mut sim::Connection) -> u32 {
    use tokio_stream::StreamExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = tokio::time::timeout_at(deadline, connection.replies.next()).await.expect("a ConfigUpdate within 10 s");
        let reply = reply.expect("the stream is open").expect("not an error status");
        if let Some(vigil_proto::server_message::Payload::Config(update)) = reply.payload {
            return update.interval_seconds;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_interval_reaches_agents_held_by_either_gateway_and_every_new_connection() {
    let mut stack = Stack::new().await.unwrap();
    let _first = stack.spawn(&["gateway"]).await.unwrap();
    let _collector = stack.spawn(&["collector"]).await.unwrap();
    // a second gateway on ports of its own, same bus and database
    let grpc2 = vigil_testkit::free_port();
    stack.extra_env.insert("VIGIL_GATEWAY_HTTP_LISTEN".into(), format!("127.0.0.1:{}", vigil_testkit::free_port()));
    stack.extra_env.insert("VIGIL_GATEWAY_GRPC_LISTEN".into(), format!("127.0.0.1:{grpc2}"));
    let _second = stack.spawn(&["gateway"]).await.unwrap();
    stack.extra_env.clear();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();

    let one = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let two = eventually("the second gateway's grpc", WAIT, || async {
        sim::channel(&format!("localhost:{grpc2}"), &stack.ca_path()).await.map_err(|e| e.to_string())
    })
    .await;
    let a = sim::register(one.clone(), &acme.token, "m-a", "a").await.unwrap();
    let b = sim::register(two.clone(), &acme.token, "m-b", "b").await.unwrap();
    let g = sim::register(one.clone(), &globex.token, "m-g", "g").await.unwrap();
    let mut on_one = sim::connect(one.clone(), &acme.token, &a).await.unwrap();
    let mut on_two = sim::connect(two.clone(), &acme.token, &b).await.unwrap();
    let mut other_tenant = sim::connect(one.clone(), &globex.token, &g).await.unwrap();
    // the streams are held once the gateways answer a snapshot on them
    for (connection, host) in [(&mut on_one, &a), (&mut on_two, &b)] {
        use tokio_stream::StreamExt;
        connection.sender.send(sim::metrics_message(host, sim::snapshot(1, Utc::now(), 1))).await.unwrap();
        connection.replies.next().await.unwrap().unwrap();
    }

    let settings = json!({"name": "Acme", "agent_interval": "30s"});
    let (status, body) = put(&stack, "/api/config/tenant", &jwt, settings).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(next_config(&mut on_one).await, 30, "the agent held by the gateway that was asked");
    assert_eq!(next_config(&mut on_two).await, 30, "the agent held by the other gateway");
    // an agent that connects gets its tenant's interval first
    let mut again = sim::connect(two.clone(), &acme.token, &b).await.unwrap();
    assert_eq!(next_config(&mut again).await, 30);

    // cleared: back to each agent's own interval
    let (status, _) = put(&stack, "/api/config/tenant", &jwt, json!({"name": "Acme"})).await;
    assert_eq!(status, 200);
    assert_eq!(next_config(&mut on_one).await, 0);
    assert_eq!(next_config(&mut again).await, 0);

    // the other tenant's agent heard nothing
    use tokio_stream::StreamExt;
    let heard = tokio::time::timeout(Duration::from_millis(500), other_tenant.replies.next()).await;
    assert!(heard.is_err(), "globex's agent got {heard:?}");
}

#[tokio::test]
async fn a_bad_downsample_schedule_is_refused_by_config_check_naming_the_key_and_value() {
    let check = |schedule: &str| {
        std::process::Command::new(vigil_tests::bin("vigil"))
            .args(["config", "check"])
            .env("VIGIL_CONFIG", "/dev/null")
            .env("VIGIL_COLLECTOR_DOWNSAMPLE_SCHEDULE", schedule)
            .output()
            .expect("run vigil config check")
    };
    let refused = check("61 * * * *");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("VIGIL_COLLECTOR_DOWNSAMPLE_SCHEDULE") && stderr.contains("collector.downsample.schedule"),
        "{stderr}"
    );
    assert!(stderr.contains("61 * * * *"), "{stderr}");
    let accepted = check("30 */2 * * *");
    assert!(accepted.status.success(), "{}", String::from_utf8_lossy(&accepted.stderr));
}
