//! Remote actions through the server (issue 11): REST → actioner → bus →
//! the gateway holding the agent's stream → agent → report → actions_log
//! and the live socket. Here the agent is the simulated one (exact control
//! of what it answers); the real `sovigilant` deciding and running actions
//! is in `actions_real.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use vigil_bus::messages::{ActionOrder, ActionType};
use vigil_gateway::admin;
use vigil_testkit::eventually;
use vigil_tests::sandbox::{TenantFixture, VigilProcess};
use vigil_tests::sim::Agent;
use vigil_tests::{live, Stack};

use crate::{get, post};

const WAIT: Duration = Duration::from_secs(30);

async fn stack() -> (Stack, VigilProcess) {
    let stack = Stack::new().await.unwrap();
    let vigil = stack.spawn(&["gateway", "collector", "actioner"]).await.unwrap();
    (stack, vigil)
}

/// A user of `fixture`'s tenant with `role`, signed in.
async fn user(stack: &Stack, fixture: &TenantFixture, role: admin::Role) -> String {
    let email = format!("{}@{}.test", role.as_str(), fixture.tenant);
    let password = format!("pw-{}-0123456789", role.as_str());
    admin::add_user(&stack.db.pool, &fixture.tenant, &email, &password, role).await.unwrap();
    let as_user = TenantFixture { email, password, ..fixture.clone() };
    stack.login(&as_user).await.unwrap()
}

/// The order inside a protobuf action, as the agent rebuilds it to check its signature.
fn order_of(action: &vigil_proto::Action) -> ActionOrder {
    ActionOrder {
        id: action.id.clone(),
        tenant_id: action.tenant_id.clone(),
        host_id: action.host_id.clone(),
        action_type: action.r#type.parse().unwrap(),
        params: action.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
        requested_by: action.requested_by.clone(),
        requested_at: Utc::now(),
        expires_at: DateTime::parse_from_rfc3339(&action.expires_at).unwrap().with_timezone(&Utc),
        timeout_seconds: action.timeout_seconds,
        signature: String::new(),
    }
}

async fn action_key(stack: &Stack) -> Vec<u8> {
    let text = reqwest::get(stack.http("/downloads/actions.pub")).await.unwrap().text().await.unwrap();
    vigil_runtime::signing::decode_public_key(&text).unwrap()
}

fn report(action_id: &str, status: &str) -> vigil_proto::ActionResult {
    vigil_proto::ActionResult { action_id: action_id.to_owned(), status: status.to_owned(), ..Default::default() }
}

/// Waits until `GET /api/actions/{id}` shows `status`; returns the record.
async fn wait_status(stack: &Stack, jwt: &str, id: &str, status: &str) -> Value {
    eventually(&format!("action {id} {status}"), WAIT, || async {
        let (code, body) = get(stack, &format!("/api/actions/{id}"), jwt).await;
        (code == 200 && body["status"] == status).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_reaches_the_agent_signed_and_its_report_is_stored_and_pushed_live() {
    let (stack, _vigil) = stack().await;
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let mut agent = Agent::start(&stack, &fixture.token, "web-1").await.unwrap();
    let mut ws = live::connect(stack.http_port, &jwt).await.unwrap();
    live::subscribe(&mut ws, None).await.unwrap();

    let (code, body) = post(
        &stack,
        &format!("/api/hosts/{}/action", agent.host),
        &jwt,
        json!({"type": "restart_service", "params": {"service": "php8.2-fpm"}}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["requested_by"], fixture.email);
    let id = body["id"].as_str().unwrap().to_owned();

    let action = agent.next_action(WAIT).await.expect("the order reaches the agent");
    assert_eq!((action.id.as_str(), action.r#type.as_str()), (id.as_str(), "restart_service"));
    assert_eq!((action.tenant_id.as_str(), action.host_id.as_str()), ("acme", agent.host.as_str()));
    assert_eq!(action.params.get("service").map(String::as_str), Some("php8.2-fpm"));
    assert_eq!(action.timeout_seconds, 60);
    let expires = DateTime::parse_from_rfc3339(&action.expires_at).unwrap().with_timezone(&Utc);
    let ttl = (expires - Utc::now()).num_seconds();
    assert!((290..=300).contains(&ttl), "default ttl 5 min, got {ttl} s");
    let key = action_key(&stack).await;
    let signed = vigil_bus::actions::signed_message(&order_of(&action));
    assert!(vigil_runtime::signing::verify(&key, &signed, &action.signature), "the order is signed by the served key");
    let mut forged = order_of(&action);
    forged.params.insert("service".into(), "sshd".into());
    assert!(!vigil_runtime::signing::verify(&key, &vigil_bus::actions::signed_message(&forged), &action.signature));

    let dispatched = wait_status(&stack, &jwt, &id, "pending").await;
    eventually("dispatched_at recorded", WAIT, || async {
        let (_, body) = get(&stack, &format!("/api/actions/{id}"), &jwt).await;
        body["dispatched_at"].is_string().then_some(())
    })
    .await;
    assert!(dispatched["output"].is_string());

    agent
        .report(vigil_proto::ActionResult {
            command: "systemctl restart php8.2-fpm.service".into(),
            rule: "systemctl restart *".into(),
            started_at: vigil_tests::sim::rfc3339(Utc::now()),
            ..report(&id, "running")
        })
        .await;
    wait_status(&stack, &jwt, &id, "running").await;
    agent
        .report(vigil_proto::ActionResult {
            success: true,
            exit_code: Some(0),
            output: "restarted\n".into(),
            duration_ms: 1234,
            ..report(&id, "success")
        })
        .await;
    let done = wait_status(&stack, &jwt, &id, "success").await;
    assert_eq!(done["command"], "systemctl restart php8.2-fpm.service");
    assert_eq!(done["rule"], "systemctl restart *");
    assert_eq!((done["exit_code"].as_i64(), done["duration_ms"].as_u64()), (Some(0), Some(1234)));
    assert_eq!(done["output"], "restarted\n");
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());

    // a duplicated report changes nothing
    agent.report(vigil_proto::ActionResult { output: "again".into(), ..report(&id, "failed") }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(wait_status(&stack, &jwt, &id, "success").await["output"], "restarted\n");

    // the live socket saw every status, in order
    let mut seen = Vec::new();
    while !seen.contains(&"success".to_owned()) {
        let frame = live::wait_frame(&mut ws, WAIT, |f| f["type"] == "action").await.unwrap().expect("an action frame");
        assert_eq!(frame["id"], id.as_str());
        assert_eq!(frame["action"]["host_id"], agent.host.as_str());
        seen.push(frame["status"].as_str().unwrap().to_owned());
    }
    seen.dedup();
    assert_eq!(seen, ["pending", "running", "success"]);

    let (code, list) = get(&stack, &format!("/api/actions?host_id={}", agent.host), &jwt).await;
    assert_eq!(code, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert!(list[0].get("output").is_none(), "lists carry no output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_cannot_act_operators_can_bad_params_are_named_and_other_tenants_see_404() {
    let (stack, _vigil) = stack().await;
    let fixture = stack.tenant("acme").await.unwrap();
    let other = stack.tenant("globex").await.unwrap();
    let viewer = user(&stack, &fixture, admin::Role::Viewer).await;
    let operator = user(&stack, &fixture, admin::Role::Operator).await;
    let outsider = stack.login(&other).await.unwrap();
    let mut agent = Agent::start(&stack, &fixture.token, "web-1").await.unwrap();
    let path = format!("/api/hosts/{}/action", agent.host);
    let restart = json!({"type": "restart_service", "params": {"service": "nginx"}});

    let (code, body) = post(&stack, &path, &viewer, restart.clone()).await;
    assert_eq!(code, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("operator or admin"), "{body}");
    let (code, body) = post(&stack, &path, &operator, restart.clone()).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["requested_by"], "operator@acme.test");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(agent.next_action(WAIT).await.expect("handed over").id, id);

    // the viewer reads it; another tenant sees nothing
    assert_eq!(get(&stack, &format!("/api/actions/{id}"), &viewer).await.0, 200);
    assert_eq!(get(&stack, &format!("/api/actions/{id}"), &outsider).await.0, 404);
    assert_eq!(get(&stack, "/api/actions", &outsider).await.1, json!([]));
    let (code, _) = post(&stack, &path, &outsider, restart.clone()).await;
    assert_eq!(code, 404, "another tenant's host");
    let (code, _) =
        post(&stack, &format!("/api/containers/{}:web/action", agent.host), &outsider, json!({"action": "restart"})).await;
    assert_eq!(code, 404, "another tenant's container");

    for (body, expected) in [
        (
            json!({"type": "restart_service", "params": {"service": "nginx;reboot"}}),
            "params.service \"nginx;reboot\" contains ';'",
        ),
        (json!({"type": "restart_service", "params": {"service": "a\nb"}}), "params.service \"a\\nb\" contains '\\n'"),
        (json!({"type": "exec", "params": {"command": "id", "user": "root"}}), "params.user is not a parameter of exec"),
        (json!({"type": "reboot", "params": {}}), "type: action type \"reboot\" is not one of"),
        (
            json!({"type": "exec", "params": {"command": "id"}, "timeout_seconds": 86400}),
            "timeout_seconds is 86400; at most 3600",
        ),
    ] {
        let (code, reply) = post(&stack, &path, &operator, body.clone()).await;
        assert_eq!(code, 422, "{body} -> {reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains(expected), "{body} -> {reply}");
    }
    let (_, list) = get(&stack, "/api/actions", &operator).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "refused requests record nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_waits_for_an_offline_agent_until_its_ttl_then_expires_and_is_never_handed_over() {
    let (stack, _vigil) = stack().await;
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let agent = Agent::start(&stack, &fixture.token, "web-1").await.unwrap();
    let host = agent.host.clone();
    drop(agent);

    // waits: handed over when the agent connects within the TTL
    let (code, waiting) = post(
        &stack,
        &format!("/api/hosts/{host}/action"),
        &jwt,
        json!({"type": "status_service", "params": {"service": "nginx"}}),
    )
    .await;
    assert_eq!(code, 202, "{waiting}");
    let (code, expiring) = post(
        &stack,
        &format!("/api/hosts/{host}/action"),
        &jwt,
        json!({"type": "stop_service", "params": {"service": "nginx"}, "ttl_seconds": 1}),
    )
    .await;
    assert_eq!(code, 202, "{expiring}");
    let expired = wait_status(&stack, &jwt, expiring["id"].as_str().unwrap(), "expired").await;
    assert!(expired["error"].as_str().unwrap().contains("did not start it before it expired"), "{expired}");

    let mut agent = Agent::start(&stack, &fixture.token, "web-1").await.unwrap();
    assert_eq!(agent.host, host);
    let handed = agent.next_action(WAIT).await.expect("the waiting order on connect");
    assert_eq!(handed.id, waiting["id"].as_str().unwrap());
    assert!(agent.next_action(Duration::from_secs(2)).await.is_none(), "the expired order is never handed over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_action_names_the_container_and_the_engine_its_host_reported() {
    let (stack, _vigil) = stack().await;
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let mut agent = Agent::start(&stack, &fixture.token, "web-1").await.unwrap();
    agent
        .send_with(Utc::now(), |metrics| {
            metrics.containers = vec![vigil_proto::ContainerMetrics {
                name: "shop-db".into(),
                runtime: "podman".into(),
                status: "running".into(),
                ..Default::default()
            }];
        })
        .await;
    let container = format!("{}:shop-db", agent.host);
    eventually("the container stored", WAIT, || async {
        (get(&stack, &format!("/api/containers/{container}"), &jwt).await.0 == 200).then_some(())
    })
    .await;
    let (code, body) = post(&stack, &format!("/api/containers/{container}/action"), &jwt, json!({"action": "restart"})).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["type"], "restart_container");
    assert_eq!(body["params"], json!({"container": "shop-db", "engine": "podman"}));
    let action = agent.next_action(WAIT).await.expect("handed over");
    assert_eq!(action.r#type, ActionType::RestartContainer.as_str());
    assert_eq!(action.params.get("engine").map(String::as_str), Some("podman"));

    let (code, body) = post(&stack, &format!("/api/containers/{container}/action"), &jwt, json!({"action": "kill"})).await;
    assert_eq!(code, 422);
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with("action: \"kill\" is not one of restart, start, stop"),
        "{body}"
    );
    let (code, _) = post(&stack, &format!("/api/containers/{}:nope/action", agent.host), &jwt, json!({"action": "stop"})).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reconnecting_after_a_gateway_restart_is_handed_its_running_order_again_and_the_report_lands_once() {
    let stack = Stack::new().await.unwrap();
    let _backend = stack.spawn(&["collector", "actioner"]).await.unwrap();
    let mut gateway = stack.spawn(&["gateway"]).await.unwrap();
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let mut agent = Agent::start(&stack, &fixture.token, "web-1").await.unwrap();
    let (_, body) = post(
        &stack,
        &format!("/api/hosts/{}/action", agent.host),
        &jwt,
        json!({"type": "exec", "params": {"command": "sleep 2"}}),
    )
    .await;
    let id = body["id"].as_str().unwrap().to_owned();
    agent.next_action(WAIT).await.expect("handed over");
    agent.report(report(&id, "running")).await;
    wait_status(&stack, &jwt, &id, "running").await;

    // the gateway dies between dispatch and result
    gateway.kill();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while agent.reconnect(&stack).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the agent cannot reconnect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = agent.next_action(WAIT).await.expect("the running order handed over again");
    assert_eq!(again.id, id, "the agent answers it from its record, never running it twice");
    agent.report(vigil_proto::ActionResult { exit_code: Some(0), success: true, ..report(&id, "success") }).await;
    agent.report(vigil_proto::ActionResult { exit_code: Some(0), success: true, ..report(&id, "success") }).await;
    wait_status(&stack, &jwt, &id, "success").await;
    let (_, list) = get(&stack, "/api/actions", &jwt).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}
