//! Delivery of the outbox: notifications to channels and alert events to
//! the bus, each row sent after the earlier rows of its alert and channel.
//!
//! Any alerter delivers any row: it claims due rows for [`CLAIM_FOR`]
//! (longer than a send can take), sends, then marks each sent, due again
//! after a backoff, or failed. An alerter that dies after sending and before
//! marking leaves its rows to be claimed again when the claim lapses, so a
//! notification is sent at least once; duplicates are kept out at the
//! receiver where it has a way (the bus drops an event whose `Nats-Msg-Id`
//! it has seen; PagerDuty merges on `dedup_key`; webhooks get an
//! `Idempotency-Key`; mail a stable `Message-ID`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::{MySql, Row};
use vigil_bus::messages::AlertEvent;
use vigil_runtime::shutdown::{sleep_or_cancelled, CancellationToken};

use crate::notify::{Notification, Retry, SendError};
use crate::Shared;

/// How long a claimed row is left to its claimer: longer than the longest
/// send (SMTP, 20 s) and its record. Rows of an alerter that died wait this
/// long, and the rows after them for the same alert and channel too.
pub const CLAIM_FOR: Duration = Duration::from_secs(30);
/// Rows claimed at once.
const CLAIM_BATCH: usize = 64;
/// How often due rows (retries, other alerters' lapsed claims) are looked
/// for when nothing woke the deliverer.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Longest delay between attempts.
const MAX_DELAY: Duration = Duration::from_secs(300);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

struct OutboxRow {
    seq: u64,
    id: String,
    tenant_id: String,
    channel_id: Option<String>,
    payload: String,
    attempts: u32,
}

/// What one attempt gave.
struct Outcome {
    status: Option<u16>,
    error: Option<(String, Retry)>,
}

pub(crate) async fn deliver_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let rows = match claim(&shared).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(error = %error, "cannot claim notifications to send; retrying in 1s");
                if sleep_or_cancelled(Duration::from_secs(1), &shutdown).await {
                    break;
                }
                continue;
            }
        };
        if rows.is_empty() {
            tokio::select! {
                _ = shared.deliveries.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        futures::stream::iter(rows)
            .map(|row| {
                let shared = shared.clone();
                async move {
                    let started = Instant::now();
                    let outcome = send(&shared, &row).await;
                    if let Err(error) = record(&shared, &row, outcome, started.elapsed()).await {
                        tracing::warn!(outbox = %row.id, error = %error, "cannot record a delivery attempt; the row is retried when its claim lapses");
                    }
                }
            })
            .buffer_unordered(shared.config.delivery_concurrency)
            .collect::<()>()
            .await;
    }
}

async fn claim(shared: &Shared) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let now = Utc::now();
    let due: Vec<u64> = sqlx::query_scalar(
        "SELECT o.seq FROM alert_outbox o WHERE o.state = 'pending' AND o.next_attempt_at <= ? \
         AND (o.claimed_until IS NULL OR o.claimed_until < ?) \
         AND NOT EXISTS (SELECT 1 FROM alert_outbox p WHERE p.alert_id = o.alert_id AND p.channel_id <=> o.channel_id \
                         AND p.state = 'pending' AND p.seq < o.seq) \
         ORDER BY o.seq LIMIT ?",
    )
    .bind(now)
    .bind(now)
    .bind(CLAIM_BATCH as u32)
    .fetch_all(&shared.pool)
    .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let claim = crate::rules::new_id("claim");
    let until = now + chrono::Duration::from_std(CLAIM_FOR).expect("small");
    let mut update = sqlx::QueryBuilder::<MySql>::new("UPDATE alert_outbox SET claim = ");
    update.push_bind(&claim).push(", claimed_until = ").push_bind(until).push(" WHERE seq IN (");
    let mut seqs = update.separated(", ");
    for seq in &due {
        seqs.push_bind(*seq);
    }
    update.push(") AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < ").push_bind(now).push(")");
    update.build().execute(&shared.pool).await?;
    let rows = sqlx::query(
        "SELECT seq, id, tenant_id, channel_id, CAST(payload AS CHAR) AS payload, attempts FROM alert_outbox WHERE claim = ? ORDER BY seq",
    )
    .bind(&claim)
    .fetch_all(&shared.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(OutboxRow {
                seq: row.try_get("seq")?,
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                channel_id: row.try_get("channel_id")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect()
}

async fn send(shared: &Shared, row: &OutboxRow) -> Outcome {
    let never = |message: String| Outcome { status: None, error: Some((message, Retry::Never)) };
    let Some(channel_id) = &row.channel_id else {
        let event: AlertEvent = match serde_json::from_str(&row.payload) {
            Ok(event) => event,
            Err(error) => return never(format!("outbox payload is not an alert event: {error}")),
        };
        return publish(shared, &row.id, &event).await;
    };
    let tenant = match shared.tenants.get(&shared.pool, &row.tenant_id).await {
        Ok(tenant) => tenant,
        Err(error) => {
            return Outcome {
                status: None,
                error: Some((format!("cannot read the tenant's channels: {error}"), Retry::After(None))),
            }
        }
    };
    let Some(channel) = tenant.channels.iter().find(|channel| &channel.id == channel_id) else {
        return never(format!("channel {channel_id} was deleted"));
    };
    if !channel.enabled {
        return never(format!("channel {:?} is disabled", channel.name));
    }
    let notification: Notification = match serde_json::from_str(&row.payload) {
        Ok(notification) => notification,
        Err(error) => return never(format!("outbox payload is not a notification: {error}")),
    };
    let kind = channel.config.kind();
    match shared.sender.send(&channel.config, &notification).await {
        Ok(delivered) => {
            crate::telemetry::delivered(kind, true);
            Outcome { status: delivered.status, error: None }
        }
        Err(SendError { status, retry, message }) => {
            crate::telemetry::delivered(kind, false);
            Outcome { status, error: Some((message, retry)) }
        }
    }
}

/// Publishes an alert event on `ALERTS` with the outbox id as `Nats-Msg-Id`
/// (a second publish of the same row is dropped by the stream).
async fn publish(shared: &Shared, id: &str, event: &AlertEvent) -> Outcome {
    let subject = vigil_bus::subjects::alert_event(&event.alert.tenant_id, &event.alert.host_id, event.event);
    let payload = match serde_json::to_vec(event) {
        Ok(payload) => payload,
        Err(error) => {
            return Outcome { status: None, error: Some((format!("cannot encode the alert event: {error}"), Retry::Never)) }
        }
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    let sent = async {
        let ack = shared.jetstream.publish_with_headers(subject, headers, payload.into()).await.map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(5), ack)
            .await
            .map_err(|_| "no ack within 5s".to_owned())?
            .map_err(|e| e.to_string())
    };
    let sent = sent.await;
    crate::telemetry::delivered("bus", sent.is_ok());
    match sent {
        Ok(_) => Outcome { status: None, error: None },
        Err(error) => {
            Outcome { status: None, error: Some((format!("cannot publish the alert event: {error}"), Retry::After(None))) }
        }
    }
}

/// The delay before attempt `attempts + 1`: 1 s, 2 s, 4 s ... up to 5 min,
/// or the receiver's `Retry-After` (at most 1 h).
pub fn retry_delay(attempts: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(after) => after.min(MAX_RETRY_AFTER),
        None => Duration::from_secs(1u64 << attempts.min(16)).min(MAX_DELAY),
    }
}

async fn record(shared: &Shared, row: &OutboxRow, outcome: Outcome, took: Duration) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let attempt = row.attempts + 1;
    let (state, next, error): (&str, DateTime<Utc>, Option<&str>) = match &outcome.error {
        None => ("sent", now, None),
        Some((message, Retry::After(after))) if attempt < shared.config.max_attempts => {
            let delay = retry_delay(row.attempts, *after);
            ("pending", now + chrono::Duration::from_std(delay).expect("bounded"), Some(message))
        }
        Some((message, _)) => ("failed", now, Some(message)),
    };
    match (&outcome.error, state) {
        (None, _) => tracing::debug!(outbox = %row.id, channel = ?row.channel_id, attempt, "sent"),
        (Some((message, _)), "pending") => {
            tracing::warn!(outbox = %row.id, channel = ?row.channel_id, attempt, status = ?outcome.status, error = %message, retry_at = %next, "delivery failed; will retry")
        }
        (Some((message, _)), _) => {
            tracing::error!(outbox = %row.id, channel = ?row.channel_id, attempt, status = ?outcome.status, error = %message, "delivery failed; giving up")
        }
    }
    let mut tx = shared.pool.begin().await?;
    let attempted = Attempt { outbox_id: &row.id, tenant_id: &row.tenant_id, channel_id: row.channel_id.as_deref(), attempt };
    attempted.record(&mut *tx, now, outcome.status, error, took).await?;
    sqlx::query(
        "UPDATE alert_outbox SET state = ?, attempts = ?, next_attempt_at = ?, claim = NULL, claimed_until = NULL, \
         sent_at = IF(? = 'sent', ?, sent_at), last_error = ? WHERE seq = ?",
    )
    .bind(state)
    .bind(attempt)
    .bind(next)
    .bind(state)
    .bind(now)
    .bind(error)
    .bind(row.seq)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if state == "pending" {
        // a retry may be due before the next idle poll
        shared.deliveries.notify_one();
    }
    Ok(())
}

/// One delivery attempt, as `notification_attempts` keeps it.
pub(crate) struct Attempt<'a> {
    pub outbox_id: &'a str,
    pub tenant_id: &'a str,
    pub channel_id: Option<&'a str>,
    pub attempt: u32,
}

impl Attempt<'_> {
    pub(crate) async fn record(
        &self,
        executor: impl sqlx::MySqlExecutor<'_>,
        at: DateTime<Utc>,
        status: Option<u16>,
        error: Option<&str>,
        took: Duration,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO notification_attempts (outbox_id, tenant_id, channel_id, attempt, at, status_code, error, duration_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(self.outbox_id)
        .bind(self.tenant_id)
        .bind(self.channel_id)
        .bind(self.attempt)
        .bind(at)
        .bind(status)
        .bind(error)
        .bind(took.as_millis().min(u128::from(u32::MAX)) as u32)
        .execute(executor)
        .await?;
        Ok(())
    }
}

/// Deletes sent and failed rows older than `keep` and their attempts.
pub(crate) async fn prune(pool: &sqlx::MySqlPool, keep: Duration) -> Result<u64, sqlx::Error> {
    let before = Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(30));
    sqlx::query("DELETE FROM notification_attempts WHERE at < ?").bind(before).execute(pool).await?;
    let done =
        sqlx::query("DELETE FROM alert_outbox WHERE state <> 'pending' AND created_at < ?").bind(before).execute(pool).await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_five_minutes_or_follow_retry_after() {
        assert_eq!(retry_delay(0, None), Duration::from_secs(1));
        assert_eq!(retry_delay(1, None), Duration::from_secs(2));
        assert_eq!(retry_delay(3, None), Duration::from_secs(8));
        assert_eq!(retry_delay(12, None), MAX_DELAY);
        assert_eq!(retry_delay(0, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(retry_delay(0, Some(Duration::from_secs(99_999))), MAX_RETRY_AFTER);
    }
}
