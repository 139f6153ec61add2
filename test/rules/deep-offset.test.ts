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
    suggestion: /ORDER BY id LIMIT n, which the index articles_pkey serves$/,
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
  // `OFFSET $1::int` is the parameter, not a literal.
  {
    fixture: 'measured',
    statement: 'bad: parameter offset with a cast',
    expect: [{ messageId: 'offset', severity: 'warning' }],
    message: /\(parameter value in the replay\)/,
  },
  // Offsets computed from parameters: their values are not known, what the calls read is.
  {
    fixture: 'measured',
    statement: 'bad: offset computed from the page number, deep pages',
    expect: [{ messageId: 'measured', severity: 'warning' }],
    message:
      /^OFFSET \(\$2 - 1\) \* \$1 \(its values are not known\): a call reads [\d,]+ shared blocks to return 20 rows \(6 calls\)/,
    suggestion:
      /ORDER BY created_at, id LIMIT n, which the index posts_created_at_idx serves \(id, the primary key of public\.posts, ends the ORDER BY, so that no row is skipped or repeated between pages\)$/,
  },
  // The inner side of the join runs for every row the offset skips, too.
  {
    fixture: 'measured',
    statement: 'bad: deep pages of a join',
    expect: [{ messageId: 'measured', severity: 'warning' }],
  },
  {
    fixture: 'measured',
    statement: 'bad: offset computed from the page number, deep pages',
    options: { minDiscardedBlocks: 50_000 },
    expect: [],
  },
  // The same statement's first pages read a few blocks: a parameter offset that stays small.
  { fixture: 'measured', statement: 'ok: offset computed from the page number, first pages', expect: [] },
  // 2,000 blocks per call, for 2,000 rows: the page itself.
  { fixture: 'measured', statement: 'ok: long first pages', expect: [] },
  // The sort reads the whole table on every call, whatever the offset (seq-scan-large-table's finding).
  { fixture: 'measured', statement: 'ok: first pages under a sort', expect: [] },
  // An application's `LIMIT $1 OFFSET $2`: HTTP runs see no parameter values, only what each call read.
  {
    fixture: 'pages',
    statement: 'SELECT id, title FROM posts ORDER BY created_at LIMIT $1 OFFSET $2',
    expect: [{ messageId: 'measured', severity: 'warning' }],
    message:
      /^OFFSET \$2 \(its values are not known\): a call reads [\d,]+ shared blocks to return 20 rows \(20 calls\)/,
  },
  // Within one tenant: the rewrite keeps the WHERE, and the tenant's index serves it.
  {
    fixture: 'pages',
    statement: 'SELECT id, title FROM posts WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3',
    expect: [{ messageId: 'measured', severity: 'warning' }],
    suggestion:
      /^use keyset pagination instead of OFFSET: WHERE tenant_id = \$1 AND \(created_at, id\) < \(\$last1, \$last2\) ORDER BY created_at DESC, id DESC LIMIT n, which the index posts_tenant_created_idx serves/,
  },
  {
    fixture: 'pages',
    statement: 'SELECT id, title FROM posts WHERE tenant_id = $1 ORDER BY created_at LIMIT $2 OFFSET $3',
    expect: [],
  },
  { fixture: 'pages', statement: 'SELECT id, title FROM posts ORDER BY title LIMIT $1 OFFSET $2', expect: [] },
]);
