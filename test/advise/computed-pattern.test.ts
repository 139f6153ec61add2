/**
 * LIKE with a pattern computed at run time (`'%' || k::text || '%'`), on a real PostgreSQL: inside
 * a PL/pgSQL function the plan is generic, the pattern an expression of the function's variable.
 * Its leading part may be a wildcard, so no B-tree serves it: the advice is a trigram index,
 * validated. A pattern that is a bare variable is not known when planning either: the same.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { applyRules } from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 200,000 orders whose note names the customer; two functions search the notes.
const SCHEMA = `
CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, note text NOT NULL);
INSERT INTO orders SELECT g, g % 20000, 'customer ' || (g % 20000) || repeat(' x', 20) FROM generate_series(1, 200000) g;
ANALYZE orders;
CREATE FUNCTION order_count_like(k int) RETURNS bigint LANGUAGE plpgsql STABLE AS $fn$
DECLARE n bigint;
BEGIN
  SELECT count(*) INTO n FROM orders o WHERE o.note LIKE '%' || k::text || '%';
  RETURN n;
END
$fn$;
CREATE FUNCTION order_count_pattern(p text) RETURNS bigint LANGUAGE plpgsql STABLE AS $fn$
DECLARE n bigint;
BEGIN
  SELECT count(*) INTO n FROM orders o WHERE o.note LIKE p;
  RETURN n;
END
$fn$;
`;

const WORKLOAD = `SELECT order_count_like(1234);
SELECT order_count_pattern('customer 1234 %');
`;

function scanFinding(report: Report, text: string): Finding | undefined {
  const query = report.queries.find((q) => q.nested && q.query.includes(text));
  return query?.findings.find((f) => f.rule === 'seq-scan-large-table');
}

describe('LIKE with a computed pattern inside a function', () => {
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    // The shared server is an external database to the run: --allow-index-build validates as the
    // embedded database always does.
    report = await runSqlText('computed_pattern', SCHEMA, WORKLOAD, { allowIndexBuild: true });
  });

  it('proposes a trigram index from the statement alone, not a B-tree', () => {
    const bare: Report = { ...report, queries: report.queries.map((q) => ({ ...q, findings: [] })) };
    const ruled = applyRules(bare, {});
    expect(scanFinding(ruled, '||')?.suggestion).toBe(
      'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ON public.orders USING gin (note gin_trgm_ops); -- not validated on the planner',
    );
  });

  it('validates the trigram index on the planner', () => {
    const finding = scanFinding(report, '||');
    expect(finding?.advice).toMatchObject({
      sql: 'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY orders_note_trgm_idx ON public.orders USING gin (note gin_trgm_ops);',
      method: 'rollback-build',
    });
    expect(finding!.advice!.costAfter).toBeLessThan(finding!.advice!.costBefore / 2);
  });

  it('proposes and validates a trigram index for a pattern that is a bare variable, which a generic plan never knows', () => {
    const query = report.queries.find((q) => q.nested && q.query.includes('LIKE') && !q.query.includes('||'));
    const bare: Report = { ...report, queries: report.queries.map((q) => ({ ...q, findings: [] })) };
    const ruled = applyRules(bare, {});
    const proposed = ruled.queries
      .find((q) => q.fingerprint === query?.fingerprint)
      ?.findings.find((f) => f.rule === 'seq-scan-large-table');
    expect(proposed?.suggestion).toBe(
      'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ON public.orders USING gin (note gin_trgm_ops); -- not validated on the planner',
    );
    const finding = query?.findings.find((f) => f.rule === 'seq-scan-large-table');
    expect(finding?.advice).toMatchObject({
      sql: 'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY orders_note_trgm_idx ON public.orders USING gin (note gin_trgm_ops);',
      method: 'rollback-build',
    });
    expect(report.warnings.join('\n')).not.toContain('is not one the advice could judge');
  });
});
