//! Two orchestrators side by side on one private nats-server and one fresh
//! database, their peers faked where only their answers matter (the
//! alerter's `rules.list`, `channels.notify`, `alerts.list`): they agree on
//! the guards (a burst of firings, each delivered twice, starts one run per
//! alert and only the first acts, the others are skipped for the cooldown)
//! and claim each cron instant once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use chrono::Utc;
use futures::StreamExt;
use vigil_bus::messages::{
    Alert, AlertEvent, AlertStatus, AlertTransition, ListRuns, NotifyChannels, NotifyReceipt, Reply, RuleInput, RuleRecord,
    RunStatus, SaveScenario, ScenarioRecord, ScenarioRun, Severity,
};
use vigil_bus::subjects::{alerter, orchestrator};
use vigil_orchestrator::{Orchestrator, OrchestratorConfig};
use vigil_runtime::CancellationToken;
use vigil_testkit::{eventually, NatsServer, TestDb};

const WAIT: Duration = Duration::from_secs(30);
const TENANT: &str = "acme";
const HOST: &str = "h-web1";

/// The alerter as the orchestrator sees it: one rule `cpu` (`rule-cpu`),
/// every message taken (its keys kept), no active alert.
async fn fake_alerter(nats: async_nats::Client) -> Arc<Mutex<Vec<String>>> {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let mut requests = nats.subscribe(format!("{}.>", alerter::GROUP)).await.unwrap();
    nats.flush().await.unwrap();
    let seen = keys.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let Some(reply) = request.reply.clone() else { continue };
            let answer = if request.subject.as_str() == alerter::LIST_RULES.subject() {
                let now = Utc::now();
                let rule = RuleRecord {
                    id: "rule-cpu".into(),
                    tenant_id: TENANT.into(),
                    rule: RuleInput {
                        name: "cpu".into(),
                        description: String::new(),
                        condition: "host.cpu.percent > 80".into(),
                        duration: Duration::ZERO,
                        severity: Severity::Critical,
                        channels: vec![],
                        message: String::new(),
                        enabled: true,
                        clear: None,
                        repeat_interval: None,
                    },
                    builtin: None,
                    scope: "host".into(),
                    created_at: now,
                    updated_at: now,
                };
                serde_json::to_vec(&Reply::Ok(vec![rule])).unwrap()
            } else if request.subject.as_str() == alerter::NOTIFY.subject() {
                let message: NotifyChannels = serde_json::from_slice(&request.payload).unwrap();
                seen.lock().unwrap().push(message.key);
                serde_json::to_vec(&Reply::Ok(NotifyReceipt { channels: vec!["channel-1".into()] })).unwrap()
            } else {
                serde_json::to_vec(&Reply::Ok(Vec::<Alert>::new())).unwrap()
            };
            let _ = nats.publish(reply, answer.into()).await;
        }
    });
    keys
}

struct Two {
    _nats: NatsServer,
    db: TestDb,
    client: async_nats::Client,
    notified: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
}

impl Drop for Two {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn two_orchestrators() -> Two {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let notified = fake_alerter(nats.client().await).await;
    let stop = CancellationToken::new();
    let config = OrchestratorConfig { tick_interval: Duration::from_millis(200), ..OrchestratorConfig::default() };
    for _ in 0..2 {
        let orchestrator = Orchestrator::build(config.clone(), nats.client().await, db.pool.clone()).await.expect("build");
        tokio::spawn(orchestrator.run_until_stopped(stop.clone()));
    }
    let client = nats.client().await;
    Two { _nats: nats, db, client, notified, stop }
}

impl Two {
    async fn save(&self, source: &str) -> ScenarioRecord {
        let request = SaveScenario { tenant_id: TENANT.into(), id: None, source: source.into(), by: "ops@acme.test".into() };
        vigil_bus::messages::request(&self.client, orchestrator::SAVE, &request).await.expect("saved")
    }

    async fn runs(&self, scenario: &str) -> Vec<ScenarioRun> {
        let request =
            ListRuns { tenant_id: TENANT.into(), scenario_id: Some(scenario.into()), limit: Some(500), ..ListRuns::default() };
        vigil_bus::messages::request(&self.client, orchestrator::LIST_RUNS, &request).await.expect("runs")
    }
}

fn fired(alert_id: &str) -> AlertEvent {
    let now = Utc::now();
    AlertEvent {
        event: AlertTransition::Fired,
        at: now,
        alert: Alert {
            id: alert_id.into(),
            tenant_id: TENANT.into(),
            host_id: HOST.into(),
            host_name: "web-1".into(),
            rule_id: "rule-cpu".into(),
            rule_name: "cpu".into(),
            severity: Severity::Critical,
            status: AlertStatus::Firing,
            mount: None,
            container_name: None,
            service_name: None,
            message: "CPU at 95%".into(),
            value: Some("95".into()),
            fingerprint: format!("fp-{alert_id}"),
            silenced: false,
            fired_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_firings_delivered_twice_starts_one_run_per_alert_and_only_the_first_acts() {
    let two = two_orchestrators().await;
    let scenario = two
        .save("name: tell\ntrigger: {alert: cpu}\nguards: {cooldown: 10m}\nsteps:\n  - {id: tell, service: alert, action: notify, params: {message: \"{{alert.id}} on {{alert.host.name}}\"}}\n")
        .await;
    assert_eq!(scenario.spec.trigger.alert.as_deref(), Some("rule-cpu"));

    let jetstream = jetstream::new(two.client.clone());
    let subject = vigil_bus::subjects::alert_event(TENANT, HOST, AlertTransition::Fired);
    let mut acks = Vec::new();
    for n in 0..8 {
        let payload = serde_json::to_vec(&fired(&format!("alert-{n}"))).unwrap();
        // each event twice, as a redelivery would bring it
        for copy in 0..2 {
            let publish = PublishMessage::build().payload(payload.clone().into()).message_id(format!("evt-{n}-{copy}"));
            acks.push(jetstream.send_publish(subject.clone(), publish).await.unwrap());
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }

    let runs = eventually("a run per alert, finished", WAIT, || async {
        let runs = two.runs(&scenario.id).await;
        (runs.len() >= 8 && runs.iter().all(|run| run.finished_at.is_some())).then_some(runs)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(two.runs(&scenario.id).await.len(), 8, "one run per alert, never one per delivery: {runs:?}");
    let alerts: BTreeSet<&str> = runs.iter().filter_map(|run| run.alert_id.as_deref()).collect();
    assert_eq!(alerts.len(), 8);
    let acted: Vec<&ScenarioRun> = runs.iter().filter(|run| run.status == RunStatus::Success).collect();
    assert_eq!(acted.len(), 1, "the orchestrators agree: one run acts, {runs:?}");
    assert!(runs.iter().filter(|run| run.status != RunStatus::Success).all(|run| {
        run.status == RunStatus::Skipped && run.reason.as_deref().is_some_and(|reason| reason.starts_with("cooldown until "))
    }));
    let notified = two.notified.lock().unwrap().clone();
    assert_eq!(notified, [format!("{}:0", acted[0].id)], "one message, keyed by the run and the step");
    assert_eq!(two.db.count("SELECT COUNT(*) FROM scenario_runs WHERE leased_by IS NOT NULL").await, 0, "leases let go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cron_instant_is_claimed_once_across_two_orchestrators() {
    let two = two_orchestrators().await;
    let scenario = two
        .save(&format!(
            "name: beat\ntrigger: {{cron: \"* * * * * *\", hosts: [{HOST}]}}\nguards: {{cooldown: 0s, max_attempts: 1000, host_concurrency: 10}}\nsteps:\n  - {{id: beat, service: alert, action: notify, params: {{message: beat}}}}\n"
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    two.stop.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ticks = two.db.count(&format!("SELECT COUNT(*) FROM scenario_cron_ticks WHERE scenario_id = '{}'", scenario.id)).await;
    let runs = two.db.count(&format!("SELECT COUNT(*) FROM scenario_runs WHERE scenario_id = '{}'", scenario.id)).await;
    let claimers = two
        .db
        .count(&format!("SELECT COUNT(DISTINCT claimed_by) FROM scenario_cron_ticks WHERE scenario_id = '{}'", scenario.id))
        .await;
    assert!((3..=6).contains(&ticks), "a tick a second for 4.5 s: {ticks}");
    assert_eq!(runs, ticks, "one run per instant (one host), never two");
    assert!(claimers >= 1);
    let keys = two.notified.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "no run notified twice: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_attempts_runs_are_stopped_and_the_first_stop_of_the_window_notifies_once() {
    let two = two_orchestrators().await;
    let scenario = two
        .save("name: retry\ntrigger: {alert: cpu}\nguards: {cooldown: 0s, max_attempts: 2, window: 1h}\nsteps:\n  - {id: tell, service: alert, action: notify, params: {message: \"{{alert.id}}\"}}\n")
        .await;
    let jetstream = jetstream::new(two.client.clone());
    let subject = vigil_bus::subjects::alert_event(TENANT, HOST, AlertTransition::Fired);
    for n in 1..=4 {
        let payload = serde_json::to_vec(&fired(&format!("alert-{n}"))).unwrap();
        jetstream.publish(subject.clone(), payload.into()).await.unwrap().await.unwrap();
        eventually(&format!("run {n} finished"), WAIT, || async {
            let runs = two.runs(&scenario.id).await;
            (runs.len() == n && runs.iter().all(|run| run.finished_at.is_some())).then_some(())
        })
        .await;
    }
    let mut runs = two.runs(&scenario.id).await;
    runs.reverse();
    let statuses: Vec<RunStatus> = runs.iter().map(|run| run.status).collect();
    assert_eq!(statuses, [RunStatus::Success, RunStatus::Success, RunStatus::Stopped, RunStatus::Stopped]);
    assert_eq!(runs[2].reason.as_deref(), Some("2 runs started on this host within 1h (max_attempts 2): stopped"));
    // the first stop carries the notice, the second stops quietly
    assert_eq!(runs[2].steps.len(), 1, "{:?}", runs[2]);
    assert_eq!((runs[2].steps[0].step_id.as_str(), runs[2].steps[0].kind.as_str()), ("stopped", "notify"));
    assert!(runs[2].steps[0].params["message"].starts_with("Scenario \"retry\" was stopped on web-1: 2 runs started"));
    assert!(runs[3].steps.is_empty());
    let notified = two.notified.lock().unwrap().clone();
    assert_eq!(
        notified,
        [format!("{}:0", runs[0].id), format!("{}:0", runs[1].id), format!("{}:stopped", runs[2].id)],
        "each run's step, then one notice"
    );
}
