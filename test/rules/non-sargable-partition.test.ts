/**
 * A cast of a range-partitioned table's partition key (`created_at::date BETWEEN ...`), on a real
 * PostgreSQL: the planner can neither use the index on created_at nor prune partitions by it, and
 * scans every partition. The finding is one about the partitioned table, says that pruning is
 * defeated, proposes the concrete range on the bare column (which prunes to one partition and keeps
 * the same rows), and stays, its rewrite first, when index advice validates an index for the scans.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adviseReport } from '../../src/advise/advise.js';
import { mergeSameFixes } from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import { walkPlan } from '../../src/analyze/plan.js';
import type { PlanNode } from '../../src/model/plan.js';
import type { QueryReport, Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { openSession } from '../../src/target/pg.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';
import { partitionedEventsSql } from '../support/partitioned.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-partition-cast-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MONTHS = ['2025-08', '2025-09', '2025-10', '2025-11', '2025-12'];
// Five monthly partitions and a default one, 150,000 rows over 150 days, an index on created_at.
const SCHEMA = partitionedEventsSql({
  months: MONTHS,
  defaultPartition: true,
  primaryKey: true,
  rows: { total: 150000, days: 150 },
  tenant: '1 + g % 7',
  payloadWidth: 0,
  extraDdl: 'CREATE INDEX events_created_at_idx ON events (created_at);',
});

const STATEMENT =
  "SELECT event_type, count(*) FROM events WHERE tenant_id = 3 AND created_at::date BETWEEN '2025-11-01' AND '2025-11-30' GROUP BY event_type";
const REWRITE = "created_at >= '2025-11-01' AND created_at < '2025-12-01'";

const nodesOf = (plan: unknown): PlanNode[] => [...walkPlan(plan as PlanNode)].map((w) => w.node);
const partitionsScanned = (plan: unknown) =>
  new Set(nodesOf(plan).flatMap((n) => (/^events_/.test(n['Relation Name'] ?? '') ? [n['Relation Name']] : []))).size;

describe('non-sargable-predicate on the partition key of a partitioned table', () => {
  let url: string;
  let report: Report;
  let query: QueryReport;

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('partition_cast');
    await withSession(url, async (s) => {
      await s.query(SCHEMA);
      await s.query('VACUUM events');
    });
    const file = join(dir, 'workload.sql');
    writeFileSync(file, `${STATEMENT};\n`);
    const workload = loadSqlWorkload(file, {}, { repeat: 2, connections: 1, rounds: 1 });
    report = await runWorkload({ workload, databaseUrl: url });
    query = report.queries.find((q) => q.query.includes('::date BETWEEN'))!;
  }, 120_000);

  it('describes the partition key and the partitions of the table', () => {
    const parent = report.relations.find((r) => r.name === 'public.events')!;
    expect(parent.partitionKey).toEqual(['created_at']);
    expect(parent.partitionCount).toBe(MONTHS.length + 1);
  });

  it('is one finding about the partitioned table, with its partitions, which says pruning is defeated', () => {
    const finding = query.findings.find((f) => f.rule === 'non-sargable-predicate')!;
    expect(finding, JSON.stringify(query.findings, null, 2)).toBeDefined();
    expect(finding.relation).toBe('public.events');
    // Not milder for the other predicate on the table: pruning by the key would read one partition.
    expect(finding.severity).toBe('error');
    expect(finding.message).toMatch(
      /^\d partitions of public\.events \([\d,]+ rows read in all\); the worst: created_at::date casts created_at to date/,
    );
    expect(finding.message).toMatch(
      /the planner cannot prune the partitions of public\.events by it \(created_at is its partition key\): it scans all 6,/,
    );
    expect(finding.evidence).toMatchObject({ partitionsScanned: 6, partitionsNotPruned: 6 });
  });

  it('proposes the concrete range on the bare column, which keeps the same rows and prunes to one partition', async () => {
    const finding = query.findings.find((f) => f.rule === 'non-sargable-predicate')!;
    expect(finding.suggestion).toContain(`compare the bare column with a range instead: ${REWRITE}`);
    const rewritten = STATEMENT.replace("created_at::date BETWEEN '2025-11-01' AND '2025-11-30'", REWRITE);
    await withSession(url, async (s) => {
      for (const zone of ['UTC', 'Asia/Tokyo']) {
        await s.query(`SET TimeZone = '${zone}'`);
        const before = await s.query(`${STATEMENT} ORDER BY 1`);
        const after = await s.query(`${rewritten} ORDER BY 1`);
        expect(after.rows).toEqual(before.rows);
        expect(before.rows.length).toBeGreaterThan(0);
      }
      // The partitions' bounds were written in UTC: in another zone the month spans two of them.
      await s.query("SET TimeZone = 'UTC'");
      const plan = async (sql: string) =>
        (await s.query<{ 'QUERY PLAN': [{ Plan: unknown }] }>(`EXPLAIN (FORMAT JSON) ${sql}`)).rows[0]!['QUERY PLAN'][0]
          .Plan;
      expect(partitionsScanned(await plan(STATEMENT))).toBe(6);
      expect(partitionsScanned(await plan(rewritten))).toBe(1);
    });
  });

  it('keeps the finding, its rewrite first, when index advice validates an index for the same scans', async () => {
    const session = await openSession(url);
    let advised: Report;
    try {
      const statements = [{ fingerprint: query.fingerprint, sql: STATEMENT, paramCount: 0 }];
      advised = mergeSameFixes(await adviseReport(session, report, { statements, allowIndexBuild: true }));
    } finally {
      await session.close();
    }
    const findings = advised.queries.find((q) => q.fingerprint === query.fingerprint)!.findings;
    const kept = findings.find((f) => f.rule === 'non-sargable-predicate');
    expect(kept, JSON.stringify(findings, null, 2)).toBeDefined();
    expect(kept!.suggestion!.startsWith(`compare the bare column with a range instead: ${REWRITE}`)).toBe(true);
    const scans = findings.find((f) => f.rule === 'seq-scan-large-table');
    if (kept!.advice) expect(scans).toBeUndefined();
  });
});
