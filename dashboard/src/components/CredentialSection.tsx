// One Settings section for a kind of credential: create one (its secret is
// shown once, in a card the section draws), list them, revoke one. Agent
// tokens, Prometheus scrape tokens and integrators (NATS creds) are this
// section with their own words, columns and card.
//
// The secret lives only in this component's state, from the creation's
// answer until "Done" or the next attempt to create one: it is never listed,
// and starting another creation drops it for good.
//
// data-testids, from the stem `s` ("token", "scrape-token", "integrator"):
// the section `${s}s`, the name input `${s}-name`, its button `${s}-create`,
// the error `${s}-error`, the table `${s}s-table`, a row `${s}-row-<id>` and
// its button `${s}-revoke-<id>`; the card `${s}-created` with `${s}-done`.
import { Fragment, type ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { formatDateTime } from '../format';
import { useAsync } from '../hooks';

/** Where a credential stands; only an active one can be revoked. */
export type CredentialState = 'active' | 'revoked' | 'expired';

export interface Column<Row> {
  header: string;
  cell: (row: Row, state: CredentialState) => ComponentChildren;
}

/** The State column: the row's state as a pill. */
export const stateColumn: Column<unknown> = {
  header: 'State',
  cell: (_row, state) => <span class={`pill pill-${state}`}>{state}</span>,
};

/** The Created column. */
export const createdColumn: Column<{ created_at: string | null }> = {
  header: 'Created',
  cell: (row) => formatDateTime(row.created_at),
};

/** Active unless revoked (credentials that do not expire). */
export function revokedOrActive(row: { revoked_at: string | null }): CredentialState {
  return row.revoked_at ? 'revoked' : 'active';
}

export interface CredentialSectionProps<Row extends { id: string }, Created> {
  /** The data-testid stem (see the top of this file). */
  testid: string;
  title: string;
  /** The paragraph under the title. */
  intro: ComponentChildren;
  /** Only admins create and revoke. */
  isAdmin: boolean;
  /** Shown to others instead of the form. */
  adminOnly: string;
  /** Others see the list too (without revoke buttons); otherwise they see only `adminOnly` and nothing is fetched. */
  listForAll?: boolean;

  /** The name input and its button. */
  placeholder: string;
  inputLabel: string;
  maxLength: number;
  createLabel: string;
  /** Why the name cannot be sent, or null. */
  validate: (name: string) => string | null;
  /** Creates one with the trimmed name (empty when none was given). */
  create: (name: string) => Promise<Created>;
  /** The card showing what `create` answered, once; `done` drops it. */
  renderCreated: (created: Created, done: () => void) => ComponentChildren;

  /** The list. */
  load: () => Promise<Row[]>;
  loadingText: string;
  emptyText: string;
  columns: Column<Row>[];
  rowState: (row: Row) => CredentialState;

  /** Revocation, after the user confirms `confirmRevoke(row)`. */
  confirmRevoke: (row: Row) => string;
  revoke: (row: Row) => Promise<void>;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function CredentialSection<Row extends { id: string }, Created>(props: CredentialSectionProps<Row, Created>) {
  const { testid, isAdmin } = props;
  const showList = isAdmin || !!props.listForAll;
  const list = useAsync(() => (showList ? props.load() : Promise.resolve([])), [showList]);
  const [name, setName] = useState('');
  // `seq` tells one creation's card from the next, so the card's own state (copied, downloaded) starts afresh
  const [created, setCreated] = useState<{ value: Created; seq: number } | null>(null);
  const [creating, setCreating] = useState(false);
  const creatingNow = useRef(false);
  const seq = useRef(0);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const create = async (e: Event) => {
    e.preventDefault();
    if (creatingNow.current) return;
    setCreated(null);
    const invalid = props.validate(name);
    setError(invalid);
    if (invalid) return;
    creatingNow.current = true;
    setCreating(true);
    try {
      const value = await props.create(name.trim());
      setCreated({ value, seq: ++seq.current });
      setName('');
      list.reload();
    } catch (err) {
      setError(message(err));
    } finally {
      creatingNow.current = false;
      setCreating(false);
    }
  };

  const revoke = async (row: Row) => {
    if (!confirm(props.confirmRevoke(row))) return;
    setRevoking(row.id);
    setError(null);
    try {
      await props.revoke(row);
      list.reload();
    } catch (err) {
      setError(message(err));
    } finally {
      setRevoking(null);
    }
  };

  return (
    <section class="section" data-testid={`${testid}s`}>
      <h2>{props.title}</h2>
      <p class="muted">{props.intro}</p>
      {!showList ? (
        <p class="muted">{props.adminOnly}</p>
      ) : (
        <>
          {created ? <Fragment key={created.seq}>{props.renderCreated(created.value, () => setCreated(null))}</Fragment> : null}
          {isAdmin ? (
            <form class="toolbar" onSubmit={create} noValidate>
              <input
                class="input"
                placeholder={props.placeholder}
                value={name}
                maxLength={props.maxLength}
                onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
                aria-label={props.inputLabel}
                data-testid={`${testid}-name`}
              />
              <button type="submit" class="btn btn-primary" disabled={creating} data-testid={`${testid}-create`}>
                {creating ? 'Creating…' : props.createLabel}
              </button>
            </form>
          ) : (
            <p class="muted">{props.adminOnly}</p>
          )}
          {error ? <div class="form-error" role="alert" data-testid={`${testid}-error`}>{error}</div> : null}
          {list.error ? (
            <div class="form-error">{list.error.message}</div>
          ) : !list.data ? (
            <div class="empty">{props.loadingText}</div>
          ) : list.data.length === 0 ? (
            <div class="empty">{props.emptyText}</div>
          ) : (
            <div class="table-wrap">
              <table class="table" data-testid={`${testid}s-table`}>
                <thead>
                  <tr>
                    {props.columns.map((c) => <th key={c.header}>{c.header}</th>)}
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {list.data.map((row) => {
                    const state = props.rowState(row);
                    return (
                      <tr key={row.id} data-testid={`${testid}-row-${row.id}`} class={state !== 'active' ? 'is-dim' : ''}>
                        {props.columns.map((c) => <td key={c.header}>{c.cell(row, state)}</td>)}
                        <td class="num">
                          {isAdmin && state === 'active' ? (
                            <button
                              type="button"
                              class="btn btn-small btn-danger"
                              disabled={revoking === row.id}
                              onClick={() => revoke(row)}
                              data-testid={`${testid}-revoke-${row.id}`}
                            >
                              {revoking === row.id ? 'Revoking…' : 'Revoke'}
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
        </>
      )}
    </section>
  );
}

export interface CreatedCardProps {
  /** The data-testid stem: the card is `${testid}-created`, its Done button `${testid}-done`. */
  testid: string;
  title: string;
  warning: string;
  onDone: () => void;
  /** The secret and how to use it. */
  children: ComponentChildren;
  /** Buttons before Done (copy, download). */
  actions?: ComponentChildren;
  /** Under the buttons (a failed copy). */
  footer?: ComponentChildren;
}

/** The card a new credential is shown in, once. */
export function CreatedCard({ testid, title, warning, onDone, children, actions, footer }: CreatedCardProps) {
  return (
    <div class="card created" role="status" data-testid={`${testid}-created`}>
      <h3>{title}</h3>
      <p class="warn-text">{warning}</p>
      {children}
      <div class="row-actions">
        {actions}
        <button type="button" class="btn" onClick={onDone} data-testid={`${testid}-done`}>Done</button>
      </div>
      {footer}
    </div>
  );
}
