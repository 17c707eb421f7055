import type { HostDetail, HostRecord, MetricsPoint } from '../src/api/types';

export function hostRecord(id: string, over: Partial<HostRecord> = {}): HostRecord {
  return {
    id,
    tenant_id: 't1',
    name: id,
    hostname: `${id}.lan`,
    ip_address: '192.168.1.10',
    os: 'Debian 13',
    arch: 'amd64',
    agent_version: '1.3.0',
    status: 'online',
    last_seen: '2026-11-24T12:00:00Z',
    created_at: '2026-11-01T00:00:00Z',
    ...over,
  };
}

export function point(timestamp: string, cpu: number, mem: number, mounts = [{ path: '/', total: 100, used: 50, percent: 50, fs_type: 'ext4' }]): MetricsPoint {
  return {
    timestamp,
    host: {
      uptime: 3600,
      cpu: { percent: cpu, cores: 4, model: '', per_core: [] },
      memory: { total: 1000, used: 500, available: 500, percent: mem, swap_total: 0, swap_used: 0 },
      disk: { mounts },
      network: { interfaces: [] },
      load: { load_1m: 0, load_5m: 0, load_15m: 0 },
    },
  };
}

export function detail(id: string, over: Partial<HostRecord> = {}, latest: MetricsPoint | null = null): HostDetail {
  return { host: hostRecord(id, over), latest };
}
