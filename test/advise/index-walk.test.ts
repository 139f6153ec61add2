/**
 * A candidate the planner reads only as a walk of the whole index (no Index Cond on its leading key)
 * serves no condition of a filter: built, that walk is the full read non-sargable-predicate reports.
 * Plans as PostgreSQL prints them with such an index in place.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { servesAsProposed } from '../../src/advise/advise.js';
import type { IndexCandidate } from '../../src/advise/candidates.js';
import { indexUse } from '../../src/advise/validate.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { PlanNode } from '../../src/model/plan.js';

const node = (type: string, extra: Record<string, unknown> = {}, plans: PlanNode[] = []): PlanNode =>
  ({
    'Node Type': type,
    'Startup Cost': 0,
    'Total Cost': 1,
    'Plan Rows': 1,
    'Plan Width': 4,
    ...extra,
    ...(plans.length > 0 ? { Plans: plans } : {}),
  }) as PlanNode;

const candidate = (keys: string[], flags: Partial<IndexCandidate> = {}): IndexCandidate => ({
  relation: 'public.items',
  schema: 'public',
  table: 'items',
  method: 'btree',
  keys,
  name: 'items_idx',
  reason: 'test',
  ...flags,
});

const NAME = ['querygate_candidate'];
// `SELECT count(*) FROM items WHERE code ~ '7ab'` with a B-tree on code: a narrow index walked whole.
const countWalk = node('Aggregate', {}, [
  node('Index Only Scan', { 'Index Name': NAME[0], 'Relation Name': 'items', Filter: "(code ~ '7ab'::text)" }),
]);
// `... WHERE code ILIKE '%7ab%' ORDER BY code LIMIT 20`: the walk gives the order, the LIMIT stops it.
const limitedWalk = node('Limit', {}, [
  node('Index Scan', { 'Index Name': NAME[0], 'Relation Name': 'items', Filter: "(code ~~* '%7ab%'::text)" }),
]);
// `... WHERE lower(code) = 'x'` with a B-tree on (lower(code)): a lookup.
const lookup = node('Bitmap Heap Scan', { 'Relation Name': 'items', 'Recheck Cond': "(lower(code) = 'x'::text)" }, [
  node('Bitmap Index Scan', { 'Index Name': NAME[0], 'Index Cond': "(lower(code) = 'x'::text)" }),
]);
// A B-tree on (tenant_id, code) with a condition on its second key only: still a walk of it all.
const secondKey = node('Index Only Scan', { 'Index Name': NAME[0], 'Index Cond': "(code = 'x'::text)" });

describe('indexUse: a condition on the leading key, or a walk of the whole index', () => {
  beforeAll(loadParser);

  it('tells a lookup from a walk, and a walk under a LIMIT from one over the whole index', () => {
    expect(indexUse(countWalk, NAME, candidate(['code']))).toEqual({ used: true, walk: 'whole' });
    expect(indexUse(limitedWalk, NAME, candidate(['code']))).toEqual({ used: true, walk: 'ordered', filtered: true });
    expect(indexUse(lookup, NAME, candidate(['(lower(code))']))).toEqual({ used: true });
    expect(indexUse(secondKey, NAME, candidate(['tenant_id', 'code']))).toEqual({ used: true, walk: 'whole' });
    expect(indexUse(countWalk, ['another_index'], candidate(['code']))).toEqual({ used: false });
  });

  it('a walk serves an ORDER BY under a LIMIT and a join, never a filter', () => {
    const whole = indexUse(countWalk, NAME, candidate(['code']));
    const ordered = indexUse(limitedWalk, NAME, candidate(['code']));
    expect(servesAsProposed(candidate(['code']), whole)).toBe(false);
    expect(servesAsProposed(candidate(['code']), ordered)).toBe(false);
    expect(servesAsProposed(candidate(['code'], { sortOnly: true }), ordered)).toBe(true);
    // An ORDER BY without a LIMIT: the walk reads the whole index on every call.
    expect(servesAsProposed(candidate(['code'], { sortOnly: true }), whole)).toBe(false);
    expect(servesAsProposed(candidate(['code'], { joinKey: true }), whole)).toBe(true);
    expect(servesAsProposed(candidate(['(lower(code))']), indexUse(lookup, NAME, candidate(['(lower(code))'])))).toBe(
      true,
    );
  });
});
