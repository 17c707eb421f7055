// The Maintenance tab: recurring windows (a cron schedule with seconds, in
// UTC, and a duration) during which a host's alerts — every host's when no
// host is set — are recorded but not notified. Shows whether each window is
// open now and when it next starts; admins add, edit, enable/disable and
// delete them.
import { useState } from 'preact/hooks';
import { maintenanceInput, maintenanceInputOf, maintenanceToForm, newMaintenanceForm, type MaintenanceForm } from '../../alerting/silence';
import type { MaintenanceRecord } from '../../api/types';
import { useCanWrite, useServices } from '../../context';
import { DASH, formatDateTime } from '../../format';
import { useAsync, useRowActions } from '../../hooks';
import { errorText, Field, HostSelect, LoadError, valueOf } from './ui';

function MaintenanceEditor({ existing, onSaved, onCancel }: {
  /** null: a new window. */
  existing: MaintenanceRecord | null;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const { api, store } = useServices();
  const [form, setForm] = useState<MaintenanceForm>(() => (existing ? maintenanceToForm(existing) : newMaintenanceForm()));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = <K extends keyof MaintenanceForm>(key: K, value: MaintenanceForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  const save = async (e: Event) => {
    e.preventDefault();
    const input = maintenanceInput(form);
    if ('error' in input) {
      setError(input.error);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (existing) await api.updateMaintenance(existing.id, input);
      else await api.createMaintenance(input);
      onSaved();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card editor" onSubmit={save} noValidate data-testid="maint-form">
      <h3>{existing ? `Edit "${existing.name}"` : 'New maintenance window'}</h3>
      <div class="form-grid">
        <Field label="Name">
          <input class="input" value={form.name} placeholder="e.g. Sunday backups" onInput={(e) => set('name', valueOf(e))} data-testid="maint-name" />
        </Field>
        <Field label="Host">
          <HostSelect store={store} value={form.host_id} onChange={(v) => set('host_id', v)} anyLabel="all hosts" testid="maint-host" label="Host" />
        </Field>
        <Field label="Schedule (UTC)" help={<>cron with seconds: <code>sec min hour day month weekday</code>; <code>0 0 2 * * Sun</code> = Sundays 02:00 UTC</>}>
          <input class="input mono" value={form.schedule} spellcheck={false} onInput={(e) => set('schedule', valueOf(e))} data-testid="maint-schedule" />
        </Field>
        <Field label="Duration" help="how long each window lasts: 30m, 2h">
          <input class="input" value={form.duration} onInput={(e) => set('duration', valueOf(e))} data-testid="maint-duration" />
        </Field>
        <Field label="Comment" wide>
          <input class="input" value={form.comment} onInput={(e) => set('comment', valueOf(e))} data-testid="maint-comment" />
        </Field>
        <label class="check is-wide">
          <input type="checkbox" checked={form.enabled} onChange={(e) => set('enabled', (e.currentTarget as HTMLInputElement).checked)} data-testid="maint-enabled" />
          Enabled
        </label>
      </div>
      {error ? <div class="form-error" role="alert" data-testid="maint-error">{error}</div> : null}
      <div class="row-actions">
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="maint-save">{busy ? 'Saving…' : existing ? 'Save window' : 'Create window'}</button>
        <button type="button" class="btn btn-ghost" onClick={onCancel} data-testid="maint-cancel">Cancel</button>
      </div>
    </form>
  );
}

export function MaintenanceTab() {
  const { api, store } = useServices();
  const canWrite = useCanWrite();
  const list = useAsync(() => api.maintenance(), []);
  const [editing, setEditing] = useState<null | 'new' | string>(null);

  const { busy, error, act } = useRowActions(list.reload);
  const toggle = (m: MaintenanceRecord, enabled: boolean) => void act(m.id, () => api.updateMaintenance(m.id, { ...maintenanceInputOf(m), enabled }));
  const remove = (m: MaintenanceRecord) => {
    if (!confirm(`Delete maintenance window "${m.name}"?`)) return;
    void act(m.id, () => api.deleteMaintenance(m.id));
  };
  const current = editing && editing !== 'new' ? list.data?.find((m) => m.id === editing) ?? null : null;

  return (
    <div data-testid="maintenance-tab">
      <div class="section-head">
        <h2>Maintenance windows</h2>
        {canWrite && editing === null ? (
          <button type="button" class="btn btn-primary btn-small" onClick={() => setEditing('new')} data-testid="maint-new">+ New window</button>
        ) : null}
      </div>
      {!canWrite ? <p class="muted" data-testid="maintenance-readonly">Only admins can change maintenance windows.</p> : null}
      {canWrite && editing !== null && (editing === 'new' || current) ? (
        <MaintenanceEditor
          key={editing}
          existing={current}
          onSaved={() => {
            setEditing(null);
            list.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      {error ? <div class="form-error" role="alert" data-testid="maintenance-error">{error}</div> : null}
      {list.error ? (
        <LoadError error={list.error} what="Maintenance windows" />
      ) : !list.data ? (
        <div class="empty">Loading maintenance windows…</div>
      ) : list.data.length === 0 ? (
        <div class="empty">No maintenance windows.</div>
      ) : (
        <ul class="item-list" data-testid="maintenance-list">
          {list.data.map((m) => (
            <li key={m.id} class={`item${m.enabled ? '' : ' is-dim'}`} data-testid={`maint-row-${m.id}`} data-active={m.active_now}>
              <div class="item-head">
                {m.active_now ? <span class="pill pill-active" data-testid={`maint-active-${m.id}`}>active now</span> : null}
                <strong class="item-title">{m.name}</strong>
                <span class="muted">{m.host_id ? store.get(m.host_id)?.name ?? m.host_id : 'all hosts'}</span>
                {m.enabled ? null : <span class="pill">disabled</span>}
              </div>
              <div class="item-sub">
                <code>{m.schedule}</code> <span class="muted">UTC, for {m.duration}</span>
              </div>
              <div class="muted item-sub" data-testid={`maint-next-${m.id}`}>
                next start: {m.next_start ? formatDateTime(m.next_start) : DASH}
                {m.comment ? ` · ${m.comment}` : ''}
              </div>
              {canWrite ? (
                <div class="row-actions item-actions">
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={m.enabled}
                      disabled={busy === m.id}
                      onChange={(e) => toggle(m, (e.currentTarget as HTMLInputElement).checked)}
                      data-testid={`maint-toggle-${m.id}`}
                    />
                    Enabled
                  </label>
                  <button type="button" class="btn btn-small" onClick={() => setEditing(m.id)} data-testid={`maint-edit-${m.id}`}>Edit</button>
                  <button type="button" class="btn btn-small btn-danger" disabled={busy === m.id} onClick={() => remove(m)} data-testid={`maint-delete-${m.id}`}>
                    Delete
                  </button>
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
