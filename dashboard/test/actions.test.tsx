// Remote actions: the store merging REST answers and live `action` frames,
// the frame path (parse, worker batch, hosts store), and the screens in
// jsdom against a scripted gateway: host page buttons and dialogs (the
// exact bodies posted, refused buttons with their reason, live status),
// viewers without controls, the Actions page (live log, filters, paging)
// and an action's detail.
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ActionsStore } from '../src/actions/store';
import { ApiClient } from '../src/api/client';
import { normalizeHostRecord, parseServerMessage } from '../src/api/normalize';
import { Session, type KeyValueStorage } from '../src/api/session';
import type { ActionFrame, ActionPolicy, ActionRecord, ActionStatus } from '../src/api/types';
import { App } from '../src/app';
import type { AppServices } from '../src/context';
import { AlertsStore } from '../src/live/alerts';
import { FrameBatch } from '../src/live/frames';
import { HostsStore } from '../src/live/store';
import { matchRoute } from '../src/router';
import { detail } from './fixtures';

function record(id: string, over: Partial<ActionRecord> = {}): ActionRecord {
  return {
    id, tenant_id: 't1', host_id: 'in3', type: 'restart_service', params: { service: 'nginx' }, status: 'pending',
    user_id: 'u', requested_by: 'ops@example.com', command: null, rule: null, exit_code: null, output: null,
    truncated: false, error: null, timeout_seconds: 60, created_at: '2026-12-06T12:00:00.000Z',
    expires_at: '2026-12-06T12:05:00.000Z', dispatched_at: null, started_at: null, completed_at: null, duration_ms: null,
    ...over,
  };
}

/** The WebSocket frame of an action's status change, as the gateway sends it. */
function frame(a: ActionRecord, timestamp = a.completed_at ?? a.started_at ?? a.created_at): ActionFrame {
  return { type: 'action', id: a.id, status: a.status, host_id: a.host_id, timestamp, action: a };
}

const running = (a: ActionRecord, over: Partial<ActionRecord> = {}) =>
  ({ ...a, status: 'running' as ActionStatus, command: 'systemctl restart nginx.service', rule: 'systemctl restart *', dispatched_at: '2026-12-06T12:00:00.100Z', started_at: '2026-12-06T12:00:00.200Z', ...over });
const succeeded = (a: ActionRecord, over: Partial<ActionRecord> = {}) =>
  ({ ...running(a), status: 'success' as ActionStatus, exit_code: 0, output: 'ok\n', completed_at: '2026-12-06T12:00:01.400Z', duration_ms: 1200, ...over });

describe('ActionsStore', () => {
  const make = () => {
    const frames: (() => void)[] = [];
    const store = new ActionsStore((cb) => frames.push(cb));
    const heard = vi.fn();
    store.subscribe(heard);
    return { store, heard, flush: () => frames.splice(0).forEach((cb) => cb()) };
  };

  it('adds a row for a frame of an unknown id, and a later status replaces the earlier', () => {
    const { store, heard, flush } = make();
    const a = record('a1');
    store.applyFrame(frame(a));
    expect(store.list().map((x) => x.id)).toEqual(['a1']);
    store.applyFrame(frame(running(a)));
    store.applyFrame(frame(succeeded(a)));
    flush();
    expect(heard).toHaveBeenCalledTimes(1);
    expect(store.get('a1')).toMatchObject({ status: 'success', exit_code: 0, output: 'ok\n', duration_ms: 1200 });
  });

  it('never regresses: an older frame arriving late does not undo a final status', () => {
    const { store } = make();
    const a = record('a1');
    store.applyFrame(frame(succeeded(a)));
    store.applyFrame(frame(running(a)));
    store.applyFrame(frame(a));
    expect(store.get('a1')!.status).toBe('success');
    store.upsert(record('a1', { status: 'pending' })); // a late REST answer too
    expect(store.get('a1')!.status).toBe('success');
    // within a stage the later record wins: dispatched, then started
    const b = record('b1');
    store.upsert(b);
    store.upsert({ ...b, dispatched_at: '2026-12-06T12:00:00.100Z' });
    expect(store.get('b1')!.dispatched_at).toBe('2026-12-06T12:00:00.100Z');
    store.upsert(b);
    expect(store.get('b1')!.dispatched_at).toBe('2026-12-06T12:00:00.100Z');
    // an expired action whose result came later records it
    store.applyFrame(frame(record('c1', { status: 'expired', completed_at: '2026-12-06T12:05:00.000Z' })));
    store.applyFrame(frame(record('c1', { status: 'failed', exit_code: 1, completed_at: '2026-12-06T12:05:02.000Z' })));
    expect(store.get('c1')!.status).toBe('failed');
    store.applyFrame(frame(record('c1', { status: 'expired', completed_at: '2026-12-06T12:05:00.000Z' })));
    expect(store.get('c1')!.status).toBe('failed');
  });

  it('keeps the output a list answer lacks, and orders newest first', () => {
    const { store } = make();
    const a = succeeded(record('a1'));
    store.applyFrame(frame(a));
    store.upsert({ ...a, output: null });
    expect(store.get('a1')!.output).toBe('ok\n');
    store.upsert(record('a0', { created_at: '2026-12-06T11:00:00.000Z' }), record('a2', { created_at: '2026-12-06T13:00:00.000Z' }));
    expect(store.list().map((x) => x.id)).toEqual(['a2', 'a1', 'a0']);
  });

  it('moves the status of a frame without a record, and resyncs and clears', () => {
    const { store, heard, flush } = make();
    store.applyFrame({ type: 'action', id: 'x', status: 'running', host_id: 'in4', timestamp: '2026-12-06T12:00:00Z', action: null });
    expect(store.get('x')).toMatchObject({ status: 'running', host_id: 'in4' });
    store.applyFrame({ type: 'action', id: 'x', status: 'pending', host_id: 'in4', timestamp: '2026-12-06T12:00:01Z', action: null });
    expect(store.get('x')!.status).toBe('running');
    store.applyFrame({ type: 'action', id: 'x', status: 'denied', host_id: 'in4', timestamp: '2026-12-06T12:00:02Z', action: null });
    expect(store.get('x')!.status).toBe('denied');
    store.resync();
    expect(store.epoch).toBe(1);
    store.clear();
    flush();
    expect(store.list()).toEqual([]);
    expect(heard).toHaveBeenCalledTimes(1);
  });
});

describe('action frames on the wire', () => {
  it('parses an action frame and passes every one through the worker batch and the hosts store, in order', () => {
    const a = succeeded(record('a1'));
    const text = JSON.stringify({ type: 'action', id: 'a1', status: 'success', host_id: 'in3', timestamp: a.completed_at, action: a });
    const parsed = parseServerMessage(text)!;
    expect(parsed).toEqual({ type: 'action', id: 'a1', status: 'success', host_id: 'in3', timestamp: a.completed_at, action: a });
    expect(parseServerMessage(JSON.stringify({ type: 'action', id: 'a1', status: 'bogus', host_id: 'in3' }))).toBeNull();

    const batch = new FrameBatch();
    batch.add(frame(record('a1')));
    batch.add({ type: 'metrics', host_id: 'in3', timestamp: '2026-12-06T12:00:00Z', data: { cpu: 1, memory: null, disk: null, containers: null, services_count: null } });
    batch.add(frame(running(record('a1'))));
    const out = batch.take();
    expect(out.map((f) => (f.type === 'action' ? f.status : f.type))).toEqual(['pending', 'running', 'metrics']);

    const hosts = new HostsStore(() => {});
    const actions = new ActionsStore(() => {});
    hosts.subscribeEvents((m) => m.type === 'action' && actions.applyFrame(m));
    hosts.enqueueAll(out);
    hosts.enqueueText(text);
    hosts.flush();
    expect(actions.get('a1')!.status).toBe('success');
  });

  it('reads a host\'s action policy (absent: null)', () => {
    const policy = { enabled: true, allowed: ['x'], denied: [], service_manager: 'openrc', engines: ['podman'] };
    expect(normalizeHostRecord({ id: 'h', actions: policy }).actions).toEqual(policy);
    expect(normalizeHostRecord({ id: 'h' }).actions).toBeNull();
    expect(normalizeHostRecord({ id: 'h', actions: { enabled: true, service_manager: 'upstart' } }).actions)
      .toEqual({ enabled: true, allowed: [], denied: [], service_manager: 'none', engines: [] });
  });

  it('routes /actions/<id>', () => {
    expect(matchRoute('/actions')).toEqual({ name: 'actions' });
    expect(matchRoute('/actions/act%2F1')).toEqual({ name: 'action', id: 'act/1' });
  });
});

// ---- screens ----

function memStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

interface Call { method: string; url: string; body: unknown }
type Handler = (method: string, url: string, body: unknown) => Response | undefined;
const json = (status: number, body: unknown) => new Response(status === 204 ? null : JSON.stringify(body), { status });

function setup(handler: Handler, role = 'operator') {
  const session = new Session(memStorage());
  session.setFromPair({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900, user: { id: 'u', email: 'ops@example.com', tenant_id: 't1', role } });
  const calls: Call[] = [];
  const api = new ApiClient(session, async (url, init) => {
    const body = init?.body ? JSON.parse(init.body as string) : undefined;
    const method = init?.method ?? 'GET';
    calls.push({ method, url, body });
    return handler(method, url, body) ?? json(404, { error: { code: 'not_found', message: `no api route ${url}` } });
  });
  const frames: (() => void)[] = [];
  const store = new HostsStore((cb) => frames.push(cb));
  const alerts = new AlertsStore((cb) => frames.push(cb));
  const actions = new ActionsStore((cb) => frames.push(cb));
  store.subscribeEvents((m) => (m.type === 'alert' ? alerts.applyFrame(m) : actions.applyFrame(m)));
  const s: AppServices = {
    api, session, store, socket: null, socketState: () => 'open', subscribeSocketState: () => () => {}, reloadHosts: async () => {},
    alerts, reloadAlerts: async () => {}, actions,
  };
  const runFrame = () => act(() => {
    for (let i = 0; i < 3 && frames.length; i += 1) frames.splice(0).forEach((cb) => cb());
  });
  return { s, store, actions, calls, runFrame };
}

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.appendChild(root);
});
afterEach(() => {
  render(null, root);
  root.remove();
  vi.restoreAllMocks();
});

const q = <T extends Element = HTMLElement>(testid: string) => root.querySelector<T>(`[data-testid="${testid}"]`);
const text = (testid: string) => q(testid)?.textContent ?? null;
const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });
/** Waits (up to 5 s) for `testid` to render: chunks load and answers arrive. */
async function waitFor(testid: string) {
  for (let waited = 0; !q(testid) && waited < 5000; waited += 10) {
    await act(async () => { await new Promise((r) => setTimeout(r, 10)); });
  }
  expect(q(testid), `${testid} rendered`).not.toBeNull();
}
async function click(testid: string) {
  await act(async () => {
    q<HTMLButtonElement>(testid)!.click();
    await new Promise((r) => setTimeout(r, 0));
  });
  await flush();
  await flush();
}
function fill(testid: string, value: string) {
  const el = q<HTMLInputElement | HTMLSelectElement>(testid)!;
  act(() => {
    el.value = value;
    el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', { bubbles: true }));
  });
}

const POLICY: ActionPolicy = {
  enabled: true,
  allowed: ['systemctl restart *', 'systemctl status *', 'systemctl start *', 'docker restart *', 'docker stop *', 'podman start *', 'exec df *'],
  denied: ['systemctl restart sshd.service'],
  service_manager: 'systemd',
  engines: ['docker', 'podman'],
};

const container = (name: string, runtime: string, status: string) => ({
  name, runtime, status, image: `${name}:latest`, cpu_percent: 1, memory_used: 1, memory_limit: 0, memory_percent: 1, disk_used: 0,
  network_rx: 0, network_tx: 0, processes: 1,
});
const service = (name: string, status: string) => ({ name, status, pid: 1, memory: 1, cpu_percent: 0, ports: [], uptime: 60 });

/** A scripted gateway for host in3: its policy, containers, services and the actions routes. */
function hostApi(policy: ActionPolicy | null = POLICY, answer?: (method: string, url: string, body: unknown) => Response | undefined) {
  let n = 0;
  const handler: Handler = (method, url, body) => {
    const custom = answer?.(method, url, body);
    if (custom) return custom;
    const path = url.split('?')[0]!;
    if (path === '/api/hosts/in3') return json(200, { ...detail('in3', { name: 'IN3' }).host, ...(policy ? { actions: policy } : {}), latest: null });
    if (path.startsWith('/api/hosts/in3/metrics')) return json(200, { host_id: 'in3', from: 'a', to: 'b', points: [] });
    if (path === '/api/hosts/in3/containers') return json(200, [container('web', 'docker', 'running'), container('db', 'podman', 'exited')]);
    if (path === '/api/hosts/in3/services') return json(200, [service('nginx', 'active'), service('sshd', 'active'), service('cron', 'inactive')]);
    if (method === 'GET' && path === '/api/actions') return json(200, []);
    if (method === 'POST' && (path === '/api/hosts/in3/action' || path.startsWith('/api/containers/'))) {
      n += 1;
      const b = body as { type?: string; params?: Record<string, string>; action?: string };
      const type = b.type ?? `${b.action}_container`;
      const params = b.params ?? { container: decodeURIComponent(path.split('/')[3]!).split(':')[1]! };
      return json(202, record(`act-${n}`, { type, params, created_at: new Date().toISOString() }));
    }
    return undefined;
  };
  return handler;
}

async function openHost(handler: Handler, role = 'operator') {
  history.replaceState(null, '', '/hosts/in3');
  const env = setup(handler, role);
  act(() => render(<App services={env.s} />, root));
  await waitFor('services-table');
  if (role !== 'viewer') await waitFor('host-actions-menu');
  else for (let i = 0; i < 10; i += 1) await flush();
  return env;
}

describe('host page actions', () => {
  it('offers restart and start/stop as the status fits, and status for services', async () => {
    await openHost(hostApi());
    const buttons = (row: string) => [...q(row)!.querySelectorAll('button')].map((b) => b.getAttribute('data-testid'));
    expect(buttons('container-row-web')).toEqual(['action-button-restart-web', 'action-button-stop-web']);
    expect(buttons('container-row-db')).toEqual(['action-button-restart-db', 'action-button-start-db']);
    expect(buttons('service-row-nginx')).toEqual(['action-button-restart-nginx', 'action-button-stop-nginx', 'action-button-status-nginx']);
    expect(buttons('service-row-cron')).toEqual(['action-button-restart-cron', 'action-button-start-cron', 'action-button-status-cron']);
    expect(q('action-button-restart-nginx')!.getAttribute('title')).toBe('systemctl restart nginx.service');
    expect(q('action-button-restart-nginx')!.getAttribute('aria-disabled')).toBeNull();
  });

  it('shows a button the agent would refuse disabled, with the reason, and its dialog cannot send', async () => {
    const { calls } = await openHost(hostApi());
    const sshd = q('action-button-restart-sshd')!;
    expect(sshd.getAttribute('aria-disabled')).toBe('true');
    expect(sshd.getAttribute('title')).toBe('The agent would refuse: denied by the actions.denied entry "systemctl restart sshd.service"');
    const stop = q('action-button-stop-nginx')!;
    expect(stop.getAttribute('aria-disabled')).toBe('true');
    expect(stop.getAttribute('title')).toBe('The agent would refuse: no actions.allowed entry matches "systemctl stop nginx.service"');
    expect(q('action-button-restart-db')!.getAttribute('title')).toBe('The agent would refuse: no actions.allowed entry matches "podman restart db"');

    await click('action-button-restart-sshd');
    expect(q('action-verdict')!.getAttribute('data-allowed')).toBe('false');
    expect(text('action-verdict')).toContain('denied by the actions.denied entry "systemctl restart sshd.service"');
    expect(q<HTMLButtonElement>('action-confirm')!.disabled).toBe(true);
    await click('action-confirm');
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
    await click('action-cancel');
    expect(q('action-dialog')).toBeNull();
  });

  it('confirms a service restart naming host, target and command, posts the contract body and follows the live status', async () => {
    const { calls, store, runFrame } = await openHost(hostApi());
    await click('action-button-restart-nginx');
    expect(text('action-host')).toBe('IN3');
    expect(text('action-target')).toBe('nginx');
    expect(text('action-command')).toBe('systemctl restart nginx.service');
    expect(q('action-verdict')!.getAttribute('data-allowed')).toBe('true');
    expect(text('action-verdict')).toContain('systemctl restart *');
    await click('action-confirm');
    const post = calls.filter((c) => c.method === 'POST');
    expect(post).toEqual([{ method: 'POST', url: '/api/hosts/in3/action', body: { type: 'restart_service', params: { service: 'nginx' } } }]);
    expect(q('action-status')!.getAttribute('data-status')).toBe('pending');
    expect(q('action-detail-link')!.getAttribute('href')).toBe('/actions/act-1');

    const a = record('act-1', { created_at: new Date().toISOString() });
    store.enqueueAll([frame(running(a, { started_at: new Date().toISOString() }))]);
    runFrame();
    expect(q('action-status')!.getAttribute('data-status')).toBe('running');
    store.enqueueAll([frame(succeeded(a, { completed_at: new Date().toISOString(), output: 'restarted\n' }))]);
    runFrame();
    expect(q('action-status')!.getAttribute('data-status')).toBe('success');
    expect(text('action-live-output')).toBe('restarted\n');
    // the host's recent actions follow too
    expect(q('host-action-row-act-1')!.getAttribute('data-status')).toBe('success');
    await click('action-close');
    expect(q('action-dialog')).toBeNull();
  });

  it('posts a container row action to the container route', async () => {
    const { calls } = await openHost(hostApi());
    await click('action-button-stop-web');
    expect(text('action-command')).toBe('docker stop web');
    await click('action-confirm');
    expect(calls.filter((c) => c.method === 'POST')).toEqual([{ method: 'POST', url: '/api/containers/in3%3Aweb/action', body: { action: 'stop' } }]);
    expect(q('action-status')!.getAttribute('data-status')).toBe('pending');
  });

  it('runs a command from the Actions menu with the verdict live as one types', async () => {
    const { calls } = await openHost(hostApi());
    await click('host-actions-menu');
    expect([...root.querySelectorAll('[data-testid^="host-actions-item-"]')].map((b) => b.getAttribute('data-testid')!.slice(18))).toEqual([
      'restart_service', 'start_service', 'stop_service', 'status_service', 'restart_container', 'start_container', 'stop_container', 'exec',
    ]);
    await click('host-actions-item-exec');
    expect(q<HTMLButtonElement>('action-confirm')!.disabled).toBe(true);
    fill('action-input', 'df -h; reboot');
    expect(text('action-command')).toBe('exec df -h; reboot');
    expect(text('action-verdict')).toContain('no actions.allowed entry `exec <program> ...` allows "exec df -h; reboot"');
    expect(q<HTMLButtonElement>('action-confirm')!.disabled).toBe(true);
    expect(q('action-confirm')!.getAttribute('title')).toBe('no actions.allowed entry `exec <program> ...` allows "exec df -h; reboot" (exec is refused by default)');
    fill('action-input', 'df -h');
    expect(q('action-verdict')!.getAttribute('data-allowed')).toBe('true');
    await click('action-confirm');
    expect(calls.filter((c) => c.method === 'POST')).toEqual([{ method: 'POST', url: '/api/hosts/in3/action', body: { type: 'exec', params: { command: 'df -h' } } }]);
  });

  it('names a container\'s engine from its runtime, or the one chosen, and shows a 422', async () => {
    const { calls } = await openHost(hostApi(POLICY, (method) =>
      method === 'POST' ? json(422, { error: { code: 'unprocessable', message: 'params.container "db" is not known' } }) : undefined));
    await click('host-actions-menu');
    await click('host-actions-item-start_container');
    fill('action-input', 'db');
    expect(q<HTMLSelectElement>('action-engine')!.value).toBe('podman');
    expect(text('action-command')).toBe('podman start db');
    fill('action-engine', 'docker');
    expect(text('action-command')).toBe('docker start db');
    expect(q<HTMLButtonElement>('action-confirm')!.disabled).toBe(true);
    fill('action-engine', 'podman');
    await click('action-confirm');
    expect(calls.filter((c) => c.method === 'POST')).toEqual([
      { method: 'POST', url: '/api/hosts/in3/action', body: { type: 'start_container', params: { container: 'db', engine: 'podman' } } },
    ]);
    expect(text('action-error')).toBe('params.container "db" is not known');
    expect(q('action-status')).toBeNull();
  });

  it('says so when the host\'s agent predates remote actions', async () => {
    await openHost(hostApi(null));
    expect(q('action-button-restart-nginx')!.getAttribute('aria-disabled')).toBe('true');
    expect(q('action-button-restart-nginx')!.getAttribute('title')).toMatch(/older than remote actions/);
  });

  it('gives viewers no action controls', async () => {
    await openHost(hostApi(), 'viewer');
    expect(q('service-row-nginx')).not.toBeNull();
    expect(root.querySelector('[data-testid^="action-button-"]')).toBeNull();
    expect(q('host-actions-menu')).toBeNull();
  });
});

describe('Actions page', () => {
  const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
  const page1 = Array.from({ length: 50 }, (_, i) => record(`p${String(i).padStart(2, '0')}`, {
    created_at: ago(60 + i), status: 'success', duration_ms: 1500, host_id: i % 2 ? 'in4' : 'in3',
  }));
  const page2 = [record('old1', { created_at: ago(10_000), status: 'failed', type: 'exec', params: { command: 'false' } })];

  function logApi(seen: string[]) {
    return (method: string, url: string): Response | undefined => {
      if (method !== 'GET') return undefined;
      if (url.startsWith('/api/actions?')) {
        seen.push(url);
        const qs = new URLSearchParams(url.split('?')[1]);
        if (qs.get('before') === 'p49') return json(200, page2);
        if (qs.get('status') === 'failed') return json(200, page2);
        return json(200, page1);
      }
      const m = /^\/api\/actions\/(.+)$/.exec(url);
      if (m) {
        const id = decodeURIComponent(m[1]!);
        if (id === 'live1') return json(200, record('live1', { status: 'running', created_at: ago(1), command: 'df -h', type: 'exec', params: { command: 'df -h' } }));
        const a = [...page1, ...page2].find((x) => x.id === id);
        return a ? json(200, { ...a, command: 'systemctl restart nginx.service', rule: 'systemctl restart *', exit_code: 0, output: 'x'.repeat(10) + '\n', truncated: true }) : undefined;
      }
      return undefined;
    };
  }

  it('lists actions newest first, live, filtered and paged; a row opens its detail', async () => {
    vi.spyOn(window, 'scrollTo').mockImplementation(() => {});
    history.replaceState(null, '', '/actions');
    const seen: string[] = [];
    const { s, store, runFrame } = setup(logApi(seen), 'viewer');
    store.setHosts([detail('in3', { name: 'IN3' }), detail('in4', { name: 'IN4' })]);
    act(() => render(<App services={s} />, root));
    await waitFor('actions-table');
    expect(seen).toEqual(['/api/actions?limit=50']);
    expect(q('actions-table')!.getAttribute('data-count')).toBe('50');
    const first = q('action-row-p00')!;
    expect(first.textContent).toContain('IN3');
    expect(first.textContent).toContain('restart service');
    expect(first.textContent).toContain('nginx');
    expect(first.textContent).toContain('ops@example.com');
    expect(first.textContent).toContain('success');
    expect(first.textContent).toContain('1.5 s');

    // a new action arrives live on top; a row's status moves
    store.enqueueAll([frame(record('live1', { created_at: ago(1), host_id: 'in4' }))]);
    runFrame();
    const ids = () => [...root.querySelectorAll('[data-testid^="action-row-"]')].map((r) => r.getAttribute('data-testid')!.slice(11));
    expect(ids()[0]).toBe('live1');
    expect(q('action-row-live1')!.getAttribute('data-status')).toBe('pending');
    store.enqueueAll([frame(record('live1', { created_at: ago(1), host_id: 'in4', status: 'running', started_at: ago(0) }))]);
    runFrame();
    expect(q('action-row-live1')!.getAttribute('data-status')).toBe('running');

    // older page, then filters (in the query string)
    await click('actions-older');
    expect(seen[1]).toBe('/api/actions?before=p49&limit=50');
    expect(ids().at(-1)).toBe('old1');
    expect(q('actions-older')).toBeNull();
    fill('actions-filter-status', 'failed');
    await flush();
    await flush();
    expect(seen[2]).toBe('/api/actions?status=failed&limit=50');
    expect(location.search).toBe('?status=failed');
    expect(ids()).toEqual(['old1']);

    // the row opens its detail, with the output (live while it runs)
    await act(async () => {
      (q('action-row-old1')!.querySelector('td:nth-child(3)') as HTMLElement).click();
      await new Promise((r) => setTimeout(r, 0));
    });
    await waitFor('action-output');
    expect(location.pathname).toBe('/actions/old1');
    expect(text('action-command')).toBe('systemctl restart nginx.service');
    expect(text('action-rule')).toBe('systemctl restart *');
    expect(text('action-exit-code')).toBe('0');
    expect(text('action-output')).toBe('xxxxxxxxxx\n');
    expect(text('action-truncated')).toContain('truncated at 64 KiB');
    expect(q('action-status')!.getAttribute('data-status')).toBe('failed');
  });

  it('shows a running action\'s detail and its output once a frame brings it', async () => {
    history.replaceState(null, '', '/actions/live1');
    const seen: string[] = [];
    const { s, store, runFrame } = setup(logApi(seen), 'viewer');
    act(() => render(<App services={s} />, root));
    await waitFor('action-detail');
    expect(q('action-status')!.getAttribute('data-status')).toBe('running');
    expect(q('action-waiting')).not.toBeNull();
    const done = record('live1', {
      status: 'failed', created_at: ago(1), type: 'exec', params: { command: 'df -h' }, command: 'exec df -h', rule: 'exec df *',
      exit_code: 2, output: 'df: /x: No such file\n', error: 'exited with 2', completed_at: ago(0), duration_ms: 30,
    });
    store.enqueueAll([frame(done)]);
    runFrame();
    expect(q('action-status')!.getAttribute('data-status')).toBe('failed');
    expect(text('action-output')).toBe('df: /x: No such file\n');
    expect(text('action-exit-code')).toBe('2');
    expect(text('action-error-text')).toBe('exited with 2');
    expect(text('action-duration')).toBe('30 ms');
    expect(q('action-truncated')).toBeNull();
  });
});
