import rule from '../../src/rules/seq-scan-large-table.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  {
    fixture: 'scan',
    statement: 'bad: selective filter on an unindexed column',
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  {
    fixture: 'scan',
    statement: 'mild: filter removes three quarters',
    expect: [{ messageId: 'selective', severity: 'warning' }],
  },
  {
    fixture: 'scan',
    statement: 'note: aggregate over the whole table',
    expect: [{ messageId: 'full', severity: 'info' }],
  },
  // The planner expects the LIMIT to stop the scan after 1/15 of the table: still a scan to replace.
  {
    fixture: 'scan',
    statement: 'bad: a limit stops the selective scan early',
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  { fixture: 'scan', statement: 'ok: primary key lookup', expect: [] },
  { fixture: 'scan', statement: 'ok: scan of a small table', expect: [] },
  {
    fixture: 'scan',
    statement: 'suppressed: selective filter with an ignore comment',
    expect: [{ messageId: 'selective', severity: 'error' }],
    suppressedBecause: 'nightly report, runs once a day',
  },
  // With EXPLAIN ANALYZE: rows removed by the filter are counted, not estimated.
  {
    fixture: 'scan.analyze',
    statement: 'bad: selective filter on an unindexed column',
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  {
    fixture: 'scan.analyze',
    statement: 'bad: a limit stops the selective scan early',
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  {
    fixture: 'scan.analyze',
    statement: 'mild: filter removes three quarters',
    expect: [{ messageId: 'selective', severity: 'warning' }],
  },
  // Measured, the aggregate's hashing takes more of the time than the scan: under minNodeShare.
  { fixture: 'scan.analyze', statement: 'note: aggregate over the whole table', expect: [] },
  { fixture: 'scan.analyze', statement: 'ok: primary key lookup', expect: [] },
  { fixture: 'scan.analyze', statement: 'ok: scan of a small table', expect: [] },
  {
    fixture: 'scan.analyze',
    statement: 'suppressed: selective filter with an ignore comment',
    expect: [{ messageId: 'selective', severity: 'error' }],
    suppressedBecause: 'nightly report, runs once a day',
  },
  // Options: a higher size threshold makes the 30,000-row table small; a lower bar makes 75% clear.
  {
    fixture: 'scan',
    statement: 'bad: selective filter on an unindexed column',
    options: { minRows: 50_000 },
    expect: [],
  },
  {
    fixture: 'scan',
    statement: 'mild: filter removes three quarters',
    options: { selectiveShare: 0.7 },
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  {
    fixture: 'scan',
    statement: 'bad: selective filter on an unindexed column',
    severity: 'warning',
    expect: [{ messageId: 'selective', severity: 'warning' }],
  },
]);
