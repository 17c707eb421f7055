// The Actions page (its own chunk): the tenant's remote actions, newest
// first, filtered by host, status and type (kept in `?host=&status=&type=`),
// paged with "Older" (`before` = the last id shown), kept live by `action`
// frames (a new action appears on top, a row's status moves); a row opens
// `/actions/<id>`: command, rule, exit code, error, timings and the output,
// also live. Everyone reads it; only operators and admins run actions (from
// the host pages).
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { actionLabel, targetOf } from '../actions/policy';
import { compareActions, isFinal } from '../actions/store';
import { ApiError } from '../api/client';
import { ACTION_STATUSES, ACTION_TYPES, type ActionRecord, type ActionStatus, type ActionType } from '../api/types';
import { ActionStatusBadge } from '../components/ActionControls';
import { useServices } from '../context';
import { DASH, formatDateTime, formatMs, timeAgo } from '../format';
import { useActions, useAsync, useNow, useSortedIds } from '../hooks';
import { navigate, onLinkClick } from '../router';
import { HostSelect, LoadError, valueOf } from './alerts/ui';

/** Actions per page of the log. */
export const ACTIONS_PAGE = 50;

interface Filters { host: string; status: '' | ActionStatus; type: '' | ActionType }

function filtersFromLocation(): Filters {
  const q = new URLSearchParams(location.search);
  const status = q.get('status') ?? '';
  const type = q.get('type') ?? '';
  return {
    host: q.get('host') ?? '',
    status: (ACTION_STATUSES as readonly string[]).includes(status) ? (status as ActionStatus) : '',
    type: (ACTION_TYPES as readonly string[]).includes(type) ? (type as ActionType) : '',
  };
}

/** The log's query string as last shown, for the detail's way back. */
let listSearch = '';

function matches(a: ActionRecord, f: Filters): boolean {
  return (!f.host || a.host_id === f.host) && (!f.status || a.status === f.status) && (!f.type || a.type === f.type);
}

export function Actions() {
  const { api, store, actions } = useServices();
  useActions(actions);
  useSortedIds(store, 'name', false); // host names follow hosts coming and going
  const now = useNow();
  const [f, setF] = useState<Filters>(filtersFromLocation);
  // the oldest action of the pages loaded: older ones (from other filters, say) wait for "Older"
  const [oldest, setOldest] = useState<ActionRecord | null>(null);
  const [done, setDone] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<Error | null>(null);
  // the filters' generation: an answer for older filters is dropped
  const gen = useRef(0);

  const load = async (before: ActionRecord | null, g: number) => {
    setLoading(true);
    setError(null);
    try {
      const page = await api.actions({
        host_id: f.host || undefined, status: f.status || undefined, type: f.type || undefined, before: before?.id, limit: ACTIONS_PAGE,
      });
      if (g !== gen.current) return;
      actions.upsert(...page);
      if (page.length) setOldest(page[page.length - 1]!);
      setDone(page.length < ACTIONS_PAGE);
      setLoaded(true);
    } catch (e) {
      if (g === gen.current) setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      if (g === gen.current) setLoading(false);
    }
  };
  useEffect(() => {
    const g = ++gen.current;
    const q = new URLSearchParams();
    if (f.host) q.set('host', f.host);
    if (f.status) q.set('status', f.status);
    if (f.type) q.set('type', f.type);
    listSearch = q.toString() ? `?${q}` : '';
    history.replaceState(null, '', `/actions${listSearch}`);
    setOldest(null);
    setDone(false);
    setLoaded(false);
    void load(null, g);
  }, [f.host, f.status, f.type, actions.epoch]);

  const rows = loaded
    ? actions.list().filter((a) => matches(a, f) && (done || (oldest !== null && compareActions(a, oldest) <= 0)))
    : [];
  const filtering = !!(f.host || f.status || f.type);
  const set = <K extends keyof Filters>(key: K, value: Filters[K]) => setF((old) => ({ ...old, [key]: value }));
  const open = (e: MouseEvent, a: ActionRecord) => {
    if ((e.target as Element).closest('a') || e.metaKey || e.ctrlKey || e.shiftKey) return;
    navigate(`/actions/${encodeURIComponent(a.id)}`);
  };

  return (
    <div data-testid="actions-page">
      <h1>Actions</h1>
      <div class="toolbar filters">
        <HostSelect store={store} value={f.host} onChange={(v) => set('host', v)} anyLabel="All hosts" testid="actions-filter-host" label="Host" />
        <select
          class="input select"
          value={f.status}
          onChange={(e) => {
            const v = valueOf(e);
            set('status', (ACTION_STATUSES as readonly string[]).includes(v) ? (v as ActionStatus) : '');
          }}
          aria-label="Status"
          data-testid="actions-filter-status"
        >
          <option value="">All statuses</option>
          {ACTION_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <select
          class="input select"
          value={f.type}
          onChange={(e) => {
            const v = valueOf(e);
            set('type', (ACTION_TYPES as readonly string[]).includes(v) ? (v as ActionType) : '');
          }}
          aria-label="Type"
          data-testid="actions-filter-type"
        >
          <option value="">All types</option>
          {ACTION_TYPES.map((t) => <option key={t} value={t}>{actionLabel(t)}</option>)}
        </select>
      </div>
      {error ? <div data-testid="actions-error"><LoadError error={error} what="Remote actions" /></div> : null}
      {!loaded ? (
        error ? null : <div class="empty">Loading actions…</div>
      ) : rows.length === 0 ? (
        <div class="empty" data-testid="actions-empty">{filtering ? 'No action matches these filters.' : 'No actions yet: operators and admins start them from a host page.'}</div>
      ) : (
        <div class="table-wrap">
          <table class="table actions-table" data-testid="actions-table" data-count={rows.length}>
            <thead>
              <tr><th>Time</th><th>Host</th><th>Action</th><th>Target</th><th>Requested by</th><th>Status</th><th class="num">Duration</th></tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr key={a.id} class="is-clickable" onClick={(e) => open(e, a)} data-testid={`action-row-${a.id}`} data-status={a.status}>
                  <td title={formatDateTime(a.created_at)}>
                    <a href={`/actions/${encodeURIComponent(a.id)}`} onClick={onLinkClick}>{timeAgo(a.created_at, now)}</a>
                  </td>
                  <td>{store.get(a.host_id)?.name ?? a.host_id}</td>
                  <td>{actionLabel(a.type)}</td>
                  <td class="mono ellipsis" title={targetOf(a.params)}>{targetOf(a.params) || DASH}</td>
                  <td class="ellipsis">{a.requested_by || DASH}</td>
                  <td><ActionStatusBadge status={a.status} /></td>
                  <td class="num">{formatMs(a.duration_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {loaded && !done ? (
        <div class="row-actions load-more">
          <button type="button" class="btn" disabled={loading} onClick={() => void load(oldest, gen.current)} data-testid="actions-older">
            {loading ? 'Loading…' : 'Older'}
          </button>
        </div>
      ) : null}
    </div>
  );
}

function Row({ label, children, testid }: { label: string; children: ComponentChildren; testid?: string }) {
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={testid}>{children}</dd>
    </>
  );
}

/** One action: what ran, what decided, when, and its output; live while it runs. */
export function ActionDetail({ id }: { id: string }) {
  const { api, actions, store } = useServices();
  useActions(actions);
  const answer = useAsync(async () => {
    const a = await api.action(id);
    actions.upsert(a);
    return a;
  }, [id, actions.epoch]);
  const a = actions.get(id) ?? answer.data;
  const back = (
    <a href={`/actions${listSearch}`} onClick={onLinkClick} class="back">← Actions</a>
  );
  if (!a) {
    return (
      <div>
        {back}
        {answer.error ? (
          answer.error instanceof ApiError && answer.error.notFound ? (
            <div class="empty" data-testid="action-not-found">No action "{id}" in your tenant.</div>
          ) : (
            <LoadError error={answer.error} what="Remote actions" />
          )
        ) : (
          <div class="empty">Loading action…</div>
        )}
      </div>
    );
  }
  const target = targetOf(a.params);
  return (
    <div data-testid="action-detail" data-status={a.status}>
      <div class="crumbs">
        {back}
        <span class="muted">/</span>
        <h1>{actionLabel(a.type)} <span class="mono">{target}</span></h1>
        <ActionStatusBadge status={a.status} testid="action-status" />
      </div>
      <div class="card">
        <dl class="kv kv-wide">
          <Row label="Host">
            <a href={`/hosts/${encodeURIComponent(a.host_id)}`} onClick={onLinkClick}>{store.get(a.host_id)?.name ?? a.host_id}</a>
          </Row>
          <Row label="Requested by" testid="action-requested-by">{a.requested_by || DASH}</Row>
          <Row label="Command"><code data-testid="action-command">{a.command ?? DASH}</code></Row>
          <Row label="Rule" testid="action-rule">
            {a.rule ? <code>{a.rule}</code> : a.status === 'denied' && a.command ? 'none: refused by default' : DASH}
          </Row>
          <Row label="Exit code" testid="action-exit-code">{a.exit_code ?? DASH}</Row>
          {a.error ? <Row label="Error"><span class="err-text" data-testid="action-error-text">{a.error}</span></Row> : null}
          <Row label="Requested">{formatDateTime(a.created_at)}</Row>
          {a.status === 'pending' ? <Row label="Expires">{formatDateTime(a.expires_at)}</Row> : null}
          <Row label="Dispatched">{formatDateTime(a.dispatched_at)}</Row>
          <Row label="Started">{formatDateTime(a.started_at)}</Row>
          <Row label="Completed">{formatDateTime(a.completed_at)}</Row>
          <Row label="Duration" testid="action-duration">{formatMs(a.duration_ms)}</Row>
          <Row label="Timeout">{a.timeout_seconds ? `${a.timeout_seconds} s` : DASH}</Row>
        </dl>
      </div>
      <section class="section">
        <h2>Output</h2>
        {!isFinal(a.status) ? (
          <div class="empty" data-testid="action-waiting">
            {a.status === 'pending' ? 'Waiting for the host\'s agent to take it…' : 'Running… the output arrives when it finishes.'}
          </div>
        ) : a.output === null ? (
          <div class="empty">Loading output…</div>
        ) : (
          <>
            <pre class="output" data-testid="action-output">{a.output || <span class="muted">(no output)</span>}</pre>
            {a.truncated ? <p class="warn-text" data-testid="action-truncated">Output truncated at 64 KiB: the rest was dropped.</p> : null}
          </>
        )}
      </section>
    </div>
  );
}
