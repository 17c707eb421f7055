//! Microsoft Teams through a Workflows webhook ("When a Teams webhook request
//! is received"): a `message` with one Adaptive Card 1.4 attachment — a
//! coloured title, the rule's message, a fact set, and a link to the alert.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::secret::SecretField;
use super::text::Phase;
use super::{check, http, text, Delivered, FieldError, Notification, NotificationEvent, SendError};
use vigil_bus::messages::Severity;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The workflow's HTTP POST URL (secret).
    pub url: String,
}

impl TeamsConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        check::http_url("url", &self.url).map(drop)
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        vec![SecretField::url("url", &mut self.url)]
    }
}

/// The Adaptive Card colour of the title.
fn title_color(notification: &Notification) -> &'static str {
    match text::phase(notification.event) {
        Phase::Resolved => "Good",
        Phase::Acknowledged => "Default",
        Phase::Firing => match notification.alert.severity {
            Severity::Critical => "Attention",
            Severity::Warning => "Warning",
            Severity::Info => "Accent",
        },
    }
}

pub(super) fn payload(notification: &Notification) -> serde_json::Value {
    let facts: Vec<serde_json::Value> =
        text::facts(notification).into_iter().map(|(name, value)| json!({"title": name, "value": value})).collect();
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": text::title(notification),
        "size": "Large",
        "weight": "Bolder",
        "color": title_color(notification),
        "wrap": true,
    })];
    if notification.event == NotificationEvent::Test {
        body.push(json!({"type": "TextBlock", "text": text::TEST_NOTE, "wrap": true, "isSubtle": true}));
    }
    body.push(json!({"type": "TextBlock", "text": notification.alert.message, "wrap": true}));
    body.push(json!({"type": "FactSet", "facts": facts}));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    });
    if let Some(url) = &notification.dashboard_url {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open in Vigil", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

pub(super) async fn send(
    client: &reqwest::Client,
    config: &TeamsConfig,
    notification: &Notification,
) -> Result<Delivered, SendError> {
    let request = client.post(config.url.trim()).json(&payload(notification));
    http::deliver(client, "teams", request).await
}
