import { RANGES } from '../src/chartData';
import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError } from '../src/api/client';
import { Session, SESSION_KEY, type KeyValueStorage } from '../src/api/session';
import type { TokenPair } from '../src/api/types';
import { hostRecord } from './fixtures';

function memStorage(): KeyValueStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

function pair(access: string, refresh: string): TokenPair {
  return {
    access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: 900,
    user: { id: 'u1', email: 'admin@example.com', tenant_id: 't1', role: 'admin' },
  };
}

interface Call { method: string; url: string; auth: string | null; body: unknown }

/** A scripted gateway: answers by route and records every call. */
function server(routes: Record<string, (c: Call) => Response>) {
  const calls: Call[] = [];
  const fetchImpl = async (url: string, init?: RequestInit) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const call: Call = {
      method: init?.method ?? 'GET', url, auth: headers.authorization ?? null,
      body: init?.body ? JSON.parse(init.body as string) : undefined,
    };
    calls.push(call);
    const key = `${call.method} ${url.split('?')[0]}`;
    const route = routes[key];
    if (!route) return json(404, { error: { code: 'not_found', message: `no api route ${url}` } });
    return route(call);
  };
  return { calls, fetchImpl };
}

function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function signedIn(storage = memStorage()) {
  const session = new Session(storage);
  session.setFromPair(pair('old-access', 'refresh-1'));
  return session;
}

describe('ApiClient auth', () => {
  it('login stores both tokens in storage; a wrong password surfaces the server message', async () => {
    const storage = memStorage();
    const session = new Session(storage);
    const s = server({
      'POST /api/auth/login': (c) =>
        (c.body as { password: string }).password === 'right'
          ? json(200, pair('a1', 'r1'))
          : json(401, { error: { code: 'unauthorized', message: 'wrong email or password' } }),
    });
    const api = new ApiClient(session, s.fetchImpl);
    await expect(api.login('admin@example.com', 'wrong')).rejects.toThrow('wrong email or password');
    expect(session.current).toBeNull();
    await api.login('admin@example.com', 'right');
    expect(session.current?.accessToken).toBe('a1');
    expect(JSON.parse(storage.map.get(SESSION_KEY)!)).toMatchObject({ accessToken: 'a1', refreshToken: 'r1' });
    expect(new Session(storage).current?.user.email).toBe('admin@example.com');
  });

  it('on a 401 refreshes the access token once and retries the request', async () => {
    const session = signedIn();
    const s = server({
      'GET /api/hosts': (c) => (c.auth === 'Bearer new-access' ? json(200, [hostRecord('h1')]) : json(401, { error: { code: 'unauthorized', message: 'token expired' } })),
      'POST /api/auth/refresh': (c) => ((c.body as { refresh_token: string }).refresh_token === 'refresh-1' ? json(200, pair('new-access', 'refresh-2')) : json(401, {})),
    });
    const api = new ApiClient(session, s.fetchImpl);
    const hosts = await api.hosts();
    expect(hosts.map((h) => h.host.id)).toEqual(['h1']);
    expect(s.calls.map((c) => `${c.method} ${c.url}`)).toEqual(['GET /api/hosts', 'POST /api/auth/refresh', 'GET /api/hosts']);
    expect(session.current?.refreshToken).toBe('refresh-2');
  });

  it('shares one refresh between concurrent 401s', async () => {
    const session = signedIn();
    const s = server({
      'GET /api/hosts': (c) => (c.auth === 'Bearer new-access' ? json(200, []) : json(401, {})),
      'GET /api/tokens': (c) => (c.auth === 'Bearer new-access' ? json(200, []) : json(401, {})),
      'POST /api/auth/refresh': () => json(200, pair('new-access', 'refresh-2')),
    });
    const api = new ApiClient(session, s.fetchImpl);
    await Promise.all([api.hosts(), api.tokens()]);
    expect(s.calls.filter((c) => c.url === '/api/auth/refresh')).toHaveLength(1);
  });

  it('ends the session when the refresh is refused (the app then shows login)', async () => {
    const session = signedIn();
    let ended = false;
    session.subscribe((s) => (ended = s === null));
    const s = server({
      'GET /api/hosts': () => json(401, { error: { code: 'unauthorized', message: 'token expired' } }),
      'POST /api/auth/refresh': () => json(401, { error: { code: 'unauthorized', message: 'refresh token revoked' } }),
    });
    const api = new ApiClient(session, s.fetchImpl);
    await expect(api.hosts()).rejects.toBeInstanceOf(ApiError);
    expect(session.current).toBeNull();
    expect(ended).toBe(true);
    expect(s.calls.filter((c) => c.url === '/api/hosts')).toHaveLength(1);
  });

  it('does not loop when the retried request is still 401', async () => {
    const session = signedIn();
    const s = server({
      'GET /api/hosts': () => json(401, { error: { code: 'unauthorized', message: 'nope' } }),
      'POST /api/auth/refresh': () => json(200, pair('new-access', 'refresh-2')),
    });
    const api = new ApiClient(session, s.fetchImpl);
    await expect(api.hosts()).rejects.toThrow('nope');
    expect(s.calls).toHaveLength(3);
    expect(session.current).toBeNull();
  });

  it('logout posts the refresh token with the Bearer and clears the session', async () => {
    const session = signedIn();
    const s = server({ 'POST /api/auth/logout': () => json(204, null) });
    const api = new ApiClient(session, s.fetchImpl);
    await api.logout();
    expect(s.calls[0]).toMatchObject({ auth: 'Bearer old-access', body: { refresh_token: 'refresh-1' } });
    expect(session.current).toBeNull();
  });
});

describe('ApiClient resources', () => {
  it('treats 404 on containers and services as "not available yet" (null), not an error', async () => {
    const session = signedIn();
    const s = server({ 'GET /api/hosts/h1/services': () => json(200, [{ name: 'sshd', status: 'active' }]) });
    const api = new ApiClient(session, s.fetchImpl);
    expect(await api.hostContainers('h1')).toBeNull();
    expect(await api.allContainers()).toBeNull();
    expect((await api.hostServices('h1'))?.[0]?.name).toBe('sshd');
  });

  it('other errors keep the server code and message', async () => {
    const session = signedIn();
    const s = server({ 'GET /api/tokens': () => json(403, { error: { code: 'forbidden', message: 'admins only' } }) });
    const api = new ApiClient(session, s.fetchImpl);
    const err = await api.tokens().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 403, code: 'forbidden', message: 'admins only' });
  });

  it('requests metrics with RFC 3339 bounds and the limit', async () => {
    const session = signedIn();
    const s = server({ 'GET /api/hosts/h1/metrics': () => json(200, { host_id: 'h1', from: 'a', to: 'b', points: [] }) });
    const api = new ApiClient(session, s.fetchImpl);
    await api.metrics('h1', new Date('2026-11-24T11:00:00Z'), new Date('2026-11-24T12:00:00Z'), 10000);
    const q = new URL(`http://x${s.calls[0]!.url}`).searchParams;
    expect(q.get('from')).toBe('2026-11-24T11:00:00.000Z');
    expect(q.get('to')).toBe('2026-11-24T12:00:00.000Z');
    expect(q.get('limit')).toBe('10000');
    expect(q.has('step')).toBe(false);
    await api.metrics('h1', new Date('2026-11-18T12:00:00Z'), new Date('2026-11-25T12:00:00Z'), 10000, RANGES['7d'].step);
    const stepped = new URL(`http://x${s.calls[1]!.url}`).searchParams;
    expect(stepped.get('step')).toBe('1008');
    // a 7-day range fits the server's 10,000-point limit at 10 s snapshots only through its step
    expect((7 * 86400) / Number(stepped.get('step'))).toBeLessThanOrEqual(RANGES['7d'].limit);
  });

  it('requests hourly aggregates with RFC 3339 bounds', async () => {
    const session = signedIn();
    const s = server({ 'GET /api/hosts/h1/metrics/hourly': () => json(200, { host_id: 'h1', from: 'a', to: 'b', points: [{ hour: '2026-11-24T12:00:00Z', cpu_avg: 5 }] }) });
    const api = new ApiClient(session, s.fetchImpl);
    const answer = await api.hourly('h1', new Date('2026-10-25T12:00:00Z'), new Date('2026-11-24T12:00:00Z'));
    const q = new URL(`http://x${s.calls[0]!.url}`).searchParams;
    expect([q.get('from'), q.get('to')]).toEqual(['2026-10-25T12:00:00.000Z', '2026-11-24T12:00:00.000Z']);
    expect(answer.points).toHaveLength(1);
    expect(answer.points[0]!.cpu_avg).toBe(5);
  });

  it('refreshes before opening the socket when the access token is about to expire', async () => {
    const session = new Session(memStorage());
    const payload = btoa(JSON.stringify({ exp: 1000 })).replace(/=+$/, '');
    session.setFromPair(pair(`h.${payload}.s`, 'refresh-1'));
    const s = server({ 'POST /api/auth/refresh': () => json(200, pair('fresh', 'refresh-2')) });
    const api = new ApiClient(session, s.fetchImpl);
    expect(await api.freshAccessToken(1000 * 1000 - 10_000)).toBe('fresh');
    expect(await api.freshAccessToken(0)).toBe('fresh');
  });
});
