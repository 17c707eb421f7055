//! Alerting end to end (issue 10): simulated agents over the real gRPC+TLS
//! path, `vigil run gateway collector alerter` processes, rules and
//! channels set over REST, notifications received by real HTTP receivers.
//!
//! Snapshots carry their collection time and the alerter judges durations
//! on it, so most tests send 10 s-spaced snapshots dated in the recent past
//! as fast as they are acked, instead of waiting. Those tests delete the
//! default rules first: the host-offline rule would see such a host as
//! silent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use vigil_testkit::eventually;
use vigil_testkit::receivers::{HttpReceiver, Recorded, ScriptedResponse};
use vigil_tests::sandbox::{TenantFixture, VigilProcess};
use vigil_tests::sim::Agent;
use vigil_tests::Stack;

use crate::{get, post, send};

const WAIT: Duration = Duration::from_secs(30);

async fn put(stack: &Stack, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(stack, reqwest::Method::PUT, path, token, Some(body)).await
}

async fn delete(stack: &Stack, path: &str, token: &str) -> u16 {
    send(stack, reqwest::Method::DELETE, path, token, None).await.0
}

/// One tenant signed in, with a webhook channel pointing at `receiver`.
struct Tenant {
    fixture: TenantFixture,
    jwt: String,
    channel_id: String,
}

async fn tenant(stack: &Stack, name: &str, receiver: &HttpReceiver, keep_default_rules: bool) -> Tenant {
    let fixture = stack.tenant(name).await.unwrap();
    let jwt = stack.login(&fixture).await.unwrap();
    let (status, channels) = put(
        stack,
        "/api/config/notifications",
        &jwt,
        json!([{"name": "hook", "type": "webhook", "config": {"url": receiver.url(), "secret": "s3cret"}}]),
    )
    .await;
    assert_eq!(status, 200, "{channels}");
    let channel_id = channels[0]["id"].as_str().unwrap().to_owned();
    if !keep_default_rules {
        let (status, rules) = get(stack, "/api/alerts/rules", &jwt).await;
        assert_eq!(status, 200, "{rules}");
        assert_eq!(rules.as_array().unwrap().len(), 5, "the seed's four rules and host offline: {rules}");
        for rule in rules.as_array().unwrap() {
            assert_eq!(delete(stack, &format!("/api/alerts/rules/{}", rule["id"].as_str().unwrap()), &jwt).await, 204);
        }
    }
    Tenant { fixture, jwt, channel_id }
}

async fn rule(stack: &Stack, tenant: &Tenant, body: Value) -> String {
    let (status, rule) = post(stack, "/api/alerts/rules", &tenant.jwt, body).await;
    assert_eq!(status, 201, "{rule}");
    rule["id"].as_str().unwrap().to_owned()
}

/// A simulated host of the tenant.
async fn agent(stack: &Stack, tenant: &Tenant, name: &str) -> Agent {
    Agent::start(stack, &tenant.fixture.token, name).await.unwrap()
}

/// One snapshot collected at `at` with these containers (name, status).
async fn send_containers(agent: &mut Agent, at: DateTime<Utc>, containers: &[(&str, &str)]) {
    agent
        .send_with(at, |metrics| {
            metrics.containers = containers
                .iter()
                .map(|(name, status)| vigil_proto::ContainerMetrics {
                    name: (*name).to_owned(),
                    runtime: "podman".to_owned(),
                    status: (*status).to_owned(),
                    image: "localhost/app:1".to_owned(),
                    ..Default::default()
                })
                .collect();
        })
        .await;
}

/// The webhook's event of a request: `vigil.event` (fired, repeat, ...).
fn event(request: &Recorded) -> String {
    let body = request.json();
    body["vigil"]["event"].as_str().unwrap_or_default().to_owned()
}

fn events(requests: &[Recorded]) -> Vec<String> {
    requests.iter().map(event).collect()
}

/// Waits for `n` requests, then `quiet` more to see that nothing else comes.
async fn exactly(receiver: &HttpReceiver, n: usize, quiet: Duration) -> Vec<Recorded> {
    receiver.wait_for(n, WAIT).await;
    tokio::time::sleep(quiet).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), n, "expected exactly {n} notifications: {:?}", events(&requests));
    requests
}

async fn start(stack: &Stack) -> VigilProcess {
    stack.spawn(&["gateway", "collector", "alerter"]).await.unwrap()
}

fn past(seconds: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn true_for_less_than_duration_never_fires_and_longer_fires_once_and_resolves_once() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(
        &stack,
        &acme,
        json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "30s", "severity": "warning",
               "channels": [acme.channel_id], "message": "CPU at {{value}}% on {{host.name}}"}),
    )
    .await;
    let mut agent = agent(&stack, &acme, "web-1").await;
    let mut bus_events = stack.nats.client().await.subscribe("alerts.>").await.unwrap();

    // 20 s above the threshold, then below: pending, never firing
    let at = agent.series(past(300), &[90.0, 91.0, 92.0, 50.0]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.requests().is_empty(), "a condition true for 20 s of 30 fired: {:?}", events(&receiver.requests()));

    // 40 s above: fires at the 30 s mark, once; then resolves once
    let at = agent.series(at, &[95.0, 96.0, 97.0, 98.5, 99.0]).await;
    let fired = receiver.wait_for(1, WAIT).await;
    assert_eq!(event(&fired[0]), "firing");
    let body = fired[0].json();
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["host"], "web-1", "{body}");
    assert_eq!(body["alerts"][0]["annotations"]["description"], "CPU at 98.5% on web-1", "{body}");
    let (status, active) = get(&stack, "/api/alerts", &acme.jwt).await;
    assert_eq!(status, 200);
    assert_eq!(active.as_array().unwrap().len(), 1, "{active}");
    assert_eq!(active[0]["value"], "98.5");
    assert_eq!(active[0]["status"], "firing");

    agent.series(at, &[40.0, 41.0]).await;
    let requests = exactly(&receiver, 2, Duration::from_secs(3)).await;
    assert_eq!(events(&requests), ["firing", "resolved"]);
    assert_eq!(requests[1].json()["status"], "resolved");
    // the webhook is signed with the channel's secret
    for request in &requests {
        let signature = request.header("x-vigil-signature").expect("signed");
        let timestamp = request.header("x-vigil-timestamp").expect("timestamped");
        assert!(signature.starts_with("sha256="), "{signature}");
        assert!(!timestamp.is_empty());
    }

    let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
    assert_eq!(active, json!([]));
    // integrators see the same on the bus, as documented
    for (expected, host) in [("fired", &agent.host), ("resolved", &agent.host)] {
        let message = tokio::time::timeout(WAIT, bus_events.next()).await.expect("an alert event").unwrap();
        assert_eq!(message.subject.as_str(), format!("alerts.acme.{host}.{expected}"));
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        vigil_testkit::schemas::assert_valid("alert-event.schema.json", None, &event);
        assert_eq!(event["event"], expected);
    }
    let (status, history) = get(&stack, "/api/alerts/history", &acme.jwt).await;
    assert_eq!(status, 200, "{history}");
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{history}");
    assert_eq!(items[0]["duration_seconds"], 20, "fired at the 30 s mark (t+70 s), resolved at t+90 s: {history}");
    assert_eq!(items[0]["status"], "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_around_the_threshold_with_a_clear_value_sends_nothing_extra() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(
        &stack,
        &acme,
        json!({"name": "cpu", "condition": "host.cpu.percent > 80", "clear": 70, "duration": "0s", "severity": "critical"}),
    )
    .await;
    let mut agent = agent(&stack, &acme, "web-1").await;
    let at = agent.series(past(300), &[85.0, 79.0, 81.0, 78.0, 82.0, 75.0, 80.5, 71.0]).await;
    let fired = exactly(&receiver, 1, Duration::from_secs(3)).await;
    assert_eq!(events(&fired), ["firing"]);
    agent.series(at, &[65.0]).await;
    let requests = exactly(&receiver, 2, Duration::from_secs(3)).await;
    assert_eq!(events(&requests), ["firing", "resolved"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alerter_killed_while_pending_and_while_firing_neither_loses_nor_doubles() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let mut alerter = stack.spawn(&["alerter"]).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(&stack, &acme, json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "30s", "severity": "warning"}))
        .await;
    let mut agent = agent(&stack, &acme, "db-1").await;

    // pending since t0, then SIGKILL
    let at = agent.series(past(300), &[90.0, 90.0]).await;
    let pending = "SELECT COUNT(*) FROM alert_instances WHERE state = 'pending'";
    eventually("the pending instance stored", WAIT, || async { stack.db.count(pending).await == 1 }).await;
    alerter.kill();
    let mut alerter = stack.spawn(&["alerter"]).await.unwrap();
    // t20, t30: the pending start (t0) survived, so it fires at t30
    let at = agent.series(at, &[90.0, 90.0]).await;
    let fired = receiver.wait_for(1, WAIT).await;
    assert_eq!(events(&fired), ["firing"]);

    // SIGKILL while firing (its notification recorded as sent: a kill
    // between a send and its record is the documented at-least-once case):
    // the next alerter notifies nothing again
    let sent = "SELECT COUNT(*) FROM alert_outbox WHERE channel_id IS NOT NULL AND state = 'sent'";
    eventually("the firing notification recorded as sent", WAIT, || async { stack.db.count(sent).await == 1 }).await;
    alerter.kill();
    let alerter = stack.spawn(&["alerter"]).await.unwrap();
    let at = agent.series(at, &[91.0, 92.0]).await;
    exactly(&receiver, 1, Duration::from_secs(3)).await;
    agent.series(at, &[10.0]).await;
    if receiver.requests().len() < 2 {
        let resolved =
            vigil_testkit::try_eventually("the resolve notification", WAIT, || async { receiver.requests().len() >= 2 }).await;
        assert!(resolved.is_ok(), "no resolve notification; alerter log:\n{}", alerter.log_text());
    }
    let requests = exactly(&receiver, 2, Duration::from_secs(3)).await;
    assert_eq!(events(&requests), ["firing", "resolved"]);
    assert_eq!(stack.db.count("SELECT COUNT(*) FROM alerts_history").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_500_then_429_then_200_gets_exactly_one_delivered_notification() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver =
        HttpReceiver::start(vec![ScriptedResponse::status(500), ScriptedResponse::status(429).header("Retry-After", "1")]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(&stack, &acme, json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "critical"}))
        .await;
    let mut agent = agent(&stack, &acme, "web-1").await;
    agent.series(past(60), &[95.0]).await;

    let requests = exactly(&receiver, 3, Duration::from_secs(4)).await;
    let keys: Vec<&str> = requests.iter().map(|r| r.header("idempotency-key").expect("an idempotency key")).collect();
    assert!(keys.iter().all(|key| *key == keys[0]), "one notification, retried: {keys:?}");
    let attempts: Vec<(u32, Option<u16>)> =
        sqlx::query_as("SELECT attempt, status_code FROM notification_attempts WHERE channel_id IS NOT NULL ORDER BY attempt")
            .fetch_all(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(attempts, [(1, Some(500)), (2, Some(429)), (3, Some(200))]);
    let gap = requests[2].at.duration_since(requests[1].at);
    assert!(gap >= Duration::from_millis(900), "Retry-After: 1 was honoured: {gap:?}");
    let sent = stack.db.count("SELECT COUNT(*) FROM alert_outbox WHERE channel_id IS NOT NULL AND state = 'sent'").await;
    assert_eq!(sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_and_a_maintenance_window_hold_notifications_back_until_they_end() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(&stack, &acme, json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "warning"}))
        .await;
    let mut silenced = agent(&stack, &acme, "silenced").await;
    let mut maintained = agent(&stack, &acme, "maintained").await;

    let now = Utc::now();
    let (status, silence) = post(
        &stack,
        "/api/alerts/silences",
        &acme.jwt,
        json!({"match": {"host_id": silenced.host}, "starts_at": now - chrono::Duration::seconds(5),
               "ends_at": now + chrono::Duration::seconds(8), "comment": "deploy"}),
    )
    .await;
    assert_eq!(status, 201, "{silence}");
    // a window opened 2 s ago (a start each day at this second) for 10 s
    let opened = now - chrono::Duration::seconds(2);
    let schedule = opened.format("%S %M %H * * *").to_string();
    let (status, window) = post(
        &stack,
        "/api/alerts/maintenance",
        &acme.jwt,
        json!({"name": "patching", "host_id": maintained.host, "schedule": schedule, "duration": "10s"}),
    )
    .await;
    assert_eq!(status, 201, "{window}");
    assert_eq!(window["active_now"], true, "{window}");

    silenced.series(past(30), &[95.0]).await;
    maintained.series(past(30), &[95.0]).await;
    eventually("two firing alerts, shown silenced", WAIT, || async {
        let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
        let alerts = active.as_array().cloned().unwrap_or_default();
        alerts.len() == 2 && alerts.iter().all(|alert| alert["silenced"] == true)
    })
    .await;
    assert!(receiver.requests().is_empty(), "silenced alerts were notified: {:?}", events(&receiver.requests()));

    // both end while the alerts still fire: each is notified then, once
    let requests = exactly(&receiver, 2, Duration::from_secs(3)).await;
    assert_eq!(events(&requests), ["firing", "firing"]);
    let waited =
        requests.iter().map(|r| r.json()["alerts"][0]["labels"]["host"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(waited.contains(&"silenced".to_owned()) && waited.contains(&"maintained".to_owned()), "{waited:?}");
    assert!(Utc::now() >= now + chrono::Duration::seconds(8), "notified before the silence ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_host_fires_host_offline_only_and_keeps_its_metric_alerts() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, true).await;
    let (_, rules) = get(&stack, "/api/alerts/rules", &acme.jwt).await;
    let offline_rule =
        rules.as_array().unwrap().iter().find(|r| r["builtin"] == "host_offline").expect("the built-in rule").clone();
    assert_eq!(offline_rule["condition"], "host.status == 'offline'");
    rule(
        &stack,
        &acme,
        json!({"name": "cpu now", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "warning"}),
    )
    .await;
    rule(&stack, &acme, json!({"name": "cpu later", "condition": "host.cpu.percent > 50", "duration": "1m", "severity": "info"}))
        .await;
    let mut agent = agent(&stack, &acme, "edge-1").await;
    for _ in 0..2 {
        agent.send(Utc::now(), 90.0).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let fired = receiver.wait_for(1, WAIT).await;
    assert_eq!(events(&fired), ["firing"]);

    // silent: the collector marks it offline after 5 s
    let offline = receiver.wait_for(2, WAIT).await;
    assert_eq!(events(&offline), ["firing", "firing"]);
    assert_eq!(offline[1].json()["alerts"][0]["labels"]["alertname"], "Host offline", "{}", offline[1].text());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
    let names: Vec<&str> = active.as_array().unwrap().iter().map(|a| a["rule_name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "host offline and the cpu alert, nothing resolved, nothing else fired: {active}");
    assert!(names.contains(&"Host offline") && names.contains(&"cpu now"), "{names:?}");
    assert_eq!(receiver.requests().len(), 2);

    // back: host offline resolves, the cpu alert keeps firing
    agent.send(Utc::now(), 90.0).await;
    let requests = exactly(&receiver, 3, Duration::from_secs(3)).await;
    assert_eq!(event(&requests[2]), "resolved");
    assert_eq!(requests[2].json()["alerts"][0]["labels"]["alertname"], "Host offline");
    let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
    assert_eq!(active.as_array().unwrap().len(), 1, "{active}");
    assert_eq!(active[0]["rule_name"], "cpu now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_stops_the_repeats() {
    let mut stack = Stack::new().await.unwrap();
    stack.extra_env.insert("VIGIL_ALERTER_REPEAT_INTERVAL".into(), "2s".into());
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(&stack, &acme, json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "warning"}))
        .await;
    let mut agent = agent(&stack, &acme, "web-1").await;
    agent.series(past(30), &[95.0]).await;
    let requests = receiver.wait_for(3, WAIT).await;
    assert_eq!(events(&requests)[..3], ["firing", "repeat", "repeat"]);

    let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
    let id = active[0]["id"].as_str().unwrap();
    let (status, acked) = post(&stack, &format!("/api/alerts/{id}/acknowledge"), &acme.jwt, json!({})).await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], acme.fixture.email);
    let (status, again) = post(&stack, &format!("/api/alerts/{id}/acknowledge"), &acme.jwt, json!({})).await;
    assert_eq!(status, 409, "{again}");

    // the webhook hears the acknowledgement; then nothing repeats
    let after_ack = receiver.wait_for(requests.len() + 1, WAIT).await;
    let before = after_ack.len();
    assert_eq!(event(after_ack.last().unwrap()), "acknowledged", "{:?}", events(&after_ack));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(receiver.requests().len(), before, "repeats after the ack: {:?}", events(&receiver.requests()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_rules_alerts_channels_and_silences_are_404_and_viewers_only_read() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    let globex = tenant(&stack, "globex", &receiver, false).await;
    let rule_id = rule(
        &stack,
        &acme,
        json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "warning"}),
    )
    .await;
    let mut agent = agent(&stack, &acme, "web-1").await;
    agent.series(past(30), &[95.0]).await;
    let alert_id = eventually("acme's alert", WAIT, || async {
        let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
        active[0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let now = Utc::now();
    let (_, silence) =
        post(&stack, "/api/alerts/silences", &acme.jwt, json!({"starts_at": now, "ends_at": now + chrono::Duration::hours(1)}))
            .await;
    let silence_id = silence["id"].as_str().unwrap();

    let rule_body = json!({"name": "x", "condition": "host.cpu.percent > 1", "duration": "0s", "severity": "info"});
    assert_eq!(put(&stack, &format!("/api/alerts/rules/{rule_id}"), &globex.jwt, rule_body).await.0, 404);
    assert_eq!(delete(&stack, &format!("/api/alerts/rules/{rule_id}"), &globex.jwt).await, 404);
    assert_eq!(post(&stack, &format!("/api/alerts/{alert_id}/acknowledge"), &globex.jwt, json!({})).await.0, 404);
    let channel = &acme.channel_id;
    assert_eq!(post(&stack, &format!("/api/config/notifications/{channel}/test"), &globex.jwt, json!({})).await.0, 404);
    assert_eq!(delete(&stack, &format!("/api/alerts/silences/{silence_id}"), &globex.jwt).await, 404);
    let silence_body = json!({"starts_at": now, "ends_at": now + chrono::Duration::hours(2)});
    assert_eq!(put(&stack, &format!("/api/alerts/silences/{silence_id}"), &globex.jwt, silence_body).await.0, 404);
    // a channel of acme named in globex's PUT is not globex's
    let (status, body) = put(
        &stack,
        "/api/config/notifications",
        &globex.jwt,
        json!([{"id": channel, "name": "stolen", "type": "webhook", "config": {"url": "http://127.0.0.1:9/"}}]),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    for path in ["/api/alerts", "/api/alerts/rules", "/api/alerts/silences", "/api/alerts/history"] {
        let (status, body) = get(&stack, path, &globex.jwt).await;
        assert_eq!(status, 200, "{path}: {body}");
        let text = body.to_string();
        assert!(!text.contains(&rule_id) && !text.contains(&alert_id) && !text.contains(silence_id), "{path} leaks acme: {text}");
    }
    // a viewer of acme reads but writes nothing
    vigil_gateway::admin::add_user(
        &stack.db.pool,
        "acme",
        "viewer@acme.test",
        "viewer-pw-0123456789",
        vigil_gateway::admin::Role::Viewer,
    )
    .await
    .unwrap();
    let viewer = TenantFixture {
        tenant: "acme".into(),
        email: "viewer@acme.test".into(),
        password: "viewer-pw-0123456789".into(),
        token_id: acme.fixture.token_id.clone(),
        token: acme.fixture.token.clone(),
    };
    let viewer_jwt = stack.login(&viewer).await.unwrap();
    for path in
        ["/api/alerts", "/api/alerts/rules", "/api/alerts/silences", "/api/alerts/maintenance", "/api/config/notifications"]
    {
        assert_eq!(get(&stack, path, &viewer_jwt).await.0, 200, "{path}");
    }
    let rule_body = json!({"name": "x", "condition": "host.cpu.percent > 1", "duration": "0s", "severity": "info"});
    assert_eq!(post(&stack, "/api/alerts/rules", &viewer_jwt, rule_body.clone()).await.0, 403);
    assert_eq!(put(&stack, &format!("/api/alerts/rules/{rule_id}"), &viewer_jwt, rule_body).await.0, 403);
    assert_eq!(delete(&stack, &format!("/api/alerts/rules/{rule_id}"), &viewer_jwt).await, 403);
    assert_eq!(post(&stack, &format!("/api/alerts/{alert_id}/acknowledge"), &viewer_jwt, json!({})).await.0, 403);
    assert_eq!(put(&stack, "/api/config/notifications", &viewer_jwt, json!([])).await.0, 403);
    assert_eq!(post(&stack, &format!("/api/config/notifications/{channel}/test"), &viewer_jwt, json!({})).await.0, 403);
    assert_eq!(delete(&stack, &format!("/api/alerts/silences/{silence_id}"), &viewer_jwt).await, 403);
    let (status, _) = post(&stack, "/api/alerts/rules/validate", &viewer_jwt, json!({"condition": "host.cpu.percent > 1"})).await;
    assert_eq!(status, 200, "viewers may check a condition");

    // and acme's own still answer
    let (status, _) = post(&stack, &format!("/api/alerts/{alert_id}/acknowledge"), &acme.jwt, json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_conditions_templates_and_channels_are_422_naming_the_field_and_position() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    let base = json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "warning"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };

    let (status, body) = post(&stack, "/api/alerts/rules", &acme.jwt, with("condition", json!("host.cpu.percent >"))).await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("condition: column 19:"), "{message}");

    let (status, body) = post(&stack, "/api/alerts/rules", &acme.jwt, with("condition", json!("host.cpu.percnt > 80"))).await;
    assert_eq!(status, 422);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("condition: column 1:") && message.contains("host.cpu.percnt"), "{message}");

    let (status, body) = post(&stack, "/api/alerts/rules", &acme.jwt, with("message", json!("CPU {{hots.name}}"))).await;
    assert_eq!(status, 422);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("message: line 1, column 7:") && message.contains("hots.name"), "{message}");

    let (status, body) = post(&stack, "/api/alerts/rules", &acme.jwt, with("channels", json!(["channel-nope"]))).await;
    assert_eq!(status, 422);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("channels[0]:"), "{body}");

    let (status, body) =
        post(&stack, "/api/alerts/rules/validate", &acme.jwt, json!({"condition": "container.status != 'running' &&"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("condition: column 33:"), "{body}");
    let (status, body) =
        post(&stack, "/api/alerts/rules/validate", &acme.jwt, json!({"condition": "container.status != 'running'"})).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("container")), "{body}");

    let (status, body) = put(
        &stack,
        "/api/config/notifications",
        &acme.jwt,
        json!([{"name": "hook", "type": "webhook", "config": {"url": "not a url"}}]),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("channels[0].config.url"), "{body}");
    let (status, body) =
        put(&stack, "/api/config/notifications", &acme.jwt, json!([{"name": "x", "type": "carrier-pigeon", "config": {}}])).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("channels[0].type"), "{body}");
    // nothing was stored by the refusals: the channel set up first is still there
    let (_, channels) = get(&stack, "/api/config/notifications", &acme.jwt).await;
    assert_eq!(channels.as_array().unwrap().len(), 1, "{channels}");
    assert_eq!(channels[0]["config"]["secret"].as_str().map(|s| s.contains("s3cret")), Some(false), "a secret came back whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alerters_side_by_side_one_killed_mid_stream_miss_nothing_and_double_nothing() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let mut first = stack.spawn(&["alerter"]).await.unwrap();
    let second = stack.spawn(&["alerter"]).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(&stack, &acme, json!({"name": "cpu", "condition": "host.cpu.percent > 80", "duration": "0s", "severity": "warning"}))
        .await;
    // the other alerter sees a configuration change within a second
    tokio::time::sleep(Duration::from_millis(1100)).await;
    const HOSTS: usize = 16;
    let mut agents = Vec::new();
    for index in 0..HOSTS {
        agents.push(agent(&stack, &acme, &format!("node-{index:02}")).await);
    }
    // every host crosses and comes back; the first alerter dies halfway
    let start = past(300);
    for step in 0..4 {
        let cpu = if step == 1 || step == 2 { 90.0 } else { 50.0 };
        for (index, agent) in agents.iter_mut().enumerate() {
            if step == 2 && index == HOSTS / 2 {
                first.kill();
            }
            agent.send(start + chrono::Duration::seconds(10 * step), cpu).await;
        }
    }
    // the dead alerter's unacked snapshots come back after the consumer's
    // ack wait (10 s), its claimed notifications after the claim (30 s)
    // (120 s: both delays, with room for a machine busy with the rest of the suite)
    let arrived = tokio::time::timeout(Duration::from_secs(120), async {
        while receiver.requests().len() < 2 * HOSTS {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if arrived.is_err() {
        let log = second.log_text();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        panic!(
            "got {} of {} notifications in 120 s; the second alerter's log ends:\n{}",
            receiver.requests().len(),
            2 * HOSTS,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests = receiver.requests();
    let mut per_host: std::collections::BTreeMap<(String, String), std::collections::BTreeSet<String>> = Default::default();
    for request in &requests {
        let body = request.json();
        let host = body["alerts"][0]["labels"]["host"].as_str().unwrap().to_owned();
        let key = request.header("idempotency-key").unwrap().to_owned();
        per_host.entry((host, event(request))).or_default().insert(key);
    }
    for agent_index in 0..HOSTS {
        let host = format!("node-{agent_index:02}");
        for expected in ["firing", "resolved"] {
            let keys = per_host.get(&(host.clone(), expected.to_owned()));
            assert_eq!(keys.map(|k| k.len()), Some(1), "{host} {expected}: {keys:?}; second alerter log:\n{}", second.log_text());
        }
    }
    assert_eq!(per_host.len(), 2 * HOSTS, "{per_host:?}");
    // a send cut short by the kill is sent again with the same key (at least once); count those
    let repeated = requests.len() - 2 * HOSTS;
    assert!(repeated <= 2, "{repeated} notifications sent twice: more than the sends in flight at the kill");
    assert_eq!(stack.db.count("SELECT COUNT(*) FROM alerts_history").await, HOSTS as i64);
    assert_eq!(stack.db.count("SELECT COUNT(*) FROM alerts").await, 0);
    assert_eq!(stack.db.count("SELECT COUNT(*) FROM alert_instances").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_and_channel_tests_answer_from_the_live_stack_and_real_receivers() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let smtp = vigil_testkit::receivers::SmtpReceiver::builder().auth("vigil", "smtp-pass").start().await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    let (_, channels) = get(&stack, "/api/config/notifications", &acme.jwt).await;
    let mut all = channels.as_array().unwrap().clone();
    all.push(json!({"name": "ops mail", "type": "email", "config": {
        "host": smtp.host(), "port": smtp.port(), "tls": "none", "user": "vigil", "password": "smtp-pass",
        "from": "vigil@example.com", "to": ["ops@example.com"]}}));
    let (status, saved) = put(&stack, "/api/config/notifications", &acme.jwt, Value::Array(all)).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved[1]["config"]["password"].as_str().map(|p| p.contains("smtp-pass")), Some(false), "{saved}");
    assert_eq!(saved[0]["id"], acme.channel_id.as_str(), "the webhook kept its id and its secret (sent back masked)");
    let mail_id = saved[1]["id"].as_str().unwrap();

    let (status, result) =
        post(&stack, &format!("/api/config/notifications/{}/test", acme.channel_id), &acme.jwt, json!({})).await;
    assert_eq!((status, &result["delivered"], &result["status"]), (200, &json!(true), &json!(200)), "{result}");
    let hooks = receiver.wait_for(1, WAIT).await;
    assert_eq!(event(&hooks[0]), "test");
    // the secret sent back masked by the PUT still signs
    assert!(hooks[0].header("x-vigil-signature").is_some());
    let (status, result) = post(&stack, &format!("/api/config/notifications/{mail_id}/test"), &acme.jwt, json!({})).await;
    assert_eq!((status, &result["delivered"]), (200, &json!(true)), "{result}");
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].to, ["ops@example.com"]);
    assert_eq!(mails[0].auth_user.as_deref(), Some("vigil"));
    assert!(mails[0].header("subject").unwrap().starts_with("[TEST]"), "{:?}", mails[0].header("subject"));
    let attempts =
        stack.db.count("SELECT COUNT(*) FROM notification_attempts WHERE status_code IS NOT NULL AND error IS NULL").await;
    assert_eq!(attempts, 2, "each test send is recorded");

    let mut agent = agent(&stack, &acme, "web-1").await;
    agent.send(Utc::now(), 91.0).await;
    let preview = eventually("the host's latest data in a preview", WAIT, || async {
        let (status, preview) =
            post(&stack, "/api/alerts/rules/preview", &acme.jwt, json!({"condition": "host.cpu.percent > 80"})).await;
        (status == 200 && preview["matches"].as_array().is_some_and(|m| !m.is_empty())).then_some(preview)
    })
    .await;
    assert_eq!(preview["scope"], "host");
    assert_eq!(preview["hosts_evaluated"], 1);
    assert_eq!(preview["matches"][0]["host_name"], "web-1");
    assert_eq!(preview["matches"][0]["value"], "91");
    let (_, by_mount) =
        post(&stack, "/api/alerts/rules/preview", &acme.jwt, json!({"condition": "host.disk.percent > 30"})).await;
    assert_eq!(by_mount["scope"], "mount");
    assert_eq!(by_mount["matches"][0]["label"], "/", "{by_mount}");
    let (_, none) = post(&stack, "/api/alerts/rules/preview", &acme.jwt, json!({"condition": "host.cpu.percent > 95"})).await;
    assert_eq!(none["matches"], json!([]));
    let (status, _) = post(&stack, "/api/alerts/rules/preview", &acme.jwt, json!({"condition": "host.cpu >"})).await;
    assert_eq!(status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_per_stopped_container_and_a_vanished_one_resolves_after_the_grace() {
    let mut stack = Stack::new().await.unwrap();
    stack.extra_env.insert("VIGIL_ALERTER_DISAPPEAR_GRACE".into(), "30s".into());
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, false).await;
    rule(
        &stack,
        &acme,
        json!({"name": "down", "condition": "container.status != 'running'", "duration": "0s", "severity": "critical",
               "message": "{{container.name}} is {{value}} on {{host.name}}"}),
    )
    .await;
    let mut agent = agent(&stack, &acme, "apps").await;
    let t0 = past(300);
    let at = |seconds: i64| t0 + chrono::Duration::seconds(seconds);
    send_containers(&mut agent, at(0), &[("web", "exited"), ("db", "running"), ("worker", "exited")]).await;
    let fired = exactly(&receiver, 2, Duration::from_secs(2)).await;
    let mut named: Vec<String> =
        fired.iter().map(|r| r.json()["alerts"][0]["annotations"]["description"].as_str().unwrap().to_owned()).collect();
    named.sort();
    assert_eq!(named, ["web is exited on apps", "worker is exited on apps"]);
    let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
    let mut containers: Vec<&str> = active.as_array().unwrap().iter().map(|a| a["container_name"].as_str().unwrap()).collect();
    containers.sort();
    assert_eq!(containers, ["web", "worker"]);

    // worker is removed: still firing 20 s later, resolved past the 30 s grace
    send_containers(&mut agent, at(10), &[("web", "exited"), ("db", "running")]).await;
    send_containers(&mut agent, at(30), &[("web", "exited"), ("db", "running")]).await;
    exactly(&receiver, 2, Duration::from_secs(2)).await;
    send_containers(&mut agent, at(40), &[("web", "exited"), ("db", "running")]).await;
    let requests = exactly(&receiver, 3, Duration::from_secs(2)).await;
    assert_eq!(event(&requests[2]), "resolved");
    assert_eq!(requests[2].json()["alerts"][0]["labels"]["container"], "worker", "{}", requests[2].text());
    // web runs again: resolved at once
    send_containers(&mut agent, at(50), &[("web", "running"), ("db", "running")]).await;
    let requests = exactly(&receiver, 4, Duration::from_secs(2)).await;
    assert_eq!(requests[3].json()["alerts"][0]["labels"]["container"], "web");
    let (_, active) = get(&stack, "/api/alerts", &acme.jwt).await;
    assert_eq!(active, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_offline_rule_with_a_duration_fires_once_it_has_passed() {
    let stack = Stack::new().await.unwrap();
    let _vigil = start(&stack).await;
    let receiver = HttpReceiver::start(vec![]).await;
    let acme = tenant(&stack, "acme", &receiver, true).await;
    let (_, rules) = get(&stack, "/api/alerts/rules", &acme.jwt).await;
    for rule in rules.as_array().unwrap() {
        let id = rule["id"].as_str().unwrap();
        if rule["builtin"] == "host_offline" {
            let mut edited = rule.clone();
            for key in ["id", "tenant_id", "builtin", "scope", "created_at", "updated_at"] {
                edited.as_object_mut().unwrap().remove(key);
            }
            edited["duration"] = json!("6s");
            let (status, body) = put(&stack, &format!("/api/alerts/rules/{id}"), &acme.jwt, edited).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["builtin"], "host_offline", "editing keeps it built-in");
        } else {
            assert_eq!(delete(&stack, &format!("/api/alerts/rules/{id}"), &acme.jwt).await, 204);
        }
    }
    let mut agent = agent(&stack, &acme, "edge-1").await;
    agent.send(Utc::now(), 10.0).await;
    let last_sent = std::time::Instant::now();
    // offline after ~5 s of silence (collector.offline_after in the tests), then 6 s pending
    let fired = receiver.wait_for(1, WAIT).await;
    let after = last_sent.elapsed();
    assert_eq!(event(&fired[0]), "firing");
    assert_eq!(fired[0].json()["alerts"][0]["labels"]["alertname"], "Host offline");
    assert!(
        after >= Duration::from_secs(11),
        "fired {after:?} after the last snapshot: before offline (5 s) + its duration (6 s)"
    );
    agent.send(Utc::now(), 10.0).await;
    let requests = exactly(&receiver, 2, Duration::from_secs(2)).await;
    assert_eq!(event(&requests[1]), "resolved");
}
