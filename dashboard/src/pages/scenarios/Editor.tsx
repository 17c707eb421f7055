// One scenario (`/scenarios/<id>`, or `/scenarios/new`): its text in a
// monospace textarea (YAML or JSON, sent as written), a rule picker that
// writes the rule's id into the trigger, Save and Delete (admins), the
// server's 422 under the editor with the line it names (or, for a path
// such as `steps[1].params.service`, the line where that is written) and a
// caret under its column; Dry run and Run now, optionally on one host
// (operators and admins), the run shown as it goes; the scenario's runs.
import { useEffect, useRef, useState } from 'preact/hooks';
import { caretAt } from '../../alerting/conditionError';
import { ApiError } from '../../api/client';
import type { RuleRecord, ScenarioRecord, ScenarioRun } from '../../api/types';
import { useCanAct, useCanWrite, useServices } from '../../context';
import { DASH, formatDateTime, timeAgo, toTime } from '../../format';
import { useAsync, useNow } from '../../hooks';
import { navigate, onLinkClick } from '../../router';
import { deleteScenario, getScenario, listRuns, runScenario, saveScenario } from '../../scenarios/api';
import { locatePath, parseScenarioError, setTriggerAlert, TEMPLATE, type Place, type ScenarioError } from '../../scenarios/source';
import { LoadError, valueOf } from '../alerts/ui';
import { elapsed, RunStatusBadge, RunSteps, RunSummary, RUN_POLL, TriggerLabel, useLiveRun } from './ui';

/** Runs per page of a scenario's history. */
export const RUNS_PAGE = 20;

/** A scenario just created, handed to its own page (so it shows without asking again). */
let handoff: ScenarioRecord | null = null;

interface SaveError {
  error: ScenarioError;
  /** The text the server refused (the caret points into it). */
  source: string;
  place: Place | null;
}

function saveErrorOf(e: unknown, source: string): SaveError {
  const message = e instanceof Error ? e.message : String(e);
  if (!(e instanceof ApiError) || e.status !== 422) {
    return { error: { field: null, line: null, column: null, message }, source, place: null };
  }
  const error = parseScenarioError(message);
  const place: Place | null = error.line !== null
    ? { line: error.line, column: error.column ?? 1, exact: true }
    : error.field ? locatePath(source, error.field) : null;
  return { error, source, place };
}

/** The server's refusal under the editor: the line it names with a caret, the message, and a way to that line. */
function SourceError({ e, onGoto }: { e: SaveError; onGoto: (p: Place) => void }) {
  const { place } = e;
  const caret = place ? caretAt(e.source, place.line, place.column) : null;
  const gutter = place ? `${place.line} | ` : '';
  return (
    <div class="caret-error scenario-error" role="alert">
      {place && caret ? (
        <pre class="caret-box" data-testid="scenario-error-caret" data-line={place.line} data-column={place.column} data-exact={String(place.exact)}>
          <span class="muted">{gutter}</span>{caret.text}
          {'\n'}
          <span class="caret">{' '.repeat(gutter.length)}{caret.pad}^</span>
        </pre>
      ) : null}
      <div class="inline-error" data-testid="scenario-error" data-field={e.error.field ?? ''}>{e.error.message}</div>
      {place ? (
        <button type="button" class="btn btn-small btn-ghost" onClick={() => onGoto(place)} data-testid="scenario-error-goto">
          Go to line {place.line}{place.exact ? '' : ` (where ${e.error.field} belongs)`}
        </button>
      ) : null}
    </div>
  );
}

/** 1-based line and column of offset `at` in `text`. */
function lineCol(text: string, at: number): { line: number; col: number } {
  const before = text.slice(0, at).split('\n');
  return { line: before.length, col: Array.from(before[before.length - 1]!).length + 1 };
}

export function ScenarioPage({ id }: { id: string | null }) {
  const { api } = useServices();
  const canWrite = useCanWrite();
  const loaded = useAsync(async () => {
    if (id === null) return null;
    if (handoff?.id === id) {
      const r = handoff;
      handoff = null;
      return r;
    }
    return getScenario(api, id);
  }, [id]);
  const rules = useAsync(() => api.rules(), []);
  const [saved, setSaved] = useState<ScenarioRecord | null>(null);
  const current = saved ?? loaded.data ?? null;
  const [text, setText] = useState<string | null>(null);
  const [busy, setBusy] = useState<null | 'save' | 'delete'>(null);
  const [error, setError] = useState<SaveError | null>(null);
  const [cursor, setCursor] = useState({ line: 1, col: 1 });
  const area = useRef<HTMLTextAreaElement>(null);
  const [runsVersion, setRunsVersion] = useState(0);

  const back = <a href="/scenarios" onClick={onLinkClick} class="back">← Scenarios</a>;
  if (id !== null && !current) {
    return (
      <div data-testid="scenario-page">
        {back}
        {loaded.error ? (
          loaded.error instanceof ApiError && loaded.error.notFound ? (
            <div class="empty" data-testid="scenario-not-found">No scenario "{id}" in your tenant.</div>
          ) : (
            <LoadError error={loaded.error} what="Scenarios" />
          )
        ) : (
          <div class="empty">Loading scenario…</div>
        )}
      </div>
    );
  }

  const source = text ?? current?.source ?? TEMPLATE;
  const dirty = current ? source !== current.source : true;
  const readOnly = !canWrite;

  const save = async (e: Event) => {
    e.preventDefault();
    if (!canWrite || busy) return;
    setBusy('save');
    setError(null);
    try {
      const r = await saveScenario(api, current?.id ?? null, source);
      if (!current) {
        handoff = r;
        navigate(`/scenarios/${encodeURIComponent(r.id)}`, true);
        return;
      }
      setSaved(r);
      setText(null);
    } catch (err) {
      setError(saveErrorOf(err, source));
    } finally {
      setBusy(null);
    }
  };

  const remove = async () => {
    if (!current || busy || !confirm(`Delete scenario "${current.spec.name}"? It stops running; this cannot be undone.`)) return;
    setBusy('delete');
    setError(null);
    try {
      await deleteScenario(api, current.id);
      navigate('/scenarios');
    } catch (err) {
      setError(saveErrorOf(err, source));
      setBusy(null);
    }
  };

  const moveCursor = () => {
    const ta = area.current;
    if (ta) setCursor(lineCol(ta.value, ta.selectionStart ?? 0));
  };

  const goto = (p: Place) => {
    const ta = area.current;
    if (!ta) return;
    const lines = ta.value.split('\n');
    const line = Math.min(Math.max(1, p.line), lines.length);
    let start = 0;
    for (let i = 0; i < line - 1; i += 1) start += lines[i]!.length + 1;
    const lineText = lines[line - 1] ?? '';
    // columns count characters; offsets count UTF-16 units
    const at = start + Array.from(lineText).slice(0, Math.max(0, p.column - 1)).join('').length;
    ta.focus();
    ta.setSelectionRange(at, start + lineText.length);
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (line - 3) * lh);
    setCursor({ line, col: p.column });
  };

  const pickRule = (ruleId: string) => {
    if (!ruleId) return;
    setText(setTriggerAlert(source, ruleId));
  };

  const name = current?.spec.name ?? 'New scenario';
  return (
    <div data-testid="scenario-page" data-id={current?.id ?? ''}>
      <div class="crumbs">
        {back}
        <span class="muted">/</span>
        <h1 class="wrap">{name}</h1>
        {current ? (
          <span class={`pill${current.spec.enabled ? ' pill-active' : ''}`} data-testid="scenario-enabled">{current.spec.enabled ? 'enabled' : 'disabled'}</span>
        ) : null}
      </div>
      {current ? <Summary record={current} rules={rules.data} /> : null}
      <form class="card editor" onSubmit={save} noValidate data-testid="scenario-editor" data-dirty={String(dirty)}>
        <div class="section-head editor-head">
          <h2>Definition</h2>
          {canWrite ? (
            <select
              class="input select select-small"
              value=""
              onChange={(e) => pickRule(valueOf(e))}
              aria-label="Trigger on an alert rule"
              disabled={!rules.data?.length}
              data-testid="scenario-rule-picker"
            >
              <option value="">{rules.data ? (rules.data.length ? 'Trigger on alert rule…' : 'No alert rules') : rules.error ? 'Rules unavailable' : 'Loading rules…'}</option>
              {[...(rules.data ?? [])].sort((a, b) => a.name.localeCompare(b.name)).map((r) => (
                <option key={r.id} value={r.id}>{r.name}{r.enabled ? '' : ' (disabled)'}</option>
              ))}
            </select>
          ) : null}
        </div>
        <textarea
          ref={area}
          class={`input code-input scenario-source${error?.place ? ' is-invalid' : ''}`}
          rows={Math.min(32, Math.max(14, source.split('\n').length + 1))}
          value={source}
          readOnly={readOnly}
          spellcheck={false}
          autoComplete="off"
          autoCapitalize="off"
          wrap="off"
          aria-label="Scenario (YAML or JSON)"
          aria-invalid={error?.place ? true : undefined}
          onInput={(e) => {
            setText(valueOf(e));
            moveCursor();
          }}
          onKeyUp={moveCursor}
          onKeyDown={(e) => {
            // Ctrl/⌘+S saves, as in an editor
            if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
              e.preventDefault();
              if (canWrite && (!current || dirty)) void save(e);
            }
          }}
          onClick={moveCursor}
          data-testid="scenario-source"
        />
        <div class="form-help editor-foot">
          <span data-testid="scenario-cursor">Ln {cursor.line}, Col {cursor.col}</span>
          <span>
            YAML or JSON: <code>name</code>, <code>trigger</code> (<code>alert</code>, <code>cron</code> or <code>manual</code>), <code>guards</code>, <code>steps</code>
            {' '}— params are templates over <code>{'{{alert.*}}'}</code>, <code>{'{{host.*}}'}</code>.
          </span>
        </div>
        {error ? <SourceError e={error} onGoto={goto} /> : null}
        {readOnly ? (
          <p class="muted" data-testid="scenario-readonly">Only admins change scenarios.</p>
        ) : (
          <div class="row-actions">
            <button type="submit" class="btn btn-primary" disabled={!!busy || (!!current && !dirty)} data-testid="scenario-save">
              {busy === 'save' ? 'Saving…' : current ? 'Save' : 'Create scenario'}
            </button>
            {current && dirty ? (
              <button type="button" class="btn btn-ghost" disabled={!!busy} onClick={() => { setText(null); setError(null); }} data-testid="scenario-revert">
                Revert
              </button>
            ) : null}
            {current ? (
              <button type="button" class="btn btn-danger" disabled={!!busy} onClick={() => void remove()} data-testid="scenario-delete">
                {busy === 'delete' ? 'Deleting…' : 'Delete'}
              </button>
            ) : null}
          </div>
        )}
      </form>
      {current ? <RunPanel record={current} dirty={dirty && canWrite} onRun={() => setRunsVersion((v) => v + 1)} /> : null}
      {current ? <RunHistory scenarioId={current.id} version={runsVersion} /> : null}
    </div>
  );
}

function Summary({ record, rules }: { record: ScenarioRecord; rules: RuleRecord[] | undefined }) {
  const now = useNow();
  const { spec } = record;
  const g = spec.guards;
  return (
    <div class="card scenario-summary">
      <dl class="kv kv-wide">
        <dt>Trigger</dt>
        <dd data-testid="scenario-trigger"><TriggerLabel trigger={spec.trigger} rules={rules} /></dd>
        {spec.description ? <><dt>Description</dt><dd>{spec.description}</dd></> : null}
        <dt>Guards</dt>
        <dd class="muted">
          cooldown {g.cooldown} · at most {g.max_attempts} per {g.window} per host · {g.host_concurrency} at once per host, {g.fleet_concurrency} in all
          {g.skip_silenced ? ' · silenced alerts skip' : ''}
        </dd>
        <dt>Updated</dt>
        <dd title={formatDateTime(record.updated_at)}>{timeAgo(record.updated_at, now)}{record.updated_by ? ` by ${record.updated_by}` : ''}</dd>
      </dl>
    </div>
  );
}

/** Dry run and Run now (operators and admins), on a chosen host or the trigger's. */
function RunPanel({ record, dirty, onRun }: { record: ScenarioRecord; dirty: boolean; onRun: () => void }) {
  const { api, store } = useServices();
  const canAct = useCanAct();
  const [host, setHost] = useState('');
  const [busy, setBusy] = useState<null | 'dry' | 'run'>(null);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<ScenarioRun | null>(null);
  if (!canAct) return null;

  const t = record.spec.trigger;
  const choices = t.hosts.length
    ? t.hosts.map((h) => ({ id: h, name: store.get(h)?.name ?? h }))
    : [...store.all()].map((h) => ({ id: h.id, name: h.name })).sort((a, b) => a.name.localeCompare(b.name));
  const noHost = t.hosts.length === 1
    ? `The trigger's host (${choices[0]!.name})`
    : t.hosts.length > 1 ? 'Pick one of the trigger\'s hosts'
    : t.alert ? 'No host (a dry run uses a sample one)'
    : 'No host (the steps name theirs)';
  const hostName = choices.find((c) => c.id === host)?.name ?? host;

  const start = async (dryRun: boolean) => {
    if (busy) return;
    if (!dryRun && !confirm(`Run "${record.spec.name}" now${host ? ` on ${hostName}` : ''}?\n\nIts steps really run: remote actions are requested and notifications sent.`)) return;
    setBusy(dryRun ? 'dry' : 'run');
    setError(null);
    try {
      const run = await runScenario(api, record.id, { dryRun, hostId: host || undefined });
      setResult(run);
      onRun();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section class="section card run-panel" data-testid="scenario-run-panel">
      <h2>Run</h2>
      <div class="toolbar">
        <select class="input select" value={host} onChange={(e) => setHost(valueOf(e))} aria-label="Host" data-testid="scenario-run-host">
          <option value="">{noHost}</option>
          {choices.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </select>
        <button type="button" class="btn" disabled={!!busy} onClick={() => void start(true)} data-testid="scenario-dry-run">
          {busy === 'dry' ? 'Rendering…' : 'Dry run'}
        </button>
        <button type="button" class="btn btn-primary" disabled={!!busy} onClick={() => void start(false)} data-testid="scenario-run">
          {busy === 'run' ? 'Starting…' : 'Run now'}
        </button>
      </div>
      <p class="form-help">
        A dry run renders the steps and says what the guards would decide, requesting nothing.
        {dirty ? <strong class="warn-text" data-testid="scenario-run-unsaved"> Runs use the saved version, not your unsaved changes.</strong> : null}
      </p>
      {error ? <div class="form-error" role="alert" data-testid="scenario-run-error">{error}</div> : null}
      {result ? <RunResult key={result.id} initial={result} onChange={onRun} /> : null}
    </section>
  );
}

/** The run just started (followed until it ends) or dry run. */
function RunResult({ initial, onChange }: { initial: ScenarioRun; onChange: () => void }) {
  const { run } = useLiveRun(initial.id, initial);
  const r = run ?? initial;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    onChange();
  }, [r.status]);
  return (
    <div class="run-result" data-testid="scenario-run-result" data-status={r.status} data-run-id={r.id}>
      <div class="section-head">
        <h3>{r.status === 'dry_run' ? 'Dry run' : 'Run'}</h3>
        <a href={`/scenarios/runs/${encodeURIComponent(r.id)}`} onClick={onLinkClick} data-testid="scenario-run-link">Open run</a>
      </div>
      <RunSummary run={r} />
      <RunSteps run={r} />
    </div>
  );
}

const newestFirst = (a: ScenarioRun, b: ScenarioRun) => (toTime(b.started_at) ?? 0) - (toTime(a.started_at) ?? 0) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** The scenario's runs, newest first, paged with "Older"; asked for again while one is running. */
function RunHistory({ scenarioId, version }: { scenarioId: string; version: number }) {
  const { api, store } = useServices();
  const now = useNow();
  const [runs, setRuns] = useState<ScenarioRun[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [tick, setTick] = useState(0);

  const load = async (before: string | null) => {
    setLoading(true);
    try {
      const page = await listRuns(api, { scenario_id: scenarioId, before: before ?? undefined, limit: RUNS_PAGE });
      setRuns((old) => {
        const byId = new Map(old.map((r) => [r.id, r]));
        for (const r of page) byId.set(r.id, r);
        return [...byId.values()].sort(newestFirst);
      });
      if (before !== null || !loaded) setDone(page.length < RUNS_PAGE);
      setLoaded(true);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, [scenarioId, version, tick]);
  const running = runs.some((r) => r.status === 'running');
  useEffect(() => {
    if (!running || loading) return;
    const timer = setTimeout(() => setTick((t) => t + 1), RUN_POLL.ms);
    return () => clearTimeout(timer);
  }, [running, loading, runs]);

  const open = (e: MouseEvent, r: ScenarioRun) => {
    if ((e.target as Element).closest('a') || e.metaKey || e.ctrlKey || e.shiftKey) return;
    navigate(`/scenarios/runs/${encodeURIComponent(r.id)}`);
  };

  return (
    <section class="section" data-testid="scenario-runs-section">
      <h2>Runs</h2>
      {error && !loaded ? <LoadError error={error} what="Scenario runs" /> : null}
      {!loaded ? (
        error ? null : <div class="empty">Loading runs…</div>
      ) : runs.length === 0 ? (
        <div class="empty" data-testid="scenario-runs-empty">No runs yet.</div>
      ) : (
        <div class="table-wrap">
          <table class="table runs-table" data-testid="scenario-runs" data-count={runs.length}>
            <thead>
              <tr><th>Started</th><th>Trigger</th><th>Host</th><th>Status</th><th>Reason</th><th class="num">Duration</th></tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <tr key={r.id} class="is-clickable" onClick={(e) => open(e, r)} data-testid={`run-row-${r.id}`} data-status={r.status}>
                  <td title={formatDateTime(r.started_at)}>
                    <a href={`/scenarios/runs/${encodeURIComponent(r.id)}`} onClick={onLinkClick}>{timeAgo(r.started_at, now)}</a>
                  </td>
                  <td>{r.trigger || DASH}</td>
                  <td>{r.host_id ? store.get(r.host_id)?.name ?? r.host_id : DASH}</td>
                  <td><RunStatusBadge status={r.status} /></td>
                  <td class="ellipsis" title={r.reason ?? undefined}>{r.reason ?? DASH}</td>
                  <td class="num">{r.status === 'running' ? '…' : elapsed(r.started_at, r.finished_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {error && loaded ? <div class="form-error" role="alert">{error.message}</div> : null}
      {loaded && !done ? (
        <div class="row-actions load-more">
          <button type="button" class="btn" disabled={loading} onClick={() => void load(runs[runs.length - 1]?.id ?? null)} data-testid="scenario-runs-older">
            {loading ? 'Loading…' : 'Older'}
          </button>
        </div>
      ) : null}
    </section>
  );
}
