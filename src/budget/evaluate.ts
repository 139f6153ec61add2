/**
 * The gate: measures a report against a budget. Pure: no I/O, no clock unless none is given.
 *
 * Deterministic measures (plan cost, blocks per call, rows per call, calls per request) are gated
 * as captured. Timings are gated on the median over measurement rounds, because one noisy round on
 * a shared CI machine must not fail a build; the spread (min..max) is kept for the reader.
 */
import type { RuleLevel } from '../config/config.js';
import { statementNameOf } from '../analyze/parser.js';
import { closest } from '../config/yaml.js';
import { isAtLeast, sameProblemRules, type Severity } from '../model/finding.js';
import type {
  AcceptedFinding,
  Budget,
  GatedFinding,
  GateResult,
  GateSubject,
  GlobalLimitName,
  LimitCheck,
  LimitMeasurement,
  RouteBudget,
  RouteLimitName,
  RuleVerdict,
  Spread,
  StatementBudget,
  StatementLimitName,
} from '../model/budget.js';
import { topLevel, type NotCalledStatement, type QueryReport, type Report, type RouteReport } from '../model/report.js';
import { judgeAgainstReferences } from './judge.js';
import { median, spreadOf, statementMeanMs } from './measures.js';

export interface GateOptions {
  /** Un-accepted findings at or above this severity fail the gate (default `error`). */
  readonly failOn?: Severity | 'never';
  /** The day acceptance expiry dates are checked against (default: today, UTC). */
  readonly date?: Date | string;
  /** The rule registry, so that every rule gets a verdict even without findings. */
  readonly rules?: readonly {
    readonly id: string;
    readonly severity?: RuleLevel;
    readonly description?: string;
    /** A timing rule (slow-mean, high-db-time-share): an acceptance of it that matches nothing today may match tomorrow. */
    readonly timing?: boolean;
  }[];
}

export const DEFAULT_FAIL_ON: Severity = 'error';

export const GLOBAL_LIMITS: readonly GlobalLimitName[] = [
  'totalDbMs',
  'statementsPerRequest',
  'dbMsPerRequest',
  'routeP95Ms',
  'routeP99Ms',
  'errorRate',
];

export const STATEMENT_LIMITS: readonly StatementLimitName[] = [
  'maxMeanMs',
  'maxPlanCost',
  'maxBlocksPerCall',
  'maxRowsPerCall',
  'maxCallsPerRequest',
];

export const ROUTE_LIMITS: readonly RouteLimitName[] = [
  'maxStatementsPerRequest',
  'maxDbMsPerRequest',
  'maxP95Ms',
  'maxP99Ms',
];

/** The run-wide per-route limit a route entry's limit replaces for its route. */
const REPLACES: Readonly<Record<RouteLimitName, GlobalLimitName>> = {
  maxStatementsPerRequest: 'statementsPerRequest',
  maxDbMsPerRequest: 'dbMsPerRequest',
  maxP95Ms: 'routeP95Ms',
  maxP99Ms: 'routeP99Ms',
};

export { median, statementMeanMs } from './measures.js';

/**
 * The run's database time, robust to one noisy round: the median over rounds of the database time
 * per call, times all calls. Rounds can differ in calls (a duration or an uneven split), hence per call.
 */
export function totalDbMs(report: Report): { value: number; basis: 'median' | 'measured'; spread?: Spread } {
  // A statement run inside a function is in its caller's time and calls: top-level ones only.
  const statements = topLevel(report.queries);
  const rounds = Math.max(0, ...statements.map((q) => q.rounds.length));
  const perCall: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let ms = 0;
    let calls = 0;
    for (const q of statements) {
      const r = q.rounds[i];
      if (!r) continue;
      ms += r.totalMs;
      calls += r.calls;
    }
    if (calls > 0) perCall.push(ms / calls);
  }
  const calls = report.totals.calls;
  if (perCall.length < 2 || calls === 0) return { value: report.totals.totalMs, basis: 'measured' };
  const scaled = perCall.map((v) => v * calls);
  return { value: median(scaled), basis: 'median', spread: spreadOf(scaled) };
}

/**
 * The run's error rate: failed calls over all calls (SQL replay), or requests without a response or
 * with a non-2xx status over all requests (HTTP). The calls an interrupt cut short
 * (`cancelledAtStop`) are in neither count: they are not failures of their statements.
 */
export function errorRate(report: Report): number {
  if (report.routes && report.routes.length > 0) {
    const attempts = report.routes.reduce((s, r) => s + r.requests + r.errors, 0);
    const failed = report.routes.reduce((s, r) => s + r.errors + r.non2xx, 0);
    return attempts > 0 ? failed / attempts : 0;
  }
  const attempts = report.totals.calls + report.totals.errors;
  return attempts > 0 ? report.totals.errors / attempts : 0;
}

/** `schema.table` matches exactly; a bare `table` matches that table in any schema. */
export function relationMatches(relations: readonly string[], wanted: string): boolean {
  return relations.some((r) => r === wanted || (!wanted.includes('.') && r.split('.').pop() === wanted));
}

/**
 * The name `budget init` gives its entry without matchers (a default for every statement without an
 * entry of its own): a label, never a statement's name to match.
 */
export const ANY_STATEMENT = 'any statement, a new one included';

/**
 * Whether a statement budget picks its statements by name alone: a `name:` and no fingerprint,
 * pattern or relation. Such an entry holds the statements of that name (their scenario name, or a
 * SQL statement's leading comment), as a reader of `- name: orders by customer` expects; `budget
 * init`'s label for its default entry excepted.
 */
export function matchesByName(entry: StatementBudget): entry is StatementBudget & { readonly name: string } {
  return (
    entry.name !== undefined &&
    entry.name !== ANY_STATEMENT &&
    entry.fingerprint === undefined &&
    entry.pattern === undefined &&
    entry.relation === undefined
  );
}

/** Whether a statement budget applies to a statement. */
export function statementMatches(entry: StatementBudget, q: QueryReport): boolean {
  if (matchesByName(entry) && statementName(q) !== entry.name) return false;
  if (entry.fingerprint !== undefined && entry.fingerprint !== q.fingerprint) return false;
  if (entry.pattern !== undefined && !new RegExp(entry.pattern, 'i').test(q.query.replace(/\s+/g, ' '))) return false;
  if (entry.relation !== undefined && !relationMatches(q.relations, entry.relation)) return false;
  return true;
}

/**
 * The name `budget init` gives a statement's entry: its scenario name, or, for a plain SQL workload,
 * the name the run gave it (its leading comment, else `file:line`: `statementNameOf`), so that `run`,
 * `budget init` and `check` name it alike; a captured statement by its leading comment, if any.
 */
export function statementName(q: QueryReport): string | undefined {
  return q.source ?? statementNameOf(q.query);
}

/** Whether a name can find a statement whose text changed: not `file:line`, which another statement may hold next. */
const isStatementName = (name: string | undefined): name is string =>
  name !== undefined && !/^[^\s:]+:\d+(, [^\s:]+:\d+)*$/.test(name);

/**
 * Whether a statement budget has no matchers (and no name, but `budget init`'s label for it): it
 * applies to every statement that no other entry limits.
 */
export function isDefaultEntry(entry: StatementBudget): boolean {
  return (
    entry.fingerprint === undefined &&
    entry.pattern === undefined &&
    entry.relation === undefined &&
    !matchesByName(entry)
  );
}

/** Whether a route budget applies to a route: by the route's name, or by its method and path. */
export function routeMatches(entry: RouteBudget, r: RouteReport): boolean {
  return entry.route === routeName(r) || entry.route === `${r.method} ${r.path}`;
}

/** How a statement budget is named in output: its name, else its matchers. */
export function statementLabel(entry: StatementBudget): string {
  if (entry.name) return entry.name;
  const parts = [
    entry.fingerprint !== undefined ? `fingerprint ${entry.fingerprint}` : '',
    entry.pattern !== undefined ? `pattern /${entry.pattern}/` : '',
    entry.relation !== undefined ? `relation ${entry.relation}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'every statement';
}

function statementSubject(q: QueryReport, route?: string): GateSubject {
  return {
    kind: 'statement',
    fingerprint: q.fingerprint,
    query: q.query,
    ...(q.source !== undefined ? { source: q.source } : {}),
    ...(route !== undefined ? { route } : {}),
  };
}

/**
 * One limit's verdict. With nothing measured it is skipped (`emptyNote` says why), unless the
 * subjects it would apply to all have a limit of their own (`replacedNote`): a default limit is not
 * stale for that, and passes.
 */
function check(
  field: string,
  limit: LimitCheck['limit'],
  threshold: number,
  budget: Budget | undefined,
  measurements: readonly LimitMeasurement[],
  emptyNote: string,
  label?: string,
  replacedNote?: string,
): LimitCheck {
  const line = budget?.lines[field];
  const status =
    measurements.length === 0
      ? replacedNote !== undefined
        ? 'pass'
        : 'skipped'
      : measurements.every((m) => m.passed)
        ? 'pass'
        : 'fail';
  return {
    field,
    limit,
    ...(label !== undefined ? { label } : {}),
    threshold,
    ...(line !== undefined ? { line } : {}),
    status,
    ...(measurements.length === 0 ? { note: replacedNote ?? emptyNote } : {}),
    measurements,
  };
}

function measure(
  subject: GateSubject,
  value: { value: number; basis: 'median' | 'measured'; spread?: Spread },
  threshold: number,
): LimitMeasurement {
  return {
    subject,
    measured: value.value,
    basis: value.basis,
    ...(value.spread ? { spread: value.spread } : {}),
    passed: value.value <= threshold,
  };
}

const asMeasured = (value: number) => ({ value, basis: 'measured' as const });

function routeName(r: RouteReport): string {
  return r.name || `${r.method} ${r.path}`;
}

/** The statements that took a tenth or more of the run's database time, most first (at most 3). */
function mostOfTheTime(report: Report): { statement: string; share: number }[] {
  return topLevel(report.queries)
    .filter((q) => q.dbTimeShare >= 0.1)
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, 3)
    .map((q) => ({ statement: q.source ?? q.query, share: q.dbTimeShare }));
}

const NO_ROUTES = 'no HTTP routes in this report (an HTTP workload measures them)';

/**
 * A per-route measure of each route given, against `threshold`, and why there is none: latency
 * percentiles are read where the route has them (not every load generator reports a p95).
 */
function measureRoutes(
  routes: readonly RouteReport[],
  limit: GlobalLimitName,
  threshold: number,
): { measurements: LimitMeasurement[]; note?: string } {
  const subject = (r: RouteReport): GateSubject => ({ kind: 'route', route: routeName(r) });
  switch (limit) {
    case 'statementsPerRequest':
      return { measurements: routes.map((r) => measure(subject(r), asMeasured(r.statementsPerRequest), threshold)) };
    case 'dbMsPerRequest':
      return { measurements: routes.map((r) => measure(subject(r), asMeasured(r.dbMsPerRequest), threshold)) };
    default: {
      const key = limit === 'routeP95Ms' ? 'p95' : 'p99';
      const percentile = (r: RouteReport) => (r.latency as unknown as Record<string, unknown>)[key];
      const measured = routes.filter((r) => r.requests > 0 && typeof percentile(r) === 'number');
      return {
        measurements: measured.map((r) => measure(subject(r), asMeasured(percentile(r) as number), threshold)),
        ...(routes.length > 0 && measured.length === 0 ? { note: `no route reports a ${key} latency` } : {}),
      };
    }
  }
}

function globalChecks(report: Report, budget: Budget): LimitCheck[] {
  const out: LimitCheck[] = [];
  const routes = report.routes ?? [];
  for (const limit of GLOBAL_LIMITS) {
    const threshold = budget.limits[limit];
    if (threshold === undefined) continue;
    const field = `limits.${limit}`;
    const run: GateSubject = { kind: 'run' };
    if (limit === 'totalDbMs') {
      const m = measure({ ...run, mostOf: mostOfTheTime(report) }, totalDbMs(report), threshold);
      out.push(check(field, limit, threshold, budget, [m], NO_ROUTES));
      continue;
    }
    if (limit === 'errorRate') {
      out.push(check(field, limit, threshold, budget, [measure(run, asMeasured(errorRate(report)), threshold)], ''));
      continue;
    }
    // A route with an entry of its own for this measure is gated by that entry instead.
    const own = ROUTE_LIMITS.find((l) => REPLACES[l] === limit)!;
    const rest = routes.filter((r) => !(budget.routes ?? []).some((e) => e[own] !== undefined && routeMatches(e, r)));
    const { measurements, note } = measureRoutes(rest, limit, threshold);
    const replaced =
      rest.length < routes.length
        ? `every route it would measure has a limit of its own (routes[].${own}): it applies to the others, a new one included`
        : undefined;
    out.push(check(field, limit, threshold, budget, measurements, note ?? NO_ROUTES, undefined, replaced));
  }
  return out;
}

/**
 * Why a route entry matched nothing: with the route of this report it most likely meant (a typo in
 * a route's name would otherwise gate nothing, silently).
 */
function noRouteNamed(routes: readonly RouteReport[], route: string): string {
  const names = [...new Set(routes.flatMap((r) => [routeName(r), `${r.method} ${r.path}`]))];
  const guess = closest(route, names);
  return `matched no route in this report${guess !== undefined ? ` (did you mean "${guess}"?)` : ''}`;
}

function routeChecks(report: Report, budget: Budget): LimitCheck[] {
  const out: LimitCheck[] = [];
  const routes = report.routes ?? [];
  (budget.routes ?? []).forEach((entry, i) => {
    const matched = routes.filter((r) => routeMatches(entry, r));
    for (const limit of ROUTE_LIMITS) {
      const threshold = entry[limit];
      if (threshold === undefined) continue;
      const { measurements, note } = measureRoutes(matched, REPLACES[limit], threshold);
      const empty = routes.length === 0 ? NO_ROUTES : matched.length === 0 ? noRouteNamed(routes, entry.route) : note;
      out.push(check(`routes[${i}].${limit}`, limit, threshold, budget, measurements, empty ?? '', entry.route));
    }
  });
  return out;
}

/**
 * When a per-call limit of `entry` is judged per request: the entry gives the calls per request its
 * limits were set at (`callsPerRequest`), and one request now runs the statement at least one call
 * fewer on every route (a loop batched into one statement, whose one call does the work of many).
 * The route is the one that runs it the most times per request.
 */
function batchedLoop(entry: StatementBudget, q: QueryReport): LimitMeasurement['perRequest'] {
  const before = entry.callsPerRequest;
  const running = (q.routes ?? []).filter((r) => r.callsPerRequest > 0);
  if (before === undefined || running.length === 0) return undefined;
  const most = running.reduce((a, b) => (b.callsPerRequest > a.callsPerRequest ? b : a));
  if (before - most.callsPerRequest < 1) return undefined;
  return { route: most.route, callsPerRequest: most.callsPerRequest, budgetCallsPerRequest: before };
}

/** A per-call measure against its limit, per request when the loop it was set for was batched. */
function measurePerCall(
  entry: StatementBudget,
  q: QueryReport,
  value: { value: number; basis: 'median' | 'measured'; spread?: Spread },
  threshold: number,
): LimitMeasurement {
  const m = measure(statementSubject(q), value, threshold);
  const perRequest = batchedLoop(entry, q);
  if (!perRequest) return m;
  return {
    ...m,
    perRequest,
    passed: value.value * perRequest.callsPerRequest <= threshold * perRequest.budgetCallsPerRequest,
  };
}

/**
 * Whether a statement budget names a statement the run never called (`run.notCalled`): by its
 * fingerprint or pattern (what relations it reads is unknown without a plan).
 */
function namesNotCalled(entry: StatementBudget, s: NotCalledStatement): boolean {
  if (matchesByName(entry)) return s.name === entry.name;
  if (entry.fingerprint === undefined && entry.pattern === undefined) return false;
  if (entry.fingerprint !== undefined && entry.fingerprint !== s.fingerprint) return false;
  if (entry.pattern !== undefined && !new RegExp(entry.pattern, 'i').test(s.query.replace(/\s+/g, ' '))) return false;
  return true;
}

const NO_MATCH = 'matched no statement in this report';

/**
 * Why an entry that picks its statements by name matched none: with the name of this report's
 * statement it most likely meant, and what makes an entry the default for every statement instead.
 */
function noStatementNamed(report: Report, name: string): string {
  const names = [
    ...new Set(
      [...report.queries.map(statementName), ...(report.run.notCalled ?? []).map((s) => s.name)].filter(
        (n): n is string => n !== undefined,
      ),
    ),
  ];
  const guess = closest(name, names);
  return (
    `no statement in this report is named "${name}"${guess !== undefined ? ` (did you mean "${guess}"?)` : ''}: ` +
    'an entry with only a name holds the statements of that name; one without name, fingerprint, pattern and ' +
    'relation holds every statement without an entry of its own'
  );
}

/** Why a limit of a statement budget measured nothing, when the report says more than "no match". */
function unmeasuredNote(report: Report, entry: StatementBudget, gated: readonly QueryReport[]): string | undefined {
  if (gated.length === 0) {
    const never = (report.run.notCalled ?? []).filter((s) => namesNotCalled(entry, s));
    if (never.length === 0) return undefined;
    const [one] = never;
    return (
      (never.length === 1
        ? `"${one!.name}" is in the workload, but the run never called it`
        : `${never.length} statements it matches are in the workload, but the run never called them`) +
      ": nothing was measured (the run's warnings say what gives every statement a call)"
    );
  }
  if (gated.every((q) => q.calls === 0 && q.errors > 0))
    return 'every call of the matched statement failed, so there is no timing, rows or blocks per call to measure (see its statement-errors finding)';
  if (gated.every((q) => q.calls === 0 && (q.errors > 0 || q.cancelledAtStop !== undefined)))
    return 'no call of the matched statement completed: it was still running when the run was interrupted (cancelledAtStop), so there is no timing, rows or blocks per call to measure';
  return undefined;
}

/**
 * The statements a statement budget holds, and whether it holds them by name: a statement whose
 * text changed has another fingerprint, but keeps the name its entry was made with (its leading
 * comment, or its scenario name), so it is held to that entry, not left to the entry for any
 * statement.
 */
function entryStatements(report: Report, entry: StatementBudget): { matched: QueryReport[]; byName: boolean } {
  const matched = report.queries.filter((q) => statementMatches(entry, q));
  if (matched.length > 0 || entry.fingerprint === undefined || !isStatementName(entry.name))
    return { matched, byName: false };
  const renamed = report.queries.filter(
    (q) => statementName(q) === entry.name && statementMatches({ ...entry, fingerprint: undefined }, q),
  );
  return { matched: renamed, byName: renamed.length > 0 };
}

function statementChecks(report: Report, budget: Budget): LimitCheck[] {
  const out: LimitCheck[] = [];
  const held = budget.statements.map((entry) => entryStatements(report, entry));
  budget.statements.forEach((entry, i) => {
    const { matched, byName } = held[i]!;
    const label = statementLabel(entry);
    for (const limit of STATEMENT_LIMITS) {
      const threshold = entry[limit];
      if (threshold === undefined) continue;
      const field = `statements[${i}].${limit}`;
      // An entry without matchers is the default: a statement that an entry with matchers sets this
      // limit for is gated by that entry (a known loop may run 20 times per request, a new one not).
      // A statement its entry holds by name counts as that entry's too.
      const gated = isDefaultEntry(entry)
        ? matched.filter(
            (q) =>
              !budget.statements.some(
                (e, j) => !isDefaultEntry(e) && e[limit] !== undefined && held[j]!.matched.includes(q),
              ),
          )
        : matched;
      const replaced =
        gated.length < matched.length
          ? 'every statement it would measure has a limit of its own: it applies to the others, a new one included'
          : undefined;
      let measurements: LimitMeasurement[] = [];
      const unmeasured = unmeasuredNote(report, entry, gated);
      let note = unmeasured ?? (matchesByName(entry) ? noStatementNamed(report, entry.name) : NO_MATCH);
      const ran = gated.filter((q) => q.calls > 0);
      switch (limit) {
        case 'maxMeanMs':
          measurements = ran.map((q) => measurePerCall(entry, q, statementMeanMs(q), threshold));
          break;
        case 'maxPlanCost': {
          const planned = gated.filter((q) => q.plan);
          if (gated.length > 0 && planned.length === 0) note = 'no plan was captured for the matched statements';
          else if (gated.length === 0) note = unmeasured ?? note;
          measurements = planned.map((q) => measurePerCall(entry, q, asMeasured(q.plan!.totalCost), threshold));
          break;
        }
        case 'maxBlocksPerCall':
          measurements = ran.map((q) => measurePerCall(entry, q, asMeasured(q.sharedBlksPerCall), threshold));
          break;
        case 'maxRowsPerCall':
          measurements = ran.map((q) => measurePerCall(entry, q, asMeasured(q.rowsPerCall), threshold));
          break;
        case 'maxCallsPerRequest': {
          const routed = gated.filter((q) => q.routes && q.routes.length > 0);
          if (gated.length > 0 && routed.length === 0) note = NO_ROUTES;
          measurements = routed.flatMap((q) =>
            (q.routes ?? []).map((r) =>
              measure(statementSubject(q, r.route), asMeasured(r.callsPerRequest), threshold),
            ),
          );
          break;
        }
      }
      const made = check(field, limit, threshold, budget, measurements, note, label, replaced);
      out.push(
        byName && measurements.length > 0
          ? {
              ...made,
              note: `matched by its name: the statement's text changed since fingerprint ${entry.fingerprint}`,
              matchedByName: {
                fingerprint: entry.fingerprint!,
                ...(budget.lines[`statements[${i}].fingerprint`] !== undefined
                  ? { line: budget.lines[`statements[${i}].fingerprint`] }
                  : {}),
              },
            }
          : made,
      );
    }
  });
  return out;
}

function dayOf(date: Date | string | undefined): string {
  if (typeof date === 'string') return date.slice(0, 10);
  return (date ?? new Date()).toISOString().slice(0, 10);
}

/**
 * Whether an accepted entry covers a finding of a statement. An entry of a rule the run merged into
 * the finding as the same problem with the same fix (`evidence.sameFixAs`) covers it too: an index
 * added that a wrapped predicate cannot use turns an accepted `seq-scan-large-table` finding into
 * `non-sargable-predicate` on the same scan, and the problem accepted is the same.
 */
export function acceptanceMatches(entry: AcceptedFinding, q: QueryReport, finding: GatedFinding['finding']): boolean {
  if (!sameProblemRules(finding).includes(entry.rule)) return false;
  if (entry.fingerprint !== undefined && entry.fingerprint !== q.fingerprint) return false;
  if (
    entry.relation !== undefined &&
    !relationMatches(finding.relation ? [finding.relation] : q.relations, entry.relation)
  )
    return false;
  return true;
}

/**
 * Evaluates every limit of the budget and every finding of the report.
 *
 * @example
 * ```ts
 * const gate = evaluateBudget(readReport('report.json'), loadBudget('querygate.budget.yaml'), { failOn: 'warning' });
 * if (!gate.passed) process.exitCode = 1;
 * ```
 */
export function evaluateBudget(report: Report, budget: Budget | undefined, options: GateOptions = {}): GateResult {
  const failOn = options.failOn ?? DEFAULT_FAIL_ON;
  const date = dayOf(options.date);
  const checked = budget
    ? [...globalChecks(report, budget), ...routeChecks(report, budget), ...statementChecks(report, budget)]
    : [];
  // What the budget's references explain without a regression (a slower machine) is not counted.
  const { limits, speed } = budget ? judgeAgainstReferences(report, budget, checked) : { limits: checked };

  const accepted = budget?.accepted ?? [];
  const used = new Set<number>();
  const findings: GatedFinding[] = [];
  for (const q of report.queries) {
    for (const finding of q.findings) {
      // An entry of the finding's own rule first, then one of a rule merged into it.
      const covers = (a: AcceptedFinding) => acceptanceMatches(a, q, finding);
      const own = accepted.findIndex((a) => a.rule === finding.rule && covers(a));
      const index = own >= 0 ? own : accepted.findIndex(covers);
      const entry = index >= 0 ? accepted[index] : undefined;
      if (entry) used.add(index);
      const expired = entry?.expires !== undefined && entry.expires < date;
      const line = budget?.lines[`accepted[${index}]`];
      const status: GatedFinding['status'] =
        entry && !expired
          ? 'accepted'
          : failOn !== 'never' && isAtLeast(finding.severity, failOn)
            ? 'failing'
            : 'reported';
      findings.push({
        fingerprint: q.fingerprint,
        query: q.query,
        ...(q.source !== undefined ? { source: q.source } : {}),
        finding,
        status,
        ...(entry
          ? {
              acceptance: {
                reason: entry.reason,
                ...(entry.expires !== undefined ? { expires: entry.expires } : {}),
                expired,
                ...(entry.rule !== finding.rule ? { rule: entry.rule } : {}),
                ...(line !== undefined ? { line } : {}),
              },
            }
          : {}),
      });
    }
  }

  const registry = options.rules ?? [];
  const ruleIds = [
    ...registry.map((r) => r.id),
    ...[...new Set(findings.map((f) => f.finding.rule))].filter((id) => !registry.some((r) => r.id === id)).sort(),
  ];
  const rules: RuleVerdict[] = ruleIds.map((id) => {
    const meta = registry.find((r) => r.id === id);
    const mine = findings.filter((f) => f.finding.rule === id);
    const setting = budget?.rules[id];
    const severity = typeof setting === 'string' ? setting : (setting?.severity ?? meta?.severity);
    return {
      rule: id,
      ...(severity !== undefined ? { severity } : {}),
      ...(meta?.description !== undefined ? { description: meta.description } : {}),
      findings: mine.length,
      failing: mine.filter((f) => f.status === 'failing').length,
      accepted: mine.filter((f) => f.status === 'accepted').length,
    };
  });

  const incomplete = report.run.complete ? undefined : (report.run.interruptedBy ?? 'interrupted');
  // A timing finding (slow-mean, high-db-time-share) comes and goes with the machine's speed and
  // the rest of the workload: its acceptance matching nothing in one run is no reason to remove it.
  const timing = new Set((options.rules ?? []).filter((r) => r.timing).map((r) => r.id));
  // A statement the run never called has no plan and no finding: its acceptances were not judged.
  const notCalled = new Set((report.run.notCalled ?? []).map((s) => s.fingerprint));
  const unmatched = accepted
    .map((a, i) => ({ a, i }))
    .filter(
      ({ a, i }) =>
        !used.has(i) && !timing.has(a.rule) && !(a.fingerprint !== undefined && notCalled.has(a.fingerprint)),
    )
    .map(({ a, i }) => {
      const line = budget?.lines[`accepted[${i}]`];
      return { ...a, ...(line !== undefined ? { line } : {}) };
    });
  // An interrupted run has few plans, if any, and so few findings: an accepted entry that matches
  // nothing there says nothing about whether it is still needed.
  const complete = report.run.complete;
  const unusedAcceptances = complete ? unmatched : [];

  const violations = limits.filter((l) => l.status === 'fail').length;
  const notCounted = limits.reduce((n, l) => n + l.measurements.filter((m) => m.notCounted).length, 0);
  const failingFindings = findings.filter((f) => f.status === 'failing').length;
  return {
    passed: violations === 0 && failingFindings === 0 && incomplete === undefined,
    ...(incomplete !== undefined ? { incomplete } : {}),
    ...(budget?.source !== undefined ? { budget: budget.source } : {}),
    failOn,
    date,
    limits,
    findings,
    rules,
    unusedAcceptances,
    ...(!complete && unmatched.length > 0 ? { acceptancesNotJudged: unmatched.length } : {}),
    ...(speed !== undefined ? { speed } : {}),
    counts: {
      limits: limits.length,
      violations,
      failingFindings,
      acceptedFindings: findings.filter((f) => f.status === 'accepted').length,
      ...(notCounted > 0 ? { notCounted } : {}),
    },
  };
}
