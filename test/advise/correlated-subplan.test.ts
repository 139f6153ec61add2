import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderTable } from '../../src/report/table.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles, runSqlText } from '../support/db.js';

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

describe('a correlated subquery that also filters on a column with few distinct values', () => {
  // 60,000 alerts over 1,000 devices, a third of them critical: the subquery runs once for each of
  // the 50 devices of a site, and reads every alert to count one device's critical ones.
  const SCHEMA = `
CREATE TABLE devices (id int PRIMARY KEY, site_id int NOT NULL);
CREATE INDEX devices_site_idx ON devices (site_id);
CREATE TABLE alerts (id bigint PRIMARY KEY, device_id int NOT NULL, severity text NOT NULL);
INSERT INTO devices SELECT g, g % 20 FROM generate_series(1, 1000) g;
INSERT INTO alerts SELECT g, 1 + (g * 7919) % 1000, (ARRAY['info', 'warning', 'critical'])[1 + g % 3]
FROM generate_series(1, 60000) g;
`;
  const WORKLOAD = `SELECT d.id, (SELECT count(*) FROM alerts a WHERE a.device_id = d.id AND a.severity = 'critical')
FROM devices d WHERE d.site_id = 7;`;
  const COMPOSITE =
    /^CREATE INDEX CONCURRENTLY alerts_device_id_severity_idx ON public\.alerts \(device_id, severity\);/;
  const findings = (report: Report) =>
    report.queries
      .flatMap((q) => q.findings)
      .filter((f) => f.rule === 'correlated-subplan' || f.rule === 'seq-scan-large-table');

  beforeAll(async () => {
    await loadParser();
  });

  it('without validation, names the correlation column with the 3-value column, not the latter alone', async () => {
    const report = await runSqlText('correlated_wide', SCHEMA, WORKLOAD);
    expect(report.relations.find((r) => r.table === 'alerts')?.nDistinct?.severity).toBe(3);
    // Both the subquery and the scan under it are flagged, and each names the composite.
    expect(
      findings(report)
        .map((f) => f.rule)
        .sort(),
    ).toEqual(['correlated-subplan', 'seq-scan-large-table']);
    for (const finding of findings(report)) {
      expect(finding.advice).toBeUndefined();
      expect(finding.suggestion).toMatch(COMPOSITE);
      expect(finding.suggestion).toContain('-- not validated on the planner');
      expect(finding.suggestion).not.toContain('(severity)');
    }
  });

  it('validated, the planner picks the same index', async () => {
    const report = await runSqlText('correlated_wide_ok', SCHEMA, WORKLOAD, { allowIndexBuild: true });
    const found = findings(report);
    expect(found).toHaveLength(2);
    for (const finding of found) expect(finding.advice?.sql).toMatch(COMPOSITE);
  });
});

describe('a max() per outer row that walks an index backwards, a few times', () => {
  // max(taken_at) of one device over an index on taken_at alone: each of the 5 runs walks the index
  // backwards until a row of its device comes, reading thousands of rows to keep one. Too few runs
  // to count, but the statement's shared blocks per call say what they cost, without --analyze.
  const SCHEMA = readFileSync(
    fileURLToPath(new URL('../../fixtures/plans/correlated-subplan/latest.sql', import.meta.url)),
    'utf8',
  );
  const WORKLOAD = `-- the latest reading of a site's devices
SELECT d.id, (SELECT max(r.taken_at) FROM readings r WHERE r.device_id = d.id) AS last
  FROM devices d WHERE d.site_id = 3 AND d.id < 500;`;

  beforeAll(async () => {
    await loadParser();
  });

  it('is explained by the subquery, with the validated index on the correlation column and the walked order', async () => {
    const report = await runSqlText('correlated_latest', SCHEMA, WORKLOAD, { allowIndexBuild: true });
    const query = report.queries.find((q) => q.source === "the latest reading of a site's devices");
    expect(query?.plan?.root['Actual Total Time']).toBeUndefined();
    const finding = query?.findings.find((f) => f.rule === 'correlated-subplan');
    expect(finding, JSON.stringify(query?.findings)).toBeDefined();
    expect(finding!.messageId).toBe('blocks');
    expect(finding!.severity).toBe('warning');
    expect(finding!.evidence.subplanBlocks).toBeGreaterThan(10_000);
    expect(finding!.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY readings_device_id_taken_at_idx ON public.readings (device_id, taken_at);',
    );
    // The timing rules, which said only that the statement costs, now point to it.
    for (const timing of query!.findings.filter((f) => f.rule === 'high-db-time-share' || f.rule === 'slow-mean'))
      expect(timing.severity).toBe('info');
  });
});
