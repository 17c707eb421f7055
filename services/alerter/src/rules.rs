//! Alert rules: checked and compiled once (when written and when loaded),
//! stored in `alert_rules`, and the defaults every new tenant starts with.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{MySql, Row};
use vigil_bus::messages::{ClearSpec, RuleInput, RuleRecord, Severity};

use crate::condition::{Condition, Scope};
use crate::error::{field_error, FieldError};
use crate::template::MessageTemplate;

/// The built-in rule driven by host online/offline events.
pub const HOST_OFFLINE: &str = "host_offline";
/// Longest `duration` a rule may ask for.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest `repeat_interval`.
pub const MAX_REPEAT: Duration = Duration::from_secs(30 * 24 * 3600);
/// The message of a rule that has none.
pub const DEFAULT_MESSAGE: &str = "{{rule.name}} on {{host.name}}: {{value}}";

/// A rule ready to evaluate.
pub struct Rule {
    pub record: RuleRecord,
    pub condition: Condition,
    /// When set, a firing alert resolves only once this holds.
    pub clear: Option<Condition>,
    pub message: MessageTemplate,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.record.id
    }
    pub fn name(&self) -> &str {
        &self.record.rule.name
    }
    pub fn severity(&self) -> Severity {
        self.record.rule.severity
    }
    pub fn duration(&self) -> Duration {
        self.record.rule.duration
    }
    pub fn enabled(&self) -> bool {
        self.record.rule.enabled
    }
}

pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Host => "host",
        Scope::Mount => "mount",
        Scope::Container => "container",
        Scope::Service => "service",
    }
}

/// What a condition, its clear and its message compile to.
pub struct Checked {
    pub condition: Condition,
    pub clear: Option<Condition>,
    pub message: Option<MessageTemplate>,
}

/// Compiles a condition with its optional clear and message; errors name
/// the field (`condition`, `clear`, `message`) and the position.
pub fn check(condition: &str, clear: Option<&ClearSpec>, message: Option<&str>) -> Result<Checked, FieldError> {
    let compiled = Condition::compile(condition).map_err(|error| field_error("condition", error.to_string()))?;
    let clear = match clear {
        None => None,
        Some(ClearSpec::Threshold(threshold)) => {
            Some(compiled.clear_below(*threshold).map_err(|error| field_error("clear", error.to_string()))?)
        }
        Some(ClearSpec::Condition(text)) => {
            let clear = Condition::compile(text).map_err(|error| field_error("clear", error.to_string()))?;
            if clear.scope() != Scope::Host && clear.scope() != compiled.scope() {
                return Err(field_error(
                    "clear",
                    format!(
                        "reads {} variables but the condition's instances are {}s",
                        scope_name(clear.scope()),
                        scope_name(compiled.scope())
                    ),
                ));
            }
            Some(clear)
        }
    };
    let message = match message {
        None => None,
        Some(text) => {
            let text = if text.trim().is_empty() { DEFAULT_MESSAGE } else { text };
            Some(MessageTemplate::compile(text).map_err(|error| field_error("message", error.to_string()))?)
        }
    };
    Ok(Checked { condition: compiled, clear, message })
}

/// Checks every field of a rule written by a user.
pub fn validate(input: &RuleInput) -> Result<Checked, FieldError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(field_error("name", format!("{:?} must be 1 to 100 characters", input.name)));
    }
    if input.description.len() > 2000 {
        return Err(field_error("description", "is longer than 2000 bytes"));
    }
    if input.duration.subsec_nanos() != 0 {
        return Err(field_error(
            "duration",
            format!("{} is not a whole number of seconds", vigil_bus::duration::format(input.duration)),
        ));
    }
    if input.duration > MAX_DURATION {
        return Err(field_error(
            "duration",
            format!("{} is longer than the 7d allowed", vigil_bus::duration::format(input.duration)),
        ));
    }
    if let Some(repeat) = input.repeat_interval {
        if repeat > MAX_REPEAT {
            return Err(field_error(
                "repeat_interval",
                format!("{} is longer than the 30d allowed", vigil_bus::duration::format(repeat)),
            ));
        }
        if !repeat.is_zero() && repeat < Duration::from_secs(60) {
            return Err(field_error("repeat_interval", "must be 0s (never) or at least 1m"));
        }
    }
    if input.channels.len() > 50 {
        return Err(field_error("channels", "lists more than 50 channels"));
    }
    if let Some(ClearSpec::Threshold(value)) = input.clear {
        if !value.is_finite() {
            return Err(field_error("clear", "is not a finite number"));
        }
    }
    check(&input.condition, input.clear.as_ref(), Some(&input.message))
}

/// The rules a new tenant starts with: the seed's four and the host-offline
/// rule, all editable.
pub fn defaults() -> Vec<(RuleInput, Option<&'static str>)> {
    let rule = |name: &str, condition: &str, duration: u64, severity, message: &str| RuleInput {
        name: name.to_owned(),
        description: String::new(),
        condition: condition.to_owned(),
        duration: Duration::from_secs(duration),
        severity,
        channels: Vec::new(),
        message: message.to_owned(),
        enabled: true,
        clear: None,
        repeat_interval: None,
    };
    vec![
        (rule("CPU high", "host.cpu.percent > 80", 300, Severity::Warning, "CPU at {{value}}% on {{host.name}}"), None),
        (
            rule(
                "Disk critical",
                "host.disk.percent > 95",
                60,
                Severity::Critical,
                "Disk {{mount}} at {{value}}% on {{host.name}}",
            ),
            None,
        ),
        (
            rule(
                "Container stopped",
                "container.status != 'running'",
                30,
                Severity::Critical,
                "Container {{container.name}} stopped on {{host.name}} ({{value}})",
            ),
            None,
        ),
        (
            rule(
                "Service stopped",
                "service.status != 'active'",
                60,
                Severity::Critical,
                "Service {{service.name}} stopped on {{host.name}} ({{value}})",
            ),
            None,
        ),
        (rule("Host offline", "host.status == 'offline'", 0, Severity::Critical, "{{host.name}} is offline"), Some(HOST_OFFLINE)),
    ]
}

/// A new id with a prefix: `rule-3f9a0c1d2e4b5a69`.
pub use vigil_runtime::new_id;

/// Writes a rule (its id given) in `tx`: a new one, or over the tenant's
/// rule of that id (the caller checked it is the tenant's; its tenant,
/// `builtin` and `created_at` stay).
pub async fn save(
    tx: &mut sqlx::Transaction<'_, MySql>,
    id: &str,
    tenant_id: &str,
    input: &RuleInput,
    builtin: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (threshold, clear_condition) = clear_columns(input.clear.as_ref());
    sqlx::query(
        "INSERT INTO alert_rules (id, tenant_id, name, description, `condition`, clear_threshold, clear_condition, \
         duration_seconds, severity, channels, message_template, enabled, repeat_interval_seconds, builtin, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE name = VALUES(name), description = VALUES(description), `condition` = VALUES(`condition`), \
         clear_threshold = VALUES(clear_threshold), clear_condition = VALUES(clear_condition), \
         duration_seconds = VALUES(duration_seconds), severity = VALUES(severity), channels = VALUES(channels), \
         message_template = VALUES(message_template), enabled = VALUES(enabled), \
         repeat_interval_seconds = VALUES(repeat_interval_seconds), updated_at = VALUES(updated_at)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(input.name.trim())
    .bind(&input.description)
    .bind(&input.condition)
    .bind(threshold)
    .bind(clear_condition)
    .bind(input.duration.as_secs() as u32)
    .bind(input.severity.as_str())
    .bind(serde_json::to_string(&input.channels).unwrap_or_else(|_| "[]".into()))
    .bind(&input.message)
    .bind(input.enabled)
    .bind(input.repeat_interval.map(|d| d.as_secs() as u32))
    .bind(builtin)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn clear_columns(clear: Option<&ClearSpec>) -> (Option<f64>, Option<&str>) {
    match clear {
        None => (None, None),
        Some(ClearSpec::Threshold(value)) => (Some(*value), None),
        Some(ClearSpec::Condition(text)) => (None, Some(text.as_str())),
    }
}

/// The tenant's rules as stored, oldest first.
pub async fn load(executor: impl sqlx::MySqlExecutor<'_>, tenant_id: &str) -> Result<Vec<RuleRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, name, description, `condition`, clear_threshold, clear_condition, duration_seconds, \
         CAST(severity AS CHAR) AS severity, CAST(channels AS CHAR) AS channels, message_template, enabled, \
         repeat_interval_seconds, builtin, created_at, updated_at \
         FROM alert_rules WHERE tenant_id = ? ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .fetch_all(executor)
    .await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let clear =
            match (row.try_get::<Option<f64>, _>("clear_threshold")?, row.try_get::<Option<String>, _>("clear_condition")?) {
                (Some(value), _) => Some(ClearSpec::Threshold(value)),
                (None, Some(text)) => Some(ClearSpec::Condition(text)),
                (None, None) => None,
            };
        let severity: String = row.try_get("severity")?;
        let channels: String = row.try_get("channels")?;
        let condition: String = row.try_get("condition")?;
        let scope = Condition::compile(&condition).map(|c| scope_name(c.scope())).unwrap_or("host");
        records.push(RuleRecord {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            rule: RuleInput {
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                condition,
                duration: Duration::from_secs(u64::from(row.try_get::<u32, _>("duration_seconds")?)),
                severity: severity.parse().unwrap_or(Severity::Warning),
                channels: serde_json::from_str(&channels).unwrap_or_default(),
                message: row.try_get("message_template")?,
                enabled: row.try_get("enabled")?,
                clear,
                repeat_interval: row
                    .try_get::<Option<u32>, _>("repeat_interval_seconds")?
                    .map(|s| Duration::from_secs(u64::from(s))),
            },
            builtin: row.try_get("builtin")?,
            scope: scope.to_owned(),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        });
    }
    Ok(records)
}

/// A stored rule compiled for evaluation; `None` (logged) when it no longer
/// compiles.
pub fn compile(record: RuleRecord) -> Option<Rule> {
    match check(&record.rule.condition, record.rule.clear.as_ref(), Some(&record.rule.message)) {
        Ok(Checked { condition, clear, message }) => {
            Some(Rule { condition, clear, message: message.expect("a message was given"), record })
        }
        Err(error) => {
            tracing::error!(rule = %record.id, tenant = %record.tenant_id, error = %error, "stored rule does not compile; skipped");
            None
        }
    }
}
