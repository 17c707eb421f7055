//! Remote actions through the whole stack with a real `sovigilant` deciding
//! and running them (issue 11): REST → actioner → bus → gateway → agent →
//! real processes → report → actions_log. The agent's config allows
//! `exec echo *` and `exec sh /…/slow.sh` only; its action key is pinned as
//! `sovigilant init` pins it.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use vigil_bus::messages::{ActionOrder, ActionStage, ActionType};
use vigil_testkit::eventually;
use vigil_tests::sandbox::{AgentProcess, TenantFixture};
use vigil_tests::Stack;

use crate::{get, post, wait_for_host};

const WAIT: Duration = Duration::from_secs(30);

async fn action_key(stack: &Stack) -> String {
    reqwest::get(stack.http("/downloads/actions.pub")).await.unwrap().text().await.unwrap()
}

/// A real agent allowing `exec echo *` and `exec sh <dir>/slow.sh`, its key pinned.
async fn agent(stack: &Stack, fixture: &TenantFixture, scripts: &std::path::Path) -> AgentProcess {
    let key = action_key(stack).await;
    let config = format!(
        "actions:\n  enabled: true\n  service_manager: none\n  allowed:\n    - \"exec echo *\"\n    - \"exec sh {}/slow.sh\"\n  denied:\n    - \"exec echo forbidden*\"\n",
        scripts.display()
    );
    stack.agent_with(fixture, "1s", &config, Some(&key)).unwrap()
}

async fn act(stack: &Stack, jwt: &str, host: &str, body: Value) -> String {
    let (code, reply) = post(stack, &format!("/api/hosts/{host}/action"), jwt, body).await;
    assert_eq!(code, 202, "{reply}");
    reply["id"].as_str().unwrap().to_owned()
}

/// Waits until the action is final; returns its record.
async fn finished(stack: &Stack, jwt: &str, id: &str) -> Value {
    eventually(&format!("action {id} to finish"), WAIT, || async {
        let (code, body) = get(stack, &format!("/api/actions/{id}"), jwt).await;
        (code == 200 && !["pending", "running"].contains(&body["status"].as_str().unwrap_or("pending"))).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_runs_what_it_allows_refuses_the_rest_and_reports_through_the_stack() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector", "actioner"]).await.unwrap();
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let agent = agent(&stack, &fixture, scripts.path()).await;
    let host = wait_for_host(&stack, &jwt).await;

    // the policy the agent registered is on its host
    let (_, record) = get(&stack, &format!("/api/hosts/{host}"), &jwt).await;
    assert_eq!(record["actions"]["enabled"], true, "{record}");
    assert_eq!(record["actions"]["service_manager"], "none");
    assert_eq!(record["actions"]["denied"], json!(["exec echo forbidden*"]));

    let allowed = act(&stack, &jwt, &host, json!({"type": "exec", "params": {"command": "echo hello from vigil"}})).await;
    let done = finished(&stack, &jwt, &allowed).await;
    assert_eq!(done["status"], "success", "{done}\n{}", agent.log_text());
    assert_eq!(done["output"], "hello from vigil\n");
    assert_eq!(done["command"], "exec echo hello from vigil");
    assert_eq!(done["rule"], "exec echo *");
    assert_eq!(done["exit_code"], 0);

    let denied = act(&stack, &jwt, &host, json!({"type": "exec", "params": {"command": "echo forbidden fruit"}})).await;
    let done = finished(&stack, &jwt, &denied).await;
    assert_eq!((done["status"].as_str(), done["rule"].as_str()), (Some("denied"), Some("exec echo forbidden*")), "{done}");

    // exec is refused unless an entry names it: `id` is not `echo`
    let default_deny = act(&stack, &jwt, &host, json!({"type": "exec", "params": {"command": "id"}})).await;
    let done = finished(&stack, &jwt, &default_deny).await;
    assert_eq!(done["status"], "denied", "{done}");
    assert!(done["rule"].is_null(), "{done}");

    // a wildcard never matches a shell metacharacter: no `; id` or `$(...)` rides along
    for command in ["echo hi; id", "echo $(id)"] {
        let chained = act(&stack, &jwt, &host, json!({"type": "exec", "params": {"command": command}})).await;
        assert_eq!(finished(&stack, &jwt, &chained).await["status"], "denied", "{command}");
    }

    // no service manager on this agent: a service action is refused by the agent
    let service = act(&stack, &jwt, &host, json!({"type": "restart_service", "params": {"service": "nginx"}})).await;
    assert_eq!(finished(&stack, &jwt, &service).await["status"], "denied");
    let log = agent.log_text();
    assert!(log.contains(&denied) && log.contains("exec echo forbidden*"), "the agent logs its refusals:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_forged_on_the_bus_reaches_the_agent_and_is_refused_there() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector", "actioner"]).await.unwrap();
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let marker = scripts.path().join("forged-ran");
    let agent = agent(&stack, &fixture, scripts.path()).await;
    let host = wait_for_host(&stack, &jwt).await;
    // wait until the agent's stream is open (its snapshots are acked)
    eventually("the agent online", WAIT, || async {
        let (_, record) = get(&stack, &format!("/api/hosts/{host}"), &jwt).await;
        (record["status"] == "online").then_some(())
    })
    .await;

    // someone with the bus's credentials but not the action key
    let nats = stack.nats.client().await;
    let mut results = nats.subscribe(vigil_bus::subjects::action("acme", &host, ActionStage::Result)).await.unwrap();
    let forged = ActionOrder {
        id: "act-forged0000000001".into(),
        tenant_id: "acme".into(),
        host_id: host.clone(),
        action_type: ActionType::Exec,
        params: [("command".to_owned(), format!("echo x > {}", marker.display()))].into(),
        requested_by: "mallory".into(),
        requested_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::minutes(5),
        timeout_seconds: 10,
        // signed by another key
        signature: vigil_runtime::signing::SigningKey::ensure(&scripts.path().join("other.key"), "test key")
            .unwrap()
            .sign(b"whatever"),
    };
    nats.publish(vigil_bus::subjects::action("acme", &host, ActionStage::Requested), serde_json::to_vec(&forged).unwrap().into())
        .await
        .unwrap();
    let report = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut results)).await.expect("a report").expect("a message");
    let report: vigil_bus::messages::ActionOutcome = serde_json::from_slice(&report.payload).unwrap();
    assert_eq!(report.action_id, forged.id);
    assert_eq!(report.status, vigil_bus::messages::ActionStatus::Denied, "{report:?}");
    assert!(report.error.as_deref().unwrap_or_default().contains("signature"), "{report:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!marker.exists(), "the forged command never ran");
    assert!(agent.log_text().contains("act-forged0000000001"), "the refusal is in the agent's log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_between_dispatch_and_result_the_action_runs_once_and_its_result_is_recorded() {
    let stack = Stack::new().await.unwrap();
    let _backend = stack.spawn(&["collector", "actioner"]).await.unwrap();
    let mut gateway = stack.spawn(&["gateway"]).await.unwrap();
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let runs = scripts.path().join("runs");
    std::fs::write(scripts.path().join("slow.sh"), format!("echo started >> {}\nsleep 3\necho finished\n", runs.display()))
        .unwrap();
    let agent = agent(&stack, &fixture, scripts.path()).await;
    let host = wait_for_host(&stack, &jwt).await;

    let command = format!("sh {}/slow.sh", scripts.path().display());
    let id = act(&stack, &jwt, &host, json!({"type": "exec", "params": {"command": command}})).await;
    eventually("the action running", WAIT, || async {
        let (_, body) = get(&stack, &format!("/api/actions/{id}"), &jwt).await;
        (body["status"] == "running").then_some(())
    })
    .await;
    gateway.kill();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();

    let done = finished(&stack, &jwt, &id).await;
    assert_eq!(done["status"], "success", "{done}\n{}", agent.log_text());
    assert_eq!(done["output"], "finished\n");
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "started\n", "the command ran exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_offline_past_the_ttl_never_runs_the_action() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector", "actioner"]).await.unwrap();
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let marker = scripts.path().join("late");
    let mut agent = agent(&stack, &fixture, scripts.path()).await;
    let host = wait_for_host(&stack, &jwt).await;
    agent.stop();

    let id = act(
        &stack,
        &jwt,
        &host,
        json!({"type": "exec", "params": {"command": format!("echo late > {}", marker.display())}, "ttl_seconds": 1}),
    )
    .await;
    let done = finished(&stack, &jwt, &id).await;
    assert_eq!(done["status"], "expired", "{done}");
    agent.start().unwrap();
    eventually("the agent back online", WAIT, || async {
        let (_, record) = get(&stack, &format!("/api/hosts/{host}"), &jwt).await;
        (record["status"] == "online").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!marker.exists(), "an expired action never runs late");
    assert_eq!(finished(&stack, &jwt, &id).await["status"], "expired");
}
