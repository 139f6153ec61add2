import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import rule, { batchedForm, lateralForm } from '../../src/rules/n-plus-one.js';
import { createTestDatabase, loadSqlFiles, withSession } from '../support/db.js';
import { loadFixture, ruleCases, runRule } from './harness.js';

// fixtures/plans/n-plus-one/loop.json: an HTTP run of the sample application; statements are named
// by their text (an application's statements have no name).
const LOOKUP = 'SELECT id, name, email FROM shop.customers WHERE id = $1';
const LIST =
  'SELECT id, customer_id, status, total_cents, created_at FROM shop.orders ORDER BY created_at DESC LIMIT $1';
const BY_ID = 'SELECT id, customer_id, status, total_cents, created_at FROM shop.orders WHERE id = $1';
const OF_CUSTOMER =
  'SELECT id, status, total_cents, created_at FROM shop.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2';
// fixtures/plans/n-plus-one/counts.json: the loans of each book of a list, counted one book at a time.
const COUNT = 'SELECT count(*) AS n FROM lib.loans WHERE book_id = $1';
const BOOKS = 'SELECT id, title FROM lib.books ORDER BY id LIMIT $1';
const BOOK = 'SELECT id, title FROM lib.books WHERE id = $1';

ruleCases(rule, [
  // 20 customer lookups per request of "recent orders": one per order of the list.
  { fixture: 'loop', statement: LOOKUP, expect: [{ messageId: 'loop', severity: 'warning' }] },
  { fixture: 'loop', statement: LIST, expect: [] },
  { fixture: 'loop', statement: BY_ID, expect: [] },
  { fixture: 'loop', statement: OF_CUSTOMER, expect: [] },
  { fixture: 'loop', statement: LOOKUP, options: { minCallsPerRequest: 21 }, expect: [] },
  {
    fixture: 'loop',
    statement: BY_ID,
    options: { minCallsPerRequest: 1 },
    expect: [{ messageId: 'loop', severity: 'warning' }],
  },
  { fixture: 'loop', statement: LOOKUP, severity: 'error', expect: [{ messageId: 'loop', severity: 'error' }] },
  // 20 loan counts per request of "popular books": an aggregate in a loop.
  { fixture: 'counts', statement: COUNT, expect: [{ messageId: 'loop', severity: 'warning' }] },
  { fixture: 'counts', statement: BOOKS, expect: [] },
  { fixture: 'counts', statement: BOOK, expect: [] },
]);

describe('rule n-plus-one: the finding', () => {
  it('names the route and the statement, with the numbers and a batched rewrite', () => {
    const report = runRule(rule, loadFixture('n-plus-one', 'loop'));
    const finding = report.queries.find((q) => q.source === LOOKUP)!.findings[0]!;
    expect(finding.route).toBe('recent orders');
    expect(finding.message).toBe(
      'runs 20 times per request of route "recent orders" (21 statements per request in all): a query in a loop',
    );
    expect(finding.evidence).toMatchObject({ callsPerRequest: 20, statementsPerRequest: 21, requests: 20 });
    expect(finding.suggestion).toContain('SELECT id, name, email FROM shop.customers WHERE id = ANY($1)');
  });

  it('groups an aggregate by the key: one count per item, not one total for the list', () => {
    const report = runRule(rule, loadFixture('n-plus-one', 'counts'));
    const finding = report.queries.find((q) => q.source === COUNT)!.findings[0]!;
    expect(finding.route).toBe('popular books');
    expect(finding.evidence).toMatchObject({ callsPerRequest: 20, statementsPerRequest: 21 });
    expect(finding.suggestion).toContain(
      'SELECT book_id, count(*) AS n FROM lib.loans WHERE book_id = ANY($1) GROUP BY book_id (a key without rows gets no row',
    );
    expect(finding.suggestion).not.toContain('SELECT count(*) AS n FROM lib.loans WHERE book_id = ANY($1)');
  });

  it('rewrites from the parse tree: the key equality, the select list, GROUP BY', () => {
    const cases: [string, string | undefined][] = [
      ['SELECT * FROM t\n WHERE t.id = $1', 'SELECT * FROM t WHERE t.id = ANY($1)'],
      ['SELECT * FROM t WHERE a = $1 AND b = $2', undefined],
      ['SELECT * FROM t WHERE a > $1', undefined],
      ['SELECT * FROM t WHERE a = $1 OR b = 2', undefined],
      ['SELECT * FROM t WHERE a = $1 LIMIT 1', undefined],
      ['SELECT a FROM t WHERE k = $1 UNION SELECT a FROM u', undefined],
      ['SELECT DISTINCT ON (a) a, b FROM t WHERE k = $1', undefined],
      ['SELECT a, row_number() OVER () FROM t WHERE k = $1', undefined],
      ['SELECT k, count(*) FROM t WHERE k = $1 GROUP BY ROLLUP (k)', undefined],
      ['SELECT count(*) FROM t WHERE k = CAST($1 AS int)', undefined],
      // Each row must say which item it belongs to.
      ['SELECT name FROM shop.customers WHERE id = $1', 'SELECT id, name FROM shop.customers WHERE id = ANY($1)'],
      [
        'SELECT c.id, c.name FROM shop.customers c WHERE c.id = $1',
        'SELECT c.id, c.name FROM shop.customers c WHERE c.id = ANY($1)',
      ],
      [
        'SELECT DISTINCT tag FROM tags WHERE post_id = $1',
        'SELECT DISTINCT post_id, tag FROM tags WHERE post_id = ANY($1)',
      ],
      ['SELECT t.* FROM t WHERE t.k = $1 FOR UPDATE', 'SELECT t.* FROM t WHERE t.k = ANY($1) FOR UPDATE'],
      // Aggregates: grouped by the key, before the clauses that follow WHERE.
      [
        'SELECT count(*) FROM lib.loans l WHERE $1 = l.book_id AND l.returned_at IS NULL',
        'SELECT l.book_id, count(*) FROM lib.loans l WHERE l.book_id = ANY($1) AND l.returned_at IS NULL GROUP BY l.book_id',
      ],
      [
        'SELECT status, count(*) FROM lib.loans WHERE book_id = $1 GROUP BY status ORDER BY count(*) DESC',
        'SELECT book_id, status, count(*) FROM lib.loans WHERE book_id = ANY($1) GROUP BY book_id, status ORDER BY count(*) DESC',
      ],
      [
        'SELECT max(created_at) FROM shop.orders WHERE customer_id = $1 HAVING count(*) > 0',
        'SELECT customer_id, max(created_at) FROM shop.orders WHERE customer_id = ANY($1) GROUP BY customer_id HAVING count(*) > 0',
      ],
      [
        'SELECT coalesce(sum(x), 0) AS total FROM t WHERE lower(email) = $1',
        'SELECT lower(email), coalesce(sum(x), 0) AS total FROM t WHERE lower(email) = ANY($1) GROUP BY lower(email)',
      ],
      [
        'SELECT count(*) FROM t WHERE k = $1 AND EXISTS (SELECT 1 FROM u WHERE u.k = t.k GROUP BY u.k)',
        'SELECT k, count(*) FROM t WHERE k = ANY($1) AND EXISTS (SELECT 1 FROM u WHERE u.k = t.k GROUP BY u.k) GROUP BY k',
      ],
      ['SELECT count(*) FROM t WHERE k = $1::int', 'SELECT k, count(*) FROM t WHERE k = ANY($1::int[]) GROUP BY k'],
      [
        'SELECT count(*) FROM t WHERE "Key" = $1;',
        'SELECT "Key", count(*) FROM t WHERE "Key" = ANY($1) GROUP BY "Key";',
      ],
    ];
    for (const [sql, batched] of cases) expect(batchedForm(sql)?.sql, sql).toBe(batched);
    expect(batchedForm('SELECT id FROM t WHERE k = $1')?.grouped).toBe(false);
    expect(batchedForm('SELECT count(*) FROM t WHERE k = $1')?.grouped).toBe(true);
  });
});

describe('rule n-plus-one: the rewrites on a real PostgreSQL', () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('n_plus_one');
    await loadSqlFiles(url, fileURLToPath(new URL('../../fixtures/plans/n-plus-one/counts.sql', import.meta.url)));
  });

  // Books 2, 7 and 10 have loans, none of them open; 4242 is no book at all.
  const KEYS = [1, 2, 7, 10, 2000, 4242];
  const LOANS = 'SELECT 1 FROM lib.loans WHERE book_id = $1';
  const row = (r: Record<string, unknown>) => JSON.stringify(Object.values(r));

  /**
   * The statement run once per key (as the loop did), and the rewrite run once for all keys, its rows
   * split by the key that comes first in each. `empty(key)`: the loop's rows that the rewrite has no
   * row for (an aggregate over no rows).
   */
  async function perKey(
    perItem: string,
    rewrite: string,
    extra: readonly unknown[] = [],
    empty: (key: number) => Promise<boolean> = async () => false,
  ): Promise<{ expected: Map<number, string[]>; got: Map<number, string[]> }> {
    return withSession(url, async (session) => {
      const expected = new Map<number, string[]>();
      for (const key of KEYS) {
        const { rows } = await session.query<Record<string, unknown>>(perItem, [key, ...extra]);
        expected.set(key, (await empty(key)) ? [] : rows.map(row));
      }
      const { rows } = await session.query<Record<string, unknown>>(rewrite, [KEYS, ...extra]);
      const got = new Map<number, string[]>(KEYS.map((k) => [k, []]));
      for (const r of rows) {
        const [keyValue, ...rest] = Object.values(r);
        got.get(Number(keyValue))!.push(JSON.stringify(rest));
      }
      return { expected, got };
    });
  }

  // Each statement run once per key, and the rows it aggregates over (none: the batched form has no row for the key).
  const cases = [
    { name: 'count', perItem: COUNT, over: LOANS },
    { name: 'a lookup without the key in its select list', perItem: 'SELECT title FROM lib.books WHERE id = $1' },
    {
      name: 'max with another condition, parameter first',
      perItem: 'SELECT max(loaned_at) AS last FROM lib.loans l WHERE $1 = l.book_id AND l.returned_at IS NULL',
      over: `${LOANS} AND returned_at IS NULL`,
    },
    {
      name: 'an aggregate with its own GROUP BY',
      perItem:
        'SELECT returned_at IS NULL AS open, count(*) AS n FROM lib.loans WHERE book_id = $1 GROUP BY returned_at IS NULL ORDER BY 1',
    },
    { name: 'a cast parameter', perItem: 'SELECT count(*) AS n FROM lib.loans WHERE book_id = $1::int', over: LOANS },
  ];

  it.each(cases)('batched: returns, per key, what the loop returned for that key: $name', async ({ perItem, over }) => {
    const batched = batchedForm(perItem)!;
    expect(batched).toBeDefined();
    // An aggregate over no rows: the loop got count 0 (or NULL); the batched form has no row for the key.
    const { expected, got } = await perKey(perItem, batched.sql, [], async (key) =>
      over === undefined ? false : withSession(url, async (s) => (await s.query(over, [key])).rows.length === 0),
    );
    expect(got).toEqual(expected);
    // The keys cover every case: rows, aggregates over no rows, no book at all.
    expect([...expected.values()].filter((v) => v.length === 0).length).toBeGreaterThan(0);
  });

  const typeOf = (column: string) => (column === 'book_id' ? 'integer' : undefined);

  it('keeps a LIMIT per item with a LATERAL join, where = ANY($1) would apply it to all the items together', () => {
    const latest = 'SELECT id, loaned_at FROM lib.loans WHERE book_id = $1 ORDER BY loaned_at DESC, id DESC LIMIT 1';
    expect(batchedForm(latest)).toBeUndefined();
    expect(lateralForm(latest, typeOf)).toBe(
      'SELECT k.key, t.* FROM unnest($1::integer[]) AS k(key) CROSS JOIN LATERAL (SELECT id, loaned_at FROM lib.loans WHERE book_id = k.key ORDER BY loaned_at DESC, id DESC LIMIT 1) AS t',
    );
    // The parameter's own cast gives the array type; without a type there is no rewrite.
    expect(lateralForm('SELECT id FROM t WHERE k = $1::bigint LIMIT 2', () => undefined)).toContain(
      'unnest($1::bigint[])',
    );
    expect(lateralForm('SELECT id FROM t WHERE k = $1 LIMIT 2', () => undefined)).toBeUndefined();
  });

  it.each([
    {
      name: 'the latest row per item',
      perItem: 'SELECT id, loaned_at FROM lib.loans WHERE book_id = $1 ORDER BY loaned_at DESC, id DESC LIMIT 1',
      extra: [],
    },
    {
      name: 'a page per item, its size a parameter of its own',
      perItem: 'SELECT id FROM lib.loans WHERE $1 = book_id ORDER BY id LIMIT $2 OFFSET 1',
      extra: [2],
    },
  ])('lateral: returns, per key, what the loop returned for that key: $name', async ({ perItem, extra }) => {
    const lateral = lateralForm(perItem, typeOf)!;
    expect(lateral).toBeDefined();
    const { expected, got } = await perKey(perItem, lateral, extra);
    expect(got).toEqual(expected);
    expect([...expected.values()].some((v) => v.length > 0)).toBe(true);
  });
});
