// Settings › Prometheus scrape tokens (admins): list, create (the token is
// shown once, with the scrape job to paste into prometheus.yml), revoke.
// A scrape token reads this tenant's latest metrics at
// GET /api/metrics/prometheus and nothing else (docs/grafana.md).
import {
  type Column,
  createdColumn,
  CreatedCard,
  CredentialSection,
  revokedOrActive,
  stateColumn,
} from '../../components/CredentialSection';
import { useServices } from '../../context';
import { DASH, timeAgo } from '../../format';

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

function ScrapeTokenCreated({ created, onDone }: { created: CreatedScrapeToken; onDone: () => void }) {
  return (
    <CreatedCard
      testid="scrape-token"
      title={`Scrape token ${created.name ? `"${created.name}" ` : ''}created`}
      warning="Copy it now: it is shown only once and cannot be retrieved later."
      onDone={onDone}
    >
      <div class="field-label">Token</div>
      <code class="secret" data-testid="scrape-token-value">{created.token}</code>
      <div class="field-label">Scrape job for prometheus.yml</div>
      <pre class="command" data-testid="scrape-job">{scrapeJob(location.origin)}</pre>
    </CreatedCard>
  );
}

const columns: Column<ScrapeToken>[] = [
  { header: 'Name', cell: (t) => t.name ?? <span class="muted">{t.id}</span> },
  stateColumn,
  createdColumn,
  { header: 'Last used', cell: (t) => (t.last_used ? timeAgo(t.last_used) : DASH) },
];

export function ScrapeTokens() {
  const { api, session } = useServices();
  return (
    <CredentialSection
      testid="scrape-token"
      title="Prometheus scrape tokens"
      intro={
        <>
          Prometheus reads this tenant's latest host, container, service and custom metrics at{' '}
          <code>/api/metrics/prometheus</code> with a scrape token (see docs/grafana.md).
        </>
      }
      isAdmin={session.current?.user.role === 'admin'}
      adminOnly="Only admins can create or revoke scrape tokens."
      placeholder="Token name, e.g. prometheus-prod"
      inputLabel="New scrape token name"
      maxLength={MAX_NAME}
      createLabel="Create scrape token"
      validate={validateScrapeTokenName}
      create={async (name) => (await api.request('POST', '/api/config/scrape-tokens', name ? { name } : {})) as CreatedScrapeToken}
      renderCreated={(created, done) => <ScrapeTokenCreated created={created} onDone={done} />}
      load={async () => normalizeScrapeTokens(await api.request('GET', '/api/config/scrape-tokens'))}
      loadingText="Loading scrape tokens…"
      emptyText="No scrape tokens yet."
      columns={columns}
      rowState={revokedOrActive}
      confirmRevoke={(t) => `Revoke scrape token "${t.name ?? t.id}"? Prometheus servers using it get 401 from now on.`}
      revoke={async (t) => void (await api.request('DELETE', `/api/config/scrape-tokens/${encodeURIComponent(t.id)}`))}
    />
  );
}
