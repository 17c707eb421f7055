// The fleet strip of the Dashboard page, from GET /api/metrics/overview: the
// average (and highest) CPU, memory and disk of the online hosts, services
// and containers running. Refreshed every minute; nothing is shown until
// the first answer, nor when the server has no overview.
import { useEffect } from 'preact/hooks';
import { useServices } from '../context';
import { formatPercent } from '../format';
import { useAsync } from '../hooks';

/** How often the strip asks again. */
export const OVERVIEW_REFRESH_MS = 60_000;

export interface OverviewItem {
  key: string;
  label: string;
  value: string;
  sub?: string;
}

/** The strip's items from the server's answer; empty when it is not an overview. */
export function overviewItems(raw: unknown): OverviewItem[] {
  if (!raw || typeof raw !== 'object') return [];
  const o = raw as Record<string, unknown>;
  const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  if (!o.hosts || typeof o.hosts !== 'object') return [];
  const usage = (key: string, label: string): OverviewItem => {
    const stat = obj(o[key]);
    const max = num(stat.max);
    return { key, label: `${label} avg`, value: formatPercent(num(stat.avg)), sub: max === null ? undefined : `max ${formatPercent(max)}` };
  };
  const running = (key: string, label: string): OverviewItem => {
    const count = obj(o[key]);
    return { key, label, value: `${num(count.running) ?? 0}/${num(count.total) ?? 0}`, sub: 'running' };
  };
  return [
    usage('cpu', 'CPU'),
    usage('memory', 'Memory'),
    usage('disk', 'Disk'),
    running('services', 'Services'),
    running('containers', 'Containers'),
  ];
}

export function OverviewStrip() {
  const { api } = useServices();
  const overview = useAsync(async () => overviewItems(await api.request('GET', '/api/metrics/overview')), []);
  useEffect(() => {
    const timer = setInterval(() => overview.reload(), OVERVIEW_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const items = overview.data ?? [];
  if (!items.length) return null;
  return (
    <div class="overview-strip muted" data-testid="overview-strip" aria-label="Fleet overview (online hosts)">
      {items.map((item) => (
        <span class="overview-item" key={item.key} data-testid={`overview-${item.key}`}>
          {item.label} <strong>{item.value}</strong>
          {item.sub ? <span class="overview-sub"> ({item.sub})</span> : null}
        </span>
      ))}
    </div>
  );
}
