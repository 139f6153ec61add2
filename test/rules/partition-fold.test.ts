/**
 * index-scan-filter on a range-partitioned table, planned without --analyze, on a real PostgreSQL:
 * a cast on the partition key (`created_at::date BETWEEN ...`) keeps the planner from pruning and
 * from using the index's second column, so every partition's bitmap scan finds the tenant's rows
 * and its filter throws most away. The scans fold into one finding about the table, whose worst
 * partition is the one whose scan costs most (not the first of the plan), whose per-call blocks are
 * named as the statement's, and whose fix is the cast's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';
import { partitionedEventsSql } from '../support/partitioned.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'querygate-partition-fold-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Six monthly partitions, each larger than the one before (20,000 to 120,000 rows), 100 tenants.
const SCHEMA = partitionedEventsSql({
  table: 'analytics.events',
  months: ['2025-01', '2025-02', '2025-03', '2025-04', '2025-05', '2025-06'],
  rows: { perMonth: 20000 },
  tenant: 'g % 100',
  payloadWidth: 40,
  extraDdl: 'CREATE INDEX ON analytics.events (tenant_id, created_at);',
});

const WORKLOAD = `
-- month by cast
SELECT event_type, count(*) FROM analytics.events
WHERE tenant_id = 42 AND created_at::date BETWEEN '2025-05-01' AND '2025-05-31'
GROUP BY event_type;
`;

describe('index-scan-filter on the partitions of a table, without --analyze', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('partition_fold');
    await withSession(url, (session) => session.query(SCHEMA));
    const file = join(dir, 'workload.sql');
    writeFileSync(file, WORKLOAD);
    report = await runWorkload({
      workload: loadSqlWorkload(file, {}, { repeat: 2, connections: 1, rounds: 1 }),
      databaseUrl: url,
    });
  });

  it('names the costliest partition as the worst, the blocks as the statement’s, and the cast’s fix', () => {
    const query = report.queries.find((q) => q.query.includes('::date'))!;
    const [finding, ...more] = query.findings.filter((f) => f.rule === 'index-scan-filter');
    expect(more).toEqual([]);
    expect(finding!.relation).toBe('analytics.events');
    expect(finding!.evidence).toMatchObject({ partitionsScanned: 6, worstPartition: 'analytics.events_2025_06' });
    // The partition's own figures, and the statement's named as such.
    const largest = report.relations.find((r) => r.name === 'analytics.events_2025_06')!;
    expect(finding!.evidence.tableBlocks).toBe(largest.pages);
    expect(finding!.message).toMatch(
      /^6 partitions of analytics\.events; the worst: Bitmap Heap Scan on analytics\.events_2025_06 through events_2025_06_tenant_id_created_at_idx \(plan cost [\d,.]+, an estimated [\d,]+ of its [\d,]+ rows found by the index\): its filter .* throws away what the index finds; the statement's scans of the 6 partitions of analytics\.events touch [\d,]+ shared blocks per call/,
    );
    // The cast on the partition key is the cause: its fix, never none.
    expect(finding!.suggestion).toMatch(
      /^compare the bare column with a range instead: created_at >= '2025-05-01' AND created_at < '2025-06-01'/,
    );
  });
});
