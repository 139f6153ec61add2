/**
 * Facts the rules read from EXPLAIN plans: scan kinds, how many rows a scan reads and how many its
 * filter removes, a node's share of the statement's cost or time, whether a plan is trivial. Pure.
 *
 * Per-loop numbers: EXPLAIN reports `Plan Rows`, `Actual Rows` and `Rows Removed by Filter` per loop
 * (and, under a Gather, per process), so totals multiply by `Actual Loops`.
 */
import type { PlanNode } from '../model/plan.js';
import type { QueryReport, RelationInfo } from '../model/report.js';
import { walkPlan, type VisitedNode } from './plan.js';

/** Plans cheaper than this (the planner's unitless cost) are not worth a finding. */
export const TRIVIAL_COST = 10;
/** Statements that touch fewer shared buffers per call are not worth a finding. */
export const TRIVIAL_BLOCKS = 10;

export const isSeqScan = (node: PlanNode): boolean =>
  node['Node Type'] === 'Seq Scan' || node['Node Type'] === 'Parallel Seq Scan';

const INDEX_SCANS = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan', 'Bitmap Index Scan']);
export const isIndexScan = (node: PlanNode): boolean => INDEX_SCANS.has(node['Node Type']);

/** "Parallel Seq Scan" for a parallel-aware scan (JSON plans say "Seq Scan" + "Parallel Aware"). */
export function scanKind(node: PlanNode): string {
  return node['Parallel Aware'] === true && !node['Node Type'].startsWith('Parallel')
    ? `Parallel ${node['Node Type']}`
    : node['Node Type'];
}

/** The plan's nodes with the number of parallel processes each runs in (1 outside a Gather). */
export interface PlanNodeFacts extends VisitedNode {
  /** The planner's parallel divisor: per-process row estimates times this are the node's total. */
  readonly parallelDivisor: number;
}

/** PostgreSQL's parallel divisor: workers plus the leader's share (1 - 0.3 per worker, if positive). */
export function parallelDivisor(workers: number): number {
  if (workers <= 0) return 1;
  const leader = 1 - 0.3 * workers;
  return workers + (leader > 0 ? leader : 0);
}

/** Every node with its parallel divisor, depth first. */
export function planNodes(root: PlanNode): PlanNodeFacts[] {
  const divisors = new Map<PlanNode, number>();
  const assign = (node: PlanNode, divisor: number): void => {
    divisors.set(node, divisor);
    const gather = node['Node Type'] === 'Gather' || node['Node Type'] === 'Gather Merge';
    const workers = Number(node['Workers Planned'] ?? 0);
    for (const child of node.Plans ?? []) assign(child, gather ? parallelDivisor(workers) : divisor);
  };
  assign(root, 1);
  return walkPlan(root).map((v) => ({ ...v, parallelDivisor: divisors.get(v.node) ?? 1 }));
}

/**
 * The relation's size in rows as the planner sees it (pg_class.reltuples), or the live-row counter
 * when the table was never analyzed or has grown tenfold since. The counter is not trusted for less:
 * right after a bulk load it can count the loaded rows twice (inserts flushed to the statistics
 * after ANALYZE set it).
 */
export function relationRows(relation: RelationInfo): number {
  const live = Math.max(relation.liveRows, 0);
  if (relation.estimatedRows < 0) return live;
  return live >= STALE_FACTOR * Math.max(1, relation.estimatedRows) ? live : relation.estimatedRows;
}

/** Live rows this many times the planner's estimate mean the statistics are stale. */
export const STALE_FACTOR = 10;

/** Rows a scan returns in all (all loops, all processes): actual with ANALYZE, else estimated. */
export function rowsOut(node: PlanNode, divisor = 1): number {
  if (node['Actual Rows'] !== undefined) return node['Actual Rows'] * (node['Actual Loops'] ?? 1);
  return node['Plan Rows'] * divisor;
}

/** How often a node ran: `Actual Loops` with ANALYZE, else undefined. */
export const loopsOf = (node: PlanNode): number | undefined =>
  node['Actual Loops'] !== undefined ? Number(node['Actual Loops']) : undefined;

/**
 * The share of the rows a sequential scan read that its filter threw away, 0..1 (0 without a filter).
 * With ANALYZE: rows removed / rows read. Without: 1 - estimated rows out / rows in the relation.
 */
export function removedShare(node: PlanNode, divisor: number, tableRows: number): number {
  if (node.Filter === undefined) return 0;
  const removed = node['Rows Removed by Filter'];
  const actual = node['Actual Rows'];
  if (removed !== undefined && actual !== undefined) {
    const read = removed + actual;
    return read > 0 ? removed / read : 0;
  }
  if (tableRows <= 0) return 0;
  return Math.max(0, 1 - Math.min(1, (node['Plan Rows'] * divisor) / tableRows));
}

/** A node's share of the statement: of its execution time with ANALYZE, else of its total cost. 0..1. */
export function nodeShare(node: PlanNode, root: PlanNode): number {
  const time = node['Actual Total Time'];
  const rootTime = root['Actual Total Time'];
  if (time !== undefined && rootTime !== undefined && rootTime > 0) {
    return Math.min(1, (time * (node['Actual Loops'] ?? 1)) / (rootTime * (root['Actual Loops'] ?? 1)));
  }
  const cost = root['Total Cost'];
  return cost > 0 ? Math.min(1, node['Total Cost'] / cost) : 0;
}

/**
 * True for statements too cheap to be worth a plan finding: total plan cost under 10, or fewer than
 * 10 shared buffers touched per call (pg_stat_statements).
 */
export function isTrivial(query: QueryReport): boolean {
  if (!query.plan) return true;
  if (query.plan.totalCost < TRIVIAL_COST) return true;
  return query.calls > 0 && query.sharedBlksPerCall < TRIVIAL_BLOCKS;
}

/** The band a value falls in: 0 below the first threshold, else 1 + the highest threshold reached. */
export function band(value: number, thresholds: readonly number[]): number {
  let b = 0;
  thresholds.forEach((t, i) => {
    if (value >= t) b = i + 1;
  });
  return b;
}

/** Rounds for evidence: integers stay, ratios keep three significant decimals. */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
