//! Every subject name on the bus. Callers pass ids that went through
//! [`crate::ids::validate`]; the builders check it again in debug builds.

use crate::messages::HostEventKind;

/// All metrics snapshots: `metrics.<tenant>.<host>`.
pub const METRICS_ALL: &str = "metrics.>";
/// All host lifecycle events: `hosts.<tenant>.<host>.<event>`.
pub const HOSTS_ALL: &str = "hosts.>";

fn checked<'a>(kind: &'static str, id: &'a str) -> &'a str {
    debug_assert!(crate::ids::validate(kind, id).is_ok(), "unvalidated {kind} id {id:?} in a subject");
    id
}

/// Subject of one agent snapshot.
pub fn metrics(tenant_id: &str, host_id: &str) -> String {
    format!("metrics.{}.{}", checked("tenant", tenant_id), checked("host", host_id))
}

/// Every snapshot of one tenant (what a tenant's integrators subscribe to).
pub fn metrics_of_tenant(tenant_id: &str) -> String {
    format!("metrics.{}.>", checked("tenant", tenant_id))
}

/// `(tenant, host)` of a metrics subject, or `None` if it is not one.
pub fn parse_metrics(subject: &str) -> Option<(&str, &str)> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some("metrics"), Some(tenant), Some(host), None) => Some((tenant, host)),
        _ => None,
    }
}

/// Every dead letter: `deadletter.<original subject>`.
pub const DEAD_LETTER_ALL: &str = "deadletter.>";

/// Where a message that can never be stored is kept, with why: its original
/// subject under `deadletter.` (`metrics.acme.h1` → `deadletter.metrics.acme.h1`),
/// so a tenant's dead letters stay under its own tokens.
pub fn dead_letter(original_subject: &str) -> String {
    format!("deadletter.{original_subject}")
}

/// All alert events: `alerts.<tenant>.<host>.<event>`.
pub const ALERTS_ALL: &str = "alerts.>";

/// Every alert that fired (the orchestrator's alert triggers).
pub const ALERTS_FIRED: &str = "alerts.*.*.fired";

/// Subject of an alert event.
pub fn alert_event(tenant_id: &str, host_id: &str, event: crate::messages::AlertTransition) -> String {
    format!("alerts.{}.{}.{}", checked("tenant", tenant_id), checked("host", host_id), event.as_str())
}

/// `(tenant, host)` of an alert event subject, or `None` if it is not one.
pub fn parse_alert_event(subject: &str) -> Option<(&str, &str)> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some("alerts"), Some(tenant), Some(host), Some(_), None) => Some((tenant, host)),
        _ => None,
    }
}

/// All action messages: `actions.<tenant>.<host>.<stage>`.
pub const ACTIONS_ALL: &str = "actions.>";
/// Every order, for the gateways (each hands over those of the agents it holds).
pub const ACTIONS_REQUESTED: &str = "actions.*.*.requested";
/// Every action status, for the dashboards.
pub const ACTIONS_STATUS: &str = "actions.*.*.status";
/// What the actioner stores: dispatches and the agents' results.
pub const ACTIONS_PROGRESS: [&str; 2] = ["actions.*.*.dispatched", "actions.*.*.result"];

/// Subject of an action message.
pub fn action(tenant_id: &str, host_id: &str, stage: crate::messages::ActionStage) -> String {
    format!("actions.{}.{}.{}", checked("tenant", tenant_id), checked("host", host_id), stage.as_str())
}

/// `(tenant, host, stage)` of an action subject, or `None` if it is not one.
pub fn parse_action(subject: &str) -> Option<(&str, &str, &str)> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some("actions"), Some(tenant), Some(host), Some(stage), None) => Some((tenant, host, stage)),
        _ => None,
    }
}

/// Subject of a host lifecycle event.
pub fn host_event(tenant_id: &str, host_id: &str, event: HostEventKind) -> String {
    format!("hosts.{}.{}.{}", checked("tenant", tenant_id), checked("host", host_id), event.as_str())
}

/// NATS service discovery: every instance of service `name` answers a request
/// here (`$SRV.PING.<name>`), which is how `vigil` health-checks services.
pub fn service_ping(name: &str) -> String {
    format!("$SRV.PING.{name}")
}

/// A request/reply endpoint of a service, served with the async-nats
/// `service` API (discoverable through `$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`).
/// `Req` is what it is asked, `Resp` what it answers (inside a
/// [`Reply`](crate::messages::Reply)): a client ([`crate::rpc::request`]), a
/// handler (`vigil_runtime::endpoints`) and a test fake built from the same
/// constant cannot disagree on them.
pub struct Endpoint<Req, Resp> {
    /// Group the endpoint is added to, e.g. `vigil.collector`.
    pub group: &'static str,
    /// Endpoint name inside the group, e.g. `hosts.list`.
    pub name: &'static str,
    types: std::marker::PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Endpoint<Req, Resp> {
    pub const fn new(group: &'static str, name: &'static str) -> Self {
        Endpoint { group, name, types: std::marker::PhantomData }
    }

    /// Full subject a client sends its request to.
    pub fn subject(&self) -> String {
        self.untyped().subject()
    }

    /// The endpoint without its types (for lists, logs and fakes).
    pub const fn untyped(&self) -> EndpointName {
        EndpointName { group: self.group, name: self.name }
    }
}

impl<Req, Resp> Clone for Endpoint<Req, Resp> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Req, Resp> Copy for Endpoint<Req, Resp> {}

impl<Req, Resp> std::fmt::Debug for Endpoint<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({}.{})", self.group, self.name)
    }
}

/// An endpoint's group and name, without its message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointName {
    pub group: &'static str,
    pub name: &'static str,
}

impl EndpointName {
    pub fn subject(&self) -> String {
        format!("{}.{}", self.group, self.name)
    }
}

/// Declares a service's typed endpoints and `ALL`, the list of their names,
/// so each name is written once.
macro_rules! endpoints {
    ($group:expr; $($(#[$doc:meta])* $constant:ident: $req:ty => $resp:ty = $name:literal;)*) => {
        $($(#[$doc])* pub const $constant: super::Endpoint<$req, $resp> = super::Endpoint::new($group, $name);)*
        /// Every endpoint of the service.
        pub const ALL: &[super::EndpointName] = &[$(super::EndpointName { group: $group, name: $name }),*];
    };
}

/// The collector's endpoints: it owns `hosts` and the `metrics_*` tables.
pub mod collector {
    use crate::messages::{
        ContainerPoint, ContainerRange, ContainerRecord, CustomLatest, CustomPoint, CustomRange, GetContainer, GetHost,
        HostContainers, HostLatest, HostRecord, HostServices, HourlyPoint, HourlyRange, LatestPage, ListContainers, ListHosts,
        MetricsLatest, MetricsPoint, MetricsRange, RegisterHost, ServiceRecord,
    };
    use crate::messages::{DailyPoint, DailyRange, FleetHistory, FleetHistoryQuery, FleetOverview, OfTenant};

    pub const SERVICE_NAME: &str = "collector";
    pub const GROUP: &str = "vigil.collector";
    /// Queue group shared by every collector instance.
    pub const QUEUE_GROUP: &str = "collector";

    endpoints! { GROUP;
        REGISTER_HOST: RegisterHost => HostRecord = "hosts.register";
        LIST_HOSTS: ListHosts => Vec<HostRecord> = "hosts.list";
        GET_HOST: GetHost => HostRecord = "hosts.get";
        /// Streamed: the reply is sent as the rows are read (see `rpc::respond_stream`).
        METRICS_RANGE: MetricsRange => Vec<MetricsPoint> = "metrics.range";
        METRICS_LATEST: MetricsLatest => Option<MetricsPoint> = "metrics.latest";
        METRICS_HOURLY: HourlyRange => Vec<HourlyPoint> = "metrics.hourly";
        METRICS_DAILY: DailyRange => Vec<DailyPoint> = "metrics.daily";
        /// The tenant's fleet now (hosts, containers, services, usage of online hosts).
        METRICS_OVERVIEW: OfTenant => FleetOverview = "metrics.overview";
        /// Fleet aggregates over a window, per step, from raw, hourly or daily rows.
        METRICS_HISTORY: FleetHistoryQuery => FleetHistory = "metrics.history";
        /// The host's latest snapshot.
        HOST_CONTAINERS: HostContainers => Vec<ContainerRecord> = "containers.host";
        /// Every host's latest snapshot.
        LIST_CONTAINERS: ListContainers => Vec<ContainerRecord> = "containers.list";
        GET_CONTAINER: GetContainer => ContainerRecord = "containers.get";
        CONTAINER_RANGE: ContainerRange => Vec<ContainerPoint> = "containers.range";
        /// The host's latest snapshot.
        HOST_SERVICES: HostServices => Vec<ServiceRecord> = "services.host";
        CUSTOM_RANGE: CustomRange => Vec<CustomPoint> = "custom.range";
        /// The newest point of each name.
        CUSTOM_LATEST: CustomLatest => Vec<CustomPoint> = "custom.latest";
        /// A page of the tenant's hosts with their latest data (Prometheus exposition).
        HOSTS_LATEST: LatestPage => Vec<HostLatest> = "hosts.latest";
    }
}

/// The alerter's endpoints: it owns the alert tables (rules, alerts and their
/// history, channels, silences, maintenance windows, the outbox).
pub mod alerter {
    use crate::messages::{
        AcknowledgeAlert, Alert, AlertHistoryPage, AlertHistoryQuery, ChannelRecord, ChannelTestResult, CheckRule, CreateRule,
        ListAlerts, MaintenanceRecord, NotifyChannels, NotifyReceipt, OfTenant, PutChannels, RuleCheck, RulePreview, RuleRecord,
        SaveMaintenance, SaveSilence, SilenceRecord, TenantItem, UpdateRule,
    };

    pub const SERVICE_NAME: &str = "alerter";
    pub const GROUP: &str = "vigil.alerter";
    /// Queue group shared by every alerter instance.
    pub const QUEUE_GROUP: &str = "alerter";

    endpoints! { GROUP;
        /// A tenant seen for the first time gets the default rules first.
        LIST_RULES: OfTenant => Vec<RuleRecord> = "rules.list";
        CREATE_RULE: CreateRule => RuleRecord = "rules.create";
        UPDATE_RULE: UpdateRule => RuleRecord = "rules.update";
        DELETE_RULE: TenantItem => () = "rules.delete";
        VALIDATE_RULE: CheckRule => RuleCheck = "rules.validate";
        /// Evaluates the condition on each host's latest data (asked of the collector).
        PREVIEW_RULE: CheckRule => RulePreview = "rules.preview";
        LIST_ALERTS: ListAlerts => Vec<Alert> = "alerts.list";
        ALERT_HISTORY: AlertHistoryQuery => AlertHistoryPage = "alerts.history";
        ACKNOWLEDGE: AcknowledgeAlert => Alert = "alerts.acknowledge";
        LIST_CHANNELS: OfTenant => Vec<ChannelRecord> = "channels.list";
        PUT_CHANNELS: PutChannels => Vec<ChannelRecord> = "channels.put";
        /// Sends a test message now (not through the outbox) and says what the receiver answered.
        TEST_CHANNEL: TenantItem => ChannelTestResult = "channels.test";
        LIST_SILENCES: OfTenant => Vec<SilenceRecord> = "silences.list";
        SAVE_SILENCE: SaveSilence => SilenceRecord = "silences.save";
        DELETE_SILENCE: TenantItem => () = "silences.delete";
        LIST_MAINTENANCE: OfTenant => Vec<MaintenanceRecord> = "maintenance.list";
        SAVE_MAINTENANCE: SaveMaintenance => MaintenanceRecord = "maintenance.save";
        DELETE_MAINTENANCE: TenantItem => () = "maintenance.delete";
        /// A message through the tenant's channels, by the outbox (scenarios' notify steps).
        NOTIFY: NotifyChannels => NotifyReceipt = "channels.notify";
    }
}

/// The actioner's endpoints: it owns `actions_log` and signs every order.
pub mod actioner {
    use crate::messages::{ActionOrder, ActionRecord, ListActions, PendingActions, RequestAction, TenantItem};

    pub const SERVICE_NAME: &str = "actioner";
    pub const GROUP: &str = "vigil.actioner";
    /// Queue group shared by every actioner instance.
    pub const QUEUE_GROUP: &str = "actioner";

    endpoints! { GROUP;
        /// Records the action (`pending`), signs it and publishes the order.
        REQUEST: RequestAction => ActionRecord = "actions.request";
        LIST: ListActions => Vec<ActionRecord> = "actions.list";
        /// One action with its output.
        GET: TenantItem => ActionRecord = "actions.get";
        /// What a gateway hands to an agent that just connected.
        PENDING: PendingActions => Vec<ActionOrder> = "actions.pending";
    }
}

/// The orchestrator's endpoints: it owns the scenario tables.
pub mod orchestrator {
    use crate::messages::{
        ListRuns, OfTenant, PutScenarioSettings, RunScenario, SaveScenario, ScenarioRecord, ScenarioRun, ScenarioSettings,
        TenantItem,
    };

    pub const SERVICE_NAME: &str = "orchestrator";
    pub const GROUP: &str = "vigil.orchestrator";
    /// Queue group shared by every orchestrator instance.
    pub const QUEUE_GROUP: &str = "orchestrator";

    endpoints! { GROUP;
        LIST: OfTenant => Vec<ScenarioRecord> = "scenarios.list";
        GET: TenantItem => ScenarioRecord = "scenarios.get";
        /// Parses and checks the text (422 naming the field), then stores it.
        SAVE: SaveScenario => ScenarioRecord = "scenarios.save";
        DELETE: TenantItem => () = "scenarios.delete";
        /// A manual run (started; its steps go on after the reply), or a dry run.
        RUN: RunScenario => ScenarioRun = "scenarios.run";
        LIST_RUNS: ListRuns => Vec<ScenarioRun> = "runs.list";
        GET_RUN: TenantItem => ScenarioRun = "runs.get";
        GET_SETTINGS: OfTenant => ScenarioSettings = "settings.get";
        PUT_SETTINGS: PutScenarioSettings => ScenarioSettings = "settings.put";
    }
}

/// Name the gateway registers under with the `service` API (health checks),
/// and its endpoints: it owns `tenants`.
pub mod gateway {
    use crate::messages::{ListTenantRetentions, TenantRetention};

    pub const SERVICE_NAME: &str = "gateway";
    pub const GROUP: &str = "vigil.gateway";
    /// Queue group shared by every gateway instance.
    pub const QUEUE_GROUP: &str = "gateway";

    endpoints! { GROUP;
        /// The tenants with a retention of their own (the collector's deletes).
        TENANT_RETENTIONS: ListTenantRetentions => Vec<TenantRetention> = "tenants.retention";
    }
}

/// Every tenant settings change (core NATS): `tenants.<tenant>.settings`.
pub const TENANT_SETTINGS_ALL: &str = "tenants.*.settings";

/// Subject of a tenant settings change.
pub fn tenant_settings(tenant_id: &str) -> String {
    format!("tenants.{}.settings", checked("tenant", tenant_id))
}

/// The tenant of a settings change subject, or `None` if it is not one.
pub fn parse_tenant_settings(subject: &str) -> Option<&str> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some("tenants"), Some(tenant), Some("settings"), None) => Some(tenant),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_subject_round_trips() {
        let subject = metrics("acme", "host-1");
        assert_eq!(subject, "metrics.acme.host-1");
        assert_eq!(parse_metrics(&subject), Some(("acme", "host-1")));
        assert_eq!(parse_metrics("metrics.acme"), None);
        assert_eq!(parse_metrics("metrics.a.b.c"), None);
        assert_eq!(parse_metrics("hosts.a.b"), None);
    }

    #[test]
    fn action_subjects_round_trip() {
        let subject = action("acme", "h1", crate::messages::ActionStage::Result);
        assert_eq!(subject, "actions.acme.h1.result");
        assert_eq!(parse_action(&subject), Some(("acme", "h1", "result")));
        assert_eq!(parse_action("actions.acme.h1"), None);
    }

    #[test]
    fn tenant_settings_subject_round_trips() {
        assert_eq!(tenant_settings("acme"), "tenants.acme.settings");
        assert_eq!(parse_tenant_settings("tenants.acme.settings"), Some("acme"));
        assert_eq!(parse_tenant_settings("tenants.acme.other"), None);
    }

    #[test]
    fn dead_letter_keeps_the_original_subject() {
        assert_eq!(dead_letter("metrics.acme.h1"), "deadletter.metrics.acme.h1");
    }

    #[test]
    fn endpoint_subjects_are_distinct() {
        let subjects: std::collections::HashSet<String> = collector::ALL.iter().map(EndpointName::subject).collect();
        assert_eq!(subjects.len(), collector::ALL.len());
        assert_eq!(collector::LIST_HOSTS.subject(), "vigil.collector.hosts.list");
    }
}
