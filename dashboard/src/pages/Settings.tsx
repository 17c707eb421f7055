// Settings: agent tokens (list, create — shown once with the install
// command — and revoke) and the signed-in account. The API has no user
// management yet, which the Users section says.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { AgentToken } from '../api/types';
import { useServices } from '../context';
import { DASH, formatDateTime, timeAgo } from '../format';
import { useAsync } from '../hooks';
import { installCommand, TokenFlow, type TokenFlowState } from '../tokenFlow';

export function tokenState(t: AgentToken, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) <= now) return 'expired';
  return 'active';
}

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection-based copy
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

function CreatedPanel({ state, flow }: { state: Extract<TokenFlowState, { kind: 'created' }>; flow: TokenFlow }) {
  const command = installCommand(location.hostname || 'localhost', state.token);
  const [copyFailed, setCopyFailed] = useState(false);
  return (
    <div class="card created" role="status" data-testid="token-created">
      <h3>Token "{state.name}" created</h3>
      <p class="warn-text">Copy it now: it is shown only once and cannot be retrieved later.</p>
      <div class="field-label">Token</div>
      <code class="secret" data-testid="token-value">{state.token}</code>
      <div class="field-label">Install command (run on the host, with the gateway's CA certificate as ca.pem)</div>
      <pre class="command" data-testid="install-command">{command}</pre>
      <div class="row-actions">
        <button
          type="button"
          class="btn btn-primary"
          onClick={async () => {
            const ok = await copyText(command);
            setCopyFailed(!ok);
            if (ok) flow.markCopied();
          }}
          data-testid="copy-install"
        >
          {state.copied ? 'Copied ✓' : 'Copy command'}
        </button>
        <button type="button" class="btn" onClick={() => flow.dismiss()} data-testid="token-done">Done</button>
      </div>
      {copyFailed ? <p class="form-error">The browser refused to copy; select the command and copy it by hand.</p> : null}
    </div>
  );
}

function Tokens() {
  const { api, session } = useServices();
  const isAdmin = session.current?.user.role === 'admin';
  const list = useAsync(() => api.tokens(), []);
  const flow = useMemo(() => new TokenFlow(api, () => list.reload()), [api]);
  const [state, setState] = useState<TokenFlowState>(flow.state);
  useEffect(() => flow.subscribe(setState), [flow]);
  const [name, setName] = useState('');
  const [revoking, setRevoking] = useState<string | null>(null);
  const [revokeError, setRevokeError] = useState<string | null>(null);

  const revoke = async (t: AgentToken) => {
    if (!confirm(`Revoke token "${t.name ?? t.id}"? Agents using it can no longer connect.`)) return;
    setRevoking(t.id);
    setRevokeError(null);
    try {
      await api.revokeToken(t.id);
      list.reload();
    } catch (e) {
      setRevokeError(e instanceof Error ? e.message : String(e));
    } finally {
      setRevoking(null);
    }
  };

  return (
    <section class="section" data-testid="tokens">
      <h2>Agent tokens</h2>
      <p class="muted">An agent enrolls with a token; revoking it stops new enrollments and connections with it.</p>
      {state.kind === 'created' ? <CreatedPanel state={state} flow={flow} /> : null}
      {isAdmin ? (
        <form
          class="toolbar"
          onSubmit={(e) => {
            e.preventDefault();
            void flow.create(name).then(() => {
              if (flow.state.kind === 'created') setName('');
            });
          }}
        >
          <input
            class="input"
            placeholder="Token name, e.g. prod-servers"
            value={name}
            maxLength={100}
            onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
            aria-label="New token name"
            data-testid="token-name"
          />
          <button type="submit" class="btn btn-primary" disabled={state.kind === 'creating'} data-testid="token-create">
            {state.kind === 'creating' ? 'Creating…' : 'Create token'}
          </button>
        </form>
      ) : (
        <p class="muted">Only admins can create or revoke tokens.</p>
      )}
      {state.kind === 'failed' ? <div class="form-error" role="alert" data-testid="token-error">{state.message}</div> : null}
      {revokeError ? <div class="form-error" role="alert">{revokeError}</div> : null}
      {list.error ? (
        <div class="form-error">{list.error.message}</div>
      ) : !list.data ? (
        <div class="empty">Loading tokens…</div>
      ) : list.data.length === 0 ? (
        <div class="empty">No agent tokens yet.</div>
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="tokens-table">
            <thead>
              <tr><th>Name</th><th>State</th><th>Created</th><th>Last used</th><th /></tr>
            </thead>
            <tbody>
              {list.data.map((t) => {
                const st = tokenState(t);
                return (
                  <tr key={t.id} data-testid={`token-row-${t.id}`} class={st !== 'active' ? 'is-dim' : ''}>
                    <td>{t.name ?? <span class="muted">{t.id}</span>}</td>
                    <td><span class={`pill pill-${st}`}>{st}</span></td>
                    <td>{formatDateTime(t.created_at)}</td>
                    <td>{t.last_used ? timeAgo(t.last_used) : DASH}</td>
                    <td class="num">
                      {isAdmin && st === 'active' ? (
                        <button
                          type="button"
                          class="btn btn-small btn-danger"
                          disabled={revoking === t.id}
                          onClick={() => revoke(t)}
                          data-testid={`token-revoke-${t.id}`}
                        >
                          {revoking === t.id ? 'Revoking…' : 'Revoke'}
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function Settings() {
  const { session } = useServices();
  const user = session.current?.user;
  return (
    <div>
      <h1>Settings</h1>
      <Tokens />
      <section class="section" data-testid="users">
        <h2>Users</h2>
        <p class="muted">User management is not available in the API yet. You are signed in as:</p>
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Email</th><th>Role</th><th>Tenant</th></tr></thead>
            <tbody>
              <tr><td>{user?.email ?? DASH}</td><td>{user?.role ?? DASH}</td><td class="mono">{user?.tenant_id ?? DASH}</td></tr>
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}
