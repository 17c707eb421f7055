// Settings › Integrators (admins): NATS users of this tenant's own account,
// which receives only this tenant's metrics, hosts, alerts and actions
// (live, and kept in the account's HISTORY stream). List, create (the creds
// file is shown once, for download), revoke. docs/integrators.md.
import { useState } from 'preact/hooks';
import {
  type Column,
  createdColumn,
  CreatedCard,
  CredentialSection,
  revokedOrActive,
  stateColumn,
} from '../../components/CredentialSection';
import { useServices } from '../../context';
import { DASH, formatDateTime } from '../../format';

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

function IntegratorCreated({ created, onDone }: { created: CreatedIntegrator; onDone: () => void }) {
  const [downloaded, setDownloaded] = useState(false);
  const file = credsFileName(created.name);
  return (
    <CreatedCard
      testid="integrator"
      title={`Integrator "${created.name}" created`}
      warning="Download the creds now: they are shown only once and cannot be retrieved later."
      onDone={onDone}
      actions={
        <button
          type="button"
          class="btn btn-primary"
          onClick={() => {
            download(file, created.credentials);
            setDownloaded(true);
          }}
          data-testid="integrator-download"
        >
          {downloaded ? 'Downloaded ✓' : `Download ${file}`}
        </button>
      }
    >
      <div class="field-label">Creds file</div>
      <pre class="command secret" data-testid="integrator-creds">{created.credentials}</pre>
      <div class="field-label">Subjects (live) and the stream {created.stream} (history)</div>
      <code data-testid="integrator-subjects">{created.subjects.join('  ')}</code>
      <div class="field-label">First commands (nats CLI)</div>
      <pre class="command" data-testid="integrator-commands">{firstCommands(`nats://${location.hostname || 'localhost'}:4222`, created)}</pre>
    </CreatedCard>
  );
}

const columns: Column<Integrator>[] = [
  { header: 'Name', cell: (i) => <>{i.name} <span class="muted mono">{i.id}</span></> },
  stateColumn,
  createdColumn,
  { header: 'Revoked', cell: (i) => (i.revoked_at ? formatDateTime(i.revoked_at) : DASH) },
];

export function Integrators() {
  const { api, session } = useServices();
  return (
    <CredentialSection
      testid="integrator"
      title="Integrators (NATS)"
      intro={
        <>
          Programs of yours that read this tenant's metrics, host events, alerts and actions straight from the bus, live and
          from a history stream, with a NATS creds file. They see nothing of other tenants and cannot publish into Vigil
          (see docs/integrators.md).
        </>
      }
      isAdmin={session.current?.user.role === 'admin'}
      adminOnly="Only admins can create or revoke integrators."
      placeholder="Integrator name, e.g. grafana-etl"
      inputLabel="New integrator name"
      maxLength={MAX_NAME}
      createLabel="Create integrator"
      validate={validateIntegratorName}
      create={async (name) => (await api.request('POST', '/api/config/integrators', name ? { name } : {})) as CreatedIntegrator}
      renderCreated={(created, done) => <IntegratorCreated created={created} onDone={done} />}
      load={async () => normalizeIntegrators(await api.request('GET', '/api/config/integrators'))}
      loadingText="Loading integrators…"
      emptyText="No integrators yet."
      columns={columns}
      rowState={revokedOrActive}
      confirmRevoke={(i) => `Revoke integrator "${i.name}"? Its connections are dropped and its creds refused from now on.`}
      revoke={async (i) => void (await api.request('DELETE', `/api/config/integrators/${encodeURIComponent(i.id)}`))}
    />
  );
}
