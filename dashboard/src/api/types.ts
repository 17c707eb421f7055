// Wire types of the gateway REST API and WebSocket protocol (seed §4.2).
// They mirror vigil-bus `messages.rs` and the gateway's rest.rs; the
// normaliser (normalize.ts) turns untrusted JSON into these shapes.

export type HostStatus = 'online' | 'offline' | 'degraded';

export interface HostRecord {
  id: string;
  tenant_id: string;
  name: string;
  hostname: string;
  ip_address: string;
  os: string;
  arch: string;
  agent_version: string;
  status: HostStatus;
  last_seen: string | null;
  created_at: string;
}

export interface CpuMetrics { percent: number; cores: number; model: string; per_core: number[] }
export interface MemoryMetrics {
  total: number; used: number; available: number; percent: number; swap_total: number; swap_used: number;
}
export interface MountMetrics { path: string; total: number; used: number; percent: number; fs_type: string }
export interface InterfaceMetrics {
  name: string; rx_bytes: number; tx_bytes: number; rx_packets: number; tx_packets: number; rx_errors: number; tx_errors: number;
}
export interface LoadMetrics { load_1m: number; load_5m: number; load_15m: number }

export interface HostMetrics {
  uptime: number;
  cpu: CpuMetrics;
  memory: MemoryMetrics;
  disk: { mounts: MountMetrics[] };
  network: { interfaces: InterfaceMetrics[] };
  load: LoadMetrics;
}

export interface MetricsPoint { timestamp: string; host: HostMetrics }

export interface HostDetail { host: HostRecord; latest: MetricsPoint | null }

export interface MetricsRangeAnswer { host_id: string; from: string; to: string; points: MetricsPoint[] }

/** One complete hour of a host, aggregated (`GET /api/hosts/{id}/metrics/hourly`); bytes for memory, disk, network. */
export interface HourlyPoint {
  hour: string;
  samples: number;
  cpu_avg: number;
  cpu_max: number;
  memory_avg: number;
  memory_max: number;
  memory_total: number;
  disk_avg: number;
  network_rx_total: number;
  network_tx_total: number;
}

export interface HourlyAnswer { host_id: string; from: string; to: string; points: HourlyPoint[] }

export interface ContainerInfo {
  /** Set by `/api/containers` (all hosts); absent per host. */
  host_id?: string;
  name: string;
  runtime: string;
  status: string;
  image: string;
  cpu_percent: number;
  memory_used: number;
  memory_limit: number;
  memory_percent: number;
  disk_used: number;
  network_rx: number;
  network_tx: number;
  processes: number;
}

export interface ServiceInfo {
  name: string;
  status: string;
  pid: number;
  memory: number;
  cpu_percent: number;
  ports: number[];
  uptime: number;
}

export type Role = 'admin' | 'viewer' | string;

export interface User { id: string; email: string; tenant_id: string; role: Role }

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user: User;
}

export interface AgentToken {
  id: string;
  name: string | null;
  created_at: string | null;
  expires_at?: string | null;
  last_used: string | null;
  revoked_at: string | null;
}

export interface CreatedToken { id: string; token: string }

/** A user of the tenant as `GET /api/users` lists it (admins only). */
export interface UserInfo { id: string; email: string; role: Role; created_at: string | null }

/** `POST /api/users`: the user, and the password only when the server generated it (shown once). */
export interface CreatedUser extends UserInfo { password: string | null }

export interface NewUser { email: string; role: 'admin' | 'viewer'; password?: string }

// ---- WebSocket ----

export interface LiveContainer { name: string; cpu: number; memory: number; status: string }

export interface MetricsFrame {
  type: 'metrics';
  host_id: string;
  timestamp: string;
  data: {
    cpu: number | null;
    memory: number | null;
    disk: number | null;
    containers: LiveContainer[] | null;
    services_count: number | null;
  };
}

export interface HostStatusFrame { type: 'host_status'; host_id: string; status: HostStatus; timestamp: string }

export interface AlertFrame {
  type: 'alert';
  id: string;
  severity: string;
  host_id: string;
  message: string;
  timestamp: string;
}

export type ServerMessage = MetricsFrame | HostStatusFrame | AlertFrame;

export type ClientMessage =
  | { type: 'subscribe'; hosts?: string[] }
  | { type: 'unsubscribe'; hosts: string[] };
