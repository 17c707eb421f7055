// The messages between the page and the socket worker (`worker.ts`), and
// the worker's logic (`serveLiveWorker`), kept apart from the worker entry
// so tests run it in-process against a fake port.
//
// The worker owns the WebSocket (`LiveSocket`: reconnects, backoff,
// re-subscribing). Every WebSocket message is received and parsed there; the
// page gets one `frames` message per `BATCH_MS` at most, coalesced per host
// (`FrameBatch`), so a burst of hundreds of socket messages costs the page's
// main thread one message, not hundreds. The worker has no session: for each
// connection attempt it asks the page for a URL (a fresh access token).

import type { ServerMessage } from '../api/types';
import { FrameBatch } from './frames';
import { LiveSocket, type LiveConnection, type LiveSocketOptions, type SocketState } from './socket';

/** Longest a frame waits in the worker before it is sent to the page. */
export const BATCH_MS = 16;

export type ToWorker =
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'subscribe'; hosts?: string[] }
  | { type: 'unsubscribe'; hosts: string[] }
  | { type: 'url'; id: number; url: string | null };

export type FromWorker =
  | { type: 'frames'; frames: ServerMessage[] }
  | { type: 'state'; state: SocketState }
  | { type: 'reconnected' }
  | { type: 'need_url'; id: number };

/** What the worker side needs of its global scope (or of a test's fake). */
export interface WorkerPort {
  postMessage(msg: FromWorker): void;
  onmessage: ((ev: { data: ToWorker }) => void) | null;
}

export interface WorkerOptions {
  createSocket?: LiveSocketOptions['createSocket'];
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** Runs the worker side on `port`. */
export function serveLiveWorker(port: WorkerPort, opts: WorkerOptions = {}): void {
  const setTimer = opts.setTimer ?? ((cb, ms) => setTimeout(cb, ms));
  const clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const batch = new FrameBatch();
  let batchTimer: unknown = null;
  let nextId = 0;
  const waiting = new Map<number, (url: string | null) => void>();

  const sendBatch = () => {
    batchTimer = null;
    if (batch.size) port.postMessage({ type: 'frames', frames: batch.take() });
  };

  const socket = new LiveSocket({
    url: () =>
      new Promise((resolve) => {
        const id = ++nextId;
        waiting.set(id, resolve);
        port.postMessage({ type: 'need_url', id });
      }),
    onMessage: (msg) => {
      batch.add(msg);
      if (batchTimer === null) batchTimer = setTimer(sendBatch, BATCH_MS);
    },
    onState: (state) => port.postMessage({ type: 'state', state }),
    onReconnect: () => port.postMessage({ type: 'reconnected' }),
    createSocket: opts.createSocket,
    setTimer: opts.setTimer,
    clearTimer: opts.clearTimer,
  });

  port.onmessage = ({ data }) => {
    switch (data.type) {
      case 'start':
        socket.start();
        break;
      case 'stop':
        socket.stop();
        for (const resolve of waiting.values()) resolve(null);
        waiting.clear();
        if (batchTimer !== null) clearTimer(batchTimer);
        batchTimer = null;
        batch.take(); // frames of the session that ended
        break;
      case 'subscribe':
        socket.subscribe(data.hosts);
        break;
      case 'unsubscribe':
        socket.unsubscribe(data.hosts);
        break;
      case 'url': {
        const resolve = waiting.get(data.id);
        waiting.delete(data.id);
        resolve?.(data.url);
        break;
      }
    }
  };
}

/** What the page needs of the worker (a `Worker`, or a test's fake). */
export interface PagePort {
  postMessage(msg: ToWorker): void;
  onmessage: ((ev: { data: FromWorker }) => void) | null;
}

export interface WorkerSocketOptions {
  /** URL to open (fresh token each time), or null when signed out. */
  url: () => Promise<string | null>;
  /** One call per batch from the worker. */
  onFrames: (frames: ServerMessage[]) => void;
  onState?: (state: SocketState) => void;
  onReconnect?: () => void;
}

/** The page's handle on the socket worker; same controls as `LiveSocket`. */
export class WorkerSocket {
  state: SocketState = 'idle';

  constructor(private port: PagePort, opts: WorkerSocketOptions) {
    port.onmessage = ({ data }) => {
      switch (data.type) {
        case 'frames':
          opts.onFrames(data.frames);
          break;
        case 'state':
          this.state = data.state;
          opts.onState?.(data.state);
          break;
        case 'reconnected':
          opts.onReconnect?.();
          break;
        case 'need_url':
          opts.url().then(
            (url) => port.postMessage({ type: 'url', id: data.id, url }),
            () => port.postMessage({ type: 'url', id: data.id, url: null }),
          );
          break;
      }
    };
  }

  start(): void {
    this.port.postMessage({ type: 'start' });
  }

  stop(): void {
    this.port.postMessage({ type: 'stop' });
  }

  subscribe(hosts?: string[]): void {
    this.port.postMessage(hosts ? { type: 'subscribe', hosts } : { type: 'subscribe' });
  }

  unsubscribe(hosts: string[]): void {
    this.port.postMessage({ type: 'unsubscribe', hosts });
  }
}

/**
 * A connection that starts on `primary` (the worker) and, when told the
 * worker failed (its script did not load, say), moves to a connection made by
 * `fallback` (the socket on the page), replaying what the app asked so far:
 * the subscription and whether it runs.
 */
export class FallbackConnection implements LiveConnection {
  private current: LiveConnection;
  private running = false;
  private all = false;
  private hosts = new Set<string>();
  private fellBack = false;

  constructor(primary: LiveConnection, private fallback: () => LiveConnection) {
    this.current = primary;
  }

  /** Switches to the fallback once; later calls do nothing. */
  fallBack(): void {
    if (this.fellBack) return;
    this.fellBack = true;
    this.current.stop();
    this.current = this.fallback();
    if (this.all) this.current.subscribe();
    else if (this.hosts.size) this.current.subscribe([...this.hosts]);
    if (this.running) this.current.start();
  }

  start(): void {
    this.running = true;
    this.current.start();
  }

  stop(): void {
    this.running = false;
    this.current.stop();
  }

  subscribe(hosts?: string[]): void {
    if (!hosts) this.all = true;
    else for (const h of hosts) this.hosts.add(h);
    this.current.subscribe(hosts);
  }

  unsubscribe(hosts: string[]): void {
    for (const h of hosts) this.hosts.delete(h);
    this.current.unsubscribe(hosts);
  }
}
