// Silences and maintenance windows: form values, quick presets and the
// REST shapes (`SilenceInput`, `MaintenanceInput`; the server refuses
// unknown fields, so only set matcher fields are sent).
import type { Alert, AlertMatcher, MaintenanceInput, MaintenanceRecord, Severity, SilenceInput, SilenceRecord } from '../api/types';

export const SILENCE_PRESETS = [
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '4h', label: '4 h', ms: 4 * 3_600_000 },
  { key: '1d', label: '1 d', ms: 86_400_000 },
] as const;

export type PresetKey = (typeof SILENCE_PRESETS)[number]['key'];

const pad2 = (n: number) => String(n).padStart(2, '0');

/** A time as an `<input type="datetime-local">` value (local time, minutes). */
export function toLocalInput(value: Date | string | number): string {
  const d = new Date(value);
  if (!Number.isFinite(d.getTime())) return '';
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** A `datetime-local` value (local time) as RFC 3339 (UTC), or null when it is not a time. */
export function fromLocalInput(value: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  return Number.isFinite(d.getTime()) ? d.toISOString() : null;
}

/** The end a preset gives: `start` (a datetime-local value; empty or invalid: `now`) plus the preset. */
export function presetEnd(start: string, preset: PresetKey, now: number = Date.now()): string {
  const p = SILENCE_PRESETS.find((x) => x.key === preset)!;
  const from = fromLocalInput(start);
  const t = from ? Date.parse(from) : now;
  return toLocalInput(t + p.ms);
}

export interface SilenceForm {
  rule_id: string;
  host_id: string;
  severity: '' | Severity;
  mount: string;
  container_name: string;
  service_name: string;
  /** datetime-local values. */
  starts_at: string;
  ends_at: string;
  comment: string;
}

export function newSilenceForm(now: number = Date.now(), preset: PresetKey = '1h'): SilenceForm {
  const start = toLocalInput(now);
  return {
    rule_id: '', host_id: '', severity: '', mount: '', container_name: '', service_name: '',
    starts_at: start, ends_at: presetEnd(start, preset, now), comment: '',
  };
}

/** A silence for this alert's instance (its rule, host and mount/container/service). */
export function silenceFormForAlert(a: Alert, now: number = Date.now()): SilenceForm {
  return {
    ...newSilenceForm(now), rule_id: a.rule_id, host_id: a.host_id, mount: a.mount ?? '',
    container_name: a.container_name ?? '', service_name: a.service_name ?? '',
  };
}

export function silenceToForm(s: SilenceRecord): SilenceForm {
  return {
    rule_id: s.match.rule_id ?? '', host_id: s.match.host_id ?? '', severity: s.match.severity ?? '',
    mount: s.match.mount ?? '', container_name: s.match.container_name ?? '', service_name: s.match.service_name ?? '',
    starts_at: toLocalInput(s.starts_at), ends_at: toLocalInput(s.ends_at), comment: s.comment,
  };
}

/** The form as a `SilenceInput`, or the reason it is not one yet. */
export function silenceInput(f: SilenceForm): SilenceInput | { error: string } {
  const starts = fromLocalInput(f.starts_at);
  const ends = fromLocalInput(f.ends_at);
  if (!starts) return { error: 'starts_at: pick when the silence starts' };
  if (!ends) return { error: 'ends_at: pick when the silence ends (or use a preset)' };
  if (Date.parse(ends) <= Date.parse(starts)) return { error: 'ends_at: the end must be after the start' };
  const match: AlertMatcher = {};
  for (const key of ['rule_id', 'host_id', 'mount', 'container_name', 'service_name'] as const) {
    const v = f[key].trim();
    if (v) match[key] = v;
  }
  if (f.severity) match.severity = f.severity;
  return { match, starts_at: starts, ends_at: ends, comment: f.comment.trim() };
}

/** A silence's input part, for a PUT (e.g. expiring it now). */
export function silenceInputOf(s: SilenceRecord): SilenceInput {
  return { match: { ...s.match }, starts_at: s.starts_at, ends_at: s.ends_at, comment: s.comment };
}

export type SilenceState = 'active' | 'upcoming' | 'expired';

export function silenceState(s: Pick<SilenceRecord, 'starts_at' | 'ends_at'>, now: number = Date.now()): SilenceState {
  if ((Date.parse(s.ends_at) || 0) <= now) return 'expired';
  if ((Date.parse(s.starts_at) || 0) > now) return 'upcoming';
  return 'active';
}

/** "rule CPU high · host IN3 · severity critical"; "every alert" for an empty matcher. */
export function matcherText(m: AlertMatcher, ruleName: (id: string) => string, hostName: (id: string) => string): string {
  const parts: string[] = [];
  if (m.rule_id) parts.push(`rule ${ruleName(m.rule_id)}`);
  if (m.host_id) parts.push(`host ${hostName(m.host_id)}`);
  if (m.severity) parts.push(`severity ${m.severity}`);
  if (m.mount) parts.push(`mount ${m.mount}`);
  if (m.container_name) parts.push(`container ${m.container_name}`);
  if (m.service_name) parts.push(`service ${m.service_name}`);
  return parts.length ? parts.join(' · ') : 'every alert';
}

export interface MaintenanceForm { name: string; host_id: string; schedule: string; duration: string; enabled: boolean; comment: string }

export function newMaintenanceForm(): MaintenanceForm {
  return { name: '', host_id: '', schedule: '0 0 2 * * Sun', duration: '2h', enabled: true, comment: '' };
}

export function maintenanceToForm(m: MaintenanceRecord): MaintenanceForm {
  return { name: m.name, host_id: m.host_id ?? '', schedule: m.schedule, duration: m.duration, enabled: m.enabled, comment: m.comment };
}

/** The form as a `MaintenanceInput` (no `host_id`: every host), or the reason it is not one yet. */
export function maintenanceInput(f: MaintenanceForm): MaintenanceInput | { error: string } {
  if (!f.name.trim()) return { error: 'name: give the window a name, e.g. "Sunday backups"' };
  const fields = f.schedule.trim().split(/\s+/).filter(Boolean);
  if (fields.length < 6) {
    return { error: `schedule: ${fields.length} field${fields.length === 1 ? '' : 's'}; write six: sec min hour day month weekday, e.g. 0 0 2 * * Sun` };
  }
  if (!f.duration.trim()) return { error: 'duration: how long each window lasts, e.g. 2h' };
  const input: MaintenanceInput = {
    name: f.name.trim(), schedule: f.schedule.trim(), duration: f.duration.trim(), enabled: f.enabled, comment: f.comment.trim(),
  };
  if (f.host_id) input.host_id = f.host_id;
  return input;
}

export function maintenanceInputOf(m: MaintenanceRecord): MaintenanceInput {
  const input: MaintenanceInput = { name: m.name, schedule: m.schedule, duration: m.duration, enabled: m.enabled, comment: m.comment };
  if (m.host_id) input.host_id = m.host_id;
  return input;
}
