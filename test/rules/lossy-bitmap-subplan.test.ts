/**
 * lossy-bitmap-scan on a bitmap heap scan whose target list runs a correlated subquery, on a real
 * PostgreSQL: EXPLAIN nests the subplan (an index scan of another table, once per row) under the
 * scan. Its index is not the bitmap's, and the blocks it reads count in the statement's, not in
 * the scan's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// A group of 200 rows of `t`, one on each of 200 of its ~885 blocks, and the latest event of each
// through the subplan: about 1,000 shared blocks per call in all, more than the table has. `jobs`
// (as in fixtures/plans/lossy-bitmap-scan) holds two columns always equal, whose combined bitmap
// outgrows a work_mem of 64 kB: a lossy bitmap over most of the table.
const SCHEMA = `
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '64kB'); END $$;
CREATE TABLE t (id int PRIMARY KEY, grp int NOT NULL);
INSERT INTO t SELECT g, g % 1000 FROM generate_series(1, 200000) AS g;
CREATE INDEX t_grp_idx ON t (grp);
CREATE TABLE ev (id bigint PRIMARY KEY, t_id int NOT NULL, at timestamptz NOT NULL);
INSERT INTO ev SELECT g, 1 + g % 200000, timestamptz '2025-01-01' + g * interval '1 second' FROM generate_series(1, 200000) AS g;
CREATE INDEX ev_t_id_idx ON ev (t_id);
CREATE TABLE jobs (id bigint PRIMARY KEY, a integer NOT NULL, b integer NOT NULL, payload text NOT NULL);
INSERT INTO jobs SELECT g, g % 100, g % 100, repeat('x', 40) FROM generate_series(1, 300000) AS g;
CREATE INDEX jobs_a_idx ON jobs (a);
CREATE INDEX jobs_b_idx ON jobs (b);
ANALYZE t, ev, jobs;
`;
const LATEST = 'SELECT t.id, (SELECT max(e.at) FROM ev e WHERE e.t_id = t.id) FROM t WHERE t.grp = 7';
const LOSSY = 'SELECT j.id, (SELECT max(e.at) FROM ev e WHERE e.t_id = j.id) FROM jobs j WHERE j.a = 1 AND j.b = 1';
const WORKLOAD = `${LATEST};\n${LOSSY};\n`;

/** The lossy-bitmap-scan findings of the statement whose text holds `from` (`FROM t `, `FROM jobs `). */
function findingsOf(report: Report, from: string): Finding[] {
  const query = report.queries.find((q) => q.query.includes(from));
  expect(query?.plan?.root['Node Type']).toBe('Bitmap Heap Scan');
  expect(JSON.stringify(query?.plan?.root)).toContain('"Subplan Name"');
  return query!.findings.filter((f) => f.rule === 'lossy-bitmap-scan');
}

describe('lossy-bitmap-scan under a correlated subquery in the target list', () => {
  let plain: Report;
  let analyzed: Report;

  beforeAll(async () => {
    await loadParser();
    plain = await runSqlText('lossy_subplan', SCHEMA, WORKLOAD);
    analyzed = await runSqlText('lossy_subplan_an', SCHEMA, WORKLOAD, { analyze: true });
  });

  it('does not charge the statement blocks, mostly the subplan lookups, to the bitmap scan', () => {
    const latest = plain.queries.find((q) => q.query.includes('FROM t '))!;
    const table = plain.relations.find((r) => r.name === 'public.t')!;
    // What made it a finding: more blocks per call than the table has.
    expect(latest.sharedBlksPerCall).toBeGreaterThan(table.pages);
    expect(findingsOf(plain, 'FROM t ')).toEqual([]);
    // Nor for a scan that may well be lossy: without per-node counts, its blocks are not told apart.
    expect(findingsOf(plain, 'FROM jobs ')).toEqual([]);
  });

  it('names only the indexes of the bitmap, not the index the subplan reads', () => {
    expect(findingsOf(analyzed, 'FROM t ')).toEqual([]);
    const [finding] = findingsOf(analyzed, 'FROM jobs ');
    expect(finding?.messageId).toBe('counted');
    expect(finding?.message).toMatch(
      /^Bitmap Heap Scan on public\.jobs reads .* through jobs_[ab]_idx and jobs_[ab]_idx to keep /,
    );
    expect(finding?.message).not.toContain('ev_t_id_idx');
  });
});
