//! What the running stack really publishes on NATS matches `schemas/`.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use vigil_testkit::eventually;
use vigil_testkit::schemas::{assert_valid, checked_request, request_json};
use vigil_tests::{sim, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_messages_and_endpoint_replies_match_the_schemas() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let nats = stack.nats.client().await;
    let mut metrics = nats.subscribe("metrics.>").await.unwrap();
    let mut hosts = nats.subscribe("hosts.>").await.unwrap();

    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel.clone(), &acme.token, "m-schema", "schema-1").await.unwrap();
    let mut connection = sim::connect(channel, &acme.token, &host_id).await.unwrap();
    let now = Utc::now();
    connection.sender.send(sim::metrics_message(&host_id, sim::snapshot(1, now, 1))).await.unwrap();
    connection.replies.next().await.unwrap().unwrap();

    let snapshot = tokio::time::timeout(Duration::from_secs(10), metrics.next()).await.unwrap().unwrap();
    assert_valid("metrics-snapshot.schema.json", None, &serde_json::from_slice(&snapshot.payload).unwrap());
    let mut events = Vec::new();
    while events.len() < 2 {
        let event =
            tokio::time::timeout(Duration::from_secs(15), hosts.next()).await.expect("registered and online events").unwrap();
        let value: Value = serde_json::from_slice(&event.payload).unwrap();
        assert_valid("host-event.schema.json", None, &value);
        events.push(value["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(events, ["registered", "online"]);

    checked_request(&nats, "vigil.collector.hosts.list", "collector-hosts-list.schema.json", json!({"tenant_id": "acme"})).await;
    let get = json!({"tenant_id": "acme", "host_id": host_id});
    checked_request(&nats, "vigil.collector.hosts.get", "collector-hosts-get.schema.json", get).await;
    let missing = request_json(&nats, "vigil.collector.hosts.get", &json!({"tenant_id": "globex", "host_id": host_id})).await;
    assert_eq!(missing["error"]["code"], "not_found");
    assert_valid("collector-hosts-get.schema.json", Some("reply"), &missing);
    let range = json!({"tenant_id": "acme", "host_id": host_id, "from": (now - chrono::Duration::minutes(1)).to_rfc3339(), "to": (now + chrono::Duration::minutes(1)).to_rfc3339(), "limit": 10});
    assert_valid("collector-metrics-range.schema.json", Some("request"), &range);
    let points = eventually("the snapshot in vigil.collector.metrics.range", Duration::from_secs(10), || async {
        let points = request_json(&nats, "vigil.collector.metrics.range", &range).await;
        if points["ok"].as_array().is_some_and(|p| !p.is_empty()) {
            Ok(points)
        } else {
            Err(points)
        }
    })
    .await;
    assert_eq!(points["ok"].as_array().map(Vec::len), Some(1), "{points}");
    assert_valid("collector-metrics-range.schema.json", Some("reply"), &points);
    let register = json!({"tenant_id": "acme", "requested_id": null, "name": "n", "hostname": "n", "machine_id": "m-schema-2", "os": "linux", "arch": "x86_64", "agent_version": "1", "ip_address": "127.0.0.1"});
    checked_request(&nats, "vigil.collector.hosts.register", "collector-hosts-register.schema.json", register).await;
}
