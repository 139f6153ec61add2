import rule from '../../src/rules/deep-offset.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  // Keys no index leads with: the fix asks for one.
  {
    fixture: 'offset',
    statement: 'bad: literal offset',
    expect: [{ messageId: 'offset', severity: 'warning' }],
    suggestion:
      /^use keyset pagination instead of OFFSET: WHERE \(published_at, id\) < \(\$last1, \$last2\) ORDER BY published_at DESC, id DESC LIMIT n, with an index on \(published_at, id\)/,
  },
  // The primary key already serves pages in id order: the fix says so instead of asking for an index.
  {
    fixture: 'offset',
    statement: 'bad: parameter offset',
    expect: [{ messageId: 'offset', severity: 'warning' }],
    suggestion: /ORDER BY id LIMIT n, which the index articles_pkey serves \(the ORDER BY must end in a unique key\)$/,
  },
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
