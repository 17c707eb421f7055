//! Reads and writes of alert state, inside the caller's transaction: the
//! per-host lock, instances, alerts and their history, and the outbox rows
//! that notify each change (written in the same transaction, so a change is
//! never committed without its notifications, nor notified without being
//! committed).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, Row, Transaction};
use vigil_bus::messages::{Alert, AlertEvent, AlertStatus, AlertTransition, Severity};

use crate::evaluate::{Changes, HostState, Instance, InstanceState, Transition};
use crate::notify::{Notification, NotificationEvent};
use crate::tenants::TenantConfig;

pub type Tx<'c> = Transaction<'c, MySql>;

/// Locks the hosts' rows (creating those seen for the first time) in host
/// id order, so two alerters never wait for each other in a cycle, and
/// reads their instances in the same query.
pub async fn lock_hosts(
    tx: &mut Tx<'_>,
    hosts: &[(&str, &str)],
) -> Result<(HashMap<String, HostState>, HashMap<String, Instance>), sqlx::Error> {
    let (mut found, mut instances) = select_hosts(tx, hosts.iter().map(|(host, _)| *host), false).await?;
    let new: Vec<&(&str, &str)> = hosts.iter().filter(|(host, _)| !found.contains_key(*host)).collect();
    if !new.is_empty() {
        let mut insert = sqlx::QueryBuilder::<MySql>::new("INSERT IGNORE INTO alert_hosts (host_id, tenant_id, online) ");
        insert.push_values(&new, |mut row, (host, tenant)| {
            row.push_bind(*host).push_bind(*tenant).push_bind(true);
        });
        insert.build().execute(&mut **tx).await?;
        let (more_hosts, more_instances) = select_hosts(tx, new.iter().map(|(host, _)| *host), false).await?;
        found.extend(more_hosts);
        instances.extend(more_instances);
    }
    Ok((found, instances))
}

/// The hosts' rows and instances, locked (`skip_locked`: those another
/// transaction holds are left out).
async fn select_hosts<'a>(
    tx: &mut Tx<'_>,
    hosts: impl Iterator<Item = &'a str>,
    skip_locked: bool,
) -> Result<(HashMap<String, HostState>, HashMap<String, Instance>), sqlx::Error> {
    let mut sorted: Vec<&str> = hosts.collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut query = sqlx::QueryBuilder::<MySql>::new(
        "SELECT h.host_id, h.tenant_id, h.evaluated_at, h.online, h.rx_bytes, h.tx_bytes, \
         i.fingerprint, i.tenant_id AS instance_tenant, i.rule_id, i.label, CAST(i.state AS CHAR) AS state, i.pending_since, \
         i.missing_since, i.alert_id \
         FROM alert_hosts h LEFT JOIN alert_instances i ON i.host_id = h.host_id WHERE h.host_id IN (",
    );
    let mut ids = query.separated(", ");
    for host in &sorted {
        ids.push_bind(*host);
    }
    query.push(") ORDER BY h.host_id FOR UPDATE");
    if skip_locked {
        query.push(" SKIP LOCKED");
    }
    let rows = query.build().fetch_all(&mut **tx).await?;
    let (mut hosts, mut instances) = (HashMap::new(), HashMap::new());
    for row in &rows {
        let host_id: String = row.try_get("host_id")?;
        if !hosts.contains_key(&host_id) {
            hosts.insert(
                host_id.clone(),
                HostState {
                    host_id: host_id.clone(),
                    tenant_id: row.try_get("tenant_id")?,
                    evaluated_at: row.try_get("evaluated_at")?,
                    online: row.try_get("online")?,
                    rx_bytes: row.try_get("rx_bytes")?,
                    tx_bytes: row.try_get("tx_bytes")?,
                },
            );
        }
        if let Some(fingerprint) = row.try_get::<Option<String>, _>("fingerprint")? {
            let state: String = row.try_get("state")?;
            let instance = Instance {
                fingerprint: fingerprint.clone(),
                tenant_id: row.try_get("instance_tenant")?,
                rule_id: row.try_get("rule_id")?,
                host_id,
                label: row.try_get("label")?,
                state: if state == "firing" { InstanceState::Firing } else { InstanceState::Pending },
                pending_since: row.try_get("pending_since")?,
                missing_since: row.try_get("missing_since")?,
                alert_id: row.try_get("alert_id")?,
            };
            instances.insert(fingerprint, instance);
        }
    }
    Ok((hosts, instances))
}

/// Locks one host's row and reads its instances, if no one else holds it
/// (the sweep's way: a host busy in a batch is left for the next sweep).
pub async fn try_lock_host(
    tx: &mut Tx<'_>,
    host_id: &str,
) -> Result<Option<(HostState, HashMap<String, Instance>)>, sqlx::Error> {
    let (mut hosts, instances) = select_hosts(tx, std::iter::once(host_id), true).await?;
    Ok(hosts.remove(host_id).map(|host| (host, instances)))
}

pub async fn save_hosts<'a>(tx: &mut Tx<'_>, hosts: impl IntoIterator<Item = &'a HostState>) -> Result<(), sqlx::Error> {
    let hosts: Vec<&HostState> = hosts.into_iter().collect();
    if hosts.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::QueryBuilder::<MySql>::new(
        "INSERT INTO alert_hosts (host_id, tenant_id, evaluated_at, online, rx_bytes, tx_bytes) ",
    );
    query.push_values(&hosts, |mut row, host| {
        row.push_bind(&host.host_id)
            .push_bind(&host.tenant_id)
            .push_bind(host.evaluated_at)
            .push_bind(host.online)
            .push_bind(host.rx_bytes)
            .push_bind(host.tx_bytes);
    });
    query.push(
        " ON DUPLICATE KEY UPDATE evaluated_at = VALUES(evaluated_at), online = VALUES(online), \
         rx_bytes = VALUES(rx_bytes), tx_bytes = VALUES(tx_bytes)",
    );
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// What applying changes queued: whether the deliverer has work.
#[derive(Debug, Default, Clone, Copy)]
pub struct Queued {
    pub outbox_rows: usize,
}

/// Writes `changes`: instances (from `instances`, the state after the
/// evaluation), then each transition with its outbox rows.
pub async fn apply(
    tx: &mut Tx<'_>,
    tenants: &HashMap<String, std::sync::Arc<TenantConfig>>,
    instances: &HashMap<String, Instance>,
    changes: &Changes,
    dashboard_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Queued, sqlx::Error> {
    let mut queued = Queued::default();
    // alerts first: instances point at them
    for transition in &changes.transitions {
        match transition {
            Transition::Fired(fired) => {
                let Some(tenant) = tenants.get(&fired.alert.tenant_id) else { continue };
                let channels: Vec<&str> = if fired.alert.silenced {
                    Vec::new()
                } else {
                    tenant.channels_of(&fired.channels).map(|c| c.id.as_str()).collect()
                };
                insert_alert(tx, &fired.alert, !fired.alert.silenced, &channels, fired.next_repeat_at).await?;
                queued.outbox_rows += enqueue_bus(tx, &fired.alert, AlertTransition::Fired, fired.alert.fired_at, now).await?;
                for channel in &channels {
                    enqueue_channel(tx, &fired.alert, channel, NotificationEvent::Firing, dashboard_url, now).await?;
                    queued.outbox_rows += 1;
                }
            }
            Transition::Resolved { alert_id, at } => {
                queued.outbox_rows += resolve_alert(tx, alert_id, *at, dashboard_url, now).await?;
            }
        }
    }
    let (upserts, deletes): (Vec<&String>, Vec<&String>) = changes.dirty.iter().partition(|fp| instances.contains_key(*fp));
    if !deletes.is_empty() {
        let mut query = sqlx::QueryBuilder::<MySql>::new("DELETE FROM alert_instances WHERE fingerprint IN (");
        let mut ids = query.separated(", ");
        for fingerprint in &deletes {
            ids.push_bind(fingerprint.as_str());
        }
        query.push(")");
        query.build().execute(&mut **tx).await?;
    }
    if !upserts.is_empty() {
        let rows: Vec<&Instance> = upserts.iter().map(|fp| &instances[*fp]).collect();
        let mut query = sqlx::QueryBuilder::<MySql>::new(
            "INSERT INTO alert_instances (fingerprint, tenant_id, rule_id, host_id, label, state, pending_since, missing_since, alert_id) ",
        );
        query.push_values(&rows, |mut row, instance| {
            row.push_bind(&instance.fingerprint)
                .push_bind(&instance.tenant_id)
                .push_bind(&instance.rule_id)
                .push_bind(&instance.host_id)
                .push_bind(&instance.label)
                .push_bind(instance.state.as_str())
                .push_bind(instance.pending_since)
                .push_bind(instance.missing_since)
                .push_bind(&instance.alert_id);
        });
        query.push(
            " ON DUPLICATE KEY UPDATE state = VALUES(state), pending_since = VALUES(pending_since), \
             missing_since = VALUES(missing_since), alert_id = VALUES(alert_id)",
        );
        query.build().execute(&mut **tx).await?;
    }
    Ok(queued)
}

async fn insert_alert(
    tx: &mut Tx<'_>,
    alert: &Alert,
    notified: bool,
    channels: &[&str],
    next_repeat_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alerts (id, tenant_id, host_id, host_name, mount, container_name, service_name, rule_id, rule_name, severity, \
         status, message, value, fingerprint, silenced, notified, notified_channels, next_repeat_at, fired_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'firing', ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&alert.id)
    .bind(&alert.tenant_id)
    .bind(&alert.host_id)
    .bind(&alert.host_name)
    .bind(&alert.mount)
    .bind(&alert.container_name)
    .bind(&alert.service_name)
    .bind(&alert.rule_id)
    .bind(&alert.rule_name)
    .bind(alert.severity.as_str())
    .bind(&alert.message)
    .bind(&alert.value)
    .bind(&alert.fingerprint)
    .bind(alert.silenced)
    .bind(notified)
    .bind(notified.then(|| serde_json::to_string(channels).unwrap_or_else(|_| "[]".into())))
    .bind(next_repeat_at)
    .bind(alert.fired_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Columns of `alerts` read into an [`Alert`] by [`read_alert`].
pub const ALERT_COLUMNS: &str = "id, tenant_id, host_id, host_name, mount, container_name, service_name, rule_id, rule_name, \
     CAST(severity AS CHAR) AS severity, CAST(status AS CHAR) AS status, message, value, fingerprint, silenced, fired_at, \
     acknowledged_at, acknowledged_by";

pub fn read_alert(row: &MySqlRow) -> Result<Alert, sqlx::Error> {
    let severity: String = row.try_get("severity")?;
    let status: String = row.try_get("status")?;
    Ok(Alert {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        host_id: row.try_get("host_id")?,
        host_name: row.try_get("host_name")?,
        rule_id: row.try_get("rule_id")?,
        rule_name: row.try_get("rule_name")?,
        severity: severity.parse().unwrap_or(Severity::Warning),
        status: match status.as_str() {
            "acknowledged" => AlertStatus::Acknowledged,
            "resolved" => AlertStatus::Resolved,
            _ => AlertStatus::Firing,
        },
        mount: row.try_get("mount")?,
        container_name: row.try_get("container_name")?,
        service_name: row.try_get("service_name")?,
        message: row.try_get("message")?,
        value: row.try_get("value")?,
        fingerprint: row.try_get("fingerprint")?,
        silenced: row.try_get("silenced")?,
        fired_at: row.try_get("fired_at")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        resolved_at: None,
    })
}

/// An active alert, locked, with whether it was notified and to which channels.
pub struct Locked {
    pub alert: Alert,
    pub notified: bool,
    pub notified_channels: Vec<String>,
}

pub async fn lock_alert(tx: &mut Tx<'_>, alert_id: &str, skip_locked: bool) -> Result<Option<Locked>, sqlx::Error> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS}, notified, CAST(notified_channels AS CHAR) AS notified_channels FROM alerts WHERE id = ? FOR UPDATE{}",
        if skip_locked { " SKIP LOCKED" } else { "" }
    );
    let Some(row) = sqlx::query(&sql).bind(alert_id).fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let channels: Option<String> = row.try_get("notified_channels")?;
    Ok(Some(Locked {
        alert: read_alert(&row)?,
        notified: row.try_get("notified")?,
        notified_channels: channels.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default(),
    }))
}

/// Moves an alert to the history and queues its resolve notifications;
/// returns the outbox rows written.
async fn resolve_alert(
    tx: &mut Tx<'_>,
    alert_id: &str,
    at: DateTime<Utc>,
    dashboard_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let Some(Locked { mut alert, notified, notified_channels }) = lock_alert(tx, alert_id, false).await? else {
        return Ok(0);
    };
    let at = at.max(alert.fired_at);
    alert.status = AlertStatus::Resolved;
    alert.resolved_at = Some(at);
    sqlx::query(
        "INSERT IGNORE INTO alerts_history (alert_id, tenant_id, host_id, host_name, mount, container_name, service_name, rule_id, \
         rule_name, severity, message, value, fingerprint, silenced, fired_at, acknowledged_at, acknowledged_by, resolved_at, duration_seconds) \
         SELECT id, tenant_id, host_id, host_name, mount, container_name, service_name, rule_id, rule_name, severity, message, value, \
         fingerprint, silenced, fired_at, acknowledged_at, acknowledged_by, ?, ? FROM alerts WHERE id = ?",
    )
    .bind(at)
    .bind((at - alert.fired_at).num_seconds().max(0) as u32)
    .bind(&alert.id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM alerts WHERE id = ?").bind(&alert.id).execute(&mut **tx).await?;
    let mut rows = enqueue_bus(tx, &alert, AlertTransition::Resolved, at, now).await?;
    if notified {
        for channel in &notified_channels {
            enqueue_channel(tx, &alert, channel, NotificationEvent::Resolved, dashboard_url, now).await?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// Queues the alert event for the bus (`alerts.<tenant>.<host>.<event>`).
pub async fn enqueue_bus(
    tx: &mut Tx<'_>,
    alert: &Alert,
    event: AlertTransition,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let message = AlertEvent { event, at, alert: alert.clone() };
    insert_outbox(
        tx,
        &crate::rules::new_id("evt"),
        alert,
        None,
        event.as_str(),
        &serde_json::to_string(&message).unwrap_or_default(),
        now,
    )
    .await?;
    Ok(1)
}

/// Queues a notification of `alert` to one channel.
pub async fn enqueue_channel(
    tx: &mut Tx<'_>,
    alert: &Alert,
    channel_id: &str,
    event: NotificationEvent,
    dashboard_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let id = crate::rules::new_id("ntf");
    let notification = Notification {
        id: id.clone(),
        event,
        alert: alert.clone(),
        dashboard_url: dashboard_url.map(|base| format!("{}/alerts?alert={}", base.trim_end_matches('/'), alert.id)),
    };
    insert_outbox(
        tx,
        &id,
        alert,
        Some(channel_id),
        event.as_str(),
        &serde_json::to_string(&notification).unwrap_or_default(),
        now,
    )
    .await
}

/// Queues a plain message (`channels.notify`) to one channel under the
/// outbox id `id`, derived from the requester's key: `false` when that row
/// exists already (the same key asked again queues nothing new).
pub async fn enqueue_message(
    tx: &mut Tx<'_>,
    id: &str,
    notification: &Notification,
    channel_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO alert_outbox (id, tenant_id, alert_id, channel_id, event, payload, state, attempts, next_attempt_at, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON DUPLICATE KEY UPDATE id = id",
    )
    .bind(id)
    .bind(&notification.alert.tenant_id)
    .bind(&notification.alert.id)
    .bind(channel_id)
    .bind(notification.event.as_str())
    .bind(serde_json::to_string(notification).unwrap_or_default())
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

async fn insert_outbox(
    tx: &mut Tx<'_>,
    id: &str,
    alert: &Alert,
    channel_id: Option<&str>,
    event: &str,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alert_outbox (id, tenant_id, alert_id, channel_id, event, payload, state, attempts, next_attempt_at, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
    )
    .bind(id)
    .bind(&alert.tenant_id)
    .bind(&alert.id)
    .bind(channel_id)
    .bind(event)
    .bind(payload)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
