//! `channels.notify` against a running alerter (private nats-server, fresh
//! database, a real HTTP receiver as the webhook channel): a plain message
//! goes through the outbox (at least once, retried, each attempt recorded),
//! the same key twice queues nothing new, channels are chosen by id, name or
//! type, and an unknown one is a 404 naming it.

use std::time::Duration;

use vigil_alerter::{Alerter, AlerterConfig};
use vigil_bus::messages::{ChannelInput, NotifyChannels, NotifyReceipt, PutChannels};
use vigil_bus::subjects::alerter;
use vigil_bus::ErrorCode;
use vigil_runtime::CancellationToken;
use vigil_testkit::receivers::{HttpReceiver, ScriptedResponse};
use vigil_testkit::{NatsServer, TestDb};

const WAIT: Duration = Duration::from_secs(20);
const TENANT: &str = "acme";

struct Running {
    _nats: NatsServer,
    db: TestDb,
    client: async_nats::Client,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn alerter() -> Running {
    let nats = NatsServer::start().await;
    let db = TestDb::create().await;
    let alerter =
        Alerter::build(AlerterConfig::default(), nats.client().await, db.pool.clone()).await.expect("build the alerter");
    let stop = CancellationToken::new();
    tokio::spawn(alerter.run_until_stopped(stop.clone()));
    let client = nats.client().await;
    Running { _nats: nats, db, client, stop }
}

fn webhook(name: &str, url: &str, enabled: bool) -> ChannelInput {
    ChannelInput { id: None, name: name.to_owned(), enabled, kind: "webhook".to_owned(), config: serde_json::json!({"url": url}) }
}

/// Puts the tenant's channels; returns their ids in order.
async fn channels(running: &Running, inputs: Vec<ChannelInput>) -> Vec<String> {
    let request = PutChannels { tenant_id: TENANT.to_owned(), channels: inputs };
    let records = vigil_bus::messages::request(&running.client, alerter::PUT_CHANNELS, &request).await.expect("put channels");
    records.into_iter().map(|record| record.id).collect()
}

fn message(channel: Option<&str>, key: &str) -> NotifyChannels {
    NotifyChannels {
        tenant_id: TENANT.to_owned(),
        channel: channel.map(str::to_owned),
        host_id: Some("h-web1".to_owned()),
        message: "PHP-FPM restarted on web-1".to_owned(),
        key: key.to_owned(),
    }
}

async fn notify(running: &Running, request: &NotifyChannels) -> Result<NotifyReceipt, vigil_bus::ServiceError> {
    vigil_bus::messages::request(&running.client, alerter::NOTIFY, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_delivered_through_the_outbox_once_per_key_with_its_retries_recorded() {
    let running = alerter().await;
    // the first attempt fails (500), the retry is taken
    let receiver = HttpReceiver::start(vec![ScriptedResponse::status(500)]).await;
    let ids = channels(&running, vec![webhook("hook", &receiver.url(), true)]).await;

    let receipt = notify(&running, &message(None, "run-1:1")).await.expect("queued");
    assert_eq!(receipt.channels, ids, "no channel named: every enabled channel");
    let requests = receiver.wait_for(2, WAIT).await;
    let body = requests[1].json();
    assert_eq!(body["vigil"]["event"], "message", "{body}");
    assert_eq!(body["vigil"]["message"], "PHP-FPM restarted on web-1", "{body}");
    assert_eq!(
        body["commonAnnotations"]["summary"], "Vigil scenario on h-web1",
        "no collector: the host's id stands for its name: {body}"
    );
    assert_eq!(body["commonLabels"]["host_id"], "h-web1", "{body}");
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key"),
        "a retry is the same notification for the receiver"
    );

    // the same key again: the receipt, nothing new queued or sent
    let again = notify(&running, &message(None, "run-1:1")).await.expect("answered");
    assert_eq!(again.channels, ids);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.requests().len(), 2, "the same key twice notifies once");
    assert_eq!(running.db.count("SELECT COUNT(*) FROM alert_outbox WHERE event = 'message'").await, 1);
    let attempts: Vec<(u32, Option<u16>)> =
        sqlx::query_as("SELECT attempt, status_code FROM notification_attempts ORDER BY attempt")
            .fetch_all(&running.db.pool)
            .await
            .unwrap();
    assert_eq!(attempts, [(1, Some(500)), (2, Some(200))], "each attempt recorded");
    let state: String =
        sqlx::query_scalar("SELECT CAST(state AS CHAR) FROM alert_outbox").fetch_one(&running.db.pool).await.unwrap();
    assert_eq!(state, "sent");

    // another key is another message
    notify(&running, &message(None, "run-1:2")).await.expect("queued");
    receiver.wait_for(3, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_named_by_id_name_or_type_and_an_unknown_one_is_a_404_naming_it() {
    let running = alerter().await;
    let ops = HttpReceiver::start(vec![]).await;
    let dev = HttpReceiver::start(vec![]).await;
    let off = HttpReceiver::start(vec![]).await;
    let ids = channels(
        &running,
        vec![webhook("ops", &ops.url(), true), webhook("dev", &dev.url(), true), webhook("off", &off.url(), false)],
    )
    .await;

    assert_eq!(notify(&running, &message(Some("dev"), "by-name")).await.unwrap().channels, [ids[1].clone()]);
    assert_eq!(notify(&running, &message(Some(&ids[0]), "by-id")).await.unwrap().channels, [ids[0].clone()]);
    let mut by_type = notify(&running, &message(Some("webhook"), "by-type")).await.unwrap().channels;
    by_type.sort();
    let mut enabled = vec![ids[0].clone(), ids[1].clone()];
    enabled.sort();
    assert_eq!(by_type, enabled, "a type: every enabled channel of it");
    ops.wait_for(2, WAIT).await;
    dev.wait_for(2, WAIT).await;

    let unknown = notify(&running, &message(Some("slack"), "unknown")).await.unwrap_err();
    assert_eq!(unknown.code, ErrorCode::NotFound);
    assert!(unknown.message.contains("no channel \"slack\""), "{}", unknown.message);
    let disabled = notify(&running, &message(Some("off"), "disabled")).await.unwrap_err();
    assert_eq!(disabled.code, ErrorCode::Unprocessable);
    assert!(disabled.message.starts_with("channel: \"off\""), "{}", disabled.message);
    let empty = notify(&running, &NotifyChannels { message: " ".into(), ..message(None, "empty") }).await.unwrap_err();
    assert_eq!(empty.code, ErrorCode::Unprocessable);
    assert!(empty.message.starts_with("message:"), "{}", empty.message);

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!((ops.requests().len(), dev.requests().len(), off.requests().len()), (2, 2, 0));
}
