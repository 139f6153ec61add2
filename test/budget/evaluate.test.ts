import { describe, expect, it } from 'vitest';
import { ANY_STATEMENT, evaluateBudget, median } from '../../src/budget/evaluate.js';
import type { Budget, StatementBudget } from '../../src/model/budget.js';
import type { Finding } from '../../src/model/finding.js';
import type { QueryReport, Report, RouteReport } from '../../src/model/report.js';
import { renderGateText } from '../../src/report/gate-text.js';
import { fixtureReport } from './support.js';

const report = fixtureReport();

function budget(parts: Partial<Budget>): Budget {
  return { limits: {}, statements: [], rules: {}, accepted: [], lines: {}, ...parts };
}

const roundMeans = (q: QueryReport) => q.rounds.filter((r) => r.calls > 0).map((r) => r.meanMs);
const costliest = report.queries[0]!;
const cheapest = report.queries[report.queries.length - 1]!;

function withQuery(r: Report, fingerprint: string, change: (q: QueryReport) => QueryReport): Report {
  return { ...r, queries: r.queries.map((q) => (q.fingerprint === fingerprint ? change(q) : q)) };
}

function finding(rule: string, severity: Finding['severity'], extra: Partial<Finding> = {}): Finding {
  return { rule, severity, messageId: 'm', message: `${rule} found something`, evidence: { rows: 1 }, ...extra };
}

describe('evaluateBudget: per-statement limits', () => {
  it('gates mean time on the median of the rounds and keeps their spread', () => {
    const means = roundMeans(costliest);
    expect(means.length).toBeGreaterThanOrEqual(3);
    const mid = median(means);
    const entry: StatementBudget = { fingerprint: costliest.fingerprint, maxMeanMs: mid * 0.99 };
    const gate = evaluateBudget(report, budget({ statements: [entry] }));
    const check = gate.limits[0]!;
    expect(check.field).toBe('statements[0].maxMeanMs');
    expect(check.status).toBe('fail');
    expect(check.measurements).toHaveLength(1);
    const m = check.measurements[0]!;
    expect(m.basis).toBe('median');
    expect(m.measured).toBeCloseTo(mid, 9);
    expect(m.spread).toEqual({ min: Math.min(...means), max: Math.max(...means), samples: means.length });
    expect(gate.passed).toBe(false);
    expect(gate.counts.violations).toBe(1);

    // The fixture has error findings: only the limit is under test here.
    const ok = evaluateBudget(report, budget({ statements: [{ ...entry, maxMeanMs: mid * 1.01 }] }), {
      failOn: 'never',
    });
    expect(ok.limits[0]!.status).toBe('pass');
    expect(ok.passed).toBe(true);
  });

  it('is not failed by one noisy round: the median ignores an outlier the mean does not', () => {
    const means = roundMeans(costliest);
    const noisy = withQuery(report, costliest.fingerprint, (q) => ({
      ...q,
      rounds: q.rounds.map((r, i) => (i === 0 ? { ...r, meanMs: r.meanMs * 50, totalMs: r.totalMs * 50 } : r)),
    }));
    const threshold = Math.max(...means) * 1.5;
    const gate = evaluateBudget(
      noisy,
      budget({ statements: [{ fingerprint: costliest.fingerprint, maxMeanMs: threshold }] }),
    );
    const m = gate.limits[0]!.measurements[0]!;
    expect(m.passed).toBe(true);
    expect(m.spread!.max).toBeGreaterThan(threshold);
    // The plain mean over all rounds would have failed.
    const noisyQuery = noisy.queries.find((q) => q.fingerprint === costliest.fingerprint)!;
    const plainMean = noisyQuery.rounds.reduce((s, r) => s + r.meanMs, 0) / noisyQuery.rounds.length;
    expect(plainMean).toBeGreaterThan(threshold);
  });

  it('gates deterministic measures as measured', () => {
    const plan = costliest.plan!;
    const gate = evaluateBudget(
      report,
      budget({
        statements: [
          {
            fingerprint: costliest.fingerprint,
            maxPlanCost: plan.totalCost - 1,
            maxBlocksPerCall: costliest.sharedBlksPerCall,
            maxRowsPerCall: costliest.rowsPerCall - 0.5,
          },
        ],
      }),
    );
    const byLimit = Object.fromEntries(gate.limits.map((l) => [l.limit, l]));
    expect(byLimit.maxPlanCost!.status).toBe('fail');
    expect(byLimit.maxPlanCost!.measurements[0]).toMatchObject({ measured: plan.totalCost, basis: 'measured' });
    expect(byLimit.maxPlanCost!.measurements[0]!.spread).toBeUndefined();
    // Equal to the limit is within it.
    expect(byLimit.maxBlocksPerCall!.status).toBe('pass');
    expect(byLimit.maxRowsPerCall!.status).toBe('fail');
    expect(gate.counts).toMatchObject({ limits: 3, violations: 2 });
  });

  it('holds a statement whose text changed to the entry of its name, never one named file:line', () => {
    // The statement was rewritten: another fingerprint, the same scenario name, a costlier plan.
    const rewritten = withQuery(report, costliest.fingerprint, (q) => ({ ...q, fingerprint: 'f0000000000000aa' }));
    const entry = { name: costliest.source!, fingerprint: costliest.fingerprint, maxPlanCost: 1 };
    const gate = evaluateBudget(rewritten, budget({ statements: [entry] }), { failOn: 'never' });
    expect(gate.limits[0]).toMatchObject({
      status: 'fail',
      note: `matched by its name: the statement's text changed since fingerprint ${costliest.fingerprint}`,
    });
    expect(gate.limits[0]!.measurements[0]!.subject).toMatchObject({ fingerprint: 'f0000000000000aa' });
    // A SQL file's statement is named by its line, which another statement may hold after an edit.
    const byLine = { ...entry, name: 'workload.sql:12' };
    const atLine = withQuery(rewritten, 'f0000000000000aa', (q) => ({ ...q, source: 'workload.sql:12' }));
    expect(evaluateBudget(atLine, budget({ statements: [byLine] })).limits[0]).toMatchObject({ status: 'skipped' });
  });

  it('leaves a statement its entry holds by name out of the default entry for that limit', () => {
    const rewritten = withQuery(report, costliest.fingerprint, (q) => ({ ...q, fingerprint: 'f0000000000000aa' }));
    const cost = costliest.plan!.totalCost;
    const gate = evaluateBudget(
      rewritten,
      budget({
        statements: [
          { name: costliest.source!, fingerprint: costliest.fingerprint, maxPlanCost: cost * 2 },
          { name: ANY_STATEMENT, maxPlanCost: cost / 2 },
        ],
      }),
      { failOn: 'never' },
    );
    const [own, fallback] = gate.limits;
    expect(own).toMatchObject({ status: 'pass', note: expect.stringMatching(/^matched by its name/) });
    expect(fallback!.measurements.map((m) => m.subject)).not.toContainEqual(
      expect.objectContaining({ fingerprint: 'f0000000000000aa' }),
    );
  });

  it("holds the statements of an entry's name when it has no matchers, and skips a name no statement has", () => {
    const named = report.queries.find((q) => q.source === 'recent orders of a customer')!;
    expect(named.sharedBlksPerCall).toBeGreaterThan(10);
    const gate = evaluateBudget(
      report,
      budget({
        statements: [
          { name: 'recent orders of a customer', maxBlocksPerCall: 10 },
          // No statement has these names: neither holds every statement.
          { name: 'renamed', maxBlocksPerCall: 10 },
          { name: 'order by idd', maxBlocksPerCall: 10 },
          // budget init's label for its default entry, and an entry without a name: defaults.
          { name: ANY_STATEMENT, maxBlocksPerCall: 1e9 },
          { maxBlocksPerCall: 1e9 },
        ],
      }),
      { failOn: 'never' },
    );
    const fingerprints = (i: number) =>
      gate.limits[i]!.measurements.map((m) => (m.subject.kind === 'statement' ? m.subject.fingerprint : ''));
    expect(gate.limits[0]).toMatchObject({ status: 'fail', label: 'recent orders of a customer' });
    expect(fingerprints(0)).toEqual([named.fingerprint]);
    expect(gate.limits[1]).toMatchObject({
      status: 'skipped',
      note:
        'no statement in this report is named "renamed": an entry with only a name holds the statements of that ' +
        'name; one without name, fingerprint, pattern and relation holds every statement without an entry of its own',
    });
    expect(gate.limits[2]).toMatchObject({
      status: 'skipped',
      note: expect.stringMatching(
        /^no statement in this report is named "order by idd" \(did you mean "order by id"\?\): /,
      ),
    });
    // The defaults gate every statement but the one held by its name.
    const others = report.queries.filter((q) => q !== named && q.calls > 0).map((q) => q.fingerprint);
    expect(fingerprints(3)).toEqual(others);
    expect(fingerprints(4)).toEqual(others);
    expect(gate.counts.violations).toBe(1);
    expect(renderGateText(gate, { width: 200 })).toMatch(/skipped statements\[1\]\.maxBlocksPerCall "renamed"/);

    // A name the run never called: said so, as for a fingerprint.
    const gone: Report = {
      ...report,
      queries: report.queries.filter((q) => q !== named),
      run: { ...report.run, notCalled: [{ fingerprint: named.fingerprint, name: named.source!, query: named.query }] },
    };
    expect(
      evaluateBudget(gone, budget({ statements: [{ name: named.source!, maxBlocksPerCall: 10 }] })).limits[0]!.note,
    ).toMatch(/^"recent orders of a customer" is in the workload, but the run never called it/);
  });

  it('matches statements by pattern, by relation (bare or qualified) and by all given matchers together', () => {
    const onOrders = report.queries.filter((q) => q.relations.includes('shop.orders'));
    const selects = report.queries.filter((q) => /^select/i.test(q.query));
    expect(onOrders.length).toBeGreaterThan(1);
    const gate = evaluateBudget(
      report,
      budget({
        statements: [
          { relation: 'orders', maxRowsPerCall: 1e9 },
          { relation: 'shop.orders', maxRowsPerCall: 1e9 },
          { pattern: '^select\\b', maxRowsPerCall: 1e9 },
          { pattern: '^select\\b', relation: 'orders', maxRowsPerCall: 1e9 },
          { maxRowsPerCall: 1e9 },
          { relation: 'other.orders', maxRowsPerCall: 1e9 },
        ],
      }),
      { failOn: 'never' },
    );
    const matched = gate.limits.map((l) =>
      l.measurements.map((m) => (m.subject.kind === 'statement' ? m.subject.fingerprint : '')).sort(),
    );
    const fps = (qs: readonly QueryReport[]) => qs.map((q) => q.fingerprint).sort();
    expect(matched[0]).toEqual(fps(onOrders));
    expect(matched[1]).toEqual(fps(onOrders));
    expect(matched[2]).toEqual(fps(selects));
    expect(matched[3]).toEqual(fps(selects.filter((q) => q.relations.includes('shop.orders'))));
    // The entry without matchers is the default: it gates the statements no other entry sets the limit for.
    expect(matched[4]).toEqual(fps(report.queries.filter((q) => !onOrders.includes(q) && !selects.includes(q))));
    expect(gate.limits[4]).toMatchObject({ status: 'pass', note: expect.stringMatching(/has a limit of its own/) });
    expect(gate.limits[5]).toMatchObject({ status: 'skipped', note: 'matched no statement in this report' });
    expect(gate.passed).toBe(true);
  });

  it('says which statements the run never called or only saw fail, instead of "matched no statement"', () => {
    // A duration run too short for a call of every statement: one statement has no entry in queries.
    const gone = cheapest;
    const failed = costliest;
    const failing = withQuery(report, failed.fingerprint, (q) => ({ ...q, calls: 0, errors: 3, rounds: [] }));
    const run: Report = {
      ...failing,
      queries: failing.queries.filter((q) => q.fingerprint !== gone.fingerprint),
      run: {
        ...report.run,
        notCalled: [{ fingerprint: gone.fingerprint, name: 'monthly report', query: gone.query, line: 12 }],
      },
    };
    const gate = evaluateBudget(
      run,
      budget({
        statements: [
          { name: 'monthly report', fingerprint: gone.fingerprint, maxMeanMs: 1, maxPlanCost: 1 },
          { fingerprint: failed.fingerprint, maxMeanMs: 1 },
          { fingerprint: '0000000000000000', maxMeanMs: 1 },
        ],
        accepted: [{ rule: 'seq-scan-large-table', fingerprint: gone.fingerprint, reason: 'known' }],
      }),
      { failOn: 'never' },
    );
    const never =
      '"monthly report" is in the workload, but the run never called it: nothing was measured ' +
      "(the run's warnings say what gives every statement a call)";
    expect(gate.limits.map((l) => [l.status, l.note])).toEqual([
      ['skipped', never],
      ['skipped', never],
      ['skipped', expect.stringMatching(/^every call of the matched statement failed, so there is no timing/)],
      ['skipped', 'matched no statement in this report'],
    ]);
    // Its acceptances were not judged: no plan, no finding. They are not called unused.
    expect(gate.unusedAcceptances).toEqual([]);
    expect(renderGateText(gate, { width: 200 })).toContain(
      `"monthly report" is in the workload, but the run never called it`,
    );
  });

  it('counts no error for the calls an interrupt cut short: the interruption fails the gate, not the error rate', () => {
    // Interrupted while the costliest statement was running on two connections, before any call of it completed.
    const cut = withQuery(report, costliest.fingerprint, (q) => ({
      ...q,
      calls: 0,
      errors: 0,
      errorSamples: [],
      rounds: [],
      cancelledAtStop: { calls: 2, longestMs: 31_250 },
    }));
    const run: Report = {
      ...cut,
      run: { ...report.run, complete: false, interruptedBy: 'interrupted by SIGINT' },
      totals: { ...report.totals, errors: 0 },
    };
    const gate = evaluateBudget(
      run,
      budget({ limits: { errorRate: 0.01 }, statements: [{ fingerprint: costliest.fingerprint, maxMeanMs: 1 }] }),
      { failOn: 'never' },
    );
    expect(gate.limits[0]!.measurements[0]!.measured).toBe(0);
    expect(gate.limits.map((l) => [l.field, l.status, l.note])).toEqual([
      ['limits.errorRate', 'pass', undefined],
      [
        'statements[0].maxMeanMs',
        'skipped',
        expect.stringMatching(
          /^no call of the matched statement completed: it was still running when the run was interrupted/,
        ),
      ],
    ]);
    expect(gate.passed).toBe(false);
    expect(gate.incomplete).toBe('interrupted by SIGINT');
  });

  it('names the budget line of each limit', () => {
    const gate = evaluateBudget(
      report,
      budget({
        source: 'b.yaml',
        statements: [{ name: 'cheap', fingerprint: cheapest.fingerprint, maxMeanMs: 1e-6 }],
        lines: { 'statements[0].maxMeanMs': 7 },
      }),
    );
    expect(gate.budget).toBe('b.yaml');
    expect(gate.limits[0]).toMatchObject({ line: 7, label: 'cheap', status: 'fail' });
  });
});

describe('evaluateBudget: global limits', () => {
  it('estimates total database time from the median per-call cost of the rounds', () => {
    const rounds = report.workload.rounds;
    const perCall = Array.from({ length: rounds }, (_, i) => {
      const ms = report.queries.reduce((s, q) => s + (q.rounds[i]?.totalMs ?? 0), 0);
      const calls = report.queries.reduce((s, q) => s + (q.rounds[i]?.calls ?? 0), 0);
      return (ms / calls) * report.totals.calls;
    });
    const gate = evaluateBudget(report, budget({ limits: { totalDbMs: 1 } }));
    const m = gate.limits[0]!.measurements[0]!;
    expect(m.basis).toBe('median');
    expect(m.measured).toBeCloseTo(median(perCall), 6);
    expect(m.spread!.samples).toBe(rounds);
    // Close to what was measured in total: the estimate is not off by a factor.
    expect(m.measured / report.totals.totalMs).toBeGreaterThan(0.5);
    expect(m.measured / report.totals.totalMs).toBeLessThan(2);
    expect(gate.passed).toBe(false);
  });

  it('counts the time of statements run inside functions once: in their callers', () => {
    const before = evaluateBudget(report, budget({ limits: { totalDbMs: 1 } })).limits[0]!.measurements[0]!;
    // The costliest statement's time spent inside a function it calls, recorded as a statement of its own.
    const inner: QueryReport = {
      ...costliest,
      query: 'SELECT sum(total) FROM orders WHERE customer_id = p_id',
      source: undefined,
      nested: { functions: ['shop.customer_value'], callers: [costliest.fingerprint] },
    };
    const withNested: Report = { ...report, queries: [...report.queries, inner] };
    const m = evaluateBudget(withNested, budget({ limits: { totalDbMs: 1 } })).limits[0]!.measurements[0]!;
    expect(m.measured).toBe(before.measured);
    expect(m.spread).toEqual(before.spread);
    expect(m.subject.kind === 'run' && m.subject.mostOf?.map((x) => x.statement)).not.toContain(inner.query);
  });

  it('skips per-request limits on a report without HTTP routes, and measures each route when there are', () => {
    const sqlOnly = evaluateBudget(
      report,
      budget({ limits: { statementsPerRequest: 5, routeP99Ms: 100, errorRate: 0 } }),
    );
    expect(sqlOnly.limits.map((l) => l.status)).toEqual(['skipped', 'skipped', 'pass']);
    expect(sqlOnly.limits[0]!.note).toMatch(/no HTTP routes/);

    const route = (name: string, statementsPerRequest: number, p99: number): RouteReport => ({
      name,
      method: 'GET',
      path: `/${name}`,
      requests: 100,
      errors: 1,
      non2xx: 1,
      status5xx: 1,
      throughput: 10,
      phaseMs: 1000,
      latency: { p50: 1, p90: 2, p99, meanMs: 1, maxMs: p99 },
      dbMsPerRequest: 1,
      statementsPerRequest,
      statements: [],
    });
    const http: Report = { ...report, routes: [route('a', 3, 50), route('b', 30, 500)] };
    const gate = evaluateBudget(
      http,
      budget({ limits: { statementsPerRequest: 10, routeP95Ms: 100, routeP99Ms: 100, errorRate: 0.01 } }),
    );
    const [spr, p95, p99, errors] = gate.limits;
    expect(spr!.measurements.map((m) => [m.subject, m.passed])).toEqual([
      [{ kind: 'route', route: 'a' }, true],
      [{ kind: 'route', route: 'b' }, false],
    ]);
    expect(p95).toMatchObject({ status: 'skipped', note: 'no route reports a p95 latency' });
    expect(p99!.status).toBe('fail');
    // 2 failed of 202 attempts per route: just under 1%.
    expect(errors!.measurements[0]!.measured).toBeCloseTo(4 / 202, 9);
    expect(errors!.status).toBe('fail');
  });
});

describe('evaluateBudget: findings', () => {
  const flagged = withQuery(report, costliest.fingerprint, (q) => ({
    ...q,
    findings: [finding('seq-scan', 'error', { relation: 'shop.orders' }), finding('sort-spill', 'warning')],
  }));

  it('fails on un-accepted findings at or above fail-on', () => {
    expect(evaluateBudget(flagged, undefined, { failOn: 'error' }).counts.failingFindings).toBe(1);
    expect(evaluateBudget(flagged, undefined, { failOn: 'warning' }).counts.failingFindings).toBe(2);
    const never = evaluateBudget(flagged, undefined, { failOn: 'never' });
    expect(never.passed).toBe(true);
    expect(never.findings.map((f) => f.status)).toEqual(['reported', 'reported']);
    expect(evaluateBudget(flagged, undefined).failOn).toBe('error');
  });

  it('lets accepted findings through until their expiry date, then fails them again', () => {
    const accepted = budget({
      accepted: [{ rule: 'seq-scan', relation: 'orders', reason: 'nightly report', expires: '2030-01-31' }],
      lines: { 'accepted[0]': 12 },
    });
    const before = evaluateBudget(flagged, accepted, { date: '2030-01-31' });
    expect(before.passed).toBe(true);
    expect(before.findings[0]).toMatchObject({
      status: 'accepted',
      acceptance: { reason: 'nightly report', expires: '2030-01-31', expired: false, line: 12 },
    });
    expect(before.counts.acceptedFindings).toBe(1);
    const after = evaluateBudget(flagged, accepted, { date: new Date('2030-02-01T08:00:00Z') });
    expect(after.passed).toBe(false);
    expect(after.findings[0]).toMatchObject({ status: 'failing', acceptance: { expired: true } });
  });

  it('matches acceptances by rule and fingerprint, and lists the ones that match nothing', () => {
    const gate = evaluateBudget(
      flagged,
      budget({
        accepted: [
          { rule: 'seq-scan', fingerprint: cheapest.fingerprint, reason: 'wrong statement' },
          { rule: 'sort-spill', fingerprint: costliest.fingerprint, reason: 'known' },
        ],
        lines: { 'accepted[0]': 3 },
      }),
      { failOn: 'warning' },
    );
    expect(gate.findings.map((f) => f.status)).toEqual(['failing', 'accepted']);
    expect(gate.unusedAcceptances).toEqual([
      { rule: 'seq-scan', fingerprint: cheapest.fingerprint, reason: 'wrong statement', line: 3 },
    ]);
  });

  it('does not call the acceptance of a timing rule unused: its finding comes and goes with the machine', () => {
    const accepted = [
      { rule: 'high-db-time-share', fingerprint: cheapest.fingerprint, reason: 'the report is the heavy one' },
      { rule: 'seq-scan', fingerprint: cheapest.fingerprint, reason: 'wrong statement' },
    ];
    const rules = [{ id: 'high-db-time-share', timing: true }, { id: 'seq-scan' }];
    const gate = evaluateBudget(flagged, budget({ accepted }), { failOn: 'warning', rules });
    expect(gate.unusedAcceptances.map((a) => a.rule)).toEqual(['seq-scan']);
  });

  it('does not call acceptances unused on the report of an interrupted run: its plans and findings are missing', () => {
    const accepting = budget({ accepted: [{ rule: 'seq-scan', fingerprint: costliest.fingerprint, reason: 'known' }] });
    const unplanned = (complete: boolean): Report => ({
      ...report,
      run: { ...report.run, complete },
      queries: report.queries.map((q) => ({ ...q, plan: null, findings: [] })),
    });
    const gate = evaluateBudget(unplanned(false), accepting);
    expect(gate.unusedAcceptances).toEqual([]);
    expect(gate.acceptancesNotJudged).toBe(1);
    const text = renderGateText(gate, { width: 200 });
    expect(text).not.toContain('remove it?');
    expect(text).toContain(
      'note: 1 accepted finding(s) matched no finding: this is the report of an interrupted run, whose plans (and the findings read from them) are missing',
    );
    // On a complete report the same entry is a candidate for removal.
    const complete = evaluateBudget(unplanned(true), accepting);
    expect(complete.unusedAcceptances).toHaveLength(1);
    expect(complete.acceptancesNotJudged).toBeUndefined();
    expect(renderGateText(complete)).toContain('matched no finding: remove it?');
  });

  it('gives every registered rule a verdict, with the budget overriding its severity', () => {
    const gate = evaluateBudget(flagged, budget({ rules: { 'unused-rule': 'off' } }), {
      rules: [
        { id: 'unused-rule', severity: 'warning', description: 'never fires' },
        { id: 'seq-scan', severity: 'error' },
      ],
    });
    expect(gate.rules).toEqual([
      { rule: 'unused-rule', severity: 'off', description: 'never fires', findings: 0, failing: 0, accepted: 0 },
      { rule: 'seq-scan', severity: 'error', findings: 1, failing: 1, accepted: 0 },
      { rule: 'sort-spill', findings: 1, failing: 0, accepted: 0 },
    ]);
  });

  it('is plain JSON', () => {
    const gate = evaluateBudget(flagged, budget({ limits: { totalDbMs: 1 }, statements: [{ maxMeanMs: 1 }] }), {
      date: '2030-01-01',
    });
    expect(JSON.parse(JSON.stringify(gate))).toEqual(gate);
  });
});
