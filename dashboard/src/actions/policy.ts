// The host agent's action decision, ported from sovigilant so the dashboard
// can tell before a click what the agent would refuse (and why). The agent
// is the authority: this only predicts, from the policy it registered
// (`HostRecord.actions`). Shared test vectors with the agent's Rust tests:
// agent/tests/fixtures/action-policy-cases.json (test/policy.test.ts).
//
// The decision, in order:
// 1. the canonical command line: systemd `systemctl <verb> <unit>` (the name
//    plus `.service` unless it already has a unit suffix), openrc
//    `rc-service <name> <verb>`, containers `<engine> <verb> <name>` (engine:
//    params.engine, else the policy's first engine), exec `exec <command>`.
//    A bad name (`[A-Za-z0-9@._:-]{1,128}`), no service manager or an engine
//    the agent does not use refuse it before any rule (command null);
// 2. actions disabled: refused;
// 3. a `denied` glob matching the line (for exec, or the bare command): refused;
// 4. an `allowed` glob matching the line: allowed. For exec only entries
//    `exec <program> …` whose program word has no wildcard count, and their
//    wildcards never match a shell metacharacter;
// 5. otherwise refused by default.
// Globs: `*` any run of characters, `?` exactly one.

import type { ActionParams, ActionPolicy, ActionType } from '../api/types';

export interface Verdict {
  /** The canonical command line; null when refused before any rule. */
  command: string | null;
  allowed: boolean;
  /** The `allowed` or `denied` entry that decided; null otherwise. */
  rule: string | null;
  /** Why it is refused, or which entry allows it: shown to the user. */
  reason: string;
}

export const UNIT_SUFFIXES = [
  '.service', '.socket', '.timer', '.target', '.path', '.mount', '.automount', '.slice', '.scope', '.swap', '.device',
];

/** Characters an exec entry's wildcard never matches. */
export const SHELL_META = ';&|<>$`\\"\'(){}[]!#~*?\n';

const NAME_RE = /^[A-Za-z0-9@._:-]*$/;
const MAX_NAME = 128;
const MAX_COMMAND = 4096;

export function verbOf(type: ActionType): string {
  return type === 'exec' ? 'exec' : type.slice(0, type.indexOf('_'));
}

/** The param naming the action's target. */
export function targetParam(type: ActionType | string): 'service' | 'container' | 'command' {
  return type.endsWith('_service') ? 'service' : type.endsWith('_container') ? 'container' : 'command';
}

/** "restart service", "run command". */
export function actionLabel(type: string): string {
  return type === 'exec' ? 'run command' : type.replace('_', ' ');
}

/** What an action is about: the service, container or command. */
export function targetOf(params: ActionParams): string {
  return params.service ?? params.container ?? params.command ?? '';
}

/** Why a service or container name would be refused, or null. */
export function nameProblem(param: string, value: string): string | null {
  if (!value || value.length > MAX_NAME) return `params.${param} ${JSON.stringify(value)} is empty or longer than ${MAX_NAME} characters`;
  if (!NAME_RE.test(value)) {
    const bad = [...value].find((c) => !NAME_RE.test(c))!;
    return `params.${param} ${JSON.stringify(value)} contains ${JSON.stringify(bad)}; only letters, digits and @ . _ : - are allowed`;
  }
  return null;
}

/** The canonical command line the agent matches its rules against, or why it refuses before any rule. */
export function canonical(policy: ActionPolicy, type: ActionType, params: ActionParams): { command: string } | { refused: string } {
  const param = targetParam(type);
  const value = params[param] ?? '';
  if (type === 'exec') {
    if (!value.trim()) return { refused: 'params.command is empty' };
    if (value.length > MAX_COMMAND) return { refused: `params.command is longer than ${MAX_COMMAND} characters` };
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return { refused: 'params.command contains a control character; give one line of text' };
    return { command: `exec ${value}` };
  }
  const problem = nameProblem(param, value);
  if (problem) return { refused: problem };
  const verb = verbOf(type);
  if (param === 'service') {
    if (policy.service_manager === 'systemd') {
      const unit = UNIT_SUFFIXES.some((s) => value.endsWith(s)) ? value : `${value}.service`;
      return { command: `systemctl ${verb} ${unit}` };
    }
    if (policy.service_manager === 'openrc') return { command: `rc-service ${value} ${verb}` };
    return { refused: 'the agent has no service manager on this host (service_manager: none)' };
  }
  const engine = params.engine || policy.engines[0];
  if (!engine) return { refused: 'the agent uses no container engine on this host' };
  if (!policy.engines.includes(engine)) {
    return { refused: `the agent does not act through ${engine} (its engines: ${policy.engines.join(', ')})` };
  }
  return { command: `${engine} ${verb} ${value}` };
}

/**
 * Whether `text` matches the glob `pattern` (`*` any run, `?` one
 * character), wildcards matching only characters `wild` accepts.
 */
export function glob(pattern: string, text: string, wild: (c: string) => boolean = () => true): boolean {
  const t = [...text];
  // row[j]: the pattern so far matches the first j characters of the text
  let row: boolean[] = t.map(() => false);
  row.push(false);
  row[0] = true;
  for (const c of pattern) {
    const next: boolean[] = [c === '*' && row[0]!];
    let any = next[0]!;
    for (let j = 1; j <= t.length; j += 1) {
      const ch = t[j - 1]!;
      const v = c === '*' ? row[j]! || (next[j - 1]! && wild(ch)) : row[j - 1]! && (c === '?' ? wild(ch) : c === ch);
      next.push(v);
      any ||= v;
    }
    if (!any) return false;
    row = next;
  }
  return row[t.length]!;
}

const notMeta = (c: string) => !SHELL_META.includes(c);

/** An `allowed` entry that may allow exec: `exec <program> …`, the program word without wildcards. */
function namesProgram(entry: string): boolean {
  if (!entry.startsWith('exec ')) return false;
  const program = entry.slice(5).split(' ')[0]!;
  return program !== '' && !/[*?]/.test(program);
}

/** What the agent would decide for `type` with `params` under `policy` (null: an agent older than remote actions). */
export function decide(policy: ActionPolicy | null | undefined, type: ActionType, params: ActionParams): Verdict {
  if (!policy) {
    return { command: null, allowed: false, rule: null, reason: "this host's agent is older than remote actions and refuses them all" };
  }
  const line = canonical(policy, type, params);
  if ('refused' in line) return { command: null, allowed: false, rule: null, reason: line.refused };
  const { command } = line;
  const refuse = (reason: string, rule: string | null = null): Verdict => ({ command, allowed: false, rule, reason });
  if (!policy.enabled) return refuse("remote actions are disabled in this host's agent config (actions.enabled)");
  const exec = type === 'exec';
  const denied = policy.denied.find((e) => glob(e, command) || (exec && glob(e, params.command ?? '')));
  if (denied !== undefined) return refuse(`denied by the actions.denied entry "${denied}"`, denied);
  const allowed = exec
    ? policy.allowed.find((e) => namesProgram(e) && glob(e, command, notMeta))
    : policy.allowed.find((e) => glob(e, command));
  if (allowed !== undefined) return { command, allowed: true, rule: allowed, reason: `allowed by the actions.allowed entry "${allowed}"` };
  return refuse(`no actions.allowed entry matches ${command}`);
}
