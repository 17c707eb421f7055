//! Remote actions (docs/actions.md): the orders the gateway hands over on
//! the `Connect` stream, checked, decided by the agent's own policy, run at
//! most once, and reported.
//!
//! An order goes through, in this order, each refusal answered with an
//! `ActionResult` (and logged at warn):
//! 1. its id (`[A-Za-z0-9_-]{1,50}`) and its Ed25519 signature, checked with
//!    the key pinned in `state_dir/actions.pub` (no key, unsigned or not
//!    verifying: `denied`);
//! 2. its tenant and host: this agent's (else `denied`);
//! 3. the record of its id ([`record`]): a known id is answered from it
//!    (final report, or `running` while it runs) and never run again;
//! 4. its expiry: `expires_at` passed, `expired` (never run);
//! 5. `actions.enabled`, its params and the policy ([`policy`]): `denied`
//!    with the deciding rule;
//! 6. run: at most `actions.max_concurrent` at once (the others wait; the
//!    expiry is checked again when one's turn comes), the record written
//!    `running` and a `running` report sent before it starts, the final
//!    record and report after. Commands through [`run`], containers through
//!    their engine's API ([`engines`]).
//!
//! Invariants: the gRPC receive loop only hands an order over (an unbounded
//! channel) and never waits on an action; reports leave through a channel the
//! current connection drains ([`Link`]), so a report made while the agent
//! is disconnected goes out on the next connection; an id runs at most once,
//! across restarts; every decision is logged with the action id, requester,
//! type, canonical command and deciding rule.

pub mod engines;
pub mod policy;
pub mod record;
pub mod run;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch, Semaphore};
use vigil_bus::messages::{ActionOrder, ActionType};
use vigil_proto::{Action, ActionResult};
use vigil_runtime::shutdown::{sleep_or_cancelled, CancellationToken};

pub use policy::{Canonical, Decision, Policy, ServiceManager, Target};
pub use record::{Record, Records};

use crate::config::{ActionsConfig, Config, ContainersConfig, MAX_ACTION_TIMEOUT};
use crate::containers::{self, Engine};

/// The action key pinned by `sovigilant init`, in `state_dir`.
pub const PINNED_KEY_FILE: &str = vigil_bus::actions::PUBLIC_KEY_FILE;

/// `state_dir/actions.pub`.
pub fn pinned_key_path(state_dir: &Path) -> PathBuf {
    state_dir.join(PINNED_KEY_FILE)
}

/// The policy actions are decided under now: the config, the service
/// manager (detected for `auto`) and the container engines of
/// `collection.containers` (the sockets present, for `auto`), in order.
pub fn current_policy(actions: &ActionsConfig, containers: &ContainersConfig) -> Policy {
    Policy {
        enabled: actions.enabled,
        allowed: actions.allowed.clone(),
        denied: actions.denied.clone(),
        service_manager: ServiceManager::resolve(actions.service_manager),
        engines: containers::engines(&containers::endpoints(containers)),
    }
}

/// The policy sent in `RegisterRequest.actions`.
pub fn registered_policy(config: &Config) -> vigil_proto::ActionPolicy {
    let policy = current_policy(&config.actions, &config.collection.containers);
    vigil_proto::ActionPolicy {
        enabled: policy.enabled,
        allowed: policy.allowed,
        denied: policy.denied,
        service_manager: policy.service_manager.as_str().to_owned(),
        engines: policy.engines.iter().map(|engine| engine.name().to_owned()).collect(),
    }
}

/// The sender's side of the actions: where orders go, where reports come from.
#[derive(Debug)]
pub struct Link {
    pub orders: mpsc::UnboundedSender<Action>,
    pub results: mpsc::UnboundedReceiver<ActionResult>,
}

/// Who this agent is, for the tenant and host check.
#[derive(Debug, Clone)]
pub struct Identity {
    pub host_id: String,
    /// Learnt from `RegisterResponse.tenant_id` (kept in `state_dir/tenant_id`).
    pub tenant: watch::Receiver<Option<String>>,
}

/// Starts the actions worker (orders in, reports out) until `shutdown`.
pub fn start(config: &Config, identity: Identity, shutdown: CancellationToken) -> Link {
    let (orders_tx, orders_rx) = mpsc::unbounded_channel();
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let worker = Worker::new(config, identity, results_tx);
    tokio::spawn(worker.run(orders_rx, shutdown));
    Link { orders: orders_tx, results: results_rx }
}

/// Checks orders one at a time (so a repeated id never passes twice) and
/// spawns the accepted ones.
struct Worker {
    shared: Arc<Shared>,
}

struct Shared {
    actions: ActionsConfig,
    containers: ContainersConfig,
    state_dir: PathBuf,
    records: Records,
    identity: Identity,
    results: mpsc::UnboundedSender<ActionResult>,
    /// Accepted ids not yet final: `None` while waiting for their turn, the
    /// `running` report once started.
    active: Mutex<HashMap<String, Option<ActionResult>>>,
    permits: Arc<Semaphore>,
}

/// An order as logged.
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    requested_by: String,
    action_type: String,
}

impl Worker {
    fn new(config: &Config, identity: Identity, results: mpsc::UnboundedSender<ActionResult>) -> Self {
        for entry in config.actions.allowed.iter().filter(|entry| entry.starts_with("exec") && !policy::names_a_program(entry)) {
            tracing::warn!(entry = %entry, "this actions.allowed entry allows no exec: an exec entry must be `exec <program> ...` with no wildcard in the program");
        }
        let shared = Shared {
            actions: config.actions.clone(),
            containers: config.collection.containers.clone(),
            state_dir: config.state_dir.clone(),
            records: Records::new(&config.state_dir),
            identity,
            results,
            active: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(config.actions.max_concurrent)),
        };
        Worker { shared: Arc::new(shared) }
    }

    async fn run(self, mut orders: mpsc::UnboundedReceiver<Action>, shutdown: CancellationToken) {
        let records = self.shared.records.clone();
        let started = blocking(move || {
            let interrupted = records.fail_interrupted();
            let pruned = records.prune(SystemTime::now());
            (interrupted, pruned)
        })
        .await;
        match started {
            Ok((Ok(interrupted), pruned)) => {
                for id in interrupted {
                    tracing::warn!(action_id = %id, "action marked failed: {}", record::RESTARTED);
                }
                if let Err(error) = pruned {
                    tracing::warn!(error = %error, "cannot prune old action records");
                }
            }
            Ok((Err(error), _)) | Err(error) => {
                tracing::error!(dir = %self.shared.records.dir().display(), error = %error, "cannot read the action records");
            }
        }
        let prune_shutdown = shutdown.clone();
        let records = self.shared.records.clone();
        tokio::spawn(async move {
            while !sleep_or_cancelled(record::PRUNE_EVERY, &prune_shutdown).await {
                let records = records.clone();
                match blocking(move || records.prune(SystemTime::now())).await {
                    Ok(Ok(removed)) => tracing::debug!(removed, "old action records pruned"),
                    Ok(Err(error)) | Err(error) => tracing::warn!(error = %error, "cannot prune old action records"),
                }
            }
        });
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                order = orders.recv() => match order {
                    Some(order) => self.shared.handle(order).await,
                    None => return,
                },
            }
        }
    }
}

/// Runs blocking file work off the (current-thread) runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, std::io::Error> {
    tokio::task::spawn_blocking(work).await.map_err(std::io::Error::other)
}

fn report(id: &str, status: &str, error: String) -> ActionResult {
    ActionResult { action_id: id.to_owned(), status: status.to_owned(), error, ..ActionResult::default() }
}

impl Shared {
    fn send(&self, result: ActionResult) {
        // the receiver lives as long as the agent's sender
        let _ = self.results.send(result);
    }

    /// A refusal: logged at warn, answered, recorded when `record` (a
    /// signed order for this host: its id is then settled).
    async fn refuse(&self, seen: &Seen, result: ActionResult, record: bool) {
        tracing::warn!(
            action_id = %seen.id,
            requested_by = %seen.requested_by,
            action_type = %seen.action_type,
            command = %result.command,
            rule = %result.rule,
            status = %result.status,
            error = %result.error,
            "action refused"
        );
        if record {
            self.write_record(seen, &result).await;
        }
        self.send(result);
    }

    async fn write_record(&self, seen: &Seen, result: &ActionResult) -> bool {
        let records = self.records.clone();
        let record = Record::from_result(result, &seen.requested_by, &seen.action_type);
        match blocking(move || records.write(&record)).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) | Err(error) => {
                tracing::error!(action_id = %seen.id, path = %self.records.path(&seen.id).display(), error = %error, "cannot write the action record");
                false
            }
        }
    }

    async fn handle(self: &Arc<Self>, action: Action) {
        let seen = Seen { id: action.id.clone(), requested_by: action.requested_by.clone(), action_type: action.r#type.clone() };
        tracing::info!(action_id = %seen.id, requested_by = %seen.requested_by, action_type = %seen.action_type, "action received");

        // 1. the id, the signature
        if let Err(error) = vigil_bus::ids::validate("action", &action.id) {
            return self.refuse(&seen, report(&action.id, "denied", error.to_string()), false).await;
        }
        let order = match self.verify(&action).await {
            Ok(order) => order,
            Err(reason) => return self.refuse(&seen, report(&action.id, "denied", reason), false).await,
        };

        // 2. this agent's tenant and host
        let tenant = self.identity.tenant.borrow().clone();
        let mismatch = match tenant {
            None => Some(
                "this agent has not learnt its tenant from the gateway yet (its registration is pending); retry later".to_owned(),
            ),
            Some(tenant) if tenant != order.tenant_id => {
                Some(format!("the order is for tenant {:?}, this agent belongs to {tenant:?}", order.tenant_id))
            }
            Some(_) if order.host_id != self.identity.host_id => {
                Some(format!("the order is for host {:?}, this agent is {:?}", order.host_id, self.identity.host_id))
            }
            Some(_) => None,
        };
        if let Some(reason) = mismatch {
            return self.refuse(&seen, report(&order.id, "denied", reason), false).await;
        }

        // 3. at most once: the active ids, then the records
        if let Some(state) = self.active.lock().unwrap_or_else(|p| p.into_inner()).get(&order.id).cloned() {
            match state {
                Some(running) => {
                    tracing::info!(action_id = %order.id, "action repeated while it runs; answered running");
                    self.send(running);
                }
                None => tracing::info!(action_id = %order.id, "action repeated while it waits for its turn; it runs once"),
            }
            return;
        }
        let records = self.records.clone();
        let id = order.id.clone();
        match blocking(move || records.answer(&id)).await {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(record))) => {
                tracing::info!(action_id = %order.id, status = %record.status, "action already handled; answered from its record, not run again");
                return self.send(record.to_result());
            }
            Ok(Err(error)) | Err(error) => {
                let reason = format!("cannot read the action's record ({error}); not run, since it may have run before");
                return self.refuse(&seen, report(&order.id, "failed", reason), false).await;
            }
        }

        // 4. expiry
        if let Some(reason) = expired(&order) {
            return self.refuse(&seen, report(&order.id, "expired", reason), true).await;
        }

        // 5. enabled, params, policy
        let policy = current_policy(&self.actions, &self.containers);
        let decision = policy.decide(order.action_type, &order.params);
        let command = decision.canonical.as_ref().map(|c| c.line.clone()).unwrap_or_default();
        let rule = decision.rule.clone().unwrap_or_default();
        let canonical = match decision {
            Decision { allowed: true, canonical: Some(canonical), .. } => canonical,
            Decision { reason, .. } => {
                let result = ActionResult { command, rule, ..report(&order.id, "denied", reason) };
                return self.refuse(&seen, result, true).await;
            }
        };
        tracing::info!(
            action_id = %seen.id,
            requested_by = %seen.requested_by,
            action_type = %seen.action_type,
            command = %command,
            rule = %rule,
            "action allowed"
        );

        // 6. run, in its turn
        self.active.lock().unwrap_or_else(|p| p.into_inner()).insert(order.id.clone(), None);
        let shared = self.clone();
        tokio::spawn(async move { shared.execute(seen, order, canonical, rule).await });
    }

    /// The order, once its signature verifies with the pinned key.
    async fn verify(&self, action: &Action) -> Result<ActionOrder, String> {
        let path = pinned_key_path(&self.state_dir);
        let read_path = path.clone();
        let key = match blocking(move || std::fs::read_to_string(read_path)).await {
            Ok(Ok(text)) => vigil_runtime::signing::decode_public_key(&text).map_err(|reason| {
                format!("the pinned action key {} is damaged ({reason}); orders cannot be verified", path.display())
            })?,
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "no action key is pinned ({} is missing), so no order can be verified; run `sovigilant init` again or \
                     write the server's key (GET /downloads/{PINNED_KEY_FILE}) to that file",
                    path.display()
                ))
            }
            Ok(Err(error)) | Err(error) => return Err(format!("cannot read the pinned action key {}: {error}", path.display())),
        };
        if action.signature.is_empty() {
            return Err("the order is not signed".into());
        }
        let action_type: ActionType = action.r#type.parse().map_err(|error| format!("cannot verify the order: {error}"))?;
        let expires_at = DateTime::parse_from_rfc3339(&action.expires_at)
            .map_err(|error| {
                format!("cannot verify the order: expires_at {:?} is not an RFC 3339 time: {error}", action.expires_at)
            })?
            .with_timezone(&Utc);
        let order = ActionOrder {
            id: action.id.clone(),
            tenant_id: action.tenant_id.clone(),
            host_id: action.host_id.clone(),
            action_type,
            params: action.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
            requested_by: action.requested_by.clone(),
            requested_at: Utc::now(),
            expires_at,
            timeout_seconds: action.timeout_seconds,
            signature: base64::engine::general_purpose::STANDARD.encode(&action.signature),
        };
        let message = vigil_bus::actions::signed_message(&order);
        if !vigil_runtime::signing::verify(&key, &message, &action.signature) {
            return Err(format!(
                "the order's signature does not verify with the pinned action key {} (forged, altered, or signed by another server)",
                path.display()
            ));
        }
        Ok(order)
    }

    fn timeout_of(&self, order: &ActionOrder) -> Duration {
        match order.timeout_seconds {
            0 => self.actions.timeout,
            seconds => Duration::from_secs(u64::from(seconds)).min(MAX_ACTION_TIMEOUT),
        }
    }

    async fn execute(self: Arc<Self>, seen: Seen, order: ActionOrder, canonical: Canonical, rule: String) {
        let _permit = self.permits.clone().acquire_owned().await;
        let done = |shared: &Self| {
            shared.active.lock().unwrap_or_else(|p| p.into_inner()).remove(&order.id);
        };
        if let Some(reason) = expired(&order) {
            let result = ActionResult { command: canonical.line.clone(), rule, ..report(&order.id, "expired", reason) };
            self.refuse(&seen, result, true).await;
            return done(&self);
        }
        let started_at = crate::now_rfc3339();
        let running = ActionResult {
            command: canonical.line.clone(),
            rule: rule.clone(),
            started_at: started_at.clone(),
            ..report(&order.id, "running", String::new())
        };
        if !self.write_record(&seen, &running).await {
            let reason =
                format!("cannot write the action's record in {}, so it could run twice; not run", self.records.dir().display());
            self.send(ActionResult { status: "failed".into(), error: reason, ..running });
            return done(&self);
        }
        self.active.lock().unwrap_or_else(|p| p.into_inner()).insert(order.id.clone(), Some(running.clone()));
        self.send(running.clone());
        let timeout = self.timeout_of(&order);
        tracing::info!(action_id = %seen.id, command = %canonical.line, timeout_s = timeout.as_secs(), "action started");

        let finished = match &canonical.target {
            Target::Service { argv } => run::run(argv, timeout).await,
            Target::Exec { command } => run::run(&["sh".to_owned(), "-c".to_owned(), command.clone()], timeout).await,
            Target::Container { engine, verb, name } => match self.endpoint(*engine) {
                Some(endpoint) => engines::act(&endpoint, verb, name, timeout).await,
                None => run::Finished {
                    exit_code: None,
                    output: String::new(),
                    truncated: false,
                    error: Some(format!("no {} socket is present any more", engine.name())),
                    duration: Duration::ZERO,
                },
            },
        };
        let success = finished.success();
        let result = ActionResult {
            success,
            status: if success { "success" } else { "failed" }.to_owned(),
            exit_code: finished.exit_code,
            output: finished.output,
            truncated: finished.truncated,
            error: finished.error.unwrap_or_default(),
            duration_ms: finished.duration.as_millis() as u64,
            ..running
        };
        let log = |level_warn: bool| {
            let exit_code = result.exit_code.map(|code| code.to_string()).unwrap_or_else(|| "-".into());
            if level_warn {
                tracing::warn!(action_id = %seen.id, requested_by = %seen.requested_by, command = %result.command, exit_code = %exit_code, duration_ms = result.duration_ms, truncated = result.truncated, error = %result.error, "action failed");
            } else {
                tracing::info!(action_id = %seen.id, requested_by = %seen.requested_by, command = %result.command, exit_code = %exit_code, duration_ms = result.duration_ms, truncated = result.truncated, "action succeeded");
            }
        };
        log(!success);
        self.write_record(&seen, &result).await;
        done(&self);
        self.send(result);
    }

    /// The first socket of `engine` present now.
    fn endpoint(&self, engine: Engine) -> Option<containers::Endpoint> {
        containers::endpoints(&self.containers).into_iter().find(|endpoint| endpoint.engine == engine)
    }
}

/// Why `order` may not start now, if its expiry has passed.
fn expired(order: &ActionOrder) -> Option<String> {
    let now = Utc::now();
    (now > order.expires_at).then(|| {
        format!(
            "the order expired at {} (now {}); it never ran",
            vigil_bus::actions::signed_time(order.expires_at),
            vigil_bus::actions::signed_time(now)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Cases {
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        policy: CasePolicy,
        #[serde(rename = "type")]
        action_type: String,
        params: BTreeMap<String, String>,
        command: Option<String>,
        decision: String,
        rule: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct CasePolicy {
        enabled: bool,
        allowed: Vec<String>,
        denied: Vec<String>,
        service_manager: String,
        engines: Vec<String>,
    }

    /// The vectors shared with the dashboard: every case, exactly.
    #[test]
    fn policy_passes_every_shared_vector() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/action-policy-cases.json");
        let cases: Cases = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(cases.cases.len() >= 20, "{} cases", cases.cases.len());
        for case in cases.cases {
            let policy = Policy {
                enabled: case.policy.enabled,
                allowed: case.policy.allowed,
                denied: case.policy.denied,
                service_manager: ServiceManager::from_name(&case.policy.service_manager).unwrap(),
                engines: case.policy.engines.iter().map(|e| Engine::from_name(e).unwrap()).collect(),
            };
            let decision = policy.decide(case.action_type.parse().unwrap(), &case.params);
            let command = decision.canonical.as_ref().map(|c| c.line.clone());
            assert_eq!(command, case.command, "{}: command", case.name);
            assert_eq!(if decision.allowed { "allowed" } else { "denied" }, case.decision, "{}: decision", case.name);
            assert_eq!(decision.rule, case.rule, "{}: rule", case.name);
            assert_eq!(decision.reason.is_empty(), decision.allowed, "{}: a refusal says why", case.name);
        }
    }
}
