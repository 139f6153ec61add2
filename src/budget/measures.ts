/** How the gate measures a statement's time: the median over rounds, with their spread. Pure. */
import type { Spread } from '../model/budget.js';
import type { QueryReport } from '../model/report.js';

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function spreadOf(values: readonly number[]): Spread {
  return { min: Math.min(...values), max: Math.max(...values), samples: values.length };
}

/** A statement's mean time: the median of its rounds' means, with their spread. */
export function statementMeanMs(q: QueryReport): { value: number; basis: 'median' | 'measured'; spread?: Spread } {
  const means = q.rounds.filter((r) => r.calls > 0).map((r) => r.meanMs);
  if (means.length === 0) return { value: q.meanMs, basis: 'measured' };
  return { value: median(means), basis: 'median', spread: spreadOf(means) };
}
