// The host agent's action decision, ported from sovigilant so the dashboard
// can tell before a click what the agent would refuse (and why). The agent
// is the authority: this only predicts, from the policy it registered
// (`HostRecord.actions`). Shared test vectors with the agent's Rust tests:
// agent/tests/fixtures/action-policy-cases.json (test/policy.test.ts).
//
// The decision, in order (the agent's, agent/src/actions/policy.rs):
// 1. the canonical command line: systemd `systemctl <verb> <unit>` (the name
//    plus `.service` unless it already has a unit suffix), openrc
//    `rc-service <name> <verb>`, containers `<engine> <verb> <name>` (engine:
//    params.engine, else the policy's first engine), exec `exec <command>`.
//    A bad name (`[A-Za-z0-9@._:-]{1,128}`) or command, no service manager
//    or an engine the agent does not use leave no line (command null);
// 2. actions disabled: refused (whatever the line);
// 3. no line: refused before any rule;
// 4. a `denied` glob matching the line (for exec, or the bare command): refused;
// 5. an `allowed` glob matching the line: allowed. For exec only entries
//    `exec <program> …` whose program word has no wildcard count, and their
//    wildcards never match a shell metacharacter;
// 6. otherwise refused by default.
// The reasons copy the agent's wording (only command, decision and rule are
// pinned by the shared vectors).
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
const ENGINES = ['docker', 'podman', 'incus'];
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

/** A string as Rust's `{:?}` shows it (the agent's messages). */
const quoted = (v: string) => JSON.stringify(v);

/** A character as Rust's `{:?}` shows it: `';'`. */
const quotedChar = (c: string) => `'${JSON.stringify(c).slice(1, -1)}'`;

/** UTF-8 length, as the agent counts. */
const bytes = (v: string) => new TextEncoder().encode(v).length;

/** Why a service or container name would be refused (vigil-bus `check_name`), or null. */
export function nameProblem(param: string, value: string): string | null {
  if (!value || bytes(value) > MAX_NAME) return `params.${param} ${quoted(value)} is empty or longer than ${MAX_NAME} characters`;
  if (!NAME_RE.test(value)) {
    const bad = [...value].find((c) => !NAME_RE.test(c))!;
    return `params.${param} ${quoted(value)} contains ${quotedChar(bad)}; only letters, digits and @ . _ : - are allowed`;
  }
  return null;
}

/** The canonical command line the agent matches its rules against, or why there is none. */
export function canonical(policy: ActionPolicy, type: ActionType, params: ActionParams): { command: string } | { refused: string } {
  const param = targetParam(type);
  const value = params[param] ?? '';
  if (type === 'exec') {
    if (!value.trim() || bytes(value) > MAX_COMMAND) {
      return { refused: `params.command ${quoted(value)} is empty or longer than ${MAX_COMMAND} characters` };
    }
    // eslint-disable-next-line no-control-regex
    const control = /[\u0000-\u001f\u007f-\u009f]/.exec(value);
    if (control) return { refused: `params.command ${quoted(value)} contains the control character ${quotedChar(control[0])}; give one line of text` };
    return { command: `exec ${value}` };
  }
  const problem = nameProblem(param, value);
  if (problem) return { refused: problem };
  const verb = verbOf(type);
  if (param === 'service') {
    if (policy.service_manager === 'systemd') {
      const unit = UNIT_SUFFIXES.some((s) => value.length > s.length && value.endsWith(s)) ? value : `${value}.service`;
      return { command: `systemctl ${verb} ${unit}` };
    }
    if (policy.service_manager === 'openrc') return { command: `rc-service ${value} ${verb}` };
    return { refused: 'no service manager (systemd or OpenRC) runs on this machine; service actions cannot run (actions.service_manager)' };
  }
  const engine = params.engine;
  if (engine !== undefined) {
    if (!ENGINES.includes(engine)) return { refused: `params.engine ${quoted(engine)} is not one of docker, podman, incus` };
    if (!policy.engines.includes(engine)) {
      return { refused: `this agent does not use ${engine} (its container engines: ${policy.engines.join(', ') || 'none'})` };
    }
    return { command: `${engine} ${verb} ${value}` };
  }
  const first = policy.engines[0];
  if (!first) return { refused: 'this agent uses no container engine (no Docker, Podman or Incus socket; see collection.containers)' };
  return { command: `${first} ${verb} ${value}` };
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
  const command = 'command' in line ? line.command : null;
  const refuse = (reason: string, rule: string | null = null): Verdict => ({ command, allowed: false, rule, reason });
  if (!policy.enabled) return refuse('remote actions are disabled on this agent (actions.enabled: false)');
  if (command === null) return refuse((line as { refused: string }).refused);
  const exec = type === 'exec';
  const denied = policy.denied.find((e) => glob(e, command) || (exec && glob(e, params.command ?? '')));
  if (denied !== undefined) return refuse(`denied by the actions.denied entry ${quoted(denied)}`, denied);
  const allowed = exec
    ? policy.allowed.find((e) => namesProgram(e) && glob(e, command, notMeta))
    : policy.allowed.find((e) => glob(e, command));
  if (allowed !== undefined) return { command, allowed: true, rule: allowed, reason: `allowed by the actions.allowed entry ${quoted(allowed)}` };
  return refuse(
    exec
      ? `no actions.allowed entry \`exec <program> ...\` allows ${quoted(command)} (exec is refused by default)`
      : `no actions.allowed entry matches ${quoted(command)}`,
  );
}
