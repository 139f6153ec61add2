/**
 * How a finding asks for a plan with actual rows and timings. A run without `--analyze` is told to
 * use it; a statement that a run with `--analyze` could not analyze (`plan.notAnalyzed`: its
 * parameter values are unknown, every call failed) is told why, and what measures it instead.
 */
import type { CapturedPlan } from '../model/plan.js';

/** `with --analyze`, or, where --analyze was asked and could not apply, what to use and why. */
export function measureWith(plan: Pick<CapturedPlan, 'notAnalyzed'> | null | undefined): string {
  if (!plan?.notAnalyzed) return 'with --analyze';
  return `with EXPLAIN (ANALYZE, BUFFERS) and real values (--analyze could not run it: ${plan.notAnalyzed})`;
}

/** Why --analyze could not execute a statement whose parameter values are unknown. */
export const UNKNOWN_VALUES =
  'its parameter values are unknown: pg_stat_statements keeps the statement with $n in place of its literals and parameters';

/** Why --analyze does not execute a statement whose every call failed. */
export const EVERY_CALL_FAILED_NOT_ANALYZED = 'every call failed, and executing it would fail or run away again';

/** Why --analyze left a statement with its plain plan: EXPLAIN ANALYZE ran out of time. */
export const ANALYZE_TIMED_OUT = 'its EXPLAIN ANALYZE ran into --explain-timeout, which a longer timeout gives time';

/**
 * Why --analyze could not execute a statement that ran inside a function: its text names the
 * function's variables, which are parameters of its plan and whose values pg_stat_statements does
 * not keep.
 */
export const NESTED_VALUES =
  "it ran inside a function: pg_stat_statements keeps it without the values of the function's variables and of its literals";
