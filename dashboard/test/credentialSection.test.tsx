// The shared Settings section for credentials (agent tokens, scrape tokens,
// integrators): the list and its states, creation with the secret shown once,
// revocation after a confirm, and what non-admins see.
import { render } from 'preact';
import { useState } from 'preact/hooks';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import { Session } from '../src/api/session';
import {
  type Column,
  createdColumn,
  CreatedCard,
  CredentialSection,
  type CredentialSectionProps,
  revokedOrActive,
  stateColumn,
} from '../src/components/CredentialSection';
import { AppContext, type AppServices } from '../src/context';
import { Settings } from '../src/pages/Settings';

interface Row { id: string; name: string; created_at: string | null; revoked_at: string | null }
interface Made { id: string; name: string; secret: string }

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
const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });

function typeName(value: string) {
  const input = q('thing-name') as HTMLInputElement;
  input.value = value;
  act(() => { input.dispatchEvent(new Event('input', { bubbles: true })); });
}
function submit() {
  act(() => { (q('thing-create') as HTMLButtonElement).closest('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })); });
}

/** The card with state of its own, to see it start afresh for each creation. */
function Card({ made, onDone }: { made: Made; onDone: () => void }) {
  const [clicks, setClicks] = useState(0);
  return (
    <CreatedCard
      testid="thing"
      title={`Thing "${made.name}" created`}
      warning="Copy it now."
      onDone={onDone}
      actions={<button type="button" onClick={() => setClicks(clicks + 1)} data-testid="thing-click">{`clicked ${clicks}`}</button>}
      footer={<p data-testid="thing-footer">footer</p>}
    >
      <code data-testid="thing-secret">{made.secret}</code>
    </CreatedCard>
  );
}

const columns: Column<Row>[] = [
  { header: 'Name', cell: (r) => r.name },
  stateColumn,
  createdColumn,
];

/** A scripted backend behind the section's callbacks. */
function backend(rows: Row[]) {
  const calls: string[] = [];
  let pending: ((m: Made) => void) | null = null;
  let fail: string | null = null;
  const props = (over: Partial<CredentialSectionProps<Row, Made>> = {}): CredentialSectionProps<Row, Made> => ({
    testid: 'thing',
    title: 'Things',
    intro: 'What things are.',
    isAdmin: true,
    adminOnly: 'Only admins can create or revoke things.',
    placeholder: 'Thing name',
    inputLabel: 'New thing name',
    maxLength: 10,
    createLabel: 'Create thing',
    validate: (name) => (name.trim().length > 10 ? 'name: at most 10 characters' : null),
    create: (name) => {
      calls.push(`create ${name}`);
      if (fail) return Promise.reject(new Error(fail));
      return new Promise<Made>((resolve) => {
        pending = (m) => {
          rows.unshift({ id: m.id, name: m.name, created_at: '2026-12-06T10:00:00Z', revoked_at: null });
          resolve(m);
        };
      });
    },
    renderCreated: (made, done) => <Card made={made} onDone={done} />,
    load: async () => {
      calls.push('load');
      return rows.map((r) => ({ ...r }));
    },
    loadingText: 'Loading things…',
    emptyText: 'No things yet.',
    columns,
    rowState: revokedOrActive,
    confirmRevoke: (r) => `Revoke thing "${r.name}"?`,
    revoke: async (r) => {
      calls.push(`revoke ${r.id}`);
      if (fail) throw new Error(fail);
      rows.find((x) => x.id === r.id)!.revoked_at = '2026-12-06T11:00:00Z';
    },
    ...over,
  });
  return {
    calls,
    props,
    answer: (m: Made) => pending!(m),
    failWith: (message: string | null) => { fail = message; },
  };
}

describe('CredentialSection', () => {
  it('shows loading, then empty, then the rows with their states; only active rows can be revoked', async () => {
    const rows: Row[] = [];
    const b = backend(rows);
    act(() => render(<CredentialSection {...b.props()} />, root));
    expect(q('things')?.textContent).toContain('Loading things…');
    await flush();
    expect(q('things')?.textContent).toContain('No things yet.');
    expect(q('things-table')).toBeNull();

    rows.push(
      { id: 'a', name: 'alpha', created_at: '2026-12-01T10:00:00Z', revoked_at: null },
      { id: 'b', name: 'beta', created_at: null, revoked_at: '2026-12-02T10:00:00Z' },
    );
    render(null, root);
    act(() => render(<CredentialSection {...b.props()} />, root));
    await flush();
    const headers = [...root.querySelectorAll('[data-testid="things-table"] th')].map((th) => th.textContent);
    expect(headers).toEqual(['Name', 'State', 'Created', '']);
    expect(q('thing-row-a')?.className).toBe('');
    expect(q('thing-row-a')?.querySelector('.pill')?.textContent).toBe('active');
    expect(q('thing-row-b')?.className).toBe('is-dim');
    expect(q('thing-row-b')?.querySelector('.pill-revoked')?.textContent).toBe('revoked');
    expect(q('thing-revoke-a')).not.toBeNull();
    expect(q('thing-revoke-b')).toBeNull();
  });

  it('shows why the list failed', async () => {
    const b = backend([]);
    act(() => render(<CredentialSection {...b.props({ load: () => Promise.reject(new Error('gateway down')) })} />, root));
    await flush();
    expect(root.querySelector('.form-error')?.textContent).toBe('gateway down');
  });

  it('refuses a bad name without creating anything', async () => {
    const b = backend([]);
    act(() => render(<CredentialSection {...b.props()} />, root));
    await flush();
    typeName('x'.repeat(11));
    submit();
    expect(q('thing-error')?.textContent).toBe('name: at most 10 characters');
    expect(b.calls.some((c) => c.startsWith('create'))).toBe(false);
  });

  it('creates once per submit, shows the secret once, clears the name and reloads the list', async () => {
    const b = backend([]);
    act(() => render(<CredentialSection {...b.props()} />, root));
    await flush();
    typeName('  edge  ');
    submit();
    expect((q('thing-create') as HTMLButtonElement).disabled).toBe(true);
    expect(q('thing-create')?.textContent).toBe('Creating…');
    submit(); // a second submit while creating does nothing
    expect(b.calls.filter((c) => c.startsWith('create'))).toEqual(['create edge']);

    await act(async () => { b.answer({ id: 'n1', name: 'edge', secret: 's3cret-1' }); });
    await flush();
    expect(q('thing-created')?.getAttribute('role')).toBe('status');
    expect(q('thing-created')?.querySelector('h3')?.textContent).toBe('Thing "edge" created');
    expect(q('thing-secret')?.textContent).toBe('s3cret-1');
    expect(q('thing-footer')).not.toBeNull();
    expect((q('thing-name') as HTMLInputElement).value).toBe('');
    expect(q('thing-create')?.textContent).toBe('Create thing');
    expect(q('thing-row-n1')).not.toBeNull();
    expect(b.calls.filter((c) => c === 'load')).toHaveLength(2);

    act(() => { (q('thing-click') as HTMLButtonElement).click(); });
    expect(q('thing-click')?.textContent).toBe('clicked 1');
    act(() => { (q('thing-done') as HTMLButtonElement).click(); });
    expect(q('thing-created')).toBeNull();
    expect(root.textContent).not.toContain('s3cret-1');
  });

  it('drops a shown secret when another creation starts, and the next card starts afresh', async () => {
    const b = backend([]);
    act(() => render(<CredentialSection {...b.props()} />, root));
    await flush();
    typeName('one');
    submit();
    await act(async () => { b.answer({ id: 'n1', name: 'one', secret: 's3cret-1' }); });
    act(() => { (q('thing-click') as HTMLButtonElement).click(); });
    expect(q('thing-click')?.textContent).toBe('clicked 1');

    typeName('two');
    submit();
    expect(q('thing-created')).toBeNull();
    expect(root.textContent).not.toContain('s3cret-1');
    await act(async () => { b.answer({ id: 'n2', name: 'two', secret: 's3cret-2' }); });
    expect(q('thing-secret')?.textContent).toBe('s3cret-2');
    expect(q('thing-click')?.textContent).toBe('clicked 0');
  });

  it('shows the server error when creation fails, and clears it on the next try', async () => {
    const b = backend([]);
    act(() => render(<CredentialSection {...b.props()} />, root));
    await flush();
    b.failWith('only admins can create things');
    typeName('x');
    submit();
    await flush();
    expect(q('thing-error')?.textContent).toBe('only admins can create things');
    expect(q('thing-error')?.getAttribute('role')).toBe('alert');
    expect(q('thing-created')).toBeNull();
    expect((q('thing-name') as HTMLInputElement).value).toBe('x');
    b.failWith(null);
    submit();
    expect(q('thing-error')).toBeNull();
  });

  it('revokes after a confirm, not without one, and shows a failed revocation', async () => {
    const rows: Row[] = [
      { id: 'a', name: 'alpha', created_at: null, revoked_at: null },
      { id: 'b', name: 'beta', created_at: null, revoked_at: null },
    ];
    const b = backend(rows);
    act(() => render(<CredentialSection {...b.props()} />, root));
    await flush();

    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(false);
    act(() => { (q('thing-revoke-a') as HTMLButtonElement).click(); });
    await flush();
    expect(confirm).toHaveBeenCalledWith('Revoke thing "alpha"?');
    expect(b.calls).not.toContain('revoke a');

    confirm.mockReturnValue(true);
    act(() => { (q('thing-revoke-a') as HTMLButtonElement).click(); });
    expect(q('thing-revoke-a')?.textContent).toBe('Revoking…');
    expect((q('thing-revoke-a') as HTMLButtonElement).disabled).toBe(true);
    await flush();
    await flush();
    expect(b.calls).toContain('revoke a');
    expect(q('thing-row-a')?.querySelector('.pill')?.textContent).toBe('revoked');
    expect(q('thing-revoke-a')).toBeNull();

    b.failWith('already gone');
    act(() => { (q('thing-revoke-b') as HTMLButtonElement).click(); });
    await flush();
    expect(q('thing-error')?.textContent).toBe('already gone');
    expect(q('thing-revoke-b')?.textContent).toBe('Revoke');
  });

  it('shows others only the admin note and fetches nothing', async () => {
    const b = backend([{ id: 'a', name: 'alpha', created_at: null, revoked_at: null }]);
    act(() => render(<CredentialSection {...b.props({ isAdmin: false })} />, root));
    await flush();
    expect(q('things')?.textContent).toContain('Only admins can create or revoke things.');
    expect(q('thing-name')).toBeNull();
    expect(q('things-table')).toBeNull();
    expect(b.calls).toEqual([]);
  });

  it('with listForAll, shows others the list without the form or revoke buttons', async () => {
    const b = backend([{ id: 'a', name: 'alpha', created_at: null, revoked_at: null }]);
    act(() => render(<CredentialSection {...b.props({ isAdmin: false, listForAll: true })} />, root));
    await flush();
    expect(q('things')?.textContent).toContain('Only admins can create or revoke things.');
    expect(q('thing-name')).toBeNull();
    expect(q('thing-row-a')).not.toBeNull();
    expect(q('thing-revoke-a')).toBeNull();
  });
});

describe('Settings › Agent tokens on the shared section', () => {
  function services(handler: (method: string, url: string, body: unknown) => Response | undefined, role: string): AppServices {
    const m = new Map<string, string>();
    const session = new Session({ getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) });
    session.setFromPair({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900, user: { id: 'u', email: 'a@example.com', tenant_id: 't1', role } });
    const api = new ApiClient(session, async (url, init) => {
      const res = handler(init?.method ?? 'GET', url, init?.body ? JSON.parse(init.body as string) : undefined);
      return res ?? new Response(JSON.stringify({ error: { code: 'not_found', message: `no api route ${url}` } }), { status: 404 });
    });
    return { api, session } as unknown as AppServices;
  }
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
  const tokens = [
    { id: 'k1', name: 'prod', created_at: '2026-11-24T12:00:00Z', last_used: null, revoked_at: null, expires_at: null },
    { id: 'k2', name: 'old', created_at: '2026-11-24T12:00:00Z', last_used: null, revoked_at: null, expires_at: '2020-01-01T00:00:00Z' },
  ];

  it('lets admins revoke only active tokens, refuses an empty name, and says when copying fails', async () => {
    const calls: string[] = [];
    const s = services((method, url, body) => {
      calls.push(`${method} ${url}`);
      if (method === 'GET' && url === '/api/tokens') return json(200, tokens);
      if (method === 'POST' && url === '/api/tokens') return json(201, { id: 'k3', token: `vgl_${(body as { name: string }).name}` });
      return undefined;
    }, 'admin');
    act(() => render(<AppContext.Provider value={s}><Settings /></AppContext.Provider>, root));
    await flush();
    expect(q('token-revoke-k1')).not.toBeNull();
    expect(q('token-row-k2')?.className).toBe('is-dim');
    expect(q('token-row-k2')?.querySelector('.pill')?.textContent).toBe('expired');
    expect(q('token-revoke-k2')).toBeNull();

    act(() => { (q('token-create') as HTMLButtonElement).closest('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })); });
    expect(q('token-error')?.textContent).toContain('give the token a name');
    expect(calls).not.toContain('POST /api/tokens');

    const input = q('token-name') as HTMLInputElement;
    input.value = ' edge ';
    act(() => { input.dispatchEvent(new Event('input', { bubbles: true })); });
    act(() => { (q('token-create') as HTMLButtonElement).closest('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })); });
    await flush();
    await flush();
    expect(q('token-error')).toBeNull();
    expect(q('token-created')?.querySelector('h3')?.textContent).toBe('Token "edge" created');
    expect(q('token-value')?.textContent).toBe('vgl_edge');
    expect(q('install-command')?.textContent).toContain('--token vgl_edge');
    // jsdom has neither a secure-context clipboard nor execCommand: the copy fails, and says so
    await act(async () => { (q('copy-install') as HTMLButtonElement).click(); });
    expect(q('token-created')?.textContent).toContain('The browser refused to copy');
    expect(q('copy-install')?.textContent).toBe('Copy command');
  });

  it('shows viewers the list without the form or revoke buttons', async () => {
    const s = services((method, url) => (method === 'GET' && url === '/api/tokens' ? json(200, tokens) : undefined), 'viewer');
    act(() => render(<AppContext.Provider value={s}><Settings /></AppContext.Provider>, root));
    await flush();
    expect(q('tokens')?.textContent).toContain('Only admins can create or revoke tokens.');
    expect(q('token-name')).toBeNull();
    expect(q('token-row-k1')).not.toBeNull();
    expect(q('token-revoke-k1')).toBeNull();
  });
});
