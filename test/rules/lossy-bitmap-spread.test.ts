/**
 * lossy-bitmap-scan on a healthy bitmap, on a real PostgreSQL: a B-tree on (depot_id, status) whose
 * matches lie one or two to a block on every block of the table. The bitmap is exact (its blocks fit
 * in work_mem, so it marks rows and rechecks none): the blocks read are the blocks the matches are
 * on, not a lossy bitmap, and no finding says it might be.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// One vehicle in 50 per depot, two in three of them active: a depot's active vehicles lie on every
// block. 20,000 of them fill ~130 blocks; 200,000 fill ~1,300, more than minBlocks.
const table = (name: string, rows: number) => `
CREATE TABLE fleet.${name} (id int PRIMARY KEY, plate text NOT NULL UNIQUE, status text NOT NULL, depot_id int NOT NULL);
INSERT INTO fleet.${name}
SELECT g, 'PL-' || g,
       (ARRAY['active','active','active','active','active','active','idle','maintenance','retired'])[1 + (g % 9)],
       1 + (g % 50)
  FROM generate_series(1, ${rows}) AS g;
CREATE INDEX ${name}_depot_id_status_idx ON fleet.${name} (depot_id, status);
ANALYZE fleet.${name};
`;
const SCHEMA = `CREATE SCHEMA fleet;\n${table('vehicles', 20_000)}\n${table('vehicles_large', 200_000)}`;
const SMALL = `SELECT id, plate FROM fleet.vehicles WHERE depot_id = 7 AND status = 'active'`;
const LARGE = `SELECT id, plate FROM fleet.vehicles_large WHERE depot_id = 7 AND status = 'active'`;

describe('lossy-bitmap-scan on an exact B-tree bitmap over every block', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('lossy_spread', SCHEMA, `${SMALL};\n${LARGE};\n`);
  });

  const queryOf = (from: string) => report.queries.find((q) => q.query.includes(`FROM ${from} `))!;

  it.each([
    ['a small table', 'fleet.vehicles'],
    ['a table past minBlocks', 'fleet.vehicles_large'],
  ])('reports nothing on %s', (_, from) => {
    const query = queryOf(from);
    expect(query.plan?.root['Node Type']).toBe('Bitmap Heap Scan');
    const relation = report.relations.find((r) => r.name === from)!;
    // Most of the table's blocks per call, yet a bitmap of them fits in work_mem many times over.
    expect(query.sharedBlksPerCall / relation.pages).toBeGreaterThan(0.5);
    expect(query.plan?.settings?.workMemKb).toBeGreaterThanOrEqual(1024);
    expect(query.findings.filter((f) => f.rule === 'lossy-bitmap-scan')).toEqual([]);
  });

  it('has the large table past the blocks floor, so that only the exact bitmap keeps it quiet', () => {
    expect(queryOf('fleet.vehicles_large').sharedBlksPerCall).toBeGreaterThan(1000);
  });
});
