// The rule editor's form values and their translation to the REST shapes
// (`RuleInput`, which the server checks with unknown fields refused).
import type { RuleCheckBody, RuleInput, RuleRecord, Severity } from '../api/types';

export interface RuleForm {
  name: string;
  description: string;
  condition: string;
  duration: string;
  severity: Severity;
  /** Channel ids; none: every channel. */
  channels: string[];
  message: string;
  enabled: boolean;
  /** A number (threshold) or a condition; empty: none. */
  clear: string;
  /** Empty: the server's default (4 h). */
  repeat_interval: string;
}

export function emptyRuleForm(): RuleForm {
  return {
    name: '', description: '', condition: '', duration: '5m', severity: 'warning', channels: [], message: '',
    enabled: true, clear: '', repeat_interval: '',
  };
}

export function ruleToForm(r: RuleRecord): RuleForm {
  return {
    name: r.name, description: r.description, condition: r.condition, duration: r.duration, severity: r.severity,
    channels: [...r.channels], message: r.message, enabled: r.enabled,
    clear: r.clear === undefined ? '' : String(r.clear), repeat_interval: r.repeat_interval ?? '',
  };
}

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** `clear` as sent: a number when the text is one, else the condition; undefined when empty. */
export function parseClear(text: string): number | string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  return NUMBER.test(t) ? Number(t) : t;
}

export function formToInput(f: RuleForm): RuleInput {
  const input: RuleInput = {
    name: f.name.trim(), description: f.description.trim(), condition: f.condition.trim(), duration: f.duration.trim(),
    severity: f.severity, channels: [...f.channels], message: f.message, enabled: f.enabled,
  };
  const clear = parseClear(f.clear);
  if (clear !== undefined) input.clear = clear;
  if (f.repeat_interval.trim()) input.repeat_interval = f.repeat_interval.trim();
  return input;
}

/** A stored rule as a `RuleInput` (only the input fields: the server refuses others). */
export function ruleInputOf(r: RuleRecord): RuleInput {
  const input: RuleInput = {
    name: r.name, description: r.description, condition: r.condition, duration: r.duration, severity: r.severity,
    channels: [...r.channels], message: r.message, enabled: r.enabled,
  };
  if (r.clear !== undefined) input.clear = r.clear;
  if (r.repeat_interval !== undefined) input.repeat_interval = r.repeat_interval;
  return input;
}

/** What `rules/validate` checks: the condition, and clear and message when set. */
export function checkBody(f: RuleForm): RuleCheckBody {
  const body: RuleCheckBody = { condition: f.condition.trim() };
  const clear = parseClear(f.clear);
  if (clear !== undefined) body.clear = clear;
  if (f.message.trim()) body.message = f.message;
  return body;
}

/** Why the form cannot be saved as is (the server checks the rest), or null. */
export function validateRuleForm(f: RuleForm): string | null {
  if (!f.name.trim()) return 'name: give the rule a name, e.g. "CPU high"';
  if (!f.condition.trim()) return 'condition: write the condition, e.g. host.cpu.percent > 80';
  if (!f.duration.trim()) return 'duration: how long the condition must hold, e.g. 5m (0s: at once)';
  return null;
}
