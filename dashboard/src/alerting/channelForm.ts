// Notification channels: the fields of each type, the form values and
// their translation to `ChannelInput`. Secrets come back from the server
// masked (`••••abcd`, `https://hooks.slack.com/••••wxyz`); a masked value
// sent back unchanged keeps the stored secret, so the form never alters a
// field the user did not edit. Config keys the form does not know are kept
// as they came.
import type { ChannelInput, ChannelRecord, ChannelType } from '../api/types';

export type FieldKind = 'text' | 'secret' | 'number' | 'select' | 'list' | 'textarea' | 'headers';

export interface FieldSpec {
  key: string;
  label: string;
  kind: FieldKind;
  required?: boolean;
  placeholder?: string;
  options?: readonly string[];
  /** Form value of a new channel. */
  initial?: string;
  help?: string;
}

export const CHANNEL_LABELS: Record<ChannelType, string> = {
  email: 'Email', slack: 'Slack', pagerduty: 'PagerDuty', webhook: 'Webhook', discord: 'Discord',
  teams: 'Microsoft Teams', telegram: 'Telegram', ntfy: 'ntfy',
};

export const CHANNEL_FIELDS: Record<ChannelType, readonly FieldSpec[]> = {
  email: [
    { key: 'host', label: 'SMTP host', kind: 'text', required: true, placeholder: 'smtp.example.com' },
    { key: 'port', label: 'Port', kind: 'number', initial: '587' },
    { key: 'tls', label: 'TLS', kind: 'select', options: ['starttls', 'tls', 'none'], initial: 'starttls' },
    { key: 'user', label: 'User', kind: 'text', placeholder: 'optional' },
    { key: 'password', label: 'Password', kind: 'secret', placeholder: 'optional' },
    { key: 'from', label: 'From', kind: 'text', required: true, placeholder: 'vigil@example.com' },
    { key: 'to', label: 'To', kind: 'list', required: true, placeholder: 'ops@example.com, oncall@example.com', help: 'comma-separated addresses' },
    { key: 'ca_pem', label: 'CA certificate (PEM)', kind: 'textarea', placeholder: 'optional: -----BEGIN CERTIFICATE-----…' },
  ],
  slack: [
    { key: 'url', label: 'Webhook URL', kind: 'secret', required: true, placeholder: 'https://hooks.slack.com/services/…' },
    { key: 'channel', label: 'Channel', kind: 'text', placeholder: 'optional, e.g. #ops' },
    { key: 'username', label: 'Username', kind: 'text', placeholder: 'optional' },
  ],
  pagerduty: [
    { key: 'routing_key', label: 'Routing key', kind: 'secret', required: true, placeholder: 'Events API v2 integration key' },
    { key: 'url', label: 'Events API URL', kind: 'text', placeholder: 'optional: https://events.pagerduty.com/v2/enqueue' },
  ],
  webhook: [
    { key: 'url', label: 'URL', kind: 'secret', required: true, placeholder: 'https://example.com/hooks/vigil' },
    { key: 'method', label: 'Method', kind: 'select', options: ['POST', 'PUT'], initial: 'POST' },
    { key: 'headers', label: 'Headers', kind: 'headers', help: 'header values are kept secret' },
    { key: 'secret', label: 'HMAC secret', kind: 'secret', placeholder: 'optional: signs each body' },
  ],
  discord: [{ key: 'url', label: 'Webhook URL', kind: 'text', required: true, placeholder: 'https://discord.com/api/webhooks/…' }],
  teams: [{ key: 'url', label: 'Webhook URL', kind: 'text', required: true, placeholder: 'https://….webhook.office.com/…' }],
  telegram: [
    { key: 'bot_token', label: 'Bot token', kind: 'secret', required: true, placeholder: '123456:ABC…' },
    { key: 'chat_id', label: 'Chat id', kind: 'text', required: true, placeholder: '-1001234567890' },
    { key: 'api_url', label: 'API URL', kind: 'text', placeholder: 'optional: https://api.telegram.org' },
  ],
  ntfy: [
    { key: 'url', label: 'Topic URL', kind: 'text', required: true, placeholder: 'https://ntfy.sh/my-topic' },
    { key: 'token', label: 'Access token', kind: 'secret', placeholder: 'optional' },
  ],
};

export function isChannelType(t: string): t is ChannelType {
  return t in CHANNEL_FIELDS;
}

/** Whether a value is a masked secret as the server shows it (sent back as is, it keeps the stored one). */
export function isMasked(value: string): boolean {
  return value.includes('••••');
}

export interface HeaderRow { name: string; value: string }

export interface ChannelForm {
  id?: string;
  name: string;
  enabled: boolean;
  type: string;
  /** One text per field (lists comma-separated). */
  values: Record<string, string>;
  headers: HeaderRow[];
  /** Config keys the form has no field for, sent back unchanged. */
  extra: Record<string, unknown>;
}

function fieldsOf(type: string): readonly FieldSpec[] {
  return isChannelType(type) ? CHANNEL_FIELDS[type] : [];
}

export function newChannelForm(type: ChannelType = 'slack'): ChannelForm {
  const values: Record<string, string> = {};
  for (const f of CHANNEL_FIELDS[type]) values[f.key] = f.initial ?? '';
  return { name: '', enabled: true, type, values, headers: [], extra: {} };
}

/** Another type for a new channel: that type's fields, the name and enabled kept. */
export function withType(form: ChannelForm, type: ChannelType): ChannelForm {
  return { ...newChannelForm(type), id: form.id, name: form.name, enabled: form.enabled };
}

function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

export function channelToForm(c: ChannelRecord): ChannelForm {
  const fields = fieldsOf(c.type);
  const known = new Set(fields.map((f) => f.key));
  const values: Record<string, string> = {};
  let headers: HeaderRow[] = [];
  for (const f of fields) {
    const v = c.config[f.key];
    if (f.kind === 'list') values[f.key] = Array.isArray(v) ? v.map(text).join(', ') : text(v);
    else if (f.kind === 'headers') {
      headers = v && typeof v === 'object' && !Array.isArray(v)
        ? Object.entries(v as Record<string, unknown>).map(([name, value]) => ({ name, value: text(value) }))
        : [];
    } else values[f.key] = v === undefined || v === null ? '' : text(v);
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.config)) if (!known.has(k)) extra[k] = v;
  return { id: c.id, name: c.name, enabled: c.enabled, type: c.type, values, headers, extra };
}

/** Why the form cannot be saved as is (the server checks the rest), or null. */
export function validateChannelForm(f: ChannelForm): string | null {
  if (!f.name.trim()) return 'name: give the channel a name, e.g. "Ops Slack"';
  if (!isChannelType(f.type)) return null;
  for (const field of CHANNEL_FIELDS[f.type]) {
    if (!field.required) continue;
    const v = (f.values[field.key] ?? '').trim();
    if (!v) return `${field.key}: required for ${CHANNEL_LABELS[f.type]}`;
  }
  const port = f.values.port;
  if (f.type === 'email' && port && !(Number.isInteger(Number(port)) && Number(port) > 0 && Number(port) < 65536)) {
    return `port: ${port} is not a port number (1-65535)`;
  }
  return null;
}

/** The form as a `ChannelInput`: empty optional fields left out, secrets as typed or as they came (masked). */
export function formToChannelInput(f: ChannelForm): ChannelInput {
  const config: Record<string, unknown> = { ...f.extra };
  for (const field of fieldsOf(f.type)) {
    if (field.kind === 'headers') {
      const headers: Record<string, string> = {};
      for (const h of f.headers) if (h.name.trim()) headers[h.name.trim()] = h.value;
      config[field.key] = headers;
      continue;
    }
    const raw = f.values[field.key] ?? '';
    const v = field.kind === 'textarea' ? raw : raw.trim();
    if (!v.trim()) {
      // a required field left empty goes as such: the server's 422 names it
      if (field.required) config[field.key] = field.kind === 'list' ? [] : '';
      continue;
    }
    if (field.kind === 'number') config[field.key] = Number(v);
    else if (field.kind === 'list') config[field.key] = v.split(/[\s,;]+/).filter(Boolean);
    else config[field.key] = v;
  }
  const input: ChannelInput = { name: f.name.trim(), enabled: f.enabled, type: f.type, config };
  if (f.id) input.id = f.id;
  return input;
}

/** A stored channel as it goes back in a PUT of the whole list (masked secrets unchanged). */
export function channelInputOf(c: ChannelRecord): ChannelInput {
  return { id: c.id, name: c.name, enabled: c.enabled, type: c.type, config: c.config };
}

/** "Delivered (HTTP 200)", "Not delivered: HTTP 500: …". */
export function testResultText(r: { delivered: boolean; status: number | null; error: string | null }): string {
  const status = r.status !== null ? `HTTP ${r.status}` : null;
  if (r.delivered) return `Delivered${status ? ` (${status})` : ''}`;
  return `Not delivered: ${[status, r.error].filter(Boolean).join(': ') || 'no answer'}`;
}
