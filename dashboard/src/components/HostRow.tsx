// One host in a list. Memoized on its id and subscribed to that host only,
// so a live frame for one host re-renders one row.
import type { ComponentChildren } from 'preact';
import { useServices } from '../context';
import { DASH, timeAgo } from '../format';
import { useHost, useNow } from '../hooks';
import type { HostView } from '../live/store';
import { onLinkClick } from '../router';
import { Bar } from './Bar';
import { memo } from './memo';
import { StatusBadge } from './Status';

function LastSeen({ at, testid }: { at: string | null; testid: string }) {
  const now = useNow();
  return <span class="last-seen" data-testid={testid}>last seen {timeAgo(at, now)}</span>;
}

export function countsText(h: HostView): string {
  const c = h.live.containers;
  const s = h.live.servicesCount;
  const containers = c ? `${c.length} container${c.length === 1 ? '' : 's'}` : `${DASH} containers`;
  const services = s !== null ? `${s} service${s === 1 ? '' : 's'}` : `${DASH} services`;
  return `${containers}, ${services}`;
}

/** The row itself; use the memoized `HostRow`. */
export function HostRowView({ id }: { id: string }) {
  const { store } = useServices();
  const h = useHost(store, id);
  if (!h) return null;
  const offline = h.status === 'offline';
  return (
    <a
      href={`/hosts/${encodeURIComponent(id)}`}
      onClick={onLinkClick}
      class={`host-row is-${h.status}`}
      data-testid={`host-row-${id}`}
    >
      <div class="host-ident">
        <div class="host-title">
          <span class="host-name">{h.name}</span>
          {h.hostname && h.hostname !== h.name ? <span class="muted"> ({h.hostname})</span> : null}
        </div>
        <div class="host-sub">
          <StatusBadge status={h.status} testid={`host-status-${id}`} />
          {offline ? (
            <LastSeen at={h.last_seen} testid={`host-lastseen-${id}`} />
          ) : (
            <span class="muted" data-testid={`host-counts-${id}`}>{countsText(h)}</span>
          )}
        </div>
      </div>
      <div class={`host-bars${offline ? ' is-stale' : ''}`}>
        <Bar label="CPU" value={h.live.cpu} testid={`host-cpu-${id}`} />
        <Bar label="MEM" value={h.live.memory} testid={`host-mem-${id}`} />
        <Bar label="Disk" value={h.live.disk} testid={`host-disk-${id}`} />
      </div>
    </a>
  );
}

export const HostRow = memo(HostRowView);

export function HostList({ ids, empty }: { ids: readonly string[]; empty?: ComponentChildren }) {
  if (ids.length === 0) return <div class="empty">{empty ?? 'No hosts.'}</div>;
  return (
    <div class="host-list" data-testid="host-list">
      {ids.map((id) => <HostRow key={id} id={id} />)}
    </div>
  );
}
