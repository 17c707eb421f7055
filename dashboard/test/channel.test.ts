import { describe, expect, it, vi } from 'vitest';
import type { ServerMessage } from '../src/api/types';
import { BATCH_MS, FallbackConnection, serveLiveWorker, WorkerSocket, type FromWorker, type PagePort, type ToWorker, type WorkerPort } from '../src/live/channel';
import { FrameBatch } from '../src/live/frames';
import { FakeSocket } from './fakeSocket';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** The page and the worker side joined by two fake ports that deliver asynchronously, like postMessage. */
function pair() {
  FakeSocket.all = [];
  const timers: { cb: () => void; ms: number }[] = [];
  const toPage: FromWorker[] = [];
  const workerPort: WorkerPort = {
    onmessage: null,
    postMessage: (msg) => {
      toPage.push(msg);
      queueMicrotask(() => pagePort.onmessage?.({ data: structuredClone(msg) }));
    },
  };
  const pagePort: PagePort = {
    onmessage: null,
    postMessage: (msg: ToWorker) => queueMicrotask(() => workerPort.onmessage?.({ data: structuredClone(msg) })),
  };
  serveLiveWorker(workerPort, {
    createSocket: (u) => new FakeSocket(u),
    setTimer: (cb, ms) => {
      timers.push({ cb, ms });
      return timers.length;
    },
    clearTimer: () => {},
  });
  const frames: ServerMessage[][] = [];
  const states: string[] = [];
  const onReconnect = vi.fn();
  let token = 0;
  const page = new WorkerSocket(pagePort, {
    url: async () => `ws://x/ws?token=t${++token}`,
    onFrames: (f) => frames.push(f),
    onState: (s) => states.push(s),
    onReconnect,
  });
  const fire = async (ms: number) => {
    const i = timers.findIndex((t) => t.ms === ms);
    expect(i).toBeGreaterThanOrEqual(0);
    const [t] = timers.splice(i, 1);
    t!.cb();
    await tick();
  };
  return { page, frames, states, onReconnect, timers, toPage, fire, last: () => FakeSocket.all[FakeSocket.all.length - 1]! };
}

const metricsText = (host: string, second: number, cpu: number) =>
  JSON.stringify({ type: 'metrics', host_id: host, timestamp: `2026-11-24T12:00:${String(second).padStart(2, '0')}Z`, data: { cpu, memory: 1, disk: 2 } });

describe('socket worker', () => {
  it('opens the socket with a URL the page supplies and subscribes on open', async () => {
    const h = pair();
    h.page.subscribe();
    h.page.start();
    await tick();
    expect(h.last().url).toBe('ws://x/ws?token=t1');
    h.last().open();
    await tick();
    expect(h.last().sent).toEqual(['{"type":"subscribe"}']);
    expect(h.states).toEqual(['connecting', 'open']);
    expect(h.page.state).toBe('open');
  });

  it('sends the page one coalesced batch for a burst of socket messages', async () => {
    const h = pair();
    h.page.start();
    await tick();
    h.last().open();
    await tick();
    // 300 messages: 100 hosts, 3 snapshots each, the newest last
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) h.last().onmessage?.({ data: metricsText(`h${i}`, round, round * 100 + i) });
    }
    h.last().onmessage?.({ data: JSON.stringify({ type: 'host_status', host_id: 'h7', status: 'offline', timestamp: '2026-11-24T12:00:09Z' }) });
    h.last().onmessage?.({ data: 'not json' });
    await tick();
    expect(h.frames).toHaveLength(0); // nothing before the batch interval ends
    await h.fire(BATCH_MS);
    expect(h.frames).toHaveLength(1);
    const batch = h.frames[0]!;
    expect(batch.filter((f) => f.type === 'metrics')).toHaveLength(100);
    const h42 = batch.find((f) => f.type === 'metrics' && f.host_id === 'h42');
    expect(h42).toMatchObject({ timestamp: '2026-11-24T12:00:02Z', data: { cpu: 242 } });
    expect(batch.find((f) => f.type === 'host_status')).toMatchObject({ host_id: 'h7', status: 'offline' });
    // the next message starts a new interval
    h.last().onmessage?.({ data: metricsText('h1', 5, 9) });
    await h.fire(BATCH_MS);
    expect(h.frames).toHaveLength(2);
    expect(h.frames[1]).toHaveLength(1);
  });

  it('reports a dropped connection, reconnects with a fresh URL and tells the page', async () => {
    const h = pair();
    h.page.start();
    await tick();
    h.last().open();
    await tick();
    h.last().drop();
    await tick();
    expect(h.page.state).toBe('reconnecting');
    await h.fire(1000); // first backoff step
    expect(h.last().url).toBe('ws://x/ws?token=t2');
    h.last().open();
    await tick();
    expect(h.page.state).toBe('open');
    expect(h.onReconnect).toHaveBeenCalledTimes(1);
  });

  it('stop closes the socket and drops frames still waiting for the batch', async () => {
    const h = pair();
    h.page.start();
    await tick();
    h.last().open();
    await tick();
    h.last().onmessage?.({ data: metricsText('h1', 1, 1) });
    h.page.stop();
    await tick();
    expect(h.last().readyState).toBe(3);
    expect(h.page.state).toBe('idle');
    await h.fire(BATCH_MS);
    expect(h.frames).toHaveLength(0);
  });
});

describe('FrameBatch', () => {
  it('keeps the newest frame of each kind per host, even when an older one arrives last, and every alert in order', () => {
    const b = new FrameBatch();
    b.add({ type: 'metrics', host_id: 'h1', timestamp: '2026-11-24T12:00:05Z', data: { cpu: 5, memory: null, disk: null, containers: null, services_count: null } });
    b.add({ type: 'metrics', host_id: 'h1', timestamp: '2026-11-24T12:00:01Z', data: { cpu: 1, memory: null, disk: null, containers: null, services_count: null } });
    b.add({ type: 'alert', id: 'a1', severity: 'warning', host_id: 'h1', message: 'one', timestamp: '2026-11-24T12:00:02Z', event: 'fired', alert: null });
    b.add({ type: 'alert', id: 'a2', severity: 'critical', host_id: 'h1', message: 'two', timestamp: '2026-11-24T12:00:03Z', event: 'fired', alert: null });
    expect(b.size).toBe(3);
    const out = b.take();
    expect(out.map((f) => (f.type === 'alert' ? f.id : f.type))).toEqual(['a1', 'a2', 'metrics']);
    expect(out[2]).toMatchObject({ data: { cpu: 5 } });
    expect(b.size).toBe(0);
    expect(b.take()).toEqual([]);
  });
});

describe('FallbackConnection', () => {
  const recorder = () => {
    const calls: string[] = [];
    return {
      calls,
      conn: {
        start: () => calls.push('start'),
        stop: () => calls.push('stop'),
        subscribe: (hosts?: string[]) => calls.push(hosts ? `subscribe ${hosts.join(',')}` : 'subscribe all'),
        unsubscribe: (hosts: string[]) => calls.push(`unsubscribe ${hosts.join(',')}`),
      },
    };
  };

  it('runs on the worker until told it failed, then replays the subscription and start on the page socket', () => {
    const worker = recorder();
    const page = recorder();
    const made = vi.fn(() => page.conn);
    const c = new FallbackConnection(worker.conn, made);
    c.subscribe();
    c.start();
    expect(worker.calls).toEqual(['subscribe all', 'start']);
    expect(made).not.toHaveBeenCalled();
    c.fallBack();
    c.fallBack(); // once only
    expect(made).toHaveBeenCalledTimes(1);
    expect(worker.calls.at(-1)).toBe('stop');
    expect(page.calls).toEqual(['subscribe all', 'start']);
    c.stop();
    expect(page.calls.at(-1)).toBe('stop');
  });

  it('replays named hosts and does not start a stopped connection', () => {
    const page = recorder();
    const c = new FallbackConnection(recorder().conn, () => page.conn);
    c.subscribe(['h1', 'h2']);
    c.unsubscribe(['h1']);
    c.fallBack();
    expect(page.calls).toEqual(['subscribe h2']);
  });
});
