import { describe, expect, it } from 'vitest';
import rule from '../../src/rules/top-n-over-join.js';
import { loadFixture, ruleCases } from './harness.js';

const CELEBRITIES = 'bad: the feed of an account that follows two celebrities';
const NEXT_PAGE = 'bad: the next page of the feed, for several accounts';
const UNSERVED = 'bad: the feed in an order no index keeps (newest first, then lowest id)';
const ORDINARY = 'ok: the feed of an account that follows no celebrity';
const LATERAL = 'ok: the feed as the first posts of each followed account';
const THOUSAND = 'ok: the latest posts of a thousand accounts';
const SCANNED = 'ok: the feed of an account found by reading every follow';
const TOP_N = [{ messageId: 'topN', severity: 'warning' }] as const;
// The index that already serves the rewrite is named; otherwise one is proposed with the sort's directions.
const REWRITE =
  /^keep the first rows of each f\.followee_id before sorting them all: SELECT \.\.\. FROM public\.follows f CROSS JOIN LATERAL \(SELECT \.\.\. FROM public\.posts p WHERE p\.author_id = f\.followee_id ORDER BY p\.created_at DESC, p\.id DESC LIMIT 20\) p WHERE \.\.\. ORDER BY p\.created_at DESC, p\.id DESC LIMIT 20, .*in the order of the index posts_author_created_idx, which serves it$/;

// HTTP statements are named by their text (see the fixture).
const HTTP_OFFSET =
  'SELECT p.id, p.author_id, p.body, p.created_at FROM posts p JOIN follows f ON f.followee_id = p.author_id\n        WHERE f.follower_id = $1 ORDER BY p.created_at DESC, p.id DESC LIMIT $3 OFFSET $2';
const HTTP_KEYSET =
  'SELECT p.id, p.author_id, p.body, p.created_at FROM posts p JOIN follows f ON f.followee_id = p.author_id\n        WHERE f.follower_id = $1 AND (p.created_at, p.id) < (SELECT created_at, id FROM posts WHERE id = $2)\n        ORDER BY p.created_at DESC, p.id DESC LIMIT $3';
const HTTP_LATERAL =
  'SELECT p.id, p.author_id, p.body, p.created_at FROM follows f\n        CROSS JOIN LATERAL (SELECT p.id, p.author_id, p.body, p.created_at FROM posts p WHERE p.author_id = f.followee_id\n                            ORDER BY p.created_at DESC, p.id DESC LIMIT $2) p\n        WHERE f.follower_id = $1 ORDER BY p.created_at DESC, p.id DESC LIMIT $3';

ruleCases(rule, [
  // Without --analyze: the planner's join estimate, and the blocks the calls touched.
  {
    fixture: 'feed',
    statement: CELEBRITIES,
    expect: TOP_N,
    message:
      /^Sort orders all [\d,]+ rows Nested Loop produces \(estimated\) for \d+ rows of public\.follows so that Limit keeps 20: 7,\d{3} shared blocks per call, 35\d per row returned$/,
    suggestion: REWRITE,
  },
  // The planner expects a keyset page of a few hundred rows; the blocks per call say otherwise. The
  // keyset condition on p goes inside the subquery.
  { fixture: 'feed', statement: NEXT_PAGE, expect: TOP_N, suggestion: /other conditions on p inside the subquery/ },
  {
    fixture: 'feed',
    statement: UNSERVED,
    expect: TOP_N,
    suggestion:
      /ORDER BY p\.created_at DESC, p\.id LIMIT 10\) p .* CREATE INDEX ON public\.posts \(author_id, created_at DESC, id\); -- not validated on the planner$/,
  },
  { fixture: 'feed', statement: ORDINARY, expect: [] },
  { fixture: 'feed', statement: LATERAL, expect: [] },
  { fixture: 'feed', statement: THOUSAND, expect: [] },
  { fixture: 'feed', statement: SCANNED, expect: [] },
  { fixture: 'feed', statement: CELEBRITIES, options: { minBlocks: 10_000 }, expect: [] },
  { fixture: 'feed', statement: CELEBRITIES, options: { minSaving: 100 }, expect: [] },
  // With it: the rows the join produced, counted.
  {
    fixture: 'feed.analyze',
    statement: CELEBRITIES,
    expect: TOP_N,
    message: /^Sort orders all 16,\d{3} rows Nested Loop produces \(counted\) for 10 rows of public\.follows/,
    suggestion: REWRITE,
  },
  { fixture: 'feed.analyze', statement: NEXT_PAGE, expect: TOP_N },
  { fixture: 'feed.analyze', statement: UNSERVED, expect: TOP_N },
  { fixture: 'feed.analyze', statement: ORDINARY, expect: [] },
  { fixture: 'feed.analyze', statement: LATERAL, expect: [] },
  { fixture: 'feed.analyze', statement: THOUSAND, expect: [] },
  { fixture: 'feed.analyze', statement: SCANNED, expect: [] },
  // An HTTP run: generic plans, LIMIT and OFFSET unknown, calls for accounts of every kind.
  {
    fixture: 'http',
    statement: HTTP_OFFSET,
    expect: TOP_N,
    message: /Limit keeps 20: [\d,]+ shared blocks per call/,
    suggestion: /LIMIT n\) p WHERE .* \(the inner LIMIT is OFFSET \+ LIMIT\)/,
  },
  // A keyset page has no OFFSET to add.
  { fixture: 'http', statement: HTTP_KEYSET, expect: TOP_N, suggestion: /^(?!.*OFFSET).*LIMIT n\) p WHERE/ },
  { fixture: 'http', statement: HTTP_LATERAL, expect: [] },
]);

describe('top-n-over-join: the rewrite it proposes, measured on the same data', () => {
  it('reads a small fraction of the blocks of the feed it replaces, for the same follower', () => {
    for (const name of ['feed', 'feed.analyze']) {
      const { report } = loadFixture(rule.id, name);
      const blocks = (source: string) => report.queries.find((q) => q.source === source)!.sharedBlksPerCall;
      expect(blocks(LATERAL) * 10).toBeLessThan(blocks(CELEBRITIES));
    }
  });
});
