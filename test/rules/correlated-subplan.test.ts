import { describe, expect, it } from 'vitest';
import rule, { correlationColumn } from '../../src/rules/correlated-subplan.js';
import type { PlanNode } from '../../src/model/plan.js';
import { ruleCases } from './harness.js';

const BAD = 'bad: two counts per seat scan the bookings';

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
  { fixture: 'subplans.analyze', statement: BAD, options: { minRowVisits: 10_000_000 }, expect: [] },
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
