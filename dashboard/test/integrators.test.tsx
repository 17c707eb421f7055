// Settings › Integrators: the list (never a secret), the name check, and the
// creation flow in jsdom against a scripted gateway: the creds shown once
// with a download, then revocation.
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import { Session, type KeyValueStorage } from '../src/api/session';
import { AppContext, type AppServices } from '../src/context';
import {
  credsFileName,
  firstCommands,
  type Integrator,
  Integrators,
  MAX_NAME,
  normalizeIntegrators,
  validateIntegratorName,
} from '../src/pages/settings/Integrators';

function memStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

type Handler = (method: string, url: string, body: unknown) => Response | undefined;

function services(handler: Handler, role = 'admin'): AppServices {
  const session = new Session(memStorage());
  session.setFromPair({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900, user: { id: 'u', email: 'admin@example.com', tenant_id: 'acme', role } });
  const api = new ApiClient(session, async (url, init) => {
    const res = handler(init?.method ?? 'GET', url, init?.body ? JSON.parse(init.body as string) : undefined);
    return res ?? new Response(JSON.stringify({ error: { code: 'not_found', message: `no api route ${url}` } }), { status: 404 });
  });
  return { api, session } as unknown as AppServices;
}

const json = (status: number, body: unknown) => new Response(status === 204 ? null : JSON.stringify(body), { status });
const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });
const CREDS = '-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.x.y\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUAEXAMPLESEED\n------END USER NKEY SEED------\n';

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
const q = (testid: string) => root.querySelector(`[data-testid="${testid}"]`);

describe('integrators', () => {
  it('keeps well-formed rows and checks names, naming the field', () => {
    const rows = normalizeIntegrators([
      { id: 'int-1', name: 'grafana', user: 'UABC', created_at: '2026-12-06T10:00:00Z', revoked_at: null },
      { id: 'int-2', name: null, user: 'UDEF', created_at: null, revoked_at: '2026-12-06T11:00:00Z' },
      { name: 'no id' },
      null,
    ]);
    expect(rows.map((r) => [r.id, r.name])).toEqual([['int-1', 'grafana'], ['int-2', 'int-2']]);
    expect(normalizeIntegrators({ error: 'x' })).toEqual([]);
    expect(validateIntegratorName('')).toBeNull();
    expect(validateIntegratorName('x'.repeat(MAX_NAME + 1))).toMatch(/^name: /);
    expect(validateIntegratorName('a\u0007b')).toMatch(/^name: /);
    expect(credsFileName(' Grafana ETL/prod ')).toBe('vigil-Grafana-ETL-prod.creds');
    expect(credsFileName('///')).toBe('vigil-integrator.creds');
    const commands = firstCommands('nats://vigil:4222', { name: 'etl', subjects: ['metrics.acme.>'], stream: 'HISTORY' });
    expect(commands).toContain("--creds vigil-etl.creds sub 'metrics.acme.>'");
    expect(commands).toContain('consumer next HISTORY');
  });

  it('creates an integrator, shows its creds once for download, and revokes it', async () => {
    const listed: Integrator[] = [{ id: 'int-old', name: 'old', user: 'UOLD', created_at: '2026-12-01T10:00:00Z', revoked_at: null }];
    const calls: string[] = [];
    const s = services((method, url, body) => {
      calls.push(`${method} ${url}`);
      if (method === 'GET' && url === '/api/config/integrators') return json(200, listed);
      if (method === 'POST' && url === '/api/config/integrators') {
        expect(body).toEqual({ name: 'grafana' });
        const created = { id: 'int-new', name: 'grafana', user: 'UNEW', created_at: '2026-12-06T10:00:00Z', revoked_at: null };
        listed.unshift(created);
        return json(201, { ...created, account: 'AACME', stream: 'HISTORY', subjects: ['metrics.acme.>', 'hosts.acme.>', 'alerts.acme.>', 'actions.acme.>'], credentials: CREDS });
      }
      if (method === 'DELETE' && url === '/api/config/integrators/int-old') {
        listed[1] = { ...listed[1], revoked_at: '2026-12-06T10:05:00Z' };
        return json(204, null);
      }
      return undefined;
    });
    act(() => render(<AppContext.Provider value={s}><Integrators /></AppContext.Provider>, root));
    await flush();
    expect(q('integrator-row-int-old')?.textContent).toContain('active');

    const input = q('integrator-name') as HTMLInputElement;
    input.value = 'grafana';
    act(() => { input.dispatchEvent(new Event('input', { bubbles: true })); });
    act(() => { (q('integrator-create') as HTMLButtonElement).closest('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })); });
    await flush();
    await flush();
    expect(q('integrator-creds')?.textContent).toBe(CREDS);
    expect(q('integrator-subjects')?.textContent).toContain('metrics.acme.>');
    expect(q('integrator-row-int-new')).not.toBeNull();

    const createObjectURL = vi.fn(() => 'blob:creds');
    Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
    const clicked: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) { clicked.push(this.download); });
    act(() => { (q('integrator-download') as HTMLButtonElement).click(); });
    expect(clicked).toEqual(['vigil-grafana.creds']);
    expect(q('integrator-download')?.textContent).toContain('Downloaded');

    act(() => { (q('integrator-done') as HTMLButtonElement).click(); });
    expect(q('integrator-created')).toBeNull();
    expect(root.textContent).not.toContain('SUAEXAMPLESEED');

    vi.spyOn(window, 'confirm').mockReturnValue(true);
    act(() => { (q('integrator-revoke-int-old') as HTMLButtonElement).click(); });
    await flush();
    await flush();
    expect(calls).toContain('DELETE /api/config/integrators/int-old');
    expect(q('integrator-row-int-old')?.textContent).toContain('revoked');
    expect(q('integrator-revoke-int-old')).toBeNull();
  });

  it('asks nothing of the server for a viewer', async () => {
    const calls: string[] = [];
    const s = services((method, url) => { calls.push(`${method} ${url}`); return undefined; }, 'viewer');
    act(() => render(<AppContext.Provider value={s}><Integrators /></AppContext.Provider>, root));
    await flush();
    expect(root.textContent).toContain('Only admins can create or revoke integrators.');
    expect(calls).toEqual([]);
  });
});
