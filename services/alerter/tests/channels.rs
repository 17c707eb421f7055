//! Every notification channel against a real receiver on 127.0.0.1 (the
//! testkit's HTTP and SMTP servers): what each sends on firing, acknowledged
//! and resolved, in its service's documented format, and how failures are
//! classified for retry.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use vigil_alerter::notify::{
    ChannelConfig, DiscordConfig, EmailConfig, EmailTls, Notification, NotificationEvent, NtfyConfig, PagerDutyConfig, Retry,
    SendError, Sender, SlackConfig, TeamsConfig, TelegramConfig, WebhookConfig, WebhookMethod,
};
use vigil_bus::messages::{Alert, AlertStatus, Severity};
use vigil_testkit::receivers::{HttpReceiver, Mail, Recorded, ScriptedResponse, SmtpReceiver};

const WAIT: Duration = Duration::from_secs(10);
const DASHBOARD: &str = "https://vigil.example.com/alerts/al_01";

fn alert() -> Alert {
    Alert {
        id: "al_01".to_owned(),
        tenant_id: "acme".to_owned(),
        host_id: "h_web1".to_owned(),
        host_name: "web-1".to_owned(),
        rule_id: "r_disk".to_owned(),
        rule_name: "Disk almost full".to_owned(),
        severity: Severity::Critical,
        status: AlertStatus::Firing,
        mount: Some("/data".to_owned()),
        container_name: None,
        service_name: None,
        message: "Disk /data is 93% full & rising (> 90%)".to_owned(),
        value: Some("93.1".to_owned()),
        fingerprint: "fp_3f2a9c".to_owned(),
        silenced: false,
        fired_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
    }
}

/// The alert as it is when `event` is sent; the notification id names the event.
fn notification(event: NotificationEvent) -> Notification {
    let mut alert = alert();
    match event {
        NotificationEvent::Acknowledged => {
            alert.status = AlertStatus::Acknowledged;
            alert.acknowledged_at = Some(Utc.with_ymd_and_hms(2024, 5, 1, 12, 5, 0).unwrap());
            alert.acknowledged_by = Some("alice".to_owned());
        }
        NotificationEvent::Resolved => {
            alert.status = AlertStatus::Resolved;
            alert.resolved_at = Some(Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 0).unwrap());
        }
        _ => {}
    }
    Notification {
        id: format!("ntf_{}", serde_json::to_value(event).unwrap().as_str().unwrap()),
        event,
        alert,
        dashboard_url: Some(DASHBOARD.to_owned()),
    }
}

async fn send(channel: &ChannelConfig, event: NotificationEvent) -> Result<Option<u16>, SendError> {
    Sender::new().send(channel, &notification(event)).await.map(|delivered| delivered.status)
}

/// Sends firing then resolved and returns the two requests the receiver got.
async fn firing_and_resolved(receiver: &HttpReceiver, channel: &ChannelConfig) -> (Recorded, Recorded) {
    send(channel, NotificationEvent::Firing).await.expect("firing delivered");
    send(channel, NotificationEvent::Resolved).await.expect("resolved delivered");
    let requests = receiver.wait_for(2, WAIT).await;
    (requests[0].clone(), requests[1].clone())
}

fn assert_json_post(request: &Recorded, path: &str) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path_and_query, path);
    assert_eq!(request.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn slack_gets_text_and_a_coloured_attachment() {
    let receiver = HttpReceiver::start(vec![ScriptedResponse::status(200).body("ok")]).await;
    let channel = ChannelConfig::Slack(SlackConfig {
        url: format!("{}/services/T000/B000/XXXXsecret", receiver.url()),
        channel: Some("#ops".to_owned()),
        username: Some("Vigil".to_owned()),
    });
    let (firing, resolved) = firing_and_resolved(&receiver, &channel).await;
    assert_json_post(&firing, "/services/T000/B000/XXXXsecret");
    let body = firing.json();
    assert_eq!(body["text"], "[FIRING critical] Disk almost full on web-1 (mount /data)");
    assert_eq!((body["channel"].as_str(), body["username"].as_str()), (Some("#ops"), Some("Vigil")));
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["color"], "#E01E5A");
    assert_eq!(attachment["title"], "Disk almost full on web-1 (mount /data)");
    assert_eq!(attachment["title_link"], DASHBOARD);
    assert_eq!(attachment["text"], "Disk /data is 93% full &amp; rising (&gt; 90%)", "escaped as Slack asks");
    assert!(attachment["fields"].as_array().unwrap().contains(&json!({"title": "Value", "value": "93.1", "short": true})));
    assert_eq!(attachment["ts"], 1_714_564_800);
    let body = resolved.json();
    assert_eq!(body["text"], "[RESOLVED] Disk almost full on web-1 (mount /data)");
    assert_eq!(body["attachments"][0]["color"], "#2EB67D");
    assert!(body["attachments"][0]["fields"].as_array().unwrap().iter().any(|f| f["title"] == "Resolved"));
}

#[tokio::test]
async fn pagerduty_triggers_acknowledges_and_resolves_one_dedup_key() {
    let accepted = || ScriptedResponse::status(202).body(r#"{"status":"success","message":"Event processed"}"#);
    let receiver = HttpReceiver::start(vec![accepted(), accepted(), accepted(), accepted()]).await;
    let channel = ChannelConfig::Pagerduty(PagerDutyConfig {
        routing_key: "R0UTINGKEY0123456789abcdefghijkl".to_owned(),
        url: format!("{}/v2/enqueue", receiver.url()),
    });
    assert_eq!(send(&channel, NotificationEvent::Firing).await.unwrap(), Some(202));
    send(&channel, NotificationEvent::Acknowledged).await.unwrap();
    send(&channel, NotificationEvent::Resolved).await.unwrap();
    send(&channel, NotificationEvent::Test).await.unwrap();
    let requests = receiver.wait_for(4, WAIT).await;
    assert_json_post(&requests[0], "/v2/enqueue");
    let trigger = requests[0].json();
    assert_eq!(trigger["routing_key"], "R0UTINGKEY0123456789abcdefghijkl");
    assert_eq!((trigger["event_action"].as_str(), trigger["dedup_key"].as_str()), (Some("trigger"), Some("fp_3f2a9c")));
    let payload = &trigger["payload"];
    assert_eq!(payload["summary"], "Disk almost full on web-1 (mount /data): Disk /data is 93% full & rising (> 90%)");
    assert_eq!(payload["source"], "web-1");
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["timestamp"], "2024-05-01T12:00:00+00:00");
    assert_eq!((payload["component"].as_str(), payload["group"].as_str()), (Some("/data"), Some("acme")));
    assert_eq!(payload["custom_details"]["value"], "93.1");
    assert_eq!(payload["custom_details"]["alert_id"], "al_01");
    assert_eq!(trigger["links"], json!([{"href": DASHBOARD, "text": "Open in Vigil"}]));
    for (request, action) in [(&requests[1], "acknowledge"), (&requests[2], "resolve")] {
        let event = request.json();
        assert_eq!(
            event,
            json!({"routing_key": "R0UTINGKEY0123456789abcdefghijkl", "event_action": action, "dedup_key": "fp_3f2a9c"}),
            "no payload but on trigger"
        );
    }
    let test = requests[3].json();
    assert_eq!((test["event_action"].as_str(), test["dedup_key"].as_str()), (Some("trigger"), Some("vigil-test-ntf_test")));
    assert!(test["payload"]["summary"].as_str().unwrap().starts_with("[TEST] "));
}

#[tokio::test]
async fn pagerduty_summary_is_at_most_1024_characters() {
    let receiver = HttpReceiver::start(vec![]).await;
    let channel = ChannelConfig::Pagerduty(PagerDutyConfig { routing_key: "key".to_owned(), url: receiver.url() });
    let mut long = notification(NotificationEvent::Firing);
    long.alert.message = "é".repeat(5000);
    Sender::new().send(&channel, &long).await.unwrap();
    let summary = receiver.wait_for(1, WAIT).await[0].json()["payload"]["summary"].as_str().unwrap().to_owned();
    assert_eq!(summary.chars().count(), 1024);
    assert!(summary.ends_with('…'));
}

fn verify_signature(secret: &str, request: &Recorded) {
    let timestamp = request.header("x-vigil-timestamp").expect("X-Vigil-Timestamp");
    let signature = request.header("x-vigil-signature").expect("X-Vigil-Signature");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    mac.verify_slice(&hex::decode(hex).unwrap()).expect("the signature verifies with the secret");
    let age = Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "a fresh timestamp: {age}s");
}

#[tokio::test]
async fn webhook_sends_alertmanager_json_signed_with_the_secret() {
    let receiver = HttpReceiver::start(vec![]).await;
    let secret = "whsec_0123456789abcdef";
    let channel = ChannelConfig::Webhook(WebhookConfig {
        url: format!("{}/hooks/vigil?token=abc", receiver.url()),
        method: WebhookMethod::Post,
        headers: BTreeMap::from([("Authorization".to_owned(), "Bearer hook-token".to_owned())]),
        secret: Some(secret.to_owned()),
    });
    send(&channel, NotificationEvent::Firing).await.unwrap();
    send(&channel, NotificationEvent::Acknowledged).await.unwrap();
    send(&channel, NotificationEvent::Resolved).await.unwrap();
    let requests = receiver.wait_for(3, WAIT).await;
    for request in &requests {
        assert_json_post(request, "/hooks/vigil?token=abc");
        assert_eq!(request.header("authorization"), Some("Bearer hook-token"));
        verify_signature(secret, request);
    }
    assert_eq!(requests[0].header("idempotency-key"), Some("ntf_firing"));
    let firing = requests[0].json();
    assert_eq!((firing["version"].as_str(), firing["status"].as_str()), (Some("4"), Some("firing")));
    assert_eq!(firing["receiver"], "vigil");
    assert_eq!(firing["externalURL"], "https://vigil.example.com");
    assert_eq!(firing["groupLabels"], json!({"alertname": "Disk almost full"}));
    let labels = json!({
        "alertname": "Disk almost full", "severity": "critical", "host": "web-1", "instance": "web-1:/data",
        "mount": "/data", "tenant": "acme", "rule_id": "r_disk", "host_id": "h_web1",
    });
    assert_eq!(firing["commonLabels"], labels);
    let first = &firing["alerts"][0];
    assert_eq!(first["labels"], labels);
    assert_eq!(first["annotations"]["summary"], "Disk almost full on web-1 (mount /data)");
    assert_eq!(first["annotations"]["description"], "Disk /data is 93% full & rising (> 90%)");
    assert_eq!(
        (first["startsAt"].as_str(), first["endsAt"].as_str()),
        (Some("2024-05-01T12:00:00Z"), Some("0001-01-01T00:00:00Z"))
    );
    assert_eq!((first["generatorURL"].as_str(), first["fingerprint"].as_str()), (Some(DASHBOARD), Some("fp_3f2a9c")));
    assert_eq!(firing["vigil"]["event"], "firing");
    assert_eq!(firing["vigil"]["alert_id"], "al_01");
    let acknowledged = requests[1].json();
    assert_eq!(acknowledged["status"], "firing", "Alertmanager has no acknowledged state");
    assert_eq!(acknowledged["vigil"]["event"], "acknowledged");
    assert_eq!(acknowledged["vigil"]["acknowledged_by"], "alice");
    let resolved = requests[2].json();
    assert_eq!((resolved["status"].as_str(), resolved["alerts"][0]["status"].as_str()), (Some("resolved"), Some("resolved")));
    assert_eq!(resolved["alerts"][0]["endsAt"], "2024-05-01T12:30:00Z");
    assert_eq!(resolved["vigil"]["event"], "resolved");
}

#[tokio::test]
async fn webhook_put_without_secret_is_not_signed() {
    let receiver = HttpReceiver::start(vec![]).await;
    let channel = ChannelConfig::Webhook(WebhookConfig {
        url: receiver.url(),
        method: WebhookMethod::Put,
        headers: BTreeMap::new(),
        secret: None,
    });
    send(&channel, NotificationEvent::Test).await.unwrap();
    let request = &receiver.wait_for(1, WAIT).await[0];
    assert_eq!((request.method.as_str(), request.path_and_query.as_str()), ("PUT", "/"));
    assert_eq!((request.header("x-vigil-signature"), request.header("x-vigil-timestamp")), (None, None));
    assert_eq!(request.json()["vigil"]["event"], "test");
}

#[tokio::test]
async fn discord_gets_an_embed_and_204_is_success() {
    let receiver = HttpReceiver::start_then(vec![], ScriptedResponse::status(204)).await;
    let channel = ChannelConfig::Discord(DiscordConfig { url: format!("{}/api/webhooks/123/tok3n", receiver.url()) });
    assert_eq!(send(&channel, NotificationEvent::Firing).await.unwrap(), Some(204));
    send(&channel, NotificationEvent::Resolved).await.unwrap();
    let requests = receiver.wait_for(2, WAIT).await;
    assert_json_post(&requests[0], "/api/webhooks/123/tok3n");
    let firing = requests[0].json();
    assert_eq!(firing["content"], "[FIRING critical] Disk almost full on web-1 (mount /data)");
    assert_eq!(firing["allowed_mentions"], json!({"parse": []}));
    let embed = &firing["embeds"][0];
    assert_eq!(embed["title"], "Disk almost full on web-1 (mount /data)");
    assert_eq!(embed["description"], "Disk /data is 93% full & rising (> 90%)");
    assert_eq!((embed["color"].as_u64(), embed["url"].as_str()), (Some(0xE01E5A), Some(DASHBOARD)));
    assert_eq!(embed["timestamp"], "2024-05-01T12:00:00+00:00");
    assert!(embed["fields"].as_array().unwrap().contains(&json!({"name": "Host", "value": "web-1", "inline": true})));
    let resolved = requests[1].json();
    assert_eq!(resolved["embeds"][0]["color"], 0x2EB67D);
    assert_eq!(resolved["embeds"][0]["timestamp"], "2024-05-01T12:30:00+00:00");
}

#[tokio::test]
async fn teams_gets_an_adaptive_card() {
    let receiver = HttpReceiver::start_then(vec![], ScriptedResponse::status(202)).await;
    let channel = ChannelConfig::Teams(TeamsConfig {
        url: format!("{}/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t", receiver.url()),
    });
    let (firing, resolved) = firing_and_resolved(&receiver, &channel).await;
    assert_json_post(&firing, "/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t");
    let message = firing.json();
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(attachment["contentUrl"].is_null());
    let card = &attachment["content"];
    assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
    assert_eq!((card["type"].as_str(), card["version"].as_str()), (Some("AdaptiveCard"), Some("1.4")));
    let body = card["body"].as_array().unwrap();
    assert_eq!(body[0]["type"], "TextBlock");
    assert_eq!(body[0]["text"], "[FIRING critical] Disk almost full on web-1 (mount /data)");
    assert_eq!(body[0]["color"], "Attention");
    assert_eq!(body[1]["text"], "Disk /data is 93% full & rising (> 90%)");
    let facts = body.iter().find(|block| block["type"] == "FactSet").expect("a fact set");
    assert!(facts["facts"].as_array().unwrap().contains(&json!({"title": "Mount", "value": "/data"})));
    assert_eq!(card["actions"], json!([{"type": "Action.OpenUrl", "title": "Open in Vigil", "url": DASHBOARD}]));
    let card = &resolved.json()["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "[RESOLVED] Disk almost full on web-1 (mount /data)");
    assert_eq!(card["body"][0]["color"], "Good");
}

#[tokio::test]
async fn telegram_posts_html_to_the_bot_path() {
    let receiver = HttpReceiver::start(vec![]).await;
    let token = "123456789:AAExampleBotTokenSecret";
    let channel = ChannelConfig::Telegram(TelegramConfig {
        bot_token: token.to_owned(),
        chat_id: "-1001234567890".to_owned(),
        api_url: receiver.url(),
    });
    let (firing, resolved) = firing_and_resolved(&receiver, &channel).await;
    assert_json_post(&firing, &format!("/bot{token}/sendMessage"));
    let body = firing.json();
    assert_eq!(body["chat_id"], "-1001234567890");
    assert_eq!((body["parse_mode"].as_str(), body["disable_web_page_preview"].as_bool()), (Some("HTML"), Some(true)));
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("<b>[FIRING critical] Disk almost full on web-1 (mount /data)</b>\n"), "{text}");
    assert!(text.contains("Disk /data is 93% full &amp; rising (&gt; 90%)"), "{text}");
    assert!(text.contains("<b>Value:</b> 93.1"), "{text}");
    assert!(text.contains(&format!("<a href=\"{DASHBOARD}\">Open in Vigil</a>")), "{text}");
    assert!(resolved.json()["text"].as_str().unwrap().starts_with("<b>[RESOLVED] "));
}

#[tokio::test]
async fn telegram_flood_control_is_retried_after_its_retry_after() {
    let flood =
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#;
    let receiver = HttpReceiver::start(vec![ScriptedResponse::status(429).body(flood)]).await;
    let channel = ChannelConfig::Telegram(TelegramConfig {
        bot_token: "123456789:AAExampleBotTokenSecret".to_owned(),
        chat_id: "@vigil_alerts".to_owned(),
        api_url: receiver.url(),
    });
    let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
    assert_eq!((error.status, error.retry), (Some(429), Retry::After(Some(Duration::from_secs(35)))));
    assert!(error.message.starts_with("telegram: 127.0.0.1:"), "{}", error.message);
    assert!(!error.message.contains("AAExampleBotTokenSecret"), "{}", error.message);
}

#[tokio::test]
async fn ntfy_gets_the_message_and_its_headers() {
    let receiver = HttpReceiver::start(vec![]).await;
    let channel = ChannelConfig::Ntfy(NtfyConfig {
        url: format!("{}/vigil-alerts", receiver.url()),
        token: Some("tk_0123456789abcdefghij".to_owned()),
    });
    let (firing, resolved) = firing_and_resolved(&receiver, &channel).await;
    assert_eq!((firing.method.as_str(), firing.path_and_query.as_str()), ("POST", "/vigil-alerts"));
    assert_eq!(firing.header("title"), Some("[FIRING critical] Disk almost full on web-1 (mount /data)"));
    assert_eq!((firing.header("priority"), firing.header("tags")), (Some("5"), Some("rotating_light")));
    assert_eq!(firing.header("authorization"), Some("Bearer tk_0123456789abcdefghij"));
    assert_eq!(firing.header("click"), Some(DASHBOARD));
    let text = firing.text();
    assert!(text.starts_with("Disk /data is 93% full & rising (> 90%)\n"), "{text}");
    assert!(text.contains("Value: 93.1\n") && text.contains("Mount: /data\n"), "{text}");
    assert_eq!((resolved.header("priority"), resolved.header("tags")), (Some("2"), Some("white_check_mark")));
    assert!(resolved.header("title").unwrap().starts_with("[RESOLVED] "));
}

#[tokio::test]
async fn ntfy_priority_follows_severity_and_a_unicode_title_is_encoded() {
    let receiver = HttpReceiver::start(vec![]).await;
    let channel = ChannelConfig::Ntfy(NtfyConfig { url: format!("{}/t", receiver.url()), token: None });
    for (severity, host) in [(Severity::Warning, "web-1"), (Severity::Info, "wéb-2")] {
        let mut notification = notification(NotificationEvent::Firing);
        notification.alert.severity = severity;
        notification.alert.host_name = host.to_owned();
        Sender::new().send(&channel, &notification).await.unwrap();
    }
    let requests = receiver.wait_for(2, WAIT).await;
    assert_eq!((requests[0].header("priority"), requests[0].header("tags")), (Some("4"), Some("warning")));
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[1].header("priority"), Some("3"));
    let title = requests[1].header("title").unwrap();
    assert!(title.starts_with("=?UTF-8?B?") && title.ends_with("?="), "RFC 2047: {title}");
}

fn email_channel(receiver: &SmtpReceiver, tls: EmailTls) -> EmailConfig {
    EmailConfig {
        host: receiver.host(),
        port: receiver.port(),
        tls,
        user: None,
        password: None,
        from: "Vigil <alerts@example.com>".to_owned(),
        to: vec!["ops@example.com".to_owned(), "Oncall <oncall@example.org>".to_owned()],
        ca_pem: None,
    }
}

#[tokio::test]
async fn email_over_plain_smtp_with_auth_threads_fire_and_resolve() {
    let receiver = SmtpReceiver::builder().auth("alerts", "smtp-password-1").start().await;
    let channel = ChannelConfig::Email(EmailConfig {
        user: Some("alerts".to_owned()),
        password: Some("smtp-password-1".to_owned()),
        ..email_channel(&receiver, EmailTls::None)
    });
    assert_eq!(send(&channel, NotificationEvent::Firing).await.unwrap(), Some(250));
    send(&channel, NotificationEvent::Resolved).await.unwrap();
    let mails: Vec<Mail> = receiver.wait_for(2, WAIT).await;
    let (firing, resolved) = (&mails[0], &mails[1]);
    assert_eq!(firing.from, "alerts@example.com");
    assert_eq!(firing.to, vec!["ops@example.com", "oncall@example.org"]);
    assert_eq!((firing.auth_user.as_deref(), firing.tls), (Some("alerts"), false));
    assert_eq!(firing.header("subject").as_deref(), Some("[FIRING critical] Disk almost full on web-1 (mount /data)"));
    assert_eq!(firing.header("from").as_deref(), Some("Vigil <alerts@example.com>"));
    assert_eq!(firing.header("message-id").as_deref(), Some("<alert.al_01@example.com>"));
    assert_eq!(firing.header("in-reply-to"), None);
    assert_eq!(firing.header("auto-submitted").as_deref(), Some("auto-generated"));
    let body = firing.body();
    for line in [
        "Disk /data is 93% full & rising (> 90%)",
        "Host: web-1",
        "Mount: /data",
        "Value: 93.1",
        "Fired: 2024-05-01 12:00:00 UTC",
        &format!("Open in Vigil: {DASHBOARD}"),
    ] {
        assert!(body.contains(line), "{line:?} in {body}");
    }
    assert_eq!(resolved.header("subject").as_deref(), Some("[RESOLVED] Disk almost full on web-1 (mount /data)"));
    assert_eq!(resolved.header("message-id").as_deref(), Some("<notification.ntf_resolved@example.com>"));
    assert_eq!(resolved.header("in-reply-to").as_deref(), Some("<alert.al_01@example.com>"));
    assert_eq!(resolved.header("references").as_deref(), Some("<alert.al_01@example.com>"));
    assert!(resolved.body().contains("Resolved: 2024-05-01 12:30:00 UTC"), "{}", resolved.body());
}

#[tokio::test]
async fn email_with_a_wrong_password_is_not_retried() {
    let receiver = SmtpReceiver::builder().auth("alerts", "smtp-password-1").start().await;
    let channel = ChannelConfig::Email(EmailConfig {
        user: Some("alerts".to_owned()),
        password: Some("not-the-password".to_owned()),
        ..email_channel(&receiver, EmailTls::None)
    });
    let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
    assert_eq!((error.status, error.retry), (Some(535), Retry::Never), "{}", error.message);
    assert!(error.message.starts_with("email: 127.0.0.1:"), "{}", error.message);
    assert!(!error.message.contains("not-the-password"), "{}", error.message);
}

#[tokio::test]
async fn email_smtp_4xx_is_retried_and_5xx_is_not() {
    for (code, retry) in [(451, Retry::After(None)), (550, Retry::Never)] {
        let receiver = SmtpReceiver::builder().reply_to_mail(code, "scripted refusal").start().await;
        let channel = ChannelConfig::Email(email_channel(&receiver, EmailTls::None));
        let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
        assert_eq!((error.status, error.retry), (Some(code), retry), "{}", error.message);
    }
}

#[tokio::test]
async fn email_over_starttls_trusts_ca_pem() {
    let receiver = SmtpReceiver::builder().starttls().auth("alerts", "smtp-password-1").start().await;
    let channel = ChannelConfig::Email(EmailConfig {
        user: Some("alerts".to_owned()),
        password: Some("smtp-password-1".to_owned()),
        ca_pem: Some(receiver.ca_pem().to_owned()),
        ..email_channel(&receiver, EmailTls::Starttls)
    });
    send(&channel, NotificationEvent::Test).await.expect("test mail over STARTTLS");
    let mail = &receiver.wait_for(1, WAIT).await[0];
    assert_eq!((mail.tls, mail.auth_user.as_deref()), (true, Some("alerts")));
    assert_eq!(mail.header("subject").as_deref(), Some("[TEST] Disk almost full on web-1 (mount /data)"));
    assert!(mail.body().starts_with("This is a test notification from Vigil"), "{}", mail.body());
}

#[tokio::test]
async fn email_starttls_refuses_an_unknown_certificate_and_a_server_without_starttls() {
    let tls_receiver = SmtpReceiver::start_starttls().await;
    let channel = ChannelConfig::Email(email_channel(&tls_receiver, EmailTls::Starttls));
    let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
    assert!(error.message.contains("email: 127.0.0.1:"), "{}", error.message);
    assert!(tls_receiver.mails().is_empty());

    let plain_receiver = SmtpReceiver::start().await;
    let channel = ChannelConfig::Email(email_channel(&plain_receiver, EmailTls::Starttls));
    let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
    assert_eq!(error.retry, Retry::Never, "{}", error.message);
    assert!(plain_receiver.mails().is_empty(), "nothing is sent in clear when starttls is asked for");
}

#[tokio::test]
async fn email_connection_refused_is_retried() {
    let port = vigil_testkit::free_port();
    let channel = ChannelConfig::Email(EmailConfig {
        host: "127.0.0.1".to_owned(),
        port,
        tls: EmailTls::None,
        user: None,
        password: None,
        from: "alerts@example.com".to_owned(),
        to: vec!["ops@example.com".to_owned()],
        ca_pem: None,
    });
    let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
    assert_eq!((error.status, error.retry), (None, Retry::After(None)), "{}", error.message);
}

fn webhook_to(url: String) -> ChannelConfig {
    ChannelConfig::Webhook(WebhookConfig { url, method: WebhookMethod::Post, headers: BTreeMap::new(), secret: None })
}

#[tokio::test]
async fn http_failures_are_classified_for_retry() {
    let receiver = HttpReceiver::start(vec![
        ScriptedResponse::status(500).body("upstream broke"),
        ScriptedResponse::status(429).header("Retry-After", "2"),
        ScriptedResponse::status(404).body("no such hook"),
        ScriptedResponse::status(503).header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ])
    .await;
    let channel = webhook_to(format!("{}/hook/SECRETPATH0123456789", receiver.url()));
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
        assert!(!error.message.contains("SECRETPATH"), "no secret URL in {}", error.message);
        outcomes.push((error.status, error.retry));
    }
    assert_eq!(
        outcomes,
        vec![
            (Some(500), Retry::After(None)),
            (Some(429), Retry::After(Some(Duration::from_secs(2)))),
            (Some(404), Retry::Never),
            (Some(503), Retry::After(Some(Duration::ZERO))),
        ]
    );
    assert_eq!(send(&channel, NotificationEvent::Firing).await.unwrap(), Some(200), "then the default answer");
}

#[tokio::test]
async fn a_500_names_the_channel_and_host_but_no_secret() {
    let receiver =
        HttpReceiver::start(vec![ScriptedResponse::status(500).body("bad hook /services/T000/B000/XXXXsecretpath")]).await;
    let channel = ChannelConfig::Slack(SlackConfig {
        url: format!("{}/services/T000/B000/XXXXsecretpath", receiver.url()),
        channel: None,
        username: None,
    });
    let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
    let host = receiver.url().trim_start_matches("http://").to_owned();
    assert_eq!(error.message, format!("slack: {host} answered 500 Internal Server Error: bad hook /••••path"));
}

#[tokio::test]
async fn connection_refused_is_retried_without_the_url() {
    let port = vigil_testkit::free_port();
    let token = "123456789:AAExampleBotTokenSecret";
    let channels = [
        webhook_to(format!("http://127.0.0.1:{port}/hook/SECRETPATH0123456789")),
        ChannelConfig::Telegram(TelegramConfig {
            bot_token: token.to_owned(),
            chat_id: "42".to_owned(),
            api_url: format!("http://127.0.0.1:{port}"),
        }),
    ];
    for channel in &channels {
        let error = send(channel, NotificationEvent::Firing).await.unwrap_err();
        assert_eq!((error.status, error.retry), (None, Retry::After(None)), "{}", error.message);
        assert!(error.message.contains(&format!("could not connect to 127.0.0.1:{port}")), "{}", error.message);
        assert!(!error.message.contains("SECRETPATH") && !error.message.contains(token), "{}", error.message);
    }
}

#[tokio::test]
async fn an_invalid_config_is_never_sent() {
    let channel = webhook_to("ftp://example.com/hook".to_owned());
    let error = send(&channel, NotificationEvent::Firing).await.unwrap_err();
    assert_eq!(error.retry, Retry::Never);
    assert_eq!(error.message, "webhook: invalid config: config.url: must be an http or https URL, not ftp");
}

#[tokio::test]
async fn a_plain_message_is_titled_vigil_scenario_with_its_host_and_no_rule() {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let with_host = Notification::message("ntf_msg", "acme", Some(("h_web1", "web-1")), "PHP-FPM restarted on web-1", at);
    let without_host = Notification::message("ntf_bare", "acme", None, "nightly cleanup done", at);

    let receiver = HttpReceiver::start(vec![]).await;
    let slack = ChannelConfig::Slack(SlackConfig { url: receiver.url(), channel: None, username: None });
    Sender::new().send(&slack, &with_host).await.expect("delivered");
    Sender::new().send(&slack, &without_host).await.expect("delivered");
    let requests = receiver.wait_for(2, WAIT).await;
    let body = requests[0].json();
    assert_eq!(body["text"], "Vigil scenario on web-1", "{body}");
    assert_eq!(body["attachments"][0]["text"], "PHP-FPM restarted on web-1");
    let fields = body["attachments"][0]["fields"].as_array().unwrap();
    assert_eq!(fields[0], json!({"title": "Host", "value": "web-1", "short": true}), "{body}");
    assert!(!fields.iter().any(|f| f["title"] == "Severity"), "a message has no severity: {body}");
    assert_eq!(requests[1].json()["text"], "Vigil scenario", "no host: the title alone");

    let smtp = SmtpReceiver::start().await;
    let email = ChannelConfig::Email(email_channel(&smtp, EmailTls::None));
    Sender::new().send(&email, &with_host).await.expect("delivered");
    let mail = &smtp.wait_for(1, WAIT).await[0];
    assert_eq!(mail.header("subject").as_deref(), Some("Vigil scenario on web-1"));
    assert_eq!(mail.header("message-id").as_deref(), Some("<notification.ntf_msg@example.com>"));
    let body = mail.body();
    assert!(body.starts_with("PHP-FPM restarted on web-1"), "{body}");
    assert!(body.contains("Host: web-1") && body.contains("Sent: 2024-05-01 12:00:00 UTC"), "{body}");
    assert!(!body.contains("Rule:"), "{body}");
}
