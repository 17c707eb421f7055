// Converts metrics points to uPlot's columnar data and downsamples long
// ranges (24 h / 7 d) by averaging fixed time buckets, so a chart never
// draws more than `maxPoints` points per series. Output x is unix seconds,
// strictly increasing.

import type { DailyPoint, HourlyPoint, MetricsPoint } from './api/types';

export type Series = [number[], (number | null)[], (number | null)[]];

export type RangeKey = '1h' | '24h' | '7d' | '30d' | '90d' | '1y';

export const MAX_CHART_POINTS = 600;

/**
 * `step`: seconds per server-side bucket (`GET /api/hosts/{id}/metrics?step=`,
 * one snapshot per bucket, its highest CPU), so a long range arrives as about
 * `MAX_CHART_POINTS` points instead of all its snapshots (7 d at 10 s is
 * 60,480, more than the server's 10,000-point limit). 0: every snapshot.
 */
export const RANGES: Record<RangeKey, { label: string; seconds: number; limit: number; step: number; hourly?: true; daily?: true }> = {
  '1h': { label: '1 h', seconds: 3600, limit: 1000, step: 0 },
  '24h': { label: '24 h', seconds: 86400, limit: 10000, step: 86400 / MAX_CHART_POINTS },
  '7d': { label: '7 d', seconds: 7 * 86400, limit: 10000, step: (7 * 86400) / MAX_CHART_POINTS },
  // beyond the 7 days of raw snapshots: hourly aggregates (`/metrics/hourly`, kept 90 days)
  '30d': { label: '30 d', seconds: 30 * 86400, limit: 0, step: 0, hourly: true },
  '90d': { label: '90 d', seconds: 90 * 86400, limit: 0, step: 0, hourly: true },
  // beyond the hourly rows: daily aggregates (`/metrics/daily`, kept 2 years)
  '1y': { label: '1 y', seconds: 365 * 86400, limit: 0, step: 0, daily: true },
};

/** Daily aggregates as chart series: each day at its middle, its average CPU and memory (% of its total). */
export function dailySeries(points: DailyPoint[]): Series {
  const rows = points
    .map((p) => ({ t: Date.parse(p.day) / 1000 + 43200, cpu: p.cpu_avg, mem: p.memory_total > 0 ? (100 * p.memory_avg) / p.memory_total : null }))
    .filter((r) => Number.isFinite(r.t))
    .sort((a, b) => a.t - b.t);
  return [rows.map((r) => r.t), rows.map((r) => r.cpu), rows.map((r) => r.mem)];
}

/** Hourly aggregates as chart series: each hour at its middle, its average CPU and memory (% of its total). */
export function hourlySeries(points: HourlyPoint[]): Series {
  const rows = points
    .map((p) => ({ t: Date.parse(p.hour) / 1000 + 1800, cpu: p.cpu_avg, mem: p.memory_total > 0 ? (100 * p.memory_avg) / p.memory_total : null }))
    .filter((r) => Number.isFinite(r.t))
    .sort((a, b) => a.t - b.t);
  return [rows.map((r) => r.t), rows.map((r) => r.cpu), rows.map((r) => r.mem)];
}

export function toSeries(points: MetricsPoint[], maxPoints = MAX_CHART_POINTS): Series {
  const rows = points
    .map((p) => ({ t: Date.parse(p.timestamp) / 1000, cpu: p.host.cpu.percent, mem: p.host.memory.percent }))
    .filter((r) => Number.isFinite(r.t))
    .sort((a, b) => a.t - b.t);
  if (rows.length <= maxPoints) {
    return [rows.map((r) => r.t), rows.map((r) => r.cpu), rows.map((r) => r.mem)];
  }
  const first = rows[0]!.t;
  const span = rows[rows.length - 1]!.t - first || 1;
  const width = span / maxPoints;
  const xs: number[] = [];
  const cpu: number[] = [];
  const mem: number[] = [];
  let bucket = -1;
  let n = 0;
  let st = 0;
  let sc = 0;
  let sm = 0;
  const push = () => {
    if (n) {
      xs.push(st / n);
      cpu.push(sc / n);
      mem.push(sm / n);
    }
  };
  for (const r of rows) {
    const b = Math.min(maxPoints - 1, Math.floor((r.t - first) / width));
    if (b !== bucket) {
      push();
      bucket = b;
      n = st = sc = sm = 0;
    }
    n += 1;
    st += r.t;
    sc += r.cpu;
    sm += r.mem;
  }
  push();
  return [xs, cpu, mem];
}

/** Appends a live value (1 h range) keeping x increasing and the window at `seconds`. */
export function appendLive(series: Series, t: number, cpu: number | null, mem: number | null, seconds: number): Series {
  const [xs, c, m] = series;
  if (xs.length && t <= xs[xs.length - 1]!) return series;
  const start = t - seconds;
  let drop = 0;
  while (drop < xs.length && xs[drop]! < start) drop += 1;
  return [[...xs.slice(drop), t], [...c.slice(drop), cpu], [...m.slice(drop), mem]];
}
