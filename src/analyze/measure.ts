/**
 * How a finding asks for a plan with actual rows and timings. A statement that `--analyze` can
 * execute is told to use it. One it cannot (its parameter values are unknown: an HTTP run or
 * `capture`, where pg_stat_statements kept `$n` in place of the values; every call failed) is told
 * why, and what measures it instead, whether the run asked for `--analyze` (`plan.notAnalyzed`) or
 * not: asking for it again would only get "not analyzed".
 */
import type { QueryReport } from '../model/report.js';

/** What `measureWith` reads of a statement. */
export type MeasuredStatement = Pick<QueryReport, 'plan' | 'calls' | 'errors'>;

/**
 * Why `--analyze` could not (the run asked for it) or cannot (it did not) execute the statement;
 * undefined when it can. The same reasons as the capture's (`capturePlans`): a generic plan is made
 * only when the values are unknown, and a statement whose every call failed is never executed again.
 */
export function whyNotAnalyzable(query: MeasuredStatement): string | undefined {
  if (query.plan?.notAnalyzed) return query.plan.notAnalyzed;
  if (query.plan?.mode === 'generic') return UNKNOWN_VALUES;
  if (query.calls === 0 && query.errors > 0) return EVERY_CALL_FAILED_NOT_ANALYZED;
  return undefined;
}

/**
 * `with --analyze`, or, for a statement --analyze could not or cannot execute, what measures it and
 * why --analyze does not: EXPLAIN (ANALYZE, BUFFERS) with real values, or, when the values are
 * unknown, a SQL scenario whose generators give them (its statements --analyze does execute).
 */
export function measureWith(query: MeasuredStatement): string {
  const why = whyNotAnalyzable(query);
  if (!why) return 'with --analyze';
  const scenario = query.plan?.mode === 'generic' ? `, or ${SCENARIO_WITH_VALUES}` : '';
  const verb = query.plan?.notAnalyzed ? 'could not run it' : 'cannot run it as captured';
  return `with EXPLAIN (ANALYZE, BUFFERS) and real values${scenario} (--analyze ${verb}: ${why})`;
}

/** Why --analyze could not execute a statement whose parameter values are unknown. */
export const UNKNOWN_VALUES =
  'its parameter values are unknown: pg_stat_statements keeps the statement with $n in place of its literals and parameters';

/** What measures a statement whose parameter values are unknown with querygate itself. */
export const SCENARIO_WITH_VALUES = 'in a SQL scenario with a generator for each $n and --analyze';

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
