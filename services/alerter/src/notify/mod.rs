//! Notification channels: how an alert event is sent to each kind of receiver.
//!
//! A channel's settings are a [`ChannelConfig`] (`{"type": "slack", "config":
//! {...}}`, as stored in `notification_channels.config` and sent by the REST
//! API). [`Sender::send`] delivers one [`Notification`] (an outbox row: its id
//! is the idempotency key, stable across retries) and says whether a failure is
//! worth retrying ([`Retry`]). One module per channel renders the service's
//! documented format; `http` classifies HTTP answers, `secret` masks secrets,
//! `text` holds the wording every channel shares.
//!
//! **Invariants:** no error message carries a secret (no full URL, token,
//! password or header value: messages name the channel kind and the host);
//! [`ChannelConfig::redacted`] never shows more than the last 4 characters of a
//! secret, and [`ChannelConfig::keep_secrets`] gives a masked value sent back
//! by the dashboard its stored value again. Channel docs: `docs/alerting-channels.md`.

mod check;
mod discord;
mod email;
mod http;
mod ntfy;
mod pagerduty;
mod secret;
mod slack;
mod teams;
mod telegram;
mod text;
mod webhook;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use discord::DiscordConfig;
pub use email::{EmailConfig, EmailTls};
pub use ntfy::NtfyConfig;
pub use pagerduty::PagerDutyConfig;
pub use slack::SlackConfig;
pub use teams::TeamsConfig;
pub use telegram::TelegramConfig;
pub use webhook::{WebhookConfig, WebhookMethod};

use secret::SecretField;

/// A channel's settings as stored in `notification_channels.config` and sent
/// by the REST API: `{"type": "...", "config": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "config", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    Email(EmailConfig),
    Slack(SlackConfig),
    Pagerduty(PagerDutyConfig),
    Webhook(WebhookConfig),
    Discord(DiscordConfig),
    Teams(TeamsConfig),
    Telegram(TelegramConfig),
    Ntfy(NtfyConfig),
}

impl ChannelConfig {
    /// The `type` tag: `"email"`, `"slack"`, `"pagerduty"`, `"webhook"`,
    /// `"discord"`, `"teams"`, `"telegram"`, `"ntfy"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Email(_) => "email",
            ChannelConfig::Slack(_) => "slack",
            ChannelConfig::Pagerduty(_) => "pagerduty",
            ChannelConfig::Webhook(_) => "webhook",
            ChannelConfig::Discord(_) => "discord",
            ChannelConfig::Teams(_) => "teams",
            ChannelConfig::Telegram(_) => "telegram",
            ChannelConfig::Ntfy(_) => "ntfy",
        }
    }

    /// Checks what serde cannot: URLs parse and are http/https, addresses look
    /// like addresses, required fields are set, header names and values are
    /// valid. The error names the field as the JSON has it (`config.to[1]`).
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            ChannelConfig::Email(config) => config.validate(),
            ChannelConfig::Slack(config) => config.validate(),
            ChannelConfig::Pagerduty(config) => config.validate(),
            ChannelConfig::Webhook(config) => config.validate(),
            ChannelConfig::Discord(config) => config.validate(),
            ChannelConfig::Teams(config) => config.validate(),
            ChannelConfig::Telegram(config) => config.validate(),
            ChannelConfig::Ntfy(config) => config.validate(),
        }
    }

    /// The `{"type", "config"}` JSON with every secret masked: at most its
    /// last 4 characters stay (`"••••abcd"`; a secret shorter than 16
    /// characters is `"••••"`), and a secret URL keeps its `scheme://host`
    /// (`"https://hooks.slack.com/••••wxyz"`).
    pub fn redacted(&self) -> serde_json::Value {
        let mut copy = self.clone();
        for field in copy.secrets_mut() {
            *field.value = field.masked();
        }
        serde_json::to_value(&copy).expect("a channel config serializes to JSON")
    }

    /// After an update: a secret field whose value equals its mask (as
    /// [`Self::redacted`] prints it for `previous`) takes `previous`' value, so
    /// the dashboard can send back what it was shown. Only between channels of
    /// the same kind; a changed value is kept as sent.
    pub fn keep_secrets(&mut self, previous: &ChannelConfig) {
        if self.kind() != previous.kind() {
            return;
        }
        let mut previous = previous.clone();
        let stored: Vec<(String, String, String)> =
            previous.secrets_mut().into_iter().map(|field| (field.path.clone(), field.masked(), field.value.clone())).collect();
        for field in self.secrets_mut() {
            if let Some((_, _, value)) = stored.iter().find(|(path, masked, _)| *path == field.path && *masked == *field.value) {
                *field.value = value.clone();
            }
        }
    }

    /// Whether the channel has something to say when an alert is
    /// acknowledged: PagerDuty (an `acknowledge` event) and the webhook
    /// (`vigil.event = "acknowledged"`). Other channels are not sent
    /// [`NotificationEvent::Acknowledged`].
    pub fn supports_acknowledge(&self) -> bool {
        matches!(self, ChannelConfig::Pagerduty(_) | ChannelConfig::Webhook(_))
    }

    /// Every secret field, with its path under `config` and how it is masked.
    fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        match self {
            ChannelConfig::Email(config) => config.secrets_mut(),
            ChannelConfig::Slack(config) => config.secrets_mut(),
            ChannelConfig::Pagerduty(config) => config.secrets_mut(),
            ChannelConfig::Webhook(config) => config.secrets_mut(),
            ChannelConfig::Discord(config) => config.secrets_mut(),
            ChannelConfig::Teams(config) => config.secrets_mut(),
            ChannelConfig::Telegram(config) => config.secrets_mut(),
            ChannelConfig::Ntfy(config) => config.secrets_mut(),
        }
    }

    /// The secret values, longest first (to scrub them from messages).
    fn secret_values(&self) -> Vec<String> {
        let mut copy = self.clone();
        let mut values: Vec<String> = copy.secrets_mut().into_iter().map(|field| field.value.clone()).collect();
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        values
    }
}

/// A config field that is wrong: its path in the `{"type", "config"}` JSON
/// (`config.url`, `config.to[1]`, `config.headers.X-Token`) and why.
pub use vigil_runtime::errors::FieldError;

/// Why a notification is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    /// The alert fired.
    Firing,
    /// The alert is still firing (the rule's repeat interval passed).
    Repeat,
    Acknowledged,
    Resolved,
    /// A user asked for a test message; `alert` is a made-up one.
    Test,
    /// A plain message, not about an alert (a scenario's notify step,
    /// `channels.notify`): `alert` carries it (see [`Notification::message`]).
    Message,
}

impl NotificationEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::Firing => "firing",
            NotificationEvent::Repeat => "repeat",
            NotificationEvent::Acknowledged => "acknowledged",
            NotificationEvent::Resolved => "resolved",
            NotificationEvent::Test => "test",
            NotificationEvent::Message => "message",
        }
    }
}

/// One message to one channel: a row of the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Notification {
    /// The outbox id: the idempotency key, stable across retries.
    pub id: String,
    pub event: NotificationEvent,
    pub alert: vigil_bus::messages::Alert,
    /// A link to the alert, when the server knows its public URL.
    pub dashboard_url: Option<String>,
}

/// The title of a plain message: every channel shows it where an alert's
/// headline goes (`Vigil scenario on web-1` when the message names a host).
pub const MESSAGE_TITLE: &str = "Vigil scenario";

impl Notification {
    /// A plain message (`channels.notify`) as the channels render it: a
    /// made-up alert whose rule name is [`MESSAGE_TITLE`], whose message is
    /// `message`, on `host` (`(id, name)`) when given, severity info; `id`
    /// stands for the alert, its fingerprint and the notification.
    pub fn message(
        id: &str,
        tenant_id: &str,
        host: Option<(&str, &str)>,
        message: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Notification {
        let (host_id, host_name) = host.unwrap_or(("", ""));
        let alert = vigil_bus::messages::Alert {
            id: id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            host_id: host_id.to_owned(),
            host_name: host_name.to_owned(),
            rule_id: String::new(),
            rule_name: MESSAGE_TITLE.to_owned(),
            severity: vigil_bus::messages::Severity::Info,
            status: vigil_bus::messages::AlertStatus::Firing,
            mount: None,
            container_name: None,
            service_name: None,
            message: message.to_owned(),
            value: None,
            fingerprint: id.to_owned(),
            silenced: false,
            fired_at: at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
        };
        Notification { id: id.to_owned(), event: NotificationEvent::Message, alert, dashboard_url: None }
    }
}

/// Sends notifications. Cheap to clone: one HTTP client (10 s timeout,
/// rustls, no redirects) shared by every HTTP channel; email opens one SMTP
/// connection per message.
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
}

/// How long one HTTP delivery may take, connection included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one SMTP step (connect, a command, the data) may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

impl Sender {
    pub fn new() -> Sender {
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT / 2)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vigil-alerter/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the notification HTTP client builds (rustls with built-in roots, no system configuration)");
        Sender { client }
    }

    /// Delivers `notification` through `channel` once. A config that does not
    /// [validate](ChannelConfig::validate) fails with [`Retry::Never`].
    pub async fn send(&self, channel: &ChannelConfig, notification: &Notification) -> Result<Delivered, SendError> {
        if let Err(error) = channel.validate() {
            return Err(SendError::never(channel.kind(), format!("invalid config: {error}")));
        }
        let client = &self.client;
        let result = match channel {
            ChannelConfig::Email(config) => email::send(config, notification).await,
            ChannelConfig::Slack(config) => slack::send(client, config, notification).await,
            ChannelConfig::Pagerduty(config) => pagerduty::send(client, config, notification).await,
            ChannelConfig::Webhook(config) => webhook::send(client, config, notification).await,
            ChannelConfig::Discord(config) => discord::send(client, config, notification).await,
            ChannelConfig::Teams(config) => teams::send(client, config, notification).await,
            ChannelConfig::Telegram(config) => telegram::send(client, config, notification).await,
            ChannelConfig::Ntfy(config) => ntfy::send(client, config, notification).await,
        };
        result.map_err(|error| error.scrubbed(&channel.secret_values()))
    }
}

impl Default for Sender {
    fn default() -> Sender {
        Sender::new()
    }
}

/// The receiver took the notification.
#[derive(Debug)]
pub struct Delivered {
    /// The HTTP status, or the SMTP reply code to the message data.
    pub status: Option<u16>,
}

/// The notification was not delivered.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The HTTP status or SMTP reply code, when the receiver answered.
    pub status: Option<u16>,
    pub retry: Retry,
    /// Lowercase; names the channel kind and what failed; never a secret.
    pub message: String,
}

impl SendError {
    fn never(kind: &str, message: impl std::fmt::Display) -> SendError {
        SendError { status: None, retry: Retry::Never, message: format!("{kind}: {message}") }
    }

    /// Replaces any secret that slipped into the message (an echoed body) by its mask.
    fn scrubbed(mut self, secrets: &[String]) -> SendError {
        self.message = secret::scrub(&self.message, secrets);
        self
    }
}

/// Whether a failed delivery is worth another try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The receiver refused it (4xx, SMTP 5xx, a bad config): the same
    /// notification would fail again.
    Never,
    /// A transient failure (connection, timeout, 5xx, 429, SMTP 4xx); `Some`
    /// is the receiver's `Retry-After` (at most [`MAX_RETRY_AFTER`]).
    After(Option<Duration>),
}

#[cfg(test)]
mod tests;
