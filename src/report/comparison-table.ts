/** The terminal rendering of a comparison: verdict, a table of changed statements, then the reasons and plan diffs. */
import Table from 'cli-table3';
import { fitColumns, layoutWidth, leftOutNote, type Column } from './columns.js';
import { describeLoad } from '../compare/compare.js';
import { renderPlanDiff } from '../compare/plan-diff.js';
import type {
  Comparison,
  MatchedStatement,
  MetricChange,
  PerRequestComparison,
  Replacement,
  ReportSummary,
  RouteChange,
  RouteComparison,
  UnmatchedStatement,
} from '../model/comparison.js';
import { isAtLeast, type Finding } from '../model/finding.js';
import {
  fitLines,
  fixOptions,
  formatCount,
  formatCountOf,
  formatMs,
  formatQuantity,
  formatRatio,
  formatRelative,
  nestedMark,
  oneLine,
  routeRequest,
  wrapText,
} from './format.js';

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

/** A work measure per call, `failed` on a side without a successful call (`MatchedStatement.unmeasured`). */
function formatWork(
  m: MetricChange,
  unmeasured: MatchedStatement['unmeasured'],
  format: (n: number) => string = formatNumber,
): string {
  if (!unmeasured) return formatChange(m, format);
  const side = (failed: boolean, n: number) => (failed ? 'failed' : format(n));
  return `${side(unmeasured.base, m.base)} → ${side(unmeasured.head, m.head)}`;
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
      ? `${t.verdict}${t.counted ? '' : ' (not counted)'}`
      : t.verdict === 'noise'
        ? 'not significant'
        : t.p !== null
          ? 'too few rounds to tell'
          : 'not tested';
  return s.meanMs.delta === 0 ? formatMs(s.meanMs.head) : `${formatChange(s.meanMs, formatMs)}, ${label}`;
}

/** A timing difference that is no regression: noise, not tested, or a change with the same work. */
export function isUncountedTiming(s: MatchedStatement): boolean {
  const t = s.timing;
  if (t.verdict === 'slower' || t.verdict === 'faster') return !t.counted;
  return s.meanMs.delta !== 0;
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

/**
 * A row of the statements table: a statement of both reports, or a new statement that regressed or
 * improved against the removed statement it replaces.
 */
export type StatementRow =
  | { readonly kind: 'matched'; readonly statement: MatchedStatement }
  | { readonly kind: 'added'; readonly statement: UnmatchedStatement };

/**
 * The rows of the statements table: the new statements that regressed first (a new or rewritten
 * statement is usually the change under review), then the matched statements that changed (all of
 * them with `all`), the rewrites that improved before the matched improvements.
 */
export function statementRows(c: Comparison, all = false): StatementRow[] {
  const matched = c.statements
    .filter((s) => all || s.verdict !== 'unchanged' || s.planDiff?.changed || s.withinSpread)
    .map((s) => ({ kind: 'matched' as const, statement: s }));
  const worse = (s: MatchedStatement) => s.verdict === 'regression' || s.verdict === 'unstable-plan';
  return [
    ...c.added.filter((a) => a.regressions.length > 0).map((a) => ({ kind: 'added' as const, statement: a })),
    ...matched.filter((r) => worse(r.statement)),
    ...c.added.filter((a) => a.improvements).map((a) => ({ kind: 'added' as const, statement: a })),
    ...matched.filter((r) => !worse(r.statement)),
  ];
}

/** The cells of a statements-table row, as text. */
export interface RowCells {
  readonly verdict: string;
  readonly planCost: string;
  readonly blocks: string;
  readonly temp: string;
  readonly rows: string;
  readonly mean: string;
  readonly calls: string;
}

/**
 * A row's cells. A new statement that replaces a removed one shows its numbers against the removed
 * statement's (its mean time is shown, not tested); one that replaces none, its own.
 */
export function rowCells(row: StatementRow): RowCells {
  if (row.kind === 'matched') {
    const s = row.statement;
    return {
      verdict: verdictLabel(s),
      planCost: formatChange(s.planCost),
      blocks: formatWork(s.blocksPerCall, s.unmeasured),
      temp: formatWork(s.tempBlocksPerCall, s.unmeasured),
      rows: formatWork(s.rowsPerCall, s.unmeasured),
      mean: s.unmeasured ? `${formatWork(s.meanMs, s.unmeasured, formatMs)}, not tested` : formatTiming(s),
      calls: formatRoutes(s.callsPerRequest),
    };
  }
  const a = row.statement;
  const r = a.replaces;
  if (r) {
    return {
      verdict: a.regressions.length > 0 ? 'regression (new)' : 'improvement (new)',
      planCost: formatChange(r.planCost),
      blocks: formatChange(r.blocksPerCall),
      temp: formatChange(r.tempBlocksPerCall),
      rows: formatChange(r.rowsPerCall),
      mean: r.meanMs.delta === 0 ? formatMs(r.meanMs.head) : `${formatChange(r.meanMs, formatMs)}, not tested`,
      calls: formatRoutes(r.callsPerRequest),
    };
  }
  return {
    verdict: 'regression (new)',
    planCost: a.planCost === null ? '-' : formatNumber(a.planCost),
    blocks: formatNumber(a.blocksPerCall),
    temp: formatNumber(a.tempBlocksPerCall),
    rows: formatNumber(a.rowsPerCall),
    mean: formatMs(a.meanMs),
    calls: a.callsPerRequest ? formatRoutes(a.callsPerRequest) : '-',
  };
}

/** Whether a row wrote temp blocks (spilled to disk) in either report: the column is shown only then. */
export function anySpilled(rows: readonly StatementRow[]): boolean {
  return rows.some((row) =>
    row.kind === 'matched'
      ? row.statement.tempBlocksPerCall.base > 0 || row.statement.tempBlocksPerCall.head > 0
      : row.statement.tempBlocksPerCall > 0 || (row.statement.replaces?.tempBlocksPerCall.base ?? 0) > 0,
  );
}

/** Calls per request of a statement on each route, matched or new (against the statement it replaces, or from 0). */
export function statementCallsPerRequest(row: StatementRow): readonly RouteChange[] {
  if (row.kind === 'matched') return row.statement.callsPerRequest;
  return row.statement.replaces?.callsPerRequest ?? row.statement.callsPerRequest ?? [];
}

/**
 * "route "follower count" (GET /users/{uid}/followers/count): 1 call per request": the routes a
 * regressed statement runs on in head, so that a reader knows which requests pay for it; routes its
 * calls-per-request reasons already name are left out. Undefined when there are none.
 */
export function statementRoutes(c: Comparison, row: StatementRow): string | undefined {
  const named = new Set(
    row.statement.regressions.filter((r) => r.kind === 'calls-per-request').map((r) => String(r.evidence.route)),
  );
  const on = statementCallsPerRequest(row).filter((r) => (r.head ?? 0) > 0 && !named.has(r.route));
  if (on.length === 0) return undefined;
  return on
    .map((r) => {
      const route = c.routes.find((x) => x.route === r.route);
      const calls = r.head!;
      return `${route ? describeRoute(route) : `route "${r.route}"`}: ${formatQuantity(calls)} ${calls === 1 ? 'call' : 'calls'} per request`;
    })
    .join('; ');
}

/**
 * The findings of a regressed statement whose fixes are worth showing: those new in head (for a new
 * statement replacing a removed one, those the removed one did not have; replacing none, all of its
 * own) at severity warning or above. Info findings (a share of the run's time) have no fix to give.
 */
export function findingsToFix(s: MatchedStatement | UnmatchedStatement): Finding[] {
  const findings = 'verdict' in s ? s.newFindings : (s.replaces?.newFindings ?? s.findings);
  return findings.filter((f) => isAtLeast(f.severity, 'warning'));
}

/** A finding whose fixes are shown once for a statement, and the routes it was found on (named when several). */
export interface FixGroup {
  readonly finding: Finding;
  readonly routes: readonly string[];
}

/**
 * The fixes of a regressed statement (`findingsToFix`), each said once: findings of one rule with
 * the same fixes (an N+1 loop found on two routes) are one group. The routes are named when the
 * rule's findings are about more than one route.
 */
export function fixGroups(s: MatchedStatement | UnmatchedStatement): FixGroup[] {
  const findings = findingsToFix(s);
  const groups = new Map<string, { finding: Finding; routes: string[] }>();
  for (const f of findings) {
    const key = `${f.rule}\u0000${JSON.stringify(fixOptions(f))}`;
    const group = groups.get(key) ?? { finding: f, routes: [] };
    if (f.route !== undefined && !group.routes.includes(f.route)) group.routes.push(f.route);
    groups.set(key, group);
  }
  const routesOf = (rule: string) => new Set(findings.filter((f) => f.rule === rule && f.route).map((f) => f.route));
  return [...groups.values()].map((g) => ({
    finding: g.finding,
    routes: routesOf(g.finding.rule).size > 1 ? [...g.routes].sort() : [],
  }));
}

/** "n-plus-one, on "home feed (keyset)", "home feed (offset)"": a fix's rule and the routes it is for. */
export function fixAbout(g: FixGroup): string {
  return `${g.finding.rule}${g.routes.length > 0 ? `, on ${g.routes.map((r) => `"${r}"`).join(', ')}` : ''}`;
}

/**
 * "fix (sort-spill): SET LOCAL work_mem = '8MB' ...", "or: ...": the fixes the report holds for a
 * finding, in the order to try them; a validated index with its plan cost before and after.
 */
export function fixLines(g: FixGroup): string[] {
  const f = g.finding;
  return fixOptions(f).flatMap((fix, i) => [
    `${i === 0 ? `fix (${fixAbout(g)})` : 'or'}: ${fix.text}` +
      (fix.advice
        ? `  (plan cost ${formatNumber(fix.advice.costBefore)} -> ${formatNumber(fix.advice.costAfter)}, validated with ${fix.advice.method})`
        : ''),
    ...(fix.note ? [`note: ${fix.note}`] : []),
  ]);
}

/** A statement's verdict as the tables show it. */
export function verdictLabel(s: MatchedStatement): string {
  if (s.verdict === 'unchanged' && s.withinSpread) return 'spread';
  return s.verdict === 'unstable-plan' ? 'unstable' : s.verdict;
}

/**
 * "judged per request on list books (20 → 1 calls per request): plan cost 166 → 29.9, shared blocks
 * 60 → 41, rows 20": what a statement whose loop was batched costs one request, per-call figures
 * being incomparable.
 */
export function describePerRequest(p: PerRequestComparison): string {
  const pair = (m: MetricChange) =>
    m.delta === 0 ? formatNumber(m.head) : `${formatNumber(m.base)} → ${formatNumber(m.head)}`;
  return (
    `judged per request on ${p.route} (${pair(p.callsPerRequest)} calls per request): ` +
    [
      ...(p.planCost ? [`plan cost ${pair(p.planCost)}`] : []),
      `shared blocks ${pair(p.blocks)}`,
      ...(p.tempBlocks.base > 0 || p.tempBlocks.head > 0 ? [`temp blocks ${pair(p.tempBlocks)}`] : []),
      `rows ${pair(p.rows)}`,
    ].join(', ')
  );
}

/**
 * "shop on PostgreSQL 18.1 (database app_main, count 4000, 5 rounds, 4 connections, querygate 0.1.0,
 * 2025-01-01T10:00:00Z)": what a reader needs to see that both sides were made alike.
 */
export function describeSide(s: ReportSummary): string {
  const load = describeLoad(s) ?? `${s.rounds} round${s.rounds === 1 ? '' : 's'}`;
  return `${s.workload} on PostgreSQL ${s.serverVersion} (database ${s.database}, ${load}, querygate ${s.toolVersion}, ${s.createdAt})${s.complete ? '' : ' INCOMPLETE'}`;
}

/** One line: "REGRESSION: 2 statement(s) regressed ..." or "OK: no regression ...". */
export function comparisonHeadline(c: Comparison): string {
  const k = c.counts;
  const routes =
    k.routesMatched + k.routesAdded + k.routesRemoved > 0
      ? `; routes: ${k.routesMatched} matched, ${k.routesAdded} new, ${k.routesRemoved} removed, ${k.routeImprovements} improved`
      : '';
  const unstable =
    k.unstablePlans > 0 ? `, ${k.unstablePlans} plan(s) that differ between runs of the same setup (not counted)` : '';
  const notCounted =
    k.timingNotCounted > 0 ? `, ${k.timingNotCounted} timing change(s) with the same work (not counted)` : '';
  const spread =
    (k.withinSpread ?? 0) > 0
      ? `, ${k.withinSpread} work change(s) within the statement's spread over the parameters drawn (not counted)`
      : '';
  const rest = `${k.matched} matched, ${k.added} new, ${k.removed} removed, ${k.improvements} improved${unstable}${spread}, ${k.timingNoise} timing difference(s) not significant or not tested${notCounted}${routes}`;
  const what = [
    ...(k.regressions > 0 ? [`${k.regressions} statement(s)`] : []),
    ...(k.routeRegressions > 0 ? [`${k.routeRegressions} route(s)`] : []),
  ].join(' and ');
  return c.verdict === 'regression' ? `REGRESSION: ${what} regressed (${rest})` : `OK: no regression (${rest})`;
}

/**
 * Timing notes worth a line each, and the one shared by statements that were not tested for the
 * same reason (every statement of an HTTP report, say), said once.
 */
export function splitTimingNotes(statements: readonly MatchedStatement[]): {
  shared?: { note: string; count: number };
  each: MatchedStatement[];
} {
  const counts = new Map<string, number>();
  for (const s of statements)
    if (s.timing.verdict === 'inconclusive') counts.set(s.timing.note, (counts.get(s.timing.note) ?? 0) + 1);
  const [note, count] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
  if (count < 2) return { each: [...statements] };
  return {
    shared: { note, count },
    each: statements.filter((s) => !(s.timing.verdict === 'inconclusive' && s.timing.note === note)),
  };
}

/** Regressions in the title of a pull-request comment: statements and routes. */
export function regressionCount(c: Comparison): number {
  return c.counts.regressions + c.counts.routeRegressions;
}

/** A share as a percentage: "0.0%", "2.5%". */
export function formatShare(r: number): string {
  return `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)}%`;
}

/** A route's timing verdict in a word or two. */
export function routeTimingLabel(r: RouteComparison): string {
  switch (r.timing.verdict) {
    case 'slower':
      return r.regressions.some((x) => x.kind === 'route-timing') ? 'slower' : 'slower (not counted)';
    case 'faster':
      return r.improvements.some((x) => x.kind === 'route-timing') ? 'faster' : 'faster (not counted)';
    case 'noise':
      return 'small change';
    case 'inconclusive':
      return 'not compared';
  }
}

/** "route "orders of a customer" (GET /customers/{id}/orders)" */
export function describeRoute(r: RouteComparison): string {
  const request = routeRequest(r, r.route);
  return `route "${r.route}"${request ? ` (${request})` : ''}`;
}

/** How route figures are judged, one line (shown above the routes table). */
export function routesExplanation(c: Comparison): string {
  const t = c.thresholds.routes;
  const speed = c.routeSpeed
    ? `; relative to the other routes (database time x${formatRatio(c.routeSpeed.dbTime)}, p99 x${formatRatio(c.routeSpeed.latency)}, median of ${c.routeSpeed.routes} routes doing the same work)`
    : '';
  return (
    `statements per request and failed requests are judged as measured; database time per request and p99 ` +
    `come from one phase per report, so there is no significance test` +
    (t.timingRegressions
      ? ': '
      : ' and they are shown, never counted (compare.routes.timingRegressions: true counts them); ') +
    `slower means beyond x${formatRatio(1 + t.dbMsPerRequest.relative)} ` +
    `and +${t.dbMsPerRequest.absolute} ms (database time), x${formatRatio(1 + t.latencyP99Ms.relative)} and +${t.latencyP99Ms.absolute} ms (p99)${speed}`
  );
}

/**
 * "timings judged relative to statements of similar duration that did the same work (head's overall
 * speed: x1.08, median of 12 statements)"
 */
export function describeSpeed(c: Comparison): string | undefined {
  if (!c.speed) return undefined;
  return (
    `timings judged relative to statements of similar duration that did the same work ` +
    `(head's overall speed: x${formatRatio(c.speed.ratio)}, median of ${c.speed.statements} statements)`
  );
}

/** The regressions with their reasons (`Regressions:` and a block per statement or route); none: empty. */
function regressionLines(c: Comparison): string[] {
  const regressed = c.statements.filter((s) => s.verdict === 'regression');
  const routesRegressed = c.routes.filter((r) => r.verdict === 'regression');
  const addedRegressed = c.added.filter((a) => a.regressions.length > 0);
  if (regressed.length === 0 && routesRegressed.length === 0 && addedRegressed.length === 0) return [];
  const lines = ['Regressions:'];
  for (const a of addedRegressed) lines.push(...describeAdded(c, a, '  '));
  for (const s of regressed) lines.push(...describeStatement(c, s, '  '));
  for (const r of routesRegressed) {
    lines.push(`  ${describeRoute(r)}`);
    for (const reason of r.regressions) lines.push(`    ${reason.kind}: ${reason.message}`);
  }
  return lines;
}

/**
 * A comparison's verdict and regressions alone, for `-q`: what a failed comparison must still say.
 * Empty when nothing regressed. Pure: returns a string.
 */
export function renderComparisonVerdict(c: Comparison, options: Pick<ComparisonTableOptions, 'width'> = {}): string {
  const regressions = regressionLines(c);
  if (regressions.length === 0) return '';
  const width = layoutWidth(options.width);
  return fitLines([...wrapText(comparisonHeadline(c), width, 2, ''), ...regressions].join('\n'), width);
}

/** Renders a comparison for a terminal. Pure: returns a string. */
export function renderComparisonTable(c: Comparison, options: ComparisonTableOptions = {}): string {
  const style = options.color ? {} : { head: [], border: [] };
  const width = layoutWidth(options.width);
  const lines: string[] = [];
  lines.push(
    `querygate compare`,
    ...wrapText(describeSide(c.base), width, 8, '  base: '),
    ...wrapText(describeSide(c.head), width, 8, '  head: '),
  );
  const speed = describeSpeed(c);
  if (speed) lines.push(...wrapText(speed, width, 4, '  '));
  lines.push('', ...wrapText(comparisonHeadline(c), width, 2, ''));

  const rows = statementRows(c, options.all ?? false);
  if (rows.length > 0) {
    // The calls/request column only for HTTP workloads, where statements have routes, and temp
    // blocks only when a statement spilled. A narrow terminal leaves out the least needed columns
    // first (the JSON and Markdown have them all).
    const routes = rows.some((r) => statementCallsPerRequest(r).length > 0);
    const cells = rows.map(rowCells);
    const all: Column<RowCells>[] = [
      { head: 'verdict', width: 13, dropOrder: 0, cell: (r) => r.verdict },
      { head: 'plan cost', width: 20, dropOrder: 6, cell: (r) => r.planCost },
      { head: 'blocks/call', width: 20, dropOrder: 3, cell: (r) => r.blocks },
      ...(anySpilled(rows)
        ? [{ head: 'temp blocks/call', width: 20, dropOrder: 5, cell: (r: RowCells) => r.temp }]
        : []),
      { head: 'rows/call', width: 12, dropOrder: 1, cell: (r) => r.rows },
      { head: 'mean time', width: 24, dropOrder: 2, cell: (r) => r.mean },
      ...(routes ? [{ head: 'calls/request', width: 16, dropOrder: 4, cell: (r: RowCells) => r.calls }] : []),
    ];
    const { columns, lastWidth: queryWidth, left } = fitColumns(all, width, 24);
    const table = new Table({
      head: [...columns.map((col) => col.head), 'statement'],
      style,
      wordWrap: true,
      colWidths: [...columns.map((col) => col.width), queryWidth],
    });
    for (const [i, row] of rows.entries()) {
      const query = `${nestedMark(row.statement)}${oneLine(row.statement.query, queryWidth * 2 - 6)}`;
      const replaces = row.kind === 'added' ? row.statement.replaces : undefined;
      table.push([
        ...columns.map((col) => col.cell(cells[i]!, i)),
        replaces ? `${query}\nreplaces: ${oneLine(replaces.query, queryWidth * 2 - 16)}` : query,
      ]);
    }
    lines.push(table.toString());
    const note = leftOutNote(left, width, options.width);
    if (note) lines.push(...wrapText(note, width, 2, ''));
  }
  const hidden = c.statements.length - rows.filter((r) => r.kind === 'matched').length;
  if (hidden > 0) lines.push(`${hidden} matched statement(s) unchanged${options.all ? '' : ' (--all lists them)'}`);
  if (c.routes.length > 0) lines.push('', ...routesTable(c, style, width, options.width));

  const regressions = regressionLines(c);
  if (regressions.length > 0) lines.push('', ...regressions);
  const improved = c.statements.filter((s) => s.verdict === 'improvement');
  const routesImproved = c.routes.filter((r) => r.verdict === 'improvement');
  const addedImproved = c.added.filter((a) => (a.improvements ?? []).length > 0);
  if (improved.length > 0 || routesImproved.length > 0 || addedImproved.length > 0) {
    lines.push('', 'Improvements:');
    // A rewrite that cut the work, against the removed statement it replaces.
    for (const a of addedImproved) {
      lines.push(...describeUnmatched(a, '  ', 'new: '));
      lines.push(`    replaces the removed statement: ${describeReplaced(a.replaces!)}`);
      for (const r of a.improvements ?? []) lines.push(`    ${r.messageId}: ${r.message}`);
    }
    for (const s of improved) {
      lines.push(`  ${nestedMark(s)}${oneLine(s.query, 100)}${s.source ? `  (${s.source})` : ''}`);
      for (const r of s.improvements) lines.push(`    ${r.messageId}: ${r.message}`);
      if (s.perRequest) lines.push(`    note: ${describePerRequest(s.perRequest)}`);
      if (s.unmeasured) lines.push(`    note: ${s.unmeasured.note}`);
    }
    for (const r of routesImproved) {
      lines.push(`  ${describeRoute(r)}`);
      for (const reason of r.improvements) lines.push(`    ${reason.messageId}: ${reason.message}`);
    }
  }
  const unstable = c.statements.filter((s) => s.unstablePlan);
  if (unstable.length > 0) {
    lines.push('', 'Plans that differ between runs of the same setup (not counted):');
    for (const s of unstable) {
      lines.push(`  ${nestedMark(s)}${oneLine(s.query, 100)}${s.source ? `  (${s.source})` : ''}`);
      lines.push(`    note: ${s.unstablePlan!.note}`);
      for (const r of s.unstablePlan!.uncounted) lines.push(`    not counted: ${r.messageId}: ${r.message}`);
      lines.push('    plan diff (- base, + head):');
      for (const line of renderPlanDiff(s.planDiff!).split('\n')) lines.push(`      ${line}`);
    }
  }
  const spread = c.statements.filter((s) => s.withinSpread);
  if (spread.length > 0) {
    lines.push('', "Work within the statement's spread over the parameters drawn (not counted):");
    for (const s of spread) {
      lines.push(`  ${oneLine(s.query, 100)}${s.source ? `  (${s.source})` : ''}`);
      lines.push(...wrapText(`note: ${s.withinSpread!.note}`, width, 6, '    '));
      for (const r of s.withinSpread!.uncounted)
        lines.push(...wrapText(`not counted: ${r.messageId}: ${r.message}`, width, 6, '    '));
    }
  }
  const planOnly = c.statements.filter((s) => s.verdict !== 'regression' && !s.unstablePlan && s.planDiff?.changed);
  if (planOnly.length > 0) {
    lines.push('', 'Plan changes that are not regressions:');
    for (const s of planOnly) {
      lines.push(`  ${nestedMark(s)}${oneLine(s.query, 100)}`);
      for (const ch of s.planDiff?.changes ?? []) lines.push(`    ${ch.kind}: ${ch.message}`);
    }
  }
  const uncompared = c.statements.filter((s) => (s.findingNotes ?? []).length > 0);
  if (uncompared.length > 0) {
    lines.push('', 'Findings not compared (neither regressions nor improvements):');
    for (const s of uncompared) {
      lines.push(`  ${nestedMark(s)}${oneLine(s.query, 100)}${s.source ? `  (${s.source})` : ''}`);
      for (const note of s.findingNotes ?? []) lines.push(`    note: ${note}`);
    }
  }
  // New statements that regressed or improved are listed among the regressions and improvements above.
  const addedRest = c.added.filter((a) => a.regressions.length === 0 && !a.improvements);
  if (addedRest.length > 0) {
    lines.push('', `New statements (${addedRest.length}${addedRest.length < c.added.length ? ' more' : ''}):`);
    for (const a of addedRest) {
      lines.push(...describeUnmatched(a, '  '));
      if (a.replaces) lines.push(`    replaces the removed statement: ${describeReplaced(a.replaces)}`);
    }
  }
  if (c.removed.length > 0) {
    lines.push('', `Removed statements (${c.removed.length}):`);
    for (const r of c.removed)
      lines.push(
        `  ${nestedMark(r)}${oneLine(r.query, 100)}${r.source ? `  (${r.source})` : ''}${r.replacedBy ? '  (replaced by a new statement)' : ''}`,
      );
  }
  if (c.addedRoutes.length > 0) lines.push('', `New routes: ${c.addedRoutes.map((r) => `"${r}"`).join(', ')}`);
  if (c.removedRoutes.length > 0) lines.push('', `Removed routes: ${c.removedRoutes.map((r) => `"${r}"`).join(', ')}`);
  const noisy = c.statements.filter(isUncountedTiming);
  if (noisy.length > 0) {
    lines.push('', 'Timing differences not significant, not tested or not counted (not regressions):');
    const { shared, each } = splitTimingNotes(noisy);
    if (shared) lines.push(`  ${shared.count} statement(s): ${shared.note}`);
    for (const s of each.slice(0, 10)) lines.push(`  ${nestedMark(s)}${oneLine(s.query, 60)}: ${s.timing.note}`);
    if (each.length > 10) lines.push(`  … and ${each.length - 10} more`);
  }
  for (const w of c.warnings) lines.push(...wrapText(w, width, 9, 'warning: '));
  // Reasons, plan changes and notes carry SQL and plan text of any length.
  return fitLines(lines.join('\n'), width);
}

/**
 * Every matched route: the work per request (as measured) next to the timings of its phase
 * (judged against thresholds), so that a reader sees which is which.
 */
function routesTable(c: Comparison, style: object, width: number, requested?: number): string[] {
  type Route = Comparison['routes'][number];
  const all: Column<Route>[] = [
    { head: 'verdict', width: 13, dropOrder: 0, cell: (r) => r.verdict },
    { head: 'statements/req', width: 16, dropOrder: 5, cell: (r) => formatChange(r.statementsPerRequest) },
    { head: 'failed requests', width: 20, dropOrder: 3, cell: (r) => formatChange(r.errorRate, formatShare) },
    {
      head: 'db time/req (timing)',
      width: 22,
      dropOrder: 2,
      cell: (r) => formatChange(r.timing.dbMsPerRequest, formatMs),
    },
    { head: 'p99 (timing)', width: 20, dropOrder: 1, cell: (r) => formatChange(r.timing.latencyP99Ms, formatMs) },
    // What the timing columns amount to: it goes before the database time it sums up, and is the
    // last of them a narrow terminal leaves out.
    { head: 'timing', width: 22, dropOrder: 4, cell: (r) => routeTimingLabel(r) },
  ];
  // The route is the free-width column, last, so that a narrow terminal keeps it whole.
  const { columns, lastWidth: routeWidth, left } = fitColumns(all, width, 20);
  const table = new Table({
    head: [...columns.map((col) => col.head), 'route'],
    style,
    wordWrap: true,
    colWidths: [...columns.map((col) => col.width), routeWidth],
  });
  for (const [i, r] of c.routes.entries()) {
    table.push([
      ...columns.map((col) => col.cell(r, i)),
      [r.route, routeRequest(r, r.route)].filter(Boolean).join('\n'),
    ]);
  }
  const note = leftOutNote(left, width, requested);
  return [
    `Routes (${c.routes.length}): ${routesExplanation(c)}`,
    table.toString(),
    ...(note ? wrapText(note, width, 2, '') : []),
  ];
}

function describeStatement(c: Comparison, s: MatchedStatement, indent: string): string[] {
  const out = [`${indent}${nestedMark(s)}${oneLine(s.query, 100)}${s.source ? `  (${s.source})` : ''}`];
  const routes = statementRoutes(c, { kind: 'matched', statement: s });
  if (routes) out.push(`${indent}  on ${routes}`);
  for (const r of s.regressions) out.push(`${indent}  ${r.kind}: ${r.message}`);
  if (s.perRequest) out.push(`${indent}  note: ${describePerRequest(s.perRequest)}`);
  if (s.unmeasured) out.push(`${indent}  note: ${s.unmeasured.note}`);
  const named = new Set(s.regressions.map((r) => r.message));
  for (const ch of s.planDiff?.changes ?? []) if (!named.has(ch.message)) out.push(`${indent}  plan: ${ch.message}`);
  if (s.planDiff?.changed) {
    out.push(`${indent}  plan diff (- base, + head):`);
    for (const line of renderPlanDiff(s.planDiff).split('\n')) out.push(`${indent}    ${line}`);
  }
  for (const note of s.planDiff?.notes ?? []) out.push(`${indent}  note: ${note}`);
  for (const g of fixGroups(s)) for (const line of fixLines(g)) out.push(`${indent}  ${line}`);
  return out;
}

/**
 * A new statement that regressed: what it replaces, why it regressed, its plan against the removed
 * statement's (or its own plan), and the fixes the report holds for its findings.
 */
function describeAdded(c: Comparison, a: UnmatchedStatement, indent: string): string[] {
  const out = describeUnmatched(a, indent, 'new statement: ');
  const routes = statementRoutes(c, { kind: 'added', statement: a });
  if (routes) out.push(`${indent}  on ${routes}`);
  if (a.replaces) out.push(`${indent}  replaces the removed statement: ${describeReplaced(a.replaces)}`);
  for (const r of a.regressions) out.push(`${indent}  ${r.kind}: ${r.message}`);
  const per = a.replaces?.perRequest;
  if (per) out.push(`${indent}  note: ${describePerRequest(per)}`);
  const named = new Set(a.regressions.map((r) => r.message));
  for (const ch of a.planDiff?.changes ?? []) if (!named.has(ch.message)) out.push(`${indent}  plan: ${ch.message}`);
  if (a.planDiff?.changed) {
    out.push(`${indent}  ${a.replaces ? 'plan diff (- removed statement, + new statement):' : 'plan:'}`);
    for (const line of renderPlanDiff(a.planDiff).split('\n')) out.push(`${indent}    ${line}`);
  }
  for (const note of [...(a.planDiff?.notes ?? []), ...(a.replaces?.findingNotes ?? [])])
    out.push(`${indent}  note: ${note}`);
  for (const g of fixGroups(a)) for (const line of fixLines(g)) out.push(`${indent}  ${line}`);
  return out;
}

/** The removed statement a new one replaces, in one line. */
export function describeReplaced(r: Replacement): string {
  return `${oneLine(r.query, 100)}${r.source ? `  (${r.source})` : ''}`;
}

function describeUnmatched(a: UnmatchedStatement, indent: string, label = ''): string[] {
  const out = [
    `${indent}${label}${nestedMark(a)}${oneLine(a.query, 100)}${a.source ? `  (${a.source})` : ''}  ${formatCountOf(a.calls, 'call')}, mean ${formatMs(a.meanMs)}, ` +
      `plan cost ${a.planCost === null ? '-' : formatNumber(a.planCost)}, ${formatNumber(a.blocksPerCall)} blocks/call`,
  ];
  if (a.note) out.push(`${indent}  note: ${a.note}`);
  return out;
}
