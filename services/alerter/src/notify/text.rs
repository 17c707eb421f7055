//! The wording every channel shares: titles, facts, plain-text bodies,
//! colours. One place, so that a Slack message and an email say the same.

use chrono::{DateTime, Utc};
use vigil_bus::messages::{Alert, Severity};

use super::{Notification, NotificationEvent};

/// Where the alert stands after the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Firing,
    Acknowledged,
    Resolved,
}

pub(super) fn phase(event: NotificationEvent) -> Phase {
    match event {
        NotificationEvent::Firing | NotificationEvent::Repeat | NotificationEvent::Test | NotificationEvent::Message => {
            Phase::Firing
        }
        NotificationEvent::Acknowledged => Phase::Acknowledged,
        NotificationEvent::Resolved => Phase::Resolved,
    }
}

/// The instance below the host: `("mount", "/data")`, `("container", "web")`, `("service", "nginx")`.
pub(super) fn instance_part(alert: &Alert) -> Option<(&'static str, &str)> {
    if let Some(mount) = &alert.mount {
        return Some(("mount", mount));
    }
    if let Some(container) = &alert.container_name {
        return Some(("container", container));
    }
    alert.service_name.as_deref().map(|service| ("service", service))
}

/// The instance in one word: `web-1`, `web-1:/data`, `web-1:nginx`.
pub(super) fn instance(alert: &Alert) -> String {
    match instance_part(alert) {
        Some((_, name)) => format!("{}:{name}", alert.host_name),
        None => alert.host_name.clone(),
    }
}

/// `High CPU on web-1`, `Disk almost full on web-1 (mount /data)`; a plain
/// message without a host: its title alone (`Vigil scenario`).
pub(super) fn headline(alert: &Alert) -> String {
    if alert.host_name.is_empty() {
        return alert.rule_name.clone();
    }
    match instance_part(alert) {
        Some((what, name)) => format!("{} on {} ({what} {name})", alert.rule_name, alert.host_name),
        None => format!("{} on {}", alert.rule_name, alert.host_name),
    }
}

/// `FIRING critical`, `STILL FIRING warning`, `ACKNOWLEDGED`, `RESOLVED`, `TEST`.
pub(super) fn tag(notification: &Notification) -> String {
    let severity = notification.alert.severity.as_str();
    match notification.event {
        NotificationEvent::Firing => format!("FIRING {severity}"),
        NotificationEvent::Repeat => format!("STILL FIRING {severity}"),
        NotificationEvent::Acknowledged => "ACKNOWLEDGED".to_owned(),
        NotificationEvent::Resolved => "RESOLVED".to_owned(),
        NotificationEvent::Test => "TEST".to_owned(),
        NotificationEvent::Message => "MESSAGE".to_owned(),
    }
}

/// `[FIRING critical] High CPU on web-1`: the subject, the first line; a
/// plain message's is its headline (`Vigil scenario on web-1`).
pub(super) fn title(notification: &Notification) -> String {
    if notification.event == NotificationEvent::Message {
        return headline(&notification.alert);
    }
    format!("[{}] {}", tag(notification), headline(&notification.alert))
}

/// A time as people read it: `2024-05-01 12:00:00 UTC`.
pub(super) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// When the event happened: fired, acknowledged or resolved at.
pub(super) fn event_time(notification: &Notification) -> DateTime<Utc> {
    let alert = &notification.alert;
    match phase(notification.event) {
        Phase::Firing => alert.fired_at,
        Phase::Acknowledged => alert.acknowledged_at.unwrap_or(alert.fired_at),
        Phase::Resolved => alert.resolved_at.unwrap_or(alert.fired_at),
    }
}

/// The facts every message lists, in this order; absent ones are left out.
/// A plain message lists its host (when it names one) and when it was sent.
pub(super) fn facts(notification: &Notification) -> Vec<(&'static str, String)> {
    let alert = &notification.alert;
    if notification.event == NotificationEvent::Message {
        let mut facts = Vec::new();
        if !alert.host_name.is_empty() {
            facts.push(("Host", alert.host_name.clone()));
        }
        facts.push(("Sent", time(alert.fired_at)));
        return facts;
    }
    let mut facts = vec![("Severity", alert.severity.as_str().to_owned()), ("Host", alert.host_name.clone())];
    if let Some((what, name)) = instance_part(alert) {
        let label = match what {
            "mount" => "Mount",
            "container" => "Container",
            _ => "Service",
        };
        facts.push((label, name.to_owned()));
    }
    if let Some(value) = &alert.value {
        facts.push(("Value", value.clone()));
    }
    facts.push(("Fired", time(alert.fired_at)));
    if let Some(at) = alert.acknowledged_at {
        let by = alert.acknowledged_by.as_deref().map(|by| format!(" by {by}")).unwrap_or_default();
        facts.push(("Acknowledged", format!("{}{by}", time(at))));
    }
    if let Some(at) = alert.resolved_at {
        facts.push(("Resolved", time(at)));
    }
    facts
}

/// What a test message says before the made-up alert.
pub(super) const TEST_NOTE: &str = "This is a test notification from Vigil: the channel works. No alert fired.";

/// The plain-text body: the note of a test, the rule's message, the facts, the link.
pub(super) fn plain_body(notification: &Notification) -> String {
    let mut body = String::new();
    if notification.event == NotificationEvent::Test {
        body.push_str(TEST_NOTE);
        body.push_str("\n\n");
    }
    if notification.event == NotificationEvent::Repeat {
        body.push_str("Still firing.\n\n");
    }
    body.push_str(&notification.alert.message);
    body.push_str("\n\n");
    for (name, value) in facts(notification) {
        body.push_str(&format!("{name}: {value}\n"));
    }
    if notification.event != NotificationEvent::Message {
        body.push_str(&format!("Rule: {}\n", notification.alert.rule_name));
    }
    if let Some(url) = &notification.dashboard_url {
        body.push_str(&format!("\nOpen in Vigil: {url}\n"));
    }
    body
}

/// The colour of the message: by severity while firing, green once resolved,
/// grey once acknowledged.
pub(super) fn color(notification: &Notification) -> u32 {
    match phase(notification.event) {
        Phase::Resolved => 0x2E_B6_7D,
        Phase::Acknowledged => 0x9E_9E_9E,
        Phase::Firing => match notification.alert.severity {
            Severity::Critical => 0xE0_1E_5A,
            Severity::Warning => 0xEC_B2_2E,
            Severity::Info => 0x36_C5_F0,
        },
    }
}

/// At most `max` characters, an ellipsis marking a cut.
pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `<`, `>` and `&` as HTML entities (Slack mrkdwn and Telegram HTML want them escaped).
pub(super) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
