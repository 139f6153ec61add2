/**
 * The result of comparing two reports (`querygate compare base.json head.json`): which statements
 * are new, gone, or do more work in head than in base. Plain JSON, like the report.
 */
import type { Finding } from './finding.js';
import type { NestedInfo } from './report.js';

/** Version of the comparison format (`--format json`). */
export const COMPARISON_VERSION = 1;

/** Relative change with an absolute floor: both must be exceeded for a regression. */
export interface RelativeThreshold {
  /** Fraction of the base value, e.g. 0.5 for +50%. */
  readonly relative: number;
  /** Minimum absolute increase, in the metric's unit. */
  readonly absolute: number;
}

/**
 * When a change between base and head counts as a regression. Defaults in `src/compare/thresholds.ts`;
 * the `compare:` section of the budget file overrides them field by field.
 */
export interface CompareThresholds {
  /** Root plan cost (unitless planner estimate). */
  readonly planCost: RelativeThreshold;
  /** Shared blocks (hit + read) per call; a block is 8 kB. */
  readonly blocksPerCall: RelativeThreshold;
  /**
   * Temp blocks written per call: what sorts and hashes beyond work_mem spill to disk. A sort that
   * starts spilling changes neither the plan cost much nor the shared blocks.
   */
  readonly tempBlocksPerCall: RelativeThreshold;
  /** Increase of calls per request on any route (the N+1 signal). */
  readonly callsPerRequest: number;
  /** A relation read by an index in base and sequentially in head, when it has at least this many rows. */
  readonly scanDowngradeMinRows: number;
  /** A finding of this rule severity that is new in head is a regression. */
  readonly newFindingSeverity: 'error' | 'warning' | 'info' | 'none';
  /**
   * A statement new in head is a regression when it takes at least `share` of head's database time
   * at a mean of at least `minMeanMs` (a new feature's costly query). One that replaces a removed
   * statement on the same relations is judged against it instead, as a matched statement is on its
   * work (plan cost, shared and temp blocks, calls per request, plan shape, new findings).
   */
  readonly newStatement: { readonly share: number; readonly minMeanMs: number };
  readonly timing: TimingThresholds;
  /** Per HTTP route, for reports with routes. */
  readonly routes: RouteThresholds;
}

/**
 * When a route got worse. Statements per request and the error rate are judged as measured; the
 * timings come from one phase per report (no rounds, so no significance test) and need a large
 * effect relative to the other routes' overall change.
 */
export interface RouteThresholds {
  /** Statements one request runs (deterministic for a given code path and data). */
  readonly statementsPerRequest: RelativeThreshold;
  /** Increase of the share of failed requests (no response, or not 2xx), e.g. 0.01 for 1 point. */
  readonly errorRate: number;
  /** Database time per request, ms. */
  readonly dbMsPerRequest: RelativeThreshold;
  /** Latency p99 of the route's own phase, ms. */
  readonly latencyP99Ms: RelativeThreshold;
  /**
   * Whether a route timing beyond its threshold is a regression (and a faster one an improvement).
   * Default false: one phase per report cannot show a timing change to be significant, so route
   * timings are shown, never counted.
   */
  readonly timingRegressions: boolean;
}

/** Timing is noisy on CI machines: a regression needs rounds, a significant test and a large effect. */
export interface TimingThresholds {
  /** Rounds needed on each side for a test; with fewer the timing verdict is `inconclusive`. */
  readonly minRounds: number;
  /** Significance level of Welch's t-test, after Holm's correction over all tested statements. */
  readonly alpha: number;
  /** Minimum relative increase of the mean time, e.g. 0.5 for +50%. */
  readonly minRelativeChange: number;
  /** Minimum absolute increase of the mean time per call, ms. */
  readonly minAbsoluteMs: number;
  /**
   * Judge each statement's timing relative to the statements of similar duration that did the same
   * work in both reports (round by round), so that a slower CI machine is not a regression.
   */
  readonly normalize: boolean;
  /**
   * Whether a timing change of a statement that did the same work in both reports (same plan shape,
   * plan cost, shared and temp blocks and rows per call) counts: slower as a regression, faster as
   * an improvement. Default false: load on a shared machine slows long statements by up to x2 and
   * leaves short ones alone, and one run per side cannot tell that from the statement.
   */
  readonly sameWorkRegressions: boolean;
}

/** Overrides as written in the `compare:` section of a budget file: every field optional. */
export interface CompareThresholdOverrides {
  readonly planCost?: Partial<RelativeThreshold>;
  readonly blocksPerCall?: Partial<RelativeThreshold>;
  readonly tempBlocksPerCall?: Partial<RelativeThreshold>;
  readonly callsPerRequest?: number;
  readonly scanDowngradeMinRows?: number;
  readonly newFindingSeverity?: CompareThresholds['newFindingSeverity'];
  readonly newStatement?: Partial<CompareThresholds['newStatement']>;
  readonly timing?: Partial<TimingThresholds>;
  readonly routes?: {
    readonly statementsPerRequest?: Partial<RelativeThreshold>;
    readonly errorRate?: number;
    readonly dbMsPerRequest?: Partial<RelativeThreshold>;
    readonly latencyP99Ms?: Partial<RelativeThreshold>;
    readonly timingRegressions?: boolean;
  };
}

/** A number in base and head. */
export interface MetricChange {
  readonly base: number;
  readonly head: number;
  readonly delta: number;
  /** head / base - 1; null when base is 0. */
  readonly relative: number | null;
}

/** Calls per request of one statement on one route. */
export interface RouteChange {
  readonly route: string;
  /** Undefined when the statement did not run on that route in that report. */
  readonly base?: number;
  readonly head?: number;
}

export type TimingVerdict =
  /** Too few rounds on one side for a test: never a regression. */
  | 'inconclusive'
  /** The difference is below the effect size or not significant. */
  | 'noise'
  | 'slower'
  | 'faster';

export interface TimingComparison {
  readonly verdict: TimingVerdict;
  /**
   * Whether a `slower` or `faster` verdict counts as a regression or an improvement: not when the
   * statement did the same work in both reports (`sameWork`), unless `timing.sameWorkRegressions`.
   */
  readonly counted: boolean;
  /**
   * The statement did the same work in both reports: same plan shape, and plan cost, shared and
   * temp blocks and rows per call within 20% of each other.
   */
  readonly sameWork: boolean;
  /**
   * What the timing was judged relative to: the statements of similar duration that did the same
   * work (their median change, `paired` when taken round by round). Null when not normalized.
   */
  readonly reference: { readonly ratio: number; readonly statements: number; readonly paired: boolean } | null;

  readonly baseRounds: number;
  readonly headRounds: number;
  /** Mean time per call over the whole run, ms. */
  readonly baseMeanMs: number;
  readonly headMeanMs: number;
  /** Ratio of the geometric means of the round means (head / base), relative to `reference`; null when not tested. */
  readonly ratio: number | null;
  /** Welch's t statistic on the logarithms of the per-round mean times (head - base); null when not tested. */
  readonly t: number | null;
  readonly df: number | null;
  /** Two-sided p-value before correction; null when not tested. */
  readonly p: number | null;
  /** p-value after Holm's correction over the statements tested; null when not tested. */
  readonly pAdjusted: number | null;
  /** Why the verdict is what it is, one line. */
  readonly note: string;
}

/** What changed in the shape of a plan, named. */
export type PlanChangeKind =
  /** An index-based read of a relation became a sequential scan. */
  | 'scan-downgrade'
  /** A sequential scan became an index-based read. */
  | 'scan-upgrade'
  /** Another change of access method on the same relation (Index Scan -> Bitmap Heap Scan, another index). */
  | 'scan-change'
  | 'join-change'
  /** Any other node whose type changed in place. */
  | 'node-change'
  | 'node-added'
  | 'node-removed'
  /** An index read in base that head does not read; `dropped` when head's relation no longer has it. */
  | 'index-lost'
  /** A sort or hash that spills to disk in head and did not in base (ANALYZE plans only). */
  | 'spill';

export interface PlanChange {
  readonly kind: PlanChangeKind;
  /** One line, e.g. "Index Scan using orders_customer_idx on orders -> Seq Scan on orders". */
  readonly message: string;
  readonly relation?: string;
  /** Estimated rows of the relation (head's statistics) where a relation is involved. */
  readonly relationRows?: number;
  readonly base?: string;
  readonly head?: string;
}

/** One line of the plan-shape diff, in tree order. */
export interface PlanDiffLine {
  readonly op: 'same' | 'changed' | 'added' | 'removed';
  readonly depth: number;
  /** Node label in base (same, changed, removed). */
  readonly base?: string;
  /** Node label in head (same, changed, added). */
  readonly head?: string;
  /** Extra facts of the head node worth showing ("spills to disk", cost). */
  readonly note?: string;
}

export interface PlanDiff {
  /** False when both plans have the same shape (same node types on the same relations and indexes). */
  readonly changed: boolean;
  readonly lines: readonly PlanDiffLine[];
  readonly changes: readonly PlanChange[];
  /** e.g. "plans were made differently (generic vs params)". */
  readonly notes: readonly string[];
}

export type RegressionKind =
  | 'plan-cost'
  | 'blocks-per-call'
  /** Temp blocks written per call: a sort or hash that spills to disk beyond work_mem. */
  | 'temp-blocks-per-call'
  /**
   * Plan cost, shared and temp blocks times calls per request: how a statement is judged when one
   * request runs it fewer times than before (an N+1 loop batched into one statement).
   */
  | 'plan-cost-per-request'
  | 'blocks-per-request'
  | 'temp-blocks-per-request'
  | 'calls-per-request'
  | 'scan-downgrade'
  | 'new-finding'
  /**
   * Every call of the statement failed on one side and not on the other (a statement timeout, an
   * error): the side without a successful call measured no work to judge it by.
   */
  | 'errors'
  /** A statement new in head: costly on its own, or costlier than the removed one it replaces. */
  | 'new-statement'
  | 'timing'
  /** Routes: statements per request (deterministic). */
  | 'route-statements'
  | 'route-errors'
  /** Routes: database time per request or latency p99 (one phase per report). */
  | 'route-timing'
  /**
   * Routes: a statement the route runs regressed (its work per call or per request, its calls per
   * request on this route, or a new finding), whatever the route's own measures say.
   */
  | 'route-statement';

/** One reason a statement regressed (or improved). */
export interface ComparisonReason {
  readonly kind: RegressionKind;
  /** Stable message id, e.g. "plan-cost-up"; tests assert ids, not prose. */
  readonly messageId: string;
  readonly message: string;
  readonly evidence: Readonly<Record<string, number | string>>;
}

/**
 * `unstable-plan`: the plan changed between two runs of the same inputs (see
 * `MatchedStatement.unstablePlan`): neither a regression nor an improvement.
 */
export type StatementVerdict = 'regression' | 'improvement' | 'unchanged' | 'unstable-plan';

/** A route's verdict: routes are compared on their work and outcome, never on a plan alone. */
export type RouteVerdict = Exclude<StatementVerdict, 'unstable-plan'>;

/**
 * A statement that one request runs fewer times in head than in base, on every route that runs it in
 * head (an N+1 loop batched: `WHERE id = $1` 20 times per request, then `WHERE id = ANY($1)` once,
 * which libpg-query's fingerprint keeps as one statement). Its per-call measures are not comparable:
 * one call now does the work of many. They are judged per request instead, on the route where the
 * calls per request fell the least: the per-call value times the calls per request.
 */
export interface PerRequestComparison {
  readonly route: string;
  readonly callsPerRequest: MetricChange;
  /** Root plan cost times calls per request; null when either side has no plan. */
  readonly planCost: MetricChange | null;
  /** Shared blocks per call times calls per request. */
  readonly blocks: MetricChange;
  /** Temp blocks written per call times calls per request. */
  readonly tempBlocks: MetricChange;
  /** Rows per call times calls per request (shown, not judged). */
  readonly rows: MetricChange;
}

/** A statement present in both reports (matched by fingerprint). */
export interface MatchedStatement {
  readonly fingerprint: string;
  readonly query: string;
  readonly source?: string;
  /** Set on a statement that ran inside a function or a trigger (see `QueryReport.nested`). */
  readonly nested?: NestedInfo;
  readonly verdict: StatementVerdict;
  readonly regressions: readonly ComparisonReason[];
  readonly improvements: readonly ComparisonReason[];
  /**
   * Set (with the verdict `unstable-plan`) when the plan changed although both runs planned from
   * the same inputs: querygate's embedded server of the same version built both databases from the
   * same setup files, and the statement was planned with the same parameters and settings on
   * relations of the same size and indexes. Only the statistics differ, which ANALYZE estimates
   * from a random sample: head changed nothing that made the plan change. `uncounted` holds what the
   * change measured (plan cost, blocks, time, findings), neither regressions nor improvements.
   */
  readonly unstablePlan?: { readonly note: string; readonly uncounted: readonly ComparisonReason[] };
  /**
   * Set when the statement's blocks per call changed by no more than its run-to-run spread over the
   * parameters the two runs drew, with the same plan (a `duration` load fits another number of
   * requests, and with skewed data the mix of parameters moves the average): `uncounted` holds the
   * blocks-per-call change and the findings new or resolved on that plan, neither regressions nor
   * improvements.
   */
  readonly withinSpread?: { readonly note: string; readonly uncounted: readonly ComparisonReason[] };
  /**
   * Set when one side has no successful call of the statement (every call failed): pg_stat_statements
   * records only calls that complete, so that side's blocks, temp blocks and rows per call (0) and its
   * mean time measure no work, and the work per call was not judged (its plan cost was). `base` and
   * `head` say which side; `note` says why.
   */
  readonly unmeasured?: { readonly base: boolean; readonly head: boolean; readonly note: string };
  readonly planCost: MetricChange | null;
  readonly blocksPerCall: MetricChange;
  /** Temp blocks written per call: sorts and hashes that spilled to disk beyond work_mem. */
  readonly tempBlocksPerCall: MetricChange;
  readonly rowsPerCall: MetricChange;
  readonly meanMs: MetricChange;
  readonly callsPerRequest: readonly RouteChange[];
  /**
   * Present when one request runs the statement fewer times in head (a loop batched): plan cost,
   * shared and temp blocks were judged per request, not per call.
   */
  readonly perRequest?: PerRequestComparison;
  readonly timing: TimingComparison;
  /** Null when either report has no plan for the statement. */
  readonly planDiff: PlanDiff | null;
  /** Findings in head whose problem base did not have: no finding of base on the relation shares a rule (its own or one in `evidence.sameFixAs`). */
  readonly newFindings: readonly Finding[];
  /** Findings in base whose problem is gone in head (as `newFindings`, the other way). */
  readonly resolvedFindings: readonly Finding[];
  /**
   * Findings on one side only that are not compared, and why: plan findings when the two plans
   * were made in different modes or one side has none; any finding of base when head has no plan.
   * Neither a regression nor an improvement. Absent when there are none.
   */
  readonly findingNotes?: readonly string[];
}

/**
 * The removed statement a new one replaces (one that read exactly the same relations: a statement
 * whose text changed), and the new statement measured against it: in each metric, `base` is the
 * removed statement's, `head` the new one's.
 */
export interface Replacement {
  readonly fingerprint: string;
  readonly query: string;
  readonly source?: string;
  readonly planCost: MetricChange | null;
  readonly blocksPerCall: MetricChange;
  readonly tempBlocksPerCall: MetricChange;
  /** Shown, not judged. */
  readonly rowsPerCall: MetricChange;
  /** Shown, not judged: the times of two different statements say nothing about the branch. */
  readonly meanMs: MetricChange;
  readonly callsPerRequest: readonly RouteChange[];
  /** Present when one request runs the new statement fewer times than the removed one (a loop batched). */
  readonly perRequest?: PerRequestComparison;
  /** Findings of the new statement whose problem the removed one did not have (as `MatchedStatement.newFindings`). */
  readonly newFindings: readonly Finding[];
  /** Findings on one side only that are not compared, and why (as `MatchedStatement.findingNotes`). */
  readonly findingNotes?: readonly string[];
}

/** A statement in only one of the reports. */
export interface UnmatchedStatement {
  readonly fingerprint: string;
  readonly query: string;
  readonly source?: string;
  /** Set on a statement that ran inside a function or a trigger (see `QueryReport.nested`). */
  readonly nested?: NestedInfo;
  /** Why a new statement is not judged as one (it ran inside a function, and base did not record those). */
  readonly note?: string;
  readonly calls: number;
  readonly meanMs: number;
  readonly planCost: number | null;
  readonly blocksPerCall: number;
  /** Temp blocks written per call. */
  readonly tempBlocksPerCall: number;
  readonly rowsPerCall: number;
  readonly findings: readonly Finding[];
  /**
   * New statements only: reasons they count as a regression. Against the removed statement it
   * replaces (`replaces`), as a matched statement is judged; replacing none: run `callsPerRequest`
   * times or more per request on a route base had (counted from 0), an error finding, or a large
   * share of head's database time.
   */
  readonly regressions: readonly ComparisonReason[];
  /**
   * New statements that replace a removed one and did not regress: what improved against it (plan
   * cost, blocks, calls per request, scan upgrades, resolved findings), as a matched statement's
   * improvements. Absent when nothing did.
   */
  readonly improvements?: readonly ComparisonReason[];
  /** New statements only: the removed statement it replaces, and the new one against it. */
  readonly replaces?: Replacement;
  /**
   * New statements that replace none, in HTTP reports: calls per request on each route that runs it
   * in head (`base` 0 on a route base also had, absent on a route new in head). A statement that
   * replaces one has them in `replaces.callsPerRequest`.
   */
  readonly callsPerRequest?: readonly RouteChange[];
  /**
   * New statements only: the plan diff against the removed statement it replaces (`replaces`), or,
   * replacing none, its own plan (every line added). Absent without a plan.
   */
  readonly planDiff?: PlanDiff;
  /** Removed statements only: the fingerprint of the new statement that replaces it. */
  readonly replacedBy?: string;
}

/** Timing verdict of a route: one phase per report, judged against thresholds without a test. */
export type RouteTimingVerdict = 'slower' | 'faster' | 'noise' | 'inconclusive';

/** An HTTP route present in both reports (matched by name). */
export interface RouteComparison {
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly verdict: RouteVerdict;
  readonly regressions: readonly ComparisonReason[];
  readonly improvements: readonly ComparisonReason[];
  /** Responses in the route's own phase. */
  readonly requests: { readonly base: number; readonly head: number };
  /** Deterministic for a given code path and data: judged as measured. */
  readonly statementsPerRequest: MetricChange;
  /** Requests without a response or with a non-2xx status, over all requests, 0..1. */
  readonly errorRate: MetricChange;
  /** Timings of the route's own phase: no rounds, so no significance test. */
  readonly timing: {
    readonly verdict: RouteTimingVerdict;
    readonly dbMsPerRequest: MetricChange;
    readonly latencyP99Ms: MetricChange;
    /** Why the verdict is what it is, one line. */
    readonly note: string;
  };
}

/** Identifies a compared report. */
export interface ReportSummary {
  readonly createdAt: string;
  readonly serverVersion: string;
  readonly database: string;
  readonly workload: string;
  readonly kind: 'sql' | 'scenario' | 'http' | 'external';
  readonly rounds: number;
  readonly statements: number;
  readonly complete: boolean;
  /** The querygate version that wrote the report (`tool.version`). */
  readonly toolVersion: string;
  /** Concurrent connections of the replay (the load's shape, with the fields below). */
  readonly connections: number;
  /** Calls per statement (`--repeat`), total calls (`--count`) or wall time (`--duration`), as the run had it. */
  readonly repeat?: number;
  readonly count?: number;
  readonly durationMs?: number;
}

export interface Comparison {
  readonly version: typeof COMPARISON_VERSION;
  readonly base: ReportSummary;
  readonly head: ReportSummary;
  readonly thresholds: CompareThresholds;
  /**
   * How much slower (> 1) or faster head ran overall: the median timing ratio of the statements that
   * did the same work in both reports. Shown for orientation: each statement is judged relative to
   * the statements of similar duration (`TimingComparison.reference`), as load does not slow every
   * statement alike. Null when fewer than three such statements, or `timing.normalize` off.
   */
  readonly speed: { readonly ratio: number; readonly statements: number } | null;
  /**
   * The same for HTTP routes: the median change of database time per request and of p99 over the
   * routes whose statements and plans did not change. Route timings are judged relative to it.
   * Null when fewer than three such routes.
   */
  readonly routeSpeed: { readonly dbTime: number; readonly latency: number; readonly routes: number } | null;
  /** 'regression' when any statement or route regressed (exit code 1). */
  readonly verdict: 'regression' | 'ok';
  readonly counts: {
    readonly matched: number;
    readonly added: number;
    readonly removed: number;
    readonly regressions: number;
    readonly improvements: number;
    /** Matched statements whose plan changed between runs of the same inputs (`unstable-plan`). */
    readonly unstablePlans: number;
    /** Matched statements whose work changed within their run-to-run spread (`withinSpread`): not counted. */
    readonly withinSpread?: number;
    /** Matched statements whose mean time differs, with the difference classed as noise or inconclusive. */
    readonly timingNoise: number;
    /** Matched statements significantly slower or faster with the same work: shown, not counted. */
    readonly timingNotCounted: number;
    /** HTTP routes in both reports, only in head, only in base. */
    readonly routesMatched: number;
    readonly routesAdded: number;
    readonly routesRemoved: number;
    readonly routeRegressions: number;
    readonly routeImprovements: number;
  };
  /** Matched statements: regressions first, then improvements, then the rest, each by head time. */
  readonly statements: readonly MatchedStatement[];
  /** New statements: those that regressed first, then in head's order. */
  readonly added: readonly UnmatchedStatement[];
  readonly removed: readonly UnmatchedStatement[];
  /** HTTP routes in both reports: regressions first, then improvements, then the rest, in head's order. */
  readonly routes: readonly RouteComparison[];
  /** Names of routes only in head, and only in base. */
  readonly addedRoutes: readonly string[];
  readonly removedRoutes: readonly string[];
  readonly warnings: readonly string[];
}
