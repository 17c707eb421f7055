// The Silences tab: silences mute the notifications of the alerts they
// match (the alerts are still recorded) from their start to their end.
// Admins create them (matcher, start, end with 1 h / 4 h / 1 d presets,
// comment), expire active ones now and delete them.
import { useEffect, useState } from 'preact/hooks';
import {
  matcherText, newSilenceForm, presetEnd, silenceInput, silenceInputOf, silenceState, SILENCE_PRESETS, type SilenceForm,
} from '../../alerting/silence';
import type { RuleRecord, SilenceRecord } from '../../api/types';
import { useCanWrite, useServices } from '../../context';
import { formatDateTime, formatDuration } from '../../format';
import { useAsync, useNow, useRowActions } from '../../hooks';
import { errorText, Field, HostSelect, LoadError, SeveritySelect, valueOf } from './ui';

function SilenceEditor({ initial, rules, onSaved, onCancel }: {
  initial: SilenceForm;
  rules: RuleRecord[];
  onSaved: () => void;
  onCancel: () => void;
}) {
  const { api, store } = useServices();
  const [form, setForm] = useState<SilenceForm>(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = <K extends keyof SilenceForm>(key: K, value: SilenceForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  const save = async (e: Event) => {
    e.preventDefault();
    const input = silenceInput(form);
    if ('error' in input) {
      setError(input.error);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.createSilence(input);
      onSaved();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const knownRule = !form.rule_id || rules.some((r) => r.id === form.rule_id);
  return (
    <form class="card editor" onSubmit={save} noValidate data-testid="silence-form">
      <h3>New silence</h3>
      <p class="muted">Matches the alerts with every field set below; none set: every alert.</p>
      <div class="form-grid">
        <Field label="Rule">
          <select class="input select" value={form.rule_id} onChange={(e) => set('rule_id', valueOf(e))} data-testid="silence-rule">
            <option value="">any rule</option>
            {knownRule ? null : <option value={form.rule_id}>{form.rule_id}</option>}
            {rules.map((r) => <option key={r.id} value={r.id}>{r.name}</option>)}
          </select>
        </Field>
        <Field label="Host">
          <HostSelect store={store} value={form.host_id} onChange={(v) => set('host_id', v)} anyLabel="any host" testid="silence-host" label="Host" />
        </Field>
        <Field label="Severity">
          <SeveritySelect value={form.severity} onChange={(v) => set('severity', v)} anyLabel="any severity" testid="silence-severity" label="Severity" />
        </Field>
        <Field label="Mount">
          <input class="input" value={form.mount} placeholder="any, e.g. /data" onInput={(e) => set('mount', valueOf(e))} data-testid="silence-mount" />
        </Field>
        <Field label="Container">
          <input class="input" value={form.container_name} placeholder="any" onInput={(e) => set('container_name', valueOf(e))} data-testid="silence-container" />
        </Field>
        <Field label="Service">
          <input class="input" value={form.service_name} placeholder="any" onInput={(e) => set('service_name', valueOf(e))} data-testid="silence-service" />
        </Field>
        <Field label="Starts">
          <input type="datetime-local" class="input" value={form.starts_at} onInput={(e) => set('starts_at', valueOf(e))} data-testid="silence-start" />
        </Field>
        <Field label="Ends">
          <input type="datetime-local" class="input" value={form.ends_at} onInput={(e) => set('ends_at', valueOf(e))} data-testid="silence-end" />
        </Field>
        <div class="form-field">
          <span class="form-label">Quick end</span>
          <div class="segmented" role="group" aria-label="Silence for">
            {SILENCE_PRESETS.map((p) => (
              <button
                type="button"
                key={p.key}
                class="seg"
                onClick={() => set('ends_at', presetEnd(form.starts_at, p.key))}
                data-testid={`silence-preset-${p.key}`}
              >
                {p.label}
              </button>
            ))}
          </div>
        </div>
        <Field label="Comment" wide>
          <input class="input" value={form.comment} placeholder="why, e.g. disk migration on IN3" onInput={(e) => set('comment', valueOf(e))} data-testid="silence-comment" />
        </Field>
      </div>
      {error ? <div class="form-error" role="alert" data-testid="silence-error">{error}</div> : null}
      <div class="row-actions">
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="silence-save">{busy ? 'Saving…' : 'Create silence'}</button>
        <button type="button" class="btn btn-ghost" onClick={onCancel} data-testid="silence-cancel">Cancel</button>
      </div>
    </form>
  );
}

export function SilencesTab({ rules, draft, onDraftUsed }: {
  rules: RuleRecord[];
  /** A form to open with (from an alert's "Silence…"). */
  draft: SilenceForm | null;
  onDraftUsed: () => void;
}) {
  const { api, store } = useServices();
  const canWrite = useCanWrite();
  const now = useNow();
  const list = useAsync(() => api.silences(), []);
  const [editing, setEditing] = useState<SilenceForm | null>(null);
  const [showExpired, setShowExpired] = useState(false);

  useEffect(() => {
    if (draft) {
      setEditing(draft);
      onDraftUsed();
    }
  }, [draft]);

  const { busy, error, act } = useRowActions(list.reload);
  const expire = (s: SilenceRecord) => void act(s.id, () => api.updateSilence(s.id, { ...silenceInputOf(s), ends_at: new Date().toISOString() }));
  const remove = (s: SilenceRecord) => {
    if (!confirm('Delete this silence? The alerts it matches are notified again.')) return;
    void act(s.id, () => api.deleteSilence(s.id));
  };

  const ruleName = (id: string) => rules.find((r) => r.id === id)?.name ?? id;
  const hostName = (id: string) => store.get(id)?.name ?? id;
  const all = (list.data ?? []).map((s) => ({ s, state: silenceState(s, now) }));
  const expired = all.filter((x) => x.state === 'expired').length;
  const shown = all
    .filter((x) => showExpired || x.state !== 'expired')
    .sort((a, b) => Date.parse(a.s.starts_at) - Date.parse(b.s.starts_at));

  return (
    <div data-testid="silences-tab">
      <div class="section-head">
        <h2>Silences</h2>
        {canWrite && !editing ? (
          <button type="button" class="btn btn-primary btn-small" onClick={() => setEditing(newSilenceForm())} data-testid="silence-new">+ New silence</button>
        ) : null}
      </div>
      {!canWrite ? <p class="muted" data-testid="silences-readonly">Only admins can create or end silences.</p> : null}
      {canWrite && editing ? (
        <SilenceEditor
          initial={editing}
          rules={rules}
          onSaved={() => {
            setEditing(null);
            list.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      {error ? <div class="form-error" role="alert" data-testid="silences-error">{error}</div> : null}
      {list.error ? (
        <LoadError error={list.error} what="Silences" />
      ) : !list.data ? (
        <div class="empty">Loading silences…</div>
      ) : (
        <>
          {shown.length === 0 ? (
            <div class="empty">No active or upcoming silences.</div>
          ) : (
            <ul class="item-list" data-testid="silences-list">
              {shown.map(({ s, state }) => (
                <li key={s.id} class={`item${state === 'expired' ? ' is-dim' : ''}`} data-testid={`silence-row-${s.id}`} data-state={state}>
                  <div class="item-head">
                    <span class={`pill pill-${state}`}>{state}</span>
                    <strong class="item-title">{matcherText(s.match, ruleName, hostName)}</strong>
                  </div>
                  <div class="muted item-sub">
                    {formatDateTime(s.starts_at)} → {formatDateTime(s.ends_at)}
                    {state === 'active' ? ` (ends in ${formatDuration((Date.parse(s.ends_at) - now) / 1000)})` : null}
                    {state === 'upcoming' ? ` (starts in ${formatDuration((Date.parse(s.starts_at) - now) / 1000)})` : null}
                    {s.created_by ? ` · by ${s.created_by}` : null}
                  </div>
                  {s.comment ? <div class="item-sub">{s.comment}</div> : null}
                  {canWrite ? (
                    <div class="row-actions item-actions">
                      {state === 'active' ? (
                        <button type="button" class="btn btn-small" disabled={busy === s.id} onClick={() => expire(s)} data-testid={`silence-expire-${s.id}`}>
                          Expire now
                        </button>
                      ) : null}
                      <button type="button" class="btn btn-small btn-danger" disabled={busy === s.id} onClick={() => remove(s)} data-testid={`silence-delete-${s.id}`}>
                        Delete
                      </button>
                    </div>
                  ) : null}
                </li>
              ))}
            </ul>
          )}
          {expired ? (
            <label class="check muted">
              <input type="checkbox" checked={showExpired} onChange={(e) => setShowExpired((e.currentTarget as HTMLInputElement).checked)} data-testid="silences-show-expired" />
              Show {expired} expired
            </label>
          ) : null}
        </>
      )}
    </div>
  );
}
