import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import rule from '../../src/rules/seq-scan-large-table.js';
import { loadFixture, ruleCases, runRule } from './harness.js';

/** The jsonb filter keeps 0.1% of the rows; the planner, without statistics on it, assumes 0.5%. */
const LIMITED = 'bad: the planner expects a limit to stop the scan early, it reads a third of the table';
const RECURSIVE = 'bad: a thread loaded level by level, the whole table scanned per level';
const RECURSIVE_INDEXED = 'ok: a thread loaded level by level through the index on parent_id';
const TOP_N = 'bad: the latest rows by an unindexed sort key (a top-N sort over the whole table)';

ruleCases(rule, [
  // An index leads with the tenant, which matches 60% of the rows: the share kept is the whole
  // filter's, and the suggestion says that the rest of it is what the index does not serve.
  {
    fixture: 'tenant',
    statement: "bad: a search of a large tenant's invoices, the index serves the tenant only",
    expect: [{ messageId: 'selective', severity: 'error' }],
    suggestion:
      /^the index invoices_tenant_issued_idx already leads with tenant_id, and the planner chose this scan over it: it expects the condition on tenant_id alone, all that the index serves, to match too many rows for the index to pay off; by the planner's estimate the whole filter keeps ~1% of the rows, with the conditions on customer_name, which the index does not serve: /,
  },
  {
    fixture: 'tenant',
    statement: "ok: a large tenant's invoices before a date, through the index on both",
    expect: [],
  },
  // The build side of a hash join, the devices of one site, is 7% of the statement beside the
  // readings it probes with: an index on it would save little of the whole, so context only.
  {
    fixture: 'join',
    statement: 'bad: readings above a threshold for a site, both tables scanned',
    expect: [
      { messageId: 'selective', severity: 'error' },
      { messageId: 'minor', severity: 'info' },
    ],
    message:
      /^((Parallel )?Seq Scan on public\.readings reads all 300,000 rows|Seq Scan on public\.devices reads all 20,000 rows of the table to keep an estimated \d+ \(99\.\d+% removed by its filter\), 7% of the statement: an index on it would save little of the whole$)/,
  },
  {
    fixture: 'scan',
    statement: 'bad: selective filter on an unindexed column',
    expect: [{ messageId: 'selective', severity: 'error' }],
    message: /reads all 30,000 rows of the table to keep an estimated 15 /,
    suggestion: /^CREATE INDEX ON public\.events \(account_id\); -- not validated on the planner$/,
  },
  {
    fixture: 'scan',
    statement: 'mild: filter removes three quarters',
    expect: [{ messageId: 'selective', severity: 'warning' }],
  },
  {
    fixture: 'scan',
    statement: 'note: aggregate over the whole table',
    expect: [{ messageId: 'full', severity: 'info' }],
  },
  // The LIMIT stops the scan after ~2,000 rows (1/15 of the table), as the planner expects and the
  // shared blocks per call confirm: no more than a small table costs, so context only.
  {
    fixture: 'scan',
    statement: 'note: a limit stops the selective scan after 2,000 rows',
    expect: [{ messageId: 'selective', severity: 'info' }],
    message:
      /reads about 2,\d{3} of the table's 30,000 rows \(measured: \d+ of its \d+ blocks per call; the planner estimated 2,000 under the LIMIT\) to keep 1 /,
  },
  // A Sort reads all its input before the LIMIT takes the first row: the whole table is read.
  {
    fixture: 'scan',
    statement: 'bad: a limit above a sort does not stop the scan',
    expect: [{ messageId: 'selective', severity: 'error' }],
    message: /reads all 30,000 rows of the table/,
  },
  // The planner expects the LIMIT to stop the scan after 4,000 rows; the shared blocks per call show
  // that it reads about 19,000, more than a large table's worth: a clear case.
  {
    fixture: 'scan',
    statement: LIMITED,
    expect: [{ messageId: 'selective', severity: 'error' }],
    message:
      /reads about 1\d,\d{3} of the table's 60,000 rows \(measured: \d+ of its \d+ blocks per call; the planner estimated 4,000 under the LIMIT\) to keep 20 /,
  },
  // ORDER BY ... LIMIT over a scan: the sort sees every row to return a few, whatever the filter keeps.
  {
    fixture: 'scan',
    statement: TOP_N,
    expect: [{ messageId: 'topN', severity: 'error' }],
    message: /reads all 30,000 rows of the table to return the first 20 by created_at DESC: /,
    suggestion: /^CREATE INDEX ON public\.events \(created_at DESC\); -- not validated on the planner; /,
  },
  {
    fixture: 'scan',
    statement: 'bad: a filter that keeps most rows, then the first ten by an unindexed sort key',
    expect: [{ messageId: 'topN', severity: 'error' }],
    message:
      /reads all 30,000 rows of the table and keeps an estimated 22,\d{3} \(25% removed by its filter\) to return the first 10 by created_at, id: /,
    suggestion: /^CREATE INDEX ON public\.events \(created_at, id\); -- not validated on the planner; /,
  },
  {
    fixture: 'scan',
    statement: 'bad: a random order reads and sorts the whole table for one row',
    expect: [{ messageId: 'topN', severity: 'error' }],
    suggestion: /^ORDER BY random\(\) reads and sorts every row .* no index can serve it: sample instead/,
  },
  {
    fixture: 'scan',
    statement: 'note: the first rows of an aggregate are no top-N sort over the scan',
    expect: [{ messageId: 'full', severity: 'info' }],
  },
  {
    fixture: 'scan',
    statement: 'bad: a text cast of an unindexed integer column',
    expect: [{ messageId: 'selective', severity: 'error' }],
    suggestion:
      /^compare account_id itself with a value of its own type \(cast the other side, not the column\), and index account_id, or index the expression \(\(account_id::text\)\)$/,
  },
  {
    fixture: 'scan.analyze',
    statement: TOP_N,
    expect: [{ messageId: 'topN', severity: 'error' }],
    message: /reads all 30,000 rows of the table to return the first 20 by created_at DESC: /,
  },
  {
    fixture: 'scan.analyze',
    statement: 'bad: a filter that keeps most rows, then the first ten by an unindexed sort key',
    expect: [{ messageId: 'topN', severity: 'error' }],
    message:
      /reads all 30,000 rows of the table and keeps 22,500 \(25% removed by its filter\) to return the first 10 /,
  },
  {
    fixture: 'scan.analyze',
    statement: 'bad: a random order reads and sorts the whole table for one row',
    expect: [{ messageId: 'topN', severity: 'error' }],
  },
  {
    fixture: 'scan.analyze',
    statement: 'note: the first rows of an aggregate are no top-N sort over the scan',
    expect: [],
  },
  {
    fixture: 'scan.analyze',
    statement: 'bad: a text cast of an unindexed integer column',
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  // The recursive term of a WITH RECURSIVE runs once per level: its scan of the whole table, to join
  // a few rows with the previous level's, repeats per level, and the plan's cost is of one level.
  {
    fixture: 'recursive',
    statement: RECURSIVE,
    expect: [{ messageId: 'recursive', severity: 'error' }],
    message:
      /^Seq Scan on public\.comments reads all 60,000 rows of the table, once per level of the recursive CTE thread, for its join on parent_id to keep an estimated 48 per level \(99\.9\d% unmatched\), at least 9% of the statement$/,
    suggestion:
      /^CREATE INDEX ON public\.comments \(parent_id\); -- not validated on the planner; the recursive term looks up /,
  },
  { fixture: 'recursive', statement: RECURSIVE_INDEXED, expect: [] },
  {
    fixture: 'recursive.analyze',
    statement: RECURSIVE,
    expect: [{ messageId: 'recursive', severity: 'error' }],
    message:
      /^Seq Scan on public\.comments reads 180,000 rows in 3 scans of the 60,000-row table, once per level of the recursive CTE thread, for its join on parent_id to keep 29 \(99\.98% unmatched\), \d\d% of the statement$/,
    suggestion: /^CREATE INDEX ON public\.comments \(parent_id\); /,
  },
  { fixture: 'recursive.analyze', statement: RECURSIVE_INDEXED, expect: [] },
  // A higher bar for the share of rows read that the statement throws away: 20 of 30,000 still passes.
  { fixture: 'scan', statement: TOP_N, options: { minRows: 50_000 }, expect: [] },
  { fixture: 'scan', statement: 'ok: primary key lookup', expect: [] },
  { fixture: 'scan', statement: 'ok: scan of a small table', expect: [] },
  {
    fixture: 'scan',
    statement: 'suppressed: selective filter with an ignore comment',
    expect: [{ messageId: 'selective', severity: 'error' }],
    suppressedBecause: 'nightly report, runs once a day',
  },
  // With EXPLAIN ANALYZE: rows removed by the filter are counted, not estimated.
  {
    fixture: 'scan.analyze',
    statement: 'bad: selective filter on an unindexed column',
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  {
    fixture: 'scan.analyze',
    statement: 'note: a limit stops the selective scan after 2,000 rows',
    expect: [{ messageId: 'selective', severity: 'info' }],
    message: /reads 1,998 of the table's 30,000 rows to keep 1 /,
  },
  {
    fixture: 'scan.analyze',
    statement: 'bad: a limit above a sort does not stop the scan',
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  {
    fixture: 'scan.analyze',
    statement: LIMITED,
    expect: [{ messageId: 'selective', severity: 'error' }],
    message: /reads 19,077 of the table's 60,000 rows to keep 20 /,
  },
  {
    fixture: 'scan.analyze',
    statement: 'mild: filter removes three quarters',
    expect: [{ messageId: 'selective', severity: 'warning' }],
  },
  // Measured, the aggregate's hashing takes more of the time than the scan: under minNodeShare.
  { fixture: 'scan.analyze', statement: 'note: aggregate over the whole table', expect: [] },
  { fixture: 'scan.analyze', statement: 'ok: primary key lookup', expect: [] },
  { fixture: 'scan.analyze', statement: 'ok: scan of a small table', expect: [] },
  {
    fixture: 'scan.analyze',
    statement: 'suppressed: selective filter with an ignore comment',
    expect: [{ messageId: 'selective', severity: 'error' }],
    suppressedBecause: 'nightly report, runs once a day',
  },
  // Options: a higher size threshold makes the 30,000-row table small; a lower bar makes 75% clear.
  {
    fixture: 'scan',
    statement: 'bad: selective filter on an unindexed column',
    options: { minRows: 50_000 },
    expect: [],
  },
  {
    fixture: 'scan',
    statement: 'mild: filter removes three quarters',
    options: { selectiveShare: 0.7 },
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
  {
    fixture: 'scan',
    statement: 'bad: selective filter on an unindexed column',
    severity: 'warning',
    expect: [{ messageId: 'selective', severity: 'warning' }],
  },
  // minRows also bounds the rows read: below 1,500, the scan the LIMIT stops after ~2,000 is a clear case.
  {
    fixture: 'scan',
    statement: 'note: a limit stops the selective scan after 2,000 rows',
    options: { minRows: 1_500 },
    expect: [{ messageId: 'selective', severity: 'error' }],
  },
]);

describe('seq-scan-large-table under a LIMIT, without --analyze', () => {
  beforeAll(async () => {
    await loadParser();
  });

  const finding = (report: Report, statement: string): Finding | undefined =>
    report.queries.find((q) => q.source === statement)?.findings[0];

  it('reads what the shared blocks per call measured, close to what EXPLAIN ANALYZE counts', () => {
    const planned = finding(runRule(rule, loadFixture(rule.id, 'scan')), LIMITED)!;
    const counted = finding(runRule(rule, loadFixture(rule.id, 'scan.analyze')), LIMITED)!;
    expect(planned.message).not.toContain('all 60,000 rows');
    expect(planned.evidence).toMatchObject({ tableRows: 60_000, plannedRowsRead: 4_000, keptRows: 20 });
    expect(planned.evidence.sharedBlksPerCall).toBeLessThan(Number(planned.evidence.tableBlocks) / 2);
    expect(counted.evidence.rowsRead).toBe(19_077);
    expect(Math.abs(Number(planned.evidence.rowsRead) / 19_077 - 1)).toBeLessThan(0.1);
  });

  it('keeps four decimals of the share removed, so that 99.95% is not written as 1', () => {
    const found = finding(
      runRule(rule, loadFixture(rule.id, 'scan.analyze')),
      'bad: selective filter on an unindexed column',
    )!;
    expect(found.message).toMatch(/\(99\.9\d% removed by its filter\)/);
    expect(found.evidence.removedShare).toBeGreaterThan(0.999);
    expect(found.evidence.removedShare).toBeLessThan(1);
  });

  it("grades on the planner's estimate when the report has no statistics for the statement", () => {
    const fixture = loadFixture(rule.id, 'scan');
    const report: Report = {
      ...fixture.report,
      queries: fixture.report.queries.map((q) => ({
        ...q,
        calls: 0,
        sharedBlksHit: 0,
        sharedBlksRead: 0,
        sharedBlksPerCall: 0,
      })),
    };
    const found = finding(runRule(rule, { ...fixture, report }), LIMITED)!;
    expect(found.severity).toBe('info');
    expect(found.message).toContain(
      "reads an estimated 4,000 of the table's 60,000 rows (the LIMIT stops it early) to keep 20",
    );
    expect(found.evidence).toMatchObject({ rowsRead: 4_000, plannedRowsRead: 4_000 });
    expect(found.evidence.sharedBlksPerCall).toBeUndefined();
    // A Sort between the LIMIT and the scan: the planner reads the whole table.
    const sorted = finding(runRule(rule, { ...fixture, report }), 'bad: a limit above a sort does not stop the scan')!;
    expect(sorted.evidence.rowsRead).toBe(30_000);
    expect(sorted.severity).toBe('error');
  });
});

describe('seq-scan-large-table: the index it proposes', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('marks a proposed index as not validated, and proposes none that already exists', () => {
    const fixture = loadFixture(rule.id, 'scan');
    const statement = 'mild: filter removes three quarters';
    const proposed = runRule(rule, fixture).queries.find((q) => q.source === statement)!.findings[0]!;
    expect(proposed.suggestion).toBe('CREATE INDEX ON public.events (kind); -- not validated on the planner');
    // The same plan with an index on kind in the relation's metadata: the planner chose the scan
    // over that index, so the rule says so instead of proposing it again.
    const index = {
      name: 'events_kind_idx',
      definition: 'CREATE INDEX events_kind_idx ON public.events USING btree (kind)',
      method: 'btree',
      columns: ['kind'],
      expressions: [],
      unique: false,
      primary: false,
      partial: false,
      valid: true,
      sizeBytes: 0,
    };
    const report: Report = {
      ...fixture.report,
      relations: fixture.report.relations.map((r) =>
        r.name === 'public.events' ? { ...r, indexes: [...r.indexes, index] } : r,
      ),
    };
    const existing = runRule(rule, { ...fixture, report }).queries.find((q) => q.source === statement)!.findings[0]!;
    expect(existing.suggestion).toBe(
      "the index events_kind_idx already leads with kind, and the planner chose this scan over it: by the planner's estimate the whole filter keeps ~25% of the rows, too many for the index to pay off: reduce the rows read, or check the row estimates with --analyze",
    );
  });
});
