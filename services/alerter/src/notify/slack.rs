//! Slack incoming webhooks: `{"text", "attachments": [{color, title, text,
//! fields, ...}]}` (a legacy attachment is the only way to a colour bar),
//! plus `channel` / `username` when set. `&`, `<`, `>` escaped as Slack asks.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::secret::SecretField;
use super::{check, http, text, Delivered, FieldError, Notification, SendError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming webhook URL (secret).
    pub url: String,
    /// Overrides the webhook's channel (`#ops`), where the app may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl SlackConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        check::http_url("url", &self.url)?;
        check::not_blank("channel", self.channel.as_ref())?;
        check::not_blank("username", self.username.as_ref())
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        vec![SecretField::url("url", &mut self.url)]
    }
}

pub(super) fn payload(config: &SlackConfig, notification: &Notification) -> serde_json::Value {
    let alert = &notification.alert;
    let fields: Vec<serde_json::Value> = text::facts(notification)
        .into_iter()
        .map(|(name, value)| json!({"title": name, "value": text::escape_html(&value), "short": true}))
        .collect();
    let mut message = String::new();
    if notification.event == super::NotificationEvent::Test {
        message.push_str(text::TEST_NOTE);
        message.push('\n');
    }
    message.push_str(&alert.message);
    let mut attachment = json!({
        "color": format!("#{:06X}", text::color(notification)),
        "fallback": text::escape_html(&text::title(notification)),
        "title": text::escape_html(&text::headline(alert)),
        "text": text::escape_html(&message),
        "fields": fields,
        "footer": "Vigil",
        "ts": text::event_time(notification).timestamp(),
    });
    if let Some(url) = &notification.dashboard_url {
        attachment["title_link"] = json!(url);
    }
    let mut payload = json!({
        "text": text::escape_html(&text::title(notification)),
        "attachments": [attachment],
    });
    if let Some(channel) = &config.channel {
        payload["channel"] = json!(channel);
    }
    if let Some(username) = &config.username {
        payload["username"] = json!(username);
    }
    payload
}

pub(super) async fn send(
    client: &reqwest::Client,
    config: &SlackConfig,
    notification: &Notification,
) -> Result<Delivered, SendError> {
    let request = client.post(config.url.trim()).json(&payload(config, notification));
    http::deliver(client, "slack", request).await
}
