/**
 * A statement every call of which hit the statement timeout, on a real PostgreSQL: pg_stat_statements
 * records no call of it (calls 0, blocks 0), only its plan is known. An index then makes it run. The
 * zeros of the side that failed are no measurement of its work: `compare` judges the change by its
 * plan cost and its failures, and `budget init` gives it a plan cost limit of its own, so `check` of
 * the report the budget was made from passes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import { renderInitialBudget } from '../../src/budget/init.js';
import { parseBudget } from '../../src/budget/load.js';
import { compareReports } from '../../src/compare/compare.js';
import type { Report } from '../../src/model/report.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-failed-calls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 200 rows per group, each reading ev for its latest event: without an index on ev (t_id), 200
// sequential scans of 300,000 rows, far beyond the statement timeout.
const SCHEMA = `
CREATE TABLE t (id int PRIMARY KEY, grp int NOT NULL);
CREATE INDEX t_grp_idx ON t (grp);
CREATE TABLE ev (id bigserial PRIMARY KEY, t_id int NOT NULL, at timestamptz NOT NULL);
INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 20000) g;
INSERT INTO ev (t_id, at) SELECT 1 + g % 20000, now() - g * interval '1 s' FROM generate_series(1, 300000) g;
`;

const WORKLOAD = `
-- last event per row of a group
SELECT t.id, (SELECT max(e.at) FROM ev e WHERE e.t_id = t.id) FROM t WHERE t.grp = 7;
-- row by id
SELECT id FROM t WHERE id = 5;
`;

const LAST_EVENT = 'last event per row of a group';

describe('a statement whose every call failed', () => {
  let failing: Report;
  let fixed: Report;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('failed_calls');
    await withSession(url, (session) => session.query(`${SCHEMA}; ANALYZE;`));
    const file = join(dir, 'workload.sql');
    writeFileSync(file, WORKLOAD);
    const run = () =>
      runWorkload({
        workload: loadSqlWorkload(file, {}, { repeat: 2, connections: 1, rounds: 1, statementTimeoutMs: 200 }),
        databaseUrl: url,
      });
    failing = await run();
    await withSession(url, (session) => session.query('CREATE INDEX ev_t_id_idx ON ev (t_id); ANALYZE ev;'));
    fixed = await run();
  });

  const lastEvent = (r: Report) => r.queries.find((q) => q.source === LAST_EVENT)!;

  it('is recorded with no successful call where it timed out, and runs with the index', () => {
    expect(lastEvent(failing)).toMatchObject({ calls: 0, errors: 2, sharedBlksPerCall: 0 });
    expect(lastEvent(failing).plan).not.toBeNull();
    expect(lastEvent(fixed)).toMatchObject({ calls: 2, errors: 0 });
    expect(lastEvent(fixed).sharedBlksPerCall).toBeGreaterThan(100);
  });

  it('is an improvement once it runs: its failures and its plan cost fell, and its blocks are not judged against none', () => {
    const c = compareReports(failing, fixed);
    expect(c.verdict).toBe('ok');
    const s = c.statements.find((x) => x.source === LAST_EVENT)!;
    expect(s.verdict).toBe('improvement');
    expect(s.regressions).toEqual([]);
    expect(s.improvements.map((r) => r.messageId)).toEqual(expect.arrayContaining(['plan-cost-down', 'errors-down']));
    expect(s.improvements.map((r) => r.kind)).not.toContain('blocks-per-call');
    expect(s.unmeasured).toMatchObject({ base: true, head: false });
    expect(s.unmeasured!.note).toMatch(/^no successful call in base \(all 2 call\(s\) failed\)/);
    const table = renderComparisonTable(c, { width: 200 });
    expect(table).toMatch(/failed → [\d,]+/);
    expect(table).toContain('errors-down: failed calls 2 of 2 -> 0 of 2 (every call failed in base)');
  });

  it('is a regression when head fails every call that base ran: its errors rose', () => {
    const c = compareReports(fixed, failing);
    expect(c.verdict).toBe('regression');
    const s = c.statements.find((x) => x.source === LAST_EVENT)!;
    expect(s.verdict).toBe('regression');
    expect(s.regressions.map((r) => r.messageId)).toContain('errors-up');
    // Blocks per call of the side with no successful call are not an improvement.
    expect(s.improvements.map((r) => r.kind)).not.toContain('blocks-per-call');
    expect(s.unmeasured).toMatchObject({ base: false, head: true });
  });

  it('gets a plan cost limit of its own from budget init, and check of that report passes', () => {
    const budget = parseBudget(renderInitialBudget(failing, { date: '2030-01-01' }), 'querygate.budget.yaml');
    const own = budget.statements.find((e) => e.fingerprint === lastEvent(failing).fingerprint)!;
    expect(own.maxPlanCost).toBeGreaterThanOrEqual(lastEvent(failing).plan!.totalCost);
    expect(own.maxBlocksPerCall).toBeUndefined();
    const gate = evaluateBudget(failing, budget, { date: '2030-01-01' });
    expect(gate.limits.filter((l) => l.status === 'fail')).toEqual([]);
    expect(gate.passed).toBe(true);
  });
});
