// Settings › Prometheus scrape tokens (admins): list, create (the token is
// shown once, with the scrape job to paste into prometheus.yml), revoke.
// A scrape token reads this tenant's latest metrics at
// GET /api/metrics/prometheus and nothing else (docs/grafana.md).
import { useState } from 'preact/hooks';
import { useServices } from '../../context';
import { DASH, formatDateTime, timeAgo } from '../../format';
import { useAsync } from '../../hooks';

export interface ScrapeToken {
  id: string;
  name: string | null;
  created_at: string | null;
  last_used: string | null;
  revoked_at: string | null;
}

export interface CreatedScrapeToken {
  id: string;
  name: string | null;
  token: string;
}

/** Longest name the server takes (characters). */
export const MAX_NAME = 100;

/** The list as the server sent it, keeping only well-formed rows. */
export function normalizeScrapeTokens(raw: unknown): ScrapeToken[] {
  if (!Array.isArray(raw)) return [];
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return raw
    .filter((r): r is Record<string, unknown> => !!r && typeof r === 'object' && typeof (r as { id?: unknown }).id === 'string')
    .map((r) => ({
      id: r.id as string,
      name: text(r.name),
      created_at: text(r.created_at),
      last_used: text(r.last_used),
      revoked_at: text(r.revoked_at),
    }));
}

/** Why the name cannot be sent, or null (empty is fine: the token is unnamed). */
export function validateScrapeTokenName(name: string): string | null {
  const trimmed = name.trim();
  if ([...trimmed].length > MAX_NAME) return `name: at most ${MAX_NAME} characters`;
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) return 'name: no control characters';
  return null;
}

/** The scrape job to paste into prometheus.yml, for this gateway. */
export function scrapeJob(origin: string, tokenFile = '/etc/prometheus/vigil.token'): string {
  const url = new URL(origin);
  const target = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  return [
    '  - job_name: vigil',
    '    metrics_path: /api/metrics/prometheus',
    ...(url.protocol === 'https:' ? ['    scheme: https'] : []),
    '    authorization:',
    `      credentials_file: ${tokenFile}   # holds the token above`,
    '    static_configs:',
    `      - targets: ['${target}']`,
  ].join('\n');
}

export function ScrapeTokens() {
  const { api, session } = useServices();
  const isAdmin = session.current?.user.role === 'admin';
  const list = useAsync(
    async () => (isAdmin ? normalizeScrapeTokens(await api.request('GET', '/api/config/scrape-tokens')) : []),
    [isAdmin],
  );
  const [name, setName] = useState('');
  const [created, setCreated] = useState<CreatedScrapeToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const create = async (e: Event) => {
    e.preventDefault();
    const invalid = validateScrapeTokenName(name);
    setError(invalid);
    if (invalid) return;
    setBusy('create');
    try {
      const body = name.trim() ? { name: name.trim() } : {};
      setCreated((await api.request('POST', '/api/config/scrape-tokens', body)) as CreatedScrapeToken);
      setName('');
      list.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(null);
    }
  };

  const revoke = async (t: ScrapeToken) => {
    if (!confirm(`Revoke scrape token "${t.name ?? t.id}"? Prometheus servers using it get 401 from now on.`)) return;
    setBusy(t.id);
    setError(null);
    try {
      await api.request('DELETE', `/api/config/scrape-tokens/${encodeURIComponent(t.id)}`);
      list.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section class="section" data-testid="scrape-tokens">
      <h2>Prometheus scrape tokens</h2>
      <p class="muted">
        Prometheus reads this tenant's latest host, container, service and custom metrics at{' '}
        <code>/api/metrics/prometheus</code> with a scrape token (see docs/grafana.md).
      </p>
      {!isAdmin ? (
        <p class="muted">Only admins can create or revoke scrape tokens.</p>
      ) : (
        <>
          {created ? (
            <div class="card created" role="status" data-testid="scrape-token-created">
              <h3>Scrape token {created.name ? `"${created.name}" ` : ''}created</h3>
              <p class="warn-text">Copy it now: it is shown only once and cannot be retrieved later.</p>
              <div class="field-label">Token</div>
              <code class="secret" data-testid="scrape-token-value">{created.token}</code>
              <div class="field-label">Scrape job for prometheus.yml</div>
              <pre class="command" data-testid="scrape-job">{scrapeJob(location.origin)}</pre>
              <div class="row-actions">
                <button type="button" class="btn" onClick={() => setCreated(null)} data-testid="scrape-token-done">Done</button>
              </div>
            </div>
          ) : null}
          <form class="toolbar" onSubmit={create} noValidate>
            <input
              class="input"
              placeholder="Token name, e.g. prometheus-prod"
              value={name}
              maxLength={MAX_NAME}
              onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
              aria-label="New scrape token name"
              data-testid="scrape-token-name"
            />
            <button type="submit" class="btn btn-primary" disabled={busy === 'create'} data-testid="scrape-token-create">
              {busy === 'create' ? 'Creating…' : 'Create scrape token'}
            </button>
          </form>
          {error ? <div class="form-error" role="alert" data-testid="scrape-token-error">{error}</div> : null}
          {list.error ? (
            <div class="form-error">{list.error.message}</div>
          ) : !list.data ? (
            <div class="empty">Loading scrape tokens…</div>
          ) : list.data.length === 0 ? (
            <div class="empty">No scrape tokens yet.</div>
          ) : (
            <div class="table-wrap">
              <table class="table" data-testid="scrape-tokens-table">
                <thead>
                  <tr><th>Name</th><th>State</th><th>Created</th><th>Last used</th><th /></tr>
                </thead>
                <tbody>
                  {list.data.map((t) => (
                    <tr key={t.id} data-testid={`scrape-token-row-${t.id}`} class={t.revoked_at ? 'is-dim' : ''}>
                      <td>{t.name ?? <span class="muted">{t.id}</span>}</td>
                      <td><span class={`pill pill-${t.revoked_at ? 'revoked' : 'active'}`}>{t.revoked_at ? 'revoked' : 'active'}</span></td>
                      <td>{formatDateTime(t.created_at)}</td>
                      <td>{t.last_used ? timeAgo(t.last_used) : DASH}</td>
                      <td class="num">
                        {t.revoked_at ? null : (
                          <button
                            type="button"
                            class="btn btn-small btn-danger"
                            disabled={busy === t.id}
                            onClick={() => revoke(t)}
                            data-testid={`scrape-token-revoke-${t.id}`}
                          >
                            {busy === t.id ? 'Revoking…' : 'Revoke'}
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
