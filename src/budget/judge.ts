/**
 * Values over their limit that the budget's reference explains without a regression
 * (`StatementBudget.reference`, `LimitMeasurement.notCounted`). Pure.
 *
 * A limit compares a number with a number. What moves a statement's numbers while its work stays the
 * same: the machine (a branch's own slow statement, or a neighbour's build, slows every statement of
 * the run), the mix of parameters a run drew (with skewed data, blocks and rows per call are an
 * average over very different calls), ANALYZE's random sample (the estimates of an unchanged plan).
 * These are told apart here, against what the statement measured when the budget was made. A
 * statement whose work grew is never excused.
 */
import { nodeLabel, planShape } from '../analyze/plan.js';
import type {
  Budget,
  LimitCheck,
  LimitMeasurement,
  LimitName,
  NotCounted,
  StatementReference,
} from '../model/budget.js';
import type { QueryReport, Report } from '../model/report.js';
import {
  parameterDraws,
  parametersMayDiffer,
  withinSpread,
  workSpreadTest,
  WORK_SPREAD_ALPHA,
} from '../compare/work-spread.js';
import { formatMs, formatQuantity, formatRatio } from '../report/format.js';
import { median, statementMeanMs } from './measures.js';

/** The limits on what a statement does, as opposed to how long it takes. */
const WORK_LIMITS: ReadonlySet<LimitName> = new Set([
  'maxPlanCost',
  'maxBlocksPerCall',
  'maxRowsPerCall',
  'maxCallsPerRequest',
  'statementsPerRequest',
  'maxStatementsPerRequest',
]);

const ROUTE_TIME_LIMITS: ReadonlySet<LimitName> = new Set([
  'dbMsPerRequest',
  'maxDbMsPerRequest',
  'routeP95Ms',
  'routeP99Ms',
  'maxP95Ms',
  'maxP99Ms',
]);

/**
 * Statements whose reference mean times are within this factor of each other are of similar
 * duration, as `compare` judges timings: load slows a statement of tens of ms, preempted many times
 * per call, far more than a 0.1 ms lookup that runs within one time slice.
 */
const SIMILAR_DURATION = 10;
/**
 * How far over its limit a plan cost with the plan's shape unchanged is not counted, in cost units:
 * ANALYZE estimates from a random sample, and the same Index Only Scan costs 8.46 after one ANALYZE
 * and 11.07 after the next. 10 units are two random page reads at the default random_page_cost of 4,
 * and the rows' CPU cost: no plan that reads more pages hides in it.
 */
const PLAN_COST_SAMPLE = 10;
/** Statements a machine speed is taken from, at least: the nearest in duration when too few are similar. */
const MIN_PEERS = 3;

/** A statement with its reference, as the judgement reads it. */
interface Referenced {
  readonly q: QueryReport;
  readonly reference: StatementReference;
}

/** How much slower statements ran than when the budget was made, and over which. */
interface Speed {
  readonly ratio: number;
  readonly statements: readonly string[];
  /** Whether they are all of similar duration to the statement judged. */
  readonly similar: boolean;
}

/** The reference of each statement: from the entry with its fingerprint that has one. */
function references(report: Report, budget: Budget): Map<string, Referenced> {
  const out = new Map<string, Referenced>();
  for (const q of report.queries) {
    const entry = budget.statements.find((e) => e.fingerprint === q.fingerprint && e.reference !== undefined);
    if (entry?.reference) out.set(q.fingerprint, { q, reference: entry.reference });
  }
  return out;
}

const statementOf = (m: LimitMeasurement) => (m.subject.kind === 'statement' ? m.subject.fingerprint : undefined);

/** Recomputes a check's status from its measurements (a check whose violations are all explained passes). */
function withStatus(check: LimitCheck): LimitCheck {
  if (check.status === 'skipped' || check.measurements.length === 0) return check;
  return { ...check, status: check.measurements.every((m) => m.passed) ? 'pass' : 'fail' };
}

/** The measurement, not counted for `why`. */
function excuse(m: LimitMeasurement, why: NotCounted): LimitMeasurement {
  return { ...m, passed: true, notCounted: why };
}

/**
 * Judges the violations of `limits` against the budget's references: every value over its limit that
 * they explain is marked `notCounted` and passes. Returns the checks, and the run's speed relative to
 * the references when there are enough of them.
 */
export function judgeAgainstReferences(
  report: Report,
  budget: Budget,
  limits: readonly LimitCheck[],
): { limits: LimitCheck[]; speed?: { ratio: number; statements: number } } {
  const refs = references(report, budget);
  if (refs.size === 0) return { limits: [...limits] };
  // The plan its reference recorded (or no plan, then and now).
  const samePlan = ({ q, reference }: Referenced) =>
    reference.planShape === undefined ? !q.plan : q.plan ? planShape(q.plan.root) === reference.planShape : false;
  // No other plan than the one its reference recorded, if it recorded one.
  const noOtherPlan = (r: Referenced) => r.reference.planShape === undefined || samePlan(r);

  // A small plan cost over its limit with the plan unchanged: ANALYZE's sample, not the statement.
  let judged = limits.map((check) => {
    if (check.limit !== 'maxPlanCost' || check.status !== 'fail') return check;
    const measurements = check.measurements.map((m) => {
      const fp = statementOf(m);
      const r = fp !== undefined ? refs.get(fp) : undefined;
      if (m.passed || m.perRequest || !r || r.reference.planShape === undefined || !samePlan(r)) return m;
      const over = m.measured - check.threshold;
      if (over > PLAN_COST_SAMPLE) return m;
      return excuse(m, {
        kind: 'plan-cost-sample',
        reason:
          `the plan has the shape its reference recorded (${nodeLabel(r.q.plan!.root)}${r.q.plan!.root.Plans?.length ? ', ...' : ''}), ` +
          `and its cost is ${formatQuantity(over)} over the limit${r.reference.planCost !== undefined ? ` (${formatQuantity(r.reference.planCost)} when the budget was made)` : ''}: ` +
          `ANALYZE's random sample moves the estimates of an unchanged plan by a few cost units (at most ${PLAN_COST_SAMPLE}, about two random page reads)`,
        evidence: {
          over: round(over),
          ...(r.reference.planCost !== undefined ? { reference: r.reference.planCost } : {}),
          planShape: r.reference.planShape,
        },
      });
    });
    return withStatus({ ...check, measurements });
  });

  // Blocks and rows per call that another mix of parameters explains.
  judged = judged.map((check) => {
    if ((check.limit !== 'maxBlocksPerCall' && check.limit !== 'maxRowsPerCall') || check.status !== 'fail')
      return check;
    const measurements = check.measurements.map((m) => {
      const fp = statementOf(m);
      const r = fp !== undefined ? refs.get(fp) : undefined;
      if (m.passed || m.perRequest || !r) return m;
      // Blocks depend on the plan: another plan is another statement's work, whatever the spread.
      if (check.limit === 'maxBlocksPerCall' && !samePlan(r)) return m;
      const why = spreadExplains(report, r, check.limit === 'maxBlocksPerCall' ? 'blocks' : 'rows', m.measured);
      return why ? excuse(m, why) : m;
    });
    return withStatus({ ...check, measurements });
  });

  // Work, as measured against the work limits: a statement whose work is over its budget, or whose
  // plan is not the one of its reference, did other work, and its timings are its own. One whose work
  // is within its budget only by its spread over the parameters drawn did other work than its
  // reference too: its time does not tell the machine's speed, and is judged by that spread.
  const work = new Map<string, { measured: number; failing: number; spread: number }>();
  for (const check of judged) {
    if (!WORK_LIMITS.has(check.limit)) continue;
    for (const m of check.measurements) {
      const fp = statementOf(m);
      if (fp === undefined) continue;
      const w = work.get(fp) ?? { measured: 0, failing: 0, spread: 0 };
      work.set(fp, {
        measured: w.measured + 1,
        failing: w.failing + (m.passed ? 0 : 1),
        spread: w.spread + (m.notCounted?.kind === 'within-spread' ? 1 : 0),
      });
    }
  }
  const workWithin = (fp: string) => {
    const w = work.get(fp);
    const r = refs.get(fp);
    return w !== undefined && w.measured > 0 && w.failing === 0 && r !== undefined && noOtherPlan(r);
  };
  const sameWork = (fp: string) => workWithin(fp) && work.get(fp)!.spread === 0;
  // The statements that tell the machine's speed: the work of their reference, and a time now.
  const timed = [...refs.values()].filter(
    (r) => r.q.calls > 0 && (r.reference.meanMs ?? 0) > 0 && sameWork(r.q.fingerprint),
  );
  const ratioOf = (r: Referenced) => statementMeanMs(r.q).value / r.reference.meanMs!;

  /** The speed of the statements of similar duration to `fp` (itself left out), or undefined. */
  const speedFor = (fp: string): Speed | undefined => {
    const own = refs.get(fp)?.reference.meanMs;
    if (own === undefined || !(own > 0)) return undefined;
    const peers = timed.filter((r) => r.q.fingerprint !== fp);
    if (peers.length < MIN_PEERS) return undefined;
    const distance = (r: Referenced) => Math.abs(Math.log(r.reference.meanMs! / own));
    const similar = peers.filter((r) => distance(r) <= Math.log(SIMILAR_DURATION));
    const chosen =
      similar.length >= MIN_PEERS ? similar : [...peers].sort((a, b) => distance(a) - distance(b)).slice(0, MIN_PEERS);
    return {
      ratio: median(chosen.map(ratioOf)),
      statements: chosen.map((r) => r.q.source ?? r.q.fingerprint),
      similar: similar.length >= MIN_PEERS,
    };
  };
  const runSpeed = timed.length >= MIN_PEERS ? median(timed.map(ratioOf)) : undefined;

  // Timings of statements whose work is within budget, against the speed of their peers.
  judged = judged.map((check) => {
    if (check.limit !== 'maxMeanMs' || check.status !== 'fail') return check;
    const measurements = check.measurements.map((m) => {
      const fp = statementOf(m);
      if (m.passed || m.perRequest || fp === undefined || !workWithin(fp)) return m;
      if (!sameWork(fp)) {
        // Its work moved with the parameters drawn, and its time with it: judged by the same spread,
        // against its reference at this machine's speed.
        const machine = Math.max(1, speedFor(fp)?.ratio ?? 1);
        const why = spreadExplains(report, refs.get(fp)!, 'time', m.measured, machine);
        return why ? excuse(m, why) : m;
      }
      const speed = speedFor(fp);
      if (!speed || speed.ratio <= 1 || m.measured > check.threshold * speed.ratio) return m;
      const scaled = check.threshold * speed.ratio;
      return excuse(m, {
        kind: 'machine-speed',
        reason:
          `its work is within its budget and its plan unchanged, while the ${speed.statements.length} statements ` +
          `${speed.similar ? 'of similar duration' : 'nearest in duration'} whose work is within theirs ran ` +
          `x${formatRatio(speed.ratio)} slower than when the budget was made (median of ${speed.statements.slice(0, 3).join(', ')}` +
          `${speed.statements.length > 3 ? ', ...' : ''}): at that speed the limit is ${formatMs(scaled)}`,
        evidence: {
          speed: round(speed.ratio),
          statements: speed.statements.length,
          scaledLimitMs: round(scaled),
          referenceMeanMs: refs.get(fp)!.reference.meanMs!,
        },
      });
    });
    return withStatus({ ...check, measurements });
  });

  // Every statement's time at the speed of the statements of its duration when the budget was made
  // (and at its reference's time per call when its work moved with the parameters drawn): what the
  // run's database time and a route's would have been then. A statement without a reference (a new
  // one) or whose work is over its budget counts as measured.
  const atReference = (fp: string): number => {
    if (!workWithin(fp)) return 1;
    const machine = Math.max(1, speedFor(fp)?.ratio ?? 1);
    if (sameWork(fp)) return 1 / machine;
    // Its work moved with the parameters drawn: its time per call as its reference's, at this speed.
    const { q, reference } = refs.get(fp)!;
    return q.meanMs > 0 && reference.meanMs !== undefined ? Math.min(1, (reference.meanMs * machine) / q.meanMs) : 1;
  };
  const failingWork = judged.some((c) => WORK_LIMITS.has(c.limit) && c.status === 'fail');
  const failingStatementTime = judged.some((c) => c.limit === 'maxMeanMs' && c.status === 'fail');

  judged = judged.map((check) => {
    if (check.limit !== 'totalDbMs' || check.status !== 'fail' || failingWork || failingStatementTime) return check;
    const measurements = check.measurements.map((m) => {
      const total = report.queries.reduce((s, q) => s + q.totalMs, 0);
      const scaledTotal = report.queries.reduce((s, q) => s + q.totalMs * atReference(q.fingerprint), 0);
      if (!(total > 0)) return m;
      const scaled = m.measured * (scaledTotal / total);
      if (scaled > check.threshold) return m;
      return excuse(m, {
        kind: 'machine-speed',
        reason:
          "every statement's work and time are within their budget, and with each statement's time divided by how much " +
          'slower the statements of its duration ran than when the budget was made (a statement whose work moved with the ' +
          `parameters drawn at its reference's time per call), the run's database time is ${formatMs(scaled)}`,
        evidence: { scaledMs: round(scaled), ...(runSpeed !== undefined ? { speed: round(runSpeed) } : {}) },
      });
    });
    return withStatus({ ...check, measurements });
  });

  // Route timings: a route whose statements per request and statements' work are within budget.
  const routeWorkFailing = (route: string) =>
    judged.some(
      (c) =>
        WORK_LIMITS.has(c.limit) &&
        c.measurements.some(
          (m) =>
            !m.passed &&
            ((m.subject.kind === 'route' && m.subject.route === route) ||
              (m.subject.kind === 'statement' && routeRuns(report, route, m.subject.fingerprint))),
        ),
    );
  judged = judged.map((check) => {
    if (!ROUTE_TIME_LIMITS.has(check.limit) || check.status !== 'fail') return check;
    const dbTime = check.limit === 'dbMsPerRequest' || check.limit === 'maxDbMsPerRequest';
    // Latency is the application's too: only the run's speed tells it.
    if (!dbTime && runSpeed === undefined) return check;
    const measurements = check.measurements.map((m) => {
      if (m.passed || m.subject.kind !== 'route' || routeWorkFailing(m.subject.route)) return m;
      const name = m.subject.route;
      const route = (report.routes ?? []).find((r) => (r.name || `${r.method} ${r.path}`) === name);
      if (!route) return m;
      let scaled: number;
      if (dbTime) {
        const total = route.statements.reduce((s, x) => s + x.dbMsPerRequest, 0);
        const atSpeed = route.statements.reduce((s, x) => s + x.dbMsPerRequest * atReference(x.fingerprint), 0);
        scaled = total > 0 ? m.measured * (atSpeed / total) : m.measured;
      } else {
        scaled = m.measured / Math.max(1, runSpeed!);
      }
      if (scaled > check.threshold) return m;
      return excuse(m, {
        kind: 'machine-speed',
        reason:
          "the route's statements per request and its statements' work are within their budget, and " +
          (dbTime
            ? "with each statement's time at the speed of the statements of its duration when the budget was made (a " +
              "statement whose work moved with the parameters drawn at its reference's time per call), the route's " +
              `database time per request is ${formatMs(scaled)}`
            : `the run's statements ran x${formatRatio(runSpeed!)} slower than when the budget was made: at that speed the ` +
              `route measures ${formatMs(scaled)}`),
        evidence: { ...(runSpeed !== undefined ? { speed: round(runSpeed) } : {}), scaledMs: round(scaled) },
      });
    });
    return withStatus({ ...check, measurements });
  });

  return {
    limits: judged,
    ...(runSpeed !== undefined ? { speed: { ratio: round(runSpeed), statements: timed.length } } : {}),
  };
}

/**
 * Why a statement's blocks or rows per call over their limit are within its run-to-run spread over
 * the parameters it draws (`workSpreadTest`), or undefined: runs of the same count draw the same
 * parameters, and then any difference is the statement's.
 */
function spreadExplains(
  report: Report,
  { q, reference }: Referenced,
  what: 'blocks' | 'rows' | 'time',
  measured: number,
  machine = 1,
): NotCounted | undefined {
  const { calls, meanMs, stddevMs } = reference;
  const recorded = what === 'blocks' ? reference.blocksPerCall : what === 'rows' ? reference.rowsPerCall : meanMs;
  if (recorded === undefined || calls === undefined || meanMs === undefined || stddevMs === undefined) return undefined;
  const then = recorded * machine;
  const drawsThen = reference.requests ?? calls;
  const drawsNow = parameterDraws(q, report.routes);
  if (!parametersMayDiffer(drawsThen, drawsNow, [report.workload])) return undefined;
  const test = workSpreadTest(
    { value: then, draws: drawsThen, meanMs, stddevMs },
    { value: measured, draws: drawsNow, meanMs: q.meanMs, stddevMs: q.stddevMs },
  );
  if (!withinSpread(test)) return undefined;
  const per =
    what === 'time'
      ? `a mean of ${formatMs(recorded)} over ${drawsThen} parameter draws when the budget was made` +
        `${machine > 1 ? ` (${formatMs(then)} at this run's speed, x${formatRatio(machine)})` : ''} against ${formatMs(measured)} over ${drawsNow} now`
      : `${formatQuantity(then)} ${what} per call over ${drawsThen} parameter draws when the budget was made against ` +
        `${formatQuantity(measured)} over ${drawsNow} now`;
  return {
    kind: 'within-spread',
    reason:
      (what === 'blocks'
        ? 'the plan is the one its reference recorded, and '
        : what === 'time'
          ? 'its blocks or rows per call moved within its spread over the parameters drawn, and so did its time: '
          : '') +
      `${per} is within the statement's run-to-run spread: its time per call varies by ` +
      `${test.cvA.toFixed(2)} and ${test.cvB.toFixed(2)} of its mean between calls, as its parameters do, which makes the ` +
      `difference ${test.t.toFixed(1)} standard errors (p=${test.p.toFixed(2)}, a regression needs p < ${WORK_SPREAD_ALPHA}); ` +
      'a count-based load draws the same parameters in every run',
    evidence: {
      reference: then,
      referenceDraws: drawsThen,
      draws: drawsNow,
      t: round(test.t),
      p: round(test.p),
      cvReference: round(test.cvA),
      cv: round(test.cvB),
    },
  };
}

/** Whether a route runs a statement. */
function routeRuns(report: Report, route: string, fingerprint: string): boolean {
  const r = (report.routes ?? []).find((x) => (x.name || `${x.method} ${x.path}`) === route);
  return r?.statements.some((s) => s.fingerprint === fingerprint && s.callsPerRequest > 0) ?? false;
}

function round(n: number): number {
  return Number(n.toPrecision(4));
}
