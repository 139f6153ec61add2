/**
 * How a `count` load is spread over statements and rounds. The calls go to the statements by
 * weight, exactly, and each statement's calls are split evenly over the rounds: a statement with at
 * least as many calls as there are rounds runs in every round, which its per-round timings need
 * (budgets take their median, `compare` tests them). Drawing each call at random by weight, a
 * statement of low weight got no call at all in some rounds.
 */

/** Splits `total` into `parts` near-equal integers (the larger ones last). */
export function split(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor((total * (i + 1)) / parts) - Math.floor((total * i) / parts),
  );
}

/** Weights are decimals: a share of 3 that floating point computes as 2.9999999999999996 is 3. */
const EPSILON = 1e-9;

/**
 * `count` calls shared by weight (largest remainders): each statement gets the whole part of its
 * share, and the calls left over go to the largest fractions, the first statement first on a tie.
 *
 * @example
 * callsByWeight([3, 1], 101); // [76, 25]
 */
export function callsByWeight(weights: readonly number[], count: number): number[] {
  const total = weights.reduce((sum, w) => sum + w, 0);
  if (total <= 0 || weights.length === 0) return weights.map(() => 0);
  const shares = weights.map((w) => (count * w) / total);
  const calls = shares.map((s) => Math.floor(s + EPSILON));
  const left = count - calls.reduce((sum, n) => sum + n, 0);
  const byFraction = shares
    .map((s, i) => ({ i, fraction: s - calls[i]! }))
    .sort((a, b) => b.fraction - a.fraction || a.i - b.i);
  for (let k = 0; k < left; k++) calls[byFraction[k % byFraction.length]!.i]!++;
  return calls;
}

/** Calls of each statement in each round of a `count` load: `[round][statement]`. */
export function countPerRound(weights: readonly number[], count: number, rounds: number): number[][] {
  const perStatement = callsByWeight(weights, count).map((n) => split(n, rounds));
  return Array.from({ length: rounds }, (_, r) => perStatement.map((s) => s[r]!));
}

/**
 * The statements of one round's calls, in the order they are sent: call j of a statement's m calls
 * sits at (j + 0.5) / m of the round, so that every stretch of the round (and every thread's
 * slice of it) mixes the statements by weight, as the traffic it stands for does.
 *
 * @example
 * roundOrder([4, 2]); // [0, 1, 0, 0, 1, 0]
 */
export function roundOrder(calls: readonly number[]): number[] {
  const slots: { at: number; statement: number }[] = [];
  calls.forEach((m, statement) => {
    for (let j = 0; j < m; j++) slots.push({ at: (j + 0.5) / m, statement });
  });
  return slots.sort((a, b) => a.at - b.at || a.statement - b.statement).map((s) => s.statement);
}

/** The calls a statement needs for one in every round, and the count that gives it as many. */
export interface ShortStatement {
  readonly index: number;
  readonly calls: number;
  /** The smallest count that gives this statement a call in every round. */
  readonly countNeeded: number;
}

/** Statements of a `count` load that get fewer calls than there are rounds. */
export function statementsShortOfRounds(weights: readonly number[], count: number, rounds: number): ShortStatement[] {
  const total = weights.reduce((sum, w) => sum + w, 0);
  return callsByWeight(weights, count).flatMap((calls, index) =>
    calls < rounds ? [{ index, calls, countNeeded: Math.ceil((rounds * total) / weights[index]! - EPSILON) }] : [],
  );
}
