//! Config parsing, validation, redaction and the secrets round trip. The
//! channels' formats and retries are tested against real receivers in
//! `tests/channels.rs`.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn parse(value: serde_json::Value) -> ChannelConfig {
    serde_json::from_value(value.clone()).unwrap_or_else(|error| panic!("{value}: {error}"))
}

fn parse_error(value: serde_json::Value) -> String {
    serde_json::from_value::<ChannelConfig>(value).unwrap_err().to_string()
}

/// One config of each kind with every secret set.
fn every_kind() -> Vec<ChannelConfig> {
    vec![
        ChannelConfig::Email(EmailConfig {
            host: "smtp.example.com".to_owned(),
            port: 587,
            tls: EmailTls::Starttls,
            user: Some("alerts".to_owned()),
            password: Some("correct horse battery staple".to_owned()),
            from: "Vigil <alerts@example.com>".to_owned(),
            to: vec!["ops@example.com".to_owned()],
            ca_pem: None,
        }),
        ChannelConfig::Slack(SlackConfig {
            url: "https://hooks.slack.com/services/T000/B000/XXXXXXXXwxyz".to_owned(),
            channel: Some("#ops".to_owned()),
            username: None,
        }),
        ChannelConfig::Pagerduty(PagerDutyConfig {
            routing_key: "0123456789abcdef0123456789abcdef".to_owned(),
            url: pagerduty::DEFAULT_URL.to_owned(),
        }),
        ChannelConfig::Webhook(WebhookConfig {
            url: "https://hooks.example.com/vigil?token=0123456789abcdef".to_owned(),
            method: WebhookMethod::Put,
            headers: BTreeMap::from([
                ("Authorization".to_owned(), "Bearer 0123456789abcdefXYZ1".to_owned()),
                ("X-Short".to_owned(), "abc".to_owned()),
            ]),
            secret: Some("whsec_0123456789abcdef".to_owned()),
        }),
        ChannelConfig::Discord(DiscordConfig { url: "https://discord.com/api/webhooks/1/AbCdEfGhIjKlMnOp".to_owned() }),
        ChannelConfig::Teams(TeamsConfig {
            url: "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=S1GNATURE".to_owned(),
        }),
        ChannelConfig::Telegram(TelegramConfig {
            bot_token: "123456789:AAExampleBotTokenSecret".to_owned(),
            chat_id: "-1001234567890".to_owned(),
            api_url: telegram::DEFAULT_API_URL.to_owned(),
        }),
        ChannelConfig::Ntfy(NtfyConfig {
            url: "https://ntfy.sh/vigil-alerts".to_owned(),
            token: Some("tk_0123456789abcdefghij".to_owned()),
        }),
    ]
}

#[test]
fn every_kind_round_trips_through_json_and_validates() {
    let kinds: Vec<&str> = every_kind().iter().map(ChannelConfig::kind).collect();
    assert_eq!(kinds, ["email", "slack", "pagerduty", "webhook", "discord", "teams", "telegram", "ntfy"]);
    for channel in every_kind() {
        let value = serde_json::to_value(&channel).unwrap();
        assert_eq!(value["type"], channel.kind());
        assert_eq!(parse(value), channel);
        channel.validate().unwrap_or_else(|error| panic!("{}: {error}", channel.kind()));
    }
}

#[test]
fn defaults_fill_what_is_left_out() {
    let email =
        parse(json!({"type": "email", "config": {"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]}}));
    let ChannelConfig::Email(email) = email else { panic!() };
    assert_eq!((email.port, email.tls, email.user, email.ca_pem), (587, EmailTls::Starttls, None, None));
    let ChannelConfig::Pagerduty(pagerduty) = parse(json!({"type": "pagerduty", "config": {"routing_key": "k"}})) else {
        panic!()
    };
    assert_eq!(pagerduty.url, "https://events.pagerduty.com/v2/enqueue");
    let ChannelConfig::Webhook(webhook) = parse(json!({"type": "webhook", "config": {"url": "https://x.test/h"}})) else {
        panic!()
    };
    assert_eq!((webhook.method, webhook.headers.len(), webhook.secret), (WebhookMethod::Post, 0, None));
    let telegram = parse(json!({"type": "telegram", "config": {"bot_token": "1:a", "chat_id": -1001234567890_i64}}));
    let ChannelConfig::Telegram(telegram) = telegram else { panic!() };
    assert_eq!((telegram.chat_id.as_str(), telegram.api_url.as_str()), ("-1001234567890", "https://api.telegram.org"));
    let tls = parse(json!({"type": "email", "config": {"host": "h", "tls": "none", "from": "a@b.c", "to": ["d@e.f"]}}));
    assert!(matches!(tls, ChannelConfig::Email(EmailConfig { tls: EmailTls::None, .. })));
}

#[test]
fn unknown_types_fields_and_methods_are_refused() {
    assert!(parse_error(json!({"type": "sms", "config": {}})).contains("unknown variant `sms`"));
    let error = parse_error(json!({"type": "slack", "config": {"url": "https://x.test", "icon": ":bell:"}}));
    assert!(error.contains("unknown field `icon`"), "{error}");
    let error = parse_error(json!({"type": "slack", "config": {"url": "https://x.test"}, "name": "ops"}));
    assert!(error.contains("string \"name\", expected \"type\" or \"config\""), "{error}");
    let error = parse_error(json!({"type": "webhook", "config": {"url": "https://x.test", "method": "GET"}}));
    assert!(error.contains("unknown variant `GET`"), "{error}");
}

fn field_error(channel: serde_json::Value) -> String {
    parse(channel).validate().unwrap_err().to_string()
}

#[test]
fn validation_errors_name_the_field() {
    let email = |config: serde_json::Value| field_error(json!({"type": "email", "config": config}));
    assert_eq!(email(json!({"host": "h", "from": "a@b.c", "to": []})), "config.to: needs at least one recipient");
    let error = email(json!({"host": "h", "from": "a@b.c", "to": ["ok@b.c", "not an address"]}));
    assert!(error.starts_with("config.to[1]: \"not an address\" is not an email address"), "{error}");
    assert!(email(json!({"host": "h", "from": "nobody", "to": ["a@b.c"]})).starts_with("config.from: "));
    assert_eq!(email(json!({"host": " ", "from": "a@b.c", "to": ["a@b.c"]})), "config.host: is required");
    assert_eq!(
        email(json!({"host": "h", "port": 0, "from": "a@b.c", "to": ["a@b.c"]})),
        "config.port: must be a port number (1-65535)"
    );
    assert_eq!(
        email(json!({"host": "h", "password": "p", "from": "a@b.c", "to": ["a@b.c"]})),
        "config.user: is required when a password is set"
    );
    assert_eq!(
        email(json!({"host": "h", "ca_pem": "not pem", "from": "a@b.c", "to": ["a@b.c"]})),
        "config.ca_pem: holds no certificate (-----BEGIN CERTIFICATE-----)"
    );

    assert_eq!(
        field_error(json!({"type": "slack", "config": {"url": "ftp://hooks.slack.com/x"}})),
        "config.url: must be an http or https URL, not ftp"
    );
    let error = field_error(json!({"type": "discord", "config": {"url": "discord.com/api/webhooks/1/secret"}}));
    assert!(error.starts_with("config.url: is not a valid URL ("), "{error}");
    assert!(!error.contains("secret"), "the value is not echoed: {error}");
    assert_eq!(field_error(json!({"type": "teams", "config": {"url": ""}})), "config.url: is required");
    assert_eq!(
        field_error(json!({"type": "slack", "config": {"url": "https://x.test/h", "channel": ""}})),
        "config.channel: must not be empty when set (leave it out instead)"
    );

    let webhook = |headers: serde_json::Value| {
        field_error(json!({"type": "webhook", "config": {"url": "https://x.test", "headers": headers}}))
    };
    assert_eq!(webhook(json!({"Bad Name": "v"})), "config.headers.Bad Name: is not a valid header name");
    assert_eq!(
        webhook(json!({"X-Token": "a\nb"})),
        "config.headers.X-Token: is not a valid header value (printable ASCII, no line breaks)"
    );
    assert_eq!(
        webhook(json!({"Content-Type": "text/plain"})),
        "config.headers.Content-Type: is set by Vigil and cannot be configured"
    );

    let error = field_error(json!({"type": "telegram", "config": {"bot_token": "1:a", "chat_id": "my group"}}));
    assert!(error.starts_with("config.chat_id: \"my group\" is neither a chat id"), "{error}");
    assert_eq!(
        field_error(json!({"type": "telegram", "config": {"bot_token": "1:a/b", "chat_id": "@ops_team"}})),
        "config.bot_token: must not contain whitespace, control characters or '/'"
    );
    assert_eq!(field_error(json!({"type": "pagerduty", "config": {"routing_key": ""}})), "config.routing_key: is required");
    assert_eq!(
        field_error(json!({"type": "ntfy", "config": {"url": "https://ntfy.sh/"}})),
        "config.url: must name a topic (https://ntfy.sh/my-alerts)"
    );
}

#[test]
fn redaction_masks_every_secret_and_nothing_else() {
    let redacted: Vec<serde_json::Value> = every_kind().iter().map(ChannelConfig::redacted).collect();
    assert_eq!(redacted[0]["config"]["password"], "••••aple");
    assert_eq!(redacted[0]["config"]["user"], "alerts");
    assert_eq!(redacted[0]["config"]["host"], "smtp.example.com");
    assert_eq!(redacted[1]["config"], json!({"url": "https://hooks.slack.com/••••wxyz", "channel": "#ops"}));
    assert_eq!(redacted[2]["config"], json!({"routing_key": "••••cdef", "url": "https://events.pagerduty.com/v2/enqueue"}));
    assert_eq!(
        redacted[3],
        json!({"type": "webhook", "config": {
            "url": "https://hooks.example.com/••••cdef",
            "method": "PUT",
            "headers": {"Authorization": "••••XYZ1", "X-Short": "••••"},
            "secret": "••••cdef",
        }})
    );
    assert_eq!(redacted[4]["config"]["url"], "https://discord.com/••••MnOp");
    assert_eq!(redacted[5]["config"]["url"], "https://prod-00.westeurope.logic.azure.com/••••TURE");
    assert_eq!(
        redacted[6]["config"],
        json!({"bot_token": "••••cret", "chat_id": "-1001234567890", "api_url": "https://api.telegram.org"})
    );
    assert_eq!(redacted[7]["config"], json!({"url": "https://ntfy.sh/vigil-alerts", "token": "••••ghij"}));
    for (channel, value) in every_kind().iter().zip(&redacted) {
        assert_eq!(value["type"], channel.kind());
        for secret in channel.secret_values() {
            assert!(!value.to_string().contains(&secret), "{secret} shown in {value}");
        }
    }
}

#[test]
fn masked_secrets_sent_back_keep_their_stored_values() {
    for stored in every_kind() {
        let mut sent_back = parse(stored.redacted());
        assert_ne!(sent_back, stored);
        sent_back.keep_secrets(&stored);
        assert_eq!(sent_back, stored, "{}", stored.kind());
    }
}

#[test]
fn changed_secrets_stay_changed() {
    let stored = &every_kind()[3];
    let mut update = stored.redacted();
    update["config"]["headers"]["Authorization"] = json!("Bearer new-token");
    update["config"]["headers"]["X-New"] = json!("••••");
    update["config"]["secret"] = json!("••••beef");
    let mut update = parse(update);
    update.keep_secrets(stored);
    let ChannelConfig::Webhook(webhook) = update else { panic!() };
    assert_eq!(webhook.url, "https://hooks.example.com/vigil?token=0123456789abcdef", "the mask took the stored url");
    assert_eq!(webhook.headers["Authorization"], "Bearer new-token");
    assert_eq!(webhook.headers["X-Short"], "abc");
    assert_eq!(webhook.headers["X-New"], "••••", "no stored value under that name");
    assert_eq!(webhook.secret.as_deref(), Some("••••beef"), "not the stored value's mask");

    let mut other_kind = parse(json!({"type": "discord", "config": {"url": "https://hooks.slack.com/••••wxyz"}}));
    other_kind.keep_secrets(&every_kind()[1]);
    assert_eq!(other_kind.redacted()["config"]["url"], "https://hooks.slack.com/••••wxyz", "only between the same kind");
}

#[test]
fn only_pagerduty_and_webhook_hear_of_acknowledgements() {
    let acknowledging: Vec<&str> =
        every_kind().iter().filter(|channel| channel.supports_acknowledge()).map(ChannelConfig::kind).collect();
    assert_eq!(acknowledging, ["pagerduty", "webhook"]);
}

#[test]
fn a_webhook_signature_is_hmac_sha256_of_timestamp_dot_body() {
    // python3: hmac.new(b"key", b"1700000000.{\"a\":1}", hashlib.sha256).hexdigest()
    assert_eq!(
        webhook::signature("key", 1_700_000_000, br#"{"a":1}"#),
        "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
    );
}
