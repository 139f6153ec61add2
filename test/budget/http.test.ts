/**
 * Budgets on an HTTP report, a real one of the sample application, whose "recent orders" route runs
 * the customer lookup 20 times per request.
 */
import { describe, expect, it } from 'vitest';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import type { Budget, GateResult } from '../../src/model/budget.js';
import type { QueryReport, Report } from '../../src/model/report.js';
import { httpBase } from '../compare/support.js';

const report = httpBase;
const lookup = report.queries.find((q) => q.query.startsWith('SELECT id, name, email FROM shop.customers'))!;
const orderById = report.routes!.find((r) => r.name === 'order by id')!;

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

const failed = (gate: GateResult) => gate.limits.filter((l) => l.status === 'fail').map((l) => l.field);

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
