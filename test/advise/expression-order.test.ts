import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 240,000 events in three monthly partitions, half of them tenant 1's, with an index on created_at.
// Campaign 'c7' is rare: the planner walks the created_at index of each partition backwards (a
// Merge Append in created_at order) and filters on the tenant and the campaign, expecting the LIMIT
// to stop early. An index on the tenant, the campaign expression and then created_at finds the rows
// in order.
const SCHEMA = `
CREATE TABLE events (id bigint NOT NULL, tenant_id int NOT NULL, created_at timestamptz NOT NULL,
  properties jsonb NOT NULL) PARTITION BY RANGE (created_at);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM ('2025-02-01') TO ('2025-03-01');
CREATE TABLE events_3 PARTITION OF events FOR VALUES FROM ('2025-03-01') TO ('2025-04-01');
INSERT INTO events
SELECT g, CASE WHEN g % 2 = 0 THEN 1 ELSE g % 100 END, timestamptz '2025-01-01' + (g % 86400) * interval '90 seconds',
  jsonb_build_object('campaign', 'c' || (g % 300), 'path', '/p/' || (g % 50))
  FROM generate_series(1, 240000) AS g;
CREATE INDEX events_created_at_idx ON events (created_at);
ANALYZE events;
`;
const WORKLOAD = `SELECT id, created_at, properties->>'path' AS path FROM events
WHERE tenant_id = 1 AND properties->>'campaign' = 'c7' AND created_at >= '2025-01-15'
ORDER BY created_at DESC LIMIT 100;
`;

describe('index advice: equality on columns and an expression, then the ORDER BY, under a LIMIT', () => {
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('expression_order', SCHEMA, WORKLOAD, { allowIndexBuild: true });
  });

  it('proposes and validates (tenant_id, (the expression), created_at)', () => {
    const findings = report.queries.flatMap((q) => q.findings).filter((f) => f.relation === 'public.events');
    const advised = findings.find((f) => f.advice !== undefined);
    expect(advised, JSON.stringify(findings.map((f) => [f.rule, f.suggestion]))).toBeDefined();
    expect(advised!.advice!.kind ?? 'index').toBe('index');
    expect(advised!.suggestion).toMatch(
      /^CREATE INDEX events_tenant_id_properties_created_at_idx ON public\.events \(tenant_id, \(\(properties ->> 'campaign'::text\)\), created_at\);/,
    );
  });
});
