// Overview: headline cards and every host with live CPU/MEM/Disk bars.
import { useServices } from '../context';
import { DASH } from '../format';
import { useSortedIds, useSummary } from '../hooks';
import { HostList } from '../components/HostRow';
import { onLinkClick } from '../router';

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
      <Card testid="card-alerts" value={DASH} label="Active alerts" sub="alerting not set up yet" />
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
