// Alert pieces shared by the dashboard, the host pages and the Alerts page:
// the severity tag, a host's alert badge, the Ack button and the rows of
// active alerts. All of them read the live alerts store, so they follow
// `alert` frames without a reload.
import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import type { Alert, Severity } from '../api/types';
import { useCanWrite, useServices } from '../context';
import { formatSince } from '../format';
import { useHostAlerts, useNow } from '../hooks';
import { onLinkClick } from '../router';

const SEVERITY_ICON: Record<Severity, string> = { info: 'ℹ\uFE0E', warning: '⚠\uFE0E', critical: '✖\uFE0E' };

export function SeverityTag({ severity, testid }: { severity: Severity; testid?: string }) {
  return (
    <span class={`sev sev-${severity}`} data-severity={severity} data-testid={testid}>
      <span aria-hidden="true">{SEVERITY_ICON[severity]}</span> {severity.toUpperCase()}
    </span>
  );
}

/** The instance an alert is about beyond its host: a mount, container or service. */
export function alertInstance(a: Pick<Alert, 'mount' | 'container_name' | 'service_name'>): string | null {
  if (a.mount) return a.mount;
  if (a.container_name) return `container ${a.container_name}`;
  if (a.service_name) return `service ${a.service_name}`;
  return null;
}

/**
 * A host's active alerts as a small badge (nothing without alerts): the
 * count, coloured by the worst severity; muted when all are acknowledged.
 */
export function AlertBadge({ hostId, testid = `host-alerts-${hostId}` }: { hostId: string; testid?: string }) {
  const { alerts } = useServices();
  const h = useHostAlerts(alerts, hostId);
  if (!h) return null;
  const title = `${h.count} active alert${h.count === 1 ? '' : 's'}${h.firing < h.count ? `, ${h.count - h.firing} acknowledged` : ''} (worst: ${h.worst})`;
  return (
    <span
      class={`alert-badge sev-${h.worst}${h.firing === 0 ? ' is-acked' : ''}`}
      title={title}
      aria-label={title}
      data-testid={testid}
      data-count={h.count}
      data-firing={h.firing}
      data-severity={h.worst}
    >
      <span aria-hidden="true">{SEVERITY_ICON[h.worst]}</span> {h.count}
    </span>
  );
}

/** Acknowledges the alert (admins); the answer replaces the alert in the store. */
export function AckButton({ alert }: { alert: Alert }) {
  const { api, alerts, reloadAlerts } = useServices();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ack = async () => {
    setBusy(true);
    setError(null);
    try {
      alerts.upsert(await api.acknowledgeAlert(alert.id));
    } catch (e) {
      // 409: someone acknowledged it first; the reload (or their frame) shows by whom
      if (e instanceof ApiError && e.status === 409) void reloadAlerts();
      else setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        class="btn btn-small"
        disabled={busy}
        onClick={ack}
        title="Acknowledge: stop the repeated notifications"
        data-testid={`alert-ack-${alert.id}`}
      >
        {busy ? 'Acking…' : 'Ack'}
      </button>
      {error ? <span class="inline-error" role="alert" data-testid={`alert-ack-error-${alert.id}`}>{error}</span> : null}
    </>
  );
}

/** One active alert: `⚠ WARNING  CPU > 80% on IN3  since 10 min  [Ack]`. */
export function AlertRow({ alert, showHost = true, onSilence }: {
  alert: Alert;
  showHost?: boolean;
  /** Offers "Silence…" (Alerts page), prefilled from this alert. */
  onSilence?: (a: Alert) => void;
}) {
  const now = useNow();
  const canWrite = useCanWrite();
  const instance = alertInstance(alert);
  return (
    <li class={`alert-row is-${alert.status}`} data-testid={`alert-row-${alert.id}`} data-status={alert.status} data-severity={alert.severity}>
      <SeverityTag severity={alert.severity} />
      <div class="alert-main">
        <span class="alert-msg" data-testid={`alert-message-${alert.id}`}>{alert.message || alert.rule_name || 'alert'}</span>
        {showHost ? (
          <>
            {' '}<span class="muted">on</span>{' '}
            <a href={`/hosts/${encodeURIComponent(alert.host_id)}`} onClick={onLinkClick} class="alert-host">{alert.host_name}</a>
          </>
        ) : null}
        {instance ? <span class="muted"> · {instance}</span> : null}
        {alert.value !== null && alert.value !== '' ? <span class="muted"> · value {alert.value}</span> : null}
        <div class="alert-meta muted">
          {alert.rule_name && alert.message ? <span>{alert.rule_name}</span> : null}
          {alert.silenced ? <span class="pill" title="A silence or maintenance window matched it: not notified">silenced</span> : null}
          {alert.status === 'acknowledged' ? (
            <span data-testid={`alert-acked-${alert.id}`}>acknowledged{alert.acknowledged_by ? ` by ${alert.acknowledged_by}` : ''}</span>
          ) : null}
        </div>
      </div>
      <span class="alert-since muted" title={alert.fired_at}>{formatSince(alert.fired_at, now)}</span>
      <span class="alert-actions">
        {canWrite && alert.status === 'firing' ? <AckButton alert={alert} /> : null}
        {canWrite && onSilence ? (
          <button type="button" class="btn btn-small btn-ghost" onClick={() => onSilence(alert)} data-testid={`alert-silence-${alert.id}`}>
            Silence…
          </button>
        ) : null}
      </span>
    </li>
  );
}

export function AlertList({ alerts, showHost = true, onSilence, testid }: {
  alerts: readonly Alert[];
  showHost?: boolean;
  onSilence?: (a: Alert) => void;
  testid?: string;
}) {
  return (
    <ul class="alert-list" data-testid={testid} data-count={alerts.length}>
      {alerts.map((a) => <AlertRow key={a.id} alert={a} showHost={showHost} onSilence={onSilence} />)}
    </ul>
  );
}
