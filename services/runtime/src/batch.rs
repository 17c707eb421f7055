//! The ack-after-commit batch loop: pull a batch from a durable JetStream
//! consumer, store it in one transaction, ack only what was committed.
//!
//! A service gives the loop a [`BatchStore`]: how to decode a message, how
//! to store decoded items in one transaction, what to do after the commit.
//! The loop keeps the promises every consumer of a stream must keep:
//! - a message is acked only after the transaction holding it committed;
//! - a message that can never be stored is kept on `deadletter.<subject>`
//!   ([`vigil_bus::messages::DeadLetter`], stream `DEADLETTER`) with why, and
//!   only then terminated; if the dead letter cannot be kept, the message is
//!   nak'ed instead, so nothing is dropped that is not kept somewhere;
//! - a batch refused for its data ([`StoreError::Data`]) is split in halves
//!   until the refused item stands alone: every other item is stored (one
//!   bad message costs about 2·log2(batch) extra transactions, never a
//!   stall);
//! - any other failure ([`StoreError::Unavailable`]) naks what is not stored
//!   yet and backs off 1 s → 30 s: redelivered later, to this instance or
//!   another one sharing the consumer;
//! - fetches are `no_wait` (nats-server 2.9 does not always end an expired
//!   pull request, and the client then stalls 5 s).

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use futures::StreamExt;
use vigil_bus::messages::DeadLetter;

use crate::backoff::Backoff;
use crate::shutdown::{sleep_or_cancelled, CancellationToken};

/// First delay after a failed fetch or store.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest delay after failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store attempt failed.
#[derive(Debug)]
pub enum StoreError {
    /// The database refused the data itself: the same rows fail again.
    Data(BoxError),
    /// The database is unreachable, busy, deadlocked...: retry later.
    Unavailable(BoxError),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Data(error) => write!(f, "refused data: {error}"),
            StoreError::Unavailable(error) => write!(f, "unavailable: {error}"),
        }
    }
}

impl StoreError {
    /// A database error as the batch loop wants it: refused data or unavailable.
    pub fn from_sqlx(error: sqlx::Error) -> StoreError {
        if is_data_error(&error) {
            StoreError::Data(Box::new(error))
        } else {
            StoreError::Unavailable(Box::new(error))
        }
    }
}

/// MariaDB errors about the rows themselves whose SQLSTATE is the generic
/// `HY000`: incorrect string value (1366), no partition for the value (1526),
/// invalid JSON text (3140), CHECK constraint failed (4025), truncated wrong
/// value (1292, also sent as 22007).
const DATA_ERROR_NUMBERS: [u16; 5] = [1292, 1366, 1526, 3140, 4025];

/// Whether the database refused the data itself (retrying the same rows
/// fails again): SQLSTATE class 22 (data exception: out of range, too long,
/// bad datetime) and 23 (integrity: `1048 Column cannot be null`, duplicate
/// or foreign key), or one of [`DATA_ERROR_NUMBERS`].
fn is_data_error(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else { return false };
    if db.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23")) {
        return true;
    }
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| DATA_ERROR_NUMBERS.contains(&e.number()))
}

/// A message that can never be stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one committed transaction decided.
pub struct Committed<A> {
    /// Index in the stored slice → why that item was not stored (it is
    /// dead-lettered and terminated; the others are acked).
    pub refused: BTreeMap<usize, Refusal>,
    /// Handed to [`BatchStore::after_commit`] once the acks are sent.
    pub after: A,
}

/// How a service stores what its consumer delivers.
pub trait BatchStore: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type After: Send;

    /// Decodes one message; a [`Refusal`] is dead-lettered and terminated.
    fn decode(&self, message: &jetstream::Message) -> Result<Self::Item, Refusal>;

    /// Stores `items` in one transaction (nothing is acked in here).
    fn store(&self, items: &[Self::Item]) -> impl Future<Output = Result<Committed<Self::After>, StoreError>> + Send;

    /// Runs after a commit and its acks, e.g. to publish events.
    fn after_commit(&self, after: Self::After) -> impl Future<Output = ()> + Send;
}

/// Where a batch loop reads and how much at once.
#[derive(Clone)]
pub struct BatchLoop {
    /// The service dead letters are signed with, e.g. `collector`.
    pub service: &'static str,
    pub consumer: PullConsumer,
    /// Where dead letters are published.
    pub jetstream: jetstream::Context,
    pub batch_size: usize,
    /// When nothing is waiting, how long before looking again.
    pub batch_wait: Duration,
    /// After a batch smaller than `batch_size`, how long to let messages
    /// gather before the next fetch: fewer, larger transactions for a
    /// little latency (zero: fetch again at once).
    pub linger: Duration,
}

impl BatchLoop {
    /// Fetch, decode, store, ack until `shutdown`; the batch in hand is
    /// finished (committed and acked) before it returns.
    pub async fn run<S: BatchStore>(self, store: Arc<S>, shutdown: CancellationToken) {
        let lag = tokio::spawn(watch_lag(self.clone(), shutdown.clone()));
        self.run_loop(store, shutdown).await;
        lag.abort();
    }

    /// `service` and `consumer` labels of this loop's metrics.
    fn labels(&self) -> crate::metrics::ConsumerLabels {
        [("service", self.service.to_owned()), ("consumer", self.consumer.cached_info().name.clone())]
    }

    async fn run_loop<S: BatchStore>(self, store: Arc<S>, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
        let mut retry_after = BACKOFF_START;
        while !shutdown.is_cancelled() {
            let messages = match fetch(&self.consumer, self.batch_size).await {
                Ok(messages) => messages,
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(service = self.service, error = %error, retry_in_ms = delay.as_millis() as u64, "cannot fetch from jetstream");
                    if sleep_or_cancelled(delay, &shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            if messages.is_empty() {
                if sleep_or_cancelled(self.batch_wait, &shutdown).await {
                    break;
                }
                continue;
            }
            let full = messages.len() >= self.batch_size;
            match self.handle(store.as_ref(), messages, retry_after).await {
                Ok(()) => {
                    backoff.reset();
                    retry_after = BACKOFF_START;
                    if !full && !self.linger.is_zero() && sleep_or_cancelled(self.linger, &shutdown).await {
                        break;
                    }
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    retry_after = delay;
                    tracing::error!(service = self.service, error = %error, retry_in_ms = delay.as_millis() as u64, "cannot store a batch; nothing of it acked, it will be redelivered");
                    if sleep_or_cancelled(delay, &shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    /// Decodes, stores and acks one batch. `Err` when storage is
    /// unavailable: every message not stored yet was nak'ed.
    async fn handle<S: BatchStore>(
        &self,
        store: &S,
        fetched: Vec<jetstream::Message>,
        retry_after: Duration,
    ) -> Result<(), BoxError> {
        let mut messages = Vec::with_capacity(fetched.len());
        let mut items = Vec::with_capacity(fetched.len());
        for message in fetched {
            match store.decode(&message) {
                Ok(item) => {
                    messages.push(message);
                    items.push(item);
                }
                Err(refusal) => self.dead_letter(&message, &refusal).await,
            }
        }
        // ranges still to store, the next one last
        let mut todo: Vec<Range<usize>> = Vec::with_capacity(16);
        todo.push(0..items.len());
        while let Some(range) = todo.pop() {
            if range.is_empty() {
                continue;
            }
            match store.store(&items[range.clone()]).await {
                Ok(committed) => {
                    let metrics = crate::metrics::consumers();
                    metrics.batches.get_or_create(&self.labels()).inc();
                    let stored = range.len() - committed.refused.len();
                    metrics.stored.get_or_create(&self.labels()).inc_by(stored as u64);
                    for (offset, message) in messages[range.clone()].iter().enumerate() {
                        match committed.refused.get(&offset) {
                            Some(refusal) => self.dead_letter(message, refusal).await,
                            None => {
                                if let Err(error) = message.ack().await {
                                    tracing::warn!(subject = %message.subject, error = %error, "cannot ack a stored message; its redelivery will be a no-op");
                                }
                            }
                        }
                    }
                    store.after_commit(committed.after).await;
                }
                Err(StoreError::Data(error)) if range.len() > 1 => {
                    tracing::warn!(service = self.service, error = %error, messages = range.len(), "a batch was refused for its data; splitting it to isolate the message");
                    let middle = range.start + range.len() / 2;
                    todo.push(middle..range.end);
                    todo.push(range.start..middle);
                }
                Err(StoreError::Data(error)) => {
                    self.dead_letter(&messages[range.start], &Refusal(format!("database refused the snapshot: {error}"))).await
                }
                Err(StoreError::Unavailable(error)) => {
                    nak_all(&messages[range], retry_after).await;
                    for rest in todo {
                        nak_all(&messages[rest], retry_after).await;
                    }
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Keeps `message` on `deadletter.<subject>` with why, then terminates it
    /// (or naks it when the dead letter cannot be kept).
    async fn dead_letter(&self, message: &jetstream::Message, refusal: &Refusal) {
        let sequence = message.info().map(|info| info.stream_sequence).unwrap_or(0);
        let subject = message.subject.as_str();
        tracing::warn!(service = self.service, %subject, stream_sequence = sequence, reason = %refusal, "message refused for good; kept as a dead letter");
        crate::metrics::consumers().dead_lettered.get_or_create(&self.labels()).inc();
        let letter = DeadLetter::new(self.service, subject, sequence, refusal.0.clone(), &message.payload);
        let kept = match serde_json::to_vec(&letter) {
            Ok(payload) => match self.jetstream.publish(vigil_bus::subjects::dead_letter(subject), payload.into()).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        let kind = match kept {
            Ok(()) => AckKind::Term,
            Err(error) => {
                tracing::error!(%subject, stream_sequence = sequence, error = %error, "cannot keep the dead letter; the message will be redelivered");
                AckKind::Nak(Some(BACKOFF_MAX))
            }
        };
        if let Err(error) = message.ack_with(kind).await {
            tracing::warn!(%subject, error = %error, "cannot terminate a message; it will be redelivered");
        }
    }
}

/// How often the consumer's pending counts are read.
const LAG_INTERVAL: Duration = Duration::from_secs(5);

/// Reads the consumer's info every [`LAG_INTERVAL`] into its pending gauges.
async fn watch_lag(batch: BatchLoop, shutdown: CancellationToken) {
    let labels = batch.labels();
    let mut consumer = batch.consumer;
    loop {
        match consumer.info().await {
            Ok(info) => {
                let metrics = crate::metrics::consumers();
                metrics.pending.get_or_create(&labels).set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
                metrics.ack_pending.get_or_create(&labels).set(i64::try_from(info.num_ack_pending).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::debug!(service = batch.service, error = %error, "cannot read the consumer info"),
        }
        if sleep_or_cancelled(LAG_INTERVAL, &shutdown).await {
            return;
        }
    }
}

async fn nak_all(messages: &[jetstream::Message], delay: Duration) {
    for message in messages {
        if let Err(error) = message.ack_with(AckKind::Nak(Some(delay))).await {
            tracing::debug!(error = %error, "cannot nak a message; it is redelivered after ack_wait");
        }
    }
}

/// Takes what is waiting, up to `max`, without waiting for more.
async fn fetch(consumer: &PullConsumer, max: usize) -> Result<Vec<jetstream::Message>, BoxError> {
    let mut batch = consumer.fetch().max_messages(max).messages().await?;
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        match message {
            Ok(message) => messages.push(message),
            Err(error) if messages.is_empty() => return Err(error),
            Err(error) => {
                tracing::debug!(error = %error, "fetch ended early");
                break;
            }
        }
    }
    Ok(messages)
}
