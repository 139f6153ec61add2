/**
 * compare on a real PostgreSQL: an index that cuts a statement's plan cost and blocks per call is no
 * regression for the finding its new plan shows. A range-partitioned table without an index on
 * (tenant_id, created_at) is read in full; with it, every partition's bitmap scan finds the tenant's
 * rows and a cast on the partition key leaves a filter (index-scan-filter, new in head). Wide rows,
 * about 18 a block, so that the tenant's rows (one in a hundred) lie on a fraction of the blocks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { compareReports } from '../../src/compare/compare.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';
import { partitionedEventsSql } from '../support/partitioned.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-work-fell-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Four monthly partitions of 20,000 to 80,000 rows, 100 tenants, 400-character payloads.
const SCHEMA = partitionedEventsSql({
  table: 'analytics.events',
  months: ['2025-01', '2025-02', '2025-03', '2025-04'],
  rows: { perMonth: 20000 },
  tenant: 'g % 100',
  payloadWidth: 400,
});

const WORKLOAD = `
-- month by cast
SELECT event_type, count(*) FROM analytics.events
WHERE tenant_id = 42 AND created_at::date BETWEEN '2025-03-01' AND '2025-03-31'
GROUP BY event_type;
`;

describe('compare: a statement whose work fell and that gained a finding', () => {
  let base: Report;
  let head: Report;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('work_fell');
    await withSession(url, (session) => session.query(SCHEMA));
    const file = join(dir, 'workload.sql');
    writeFileSync(file, WORKLOAD);
    const run = () =>
      runWorkload({
        workload: loadSqlWorkload(file, {}, { repeat: 2, connections: 1, rounds: 1 }),
        databaseUrl: url,
      });
    base = await run();
    await withSession(url, (session) =>
      session.query('CREATE INDEX ON analytics.events (tenant_id, created_at); ANALYZE analytics.events;'),
    );
    head = await run();
  });

  it('is an improvement, the new finding listed, not counted', () => {
    const before = base.queries.find((q) => q.query.includes('::date'))!;
    const after = head.queries.find((q) => q.query.includes('::date'))!;
    // The index's plan shows a finding the full read did not.
    expect(after.findings.map((f) => [f.rule, f.severity])).toContainEqual(['index-scan-filter', 'error']);
    expect(before.findings.map((f) => f.rule)).not.toContain('index-scan-filter');

    const comparison = compareReports(base, head);
    const [statement] = comparison.statements;
    expect(statement!.verdict).toBe('improvement');
    expect(statement!.regressions).toEqual([]);
    expect(statement!.improvements.map((r) => r.kind)).toEqual(
      expect.arrayContaining(['plan-cost', 'blocks-per-call']),
    );
    expect(statement!.newFindings.map((f) => f.rule)).toContain('index-scan-filter');
    expect(statement!.findingNotes).toContainEqual(
      expect.stringMatching(
        /^error finding index-scan-filter on analytics\.events new in head: not counted as a regression \(the statement's work fell: plan cost .* -> .*, shared blocks per call .* -> .*\)$/,
      ),
    );
    expect(comparison.verdict).not.toBe('regression');
  });
});
