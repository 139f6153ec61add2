import rule from '../../src/rules/seq-scan-large-table.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  { fixture: 'scan', statement: 'bad: selective filter on an unindexed column', expect: [{ messageId: 'selective', severity: 'error' }] },
  { fixture: 'scan', statement: 'mild: filter removes three quarters', expect: [{ messageId: 'selective', severity: 'warning' }] },
  { fixture: 'scan', statement: 'note: aggregate over the whole table', expect: [{ messageId: 'full', severity: 'info' }] },
  { fixture: 'scan', statement: 'ok: primary key lookup', expect: [] },
  { fixture: 'scan', statement: 'ok: scan of a small table', expect: [] },
  {
    fixture: 'scan',
    statement: 'suppressed: selective filter with an ignore comment',
    expect: [{ messageId: 'selective', severity: 'error' }],
    suppressedBecause: 'nightly report, runs once a day',
  },
  // Options: a higher size threshold makes the 30,000-row table small; a lower bar makes 75% clear.
  { fixture: 'scan', statement: 'bad: selective filter on an unindexed column', options: { minRows: 50_000 }, expect: [] },
  { fixture: 'scan', statement: 'mild: filter removes three quarters', options: { selectiveShare: 0.7 }, expect: [{ messageId: 'selective', severity: 'error' }] },
  { fixture: 'scan', statement: 'bad: selective filter on an unindexed column', severity: 'warning', expect: [{ messageId: 'selective', severity: 'warning' }] },
]);
