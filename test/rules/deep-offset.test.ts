import rule from '../../src/rules/deep-offset.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  { fixture: 'offset', statement: 'bad: literal offset', expect: [{ messageId: 'offset', severity: 'warning' }] },
  { fixture: 'offset', statement: 'bad: parameter offset', expect: [{ messageId: 'offset', severity: 'warning' }] },
  // OFFSET (SELECT 4000): only the analyzed plan tells how many rows the Limit skipped.
  { fixture: 'offset', statement: 'bad only with analyze: computed offset', expect: [] },
  {
    fixture: 'offset.analyze',
    statement: 'bad only with analyze: computed offset',
    expect: [{ messageId: 'offset', severity: 'warning' }],
  },
  {
    fixture: 'offset.analyze',
    statement: 'bad: literal offset',
    expect: [{ messageId: 'offset', severity: 'warning' }],
  },
  {
    fixture: 'offset.analyze',
    statement: 'bad: parameter offset',
    expect: [{ messageId: 'offset', severity: 'warning' }],
  },
  { fixture: 'offset', statement: 'ok: first pages', expect: [] },
  { fixture: 'offset.analyze', statement: 'ok: first pages', expect: [] },
  { fixture: 'offset', statement: 'bad: literal offset', options: { minOffset: 10_000 }, expect: [] },
]);
