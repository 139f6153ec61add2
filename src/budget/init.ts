/**
 * `budget init`: a starting budget from a report, current values plus headroom, so a team can adopt
 * querygate on an existing code base in one step and tighten the limits from there.
 */
import { Document, isMap, isSeq, type YAMLMap } from 'yaml';
import type { AcceptedFinding, GlobalLimits, StatementBudget } from '../model/budget.js';
import type { Report } from '../model/report.js';
import { errorRate, statementMeanMs, statementName, totalDbMs } from './evaluate.js';

export interface InitOptions {
  /** Headroom on deterministic measures (plan cost, blocks, rows, calls), as a fraction (default 0.2). */
  readonly headroom?: number;
  /** Headroom on timings, which are noisy on shared CI machines (default 1: twice the measured value). */
  readonly timingHeadroom?: number;
  /** Accept the report's current findings, so the first gate passes (default true). */
  readonly acceptFindings?: boolean;
  /** Accepted findings expire this many days after `date` (default: no expiry). */
  readonly expiresInDays?: number;
  /** Day the budget is created (default today). */
  readonly date?: Date | string;
}

export const DEFAULT_HEADROOM = 0.2;
export const DEFAULT_TIMING_HEADROOM = 1;
/** Timings below this are scheduler noise: a limit under it would fail at random. */
const MIN_MEAN_MS = 1;
/**
 * Slack above a measured mean, whatever the headroom: a sub-millisecond statement measures 2-4x
 * slower on a busy CI machine, while a real regression of it (a lost index) costs tens of ms.
 */
const MIN_MEAN_SLACK_MS = 5;
const MIN_TOTAL_MS = 100;

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

/** The name of `budget init`'s entry without matchers. */
export const ANY_STATEMENT = 'any statement, a new one included';

/** The starting budget as plain data (what `renderInitialBudget` writes). */
export function initialBudget(
  report: Report,
  options: InitOptions = {},
): { limits: GlobalLimits; statements: StatementBudget[]; accepted: AcceptedFinding[] } {
  const h = options.headroom ?? DEFAULT_HEADROOM;
  const th = options.timingHeadroom ?? DEFAULT_TIMING_HEADROOM;
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
    limits.statementsPerRequest = withHeadroom(maxOf(routes.map((r) => r.statementsPerRequest)), h, 1);
    limits.dbMsPerRequest = Math.max(
      withHeadroom(maxOf(routes.map((r) => r.dbMsPerRequest)), th, MIN_MEAN_SLACK_MS),
      MIN_MEAN_MS,
    );
    const p95 = percentile('p95');
    if (p95.length > 0) limits.routeP95Ms = Math.max(withHeadroom(maxOf(p95), th), MIN_MEAN_MS);
    const p99 = percentile('p99');
    if (p99.length > 0) limits.routeP99Ms = Math.max(withHeadroom(maxOf(p99), th), MIN_MEAN_MS);
  }
  limits.errorRate = Math.min(1, Math.max(roundUpNicely(errorRate(report) * (1 + h)), 0.01));

  const measured = report.queries.filter((q) => q.calls > 0);
  const statements: StatementBudget[] = measured.map((q) => {
    const onRoutes = (q.routes ?? []).map((r) => r.callsPerRequest);
    const name = statementName(q);
    // A statement every route runs in a loop: once the loop is batched into one statement, its
    // per-call limits are judged per request, at the fewest calls per request of today.
    const loop = onRoutes.length > 0 ? Math.min(...onRoutes) : 0;
    return {
      ...(name !== undefined ? { name } : {}),
      fingerprint: q.fingerprint,
      maxMeanMs: Math.max(withHeadroom(statementMeanMs(q).value, th, MIN_MEAN_SLACK_MS), MIN_MEAN_MS),
      ...(q.plan ? { maxPlanCost: withHeadroom(q.plan.totalCost, h, 1) } : {}),
      // Parameters vary between calls: a little absolute slack on top for tiny values.
      maxBlocksPerCall: withHeadroom(q.sharedBlksPerCall, h, 4),
      maxRowsPerCall: withHeadroom(q.rowsPerCall, h, 1),
      ...(onRoutes.length > 0 ? { maxCallsPerRequest: withHeadroom(maxOf(onRoutes), h, 1) } : {}),
      ...(loop >= 2 ? { callsPerRequest: Math.floor(loop * 100) / 100 } : {}),
    };
  });
  // An entry without matchers applies to every statement, a new one included: none may cost more
  // than the costliest one of today (a new feature's query has no entry of its own).
  const planned = measured.filter((q) => q.plan);
  if (measured.length > 0)
    statements.push({
      name: ANY_STATEMENT,
      ...(planned.length > 0 ? { maxPlanCost: withHeadroom(maxOf(planned.map((q) => q.plan!.totalCost)), h, 1) } : {}),
      maxBlocksPerCall: withHeadroom(maxOf(measured.map((q) => q.sharedBlksPerCall)), h, 4),
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
  return { limits, statements, accepted };
}

/** The starting budget as commented YAML, ready to commit as querygate.budget.yaml. */
export function renderInitialBudget(report: Report, options: InitOptions = {}): string {
  const { limits, statements, accepted } = initialBudget(report, options);
  const doc = new Document({ version: 1, limits, statements, ...(accepted.length > 0 ? { accepted } : {}) });
  doc.commentBefore = [
    ' querygate budget: limits that fail CI when exceeded (querygate check report.json).',
    ` Created from a report of workload "${report.workload.name}" (${report.createdAt.slice(0, 10)}): measured values plus headroom.`,
    ' Times are ms (gated on the median over rounds), plan costs are planner units, blocks are 8 kB pages.',
    ' Rule severities and thresholds go in a rules: section, e.g. rules: { <rule-id>: warning }.',
  ].join('\n');
  const contents = doc.contents;
  if (isMap(contents)) {
    const seq = contents.get('statements', true);
    if (isSeq(seq)) {
      seq.items.forEach((item, i) => {
        const q = report.queries.filter((x) => x.calls > 0)[i];
        if (!q && isMap(item))
          (item as YAMLMap).commentBefore =
            ' No matchers: applies to every statement. No statement, a new one included, may cost more than the costliest of today.';
        if (q && isMap(item)) {
          (item as YAMLMap).commentBefore = ` ${q.query.replace(/\s+/g, ' ').trim().slice(0, 110)}`;
          // Fingerprints are hex: quote them so an all-digit one stays a string.
          const fp = (item as YAMLMap).get('fingerprint', true) as { type?: string } | undefined;
          if (fp) fp.type = 'QUOTE_DOUBLE';
          const loop = (item as YAMLMap).get('callsPerRequest', true) as { comment?: string } | undefined;
          if (loop)
            loop.comment =
              ' not a limit: run in a loop today; with fewer calls per request (the loop batched), the per-call limits count per request';
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
