import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import {
  expressionText,
  parseTree,
  relationPrivileges,
  sequenceUses,
  withoutLimit,
  type TreeNode,
} from '../../src/analyze/sql-tree.js';

beforeAll(loadParser);

const whereOf = (sql: string) => (parseTree(sql)[0]!.SelectStmt as TreeNode).whereClause;

describe('expressionText', () => {
  it('cuts an expression out of the statement, through the parentheses it opens', () => {
    const sql = "SELECT id FROM t WHERE a.x = lower('B') AND y IN (1, 2) ORDER BY id";
    expect(expressionText(sql, whereOf(sql))).toBe("a.x = lower('B') AND y IN (1, 2)");
  });

  it('keeps the parentheses an expression starts with, whose first located node is inside them', () => {
    const sql = 'SELECT id FROM t WHERE ((a = 1 OR a = 2)) AND (b = 3) LIMIT 5';
    expect(expressionText(sql, whereOf(sql))).toBe('((a = 1 OR a = 2)) AND (b = 3)');
  });
});

describe('expressionText of calls and tests that end without a located node', () => {
  it('keeps the argument list of a call without arguments, and the whole of IS [NOT] NULL', () => {
    for (const [where, text] of [
      ['e.starts_at > now()', 'e.starts_at > now()'],
      ['e.starts_at > pg_catalog.now ( )', 'e.starts_at > pg_catalog.now ( )'],
      ['n > count(*)', 'n > count(*)'],
      ['d >= CURRENT_DATE', 'd >= CURRENT_DATE'],
      ['d >= current_timestamp(0)', 'd >= current_timestamp(0)'],
      ['a = 1 AND b IS NOT NULL', 'a = 1 AND b IS NOT NULL'],
      ['b IS NULL', 'b IS NULL'],
      ['flag IS NOT TRUE', 'flag IS NOT TRUE'],
      ["starts_at > now() - interval '1 day'", "starts_at > now() - interval '1 day'"],
    ]) {
      const sql = `SELECT id FROM t WHERE ${where} ORDER BY id LIMIT 5`;
      expect(expressionText(sql, whereOf(sql))).toBe(text);
    }
  });
});

describe('withoutLimit', () => {
  it('replaces the outermost row count by a NULL PostgreSQL folds away, keeping its parameters', () => {
    expect(withoutLimit('SELECT id FROM t ORDER BY a LIMIT $2 OFFSET 40')).toBe(
      'SELECT id FROM t ORDER BY a LIMIT (NULL::bigint + ($2)) OFFSET 40',
    );
    expect(withoutLimit("SELECT id FROM t WHERE b = 'é' ORDER BY a DESC LIMIT 50")).toBe(
      "SELECT id FROM t WHERE b = 'é' ORDER BY a DESC LIMIT (NULL::bigint + (50))",
    );
    expect(withoutLimit('SELECT id FROM t ORDER BY a FETCH FIRST (5 + 5) ROWS ONLY')).toBe(
      'SELECT id FROM t ORDER BY a FETCH FIRST ((NULL::bigint + (5 + 5))) ROWS ONLY',
    );
  });

  it('leaves statements without an outermost row count alone', () => {
    expect(withoutLimit('SELECT id FROM t ORDER BY a')).toBeUndefined();
    expect(withoutLimit('SELECT id FROM t ORDER BY a LIMIT ALL')).toBeUndefined();
    expect(withoutLimit('SELECT * FROM (SELECT id FROM t LIMIT 5) s')).toBeUndefined();
    expect(withoutLimit('SELECT id FROM t ORDER BY a FETCH FIRST 5 ROWS WITH TIES')).toBeUndefined();
  });
});

describe('relationPrivileges', () => {
  const cases: [string, ReturnType<typeof relationPrivileges>][] = [
    [
      'SELECT * FROM iot.readings r JOIN devices d ON d.id = r.device_id',
      [
        { schema: 'iot', table: 'readings', privileges: ['SELECT'] },
        { table: 'devices', privileges: ['SELECT'] },
      ],
    ],
    ['INSERT INTO t (a) VALUES (1)', [{ table: 't', privileges: ['INSERT'] }]],
    ['INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING', [{ table: 't', privileges: ['INSERT'] }]],
    ['INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING', [{ table: 't', privileges: ['SELECT', 'INSERT'] }]],
    [
      'INSERT INTO iot.readings (a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b',
      [{ schema: 'iot', table: 'readings', privileges: ['SELECT', 'INSERT', 'UPDATE'] }],
    ],
    ['INSERT INTO t (a) VALUES (1) RETURNING a', [{ table: 't', privileges: ['SELECT', 'INSERT'] }]],
    [
      'INSERT INTO t SELECT * FROM s',
      [
        { table: 't', privileges: ['INSERT'] },
        { table: 's', privileges: ['SELECT'] },
      ],
    ],
    ['UPDATE t SET a = 1', [{ table: 't', privileges: ['UPDATE'] }]],
    ['UPDATE t SET a = a + 1', [{ table: 't', privileges: ['SELECT', 'UPDATE'] }]],
    ['UPDATE t SET a = 1 WHERE id = 2', [{ table: 't', privileges: ['SELECT', 'UPDATE'] }]],
    ['DELETE FROM t', [{ table: 't', privileges: ['DELETE'] }]],
    [
      'DELETE FROM t USING s WHERE s.id = t.id',
      [
        { table: 't', privileges: ['SELECT', 'DELETE'] },
        { table: 's', privileges: ['SELECT'] },
      ],
    ],
    [
      'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id)',
      [
        { table: 't', privileges: ['SELECT', 'INSERT', 'UPDATE'] },
        { table: 's', privileges: ['SELECT'] },
      ],
    ],
    [
      'SELECT * FROM t JOIN s ON s.id = t.id FOR UPDATE OF t',
      [
        { table: 't', privileges: ['SELECT', 'UPDATE'] },
        { table: 's', privileges: ['SELECT'] },
      ],
    ],
    [
      'WITH gone AS (DELETE FROM q WHERE done RETURNING *) SELECT count(*) FROM gone',
      [{ table: 'q', privileges: ['SELECT', 'DELETE'] }],
    ],
    [
      'SELECT * FROM t WHERE id IN (SELECT id FROM u)',
      [
        { table: 't', privileges: ['SELECT'] },
        { table: 'u', privileges: ['SELECT'] },
      ],
    ],
  ];
  it.each(cases)('%s', (sql, expected) => {
    expect(relationPrivileges(sql)).toEqual(expected);
  });
});

describe('sequenceUses', () => {
  const cases: [string, ReturnType<typeof sequenceUses>][] = [
    // Every column the INSERT gives no value, DEFAULT included, evaluates its default.
    [
      'INSERT INTO app.r (a, b) VALUES (1, DEFAULT), (2, 3)',
      { defaults: [{ schema: 'app', table: 'r', evaluated: 'all-but', names: ['a'], positions: [] }], calls: [] },
    ],
    [
      'INSERT INTO r VALUES (DEFAULT, 1)',
      { defaults: [{ table: 'r', evaluated: 'all-but', names: [], positions: [2] }], calls: [] },
    ],
    [
      'INSERT INTO r DEFAULT VALUES',
      { defaults: [{ table: 'r', evaluated: 'all-but', names: [], positions: [] }], calls: [] },
    ],
    ['INSERT INTO r SELECT * FROM s', { defaults: [], calls: [] }],
    [
      'UPDATE r SET a = DEFAULT, b = 1',
      { defaults: [{ table: 'r', evaluated: 'only', names: ['a'], positions: [] }], calls: [] },
    ],
    [
      "SELECT nextval('app.s'), pg_catalog.setval('t'::regclass, 1), nextval($1), other.nextval('u')",
      {
        defaults: [],
        calls: [
          { function: 'nextval', sequence: 'app.s' },
          { function: 'setval', sequence: 't' },
        ],
      },
    ],
  ];
  it.each(cases)('%s', (sql, expected) => {
    expect(sequenceUses(sql)).toEqual(expected);
  });
});
