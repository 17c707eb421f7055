import { describe, expect, it, vi } from 'vitest';
import { backoffDelay, LiveSocket, socketUrl } from '../src/live/socket';
import { FakeSocket } from './fakeSocket';


function harness() {
  FakeSocket.all = [];
  const timers: { cb: () => void; ms: number }[] = [];
  const states: string[] = [];
  const onReconnect = vi.fn();
  const onMessage = vi.fn();
  const socket = new LiveSocket({
    url: async () => 'ws://x/ws?token=t',
    onMessage,
    onState: (s) => states.push(s),
    onReconnect,
    createSocket: (u) => new FakeSocket(u),
    setTimer: (cb, ms) => {
      timers.push({ cb, ms });
      return timers.length;
    },
    clearTimer: () => {},
  });
  const tick = () => new Promise((r) => setTimeout(r, 0));
  const fire = async () => {
    const t = timers.shift()!;
    t.cb();
    await tick();
    return t.ms;
  };
  return { socket, timers, states, onReconnect, onMessage, tick, fire, last: () => FakeSocket.all[FakeSocket.all.length - 1]! };
}

describe('backoffDelay', () => {
  it('doubles from 1 s and caps at 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(backoffDelay)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});

describe('socketUrl', () => {
  it('follows the page protocol and escapes the token', () => {
    expect(socketUrl({ protocol: 'https:', host: 'vigil.example.com' }, 'a.b+c')).toBe('wss://vigil.example.com/ws?token=a.b%2Bc');
    expect(socketUrl({ protocol: 'http:', host: 'localhost:8080' }, 't')).toBe('ws://localhost:8080/ws?token=t');
  });
});

describe('LiveSocket', () => {
  it('retries with the backoff schedule while the server is down, then resets after an open', async () => {
    const h = harness();
    h.socket.start();
    await h.tick();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      h.last().drop();
      delays.push(await h.fire());
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(h.socket.state).toBe('reconnecting');
    h.last().open();
    expect(h.socket.state).toBe('open');
    h.last().drop();
    expect(h.timers[0]!.ms).toBe(1000);
  });

  it('subscribes on open and re-subscribes and refetches after a reconnect', async () => {
    const h = harness();
    h.socket.subscribe();
    h.socket.start();
    await h.tick();
    h.last().open();
    expect(h.last().sent).toEqual(['{"type":"subscribe"}']);
    expect(h.onReconnect).not.toHaveBeenCalled();
    h.last().drop();
    expect(h.states).toContain('reconnecting');
    await h.fire();
    const second = h.last();
    expect(FakeSocket.all).toHaveLength(2);
    second.open();
    expect(second.sent).toEqual(['{"type":"subscribe"}']);
    expect(h.onReconnect).toHaveBeenCalledTimes(1);
  });

  it('re-sends a host-list subscription minus unsubscribed hosts', async () => {
    const h = harness();
    h.socket.start();
    await h.tick();
    h.last().open();
    h.socket.subscribe(['h1', 'h2']);
    h.socket.unsubscribe(['h1']);
    expect(h.last().sent).toEqual(['{"type":"subscribe","hosts":["h1","h2"]}', '{"type":"unsubscribe","hosts":["h1"]}']);
    h.last().drop();
    await h.fire();
    h.last().open();
    expect(h.last().sent).toEqual(['{"type":"subscribe","hosts":["h2"]}']);
  });

  it('passes parsed frames on and drops unknown ones', async () => {
    const h = harness();
    h.socket.start();
    await h.tick();
    h.last().open();
    h.last().onmessage?.({ data: '{"type":"host_status","host_id":"h1","status":"offline","timestamp":"t"}' });
    h.last().onmessage?.({ data: '{"type":"nope"}' });
    expect(h.onMessage).toHaveBeenCalledTimes(1);
    expect(h.onMessage.mock.calls[0]![0]).toMatchObject({ type: 'host_status', status: 'offline' });
  });

  it('hands raw text to onText instead of parsing it when onText is set', async () => {
    FakeSocket.all = [];
    const texts: string[] = [];
    const onMessage = vi.fn();
    const socket = new LiveSocket({
      url: async () => 'ws://x/ws?token=t',
      onMessage,
      onText: (t) => texts.push(t),
      createSocket: (u) => new FakeSocket(u),
      setTimer: () => 0,
      clearTimer: () => {},
    });
    socket.start();
    await new Promise((r) => setTimeout(r, 0));
    const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
    ws.open();
    ws.onmessage?.({ data: '{"type":"metrics","host_id":"h1"}' });
    ws.onmessage?.({ data: new ArrayBuffer(2) });
    expect(texts).toEqual(['{"type":"metrics","host_id":"h1"}']);
    expect(onMessage).not.toHaveBeenCalled();
  });

  it('stop() closes without reconnecting', async () => {
    const h = harness();
    h.socket.start();
    await h.tick();
    h.last().open();
    h.socket.stop();
    expect(h.socket.state).toBe('idle');
    expect(h.timers).toHaveLength(0);
  });

  it('waits without connecting while there is no token', async () => {
    FakeSocket.all = [];
    const timers: number[] = [];
    const socket = new LiveSocket({
      url: async () => null,
      onMessage: () => {},
      createSocket: (u) => new FakeSocket(u),
      setTimer: (_cb, ms) => timers.push(ms),
    });
    socket.start();
    await new Promise((r) => setTimeout(r, 0));
    expect(FakeSocket.all).toHaveLength(0);
    expect(timers).toEqual([1000]);
    socket.stop();
  });
});
