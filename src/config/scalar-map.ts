/**
 * Where each character of a YAML string lies in its file, for strings whose lines are not the
 * file's: a folded (`>`) block, whose lines YAML joins with spaces, and plain or quoted strings
 * written over several lines (or with escapes). A SQL error in such a string can then be named at
 * the file's line and column, and shown with the file's line.
 *
 * The string is rebuilt from its source by YAML's folding rules, remembering the source offset of
 * every character, and used only when it equals the value the YAML parser gave: a case these rules
 * do not cover falls back to the line of the field, never to a wrong place.
 */
import type { LineCounter } from 'yaml';
import type { TextMap } from '../model/workload.js';

/** A scalar's value as rebuilt from its source: the file offset of each UTF-16 code unit. */
interface Rebuilt {
  value: string;
  at: number[];
  /** Where the text of each file line the scalar spans begins (block indentation, a flow line's first character). */
  from: Map<number, number>;
}

/** The node fields this needs (the `yaml` package's Scalar). */
export interface ScalarNode {
  readonly type?: string;
  readonly value?: unknown;
  readonly range?: readonly [number, number, number] | null;
}

/**
 * The map of a folded block or a flow string over several lines (or with escapes), or undefined when
 * its source does not rebuild to its value.
 */
export function scalarTextMap(text: string, node: ScalarNode, lineCounter: LineCounter): TextMap | undefined {
  if (!node.range || typeof node.value !== 'string' || node.value === '') return undefined;
  const rebuilt =
    node.type === 'BLOCK_FOLDED'
      ? rebuildFolded(text, node.range[0], node.range[1])
      : node.type === 'PLAIN' || node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE'
        ? rebuildFlow(text, node.range[0], node.range[1], node.type)
        : undefined;
  if (!rebuilt || rebuilt.value !== node.value) return undefined;
  const runs: { offset: number; line: number; column: number }[] = [];
  let previous: { line: number; column: number } | undefined;
  rebuilt.at.forEach((offset, i) => {
    const pos = lineCounter.linePos(offset);
    // A run goes on while characters follow one another on one line.
    if (!previous || pos.line !== previous.line || pos.col !== previous.column + 1)
      runs.push({ offset: i, line: pos.line, column: pos.col });
    previous = { line: pos.line, column: pos.col };
  });
  const first = runs[0]!.line;
  const last = runs[runs.length - 1]!.line;
  const lines: string[] = [];
  const columns: number[] = [];
  for (let line = first; line <= last; line++) {
    const begin = lineCounter.lineStarts[line - 1]!;
    const next = lineCounter.lineStarts[line];
    const whole = text.slice(begin, next === undefined ? text.length : next).replace(/\r?\n$/, '');
    const from = rebuilt.from.get(line) ?? whole.length - whole.trimStart().length;
    lines.push(whole.slice(from).trimEnd());
    columns.push(from + 1);
  }
  return { runs, line: first, lines, columns };
}

/** The lines of `text` between two offsets: each with the offset it starts at, without its line break. */
function sourceLines(text: string, start: number, end: number): { at: number; text: string }[] {
  const lines: { at: number; text: string }[] = [];
  let at = start;
  while (at <= end) {
    const nl = text.indexOf('\n', at);
    const stop = nl === -1 || nl >= end ? end : nl;
    lines.push({ at, text: text.slice(at, stop).replace(/\r$/, '') });
    if (stop === end) break;
    at = stop + 1;
  }
  return lines;
}

/**
 * A folded block (`>`, `>-`, `>+`): lines after the header, less their indentation; two lines in a
 * row are joined by a space, unless one of them is more indented (its line break is kept); empty
 * lines between them become line breaks.
 */
function rebuildFolded(text: string, start: number, end: number): Rebuilt | undefined {
  const headerEnd = text.indexOf('\n', start);
  if (headerEnd === -1 || headerEnd >= end) return undefined;
  const header = text
    .slice(start, headerEnd)
    .replace(/\s#.*$/, '')
    .trim();
  // An explicit indentation indicator (`>2-`) counts from the parent's indentation: not rebuilt.
  if (!/^>[+-]?$/.test(header)) return undefined;
  const lines = sourceLines(text, headerEnd + 1, end);
  // The block ends with its last line break: nothing follows it.
  if (lines.at(-1)?.text === '' && lines.at(-1)?.at === end) lines.pop();
  const firstText = lines.find((l) => l.text.trim() !== '');
  if (!firstText) return undefined;
  const indent = firstText.text.length - firstText.text.trimStart().length;
  const out: Rebuilt = { value: '', at: [], from: new Map() };
  const push = (chars: string, offset: number | ((i: number) => number)) => {
    for (let i = 0; i < chars.length; i++) {
      out.value += chars[i];
      out.at.push(typeof offset === 'number' ? offset : offset(i));
    }
  };
  let previous: 'normal' | 'spaced' | undefined;
  let previousEnd = headerEnd;
  const empties: number[] = [];
  for (const line of lines) {
    if (line.text.length <= indent && line.text.trim() === '') {
      empties.push(line.at);
      continue;
    }
    if (line.text.length - line.text.trimStart().length < indent) return undefined;
    const content = line.text.slice(indent);
    const kind = /^[ \t]/.test(content) ? 'spaced' : 'normal';
    if (previous === undefined) for (const at of empties) push('\n', at);
    else if (previous === 'normal' && kind === 'normal' && empties.length === 0) push(' ', previousEnd);
    else push('\n'.repeat(empties.length + (previous === 'normal' && kind === 'normal' ? 0 : 1)), previousEnd);
    empties.length = 0;
    push(content, (i) => line.at + indent + i);
    out.from.set(lineOf(text, line.at), indent);
    previous = kind;
    previousEnd = line.at + line.text.length;
  }
  const chomping = header.includes('-') ? 'strip' : header.includes('+') ? 'keep' : 'clip';
  if (chomping !== 'strip') push('\n'.repeat(chomping === 'keep' ? empties.length + 1 : 1), previousEnd);
  return out;
}

/** 1-based line of an offset (for the few lines of one scalar; the map's runs use the LineCounter). */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\x85',
  _: '\xa0',
  L: '\u2028',
  P: '\u2029',
};
const HEX_DIGITS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

/**
 * A plain, single- or double-quoted string: its lines are joined by a space, with the white space
 * around each line break dropped; empty lines between them become line breaks. In a double-quoted
 * string, escapes stand for one character (placed at their backslash), and a backslash that ends a
 * line joins it to the next without a space.
 */
function rebuildFlow(
  text: string,
  start: number,
  end: number,
  type: 'PLAIN' | 'QUOTE_SINGLE' | 'QUOTE_DOUBLE',
): Rebuilt | undefined {
  const quoted = type !== 'PLAIN';
  const lines = sourceLines(text, start + (quoted ? 1 : 0), end - (quoted ? 1 : 0));
  const out: Rebuilt = { value: '', at: [], from: new Map() };
  let pendingEmpty = 0;
  let joinAt: number | undefined;
  let escapedBreak = false;
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!;
    const isFirst = k === 0;
    const isLast = k === lines.length - 1;
    let from = isFirst ? 0 : line.text.length - line.text.trimStart().length;
    let to = isLast ? line.text.length : line.text.trimEnd().length;
    // A double-quoted line that ends with an odd number of backslashes: an escaped line break.
    const trailing = /\\+$/.exec(line.text.slice(0, to))?.[0].length ?? 0;
    const breaksEscaped = type === 'QUOTE_DOUBLE' && !isLast && trailing % 2 === 1;
    if (breaksEscaped) to = line.text.length - 1;
    if (!isFirst && !isLast && from >= to && !breaksEscaped) {
      pendingEmpty++;
      continue;
    }
    if (escapedBreak) from = line.text.length - line.text.trimStart().length;
    if (!isFirst) {
      const separator = escapedBreak ? '\n'.repeat(pendingEmpty) : pendingEmpty > 0 ? '\n'.repeat(pendingEmpty) : ' ';
      for (const ch of separator) {
        out.value += ch;
        out.at.push(joinAt ?? line.at);
      }
    }
    pendingEmpty = 0;
    out.from.set(lineOf(text, line.at), isFirst ? line.at - lineStartOf(text, line.at) : from);
    const content = line.text.slice(from, to);
    for (let i = 0; i < content.length; i++) {
      const at = line.at + from + i;
      const ch = content[i]!;
      if (type === 'QUOTE_SINGLE' && ch === "'" && content[i + 1] === "'") {
        out.value += "'";
        out.at.push(at);
        i++;
      } else if (type === 'QUOTE_DOUBLE' && ch === '\\') {
        const code = content[i + 1];
        if (code === undefined) return undefined;
        const digits = HEX_DIGITS[code];
        let decoded: string | undefined;
        if (digits !== undefined) {
          const hex = content.slice(i + 2, i + 2 + digits);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits) return undefined;
          decoded = String.fromCodePoint(parseInt(hex, 16));
          i += 1 + digits;
        } else {
          decoded = ESCAPES[code];
          if (decoded === undefined) return undefined;
          i += 1;
        }
        for (const unit of decoded.split('')) {
          out.value += unit;
          out.at.push(at);
        }
      } else {
        out.value += ch;
        out.at.push(at);
      }
    }
    joinAt = line.at + to;
    escapedBreak = breaksEscaped;
  }
  return out;
}

/** Offset of the start of the line holding `offset`. */
function lineStartOf(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}
