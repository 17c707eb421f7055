// One host: identity and status (with its alert badge), its active alerts,
// CPU/memory history (1 h / 24 h / 7 d), disks per mount, containers and
// services, and its recent remote actions. Live frames update the status,
// alerts, actions and bars, and extend the 1 h chart. Operators and admins
// get action buttons on container and service rows and the header's
// `Actions ▾` menu (components/ActionControls.tsx, a chunk loaded with the page:
// the controls appear once it is in).
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { summarizePoint } from '../api/normalize';
import type { ContainerInfo, HostRecord, ServiceInfo } from '../api/types';
import type * as ActionsUi from '../components/ActionControls';
import type { ActionTarget, Known } from '../components/ActionControls';
import { lazyModule } from '../components/Lazy';
import { AlertBadge, AlertList } from '../components/Alerts';
import { Bar } from '../components/Bar';
import { TimeChart } from '../components/Chart';
import { StatusBadge } from '../components/Status';
import { useCanAct, useServices } from '../context';
import { appendLive, dailySeries, hourlySeries, RANGES, toSeries, type RangeKey, type Series } from '../chartData';
import { DASH, formatBytes, formatBytesOf, formatPercent, formatUptime, timeAgo } from '../format';
import { useAlerts, useAsync, useHost, useNow } from '../hooks';
import { onLinkClick } from '../router';

function Info({ label, value, testid }: { label: string; value: string; testid?: string }) {
  return (
    <div class="info">
      <div class="info-label">{label}</div>
      <div class="info-value" data-testid={testid}>{value || DASH}</div>
    </div>
  );
}

const useActionsUi = lazyModule(() => import('../components/ActionControls'));

/** Row actions: their components, the host and what opens the dialog; absent for viewers. */
interface RowActs { ui: typeof ActionsUi; host: HostRecord; onOpen: (t: ActionTarget) => void }

function ContainersTable({ rows, acts }: { rows: ContainerInfo[]; acts: RowActs | null }) {
  return (
    <div class="table-wrap">
      <table class="table" data-testid="containers-table">
        <thead>
          <tr>
            <th>Name</th><th>Status</th><th>Image</th><th class="num">CPU</th><th class="num">Memory</th><th class="num">Procs</th>
            {acts ? <th aria-label="Actions" /> : null}
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.name} data-testid={`container-row-${c.name}`}>
              <td><span class={`dot-inline st-${c.status}`} aria-hidden="true" />{c.name}</td>
              <td>{c.status}</td>
              <td class="mono ellipsis" title={c.image}>{c.image || DASH}</td>
              <td class="num">{formatPercent(c.cpu_percent)}</td>
              <td class="num">{c.memory_limit ? formatBytesOf(c.memory_used, c.memory_limit) : formatBytes(c.memory_used)}</td>
              <td class="num">{c.processes}</td>
              {acts ? (
                <td><acts.ui.ContainerButtons host={acts.host} name={c.name} runtime={c.runtime} status={c.status} onOpen={acts.onOpen} /></td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ServicesTable({ rows, acts }: { rows: ServiceInfo[]; acts: RowActs | null }) {
  return (
    <div class="table-wrap">
      <table class="table" data-testid="services-table">
        <thead>
          <tr>
            <th>Name</th><th>Status</th><th class="num">PID</th><th class="num">CPU</th><th class="num">Memory</th><th>Ports</th><th>Uptime</th>
            {acts ? <th aria-label="Actions" /> : null}
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.name} data-testid={`service-row-${s.name}`}>
              <td><span class={`dot-inline st-${s.status}`} aria-hidden="true" />{s.name}</td>
              <td>{s.status}</td>
              <td class="num">{s.pid || DASH}</td>
              <td class="num">{formatPercent(s.cpu_percent)}</td>
              <td class="num">{formatBytes(s.memory)}</td>
              <td class="mono">{s.ports.length ? s.ports.join(', ') : DASH}</td>
              <td>{s.uptime ? formatUptime(s.uptime) : DASH}</td>
              {acts ? <td><acts.ui.ServiceButtons host={acts.host} name={s.name} status={s.status} onOpen={acts.onOpen} /></td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Section<T>({ title, state, render, unavailable }: {
  title: string;
  state: { data: T[] | null | undefined; error: Error | null; loading: boolean };
  render: (rows: T[]) => ComponentChildren;
  unavailable: string;
}) {
  let body: ComponentChildren;
  if (state.error) body = <div class="form-error">{state.error.message}</div>;
  else if (state.data === undefined) body = <div class="empty">Loading…</div>;
  else if (state.data === null) body = <div class="empty" data-testid={`${title.toLowerCase()}-unavailable`}>{unavailable}</div>;
  else if (state.data.length === 0) body = <div class="empty">None on this host.</div>;
  else body = render(state.data);
  return (
    <section class="section">
      <h2>{title}{state.data ? <span class="muted"> ({state.data.length})</span> : null}</h2>
      {body}
    </section>
  );
}

/** The host's active alerts, live; nothing when it has none. */
function HostAlertsSection({ id }: { id: string }) {
  const { alerts } = useServices();
  useAlerts(alerts);
  const mine = alerts.list().filter((a) => a.host_id === id);
  if (!mine.length) return null;
  return (
    <section class="section" data-testid="host-alerts-section">
      <h2>Active alerts <span class="muted">({mine.length})</span></h2>
      <AlertList alerts={mine} showHost={false} testid="host-alerts-list" />
    </section>
  );
}

export function HostDetail({ id }: { id: string }) {
  const { api, store } = useServices();
  const live = useHost(store, id);
  const now = useNow();
  const [range, setRange] = useState<RangeKey>('1h');

  const detail = useAsync(() => api.host(id), [id]);
  useEffect(() => {
    if (detail.data) store.upsertHost(detail.data);
  }, [detail.data]);

  const metrics = useAsync(async (): Promise<Series> => {
    const to = new Date();
    const from = new Date(to.getTime() - RANGES[range].seconds * 1000);
    if (RANGES[range].hourly) return hourlySeries((await api.hourly(id, from, to)).points);
    if (RANGES[range].daily) return dailySeries((await api.daily(id, from, to)).points);
    return toSeries((await api.metrics(id, from, to, RANGES[range].limit, RANGES[range].step)).points);
  }, [id, range]);
  const [series, setSeries] = useState<Series>([[], [], []]);
  useEffect(() => {
    setSeries(metrics.data ?? [[], [], []]);
  }, [metrics.data]);
  // live frames extend the 1 h chart
  const liveTs = live?.live.timestamp;
  useEffect(() => {
    if (range !== '1h' || !liveTs || !live || !metrics.data) return;
    const t = Date.parse(liveTs) / 1000;
    if (Number.isFinite(t)) setSeries((s) => appendLive(s, t, live.live.cpu, live.live.memory, RANGES['1h'].seconds));
  }, [liveTs, range, metrics.data]);

  const containers = useAsync(() => api.hostContainers(id), [id]);
  const services = useAsync(() => api.hostServices(id), [id]);
  const canAct = useCanAct();
  const ui = useActionsUi();
  const [dialog, setDialog] = useState<ActionTarget | null>(null);

  const emptyChart = RANGES[range].hourly
    ? 'No hourly data yet: each hour is summarized a minute after it ends'
    : RANGES[range].daily
      ? 'No daily data yet: each day is summarized from its hours once it ends'
      : 'No data in this range';
  const cpuSeries = useMemo(() => series[1], [series]);
  const memSeries = useMemo(() => series[2], [series]);

  if (detail.error && !live) {
    const notFound = detail.error instanceof ApiError && detail.error.notFound;
    return (
      <div>
        <a href="/hosts" onClick={onLinkClick} class="back">← Hosts</a>
        <div class="empty" data-testid="host-error">{notFound ? `No host "${id}" in your tenant.` : detail.error.message}</div>
      </div>
    );
  }

  const host = live ?? detail.data?.host;
  const latest = detail.data?.latest ?? null;
  const summary = latest ? summarizePoint(latest) : null;
  const cpu = live?.live.cpu ?? summary?.cpu ?? null;
  const mem = live?.live.memory ?? summary?.memory ?? null;
  const uptime = summary ? summary.uptime + Math.max(0, (now - Date.parse(latest!.timestamp)) / 1000) : null;
  const online = host?.status !== 'offline';
  const acts: RowActs | null = canAct && host && ui ? { ui, host, onOpen: setDialog } : null;
  const known: Known = {
    services: (services.data ?? []).map((x) => x.name),
    containers: (containers.data ?? []).map((c) => ({ name: c.name, runtime: c.runtime })),
  };

  return (
    <div data-testid="host-detail">
      <div class="crumbs">
        <a href="/hosts" onClick={onLinkClick} class="back">← Hosts</a>
        <span class="muted">/</span>
        <h1>{host?.name ?? id}{host?.hostname && host.hostname !== host.name ? <span class="muted"> ({host.hostname})</span> : null}</h1>
        {acts ? <acts.ui.HostActionsMenu onOpen={setDialog} /> : null}
      </div>
      {acts && dialog ? <acts.ui.ActionDialog host={acts.host} target={dialog} known={known} onClose={() => setDialog(null)} /> : null}

      {host ? (
        <div class="card info-grid">
          <div class="info">
            <div class="info-label">Status</div>
            <div class="info-value">
              <StatusBadge status={host.status} testid="detail-status" />
              {' '}<AlertBadge hostId={id} testid="detail-alerts" />
              {host.status === 'offline' ? <span class="muted"> last seen {timeAgo(host.last_seen, now)}</span> : null}
            </div>
          </div>
          <Info label="Uptime" value={online && uptime !== null ? formatUptime(uptime) : DASH} testid="detail-uptime" />
          <Info label="Agent" value={host.agent_version ? `v${host.agent_version.replace(/^v/, '')}` : ''} testid="detail-agent" />
          <Info label="OS" value={host.os} testid="detail-os" />
          <Info label="IP" value={host.ip_address} testid="detail-ip" />
          <Info label="Arch" value={host.arch} testid="detail-arch" />
          {latest ? (
            <Info
              label="Load"
              value={`${latest.host.load.load_1m.toFixed(2)} ${latest.host.load.load_5m.toFixed(2)} ${latest.host.load.load_15m.toFixed(2)}`}
            />
          ) : null}
          {host.cpu_model ? <Info label="CPU" value={host.cpu_model} testid="detail-cpu-model" /> : null}
          {latest && latest.host.cpu.cores ? <Info label="Cores" value={`${latest.host.cpu.cores}`} /> : null}
        </div>
      ) : (
        <div class="empty">Loading host…</div>
      )}

      <HostAlertsSection id={id} />
      {ui ? <ui.HostRecentActions hostId={id} /> : null}

      <div class="section-head">
        <h2>Usage</h2>
        <div class="segmented" role="group" aria-label="Time range">
          {(Object.keys(RANGES) as RangeKey[]).map((k) => (
            <button
              type="button"
              key={k}
              class={`seg${range === k ? ' is-active' : ''}`}
              aria-pressed={range === k}
              onClick={() => setRange(k)}
              data-testid={`range-${k}`}
            >
              {RANGES[k].label}
            </button>
          ))}
        </div>
      </div>
      {metrics.error ? <div class="form-error">{metrics.error.message}</div> : null}
      <div class="grid-2">
        <div class="card">
          <Bar label="CPU" value={cpu} testid="detail-cpu" />
          <TimeChart testid="chart-cpu" label="CPU" colorVar="--chart-cpu" xs={series[0]} ys={cpuSeries} empty={emptyChart} />
        </div>
        <div class="card">
          <Bar
            label="Memory"
            value={mem}
            testid="detail-mem"
            detail={latest ? formatBytesOf(latest.host.memory.used, latest.host.memory.total) : undefined}
          />
          <TimeChart testid="chart-memory" label="Memory" colorVar="--chart-mem" xs={series[0]} ys={memSeries} empty={emptyChart} />
        </div>
      </div>

      <section class="section">
        <h2>Disks</h2>
        {latest && latest.host.disk.mounts.length ? (
          <div class="grid-2" data-testid="disks">
            {latest.host.disk.mounts.map((m) => (
              <div class="card" key={m.path} data-testid={`disk-${m.path}`}>
                <Bar label={m.path} value={m.percent} detail={`${formatBytesOf(m.used, m.total)}${m.fs_type ? ` · ${m.fs_type}` : ''}`} />
              </div>
            ))}
          </div>
        ) : (
          <div class="empty">{detail.data ? 'No disk data reported yet.' : 'Loading…'}</div>
        )}
      </section>

      <Section
        title="Containers"
        state={containers}
        render={(rows) => <ContainersTable rows={rows} acts={acts} />}
        unavailable="Container details are not available from this server yet."
      />
      <Section
        title="Services"
        state={services}
        render={(rows) => <ServicesTable rows={rows} acts={acts} />}
        unavailable="Service details are not available from this server yet."
      />
    </div>
  );
}
