import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 100,000 orders of 1,000 customers, sorted by a key of each table above their join: the sort
// spills at work_mem 64kB, and no index of one table can give that order.
const SCHEMA = `
CREATE TABLE customers (id int PRIMARY KEY, city text NOT NULL);
INSERT INTO customers SELECT g, 'city ' || (g % 50) FROM generate_series(1, 1000) AS g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount int NOT NULL, created_at timestamp NOT NULL);
INSERT INTO orders SELECT g, g % 1000 + 1, g % 977, timestamp '2025-01-01' + g * interval '1 minute'
  FROM generate_series(1, 100000) AS g;
ANALYZE customers, orders;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '64kB'); END $$;
`;
const WORKLOAD = `SELECT c.city, o.created_at, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id
ORDER BY o.created_at DESC, c.city OFFSET 99000;
`;

describe('sort-spill: a sort whose keys read two tables', () => {
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('sort_spill_join', SCHEMA, WORKLOAD, { analyze: true });
  });

  it('names no index, and says why', () => {
    const finding = report.queries.flatMap((q) => q.findings).find((f) => f.rule === 'sort-spill');
    expect(finding).toBeDefined();
    expect(finding!.suggestion).toMatch(
      /; no index can give this order: its keys read more than one table \(public\.customers, public\.orders\), and an index covers one$/,
    );
    expect(finding!.suggestion).not.toMatch(/an index in the order of/);
    expect(finding!.evidence.unindexableKey).toBe(finding!.evidence.sortKey);
  });
});
