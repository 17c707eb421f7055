//! The generic webhook: Alertmanager's webhook payload (`version: "4"`), so
//! that receivers written for Alertmanager take it as is, plus a top-level
//! `vigil` object (`event`, `alert_id`, `acknowledged_by`, ...). Sent with
//! `Idempotency-Key: <notification id>` and, with a secret,
//! `X-Vigil-Timestamp: <unix seconds>` and `X-Vigil-Signature:
//! sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use super::secret::SecretField;
use super::text::Phase;
use super::{check, http, text, Delivered, FieldError, Notification, SendError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to send (secret: URLs often hold a token).
    pub url: String,
    #[serde(default)]
    pub method: WebhookMethod,
    /// Extra request headers, e.g. `Authorization` (values secret).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The HMAC key of `X-Vigil-Signature` (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookMethod {
    #[default]
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
}

/// Headers Vigil sets itself; a configured one of these names is refused.
const RESERVED_HEADERS: [&str; 8] = [
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "idempotency-key",
    "x-vigil-signature",
    "x-vigil-timestamp",
];

impl WebhookConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        check::http_url("url", &self.url)?;
        for (name, value) in &self.headers {
            let field = check::field(&format!("headers.{name}"));
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(FieldError::new(field, "is not a valid header name"));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(FieldError::new(field, "is set by Vigil and cannot be configured"));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(FieldError::new(field, "is not a valid header value (printable ASCII, no line breaks)"));
            }
        }
        check::not_blank("secret", self.secret.as_ref())
    }

    pub(super) fn secrets_mut(&mut self) -> Vec<SecretField<'_>> {
        let mut fields = vec![SecretField::url("url", &mut self.url)];
        for (name, value) in self.headers.iter_mut() {
            fields.push(SecretField::plain(format!("headers.{name}"), value));
        }
        if let Some(secret) = self.secret.as_mut() {
            fields.push(SecretField::plain("secret", secret));
        }
        fields
    }
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Alertmanager's labels of the alert.
fn labels(notification: &Notification) -> serde_json::Value {
    let alert = &notification.alert;
    let mut labels = json!({
        "alertname": alert.rule_name,
        "severity": alert.severity.as_str(),
        "host": alert.host_name,
        "instance": text::instance(alert),
        "tenant": alert.tenant_id,
        "rule_id": alert.rule_id,
        "host_id": alert.host_id,
    });
    if let Some((what, name)) = text::instance_part(alert) {
        labels[what] = json!(name);
    }
    labels
}

pub(super) fn payload(notification: &Notification) -> serde_json::Value {
    let alert = &notification.alert;
    let status = match text::phase(notification.event) {
        Phase::Resolved => "resolved",
        Phase::Firing | Phase::Acknowledged => "firing",
    };
    let labels = labels(notification);
    let mut annotations = json!({"summary": text::headline(alert), "description": alert.message});
    if let Some(value) = &alert.value {
        annotations["value"] = json!(value);
    }
    let ends_at = match (status, alert.resolved_at) {
        ("resolved", Some(at)) => timestamp(at),
        _ => "0001-01-01T00:00:00Z".to_owned(),
    };
    let dashboard_url = notification.dashboard_url.clone().unwrap_or_default();
    let external_url = reqwest::Url::parse(&dashboard_url)
        .map(|url| url.origin().ascii_serialization())
        .ok()
        .filter(|origin| origin != "null")
        .unwrap_or_default();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{fingerprint=\"{}\"}}", alert.fingerprint),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "vigil",
        "groupLabels": {"alertname": alert.rule_name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": timestamp(alert.fired_at),
            "endsAt": ends_at,
            "generatorURL": dashboard_url,
            "fingerprint": alert.fingerprint,
        }],
        "vigil": {
            "event": notification.event.as_str(),
            "notification_id": notification.id,
            "alert_id": alert.id,
            "tenant_id": alert.tenant_id,
            "alert_status": alert.status.as_str(),
            "message": alert.message,
            "value": alert.value,
            "acknowledged_by": alert.acknowledged_by,
            "acknowledged_at": alert.acknowledged_at.map(timestamp),
            "resolved_at": alert.resolved_at.map(timestamp),
            "dashboard_url": notification.dashboard_url,
        },
    })
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(super) async fn send(
    client: &reqwest::Client,
    config: &WebhookConfig,
    notification: &Notification,
) -> Result<Delivered, SendError> {
    let body = serde_json::to_vec(&payload(notification)).expect("a webhook payload serializes");
    let url = config.url.trim();
    let mut request = match config.method {
        WebhookMethod::Post => client.post(url),
        WebhookMethod::Put => client.put(url),
    };
    for (name, value) in &config.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request = request.header(CONTENT_TYPE, "application/json").header("Idempotency-Key", notification.id.as_str());
    if let Some(secret) = &config.secret {
        let now = chrono::Utc::now().timestamp();
        request = request.header("X-Vigil-Timestamp", now.to_string()).header("X-Vigil-Signature", signature(secret, now, &body));
    }
    http::deliver(client, "webhook", request.body(body)).await
}
