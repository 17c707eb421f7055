// Turns untrusted JSON from the gateway into the typed shapes of types.ts.
// Invariants: missing numbers become 0 (or null where "unknown" matters),
// missing strings become "", unknown host statuses become "offline", and a
// value that cannot be what it claims (a host without id, a frame without
// type) is rejected (null or NormalizeError), never half-accepted.

import { ACTION_STATUSES } from './types';
import type { DailyAnswer, DailyPoint } from './types';
import type {
  ActionPolicy, ActionRecord, ActionStatus, AgentToken, Alert, AlertHistoryEntry, AlertHistoryPage, AlertMatcher, AlertStatus,
  AlertTransition, ChannelRecord, ChannelTestResult, ContainerInfo, HostDetail, HostMetrics, HostRecord, HostStatus,
  LiveContainer, HourlyAnswer, HourlyPoint, MaintenanceRecord, MetricsPoint, MetricsRangeAnswer, PreviewMatch, RulePreview,
  RuleRecord, ServerMessage, ServiceInfo, Severity, SilenceRecord, UserInfo,
} from './types';

export class NormalizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NormalizeError';
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}
function strOrNull(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}
function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
function numOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
/** An array, or the array under `key` of a wrapping object (`{hosts:[...]}`). */
function listOf(raw: unknown, key: string): unknown[] {
  if (Array.isArray(raw)) return raw;
  if (isObj(raw) && Array.isArray(raw[key])) return raw[key] as unknown[];
  throw new NormalizeError(`expected a list of ${key}, got ${describe(raw)}`);
}
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v}`;
}

export function normalizeStatus(v: unknown): HostStatus {
  return v === 'online' || v === 'degraded' ? v : 'offline';
}

export function normalizeHostRecord(raw: unknown): HostRecord {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') {
    throw new NormalizeError(`a host record needs a string "id", got ${describe(raw)}`);
  }
  return {
    id: raw.id,
    tenant_id: str(raw.tenant_id),
    name: str(raw.name) || str(raw.hostname) || raw.id,
    hostname: str(raw.hostname),
    ip_address: str(raw.ip_address),
    os: str(raw.os),
    arch: str(raw.arch),
    cpu_model: str(raw.cpu_model),
    agent_version: str(raw.agent_version),
    status: normalizeStatus(raw.status),
    last_seen: strOrNull(raw.last_seen),
    created_at: str(raw.created_at),
    actions: normalizePolicy(raw.actions),
  };
}

function strings(v: unknown): string[] {
  return arr(v).filter((x): x is string => typeof x === 'string');
}

/** A host's `actions`; null when absent (an agent older than remote actions). */
export function normalizePolicy(raw: unknown): ActionPolicy | null {
  if (!isObj(raw)) return null;
  const manager = raw.service_manager;
  return {
    enabled: raw.enabled === true,
    allowed: strings(raw.allowed),
    denied: strings(raw.denied),
    service_manager: manager === 'systemd' || manager === 'openrc' ? manager : 'none',
    engines: strings(raw.engines),
  };
}

export function normalizeHostMetrics(raw: unknown): HostMetrics {
  const h = isObj(raw) ? raw : {};
  const cpu = isObj(h.cpu) ? h.cpu : {};
  const mem = isObj(h.memory) ? h.memory : {};
  const disk = isObj(h.disk) ? h.disk : {};
  const net = isObj(h.network) ? h.network : {};
  const load = isObj(h.load) ? h.load : {};
  return {
    uptime: num(h.uptime),
    cpu: { percent: num(cpu.percent), cores: num(cpu.cores), model: str(cpu.model), per_core: arr(cpu.per_core).map(num) },
    memory: {
      total: num(mem.total), used: num(mem.used), available: num(mem.available), percent: num(mem.percent),
      swap_total: num(mem.swap_total), swap_used: num(mem.swap_used),
    },
    disk: {
      mounts: arr(disk.mounts).filter(isObj).map((m) => ({
        path: str(m.path), total: num(m.total), used: num(m.used), percent: num(m.percent), fs_type: str(m.fs_type),
      })),
    },
    network: {
      interfaces: arr(net.interfaces).filter(isObj).map((i) => ({
        name: str(i.name), rx_bytes: num(i.rx_bytes), tx_bytes: num(i.tx_bytes), rx_packets: num(i.rx_packets),
        tx_packets: num(i.tx_packets), rx_errors: num(i.rx_errors), tx_errors: num(i.tx_errors),
      })),
    },
    load: { load_1m: num(load.load_1m), load_5m: num(load.load_5m), load_15m: num(load.load_15m) },
  };
}

/** null for null/absent; a point needs a timestamp. */
export function normalizeMetricsPoint(raw: unknown): MetricsPoint | null {
  if (!isObj(raw)) return null;
  const timestamp = strOrNull(raw.timestamp) ?? strOrNull(raw.collected_at);
  if (timestamp === null) return null;
  return { timestamp, host: normalizeHostMetrics(raw.host) };
}

/**
 * `GET /api/hosts/{id}`: accepts the flat shape (`{...HostRecord, latest}`,
 * what the gateway sends today) and the nested one (`{host: HostRecord, latest}`).
 */
export function normalizeHostDetail(raw: unknown): HostDetail {
  if (!isObj(raw)) throw new NormalizeError(`a host detail must be an object, got ${describe(raw)}`);
  const nested = isObj(raw.host) && typeof raw.host.id === 'string';
  const host = normalizeHostRecord(nested ? raw.host : raw);
  return { host, latest: normalizeMetricsPoint(raw.latest) };
}

/** `GET /api/hosts`: an array (or `{hosts: [...]}`); entries without an id are dropped. */
export function normalizeHostList(raw: unknown): HostDetail[] {
  const out: HostDetail[] = [];
  for (const item of listOf(raw, 'hosts')) {
    try {
      out.push(normalizeHostDetail(item));
    } catch {
      // a malformed entry is skipped rather than hiding every other host
    }
  }
  return out;
}

export function normalizeMetricsRange(raw: unknown): MetricsRangeAnswer {
  if (!isObj(raw)) throw new NormalizeError(`a metrics answer must be an object, got ${describe(raw)}`);
  const points: MetricsPoint[] = [];
  for (const p of listOf(raw, 'points')) {
    const point = normalizeMetricsPoint(p);
    if (point) points.push(point);
  }
  points.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  return { host_id: str(raw.host_id), from: str(raw.from), to: str(raw.to), points };
}

/** `GET /api/hosts/{id}/metrics/hourly`: points without a valid hour are dropped; oldest first. */
export function normalizeHourly(raw: unknown): HourlyAnswer {
  if (!isObj(raw)) throw new NormalizeError(`an hourly metrics answer must be an object, got ${describe(raw)}`);
  const points: HourlyPoint[] = listOf(raw, 'points')
    .filter(isObj)
    .filter((p) => Number.isFinite(Date.parse(str(p.hour))))
    .map((p) => ({
      hour: str(p.hour), samples: num(p.samples), cpu_avg: num(p.cpu_avg), cpu_max: num(p.cpu_max),
      memory_avg: num(p.memory_avg), memory_max: num(p.memory_max), memory_total: num(p.memory_total),
      disk_avg: num(p.disk_avg), network_rx_total: num(p.network_rx_total), network_tx_total: num(p.network_tx_total),
    }));
  points.sort((a, b) => Date.parse(a.hour) - Date.parse(b.hour));
  return { host_id: str(raw.host_id), from: str(raw.from), to: str(raw.to), points };
}

export function normalizeDaily(raw: unknown): DailyAnswer {
  if (!isObj(raw)) throw new NormalizeError(`a daily metrics answer must be an object, got ${describe(raw)}`);
  const points: DailyPoint[] = listOf(raw, 'points')
    .filter(isObj)
    .filter((p) => Number.isFinite(Date.parse(str(p.day))))
    .map((p) => ({
      day: str(p.day), samples: num(p.samples), cpu_avg: num(p.cpu_avg), cpu_max: num(p.cpu_max),
      memory_avg: num(p.memory_avg), memory_max: num(p.memory_max), memory_total: num(p.memory_total),
      disk_avg: num(p.disk_avg), network_rx_total: num(p.network_rx_total), network_tx_total: num(p.network_tx_total),
    }));
  points.sort((a, b) => Date.parse(a.day) - Date.parse(b.day));
  return { host_id: str(raw.host_id), from: str(raw.from), to: str(raw.to), points };
}

export function normalizeContainers(raw: unknown): ContainerInfo[] {
  return listOf(raw, 'containers').filter(isObj).map((c) => {
    const out: ContainerInfo = {
      name: str(c.name), runtime: str(c.runtime), status: str(c.status), image: str(c.image),
      cpu_percent: num(c.cpu_percent), memory_used: num(c.memory_used), memory_limit: num(c.memory_limit),
      memory_percent: num(c.memory_percent), disk_used: num(c.disk_used), network_rx: num(c.network_rx),
      network_tx: num(c.network_tx), processes: num(c.processes),
    };
    const hostId = strOrNull(c.host_id);
    if (hostId) out.host_id = hostId;
    return out;
  });
}

export function normalizeServices(raw: unknown): ServiceInfo[] {
  return listOf(raw, 'services').filter(isObj).map((s) => ({
    name: str(s.name), status: str(s.status), pid: num(s.pid), memory: num(s.memory),
    cpu_percent: num(s.cpu_percent), ports: arr(s.ports).map(num), uptime: num(s.uptime),
  }));
}

export function normalizeTokens(raw: unknown): AgentToken[] {
  return listOf(raw, 'tokens').filter(isObj).filter((t) => typeof t.id === 'string').map((t) => ({
    id: t.id as string,
    name: strOrNull(t.name),
    created_at: strOrNull(t.created_at),
    expires_at: strOrNull(t.expires_at),
    last_used: strOrNull(t.last_used),
    revoked_at: strOrNull(t.revoked_at),
  }));
}

/** One user; throws when it has no id or email (never a half user). */
export function normalizeUser(raw: unknown): UserInfo {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '' || typeof raw.email !== 'string') {
    throw new NormalizeError(`a user needs a string "id" and "email", got ${describe(raw)}`);
  }
  return { id: raw.id, email: raw.email, role: str(raw.role) || 'viewer', created_at: strOrNull(raw.created_at) };
}

export function normalizeUsers(raw: unknown): UserInfo[] {
  return listOf(raw, 'users').filter((u) => isObj(u) && typeof u.id === 'string' && typeof u.email === 'string').map(normalizeUser);
}

function liveContainers(v: unknown): LiveContainer[] | null {
  if (!Array.isArray(v)) return null;
  return v.filter(isObj).map((c) => ({ name: str(c.name), cpu: num(c.cpu), memory: num(c.memory), status: str(c.status) }));
}

/** A server → client WebSocket frame, or null when it is not one we know. */
export function parseServerMessage(text: string): ServerMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(raw) || typeof raw.host_id !== 'string') return null;
  const timestamp = str(raw.timestamp) || new Date().toISOString();
  switch (raw.type) {
    case 'metrics': {
      const d = isObj(raw.data) ? raw.data : {};
      return {
        type: 'metrics', host_id: raw.host_id, timestamp,
        data: {
          cpu: numOrNull(d.cpu), memory: numOrNull(d.memory), disk: numOrNull(d.disk),
          containers: liveContainers(d.containers), services_count: numOrNull(d.services_count),
        },
      };
    }
    case 'host_status':
      if (raw.status !== 'online' && raw.status !== 'offline' && raw.status !== 'degraded') return null;
      return { type: 'host_status', host_id: raw.host_id, status: raw.status, timestamp };
    case 'action': {
      let action: ActionRecord | null = null;
      try {
        action = isObj(raw.action) ? normalizeAction(raw.action) : null;
      } catch {
        action = null;
      }
      const id = str(raw.id) || action?.id || '';
      const status = actionStatusOf(raw.status) ?? action?.status;
      if (!id || !status) return null;
      return { type: 'action', id, status, host_id: raw.host_id, timestamp, action: action && { ...action, id, status } };
    }
    case 'alert': {
      let alert: Alert | null = null;
      try {
        alert = isObj(raw.alert) ? normalizeAlert(raw.alert) : null;
      } catch {
        alert = null;
      }
      const id = str(raw.id) || alert?.id || '';
      if (!id) return null;
      return {
        type: 'alert', id, event: normalizeTransition(raw.event, alert?.status), severity: str(raw.severity) || alert?.severity || '',
        host_id: raw.host_id, message: str(raw.message) || alert?.message || '', timestamp, alert,
      };
    }
    default:
      return null;
  }
}

/** The headline numbers of a snapshot: disk is the `/` mount, else the fullest mount. */
export function summarizePoint(point: MetricsPoint): { cpu: number; memory: number; disk: number | null; uptime: number } {
  const mounts = point.host.disk.mounts;
  const root = mounts.find((m) => m.path === '/');
  const disk = root ? root.percent : mounts.length ? Math.max(...mounts.map((m) => m.percent)) : null;
  return { cpu: point.host.cpu.percent, memory: point.host.memory.percent, disk, uptime: point.host.uptime };
}

/** Server error body `{"error":{"code","message"}}` (or `{"error":"message"}`) → its parts, or null. */
export function parseErrorBody(raw: unknown): { code: string; message: string } | null {
  if (isObj(raw) && typeof raw.error === 'string' && raw.error) return { code: 'error', message: raw.error };
  if (!isObj(raw) || !isObj(raw.error)) return null;
  const message = str(raw.error.message);
  if (!message) return null;
  return { code: str(raw.error.code) || 'error', message };
}

// ---- alerting ----

/** Unknown severities become "warning" (shown, never hidden as "info"). */
export function normalizeSeverity(v: unknown): Severity {
  return v === 'info' || v === 'critical' ? v : 'warning';
}

function normalizeAlertStatus(v: unknown): AlertStatus {
  return v === 'acknowledged' || v === 'resolved' ? v : 'firing';
}

/** A frame's `event`; when absent or unknown, what the alert's status says happened. */
function normalizeTransition(v: unknown, status: AlertStatus | undefined): AlertTransition {
  if (v === 'fired' || v === 'acknowledged' || v === 'resolved') return v;
  return status === 'acknowledged' || status === 'resolved' ? status : 'fired';
}

/** One alert; throws when it has no id (never a half alert). */
export function normalizeAlert(raw: unknown): Alert {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') {
    throw new NormalizeError(`an alert needs a string "id", got ${describe(raw)}`);
  }
  const out: Alert = {
    id: raw.id,
    tenant_id: str(raw.tenant_id),
    host_id: str(raw.host_id),
    host_name: str(raw.host_name) || str(raw.host_id),
    rule_id: str(raw.rule_id),
    rule_name: str(raw.rule_name),
    severity: normalizeSeverity(raw.severity),
    status: normalizeAlertStatus(raw.status),
    message: str(raw.message),
    value: raw.value === null || raw.value === undefined ? null : str(raw.value),
    fingerprint: str(raw.fingerprint),
    silenced: raw.silenced === true,
    fired_at: str(raw.fired_at),
    acknowledged_at: strOrNull(raw.acknowledged_at),
    acknowledged_by: strOrNull(raw.acknowledged_by),
    resolved_at: strOrNull(raw.resolved_at),
  };
  for (const key of ['mount', 'container_name', 'service_name'] as const) {
    const v = strOrNull(raw[key]);
    if (v !== null) out[key] = v;
  }
  return out;
}

function keepValid<T>(items: unknown[], fn: (raw: unknown) => T): T[] {
  const out: T[] = [];
  for (const item of items) {
    try {
      out.push(fn(item));
    } catch {
      // a malformed entry is skipped rather than hiding the others
    }
  }
  return out;
}

/** `GET /api/alerts`: entries without an id are dropped. */
export function normalizeAlerts(raw: unknown): Alert[] {
  return keepValid(listOf(raw, 'alerts'), normalizeAlert);
}

export function normalizeHistoryPage(raw: unknown): AlertHistoryPage {
  if (!isObj(raw)) throw new NormalizeError(`an alert history page must be an object, got ${describe(raw)}`);
  const items = keepValid(listOf(raw, 'items'), (item): AlertHistoryEntry => {
    const alert = normalizeAlert(item);
    const o = item as Obj;
    return { ...alert, seq: num(o.seq), duration_seconds: num(o.duration_seconds) };
  });
  return { items, next_before: numOrNull(raw.next_before) };
}

export function normalizeRule(raw: unknown): RuleRecord {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') {
    throw new NormalizeError(`a rule needs a string "id", got ${describe(raw)}`);
  }
  const rule: RuleRecord = {
    id: raw.id,
    tenant_id: str(raw.tenant_id),
    name: str(raw.name),
    description: str(raw.description),
    condition: str(raw.condition),
    duration: str(raw.duration) || '0s',
    severity: normalizeSeverity(raw.severity),
    channels: arr(raw.channels).filter((c): c is string => typeof c === 'string'),
    message: str(raw.message),
    enabled: raw.enabled !== false,
    scope: str(raw.scope) || 'host',
    created_at: str(raw.created_at),
    updated_at: str(raw.updated_at),
  };
  if (typeof raw.clear === 'number' && Number.isFinite(raw.clear)) rule.clear = raw.clear;
  else if (typeof raw.clear === 'string' && raw.clear !== '') rule.clear = raw.clear;
  const repeat = strOrNull(raw.repeat_interval);
  if (repeat !== null) rule.repeat_interval = repeat;
  const builtin = strOrNull(raw.builtin);
  if (builtin !== null) rule.builtin = builtin;
  return rule;
}

export function normalizeRules(raw: unknown): RuleRecord[] {
  return keepValid(listOf(raw, 'rules'), normalizeRule);
}

export function normalizePreview(raw: unknown): RulePreview {
  if (!isObj(raw)) throw new NormalizeError(`a rule preview must be an object, got ${describe(raw)}`);
  const matches = listOf(raw, 'matches').filter(isObj).map((m): PreviewMatch => {
    const match: PreviewMatch = {
      host_id: str(m.host_id), host_name: str(m.host_name) || str(m.host_id),
      value: m.value === null || m.value === undefined ? null : str(m.value), timestamp: strOrNull(m.timestamp),
    };
    const label = strOrNull(m.label);
    if (label !== null) match.label = label;
    return match;
  });
  return { scope: str(raw.scope), hosts_evaluated: num(raw.hosts_evaluated), matches };
}

export function normalizeChannel(raw: unknown): ChannelRecord {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') {
    throw new NormalizeError(`a channel needs a string "id", got ${describe(raw)}`);
  }
  return {
    id: raw.id, name: str(raw.name), enabled: raw.enabled !== false, type: str(raw.type),
    config: isObj(raw.config) ? raw.config : {},
  };
}

export function normalizeChannels(raw: unknown): ChannelRecord[] {
  return keepValid(listOf(raw, 'channels'), normalizeChannel);
}

export function normalizeChannelTest(raw: unknown): ChannelTestResult {
  const r = isObj(raw) ? raw : {};
  return { delivered: r.delivered === true, status: numOrNull(r.status), error: strOrNull(r.error) };
}

function normalizeMatcher(raw: unknown): AlertMatcher {
  const m = isObj(raw) ? raw : {};
  const out: AlertMatcher = {};
  for (const key of ['rule_id', 'host_id', 'mount', 'container_name', 'service_name'] as const) {
    const v = strOrNull(m[key]);
    if (v !== null) out[key] = v;
  }
  if (m.severity === 'info' || m.severity === 'warning' || m.severity === 'critical') out.severity = m.severity;
  return out;
}

export function normalizeSilence(raw: unknown): SilenceRecord {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') {
    throw new NormalizeError(`a silence needs a string "id", got ${describe(raw)}`);
  }
  return {
    id: raw.id, match: normalizeMatcher(raw.match), starts_at: str(raw.starts_at), ends_at: str(raw.ends_at),
    comment: str(raw.comment), created_by: str(raw.created_by), created_at: str(raw.created_at),
  };
}

export function normalizeSilences(raw: unknown): SilenceRecord[] {
  return keepValid(listOf(raw, 'silences'), normalizeSilence);
}

export function normalizeMaintenance(raw: unknown): MaintenanceRecord {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') {
    throw new NormalizeError(`a maintenance window needs a string "id", got ${describe(raw)}`);
  }
  const out: MaintenanceRecord = {
    id: raw.id, name: str(raw.name), schedule: str(raw.schedule), duration: str(raw.duration),
    enabled: raw.enabled !== false, comment: str(raw.comment), active_now: raw.active_now === true,
    next_start: strOrNull(raw.next_start), created_by: str(raw.created_by), created_at: str(raw.created_at),
  };
  const host = strOrNull(raw.host_id);
  if (host !== null) out.host_id = host;
  return out;
}

export function normalizeMaintenanceList(raw: unknown): MaintenanceRecord[] {
  return keepValid(listOf(raw, 'maintenance'), normalizeMaintenance);
}

// ---- remote actions ----

function actionStatusOf(v: unknown): ActionStatus | null {
  return (ACTION_STATUSES as readonly unknown[]).includes(v) ? (v as ActionStatus) : null;
}

/** One action record; throws when it has no id. Unknown statuses read as pending (never shown as done). */
export function normalizeAction(raw: unknown): ActionRecord {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') {
    throw new NormalizeError(`an action needs a string "id", got ${describe(raw)}`);
  }
  const params: Record<string, string> = {};
  if (isObj(raw.params)) for (const [k, v] of Object.entries(raw.params)) if (typeof v === 'string') params[k] = v;
  return {
    id: raw.id,
    tenant_id: str(raw.tenant_id),
    host_id: str(raw.host_id),
    type: str(raw.type),
    params,
    status: actionStatusOf(raw.status) ?? 'pending',
    user_id: strOrNull(raw.user_id),
    requested_by: str(raw.requested_by),
    command: strOrNull(raw.command),
    rule: strOrNull(raw.rule),
    exit_code: numOrNull(raw.exit_code),
    output: typeof raw.output === 'string' ? raw.output : null,
    truncated: raw.truncated === true,
    error: strOrNull(raw.error),
    timeout_seconds: num(raw.timeout_seconds),
    created_at: str(raw.created_at),
    expires_at: str(raw.expires_at),
    dispatched_at: strOrNull(raw.dispatched_at),
    started_at: strOrNull(raw.started_at),
    completed_at: strOrNull(raw.completed_at),
    duration_ms: numOrNull(raw.duration_ms),
  };
}

/** `GET /api/actions`: entries without an id are dropped. */
export function normalizeActions(raw: unknown): ActionRecord[] {
  return keepValid(listOf(raw, 'actions'), normalizeAction);
}
