//! What starts runs besides a manual `scenarios.run`:
//! - alerts: the durable consumer `orchestrator` on `alerts.*.*.fired`; each
//!   fired alert starts a run of every enabled scenario of its tenant whose
//!   `trigger.alert` is its rule (and whose `trigger.hosts`, if any, hold
//!   its host), on its host. The batch's runs are recorded in one
//!   transaction and the events acked after its commit; a redelivered event
//!   finds its run (`trigger_key = alert:<alert id>`) and starts nothing.
//! - cron: every `tick_interval` each enabled cron scenario's latest due
//!   instant is claimed (a `scenario_cron_ticks` row, unique per scenario
//!   and instant, committed with the runs it starts), so several
//!   orchestrators start it once; one run per `trigger.hosts` (or one run
//!   without a host). Instants missed while no orchestrator ran are not
//!   caught up.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use vigil_bus::messages::{AlertEvent, AlertTransition};
use vigil_runtime::batch::{BatchStore, Committed, Refusal, StoreError};
use vigil_runtime::shutdown::sleep_or_cancelled;
use vigil_runtime::CancellationToken;

use crate::render::Host;
use crate::spec::{self, TriggerKind};
use crate::start::{self, Trigger};
use crate::{executor, store, Shared};

/// Fired alerts, stored as the runs they start.
pub(crate) struct AlertStore {
    pub shared: Arc<Shared>,
}

impl BatchStore for AlertStore {
    type Item = AlertEvent;
    /// The runs to drive.
    type After = Vec<String>;

    fn decode(&self, message: &jetstream::Message) -> Result<AlertEvent, Refusal> {
        let event: AlertEvent =
            serde_json::from_slice(&message.payload).map_err(|error| Refusal(format!("not an alert event: {error}")))?;
        if event.event != AlertTransition::Fired {
            return Err(Refusal(format!("a {} event on the fired subject", event.event.as_str())));
        }
        for (kind, id) in [("tenant", &event.alert.tenant_id), ("host", &event.alert.host_id)] {
            vigil_bus::ids::validate(kind, id).map_err(|error| Refusal(error.to_string()))?;
        }
        Ok(event)
    }

    async fn store(&self, items: &[AlertEvent]) -> Result<Committed<Vec<String>>, StoreError> {
        let shared = &self.shared;
        let mut tx = shared.pool.begin().await.map_err(StoreError::from_sqlx)?;
        // every (scenario, alert) pair, in scenario order: two orchestrators
        // lock scenario rows in the same order and never wait in a cycle
        let mut pairs = Vec::new();
        for event in items {
            let alert = &event.alert;
            let scenarios =
                store::alert_scenarios(&mut tx, &alert.tenant_id, &alert.rule_id).await.map_err(StoreError::from_sqlx)?;
            for scenario in scenarios {
                let hosts = &scenario.spec.trigger.hosts;
                if hosts.is_empty() || hosts.contains(&alert.host_id) {
                    pairs.push((scenario.id, event));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut drive = Vec::new();
        for (scenario_id, event) in pairs {
            let alert = &event.alert;
            let trigger = Trigger {
                kind: TriggerKind::Alert,
                key: Some(format!("alert:{}", alert.id)),
                host: Some(Host { id: alert.host_id.clone(), name: alert.host_name.clone() }),
                alert: Some(alert),
            };
            let started =
                start::start(&mut tx, shared, &scenario_id, trigger, Utc::now()).await.map_err(StoreError::from_sqlx)?;
            if let Some(started) = started.filter(|started| started.new && started.drive) {
                drive.push(started.run_id);
            }
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(Committed { refused: Default::default(), after: drive })
    }

    async fn after_commit(&self, runs: Vec<String>) {
        for run_id in runs {
            executor::spawn(&self.shared, run_id);
        }
    }
}

/// Host names for cron runs, asked of the collector (its id when it does not answer).
pub(crate) async fn host_name(
    nats: &async_nats::Client,
    tenant_id: &str,
    host_id: &str,
) -> Result<String, vigil_bus::ServiceError> {
    let request = vigil_bus::messages::GetHost { tenant_id: tenant_id.to_owned(), host_id: host_id.to_owned() };
    let asked = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        vigil_bus::messages::request(nats, vigil_bus::subjects::collector::GET_HOST, &request),
    )
    .await;
    match asked {
        Ok(Ok(record)) => Ok(record.name),
        Ok(Err(error)) if error.code == vigil_bus::ErrorCode::NotFound => Err(error),
        Ok(Err(error)) => {
            tracing::warn!(host_id, error = %error.message, "cannot read a host's name from the collector; using its id");
            Ok(host_id.to_owned())
        }
        Err(_) => Ok(host_id.to_owned()),
    }
}

/// How often old cron ticks are forgotten, and how old they must be.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
const KEEP_TICKS: chrono::Duration = chrono::Duration::days(7);

pub(crate) async fn cron_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let tick = chrono::Duration::from_std(shared.config.tick_interval).unwrap_or(chrono::Duration::seconds(1));
    // per scenario: the instant its schedule was looked at last
    let mut looked: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut pruned = std::time::Instant::now() - PRUNE_EVERY;
    loop {
        let now = Utc::now();
        match store::cron_scenarios(&shared.pool).await {
            Ok(scenarios) => {
                looked.retain(|id, _| scenarios.iter().any(|s| &s.id == id));
                for scenario in scenarios {
                    let from = *looked.get(&scenario.id).unwrap_or(&(now - tick));
                    looked.insert(scenario.id.clone(), now);
                    let Ok(schedule) = spec::parse_cron(scenario.spec.trigger.cron.as_deref().unwrap_or_default()) else {
                        continue;
                    };
                    // the latest instant due since the last look: no catching up a backlog
                    let Some(due) = schedule.after(&from).take_while(|at| *at <= now).last() else { continue };
                    if let Err(error) = fire(&shared, &scenario, due).await {
                        tracing::warn!(scenario_id = %scenario.id, due = %due, error = %error, "cannot start a cron run; the next instant will");
                    }
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot read cron scenarios"),
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = std::time::Instant::now();
            if let Err(error) = store::prune_ticks(&shared.pool, now - KEEP_TICKS).await {
                tracing::warn!(error = %error, "cannot forget old cron ticks");
            }
        }
        if sleep_or_cancelled(shared.config.tick_interval, &stop).await {
            return;
        }
    }
}

/// Claims `due` for the scenario and starts its runs, in one transaction.
async fn fire(
    shared: &Arc<Shared>,
    scenario: &vigil_bus::messages::ScenarioRecord,
    due: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut hosts = Vec::new();
    for host_id in &scenario.spec.trigger.hosts {
        let name = host_name(&shared.nats, &scenario.tenant_id, host_id).await.unwrap_or_else(|_| host_id.clone());
        hosts.push(Some(Host { id: host_id.clone(), name }));
    }
    if hosts.is_empty() {
        hosts.push(None);
    }
    let now = Utc::now();
    let mut tx = shared.pool.begin().await?;
    if !store::claim_tick(&mut tx, &scenario.id, due, &shared.instance, now).await? {
        return Ok(());
    }
    let mut drive = Vec::new();
    for host in hosts {
        let key = format!("cron:{}:{}", due.timestamp_millis(), host.as_ref().map_or("-", |h| h.id.as_str()));
        let trigger = Trigger { kind: TriggerKind::Cron, key: Some(key), host, alert: None };
        if let Some(started) = start::start(&mut tx, shared, &scenario.id, trigger, now).await? {
            if started.new && started.drive {
                drive.push(started.run_id);
            }
        }
    }
    tx.commit().await?;
    tracing::info!(scenario_id = %scenario.id, due = %due, runs = drive.len(), "cron instant claimed");
    for run_id in drive {
        executor::spawn(shared, run_id);
    }
    Ok(())
}
