/**
 * How a `duration` load (and any warm-up) picks its statements: from a shuffled deck in which each
 * statement has cards in proportion to its weight, at least one. Independent random picks by weight
 * left statements of a low weight out of a short run altogether (a weight-1 statement among weights
 * summing to 146 has a 1-in-146 chance per call): with slow statements and a few seconds, the report
 * held 14 of 22 statements. The deck lays one card of every statement first, so the first calls reach
 * every statement once, and the weighted rest after: only a run with fewer calls than statements
 * misses one, and over whole decks each statement gets exactly its share.
 */
import { callsByWeight } from './count.js';
import { createRandom } from './generators.js';

/** Cards of the largest deck: a weight too small to get one card at this size gets one anyway. */
const MAX_DECK = 10_000;
/** Weights are decimals: a ratio of 2.9999999999999996 is 3. */
const EPSILON = 1e-6;

/**
 * Cards per statement: exactly proportional to the weights, the lightest with one card, when a
 * deck of at most `MAX_DECK` cards can be (weights 1, 1.5 and 3 give 2, 3 and 6); else the
 * weights' shares of `MAX_DECK` cards, at least one each.
 *
 * @example
 * deckCards([1, 40, 5]); // [1, 40, 5]
 * deckCards([0.5, 0.75]); // [2, 3]
 */
export function deckCards(weights: readonly number[]): number[] {
  if (weights.length === 0) return [];
  const lightest = Math.min(...weights);
  for (let scale = 1; scale <= 100; scale++) {
    const cards = weights.map((w) => (w / lightest) * scale);
    const total = cards.reduce((sum, c) => sum + c, 0);
    if (total > MAX_DECK + EPSILON) break;
    if (cards.every((c) => Math.abs(c - Math.round(c)) < EPSILON)) return cards.map((c) => Math.round(c));
  }
  return callsByWeight(weights, MAX_DECK).map((c) => Math.max(1, c));
}

/** Shuffles in place (Fisher-Yates) with `random`. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** One thread's view of the run's deck. */
export interface DeckShare {
  /** This thread's index and the number of threads: each starts at its own place in the first cards. */
  readonly index: number;
  readonly count: number;
}

export interface Deck {
  /** The next statement to call. */
  next(): number;
  /**
   * Deals a new deck (at the start of a measured round): its first cards are again one of every
   * statement, starting with those the previous deck's first cards did not reach, so that a run of
   * rounds too short for a whole pass each still reaches every statement, and one long enough for a
   * pass per round reaches every statement in every round.
   */
  deal(): void;
}

/**
 * A deck of statements by weight. The order of the first cards (one per statement) comes from
 * `seed` and is the same in every thread; thread `index` of `count` starts at its own place in it,
 * so that the threads together reach every statement after about as many calls as there are
 * statements. The weighted rest is shuffled with `random` (the thread's own generator).
 */
export function createDeck(
  weights: readonly number[],
  seed: number,
  random: () => number,
  share: DeckShare = { index: 0, count: 1 },
): Deck {
  const n = weights.length;
  const cards = deckCards(weights);
  // The cards after the first of each statement.
  const rest = cards.flatMap((c, i) => Array.from({ length: c - 1 }, () => i));
  // A stream of its own, so that every thread lays the first cards alike.
  const first = shuffle(
    Array.from({ length: n }, (_, i) => i),
    createRandom((seed ^ 0x5bd1e995) >>> 0),
  );
  let cursor = Math.floor((n * share.index) / Math.max(1, share.count));
  let firstLeft = 0;
  let restAt = 0;
  const deal = () => {
    firstLeft = n;
    shuffle(rest, random);
    restAt = 0;
  };
  deal();
  return {
    next() {
      if (firstLeft === 0 && restAt >= rest.length) deal();
      if (firstLeft > 0) {
        firstLeft--;
        const i = first[cursor]!;
        cursor = (cursor + 1) % n;
        return i;
      }
      return rest[restAt++]!;
    },
    deal,
  };
}
