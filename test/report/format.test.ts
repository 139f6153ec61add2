import { describe, expect, it } from 'vitest';
import type { LimitCheck, LimitMeasurement } from '../../src/model/budget.js';
import { formatPercent, formatQuantity, formatRatio, formatRelative } from '../../src/report/format.js';
import { describeMeasurement } from '../../src/report/gate-text.js';

describe('number formatting', () => {
  it('writes measured quantities as rule messages do: whole and large ones rounded with separators', () => {
    expect(formatQuantity(182504.01)).toBe('182,504');
    expect(formatQuantity(17645.5)).toBe('17,646');
    expect(formatQuantity(25000)).toBe('25,000');
    expect(formatQuantity(19.3)).toBe('19.3');
    expect(formatQuantity(7.2)).toBe('7.2');
    expect(formatQuantity(0.125)).toBe('0.13');
    expect(formatQuantity(3)).toBe('3');
  });

  it('never rounds a change short of all of the value to -100% or +100%', () => {
    expect(formatRelative(587 / 182504 - 1)).toBe('-99.7%');
    expect(formatRelative(203 / 92402 - 1)).toBe('-99.8%');
    expect(formatRelative(-0.99996)).toBe('-99.996%');
    expect(formatRelative(-1)).toBe('-100%');
    expect(formatRelative(-0.44)).toBe('-44%');
    expect(formatRelative(0.032)).toBe('+3.2%');
    expect(formatRelative(9.05)).toBe('+905%');
    expect(formatRelative(120)).toBe('+12k%');
    expect(formatPercent(0.997)).toBe('99.7%');
    expect(formatPercent(0.62)).toBe('62%');
    expect(formatPercent(1)).toBe('100%');
  });

  it('writes ratios of a large speed-up with significant digits, never x0.00', () => {
    expect(formatRatio(0.635 / 1630)).toBe('0.00039');
    expect(formatRatio(0.251 / 94.48)).toBe('0.0027');
    expect(formatRatio(0.38)).toBe('0.38');
    expect(formatRatio(1.15)).toBe('1.15');
    expect(formatRatio(182.3)).toBe('182');
  });

  it('shows a value over its limit per request with the digits that tell it from the limit', () => {
    // A loop batched from 20 calls per request to 19: 10.53 ms x 19 against 10 ms x 20.
    const m: LimitMeasurement = {
      subject: { kind: 'statement', fingerprint: 'a1b2c3d4e5f60718', query: 'SELECT 1' },
      measured: 10.53,
      basis: 'measured',
      perRequest: { route: 'list orders', callsPerRequest: 19, budgetCallsPerRequest: 20 },
      passed: false,
    };
    const check: LimitCheck = {
      field: 'statements[0].maxMeanMs',
      limit: 'maxMeanMs',
      threshold: 10,
      status: 'fail',
      measurements: [m],
    };
    const text = describeMeasurement(check, m);
    expect(text).toMatch(
      /^time 200\.07 ms per request \(10\.53 ms x 19 call\(s\) on route list orders\) > 200 ms per request/,
    );
  });
});
