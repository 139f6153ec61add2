/**
 * Budgets (explicit, reviewable limits a team commits next to its code) and the gate's verdict.
 *
 * Units: times are milliseconds, plan costs are the planner's unitless estimates, blocks are 8 kB
 * pages, error rates are fractions 0..1.
 */
import type { RuleLevel, RulesConfig } from '../config/config.js';
import type { Finding, Severity } from './finding.js';
import type { CompareThresholdOverrides } from './comparison.js';

/** Limits on the whole run and on every HTTP route of it. */
export interface GlobalLimits {
  /** Database time of all statements in the run (median-based estimate), ms. */
  readonly totalDbMs?: number;
  /** Statements one HTTP request runs, per route. */
  readonly statementsPerRequest?: number;
  /** Database time one HTTP request costs, per route, ms. */
  readonly dbMsPerRequest?: number;
  /** Route latency percentiles, ms. */
  readonly routeP95Ms?: number;
  readonly routeP99Ms?: number;
  /** Failed calls (SQL replay) or failed and non-2xx requests (HTTP), 0..1. */
  readonly errorRate?: number;
}

/** Limits on each statement a `StatementBudget` matches. */
export interface StatementLimits {
  /** Mean execution time: gated on the median of the rounds' means, ms. */
  readonly maxMeanMs?: number;
  /** Root total cost of the captured plan (unitless). */
  readonly maxPlanCost?: number;
  /** Shared blocks (hit + read) per call. */
  readonly maxBlocksPerCall?: number;
  readonly maxRowsPerCall?: number;
  /** How often one HTTP request of any route runs the statement. */
  readonly maxCallsPerRequest?: number;
}

/** Limits on one HTTP route: they replace the run-wide per-route limits of `GlobalLimits` for it. */
export interface RouteLimits {
  /** Statements one request of the route runs. */
  readonly maxStatementsPerRequest?: number;
  /** Database time one request of the route costs, ms. */
  readonly maxDbMsPerRequest?: number;
  /** The route's latency percentiles, ms. */
  readonly maxP95Ms?: number;
  readonly maxP99Ms?: number;
}

export interface RouteBudget extends RouteLimits {
  /** The route's name in the report (`list books`), or its method and path (`GET /books`). */
  readonly route: string;
}

export type GlobalLimitName = keyof GlobalLimits;
export type StatementLimitName = keyof StatementLimits;
export type RouteLimitName = keyof RouteLimits;
export type LimitName = GlobalLimitName | StatementLimitName | RouteLimitName;

/**
 * Which statements a `StatementBudget` applies to. Every given matcher must match; without any, the
 * entry's `name` picks the statements of that name, and an entry without a name either (or with
 * `budget init`'s label for its default, `ANY_STATEMENT`) applies to every statement.
 */
export interface StatementMatch {
  /** libpg-query fingerprint, as in the report. */
  readonly fingerprint?: string;
  /** Case-insensitive regular expression searched in the normalized statement text. */
  readonly pattern?: string;
  /** A relation the statement's plan reads: `schema.table`, or a bare table name in any schema. */
  readonly relation?: string;
}

export interface StatementBudget extends StatementMatch, StatementLimits {
  /**
   * Shown in the output instead of the matchers. Without matchers, it is one: the statements whose
   * name (`QueryReport.source`, or a captured statement's leading comment) is this. With a
   * fingerprint that matches nothing, it finds the statement again after its text changed.
   */
  readonly name?: string;
  /**
   * Not a limit: the calls per request the per-call limits were set at (`budget init` writes it for a
   * statement that every route runs in a loop). When a request runs the statement at least one call
   * fewer on every route (the loop batched into one `= ANY($1)` statement, whose one call does the
   * work of many), the per-call limits (mean time, plan cost, blocks, rows) are judged per request:
   * value times calls per request against the limit times this.
   */
  readonly callsPerRequest?: number;
  /**
   * Not limits: the statement as the run the budget was made from measured it (`budget init` writes
   * it on an entry with a fingerprint). The gate reads it to tell from a regression what moves a
   * statement's numbers while its work stays the same: a slower machine (timings), another mix of
   * parameters (blocks and rows per call), ANALYZE's sample (a small plan cost). Without it, limits
   * are judged as measured.
   */
  readonly reference?: StatementReference;
}

/** What a statement measured in the run a budget was made from (see `StatementBudget.reference`). */
export interface StatementReference {
  /** Calls in that run. */
  readonly calls?: number;
  /**
   * HTTP runs: requests of the routes that ran the statement, the parameter draws behind its
   * per-call figures (a loop's calls in one request share the request's parameters).
   */
  readonly requests?: number;
  /** Mean execution time, ms, as the gate measures it (the median of the rounds' means). */
  readonly meanMs?: number;
  /** Standard deviation of the execution time per call, ms (pg_stat_statements). */
  readonly stddevMs?: number;
  readonly blocksPerCall?: number;
  readonly rowsPerCall?: number;
  /** Root total cost of the captured plan. */
  readonly planCost?: number;
  /** The plan's shape (`planShape`: node types, relations and indexes), a short hash. */
  readonly planShape?: string;
}

/** A finding the team decided to live with, for a reason and possibly until a date. */
export interface AcceptedFinding {
  readonly rule: string;
  readonly fingerprint?: string;
  readonly relation?: string;
  readonly reason: string;
  /** YYYY-MM-DD: from the day after, the finding fails the gate again. */
  readonly expires?: string;
}

/** A budget as loaded from `querygate.budget.yaml`. */
export interface Budget {
  /** The file it was read from (as given or found). */
  readonly source?: string;
  readonly limits: GlobalLimits;
  readonly statements: readonly StatementBudget[];
  /** Per-route limits (HTTP workloads), replacing `limits`' per-route ones for the routes they name. */
  readonly routes?: readonly RouteBudget[];
  /** Rule severities and thresholds, overriding the defaults: the config file's `rules:` shape. */
  readonly rules: RulesConfig;
  readonly accepted: readonly AcceptedFinding[];
  /** Regression thresholds of `compare` and `run --baseline` (the `compare:` section). */
  readonly compare?: CompareThresholdOverrides;
  /** Line in the source file of each field, keyed like `limits.totalDbMs`, `statements[0].maxMeanMs`. */
  readonly lines: Readonly<Record<string, number>>;
}

/** What a measured value is about. */
export type GateSubject =
  | {
      readonly kind: 'run';
      /**
       * For the run's database time: the statements most of it went to, by their source (name or
       * file:line) or text, with their share of it (0..1).
       */
      readonly mostOf?: readonly { readonly statement: string; readonly share: number }[];
    }
  | { readonly kind: 'route'; readonly route: string }
  | {
      readonly kind: 'statement';
      readonly fingerprint: string;
      readonly query: string;
      readonly source?: string;
      /** For calls per request. */
      readonly route?: string;
    };

/** Spread of repeated timing measurements (per measurement round). */
export interface Spread {
  readonly min: number;
  readonly max: number;
  readonly samples: number;
}

/** One subject measured against one limit. */
export interface LimitMeasurement {
  readonly subject: GateSubject;
  readonly measured: number;
  /** `median`: the median over measurement rounds (timings); `measured`: as captured (deterministic). */
  readonly basis: 'median' | 'measured';
  readonly spread?: Spread;
  /**
   * Set when a per-call limit was judged per request (the entry's `callsPerRequest`, a loop batched):
   * passed when `measured` times `callsPerRequest` is at most the limit times `budgetCallsPerRequest`.
   */
  readonly perRequest?: {
    /** The route that runs the statement the most times per request. */
    readonly route: string;
    readonly callsPerRequest: number;
    readonly budgetCallsPerRequest: number;
  };
  readonly passed: boolean;
  /**
   * Set when the value is over the limit but does not fail the gate (`passed` is true): the budget's
   * reference tells what moved it from a regression. See `NotCounted`.
   */
  readonly notCounted?: NotCounted;
}

/**
 * Why a value over its limit does not fail the gate:
 * - `machine-speed`: a timing of a statement (or the run, or a route) whose work is within its budget,
 *   while statements of similar duration ran slower by a similar factor than when the budget was made;
 * - `within-spread`: blocks or rows per call that differ from the budget's reference by no more than
 *   the statement's run-to-run spread over the parameters the two runs drew, with the same plan;
 * - `plan-cost-sample`: a plan cost a few units over its limit with the plan's shape unchanged, as
 *   ANALYZE's sample moves it.
 */
export interface NotCounted {
  readonly kind: 'machine-speed' | 'within-spread' | 'plan-cost-sample';
  /** One sentence, shown after "not counted:". */
  readonly reason: string;
  readonly evidence: Readonly<Record<string, number | string>>;
}

/** One limit of the budget and every subject it applied to. */
export interface LimitCheck {
  /** The budget field, e.g. `limits.totalDbMs` or `statements[2].maxMeanMs`. */
  readonly field: string;
  readonly limit: LimitName;
  /** The statement budget's name or matchers, for statement limits. */
  readonly label?: string;
  readonly threshold: number;
  readonly line?: number;
  /** `skipped`: nothing in the report to measure (no route, no statement matched). */
  readonly status: 'pass' | 'fail' | 'skipped';
  readonly note?: string;
  /**
   * A statement entry whose fingerprint matched nothing and that held the statement of its name
   * instead (the statement's text changed): the fingerprint it names, and that field's line.
   */
  readonly matchedByName?: { readonly fingerprint: string; readonly line?: number };
  readonly measurements: readonly LimitMeasurement[];
}

/** A finding as the gate saw it. */
export interface GatedFinding {
  readonly fingerprint: string;
  readonly query: string;
  readonly source?: string;
  readonly finding: Finding;
  /** `failing`: un-accepted and at or above the fail-on severity. */
  readonly status: 'failing' | 'accepted' | 'reported';
  readonly acceptance?: {
    readonly reason: string;
    readonly expires?: string;
    readonly expired: boolean;
    /**
     * The accepted entry's rule, when it is not the finding's: a rule the run merged into the
     * finding as the same problem with the same fix (`evidence.sameFixAs`).
     */
    readonly rule?: string;
    readonly line?: number;
  };
}

/** Per rule: how many findings it produced, and how many of them fail. */
export interface RuleVerdict {
  readonly rule: string;
  readonly severity?: RuleLevel;
  readonly description?: string;
  readonly findings: number;
  readonly failing: number;
  readonly accepted: number;
}

/** The verdict of `evaluateBudget`. Plain JSON: stored in the JSON report as `gate`. */
export interface GateResult {
  readonly passed: boolean;
  /**
   * Why the run is incomplete (`SIGINT`, ...), when it was interrupted: its limits on plans and
   * findings could not all be judged, so the gate does not pass whatever they say.
   */
  readonly incomplete?: string;
  /** The budget file, when there was one. */
  readonly budget?: string;
  /** Un-accepted findings at or above this severity fail; `never`: findings never fail. */
  readonly failOn: Severity | 'never';
  /** Day against which acceptance expiry dates were checked (YYYY-MM-DD). */
  readonly date: string;
  readonly limits: readonly LimitCheck[];
  readonly findings: readonly GatedFinding[];
  readonly rules: readonly RuleVerdict[];
  /** Accepted entries that matched no finding: candidates for removal. */
  readonly unusedAcceptances: readonly (AcceptedFinding & { readonly line?: number })[];
  /**
   * On the report of an interrupted run: how many accepted entries matched no finding. They are not
   * listed as unused: the run's plans, and the findings read from them, may be missing.
   */
  readonly acceptancesNotJudged?: number;
  /**
   * How much slower than when the budget was made this run's statements ran: the median, over the
   * statements whose work is within their budget and that have a reference (at least 3), of their
   * mean time over the reference's. Absent without enough references.
   */
  readonly speed?: { readonly ratio: number; readonly statements: number };
  readonly counts: {
    readonly limits: number;
    readonly violations: number;
    readonly failingFindings: number;
    readonly acceptedFindings: number;
    /** Values over their limit that do not fail the gate (`LimitMeasurement.notCounted`). */
    readonly notCounted?: number;
  };
}
