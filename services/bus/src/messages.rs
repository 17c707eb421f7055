//! Message types carried on the bus, as JSON. Each one has a JSON Schema in
//! `schemas/` (file named in its doc); `tests/` validates what the running
//! stack publishes against those schemas.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ServiceError;

// ---------------------------------------------------------------------------
// metrics.<tenant>.<host> — schemas/metrics-snapshot.schema.json

/// One agent snapshot, as published by the gateway after authenticating the
/// agent. `(host_id, collected_at)` identifies it: it is the JetStream
/// de-duplication id and the primary key of its `metrics_host` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    pub tenant_id: String,
    pub host_id: String,
    /// Agent-side sequence number (unique per agent, increasing).
    pub seq: u64,
    /// When the agent took the snapshot (millisecond precision).
    pub collected_at: DateTime<Utc>,
    /// When the gateway received it.
    pub received_at: DateTime<Utc>,
    pub host: HostMetrics,
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
    #[serde(default)]
    pub services: Vec<ServiceMetrics>,
    #[serde(default)]
    pub custom: Vec<CustomMetric>,
    /// Sections the agent could not collect this time (the rest is valid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<SectionError>,
}

/// One section of a snapshot that failed, e.g. `containers.docker`, `host.disk`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionError {
    pub section: String,
    pub error: String,
}

impl MetricsSnapshot {
    /// JetStream `Nats-Msg-Id`: a replay of the same snapshot is dropped by
    /// the stream's duplicate window.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", self.host_id, self.collected_at.timestamp_millis())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostMetrics {
    /// Seconds since boot.
    pub uptime: u64,
    pub cpu: CpuMetrics,
    pub memory: MemoryMetrics,
    pub disk: DiskMetrics,
    pub network: NetworkMetrics,
    pub load: LoadMetrics,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CpuMetrics {
    pub percent: f64,
    pub cores: u32,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub per_core: Vec<f64>,
}

/// Bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryMetrics {
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub percent: f64,
    pub swap_total: u64,
    pub swap_used: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiskMetrics {
    pub mounts: Vec<MountMetrics>,
}

impl DiskMetrics {
    pub fn used(&self) -> u64 {
        self.mounts.iter().map(|m| m.used).sum()
    }
    pub fn total(&self) -> u64 {
        self.mounts.iter().map(|m| m.total).sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MountMetrics {
    pub path: String,
    pub total: u64,
    pub used: u64,
    pub percent: f64,
    pub fs_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkMetrics {
    pub interfaces: Vec<InterfaceMetrics>,
}

impl NetworkMetrics {
    pub fn rx_bytes(&self) -> u64 {
        self.interfaces.iter().map(|i| i.rx_bytes).sum()
    }
    pub fn tx_bytes(&self) -> u64 {
        self.interfaces.iter().map(|i| i.tx_bytes).sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterfaceMetrics {
    pub name: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadMetrics {
    pub load_1m: f64,
    pub load_5m: f64,
    pub load_15m: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerMetrics {
    pub name: String,
    pub runtime: String,
    pub status: String,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub image: String,
    pub cpu_percent: f64,
    pub memory_used: u64,
    pub memory_limit: u64,
    pub memory_percent: f64,
    pub disk_used: u64,
    pub network_rx: u64,
    pub network_tx: u64,
    pub processes: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceMetrics {
    pub name: String,
    pub status: String,
    pub pid: u32,
    pub memory: u64,
    pub cpu_percent: f64,
    #[serde(default)]
    pub ports: Vec<u32>,
    pub uptime: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomMetric {
    pub name: String,
    /// `gauge` or `counter`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: f64,
    /// Set when the command failed or timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// ---------------------------------------------------------------------------
// deadletter.<original subject> — schemas/dead-letter.schema.json

/// A message a service terminated because it can never be stored (the
/// database refuses it, it cannot be decoded, it names an unknown host...),
/// kept with why on `deadletter.<original subject>` (stream `DEADLETTER`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The service that gave up on it, e.g. `collector`.
    pub service: String,
    /// Where it was published.
    pub subject: String,
    /// Its sequence in its stream (0 when unknown).
    pub stream_sequence: u64,
    /// Why it can never be stored.
    pub error: String,
    pub terminated_at: DateTime<Utc>,
    /// The original payload: its JSON value when it was JSON, else its bytes
    /// as a (lossy UTF-8) string.
    pub payload: serde_json::Value,
}

impl DeadLetter {
    pub fn new(service: &str, subject: &str, stream_sequence: u64, error: String, payload: &[u8]) -> DeadLetter {
        let payload = serde_json::from_slice(payload)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(payload).into_owned()));
        DeadLetter {
            service: service.to_owned(),
            subject: subject.to_owned(),
            stream_sequence,
            error,
            terminated_at: Utc::now(),
            payload,
        }
    }
}

// ---------------------------------------------------------------------------
// hosts.<tenant>.<host>.<event> — schemas/host-event.schema.json

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostEventKind {
    Registered,
    Online,
    Offline,
    Degraded,
}

impl HostEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostEventKind::Registered => "registered",
            HostEventKind::Online => "online",
            HostEventKind::Offline => "offline",
            HostEventKind::Degraded => "degraded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEvent {
    pub tenant_id: String,
    pub host_id: String,
    pub event: HostEventKind,
    pub at: DateTime<Utc>,
    /// Last snapshot time, for online/offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------
// alerts.<tenant>.<host>.<event> — schemas/alert-event.schema.json

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
            .ok_or_else(|| format!("severity {text:?} is not one of info, warning, critical"))
    }
}

/// Where an alert is: the seed's `alerts.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// What happened to an alert: the last token of its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertTransition {
    Fired,
    Acknowledged,
    Resolved,
}

impl AlertTransition {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertTransition::Fired => "fired",
            AlertTransition::Acknowledged => "acknowledged",
            AlertTransition::Resolved => "resolved",
        }
    }
}

/// One alert: a rule firing for one instance (the host, or one of its
/// mounts, containers or services). A row of `alerts`, as the REST API shows
/// it and as `alerts.<tenant>.<host>.<event>` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: String,
    pub tenant_id: String,
    pub host_id: String,
    pub host_name: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    pub status: AlertStatus,
    /// Set when the instance is a mount (`host.disk.*` rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The rule's message, rendered when it fired.
    pub message: String,
    /// The condition's value when it fired, as text (`"92.5"`, `"exited"`).
    pub value: Option<String>,
    /// Stable id of the instance (rule × host × mount/container/service):
    /// the same across its alerts, e.g. PagerDuty's `dedup_key`.
    pub fingerprint: String,
    /// A silence or maintenance window matched it: recorded, not notified.
    pub silenced: bool,
    pub fired_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// `alerts.<tenant>.<host>.<fired|acknowledged|resolved>` (stream `ALERTS`):
/// an alert changed; `alert` is its state after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub event: AlertTransition,
    pub at: DateTime<Utc>,
    pub alert: Alert,
}

// ---------------------------------------------------------------------------
// actions.<tenant>.<host>.<stage> — schemas/action-*.schema.json

/// What a remote action does. Each one stands for one canonical command line
/// on the agent (`systemctl restart nginx.service`, `podman restart web`,
/// `exec <command>`: see `docs/actions.md`), which the agent's own
/// `actions.allowed` / `actions.denied` globs are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    RestartService,
    StartService,
    StopService,
    StatusService,
    RestartContainer,
    StartContainer,
    StopContainer,
    Exec,
}

impl ActionType {
    pub const ALL: [ActionType; 8] = [
        ActionType::RestartService,
        ActionType::StartService,
        ActionType::StopService,
        ActionType::StatusService,
        ActionType::RestartContainer,
        ActionType::StartContainer,
        ActionType::StopContainer,
        ActionType::Exec,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::RestartService => "restart_service",
            ActionType::StartService => "start_service",
            ActionType::StopService => "stop_service",
            ActionType::StatusService => "status_service",
            ActionType::RestartContainer => "restart_container",
            ActionType::StartContainer => "start_container",
            ActionType::StopContainer => "stop_container",
            ActionType::Exec => "exec",
        }
    }

    /// The one parameter naming what the action acts on: `service`,
    /// `container` or `command`.
    pub fn target_param(self) -> &'static str {
        match self {
            ActionType::RestartService | ActionType::StartService | ActionType::StopService | ActionType::StatusService => {
                "service"
            }
            ActionType::RestartContainer | ActionType::StartContainer | ActionType::StopContainer => "container",
            ActionType::Exec => "command",
        }
    }

    /// The verb of a service or container action (`restart`, `start`,
    /// `stop`, `status`); `exec` for exec.
    pub fn verb(self) -> &'static str {
        match self {
            ActionType::RestartService | ActionType::RestartContainer => "restart",
            ActionType::StartService | ActionType::StartContainer => "start",
            ActionType::StopService | ActionType::StopContainer => "stop",
            ActionType::StatusService => "status",
            ActionType::Exec => "exec",
        }
    }
}

impl std::str::FromStr for ActionType {
    type Err = String;

    fn from_str(text: &str) -> Result<ActionType, String> {
        ActionType::ALL.into_iter().find(|kind| kind.as_str() == text).ok_or_else(|| {
            format!(
                "action type {text:?} is not one of {}",
                ActionType::ALL.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// Where an action is: a row of `actions_log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Recorded and signed, not yet started by the agent.
    Pending,
    /// The agent allowed it and started it.
    Running,
    /// It ran and exited 0.
    Success,
    /// It ran and failed (exit code, timeout, engine error), or the agent
    /// could not start it.
    Failed,
    /// Its TTL passed before the agent started it; it never ran.
    Expired,
    /// The agent refused it (not enabled, not allowed, denied, bad signature).
    Denied,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 6] = [
        ActionStatus::Pending,
        ActionStatus::Running,
        ActionStatus::Success,
        ActionStatus::Failed,
        ActionStatus::Expired,
        ActionStatus::Denied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Running => "running",
            ActionStatus::Success => "success",
            ActionStatus::Failed => "failed",
            ActionStatus::Expired => "expired",
            ActionStatus::Denied => "denied",
        }
    }

    /// Nothing changes it any more.
    pub fn is_final(self) -> bool {
        !matches!(self, ActionStatus::Pending | ActionStatus::Running)
    }
}

impl std::str::FromStr for ActionStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<ActionStatus, String> {
        ActionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("action status {text:?} is not one of pending, running, success, failed, expired, denied"))
    }
}

/// The stage in an action subject `actions.<tenant>.<host>.<stage>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStage {
    /// [`ActionOrder`], published by the actioner: any gateway holding the
    /// host's agent stream hands it over.
    Requested,
    /// [`ActionDispatched`], published by the gateway that handed it over.
    Dispatched,
    /// [`ActionOutcome`], the agent's report as the gateway received it.
    Result,
    /// [`ActionRecord`], published by the actioner after each change it stored.
    Status,
}

impl ActionStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStage::Requested => "requested",
            ActionStage::Dispatched => "dispatched",
            ActionStage::Result => "result",
            ActionStage::Status => "status",
        }
    }
}

/// A host agent's `actions` config as it registered it, so the dashboard can
/// tell before a click what the agent would refuse (the agent decides).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionPolicy {
    pub enabled: bool,
    #[serde(default)]
    pub allowed: Vec<String>,
    #[serde(default)]
    pub denied: Vec<String>,
    /// `systemd`, `openrc` or `none`: what service actions run.
    pub service_manager: String,
    /// Container engines the agent acts through, in the order it tries them.
    #[serde(default)]
    pub engines: Vec<String>,
}

/// An action as the agent receives it: signed by the actioner with the
/// server's action key (ed25519 over [`crate::actions::signed_message`]),
/// valid until `expires_at`. `actions.<tenant>.<host>.requested`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionOrder {
    pub id: String,
    pub tenant_id: String,
    pub host_id: String,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    /// `service`, `container` (and `engine`: docker, podman or incus, when
    /// known) or `command`.
    pub params: std::collections::BTreeMap<String, String>,
    /// Who asked: a user's email, or `scenario:<id>`.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// The agent refuses to start it after this instant.
    pub expires_at: DateTime<Utc>,
    /// The agent kills it (its whole process group) after this many seconds.
    pub timeout_seconds: u32,
    /// Ed25519 signature of [`crate::actions::signed_message`], standard base64.
    pub signature: String,
}

/// `actions.<tenant>.<host>.dispatched`: a gateway wrote the order to the
/// agent's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionDispatched {
    pub action_id: String,
    pub tenant_id: String,
    pub host_id: String,
    pub at: DateTime<Utc>,
}

/// `actions.<tenant>.<host>.result`: what the agent reported (`running` when
/// it started, then once its final status), as the gateway received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub action_id: String,
    pub tenant_id: String,
    pub host_id: String,
    /// `running`, `success`, `failed`, `denied` or `expired`.
    pub status: ActionStatus,
    /// The canonical command line the agent matched its rules against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The `allowed` or `denied` entry that decided (none: refused by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// stdout and stderr as they came, at most 64 KiB.
    #[serde(default)]
    pub output: String,
    /// The output went past the cap; the rest was read and dropped.
    #[serde(default)]
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// When the gateway received it.
    pub received_at: DateTime<Utc>,
}

/// One action as stored in `actions_log` (REST `GET /api/actions/{id}`,
/// `actions.<tenant>.<host>.status`, the dashboard's `action` frame).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionRecord {
    pub id: String,
    pub tenant_id: String,
    pub host_id: String,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    pub params: std::collections::BTreeMap<String, String>,
    pub status: ActionStatus,
    /// The user who asked (their id), when a user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Who asked: a user's email, or `scenario:<id>`.
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Absent in lists (`actions.list`); present in `actions.get` and status events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default)]
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub timeout_seconds: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

// ---------------------------------------------------------------------------
// Actioner endpoints — schemas/actioner-*.schema.json

/// `actions.request`: record, sign and publish an action. The REST body of
/// `POST /api/hosts/{id}/action` is `{type, params}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestAction {
    pub tenant_id: String,
    pub host_id: String,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// The asking user's id (none for a scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A user's email, or `scenario:<id>`.
    pub requested_by: String,
    /// How long the order may wait for an offline agent (default `actioner.ttl`, 5 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
    /// Kill after (default `actioner.timeout`, 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// The same key twice (in one tenant) records one action: the second
    /// request answers the first's record (a scenario step never runs twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `actions.list`: newest first, without output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListActions {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ActionStatus>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub action_type: Option<ActionType>,
    /// Only actions created before this one (paging: the last id of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// At most this many (default 100, at most 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `actions.pending`: the orders a gateway hands to an agent that just
/// connected (pending or running, oldest first; the agent answers an order
/// it already ran from its own record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingActions {
    pub tenant_id: String,
    pub host_id: String,
}

// ---------------------------------------------------------------------------
// Collector endpoints — schemas/collector-*.schema.json

/// `vigil.collector.hosts.register`: the gateway registers an agent whose token
/// it has checked. Same `(tenant, machine_id)` → same host id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterHost {
    pub tenant_id: String,
    /// `agent.id` when not `auto`.
    #[serde(default)]
    pub requested_id: Option<String>,
    pub name: String,
    pub hostname: String,
    pub machine_id: String,
    pub os: String,
    pub arch: String,
    pub agent_version: String,
    pub ip_address: String,
    /// What the agent allows (its `actions` config); absent from agents
    /// older than remote actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<ActionPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    Online,
    Offline,
    Degraded,
}

/// A row of `hosts`, as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub hostname: String,
    pub ip_address: String,
    pub os: String,
    pub arch: String,
    /// The CPU model its agent last reported ("" until one did).
    #[serde(default)]
    pub cpu_model: String,
    pub agent_version: String,
    pub status: HostStatus,
    pub last_seen: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// What the host's agent allows, as it last registered (none: an agent
    /// older than remote actions, which refuses them all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<ActionPolicy>,
}

/// `vigil.collector.hosts.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListHosts {
    pub tenant_id: String,
}

/// `vigil.collector.hosts.get`: `NotFound` when the host is not the tenant's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetHost {
    pub tenant_id: String,
    pub host_id: String,
}

/// `vigil.collector.metrics.range`: points with `from <= timestamp <= to`,
/// oldest first, at most `limit`. With `step` (seconds, at most
/// [`MAX_RANGE_STEP`]) the window is cut into `step`-long buckets (aligned
/// on the unix epoch) and each bucket gives one point: its snapshot with the
/// highest CPU (the earliest among equals), so a long window (a 7-day graph:
/// 60,480 snapshots at 10 s) fits in a few thousand points and keeps its
/// peaks. `step` 0 (the default, omitted): every point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRange {
    pub tenant_id: String,
    pub host_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub step: u32,
}

/// Largest [`MetricsRange::step`]: one day.
pub const MAX_RANGE_STEP: u32 = 86_400;

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// `vigil.collector.metrics.hourly`: the host's hourly aggregates with
/// `from <= hour <= to` (`hour` is the start of the hour), oldest first, at
/// most [`MAX_HOURLY_POINTS`]. Only complete hours are aggregated (within an
/// hour of their end); the raw points of the last hours come from
/// `metrics.range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourlyRange {
    pub tenant_id: String,
    pub host_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Most hours one `metrics.hourly` answer carries (a year and a day).
pub const MAX_HOURLY_POINTS: u32 = 366 * 24;

/// What an hourly or a daily row of one host holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollup {
    /// Snapshots the period held.
    pub samples: u32,
    pub cpu_avg: f64,
    pub cpu_max: f64,
    /// Bytes.
    pub memory_avg: u64,
    pub memory_max: u64,
    /// The largest memory total seen in the period (bytes).
    pub memory_total: u64,
    /// Average used bytes over every mount.
    pub disk_avg: u64,
    /// Bytes received and sent in the period (all interfaces; for an hour,
    /// the counters' growth between its first and last snapshot; for a day,
    /// the sum of its hours).
    pub network_rx_total: u64,
    pub network_tx_total: u64,
}

/// One hour of one host's snapshots, aggregated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HourlyPoint {
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    #[serde(flatten)]
    pub values: Rollup,
}

/// `vigil.collector.metrics.latest`.
pub type MetricsLatest = GetHost;

/// One stored host snapshot. `host.cpu.model` is not kept per point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricsPoint {
    pub timestamp: DateTime<Utc>,
    pub host: HostMetrics,
}

// ---------------------------------------------------------------------------
// Inventory endpoints (containers, services, custom metrics) —
// schemas/collector-containers-*.schema.json, collector-services-host.schema.json,
// collector-custom-*.schema.json

/// `vigil.collector.containers.host`: the containers of the host's latest
/// snapshot. `NotFound` when the host is not the tenant's.
pub type HostContainers = GetHost;

/// `vigil.collector.services.host`: the services of the host's latest snapshot.
pub type HostServices = GetHost;

/// `vigil.collector.containers.list`: the containers of the latest snapshot of
/// each of the tenant's hosts.
pub type ListContainers = ListHosts;

/// `vigil.collector.custom.latest`: the newest point of each custom metric.
pub type CustomLatest = GetHost;

/// `vigil.collector.containers.get`: one container of the host's latest
/// snapshot (`NotFound` when absent from it or the host is not the tenant's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetContainer {
    pub tenant_id: String,
    pub host_id: String,
    pub container_name: String,
}

/// A container as the REST API shows it: its metrics in one snapshot plus
/// where and when. `id` is [`crate::ContainerId`]'s `<host_id>:<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerRecord {
    pub id: String,
    pub host_id: String,
    /// Set by `containers.list` and `containers.get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// Collection time of the snapshot the values come from.
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub metrics: ContainerMetrics,
}

/// `vigil.collector.containers.range`: stored points of one container with
/// `from <= timestamp <= to`, oldest first, at most `limit` (0: the cap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRange {
    pub tenant_id: String,
    pub host_id: String,
    pub container_name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: u32,
}

/// One stored container row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerPoint {
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub metrics: ContainerMetrics,
}

/// A service of a host's latest snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceRecord {
    pub host_id: String,
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub metrics: ServiceMetrics,
}

/// `vigil.collector.custom.range`: custom metric points with
/// `from <= timestamp <= to` (only `name`'s when set), oldest first, at most
/// `limit` (0: the cap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomRange {
    pub tenant_id: String,
    pub host_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: u32,
}

/// One stored custom metric value. `error` is set (and `value` meaningless)
/// when the agent's command failed or timed out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomPoint {
    pub name: String,
    /// `gauge` or `counter`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: f64,
    pub error: Option<String>,
    pub timestamp: DateTime<Utc>,
}

// ---------------------------------------------------------------------------
// vigil.collector.hosts.latest — schemas/collector-hosts-latest.schema.json

/// `vigil.collector.hosts.latest`: one page of the tenant's hosts, by id,
/// each with its latest stored data (what `/api/metrics/prometheus`
/// serves). Hosts come after `after` (a host id; none: from the first), at
/// most `limit` (0 or over [`MAX_LATEST_HOSTS`]: that cap); a page shorter
/// than the limit is the last. Only hosts whose `last_seen` is at or after
/// `fresh_since` get their `latest` read (the others are stale for the
/// caller: their data is never read). With `shards` > 1 only the hosts with
/// `CRC32(id) % shards = shard` are paged, so a caller can read a large
/// tenant as several cursors side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestPage {
    pub tenant_id: String,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: u32,
    pub fresh_since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shard: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shards: u32,
}

/// Most hosts one `hosts.latest` page carries.
pub const MAX_LATEST_HOSTS: u32 = 1000;

/// A host and its latest stored data (see [`LatestPage`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostLatest {
    pub id: String,
    pub name: String,
    pub status: HostStatus,
    pub last_seen: Option<DateTime<Utc>>,
    /// None: the host is not fresh, or has no stored snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestData>,
}

/// The newest stored snapshot of a host (host metrics, its containers and
/// services), and the newest value of each custom metric since `fresh_since`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestData {
    pub timestamp: DateTime<Utc>,
    pub host: HostMetrics,
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
    #[serde(default)]
    pub services: Vec<ServiceMetrics>,
    #[serde(default)]
    pub custom: Vec<CustomPoint>,
}

// ---------------------------------------------------------------------------
// Alerter endpoints — schemas/alerter-*.schema.json

/// A tenant-wide request with nothing else to say (`rules.list`,
/// `channels.list`, `silences.list`, `maintenance.list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfTenant {
    pub tenant_id: String,
}

/// One item of a tenant, named by id (`rules.delete`, `silences.delete`,
/// `maintenance.delete`, `channels.test`): `NotFound` when it is not the tenant's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantItem {
    pub tenant_id: String,
    pub id: String,
}

/// An alert rule as written by a user (REST body of POST/PUT
/// `/api/alerts/rules`). `condition` is the condition language of
/// `docs/alerting-conditions.md`; `message` a handlebars template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub condition: String,
    /// How long the condition must hold before the alert fires
    /// (`"5m"`, `"30s"`, `"0s"`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "5m"))]
    #[serde(with = "crate::duration::serde_text")]
    pub duration: std::time::Duration,
    pub severity: Severity,
    /// Channel ids; empty: every enabled channel of the tenant.
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Hysteresis: a firing alert resolves only once this holds. A number
    /// (the condition's threshold moved, for a condition that is one
    /// comparison) or a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear: Option<ClearSpec>,
    /// How often a firing, unacknowledged alert is notified again
    /// (default 4 h; `"0s"`: never).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "5m"))]
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::duration::serde_text_option")]
    pub repeat_interval: Option<std::time::Duration>,
}

fn enabled_by_default() -> bool {
    true
}

/// A rule's `clear`: a threshold or a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ClearSpec {
    Threshold(f64),
    Condition(String),
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleRecord {
    pub id: String,
    pub tenant_id: String,
    #[serde(flatten)]
    pub rule: RuleInput,
    /// `host_offline` for the built-in rule driven by host events, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// What one instance of the rule is: `host`, `mount`, `container`, `service`.
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `rules.create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRule {
    pub tenant_id: String,
    pub rule: RuleInput,
}

/// `rules.update`: replaces the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRule {
    pub tenant_id: String,
    pub id: String,
    pub rule: RuleInput,
}

/// `rules.validate` and `rules.preview`: a condition (and optional clear and
/// message) to check; `Unprocessable` names the field and column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRule {
    pub tenant_id: String,
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear: Option<ClearSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What `rules.validate` answers for a valid rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleCheck {
    /// `host`, `mount`, `container` or `service`.
    pub scope: String,
}

/// One instance the condition holds for now (`rules.preview`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewMatch {
    pub host_id: String,
    pub host_name: String,
    /// The mount, container or service; absent for a host-scoped rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub value: Option<String>,
    /// When the data it was evaluated on was collected.
    pub timestamp: Option<DateTime<Utc>>,
}

/// `rules.preview`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulePreview {
    pub scope: String,
    /// Hosts whose latest data was evaluated.
    pub hosts_evaluated: u32,
    pub matches: Vec<PreviewMatch>,
}

/// `alerts.list`: the tenant's active alerts (firing or acknowledged),
/// newest first, filtered by what is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListAlerts {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AlertStatus>,
}

/// `alerts.history`: resolved alerts, newest first, `limit` (at most
/// [`MAX_HISTORY_PAGE`]) per page; `before` is the previous page's
/// `next_before`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertHistoryQuery {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    pub limit: u32,
}

/// Most entries of one history page.
pub const MAX_HISTORY_PAGE: u32 = 500;

/// A resolved alert (a row of `alerts_history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertHistoryEntry {
    /// Position in the history (for paging).
    pub seq: u64,
    #[serde(flatten)]
    pub alert: Alert,
    pub duration_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertHistoryPage {
    pub items: Vec<AlertHistoryEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<u64>,
}

/// `alerts.acknowledge`: stops the repeats; `Conflict` when it is already
/// acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeAlert {
    pub tenant_id: String,
    pub alert_id: String,
    /// Who acknowledged it (the user's email).
    pub by: String,
}

/// A notification channel as the REST API shows it: secrets masked
/// (`"••••abcd"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelRecord {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// `email`, `slack`, `pagerduty`, `webhook`, `discord`, `teams`, `telegram`, `ntfy`.
    #[serde(rename = "type")]
    pub kind: String,
    pub config: serde_json::Value,
}

/// One channel of a `PUT /api/config/notifications` body: without `id` it
/// is created; a masked secret sent back keeps the stored one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub config: serde_json::Value,
}

/// `channels.put`: the tenant's channels become exactly these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutChannels {
    pub tenant_id: String,
    pub channels: Vec<ChannelInput>,
}

/// `channels.test`'s answer: what the receiver said to a test message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelTestResult {
    pub delivered: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// What a silence matches: every field set must match (none set: every
/// alert of the tenant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertMatcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// A silence as written by a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    #[serde(rename = "match", default)]
    pub matcher: AlertMatcher,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SilenceRecord {
    pub id: String,
    #[serde(flatten)]
    pub silence: SilenceInput,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// `silences.create` / `silences.update` (`id` set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveSilence {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub by: String,
    pub silence: SilenceInput,
}

/// A recurring maintenance window: from each time `schedule` (a cron
/// expression with seconds, `sec min hour day month weekday`, UTC) for
/// `duration`, the host's alerts (every host's when `host_id` is absent) are
/// not notified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MaintenanceInput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    pub schedule: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "5m"))]
    #[serde(with = "crate::duration::serde_text")]
    pub duration: std::time::Duration,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaintenanceRecord {
    pub id: String,
    #[serde(flatten)]
    pub window: MaintenanceInput,
    /// Whether a window is open now, and the next start.
    pub active_now: bool,
    pub next_start: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// `maintenance.create` / `maintenance.update` (`id` set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveMaintenance {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub by: String,
    pub window: MaintenanceInput,
}

// ---------------------------------------------------------------------------
// Orchestrator endpoints — schemas/orchestrator-*.schema.json
//
// A scenario (seed §4.5) is written as YAML or JSON ([`ScenarioSpec`]); the
// orchestrator keeps the text as written and the parsed spec.

/// What starts a scenario: exactly one of `alert` (a rule id: each firing
/// of it), `cron` (a schedule, 5 or 6 fields, UTC) or `manual: true`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
    /// Alert: only these hosts' firings (empty: every host). Cron and
    /// manual: the hosts a run acts on (empty: steps name their `host_id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

fn default_cooldown() -> std::time::Duration {
    std::time::Duration::from_secs(10 * 60)
}
fn default_window() -> std::time::Duration {
    std::time::Duration::from_secs(3600)
}
fn default_max_attempts() -> u32 {
    3
}
fn default_host_concurrency() -> u32 {
    1
}
fn default_fleet_concurrency() -> u32 {
    5
}

/// What keeps a scenario from acting too often or too widely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GuardSpec {
    /// After a run on a host, the scenario skips that host this long (skipped runs are recorded).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "5m"))]
    #[serde(default = "default_cooldown", with = "crate::duration::serde_text")]
    pub cooldown: std::time::Duration,
    /// At most this many runs per host within `window`; then it stops and notifies.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "5m"))]
    #[serde(default = "default_window", with = "crate::duration::serde_text")]
    pub window: std::time::Duration,
    /// Runs of this scenario at once on one host.
    #[serde(default = "default_host_concurrency")]
    pub host_concurrency: u32,
    /// Runs of this scenario at once across the tenant.
    #[serde(default = "default_fleet_concurrency")]
    pub fleet_concurrency: u32,
    /// A firing that is silenced (silence or maintenance) starts no run.
    #[serde(default = "enabled_by_default")]
    pub skip_silenced: bool,
}

impl Default for GuardSpec {
    fn default() -> Self {
        GuardSpec {
            cooldown: default_cooldown(),
            max_attempts: default_max_attempts(),
            window: default_window(),
            host_concurrency: default_host_concurrency(),
            fleet_concurrency: default_fleet_concurrency(),
            skip_silenced: true,
        }
    }
}

/// One step. `service: action` with `action:` an [`ActionType`] (params:
/// `host_id` and the action's params); `service: alert` with `action:
/// notify` (params: `message`, optional `channel`: a channel id, name or
/// type) or `action: verify` (params: `within`, e.g. `5m`: the triggering
/// alert must resolve by then, else `on_fail` runs). Params are handlebars
/// templates over `alert.*`, `host.*`, `scenario.*`, `run.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub id: String,
    pub service: String,
    pub action: String,
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// How long to wait for an action's result (default: its timeout + 30 s).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "5m"))]
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::duration::serde_text_option")]
    pub timeout: Option<std::time::Duration>,
    /// Steps run when this one fails (a verify not met, an action not successful).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub on_fail: Vec<StepSpec>,
}

/// A scenario as written (YAML or JSON body of `POST /api/scenarios`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub trigger: TriggerSpec,
    #[serde(default)]
    pub guards: GuardSpec,
    pub steps: Vec<StepSpec>,
}

/// A stored scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScenarioRecord {
    pub id: String,
    pub tenant_id: String,
    /// The text as written (YAML or JSON).
    pub source: String,
    pub spec: ScenarioSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// `scenarios.save`: create (`id` absent) or replace a scenario from its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveScenario {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// YAML or JSON text of a [`ScenarioSpec`].
    pub source: String,
    pub by: String,
}

/// `scenarios.run`: a manual run (or, with `dry_run`, what a run would do:
/// the steps with their params rendered, nothing requested).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunScenario {
    pub tenant_id: String,
    pub id: String,
    /// The host the run acts on (else the trigger's `hosts`, else the steps' `host_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    pub by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Success,
    Failed,
    /// A guard kept it from starting (cooldown, attempts, concurrency, silenced, kill switch); `reason` says which.
    Skipped,
    /// Too many attempts: stopped, and notified.
    Stopped,
    /// A dry run: nothing was done.
    DryRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Success,
    Failed,
    Skipped,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunStep {
    /// Where in the scenario: `2`, `2.on_fail.1`.
    pub path: String,
    pub step_id: String,
    /// `action`, `notify` or `verify`.
    pub kind: String,
    pub status: StepStatus,
    /// The params as rendered for this run.
    pub params: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// One run of a scenario, with its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScenarioRun {
    pub id: String,
    pub tenant_id: String,
    pub scenario_id: String,
    pub scenario_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// `alert`, `cron` or `manual`.
    pub trigger: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub steps: Vec<RunStep>,
}

/// `runs.list`: newest first (the steps included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListRuns {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The tenant's kill switch: with `enabled: false` no scenario starts a
/// run (triggers are recorded as skipped) and running ones stop before
/// their next step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScenarioSettings {
    pub tenant_id: String,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// `settings.put`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutScenarioSettings {
    pub tenant_id: String,
    pub enabled: bool,
    pub by: String,
}

/// `vigil.alerter.channels.notify`: a message through the tenant's
/// channels, by the outbox (at least once, de-duplicated by `key`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyChannels {
    pub tenant_id: String,
    /// A channel id, name or type; none: every enabled channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    pub message: String,
    /// The same key twice notifies once (e.g. `<run id>:<step path>`).
    pub key: String,
}

/// What `channels.notify` queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyReceipt {
    /// Ids of the channels the message was queued for.
    pub channels: Vec<String>,
}

// ---------------------------------------------------------------------------
// History, overview and tenant settings — schemas/collector-metrics-daily,
// -overview, -history, gateway-tenants-retention, tenant-settings schemas

/// `vigil.collector.metrics.daily`: the host's daily aggregates with
/// `from <= day <= to` (`day` is midnight UTC), oldest first, at most
/// [`MAX_DAILY_POINTS`]. Only complete days are folded (from the hourly rows).
pub type DailyRange = HourlyRange;

/// Most days one `metrics.daily` answer carries (ten years).
pub const MAX_DAILY_POINTS: u32 = 3660;

/// One day of one host, folded from its hourly aggregates (averages
/// weighted by the snapshots each hour held).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyPoint {
    /// Midnight UTC starting the day.
    pub day: DateTime<Utc>,
    #[serde(flatten)]
    pub values: Rollup,
}

/// Counts of one kind of thing of a tenant, from each host's latest snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunningCount {
    pub running: u64,
    pub total: u64,
}

/// The tenant's hosts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostCounts {
    pub total: u64,
    pub online: u64,
    pub offline: u64,
    pub degraded: u64,
}

/// Average and maximum of a percentage over the online hosts' latest
/// snapshots; `None` when no online host reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PercentStat {
    pub avg: Option<f64>,
    pub max: Option<f64>,
}

/// `vigil.collector.metrics.overview` (request [`OfTenant`]): the tenant's
/// fleet now. Containers and services come from each host's latest
/// snapshot; CPU, memory and disk (percent of total, every mount summed)
/// from the online hosts' latest snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetOverview {
    pub at: DateTime<Utc>,
    pub hosts: HostCounts,
    pub containers: RunningCount,
    /// `running` counts the services whose status is active or running.
    pub services: RunningCount,
    pub cpu: PercentStat,
    pub memory: PercentStat,
    pub disk: PercentStat,
}

/// Which stored data a history reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    /// `metrics_host`, kept `collector.retention_raw`.
    Raw,
    /// `metrics_host_hourly`: steps of whole hours.
    Hourly,
    /// `metrics_host_daily`: steps of whole days.
    Daily,
}

impl HistorySource {
    pub fn as_str(self) -> &'static str {
        match self {
            HistorySource::Raw => "raw",
            HistorySource::Hourly => "hourly",
            HistorySource::Daily => "daily",
        }
    }
}

impl std::str::FromStr for HistorySource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "raw" => Ok(HistorySource::Raw),
            "hourly" => Ok(HistorySource::Hourly),
            "daily" => Ok(HistorySource::Daily),
            other => Err(format!("{other:?} is not a source; write raw, hourly or daily")),
        }
    }
}

/// `vigil.collector.metrics.history`: fleet aggregates of the tenant's hosts
/// (only `host_ids` when given; each must be the tenant's, else `NotFound`)
/// with `from <= t < to`, one point per `step`-second bucket aligned on the
/// unix epoch. `step` 0 picks one (about [`HISTORY_TARGET_POINTS`] points);
/// no `source` picks it from the step and the retentions. At most
/// [`MAX_HISTORY_POINTS`] buckets, at most [`MAX_HISTORY_HOSTS`] hosts named;
/// otherwise `Unprocessable` naming the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetHistoryQuery {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ids: Vec<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(default)]
    pub step: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<HistorySource>,
}

/// Most buckets one `metrics.history` answer carries.
pub const MAX_HISTORY_POINTS: u64 = 2000;
/// Buckets a picked step aims at.
pub const HISTORY_TARGET_POINTS: u64 = 500;
/// Most hosts one history request names.
pub const MAX_HISTORY_HOSTS: usize = 200;

/// One bucket of a fleet history: percentages over the snapshots the
/// hosts sent in it (averages weighted by snapshots). Buckets without data
/// are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetPoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    /// Hosts with data in the bucket.
    pub hosts: u32,
    pub cpu_avg: Option<f64>,
    pub cpu_max: Option<f64>,
    pub memory_avg: Option<f64>,
    pub memory_max: Option<f64>,
    pub disk_avg: Option<f64>,
    pub disk_max: Option<f64>,
}

/// `metrics.history`'s answer: what was read, and the points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetHistory {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Seconds per bucket.
    pub step: u32,
    pub source: HistorySource,
    pub points: Vec<FleetPoint>,
}

/// A tenant's own retentions (seconds; `None`: the server's). Each is at
/// most the server's (`collector.retention_*`): the collector deletes a
/// tenant's rows past the shorter of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRetention {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_seconds: Option<u64>,
}

/// `vigil.gateway.tenants.retention`: the tenants with a retention of their
/// own (the gateway owns `tenants`; the collector asks before its deletes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTenantRetentions {}

/// `tenants.<tenant>.settings` (core NATS, not stored): a tenant's settings
/// changed. Every gateway pushes `agent_interval_seconds` (`None`: back to
/// each agent's own interval) to the tenant's agents it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettingsChanged {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_interval_seconds: Option<u32>,
    pub retention: TenantRetention,
}

// ---------------------------------------------------------------------------
// Request/reply plumbing

/// Reply of every service endpoint: `{"ok": ...}` or `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    Error(ServiceError),
}

impl<T> From<Result<T, ServiceError>> for Reply<T> {
    fn from(result: Result<T, ServiceError>) -> Self {
        match result {
            Ok(value) => Reply::Ok(value),
            Err(error) => Reply::Error(error),
        }
    }
}

#[cfg(feature = "nats")]
pub use crate::rpc::request;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_encodes_ok_and_error_by_name() {
        let ok: Reply<u32> = Ok(7).into();
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"ok":7}"#);
        let error: Reply<u32> = Err(ServiceError::new(crate::ErrorCode::NotFound, "no host h1")).into();
        assert_eq!(serde_json::to_string(&error).unwrap(), r#"{"error":{"code":"not_found","message":"no host h1"}}"#);
    }

    #[test]
    fn msg_id_is_host_and_collection_millis() {
        let snapshot = MetricsSnapshot {
            tenant_id: "t".into(),
            host_id: "h1".into(),
            seq: 1,
            collected_at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            received_at: Utc::now(),
            host: HostMetrics::default(),
            containers: vec![],
            services: vec![],
            custom: vec![],
            errors: vec![],
        };
        assert_eq!(snapshot.msg_id(), "h1:1700000000123");
    }
}
