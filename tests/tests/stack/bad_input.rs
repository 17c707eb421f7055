//! Bad input gets a clear error, nothing is stored wrongly, and the services
//! keep serving the next good request.

use std::time::Duration;

use chrono::Utc;
use tokio_stream::StreamExt;
use vigil_proto::server_message;
use vigil_testkit::eventually;
use vigil_tests::{sim, Stack};

use crate::get;

async fn assert_good_snapshot_still_stored(
    stack: &Stack,
    channel: tonic::transport::Channel,
    token: &str,
    host_id: &str,
    seq: u64,
) {
    let at = Utc::now();
    let mut connection = sim::connect(channel, token, host_id).await.expect("a new stream after bad input");
    connection.sender.send(sim::metrics_message(host_id, sim::snapshot(seq, at, seq))).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), connection.replies.next()).await.expect("an ack").unwrap().unwrap();
    match reply.payload {
        Some(server_message::Payload::Ack(ack)) => assert!(ack.accepted && ack.seq == seq, "{ack:?}"),
        other => panic!("expected an ack, got {other:?}"),
    }
    let sql = format!(
        "SELECT COUNT(*) FROM metrics_host WHERE host_id = '{host_id}' AND timestamp = '{}'",
        at.format("%Y-%m-%d %H:%M:%S%.3f")
    );
    eventually("the good snapshot stored", Duration::from_secs(20), || async { stack.db.count(&sql).await == 1 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_garbage_oversized_unknown_host_and_bad_ids_are_refused_and_service_keeps_serving() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel.clone(), &acme.token, "m-1", "h-1").await.unwrap();

    // Bytes that are not a protobuf AgentMessage.
    let status = vigil_testkit::raw_grpc::connect_and_send_raw(channel.clone(), &acme.token, &host_id, vec![0xff; 64]).await;
    assert_ne!(status.code(), tonic::Code::Ok, "garbage was accepted: {status:?}");

    // A message over the 4 MiB limit.
    let mut huge = sim::snapshot(1, Utc::now(), 1);
    huge.host.as_mut().unwrap().cpu.as_mut().unwrap().model = "x".repeat(5 * 1024 * 1024);
    let mut connection = sim::connect(channel.clone(), &acme.token, &host_id).await.unwrap();
    connection.sender.send(sim::metrics_message(&host_id, huge)).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), connection.replies.next())
        .await
        .expect("an answer")
        .expect("an item")
        .unwrap_err();
    assert!(
        matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::OutOfRange | tonic::Code::InvalidArgument),
        "oversized: {status:?}"
    );

    // An unknown host id and ids that would change a subject's meaning.
    let status = sim::connect(channel.clone(), &acme.token, "host-000000000000").await.err().expect("unknown host refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    for bad in ["a.b", "*", ">"] {
        let status = sim::connect(channel.clone(), &acme.token, bad).await.err().expect("bad host id refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad}: {status:?}");
        assert!(status.message().contains(bad), "the error names the value: {}", status.message());
    }

    // A snapshot with a timestamp that is not RFC 3339 is refused for good.
    let mut connection = sim::connect(channel.clone(), &acme.token, &host_id).await.unwrap();
    let mut bad_time = sim::snapshot(7, Utc::now(), 7);
    bad_time.timestamp = "yesterday".to_owned();
    connection.sender.send(sim::metrics_message(&host_id, bad_time)).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), connection.replies.next()).await.unwrap().unwrap().unwrap().payload {
        Some(server_message::Payload::Ack(ack)) => {
            assert!(!ack.accepted && ack.seq == 7, "{ack:?}");
            assert!(ack.error.contains("yesterday"), "the error names the value: {}", ack.error);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    drop(connection);

    assert_eq!(stack.db.count("SELECT COUNT(*) FROM metrics_host").await, 0, "nothing stored from bad input");
    assert_good_snapshot_still_stored(&stack, channel, &acme.token, &host_id, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_rejects_expired_and_forged_jwts_invalid_json_and_bad_ids() {
    let mut stack = Stack::new().await.unwrap();
    stack.extra_env.insert("VIGIL_GATEWAY_ACCESS_TOKEN_TTL".into(), "2s".into());
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let http = reqwest::Client::new();

    // Missing, garbage and forged (payload swapped, signature kept) tokens.
    let response = http.get(stack.http("/api/hosts")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(get(&stack, "/api/hosts", "not.a.jwt").await.0, 401);
    let globex_jwt = stack.login(&globex).await.unwrap();
    let acme_parts: Vec<&str> = jwt.split('.').collect();
    let globex_parts: Vec<&str> = globex_jwt.split('.').collect();
    let forged = format!("{}.{}.{}", acme_parts[0], globex_parts[1], acme_parts[2]);
    let (status, body) = get(&stack, "/api/hosts", &forged).await;
    assert_eq!(status, 401, "{body}");

    // Ids that would change a subject's meaning.
    for bad in ["a.b", "a*", "a%3Eb"] {
        let (status, body) = get(&stack, &format!("/api/hosts/{bad}"), &jwt).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }

    // Invalid JSON and JSON of the wrong shape.
    let response = http
        .post(stack.http("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = http.post(stack.http("/api/auth/login")).json(&serde_json::json!({"email": "x@y"})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("password"), "names the missing field: {body}");

    // Expired access token.
    assert_eq!(get(&stack, "/api/hosts", &jwt).await.0, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = get(&stack, "/api/hosts", &jwt).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("expired"), "{body}");

    // Still serving.
    let fresh = stack.login(&acme).await.unwrap();
    assert_eq!(get(&stack, "/api/hosts", &fresh).await.0, 200);
}
