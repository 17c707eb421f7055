//! JetStream streams and durable consumers: where the bus must not lose a
//! message. Created (or updated) idempotently by every service at start-up.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};

use crate::subjects;

/// Every metrics snapshot, kept 7 days so integrators can replay.
pub const METRICS_STREAM: &str = "METRICS";
/// Host lifecycle events.
pub const HOSTS_STREAM: &str = "HOSTS";
/// Messages a service terminated because they can never be stored, with why.
pub const DEAD_LETTER_STREAM: &str = "DEADLETTER";
/// Alert events (`alerts.>`).
pub const ALERTS_STREAM: &str = "ALERTS";
/// Action orders, dispatches, results and statuses (`actions.>`).
pub const ACTIONS_STREAM: &str = "ACTIONS";
/// Durable pull consumer of dispatches and results shared by every actioner instance.
pub const ACTIONER_CONSUMER: &str = "actioner";
/// Durable pull consumer of snapshots shared by every alerter instance.
pub const ALERTER_CONSUMER: &str = "alerter";
/// Durable pull consumer of host online/offline events shared by every alerter instance.
pub const ALERTER_HOSTS_CONSUMER: &str = "alerter-hosts";
/// Durable pull consumer of fired alerts shared by every orchestrator instance.
pub const ORCHESTRATOR_CONSUMER: &str = "orchestrator";
/// Durable pull consumer shared by every collector instance.
pub const COLLECTOR_CONSUMER: &str = "collector";
/// Window inside which a re-published snapshot (same `Nats-Msg-Id`) is dropped.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

pub fn metrics_stream() -> stream::Config {
    stream::Config {
        name: METRICS_STREAM.to_owned(),
        subjects: vec![subjects::METRICS_ALL.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: DUPLICATE_WINDOW,
        description: Some("vigil: agent snapshots, metrics.<tenant>.<host>".to_owned()),
        ..Default::default()
    }
}

pub fn hosts_stream() -> stream::Config {
    stream::Config {
        name: HOSTS_STREAM.to_owned(),
        subjects: vec![subjects::HOSTS_ALL.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(30 * 24 * 3600),
        description: Some("vigil: host events, hosts.<tenant>.<host>.<event>".to_owned()),
        ..Default::default()
    }
}

/// Dead letters, kept 30 days and at most 1 GiB (oldest dropped first), so
/// an agent that keeps sending what cannot be stored costs bounded disk.
pub fn dead_letter_stream() -> stream::Config {
    stream::Config {
        name: DEAD_LETTER_STREAM.to_owned(),
        subjects: vec![subjects::DEAD_LETTER_ALL.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_age: Duration::from_secs(30 * 24 * 3600),
        max_bytes: 1024 * 1024 * 1024,
        description: Some("vigil: messages terminated as never storable, deadletter.<original subject>".to_owned()),
        ..Default::default()
    }
}

/// Alert events, kept 30 days; `Nats-Msg-Id` is the outbox id, so a
/// re-published event is dropped.
pub fn alerts_stream() -> stream::Config {
    stream::Config {
        name: ALERTS_STREAM.to_owned(),
        subjects: vec![subjects::ALERTS_ALL.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(30 * 24 * 3600),
        duplicate_window: DUPLICATE_WINDOW,
        description: Some("vigil: alert events, alerts.<tenant>.<host>.<fired|acknowledged|resolved>".to_owned()),
        ..Default::default()
    }
}

/// Every action message, kept 30 days; `Nats-Msg-Id` makes a re-published
/// order, dispatch or result a no-op within the duplicate window.
pub fn actions_stream() -> stream::Config {
    stream::Config {
        name: ACTIONS_STREAM.to_owned(),
        subjects: vec![subjects::ACTIONS_ALL.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(30 * 24 * 3600),
        duplicate_window: DUPLICATE_WINDOW,
        description: Some("vigil: actions, actions.<tenant>.<host>.<requested|dispatched|result|status>".to_owned()),
        ..Default::default()
    }
}

/// The actioners' dispatches and results: every one is stored in
/// `actions_log` before it is acked.
pub fn actioner_consumer() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(ACTIONER_CONSUMER.to_owned()),
        description: Some("vigil actioner: stores action dispatches and results".to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(10),
        deliver_policy: consumer::DeliverPolicy::New,
        filter_subjects: subjects::ACTIONS_PROGRESS.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

/// The alerters' share of the snapshots: a consumer of its own, so the
/// collector's pace never holds it back. New alerters start with new
/// snapshots, not the stream's 7 days.
pub fn alerter_consumer() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(ALERTER_CONSUMER.to_owned()),
        description: Some("vigil alerter: evaluates alert rules on snapshots".to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(10),
        max_ack_pending: 20_000,
        deliver_policy: consumer::DeliverPolicy::New,
        ..Default::default()
    }
}

/// The alerters' host online/offline events.
pub fn alerter_hosts_consumer() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(ALERTER_HOSTS_CONSUMER.to_owned()),
        description: Some("vigil alerter: host online/offline events".to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(10),
        deliver_policy: consumer::DeliverPolicy::New,
        filter_subjects: vec!["hosts.*.*.online".to_owned(), "hosts.*.*.offline".to_owned()],
        ..Default::default()
    }
}

/// The orchestrators' alert triggers: every fired alert, each starting the
/// runs of the scenarios it triggers before it is acked. New orchestrators
/// start with new alerts (a scenario never acts on an old firing).
pub fn orchestrator_consumer() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(ORCHESTRATOR_CONSUMER.to_owned()),
        description: Some("vigil orchestrator: starts the scenarios fired alerts trigger".to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        deliver_policy: consumer::DeliverPolicy::New,
        filter_subject: subjects::ALERTS_FIRED.to_owned(),
        ..Default::default()
    }
}

pub fn collector_consumer() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(COLLECTOR_CONSUMER.to_owned()),
        description: Some("vigil collector: stores snapshots in MariaDB".to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 20_000,
        deliver_policy: consumer::DeliverPolicy::All,
        ..Default::default()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot create or update jetstream stream {stream}: {source}")]
pub struct StreamSetupError {
    stream: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Creates the streams if absent and brings their config up to date.
pub async fn ensure_streams(jetstream: &jetstream::Context) -> Result<(), StreamSetupError> {
    for config in [metrics_stream(), hosts_stream(), dead_letter_stream(), alerts_stream(), actions_stream()] {
        let name = config.name.clone();
        let wrap = |source: Box<dyn std::error::Error + Send + Sync>| StreamSetupError { stream: name.clone(), source };
        match jetstream.get_stream(&config.name).await {
            Ok(_) => {
                jetstream.update_stream(config.clone()).await.map_err(|e| wrap(Box::new(e)))?;
            }
            Err(_) => {
                jetstream.get_or_create_stream(config.clone()).await.map_err(|e| wrap(Box::new(e)))?;
            }
        }
    }
    Ok(())
}
