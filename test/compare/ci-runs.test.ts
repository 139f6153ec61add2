/**
 * compare on reports of real CI runs of one scenario on a busy 2-core machine
 * (fixtures/ci-runs/README.md): timing noise from the machine is not a regression, and a real
 * regression is blamed on its culprit only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/compare/compare.js';
import type { Comparison } from '../../src/model/comparison.js';
import type { Report } from '../../src/model/report.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';

const load = (name: string) =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`./fixtures/ci-runs/${name}.json`, import.meta.url)), 'utf8'),
  ) as Report;

const main = load('main');

/** Names (scenario names) of the statements that regressed, matched or new. */
function culprits(c: Comparison): string[] {
  return [
    ...c.added.filter((a) => a.regressions.length > 0).map((a) => `new ${a.source}`),
    ...c.statements.filter((s) => s.verdict === 'regression').map((s) => s.source!),
  ];
}

const named = (c: Comparison, source: string) => c.statements.find((s) => s.source === source)!;

describe('compare on CI runs: the machine is not the branch', () => {
  it.each(['main-under-load', 'index-added', 'harmless'])('%s against main: no regression', (head) => {
    const c = compareReports(main, load(head));
    expect(c.verdict, c.statements.map((s) => `${s.source}: ${s.timing.note}`).join('\n')).toBe('ok');
    expect(culprits(c)).toEqual([]);
  });

  it('judges the long statements of a run under load against each other, not against the sub-ms lookups', () => {
    const c = compareReports(main, load('main-under-load'));
    // The lookups barely moved: the run's median says head was faster.
    expect(c.speed!.ratio).toBeLessThan(1);
    const rating = named(c, 'restaurant rating summary');
    // 22 ms -> 35 ms, as the statement of similar duration slowed too.
    expect(rating.meanMs.head / rating.meanMs.base).toBeGreaterThan(1.5);
    expect(rating.timing.reference).toMatchObject({ statements: 1, paired: true });
    expect(rating.timing.reference!.ratio).toBeGreaterThan(1.2);
    expect(rating.timing.ratio).toBeLessThan(1.5);
    expect(rating.timing.verdict).toBe('noise');
    expect(rating.timing.note).toContain('relative to 1 statement(s) of similar duration');
  });

  it('shows an untouched statement that ran slower with the same work as not counted', () => {
    const c = compareReports(main, load('index-added'));
    const finance = named(c, 'finance export window');
    expect(finance.timing).toMatchObject({ verdict: 'slower', counted: false, sameWork: true, reference: null });
    expect(finance.regressions).toEqual([]);
    expect(c.counts.timingNotCounted).toBe(1);
    // The statement the index serves is an improvement, on its work and its timing.
    const rating = named(c, 'restaurant rating summary');
    expect(rating.verdict).toBe('improvement');
    expect(rating.improvements.map((r) => r.messageId)).toEqual(
      expect.arrayContaining(['plan-cost-down', 'blocks-per-call-down', 'scan-upgrade', 'timing-faster']),
    );
    const text = renderComparisonTable(c, { width: 200 });
    expect(text).toContain('Timing differences not significant, not tested or not counted (not regressions):');
    expect(text).toContain('so this is not counted (compare.timing.sameWorkRegressions: true counts it)');
  });
});

describe('compare on CI runs: a regression is blamed on its culprit only', () => {
  it.each([
    ['index-dropped', 'customer order history'],
    ['new-seq-scan', 'new support refund queue'],
    ['non-sargable', 'new customer login'],
    ['sort-spills', 'new finance export window'],
    ['limit-dropped', 'new courier active deliveries'],
  ])('%s against main: %s', (head, culprit) => {
    const c = compareReports(main, load(head));
    expect(c.verdict).toBe('regression');
    expect(culprits(c)).toEqual([culprit]);
  });

  it('keeps a timing regression that comes with more work', () => {
    const c = compareReports(main, load('index-dropped'));
    const history = named(c, 'customer order history');
    expect(history.timing).toMatchObject({ verdict: 'slower', counted: true, sameWork: false });
    expect(history.regressions.map((r) => r.messageId)).toEqual(
      expect.arrayContaining(['plan-cost-up', 'blocks-per-call-up', 'scan-downgrade', 'timing-slower']),
    );
  });
});

describe('compare on CI runs: a new statement that regressed leads the statements table', () => {
  it('with its plan and the validated index the report holds for it, when it replaces no statement', () => {
    const c = compareReports(main, load('new-seq-scan'));
    const md = renderComparisonMarkdown(c);
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    expect(rows[1]).toMatch(/^\| \*\*regression\*\* \(new\) \| `SELECT id, customer_id, restaurant_id, total_cents/);
    expect(md).toContain('<details><summary>Plan of the new statement</summary>');
    expect(md).toMatch(/^\+ +-> Parallel Seq Scan on orders$/m);
    expect(md).toMatch(
      /^- fix \(seq-scan-large-table, plan cost 8690 → 61\.0, validated with rollback-build\): `CREATE INDEX CONCURRENTLY orders_status_total_cents_idx ON public\.orders \(status, total_cents\);`$/m,
    );
  });
});
