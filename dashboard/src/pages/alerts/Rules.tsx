// The Rules tab: every rule of the tenant with its condition, severity and
// state; admins create, edit, enable/disable and delete them.
import { useState } from 'preact/hooks';
import { ruleInputOf } from '../../alerting/ruleForm';
import type { RuleRecord } from '../../api/types';
import { SeverityTag } from '../../components/Alerts';
import { useCanWrite, useServices } from '../../context';
import { useAsync, type AsyncState, useRowActions } from '../../hooks';
import { RuleEditor } from './RuleEditor';
import { LoadError } from './ui';

export function RulesTab({ rules }: { rules: AsyncState<RuleRecord[]> }) {
  const { api } = useServices();
  const canWrite = useCanWrite();
  // what the editor shows: nothing, a new rule, or a rule by id
  const [editing, setEditing] = useState<null | 'new' | string>(null);
  const channels = useAsync(() => (canWrite ? api.channels() : Promise.resolve([])), [canWrite]);

  const { busy, error, act } = useRowActions(rules.reload);
  const toggle = (r: RuleRecord, enabled: boolean) => void act(r.id, () => api.updateRule(r.id, { ...ruleInputOf(r), enabled }));
  const remove = (r: RuleRecord) => {
    if (!confirm(`Delete rule "${r.name}"? Its active alerts resolve and it stops notifying.`)) return;
    void act(r.id, () => api.deleteRule(r.id));
  };

  const current = editing && editing !== 'new' ? rules.data?.find((r) => r.id === editing) ?? null : null;

  return (
    <div data-testid="rules-tab">
      <div class="section-head">
        <h2>Rules {rules.data ? <span class="muted">({rules.data.length})</span> : null}</h2>
        {canWrite && editing === null ? (
          <button type="button" class="btn btn-primary btn-small" onClick={() => setEditing('new')} data-testid="rule-new">+ New rule</button>
        ) : null}
      </div>
      {!canWrite ? <p class="muted" data-testid="rules-readonly">Only admins can change rules.</p> : null}
      {canWrite && editing !== null && (editing === 'new' || current) ? (
        <RuleEditor
          key={editing}
          rule={current}
          channels={channels.error ? null : channels.data ?? []}
          onSaved={() => {
            setEditing(null);
            rules.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      {error ? <div class="form-error" role="alert" data-testid="rules-error">{error}</div> : null}
      {rules.error ? (
        <LoadError error={rules.error} what="Alert rules" />
      ) : !rules.data ? (
        <div class="empty">Loading rules…</div>
      ) : rules.data.length === 0 ? (
        <div class="empty">No rules yet.{canWrite ? ' Create one with “New rule”.' : ''}</div>
      ) : (
        <ul class="item-list" data-testid="rules-list">
          {rules.data.map((r) => (
            <li key={r.id} class={`item${r.enabled ? '' : ' is-dim'}`} data-testid={`rule-row-${r.id}`} data-enabled={r.enabled}>
              <div class="item-head">
                <SeverityTag severity={r.severity} />
                <strong class="item-title">{r.name}</strong>
                {r.builtin ? <span class="pill">built-in</span> : null}
                <span class="pill">{r.scope}</span>
                {r.enabled ? null : <span class="pill">disabled</span>}
              </div>
              <code class="item-code">{r.condition}</code>
              <div class="muted item-sub">
                for {r.duration}
                {r.clear !== undefined ? <> · clears at <code>{String(r.clear)}</code></> : null}
                {r.repeat_interval ? <> · repeats every {r.repeat_interval}</> : null}
                {' · '}{r.channels.length ? `${r.channels.length} channel${r.channels.length === 1 ? '' : 's'}` : 'all channels'}
                {r.description ? <> · {r.description}</> : null}
              </div>
              {canWrite ? (
                <div class="row-actions item-actions">
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={r.enabled}
                      disabled={busy === r.id}
                      onChange={(e) => toggle(r, (e.currentTarget as HTMLInputElement).checked)}
                      data-testid={`rule-enabled-${r.id}`}
                    />
                    Enabled
                  </label>
                  <button type="button" class="btn btn-small" onClick={() => setEditing(r.id)} data-testid={`rule-edit-${r.id}`}>Edit</button>
                  {r.builtin ? null : (
                    <button type="button" class="btn btn-small btn-danger" disabled={busy === r.id} onClick={() => remove(r)} data-testid={`rule-delete-${r.id}`}>
                      Delete
                    </button>
                  )}
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
