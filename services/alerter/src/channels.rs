//! Notification channels: stored in `notification_channels` with their
//! secrets, shown with the secrets masked, replaced as a set by a PUT.

use chrono::{DateTime, Utc};
use sqlx::{MySql, Row};
use vigil_bus::messages::{ChannelInput, ChannelRecord};

use crate::error::{field_error, FieldError};
use crate::notify::ChannelConfig;

/// Most channels of one tenant.
pub const MAX_CHANNELS: usize = 50;

#[derive(Clone)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub config: ChannelConfig,
}

impl Channel {
    /// As the REST API shows it: secrets masked.
    pub fn record(&self) -> ChannelRecord {
        let redacted = self.config.redacted();
        ChannelRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            enabled: self.enabled,
            kind: self.config.kind().to_owned(),
            config: redacted.get("config").cloned().unwrap_or(serde_json::Value::Null),
        }
    }
}

pub async fn load(executor: impl sqlx::MySqlExecutor<'_>, tenant_id: &str) -> Result<Vec<Channel>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, enabled, CAST(config AS CHAR) AS config FROM notification_channels \
         WHERE tenant_id = ? ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .fetch_all(executor)
    .await?;
    let mut channels = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let config: String = row.try_get("config")?;
        match serde_json::from_str::<ChannelConfig>(&config) {
            Ok(config) => channels.push(Channel { id, name: row.try_get("name")?, enabled: row.try_get("enabled")?, config }),
            Err(error) => tracing::error!(channel = %id, error = %error, "stored channel config does not parse; skipped"),
        }
    }
    Ok(channels)
}

/// Checks a PUT body against the stored channels: the channels to store
/// (new ones get an id, masked secrets keep the stored value).
pub fn prepare(inputs: &[ChannelInput], stored: &[Channel]) -> Result<Vec<Channel>, FieldError> {
    if inputs.len() > MAX_CHANNELS {
        return Err(field_error("channels", format!("{} channels; at most {MAX_CHANNELS}", inputs.len())));
    }
    let mut names = std::collections::HashSet::new();
    let mut channels = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let at = |field: &str| format!("[{index}].{field}");
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(field_error(at("name"), format!("{:?} must be 1 to 100 characters", input.name)));
        }
        if !names.insert(name.to_lowercase()) {
            return Err(field_error(at("name"), format!("{name:?} is used by another channel")));
        }
        let tagged = serde_json::json!({ "type": input.kind, "config": input.config });
        let mut config: ChannelConfig =
            serde_path_to_error::deserialize(tagged).map_err(|error| match error.path().to_string().as_str() {
                "." | "" => field_error(at("type"), error.inner().to_string()),
                path => field_error(at(path.trim_start_matches('.')), error.inner().to_string()),
            })?;
        let id = match &input.id {
            Some(id) => {
                let previous = stored
                    .iter()
                    .find(|channel| &channel.id == id)
                    .ok_or_else(|| field_error(at("id"), format!("no channel {id:?}")))?;
                config.keep_secrets(&previous.config);
                id.clone()
            }
            None => crate::rules::new_id("channel"),
        };
        config.validate().map_err(|error| field_error(at(&error.field), error.message))?;
        channels.push(Channel { id, name: name.to_owned(), enabled: input.enabled, config });
    }
    Ok(channels)
}

/// Makes the tenant's channels exactly `channels`.
pub async fn replace(
    tx: &mut sqlx::Transaction<'_, MySql>,
    tenant_id: &str,
    channels: &[Channel],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let keep: Vec<&str> = channels.iter().map(|c| c.id.as_str()).collect();
    let mut delete = sqlx::QueryBuilder::<MySql>::new("DELETE FROM notification_channels WHERE tenant_id = ");
    delete.push_bind(tenant_id);
    if !keep.is_empty() {
        delete.push(" AND id NOT IN (");
        let mut ids = delete.separated(", ");
        for id in &keep {
            ids.push_bind(*id);
        }
        delete.push(")");
    }
    delete.build().execute(&mut **tx).await?;
    for channel in channels {
        let config = serde_json::to_string(&channel.config).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO notification_channels (id, tenant_id, name, type, config, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE name = VALUES(name), type = VALUES(type), config = VALUES(config), enabled = VALUES(enabled)",
        )
        .bind(&channel.id)
        .bind(tenant_id)
        .bind(&channel.name)
        .bind(channel.config.kind())
        .bind(config)
        .bind(channel.enabled)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
