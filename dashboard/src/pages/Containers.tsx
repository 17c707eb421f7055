// Every container across the tenant's hosts, from each host's latest
// snapshot: GET /api/containers when the server has it, else per host
// (GET /api/hosts/{id}/containers), else the live WebSocket frames.
import { useMemo, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client';
import type { ContainerInfo } from '../api/types';
import { useServices } from '../context';
import { DASH, formatBytes, formatBytesOf, formatPercent } from '../format';
import { useAsync, useSummary } from '../hooks';
import type { HostsStore } from '../live/store';
import { onLinkClick } from '../router';
import { mapLimit } from '../util';

export interface ContainerRow {
  hostId: string;
  name: string;
  status: string;
  image: string;
  cpu: number | null;
  memoryUsed: number | null;
  memoryLimit: number | null;
  memoryPercent: number | null;
}

type Source = 'api' | 'per-host' | 'live';

function fromInfo(hostId: string, c: ContainerInfo): ContainerRow {
  return {
    hostId, name: c.name, status: c.status, image: c.image, cpu: c.cpu_percent,
    memoryUsed: c.memory_used, memoryLimit: c.memory_limit || null, memoryPercent: c.memory_percent,
  };
}

async function loadContainers(api: ApiClient, store: HostsStore): Promise<{ source: Source; rows: ContainerRow[] | null }> {
  const all = await api.allContainers();
  if (all) return { source: 'api', rows: all.map((c) => fromInfo(c.host_id ?? '', c)) };
  const ids = [...store.ids()];
  if (ids.length) {
    const first = await api.hostContainers(ids[0]!);
    if (first) {
      const rest = await mapLimit(ids.slice(1), 4, (id) => api.hostContainers(id).catch(() => null));
      const rows: ContainerRow[] = first.map((c) => fromInfo(ids[0]!, c));
      rest.forEach((list, i) => list?.forEach((c) => rows.push(fromInfo(ids[i + 1]!, c))));
      return { source: 'per-host', rows };
    }
  }
  return { source: 'live', rows: null };
}

function liveRows(store: HostsStore): ContainerRow[] {
  const rows: ContainerRow[] = [];
  for (const h of store.all()) {
    for (const c of h.live.containers ?? []) {
      rows.push({ hostId: h.id, name: c.name, status: c.status, image: '', cpu: c.cpu, memoryUsed: null, memoryLimit: null, memoryPercent: c.memory });
    }
  }
  return rows;
}

export function Containers() {
  const { api, store } = useServices();
  const summary = useSummary(store);
  const loaded = useAsync(() => loadContainers(api, store), [store.loaded]);
  const [filter, setFilter] = useState('');
  const rows = useMemo(() => {
    const base = loaded.data?.rows ?? (loaded.data?.source === 'live' ? liveRows(store) : []);
    const f = filter.trim().toLowerCase();
    const list = f
      ? base.filter((r) => r.name.toLowerCase().includes(f) || r.image.toLowerCase().includes(f) || hostName(store, r.hostId).toLowerCase().includes(f))
      : base;
    return [...list].sort((a, b) => hostName(store, a.hostId).localeCompare(hostName(store, b.hostId)) || a.name.localeCompare(b.name));
    // the live source follows store changes (summary changes once per frame)
  }, [loaded.data, filter, loaded.data?.source === 'live' ? summary : null]);

  return (
    <div>
      <div class="section-head">
        <h1>Containers {loaded.data ? <span class="muted">({rows.length})</span> : null}</h1>
        <button type="button" class="btn btn-small" onClick={loaded.reload} disabled={loaded.loading}>Refresh</button>
      </div>
      <div class="toolbar">
        <input
          type="search"
          class="input"
          placeholder="Filter by name, image or host"
          value={filter}
          onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)}
          aria-label="Filter containers"
        />
      </div>
      {loaded.error ? <div class="form-error">{loaded.error.message}</div> : null}
      {!loaded.data ? (
        <div class="empty">Loading containers…</div>
      ) : rows.length === 0 ? (
        <div class="empty" data-testid="containers-empty">
          {loaded.data.source === 'live'
            ? 'Container details are not available from this server yet; containers reported live by agents will appear here.'
            : 'No containers on your hosts.'}
        </div>
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="all-containers-table">
            <thead>
              <tr><th>Host</th><th>Name</th><th>Status</th><th>Image</th><th class="num">CPU</th><th class="num">Memory</th></tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.hostId}/${r.name}`}>
                  <td>
                    {r.hostId ? <a href={`/hosts/${encodeURIComponent(r.hostId)}`} onClick={onLinkClick}>{hostName(store, r.hostId)}</a> : DASH}
                  </td>
                  <td><span class={`dot-inline st-${r.status}`} aria-hidden="true" />{r.name}</td>
                  <td>{r.status}</td>
                  <td class="mono ellipsis" title={r.image}>{r.image || DASH}</td>
                  <td class="num">{formatPercent(r.cpu)}</td>
                  <td class="num">
                    {r.memoryUsed !== null
                      ? r.memoryLimit ? formatBytesOf(r.memoryUsed, r.memoryLimit) : formatBytes(r.memoryUsed)
                      : formatPercent(r.memoryPercent)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function hostName(store: HostsStore, id: string): string {
  return store.get(id)?.name ?? id;
}
