import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/compare/compare.js';
import { DEFAULT_COMPARE_THRESHOLDS, resolveCompareThresholds } from '../../src/compare/thresholds.js';
import type { Finding } from '../../src/model/finding.js';
import type { QueryReport, Report, RouteReport } from '../../src/model/report.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { formatTiming, renderComparisonTable } from '../../src/report/comparison-table.js';
import { httpBase, withIndex, withoutIndex } from './support.js';

const find = (r: Report, text: string) => r.queries.find((q) => q.query.includes(text))!;
const byCustomer = 'WHERE customer_id = $1';
const join = 'JOIN orders o';
const byId = 'WHERE id = $1';

/** A copy of `report` with `change` applied to every statement. */
function mapQueries(report: Report, change: (q: QueryReport) => Partial<QueryReport>): Report {
  return { ...report, queries: report.queries.map((q) => ({ ...q, ...change(q) })) };
}

/** Rounds with the given per-round means (5 calls each), and the matching totals. */
function withRounds(means: readonly number[]): Partial<QueryReport> {
  const rounds = means.map((m) => ({ calls: 5, totalMs: m * 5, meanMs: m }));
  const calls = rounds.length * 5;
  const totalMs = rounds.reduce((s, r) => s + r.totalMs, 0);
  return { rounds, calls, totalMs, meanMs: totalMs / calls };
}

const finding = (
  rule: string,
  severity: Finding['severity'],
  relation?: string,
  message = `${rule} message`,
): Finding => ({
  rule,
  severity,
  messageId: 'm',
  message,
  ...(relation ? { relation } : {}),
  evidence: { rows: 30000 },
});

describe('compareReports: the same workload with and without an index', () => {
  const c = compareReports(withIndex, withoutIndex);

  it('flags the statements that lost their index with the scan downgrade, cost and blocks', () => {
    expect(c.verdict).toBe('regression');
    expect(c.counts).toMatchObject({ matched: 4, added: 0, removed: 0, regressions: 2 });
    const regressed = c.statements.filter((s) => s.verdict === 'regression');
    expect(regressed.map((s) => s.fingerprint).sort()).toEqual(
      [find(withIndex, byCustomer).fingerprint, find(withIndex, join).fingerprint].sort(),
    );
    for (const s of regressed) {
      expect(s.regressions.map((r) => r.messageId)).toEqual(
        expect.arrayContaining(['plan-cost-up', 'blocks-per-call-up', 'scan-downgrade']),
      );
      const downgrade = s.regressions.find((r) => r.kind === 'scan-downgrade')!;
      expect(downgrade.message).toMatch(/Scan.* on orders -> Seq Scan on orders \(a table of 30k rows\)/);
      expect(downgrade.evidence.relation).toBe('public.orders');
      expect(
        s.planDiff?.changes.some((ch) => ch.kind === 'index-lost' && ch.message.includes('orders_customer_idx')),
      ).toBe(true);
      expect(s.blocksPerCall.head).toBeGreaterThan(s.blocksPerCall.base * 5);
      // The rules see the new sequential scan too: a new error finding, matched by rule and relation.
      expect(s.newFindings.map((f) => `${f.rule} ${f.relation}`)).toEqual(['seq-scan-large-table public.orders']);
      expect(s.regressions.map((r) => r.messageId)).toContain('new-finding');
    }
    // Regressions come first.
    expect(c.statements.slice(0, 2).every((s) => s.verdict === 'regression')).toBe(true);
  });

  it('leaves the statements whose plans did not change alone', () => {
    const pk = c.statements.find((s) => s.fingerprint === find(withIndex, byId).fingerprint)!;
    expect(pk.verdict).toBe('unchanged');
    expect(pk.planDiff?.changed).toBe(false);
    expect(pk.regressions).toEqual([]);
    // Microsecond timings are below the absolute minimum effect: noise, whatever the ratio.
    expect(pk.timing.verdict).toBe('noise');
  });

  it('reads the other direction as improvements, not regressions', () => {
    const back = compareReports(withoutIndex, withIndex);
    expect(back.verdict).toBe('ok');
    expect(back.counts.improvements).toBe(2);
    for (const s of back.statements.filter((x) => x.verdict === 'improvement')) {
      expect(s.improvements.map((r) => r.messageId)).toEqual(
        expect.arrayContaining(['scan-upgrade', 'plan-cost-down', 'blocks-per-call-down']),
      );
    }
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
  });

  it('honours thresholds: a large cost floor and a high row minimum turn the verdicts off', () => {
    const lenient = resolveCompareThresholds({
      planCost: { relative: 20 },
      blocksPerCall: { absolute: 1000 },
      scanDowngradeMinRows: 1_000_000,
      newFindingSeverity: 'none',
      timing: { normalize: false, minRelativeChange: 1000 },
    });
    expect(lenient.planCost).toEqual({ relative: 20, absolute: DEFAULT_COMPARE_THRESHOLDS.planCost.absolute });
    const r = compareReports(withIndex, withoutIndex, lenient);
    expect(r.verdict).toBe('ok');
    // The plan change is still shown.
    expect(r.statements.filter((s) => s.planDiff?.changed)).toHaveLength(2);
  });
});

describe('compareReports: plans of runs of the same setup', () => {
  // Both fixture reports are embedded runs; give them the digest of one set of setup files.
  const sameSetup = (r: Report, digest = 'c'.repeat(64)): Report => ({
    ...r,
    workload: { ...r.workload, setupSha256: digest },
  });
  // head's plans as base had them: a stand-in for a flip that only the statistics made.
  const flipped = (from: Report, plans: Report): Report => ({
    ...from,
    queries: from.queries.map((q) => ({
      ...q,
      plan: plans.queries.find((p) => p.fingerprint === q.fingerprint)!.plan,
    })),
    relations: plans.relations,
  });

  it('counts a dropped index even with the same digest: the indexes differ', () => {
    const c = compareReports(sameSetup(withIndex), sameSetup(withoutIndex));
    expect(c.verdict).toBe('regression');
    expect(c.counts).toMatchObject({ regressions: 2, unstablePlans: 0 });
  });

  it('calls a plan change on the same relations, parameters and server an unstable plan, not a regression', () => {
    // The plans of the run without the index, on the relations of the run with it: what the
    // planner would do with other statistics.
    const head = flipped(withIndex, withoutIndex);
    const stale = { ...head, relations: withIndex.relations };
    const c = compareReports(sameSetup(withIndex), sameSetup(stale));
    expect(c.verdict).toBe('ok');
    expect(c.counts).toMatchObject({ regressions: 0, unstablePlans: 2 });
    for (const s of c.statements.filter((x) => x.planDiff?.changed)) {
      expect(s.verdict).toBe('unstable-plan');
      expect(s.regressions).toEqual([]);
      expect(s.improvements).toEqual([]);
      expect(s.unstablePlan?.uncounted.map((r) => r.messageId)).toEqual(
        expect.arrayContaining(['plan-cost-up', 'scan-downgrade']),
      );
    }
    // Unstable plans come right after regressions.
    expect(c.statements.slice(0, 2).every((s) => s.verdict === 'unstable-plan')).toBe(true);
    const text = renderComparisonTable(c, { width: 140 });
    expect(text).toContain('improved, 2 plan(s) that differ between runs of the same setup (not counted)');
    expect(text).toContain('Plans that differ between runs of the same setup (not counted):');
    expect(text.match(/^ {4}not counted: scan-downgrade: /gm)).toHaveLength(2);
    expect(text).not.toContain('Plan changes that are not regressions');
    expect(text.match(/│ unstable /g)).toHaveLength(2);
    const md = renderComparisonMarkdown(c);
    expect(md.split('\n')[0]).toBe('## ✅ querygate: no regression');
    expect(md).toContain('### Plans that differ between runs of the same setup (not counted)');
    expect(md.match(/^\| unstable \|/gm)).toHaveLength(2);
    expect(md.match(/^- not counted: scan-downgrade: /gm)).toHaveLength(2);

    // Another digest, server version, or a plan made with parameter values (base's are generic):
    // judged on what the change costs.
    const otherServer = { ...sameSetup(stale), target: { ...stale.target, serverVersion: '18.99' } };
    const withValues = mapQueries(sameSetup(stale), (q) =>
      q.plan ? { plan: { ...q.plan, mode: 'params' as const, params: ['1'] } } : {},
    );
    for (const h of [sameSetup(stale, 'd'.repeat(64)), stale, otherServer, withValues]) {
      expect(compareReports(sameSetup(withIndex), h).verdict).toBe('regression');
    }
  });
});

describe('compareReports: the same report twice', () => {
  it('finds nothing', () => {
    const c = compareReports(withIndex, withIndex);
    expect(c.verdict).toBe('ok');
    expect(c.statements.every((s) => s.verdict === 'unchanged' && s.planDiff?.changed === false)).toBe(true);
    expect(c.statements.every((s) => s.timing.p === 1)).toBe(true);
    expect(c.speed).toEqual({ ratio: 1, statements: 4 });
  });
});

describe('compareReports: timing', () => {
  const slowStatement = find(withIndex, byCustomer).fingerprint;
  // Every statement: 1 ms per call with a little spread, in both reports.
  const base = mapQueries(withIndex, () => withRounds([1.0, 1.05, 0.97]));
  const slower = (means: readonly number[]) =>
    mapQueries(base, (q) => (q.fingerprint === slowStatement ? withRounds(means) : withRounds([1.02, 0.99, 1.01])));
  const timingOf = (c: ReturnType<typeof compareReports>) =>
    c.statements.find((s) => s.fingerprint === slowStatement)!.timing;

  it('calls a large, consistent slowdown over enough rounds a regression when the statement did more work', () => {
    // Blocks per call up by 30%: below the blocks threshold, but the work changed.
    const more = mapQueries(slower([3.1, 2.9, 3.0]), (q) =>
      q.fingerprint === slowStatement ? { sharedBlksPerCall: q.sharedBlksPerCall * 1.3 + 2 } : {},
    );
    const c = compareReports(base, more);
    expect(timingOf(c)).toMatchObject({ verdict: 'slower', counted: true, sameWork: false });
    expect(timingOf(c).pAdjusted).toBeLessThan(0.01);
    expect(timingOf(c).ratio).toBeGreaterThan(2.8);
    expect(c.verdict).toBe('regression');
    expect(c.statements[0]!.regressions.map((r) => r.messageId)).toEqual(['timing-slower']);
  });

  it('shows the same slowdown with the same work (plan, cost, blocks, rows) as not counted, unless the budget counts it', () => {
    const c = compareReports(base, slower([3.1, 2.9, 3.0]));
    expect(timingOf(c)).toMatchObject({ verdict: 'slower', counted: false, sameWork: true });
    expect(timingOf(c).note).toContain('the statement did the same work in both reports');
    expect(c.verdict).toBe('ok');
    expect(c.counts.timingNotCounted).toBe(1);
    expect(renderComparisonTable(c, { width: 250 })).toContain('1 timing change(s) with the same work (not counted)');
    const counting = compareReports(
      base,
      slower([3.1, 2.9, 3.0]),
      resolveCompareThresholds({ timing: { sameWorkRegressions: true } }),
    );
    expect(counting.verdict).toBe('regression');
    expect(counting.statements[0]!.regressions.map((r) => r.messageId)).toEqual(['timing-slower']);
  });

  it('calls the same slowdown inconclusive with too few rounds, never a regression', () => {
    const twoRounds = mapQueries(slower([3.1, 2.9, 3.0]), (q) => ({ rounds: q.rounds.slice(0, 2) }));
    const c = compareReports(base, twoRounds);
    expect(timingOf(c).verdict).toBe('inconclusive');
    expect(timingOf(c).note).toContain('needs calls in 3 rounds on each side');
    expect(c.verdict).toBe('ok');
    expect(c.warnings.join()).not.toContain('fewer than'); // the run itself had 3 rounds
    const oneRound = (r: Report): Report => ({ ...r, workload: { ...r.workload, rounds: 1 } });
    expect(timingOf(compareReports(oneRound(base), oneRound(twoRounds))).note).toBe(
      '3 round(s) in base, 2 in head: timing needs 3 on each side (run --rounds 3)',
    );
  });

  it('names missing calls, not missing rounds, when a statement had no call in some rounds of a run that had enough', () => {
    // A count load of 3 rounds in which the statement got no call in the second round.
    const counted = (r: Report): Report => {
      const { repeat: _repeat, ...workload } = r.workload;
      return { ...r, workload: { ...workload, count: 300 } };
    };
    const gap = [
      { calls: 5, totalMs: 15, meanMs: 3 },
      { calls: 0, totalMs: 0, meanMs: 0 },
      { calls: 5, totalMs: 15, meanMs: 3 },
    ];
    const head = mapQueries(slower([3.1, 2.9, 3.0]), (q) => (q.fingerprint === slowStatement ? { rounds: gap } : {}));
    const timing = timingOf(compareReports(counted(base), counted(head)));
    expect(timing.verdict).toBe('inconclusive');
    expect(timing.note).toBe(
      "calls in 3 of 3 round(s) in base, 2 of 3 in head: timing needs calls in 3 rounds on each side (too few calls for one in every round: raise count or the statement's weight, or use repeat)",
    );
    expect(timing.note).not.toContain('--rounds');
  });

  it('calls a slowdown hidden in the spread of the rounds noise', () => {
    const c = compareReports(base, slower([0.8, 6.0, 2.2]));
    expect(timingOf(c).ratio).toBeGreaterThan(2);
    expect(timingOf(c).verdict).toBe('noise');
    expect(timingOf(c).note).toMatch(/not significant/);
    expect(c.verdict).toBe('ok');
  });

  it('says that 3 rounds are too few to tell, not "not significant", when every round of head is beyond base', () => {
    // Rounds measured on a real run: a cold first round in base (an index lookup), then a dropped
    // primary key made every round of head ~2 s. Welch's test on 3 rounds: p = 0.18.
    const cold = mapQueries(base, (q) => (q.fingerprint === slowStatement ? withRounds([7.527, 0.324, 0.23]) : {}));
    const c = compareReports(cold, slower([1777.683, 2012.721, 2130.953]));
    expect(timingOf(c)).toMatchObject({ verdict: 'inconclusive', counted: false });
    expect(timingOf(c).p).toBeGreaterThan(0.01);
    expect(timingOf(c).note).toMatch(/every round of head slower than every round of base \(x2\d\d at the least\)/);
    expect(timingOf(c).note).toContain('3 rounds are too few to tell');
    expect(timingOf(c).note).toContain('run --rounds 5');
    expect(timingOf(c).note).not.toMatch(/: not significant/);
    expect(formatTiming(c.statements.find((s) => s.fingerprint === slowStatement)!)).toBe(
      '2.69 ms → 1974 ms (+73k%), too few rounds to tell',
    );
    // Overlapping rounds stay noise (the test above).
    expect(timingOf(compareReports(cold, slower([0.8, 6.0, 2.2]))).verdict).toBe('noise');
  });

  it('calls a significant but small slowdown noise (minimum effect)', () => {
    // Six rounds each: +20% is clearly significant, and still not a regression.
    const six = mapQueries(withIndex, () => withRounds([1.0, 1.05, 0.97, 1.02, 0.99, 1.01]));
    const head = mapQueries(six, (q) =>
      q.fingerprint === slowStatement ? withRounds([1.2, 1.21, 1.19, 1.22, 1.18, 1.2]) : {},
    );
    const c = compareReports(six, head);
    expect(timingOf(c).pAdjusted).toBeLessThan(0.001);
    expect(timingOf(c).verdict).toBe('noise');
    expect(timingOf(c).note).toMatch(/below the minimum effect/);
  });

  it('does not blame statements for a slower machine: timings are relative to the run speed', () => {
    const machine = mapQueries(base, () => withRounds([2.4, 2.5, 2.45]));
    const c = compareReports(base, machine);
    expect(c.speed?.ratio).toBeGreaterThan(2.3);
    expect(c.statements.every((s) => s.timing.verdict === 'noise')).toBe(true);
    expect(c.verdict).toBe('ok');
    // Without normalization the same data is a slowdown everywhere.
    const raw = compareReports(base, machine, resolveCompareThresholds({ timing: { normalize: false } }));
    expect(raw.statements.every((s) => s.timing.verdict === 'slower')).toBe(true);
    // A statement that got much slower than the rest is still caught.
    const oneWorse = mapQueries(machine, (q) => (q.fingerprint === slowStatement ? withRounds([9.0, 9.3, 8.8]) : {}));
    expect(timingOf(compareReports(base, oneWorse)).verdict).toBe('slower');
  });
});

describe('compareReports: calls per request and findings', () => {
  const route = (name: string): RouteReport =>
    ({
      name,
      method: 'GET',
      path: `/${name}`,
      requests: 100,
      errors: 0,
      non2xx: 0,
      throughput: 50,
      latency: { p50: 1, p90: 2, p99: 3, meanMs: 1 },
      dbMsPerRequest: 1,
      statementsPerRequest: 1,
      statements: [],
    }) as unknown as RouteReport;
  const fp = find(withIndex, byId).fingerprint;
  const onRoute = (r: Report, callsPerRequest: number): Report => ({
    ...mapQueries(r, (q) => (q.fingerprint === fp ? { routes: [{ route: 'orders', callsPerRequest }] } : {})),
    routes: [route('orders')],
  });

  it('flags a statement that runs one or more times more per request (N+1)', () => {
    const c = compareReports(onRoute(withIndex, 1), onRoute(withIndex, 21));
    const s = c.statements.find((x) => x.fingerprint === fp)!;
    expect(s.verdict).toBe('regression');
    expect(s.regressions[0]).toMatchObject({
      messageId: 'calls-per-request-up',
      evidence: { route: 'orders', base: 1, head: 21 },
    });
    expect(s.callsPerRequest).toEqual([{ route: 'orders', base: 1, head: 21 }]);
    expect(compareReports(onRoute(withIndex, 1), onRoute(withIndex, 1.5)).verdict).toBe('ok');
    expect(
      compareReports(onRoute(withIndex, 21), onRoute(withIndex, 1)).statements.find((x) => x.fingerprint === fp)
        ?.verdict,
    ).toBe('improvement');
  });

  it('counts a statement new on an existing route from 0 calls per request', () => {
    const base = { ...withIndex, routes: [route('orders')] };
    const c = compareReports(base, onRoute(withIndex, 3));
    expect(c.statements.find((x) => x.fingerprint === fp)?.regressions[0]?.messageId).toBe('calls-per-request-up');
  });

  it('does not count a new statement on a route that runs fewer statements per request (an N+1 rewritten)', () => {
    const dropped = (r: Report) => ({ ...r, queries: r.queries.filter((q) => q.fingerprint !== fp) });
    const base = { ...dropped(withIndex), routes: [{ ...route('orders'), statementsPerRequest: 16 }] };
    const head = (statementsPerRequest: number) => ({
      ...onRoute(withIndex, 1),
      routes: [{ ...route('orders'), statementsPerRequest }],
    });
    expect(compareReports(base, head(3)).added[0]?.regressions).toEqual([]);
    expect(compareReports(base, head(17)).added[0]?.regressions.map((r) => r.messageId)).toEqual([
      'calls-per-request-up',
    ]);
  });

  it('flags error findings new in head, matched by rule and relation', () => {
    const add = (r: Report, findings: Finding[]) => mapQueries(r, (q) => (q.fingerprint === fp ? { findings } : {}));
    const same = compareReports(
      add(withIndex, [finding('seq-scan-large', 'error', 'public.orders', '30000 rows')]),
      add(withIndex, [finding('seq-scan-large', 'error', 'public.orders', '31000 rows')]),
    );
    expect(same.verdict).toBe('ok');
    const other = compareReports(
      add(withIndex, [finding('seq-scan-large', 'error', 'public.customers')]),
      add(withIndex, [finding('seq-scan-large', 'error', 'public.orders')]),
    );
    const s = other.statements.find((x) => x.fingerprint === fp)!;
    expect(s.regressions.map((r) => r.messageId)).toEqual(['new-finding']);
    expect(s.newFindings.map((f) => f.relation)).toEqual(['public.orders']);
    expect(s.resolvedFindings.map((f) => f.relation)).toEqual(['public.customers']);
    const warning = [finding('sort-spill', 'warning', 'public.orders')];
    expect(compareReports(withIndex, add(withIndex, warning)).verdict).toBe('ok');
    expect(
      compareReports(withIndex, add(withIndex, warning), resolveCompareThresholds({ newFindingSeverity: 'warning' }))
        .verdict,
    ).toBe('regression');
  });

  it('does not compare plan findings of plans made in different modes, and resolves nothing without a plan in head', () => {
    // withoutIndex: generic plans, two seq-scan-large-table errors read from them.
    const seqScans = withoutIndex.queries.filter((q) => q.findings.length > 0).map((q) => q.fingerprint);
    expect(seqScans).toHaveLength(2);
    const analyzedClean = mapQueries(withoutIndex, (q) => ({
      plan: q.plan ? { ...q.plan, mode: 'analyze' as const } : null,
      findings: [],
    }));
    const gone = compareReports(withoutIndex, analyzedClean);
    for (const fp of seqScans) {
      const s = gone.statements.find((x) => x.fingerprint === fp)!;
      expect(s.verdict).toBe('unchanged');
      expect(s.resolvedFindings).toEqual([]);
      expect(s.findingNotes).toEqual([
        'error finding seq-scan-large-table on public.orders only in base: not compared (plans made differently: base generic, head analyze)',
      ]);
    }
    expect(gone.counts.improvements).toBe(0);
    expect(renderComparisonTable(gone)).toContain('Findings not compared (neither regressions nor improvements):');
    // The other way round: a plan finding only in head is no regression either.
    const back = compareReports(analyzedClean, withoutIndex);
    expect(back.verdict).toBe('ok');
    expect(back.statements.find((x) => x.fingerprint === seqScans[0])!.findingNotes).toHaveLength(1);
    // A finding that does not come from the plan is still compared.
    const failing = mapQueries(withoutIndex, (q) =>
      q.fingerprint === seqScans[0] ? { findings: [...q.findings, finding('statement-errors', 'error')] } : {},
    );
    const errors = compareReports(analyzedClean, failing);
    expect(errors.statements.find((x) => x.fingerprint === seqScans[0])!.newFindings.map((f) => f.rule)).toEqual([
      'statement-errors',
    ]);
    expect(errors.verdict).toBe('regression');

    // Head without any plan (its EXPLAIN failed): no finding of base is resolved, not even one that
    // does not come from the plan.
    const slow = mapQueries(withoutIndex, (q) =>
      q.fingerprint === seqScans[0] ? { findings: [...q.findings, finding('slow-mean', 'error')] } : {},
    );
    const unplanned = mapQueries(withoutIndex, () => ({ plan: null, findings: [] }));
    const none = compareReports(slow, unplanned);
    const s = none.statements.find((x) => x.fingerprint === seqScans[0])!;
    expect(s.resolvedFindings).toEqual([]);
    expect(s.verdict).not.toBe('improvement');
    expect(s.findingNotes).toEqual([
      'error finding seq-scan-large-table on public.orders only in base: not compared (head has no plan)',
      'error finding slow-mean only in base: not compared (head has no plan)',
    ]);
  });

  it('reports new and removed statements; a new one with an error finding is a regression', () => {
    const dropped = { ...withIndex, queries: withIndex.queries.filter((q) => q.fingerprint !== fp) };
    const c = compareReports(dropped, withIndex);
    expect(c.added.map((a) => a.fingerprint)).toEqual([fp]);
    expect(c.verdict).toBe('ok');
    expect(compareReports(withIndex, dropped).removed.map((r) => r.fingerprint)).toEqual([fp]);
    const bad = mapQueries(withIndex, (q) =>
      q.fingerprint === fp ? { findings: [finding('seq-scan-large', 'error', 'public.orders')] } : {},
    );
    const flagged = compareReports(dropped, bad);
    expect(flagged.verdict).toBe('regression');
    expect(flagged.added[0]?.regressions.map((r) => r.messageId)).toEqual(['new-finding']);
  });

  it("calls a new statement that takes a large share of head's database time a regression, or one costlier than the removed statement it replaces", () => {
    const costly = withoutIndex.queries.find((q) => q.query.startsWith('SELECT id, status, total_cents FROM orders'))!;
    expect(costly.dbTimeShare).toBeGreaterThan(0.2);
    // Without its error finding: the cost alone must make it a regression.
    const head = mapQueries(withoutIndex, (q) => (q.fingerprint === costly.fingerprint ? { findings: [] } : {}));
    const base = { ...head, queries: head.queries.filter((q) => q.fingerprint !== costly.fingerprint) };
    const c = compareReports(base, head);
    expect(c.verdict).toBe('regression');
    expect(c.added[0]?.regressions.map((r) => r.messageId)).toEqual(['new-statement-costly']);
    expect(c.added[0]?.regressions[0]?.message).toMatch(/^a new statement that takes 45% of head's database time/);
    expect(compareReports(base, head, resolveCompareThresholds({ newStatement: { share: 1 } })).verdict).toBe('ok');
    expect(compareReports(base, head, resolveCompareThresholds({ newStatement: { minMeanMs: 5 } })).verdict).toBe('ok');
    // A rewrite of a statement (its text changed) is judged against the removed one on the same relations:
    // as costly as before is no regression ...
    const renamed = (r: Report) =>
      mapQueries(r, (q) => (q.fingerprint === costly.fingerprint ? { fingerprint: 'rewritten', findings: [] } : {}));
    expect(compareReports(renamed(withoutIndex), head).added[0]?.regressions).toEqual([]);
    // ... and costlier than the indexed one it replaces is, with the scan downgrade as the cause.
    const rewrite = compareReports(renamed(withIndex), head).added[0]!;
    expect(rewrite.regressions.map((r) => r.messageId)).toEqual([
      'plan-cost-up',
      'blocks-per-call-up',
      'scan-downgrade',
    ]);
    expect(rewrite.regressions[0]?.evidence.replaces).toBe('rewritten');
    expect(rewrite.regressions[0]?.message).toContain(
      'against the removed statement it replaces on the same relations',
    );
  });

  it('pairs a rewritten statement with a removed statement of its kind only: run inside a function or sent', () => {
    const costly = withoutIndex.queries.find((q) => q.query.startsWith('SELECT id, status, total_cents FROM orders'))!;
    // In base, a statement on the same relations ran inside a function; in head, a new one is sent.
    const inFunction = { functions: ['public.order_totals'], callers: [] };
    const base = mapQueries(withoutIndex, (q) =>
      q.fingerprint === costly.fingerprint ? { fingerprint: 'inside', nested: inFunction } : {},
    );
    const c = compareReports(base, withoutIndex);
    const added = c.added.find((a) => a.fingerprint === costly.fingerprint)!;
    expect(added.replaces).toBeUndefined();
    expect(c.removed.find((r) => r.fingerprint === 'inside')?.replacedBy).toBeUndefined();
    // Both inside a function: the rewrite is judged against the statement it replaces.
    const nestedHead = mapQueries(withoutIndex, (q) =>
      q.fingerprint === costly.fingerprint ? { nested: inFunction } : {},
    );
    const rewrite = compareReports(base, nestedHead).added.find((a) => a.fingerprint === costly.fingerprint)!;
    expect(rewrite.replaces?.fingerprint).toBe('inside');
  });

  it('warns when the reports were written by different querygate versions', () => {
    const older: Report = { ...withIndex, tool: { ...withIndex.tool, version: '0.0.9' } };
    const c = compareReports(older, withIndex);
    expect(c.warnings).toEqual([
      `base was written by querygate 0.0.9, head by querygate ${withIndex.tool.version}: their rules and measurements may ` +
        'differ, so findings new or resolved between them may come from querygate, not the branch (run both with one querygate version)',
    ]);
    expect(c.base.toolVersion).toBe('0.0.9');
    const md = renderComparisonMarkdown(c);
    expect(md).toContain('- base: workload on PostgreSQL 18');
    expect(md).toContain(', repeat 30, 3 rounds, 2 connections, querygate 0.0.9, ');
    expect(md).toContain('> **Warning:** base was written by querygate 0.0.9');
    expect(compareReports(withIndex, withIndex).warnings).toEqual([]);
  });

  it('matches by fingerprint only: other queryids, databases and servers do not matter', () => {
    const elsewhere: Report = {
      ...withIndex,
      target: { ...withIndex.target, database: 'other', serverVersion: '16.4', serverVersionNum: 160004 },
    };
    const c = compareReports(elsewhere, withIndex);
    expect(c.counts).toMatchObject({ matched: 4, added: 0, removed: 0 });
    expect(c.warnings).toEqual(['base ran on PostgreSQL 16.4, head on 18.4: plan costs are not strictly comparable']);
  });
});

describe('compareReports: an N+1 loop batched into one statement', () => {
  // httpBase: the sample application's "recent orders" runs the customer lookup 20 times per request
  // (3 blocks, plan cost 8.3, 1 row per call). The batched form, WHERE id = ANY($1), has the same
  // libpg-query fingerprint: its one call per request does the work of the 20.
  const lookup = httpBase.queries.find((q) => q.query.startsWith('SELECT id, name, email FROM shop.customers'))!;
  const recent = httpBase.routes!.find((r) => r.name === 'recent orders')!;
  const batched = (blocks: number, cost: number, fingerprint = lookup.fingerprint): Report => ({
    ...mapQueries(httpBase, (q) =>
      q.fingerprint === lookup.fingerprint
        ? {
            fingerprint,
            query: `SELECT id, name, email FROM shop.customers WHERE id = ANY($1)${fingerprint === lookup.fingerprint ? '' : ' ORDER BY id'}`,
            calls: 250,
            sharedBlksPerCall: blocks,
            rowsPerCall: 20,
            plan: { ...q.plan!, totalCost: cost },
            routes: [{ route: 'recent orders', callsPerRequest: 1 }],
          }
        : {},
    ),
    routes: httpBase.routes!.map((r) => (r === recent ? { ...r, statementsPerRequest: 2 } : r)),
  });

  it('is an improvement when one request does less work: plan cost and blocks are judged per request', () => {
    expect(lookup.routes).toEqual([{ route: 'recent orders', callsPerRequest: 20 }]);
    // 20 x 3 = 60 blocks and 20 x 8.29 = 166 cost units per request, then one call of 41 blocks and 30.
    const c = compareReports(httpBase, batched(41, 30));
    expect(c.verdict).toBe('ok');
    const s = c.statements.find((x) => x.fingerprint === lookup.fingerprint)!;
    expect(s.verdict).toBe('improvement');
    expect(s.regressions).toEqual([]);
    expect(s.improvements.map((r) => r.messageId)).toEqual(['plan-cost-per-request-down', 'calls-per-request-down']);
    expect(s.improvements[0]!.message).toBe(
      'plan cost per request 166 -> 30 (-82%) on recent orders (20 -> 1 calls per request, 8.29 -> 30 per call)',
    );
    expect(s.perRequest).toEqual({
      route: 'recent orders',
      callsPerRequest: { base: 20, head: 1, delta: -19, relative: -0.95 },
      planCost: {
        base: 165.8,
        head: 30,
        delta: expect.closeTo(-135.8, 6),
        relative: expect.closeTo(30 / 165.8 - 1, 6),
      },
      blocks: { base: 60, head: 41, delta: -19, relative: expect.closeTo(41 / 60 - 1, 6) },
      tempBlocks: { base: 0, head: 0, delta: 0, relative: null },
      rows: { base: 20, head: 20, delta: 0, relative: 0 },
    });
    // Per call it would have been a regression: the figures stay in the table, with how they were judged.
    expect(s.blocksPerCall).toMatchObject({ base: 3, head: 41 });
    const text = renderComparisonTable(c, { width: 160 });
    expect(text).toContain(
      'note: judged per request on recent orders (20 → 1 calls per request): plan cost 166 → 30, shared blocks 60 → 41, rows 20',
    );
    expect(renderComparisonMarkdown(c)).toContain('judged per request on recent orders');
    // Batched on "recent orders", but also run once per request by "customer by email": one call there
    // now reads 41 blocks instead of 3.
    const head = mapQueries(batched(41, 30), (q) =>
      q.fingerprint === lookup.fingerprint
        ? {
            routes: [
              { route: 'customer by email', callsPerRequest: 1 },
              { route: 'recent orders', callsPerRequest: 1 },
            ],
          }
        : {},
    );
    const mixed = compareReports(httpBase, head).statements.find((x) => x.fingerprint === lookup.fingerprint)!;
    expect(mixed.perRequest).toBeUndefined();
    expect(mixed.regressions.map((r) => r.messageId)).toContain('blocks-per-call-up');
    // A drop under the calls-per-request threshold is no batching either.
    const slight = mapQueries(httpBase, (q) =>
      q.fingerprint === lookup.fingerprint
        ? { sharedBlksPerCall: 41, routes: [{ route: 'recent orders', callsPerRequest: 19.5 }] }
        : {},
    );
    const t = compareReports(httpBase, slight).statements.find((x) => x.fingerprint === lookup.fingerprint)!;
    expect(t.perRequest).toBeUndefined();
    expect(t.regressions.map((r) => r.messageId)).toEqual(['blocks-per-call-up']);
  });

  it('is a regression when the batched statement does more work per request than the loop did', () => {
    const c = compareReports(httpBase, batched(500, 900));
    expect(c.verdict).toBe('regression');
    const s = c.statements.find((x) => x.fingerprint === lookup.fingerprint)!;
    expect(s.regressions.map((r) => r.messageId)).toEqual(['plan-cost-per-request-up', 'blocks-per-request-up']);
    expect(s.regressions[1]).toMatchObject({
      kind: 'blocks-per-request',
      message:
        'shared blocks per request 60 -> 500 (+733%) on recent orders (20 -> 1 calls per request, 3 -> 500 per call)',
      evidence: { base: 60, head: 500, route: 'recent orders', baseCallsPerRequest: 20, headCallsPerRequest: 1 },
    });
    expect(renderComparisonTable(c, { width: 160 })).toContain(
      'blocks-per-request: shared blocks per request 60 -> 500',
    );
  });

  it('judges temp blocks written per request too: a batched sort that spills is judged against the loop', () => {
    // The loop's lookups wrote no temp blocks; one call of the batched form sorts the 20 rows on disk.
    const spills = (perCall: number, base = httpBase) =>
      mapQueries(base, (q) => (q.fingerprint === lookup.fingerprint ? { tempBlksWritten: perCall * q.calls } : {}));
    const c = compareReports(httpBase, spills(60, batched(41, 30)));
    const s = c.statements.find((x) => x.fingerprint === lookup.fingerprint)!;
    expect(s.regressions.map((r) => r.messageId)).toEqual(['temp-blocks-per-request-up']);
    expect(s.regressions[0]!.message).toBe(
      'temp blocks written per request 0 -> 60 (new; a sort or hash spills to disk beyond work_mem) ' +
        'on recent orders (20 -> 1 calls per request, 0 -> 60 per call)',
    );
    expect(s.perRequest?.tempBlocks).toMatchObject({ base: 0, head: 60 });
    expect(renderComparisonTable(c, { width: 160 })).toContain('shared blocks 60 → 41, temp blocks 0 → 60, rows 20');
    // 20 lookups of 3 temp blocks each wrote 60 per request; one batched call writing 40 is fewer per
    // request, though more per call.
    const fewer = compareReports(spills(3), spills(40, batched(41, 30)));
    const t = fewer.statements.find((x) => x.fingerprint === lookup.fingerprint)!;
    expect(t.tempBlocksPerCall).toMatchObject({ base: 3, head: 40 });
    expect(t.regressions).toEqual([]);
    expect(t.verdict).toBe('improvement');
  });

  it('judges the calls per request of a rewritten statement against the statement it replaces', () => {
    // The lookup's text changed, not how often a request runs it: not a statement new on the route.
    const rewritten = (callsPerRequest: number): Report =>
      mapQueries(httpBase, (q) =>
        q.fingerprint === lookup.fingerprint
          ? { fingerprint: '0123456789abcdef', routes: [{ route: 'recent orders', callsPerRequest }] }
          : {},
      );
    const same = compareReports(httpBase, rewritten(20));
    expect(same.added[0]!.regressions).toEqual([]);
    expect(same.added[0]!.replaces?.fingerprint).toBe(lookup.fingerprint);
    expect(same.verdict).toBe('ok');
    const more = compareReports(httpBase, rewritten(21)).added[0]!;
    expect(more.regressions.map((r) => r.messageId)).toEqual(['calls-per-request-up']);
    expect(more.regressions[0]!.message).toMatch(
      /^20 -> 21 calls per request on recent orders against the removed statement it replaces/,
    );
    expect(more.replaces!.callsPerRequest).toEqual([{ route: 'recent orders', base: 20, head: 21 }]);
  });

  it('judges a rewritten batched statement (a new fingerprint) per request against the loop it replaces', () => {
    const good = compareReports(httpBase, batched(41, 30, '0123456789abcdef'));
    expect(good.removed.map((r) => r.fingerprint)).toEqual([lookup.fingerprint]);
    expect(good.added.map((a) => [a.fingerprint, a.regressions])).toEqual([['0123456789abcdef', []]]);
    expect(good.verdict).toBe('ok');
    const bad = compareReports(httpBase, batched(500, 900, '0123456789abcdef'));
    expect(bad.verdict).toBe('regression');
    const added = bad.added[0]!;
    expect(added.regressions.map((r) => r.messageId)).toEqual(['plan-cost-per-request-up', 'blocks-per-request-up']);
    expect(added.regressions[1]!.message).toBe(
      'shared blocks per request 60 -> 500 (+733%) on recent orders (20 -> 1 calls per request, 3 -> 500 per call) ' +
        'against the removed statement it replaces on the same relations (SELECT id, name, email FROM shop.customers WHERE id = $1)',
    );
    expect(added.regressions[1]!.evidence.replaces).toBe(lookup.fingerprint);
  });
});
