/**
 * The statistics behind timing verdicts: Welch's t-test (unequal variances, small samples) and
 * Holm's correction for testing many statements at once. Pure numerics, no dependencies.
 *
 * compare applies the test to the logarithms of the per-round mean times (see compare.ts).
 *
 * Why Welch and not Mann-Whitney U: with the default three rounds per report the smallest two-sided
 * U-test p-value is 0.1, so no timing change could ever be significant; the t-test can, when the
 * rounds agree with each other and differ a lot between reports.
 */

export interface WelchResult {
  /** (mean(b) - mean(a)) / standard error. Positive when b is larger. */
  readonly t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  readonly df: number;
  /** Two-sided p-value. */
  readonly p: number;
  readonly meanA: number;
  readonly meanB: number;
}

export function mean(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** Sample variance (n - 1 in the denominator). */
export function variance(values: readonly number[]): number {
  const m = mean(values);
  return values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1);
}

/**
 * Welch's two-sample t-test of `b` against `a`. Needs at least two values on each side.
 *
 * @example
 * welchTTest([1, 2, 3], [4, 5, 6]) // { t: 3.674, df: 4, p: 0.0213, ... }
 */
export function welchTTest(a: readonly number[], b: readonly number[]): WelchResult {
  if (a.length < 2 || b.length < 2) throw new RangeError('welchTTest needs at least two values per sample');
  const meanA = mean(a);
  const meanB = mean(b);
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se2 = va + vb;
  if (se2 === 0) {
    // Both samples constant: any difference is certain, no difference is none.
    const same = meanA === meanB;
    return {
      t: same ? 0 : Math.sign(meanB - meanA) * Infinity,
      df: a.length + b.length - 2,
      p: same ? 1 : 0,
      meanA,
      meanB,
    };
  }
  const t = (meanB - meanA) / Math.sqrt(se2);
  const df = se2 ** 2 / ((va * va) / (a.length - 1) + (vb * vb) / (b.length - 1));
  return { t, df, p: studentTTwoSided(t, df), meanA, meanB };
}

export interface ProportionTestResult {
  /** (rate(b) - rate(a)) / pooled standard error. Positive when b's rate is higher. */
  readonly z: number;
  /** One-sided p-value for "b's rate is higher than a's". */
  readonly pHigher: number;
  /** One-sided p-value for "b's rate is lower than a's". */
  readonly pLower: number;
}

/**
 * Two-proportion z-test with the pooled estimate: `x` successes out of `n` trials in each sample.
 * A rate from 333 requests has a standard error of about 2.4 points at 25%, so a difference of
 * 2 points between 333 and 5678 requests is well within chance.
 *
 * @example
 * twoProportionTest(1414, 5678, 90, 333) // { z: 0.86, pHigher: 0.19, ... }
 */
export function twoProportionTest(xa: number, na: number, xb: number, nb: number): ProportionTestResult {
  if (na <= 0 || nb <= 0) return { z: 0, pHigher: 1, pLower: 1 };
  const pa = xa / na;
  const pb = xb / nb;
  const pooled = (xa + xb) / (na + nb);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb));
  if (se === 0) return { z: 0, pHigher: 1, pLower: 1 };
  const z = (pb - pa) / se;
  return { z, pHigher: normalUpperTail(z), pLower: normalUpperTail(-z) };
}

/** P(Z >= z) for the standard normal distribution (Abramowitz and Stegun 7.1.26, error < 1.5e-7). */
export function normalUpperTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** P(|T| >= |t|) for Student's t distribution with `df` degrees of freedom. */
export function studentTTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  const x = df / (df + t * t);
  return Math.min(1, Math.max(0, regularizedIncompleteBeta(x, df / 2, 0.5)));
}

/**
 * Holm's step-down correction: adjusted p-values, in the input order, that control the family-wise
 * error rate. Comparing 40 statements at alpha 0.01 would otherwise flag one in three runs of an
 * unchanged branch as slower by chance.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const adjusted = new Array<number>(m).fill(1);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9; about 15 significant digits). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i);
  const tt = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(tt) - tt + Math.log(sum);
}

/** I_x(a, b), the regularized incomplete beta function (continued fraction, Lentz's method). */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-14) break;
  }
  return h;
}
