// Scenarios: the editor's text helpers (a rule put into the trigger, the
// server's 422 read and placed in the text, run step order), and the
// screens in jsdom against a scripted gateway: the list (rule names, last
// runs, the kill switch), the editor (the raw text posted, a 422 with its
// line), dry runs and runs (URLs and bodies), a run's detail (nested steps
// in path order, refreshed while running) and what each role may do.
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import { Session, type KeyValueStorage } from '../src/api/session';
import type { ScenarioRecord, ScenarioRun, RunStep } from '../src/api/types';
import { App } from '../src/app';
import type { AppServices } from '../src/context';
import { ActionsStore } from '../src/actions/store';
import { AlertsStore } from '../src/live/alerts';
import { HostsStore } from '../src/live/store';
import { RUN_POLL } from '../src/pages/scenarios/ui';
import { matchRoute } from '../src/router';
import {
  comparePaths, locatePath, parseScenarioError, pathDepth, RULE_PLACEHOLDER, setTriggerAlert, TEMPLATE, writtenPath,
} from '../src/scenarios/source';
import { detail } from './fixtures';

// ---- text helpers ----

describe('scenario text', () => {
  it('puts a rule id into the template\'s trigger, replacing a cron or manual one and keeping the rest', () => {
    expect(TEMPLATE).toContain(`alert: ${RULE_PLACEHOLDER}`);
    const withRule = setTriggerAlert(TEMPLATE, 'r-mem');
    expect(withRule).toBe(TEMPLATE.replace(RULE_PLACEHOLDER, 'r-mem'));
    expect(setTriggerAlert('name: n\ntrigger:\n    cron: "0 3 * * *"\n    hosts: [h1]\nsteps: []\n', 'r 1'))
      .toBe('name: n\ntrigger:\n    alert: "r 1"\n    hosts: [h1]\nsteps: []\n');
    expect(setTriggerAlert('name: n\ntrigger:\n  manual: true\n  cron: x\nsteps: []\n', 'r1')).toBe('name: n\ntrigger:\n  alert: r1\nsteps: []\n');
    expect(setTriggerAlert('name: n\ntrigger:\n  hosts: [a]\nsteps: []\n', 'r1')).toBe('name: n\ntrigger:\n  alert: r1\n  hosts: [a]\nsteps: []\n');
    expect(setTriggerAlert('name: n\ntrigger: {cron: "0 * * * *", hosts: [a, b]}\nsteps: []', 'r1')).toBe('name: n\ntrigger: {alert: r1, hosts: [a, b]}\nsteps: []');
    expect(setTriggerAlert('name: n\nsteps: []', 'r1')).toBe('name: n\ntrigger:\n  alert: r1\nsteps: []');
    const json = setTriggerAlert('{"name": "n", "trigger": {"manual": true, "hosts": ["h1"]}, "steps": []}', 'r1');
    expect(JSON.parse(json)).toEqual({ name: 'n', trigger: { alert: 'r1', hosts: ['h1'] }, steps: [] });
  });

  it('reads the field path and the line and column of a 422', () => {
    expect(parseScenarioError('steps[1].params.service: is required for restart_service')).toEqual({
      field: 'steps[1].params.service', line: null, column: null, message: 'steps[1].params.service: is required for restart_service',
    });
    expect(parseScenarioError('steps[0].timeout: steps[0].timeout: invalid type: string "soon", expected u32 at line 7 column 14'))
      .toMatchObject({ field: 'steps[0].timeout', line: 7, column: 14 });
    expect(parseScenarioError('?: mapping values are not allowed in this context at line 2 column 10')).toMatchObject({ field: null, line: 2, column: 10 });
    expect(parseScenarioError('source: missing field `steps`')).toMatchObject({ field: 'source', line: null });
    expect(parseScenarioError('you are not an admin')).toMatchObject({ field: null, line: null, column: null });
  });

  it('finds where a path is written in YAML: keys, list items, on_fail, a missing key\'s parent, flow mappings', () => {
    const src = [
      'name: n', //                          1
      'trigger:', //                         2
      '  alert: r1', //                      3
      'steps:', //                           4
      '  - id: restart', //                  5
      '    service: action', //              6
      '    params:', //                      7
      '      host_id: "{{alert.host_id}}"', // 8
      '    on_fail:', //                     9
      '    - id: page', //                   10
      '      service: alert', //             11
      '      params: {message: down, channel: ops}', // 12
      '  # a comment', //                    13
      '  - id: notify', //                   14
      '    service: alert', //               15
    ].join('\n');
    expect(locatePath(src, 'trigger.alert')).toEqual({ line: 3, column: 3, exact: true });
    expect(locatePath(src, 'steps[1]')).toEqual({ line: 14, column: 3, exact: true });
    expect(locatePath(src, 'steps[1].service')).toEqual({ line: 15, column: 5, exact: true });
    expect(locatePath(src, 'steps[0].params.host_id')).toEqual({ line: 8, column: 7, exact: true });
    expect(locatePath(src, 'steps[0].params.service')).toEqual({ line: 7, column: 5, exact: false });
    expect(locatePath(src, 'steps[0].on_fail[0].service')).toEqual({ line: 11, column: 7, exact: true });
    expect(locatePath(src, 'steps[0].on_fail[0].params.channel')).toEqual({ line: 12, column: 31, exact: true });
    expect(locatePath(src, 'steps[0].on_fail[0].params.nope')).toMatchObject({ line: 12, exact: false });
    expect(locatePath(src, 'guards.cooldown')).toBeNull();
    expect(locatePath(src, 'source')).toBeNull();
    expect(locatePath(TEMPLATE, 'steps[1].params.message')).toEqual({ line: 19, column: 7, exact: true });
  });

  it('finds where a path is written in JSON', () => {
    const src = '{\n  "name": "n",\n  "steps": [\n    {"id": "a", "params": {"service": "x"}},\n    {"id": "b"}\n  ]\n}';
    expect(locatePath(src, 'steps[0].params.service')).toEqual({ line: 4, column: 28, exact: true });
    expect(locatePath(src, 'steps[1].id')).toEqual({ line: 5, column: 6, exact: true });
    expect(locatePath(src, 'steps[1].params')).toEqual({ line: 5, column: 5, exact: false });
  });

  it('orders run steps by path, on_fail under its step', () => {
    const paths = ['1', '0.on_fail.1', '10', '0', '2', '0.on_fail.0', '0.on_fail.0.on_fail.0'];
    expect([...paths].sort(comparePaths)).toEqual(['0', '0.on_fail.0', '0.on_fail.0.on_fail.0', '0.on_fail.1', '1', '2', '10']);
    expect(pathDepth('0.on_fail.0.on_fail.0')).toBe(2);
    expect(writtenPath('2.on_fail.0')).toBe('steps[2].on_fail[0]');
  });

  it('routes the scenario pages', () => {
    expect(matchRoute('/scenarios')).toEqual({ name: 'scenarios' });
    expect(matchRoute('/scenarios/new')).toEqual({ name: 'scenario', id: null });
    expect(matchRoute('/scenarios/sc%2F1')).toEqual({ name: 'scenario', id: 'sc/1' });
    expect(matchRoute('/scenarios/runs/run-1')).toEqual({ name: 'scenario_run', id: 'run-1' });
  });
});

// ---- screens ----

function memStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

interface Call { method: string; url: string; text: string | undefined; type: string | undefined }
type Handler = (method: string, url: string, text: string | undefined) => Response | undefined;
const json = (status: number, body: unknown) => new Response(status === 204 ? null : JSON.stringify(body), { status });

function setup(handler: Handler, role = 'admin') {
  const session = new Session(memStorage());
  session.setFromPair({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900, user: { id: 'u', email: `${role}@example.com`, tenant_id: 't1', role } });
  const calls: Call[] = [];
  const api = new ApiClient(session, async (url, init) => {
    const method = init?.method ?? 'GET';
    const text = typeof init?.body === 'string' ? init.body : undefined;
    const type = (init?.headers as Record<string, string> | undefined)?.['content-type'];
    calls.push({ method, url, text, type });
    return handler(method, url, text) ?? json(404, { error: { code: 'not_found', message: `no api route ${url}` } });
  });
  const frames: (() => void)[] = [];
  const store = new HostsStore((cb) => frames.push(cb));
  store.setHosts([detail('in3', { name: 'IN3' }), detail('in4', { name: 'IN4' })]);
  const s: AppServices = {
    api, session, store, socket: null, socketState: () => 'open', subscribeSocketState: () => () => {}, reloadHosts: async () => {},
    alerts: new AlertsStore((cb) => frames.push(cb)), reloadAlerts: async () => {}, actions: new ActionsStore((cb) => frames.push(cb)),
  };
  return { s, calls };
}

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.appendChild(root);
  vi.spyOn(window, 'scrollTo').mockImplementation(() => {});
});
afterEach(() => {
  render(null, root);
  root.remove();
  vi.restoreAllMocks();
  RUN_POLL.ms = 2000;
});

const q = <T extends Element = HTMLElement>(testid: string) => root.querySelector<T>(`[data-testid="${testid}"]`);
const text = (testid: string) => q(testid)?.textContent ?? null;
const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });
async function waitFor(testid: string, what = () => !!q(testid)) {
  for (let waited = 0; !what() && waited < 5000; waited += 10) {
    await act(async () => { await new Promise((r) => setTimeout(r, 10)); });
  }
  expect(what(), `${testid} rendered`).toBe(true);
}
async function click(testid: string) {
  await act(async () => {
    q<HTMLButtonElement>(testid)!.click();
    await new Promise((r) => setTimeout(r, 0));
  });
  for (let i = 0; i < 4; i += 1) await flush();
}
function fill(testid: string, value: string) {
  const el = q<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(testid)!;
  act(() => {
    el.value = value;
    el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', { bubbles: true }));
  });
}

const T = '2026-12-06T12:00:00.000Z';
const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();

function scenario(id: string, over: Partial<ScenarioRecord['spec']> = {}, source = TEMPLATE.replace(RULE_PLACEHOLDER, 'r-mem')): ScenarioRecord {
  return {
    id, tenant_id: 't1', source,
    spec: {
      name: id, description: '', enabled: true, trigger: { alert: 'r-mem', cron: null, manual: false, hosts: [] },
      guards: { cooldown: '10m', max_attempts: 3, window: '1h', host_concurrency: 1, fleet_concurrency: 5, skip_silenced: true },
      steps: [], ...over,
    },
    created_at: T, updated_at: T, updated_by: 'admin@example.com',
  };
}

function step(path: string, status: RunStep['status'], over: Partial<RunStep> = {}): RunStep {
  return { path, step_id: `s${path}`, kind: 'action', status, params: {}, action_id: null, detail: null, started_at: null, finished_at: null, ...over };
}

function run(id: string, over: Partial<ScenarioRun> = {}): ScenarioRun {
  return {
    id, tenant_id: 't1', scenario_id: 'sc-mem', scenario_name: 'auto_restart', host_id: 'in3', trigger: 'alert', alert_id: 'al-1',
    status: 'success', reason: null, started_at: ago(120), finished_at: ago(110), steps: [], ...over,
  };
}

const RULES = [
  { id: 'r-mem', name: 'Memory high', condition: 'host.memory.percent > 90', duration: '5m', severity: 'warning', enabled: true },
  { id: 'r-cpu', name: 'CPU high', condition: 'host.cpu.percent > 90', duration: '5m', severity: 'warning', enabled: true },
];

/** A scripted orchestrator behind the gateway: scenarios, runs, rules and the kill switch. */
function gateway(opts: {
  scenarios?: ScenarioRecord[];
  runs?: ScenarioRun[];
  enabled?: boolean;
  answer?: Handler;
} = {}) {
  const scenarios = opts.scenarios ?? [];
  const runs = opts.runs ?? [];
  let settings = { tenant_id: 't1', enabled: opts.enabled ?? true, updated_at: ago(3 * 3600), updated_by: 'ops@example.com' };
  const handler: Handler = (method, url, body) => {
    const custom = opts.answer?.(method, url, body);
    if (custom) return custom;
    const [path, qs] = url.split('?') as [string, string | undefined];
    const query = new URLSearchParams(qs ?? '');
    if (path === '/api/alerts/rules') return json(200, RULES);
    if (path === '/api/config/scenarios') {
      if (method === 'PUT') settings = { ...settings, enabled: (JSON.parse(body!) as { enabled: boolean }).enabled, updated_at: new Date().toISOString(), updated_by: 'me@example.com' };
      return json(200, settings);
    }
    if (path === '/api/scenarios' && method === 'GET') return json(200, scenarios);
    if (path === '/api/scenarios/runs') {
      const id = query.get('scenario_id');
      return json(200, runs.filter((r) => !id || r.scenario_id === id).slice(0, Number(query.get('limit') ?? 50)));
    }
    const r = /^\/api\/scenarios\/runs\/(.+)$/.exec(path);
    if (r) {
      const found = runs.find((x) => x.id === decodeURIComponent(r[1]!));
      return found ? json(200, found) : undefined;
    }
    const m = /^\/api\/scenarios\/([^/]+)$/.exec(path);
    if (m && method === 'GET') {
      const found = scenarios.find((x) => x.id === decodeURIComponent(m[1]!));
      return found ? json(200, found) : undefined;
    }
    return undefined;
  };
  return handler;
}

async function open(path: string, handler: Handler, role = 'admin', ready = 'scenarios-page') {
  history.replaceState(null, '', path);
  const env = setup(handler, role);
  act(() => render(<App services={env.s} />, root));
  await waitFor(ready);
  for (let i = 0; i < 6; i += 1) await flush();
  return env;
}

describe('Scenarios list', () => {
  const list = [
    scenario('sc-mem', { name: 'auto_restart', description: 'restart php' }),
    scenario('sc-cron', { name: 'nightly', trigger: { alert: null, cron: '0 3 * * *', manual: false, hosts: ['in3', 'in4'] } }),
    scenario('sc-man', { name: 'by hand', enabled: false, trigger: { alert: null, cron: null, manual: true, hosts: [] } }),
    scenario('sc-gone', { name: 'orphan', trigger: { alert: 'r-deleted', cron: null, manual: false, hosts: [] } }),
  ];
  const runs = [
    run('run-dry', { scenario_id: 'sc-mem', status: 'dry_run', started_at: ago(30) }),
    run('run-2', { scenario_id: 'sc-mem', status: 'failed', started_at: ago(600) }),
    run('run-1', { scenario_id: 'sc-mem', status: 'success', started_at: ago(7200) }),
    run('run-c', { scenario_id: 'sc-cron', status: 'skipped', reason: 'automation is off', started_at: ago(3 * 86400) }),
  ];

  it('lists scenarios with their trigger (rules by name), enabled, last run; the kill switch with who and when', async () => {
    const { calls } = await open('/scenarios', gateway({ scenarios: list, runs }));
    await waitFor('scenario-last-run-sc-mem', () => q('scenario-last-run-sc-mem')?.getAttribute('data-status') === 'failed');
    expect([...root.querySelectorAll('[data-testid^="scenario-row-"]')].map((e) => e.getAttribute('data-testid'))).toEqual([
      'scenario-row-sc-mem', 'scenario-row-sc-man', 'scenario-row-sc-cron', 'scenario-row-sc-gone',
    ]);
    expect(text('scenario-trigger-sc-mem')).toBe('alert: Memory high');
    expect(text('scenario-trigger-sc-cron')).toBe('cron: 0 3 * * * · 2 hosts');
    expect(text('scenario-trigger-sc-man')).toBe('manual');
    expect(text('scenario-trigger-sc-gone')).toBe('alert: r-deleted (no such rule)');
    expect(q('scenario-row-sc-man')!.getAttribute('data-enabled')).toBe('false');
    expect(text('scenario-enabled-sc-man')).toBe('disabled');
    expect(text('scenario-enabled-sc-mem')).toBe('enabled');
    // the last run that is not a dry run, with its time
    expect(text('scenario-last-run-sc-mem')).toContain('10 minutes ago');
    expect(q('scenario-last-run-sc-mem')!.querySelector('a')!.getAttribute('href')).toBe('/scenarios/runs/run-2');
    expect(q('scenario-last-run-sc-cron')!.getAttribute('data-status')).toBe('skipped');
    expect(text('scenario-last-run-sc-man')).toBe('never ran');
    expect(calls.filter((c) => c.url.startsWith('/api/scenarios/runs'))).toHaveLength(1);
    // the kill switch
    expect(q('scenarios-automation')!.getAttribute('data-enabled')).toBe('true');
    expect(q('scenarios-kill-switch')!.getAttribute('aria-checked')).toBe('true');
    expect(text('scenarios-kill-switch-changed')).toBe('Turned on by ops@example.com 3 hours ago');
    expect(q('scenario-new')!.getAttribute('href')).toBe('/scenarios/new');
  });

  it('flips the kill switch off and on after confirming, with the PUT body', async () => {
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(false);
    const { calls } = await open('/scenarios', gateway({ scenarios: list, runs }), 'operator');
    await click('scenarios-kill-switch');
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(confirm.mock.calls[0]![0]).toMatch(/OFF/);
    expect(calls.some((c) => c.method === 'PUT')).toBe(false);
    confirm.mockReturnValue(true);
    await click('scenarios-kill-switch');
    const puts = () => calls.filter((c) => c.method === 'PUT');
    expect(puts()).toEqual([{ method: 'PUT', url: '/api/config/scenarios', text: '{"enabled":false}', type: 'application/json' }]);
    expect(q('scenarios-kill-switch')!.getAttribute('data-enabled')).toBe('false');
    expect(q('scenarios-automation')!.getAttribute('data-enabled')).toBe('false');
    expect(text('scenarios-kill-switch-changed')).toBe('Turned off by me@example.com just now');
    await click('scenarios-kill-switch');
    expect(confirm.mock.calls[2]![0]).toMatch(/ON/);
    expect(puts()[1]!.text).toBe('{"enabled":true}');
    expect(q('scenarios-kill-switch')!.getAttribute('data-enabled')).toBe('true');
    // operators switch but do not write scenarios
    expect(q('scenario-new')).toBeNull();
  });

  it('gives viewers the state of the switch but no control', async () => {
    await open('/scenarios', gateway({ scenarios: list, runs, enabled: false }), 'viewer');
    await waitFor('scenarios-automation');
    expect(q('scenarios-automation')!.getAttribute('data-enabled')).toBe('false');
    expect(text('scenarios-automation')).toContain('Automation is off');
    expect(q('scenarios-kill-switch')).toBeNull();
    expect(q('scenario-new')).toBeNull();
    expect(q('scenario-row-sc-mem')).not.toBeNull();
  });

  it('says when the server has no scenarios yet', async () => {
    await open('/scenarios', () => undefined, 'admin');
    await waitFor('scenarios-error');
    expect(text('scenarios-error')).toContain('not available on this server yet');
  });
});

describe('Scenario editor', () => {
  it('creates a scenario from the template and a picked rule, posting the text as written', async () => {
    const created = scenario('sc-new');
    const { calls } = await open('/scenarios/new', gateway({
      scenarios: [created],
      answer: (method, url) => (method === 'POST' && url === '/api/scenarios' ? json(201, created) : undefined),
    }), 'admin', 'scenario-editor');
    const area = q<HTMLTextAreaElement>('scenario-source')!;
    expect(area.value).toBe(TEMPLATE);
    expect(area.readOnly).toBe(false);
    expect(q('scenario-delete')).toBeNull();
    await waitFor('scenario-rule-picker', () => !!q('scenario-rule-picker')?.querySelector('option[value="r-mem"]'));
    fill('scenario-rule-picker', 'r-mem');
    expect(area.value).toBe(TEMPLATE.replace(RULE_PLACEHOLDER, 'r-mem'));
    const written = area.value.replace('service: php-fpm', 'service: php8.2-fpm   # the pool');
    fill('scenario-source', written);
    await click('scenario-save');
    const posts = calls.filter((c) => c.method === 'POST');
    expect(posts).toEqual([{ method: 'POST', url: '/api/scenarios', text: written, type: 'application/yaml' }]);
    await waitFor('scenario-page', () => location.pathname === '/scenarios/sc-new' && q('scenario-page')?.getAttribute('data-id') === 'sc-new');
    expect(calls.some((c) => c.method === 'GET' && c.url === '/api/scenarios/sc-new')).toBe(false);
  });

  it('shows a 422 under the editor with the path, pointing at the line it names', async () => {
    const s = scenario('sc-mem', { name: 'auto_restart' });
    let message = 'steps[0].params.service: "php fpm" contains \' \'; only letters, digits and @ . _ : - are allowed';
    const { calls } = await open('/scenarios/sc-mem', gateway({
      scenarios: [s],
      answer: (method) => (method === 'PUT' ? json(422, { error: { code: 'unprocessable', message } }) : undefined),
    }), 'admin', 'scenario-editor');
    expect(q<HTMLButtonElement>('scenario-save')!.disabled).toBe(true); // nothing changed yet
    const edited = s.source.replace('service: php-fpm', 'service: php fpm');
    fill('scenario-source', edited);
    expect(q('scenario-editor')!.getAttribute('data-dirty')).toBe('true');
    await click('scenario-save');
    expect(calls.filter((c) => c.method === 'PUT')).toEqual([{ method: 'PUT', url: '/api/scenarios/sc-mem', text: edited, type: 'application/yaml' }]);
    expect(text('scenario-error')).toBe(message);
    expect(q('scenario-error')!.getAttribute('data-field')).toBe('steps[0].params.service');
    const caret = q('scenario-error-caret')!;
    expect(caret.getAttribute('data-line')).toBe('14');
    expect(caret.textContent).toContain('14 |       service: php fpm');
    expect(text('scenario-error-goto')).toBe('Go to line 14');
    await click('scenario-error-goto');
    const area = q<HTMLTextAreaElement>('scenario-source')!;
    expect(area.value.slice(area.selectionStart, area.selectionEnd)).toBe('service: php fpm');
    expect(text('scenario-cursor')).toBe('Ln 14, Col 7');

    // a YAML error names its line and column
    message = 'steps[0].timeout: steps[0].timeout: invalid type: string "soon", expected a duration at line 12 column 14';
    fill('scenario-source', edited.replace('    action: restart_service\n', '    action: restart_service\n    timeout: soon\n'));
    await click('scenario-save');
    expect(q('scenario-error-caret')!.getAttribute('data-line')).toBe('12');
    expect(q('scenario-error-caret')!.getAttribute('data-column')).toBe('14');
    expect(q('scenario-error-caret')!.textContent).toContain('12 |     timeout: soon\n' + ' '.repeat(5 + 13) + '^');
  });

  it('deletes after confirming', async () => {
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true);
    const { calls } = await open('/scenarios/sc-mem', gateway({
      scenarios: [scenario('sc-mem', { name: 'auto_restart' })],
      answer: (method) => (method === 'DELETE' ? json(204, null) : undefined),
    }), 'admin', 'scenario-editor');
    await click('scenario-delete');
    expect(confirm.mock.calls[0]![0]).toContain('Delete scenario "auto_restart"?');
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.url)).toEqual(['/api/scenarios/sc-mem']);
    expect(location.pathname).toBe('/scenarios');
  });

  it('dry-runs on a chosen host and runs now without one, showing the run and refreshing it while it runs', async () => {
    RUN_POLL.ms = 20;
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true);
    const s = scenario('sc-mem', { name: 'auto_restart' });
    const dry = run('run-dry', {
      status: 'dry_run', reason: 'dry run: nothing requested; a run now would start', finished_at: ago(0), started_at: ago(0),
      steps: [
        step('0', 'skipped', { step_id: 'restart_php', params: { host_id: 'in3', service: 'php-fpm' }, detail: 'dry run: nothing requested' }),
        step('1', 'skipped', { step_id: 'notify', kind: 'notify', params: { message: 'PHP-FPM restarted automatically on IN3' } }),
      ],
    });
    const started = run('run-live', { status: 'running', host_id: null, trigger: 'manual', alert_id: null, started_at: ago(0), finished_at: null,
      steps: [step('0', 'running', { action_id: 'act-9' }), step('1', 'pending')] });
    const runs: ScenarioRun[] = [];
    let polls = 0;
    const { calls } = await open('/scenarios/sc-mem', gateway({
      scenarios: [s], runs,
      answer: (method, url) => {
        if (method === 'POST' && url === '/api/scenarios/sc-mem/run?dry_run=true') {
          runs.unshift(dry);
          return json(200, dry);
        }
        if (method === 'POST' && url === '/api/scenarios/sc-mem/run') {
          runs.unshift(started);
          return json(202, started);
        }
        if (url === '/api/scenarios/runs/run-live') {
          polls += 1;
          if (polls >= 2) {
            runs[0] = { ...started, status: 'success', finished_at: ago(0), steps: [step('0', 'success', { action_id: 'act-9' }), step('1', 'success')] };
          }
          return json(200, runs[0]);
        }
        return undefined;
      },
    }), 'operator', 'scenario-run-panel');
    expect(q('scenario-save')).toBeNull();
    expect(q('scenario-delete')).toBeNull();
    expect(q('scenario-rule-picker')).toBeNull();
    expect(q<HTMLTextAreaElement>('scenario-source')!.readOnly).toBe(true);
    expect(text('scenario-runs-empty')).toBe('No runs yet.');

    fill('scenario-run-host', 'in3');
    await click('scenario-dry-run');
    const posts = () => calls.filter((c) => c.method === 'POST');
    expect(posts()).toEqual([{ method: 'POST', url: '/api/scenarios/sc-mem/run?dry_run=true', text: '{"host_id":"in3"}', type: 'application/json' }]);
    expect(confirm).not.toHaveBeenCalled();
    expect(q('scenario-run-result')!.getAttribute('data-status')).toBe('dry_run');
    expect(text('run-reason')).toBe('dry run: nothing requested; a run now would start');
    expect(text('step-params-0')).toContain('service');
    expect(text('step-params-0')).toContain('php-fpm');
    expect(text('step-params-1')).toContain('PHP-FPM restarted automatically on IN3');
    await waitFor('run-row-run-dry');

    fill('scenario-run-host', '');
    await click('scenario-run');
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(posts()[1]).toEqual({ method: 'POST', url: '/api/scenarios/sc-mem/run', text: undefined, type: undefined });
    expect(q('scenario-run-result')!.getAttribute('data-status')).toBe('running');
    expect(q('step-action-0')!.getAttribute('href')).toBe('/actions/act-9');
    await waitFor('scenario-run-result', () => q('scenario-run-result')?.getAttribute('data-status') === 'success');
    expect(q('run-step-1')!.getAttribute('data-status')).toBe('success');
    await waitFor('run-row-run-live', () => q('run-row-run-live')?.getAttribute('data-status') === 'success');
  });

  it('shows a run\'s refusal (422 on host_id) under the run buttons', async () => {
    await open('/scenarios/sc-mem', gateway({
      scenarios: [scenario('sc-mem')],
      answer: (method) => (method === 'POST'
        ? json(422, { error: { code: 'unprocessable', message: 'host_id: give the host whose firing alert the run acts on' } })
        : undefined),
    }), 'admin', 'scenario-run-panel');
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    await click('scenario-run');
    expect(text('scenario-run-error')).toBe('host_id: give the host whose firing alert the run acts on');
    expect(q('scenario-run-result')).toBeNull();
  });

  it('gives viewers the text and the runs, no control', async () => {
    await open('/scenarios/sc-mem', gateway({ scenarios: [scenario('sc-mem')], runs: [run('run-1')] }), 'viewer', 'scenario-editor');
    await waitFor('run-row-run-1');
    expect(q<HTMLTextAreaElement>('scenario-source')!.readOnly).toBe(true);
    expect(q('scenario-readonly')).not.toBeNull();
    for (const id of ['scenario-save', 'scenario-delete', 'scenario-rule-picker', 'scenario-run-panel', 'scenario-dry-run', 'scenario-run']) {
      expect(q(id), id).toBeNull();
    }
    expect(text('scenario-trigger')).toBe('alert: Memory high');
    expect(q('run-row-run-1')!.getAttribute('data-status')).toBe('success');
  });
});

describe('Run detail', () => {
  it('renders the run and its steps in path order, nested on_fail indented, refreshed while running', async () => {
    RUN_POLL.ms = 20;
    let current = run('run-7', {
      status: 'running', reason: null, finished_at: null,
      steps: [
        step('1', 'pending', { step_id: 'notify', kind: 'notify' }),
        step('0.on_fail.0', 'running', { step_id: 'page', kind: 'notify', params: { message: 'still down on IN3' } }),
        step('0', 'failed', { step_id: 'restart_php', params: { host_id: 'in3', service: 'php-fpm' }, action_id: 'act-1', detail: 'exit 1: unit not found', started_at: ago(100), finished_at: ago(98) }),
        step('0.on_fail.0.on_fail.0', 'pending', { step_id: 'last_resort' }),
      ],
    });
    let gets = 0;
    await open('/scenarios/runs/run-7', gateway({
      answer: (_method, url) => {
        if (url !== '/api/scenarios/runs/run-7') return undefined;
        gets += 1;
        return json(200, current);
      },
    }), 'viewer', 'run-detail');
    expect(q('run-detail')!.getAttribute('data-status')).toBe('running');
    const order = () => [...root.querySelectorAll('[data-testid^="run-step-"]')].map((e) => [e.getAttribute('data-testid')!.slice(9), e.getAttribute('data-status'), e.getAttribute('data-depth')]);
    expect(order()).toEqual([
      ['0', 'failed', '0'], ['0.on_fail.0', 'running', '1'], ['0.on_fail.0.on_fail.0', 'pending', '2'], ['1', 'pending', '0'],
    ]);
    expect(text('step-detail-0')).toBe('exit 1: unit not found');
    expect(q('step-action-0')!.getAttribute('href')).toBe('/actions/act-1');
    expect(q('step-action-1')).toBeNull();
    expect(text('run-trigger')).toBe('alert');
    expect(text('run-host')).toBe('IN3');
    expect(text('run-alert')).toBe('al-1');
    expect(q('run-scenario-link')!.getAttribute('href')).toBe('/scenarios/sc-mem');

    current = { ...current, status: 'failed', reason: 'step restart_php failed', finished_at: ago(0), steps: current.steps.map((s) => ({ ...s, status: s.status === 'failed' ? 'failed' : 'success' })) };
    await waitFor('run-detail', () => q('run-detail')?.getAttribute('data-status') === 'failed');
    expect(text('run-reason')).toBe('step restart_php failed');
    expect(order().map((x) => x[1])).toEqual(['failed', 'success', 'success', 'success']);
    const seen = gets;
    for (let i = 0; i < 5; i += 1) await act(async () => { await new Promise((r) => setTimeout(r, 30)); });
    expect(gets).toBe(seen); // finished: no more polling
  });

  it('says when a run does not exist', async () => {
    await open('/scenarios/runs/nope', gateway(), 'viewer', 'run-not-found');
  });
});
