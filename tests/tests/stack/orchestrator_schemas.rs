//! Scenarios against `schemas/` (issue 11), on the running stack (`vigil run
//! gateway collector alerter actioner orchestrator`) with the simulated
//! agent answering actions and a real HTTP receiver as the tenant's webhook
//! channel:
//!
//! - every orchestrator endpoint answers what `schemas/orchestrator-*.schema.json`
//!   says: each request is the typed message of
//!   `vigil_bus::subjects::orchestrator`, serialized; the request and the raw
//!   reply are validated against the endpoint's schema file, then the reply
//!   is parsed back into its typed reply. Error replies (bad_request,
//!   not_found, conflict, unprocessable) are validated too, also for
//!   requests that break the request schema (the orchestrator refuses them
//!   with the error the schema's description names);
//! - the runs replied take every shape a run has: dry runs (on a host, on a
//!   sample alert, on a firing alert), a manual run whose action the agent
//!   runs, a run the kill switch skips, a run `max_attempts` stops (with its
//!   notice step), an alert's run whose verify fails and runs its `on_fail`
//!   step;
//! - a scenario written as JSON matches `$defs/ScenarioSpec` of the save
//!   schema as written, and texts the orchestrator refuses for their shape
//!   (an unknown key, two triggers) break it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use vigil_bus::messages::{
    ChannelInput, CreateRule, GuardSpec, ListRuns, OfTenant, PutChannels, PutScenarioSettings, Reply, RuleInput, RunScenario,
    RunStatus, SaveScenario, ScenarioRecord, ScenarioRun, Severity, StepStatus, TenantItem,
};
use vigil_bus::subjects::{alerter, orchestrator, Endpoint};
use vigil_testkit::eventually;
use vigil_testkit::receivers::{HttpReceiver, Recorded};
use vigil_testkit::schemas::{schema, EndpointBus};
use vigil_tests::sim::Agent;
use vigil_tests::Stack;

const WAIT: Duration = Duration::from_secs(30);
const TENANT: &str = "acme";
const BY: &str = "ops@acme.test";

/// What `$defs/ScenarioSpec` of the save schema finds wrong with `spec` (a
/// scenario as written, in JSON).
fn spec_errors(spec: &Value) -> Vec<String> {
    let file = format!("orchestrator-{}.schema.json", orchestrator::SAVE.name.replace('.', "-"));
    let root = schema(&file);
    let def = json!({"$ref": "#/$defs/ScenarioSpec", "$defs": root["$defs"]});
    let validator = jsonschema::validator_for(&def).unwrap_or_else(|e| panic!("{file}: ScenarioSpec is not a valid schema: {e}"));
    validator.iter_errors(spec).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

/// The orchestrator's endpoints over NATS, each request and reply checked
/// against its schema; remembers which endpoints were called.
struct Bus {
    inner: EndpointBus,
}

impl std::ops::Deref for Bus {
    type Target = EndpointBus;

    fn deref(&self) -> &EndpointBus {
        &self.inner
    }
}

impl Bus {
    /// The error reply's message; panics on an `ok` reply or another code.
    async fn error<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: Endpoint<Req, Resp>,
        request: &Req,
        code: &str,
    ) -> String {
        let raw = self.inner.error(endpoint, request, code).await;
        raw["error"]["message"].as_str().expect("an error message").to_owned()
    }

    async fn save(&self, id: Option<&str>, source: &str) -> (Value, Reply<ScenarioRecord>) {
        self.call(orchestrator::SAVE, &save(id, source)).await
    }

    async fn saved(&self, id: Option<&str>, source: &str) -> ScenarioRecord {
        self.ok(orchestrator::SAVE, &save(id, source)).await
    }

    async fn get_run(&self, id: &str) -> ScenarioRun {
        self.ok(orchestrator::GET_RUN, &item(id)).await
    }

    /// Waits until run `id` has finished; returns it.
    async fn finished(&self, id: &str) -> ScenarioRun {
        eventually(&format!("run {id} finished"), WAIT, || async {
            let run = self.get_run(id).await;
            run.finished_at.is_some().then_some(run)
        })
        .await
    }

    async fn runs(&self, request: ListRuns) -> Vec<ScenarioRun> {
        self.ok(orchestrator::LIST_RUNS, &request).await
    }
}

fn save(id: Option<&str>, source: &str) -> SaveScenario {
    SaveScenario { tenant_id: TENANT.into(), id: id.map(str::to_owned), source: source.into(), by: BY.into() }
}

fn run(id: &str, host_id: Option<&str>, dry_run: bool) -> RunScenario {
    RunScenario { tenant_id: TENANT.into(), id: id.into(), host_id: host_id.map(str::to_owned), dry_run, by: BY.into() }
}

fn tenant() -> OfTenant {
    OfTenant { tenant_id: TENANT.into() }
}

fn item(id: &str) -> TenantItem {
    TenantItem { tenant_id: TENANT.into(), id: id.into() }
}

fn runs_of(scenario_id: Option<&str>) -> ListRuns {
    ListRuns { tenant_id: TENANT.into(), scenario_id: scenario_id.map(str::to_owned), ..ListRuns::default() }
}

fn ids(runs: &[ScenarioRun]) -> Vec<&str> {
    runs.iter().map(|run| run.id.as_str()).collect()
}

fn steps(run: &ScenarioRun) -> Vec<(&str, &str, StepStatus)> {
    run.steps.iter().map(|step| (step.path.as_str(), step.step_id.as_str(), step.status)).collect()
}

fn report(action_id: &str, status: &str) -> vigil_proto::ActionResult {
    vigil_proto::ActionResult { action_id: action_id.to_owned(), status: status.to_owned(), ..Default::default() }
}

/// The plain messages (scenario notifications) the receiver got, as text.
fn messages(receiver: &HttpReceiver) -> Vec<String> {
    let plain = receiver.requests().into_iter().filter(|r: &Recorded| r.json()["vigil"]["event"] == "message");
    plain.map(|r| r.json()["vigil"]["message"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn wait_messages(receiver: &HttpReceiver, n: usize) -> Vec<String> {
    eventually(&format!("{n} scenario messages at the webhook"), WAIT, || async {
        let found = messages(receiver);
        (found.len() >= n).then_some(found)
    })
    .await
}

/// A manual scenario on one host (`{host}`): an action, then a notify; one
/// attempt an hour, no cooldown.
const MANUAL: &str = r#"
name: restart nginx
description: restarts nginx, then says so
trigger:
  manual: true
  hosts: [{host}]
guards:
  cooldown: 0s
  max_attempts: 1
  window: 1h
steps:
  - id: restart
    service: action
    action: restart_service
    params:
      host_id: "{{host.id}}"
      service: nginx
    timeout: 30s
  - id: tell
    service: alert
    action: notify
    params:
      channel: hook
      message: "nginx restarted on {{host.name}} by {{scenario.name}}"
"#;

/// A cron scenario (once a year, so never during the test) whose steps name their host.
const YEARLY: &str = r#"
name: yearly cleanup
trigger: {cron: "0 3 1 1 *"}
steps:
  - {id: uptime, service: action, action: exec, params: {host_id: "{host}", command: "uptime -p"}}
  - {id: web, service: action, action: restart_container, params: {host_id: "{host}", container: web, engine: podman}}
  - {id: done, service: alert, action: notify, params: {channel: webhook, message: "{{scenario.name}} done ({{run.id}})"}}
"#;

/// An alert scenario, written as JSON: a verify with an `on_fail` step, then a notify.
fn watch_cpu() -> Value {
    json!({
        "name": "watch cpu",
        "trigger": {"alert": "cpu"},
        "guards": {"cooldown": "10m", "skip_silenced": false},
        "steps": [
            {
                "id": "check",
                "service": "alert",
                "action": "verify",
                "params": {"within": "2s"},
                "on_fail": [{
                    "id": "page",
                    "service": "alert",
                    "action": "notify",
                    "params": {"message": "{{alert.rule_name}} still firing on {{alert.host.name}} ({{alert.value}}%)"}
                }]
            },
            {"id": "all_clear", "service": "alert", "action": "notify", "params": {"message": "cpu back to normal on {{host.name}}"}}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_orchestrator_endpoint_request_and_reply_match_the_schemas() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector", "alerter", "actioner", "orchestrator"]).await.unwrap();
    let acme = stack.tenant(TENANT).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let nats = stack.nats.client().await;
    let bus = Bus { inner: EndpointBus::new(nats.clone(), "orchestrator") };

    // ---------------------------------------------------------------- the tenant's alerting: a webhook, one rule
    let hook = ChannelInput {
        id: None,
        name: "hook".into(),
        enabled: true,
        kind: "webhook".into(),
        config: json!({"url": receiver.url()}),
    };
    let put = PutChannels { tenant_id: TENANT.into(), channels: vec![hook] };
    let channels = vigil_bus::messages::request(&nats, alerter::PUT_CHANNELS, &put).await.expect("channels.put");
    let channel_id = channels[0].id.clone();
    // the default rules deleted, so that only this test's rule fires
    for rule in vigil_bus::messages::request(&nats, alerter::LIST_RULES, &tenant()).await.expect("rules.list") {
        vigil_bus::messages::request(&nats, alerter::DELETE_RULE, &item(&rule.id)).await.expect("rules.delete");
    }
    let cpu = RuleInput {
        name: "cpu".into(),
        description: String::new(),
        condition: "host.cpu.percent > 80".into(),
        duration: Duration::ZERO,
        severity: Severity::Critical,
        channels: vec![],
        message: "CPU at {{value}}% on {{host.name}}".into(),
        enabled: true,
        clear: None,
        repeat_interval: None,
    };
    let rule = vigil_bus::messages::request(&nats, alerter::CREATE_RULE, &CreateRule { tenant_id: TENANT.into(), rule: cpu })
        .await
        .expect("rules.create");
    let mut agent = Agent::start(&stack, &acme.token, "web-1").await.unwrap();
    let host = agent.host.clone();

    // ---------------------------------------------------------------- settings: never set
    let (raw, _) = bus.call(orchestrator::GET_SETTINGS, &tenant()).await;
    assert_eq!(raw, json!({"ok": {"tenant_id": TENANT, "enabled": true}}));

    // ---------------------------------------------------------------- save: YAML, JSON
    let manual_text = MANUAL.replace("{host}", &host);
    let (raw, _) = bus.save(None, &manual_text).await;
    let manual: ScenarioRecord = serde_json::from_value(raw["ok"].clone()).expect("a ScenarioRecord");
    assert_eq!((manual.source.as_str(), manual.updated_by.as_str()), (manual_text.as_str(), BY), "the text as written");
    assert_eq!(manual.created_at, manual.updated_at);
    assert!(manual.spec.trigger.manual && manual.spec.trigger.alert.is_none() && manual.spec.trigger.cron.is_none());
    assert_eq!(manual.spec.trigger.hosts, [host.as_str()]);
    let guards =
        GuardSpec { cooldown: Duration::ZERO, max_attempts: 1, window: Duration::from_secs(3600), ..GuardSpec::default() };
    assert_eq!(manual.spec.guards, guards, "defaults filled in");
    assert_eq!(manual.spec.steps[0].timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        raw["ok"]["spec"]["guards"],
        json!({"cooldown": "0s", "max_attempts": 1, "window": "1h", "host_concurrency": 1, "fleet_concurrency": 5, "skip_silenced": true}),
        "{raw}"
    );
    assert_eq!(raw["ok"]["spec"]["steps"][0]["timeout"], "30s", "{raw}");
    assert_eq!(raw["ok"]["spec"]["trigger"], json!({"manual": true, "hosts": [host]}), "{raw}");

    let watch = watch_cpu();
    assert_eq!(spec_errors(&watch), Vec::<String>::new(), "the JSON scenario as written matches ScenarioSpec");
    let watch_text = serde_json::to_string_pretty(&watch).unwrap();
    let alert = bus.saved(None, &watch_text).await;
    assert_eq!(alert.source, watch_text);
    assert_eq!(alert.spec.trigger.alert.as_deref(), Some(rule.id.as_str()), "the rule named cpu, kept by its id");
    assert_eq!((alert.spec.guards.cooldown, alert.spec.guards.skip_silenced), (Duration::from_secs(600), false));
    assert_eq!(alert.spec.steps[0].on_fail[0].id, "page");

    let yearly = bus.saved(None, &YEARLY.replace("{host}", &host)).await;
    assert_eq!(yearly.spec.trigger.cron.as_deref(), Some("0 3 1 1 *"));

    // replaced: the same id and creation, the new text
    let edited = manual_text.replace("restarts nginx, then says so", "restarts nginx and tells the team");
    let replaced = bus.saved(Some(&manual.id), &edited).await;
    assert_eq!((replaced.id.as_str(), replaced.created_at), (manual.id.as_str(), manual.created_at));
    assert!(replaced.updated_at >= manual.updated_at);
    assert_eq!(
        (replaced.source.as_str(), replaced.spec.description.as_str()),
        (edited.as_str(), "restarts nginx and tells the team")
    );

    // ---------------------------------------------------------------- save: refused
    let bad_service = manual_text.replace("service: nginx", "service: \"nginx;reboot\"");
    let message = bus.error(orchestrator::SAVE, &save(None, &bad_service), "unprocessable").await;
    assert!(message.starts_with("steps[0].params.service: \"nginx;reboot\" contains ';'"), "{message}");
    let unknown_param = manual_text.replace("      service: nginx\n", "      service: nginx\n      user: root\n");
    let message = bus.error(orchestrator::SAVE, &save(None, &unknown_param), "unprocessable").await;
    assert!(message.starts_with("steps[0].params.user: is not a parameter of action/restart_service"), "{message}");
    let no_rule = json!({"trigger": {"alert": "memory_high"}, "name": "watch memory"});
    let no_rule = merge(watch_cpu(), no_rule);
    assert_eq!(spec_errors(&no_rule), Vec::<String>::new(), "which rules exist is the orchestrator's to say");
    let message = bus.error(orchestrator::SAVE, &save(None, &no_rule.to_string()), "unprocessable").await;
    assert_eq!(message, "trigger.alert: no alert rule \"memory_high\" in this tenant (give a rule's id or name)");
    // what ScenarioSpec refuses, the orchestrator refuses, naming the field
    let colour = merge(watch_cpu(), json!({"colour": "red"}));
    assert!(!spec_errors(&colour).is_empty(), "ScenarioSpec accepts an unknown key");
    let message = bus.error(orchestrator::SAVE, &save(None, &colour.to_string()), "unprocessable").await;
    assert!(message.starts_with("colour: unknown field `colour`"), "{message}");
    let two_triggers = merge(watch_cpu(), json!({"trigger": {"alert": "cpu", "cron": "0 * * * *"}}));
    assert!(!spec_errors(&two_triggers).is_empty(), "ScenarioSpec accepts two triggers");
    let message = bus.error(orchestrator::SAVE, &save(None, &two_triggers.to_string()), "unprocessable").await;
    assert_eq!(message, "trigger: give exactly one of alert, cron, manual");
    let page = merge(watch_cpu(), json!({"steps": [{"id": "page", "service": "alert", "action": "page", "params": {}}]}));
    assert!(!spec_errors(&page).is_empty(), "ScenarioSpec accepts alert/page");
    let message = bus.error(orchestrator::SAVE, &save(None, &page.to_string()), "unprocessable").await;
    assert!(message.starts_with("steps[0].action: \"page\" is not an alert step"), "{message}");
    // a name taken in the tenant; an id that is not the tenant's scenario
    let message = bus.error(orchestrator::SAVE, &save(None, &manual_text), "conflict").await;
    assert!(message.contains("\"restart nginx\""), "{message}");
    bus.error(orchestrator::SAVE, &save(Some("scn-0000000000000000"), &manual_text), "not_found").await;
    let other_tenant = SaveScenario { tenant_id: "globex".into(), ..save(Some(&manual.id), &manual_text) };
    bus.error(orchestrator::SAVE, &other_tenant, "not_found").await;
    // requests the schema refuses
    let body = |edit: &dyn Fn(&mut Value)| {
        let mut body = serde_json::to_value(save(None, &manual_text)).unwrap();
        edit(&mut body);
        body
    };
    let message = bus.refused(orchestrator::SAVE.untyped(), &body(&|b| b["source"] = json!("")), "unprocessable").await;
    assert!(message.starts_with("source: is empty"), "{message}");
    let message = bus.refused(orchestrator::SAVE.untyped(), &body(&|b| b["by"] = json!(" ")), "unprocessable").await;
    assert!(message.starts_with("by: "), "{message}");
    let message = bus.refused(orchestrator::SAVE.untyped(), &body(&|b| b["id"] = json!("scn.1")), "bad_request").await;
    assert!(message.contains("scn.1"), "{message}");
    bus.refused(orchestrator::SAVE.untyped(), &body(&|b| b["source"] = json!(7)), "bad_request").await;

    // ---------------------------------------------------------------- get, list
    assert_eq!(bus.ok(orchestrator::GET, &item(&manual.id)).await, replaced);
    assert_eq!(bus.ok(orchestrator::GET, &item(&alert.id)).await, alert);
    bus.error(orchestrator::GET, &item("scn-0000000000000000"), "not_found").await;
    bus.error(orchestrator::GET, &TenantItem { tenant_id: "globex".into(), id: manual.id.clone() }, "not_found").await;
    let listed = bus.ok(orchestrator::LIST, &tenant()).await;
    assert_eq!(listed, [replaced.clone(), alert.clone(), yearly.clone()], "by name");
    assert_eq!(bus.ok(orchestrator::LIST, &OfTenant { tenant_id: "globex".into() }).await, []);

    // every run replied, in the order they started
    let mut started: Vec<(DateTime<Utc>, String)> = Vec::new();

    // ---------------------------------------------------------------- dry runs
    let dry = bus.ok(orchestrator::RUN, &run(&manual.id, None, true)).await;
    started.push((dry.started_at, dry.id.clone()));
    assert_eq!((dry.status, dry.trigger.as_str(), dry.host_id.as_deref()), (RunStatus::DryRun, "manual", Some(host.as_str())));
    assert_eq!(dry.reason.as_deref(), Some("dry run: nothing requested; a run now would start"));
    assert!(dry.finished_at.is_some() && dry.alert_id.is_none(), "{dry:?}");
    assert_eq!(steps(&dry), [("0", "restart", StepStatus::Skipped), ("1", "tell", StepStatus::Skipped)]);
    let rendered = BTreeMap::from([("host_id".to_owned(), host.clone()), ("service".to_owned(), "nginx".to_owned())]);
    assert_eq!(dry.steps[0].params, rendered, "params as rendered");
    assert_eq!(dry.steps[1].params["message"], "nginx restarted on web-1 by restart nginx");
    assert_eq!(dry.steps[0].detail.as_deref(), Some("dry run: nothing requested"));

    // an alert scenario without a host: on a sample alert, its on_fail steps shown too
    let sample = bus.ok(orchestrator::RUN, &run(&alert.id, None, true)).await;
    started.push((sample.started_at, sample.id.clone()));
    assert_eq!(
        (sample.status, sample.host_id.as_deref(), sample.alert_id.as_deref()),
        (RunStatus::DryRun, Some("sample-host"), None)
    );
    assert_eq!(
        steps(&sample),
        [
            ("0", "check", StepStatus::Skipped),
            ("0.on_fail.0", "page", StepStatus::Skipped),
            ("1", "all_clear", StepStatus::Skipped)
        ]
    );
    assert_eq!(sample.steps[1].params["message"], "sample rule still firing on sample-host (95.5%)");

    // ---------------------------------------------------------------- run: refused
    let message = bus.error(orchestrator::RUN, &run(&alert.id, None, false), "unprocessable").await;
    assert_eq!(message, "host_id: give the host whose firing alert the run acts on");
    let message = bus.error(orchestrator::RUN, &run(&alert.id, Some(&host), false), "unprocessable").await;
    assert!(message.starts_with(&format!("host_id: no alert of rule {:?} is active on {host}", rule.id)), "{message}");
    let message = bus.error(orchestrator::RUN, &run(&manual.id, Some("db-1"), false), "unprocessable").await;
    assert_eq!(message, format!("host_id: \"db-1\" is not one of the scenario's hosts ({host})"));
    let message = bus.error(orchestrator::RUN, &run(&alert.id, Some("host-0000000000000000"), true), "not_found").await;
    assert!(message.contains("host-0000000000000000"), "{message}");
    bus.error(orchestrator::RUN, &run("scn-0000000000000000", None, false), "not_found").await;
    let other_tenant = RunScenario { tenant_id: "globex".into(), ..run(&manual.id, None, true) };
    bus.error(orchestrator::RUN, &other_tenant, "not_found").await;
    let body = |edit: &dyn Fn(&mut Value)| {
        let mut body = serde_json::to_value(run(&manual.id, None, false)).unwrap();
        edit(&mut body);
        body
    };
    let message = bus.refused(orchestrator::RUN.untyped(), &body(&|b| b["host_id"] = json!("web.1")), "bad_request").await;
    assert!(message.contains("web.1"), "{message}");
    let message = bus.refused(orchestrator::RUN.untyped(), &body(&|b| b["by"] = json!("")), "unprocessable").await;
    assert!(message.starts_with("by: "), "{message}");
    bus.refused(orchestrator::RUN.untyped(), &body(&|b| b["dry_run"] = json!("yes")), "bad_request").await;

    // ---------------------------------------------------------------- the kill switch
    let off = PutScenarioSettings { tenant_id: TENANT.into(), enabled: false, by: BY.into() };
    let settings = bus.ok(orchestrator::PUT_SETTINGS, &off).await;
    assert_eq!((settings.enabled, settings.updated_by.as_deref()), (false, Some(BY)));
    assert!(settings.updated_at.is_some(), "{settings:?}");
    assert_eq!(bus.ok(orchestrator::GET_SETTINGS, &tenant()).await, settings);
    let skipped = bus.ok(orchestrator::RUN, &run(&manual.id, None, false)).await;
    started.push((skipped.started_at, skipped.id.clone()));
    assert_eq!((skipped.status, skipped.trigger.as_str()), (RunStatus::Skipped, "manual"));
    assert_eq!(skipped.reason.as_deref(), Some("scenarios are turned off for this tenant (kill switch)"));
    assert!(skipped.steps.is_empty() && skipped.finished_at.is_some(), "{skipped:?}");
    let message = bus
        .refused(orchestrator::PUT_SETTINGS.untyped(), &json!({"tenant_id": TENANT, "enabled": true, "by": ""}), "unprocessable")
        .await;
    assert!(message.starts_with("by: "), "{message}");
    bus.refused(orchestrator::PUT_SETTINGS.untyped(), &json!({"tenant_id": TENANT, "by": BY}), "bad_request").await;
    let on = bus.ok(orchestrator::PUT_SETTINGS, &PutScenarioSettings { enabled: true, ..off.clone() }).await;
    assert!(on.enabled);

    // ---------------------------------------------------------------- a manual run: the agent runs its action
    let running = bus.ok(orchestrator::RUN, &run(&manual.id, None, false)).await;
    started.push((running.started_at, running.id.clone()));
    assert_eq!(
        (running.status, running.finished_at, running.host_id.as_deref()),
        (RunStatus::Running, None, Some(host.as_str()))
    );
    assert_eq!(running.steps.len(), 2, "{running:?}");
    assert!(running.steps.iter().all(|s| matches!(s.status, StepStatus::Pending | StepStatus::Running)), "{running:?}");
    let action = agent.next_action(WAIT).await.expect("the run's action reaches the agent");
    assert_eq!((action.r#type.as_str(), action.requested_by.clone()), ("restart_service", format!("scenario:{}", manual.id)));
    agent.report(report(&action.id, "running")).await;
    eventually("the step running its action", WAIT, || async {
        let run = bus.get_run(&running.id).await;
        (run.steps[0].status == StepStatus::Running && run.steps[0].action_id.as_deref() == Some(action.id.as_str()))
            .then_some(())
    })
    .await;
    agent
        .report(vigil_proto::ActionResult {
            success: true,
            exit_code: Some(0),
            output: "ok\n".into(),
            ..report(&action.id, "success")
        })
        .await;
    let succeeded = bus.finished(&running.id).await;
    assert_eq!((succeeded.status, succeeded.reason.as_deref()), (RunStatus::Success, None), "{succeeded:?}");
    assert_eq!(steps(&succeeded), [("0", "restart", StepStatus::Success), ("1", "tell", StepStatus::Success)]);
    assert_eq!(succeeded.steps[0].action_id.as_deref(), Some(action.id.as_str()));
    assert_eq!(succeeded.steps[0].detail.as_deref(), Some(&*format!("action {} success (exit 0)", action.id)));
    assert_eq!(succeeded.steps[1].detail.as_deref(), Some(&*format!("queued for {channel_id}")));
    assert!(succeeded.steps.iter().all(|s| s.started_at.is_some() && s.finished_at.is_some()), "{succeeded:?}");
    assert_eq!(wait_messages(&receiver, 1).await, ["nginx restarted on web-1 by restart nginx"]);

    // ---------------------------------------------------------------- max_attempts: stopped, with its notice
    let stopped = bus.ok(orchestrator::RUN, &run(&manual.id, None, false)).await;
    started.push((stopped.started_at, stopped.id.clone()));
    assert_eq!(stopped.status, RunStatus::Stopped, "{stopped:?}");
    assert_eq!(stopped.reason.as_deref(), Some("1 run started on this host within 1h (max_attempts 1): stopped"));
    assert_eq!((stopped.steps.len(), stopped.steps[0].path.as_str(), stopped.steps[0].kind.as_str()), (1, "stopped", "notify"));
    let stopped = bus.finished(&stopped.id).await;
    assert_eq!((stopped.status, steps(&stopped)), (RunStatus::Stopped, vec![("stopped", "stopped", StepStatus::Success)]));
    let sent = wait_messages(&receiver, 2).await;
    assert!(sent[1].starts_with("Scenario \"restart nginx\" was stopped on web-1: 1 run started"), "{sent:?}");

    // ---------------------------------------------------------------- an alert's run: verify not met, on_fail
    agent.send(Utc::now(), 95.0).await;
    let fired = eventually("the alert's run", WAIT, || async {
        bus.runs(runs_of(Some(&alert.id))).await.into_iter().find(|run| run.trigger == "alert")
    })
    .await;
    started.push((fired.started_at, fired.id.clone()));
    // a dry run on the host now acts on its firing alert
    let on_alert = bus.ok(orchestrator::RUN, &run(&alert.id, Some(&host), true)).await;
    started.push((on_alert.started_at, on_alert.id.clone()));
    assert_eq!((on_alert.status, on_alert.trigger.as_str()), (RunStatus::DryRun, "manual"));
    assert_eq!(on_alert.alert_id, fired.alert_id, "{on_alert:?}");
    assert_eq!(on_alert.steps[1].params["message"], "cpu still firing on web-1 (95%)");

    let failed = bus.finished(&fired.id).await;
    assert_eq!((failed.status, failed.host_id.as_deref()), (RunStatus::Failed, Some(host.as_str())), "{failed:?}");
    assert!(failed.alert_id.is_some(), "{failed:?}");
    assert!(failed.reason.as_deref().unwrap_or_default().starts_with("steps[0] (check) failed: alert "), "{failed:?}");
    assert_eq!(
        steps(&failed),
        [
            ("0", "check", StepStatus::Failed),
            ("1", "all_clear", StepStatus::Skipped),
            ("0.on_fail.0", "page", StepStatus::Success)
        ]
    );
    assert_eq!(failed.steps[1].detail.as_deref(), Some("not run: steps[0] (check) failed"));
    let sent = wait_messages(&receiver, 3).await;
    assert_eq!(sent[2], "cpu still firing on web-1 (95%)");

    // ---------------------------------------------------------------- runs: list, page, get
    assert!(started.windows(2).all(|pair| pair[0].0 <= pair[1].0), "started in the order asked: {started:?}");
    // newest first; runs started in the same millisecond by id
    let mut order = started.clone();
    order.sort_by(|a, b| b.cmp(a));
    let newest_first: Vec<&str> = order.iter().map(|(_, id)| id.as_str()).collect();
    let only = |runs: &[&str]| newest_first.iter().copied().filter(|id| runs.contains(id)).collect::<Vec<_>>();
    let all = bus.runs(runs_of(None)).await;
    assert_eq!(ids(&all), newest_first, "newest first");
    for listed in &all {
        assert_eq!(&bus.get_run(&listed.id).await, listed, "runs.list carries the steps runs.get does");
    }
    let mut paged = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = bus.runs(ListRuns { limit: Some(3), before: before.clone(), ..runs_of(None) }).await;
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        before = Some(last.id.clone());
        paged.extend(page.iter().map(|run| run.id.clone()));
    }
    assert_eq!(paged, newest_first, "pages of 3, through before");
    assert_eq!(bus.runs(ListRuns { limit: Some(0), ..runs_of(None) }).await.len(), 1, "a limit of 0 is 1");
    let of_manual = bus.runs(runs_of(Some(&manual.id))).await;
    assert_eq!(ids(&of_manual), only(&[&stopped.id, &succeeded.id, &skipped.id, &dry.id]));
    let other_tenant = ListRuns { tenant_id: "globex".into(), ..runs_of(None) };
    assert_eq!(bus.runs(other_tenant).await, []);
    assert_eq!(bus.runs(ListRuns { before: Some("run-0000000000000000".into()), ..runs_of(None) }).await, []);
    bus.error(orchestrator::GET_RUN, &item("run-0000000000000000"), "not_found").await;
    bus.error(orchestrator::GET_RUN, &TenantItem { tenant_id: "globex".into(), id: failed.id.clone() }, "not_found").await;
    bus.refused(orchestrator::LIST_RUNS.untyped(), &json!({"tenant_id": TENANT, "before": "a b"}), "bad_request").await;
    bus.refused(orchestrator::LIST_RUNS.untyped(), &json!({"tenant_id": TENANT, "scenario_id": "scn>"}), "bad_request").await;
    bus.refused(orchestrator::GET_RUN.untyped(), &json!({"tenant_id": TENANT, "id": "run.*"}), "bad_request").await;

    // ---------------------------------------------------------------- delete: the runs stay
    let (raw, _) = bus.call(orchestrator::DELETE, &item(&alert.id)).await;
    assert_eq!(raw, json!({"ok": null}));
    bus.error(orchestrator::DELETE, &item(&alert.id), "not_found").await;
    bus.error(orchestrator::GET, &item(&alert.id), "not_found").await;
    assert_eq!(bus.get_run(&failed.id).await, failed, "a deleted scenario's runs stay");
    assert_eq!(ids(&bus.runs(runs_of(Some(&alert.id))).await), only(&[&on_alert.id, &failed.id, &sample.id]));
    bus.error(orchestrator::DELETE, &TenantItem { tenant_id: "globex".into(), id: yearly.id.clone() }, "not_found").await;
    bus.ok(orchestrator::DELETE, &item(&yearly.id)).await;
    assert_eq!(bus.ok(orchestrator::LIST, &tenant()).await, vec![replaced.clone()]);
    bus.refused(orchestrator::DELETE.untyped(), &json!({"tenant_id": TENANT, "id": ""}), "bad_request").await;

    // a tenant id that is not one: every endpoint answers bad_request
    for endpoint in orchestrator::ALL {
        bus.refused(*endpoint, &json!({"tenant_id": "no.such.tenant"}), "bad_request").await;
    }
    assert_eq!(messages(&receiver).len(), 3, "nothing else was sent");

    bus.assert_all_called(orchestrator::ALL);
}

/// `base` with the top-level keys of `with` set.
fn merge(mut base: Value, with: Value) -> Value {
    for (key, value) in with.as_object().expect("an object") {
        base[key] = value.clone();
    }
    base
}
