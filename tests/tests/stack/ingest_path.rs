//! The whole path: sovigilant → gRPC/TLS → gateway → JetStream → collector →
//! MariaDB → REST.

use std::time::Duration;

use futures::StreamExt;
use vigil_bus::messages::MetricsSnapshot;
use vigil_tests::{wait_for, wait_until, Stack};

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
    wait_until("the agent to keep its host id", Duration::from_secs(10), || async { agent.host_id().is_some() }).await.unwrap();
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
    let point = wait_for("the snapshot in GET metrics", Duration::from_secs(20), || async {
        let (_, body) = get(&stack, &path, &jwt).await;
        body["points"].as_array().and_then(|points| {
            points
                .iter()
                .find(|p| p["timestamp"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t == at))
                .cloned()
        })
    })
    .await
    .unwrap();
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
    let total_kib: u64 = meminfo.lines().find(|l| l.starts_with("MemTotal:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(snapshot.host.memory.total, total_kib * 1024);

    // Host detail shows the host online with its agent's facts.
    let (status, detail) = get(&stack, &format!("/api/hosts/{host_id}"), &jwt).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "online");
    assert_eq!(detail["agent_version"], env!("CARGO_PKG_VERSION"));
}

pub fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
