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
  // The page is taken within the WHERE's rows: the rewrite keeps the WHERE, and its equality columns
  // lead the index (an index on the sort keys alone walks the other authors' rows too).
  {
    fixture: 'within',
    statement: 'bad: offset within one author',
    expect: [{ messageId: 'offset', severity: 'warning' }],
    suggestion:
      /^use keyset pagination instead of OFFSET: WHERE author_id = 3 AND \(published_at, id\) < \(\$last1, \$last2\) ORDER BY published_at DESC, id DESC LIMIT n, with an index on \(author_id, published_at, id\); articles_author_published_idx has all but the last key/,
  },
  {
    fixture: 'within',
    statement: 'bad: offset within one author, parameters',
    expect: [{ messageId: 'offset', severity: 'warning' }],
    suggestion:
      /WHERE a\.author_id = \$1 AND a\.title <> \$2 AND \(a\.published_at, a\.id\) > \(\$last1, \$last2\) ORDER BY a\.published_at, a\.id LIMIT n, with an index on \(author_id, published_at, id\);/,
  },
  // Under an OR no column is one value: the sort key alone, which the primary key serves.
  {
    fixture: 'within',
    statement: 'bad: offset within an OR',
    expect: [{ messageId: 'offset', severity: 'warning' }],
    suggestion:
      /^use keyset pagination instead of OFFSET: WHERE \(author_id = 2 OR author_id = 4\) AND id > \$last ORDER BY id LIMIT n, which the index articles_pkey serves/,
  },
]);
