//! ntfy: `POST` to the topic URL with the plain-text message as the body and
//! `Title`, `Priority`, `Tags`, `Click` and `Authorization` headers. A title
//! that is not ASCII goes as an RFC 2047 encoded word, which ntfy decodes.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::secret::SecretField;
use super::text::Phase;
use super::{check, http, text, Delivered, FieldError, Notification, NotificationEvent, SendError};
use vigil_bus::messages::Severity;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// The server and topic, `https://ntfy.sh/my-alerts`.
    pub url: String,
    /// An access token (`tk_…`) for a protected topic (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl NtfyConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        let url = check::http_url("url", &self.url)?;
        if url.path().trim_matches('/').is_empty() {
            return Err(FieldError::new(check::field("url"), "must name a topic (https://ntfy.sh/my-alerts)"));
        }
        check::not_blank("token", self.token.as_ref())?;
        if let Some(token) = &self.token {
            check::token("token", token)?;
        }
        Ok(())
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        self.token.as_mut().map(|token| SecretField::plain("token", token)).into_iter().collect()
    }
}

/// 5 (max) critical, 4 warning, 3 info while firing; 2 once acknowledged or resolved.
pub(super) fn priority(notification: &Notification) -> u8 {
    match text::phase(notification.event) {
        Phase::Resolved | Phase::Acknowledged => 2,
        Phase::Firing => match notification.alert.severity {
            Severity::Critical => 5,
            Severity::Warning => 4,
            Severity::Info => 3,
        },
    }
}

/// Emoji short codes ntfy shows before the title.
pub(super) fn tags(notification: &Notification) -> &'static str {
    if notification.event == NotificationEvent::Test {
        return "test_tube";
    }
    match text::phase(notification.event) {
        Phase::Resolved => "white_check_mark",
        Phase::Acknowledged => "eyes",
        Phase::Firing => match notification.alert.severity {
            Severity::Critical => "rotating_light",
            Severity::Warning => "warning",
            Severity::Info => "information_source",
        },
    }
}

/// A header value: as is when printable ASCII, else `=?UTF-8?B?…?=`.
fn header_text(value: &str) -> String {
    if value.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        value.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

pub(super) async fn send(
    client: &reqwest::Client,
    config: &NtfyConfig,
    notification: &Notification,
) -> Result<Delivered, SendError> {
    let mut request = client
        .post(config.url.trim())
        .header("Title", header_text(&text::title(notification)))
        .header("Priority", priority(notification).to_string())
        .header("Tags", tags(notification))
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(text::plain_body(notification));
    if let Some(url) = &notification.dashboard_url {
        request = request.header("Click", header_text(url));
    }
    if let Some(token) = &config.token {
        request = request.bearer_auth(token.trim());
    }
    http::deliver(client, "ntfy", request).await
}
