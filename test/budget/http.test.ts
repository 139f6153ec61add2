/**
 * Budgets on an HTTP report: the default entry, and per-call limits judged per request once an N+1
 * loop is batched. On a real HTTP report of the sample application, whose "recent orders" route runs
 * the customer lookup 20 times per request.
 */
import { describe, expect, it } from 'vitest';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import { renderInitialBudget } from '../../src/budget/init.js';
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

function withQueries(r: Report, change: (q: QueryReport) => Partial<QueryReport>, routes?: RouteReport[]): Report {
  return { ...r, queries: r.queries.map((q) => ({ ...q, ...change(q) })), ...(routes ? { routes } : {}) };
}

function budget(parts: Partial<Budget>): Budget {
  return { limits: {}, statements: [], rules: {}, accepted: [], lines: {}, ...parts };
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

const failed = (gate: GateResult) => gate.limits.filter((l) => l.status === 'fail').map((l) => l.field);

describe('budget init on an HTTP report', () => {
  const text = renderInitialBudget(report, { date: '2030-01-01' });
  const initial = parseBudget(text, 'querygate.budget.yaml');

  it('records the calls per request the per-call limits of a loop were set at', () => {
    expect(initial.statements.find((s) => s.fingerprint === lookup.fingerprint)).toMatchObject({
      maxCallsPerRequest: 24,
      callsPerRequest: 20,
    });
    expect(initial.statements.filter((s) => s.callsPerRequest !== undefined)).toHaveLength(1);
    expect(text).toMatch(/callsPerRequest: 20 # not a limit: run in a loop today/);
    expect(evaluateBudget(report, initial, { date: '2030-01-01' }).passed).toBe(true);
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

describe('evaluateBudget: defaults', () => {
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
});
