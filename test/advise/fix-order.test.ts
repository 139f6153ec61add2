import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { renderCulprit } from '../../src/report/culprit.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderTable } from '../../src/report/table.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/rewrite/${name}`, import.meta.url));

const REWRITE = 'compare the bare column with a range instead: created_at >= ';

describe('a non-sargable predicate: the rewrite first, then the validated index (real rules, real planner)', () => {
  let report: Report;
  let finding: Finding;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('fix_order');
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
    report = await runWorkload({
      workload: loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 }),
      databaseUrl: url,
      allowIndexBuild: true,
    });
    const found = report.queries.flatMap((q) => q.findings).find((f) => f.rule === 'non-sargable-predicate');
    expect(found, JSON.stringify(report.queries.map((q) => q.findings))).toBeDefined();
    finding = found!;
  });

  it('keeps the validated index, after the rewrite, in the JSON suggestion', () => {
    // The expression index cannot be built (date_trunc on a timestamptz is not IMMUTABLE): the
    // planner's pick serves the other filter.
    expect(finding.advice?.sql).toBe('CREATE INDEX CONCURRENTLY orders_status_idx ON public.orders (status);');
    expect(finding.suggestion?.startsWith(REWRITE)).toBe(true);
    expect(finding.suggestion?.endsWith(` -- or: ${finding.advice?.sql}`)).toBe(true);
  });

  it('prints the rewrite as the fix and the index as the alternative: terminal, demo culprit, Markdown', () => {
    const sql = finding.advice!.sql;
    const table = renderTable(report, { width: 400 });
    expect(table).toMatch(/^ +fix: compare the bare column with a range instead: /m);
    expect(table).toContain(`or: ${sql} (plan cost `);
    expect(table.indexOf('fix: compare the bare column')).toBeLessThan(table.indexOf(`or: ${sql}`));
    const culprit = renderCulprit(report);
    expect(culprit).toMatch(/^ +fix: compare the bare column with a range instead: /m);
    expect(culprit).toMatch(/^ +or: CREATE INDEX CONCURRENTLY orders_status_idx .* \(plan cost \d+ -> \d+\)$/m);
    const markdown = renderMarkdown(report);
    const fix = markdown.indexOf('Fix: compare the bare column with a range instead');
    expect(fix).toBeGreaterThan(0);
    expect(markdown.indexOf('Or (plan cost ', fix)).toBeGreaterThan(fix);
    expect(markdown.indexOf(sql, fix)).toBeGreaterThan(fix);
  });
});
