//! The agents' side: tokens, host ownership, publish-then-ack, bad input.

use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use tonic::Code;
use vigil_bus::messages::MetricsSnapshot;
use vigil_bus::streams::METRICS_STREAM;
use vigil_bus::subjects;
use vigil_proto::{server_message, Ack, AgentMessage};

use vigil_testkit::agent::{authorize, connect, metrics_message};
use vigil_testkit::eventually;
use vigil_testkit::fixtures::{agent_metrics, rfc3339};

use crate::common::*;

fn expect_ack(reply: Result<Option<vigil_proto::ServerMessage>, tonic::Status>) -> Ack {
    match reply {
        Ok(Some(vigil_proto::ServerMessage { payload: Some(server_message::Payload::Ack(ack)) })) => ack,
        other => panic!("expected an ack, got {other:?}"),
    }
}

async fn stream_messages(client: &async_nats::Client) -> u64 {
    let mut stream = jetstream::new(client.clone()).get_stream(METRICS_STREAM).await.expect("the METRICS stream exists");
    stream.info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_unknown_and_revoked_agent_tokens_are_unauthenticated() {
    let gateway = TestGateway::start().await;
    let channel = gateway.channel().await;
    let token = gateway.agent_token("acme").await;

    let mut request = tonic::Request::new(vigil_proto::RegisterRequest { machine_id: "m1".into(), ..Default::default() });
    request.metadata_mut().insert("x-other", "1".parse().unwrap());
    let status = vigil_proto::vigil_service_client::VigilServiceClient::new(channel.clone()).register(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("missing agent token"), "{}", status.message());

    let status = register(channel.clone(), "vgl_0000000000000000000000000000000000000000000000000000000000000000", "m1")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("unknown agent token"), "{}", status.message());
    assert!(!status.message().contains("vgl_0000"), "the token is never echoed: {}", status.message());

    let registered = register(channel.clone(), &token.token, "m1").await.unwrap();
    assert_eq!((registered.host_id.as_str(), registered.tenant_id.as_str(), registered.interval_seconds), ("host-m1", "acme", 0));
    eventually("last_used is recorded", Duration::from_secs(5), || async {
        sqlx::query_scalar::<_, Option<chrono::NaiveDateTime>>("SELECT last_used FROM agent_tokens WHERE id = ?")
            .bind(&token.id)
            .fetch_one(&gateway.db.pool)
            .await
            .unwrap()
    })
    .await;

    vigil_gateway::admin::revoke_agent_token(&gateway.db.pool, "acme", &token.id).await.unwrap();
    let status = register(channel.clone(), &token.token, "m1").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{}", status.message());
    let status = connect(channel, &token.token, "host-m1").await.err().expect("a revoked token cannot stream");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_agent_token_is_unauthenticated() {
    let gateway = TestGateway::start().await;
    let token = gateway.agent_token("acme").await;
    sqlx::query("UPDATE agent_tokens SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 MINUTE WHERE id = ?")
        .bind(&token.id)
        .execute(&gateway.db.pool)
        .await
        .unwrap();
    let status = register(gateway.channel().await, &token.token, "m1").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("expired"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_for_another_tenants_host_unknown_hosts_and_bad_ids() {
    let gateway = TestGateway::start().await;
    let channel = gateway.channel().await;
    let acme = gateway.agent_token("acme").await;
    let globex = gateway.agent_token("globex").await;
    let acme_host = register(channel.clone(), &acme.token, "m-acme").await.unwrap().host_id;

    let status = connect(channel.clone(), &globex.token, &acme_host).await.err().expect("another tenant's host");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains(&acme_host), "{}", status.message());
    let status = connect(channel.clone(), &acme.token, "host-unknown").await.err().expect("unknown host");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    for bad in ["a.b", "*", ">", "metrics.>"] {
        let status = connect(channel.clone(), &acme.token, bad).await.err().expect("bad host id");
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}: {status:?}");
        assert!(status.message().contains(bad), "names the value: {}", status.message());
    }
    let mut request = tonic::Request::new(vigil_proto::RegisterRequest {
        machine_id: "m2".into(),
        requested_id: "web.1".into(),
        ..Default::default()
    });
    authorize(&mut request, &acme.token);
    let status = vigil_proto::vigil_service_client::VigilServiceClient::new(channel.clone()).register(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // The stream of its own tenant's host is accepted.
    connect(channel, &acme.token, &acme_host).await.expect("own host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_is_published_with_its_msg_id_and_acked_once_stored() {
    let gateway = TestGateway::start().await;
    let channel = gateway.channel().await;
    let token = gateway.agent_token("acme").await;
    let host_id = register(channel.clone(), &token.token, "m1").await.unwrap().host_id;
    let mut connection = connect(channel, &token.token, &host_id).await.unwrap();
    let collected_at = Utc::now();
    let sent = agent_metrics(41, collected_at, 41);
    let sent_per_core = sent.host.clone().and_then(|host| host.cpu).expect("a cpu section").per_core;
    connection.sender.send(metrics_message(&host_id, sent.clone())).await.unwrap();

    let ack = expect_ack(next_reply(&mut connection).await);
    assert_eq!((ack.seq, ack.accepted, ack.error.as_str()), (41, true, ""));
    // When the ack arrives the snapshot is already in the stream.
    let stream = jetstream::new(gateway.client.clone()).get_stream(METRICS_STREAM).await.unwrap();
    let stored = stream.get_last_raw_message_by_subject(&subjects::metrics("acme", &host_id)).await.expect("stored in jetstream");
    let msg_id = stored.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned());
    assert_eq!(msg_id, Some(format!("{host_id}:{}", collected_at.timestamp_millis())));
    let snapshot: MetricsSnapshot = serde_json::from_slice(&stored.payload).unwrap();
    assert_eq!((snapshot.tenant_id.as_str(), snapshot.host_id.as_str(), snapshot.seq), ("acme", host_id.as_str(), 41));
    assert_eq!(snapshot.collected_at.timestamp_millis(), collected_at.timestamp_millis());
    assert_eq!(snapshot.host.cpu.per_core, sent_per_core);

    // A replay (agent reconnected before it saw the ack) is acked and de-duplicated.
    connection.sender.send(metrics_message(&host_id, sent)).await.unwrap();
    let ack = expect_ack(next_reply(&mut connection).await);
    assert!(ack.accepted && ack.seq == 41, "{ack:?}");
    assert_eq!(stream_messages(&gateway.client).await, 1);

    // Heartbeats and action results get no ack and do not disturb the stream.
    connection
        .sender
        .send(AgentMessage {
            agent_id: host_id.clone(),
            payload: Some(vigil_proto::agent_message::Payload::Heartbeat(vigil_proto::Heartbeat {
                timestamp: rfc3339(Utc::now()),
                queued: 0,
            })),
        })
        .await
        .unwrap();
    connection.sender.send(metrics_message(&host_id, agent_metrics(42, Utc::now(), 42))).await.unwrap();
    let ack = expect_ack(next_reply(&mut connection).await);
    assert!(ack.accepted && ack.seq == 42, "{ack:?}");
    assert_eq!(stream_messages(&gateway.client).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_snapshots_get_a_refusal_and_nothing_is_published() {
    let gateway = TestGateway::start().await;
    let channel = gateway.channel().await;
    let token = gateway.agent_token("acme").await;
    let host_id = register(channel.clone(), &token.token, "m1").await.unwrap().host_id;
    let mut connection = connect(channel, &token.token, &host_id).await.unwrap();

    let mut bad_time = agent_metrics(7, Utc::now(), 7);
    bad_time.timestamp = "yesterday".to_owned();
    connection.sender.send(metrics_message(&host_id, bad_time)).await.unwrap();
    let ack = expect_ack(next_reply(&mut connection).await);
    assert!(!ack.accepted && ack.seq == 7, "{ack:?}");
    assert!(ack.error.contains("yesterday"), "names the value: {}", ack.error);

    let mut no_host = agent_metrics(8, Utc::now(), 8);
    no_host.host = None;
    connection.sender.send(metrics_message(&host_id, no_host)).await.unwrap();
    let ack = expect_ack(next_reply(&mut connection).await);
    assert!(!ack.accepted && ack.seq == 8 && ack.error.contains("host"), "{ack:?}");

    let mut not_a_number = agent_metrics(9, Utc::now(), 9);
    not_a_number.host.as_mut().unwrap().cpu.as_mut().unwrap().percent = f64::NAN;
    connection.sender.send(metrics_message(&host_id, not_a_number)).await.unwrap();
    let ack = expect_ack(next_reply(&mut connection).await);
    assert!(!ack.accepted && ack.seq == 9 && ack.error.contains("host.cpu.percent"), "{ack:?}");

    connection.sender.send(metrics_message("someone-else", agent_metrics(10, Utc::now(), 10))).await.unwrap();
    let ack = expect_ack(next_reply(&mut connection).await);
    assert!(!ack.accepted && ack.seq == 10 && ack.error.contains("someone-else"), "{ack:?}");

    assert_eq!(stream_messages(&gateway.client).await, 0, "nothing published from bad input");
    // The same stream still takes a good snapshot.
    connection.sender.send(metrics_message(&host_id, agent_metrics(11, Utc::now(), 11))).await.unwrap();
    let ack = expect_ack(next_reply(&mut connection).await);
    assert!(ack.accepted && ack.seq == 11, "{ack:?}");
    assert_eq!(stream_messages(&gateway.client).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_leave_in_message_order_with_a_small_in_flight_window() {
    let gateway = TestGateway::start_with(|config| config.settings.max_in_flight_per_agent = 3).await;
    let channel = gateway.channel().await;
    let token = gateway.agent_token("acme").await;
    let host_id = register(channel.clone(), &token.token, "m1").await.unwrap().host_id;
    let mut connection = connect(channel, &token.token, &host_id).await.unwrap();
    let start = Utc::now() - chrono::Duration::minutes(5);
    for seq in 1..=40u64 {
        let mut snapshot = agent_metrics(seq, start + chrono::Duration::seconds(seq as i64), seq);
        if seq == 17 {
            snapshot.timestamp = "not a time".to_owned();
        }
        connection.sender.send(metrics_message(&host_id, snapshot)).await.unwrap();
    }
    for seq in 1..=40u64 {
        let ack = expect_ack(next_reply(&mut connection).await);
        assert_eq!(ack.seq, seq, "acks in order");
        assert_eq!(ack.accepted, seq != 17, "{ack:?}");
    }
    assert_eq!(stream_messages(&gateway.client).await, 39);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_ends_the_stream_unavailable_without_an_ack() {
    let gateway = TestGateway::start().await;
    let channel = gateway.channel().await;
    let token = gateway.agent_token("acme").await;
    let host_id = register(channel.clone(), &token.token, "m1").await.unwrap().host_id;
    let mut connection = connect(channel, &token.token, &host_id).await.unwrap();
    // Without the stream nothing stores the snapshot: JetStream has no responder.
    jetstream::new(gateway.client.clone()).delete_stream(METRICS_STREAM).await.unwrap();
    connection.sender.send(metrics_message(&host_id, agent_metrics(1, Utc::now(), 1))).await.unwrap();
    let status = next_reply(&mut connection).await.expect_err("no ack without a PubAck");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_snapshots_are_refused_for_good_and_garbage_ends_only_its_own_stream() {
    let gateway = TestGateway::start_with(|config| config.settings.max_message_bytes = 64 * 1024).await;
    let channel = gateway.channel().await;
    let token = gateway.agent_token("acme").await;
    let host_id = register(channel.clone(), &token.token, "m1").await.unwrap().host_id;
    let mut healthy = connect(channel.clone(), &token.token, &host_id).await.unwrap();

    // Over max_message_bytes: refused by its seq, the stream goes on (an
    // ended stream would make the agent replay it forever).
    let mut big = agent_metrics(1, Utc::now(), 1);
    big.host.as_mut().unwrap().cpu.as_mut().unwrap().model = "x".repeat(100 * 1024);
    let mut oversized = connect(channel.clone(), &token.token, &host_id).await.unwrap();
    oversized.sender.send(metrics_message(&host_id, big)).await.unwrap();
    let ack = expect_ack(next_reply(&mut oversized).await);
    assert!(!ack.accepted && ack.seq == 1, "{ack:?}");
    assert!(ack.error.contains("65536") && ack.error.contains("gateway.max_message_bytes"), "{}", ack.error);

    // Over the transport limit (twice max_message_bytes, at least 4 MiB): ends that stream only.
    let mut huge = agent_metrics(4, Utc::now(), 4);
    huge.host.as_mut().unwrap().cpu.as_mut().unwrap().model = "x".repeat(5 * 1024 * 1024);
    oversized.sender.send(metrics_message(&host_id, huge)).await.unwrap();
    let status = next_reply(&mut oversized).await.expect_err("a message over the transport limit ends its stream");
    assert!(matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted), "{status:?}");

    // Bytes that are not an AgentMessage, on a stream of their own.
    let status = vigil_testkit::raw_grpc::connect_and_send_raw(channel.clone(), &token.token, &host_id, vec![0xff; 64]).await;
    assert_ne!(status.code(), Code::Ok, "{status:?}");

    // The stream that was open all along and a new one both still work.
    healthy.sender.send(metrics_message(&host_id, agent_metrics(2, Utc::now(), 2))).await.unwrap();
    assert!(expect_ack(next_reply(&mut healthy).await).accepted);
    let mut fresh = connect(channel, &token.token, &host_id).await.expect("a new stream after bad input");
    fresh.sender.send(metrics_message(&host_id, agent_metrics(3, Utc::now() + chrono::Duration::seconds(1), 3))).await.unwrap();
    let ack = expect_ack(next_reply(&mut fresh).await);
    assert!(ack.accepted && ack.seq == 3, "{ack:?}");
    assert_eq!(stream_messages(&gateway.client).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_is_unavailable_while_the_collector_does_not_answer() {
    let mut gateway = TestGateway::start().await;
    let token = gateway.agent_token("acme").await;
    gateway.stop_collector();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = register(gateway.channel().await, &token.token, "m1").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_service_ping_and_shutdown_ends_open_streams() {
    let mut gateway = TestGateway::start().await;
    let reply = gateway
        .client
        .request(vigil_bus::subjects::service_ping(vigil_bus::subjects::gateway::SERVICE_NAME), "".into())
        .await
        .expect("the gateway answers $SRV.PING");
    let ping: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(ping["name"], vigil_bus::subjects::gateway::SERVICE_NAME);

    let channel = gateway.channel().await;
    let token = gateway.agent_token("acme").await;
    let host_id = register(channel.clone(), &token.token, "m1").await.unwrap().host_id;
    let mut connection = connect(channel, &token.token, &host_id).await.unwrap();
    gateway.shutdown().await.expect("clean shutdown");
    let status = next_reply(&mut connection).await.expect_err("the stream ends at shutdown");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}
