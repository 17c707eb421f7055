//! What the running stack really publishes on NATS matches `schemas/`.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use vigil_tests::{sim, Stack};

fn schema(file: &str) -> Value {
    let path = format!("{}/../schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// Validates `instance` against the schema in `file`, or against its
/// `properties.<part>` (request/reply files) with the file's `$defs`.
pub(crate) fn assert_valid(file: &str, part: Option<&str>, instance: &Value) {
    let mut root = schema(file);
    if let Some(part) = part {
        let mut sub = root["properties"][part].clone();
        sub["$defs"] = root["$defs"].clone();
        root = sub;
    }
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{file} is not a valid schema: {e}"));
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{file} {part:?} rejects {instance}:\n{}", errors.join("\n"));
}

async fn raw_request(nats: &async_nats::Client, subject: &str, body: Value) -> Value {
    let reply = nats.request(subject.to_owned(), serde_json::to_vec(&body).unwrap().into()).await.unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

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

    let list = json!({"tenant_id": "acme"});
    assert_valid("collector-hosts-list.schema.json", Some("request"), &list);
    assert_valid(
        "collector-hosts-list.schema.json",
        Some("reply"),
        &raw_request(&nats, "vigil.collector.hosts.list", list).await,
    );
    let get = json!({"tenant_id": "acme", "host_id": host_id});
    assert_valid("collector-hosts-get.schema.json", Some("request"), &get);
    assert_valid(
        "collector-hosts-get.schema.json",
        Some("reply"),
        &raw_request(&nats, "vigil.collector.hosts.get", get.clone()).await,
    );
    let missing = raw_request(&nats, "vigil.collector.hosts.get", json!({"tenant_id": "globex", "host_id": host_id})).await;
    assert_eq!(missing["error"]["code"], "not_found");
    assert_valid("collector-hosts-get.schema.json", Some("reply"), &missing);
    let range = json!({"tenant_id": "acme", "host_id": host_id, "from": (now - chrono::Duration::minutes(1)).to_rfc3339(), "to": (now + chrono::Duration::minutes(1)).to_rfc3339(), "limit": 10});
    assert_valid("collector-metrics-range.schema.json", Some("request"), &range);
    let mut points = Value::Null;
    for _ in 0..50 {
        points = raw_request(&nats, "vigil.collector.metrics.range", range.clone()).await;
        if points["ok"].as_array().is_some_and(|p| !p.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(points["ok"].as_array().map(Vec::len), Some(1), "{points}");
    assert_valid("collector-metrics-range.schema.json", Some("reply"), &points);
    let register = json!({"tenant_id": "acme", "requested_id": null, "name": "n", "hostname": "n", "machine_id": "m-schema-2", "os": "linux", "arch": "x86_64", "agent_version": "1", "ip_address": "127.0.0.1"});
    assert_valid("collector-hosts-register.schema.json", Some("request"), &register);
    assert_valid(
        "collector-hosts-register.schema.json",
        Some("reply"),
        &raw_request(&nats, "vigil.collector.hosts.register", register).await,
    );
}
