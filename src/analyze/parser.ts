/**
 * The only module that imports `libpg-query` (PostgreSQL's own parser compiled to WASM): statement
 * splitting, fingerprints, statement kinds and parse trees. Never regexes over SQL.
 */
import { createHash } from 'node:crypto';
import * as pgQuery from 'libpg-query';
import { InputError } from '../errors.js';
import { clip } from '../text.js';
import type { StatementKind } from '../model/report.js';
import type { TextMap } from '../model/workload.js';

let loaded: Promise<void> | undefined;

/** Loads the WASM parser once; every other function here needs it loaded. */
export function loadParser(): Promise<void> {
  loaded ??= pgQuery.loadModule();
  return loaded;
}

/** One statement of a SQL file, with where it starts. */
export interface SqlStatement {
  readonly sql: string;
  /** 1-based line of the statement's first keyword (after the comments that belong to it). */
  readonly line: number;
  /** 1-based column of that keyword. */
  readonly column: number;
  /** Where `sql` begins in the text (its leading comments included): offsets into `sql` count from here. */
  readonly start: { readonly line: number; readonly column: number };
}

/** Comments and white space at the start of a statement's text. */
const LEADING_COMMENTS = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;

/** Returns the 1-based line and column of a 0-based character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, offset));
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

/**
 * Formats the line of `text` holding `offset`, with a caret under the offending character. Lines are
 * numbered from `firstLine`: the line of the file where `text` begins.
 */
export function caretLines(text: string, offset: number, firstLine = 1): string[] {
  const { line, column } = lineAndColumn(text, offset);
  return caretUnder(line + firstLine - 1, text.split('\n')[line - 1] ?? '', column - 1);
}

/** `  12 | source` and a caret under its character `index`. */
function caretUnder(line: number, source: string, index: number): string[] {
  const label = String(line);
  // A terminal gives East Asian wide characters two cells: the caret counts cells, not characters.
  const cells = [...source.slice(0, Math.max(0, index))].reduce((n, ch) => n + (WIDE.test(ch) ? 2 : 1), 0);
  return [`  ${label} | ${source}`, `  ${' '.repeat(label.length)} | ${' '.repeat(cells)}^`];
}

/**
 * The file's line holding `offset` of a statement's text, with a caret under it, given where the
 * text begins: the text's own line for text whose lines are the file's (a SQL file, a `|` block),
 * the file's line for text whose lines were joined (a folded `>-` block).
 */
export function caretLinesInFile(text: string, offset: number, start: TextStart): string[] {
  if (!start.map) return caretLines(text, offset, start.line);
  const { line, column } = positionInFile(text, offset, start);
  const k = line - start.map.line;
  return caretUnder(line, start.map.lines[k] ?? '', column - (start.map.columns[k] ?? 1));
}

/** Characters a terminal shows two cells wide (CJK, Hangul, full-width forms, most emoji). */
const WIDE =
  /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1F9FF}\u{20000}-\u{3FFFD}]/u;

/**
 * Where a statement's text begins in its file: its line and column, the indentation of its later
 * lines (a `|` block's), or, for text whose lines are not the file's, where each character lies.
 */
export interface TextStart {
  readonly line: number;
  readonly column: number;
  readonly indent?: number;
  readonly map?: TextMap;
}

/** Where `offset` into a statement's text lies in its file, given where the text begins. */
export function positionInFile(text: string, offset: number, start: TextStart): { line: number; column: number } {
  if (start.map) {
    const runs = start.map.runs;
    let run = runs[0]!;
    for (const r of runs) {
      if (r.offset > offset) break;
      run = r;
    }
    return { line: run.line, column: run.column + Math.max(0, offset - run.offset) };
  }
  const { line, column } = lineAndColumn(text, offset);
  return {
    line: start.line + line - 1,
    column: line === 1 ? start.column + column - 1 : (start.indent ?? 0) + column,
  };
}

/**
 * Where a statement's first token lies in its file, given where its text (leading comments
 * included) begins: what an error without a position of its own points at.
 */
export function statementPosition(text: string, start: TextStart): { line: number; column: number } {
  return positionInFile(text, LEADING_COMMENTS.exec(text)?.[0].length ?? 0, start);
}

/**
 * SQL embedded in another file (a scenario's `sql:` field): the file, the field, where the text
 * begins; or, for text that cannot be placed character by character, the line of its field.
 */
export interface EmbeddedSql {
  readonly file: string;
  readonly field: string;
  readonly origin?: TextStart;
  readonly line?: number;
}

/** Where and why the parser refused a text. */
interface ParseFailure {
  /** Where the error is shown: 0-based character offset into the text. */
  readonly offset: number;
  /** Where the parser stopped (its cursor), which may differ from `offset` (COPY data). */
  readonly cursor: number;
  readonly message: string;
  readonly kind: 'sql' | 'copy' | 'meta';
}

function parseFailure(error: unknown, text: string): ParseFailure {
  const details = (error as { sqlDetails?: { message: string; cursorPosition: number } }).sqlDetails;
  const parserMessage = details?.message ?? (error instanceof Error ? error.message : String(error));
  // cursorPosition is a 0-based character offset into the parsed text.
  const cursor = details?.cursorPosition ?? 0;
  const psql = psqlOnly(text, cursor);
  // An error at the end of the input (an unclosed parenthesis) is placed right after the text's
  // last character, not past the blank lines that end it: in a scenario's `sql: |` block those end
  // on the next item's line.
  const offset = Math.min(psql?.offset ?? cursor, text.trimEnd().length);
  return {
    offset,
    cursor,
    message: psql?.message ?? `invalid SQL: ${parserMessage}`,
    kind: psql ? (psql.message === COPY_FROM_STDIN ? 'copy' : 'meta') : 'sql',
  };
}

/** The error for `failure`; the caret is drawn under the line of `shown` (the text as written). */
function parseError(
  error: unknown,
  text: string,
  where: string | EmbeddedSql,
  failure = parseFailure(error, text),
  shown = text,
): InputError {
  const { offset, message } = failure;
  if (typeof where !== 'string' && !where.origin) {
    const { line, column } = lineAndColumn(text, offset);
    return new InputError(
      'SQL_PARSE_FAILED',
      `${where.file}${where.line !== undefined ? `:${where.line}` : ''}: ${where.field}: ${message} (line ${line}, column ${column} of the statement)`,
      caretLines(shown, offset),
    );
  }
  if (typeof where !== 'string') {
    const { line, column } = positionInFile(text, offset, where.origin!);
    return new InputError(
      'SQL_PARSE_FAILED',
      `${where.file}:${line}:${column}: ${where.field}: ${message}`,
      caretLinesInFile(shown, offset, where.origin!),
    );
  }
  const { line, column } = lineAndColumn(text, offset);
  return new InputError('SQL_PARSE_FAILED', `${where}:${line}:${column}: ${message}`, caretLines(shown, offset));
}

/** The message for the data rows of a `COPY ... FROM STDIN` in a file. */
export const COPY_FROM_STDIN =
  'COPY ... FROM STDIN with inline data is not supported: use INSERT, or COPY FROM a file the server can read';

/**
 * What psql would take but the server does not, at the parser's error: a meta-command (`\set`,
 * `\connect`, `\.`), or the data rows of a `COPY ... FROM STDIN` (pg_dump's format), which psql
 * sends over the COPY protocol. querygate sends files to the server statement by statement, so
 * both are syntax errors there; saying so beats "syntax error at or near".
 */
function psqlOnly(text: string, errorOffset: number): { offset: number; message: string } | undefined {
  const lineStart = text.lastIndexOf('\n', errorOffset - 1) + 1;
  // The statements before the failing line parse, and the last is COPY FROM STDIN: its data follows.
  const before = text.slice(0, lineStart);
  const last = before.trim() ? tryParse(before)?.stmts?.at(-1) : undefined;
  const copy = (last?.stmt as { CopyStmt?: { is_from?: boolean; filename?: string; is_program?: boolean } })?.CopyStmt;
  if (copy?.is_from && !copy.filename && !copy.is_program) {
    const start = Buffer.from(before, 'utf8')
      .subarray(0, last?.stmt_location ?? 0)
      .toString('utf8').length;
    return {
      offset: start + Math.max(0, before.slice(start).search(/\S/)),
      message: COPY_FROM_STDIN,
    };
  }
  const meta = /^\\(?:[a-zA-Z?!]+|\.)/.exec(text.slice(errorOffset));
  if (meta) {
    return {
      offset: errorOffset,
      message: `psql meta-command ${meta[0]} is not SQL: querygate runs SQL files through the server, not psql; remove it`,
    };
  }
  return undefined;
}

/**
 * Splits a SQL script into statements with the real parser (so `;` inside strings, dollar quotes and
 * comments is handled). Throws SQL_PARSE_FAILED naming `where:line:column` on invalid SQL.
 */
export function splitStatements(text: string, where: string | EmbeddedSql = 'SQL'): SqlStatement[] {
  let result: pgQuery.ParseResult;
  try {
    result = pgQuery.parseSync(text);
  } catch (error) {
    throw parseError(error, text, where);
  }
  return statementsOf(result, text);
}

/** A syntax error of a file, with its line and column (to list it in file order with other problems). */
export interface SqlSyntaxError {
  readonly error: InputError;
  readonly line: number;
  readonly column: number;
  /** The data rows of a `COPY ... FROM STDIN` (the error's message is `COPY_FROM_STDIN`). */
  readonly copy: boolean;
}

/**
 * Splits a SQL file as `splitStatements` does, without stopping at its first syntax error: the
 * statement that holds one is set aside (from the `;` that ends the statement before it to the next
 * `;` the scanner finds, or the line of a psql meta-command) and the rest is parsed again, so that
 * one pass finds every syntax error and every statement around them. After an error the scanner
 * cannot get past (an unterminated quoted string, which runs to the end of the file) or the data
 * rows of a COPY FROM STDIN, only what comes before it is split.
 */
export function splitStatementsRecovering(
  text: string,
  where: string,
): { statements: SqlStatement[]; errors: SqlSyntaxError[] } {
  const errors: SqlSyntaxError[] = [];
  // Statements set aside are blanked out, line breaks kept: every other offset, line and column
  // stays what it is in the file.
  let current = text;
  for (;;) {
    let result: pgQuery.ParseResult;
    try {
      result = pgQuery.parseSync(current);
    } catch (error) {
      const failure = parseFailure(error, current);
      const { line, column } = lineAndColumn(current, failure.offset);
      errors.push({
        error: parseError(error, current, where, failure, text),
        line,
        column,
        copy: failure.kind === 'copy',
      });
      const region = failedStatement(current, failure);
      const blanked = blank(current, region.start, region.end);
      // Nothing left to set aside (never expected): stop with what was found.
      if (blanked === current) return { statements: [], errors };
      current = blanked;
      continue;
    }
    return { statements: statementsOf(result, current), errors };
  }
}

/** `text` with the characters in [start, end) replaced by spaces, line breaks kept. */
function blank(text: string, start: number, end: number): string {
  return text.slice(0, start) + text.slice(start, end).replace(/[^\n]/g, ' ') + text.slice(end);
}

/**
 * The part of `text` to set aside for a syntax error: the statement that holds it, from the end of
 * the statement before it to the `;` after the error (kept: it ends an empty statement), or to the
 * end of the text when the scanner cannot get past the error or what follows is COPY data.
 */
function failedStatement(text: string, failure: ParseFailure): { start: number; end: number } {
  if (failure.kind === 'meta') {
    // A meta-command takes the rest of its line.
    const eol = text.indexOf('\n', failure.cursor);
    return { start: failure.cursor, end: eol === -1 ? text.length : eol };
  }
  const at = Math.min(failure.offset, failure.cursor);
  let before: readonly number[];
  try {
    // What precedes the error scans: the scanner would have failed there first.
    before = semicolons(text.slice(0, at));
  } catch {
    before = [];
  }
  const start = before.length > 0 ? before[before.length - 1]! + 1 : 0;
  const end = failure.kind === 'sql' ? semicolonAfter(text, start, failure.cursor) : undefined;
  return { start, end: end ?? text.length };
}

/** Character offsets of the `;` tokens of `source` (not those in strings or comments). */
function semicolons(source: string): number[] {
  const bytes = Buffer.from(source, 'utf8');
  // Token locations are byte offsets.
  return pgQuery
    .scanSync(source)
    .tokens.filter((t) => t.tokenName === 'ASCII_59')
    .map((t) => bytes.subarray(0, t.start).toString('utf8').length);
}

/**
 * The first `;` at or after `cursor` that ends a statement begun at `from`: the scanner reads the
 * text from there to it as tokens, the last of them that `;` (not one in a string or a comment).
 * Undefined when none does, as after an unterminated string, which runs to the end of the text.
 * Only the text up to each candidate is scanned: a later statement may hold what the scanner refuses.
 */
function semicolonAfter(text: string, from: number, cursor: number): number | undefined {
  let tries = 0;
  for (let i = text.indexOf(';', cursor); i !== -1 && tries < 1000; i = text.indexOf(';', i + 1), tries++) {
    try {
      const found = semicolons(text.slice(from, i + 1));
      if (found.at(-1) === i - from) return i;
    } catch {
      // Inside a string or comment the scanner has not closed yet: try the next one.
    }
  }
  return undefined;
}

/** The statements of a parsed text, each with its own leading comments and where it begins. */
function statementsOf(result: pgQuery.ParseResult, text: string): SqlStatement[] {
  const bytes = Buffer.from(text, 'utf8');
  const position = textPositions(text, bytes);
  const statements: SqlStatement[] = [];
  let previousEnd = 0;
  for (const raw of result.stmts ?? []) {
    // Locations are byte offsets into the UTF-8 text; the statement's location is its first token.
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
    // Comments between the previous statement and this one belong to this one (they may hold a
    // `querygate-ignore` directive), so the text starts right after the previous semicolon, or after
    // the last of the empty statements (`;;`) in between.
    const from = afterEmptyStatements(bytes, Math.min(start, previousEnd), start);
    previousEnd = end + 1;
    const sql = bytes.subarray(from, end).toString('utf8').trim();
    if (!sql) continue;
    const begins = position(from); // before position(start): offsets are asked in increasing order
    const keyword = position(start);
    statements.push({ sql, line: keyword.line, column: keyword.column, start: begins });
  }
  return statements;
}

/**
 * The line and column of the first non-blank character at or after each byte offset, for offsets
 * asked in increasing order: one pass over the text in all, so that a file of thousands of
 * statements is split in linear time.
 */
function textPositions(text: string, bytes: Buffer): (byteOffset: number) => { line: number; column: number } {
  let byte = 0;
  let char = 0;
  let line = 1;
  let lineStart = 0;
  const blank = /\S/g;
  return (byteOffset) => {
    if (byteOffset > byte) {
      const next = char + bytes.subarray(byte, byteOffset).toString('utf8').length;
      for (let i = text.indexOf('\n', char); i !== -1 && i < next; i = text.indexOf('\n', i + 1)) {
        line++;
        lineStart = i + 1;
      }
      byte = byteOffset;
      char = next;
    }
    blank.lastIndex = char;
    const at = blank.exec(text)?.index ?? char;
    let l = line;
    let ls = lineStart;
    for (let i = text.indexOf('\n', char); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) {
      l++;
      ls = i + 1;
    }
    return { line: l, column: at - ls + 1 };
  };
}

/**
 * Where a statement's text begins: after the last `;` between `from` and the statement's first
 * token at `start` (only blanks, comments and the semicolons of empty statements lie there).
 */
function afterEmptyStatements(bytes: Buffer, from: number, start: number): number {
  let begin = from;
  let i = from;
  while (i < start) {
    const c = bytes[i]!;
    if (c === 0x2d /* - */ && bytes[i + 1] === 0x2d) {
      const eol = bytes.indexOf(0x0a, i);
      i = eol === -1 || eol > start ? start : eol + 1;
    } else if (c === 0x2f /* / */ && bytes[i + 1] === 0x2a /* * */) {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      i += 2;
      while (i < start && depth > 0) {
        if (bytes[i] === 0x2f && bytes[i + 1] === 0x2a) {
          depth++;
          i += 2;
        } else if (bytes[i] === 0x2a && bytes[i + 1] === 0x2f) {
          depth--;
          i += 2;
        } else i++;
      }
    } else {
      if (c === 0x3b /* ; */) begin = i + 1;
      i++;
    }
  }
  return begin;
}

/** Parses one statement; throws SQL_PARSE_FAILED naming `where`. */
export function parseStatement(sql: string, where = 'SQL'): pgQuery.ParseResult {
  try {
    return pgQuery.parseSync(sql);
  } catch (error) {
    throw parseError(error, sql, where);
  }
}

/** Parses without throwing: undefined for text the parser rejects (e.g. a truncated query text). */
export function tryParse(sql: string): pgQuery.ParseResult | undefined {
  try {
    return pgQuery.parseSync(sql);
  } catch {
    return undefined;
  }
}

/**
 * libpg-query fingerprint: the same for the same statement shape whatever its constants, list
 * lengths, or the OIDs of the objects it names, so it matches across databases and branches.
 * Text the parser rejects falls back to a hash of its whitespace-normalized form.
 *
 * By design it takes `x = $1`, `x = ANY($1)` and `x IN ($1, $2, ...)` for one shape (an IN-list of
 * any length, or an ORM switching between IN and ANY, stays one statement), where
 * pg_stat_statements gives `= $1` and `= ANY($1)` two queryids. So an N+1 lookup and its batched
 * form are one statement here: `compare` and budgets judge it per request when one request runs it
 * fewer times, since one call of the batched form does the work of many.
 */
export function fingerprintStatement(sql: string): string {
  try {
    // Schema names are not part of the fingerprint: `app.items` and `public.items` are one statement,
    // as pg_stat_statements counts them on PostgreSQL 18.
    return pgQuery.fingerprintSync(sql);
  } catch {
    return 'x' + createHash('sha1').update(sql.replace(/\s+/g, ' ').trim()).digest('hex').slice(0, 15);
  }
}

/** Replaces constants with $n, as pg_stat_statements does. */
export function normalizeStatement(sql: string): string {
  try {
    return pgQuery.normalizeSync(sql);
  } catch {
    return sql;
  }
}

const KIND_BY_NODE: Readonly<Record<string, StatementKind>> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
};

/** The statement's kind from its parse tree; 'other' for text the parser rejects. */
export function statementKind(sql: string): StatementKind {
  const tree = tryParse(sql);
  const node = tree?.stmts?.[0]?.stmt;
  if (!node) return 'other';
  const key = Object.keys(node)[0] ?? '';
  return KIND_BY_NODE[key] ?? 'utility';
}

const REPLAYED = 'only SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES and TABLE are replayed';

/**
 * Why a workload statement cannot be replayed and measured, or undefined when it can. Each
 * statement is replayed on its own, many times over several connections, and explained; utility
 * statements (transaction control, settings, DDL, maintenance) are not traffic to measure.
 */
export function notReplayable(sql: string): string | undefined {
  const node = tryParse(sql)?.stmts?.[0]?.stmt;
  const key = node ? (Object.keys(node)[0] ?? '') : '';
  const into = key === 'SelectStmt' ? selectInto(node) : undefined;
  if (into) {
    const [option, table] =
      into.persistence === 't'
        ? ['TEMP ', 'a temporary table']
        : into.persistence === 'u'
          ? ['UNLOGGED ', 'an unlogged table']
          : ['', 'a table'];
    return (
      `SELECT ... INTO ${option}${into.name} creates ${table} (it is CREATE ${option}TABLE AS), so it is not a ` +
      `query to measure (${REPLAYED}): remove INTO ${option}${into.name} to measure the query, or move the ` +
      'statement to a setup file (--schema/--seed, or setup in a scenario)'
    );
  }
  if (!node || key in KIND_BY_NODE) return undefined;
  const keyword =
    /^[A-Za-z]+/.exec(sql.slice(LEADING_COMMENTS.exec(sql)?.[0].length ?? 0))?.[0].toUpperCase() ?? 'this statement';
  switch (key) {
    case 'TransactionStmt':
      return (
        `${keyword} cannot be replayed: every statement is replayed on its own, many times over several ` +
        'connections, so transaction control would not hold; remove it (on an external database, every ' +
        'statement already runs in a rolled-back transaction unless --allow-writes)'
      );
    case 'ExplainStmt':
      return 'EXPLAIN is not replayed: querygate explains every statement itself; keep only the statement';
    case 'CopyStmt':
      return `COPY is not replayed (${REPLAYED}): load data with a seed file (--seed, or setup.seed in a scenario)`;
    case 'VariableSetStmt':
    case 'VariableShowStmt':
      return (
        `${keyword} is a session setting, not a query to measure: to replay the workload with a setting, ` +
        "put ALTER ROLE CURRENT_USER SET name = 'value' in a setup file"
      );
    default:
      return (
        `${keyword} is not a query to measure (${REPLAYED}): move schema changes and maintenance to setup ` +
        'files (--schema/--seed, or setup in a scenario)'
      );
  }
}

/**
 * The table a `SELECT ... INTO table` creates, wherever the INTO is in the tree: PostgreSQL runs a
 * top-level SELECT with INTO (on the leftmost branch of a UNION too) as CREATE TABLE AS, and refuses
 * it elsewhere. `persistence` is the parser's: `p` permanent, `u` unlogged, `t` temporary.
 */
function selectInto(node: unknown): { name: string; persistence: string } | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = selectInto(item);
      if (found) return found;
    }
    return undefined;
  }
  if (!node || typeof node !== 'object') return undefined;
  const rel = (node as { intoClause?: { rel?: { schemaname?: string; relname?: string; relpersistence?: string } } })
    .intoClause?.rel;
  if (rel?.relname) {
    const name = [rel.schemaname, rel.relname]
      .filter((part): part is string => part !== undefined)
      .map(quoteIdentifier)
      .join('.');
    return { name, persistence: rel.relpersistence ?? 'p' };
  }
  for (const value of Object.values(node)) {
    const found = selectInto(value);
    if (found) return found;
  }
  return undefined;
}

/** True for statements that change data: INSERT, UPDATE, DELETE, MERGE, or a SELECT with a data-modifying CTE. */
export function isWrite(sql: string): boolean {
  const kind = statementKind(sql);
  if (kind === 'insert' || kind === 'update' || kind === 'delete' || kind === 'merge') return true;
  if (kind !== 'select') return false;
  const tree = tryParse(sql);
  const ctes = (tree?.stmts?.[0]?.stmt as { SelectStmt?: { withClause?: { ctes?: unknown[] } } } | undefined)
    ?.SelectStmt?.withClause?.ctes;
  return (ctes ?? []).some((cte) => {
    const query = (cte as { CommonTableExpr?: { ctequery?: Record<string, unknown> } }).CommonTableExpr?.ctequery ?? {};
    return ['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'].some((k) => k in query);
  });
}

/**
 * The statement inside `PREPARE name [(types)] AS <statement>`, or the text unchanged.
 * pg_stat_statements files a prepared statement's executions under the PREPARE's text.
 */
export function unwrapPrepare(sql: string): string {
  let tokens: pgQuery.ScanToken[];
  try {
    tokens = pgQuery.scanSync(sql).tokens;
  } catch {
    return sql;
  }
  if (tokens[0]?.text.toUpperCase() !== 'PREPARE') return sql;
  let depth = 0;
  for (const token of tokens.slice(2)) {
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    else if (depth === 0 && token.text.toUpperCase() === 'AS') {
      return Buffer.from(sql, 'utf8').subarray(token.end).toString('utf8').trim();
    }
  }
  return sql;
}

/** A comment in the statement text, found by PostgreSQL's own scanner. */
export function statementComments(sql: string): string[] {
  try {
    return pgQuery
      .scanSync(sql)
      .tokens.filter((t) => t.tokenName === 'SQL_COMMENT' || t.tokenName === 'C_COMMENT')
      .map((t) => t.text);
  } catch {
    return [];
  }
}

/**
 * A statement's name from its leading comment (`-- orders of a customer` or `/* ... *\/` before its
 * first keyword), whitespace collapsed and clipped to 60 characters; a `querygate-ignore` directive
 * is not a name. Undefined when there is none. A plain SQL workload's statement is named so (else
 * `file:line`), and `budget init` names its entry so: one name everywhere.
 */
export function statementNameOf(sql: string): string | undefined {
  let tokens: { tokenName: string; text: string }[];
  try {
    tokens = pgQuery.scanSync(sql).tokens;
  } catch {
    return undefined;
  }
  for (const token of tokens) {
    if (token.tokenName !== 'SQL_COMMENT' && token.tokenName !== 'C_COMMENT') return undefined;
    const body = (token.tokenName === 'SQL_COMMENT' ? token.text.slice(2) : token.text.slice(2, -2))
      .replace(/\s+/g, ' ')
      .trim();
    if (body === '' || body.startsWith('querygate-ignore')) continue;
    return clip(body, 60);
  }
  return undefined;
}

/** A token of PostgreSQL's scanner; `start`/`end` are byte offsets into the UTF-8 text. */
export interface SqlToken {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/** The tokens of `sql` without comments (empty for text the scanner rejects). */
export function scanTokens(sql: string): SqlToken[] {
  try {
    return pgQuery
      .scanSync(sql)
      .tokens.filter((t) => t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT')
      .map((t) => ({ text: t.text, start: t.start, end: t.end }));
  } catch {
    return [];
  }
}

/**
 * Quotes an identifier the way PostgreSQL's quote_ident() does: bare when it is lower case and not
 * a keyword (unreserved keywords excepted), else in double quotes.
 */
export function quoteIdentifier(name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name)) {
    let kind = 'NO_KEYWORD';
    try {
      kind = pgQuery.scanSync(name).tokens[0]?.keywordName ?? 'NO_KEYWORD';
    } catch {
      kind = 'UNKNOWN';
    }
    if (kind === 'NO_KEYWORD' || kind === 'UNRESERVED_KEYWORD') return name;
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Rewrites typed literals whose value pg_stat_statements replaced with a parameter into casts:
 * `interval $5` -> `$5::interval`. The normalized text parses, but the server rejects a parameter
 * in that position, so such a statement could not be explained.
 */
export function castTypedParams(sql: string): string {
  const tree = tryParse(sql);
  if (!tree) return sql;
  const edits: { start: number; end: number; param: number; type: string }[] = [];
  const bytes = Buffer.from(sql, 'utf8');
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const cast = (
      node as {
        TypeCast?: { arg?: { ParamRef?: { number: number; location: number } }; typeName?: { location?: number } };
      }
    ).TypeCast;
    const param = cast?.arg?.ParamRef;
    const typeAt = cast?.typeName?.location;
    // `type $n` (prefix form): the type name comes before the parameter; in `$n::type` it follows.
    if (param && typeAt !== undefined && typeAt >= 0 && typeAt < param.location) {
      const type = bytes.subarray(typeAt, param.location).toString('utf8').trim();
      const end = param.location + `$${param.number}`.length;
      edits.push({ start: typeAt, end, param: param.number, type });
    }
    Object.values(node).forEach(visit);
  };
  visit(tree.stmts);
  if (edits.length === 0) return sql;
  let out = bytes;
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    out = Buffer.concat([
      out.subarray(0, edit.start),
      Buffer.from(`$${edit.param}::${edit.type}`),
      out.subarray(edit.end),
    ]);
  }
  return out.toString('utf8');
}

/** Arithmetic operators, whose operands PostgreSQL cannot resolve when they are all of unknown type. */
const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '^']);

interface ParamSite {
  readonly number: number;
  /** Byte offset of `$n`. */
  readonly location: number;
}

/**
 * The untyped parameters that are the only operands of arithmetic (`$1 + $2`, `- $3`, `$1 * ($2 + $3)`).
 * pg_stat_statements replaces every constant with a parameter: `id < 10 + 5` becomes `id < $1 + $2`,
 * and where the constants had types (integer literals), the parameters have none, so planning the
 * text fails with `operator is not unique: unknown + unknown`. Each such expression is one the server
 * cannot type without help; an operand with a type (a column, a cast, a constant) resolves it.
 */
export function arithmeticParamSites(sql: string): ParamSite[] {
  const tree = tryParse(sql);
  if (!tree) return [];
  const sites: ParamSite[] = [];
  // The parameters of an expression made only of untyped parameters and arithmetic; undefined otherwise.
  const untyped = (node: unknown): ParamSite[] | undefined => {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return undefined;
    const record = node as Record<string, unknown>;
    const param = record.ParamRef as { number?: number; location?: number } | undefined;
    if (param) {
      return typeof param.number === 'number' && typeof param.location === 'number'
        ? [{ number: param.number, location: param.location }]
        : undefined;
    }
    const expr = record.A_Expr as { kind?: string; name?: unknown[]; lexpr?: unknown; rexpr?: unknown } | undefined;
    if (!expr || expr.kind !== 'AEXPR_OP' || expr.name?.length !== 1) return undefined;
    const operator = (expr.name[0] as { String?: { sval?: string } }).String?.sval;
    if (!operator || !ARITHMETIC.has(operator)) return undefined;
    const right = untyped(expr.rexpr);
    if (!right) return undefined;
    if (expr.lexpr === undefined) return right;
    const left = untyped(expr.lexpr);
    return left ? [...left, ...right] : undefined;
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const found = 'A_Expr' in node ? untyped(node) : undefined;
    if (found) {
      sites.push(...found);
      return;
    }
    Object.values(node).forEach(visit);
  };
  visit(tree.stmts);
  return sites;
}

/**
 * The untyped occurrences (not already under a cast) of parameter `number`: where PostgreSQL could
 * not determine its type (`SELECT $1 AS label`, from `SELECT 'x' AS label`), one occurrence cast gives it one.
 */
export function untypedParamSites(sql: string, number: number): ParamSite[] {
  const tree = tryParse(sql);
  if (!tree) return [];
  const sites: ParamSite[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (record.TypeCast) return;
    const param = record.ParamRef as { number?: number; location?: number } | undefined;
    if (param?.number === number && typeof param.location === 'number') {
      sites.push({ number, location: param.location });
      return;
    }
    Object.values(record).forEach(visit);
  };
  visit(tree.stmts);
  return sites;
}

/** `sql` with each parameter at `sites` cast to `type` (`$1` -> `$1::integer`). */
export function castParamsAt(sql: string, sites: readonly ParamSite[], type: string): string {
  let out = Buffer.from(sql, 'utf8');
  for (const site of [...sites].sort((a, b) => b.location - a.location)) {
    const end = site.location + `$${site.number}`.length;
    out = Buffer.concat([out.subarray(0, end), Buffer.from(`::${type}`), out.subarray(end)]);
  }
  return out.toString('utf8');
}

/**
 * Parses a PL/pgSQL function's definition (`CREATE FUNCTION ... LANGUAGE plpgsql AS ...`, as
 * `pg_get_functiondef` gives it) with PL/pgSQL's own parser: its variables with their declared types,
 * and every statement and expression of its body (`PLpgSQL_expr.query`). Undefined when it does not
 * parse.
 */
export function parsePlpgsql(definition: string): unknown {
  try {
    return pgQuery.parsePlPgSQLSync(definition);
  } catch {
    return undefined;
  }
}

/**
 * A PL/pgSQL expression or assignment as pg_stat_statements records it when it runs a query
 * (`EXISTS (SELECT ...)` of an IF, `v := (SELECT ...)`), as the statement PL/pgSQL runs for it:
 * `SELECT <expression>`. Undefined when the text is a statement already, or neither.
 */
export function expressionAsStatement(text: string): string | undefined {
  if (tryParse(text)) return undefined;
  // An expression (also an assignment written with `=`, which reads as a comparison here).
  if (tryParse(`SELECT ${text}`)) return `SELECT ${text.trim()}`;
  // `target := expression`: a variable, a record's field, an array element (`r.total[1] :=`).
  const tokens = scanTokens(text);
  const assign = tokens.findIndex((t) => t.text === ':=');
  if (assign <= 0 || !tokens.slice(0, assign).every((t) => /^[\w$".[\]]+$/u.test(t.text))) return undefined;
  const expression = Buffer.from(text, 'utf8').subarray(tokens[assign]!.end).toString('utf8').trim();
  const statement = `SELECT ${expression}`;
  return expression !== '' && tryParse(statement) ? statement : undefined;
}

export type { ParseResult, Node } from 'libpg-query';
