import { describe, expect, it } from 'vitest';
import { callsByWeight, countPerRound, roundOrder, statementsShortOfRounds } from '../../src/workload/count.js';

describe('a count load spread by weight and over rounds', () => {
  it.each([
    { weights: [3, 1], count: 101, calls: [76, 25] },
    { weights: [1, 1, 1], count: 10, calls: [4, 3, 3] },
    { weights: [0.1, 0.2, 0.3], count: 6, calls: [1, 2, 3] },
    {
      weights: [20, 10, 5, 5, 8, 3, 2, 3, 2, 2, 1, 1, 5],
      count: 300,
      calls: [90, 45, 22, 22, 36, 13, 9, 13, 9, 9, 5, 5, 22],
    },
    { weights: [5], count: 0, calls: [0] },
  ])('shares $count calls by weights $weights exactly', ({ weights, count, calls }) => {
    expect(callsByWeight(weights, count)).toEqual(calls);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(count);
  });

  it('gives a statement with as many calls as rounds a call in every round', () => {
    // The weights of a 13-statement scenario: drawn at random per call, its weight-1 statements got
    // no call in some of 3 rounds of 300 calls.
    const weights = [20, 10, 5, 5, 8, 3, 2, 3, 2, 2, 1, 1, 5];
    const rounds = countPerRound(weights, 300, 3);
    expect(rounds).toHaveLength(3);
    for (const [i, total] of callsByWeight(weights, 300).entries()) {
      const perRound = rounds.map((r) => r[i]!);
      expect(perRound.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.max(...perRound) - Math.min(...perRound)).toBeLessThanOrEqual(1);
      expect(Math.min(...perRound)).toBeGreaterThan(0);
    }
    expect(statementsShortOfRounds(weights, 300, 3)).toEqual([]);
  });

  it('names the statements with fewer calls than rounds and the count that gives them enough', () => {
    expect(statementsShortOfRounds([30, 1, 1, 0.5], 96, 3)).toEqual([{ index: 3, calls: 1, countNeeded: 195 }]);
    expect(callsByWeight([30, 1, 1, 0.5], 195)[3]).toBe(3);
    expect(statementsShortOfRounds([1, 1], 4, 3)).toEqual([
      { index: 0, calls: 2, countNeeded: 6 },
      { index: 1, calls: 2, countNeeded: 6 },
    ]);
  });

  it('spreads each statement evenly through a round', () => {
    expect(roundOrder([4, 2])).toEqual([0, 1, 0, 0, 1, 0]);
    expect(roundOrder([1, 0, 1])).toEqual([0, 2]);
    // Either half of a round (a thread's slice) gets half of each statement's calls.
    const order = roundOrder([10, 4, 2]);
    const half = (from: number, to: number) => order.slice(from, to).filter((s) => s === 1).length;
    expect([half(0, 8), half(8, 16)]).toEqual([2, 2]);
  });
});
