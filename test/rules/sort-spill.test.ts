import rule from '../../src/rules/sort-spill.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  // With EXPLAIN ANALYZE the plan shows the external merge.
  {
    fixture: 'sort.analyze',
    statement: 'bad: window over a sort of the whole table',
    expect: [{ messageId: 'plan', severity: 'warning' }],
  },
  { fixture: 'sort.analyze', statement: 'ok: top-N sort fits in memory', expect: [] },
  { fixture: 'sort.analyze', statement: 'ok: index order, no sort', expect: [] },
  // Without it, temp blocks in pg_stat_statements point at the plan's largest sort.
  {
    fixture: 'sort',
    statement: 'bad: window over a sort of the whole table',
    expect: [{ messageId: 'statistics', severity: 'warning' }],
  },
  { fixture: 'sort', statement: 'ok: top-N sort fits in memory', expect: [] },
  { fixture: 'sort', statement: 'ok: index order, no sort', expect: [] },
  {
    fixture: 'sort.analyze',
    statement: 'bad: window over a sort of the whole table',
    options: { minDiskKb: 100_000 },
    expect: [],
  },
]);
