// Live hosts state. REST loads set the host list; WebSocket frames are
// queued and applied once per animation frame (coalesced per host, so the
// queue is bounded by the number of hosts even while the tab is hidden).
//
// Invariants:
// - each HostView is immutable; a change replaces the object, so memoized
//   rows compare by identity and only changed hosts re-render;
// - per-host listeners hear only about their host; list listeners hear when
//   the set of hosts changes (add/remove), never for value updates, so lists
//   do not re-sort on every message;
// - a status frame older than the last applied status for the host is ignored;
// - at most `maxPerFrame` hosts are applied per animation frame (the rest wait
//   for the next frame), so a burst from 1,000 hosts is spread over frames
//   instead of blowing one frame's 16 ms budget;
// - raw socket text (`enqueueText`) is only queued on arrival: it is parsed
//   in the animation frame, for at most `parseBudgetMs` per frame, so a burst
//   of hundreds of WebSocket messages (a tab that was descheduled, a network
//   stall) costs each message's event dispatch at arrival and no more; the
//   raw queue never holds more than `RAW_LIMIT` texts (beyond, it is parsed
//   at once into the per-host queue, e.g. while the tab is hidden and no
//   animation frame runs).

import { parseServerMessage, summarizePoint } from '../api/normalize';
import { coalesce, isEvent, timeOf, type EventFrame, type Pending } from './frames';
import type {
  HostDetail, HostRecord, HostStatus, HostStatusFrame, LiveContainer, MetricsFrame, ServerMessage,
} from '../api/types';

export interface LiveValues {
  cpu: number | null;
  memory: number | null;
  disk: number | null;
  /** null = unknown (no frame with containers yet). */
  containers: LiveContainer[] | null;
  servicesCount: number | null;
  uptime: number | null;
  timestamp: string | null;
}

export interface HostView extends HostRecord {
  live: LiveValues;
  /** Time (ms) of the last applied live status frame; 0 before any. */
  statusAt: number;
}

export interface Summary {
  total: number;
  online: number;
  degraded: number;
  offline: number;
  containersRunning: number;
  /** false while no host has reported containers. */
  containersKnown: boolean;
}

type Schedule = (cb: () => void) => void;

/** Host updates applied per animation frame; the rest roll over to the next frame. */
export const DEFAULT_MAX_PER_FRAME = 200;

/** Time (ms) one animation frame may spend parsing queued socket text. */
export const DEFAULT_PARSE_BUDGET_MS = 4;

/** Raw socket texts kept unparsed at most; beyond, they are parsed at once. */
export const RAW_LIMIT = 4096;

/** Messages parsed between two looks at the clock. */
const PARSE_CHUNK = 16;

function defaultClock(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

const EMPTY_LIVE: LiveValues = {
  cpu: null, memory: null, disk: null, containers: null, servicesCount: null, uptime: null, timestamp: null,
};

function defaultSchedule(cb: () => void): void {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => cb());
  else setTimeout(cb, 16);
}


export class HostsStore {
  private hosts = new Map<string, HostView>();
  private order: string[] = [];
  private pending = new Map<string, Pending>();
  /** Socket texts not parsed yet, oldest first, from `rawHead` on. */
  private raw: string[] = [];
  private rawHead = 0;
  private scheduled = false;
  private hostListeners = new Map<string, Set<() => void>>();
  private listListeners = new Set<() => void>();
  private changeListeners = new Set<(changed: ReadonlySet<string>) => void>();
  private eventListeners = new Set<(msg: EventFrame) => void>();
  private summaryCache: Summary | null = null;
  /** Number of flushes applied (for tests and diagnostics). */
  flushes = 0;
  loaded = false;

  constructor(
    private schedule: Schedule = defaultSchedule,
    /** Called (once per flush) with ids of frames for hosts we do not know: a new host to fetch. */
    private onUnknownHosts: (ids: string[]) => void = () => {},
    private maxPerFrame = DEFAULT_MAX_PER_FRAME,
    private parseBudgetMs = DEFAULT_PARSE_BUDGET_MS,
    private clock: () => number = defaultClock,
  ) {}

  // ---- reads ----

  get(id: string): HostView | undefined {
    return this.hosts.get(id);
  }

  ids(): readonly string[] {
    return this.order;
  }

  all(): HostView[] {
    return this.order.map((id) => this.hosts.get(id)!);
  }

  summary(): Summary {
    if (this.summaryCache) return this.summaryCache;
    const s: Summary = { total: 0, online: 0, degraded: 0, offline: 0, containersRunning: 0, containersKnown: false };
    for (const h of this.hosts.values()) {
      s.total += 1;
      s[h.status] += 1;
      if (h.live.containers) {
        s.containersKnown = true;
        for (const c of h.live.containers) if (c.status === 'running') s.containersRunning += 1;
      }
    }
    this.summaryCache = s;
    return s;
  }

  // ---- REST loads ----

  /** Replaces the host list (e.g. after GET /api/hosts); keeps live values of hosts still present. */
  setHosts(list: HostDetail[]): void {
    const next = new Map<string, HostView>();
    const order: string[] = [];
    const changed = new Set<string>();
    for (const { host, latest } of list) {
      const prev = this.hosts.get(host.id);
      let live = prev?.live ?? EMPTY_LIVE;
      if (latest && timeOf(latest.timestamp) > timeOf(live.timestamp)) {
        const s = summarizePoint(latest);
        live = { ...live, cpu: s.cpu, memory: s.memory, disk: s.disk, uptime: s.uptime, timestamp: latest.timestamp };
      }
      // statusAt only orders live status frames among themselves (server clock);
      // a live status newer than the REST answer's last snapshot wins over it
      const view: HostView = { ...host, live, statusAt: prev?.statusAt ?? 0 };
      if (prev && prev.statusAt > timeOf(host.last_seen) && prev.status !== host.status) {
        view.status = prev.status;
      }
      next.set(host.id, view);
      order.push(host.id);
      changed.add(host.id);
    }
    // the first load counts as a change even when empty: lists leave "Loading hosts…"
    const setChanged = !this.loaded || order.length !== this.order.length || order.some((id, i) => id !== this.order[i]);
    for (const id of this.order) if (!next.has(id)) changed.add(id);
    this.hosts = next;
    this.order = order;
    this.loaded = true;
    this.summaryCache = null;
    this.notify(changed, setChanged);
  }

  /** Merges one host (e.g. GET /api/hosts/{id}) without touching the others. */
  upsertHost(detail: HostDetail): void {
    const known = this.hosts.has(detail.host.id);
    const list: HostDetail[] = this.all().map((h) => ({ host: h, latest: null }));
    if (known) {
      const i = this.order.indexOf(detail.host.id);
      list[i] = detail;
    } else {
      list.push(detail);
    }
    this.setHosts(list);
  }

  /** Sets the containers of one host from a REST answer (when no live frame carried them). */
  setContainers(id: string, containers: LiveContainer[], servicesCount: number | null): void {
    const h = this.hosts.get(id);
    if (!h) return;
    this.hosts.set(id, { ...h, live: { ...h.live, containers, servicesCount: servicesCount ?? h.live.servicesCount } });
    this.summaryCache = null;
    this.notify(new Set([id]), false);
  }

  // ---- live frames ----

  /** Queues a server message as received (text); parsed and applied in an animation frame. */
  enqueueText(text: string): void {
    this.raw.push(text);
    if (this.raw.length - this.rawHead >= RAW_LIMIT) this.parseRaw(Infinity);
    this.scheduleFlush();
  }

  /** Texts queued by `enqueueText` and not parsed yet. */
  rawQueued(): number {
    return this.raw.length - this.rawHead;
  }

  /** Queues a server frame; applied at the next animation frame. */
  enqueue(msg: ServerMessage): void {
    this.queue(msg);
    this.scheduleFlush();
  }

  /** Queues a batch of frames (from the socket worker); applied at the next animation frame. */
  enqueueAll(msgs: readonly ServerMessage[]): void {
    for (const msg of msgs) this.queue(msg);
    if (msgs.length) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  /** Parses queued texts into the per-host queue until `deadline` (clock time). */
  private parseRaw(deadline: number): void {
    const raw = this.raw;
    let i = this.rawHead;
    while (i < raw.length) {
      const end = Math.min(raw.length, i + PARSE_CHUNK);
      for (; i < end; i += 1) {
        const msg = parseServerMessage(raw[i]!);
        if (msg) this.queue(msg);
      }
      if (deadline !== Infinity && this.clock() >= deadline) break;
    }
    if (i >= raw.length) {
      this.raw = [];
      this.rawHead = 0;
    } else {
      this.rawHead = i;
    }
  }

  private queue(msg: ServerMessage): void {
    if (isEvent(msg)) {
      for (const fn of this.eventListeners) fn(msg);
      return;
    }
    coalesce(this.pending, msg);
  }

  /**
   * Parses queued texts (within the frame's parse budget) and applies up to
   * `maxPerFrame` hosts' queued frames; what is left waits for the next
   * frame. Listeners hear once per flush.
   */
  flush(): void {
    this.scheduled = false;
    if (this.rawQueued() > 0) this.parseRaw(this.clock() + this.parseBudgetMs);
    if (this.rawQueued() > 0) this.scheduleFlush();
    if (this.pending.size === 0) return;
    let pending = this.pending;
    if (pending.size > this.maxPerFrame) {
      const now = new Map<string, Pending>();
      for (const [id, p] of pending) {
        if (now.size >= this.maxPerFrame) break;
        now.set(id, p);
        pending.delete(id);
      }
      pending = now;
      this.scheduleFlush();
    } else {
      this.pending = new Map();
    }
    const changed = new Set<string>();
    const unknown: string[] = [];
    for (const [id, p] of pending) {
      const h = this.hosts.get(id);
      if (!h) {
        unknown.push(id);
        continue;
      }
      let next: HostView = h;
      if (p.metrics) next = applyMetrics(next, p.metrics);
      if (p.status) next = applyStatus(next, p.status);
      if (next !== h) {
        this.hosts.set(id, next);
        changed.add(id);
      }
    }
    this.flushes += 1;
    if (changed.size) {
      this.summaryCache = null;
      this.notify(changed, false);
    }
    if (unknown.length) this.onUnknownHosts(unknown);
  }

  // ---- subscriptions ----

  subscribeHost(id: string, fn: () => void): () => void {
    let set = this.hostListeners.get(id);
    if (!set) {
      set = new Set();
      this.hostListeners.set(id, set);
    }
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.hostListeners.delete(id);
    };
  }

  /** Hears when hosts are added or removed (not value changes). */
  subscribeList(fn: () => void): () => void {
    this.listListeners.add(fn);
    return () => this.listListeners.delete(fn);
  }

  /** Hears once per flush or load with the ids that changed. */
  subscribeChanges(fn: (changed: ReadonlySet<string>) => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  /** Hears every `alert` and `action` frame as it is queued (never coalesced). */
  subscribeEvents(fn: (msg: EventFrame) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  private notify(changed: ReadonlySet<string>, listChanged: boolean): void {
    for (const id of changed) {
      const set = this.hostListeners.get(id);
      if (set) for (const fn of set) fn();
    }
    if (listChanged) for (const fn of this.listListeners) fn();
    for (const fn of this.changeListeners) fn(changed);
  }
}

function applyMetrics(h: HostView, f: MetricsFrame): HostView {
  if (h.live.timestamp && timeOf(f.timestamp) < timeOf(h.live.timestamp)) return h;
  const d = f.data;
  const live: LiveValues = {
    cpu: d.cpu ?? h.live.cpu,
    memory: d.memory ?? h.live.memory,
    disk: d.disk ?? h.live.disk,
    containers: d.containers ?? h.live.containers,
    servicesCount: d.services_count ?? h.live.servicesCount,
    uptime: h.live.uptime,
    timestamp: f.timestamp,
  };
  const lastSeen = timeOf(f.timestamp) > timeOf(h.last_seen) ? f.timestamp : h.last_seen;
  return { ...h, live, last_seen: lastSeen };
}

function applyStatus(h: HostView, f: HostStatusFrame): HostView {
  const at = timeOf(f.timestamp);
  if (at < h.statusAt) return h;
  if (f.status === h.status && at === h.statusAt) return h;
  const status: HostStatus = f.status;
  return { ...h, status, statusAt: at };
}

// ---- sorting (done on demand, never per message) ----

export type SortKey = 'name' | 'cpu' | 'mem';

export function sortHostIds(store: HostsStore, key: SortKey, desc = key !== 'name'): string[] {
  const hosts = store.all();
  const value = (h: HostView): number | string =>
    key === 'name' ? h.name.toLowerCase() : key === 'cpu' ? h.live.cpu ?? -1 : h.live.memory ?? -1;
  hosts.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    const c = va < vb ? -1 : va > vb ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    return desc ? -c : c;
  });
  return hosts.map((h) => h.id);
}
