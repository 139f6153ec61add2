/**
 * LIKE and ILIKE whose pattern is not known to start with a literal (a parameter of a generic plan,
 * as an application sends it), on a real PostgreSQL: no B-tree serves them, on the column or on an
 * expression of it. The advice is a trigram GIN index (one per alternative of an OR), validated;
 * never a B-tree the plan would only walk whole for the ORDER BY.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { applyRules } from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { captureClientCalls } from '../support/capture.js';
import { createTestDatabase, withSession } from '../support/db.js';

// 200,000 customers searched by name or email; 300,000 invoice lines, a fifth of them discounts, whose
// description has a B-tree (which a search on lower(description) cannot use).
const SCHEMA = `
CREATE SCHEMA bill;
CREATE TABLE bill.customers (id bigint PRIMARY KEY, tenant_id int NOT NULL, name text NOT NULL, email text NOT NULL);
INSERT INTO bill.customers
SELECT g, 1 + g % 40, 'Customer ' || g || ' ' || (ARRAY['Acme','Globex','Initech','Umbrella','Hooli','Stark'])[1 + g % 6],
       'billing' || g || '@example' || (g % 97) || '.com'
  FROM generate_series(1, 200000) g;
CREATE TABLE bill.lines (id bigint PRIMARY KEY, invoice_id bigint NOT NULL, description text NOT NULL, amount bigint NOT NULL);
INSERT INTO bill.lines
SELECT g, g / 3, (ARRAY['Seat licence','Storage overage','Support plan','Discount','API calls'])[1 + g % 5], g % 1000
  FROM generate_series(1, 300000) g;
CREATE INDEX lines_description_idx ON bill.lines (description);
ANALYZE;
`;
const SEARCH = `SELECT id, name, email FROM bill.customers WHERE name ILIKE $1 OR email ILIKE $1 ORDER BY name LIMIT 20`;
const DISCOUNT = `SELECT invoice_id, sum(amount) FROM bill.lines l WHERE lower(l.description) LIKE '%discount%' GROUP BY invoice_id ORDER BY 2 DESC LIMIT 10`;

const findingOf = (report: Report, needle: string, rule: string) =>
  report.queries.find((q) => q.query.includes(needle))?.findings.find((f) => f.rule === rule);

describe('index advice for LIKE and ILIKE with a pattern not known when planning', () => {
  let report: Report;
  /** The report as the rules left it: their own proposals, no advice. */
  let ruled: Report;
  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('like_patterns');
    await withSession(url, (session) => session.query(SCHEMA));
    report = await captureClientCalls(
      url,
      [
        [SEARCH, ['%acme%']],
        [SEARCH, ['%hooli%']],
        [DISCOUNT, []],
        [DISCOUNT, []],
      ],
      { allowIndexBuild: true },
    );
    ruled = applyRules({ ...report, queries: report.queries.map((q) => ({ ...q, findings: [] })) }, {});
  });

  it('validates a trigram index per alternative of an OR of ILIKEs, not a B-tree walked for the ORDER BY', () => {
    const finding = findingOf(report, 'name ILIKE', 'seq-scan-large-table');
    expect(finding?.advice).toMatchObject({
      sql:
        'CREATE EXTENSION IF NOT EXISTS pg_trgm; ' +
        'CREATE INDEX CONCURRENTLY customers_name_trgm_idx ON bill.customers USING gin (name gin_trgm_ops); ' +
        'CREATE INDEX CONCURRENTLY customers_email_trgm_idx ON bill.customers USING gin (email gin_trgm_ops);',
      method: 'rollback-build',
    });
    expect(finding!.suggestion).not.toMatch(/\(name\)/);
  });

  it("proposes the same trigram indexes from the statement alone (the rule's fix)", () => {
    expect(findingOf(ruled, 'name ILIKE', 'seq-scan-large-table')?.suggestion).toBe(
      'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ON bill.customers USING gin (name gin_trgm_ops); ' +
        'CREATE INDEX ON bill.customers USING gin (email gin_trgm_ops); -- not validated on the planner; the filter is an OR: ' +
        'each alternative needs an index of its own, so that the planner can combine them (BitmapOr); a composite index serves none of them alone',
    );
  });

  it('validates a trigram index on the expression a LIKE compares, never a B-tree on it', () => {
    const finding = findingOf(report, 'lower(l.description)', 'non-sargable-predicate');
    expect(finding?.advice).toMatchObject({
      sql: 'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY lines_lower_description_trgm_idx ON bill.lines USING gin ((lower(description)) gin_trgm_ops);',
      method: 'rollback-build',
    });
  });

  it('proposes the trigram index from the statement alone, with no rewrite on the bare column', () => {
    expect(findingOf(ruled, 'lower(l.description)', 'non-sargable-predicate')?.suggestion).toBe(
      'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ON bill.lines USING gin ((lower(description)) gin_trgm_ops); -- not validated on the planner',
    );
  });
});
