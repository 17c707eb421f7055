//! The state machine of alert instances, without I/O: given a host's
//! instances (those not ok) and a snapshot or a host event, what changes.
//!
//! An instance is one rule for one host and, for rules over mounts,
//! containers or services, one of those (its label). It goes
//! ok (no row) → pending (the condition holds; `duration` not yet elapsed)
//! → firing (an alert exists) → ok again (the alert is resolved).
//! - times are the snapshots' collection times (an event's time for host
//!   events), so a replayed backlog is judged on when things happened;
//! - an unknown result (a value the condition reads is missing) keeps the
//!   instance as it is;
//! - a firing instance resolves when the condition no longer holds, or with
//!   a `clear` once the clear condition holds (hysteresis);
//! - an item (mount, container, service) missing from the snapshots
//!   resolves its firing instance after `disappear_grace`; its pending
//!   instance is dropped at once;
//! - host-status rules (`host.status`) are also evaluated on host events;
//!   other rules only on snapshots, so an offline host's metric alerts stay
//!   as they were until it reports again; pending instances then start
//!   their duration again from the first snapshot back.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use vigil_bus::messages::{Alert, AlertStatus, MetricsSnapshot};

use crate::condition::{self, Facts, HostFacts, Item, Scope};
use crate::rules::Rule;
use crate::silences::AlertKey;
use crate::template::MessageContext;
use crate::tenants::TenantConfig;

/// Longest stored value and message (the columns' sizes).
const MAX_VALUE: usize = 100;
const MAX_MESSAGE: usize = 2000;
const MAX_LABEL: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Pending,
    Firing,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Firing => "firing",
        }
    }
}

/// A row of `alert_instances`.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub fingerprint: String,
    pub tenant_id: String,
    pub rule_id: String,
    pub host_id: String,
    pub label: String,
    pub state: InstanceState,
    pub pending_since: DateTime<Utc>,
    pub missing_since: Option<DateTime<Utc>>,
    pub alert_id: Option<String>,
}

/// A row of `alert_hosts`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostState {
    pub host_id: String,
    pub tenant_id: String,
    pub evaluated_at: Option<DateTime<Utc>>,
    pub online: bool,
    pub rx_bytes: Option<u64>,
    pub tx_bytes: Option<u64>,
}

/// An alert that fired, with what its notifications need.
#[derive(Debug, Clone)]
pub struct Fired {
    pub alert: Alert,
    pub channels: Vec<String>,
    /// Next repeat, unless silenced (then nothing is notified yet).
    pub next_repeat_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub enum Transition {
    Fired(Box<Fired>),
    Resolved { alert_id: String, at: DateTime<Utc> },
}

/// What a batch changed: the instances to write (present in the host's map)
/// or delete (absent), and the transitions in the order they happened.
#[derive(Debug, Default)]
pub struct Changes {
    pub dirty: BTreeSet<String>,
    pub transitions: Vec<Transition>,
}

/// The stable id of an instance: PagerDuty's `dedup_key`, the key of
/// `alert_instances`.
pub fn fingerprint(tenant_id: &str, rule_id: &str, host_id: &str, label: &str) -> String {
    let mut hash = Sha256::new();
    for part in [tenant_id, rule_id, host_id, label] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..16])
}

/// What evaluation of one host needs besides its state.
pub struct Context<'a> {
    pub tenant: &'a TenantConfig,
    pub host_name: &'a str,
    pub disappear_grace: Duration,
    pub default_repeat: Duration,
    /// Wall-clock time (silences and repeats are about now).
    pub now: DateTime<Utc>,
}

fn truncate(mut text: String, max: usize) -> String {
    let cut = vigil_bus::text::truncate(&text, max).len();
    text.truncate(cut);
    text
}

fn since(later: DateTime<Utc>, earlier: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

/// Bytes per second from two readings of a counter; `None` when there is no
/// earlier reading, no time between them, or the counter went back (reset).
fn rate(now: u64, before: Option<u64>, seconds: f64) -> Option<f64> {
    let before = before?;
    (seconds > 0.0 && now >= before).then(|| (now - before) as f64 / seconds)
}

impl Context<'_> {
    /// Evaluates one snapshot of `host` (newer than `host.evaluated_at`;
    /// the caller skips older ones).
    pub fn snapshot(
        &self,
        host: &mut HostState,
        instances: &mut HashMap<String, Instance>,
        snapshot: &MetricsSnapshot,
        changes: &mut Changes,
    ) {
        let at = snapshot.collected_at;
        let (rx, tx) = (snapshot.host.network.rx_bytes(), snapshot.host.network.tx_bytes());
        let seconds = host.evaluated_at.map(|before| (at - before).num_milliseconds() as f64 / 1000.0).unwrap_or(0.0);
        let facts_host = HostFacts {
            id: &host.host_id,
            name: self.host_name,
            online: true,
            metrics: Some(&snapshot.host),
            rx_rate: rate(rx, host.rx_bytes, seconds),
            tx_rate: rate(tx, host.tx_bytes, seconds),
            custom: &snapshot.custom,
        };
        let was_offline = !host.online;
        // this host's instances (rule, label, fingerprint): usually none, so
        // an item whose condition does not hold costs no allocation and no hash
        let mine: Vec<(String, String, String)> = instances
            .values()
            .filter(|i| i.host_id == host.host_id)
            .map(|i| (i.rule_id.clone(), i.label.clone(), i.fingerprint.clone()))
            .collect();
        for rule in self.tenant.rules.iter().filter(|rule| rule.enabled()) {
            let of_rule: Vec<&(String, String, String)> = mine.iter().filter(|(id, _, _)| id == rule.id()).collect();
            let mut seen = BTreeSet::new();
            for item in condition::items(rule.condition.scope(), &snapshot.host, &snapshot.containers, &snapshot.services) {
                let label = vigil_bus::text::truncate(item.label().unwrap_or(""), MAX_LABEL);
                let facts = Facts { host: facts_host, item };
                let holds = rule.condition.evaluate(&facts);
                let fingerprint = match of_rule.iter().find(|(_, known, _)| known == label) {
                    Some((_, _, fingerprint)) => fingerprint.clone(),
                    None if holds == Some(true) => fingerprint(&host.tenant_id, rule.id(), &host.host_id, label),
                    None => continue,
                };
                seen.insert(fingerprint.clone());
                self.step(rule, host, instances, fingerprint, label.to_owned(), holds, &facts, at, was_offline, changes);
            }
            if rule.condition.scope() != Scope::Host && !of_rule.is_empty() {
                self.missing(rule, host, instances, &seen, at, changes);
            }
        }
        self.orphans(host, instances, at, changes);
        host.evaluated_at = Some(at);
        host.online = true;
        host.rx_bytes = Some(rx);
        host.tx_bytes = Some(tx);
    }

    /// Evaluates the host-status rules after the host went online or
    /// offline at `at` (also from the sweep, for their durations).
    pub fn status(
        &self,
        host: &mut HostState,
        online: bool,
        instances: &mut HashMap<String, Instance>,
        at: DateTime<Utc>,
        changes: &mut Changes,
    ) {
        host.online = online;
        let facts = Facts {
            host: HostFacts {
                id: &host.host_id,
                name: self.host_name,
                online,
                metrics: None,
                rx_rate: None,
                tx_rate: None,
                custom: &[],
            },
            item: Item::None,
        };
        for rule in self.tenant.rules.iter().filter(|rule| rule.enabled() && rule.condition.uses_host_status()) {
            if rule.condition.scope() != Scope::Host {
                continue;
            }
            let fingerprint = fingerprint(&host.tenant_id, rule.id(), &host.host_id, "");
            let holds = rule.condition.evaluate(&facts);
            self.step(rule, host, instances, fingerprint, String::new(), holds, &facts, at, false, changes);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        rule: &Arc<Rule>,
        host: &HostState,
        instances: &mut HashMap<String, Instance>,
        fingerprint: String,
        label: String,
        holds: Option<bool>,
        facts: &Facts<'_>,
        at: DateTime<Utc>,
        restart_pending: bool,
        changes: &mut Changes,
    ) {
        let Some(instance) = instances.get_mut(&fingerprint) else {
            if holds == Some(true) {
                let mut instance = Instance {
                    fingerprint: fingerprint.clone(),
                    tenant_id: host.tenant_id.clone(),
                    rule_id: rule.id().to_owned(),
                    host_id: host.host_id.clone(),
                    label,
                    state: InstanceState::Pending,
                    pending_since: at,
                    missing_since: None,
                    alert_id: None,
                };
                if rule.duration().is_zero() {
                    self.fire(rule, &mut instance, facts, at, changes);
                }
                instances.insert(fingerprint.clone(), instance);
                changes.dirty.insert(fingerprint);
            }
            return;
        };
        if instance.missing_since.take().is_some() {
            changes.dirty.insert(fingerprint.clone());
        }
        match (instance.state, holds) {
            (_, None) => {}
            (InstanceState::Pending, Some(true)) => {
                if restart_pending {
                    instance.pending_since = at;
                    changes.dirty.insert(fingerprint.clone());
                }
                if since(at, instance.pending_since) >= rule.duration() {
                    self.fire(rule, instance, facts, at, changes);
                    changes.dirty.insert(fingerprint);
                }
            }
            (InstanceState::Pending, Some(false)) => {
                instances.remove(&fingerprint);
                changes.dirty.insert(fingerprint);
            }
            (InstanceState::Firing, Some(true)) => {}
            (InstanceState::Firing, Some(false)) => {
                let cleared = match &rule.clear {
                    None => true,
                    Some(clear) => clear.evaluate(facts) == Some(true),
                };
                if cleared {
                    let instance = instances.remove(&fingerprint).expect("found above");
                    resolve(instance, at, changes);
                    changes.dirty.insert(fingerprint);
                }
            }
        }
    }

    fn fire(&self, rule: &Arc<Rule>, instance: &mut Instance, facts: &Facts<'_>, at: DateTime<Utc>, changes: &mut Changes) {
        let value = rule.condition.value(facts).map(|value| truncate(value.to_string(), MAX_VALUE));
        let label = (!instance.label.is_empty()).then_some(instance.label.as_str());
        let scope = rule.condition.scope();
        let (mount, container_name, service_name) = match scope {
            Scope::Host => (None, None, None),
            Scope::Mount => (label, None, None),
            Scope::Container => (None, label, None),
            Scope::Service => (None, None, label),
        };
        let message = rule.message.render(&MessageContext {
            value: value.as_deref(),
            host_id: &instance.host_id,
            host_name: self.host_name,
            mount,
            container_name,
            service_name,
            rule_name: rule.name(),
            severity: rule.severity().as_str(),
        });
        let key = AlertKey {
            rule_id: rule.id(),
            host_id: &instance.host_id,
            severity: rule.severity(),
            mount,
            container_name,
            service_name,
        };
        let silenced = self.tenant.silenced(&key, self.now);
        let repeat = rule.record.rule.repeat_interval.unwrap_or(self.default_repeat);
        let alert = Alert {
            id: crate::rules::new_id("alert"),
            tenant_id: instance.tenant_id.clone(),
            host_id: instance.host_id.clone(),
            host_name: self.host_name.to_owned(),
            rule_id: rule.id().to_owned(),
            rule_name: rule.name().to_owned(),
            severity: rule.severity(),
            status: AlertStatus::Firing,
            mount: mount.map(str::to_owned),
            container_name: container_name.map(str::to_owned),
            service_name: service_name.map(str::to_owned),
            message: truncate(message, MAX_MESSAGE),
            value,
            fingerprint: instance.fingerprint.clone(),
            silenced,
            fired_at: at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
        };
        instance.state = InstanceState::Firing;
        instance.alert_id = Some(alert.id.clone());
        let next_repeat_at = (!silenced && !repeat.is_zero())
            .then(|| self.now + chrono::Duration::from_std(repeat).unwrap_or(chrono::Duration::hours(4)));
        changes.transitions.push(Transition::Fired(Box::new(Fired {
            alert,
            channels: rule.record.rule.channels.clone(),
            next_repeat_at,
        })));
    }

    /// Instances of `rule` on this host whose item is not in the snapshot.
    fn missing(
        &self,
        rule: &Arc<Rule>,
        host: &HostState,
        instances: &mut HashMap<String, Instance>,
        seen: &BTreeSet<String>,
        at: DateTime<Utc>,
        changes: &mut Changes,
    ) {
        let gone: Vec<String> = instances
            .values()
            .filter(|i| i.rule_id == rule.id() && i.host_id == host.host_id && !seen.contains(&i.fingerprint))
            .map(|i| i.fingerprint.clone())
            .collect();
        for fingerprint in gone {
            let instance = instances.get_mut(&fingerprint).expect("listed above");
            match (instance.state, instance.missing_since) {
                (InstanceState::Pending, _) => {
                    instances.remove(&fingerprint);
                }
                (InstanceState::Firing, None) => instance.missing_since = Some(at),
                (InstanceState::Firing, Some(missing_since)) => {
                    if since(at, missing_since) < self.disappear_grace {
                        continue;
                    }
                    let instance = instances.remove(&fingerprint).expect("listed above");
                    resolve(instance, at, changes);
                }
            }
            changes.dirty.insert(fingerprint);
        }
    }

    /// Instances whose rule was deleted or disabled: pending ones are
    /// dropped, firing ones resolved.
    fn orphans(&self, host: &HostState, instances: &mut HashMap<String, Instance>, at: DateTime<Utc>, changes: &mut Changes) {
        let orphans: Vec<String> = instances
            .values()
            .filter(|i| i.host_id == host.host_id && !self.tenant.rule(&i.rule_id).is_some_and(|rule| rule.enabled()))
            .map(|i| i.fingerprint.clone())
            .collect();
        for fingerprint in orphans {
            let instance = instances.remove(&fingerprint).expect("listed above");
            if instance.state == InstanceState::Firing {
                resolve(instance, at, changes);
            }
            changes.dirty.insert(fingerprint);
        }
    }
}

fn resolve(instance: Instance, at: DateTime<Utc>, changes: &mut Changes) {
    if let Some(alert_id) = instance.alert_id {
        changes.transitions.push(Transition::Resolved { alert_id, at });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use vigil_bus::messages::{AlertMatcher, ClearSpec, ContainerMetrics, RuleRecord, Severity, SilenceInput, SilenceRecord};
    use vigil_testkit::fixtures::MetricsSnapshotBuilder;

    use super::*;
    use crate::silences::Silence;

    const GRACE: Duration = Duration::from_secs(60);

    fn rule(id: &str, condition: &str, duration: u64, clear: Option<ClearSpec>) -> Arc<Rule> {
        let mut input = crate::rules::defaults().remove(0).0;
        input.name = id.to_owned();
        input.condition = condition.to_owned();
        input.duration = Duration::from_secs(duration);
        input.clear = clear;
        input.message = "{{rule.name}} {{value}}".to_owned();
        let record = RuleRecord {
            id: id.to_owned(),
            tenant_id: "acme".to_owned(),
            rule: input,
            builtin: None,
            scope: String::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        Arc::new(crate::rules::compile(record).expect("compiles"))
    }

    fn tenant(rules: Vec<Arc<Rule>>) -> TenantConfig {
        TenantConfig {
            tenant_id: "acme".to_owned(),
            version: 1,
            rules,
            channels: Vec::new(),
            silences: Vec::new(),
            maintenance: Vec::new(),
        }
    }

    fn host() -> HostState {
        HostState {
            host_id: "h1".into(),
            tenant_id: "acme".into(),
            evaluated_at: None,
            online: true,
            rx_bytes: None,
            tx_bytes: None,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn snapshot(seconds: i64, cpu: f64, containers: &[(&str, &str)]) -> MetricsSnapshot {
        let containers = containers
            .iter()
            .map(|(name, status)| ContainerMetrics { name: (*name).into(), status: (*status).into(), ..Default::default() })
            .collect();
        let mut snapshot = MetricsSnapshotBuilder::new("acme", "h1", seconds as u64, at(seconds)).containers(containers).build();
        snapshot.host.cpu.percent = cpu;
        snapshot
    }

    /// Runs snapshots through one context; the transitions, as text.
    struct Run {
        tenant: TenantConfig,
        host: HostState,
        instances: HashMap<String, Instance>,
        log: Vec<String>,
    }

    impl Run {
        fn new(rules: Vec<Arc<Rule>>) -> Run {
            Run { tenant: tenant(rules), host: host(), instances: HashMap::new(), log: Vec::new() }
        }

        fn context(&self) -> Context<'_> {
            Context {
                tenant: &self.tenant,
                host_name: "web-1",
                disappear_grace: GRACE,
                default_repeat: Duration::from_secs(3600),
                now: Utc::now(),
            }
        }

        fn apply(&mut self, changes: Changes) {
            for transition in changes.transitions {
                self.log.push(match transition {
                    Transition::Fired(fired) => format!("fired {} {}", fired.alert.rule_id, fired.alert.message),
                    Transition::Resolved { at, .. } => format!("resolved at {}", (at - super::tests::at(0)).num_seconds()),
                });
            }
        }

        fn send(&mut self, snapshot: &MetricsSnapshot) {
            let mut changes = Changes::default();
            let (mut host, mut instances) = (self.host.clone(), std::mem::take(&mut self.instances));
            self.context().snapshot(&mut host, &mut instances, snapshot, &mut changes);
            (self.host, self.instances) = (host, instances);
            self.apply(changes);
        }

        fn status(&mut self, online: bool, seconds: i64) {
            let mut changes = Changes::default();
            let (mut host, mut instances) = (self.host.clone(), std::mem::take(&mut self.instances));
            self.context().status(&mut host, online, &mut instances, at(seconds), &mut changes);
            (self.host, self.instances) = (host, instances);
            self.apply(changes);
        }

        fn states(&self) -> Vec<(String, &'static str)> {
            let mut states: Vec<_> = self.instances.values().map(|i| (i.label.clone(), i.state.as_str())).collect();
            states.sort();
            states
        }
    }

    #[test]
    fn fires_once_after_its_duration_and_resolves_once() {
        let mut run = Run::new(vec![rule("cpu", "host.cpu.percent > 80", 30, None)]);
        for (t, cpu) in [(0, 90.0), (10, 90.0), (20, 90.0), (30, 50.0)] {
            run.send(&snapshot(t, cpu, &[]));
        }
        assert!(run.log.is_empty(), "20 s of 30 fired: {:?}", run.log);
        assert!(run.instances.is_empty(), "back to ok");
        for (t, cpu) in [(40, 90.0), (50, 90.0), (60, 90.0), (70, 92.5), (80, 95.0), (90, 10.0)] {
            run.send(&snapshot(t, cpu, &[]));
        }
        assert_eq!(run.log, ["fired cpu cpu 92.5", "resolved at 90"]);
    }

    #[test]
    fn a_clear_threshold_keeps_it_firing_until_the_value_falls_below() {
        let mut run = Run::new(vec![rule("cpu", "host.cpu.percent > 80", 0, Some(ClearSpec::Threshold(70.0)))]);
        for (t, cpu) in [(0, 85.0), (10, 79.0), (20, 81.0), (30, 72.0), (40, 70.5)] {
            run.send(&snapshot(t, cpu, &[]));
        }
        assert_eq!(run.log, ["fired cpu cpu 85"]);
        run.send(&snapshot(50, 69.0, &[]));
        assert_eq!(run.log, ["fired cpu cpu 85", "resolved at 50"]);
    }

    #[test]
    fn an_unknown_value_keeps_the_state() {
        let mut run = Run::new(vec![rule("queue", "custom.queue > 10", 0, None)]);
        let mut deep = snapshot(0, 1.0, &[]);
        deep.custom =
            vec![vigil_bus::messages::CustomMetric { name: "queue".into(), kind: "gauge".into(), value: 50.0, error: None }];
        run.send(&deep);
        assert_eq!(run.log.len(), 1);
        // the metric's command failed: neither resolved nor fired again
        let mut failed = snapshot(10, 1.0, &[]);
        failed.custom = vec![vigil_bus::messages::CustomMetric {
            name: "queue".into(),
            kind: "gauge".into(),
            value: 0.0,
            error: Some("timeout".into()),
        }];
        run.send(&failed);
        run.send(&snapshot(20, 1.0, &[]));
        assert_eq!(run.log.len(), 1, "{:?}", run.log);
        assert_eq!(run.states(), [(String::new(), "firing")]);
    }

    #[test]
    fn one_instance_per_container_and_a_vanished_one_resolves_after_the_grace() {
        let mut run = Run::new(vec![rule("down", "container.status != 'running'", 0, None)]);
        run.send(&snapshot(0, 1.0, &[("web", "exited"), ("db", "running"), ("cache", "exited")]));
        assert_eq!(run.log.len(), 2);
        assert_eq!(run.states(), [("cache".into(), "firing"), ("web".into(), "firing")]);
        // cache is gone: it stays firing within the grace, then resolves
        run.send(&snapshot(10, 1.0, &[("web", "exited"), ("db", "running")]));
        run.send(&snapshot(60, 1.0, &[("web", "exited"), ("db", "running")]));
        assert_eq!(run.log.len(), 2, "{:?}", run.log);
        run.send(&snapshot(70, 1.0, &[("web", "exited"), ("db", "running")]));
        assert_eq!(run.log[2], "resolved at 70");
        assert_eq!(run.states(), [("web".into(), "firing")]);
        // a container back within the grace is not resolved
        run.send(&snapshot(80, 1.0, &[("db", "running")]));
        run.send(&snapshot(90, 1.0, &[("web", "exited"), ("db", "running")]));
        run.send(&snapshot(200, 1.0, &[("web", "exited"), ("db", "running")]));
        assert_eq!(run.log.len(), 3, "{:?}", run.log);
    }

    #[test]
    fn a_new_instance_beside_a_firing_one_of_the_same_rule_is_not_taken_for_missing() {
        let mut run = Run::new(vec![rule("down", "container.status != 'running'", 20, None)]);
        run.send(&snapshot(0, 1.0, &[("web", "exited"), ("db", "running")]));
        run.send(&snapshot(20, 1.0, &[("web", "exited"), ("db", "running")]));
        assert_eq!(run.log.len(), 1);
        // db stops while web fires: db is pending, not missing
        run.send(&snapshot(30, 1.0, &[("web", "exited"), ("db", "exited")]));
        run.send(&snapshot(50, 1.0, &[("web", "exited"), ("db", "exited")]));
        assert_eq!(run.states(), [("db".into(), "firing"), ("web".into(), "firing")]);
        assert_eq!(run.log.len(), 2, "{:?}", run.log);
    }

    #[test]
    fn an_offline_host_fires_host_offline_only_and_restarts_pending_durations_on_return() {
        let mut run = Run::new(vec![
            rule("offline", "host.status == 'offline'", 0, None),
            rule("cpu-now", "host.cpu.percent > 80", 0, None),
            rule("cpu-later", "host.cpu.percent > 80", 60, None),
        ]);
        run.send(&snapshot(0, 90.0, &[]));
        assert_eq!(run.log, ["fired cpu-now cpu-now 90"]);
        run.status(false, 40);
        assert_eq!(run.log[1], "fired offline offline offline", "{{value}} is the status: {:?}", run.log);
        assert_eq!(run.instances.len(), 3, "cpu-now firing, cpu-later pending, offline firing");
        // back at t=300: offline resolves; cpu-later's 60 s start again from here
        run.send(&snapshot(300, 90.0, &[]));
        assert_eq!(run.log[2], "resolved at 300");
        assert_eq!(run.log.len(), 3, "{:?}", run.log);
        run.send(&snapshot(350, 90.0, &[]));
        assert_eq!(run.log.len(), 3);
        run.send(&snapshot(360, 90.0, &[]));
        assert_eq!(run.log[3], "fired cpu-later cpu-later 90");
    }

    #[test]
    fn a_deleted_rule_resolves_its_alerts_at_the_next_snapshot() {
        let mut run = Run::new(vec![rule("cpu", "host.cpu.percent > 80", 0, None)]);
        run.send(&snapshot(0, 90.0, &[]));
        run.tenant.rules.clear();
        run.send(&snapshot(10, 90.0, &[]));
        assert_eq!(run.log, ["fired cpu cpu 90", "resolved at 10"]);
        assert!(run.instances.is_empty());
    }

    #[test]
    fn an_alert_firing_under_a_silence_is_recorded_silenced_with_no_repeat() {
        let mut run = Run::new(vec![rule("cpu", "host.cpu.percent > 80", 0, None)]);
        let now = Utc::now();
        run.tenant.silences.push(Silence {
            record: SilenceRecord {
                id: "s1".into(),
                silence: SilenceInput {
                    matcher: AlertMatcher { host_id: Some("h1".into()), ..Default::default() },
                    starts_at: now - chrono::Duration::minutes(1),
                    ends_at: now + chrono::Duration::minutes(1),
                    comment: String::new(),
                },
                created_by: "a@b.c".into(),
                created_at: now,
            },
        });
        let mut changes = Changes::default();
        let (mut host, mut instances) = (run.host.clone(), HashMap::new());
        run.context().snapshot(&mut host, &mut instances, &snapshot(0, 90.0, &[]), &mut changes);
        match &changes.transitions[..] {
            [Transition::Fired(fired)] => {
                assert!(fired.alert.silenced);
                assert_eq!(fired.next_repeat_at, None);
                assert_eq!(fired.alert.severity, Severity::Warning);
                assert_eq!(fired.alert.fingerprint, fingerprint("acme", "cpu", "h1", ""));
            }
            other => panic!("{other:?}"),
        }
    }
}
