// The tenant's active alerts (firing or acknowledged), loaded from
// `GET /api/alerts` and kept current by the WebSocket's `alert` frames:
// `fired` adds, `acknowledged` updates, `resolved` removes. Feeds the
// dashboard's count card and panel, the Alerts page and the host badges.
//
// Invariants:
// - one alert id moves only forward (firing → acknowledged → resolved): a
//   state older than the one held is ignored, and a resolved id never comes
//   back (a later firing of the same instance is a new alert id);
// - a REST load does not undo frames that arrived while it was in flight
//   (`beginLoad` marks the moment; `setActive` keeps what frames added
//   since and drops what they resolved);
// - every frame is applied (alert frames are never coalesced or dropped);
//   listeners hear once per scheduled flush (an animation frame), however
//   many frames arrived, and per-host listeners only when their host's
//   badge changes (`host(id)` keeps its object identity until then).

import type { Alert, AlertFrame, AlertStatus, Severity } from '../api/types';

export type AlertsState = 'idle' | 'loading' | 'ready' | 'unavailable' | 'error';

export interface AlertsSummary {
  total: number;
  firing: number;
  acknowledged: number;
  silenced: number;
  info: number;
  warning: number;
  critical: number;
  /** Worst severity among the firing alerts, else among the acknowledged ones; null with no alert. */
  worst: Severity | null;
}

/** What a host's badge shows. */
export interface HostAlerts {
  /** Active alerts (firing or acknowledged). */
  count: number;
  firing: number;
  /** Worst severity among its firing alerts, else among its acknowledged ones. */
  worst: Severity;
}

type Schedule = (cb: () => void) => void;

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
const STATUS_RANK: Record<AlertStatus, number> = { firing: 0, acknowledged: 1, resolved: 2 };

/** Resolved alert ids remembered (so a late frame or load cannot bring them back). */
export const RESOLVED_MEMORY = 5000;

function defaultSchedule(cb: () => void): void {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => cb());
  else setTimeout(cb, 16);
}

/** Critical first, then firing before acknowledged, then newest first. */
export function compareAlerts(a: Alert, b: Alert): number {
  return (
    SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
    STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
    (Date.parse(b.fired_at) || 0) - (Date.parse(a.fired_at) || 0) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

function worstOf(alerts: Iterable<Alert>): { firing: Severity | null; any: Severity | null } {
  let firing: Severity | null = null;
  let any: Severity | null = null;
  for (const a of alerts) {
    if (any === null || SEVERITY_RANK[a.severity] > SEVERITY_RANK[any]) any = a.severity;
    if (a.status === 'firing' && (firing === null || SEVERITY_RANK[a.severity] > SEVERITY_RANK[firing])) firing = a.severity;
  }
  return { firing, any };
}

export class AlertsStore {
  private byId = new Map<string, Alert>();
  /** Frame counter; `liveSeq` holds, per alert id, the counter of the last frame that set it. */
  private seq = 0;
  private liveSeq = new Map<string, number>();
  private resolved = new Map<string, number>();
  private hostCache = new Map<string, HostAlerts | null>();
  private listCache: Alert[] | null = null;
  private summaryCache: AlertsSummary | null = null;
  private dirtyHosts = new Set<string>();
  private scheduled = false;
  private listeners = new Set<() => void>();
  private hostListeners = new Map<string, Set<() => void>>();
  state: AlertsState = 'idle';
  /** Why the last load failed (state `error`). */
  error: string | null = null;

  constructor(private schedule: Schedule = defaultSchedule) {}

  // ---- reads ----

  get(id: string): Alert | undefined {
    return this.byId.get(id);
  }

  /** Active alerts, sorted by `compareAlerts`; the same array until something changes. */
  list(): readonly Alert[] {
    if (!this.listCache) this.listCache = [...this.byId.values()].sort(compareAlerts);
    return this.listCache;
  }

  summary(): AlertsSummary {
    if (this.summaryCache) return this.summaryCache;
    const s: AlertsSummary = { total: 0, firing: 0, acknowledged: 0, silenced: 0, info: 0, warning: 0, critical: 0, worst: null };
    for (const a of this.byId.values()) {
      s.total += 1;
      if (a.status === 'acknowledged') s.acknowledged += 1;
      else s.firing += 1;
      if (a.silenced) s.silenced += 1;
      s[a.severity] += 1;
    }
    const w = worstOf(this.byId.values());
    s.worst = w.firing ?? w.any;
    this.summaryCache = s;
    return s;
  }

  /** The host's badge, or null without active alerts; the same object until it changes. */
  host(hostId: string): HostAlerts | null {
    if (this.hostCache.has(hostId)) return this.hostCache.get(hostId)!;
    const mine = [...this.byId.values()].filter((a) => a.host_id === hostId);
    let value: HostAlerts | null = null;
    if (mine.length) {
      const w = worstOf(mine);
      value = { count: mine.length, firing: mine.filter((a) => a.status === 'firing').length, worst: (w.firing ?? w.any)! };
    }
    this.hostCache.set(hostId, value);
    return value;
  }

  // ---- REST ----

  /** Marks the start of a REST load; pass the answer with this mark to `setActive`. */
  beginLoad(): number {
    if (this.state !== 'ready') this.setState('loading');
    return this.seq;
  }

  /**
   * Replaces the active alerts with a REST answer requested at mark `since`
   * (`beginLoad`): alerts that frames set after `since` are kept as the
   * frames left them; resolved ids stay out.
   */
  setActive(list: readonly Alert[], since: number = this.seq): void {
    const next = new Map<string, Alert>();
    for (const a of list) {
      if (a.status === 'resolved' || this.resolved.has(a.id)) continue;
      const held = this.byId.get(a.id);
      next.set(a.id, held && (this.liveSeq.get(a.id) ?? -1) > since && STATUS_RANK[held.status] > STATUS_RANK[a.status] ? held : a);
    }
    for (const [id, held] of this.byId) {
      if (!next.has(id) && (this.liveSeq.get(id) ?? -1) > since) next.set(id, held);
    }
    const hosts = new Set<string>();
    for (const a of this.byId.values()) hosts.add(a.host_id);
    for (const a of next.values()) hosts.add(a.host_id);
    this.byId = next;
    for (const id of [...this.liveSeq.keys()]) if (!next.has(id)) this.liveSeq.delete(id);
    this.error = null;
    this.state = 'ready';
    this.changed(hosts);
  }

  /**
   * A load failed: `unavailable` when the server has no alerting (404), else
   * `error` with its message. A failed reload of loaded alerts keeps them
   * (frames keep them current).
   */
  loadFailed(unavailable: boolean, message: string): void {
    if (this.state === 'ready') return;
    this.error = unavailable ? null : message;
    this.setState(unavailable ? 'unavailable' : 'error');
  }

  /** Forgets everything (signed out). */
  clear(): void {
    const hosts = new Set([...this.byId.values()].map((a) => a.host_id));
    this.byId = new Map();
    this.liveSeq.clear();
    this.resolved.clear();
    this.state = 'idle';
    this.error = null;
    this.changed(hosts);
  }

  // ---- changes ----

  /** Applies a WebSocket `alert` frame. */
  applyFrame(frame: AlertFrame): void {
    this.seq += 1;
    if (frame.event === 'resolved') {
      this.remove(frame.id, frame.host_id);
      return;
    }
    const held = this.byId.get(frame.id);
    if (frame.alert) {
      const status: AlertStatus = frame.event === 'acknowledged' && frame.alert.status === 'firing' ? 'acknowledged' : frame.alert.status;
      this.put({ ...frame.alert, id: frame.id, status });
    } else if (held && frame.event === 'acknowledged') {
      this.put({ ...held, status: 'acknowledged', acknowledged_at: held.acknowledged_at ?? frame.timestamp });
    } else if (!held && frame.event === 'fired') {
      // a server that sends no `alert` object: what the frame says, the next load fills in the rest
      this.put({
        id: frame.id, tenant_id: '', host_id: frame.host_id, host_name: frame.host_id, rule_id: '', rule_name: '',
        severity: frame.severity === 'info' || frame.severity === 'critical' ? frame.severity : 'warning',
        status: 'firing', message: frame.message, value: null, fingerprint: '', silenced: false, fired_at: frame.timestamp,
        acknowledged_at: null, acknowledged_by: null, resolved_at: null,
      });
    }
  }

  /** An alert as the server answered it (e.g. after acknowledging it). */
  upsert(alert: Alert): void {
    this.seq += 1;
    if (alert.status === 'resolved') this.remove(alert.id, alert.host_id);
    else this.put(alert);
  }

  private put(alert: Alert): void {
    if (this.resolved.has(alert.id)) return;
    const held = this.byId.get(alert.id);
    if (held && STATUS_RANK[alert.status] < STATUS_RANK[held.status]) return;
    this.byId.set(alert.id, alert);
    this.liveSeq.set(alert.id, this.seq);
    this.changed(held && held.host_id !== alert.host_id ? [held.host_id, alert.host_id] : [alert.host_id]);
  }

  private remove(id: string, hostId: string): void {
    this.resolved.delete(id);
    this.resolved.set(id, this.seq);
    if (this.resolved.size > RESOLVED_MEMORY) this.resolved.delete(this.resolved.keys().next().value!);
    const held = this.byId.get(id);
    this.liveSeq.delete(id);
    if (!held) return;
    this.byId.delete(id);
    this.changed(held.host_id === hostId ? [hostId] : [held.host_id, hostId]);
  }

  private setState(state: AlertsState): void {
    if (this.state === state) return;
    this.state = state;
    this.changed([]);
  }

  private changed(hosts: Iterable<string>): void {
    this.listCache = null;
    this.summaryCache = null;
    for (const h of hosts) {
      this.hostCache.delete(h);
      this.dirtyHosts.add(h);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  /** Tells listeners about the changes since the last flush (scheduled; tests may call it). */
  flush(): void {
    this.scheduled = false;
    const hosts = this.dirtyHosts;
    this.dirtyHosts = new Set();
    for (const fn of this.listeners) fn();
    for (const h of hosts) {
      const set = this.hostListeners.get(h);
      if (set) for (const fn of set) fn();
    }
  }

  // ---- subscriptions ----

  /** Hears once per flush about any change (alerts, counts, load state). */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  /** Hears when the host's alerts may have changed. */
  subscribeHost(hostId: string, fn: () => void): () => void {
    let set = this.hostListeners.get(hostId);
    if (!set) {
      set = new Set();
      this.hostListeners.set(hostId, set);
    }
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.hostListeners.delete(hostId);
    };
  }
}
