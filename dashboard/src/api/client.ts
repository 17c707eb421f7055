// REST client for the gateway. Adds the Bearer token, turns error bodies
// into ApiError (keeping the server's message), and on a 401 refreshes the
// access token once (one refresh in flight at a time) and retries; when the
// refresh fails the session is cleared, which sends the app to /login.

import {
  normalizeAction, normalizeActions, normalizeAlert, normalizeAlerts, normalizeChannels, normalizeChannelTest, normalizeContainers, normalizeHistoryPage,
  normalizeHostDetail, normalizeHostList, normalizeHourly, normalizeMaintenance, normalizeMaintenanceList,
  normalizeMetricsRange, normalizePreview, normalizeRule, normalizeRules, normalizeServices, normalizeSilence,
  normalizeSilences, normalizeTokens, normalizeUser, normalizeUsers, parseErrorBody,
} from './normalize';
import { normalizeDaily } from './normalize';
import { jwtExpiry, Session } from './session';
import type { DailyAnswer } from './types';
import type {
  ActionParams, ActionRecord, ActionsQuery, ActionType, ActiveAlertsFilter, AgentToken, Alert, AlertHistoryPage, AlertHistoryQuery, ChannelInput, ChannelRecord, ChannelTestResult,
  ContainerInfo, CreatedToken, CreatedUser, HostDetail, HourlyAnswer, MaintenanceInput, MaintenanceRecord, MetricsRangeAnswer,
  KnownRole, NewUser, RuleCheckBody, RuleInput, RulePreview, RuleRecord, ServiceInfo, SilenceInput, SilenceRecord, TokenPair, UserInfo,
} from './types';

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
  get notFound(): boolean {
    return this.status === 404;
  }
}

type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** A request body sent as-is (not as JSON), e.g. a scenario's YAML text. */
export class RawBody {
  constructor(public text: string, public type = 'text/plain; charset=utf-8') {}
}

async function readError(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: fall back to the status line
  }
  const parsed = parseErrorBody(body);
  if (parsed) return new ApiError(res.status, parsed.code, parsed.message);
  return new ApiError(res.status, 'http_error', `the server answered ${res.status} ${res.statusText}`.trim());
}

export class ApiClient {
  private refreshing: Promise<boolean> | null = null;

  constructor(
    public session: Session,
    private fetchImpl: FetchLike = (input, init) => fetch(input, init),
    private base = '',
  ) {}

  private async send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = body instanceof RawBody ? body.type : 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : body instanceof RawBody ? body.text : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the server (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /** Authenticated request (`body`: JSON, or a RawBody sent as-is); JSON body of the answer, or null for 204. */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const token = this.session.current?.accessToken ?? null;
    if (!token) throw new ApiError(401, 'unauthorized', 'you are signed out; sign in again');
    let res = await this.send(method, path, body, token);
    if (res.status === 401) {
      if (await this.refresh()) {
        res = await this.send(method, path, body, this.session.current?.accessToken ?? null);
      }
      if (res.status === 401) {
        const err = await readError(res);
        this.session.clear();
        throw err;
      }
    }
    if (!res.ok) throw await readError(res);
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }

  /** Uses the refresh token once; concurrent callers share the same attempt. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const refreshToken = this.session.current?.refreshToken;
    if (!refreshToken) return false;
    try {
      const res = await this.send('POST', '/api/auth/refresh', { refresh_token: refreshToken }, null);
      if (!res.ok) {
        this.session.clear();
        return false;
      }
      this.session.setFromPair((await res.json()) as TokenPair);
      return true;
    } catch {
      return false;
    }
  }

  /** An access token valid for at least 30 s more (refreshing first if needed), for the WebSocket URL. */
  async freshAccessToken(nowMs: number = Date.now()): Promise<string | null> {
    const token = this.session.current?.accessToken;
    if (!token) return null;
    const exp = jwtExpiry(token);
    if (exp !== null && exp * 1000 - nowMs < 30_000) {
      await this.refresh();
    }
    return this.session.current?.accessToken ?? null;
  }

  async login(email: string, password: string): Promise<TokenPair> {
    const res = await this.send('POST', '/api/auth/login', { email, password }, null);
    if (!res.ok) throw await readError(res);
    const pair = (await res.json()) as TokenPair;
    this.session.setFromPair(pair);
    return pair;
  }

  /** Revokes the refresh token server-side; the local session ends whatever the answer. */
  async logout(): Promise<void> {
    const current = this.session.current;
    if (!current) return;
    try {
      await this.send('POST', '/api/auth/logout', { refresh_token: current.refreshToken }, current.accessToken);
    } finally {
      this.session.clear();
    }
  }

  async hosts(): Promise<HostDetail[]> {
    return normalizeHostList(await this.request('GET', '/api/hosts'));
  }

  async host(id: string): Promise<HostDetail> {
    return normalizeHostDetail(await this.request('GET', `/api/hosts/${encodeURIComponent(id)}`));
  }

  /** `step` > 0: one snapshot per `step` seconds (the server picks each bucket's highest CPU). */
  async metrics(id: string, from: Date, to: Date, limit: number, step = 0): Promise<MetricsRangeAnswer> {
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), limit: String(limit) });
    if (step > 0) q.set('step', String(Math.round(step)));
    return normalizeMetricsRange(await this.request('GET', `/api/hosts/${encodeURIComponent(id)}/metrics?${q}`));
  }

  /** Hourly aggregates (complete hours; kept 90 days). */
  async hourly(id: string, from: Date, to: Date): Promise<HourlyAnswer> {
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    return normalizeHourly(await this.request('GET', `/api/hosts/${encodeURIComponent(id)}/metrics/hourly?${q}`));
  }

  /** Daily aggregates (complete days, folded from the hourly ones; kept 2 years). */
  async daily(id: string, from: Date, to: Date): Promise<DailyAnswer> {
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    return normalizeDaily(await this.request('GET', `/api/hosts/${encodeURIComponent(id)}/metrics/daily?${q}`));
  }

  /** null when the server has no such route yet (404): "not available", not an error. */
  async hostContainers(id: string): Promise<ContainerInfo[] | null> {
    return orNullOn404(async () => normalizeContainers(await this.request('GET', `/api/hosts/${encodeURIComponent(id)}/containers`)));
  }

  async hostServices(id: string): Promise<ServiceInfo[] | null> {
    return orNullOn404(async () => normalizeServices(await this.request('GET', `/api/hosts/${encodeURIComponent(id)}/services`)));
  }

  async allContainers(): Promise<ContainerInfo[] | null> {
    return orNullOn404(async () => normalizeContainers(await this.request('GET', '/api/containers')));
  }

  async tokens(): Promise<AgentToken[]> {
    return normalizeTokens(await this.request('GET', '/api/tokens'));
  }

  async createToken(name: string): Promise<CreatedToken> {
    const raw = (await this.request('POST', '/api/tokens', { name })) as Partial<CreatedToken> | null;
    if (!raw || typeof raw.token !== 'string' || typeof raw.id !== 'string') {
      throw new ApiError(500, 'bad_answer', 'the server did not return the new token');
    }
    return { id: raw.id, token: raw.token };
  }

  async revokeToken(id: string): Promise<void> {
    await this.request('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
  }

  async users(): Promise<UserInfo[]> {
    return normalizeUsers(await this.request('GET', '/api/users'));
  }

  /** Without `password` the server generates one and returns it this once. */
  async createUser(user: NewUser): Promise<CreatedUser> {
    const raw = await this.request('POST', '/api/users', user);
    const created = normalizeUser(raw);
    const password = (raw as { password?: unknown }).password;
    return { ...created, password: typeof password === 'string' ? password : null };
  }

  async setUserRole(id: string, role: KnownRole): Promise<UserInfo> {
    return normalizeUser(await this.request('PATCH', `/api/users/${encodeURIComponent(id)}`, { role }));
  }

  async deleteUser(id: string): Promise<void> {
    await this.request('DELETE', `/api/users/${encodeURIComponent(id)}`);
  }

  // ---- remote actions ----

  /** Asks the host's agent to run an action: 202 with the record (pending); 403 viewers, 422 bad params. */
  async requestAction(hostId: string, type: ActionType, params: ActionParams): Promise<ActionRecord> {
    return normalizeAction(await this.request('POST', `/api/hosts/${encodeURIComponent(hostId)}/action`, { type, params }));
  }

  /** A container action by container id (`<host_id>:<name>`); the server picks the engine from the container's runtime. */
  async containerAction(containerId: string, action: 'restart' | 'start' | 'stop'): Promise<ActionRecord> {
    return normalizeAction(await this.request('POST', `/api/containers/${encodeURIComponent(containerId)}/action`, { action }));
  }

  /** Newest first, without output; `before`: the last id of the previous page. */
  async actions(q: ActionsQuery = {}): Promise<ActionRecord[]> {
    return normalizeActions(await this.request('GET', `/api/actions${query(q)}`));
  }

  /** One action with its output. */
  async action(id: string): Promise<ActionRecord> {
    return normalizeAction(await this.request('GET', `/api/actions/${encodeURIComponent(id)}`));
  }

  // ---- alerting ----

  /** Active alerts (firing or acknowledged), newest first. */
  async activeAlerts(filter: ActiveAlertsFilter = {}): Promise<Alert[]> {
    return normalizeAlerts(await this.request('GET', `/api/alerts${query(filter)}`));
  }

  /** Resolved alerts, newest first; pass the page's `next_before` as `before` for the next (older) page. */
  async alertHistory(q: AlertHistoryQuery = {}): Promise<AlertHistoryPage> {
    return normalizeHistoryPage(await this.request('GET', `/api/alerts/history${query(q)}`));
  }

  /** The alert after acknowledging it; 409 (ApiError) when it already was. */
  async acknowledgeAlert(id: string): Promise<Alert> {
    return normalizeAlert(await this.request('POST', `/api/alerts/${encodeURIComponent(id)}/acknowledge`));
  }

  async rules(): Promise<RuleRecord[]> {
    return normalizeRules(await this.request('GET', '/api/alerts/rules'));
  }

  async createRule(rule: RuleInput): Promise<RuleRecord> {
    return normalizeRule(await this.request('POST', '/api/alerts/rules', rule));
  }

  async updateRule(id: string, rule: RuleInput): Promise<RuleRecord> {
    return normalizeRule(await this.request('PUT', `/api/alerts/rules/${encodeURIComponent(id)}`, rule));
  }

  async deleteRule(id: string): Promise<void> {
    await this.request('DELETE', `/api/alerts/rules/${encodeURIComponent(id)}`);
  }

  /** The condition's scope when valid; an ApiError 422 naming the field and column when not. */
  async validateRule(body: RuleCheckBody): Promise<{ scope: string }> {
    const raw = (await this.request('POST', '/api/alerts/rules/validate', body)) as { scope?: unknown } | null;
    return { scope: typeof raw?.scope === 'string' ? raw.scope : '' };
  }

  async previewRule(body: RuleCheckBody): Promise<RulePreview> {
    return normalizePreview(await this.request('POST', '/api/alerts/rules/preview', body));
  }

  async channels(): Promise<ChannelRecord[]> {
    return normalizeChannels(await this.request('GET', '/api/config/notifications'));
  }

  /** Replaces the tenant's channels with `channels` (entries without id are created). */
  async putChannels(channels: ChannelInput[]): Promise<ChannelRecord[]> {
    return normalizeChannels(await this.request('PUT', '/api/config/notifications', channels));
  }

  async testChannel(id: string): Promise<ChannelTestResult> {
    return normalizeChannelTest(await this.request('POST', `/api/config/notifications/${encodeURIComponent(id)}/test`));
  }

  async silences(): Promise<SilenceRecord[]> {
    return normalizeSilences(await this.request('GET', '/api/alerts/silences'));
  }

  async createSilence(silence: SilenceInput): Promise<SilenceRecord> {
    return normalizeSilence(await this.request('POST', '/api/alerts/silences', silence));
  }

  async updateSilence(id: string, silence: SilenceInput): Promise<SilenceRecord> {
    return normalizeSilence(await this.request('PUT', `/api/alerts/silences/${encodeURIComponent(id)}`, silence));
  }

  async deleteSilence(id: string): Promise<void> {
    await this.request('DELETE', `/api/alerts/silences/${encodeURIComponent(id)}`);
  }

  async maintenance(): Promise<MaintenanceRecord[]> {
    return normalizeMaintenanceList(await this.request('GET', '/api/alerts/maintenance'));
  }

  async createMaintenance(window: MaintenanceInput): Promise<MaintenanceRecord> {
    return normalizeMaintenance(await this.request('POST', '/api/alerts/maintenance', window));
  }

  async updateMaintenance(id: string, window: MaintenanceInput): Promise<MaintenanceRecord> {
    return normalizeMaintenance(await this.request('PUT', `/api/alerts/maintenance/${encodeURIComponent(id)}`, window));
  }

  async deleteMaintenance(id: string): Promise<void> {
    await this.request('DELETE', `/api/alerts/maintenance/${encodeURIComponent(id)}`);
  }
}

/** `?a=1&b=x` of the set (non-empty) values, or "". */
function query(params: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

export async function orNullOn404<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}
