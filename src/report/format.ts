/** Number and text formatting shared by the human-readable reporters. */
import { FIX_OR, type IndexAdvice } from '../model/finding.js';
import { clip } from '../text.js';
import type { QueryReport } from '../model/report.js';

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(3)} ms`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** A count and its noun, singular for 1: `1 call`, `12 calls`, `12.5k calls`. */
export function formatCountOf(n: number, noun: string, plural = `${noun}s`): string {
  return `${formatCount(n)} ${n === 1 ? noun : plural}`;
}

/**
 * The calls of a run's top-level statements, those that failed included and said apart:
 * `6 calls (3 failed)`. pg_stat_statements counts only the calls that succeeded (`calls`); the
 * replay counts the failed ones (`errors`).
 */
export function formatRunCalls(queries: readonly QueryReport[]): string {
  const top = queries.filter((q) => !q.nested);
  const succeeded = top.reduce((s, q) => s + q.calls, 0);
  const failed = top.reduce((s, q) => s + q.errors, 0);
  return formatCountOf(succeeded + failed, 'call') + (failed > 0 ? ` (${formatCount(failed)} failed)` : '');
}

/**
 * A measured quantity (plan cost, blocks or rows per call) in a sentence: a whole or large number
 * rounded, with thousands separators, a small one to at most two decimals, as rule messages write
 * them: 182504.01 -> `182,504`, 17645.5 -> `17,646`, 19.3 -> `19.3`, 0.125 -> `0.13`.
 */
export function formatQuantity(n: number): string {
  if (Number.isInteger(n) || Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return String(Math.round(n * 100) / 100);
}

/**
 * A relative change as a signed percentage: `+905%`, `-44%`, `+3.2%`, `+12k%`. A change that is not
 * all of the value is never rounded to it: a drop of 99.7% is `-99.7%`, not `-100%`.
 */
export function formatRelative(r: number): string {
  const pct = r * 100;
  const abs = Math.abs(pct);
  if (abs >= 10_000) return `${r >= 0 ? '+' : ''}${(pct / 1000).toFixed(0)}k%`;
  let digits = abs >= 10 ? 0 : 1;
  while (digits < 3 && abs !== 100 && Math.abs(Number(pct.toFixed(digits))) === 100) digits++;
  return `${r >= 0 ? '+' : ''}${pct.toFixed(digits)}%`;
}

/**
 * A ratio of two measures (head over base), after an `x`: two decimals from 1/100 up (`x1.15`,
 * `x0.38`), whole from 100 (`x182`), two significant digits below 1/100 (`x0.0039`): a large
 * speed-up is never `x0.00`.
 */
export function formatRatio(r: number): string {
  if (r === 0 || !Number.isFinite(r)) return String(r);
  if (r >= 100) return r.toFixed(0);
  if (r >= 0.01) return r.toFixed(2);
  return String(Number(r.toPrecision(2)));
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} kB`;
  return `${n} B`;
}

/** A share (0..1) as a percentage: `62%`, `4.5%`; a share short of all (0.997) is `99.7%`, never `100%`. */
export function formatPercent(share: number): string {
  const pct = share * 100;
  let digits = share >= 0.1 ? 0 : 1;
  while (digits < 3 && pct !== 100 && Number(pct.toFixed(digits)) === 100) digits++;
  return `${pct.toFixed(digits)}%`;
}

/**
 * One line of SQL for display: comments before the statement dropped, whitespace collapsed, cut
 * to `max` characters.
 */
export function oneLine(sql: string, max: number): string {
  const flat = sql
    .replace(/^(\s*(--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/))+/, '')
    .replace(/\s+/g, ' ')
    .trim();
  return clip(flat, max);
}

/** One fix of a finding; the validated index carries its advice. */
export interface FixOption {
  /** The fix as the suggestion words it; for the validated index, its SQL (`advice.sql`). */
  readonly text: string;
  readonly advice?: IndexAdvice;
  /** What the suggestion says beside the validated index: how to build it on a partitioned table, a caveat. */
  readonly note?: string;
}

/**
 * A finding's fixes in the order to try them: its suggestion's (`<fix> -- or: <fix>`), the
 * validated index among them with its note (`<index> -- <note>`).
 */
export function fixOptions(f: { readonly advice?: IndexAdvice; readonly suggestion?: string }): FixOption[] {
  const fixes = f.suggestion ? f.suggestion.split(FIX_OR) : [];
  const { advice } = f;
  if (!advice) return fixes.map((text) => ({ text }));
  const at = fixes.findIndex((fix) => fix.startsWith(advice.sql));
  // A suggestion that does not name the index it was given: the index is the fix.
  if (at < 0) return [{ text: advice.sql, advice }];
  return fixes.map((text, i) => {
    if (i !== at) return { text };
    const note = text
      .slice(advice.sql.length)
      .replace(/^\s*--\s*/, '')
      .trim();
    return { text: advice.sql, advice, ...(note ? { note } : {}) };
  });
}

/**
 * Lines of at most `width` characters, broken at spaces; later lines start with `indent` spaces, and
 * the first with `first` (a label such as `fix: `, or spaces). A word longer than a line stays whole.
 */
export function wrapText(text: string, width: number, indent: number, first = ' '.repeat(indent)): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/ +/)) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = ' '.repeat(indent) + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

/**
 * A route's request (`GET /search?q={q}`) to show next to its name, or undefined when the name
 * already ends with it: a default name (`GET /orders/{id}`) or an imported route's
 * (`traffic.har: GET /search?q={q}`) would otherwise be shown twice.
 */
export function routeRequest(r: { readonly method: string; readonly path: string }, name: string): string | undefined {
  const request = `${r.method} ${r.path}`;
  return name.endsWith(request) ? undefined : request;
}

/**
 * Text of many lines fitted to `width`: a longer line wraps at spaces, its later lines indented two
 * more than its own indent. Table lines (box drawing) and lines without room to wrap stay as they are.
 */
export function fitLines(text: string, width: number): string {
  return text
    .split('\n')
    .flatMap((line) => {
      if (line.length <= width || /[│┌└├]/.test(line)) return [line];
      const indent = line.length - line.trimStart().length;
      if (indent + 20 > width) return [line];
      return wrapText(line.trimStart(), width, indent + 2, ' '.repeat(indent));
    })
    .join('\n');
}

/** True for a statement that was called but never completed: nothing of it was measured. */
export function everyCallFailed(q: QueryReport): boolean {
  return q.calls === 0 && q.errors > 0;
}

/** `all 3 calls failed`, `its only call failed`, `1 of 12 calls failed`; '' without errors. */
export function failedCalls(q: QueryReport): string {
  if (q.errors === 0) return '';
  if (everyCallFailed(q)) return q.errors === 1 ? 'its only call failed' : `all ${formatCount(q.errors)} calls failed`;
  return `${formatCount(q.errors)} of ${formatCount(q.calls + q.errors)} calls failed`;
}

/**
 * `1 call cut short by the stop, after 4.2 s`, `2 calls cut short by the stop, longest 31.3 s`; ''
 * without. Not failures: the statement was running when the run was interrupted.
 */
export function cancelledCalls(q: QueryReport): string {
  const cut = q.cancelledAtStop;
  if (!cut) return '';
  const ms = formatMs(cut.longestMs);
  return cut.calls === 1
    ? `1 call cut short by the stop, after ${ms}`
    : `${formatCount(cut.calls)} calls cut short by the stop, longest ${ms}`;
}

/**
 * True for a statement of which no call completed: every call failed, or the one running was cut
 * short when the run stopped. It has no database time.
 */
export function nothingMeasured(q: QueryReport): boolean {
  return q.calls === 0 && (q.errors > 0 || q.cancelledAtStop !== undefined);
}

/**
 * The statements a summary table shows: those of which no call completed first, whatever `top`
 * (they have no database time, so by rank they came last, read as the cheapest, and fell off the
 * table), then the others by database time, `top` rows in all.
 */
export function tableRows<Q extends QueryReport>(queries: readonly Q[], top: number): Q[] {
  const first = queries.filter(nothingMeasured);
  const others = queries.filter((q) => !nothingMeasured(q));
  return [...first, ...others.slice(0, Math.max(0, top - first.length))];
}

/** Where a statement that ran inside a function ran: `in retail.customer_value()`, or `in a function`. */
export function nestedPlace(query: Pick<QueryReport, 'nested'>): string {
  const names = query.nested?.functions ?? [];
  if (names.length === 0) return 'in a function';
  return `in ${names[0]}()${names.length > 1 ? ` (and ${names.length - 1} more)` : ''}`;
}

/** The mark before a statement that ran inside a function (`↳ in retail.customer_value(): `), else ''. */
export function nestedMark(query: Pick<QueryReport, 'nested'>): string {
  return query.nested ? `↳ ${nestedPlace(query)}: ` : '';
}

/** A row of a summary's statements table. */
export interface SummaryRow {
  readonly query: QueryReport;
  /** Its index in the report's `queries`: its rank, which the findings refer to (`#3`). */
  readonly index: number;
  /** For a statement that ran inside a function: the index of the statement it is shown under. */
  readonly under?: number;
}

/** Statements nested under one caller in a summary; the JSON report has them all. */
const NESTED_PER_CALLER = 3;

/**
 * The rows of a summary's statements table: the top-level statements `tableRows` shows (those of
 * which no call completed first, then the costliest), each followed by the costliest statements that ran
 * inside its functions (`nested`, three at most, each under the first statement by rank that runs
 * it); then as many nested statements whose caller is not in the report.
 */
export function summaryRows(queries: readonly QueryReport[], top: number): SummaryRow[] {
  const index = new Map(queries.map((q, i) => [q, i]));
  const sent = queries.filter((q) => !q.nested);
  const nested = queries.filter((q) => q.nested);
  const callerOf = new Map<QueryReport, QueryReport>();
  for (const n of nested) {
    const caller = sent.find((s) => n.nested!.callers.includes(s.fingerprint));
    if (caller) callerOf.set(n, caller);
  }
  const rows: SummaryRow[] = [];
  for (const q of tableRows(sent, top)) {
    rows.push({ query: q, index: index.get(q)! });
    for (const n of nested.filter((n) => callerOf.get(n) === q).slice(0, NESTED_PER_CALLER))
      rows.push({ query: n, index: index.get(n)!, under: index.get(q)! });
  }
  for (const n of nested.filter((n) => !callerOf.has(n)).slice(0, NESTED_PER_CALLER))
    rows.push({ query: n, index: index.get(n)! });
  return rows;
}
