/**
 * index-scan-filter: an index scan whose filter throws away most of the rows it reads. The index
 * serves the order (`ORDER BY id LIMIT 20` walking the primary key) or part of the condition, and
 * every row it finds is fetched from the table before the filter rejects it. The planner chose it
 * expecting matches early; when they come late, or not at all, the scan reads a large part of the
 * table through the index, one random heap access at a time. Graded on the rows and the scan's own
 * blocks counted by EXPLAIN ANALYZE, or, without it, on the shared blocks per call the statement
 * touched when this scan is the only relation the plan reads (the scans of the partitions of one
 * table under one Append count as one), against the rows the planner expects the scan itself to
 * return: blocks far beyond the rows kept are rows read and thrown away.
 */
import { generateCandidates, proposalOrder } from '../advise/candidates.js';
import { columnPredicates, proposeIndexSql, scansTable, tableHasColumn } from '../analyze/column-predicates.js';
import { predicateVerdict } from '../analyze/expression-refusal.js';
import { formatPath, isSubplan } from '../analyze/plan.js';
import { isTrivial, relationRows, round, rowsKept } from '../analyze/plan-facts.js';
import type { PlanNode } from '../model/plan.js';
import type { QueryReport, RelationInfo, Report } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';
import { predicateFix, problemOf } from './shared/predicate-fix.js';

const INDEX_SCANS = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan']);
const APPENDS = new Set(['Append', 'Merge Append']);

export default defineRule({
  id: 'index-scan-filter',
  severity: 'error',
  category: 'scan',
  description:
    'An index scan reads many rows that its filter then throws away: the index serves the order or part of the condition, not the filter.',
  messages: {
    counted:
      '{scan} reads {rowsRead} rows of {relation} through {index} to keep {keptRows} ({removedPercent}% removed by its filter {filter})',
    countedBlocks:
      '{scan} touches {scanBlocks} shared blocks of {relation} through {index} to read {rowsRead} rows and keep {keptRows} ({removedPercent}% removed by its filter {filter})',
    measured:
      '{scan} through {index} touches {blocks} shared blocks per call to return {scanRows} rows of {relation}: its filter {filter} throws away what the index finds',
    measuredPartition:
      "{scan} on {partition} through {index} (plan cost {cost}{indexRows}): its filter {filter} throws away what the index finds; the statement's scans of the {partitions} partitions of {relation} touch {blocks} shared blocks per call to return {scanRows} rows",
  },
  defaultOptions: {
    /** Tables with fewer rows are never reported; with --analyze, scans reading fewer per call only on their blocks. */
    minRows: 10_000,
    /** Share of the rows read that the filter removes from which the scan is reported (one step milder). */
    indexableShare: 2 / 3,
    /** Share removed from which it is a clear case. */
    selectiveShare: 0.9,
    /** Shared blocks per call from which the scan is reported (the statement's, or with --analyze the scan's own)... */
    minBlocks: 1_000,
    /** ...when they are this many times the rows the scan returns per call (estimated, or counted) or more. */
    blocksPerRow: 10,
  },
  check({ query, report, nodes, sql, params, tree, relation: named, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const findings: RuleFinding[] = [];
    for (const facts of nodes) {
      const { node, path } = facts;
      if (!INDEX_SCANS.has(node['Node Type']) || node.Filter === undefined) continue;
      const relation = relationOf(node);
      if (!relation || relationRows(relation) < options.minRows) continue;
      const index = indexOf(node);
      const nodePath = formatPath(path);
      const base = {
        relation: relation.name,
        nodePath,
        ...(() => {
          const suggestion = suggest(
            { query, report, relation: named },
            relation,
            node,
            nodePath,
            sql,
            params,
            tree,
            nodes,
          );
          return suggestion ? { suggestion } : {};
        })(),
      };
      const data = {
        scan: node['Node Type'],
        relation: relation.name,
        index: index ?? 'its index',
        filter: node.Filter,
      };
      if (node['Actual Rows'] !== undefined) {
        const loops = Number(node['Actual Loops'] ?? 1);
        const kept = node['Actual Rows'] * loops;
        const removed = Number(node['Rows Removed by Filter'] ?? 0) * loops;
        const read = kept + removed;
        // The scan's own blocks over all its loops (one call): not its bitmap index scan's, nor those
        // of a subplan that EXPLAIN nests under it. Held to the same bar as the statement's blocks
        // without ANALYZE, so that a few thousand rows on as many blocks are reported in both modes.
        // Each loop descends the index, a few blocks even when it finds nothing: at least one row's
        // worth per loop, so that the inner side of a nested loop is not charged for its descents.
        const blocks = ownBlocks(node);
        const manyRows = read >= options.minRows;
        const manyBlocks = blocks >= options.minBlocks && blocks >= options.blocksPerRow * Math.max(loops, kept);
        if ((!manyRows && !manyBlocks) || read <= 0 || removed / read < options.indexableShare) continue;
        const share = removed / read;
        findings.push({
          ...base,
          messageId: manyRows ? 'counted' : 'countedBlocks',
          ...(share < options.selectiveShare ? { level: 'mild' as const } : {}),
          evidence: {
            tableRows: Math.round(relationRows(relation)),
            rowsRead: Math.round(read),
            keptRows: Math.round(kept),
            removedShare: round(share, 4),
            ...(blocks > 0 ? { scanBlocks: Math.round(blocks) } : {}),
            ...(index ? { index } : {}),
            filter: node.Filter,
            ...(loops > 1 ? { loops } : {}),
          },
          data: {
            ...data,
            // Floored near 100% so that "100%" means every row was removed.
            removedPercent: share >= 0.99 ? Math.floor(share * 10000) / 100 : Math.round(share * 1000) / 10,
          },
        });
        continue;
      }
      // Without ANALYZE the statement's shared blocks per call measure this scan only when no other
      // relation or index is read (the bitmap's own index scan aside, not a subplan that EXPLAIN
      // nests under the scan: it reads its own relations). The scans of the partitions of one table
      // under one Append are one relation: together they read that table.
      const append = relation.partitionOf !== undefined && facts.parent && APPENDS.has(facts.parent['Node Type']);
      const sameTable = new Set(
        append
          ? nodes
              .filter((n) => n.parent === facts.parent && relationOf(n.node)?.partitionOf === relation.partitionOf)
              .map((n) => n.node)
          : [node],
      );
      const onlyReader = nodes.every(
        (n) =>
          sameTable.has(n.node) ||
          (n.parent !== undefined && sameTable.has(n.parent) && !isSubplan(n.node)) ||
          (n.node['Relation Name'] === undefined && n.node['Index Name'] === undefined),
      );
      if (!onlyReader || query.calls <= 0) continue;
      const blocks = query.sharedBlksPerCall;
      // The rows this scan returns (the planner's estimate: without ANALYZE nothing counts them), not
      // the statement's: an aggregate above it returns a few groups of the many rows it keeps. The
      // partitions' scans together return what the table's scan does.
      const scanRows = nodes.filter((n) => sameTable.has(n.node)).reduce((sum, n) => sum + rowsKept(n), 0);
      if (blocks < options.minBlocks || blocks < options.blocksPerRow * Math.max(1, scanRows)) continue;
      const evidence = {
        tableRows: Math.round(relationRows(relation)),
        tableBlocks: relation.pages,
        sharedBlksPerCall: round(blocks, 1),
        estimatedScanRows: round(scanRows, 1),
        ...(index ? { index } : {}),
        filter: node.Filter,
      };
      if (sameTable.size > 1) {
        // The blocks per call and the rows returned are the statement's, over every partition
        // scanned; what this partition's scan costs is its own, so that the partitions' findings
        // are told apart by their own work (see onePerPartitionedTable).
        const indexRows = indexRowsOf(node);
        findings.push({
          ...base,
          messageId: 'measuredPartition',
          evidence: {
            ...evidence,
            planCost: round(Number(node['Total Cost'] ?? 0), 1),
            ...(indexRows !== undefined ? { estimatedIndexRows: Math.round(indexRows) } : {}),
          },
          data: {
            ...data,
            partition: relation.name,
            relation: relation.partitionOf!,
            partitions: sameTable.size,
            cost: count(Number(node['Total Cost'] ?? 0)),
            indexRows:
              indexRows !== undefined
                ? `, an estimated ${count(indexRows)} of its ${count(relationRows(relation))} rows found by the index`
                : '',
            blocks: count(blocks),
            scanRows: `an estimated ${count(scanRows)}`,
          },
        });
        continue;
      }
      findings.push({
        ...base,
        messageId: 'measured',
        evidence,
        data: {
          ...data,
          blocks: Math.round(blocks),
          scanRows: `an estimated ${count(scanRows)}`,
        },
      });
    }
    return findings;
  },
});

const count = (n: number) =>
  n >= 10 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);

/** Shared blocks a node touched itself (hit or read, all loops), without its children's. */
function ownBlocks(node: PlanNode): number {
  const blocksOf = (n: PlanNode) => Number(n['Shared Hit Blocks'] ?? 0) + Number(n['Shared Read Blocks'] ?? 0);
  const children = (node.Plans ?? []).reduce((sum, child) => sum + blocksOf(child), 0);
  return Math.max(0, blocksOf(node) - children);
}

/** The rows the planner expects a bitmap heap scan's index to find, before its filter. */
function indexRowsOf(node: PlanNode): number | undefined {
  if (node['Node Type'] !== 'Bitmap Heap Scan') return undefined;
  const child = node.Plans?.find((p) => p['Node Type'] === 'Bitmap Index Scan');
  return child?.['Plan Rows'] !== undefined ? Number(child['Plan Rows']) : undefined;
}

/** The index a scan reads (a bitmap heap scan's through its bitmap index scan). */
function indexOf(node: PlanNode): string | undefined {
  if (node['Index Name']) return String(node['Index Name']);
  const child = node.Plans?.find((p) => p['Index Name'] !== undefined);
  return child ? String(child['Index Name']) : undefined;
}

/**
 * The index index advice would name first without the planner's verdict (see candidates.ts): from
 * the conditions the plan prints for the scan, its equality columns first, then the filter's range
 * column or the order the index was walked for, and never an index the table already has (the
 * scanned index's own columns are no fix). Only B-trees on plain columns: whether an expression can
 * be indexed is the advice's to check. A filter whose only conditions wrap their column in a function
 * or cast, which no plain index serves, gets that predicate's own fix.
 */
function suggest(
  statement: {
    readonly query: QueryReport;
    readonly report: Report;
    readonly relation: (name: string) => RelationInfo | undefined;
  },
  relation: RelationInfo,
  node: PlanNode,
  nodePath: string,
  sql: string,
  params: readonly (string | null)[] | undefined,
  tree: Parameters<typeof columnPredicates>[3],
  nodes: readonly { node: PlanNode }[],
): string | undefined {
  const planNodes = nodes.map((n) => n.node);
  const predicates = columnPredicates(
    sql,
    params,
    (t, c) => scansTable(node, t, relation.partitionOf) && tableHasColumn(relation, planNodes, t, c),
    tree,
  ).filter((p) => scansTable(node, p.table, relation.partitionOf) && !p.join && !p.alternative);
  const bareEquality = predicates.some((p) => p.wrapper === 'column' && (p.use === 'equality' || p.use === 'in'));
  const wrapped = predicates.find((p) => problemOf(p) !== undefined);
  if (!bareEquality && wrapped) {
    const expression = predicateVerdict(node, wrapped, relation);
    return predicateFix(wrapped, relation.name, problemOf(wrapped)!, expression ? { expression } : {});
  }
  const candidates = generateCandidates(statement.query, { relation: relation.name, nodePath }, statement.report, {
    trigram: false,
  });
  const first = proposalOrder(candidates, statement.relation).find(
    (c) => c.method === 'btree' && c.equality !== undefined && !c.also,
  );
  if (first)
    return proposeIndexSql(first.relation, first.keys, {
      note: 'the filter columns first, so that the index finds only the rows the statement keeps',
    });
  // No index to add (the table has the one the candidates name): a filter predicate that wraps its
  // column is then what keeps the index from finding only the rows kept (and, on a partition key,
  // keeps the planner from pruning partitions).
  if (wrapped) {
    const expression = predicateVerdict(node, wrapped, relation);
    return predicateFix(wrapped, relation.name, problemOf(wrapped)!, expression ? { expression } : {});
  }
  const index = indexOf(node);
  return (
    `no index to propose from the plan: the scan's conditions give no B-tree, equality columns first, that the table ` +
    `does not have already${index ? ` (the scan reads ${index})` : ''}: what the filter ${String(node.Filter)} throws away ` +
    `is narrowed by a condition that an index serves, written in its place`
  );
}
