import { describe, expect, it } from 'vitest';
import { normalizeDaily } from '../src/api/normalize';
import { dailySeries, RANGES } from '../src/chartData';
import { overviewItems } from '../src/components/OverviewStrip';
import {
  formOf,
  normalizeTenant,
  parseDuration,
  tenantBody,
  validateTenantForm,
  type TenantForm,
} from '../src/pages/settings/Tenant';

const day = (d: string, cpu: number, memory: number) => ({
  day: d, samples: 8640, cpu_avg: cpu, cpu_max: cpu + 10, memory_avg: memory, memory_max: memory,
  memory_total: 8000, disk_avg: 0, network_rx_total: 0, network_tx_total: 0,
});

describe('the 1 y range', () => {
  it('reads the daily rows, past the hourly ones', () => {
    expect(RANGES['1y'].daily).toBe(true);
    expect(RANGES['1y'].hourly).toBeUndefined();
    expect(RANGES['1y'].seconds).toBe(365 * 86400);
  });

  it('puts each day at its middle with its average cpu and memory percent, oldest first', () => {
    const [xs, cpu, mem] = dailySeries([day('2026-12-02T00:00:00Z', 30, 4000), day('2026-12-01T00:00:00Z', 10, 2000)]);
    expect(xs).toEqual([Date.parse('2026-12-01T12:00:00Z') / 1000, Date.parse('2026-12-02T12:00:00Z') / 1000]);
    expect(cpu).toEqual([10, 30]);
    expect(mem).toEqual([25, 50]);
  });

  it('normalizes the daily answer, dropping points without a day and sorting them', () => {
    const answer = normalizeDaily({
      host_id: 'h1', from: 'a', to: 'b',
      points: [day('2026-12-02T00:00:00Z', 30, 1), { day: 'never', cpu_avg: 1 }, day('2026-12-01T00:00:00Z', 10, 1)],
    });
    expect(answer.points.map((p) => p.day)).toEqual(['2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z']);
    expect(() => normalizeDaily('nope')).toThrow(/daily metrics answer/);
  });
});

describe('tenant settings', () => {
  const settings = normalizeTenant({
    id: 'acme', name: 'Acme', retention: { raw: '3d', hourly: null, daily: null }, agent_interval: '30s',
    limits: { retention: { raw: '7d', hourly: '90d', daily: '730d' }, agent_interval_min: '5s', agent_interval_max: '1h' },
    updated_at: null,
  });
  const form = (change: Partial<TenantForm> = {}): TenantForm => ({ ...formOf(settings), ...change });

  it('parses the server durations', () => {
    expect([parseDuration('30s'), parseDuration('5m'), parseDuration(' 12h '), parseDuration('90d')]).toEqual([30, 300, 43200, 7776000]);
    expect([parseDuration('1y'), parseDuration('d'), parseDuration('')]).toEqual([null, null, null]);
  });

  it('fills the form, empty for the server defaults, and sends only what is set', () => {
    expect(form()).toEqual({ name: 'Acme', retention: { raw: '3d', hourly: '', daily: '' }, agent_interval: '30s' });
    expect(tenantBody(form())).toEqual({ name: 'Acme', retention: { raw: '3d' }, agent_interval: '30s' });
    expect(tenantBody(form({ agent_interval: ' ' }))).toEqual({ name: 'Acme', retention: { raw: '3d' } });
  });

  it('names the field that is out of the server limits', () => {
    const check = (f: TenantForm) => validateTenantForm(f, settings.limits);
    expect(check(form())).toBeNull();
    expect(check(form({ name: ' ' }))).toMatch(/^name:/);
    expect(check(form({ retention: { raw: '8d', hourly: '', daily: '' } }))).toMatch(/^retention\.raw: at most 7d/);
    expect(check(form({ retention: { raw: '', hourly: '', daily: '3y' } }))).toMatch(/^retention\.daily: "3y" is not a duration/);
    expect(check(form({ retention: { raw: '', hourly: '', daily: '12h' } }))).toMatch(/^retention\.daily: at least 1d/);
    expect(check(form({ agent_interval: '1s' }))).toMatch(/^agent_interval: give 5s to 1h/);
    expect(check(form({ agent_interval: '2h' }))).toMatch(/^agent_interval:/);
  });

  it('keeps the server limits when an answer lacks them', () => {
    expect(normalizeTenant({}).limits.retention).toEqual({ raw: '7d', hourly: '90d', daily: '730d' });
  });
});

describe('the overview strip', () => {
  it('shows averages with their maximum and what runs', () => {
    const items = overviewItems({
      hosts: { total: 3, online: 2, offline: 1, degraded: 0 },
      containers: { running: 3, total: 4 }, services: { running: 1, total: 2 },
      cpu: { avg: 40, max: 60 }, memory: { avg: 50, max: 75 }, disk: { avg: null, max: null },
    });
    expect(items.map((i) => [i.key, i.value, i.sub])).toEqual([
      ['cpu', '40%', 'max 60%'],
      ['memory', '50%', 'max 75%'],
      ['disk', '—', undefined],
      ['services', '1/2', 'running'],
      ['containers', '3/4', 'running'],
    ]);
  });

  it('shows nothing for an answer that is not an overview', () => {
    expect(overviewItems(null)).toEqual([]);
    expect(overviewItems({ error: { code: 'not_found' } })).toEqual([]);
  });
});
