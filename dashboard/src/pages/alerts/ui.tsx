// Form pieces of the alerting screens (Alerts page, notification channels):
// labelled fields, the caret under a server-reported column, host and
// severity pickers.
import type { ComponentChildren } from 'preact';
import { ApiError } from '../../api/client';
import { caretAt, type FieldError } from '../../alerting/conditionError';
import type { Severity } from '../../api/types';
import type { HostsStore } from '../../live/store';

export const SEVERITIES: readonly Severity[] = ['critical', 'warning', 'info'];

/** A labelled control with optional help below it. */
export function Field({ label, children, help, wide }: { label: string; children: ComponentChildren; help?: ComponentChildren; wide?: boolean }) {
  return (
    <label class={`form-field${wide ? ' is-wide' : ''}`}>
      <span class="form-label">{label}</span>
      {children}
      {help ? <span class="form-help">{help}</span> : null}
    </label>
  );
}

/** Value of an input/select/textarea event. */
export function valueOf(e: Event): string {
  return (e.currentTarget as HTMLInputElement).value;
}

/**
 * The source line with a caret under the column the server named, and its
 * message: `column 18: expected a number … but found end of input`.
 */
export function CaretError({ source, error, testid }: { source: string; error: FieldError; testid: string }) {
  const caret = error.column !== null ? caretAt(source, error.line, error.column) : null;
  return (
    <div class="caret-error" role="alert">
      {caret ? (
        <pre class="caret-box" data-testid={`${testid}-caret`} data-column={error.column}>
          {caret.text}
          {'\n'}
          <span class="caret">{caret.pad}^</span>
        </pre>
      ) : null}
      <div class="inline-error" data-testid={`${testid}-error`}>
        {error.column !== null ? `${error.line !== null ? `line ${error.line}, ` : ''}column ${error.column}: ` : ''}
        {error.text}
      </div>
    </div>
  );
}

/** Every host of the store by name, with a first "any"/"all" option. */
export function HostSelect({ store, value, onChange, anyLabel, testid, label }: {
  store: HostsStore; value: string; onChange: (id: string) => void; anyLabel: string; testid: string; label: string;
}) {
  const hosts = [...store.all()].sort((a, b) => a.name.localeCompare(b.name));
  const known = !value || hosts.some((h) => h.id === value);
  return (
    <select class="input select" value={value} onChange={(e) => onChange(valueOf(e))} aria-label={label} data-testid={testid}>
      <option value="">{anyLabel}</option>
      {known ? null : <option value={value}>{value}</option>}
      {hosts.map((h) => <option key={h.id} value={h.id}>{h.name}</option>)}
    </select>
  );
}

export function SeveritySelect({ value, onChange, anyLabel, testid, label }: {
  value: string; onChange: (v: '' | Severity) => void; anyLabel?: string; testid: string; label: string;
}) {
  return (
    <select
      class="input select"
      value={value}
      onChange={(e) => {
        const v = valueOf(e);
        onChange(v === 'info' || v === 'warning' || v === 'critical' ? v : '');
      }}
      aria-label={label}
      data-testid={testid}
    >
      {anyLabel !== undefined ? <option value="">{anyLabel}</option> : null}
      {SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}
    </select>
  );
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A list that failed to load: "not available" when the server has no such route yet (404), else why. */
export function LoadError({ error, what }: { error: Error; what: string }) {
  return error instanceof ApiError && error.status === 404 ? (
    <div class="empty" data-testid="not-available">{what} are not available on this server yet.</div>
  ) : (
    <div class="form-error" role="alert">{error.message}</div>
  );
}
