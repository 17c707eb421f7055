// The Scenarios page (its own chunk, with the editor and a run's detail):
// the tenant's kill switch on top (operators and admins flip it, after a
// confirmation either way), then every scenario with its trigger (an alert
// rule by name, a cron schedule, or manual), whether it is enabled, and its
// last run. `/scenarios/new` and `/scenarios/<id>`: the editor with the
// scenario's runs (scenarios/Editor.tsx); `/scenarios/runs/<id>`: one run
// (scenarios/Run.tsx). Everyone reads; admins write scenarios; operators
// and admins run them.
import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import type { ScenarioSettings } from '../api/types';
import { useCanAct, useCanWrite, useServices } from '../context';
import { formatDateTime, timeAgo } from '../format';
import { useAsync, useNow } from '../hooks';
import { onLinkClick } from '../router';
import { getSettings, lastRuns, listScenarios, putSettings } from '../scenarios/api';
import { LoadError } from './alerts/ui';
import { RunStatusBadge, TriggerLabel } from './scenarios/ui';

export { ScenarioPage } from './scenarios/Editor';
export { RunDetail } from './scenarios/Run';

export const KILL_OFF_CONFIRM =
  'Turn scenario automation OFF for the whole tenant?\n\nNo scenario will start a run: alert and cron triggers are recorded as skipped, and running scenarios stop before their next step.';
export const KILL_ON_CONFIRM =
  'Turn scenario automation back ON?\n\nEnabled scenarios start runs again when their alert fires or their schedule comes.';

/** The tenant's kill switch: its state, who changed it and when; a switch for operators and admins. */
export function KillSwitch() {
  const { api } = useServices();
  const canAct = useCanAct();
  const now = useNow();
  const loaded = useAsync(() => getSettings(api), []);
  const [saved, setSaved] = useState<ScenarioSettings | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const s = saved ?? loaded.data;

  if (!s) {
    // a server without scenarios (404) is said once, by the list
    return loaded.error && !(loaded.error instanceof ApiError && loaded.error.notFound) ? (
      <div class="form-error kill-switch-error" role="alert" data-testid="scenarios-kill-switch-error">
        The kill switch could not be read: {loaded.error.message}
      </div>
    ) : null;
  }
  const on = s.enabled;
  const flip = async () => {
    if (busy || !confirm(on ? KILL_OFF_CONFIRM : KILL_ON_CONFIRM)) return;
    setBusy(true);
    setError(null);
    try {
      setSaved(await putSettings(api, !on));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class={`card kill-switch ${on ? 'is-on' : 'is-off'}`} data-testid="scenarios-automation" data-enabled={String(on)}>
      <div class="kill-switch-text">
        <strong>Automation is {on ? 'on' : 'off'}</strong>
        <span class="muted">
          {on ? 'Enabled scenarios run when triggered.' : 'No scenario starts a run: triggers are recorded as skipped.'}
        </span>
        <span class="muted" data-testid="scenarios-kill-switch-changed" title={formatDateTime(s.updated_at)}>
          {s.updated_at || s.updated_by
            ? `Turned ${on ? 'on' : 'off'}${s.updated_by ? ` by ${s.updated_by}` : ''}${s.updated_at ? ` ${timeAgo(s.updated_at, now)}` : ''}`
            : 'Never switched.'}
        </span>
        {error ? <span class="inline-error" role="alert" data-testid="scenarios-kill-switch-failed">{error}</span> : null}
      </div>
      {canAct ? (
        <button
          type="button"
          role="switch"
          aria-checked={on}
          aria-label="Scenario automation"
          class={`switch${on ? ' is-on' : ''}`}
          disabled={busy}
          onClick={() => void flip()}
          data-testid="scenarios-kill-switch"
          data-enabled={String(on)}
        >
          <span class="switch-knob" aria-hidden="true" />
          {busy ? 'Switching…' : on ? 'On' : 'Off'}
        </button>
      ) : null}
    </div>
  );
}

export function Scenarios() {
  const { api } = useServices();
  const canWrite = useCanWrite();
  const now = useNow();
  const scenarios = useAsync(() => listScenarios(api), []);
  const rules = useAsync(() => api.rules(), []);
  const ids = scenarios.data?.map((s) => s.id) ?? [];
  const last = useAsync(() => (ids.length ? lastRuns(api, ids) : Promise.resolve(new Map())), [ids.join(',')]);
  const list = scenarios.data ? [...scenarios.data].sort((a, b) => a.spec.name.localeCompare(b.spec.name)) : null;

  return (
    <div data-testid="scenarios-page">
      <div class="section-head page-head">
        <h1>Scenarios</h1>
        {canWrite ? (
          <a class="btn btn-primary btn-small" href="/scenarios/new" onClick={onLinkClick} data-testid="scenario-new">+ New scenario</a>
        ) : null}
      </div>
      <KillSwitch />
      {!canWrite ? <p class="muted" data-testid="scenarios-readonly">Only admins write scenarios.</p> : null}
      {scenarios.error ? (
        <div data-testid="scenarios-error"><LoadError error={scenarios.error} what="Scenarios" /></div>
      ) : !list ? (
        <div class="empty">Loading scenarios…</div>
      ) : list.length === 0 ? (
        <div class="empty" data-testid="scenarios-empty">
          No scenarios yet.{canWrite ? ' Create one with “New scenario”: an alert rule firing, a schedule or a click runs its steps.' : ''}
        </div>
      ) : (
        <ul class="item-list" data-testid="scenarios-list" data-count={list.length}>
          {list.map((s) => {
            const run = last.data?.get(s.id);
            const href = `/scenarios/${encodeURIComponent(s.id)}`;
            return (
              <li key={s.id} class={`item${s.spec.enabled ? '' : ' is-dim'}`} data-testid={`scenario-row-${s.id}`} data-enabled={String(s.spec.enabled)}>
                <div class="item-head">
                  <a href={href} onClick={onLinkClick} class="item-title"><strong>{s.spec.name || s.id}</strong></a>
                  <span class={`pill${s.spec.enabled ? ' pill-active' : ''}`} data-testid={`scenario-enabled-${s.id}`}>{s.spec.enabled ? 'enabled' : 'disabled'}</span>
                  <span class="scenario-trigger" data-testid={`scenario-trigger-${s.id}`}><TriggerLabel trigger={s.spec.trigger} rules={rules.data} /></span>
                </div>
                {s.spec.description ? <div class="item-sub">{s.spec.description}</div> : null}
                <div class="muted item-sub scenario-meta">
                  <span data-testid={`scenario-last-run-${s.id}`} data-status={run?.status ?? ''}>
                    {run ? (
                      <a href={`/scenarios/runs/${encodeURIComponent(run.id)}`} onClick={onLinkClick} title={formatDateTime(run.started_at)}>
                        <RunStatusBadge status={run.status} /> {timeAgo(run.started_at, now)}
                      </a>
                    ) : last.data ? 'never ran' : last.error ? 'last run unknown' : '…'}
                  </span>
                  {' · '}{s.spec.steps.length} step{s.spec.steps.length === 1 ? '' : 's'}
                  {s.updated_by ? <> · updated by {s.updated_by} {timeAgo(s.updated_at, now)}</> : null}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
