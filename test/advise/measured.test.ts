import { beforeAll, describe, expect, it } from 'vitest';
import { mayRunToMeasure } from '../../src/advise/advise.js';
import { ANALYZE_TIMED_OUT } from '../../src/analyze/measure.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { CapturedPlan } from '../../src/model/plan.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 600,000 readings, the last 200,000 minutes three times over, never vacuumed: the readings of
// the last 15 days (6% of the rows) lie together in three stretches of the table, which a bitmap
// heap scan reads block by block. The planner costs that scan as if the rows were spread over the
// table, and puts an index on taken_at at about 40% off the plan cost: short of the 50% the advice
// asks for, where the statement, run, touches a tenth of the blocks.
const SCHEMA = `
CREATE TABLE readings (id bigserial PRIMARY KEY, device_id int NOT NULL, taken_at timestamptz NOT NULL, value double precision NOT NULL);
INSERT INTO readings (device_id, taken_at, value)
SELECT 1 + (g::bigint * 7919) % 5000, now() - (g % 200000) * interval '1 minute', (g % 10000) / 100.0
  FROM generate_series(1, 600000) AS g;
ANALYZE readings;
`;
const WORKLOAD = `SELECT date_trunc('day', taken_at) AS day, count(*) FROM readings WHERE taken_at > now() - interval '15 days' GROUP BY 1 ORDER BY 1;`;

const scanOf = (report: Report): Finding | undefined =>
  report.queries[0]?.findings.find((f) => f.rule === 'seq-scan-large-table');

describe('an index the planner undersells, measured (real rules, real planner)', () => {
  let measured: Report;
  let planned: Report;

  beforeAll(async () => {
    await loadParser();
    [measured, planned] = await Promise.all([
      runSqlText('measured_index', SCHEMA, WORKLOAD, { allowIndexBuild: true, analyze: true }),
      runSqlText('measured_index_planned', SCHEMA, WORKLOAD, { allowIndexBuild: true }),
    ]);
  });

  it('with --analyze, runs the statement with the index built and proposes it on the blocks it saves', () => {
    const finding = scanOf(measured);
    const advice = finding?.advice;
    expect(advice?.sql).toBe('CREATE INDEX CONCURRENTLY readings_taken_at_idx ON public.readings (taken_at);');
    expect(advice?.improvement).toBeGreaterThanOrEqual(0.25);
    expect(advice?.improvement).toBeLessThan(0.5);
    expect(advice?.measured?.blocksAfter).toBeLessThan(advice!.measured!.blocksBefore / 2);
    expect(finding?.suggestion).toMatch(
      /^CREATE INDEX CONCURRENTLY readings_taken_at_idx ON public\.readings \(taken_at\); -- the planner puts the cut at \d\d% of the plan cost, short of the 50% asked for, but run with the index \(EXPLAIN ANALYZE in the rolled-back transaction\) the statement touches [\d,]+ shared blocks instead of [\d,]+ and runs in [\d.,]+ ms instead of [\d.,]+ ms$/,
    );
  });

  it('without --analyze, an external database runs nothing: the index is named, to be measured', () => {
    const finding = scanOf(planned);
    expect(finding?.advice).toBeUndefined();
    expect(finding?.suggestion).toMatch(
      /^no index clearly helps: the best candidate, an index on \(taken_at\), lowers the plan cost only from \d+ to \d+ \(\d\d%, validated with rollback-build\), under the 50% the advice asks for.*: build it and measure the statement with --analyze before relying on it: CREATE INDEX CONCURRENTLY readings_taken_at_idx ON public\.readings \(taken_at\);$/,
    );
  });
});

describe('mayRunToMeasure: which statements index advice runs to measure a candidate', () => {
  const plan = (mode: CapturedPlan['mode'], notAnalyzed?: string): CapturedPlan => ({
    mode,
    root: { 'Node Type': 'Result', 'Startup Cost': 0, 'Total Cost': 1, 'Plan Rows': 1, 'Plan Width': 4 },
    totalCost: 1,
    ...(notAnalyzed ? { notAnalyzed } : {}),
  });

  it('on its own database a statement with known values; elsewhere one the run executed with --analyze', () => {
    expect(mayRunToMeasure({ plan: plan('params'), calls: 10, errors: 0 }, 'embedded')).toBe(true);
    expect(mayRunToMeasure({ plan: plan('params'), calls: 10, errors: 0 }, 'external')).toBe(false);
    expect(mayRunToMeasure({ plan: plan('analyze'), calls: 10, errors: 0 }, 'external')).toBe(true);
  });

  it('never a statement --analyze cannot execute: unknown values, every call failed, an ANALYZE that timed out', () => {
    expect(mayRunToMeasure({ plan: plan('generic'), calls: 10, errors: 0 }, 'embedded')).toBe(false);
    expect(mayRunToMeasure({ plan: plan('literal'), calls: 0, errors: 3 }, 'embedded')).toBe(false);
    expect(mayRunToMeasure({ plan: plan('literal', ANALYZE_TIMED_OUT), calls: 10, errors: 0 }, 'embedded')).toBe(false);
    expect(mayRunToMeasure({ plan: null, calls: 10, errors: 0 }, 'embedded')).toBe(false);
  });
});
