/**
 * Whether two per-call averages of a statement's work (shared blocks or rows per call) can come from
 * the same statement drawing other parameters. Pure; used by `compare` and by the budget gate.
 *
 * A statement's work per call depends on its parameters: with one tenant holding 60% of the rows,
 * the call for that tenant reads a hundred times the blocks of any other. A run's blocks per call
 * are the average over the parameters it drew, and a run of 13 requests that drew the big tenant
 * three times reads 1,559 blocks per call where one of 12 requests that drew it once reads 597.
 * Count-based loads draw the same parameters in every run (the generators are seeded); a `duration`
 * phase draws as many as fit in its time, a `capture` whatever the load sent.
 *
 * pg_stat_statements keeps no spread of blocks or rows per call, but it does keep the standard
 * deviation of the time per call, and a statement's time follows its work: the call that reads a
 * hundred times the blocks takes about a hundred times as long. So the coefficient of variation of
 * the time per call stands for that of the work, and with the calls' parameter draws it gives the
 * standard error of each average: a difference within a few of them is the statement's own
 * run-to-run spread. The estimate errs wide when the time varies for other reasons (a stall of the
 * machine), which is why `compare` and the gate apply it only when the plan's shape is the same:
 * a dropped index or another plan never passes as spread.
 */
import type { QueryReport, RouteReport, WorkloadInfo } from '../model/report.js';
import { studentTTwoSided } from './stats.js';

/** A per-call average of work and what its spread is estimated from. */
export interface WorkSample {
  /** The per-call average: shared blocks or rows per call. */
  readonly value: number;
  /** Independent parameter draws behind it (`parameterDraws`). */
  readonly draws: number;
  /** Mean and standard deviation of the time per call, ms. */
  readonly meanMs: number;
  readonly stddevMs: number;
}

export interface WorkSpreadTest {
  /** The difference (b - a) in pooled standard errors. */
  readonly t: number;
  readonly df: number;
  /** One-sided p-value of a difference at least this large in the direction observed. */
  readonly p: number;
  /** Coefficient of variation of the time per call on each side (standard deviation / mean). */
  readonly cvA: number;
  readonly cvB: number;
}

/**
 * Below this one-sided p-value a difference is more than the statement's own spread (as `compare`
 * tests timings at 0.01). A dropped index moves it by many standard errors (t > 7 in the tests).
 */
export const WORK_SPREAD_ALPHA = 0.01;

/**
 * How many independent parameter draws a statement's per-call figures average over: its calls, or
 * in an HTTP run the requests (own phase and mixed phase) of the routes that ran it, when fewer (the
 * 20 calls of a loop in one request share that request's parameters).
 */
export function parameterDraws(q: QueryReport, routes: readonly RouteReport[] | undefined): number {
  const running = new Set((q.routes ?? []).filter((r) => r.callsPerRequest > 0).map((r) => r.route));
  if (running.size === 0 || !routes) return q.calls;
  // A route's requests in its own phase and in the mixed phase, which runs it too.
  const requests = routes
    .filter((r) => running.has(r.name))
    .reduce((s, r) => s + r.requests + (r.mixed?.requests ?? 0), 0);
  return requests > 0 ? Math.min(q.calls, requests) : q.calls;
}

/**
 * Whether two runs can have drawn different parameters for a statement: a different number of
 * draws, or a load that draws what fits in a time (a `duration`) or whatever another tool sent
 * (`capture`). Runs of the same count or repeat draw the same seeded parameters.
 */
export function parametersMayDiffer(drawsA: number, drawsB: number, workloads: readonly WorkloadInfo[]): boolean {
  return drawsA !== drawsB || workloads.some((w) => w.durationMs !== undefined || w.kind === 'external');
}

/**
 * The difference of two per-call averages in standard errors of the spread both share if one
 * statement made both (a pooled two-sample t-test on the averages, with the spread of each side
 * estimated from its time per call). Undefined when it cannot be told: fewer than two draws on a
 * side, or no spread measured on either.
 *
 * @example
 * // 597 blocks per call over 12 requests (time per call varying x3.1) and 1,559 over 13 (x1.8):
 * workSpreadTest({ value: 597, draws: 12, meanMs: 32, stddevMs: 100 }, { value: 1559, draws: 13, meanMs: 90, stddevMs: 164 });
 * // { t: 0.99, df: 23, p: 0.17, ... }: within the statement's spread
 */
export function workSpreadTest(a: WorkSample, b: WorkSample): WorkSpreadTest | undefined {
  if (a.draws < 2 || b.draws < 2) return undefined;
  const cv = (s: WorkSample) => (s.meanMs > 0 ? s.stddevMs / s.meanMs : 0);
  const cvA = cv(a);
  const cvB = cv(b);
  // The spread of the work per call on each side, pooled as one statement's would be.
  const sa = cvA * a.value;
  const sb = cvB * b.value;
  const pooled = (a.draws * sa * sa + b.draws * sb * sb) / (a.draws + b.draws);
  const se = Math.sqrt(pooled * (1 / a.draws + 1 / b.draws));
  if (!(se > 0)) return undefined;
  const t = (b.value - a.value) / se;
  const df = a.draws + b.draws - 2;
  return { t, df, p: studentTTwoSided(t, df) / 2, cvA, cvB };
}

/** Whether a difference is within the spread by `workSpreadTest`. */
export function withinSpread(test: WorkSpreadTest | undefined): test is WorkSpreadTest {
  return test !== undefined && test.p >= WORK_SPREAD_ALPHA;
}
