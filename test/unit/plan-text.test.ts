import { describe, expect, it } from 'vitest';
import { renderPlanText } from '../../src/analyze/plan.js';
import type { PlanFixture } from '../../scripts/capture-plan-fixtures.js';
import { loadFixture } from '../rules/harness.js';

/** The plan text of a statement in a captured fixture of correlated-subplan. */
function planText(fixture: string, statement: string): string {
  const query = (loadFixture('correlated-subplan', fixture) as PlanFixture).report.queries.find(
    (q) => q.source === statement,
  );
  return renderPlanText(query!.plan!.root);
}

describe('plan text', () => {
  it('labels SubPlans as EXPLAIN does, with their estimated runs, instead of showing them as inputs', () => {
    expect(planText('subplans', 'bad: two counts per seat scan the bookings')).toMatchInlineSnapshot(`
      "Seq Scan on seats  (cost=0.00..48509.80 rows=20)
        Filter: (event_id = 7)
        SubPlan 1 (estimated runs=20)
          -> Aggregate  (cost=1283.01..1283.02 rows=1)
            -> Seq Scan on bookings  (cost=0.00..1283.00 rows=2)
                Filter: ((seat_id = s.id) AND (status = 'confirmed'::text))
        SubPlan 2 (estimated runs=20)
          -> Aggregate  (cost=1133.02..1133.03 rows=1)
            -> Seq Scan on bookings  (cost=0.00..1133.00 rows=6)
                Filter: (seat_id = s.id)"
    `);
  });

  it('shows the actual loops with --analyze, and hashed SubPlans and InitPlans as running once', () => {
    const analyzed = planText('subplans.analyze', 'bad: two counts per seat scan the bookings');
    expect(analyzed).toMatch(/^ {2}SubPlan 1\n {4}-> Aggregate .*\(actual rows=1 loops=20\)$/m);
    expect(planText('subplans', 'ok: hashed subplan runs once')).toMatch(
      /^ {4}SubPlan 1 \(hashed: runs once\)\n {6}-> Seq Scan on bookings/m,
    );
    expect(planText('subplans', 'ok: initplan runs once')).toMatch(/^ {2}InitPlan 1 \(runs once\)\n {4}-> /m);
  });
});
