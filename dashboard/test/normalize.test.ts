import { describe, expect, it } from 'vitest';
import {
  NormalizeError, normalizeContainers, normalizeHostDetail, normalizeHostList, normalizeHourly, normalizeMetricsRange,
  normalizeServices, normalizeTokens, normalizeUser, normalizeUsers, parseErrorBody, parseServerMessage, summarizePoint,
} from '../src/api/normalize';
import { hostRecord, point } from './fixtures';

describe('normalizeHostDetail', () => {
  const latest = point('2026-11-24T12:00:00Z', 45, 70);
  it('accepts the flat shape the gateway sends ({...host, latest})', () => {
    const d = normalizeHostDetail({ ...hostRecord('h1'), latest });
    expect(d.host.id).toBe('h1');
    expect(d.host.os).toBe('Debian 13');
    expect(d.latest?.host.cpu.percent).toBe(45);
  });
  it('accepts the nested shape ({host, latest})', () => {
    const d = normalizeHostDetail({ host: hostRecord('h2', { status: 'degraded' }), latest });
    expect(d.host.id).toBe('h2');
    expect(d.host.status).toBe('degraded');
    expect(d.latest?.host.memory.percent).toBe(70);
  });
  it('gives null latest when there is no snapshot yet', () => {
    expect(normalizeHostDetail({ ...hostRecord('h1'), latest: null }).latest).toBeNull();
    expect(normalizeHostDetail(hostRecord('h1')).latest).toBeNull();
  });
  it('fills missing fields and maps unknown statuses to offline', () => {
    const d = normalizeHostDetail({ id: 'h3', status: 'weird', last_seen: null });
    expect(d.host).toMatchObject({ id: 'h3', name: 'h3', hostname: '', status: 'offline', last_seen: null });
  });
  it('rejects a host without an id', () => {
    expect(() => normalizeHostDetail({ name: 'x' })).toThrow(NormalizeError);
    expect(() => normalizeHostDetail(null)).toThrow(NormalizeError);
  });
  it('defaults missing metric numbers to 0 rather than NaN', () => {
    const d = normalizeHostDetail({ ...hostRecord('h1'), latest: { timestamp: '2026-11-24T12:00:00Z', host: { cpu: { percent: 'x' } } } });
    expect(d.latest?.host.cpu.percent).toBe(0);
    expect(d.latest?.host.disk.mounts).toEqual([]);
  });
});

describe('normalizeHostList', () => {
  it('accepts an array or a {hosts} wrapper and skips malformed entries', () => {
    expect(normalizeHostList([hostRecord('a'), { nope: 1 }, hostRecord('b')]).map((d) => d.host.id)).toEqual(['a', 'b']);
    expect(normalizeHostList({ hosts: [hostRecord('c')] }).map((d) => d.host.id)).toEqual(['c']);
  });
  it('rejects something that is not a list', () => {
    expect(() => normalizeHostList({ error: 'x' })).toThrow(NormalizeError);
  });
});

describe('normalizeMetricsRange', () => {
  it('sorts points oldest first and drops points without a timestamp', () => {
    const r = normalizeMetricsRange({
      host_id: 'h1', from: 'a', to: 'b',
      points: [point('2026-11-24T12:01:00Z', 2, 2), { host: {} }, point('2026-11-24T12:00:00Z', 1, 1)],
    });
    expect(r.points.map((p) => p.host.cpu.percent)).toEqual([1, 2]);
  });
});

describe('containers, services, tokens', () => {
  it('normalizes container and service rows', () => {
    const [c] = normalizeContainers([{ name: 'gw3', status: 'running', cpu_percent: 12, memory_used: 1, memory_limit: 2, host_id: 'h1' }]);
    expect(c).toMatchObject({ name: 'gw3', status: 'running', cpu_percent: 12, processes: 0, host_id: 'h1' });
    const [s] = normalizeServices({ services: [{ name: 'nginx', status: 'active', pid: 1234, ports: [80, 443] }] });
    expect(s).toMatchObject({ name: 'nginx', pid: 1234, ports: [80, 443], memory: 0 });
  });
  it('keeps token names that are null', () => {
    const [t] = normalizeTokens([{ id: 'k1', name: null, created_at: '2026-01-01T00:00:00Z', last_used: null, revoked_at: null }]);
    expect(t).toEqual({ id: 'k1', name: null, created_at: '2026-01-01T00:00:00Z', expires_at: null, last_used: null, revoked_at: null });
  });
});

describe('parseServerMessage', () => {
  it('parses a metrics frame', () => {
    const m = parseServerMessage(JSON.stringify({
      type: 'metrics', host_id: 'h1', timestamp: '2026-11-24T12:00:00Z',
      data: { cpu: 23.5, memory: 50, disk: 40.1, containers: [{ name: 'gw3', cpu: 12.1, memory: 25, status: 'running' }], services_count: 4 },
    }));
    expect(m).toEqual({
      type: 'metrics', host_id: 'h1', timestamp: '2026-11-24T12:00:00Z',
      data: { cpu: 23.5, memory: 50, disk: 40.1, containers: [{ name: 'gw3', cpu: 12.1, memory: 25, status: 'running' }], services_count: 4 },
    });
  });
  it('keeps absent metrics values as null (unknown), not 0', () => {
    const m = parseServerMessage('{"type":"metrics","host_id":"h1","timestamp":"t","data":{"cpu":5}}');
    expect(m?.type === 'metrics' && m.data).toEqual({ cpu: 5, memory: null, disk: null, containers: null, services_count: null });
  });
  it('parses host_status and rejects unknown statuses, types and bad JSON', () => {
    expect(parseServerMessage('{"type":"host_status","host_id":"h1","status":"offline","timestamp":"t"}')).toEqual({
      type: 'host_status', host_id: 'h1', status: 'offline', timestamp: 't',
    });
    expect(parseServerMessage('{"type":"host_status","host_id":"h1","status":"gone"}')).toBeNull();
    expect(parseServerMessage('{"type":"hello","host_id":"h1"}')).toBeNull();
    expect(parseServerMessage('not json')).toBeNull();
  });
});

describe('summarizePoint and error bodies', () => {
  it('takes the / mount for disk, else the fullest mount', () => {
    expect(summarizePoint(point('t', 1, 2)).disk).toBe(50);
    const p = point('t', 1, 2, [
      { path: '/data', total: 1, used: 1, percent: 30, fs_type: 'xfs' },
      { path: '/srv', total: 1, used: 1, percent: 80, fs_type: 'xfs' },
    ]);
    expect(summarizePoint(p).disk).toBe(80);
    expect(summarizePoint(point('t', 1, 2, [])).disk).toBeNull();
  });
  it('reads the server error body', () => {
    expect(parseErrorBody({ error: { code: 'unauthorized', message: 'wrong email or password' } })).toEqual({
      code: 'unauthorized', message: 'wrong email or password',
    });
    expect(parseErrorBody({ message: 'x' })).toBeNull();
  });
});

describe('normalizeUsers', () => {
  it('keeps users with an id and email, drops the rest, never invents a hash', () => {
    const users = normalizeUsers([
      { id: 'u1', email: 'a@b.c', role: 'admin', created_at: '2026-11-24T12:00:00Z', password_hash: 'x' },
      { id: 'u2', email: 'd@e.f' },
      { email: 'no-id@b.c' },
      'junk',
    ]);
    expect(users).toEqual([
      { id: 'u1', email: 'a@b.c', role: 'admin', created_at: '2026-11-24T12:00:00Z' },
      { id: 'u2', email: 'd@e.f', role: 'viewer', created_at: null },
    ]);
    expect(() => normalizeUsers({ error: 'x' })).toThrow(NormalizeError);
    expect(() => normalizeUser({ id: 'u3' })).toThrow(NormalizeError);
  });
});

describe('normalizeHourly', () => {
  it('keeps points with a valid hour, oldest first, numbers defaulting to 0', () => {
    const out = normalizeHourly({
      host_id: 'h1', from: 'a', to: 'b',
      points: [
        { hour: '2026-11-24T13:00:00Z', samples: 360, cpu_avg: 12.5, cpu_max: 40, memory_avg: 2, memory_max: 3, memory_total: 8 },
        { hour: 'not a time', cpu_avg: 1 },
        { hour: '2026-11-24T12:00:00Z', cpu_avg: 'x' },
      ],
    });
    expect(out.points.map((p) => p.hour)).toEqual(['2026-11-24T12:00:00Z', '2026-11-24T13:00:00Z']);
    expect(out.points[0]!.cpu_avg).toBe(0);
    expect(out.points[1]).toMatchObject({ samples: 360, cpu_max: 40, memory_total: 8, network_rx_total: 0 });
  });

  it('rejects an answer that is not an object', () => {
    expect(() => normalizeHourly([])).toThrow(/hourly metrics answer must be an object/);
  });
});
