//! Tenants never see each other; agent tokens are checked on every call.

use chrono::Utc;
use vigil_tests::{sim, Stack};

use crate::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_revoked_and_other_tenant_tokens_are_refused() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();

    let status = sim::register(channel.clone(), "vgl_not-a-real-token", "m-1", "h").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    let acme_host = sim::register(channel.clone(), &acme.token, "m-acme", "acme-1").await.unwrap();
    // globex's token cannot stream as acme's host.
    let status = sim::connect(channel.clone(), &globex.token, &acme_host).await.err().expect("refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    // A revoked token is refused from the next call on.
    vigil_gateway::admin::revoke_agent_token(&stack.db.pool, "acme", &acme.token_id).await.unwrap();
    let status = sim::register(channel.clone(), &acme.token, "m-acme", "acme-1").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let refused = match sim::connect(channel.clone(), &acme.token, &acme_host).await {
        Err(status) => status.code() == tonic::Code::Unauthenticated,
        Ok(mut connection) => {
            // Some stacks report the refusal on the first read instead.
            let _ = connection.sender.send(sim::metrics_message(&acme_host, sim::snapshot(1, Utc::now(), 1))).await;
            matches!(connection.replies.message().await, Err(status) if status.code() == tonic::Code::Unauthenticated)
        }
    };
    assert!(refused, "a revoked token could still stream");
    assert_eq!(stack.db.count("SELECT COUNT(*) FROM metrics_host").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_one_tenant_gets_404_for_another_tenants_host() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let globex_host = sim::register(channel, &globex.token, "m-globex", "globex-1").await.unwrap();

    let acme_jwt = stack.login(&acme).await.unwrap();
    let globex_jwt = stack.login(&globex).await.unwrap();
    for path in [format!("/api/hosts/{globex_host}"), format!("/api/hosts/{globex_host}/metrics")] {
        let (status, body) = get(&stack, &path, &acme_jwt).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
        let (status, _) = get(&stack, &path, &globex_jwt).await;
        assert_eq!(status, 200, "{path} for its own tenant");
    }
    let (status, hosts) = get(&stack, "/api/hosts", &acme_jwt).await;
    assert_eq!(status, 200);
    assert_eq!(hosts.as_array().map(Vec::len), Some(0), "acme sees no globex host: {hosts}");
}
