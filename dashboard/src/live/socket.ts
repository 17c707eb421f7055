// WebSocket connection to the gateway's /ws. Reconnects with exponential
// backoff (1 s, 2 s, 4 s … capped at 30 s; reset after a successful open),
// re-sends the current subscriptions on every open and tells the app when
// a connection comes back so it can refetch what it missed.
//
// States: idle → connecting → open → (closed) reconnecting → connecting …;
// stop() returns to idle and cancels any pending reconnect.

import { parseServerMessage } from '../api/normalize';
import type { ClientMessage, ServerMessage } from '../api/types';

export type SocketState = 'idle' | 'connecting' | 'open' | 'reconnecting';

/** The controls the app uses, whether the socket runs on the page or in a worker. */
export interface LiveConnection {
  start(): void;
  stop(): void;
  /** Some hosts, or every host of the tenant when `hosts` is omitted. */
  subscribe(hosts?: string[]): void;
  unsubscribe(hosts: string[]): void;
}

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 30_000;

/** Delay before reconnect attempt `attempt` (0-based): 1 s, 2 s, 4 s, 8 s, 16 s, 30 s, 30 s … */
export function backoffDelay(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt));
}

/** ws: or wss: to the same origin as the page. */
export function socketUrl(loc: { protocol: string; host: string }, token: string): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws?token=${encodeURIComponent(token)}`;
}

interface MinimalSocket {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface LiveSocketOptions {
  /** URL to open (fresh token each time), or null when signed out (no connection). */
  url: () => Promise<string | null>;
  onMessage: (msg: ServerMessage) => void;
  /**
   * When set, receives each text message as it arrived instead of `onMessage`
   * receiving it parsed (the hosts store parses later, within a frame budget).
   */
  onText?: (text: string) => void;
  onState?: (state: SocketState) => void;
  /** After a reconnect (not the first open): refetch state that frames may have missed. */
  onReconnect?: () => void;
  createSocket?: (url: string) => MinimalSocket;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const OPEN = 1;

export class LiveSocket implements LiveConnection {
  state: SocketState = 'idle';
  /** Failed attempts since the last successful open. */
  attempt = 0;
  private ws: MinimalSocket | null = null;
  private timer: unknown = null;
  private everOpened = false;
  private running = false;
  /** What to re-send on (re)open: nothing yet, all hosts of the tenant, or some hosts. */
  private subscription: null | 'all' | Set<string> = null;

  constructor(private opts: LiveSocketOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) (this.opts.clearTimer ?? clearTimeout)(this.timer as ReturnType<typeof setTimeout>);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      ws.close(1000, 'signed out');
    }
    this.everOpened = false;
    this.attempt = 0;
    this.setState('idle');
  }

  /** Subscribe to some hosts, or to all of the tenant's hosts when `hosts` is omitted. */
  subscribe(hosts?: string[]): void {
    if (!hosts) this.subscription = 'all';
    else if (this.subscription === null) this.subscription = new Set(hosts);
    else if (this.subscription !== 'all') for (const h of hosts) this.subscription.add(h);
    this.send(hosts ? { type: 'subscribe', hosts } : { type: 'subscribe' });
  }

  unsubscribe(hosts: string[]): void {
    if (this.subscription instanceof Set) for (const h of hosts) this.subscription.delete(h);
    this.send({ type: 'unsubscribe', hosts });
  }

  private send(msg: ClientMessage): void {
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(msg));
  }

  private setState(s: SocketState): void {
    if (this.state === s) return;
    this.state = s;
    this.opts.onState?.(s);
  }

  private async connect(): Promise<void> {
    if (!this.running) return;
    this.setState(this.everOpened || this.attempt > 0 ? 'reconnecting' : 'connecting');
    let url: string | null;
    try {
      url = await this.opts.url();
    } catch {
      url = null;
    }
    if (!this.running) return;
    if (url === null) {
      this.scheduleReconnect();
      return;
    }
    let ws: MinimalSocket;
    try {
      ws = (this.opts.createSocket ?? ((u) => new WebSocket(u) as unknown as MinimalSocket))(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const reconnected = this.everOpened || this.attempt > 0;
      this.everOpened = true;
      this.attempt = 0;
      this.setState('open');
      if (this.subscription === 'all') ws.send(JSON.stringify({ type: 'subscribe' }));
      else if (this.subscription && this.subscription.size) {
        ws.send(JSON.stringify({ type: 'subscribe', hosts: [...this.subscription] }));
      }
      if (reconnected) this.opts.onReconnect?.();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      if (this.opts.onText) {
        this.opts.onText(ev.data);
        return;
      }
      const msg = parseServerMessage(ev.data);
      if (msg) this.opts.onMessage(msg);
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnect
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (!this.running) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setState('reconnecting');
    this.timer = (this.opts.setTimer ?? setTimeout)(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }

  /** Delay the next reconnect will wait (for the banner). */
  nextDelay(): number {
    return backoffDelay(Math.max(0, this.attempt - 1));
  }
}
