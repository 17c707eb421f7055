//! What happens with time rather than with a message, looked at every
//! `sweep_interval` by every alerter (rows are taken with `SKIP LOCKED`, so
//! two alerters never handle the same one):
//! - held notifications: an alert that fired while silenced is notified
//!   once no silence or maintenance window covers it any more (if it still
//!   fires);
//! - repeats: a firing, unacknowledged alert is notified again every
//!   `repeat_interval` (not while silenced);
//! - durations of host-status rules: an offline host's pending instance
//!   fires once its duration has passed, with no event to trigger it;
//! - hourly, sent notifications older than 30 days are deleted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::Row;
use vigil_runtime::shutdown::{sleep_or_cancelled, CancellationToken};

use crate::evaluate::Changes;
use crate::notify::NotificationEvent;
use crate::silences::AlertKey;
use crate::store::{self, Locked};
use crate::Shared;

/// Sent notifications and attempts are kept this long.
const KEEP_SENT: Duration = Duration::from_secs(30 * 24 * 3600);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub(crate) async fn sweep_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut pruned = Instant::now() - PRUNE_EVERY;
    loop {
        if let Err(error) = sweep(&shared).await {
            tracing::warn!(error = %error, "alert sweep failed; trying again at the next one");
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            match crate::outbox::prune(&shared.pool, KEEP_SENT).await {
                Ok(rows) if rows > 0 => tracing::info!(rows, "old notifications deleted"),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "cannot delete old notifications"),
            }
        }
        if sleep_or_cancelled(shared.config.sweep_interval, &shutdown).await {
            break;
        }
    }
}

/// One pass; returns the outbox rows it queued.
pub(crate) async fn sweep(shared: &Shared) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    let now = Utc::now();
    let due: Vec<(String, String)> = sqlx::query(
        "SELECT id, tenant_id FROM alerts WHERE status = 'firing' AND (notified = FALSE OR next_repeat_at <= ?) ORDER BY fired_at LIMIT 500",
    )
    .bind(now)
    .fetch_all(&shared.pool)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("id")?, row.try_get("tenant_id")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    for (alert_id, tenant_id) in due {
        queued += notify_due(shared, &alert_id, &tenant_id).await?;
    }

    let waiting: Vec<(String, String)> = sqlx::query(
        "SELECT DISTINCT i.host_id, i.tenant_id FROM alert_instances i JOIN alert_hosts h ON h.host_id = i.host_id \
         WHERE i.state = 'pending' AND h.online = FALSE LIMIT 500",
    )
    .fetch_all(&shared.pool)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("host_id")?, row.try_get("tenant_id")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    for (host_id, tenant_id) in waiting {
        queued += offline_durations(shared, &host_id, &tenant_id).await?;
    }
    if queued > 0 {
        shared.deliveries.notify_one();
    }
    Ok(queued)
}

/// A held notification or a repeat of one alert.
async fn notify_due(shared: &Shared, alert_id: &str, tenant_id: &str) -> Result<usize, sqlx::Error> {
    let tenant = shared.tenants.get(&shared.pool, tenant_id).await?;
    let now = Utc::now();
    let mut tx = shared.pool.begin().await?;
    let Some(Locked { alert, notified, notified_channels }) = store::lock_alert(&mut tx, alert_id, true).await? else {
        return Ok(0);
    };
    let key = AlertKey::of(&alert);
    let rule = tenant.rule(&alert.rule_id);
    let repeat = rule.and_then(|rule| rule.record.rule.repeat_interval).unwrap_or(shared.config.repeat_interval);
    let next_repeat = (!repeat.is_zero()).then(|| now + chrono::Duration::from_std(repeat).unwrap_or(chrono::Duration::hours(4)));
    let public_url = shared.config.dashboard_url();
    let mut rows = 0;
    if tenant.silenced(&key, now) {
        // held: looked at again next sweep; a repeat waits a whole interval
        if notified {
            sqlx::query("UPDATE alerts SET next_repeat_at = ? WHERE id = ?")
                .bind(next_repeat)
                .bind(alert_id)
                .execute(&mut *tx)
                .await?;
        }
    } else if !notified {
        let channels: Vec<String> = match rule {
            Some(rule) => tenant.channels_of(&rule.record.rule.channels).map(|c| c.id.clone()).collect(),
            None => Vec::new(),
        };
        for channel in &channels {
            store::enqueue_channel(&mut tx, &alert, channel, NotificationEvent::Firing, public_url, now).await?;
            rows += 1;
        }
        sqlx::query(
            "UPDATE alerts SET notified = TRUE, silenced = FALSE, notified_channels = ?, next_repeat_at = ? WHERE id = ?",
        )
        .bind(serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into()))
        .bind(next_repeat)
        .bind(alert_id)
        .execute(&mut *tx)
        .await?;
    } else {
        for channel in &notified_channels {
            store::enqueue_channel(&mut tx, &alert, channel, NotificationEvent::Repeat, public_url, now).await?;
            rows += 1;
        }
        sqlx::query("UPDATE alerts SET next_repeat_at = ? WHERE id = ?")
            .bind(next_repeat)
            .bind(alert_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows)
}

/// Host-status rules of an offline host whose duration may have passed.
async fn offline_durations(shared: &Shared, host_id: &str, tenant_id: &str) -> Result<usize, sqlx::Error> {
    let tenants = shared.tenants.get_many(&shared.pool, &std::collections::BTreeSet::from([tenant_id])).await?;
    let names = shared.host_names.names(&[(tenant_id, host_id)]).await;
    let now = Utc::now();
    let mut tx = shared.pool.begin().await?;
    let Some((mut host, mut instances)) = store::try_lock_host(&mut tx, host_id).await? else { return Ok(0) };
    if host.online {
        return Ok(0);
    }
    let mut changes = Changes::default();
    let context = shared.context(&tenants[tenant_id], &names, host_id, now);
    context.status(&mut host, false, &mut instances, now, &mut changes);
    let queued = store::apply(&mut tx, &tenants, &instances, &changes, shared.config.dashboard_url(), now).await?;
    tx.commit().await?;
    Ok(queued.outbox_rows)
}
