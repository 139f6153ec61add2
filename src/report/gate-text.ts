/**
 * Wording of the gate's verdict, shared by every reporter, and its terminal rendering. Pure.
 */
import type {
  GatedFinding,
  GateResult,
  GateSubject,
  LimitCheck,
  LimitMeasurement,
  LimitName,
} from '../model/budget.js';
import type { Report } from '../model/report.js';
import { layoutWidth } from './columns.js';
import { formatMs, formatQuantity, oneLine, wrapText } from './format.js';

/** What each limit measures, in words. */
export const LIMIT_TITLES: Readonly<Record<LimitName, string>> = {
  totalDbMs: 'total database time',
  statementsPerRequest: 'statements per request',
  dbMsPerRequest: 'database time per request',
  routeP95Ms: 'route latency p95',
  routeP99Ms: 'route latency p99',
  errorRate: 'error rate',
  maxMeanMs: 'mean time',
  maxPlanCost: 'plan cost',
  maxBlocksPerCall: 'shared blocks per call',
  maxRowsPerCall: 'rows per call',
  maxCallsPerRequest: 'calls per request',
  maxStatementsPerRequest: 'statements per request',
  maxDbMsPerRequest: 'database time per request',
  maxP95Ms: 'route latency p95',
  maxP99Ms: 'route latency p99',
};

const TIME_LIMITS: ReadonlySet<LimitName> = new Set([
  'totalDbMs',
  'dbMsPerRequest',
  'routeP95Ms',
  'routeP99Ms',
  'maxMeanMs',
  'maxDbMsPerRequest',
  'maxP95Ms',
  'maxP99Ms',
]);

/** A value in the unit of its limit: `9.35 ms`, `1.50%`, `182,504`, `19.3`. */
export function formatLimitValue(limit: LimitName, value: number): string {
  if (TIME_LIMITS.has(limit)) return formatMs(value);
  if (limit === 'errorRate') return `${(value * 100).toFixed(2)}%`;
  return formatQuantity(value);
}

/**
 * A measured value beside its limit: as `formatLimitValue` writes it, unless that reads the same
 * as the limit while the value is not (25000.4 > 25000): then with the decimals that tell them apart.
 */
function formatMeasured(limit: LimitName, value: number, threshold: number): string {
  const shown = formatLimitValue(limit, value);
  if (value === threshold || shown !== formatLimitValue(limit, threshold)) return shown;
  const precise = Number(value.toPrecision(12)).toLocaleString('en-US', { maximumFractionDigits: 3 });
  return TIME_LIMITS.has(limit)
    ? `${precise} ms`
    : limit === 'errorRate'
      ? `${(value * 100).toPrecision(6)}%`
      : precise;
}

/** `SELECT … [workload.sql:5]`, `route GET /orders`, `the run`. */
export function describeSubject(subject: GateSubject, width = 80): string {
  switch (subject.kind) {
    case 'run':
      return subject.mostOf && subject.mostOf.length > 0
        ? `the run; most of it: ${subject.mostOf.map((m) => `${oneLine(m.statement, 40)} (${Math.round(m.share * 100)}%)`).join(', ')}`
        : 'the run';
    case 'route':
      return `route ${subject.route}`;
    case 'statement':
      return (
        `${oneLine(subject.query, width)}` +
        (subject.source !== undefined ? ` [${subject.source}]` : ` [${subject.fingerprint}]`) +
        (subject.route !== undefined ? ` on route ${subject.route}` : '')
      );
  }
}

/**
 * `median of 3 rounds: 7.01 ms..10.56 ms`; `measured once, without rounds` for a statement's mean time
 * that has no rounds (an HTTP run, a capture, `run --rounds 1`), as `compare` marks it; '' for a value
 * gated as measured.
 */
export function describeSpread(limit: LimitName, m: LimitMeasurement): string {
  if (limit === 'maxMeanMs' && m.basis === 'measured') return 'measured once, without rounds';
  if (m.basis !== 'median' || !m.spread) return '';
  return `median of ${m.spread.samples} rounds: ${formatLimitValue(limit, m.spread.min)}..${formatLimitValue(limit, m.spread.max)}`;
}

/** What a per-call limit measures when it is judged per request (a loop batched). */
const PER_REQUEST_TITLES: Partial<Record<LimitName, string>> = {
  maxMeanMs: 'time',
  maxPlanCost: 'plan cost',
  maxBlocksPerCall: 'shared blocks',
  maxRowsPerCall: 'rows',
};

/**
 * The measured value and the limit of a measurement, per request when it was judged so:
 * `{ measured: '41 per request (41 x 1 call(s) on route list books)', limit: '140 per request (7 x
 * the 20 calls per request the limit was set at)' }`.
 */
export function measurementValues(check: LimitCheck, m: LimitMeasurement): { measured: string; limit: string } {
  const value = (v: number) => formatLimitValue(check.limit, v);
  if (!m.perRequest)
    return { measured: formatMeasured(check.limit, m.measured, check.threshold), limit: value(check.threshold) };
  const { route, callsPerRequest: now, budgetCallsPerRequest: then } = m.perRequest;
  return {
    measured: `${formatMeasured(check.limit, m.measured * now, check.threshold * then)} per request (${value(m.measured)} x ${formatLimitValue('maxCallsPerRequest', now)} call(s) on route ${route})`,
    limit: `${value(check.threshold * then)} per request (${value(check.threshold)} x the ${formatLimitValue('maxCallsPerRequest', then)} calls per request the limit was set at)`,
  };
}

/**
 * `mean time 9.35 ms > 5 ms (median of 3 rounds: 7.01 ms..10.56 ms)`; for a loop that was batched,
 * judged per request: `shared blocks 41 per request (41 x 1 call(s) on route list books) <= 140 per
 * request (7 x the 20 calls per request the limit was set at)`.
 */
export function describeMeasurement(check: LimitCheck, m: LimitMeasurement): string {
  const spread = describeSpread(check.limit, m);
  const { measured, limit } = measurementValues(check, m);
  const title = (m.perRequest && PER_REQUEST_TITLES[check.limit]) || LIMIT_TITLES[check.limit];
  // A value over its limit that is not counted passes the gate, and still reads as over it.
  return `${title} ${measured} ${m.passed && !m.notCounted ? '<=' : '>'} ${limit}${spread ? ` (${spread})` : ''}`;
}

/** `statements[0].maxMeanMs (querygate.budget.yaml:12)` */
export function describeField(check: LimitCheck, budget?: string): string {
  const where = budget !== undefined ? ` (${budget}${check.line !== undefined ? `:${check.line}` : ''})` : '';
  return `${check.field}${check.label !== undefined ? ` "${check.label}"` : ''}${where}`;
}

/** A statement entry that held a statement by its name, once per entry (`LimitCheck.matchedByName`). */
export interface MatchedByName {
  /** `statements[0]` */
  readonly entry: string;
  readonly label?: string;
  readonly fingerprint: string;
  /** The line of the entry's fingerprint in the budget file. */
  readonly line?: number;
  /** The entry's limits that it applied by name. */
  readonly checks: readonly LimitCheck[];
}

/**
 * The statement entries whose fingerprint matched nothing and that held the statement of their name
 * instead: their limits, written for the statement's old text, gate its new one.
 */
export function matchedByName(gate: GateResult): MatchedByName[] {
  const byEntry = new Map<string, MatchedByName>();
  for (const check of gate.limits) {
    if (check.matchedByName === undefined) continue;
    const entry = check.field.slice(0, check.field.lastIndexOf('.'));
    const known = byEntry.get(entry);
    byEntry.set(
      entry,
      known
        ? { ...known, checks: [...known.checks, check] }
        : {
            entry,
            ...(check.label !== undefined ? { label: check.label } : {}),
            ...check.matchedByName,
            checks: [check],
          },
    );
  }
  return [...byEntry.values()];
}

/**
 * `statements[0] "daily aggregate" (querygate.budget.yaml:5) matched by its name: ...`, or without the
 * entry when `entry` is false (a line already placed at it).
 */
export function describeMatchedByName(m: MatchedByName, budget?: string, entry = true): string {
  const where = budget !== undefined ? ` (${budget}${m.line !== undefined ? `:${m.line}` : ''})` : '';
  return (
    (entry ? `${m.entry}${m.label !== undefined ? ` "${m.label}"` : ''}${where} ` : '') +
    `matched by its name: the statement's text changed since fingerprint ${m.fingerprint}`
  );
}

/** One line per violation: the measured value, the limit, the statement. */
export function violationLines(
  gate: GateResult,
  width = 80,
): { check: LimitCheck; measurement: LimitMeasurement; text: string }[] {
  return gate.limits.flatMap((check) =>
    check.measurements
      .filter((m) => !m.passed)
      .map((m) => ({
        check,
        measurement: m,
        text: `${describeMeasurement(check, m)}: ${describeSubject(m.subject, width)}`,
      })),
  );
}

/** Values over their limit that do not fail the gate, with why (`LimitMeasurement.notCounted`). */
export function notCountedLines(
  gate: GateResult,
  width = 80,
): { check: LimitCheck; measurement: LimitMeasurement; text: string; reason: string }[] {
  return gate.limits.flatMap((check) =>
    check.measurements
      .filter((m) => m.notCounted)
      .map((m) => ({
        check,
        measurement: m,
        text: `${describeMeasurement(check, m)}: ${describeSubject(m.subject, width)}`,
        reason: `not counted: ${m.notCounted!.reason}`,
      })),
  );
}

/** `failed: 2 limits exceeded, 1 failing finding` */
export function verdictLine(gate: GateResult): string {
  const { violations, failingFindings, limits, acceptedFindings } = gate.counts;
  const violated = gate.limits.filter((l) => l.status === 'fail').length;
  const parts = [
    `${violated} of ${limits} limit(s) exceeded${violations !== violated ? ` (${violations} violation(s))` : ''}`,
    `${failingFindings} failing finding(s)${gate.failOn !== 'never' ? ` at or above ${gate.failOn}` : ''}`,
  ];
  if (acceptedFindings > 0) parts.push(`${acceptedFindings} accepted`);
  const notCounted = gate.counts.notCounted ?? 0;
  if (notCounted > 0) parts.push(`${notCounted} value(s) over a limit not counted`);
  if (gate.incomplete !== undefined)
    return `FAILED: the run was interrupted (${gate.incomplete}), so the gate cannot pass; ${parts.join(', ')}`;
  return `${gate.passed ? 'PASSED' : 'FAILED'}: ${parts.join(', ')}`;
}

/** Why a finding fails or is let through, in a few words. */
export function findingStatusText(f: GatedFinding): string {
  // Accepted under a rule the run merged into this finding as the same problem (evidence.sameFixAs).
  const as = f.acceptance?.rule !== undefined ? ` as ${f.acceptance.rule} (the same problem)` : '';
  if (f.status === 'accepted') {
    return `accepted${as}: ${f.acceptance?.reason ?? ''}${f.acceptance?.expires !== undefined ? ` (until ${f.acceptance.expires})` : ''}`;
  }
  if (f.acceptance?.expired) return `acceptance${as} expired on ${f.acceptance.expires ?? '?'}: ${f.acceptance.reason}`;
  return f.status === 'failing' ? 'not accepted' : 'below the fail-on severity';
}

export interface GateTextOptions {
  /** Terminal width: lines wrap at it, and statement text is cut to fit (at least `MIN_WIDTH`). */
  readonly width?: number;
}

/** The gate's verdict for the terminal: verdict, violations, failing findings, skipped limits. */
export function renderGateText(gate: GateResult, options: GateTextOptions = {}): string {
  const width = layoutWidth(options.width, 80);
  const line = (text: string, first: string, indent = 7) => wrapText(text, width, indent, first);
  const lines: string[] = line(
    `Gate ${verdictLine(gate)}${gate.budget !== undefined ? ` (budget ${gate.budget})` : ' (no budget: findings only)'}`,
    '',
    2,
  );
  const statement = (query: string, tail: string): string[] => {
    // A narrow terminal: the statement on its line, what names it (its source) wrapped under it.
    if (width - 7 - tail.length < 30) return [`       ${oneLine(query, width - 7)}`, ...line(tail.trim(), '       ')];
    return [`       ${oneLine(query, width - 7 - tail.length)}${tail}`];
  };
  /** A statement is cut to keep its source on the line; the run and a route are short. */
  const subjectLines = (subject: GateSubject) => {
    const whole = describeSubject(subject, Number.MAX_SAFE_INTEGER);
    if (subject.kind !== 'statement') return line(whole, '       ');
    return statement(subject.query, whole.slice(oneLine(subject.query, Number.MAX_SAFE_INTEGER).length));
  };
  for (const check of gate.limits) {
    const failing = check.measurements.filter((m) => !m.passed);
    if (check.status !== 'fail') continue;
    lines.push(...line(describeField(check, gate.budget), '  FAIL '));
    if (check.note !== undefined) lines.push(...line(check.note, '       '));
    for (const m of failing) lines.push(...line(describeMeasurement(check, m), '       '), ...subjectLines(m.subject));
  }
  for (const check of gate.limits) {
    const explained = check.measurements.filter((m) => m.notCounted);
    if (explained.length === 0) continue;
    lines.push(...line(describeField(check, gate.budget), '  NOT COUNTED '));
    for (const m of explained)
      lines.push(
        ...line(describeMeasurement(check, m), '       '),
        ...line(`not counted: ${m.notCounted!.reason}`, '       '),
        ...subjectLines(m.subject),
      );
  }
  for (const f of gate.findings.filter((x) => x.status === 'failing')) {
    lines.push(...line(`finding ${f.finding.severity} ${f.finding.rule}: ${f.finding.message}`, '  FAIL '));
    lines.push(...statement(f.query, f.source !== undefined ? ` [${f.source}]` : ''));
    if (f.acceptance?.expired) lines.push(...line(findingStatusText(f), '       '));
  }
  const passed = gate.limits.filter((l) => l.status === 'pass');
  if (passed.length > 0) lines.push(`  ${passed.length} limit(s) within budget`);
  // A failed limit says it under FAIL; a passing one would say it nowhere else.
  for (const m of matchedByName(gate).filter((x) => x.checks.every((c) => c.status !== 'fail')))
    lines.push(...line(describeMatchedByName(m, gate.budget), '  note: ', 4));
  for (const check of gate.limits.filter((l) => l.status === 'skipped')) {
    lines.push(...line(`${describeField(check, gate.budget)}: ${check.note ?? 'nothing to measure'}`, '  skipped ', 4));
  }
  if (gate.acceptancesNotJudged !== undefined) {
    lines.push(
      ...line(
        `${gate.acceptancesNotJudged} accepted finding(s) matched no finding: this is the report of an interrupted run, ` +
          'whose plans (and the findings read from them) are missing, so that says nothing about whether they are still needed',
        '  note: ',
        4,
      ),
    );
  }
  for (const a of gate.unusedAcceptances) {
    lines.push(
      ...line(
        `accepted ${a.rule}${a.fingerprint !== undefined ? ` ${a.fingerprint}` : ''}${a.relation !== undefined ? ` on ${a.relation}` : ''}` +
          `${a.line !== undefined ? ` (line ${a.line})` : ''} matched no finding: remove it?`,
        '  note: ',
        4,
      ),
    );
  }
  return lines.join('\n');
}

/** Where a statement comes from in the repository: the workload file and line, when known. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
}

/**
 * Resolves a statement's `source` (`workload.sql:5` for SQL files, a name for scenarios) against
 * the report's workload file, as given on the command line (relative to where querygate ran). A
 * statement run inside a function is placed at the line of the first statement that called it.
 */
export function statementLocation(
  report: Report,
  source: string | undefined,
  fingerprint?: string,
): SourceLocation | undefined {
  const file = report.workload.source;
  if (file === undefined) return undefined;
  // The line of the statement's sql in the workload or scenario file. A statement run inside a
  // function has none: the line of the first statement that called it, where its cost comes from.
  const queries = fingerprint !== undefined ? report.queries.filter((q) => q.fingerprint === fingerprint) : [];
  const callerLine = (callers: readonly string[]) =>
    callers
      .map((c) => report.queries.find((q) => !q.nested && q.fingerprint === c && q.line !== undefined)?.line)
      .find((l) => l !== undefined);
  const line =
    queries.find((q) => q.line !== undefined)?.line ??
    queries.map((q) => (q.nested ? callerLine(q.nested.callers) : undefined)).find((l) => l !== undefined);
  if (line !== undefined) return { file, line };
  const match = source !== undefined ? /^(.*):(\d+)$/.exec(source) : null;
  if (match && file.split(/[\\/]/).pop() === match[1]) return { file, line: Number(match[2]) };
  return { file };
}
