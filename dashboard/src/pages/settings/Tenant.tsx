// Settings › Tenant (GET/PUT /api/config/tenant): the tenant's name, how
// long its raw, hourly and daily metrics are kept (empty: the server's, never
// more than the server keeps) and the collection interval pushed to its
// agents (empty: each agent's own). Everyone reads; admins change them.
import { useEffect, useState } from 'preact/hooks';
import { useServices } from '../../context';
import { formatDateTime } from '../../format';
import { useAsync } from '../../hooks';

export type RetentionKey = 'raw' | 'hourly' | 'daily';
export const RETENTION_KEYS: RetentionKey[] = ['raw', 'hourly', 'daily'];

/** The settings as the server answers them (durations as text, null: the default). */
export interface TenantSettings {
  id: string;
  name: string;
  retention: Record<RetentionKey, string | null>;
  agent_interval: string | null;
  limits: { retention: Record<RetentionKey, string>; agent_interval_min: string; agent_interval_max: string };
  updated_at: string | null;
}

/** The form: every field as typed. */
export interface TenantForm {
  name: string;
  retention: Record<RetentionKey, string>;
  agent_interval: string;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds of a duration as the server writes them (`30s`, `5m`, `12h`, `90d`), or null. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNITS[match[2]!]!;
}

/** The settings as the server sent them, with defaults for what is missing. */
export function normalizeTenant(raw: unknown): TenantSettings {
  const o = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  const r = o(raw);
  const retention = o(r.retention);
  const limits = o(r.limits);
  const limitRetention = o(limits.retention);
  return {
    id: text(r.id) ?? '',
    name: text(r.name) ?? '',
    retention: { raw: text(retention.raw), hourly: text(retention.hourly), daily: text(retention.daily) },
    agent_interval: text(r.agent_interval),
    limits: {
      retention: {
        raw: text(limitRetention.raw) ?? '7d',
        hourly: text(limitRetention.hourly) ?? '90d',
        daily: text(limitRetention.daily) ?? '730d',
      },
      agent_interval_min: text(limits.agent_interval_min) ?? '5s',
      agent_interval_max: text(limits.agent_interval_max) ?? '1h',
    },
    updated_at: text(r.updated_at),
  };
}

export function formOf(settings: TenantSettings): TenantForm {
  return {
    name: settings.name,
    retention: {
      raw: settings.retention.raw ?? '',
      hourly: settings.retention.hourly ?? '',
      daily: settings.retention.daily ?? '',
    },
    agent_interval: settings.agent_interval ?? '',
  };
}

/** Why the form cannot be sent, naming the field as the server would, or null. */
export function validateTenantForm(form: TenantForm, limits: TenantSettings['limits']): string | null {
  if (!form.name.trim()) return 'name: give the tenant a name';
  if ([...form.name.trim()].length > 100) return 'name: at most 100 characters';
  const minimum: Record<RetentionKey, number> = { raw: 3600, hourly: 3600, daily: 86400 };
  for (const key of RETENTION_KEYS) {
    const text = form.retention[key].trim();
    if (!text) continue;
    const seconds = parseDuration(text);
    if (seconds === null) return `retention.${key}: "${text}" is not a duration; write a number followed by s, m, h or d (e.g. 30d)`;
    const max = parseDuration(limits.retention[key]);
    if (max !== null && seconds > max) return `retention.${key}: at most ${limits.retention[key]}, what the server keeps`;
    if (seconds < minimum[key]) return `retention.${key}: at least ${key === 'daily' ? '1d' : '1h'}`;
  }
  const interval = form.agent_interval.trim();
  if (interval) {
    const seconds = parseDuration(interval);
    const min = parseDuration(limits.agent_interval_min) ?? 5;
    const max = parseDuration(limits.agent_interval_max) ?? 3600;
    if (seconds === null) return `agent_interval: "${interval}" is not a duration (e.g. 30s)`;
    if (seconds < min || seconds > max) return `agent_interval: give ${limits.agent_interval_min} to ${limits.agent_interval_max}`;
  }
  return null;
}

/** The PUT body: empty fields are left out (the server's retention, the agents' own interval). */
export function tenantBody(form: TenantForm): Record<string, unknown> {
  const retention: Partial<Record<RetentionKey, string>> = {};
  for (const key of RETENTION_KEYS) {
    const text = form.retention[key].trim();
    if (text) retention[key] = text;
  }
  const body: Record<string, unknown> = { name: form.name.trim(), retention };
  if (form.agent_interval.trim()) body.agent_interval = form.agent_interval.trim();
  return body;
}

const LABELS: Record<RetentionKey, string> = { raw: 'Raw snapshots', hourly: 'Hourly aggregates', daily: 'Daily aggregates' };

export function Tenant() {
  const { api, session } = useServices();
  const isAdmin = session.current?.user.role === 'admin';
  const loaded = useAsync(async () => normalizeTenant(await api.request('GET', '/api/config/tenant')), []);
  const [form, setForm] = useState<TenantForm | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (loaded.data) setForm(formOf(loaded.data));
  }, [loaded.data]);

  const settings = loaded.data;
  const save = async (e: Event) => {
    e.preventDefault();
    if (!form || !settings) return;
    const invalid = validateTenantForm(form, settings.limits);
    setError(invalid);
    setSaved(false);
    if (invalid) return;
    setBusy(true);
    try {
      await api.request('PUT', '/api/config/tenant', tenantBody(form));
      setSaved(true);
      loaded.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const set = (change: (f: TenantForm) => TenantForm) => setForm((f) => (f ? change(f) : f));

  return (
    <section class="section" data-testid="tenant">
      <h2>Tenant</h2>
      <p class="muted">
        How long this tenant's metrics are kept (empty: what the server keeps; never more) and the collection interval
        pushed to its agents (empty: each agent's own).
      </p>
      {loaded.error ? (
        <div class="form-error">{loaded.error.message}</div>
      ) : !settings || !form ? (
        <div class="empty">Loading tenant settings…</div>
      ) : (
        <form class="form" onSubmit={save} noValidate>
          <label class="field">
            <span class="field-label">Name</span>
            <input
              class="input"
              value={form.name}
              maxLength={100}
              disabled={!isAdmin}
              onInput={(e) => set((f) => ({ ...f, name: (e.currentTarget as HTMLInputElement).value }))}
              data-testid="tenant-name"
            />
          </label>
          {RETENTION_KEYS.map((key) => (
            <label class="field" key={key}>
              <span class="field-label">{LABELS[key]} kept (at most {settings.limits.retention[key]})</span>
              <input
                class="input"
                value={form.retention[key]}
                placeholder={`${settings.limits.retention[key]} (the server's)`}
                disabled={!isAdmin}
                onInput={(e) =>
                  set((f) => ({ ...f, retention: { ...f.retention, [key]: (e.currentTarget as HTMLInputElement).value } }))
                }
                data-testid={`tenant-retention-${key}`}
              />
            </label>
          ))}
          <label class="field">
            <span class="field-label">
              Agent collection interval ({settings.limits.agent_interval_min} to {settings.limits.agent_interval_max})
            </span>
            <input
              class="input"
              value={form.agent_interval}
              placeholder="each agent's own"
              disabled={!isAdmin}
              onInput={(e) => set((f) => ({ ...f, agent_interval: (e.currentTarget as HTMLInputElement).value }))}
              data-testid="tenant-interval"
            />
          </label>
          {isAdmin ? (
            <div class="row-actions">
              <button type="submit" class="btn btn-primary" disabled={busy} data-testid="tenant-save">
                {busy ? 'Saving…' : 'Save'}
              </button>
              {saved ? <span class="muted" role="status">Saved; connected agents got the interval.</span> : null}
            </div>
          ) : (
            <p class="muted">Only admins can change the tenant's settings.</p>
          )}
          {error ? <div class="form-error" role="alert" data-testid="tenant-error">{error}</div> : null}
          {settings.updated_at ? <p class="muted">Last changed {formatDateTime(settings.updated_at)}.</p> : null}
        </form>
      )}
    </section>
  );
}
