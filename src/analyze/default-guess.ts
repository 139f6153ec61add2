/**
 * The planner's default guesses: where it has no value to estimate with (a parameter of a generic
 * plan) or no statistics (an expression no index or extended statistics covers), PostgreSQL takes
 * fixed selectivities from `selfuncs.h` and a fixed share for `LIMIT $n`. A row count made of them is
 * a guess, not an estimate from the data: rules and advice say so, and judge with what was measured
 * instead. Pure.
 */
import type { PlanNode } from '../model/plan.js';

/** DEFAULT_EQ_SEL, DEFAULT_MATCH_SEL (LIKE) and DEFAULT_RANGE_INEQ_SEL (`x > $1 AND x < $2`). */
export const DEFAULT_EQ_SEL = 0.005;
/** DEFAULT_INEQ_SEL: `<`, `>`, `<=`, `>=` with an unknown value, or on an expression without statistics. */
export const DEFAULT_INEQ_SEL = 1 / 3;
/** The share of its input a `LIMIT $n` (or `OFFSET $n`) of unknown value is taken to return. */
export const DEFAULT_LIMIT_SHARE = 0.1;

/** A row estimate that is the planner's default guess. */
export interface DefaultGuess {
  /** The selectivity the planner took, the product of the defaults below. */
  readonly selectivity: number;
  /** The defaults it is made of: `equality` stands for DEFAULT_EQ_SEL, DEFAULT_MATCH_SEL and DEFAULT_RANGE_INEQ_SEL alike. */
  readonly defaults: readonly ('equality' | 'inequality')[];
}

/** Products of up to two defaults, each an AND of conditions the planner could not estimate. */
const GUESSES: readonly DefaultGuess[] = [
  { selectivity: DEFAULT_EQ_SEL, defaults: ['equality'] },
  { selectivity: DEFAULT_INEQ_SEL, defaults: ['inequality'] },
  { selectivity: DEFAULT_INEQ_SEL * DEFAULT_INEQ_SEL, defaults: ['inequality', 'inequality'] },
  { selectivity: DEFAULT_EQ_SEL * DEFAULT_INEQ_SEL, defaults: ['equality', 'inequality'] },
  { selectivity: DEFAULT_EQ_SEL * DEFAULT_EQ_SEL, defaults: ['equality', 'equality'] },
];

/**
 * Relative tolerance: the planner scales `reltuples` by the table's current size in pages, so its
 * row count of the table drifts a little from the report's.
 */
const TOLERANCE = 0.01;

/** A condition the planner may not be able to estimate: a parameter, or a function of a column. */
const UNESTIMABLE = /\$\d+\b|\b[a-z_][\w$]*\s*\(/i;

/**
 * The default guess behind a scan's row estimate, for a scan that reads the whole relation (a
 * sequential scan, or an index walk with no Index Cond) and whose filter has a parameter or a function
 * call: its estimated rows over the table's match a product of the defaults. Undefined with EXPLAIN
 * ANALYZE (the rows are counted), or when the estimate is anything else.
 *
 * @example
 * // Filter: (ts > $1), Plan Rows 208,370 per process x 2.4, of a 1,500,263-row table
 * scanGuess(scan, 2.4, 1_500_263) // { selectivity: 1/3, defaults: ['inequality'] }
 */
export function scanGuess(node: PlanNode, parallelDivisor: number, tableRows: number): DefaultGuess | undefined {
  const filter = node.Filter;
  if (filter === undefined || node['Actual Rows'] !== undefined || node['Index Cond'] !== undefined) return undefined;
  if (!UNESTIMABLE.test(filter) || tableRows <= 0) return undefined;
  const rows = node['Plan Rows'] * parallelDivisor;
  return GUESSES.find((g) => {
    const expected = tableRows * g.selectivity;
    // Too few rows to tell a guess from a clamp to one row, or from rounding per process.
    if (expected < 10 * Math.max(1, parallelDivisor)) return false;
    return Math.abs(rows - expected) <= Math.max(TOLERANCE * expected, parallelDivisor + 1);
  });
}

/**
 * True when a Limit's estimated rows are the share PostgreSQL takes for a count it does not know
 * (`LIMIT $n` in a generic plan): a tenth of its input, rounded. Only for generic plans: elsewhere
 * the count is planned with its value.
 */
export function isLimitGuess(limit: PlanNode, generic: boolean): boolean {
  if (!generic || limit['Node Type'] !== 'Limit' || limit['Actual Rows'] !== undefined) return false;
  const input = limit.Plans?.find((p) => p['Parent Relationship'] === 'Outer') ?? limit.Plans?.[0];
  if (!input) return false;
  const expected = Math.max(1, Math.round(input['Plan Rows'] * DEFAULT_LIMIT_SHARE));
  // Below 10 rows a constant LIMIT of the same size cannot be told apart.
  return expected >= 10 && Math.abs(limit['Plan Rows'] - expected) <= 1;
}

/** Words for a guess, after "the planner's default guess": `"a third of the rows"`, `"0.5% of the rows"`. */
export function guessWords(guess: DefaultGuess): string {
  const percent = guess.selectivity * 100;
  const share =
    guess.selectivity === DEFAULT_INEQ_SEL
      ? 'a third'
      : `${percent >= 1 ? Math.round(percent * 10) / 10 : Number(percent.toPrecision(2))}%`;
  return `${share} of the rows, for ${guess.defaults.length > 1 ? 'conditions' : 'a condition'} whose value it does not know or cannot estimate`;
}
