import rule from '../../src/rules/sort-spill.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  // With EXPLAIN ANALYZE the plan shows the external merge.
  {
    fixture: 'sort.analyze',
    statement: 'bad: window over a sort of the whole table',
    expect: [{ messageId: 'plan', severity: 'warning' }],
    // The fixture's database runs at work_mem 64kB: the fix names it and goes above it.
    suggestion: /^SET LOCAL work_mem = '(\d+MB|(128|256|512)kB)' for this statement \(it spilled at work_mem 64kB\)/,
  },
  { fixture: 'sort.analyze', statement: 'ok: top-N sort fits in memory', expect: [] },
  { fixture: 'sort.analyze', statement: 'ok: index order, no sort', expect: [] },
  // Without it, temp blocks in pg_stat_statements point at the plan's largest sort.
  {
    fixture: 'sort',
    statement: 'bad: window over a sort of the whole table',
    expect: [{ messageId: 'statistics', severity: 'warning' }],
    suggestion: /it spilled at work_mem 64kB/,
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
