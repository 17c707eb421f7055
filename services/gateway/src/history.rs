//! Fleet metrics (seed §4.2 "Métriques agrégées") and a host's long
//! history, answered by the collector's endpoints:
//!
//! - `GET /api/metrics/overview`: the tenant's fleet now (hosts by status,
//!   containers and services running, CPU, memory and disk of the online
//!   hosts) and its active alerts (asked of the alerter; `null` when none
//!   answers, the rest still comes);
//! - `GET /api/metrics/history?from=&to=&step=&source=&host=`: fleet
//!   aggregates per step over raw, hourly or daily rows;
//! - `GET /api/hosts/{id}/metrics/daily?from=&to=`: a host's daily rows
//!   (the host page's 1 y chart).
//!
//! Invariants (besides those of [`crate::rest`]): a bad history parameter is
//! a 422 naming it; `host` may be repeated or a comma list, and a host of
//! another tenant is a 404 (the collector checks each against the tenant).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vigil_bus::messages::{
    self, Alert, DailyPoint, DailyRange, FleetHistory, FleetHistoryQuery, FleetOverview, HistorySource, ListAlerts, OfTenant,
    MAX_HISTORY_HOSTS,
};
use vigil_bus::subjects::{alerter, collector};
use vigil_bus::ErrorCode;

use crate::error::ApiError;
use crate::rest::{host_id_from_path, parse_time, storable_times, time_window, ApiQuery, Caller};
use crate::Shared;

type AppState = Arc<Shared>;

/// How long the overview waits for the alerter before answering without alerts.
const ALERTS_WAIT: Duration = Duration::from_secs(2);
/// Default window of a history without `from`: the last 24 hours.
const DEFAULT_HISTORY_SPAN: Duration = Duration::from_secs(86_400);
/// Default window of `GET /api/hosts/{id}/metrics/daily`: a year and a day.
pub const DEFAULT_DAILY_SPAN: Duration = Duration::from_secs(366 * 86_400);

/// The tenant's active alerts (firing or acknowledged), by severity.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub(crate) struct AlertCounts {
    active: u64,
    acknowledged: u64,
    critical: u64,
    warning: u64,
    info: u64,
}

/// `GET /api/metrics/overview`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Overview {
    #[serde(flatten)]
    fleet: FleetOverview,
    /// `null` when the alerter did not answer.
    alerts: Option<AlertCounts>,
}

fn alert_counts(alerts: &[Alert]) -> AlertCounts {
    let mut counts = AlertCounts { active: alerts.len() as u64, ..AlertCounts::default() };
    for alert in alerts {
        match alert.severity {
            messages::Severity::Critical => counts.critical += 1,
            messages::Severity::Warning => counts.warning += 1,
            messages::Severity::Info => counts.info += 1,
        }
        if alert.status == messages::AlertStatus::Acknowledged {
            counts.acknowledged += 1;
        }
    }
    counts
}

#[utoipa::path(
    get,
    path = "/metrics/overview",
    tag = "metrics",
    responses((status = 200, description = "the tenant's fleet now: hosts, containers, services, usage of online hosts, active alerts", body = Overview)),
)]
pub(crate) async fn overview(State(shared): State<AppState>, caller: Caller) -> Result<Json<Overview>, ApiError> {
    let tenant = OfTenant { tenant_id: caller.tenant_id.clone() };
    let list = ListAlerts { tenant_id: caller.tenant_id.clone(), ..ListAlerts::default() };
    let (fleet, alerts) = tokio::join!(
        messages::request(&shared.nats, collector::METRICS_OVERVIEW, &tenant),
        tokio::time::timeout(ALERTS_WAIT, messages::request(&shared.nats, alerter::LIST_ALERTS, &list)),
    );
    let alerts = match alerts {
        Ok(Ok(alerts)) => Some(alert_counts(&alerts)),
        Ok(Err(error)) => {
            tracing::debug!(tenant_id = %caller.tenant_id, error = %error, "no active alerts for the overview (is an alerter running?)");
            None
        }
        Err(_) => None,
    };
    Ok(Json(Overview { fleet: fleet?, alerts }))
}

/// The query of `GET /api/metrics/history`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// Start of the window: RFC 3339 or unix seconds (default: 24 hours before `to`).
    #[param(value_type = Option<crate::rest::Instant>, inline)]
    from: Option<String>,
    /// End of the window (excluded): RFC 3339 or unix seconds (default: now).
    #[param(value_type = Option<crate::rest::Instant>, inline)]
    to: Option<String>,
    /// Seconds per point, or a duration (`5m`, `1h`, `1d`); `auto` or absent:
    /// picked for about 500 points.
    #[param(value_type = Option<String>, pattern = "^(auto|[1-9][0-9]{0,8}(s|m|h|d)?)$", example = "1h")]
    step: Option<String>,
    /// `raw`, `hourly` or `daily`; absent: picked from the step and the
    /// retentions (hourly needs whole hours, daily whole days).
    #[param(value_type = Option<HistorySource>, inline)]
    source: Option<String>,
    /// Only these hosts: repeated (`host=a&host=b`) or a comma list; absent: every host.
    #[param(value_type = Option<Vec<String>>, max_items = 200, pattern = "^[A-Za-z0-9_,-]{1,50}$")]
    host: Vec<String>,
}

fn unprocessable(message: String) -> ApiError {
    ApiError::new(ErrorCode::Unprocessable, message)
}

impl HistoryParams {
    /// The query's pairs, each known key once (but `host`); 422 naming an unknown one.
    fn from_pairs(pairs: Vec<(String, String)>) -> Result<HistoryParams, ApiError> {
        let mut params = HistoryParams::default();
        for (key, value) in pairs {
            let once = |slot: &mut Option<String>| {
                if slot.replace(value.clone()).is_some() {
                    return Err(unprocessable(format!("{key} is given twice; give it once")));
                }
                Ok(())
            };
            match key.as_str() {
                "from" => once(&mut params.from)?,
                "to" => once(&mut params.to)?,
                "step" => once(&mut params.step)?,
                "source" => once(&mut params.source)?,
                "host" => params.host.extend(value.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned)),
                other => return Err(unprocessable(format!("{other} is not a parameter; give from, to, step, source or host"))),
            }
        }
        Ok(params)
    }

    /// The collector's request, or a 422 naming the parameter.
    fn query(&self, tenant_id: String, now: DateTime<Utc>) -> Result<FleetHistoryQuery, ApiError> {
        let time = |name: &str, value: &str| parse_time(name, value).map_err(|e| unprocessable(e.message));
        // both clamped to what can be stored (a window ending at the epoch
        // has its default start there too, never before chrono's first day)
        let (first, last) = storable_times();
        let to = self.to.as_deref().map(|v| time("to", v)).transpose()?.unwrap_or(now).clamp(first, last);
        let span = chrono::Duration::from_std(DEFAULT_HISTORY_SPAN).unwrap_or(chrono::Duration::days(1));
        let from = match self.from.as_deref() {
            Some(value) => time("from", value)?.clamp(first, last),
            None => to.checked_sub_signed(span).unwrap_or(first).max(first),
        };
        if from >= to {
            return Err(unprocessable(format!(
                "from ({}) is not before to ({}); give a window that ends after it starts",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        let step = match self.step.as_deref().map(str::trim) {
            None | Some("auto") => 0,
            Some(text) => {
                let seconds = match text.parse::<u64>() {
                    Ok(seconds) => seconds,
                    Err(_) => vigil_bus::duration::parse(text)
                        .map_err(|_| {
                            unprocessable(format!("step={text:?} is not a number of seconds or a duration (5m, 1h, 1d)"))
                        })?
                        .as_secs(),
                };
                match u32::try_from(seconds) {
                    Ok(step) if step >= 1 => step,
                    _ => return Err(unprocessable(format!("step={text:?} must be from 1 second to 136 years"))),
                }
            }
        };
        let source = match self.source.as_deref().map(str::trim) {
            None => None,
            Some(text) => Some(text.parse::<HistorySource>().map_err(|e| unprocessable(format!("source: {e}")))?),
        };
        if self.host.len() > MAX_HISTORY_HOSTS {
            return Err(unprocessable(format!("host names {} hosts, more than {MAX_HISTORY_HOSTS}", self.host.len())));
        }
        for host in &self.host {
            vigil_bus::ids::validate("host", host).map_err(|e| unprocessable(format!("host: {e}")))?;
        }
        Ok(FleetHistoryQuery { tenant_id, host_ids: self.host.clone(), from, to, step, source })
    }
}

#[utoipa::path(
    get,
    path = "/metrics/history",
    tag = "metrics",
    params(HistoryParams),
    responses(
        (status = 200, description = "fleet aggregates per step, oldest first (buckets without data left out)", body = FleetHistory),
        (status = 404, description = "a host that is not the tenant's"),
        (status = 422, description = "a bad parameter, named"),
    ),
)]
pub(crate) async fn history(
    State(shared): State<AppState>,
    caller: Caller,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<FleetHistory>, ApiError> {
    let query = HistoryParams::from_pairs(pairs)?.query(caller.tenant_id, Utc::now())?;
    Ok(Json(messages::request(&shared.nats, collector::METRICS_HISTORY, &query).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DailyQuery {
    /// Start of the window: RFC 3339 or unix seconds (default: 366 days before `to`).
    #[param(value_type = Option<crate::rest::Instant>, inline)]
    from: Option<String>,
    /// End of the window: RFC 3339 or unix seconds (default: now).
    #[param(value_type = Option<crate::rest::Instant>, inline)]
    to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DailyAnswer {
    host_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: Vec<DailyPoint>,
}

/// Daily aggregates of the host (complete days; kept `collector.retention_daily`).
#[utoipa::path(
    get,
    path = "/hosts/{id}/metrics/daily",
    tag = "hosts",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$"), DailyQuery),
    responses((status = 200, description = "the host's daily aggregates in the window, oldest first", body = DailyAnswer)),
)]
pub(crate) async fn host_metrics_daily(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DailyQuery>,
) -> Result<Json<DailyAnswer>, ApiError> {
    host_id_from_path(&id)?;
    let (from, to) = time_window(query.from.as_deref(), query.to.as_deref(), DEFAULT_DAILY_SPAN, Utc::now())?;
    let range: DailyRange = DailyRange { tenant_id: caller.tenant_id, host_id: id.clone(), from, to };
    let points: Vec<DailyPoint> = messages::request(&shared.nats, collector::METRICS_DAILY, &range).await?;
    Ok(Json(DailyAnswer { host_id: id, from, to, points }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a=1&b=2` as the pairs axum's query gives.
    fn pairs(text: &str) -> Vec<(String, String)> {
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    fn parsed(text: &str) -> Result<FleetHistoryQuery, String> {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z").unwrap().with_timezone(&Utc);
        HistoryParams::from_pairs(pairs(text)).and_then(|p| p.query("acme".into(), now)).map_err(|e| {
            assert_eq!(e.status.as_u16(), 422, "{}", e.message);
            e.message
        })
    }

    #[test]
    fn hosts_may_be_repeated_or_a_comma_list_and_steps_durations() {
        let query = parsed("host=a,b&host=c&step=1h&source=hourly&from=1764979200").unwrap();
        assert_eq!(query.host_ids, vec!["a", "b", "c"]);
        assert_eq!((query.step, query.source), (3600, Some(HistorySource::Hourly)));
        assert_eq!(query.from.timestamp(), 1_764_979_200);
        let defaults = parsed("").unwrap();
        assert_eq!((defaults.step, defaults.source, (defaults.to - defaults.from).num_hours()), (0, None, 24));
        assert_eq!(parsed("step=300").unwrap().step, 300);
        assert_eq!(parsed("step=auto").unwrap().step, 0);
        // the earliest times are clamped, never overflow
        for to in ["to=0", "to=-62135596800"] {
            let empty = parsed(to).unwrap_err();
            assert!(empty.starts_with("from ("), "{to}: {empty}");
        }
    }

    #[test]
    fn each_bad_parameter_is_a_422_naming_it() {
        assert!(parsed("from=yesterday").unwrap_err().starts_with("from="), "from");
        assert!(parsed("to=noon").unwrap_err().starts_with("to="), "to");
        assert!(parsed("from=1764979200&to=1764979100").unwrap_err().starts_with("from ("));
        assert!(parsed("step=often").unwrap_err().starts_with("step=\"often\""));
        assert!(parsed("step=0").unwrap_err().starts_with("step=\"0\""));
        assert!(parsed("step=").unwrap_err().starts_with("step=\"\""));
        assert!(parsed("source=").unwrap_err().starts_with("source: \"\""));
        assert!(parsed("source=weekly").unwrap_err().starts_with("source: \"weekly\""));
        assert!(parsed("host=a.b").unwrap_err().starts_with("host: "));
        assert!(parsed("limit=5").unwrap_err().starts_with("limit is not a parameter"));
        assert!(parsed("step=1h&step=2h").unwrap_err().starts_with("step is given twice"));
    }
}
