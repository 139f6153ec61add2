import { describe, expect, it } from 'vitest';
import {
  holmAdjust,
  logGamma,
  studentTTwoSided,
  welchTTest,
  normalUpperTail,
  twoProportionTest,
} from '../../src/compare/stats.js';

describe('welchTTest', () => {
  // Reference values: scipy.stats.ttest_ind(b, a, equal_var=False), scipy 1.17.
  it.each([
    { a: [1, 2, 3], b: [4, 5, 6], t: 3.6742346141747673, df: 4, p: 0.021311641128756713 },
    {
      a: [0.05, 0.045, 0.023],
      b: [2.188, 1.956, 1.607],
      t: 11.106932641045427,
      df: 2.009649466629262,
      p: 0.007873549640571215,
    },
    { a: [10.1, 9.8, 10.3, 10.0], b: [10.4, 10.9, 10.2], t: 1.933510159906464, df: 3, p: 0.14865382122581058 },
    {
      a: [1.0, 1.1, 0.9, 1.05, 0.95],
      b: [1.2, 1.6, 0.7],
      t: 0.6343614796955515,
      df: 2.0740980206520576,
      p: 0.5886908965977147,
    },
  ])('matches scipy for $a vs $b', ({ a, b, t, df, p }) => {
    const r = welchTTest(a, b);
    expect(r.t).toBeCloseTo(t, 9);
    expect(r.df).toBeCloseTo(df, 9);
    expect(r.p).toBeCloseTo(p, 9);
  });

  it('is antisymmetric: swapping the samples flips t and keeps p', () => {
    const x = welchTTest([3, 4, 5, 4.5], [5, 6, 7]);
    const y = welchTTest([5, 6, 7], [3, 4, 5, 4.5]);
    expect(y.t).toBeCloseTo(-x.t, 12);
    expect(y.p).toBeCloseTo(x.p, 12);
  });

  it('handles constant samples', () => {
    expect(welchTTest([2, 2, 2], [2, 2, 2]).p).toBe(1);
    expect(welchTTest([2, 2, 2], [3, 3, 3]).p).toBe(0);
    expect(() => welchTTest([1], [2, 3])).toThrow(RangeError);
  });
});

describe('studentTTwoSided', () => {
  it('matches the closed forms for 1 and 2 degrees of freedom', () => {
    for (const t of [0, 0.1, 0.7, 1, 2.5, 10, 100]) {
      // df = 1 is the Cauchy distribution; df = 2 has P(|T| > t) = 1 - t / sqrt(2 + t²).
      expect(studentTTwoSided(t, 1)).toBeCloseTo(1 - (2 / Math.PI) * Math.atan(t), 10);
      expect(studentTTwoSided(t, 2)).toBeCloseTo(1 - t / Math.sqrt(2 + t * t), 10);
    }
  });

  it('matches scipy for fractional degrees of freedom and approaches the normal distribution', () => {
    // 2 * scipy.stats.t.sf(t, df)
    expect(studentTTwoSided(2.228, 10)).toBeCloseTo(0.05001177181711132, 9);
    expect(studentTTwoSided(1.5, 3.3)).toBeCloseTo(0.22250319671929186, 9);
    expect(studentTTwoSided(4.0, 2.5)).toBeCloseTo(0.03901297584131825, 9);
    expect(studentTTwoSided(0.3, 40)).toBeCloseTo(0.7657307167710191, 9);
    expect(studentTTwoSided(1.959964, 1e7)).toBeCloseTo(0.05, 5);
    expect(studentTTwoSided(-2.228, 10)).toBeCloseTo(studentTTwoSided(2.228, 10), 12);
  });

  it('logGamma agrees with factorials', () => {
    for (let n = 1; n <= 20; n++) {
      let factorial = 1;
      for (let k = 2; k < n; k++) factorial *= k;
      expect(logGamma(n)).toBeCloseTo(Math.log(factorial), 10);
    }
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
  });
});

describe('holmAdjust', () => {
  it('multiplies the k-th smallest p-value by (m - k + 1), monotonically, capped at 1', () => {
    // m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    expect(holmAdjust([0.03, 0.01, 0.5, 0.02])).toEqual([0.06, 0.04, 0.5, 0.06].map((x) => expect.closeTo(x, 12)));
    expect(holmAdjust([0.6, 0.9])).toEqual([1, 1]);
    expect(holmAdjust([])).toEqual([]);
  });

  it('never lowers a p-value', () => {
    const ps = [0.001, 0.2, 0.04, 0.7, 0.0049, 0.33];
    holmAdjust(ps).forEach((adj, i) => expect(adj).toBeGreaterThanOrEqual(ps[i]!));
  });
});

describe('twoProportionTest', () => {
  it('tells a difference the sample sizes explain from one they do not', () => {
    // 24.9% of 5678 requests vs 27.0% of 333.
    const small = twoProportionTest(1414, 5678, 90, 333);
    expect(small.z).toBeCloseTo(0.87, 1);
    expect(small.pHigher).toBeGreaterThan(0.15);
    expect(small.pHigher).toBeLessThan(0.25);
    expect(small.pLower).toBeCloseTo(1 - small.pHigher, 6);
    // The same rates on 50000 requests each.
    expect(twoProportionTest(12_450, 50_000, 13_500, 50_000).pHigher).toBeLessThan(1e-6);
    // No variation at all: nothing to test.
    expect(twoProportionTest(0, 100, 0, 200)).toEqual({ z: 0, pHigher: 1, pLower: 1 });
  });

  it('normalUpperTail matches the standard normal table', () => {
    expect(normalUpperTail(0)).toBeCloseTo(0.5, 6);
    expect(normalUpperTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalUpperTail(-2.326348)).toBeCloseTo(0.99, 6);
  });
});
