// Settings → Notification channels (its own chunk, loaded with the
// section): list, add, edit, enable/disable, delete and test the tenant's
// channels. `PUT /api/config/notifications` replaces the whole list, so
// every change sends every channel, the untouched ones exactly as they came
// (masked secrets included: the server keeps the stored secret for a
// masked value sent back).
import { useState } from 'preact/hooks';
import {
  CHANNEL_FIELDS, CHANNEL_LABELS, channelInputOf, channelToForm, formToChannelInput, isChannelType, isMasked, newChannelForm,
  testResultText, validateChannelForm, withType, type ChannelForm, type FieldSpec,
} from '../alerting/channelForm';
import { CHANNEL_TYPES, type ChannelInput, type ChannelRecord, type ChannelTestResult } from '../api/types';
import { useCanWrite, useServices } from '../context';
import { useAsync } from '../hooks';
import { errorText, Field, LoadError, valueOf } from './alerts/ui';

function FieldInput({ spec, form, set }: { spec: FieldSpec; form: ChannelForm; set: (key: string, v: string) => void }) {
  const value = form.values[spec.key] ?? '';
  const testid = `channel-field-${spec.key}`;
  const onInput = (e: Event) => set(spec.key, valueOf(e));
  switch (spec.kind) {
    case 'select':
      return (
        <select class="input select" value={value} onChange={onInput} data-testid={testid}>
          {spec.options!.map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
      );
    case 'textarea':
      return <textarea class="input mono" rows={3} value={value} placeholder={spec.placeholder} onInput={onInput} data-testid={testid} />;
    case 'number':
      return <input class="input" type="number" min={1} max={65535} value={value} placeholder={spec.placeholder} onInput={onInput} data-testid={testid} />;
    case 'secret':
      // a masked value is shown as it came (sent back unchanged it keeps the secret); a typed one is hidden
      return (
        <input
          class="input mono"
          type={value === '' || isMasked(value) ? 'text' : 'password'}
          autoComplete="off"
          spellcheck={false}
          value={value}
          placeholder={spec.placeholder}
          onInput={onInput}
          data-testid={testid}
          data-masked={isMasked(value)}
        />
      );
    default:
      return <input class="input" value={value} placeholder={spec.placeholder} autoComplete="off" onInput={onInput} data-testid={testid} />;
  }
}

function HeadersInput({ form, setForm }: { form: ChannelForm; setForm: (f: ChannelForm) => void }) {
  const rows = form.headers;
  const update = (i: number, key: 'name' | 'value', v: string) =>
    setForm({ ...form, headers: rows.map((r, j) => (j === i ? { ...r, [key]: v } : r)) });
  return (
    <div class="headers" data-testid="channel-field-headers">
      {rows.map((r, i) => (
        <div class="header-row" key={i}>
          <input class="input" value={r.name} placeholder="Header" aria-label="Header name" onInput={(e) => update(i, 'name', valueOf(e))} data-testid={`channel-header-name-${i}`} />
          <input
            class="input mono"
            type={r.value === '' || isMasked(r.value) ? 'text' : 'password'}
            autoComplete="off"
            value={r.value}
            placeholder="Value"
            aria-label="Header value"
            onInput={(e) => update(i, 'value', valueOf(e))}
            data-testid={`channel-header-value-${i}`}
          />
          <button type="button" class="btn btn-small btn-ghost" aria-label="Remove header" onClick={() => setForm({ ...form, headers: rows.filter((_, j) => j !== i) })} data-testid={`channel-header-remove-${i}`}>✕</button>
        </div>
      ))}
      <button type="button" class="btn btn-small" onClick={() => setForm({ ...form, headers: [...rows, { name: '', value: '' }] })} data-testid="channel-header-add">
        + Header
      </button>
    </div>
  );
}

function ChannelEditor({ initial, onSave, onCancel }: {
  initial: ChannelForm;
  onSave: (input: ChannelInput) => Promise<void>;
  onCancel: () => void;
}) {
  const [form, setForm] = useState<ChannelForm>(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const fields = isChannelType(form.type) ? CHANNEL_FIELDS[form.type] : [];
  const setValue = (key: string, v: string) => setForm((f) => ({ ...f, values: { ...f.values, [key]: v } }));

  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = validateChannelForm(form);
    setError(problem);
    if (problem) return;
    setBusy(true);
    try {
      await onSave(formToChannelInput(form));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const masked = fields.some((f) => f.kind === 'secret' && isMasked(form.values[f.key] ?? '')) || form.headers.some((h) => isMasked(h.value));
  return (
    <form class="card editor" onSubmit={submit} noValidate data-testid="channel-form" data-type={form.type}>
      <h3>{initial.id ? `Edit channel "${initial.name}"` : 'New channel'}</h3>
      <div class="form-grid">
        <Field label="Name">
          <input class="input" value={form.name} placeholder="e.g. Ops Slack" onInput={(e) => setForm({ ...form, name: valueOf(e) })} data-testid="channel-name" />
        </Field>
        <Field label="Type">
          <select
            class="input select"
            value={form.type}
            disabled={!!initial.id}
            onChange={(e) => {
              const t = valueOf(e);
              if (isChannelType(t)) setForm(withType(form, t));
            }}
            data-testid="channel-type"
          >
            {CHANNEL_TYPES.map((t) => <option key={t} value={t}>{CHANNEL_LABELS[t]}</option>)}
            {isChannelType(form.type) ? null : <option value={form.type}>{form.type}</option>}
          </select>
        </Field>
        {fields.map((f) =>
          f.kind === 'headers' ? (
            <div class="form-field is-wide" key={f.key}>
              <span class="form-label">{f.label}</span>
              <HeadersInput form={form} setForm={setForm} />
              {f.help ? <span class="form-help">{f.help}</span> : null}
            </div>
          ) : (
            <Field key={`${form.type}/${f.key}`} label={`${f.label}${f.required ? '' : ' (optional)'}`} help={f.help} wide={f.kind === 'textarea'}>
              <FieldInput spec={f} form={form} set={setValue} />
            </Field>
          ),
        )}
        <label class="check is-wide">
          <input type="checkbox" checked={form.enabled} onChange={(e) => setForm({ ...form, enabled: (e.currentTarget as HTMLInputElement).checked })} data-testid="channel-enabled-input" />
          Enabled
        </label>
      </div>
      {masked ? <p class="muted" data-testid="channel-masked-note">Values shown as ••••… are stored secrets: leave them as they are to keep them, or replace them.</p> : null}
      {error ? <div class="form-error" role="alert" data-testid="channel-error">{error}</div> : null}
      <div class="row-actions">
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="channel-save">{busy ? 'Saving…' : initial.id ? 'Save channel' : 'Add channel'}</button>
        <button type="button" class="btn btn-ghost" onClick={onCancel} data-testid="channel-cancel">Cancel</button>
      </div>
    </form>
  );
}

type TestState = { busy: true } | { busy: false; result: ChannelTestResult } | { busy: false; error: string };

export function Channels() {
  const { api } = useServices();
  const canWrite = useCanWrite();
  const list = useAsync(() => api.channels(), []);
  const [items, setItems] = useState<ChannelRecord[] | null>(null);
  const [editing, setEditing] = useState<ChannelForm | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tests, setTests] = useState<Record<string, TestState>>({});
  const channels = items ?? list.data;

  /** PUTs the whole list with `change` applied to it. */
  const put = async (change: (inputs: ChannelInput[]) => ChannelInput[]) => {
    const answer = await api.putChannels(change((channels ?? []).map(channelInputOf)));
    setItems(answer);
  };
  const act = async (id: string, change: (inputs: ChannelInput[]) => ChannelInput[]) => {
    setBusy(id);
    setError(null);
    try {
      await put(change);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  };
  const save = async (input: ChannelInput) => {
    await put((inputs) => (input.id ? inputs.map((c) => (c.id === input.id ? input : c)) : [...inputs, input]));
    setEditing(null);
  };
  const toggle = (c: ChannelRecord, enabled: boolean) =>
    void act(c.id, (inputs) => inputs.map((x) => (x.id === c.id ? { ...x, enabled } : x)));
  const remove = (c: ChannelRecord) => {
    if (!confirm(`Delete channel "${c.name}"? Rules that name it stop notifying it.`)) return;
    void act(c.id, (inputs) => inputs.filter((x) => x.id !== c.id));
  };
  const test = async (c: ChannelRecord) => {
    setTests((t) => ({ ...t, [c.id]: { busy: true } }));
    try {
      const result = await api.testChannel(c.id);
      setTests((t) => ({ ...t, [c.id]: { busy: false, result } }));
    } catch (e) {
      setTests((t) => ({ ...t, [c.id]: { busy: false, error: errorText(e) } }));
    }
  };

  return (
    <section class="section" data-testid="channels">
      <div class="section-head">
        <h2>Notification channels</h2>
        {canWrite && !editing ? (
          <button type="button" class="btn btn-primary btn-small" onClick={() => setEditing(newChannelForm())} data-testid="channel-new">+ Add channel</button>
        ) : null}
      </div>
      <p class="muted">Where alert notifications go. A rule with no channel picked notifies every enabled channel.</p>
      {!canWrite ? <p class="muted" data-testid="channels-readonly">Only admins can change or test channels.</p> : null}
      {canWrite && editing ? <ChannelEditor key={editing.id ?? 'new'} initial={editing} onSave={save} onCancel={() => setEditing(null)} /> : null}
      {error ? <div class="form-error" role="alert" data-testid="channels-error">{error}</div> : null}
      {list.error && !items ? (
        <LoadError error={list.error} what="Notification channels" />
      ) : !channels ? (
        <div class="empty">Loading channels…</div>
      ) : channels.length === 0 ? (
        <div class="empty">No notification channels yet.</div>
      ) : (
        <ul class="item-list" data-testid="channels-list">
          {channels.map((c) => {
            const t = tests[c.id];
            return (
              <li key={c.id} class={`item${c.enabled ? '' : ' is-dim'}`} data-testid={`channel-row-${c.id}`} data-enabled={c.enabled}>
                <div class="item-head">
                  <strong class="item-title">{c.name}</strong>
                  <span class="pill">{isChannelType(c.type) ? CHANNEL_LABELS[c.type] : c.type}</span>
                  {c.enabled ? null : <span class="pill">disabled</span>}
                </div>
                {t ? (
                  <div
                    class={`item-sub ${'result' in t ? (t.result.delivered ? 'ok-text' : 'err-text') : 'error' in t ? 'err-text' : 'muted'}`}
                    role="status"
                    data-testid={`channel-test-result-${c.id}`}
                    data-delivered={'result' in t ? t.result.delivered : undefined}
                  >
                    {t.busy ? 'Sending a test message…' : 'result' in t ? testResultText(t.result) : `Test failed: ${t.error}`}
                  </div>
                ) : null}
                {canWrite ? (
                  <div class="row-actions item-actions">
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={c.enabled}
                        disabled={busy === c.id}
                        onChange={(e) => toggle(c, (e.currentTarget as HTMLInputElement).checked)}
                        data-testid={`channel-enabled-${c.id}`}
                      />
                      Enabled
                    </label>
                    <button type="button" class="btn btn-small" disabled={!!t?.busy} onClick={() => void test(c)} data-testid={`channel-test-${c.id}`}>
                      Test
                    </button>
                    <button type="button" class="btn btn-small" onClick={() => setEditing(channelToForm(c))} data-testid={`channel-edit-${c.id}`}>Edit</button>
                    <button type="button" class="btn btn-small btn-danger" disabled={busy === c.id} onClick={() => remove(c)} data-testid={`channel-delete-${c.id}`}>
                      Delete
                    </button>
                  </div>
                ) : null}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
