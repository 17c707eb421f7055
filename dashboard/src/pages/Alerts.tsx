// The Alerts page (its own chunk): tabs Active (live, filtered by host,
// severity and status, with Ack and "Silence…"), History (resolved alerts,
// newest first, paged with "Older"), Rules, Silences and Maintenance. The
// tab is kept in `?tab=` so it survives a reload and can be linked to.
import { useEffect, useRef, useState } from 'preact/hooks';
import { silenceFormForAlert, type SilenceForm } from '../alerting/silence';
import type { Alert, AlertHistoryEntry, RuleRecord, Severity } from '../api/types';
import { AlertList, alertInstance, SeverityTag } from '../components/Alerts';
import { useServices } from '../context';
import { DASH, formatDateTime, formatDuration } from '../format';
import { useAlerts, useAsync, useSortedIds, type AsyncState } from '../hooks';
import { onLinkClick } from '../router';
import { MaintenanceTab } from './alerts/Maintenance';
import { RulesTab } from './alerts/Rules';
import { SilencesTab } from './alerts/Silences';
import { HostSelect, LoadError, SeveritySelect, valueOf } from './alerts/ui';

export const TABS = [
  { key: 'active', label: 'Active' },
  { key: 'history', label: 'History' },
  { key: 'rules', label: 'Rules' },
  { key: 'silences', label: 'Silences' },
  { key: 'maintenance', label: 'Maintenance' },
] as const;

export type Tab = (typeof TABS)[number]['key'];

/** Resolved alerts per history page. */
export const HISTORY_PAGE = 50;

function tabFromLocation(): Tab {
  const t = new URLSearchParams(location.search).get('tab');
  return TABS.some((x) => x.key === t) ? (t as Tab) : 'active';
}

function ActiveTab({ onSilence }: { onSilence: (a: Alert) => void }) {
  const { alerts, store } = useServices();
  useAlerts(alerts);
  useSortedIds(store, 'name', false); // host names for the filter follow hosts coming and going
  const [host, setHost] = useState('');
  const [severity, setSeverity] = useState<'' | Severity>('');
  const [status, setStatus] = useState<'' | 'firing' | 'acknowledged'>('');
  const filtered = alerts.list().filter(
    (a) => (!host || a.host_id === host) && (!severity || a.severity === severity) && (!status || a.status === status),
  );
  const filtering = !!(host || severity || status);
  let body;
  if (alerts.state === 'unavailable') body = <div class="empty">Alerting is not available on this server yet.</div>;
  else if (alerts.state === 'error') body = <div class="form-error">{alerts.error}</div>;
  else if (alerts.state !== 'ready') body = <div class="empty">Loading alerts…</div>;
  else if (!filtered.length) {
    body = <div class="empty" data-testid="active-empty">{filtering ? 'No active alert matches these filters.' : 'No active alerts. All clear.'}</div>;
  } else body = <AlertList alerts={filtered} onSilence={onSilence} testid="active-alerts" />;
  return (
    <div data-testid="active-tab">
      <div class="toolbar filters">
        <HostSelect store={store} value={host} onChange={setHost} anyLabel="All hosts" testid="active-filter-host" label="Host" />
        <SeveritySelect value={severity} onChange={setSeverity} anyLabel="All severities" testid="active-filter-severity" label="Severity" />
        <select
          class="input select"
          value={status}
          onChange={(e) => {
            const v = valueOf(e);
            setStatus(v === 'firing' || v === 'acknowledged' ? v : '');
          }}
          aria-label="Status"
          data-testid="active-filter-status"
        >
          <option value="">Firing and acknowledged</option>
          <option value="firing">Firing</option>
          <option value="acknowledged">Acknowledged</option>
        </select>
        <span class="muted" data-testid="active-count">{filtered.length} of {alerts.list().length}</span>
      </div>
      {body}
    </div>
  );
}

function HistoryTab({ rules }: { rules: RuleRecord[] }) {
  const { api, store } = useServices();
  const [host, setHost] = useState('');
  const [severity, setSeverity] = useState<'' | Severity>('');
  const [rule, setRule] = useState('');
  const [items, setItems] = useState<AlertHistoryEntry[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  // the filters' generation: an answer for older filters is dropped
  const gen = useRef(0);

  const load = async (before: number | null, g: number) => {
    setLoading(true);
    setError(null);
    try {
      const page = await api.alertHistory({
        host_id: host || undefined, severity: severity || undefined, rule_id: rule || undefined,
        before: before ?? undefined, limit: HISTORY_PAGE,
      });
      if (g !== gen.current) return;
      setItems((old) => (before === null ? page.items : [...old, ...page.items]));
      setNext(page.next_before);
      setLoaded(true);
    } catch (e) {
      if (g === gen.current) setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      if (g === gen.current) setLoading(false);
    }
  };
  useEffect(() => {
    const g = ++gen.current;
    setItems([]);
    setNext(null);
    setLoaded(false);
    void load(null, g);
  }, [host, severity, rule]);

  return (
    <div data-testid="history-tab">
      <div class="toolbar filters">
        <HostSelect store={store} value={host} onChange={setHost} anyLabel="All hosts" testid="history-filter-host" label="Host" />
        <SeveritySelect value={severity} onChange={setSeverity} anyLabel="All severities" testid="history-filter-severity" label="Severity" />
        <select class="input select" value={rule} onChange={(e) => setRule(valueOf(e))} aria-label="Rule" data-testid="history-filter-rule">
          <option value="">All rules</option>
          {rules.map((r) => <option key={r.id} value={r.id}>{r.name}</option>)}
        </select>
      </div>
      {error ? <div data-testid="history-error"><LoadError error={error} what="Alert history" /></div> : null}
      {!loaded && loading ? (
        <div class="empty">Loading history…</div>
      ) : loaded && items.length === 0 ? (
        <div class="empty" data-testid="history-empty">No resolved alerts{host || severity || rule ? ' match these filters' : ' yet'}.</div>
      ) : items.length ? (
        <div class="table-wrap">
          <table class="table history" data-testid="history-table" data-count={items.length}>
            <thead>
              <tr><th>Severity</th><th>Alert</th><th>Host</th><th>Fired</th><th>Resolved</th><th class="num">Lasted</th></tr>
            </thead>
            <tbody>
              {items.map((a) => (
                <tr key={`${a.seq}/${a.id}`} data-testid={`history-row-${a.id}`}>
                  <td><SeverityTag severity={a.severity} /></td>
                  <td class="history-msg">
                    <div class="ellipsis" title={a.message}>{a.message || a.rule_name}</div>
                    <div class="muted ellipsis">{a.rule_name}{alertInstance(a) ? ` · ${alertInstance(a)}` : ''}{a.silenced ? ' · silenced' : ''}</div>
                  </td>
                  <td><a href={`/hosts/${encodeURIComponent(a.host_id)}`} onClick={onLinkClick}>{a.host_name}</a></td>
                  <td>{formatDateTime(a.fired_at)}</td>
                  <td>{a.resolved_at ? formatDateTime(a.resolved_at) : DASH}</td>
                  <td class="num">{formatDuration(a.duration_seconds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {next !== null ? (
        <div class="row-actions load-more">
          <button type="button" class="btn" disabled={loading} onClick={() => void load(next, gen.current)} data-testid="history-older">
            {loading ? 'Loading…' : 'Older'}
          </button>
        </div>
      ) : null}
    </div>
  );
}

export function Alerts() {
  const { api } = useServices();
  const [tab, setTab] = useState<Tab>(tabFromLocation);
  const [silenceDraft, setSilenceDraft] = useState<SilenceForm | null>(null);
  const rules: AsyncState<RuleRecord[]> = useAsync(() => api.rules(), []);

  const choose = (t: Tab) => {
    setTab(t);
    history.replaceState(null, '', t === 'active' ? '/alerts' : `/alerts?tab=${t}`);
  };

  return (
    <div data-testid="alerts-page">
      <h1>Alerts</h1>
      <div class="tabs" role="tablist" aria-label="Alerts">
        {TABS.map((t) => (
          <button
            type="button"
            role="tab"
            key={t.key}
            class={`tab${tab === t.key ? ' is-active' : ''}`}
            aria-selected={tab === t.key}
            onClick={() => choose(t.key)}
            data-testid={`alerts-tab-${t.key}`}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel">
        {tab === 'active' ? (
          <ActiveTab
            onSilence={(a) => {
              setSilenceDraft(silenceFormForAlert(a));
              choose('silences');
            }}
          />
        ) : tab === 'history' ? (
          <HistoryTab rules={rules.data ?? []} />
        ) : tab === 'rules' ? (
          <RulesTab rules={rules} />
        ) : tab === 'silences' ? (
          <SilencesTab rules={rules.data ?? []} draft={silenceDraft} onDraftUsed={() => setSilenceDraft(null)} />
        ) : (
          <MaintenanceTab />
        )}
      </div>
    </div>
  );
}
