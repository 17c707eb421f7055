// Component tests in jsdom: fine-grained re-rendering of host rows, the
// offline "last seen" text, the login error, the disabled nav entries and
// the reconnect banner.
import { options, render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import { Session, type KeyValueStorage } from '../src/api/session';
import { App } from '../src/app';
import { DEFAULT_ROW_HEIGHT, HostList, HostRow, HostRowView, OVERSCAN, visibleRange } from '../src/components/HostRow';
import { Layout, OfflineBanner } from '../src/components/Layout';
import { AppContext, type AppServices } from '../src/context';
import type { SocketState } from '../src/live/socket';
import { ActionsStore } from '../src/actions/store';
import { AlertsStore } from '../src/live/alerts';
import { HostsStore } from '../src/live/store';
import { detail } from './fixtures';

function memStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

function services(over: Partial<AppServices> = {}, fetchImpl?: (u: string, i?: RequestInit) => Promise<Response>) {
  const frames: (() => void)[] = [];
  const store = new HostsStore((cb) => frames.push(cb));
  const session = new Session(memStorage());
  const api = new ApiClient(session, fetchImpl ?? (async () => new Response('{}', { status: 404 })));
  let state: SocketState = 'idle';
  const listeners = new Set<(s: SocketState) => void>();
  const s: AppServices = {
    api, session, store, socket: null,
    socketState: () => state,
    subscribeSocketState: (fn) => {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
    reloadHosts: async () => {},
    alerts: new AlertsStore((cb) => frames.push(cb)),
    reloadAlerts: async () => {},
    actions: new ActionsStore((cb) => frames.push(cb)),
    ...over,
  };
  const setSocketState = (next: SocketState) => {
    state = next;
    for (const fn of listeners) fn(next);
  };
  const runFrame = () => act(() => frames.splice(0).forEach((cb) => cb()));
  return { s, store, session, runFrame, setSocketState };
}

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.appendChild(root);
});
afterEach(() => {
  render(null, root);
  root.remove();
  vi.useRealTimers();
});

/** Counts renders of the HostRow function component per host id. */
function countRowRenders() {
  const counts = new Map<string, number>();
  const prev = options.diffed;
  options.diffed = (vnode) => {
    const type = vnode.type as unknown;
    if (type === HostRowView) {
      const id = (vnode.props as unknown as { id: string }).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    prev?.(vnode);
  };
  return { counts, restore: () => (options.diffed = prev) };
}

describe('host list rendering', () => {
  it('renders only the rows in view of a 1,000-host list, and reports the count', () => {
    const { s, store } = services();
    const ids = Array.from({ length: 1000 }, (_, i) => `h${i}`);
    store.setHosts(ids.map((id) => detail(id)));
    act(() => render(<AppContext.Provider value={s}><HostList ids={ids} /></AppContext.Provider>, root));
    const list = root.querySelector<HTMLElement>('[data-testid="host-list"]')!;
    expect(list.getAttribute('data-host-count')).toBe('1000');
    expect(list.style.height).toBe(`${1000 * DEFAULT_ROW_HEIGHT - 1}px`);
    const [, end] = visibleRange(1000, DEFAULT_ROW_HEIGHT, 0, window.innerHeight);
    const rows = root.querySelectorAll('[data-testid^="host-row-"]');
    expect(rows.length).toBe(end);
    expect(rows.length).toBeLessThan(40);
    expect(rows[0]!.getAttribute('data-testid')).toBe('host-row-h0');
  });

  it('a live frame for one of 1,000 hosts re-renders only that row, and only rows in view ever render', () => {
    const { s, store, runFrame } = services();
    const ids = Array.from({ length: 1000 }, (_, i) => `h${i}`);
    store.setHosts(ids.map((id) => detail(id)));
    act(() => render(<AppContext.Provider value={s}><HostList ids={ids} /></AppContext.Provider>, root));
    const inView = root.querySelectorAll('[data-testid^="host-row-"]').length;

    const spy = countRowRenders();
    try {
      store.enqueue({ type: 'metrics', host_id: 'h5', timestamp: '2026-11-24T12:00:05Z', data: { cpu: 42, memory: 61, disk: 12, containers: null, services_count: 3 } });
      store.enqueue({ type: 'metrics', host_id: 'h500', timestamp: '2026-11-24T12:00:05Z', data: { cpu: 43, memory: 61, disk: 12, containers: null, services_count: 3 } });
      runFrame();
      expect([...spy.counts.keys()]).toEqual(['h5']);
      expect(root.querySelector('[data-testid="host-cpu-h5"]')!.textContent).toBe('42%');
      expect(root.querySelector('[data-testid="host-cpu-h4"]')!.textContent).toBe('—');
      expect(store.get('h500')!.live.cpu).toBe(43);

      // a burst for every host is spread over frames of at most 200 hosts; each row in view renders once
      spy.counts.clear();
      for (const id of ids) {
        store.enqueue({ type: 'metrics', host_id: id, timestamp: '2026-11-24T12:00:06Z', data: { cpu: 10, memory: 20, disk: 30, containers: null, services_count: null } });
      }
      const perFrame: number[] = [];
      const times: number[] = [];
      for (let f = 0; f < 5; f++) {
        const before = [...spy.counts.values()].reduce((a, b) => a + b, 0);
        const t0 = performance.now();
        runFrame();
        times.push(performance.now() - t0);
        perFrame.push([...spy.counts.values()].reduce((a, b) => a + b, 0) - before);
      }
      expect(store.flushes).toBe(1 + 5);
      expect(perFrame.reduce((a, b) => a + b, 0)).toBe(inView);
      expect([...spy.counts.values()].every((n) => n === 1)).toBe(true);
      expect(ids.every((id) => store.get(id)!.live.cpu === 10)).toBe(true);
      console.info(`1000-host burst: frames of 200 hosts took ${times.map((t) => t.toFixed(1)).join(', ')} ms (jsdom, ${inView} rows in view)`);
    } finally {
      spy.restore();
    }
  });

  it('scrolling brings the rows in view into the DOM with their current values', () => {
    const { s, store, runFrame } = services();
    const ids = Array.from({ length: 1000 }, (_, i) => `h${i}`);
    store.setHosts(ids.map((id) => detail(id)));
    act(() => render(<AppContext.Provider value={s}><HostList ids={ids} /></AppContext.Provider>, root));
    store.enqueue({ type: 'metrics', host_id: 'h600', timestamp: '2026-11-24T12:00:05Z', data: { cpu: 77, memory: 61, disk: 12, containers: null, services_count: 3 } });
    runFrame();
    expect(root.querySelector('[data-testid="host-row-h600"]')).toBeNull();

    const list = root.querySelector<HTMLElement>('[data-testid="host-list"]')!;
    list.getBoundingClientRect = () => ({ top: -600 * DEFAULT_ROW_HEIGHT, bottom: 0, left: 0, right: 0, width: 0, height: 0, x: 0, y: 0, toJSON: () => ({}) });
    act(() => void window.dispatchEvent(new Event('scroll')));
    expect(root.querySelector('[data-testid="host-row-h0"]')).toBeNull();
    expect(root.querySelector('[data-testid="host-cpu-h600"]')!.textContent).toBe('77%');
    const first = root.querySelector('[data-testid^="host-row-"]')!.getAttribute('data-testid');
    expect(first).toBe(`host-row-h${600 - OVERSCAN}`);
    const shift = root.querySelector<HTMLElement>('.host-window')!.style.transform;
    expect(shift).toBe(`translateY(${(600 - OVERSCAN) * DEFAULT_ROW_HEIGHT}px)`);
  });

  it('takes the row height from --host-row-h, again when the window is resized', () => {
    const { s, store } = services();
    const ids = Array.from({ length: 100 }, (_, i) => `h${i}`);
    store.setHosts(ids.map((id) => detail(id)));
    const style = document.createElement('style');
    style.textContent = '.host-list { --host-row-h: 96px; }';
    document.head.appendChild(style);
    try {
      act(() => render(<AppContext.Provider value={s}><HostList ids={ids} /></AppContext.Provider>, root));
      const list = root.querySelector<HTMLElement>('[data-testid="host-list"]')!;
      expect(list.style.height).toBe(`${100 * 96 - 1}px`);
      style.textContent = '.host-list { --host-row-h: 140px; }';
      act(() => void window.dispatchEvent(new Event('resize')));
      expect(list.style.height).toBe(`${100 * 140 - 1}px`);
    } finally {
      style.remove();
    }
  });

  it('visibleRange clamps to the list and adds the overscan', () => {
    expect(visibleRange(0, 64, 0, 800)).toEqual([0, 0]);
    expect(visibleRange(1000, 64, 0, 640, 2)).toEqual([0, 12]);
    expect(visibleRange(1000, 64, -640, 640, 2)).toEqual([8, 22]);
    expect(visibleRange(1000, 64, 500, 640, 2)).toEqual([0, 5]);
    expect(visibleRange(1000, 64, 2000, 640, 2)).toEqual([0, 0]);
    expect(visibleRange(10, 64, -10_000, 640, 2)).toEqual([10, 10]);
    expect(visibleRange(30, 64, -1280, 640, 2)).toEqual([18, 30]);
  });

  it('an offline host shows "last seen 5 minutes ago" and its status', () => {
    const { s, store, runFrame } = services();
    const fiveMinAgo = new Date(Date.now() - 5 * 60_000 - 5_000).toISOString();
    store.setHosts([detail('dev1', { last_seen: fiveMinAgo })]);
    act(() => render(<AppContext.Provider value={s}><HostRow id="dev1" /></AppContext.Provider>, root));
    expect(root.querySelector('[data-testid="host-status-dev1"]')!.textContent).toBe('online');
    store.enqueue({ type: 'host_status', host_id: 'dev1', status: 'offline', timestamp: new Date().toISOString() });
    runFrame();
    expect(root.querySelector('[data-testid="host-status-dev1"]')!.textContent).toBe('offline');
    expect(root.querySelector('[data-testid="host-lastseen-dev1"]')!.textContent).toBe('last seen 5 minutes ago');
  });
});

describe('shell', () => {
  it('renders every nav entry as a link, Actions included (no "coming soon" marker)', () => {
    const { s, session } = services();
    session.setFromPair({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900, user: { id: 'u', email: 'a@b.c', tenant_id: 't', role: 'admin' } });
    act(() => render(<AppContext.Provider value={s}><Layout route={{ name: 'action', id: 'x' }}><p /></Layout></AppContext.Provider>, root));
    const actions = root.querySelector('[data-testid="nav-actions"]')!;
    expect(actions.tagName).toBe('A');
    expect(actions.getAttribute('href')).toBe('/actions');
    expect(actions.getAttribute('aria-current')).toBe('page');
    expect(actions.getAttribute('aria-disabled')).toBeNull();
    expect(root.querySelector('.soon')).toBeNull();
    const alerts = root.querySelector('[data-testid="nav-alerts"]')!;
    expect(alerts.tagName).toBe('A');
    expect(alerts.getAttribute('href')).toBe('/alerts');
    expect(alerts.querySelector('.soon')).toBeNull();
    expect(root.querySelector('[data-testid="nav-hosts"]')!.tagName).toBe('A');
  });

  it('shows the offline banner while the socket is reconnecting', () => {
    const { s, setSocketState } = services();
    act(() => render(<AppContext.Provider value={s}><OfflineBanner /></AppContext.Provider>, root));
    expect(root.querySelector('[data-testid="offline-banner"]')).toBeNull();
    act(() => setSocketState('reconnecting'));
    expect(root.querySelector('[data-testid="offline-banner"]')).not.toBeNull();
    act(() => setSocketState('open'));
    expect(root.querySelector('[data-testid="offline-banner"]')).toBeNull();
  });

  it('login with a wrong password shows the server error message', async () => {
    history.replaceState(null, '', '/login');
    const fetchImpl = async () =>
      new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'wrong email or password' } }), { status: 401 });
    const { s } = services({}, fetchImpl);
    act(() => render(<App services={s} />, root));
    const email = root.querySelector<HTMLInputElement>('[data-testid="login-email"]')!;
    const password = root.querySelector<HTMLInputElement>('[data-testid="login-password"]')!;
    act(() => {
      email.value = 'admin@example.com';
      email.dispatchEvent(new Event('input', { bubbles: true }));
      password.value = 'bad';
      password.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await act(async () => {
      root.querySelector<HTMLFormElement>('[data-testid="login-form"]')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
      await new Promise((r) => setTimeout(r, 0));
    });
    expect(root.querySelector('[data-testid="login-error"]')!.textContent).toBe('wrong email or password');
  });
});
