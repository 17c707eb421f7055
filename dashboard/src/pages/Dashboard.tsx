// Overview: headline cards, the active alerts and every host with live
// CPU/MEM/Disk bars.
import { useServices } from '../context';
import { DASH } from '../format';
import { useAlerts, useSortedIds, useSummary } from '../hooks';
import { AlertList } from '../components/Alerts';
import { HostList } from '../components/HostRow';
import { OverviewStrip } from '../components/OverviewStrip';
import type { AlertsStore } from '../live/alerts';
import { onLinkClick } from '../router';

/** Active alerts shown on the dashboard; the rest are on the Alerts page. */
export const PANEL_ALERTS = 5;

function Card({ value, label, sub, testid }: { value: string; label: string; sub?: string; testid: string }) {
  return (
    <div class="card stat" data-testid={testid}>
      <div class="stat-value" data-testid={`${testid}-value`}>{value}</div>
      <div class="stat-label">{label}</div>
      {sub ? <div class="stat-sub muted">{sub}</div> : null}
    </div>
  );
}

export function uptimePercent(online: number, total: number): string {
  if (total === 0) return DASH;
  const p = (online / total) * 100;
  return `${p === 100 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** The alert card's text: "2" "Alerts warning" (the worst severity), or why there is no number. */
export function alertsCardText(alerts: AlertsStore): { value: string; label: string; sub?: string } {
  if (alerts.state === 'unavailable') return { value: DASH, label: 'Active alerts', sub: 'alerting is not available on this server' };
  if (alerts.state === 'error') return { value: DASH, label: 'Active alerts', sub: alerts.error ?? 'could not load alerts' };
  if (alerts.state !== 'ready') return { value: DASH, label: 'Active alerts', sub: 'loading…' };
  const s = alerts.summary();
  if (s.total === 0) return { value: '0', label: 'Active alerts', sub: 'all clear' };
  const parts = (['critical', 'warning', 'info'] as const).filter((k) => s[k] > 0).map((k) => `${s[k]} ${k}`);
  if (s.acknowledged) parts.push(`${s.acknowledged} acknowledged`);
  return { value: `${s.total}`, label: `${s.total === 1 ? 'Alert' : 'Alerts'} ${s.worst}`, sub: parts.join(', ') };
}

/** The alert count card (a link to the Alerts page), live. */
function AlertsCard() {
  const { alerts } = useServices();
  useAlerts(alerts);
  const t = alertsCardText(alerts);
  const worst = alerts.state === 'ready' ? alerts.summary().worst : null;
  return (
    <a
      href="/alerts"
      onClick={onLinkClick}
      class={`card stat card-link${worst ? ` has-alerts sev-border-${worst}` : ''}`}
      data-testid="card-alerts"
      data-severity={worst ?? ''}
    >
      <div class="stat-value" data-testid="card-alerts-value">{t.value}</div>
      <div class="stat-label" data-testid="card-alerts-label">{t.label}</div>
      {t.sub ? <div class="stat-sub muted">{t.sub}</div> : null}
    </a>
  );
}

/** The first active alerts (worst first) with their Ack buttons; nothing until alerts are loaded. */
function ActiveAlertsPanel() {
  const { alerts } = useServices();
  useAlerts(alerts);
  if (alerts.state !== 'ready') return null;
  const list = alerts.list();
  return (
    <section class="alerts-panel" data-testid="active-alerts-panel" data-count={list.length}>
      <div class="section-head">
        <h2>Active alerts {list.length ? <span class="muted">({list.length})</span> : null}</h2>
        <a href="/alerts" onClick={onLinkClick} class="btn btn-small" data-testid="alerts-view-all">
          {list.length > PANEL_ALERTS ? `View all ${list.length}` : 'Alerts page'}
        </a>
      </div>
      {list.length ? (
        <AlertList alerts={list.slice(0, PANEL_ALERTS)} testid="dashboard-alerts" />
      ) : (
        <div class="card all-clear" data-testid="alerts-all-clear"><span class="ok-text">✓</span> No active alerts.</div>
      )}
    </section>
  );
}

/** The headline cards: re-rendered once per applied batch of live frames. */
function Cards() {
  const { store } = useServices();
  const s = useSummary(store);
  return (
    <div class="cards">
      <Card
        testid="card-hosts"
        value={`${s.online}`}
        label={s.online === 1 ? 'Host online' : 'Hosts online'}
        sub={`of ${s.total}${s.degraded ? `, ${s.degraded} degraded` : ''}`}
      />
      <Card
        testid="card-containers"
        value={s.containersKnown ? `${s.containersRunning}` : DASH}
        label="Containers running"
        sub={s.containersKnown ? undefined : 'waiting for container data'}
      />
      <AlertsCard />
      <Card testid="card-uptime" value={uptimePercent(s.online, s.total)} label="Uptime" sub="hosts online now" />
    </div>
  );
}

/** The host list re-renders only when hosts come or go, not on live frames (rows update themselves). */
export function Dashboard() {
  const { store } = useServices();
  const ids = useSortedIds(store, 'name', false);
  return (
    <div>
      <Cards />
      <OverviewStrip />
      <ActiveAlertsPanel />
      <div class="section-head">
        <h2>Hosts</h2>
        <a href="/settings" onClick={onLinkClick} class="btn btn-small" data-testid="add-host">+ Add host</a>
      </div>
      {store.loaded ? (
        <HostList
          ids={ids}
          empty={<>No hosts yet. Create an agent token in <a href="/settings" onClick={onLinkClick}>Settings</a> and run <code>sovigilant init</code> on a host.</>}
        />
      ) : (
        <div class="empty">Loading hosts…</div>
      )}
    </div>
  );
}
