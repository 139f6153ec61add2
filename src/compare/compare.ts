/**
 * `compareReports(base, head)`: did head make the database do more work than base? Statements are
 * matched by fingerprint only (never by queryid or OIDs, which differ between databases and server
 * versions). Work counters (plan cost, shared and temp blocks, calls per request) decide on their own;
 * timings only count with enough rounds, a significant Welch test and a large effect.
 */
import { formatMs, formatPercent, formatQuantity, formatRatio, formatRelative } from '../report/format.js';
import { clip } from '../text.js';
import { isAtLeast, isSameProblem, type Finding } from '../model/finding.js';
import {
  COMPARISON_VERSION,
  type Comparison,
  type ComparisonReason,
  type CompareThresholds,
  type MatchedStatement,
  type MetricChange,
  type PerRequestComparison,
  type PlanDiff,
  type RelativeThreshold,
  type ReportSummary,
  type RouteChange,
  type StatementVerdict,
  type TimingComparison,
  type UnmatchedStatement,
} from '../model/comparison.js';
import { statementKey, type QueryReport, type Report, type WorkloadInfo } from '../model/report.js';
import { nodeLabel, walkPlan } from '../analyze/plan.js';
import type { PlanNode } from '../model/plan.js';
import { diffPlans, spillOf } from './plan-diff.js';
import { compareRoutes, type RegressedStatement } from './routes.js';
import { holmAdjust, mean, welchTTest, type WelchResult } from './stats.js';
import {
  parameterDraws,
  parametersMayDiffer,
  WORK_SPREAD_ALPHA,
  withinSpread,
  workSpreadTest,
  type WorkSpreadTest,
} from './work-spread.js';
import { DEFAULT_COMPARE_THRESHOLDS } from './thresholds.js';
import { reason } from './reason.js';

/**
 * Compares two reports of the same workload, typically main's saved report (base) and a pull
 * request's (head).
 *
 * @example
 * const comparison = compareReports(readReportFile('main.json'), readReportFile('pr.json'));
 * if (comparison.verdict === 'regression') console.log(renderComparisonMarkdown(comparison));
 */
export function compareReports(
  base: Report,
  head: Report,
  thresholds: CompareThresholds = DEFAULT_COMPARE_THRESHOLDS,
): Comparison {
  // A statement run inside a function and the same one sent at top level are two statements.
  const baseBy = new Map(base.queries.map((q) => [statementKey(q), q]));
  const headBy = new Map(head.queries.map((q) => [statementKey(q), q]));
  const pairs = head.queries
    .filter((q) => baseBy.has(statementKey(q)))
    .map((h) => ({ b: baseBy.get(statementKey(h))!, h }));

  // b is base's statement, or the removed statement a new one replaces.
  const diff = (b: QueryReport, h: QueryReport): PlanDiff | null =>
    b.plan && h.plan
      ? diffPlans(b.plan, h.plan, {
          baseRelations: base.relations,
          headRelations: head.relations,
          queryRelations: [...new Set([...h.relations, ...b.relations])],
          baseServerVersionNum: base.target.serverVersionNum,
          headServerVersionNum: head.target.serverVersionNum,
        })
      : null;
  const planDiffs = pairs.map(({ b, h }) => diff(b, h));
  // Whether a statement's work differs by no more than its run-to-run spread over the parameters
  // the two runs drew, with the same plan (see work-spread.ts).
  const spreads = pairs.map(({ b, h }, i) => mixSpread(base, head, b, h, planDiffs[i] ?? null));
  const { timings, speed } = compareTimings(
    pairs.map((p, i) => ({
      ...p,
      sameWork: didSameWork(p.b, p.h, planDiffs[i] ?? null, withinSpread(spreads[i])),
    })),
    thresholds,
    untestedBecause(base, head, thresholds),
    { base: base.workload, head: head.workload },
  );
  const baseRoutes = new Set((base.routes ?? []).map((r) => r.name));
  const headRoutes = new Set((head.routes ?? []).map((r) => r.name));

  const statements: MatchedStatement[] = pairs.map(({ b, h }, i) => {
    const regressions: ComparisonReason[] = [];
    const improvements: ComparisonReason[] = [];
    const planCost = b.plan && h.plan ? change(b.plan.totalCost, h.plan.totalCost) : null;
    const blocksPerCall = change(b.sharedBlksPerCall, h.sharedBlksPerCall);
    const tempBlocks = change(tempBlocksPerCall(b), tempBlocksPerCall(h));
    const perRequest = judgeWork(b, h, thresholds, regressions, improvements);
    judgeFailures(b, h, regressions, improvements);

    const callsPerRequest = routeChanges(b, h, baseRoutes, headRoutes);
    judgeCallsPerRequest(callsPerRequest, baseRoutes, headRoutes, thresholds, regressions, improvements);

    const planDiff = planDiffs[i] ?? null;
    judgePlanShape(planDiff, thresholds, regressions, improvements);

    const { newFindings, resolvedFindings, findingNotes } = diffFindings(b, h);
    const fell = workFell(regressions, improvements);
    for (const f of newFindings) {
      if (!counts(f, thresholds)) continue;
      if (fell) findingNotes.push(`${describeFinding(f)} new in head: not counted as a regression (${fell})`);
      else regressions.push(findingReason(f, 'new-finding'));
    }
    for (const f of resolvedFindings) {
      if (counts(f, thresholds)) improvements.push(findingReason(f, 'resolved-finding'));
    }

    // Blocks per call, and findings read from the same plan, that another mix of parameters explains.
    const spread = spreads[i];
    const withinSpreadOf: ComparisonReason[] = [];
    if (!perRequest && withinSpread(spread)) {
      for (const list of [regressions, improvements]) {
        const kept = list.filter((r) => r.kind !== 'blocks-per-call' && r.kind !== 'new-finding');
        withinSpreadOf.push(...list.filter((r) => !kept.includes(r)));
        list.splice(0, list.length, ...kept);
      }
    }

    const timing = timings[i]!;
    const timingEvidence = { baseMeanMs: timing.baseMeanMs, headMeanMs: timing.headMeanMs, p: timing.pAdjusted ?? 1 };
    if (timing.counted && timing.verdict === 'slower')
      regressions.push(reason('timing', 'timing-slower', timing.note, timingEvidence));
    if (timing.counted && timing.verdict === 'faster')
      improvements.push(reason('timing', 'timing-faster', timing.note, timingEvidence));

    // A plan is judged by what it costs (`measured`).
    const counted = { regressions: measured(regressions), improvements: measured(improvements) };
    const unstable =
      planDiff?.changed && samePlannerInputs(base, head, b, h)
        ? {
            note: unstableNote(base),
            uncounted: [...counted.regressions, ...counted.improvements],
          }
        : undefined;
    const verdict: StatementVerdict = unstable
      ? 'unstable-plan'
      : counted.regressions.length > 0
        ? 'regression'
        : counted.improvements.length > 0
          ? 'improvement'
          : 'unchanged';
    return {
      fingerprint: h.fingerprint,
      query: h.query,
      ...(h.source ? { source: h.source } : {}),
      ...(h.nested ? { nested: h.nested } : {}),
      verdict,
      regressions: unstable ? [] : counted.regressions,
      improvements: unstable ? [] : counted.improvements,
      ...(unstable ? { unstablePlan: unstable } : {}),
      ...(unmeasured(b, h) ? { unmeasured: unmeasured(b, h)! } : {}),
      ...(!unstable && withinSpreadOf.length > 0 && spread
        ? {
            withinSpread: {
              note: spreadNote(
                b,
                h,
                spread,
                withinSpreadOf.some((r) => r.kind === 'new-finding'),
              ),
              uncounted: withinSpreadOf,
            },
          }
        : {}),
      planCost,
      blocksPerCall,
      tempBlocksPerCall: tempBlocks,
      rowsPerCall: change(b.rowsPerCall, h.rowsPerCall),
      meanMs: change(b.meanMs, h.meanMs),
      callsPerRequest,
      ...(perRequest ? { perRequest } : {}),
      timing,
      planDiff,
      newFindings,
      resolvedFindings,
      ...(findingNotes.length > 0 ? { findingNotes } : {}),
    };
  });

  const rank: Record<StatementVerdict, number> = { regression: 0, 'unstable-plan': 1, improvement: 2, unchanged: 3 };
  statements.sort(
    (x, y) =>
      rank[x.verdict] - rank[y.verdict] ||
      (headBy.get(statementKey(y))?.totalMs ?? 0) - (headBy.get(statementKey(x))?.totalMs ?? 0),
  );

  const removedQueries = base.queries.filter((q) => !headBy.has(statementKey(q)));
  const newQueries = head.queries.filter((q) => !baseBy.has(statementKey(q)));
  // A statement head recorded inside a function that base could not record is not new.
  const unrecorded = (q: QueryReport) => q.nested !== undefined && !recordsNested(base);
  const replaced = pairReplacements(
    newQueries.filter((q) => !unrecorded(q)),
    removedQueries,
  );
  const leaner = fewerStatements(base, head);
  const added = newQueries
    .map((q) => {
      if (unrecorded(q)) return unrecordedInBase(q);
      const old = replaced.get(statementKey(q));
      return old
        ? rewrittenStatement(q, old, diff(old, q), thresholds, baseRoutes, headRoutes)
        : newStatement(q, thresholds, baseRoutes, leaner);
    })
    // Regressions first, as among the matched statements (a stable sort keeps head's order).
    .sort((x, y) => Number(y.regressions.length > 0) - Number(x.regressions.length > 0));
  const replacedBy = new Map([...replaced].map(([key, old]) => [statementKey(old), headBy.get(key)!.fingerprint]));
  const removed = removedQueries.map((q): UnmatchedStatement => {
    const by = replacedBy.get(statementKey(q));
    return { ...unmatched(q), ...(by ? { replacedBy: by } : {}) };
  });
  const regressions =
    statements.filter((s) => s.verdict === 'regression').length + added.filter((a) => a.regressions.length > 0).length;
  // Routes run top-level statements: a plan change inside a function is not one of theirs.
  const changedPlans = new Set(statements.filter((s) => !s.nested && s.planDiff?.changed).map((s) => s.fingerprint));
  // The statements that regressed, as the routes that run them see them (routes run top-level statements).
  const regressedStatements = new Map<string, RegressedStatement>([
    ...added
      .filter((a) => !a.nested && a.regressions.length > 0)
      .map((a): [string, RegressedStatement] => [
        a.fingerprint,
        { query: a.query, isNew: true, reasons: a.regressions },
      ]),
    ...statements
      .filter((s) => !s.nested && s.verdict === 'regression')
      .map((s): [string, RegressedStatement] => [
        s.fingerprint,
        { query: s.query, isNew: false, reasons: s.regressions },
      ]),
  ]);
  const routes = compareRoutes(base, head, thresholds.routes, changedPlans, regressedStatements);
  const routeRegressions = routes.routes.filter((r) => r.verdict === 'regression').length;

  return {
    version: COMPARISON_VERSION,
    base: summarize(base),
    head: summarize(head),
    thresholds,
    speed,
    routeSpeed: routes.speed,
    verdict: regressions + routeRegressions > 0 ? 'regression' : 'ok',
    counts: {
      matched: statements.length,
      added: added.length,
      removed: removed.length,
      regressions,
      improvements:
        statements.filter((s) => s.verdict === 'improvement').length +
        added.filter((a) => (a.improvements ?? []).length > 0).length,
      unstablePlans: statements.filter((s) => s.verdict === 'unstable-plan').length,
      withinSpread: statements.filter((s) => s.withinSpread).length,
      timingNoise: statements.filter(
        (s) => s.meanMs.delta !== 0 && (s.timing.verdict === 'noise' || s.timing.verdict === 'inconclusive'),
      ).length,
      timingNotCounted: statements.filter(
        (s) => (s.timing.verdict === 'slower' || s.timing.verdict === 'faster') && !s.timing.counted,
      ).length,
      routesMatched: routes.routes.length,
      routesAdded: routes.added.length,
      routesRemoved: routes.removed.length,
      routeRegressions,
      routeImprovements: routes.routes.filter((r) => r.verdict === 'improvement').length,
    },
    statements,
    added,
    removed,
    routes: routes.routes,
    addedRoutes: routes.added,
    removedRoutes: routes.removed,
    warnings: warningsFor(base, head, thresholds),
  };
}

/**
 * True when head's plan cannot differ from base's because of anything head changed: querygate
 * built both databases on the same embedded server version from the same setup files (by content),
 * no application or other client wrote to them, the statement was planned the same way (generic, or
 * with the same parameter values) under the same settings, and the relations it reads have the same
 * size, columns and indexes after the run (its writes included). What the planner still reads
 * differently is the statistics: ANALYZE estimates them from a random sample of each table larger
 * than the sample, and PostgreSQL offers no seed to repeat one.
 */
function samePlannerInputs(base: Report, head: Report, b: QueryReport, h: QueryReport): boolean {
  if (!b.plan || !h.plan) return false;
  const built = (r: Report) =>
    r.target.kind === 'embedded' && (r.workload.kind === 'sql' || r.workload.kind === 'scenario');
  if (!built(base) || !built(head)) return false;
  if (base.workload.setupSha256 === undefined || base.workload.setupSha256 !== head.workload.setupSha256) return false;
  // The server and querygate, whose embedded server settings and plan capture are its own.
  if (base.target.serverVersion !== head.target.serverVersion || base.tool.version !== head.tool.version) return false;
  // literal, params and analyze plans all plan the statement with its values; generic ones without.
  const basis = (p: NonNullable<QueryReport['plan']>) =>
    p.mode === 'generic' ? 'generic' : JSON.stringify({ params: p.params ?? [], settings: p.settings ?? null });
  if (basis(b.plan) !== basis(h.plan)) return false;
  const relation = (r: Report, name: string) => {
    const info = r.relations.find((x) => x.name === name);
    if (!info) return undefined;
    const indexes = [...info.indexes]
      .map((i) => ({ name: i.name, definition: i.definition, valid: i.valid, sizeBytes: i.sizeBytes }))
      .sort((x, y) => x.name.localeCompare(y.name));
    return JSON.stringify({
      kind: info.kind,
      sizeBytes: info.sizeBytes,
      columnTypes: info.columnTypes ?? null,
      indexes,
    });
  };
  const names = new Set([...b.relations, ...h.relations]);
  if (names.size === 0) return false;
  return [...names].every((name) => {
    const x = relation(base, name);
    return x !== undefined && x === relation(head, name);
  });
}

/** Why a plan that changed between runs of the same setup is not counted, and what it means. */
function unstableNote(base: Report): string {
  return (
    `the plan differs between two runs of the same setup (the same files on PostgreSQL ${base.target.serverVersion}, ` +
    'relations of the same size and indexes, the same parameters): only the statistics differ, as ANALYZE reads a ' +
    'random sample of each table larger than it (30,000 rows at the default statistics target). The planner is near ' +
    'a tipping point for this statement and can pick either plan after any ANALYZE, in production too; what the ' +
    'change measured is not counted'
  );
}

/**
 * Whether the statement's work per call was measured: pg_stat_statements records only calls that
 * complete, so a statement every call of which failed (a statement timeout) has 0 blocks, temp blocks
 * and rows per call, which are no measure of its work. Its plan still is.
 */
function measuredWork(q: QueryReport): boolean {
  return q.calls > 0;
}

/** Which side of a statement has no work per call to compare (no successful call), and why. */
function unmeasured(b: QueryReport, h: QueryReport): MatchedStatement['unmeasured'] {
  const sides = [
    ...(measuredWork(b) ? [] : [`base (${failedCalls(b)})`]),
    ...(measuredWork(h) ? [] : [`head (${failedCalls(h)})`]),
  ];
  if (sides.length === 0) return undefined;
  return {
    base: !measuredWork(b),
    head: !measuredWork(h),
    note:
      `no successful call in ${sides.join(' or ')}: pg_stat_statements records only the calls that complete, so ` +
      'shared blocks, temp blocks and rows per call there measure nothing and are not compared (its plan cost is)',
  };
}

function failedCalls(q: QueryReport): string {
  if (q.errors > 0) return `all ${fmt(q.errors)} call(s) failed`;
  return q.cancelledAtStop ? 'its calls were cut short by the stop' : 'not called';
}

/**
 * A statement that failed every call on one side and ran on the other: the side without a successful
 * call has no work per call to judge, and the failures themselves are the change. Head failing every
 * call that base ran is a regression (errors rose, whatever its plan cost), the reverse an improvement.
 * Partial failures on either side are judged by the statement-errors finding, as any finding.
 */
function judgeFailures(
  b: QueryReport,
  h: QueryReport,
  regressions: ComparisonReason[],
  improvements: ComparisonReason[],
): void {
  const share = (q: QueryReport) => `${fmt(q.errors)} of ${fmt(q.calls + q.errors)}`;
  const evidence = { baseErrors: b.errors, baseCalls: b.calls, headErrors: h.errors, headCalls: h.calls };
  const sample = (q: QueryReport) => (q.errorSamples[0] ? `: ${q.errorSamples[0]}` : '');
  if (!measuredWork(h) && h.errors > 0 && measuredWork(b))
    regressions.push(
      reason(
        'errors',
        'errors-up',
        `failed calls ${share(b)} -> ${share(h)} (every call failed in head${sample(h)})`,
        evidence,
      ),
    );
  else if (!measuredWork(b) && b.errors > 0 && measuredWork(h))
    improvements.push(
      reason('errors', 'errors-down', `failed calls ${share(b)} -> ${share(h)} (every call failed in base)`, evidence),
    );
}

/** Temp blocks written per call: what sorts and hashes beyond work_mem spilled to disk. */
function tempBlocksPerCall(q: QueryReport): number {
  return q.calls > 0 ? round3(q.tempBlksWritten / q.calls) : 0;
}

/**
 * Within this factor of each other, a work counter is the same in two runs: plan costs move by
 * a few percent with ANALYZE's sample, blocks per call with the parameters drawn.
 */
const SAME_WORK_RELATIVE = 0.2;

/** `a` and `b` differ by 20% or more of the smaller, and by at least `floor`. */
function differs(a: number, b: number, floor: number): boolean {
  const delta = Math.abs(a - b);
  return delta >= floor && delta >= SAME_WORK_RELATIVE * Math.min(Math.abs(a), Math.abs(b));
}

/**
 * Whether a statement did the same work in both reports: the same plan shape, and plan cost, shared
 * blocks, rows and temp blocks per call within 20% (or within the statement's spread over the
 * parameters the runs drew). Only then can a timing change be the machine's rather than the
 * statement's; with no plan on one side, the work is not known to be the same.
 */
function didSameWork(b: QueryReport, h: QueryReport, planDiff: PlanDiff | null, withinSpread = false): boolean {
  if (!measuredWork(b) || !measuredWork(h)) return false;
  if (b.plan && h.plan) {
    if (!planDiff || planDiff.changed || differs(b.plan.totalCost, h.plan.totalCost, 1)) return false;
  } else if (b.plan || h.plan) {
    return false;
  }
  if (differs(tempBlocksPerCall(b), tempBlocksPerCall(h), 1)) return false;
  // Shared blocks and rows that moved with the parameters drawn, by no more than their spread, are
  // the same work (temp blocks are not in the spread test: a spill that grew is the statement's).
  if (withinSpread) return true;
  return !differs(b.sharedBlksPerCall, h.sharedBlksPerCall, 1) && !differs(b.rowsPerCall, h.rowsPerCall, 1);
}

/**
 * The test of a statement's blocks per call against its run-to-run spread (`workSpreadTest`), when
 * it applies: the two runs can have drawn other parameters (a `duration` load, a `capture`, another
 * number of calls) and the plan has the same shape (or neither run has one). Undefined otherwise:
 * then any difference is the statement's.
 */
function mixSpread(
  base: Report,
  head: Report,
  b: QueryReport,
  h: QueryReport,
  planDiff: PlanDiff | null,
): (WorkSpreadTest & { readonly drawsA: number; readonly drawsB: number }) | undefined {
  const samePlan = planDiff ? !planDiff.changed : !b.plan && !h.plan;
  if (!samePlan) return undefined;
  const drawsA = parameterDraws(b, base.routes);
  const drawsB = parameterDraws(h, head.routes);
  if (!parametersMayDiffer(drawsA, drawsB, [base.workload, head.workload])) return undefined;
  const test = workSpreadTest(
    { value: b.sharedBlksPerCall, draws: drawsA, meanMs: b.meanMs, stddevMs: b.stddevMs },
    { value: h.sharedBlksPerCall, draws: drawsB, meanMs: h.meanMs, stddevMs: h.stddevMs },
  );
  return test ? { ...test, drawsA, drawsB } : undefined;
}

/** Why work within the spread is not counted, with the numbers. */
function spreadNote(
  b: QueryReport,
  h: QueryReport,
  t: WorkSpreadTest & { drawsA: number; drawsB: number },
  findings: boolean,
): string {
  return (
    `the same plan, and shared blocks per call ${fmt(b.sharedBlksPerCall)} -> ${fmt(h.sharedBlksPerCall)} over ` +
    `${t.drawsA} and ${t.drawsB} parameter draws are within the statement's run-to-run spread: its time per call ` +
    `varies by ${t.cvA.toFixed(2)} and ${t.cvB.toFixed(2)} of its mean between calls, as its parameters do, which makes ` +
    `the difference ${t.t.toFixed(1)} standard errors (p=${fmtP(t.p)}, a regression needs p < ${WORK_SPREAD_ALPHA})` +
    `${findings ? "; so is a finding read from that plan with the other parameters' numbers" : ''}. ` +
    'A count-based load draws the same parameters in every run'
  );
}

function change(base: number, head: number): MetricChange {
  return { base, head, delta: head - base, relative: base === 0 ? null : head / base - 1 };
}

/** The work measures judged against a relative threshold with an absolute floor. */
type WorkKind =
  | 'plan-cost'
  | 'blocks-per-call'
  | 'temp-blocks-per-call'
  | 'plan-cost-per-request'
  | 'blocks-per-request'
  | 'temp-blocks-per-request';

/** Said with a temp-block regression: neither plan cost nor shared blocks show a spill. */
const SPILL_NOTE = 'a sort or hash spills to disk beyond work_mem';

/**
 * Up by the relative threshold and the absolute floor: regression; down by as much: improvement.
 * `detail` follows the numbers in the message, with its evidence.
 */
function judgeRelative(
  kind: WorkKind,
  name: string,
  m: MetricChange,
  t: RelativeThreshold,
  regressions: ComparisonReason[],
  improvements: ComparisonReason[],
  detail?: { text: string; evidence: ComparisonReason['evidence'] },
): void {
  const evidence = { base: m.base, head: m.head, ...detail?.evidence };
  const tail = detail ? ` ${detail.text}` : '';
  // What temp blocks are is not obvious from the number: say it where the change is a regression.
  const why = kind === 'temp-blocks-per-call' || kind === 'temp-blocks-per-request' ? `; ${SPILL_NOTE}` : '';
  if (m.delta >= t.absolute && (m.base === 0 || m.head / m.base - 1 >= t.relative)) {
    regressions.push(
      reason(
        kind,
        `${kind}-up`,
        `${name} ${fmt(m.base)} -> ${fmt(m.head)} (${m.relative === null ? 'new' : formatRelative(m.relative)}${why})${tail}`,
        evidence,
      ),
    );
  } else if (-m.delta >= t.absolute && (m.head === 0 || m.base / m.head - 1 >= t.relative)) {
    improvements.push(
      reason(
        kind,
        `${kind}-down`,
        `${name} ${fmt(m.base)} -> ${fmt(m.head)} (${m.relative === null ? '' : formatRelative(m.relative)})${tail}`,
        evidence,
      ),
    );
  }
}

/**
 * The route on which one request runs `h` fewer times than it ran `b`, by the smallest factor, when
 * it runs it at least `minDrop` fewer times per request on every route that runs it in head: an N+1
 * loop batched into one statement. Undefined otherwise (and for reports without routes).
 */
function loopBatched(
  b: QueryReport,
  h: QueryReport,
  minDrop: number,
): { route: string; base: number; head: number } | undefined {
  const running = (h.routes ?? []).filter((r) => r.callsPerRequest > 0);
  if (running.length === 0) return undefined;
  let least: { route: string; base: number; head: number } | undefined;
  for (const r of running) {
    const before = b.routes?.find((x) => x.route === r.route)?.callsPerRequest;
    if (before === undefined || before - r.callsPerRequest < minDrop) return undefined;
    if (!least || r.callsPerRequest / before > least.head / least.base)
      least = { route: r.route, base: before, head: r.callsPerRequest };
  }
  return least;
}

/**
 * Judges the work of `h` against `b` (the same statement, or the removed one it replaces): plan
 * cost, shared blocks and temp blocks written per call; or, when one request runs it fewer times (an N+1 loop batched into one
 * `= ANY($1)` statement: libpg-query's fingerprint treats `= $1`, `= ANY($1)` and `IN (...)` alike,
 * so the rewrite keeps the fingerprint), per request, where one call of head does the work of
 * several of base. Returns the per-request figures when they were used.
 */
function judgeWork(
  b: QueryReport,
  h: QueryReport,
  t: CompareThresholds,
  regressions: ComparisonReason[],
  improvements: ComparisonReason[],
): PerRequestComparison | undefined {
  const batched = loopBatched(b, h, t.callsPerRequest);
  // Work per call that one side did not measure is not compared (`measuredWork`): only the plan is.
  const work = measuredWork(b) && measuredWork(h);
  if (!batched) {
    if (b.plan && h.plan)
      judgeRelative(
        'plan-cost',
        'plan cost',
        change(b.plan.totalCost, h.plan.totalCost),
        t.planCost,
        regressions,
        improvements,
      );
    if (!work) return undefined;
    judgeRelative(
      'blocks-per-call',
      'shared blocks per call',
      change(b.sharedBlksPerCall, h.sharedBlksPerCall),
      t.blocksPerCall,
      regressions,
      improvements,
    );
    judgeRelative(
      'temp-blocks-per-call',
      'temp blocks written per call',
      change(tempBlocksPerCall(b), tempBlocksPerCall(h)),
      t.tempBlocksPerCall,
      regressions,
      improvements,
    );
    return undefined;
  }
  const perRequest = (base: number, head: number) => change(round3(base * batched.base), round3(head * batched.head));
  const calls = `${fmt(batched.base)} -> ${fmt(batched.head)} calls per request`;
  const detail = (baseCall: number, headCall: number) => ({
    text: `on ${batched.route} (${calls}, ${fmt(baseCall)} -> ${fmt(headCall)} per call)`,
    evidence: {
      route: batched.route,
      baseCallsPerRequest: batched.base,
      headCallsPerRequest: batched.head,
      basePerCall: baseCall,
      headPerCall: headCall,
    },
  });
  const planCost = b.plan && h.plan ? perRequest(b.plan.totalCost, h.plan.totalCost) : null;
  if (planCost && b.plan && h.plan)
    judgeRelative(
      'plan-cost-per-request',
      'plan cost per request',
      planCost,
      t.planCost,
      regressions,
      improvements,
      detail(b.plan.totalCost, h.plan.totalCost),
    );
  const blocks = perRequest(b.sharedBlksPerCall, h.sharedBlksPerCall);
  const tempBlocks = perRequest(tempBlocksPerCall(b), tempBlocksPerCall(h));
  if (work) {
    judgeRelative(
      'blocks-per-request',
      'shared blocks per request',
      blocks,
      t.blocksPerCall,
      regressions,
      improvements,
      detail(b.sharedBlksPerCall, h.sharedBlksPerCall),
    );
    judgeRelative(
      'temp-blocks-per-request',
      'temp blocks written per request',
      tempBlocks,
      t.tempBlocksPerCall,
      regressions,
      improvements,
      detail(tempBlocksPerCall(b), tempBlocksPerCall(h)),
    );
  }
  return {
    route: batched.route,
    callsPerRequest: change(batched.base, batched.head),
    planCost,
    blocks,
    tempBlocks,
    rows: perRequest(b.rowsPerCall, h.rowsPerCall),
  };
}

/**
 * Calls per request on each route against the threshold: up is a regression (the N+1 signal), down
 * an improvement. A route only one report had is not judged.
 */
function judgeCallsPerRequest(
  routes: readonly RouteChange[],
  baseRoutes: ReadonlySet<string>,
  headRoutes: ReadonlySet<string>,
  t: CompareThresholds,
  regressions: ComparisonReason[],
  improvements: ComparisonReason[],
): void {
  for (const r of routes) {
    const delta = (r.head ?? 0) - (r.base ?? 0);
    if (r.base === undefined && !baseRoutes.has(r.route)) continue;
    if (r.head === undefined && !headRoutes.has(r.route)) continue;
    const evidence = { route: r.route, base: r.base ?? 0, head: r.head ?? 0 };
    const message = `${fmt(r.base ?? 0)} -> ${fmt(r.head ?? 0)} calls per request on ${r.route}`;
    if (delta >= t.callsPerRequest)
      regressions.push(reason('calls-per-request', 'calls-per-request-up', message, evidence));
    else if (-delta >= t.callsPerRequest)
      improvements.push(reason('calls-per-request', 'calls-per-request-down', message, evidence));
  }
}

/** Scan downgrades (and upgrades) of large relations that the plan diff names. */
function judgePlanShape(
  planDiff: PlanDiff | null,
  t: CompareThresholds,
  regressions: ComparisonReason[],
  improvements: ComparisonReason[],
): void {
  for (const c of planDiff?.changes ?? []) {
    const large = c.relationRows === undefined || c.relationRows >= t.scanDowngradeMinRows;
    const evidence = {
      relation: c.relation ?? '',
      rows: c.relationRows ?? -1,
      base: c.base ?? '',
      head: c.head ?? '',
    };
    if (c.kind === 'scan-downgrade' && large)
      regressions.push(reason('scan-downgrade', 'scan-downgrade', c.message, evidence));
    if (c.kind === 'scan-upgrade' && large)
      improvements.push(reason('scan-downgrade', 'scan-upgrade', c.message, evidence));
  }
}

/**
 * The reasons that count. A plan is judged by what it costs: a scan downgrade names the cause of a
 * regression measured in plan cost, blocks, calls, findings or time; on its own (the planner took a
 * sequential scan that reads no more) it is a plan change to look at, not a regression. Likewise
 * upgrades.
 */
function measured(reasons: readonly ComparisonReason[]): ComparisonReason[] {
  return reasons.every((r) => r.kind === 'scan-downgrade') ? [] : [...reasons];
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

const fmt = formatQuantity;

/** Calls per request per route, over the routes of either side. */
function routeChanges(
  b: QueryReport,
  h: QueryReport,
  baseRoutes: ReadonlySet<string>,
  headRoutes: ReadonlySet<string>,
): RouteChange[] {
  const names = new Set([...(b.routes ?? []).map((r) => r.route), ...(h.routes ?? []).map((r) => r.route)]);
  return [...names].sort().map((route) => {
    const inBase = b.routes?.find((r) => r.route === route)?.callsPerRequest ?? (baseRoutes.has(route) ? 0 : undefined);
    const inHead = h.routes?.find((r) => r.route === route)?.callsPerRequest ?? (headRoutes.has(route) ? 0 : undefined);
    return {
      route,
      ...(inBase !== undefined ? { base: inBase } : {}),
      ...(inHead !== undefined ? { head: inHead } : {}),
    };
  });
}

/** One finding per rule and relation on a side (a rule may see a relation at several plan nodes). */
function findingKey(f: Finding): string {
  return `${f.rule}\u0000${f.relation ?? ''}`;
}

/**
 * Findings of `these` that are no problem of `others`. Findings are the same problem when their
 * relation is and they share a rule (messages and numbers change with the data): their own, or one
 * the run merged into either as the same fix (`evidence.sameFixAs`), since the rule that names a
 * problem can change with the schema (an index added that a wrapped predicate cannot use turns a
 * `seq-scan-large-table` finding into `non-sargable-predicate` on the same scan).
 */
function findingsOnlyIn(these: readonly Finding[], others: readonly Finding[]): Finding[] {
  const out: Finding[] = [];
  const emitted = new Set<string>();
  for (const f of these) {
    const key = findingKey(f);
    if (emitted.has(key) || others.some((o) => isSameProblem(f, o))) continue;
    emitted.add(key);
    out.push(f);
  }
  return out;
}

/**
 * Head's findings that are a problem of base under another rule (no finding of base has their own
 * rule on that relation), each once, with what base called it: neither new nor resolved, and said.
 */
function relabelledFindings(b: QueryReport, h: QueryReport): string[] {
  const notes: string[] = [];
  const seen = new Set<string>();
  for (const f of h.findings) {
    const key = findingKey(f);
    if (seen.has(key) || b.findings.some((o) => findingKey(o) === key)) continue;
    const was = b.findings.find((o) => isSameProblem(f, o));
    if (!was) continue;
    seen.add(key);
    notes.push(
      `${describeFinding(f)} in head is base's ${was.rule} finding, named by another rule: ` +
        `the same problem with the same fix (evidence.sameFixAs), not a new finding`,
    );
  }
  return notes;
}

/**
 * Findings only in head (new) and only in base (resolved), and those of the two that cannot be
 * compared. A finding that points at a plan node was read from the plan, and plans made in
 * different modes show different things (a generic plan has no actual rows, spills or row
 * estimates to compare; a plan with the replay's parameters may scan where the generic one seeks):
 * when the modes differ, or one side has no plan, its presence on one side only says nothing about
 * the statement. And without a plan in head nothing is known to be resolved.
 */
function diffFindings(
  b: QueryReport,
  h: QueryReport,
): { newFindings: Finding[]; resolvedFindings: Finding[]; findingNotes: string[] } {
  const added = findingsOnlyIn(h.findings, b.findings);
  const gone = findingsOnlyIn(b.findings, h.findings);
  const sameEvidence = (b.plan?.mode ?? null) === (h.plan?.mode ?? null);
  const why = !h.plan
    ? 'head has no plan'
    : !b.plan
      ? 'base has no plan'
      : `plans made differently: base ${b.plan.mode}, head ${h.plan.mode}`;
  const comparable = (f: Finding, side: 'new' | 'resolved') =>
    side === 'resolved' && !h.plan ? false : sameEvidence || f.nodePath === undefined;
  const findingNotes = [
    ...relabelledFindings(b, h),
    ...added
      .filter((f) => !comparable(f, 'new'))
      .map((f) => `${describeFinding(f)} only in head: not compared (${why})`),
    ...gone
      .filter((f) => !comparable(f, 'resolved'))
      .map((f) => `${describeFinding(f)} only in base: not compared (${why})`),
  ];
  return {
    newFindings: added.filter((f) => comparable(f, 'new')),
    resolvedFindings: gone.filter((f) => comparable(f, 'resolved')),
    findingNotes,
  };
}

/**
 * Why a statement's new findings are not its regression: its plan cost and its shared blocks per
 * call (per request for a loop batched) both fell beyond the thresholds, and no work rose. A change
 * that cuts the work is not made a regression by a problem the new plan shows (an index that
 * leaves a filter to remove rows): the finding is listed with its fix, and `check` gates it as any
 * other finding. Undefined when the work did not clearly fall.
 */
function workFell(
  regressions: readonly ComparisonReason[],
  improvements: readonly ComparisonReason[],
): string | undefined {
  if (regressions.some((r) => WORK_KINDS.has(r.kind))) return undefined;
  const cost = improvements.find((r) => r.kind === 'plan-cost' || r.kind === 'plan-cost-per-request');
  // A statement every call of which failed in base measured no blocks: that its calls now complete
  // stands for them.
  const blocks = improvements.find(
    (r) => r.kind === 'blocks-per-call' || r.kind === 'blocks-per-request' || r.kind === 'errors',
  );
  return cost && blocks ? `the statement's work fell: ${cost.message}, ${blocks.message}` : undefined;
}

const WORK_KINDS: ReadonlySet<string> = new Set([
  'plan-cost',
  'blocks-per-call',
  'temp-blocks-per-call',
  'plan-cost-per-request',
  'blocks-per-request',
  'temp-blocks-per-request',
  'calls-per-request',
  'scan-downgrade',
  'errors',
]);

function describeFinding(f: Finding): string {
  return `${f.severity} finding ${f.rule}${f.relation ? ` on ${f.relation}` : ''}`;
}

function counts(f: Finding, t: CompareThresholds): boolean {
  return t.newFindingSeverity !== 'none' && isAtLeast(f.severity, t.newFindingSeverity);
}

function findingReason(f: Finding, messageId: 'new-finding' | 'resolved-finding'): ComparisonReason {
  const where = f.relation ? ` on ${f.relation}` : '';
  const text =
    messageId === 'new-finding'
      ? `new ${f.severity} finding ${f.rule}${where}: ${f.message}`
      : `${f.rule}${where} resolved`;
  // A finding about one route (n-plus-one) says so: a route comparison names the statement only on that route.
  return reason('new-finding', messageId, text, {
    rule: f.rule,
    severity: f.severity,
    relation: f.relation ?? '',
    ...(f.route !== undefined ? { route: f.route } : {}),
  });
}

/**
 * Routes that run fewer statements per request in head than in base: a statement new on such a
 * route replaces others (an N+1 loop rewritten as one query), and is no regression by being new.
 */
function fewerStatements(base: Report, head: Report): Set<string> {
  const before = new Map((base.routes ?? []).map((r) => [r.name, r.statementsPerRequest]));
  return new Set(
    (head.routes ?? [])
      .filter((r) => before.has(r.name) && r.statementsPerRequest < before.get(r.name)!)
      .map((r) => r.name),
  );
}

/**
 * The removed statement each new one replaces (a query whose text changed is a new statement, and
 * the old one removed): one that read exactly the same relations, and of those the one with the same
 * source (the scenario statement's name, or the SQL file and line), else the costliest. A removed
 * statement is replaced by one new statement at most, and by one of its kind: run inside a function
 * or not. New statement (`statementKey`) -> removed statement.
 */
function pairReplacements(added: readonly QueryReport[], removed: readonly QueryReport[]): Map<string, QueryReport> {
  const key = (r: QueryReport) => [...r.relations].sort().join(',');
  const out = new Map<string, QueryReport>();
  const taken = new Set<string>();
  const pair = (q: QueryReport, candidates: readonly QueryReport[]) => {
    // A statement run inside a function replaces one run inside a function, a top-level one a top-level one.
    const old = candidates.find((r) => !taken.has(statementKey(r)) && !r.nested === !q.nested && key(r) === key(q));
    if (!old) return;
    out.set(statementKey(q), old);
    taken.add(statementKey(old));
  };
  const costliest = [...removed].sort((a, b) => b.totalMs - a.totalMs);
  const withRelations = added.filter((q) => key(q) !== '');
  for (const q of withRelations)
    if (q.source)
      pair(
        q,
        costliest.filter((r) => r.source === q.source),
      );
  for (const q of withRelations) if (!out.has(statementKey(q))) pair(q, costliest);
  return out;
}

/**
 * A new statement that replaces a removed one, judged against it as a statement of both reports is
 * judged on its work: plan cost, shared and temp blocks per call (per request when one request runs
 * it fewer times: a loop batched), calls per request, the plan shape, and the findings the removed
 * statement did not have (an error it already had is no regression of the rewrite). Not on timing:
 * two different statements' times say nothing about the branch.
 */
function rewrittenStatement(
  q: QueryReport,
  old: QueryReport,
  planDiff: PlanDiff | null,
  t: CompareThresholds,
  baseRoutes: ReadonlySet<string>,
  headRoutes: ReadonlySet<string>,
): UnmatchedStatement {
  const was = old.source ?? clip(old.query.replace(/\s+/g, ' '), 60);
  const against = (r: ComparisonReason): ComparisonReason => ({
    ...r,
    message: `${r.message} against the removed statement it replaces on the same relations (${was})`,
    evidence: { ...r.evidence, replaces: old.fingerprint },
  });
  const replacing = (r: ComparisonReason): ComparisonReason => ({
    ...r,
    evidence: { ...r.evidence, replaces: old.fingerprint },
  });
  const work: ComparisonReason[] = [];
  const workDown: ComparisonReason[] = [];
  const perRequest = judgeWork(old, q, t, work, workDown);
  judgeFailures(old, q, work, workDown);
  const callsPerRequest = routeChanges(old, q, baseRoutes, headRoutes);
  judgeCallsPerRequest(callsPerRequest, baseRoutes, headRoutes, t, work, workDown);
  const shape: ComparisonReason[] = [];
  const shapeUp: ComparisonReason[] = [];
  judgePlanShape(planDiff, t, shape, shapeUp);
  const { newFindings, resolvedFindings, findingNotes } = diffFindings(old, q);
  const findings = newFindings.filter((f) => counts(f, t)).map((f) => findingReason(f, 'new-finding'));
  const regressions = measured([...work.map(against), ...shape.map(replacing), ...findings.map(replacing)]);
  // Judged as a matched statement is, the other way too: a rewrite that cut the work is an improvement.
  const improvements =
    regressions.length > 0
      ? []
      : measured([
          ...workDown.map(against),
          ...shapeUp.map(replacing),
          ...resolvedFindings.filter((f) => counts(f, t)).map((f) => replacing(findingReason(f, 'resolved-finding'))),
        ]);
  return {
    ...unmatched(q),
    regressions,
    ...(improvements.length > 0 ? { improvements } : {}),
    replaces: {
      fingerprint: old.fingerprint,
      query: old.query,
      ...(old.source ? { source: old.source } : {}),
      planCost: old.plan && q.plan ? change(old.plan.totalCost, q.plan.totalCost) : null,
      blocksPerCall: change(old.sharedBlksPerCall, q.sharedBlksPerCall),
      tempBlocksPerCall: change(tempBlocksPerCall(old), tempBlocksPerCall(q)),
      rowsPerCall: change(old.rowsPerCall, q.rowsPerCall),
      meanMs: change(old.meanMs, q.meanMs),
      callsPerRequest,
      ...(perRequest ? { perRequest } : {}),
      newFindings,
      ...(findingNotes.length > 0 ? { findingNotes } : {}),
    },
    ...(planDiff ? { planDiff } : {}),
  };
}

/**
 * A new statement that replaces none. It is a regression when it has an error finding, when a route
 * that base also had runs it `callsPerRequest` times or more per request (on that route it went from
 * 0 calls to that many: a new query behind an existing endpoint; unless the route runs fewer
 * statements per request, as when an N+1 loop is rewritten as one query), or when it takes a large
 * share of head's database time (a new feature's costly query).
 */
function newStatement(
  q: QueryReport,
  t: CompareThresholds,
  baseRoutes: ReadonlySet<string>,
  leaner: ReadonlySet<string>,
): UnmatchedStatement {
  const onRoutes = (q.routes ?? [])
    .filter((r) => baseRoutes.has(r.route) && !leaner.has(r.route) && r.callsPerRequest >= t.callsPerRequest)
    .sort((a, b) => a.route.localeCompare(b.route))
    .map((r) =>
      reason(
        'calls-per-request',
        'calls-per-request-up',
        `0 -> ${fmt(r.callsPerRequest)} calls per request on ${r.route} (a statement new on this route)`,
        { route: r.route, base: 0, head: r.callsPerRequest },
      ),
    );
  const { share, minMeanMs } = t.newStatement;
  const costly =
    share < 1 && q.dbTimeShare >= share && q.meanMs >= minMeanMs
      ? [
          reason(
            'new-statement',
            'new-statement-costly',
            `a new statement that takes ${formatPercent(q.dbTimeShare)} of head's database time (mean ${formatMs(q.meanMs)})`,
            { share: q.dbTimeShare, meanMs: q.meanMs },
          ),
        ]
      : [];
  // Calls per request on each route that runs it, from 0 on the routes base also had.
  const calls = (q.routes ?? [])
    .filter((r) => r.callsPerRequest > 0)
    .sort((a, b) => a.route.localeCompare(b.route))
    .map((r): RouteChange => ({
      route: r.route,
      ...(baseRoutes.has(r.route) ? { base: 0 } : {}),
      head: r.callsPerRequest,
    }));
  return {
    ...unmatched(q),
    ...(calls.length > 0 ? { callsPerRequest: calls } : {}),
    regressions: [
      ...costly,
      ...onRoutes,
      ...findingsOnlyIn(q.findings, [])
        .filter((f) => counts(f, t))
        .map((f) => findingReason(f, 'new-finding')),
    ],
    ...(q.plan ? { planDiff: wholePlan(q.plan.root) } : {}),
  };
}

/** A new statement's plan as a diff against nothing: every node added. */
function wholePlan(root: PlanNode): PlanDiff {
  return {
    changed: true,
    lines: walkPlan(root).map((v) => {
      const spill = spillOf(v.node);
      return { op: 'added' as const, depth: v.depth, head: nodeLabel(v.node), ...(spill ? { note: spill } : {}) };
    }),
    changes: [],
    notes: [],
  };
}

/** A statement in one report only, as measured there. */
function unmatched(q: QueryReport): UnmatchedStatement {
  return {
    fingerprint: q.fingerprint,
    query: q.query,
    ...(q.source ? { source: q.source } : {}),
    ...(q.nested ? { nested: q.nested } : {}),
    calls: q.calls,
    meanMs: q.meanMs,
    planCost: q.plan?.totalCost ?? null,
    blocksPerCall: q.sharedBlksPerCall,
    tempBlocksPerCall: tempBlocksPerCall(q),
    rowsPerCall: q.rowsPerCall,
    findings: q.findings,
    regressions: [],
  };
}

/**
 * Whether a report records the statements run inside functions (`pg_stat_statements.track = all`,
 * which querygate's embedded server has since it reports them): one that does not has none to
 * compare with.
 */
function recordsNested(report: Report): boolean {
  return report.target.pgStatStatementsTrack === 'all' || report.queries.some((q) => q.nested);
}

/**
 * A statement head recorded inside a function that base could not have recorded: shown with what it
 * costs, never a regression for being new (it ran in base too, inside its caller's time).
 */
function unrecordedInBase(q: QueryReport): UnmatchedStatement {
  return {
    ...unmatched(q),
    note:
      "ran inside a function: base's report does not record such statements (pg_stat_statements.track = top, or a report " +
      'made before querygate reported them), so it is not new, and not compared',
  };
}

/** Per-round mean times usable for a test: rounds in which the statement ran, ms. */
function roundMeans(q: QueryReport): number[] {
  return q.rounds.filter((r) => r.calls > 0 && Number.isFinite(r.meanMs)).map((r) => r.meanMs);
}

/**
 * Rounds in which the statement ran. A report of one round keeps no per-round statistics (the run
 * is the round): a statement that ran has one, as the report's header says.
 */
function roundCount(q: QueryReport): number {
  return q.rounds.length > 0 ? roundMeans(q).length : q.calls > 0 ? 1 : 0;
}

/**
 * Why statement timings cannot be tested on these reports, whatever the statement, with advice that
 * fits how they were made (a note per statement, a warning for the comparison); undefined when
 * rounds make a test possible.
 */
function untestedBecause(
  base: Report,
  head: Report,
  thresholds: CompareThresholds,
): { note: string; warning: string } | undefined {
  const kinds = new Set([base.workload.kind, head.workload.kind]);
  if (kinds.has('http')) {
    return {
      note: 'one measurement per report (HTTP run): not tested',
      warning:
        'HTTP runs replay each route in one phase, without rounds: statement timings are shown, not tested. ' +
        (thresholds.routes.timingRegressions
          ? 'Route timings (database time per request, p99) are compared without a significance test: a route counts as ' +
            'slower only beyond the compare.routes thresholds, relative to the other routes'
          : 'Route timings (database time per request, p99) are shown without a significance test and never counted ' +
            '(compare.routes.timingRegressions: true counts them beyond the compare.routes thresholds)'),
    };
  }
  if (kinds.has('external')) {
    return {
      note: 'one measurement per report (capture): not tested',
      warning: `capture measures the command once, without rounds: statement timings are shown, not tested (querygate run --rounds ${thresholds.timing.minRounds} replays statements in rounds that can be tested)`,
    };
  }
  return undefined;
}

/**
 * Why a statement has too few round means for a test, and what gives it more. Reports of fewer
 * rounds need `run --rounds`; a statement that missed rounds of a run that had enough got too few
 * calls to run in each (a `count` or `duration` load shares calls by weight), or had no successful
 * call in some (pg_stat_statements counts no failed call).
 */
function fewRoundsNote(
  baseRounds: number,
  headRounds: number,
  minRounds: number,
  workloads: { readonly base: WorkloadInfo; readonly head: WorkloadInfo },
): string {
  const { base, head } = workloads;
  if (base.rounds < minRounds || head.rounds < minRounds) {
    return `${baseRounds} round(s) in base, ${headRounds} in head: timing needs ${minRounds} on each side (run --rounds ${minRounds})`;
  }
  const short = [...(baseRounds < minRounds ? [base] : []), ...(headRounds < minRounds ? [head] : [])];
  const cause = short.some((w) => w.count !== undefined)
    ? "too few calls for one in every round: raise count or the statement's weight, or use repeat"
    : short.some((w) => w.durationMs !== undefined)
      ? "too few calls for one in every round: raise duration or the statement's weight"
      : 'no successful call in the other rounds';
  return (
    `calls in ${baseRounds} of ${base.rounds} round(s) in base, ${headRounds} of ${head.rounds} in head: ` +
    `timing needs calls in ${minRounds} rounds on each side (${cause})`
  );
}

/** pg_stat_statements reports microseconds at best: a round mean of 0 is "under 1 µs". */
const MIN_ROUND_MS = 0.001;

/**
 * Log mean time per round in which the statement ran: round index -> ln(ms). Rounds of one run are
 * the same stretch of time for every statement (the replay interleaves them), so round k of two
 * statements saw the same machine.
 */
function roundLogs(q: QueryReport): Map<number, number> {
  const out = new Map<number, number>();
  q.rounds.forEach((r, k) => {
    if (r.calls > 0 && Number.isFinite(r.meanMs)) out.set(k, Math.log(Math.max(r.meanMs, MIN_ROUND_MS)));
  });
  return out;
}

/**
 * Statements whose mean times are within this factor of each other are of similar duration: load
 * from other processes slows them alike. A statement of tens of ms is preempted many times per call
 * and slows with the machine's CPU share (x1.5-2 on a busy CI runner); a 0.1 ms lookup mostly runs
 * within one time slice and barely changes. A run's median over all statements is the lookups' speed.
 */
const SIMILAR_DURATION = 10;

function similarDuration(a: number, b: number): boolean {
  if (a <= 0 || b <= 0) return a === b;
  return Math.max(a, b) / Math.min(a, b) <= SIMILAR_DURATION;
}

/** The two samples a statement's timing is tested on, and what they are relative to. */
interface TimingSamples {
  readonly a: readonly number[];
  readonly c: readonly number[];
  readonly reference: TimingComparison['reference'];
}

/**
 * The log round means of statement `i` relative to its peers (statements of similar duration that
 * did the same work): round by round (each round minus the peers' median in that round, which also
 * takes out drift within a run), or, with too few rounds in common, minus the peers' median change.
 */
function relativeSamples(
  i: number,
  series: readonly { readonly a: Map<number, number>; readonly c: Map<number, number> }[],
  peers: readonly number[],
  minRounds: number,
): TimingSamples {
  const own = series[i]!;
  if (peers.length === 0) return { a: [...own.a.values()], c: [...own.c.values()], reference: null };
  const paired = (side: 'a' | 'c') => {
    const d: number[] = [];
    const refs: number[] = [];
    for (const [k, v] of own[side]) {
      const at = peers.flatMap((j) => {
        const x = series[j]![side].get(k);
        return x === undefined ? [] : [x];
      });
      if (at.length === 0) continue;
      const ref = median(at);
      d.push(v - ref);
      refs.push(ref);
    }
    return { d, refs };
  };
  const pa = paired('a');
  const pc = paired('c');
  if (pa.d.length >= minRounds && pc.d.length >= minRounds) {
    return {
      a: pa.d,
      c: pc.d,
      reference: { ratio: round(Math.exp(mean(pc.refs) - mean(pa.refs))), statements: peers.length, paired: true },
    };
  }
  const shift = median(peers.map((j) => logChange(series[j]!)));
  return {
    a: [...own.a.values()],
    c: [...own.c.values()].map((v) => v - shift),
    reference: { ratio: round(Math.exp(shift)), statements: peers.length, paired: false },
  };
}

/** Change of the mean log time from base to head. */
function logChange(s: { readonly a: Map<number, number>; readonly c: Map<number, number> }): number {
  return mean([...s.c.values()]) - mean([...s.a.values()]);
}

/**
 * Timing verdicts of all matched statements. Welch's t-test on the logarithms of the per-round
 * mean times (timing noise is multiplicative: a busy CI machine makes everything some percent
 * slower, not some milliseconds), Holm's correction over every statement tested, then the effect
 * (ratio of geometric means, and the difference of the per-call means) must exceed both the
 * relative and the absolute minimum. Anything else is noise.
 *
 * With `normalize`, each statement is judged relative to the statements of similar duration that
 * did the same work in both reports (`relativeSamples`). Rounds within one run share the machine's
 * state, so a head run on a busier machine would otherwise look significantly slower; and load
 * slows long statements much more than short ones, so one speed for the whole run does not fit.
 *
 * A significant change of a statement that did the same work is not counted (unless
 * `sameWorkRegressions`): the rounds of one run measure that run, and one run per side cannot tell
 * the machine from the statement when nothing the statement did changed.
 */
function compareTimings(
  pairs: readonly { b: QueryReport; h: QueryReport; sameWork: boolean }[],
  thresholds: CompareThresholds,
  untested: { note: string } | undefined,
  workloads: { readonly base: WorkloadInfo; readonly head: WorkloadInfo },
): { timings: TimingComparison[]; speed: Comparison['speed'] } {
  const t = thresholds.timing;
  const minRounds = Math.max(2, t.minRounds);
  const series = pairs.map(({ b, h }) => ({ a: roundLogs(b), c: roundLogs(h) }));
  const testable = series.map((x) => x.a.size >= minRounds && x.c.size >= minRounds);
  const references = pairs.flatMap((p, i) => (testable[i] && p.sameWork ? [i] : []));
  const speed =
    t.normalize && references.length >= MIN_SPEED_REFERENCES
      ? { ratio: round(Math.exp(median(references.map((i) => logChange(series[i]!))))), statements: references.length }
      : null;
  const samples = pairs.map((p, i): TimingSamples | null => {
    if (!testable[i]) return null;
    const peers = t.normalize
      ? references.filter((j) => j !== i && similarDuration(pairs[j]!.b.meanMs, p.b.meanMs))
      : [];
    return relativeSamples(i, series, peers, minRounds);
  });
  const tests: (WelchResult | null)[] = samples.map((x) => (x ? welchTTest(x.a, x.c) : null));
  const tested = tests.flatMap((r, i) => (r ? [{ i, p: r.p }] : []));
  const adjusted = holmAdjust(tested.map((x) => x.p));
  const adjustedBy = new Map(tested.map((x, k) => [x.i, adjusted[k]!]));

  const timings = pairs.map(({ b, h, sameWork }, i): TimingComparison => {
    const test = tests[i] ?? null;
    const reference = samples[i]?.reference ?? null;
    const baseRounds = roundCount(b);
    const headRounds = roundCount(h);
    const common = { baseRounds, headRounds, baseMeanMs: b.meanMs, headMeanMs: h.meanMs, sameWork, reference };
    if (!test) {
      return {
        ...common,
        verdict: 'inconclusive',
        counted: false,
        ratio: null,
        t: null,
        df: null,
        p: null,
        pAdjusted: null,
        note: untested?.note ?? fewRoundsNote(baseRounds, headRounds, minRounds, workloads),
      };
    }
    const pAdjusted = adjustedBy.get(i) ?? 1;
    // exp(mean of logs) is the geometric mean: the ratio of the two is the typical slowdown.
    const ratio = Math.exp(test.meanB - test.meanA);
    const stats = {
      ratio: round(ratio),
      t: round(test.t),
      df: round(test.df),
      p: round(test.p),
      pAdjusted: round(pAdjusted),
    };
    const delta = h.meanMs - b.meanMs;
    const relativeTo = reference
      ? ` relative to ${reference.statements} statement(s) of similar duration x${formatRatio(reference.ratio)}`
      : t.normalize
        ? ', not normalized: no statement of similar duration did the same work'
        : '';
    const shown =
      `${fmtMs(b.meanMs)} -> ${fmtMs(h.meanMs)} per call ` +
      `(x${formatRatio(ratio)}${relativeTo}, ${baseRounds}/${headRounds} rounds)`;
    const slower = ratio > 1 && delta > 0;
    const faster = ratio < 1 && delta < 0;
    const bigEnough =
      (slower && delta >= t.minAbsoluteMs && ratio - 1 >= t.minRelativeChange) ||
      (faster && -delta >= t.minAbsoluteMs && 1 / ratio - 1 >= t.minRelativeChange);
    if (!bigEnough) {
      return {
        ...common,
        ...stats,
        verdict: 'noise',
        counted: false,
        note: `${shown}: below the minimum effect (${pctText(t.minRelativeChange)} and ${t.minAbsoluteMs} ms)`,
      };
    }
    if (pAdjusted >= t.alpha) {
      const apart = separation(samples[i]!, slower);
      const needed = roundsToSeparate(t.alpha);
      if (apart !== undefined && Math.min(baseRounds, headRounds) < needed) {
        // Every round beyond the other side's range, by at least the minimum effect: Welch's test
        // misses it because one round (a cold cache, usually) widens its side's spread, and with so
        // few rounds even their order cannot be significant. "Not significant" would read as "no
        // change"; the rounds are too few to tell.
        return {
          ...common,
          ...stats,
          verdict: 'inconclusive',
          counted: false,
          note:
            `${shown}: every round of head ${slower ? 'slower' : 'faster'} than every round of base (x${formatRatio(apart)} at the least), ` +
            `not significant by Welch's test (p=${fmtP(pAdjusted)} >= ${t.alpha}; the rounds vary x${formatRatio(spreadOf(samples[i]!))} within a side): ` +
            `${Math.min(baseRounds, headRounds)} rounds are too few to tell (below ${needed} rounds per side, even rounds that all differ are not significant at ${t.alpha}; run --rounds ${needed})`,
        };
      }
      return {
        ...common,
        ...stats,
        verdict: 'noise',
        counted: false,
        note: `${shown}: not significant (p=${fmtP(pAdjusted)} >= ${t.alpha})`,
      };
    }
    const counted = !sameWork || t.sameWorkRegressions;
    return {
      ...common,
      ...stats,
      verdict: slower ? 'slower' : 'faster',
      counted,
      note: counted
        ? `${shown}, p=${fmtP(pAdjusted)}`
        : `${shown}, p=${fmtP(pAdjusted)}: the statement did the same work in both reports (plan, cost, blocks, rows), ` +
          'so this is not counted (compare.timing.sameWorkRegressions: true counts it)',
    };
  });
  return { timings, speed };
}

/**
 * The smallest ratio between the two sides when every round of head is beyond every round of base
 * in the direction of the change (`slower`), or undefined when their ranges overlap.
 */
function separation(x: TimingSamples, slower: boolean): number | undefined {
  const gap = slower ? Math.min(...x.c) - Math.max(...x.a) : Math.min(...x.a) - Math.max(...x.c);
  return gap > 0 ? Math.exp(gap) : undefined;
}

/** The widest ratio between the slowest and the fastest round of one side. */
function spreadOf(x: TimingSamples): number {
  const range = (v: readonly number[]) => Math.max(...v) - Math.min(...v);
  return Math.exp(Math.max(range(x.a), range(x.c)));
}

/**
 * Rounds per side needed before every round of one side beyond every round of the other is
 * significant on its own: under no change, each of the C(2n, n) orders of the rounds is equally
 * likely, and two of them (all above, all below) separate the sides, so p = 2 / C(2n, n): 0.1 for
 * 3 rounds, 0.029 for 4, 0.0079 for 5.
 */
export function roundsToSeparate(alpha: number): number {
  let n = 2;
  let orders = 6; // C(4, 2)
  while (2 / orders >= alpha && n < 50) {
    orders = (orders * (2 * n + 1) * (2 * n + 2)) / ((n + 1) * (n + 1));
    n++;
  }
  return n;
}

/** Statements that did the same work needed before head's overall speed is given. */
const MIN_SPEED_REFERENCES = 3;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(n: number): number {
  return Number.isFinite(n) ? Number(n.toPrecision(6)) : n;
}

const fmtMs = formatMs;

function fmtP(p: number): string {
  return p < 0.0001 ? '<0.0001' : p.toFixed(4);
}

const pctText = formatRelative;

function summarize(r: Report): ReportSummary {
  return {
    createdAt: r.createdAt,
    serverVersion: r.target.serverVersion,
    database: r.target.database,
    workload: r.workload.name,
    kind: r.workload.kind,
    rounds: r.workload.rounds,
    statements: r.queries.length,
    complete: r.run.complete,
    toolVersion: r.tool.version,
    connections: r.workload.connections,
    ...(r.workload.repeat !== undefined ? { repeat: r.workload.repeat } : {}),
    ...(r.workload.count !== undefined ? { count: r.workload.count } : {}),
    ...(r.workload.durationMs !== undefined ? { durationMs: r.workload.durationMs } : {}),
  };
}

/**
 * The load a run replayed, as its flags give it: "count 4000, 5 rounds, 4 connections". Undefined
 * for `capture`, whose load is the command's and unknown to querygate.
 */
export function describeLoad(s: ReportSummary): string | undefined {
  if (s.kind === 'external') return undefined;
  const size =
    s.repeat !== undefined
      ? `repeat ${s.repeat}`
      : s.count !== undefined
        ? `count ${s.count}`
        : s.durationMs !== undefined
          ? `duration ${s.durationMs % 1000 === 0 ? `${s.durationMs / 1000}s` : `${s.durationMs}ms`}`
          : undefined;
  return [
    ...(size ? [size] : []),
    `${s.rounds} round${s.rounds === 1 ? '' : 's'}`,
    `${s.connections} connection${s.connections === 1 ? '' : 's'}`,
  ].join(', ');
}

function warningsFor(base: Report, head: Report, thresholds: CompareThresholds): string[] {
  const out: string[] = [];
  if (!base.run.complete)
    out.push('the base report is incomplete (the run was interrupted): statements may be missing');
  if (!head.run.complete)
    out.push('the head report is incomplete (the run was interrupted): statements may be missing');
  if (base.workload.name !== head.workload.name) {
    out.push(`the reports come from different workloads (${base.workload.name} and ${head.workload.name})`);
  }
  if (base.tool.version !== head.tool.version) {
    out.push(
      `base was written by querygate ${base.tool.version}, head by querygate ${head.tool.version}: their rules and ` +
        'measurements may differ, so findings new or resolved between them may come from querygate, not the branch ' +
        '(run both with one querygate version)',
    );
  }
  // The number of calls and their concurrency set what a round measures: per-round means, their
  // spread and the timing tests compare only under the same load.
  const [baseLoad, headLoad] = [describeLoad(summarize(base)), describeLoad(summarize(head))];
  if (baseLoad !== undefined && headLoad !== undefined && baseLoad !== headLoad) {
    out.push(
      `base and head ran different loads (base: ${baseLoad}; head: ${headLoad}): calls, concurrency and rounds shape ` +
        'the timings and their tests, which compare only under the same load ' +
        '(run both with the same --repeat/--count/--duration, --rounds and --connections)',
    );
  }
  const major = (n: number) => Math.floor(n / 10000);
  if (major(base.target.serverVersionNum) !== major(head.target.serverVersionNum)) {
    out.push(
      `base ran on PostgreSQL ${base.target.serverVersion}, head on ${head.target.serverVersion}: plan costs are not strictly comparable`,
    );
  }
  if (recordsNested(base) !== recordsNested(head)) {
    const [records, other] = recordsNested(head) ? ['head', 'base'] : ['base', 'head'];
    out.push(
      `${records} records the statements run inside functions and triggers, ${other} does not (pg_stat_statements.track = top, ` +
        `or a report made before querygate reported them): those statements are not compared, and the findings of their callers ` +
        `may differ for that reason alone`,
    );
  }
  const untested = untestedBecause(base, head, thresholds);
  const rounds = Math.min(base.workload.rounds, head.workload.rounds);
  if (untested) {
    out.push(untested.warning);
  } else if (rounds < thresholds.timing.minRounds) {
    out.push(
      `statement timings are not tested with fewer than ${thresholds.timing.minRounds} rounds per report (base ${base.workload.rounds}, head ${head.workload.rounds}): run --rounds ${thresholds.timing.minRounds} on both sides`,
    );
  }
  const http = [base, head].filter((r) => r.workload.kind === 'http').length;
  if (http === 1) out.push('only one of the reports is an HTTP run: routes are not compared');
  return out;
}
