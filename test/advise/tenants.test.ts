/**
 * Index advice on a multi-tenant table (one tenant with 30% of the rows, 499 small ones), with the
 * real rules and validation on a real PostgreSQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unusedPartialIndexes } from '../../src/advise/candidates.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { PlanNode } from '../../src/model/plan.js';
import type { QueryReport, Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/tenants/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'querygate-tenants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let url: string;
beforeAll(async () => {
  await loadParser();
  url = await createTestDatabase('tenants');
  await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
});

/** Runs the statements (one SQL workload) with the real rules and validated advice. */
async function run(name: string, sql: string, allowIndexBuild = true): Promise<Report> {
  const file = join(dir, `${name}.sql`);
  writeFileSync(file, sql);
  return runWorkload({
    workload: loadSqlWorkload(file, {}, { repeat: 2, connections: 1, rounds: 1 }),
    databaseUrl: url,
    ...(allowIndexBuild ? { allowIndexBuild } : {}),
  });
}

/** The statement whose normalized text ends with `end`. */
const queryOf = (report: Report, end: string): QueryReport => report.queries.find((q) => q.query.endsWith(end))!;
/** The statement's scan finding (a sequential scan, or an index scan with a filter, as the plan has it). */
const scanFinding = (report: Report, end: string): Finding | undefined =>
  queryOf(report, end).findings.find((f) => f.rule === 'seq-scan-large-table' || f.rule === 'index-scan-filter');

describe('a partial index with the keys a statement needs, whose WHERE the statement does not state', () => {
  let report: Report;
  beforeAll(async () => {
    report = await run(
      'partial',
      [
        "SELECT id, status FROM invoices WHERE tenant_id = 1 AND number = 'INV-1-0000010';",
        "SELECT id, status FROM invoices WHERE tenant_id = 1 AND number = 'INV-1-0000010' AND status <> 'void';",
      ].join('\n\n'),
    );
  });

  it('is named on the finding, with its WHERE and what to do, beside the validated index', () => {
    const finding = scanFinding(report, 'number = $2');
    expect(finding?.advice).toBeDefined();
    expect(finding!.suggestion).toContain(
      "-- or: the partial index invoices_tenant_number_live_idx on (tenant_id, number) would serve this query, but its WHERE (status <> 'void'::invoice_status) is not implied by the query's conditions, so the planner cannot use it: add that condition to the query if it is what is meant, or build the index without its WHERE",
    );
    expect(finding!.suggestion!.startsWith(finding!.advice!.sql)).toBe(true);
  });

  it('is used once the statement states its WHERE, and then nothing is reported', () => {
    const query = queryOf(report, 'status <> $3');
    expect(JSON.stringify(query.plan!.root)).toContain('invoices_tenant_number_live_idx');
    expect(scanFinding(report, 'status <> $3')).toBeUndefined();
  });

  it('is not named when the scan states its WHERE', () => {
    const query = queryOf(report, 'number = $2');
    const finding = scanFinding(report, 'number = $2')!;
    expect(unusedPartialIndexes(query, finding, report).map((p) => p.name)).toEqual([
      'invoices_tenant_number_live_idx',
    ]);
    // The same scan, had its filter stated the index's WHERE (and the planner still not used it).
    const scan = (node: PlanNode): PlanNode =>
      node.Filter
        ? { ...node, Filter: `(${node.Filter} AND (status <> 'void'::invoice_status))` }
        : { ...node, ...(node.Plans ? { Plans: node.Plans.map(scan) } : {}) };
    const stated = { ...query, plan: { ...query.plan!, root: scan(query.plan!.root) } };
    expect(unusedPartialIndexes(stated, finding, report)).toEqual([]);
  });
});
