// Remote actions on the host page: the buttons of container and service
// rows, the header's "Actions ▾" menu, the dialog that confirms (or, from
// the menu, asks for) a target — showing the canonical command and what the
// host's agent would decide (src/actions/policy.ts), live as one types —
// and, once posted, the action's live status; plus the host's recent
// actions and the status badge the Actions page shares.
//
// Only operators and admins get these controls (`useCanAct`); a button the
// agent would refuse stays visible but aria-disabled, its title giving why,
// and opens the dialog that says so with the submit disabled.
import { useEffect, useRef, useState } from 'preact/hooks';
import { decide, targetParam, verbOf, actionLabel, targetOf } from '../actions/policy';
import { isFinal } from '../actions/store';
import type { ActionParams, ActionRecord, ActionStatus, ActionType, HostRecord } from '../api/types';
import { ACTION_TYPES } from '../api/types';
import { useServices } from '../context';
import { DASH, formatMs, timeAgo } from '../format';
import { useAction, useActions, useAsync, useNow } from '../hooks';
import { onLinkClick } from '../router';

const STATUS_ICON: Record<ActionStatus, string> = {
  pending: '…', running: '▶\uFE0E', success: '✓', failed: '✖\uFE0E', expired: '◌', denied: '⊘',
};

export function ActionStatusBadge({ status, testid }: { status: ActionStatus; testid?: string }) {
  return (
    <span class={`act-status act-${status}`} data-status={status} data-testid={testid}>
      <span aria-hidden="true">{STATUS_ICON[status]}</span> {status}
    </span>
  );
}

/** What a dialog acts on. */
export interface ActionTarget {
  type: ActionType;
  params: ActionParams;
  /** A row's button: the target is given; from the menu the user types it. */
  fixed: boolean;
  /** A container row: posted to `POST /api/containers/{id}/action`. */
  containerId?: string;
}

/** Known names on the host, offered while typing (and a container's engine). */
export interface Known {
  services: string[];
  containers: { name: string; runtime: string }[];
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function submitLabel(type: ActionType): string {
  return type === 'exec' ? 'Run' : type === 'status_service' ? 'Get status' : cap(verbOf(type));
}

/** A container's runtime as the `engine` param, when it is one the server knows. */
export function engineOf(runtime: string): string | undefined {
  return runtime === 'docker' || runtime === 'podman' || runtime === 'incus' ? runtime : undefined;
}

/** The action once posted: its live status, a link to its detail, and its outcome when done. */
export function ActionLive({ id }: { id: string }) {
  const { actions } = useServices();
  const a = useAction(actions, id);
  if (!a) return null;
  return (
    <div class="action-live" data-testid="action-live">
      <div class="action-live-head">
        <ActionStatusBadge status={a.status} testid="action-status" />
        {a.status === 'pending' ? <span class="muted">waiting for the agent…</span> : null}
        {a.status === 'running' ? <span class="muted">running…</span> : null}
        {a.exit_code !== null ? <span class="muted" data-testid="action-live-exit">exit {a.exit_code}</span> : null}
        {a.duration_ms !== null ? <span class="muted">{formatMs(a.duration_ms)}</span> : null}
        <a href={`/actions/${encodeURIComponent(a.id)}`} onClick={onLinkClick} data-testid="action-detail-link">Details</a>
      </div>
      {a.error ? <div class="inline-error" data-testid="action-live-error">{a.error}</div> : null}
      {isFinal(a.status) && a.output ? <pre class="output output-short" data-testid="action-live-output">{a.output}</pre> : null}
    </div>
  );
}

/** The confirmation (row buttons) or request (menu) dialog of one action on `host`. */
export function ActionDialog({ host, target, known, onClose }: {
  host: HostRecord;
  target: ActionTarget;
  known?: Known;
  onClose: () => void;
}) {
  const { api, actions } = useServices();
  const { type, fixed, containerId } = target;
  const param = targetParam(type);
  const [params, setParams] = useState<ActionParams>(target.params);
  const [engineSet, setEngineSet] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [sent, setSent] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const verdict = decide(host.actions, type, params);
  // from the menu, nothing typed yet: a hint rather than a refusal
  const blank = !fixed && !(params[param] ?? '').trim();
  const engines = host.actions?.engines.length ? host.actions.engines : ['docker', 'podman', 'incus'];

  useEffect(() => {
    box.current?.querySelector<HTMLElement>('input, .btn-primary:not([disabled]), .btn')?.focus();
  }, []);
  useEffect(() => {
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && !busy && onClose();
    document.addEventListener('keydown', esc);
    return () => document.removeEventListener('keydown', esc);
  }, [busy]);

  const setTarget = (raw: string) => {
    const value = param === 'command' ? raw : raw.trim();
    setParams((p) => {
      const next = { ...p, [param]: value };
      if (param === 'container' && !engineSet) {
        const engine = engineOf(known?.containers.find((c) => c.name === value)?.runtime ?? '');
        if (engine) next.engine = engine;
        else delete next.engine;
      }
      return next;
    });
  };
  const setEngine = (engine: string) => {
    setEngineSet(true);
    setParams((p) => {
      const next: ActionParams = { ...p, engine };
      if (!engine) delete next.engine;
      return next;
    });
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!verdict.allowed || busy) return;
    setBusy(true);
    setError(null);
    try {
      const record = containerId
        ? await api.containerAction(containerId, verbOf(type) as 'restart' | 'start' | 'stop')
        : await api.requestAction(host.id, type, params);
      actions.upsert(record);
      setSent(record.id);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const title = `${cap(actionLabel(type))} on ${host.name}`;
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && !busy && onClose()}>
      <div class="modal card" role="dialog" aria-modal="true" aria-label={title} ref={box} data-testid="action-dialog" data-type={type}>
        <h3>{title}</h3>
        <form onSubmit={submit} noValidate>
          <dl class="kv">
            <dt>Host</dt>
            <dd data-testid="action-host">{host.name}</dd>
            {fixed ? (
              <>
                <dt>{cap(param)}</dt>
                <dd class="mono" data-testid="action-target">{targetOf(params)}</dd>
              </>
            ) : null}
            <dt>Command</dt>
            <dd><code data-testid="action-command">{verdict.command ?? DASH}</code></dd>
          </dl>
          {!fixed && !sent ? (
            <div class="form-grid">
              <label class={`form-field${param !== 'container' ? ' is-wide' : ''}`}>
                <span class="form-label">{param === 'command' ? 'Command line' : `${cap(param)} name`}</span>
                <input
                  class="input code-input"
                  value={params[param] ?? ''}
                  list={param === 'command' ? undefined : `action-known-${param}`}
                  placeholder={param === 'command' ? 'e.g. df -h' : param === 'service' ? 'e.g. nginx' : 'e.g. web'}
                  autoComplete="off"
                  spellcheck={false}
                  onInput={(e) => setTarget((e.currentTarget as HTMLInputElement).value)}
                  data-testid="action-input"
                />
              </label>
              {param === 'container' ? (
                <label class="form-field">
                  <span class="form-label">Engine</span>
                  <select
                    class="input select"
                    value={params.engine ?? ''}
                    onChange={(e) => setEngine((e.currentTarget as HTMLSelectElement).value)}
                    data-testid="action-engine"
                  >
                    <option value="">the agent's first ({host.actions?.engines[0] ?? 'none'})</option>
                    {engines.map((en) => <option key={en} value={en}>{en}</option>)}
                  </select>
                </label>
              ) : null}
              {param === 'service' && known ? (
                <datalist id="action-known-service">{known.services.map((n) => <option key={n} value={n} />)}</datalist>
              ) : null}
              {param === 'container' && known ? (
                <datalist id="action-known-container">{known.containers.map((c) => <option key={c.name} value={c.name} />)}</datalist>
              ) : null}
            </div>
          ) : null}
          {!sent && blank ? (
            <p class="verdict muted" data-testid="action-verdict" data-allowed="false">
              {param === 'command' ? 'Type the command line to run.' : `Type the ${param}'s name.`}
            </p>
          ) : !sent ? (
            <p
              class={`verdict ${verdict.allowed ? 'ok-text' : 'err-text'}`}
              role="status"
              data-testid="action-verdict"
              data-allowed={verdict.allowed ? 'true' : 'false'}
            >
              {verdict.allowed ? `✓ The agent allows it (${verdict.reason.replace(/^allowed /, '')}).` : `✗ The agent would refuse it: ${verdict.reason}.`}
            </p>
          ) : null}
          {!sent && host.status === 'offline' ? (
            <p class="muted" data-testid="action-offline">{host.name} is offline: the action waits for it, and expires if it does not come back in time.</p>
          ) : null}
          {error ? <div class="form-error" role="alert" data-testid="action-error">{error}</div> : null}
          {sent ? <ActionLive id={sent} /> : null}
          <div class="row-actions modal-actions">
            {sent ? (
              <button type="button" class="btn" onClick={onClose} data-testid="action-close">Close</button>
            ) : (
              <>
                <button type="button" class="btn btn-ghost" disabled={busy} onClick={onClose} data-testid="action-cancel">Cancel</button>
                <button
                  type="submit"
                  class={`btn btn-primary${type.startsWith('stop') ? ' is-danger' : ''}`}
                  disabled={busy || !verdict.allowed}
                  title={verdict.allowed ? undefined : verdict.reason}
                  data-testid="action-confirm"
                >
                  {busy ? 'Sending…' : submitLabel(type)}
                </button>
              </>
            )}
          </div>
        </form>
      </div>
    </div>
  );
}

/** One row button (`restart`, `start`, `stop`, `status`): aria-disabled with the reason when the agent would refuse. */
export function ActionButton({ host, type, params, containerId, onOpen }: {
  host: HostRecord;
  type: ActionType;
  params: ActionParams;
  containerId?: string;
  onOpen: (t: ActionTarget) => void;
}) {
  const v = decide(host.actions, type, params);
  const verb = verbOf(type);
  return (
    <button
      type="button"
      class={`btn btn-small${v.allowed ? '' : ' is-refused'}`}
      aria-disabled={v.allowed ? undefined : 'true'}
      title={v.allowed ? v.command! : `The agent would refuse: ${v.reason}`}
      data-reason={v.allowed ? undefined : v.reason}
      onClick={() => onOpen({ type, params, fixed: true, containerId })}
      data-testid={`action-button-${verb}-${targetOf(params)}`}
    >
      {verb}
    </button>
  );
}

const RUNNING = new Set(['running', 'active', 'restarting', 'activating', 'reloading']);

/** The buttons of a container row: restart, and start or stop as its status fits. */
export function ContainerButtons({ host, name, runtime, status, onOpen }: {
  host: HostRecord; name: string; runtime: string; status: string; onOpen: (t: ActionTarget) => void;
}) {
  const engine = engineOf(runtime);
  const params: ActionParams = engine ? { container: name, engine } : { container: name };
  const containerId = `${host.id}:${name}`;
  return (
    <span class="row-buttons">
      <ActionButton host={host} type="restart_container" params={params} containerId={containerId} onOpen={onOpen} />
      <ActionButton host={host} type={RUNNING.has(status) ? 'stop_container' : 'start_container'} params={params} containerId={containerId} onOpen={onOpen} />
    </span>
  );
}

/** The buttons of a service row: restart, start or stop as its status fits, status. */
export function ServiceButtons({ host, name, status, onOpen }: {
  host: HostRecord; name: string; status: string; onOpen: (t: ActionTarget) => void;
}) {
  const params = { service: name };
  return (
    <span class="row-buttons">
      <ActionButton host={host} type="restart_service" params={params} onOpen={onOpen} />
      <ActionButton host={host} type={RUNNING.has(status) ? 'stop_service' : 'start_service'} params={params} onOpen={onOpen} />
      <ActionButton host={host} type="status_service" params={params} onOpen={onOpen} />
    </span>
  );
}

const MENU_LABEL: Record<ActionType, string> = {
  restart_service: 'Restart a service…',
  start_service: 'Start a service…',
  stop_service: 'Stop a service…',
  status_service: 'Status of a service…',
  restart_container: 'Restart a container…',
  start_container: 'Start a container…',
  stop_container: 'Stop a container…',
  exec: 'Run a command…',
};

/** The host header's `Actions ▾` menu: each entry opens the dialog with an empty target. */
export function HostActionsMenu({ onOpen }: { onOpen: (t: ActionTarget) => void }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: Event) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('click', close);
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('click', close);
      document.removeEventListener('keydown', esc);
    };
  }, [open]);
  return (
    <div class="user-menu host-actions" ref={ref}>
      <button type="button" class="btn btn-small" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="host-actions-menu">
        Actions <span aria-hidden="true">▾</span>
      </button>
      {open ? (
        <div class="menu" role="menu">
          {ACTION_TYPES.map((type) => (
            <button
              type="button"
              role="menuitem"
              key={type}
              class="menu-item"
              onClick={() => {
                setOpen(false);
                onOpen({ type, params: { [targetParam(type)]: '' }, fixed: false });
              }}
              data-testid={`host-actions-item-${type}`}
            >
              {MENU_LABEL[type]}
            </button>
          ))}
        </div>
      ) : null}
    </div>
  );
}

/** Newest actions shown on a host page. */
export const HOST_RECENT = 5;

/** The host's latest actions, live; nothing when the server has no actions API or none ran. */
export function HostRecentActions({ hostId }: { hostId: string }) {
  const { api, actions } = useServices();
  useActions(actions);
  const now = useNow();
  const loaded = useAsync(async () => actions.upsert(...(await api.actions({ host_id: hostId, limit: HOST_RECENT }))), [hostId, actions.epoch]);
  const mine = actions.list().filter((a) => a.host_id === hostId).slice(0, HOST_RECENT);
  if (loaded.error || !mine.length) return null;
  return (
    <section class="section" data-testid="host-actions">
      <div class="section-head">
        <h2>Recent actions</h2>
        <a href={`/actions?host=${encodeURIComponent(hostId)}`} onClick={onLinkClick}>All actions of this host</a>
      </div>
      <ul class="item-list">
        {mine.map((a: ActionRecord) => (
          <li key={a.id} class="item action-item" data-testid={`host-action-row-${a.id}`} data-status={a.status}>
            <div class="item-head">
              <ActionStatusBadge status={a.status} />
              <a href={`/actions/${encodeURIComponent(a.id)}`} onClick={onLinkClick} class="item-title">
                {actionLabel(a.type)} <span class="mono">{targetOf(a.params)}</span>
              </a>
              <span class="muted">{timeAgo(a.created_at, now)}{a.requested_by ? ` · ${a.requested_by}` : ''}</span>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
