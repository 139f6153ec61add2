import rule from '../../src/rules/nested-loop-heavy.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  {
    fixture: 'loops.analyze',
    statement: 'bad: range join re-scans the ranges for every visit',
    expect: [{ messageId: 'innerScan', severity: 'warning' }],
  },
  {
    fixture: 'loops.analyze',
    statement: 'bad: inequality join multiplies rows',
    expect: [{ messageId: 'explodes', severity: 'warning' }],
  },
  { fixture: 'loops.analyze', statement: 'ok: primary key lookup per outer row', expect: [] },
  // Without ANALYZE the loops come from the outer side's estimate.
  {
    fixture: 'loops',
    statement: 'bad: range join re-scans the ranges for every visit',
    expect: [{ messageId: 'innerScan', severity: 'warning' }],
  },
  // The planner expects 83,333 rows, under the default 100,000: only a lower threshold reports it.
  { fixture: 'loops', statement: 'bad: inequality join multiplies rows', expect: [] },
  {
    fixture: 'loops',
    statement: 'bad: inequality join multiplies rows',
    options: { explodeRows: 50_000 },
    expect: [{ messageId: 'explodes', severity: 'warning' }],
  },
  { fixture: 'loops', statement: 'ok: primary key lookup per outer row', expect: [] },
]);
