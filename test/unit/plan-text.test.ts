import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { planShape, renderPlanText } from '../../src/analyze/plan.js';
import type { Report } from '../../src/model/report.js';
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

describe('plan shape', () => {
  const load = (name: string) =>
    JSON.parse(
      readFileSync(fileURLToPath(new URL(`../budget/fixtures/payments/${name}.json`, import.meta.url)), 'utf8'),
    ) as Report;
  const shapes = (r: Report) =>
    new Map(r.queries.map((q) => [q.source, { shape: planShape(q.plan!.root), cost: q.plan!.totalCost }]));

  it('is the same for the same nodes whatever their costs, and differs when the plan does', () => {
    const main = shapes(load('main'));
    const dropped = shapes(load('index-dropped'));
    // ANALYZE's sample moved the cost of an unchanged plan.
    const hourly = 'hourly settlement totals';
    expect(dropped.get(hourly)!.cost).not.toBe(main.get(hourly)!.cost);
    expect(dropped.get(hourly)!.shape).toBe(main.get(hourly)!.shape);
    // Without its index, the statement scans the table.
    expect(dropped.get('account balance')!.shape).not.toBe(main.get('account balance')!.shape);
    expect(main.get('account balance')!.shape).toMatch(/^[0-9a-f]{12}$/);
  });
});
