import rule from '../../src/rules/row-estimate-mismatch.js';
import { ruleCases } from './harness.js';

const f = 'estimates.analyze';
ruleCases(rule, [
  { fixture: f, statement: 'bad: three correlated predicates', expect: [{ messageId: 'filter', severity: 'warning' }] },
  // 10x is reported as a note; from 100x it is a clear case.
  { fixture: f, statement: 'note: two correlated predicates', expect: [{ messageId: 'filter', severity: 'info' }] },
  {
    fixture: f,
    statement: 'note: two correlated predicates',
    options: { strongRatio: 10 },
    expect: [{ messageId: 'filter', severity: 'warning' }],
  },
  { fixture: f, statement: 'ok: range the planner estimates well', expect: [] },
  // The seq scan under LIMIT stops after 5 of ~30,000 estimated rows: not a misestimate.
  { fixture: f, statement: 'ok: a limit stops the scan early', expect: [] },
  // A table that grew twentyfold since ANALYZE: the statistics are named as the cause.
  {
    fixture: 'stale.analyze',
    statement: 'bad: rows of the batch the statistics have not seen',
    expect: [{ messageId: 'staleStatistics', severity: 'warning' }],
  },
  { fixture: 'stale.analyze', statement: 'setup: a second batch of 20,000 rows', expect: [] },
]);
