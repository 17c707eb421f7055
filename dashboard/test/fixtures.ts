import type { Alert, AlertFrame, HostDetail, HostRecord, MetricsPoint } from '../src/api/types';

export function hostRecord(id: string, over: Partial<HostRecord> = {}): HostRecord {
  return {
    id,
    tenant_id: 't1',
    name: id,
    hostname: `${id}.lan`,
    ip_address: '192.168.1.10',
    os: 'Debian 13',
    arch: 'amd64',
    cpu_model: 'AMD EPYC 7763 64-Core Processor',
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

export function alert(id: string, over: Partial<Alert> = {}): Alert {
  return {
    id,
    tenant_id: 't1',
    host_id: 'in3',
    host_name: 'IN3',
    rule_id: 'r-cpu',
    rule_name: 'CPU high',
    severity: 'warning',
    status: 'firing',
    message: 'CPU > 80%',
    value: '92.5',
    fingerprint: `fp-${id}`,
    silenced: false,
    fired_at: '2026-11-24T12:00:00Z',
    acknowledged_at: null,
    acknowledged_by: null,
    resolved_at: null,
    ...over,
  };
}

/** The WebSocket frame for an alert transition, as the gateway sends it. */
export function alertFrame(event: AlertFrame['event'], a: Alert): AlertFrame {
  return { type: 'alert', id: a.id, event, severity: a.severity, host_id: a.host_id, message: a.message, timestamp: a.fired_at, alert: a };
}
