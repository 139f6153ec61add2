import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { expressionText, parseTree, withoutLimit, type TreeNode } from '../../src/analyze/sql-tree.js';

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
