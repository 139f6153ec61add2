import { describe, expect, it } from 'vitest';
import rule, { correlationColumn } from '../../src/rules/correlated-subplan.js';
import type { PlanNode } from '../../src/model/plan.js';
import { ruleCases } from './harness.js';

const BAD = 'bad: two counts per seat scan the bookings';
const LATEST = 'bad: the latest reading of a few devices walks an index backwards';
const MANY_LOOKUPS = 'ok: the latest reading of thousands of devices, an index lookup each';

ruleCases(rule, [
  // Without --analyze: the runs come from the planner's costs, the rows per run from the table.
  {
    fixture: 'subplans',
    statement: BAD,
    expect: [{ messageId: 'subplan', severity: 'warning' }],
    message:
      /^SubPlan [12] runs 20 times \(estimated from the plan\), reading 60,?000 rows of public\.bookings per run \(with 1 more correlated subplan\): 2,?400,?000 rows in all/,
    // The index on the correlation column is a fix of its own, which index advice replaces.
    suggestion:
      /LEFT JOIN LATERAL.*FILTER \(WHERE \.\.\.\) -- or: CREATE INDEX ON public\.bookings \(seat_id\); -- not validated/,
  },
  { fixture: 'subplans', statement: 'ok: counts per seat over an index', expect: [] },
  { fixture: 'subplans', statement: 'ok: a count for a handful of seats', expect: [] },
  { fixture: 'subplans', statement: 'ok: hashed subplan runs once', expect: [] },
  { fixture: 'subplans', statement: 'ok: initplan runs once', expect: [] },
  // With it: counted loops and rows, blocks per loop, the share of the statement's time.
  {
    fixture: 'subplans.analyze',
    statement: BAD,
    expect: [{ messageId: 'subplan', severity: 'warning' }],
    message: /runs 20 times \(counted\), reading 60,?000 rows/,
  },
  { fixture: 'subplans.analyze', statement: 'ok: counts per seat over an index', expect: [] },
  { fixture: 'subplans.analyze', statement: 'ok: a count for a handful of seats', expect: [] },
  { fixture: 'subplans.analyze', statement: 'ok: hashed subplan runs once', expect: [] },
  { fixture: 'subplans.analyze', statement: 'ok: initplan runs once', expect: [] },
  // Below minRowVisits, the 15,000 shared blocks the subplans read per call still tell.
  {
    fixture: 'subplans.analyze',
    statement: BAD,
    options: { minRowVisits: 10_000_000 },
    expect: [{ messageId: 'blocks', severity: 'warning' }],
  },
  {
    fixture: 'subplans.analyze',
    statement: BAD,
    options: { minRowVisits: 10_000_000, minBlocks: 100_000 },
    expect: [],
  },
  // A max() per device that walks an index on taken_at backwards: 5 runs, below minLoops, each
  // reading thousands of rows to keep one; the shared blocks the subplan accounts for tell. Without
  // --analyze, the statement's blocks per call times the subplan's share of the plan's cost.
  {
    fixture: 'latest',
    statement: LATEST,
    expect: [{ messageId: 'blocks', severity: 'warning' }],
    message:
      /^SubPlan \d runs 5 times \(estimated from the plan\), each run reading 20,000 rows of public\.readings to keep 1: 9\d,\d{3} shared blocks per call \(measured: /,
    // The grouped join computes the subquery's aggregate; the index keeps the order the scan walked
    // the index on taken_at for.
    suggestion:
      /LEFT JOIN \(SELECT device_id, max\(taken_at\) \.\.\. FROM public\.readings GROUP BY device_id\).* -- or: CREATE INDEX ON public\.readings \(device_id, taken_at\); -- not validated on the planner/,
  },
  // A lookup per device reads what it keeps, for 5 devices or for 5,000 (20,000 blocks per call).
  { fixture: 'latest', statement: 'ok: the latest reading of a few devices, an index lookup each', expect: [] },
  { fixture: 'latest', statement: MANY_LOOKUPS, expect: [] },
  { fixture: 'latest', statement: LATEST, options: { minBlocks: 200_000 }, expect: [] },
  {
    fixture: 'latest.analyze',
    statement: LATEST,
    expect: [{ messageId: 'blocks', severity: 'warning' }],
    message:
      /^SubPlan \d runs 5 times \(counted\), each run reading 1\d,\d{3} rows of public\.readings to keep 1: 9\d,\d{3} shared blocks per call \(counted\)/,
  },
  { fixture: 'latest.analyze', statement: 'ok: the latest reading of a few devices, an index lookup each', expect: [] },
  { fixture: 'latest.analyze', statement: MANY_LOOKUPS, expect: [] },
]);

describe('correlated-subplan: the correlation column', () => {
  const scan = (filter: string, alias = 'b'): PlanNode =>
    ({ 'Node Type': 'Seq Scan', 'Relation Name': 'bookings', Alias: alias, Filter: filter }) as unknown as PlanNode;
  it('is the scan column compared with the outer row, as 16+ and older servers print it', () => {
    expect(correlationColumn(scan("((seat_id = s.id) AND (status = 'confirmed'::text))"))).toBe('seat_id');
    expect(correlationColumn(scan('(b.seat_id = s.id)'))).toBe('seat_id');
    expect(correlationColumn(scan('(seat_id = $0)'))).toBe('seat_id');
    expect(correlationColumn(scan("(status = 'held'::text)"))).toBeUndefined();
  });
});
