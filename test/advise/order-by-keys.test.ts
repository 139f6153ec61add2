import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 60,000 products, 95% of them active (a filter that keeps almost every row), in two copies: one
// with an index on (active, price_cents), which serves neither the filter nor the computed order.
// 180,000 price changes, three per product, with no index but the primary key.
const SCHEMA = `
CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, price_cents int NOT NULL, active boolean NOT NULL);
INSERT INTO products SELECT g, 'product ' || g, 500 + (g * 37) % 100000, g % 20 <> 0 FROM generate_series(1, 60000) g;
CREATE TABLE listed (LIKE products INCLUDING ALL);
INSERT INTO listed SELECT * FROM products;
CREATE INDEX listed_active_price_idx ON listed (active, price_cents);
CREATE TABLE price_history (id bigserial PRIMARY KEY, product_id bigint NOT NULL, price_cents int NOT NULL, valid_from timestamptz NOT NULL);
INSERT INTO price_history (product_id, price_cents, valid_from)
SELECT 1 + (g % 60000), 500 + (g * 13) % 100000, timestamptz '2023-01-01' + (g || ' minutes')::interval FROM generate_series(1, 180000) g;
ANALYZE;
`;
const WORKLOAD = `
SELECT id, name, price_cents FROM products WHERE active ORDER BY price_cents * 1.2 + 100 LIMIT 20;
SELECT id, name, price_cents FROM listed WHERE active ORDER BY price_cents * 1.2 + 100 LIMIT 20;
SELECT product_id, valid_from, price_cents, price_cents - lag(price_cents) OVER (PARTITION BY product_id ORDER BY valid_from) AS change
  FROM price_history WHERE valid_from >= '2023-04-01' ORDER BY product_id, valid_from LIMIT 100;
`;

/** The seq-scan-large-table finding of the statement whose text includes `needle`. */
const scanOf = (report: Report, needle: string): Finding | undefined =>
  report.queries.find((q) => q.query.includes(needle))?.findings.find((f) => f.rule === 'seq-scan-large-table');

const EXPRESSION = `(((price_cents)::numeric * 1.2) + '100'::numeric)`;

describe('index advice for the keys of an ORDER BY ... LIMIT (real rules, validated on the planner)', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('order_by_keys', SCHEMA, WORKLOAD, { allowIndexBuild: true });
  });

  it('proposes an index on a computed sort key, validated, named and CONCURRENTLY', () => {
    const finding = scanOf(report, 'FROM products WHERE active');
    expect(finding?.advice?.method).toBe('rollback-build');
    expect(finding?.advice?.sql).toMatch(
      /^CREATE INDEX CONCURRENTLY products_\w+_idx ON public\.products \((active, )?\(\(\(\(price_cents\)::numeric \* 1\.2\) \+ '100'::numeric\)\)\);$/,
    );
    expect(finding?.advice?.sql).toContain(EXPRESSION);
    expect(finding?.advice?.improvement).toBeGreaterThan(0.9);
    expect(finding?.suggestion).not.toContain('not validated');
  });

  it('still validates it when an index on the columns of the filter and of the expression exists', () => {
    const finding = scanOf(report, 'FROM listed WHERE active');
    expect(finding?.advice?.method).toBe('rollback-build');
    expect(finding?.advice?.sql).toMatch(/^CREATE INDEX CONCURRENTLY listed_\w+_idx ON public\.listed /);
    expect(finding?.advice?.sql).toContain(EXPRESSION);
    expect(finding?.suggestion).not.toContain('not validated');
  });

  it('proposes the whole ORDER BY (of a window), not its first key, which leaves the rest to an incremental sort', () => {
    const finding = scanOf(report, 'FROM price_history');
    expect(finding?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY price_history_product_id_valid_from_idx ON public.price_history (product_id, valid_from);',
    );
    expect(finding?.suggestion).not.toContain('incremental sort');
  });
});

describe('index advice that cannot be validated (an external database, no --allow-index-build)', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText(
      'order_by_keys_unvalidated',
      `${SCHEMA}
CREATE TABLE stock (product_id bigint NOT NULL, warehouse int NOT NULL, on_hand int NOT NULL);
INSERT INTO stock SELECT g * 3, 1 + g % 3, g % 50 FROM generate_series(1, 20000) g;
ANALYZE stock;`,
      `${WORKLOAD}
SELECT count(*) FROM products p JOIN stock s ON s.product_id = p.id WHERE p.active AND s.on_hand > 5;`,
    );
  });

  it('never names an index on a column of two values alone for a filter that keeps most rows', () => {
    const fixes = report.queries.flatMap((q) => q.findings.map((f) => f.suggestion ?? ''));
    expect(fixes.some((fix) => fix.includes('not validated'))).toBe(true);
    for (const fix of fixes) expect(fix).not.toMatch(/\((p\.)?active\);/);
    expect(scanOf(report, 'FROM products WHERE active')?.suggestion).toMatch(
      /^CREATE INDEX CONCURRENTLY products_\w+_idx ON public\.products \(.*'100'::numeric\)\)\); -- not validated on the planner$/,
    );
  });

  it('nor an index that leads with a unique key (the join on the primary key) and adds the filter after it', () => {
    const join = report.queries.find((q) => q.query.includes('JOIN stock'))!;
    const products = join.findings.filter((f) => f.relation === 'public.products');
    expect(products.length).toBeGreaterThan(0);
    for (const f of products) expect(f.suggestion ?? '').not.toMatch(/products \(id, active\)|\(active\)/);
  });
});
