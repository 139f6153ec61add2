import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

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

  it('without a filter, says nothing of rare values, and what sorts the rest of the ORDER BY', () => {
    const finding = advisedOf(report, 'amount DESC, sale_id');
    expect(finding?.advice?.sql).toBe('CREATE INDEX CONCURRENTLY sales_customer_id_idx ON public.sales (customer_id);');
    expect(finding?.suggestion).toBe(
      `${finding?.advice?.sql} -- it gives the order of customer_id, and the rows of each customer_id are sorted by amount DESC, sale_id as they come (an incremental sort)`,
    );
  });

  it('under an OFFSET, says where it was validated, and what sorts the rest of the ORDER BY', () => {
    const finding = advisedOf(report, 'OFFSET');
    expect(finding?.advice?.sql).toBe('CREATE INDEX CONCURRENTLY sales_customer_id_idx ON public.sales (customer_id);');
    const index = finding?.suggestion?.split(' -- or: ').find((fix) => fix.startsWith('CREATE INDEX'));
    expect(index).toBe(
      `${finding?.advice?.sql} -- validated at OFFSET 1,000: every call still walks the index through the rows it skips; ` +
        'it gives the order of customer_id, and the rows of each customer_id are sorted by amount DESC as they come (an incremental sort)',
    );
    expect(index).not.toMatch(/filter|rare value/);
  });

  it('with a filter, warns that the LIMIT stops early only when the filter keeps many rows', () => {
    const finding = advisedOf(report, 'store_id <>');
    expect(finding?.advice?.sql).toBe('CREATE INDEX CONCURRENTLY sales_customer_id_idx ON public.sales (customer_id);');
    expect(finding?.suggestion).toContain(
      ' -- it serves the ORDER BY only: the LIMIT stops early when the filter keeps many rows, and a rare value walks the whole index',
    );
  });
});
