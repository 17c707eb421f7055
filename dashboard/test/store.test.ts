import { describe, expect, it, vi } from 'vitest';
import type { MetricsFrame, ServerMessage } from '../src/api/types';
import { HostsStore, RAW_LIMIT, sortHostIds } from '../src/live/store';
import { detail, point } from './fixtures';

/** A store whose animation frames run only when the test says so. */
function manualStore(onUnknown: (ids: string[]) => void = () => {}, maxPerFrame?: number) {
  const frames: (() => void)[] = [];
  const store = new HostsStore((cb) => frames.push(cb), onUnknown, maxPerFrame);
  const runFrame = () => {
    const pending = frames.splice(0);
    for (const cb of pending) cb();
  };
  return { store, frames, runFrame };
}

function metrics(host_id: string, timestamp: string, cpu: number, extra: Partial<MetricsFrame['data']> = {}): ServerMessage {
  return {
    type: 'metrics', host_id, timestamp,
    data: { cpu, memory: 50, disk: 40, containers: null, services_count: null, ...extra },
  };
}

describe('HostsStore', () => {
  it('a metrics frame updates the host after the next animation frame', () => {
    const { store, runFrame } = manualStore();
    store.setHosts([detail('h1'), detail('h2')]);
    store.enqueue(metrics('h1', '2026-11-24T12:00:05Z', 23.5, {
      containers: [{ name: 'gw3', cpu: 1, memory: 2, status: 'running' }], services_count: 4,
    }));
    expect(store.get('h1')!.live.cpu).toBeNull();
    runFrame();
    const h1 = store.get('h1')!;
    expect(h1.live).toMatchObject({ cpu: 23.5, memory: 50, disk: 40, servicesCount: 4, timestamp: '2026-11-24T12:00:05Z' });
    expect(h1.live.containers).toHaveLength(1);
    expect(h1.last_seen).toBe('2026-11-24T12:00:05Z');
    expect(store.get('h2')!.live.cpu).toBeNull();
  });

  it('a host_status offline frame turns the host offline and keeps its last_seen', () => {
    const { store, runFrame } = manualStore();
    store.setHosts([detail('h1', { last_seen: '2026-11-24T12:00:00Z' })]);
    store.enqueue({ type: 'host_status', host_id: 'h1', status: 'offline', timestamp: '2026-11-24T12:01:30Z' });
    runFrame();
    expect(store.get('h1')!.status).toBe('offline');
    expect(store.get('h1')!.last_seen).toBe('2026-11-24T12:00:00Z');
    expect(store.summary()).toMatchObject({ total: 1, online: 0, offline: 1 });
  });

  it('batches many frames into one scheduled flush and one notification per host', () => {
    const { store, frames, runFrame } = manualStore();
    store.setHosts([detail('h1'), detail('h2')]);
    const h1 = vi.fn();
    const changes = vi.fn();
    store.subscribeHost('h1', h1);
    store.subscribeChanges(changes);
    for (let i = 0; i < 100; i++) {
      store.enqueue(metrics('h1', `2026-11-24T12:00:${String(i % 60).padStart(2, '0')}Z`, i));
      store.enqueue(metrics('h2', '2026-11-24T12:00:00Z', i));
    }
    expect(frames).toHaveLength(1);
    runFrame();
    expect(store.flushes).toBe(1);
    expect(h1).toHaveBeenCalledTimes(1);
    expect(changes).toHaveBeenCalledTimes(1);
    expect([...changes.mock.calls[0]![0]].sort()).toEqual(['h1', 'h2']);
    // the newest frame wins (timestamps :59 for i = 59 and 119 → i=59 is the last with :59)
    expect(store.get('h1')!.live.cpu).toBe(59);
    // equal timestamps: the later arrival wins
    expect(store.get('h2')!.live.cpu).toBe(99);
    // nothing queued → nothing scheduled
    runFrame();
    expect(frames).toHaveLength(0);
  });

  it('spreads a burst larger than the per-frame cap over several frames', () => {
    const { store, frames, runFrame } = manualStore(undefined, 300);
    const ids = Array.from({ length: 1000 }, (_, i) => `h${i}`);
    store.setHosts(ids.map((id) => detail(id)));
    const sizes: number[] = [];
    store.subscribeChanges((c) => sizes.push(c.size));
    for (const id of ids) store.enqueue(metrics(id, '2026-11-24T12:00:05Z', 5));
    expect(frames).toHaveLength(1);
    runFrame();
    expect(sizes).toEqual([300]);
    expect(store.get('h0')!.live.cpu).toBe(5);
    expect(store.get('h999')!.live.cpu).toBeNull();
    // a newer frame for a host still waiting replaces the queued one
    store.enqueue(metrics('h999', '2026-11-24T12:00:06Z', 99));
    expect(frames).toHaveLength(1);
    runFrame();
    runFrame();
    runFrame();
    expect(sizes).toEqual([300, 300, 300, 100]);
    expect(frames).toHaveLength(0);
    expect(store.get('h999')!.live.cpu).toBe(99);
  });

  it('does not re-render other hosts or list listeners on a value update', () => {
    const { store, runFrame } = manualStore();
    store.setHosts([detail('h1'), detail('h2')]);
    const h2 = vi.fn();
    const list = vi.fn();
    store.subscribeHost('h2', h2);
    store.subscribeList(list);
    const before = store.get('h2');
    store.enqueue(metrics('h1', '2026-11-24T12:00:05Z', 10));
    runFrame();
    expect(h2).not.toHaveBeenCalled();
    expect(list).not.toHaveBeenCalled();
    expect(store.get('h2')).toBe(before);
  });

  it('tells list listeners about the first load even when it is empty', () => {
    const { store } = manualStore();
    const heard = vi.fn();
    store.subscribeList(heard);
    store.setHosts([]);
    expect(store.loaded).toBe(true);
    expect(heard).toHaveBeenCalledTimes(1);
    store.setHosts([]);
    expect(heard).toHaveBeenCalledTimes(1);
  });

  it('ignores a status frame older than the status already applied', () => {
    const { store, runFrame } = manualStore();
    store.setHosts([detail('h1', { last_seen: '2026-11-24T12:00:00Z' })]);
    store.enqueue({ type: 'host_status', host_id: 'h1', status: 'offline', timestamp: '2026-11-24T12:05:00Z' });
    runFrame();
    store.enqueue({ type: 'host_status', host_id: 'h1', status: 'online', timestamp: '2026-11-24T12:03:00Z' });
    runFrame();
    expect(store.get('h1')!.status).toBe('offline');
    store.enqueue({ type: 'host_status', host_id: 'h1', status: 'online', timestamp: '2026-11-24T12:06:00Z' });
    runFrame();
    expect(store.get('h1')!.status).toBe('online');
  });

  it('reports frames for unknown hosts once per flush so the app can refetch', () => {
    const unknown = vi.fn();
    const { store, runFrame } = manualStore(unknown);
    store.setHosts([detail('h1')]);
    store.enqueue(metrics('new-1', '2026-11-24T12:00:00Z', 1));
    store.enqueue({ type: 'host_status', host_id: 'new-1', status: 'online', timestamp: '2026-11-24T12:00:00Z' });
    runFrame();
    expect(unknown).toHaveBeenCalledTimes(1);
    expect(unknown).toHaveBeenCalledWith(['new-1']);
    expect(store.get('new-1')).toBeUndefined();
  });

  it('keeps live values across a REST reload and takes newer latest snapshots', () => {
    const { store, runFrame } = manualStore();
    store.setHosts([detail('h1')]);
    store.enqueue(metrics('h1', '2026-11-24T12:00:05Z', 33));
    runFrame();
    const list = vi.fn();
    store.subscribeList(list);
    store.setHosts([detail('h1', {}, point('2026-11-24T11:00:00Z', 1, 1))]);
    expect(store.get('h1')!.live.cpu).toBe(33);
    expect(list).not.toHaveBeenCalled();
    store.setHosts([detail('h1', {}, point('2026-11-24T13:00:00Z', 77, 1)), detail('h2')]);
    expect(store.get('h1')!.live.cpu).toBe(77);
    expect(list).toHaveBeenCalledTimes(1);
  });

  it('counts running containers and online hosts in the summary', () => {
    const { store, runFrame } = manualStore();
    store.setHosts([detail('a'), detail('b', { status: 'offline' }), detail('c', { status: 'degraded' })]);
    expect(store.summary()).toMatchObject({ total: 3, online: 1, degraded: 1, offline: 1, containersKnown: false });
    store.enqueue(metrics('a', '2026-11-24T12:00:05Z', 1, {
      containers: [
        { name: 'x', cpu: 0, memory: 0, status: 'running' },
        { name: 'y', cpu: 0, memory: 0, status: 'exited' },
      ],
    }));
    runFrame();
    expect(store.summary()).toMatchObject({ containersKnown: true, containersRunning: 1 });
  });

  it('sorts by name, cpu and memory on demand', () => {
    const { store, runFrame } = manualStore();
    store.setHosts([detail('b'), detail('a'), detail('c')]);
    store.enqueue(metrics('a', '2026-11-24T12:00:05Z', 10));
    store.enqueue(metrics('b', '2026-11-24T12:00:05Z', 90));
    runFrame();
    expect(sortHostIds(store, 'name')).toEqual(['a', 'b', 'c']);
    expect(sortHostIds(store, 'cpu')).toEqual(['b', 'a', 'c']);
    expect(sortHostIds(store, 'cpu', false)).toEqual(['c', 'a', 'b']);
  });
});

describe('HostsStore and REST reloads', () => {
  it('applies a live status even when the host record has a later last_seen (server clocks differ)', () => {
    const frames: (() => void)[] = [];
    const store = new HostsStore((cb) => frames.push(cb));
    store.setHosts([detail('h1', { last_seen: '2030-01-01T00:00:00Z' })]);
    store.enqueue({ type: 'host_status', host_id: 'h1', status: 'offline', timestamp: '2026-11-24T12:00:00Z' });
    frames.splice(0).forEach((cb) => cb());
    expect(store.get('h1')!.status).toBe('offline');
  });

  it('a REST answer newer than the live status wins; an older one does not', () => {
    const frames: (() => void)[] = [];
    const store = new HostsStore((cb) => frames.push(cb));
    store.setHosts([detail('h1', { status: 'offline', last_seen: '2026-11-24T11:00:00Z' })]);
    store.enqueue({ type: 'host_status', host_id: 'h1', status: 'online', timestamp: '2026-11-24T12:00:00Z' });
    frames.splice(0).forEach((cb) => cb());
    // stale REST answer (fetched before the host came back)
    store.setHosts([detail('h1', { status: 'offline', last_seen: '2026-11-24T11:00:00Z' })]);
    expect(store.get('h1')!.status).toBe('online');
    // fresh REST answer (the host went offline after its 12:30 snapshot while we were disconnected)
    store.setHosts([detail('h1', { status: 'offline', last_seen: '2026-11-24T12:30:00Z' })]);
    expect(store.get('h1')!.status).toBe('offline');
  });
});

describe('HostsStore and raw socket text', () => {
  const text = (host_id: string, second: number, cpu: number) =>
    JSON.stringify({
      type: 'metrics', host_id, timestamp: `2026-11-24T12:00:${String(second).padStart(2, '0')}Z`,
      data: { cpu, memory: 50, disk: 40 },
    });

  it('parses queued text in the next animation frame, not on arrival, and skips bad text', () => {
    const { store, frames, runFrame } = manualStore();
    store.setHosts([detail('h1'), detail('h2')]);
    store.enqueueText(text('h1', 1, 11));
    store.enqueueText('{not json');
    store.enqueueText(JSON.stringify({ type: 'host_status', host_id: 'h2', status: 'offline', timestamp: '2026-11-24T12:00:02Z' }));
    expect(store.rawQueued()).toBe(3);
    expect(frames).toHaveLength(1);
    expect(store.get('h1')!.live.cpu).toBeNull();
    runFrame();
    expect(store.rawQueued()).toBe(0);
    expect(store.get('h1')!.live.cpu).toBe(11);
    expect(store.get('h2')!.status).toBe('offline');
  });

  it('stops parsing at the frame budget and goes on in the next frame, in arrival order', () => {
    let now = 0;
    const frames: (() => void)[] = [];
    // every look at the clock costs 1 ms; 4 ms budget: a few chunks per frame
    const store = new HostsStore((cb) => frames.push(cb), () => {}, 1000, 4, () => (now += 1));
    const ids = Array.from({ length: 200 }, (_, i) => `h${i}`);
    store.setHosts(ids.map((id) => detail(id)));
    for (const [i, id] of ids.entries()) store.enqueueText(text(id, 1, i));
    store.enqueueText(text('h0', 2, 999)); // newer frame for h0, last in the queue
    let rounds = 0;
    const queued: number[] = [];
    while (frames.length) {
      frames.splice(0).forEach((cb) => cb());
      queued.push(store.rawQueued());
      rounds += 1;
    }
    expect(rounds).toBeGreaterThan(1); // the budget split the work
    expect(queued[0]).toBeGreaterThan(0);
    expect(queued[0]).toBeLessThan(201);
    expect(queued.at(-1)).toBe(0);
    expect(ids.every((id, i) => store.get(id)!.live.cpu === (i === 0 ? 999 : i))).toBe(true);
  });

  it('never keeps more than RAW_LIMIT texts unparsed while no frame runs (hidden tab)', () => {
    const { store, frames, runFrame } = manualStore();
    store.setHosts([detail('h1')]);
    for (let i = 0; i < RAW_LIMIT * 3; i++) store.enqueueText(text('h1', i % 60, i));
    expect(store.rawQueued()).toBeLessThan(RAW_LIMIT);
    expect(frames).toHaveLength(1);
    runFrame();
    expect(store.rawQueued()).toBe(0);
    expect(store.get('h1')!.live.timestamp).toBe('2026-11-24T12:00:59Z');
  });

  it('passes alert text to alert listeners', () => {
    const { store, runFrame } = manualStore();
    const alerts = vi.fn();
    store.subscribeEvents(alerts);
    store.enqueueText(JSON.stringify({ type: 'alert', id: 'a1', severity: 'critical', host_id: 'h1', message: 'cpu', timestamp: '2026-11-24T12:00:00Z', event: 'fired', alert: null }));
    expect(alerts).not.toHaveBeenCalled();
    runFrame();
    expect(alerts).toHaveBeenCalledWith(expect.objectContaining({ type: 'alert', id: 'a1' }));
  });
});

describe('HostsStore and worker batches', () => {
  it('applies a batch in one animation frame and passes its alerts on', () => {
    const { store, frames, runFrame } = manualStore();
    store.setHosts([detail('h1'), detail('h2')]);
    const alerts = vi.fn();
    store.subscribeEvents(alerts);
    store.enqueueAll([
      metrics('h1', '2026-11-24T12:00:05Z', 15),
      metrics('h2', '2026-11-24T12:00:05Z', 25),
      { type: 'alert', id: 'a1', severity: 'warning', host_id: 'h2', message: 'disk', timestamp: '2026-11-24T12:00:05Z', event: 'fired', alert: null },
    ]);
    expect(frames).toHaveLength(1);
    expect(alerts).toHaveBeenCalledTimes(1);
    runFrame();
    expect([store.get('h1')!.live.cpu, store.get('h2')!.live.cpu]).toEqual([15, 25]);
    store.enqueueAll([]);
    expect(frames).toHaveLength(0);
  });
});
