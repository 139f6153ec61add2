import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { expressionText, parseTree, type TreeNode } from '../../src/analyze/sql-tree.js';

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
