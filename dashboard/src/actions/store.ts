// The remote actions the page knows about: REST answers (`GET /api/actions`,
// `/api/actions/{id}`, the 202 of a request) and the WebSocket's `action`
// frames, merged per id. Feeds the host page's live status and recent
// actions, and the Actions page's log and detail.
//
// Invariants:
// - an action only moves forward: pending → running → a final status
//   (success, failed, expired, denied); a record or frame of an earlier
//   stage than the one held is ignored, so a late frame never regresses a
//   final status. Within one stage the later record (by its newest time)
//   wins (a dispatched pending action; an expired one whose result came);
// - a list answer carries no output: merged over the same status, the held
//   output is kept;
// - every frame is applied; listeners hear once per scheduled flush (an
//   animation frame), however many frames arrived;
// - `epoch` grows when frames may have been missed (a reconnect): views that
//   loaded from REST load again.

import type { ActionFrame, ActionRecord, ActionStatus } from '../api/types';
import { timeOf } from '../live/frames';

type Schedule = (cb: () => void) => void;

export const STAGE: Record<ActionStatus, number> = { pending: 0, running: 1, success: 2, failed: 2, expired: 2, denied: 2 };

export function isFinal(status: ActionStatus): boolean {
  return STAGE[status] === 2;
}

/** The newest time a record carries. */
function stamp(a: ActionRecord): number {
  return Math.max(timeOf(a.created_at), timeOf(a.dispatched_at), timeOf(a.started_at), timeOf(a.completed_at));
}

/** Newest first: creation time, then id. */
export function compareActions(a: ActionRecord, b: ActionRecord): number {
  return timeOf(b.created_at) - timeOf(a.created_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** What `incoming` makes of `held` (the same id): `held` itself when it is not newer. */
export function mergeAction(held: ActionRecord | undefined, incoming: ActionRecord): ActionRecord {
  if (!held) return incoming;
  const d = STAGE[incoming.status] - STAGE[held.status];
  if (d < 0 || (d === 0 && stamp(incoming) < stamp(held))) return held;
  if (incoming.output === null && held.output !== null && incoming.status === held.status) {
    return { ...incoming, output: held.output, truncated: held.truncated };
  }
  return incoming;
}

function defaultSchedule(cb: () => void): void {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => cb());
  else setTimeout(cb, 16);
}

export class ActionsStore {
  private byId = new Map<string, ActionRecord>();
  private listCache: ActionRecord[] | null = null;
  private listeners = new Set<() => void>();
  private scheduled = false;
  /** Grows when live frames may have been missed; REST views reload on it. */
  epoch = 0;

  constructor(private schedule: Schedule = defaultSchedule) {}

  get(id: string): ActionRecord | undefined {
    return this.byId.get(id);
  }

  /** Every known action, newest first; the same array until something changes. */
  list(): readonly ActionRecord[] {
    if (!this.listCache) this.listCache = [...this.byId.values()].sort(compareActions);
    return this.listCache;
  }

  /** Merges REST records (a page, a detail, a 202 answer). */
  upsert(...records: ActionRecord[]): void {
    let changed = false;
    for (const r of records) {
      const held = this.byId.get(r.id);
      const next = mergeAction(held, r);
      if (next !== held) {
        this.byId.set(r.id, next);
        changed = true;
      }
    }
    if (changed) this.changed();
  }

  /** Applies a WebSocket `action` frame: an unknown id adds a row. */
  applyFrame(frame: ActionFrame): void {
    const held = this.byId.get(frame.id);
    if (frame.action) {
      this.upsert({ ...frame.action, id: frame.id, status: frame.status });
    } else if (held) {
      // a server that sends no record: the status moves, the next load fills in the rest
      if (STAGE[frame.status] >= STAGE[held.status] && frame.status !== held.status) this.upsert({ ...held, status: frame.status });
    } else {
      this.upsert({
        id: frame.id, tenant_id: '', host_id: frame.host_id, type: '', params: {}, status: frame.status, user_id: null,
        requested_by: '', command: null, rule: null, exit_code: null, output: null, truncated: false, error: null,
        timeout_seconds: 0, created_at: frame.timestamp, expires_at: '', dispatched_at: null, started_at: null,
        completed_at: null, duration_ms: null,
      });
    }
  }

  /** Live frames may have been missed (the socket reconnected): views load again. */
  resync(): void {
    this.epoch += 1;
    this.changed();
  }

  /** Forgets everything (signed out). */
  clear(): void {
    this.byId = new Map();
    this.changed();
  }

  private changed(): void {
    this.listCache = null;
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  /** Tells listeners about the changes since the last flush (scheduled; tests may call it). */
  flush(): void {
    this.scheduled = false;
    for (const fn of this.listeners) fn();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }
}
