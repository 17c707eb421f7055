//! Putting snapshots on the bus as the gateway does, and reading the
//! collector's durable consumer: for tests that drive the collector without
//! a gateway.

use async_nats::jetstream;
use vigil_bus::messages::MetricsSnapshot;

/// Publishes `payload` on `subject` through JetStream with `Nats-Msg-Id` =
/// `msg_id`, and waits for the PubAck.
pub async fn publish_raw(client: &async_nats::Client, subject: String, payload: Vec<u8>, msg_id: &str) {
    let jetstream = jetstream::new(client.clone());
    jetstream
        .send_publish(subject, jetstream::message::PublishMessage::build().payload(payload.into()).message_id(msg_id))
        .await
        .expect("publish snapshot")
        .await
        .expect("snapshot pub ack");
}

/// Publishes `snapshot` as the gateway does: as JSON on
/// `metrics.<tenant>.<host>`, its [`MetricsSnapshot::msg_id`] as
/// `Nats-Msg-Id`; waits for the PubAck.
pub async fn publish(client: &async_nats::Client, snapshot: &MetricsSnapshot) {
    publish_raw(
        client,
        vigil_bus::subjects::metrics(&snapshot.tenant_id, &snapshot.host_id),
        serde_json::to_vec(snapshot).expect("encode snapshot"),
        &snapshot.msg_id(),
    )
    .await;
}

/// Info of the collector's durable consumer on the `METRICS` stream.
pub async fn collector_consumer_info(client: &async_nats::Client) -> jetstream::consumer::Info {
    let jetstream = jetstream::new(client.clone());
    let stream = jetstream.get_stream(vigil_bus::streams::METRICS_STREAM).await.expect("metrics stream");
    let mut consumer: jetstream::consumer::PullConsumer =
        stream.get_consumer(vigil_bus::streams::COLLECTOR_CONSUMER).await.expect("collector consumer");
    consumer.info().await.expect("consumer info").clone()
}
