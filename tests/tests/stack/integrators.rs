//! Integrators (issue 12 point 4): a tenant's own NATS account, made by the
//! gateway and pushed to a running nats-server in operator mode (the kit's
//! server, from the project's template), imports only that tenant's
//! `metrics.`, `hosts.`, `alerts.`, `actions.` subjects from the platform
//! account `VIGIL` and keeps them in its `HISTORY` stream. An integrator of
//! tenant A receives A's live messages and A's history and nothing of B; it
//! cannot publish into the platform, directly or through a reply subject,
//! nor create, delete or read the platform's streams and consumers.

use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{json, Value};
use vigil_bus::messages::{ActionStage, AlertTransition, HostEventKind};
use vigil_bus::subjects;
use vigil_testkit::eventually;
use vigil_tests::Stack;

use crate::{get, post, send};

/// How long a message that must never arrive is waited for.
const QUIET: Duration = Duration::from_secs(2);

/// One subject of each exported kind for tenant `tenant`, host `host`.
fn tenant_subjects(tenant: &str, host: &str) -> [String; 4] {
    [
        subjects::metrics(tenant, host),
        subjects::host_event(tenant, host, HostEventKind::Online),
        subjects::alert_event(tenant, host, AlertTransition::Fired),
        subjects::action(tenant, host, ActionStage::Requested),
    ]
}

/// Publishes `payload` on each subject as the platform does (JetStream, PubAck awaited).
async fn publish_all(platform: &async_nats::Client, subjects: &[String], payload: &str) {
    let jetstream = jetstream::new(platform.clone());
    for subject in subjects {
        let body = json!({ "test": payload, "subject": subject }).to_string();
        jetstream.publish(subject.clone(), body.into()).await.unwrap().await.unwrap_or_else(|e| panic!("{subject}: {e}"));
    }
}

/// An integrator created over REST by tenant `tenant`'s admin: (creds, answer).
async fn create_integrator(stack: &Stack, jwt: &str, name: &str) -> (String, Value) {
    let (status, created) = post(stack, "/api/config/integrators", jwt, json!({ "name": name })).await;
    assert_eq!(status, 201, "{created}");
    (created["credentials"].as_str().expect("the creds file, once").to_owned(), created)
}

/// A client with `creds` whose requests give up after 2 s (a refused
/// publish gets no answer).
async fn connect(stack: &Stack, creds: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .credentials(creds)
        .expect("a creds file")
        .request_timeout(Some(Duration::from_secs(2)))
        .connect(&stack.nats.url)
        .await
}

/// Every message of the account's `HISTORY` stream, read by an ephemeral
/// pull consumer as an integrator reads it: subjects in order.
async fn history(client: &async_nats::Client, at_least: usize) -> Vec<String> {
    let stream = jetstream::new(client.clone()).get_stream("HISTORY").await.expect("the account's history stream");
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("an integrator creates a consumer of its history");
    let mut seen = Vec::new();
    let mut messages = consumer.fetch().max_messages(100).expires(Duration::from_secs(2)).messages().await.unwrap();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        message.ack().await.expect("an integrator acks its history");
        seen.push(message.subject.to_string());
        if seen.len() >= at_least + 16 {
            break;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrator_receives_its_tenants_live_messages_and_history_and_nothing_of_another_tenant() {
    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let (acme, beta) = (stack.tenant("acme").await.unwrap(), stack.tenant("beta").await.unwrap());
    let (acme_jwt, beta_jwt) = (stack.login(&acme).await.unwrap(), stack.login(&beta).await.unwrap());
    let (acme_creds, created) = create_integrator(&stack, &acme_jwt, "grafana").await;
    assert_eq!(created["stream"], "HISTORY", "{created}");
    assert_eq!(created["subjects"], json!(["metrics.acme.>", "hosts.acme.>", "alerts.acme.>", "actions.acme.>"]));
    let (beta_creds, _) = create_integrator(&stack, &beta_jwt, "beta-reader").await;
    let platform = stack.nats.client().await;

    // History: published before any integrator connects.
    let acme_before = tenant_subjects("acme", "h1");
    let beta_before = tenant_subjects("beta", "h1");
    publish_all(&platform, &acme_before, "before").await;
    publish_all(&platform, &beta_before, "before").await;

    // Live: an integrator of acme subscribes to its four subjects, and tries beta's.
    let integrator = connect(&stack, &acme_creds).await.expect("acme's integrator connects");
    let mut live = Vec::new();
    for filter in ["metrics.acme.>", "hosts.acme.>", "alerts.acme.>", "actions.acme.>"] {
        live.push(integrator.subscribe(filter).await.unwrap());
    }
    let mut stolen = integrator.subscribe("metrics.beta.>").await.unwrap();
    let mut everything = integrator.subscribe(">").await.unwrap();
    integrator.flush().await.unwrap();

    let acme_live = tenant_subjects("acme", "h2");
    publish_all(&platform, &beta_before, "meanwhile").await;
    publish_all(&platform, &acme_live, "live").await;
    publish_all(&platform, &tenant_subjects("beta", "h2"), "meanwhile").await;
    for (subscription, subject) in live.iter_mut().zip(&acme_live) {
        let message = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .unwrap_or_else(|_| panic!("acme's integrator did not receive {subject}"))
            .unwrap();
        assert_eq!(message.subject.as_str(), subject);
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["test"], "live", "only what was published after it subscribed: {body}");
    }
    assert!(tokio::time::timeout(QUIET, stolen.next()).await.is_err(), "beta's metrics reached acme's integrator");
    assert!(tokio::time::timeout(QUIET, everything.next()).await.is_err(), "a subscription to > delivered something");

    // History: acme's, published before it connected, then the live ones; none of beta's.
    let seen = eventually("acme's history", Duration::from_secs(10), || async {
        let seen = history(&integrator, 8).await;
        (seen.len() >= 8).then_some(seen)
    })
    .await;
    assert_eq!(seen[..4], acme_before, "history starts with what was published before the integrator connected");
    assert_eq!(seen[4..], acme_live, "then the live messages, and nothing else");

    let beta_integrator = connect(&stack, &beta_creds).await.unwrap();
    let seen = history(&beta_integrator, 12).await;
    assert!(seen.iter().all(|subject| subject.split('.').nth(1) == Some("beta")), "{seen:?}");
    assert_eq!(seen.len(), 12, "beta's own: before, meanwhile, meanwhile (h2): {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrator_cannot_publish_into_the_platform_nor_touch_its_streams() {
    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let (creds, _) = create_integrator(&stack, &jwt, "intruder").await;
    let platform = stack.nats.client().await;
    let integrator = connect(&stack, &creds).await.unwrap();

    // The platform listens where a forged message would land.
    let reply_to = format!("_INBOX.platform-{}", vigil_testkit::random_suffix());
    let mut listening = Vec::new();
    for subject in ["metrics.>", "hosts.>", "vigil.collector.>", "vigil.>", "$JS.API.>", reply_to.as_str()] {
        listening.push((subject.to_owned(), platform.subscribe(subject.to_owned()).await.unwrap()));
    }
    platform.flush().await.unwrap();

    // A message the integrator receives with a platform reply subject.
    let mut received = integrator.subscribe("metrics.acme.>").await.unwrap();
    integrator.flush().await.unwrap();
    // (published again until it arrives: the account's import may take
    // effect a moment after the integrator's subscription)
    let mut sent = 0;
    let message = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            platform.publish_with_reply("metrics.acme.h1", reply_to.clone(), "asking".into()).await.unwrap();
            platform.flush().await.unwrap();
            sent += 1;
            if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), received.next()).await {
                break message;
            }
        }
    })
    .await
    .expect("the integrator receives it");
    let marker = "forged-by-the-integrator";
    if let Some(reply) = &message.reply {
        integrator.publish(reply.clone(), marker.into()).await.unwrap();
    }
    // Straight publishes into platform subjects and the platform's JetStream API.
    for subject in [
        "metrics.acme.h1",
        "hosts.acme.h1.online",
        "vigil.collector.hosts.list",
        "vigil.collector.metrics.range",
        "$JS.API.STREAM.DELETE.METRICS",
        "$JS.API.STREAM.PURGE.METRICS",
        reply_to.as_str(),
    ] {
        integrator.publish(subject.to_owned(), marker.into()).await.unwrap();
    }
    integrator.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + QUIET;
    let mut answers = Vec::new();
    for (subject, subscription) in &mut listening {
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, subscription.next()).await {
            assert_ne!(
                message.payload.as_ref(),
                marker.as_bytes(),
                "the integrator's message reached {subject} as {}",
                message.subject
            );
            if *subject == reply_to {
                answers.push(serde_json::from_slice::<Value>(&message.payload).unwrap());
            }
        }
    }
    // The one answer to each of the platform's publishes is METRICS's PubAck:
    // the tenant's HISTORY stream, which captured it too, acks in its own
    // account (the gateway acks an agent only after METRICS stored its snapshot).
    assert_eq!(answers.len(), sent, "{answers:?}");
    assert!(answers.iter().all(|answer| answer["stream"] == "METRICS"), "{answers:?}");

    // The JetStream API: nothing of the platform's, and only reads of its own stream.
    let refused = |what: &str, result: Result<async_nats::Message, async_nats::RequestError>| match result {
        Err(_) => {}
        Ok(answer) => panic!("{what} was answered: {}", String::from_utf8_lossy(&answer.payload)),
    };
    refused("STREAM.INFO of METRICS", integrator.request("$JS.API.STREAM.INFO.METRICS", "".into()).await);
    refused("STREAM.DELETE of METRICS", integrator.request("$JS.API.STREAM.DELETE.METRICS", "".into()).await);
    refused(
        "CONSUMER.DELETE of the collector's",
        integrator.request("$JS.API.CONSUMER.DELETE.METRICS.collector", "".into()).await,
    );
    refused("CONSUMER.INFO of the collector's", integrator.request("$JS.API.CONSUMER.INFO.METRICS.collector", "".into()).await);
    refused("STREAM.LIST", integrator.request("$JS.API.STREAM.LIST", "".into()).await);
    refused(
        "STREAM.CREATE",
        integrator
            .request("$JS.API.STREAM.CREATE.MINE", json!({"name": "MINE", "subjects": ["metrics.acme.>"]}).to_string().into())
            .await,
    );
    refused("STREAM.DELETE of its own HISTORY", integrator.request("$JS.API.STREAM.DELETE.HISTORY", "".into()).await);
    refused("STREAM.PURGE of its own HISTORY", integrator.request("$JS.API.STREAM.PURGE.HISTORY", "".into()).await);
    refused("STREAM.UPDATE of its own HISTORY", integrator.request("$JS.API.STREAM.UPDATE.HISTORY", "{}".into()).await);
    assert!(jetstream::new(integrator.clone()).get_stream("METRICS").await.is_err(), "the integrator reads METRICS");

    // Everything is where it was.
    let platform_js = jetstream::new(platform.clone());
    let mut metrics = platform_js.get_stream("METRICS").await.expect("METRICS is still there");
    assert!(metrics.info().await.unwrap().state.messages >= 1);
    let mut own = jetstream::new(integrator.clone()).get_stream("HISTORY").await.expect("its HISTORY is still there");
    assert!(own.info().await.unwrap().state.messages >= 1, "and still holds the message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_integrator_is_refused_and_only_admins_manage_integrators() {
    let mut stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let (creds, created) = create_integrator(&stack, &jwt, "old-reader").await;
    let (kept_creds, _) = create_integrator(&stack, &jwt, "kept-reader").await;
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, listed) = get(&stack, "/api/config/integrators", &jwt).await;
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|i| i.get("credentials").is_none() && i["revoked_at"].is_null()), "{listed:?}");
    let (_, seed) = vigil_bus::accounts::parse_creds(&creds, "test").unwrap();
    assert!(!serde_json::to_string(listed).unwrap().contains(&seed), "a list never carries a seed");

    let connected = connect(&stack, &creds).await.expect("the integrator connects before its revocation");
    let (status, body) = send(&stack, reqwest::Method::DELETE, &format!("/api/config/integrators/{id}"), &jwt, None).await;
    assert_eq!(status, 204, "{body}");
    let refused = connect(&stack, &creds).await.map(|_| ()).expect_err("a revoked integrator connected");
    assert_eq!(refused.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{refused}");
    eventually("the revoked integrator's connection dropped", Duration::from_secs(10), || async {
        connected.connection_state() != async_nats::connection::State::Connected
    })
    .await;
    let kept = connect(&stack, &kept_creds).await.expect("the other integrator still connects");
    kept.flush().await.unwrap();
    let (_, listed) = get(&stack, "/api/config/integrators", &jwt).await;
    let revoked = listed.as_array().unwrap().iter().find(|i| i["id"] == id.as_str()).unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // Still revoked after the gateway pushed every account again (a restart).
    stack.nats.restart().await;
    drop(_gateway);
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let refused = connect(&stack, &creds).await.map(|_| ()).expect_err("a revoked integrator connected after a restart");
    assert_eq!(refused.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{refused}");
    connect(&stack, &kept_creds).await.expect("the other integrator connects after a restart");

    // Unknown ids are 404, other tenants' too; viewers are refused.
    let (status, _) = send(&stack, reqwest::Method::DELETE, "/api/config/integrators/int-nope", &jwt, None).await;
    assert_eq!(status, 404);
    let beta = stack.tenant("beta").await.unwrap();
    let beta_jwt = stack.login(&beta).await.unwrap();
    let (status, _) = send(&stack, reqwest::Method::DELETE, &format!("/api/config/integrators/{id}"), &beta_jwt, None).await;
    assert_eq!(status, 404, "another tenant's integrator");
    vigil_gateway::admin::add_user(
        &stack.db.pool,
        "acme",
        "viewer@acme.test",
        "pw-viewer-0123456789",
        vigil_gateway::admin::Role::Viewer,
    )
    .await
    .unwrap();
    let viewer =
        vigil_tests::TenantFixture { email: "viewer@acme.test".into(), password: "pw-viewer-0123456789".into(), ..acme.clone() };
    let viewer_jwt = stack.login(&viewer).await.unwrap();
    assert_eq!(get(&stack, "/api/config/integrators", &viewer_jwt).await.0, 403);
    assert_eq!(post(&stack, "/api/config/integrators", &viewer_jwt, json!({})).await.0, 403);
    let (status, body) = post(&stack, "/api/config/integrators", &jwt, json!({ "name": "x".repeat(101) })).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("name: "), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_integrator_create_writes_creds_that_read_the_tenants_subjects() {
    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let out = stack.data_dir.path().join("ops.creds");
    let output = std::process::Command::new(vigil_tests::bin("vigil"))
        .args(["integrator", "create", "--tenant", "ops", "--name", "cli-reader", "--out"])
        .arg(&out)
        .envs(stack.env())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{said}{}", String::from_utf8_lossy(&output.stderr));
    assert!(said.contains("integrator id: int-") && said.contains("metrics.ops.>"), "{said}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let creds = std::fs::read_to_string(&out).unwrap();
    let (_, seed) = vigil_bus::accounts::parse_creds(&creds, "test").unwrap();
    assert!(!said.contains(&seed), "written to the file, not printed");

    let integrator = connect(&stack, &creds).await.expect("the cli's creds connect");
    let mut metrics = integrator.subscribe("metrics.ops.>").await.unwrap();
    integrator.flush().await.unwrap();
    publish_all(&stack.nats.client().await, &[subjects::metrics("ops", "h1")], "cli").await;
    let message = tokio::time::timeout(Duration::from_secs(10), metrics.next()).await.expect("ops's metrics").unwrap();
    assert_eq!(message.subject.as_str(), "metrics.ops.h1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_gateway_gives_a_server_that_lost_its_store_the_tenant_accounts_back() {
    let mut stack = Stack::new().await.unwrap();
    let gateway = stack.spawn(&["gateway"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&acme).await.unwrap();
    let (creds, _) = create_integrator(&stack, &jwt, "survivor").await;
    connect(&stack, &creds).await.expect("the integrator connects");

    // The server loses its store: acme's account is unknown, its creds refused.
    drop(gateway);
    stack.nats.restart_empty().await;
    let refused = connect(&stack, &creds).await.map(|_| ()).expect_err("an unknown account's user connected");
    assert_eq!(refused.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{refused}");

    // A gateway that starts pushes it again, with its HISTORY stream.
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let integrator = eventually("acme's account pushed again", Duration::from_secs(20), || async {
        connect(&stack, &creds).await.map_err(|error| error.to_string())
    })
    .await;
    let mut live = integrator.subscribe("metrics.acme.>").await.unwrap();
    integrator.flush().await.unwrap();
    publish_all(&stack.nats.client().await, &[subjects::metrics("acme", "h1")], "after").await;
    tokio::time::timeout(Duration::from_secs(10), live.next()).await.expect("acme's metrics again").unwrap();
    let seen = eventually("the HISTORY stream again", Duration::from_secs(10), || async {
        let seen = history(&integrator, 1).await;
        (!seen.is_empty()).then_some(seen)
    })
    .await;
    assert_eq!(seen, ["metrics.acme.h1"]);
}
