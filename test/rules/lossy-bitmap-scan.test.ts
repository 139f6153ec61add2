import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/model/report.js';
import rule from '../../src/rules/lossy-bitmap-scan.js';
import { loadFixture, ruleCases, runRule } from './harness.js';

const UNSUMMARIZED = 'bad: a BRIN index whose ranges were never summarized';
const OUT_OF_ORDER = "bad: a BRIN index on a column out of the table's order";
const LOSSY = 'bad: a B-tree bitmap that outgrew work_mem, its matches on every block';
const SUMMARIZED = 'ok: a summarized BRIN index on a time-ordered column';
const FEW_BLOCKS = 'ok: a bitmap over a few blocks';

ruleCases(rule, [
  // With --analyze: the heap blocks (the leader's and each worker's) and the rows the recheck removed.
  {
    fixture: 'cases.analyze',
    statement: UNSUMMARIZED,
    expect: [{ messageId: 'counted', severity: 'error' }],
    message:
      /^Parallel Bitmap Heap Scan on public\.readings reads 2,0\d\d of the table's 2,206 blocks \(9\d%\) through the BRIN index readings_ts_brin to keep 2,160 of the 28\d,\d{3} rows on them \(99\.\d+% removed by the index recheck\)$/,
    suggestion:
      /^readings_ts_brin matched 9\d% of the table's blocks although ts follows the table's order \(pg_stats\.correlation 1\.00\): its block ranges are likely not summarized .*SELECT brin_summarize_new_values\('public\.readings_ts_brin'\); after bulk loads, and ALTER INDEX public\.readings_ts_brin SET \(autosummarize = on\)/,
  },
  {
    fixture: 'cases.analyze',
    statement: OUT_OF_ORDER,
    expect: [{ messageId: 'counted', severity: 'error' }],
    message:
      /^Parallel Bitmap Heap Scan on public\.samples reads all 1,911 blocks of the table through the BRIN index samples_ts_brin to keep 2,160 of the 300,000 rows on them/,
    suggestion:
      /^ts does not follow the table's physical order \(pg_stats\.correlation 0\.\d\d\): each block range of samples_ts_brin spans most of its values.*CREATE INDEX ON public\.samples \(ts\); -- not validated on the planner/,
  },
  {
    fixture: 'cases.analyze',
    statement: LOSSY,
    expect: [{ messageId: 'counted', severity: 'error' }],
    message:
      /^Bitmap Heap Scan on public\.jobs reads 3,\d{3} of the table's 3,\d{3} blocks \(\d+%\) through jobs_b_idx and jobs_a_idx to keep 3,000 of the \d{3},\d{3} rows on them \(98\.\d% removed by the index recheck: 2,\d{3} of the blocks were lossy, every row on them rechecked\)$/,
    suggestion:
      /^the bitmap outgrew work_mem \(64kB\) and went lossy: .*SET LOCAL work_mem = '256kB' for this statement keeps it exact/,
  },
  { fixture: 'cases.analyze', statement: SUMMARIZED, expect: [] },
  { fixture: 'cases.analyze', statement: FEW_BLOCKS, expect: [] },
  // Without --analyze: the statement's shared blocks per call against the table's blocks.
  {
    fixture: 'cases',
    statement: UNSUMMARIZED,
    expect: [{ messageId: 'measured', severity: 'error' }],
    message:
      /^Parallel Bitmap Heap Scan on public\.readings through the BRIN index readings_ts_brin touches 2,\d{3} shared blocks per call, 9\d% of the table's 2,\d{3}, to return an estimated [12],\d{3} of its 300,000 rows$/,
    suggestion: /^readings_ts_brin matched 9\d% of the table's blocks although ts follows the table's order/,
  },
  {
    fixture: 'cases',
    statement: OUT_OF_ORDER,
    expect: [{ messageId: 'measured', severity: 'error' }],
    suggestion: /^ts does not follow the table's physical order/,
  },
  {
    fixture: 'cases',
    statement: LOSSY,
    expect: [{ messageId: 'measured', severity: 'error' }],
    suggestion: /^the bitmap reads 8\d% of the table's blocks: .*run with --analyze/,
  },
  { fixture: 'cases', statement: SUMMARIZED, expect: [] },
  { fixture: 'cases', statement: FEW_BLOCKS, expect: [] },
  // Options: a higher bar for the share of the table read, or for its size.
  { fixture: 'cases.analyze', statement: LOSSY, options: { minBlockShare: 0.95 }, expect: [] },
  { fixture: 'cases', statement: UNSUMMARIZED, options: { minRows: 500_000 }, expect: [] },
  // A floor on the blocks the scan reads per call: a bitmap over all of a small table costs little.
  { fixture: 'cases', statement: UNSUMMARIZED, options: { minBlocks: 5_000 }, expect: [] },
  { fixture: 'cases.analyze', statement: LOSSY, options: { minBlocks: 5_000 }, expect: [] },
  {
    fixture: 'cases.analyze',
    statement: UNSUMMARIZED,
    options: { selectiveShare: 0.999 },
    expect: [{ messageId: 'counted', severity: 'warning' }],
  },
]);

describe('lossy-bitmap-scan on a plan --analyze cannot execute', () => {
  it('asks for EXPLAIN (ANALYZE, BUFFERS) with real values instead of a rerun with --analyze', () => {
    const fixture = loadFixture(rule.id, 'cases');
    // The same plan as an HTTP run or capture makes it: generic, the parameter values unknown.
    const report: Report = {
      ...fixture.report,
      queries: fixture.report.queries.map((q) =>
        q.plan ? { ...q, plan: { ...q.plan, mode: 'generic' as const } } : q,
      ),
    };
    const query = runRule(rule, { ...fixture, report }).queries.find((q) => q.source === LOSSY)!;
    // The planner expects each index scan to mark 3,000 blocks, a bitmap of 188 kB at a work_mem of
    // 64 kB: clearly lossy, by the plan's own estimate.
    expect(query.findings[0]!.severity).toBe('error');
    expect(query.findings[0]!.evidence.genericPlan).toBe('yes');
    expect(query.findings[0]!.suggestion).toContain('the plan is generic');
    expect(query.findings[0]!.suggestion).not.toContain('run with --analyze');
    expect(query.findings[0]!.suggestion).toMatch(
      /run with EXPLAIN \(ANALYZE, BUFFERS\) and real values, or in a SQL scenario with a generator for each \$n and --analyze \(--analyze cannot run it as captured: its parameter values are unknown: .*\) to see its heap blocks/,
    );
  });

  const atWorkMem = (workMemKb: number): Report => {
    const fixture = loadFixture(rule.id, 'cases');
    return {
      ...fixture.report,
      queries: fixture.report.queries.map((q) =>
        q.plan
          ? { ...q, plan: { ...q.plan, mode: 'generic' as const, settings: { ...q.plan.settings, workMemKb } } }
          : q,
      ),
    };
  };

  it('is a warning when only the blocks per call, not the estimate, outgrow work_mem', () => {
    const fixture = loadFixture(rule.id, 'cases');
    // 3,000 blocks per call need 188 kB: more than 150 kB, but the planner's estimate not twice as much.
    const query = runRule(rule, { ...fixture, report: atWorkMem(150) }).queries.find((q) => q.source === LOSSY)!;
    expect(query.findings.map((f) => [f.messageId, f.severity])).toEqual([['measured', 'warning']]);
  });

  it('reports nothing when the blocks per call fit in work_mem: no bitmap of them goes lossy', () => {
    const fixture = loadFixture(rule.id, 'cases');
    const query = runRule(rule, { ...fixture, report: atWorkMem(4096) }).queries.find((q) => q.source === LOSSY)!;
    expect(query.findings).toEqual([]);
  });

  /** The fixture's plans with values at a work_mem of 4MB, the jobs indexes of access `method`. */
  const withValuesAt4Mb = (method: string): Report => {
    const fixture = loadFixture(rule.id, 'cases');
    return {
      ...fixture.report,
      queries: fixture.report.queries.map((q) =>
        q.plan ? { ...q, plan: { ...q.plan, settings: { ...q.plan.settings, workMemKb: 4096 } } } : q,
      ),
      relations: fixture.report.relations.map((r) =>
        r.name === 'public.jobs' ? { ...r, indexes: r.indexes.map((i) => ({ ...i, method })) } : r,
      ),
    };
  };

  it('reports nothing for a B-tree bitmap with values whose blocks per call fit in work_mem: it is exact', () => {
    const fixture = loadFixture(rule.id, 'cases');
    const query = runRule(rule, { ...fixture, report: withValuesAt4Mb('btree') }).queries.find(
      (q) => q.source === LOSSY,
    )!;
    expect(query.findings).toEqual([]);
  });

  it('is a warning, without the lossy cause, for another index whose blocks per call fit in work_mem', () => {
    const fixture = loadFixture(rule.id, 'cases');
    // A GIN index may return candidates its recheck rejects, in an exact bitmap too.
    const [finding] = runRule(rule, { ...fixture, report: withValuesAt4Mb('gin') }).queries.find(
      (q) => q.source === LOSSY,
    )!.findings;
    expect(finding?.severity).toBe('warning');
    expect(finding?.suggestion).toMatch(
      /^the bitmap cannot have gone lossy: the blocks it marks fit in work_mem \(4MB\); its gin index may return candidates that its recheck rejects/,
    );
  });
});
