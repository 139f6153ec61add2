/**
 * GIN indexes for jsonb and array operators (`@>`, `?`, `&&`), on a real PostgreSQL: proposed by
 * seq-scan-large-table from the statement alone, proposed as candidates from the plan's Filter, and
 * validated by a build in a rolled-back transaction (HypoPG cannot simulate GIN).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ginOperatorClass } from '../../src/analyze/column-predicates.js';
import { applyRules } from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles, withSession } from '../support/db.js';
import { withoutOtherStatements } from '../support/advice.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-gin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 100,000 products of 100 brands, imported brand by brand (a brand's rows share pages); one brand's
// products carry the clearance tag. A wide description makes reading the table dear.
const SCHEMA = `
CREATE TABLE products (
  id          bigint PRIMARY KEY,
  title       text NOT NULL,
  attributes  jsonb NOT NULL,
  tags        text[] NOT NULL,
  description text NOT NULL
);
INSERT INTO products
SELECT g, 'product ' || g,
       jsonb_build_object('brand', 'brand' || (g / 1000), 'color', 'c' || (g % 7))
         || CASE WHEN g % 5000 = 0 THEN '{"recalled": true}'::jsonb ELSE '{}'::jsonb END,
       CASE WHEN g / 1000 = 42 THEN ARRAY['clearance', 't' || (g % 50)] ELSE ARRAY['t' || (g % 50)] END,
       repeat('a product description ', 10)
  FROM generate_series(1, 100000) AS g;
-- Statistics now, not whenever autovacuum gets to it: the plans must not depend on the timing. A
-- sample of the whole table (300 x 1000 rows > 100,000) makes them the same in every run: with the
-- default 30,000-row sample the planner's estimate for @> moved a GIN index's cut from 79% to 57%.
ALTER TABLE products ALTER COLUMN attributes SET STATISTICS 1000, ALTER COLUMN tags SET STATISTICS 1000;
ANALYZE products;
`;

const WORKLOAD = `
SELECT id, title FROM products WHERE attributes @> '{"brand":"brand42"}';

SELECT id FROM products WHERE tags && ARRAY['clearance'];

SELECT id FROM products WHERE attributes ? 'recalled';
`;

describe('ginOperatorClass', () => {
  it.each([
    ['@>', 'jsonb', 'jsonb_path_ops'],
    ['?', 'jsonb', 'jsonb_ops'],
    ['?|', 'jsonb', 'jsonb_ops'],
    ['?&', 'jsonb', 'jsonb_ops'],
    ['<@', 'jsonb', undefined], // no GIN operator class of jsonb serves it
    ['&&', 'text[]', 'array_ops'],
    ['@>', 'integer[]', 'array_ops'],
    ['<@', 'text[]', 'array_ops'],
    ['&&', 'tstzrange', undefined], // a range overlap is GiST's
    ['@>', 'json', undefined],
    ['@>', undefined, undefined],
  ] as const)('%s on %s: %s', (operator, type, expected) => {
    expect(ginOperatorClass(operator, type)).toBe(expected);
  });
});

describe('GIN advice for jsonb and array operators', () => {
  let url: string;
  let report: Report;
  let statements: { fingerprint: string; sql: string }[];
  const find = (r: Report, text: string) => r.queries.find((q) => q.query.includes(text))!;
  const scanFinding = (r: Report, text: string) =>
    find(r, text).findings.find((f) => f.rule === 'seq-scan-large-table');

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('gin');
    writeFileSync(join(dir, 'schema.sql'), SCHEMA);
    writeFileSync(join(dir, 'workload.sql'), WORKLOAD);
    await loadSqlFiles(url, join(dir, 'schema.sql'));
    const workload = loadSqlWorkload(join(dir, 'workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
    statements = workload.statements.map((s) => ({ fingerprint: s.fingerprint, sql: s.sql }));
    report = await runWorkload({ workload, databaseUrl: url, allowIndexBuild: true });
  });

  it('proposes a GIN index from the statement alone (seq-scan-large-table, without index advice)', () => {
    const bare: Report = { ...report, queries: report.queries.map((q) => ({ ...q, findings: [] })) };
    const ruled = applyRules(bare, { statements });
    expect(scanFinding(ruled, '@>')?.suggestion).toBe(
      'CREATE INDEX ON public.products USING gin (attributes jsonb_path_ops); -- not validated on the planner',
    );
    expect(scanFinding(ruled, '&&')?.suggestion).toBe(
      'CREATE INDEX ON public.products USING gin (tags); -- not validated on the planner',
    );
    // A key-exists operator needs the default jsonb_ops: jsonb_path_ops does not serve `?`.
    expect(scanFinding(ruled, 'attributes ?')?.suggestion).toBe(
      'CREATE INDEX ON public.products USING gin (attributes); -- not validated on the planner',
    );
  });

  it('validates the GIN index by a rolled-back build, and it lowers the cost', async () => {
    const cases = [
      [
        '@>',
        'CREATE INDEX CONCURRENTLY products_attributes_path_idx ON public.products USING gin (attributes jsonb_path_ops);',
      ],
      ['&&', 'CREATE INDEX CONCURRENTLY products_tags_gin_idx ON public.products USING gin (tags);'],
      [
        'attributes ?',
        'CREATE INDEX CONCURRENTLY products_attributes_gin_idx ON public.products USING gin (attributes);',
      ],
    ] as const;
    for (const [text, sql] of cases) {
      const finding = scanFinding(report, text);
      expect(finding?.advice, text).toMatchObject({ sql, method: 'rollback-build' });
      expect(finding!.advice!.costAfter).toBeLessThan(finding!.advice!.costBefore / 2);
      expect(withoutOtherStatements(finding!.suggestion)).toBe(sql);
    }
    // Rolled back: only the primary key is left.
    const indexes = await withSession(url, (s) =>
      s.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'products'`),
    );
    expect(indexes.rows.map((r) => r.name)).toEqual(['products_pkey']);
  });
});
