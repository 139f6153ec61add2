/** Severity of a finding, most severe first. */
export type Severity = 'error' | 'warning' | 'info';

export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

/** True when `severity` is at least as severe as `threshold`. */
export function isAtLeast(severity: Severity, threshold: Severity): boolean {
  return SEVERITIES.indexOf(severity) <= SEVERITIES.indexOf(threshold);
}

/**
 * A validated fix: the planner's cost for the statement before and after. An index, or (`kind:
 * 'statistics'`) extended statistics on an expression, with which the planner estimates the
 * filter and picks a plan that needs no new index.
 */
export interface IndexAdvice {
  readonly sql: string;
  readonly method: 'hypopg' | 'rollback-build';
  /** `statistics`: `sql` creates statistics (and analyzes the table), not an index. */
  readonly kind?: 'statistics';
  readonly costBefore: number;
  readonly costAfter: number;
  /** 1 - after/before. */
  readonly improvement: number;
  /**
   * The statement run (EXPLAIN ANALYZE, in the rolled-back transaction) without and with the index:
   * its shared blocks and execution time (ms). Present when the plan cost alone fell short of the
   * improvement asked for and the run decided.
   */
  readonly measured?: {
    readonly blocksBefore: number;
    readonly blocksAfter: number;
    readonly msBefore: number;
    readonly msAfter: number;
  };
  /**
   * Other statements of the report that read the index's table and whose plan, with the index, uses
   * it: the advice was validated for its own statement, and these change too. Absent when none does.
   */
  readonly otherStatements?: readonly OtherStatementPlan[];
}

/** Another statement's plan with an advised index, against its plan without it. */
export interface OtherStatementPlan {
  readonly fingerprint: string;
  /** The statement ran inside a function (see `statementKey`). */
  readonly nested?: true;
  /** Its scenario name or `file:line`, where it has one. */
  readonly source?: string;
  /** Its scans of the table without the index, as EXPLAIN labels them (`Sort > Seq Scan on pings`). */
  readonly planBefore: string;
  /** The same with the index (`Incremental Sort > Index Scan using pings_vehicle_id_idx on pings`). */
  readonly planAfter: string;
  /** Its plan cost without and with the index (unitless planner estimates). */
  readonly costBefore: number;
  readonly costAfter: number;
  /**
   * Why the change may make it slower, to measure before deploying the index: `cost-rises`, the
   * planner's cost for it rises; `full-index-walk`, a large statement (by the run's shared blocks
   * per call) walks the whole index in its order, no Index Cond, in place of a sequential scan.
   */
  readonly risk?: 'cost-rises' | 'full-index-walk';
}

/** Separates the fixes of a suggestion, in the order to try them: `<fix> -- or: <fix>`. */
export const FIX_OR = ' -- or: ';

/** One problem a rule found in one statement. A value, never an error. */
export interface Finding {
  readonly rule: string;
  readonly severity: Severity;
  /** Stable key of the message template (tests assert ids, not prose). */
  readonly messageId: string;
  readonly message: string;
  /** Schema-qualified relation the finding is about, where one applies. */
  readonly relation?: string;
  /** Path of the plan node, e.g. "Limit > Sort > Seq Scan[orders]". */
  readonly nodePath?: string;
  /** The numbers that triggered the finding. */
  readonly evidence: Readonly<Record<string, number | string>>;
  /**
   * What to do about it, SQL where possible. Several fixes are separated by `FIX_OR` (`<fix> -- or:
   * <fix>`), the first the one to try first; a validated index is written as `advice.sql`, followed
   * by its note, if any (`<index> -- <note>`).
   */
  readonly suggestion?: string;
  readonly advice?: IndexAdvice;
  /** HTTP route the finding is about (n-plus-one). */
  readonly route?: string;
  /**
   * Why the finding may not hold for the application: its plan was made by a role that bypasses
   * the row-level security the statement ran under.
   */
  readonly caveat?: string;
}

/**
 * The rules whose findings a finding stands for: its own, and those the run merged into it as the
 * same problem with the same fix (`evidence.sameFixAs`, comma-separated). Which rule names a problem
 * can change with the schema: an index added on a column that a predicate wraps turns
 * `seq-scan-large-table` into `non-sargable-predicate` on the same scan, with the same fix.
 */
export function sameProblemRules(f: Pick<Finding, 'rule' | 'evidence'>): readonly string[] {
  const merged = f.evidence.sameFixAs;
  return [
    f.rule,
    ...(typeof merged === 'string'
      ? merged
          .split(',')
          .map((r) => r.trim())
          .filter((r) => r !== '' && r !== f.rule)
      : []),
  ];
}

/**
 * Whether two findings, of two reports of one statement, are the same problem: the same relation,
 * and a rule in common (their own, or one merged into either as the same fix). Messages and numbers
 * change with the data; the rule that names the problem can change with the schema.
 */
export function isSameProblem(a: Finding, b: Finding): boolean {
  if ((a.relation ?? '') !== (b.relation ?? '')) return false;
  const rules = sameProblemRules(b);
  return sameProblemRules(a).some((r) => rules.includes(r));
}

/** A finding silenced with a `querygate-ignore: rule-id reason` comment or an accepted budget entry. */
export interface Suppression {
  readonly rule: string;
  readonly reason: string;
  readonly source: 'comment' | 'budget';
}
