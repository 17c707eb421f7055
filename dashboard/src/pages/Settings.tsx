// Settings: agent tokens (list, create — shown once with the install
// command — and revoke), notification channels (pages/Channels.tsx, loaded
// with the section) and the tenant's users (admins: list, add — with a
// generated password shown once when none is given —, change a role among
// viewer, operator and admin, delete; others see their own account).
import { useState } from 'preact/hooks';
import { ROLES, type AgentToken, type CreatedToken, type CreatedUser, type KnownRole, type UserInfo } from '../api/types';
import { type Column, createdColumn, CreatedCard, CredentialSection, stateColumn } from '../components/CredentialSection';
import { lazy } from '../components/Lazy';
import { useServices } from '../context';
import { DASH, formatDateTime, timeAgo } from '../format';
import { useAsync, useRowActions } from '../hooks';
import { installCommand, NAME_MAX, validateTokenName } from '../tokenFlow';

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

function TokenCreated({ created, onDone }: { created: CreatedToken & { name: string }; onDone: () => void }) {
  const command = installCommand(location.hostname || 'localhost', created.token);
  const [copied, setCopied] = useState<boolean | null>(null);
  return (
    <CreatedCard
      testid="token"
      title={`Token "${created.name}" created`}
      warning="Copy it now: it is shown only once and cannot be retrieved later."
      onDone={onDone}
      actions={
        <button type="button" class="btn btn-primary" onClick={async () => setCopied(await copyText(command))} data-testid="copy-install">
          {copied ? 'Copied ✓' : 'Copy command'}
        </button>
      }
      footer={copied === false ? <p class="form-error">The browser refused to copy; select the command and copy it by hand.</p> : null}
    >
      <div class="field-label">Token</div>
      <code class="secret" data-testid="token-value">{created.token}</code>
      <div class="field-label">Install command (run on the host, with the gateway's CA certificate as ca.pem)</div>
      <pre class="command" data-testid="install-command">{command}</pre>
    </CreatedCard>
  );
}

const tokenColumns: Column<AgentToken>[] = [
  { header: 'Name', cell: (t) => t.name ?? <span class="muted">{t.id}</span> },
  stateColumn,
  createdColumn,
  { header: 'Last used', cell: (t) => (t.last_used ? timeAgo(t.last_used) : DASH) },
];

function Tokens() {
  const { api, session } = useServices();
  return (
    <CredentialSection
      testid="token"
      title="Agent tokens"
      intro="An agent enrolls with a token; revoking it stops new enrollments and connections with it."
      isAdmin={session.current?.user.role === 'admin'}
      adminOnly="Only admins can create or revoke tokens."
      listForAll
      placeholder="Token name, e.g. prod-servers"
      inputLabel="New token name"
      maxLength={NAME_MAX}
      createLabel="Create token"
      validate={validateTokenName}
      create={async (name) => ({ ...(await api.createToken(name)), name })}
      renderCreated={(created, done) => <TokenCreated created={created} onDone={done} />}
      load={() => api.tokens()}
      loadingText="Loading tokens…"
      emptyText="No agent tokens yet."
      columns={tokenColumns}
      rowState={tokenState}
      confirmRevoke={(t) => `Revoke token "${t.name ?? t.id}"? Agents using it can no longer connect.`}
      revoke={(t) => api.revokeToken(t.id)}
    />
  );
}

/** A role select's value as a role (anything unknown: viewer, the least). */
export function roleOf(value: string): KnownRole {
  return (ROLES as readonly string[]).includes(value) ? (value as KnownRole) : 'viewer';
}

/** The role choices: what each may do in its title. */
function RoleOptions() {
  return (
    <>
      <option value="viewer" title="reads everything, changes nothing">viewer</option>
      <option value="operator" title="also runs remote actions on hosts (restart, start, stop, exec)">operator</option>
      <option value="admin" title="also manages tokens, users, rules and channels">admin</option>
    </>
  );
}

/** Why the add-user form cannot be sent as is, or null (the server checks again). */
export function validateNewUser(email: string, password: string): string | null {
  const e = email.trim();
  const at = e.indexOf('@');
  if (!e || at <= 0 || at === e.length - 1 || e.indexOf('@', at + 1) !== -1 || /\s/.test(e)) {
    return 'email: enter an address like name@example.com';
  }
  if (password && password.length < 8) return 'password: at least 8 characters, or leave it empty to generate one';
  return null;
}

function CreatedUserPanel({ user, onDone }: { user: CreatedUser; onDone: () => void }) {
  const [copied, setCopied] = useState<boolean | null>(null);
  return (
    <div class="card created" role="status" data-testid="user-created">
      <h3>User {user.email} added ({user.role})</h3>
      {user.password ? (
        <>
          <p class="warn-text">Copy the password now: it is shown only once. Give it to {user.email}.</p>
          <div class="field-label">Password</div>
          <code class="secret" data-testid="user-password">{user.password}</code>
        </>
      ) : (
        <p class="muted">They sign in with the password you chose.</p>
      )}
      <div class="row-actions">
        {user.password ? (
          <button type="button" class="btn btn-primary" onClick={async () => setCopied(await copyText(user.password!))} data-testid="user-copy">
            {copied ? 'Copied ✓' : 'Copy password'}
          </button>
        ) : null}
        <button type="button" class="btn" onClick={onDone} data-testid="user-done">Done</button>
      </div>
      {copied === false ? <p class="form-error">The browser refused to copy; select the password and copy it by hand.</p> : null}
    </div>
  );
}

function AddUserForm({ onCreated }: { onCreated: (u: CreatedUser) => void }) {
  const { api } = useServices();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<KnownRole>('viewer');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const invalid = validateNewUser(email, password);
    setError(invalid);
    if (invalid) return;
    setBusy(true);
    try {
      const created = await api.createUser({ email: email.trim(), role, ...(password ? { password } : {}) });
      setEmail('');
      setPassword('');
      setRole('viewer');
      onCreated(created);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="toolbar add-user" onSubmit={submit} noValidate data-testid="user-form">
      <input
        class="input"
        type="email"
        placeholder="Email, e.g. ops@example.com"
        value={email}
        autoComplete="off"
        onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)}
        aria-label="New user's email"
        data-testid="user-email"
      />
      <select
        class="input select"
        value={role}
        onChange={(e) => setRole(roleOf((e.currentTarget as HTMLSelectElement).value))}
        aria-label="New user's role"
        data-testid="user-role"
      >
        <RoleOptions />
      </select>
      <input
        class="input"
        type="password"
        placeholder="Password (empty: generate one)"
        value={password}
        autoComplete="new-password"
        onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
        aria-label="New user's password (leave empty to generate one)"
        data-testid="user-password-input"
      />
      <button type="submit" class="btn btn-primary" disabled={busy} data-testid="user-add">
        {busy ? 'Adding…' : 'Add user'}
      </button>
      {error ? <div class="form-error form-row" role="alert" data-testid="user-error">{error}</div> : null}
    </form>
  );
}

function UsersAdmin({ me }: { me: string }) {
  const { api } = useServices();
  const list = useAsync(() => api.users(), []);
  const [created, setCreated] = useState<CreatedUser | null>(null);

  const { busy, error, act } = useRowActions(list.reload);
  const remove = (u: UserInfo) => {
    if (!confirm(`Delete user ${u.email}? They are signed out when their access token expires and cannot sign in again.`)) return;
    void act(u.id, () => api.deleteUser(u.id));
  };
  const changeRole = (u: UserInfo, role: KnownRole) => {
    if (role !== u.role) void act(u.id, () => api.setUserRole(u.id, role));
  };

  return (
    <>
      {created ? <CreatedUserPanel user={created} onDone={() => setCreated(null)} /> : null}
      <AddUserForm onCreated={(u) => { setCreated(u); list.reload(); }} />
      {error ? <div class="form-error" role="alert" data-testid="users-error">{error}</div> : null}
      {list.error ? (
        <div class="form-error">{list.error.message}</div>
      ) : !list.data ? (
        <div class="empty">Loading users…</div>
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="users-table">
            <thead>
              <tr><th>Email</th><th>Role</th><th>Added</th><th /></tr>
            </thead>
            <tbody>
              {list.data.map((u) => {
                const self = u.id === me;
                return (
                  <tr key={u.id} data-testid={`user-row-${u.id}`}>
                    <td class="ellipsis">{u.email}{self ? <span class="muted"> (you)</span> : null}</td>
                    <td>
                      {self ? (
                        <span data-testid={`user-role-${u.id}`}>{u.role}</span>
                      ) : (
                        <select
                          class="input select select-small"
                          value={u.role}
                          disabled={busy === u.id}
                          onChange={(e) => changeRole(u, roleOf((e.currentTarget as HTMLSelectElement).value))}
                          aria-label={`Role of ${u.email}`}
                          data-testid={`user-role-${u.id}`}
                        >
                          <RoleOptions />
                        </select>
                      )}
                    </td>
                    <td>{formatDateTime(u.created_at)}</td>
                    <td class="num">
                      {self ? null : (
                        <button
                          type="button"
                          class="btn btn-small btn-danger"
                          disabled={busy === u.id}
                          onClick={() => remove(u)}
                          data-testid={`user-delete-${u.id}`}
                        >
                          {busy === u.id ? 'Working…' : 'Delete'}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function Users() {
  const { session } = useServices();
  const user = session.current?.user;
  const isAdmin = user?.role === 'admin';
  return (
    <section class="section" data-testid="users">
      <h2>Users</h2>
      {isAdmin && user ? (
        <>
          <p class="muted">
            People who can sign in to this tenant. Viewers only look; operators also run remote actions on hosts (restart,
            start, stop, exec); admins also manage tokens, users, rules and channels.
          </p>
          <UsersAdmin me={user.id} />
        </>
      ) : (
        <>
          <p class="muted">Only admins can add or remove users. You are signed in as:</p>
          <div class="table-wrap">
            <table class="table">
              <thead><tr><th>Email</th><th>Role</th><th>Tenant</th></tr></thead>
              <tbody>
                <tr><td>{user?.email ?? DASH}</td><td>{user?.role ?? DASH}</td><td class="mono">{user?.tenant_id ?? DASH}</td></tr>
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

const Channels = lazy(() => import('./Channels').then((m) => m.Channels), 'notification channels');
const ScrapeTokens = lazy(() => import('./settings/ScrapeTokens').then((m) => m.ScrapeTokens), 'scrape tokens');
const Integrators = lazy(() => import('./settings/Integrators').then((m) => m.Integrators), 'integrators');
const Tenant = lazy(() => import('./settings/Tenant').then((m) => m.Tenant), 'tenant settings');

export function Settings() {
  return (
    <div>
      <h1>Settings</h1>
      <Tokens />
      <Channels />
      <ScrapeTokens />
      <Integrators />
      <Tenant />
      <Users />
    </div>
  );
}
