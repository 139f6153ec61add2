/**
 * Per-route comparison of two HTTP reports: what one request of each route costs in base and in
 * head. Statements per request and the error rate are judged as measured. Database time per
 * request and latency p99 come from one phase per report, so there is no spread to test: by default
 * they are shown and never counted (`timingRegressions`). When a budget opts in, they need a large
 * relative and absolute change, measured against the other routes' overall change (a slower CI
 * machine slows every route; one route that got slower than the others did not). A route that runs a
 * statement that regressed regressed with it: the statement's work is the route's, whether or not
 * the route's timings show it.
 */
import type {
  ComparisonReason,
  MetricChange,
  RelativeThreshold,
  RouteComparison,
  RouteThresholds,
  RouteTimingVerdict,
  RouteVerdict,
} from '../model/comparison.js';
import type { Report, RouteReport } from '../model/report.js';
import { formatQuantity, formatRatio } from '../report/format.js';
import { clip } from '../text.js';
import { reason } from './reason.js';
import { twoProportionTest } from './stats.js';

/** Routes with unchanged work needed before route timings are judged relative to their median. */
const MIN_SPEED_REFERENCES = 3;

/**
 * Significance level of the error-rate test (one-sided two-proportion z-test): a route's failed
 * requests count as up or down only when chance is unlikely to explain the difference.
 */
export const ERROR_RATE_ALPHA = 0.01;

/** pg_stat_statements reports microseconds at best; latencies are whole microseconds too. */
const MIN_MS = 0.001;

/** A statement that regressed (matched, or new in head), by fingerprint, for the routes that run it. */
export interface RegressedStatement {
  readonly query: string;
  /** Only in head. */
  readonly isNew: boolean;
  readonly reasons: readonly ComparisonReason[];
}

export interface RouteComparisonResult {
  readonly routes: RouteComparison[];
  readonly added: string[];
  readonly removed: string[];
  readonly speed: { readonly dbTime: number; readonly latency: number; readonly routes: number } | null;
}

/** Failed requests (no response, or not 2xx) over all requests of the route's own phase. */
export function routeErrorRate(r: RouteReport): number {
  const attempts = r.requests + r.errors;
  return attempts > 0 ? (r.errors + r.non2xx) / attempts : 0;
}

/**
 * Compares the routes both reports have (matched by name). `changedPlans`: fingerprints of
 * statements whose plan shape changed, whose routes are not used to estimate the overall speed.
 * `regressed`: the statements that regressed, by fingerprint: a route that runs one in head
 * regressed too (`route-statement-regressed`).
 */
export function compareRoutes(
  base: Report,
  head: Report,
  t: RouteThresholds,
  changedPlans: ReadonlySet<string>,
  regressed: ReadonlyMap<string, RegressedStatement> = new Map(),
): RouteComparisonResult {
  const baseBy = new Map((base.routes ?? []).map((r) => [r.name, r]));
  const headNames = new Set((head.routes ?? []).map((r) => r.name));
  const pairs = (head.routes ?? []).flatMap((h) => {
    const b = baseBy.get(h.name);
    return b ? [{ b, h }] : [];
  });

  // The overall change of route timings: the median over routes that do the same work in both.
  const references = pairs.filter(
    ({ b, h }) =>
      b.requests > 0 &&
      h.requests > 0 &&
      !exceeds(change(b.statementsPerRequest, h.statementsPerRequest), t.statementsPerRequest) &&
      !exceeds(change(h.statementsPerRequest, b.statementsPerRequest), t.statementsPerRequest) &&
      sameStatements(b, h) &&
      !h.statements.some((s) => changedPlans.has(s.fingerprint)),
  );
  const speed =
    references.length >= MIN_SPEED_REFERENCES
      ? {
          dbTime: round(median(references.map(({ b, h }) => ratio(b.dbMsPerRequest, h.dbMsPerRequest)))),
          latency: round(median(references.map(({ b, h }) => ratio(b.latency.p99, h.latency.p99)))),
          routes: references.length,
        }
      : null;

  const routes = pairs.map(({ b, h }) => compareRoute(b, h, t, speed, regressed));
  const rank: Record<RouteVerdict, number> = { regression: 0, improvement: 1, unchanged: 2 };
  routes.sort((x, y) => rank[x.verdict] - rank[y.verdict]);
  return {
    routes,
    added: (head.routes ?? []).filter((r) => !baseBy.has(r.name)).map((r) => r.name),
    removed: (base.routes ?? []).filter((r) => !headNames.has(r.name)).map((r) => r.name),
    speed,
  };
}

function compareRoute(
  b: RouteReport,
  h: RouteReport,
  t: RouteThresholds,
  speed: RouteComparisonResult['speed'],
  regressed: ReadonlyMap<string, RegressedStatement>,
): RouteComparison {
  const regressions: ComparisonReason[] = [];
  const improvements: ComparisonReason[] = [];
  const on = `on "${h.name}"`;

  const statementsPerRequest = change(b.statementsPerRequest, h.statementsPerRequest);
  const spr = { base: statementsPerRequest.base, head: statementsPerRequest.head, route: h.name };
  const sprText = `statements per request ${fmt(spr.base)} -> ${fmt(spr.head)} ${on}`;
  if (exceeds(statementsPerRequest, t.statementsPerRequest)) {
    regressions.push(reason('route-statements', 'route-statements-per-request-up', sprText, spr));
  } else if (exceeds(change(spr.head, spr.base), t.statementsPerRequest)) {
    improvements.push(reason('route-statements', 'route-statements-per-request-down', sprText, spr));
  }

  // Failed requests out of attempts: a rate measured on few requests moves by chance (binomial
  // spread), so a change needs the absolute threshold and a significant two-proportion test.
  const errorRate = change(routeErrorRate(b), routeErrorRate(h));
  const test = twoProportionTest(
    b.errors + b.non2xx,
    b.requests + b.errors,
    h.errors + h.non2xx,
    h.requests + h.errors,
  );
  const errors = { base: errorRate.base, head: errorRate.head, route: h.name };
  const attempts = `${b.requests + b.errors} vs ${h.requests + h.errors} requests`;
  if (errorRate.delta >= t.errorRate && errorRate.delta > 0 && test.pHigher < ERROR_RATE_ALPHA) {
    const text = `failed requests ${pct(errorRate.base)} -> ${pct(errorRate.head)} (${attempts}, p=${fmtP(test.pHigher)}) ${on}`;
    regressions.push(reason('route-errors', 'route-error-rate-up', text, { ...errors, p: test.pHigher }));
  } else if (-errorRate.delta >= t.errorRate && errorRate.delta < 0 && test.pLower < ERROR_RATE_ALPHA) {
    const text = `failed requests ${pct(errorRate.base)} -> ${pct(errorRate.head)} (${attempts}, p=${fmtP(test.pLower)}) ${on}`;
    improvements.push(reason('route-errors', 'route-error-rate-down', text, { ...errors, p: test.pLower }));
  }

  const dbMsPerRequest = change(b.dbMsPerRequest, h.dbMsPerRequest);
  const latencyP99Ms = change(b.latency.p99, h.latency.p99);
  const common = { dbMsPerRequest, latencyP99Ms };
  if (b.requests === 0 || h.requests === 0) {
    regressions.push(...statementRegressions(h, regressed));
    const note = `no response in ${b.requests === 0 ? 'base' : 'head'}'s phase: timings not compared`;
    return result(
      b,
      h,
      { regressions, improvements, statementsPerRequest, errorRate },
      {
        ...common,
        verdict: 'inconclusive',
        note,
      },
    );
  }
  const db = judge(dbMsPerRequest, t.dbMsPerRequest, speed?.dbTime ?? 1);
  const p99 = judge(latencyP99Ms, t.latencyP99Ms, speed?.latency ?? 1);
  const relativeTo = (s: number) => (speed ? `, x${formatRatio(s)} for the other routes` : '');
  const dbText = `database time per request ${ms(dbMsPerRequest.base)} -> ${ms(dbMsPerRequest.head)} (x${formatRatio(db.ratio)}${relativeTo(speed?.dbTime ?? 1)})`;
  const p99Text = `latency p99 ${ms(latencyP99Ms.base)} -> ${ms(latencyP99Ms.head)} (x${formatRatio(p99.ratio)}${relativeTo(speed?.latency ?? 1)})`;
  const counted = t.timingRegressions;
  for (const [j, text, id] of [
    [db, dbText, 'route-db-time'],
    [p99, p99Text, 'route-p99'],
  ] as const) {
    const evidence = { base: j.m.base, head: j.m.head, route: h.name };
    if (!counted) continue;
    if (j.verdict === 'slower') regressions.push(reason('route-timing', `${id}-up`, `${text} ${on}`, evidence));
    if (j.verdict === 'faster') improvements.push(reason('route-timing', `${id}-down`, `${text} ${on}`, evidence));
  }
  const verdict: RouteTimingVerdict =
    db.verdict === 'slower' || p99.verdict === 'slower'
      ? 'slower'
      : db.verdict === 'faster' || p99.verdict === 'faster'
        ? 'faster'
        : 'noise';
  // The database time the statement's regression cost the route, where it rose beyond the
  // thresholds: evidence of the statement's regression, shown whether or not route timings count.
  regressions.push(...statementRegressions(h, regressed, db.verdict === 'slower' ? dbText : undefined));
  const rule =
    `one phase per report, no significance test: a change counts beyond ` +
    `x${formatRatio(1 + t.dbMsPerRequest.relative)} and ${t.dbMsPerRequest.absolute} ms (database time), ` +
    `x${formatRatio(1 + t.latencyP99Ms.relative)} and ${t.latencyP99Ms.absolute} ms (p99)` +
    (speed ? ', relative to the other routes' : '');
  const note =
    `${dbText}, ${p99Text}: ${rule}` +
    (verdict !== 'noise' && !counted ? ' (not counted: compare.routes.timingRegressions is false)' : '');
  return result(b, h, { regressions, improvements, statementsPerRequest, errorRate }, { ...common, verdict, note });
}

function result(
  b: RouteReport,
  h: RouteReport,
  judged: Pick<RouteComparison, 'regressions' | 'improvements' | 'statementsPerRequest' | 'errorRate'>,
  timing: RouteComparison['timing'],
): RouteComparison {
  return {
    route: h.name,
    method: h.method,
    path: h.path,
    verdict:
      judged.regressions.length > 0 ? 'regression' : judged.improvements.length > 0 ? 'improvement' : 'unchanged',
    regressions: judged.regressions,
    improvements: judged.improvements,
    requests: { base: b.requests, head: h.requests },
    statementsPerRequest: judged.statementsPerRequest,
    errorRate: judged.errorRate,
    timing,
  };
}

/** Statement reasons that are about another route than `route`: calls per request there, its N+1 finding. */
function aboutOtherRoute(r: ComparisonReason, route: string): boolean {
  return (
    (r.kind === 'calls-per-request' || r.kind === 'new-finding') &&
    r.evidence.route !== undefined &&
    r.evidence.route !== route
  );
}

/**
 * A statement's reason in a route's: a new finding by its rule (the statement's own section has its
 * message), calls per request without the route (it is this one).
 */
function shortReason(r: ComparisonReason): string {
  const { severity, rule, relation, base, head } = r.evidence;
  if (r.kind === 'new-finding')
    return `new ${String(severity)} finding ${String(rule)}${relation ? ` on ${String(relation)}` : ''}`;
  if (r.kind === 'calls-per-request')
    return `${formatQuantity(Number(base))} -> ${formatQuantity(Number(head))} calls per request`;
  return r.message;
}

/**
 * One `route-statement-regressed` reason per statement the route runs in head that regressed on
 * grounds that concern this route (its work, its calls per request here, its new findings; not its
 * timing, which an HTTP run does not test, nor its calls on another route). `dbText`: the route's
 * database time per request, when it rose beyond the thresholds.
 */
function statementRegressions(
  h: RouteReport,
  regressed: ReadonlyMap<string, RegressedStatement>,
  dbText?: string,
): ComparisonReason[] {
  return h.statements.flatMap((s) => {
    const statement = regressed.get(s.fingerprint);
    if (!statement) return [];
    const reasons = statement.reasons.filter((r) => r.kind !== 'timing' && !aboutOtherRoute(r, h.name));
    if (reasons.length === 0) return [];
    // Calls per request are said once: in the reasons when they changed, else after the statement.
    const calls = reasons.some((r) => r.kind === 'calls-per-request')
      ? ''
      : ` (${formatQuantity(s.callsPerRequest)} ${s.callsPerRequest === 1 ? 'call' : 'calls'} per request)`;
    const text =
      `${statement.isNew ? 'new statement' : 'statement'} regressed: ` +
      `${clip(statement.query.replace(/\s+/g, ' ').trim(), 80)}${calls}: ${reasons.map(shortReason).join('; ')}` +
      (dbText ? `; ${dbText}` : '');
    return [
      reason('route-statement', 'route-statement-regressed', text, {
        route: h.name,
        fingerprint: s.fingerprint,
        callsPerRequest: s.callsPerRequest,
      }),
    ];
  });
}

/** A route timing against its threshold, after taking out the overall change `speed`. */
function judge(
  m: MetricChange,
  t: RelativeThreshold,
  speed: number,
): { m: MetricChange; ratio: number; verdict: 'slower' | 'faster' | 'noise' } {
  const r = ratio(m.base, m.head) / speed;
  // What head would measure had the route changed like the others.
  const expected = m.base * speed;
  const slower = r - 1 >= t.relative && m.head - expected >= t.absolute && m.delta > 0;
  const faster = 1 / r - 1 >= t.relative && expected - m.head >= t.absolute && m.delta < 0;
  return { m, ratio: ratio(m.base, m.head), verdict: slower ? 'slower' : faster ? 'faster' : 'noise' };
}

/** Up by the relative threshold and the absolute floor. */
function exceeds(m: MetricChange, t: RelativeThreshold): boolean {
  return m.delta >= t.absolute && m.delta > 0 && (m.base === 0 || m.head / m.base - 1 >= t.relative);
}

/** The route runs the same statements in both reports. */
function sameStatements(b: RouteReport, h: RouteReport): boolean {
  const inBase = new Set(b.statements.map((s) => s.fingerprint));
  return h.statements.length === b.statements.length && h.statements.every((s) => inBase.has(s.fingerprint));
}

function change(base: number, head: number): MetricChange {
  return { base, head, delta: head - base, relative: base === 0 ? null : head / base - 1 };
}

function ratio(base: number, head: number): number {
  return Math.max(head, MIN_MS) / Math.max(base, MIN_MS);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : Math.sqrt(sorted[mid - 1]! * sorted[mid]!);
}

function round(n: number): number {
  return Number(n.toPrecision(6));
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(Math.abs(n) >= 10 ? 1 : 2);
}

function ms(n: number): string {
  return `${n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3)} ms`;
}

function fmtP(p: number): string {
  return p < 0.0001 ? '<0.0001' : p.toPrecision(2);
}

function pct(r: number): string {
  return `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)}%`;
}
