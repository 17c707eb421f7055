//! Email over SMTP (lettre, rustls): one plain-text message per notification,
//! `[FIRING critical] <rule> on <host>` / `[RESOLVED] ...` subjects, and
//! threading headers so a mail client shows an alert's messages together: the
//! firing message's `Message-ID` is the alert's thread id
//! (`<alert.<alert id>@<from domain>>`), every later message of the alert has
//! its own id (from the notification id, so a retry repeats it) and refers to
//! the thread in `In-Reply-To` and `References`.
//!
//! TLS: `starttls` (default, port 587) upgrades and refuses a server that does
//! not offer STARTTLS; `tls` is implicit TLS (usually port 465); `none` is
//! plain text (a relay on the same machine). Certificates are checked against
//! the webpki roots plus `ca_pem`.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::secret::SecretField;
use super::{check, text, Delivered, FieldError, Notification, NotificationEvent, Retry, SendError, SMTP_TIMEOUT};

fn default_port() -> u16 {
    587
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server.
    pub host: String,
    /// Default 587 (submission with STARTTLS); implicit TLS is usually 465.
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: EmailTls,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// (secret)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The sender, `alerts@example.com` or `Vigil <alerts@example.com>`.
    pub from: String,
    /// At least one recipient.
    pub to: Vec<String>,
    /// An extra trusted root certificate (PEM), for a private mail server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS; a server without it is refused.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the same machine or network.
    None,
}

impl EmailConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        check::token("host", &self.host)?;
        if self.port == 0 {
            return Err(FieldError::new(check::field("port"), "must be a port number (1-65535)"));
        }
        match (&self.user, &self.password) {
            (Some(_), None) => return Err(FieldError::new(check::field("password"), "is required when a user is set")),
            (None, Some(_)) => return Err(FieldError::new(check::field("user"), "is required when a password is set")),
            _ => {}
        }
        check::not_blank("user", self.user.as_ref())?;
        check::mailbox("from", &self.from)?;
        if self.to.is_empty() {
            return Err(FieldError::new(check::field("to"), "needs at least one recipient"));
        }
        for (index, to) in self.to.iter().enumerate() {
            check::mailbox(&format!("to[{index}]"), to)?;
        }
        if let Some(pem) = &self.ca_pem {
            ca_certificates(pem).map_err(|message| FieldError::new(check::field("ca_pem"), message))?;
        }
        Ok(())
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        self.password.as_mut().map(|password| SecretField::plain("password", password)).into_iter().collect()
    }
}

/// The certificates of a PEM text: at least one, all well-formed.
fn ca_certificates(pem: &str) -> Result<usize, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("is not valid PEM ({error})"))?;
    if certificates.is_empty() {
        return Err("holds no certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(certificates.len())
}

/// A message id part: what a notification or alert id may hold, minus what
/// an RFC 5322 `msg-id` may not.
fn id_part(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// The thread every message of one alert belongs to.
pub(super) fn thread_id(notification: &Notification, domain: &str) -> String {
    format!("<alert.{}@{domain}>", id_part(&notification.alert.id))
}

/// The message, headers included.
pub(super) fn message(config: &EmailConfig, notification: &Notification) -> Result<Message, SendError> {
    let invalid = |error: &dyn std::fmt::Display| SendError::never("email", format!("could not build the message: {error}"));
    let from: Mailbox = config.from.trim().parse().map_err(|error| invalid(&error))?;
    let domain = from.email.domain().to_owned();
    let thread = thread_id(notification, &domain);
    let own_id = format!("<notification.{}@{domain}>", id_part(&notification.id));
    let mut builder = Message::builder().from(from).subject(text::title(notification));
    for to in &config.to {
        builder = builder.to(to.trim().parse().map_err(|error| invalid(&error))?);
    }
    builder = match notification.event {
        NotificationEvent::Firing => builder.message_id(Some(thread)),
        NotificationEvent::Test | NotificationEvent::Message => builder.message_id(Some(own_id)),
        NotificationEvent::Repeat | NotificationEvent::Acknowledged | NotificationEvent::Resolved => {
            builder.message_id(Some(own_id)).in_reply_to(thread.clone()).references(thread)
        }
    };
    let header = |name: &'static str, value: &str| HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned());
    builder
        .raw_header(header("Auto-Submitted", "auto-generated"))
        .raw_header(header("X-Vigil-Event", notification.event.as_str()))
        .raw_header(header("X-Vigil-Severity", notification.alert.severity.as_str()))
        .header(ContentType::TEXT_PLAIN)
        .body(text::plain_body(notification))
        .map_err(|error| invalid(&error))
}

fn transport(config: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let host = config.host.trim();
    let parameters = || {
        let mut builder = TlsParameters::builder(host.to_owned());
        if let Some(pem) = &config.ca_pem {
            let certificate = Certificate::from_pem(pem.as_bytes())
                .map_err(|error| SendError::never("email", format!("config.ca_pem: {error}")))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder.build_rustls().map_err(|error| SendError::never("email", format!("tls setup failed: {error}")))
    };
    let tls = match config.tls {
        EmailTls::None => Tls::None,
        EmailTls::Starttls => Tls::Required(parameters()?),
        EmailTls::Tls => Tls::Wrapper(parameters()?),
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(config.port).tls(tls).timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

pub(super) async fn send(config: &EmailConfig, notification: &Notification) -> Result<Delivered, SendError> {
    let message = message(config, notification)?;
    let transport = transport(config)?;
    match transport.send(message).await {
        Ok(response) => Ok(Delivered { status: Some(u16::from(response.code())) }),
        Err(error) => Err(classify(config, &error)),
    }
}

/// SMTP 5xx and client-side refusals (no STARTTLS offered, no common AUTH
/// mechanism) are permanent; 4xx, connection, TLS and timeouts are retried.
fn classify(config: &EmailConfig, error: &lettre::transport::smtp::Error) -> SendError {
    let status = error.status().map(u16::from);
    let retry = if error.is_permanent() || error.is_client() { Retry::Never } else { Retry::After(None) };
    let what = if error.is_timeout() {
        format!("no answer within {}s", SMTP_TIMEOUT.as_secs())
    } else if let Some(code) = status {
        // "permanent error (535): 5.7.8 authentication credentials invalid"
        let reply = error.to_string();
        let text = reply.split_once("): ").map(|(_, text)| text).unwrap_or_default();
        format!("the server answered {code} {text}").trim_end().to_owned()
    } else {
        super::http::cause(error)
    };
    SendError { status, retry, message: format!("email: {}:{} failed: {what}", config.host.trim(), config.port) }
}
