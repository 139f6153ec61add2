import { beforeAll, describe, expect, it } from 'vitest';
import { incrementalSortNote } from '../../src/advise/advise.js';
import { generateCandidates } from '../../src/advise/candidates.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';
import { withoutOtherStatements } from '../support/advice.js';

// 200,000 sales; no index but the primary key. A page in an order that starts with customer_id, with
// and without an OFFSET, and with a filter.
const SCHEMA = `
CREATE TABLE sales (sale_id bigint PRIMARY KEY, customer_id int, store_id int NOT NULL, amount numeric(12,2) NOT NULL);
INSERT INTO sales SELECT g, 1 + (g * 17) % 40000, 1 + (g * 13) % 200, ((g * 37) % 20000) / 100.0
  FROM generate_series(1, 200000) AS g;
ANALYZE sales;
`;
const WORKLOAD = `
SELECT sale_id, customer_id, amount FROM sales ORDER BY customer_id, amount DESC LIMIT 100 OFFSET 1000;
SELECT sale_id, customer_id, amount FROM sales ORDER BY customer_id, amount DESC, sale_id LIMIT 100;
SELECT sale_id, customer_id FROM sales WHERE store_id <> 7 ORDER BY customer_id LIMIT 100;
`;

/** The advised finding of the statement whose text includes `needle`. */
const advisedOf = (report: Report, needle: string): Finding | undefined =>
  report.queries.find((q) => q.query.includes(needle))?.findings.find((f) => f.advice !== undefined);

describe('an index that serves only the ORDER BY ... LIMIT: what the suggestion says follows the statement', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('order_caveat', SCHEMA, WORKLOAD, { allowIndexBuild: true });
  });

  it('without a filter, proposes the whole ORDER BY, directions included, and says nothing of rare values', () => {
    const finding = advisedOf(report, 'amount DESC, sale_id');
    expect(finding?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY sales_customer_id_amount_sale_id_idx ON public.sales (customer_id, amount DESC, sale_id);',
    );
    expect(withoutOtherStatements(finding?.suggestion)).toBe(finding?.advice?.sql);
  });

  it('under an OFFSET, says where it was validated', () => {
    const finding = advisedOf(report, 'OFFSET');
    expect(finding?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY sales_customer_id_amount_idx ON public.sales (customer_id, amount DESC);',
    );
    const index = withoutOtherStatements(finding?.suggestion)
      ?.split(' -- or: ')
      .find((fix) => fix.startsWith('CREATE INDEX'));
    expect(index).toBe(
      `${finding?.advice?.sql} -- validated at OFFSET 1,000: every call still walks the index through the rows it skips`,
    );
    expect(index).not.toMatch(/filter|rare value/);
  });

  it('names what an index on the first ORDER BY key leaves to an incremental sort', () => {
    const finding = advisedOf(report, 'amount DESC, sale_id')!;
    const partial = generateCandidates(
      report.queries.find((q) => q.query.includes('amount DESC, sale_id'))!,
      finding,
      report,
      {
        trigram: false,
      },
    ).find((c) => c.keys.join(', ') === 'customer_id');
    expect(partial && incrementalSortNote(partial)).toBe(
      'it gives the order of customer_id, and the rows of each customer_id are sorted by amount DESC, sale_id as they come (an incremental sort)',
    );
  });

  it('with a filter, warns that the LIMIT stops early only when the filter keeps many rows', () => {
    const finding = advisedOf(report, 'store_id <>');
    expect(finding?.advice?.sql).toBe('CREATE INDEX CONCURRENTLY sales_customer_id_idx ON public.sales (customer_id);');
    expect(finding?.suggestion).toContain(
      ' -- it serves the ORDER BY only: the LIMIT stops early when the filter keeps many rows, and a rare value walks the whole index',
    );
  });
});

describe('a search under a LIMIT over a sequential scan: the verdict speaks of a scan, not of an ordered walk', () => {
  // 200,000 products without a trigram index; "red" is in the last 2% of the rows, which the
  // planner expects a LIMIT 20 to find after ~1,000 of them.
  const PRODUCTS = `
CREATE TABLE products (product_id int PRIMARY KEY, name text NOT NULL);
INSERT INTO products
SELECT g, 'product ' || md5(g::text) || CASE WHEN g > 196000 THEN ' red' ELSE ' blue' END FROM generate_series(1, 200000) AS g;
-- A sample of every row (300 x the statistics target): the same estimate on every run.
ALTER TABLE products ALTER COLUMN name SET STATISTICS 1000;
ANALYZE products;
`;
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText(
      'order_caveat_scan',
      PRODUCTS,
      `SELECT product_id, name FROM products WHERE name LIKE '%red%' LIMIT 20;`,
      {
        allowIndexBuild: true,
      },
    );
  });

  it('says the LIMIT stops the scan, and that the scan reads more', () => {
    const query = report.queries[0]!;
    expect(query.plan!.root.Plans?.[0]?.['Node Type']).toBe('Seq Scan');
    const finding = query.findings.find((f) => f.rule === 'seq-scan-large-table');
    expect(finding?.suggestion).toMatch(
      /^no index clearly helps under the LIMIT: with an index on \(name gin_trgm_ops\) .*: it expects the LIMIT to stop its scan after ~[\d.]+% of it\. Without the LIMIT .* makes the scan read far more: /,
    );
    expect(finding?.suggestion).not.toContain('walk');
  });
});
