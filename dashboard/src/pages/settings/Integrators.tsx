// Settings › Integrators (admins): NATS users of this tenant's own account,
// which receives only this tenant's metrics, hosts, alerts and actions
// (live, and kept in the account's HISTORY stream). List, create (the creds
// file is shown once, for download), revoke. docs/integrators.md.
import { useState } from 'preact/hooks';
import { useServices } from '../../context';
import { DASH, formatDateTime } from '../../format';
import { useAsync } from '../../hooks';

export interface Integrator {
  id: string;
  name: string;
  /** The user's public nkey. */
  user: string;
  created_at: string | null;
  revoked_at: string | null;
}

export interface CreatedIntegrator extends Integrator {
  account: string;
  stream: string;
  subjects: string[];
  /** The creds file (user JWT + nkey seed): shown once. */
  credentials: string;
}

/** Longest name the server takes (characters). */
export const MAX_NAME = 100;

/** The list as the server sent it, keeping only well-formed rows. */
export function normalizeIntegrators(raw: unknown): Integrator[] {
  if (!Array.isArray(raw)) return [];
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return raw
    .filter((r): r is Record<string, unknown> => !!r && typeof r === 'object' && typeof (r as { id?: unknown }).id === 'string')
    .map((r) => ({
      id: r.id as string,
      name: text(r.name) ?? (r.id as string),
      user: text(r.user) ?? '',
      created_at: text(r.created_at),
      revoked_at: text(r.revoked_at),
    }));
}

/** Why the name cannot be sent, or null (empty: the server names it "integrator"). */
export function validateIntegratorName(name: string): string | null {
  const trimmed = name.trim();
  if ([...trimmed].length > MAX_NAME) return `name: at most ${MAX_NAME} characters`;
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) return 'name: no control characters';
  return null;
}

/** The file name the creds are downloaded as: `vigil-<name>.creds`, safe characters only. */
export function credsFileName(name: string): string {
  const safe = name.trim().replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '');
  return `vigil-${safe || 'integrator'}.creds`;
}

/** The first commands an integrator runs with the creds (nats CLI). */
export function firstCommands(server: string, created: Pick<CreatedIntegrator, 'name' | 'subjects' | 'stream'>): string {
  const file = credsFileName(created.name);
  return [
    `nats --server ${server} --creds ${file} sub '${created.subjects[0] ?? '>'}'`,
    `nats --server ${server} --creds ${file} consumer next ${created.stream} --count 10   # after: nats consumer add`,
  ].join('\n');
}

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function Integrators() {
  const { api, session } = useServices();
  const isAdmin = session.current?.user.role === 'admin';
  const list = useAsync(
    async () => (isAdmin ? normalizeIntegrators(await api.request('GET', '/api/config/integrators')) : []),
    [isAdmin],
  );
  const [name, setName] = useState('');
  const [created, setCreated] = useState<CreatedIntegrator | null>(null);
  const [downloaded, setDownloaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const create = async (e: Event) => {
    e.preventDefault();
    const invalid = validateIntegratorName(name);
    setError(invalid);
    if (invalid) return;
    setBusy('create');
    try {
      const body = name.trim() ? { name: name.trim() } : {};
      setCreated((await api.request('POST', '/api/config/integrators', body)) as CreatedIntegrator);
      setDownloaded(false);
      setName('');
      list.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(null);
    }
  };

  const revoke = async (i: Integrator) => {
    if (!confirm(`Revoke integrator "${i.name}"? Its connections are dropped and its creds refused from now on.`)) return;
    setBusy(i.id);
    setError(null);
    try {
      await api.request('DELETE', `/api/config/integrators/${encodeURIComponent(i.id)}`);
      list.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section class="section" data-testid="integrators">
      <h2>Integrators (NATS)</h2>
      <p class="muted">
        Programs of yours that read this tenant's metrics, host events, alerts and actions straight from the bus, live and
        from a history stream, with a NATS creds file. They see nothing of other tenants and cannot publish into Vigil
        (see docs/integrators.md).
      </p>
      {!isAdmin ? (
        <p class="muted">Only admins can create or revoke integrators.</p>
      ) : (
        <>
          {created ? (
            <div class="card created" role="status" data-testid="integrator-created">
              <h3>Integrator "{created.name}" created</h3>
              <p class="warn-text">Download the creds now: they are shown only once and cannot be retrieved later.</p>
              <div class="field-label">Creds file</div>
              <pre class="command secret" data-testid="integrator-creds">{created.credentials}</pre>
              <div class="field-label">Subjects (live) and the stream {created.stream} (history)</div>
              <code data-testid="integrator-subjects">{created.subjects.join('  ')}</code>
              <div class="field-label">First commands (nats CLI)</div>
              <pre class="command" data-testid="integrator-commands">{firstCommands(`nats://${location.hostname || 'localhost'}:4222`, created)}</pre>
              <div class="row-actions">
                <button
                  type="button"
                  class="btn btn-primary"
                  onClick={() => {
                    download(credsFileName(created.name), created.credentials);
                    setDownloaded(true);
                  }}
                  data-testid="integrator-download"
                >
                  {downloaded ? 'Downloaded ✓' : `Download ${credsFileName(created.name)}`}
                </button>
                <button type="button" class="btn" onClick={() => setCreated(null)} data-testid="integrator-done">Done</button>
              </div>
            </div>
          ) : null}
          <form class="toolbar" onSubmit={create} noValidate>
            <input
              class="input"
              placeholder="Integrator name, e.g. grafana-etl"
              value={name}
              maxLength={MAX_NAME}
              onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
              aria-label="New integrator name"
              data-testid="integrator-name"
            />
            <button type="submit" class="btn btn-primary" disabled={busy === 'create'} data-testid="integrator-create">
              {busy === 'create' ? 'Creating…' : 'Create integrator'}
            </button>
          </form>
          {error ? <div class="form-error" role="alert" data-testid="integrator-error">{error}</div> : null}
          {list.error ? (
            <div class="form-error">{list.error.message}</div>
          ) : !list.data ? (
            <div class="empty">Loading integrators…</div>
          ) : list.data.length === 0 ? (
            <div class="empty">No integrators yet.</div>
          ) : (
            <div class="table-wrap">
              <table class="table" data-testid="integrators-table">
                <thead>
                  <tr><th>Name</th><th>State</th><th>Created</th><th>Revoked</th><th /></tr>
                </thead>
                <tbody>
                  {list.data.map((i) => (
                    <tr key={i.id} data-testid={`integrator-row-${i.id}`} class={i.revoked_at ? 'is-dim' : ''}>
                      <td>{i.name} <span class="muted mono">{i.id}</span></td>
                      <td><span class={`pill pill-${i.revoked_at ? 'revoked' : 'active'}`}>{i.revoked_at ? 'revoked' : 'active'}</span></td>
                      <td>{formatDateTime(i.created_at)}</td>
                      <td>{i.revoked_at ? formatDateTime(i.revoked_at) : DASH}</td>
                      <td class="num">
                        {i.revoked_at ? null : (
                          <button
                            type="button"
                            class="btn btn-small btn-danger"
                            disabled={busy === i.id}
                            onClick={() => revoke(i)}
                            data-testid={`integrator-revoke-${i.id}`}
                          >
                            {busy === i.id ? 'Revoking…' : 'Revoke'}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
