//! Telegram bots: `POST {api_url}/bot{token}/sendMessage` with `{chat_id,
//! text, parse_mode: "HTML", disable_web_page_preview}` (text escaped, at most
//! 4096 characters). A 429's `parameters.retry_after` counts as `Retry-After`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::secret::SecretField;
use super::{check, http, text, Delivered, FieldError, Notification, NotificationEvent, SendError};

pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather, `123456:ABC…` (secret).
    pub bot_token: String,
    /// A chat id (`-1001234567890`) or a channel's `@username`; a JSON number is taken too.
    #[serde(deserialize_with = "string_or_integer")]
    pub chat_id: String,
    /// The Bot API server (default `https://api.telegram.org`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
}

fn string_or_integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(i64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    })
}

impl TelegramConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        check::token("bot_token", &self.bot_token)?;
        check::required("chat_id", &self.chat_id)?;
        let chat = self.chat_id.trim();
        let numeric = chat.strip_prefix('-').unwrap_or(chat);
        let is_id = !numeric.is_empty() && numeric.chars().all(|c| c.is_ascii_digit());
        let is_username = chat
            .strip_prefix('@')
            .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !is_id && !is_username {
            return Err(FieldError::new(
                check::field("chat_id"),
                format!("{chat:?} is neither a chat id (-1001234567890) nor a channel's @username"),
            ));
        }
        check::http_url("api_url", &self.api_url).map(drop)
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        vec![SecretField::plain("bot_token", &mut self.bot_token)]
    }
}

/// The message in Telegram's HTML: a bold title, the message, the facts, a link.
pub(super) fn message(notification: &Notification) -> String {
    let alert = &notification.alert;
    let mut message = format!("<b>{}</b>\n", text::escape_html(&text::title(notification)));
    if notification.event == NotificationEvent::Test {
        message.push_str(&format!("<i>{}</i>\n", text::escape_html(text::TEST_NOTE)));
    }
    message.push_str(&text::escape_html(&text::truncate(&alert.message, 3000)));
    message.push_str("\n\n");
    for (name, value) in text::facts(notification) {
        message.push_str(&format!("<b>{name}:</b> {}\n", text::escape_html(&value)));
    }
    if let Some(url) = &notification.dashboard_url {
        message.push_str(&format!("\n<a href=\"{}\">Open in Vigil</a>", text::escape_html(url).replace('"', "&quot;")));
    }
    message
}

pub(super) fn payload(config: &TelegramConfig, notification: &Notification) -> serde_json::Value {
    json!({
        "chat_id": config.chat_id.trim(),
        "text": message(notification),
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
    })
}

pub(super) async fn send(
    client: &reqwest::Client,
    config: &TelegramConfig,
    notification: &Notification,
) -> Result<Delivered, SendError> {
    let url = format!("{}/bot{}/sendMessage", config.api_url.trim().trim_end_matches('/'), config.bot_token.trim());
    let request = client.post(url).json(&payload(config, notification));
    let mut reply = http::execute(client, "telegram", request).await?;
    if reply.retry_after.is_none() {
        reply.retry_after = retry_after_in_body(&reply.body);
    }
    http::classify("telegram", reply)
}

/// `{"ok": false, "parameters": {"retry_after": 35}}`.
fn retry_after_in_body(body: &str) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.pointer("/parameters/retry_after")?.as_u64().map(|seconds| Duration::from_secs(seconds).min(super::MAX_RETRY_AFTER))
}
