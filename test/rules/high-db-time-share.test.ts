import rule from '../../src/rules/high-db-time-share.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  {
    fixture: 'share',
    statement: 'bad: aggregate over every payment',
    expect: [{ messageId: 'share', severity: 'warning' }],
  },
  { fixture: 'share', statement: 'ok: payment by id', expect: [] },
  { fixture: 'share', statement: 'ok: payments of a customer by id range', expect: [] },
  // Most of the time in proportion to most of the calls, and cheap per call: not reported.
  { fixture: 'cheap', statement: 'ok: frequent primary key lookup', expect: [] },
  { fixture: 'cheap', statement: 'ok: rare primary key lookup', expect: [] },
  { fixture: 'share', statement: 'bad: aggregate over every payment', options: { minCostRatio: 5 }, expect: [] },
]);
