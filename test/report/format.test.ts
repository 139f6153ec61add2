import { describe, expect, it } from 'vitest';
import { formatPercent, formatQuantity, formatRatio, formatRelative } from '../../src/report/format.js';

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
});
