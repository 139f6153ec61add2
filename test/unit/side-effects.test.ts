import { describe, expect, it } from 'vitest';
import {
  otherStatementPlan,
  scanWords,
  statementsReading,
  type CandidateTable,
  type PlansOfStatement,
} from '../../src/advise/side-effects.js';
import type { PlanNode } from '../../src/model/plan.js';
import type { QueryReport, RelationInfo } from '../../src/model/report.js';

const node = (type: string, extra: Partial<PlanNode> = {}, plans: PlanNode[] = []): PlanNode => ({
  'Node Type': type,
  'Startup Cost': 0,
  'Total Cost': 100,
  'Plan Rows': 1000,
  'Plan Width': 8,
  ...extra,
  ...(plans.length > 0 ? { Plans: plans } : {}),
});
const seqSort = node('Unique', {}, [node('Sort', {}, [node('Seq Scan', { 'Relation Name': 'pings' })])]);
const walk = (extra: Partial<PlanNode> = {}) =>
  node('Unique', {}, [
    node('Incremental Sort', {}, [
      node('Index Scan', { 'Relation Name': 'pings', 'Index Name': 'pings_vehicle_id_idx', ...extra }),
    ]),
  ]);
const table: CandidateTable = { tables: ['pings'], indexes: ['pings_vehicle_id_idx'], rows: 200_000 };
const query = (blocks: number, extra: Partial<QueryReport> = {}): QueryReport =>
  ({
    fingerprint: 'f1',
    query: 'SELECT DISTINCT ON (vehicle_id) * FROM pings ORDER BY vehicle_id, recorded_at DESC',
    source: 'latest',
    sharedBlksPerCall: blocks,
    totalMs: 10,
    plan: { mode: 'literal', root: seqSort, totalCost: 300 },
    relations: ['fleet.pings'],
    ...extra,
  }) as unknown as QueryReport;
const plans = (q: QueryReport, after: PlanNode, costAfter = 200, used = true): PlansOfStatement => ({
  query: q,
  before: { cost: 300, root: seqSort },
  after: { cost: costAfter, root: after, used },
});

describe('otherStatementPlan: what an index changes in another statement on its table', () => {
  it('flags a large statement whose sequential scan and sort become a walk of the whole index', () => {
    expect(otherStatementPlan(plans(query(1970), walk()), table)).toEqual({
      fingerprint: 'f1',
      source: 'latest',
      planBefore: 'Sort > Seq Scan on pings',
      planAfter: 'Incremental Sort > Index Scan using pings_vehicle_id_idx on pings',
      costBefore: 300,
      costAfter: 200,
      risk: 'full-index-walk',
    });
  });

  it('does not flag a small statement, a walk with an Index Cond, or one a LIMIT may stop', () => {
    expect(otherStatementPlan(plans(query(50), walk()), table)?.risk).toBeUndefined();
    expect(
      otherStatementPlan(plans(query(1970), walk({ 'Index Cond': '(vehicle_id = 7)' })), table)?.risk,
    ).toBeUndefined();
    expect(otherStatementPlan(plans(query(1970), node('Limit', {}, [walk()])), table)?.risk).toBeUndefined();
  });

  it('flags a plan whose cost the planner puts higher with the index', () => {
    expect(otherStatementPlan(plans(query(50), walk(), 400), table)?.risk).toBe('cost-rises');
  });

  it('says nothing of a plan that does not use the index', () => {
    expect(otherStatementPlan(plans(query(1970), seqSort, 300, false), table)).toBeUndefined();
  });

  it('counts the rows the scan read with --analyze', () => {
    // 19,000 blocks per call and a table of 20,000 rows by the statistics, but the run counted 15,000:
    // a walk of 15,000 rows touches fewer blocks than the statement does now.
    const analyzed = node('Sort', {}, [
      node('Seq Scan', { 'Relation Name': 'pings', 'Actual Rows': 15_000, 'Actual Loops': 1 }),
    ]);
    const q = query(19_000, { plan: { mode: 'analyze', root: analyzed, totalCost: 300 } } as Partial<QueryReport>);
    expect(otherStatementPlan(plans(q, walk()), { ...table, rows: 20_000 })?.risk).toBeUndefined();
    expect(otherStatementPlan(plans(query(19_000), walk()), { ...table, rows: 20_000 })?.risk).toBe('full-index-walk');
  });
});

describe('statementsReading', () => {
  const relations = [
    { name: 'app.events', partitionOf: undefined },
    { name: 'app.events_2024', partitionOf: 'app.events' },
  ] as unknown as RelationInfo[];
  const q = (name: string, totalMs: number, rels: string[], plan = true) =>
    ({ fingerprint: name, totalMs, relations: rels, plan: plan ? {} : null }) as unknown as QueryReport;

  it('finds the statements with a plan that read the table or a partition of it, the costliest first, at most max', () => {
    const queries = [
      q('a', 1, ['app.events']),
      q('b', 5, ['app.events_2024']),
      q('c', 9, ['app.other']),
      q('d', 7, ['app.events'], false),
      q('e', 3, ['app.events', 'app.other']),
    ];
    expect(statementsReading(queries, ['app.events'], relations)).toEqual([1, 4, 0]);
    expect(statementsReading(queries, ['app.events'], relations, 2)).toEqual([1, 4]);
  });
});

describe('scanWords', () => {
  it('counts the kinds of many scans (a partition each) instead of naming each', () => {
    const scan = (table: string) => node('Index Scan', { 'Relation Name': table, 'Index Name': `${table}_status_idx` });
    const root = node(
      'Append',
      {},
      ['o_1', 'o_2', 'o_3'].map(scan).concat(node('Seq Scan', { 'Relation Name': 'o_4' })),
    );
    expect(scanWords(root, { tables: ['o', 'o_1', 'o_2', 'o_3', 'o_4'], indexes: [] })).toBe(
      '4 scans (Index Scan x3, Seq Scan)',
    );
  });
});
