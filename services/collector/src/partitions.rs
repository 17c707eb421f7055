//! Daily partitions of `metrics_host`, `metrics_container`,
//! `metrics_service`, `metrics_custom` (`PARTITION BY RANGE
//! (TO_DAYS(timestamp))`) and `metrics_chunk` (by its `hour`), see the
//! migrations: `pYYYYMMDD` holds that UTC day; `p_past` and `p_future`
//! (`MAXVALUE`) catch the rest. A day's chunks hold that day's snapshots,
//! so the raw retention drops a chunk's partition with its raw rows'.
//!
//! Invariants:
//! - partitions exist for today .. today + `ahead_days`, split out of
//!   `p_future` with `REORGANIZE PARTITION` (rows already there move with it);
//! - a daily partition is dropped only when its whole day is older than the
//!   retention; `p_past` and `p_future` are never dropped;
//! - safe when several collectors run it at once: the current partitions are
//!   re-read from `information_schema.PARTITIONS` after any failure (e.g.
//!   "duplicate partition name" because another collector was first).

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use sqlx::MySqlPool;

use crate::error::PartitionError;
use crate::{CollectorError, Shared, PARTITION_INTERVAL};

/// Tables partitioned by day.
pub const PARTITIONED_TABLES: [&str; 5] =
    ["metrics_host", "metrics_container", "metrics_service", "metrics_custom", "metrics_chunk"];

const FUTURE: &str = "p_future";
const ATTEMPTS: usize = 3;

/// What one maintenance run changed, as `table.partition` names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionReport {
    pub created: Vec<String>,
    pub dropped: Vec<String>,
}

/// MariaDB's `TO_DAYS(date)`.
fn to_days(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) + 365
}

fn partition_name(date: NaiveDate) -> String {
    format!("p{}", date.format("%Y%m%d"))
}

fn daily_date(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix('p')?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

struct Existing {
    name: String,
    /// `None` for `MAXVALUE`.
    bound: Option<i64>,
}

async fn read(pool: &MySqlPool, table: &str) -> Result<Vec<Existing>, sqlx::Error> {
    let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT PARTITION_NAME, PARTITION_DESCRIPTION FROM information_schema.PARTITIONS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY PARTITION_ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, description)| {
            let name = name?;
            let bound = description.and_then(|d| d.trim().parse::<i64>().ok());
            Some(Existing { name, bound })
        })
        .collect())
}

/// Creates the missing daily partitions for today .. today + `ahead_days`
/// and drops the daily partitions entirely older than `retention`, on every
/// partitioned table.
pub async fn ensure_partitions(
    pool: &MySqlPool,
    ahead_days: u32,
    retention: Duration,
) -> Result<PartitionReport, CollectorError> {
    let mut report = PartitionReport::default();
    for table in PARTITIONED_TABLES {
        ensure_table(pool, table, ahead_days, retention, &mut report).await?;
    }
    Ok(report)
}

async fn ensure_table(
    pool: &MySqlPool,
    table: &str,
    ahead_days: u32,
    retention: Duration,
    report: &mut PartitionReport,
) -> Result<(), CollectorError> {
    let error = |source: PartitionError| CollectorError::Partition { table: table.to_owned(), source };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let now = Utc::now();
        let today = now.date_naive();
        let existing = read(pool, table).await.map_err(|e| error(PartitionError::Read(e)))?;
        if !existing.iter().any(|p| p.name == FUTURE && p.bound.is_none()) {
            return Err(error(PartitionError::NoFuture));
        }
        let highest = existing.iter().filter_map(|p| p.bound).max().unwrap_or(i64::MIN);
        let wanted: Vec<NaiveDate> = (0..=i64::from(ahead_days))
            .filter_map(|offset| today.checked_add_signed(chrono::Duration::days(offset)))
            .filter(|day| day.succ_opt().is_some_and(|next| to_days(next) > highest))
            .collect();
        let cutoff = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let expired: Vec<&str> = existing
            .iter()
            .filter(|p| {
                daily_date(&p.name)
                    .and_then(|day| day.succ_opt())
                    .is_some_and(|next| next.and_hms_opt(0, 0, 0).is_some_and(|end| end.and_utc() <= cutoff))
            })
            .map(|p| p.name.as_str())
            .collect();
        if wanted.is_empty() && expired.is_empty() {
            return Ok(());
        }

        let mut failure = None;
        if !wanted.is_empty() {
            let mut sql = format!("ALTER TABLE `{table}` REORGANIZE PARTITION {FUTURE} INTO (");
            for day in &wanted {
                let next = day.succ_opt().unwrap_or(*day);
                sql.push_str(&format!(
                    "PARTITION {} VALUES LESS THAN (TO_DAYS('{}')), ",
                    partition_name(*day),
                    next.format("%Y-%m-%d")
                ));
            }
            sql.push_str(&format!("PARTITION {FUTURE} VALUES LESS THAN MAXVALUE)"));
            match sqlx::query(&sql).execute(pool).await {
                Ok(_) => {
                    for day in &wanted {
                        tracing::info!(table, partition = %partition_name(*day), "metrics partition created");
                        report.created.push(format!("{table}.{}", partition_name(*day)));
                    }
                }
                Err(e) => {
                    tracing::debug!(table, attempt, error = %e, "cannot add partitions; re-reading them");
                    failure = Some(("add daily partitions", e));
                }
            }
        }
        if !expired.is_empty() {
            let sql = format!("ALTER TABLE `{table}` DROP PARTITION {}", expired.join(", "));
            match sqlx::query(&sql).execute(pool).await {
                Ok(_) => {
                    for name in &expired {
                        tracing::info!(table, partition = %name, "expired metrics partition dropped");
                        report.dropped.push(format!("{table}.{name}"));
                    }
                }
                Err(e) => {
                    tracing::debug!(table, attempt, error = %e, "cannot drop partitions; re-reading them");
                    failure = Some(("drop expired partitions", e));
                }
            }
        }
        match failure {
            None => return Ok(()),
            Some((action, source)) if attempt >= ATTEMPTS => {
                return Err(error(PartitionError::Alter { action, attempts: ATTEMPTS, source }))
            }
            Some(_) => {} // re-read the partitions: another collector may have changed them
        }
    }
}

/// Runs [`ensure_partitions`] every hour until stop.
pub(crate) async fn maintenance_loop(shared: Arc<Shared>, stop: vigil_runtime::CancellationToken) {
    let start = tokio::time::Instant::now() + PARTITION_INTERVAL;
    let mut interval = tokio::time::interval_at(start, PARTITION_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.cancelled() => return,
        }
        let config = &shared.config;
        if let Err(error) = ensure_partitions(&shared.pool, config.partitions_ahead_days, config.retention_raw).await {
            tracing::error!(error = %error, "metrics partition maintenance failed; retrying in an hour");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_days_matches_mariadb() {
        // SELECT TO_DAYS('2026-01-01') = 739982
        assert_eq!(to_days(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()), 739_982);
    }

    #[test]
    fn only_daily_names_parse_as_days() {
        assert_eq!(daily_date("p20261124"), NaiveDate::from_ymd_opt(2026, 11, 24));
        assert_eq!(daily_date("p_future"), None);
        assert_eq!(daily_date("p_past"), None);
        assert_eq!(daily_date("p2026112"), None);
    }
}
