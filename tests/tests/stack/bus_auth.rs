//! The bus is never anonymous: with the stack running on a nats-server from
//! the project's configuration (operator mode), a client without credentials
//! or with creds the operator never signed is refused at CONNECT, so it can neither read a tenant's
//! snapshots (`metrics.>`), ask the collector (`vigil.collector.*`), nor
//! publish a forged snapshot; the services, authenticated, still work.

use std::time::Duration;

use async_nats::ConnectErrorKind;
use chrono::Utc;
use futures::StreamExt;
use vigil_proto::server_message;
use vigil_testkit::eventually;
use vigil_tests::{sim, Stack};

use crate::{get, wait_for_host};

fn refused(what: &str, result: Result<async_nats::Client, async_nats::ConnectError>) {
    match result {
        Ok(_) => panic!("{what}: the nats-server let the client in"),
        Err(error) => assert_eq!(error.kind(), ConnectErrorKind::AuthorizationViolation, "{what}: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_wrong_credentials_clients_are_refused_while_the_services_work() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();

    // Refused at CONNECT: no subscription (metrics.>, a collector request's
    // reply) and no publish can follow.
    refused("anonymous", stack.nats.anonymous_client_result().await);
    // creds of the same shape from another operator's keys
    let stranger = vigil_bus::accounts::BusKeys::generate();
    refused("a user another operator signed", stack.nats.connect_with(&stranger.platform_user_creds().unwrap()).await);
    // the right user's seed with a JWT the platform account never signed
    let (_, seed) = vigil_bus::accounts::parse_creds(&stack.nats.credentials, "test").unwrap();
    let (forged_jwt, _) = vigil_bus::accounts::parse_creds(&stranger.platform_user_creds().unwrap(), "test").unwrap();
    refused("a forged user jwt", stack.nats.connect_with(&vigil_bus::accounts::creds(&forged_jwt, &seed)).await);

    // The platform user reads what the services publish.
    let platform = stack.nats.client().await;
    let mut snapshots = platform.subscribe("metrics.>").await.unwrap();
    platform.flush().await.unwrap();

    // A simulated agent's snapshot goes gateway → JetStream → collector → REST.
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let host_id = sim::register(channel.clone(), &acme.token, "m-bus-auth", "bus-auth-1").await.unwrap();
    let mut connection = sim::connect(channel, &acme.token, &host_id).await.unwrap();
    connection.sender.send(sim::metrics_message(&host_id, sim::snapshot(1, Utc::now(), 421))).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), connection.replies.next()).await.unwrap().unwrap().unwrap().payload {
        Some(server_message::Payload::Ack(ack)) => assert!(ack.accepted && ack.seq == 1, "{ack:?}"),
        other => panic!("expected the ack of seq 1, got {other:?}"),
    }
    assert_eq!(wait_for_host(&stack, &jwt).await, host_id);
    eventually("the snapshot in GET /api/hosts/{id}", Duration::from_secs(30), || async {
        let (_, detail) = get(&stack, &format!("/api/hosts/{host_id}"), &jwt).await;
        (detail["latest"]["host"]["cpu"]["percent"].as_f64() == Some(42.1)).then_some(())
    })
    .await;
    let seen = tokio::time::timeout(Duration::from_secs(10), snapshots.next()).await.expect("a snapshot on metrics.>").unwrap();
    assert_eq!(seen.subject.as_str(), format!("metrics.acme.{host_id}"));

    // Still refused with the stack busy, and nothing but the services connected.
    refused("anonymous, later", stack.nats.anonymous_client_result().await);
    let connz: serde_json::Value = serde_json::from_str(&stack.nats.monitor("/connz?auth=1").await.unwrap()).unwrap();
    let services_user = vigil_bus::accounts::public_key(&seed, "user").unwrap();
    let platform_account = stack.nats.keys.platform_account_public().unwrap();
    for connection in connz["connections"].as_array().unwrap() {
        assert_eq!(connection["authorized_user"], services_user.as_str(), "{connection}");
        assert_eq!(connection["account"], platform_account.as_str(), "{connection}");
    }
}
