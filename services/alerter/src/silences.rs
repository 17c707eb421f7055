//! Silences (one-off: a matcher between two times) and maintenance windows
//! (recurring: a cron schedule and a duration, for one host or every host).
//! A silenced alert is recorded and shown as silenced but not notified;
//! when the silence ends while it still fires, it is notified then.

use chrono::{DateTime, Utc};
use sqlx::{MySql, Row};
use vigil_bus::messages::{AlertMatcher, MaintenanceInput, MaintenanceRecord, Severity, SilenceInput, SilenceRecord};

use crate::error::{field_error, FieldError};

/// Longest silence.
pub const MAX_SILENCE: chrono::Duration = chrono::Duration::days(366);
/// Longest maintenance window.
pub const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// What an alert is, as silences match it.
pub struct AlertKey<'a> {
    pub rule_id: &'a str,
    pub host_id: &'a str,
    pub severity: Severity,
    pub mount: Option<&'a str>,
    pub container_name: Option<&'a str>,
    pub service_name: Option<&'a str>,
}

impl<'a> AlertKey<'a> {
    pub fn of(alert: &'a vigil_bus::messages::Alert) -> AlertKey<'a> {
        AlertKey {
            rule_id: &alert.rule_id,
            host_id: &alert.host_id,
            severity: alert.severity,
            mount: alert.mount.as_deref(),
            container_name: alert.container_name.as_deref(),
            service_name: alert.service_name.as_deref(),
        }
    }
}

fn matches(matcher: &AlertMatcher, alert: &AlertKey<'_>) -> bool {
    let same = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|want| Some(want) == have);
    same(&matcher.rule_id, Some(alert.rule_id))
        && same(&matcher.host_id, Some(alert.host_id))
        && matcher.severity.is_none_or(|severity| severity == alert.severity)
        && same(&matcher.mount, alert.mount)
        && same(&matcher.container_name, alert.container_name)
        && same(&matcher.service_name, alert.service_name)
}

pub struct Silence {
    pub record: SilenceRecord,
}

impl Silence {
    pub fn active(&self, at: DateTime<Utc>) -> bool {
        self.record.silence.starts_at <= at && at < self.record.silence.ends_at
    }

    pub fn silences(&self, alert: &AlertKey<'_>, at: DateTime<Utc>) -> bool {
        self.active(at) && matches(&self.record.silence.matcher, alert)
    }
}

pub struct Maintenance {
    pub id: String,
    pub input: MaintenanceInput,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    schedule: cron::Schedule,
}

impl Maintenance {
    /// Whether a window is open at `at`: a start in `(at - duration, at]`.
    pub fn open_at(&self, at: DateTime<Utc>) -> bool {
        if !self.input.enabled {
            return false;
        }
        let duration = chrono::Duration::from_std(self.input.duration).unwrap_or(chrono::Duration::zero());
        self.schedule.after(&(at - duration)).next().is_some_and(|start| start <= at)
    }

    pub fn silences(&self, host_id: &str, at: DateTime<Utc>) -> bool {
        self.input.host_id.as_deref().is_none_or(|host| host == host_id) && self.open_at(at)
    }

    pub fn next_start(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&at).next()
    }

    pub fn record(&self, at: DateTime<Utc>) -> MaintenanceRecord {
        MaintenanceRecord {
            id: self.id.clone(),
            window: self.input.clone(),
            active_now: self.open_at(at),
            next_start: self.next_start(at),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
        }
    }
}

/// A maintenance window's schedule: the one cron rule of every Vigil
/// schedule (`vigil_runtime::config::cron_schedule`: five fields, or six
/// with seconds, UTC), its error on the `schedule` field.
pub fn parse_schedule(text: &str) -> Result<cron::Schedule, FieldError> {
    vigil_runtime::config::cron_schedule(text).map_err(|message| field_error("schedule", message))
}

/// The years a silence may start in: MariaDB's DATETIME holds 1000–9999,
/// and a silence before 1970 could never have mattered.
const SILENCE_YEARS: std::ops::RangeInclusive<i32> = 1970..=9998;

pub fn validate_silence(input: &SilenceInput) -> Result<(), FieldError> {
    use chrono::Datelike;
    if !SILENCE_YEARS.contains(&input.starts_at.year()) {
        return Err(field_error("starts_at", format!("{} is not between the years 1970 and 9998", input.starts_at.to_rfc3339())));
    }
    if input.ends_at <= input.starts_at {
        return Err(field_error("ends_at", "must be after starts_at"));
    }
    if input.ends_at - input.starts_at > MAX_SILENCE {
        return Err(field_error("ends_at", "a silence lasts at most 366 days"));
    }
    if input.comment.len() > 2000 {
        return Err(field_error("comment", "is longer than 2000 bytes"));
    }
    validate_matcher(&input.matcher)
}

fn validate_matcher(matcher: &AlertMatcher) -> Result<(), FieldError> {
    for (field, value) in [("match.rule_id", &matcher.rule_id), ("match.host_id", &matcher.host_id)] {
        if let Some(value) = value {
            vigil_bus::validate("match", value).map_err(|error| field_error(field, error.to_string()))?;
        }
    }
    for (field, value) in [
        ("match.mount", &matcher.mount),
        ("match.container_name", &matcher.container_name),
        ("match.service_name", &matcher.service_name),
    ] {
        if value.as_ref().is_some_and(|value| value.is_empty() || value.len() > 255) {
            return Err(field_error(field, "must be 1 to 255 bytes"));
        }
    }
    Ok(())
}

pub fn validate_maintenance(input: &MaintenanceInput) -> Result<cron::Schedule, FieldError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(field_error("name", format!("{:?} must be 1 to 100 characters", input.name)));
    }
    if let Some(host) = &input.host_id {
        vigil_bus::validate("host", host).map_err(|error| field_error("host_id", error.to_string()))?;
    }
    if input.duration.is_zero() || input.duration > MAX_WINDOW {
        return Err(field_error("duration", "must be more than 0s and at most 7d"));
    }
    if input.comment.len() > 2000 {
        return Err(field_error("comment", "is longer than 2000 bytes"));
    }
    parse_schedule(&input.schedule)
}

/// The tenant's silences that have not ended.
pub async fn load_silences(
    executor: impl sqlx::MySqlExecutor<'_>,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Silence>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, CAST(matcher AS CHAR) AS matcher, starts_at, ends_at, comment, created_by, created_at \
         FROM alert_silences WHERE tenant_id = ? AND ends_at > ? ORDER BY starts_at, id",
    )
    .bind(tenant_id)
    .bind(now)
    .fetch_all(executor)
    .await?;
    let mut silences = Vec::with_capacity(rows.len());
    for row in rows {
        let matcher: String = row.try_get("matcher")?;
        silences.push(Silence {
            record: SilenceRecord {
                id: row.try_get("id")?,
                silence: SilenceInput {
                    matcher: serde_json::from_str(&matcher).unwrap_or_default(),
                    starts_at: row.try_get("starts_at")?,
                    ends_at: row.try_get("ends_at")?,
                    comment: row.try_get("comment")?,
                },
                created_by: row.try_get("created_by")?,
                created_at: row.try_get("created_at")?,
            },
        });
    }
    Ok(silences)
}

pub async fn load_maintenance(executor: impl sqlx::MySqlExecutor<'_>, tenant_id: &str) -> Result<Vec<Maintenance>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, host_id, schedule, duration_seconds, enabled, comment, created_by, created_at \
         FROM alert_maintenance WHERE tenant_id = ? ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .fetch_all(executor)
    .await?;
    let mut windows = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let input = MaintenanceInput {
            name: row.try_get("name")?,
            host_id: row.try_get("host_id")?,
            schedule: row.try_get("schedule")?,
            duration: std::time::Duration::from_secs(u64::from(row.try_get::<u32, _>("duration_seconds")?)),
            enabled: row.try_get("enabled")?,
            comment: row.try_get("comment")?,
        };
        match parse_schedule(&input.schedule) {
            Ok(schedule) => windows.push(Maintenance {
                id,
                input,
                created_by: row.try_get("created_by")?,
                created_at: row.try_get("created_at")?,
                schedule,
            }),
            Err(error) => tracing::error!(maintenance = %id, error = %error, "stored maintenance window does not parse; skipped"),
        }
    }
    Ok(windows)
}

/// Whether `table` has the tenant's row `id` (locked until the transaction ends).
pub async fn owned(tx: &mut sqlx::Transaction<'_, MySql>, table: &str, id: &str, tenant_id: &str) -> Result<bool, sqlx::Error> {
    let sql = format!("SELECT id FROM {table} WHERE id = ? AND tenant_id = ? FOR UPDATE");
    let found: Option<String> = sqlx::query_scalar(&sql).bind(id).bind(tenant_id).fetch_optional(&mut **tx).await?;
    Ok(found.is_some())
}

/// Writes a silence: a new one, or over the tenant's silence of that id (the
/// caller checked it with [`owned`]; its author and creation time stay).
pub async fn save_silence(
    tx: &mut sqlx::Transaction<'_, MySql>,
    tenant_id: &str,
    id: &str,
    by: &str,
    input: &SilenceInput,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alert_silences (id, tenant_id, matcher, starts_at, ends_at, comment, created_by, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE matcher = VALUES(matcher), starts_at = VALUES(starts_at), \
         ends_at = VALUES(ends_at), comment = VALUES(comment)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(serde_json::to_string(&input.matcher).unwrap_or_else(|_| "{}".into()))
    .bind(input.starts_at)
    .bind(input.ends_at)
    .bind(&input.comment)
    .bind(by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a maintenance window, as [`save_silence`] does a silence.
pub async fn save_maintenance(
    tx: &mut sqlx::Transaction<'_, MySql>,
    tenant_id: &str,
    id: &str,
    by: &str,
    input: &MaintenanceInput,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alert_maintenance (id, tenant_id, name, host_id, schedule, duration_seconds, enabled, comment, created_by, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), host_id = VALUES(host_id), \
         schedule = VALUES(schedule), duration_seconds = VALUES(duration_seconds), enabled = VALUES(enabled), comment = VALUES(comment)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(input.name.trim())
    .bind(&input.host_id)
    .bind(input.schedule.trim())
    .bind(input.duration.as_secs() as u32)
    .bind(input.enabled)
    .bind(&input.comment)
    .bind(by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AlertKey<'static> {
        AlertKey {
            rule_id: "rule-1",
            host_id: "h1",
            severity: Severity::Warning,
            mount: Some("/data"),
            container_name: None,
            service_name: None,
        }
    }

    fn silence(matcher: AlertMatcher) -> Silence {
        let now = Utc::now();
        Silence {
            record: SilenceRecord {
                id: "s1".into(),
                silence: SilenceInput {
                    matcher,
                    starts_at: now - chrono::Duration::minutes(1),
                    ends_at: now + chrono::Duration::minutes(1),
                    comment: String::new(),
                },
                created_by: "a@b.c".into(),
                created_at: now,
            },
        }
    }

    #[test]
    fn a_silence_starting_outside_storable_years_is_refused_naming_starts_at() {
        let now = Utc::now();
        for year in [1, 1969, 9999, 262_000] {
            let starts_at = chrono::NaiveDate::from_ymd_opt(year, 6, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
            let input = SilenceInput {
                matcher: AlertMatcher::default(),
                starts_at,
                ends_at: starts_at + chrono::Duration::hours(1),
                comment: String::new(),
            };
            let error = validate_silence(&input).expect_err("refused");
            assert_eq!(error.field, "starts_at", "{year}: {error:?}");
        }
        let input = SilenceInput {
            matcher: AlertMatcher { host_id: Some("h".into()), ..AlertMatcher::default() },
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            comment: String::new(),
        };
        assert!(validate_silence(&input).is_ok());
    }

    #[test]
    fn a_silence_matches_every_field_it_sets_and_only_while_active() {
        let now = Utc::now();
        assert!(silence(AlertMatcher::default()).silences(&key(), now));
        assert!(silence(AlertMatcher { host_id: Some("h1".into()), mount: Some("/data".into()), ..Default::default() })
            .silences(&key(), now));
        assert!(!silence(AlertMatcher { host_id: Some("h2".into()), ..Default::default() }).silences(&key(), now));
        assert!(!silence(AlertMatcher { severity: Some(Severity::Critical), ..Default::default() }).silences(&key(), now));
        assert!(!silence(AlertMatcher { container_name: Some("web".into()), ..Default::default() }).silences(&key(), now));
        assert!(!silence(AlertMatcher::default()).silences(&key(), now + chrono::Duration::minutes(2)));
    }

    #[test]
    fn a_maintenance_window_is_open_for_its_duration_after_each_start() {
        let schedule = parse_schedule("0 0 2 * * *").unwrap();
        let window = Maintenance {
            id: "m1".into(),
            input: MaintenanceInput {
                name: "nightly".into(),
                host_id: Some("h1".into()),
                schedule: "0 0 2 * * *".into(),
                duration: std::time::Duration::from_secs(3600),
                enabled: true,
                comment: String::new(),
            },
            created_by: "a@b.c".into(),
            created_at: Utc::now(),
            schedule,
        };
        let day = DateTime::parse_from_rfc3339("2026-12-06T00:00:00Z").unwrap().with_timezone(&Utc);
        assert!(!window.silences("h1", day + chrono::Duration::minutes(119)));
        assert!(window.silences("h1", day + chrono::Duration::minutes(120)));
        assert!(window.silences("h1", day + chrono::Duration::minutes(179)));
        assert!(!window.silences("h1", day + chrono::Duration::minutes(180)));
        assert!(!window.silences("h2", day + chrono::Duration::minutes(150)));
        assert_eq!(window.next_start(day), Some(day + chrono::Duration::hours(2)));
    }

    #[test]
    fn schedules_take_five_or_six_fields_and_name_what_is_wrong() {
        assert!(parse_schedule("30 2 * * *").is_ok());
        assert!(parse_schedule("0 30 2 * * Sun").is_ok());
        let error = parse_schedule("* *").unwrap_err();
        assert_eq!(error.field, "schedule");
        assert!(error.message.contains("2 fields"), "{}", error.message);
        assert!(parse_schedule("0 99 * * * *").is_err());
    }
}
