/**
 * Facts the rules read from EXPLAIN plans: scan kinds, how many rows a scan reads and how many its
 * filter removes, a node's share of the statement's cost or time, whether a plan is trivial. Pure.
 *
 * Per-loop numbers: EXPLAIN reports `Plan Rows`, `Actual Rows` and `Rows Removed by Filter` per loop
 * (and, under a Gather, per process), so totals multiply by `Actual Loops`.
 */
import type { PlanNode } from '../model/plan.js';
import type { QueryReport, RelationInfo } from '../model/report.js';
import { isLimitGuess } from './default-guess.js';
import { walkPlan, type VisitedNode } from './plan.js';

/** Plans cheaper than this (the planner's unitless cost) are not worth a finding. */
export const TRIVIAL_COST = 10;
/** Statements that touch fewer shared buffers per call are not worth a finding. */
export const TRIVIAL_BLOCKS = 10;

export const isSeqScan = (node: PlanNode): boolean =>
  node['Node Type'] === 'Seq Scan' || node['Node Type'] === 'Parallel Seq Scan';

const INDEX_SCANS = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan', 'Bitmap Index Scan']);
export const isIndexScan = (node: PlanNode): boolean => INDEX_SCANS.has(node['Node Type']);

/**
 * An Index Scan or Index Only Scan with no Index Cond but a Filter: it reads every entry of the
 * index (the planner chose it over the table because the index is smaller, or for its order) and
 * filters them, as a sequential scan filters the table's rows.
 */
export const isIndexWalk = (node: PlanNode): boolean =>
  (node['Node Type'] === 'Index Scan' || node['Node Type'] === 'Index Only Scan') &&
  node['Index Cond'] === undefined &&
  node.Filter !== undefined;

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
  /**
   * The share of the node's rows the plan is expected to pull, as the planner costs it: below 1 when
   * a LIMIT above stops it early through nodes that stream (see `planNodes`), else 1.
   */
  readonly fraction: number;
  /**
   * True for a node that runs once per row of an outer node (the inner side of a nested loop, a
   * subplan, the recursive term of a recursive CTE): its `Plan Rows` are per run, so its total is
   * per-run estimate x loops.
   */
  readonly rescanned: boolean;
  /**
   * True for a node in the recursive term of a Recursive Union (`WITH RECURSIVE`): it runs once per
   * level of the recursion, and the planner's costs of it are per level (see `shareIsLowerBound`).
   */
  readonly recursive: boolean;
}

/** PostgreSQL's parallel divisor: workers plus the leader's share (1 - 0.3 per worker, if positive). */
export function parallelDivisor(workers: number): number {
  if (workers <= 0) return 1;
  const leader = 1 - 0.3 * workers;
  return workers + (leader > 0 ? leader : 0);
}

/**
 * Nodes that pass rows up as they produce them: a LIMIT above them stops their input early too.
 * Blocking nodes (Sort, Aggregate, Hash, Materialize, WindowAgg, SetOp, ...) read all their input
 * before returning a row, so what is under them is read in full.
 */
const STREAMING = new Set([
  'Gather',
  'Gather Merge',
  'Subquery Scan',
  'Result',
  'ProjectSet',
  'Unique',
  'Merge Append',
]);
/** Joins stream their outer side; the inner side is built (Hash) or rescanned per outer row. */
const JOINS = new Set(['Nested Loop', 'Hash Join', 'Merge Join']);

/**
 * The planner's share of a LIMIT's input that it reads: PostgreSQL costs a LIMIT as its input's
 * startup cost plus (offset + count) / input rows of the input's run cost, so the share comes back
 * out of the costs, OFFSET included, without reading the statement.
 */
export function limitShare(limit: PlanNode, input: PlanNode): number {
  const run = input['Total Cost'] - input['Startup Cost'];
  if (!(run > 0)) return 1;
  return Math.min(1, Math.max(0, (limit['Total Cost'] - input['Startup Cost']) / run));
}

/** The share of each child's rows a node pulls when its parent pulls `fraction` of its own. */
function childFractions(node: PlanNode, fraction: number): number[] {
  const children = node.Plans ?? [];
  const type = node['Node Type'];
  // A (non-parallel) Append returns its children one after the other: the rows it needs come from
  // the first children, and the later ones may never run.
  let needed = type === 'Append' && node['Parallel Aware'] !== true ? fraction * node['Plan Rows'] : undefined;
  return children.map((child) => {
    const relationship = child['Parent Relationship'];
    if (relationship === 'InitPlan' || relationship === 'SubPlan') return 1;
    if (type === 'Limit') return fraction * limitShare(node, child);
    if (STREAMING.has(type)) return fraction;
    if (JOINS.has(type)) return relationship === 'Outer' ? fraction : 1;
    if (needed !== undefined && relationship === 'Member') {
      const rows = child['Plan Rows'];
      const share = rows > 0 ? Math.min(1, Math.max(0, needed / rows)) : needed > 0 ? 1 : 0;
      needed = Math.max(0, needed - rows);
      return share;
    }
    return 1;
  });
}

/** Every node with its parallel divisor and the share of it the plan pulls, depth first. */
export function planNodes(root: PlanNode): PlanNodeFacts[] {
  type Facts = { parallelDivisor: number; fraction: number; rescanned: boolean; recursive: boolean };
  const facts = new Map<PlanNode, Facts>();
  const assign = (node: PlanNode, divisor: number, fraction: number, rescanned: boolean, recursive: boolean): void => {
    facts.set(node, { parallelDivisor: divisor, fraction, rescanned, recursive });
    const gather = isGather(node);
    const workers = Number(node['Workers Planned'] ?? 0);
    const fractions = childFractions(node, fraction);
    for (const [i, child] of (node.Plans ?? []).entries()) {
      const relationship = child['Parent Relationship'];
      const perRow = relationship === 'SubPlan' || (node['Node Type'] === 'Nested Loop' && relationship === 'Inner');
      const perLevel = isRecursiveTerm(child, node);
      assign(
        child,
        gather ? parallelDivisor(workers) : divisor,
        fractions[i] ?? 1,
        rescanned || perRow || perLevel,
        recursive || perLevel,
      );
    }
  };
  assign(root, 1, 1, false, false);
  return walkPlan(root).map((v) => ({
    ...v,
    ...(facts.get(v.node) ?? { parallelDivisor: 1, fraction: 1, rescanned: false, recursive: false }),
  }));
}

const isGather = (node: PlanNode): boolean => node['Node Type'] === 'Gather' || node['Node Type'] === 'Gather Merge';

/**
 * True for the recursive term of a `WITH RECURSIVE` CTE: the inner child of a Recursive Union, which
 * runs once per level of the recursion (on the rows the previous level added, the WorkTable Scan).
 */
export const isRecursiveTerm = (node: PlanNode, parent: PlanNode | undefined): boolean =>
  parent?.['Node Type'] === 'Recursive Union' && node['Parent Relationship'] === 'Inner';

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

/**
 * Rows a node returned in all (all loops, all processes), as EXPLAIN ANALYZE counted them: `Actual
 * Rows` is per loop, so it is multiplied by `Actual Loops`. In a parallel plan each process is a
 * loop and `Actual Rows` their average, which PostgreSQL before 18 rounds to an integer (one row kept
 * of three processes prints as 0): for a parallel-aware node right under a Gather, the Gather's own
 * count, exact, is the total. Undefined without ANALYZE.
 */
export function actualRows(node: PlanNode, parent?: PlanNode): number | undefined {
  const actual = node['Actual Rows'];
  if (actual === undefined) return undefined;
  if (parent && isGather(parent) && node['Parallel Aware'] === true && parent['Actual Rows'] !== undefined)
    return parent['Actual Rows'] * (parent['Actual Loops'] ?? 1);
  return actual * (node['Actual Loops'] ?? 1);
}

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
export function removedShare(node: PlanNode, divisor: number, tableRows: number, parent?: PlanNode): number {
  if (node.Filter === undefined) return 0;
  const removedPerLoop = node['Rows Removed by Filter'];
  const kept = actualRows(node, parent);
  if (removedPerLoop !== undefined && kept !== undefined) {
    const removed = removedPerLoop * (node['Actual Loops'] ?? 1);
    const read = removed + kept;
    return read > 0 ? removed / read : 0;
  }
  if (tableRows <= 0) return 0;
  return Math.max(0, 1 - Math.min(1, (node['Plan Rows'] * divisor) / tableRows));
}

/**
 * A node's share of the statement, 0..1: of its execution time with ANALYZE, else of its total cost,
 * of which a node that a LIMIT stops early (`fraction` < 1) runs only that share. Without ANALYZE, the
 * cost of a node in a recursive term is that of one level: the share is a lower bound then
 * (`shareIsLowerBound`).
 */
export function nodeShare(node: PlanNode, root: PlanNode, fraction = 1): number {
  const time = node['Actual Total Time'];
  const rootTime = root['Actual Total Time'];
  if (time !== undefined && rootTime !== undefined && rootTime > 0) {
    return Math.min(1, (time * (node['Actual Loops'] ?? 1)) / (rootTime * (root['Actual Loops'] ?? 1)));
  }
  const cost = root['Total Cost'];
  const startup = node['Startup Cost'];
  const used = startup + fraction * (node['Total Cost'] - startup);
  return cost > 0 ? Math.min(1, used / cost) : 0;
}

/**
 * True when `nodeShare` is only a lower bound: without ANALYZE, a node in the recursive term of a
 * `WITH RECURSIVE` is costed for one level, and it runs once per level, however many there are (the
 * planner's costs of the Recursive Union assume ten).
 */
export const shareIsLowerBound = (facts: PlanNodeFacts): boolean =>
  facts.recursive && facts.node['Actual Total Time'] === undefined;

/** How many rows a sequential scan reads per call, and how that is known. */
export interface ScanRead {
  /**
   * Rows read per call (all loops, all processes), the best figure there is: counted by EXPLAIN
   * ANALYZE, measured from the statement's shared blocks, or the planner's.
   */
  readonly rows: number;
  readonly basis: 'counted' | 'measured' | 'planned';
  /** Rows the planner expects the scan to read: the table, or the share a LIMIT above leaves. */
  readonly plannedRows: number;
  /** True when the planner expects a LIMIT above to stop the scan before the end of the table. */
  readonly stopsEarly: boolean;
  /** Shared blocks the statement touched per call (pg_stat_statements), when they measure this scan. */
  readonly blocksPerCall?: number;
  /** The table's size in blocks (pg_class.relpages), with `blocksPerCall`. */
  readonly tableBlocks?: number;
  /** Runs of the scan per call (ANALYZE; the inner side of a nested loop runs many times). */
  readonly loops: number;
}

/**
 * What a sequential scan reads per call. With ANALYZE the rows are counted: rows returned plus rows
 * removed by the filter, over all loops (a never-executed scan read nothing). Without, the planner
 * expects the whole table, or, under a LIMIT with only streaming nodes in between, the share it
 * costs (limit rows / the filter's selectivity, capped by the table). That share rests on the
 * filter's estimated selectivity, so when the statement's shared blocks per call can only come from
 * this scan (no other relation or index in the plan), they measure what it really read.
 */
export function seqScanRead(
  facts: PlanNodeFacts,
  query: QueryReport,
  tableRows: number,
  relation: RelationInfo | undefined,
  nodes: readonly PlanNodeFacts[],
): ScanRead {
  const { node, fraction } = facts;
  const stopsEarly = fraction < 1;
  const plannedRows = Math.min(tableRows, tableRows * fraction);
  const actual = node['Actual Rows'];
  if (actual !== undefined) {
    const loops = Number(node['Actual Loops'] ?? 1);
    const read = (actualRows(node, facts.parent) ?? actual * loops) + (node['Rows Removed by Filter'] ?? 0) * loops;
    return { rows: read, basis: 'counted', plannedRows, stopsEarly, loops: facts.parallelDivisor === 1 ? loops : 1 };
  }
  const pages = relation?.pages ?? 0;
  const onlyReader = nodes.every(
    (n) => n.node === node || (n.node['Relation Name'] === undefined && n.node['Index Name'] === undefined),
  );
  if (stopsEarly && !facts.rescanned && onlyReader && pages > 0 && query.calls > 0 && query.sharedBlksPerCall > 0) {
    const blocksPerCall = query.sharedBlksPerCall;
    return {
      rows: Math.min(tableRows, (blocksPerCall / pages) * tableRows),
      basis: 'measured',
      plannedRows,
      stopsEarly,
      blocksPerCall,
      tableBlocks: pages,
      loops: 1,
    };
  }
  return { rows: plannedRows, basis: 'planned', plannedRows, stopsEarly, loops: 1 };
}

/**
 * The share of the rows a scan read that its filter removed, measured: for a scan whose rows are the
 * statement's (above it only a Limit and nodes that pass rows on), whose rows read are measured by
 * the statement's blocks per call (`seqScanRead`), it is 1 - rows per call / rows read. Undefined
 * for any other shape. For a filter whose estimate is the planner's default guess.
 */
export function measuredRemovedShare(
  facts: PlanNodeFacts,
  nodes: readonly PlanNodeFacts[],
  query: QueryReport,
  read: ScanRead,
): number | undefined {
  if (read.basis !== 'measured' || query.calls <= 0 || read.rows <= 0) return undefined;
  const parentOf = new Map(nodes.map((n) => [n.node, n.parent]));
  for (let parent = facts.parent; parent; parent = parentOf.get(parent)) {
    const type = parent['Node Type'];
    if ((type !== 'Limit' && !PASS_THROUGH.has(type)) || parent.Filter !== undefined) return undefined;
  }
  return Math.min(1, Math.max(0, 1 - query.rowsPerCall / read.rows));
}

/** Nodes that pass a scan's rows on to a sort, or a sort's rows on to a LIMIT, without joining, grouping or filtering them. */
const PASS_THROUGH = new Set(['Gather', 'Gather Merge', 'Result', 'Subquery Scan']);

/** A top-N sort above a scan: what the LIMIT returns of all the rows the sort had to see. */
export interface TopN {
  /**
   * Rows the LIMIT returns per call (all loops): actual with ANALYZE; for `LIMIT $n` in a generic
   * plan, whose estimate is a tenth of the input, the statement's measured rows per call; else the
   * planner's.
   */
  readonly returned: number;
  /**
   * How `returned` is known: `measured` (pg_stat_statements rows per call, the LIMIT being a
   * parameter), `guessed` (the generic plan's tenth of the input, with no measure to replace it).
   * Absent when counted or estimated from a known count.
   */
  readonly returnedBasis?: 'measured' | 'guessed';
  /** The sort's keys as the plan prints them (`created_at DESC`). */
  readonly sortKey: readonly string[];
}

/**
 * For a scan whose rows go, through nodes that only pass them on, into a Sort whose rows go the same
 * way into a LIMIT (`ORDER BY ... LIMIT n`, a top-N sort): the sort must see every row the scan
 * keeps before the LIMIT takes the first, so the scan reads all it can to return `returned` rows.
 * Undefined for any other shape, a rescanned scan (the inner side of a nested loop), or a pass-through
 * node with a filter of its own.
 */
export function topNAbove(
  facts: PlanNodeFacts,
  nodes: readonly PlanNodeFacts[],
  query?: QueryReport,
): TopN | undefined {
  if (facts.rescanned) return undefined;
  const parentOf = new Map(nodes.map((n) => [n.node, n.parent]));
  const passes = (node: PlanNode | undefined): boolean =>
    node !== undefined && PASS_THROUGH.has(node['Node Type']) && node.Filter === undefined;
  let child = facts.node;
  let parent = facts.parent;
  while (parent && passes(parent)) [child, parent] = [parent, parentOf.get(parent)];
  if (parent?.['Node Type'] !== 'Sort' || child['Parent Relationship'] !== 'Outer') return undefined;
  const sortKey = parent['Sort Key'];
  if (!sortKey || sortKey.length === 0) return undefined;
  let above = parentOf.get(parent);
  while (above && passes(above)) above = parentOf.get(above);
  if (above?.['Node Type'] !== 'Limit') return undefined;
  const keys = sortKey.map(String);
  if (!isLimitGuess(above, query?.plan?.mode === 'generic')) return { returned: rowsOut(above), sortKey: keys };
  // The statement's rows per call are the LIMIT's when it is the plan's top node.
  const top = above === query?.plan?.root && query.calls > 0;
  return top
    ? { returned: query.rowsPerCall, returnedBasis: 'measured', sortKey: keys }
    : { returned: rowsOut(above), returnedBasis: 'guessed', sortKey: keys };
}

/** Rows a scan returns per call (all loops, all processes): actual with ANALYZE, else estimated. */
export function rowsKept(facts: PlanNodeFacts): number {
  const { node } = facts;
  const counted = actualRows(node, facts.parent);
  if (counted !== undefined) return counted;
  return node['Plan Rows'] * facts.parallelDivisor * facts.fraction;
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
