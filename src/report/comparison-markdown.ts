/** A comparison as Markdown, ready to post as a pull-request comment (GitHub and GitLab flavoured). */
import { renderPlanDiff } from '../compare/plan-diff.js';
import type { Comparison, MatchedStatement, RouteComparison, UnmatchedStatement } from '../model/comparison.js';
import {
  anySpilled,
  comparisonHeadline,
  describePerRequest,
  describeRoute,
  describeSide,
  describeSpeed,
  formatChange,
  formatNumber,
  formatShare,
  fixAbout,
  fixGroups,
  statementRoutes,
  type FixGroup,
  isUncountedTiming,
  regressionCount,
  rowCells,
  routesExplanation,
  routeTimingLabel,
  splitTimingNotes,
  statementRows,
  type StatementRow,
} from './comparison-table.js';
import { fixOptions, formatCountOf, formatMs, nestedMark, oneLine, routeRequest } from './format.js';
import { cellCode, code } from './markdown.js';

export interface ComparisonMarkdownOptions {
  /** Heading level of the title (2 = "##"). */
  readonly headingLevel?: number;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Renders a comparison as Markdown. Pure: returns a string. */
export function renderComparisonMarkdown(c: Comparison, options: ComparisonMarkdownOptions = {}): string {
  const h = '#'.repeat(Math.min(6, Math.max(1, options.headingLevel ?? 2)));
  const out: string[] = [];
  out.push(
    `${h} ${c.verdict === 'regression' ? `❌ querygate: ${regressionCount(c)} regression(s)` : '✅ querygate: no regression'}`,
    '',
  );
  out.push(`**${cell(comparisonHeadline(c))}**`, '');
  out.push(`- base: ${cell(describeSide(c.base))}`, `- head: ${cell(describeSide(c.head))}`);
  const speed = describeSpeed(c);
  if (speed) out.push(`- ${cell(speed)}`);
  out.push('');

  const rows = statementRows(c);
  if (rows.length > 0) out.push(...statementTable(rows), '');

  if (c.routes.length > 0 || c.addedRoutes.length > 0 || c.removedRoutes.length > 0) {
    const explanation = routesExplanation(c);
    out.push(`${h}# Routes`, '', cell(`${explanation[0]!.toUpperCase()}${explanation.slice(1)}.`), '');
    if (c.routes.length > 0) out.push(...routeTable(c.routes), '');
    if (c.addedRoutes.length > 0) out.push(`New routes: ${c.addedRoutes.map((r) => code(r)).join(', ')}`, '');
    if (c.removedRoutes.length > 0) out.push(`Removed routes: ${c.removedRoutes.map((r) => code(r)).join(', ')}`, '');
  }

  const regressed = c.statements.filter((s) => s.verdict === 'regression');
  const routesRegressed = c.routes.filter((r) => r.verdict === 'regression');
  if (regressed.length > 0 || routesRegressed.length > 0 || c.added.some((a) => a.regressions.length > 0)) {
    out.push(`${h}# Regressions`, '');
    for (const a of c.added.filter((x) => x.regressions.length > 0)) out.push(...describeAdded(c, a), '');
    for (const s of regressed) out.push(...describeMatched(c, s), '');
    for (const r of routesRegressed) {
      out.push(`**${cell(describeRoute(r))}**`, '');
      for (const reason of r.regressions) out.push(`- **${reason.kind}**: ${cell(reason.message)}`);
      out.push('');
    }
  }
  const improved = c.statements.filter((s) => s.verdict === 'improvement');
  const routesImproved = c.routes.filter((r) => r.verdict === 'improvement');
  const addedImproved = c.added.filter((a) => (a.improvements ?? []).length > 0);
  if (improved.length > 0 || routesImproved.length > 0 || addedImproved.length > 0) {
    out.push(`${h}# Improvements`, '');
    // A rewrite that cut the work, against the removed statement it replaces.
    for (const a of addedImproved) {
      out.push(
        `- ${cell(nestedMark(a))}${code(oneLine(a.query, 120))} (new; replaces ${code(oneLine(a.replaces!.query, 80))}): ` +
          (a.improvements ?? []).map((r) => cell(r.message)).join('; '),
      );
    }
    for (const s of improved) {
      out.push(
        `- ${cell(nestedMark(s))}${code(oneLine(s.query, 120))}: ${s.improvements.map((r) => cell(r.message)).join('; ')}` +
          (s.perRequest ? ` (${cell(describePerRequest(s.perRequest))})` : '') +
          (s.unmeasured ? ` (${cell(s.unmeasured.note)})` : ''),
      );
    }
    for (const r of routesImproved) {
      out.push(`- ${cell(describeRoute(r))}: ${r.improvements.map((x) => cell(x.message)).join('; ')}`);
    }
    out.push('');
  }
  const unstable = c.statements.filter((s) => s.unstablePlan);
  if (unstable.length > 0) {
    out.push(`${h}# Plans that differ between runs of the same setup (not counted)`, '');
    for (const s of unstable) {
      out.push(`**${cell(nestedMark(s))}${code(oneLine(s.query, 200))}**${s.source ? ` (${cell(s.source)})` : ''}`, '');
      out.push(cell(s.unstablePlan!.note), '');
      for (const r of s.unstablePlan!.uncounted) out.push(`- not counted: ${r.messageId}: ${cell(r.message)}`);
      out.push('', ...planBlock(s), '');
    }
  }
  const spread = c.statements.filter((s) => s.withinSpread);
  if (spread.length > 0) {
    out.push(`${h}# Work within the statement's spread over the parameters drawn (not counted)`, '');
    for (const s of spread) {
      out.push(`**${code(oneLine(s.query, 200))}**${s.source ? ` (${cell(s.source)})` : ''}`, '');
      out.push(cell(s.withinSpread!.note), '');
      for (const r of s.withinSpread!.uncounted) out.push(`- not counted: ${r.messageId}: ${cell(r.message)}`);
      out.push('');
    }
  }
  const planOnly = c.statements.filter((s) => s.verdict !== 'regression' && !s.unstablePlan && s.planDiff?.changed);
  if (planOnly.length > 0) {
    out.push('<details><summary>Plan changes that are not regressions</summary>', '');
    for (const s of planOnly) out.push(...planDetails(s));
    out.push('</details>', '');
  }
  const uncompared = c.statements.filter((s) => (s.findingNotes ?? []).length > 0);
  if (uncompared.length > 0) {
    out.push('<details><summary>Findings not compared (neither regressions nor improvements)</summary>', '');
    for (const s of uncompared) {
      out.push(
        `- ${cell(nestedMark(s))}${code(oneLine(s.query, 120))}: ${(s.findingNotes ?? []).map(cell).join('; ')}`,
      );
    }
    out.push('', '</details>', '');
  }
  const added = c.added.filter((a) => a.regressions.length === 0 && !a.improvements);
  if (added.length > 0) {
    out.push(`<details><summary>New statements (${added.length})</summary>`, '');
    for (const a of added) out.push(...describeUnmatched(a));
    out.push('', '</details>', '');
  }
  if (c.removed.length > 0) {
    out.push(`<details><summary>Removed statements (${c.removed.length})</summary>`, '');
    for (const r of c.removed)
      out.push(
        `- ${cell(nestedMark(r))}${code(oneLine(r.query, 160))}${r.source ? ` (${cell(r.source)})` : ''}${r.replacedBy ? ': replaced by a new statement' : ''}`,
      );
    out.push('', '</details>', '');
  }
  const noisy = c.statements.filter(isUncountedTiming);
  if (noisy.length > 0) {
    out.push(
      `<details><summary>Timing: ${noisy.length} difference(s) not significant, not tested or not counted</summary>`,
      '',
    );
    const t = c.thresholds.timing;
    const rounds =
      c.base.kind !== 'http' && c.head.kind !== 'http' && c.base.kind !== 'external' && c.head.kind !== 'external';
    out.push(
      rounds
        ? `A timing regression needs ${t.minRounds}+ rounds in both reports, Welch's t-test significant at ${t.alpha} (Holm-corrected) ` +
            `and an increase of at least ${(t.minRelativeChange * 100).toFixed(0)}% and ${t.minAbsoluteMs} ms per call, ` +
            `relative to statements of similar duration.` +
            (t.sameWorkRegressions
              ? ''
              : ' A statement that did the same work in both reports (plan, cost, blocks, rows) is not counted as slower or faster: ' +
                'load on a shared machine slows long statements more than short ones (compare.timing.sameWorkRegressions: true counts it).')
        : 'These reports have one measurement per statement (no rounds), so statement timings are shown, not tested.',
      '',
    );
    const { shared, each } = splitTimingNotes(noisy);
    if (shared) out.push(`- ${shared.count} statement(s): ${cell(shared.note)}`);
    for (const s of each) out.push(`- ${cell(nestedMark(s))}${code(oneLine(s.query, 100))}: ${cell(s.timing.note)}`);
    out.push('', '</details>', '');
  }
  const unchanged = c.statements.length - rows.filter((r) => r.kind === 'matched').length;
  if (unchanged > 0) out.push(`${unchanged} matched statement(s) unchanged.`, '');
  for (const w of c.warnings) out.push(`> **Warning:** ${cell(w)}`, '');
  return `${out.join('\n').trimEnd()}\n`;
}

/**
 * The statements table: new statements that regressed first (one that replaces a removed statement
 * with its numbers against it), then the matched statements that changed; a temp blocks column when
 * a statement spilled to disk in either report.
 */
function statementTable(rows: readonly StatementRow[]): string[] {
  const temp = anySpilled(rows);
  const out = [
    `| verdict | statement | plan cost | blocks/call |${temp ? ' temp blocks/call |' : ''} rows/call | mean time | calls/request |`,
    `|---|---|---|---|${temp ? '---|' : ''}---|---|---|`,
  ];
  for (const row of rows) {
    const x = rowCells(row);
    const verdict = x.verdict.startsWith('regression')
      ? `**regression**${x.verdict.slice('regression'.length)}`
      : x.verdict;
    const replaces = row.kind === 'added' ? row.statement.replaces : undefined;
    out.push(
      `| ${verdict} | ${cell(nestedMark(row.statement))}${cellCode(oneLine(row.statement.query, 80))}${replaces ? ` replacing ${cellCode(oneLine(replaces.query, 80))}` : ''} | ` +
        `${cell(x.planCost)} | ${cell(x.blocks)} |${temp ? ` ${cell(x.temp)} |` : ''} ${cell(x.rows)} | ${cell(x.mean)} | ${cell(x.calls)} |`,
    );
  }
  return out;
}

/** Work per request (as measured) first, then the timings of the route's phase. */
/** The route's request after its name, unless the name says it. */
function routeCode(r: RouteComparison): string {
  const request = routeRequest(r, r.route);
  return request ? ` ${cellCode(request)}` : '';
}

function routeTable(routes: readonly RouteComparison[]): string[] {
  const rows = [
    '| verdict | route | statements/request | failed requests | db time/request (timing) | p99 (timing) | timing |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of routes) {
    rows.push(
      `| ${r.verdict === 'regression' ? '**regression**' : r.verdict} | ${cell(r.route)}${routeCode(r)} | ` +
        `${cell(formatChange(r.statementsPerRequest))} | ${cell(formatChange(r.errorRate, formatShare))} | ` +
        `${cell(formatChange(r.timing.dbMsPerRequest, formatMs))} | ${cell(formatChange(r.timing.latencyP99Ms, formatMs))} | ${routeTimingLabel(r)} |`,
    );
  }
  return rows;
}

function describeMatched(c: Comparison, s: MatchedStatement): string[] {
  const out = [`**${cell(nestedMark(s))}${code(oneLine(s.query, 200))}**${s.source ? ` (${cell(s.source)})` : ''}`, ''];
  const routes = statementRoutes(c, { kind: 'matched', statement: s });
  if (routes) out.push(`- on ${cell(routes)}`);
  for (const r of s.regressions) out.push(`- **${r.kind}**: ${cell(r.message)}`);
  if (s.perRequest) out.push(`- note: ${cell(describePerRequest(s.perRequest))}`);
  if (s.unmeasured) out.push(`- note: ${cell(s.unmeasured.note)}`);
  const named = new Set(s.regressions.map((r) => r.message));
  for (const ch of s.planDiff?.changes ?? []) if (!named.has(ch.message)) out.push(`- plan: ${cell(ch.message)}`);
  for (const note of s.planDiff?.notes ?? []) out.push(`- note: ${cell(note)}`);
  for (const g of fixGroups(s)) out.push(...fixBullets(g));
  if (s.planDiff?.changed) out.push('', ...planBlock(s));
  return out;
}

/**
 * A new statement that regressed: what it replaces, why it regressed, the fixes the report holds for
 * its findings, and its plan against the removed statement's (or its own plan).
 */
function describeAdded(c: Comparison, a: UnmatchedStatement): string[] {
  const out = [
    `**New statement ${cell(nestedMark(a))}${code(oneLine(a.query, 200))}**${a.source ? ` (${cell(a.source)})` : ''}`,
    '',
  ];
  out.push(
    `- ${formatCountOf(a.calls, 'call')}, mean ${formatMs(a.meanMs)}, plan cost ${a.planCost === null ? '-' : formatNumber(a.planCost)}, ` +
      `${formatNumber(a.blocksPerCall)} blocks/call`,
  );
  const routes = statementRoutes(c, { kind: 'added', statement: a });
  if (routes) out.push(`- on ${cell(routes)}`);
  if (a.replaces)
    out.push(
      `- replaces the removed statement ${code(oneLine(a.replaces.query, 200))}${a.replaces.source ? ` (${cell(a.replaces.source)})` : ''}`,
    );
  for (const r of a.regressions) out.push(`- **${r.kind}**: ${cell(r.message)}`);
  if (a.replaces?.perRequest) out.push(`- note: ${cell(describePerRequest(a.replaces.perRequest))}`);
  const named = new Set(a.regressions.map((r) => r.message));
  for (const ch of a.planDiff?.changes ?? []) if (!named.has(ch.message)) out.push(`- plan: ${cell(ch.message)}`);
  for (const note of [...(a.planDiff?.notes ?? []), ...(a.replaces?.findingNotes ?? [])])
    out.push(`- note: ${cell(note)}`);
  for (const g of fixGroups(a)) out.push(...fixBullets(g));
  if (a.planDiff?.changed) {
    out.push(
      '',
      `<details><summary>${a.replaces ? 'Plan diff (- removed statement, + new statement)' : 'Plan of the new statement'}</summary>`,
      '',
      '```diff',
      renderPlanDiff(a.planDiff),
      '```',
      '',
      '</details>',
    );
  }
  return out;
}

/** The fixes the report holds for a finding, in the order to try them; a validated index as code. */
function fixBullets(g: FixGroup): string[] {
  const f = g.finding;
  return fixOptions(f).map((fix, i) => {
    const about = [
      ...(i === 0 ? [cell(fixAbout(g))] : []),
      ...(fix.advice
        ? [
            `plan cost ${formatNumber(fix.advice.costBefore)} → ${formatNumber(fix.advice.costAfter)}, validated with ${fix.advice.method}`,
          ]
        : []),
    ];
    const label = `${i === 0 ? 'fix' : 'or'}${about.length > 0 ? ` (${about.join(', ')})` : ''}`;
    const text = fix.advice ? code(fix.text) : cell(fix.text);
    return `- ${label}: ${text}${fix.note ? ` (${cell(fix.note)})` : ''}`;
  });
}

function planBlock(s: MatchedStatement): string[] {
  if (!s.planDiff) return [];
  return [
    '<details><summary>Plan diff (- base, + head)</summary>',
    '',
    '```diff',
    renderPlanDiff(s.planDiff),
    '```',
    '',
    '</details>',
  ];
}

function planDetails(s: MatchedStatement): string[] {
  const out = [`${cell(nestedMark(s))}${code(oneLine(s.query, 160))}`, ''];
  for (const ch of s.planDiff?.changes ?? []) out.push(`- ${ch.kind}: ${cell(ch.message)}`);
  out.push('', '```diff', renderPlanDiff(s.planDiff!), '```', '');
  return out;
}

function describeUnmatched(a: UnmatchedStatement): string[] {
  const out = [
    `- ${cell(nestedMark(a))}${code(oneLine(a.query, 160))}${a.source ? ` (${cell(a.source)})` : ''}: ${formatCountOf(a.calls, 'call')}, mean ${formatMs(a.meanMs)}, ` +
      `plan cost ${a.planCost === null ? '-' : formatNumber(a.planCost)}, ${formatNumber(a.blocksPerCall)} blocks/call` +
      (a.replaces ? `; replaces ${code(oneLine(a.replaces.query, 120))}` : ''),
  ];
  if (a.note) out.push(`  - ${cell(a.note)}`);
  return out;
}
