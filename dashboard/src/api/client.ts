// REST client for the gateway. Adds the Bearer token, turns error bodies
// into ApiError (keeping the server's message), and on a 401 refreshes the
// access token once (one refresh in flight at a time) and retries; when the
// refresh fails the session is cleared, which sends the app to /login.

import {
  normalizeContainers, normalizeHostDetail, normalizeHostList, normalizeHourly, normalizeMetricsRange, normalizeServices,
  normalizeTokens, normalizeUser, normalizeUsers, parseErrorBody,
} from './normalize';
import { jwtExpiry, Session } from './session';
import type {
  AgentToken, ContainerInfo, CreatedToken, CreatedUser, HostDetail, HourlyAnswer, MetricsRangeAnswer, NewUser, ServiceInfo, TokenPair,
  UserInfo,
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
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the server (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /** Authenticated request; JSON body of the answer, or null for 204. */
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

  async setUserRole(id: string, role: 'admin' | 'viewer'): Promise<UserInfo> {
    return normalizeUser(await this.request('PATCH', `/api/users/${encodeURIComponent(id)}`, { role }));
  }

  async deleteUser(id: string): Promise<void> {
    await this.request('DELETE', `/api/users/${encodeURIComponent(id)}`);
  }
}

export async function orNullOn404<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}
