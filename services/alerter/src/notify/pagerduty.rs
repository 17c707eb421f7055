//! PagerDuty Events API v2: `trigger` (firing, repeat, test), `acknowledge`
//! and `resolve`, deduplicated on the alert's fingerprint so that one alert is
//! one PagerDuty incident. Only a trigger carries a `payload`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::secret::SecretField;
use super::{check, http, text, Delivered, FieldError, Notification, NotificationEvent, SendError};

pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration key of an Events API v2 integration (secret).
    pub routing_key: String,
    /// Default `https://events.pagerduty.com/v2/enqueue`
    /// (`https://events.eu.pagerduty.com/v2/enqueue` for the EU service region).
    #[serde(default = "default_url")]
    pub url: String,
}

impl PagerDutyConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        check::token("routing_key", &self.routing_key)?;
        check::http_url("url", &self.url).map(drop)
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        vec![SecretField::plain("routing_key", &mut self.routing_key)]
    }
}

/// `trigger`, `acknowledge` or `resolve`.
pub(super) fn event_action(event: NotificationEvent) -> &'static str {
    match event {
        NotificationEvent::Firing | NotificationEvent::Repeat | NotificationEvent::Test | NotificationEvent::Message => "trigger",
        NotificationEvent::Acknowledged => "acknowledge",
        NotificationEvent::Resolved => "resolve",
    }
}

/// The alert's fingerprint; a test gets one of its own so it never touches a real incident.
pub(super) fn dedup_key(notification: &Notification) -> String {
    match notification.event {
        NotificationEvent::Test => format!("vigil-test-{}", notification.id),
        NotificationEvent::Message => format!("vigil-message-{}", notification.id),
        _ => notification.alert.fingerprint.clone(),
    }
}

pub(super) fn payload(config: &PagerDutyConfig, notification: &Notification) -> serde_json::Value {
    let action = event_action(notification.event);
    let mut event = json!({
        "routing_key": config.routing_key.trim(),
        "event_action": action,
        "dedup_key": dedup_key(notification),
    });
    if action != "trigger" {
        return event;
    }
    let alert = &notification.alert;
    let mut summary = text::headline(alert);
    if notification.event == NotificationEvent::Test {
        summary = format!("[TEST] {summary}");
    }
    if !alert.message.is_empty() {
        summary = format!("{summary}: {}", alert.message);
    }
    let mut details = json!({
        "message": alert.message,
        "rule": alert.rule_name,
        "rule_id": alert.rule_id,
        "host": alert.host_name,
        "host_id": alert.host_id,
        "alert_id": alert.id,
        "fingerprint": alert.fingerprint,
        "fired_at": alert.fired_at.to_rfc3339(),
        "event": notification.event.as_str(),
    });
    if let Some(value) = &alert.value {
        details["value"] = json!(value);
    }
    let mut payload = json!({
        "summary": text::truncate(&summary, 1024),
        "source": alert.host_name,
        "severity": alert.severity.as_str(),
        "timestamp": alert.fired_at.to_rfc3339(),
        "class": alert.rule_name,
        "group": alert.tenant_id,
        "custom_details": details,
    });
    if let Some((what, name)) = text::instance_part(alert) {
        payload["component"] = json!(name);
        payload["custom_details"][what] = json!(name);
    }
    event["payload"] = payload;
    event["client"] = json!("Vigil");
    if let Some(url) = &notification.dashboard_url {
        event["client_url"] = json!(url);
        event["links"] = json!([{"href": url, "text": "Open in Vigil"}]);
    }
    event
}

pub(super) async fn send(
    client: &reqwest::Client,
    config: &PagerDutyConfig,
    notification: &Notification,
) -> Result<Delivered, SendError> {
    let request = client.post(config.url.trim()).json(&payload(config, notification));
    http::deliver(client, "pagerduty", request).await
}
