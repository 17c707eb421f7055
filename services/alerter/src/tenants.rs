//! Each tenant's alerting configuration (rules compiled, channels,
//! silences, maintenance windows), cached per alerter and reloaded when the
//! tenant's `alert_tenants.config_version` moves: every write of any of them
//! bumps it in its transaction; each alerter reads the versions of a batch's
//! tenants (one indexed query) when it last did more than [`RECHECK`] ago,
//! so a change made through another alerter is seen within a second, and
//! one made through this alerter at once ([`Tenants::forget`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlPool, Row};

use crate::channels::{self, Channel};
use crate::rules::{self, Rule};
use crate::silences::{self, AlertKey, Maintenance, Silence};

pub struct TenantConfig {
    pub tenant_id: String,
    pub version: u64,
    pub rules: Vec<Arc<Rule>>,
    pub channels: Vec<Channel>,
    /// Silences that had not ended when loaded (an ended one matches nothing).
    pub silences: Vec<Silence>,
    pub maintenance: Vec<Maintenance>,
}

impl TenantConfig {
    pub fn rule(&self, id: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|rule| rule.id() == id)
    }

    /// Whether a silence or a maintenance window holds `alert`'s
    /// notifications back at `at`.
    pub fn silenced(&self, alert: &AlertKey<'_>, at: DateTime<Utc>) -> bool {
        self.silences.iter().any(|silence| silence.silences(alert, at))
            || self.maintenance.iter().any(|window| window.silences(alert.host_id, at))
    }

    /// The enabled channels a rule notifies: those it lists, or every
    /// enabled channel when it lists none.
    pub fn channels_of<'a>(&'a self, rule_channels: &'a [String]) -> impl Iterator<Item = &'a Channel> + 'a {
        self.channels
            .iter()
            .filter(move |channel| channel.enabled && (rule_channels.is_empty() || rule_channels.contains(&channel.id)))
    }
}

/// How long a cached configuration is used before its version is read
/// again: another alerter's change is seen within this (this alerter's own
/// changes at once, see [`Tenants::forget`]).
pub const RECHECK: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Tenants {
    /// Each tenant's configuration and when its version was last read.
    cache: Mutex<HashMap<String, (Arc<TenantConfig>, Instant)>>,
}

impl Tenants {
    /// The configuration of each tenant of `tenant_ids`, seeding tenants seen
    /// for the first time with the default rules. Versions are read (one
    /// query for all) only for tenants not checked within [`RECHECK`].
    pub async fn get_many(
        &self,
        pool: &MySqlPool,
        tenant_ids: &BTreeSet<&str>,
    ) -> Result<HashMap<String, Arc<TenantConfig>>, sqlx::Error> {
        let mut found = HashMap::with_capacity(tenant_ids.len());
        let mut stale = Vec::new();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for tenant_id in tenant_ids {
                match cache.get(*tenant_id) {
                    Some((config, checked)) if checked.elapsed() < RECHECK => {
                        found.insert((*tenant_id).to_owned(), config.clone());
                    }
                    _ => stale.push(*tenant_id),
                }
            }
        }
        if stale.is_empty() {
            return Ok(found);
        }
        let mut query =
            sqlx::QueryBuilder::<MySql>::new("SELECT tenant_id, config_version FROM alert_tenants WHERE tenant_id IN (");
        let mut ids = query.separated(", ");
        for id in &stale {
            ids.push_bind(*id);
        }
        query.push(")");
        let versions: HashMap<String, u64> = query
            .build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get::<String, _>("tenant_id")?, row.try_get::<u64, _>("config_version")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        for tenant_id in stale {
            let version = match versions.get(tenant_id) {
                Some(version) => *version,
                None => seed(pool, tenant_id).await?,
            };
            let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(tenant_id).map(|(config, _)| config.clone());
            let config = match cached {
                Some(config) if config.version == version => config,
                _ => Arc::new(load(pool, tenant_id, version).await?),
            };
            self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant_id.to_owned(), (config.clone(), Instant::now()));
            found.insert(tenant_id.to_owned(), config);
        }
        Ok(found)
    }

    /// Drops the cached configuration (after this alerter changed it).
    pub fn forget(&self, tenant_id: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(tenant_id);
    }

    pub async fn get(&self, pool: &MySqlPool, tenant_id: &str) -> Result<Arc<TenantConfig>, sqlx::Error> {
        let mut many = self.get_many(pool, &BTreeSet::from([tenant_id])).await?;
        Ok(many.remove(tenant_id).expect("asked for"))
    }
}

async fn load(pool: &MySqlPool, tenant_id: &str, version: u64) -> Result<TenantConfig, sqlx::Error> {
    let now = Utc::now();
    let rules = rules::load(pool, tenant_id).await?.into_iter().filter_map(rules::compile).map(Arc::new).collect();
    Ok(TenantConfig {
        tenant_id: tenant_id.to_owned(),
        version,
        rules,
        channels: channels::load(pool, tenant_id).await?,
        silences: silences::load_silences(pool, tenant_id, now).await?,
        maintenance: silences::load_maintenance(pool, tenant_id).await?,
    })
}

/// Creates the tenant's row and default rules, once (two alerters seeing a
/// new tenant at once: one inserts, the other finds the row). Returns the
/// version.
async fn seed(pool: &MySqlPool, tenant_id: &str) -> Result<u64, sqlx::Error> {
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query("INSERT IGNORE INTO alert_tenants (tenant_id, seeded_at, config_version) VALUES (?, ?, 1)")
        .bind(tenant_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if inserted {
        for (input, builtin) in rules::defaults() {
            rules::save(&mut tx, &rules::new_id("rule"), tenant_id, &input, builtin, now).await?;
        }
        tracing::info!(tenant = %tenant_id, "new tenant: default alert rules created");
    }
    let version: u64 = sqlx::query_scalar("SELECT config_version FROM alert_tenants WHERE tenant_id = ?")
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(version)
}

/// Ensures the tenant exists (seeded) before a write of its configuration.
pub async fn ensure(pool: &MySqlPool, tenant_id: &str) -> Result<(), sqlx::Error> {
    let known: Option<u64> = sqlx::query_scalar("SELECT config_version FROM alert_tenants WHERE tenant_id = ?")
        .bind(tenant_id)
        .fetch_optional(pool)
        .await?;
    if known.is_none() {
        seed(pool, tenant_id).await?;
    }
    Ok(())
}

/// Marks the tenant's configuration changed (in the transaction of the change).
pub async fn bump(tx: &mut sqlx::Transaction<'_, MySql>, tenant_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE alert_tenants SET config_version = config_version + 1 WHERE tenant_id = ?")
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
