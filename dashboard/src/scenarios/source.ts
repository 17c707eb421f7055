// A scenario's text in the editor: the template of a new one, putting a
// rule id into its trigger, reading the orchestrator's 422 (`<path>:
// <message>[ at line L column C]`) and finding where in the text a path
// such as `steps[1].params.service` is written (YAML blocks, flow
// mappings on one line, or JSON), and the order of a run's steps.

/** What a new scenario starts from: the seed's example, its rule to pick. */
export const RULE_PLACEHOLDER = '<rule id>';
export const TEMPLATE = `name: auto_restart_on_high_memory
trigger:
  alert: ${RULE_PLACEHOLDER}
guards:
  cooldown: 10m
  max_attempts: 3
  window: 1h
steps:
  - id: restart_php
    service: action
    action: restart_service
    params:
      host_id: "{{alert.host_id}}"
      service: php-fpm
  - id: notify
    service: alert
    action: notify
    params:
      message: "PHP-FPM restarted automatically on {{alert.host.name}}"
`;

/** Whether `source` is written as JSON (else YAML). */
export function isJson(source: string): boolean {
  return /^\s*[{[]/.test(source);
}

const PLAIN = /^[A-Za-z0-9_][\w.:/@-]*$/;
const yamlScalar = (v: string) => (PLAIN.test(v) && !/^(true|false|null|yes|no|on|off|~)$/i.test(v) ? v : JSON.stringify(v));

/**
 * `source` with its trigger set to `alert: <ruleId>` (a cron or manual
 * trigger replaced, `hosts` kept). YAML keeps every other line as written;
 * JSON is written again, indented.
 */
export function setTriggerAlert(source: string, ruleId: string): string {
  if (isJson(source)) {
    try {
      const spec = JSON.parse(source) as Record<string, unknown>;
      const old = typeof spec.trigger === 'object' && spec.trigger !== null ? (spec.trigger as Record<string, unknown>) : {};
      const trigger: Record<string, unknown> = { alert: ruleId };
      if (old.hosts !== undefined) trigger.hosts = old.hosts;
      return `${JSON.stringify({ ...spec, trigger }, null, 2)}\n`;
    } catch {
      return source; // not JSON after all: left as written
    }
  }
  const value = yamlScalar(ruleId);
  const lines = source.split('\n');
  const at = lines.findIndex((l) => /^trigger\s*:/.test(l));
  if (at < 0) {
    // no trigger yet: after the name, else on top
    const name = lines.findIndex((l) => /^name\s*:/.test(l));
    lines.splice(name + 1, 0, 'trigger:', `  alert: ${value}`);
    return lines.join('\n');
  }
  const rest = lines[at]!.replace(/^trigger\s*:/, '').trim();
  if (rest && !rest.startsWith('#')) {
    // flow style: trigger: {cron: "…", hosts: [a]}
    const inner = rest.replace(/^\{|\}\s*(#.*)?$/g, '');
    const kept = inner.split(/,(?![^[]*\])/).map((p) => p.trim()).filter((p) => p && !/^(alert|cron|manual)\s*:/.test(p));
    lines[at] = `trigger: {${[`alert: ${value}`, ...kept].join(', ')}}`;
    return lines.join('\n');
  }
  // block style: replace the first alert/cron/manual line of the block, drop the others
  let end = at + 1;
  let indent = '  ';
  let replaced = false;
  while (end < lines.length && (/^\s*(#.*)?$/.test(lines[end]!) || /^\s+\S/.test(lines[end]!))) end += 1;
  for (let i = at + 1; i < end; i += 1) {
    const m = /^(\s+)(alert|cron|manual)\s*:/.exec(lines[i]!);
    if (!m) continue;
    if (!replaced) {
      indent = m[1]!;
      lines[i] = `${indent}alert: ${value}`;
      replaced = true;
    } else {
      lines.splice(i, 1);
      i -= 1;
      end -= 1;
    }
  }
  if (!replaced) {
    const first = lines.slice(at + 1, end).find((l) => /^\s+\S/.test(l));
    if (first) indent = /^(\s+)/.exec(first)![1]!;
    lines.splice(at + 1, 0, `${indent}alert: ${value}`);
  }
  return lines.join('\n');
}

// ---- errors ----

export interface ScenarioError {
  /** The path the message starts with (`steps[1].params.service`), or null. */
  field: string | null;
  /** 1-based line and column the message names (YAML and JSON parse errors do), else null. */
  line: number | null;
  column: number | null;
  /** The whole message, as the server wrote it. */
  message: string;
}

const FIELD = /^([A-Za-z_][\w-]*(?:\[\d+\]|\.[A-Za-z_][\w-]*)*|\?): /;
const POSITION = /\bline (\d+),? column (\d+)/;

export function parseScenarioError(message: string): ScenarioError {
  const f = FIELD.exec(message);
  const p = POSITION.exec(message);
  return {
    field: f && f[1] !== '?' ? f[1]! : null,
    line: p ? Number(p[1]) : null,
    column: p ? Number(p[2]) : null,
    message,
  };
}

/** `steps[1].params.service` → ['steps', 1, 'params', 'service']; null when it is no path into the text (`source`, `host_id`). */
export function pathSegments(path: string): (string | number)[] | null {
  if (path === 'source' || path === 'host_id' || path === 'by') return null;
  const out: (string | number)[] = [];
  const re = /([A-Za-z_][\w-]*)|\[(\d+)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) out.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return out.length ? out : null;
}

export interface Place {
  /** 1-based. */
  line: number;
  column: number;
  /** false: only a parent of the path was found (the field itself is missing, or written inline). */
  exact: boolean;
}

/** Where `path` is written in `source`: its key (or list item), or its nearest parent that is. */
export function locatePath(source: string, path: string): Place | null {
  const segs = pathSegments(path);
  if (!segs) return null;
  return isJson(source) ? locateJson(source, segs) : locateYaml(source, segs);
}

const isContent = (l: string) => !/^\s*(#.*)?$/.test(l);
const indentOf = (l: string) => /^ */.exec(l)![0].length;
const dashOf = (l: string) => /^ *- +/.exec(l);
/** Where a line's content begins (after a list dash). */
function keyCol(l: string): number {
  const d = dashOf(l);
  return d ? d[0].length : indentOf(l);
}
function keyAt(l: string, col: number): string | null {
  const m = /^(?:"([^"]*)"|'([^']*)'|([^\s"'#:][^:#]*?))\s*:(?:\s|$)/.exec(l.slice(col));
  return m ? (m[1] ?? m[2] ?? m[3] ?? null) : null;
}

function locateYaml(source: string, segs: (string | number)[]): Place | null {
  const lines = source.split('\n');
  let start = 0;
  let end = lines.length;
  let found: { line: number; col: number } | null = null;
  let walked = 0; // segments found
  let inline = -1; // the segment from which the value is written on the found line
  for (let s = 0; s < segs.length; s += 1) {
    let first = start;
    while (first < end && !isContent(lines[first]!)) first += 1;
    if (first >= end) break;
    const seg = segs[s]!;
    if (typeof seg === 'number') {
      const dashCol = indentOf(lines[first]!);
      const items: number[] = [];
      for (let i = first; i < end; i += 1) {
        if (isContent(lines[i]!) && indentOf(lines[i]!) === dashCol && dashOf(lines[i]!)) items.push(i);
        else if (isContent(lines[i]!) && indentOf(lines[i]!) <= dashCol) break;
      }
      const at = items[seg];
      if (at === undefined) break;
      found = { line: at, col: dashCol };
      walked = s + 1;
      start = at;
      end = items[seg + 1] ?? end;
      const after = lines[at]!.slice(dashOf(lines[at]!)![0].length).trim();
      if (!after) start = at + 1;
      else if (/^[{[]/.test(after)) {
        inline = s + 1;
        break;
      }
      continue;
    }
    // a key of the mapping starting at `first`
    const col = keyCol(lines[first]!);
    let at = -1;
    for (let i = first; i < end; i += 1) {
      const l = lines[i]!;
      if (!isContent(l)) continue;
      if (keyCol(l) === col && keyAt(l, col) === seg) {
        at = i;
        break;
      }
    }
    if (at < 0) break;
    found = { line: at, col };
    walked = s + 1;
    const value = lines[at]!.slice(col).replace(/^[^:]*:/, '').replace(/\s#.*$/, '').trim();
    if (value && !/^[|>]/.test(value)) {
      inline = s + 1;
      break;
    }
    // the value: the lines below, up to the next line at this key's column (or left of it)
    let stop = at + 1;
    while (stop < end) {
      const l = lines[stop]!;
      if (isContent(l) && (indentOf(l) < col || (indentOf(l) === col && !dashOf(l)))) break;
      stop += 1;
    }
    start = at + 1;
    end = stop;
  }
  if (!found) return null;
  let column = found.col;
  let exact = walked === segs.length;
  if (inline >= 0 && inline < segs.length) {
    // a flow value on this line: look for the remaining keys in order
    const line = lines[found.line]!;
    let from = column;
    let all = true;
    for (const seg of segs.slice(inline)) {
      if (typeof seg === 'number') {
        all = false;
        break;
      }
      const m = new RegExp(`[{,\\s]["']?${seg.replace(/[^\w-]/g, '')}["']?\\s*:`).exec(line.slice(from));
      if (!m) {
        all = false;
        break;
      }
      from += m.index + m[0].search(/[^{,\s"']/);
      walked += 1;
    }
    column = from;
    exact = all && walked === segs.length;
  }
  return { line: found.line + 1, column: column + 1, exact };
}

function locateJson(source: string, segs: (string | number)[]): Place | null {
  let i = 0;
  let best = -1;
  let depthFound = 0;
  const n = source.length;
  const ws = () => {
    while (i < n && /\s/.test(source[i]!)) i += 1;
  };
  const skipString = () => {
    i += 1;
    while (i < n && source[i] !== '"') i += source[i] === '\\' ? 2 : 1;
    i += 1;
  };
  const value = (depth: number, onPath: boolean): void => {
    ws();
    const c = source[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i += 1;
      let index = 0;
      for (;;) {
        ws();
        if (i >= n) return;
        if (source[i] === close) {
          i += 1;
          return;
        }
        const at = i;
        let key: string | number = index;
        if (c === '{') {
          if (source[i] !== '"') throw new Error('not JSON');
          skipString();
          try {
            key = JSON.parse(source.slice(at, i)) as string;
          } catch {
            key = '';
          }
          ws();
          if (source[i] !== ':') throw new Error('not JSON');
          i += 1;
        }
        const match = onPath && depth < segs.length && segs[depth] === key;
        if (match) {
          best = at;
          depthFound = depth + 1;
        }
        const before = i;
        value(depth + 1, match);
        if (i === before && c === '[') throw new Error('not JSON');
        ws();
        index += 1;
        if (source[i] === ',') i += 1;
        else if (source[i] !== close) throw new Error('not JSON');
      }
    } else if (c === '"') skipString();
    else while (i < n && !/[,}\]\s]/.test(source[i]!)) i += 1;
  };
  try {
    value(0, true);
  } catch {
    // malformed: what was found so far
  }
  if (best < 0) return null;
  const before = source.slice(0, best).split('\n');
  return { line: before.length, column: Array.from(before[before.length - 1]!).length + 1, exact: depthFound === segs.length };
}

// ---- run steps ----

/** `2.on_fail.0` → [2, 0]. */
function pathNumbers(path: string): number[] {
  return path.split('.on_fail.').map((p) => Number(p));
}

/** Path order: a step, then its on_fail steps, then the next step. */
export function comparePaths(a: string, b: string): number {
  const x = pathNumbers(a);
  const y = pathNumbers(b);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return Number.isNaN(d) ? a.localeCompare(b) : d;
  }
  return x.length - y.length;
}

/** How deep in on_fail a step is: `2` 0, `2.on_fail.0` 1. */
export function pathDepth(path: string): number {
  return path.split('.on_fail.').length - 1;
}

/** A run path as written in the scenario: `2.on_fail.0` → `steps[2].on_fail[0]`. */
export function writtenPath(path: string): string {
  const [first, ...rest] = path.split('.on_fail.');
  return `steps[${first}]${rest.map((r) => `.on_fail[${r}]`).join('')}`;
}
