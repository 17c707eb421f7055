// One run of a scenario (`/scenarios/runs/<id>`): its status, reason,
// trigger, host, alert and times, then each step in path order (on_fail
// steps indented under the step that failed) with its status, rendered
// params, detail and its remote action. Asked for again every 2 s while it
// is running.
import { ApiError } from '../../api/client';
import { onLinkClick } from '../../router';
import { LoadError } from '../alerts/ui';
import { RunStatusBadge, RunSteps, RunSummary, useLiveRun } from './ui';

export function RunDetail({ id }: { id: string }) {
  const { run, error } = useLiveRun(id, null);
  const back = <a href="/scenarios" onClick={onLinkClick} class="back">← Scenarios</a>;
  if (!run) {
    return (
      <div>
        {back}
        {error ? (
          error instanceof ApiError && error.notFound ? (
            <div class="empty" data-testid="run-not-found">No run "{id}" in your tenant.</div>
          ) : (
            <LoadError error={error} what="Scenario runs" />
          )
        ) : (
          <div class="empty">Loading run…</div>
        )}
      </div>
    );
  }
  return (
    <div data-testid="run-detail" data-status={run.status}>
      <div class="crumbs">
        {back}
        <span class="muted">/</span>
        <a href={`/scenarios/${encodeURIComponent(run.scenario_id)}`} onClick={onLinkClick} class="wrap" data-testid="run-scenario-link">
          {run.scenario_name || run.scenario_id}
        </a>
        <span class="muted">/</span>
        <h1>{run.status === 'dry_run' ? 'Dry run' : 'Run'}</h1>
        <RunStatusBadge status={run.status} />
      </div>
      <div class="card">
        <RunSummary run={run} />
      </div>
      {error ? <div class="form-error" role="alert" data-testid="run-refresh-error">Could not refresh: {error.message}</div> : null}
      <section class="section">
        <h2>Steps</h2>
        <RunSteps run={run} />
      </section>
    </div>
  );
}
