/**
 * row-estimate-mismatch (EXPLAIN ANALYZE only): the planner expected far more or far fewer rows than
 * a node produced. A misestimate propagates up the plan, so only the lowest mismatching nodes (the
 * causes) are reported, with the relation and the predicate the planner misjudged.
 */
import { columnPredicates, scansTable, tableHasColumn } from '../analyze/column-predicates.js';
import { formatPath } from '../analyze/plan.js';
import { isTrivial, relationRows, round } from '../analyze/plan-facts.js';
import type { PlanNode } from '../model/plan.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'row-estimate-mismatch',
  severity: 'warning',
  category: 'estimate',
  description:
    "The planner's row estimate for a plan node is off by 10x or more from the actual rows (with --analyze).",
  messages: {
    filter:
      '{node}: the planner expected {expected} but got {actualRows} ({ratio}x {direction}): it misjudged the filter {condition}',
    staleStatistics:
      '{node}: the planner expected {expected} but got {actualRows} ({ratio}x {direction}): the statistics of {relation} are stale (it estimates {statRows} rows, it holds {liveRows})',
    join: '{node}: the planner expected {expected} but got {actualRows} ({ratio}x {direction}): it misjudged the join condition {condition}',
    node: '{node}: the planner expected {expected} but got {actualRows} ({ratio}x {direction})',
  },
  defaultOptions: {
    /** A misestimate at least this large is reported (as info below `strongRatio`). */
    ratio: 10,
    /** A misestimate at least this large is a clear case. */
    strongRatio: 100,
    /** Nodes whose estimated and actual rows (over all loops) both stay below this are ignored. */
    minRows: 1000,
  },
  check({ query, nodes, sql, params, tree, relationOf, options }) {
    if (!query.plan || query.plan.mode !== 'analyze' || isTrivial(query)) return [];
    const mismatched = new Map<PlanNode, { ratio: number; estimated: number; actual: number; loops: number }>();
    const earlyStop = earlyStoppingNodes(query.plan.root);
    for (const { node } of nodes) {
      const actual = node['Actual Rows'];
      const loops = Number(node['Actual Loops'] ?? 0);
      if (actual === undefined || loops <= 0) continue;
      const estimated = node['Plan Rows'];
      if (Math.max(estimated, actual) * loops < options.minRows) continue;
      // Under a Limit, a semi/anti join or a merge join a node may stop early: producing fewer rows
      // than estimated there is not a misestimate.
      if (actual < estimated && earlyStop.has(node)) continue;
      const ratio = Math.max(estimated, actual) / Math.max(1, Math.min(estimated, actual));
      if (ratio >= options.ratio) mismatched.set(node, { ratio, estimated, actual, loops });
    }
    const planNodes = nodes.map((n) => n.node);
    const findings: RuleFinding[] = [];
    for (const facts of nodes) {
      const m = mismatched.get(facts.node);
      if (!m || hasMismatchedDescendant(facts.node, mismatched)) continue;
      const { node } = facts;
      const relation = relationOf(node);
      const base = {
        nodePath: formatPath(facts.path),
        ...(relation ? { relation: relation.name } : {}),
        evidence: {
          estimatedRows: Math.round(m.estimated),
          actualRows: round(m.actual, 2),
          loops: m.loops,
          ratio: Math.round(m.ratio),
          direction: m.actual > m.estimated ? 'under' : 'over',
        },
        data: {
          node: facts.path[facts.path.length - 1] ?? node['Node Type'],
          direction: m.actual > m.estimated ? 'more' : 'fewer',
          expected: m.estimated === 1 ? '1 row' : `${Math.round(m.estimated).toLocaleString('en-US')} rows`,
        },
        ...(m.ratio < options.strongRatio ? { level: 'note' as const } : {}),
      };
      const condition = joinCondition(node);
      if (relation && isStale(relation.estimatedRows, relation.liveRows, options.ratio)) {
        findings.push({
          ...base,
          messageId: 'staleStatistics',
          evidence: { ...base.evidence, statRows: Math.round(relation.estimatedRows), liveRows: relation.liveRows },
          data: { ...base.data, relation: relation.name },
          suggestion: `ANALYZE ${relation.name};`,
        });
      } else if (relation && node.Filter) {
        const columns = [
          ...new Set(
            columnPredicates(sql, params, (t, c) => scansTable(node, t) && tableHasColumn(relation, planNodes, t, c), [
              ...tree,
            ])
              .filter((p) => scansTable(node, p.table) && !p.join && p.wrapper === 'column')
              .map((p) => p.column),
          ),
        ];
        findings.push({
          ...base,
          messageId: 'filter',
          evidence: { ...base.evidence, condition: node.Filter },
          data: { ...base.data, condition: node.Filter },
          suggestion:
            columns.length >= 2
              ? `CREATE STATISTICS ON ${columns.join(', ')} FROM ${relation.name}; ANALYZE ${relation.name}; -- the columns are correlated: the planner multiplies their selectivities`
              : `ALTER TABLE ${relation.name} ALTER COLUMN ${columns[0] ?? '<column>'} SET STATISTICS 1000; ANALYZE ${relation.name};`,
        });
      } else if (condition) {
        findings.push({
          ...base,
          messageId: 'join',
          evidence: { ...base.evidence, condition },
          data: { ...base.data, condition },
          suggestion: 'ANALYZE the joined tables; for correlated join columns, CREATE STATISTICS on them',
        });
      } else if (relation && relationRows(relation) > 0) {
        findings.push({ ...base, messageId: 'node', suggestion: `ANALYZE ${relation.name};` });
      } else {
        findings.push({ ...base, messageId: 'node' });
      }
    }
    return findings;
  },
});

function isStale(statRows: number, liveRows: number, ratio: number): boolean {
  if (statRows < 0) return liveRows > 0; // never analyzed
  return Math.max(statRows, liveRows) / Math.max(1, Math.min(statRows, liveRows)) >= ratio;
}

function joinCondition(node: PlanNode): string | undefined {
  for (const key of ['Hash Cond', 'Merge Cond', 'Join Filter', 'Index Cond'] as const) {
    const value = node[key];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

function hasMismatchedDescendant(node: PlanNode, mismatched: ReadonlyMap<PlanNode, unknown>): boolean {
  return (node.Plans ?? []).some((child) => mismatched.has(child) || hasMismatchedDescendant(child, mismatched));
}

/** Nodes below something that may stop pulling rows early (Limit, semi/anti join, merge join). */
function earlyStoppingNodes(root: PlanNode): Set<PlanNode> {
  const out = new Set<PlanNode>();
  const visit = (node: PlanNode, below: boolean): void => {
    if (below) out.add(node);
    const stops =
      node['Node Type'] === 'Limit' ||
      node['Node Type'] === 'Merge Join' ||
      node['Join Type'] === 'Semi' ||
      node['Join Type'] === 'Anti' ||
      node['Parent Relationship'] === 'SubPlan' ||
      node['Parent Relationship'] === 'InitPlan';
    for (const child of node.Plans ?? []) visit(child, below || stops);
  };
  visit(root, false);
  return out;
}
