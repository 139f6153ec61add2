/**
 * Loads a YAML (or JSON) file and validates it against a committed JSON Schema. Every error names
 * the file, the line and the field, e.g. `shop.yaml:12:9: statements[1].weight: must be >= 0`.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isSeq, LineCounter, Parser, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { InputError, type InputErrorCode } from '../errors.js';
import type { TextMap } from '../model/workload.js';
import { scalarTextMap } from './scalar-map.js';

const ajv = new Ajv({
  allErrors: true,
  // Errors carry their schema, so that messages can name the fields a schema knows.
  verbose: true,
  strict: false,
  // The report schema's timestamps; without a definition Ajv warns on the console and checks nothing.
  formats: { 'date-time': (value: string) => !Number.isNaN(Date.parse(value)) },
});
const compiled = new Map<string, ValidateFunction>();

/** Reads a committed JSON Schema from `schemas/` (next to `src/` and `dist/`). */
export function loadSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../schemas/${file}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

function validator(schemaFile: string): ValidateFunction {
  let validate = compiled.get(schemaFile);
  if (!validate) {
    validate = ajv.compile(loadSchema(schemaFile));
    compiled.set(schemaFile, validate);
  }
  return validate;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Offset of the first byte that does not start or continue a UTF-8 sequence, or -1. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const c = bytes[i]!;
    const more =
      c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (more < 0) return i;
    for (let k = 1; k <= more; k++) if (i + k >= bytes.length || (bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return -1;
}

/**
 * The text of a UTF-8 file (a byte order mark dropped). Another encoding is refused with the line
 * and column of its first byte that is not UTF-8: decoded leniently, a Latin-1 `café` would reach
 * the database as `caf\uFFFD` and be replayed without a word.
 */
function decodeUtf8(bytes: Buffer, path: string, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    const offset = Math.max(0, firstInvalidUtf8(bytes));
    const before = bytes.subarray(0, offset).toString('utf8');
    const lines = before.split('\n');
    const line = lines.length;
    const column = [...lines[lines.length - 1]!].length + 1;
    throw new InputError(
      'FILE_NOT_UTF8',
      `${path}:${line}:${column}: ${what} is not UTF-8 (byte 0x${bytes[offset]!.toString(16).padStart(2, '0')}): save it as UTF-8`,
    );
  }
}

/** Reads a UTF-8 text file or throws FILE_NOT_FOUND / FILE_UNREADABLE / FILE_NOT_UTF8. */
export function readTextFile(path: string, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new InputError('FILE_NOT_FOUND', `${what} not found: ${path}`);
    if (code === 'EISDIR') throw new InputError('FILE_UNREADABLE', `${what} is a directory, not a file: ${path}`);
    throw new InputError('FILE_UNREADABLE', `cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  return decodeUtf8(bytes, path, what);
}

/** `/statements/0/weight` -> `statements[0].weight` */
export function fieldName(pointer: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return (
    parts.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '') ||
    '(top level)'
  );
}

function describeError(error: ErrorObject): { pointer: string; message: string } {
  if (error.keyword === 'additionalProperties') {
    const extra = String((error.params as { additionalProperty: string }).additionalProperty);
    const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    const guess = synonym(extra, known) ?? closest(extra, known);
    const list = known.length > 0 && known.length <= 20 ? `known: ${known.join(', ')}` : '';
    return {
      pointer: `${error.instancePath}/${extra}`,
      message: guess
        ? `unknown field: did you mean ${guess}?${list ? ` (${list})` : ''}`
        : `unknown field${list ? ` (${list})` : ''}`,
    };
  }
  if (error.keyword === 'required') {
    const missing = String((error.params as { missingProperty: string }).missingProperty);
    return { pointer: `${error.instancePath}/${missing}`, message: 'is required' };
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues
      .map((v) => JSON.stringify(v))
      .join(', ');
    return { pointer: error.instancePath, message: `must be one of ${allowed}` };
  }
  if (error.keyword === 'type') {
    const types = [(error.params as { type: string | string[] }).type].flat();
    return { pointer: error.instancePath, message: `must be ${types.join(' or ')}` };
  }
  if (
    (error.keyword === 'maximum' || error.keyword === 'minimum') &&
    Math.abs(Number(error.schema)) === Number.MAX_SAFE_INTEGER
  ) {
    // 1e30 is an integer to JSON Schema, but not one a generator can count with exactly.
    return {
      pointer: error.instancePath,
      message: `must be between ${-Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER} (a safe integer)`,
    };
  }
  if (error.keyword === 'const') {
    // Ajv says "must be equal to constant" without the constant.
    return {
      pointer: error.instancePath,
      message: `must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`,
    };
  }
  if (error.keyword === 'minLength') {
    const limit = Number((error.params as { limit: number }).limit);
    return {
      pointer: error.instancePath,
      message: limit === 1 ? 'must not be empty' : `must be at least ${limit} characters`,
    };
  }
  if (error.keyword === 'pattern') {
    // Ajv shows the regular expression; a reader wants the form it stands for.
    const pattern = String((error.params as { pattern: string }).pattern);
    const form = PATTERN_FORMS[pattern];
    return { pointer: error.instancePath, message: form ? `must be ${form}` : `must match ${pattern}` };
  }
  return { pointer: error.instancePath, message: error.message ?? 'is invalid' };
}

/** YAML errors that a line indented one step too far or too little produces. */
const INDENTATION_ERRORS: ReadonlySet<string> = new Set([
  'BLOCK_AS_IMPLICIT_KEY',
  'MULTILINE_IMPLICIT_KEY',
  'BAD_INDENT',
]);

/** What the schemas' patterns stand for, in words. */
const PATTERN_FORMS: Readonly<Record<string, string>> = {
  '^\\d{4}-\\d{2}-\\d{2}$': 'a date written YYYY-MM-DD (e.g. 2027-01-31)',
  '^[0-9a-f]{1,32}$': 'a fingerprint: 1 to 32 lowercase hexadecimal digits, quoted (as querygate prints it)',
  '^[0-9a-f]{64}$': 'a SHA-256 digest: 64 lowercase hexadecimal digits',
  '^/': 'a path starting with / (e.g. /orders/{id})',
  '^https?://': 'an http:// or https:// URL',
  '^https?://[^/]+': 'an http:// or https:// URL with a host (e.g. http://localhost:3000)',
  '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m)?\\s*$': 'a duration: a number with ms, s or m (e.g. 500ms, 10s, 2m)',
};

/** The known name `name` is most likely a typo of: at most two edits away, and fewer than half its length. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  const typed = name.toLowerCase();
  for (const candidate of known) {
    const field = candidate.toLowerCase();
    const distance = editDistance(typed, field);
    // A near miss (`lenght`), or the field's name spelt out (`integer` for `int`).
    const near = distance <= 2 && distance * 2 < candidate.length;
    const spelt = field.length >= 3 && typed.startsWith(field);
    if ((near || spelt) && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/**
 * Names other tools give the parameter generators (Faker, k6, Hypothesis, SQL), by the generator
 * that does the same. Far from the name in spelling (`choice` is 5 edits from `pick`), so the edit
 * distance alone never suggests it.
 */
const GENERATOR_SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  pick: ['choice', 'choices', 'oneof', 'enum', 'select', 'sample', 'random', 'randomchoice', 'elements'],
  int: ['range', 'number', 'integer', 'randint', 'randomint', 'between', 'num'],
  seq: ['sequence', 'serial', 'counter', 'increment', 'series', 'autoincrement', 'incrementing'],
  string: ['text', 'str', 'chars', 'randomstring', 'word'],
  value: ['const', 'constant', 'fixed', 'literal', 'static'],
};

/**
 * The generator that `name` (a synonym, in any case, `_` and `-` ignored) stands for, when the
 * object's known fields are the generators (a scenario's parameter), else undefined.
 */
function synonym(name: string, known: readonly string[]): string | undefined {
  if (!Object.keys(GENERATOR_SYNONYMS).every((generator) => known.includes(generator))) return undefined;
  const typed = name.toLowerCase().replace(/[_-]/g, '');
  return known.find((field) => GENERATOR_SYNONYMS[field]?.includes(typed));
}

/**
 * True when `problems` hold an unknown field of the object at `parent` (a JSON pointer) that is
 * likely a misspelling of `field` (`parmas:` for `params`). What the missing field leaves undone
 * (a placeholder without its generator) then only repeats that problem, and is not reported.
 */
export function misspelt(problems: readonly SchemaProblem[], parent: string, field: string): boolean {
  return problems.some(
    (p) =>
      p.pointer.startsWith(`${parent}/`) &&
      !p.pointer.slice(parent.length + 1).includes('/') &&
      p.message.startsWith(`unknown field: did you mean ${field}?`),
  );
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** One way a value breaks its schema. */
export interface SchemaProblem {
  /** JSON pointer of the offending value, or of the missing or unknown key. */
  readonly pointer: string;
  /** The same as a field name: `statements[0].weight`. */
  readonly field: string;
  readonly message: string;
}

const UNION = new Set(['anyOf', 'oneOf']);
const KIND = new Set(['type', 'enum', 'const']);

/**
 * Ajv's errors as problems, most specific first. An anyOf/oneOf reports every branch; when the
 * value matched a branch's kind (there are errors inside the value), the other branches' "must be
 * string" / "must be one of ..." at the value itself only mislead, and are dropped.
 */
export function schemaProblems(errors: readonly ErrorObject[]): SchemaProblem[] {
  const unions = new Set(errors.filter((e) => UNION.has(e.keyword)).map((e) => e.instancePath));
  const deeper = (path: string) => errors.some((e) => e.instancePath.startsWith(`${path}/`));
  const specific = errors.filter(
    (e) =>
      !UNION.has(e.keyword) &&
      e.keyword !== 'if' &&
      !(KIND.has(e.keyword) && unions.has(e.instancePath) && deeper(e.instancePath)),
  );
  // A union that says what it accepts (its `description`), failed as a whole: one problem.
  const described = new Map(
    errors
      .filter((e) => UNION.has(e.keyword) && !deeper(e.instancePath))
      .flatMap((e) => {
        const description = (e.parentSchema as { description?: string } | undefined)?.description;
        return description ? [[e.instancePath, description] as const] : [];
      }),
  );
  const seen = new Set<string>();
  const out: SchemaProblem[] = [];
  // A typo of a field (`statments:`) also leaves the field missing: the "is required" of that object
  // only repeats what the unknown field's "did you mean" says.
  const typoIn = new Set(
    errors
      .filter((e) => e.keyword === 'additionalProperties')
      .filter((e) => describeError(e).message.includes('did you mean'))
      .map((e) => e.instancePath),
  );
  for (const [pointer, description] of described) {
    seen.add(pointer);
    out.push({ pointer, field: fieldName(pointer), message: `must be ${description}` });
  }
  for (const error of specific.length ? specific : errors) {
    if (described.has(error.instancePath) && seen.has(error.instancePath)) continue;
    if (error.keyword === 'required' && typoIn.has(error.instancePath)) continue;
    const { pointer, message } = describeError(error);
    const key = `${pointer}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer, field: fieldName(pointer), message });
  }
  return out;
}

/** Validates plain data (e.g. a parsed JSON file) against a committed schema; no problem: `[]`. */
export function validateWithSchema(data: unknown, schemaFile: string): SchemaProblem[] {
  const validate = validator(schemaFile);
  return validate(data) ? [] : schemaProblems(validate.errors ?? []);
}

/** A problem in a YAML file, placed at its line and column. */
export interface YamlProblem extends SchemaProblem {
  readonly line: number;
  readonly col: number;
  /** `file:line:col: field: message` */
  readonly text: string;
  /** Lines printed under `text` (the SQL a syntax error is in, with a caret). */
  readonly details?: readonly string[];
  /** The error code when the problem is the first (default: the loader's). */
  readonly code?: InputErrorCode;
}

/**
 * Where the quoted scalar starts whose closing quote is missing (the error is at `end`), or undefined.
 * The parser reports it where the scalar ends, which is the end of the file or of the next lines it
 * swallowed: the quote to fix is at the start.
 */
function unclosedQuoteStart(text: string, code: string, end: number): number | undefined {
  if (code !== 'MISSING_CHAR') return undefined;
  let found: number | undefined;
  const visit = (token: unknown): void => {
    if (found !== undefined || token === null || typeof token !== 'object') return;
    if (Array.isArray(token)) return token.forEach(visit);
    const t = token as { type?: unknown; offset?: unknown; source?: unknown };
    if (
      (t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar') &&
      typeof t.offset === 'number' &&
      typeof t.source === 'string' &&
      t.offset + t.source.length === end
    ) {
      found = t.offset;
      return;
    }
    Object.values(token).forEach(visit);
  };
  for (const token of new Parser().parse(text)) visit(token);
  return found;
}

/**
 * Parses YAML text and validates it without throwing on schema problems (invalid YAML still throws
 * `code`): the data, and every problem with its position. For loaders that add checks of their own
 * and report everything at once.
 */
export function validateYaml(
  text: string,
  where: string,
  schemaFile: string,
  code: InputErrorCode,
): { data: unknown; problems: YamlProblem[]; problemAt: ProblemAt } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    // Every error, once per place: one mistake (an indentation, an unclosed quote) often yields two.
    const lines = [
      ...new Set(
        doc.errors.map((error) => {
          const opened = unclosedQuoteStart(text, error.code, error.pos[0]);
          const pos = lineCounter.linePos(opened ?? error.pos[0]);
          const hint = INDENTATION_ERRORS.has(error.code) ? ' (check the indentation of this line and the next)' : '';
          const message =
            opened !== undefined
              ? `the ${text[opened]}quote that opens here is never closed`
              : error.message.split('\n')[0];
          return `${where}:${pos.line}:${pos.col}: invalid YAML: ${message}${hint}`;
        }),
      ),
    ].filter((line, i, all) => all.findIndex((l) => l.split(': invalid')[0] === line.split(': invalid')[0]) === i);
    throw new InputError(code, lines[0]!, lines.slice(1));
  }
  const data: unknown = doc.toJS();
  const problems = validateWithSchema(data, schemaFile)
    .map((problem): YamlProblem => {
      const path = problem.pointer
        .split('/')
        .slice(1)
        .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
      const pos = positionOf(doc, lineCounter, path, problem.message.startsWith('unknown field'));
      return {
        ...problem,
        line: pos.line,
        col: pos.col,
        text: `${where}:${pos.line}:${pos.col}: ${problem.field}: ${problem.message}`,
      };
    })
    // In file order, as a reader goes through the file.
    .sort(inFileOrder);
  const problemAt: ProblemAt = (path, message, field = fieldName(`/${path.join('/')}`), atKey = false) => {
    const pos = positionOf(doc, lineCounter, path, atKey);
    return {
      pointer: `/${path.join('/')}`,
      field,
      message,
      line: pos.line,
      col: pos.col,
      text: `${where}:${pos.line}:${pos.col}: ${field}: ${message}`,
    };
  };
  return { data, problems, problemAt };
}

/**
 * A loader's own problem at a field path (`['load', 'count']`), named `field` (default: the path's),
 * placed at the field's value, or at its key with `atKey` (a field that is wrong to give at all).
 */
export type ProblemAt = (
  path: readonly (string | number)[],
  message: string,
  field?: string,
  atKey?: boolean,
) => YamlProblem;

/**
 * An error found while checking a field (a setup file that cannot be read, invalid SQL in a
 * statement) as a problem at that field, so that it is listed in file order with the others. `text`
 * is the error's own message when it already names its place (`file:line:column`), else the field's
 * place and name before it.
 */
export function problemFromError(
  problemAt: ProblemAt,
  path: readonly (string | number)[],
  field: string,
  error: InputError,
  placed = false,
): YamlProblem {
  const at = problemAt(path, error.message, field);
  return {
    ...at,
    ...(placed ? { text: error.message } : {}),
    ...(error.details.length > 0 ? { details: error.details } : {}),
    code: error.code as InputErrorCode,
  };
}

/**
 * Throws `code` (or the first problem's own code) with every problem, in file order: the first in
 * the message, the others (and every problem's detail lines) in the details. No problem: returns.
 */
export function throwProblems(problems: readonly YamlProblem[], code: InputErrorCode): void {
  const byText = new Map<string, YamlProblem>();
  for (const p of [...problems].sort(inFileOrder)) if (!byText.has(p.text)) byText.set(p.text, p);
  const [first, ...others] = byText.values();
  if (!first) return;
  throw new InputError(first.code ?? code, first.text, [
    ...(first.details ?? []),
    ...others.flatMap((p) => [p.text, ...(p.details ?? [])]),
  ]);
}

const inFileOrder = (a: YamlProblem, b: YamlProblem) => a.line - b.line || a.col - b.col;

/**
 * Parses YAML text and validates it. `where` is the file name used in messages.
 * Throws `code` with one line per problem (the first in the message, all in details).
 */
export function parseValidatedYaml<T>(
  text: string,
  where: string,
  schemaFile: string,
  code: InputErrorCode,
  checks?: (data: unknown, problemAt: ProblemAt) => readonly YamlProblem[],
): T {
  const { data, problems: schemaProblems, problemAt } = validateYaml(text, where, schemaFile, code);
  // The loader's own checks run on the same data, so that every problem is listed at once, in file
  // order; they must expect data the schema refused.
  throwProblems([...schemaProblems, ...(checks?.(data, problemAt) ?? [])], code);
  return data as T;
}

/**
 * Line and column of a field path: the key when the value is missing or `atKey`, else the value;
 * a path that does not exist points at its nearest parent.
 */
function positionOf(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
  atKey = false,
): { line: number; col: number } {
  const parts = [...path];
  let node = doc.getIn(parts, true) as YamlNode | undefined;
  if (!node || atKey) node = findKeyNode(doc.contents as YamlNode, parts) ?? node;
  while (!node && parts.length > 0) {
    parts.pop();
    node = doc.getIn(parts, true) as YamlNode | undefined;
  }
  return lineCounter.linePos(node?.range?.[0] ?? 0);
}

function findKeyNode(root: YamlNode | undefined, path: readonly (string | number)[]): YamlNode | undefined {
  let node: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === part);
      if (!pair) return undefined;
      if (i === path.length - 1) return pair.key as YamlNode;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part];
    } else return undefined;
  }
  return node as YamlNode;
}

/** True for a file of no YAML value: empty, blank or comments only (invalid YAML is not empty). */
export function isEmptyYaml(text: string): boolean {
  const doc = parseDocument(text);
  return doc.errors.length === 0 && (doc.contents === null || doc.toJS() == null);
}

/** Parses a duration, in ms: a number of seconds (`5`), or a string like `500ms`, `10s`, `2m`. */
export function parseDuration(value: string | number, field: string): number {
  if (typeof value === 'number') return value * 1000;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
  if (!match) {
    throw new InputError(
      'USAGE',
      `${field}: invalid duration "${value}" (a number of seconds, or a number with a unit: e.g. 500ms, 10s, 2m)`,
    );
  }
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000;
}

/**
 * Maps a field path of a YAML text to `where:line:column`, for problems found after validation
 * (a parameter count, a statement kind). A path that does not exist points at its nearest parent.
 */
/** Where a scalar's text begins in its file, and the indentation its later lines carry. */
export interface TextOrigin {
  readonly line: number;
  readonly column: number;
  /** Columns before the text on lines after the first (a block scalar's indentation). */
  readonly indent: number;
  /** Where each character lies, for text whose lines are not the file's (a folded block, a string over several lines). */
  readonly map?: TextMap;
}

/**
 * Where the text of the string at `path` begins in the file, so that a position inside the string
 * (a SQL syntax error) can be named as the file's line and column. Literal blocks (`|`) and strings
 * on one line are the file's text less an indentation; a folded block (`>-`), a string over several
 * lines or one with escapes carries a `map` of where each of its characters is. Undefined for a
 * string whose source does not rebuild to its value (a case `scalarTextMap` does not cover).
 */
export function scalarOrigin(text: string, path: readonly (string | number)[]): TextOrigin | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const node = doc.getIn(path, true) as (YamlNode & { type?: string; value?: unknown }) | undefined;
  if (!node?.range || typeof node.value !== 'string') return undefined;
  const [start, end] = node.range;
  if (node.type === 'BLOCK_LITERAL') {
    // `|` (with its chomping or indentation indicator and any comment), then the lines.
    const body = text.indexOf('\n', start) + 1;
    if (body <= 0) return undefined;
    const first = text.slice(body, end).search(/[^ \n]/);
    if (first < 0) return undefined;
    const pos = lineCounter.linePos(body + first);
    return { line: pos.line, column: pos.col, indent: pos.col - 1 };
  }
  const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
  // A quoted string with escapes is not its source text character for character.
  const verbatim = quoted ? text.slice(start + 1, end - 1) === node.value : node.type === 'PLAIN';
  if (!text.slice(start, end).includes('\n') && verbatim) {
    const pos = lineCounter.linePos(start + (quoted ? 1 : 0));
    return { line: pos.line, column: pos.col, indent: 0 };
  }
  const map = scalarTextMap(text, node, lineCounter);
  if (!map) return undefined;
  const first = map.runs[0]!;
  return { line: first.line, column: first.column, indent: 0, map };
}

export function yamlLocator(text: string, where: string): (path: readonly (string | number)[]) => string {
  const position = yamlPositions(text);
  return (path) => {
    const pos = position(path);
    return `${where}:${pos.line}:${pos.col}`;
  };
}

/** Maps a field path of a YAML text to its line and column (a missing path: its nearest parent). */
export function yamlPositions(text: string): (path: readonly (string | number)[]) => { line: number; col: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  return (path) => positionOf(doc, lineCounter, path);
}
