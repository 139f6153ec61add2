/**
 * Timing findings in a real run on PostgreSQL: their words follow how the plan was made, and a
 * finding whose index advice was validated is what explains a slow statement's time.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { resolveRules } from '../../src/config/config.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

const SCHEMA = `
CREATE TABLE invoices (id bigint PRIMARY KEY, issued_at timestamptz NOT NULL);
CREATE TABLE invoice_lines (
  id bigint PRIMARY KEY, invoice_id bigint NOT NULL, description text NOT NULL, quantity integer NOT NULL,
  note text NOT NULL
);
INSERT INTO invoices SELECT g, timestamptz '2022-01-01' + g * interval '30 minutes' FROM generate_series(1, 20000) AS g;
INSERT INTO invoice_lines
SELECT (i.id - 1) * 3 + l, i.id, 'item ' || md5(i.id::text || l), 1 + (i.id + l) % 10, repeat('x', 500)
  FROM invoices i CROSS JOIN generate_series(1, 3) AS l;
`;

// A page of a year's invoice lines by description: the whole table (wide rows: its scan is half of
// the plan's cost) is read and sorted for 100 rows, and an index on description lets the planner walk
// it in order instead. Then a sum over the whole
// table, which no index helps.
const WORKLOAD = `
WITH lines AS (
  SELECT l.invoice_id, l.description, l.quantity
    FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
   WHERE i.issued_at >= '2022-01-01' AND i.issued_at < '2023-01-01'
)
SELECT invoice_id, description, quantity FROM lines ORDER BY description LIMIT 100 OFFSET 100;

SELECT sum(quantity) FROM invoice_lines;
`;

describe('timing findings in a run on a real PostgreSQL', () => {
  let report: Report;
  const find = (text: string) => report.queries.find((q) => q.query.includes(text))!;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('timing_advice', SCHEMA, WORKLOAD, {
      allowIndexBuild: true,
      // Every statement here is "slow": the timing rule fires on each, as on a large table.
      rules: resolveRules({ 'slow-mean': { thresholdMs: 0 }, 'high-db-time-share': 'off' }),
    });
  });

  it('makes the finding with a validated index the warning, and the slow mean its context pointing to the fix', () => {
    const page = find('ORDER BY description');
    expect(page.plan?.mode).toBe('literal');
    const scan = page.findings.find((f) => f.rule === 'seq-scan-large-table')!;
    expect(scan.advice?.improvement).toBeGreaterThanOrEqual(0.5);
    expect(scan).toMatchObject({ severity: 'warning', evidence: expect.objectContaining({ raisedBy: 'slow-mean' }) });
    const slow = page.findings.find((f) => f.rule === 'slow-mean')!;
    expect(slow.severity).toBe('info');
    expect(slow.evidence.explainedBy).toBe('seq-scan-large-table');
    expect(slow.suggestion).toMatch(
      /^seq-scan-large-table on public\.invoice_lines has a validated index that lowers its plan cost from \d+ to \d+ \(\d+%\): CREATE INDEX CONCURRENTLY \S+ ON public\.invoice_lines \(description\);$/,
    );
    // One warning for one slow statement.
    expect(page.findings.filter((f) => f.severity !== 'info')).toHaveLength(1);
  });

  it('says how a literal plan was made when no rule explains the time', () => {
    const sum = find('sum(quantity)');
    expect(sum.plan?.mode).toBe('literal');
    const slow = sum.findings.find((f) => f.rule === 'slow-mean')!;
    expect(slow.severity).toBe('warning');
    expect(slow.suggestion).toMatch(
      /^no rule explains its time from its plan \(made with the statement as written\), whose costliest node is /,
    );
    expect(slow.suggestion).not.toContain('generic');
  });
});
