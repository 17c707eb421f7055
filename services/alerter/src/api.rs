//! What the alerter answers on its endpoints: rules, alerts and their
//! history, acknowledgements, channels, silences and maintenance windows.
//! Every request names its tenant; another tenant's item is `NotFound`.
//! Every write of a tenant's configuration bumps its `config_version` in the
//! same transaction (see `tenants`).

use std::sync::Arc;

use chrono::Utc;
use sqlx::{MySql, Row};
use vigil_bus::messages::{
    AcknowledgeAlert, Alert, AlertHistoryEntry, AlertHistoryPage, AlertHistoryQuery, AlertStatus, AlertTransition, ChannelRecord,
    ChannelTestResult, CheckRule, CreateRule, ListAlerts, MaintenanceRecord, NotifyChannels, NotifyReceipt, OfTenant,
    PutChannels, RuleCheck, RuleRecord, SaveMaintenance, SaveSilence, SilenceRecord, TenantItem, UpdateRule, MAX_HISTORY_PAGE,
};
use vigil_bus::{ErrorCode, ServiceError};

use crate::error::{db, not_found};
use crate::notify::{Notification, NotificationEvent};
use crate::silences::AlertKey;
use crate::{channels, rules, silences, store, tenants, Shared};

fn tenant(tenant_id: &str) -> Result<(), ServiceError> {
    vigil_bus::validate("tenant", tenant_id).map_err(|error| ServiceError::new(ErrorCode::BadRequest, error.to_string()))
}

async fn config(shared: &Shared, tenant_id: &str) -> Result<Arc<tenants::TenantConfig>, ServiceError> {
    tenant(tenant_id)?;
    shared.tenants.get(&shared.pool, tenant_id).await.map_err(db("reading the tenant's alerting configuration"))
}

// ---------------------------------------------------------------- rules

pub(crate) async fn list_rules(shared: &Shared, request: OfTenant) -> Result<Vec<RuleRecord>, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    rules::load(&shared.pool, &config.tenant_id).await.map_err(db("reading rules"))
}

fn check_channels(config: &tenants::TenantConfig, channels: &[String]) -> Result<(), ServiceError> {
    for (index, id) in channels.iter().enumerate() {
        if !config.channels.iter().any(|channel| &channel.id == id) {
            return Err(crate::error::field_error(format!("channels[{index}]"), format!("no channel {id:?}")).into());
        }
    }
    Ok(())
}

pub(crate) async fn create_rule(shared: &Shared, request: CreateRule) -> Result<RuleRecord, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    rules::validate(&request.rule)?;
    check_channels(&config, &request.rule.channels)?;
    let id = rules::new_id("rule");
    let mut tx = shared.pool.begin().await.map_err(db("creating a rule"))?;
    rules::save(&mut tx, &id, &request.tenant_id, &request.rule, None, Utc::now()).await.map_err(db("creating a rule"))?;
    tenants::bump(&mut tx, &request.tenant_id).await.map_err(db("creating a rule"))?;
    tx.commit().await.map_err(db("creating a rule"))?;
    shared.tenants.forget(&request.tenant_id);
    find_rule(shared, &request.tenant_id, &id).await
}

pub(crate) async fn update_rule(shared: &Shared, request: UpdateRule) -> Result<RuleRecord, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    rules::validate(&request.rule)?;
    check_channels(&config, &request.rule.channels)?;
    let mut tx = shared.pool.begin().await.map_err(db("updating a rule"))?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM alert_rules WHERE id = ? AND tenant_id = ? FOR UPDATE")
        .bind(&request.id)
        .bind(&request.tenant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("updating a rule"))?;
    if exists.is_none() {
        return Err(not_found("rule", &request.id));
    }
    rules::save(&mut tx, &request.id, &request.tenant_id, &request.rule, None, Utc::now())
        .await
        .map_err(db("updating a rule"))?;
    tenants::bump(&mut tx, &request.tenant_id).await.map_err(db("updating a rule"))?;
    tx.commit().await.map_err(db("updating a rule"))?;
    shared.tenants.forget(&request.tenant_id);
    find_rule(shared, &request.tenant_id, &request.id).await
}

async fn find_rule(shared: &Shared, tenant_id: &str, id: &str) -> Result<RuleRecord, ServiceError> {
    rules::load(&shared.pool, tenant_id)
        .await
        .map_err(db("reading rules"))?
        .into_iter()
        .find(|rule| rule.id == id)
        .ok_or_else(|| not_found("rule", id))
}

/// Deletes a rule; its instances go at their host's next evaluation
/// (firing ones are resolved then).
pub(crate) async fn delete_rule(shared: &Shared, request: TenantItem) -> Result<(), ServiceError> {
    delete_item(shared, "alert_rules", "rule", &request).await
}

async fn delete_item(shared: &Shared, table: &str, what: &str, request: &TenantItem) -> Result<(), ServiceError> {
    tenant(&request.tenant_id)?;
    let mut tx = shared.pool.begin().await.map_err(db("deleting"))?;
    let sql = format!("DELETE FROM {table} WHERE id = ? AND tenant_id = ?");
    let done = sqlx::query(&sql).bind(&request.id).bind(&request.tenant_id).execute(&mut *tx).await.map_err(db("deleting"))?;
    if done.rows_affected() == 0 {
        return Err(not_found(what, &request.id));
    }
    tenants::bump(&mut tx, &request.tenant_id).await.map_err(db("deleting"))?;
    tx.commit().await.map_err(db("deleting"))?;
    shared.tenants.forget(&request.tenant_id);
    Ok(())
}

pub(crate) async fn validate_rule(_shared: &Shared, request: CheckRule) -> Result<RuleCheck, ServiceError> {
    tenant(&request.tenant_id)?;
    let checked = rules::check(&request.condition, request.clear.as_ref(), request.message.as_deref())?;
    Ok(RuleCheck { scope: rules::scope_name(checked.condition.scope()).to_owned() })
}

// ---------------------------------------------------------------- alerts

pub(crate) async fn list_alerts(shared: &Shared, request: ListAlerts) -> Result<Vec<Alert>, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    let mut query = sqlx::QueryBuilder::<MySql>::new(format!("SELECT {} FROM alerts WHERE tenant_id = ", store::ALERT_COLUMNS));
    query.push_bind(&request.tenant_id);
    if let Some(host) = &request.host_id {
        query.push(" AND host_id = ").push_bind(host);
    }
    if let Some(severity) = request.severity {
        query.push(" AND severity = ").push_bind(severity.as_str());
    }
    if let Some(status) = request.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    query.push(" ORDER BY fired_at DESC, id LIMIT 5000");
    let rows = query.build().fetch_all(&shared.pool).await.map_err(db("reading alerts"))?;
    let now = Utc::now();
    rows.iter()
        .map(|row| {
            let mut alert = store::read_alert(row)?;
            // shown silenced while a silence or window covers it now
            alert.silenced = config.silenced(&AlertKey::of(&alert), now);
            Ok(alert)
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("reading alerts"))
}

pub(crate) async fn history(shared: &Shared, request: AlertHistoryQuery) -> Result<AlertHistoryPage, ServiceError> {
    tenant(&request.tenant_id)?;
    let limit = request.limit.clamp(1, MAX_HISTORY_PAGE);
    let mut query = sqlx::QueryBuilder::<MySql>::new(
        "SELECT id AS seq, alert_id AS id, tenant_id, host_id, host_name, mount, container_name, service_name, rule_id, rule_name, \
         CAST(severity AS CHAR) AS severity, 'resolved' AS status, message, value, fingerprint, silenced, fired_at, acknowledged_at, \
         acknowledged_by, resolved_at, duration_seconds FROM alerts_history WHERE tenant_id = ",
    );
    query.push_bind(&request.tenant_id);
    if let Some(host) = &request.host_id {
        query.push(" AND host_id = ").push_bind(host);
    }
    if let Some(severity) = request.severity {
        query.push(" AND severity = ").push_bind(severity.as_str());
    }
    if let Some(rule) = &request.rule_id {
        query.push(" AND rule_id = ").push_bind(rule);
    }
    if let Some(before) = request.before {
        query.push(" AND alerts_history.id < ").push_bind(before);
    }
    // `id` alone would be the `alert_id AS id` alias here
    query.push(" ORDER BY alerts_history.id DESC LIMIT ").push_bind(limit + 1);
    let rows = query.build().fetch_all(&shared.pool).await.map_err(db("reading the alert history"))?;
    let mut items = rows
        .iter()
        .map(|row| {
            let mut alert = store::read_alert(row)?;
            alert.resolved_at = row.try_get("resolved_at")?;
            Ok(AlertHistoryEntry {
                seq: row.try_get("seq")?,
                alert,
                duration_seconds: u64::from(row.try_get::<u32, _>("duration_seconds")?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(db("reading the alert history"))?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_before = if more { items.last().map(|entry| entry.seq) } else { None };
    Ok(AlertHistoryPage { items, next_before })
}

pub(crate) async fn acknowledge(shared: &Shared, request: AcknowledgeAlert) -> Result<Alert, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    if request.by.is_empty() || request.by.len() > 255 {
        return Err(crate::error::field_error("by", "must be 1 to 255 bytes").into());
    }
    let now = Utc::now();
    let mut tx = shared.pool.begin().await.map_err(db("acknowledging an alert"))?;
    let locked = store::lock_alert(&mut tx, &request.alert_id, false).await.map_err(db("acknowledging an alert"))?;
    let Some(store::Locked { mut alert, notified, notified_channels }) =
        locked.filter(|l| l.alert.tenant_id == request.tenant_id)
    else {
        return Err(not_found("active alert", &request.alert_id));
    };
    if alert.status == AlertStatus::Acknowledged {
        return Err(ServiceError::new(
            ErrorCode::Conflict,
            format!("alert {:?} was already acknowledged by {}", alert.id, alert.acknowledged_by.as_deref().unwrap_or("someone")),
        ));
    }
    sqlx::query(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, next_repeat_at = NULL WHERE id = ?",
    )
    .bind(now)
    .bind(&request.by)
    .bind(&alert.id)
    .execute(&mut *tx)
    .await
    .map_err(db("acknowledging an alert"))?;
    alert.status = AlertStatus::Acknowledged;
    alert.acknowledged_at = Some(now);
    alert.acknowledged_by = Some(request.by.clone());
    let public_url = shared.config.dashboard_url();
    let mut rows = store::enqueue_bus(&mut tx, &alert, AlertTransition::Acknowledged, now, now)
        .await
        .map_err(db("acknowledging an alert"))?;
    if notified {
        for channel in config.channels.iter().filter(|c| notified_channels.contains(&c.id) && c.config.supports_acknowledge()) {
            store::enqueue_channel(&mut tx, &alert, &channel.id, NotificationEvent::Acknowledged, public_url, now)
                .await
                .map_err(db("acknowledging an alert"))?;
            rows += 1;
        }
    }
    tx.commit().await.map_err(db("acknowledging an alert"))?;
    if rows > 0 {
        shared.deliveries.notify_one();
    }
    alert.silenced = config.silenced(&AlertKey::of(&alert), now);
    Ok(alert)
}

// ---------------------------------------------------------------- channels

pub(crate) async fn list_channels(shared: &Shared, request: OfTenant) -> Result<Vec<ChannelRecord>, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    Ok(config.channels.iter().map(channels::Channel::record).collect())
}

pub(crate) async fn put_channels(shared: &Shared, request: PutChannels) -> Result<Vec<ChannelRecord>, ServiceError> {
    tenant(&request.tenant_id)?;
    tenants::ensure(&shared.pool, &request.tenant_id).await.map_err(db("saving channels"))?;
    let mut tx = shared.pool.begin().await.map_err(db("saving channels"))?;
    // read under the tenant's row lock: two PUTs at once apply one after the other
    sqlx::query("SELECT config_version FROM alert_tenants WHERE tenant_id = ? FOR UPDATE")
        .bind(&request.tenant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("saving channels"))?;
    let stored = channels::load(&mut *tx, &request.tenant_id).await.map_err(db("saving channels"))?;
    let prepared = channels::prepare(&request.channels, &stored).map_err(|mut error| {
        error.field = format!("channels{}", error.field);
        ServiceError::from(error)
    })?;
    channels::replace(&mut tx, &request.tenant_id, &prepared, Utc::now()).await.map_err(db("saving channels"))?;
    tenants::bump(&mut tx, &request.tenant_id).await.map_err(db("saving channels"))?;
    tx.commit().await.map_err(db("saving channels"))?;
    shared.tenants.forget(&request.tenant_id);
    Ok(prepared.iter().map(channels::Channel::record).collect())
}

/// Sends a test message to a channel now and says what the receiver answered.
pub(crate) async fn test_channel(shared: &Shared, request: TenantItem) -> Result<ChannelTestResult, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    let channel = config.channels.iter().find(|c| c.id == request.id).ok_or_else(|| not_found("channel", &request.id))?;
    let now = Utc::now();
    let id = rules::new_id("test");
    let alert = Alert {
        id: id.clone(),
        tenant_id: request.tenant_id.clone(),
        host_id: "test".into(),
        host_name: "vigil".into(),
        rule_id: "test".into(),
        rule_name: "Test notification".into(),
        severity: vigil_bus::messages::Severity::Info,
        status: AlertStatus::Firing,
        mount: None,
        container_name: None,
        service_name: None,
        message: format!("Test message from Vigil to channel {:?}", channel.name),
        value: None,
        fingerprint: id.clone(),
        silenced: false,
        fired_at: now,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
    };
    let notification = Notification { id: id.clone(), event: NotificationEvent::Test, alert, dashboard_url: None };
    let started = std::time::Instant::now();
    let result = shared.sender.send(&channel.config, &notification).await;
    let (status, error) = match &result {
        Ok(delivered) => (delivered.status, None),
        Err(error) => (error.status, Some(error.message.clone())),
    };
    let attempt =
        crate::outbox::Attempt { outbox_id: &id, tenant_id: &request.tenant_id, channel_id: Some(&channel.id), attempt: 1 };
    let recorded = attempt.record(&shared.pool, now, status, error.as_deref(), started.elapsed()).await;
    if let Err(db_error) = recorded {
        tracing::warn!(error = %db_error, "cannot record a test notification attempt");
    }
    Ok(ChannelTestResult { delivered: result.is_ok(), status, error })
}

/// Longest message `channels.notify` takes, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4000;
/// Longest de-duplication key `channels.notify` takes, in bytes.
pub const MAX_KEY_BYTES: usize = 200;

/// `prefix-` and 24 hex digits of SHA-256 over `parts` (NUL-separated): an
/// id that is the same whenever the parts are.
fn derived_id(prefix: &str, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("{prefix}-{}", &hex::encode(hash.finalize())[..24])
}

/// The channels `wanted` names among the tenant's: the one with that id,
/// else those with that name, else those of that type; none named: every
/// enabled channel. `NotFound` naming it when nothing matches, 422 when
/// only disabled channels do.
fn channels_named<'a>(
    config: &'a tenants::TenantConfig,
    wanted: Option<&str>,
) -> Result<Vec<&'a channels::Channel>, ServiceError> {
    let Some(wanted) = wanted else {
        return Ok(config.channels.iter().filter(|channel| channel.enabled).collect());
    };
    let by_id: Vec<&channels::Channel> = config.channels.iter().filter(|c| c.id == wanted).collect();
    let by_name: Vec<&channels::Channel> = config.channels.iter().filter(|c| c.name == wanted).collect();
    let by_kind: Vec<&channels::Channel> = config.channels.iter().filter(|c| c.config.kind() == wanted).collect();
    let matching = [by_id, by_name, by_kind].into_iter().find(|found| !found.is_empty()).unwrap_or_default();
    if matching.is_empty() {
        return Err(ServiceError::new(
            ErrorCode::NotFound,
            format!("no channel {wanted:?} (give a channel id, name or type: email, slack, webhook, ...)"),
        ));
    }
    let enabled: Vec<&channels::Channel> = matching.into_iter().filter(|c| c.enabled).collect();
    if enabled.is_empty() {
        return Err(crate::error::field_error("channel", format!("{wanted:?} names only disabled channels")).into());
    }
    Ok(enabled)
}

/// Queues a plain message to the tenant's channels through the outbox (sent
/// at least once, retried and recorded like alert notifications). Each
/// row's id is derived from the tenant, `key` and the channel, so the same
/// key asked again queues nothing new; the receipt names the channels.
pub(crate) async fn notify(shared: &Shared, request: NotifyChannels) -> Result<NotifyReceipt, ServiceError> {
    let config = config(shared, &request.tenant_id).await?;
    if request.message.trim().is_empty() || request.message.len() > MAX_MESSAGE_BYTES {
        return Err(crate::error::field_error("message", format!("must be 1 to {MAX_MESSAGE_BYTES} bytes of text")).into());
    }
    if request.key.is_empty() || request.key.len() > MAX_KEY_BYTES {
        return Err(crate::error::field_error("key", format!("must be 1 to {MAX_KEY_BYTES} bytes")).into());
    }
    if let Some(host) = &request.host_id {
        vigil_bus::validate("host", host).map_err(|error| ServiceError::new(ErrorCode::BadRequest, error.to_string()))?;
    }
    let targets = channels_named(&config, request.channel.as_deref())?;
    let host = match &request.host_id {
        Some(host) => {
            let names = shared.host_names.names(&[(request.tenant_id.as_str(), host.as_str())]).await;
            Some((host.clone(), names.get(host).cloned().unwrap_or_else(|| host.clone())))
        }
        None => None,
    };
    let now = Utc::now();
    let message_id = derived_id("msg", &[&request.tenant_id, &request.key]);
    let notification = Notification::message(
        &message_id,
        &request.tenant_id,
        host.as_ref().map(|(id, name)| (id.as_str(), name.as_str())),
        request.message.trim_end(),
        now,
    );
    let mut queued = 0;
    let mut tx = shared.pool.begin().await.map_err(db("queueing a message"))?;
    for channel in &targets {
        let id = derived_id("ntf", &[&request.tenant_id, &request.key, &channel.id]);
        let notification = Notification { id: id.clone(), ..notification.clone() };
        if store::enqueue_message(&mut tx, &id, &notification, &channel.id, now).await.map_err(db("queueing a message"))? {
            queued += 1;
        }
    }
    tx.commit().await.map_err(db("queueing a message"))?;
    if queued > 0 {
        shared.deliveries.notify_one();
    }
    tracing::info!(tenant_id = %request.tenant_id, key = %request.key, channels = targets.len(), queued, "message queued");
    Ok(NotifyReceipt { channels: targets.iter().map(|channel| channel.id.clone()).collect() })
}

// ---------------------------------------------------------------- silences and maintenance

pub(crate) async fn list_silences(shared: &Shared, request: OfTenant) -> Result<Vec<SilenceRecord>, ServiceError> {
    tenant(&request.tenant_id)?;
    let silences = silences::load_silences(&shared.pool, &request.tenant_id, Utc::now()).await.map_err(db("reading silences"))?;
    Ok(silences.into_iter().map(|silence| silence.record).collect())
}

pub(crate) async fn save_silence(shared: &Shared, request: SaveSilence) -> Result<SilenceRecord, ServiceError> {
    tenant(&request.tenant_id)?;
    silences::validate_silence(&request.silence)?;
    tenants::ensure(&shared.pool, &request.tenant_id).await.map_err(db("saving a silence"))?;
    let id = request.id.clone().unwrap_or_else(|| rules::new_id("silence"));
    let mut tx = shared.pool.begin().await.map_err(db("saving a silence"))?;
    if request.id.is_some()
        && !silences::owned(&mut tx, "alert_silences", &id, &request.tenant_id).await.map_err(db("saving a silence"))?
    {
        return Err(not_found("silence", &id));
    }
    silences::save_silence(&mut tx, &request.tenant_id, &id, &request.by, &request.silence, Utc::now())
        .await
        .map_err(db("saving a silence"))?;
    tenants::bump(&mut tx, &request.tenant_id).await.map_err(db("saving a silence"))?;
    tx.commit().await.map_err(db("saving a silence"))?;
    shared.tenants.forget(&request.tenant_id);
    let row = sqlx::query("SELECT created_by, created_at FROM alert_silences WHERE id = ?")
        .bind(&id)
        .fetch_one(&shared.pool)
        .await
        .map_err(db("reading a silence"))?;
    Ok(SilenceRecord {
        id,
        silence: request.silence,
        created_by: row.try_get("created_by").map_err(db("reading a silence"))?,
        created_at: row.try_get("created_at").map_err(db("reading a silence"))?,
    })
}

pub(crate) async fn delete_silence(shared: &Shared, request: TenantItem) -> Result<(), ServiceError> {
    delete_item(shared, "alert_silences", "silence", &request).await
}

pub(crate) async fn list_maintenance(shared: &Shared, request: OfTenant) -> Result<Vec<MaintenanceRecord>, ServiceError> {
    tenant(&request.tenant_id)?;
    let windows =
        silences::load_maintenance(&shared.pool, &request.tenant_id).await.map_err(db("reading maintenance windows"))?;
    let now = Utc::now();
    Ok(windows.iter().map(|window| window.record(now)).collect())
}

pub(crate) async fn save_maintenance(shared: &Shared, request: SaveMaintenance) -> Result<MaintenanceRecord, ServiceError> {
    tenant(&request.tenant_id)?;
    silences::validate_maintenance(&request.window)?;
    tenants::ensure(&shared.pool, &request.tenant_id).await.map_err(db("saving a maintenance window"))?;
    let id = request.id.clone().unwrap_or_else(|| rules::new_id("maintenance"));
    let mut tx = shared.pool.begin().await.map_err(db("saving a maintenance window"))?;
    if request.id.is_some()
        && !silences::owned(&mut tx, "alert_maintenance", &id, &request.tenant_id)
            .await
            .map_err(db("saving a maintenance window"))?
    {
        return Err(not_found("maintenance window", &id));
    }
    silences::save_maintenance(&mut tx, &request.tenant_id, &id, &request.by, &request.window, Utc::now())
        .await
        .map_err(db("saving a maintenance window"))?;
    tenants::bump(&mut tx, &request.tenant_id).await.map_err(db("saving a maintenance window"))?;
    tx.commit().await.map_err(db("saving a maintenance window"))?;
    shared.tenants.forget(&request.tenant_id);
    let windows =
        silences::load_maintenance(&shared.pool, &request.tenant_id).await.map_err(db("reading maintenance windows"))?;
    windows.iter().find(|w| w.id == id).map(|w| w.record(Utc::now())).ok_or_else(|| not_found("maintenance window", &id))
}

pub(crate) async fn delete_maintenance(shared: &Shared, request: TenantItem) -> Result<(), ServiceError> {
    delete_item(shared, "alert_maintenance", "maintenance window", &request).await
}
