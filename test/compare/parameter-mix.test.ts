/**
 * compare on HTTP runs of an API over skewed data (../budget/fixtures/pm-http/README.md): blocks per
 * call that moved with the parameters a `duration` phase drew are within the statement's spread;
 * a dropped index or another plan is still a regression.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/compare/compare.js';
import type { MatchedStatement } from '../../src/model/comparison.js';
import type { Report } from '../../src/model/report.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';

const load = (name: string) =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`../budget/fixtures/pm-http/${name}.json`, import.meta.url)), 'utf8'),
  ) as Report;

// The dashboard's statements filtered by org_id: organisation 1 holds 60% of the tasks.
const byOrg = ['012a8345c241e490', '9d033db2516b0821', '41a4272c0e3d7d30'];
const statement = (s: readonly MatchedStatement[], fp: string) => s.find((x) => x.fingerprint === fp)!;

describe('compare: blocks per call over another mix of parameters', () => {
  it('does not count blocks that moved with the parameters a duration phase drew, and still counts a dropped index', () => {
    // 12 requests (organisation 1 once), then a 2 s phase that fit 13 (organisation 1 three times).
    const c = compareReports(load('dashboard-12-requests'), load('dashboard-13-requests'));
    expect(c.verdict).toBe('ok');
    expect(c.counts).toMatchObject({ regressions: 0, withinSpread: 3 });
    for (const fp of byOrg) {
      const s = statement(c.statements, fp);
      expect(s.verdict, fp).toBe('unchanged');
      expect(s.blocksPerCall.head / s.blocksPerCall.base).toBeGreaterThan(2);
      expect(s.withinSpread!.uncounted.map((r) => r.messageId)).toContain('blocks-per-call-up');
      expect(s.timing.sameWork).toBe(true);
    }
    // A rule that reads the blocks per call fired on the heavier mix, with the same plan.
    const filtered = statement(c.statements, '41a4272c0e3d7d30');
    expect(filtered.newFindings).toEqual([expect.objectContaining({ rule: 'index-scan-filter' })]);
    expect(filtered.withinSpread!.uncounted.map((r) => r.messageId)).toEqual(['blocks-per-call-up', 'new-finding']);
    expect(statement(c.statements, '9d033db2516b0821').withinSpread!.note).toMatch(
      /^the same plan, and shared blocks per call 597 -> 1,559 over 12 and 13 parameter draws are within the statement's run-to-run spread: its time per call varies by 3\.13 and 1\.83 of its mean between calls, as its parameters do, which makes the difference 1\.0 standard errors \(p=0\.16\d\d, a regression needs p < 0\.01\)\. A count-based load draws the same parameters in every run$/,
    );
    const table = renderComparisonTable(c, { width: 160 });
    expect(table).toContain("3 work change(s) within the statement's spread over the parameters drawn (not counted)");
    expect(table).toMatch(/│ spread +│ 137 +│ 597 → 1559 \(\+161%\)/);
    expect(table).toContain('not counted: blocks-per-call-up: shared blocks per call 597 -> 1,559 (+161%)');
    expect(renderComparisonMarkdown(c)).toContain(
      "### Work within the statement's spread over the parameters drawn (not counted)",
    );

    // Without tasks_org_idx the same statements scan the tasks: another plan, counted, after
    // either run.
    for (const base of ['dashboard-12-requests', 'dashboard-13-requests', 'dashboard-15-requests']) {
      const dropped = compareReports(load(base), load('dashboard-index-dropped'));
      expect(dropped.verdict, base).toBe('regression');
      for (const fp of byOrg) {
        const s = statement(dropped.statements, fp);
        expect(s.verdict, `${base} ${fp}`).toBe('regression');
        expect(s.regressions.map((r) => r.messageId)).toContain('plan-cost-up');
        expect(s.withinSpread).toBeUndefined();
      }
    }
  });

  it('counts a change of the parameters themselves and of the plan, in the same two runs of an API', () => {
    // The same code twice, 2 s phases: 16 then 35 dashboard requests. The second run also asked
    // the open tasks of organisation 1, which no request of the first did.
    const c = compareReports(load('pm-before'), load('pm-before-org1'));
    for (const fp of byOrg) {
      const s = statement(c.statements, fp);
      expect(s.verdict, fp).toBe('unchanged');
      expect(s.withinSpread!.uncounted).toEqual([expect.objectContaining({ messageId: 'blocks-per-call-up' })]);
    }
    const openTasks = statement(c.statements, '9deb8094d6731527');
    expect(openTasks.verdict).toBe('regression');
    // Organisation 1's open tasks also spill to disk (a hash join beyond work_mem): temp blocks count too.
    expect(openTasks.regressions.map((r) => r.messageId)).toEqual(['blocks-per-call-up', 'temp-blocks-per-call-up']);
    expect(openTasks.withinSpread).toBeUndefined();

    // After the suggested indexes, the page query walks tasks_created_at_idx through its OFFSET.
    const fixed = compareReports(load('pm-before'), load('pm-fixed'));
    const page = statement(fixed.statements, 'fd39652eb66975fb');
    expect(page.verdict).toBe('regression');
    expect(page.planDiff!.changed).toBe(true);
    expect(fixed.counts.withinSpread).toBe(3);
  });
});
