// Page tests in jsdom against a scripted gateway: dashboard cards and rows,
// and the Settings token flow (token shown once with the install command).
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api/client';
import { Session, type KeyValueStorage } from '../src/api/session';
import { App } from '../src/app';
import type { AppServices } from '../src/context';
import { ActionsStore } from '../src/actions/store';
import { AlertsStore } from '../src/live/alerts';
import { HostsStore } from '../src/live/store';
import { uptimePercent } from '../src/pages/Dashboard';
import { detail, point } from './fixtures';

function memStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

type Handler = (method: string, url: string, body: unknown) => Response | undefined;

function setup(handler: Handler, role = 'admin') {
  const session = new Session(memStorage());
  session.setFromPair({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900, user: { id: 'u', email: 'admin@example.com', tenant_id: 't1', role } });
  const api = new ApiClient(session, async (url, init) => {
    const res = handler(init?.method ?? 'GET', url, init?.body ? JSON.parse(init.body as string) : undefined);
    return res ?? new Response(JSON.stringify({ error: { code: 'not_found', message: `no api route ${url}` } }), { status: 404 });
  });
  const frames: (() => void)[] = [];
  const store = new HostsStore((cb) => frames.push(cb));
  const alerts = new AlertsStore((cb) => frames.push(cb));
  store.subscribeEvents((m) => m.type === 'alert' && alerts.applyFrame(m));
  const s: AppServices = {
    api, session, store, socket: null, socketState: () => 'open', subscribeSocketState: () => () => {}, reloadHosts: async () => {},
    alerts, reloadAlerts: async () => {}, actions: new ActionsStore((cb) => frames.push(cb)),
  };
  return { s, store, runFrame: () => act(() => frames.splice(0).forEach((cb) => cb())) };
}

const json = (status: number, body: unknown) => new Response(status === 204 ? null : JSON.stringify(body), { status });
const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.appendChild(root);
});
afterEach(() => {
  render(null, root);
  root.remove();
});

const text = (testid: string) => root.querySelector(`[data-testid="${testid}"]`)?.textContent ?? null;

describe('Dashboard page', () => {
  it('shows the cards and a row per host, updated by live frames', async () => {
    history.replaceState(null, '', '/');
    const { s, store, runFrame } = setup(() => undefined);
    store.setHosts([
      detail('in3', { name: 'IN3', hostname: 'prod-1' }, point('2026-11-24T12:00:00Z', 45, 70)),
      detail('in4', { name: 'IN4', hostname: 'prod-2' }),
      detail('dev1', { name: 'DEV-1', status: 'offline', last_seen: new Date(Date.now() - 5 * 60_000).toISOString() }),
    ]);
    act(() => render(<App services={s} />, root));
    expect(text('card-hosts-value')).toBe('2');
    expect(text('card-alerts-value')).toBe('—');
    expect(text('card-uptime-value')).toBe('66.7%');
    expect(text('card-containers-value')).toBe('—');
    expect(text('host-cpu-in3')).toBe('45%');
    expect(text('host-mem-in3')).toBe('70%');
    expect(text('host-disk-in3')).toBe('50%');
    expect(text('host-lastseen-dev1')).toBe('last seen 5 minutes ago');

    store.enqueue({ type: 'metrics', host_id: 'in4', timestamp: new Date().toISOString(), data: {
      cpu: 23, memory: 50, disk: 30, services_count: 3,
      containers: [{ name: 'gw', cpu: 1, memory: 2, status: 'running' }, { name: 'db', cpu: 1, memory: 2, status: 'running' }],
    } });
    store.enqueue({ type: 'host_status', host_id: 'in3', status: 'offline', timestamp: new Date().toISOString() });
    runFrame();
    expect(text('host-cpu-in4')).toBe('23%');
    expect(text('host-counts-in4')).toBe('2 containers, 3 services');
    expect(text('host-status-in3')).toBe('offline');
    expect(text('card-hosts-value')).toBe('1');
    expect(text('card-containers-value')).toBe('2');
    await flush();
  });

  it('computes uptime as online hosts over hosts', () => {
    expect(uptimePercent(0, 0)).toBe('—');
    expect(uptimePercent(5, 5)).toBe('100%');
    expect(uptimePercent(999, 1000)).toBe('99.9%');
  });
});

describe('Settings page', () => {
  it('creates a token, shows it once with the install command, then lists it', async () => {
    history.replaceState(null, '', '/settings');
    const tokens: unknown[] = [];
    const { s } = setup((method, url, body) => {
      if (method === 'GET' && url === '/api/tokens') return json(200, tokens);
      if (method === 'POST' && url === '/api/tokens') {
        tokens.push({ id: 'k1', name: (body as { name: string }).name, created_at: '2026-11-24T12:00:00Z', last_used: null, revoked_at: null });
        return json(201, { id: 'k1', token: 'vgl_s3cret' });
      }
      if (method === 'DELETE' && url === '/api/tokens/k1') {
        (tokens[0] as { revoked_at: string }).revoked_at = '2026-11-24T12:05:00Z';
        return json(204, null);
      }
      return undefined;
    });
    act(() => render(<App services={s} />, root));
    await flush();
    const input = root.querySelector<HTMLInputElement>('[data-testid="token-name"]')!;
    act(() => {
      input.value = 'prod';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await act(async () => {
      root.querySelector('[data-testid="token-create"]')!.closest('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
      await new Promise((r) => setTimeout(r, 0));
    });
    await flush();
    expect(text('token-value')).toBe('vgl_s3cret');
    expect(text('install-command')).toBe(`sovigilant init --server ${location.hostname}:9090 --token vgl_s3cret --ca-cert ca.pem`);
    expect(root.querySelector('[data-testid="token-row-k1"]')).not.toBeNull();
    act(() => (root.querySelector('[data-testid="token-done"]') as HTMLButtonElement).click());
    expect(root.querySelector('[data-testid="token-created"]')).toBeNull();
    expect(root.textContent).not.toContain('vgl_s3cret');

    const realConfirm = window.confirm;
    window.confirm = () => true;
    try {
      await act(async () => {
        (root.querySelector('[data-testid="token-revoke-k1"]') as HTMLButtonElement).click();
        await new Promise((r) => setTimeout(r, 0));
      });
      await flush();
    } finally {
      window.confirm = realConfirm;
    }
    expect(root.querySelector('[data-testid="token-row-k1"] .pill')!.textContent).toBe('revoked');
    expect(root.querySelector('[data-testid="token-revoke-k1"]')).toBeNull();
  });

  it('a viewer sees their own account and no user management', async () => {
    history.replaceState(null, '', '/settings');
    const calls: string[] = [];
    const { s } = setup((m, u) => {
      calls.push(`${m} ${u}`);
      return m === 'GET' && u === '/api/tokens' ? json(200, []) : undefined;
    }, 'viewer');
    act(() => render(<App services={s} />, root));
    await flush();
    expect(text('users')).toContain('Only admins can add or remove users');
    expect(text('users')).toContain('admin@example.com');
    expect(root.querySelector('[data-testid="user-form"]')).toBeNull();
    expect(root.querySelector('[data-testid="token-create"]')).toBeNull();
    expect(calls).not.toContain('GET /api/users');
  });
});

/** A scripted /api/users for the Users section: the signed-in admin is `u`. */
function usersApi() {
  const users = [
    { id: 'u', email: 'admin@example.com', role: 'admin', created_at: '2026-11-24T12:00:00Z' },
    { id: 'u2', email: 'ops@example.com', role: 'viewer', created_at: '2026-11-24T12:01:00Z' },
  ];
  const calls: { method: string; url: string; body: unknown }[] = [];
  const handler: Handler = (method, url, body) => {
    calls.push({ method, url, body });
    if (url === '/api/tokens') return json(200, []);
    if (method === 'GET' && url === '/api/users') return json(200, users);
    if (method === 'POST' && url === '/api/users') {
      const b = body as { email: string; role: string; password?: string };
      if (users.some((u) => u.email === b.email)) {
        return json(409, { error: { code: 'conflict', message: `a user with email "${b.email}" already exists; pick another email` } });
      }
      const user = { id: `u${users.length + 1}`, email: b.email, role: b.role, created_at: '2026-11-24T13:00:00Z' };
      users.push(user);
      return json(201, b.password ? user : { ...user, password: 'Gen3ratedPassw0rdXYZ' });
    }
    const m = url.match(/^\/api\/users\/(.+)$/);
    if (m && method === 'PATCH') {
      const u = users.find((x) => x.id === m[1])!;
      u.role = (body as { role: string }).role;
      return json(200, u);
    }
    if (m && method === 'DELETE') {
      users.splice(users.findIndex((x) => x.id === m[1]), 1);
      return json(204, null);
    }
    return undefined;
  };
  return { users, calls, handler };
}

function fill(testid: string, value: string) {
  const el = root.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-testid="${testid}"]`)!;
  act(() => {
    el.value = value;
    el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', { bubbles: true }));
  });
}

async function submitUserForm() {
  await act(async () => {
    root.querySelector('[data-testid="user-form"]')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await new Promise((r) => setTimeout(r, 0));
  });
  await flush();
}

describe('Settings page: users (admin)', () => {
  it('lists the users, marks the signed-in admin and offers no self-delete', async () => {
    history.replaceState(null, '', '/settings');
    const { handler } = usersApi();
    const { s } = setup(handler);
    act(() => render(<App services={s} />, root));
    await flush();
    expect(root.querySelectorAll('[data-testid^="user-row-"]')).toHaveLength(2);
    expect(text('user-row-u')).toContain('(you)');
    expect(root.querySelector('[data-testid="user-delete-u"]')).toBeNull();
    expect(root.querySelector('[data-testid="user-role-u"]')!.tagName).toBe('SPAN');
    expect(root.querySelector('[data-testid="user-delete-u2"]')).not.toBeNull();
    expect(root.querySelector<HTMLSelectElement>('[data-testid="user-role-u2"]')!.value).toBe('viewer');
  });

  it('adds a user without a password and shows the generated one once', async () => {
    history.replaceState(null, '', '/settings');
    const { handler, calls } = usersApi();
    const { s } = setup(handler);
    act(() => render(<App services={s} />, root));
    await flush();
    fill('user-email', ' new@example.com ');
    fill('user-role', 'admin');
    await submitUserForm();
    const post = calls.find((c) => c.method === 'POST' && c.url === '/api/users')!;
    expect(post.body).toEqual({ email: 'new@example.com', role: 'admin' });
    expect(text('user-password')).toBe('Gen3ratedPassw0rdXYZ');
    expect(text('user-created')).toContain('new@example.com added (admin)');
    expect(root.querySelector('[data-testid="user-row-u3"]')).not.toBeNull();
    expect(root.querySelector<HTMLInputElement>('[data-testid="user-email"]')!.value).toBe('');
    act(() => (root.querySelector('[data-testid="user-done"]') as HTMLButtonElement).click());
    expect(root.querySelector('[data-testid="user-created"]')).toBeNull();
    expect(root.textContent).not.toContain('Gen3ratedPassw0rdXYZ');
  });

  it('sends a chosen password and never shows it back', async () => {
    history.replaceState(null, '', '/settings');
    const { handler, calls } = usersApi();
    const { s } = setup(handler);
    act(() => render(<App services={s} />, root));
    await flush();
    fill('user-email', 'chosen@example.com');
    fill('user-password-input', 'correct horse battery');
    await submitUserForm();
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ email: 'chosen@example.com', role: 'viewer', password: 'correct horse battery' });
    expect(root.querySelector('[data-testid="user-password"]')).toBeNull();
    expect(text('user-created')).toContain('chosen@example.com added (viewer)');
    expect(root.textContent).not.toContain('correct horse battery');
  });

  it('refuses a bad email or short password before asking, and shows the server\'s 409', async () => {
    history.replaceState(null, '', '/settings');
    const { handler, calls } = usersApi();
    const { s } = setup(handler);
    act(() => render(<App services={s} />, root));
    await flush();
    fill('user-email', 'not-an-email');
    await submitUserForm();
    expect(text('user-error')).toMatch(/^email: /);
    fill('user-email', 'x@example.com');
    fill('user-password-input', 'short');
    await submitUserForm();
    expect(text('user-error')).toMatch(/^password: /);
    expect(calls.some((c) => c.method === 'POST')).toBe(false);

    fill('user-email', 'ops@example.com');
    fill('user-password-input', '');
    await submitUserForm();
    expect(text('user-error')).toBe('a user with email "ops@example.com" already exists; pick another email');
    expect(root.querySelector('[data-testid="user-created"]')).toBeNull();
  });

  it('changes another user\'s role and deletes them after confirmation', async () => {
    history.replaceState(null, '', '/settings');
    const { handler, calls } = usersApi();
    const { s } = setup(handler);
    act(() => render(<App services={s} />, root));
    await flush();
    fill('user-role-u2', 'admin');
    await flush();
    await flush();
    expect(calls.find((c) => c.method === 'PATCH')).toEqual({ method: 'PATCH', url: '/api/users/u2', body: { role: 'admin' } });
    expect(root.querySelector<HTMLSelectElement>('[data-testid="user-role-u2"]')!.value).toBe('admin');

    const realConfirm = window.confirm;
    let asked = '';
    window.confirm = (q?: string) => {
      asked = q ?? '';
      return false;
    };
    try {
      act(() => (root.querySelector('[data-testid="user-delete-u2"]') as HTMLButtonElement).click());
      await flush();
      expect(asked).toContain('ops@example.com');
      expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
      window.confirm = () => true;
      act(() => (root.querySelector('[data-testid="user-delete-u2"]') as HTMLButtonElement).click());
      await flush();
      await flush();
    } finally {
      window.confirm = realConfirm;
    }
    expect(calls.find((c) => c.method === 'DELETE')!.url).toBe('/api/users/u2');
    expect(root.querySelector('[data-testid="user-row-u2"]')).toBeNull();
    expect(root.querySelectorAll('[data-testid^="user-row-"]')).toHaveLength(1);
  });
});

describe('Settings page: the operator role', () => {
  it('offers viewer, operator and admin, adds an operator and makes a viewer one', async () => {
    history.replaceState(null, '', '/settings');
    const { handler, calls } = usersApi();
    const { s } = setup(handler);
    act(() => render(<App services={s} />, root));
    await flush();
    const options = [...root.querySelector<HTMLSelectElement>('[data-testid="user-role"]')!.options].map((o) => o.value);
    expect(options).toEqual(['viewer', 'operator', 'admin']);
    fill('user-email', 'oncall@example.com');
    fill('user-role', 'operator');
    await submitUserForm();
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ email: 'oncall@example.com', role: 'operator' });
    expect(text('user-created')).toContain('oncall@example.com added (operator)');

    fill('user-role-u2', 'operator');
    await flush();
    await flush();
    expect(calls.find((c) => c.method === 'PATCH')).toEqual({ method: 'PATCH', url: '/api/users/u2', body: { role: 'operator' } });
    expect(root.querySelector<HTMLSelectElement>('[data-testid="user-role-u2"]')!.value).toBe('operator');
    expect(root.querySelector<HTMLSelectElement>('[data-testid="user-role-u3"]')!.value).toBe('operator');
  });
});

describe('Host detail page', () => {
  it('shows identity, bars, disks, the CPU chart container, services, and containers as not available on 404', async () => {
    history.replaceState(null, '', '/hosts/in3');
    const latest = point(new Date(Date.now() - 10_000).toISOString(), 45, 70, [
      { path: '/', total: 100 * 1024 ** 3, used: 50 * 1024 ** 3, percent: 50, fs_type: 'ext4' },
      { path: '/data', total: 500 * 1024 ** 3, used: 150 * 1024 ** 3, percent: 30, fs_type: 'xfs' },
    ]);
    latest.host.uptime = 45 * 86400;
    const metricsUrls: string[] = [];
    const { s } = setup((method, url) => {
      if (url === '/api/hosts/in3') return json(200, { ...detail('in3', { name: 'IN3', hostname: 'prod-1' }).host, latest });
      if (url.startsWith('/api/hosts/in3/metrics')) {
        metricsUrls.push(url);
        return json(200, { host_id: 'in3', from: 'a', to: 'b', points: [latest] });
      }
      if (url === '/api/hosts/in3/services') return json(200, [{ name: 'nginx', status: 'active', pid: 1234, memory: 50 * 1024 ** 2, cpu_percent: 1, ports: [80], uptime: 100 }]);
      return method === 'GET' ? undefined : undefined;
    });
    act(() => render(<App services={s} />, root));
    await flush();
    await flush();
    expect(text('detail-status')).toBe('online');
    expect(text('detail-uptime')).toBe('45 days');
    expect(text('detail-agent')).toBe('v1.3.0');
    expect(text('detail-os')).toBe('Debian 13');
    expect(text('detail-cpu-model')).toBe('AMD EPYC 7763 64-Core Processor');
    expect(text('detail-cpu')).toBe('45%');
    expect(root.querySelector('[data-testid="chart-cpu"]')!.getAttribute('data-points')).toBe('1');
    expect(root.querySelector('[data-testid="disk-/data"]')!.textContent).toContain('150 GB / 500 GB');
    expect(text('containers-unavailable')).toContain('not available from this server yet');
    expect(root.querySelector('[data-testid="service-row-nginx"]')).not.toBeNull();
    expect(new URL(`http://x${metricsUrls[0]}`).searchParams.get('limit')).toBe('1000');

    await act(async () => {
      (root.querySelector('[data-testid="range-7d"]') as HTMLButtonElement).click();
      await new Promise((r) => setTimeout(r, 0));
    });
    const q = new URL(`http://x${metricsUrls[metricsUrls.length - 1]}`).searchParams;
    expect(q.get('limit')).toBe('10000');
    expect(Date.parse(q.get('to')!) - Date.parse(q.get('from')!)).toBe(7 * 86400 * 1000);
  });
});
