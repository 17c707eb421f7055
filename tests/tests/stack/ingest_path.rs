//! The whole path: sovigilant → gRPC/TLS → gateway → JetStream → collector →
//! MariaDB → REST.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use futures::StreamExt;
use vigil_bus::messages::MetricsSnapshot;
use vigil_testkit::eventually;
use vigil_testkit::schemas::checked_request;
use vigil_tests::{sim, Stack};

use crate::{get, wait_for_host};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_agent_snapshot_reaches_rest_with_its_values() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let nats = stack.nats.client().await;
    let mut published = nats.subscribe("metrics.acme.>").await.unwrap();

    let agent = stack.agent(&acme, "1s").unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let host_id = wait_for_host(&stack, &jwt).await;
    eventually("the agent to keep its host id", Duration::from_secs(10), || async { agent.host_id().is_some() }).await;
    assert_eq!(agent.host_id().as_deref(), Some(host_id.as_str()), "agent log:\n{}", agent.log_text());

    // What the gateway published for this host…
    let message = tokio::time::timeout(Duration::from_secs(20), published.next()).await.expect("a snapshot on NATS").unwrap();
    assert_eq!(message.subject.as_str(), format!("metrics.acme.{host_id}"));
    let snapshot: MetricsSnapshot = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(snapshot.host_id, host_id);
    assert_eq!(snapshot.tenant_id, "acme");

    // …is what REST returns once the collector stored it.
    let from = (snapshot.collected_at - chrono::Duration::seconds(1)).to_rfc3339();
    let to = (snapshot.collected_at + chrono::Duration::seconds(1)).to_rfc3339();
    let path = format!("/api/hosts/{host_id}/metrics?from={}&to={}", urlencode(&from), urlencode(&to));
    let at = snapshot.collected_at;
    let point = eventually("the snapshot in GET metrics", Duration::from_secs(20), || async {
        let (_, body) = get(&stack, &path, &jwt).await;
        body["points"].as_array().and_then(|points| {
            points
                .iter()
                .find(|p| {
                    p["timestamp"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t == at)
                })
                .cloned()
        })
    })
    .await;
    // the same window cut into 60 s buckets: one bucket, this snapshot
    let (status, stepped) = get(&stack, &format!("{path}&step=60"), &jwt).await;
    assert_eq!(status, 200, "{stepped}");
    assert_eq!(stepped["points"].as_array().map(Vec::len), Some(1), "{stepped}");
    assert_eq!(stepped["points"][0], point);
    let host = &point["host"];
    assert_eq!(host["memory"]["total"].as_u64(), Some(snapshot.host.memory.total));
    assert_eq!(host["memory"]["used"].as_u64(), Some(snapshot.host.memory.used));
    assert_eq!(host["cpu"]["cores"].as_u64(), Some(snapshot.host.cpu.cores as u64));
    assert!((host["cpu"]["percent"].as_f64().unwrap() - snapshot.host.cpu.percent).abs() < 0.01);
    assert!((host["load"]["load_1m"].as_f64().unwrap() - snapshot.host.load.load_1m).abs() < 0.01);
    assert_eq!(host["uptime"].as_u64(), Some(snapshot.host.uptime));
    assert_eq!(host["disk"]["mounts"].as_array().map(Vec::len), Some(snapshot.host.disk.mounts.len()));
    assert_eq!(host["disk"]["mounts"][0]["path"], snapshot.host.disk.mounts[0].path.as_str());
    assert_eq!(host["network"]["interfaces"].as_array().map(Vec::len), Some(snapshot.host.network.interfaces.len()));

    // The real machine's memory: the agent read /proc/meminfo.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: u64 =
        meminfo.lines().find(|l| l.starts_with("MemTotal:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(snapshot.host.memory.total, total_kib * 1024);

    // Host detail shows the host online with its agent's facts.
    let (status, detail) = get(&stack, &format!("/api/hosts/{host_id}"), &jwt).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "online");
    assert_eq!(detail["agent_version"], env!("CARGO_PKG_VERSION"));
    // …and this machine's CPU model, as /proc/cpuinfo names it.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim());
    assert!(!snapshot.host.cpu.model.is_empty(), "the agent sent no cpu model");
    if let Some(model) = model {
        assert_eq!(snapshot.host.cpu.model, model);
    }
    assert_eq!(detail["cpu_model"], snapshot.host.cpu.model.as_str(), "{detail}");
}

pub fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_collector_folds_past_hours_into_hourly_metrics_served_by_rest() {
    let stack = Stack::new().await.unwrap();
    let gateway = stack.spawn(&["gateway"]).await.unwrap();
    let mut collector = stack.spawn(&["collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel.clone(), &acme.token, "hourly-1", "hourly-1").await.unwrap();
    let connection = sim::connect(channel, &acme.token, &host_id).await.unwrap();

    // two snapshots in the hour before the previous one, one in the previous hour (an agent replaying its queue)
    let this_hour = Utc::now().duration_trunc(chrono::Duration::hours(1)).unwrap();
    let (a, b) = (this_hour - chrono::Duration::hours(2), this_hour - chrono::Duration::hours(1));
    let sent = [
        (a + chrono::Duration::minutes(5), 100),
        (a + chrono::Duration::minutes(35), 300),
        (b + chrono::Duration::minutes(1), 500),
    ];
    for (seq, (at, seed)) in sent.iter().enumerate() {
        connection.sender.send(sim::metrics_message(&host_id, sim::snapshot(seq as u64 + 1, *at, *seed))).await.unwrap();
    }
    let window = format!("from={}&to={}", a.timestamp(), this_hour.timestamp());
    eventually("3 snapshots stored", Duration::from_secs(20), || async {
        let (_, body) = get(&stack, &format!("/api/hosts/{host_id}/metrics?{window}"), &jwt).await;
        (body["points"].as_array().map(Vec::len) == Some(3)).then_some(())
    })
    .await;

    // a collector starting now (after an outage, say) catches up the complete hours
    collector.stop();
    let _collector = stack.spawn(&["collector"]).await.unwrap();
    let hourly = eventually("2 hourly rows", Duration::from_secs(20), || async {
        let (status, body) = get(&stack, &format!("/api/hosts/{host_id}/metrics/hourly?{window}"), &jwt).await;
        (status == 200 && body["points"].as_array().map(Vec::len) == Some(2)).then_some(body)
    })
    .await;
    let first = &hourly["points"][0];
    assert_eq!(
        first["hour"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc)),
        Some(a),
        "{hourly}"
    );
    assert_eq!(first["samples"], 2, "{hourly}");
    // sim cpu is seed / 10: 10 % and 30 %
    assert_eq!((first["cpu_avg"].as_f64(), first["cpu_max"].as_f64()), (Some(20.0), Some(30.0)), "{hourly}");
    assert_eq!(hourly["points"][1]["samples"], 1, "{hourly}");
    // the bus endpoint behind it, against its schema
    let nats = stack.nats.client().await;
    let body = serde_json::json!({"tenant_id": "acme", "host_id": host_id, "from": a.to_rfc3339(), "to": this_hour.to_rfc3339()});
    let reply = checked_request(&nats, "vigil.collector.metrics.hourly", "collector-metrics-hourly.schema.json", body).await;
    assert_eq!(reply["ok"], hourly["points"]);

    let (status, body) = get(&stack, &format!("/api/hosts/{host_id}/metrics/hourly?from=later"), &jwt).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("from"), "{body}");
    let globex = stack.tenant("globex").await.unwrap();
    let globex_jwt = stack.login(&globex).await.unwrap();
    let (status, _) = get(&stack, &format!("/api/hosts/{host_id}/metrics/hourly"), &globex_jwt).await;
    assert_eq!(status, 404, "another tenant's host");
    drop(gateway);
}
