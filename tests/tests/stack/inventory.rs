//! Containers, services and custom metrics through the whole stack: a
//! simulated agent sends them over gRPC+TLS, the collector stores them, REST
//! returns them exactly, scoped by tenant; the collector's inventory
//! endpoints answer what `schemas/` says.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{json, Value};
use vigil_proto::{server_message, ContainerMetrics, CustomMetric, Metrics, ServiceMetrics};
use vigil_testkit::eventually;
use vigil_testkit::schemas::checked_request;
use vigil_tests::{sim, Stack};

use crate::get;
use crate::ingest_path::urlencode;

fn container(name: &str, seed: u64) -> ContainerMetrics {
    ContainerMetrics {
        name: name.to_owned(),
        runtime: "docker".to_owned(),
        status: "running".to_owned(),
        created: "2026-01-02T03:04:05Z".to_owned(),
        image: format!("nginx:1.{seed}"),
        cpu_percent: 12.25 + seed as f64,
        memory_used: 104_857_600 + seed,
        memory_limit: 536_870_912,
        memory_percent: 19.53 + seed as f64,
        disk_used: 4096 + seed,
        network_rx: 123_456 + seed,
        network_tx: 654_321 + seed,
        processes: 4 + seed as u32,
    }
}

fn service(name: &str, seed: u64) -> ServiceMetrics {
    ServiceMetrics {
        name: name.to_owned(),
        status: "running".to_owned(),
        pid: 4242 + seed as u32,
        memory: 8_388_608 + seed,
        cpu_percent: 0.5 + seed as f64,
        ports: vec![80, 443],
        uptime: 3600 + seed,
    }
}

fn custom(name: &str, kind: &str, value: f64, error: &str) -> CustomMetric {
    CustomMetric { name: name.to_owned(), r#type: kind.to_owned(), value, error: error.to_owned() }
}

fn time_of(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a timestamp, got {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

fn assert_container(got: &Value, sent: &ContainerMetrics) {
    assert_eq!(got["name"], sent.name.as_str(), "{got}");
    assert_eq!(got["runtime"], sent.runtime.as_str(), "{got}");
    assert_eq!(got["status"], sent.status.as_str(), "{got}");
    assert_eq!(got["created"], sent.created.as_str(), "{got}");
    assert_eq!(got["image"], sent.image.as_str(), "{got}");
    assert_eq!(got["cpu_percent"].as_f64(), Some(sent.cpu_percent), "{got}");
    assert_eq!(got["memory_used"].as_u64(), Some(sent.memory_used), "{got}");
    assert_eq!(got["memory_limit"].as_u64(), Some(sent.memory_limit), "{got}");
    assert_eq!(got["memory_percent"].as_f64(), Some(sent.memory_percent), "{got}");
    assert_eq!(got["disk_used"].as_u64(), Some(sent.disk_used), "{got}");
    assert_eq!(got["network_rx"].as_u64(), Some(sent.network_rx), "{got}");
    assert_eq!(got["network_tx"].as_u64(), Some(sent.network_tx), "{got}");
    assert_eq!(got["processes"].as_u64(), Some(u64::from(sent.processes)), "{got}");
}

fn assert_service(got: &Value, sent: &ServiceMetrics) {
    assert_eq!(got["name"], sent.name.as_str(), "{got}");
    assert_eq!(got["status"], sent.status.as_str(), "{got}");
    assert_eq!(got["pid"].as_u64(), Some(u64::from(sent.pid)), "{got}");
    assert_eq!(got["memory"].as_u64(), Some(sent.memory), "{got}");
    assert_eq!(got["cpu_percent"].as_f64(), Some(sent.cpu_percent), "{got}");
    assert_eq!(got["ports"], json!(sent.ports), "{got}");
    assert_eq!(got["uptime"].as_u64(), Some(sent.uptime), "{got}");
}

/// `(name, type, value, error, timestamp)` of a custom point.
fn custom_of(point: &Value) -> (String, String, f64, Option<String>, DateTime<Utc>) {
    (
        point["name"].as_str().unwrap().to_owned(),
        point["type"].as_str().unwrap().to_owned(),
        point["value"].as_f64().unwrap(),
        point["error"].as_str().map(str::to_owned),
        time_of(&point["timestamp"]),
    )
}

/// Sends snapshots on one stream and waits for the gateway's ack of each.
async fn send_all(connection: &mut sim::Connection, host_id: &str, snapshots: Vec<Metrics>) {
    for snapshot in snapshots {
        let seq = snapshot.seq;
        connection.sender.send(sim::metrics_message(host_id, snapshot)).await.unwrap();
        let reply =
            tokio::time::timeout(Duration::from_secs(10), connection.replies.next()).await.expect("an ack").unwrap().unwrap();
        match reply.payload {
            Some(server_message::Payload::Ack(ack)) => assert!(ack.accepted && ack.seq == seq, "{ack:?}"),
            other => panic!("expected an ack, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_services_and_custom_metrics_round_trip_through_rest_for_their_tenant_only() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel.clone(), &acme.token, "m-inventory", "inventory-1").await.unwrap();
    let mut connection = sim::connect(channel, &acme.token, &host_id).await.unwrap();

    let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let t1 = now - chrono::Duration::seconds(10);
    let t2 = now - chrono::Duration::seconds(5);
    let mut first = sim::snapshot(1, t1, 1);
    first.containers = vec![container("web", 1), container("worker", 1)];
    first.services = vec![service("sshd", 1), service("nginx", 1)];
    // 0.1 + 0.2 is not 0.3 in binary: a value that only survives if stored as a double
    first.custom = vec![
        custom("queue_depth", "gauge", 0.1 + 0.2, ""),
        custom("jobs_total", "counter", 9_007_199_254_740_991.0, ""),
        custom("backup_age", "gauge", 0.0, "command timed out after 5s"),
    ];
    let mut second = sim::snapshot(2, t2, 2);
    second.containers = vec![container("web", 2)];
    second.services = vec![service("sshd", 2)];
    second.custom = vec![custom("queue_depth", "gauge", 3.5, "")];
    send_all(&mut connection, &host_id, vec![first, second]).await;

    let jwt = stack.login(&acme).await.unwrap();
    // the newest snapshot's containers: "worker" is gone from it
    let containers = eventually("the second snapshot's containers", Duration::from_secs(20), || async {
        let (status, body) = get(&stack, &format!("/api/hosts/{host_id}/containers"), &jwt).await;
        (status == 200 && body.as_array().is_some_and(|a| a.len() == 1 && time_of(&a[0]["timestamp"]) == t2)).then_some(body)
    })
    .await;
    let web = &containers[0];
    assert_container(web, &container("web", 2));
    assert_eq!(web["id"], format!("{host_id}:web"));
    assert_eq!(web["host_id"], host_id.as_str());

    let (status, services) = get(&stack, &format!("/api/hosts/{host_id}/services"), &jwt).await;
    assert_eq!(status, 200, "{services}");
    let services = services.as_array().unwrap();
    assert_eq!(services.len(), 1, "{services:?}");
    assert_service(&services[0], &service("sshd", 2));
    assert_eq!((services[0]["host_id"].as_str(), time_of(&services[0]["timestamp"])), (Some(host_id.as_str()), t2));

    let (status, all) = get(&stack, "/api/containers", &jwt).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_container(&all[0], &container("web", 2));
    assert_eq!((all[0]["host_id"].as_str(), all[0]["host_name"].as_str()), (Some(host_id.as_str()), Some("inventory-1")));

    let web_path = format!("/api/containers/{host_id}:web");
    let (status, one) = get(&stack, &web_path, &jwt).await;
    assert_eq!(status, 200, "{one}");
    assert_container(&one, &container("web", 2));
    assert_eq!(one["host_name"], "inventory-1");
    let (status, gone) = get(&stack, &format!("/api/containers/{host_id}:worker"), &jwt).await;
    assert_eq!(status, 404, "a container missing from the latest snapshot: {gone}");

    let window =
        format!("from={}&to={}", urlencode(&(t1 - chrono::Duration::seconds(1)).to_rfc3339()), urlencode(&now.to_rfc3339()));
    let (status, history) = get(&stack, &format!("{web_path}/metrics?{window}"), &jwt).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!((history["id"].as_str(), history["name"].as_str()), (Some(format!("{host_id}:web").as_str()), Some("web")));
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.iter().map(|p| time_of(&p["timestamp"])).collect::<Vec<_>>(), vec![t1, t2], "oldest first");
    assert_container(&points[0], &container("web", 1));
    assert_container(&points[1], &container("web", 2));
    let (status, limited) = get(&stack, &format!("{web_path}/metrics?{window}&limit=1"), &jwt).await;
    assert_eq!((status, limited["points"].as_array().map(Vec::len)), (200, Some(1)), "{limited}");

    let (status, custom_points) = get(&stack, &format!("/api/hosts/{host_id}/custom?{window}"), &jwt).await;
    assert_eq!(status, 200, "{custom_points}");
    let seen: Vec<_> = custom_points.as_array().unwrap().iter().map(custom_of).collect();
    assert_eq!(
        seen,
        vec![
            ("backup_age".into(), "gauge".into(), 0.0, Some("command timed out after 5s".into()), t1),
            ("jobs_total".into(), "counter".into(), 9_007_199_254_740_991.0, None, t1),
            ("queue_depth".into(), "gauge".into(), 0.1 + 0.2, None, t1),
            ("queue_depth".into(), "gauge".into(), 3.5, None, t2),
        ]
    );
    let (status, one_name) = get(&stack, &format!("/api/hosts/{host_id}/custom?{window}&name=queue_depth"), &jwt).await;
    assert_eq!(status, 200, "{one_name}");
    let values: Vec<f64> = one_name.as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()).collect();
    assert_eq!(values, vec![0.1 + 0.2, 3.5]);
    // without from/to: the last hour
    let (status, recent) = get(&stack, &format!("/api/hosts/{host_id}/custom"), &jwt).await;
    assert_eq!((status, recent.as_array().map(Vec::len)), (200, Some(4)), "{recent}");
    let (status, latest) = get(&stack, &format!("/api/hosts/{host_id}/custom/latest"), &jwt).await;
    assert_eq!(status, 200, "{latest}");
    let latest: Vec<(String, f64, DateTime<Utc>)> =
        latest.as_array().unwrap().iter().map(custom_of).map(|(name, _, value, _, at)| (name, value, at)).collect();
    assert_eq!(
        latest,
        vec![("backup_age".into(), 0.0, t1), ("jobs_total".into(), 9_007_199_254_740_991.0, t1), ("queue_depth".into(), 3.5, t2)]
    );

    // another tenant: 404 for every route naming the host, nothing listed
    let globex_jwt = stack.login(&globex).await.unwrap();
    for path in [
        format!("/api/hosts/{host_id}/containers"),
        format!("/api/hosts/{host_id}/services"),
        format!("/api/hosts/{host_id}/custom"),
        format!("/api/hosts/{host_id}/custom/latest"),
        web_path.clone(),
        format!("{web_path}/metrics"),
    ] {
        let (status, body) = get(&stack, &path, &globex_jwt).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (status, theirs) = get(&stack, "/api/containers", &globex_jwt).await;
    assert_eq!((status, theirs), (200, json!([])));
    let (status, _) = get(&stack, "/api/containers", "not-a-jwt").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_container_and_host_ids_are_a_400_naming_the_value() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel, &acme.token, "m-bad", "bad-1").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();

    for (path, named) in [
        ("/api/containers/no-separator".to_owned(), "no-separator".to_owned()),
        (format!("/api/containers/{host_id}:a%20b"), format!("{host_id}:a b")),
        (format!("/api/containers/{host_id}:a%2Fb/metrics"), format!("{host_id}:a/b")),
        (format!("/api/containers/{host_id}:"), format!("{host_id}:")),
        ("/api/containers/bad.host:web".to_owned(), "bad.host:web".to_owned()),
        ("/api/hosts/bad.host/containers".to_owned(), "bad.host".to_owned()),
        ("/api/hosts/bad.host/services".to_owned(), "bad.host".to_owned()),
        ("/api/hosts/bad.host/custom/latest".to_owned(), "bad.host".to_owned()),
    ] {
        let (status, body) = get(&stack, &path, &jwt).await;
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&named), "{path}: the error names {named:?}: {message}");
    }
    for query in ["limit=0", "from=yesterday", "from=1700000100&to=1700000000"] {
        for path in [format!("/api/containers/{host_id}:web/metrics?{query}"), format!("/api/hosts/{host_id}/custom?{query}")] {
            let (status, body) = get(&stack, &path, &jwt).await;
            assert_eq!(status, 400, "{path}: {body}");
        }
    }
    let (status, body) = get(&stack, &format!("/api/hosts/{host_id}/custom?name={}", "n".repeat(101)), &jwt).await;
    assert_eq!(status, 400, "{body}");
    // the other /api routes still answer (the inventory router sits beside them)
    let (status, body) = get(&stack, "/api/no-such-route", &jwt).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = get(&stack, &format!("/api/hosts/{host_id}"), &jwt).await;
    assert_eq!(status, 200);
    // a known container that has no data yet: empty history, not an error
    let (status, body) = get(&stack, &format!("/api/containers/{host_id}:web/metrics"), &jwt).await;
    assert_eq!((status, body["points"].clone()), (200, json!([])), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_endpoint_requests_and_replies_match_the_schemas() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let nats = stack.nats.client().await;
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel.clone(), &acme.token, "m-schema-inv", "schema-inv").await.unwrap();
    let mut connection = sim::connect(channel, &acme.token, &host_id).await.unwrap();
    let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let mut snapshot = sim::snapshot(1, now, 1);
    snapshot.containers = vec![container("web", 1)];
    snapshot.services = vec![service("sshd", 1)];
    snapshot.custom = vec![custom("queue_depth", "gauge", 2.0, ""), custom("broken", "counter", 0.0, "exit status 1")];
    send_all(&mut connection, &host_id, vec![snapshot]).await;

    let host = json!({"tenant_id": "acme", "host_id": host_id});
    let file = "collector-containers-host.schema.json";
    let reply = eventually("the snapshot's containers", Duration::from_secs(20), || {
        let (nats, host) = (nats.clone(), host.clone());
        async move {
            let reply = checked_request(&nats, "vigil.collector.containers.host", file, host).await;
            reply["ok"].as_array().is_some_and(|a| !a.is_empty()).then_some(reply)
        }
    })
    .await;
    assert_eq!(reply["ok"][0]["name"], "web");
    let missing =
        checked_request(&nats, "vigil.collector.containers.host", file, json!({"tenant_id": "globex", "host_id": host_id})).await;
    assert_eq!(missing["error"]["code"], "not_found");

    let list = checked_request(
        &nats,
        "vigil.collector.containers.list",
        "collector-containers-list.schema.json",
        json!({"tenant_id": "acme"}),
    )
    .await;
    assert_eq!(list["ok"][0]["host_name"], "schema-inv");
    let one = json!({"tenant_id": "acme", "host_id": host_id, "container_name": "web"});
    let one = checked_request(&nats, "vigil.collector.containers.get", "collector-containers-get.schema.json", one).await;
    assert_eq!(one["ok"]["id"], format!("{host_id}:web"));
    let from = (now - chrono::Duration::minutes(1)).to_rfc3339();
    let to = (now + chrono::Duration::minutes(1)).to_rfc3339();
    let range = json!({"tenant_id": "acme", "host_id": host_id, "container_name": "web", "from": from, "to": to, "limit": 10});
    let range = checked_request(&nats, "vigil.collector.containers.range", "collector-containers-range.schema.json", range).await;
    assert_eq!(range["ok"].as_array().map(Vec::len), Some(1), "{range}");
    let services =
        checked_request(&nats, "vigil.collector.services.host", "collector-services-host.schema.json", host.clone()).await;
    assert_eq!(services["ok"][0]["name"], "sshd");
    let custom_range = json!({"tenant_id": "acme", "host_id": host_id, "name": null, "from": from, "to": to, "limit": 0});
    let custom_range =
        checked_request(&nats, "vigil.collector.custom.range", "collector-custom-range.schema.json", custom_range).await;
    assert_eq!(custom_range["ok"].as_array().map(Vec::len), Some(2), "{custom_range}");
    assert_eq!(custom_range["ok"][0]["error"], "exit status 1");
    let latest = checked_request(&nats, "vigil.collector.custom.latest", "collector-custom-latest.schema.json", host).await;
    assert_eq!(latest["ok"][1]["value"], 2.0);
}
