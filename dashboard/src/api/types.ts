// Wire types of the gateway REST API and WebSocket protocol (seed §4.2).
// They mirror vigil-bus `messages.rs` and the gateway's rest.rs; the
// normaliser (normalize.ts) turns untrusted JSON into these shapes.

export type HostStatus = 'online' | 'offline' | 'degraded';

export interface HostRecord {
  id: string;
  tenant_id: string;
  name: string;
  hostname: string;
  ip_address: string;
  os: string;
  arch: string;
  /** The CPU model its agent last reported ("" until one did). */
  cpu_model: string;
  agent_version: string;
  status: HostStatus;
  last_seen: string | null;
  created_at: string;
  /** The host agent's action policy as it registered it; absent: an agent older than remote actions (refuses them all). */
  actions?: ActionPolicy | null;
}

export interface CpuMetrics { percent: number; cores: number; model: string; per_core: number[] }
export interface MemoryMetrics {
  total: number; used: number; available: number; percent: number; swap_total: number; swap_used: number;
}
export interface MountMetrics { path: string; total: number; used: number; percent: number; fs_type: string }
export interface InterfaceMetrics {
  name: string; rx_bytes: number; tx_bytes: number; rx_packets: number; tx_packets: number; rx_errors: number; tx_errors: number;
}
export interface LoadMetrics { load_1m: number; load_5m: number; load_15m: number }

export interface HostMetrics {
  uptime: number;
  cpu: CpuMetrics;
  memory: MemoryMetrics;
  disk: { mounts: MountMetrics[] };
  network: { interfaces: InterfaceMetrics[] };
  load: LoadMetrics;
}

export interface MetricsPoint { timestamp: string; host: HostMetrics }

export interface HostDetail { host: HostRecord; latest: MetricsPoint | null }

export interface MetricsRangeAnswer { host_id: string; from: string; to: string; points: MetricsPoint[] }

/** One complete hour of a host, aggregated (`GET /api/hosts/{id}/metrics/hourly`); bytes for memory, disk, network. */
export interface HourlyPoint {
  hour: string;
  samples: number;
  cpu_avg: number;
  cpu_max: number;
  memory_avg: number;
  memory_max: number;
  memory_total: number;
  disk_avg: number;
  network_rx_total: number;
  network_tx_total: number;
}

export interface HourlyAnswer { host_id: string; from: string; to: string; points: HourlyPoint[] }

/** One complete UTC day of a host, folded from its hours (`GET /api/hosts/{id}/metrics/daily`); `day` is its midnight. */
export type DailyPoint = Omit<HourlyPoint, 'hour'> & { day: string };

export interface DailyAnswer { host_id: string; from: string; to: string; points: DailyPoint[] }

export interface ContainerInfo {
  /** Set by `/api/containers` (all hosts); absent per host. */
  host_id?: string;
  name: string;
  runtime: string;
  status: string;
  image: string;
  cpu_percent: number;
  memory_used: number;
  memory_limit: number;
  memory_percent: number;
  disk_used: number;
  network_rx: number;
  network_tx: number;
  processes: number;
}

export interface ServiceInfo {
  name: string;
  status: string;
  pid: number;
  memory: number;
  cpu_percent: number;
  ports: number[];
  uptime: number;
}

/** admin: everything; operator: runs actions, administers nothing; viewer: reads. */
export type Role = 'admin' | 'operator' | 'viewer' | string;

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type KnownRole = (typeof ROLES)[number];

export interface User { id: string; email: string; tenant_id: string; role: Role }

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user: User;
}

export interface AgentToken {
  id: string;
  name: string | null;
  created_at: string | null;
  expires_at?: string | null;
  last_used: string | null;
  revoked_at: string | null;
}

export interface CreatedToken { id: string; token: string }

/** A user of the tenant as `GET /api/users` lists it (admins only). */
export interface UserInfo { id: string; email: string; role: Role; created_at: string | null }

/** `POST /api/users`: the user, and the password only when the server generated it (shown once). */
export interface CreatedUser extends UserInfo { password: string | null }

export interface NewUser { email: string; role: KnownRole; password?: string }

// ---- alerting (vigil-bus messages.rs: Alert, RuleInput, ChannelRecord, SilenceInput, MaintenanceInput) ----

export type Severity = 'info' | 'warning' | 'critical';
export type AlertStatus = 'firing' | 'acknowledged' | 'resolved';
export type AlertTransition = 'fired' | 'acknowledged' | 'resolved';

/** One alert: a rule firing for one instance (the host, or one of its mounts, containers or services). */
export interface Alert {
  id: string;
  tenant_id: string;
  host_id: string;
  host_name: string;
  rule_id: string;
  rule_name: string;
  severity: Severity;
  status: AlertStatus;
  mount?: string;
  container_name?: string;
  service_name?: string;
  message: string;
  value: string | null;
  fingerprint: string;
  /** A silence or maintenance window matched it: recorded, not notified. */
  silenced: boolean;
  fired_at: string;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  resolved_at: string | null;
}

export interface ActiveAlertsFilter { host_id?: string; severity?: Severity; status?: 'firing' | 'acknowledged' }

export interface AlertHistoryQuery { host_id?: string; severity?: Severity; rule_id?: string; before?: number; limit?: number }

export interface AlertHistoryEntry extends Alert { seq: number; duration_seconds: number }

export interface AlertHistoryPage { items: AlertHistoryEntry[]; next_before: number | null }

export type RuleScope = 'host' | 'mount' | 'container' | 'service';

/** A rule as written (POST/PUT `/api/alerts/rules`; the server rejects unknown fields). */
export interface RuleInput {
  name: string;
  description: string;
  condition: string;
  /** "5m", "30s", "0s". */
  duration: string;
  severity: Severity;
  /** Channel ids; empty: every enabled channel. */
  channels: string[];
  message: string;
  enabled: boolean;
  /** Hysteresis: a threshold or a condition. */
  clear?: number | string;
  /** "4h"; "0s": never repeat. */
  repeat_interval?: string;
}

export interface RuleRecord extends RuleInput {
  id: string;
  tenant_id: string;
  builtin?: string;
  scope: RuleScope | string;
  created_at: string;
  updated_at: string;
}

export interface RuleCheckBody { condition: string; clear?: number | string; message?: string }

export interface PreviewMatch { host_id: string; host_name: string; label?: string; value: string | null; timestamp: string | null }

export interface RulePreview { scope: string; hosts_evaluated: number; matches: PreviewMatch[] }

export const CHANNEL_TYPES = ['email', 'slack', 'pagerduty', 'webhook', 'discord', 'teams', 'telegram', 'ntfy'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** A notification channel as the server shows it: secrets masked (`••••abcd`). */
export interface ChannelRecord { id: string; name: string; enabled: boolean; type: ChannelType | string; config: Record<string, unknown> }

/** One entry of `PUT /api/config/notifications` (without id: new); a masked secret sent back keeps the stored one. */
export interface ChannelInput { id?: string; name: string; enabled: boolean; type: string; config: Record<string, unknown> }

export interface ChannelTestResult { delivered: boolean; status: number | null; error: string | null }

/** What a silence matches: every field set must match (none: every alert of the tenant). */
export interface AlertMatcher {
  rule_id?: string;
  host_id?: string;
  severity?: Severity;
  mount?: string;
  container_name?: string;
  service_name?: string;
}

export interface SilenceInput { match: AlertMatcher; starts_at: string; ends_at: string; comment: string }

export interface SilenceRecord extends SilenceInput { id: string; created_by: string; created_at: string }

/** A recurring window (cron with seconds, UTC) during which alerts are not notified. */
export interface MaintenanceInput { name: string; host_id?: string; schedule: string; duration: string; enabled: boolean; comment: string }

export interface MaintenanceRecord extends MaintenanceInput {
  id: string;
  active_now: boolean;
  next_start: string | null;
  created_by: string;
  created_at: string;
}

// ---- remote actions (vigil-bus messages.rs: ActionPolicy, ActionRecord) ----

export const ACTION_TYPES = [
  'restart_service', 'start_service', 'stop_service', 'status_service',
  'restart_container', 'start_container', 'stop_container', 'exec',
] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export const ACTION_STATUSES = ['pending', 'running', 'success', 'failed', 'expired', 'denied'] as const;
export type ActionStatus = (typeof ACTION_STATUSES)[number];

/** A host agent's `actions` config: the agent decides; the dashboard only predicts (src/actions/policy.ts). */
export interface ActionPolicy {
  enabled: boolean;
  allowed: string[];
  denied: string[];
  service_manager: 'systemd' | 'openrc' | 'none';
  /** Container engines the agent acts through, in the order it tries them. */
  engines: string[];
}

/** `service`, `container` (and `engine`) or `command`. */
export type ActionParams = Record<string, string>;

/** One action as the server records it (`GET /api/actions/{id}`; lists carry no output: null). */
export interface ActionRecord {
  id: string;
  tenant_id: string;
  host_id: string;
  /** An ActionType; kept as sent when a newer server has more. */
  type: string;
  params: ActionParams;
  status: ActionStatus;
  user_id: string | null;
  /** A user's email, or `scenario:<id>`. */
  requested_by: string;
  /** The canonical command line the agent matched, and the entry that decided (null: refused by default). */
  command: string | null;
  rule: string | null;
  exit_code: number | null;
  /** null: not in this answer (lists). */
  output: string | null;
  /** The output went past 64 KiB; the rest was dropped. */
  truncated: boolean;
  error: string | null;
  timeout_seconds: number;
  created_at: string;
  expires_at: string;
  dispatched_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
}

export interface ActionsQuery { host_id?: string; status?: ActionStatus; type?: ActionType; before?: string; limit?: number }

// ---- scenarios (vigil-bus messages.rs: ScenarioRecord, ScenarioRun, ScenarioSettings) ----

/** Exactly one of `alert` (a rule id), `cron` (5 or 6 fields, UTC) or `manual`. */
export interface ScenarioTrigger { alert: string | null; cron: string | null; manual: boolean; hosts: string[] }

export interface ScenarioGuards {
  /** Durations as written by the server: "10m", "1h". */
  cooldown: string;
  max_attempts: number;
  window: string;
  host_concurrency: number;
  fleet_concurrency: number;
  skip_silenced: boolean;
}

export interface ScenarioStepSpec {
  id: string;
  /** `action` or `alert`. */
  service: string;
  action: string;
  params: Record<string, string>;
  timeout: string | null;
  on_fail: ScenarioStepSpec[];
}

export interface ScenarioSpec {
  name: string;
  description: string;
  enabled: boolean;
  trigger: ScenarioTrigger;
  guards: ScenarioGuards;
  steps: ScenarioStepSpec[];
}

export interface ScenarioRecord {
  id: string;
  tenant_id: string;
  /** The text as written (YAML or JSON). */
  source: string;
  spec: ScenarioSpec;
  created_at: string;
  updated_at: string;
  updated_by: string;
}

export const RUN_STATUSES = ['running', 'success', 'failed', 'skipped', 'stopped', 'dry_run'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const STEP_STATUSES = ['pending', 'running', 'success', 'failed', 'skipped'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface RunStep {
  /** Where in the scenario: `2`, `2.on_fail.0` (0-based). */
  path: string;
  step_id: string;
  /** `action`, `notify` or `verify`. */
  kind: string;
  status: StepStatus;
  /** The params as rendered for this run. */
  params: Record<string, string>;
  action_id: string | null;
  detail: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface ScenarioRun {
  id: string;
  tenant_id: string;
  scenario_id: string;
  scenario_name: string;
  host_id: string | null;
  /** `alert`, `cron` or `manual`. */
  trigger: string;
  alert_id: string | null;
  status: RunStatus;
  reason: string | null;
  started_at: string;
  finished_at: string | null;
  steps: RunStep[];
}

export interface RunsQuery { scenario_id?: string; before?: string; limit?: number }

/** The tenant's kill switch: `enabled: false` and no scenario starts a run. */
export interface ScenarioSettings { tenant_id: string; enabled: boolean; updated_at: string | null; updated_by: string | null }

// ---- WebSocket ----

export interface LiveContainer { name: string; cpu: number; memory: number; status: string }

export interface MetricsFrame {
  type: 'metrics';
  host_id: string;
  timestamp: string;
  data: {
    cpu: number | null;
    memory: number | null;
    disk: number | null;
    containers: LiveContainer[] | null;
    services_count: number | null;
  };
}

export interface HostStatusFrame { type: 'host_status'; host_id: string; status: HostStatus; timestamp: string }

/** `{"type":"alert"}`: an alert changed (`event`); `alert` is its state after the change (null from a server that does not send it). */
export interface AlertFrame {
  type: 'alert';
  id: string;
  event: AlertTransition;
  severity: string;
  host_id: string;
  message: string;
  timestamp: string;
  alert: Alert | null;
}

/** `{"type":"action"}`: an action's status changed; `action` is its record after the change, with output (null from a server that does not send it). */
export interface ActionFrame {
  type: 'action';
  id: string;
  status: ActionStatus;
  host_id: string;
  timestamp: string;
  action: ActionRecord | null;
}

export type ServerMessage = MetricsFrame | HostStatusFrame | AlertFrame | ActionFrame;

export type ClientMessage =
  | { type: 'subscribe'; hosts?: string[] }
  | { type: 'unsubscribe'; hosts: string[] };
