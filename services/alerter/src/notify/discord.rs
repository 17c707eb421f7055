//! Discord webhooks: `{"content", "embeds": [{title, description, url, color,
//! fields, timestamp, footer}]}` within Discord's limits, mentions disabled.
//! Sent without `?wait=true`: Discord answers 204.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::secret::SecretField;
use super::{check, http, text, Delivered, FieldError, Notification, NotificationEvent, SendError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The webhook URL (secret).
    pub url: String,
}

impl DiscordConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        check::http_url("url", &self.url).map(drop)
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        vec![SecretField::url("url", &mut self.url)]
    }
}

pub(super) fn payload(notification: &Notification) -> serde_json::Value {
    let alert = &notification.alert;
    let fields: Vec<serde_json::Value> = text::facts(notification)
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": text::truncate(&value, 1024), "inline": true}))
        .collect();
    let mut description = String::new();
    if notification.event == NotificationEvent::Test {
        description.push_str(text::TEST_NOTE);
        description.push_str("\n\n");
    }
    description.push_str(&alert.message);
    let mut embed = json!({
        "title": text::truncate(&text::headline(alert), 256),
        "description": text::truncate(&description, 4096),
        "color": text::color(notification),
        "fields": fields,
        "timestamp": text::event_time(notification).to_rfc3339(),
        "footer": {"text": "Vigil"},
    });
    if let Some(url) = &notification.dashboard_url {
        embed["url"] = json!(url);
    }
    json!({
        "content": text::truncate(&text::title(notification), 2000),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

pub(super) async fn send(
    client: &reqwest::Client,
    config: &DiscordConfig,
    notification: &Notification,
) -> Result<Delivered, SendError> {
    let request = client.post(config.url.trim()).json(&payload(notification));
    http::deliver(client, "discord", request).await
}
