// Reading the server's field errors (422 from the rule endpoints), e.g.
// `condition: column 18: expected a number, a string, a variable or '('
// but found end of input`, and placing a caret under the column.

export interface FieldError {
  /** The field the message names (`condition`, `clear`, `message`, `duration`…), or null when it names none. */
  field: string | null;
  /** 1-based, when the message gives one. */
  line: number | null;
  /** 1-based column (characters), when the message gives one. */
  column: number | null;
  /** The message without the field and position. */
  text: string;
}

const WITH_POSITION = /^([A-Za-z_][\w.]*): (?:line (\d+),? )?column (\d+): ([\s\S]*)$/;
const WITH_FIELD = /^([A-Za-z_][\w.]*): ([\s\S]*)$/;

export function parseFieldError(message: string): FieldError {
  const m = WITH_POSITION.exec(message);
  if (m) {
    return { field: m[1]!, line: m[2] ? Number(m[2]) : null, column: Number(m[3]), text: m[4]! };
  }
  const f = WITH_FIELD.exec(message);
  if (f) return { field: f[1]!, line: null, column: null, text: f[2]! };
  return { field: null, line: null, column: null, text: message };
}

/**
 * The source line the error is on and the text to put before the caret so
 * it sits under `column` in a monospace block (tabs kept, so they line up).
 * Without a line number, the column counts through the whole source.
 * Columns count characters (code points), as the server does.
 */
export function caretAt(source: string, line: number | null, column: number): { text: string; pad: string } {
  const lines = source.split('\n');
  let lineIndex = 0;
  let col = Math.max(1, column);
  if (line !== null) {
    lineIndex = Math.min(Math.max(0, line - 1), lines.length - 1);
  } else {
    // a column past the first line's end continues on the next lines
    while (lineIndex < lines.length - 1 && col > Array.from(lines[lineIndex]!).length + 1) {
      col -= Array.from(lines[lineIndex]!).length + 1;
      lineIndex += 1;
    }
  }
  const chars = Array.from(lines[lineIndex] ?? '');
  const before = chars.slice(0, col - 1);
  const pad = before.map((c) => (c === '\t' ? '\t' : ' ')).join('') + ' '.repeat(Math.max(0, col - 1 - chars.length));
  return { text: chars.join(''), pad };
}
