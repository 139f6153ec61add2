/**
 * Rules inside a real run on PostgreSQL: findings land in the report, a `querygate-ignore` comment
 * before a statement of a SQL workload suppresses with its reason (the comment survives the split
 * and the normalization), and config settings apply.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { resolveRules } from '../../src/config/config.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

const SCHEMA = `
CREATE TABLE tickets (id bigint PRIMARY KEY, queue integer NOT NULL, email text NOT NULL, state text NOT NULL);
CREATE INDEX tickets_email_idx ON tickets (email);
INSERT INTO tickets SELECT g, g % 500, 'user' || g || '@example.com', (ARRAY['open', 'closed'])[1 + g % 2]
  FROM generate_series(1, 20000) AS g;
`;

const WORKLOAD = `
-- The support dashboard: reviewed, accepted until the queue table is split.
-- querygate-ignore: seq-scan-large-table queue view is cached for a minute
SELECT count(*) FROM tickets WHERE queue = 42;

SELECT id FROM tickets WHERE lower(email) = 'user17@example.com';

SELECT state FROM tickets WHERE id = 17;
`;

describe('rules in a run on a real PostgreSQL', () => {
  let report: Report;
  const find = (text: string) => report.queries.find((q) => q.query.includes(text))!;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('rules_run', SCHEMA, WORKLOAD, {
      rules: resolveRules({ 'high-db-time-share': 'off', 'non-sargable-predicate': { severity: 'warning' } }),
    });
  });

  it('suppresses a statement with a querygate-ignore comment before it, keeping the reason', () => {
    const dashboard = find('queue =');
    expect(dashboard.query).toContain('querygate-ignore'); // the comment survived the normalization
    expect(dashboard.findings.filter((f) => f.rule === 'seq-scan-large-table')).toEqual([]);
    expect(dashboard.suppressed).toEqual([
      expect.objectContaining({
        rule: 'seq-scan-large-table',
        reason: 'queue view is cached for a minute',
        source: 'comment',
        finding: expect.objectContaining({ severity: 'error', relation: 'public.tickets' }),
      }),
    ]);
  });

  it('flags a function on an indexed column with the configured severity, and the scan it causes', () => {
    const lookup = find('lower(email)');
    const rules = lookup.findings.map((f) => `${f.severity} ${f.rule}`).sort();
    // Both rules see the scan and give the same fix: one finding, the more severe (the config made
    // non-sargable-predicate a warning), naming the other.
    expect(rules).toEqual(['error seq-scan-large-table']);
    const scan = lookup.findings[0]!;
    expect(scan.evidence).toMatchObject({ tableRows: 20000, sameFixAs: 'non-sargable-predicate' });
    // The fix: an expression index (validated on the planner by index advice when it runs).
    expect(scan.advice?.sql ?? scan.suggestion).toMatch(/CREATE INDEX .*public\.tickets.*\(lower\(email\)\)/);
  });

  it('reports nothing at error or warning for a primary-key lookup, and applies rules turned off', () => {
    expect(find('id =').findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(report.queries.flatMap((q) => q.findings).some((f) => f.rule === 'high-db-time-share')).toBe(false);
  });
});
