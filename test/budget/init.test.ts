import { describe, expect, it } from 'vitest';
import { evaluateBudget, statementMeanMs } from '../../src/budget/evaluate.js';
import { initialBudget, renderInitialBudget, roundUpNicely } from '../../src/budget/init.js';
import { parseBudget } from '../../src/budget/load.js';
import { planShape } from '../../src/analyze/plan.js';
import type { Report } from '../../src/model/report.js';
import { fixtureReport } from './support.js';

const report = fixtureReport();

describe('budget init', () => {
  it('rounds limits up to two significant digits', () => {
    expect(roundUpNicely(1241.5)).toBe(1300);
    expect(roundUpNicely(1200)).toBe(1200);
    expect(roundUpNicely(3.61)).toBe(3.7);
    expect(roundUpNicely(0.0341)).toBe(0.035);
    expect(roundUpNicely(0)).toBe(0);
  });

  it('writes a budget that loads and that the same report passes', () => {
    const text = renderInitialBudget(report, { date: '2030-01-01' });
    const budget = parseBudget(text, 'querygate.budget.yaml');
    const gate = evaluateBudget(report, budget, { date: '2030-01-01', failOn: 'info' });
    expect(gate.counts.violations).toBe(0);
    expect(gate.counts.failingFindings).toBe(0);
    expect(gate.passed).toBe(true);
    // One entry per statement, by quoted fingerprint, with the statement text as a comment, then
    // one without matchers for every statement.
    expect(budget.statements.map((s) => s.fingerprint)).toEqual([
      ...report.queries.filter((q) => q.calls > 0).map((q) => q.fingerprint),
      undefined,
    ]);
    for (const q of report.queries) expect(text).toContain(`fingerprint: "${q.fingerprint}"`);
    expect(text).toContain(`# ${report.queries[0]!.query.replace(/\s+/g, ' ').slice(0, 40)}`);
    // Every finding is accepted, with a reason.
    const findings = report.queries.reduce((s, q) => s + q.findings.length, 0);
    expect(gate.counts.acceptedFindings).toBe(findings);
  });

  it('writes a budget that the same report passes when every call of its costliest statement failed', () => {
    // A statement timeout: pg_stat_statements recorded no call, so no time, blocks or rows; the plan is known.
    const costliest = [...report.queries].sort((a, b) => (b.plan?.totalCost ?? 0) - (a.plan?.totalCost ?? 0))[0]!;
    const timedOut: Report = {
      ...report,
      queries: report.queries.map((q) =>
        q.fingerprint === costliest.fingerprint
          ? {
              ...q,
              calls: 0,
              errors: 3,
              errorSamples: ['canceling statement due to statement timeout'],
              totalMs: 0,
              meanMs: 0,
              stddevMs: 0,
              rows: 0,
              rowsPerCall: 0,
              sharedBlksHit: 0,
              sharedBlksRead: 0,
              sharedBlksPerCall: 0,
              rounds: [],
            }
          : q,
      ),
    };
    const text = renderInitialBudget(timedOut, { date: '2030-01-01' });
    const budget = parseBudget(text, 'querygate.budget.yaml');
    const gate = evaluateBudget(timedOut, budget, { date: '2030-01-01', failOn: 'info' });
    expect(gate.limits.filter((l) => l.status === 'fail')).toEqual([]);
    expect(gate.passed).toBe(true);
    // Its own entry limits its plan cost, the only thing measured; the default entry's stays at the
    // costliest of the statements that ran.
    const own = budget.statements.find((s) => s.fingerprint === costliest.fingerprint)!;
    expect(own).toMatchObject({ maxPlanCost: expect.any(Number), reference: { calls: 0 } });
    expect(own.maxPlanCost).toBeGreaterThanOrEqual(costliest.plan!.totalCost);
    expect(Object.keys(own).filter((k) => k.startsWith('max'))).toEqual(['maxPlanCost']);
    expect(own.reference).toEqual({
      calls: 0,
      planCost: costliest.plan!.totalCost,
      planShape: planShape(costliest.plan!.root),
    });
    expect(budget.statements.at(-1)!.maxPlanCost).toBeLessThan(costliest.plan!.totalCost);
    expect(text).toContain('# Every call failed in this report (3): no time, blocks or rows were measured');
  });

  it('limits rows per call to a whole number of rows', () => {
    const six: Report = { ...report, queries: report.queries.map((q) => ({ ...q, rowsPerCall: 6 })) };
    const { statements } = initialBudget(six);
    const limits = statements.flatMap((s) => (s.maxRowsPerCall !== undefined ? [s.maxRowsPerCall] : []));
    expect(limits.length).toBeGreaterThan(0);
    // 6 rows plus 20% is 7.2: no call returns a fraction of a row, so the limit is 8.
    expect(new Set(limits)).toEqual(new Set([8]));
    const text = renderInitialBudget(six);
    expect(text).toContain('maxRowsPerCall: 8\n');
    expect(text).not.toMatch(/maxRowsPerCall: \d+\.\d/);
  });

  it('records what each statement measured, beside its limits and on one line, for the gate to judge against', () => {
    const text = renderInitialBudget(report, { date: '2030-01-01' });
    const budget = parseBudget(text, 'querygate.budget.yaml');
    for (const q of report.queries.filter((x) => x.calls > 0)) {
      const entry = budget.statements.find((s) => s.fingerprint === q.fingerprint)!;
      expect(entry.reference).toEqual({
        calls: q.calls,
        meanMs: expect.closeTo(statementMeanMs(q).value, 1),
        stddevMs: expect.closeTo(q.stddevMs, 1),
        blocksPerCall: expect.closeTo(q.sharedBlksPerCall, 2),
        rowsPerCall: expect.closeTo(q.rowsPerCall, 2),
        ...(q.plan ? { planCost: q.plan.totalCost, planShape: planShape(q.plan.root) } : {}),
      });
    }
    expect(text).toMatch(/^ {4}reference: \{ calls: \d+, meanMs: [\d.]+, .*planShape: "[0-9a-f]{12}" \}$/m);
    // The entry without matchers describes no one statement.
    expect(budget.statements.at(-1)!.reference).toBeUndefined();
  });

  it("limits every statement, a new one included, to the cost of today's costliest", () => {
    const budget = parseBudget(renderInitialBudget(report), 'b.yaml');
    const any = budget.statements.at(-1)!;
    expect(any).toMatchObject({ name: 'any statement, a new one included' });
    expect(any.fingerprint ?? any.pattern).toBeUndefined();
    const costliest = [...report.queries].sort((a, b) => b.sharedBlksPerCall - a.sharedBlksPerCall)[0]!;
    const added: Report = {
      ...report,
      queries: [
        ...report.queries,
        { ...costliest, fingerprint: '0123456789abcdef', sharedBlksPerCall: costliest.sharedBlksPerCall * 3 + 10 },
      ],
    };
    const gate = evaluateBudget(added, budget, { failOn: 'never' });
    expect(gate.passed).toBe(false);
    const failed = gate.limits.filter((l) => l.status === 'fail');
    expect(failed.map((l) => l.field)).toEqual([`statements[${budget.statements.length - 1}].maxBlocksPerCall`]);
    expect(failed[0]!.measurements.filter((m) => !m.passed).map((m) => m.subject)).toMatchObject([
      { kind: 'statement', fingerprint: '0123456789abcdef' },
    ]);
  });

  it('names an entry as the run named the statement, else a captured statement by its leading comment', () => {
    const named: Report = {
      ...report,
      queries: report.queries.map((q, i) =>
        i === 0
          ? { ...q, query: `-- orders of a customer\n${q.query}`, source: 'orders of a customer' }
          : i === 1
            ? (({ source: _source, ...captured }) => ({
                ...captured,
                query: `/* querygate-ignore: seq-scan-large-table admin only */ -- refunds today\n${q.query}`,
              }))(q)
            : q,
      ),
    };
    const budget = parseBudget(renderInitialBudget(named), 'b.yaml');
    expect(budget.statements[0]!.name).toBe('orders of a customer');
    // A querygate-ignore directive is no name.
    expect(budget.statements[1]!.name).toBe('refunds today');
  });

  it('leaves headroom: a report twice as expensive fails the budget', () => {
    const budget = parseBudget(renderInitialBudget(report), 'b.yaml');
    const worse: Report = {
      ...report,
      queries: report.queries.map((q) => ({
        ...q,
        sharedBlksPerCall: q.sharedBlksPerCall * 2 + 10,
        rowsPerCall: q.rowsPerCall * 2 + 2,
        rounds: q.rounds.map((r) => ({ ...r, meanMs: r.meanMs * 3 + 2, totalMs: (r.meanMs * 3 + 2) * r.calls })),
        ...(q.plan ? { plan: { ...q.plan, totalCost: q.plan.totalCost * 2 + 2 } } : {}),
      })),
    };
    const gate = evaluateBudget(worse, budget);
    const failed = new Set(gate.limits.filter((l) => l.status === 'fail').map((l) => l.limit));
    expect([...failed].sort()).toEqual(['maxBlocksPerCall', 'maxMeanMs', 'maxPlanCost', 'maxRowsPerCall', 'totalDbMs']);
  });

  it('gives small timings a floor of headroom that a rerun on a shared machine stays under, not a lost index', () => {
    const withMean = (r: Report, ms: number): Report => ({
      ...r,
      queries: r.queries.map((q, i) =>
        i === 0 ? { ...q, meanMs: ms, rounds: q.rounds.map((round) => ({ ...round, meanMs: ms })) } : q,
      ),
    });
    // A 4.2 ms statement measured 12.1 ms in a rerun of the same code on a busy machine.
    const budget = parseBudget(renderInitialBudget(withMean(report, 4.2)), 'b.yaml');
    const meanLimit = budget.statements[0]!.maxMeanMs!;
    expect(meanLimit).toBeGreaterThanOrEqual(12.1);
    const gate = (ms: number) =>
      evaluateBudget(withMean(report, ms), budget, { failOn: 'never' }).limits.find(
        (l) => l.field === 'statements[0].maxMeanMs',
      )!.status;
    expect(gate(12.1)).toBe('pass');
    // A lost index: the statement reads the whole table, a hundred times the time.
    expect(gate(420)).toBe('fail');
    expect(meanLimit).toBeLessThan(20);
  });

  it('gives a time measured once, without rounds to take a median of, four times its mean, and says so', () => {
    // The same statements, measured in 3 rounds, in 1 (run --rounds 1), and in one HTTP phase.
    const once: Report = {
      ...report,
      workload: { ...report.workload, rounds: 1 },
      queries: report.queries.map((q) => ({ ...q, rounds: [] })),
    };
    const http: Report = { ...once, workload: { ...once.workload, kind: 'http' } };
    const median = initialBudget(report).statements;
    const slow = report.queries.findIndex((q) => statementMeanMs(q).value > 20);
    expect(slow).toBeGreaterThanOrEqual(0);
    const mean = statementMeanMs(once.queries[slow]!).value;
    expect(median[slow]!.maxMeanMs).toBeLessThan(statementMeanMs(report.queries[slow]!).value * 2.2);
    for (const r of [once, http]) {
      const entry = initialBudget(r).statements[slow]!;
      expect(entry.maxMeanMs).toBeGreaterThanOrEqual(mean * 4);
      expect(entry.maxMeanMs).toBeLessThan(mean * 4.4);
    }
    const text = renderInitialBudget(http);
    expect(text).toContain('# Statement times are measured once here, without rounds to take a median of\n');
    expect(text).toContain('(an HTTP run replays each route once, in one phase)');
    expect(text).toMatch(/maxMeanMs: [\d.]+ # measured once\n/);
    expect(renderInitialBudget(once)).toContain('(1 round(s) in this run: run --rounds 3 gives a median)');
    // Medians over 3 rounds: nothing measured once.
    expect(renderInitialBudget(report)).not.toContain('measured once');
    // A statement that ran in 2 of 3 rounds has no median that sets one slow round aside either.
    const two: Report = {
      ...report,
      queries: report.queries.map((q, i) => (i === slow ? { ...q, rounds: q.rounds.slice(0, 2) } : q)),
    };
    const twoText = renderInitialBudget(two);
    expect(twoText).toContain('# Some statement times are measured once here');
    expect(twoText).toContain("(calls in fewer than 3 of the run's rounds)");
    expect(twoText.match(/# measured once\n/g)).toHaveLength(1);
    // A timing headroom given applies to every statement alike.
    const given = initialBudget(http, { timingHeadroom: 1 }).statements[slow]!.maxMeanMs!;
    expect(given).toBeGreaterThanOrEqual(mean * 2);
    expect(given).toBeLessThan(mean * 2.2);
    expect(renderInitialBudget(http, { timingHeadroom: 1 })).not.toContain('measured once');
  });

  it('uses the given headroom and never sets a timing limit below a millisecond', () => {
    const { statements } = initialBudget(report, { headroom: 0.5, timingHeadroom: 0 });
    report.queries.forEach((q, i) => {
      const entry = statements[i]!;
      expect(entry.maxMeanMs).toBeGreaterThanOrEqual(Math.max(1, statementMeanMs(q).value));
      expect(entry.maxBlocksPerCall).toBeGreaterThanOrEqual(q.sharedBlksPerCall * 1.5);
      if (q.plan) expect(entry.maxPlanCost).toBeGreaterThanOrEqual(q.plan.totalCost * 1.5);
    });
  });

  it('leaves a fast statement 5 ms of slack: four times slower on a busy machine still passes', () => {
    const { statements } = initialBudget(report);
    const fast = report.queries
      .map((q, i) => ({ q, entry: statements[i]! }))
      .filter(({ q }) => statementMeanMs(q).value < 1);
    expect(fast.length).toBeGreaterThan(0);
    for (const { q, entry } of fast) expect(entry.maxMeanMs).toBeGreaterThanOrEqual(statementMeanMs(q).value * 4 + 1);
  });

  it('can leave findings un-accepted, or accept them until a date', () => {
    const flagged = report.queries.some((q) => q.findings.length > 0);
    expect(initialBudget(report, { acceptFindings: false }).accepted).toEqual([]);
    const dated = initialBudget(report, { expiresInDays: 30, date: '2030-01-15' }).accepted;
    expect(dated.length > 0).toBe(flagged);
    for (const a of dated) expect(a.expires).toBe('2030-02-14');
  });
});
