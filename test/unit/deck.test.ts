import { describe, expect, it } from 'vitest';
import { createDeck, deckCards } from '../../src/workload/deck.js';
import { createRandom } from '../../src/workload/generators.js';

/** The weights of a 22-statement reporting scenario: 13 heavy statements of weight 1 among lookups of weight 40. */
const RETAIL = [1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 10, 5, 1, 3, 3, 40, 40, 20];

const draw = (next: () => number, calls: number) => Array.from({ length: calls }, () => next());

describe('the deck a duration load picks its statements from', () => {
  it.each([
    { weights: [1, 40, 5], cards: [1, 40, 5] },
    { weights: [2, 4], cards: [1, 2] },
    { weights: [0.5, 0.75], cards: [2, 3] },
    { weights: [0.1, 0.2, 0.3], cards: [1, 2, 3] },
    { weights: [1, 1.5, 3], cards: [2, 3, 6] },
    { weights: [7], cards: [1] },
  ])('has cards $cards for weights $weights: in proportion, the lightest with one', ({ weights, cards }) => {
    expect(deckCards(weights)).toEqual(cards);
  });

  it('gives a statement too light for one card of the largest deck one card all the same', () => {
    const cards = deckCards([1, 1_000_000]);
    expect(cards[0]).toBe(1);
    expect(cards[0]! + cards[1]!).toBeLessThanOrEqual(10_001);
  });

  it('reaches every statement in its first calls, where random picks by weight left many out', () => {
    const deck = createDeck(RETAIL, 1, createRandom(1));
    const first = draw(() => deck.next(), RETAIL.length);
    expect(new Set(first).size).toBe(RETAIL.length);
  });

  it('honours the weights over whole decks', () => {
    const deck = createDeck(RETAIL, 1, createRandom(1));
    const total = RETAIL.reduce((a, b) => a + b, 0);
    const counts = new Array<number>(RETAIL.length).fill(0);
    for (const i of draw(() => deck.next(), 10 * total)) counts[i]!++;
    expect(counts).toEqual(RETAIL.map((w) => 10 * w));
  });

  it('splits the first pass over threads: together they reach every statement after one call each', () => {
    const threads = [0, 1].map((index) => createDeck(RETAIL, 1, createRandom(index + 1), { index, count: 2 }));
    const half = RETAIL.length / 2;
    const reached = threads.flatMap((deck) => draw(() => deck.next(), half));
    expect(new Set(reached).size).toBe(RETAIL.length);
  });

  it('deals each round a new deck that starts with the statements the previous round did not reach', () => {
    const deck = createDeck(RETAIL, 1, createRandom(1));
    const firstRound = draw(() => deck.next(), 8);
    deck.deal();
    const secondRound = draw(() => deck.next(), RETAIL.length - 8);
    expect(new Set([...firstRound, ...secondRound]).size).toBe(RETAIL.length);
    // A round long enough for a whole pass reaches every statement again.
    deck.deal();
    expect(new Set(draw(() => deck.next(), RETAIL.length)).size).toBe(RETAIL.length);
  });

  it('is the same for the same seed', () => {
    const a = createDeck(RETAIL, 5, createRandom(5));
    const b = createDeck(RETAIL, 5, createRandom(5));
    expect(draw(() => a.next(), 300)).toEqual(draw(() => b.next(), 300));
  });
});
