import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 120,000 events of 100 tenants over 90 days, an index on created_at. A LATERAL subquery scans the
// events once per tenant with `tenant_id = t.id AND created_at >= ...`: the whole filter keeps
// ~0.3% of the rows, but the condition the index serves, on created_at, keeps a third of them.
const SCHEMA = `
CREATE TABLE tenants (id int PRIMARY KEY, plan text NOT NULL);
INSERT INTO tenants SELECT g, CASE WHEN g % 10 = 0 THEN 'enterprise' ELSE 'free' END FROM generate_series(1, 100) AS g;
CREATE TABLE events (id bigint PRIMARY KEY, tenant_id int NOT NULL, user_id int NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO events
SELECT g, g % 100 + 1, g % 5000, timestamptz '2025-01-01' + (g % 90) * interval '1 day' + (g % 997) * interval '1 minute'
  FROM generate_series(1, 120000) AS g;
CREATE INDEX events_created_at_idx ON events (created_at);
ANALYZE tenants, events;
`;
const WORKLOAD = `SELECT t.id, x.user_id, x.n FROM tenants t
CROSS JOIN LATERAL (SELECT user_id, count(*) AS n FROM events e
  WHERE e.tenant_id = t.id AND e.created_at >= '2025-01-31'
  GROUP BY user_id ORDER BY n DESC LIMIT 3) x
WHERE t.plan = 'enterprise';
`;

function scanFinding(report: Report): Finding {
  const finding = report.queries
    .flatMap((q) => q.findings)
    .find((f) => f.rule === 'seq-scan-large-table' && f.relation === 'public.events');
  expect(finding).toBeDefined();
  return finding!;
}

describe('seq-scan-large-table: an index on the filter when the scan filter holds a join condition', () => {
  let plain: Report;
  let analyzed: Report;

  beforeAll(async () => {
    await loadParser();
    plain = await runSqlText('join_in_filter', SCHEMA, WORKLOAD);
    analyzed = await runSqlText('join_in_filter_an', SCHEMA, WORKLOAD, { analyze: true });
  });

  it('gives the share kept by the conditions the index serves, leaving the join condition out', () => {
    for (const report of [plain, analyzed]) {
      const text = scanFinding(report).suggestion ?? '';
      expect(text).toMatch(
        /the index events_created_at_idx already leads with created_at, and the planner chose this scan over it: by the table's statistics the filter without its join condition keeps ~6\d% of the rows \(the join condition e\.tenant_id = t\.id, which compares with another table's column, which the index does not serve, left out\), too many for the index to pay off/,
      );
      expect(text).not.toMatch(/keeps ~0\.\d%|under 0\.1%/);
    }
  });

  it('does not ask for --analyze in a run that has it', () => {
    const query = analyzed.queries.find((q) => q.query.includes('LATERAL'))!;
    expect(query.plan?.mode).toBe('analyze');
    const text = JSON.stringify(query.findings);
    expect(text).not.toContain('with --analyze');
    expect(scanFinding(analyzed).suggestion).toMatch(
      /or compare the planner's row estimates with the rows counted in the plan \(EXPLAIN ANALYZE\)/,
    );
    expect(scanFinding(plain).suggestion).toMatch(/or check the row estimates with --analyze/);
  });
});
