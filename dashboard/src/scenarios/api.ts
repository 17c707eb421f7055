// The scenario routes of the gateway (loaded with the Scenarios page, not
// at first load) and their answers made safe to render. Scenarios are sent
// as the text the user wrote (YAML or JSON, as-is): the orchestrator keeps
// it and answers 422 naming the field (`steps[1].params.service: …`).
import { ApiError, RawBody, type ApiClient } from '../api/client';
import { mapLimit } from '../util';
import {
  RUN_STATUSES, STEP_STATUSES, type RunStatus, type RunsQuery, type RunStep, type ScenarioGuards, type ScenarioRecord,
  type ScenarioRun, type ScenarioSettings, type ScenarioSpec, type ScenarioStepSpec, type StepStatus,
} from '../api/types';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : dflt);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** Params as strings (numbers and booleans written as text). */
function params(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string') out[k] = x;
      else if (typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
    }
  }
  return out;
}
/** A duration the server sent as text ("10m"), or as seconds. */
function duration(v: unknown, dflt: string): string {
  if (typeof v === 'string' && v) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return `${v}s`;
  return dflt;
}

function normalizeStepSpec(raw: unknown): ScenarioStepSpec {
  const r = isObj(raw) ? raw : {};
  return {
    id: str(r.id), service: str(r.service), action: str(r.action), params: params(r.params),
    timeout: typeof r.timeout === 'string' || typeof r.timeout === 'number' ? duration(r.timeout, '') || null : null,
    on_fail: arr(r.on_fail).map(normalizeStepSpec),
  };
}

function normalizeGuards(raw: unknown): ScenarioGuards {
  const g = isObj(raw) ? raw : {};
  return {
    cooldown: duration(g.cooldown, '10m'), max_attempts: num(g.max_attempts, 3), window: duration(g.window, '1h'),
    host_concurrency: num(g.host_concurrency, 1), fleet_concurrency: num(g.fleet_concurrency, 5), skip_silenced: g.skip_silenced !== false,
  };
}

function normalizeSpec(raw: unknown): ScenarioSpec {
  const s = isObj(raw) ? raw : {};
  const t = isObj(s.trigger) ? s.trigger : {};
  return {
    name: str(s.name), description: str(s.description), enabled: s.enabled !== false,
    trigger: { alert: strOrNull(t.alert), cron: strOrNull(t.cron), manual: t.manual === true, hosts: arr(t.hosts).filter((h): h is string => typeof h === 'string') },
    guards: normalizeGuards(s.guards),
    steps: arr(s.steps).map(normalizeStepSpec),
  };
}

export function normalizeScenario(raw: unknown): ScenarioRecord {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') throw new ApiError(500, 'bad_answer', 'the server sent a scenario without an id');
  const spec = normalizeSpec(raw.spec);
  return {
    id: raw.id, tenant_id: str(raw.tenant_id), source: str(raw.source), spec,
    created_at: str(raw.created_at), updated_at: str(raw.updated_at), updated_by: str(raw.updated_by),
  };
}

function stepStatus(v: unknown): StepStatus {
  return (STEP_STATUSES as readonly unknown[]).includes(v) ? (v as StepStatus) : 'pending';
}

function normalizeRunStep(raw: unknown): RunStep {
  const r = isObj(raw) ? raw : {};
  return {
    path: str(r.path), step_id: str(r.step_id), kind: str(r.kind), status: stepStatus(r.status), params: params(r.params),
    action_id: strOrNull(r.action_id), detail: strOrNull(r.detail), started_at: strOrNull(r.started_at), finished_at: strOrNull(r.finished_at),
  };
}

export function normalizeRun(raw: unknown): ScenarioRun {
  if (!isObj(raw) || typeof raw.id !== 'string' || raw.id === '') throw new ApiError(500, 'bad_answer', 'the server sent a run without an id');
  const status = (RUN_STATUSES as readonly unknown[]).includes(raw.status) ? (raw.status as RunStatus) : 'failed';
  return {
    id: raw.id, tenant_id: str(raw.tenant_id), scenario_id: str(raw.scenario_id), scenario_name: str(raw.scenario_name),
    host_id: strOrNull(raw.host_id), trigger: str(raw.trigger), alert_id: strOrNull(raw.alert_id), status,
    reason: strOrNull(raw.reason), started_at: str(raw.started_at), finished_at: strOrNull(raw.finished_at),
    steps: arr(raw.steps).map(normalizeRunStep),
  };
}

export function normalizeSettings(raw: unknown): ScenarioSettings {
  const r = isObj(raw) ? raw : {};
  return { tenant_id: str(r.tenant_id), enabled: r.enabled !== false, updated_at: strOrNull(r.updated_at), updated_by: strOrNull(r.updated_by) };
}

/** Items of a list answer (a bare array, or wrapped in `{key: [...]}`); items that cannot be read are left out. */
function list<T>(raw: unknown, key: string, fn: (x: unknown) => T): T[] {
  const items = Array.isArray(raw) ? raw : isObj(raw) && Array.isArray(raw[key]) ? (raw[key] as unknown[]) : null;
  if (!items) throw new ApiError(500, 'bad_answer', `the server did not send a list of ${key}`);
  const out: T[] = [];
  for (const x of items) {
    try {
      out.push(fn(x));
    } catch {
      // skip what cannot be shown
    }
  }
  return out;
}

const enc = encodeURIComponent;

export async function listScenarios(api: ApiClient): Promise<ScenarioRecord[]> {
  return list(await api.request('GET', '/api/scenarios'), 'scenarios', normalizeScenario);
}

export async function getScenario(api: ApiClient, id: string): Promise<ScenarioRecord> {
  return normalizeScenario(await api.request('GET', `/api/scenarios/${enc(id)}`));
}

/** Creates (`id` null: POST, 201) or replaces (PUT) a scenario from its text, sent as written. */
export async function saveScenario(api: ApiClient, id: string | null, source: string): Promise<ScenarioRecord> {
  const body = new RawBody(source, 'application/yaml');
  return normalizeScenario(await (id === null ? api.request('POST', '/api/scenarios', body) : api.request('PUT', `/api/scenarios/${enc(id)}`, body)));
}

export async function deleteScenario(api: ApiClient, id: string): Promise<void> {
  await api.request('DELETE', `/api/scenarios/${enc(id)}`);
}

/** A manual run (202, running) or a dry run (200, the steps rendered, nothing requested); `hostId`: the host it acts on. */
export async function runScenario(api: ApiClient, id: string, opts: { dryRun: boolean; hostId?: string }): Promise<ScenarioRun> {
  const path = `/api/scenarios/${enc(id)}/run${opts.dryRun ? '?dry_run=true' : ''}`;
  return normalizeRun(await api.request('POST', path, opts.hostId ? { host_id: opts.hostId } : undefined));
}

/** Newest first, steps included; `before`: the last run id of the previous page. */
export async function listRuns(api: ApiClient, q: RunsQuery = {}): Promise<ScenarioRun[]> {
  const p = new URLSearchParams();
  if (q.scenario_id) p.set('scenario_id', q.scenario_id);
  if (q.before) p.set('before', q.before);
  if (q.limit) p.set('limit', String(q.limit));
  const qs = p.toString();
  return list(await api.request('GET', `/api/scenarios/runs${qs ? `?${qs}` : ''}`), 'runs', normalizeRun);
}

export async function getRun(api: ApiClient, id: string): Promise<ScenarioRun> {
  return normalizeRun(await api.request('GET', `/api/scenarios/runs/${enc(id)}`));
}

export async function getSettings(api: ApiClient): Promise<ScenarioSettings> {
  return normalizeSettings(await api.request('GET', '/api/config/scenarios'));
}

/** The kill switch (operators and admins). */
export async function putSettings(api: ApiClient, enabled: boolean): Promise<ScenarioSettings> {
  return normalizeSettings(await api.request('PUT', '/api/config/scenarios', { enabled }));
}

/** Runs asked for at once to find each scenario's last run. */
export const LAST_RUNS_PAGE = 100;

/**
 * Each scenario's newest run that is not a dry run: from the tenant's
 * latest runs, then (when that page was full) per scenario still missing.
 */
export async function lastRuns(api: ApiClient, scenarioIds: string[]): Promise<Map<string, ScenarioRun>> {
  const out = new Map<string, ScenarioRun>();
  const take = (runs: ScenarioRun[]) => {
    for (const r of runs) if (r.status !== 'dry_run' && !out.has(r.scenario_id)) out.set(r.scenario_id, r);
  };
  const recent = await listRuns(api, { limit: LAST_RUNS_PAGE });
  take(recent);
  if (recent.length >= LAST_RUNS_PAGE) {
    const missing = scenarioIds.filter((id) => !out.has(id));
    await mapLimit(missing, 4, async (id) => take(await listRuns(api, { scenario_id: id, limit: 10 }).catch(() => [])));
  }
  return out;
}
