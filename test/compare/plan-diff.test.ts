import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { diffPlans, renderPlanDiff, spillOf } from '../../src/compare/plan-diff.js';
import type { CapturedPlan, PlanNode } from '../../src/model/plan.js';
import type { RelationInfo, Report } from '../../src/model/report.js';

// Plan pairs captured from a real PostgreSQL by fixtures/capture-plans.ts.
interface PlanPair {
  readonly base: { readonly plan: PlanNode };
  readonly head: { readonly plan: PlanNode };
}
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const pair = (name: string) => JSON.parse(readFileSync(fixture(`plans/${name}.json`), 'utf8')) as PlanPair;
const captured = (root: PlanNode, mode: CapturedPlan['mode'] = 'generic'): CapturedPlan => ({
  mode,
  root,
  totalCost: root['Total Cost'],
});
// Relation metadata from a real report of the same schema.
const relations = (JSON.parse(readFileSync(fixture('reports/with-index.json'), 'utf8')) as Report).relations;
const context = { baseRelations: relations, headRelations: relations };

function diff(
  name: string,
  ctx: { baseRelations: readonly RelationInfo[]; headRelations: readonly RelationInfo[] } = context,
) {
  const p = pair(name);
  return diffPlans(captured(p.base.plan), captured(p.head.plan), ctx);
}

describe('diffPlans on captured plans', () => {
  it('names a lost index: Limit > Index Scan becomes Limit > Sort > Seq Scan', () => {
    const d = diff('index-to-sort-seq-scan');
    expect(d.changed).toBe(true);
    const downgrade = d.changes.find((c) => c.kind === 'scan-downgrade');
    expect(downgrade?.message).toMatch(
      /^Index Scan Backward using orders_customer_created_idx on orders -> Seq Scan on orders/,
    );
    expect(downgrade?.relation).toBe('public.orders');
    expect(downgrade?.relationRows).toBe(30000);
    expect(d.changes.map((c) => c.kind).sort()).toEqual(['index-lost', 'node-added', 'scan-downgrade']);
    expect(d.changes.find((c) => c.kind === 'node-added')?.message).toBe('new Sort');
    expect(d.changes.find((c) => c.kind === 'index-lost')?.message).toContain('orders_customer_created_idx');
    // The tree diff keeps Limit, inserts the Sort and replaces the scan under it.
    expect(d.lines.map((l) => [l.op, l.depth, l.base ?? l.head])).toEqual([
      ['same', 0, 'Limit'],
      ['added', 1, 'Sort'],
      ['changed', 2, 'Index Scan Backward using orders_customer_created_idx on orders'],
    ]);
    expect(renderPlanDiff(d).split('\n')).toEqual([
      '  Limit',
      '+ -> Sort',
      '-    -> Index Scan Backward using orders_customer_created_idx on orders',
      '+    -> Seq Scan on orders',
    ]);
  });

  it('says when the lost index no longer exists in head', () => {
    const p = pair('index-to-sort-seq-scan');
    const withIndex = relations.map((r) =>
      r.name === 'public.orders'
        ? { ...r, indexes: [...r.indexes, { ...r.indexes[0]!, name: 'orders_customer_created_idx', primary: false }] }
        : r,
    );
    const kept = diffPlans(captured(p.base.plan), captured(p.head.plan), {
      baseRelations: withIndex,
      headRelations: withIndex,
    });
    expect(kept.changes.find((c) => c.kind === 'index-lost')?.message).not.toContain('does not exist');
    const dropped = diffPlans(captured(p.base.plan), captured(p.head.plan), {
      baseRelations: withIndex,
      headRelations: relations,
    });
    expect(dropped.changes.find((c) => c.kind === 'index-lost')?.message).toContain('does not exist in head');
  });

  it('names a join method change and the new inner access path', () => {
    const d = diff('hash-join-to-nested-loop');
    expect(d.changes.find((c) => c.kind === 'join-change')?.message).toBe('Hash Join -> Nested Loop');
    expect(d.changes.find((c) => c.kind === 'scan-upgrade')?.message).toMatch(
      /^Seq Scan on customers -> Index Scan using customers_pkey on customers/,
    );
    expect(d.changes.some((c) => c.kind === 'node-added' && c.message === 'new Memoize')).toBe(true);
    // The outer side did not change.
    expect(d.lines.find((l) => l.base === 'Seq Scan on orders')?.op).toBe('same');
    expect(d.changes.some((c) => c.relation === 'public.orders')).toBe(false);
  });

  it('names a sort that spills to disk (ANALYZE plans)', () => {
    const p = pair('sort-spills');
    expect(spillOf(p.base.plan)).toBeUndefined();
    expect(spillOf(p.head.plan)).toMatch(/^spills to disk \(external merge, \d+ kB\)$/);
    const d = diffPlans(captured(p.base.plan, 'analyze'), captured(p.head.plan, 'analyze'), context);
    expect(d.changes.map((c) => c.kind)).toEqual(['spill']);
    expect(d.changed).toBe(false); // same shape; the spill is named as a change of its own
    expect(renderPlanDiff(d)).toMatch(/^ {2}Sort {2}\[spills to disk/);
  });

  it('finds no change when only costs differ, and notes differently made plans', () => {
    const p = pair('same-shape');
    expect(p.base.plan['Total Cost']).not.toBe(p.head.plan['Total Cost']);
    const d = diffPlans(captured(p.base.plan, 'generic'), captured(p.head.plan, 'params'), {
      ...context,
      baseServerVersionNum: 160004,
      headServerVersionNum: 180001,
    });
    expect(d.changed).toBe(false);
    expect(d.changes).toEqual([]);
    expect(d.notes).toEqual([
      'plans were made differently (generic in base, params in head)',
      'plans come from PostgreSQL 16 and 18: costs are not strictly comparable',
    ]);
  });

  it('is symmetric in what it names: the reverse diff upgrades what the forward diff downgrades', () => {
    const p = pair('index-to-sort-seq-scan');
    const back = diffPlans(captured(p.head.plan), captured(p.base.plan), context);
    expect(back.changes.map((c) => c.kind).sort()).toEqual(['node-removed', 'scan-upgrade']);
    expect(renderPlanDiff(back)).toContain('- -> Sort');
  });
});
