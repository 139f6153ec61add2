/**
 * nested-loop-heavy: a Nested Loop that re-reads a non-indexed inner side for every outer row
 * (rows visited = loops x inner rows), or whose output multiplies its inputs.
 */
import {
  columnPredicates,
  proposeIndexSql,
  identifiersIn,
  scansTable,
  tableHasColumn,
} from '../analyze/column-predicates.js';
import { formatPath, walkPlan } from '../analyze/plan.js';
import { isIndexScan, isSeqScan, isTrivial, relationRows, rowsOut } from '../analyze/plan-facts.js';
import type { TreeNode } from '../analyze/sql-tree.js';
import type { PlanNode } from '../model/plan.js';
import type { RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';
import { quoteIdentifier } from '../analyze/parser.js';

export default defineRule({
  id: 'nested-loop-heavy',
  severity: 'warning',
  category: 'join',
  description: 'A Nested Loop re-reads a non-indexed inner side for every outer row, or multiplies its rows.',
  messages: {
    innerScan:
      '{node} runs its inner side {loops} times over {inner}, which is not an index lookup: {rowVisits} rows visited ({innerRows} per loop)',
    explodes: '{node} turns {outerRows} x {innerRows} input rows into {outputRows} rows',
  },
  defaultOptions: {
    /** Inner sides executed fewer times are ignored. */
    minLoops: 100,
    /** Rows visited on the inner side (loops x rows per loop) from which the loop is reported. */
    minRowVisits: 1_000_000,
    /** Output rows from which a multiplying join is reported. */
    explodeRows: 100_000,
    /** Output at least this many times the larger input. */
    explodeFactor: 10,
  },
  check({ query, nodes, sql, params, tree, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const planNodes = nodes.map((n) => n.node);
    const findings: RuleFinding[] = [];
    for (const facts of nodes) {
      const { node } = facts;
      if (node['Node Type'] !== 'Nested Loop') continue;
      const children = node.Plans ?? [];
      const outer = children.find((c) => c['Parent Relationship'] === 'Outer') ?? children[0];
      const inner = children.find((c) => c['Parent Relationship'] === 'Inner') ?? children[1];
      if (!outer || !inner) continue;
      const label = facts.path[facts.path.length - 1] ?? 'Nested Loop';
      const loops =
        inner['Actual Loops'] !== undefined
          ? Number(inner['Actual Loops'])
          : Math.round(rowsOut(outer, facts.parallelDivisor));
      const innerRows = innerRowsPerLoop(inner, relationOf);
      const indexed = walkPlan(inner).some(({ node: n }) => isIndexScan(n));
      const innerScan = walkPlan(inner).find(({ node: n }) => isSeqScan(n))?.node;
      const base = { nodePath: formatPath(facts.path), data: { node: label } };
      if (!indexed && loops >= options.minLoops && loops * innerRows >= options.minRowVisits) {
        const relation = innerScan ? relationOf(innerScan) : undefined;
        const innerLabel = innerScan
          ? `${innerScan['Node Type']} on ${relation?.name ?? innerScan['Relation Name']}`
          : inner['Node Type'];
        findings.push({
          ...base,
          messageId: 'innerScan',
          ...(relation ? { relation: relation.name } : {}),
          evidence: {
            loops,
            innerRows: Math.round(innerRows),
            rowVisits: Math.round(loops * innerRows),
            ...(node['Join Filter'] ? { joinFilter: node['Join Filter'] } : {}),
          },
          data: { ...base.data, inner: innerLabel },
          suggestion: suggestIndex(innerScan, relation, node, planNodes, { sql, params, tree }),
        });
        continue;
      }
      const outputRows = rowsOut(node, facts.parallelDivisor);
      const outerRows = rowsOut(outer, facts.parallelDivisor);
      const innerOut = inner['Actual Rows'] ?? inner['Plan Rows'];
      if (outputRows >= options.explodeRows && outputRows >= options.explodeFactor * Math.max(outerRows, innerOut, 1)) {
        findings.push({
          ...base,
          messageId: 'explodes',
          evidence: {
            outerRows: Math.round(outerRows),
            innerRows: Math.round(innerOut),
            outputRows: Math.round(outputRows),
          },
          suggestion:
            'check the join condition: a missing or non-equality condition, or a many-to-many join, multiplies rows; aggregate or deduplicate before joining',
        });
      }
    }
    return findings;
  },
});

/** Rows the inner side reads each time it runs: a scanned table's rows, or a materialized set's. */
function innerRowsPerLoop(inner: PlanNode, relationOf: (n: PlanNode) => RelationInfo | undefined): number {
  if (inner['Node Type'] === 'Materialize' || inner['Node Type'] === 'Memoize') {
    const child = inner.Plans?.[0];
    return child ? (child['Actual Rows'] ?? child['Plan Rows']) : inner['Plan Rows'];
  }
  if (isSeqScan(inner)) {
    const relation = relationOf(inner);
    if (relation) return relationRows(relation);
    const removed = inner['Rows Removed by Filter'];
    return removed !== undefined ? removed + (inner['Actual Rows'] ?? 0) : inner['Plan Rows'];
  }
  return (inner.Plans ?? []).reduce((s, c) => s + innerRowsPerLoop(c, relationOf), 0) || inner['Plan Rows'];
}

function suggestIndex(
  scan: PlanNode | undefined,
  relation: RelationInfo | undefined,
  loop: PlanNode,
  planNodes: readonly PlanNode[],
  statement: { sql: string; params?: readonly (string | null)[]; tree: readonly TreeNode[] },
): string {
  const fallback =
    'index the inner side on its join column, or check the row estimates that made the planner choose a nested loop';
  if (!scan || !relation) return fallback;
  const joinColumns = columnPredicates(
    statement.sql,
    statement.params,
    (t, c) =>
      tableHasColumn(relation, planNodes, t, c) || (scansTable(scan, t) && identifiersIn(loop['Join Filter']).has(c)),
    [...statement.tree],
  )
    .filter(
      (p) =>
        p.join && p.wrapper === 'column' && (p.use === 'equality' || p.use === 'range') && scansTable(scan, p.table),
    )
    .map((p) => p.column);
  const columns = [...new Set(joinColumns)].slice(0, 2);
  return columns.length > 0 ? proposeIndexSql(relation.name, columns.map(quoteIdentifier)) : fallback;
}
