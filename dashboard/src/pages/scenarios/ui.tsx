// Pieces the Scenarios screens share: run and step status badges, a
// trigger in words (an alert rule by name), a run's summary and its steps
// (in path order, on_fail steps indented under theirs), and the hook that
// keeps a running run fresh (no WebSocket frame exists for runs: it asks
// again every 2 s while the run is running and on screen).
import { Fragment, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { RuleRecord, RunStatus, RunStep, ScenarioRun, ScenarioTrigger, StepStatus } from '../../api/types';
import { useServices } from '../../context';
import { DASH, formatDateTime, formatMs, toTime } from '../../format';
import { onLinkClick } from '../../router';
import { getRun } from '../../scenarios/api';
import { comparePaths, pathDepth, writtenPath } from '../../scenarios/source';

/** How often a running run is asked for again (tests shorten it). */
export const RUN_POLL = { ms: 2000 };

const ICON: Record<RunStatus | StepStatus, string> = {
  pending: '…', running: '▶\uFE0E', success: '✓', failed: '✖\uFE0E', skipped: '↷', stopped: '■', dry_run: '◇',
};

export function RunStatusBadge({ status, testid }: { status: RunStatus | StepStatus; testid?: string }) {
  return (
    <span class={`act-status act-${status}`} data-status={status} data-testid={testid}>
      <span aria-hidden="true">{ICON[status]}</span> {status === 'dry_run' ? 'dry run' : status}
    </span>
  );
}

/** "alert: CPU high", "cron: 0 3 * * *", "manual"; the rule by name when the rules are known. */
export function triggerText(t: ScenarioTrigger, rules: RuleRecord[] | undefined): string {
  if (t.alert) {
    const rule = rules?.find((r) => r.id === t.alert);
    return `alert: ${rule ? rule.name : t.alert}`;
  }
  if (t.cron) return `cron: ${t.cron}`;
  return t.manual ? 'manual' : DASH;
}

export function TriggerLabel({ trigger, rules }: { trigger: ScenarioTrigger; rules: RuleRecord[] | undefined }) {
  const unknown = !!(trigger.alert && rules && !rules.some((r) => r.id === trigger.alert));
  return (
    <span class="trigger" title={trigger.alert ? `rule ${trigger.alert}` : undefined}>
      {triggerText(trigger, rules)}
      {unknown ? <span class="muted"> (no such rule)</span> : null}
      {trigger.hosts.length ? <span class="muted"> · {trigger.hosts.length === 1 ? trigger.hosts[0] : `${trigger.hosts.length} hosts`}</span> : null}
    </span>
  );
}

/** How long a run or step took (or has been going), when it started. */
export function elapsed(from: string | null, to: string | null): string {
  const a = toTime(from);
  const b = toTime(to);
  return a === null || b === null ? DASH : formatMs(b - a);
}

/** A run's steps in path order: each with its status, rendered params, detail and action. */
export function RunSteps({ run }: { run: ScenarioRun }) {
  const steps = [...run.steps].sort((a, b) => comparePaths(a.path, b.path));
  if (!steps.length) return <div class="empty" data-testid="run-no-steps">No step ran{run.status === 'skipped' ? ': the run was skipped' : ''}.</div>;
  return (
    <ol class="run-steps" data-testid="run-steps">
      {steps.map((s) => <Step key={s.path} step={s} />)}
    </ol>
  );
}

function Step({ step: s }: { step: RunStep }) {
  const depth = pathDepth(s.path);
  const params = Object.entries(s.params);
  return (
    <li
      class={`run-step${depth ? ' is-on-fail' : ''}`}
      style={{ '--depth': depth }}
      data-testid={`run-step-${s.path}`}
      data-status={s.status}
      data-depth={depth}
    >
      <div class="item-head">
        <RunStatusBadge status={s.status} />
        <strong class="item-title">{s.step_id || writtenPath(s.path)}</strong>
        <span class="pill">{s.kind}</span>
        {depth ? <span class="muted">on_fail</span> : null}
        <span class="muted mono run-step-path" title="where in the scenario">{writtenPath(s.path)}</span>
        {s.started_at ? <span class="muted">{elapsed(s.started_at, s.finished_at ?? (s.status === 'running' ? new Date().toISOString() : null))}</span> : null}
        {s.action_id ? (
          <a href={`/actions/${encodeURIComponent(s.action_id)}`} onClick={onLinkClick} data-testid={`step-action-${s.path}`}>Action</a>
        ) : null}
      </div>
      {params.length ? (
        <dl class="kv params" data-testid={`step-params-${s.path}`}>
          {params.map(([k, v]) => (
            <Fragment key={k}>
              <dt class="mono">{k}</dt>
              <dd class="mono">{v}</dd>
            </Fragment>
          ))}
        </dl>
      ) : null}
      {s.detail ? <div class={`item-sub${s.status === 'failed' ? ' err-text' : ' muted'}`} data-testid={`step-detail-${s.path}`}>{s.detail}</div> : null}
    </li>
  );
}

export function Row({ label, children, testid }: { label: string; children: ComponentChildren; testid?: string }) {
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={testid}>{children}</dd>
    </>
  );
}

/** A run's status, reason, trigger, host, alert and times. */
export function RunSummary({ run }: { run: ScenarioRun }) {
  const { store } = useServices();
  return (
    <dl class="kv kv-wide">
      <Row label="Status"><RunStatusBadge status={run.status} testid="run-status" /></Row>
      {run.reason ? <Row label="Reason" testid="run-reason">{run.reason}</Row> : null}
      <Row label="Trigger" testid="run-trigger">{run.trigger || DASH}</Row>
      <Row label="Host" testid="run-host">
        {run.host_id ? <a href={`/hosts/${encodeURIComponent(run.host_id)}`} onClick={onLinkClick}>{store.get(run.host_id)?.name ?? run.host_id}</a> : DASH}
      </Row>
      <Row label="Alert" testid="run-alert">{run.alert_id ? <span class="mono">{run.alert_id}</span> : DASH}</Row>
      <Row label="Started">{formatDateTime(run.started_at)}</Row>
      <Row label="Finished">{run.finished_at ? formatDateTime(run.finished_at) : run.status === 'running' ? 'running…' : DASH}</Row>
      <Row label="Duration" testid="run-duration">{elapsed(run.started_at, run.finished_at)}</Row>
    </dl>
  );
}

/**
 * The run `initial` (or run `id`, fetched), asked for again every
 * RUN_POLL.ms while it is running and this is mounted.
 */
export function useLiveRun(id: string, initial: ScenarioRun | null): { run: ScenarioRun | null; error: Error | null } {
  const { api } = useServices();
  const [run, setRun] = useState<ScenarioRun | null>(initial);
  const [error, setError] = useState<Error | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    setRun(initial);
    setError(null);
  }, [id]);
  useEffect(() => {
    let live = true;
    const fetchNow = !run || run.id !== id || tick > 0;
    if (fetchNow) {
      getRun(api, id).then(
        (r) => {
          if (!live) return;
          setRun(r);
          setError(null);
        },
        (e: unknown) => live && setError(e instanceof Error ? e : new Error(String(e))),
      );
    }
    return () => {
      live = false;
    };
  }, [id, tick]);
  const running = run?.id === id && run.status === 'running';
  useEffect(() => {
    if (!running) return;
    const timer = setTimeout(() => setTick((t) => t + 1), RUN_POLL.ms);
    return () => clearTimeout(timer);
  }, [running, run, error]);
  return { run: run?.id === id ? run : null, error };
}
