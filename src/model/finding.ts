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

/** A finding silenced with a `querygate-ignore: rule-id reason` comment or an accepted budget entry. */
export interface Suppression {
  readonly rule: string;
  readonly reason: string;
  readonly source: 'comment' | 'budget';
}
