// Alerting screens in jsdom against a scripted gateway: the dashboard's
// count card and panel (Ack, live frames), host badges, the Alerts page
// (rule editor with the server's caret, preview, history paging, silences,
// maintenance), notification channels in Settings, and viewers reading only.
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import { Session, type KeyValueStorage } from '../src/api/session';
import type { Alert } from '../src/api/types';
import { App } from '../src/app';
import type { AppServices } from '../src/context';
import { ActionsStore } from '../src/actions/store';
import { AlertsStore } from '../src/live/alerts';
import { HostsStore } from '../src/live/store';
import { toLocalInput } from '../src/alerting/silence';
import { VALIDATE_DEBOUNCE_MS } from '../src/pages/alerts/RuleEditor';
import { alert, alertFrame, detail } from './fixtures';

function memStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

interface Call { method: string; url: string; body: unknown }
type Handler = (method: string, url: string, body: unknown) => Response | undefined;

const json = (status: number, body: unknown) => new Response(status === 204 ? null : JSON.stringify(body), { status });
const unprocessable = (message: string) => json(422, { error: { code: 'unprocessable', message } });

/** Services wired as in services.ts (alert frames → alerts store), against `handler`. */
function setup(handler: Handler, role = 'admin') {
  const session = new Session(memStorage());
  session.setFromPair({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900, user: { id: 'u', email: 'admin@example.com', tenant_id: 't1', role } });
  const calls: Call[] = [];
  const api = new ApiClient(session, async (url, init) => {
    const body = init?.body ? JSON.parse(init.body as string) : undefined;
    const method = init?.method ?? 'GET';
    calls.push({ method, url, body });
    const res = handler(method, url, body);
    return res ?? new Response(JSON.stringify({ error: { code: 'not_found', message: `no api route ${url}` } }), { status: 404 });
  });
  const frames: (() => void)[] = [];
  const store = new HostsStore((cb) => frames.push(cb));
  const alerts = new AlertsStore((cb) => frames.push(cb));
  store.subscribeEvents((m) => m.type === 'alert' && alerts.applyFrame(m));
  const reloads: number[] = [];
  const s: AppServices = {
    api, session, store, socket: null, socketState: () => 'open', subscribeSocketState: () => () => {}, reloadHosts: async () => {},
    alerts,
    actions: new ActionsStore((cb) => frames.push(cb)),
    reloadAlerts: async () => {
      reloads.push(Date.now());
      alerts.setActive(await api.activeAlerts(), alerts.beginLoad());
    },
  };
  const runFrame = () => act(() => {
    for (let i = 0; i < 3 && frames.length; i += 1) frames.splice(0).forEach((cb) => cb());
  });
  return { s, store, alerts, calls, runFrame, reloads };
}

const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });
/** Lets lazy chunks load (the first import of a chunk takes a while) and answers arrive. */
async function settle(times = 6) {
  for (let waited = 0; root.querySelector('[data-testid="lazy-loading"]') && waited < 5000; waited += 10) {
    await act(async () => { await new Promise((r) => setTimeout(r, 10)); });
  }
  for (let i = 0; i < times; i += 1) await flush();
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

const q = <T extends Element = HTMLElement>(testid: string) => root.querySelector<T>(`[data-testid="${testid}"]`);
const text = (testid: string) => q(testid)?.textContent ?? null;
const click = (testid: string) => act(() => q<HTMLButtonElement>(testid)!.click());
function fill(testid: string, value: string) {
  const el = q<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(testid)!;
  act(() => {
    el.value = value;
    el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', { bubbles: true }));
  });
}
function check(testid: string, on: boolean) {
  const el = q<HTMLInputElement>(testid)!;
  act(() => {
    el.checked = on;
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
}
async function submit(testid: string) {
  await act(async () => {
    q(testid)!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await new Promise((r) => setTimeout(r, 0));
  });
  await settle(2);
}
function ago(minutes: number): string {
  return new Date(Date.now() - minutes * 60_000).toISOString();
}

describe('Dashboard alerts', () => {
  it('shows the count card and the panel, acks an alert, and follows live frames', async () => {
    history.replaceState(null, '', '/');
    const a1 = alert('a1', { severity: 'warning', message: 'CPU > 80%', host_id: 'in3', host_name: 'IN3', fired_at: ago(10) });
    const a2 = alert('a2', { severity: 'warning', message: 'Disk > 90%', host_id: 'in4', host_name: 'IN4', mount: '/data', fired_at: ago(3) });
    const { s, store, alerts, calls, runFrame } = setup((method, url) => {
      if (method === 'POST' && url === '/api/alerts/a1/acknowledge') {
        return json(200, { ...a1, status: 'acknowledged', acknowledged_by: 'admin@example.com', acknowledged_at: new Date().toISOString() });
      }
      return undefined;
    });
    store.setHosts([detail('in3', { name: 'IN3' }), detail('in4', { name: 'IN4' }), detail('in5', { name: 'IN5' })]);
    alerts.setActive([a1, a2]);
    act(() => render(<App services={s} />, root));
    runFrame();

    expect(text('card-alerts-value')).toBe('2');
    expect(text('card-alerts-label')).toBe('Alerts warning');
    expect(q('card-alerts')!.getAttribute('href')).toBe('/alerts');
    expect(q('card-alerts')!.getAttribute('data-severity')).toBe('warning');
    const row = q('alert-row-a1')!;
    expect(row.textContent).toContain('WARNING');
    expect(row.textContent).toContain('CPU > 80% on IN3');
    expect(row.textContent).toContain('since 10 min');
    expect(text('alert-row-a2')).toContain('/data');
    expect(q('host-alerts-in3')!.getAttribute('data-count')).toBe('1');
    expect(q('host-alerts-in3')!.getAttribute('data-severity')).toBe('warning');
    expect(q('host-alerts-in5')).toBeNull();
    expect(text('nav-alerts-count')).toBe('2');

    await act(async () => {
      q<HTMLButtonElement>('alert-ack-a1')!.click();
      await new Promise((r) => setTimeout(r, 0));
    });
    await settle(2);
    runFrame();
    expect(calls.filter((c) => c.method === 'POST').map((c) => c.url)).toEqual(['/api/alerts/a1/acknowledge']);
    expect(q('alert-row-a1')!.getAttribute('data-status')).toBe('acknowledged');
    expect(text('alert-acked-a1')).toBe('acknowledged by admin@example.com');
    expect(q('alert-ack-a1')).toBeNull();
    expect(text('nav-alerts-count')).toBe('1');
    expect(q('host-alerts-in3')!.getAttribute('data-firing')).toBe('0');

    // live: a critical alert fires on IN5, then the disk alert resolves
    const a3 = alert('a3', { severity: 'critical', message: 'Host down', host_id: 'in5', host_name: 'IN5', fired_at: ago(0) });
    store.enqueueAll([alertFrame('fired', a3)]);
    runFrame();
    expect(text('card-alerts-value')).toBe('3');
    expect(text('card-alerts-label')).toBe('Alerts critical');
    expect(root.querySelectorAll('[data-testid="dashboard-alerts"] [data-testid^="alert-row-"]')[0]!.getAttribute('data-testid')).toBe('alert-row-a3');
    expect(q('host-alerts-in5')!.getAttribute('data-severity')).toBe('critical');
    store.enqueueAll([alertFrame('resolved', { ...a2, status: 'resolved', resolved_at: new Date().toISOString() })]);
    store.enqueueText(JSON.stringify(alertFrame('resolved', { ...a3, status: 'resolved' })));
    runFrame();
    expect(text('card-alerts-value')).toBe('1');
    expect(q('alert-row-a2')).toBeNull();
    expect(q('alert-row-a3')).toBeNull();
    expect(q('host-alerts-in4')).toBeNull();
    expect(q('host-alerts-in5')).toBeNull();

    store.enqueueAll([alertFrame('resolved', { ...a1, status: 'resolved' })]);
    runFrame();
    expect(text('card-alerts-value')).toBe('0');
    expect(q('alerts-all-clear')).not.toBeNull();
  });

  it('a 409 on Ack (someone was faster) reloads the alerts instead of showing an error', async () => {
    history.replaceState(null, '', '/');
    const a1 = alert('a1', { fired_at: ago(5) });
    const { s, alerts, reloads, runFrame } = setup((method, url) => {
      if (method === 'POST') return json(409, { error: { code: 'conflict', message: 'alert a1 is already acknowledged' } });
      if (url === '/api/alerts') return json(200, [{ ...a1, status: 'acknowledged', acknowledged_by: 'ops@example.com' }]);
      return undefined;
    });
    alerts.setActive([a1]);
    act(() => render(<App services={s} />, root));
    runFrame();
    await act(async () => {
      q<HTMLButtonElement>('alert-ack-a1')!.click();
      await new Promise((r) => setTimeout(r, 0));
    });
    await settle(3);
    runFrame();
    expect(reloads).toHaveLength(1);
    expect(q('alert-ack-error-a1')).toBeNull();
    expect(text('alert-acked-a1')).toBe('acknowledged by ops@example.com');
  });

  it('says when the server has no alerting', async () => {
    history.replaceState(null, '', '/');
    const { s, alerts, runFrame } = setup(() => undefined);
    alerts.loadFailed(true, 'no api route /api/alerts');
    act(() => render(<App services={s} />, root));
    runFrame();
    expect(text('card-alerts-value')).toBe('—');
    expect(text('card-alerts')).toContain('not available');
    expect(q('active-alerts-panel')).toBeNull();
  });
});

describe('host page', () => {
  it('shows the badge and the host\'s active alerts', async () => {
    history.replaceState(null, '', '/hosts/in3');
    const { s, alerts, runFrame } = setup((_m, url) => {
      if (url === '/api/hosts/in3') return json(200, { ...detail('in3', { name: 'IN3' }).host, latest: null });
      if (url.startsWith('/api/hosts/in3/metrics')) return json(200, { host_id: 'in3', from: 'a', to: 'b', points: [] });
      return undefined;
    });
    alerts.setActive([alert('a1', { severity: 'critical' }), alert('a2', { host_id: 'in4' })]);
    act(() => render(<App services={s} />, root));
    await settle(3);
    runFrame();
    expect(q('detail-alerts')!.getAttribute('data-count')).toBe('1');
    expect(q('detail-alerts')!.getAttribute('data-severity')).toBe('critical');
    expect(q('host-alerts-list')!.getAttribute('data-count')).toBe('1');
    expect(q('alert-row-a1')).not.toBeNull();
  });
});

/** A scripted alerting API: rules, channels, silences, maintenance, history. */
function alertingApi() {
  const rules = [
    {
      id: 'r-cpu', tenant_id: 't1', name: 'CPU high', description: '', condition: 'host.cpu.percent > 80', duration: '5m', severity: 'warning',
      channels: [], message: 'CPU {{value}}%', enabled: true, scope: 'host', created_at: '2026-11-24T12:00:00Z', updated_at: '2026-11-24T12:00:00Z',
    },
    {
      id: 'r-off', tenant_id: 't1', name: 'Host offline', description: '', condition: 'host.offline', duration: '0s', severity: 'critical',
      channels: [], message: '', enabled: true, builtin: 'host_offline', scope: 'host', created_at: '2026-11-24T12:00:00Z', updated_at: '2026-11-24T12:00:00Z',
    },
  ];
  const channels = [
    { id: 'c1', name: 'Ops Slack', enabled: true, type: 'slack', config: { url: 'https://hooks.slack.com/••••wxyz', channel: '#ops' } },
    { id: 'c2', name: 'Pager', enabled: false, type: 'pagerduty', config: { routing_key: '••••9f3e' } },
  ];
  const silences = [
    { id: 's1', match: { host_id: 'in3' }, starts_at: ago(60), ends_at: new Date(Date.now() + 3_600_000).toISOString(), comment: 'swap disk', created_by: 'admin@example.com', created_at: ago(60) },
    { id: 's2', match: {}, starts_at: ago(600), ends_at: ago(300), comment: 'old', created_by: 'admin@example.com', created_at: ago(600) },
  ];
  const maintenance = [
    { id: 'm1', name: 'Backups', schedule: '0 0 2 * * Sun', duration: '2h', enabled: true, comment: '', active_now: true, next_start: '2026-11-29T02:00:00Z', created_by: 'a', created_at: ago(1) },
  ];
  const history = Array.from({ length: 3 }, (_, i) => ({
    ...alert(`h${i}`, { status: 'resolved', resolved_at: ago(i) }), seq: 100 - i, duration_seconds: 600 + i,
  }));
  const handler: Handler = (method, url, body) => {
    const path = url.split('?')[0]!;
    if (method === 'GET' && path === '/api/alerts/rules') return json(200, rules);
    if (method === 'POST' && path === '/api/alerts/rules/validate') {
      const c = (body as { condition: string }).condition;
      if (c.endsWith('>')) return unprocessable(`condition: column ${c.length + 1}: expected a number, a string, a variable or '(' but found end of input`);
      return json(200, { scope: c.includes('disk') ? 'mount' : 'host' });
    }
    if (method === 'POST' && path === '/api/alerts/rules/preview') {
      return json(200, { scope: 'host', hosts_evaluated: 3, matches: [{ host_id: 'in3', host_name: 'IN3', value: '92.5', timestamp: '2026-11-24T12:00:00Z' }] });
    }
    if (method === 'POST' && path === '/api/alerts/rules') {
      const r = { ...(body as object), id: 'r-new', tenant_id: 't1', scope: 'host', created_at: 'x', updated_at: 'x' };
      rules.push(r as (typeof rules)[number]);
      return json(201, r);
    }
    const rule = /^\/api\/alerts\/rules\/([^/]+)$/.exec(path);
    if (rule && method === 'PUT' && (body as { condition: string }).condition.startsWith('nope')) {
      return unprocessable('condition: column 1: unknown variable "nope"; variables start with host.');
    }
    if (rule && method === 'PUT') {
      const i = rules.findIndex((r) => r.id === rule[1]);
      rules[i] = { ...rules[i]!, ...(body as object) };
      return json(200, rules[i]);
    }
    if (rule && method === 'DELETE') {
      rules.splice(rules.findIndex((r) => r.id === rule[1]), 1);
      return json(204, null);
    }
    if (method === 'GET' && path === '/api/config/notifications') return json(200, channels);
    if (method === 'PUT' && path === '/api/config/notifications') {
      const list = (body as { id?: string }[]).map((c, i) => ({ ...c, id: c.id ?? `c-new${i}` }));
      channels.splice(0, channels.length, ...(list as typeof channels));
      return json(200, channels);
    }
    const test = /^\/api\/config\/notifications\/([^/]+)\/test$/.exec(path);
    if (test && method === 'POST') {
      return json(200, test[1] === 'c1' ? { delivered: true, status: 200, error: null } : { delivered: false, status: 400, error: 'Invalid routing key' });
    }
    if (method === 'GET' && path === '/api/alerts/silences') return json(200, silences);
    if (method === 'POST' && path === '/api/alerts/silences') {
      const r = { ...(body as object), id: 's-new', created_by: 'admin@example.com', created_at: new Date().toISOString() };
      silences.push(r as (typeof silences)[number]);
      return json(201, r);
    }
    const sil = /^\/api\/alerts\/silences\/([^/]+)$/.exec(path);
    if (sil && method === 'PUT') {
      const i = silences.findIndex((x) => x.id === sil[1]);
      silences[i] = { ...silences[i]!, ...(body as object) };
      return json(200, silences[i]);
    }
    if (method === 'GET' && path === '/api/alerts/maintenance') return json(200, maintenance);
    if (method === 'POST' && path === '/api/alerts/maintenance') {
      const b = body as { schedule: string };
      if (b.schedule.startsWith('61')) return unprocessable('schedule: 61 is not a second (0-59)');
      const r = { ...(body as object), id: 'm-new', active_now: false, next_start: '2026-12-01T00:00:00Z', created_by: 'a', created_at: 'x' };
      maintenance.push(r as (typeof maintenance)[number]);
      return json(201, r);
    }
    if (method === 'GET' && path === '/api/alerts/history') {
      const before = new URL(`http://x${url}`).searchParams.get('before');
      return before
        ? json(200, { items: [{ ...alert('h-old', { status: 'resolved' }), seq: 1, duration_seconds: 30 }], next_before: null })
        : json(200, { items: history, next_before: 98 });
    }
    return undefined;
  };
  return { rules, channels, silences, maintenance, handler };
}

async function openAlerts(tab: string, role = 'admin') {
  history.replaceState(null, '', tab === 'active' ? '/alerts' : `/alerts?tab=${tab}`);
  const api = alertingApi();
  const env = setup(api.handler, role);
  env.store.setHosts([detail('in3', { name: 'IN3' }), detail('in4', { name: 'IN4' })]);
  act(() => render(<App services={env.s} />, root));
  await settle();
  return { ...api, ...env };
}

describe('Alerts page', () => {
  it('loads lazily, filters the active alerts and remembers the tab in the URL', async () => {
    const env = await openAlerts('active');
    env.alerts.setActive([
      alert('a1', { host_id: 'in3', severity: 'warning' }),
      alert('a2', { host_id: 'in4', severity: 'critical' }),
      alert('a3', { host_id: 'in4', severity: 'warning', status: 'acknowledged' }),
    ]);
    env.runFrame();
    expect(q('alerts-page')).not.toBeNull();
    expect(text('active-count')).toBe('3 of 3');
    fill('active-filter-host', 'in4');
    expect(text('active-count')).toBe('2 of 3');
    fill('active-filter-status', 'acknowledged');
    expect(root.querySelectorAll('[data-testid="active-alerts"] li')).toHaveLength(1);
    expect(q('alert-row-a3')).not.toBeNull();
    fill('active-filter-severity', 'critical');
    expect(text('active-empty')).toBe('No active alert matches these filters.');

    click('alerts-tab-maintenance');
    await settle(2);
    expect(location.search).toBe('?tab=maintenance');
    expect(q('maint-active-m1')).not.toBeNull();
    expect(text('maint-next-m1')).toContain('next start');
  });

  it('"Silence…" on an alert opens a silence for its instance', async () => {
    const env = await openAlerts('active');
    env.alerts.setActive([alert('a1', { host_id: 'in3', rule_id: 'r-cpu', mount: '/data' })]);
    env.runFrame();
    click('alert-silence-a1');
    await settle(2);
    expect(location.search).toBe('?tab=silences');
    expect(q<HTMLSelectElement>('silence-rule')!.value).toBe('r-cpu');
    expect(q<HTMLSelectElement>('silence-host')!.value).toBe('in3');
    expect(q<HTMLInputElement>('silence-mount')!.value).toBe('/data');
  });

  it('pages through the history with "Older" and filters it', async () => {
    const env = await openAlerts('history');
    expect(q('history-table')!.getAttribute('data-count')).toBe('3');
    expect(text('history-row-h0')).toContain('10 min');
    click('history-older');
    await settle(2);
    expect(q('history-table')!.getAttribute('data-count')).toBe('4');
    expect(q('history-older')).toBeNull();
    const older = env.calls.filter((c) => c.url.startsWith('/api/alerts/history'));
    expect(new URL(`http://x${older[1]!.url}`).searchParams.get('before')).toBe('98');
    fill('history-filter-rule', 'r-cpu');
    fill('history-filter-severity', 'critical');
    await settle(2);
    const last = new URL(`http://x${env.calls.filter((c) => c.url.startsWith('/api/alerts/history')).pop()!.url}`).searchParams;
    expect([last.get('rule_id'), last.get('severity'), last.get('before'), last.get('limit')]).toEqual(['r-cpu', 'critical', null, '50']);
  });
});

describe('rule editor', () => {
  it('checks the condition 300 ms after typing and puts a caret under the column of a 422', async () => {
    const env = await openAlerts('rules');
    click('rule-new');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    fill('rule-condition', 'host.cpu');
    fill('rule-condition', 'host.cpu.percent');
    fill('rule-condition', 'host.cpu.percent >');
    await act(async () => { await vi.advanceTimersByTimeAsync(VALIDATE_DEBOUNCE_MS - 1); });
    const validations = () => env.calls.filter((c) => c.url === '/api/alerts/rules/validate');
    expect(validations()).toHaveLength(0);
    await act(async () => { await vi.advanceTimersByTimeAsync(1); });
    vi.useRealTimers();
    await settle(3);
    expect(validations().map((c) => c.body)).toEqual([{ condition: 'host.cpu.percent >' }]);
    expect(text('rule-condition-error')).toBe("column 19: expected a number, a string, a variable or '(' but found end of input");
    expect(text('rule-condition-caret')).toBe(`host.cpu.percent >\n${' '.repeat(18)}^`);
    expect(q('rule-condition')!.getAttribute('aria-invalid')).toBe('true');

    fill('rule-condition', 'host.cpu.percent > 80');
    await settle(1);
    await act(async () => { await new Promise((r) => setTimeout(r, VALIDATE_DEBOUNCE_MS + 20)); });
    await settle(3);
    expect(q('rule-condition-caret')).toBeNull();
    expect(q('rule-condition-status')!.getAttribute('data-state')).toBe('ok');
    expect(text('rule-condition-status')).toContain('one alert per host');
  });

  it('creates a rule with channels, clear and repeat; previews what would fire', async () => {
    const env = await openAlerts('rules');
    click('rule-new');
    await settle(2);
    fill('rule-name', 'Disk full');
    fill('rule-description', 'root or data');
    fill('rule-condition', 'host.disk.percent > 90');
    fill('rule-duration', '10m');
    fill('rule-severity', 'critical');
    check('rule-channel-c2', true);
    fill('rule-message', 'Disk {{value}}%');
    fill('rule-clear', '85');
    fill('rule-repeat', '1h');
    expect(text('rule-channels-summary')).toBe('1 picked.');

    click('rule-preview');
    await settle(2);
    expect(env.calls.find((c) => c.url === '/api/alerts/rules/preview')!.body).toEqual({ condition: 'host.disk.percent > 90', clear: 85 });
    expect(q('rule-preview-result')!.getAttribute('data-matches')).toBe('1');
    expect(text('rule-preview-row-0')).toContain('IN3');
    expect(text('rule-preview-row-0')).toContain('92.5');

    await submit('rule-editor');
    expect(env.calls.find((c) => c.method === 'POST' && c.url === '/api/alerts/rules')!.body).toEqual({
      name: 'Disk full', description: 'root or data', condition: 'host.disk.percent > 90', duration: '10m', severity: 'critical',
      channels: ['c2'], message: 'Disk {{value}}%', enabled: true, clear: 85, repeat_interval: '1h',
    });
    expect(q('rule-editor')).toBeNull();
    expect(q('rule-row-r-new')).not.toBeNull();
  });

  it('shows a save 422 on its field; enables, disables and deletes rules; built-in rules stay', async () => {
    const env = await openAlerts('rules');
    expect(q('rule-delete-r-off')).toBeNull();
    check('rule-enabled-r-cpu', false);
    await settle(3);
    const put = env.calls.find((c) => c.method === 'PUT')!;
    expect(put.url).toBe('/api/alerts/rules/r-cpu');
    expect(put.body).toEqual({
      name: 'CPU high', description: '', condition: 'host.cpu.percent > 80', duration: '5m', severity: 'warning', channels: [],
      message: 'CPU {{value}}%', enabled: false,
    });
    expect(q('rule-row-r-cpu')!.getAttribute('data-enabled')).toBe('false');

    click('rule-edit-r-cpu');
    await settle(2);
    expect(q<HTMLTextAreaElement>('rule-condition')!.value).toBe('host.cpu.percent > 80');
    fill('rule-duration', '');
    await submit('rule-editor');
    expect(text('rule-error')).toMatch(/^duration: /);
    fill('rule-duration', '5m');
    fill('rule-condition', 'nope > 1');
    await submit('rule-editor');
    expect(text('rule-condition-error')).toBe('column 1: unknown variable "nope"; variables start with host.');
    expect(text('rule-condition-caret')).toBe('nope > 1\n^');
    expect(q('rule-editor')).not.toBeNull();

    const realConfirm = window.confirm;
    window.confirm = () => true;
    try {
      click('rule-cancel');
      click('rule-delete-r-cpu');
      await settle(3);
    } finally {
      window.confirm = realConfirm;
    }
    expect(env.calls.some((c) => c.method === 'DELETE' && c.url === '/api/alerts/rules/r-cpu')).toBe(true);
    expect(q('rule-row-r-cpu')).toBeNull();
  });
});

describe('silences and maintenance', () => {
  it('creates a silence with a preset, lists active ones and expires them', async () => {
    const env = await openAlerts('silences');
    expect(q('silence-row-s1')!.getAttribute('data-state')).toBe('active');
    expect(q('silence-row-s2')).toBeNull(); // expired: hidden until asked
    check('silences-show-expired', true);
    expect(q('silence-row-s2')).not.toBeNull();

    click('silence-new');
    const tomorrow = new Date(Date.now() + 86_400_000);
    const start = new Date(tomorrow.getFullYear(), tomorrow.getMonth(), tomorrow.getDate(), 8, 0);
    const at = (hours: number) => toLocalInput(start.getTime() + hours * 3_600_000);
    fill('silence-start', at(0));
    click('silence-preset-4h');
    expect(q<HTMLInputElement>('silence-end')!.value).toBe(at(4));
    click('silence-preset-1d');
    expect(q<HTMLInputElement>('silence-end')!.value).toBe(at(24));
    click('silence-preset-1h');
    expect(q<HTMLInputElement>('silence-end')!.value).toBe(at(1));
    fill('silence-host', 'in4');
    fill('silence-severity', 'critical');
    fill('silence-comment', 'kernel upgrade');
    await submit('silence-form');
    const post = env.calls.find((c) => c.method === 'POST' && c.url === '/api/alerts/silences')!;
    expect(post.body).toEqual({
      match: { host_id: 'in4', severity: 'critical' },
      starts_at: start.toISOString(), ends_at: new Date(start.getTime() + 3_600_000).toISOString(), comment: 'kernel upgrade',
    });
    expect(q('silence-form')).toBeNull();
    expect(q('silence-row-s-new')!.getAttribute('data-state')).toBe('upcoming');

    click('silence-expire-s1');
    await settle(3);
    const put = env.calls.find((c) => c.method === 'PUT')!;
    expect(put.url).toBe('/api/alerts/silences/s1');
    expect(Date.parse((put.body as { ends_at: string }).ends_at)).toBeLessThanOrEqual(Date.now());
    expect(Object.keys(put.body as object).sort()).toEqual(['comment', 'ends_at', 'match', 'starts_at']);
  });

  it('creates a maintenance window for all hosts and shows the server\'s 422', async () => {
    const env = await openAlerts('maintenance');
    click('maint-new');
    fill('maint-name', 'Patch night');
    fill('maint-schedule', '61 0 3 * * Tue');
    fill('maint-duration', '3h');
    await submit('maint-form');
    expect(text('maint-error')).toBe('schedule: 61 is not a second (0-59)');
    fill('maint-schedule', '0 0 3 * * Tue');
    await submit('maint-form');
    expect(env.calls.filter((c) => c.method === 'POST').pop()!.body).toEqual({
      name: 'Patch night', schedule: '0 0 3 * * Tue', duration: '3h', enabled: true, comment: '',
    });
    expect(text('maint-next-m-new')).toContain('next start');
  });
});

describe('notification channels (Settings)', () => {
  async function openSettings(role = 'admin') {
    history.replaceState(null, '', '/settings');
    const api = alertingApi();
    const env = setup((m, u, b) => (u === '/api/tokens' ? json(200, []) : u === '/api/users' ? json(200, []) : api.handler(m, u, b)), role);
    act(() => render(<App services={env.s} />, root));
    await settle();
    return { ...api, ...env };
  }

  it('edits a channel, sending the masked secret and the other channels back unchanged', async () => {
    const env = await openSettings();
    expect(q('channel-row-c1')).not.toBeNull();
    click('channel-edit-c1');
    expect(q<HTMLInputElement>('channel-field-url')!.value).toBe('https://hooks.slack.com/••••wxyz');
    expect(q('channel-field-url')!.getAttribute('data-masked')).toBe('true');
    expect(q('channel-masked-note')).not.toBeNull();
    expect(q<HTMLSelectElement>('channel-type')!.disabled).toBe(true);
    fill('channel-name', 'Ops Slack (prod)');
    fill('channel-field-username', 'vigil');
    await submit('channel-form');
    const put = env.calls.find((c) => c.method === 'PUT')!;
    expect(put.url).toBe('/api/config/notifications');
    expect(put.body).toEqual([
      { id: 'c1', name: 'Ops Slack (prod)', enabled: true, type: 'slack', config: { url: 'https://hooks.slack.com/••••wxyz', channel: '#ops', username: 'vigil' } },
      { id: 'c2', name: 'Pager', enabled: false, type: 'pagerduty', config: { routing_key: '••••9f3e' } },
    ]);
    expect(q('channel-form')).toBeNull();
    expect(text('channel-row-c1')).toContain('Ops Slack (prod)');
  });

  it('adds a channel with the fields of its type, and toggles and deletes channels', async () => {
    const env = await openSettings();
    click('channel-new');
    expect(q('channel-field-url')).not.toBeNull(); // slack first
    fill('channel-type', 'email');
    expect(q('channel-form')!.getAttribute('data-type')).toBe('email');
    for (const f of ['host', 'port', 'tls', 'user', 'password', 'from', 'to', 'ca_pem']) expect(q(`channel-field-${f}`)).not.toBeNull();
    expect(q('channel-field-url')).toBeNull();
    fill('channel-type', 'webhook');
    for (const f of ['url', 'method', 'headers', 'secret']) expect(q(`channel-field-${f}`)).not.toBeNull();
    click('channel-header-add');
    fill('channel-header-name-0', 'X-Token');
    fill('channel-header-value-0', 'abc123');
    expect(q('channel-header-value-0')!.getAttribute('type')).toBe('password');
    fill('channel-name', 'Hook');
    await submit('channel-form');
    expect(text('channel-error')).toBe('url: required for Webhook');
    fill('channel-field-url', 'https://example.com/hook');
    fill('channel-field-method', 'PUT');
    await submit('channel-form');
    const put = env.calls.filter((c) => c.method === 'PUT').pop()!;
    expect((put.body as unknown[])[2]).toEqual({
      name: 'Hook', enabled: true, type: 'webhook', config: { url: 'https://example.com/hook', method: 'PUT', headers: { 'X-Token': 'abc123' } },
    });
    expect(q('channel-row-c-new2')).not.toBeNull();

    check('channel-enabled-c2', true);
    await settle(2);
    expect((env.calls.filter((c) => c.method === 'PUT').pop()!.body as { id: string; enabled: boolean }[]).find((c) => c.id === 'c2')!.enabled).toBe(true);
    const realConfirm = window.confirm;
    window.confirm = () => true;
    try {
      click('channel-delete-c1');
      await settle(2);
    } finally {
      window.confirm = realConfirm;
    }
    expect((env.calls.filter((c) => c.method === 'PUT').pop()!.body as { id: string }[]).map((c) => c.id)).toEqual(['c2', 'c-new2']);
    expect(q('channel-row-c1')).toBeNull();
  });

  it('says "not available" when the server has no channels route yet', async () => {
    history.replaceState(null, '', '/settings');
    const env = setup((_m, u) => (u === '/api/tokens' || u === '/api/users' ? json(200, []) : undefined));
    act(() => render(<App services={env.s} />, root));
    await settle();
    expect(text('channels')).toContain('Notification channels are not available on this server yet.');
  });

  it('tests a channel and shows delivered, HTTP status or error', async () => {
    await openSettings();
    click('channel-test-c1');
    await settle(2);
    expect(text('channel-test-result-c1')).toBe('Delivered (HTTP 200)');
    expect(q('channel-test-result-c1')!.getAttribute('data-delivered')).toBe('true');
    click('channel-test-c2');
    await settle(2);
    expect(text('channel-test-result-c2')).toBe('Not delivered: HTTP 400: Invalid routing key');
  });
});

describe('viewers read only', () => {
  it('sees alerts, rules, silences, maintenance and channels without any write control', async () => {
    const env = await openAlerts('active', 'viewer');
    env.alerts.setActive([alert('a1')]);
    env.runFrame();
    expect(q('alert-row-a1')).not.toBeNull();
    expect(q('alert-ack-a1')).toBeNull();
    expect(q('alert-silence-a1')).toBeNull();

    click('alerts-tab-rules');
    await settle(2);
    expect(q('rule-row-r-cpu')).not.toBeNull();
    expect(q('rules-readonly')).not.toBeNull();
    for (const id of ['rule-new', 'rule-edit-r-cpu', 'rule-delete-r-cpu', 'rule-enabled-r-cpu']) expect(q(id)).toBeNull();

    click('alerts-tab-silences');
    await settle(2);
    expect(q('silence-row-s1')).not.toBeNull();
    for (const id of ['silence-new', 'silence-expire-s1', 'silence-delete-s1']) expect(q(id)).toBeNull();

    click('alerts-tab-maintenance');
    await settle(2);
    expect(q('maint-row-m1')).not.toBeNull();
    for (const id of ['maint-new', 'maint-edit-m1', 'maint-delete-m1', 'maint-toggle-m1']) expect(q(id)).toBeNull();
    expect(env.calls.every((c) => c.method === 'GET')).toBe(true);
    render(null, root);

    history.replaceState(null, '', '/settings');
    const api = alertingApi();
    const settings = setup((m, u, b) => (u === '/api/tokens' ? json(200, []) : api.handler(m, u, b)), 'viewer');
    act(() => render(<App services={settings.s} />, root));
    await settle();
    expect(q('channel-row-c1')).not.toBeNull();
    expect(q('channels-readonly')).not.toBeNull();
    for (const id of ['channel-new', 'channel-edit-c1', 'channel-test-c1', 'channel-delete-c1', 'channel-enabled-c1']) expect(q(id)).toBeNull();
  });

  it('a viewer on the dashboard sees the alerts without Ack', async () => {
    history.replaceState(null, '', '/');
    const { s, alerts, runFrame } = setup(() => undefined, 'viewer');
    alerts.setActive([alert('a1') as Alert]);
    act(() => render(<App services={s} />, root));
    runFrame();
    expect(q('alert-row-a1')).not.toBeNull();
    expect(q('alert-ack-a1')).toBeNull();
  });
});
