import rule from '../../src/rules/slow-mean.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  { fixture: 'slow', statement: 'bad: sleeps 150 ms', expect: [{ messageId: 'slow', severity: 'warning' }] },
  { fixture: 'slow', statement: 'ok: constant', expect: [] },
  { fixture: 'slow', statement: 'bad: sleeps 150 ms', options: { thresholdMs: 500 }, expect: [] },
  {
    fixture: 'slow',
    statement: 'bad: sleeps 150 ms',
    severity: 'error',
    expect: [{ messageId: 'slow', severity: 'error' }],
  },
]);
