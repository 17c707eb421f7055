import { describe, expect, it } from 'vitest';
import { appendLive, hourlySeries, RANGES, toSeries } from '../src/chartData';
import { point } from './fixtures';

describe('toSeries', () => {
  it('keeps short ranges as they are, in unix seconds', () => {
    const s = toSeries([point('2026-11-24T12:00:10Z', 2, 20), point('2026-11-24T12:00:00Z', 1, 10)]);
    expect(s[0]).toEqual([Date.parse('2026-11-24T12:00:00Z') / 1000, Date.parse('2026-11-24T12:00:10Z') / 1000]);
    expect(s[1]).toEqual([1, 2]);
    expect(s[2]).toEqual([10, 20]);
  });

  it('downsamples 10 000 points to at most 600 buckets, averaging values', () => {
    const start = Date.parse('2026-11-17T12:00:00Z');
    const pts = Array.from({ length: 10000 }, (_, i) => point(new Date(start + i * 60_000).toISOString(), i % 2 ? 100 : 0, 50));
    const [xs, cpu, mem] = toSeries(pts, 600);
    expect(xs.length).toBeLessThanOrEqual(600);
    expect(xs.length).toBeGreaterThan(550);
    for (let i = 1; i < xs.length; i++) expect(xs[i]!).toBeGreaterThan(xs[i - 1]!);
    expect(mem.every((v) => v === 50)).toBe(true);
    const avg = (cpu as number[]).reduce((a, b) => a + b, 0) / cpu.length;
    expect(avg).toBeGreaterThan(45);
    expect(avg).toBeLessThan(55);
  });
});

describe('appendLive', () => {
  it('appends newer live points and drops points older than the window', () => {
    const s = appendLive([[100, 200], [1, 2], [3, 4]], 3701, 9, 8, 3600);
    expect(s).toEqual([[200, 3701], [2, 9], [4, 8]]);
    expect(appendLive(s, 3701, 1, 1, 3600)).toBe(s);
  });
});

describe('hourlySeries', () => {
  const hour = (h: string, cpu: number, memAvg: number, total: number) => ({
    hour: h, samples: 360, cpu_avg: cpu, cpu_max: cpu + 10, memory_avg: memAvg, memory_max: memAvg, memory_total: total,
    disk_avg: 0, network_rx_total: 0, network_tx_total: 0,
  });

  it('puts each hour at its middle, oldest first, with memory as a percentage of its total', () => {
    const [xs, cpu, mem] = hourlySeries([hour('2026-11-24T13:00:00Z', 30, 4, 8), hour('2026-11-24T12:00:00Z', 10, 2, 8)]);
    expect(xs).toEqual([Date.parse('2026-11-24T12:30:00Z') / 1000, Date.parse('2026-11-24T13:30:00Z') / 1000]);
    expect(cpu).toEqual([10, 30]);
    expect(mem).toEqual([25, 50]);
  });

  it('has no memory value for an hour without a memory total', () => {
    expect(hourlySeries([hour('2026-11-24T12:00:00Z', 10, 2, 0)])[2]).toEqual([null]);
  });

  it('serves only the ranges beyond the raw retention from hourly aggregates', () => {
    const hourly = (Object.keys(RANGES) as (keyof typeof RANGES)[]).filter((k) => RANGES[k].hourly);
    expect(hourly).toEqual(['30d', '90d']);
    expect(hourly.every((k) => RANGES[k].seconds > 7 * 86400)).toBe(true);
  });
});
