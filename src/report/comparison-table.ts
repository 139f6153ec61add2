/** The terminal rendering of a comparison: verdict, a table of changed statements, then the reasons and plan diffs. */
import Table from 'cli-table3';
import { renderPlanDiff } from '../compare/plan-diff.js';
import type {
  Comparison,
  MatchedStatement,
  MetricChange,
  ReportSummary,
  RouteChange,
  UnmatchedStatement,
} from '../model/comparison.js';
import { formatCount, formatMs, oneLine } from './format.js';

export interface ComparisonTableOptions {
  /** ANSI colour in table borders and headings. */
  readonly color?: boolean;
  /** Terminal width, to size the statement column. */
  readonly width?: number;
  /** Also list statements that did not change. */
  readonly all?: boolean;
}

/** "368 → 3,700 (+905%)"; "3" when equal; "-" when missing. */
export function formatChange(m: MetricChange | null, format: (n: number) => string = formatNumber): string {
  if (!m) return '-';
  if (m.delta === 0) return format(m.head);
  const pct = m.relative === null ? 'new' : formatRelative(m.relative);
  return `${format(m.base)} → ${format(m.head)} (${pct})`;
}

export function formatRelative(r: number): string {
  const pct = r * 100;
  const text =
    Math.abs(pct) >= 10_000 ? `${(pct / 1000).toFixed(0)}k` : Math.abs(pct) >= 10 ? pct.toFixed(0) : pct.toFixed(1);
  return `${r >= 0 ? '+' : ''}${text}%`;
}

export function formatNumber(n: number): string {
  if (Math.abs(n) >= 1e4) return formatCount(n);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1);
}

/** Mean time with its timing verdict: "1.2 ms → 3.4 ms (+183%, slower)". */
export function formatTiming(s: MatchedStatement): string {
  const t = s.timing;
  const label =
    t.verdict === 'slower' || t.verdict === 'faster'
      ? t.verdict
      : t.verdict === 'noise'
        ? 'within noise'
        : 'not tested';
  return s.meanMs.delta === 0 ? formatMs(s.meanMs.head) : `${formatChange(s.meanMs, formatMs)}, ${label}`;
}

/** Calls per request per route where they changed: "/orders 1 → 21". */
export function formatRoutes(routes: readonly RouteChange[]): string {
  const changed = routes.filter((r) => r.base !== r.head);
  if (changed.length === 0) return routes.length ? 'same' : '-';
  return changed
    .map(
      (r) =>
        `${r.route} ${r.base === undefined ? '-' : formatNumber(r.base)} → ${r.head === undefined ? '-' : formatNumber(r.head)}`,
    )
    .join('; ');
}

/** "workload on PostgreSQL 18.1, database app_main, 2025-01-01T10:00:00Z" */
export function describeSide(s: ReportSummary): string {
  return `${s.workload} on PostgreSQL ${s.serverVersion} (${s.database}, ${s.rounds} round${s.rounds === 1 ? '' : 's'}, ${s.createdAt})${s.complete ? '' : ' INCOMPLETE'}`;
}

/** One line: "REGRESSION: 2 statement(s) regressed ..." or "OK: no regression ...". */
export function comparisonHeadline(c: Comparison): string {
  const k = c.counts;
  const rest = `${k.matched} matched, ${k.added} new, ${k.removed} removed, ${k.improvements} improved, ${k.timingNoise} timing difference(s) within noise or not tested`;
  return c.verdict === 'regression'
    ? `REGRESSION: ${k.regressions} statement(s) regressed (${rest})`
    : `OK: no regression (${rest})`;
}

/** "timings relative to head's overall speed: x1.08 (median of 12 statements with unchanged plans)" */
export function describeSpeed(c: Comparison): string | undefined {
  if (!c.speed) return undefined;
  return `timings judged relative to head's overall speed: x${c.speed.ratio.toFixed(2)} (median of ${c.speed.statements} statements with unchanged plans)`;
}

/** Renders a comparison for a terminal. Pure: returns a string. */
export function renderComparisonTable(c: Comparison, options: ComparisonTableOptions = {}): string {
  const style = options.color ? {} : { head: [], border: [] };
  const width = Math.max(80, options.width ?? 120);
  const lines: string[] = [];
  lines.push(`querygate compare`, `  base: ${describeSide(c.base)}`, `  head: ${describeSide(c.head)}`);
  const speed = describeSpeed(c);
  if (speed) lines.push(`  ${speed}`);
  lines.push('', comparisonHeadline(c));

  const shown = options.all
    ? c.statements
    : c.statements.filter((s) => s.verdict !== 'unchanged' || s.planDiff?.changed);
  if (shown.length > 0) {
    // The calls/request column only for HTTP workloads, where statements have routes.
    const routes = shown.some((s) => s.callsPerRequest.length > 0);
    const widths = [12, 20, 20, 12, 24, ...(routes ? [16] : [])];
    const queryWidth = Math.max(24, width - widths.reduce((a, b) => a + b, 0) - widths.length - 2);
    const table = new Table({
      head: [
        'verdict',
        'plan cost',
        'blocks/call',
        'rows/call',
        'mean time',
        ...(routes ? ['calls/request'] : []),
        'statement',
      ],
      style,
      wordWrap: true,
      colWidths: [...widths, queryWidth],
    });
    for (const s of shown) {
      table.push([
        s.verdict,
        formatChange(s.planCost),
        formatChange(s.blocksPerCall),
        formatChange(s.rowsPerCall),
        formatTiming(s),
        ...(routes ? [formatRoutes(s.callsPerRequest)] : []),
        oneLine(s.query, queryWidth * 2 - 6),
      ]);
    }
    lines.push(table.toString());
  }
  const hidden = c.statements.length - shown.length;
  if (hidden > 0) lines.push(`${hidden} matched statement(s) unchanged${options.all ? '' : ' (--all lists them)'}`);

  const regressed = c.statements.filter((s) => s.verdict === 'regression');
  if (regressed.length > 0) {
    lines.push('', 'Regressions:');
    for (const s of regressed) lines.push(...describeStatement(s, '  '));
  }
  const improved = c.statements.filter((s) => s.verdict === 'improvement');
  if (improved.length > 0) {
    lines.push('', 'Improvements:');
    for (const s of improved) {
      lines.push(`  ${oneLine(s.query, 100)}${s.source ? `  (${s.source})` : ''}`);
      for (const r of s.improvements) lines.push(`    ${r.kind}: ${r.message}`);
    }
  }
  const planOnly = c.statements.filter((s) => s.verdict !== 'regression' && s.planDiff?.changed);
  if (planOnly.length > 0) {
    lines.push('', 'Plan changes that are not regressions:');
    for (const s of planOnly) {
      lines.push(`  ${oneLine(s.query, 100)}`);
      for (const ch of s.planDiff?.changes ?? []) lines.push(`    ${ch.kind}: ${ch.message}`);
    }
  }
  if (c.added.length > 0) {
    lines.push('', `New statements (${c.added.length}):`);
    for (const a of c.added) lines.push(...describeUnmatched(a, '  '));
  }
  if (c.removed.length > 0) {
    lines.push('', `Removed statements (${c.removed.length}):`);
    for (const r of c.removed) lines.push(`  ${oneLine(r.query, 100)}${r.source ? `  (${r.source})` : ''}`);
  }
  const noisy = c.statements.filter(
    (s) => s.meanMs.delta !== 0 && (s.timing.verdict === 'noise' || s.timing.verdict === 'inconclusive'),
  );
  if (noisy.length > 0) {
    lines.push('', 'Timing differences within noise or not tested (not regressions):');
    for (const s of noisy.slice(0, 10)) lines.push(`  ${oneLine(s.query, 60)}: ${s.timing.note}`);
    if (noisy.length > 10) lines.push(`  … and ${noisy.length - 10} more`);
  }
  for (const w of c.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

function describeStatement(s: MatchedStatement, indent: string): string[] {
  const out = [`${indent}${oneLine(s.query, 100)}${s.source ? `  (${s.source})` : ''}`];
  for (const r of s.regressions) out.push(`${indent}  ${r.kind}: ${r.message}`);
  const named = new Set(s.regressions.map((r) => r.message));
  for (const ch of s.planDiff?.changes ?? []) if (!named.has(ch.message)) out.push(`${indent}  plan: ${ch.message}`);
  if (s.planDiff?.changed) {
    out.push(`${indent}  plan diff (- base, + head):`);
    for (const line of renderPlanDiff(s.planDiff).split('\n')) out.push(`${indent}    ${line}`);
  }
  for (const note of s.planDiff?.notes ?? []) out.push(`${indent}  note: ${note}`);
  return out;
}

function describeUnmatched(a: UnmatchedStatement, indent: string): string[] {
  const out = [
    `${indent}${oneLine(a.query, 100)}${a.source ? `  (${a.source})` : ''}  ${formatCount(a.calls)} calls, mean ${formatMs(a.meanMs)}, ` +
      `plan cost ${a.planCost === null ? '-' : formatNumber(a.planCost)}, ${formatNumber(a.blocksPerCall)} blocks/call`,
  ];
  for (const r of a.regressions) out.push(`${indent}  ${r.kind}: ${r.message}`);
  return out;
}
