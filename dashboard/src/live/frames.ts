// Coalescing of live frames: per host, only the newest `metrics` frame and
// the newest `host_status` frame matter (each replaces what the screen
// shows). Used twice with the same rule: by the socket worker, to send the
// page one batch per interval however many messages arrived, and by the
// hosts store, to apply at most one update per host per animation frame.
// Alert and action frames ("events") are not coalesced: each one is kept,
// in arrival order.

import type { ActionFrame, AlertFrame, HostStatusFrame, MetricsFrame, ServerMessage } from '../api/types';

export type EventFrame = AlertFrame | ActionFrame;

/** Frames that are never coalesced nor dropped: every alert and action change. */
export function isEvent(msg: ServerMessage): msg is EventFrame {
  return msg.type === 'alert' || msg.type === 'action';
}

export interface Pending {
  metrics?: MetricsFrame;
  status?: HostStatusFrame;
}

export function timeOf(ts: string | null | undefined): number {
  const t = ts ? Date.parse(ts) : NaN;
  return Number.isFinite(t) ? t : 0;
}

/** Records `msg` in `pending` unless a newer frame of its kind is already there for its host. */
export function coalesce(pending: Map<string, Pending>, msg: MetricsFrame | HostStatusFrame): void {
  const p = pending.get(msg.host_id) ?? {};
  if (msg.type === 'metrics') {
    if (!p.metrics || timeOf(msg.timestamp) >= timeOf(p.metrics.timestamp)) p.metrics = msg;
  } else if (!p.status || timeOf(msg.timestamp) >= timeOf(p.status.timestamp)) {
    p.status = msg;
  }
  pending.set(msg.host_id, p);
}

/** Frames queued since the last `take`, coalesced per host; events (alerts, actions) in order. */
export class FrameBatch {
  private pending = new Map<string, Pending>();
  private events: EventFrame[] = [];

  add(msg: ServerMessage): void {
    if (isEvent(msg)) this.events.push(msg);
    else coalesce(this.pending, msg);
  }

  get size(): number {
    return this.pending.size + this.events.length;
  }

  /** Everything queued (events first, then per host its metrics and status frame); empties the batch. */
  take(): ServerMessage[] {
    const out: ServerMessage[] = this.events;
    for (const p of this.pending.values()) {
      if (p.metrics) out.push(p.metrics);
      if (p.status) out.push(p.status);
    }
    this.pending = new Map();
    this.events = [];
    return out;
  }
}
