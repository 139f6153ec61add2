/**
 * The N+1 fix querygate suggests, applied, on a real PostgreSQL: an application whose list route looks
 * up 20 authors one by one (`WHERE id = $1`), then in one statement (`WHERE id = ANY($1::int[])`).
 * libpg-query's fingerprint makes the two one statement, so its per-call figures jump (one call does
 * the work of 20): `compare` and the budget from `budget init` must judge it per request, pass the
 * fix, and still fail a batched statement that does more work per request than the loop did, and a
 * new loop on another route.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import { renderInitialBudget } from '../../src/budget/init.js';
import { parseBudget } from '../../src/budget/load.js';
import { compareReports } from '../../src/compare/compare.js';
import type { Budget } from '../../src/model/budget.js';
import type { Report } from '../../src/model/report.js';
import { runHttpWorkload } from '../../src/workload/http/phases.js';
import { loadHttpScenario } from '../../src/workload/http/scenario.js';
import { createTestDatabase, loadSqlFiles } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const LOOKUP = 'SELECT id, name FROM lib.authors WHERE id';

type Mode = 'loop' | 'batched' | 'wide' | 'cast' | 'new-loop';

describe('an N+1 loop batched into one statement, through an application on a real PostgreSQL', () => {
  const reports = {} as Record<Mode, Report>;
  let budget: Budget;
  const lookup = (r: Report) => r.queries.find((q) => q.query.startsWith(LOOKUP))!;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('batched');
    await loadSqlFiles(url, fixture('library.sql'));
    const scenario = loadHttpScenario(fixture('library.yaml'));
    for (const mode of ['loop', 'batched', 'wide', 'cast', 'new-loop'] as const) {
      const workload = { ...scenario, app: { ...scenario.app!, env: { ...scenario.app!.env, LOOKUP: mode } } };
      reports[mode] = await runHttpWorkload({ workload, databaseUrl: url });
    }
    budget = parseBudget(renderInitialBudget(reports.loop), 'querygate.budget.yaml');
  });

  it('compare: the batched loop is an improvement, judged per request', () => {
    // One fingerprint for the lookup and its batched form; per call, the batched one reads far more.
    const [loop, batched] = [lookup(reports.loop), lookup(reports.batched)];
    expect(loop.query).toBe('SELECT id, name FROM lib.authors WHERE id = $1');
    expect(batched.query).toBe('SELECT id, name FROM lib.authors WHERE id = ANY($1::int[])');
    expect(batched.fingerprint).toBe(loop.fingerprint);
    expect(loop.routes).toEqual([{ route: 'list books', callsPerRequest: 20 }]);
    expect(batched.routes).toEqual([{ route: 'list books', callsPerRequest: 1 }]);
    // Per call: a primary-key lookup against 20 of them.
    expect(batched.sharedBlksPerCall).toBeGreaterThan(loop.sharedBlksPerCall * 5);
    expect(batched.rowsPerCall).toBe(20);
    // Per request: no more (three index blocks per author either way).
    expect(batched.sharedBlksPerCall).toBeLessThanOrEqual(loop.sharedBlksPerCall * 20);
    const c = compareReports(reports.loop, reports.batched);
    expect(c.verdict).toBe('ok');
    const s = c.statements.find((x) => x.fingerprint === lookup(reports.loop).fingerprint)!;
    expect(s.regressions).toEqual([]);
    expect(s.verdict).toBe('improvement');
    expect(s.perRequest).toMatchObject({ route: 'list books', callsPerRequest: { base: 20, head: 1 } });
    expect(s.perRequest!.blocks.head).toBeLessThanOrEqual(s.perRequest!.blocks.base);
    expect(s.perRequest!.planCost!.head).toBeLessThan(s.perRequest!.planCost!.base);
    expect(s.improvements.map((r) => r.messageId)).toContain('calls-per-request-down');
    expect(c.routes.find((r) => r.route === 'list books')?.statementsPerRequest).toMatchObject({ base: 21, head: 2 });
  });

  it('compare: a batched statement that does more work per request than the loop is a regression', () => {
    const wide = compareReports(reports.loop, reports.wide);
    expect(wide.verdict).toBe('regression');
    const s = wide.statements.find((x) => x.fingerprint === lookup(reports.loop).fingerprint)!;
    expect(s.regressions.map((r) => r.messageId)).toContain('blocks-per-request-up');
    // Rewritten on id::text: a new statement, judged per request against the lookup it replaces.
    const cast = compareReports(reports.loop, reports.cast);
    expect(cast.verdict).toBe('regression');
    expect(cast.removed.map((r) => r.query)).toEqual(['SELECT id, name FROM lib.authors WHERE id = $1']);
    const added = cast.added.find((a) => a.query.includes('id::text'))!;
    expect(added.regressions.map((r) => r.messageId)).toContain('blocks-per-request-up');
    expect(added.regressions.find((r) => r.messageId === 'blocks-per-request-up')?.message).toMatch(
      /^shared blocks per request .* on list books \(20 -> 1 calls per request, .* per call\) against the removed statement it replaces/,
    );
  });

  it("budget init's budget passes the loop and its batched form, and fails worse work per request", () => {
    const loopGate = evaluateBudget(reports.loop, budget);
    expect(loopGate.passed).toBe(true);
    const batched = evaluateBudget(reports.batched, budget);
    expect(batched.limits.filter((l) => l.status === 'fail')).toEqual([]);
    expect(batched.passed).toBe(true);
    const entry = budget.statements.findIndex((s) => s.fingerprint === lookup(reports.loop).fingerprint);
    expect(budget.statements[entry]).toMatchObject({ callsPerRequest: 20 });
    const perRequest = batched.limits.find((l) => l.field === `statements[${entry}].maxBlocksPerCall`)!;
    expect(perRequest.measurements[0]).toMatchObject({
      passed: true,
      perRequest: { route: 'list books', callsPerRequest: 1, budgetCallsPerRequest: 20 },
    });

    const wide = evaluateBudget(reports.wide, budget, { failOn: 'never' });
    expect(wide.limits.filter((l) => l.status === 'fail').map((l) => l.field)).toContain(
      `statements[${entry}].maxBlocksPerCall`,
    );
    // The rewrite on id::text is a new statement: the default entry's limits catch its scan.
    const cast = evaluateBudget(reports.cast, budget, { failOn: 'never' });
    expect(cast.limits.filter((l) => l.status === 'fail').map((l) => l.field)).toContain(
      `statements[${budget.statements.length - 1}].maxBlocksPerCall`,
    );
  });

  it("budget init's budget fails a new N+1 loop on a route that had none", () => {
    const gate = evaluateBudget(reports['new-loop'], budget);
    expect(gate.passed).toBe(false);
    const route = budget.routes!.findIndex((r) => r.route === 'book by id');
    expect(gate.limits.filter((l) => l.status === 'fail').map((l) => l.field)).toEqual([
      `routes[${route}].maxStatementsPerRequest`,
      `statements[${budget.statements.length - 1}].maxCallsPerRequest`,
    ]);
  });
});
