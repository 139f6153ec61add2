/**
 * Timing limits of real HTTP runs: an HTTP run replays each route once, in one phase, so a
 * statement's time is one measurement. `budget init` leaves it the headroom of one, and the gate
 * still fails a statement of a route that became ten times slower with the same work.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import { renderInitialBudget } from '../../src/budget/init.js';
import { parseBudget } from '../../src/budget/load.js';
import type { HttpWorkload } from '../../src/model/workload.js';
import type { Report } from '../../src/model/report.js';
import { renderGateText } from '../../src/report/gate-text.js';
import { runHttpWorkload } from '../../src/workload/http/phases.js';
import { createTestDatabase } from '../support/db.js';

const TEST_APP = fileURLToPath(new URL('../http/fixtures/test-app.mjs', import.meta.url));

/** A report route whose statement runs for `seconds` (pg_sleep: the same work, whatever its time). */
function workload(seconds: number): HttpWorkload {
  return {
    kind: 'http',
    name: 'reports',
    setup: { schema: [], seed: [] },
    app: {
      command: [process.execPath, TEST_APP],
      cwd: process.cwd(),
      env: { MODE: 'ok' },
      port: 'auto',
      ready: '/health',
      readyTimeoutMs: 10_000,
      stopTimeoutMs: 2000,
    },
    routes: [
      { name: 'monthly report', method: 'GET', path: `/report?sleep=${seconds}`, params: {}, headers: {}, weight: 1 },
    ],
    load: { connections: 2, shape: { kind: 'requests', requests: 20 }, warmupMs: 0, mixed: false, timeoutMs: 10_000 },
    warnings: [],
  };
}

describe('timing limits of real HTTP runs', () => {
  let url: string;
  const run = (seconds: number): Promise<Report> => runHttpWorkload({ workload: workload(seconds), databaseUrl: url });

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('budget_http_timing');
  });

  it('passes a rerun of the same code and fails a statement ten times slower', async () => {
    const base = await run(0.02);
    expect(base.workload.kind).toBe('http');
    const sleep = base.queries.find((q) => /pg_sleep/.test(q.query))!;
    expect(sleep.rounds).toEqual([]);
    const text = renderInitialBudget(base);
    expect(text).toMatch(/maxMeanMs: [\d.]+ # measured once\n/);
    const budget = parseBudget(text, 'querygate.budget.yaml');
    const index = budget.statements.findIndex((s) => s.fingerprint === sleep.fingerprint);
    const limit = budget.statements[index]!.maxMeanMs!;
    expect(limit).toBeGreaterThanOrEqual(sleep.meanMs * 4);
    const field = `statements[${index}].maxMeanMs`;

    const again = evaluateBudget(await run(0.02), budget, { failOn: 'never' });
    expect(again.limits.filter((l) => l.status === 'fail').map((l) => l.field)).toEqual([]);

    // The same statement, the same (no) blocks and rows, ten times the time.
    const slower = await run(0.2);
    const gate = evaluateBudget(slower, budget, { failOn: 'never' });
    expect(gate.passed).toBe(false);
    expect(gate.limits.filter((l) => l.status === 'fail').map((l) => l.field)).toContain(field);
    const m = gate.limits.find((l) => l.field === field)!.measurements[0]!;
    expect(m.measured).toBeGreaterThan(limit);
    expect(m.notCounted).toBeUndefined();
    expect(renderGateText(gate, { width: 160 })).toMatch(
      new RegExp(
        `FAIL ${field.replace(/[[\].]/g, '\\$&')} .*\\n\\s+mean time [\\d.]+ ms > [\\d.]+ ms \\(measured once, without rounds\\)`,
      ),
    );
  });
});
