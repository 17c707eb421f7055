// One host in a list. Memoized on its id and subscribed to that host only,
// so a live frame for one host re-renders one row; the list renders only the
// rows in view (windowed, fixed row height).
import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useReducer, useRef } from 'preact/hooks';
import { useServices } from '../context';
import { DASH, timeAgo } from '../format';
import { useHost, useNow } from '../hooks';
import type { HostView } from '../live/store';
import { onLinkClick } from '../router';
import { AlertBadge } from './Alerts';
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
      data-at={h.live.timestamp ?? ''}
    >
      <div class="host-ident">
        <div class="host-title">
          <span class="host-name">{h.name}</span>
          {h.hostname && h.hostname !== h.name ? <span class="muted"> ({h.hostname})</span> : null}
        </div>
        <div class="host-sub">
          <StatusBadge status={h.status} testid={`host-status-${id}`} />
          <AlertBadge hostId={id} />
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

/** Row height (px) when the stylesheet's `--host-row-h` is not readable (tests). */
export const DEFAULT_ROW_HEIGHT = 64;
/** Rows rendered above and below the viewport. */
export const OVERSCAN = 8;

/**
 * Rows `[start, end)` of a list of `count` rows of `rowHeight` px whose top is
 * `listTop` px from the top of a viewport `viewportHeight` px tall, plus
 * `overscan` rows each side. Pure, for the windowed list and its tests.
 */
export function visibleRange(count: number, rowHeight: number, listTop: number, viewportHeight: number, overscan = OVERSCAN): [number, number] {
  if (count <= 0 || !(rowHeight > 0)) return [0, 0];
  const first = Math.floor(-listTop / rowHeight) - overscan;
  const last = Math.ceil((viewportHeight - listTop) / rowHeight) + overscan;
  const start = Math.min(count, Math.max(0, first));
  const end = Math.min(count, Math.max(start, last));
  return [start, end];
}

function rowHeightOf(el: HTMLElement): number {
  const v = parseFloat(getComputedStyle(el).getPropertyValue('--host-row-h'));
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_ROW_HEIGHT;
}

/**
 * Every host of `ids` as fixed-height rows, windowed: only the rows in (or
 * near) the viewport are in the DOM, so a list of 1,000 live hosts costs the
 * same per frame as a list of 30. The list keeps its full height (rows ×
 * `--host-row-h`, set per breakpoint in styles.css) so the page scrolls as if
 * every row were there; the rendered rows are moved down with a transform.
 * The geometry is read once per scroll or resize event (never while
 * rendering), and a re-render happens only when the visible range changes.
 * `data-host-count` on the list tells how many hosts it holds.
 */
export function HostList({ ids, empty }: { ids: readonly string[]; empty?: ComponentChildren }) {
  const ref = useRef<HTMLDivElement>(null);
  const geometry = useRef({
    rowHeight: DEFAULT_ROW_HEIGHT,
    top: 0,
    viewport: typeof window === 'undefined' ? 800 : window.innerHeight || 800,
  });
  const shown = useRef<[number, number]>([0, 0]);
  const count = ids.length;
  const countRef = useRef(count);
  countRef.current = count;
  const [, rerender] = useReducer((x: number) => x + 1, 0);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const g = geometry.current;
    const update = (full: boolean) => {
      let resized = false;
      if (full) {
        const rowHeight = rowHeightOf(el);
        resized = rowHeight !== g.rowHeight;
        g.rowHeight = rowHeight;
        g.viewport = window.innerHeight || 800;
      }
      g.top = el.getBoundingClientRect().top;
      const [start, end] = visibleRange(countRef.current, g.rowHeight, g.top, g.viewport);
      // a new row height (another breakpoint) changes the list's height and offsets, whatever the range
      if (resized || start !== shown.current[0] || end !== shown.current[1]) (rerender as () => void)();
    };
    const onScroll = () => update(false);
    const onResize = () => update(true);
    update(true);
    window.addEventListener('scroll', onScroll, { passive: true });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('scroll', onScroll);
      window.removeEventListener('resize', onResize);
    };
  }, [count === 0]);

  if (count === 0) return <div class="empty">{empty ?? 'No hosts.'}</div>;
  const g = geometry.current;
  const [start, end] = visibleRange(count, g.rowHeight, g.top, g.viewport);
  shown.current = [start, end];
  return (
    <div
      ref={ref}
      class="host-list"
      data-testid="host-list"
      data-host-count={count}
      style={{ height: `${count * g.rowHeight - 1}px` }}
    >
      <div class="host-window" style={{ transform: `translateY(${start * g.rowHeight}px)` }}>
        {ids.slice(start, end).map((id) => <HostRow key={id} id={id} />)}
      </div>
    </div>
  );
}
