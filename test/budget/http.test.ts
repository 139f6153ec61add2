/**
 * Budgets on an HTTP report: per-route limits, the default entry's loop limit, and per-call limits
 * judged per request once an N+1 loop is batched. On a real HTTP report of the sample application,
 * whose "recent orders" route runs the customer lookup 20 times per request.
 */
import { describe, expect, it } from 'vitest';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import { initialBudget, LOOP_CALLS_PER_REQUEST, renderInitialBudget } from '../../src/budget/init.js';
import { parseBudget } from '../../src/budget/load.js';
import type { Budget, GateResult } from '../../src/model/budget.js';
import type { QueryReport, Report, RouteReport } from '../../src/model/report.js';
import { renderGateText } from '../../src/report/gate-text.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { httpBase } from '../compare/support.js';

const report = httpBase;
const lookup = report.queries.find((q) => q.query.startsWith('SELECT id, name, email FROM shop.customers'))!;
const recent = report.routes!.find((r) => r.name === 'recent orders')!;
const orderById = report.routes!.find((r) => r.name === 'order by id')!;

function budget(parts: Partial<Budget>): Budget {
  return { limits: {}, statements: [], rules: {}, accepted: [], lines: {}, ...parts };
}

function withQueries(r: Report, change: (q: QueryReport) => Partial<QueryReport>, routes?: RouteReport[]): Report {
  return { ...r, queries: r.queries.map((q) => ({ ...q, ...change(q) })), ...(routes ? { routes } : {}) };
}

/** The lookup batched into one `= ANY($1)` call per request (the same fingerprint). */
function batched(blocks: number, cost: number): Report {
  return withQueries(
    report,
    (q) =>
      q.fingerprint === lookup.fingerprint
        ? {
            query: 'SELECT id, name, email FROM shop.customers WHERE id = ANY($1)',
            calls: 250,
            sharedBlksPerCall: blocks,
            rowsPerCall: 20,
            plan: { ...q.plan!, totalCost: cost },
            routes: [{ route: 'recent orders', callsPerRequest: 1 }],
            findings: [],
          }
        : {},
    report.routes!.map((r) => (r === recent ? { ...r, statementsPerRequest: 2 } : r)),
  );
}

/** A new lookup in a loop, 20 times per request, on "order by id" (which ran 1 statement per request). */
function newLoop(): Report {
  const added: QueryReport = {
    ...lookup,
    fingerprint: '0123456789abcdef',
    query: 'SELECT name FROM shop.customers WHERE id = $1',
    routes: [{ route: 'order by id', callsPerRequest: 20 }],
    findings: [],
  };
  return {
    ...report,
    queries: [...report.queries, added],
    routes: report.routes!.map((r) => (r === orderById ? { ...r, statementsPerRequest: 21 } : r)),
  };
}

const failed = (gate: GateResult) => gate.limits.filter((l) => l.status === 'fail').map((l) => l.field);

describe('budget init on an HTTP report', () => {
  const text = renderInitialBudget(report, { date: '2030-01-01' });
  const initial = parseBudget(text, 'querygate.budget.yaml');

  it('limits the statements per request of every route, and the calls per request of a new statement', () => {
    expect(initial.routes).toEqual(
      report.routes!.map((r) => ({
        route: r.name,
        maxStatementsPerRequest: r.statementsPerRequest === 21 ? 26 : 2,
      })),
    );
    expect(text).toContain('  # GET /orders/recent\n  - route: recent orders\n    maxStatementsPerRequest: 26\n');
    const any = initial.statements.at(-1)!;
    expect(any).toMatchObject({ name: 'any statement, a new one included', maxCallsPerRequest: 10 });
    expect(LOOP_CALLS_PER_REQUEST).toBe(10);
    // The loop of today keeps its own limit, and the calls per request its per-call limits were set at.
    expect(initial.statements.find((s) => s.fingerprint === lookup.fingerprint)).toMatchObject({
      maxCallsPerRequest: 24,
      callsPerRequest: 20,
    });
    expect(initial.statements.filter((s) => s.callsPerRequest !== undefined)).toHaveLength(1);
    expect(text).toMatch(/callsPerRequest: 20 # not a limit: run in a loop today/);
    // The rule's threshold as configured.
    expect(initialBudget(report, { loopCallsPerRequest: 5 }).statements.at(-1)!.maxCallsPerRequest).toBe(5);
    // A SQL report has no routes: no route limits, no loop limit.
    const sql = initialBudget({
      ...report,
      routes: undefined,
      queries: report.queries.map(({ routes: _r, ...q }) => q),
    });
    expect(sql.routes).toEqual([]);
    expect(sql.statements.at(-1)!.maxCallsPerRequest).toBeUndefined();
  });

  it('passes the report it was made from', () => {
    const gate = evaluateBudget(report, initial, { date: '2030-01-01' });
    expect(failed(gate)).toEqual([]);
    expect(gate.passed).toBe(true);
    // The defaults measure nothing here, every statement and route having limits of its own: they
    // pass, waiting for a new one, and are not listed as stale.
    const any = gate.limits.find((l) => l.field === `statements[${initial.statements.length - 1}].maxCallsPerRequest`)!;
    expect(any).toMatchObject({ status: 'pass', measurements: [] });
    expect(any.note).toMatch(/has a limit of its own/);
    expect(gate.limits.find((l) => l.field === 'limits.statementsPerRequest')).toMatchObject({ status: 'pass' });
    expect(gate.limits.filter((l) => l.status === 'skipped')).toEqual([]);
  });

  it('fails a new N+1 loop on a route that had none', () => {
    const gate = evaluateBudget(newLoop(), initial, { date: '2030-01-01' });
    expect(gate.passed).toBe(false);
    const route = initial.routes!.findIndex((r) => r.route === 'order by id');
    expect(failed(gate)).toEqual([
      `routes[${route}].maxStatementsPerRequest`,
      `statements[${initial.statements.length - 1}].maxCallsPerRequest`,
    ]);
    const text = renderGateText(gate, { width: 160 });
    expect(text).toContain(`FAIL routes[${route}].maxStatementsPerRequest "order by id"`);
    expect(text).toContain('statements per request 21 > 2');
    expect(text).toContain('calls per request 20 > 10');
  });

  it('passes the loop batched into one statement: per-call limits are judged per request', () => {
    // Per call, 41 blocks and a cost of 30 are far above the lookup's 7 and 10; per request they
    // are under the loop's 20 x 3 blocks and 20 x 8.3.
    const entry = initial.statements.findIndex((s) => s.fingerprint === lookup.fingerprint);
    expect(initial.statements[entry]).toMatchObject({ maxBlocksPerCall: 7, maxPlanCost: 10, maxRowsPerCall: 2 });
    const gate = evaluateBudget(batched(41, 30), initial, { date: '2030-01-01' });
    expect(failed(gate)).toEqual([]);
    expect(gate.passed).toBe(true);
    const blocks = gate.limits.find((l) => l.field === `statements[${entry}].maxBlocksPerCall`)!;
    expect(blocks.measurements).toEqual([
      expect.objectContaining({
        measured: 41,
        passed: true,
        perRequest: { route: 'recent orders', callsPerRequest: 1, budgetCallsPerRequest: 20 },
      }),
    ]);
    // Not when a route still runs it as often as before: per call there.
    const both = withQueries(batched(41, 30), (q) =>
      q.fingerprint === lookup.fingerprint
        ? {
            routes: [
              { route: 'recent orders', callsPerRequest: 1 },
              { route: 'customer by email', callsPerRequest: 20 },
            ],
          }
        : {},
    );
    expect(failed(evaluateBudget(both, initial))).toContain(`statements[${entry}].maxBlocksPerCall`);
  });

  it('fails a batched statement that does more work per request than the loop did', () => {
    const entry = initial.statements.findIndex((s) => s.fingerprint === lookup.fingerprint);
    const gate = evaluateBudget(batched(500, 900), initial, { date: '2030-01-01' });
    expect(failed(gate)).toEqual([`statements[${entry}].maxPlanCost`, `statements[${entry}].maxBlocksPerCall`]);
    const text = renderGateText(gate, { width: 200 });
    expect(text).toContain(
      'shared blocks 500 per request (500 x 1 call(s) on route recent orders) > 140 per request (7 x the 20 calls per request the limit was set at)',
    );
    expect(renderMarkdown({ ...batched(500, 900), gate })).toContain(
      '| **500 per request (500 x 1 call(s) on route recent orders)** | 140 per request (7 x the 20 calls per request the limit was set at) |',
    );
  });
});

describe('evaluateBudget: defaults and route limits', () => {
  it('an entry without matchers gates only the statements no entry with matchers sets the limit for', () => {
    const loops = budget({
      statements: [{ fingerprint: lookup.fingerprint, maxCallsPerRequest: 24 }, { maxCallsPerRequest: 3 }],
    });
    expect(evaluateBudget(report, loops).passed).toBe(true);
    const gate = evaluateBudget(newLoop(), loops);
    expect(failed(gate)).toEqual(['statements[1].maxCallsPerRequest']);
    expect(gate.limits[1]!.measurements.filter((m) => !m.passed).map((m) => m.subject)).toMatchObject([
      { kind: 'statement', fingerprint: '0123456789abcdef', route: 'order by id' },
    ]);
    // Another limit of the entry with a fingerprint leaves the default's limit in force.
    const other = budget({
      statements: [{ fingerprint: lookup.fingerprint, maxBlocksPerCall: 100 }, { maxCallsPerRequest: 3 }],
    });
    expect(failed(evaluateBudget(report, other))).toEqual(['statements[1].maxCallsPerRequest']);
  });

  it("a route's own limit replaces the run-wide one for it, by name or by method and path", () => {
    const limits = { statementsPerRequest: 5 };
    expect(failed(evaluateBudget(report, budget({ limits })))).toEqual(['limits.statementsPerRequest']);
    for (const route of ['recent orders', 'GET /orders/recent']) {
      const gate = evaluateBudget(report, budget({ limits, routes: [{ route, maxStatementsPerRequest: 22 }] }));
      expect(gate.passed).toBe(true);
      expect(gate.limits.map((l) => [l.field, l.status, l.measurements.length])).toEqual([
        ['limits.statementsPerRequest', 'pass', 3],
        ['routes[0].maxStatementsPerRequest', 'pass', 1],
      ]);
    }
    // A route's limit applies even under a looser run-wide one; a route not in the report is listed.
    const gate = evaluateBudget(
      report,
      budget({
        limits: { statementsPerRequest: 30, routeP99Ms: 10_000 },
        routes: [
          { route: 'recent orders', maxStatementsPerRequest: 20, maxP99Ms: 1 },
          { route: 'gone', maxDbMsPerRequest: 1 },
        ],
      }),
    );
    expect(gate.limits.map((l) => [l.field, l.status])).toEqual([
      ['limits.statementsPerRequest', 'pass'],
      ['limits.routeP99Ms', 'pass'],
      ['routes[0].maxStatementsPerRequest', 'fail'],
      ['routes[0].maxP99Ms', 'fail'],
      ['routes[1].maxDbMsPerRequest', 'skipped'],
    ]);
    expect(gate.limits[4]!.note).toBe('matched no route in this report');
    expect(renderGateText(gate, { width: 160 })).toContain(
      'skipped routes[1].maxDbMsPerRequest "gone": matched no route in this report',
    );
    // A typo in a route's name gates nothing: the note names the route it most likely meant.
    for (const [route, meant] of [
      ['recent order', 'recent orders'],
      ['GET /order/recent', 'GET /orders/recent'],
    ] as const) {
      const typo = evaluateBudget(report, budget({ routes: [{ route, maxP99Ms: 1 }] }));
      expect(typo.limits[0]).toMatchObject({
        status: 'skipped',
        note: `matched no route in this report (did you mean "${meant}"?)`,
      });
    }
    const sql = evaluateBudget(
      { ...report, routes: undefined },
      budget({ routes: [{ route: 'recent orders', maxStatementsPerRequest: 1 }] }),
    );
    expect(sql.limits[0]).toMatchObject({ status: 'skipped', note: expect.stringMatching(/^no HTTP routes/) });
  });
});
