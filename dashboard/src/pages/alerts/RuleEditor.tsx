// Create or edit one alert rule. The condition (with clear and message) is
// checked by the server as you type (`POST /api/alerts/rules/validate`,
// 300 ms after the last keystroke; older answers are ignored) and a 422 puts
// a caret under the column it names. Preview asks which instances would
// fire now.
import { useEffect, useRef, useState } from 'preact/hooks';
import { parseFieldError, type FieldError } from '../../alerting/conditionError';
import { checkBody, emptyRuleForm, formToInput, ruleToForm, validateRuleForm, type RuleForm } from '../../alerting/ruleForm';
import { ApiError } from '../../api/client';
import type { ChannelRecord, RulePreview, RuleRecord } from '../../api/types';
import { useServices } from '../../context';
import { DASH, formatDateTime } from '../../format';
import { CaretError, errorText, Field, SeveritySelect, valueOf } from './ui';

/** Wait after the last change before asking the server to check the condition. */
export const VALIDATE_DEBOUNCE_MS = 300;

const SCOPE_TEXT: Record<string, string> = {
  host: 'one alert per host', mount: 'one alert per mount', container: 'one alert per container', service: 'one alert per service',
};

type Check =
  | { kind: 'idle' }
  | { kind: 'checking' }
  | { kind: 'ok'; scope: string }
  | { kind: 'invalid'; error: FieldError }
  | { kind: 'failed'; message: string };

/** A 422's message as a field error; other errors as null. */
function fieldErrorOf(e: unknown): FieldError | null {
  return e instanceof ApiError && e.status === 422 ? parseFieldError(e.message) : null;
}

export function RuleEditor({ rule, channels, onSaved, onCancel }: {
  /** null: a new rule. */
  rule: RuleRecord | null;
  /** The tenant's channels, or null when they could not be listed. */
  channels: ChannelRecord[] | null;
  onSaved: (r: RuleRecord) => void;
  onCancel: () => void;
}) {
  const { api } = useServices();
  const [form, setForm] = useState<RuleForm>(() => (rule ? ruleToForm(rule) : emptyRuleForm()));
  const [check, setCheck] = useState<Check>({ kind: 'idle' });
  const [saveError, setSaveError] = useState<string | FieldError | null>(null);
  const [busy, setBusy] = useState(false);
  const [preview, setPreview] = useState<RulePreview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const checkSeq = useRef(0);
  const builtin = !!rule?.builtin;

  const set = <K extends keyof RuleForm>(key: K, value: RuleForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  // server-side check of condition, clear and message, debounced
  const body = checkBody(form);
  const bodyKey = JSON.stringify(body);
  useEffect(() => {
    const seq = ++checkSeq.current;
    // a field error from the last save is about text that changed
    setSaveError((e) => (typeof e === 'string' ? e : null));
    if (builtin || !body.condition) {
      setCheck({ kind: 'idle' });
      return;
    }
    setCheck((c) => (c.kind === 'invalid' ? c : { kind: 'checking' }));
    const timer = setTimeout(() => {
      api.validateRule(body).then(
        (r) => seq === checkSeq.current && setCheck({ kind: 'ok', scope: r.scope }),
        (e: unknown) => {
          if (seq !== checkSeq.current) return;
          const fe = fieldErrorOf(e);
          setCheck(fe ? { kind: 'invalid', error: fe } : { kind: 'failed', message: errorText(e) });
        },
      );
    }, VALIDATE_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [bodyKey, builtin]);

  const invalid = check.kind === 'invalid' ? check.error : null;
  const errorFor = (field: string): FieldError | null => {
    if (invalid && invalid.field === field) return invalid;
    if (saveError && typeof saveError !== 'string' && saveError.field === field) return saveError;
    return null;
  };
  const conditionError = errorFor('condition');
  const clearError = errorFor('clear');
  const messageError = errorFor('message');
  const otherCheckError = invalid && !['condition', 'clear', 'message'].includes(invalid.field ?? '') ? invalid : null;

  const save = async (e: Event) => {
    e.preventDefault();
    const problem = validateRuleForm(form);
    if (problem) {
      setSaveError(problem);
      return;
    }
    setBusy(true);
    setSaveError(null);
    try {
      const input = formToInput(form);
      onSaved(rule ? await api.updateRule(rule.id, input) : await api.createRule(input));
    } catch (err) {
      const fe = fieldErrorOf(err);
      setSaveError(fe && ['condition', 'clear', 'message'].includes(fe.field ?? '') ? fe : errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const runPreview = async () => {
    setPreviewing(true);
    setPreviewError(null);
    try {
      const { condition, clear } = checkBody(form);
      setPreview(await api.previewRule(clear === undefined ? { condition } : { condition, clear }));
    } catch (err) {
      const fe = fieldErrorOf(err);
      if (fe && fe.field) setCheck({ kind: 'invalid', error: fe });
      setPreview(null);
      setPreviewError(fe && fe.field ? 'fix the condition first' : errorText(err));
    } finally {
      setPreviewing(false);
    }
  };

  const toggleChannel = (id: string, on: boolean) =>
    set('channels', on ? [...form.channels, id] : form.channels.filter((c) => c !== id));

  return (
    <form class="card editor" onSubmit={save} noValidate data-testid="rule-editor">
      <h3>{rule ? `Edit rule "${rule.name}"` : 'New rule'}{builtin ? <span class="pill"> built-in</span> : null}</h3>
      <div class="form-grid">
        <Field label="Name">
          <input class="input" value={form.name} maxLength={200} onInput={(e) => set('name', valueOf(e))} data-testid="rule-name" />
        </Field>
        <Field label="Severity">
          <SeveritySelect value={form.severity} onChange={(v) => v && set('severity', v)} testid="rule-severity" label="Severity" />
        </Field>
        <Field label="Description" wide>
          <input class="input" value={form.description} onInput={(e) => set('description', valueOf(e))} data-testid="rule-description" />
        </Field>
        <Field
          label="Condition"
          wide
          help={builtin ? 'Built-in rule: driven by host events; its condition cannot be changed.' : conditionError ? undefined : (
            <span data-testid="rule-condition-status" data-state={check.kind}>
              {check.kind === 'checking' ? 'checking…'
                : check.kind === 'ok' ? <span class="ok-text">✓ valid — {SCOPE_TEXT[check.scope] ?? check.scope}</span>
                : check.kind === 'failed' ? `could not check the condition: ${check.message}`
                : <>e.g. <code>host.cpu.percent &gt; 80</code></>}
            </span>
          )}
        >
          <textarea
            class={`input mono code-input${conditionError ? ' is-invalid' : ''}`}
            rows={2}
            value={form.condition}
            readOnly={builtin}
            spellcheck={false}
            autoComplete="off"
            onInput={(e) => set('condition', valueOf(e))}
            aria-invalid={conditionError ? true : undefined}
            data-testid="rule-condition"
          />
        </Field>
        {conditionError ? <div class="is-wide"><CaretError source={form.condition} error={conditionError} testid="rule-condition" /></div> : null}
        <Field label="For (duration)" help="how long it must hold: 30s, 5m, 1h; 0s fires at once">
          <input class="input" value={form.duration} onInput={(e) => set('duration', valueOf(e))} data-testid="rule-duration" />
        </Field>
        <Field label="Repeat every" help="while firing and not acknowledged; empty: 4h, 0s: never">
          <input class="input" value={form.repeat_interval} placeholder="4h" onInput={(e) => set('repeat_interval', valueOf(e))} data-testid="rule-repeat" />
        </Field>
        <Field label="Clear when" wide help="optional: a threshold (e.g. 70) or a condition that must hold to resolve">
          <input
            class={`input mono${clearError ? ' is-invalid' : ''}`}
            value={form.clear}
            spellcheck={false}
            onInput={(e) => set('clear', valueOf(e))}
            data-testid="rule-clear"
          />
        </Field>
        {clearError ? <div class="is-wide"><CaretError source={form.clear} error={clearError} testid="rule-clear" /></div> : null}
        <Field label="Message" wide help="the notification's text (a handlebars template)">
          <textarea
            class={`input mono${messageError ? ' is-invalid' : ''}`}
            rows={2}
            value={form.message}
            onInput={(e) => set('message', valueOf(e))}
            data-testid="rule-message"
          />
        </Field>
        {messageError ? <div class="is-wide"><CaretError source={form.message} error={messageError} testid="rule-message" /></div> : null}
        <fieldset class="form-field is-wide channels-pick" data-testid="rule-channels">
          <legend class="form-label">Channels</legend>
          {channels === null ? (
            <span class="form-help">The channels could not be listed; with none picked the rule notifies every channel.</span>
          ) : channels.length === 0 ? (
            <span class="form-help">No channels yet: add them in Settings → Notification channels.</span>
          ) : (
            <>
              <div class="check-list">
                {channels.map((c) => (
                  <label key={c.id} class="check">
                    <input
                      type="checkbox"
                      checked={form.channels.includes(c.id)}
                      onChange={(e) => toggleChannel(c.id, (e.currentTarget as HTMLInputElement).checked)}
                      data-testid={`rule-channel-${c.id}`}
                    />
                    {c.name} <span class="muted">({c.type}{c.enabled ? '' : ', disabled'})</span>
                  </label>
                ))}
              </div>
              <span class="form-help" data-testid="rule-channels-summary">
                {form.channels.length === 0 ? 'None picked: every enabled channel.' : `${form.channels.length} picked.`}
              </span>
            </>
          )}
        </fieldset>
        <label class="check is-wide">
          <input type="checkbox" checked={form.enabled} onChange={(e) => set('enabled', (e.currentTarget as HTMLInputElement).checked)} data-testid="rule-enabled" />
          Enabled
        </label>
      </div>
      {otherCheckError ? <div class="form-error" role="alert" data-testid="rule-check-error">{otherCheckError.field}: {otherCheckError.text}</div> : null}
      {typeof saveError === 'string' ? <div class="form-error" role="alert" data-testid="rule-error">{saveError}</div> : null}
      <div class="row-actions">
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="rule-save">{busy ? 'Saving…' : rule ? 'Save rule' : 'Create rule'}</button>
        <button type="button" class="btn" disabled={previewing || !form.condition.trim()} onClick={runPreview} data-testid="rule-preview">
          {previewing ? 'Evaluating…' : 'Preview'}
        </button>
        <button type="button" class="btn btn-ghost" onClick={onCancel} data-testid="rule-cancel">Cancel</button>
      </div>
      {previewError ? <div class="form-error" data-testid="rule-preview-error">{previewError}</div> : null}
      {preview ? <PreviewResult preview={preview} /> : null}
    </form>
  );
}

function PreviewResult({ preview }: { preview: RulePreview }) {
  const n = preview.matches.length;
  return (
    <div class="preview" data-testid="rule-preview-result" data-matches={n}>
      <p>
        {n === 0 ? 'Would fire for no instance now' : `Would fire now for ${n} instance${n === 1 ? '' : 's'}`}
        <span class="muted"> ({preview.hosts_evaluated} host{preview.hosts_evaluated === 1 ? '' : 's'} evaluated, scope {preview.scope || DASH})</span>
      </p>
      {n ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Host</th><th>Instance</th><th class="num">Value</th><th>Data from</th></tr></thead>
            <tbody>
              {preview.matches.map((m, i) => (
                <tr key={`${m.host_id}/${m.label ?? ''}`} data-testid={`rule-preview-row-${i}`}>
                  <td>{m.host_name}</td>
                  <td>{m.label ?? DASH}</td>
                  <td class="num">{m.value ?? DASH}</td>
                  <td>{formatDateTime(m.timestamp)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
