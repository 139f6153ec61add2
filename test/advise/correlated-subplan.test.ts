import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderTable } from '../../src/report/table.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/correlated/${name}`, import.meta.url));

const INDEX = 'CREATE INDEX CONCURRENTLY events_order_id_idx ON public.events (order_id);';
const creates = (text: string) => text.match(/CREATE INDEX/g)?.length ?? 0;

describe('index advice for a correlated subquery (real rules, validated on the planner)', () => {
  let report: Report;
  let finding: Finding;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('correlated');
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
    report = await runWorkload({
      workload: loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 }),
      databaseUrl: url,
      allowIndexBuild: true,
    });
    const found = report.queries.flatMap((q) => q.findings).find((f) => f.rule === 'correlated-subplan');
    expect(found, JSON.stringify(report.queries.map((q) => q.findings))).toBeDefined();
    finding = found!;
  });

  it('names the validated index once, beside the rewrite as a join', () => {
    expect(finding.advice?.sql).toBe(INDEX);
    // The rule's own index on the correlation column gives way to the validated one.
    expect(finding.suggestion).toMatch(/^CREATE INDEX CONCURRENTLY events_order_id_idx .* -- or: rewrite the subquery/);
    expect(creates(finding.suggestion!)).toBe(1);
    expect(finding.suggestion).not.toContain('not validated');
  });

  it('prints the index once in the terminal summary and in Markdown', () => {
    const table = renderTable(report, { width: 400 });
    const findings = table.slice(table.indexOf('Findings ('));
    expect(findings).toContain(`fix: ${INDEX}`);
    expect(findings).toMatch(/^ +or: rewrite the subquery as a join/m);
    expect(creates(findings)).toBe(1);
    const markdown = renderMarkdown(report);
    const block = markdown.slice(markdown.indexOf('`correlated-subplan`'), markdown.indexOf('### Plans'));
    expect(block).toContain(INDEX);
    expect(block).toContain('Or: rewrite the subquery as a join');
    expect(creates(block)).toBe(1);
  });
});
