import type { Comparison } from '../model/comparison.js';

/** The comparison as pretty-printed JSON (`compare --format json`). */
export function renderComparisonJson(comparison: Comparison): string {
  return `${JSON.stringify(comparison, null, 2)}\n`;
}
