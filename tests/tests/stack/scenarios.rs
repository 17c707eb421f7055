//! Scenarios end to end (seed §4.5, issue 11): `vigil run gateway collector
//! alerter actioner orchestrator` (or the orchestrator as a process of its
//! own), a simulated agent over the real gRPC+TLS path answering the
//! actions it is handed, notifications received by a real HTTP receiver
//! (a webhook channel). The orchestrator is driven through its NATS
//! endpoints (typed requests of `vigil_bus::subjects::orchestrator`); rules
//! and channels through REST.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use vigil_bus::messages::{
    ListRuns, OfTenant, PutScenarioSettings, RunScenario, RunStatus, SaveScenario, ScenarioRecord, ScenarioRun, StepStatus,
    TenantItem,
};
use vigil_bus::subjects::orchestrator;
use vigil_bus::{ErrorCode, ServiceError};
use vigil_testkit::eventually;
use vigil_testkit::receivers::{HttpReceiver, Recorded};
use vigil_tests::sandbox::TenantFixture;
use vigil_tests::sim::Agent;
use vigil_tests::Stack;

use crate::{get, post, send};

const WAIT: Duration = Duration::from_secs(30);
const ALL: [&str; 5] = ["gateway", "collector", "alerter", "actioner", "orchestrator"];

/// A tenant signed in, with a webhook channel `hook` pointing at `receiver`
/// and no default rule (snapshots dated a little in the past would make
/// the host-offline rule fire).
struct Tenant {
    fixture: TenantFixture,
    jwt: String,
    nats: async_nats::Client,
}

async fn tenant(stack: &Stack, receiver: &HttpReceiver) -> Tenant {
    let fixture = stack.tenant("acme").await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let (status, channels) = send(
        stack,
        reqwest::Method::PUT,
        "/api/config/notifications",
        &jwt,
        Some(json!([{"name": "hook", "type": "webhook", "config": {"url": receiver.url()}}])),
    )
    .await;
    assert_eq!(status, 200, "{channels}");
    let (_, rules) = get(stack, "/api/alerts/rules", &jwt).await;
    for rule in rules.as_array().unwrap() {
        let path = format!("/api/alerts/rules/{}", rule["id"].as_str().unwrap());
        assert_eq!(send(stack, reqwest::Method::DELETE, &path, &jwt, None).await.0, 204);
    }
    Tenant { fixture, jwt, nats: stack.nats.client().await }
}

/// A rule `cpu` firing as soon as one snapshot has CPU above 80 %.
async fn cpu_rule(stack: &Stack, tenant: &Tenant) -> String {
    let (status, rule) = post(
        stack,
        "/api/alerts/rules",
        &tenant.jwt,
        json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "critical",
               "message": "CPU at {{value}}% on {{host.name}}"}),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    rule["id"].as_str().unwrap().to_owned()
}

impl Tenant {
    async fn save(&self, source: &str) -> Result<ScenarioRecord, ServiceError> {
        let request =
            SaveScenario { tenant_id: "acme".into(), id: None, source: source.to_owned(), by: self.fixture.email.clone() };
        vigil_bus::messages::request(&self.nats, orchestrator::SAVE, &request).await
    }

    async fn run(&self, scenario: &str, dry_run: bool) -> Result<ScenarioRun, ServiceError> {
        let request = RunScenario {
            tenant_id: "acme".into(),
            id: scenario.to_owned(),
            host_id: None,
            dry_run,
            by: self.fixture.email.clone(),
        };
        vigil_bus::messages::request(&self.nats, orchestrator::RUN, &request).await
    }

    async fn runs(&self, scenario: &str) -> Vec<ScenarioRun> {
        let request = ListRuns { tenant_id: "acme".into(), scenario_id: Some(scenario.to_owned()), ..ListRuns::default() };
        vigil_bus::messages::request(&self.nats, orchestrator::LIST_RUNS, &request).await.expect("runs.list")
    }

    async fn get_run(&self, id: &str) -> ScenarioRun {
        let request = TenantItem { tenant_id: "acme".into(), id: id.to_owned() };
        vigil_bus::messages::request(&self.nats, orchestrator::GET_RUN, &request).await.expect("runs.get")
    }

    /// Waits until the run `id` has finished (or has `status`); returns it.
    async fn finished(&self, id: &str) -> ScenarioRun {
        eventually(&format!("run {id} finished"), WAIT, || async {
            let run = self.get_run(id).await;
            run.finished_at.is_some().then_some(run)
        })
        .await
    }

    /// Waits for the `n`-th run (oldest first) of `scenario`.
    async fn nth_run(&self, scenario: &str, n: usize) -> ScenarioRun {
        eventually(&format!("run {n} of {scenario}"), WAIT, || async {
            let mut runs = self.runs(scenario).await;
            runs.reverse();
            runs.into_iter().nth(n - 1)
        })
        .await
    }

    async fn kill_switch(&self, enabled: bool) {
        let request = PutScenarioSettings { tenant_id: "acme".into(), enabled, by: self.fixture.email.clone() };
        let settings = vigil_bus::messages::request(&self.nats, orchestrator::PUT_SETTINGS, &request).await.unwrap();
        assert_eq!(settings.enabled, enabled);
        let read = vigil_bus::messages::request(&self.nats, orchestrator::GET_SETTINGS, &OfTenant { tenant_id: "acme".into() })
            .await
            .unwrap();
        assert_eq!((read.enabled, read.updated_by.as_deref()), (enabled, Some(self.fixture.email.as_str())));
    }

    async fn actions(&self, stack: &Stack) -> Vec<Value> {
        let (status, list) = get(stack, "/api/actions", &self.jwt).await;
        assert_eq!(status, 200, "{list}");
        list.as_array().unwrap().clone()
    }
}

fn report(action_id: &str, status: &str) -> vigil_proto::ActionResult {
    vigil_proto::ActionResult { action_id: action_id.to_owned(), status: status.to_owned(), ..Default::default() }
}

fn succeeded(action_id: &str) -> vigil_proto::ActionResult {
    vigil_proto::ActionResult { success: true, exit_code: Some(0), output: "ok\n".into(), ..report(action_id, "success") }
}

/// The plain messages (scenario notifications) the receiver got.
fn messages(receiver: &HttpReceiver) -> Vec<Recorded> {
    receiver.requests().into_iter().filter(|r| r.json()["vigil"]["event"] == "message").collect()
}

async fn wait_messages(receiver: &HttpReceiver, n: usize) -> Vec<Recorded> {
    eventually(&format!("{n} scenario messages at the webhook"), WAIT, || async {
        let found = messages(receiver);
        (found.len() >= n).then_some(found)
    })
    .await
}

fn text(request: &Recorded) -> String {
    request.json()["vigil"]["message"].as_str().unwrap_or_default().to_owned()
}

fn statuses(run: &ScenarioRun) -> Vec<(String, StepStatus)> {
    run.steps.iter().map(|step| (step.step_id.clone(), step.status)).collect()
}

fn rfc3339(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("rfc 3339").with_timezone(&Utc)
}

const RESTART_ON_CPU: &str = r#"
name: restart php on high cpu
trigger:
  alert: cpu
guards:
  cooldown: 10m
steps:
  - id: restart_php
    service: action
    action: restart_service
    params:
      host_id: "{{alert.host_id}}"
      service: php-fpm
  - id: notify
    service: alert
    action: notify
    params:
      channel: hook
      message: "PHP-FPM restarted on {{alert.host.name}}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fired_alert_runs_its_guarded_steps_and_a_second_firing_inside_the_cooldown_is_skipped() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&ALL).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, &receiver).await;
    let rule_id = cpu_rule(&stack, &acme).await;
    let mut agent = Agent::start(&stack, &acme.fixture.token, "web-1").await.unwrap();
    let scenario = acme.save(RESTART_ON_CPU).await.expect("saved");
    assert_eq!(scenario.spec.trigger.alert.as_deref(), Some(rule_id.as_str()), "the rule named cpu, kept by its id");
    assert_eq!(scenario.source, RESTART_ON_CPU, "the text as written");

    // one snapshot over the threshold, collected now: the alert fires
    agent.send(Utc::now(), 95.0).await;
    let action = agent.next_action(WAIT).await.expect("the scenario's action reaches the agent");
    assert_eq!(action.r#type, "restart_service");
    assert_eq!(action.params.get("service").map(String::as_str), Some("php-fpm"));
    assert_eq!(
        (action.host_id.as_str(), action.requested_by.as_str()),
        (agent.host.as_str(), &*format!("scenario:{}", scenario.id))
    );
    agent.report(report(&action.id, "running")).await;
    agent.report(succeeded(&action.id)).await;

    let messages = wait_messages(&receiver, 1).await;
    assert_eq!(text(&messages[0]), "PHP-FPM restarted on web-1");
    assert_eq!(messages[0].json()["commonAnnotations"]["summary"], "Vigil scenario on web-1");
    let first = acme.nth_run(&scenario.id, 1).await;
    let first = acme.finished(&first.id).await;
    assert_eq!(first.status, RunStatus::Success, "{first:?}");
    assert_eq!((first.trigger.as_str(), first.host_id.as_deref()), ("alert", Some(agent.host.as_str())));
    assert_eq!(statuses(&first), [("restart_php".into(), StepStatus::Success), ("notify".into(), StepStatus::Success)]);
    assert_eq!(first.steps[0].action_id.as_deref(), Some(action.id.as_str()));
    assert_eq!(first.steps[0].params.get("host_id"), Some(&agent.host), "params as rendered");
    assert_eq!(first.steps[1].params["message"], "PHP-FPM restarted on web-1");

    // the trigger's latency: the alert fired (its AlertEvent.at, the
    // snapshot's time) -> the first step dispatched (the action's created_at)
    let (_, alerts) = get(&stack, "/api/alerts", &acme.jwt).await;
    let fired_at = rfc3339(&alerts[0]["fired_at"]);
    assert_eq!(alerts[0]["id"].as_str(), first.alert_id.as_deref());
    let (_, recorded) = get(&stack, &format!("/api/actions/{}", action.id), &acme.jwt).await;
    let latency = rfc3339(&recorded["created_at"]) - fired_at;
    println!("scenario trigger latency (alert fired -> first step's action created): {} ms", latency.num_milliseconds());
    assert!(latency < chrono::Duration::seconds(5), "{} ms", latency.num_milliseconds());

    // it resolves and fires again inside the cooldown: recorded skipped, nothing done
    agent.send(Utc::now(), 40.0).await;
    eventually("the alert resolved", WAIT, || async {
        (get(&stack, "/api/alerts", &acme.jwt).await.1 == json!([])).then_some(())
    })
    .await;
    agent.send(Utc::now(), 97.0).await;
    let second = acme.nth_run(&scenario.id, 2).await;
    assert_eq!(second.status, RunStatus::Skipped, "{second:?}");
    assert!(second.reason.as_deref().unwrap().starts_with("cooldown until "), "{second:?}");
    assert_ne!(second.alert_id, first.alert_id, "another firing");
    assert!(second.steps.is_empty() && second.finished_at.is_some());
    assert!(agent.next_action(Duration::from_secs(2)).await.is_none(), "a skipped run requests nothing");
    assert_eq!(acme.actions(&stack).await.len(), 1);
    assert_eq!(self::messages(&receiver).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_not_met_runs_its_on_fail_steps_skips_the_rest_and_fails_the_run() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&ALL).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, &receiver).await;
    cpu_rule(&stack, &acme).await;
    let mut agent = Agent::start(&stack, &acme.fixture.token, "web-1").await.unwrap();
    let scenario = acme
        .save(
            r#"
name: watch cpu
trigger: {alert: cpu}
steps:
  - id: check
    service: alert
    action: verify
    params: {within: 3s}
    on_fail:
      - id: page
        service: alert
        action: notify
        params: {message: "{{alert.rule_name}} still firing on {{alert.host.name}} ({{alert.value}}%)"}
  - id: all_clear
    service: alert
    action: notify
    params: {message: "cpu back to normal"}
"#,
        )
        .await
        .expect("saved");
    agent.send(Utc::now(), 93.5).await;
    let run = acme.nth_run(&scenario.id, 1).await;
    let run = acme.finished(&run.id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert!(run.reason.as_deref().unwrap().starts_with("steps[0] (check) failed: alert "), "{run:?}");
    let steps: Vec<(&str, &str, StepStatus)> =
        run.steps.iter().map(|s| (s.path.as_str(), s.step_id.as_str(), s.status)).collect();
    assert_eq!(
        steps,
        [
            ("0", "check", StepStatus::Failed),
            ("1", "all_clear", StepStatus::Skipped),
            ("0.on_fail.0", "page", StepStatus::Success)
        ]
    );
    assert_eq!(run.steps[1].detail.as_deref(), Some("not run: steps[0] (check) failed"));
    let sent = wait_messages(&receiver, 1).await;
    assert_eq!(text(&sent[0]), "cpu still firing on web-1 (93.5%)");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(messages(&receiver).len(), 1, "the skipped step sent nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_names_the_field_a_dry_run_requests_nothing_the_kill_switch_skips_and_cron_runs() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&ALL).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, &receiver).await;
    let mut agent = Agent::start(&stack, &acme.fixture.token, "web-1").await.unwrap();

    // refused with the field's path
    let refused = acme.save(&RESTART_ON_CPU.replace("service: php-fpm", "service: \"php-fpm;reboot\"")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Unprocessable);
    assert!(refused.message.starts_with("steps[0].params.service: \"php-fpm;reboot\" contains ';'"), "{}", refused.message);
    let no_rule = acme.save(&RESTART_ON_CPU.replace("alert: cpu", "alert: memory_high")).await.unwrap_err();
    assert_eq!(no_rule.message, "trigger.alert: no alert rule \"memory_high\" in this tenant (give a rule's id or name)");

    let manual = format!(
        r#"
name: restart nginx
trigger: {{manual: true, hosts: [{host}]}}
steps:
  - id: restart
    service: action
    action: restart_service
    params: {{host_id: "{{{{host.id}}}}", service: nginx}}
  - id: tell
    service: alert
    action: notify
    params: {{message: "nginx restarted on {{{{host.name}}}} by {{{{scenario.name}}}}"}}
"#,
        host = agent.host
    );
    let scenario = acme.save(&manual).await.expect("saved");

    // a dry run: every step rendered, recorded, nothing requested
    let dry = acme.run(&scenario.id, true).await.expect("dry run");
    assert_eq!(dry.status, RunStatus::DryRun, "{dry:?}");
    assert_eq!(dry.reason.as_deref(), Some("dry run: nothing requested; a run now would start"));
    assert_eq!(statuses(&dry), [("restart".into(), StepStatus::Skipped), ("tell".into(), StepStatus::Skipped)]);
    assert_eq!(dry.steps[0].params["host_id"], agent.host);
    assert_eq!(dry.steps[1].params["message"], "nginx restarted on web-1 by restart nginx");
    assert!(agent.next_action(Duration::from_secs(2)).await.is_none(), "a dry run requests nothing");
    assert!(acme.actions(&stack).await.is_empty());
    assert!(messages(&receiver).is_empty());
    assert_eq!(acme.runs(&scenario.id).await[0].id, dry.id, "the dry run is recorded");

    // the kill switch: recorded skipped, nothing requested
    acme.kill_switch(false).await;
    let off = acme.run(&scenario.id, false).await.expect("run");
    assert_eq!(off.status, RunStatus::Skipped, "{off:?}");
    assert_eq!(off.reason.as_deref(), Some("scenarios are turned off for this tenant (kill switch)"));
    assert!(agent.next_action(Duration::from_secs(2)).await.is_none());
    assert!(acme.actions(&stack).await.is_empty());

    // back on: the manual run acts
    acme.kill_switch(true).await;
    let on = acme.run(&scenario.id, false).await.expect("run");
    assert_eq!((on.status, on.trigger.as_str()), (RunStatus::Running, "manual"));
    let action = agent.next_action(WAIT).await.expect("the manual run's action");
    assert_eq!(action.params.get("service").map(String::as_str), Some("nginx"));
    agent.report(succeeded(&action.id)).await;
    assert_eq!(acme.finished(&on.id).await.status, RunStatus::Success);
    assert_eq!(text(&wait_messages(&receiver, 1).await[0]), "nginx restarted on web-1 by restart nginx");

    // a cron schedule (every 2 s) starts runs on its hosts
    let cron = acme
        .save(&format!(
            "name: heartbeat\ntrigger: {{cron: \"*/2 * * * * *\", hosts: [{}]}}\nsteps:\n  - {{id: beat, service: alert, action: notify, params: {{message: \"alive {{{{host.name}}}}\"}}}}\n",
            agent.host
        ))
        .await
        .expect("saved");
    let beat = acme.nth_run(&cron.id, 1).await;
    let beat = acme.finished(&beat.id).await;
    assert_eq!(
        (beat.status, beat.trigger.as_str(), beat.host_id.as_deref()),
        (RunStatus::Success, "cron", Some(agent.host.as_str()))
    );
    let sent = wait_messages(&receiver, 2).await;
    assert_eq!(text(&sent[1]), "alive web-1");
    let deleted = vigil_bus::messages::request(
        &acme.nats,
        orchestrator::DELETE,
        &TenantItem { tenant_id: "acme".into(), id: cron.id.clone() },
    )
    .await;
    assert!(deleted.is_ok(), "{deleted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_killed_while_waiting_for_an_action_is_resumed_without_requesting_it_twice() {
    let mut stack = Stack::new().await.unwrap();
    stack.extra_env.insert("VIGIL_ORCHESTRATOR_RUN_LEASE".into(), "3s".into());
    let _rest = stack.spawn(&["gateway", "collector", "alerter", "actioner"]).await.unwrap();
    let mut orchestrator = stack.spawn(&["orchestrator"]).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, &receiver).await;
    let mut agent = Agent::start(&stack, &acme.fixture.token, "web-1").await.unwrap();
    let scenario = acme
        .save(&format!(
            "name: slow restart\ntrigger: {{manual: true, hosts: [{}]}}\nsteps:\n  - {{id: restart, service: action, action: restart_service, params: {{service: php-fpm}}}}\n  - {{id: tell, service: alert, action: notify, params: {{message: done}}}}\n",
            agent.host
        ))
        .await
        .expect("saved");
    let run = acme.run(&scenario.id, false).await.expect("run");
    let action = agent.next_action(WAIT).await.expect("handed over");
    agent.report(report(&action.id, "running")).await;
    eventually("the step waiting on its action", WAIT, || async {
        let run = acme.get_run(&run.id).await;
        (run.steps[0].status == StepStatus::Running && run.steps[0].action_id.as_deref() == Some(action.id.as_str()))
            .then_some(())
    })
    .await;

    // killed while it waits; the action finishes meanwhile
    orchestrator.kill();
    agent.report(succeeded(&action.id)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status: String = sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM scenario_runs WHERE id = ?")
        .bind(&run.id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "running", "nobody drives it (and nobody answers for it)");
    let _orchestrator = stack.spawn(&["orchestrator"]).await.unwrap();

    let done = acme.finished(&run.id).await;
    assert_eq!(done.status, RunStatus::Success, "{done:?}");
    assert_eq!(statuses(&done), [("restart".into(), StepStatus::Success), ("tell".into(), StepStatus::Success)]);
    assert_eq!(done.steps[0].action_id.as_deref(), Some(action.id.as_str()), "the same action");
    assert_eq!(wait_messages(&receiver, 1).await.len(), 1);
    assert_eq!(acme.actions(&stack).await.len(), 1, "one action row: the step was not requested twice");
    assert!(agent.next_action(Duration::from_secs(2)).await.is_none(), "no second order");
}
