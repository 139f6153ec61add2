import { describe, expect, it } from 'vitest';
import {
  EVERY_CALL_FAILED_NOT_ANALYZED,
  measureWith,
  UNKNOWN_VALUES,
  whyNotAnalyzable,
} from '../../src/analyze/measure.js';
import type { CapturedPlan } from '../../src/model/plan.js';

const plan = (mode: CapturedPlan['mode'], notAnalyzed?: string): CapturedPlan => ({
  mode,
  root: { 'Node Type': 'Result', 'Startup Cost': 0, 'Total Cost': 1, 'Plan Rows': 1, 'Plan Width': 4 },
  totalCost: 1,
  ...(notAnalyzed ? { notAnalyzed } : {}),
});
const statement = (p: CapturedPlan | null, calls = 10, errors = 0) => ({ plan: p, calls, errors });

describe('how a finding asks for actual rows and times', () => {
  it('asks for --analyze where it executes the statement: values known, or none', () => {
    for (const mode of ['literal', 'params'] as const) {
      expect(whyNotAnalyzable(statement(plan(mode)))).toBeUndefined();
      expect(measureWith(statement(plan(mode)))).toBe('with --analyze');
    }
  });

  it('never asks for --analyze where the values are unknown, whether the run asked for it or not', () => {
    expect(whyNotAnalyzable(statement(plan('generic')))).toBe(UNKNOWN_VALUES);
    expect(measureWith(statement(plan('generic')))).toBe(
      `with EXPLAIN (ANALYZE, BUFFERS) and real values, or in a SQL scenario with a generator for each $n and --analyze (--analyze cannot run it as captured: ${UNKNOWN_VALUES})`,
    );
    expect(measureWith(statement(plan('generic', UNKNOWN_VALUES)))).toBe(
      `with EXPLAIN (ANALYZE, BUFFERS) and real values, or in a SQL scenario with a generator for each $n and --analyze (--analyze could not run it: ${UNKNOWN_VALUES})`,
    );
  });

  it('never asks for --analyze for a statement whose every call failed, which it does not execute', () => {
    expect(measureWith(statement(plan('literal'), 0, 3))).toBe(
      `with EXPLAIN (ANALYZE, BUFFERS) and real values (--analyze cannot run it as captured: ${EVERY_CALL_FAILED_NOT_ANALYZED})`,
    );
  });
});
