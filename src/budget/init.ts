/**
 * `budget init`: a starting budget from a report, current values plus headroom, so a team can adopt
 * querygate on an existing code base in one step and tighten the limits from there.
 */
import { Document, isMap, isSeq, type YAMLMap } from 'yaml';
import type { AcceptedFinding, GlobalLimits, RouteBudget, StatementBudget } from '../model/budget.js';
import type { QueryReport, Report } from '../model/report.js';
import { DEFAULT_COMPARE_THRESHOLDS } from '../compare/thresholds.js';
import nPlusOne from '../rules/n-plus-one.js';
import { ANY_STATEMENT, errorRate, statementMeanMs, statementName, totalDbMs } from './evaluate.js';
import { statementReference } from './reference.js';

export interface InitOptions {
  /** Headroom on deterministic measures (plan cost, blocks, rows, calls), as a fraction (default 0.2). */
  readonly headroom?: number;
  /**
   * Headroom on timings, which are noisy on shared CI machines. Default: 1 (twice the measured value)
   * on a statement's median over rounds, 3 (four times) on a statement's time measured once (an HTTP
   * run, a capture, fewer than 3 rounds): `SINGLE_MEASUREMENT_TIMING_HEADROOM`. Given, it applies to both.
   */
  readonly timingHeadroom?: number;
  /** Accept the report's current findings, so the first gate passes (default true). */
  readonly acceptFindings?: boolean;
  /** Accepted findings expire this many days after `date` (default: no expiry). */
  readonly expiresInDays?: number;
  /** Day the budget is created (default today). */
  readonly date?: Date | string;
  /**
   * Calls per request allowed to a statement without an entry of its own (a new one), for HTTP
   * reports (default: the threshold of the `n-plus-one` rule, from which it reports a loop).
   */
  readonly loopCallsPerRequest?: number;
}

export const DEFAULT_HEADROOM = 0.2;
export const DEFAULT_TIMING_HEADROOM = 1;
/**
 * Default headroom on the mean time of a statement measured once, without rounds to take a median of
 * (an HTTP run replays each route in one phase; a capture measures the command once). One slow
 * stretch moves such a measurement whole, and it hits one route's phase and not the others, so the
 * statements of other routes do not show it (the gate's machine-speed judgement cannot either): the
 * same unchanged statement measured 28.8 to 87.2 ms in five HTTP runs on a busy 2-core machine (x3.0;
 * 28.8 to 67.4 ms in three runs of the same code). `compare` does not test such timings at all; a
 * limit of four times today's mean passes that spread and still fails a statement ten times slower.
 */
export const SINGLE_MEASUREMENT_TIMING_HEADROOM = 3;
/** Round means a median needs to set one slow round aside: `compare` tests no timing on fewer. */
const MIN_ROUNDS = DEFAULT_COMPARE_THRESHOLDS.timing.minRounds;
/** Timings below this are scheduler noise: a limit under it would fail at random. */
const MIN_MEAN_MS = 1;
/**
 * Slack above a measured mean, whatever the headroom: on a shared machine a statement of a few ms
 * measured up to 10 ms slower in a rerun of the same code (a 1 ms lookup at 9 ms, 4.2 ms at 12.1 ms),
 * while a real regression of it (a lost index on a table large enough to matter) costs tens to
 * hundreds of ms, and its blocks limit catches it at any size.
 */
const MIN_MEAN_SLACK_MS = 10;
/**
 * Slack above a read's blocks per call: a read of a few blocks reads the same pages every time,
 * whatever its parameters pick, within a block or two.
 */
const READ_BLOCK_SLACK = 4;
/**
 * Slack above a write's blocks per call: a small write's blocks depend on the table's state, not
 * on the code (an upsert that inserts extends the table and searches the free space map, one that
 * conflicts updates in place; an index page split): a single-row upsert measured 14 to 19 blocks per
 * call, and 16 then 7, between reruns of the same code. The same floor as `compare`'s, under which a
 * change of blocks per call is never a regression; a lost index (blocks x100) is far above it.
 */
const WRITE_BLOCK_SLACK = DEFAULT_COMPARE_THRESHOLDS.blocksPerCall.absolute;
const MIN_TOTAL_MS = 100;
/**
 * Slack above a route's latency percentile: a phase's p95/p99 is its few slowest requests, one
 * pause of the application, the client or the machine (a GC, a scheduler stretch). `compare` calls a
 * p99 change of less than this never a regression, whatever its ratio; a route ten times slower
 * moves it by far more.
 */
const ROUTE_LATENCY_SLACK_MS = DEFAULT_COMPARE_THRESHOLDS.routes.latencyP99Ms.absolute;

/** Rounds up to two significant digits: 1241.5 -> 1300, 3.61 -> 3.7, 0.0341 -> 0.035. */
export function roundUpNicely(value: number): number {
  if (!(value > 0)) return 0;
  const step = 10 ** (Math.floor(Math.log10(value)) - 1);
  const rounded = Math.ceil(value / step - 1e-9) * step;
  // Strip binary noise (0.1 * 3 = 0.30000000000000004).
  return Number(rounded.toPrecision(12));
}

/** A limit with relative headroom and at least `minSlack` above the value. */
function withHeadroom(value: number, headroom: number, minSlack = 0): number {
  return roundUpNicely(Math.max(value * (1 + headroom), value + minSlack));
}

/**
 * Whether a statement's time is one measurement: fewer round means than a median can set a slow one
 * aside with (none in an HTTP run or a capture, one per round of `run --rounds N`).
 */
export function measuredOnce(q: QueryReport): boolean {
  return (statementMeanMs(q).spread?.samples ?? 1) < MIN_ROUNDS;
}

export { ANY_STATEMENT } from './evaluate.js';

/** The n-plus-one rule's default threshold: a statement run this many times per request is a loop. */
export const LOOP_CALLS_PER_REQUEST = nPlusOne.defaultOptions.minCallsPerRequest;

/**
 * The statements that get an entry of their own, in report order: those with a successful call, and
 * those every call of which failed but that have a plan to limit (a statement timeout): without an
 * entry, such a statement would fall to the default entry, whose plan cost limit is the costliest
 * of the statements that ran, far below its own.
 */
function entered(report: Report): QueryReport[] {
  return report.queries.filter((q) => q.calls > 0 || (q.errors > 0 && q.plan !== null));
}

/** The starting budget as plain data (what `renderInitialBudget` writes). */
export function initialBudget(
  report: Report,
  options: InitOptions = {},
): {
  limits: GlobalLimits;
  routes: RouteBudget[];
  statements: StatementBudget[];
  accepted: AcceptedFinding[];
} {
  const h = options.headroom ?? DEFAULT_HEADROOM;
  const th = options.timingHeadroom ?? DEFAULT_TIMING_HEADROOM;
  const statementTh = (q: QueryReport) =>
    options.timingHeadroom ?? (measuredOnce(q) ? SINGLE_MEASUREMENT_TIMING_HEADROOM : DEFAULT_TIMING_HEADROOM);
  const routes = report.routes ?? [];
  const maxOf = (values: readonly number[]) => Math.max(0, ...values);
  const percentile = (key: 'p95' | 'p99') =>
    routes
      .map((r) => (r.latency as unknown as Record<string, unknown>)[key])
      .filter((v): v is number => typeof v === 'number');

  const limits: Record<string, number> = {
    totalDbMs: Math.max(withHeadroom(totalDbMs(report).value, th), MIN_TOTAL_MS),
  };
  if (routes.length > 0) {
    // For a route without an entry of its own below: a new one. A route's timings are measured
    // once, in its one phase, as its statements' are: the same headroom.
    const routeTh = options.timingHeadroom ?? SINGLE_MEASUREMENT_TIMING_HEADROOM;
    limits.statementsPerRequest = withHeadroom(maxOf(routes.map((r) => r.statementsPerRequest)), h, 1);
    limits.dbMsPerRequest = Math.max(
      withHeadroom(maxOf(routes.map((r) => r.dbMsPerRequest)), routeTh, MIN_MEAN_SLACK_MS),
      MIN_MEAN_MS,
    );
    const p95 = percentile('p95');
    if (p95.length > 0)
      limits.routeP95Ms = Math.max(withHeadroom(maxOf(p95), routeTh, ROUTE_LATENCY_SLACK_MS), MIN_MEAN_MS);
    const p99 = percentile('p99');
    if (p99.length > 0)
      limits.routeP99Ms = Math.max(withHeadroom(maxOf(p99), routeTh, ROUTE_LATENCY_SLACK_MS), MIN_MEAN_MS);
  }
  limits.errorRate = Math.min(1, Math.max(roundUpNicely(errorRate(report) * (1 + h)), 0.01));

  // Statements per request of each route as it is today: a new loop on a cheap route shows, however
  // many statements the busiest route runs.
  const routeBudgets: RouteBudget[] = routes
    .filter((r) => r.requests > 0)
    .map((r) => ({
      route: r.name || `${r.method} ${r.path}`,
      maxStatementsPerRequest: withHeadroom(r.statementsPerRequest, h, 1),
    }));

  const measured = report.queries.filter((q) => q.calls > 0);
  const statements: StatementBudget[] = entered(report).map((q) => {
    const name = statementName(q);
    // Every call failed (a statement timeout): no time, blocks or rows were measured, only its plan.
    // Its own plan cost limit keeps it from the default entry's, set from the statements that ran
    // (its failures are its statement-errors finding, accepted below).
    if (q.calls === 0)
      return {
        ...(name !== undefined ? { name } : {}),
        fingerprint: q.fingerprint,
        maxPlanCost: withHeadroom(q.plan!.totalCost, h, 1),
        reference: statementReference(q, report),
      };
    const onRoutes = (q.routes ?? []).map((r) => r.callsPerRequest);
    // A statement every route runs in a loop: once the loop is batched into one statement, its
    // per-call limits are judged per request, at the fewest calls per request of today.
    const loop = onRoutes.length > 0 ? Math.min(...onRoutes) : 0;
    return {
      ...(name !== undefined ? { name } : {}),
      fingerprint: q.fingerprint,
      maxMeanMs: Math.max(withHeadroom(statementMeanMs(q).value, statementTh(q), MIN_MEAN_SLACK_MS), MIN_MEAN_MS),
      ...(q.plan ? { maxPlanCost: withHeadroom(q.plan.totalCost, h, 1) } : {}),
      // Blocks are counted: a whole number, with an absolute floor of slack for small values.
      maxBlocksPerCall: Math.ceil(
        withHeadroom(q.sharedBlksPerCall, h, q.kind === 'select' ? READ_BLOCK_SLACK : WRITE_BLOCK_SLACK),
      ),
      // Rows are counted: a whole number of them (7.2 allows no more than 7 does).
      maxRowsPerCall: Math.ceil(withHeadroom(q.rowsPerCall, h, 1)),
      ...(onRoutes.length > 0 ? { maxCallsPerRequest: withHeadroom(maxOf(onRoutes), h, 1) } : {}),
      ...(loop >= 2 ? { callsPerRequest: Math.floor(loop * 100) / 100 } : {}),
      reference: statementReference(q, report),
    };
  });
  // An entry without matchers applies to every statement that has no entry of its own, a new one
  // included: none may cost more than the costliest one of today (a new feature's query), nor run
  // in a loop (a new N+1).
  const planned = measured.filter((q) => q.plan);
  if (measured.length > 0)
    statements.push({
      name: ANY_STATEMENT,
      ...(planned.length > 0 ? { maxPlanCost: withHeadroom(maxOf(planned.map((q) => q.plan!.totalCost)), h, 1) } : {}),
      maxBlocksPerCall: Math.ceil(withHeadroom(maxOf(measured.map((q) => q.sharedBlksPerCall)), h, READ_BLOCK_SLACK)),
      ...(routes.length > 0 ? { maxCallsPerRequest: options.loopCallsPerRequest ?? LOOP_CALLS_PER_REQUEST } : {}),
    });

  const accepted: AcceptedFinding[] = [];
  if (options.acceptFindings ?? true) {
    const day =
      typeof options.date === 'string'
        ? options.date.slice(0, 10)
        : (options.date ?? new Date()).toISOString().slice(0, 10);
    const expires =
      options.expiresInDays !== undefined
        ? new Date(Date.parse(`${day}T00:00:00Z`) + options.expiresInDays * 86_400_000).toISOString().slice(0, 10)
        : undefined;
    const seen = new Set<string>();
    for (const q of report.queries) {
      for (const f of q.findings) {
        const key = `${f.rule} ${q.fingerprint}`;
        if (seen.has(key)) continue;
        seen.add(key);
        accepted.push({
          rule: f.rule,
          fingerprint: q.fingerprint,
          reason: `present when this budget was created (${day}); review and fix or explain`,
          ...(expires !== undefined ? { expires } : {}),
        });
      }
    }
  }
  return { limits, routes: routeBudgets, statements, accepted };
}

/** Why a report's statements have one measurement each, in a few words. */
function oneMeasurementCause(report: Report): string {
  switch (report.workload.kind) {
    case 'http':
      return 'an HTTP run replays each route once, in one phase';
    case 'external':
      return 'a capture measures the command once';
    default:
      return report.workload.rounds < MIN_ROUNDS
        ? `${report.workload.rounds} round(s) in this run: run --rounds ${MIN_ROUNDS} gives a median`
        : `calls in fewer than ${MIN_ROUNDS} of the run's rounds`;
  }
}

/** The starting budget as commented YAML, ready to commit as querygate.budget.yaml. */
export function renderInitialBudget(report: Report, options: InitOptions = {}): string {
  const { limits, routes, statements, accepted } = initialBudget(report, options);
  const doc = new Document({
    version: 1,
    limits,
    ...(routes.length > 0 ? { routes } : {}),
    statements,
    ...(accepted.length > 0 ? { accepted } : {}),
  });
  const measured = report.queries.filter((q) => q.calls > 0);
  const once = measured.filter(measuredOnce);
  doc.commentBefore = [
    ' querygate budget: limits that fail CI when exceeded (querygate check report.json).',
    ` Created from a report of workload "${report.workload.name}" (${report.createdAt.slice(0, 10)}): measured values plus headroom.`,
    ` Times are ms (gated on the median over rounds${once.length > 0 ? ', where there are rounds' : ''}), plan costs are planner units, blocks are 8 kB pages.`,
    ...(once.length > 0 && options.timingHeadroom === undefined
      ? [
          ` ${once.length === measured.length ? 'Statement times are' : 'Some statement times are'} measured once here, without rounds to take a median of`,
          ` (${oneMeasurementCause(report)}): one slow stretch of a busy machine moves such a measurement`,
          ` whole (x3 between runs of the same code), so maxMeanMs is ${SINGLE_MEASUREMENT_TIMING_HEADROOM + 1}x the mean where it says "measured once"`,
          ` (${DEFAULT_TIMING_HEADROOM + 1}x a median). Limits on blocks, rows and plan cost are as tight as on any statement.`,
        ]
      : []),
    ...((report.routes ?? []).length > 0 && options.timingHeadroom === undefined
      ? [
          ` Route latency and database time per request are measured once too, in each route's phase:`,
          ` ${SINGLE_MEASUREMENT_TIMING_HEADROOM + 1}x the highest route's, and p95/p99 at least ${ROUTE_LATENCY_SLACK_MS} ms above it.`,
        ]
      : []),
    ' Rule severities and thresholds go in a rules: section, e.g. rules: { <rule-id>: warning }.',
    " A statement's reference: is no limit: what it measured in that report, against which check tells a slower",
    " machine, another mix of parameters and ANALYZE's sample from a regression.",
  ].join('\n');
  const contents = doc.contents;
  if (isMap(contents)) {
    const routeSeq = contents.get('routes', true);
    if (isSeq(routeSeq)) {
      routeSeq.commentBefore = ' Per route: these replace the per-route limits above, which apply to a new route.';
      const named = (report.routes ?? []).filter((r) => r.requests > 0);
      routeSeq.items.forEach((item, i) => {
        const r = named[i];
        if (r && r.name && isMap(item)) (item as YAMLMap).commentBefore = ` ${r.method} ${r.path}`;
      });
    }
    const seq = contents.get('statements', true);
    if (isSeq(seq)) {
      seq.items.forEach((item, i) => {
        const q = entered(report)[i];
        if (!q && isMap(item))
          (item as YAMLMap).commentBefore =
            ' No matchers: the limits of every statement without an entry of its own, a new one included' +
            ' (this name is its label; another name alone would match the statements of that name).' +
            ' No new statement may cost more than the costliest of today' +
            ((item as YAMLMap).has('maxCallsPerRequest')
              ? ', nor run in a loop (the calls per request from which the n-plus-one rule reports one).'
              : '.');
        if (q && isMap(item)) {
          (item as YAMLMap).commentBefore =
            ` ${q.query.replace(/\s+/g, ' ').trim().slice(0, 110)}` +
            (q.nested ? ` (run inside ${q.nested.functions[0] ? `${q.nested.functions[0]}()` : 'a function'})` : '') +
            (q.calls === 0
              ? `\n Every call failed in this report (${q.errors}): no time, blocks or rows were measured, so only its plan cost is limited here.`
              : '');
          const mean = (item as YAMLMap).get('maxMeanMs', true) as { comment?: string } | undefined;
          if (mean && measuredOnce(q) && options.timingHeadroom === undefined) mean.comment = ' measured once';
          // Fingerprints are hex: quote them so an all-digit one stays a string.
          const fp = (item as YAMLMap).get('fingerprint', true) as { type?: string } | undefined;
          if (fp) fp.type = 'QUOTE_DOUBLE';
          const loop = (item as YAMLMap).get('callsPerRequest', true) as { comment?: string } | undefined;
          if (loop)
            loop.comment =
              ' not a limit: run in a loop today; with fewer calls per request (the loop batched), the per-call limits count per request';
          const reference = (item as YAMLMap).get('reference', true);
          if (isMap(reference)) {
            // One line: facts for the gate to judge against, not limits to edit.
            reference.flow = true;
            // Hex, like the fingerprint: quoted so that an all-digit one stays a string.
            const shape = reference.get('planShape', true) as { type?: string } | undefined;
            if (shape) shape.type = 'QUOTE_DOUBLE';
          }
        }
      });
    }
    const acc = contents.get('accepted', true);
    if (isSeq(acc)) {
      for (const item of acc.items) {
        const fp = isMap(item)
          ? ((item as YAMLMap).get('fingerprint', true) as { type?: string } | undefined)
          : undefined;
        if (fp) fp.type = 'QUOTE_DOUBLE';
      }
    }
  }
  return doc.toString({ lineWidth: 0 });
}
