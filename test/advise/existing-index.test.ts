import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adviseDetails } from '../../src/advise/advise.js';
import { generateCandidates } from '../../src/advise/candidates.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { openSession } from '../../src/target/pg.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

// 200,000 products with a trigram index on name. "red" is in the last 2% of the rows: the planner
// estimates 2% from its statistics and expects a LIMIT 20 to stop a sequential scan after ~1,000
// rows, which it costs below the index; the scan then reads almost the whole table.
const SCHEMA = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE products (product_id int PRIMARY KEY, name text NOT NULL, brand text NOT NULL);
INSERT INTO products
SELECT g, 'product ' || md5(g::text) || CASE WHEN g > 196000 THEN ' red' ELSE ' blue' END, 'brand ' || (g % 300)
  FROM generate_series(1, 200000) AS g;
CREATE INDEX products_name_idx ON products (name);
CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops);
-- A sample of every row (300 x the statistics target): the same estimate on every run.
ALTER TABLE products ALTER COLUMN name SET STATISTICS 1000;
ANALYZE products;
`;
const WORKLOAD = `SELECT product_id, name FROM products WHERE name LIKE '%red%' LIMIT 20;`;

const dir = mkdtempSync(join(tmpdir(), 'querygate-existing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const escape = (text: string) => text.replace(/[.*+?^$()[\]{}|\\]/g, '\\$&');

describe('an index the table has already is named, with why the planner does not use it, not proposed again', () => {
  let url: string;
  let report: Report;
  let finding: Finding;
  const statements = () =>
    report.queries.map((q) => ({ fingerprint: q.fingerprint, sql: WORKLOAD.slice(0, -1), paramCount: 0 }));

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('existing_index');
    await withSession(url, (s) => s.query(SCHEMA));
    writeFileSync(join(dir, 'workload.sql'), WORKLOAD);
    const workload = loadSqlWorkload(join(dir, 'workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
    report = await runWorkload({ workload, databaseUrl: url, allowIndexBuild: true });
    finding = report.queries[0]!.findings.find((f) => f.rule === 'seq-scan-large-table')!;
    expect(finding, JSON.stringify(report.queries[0]!.findings)).toBeDefined();
  });

  it('names the trigram index and the LIMIT the planner expects to stop the scan early', () => {
    expect(report.queries[0]!.plan!.root.Plans?.[0]?.['Node Type']).toBe('Seq Scan');
    expect(finding.suggestion).toMatch(
      new RegExp(
        `^${escape("the index products_name_trgm_idx (USING gin (name gin_trgm_ops)) exists and serves name LIKE '%red%', but the planner chose this scan over it: ")}` +
          "it expects the LIMIT to stop the scan after ~[\\d,]+ of the table's 200,000 rows, which costs less than reading the index first; " +
          'it read about [\\d,]+, more than it expected: ',
      ),
    );
    expect(finding.suggestion).not.toMatch(/CREATE INDEX|no index helps/);
    expect(finding.advice).toBeUndefined();
  });

  it('index advice marks a candidate the table has as existing, builds nothing, and names it instead', async () => {
    const query = report.queries[0]!;
    const trigram = generateCandidates(query, finding, report, { trigram: true, existing: true }).find(
      (c) => c.keys[0] === 'name gin_trgm_ops',
    );
    expect(trigram?.existing).toBe('products_name_trgm_idx');
    // Not asked for, an index the table has is no candidate at all.
    expect(
      generateCandidates(query, finding, report, { trigram: true }).some((c) => c.keys[0] === 'name gin_trgm_ops'),
    ).toBe(false);
    // A suggestion that proposes the index again (as the rule did before it knew of the index).
    const proposed: Report = {
      ...report,
      queries: [
        {
          ...query,
          findings: [
            {
              ...finding,
              suggestion:
                'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ON public.products USING gin (name gin_trgm_ops); -- not validated on the planner',
            },
          ],
        },
      ],
    };
    const session = await openSession(url);
    try {
      const advised = await adviseDetails(session, proposed, { statements: statements(), allowIndexBuild: true });
      const [result] = advised.findings;
      expect(result?.results.find((r) => r.candidate.existing)?.note).toBe(
        'the index products_name_trgm_idx exists already',
      );
      expect(result?.results.find((r) => r.candidate.existing)?.method).toBeUndefined();
      const suggestion = advised.report.queries[0]!.findings[0]!.suggestion;
      expect(suggestion).toMatch(
        /^the index products_name_trgm_idx \(USING gin \(name gin_trgm_ops\)\) exists and serves this condition \(wildcard search on name\), but the planner chose this scan over it: it expects the LIMIT to stop the scan/,
      );
      expect(suggestion).not.toContain('CREATE INDEX');
    } finally {
      await session.close();
    }
  });
});
