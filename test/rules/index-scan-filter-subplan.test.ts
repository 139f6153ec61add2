/**
 * index-scan-filter on an index scan whose target list runs a correlated subquery, on a real
 * PostgreSQL: EXPLAIN nests the subplan (here a sequential scan of another table, once per row the
 * index scan keeps) directly under the index scan. Without ANALYZE its blocks count in the
 * statement's, and are not what the index scan's filter threw away.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 200 rows of a group, of which the filter keeps about 29; for each, a sequential scan of `tag`
// (about 100 blocks): some 3,000 shared blocks per call, nearly all of them the subplan's.
const SCHEMA = `
CREATE TABLE t (id int PRIMARY KEY, grp int NOT NULL);
INSERT INTO t SELECT g, g % 1000 FROM generate_series(1, 200000) AS g;
CREATE INDEX t_grp_idx ON t (grp);
CREATE TABLE tag (t_id int NOT NULL, label text NOT NULL);
INSERT INTO tag SELECT g * 10, 'tag ' || g FROM generate_series(1, 20000) AS g;
ANALYZE t, tag;
`;
const WORKLOAD =
  'SELECT t.id, (SELECT g.label FROM tag g WHERE g.t_id = t.id) FROM t WHERE t.grp = 7 AND t.id % 7 = 0;\n';

describe('index-scan-filter under a correlated subquery in the target list', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('filter_subplan', SCHEMA, WORKLOAD);
  });

  it("does not charge the subplan's blocks to the index scan's filter", () => {
    const query = report.queries.find((q) => q.query.includes('FROM t '))!;
    const root = query.plan!.root;
    // The filtered scan of t, with the subplan's scan of tag straight under it.
    expect(root.Filter).toBeDefined();
    expect(root.Plans?.find((p) => p['Parent Relationship'] === 'SubPlan')?.['Relation Name']).toBe('tag');
    expect(query.sharedBlksPerCall).toBeGreaterThan(1000);
    expect(query.findings.filter((f) => f.rule === 'index-scan-filter')).toEqual([]);
  });
});
