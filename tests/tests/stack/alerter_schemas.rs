//! Every alerter endpoint of the running stack (`vigil run gateway collector
//! alerter`) answers what `schemas/alerter-*.schema.json` says: each request
//! is the typed message of `vigil_bus::subjects::alerter`, serialized; the
//! request and the raw reply are validated against the endpoint's schema
//! file, then the reply is parsed back into the endpoint's typed reply.
//! Error replies (bad_request, not_found, conflict, unprocessable) are
//! validated too, also for requests that break the request schema (the
//! alerter refuses them with the error the schema's description names).
//! `channels.notify` is checked at a real webhook receiver too: a message
//! per key, whichever way the channel is named.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use vigil_bus::messages::{
    AcknowledgeAlert, AlertHistoryQuery, AlertMatcher, AlertStatus, ChannelInput, CheckRule, ClearSpec, CreateRule, ListAlerts,
    MaintenanceInput, NotifyChannels, OfTenant, PutChannels, RuleInput, SaveMaintenance, SaveSilence, Severity, SilenceInput,
    TenantItem, UpdateRule,
};
use vigil_bus::subjects::alerter;
use vigil_testkit::eventually;
use vigil_testkit::receivers::{HttpReceiver, Recorded};
use vigil_testkit::schemas::EndpointBus;
use vigil_tests::sim::Agent;
use vigil_tests::Stack;

const WAIT: Duration = Duration::from_secs(30);
const TENANT: &str = "acme";
const BY: &str = "ops@acme.test";

/// The plain messages (`channels.notify`) the receiver got, in order.
fn messages(receiver: &HttpReceiver) -> Vec<Recorded> {
    receiver.requests().into_iter().filter(|r| r.json()["vigil"]["event"] == "message").collect()
}

fn tenant() -> OfTenant {
    OfTenant { tenant_id: TENANT.into() }
}

fn item(id: &str) -> TenantItem {
    TenantItem { tenant_id: TENANT.into(), id: id.into() }
}

fn check(condition: &str) -> CheckRule {
    CheckRule { tenant_id: TENANT.into(), condition: condition.into(), clear: None, message: None }
}

fn history(limit: u32, before: Option<u64>) -> AlertHistoryQuery {
    AlertHistoryQuery { tenant_id: TENANT.into(), limit, before, ..Default::default() }
}

fn past(seconds: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alerter_endpoint_request_and_reply_match_the_schemas() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector", "alerter"]).await.unwrap();
    let acme = stack.tenant(TENANT).await.unwrap();
    let receiver = HttpReceiver::start(vec![]).await;
    let bus = EndpointBus::new(stack.nats.client().await, "alerter");

    // ---------------------------------------------------------------- rules: the defaults
    let defaults = bus.ok(alerter::LIST_RULES, &tenant()).await;
    assert_eq!(defaults.len(), 5, "the seed's four rules and host offline: {defaults:?}");
    assert!(defaults.iter().any(|rule| rule.builtin.as_deref() == Some("host_offline")), "{defaults:?}");
    // deleted, so that only this test's rule fires
    for rule in &defaults {
        bus.ok(alerter::DELETE_RULE, &item(&rule.id)).await;
    }
    let (raw, _) = bus.call(alerter::DELETE_RULE, &item(&defaults[0].id)).await;
    assert_eq!(raw["error"]["code"], "not_found", "{raw}");
    assert_eq!(bus.ok(alerter::LIST_RULES, &tenant()).await, vec![]);

    // ---------------------------------------------------------------- channels
    let hook = ChannelInput {
        id: None,
        name: "hook".into(),
        enabled: true,
        kind: "webhook".into(),
        config: json!({"url": receiver.url(), "secret": "a-signing-secret-of-some-length", "headers": {"X-Team": "ops"}}),
    };
    let put = PutChannels { tenant_id: TENANT.into(), channels: vec![hook.clone()] };
    let channels = bus.ok(alerter::PUT_CHANNELS, &put).await;
    assert_eq!(channels.len(), 1, "{channels:?}");
    let channel_id = channels[0].id.clone();
    assert_eq!(channels[0].kind, "webhook");
    assert_ne!(channels[0].config["secret"], hook.config["secret"], "the secret is masked: {channels:?}");
    // sent back as shown (secrets masked), with its id: kept
    let again = ChannelInput { id: Some(channel_id.clone()), config: channels[0].config.clone(), ..hook.clone() };
    let kept = bus.ok(alerter::PUT_CHANNELS, &PutChannels { tenant_id: TENANT.into(), channels: vec![again] }).await;
    assert_eq!(kept, channels);
    assert_eq!(bus.ok(alerter::LIST_CHANNELS, &tenant()).await, channels);
    let unusable = ChannelInput { config: json!({"url": "not a url"}), ..hook.clone() };
    let error = bus
        .error(alerter::PUT_CHANNELS, &PutChannels { tenant_id: TENANT.into(), channels: vec![unusable] }, "unprocessable")
        .await;
    assert!(error["error"]["message"].as_str().unwrap().starts_with("channels[0].config.url"), "{error}");
    let tested = bus.ok(alerter::TEST_CHANNEL, &item(&channel_id)).await;
    assert!(tested.delivered, "{tested:?}");
    assert_eq!((tested.status, tested.error), (Some(200), None));
    bus.error(alerter::TEST_CHANNEL, &item("channel-0000000000000000"), "not_found").await;

    // ---------------------------------------------------------------- rules: validate, create, update
    let valid = CheckRule {
        clear: Some(ClearSpec::Threshold(70.0)),
        message: Some("CPU at {{value}}% on {{host.name}}".into()),
        ..check("host.cpu.percent > 80")
    };
    assert_eq!(bus.ok(alerter::VALIDATE_RULE, &valid).await.scope, "host");
    let mount =
        CheckRule { clear: Some(ClearSpec::Condition("host.disk.percent < 50".into())), ..check("host.disk.percent > 90") };
    assert_eq!(bus.ok(alerter::VALIDATE_RULE, &mount).await.scope, "mount");
    let error = bus.error(alerter::VALIDATE_RULE, &check("host.cpu.percent >"), "unprocessable").await;
    assert!(error["error"]["message"].as_str().unwrap().starts_with("condition"), "{error}");

    let input = RuleInput {
        name: "cpu".into(),
        description: "CPU above 80 %".into(),
        condition: "host.cpu.percent > 80".into(),
        duration: Duration::ZERO,
        severity: Severity::Warning,
        channels: vec![channel_id.clone()],
        message: "CPU at {{value}}% on {{host.name}}".into(),
        enabled: true,
        clear: Some(ClearSpec::Threshold(70.0)),
        repeat_interval: Some(Duration::from_secs(3600)),
    };
    let created = bus.ok(alerter::CREATE_RULE, &CreateRule { tenant_id: TENANT.into(), rule: input.clone() }).await;
    assert_eq!((created.rule.clone(), created.scope.as_str(), created.builtin.clone()), (input.clone(), "host", None));
    let rule_id = created.id.clone();
    let bad = RuleInput { condition: "host.cpu.percent >> 80".into(), ..input.clone() };
    let error = bus.error(alerter::CREATE_RULE, &CreateRule { tenant_id: TENANT.into(), rule: bad }, "unprocessable").await;
    assert!(error["error"]["message"].as_str().unwrap().starts_with("condition"), "{error}");
    let unknown_channel = RuleInput { channels: vec!["channel-ffffffffffffffff".into()], ..input.clone() };
    let create = CreateRule { tenant_id: TENANT.into(), rule: unknown_channel };
    bus.error(alerter::CREATE_RULE, &create, "unprocessable").await;

    // a clear condition instead of a threshold; the default repeat interval
    let updated_input = RuleInput {
        clear: Some(ClearSpec::Condition("host.cpu.percent < 60".into())),
        repeat_interval: None,
        duration: Duration::from_secs(0),
        ..input.clone()
    };
    let update = UpdateRule { tenant_id: TENANT.into(), id: rule_id.clone(), rule: updated_input.clone() };
    let updated = bus.ok(alerter::UPDATE_RULE, &update).await;
    assert_eq!(updated.rule, updated_input);
    let (raw, _) = bus.call(alerter::LIST_RULES, &tenant()).await;
    assert_eq!(raw["ok"][0]["clear"], "host.cpu.percent < 60", "{raw}");
    assert!(raw["ok"][0].get("repeat_interval").is_none(), "{raw}");
    let missing = UpdateRule { id: "rule-0000000000000000".into(), ..update.clone() };
    bus.error(alerter::UPDATE_RULE, &missing, "not_found").await;

    // ---------------------------------------------------------------- an alert
    let mut agent = Agent::start(&stack, &acme.token, "schema-alerts").await.unwrap();
    // snapshots 10 s apart, dated in the recent past (the alerter judges on collection times)
    let t0 = past(120);
    let at = |step: i64| t0 + chrono::Duration::seconds(10 * step);
    agent.send(at(0), 95.0).await;
    let active = ListAlerts { tenant_id: TENANT.into(), ..Default::default() };
    let alert = eventually("the cpu alert in alerts.list", WAIT, || async {
        let alerts = bus.ok(alerter::LIST_ALERTS, &active).await;
        alerts.into_iter().next().ok_or("no active alert")
    })
    .await;
    assert_eq!(
        (alert.rule_id.as_str(), alert.status, alert.value.as_deref()),
        (rule_id.as_str(), AlertStatus::Firing, Some("95"))
    );
    let filtered = ListAlerts {
        tenant_id: TENANT.into(),
        host_id: Some(agent.host.clone()),
        severity: Some(Severity::Warning),
        status: Some(AlertStatus::Firing),
    };
    assert_eq!(bus.ok(alerter::LIST_ALERTS, &filtered).await.len(), 1);
    let other_severity = ListAlerts { severity: Some(Severity::Critical), ..filtered.clone() };
    assert_eq!(bus.ok(alerter::LIST_ALERTS, &other_severity).await, vec![]);

    // preview: on the host's latest data (a host-scoped and a mount-scoped condition)
    // (once the collector has stored the snapshot)
    let preview = eventually("the host in rules.preview", WAIT, || async {
        let preview = bus.ok(alerter::PREVIEW_RULE, &check("host.cpu.percent > 80")).await;
        if preview.matches.is_empty() {
            Err(preview)
        } else {
            Ok(preview)
        }
    })
    .await;
    assert_eq!((preview.scope.as_str(), preview.hosts_evaluated, preview.matches.len()), ("host", 1, 1), "{preview:?}");
    assert_eq!((preview.matches[0].label.as_deref(), preview.matches[0].value.as_deref()), (None, Some("95")));
    let preview = bus.ok(alerter::PREVIEW_RULE, &check("host.disk.percent >= 0")).await;
    assert_eq!(preview.scope, "mount");
    assert_eq!(preview.matches.first().and_then(|m| m.label.as_deref()), Some("/"), "{preview:?}");
    assert!(preview.matches[0].timestamp.is_some(), "{preview:?}");
    bus.error(alerter::PREVIEW_RULE, &check("host.nothing > 1"), "unprocessable").await;

    // acknowledge: once; twice is a conflict; an unknown alert is not found
    let acknowledge = AcknowledgeAlert { tenant_id: TENANT.into(), alert_id: alert.id.clone(), by: BY.into() };
    let acknowledged = bus.ok(alerter::ACKNOWLEDGE, &acknowledge).await;
    assert_eq!((acknowledged.status, acknowledged.acknowledged_by.as_deref()), (AlertStatus::Acknowledged, Some(BY)));
    bus.error(alerter::ACKNOWLEDGE, &acknowledge, "conflict").await;
    let unknown = AcknowledgeAlert { alert_id: "alert-0000000000000000".into(), ..acknowledge.clone() };
    bus.error(alerter::ACKNOWLEDGE, &unknown, "not_found").await;

    // resolved (the clear condition holds), fired and resolved again: two history pages of one
    agent.send(at(1), 10.0).await;
    eventually("the first alert in the history", WAIT, || async {
        bus.ok(alerter::ALERT_HISTORY, &history(500, None)).await.items.len() == 1
    })
    .await;
    agent.send(at(2), 95.0).await;
    eventually("the second alert firing", WAIT, || async { !bus.ok(alerter::LIST_ALERTS, &active).await.is_empty() }).await;
    agent.send(at(3), 10.0).await;
    eventually("the second alert in the history", WAIT, || async {
        bus.ok(alerter::ALERT_HISTORY, &history(500, None)).await.items.len() == 2
    })
    .await;
    let all = bus.ok(alerter::ALERT_HISTORY, &history(500, None)).await;
    assert_eq!(all.next_before, None);
    let first = all.items.iter().find(|entry| entry.alert.id == alert.id).expect("the acknowledged alert in the history");
    assert_eq!((first.alert.status, first.alert.acknowledged_by.as_deref()), (AlertStatus::Resolved, Some(BY)));
    assert_eq!(first.duration_seconds, 10, "fired at t0, resolved at t0 + 10 s");
    assert!(all.items.iter().any(|entry| entry.alert.id != alert.id && entry.alert.acknowledged_by.is_none()), "{all:?}");
    // a page of one: the other is on the next page (which entry comes first is
    // not asserted here; the reply's shape is)
    let first_page = bus.ok(alerter::ALERT_HISTORY, &history(1, None)).await;
    assert_eq!(first_page.items.len(), 1);
    let next = first_page.next_before.expect("a second page");
    assert_eq!(next, first_page.items[0].seq);
    let second_page = bus.ok(alerter::ALERT_HISTORY, &history(1, Some(next))).await;
    assert_eq!(second_page.next_before, None, "{second_page:?}");
    let by_rule = AlertHistoryQuery {
        host_id: Some(agent.host.clone()),
        severity: Some(Severity::Warning),
        rule_id: Some(rule_id.clone()),
        ..history(10, None)
    };
    assert_eq!(bus.ok(alerter::ALERT_HISTORY, &by_rule).await.items.len(), 2);
    assert_eq!(bus.ok(alerter::LIST_ALERTS, &active).await, vec![]);

    // ---------------------------------------------------------------- channels.notify
    let notify = |channel: Option<&str>, key: &str| NotifyChannels {
        tenant_id: TENANT.into(),
        channel: channel.map(str::to_owned),
        host_id: Some(agent.host.clone()),
        message: format!("message {key}"),
        key: key.into(),
    };
    // the channel by its id, its name, its type; none named: every enabled one
    for (channel, key) in
        [(Some(channel_id.as_str()), "by-id"), (Some("hook"), "by-name"), (Some("webhook"), "by-type"), (None, "every")]
    {
        let receipt = bus.ok(alerter::NOTIFY, &notify(channel, key)).await;
        assert_eq!(receipt.channels, [channel_id.as_str()], "{channel:?}");
    }
    // the same key twice: the same receipt, nothing new queued
    let again = NotifyChannels { message: "not sent".into(), ..notify(Some("hook"), "by-name") };
    assert_eq!(bus.ok(alerter::NOTIFY, &again).await.channels, [channel_id.as_str()]);
    // without a host
    let hostless = NotifyChannels { host_id: None, ..notify(None, "hostless") };
    assert_eq!(bus.ok(alerter::NOTIFY, &hostless).await.channels, [channel_id.as_str()]);
    eventually("5 messages at the webhook", WAIT, || async { (messages(&receiver).len() >= 5).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = messages(&receiver).into_iter().map(|r| r.json()).collect::<Vec<_>>();
    let texts: BTreeSet<&str> = sent.iter().map(|body| body["vigil"]["message"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        texts,
        BTreeSet::from(["message by-id", "message by-name", "message by-type", "message every", "message hostless"]),
        "one message per key: {sent:?}"
    );
    assert_eq!(sent.len(), 5, "the same key twice sent once: {sent:?}");
    let on_host = sent.iter().find(|body| body["vigil"]["message"] == "message by-id").unwrap();
    assert_eq!(on_host["commonAnnotations"]["summary"], "Vigil scenario on schema-alerts", "{on_host}");
    let error = bus.error(alerter::NOTIFY, &notify(Some("pager"), "nowhere"), "not_found").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("\"pager\""), "{error}");
    let other_tenant = NotifyChannels { tenant_id: "globex".into(), ..notify(Some(channel_id.as_str()), "other-tenant") };
    bus.error(alerter::NOTIFY, &other_tenant, "not_found").await;
    // requests the schema refuses: the alerter refuses them too
    let body = |edit: &dyn Fn(&mut Value)| {
        let mut body = serde_json::to_value(notify(Some("hook"), "refused")).unwrap();
        edit(&mut body);
        body
    };
    let message = bus.refused(alerter::NOTIFY.untyped(), &body(&|b| b["message"] = json!("  ")), "unprocessable").await;
    assert!(message.starts_with("message"), "{message}");
    let message = bus.refused(alerter::NOTIFY.untyped(), &body(&|b| b["key"] = json!("")), "unprocessable").await;
    assert!(message.starts_with("key"), "{message}");
    bus.refused(alerter::NOTIFY.untyped(), &body(&|b| b["host_id"] = json!("web.1")), "bad_request").await;
    bus.refused(alerter::NOTIFY.untyped(), &body(&|b| b["tenant_id"] = json!("no.such.tenant")), "bad_request").await;
    assert_eq!(messages(&receiver).len(), 5, "refused requests send nothing");

    // ---------------------------------------------------------------- silences
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let silence = SilenceInput {
        matcher: AlertMatcher { host_id: Some(agent.host.clone()), severity: Some(Severity::Warning), ..Default::default() },
        starts_at: now,
        ends_at: now + chrono::Duration::hours(1),
        comment: "deploy".into(),
    };
    let save = SaveSilence { tenant_id: TENANT.into(), id: None, by: BY.into(), silence: silence.clone() };
    let saved = bus.ok(alerter::SAVE_SILENCE, &save).await;
    assert_eq!((&saved.silence, saved.created_by.as_str()), (&silence, BY));
    let replaced_input = SilenceInput {
        matcher: AlertMatcher { rule_id: Some(rule_id.clone()), mount: Some("/".into()), ..Default::default() },
        ..silence.clone()
    };
    let replace = SaveSilence { id: Some(saved.id.clone()), silence: replaced_input.clone(), ..save.clone() };
    let replaced = bus.ok(alerter::SAVE_SILENCE, &replace).await;
    assert_eq!((replaced.id.as_str(), &replaced.silence), (saved.id.as_str(), &replaced_input));
    let listed = bus.ok(alerter::LIST_SILENCES, &tenant()).await;
    assert_eq!(listed, vec![replaced.clone()]);
    let backwards = SilenceInput { ends_at: now - chrono::Duration::hours(1), ..silence.clone() };
    let error = bus.error(alerter::SAVE_SILENCE, &SaveSilence { silence: backwards, ..save.clone() }, "unprocessable").await;
    assert!(error["error"]["message"].as_str().unwrap().starts_with("ends_at"), "{error}");
    let unknown = SaveSilence { id: Some("silence-0000000000000000".into()), ..save.clone() };
    bus.error(alerter::SAVE_SILENCE, &unknown, "not_found").await;
    bus.ok(alerter::DELETE_SILENCE, &item(&saved.id)).await;
    bus.error(alerter::DELETE_SILENCE, &item(&saved.id), "not_found").await;
    assert_eq!(bus.ok(alerter::LIST_SILENCES, &tenant()).await, vec![]);

    // ---------------------------------------------------------------- maintenance windows
    let window = MaintenanceInput {
        name: "patching".into(),
        host_id: Some(agent.host.clone()),
        schedule: "0 0 3 * * Sun".into(),
        duration: Duration::from_secs(2 * 3600),
        enabled: true,
        comment: "weekly".into(),
    };
    let save = SaveMaintenance { tenant_id: TENANT.into(), id: None, by: BY.into(), window: window.clone() };
    let saved = bus.ok(alerter::SAVE_MAINTENANCE, &save).await;
    assert_eq!((&saved.window, saved.created_by.as_str()), (&window, BY));
    assert!(saved.next_start.is_some(), "{saved:?}");
    let every_host = MaintenanceInput { host_id: None, enabled: false, ..window.clone() };
    let replace = SaveMaintenance { id: Some(saved.id.clone()), window: every_host.clone(), ..save.clone() };
    let replaced = bus.ok(alerter::SAVE_MAINTENANCE, &replace).await;
    assert_eq!((replaced.id.as_str(), &replaced.window), (saved.id.as_str(), &every_host));
    let listed = bus.ok(alerter::LIST_MAINTENANCE, &tenant()).await;
    assert_eq!(listed.iter().map(|w| (&w.id, &w.window)).collect::<Vec<_>>(), vec![(&saved.id, &every_host)]);
    let never = MaintenanceInput { schedule: "whenever".into(), ..window.clone() };
    let error = bus.error(alerter::SAVE_MAINTENANCE, &SaveMaintenance { window: never, ..save.clone() }, "unprocessable").await;
    assert!(error["error"]["message"].as_str().unwrap().starts_with("schedule"), "{error}");
    let unknown = SaveMaintenance { id: Some("maintenance-0000000000000000".into()), ..save.clone() };
    bus.error(alerter::SAVE_MAINTENANCE, &unknown, "not_found").await;
    bus.ok(alerter::DELETE_MAINTENANCE, &item(&saved.id)).await;
    bus.error(alerter::DELETE_MAINTENANCE, &item(&saved.id), "not_found").await;
    assert_eq!(bus.ok(alerter::LIST_MAINTENANCE, &tenant()).await, vec![]);

    // ---------------------------------------------------------------- the rule, deleted
    bus.ok(alerter::DELETE_RULE, &item(&rule_id)).await;
    assert_eq!(bus.ok(alerter::LIST_RULES, &tenant()).await, vec![]);

    // a tenant id that is not one: the request breaks the schema, the reply is a bad_request that keeps it
    for endpoint in alerter::ALL {
        bus.refused(*endpoint, &json!({"tenant_id": "no.such.tenant"}), "bad_request").await;
    }

    bus.assert_all_called(alerter::ALL);
}
