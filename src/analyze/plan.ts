/** Walking EXPLAIN plan trees: pure helpers shared by capture, rules and compare. */
import type { PlanNode } from '../model/plan.js';

/** A node with its position in the tree. */
export interface VisitedNode {
  readonly node: PlanNode;
  /** Labels from the root to this node, e.g. ["Limit", "Sort", "Seq Scan on orders"]. */
  readonly path: readonly string[];
  readonly depth: number;
  readonly parent?: PlanNode;
}

/** Short label of a node: its type and the relation or index it reads. */
export function nodeLabel(node: PlanNode): string {
  const type = node['Node Type'];
  if (node['Index Name'] && node['Relation Name'])
    return `${type} using ${node['Index Name']} on ${node['Relation Name']}`;
  if (node['Relation Name']) return `${type} on ${node['Relation Name']}`;
  if (node['Index Name']) return `${type} on ${node['Index Name']}`;
  if (type === 'Aggregate' && typeof node.Strategy === 'string') return `${node.Strategy} ${type}`;
  return type;
}

/** All nodes, depth first, root first (including InitPlans and SubPlans). */
export function walkPlan(root: PlanNode): VisitedNode[] {
  const out: VisitedNode[] = [];
  const visit = (node: PlanNode, path: readonly string[], depth: number, parent?: PlanNode) => {
    const here = [...path, nodeLabel(node)];
    out.push({ node, path: here, depth, ...(parent ? { parent } : {}) });
    for (const child of node.Plans ?? []) visit(child, here, depth + 1, node);
  };
  visit(root, [], 0);
  return out;
}

/** "Limit > Sort > Seq Scan on orders" */
export function formatPath(path: readonly string[]): string {
  return path.join(' > ');
}

/** Relation names read by the plan (unqualified unless the plan was VERBOSE), sorted, unique. */
export function planRelations(root: PlanNode): string[] {
  const names = new Set<string>();
  for (const { node } of walkPlan(root)) {
    const rel = node['Relation Name'];
    if (rel) names.add(node.Schema ? `${node.Schema}.${rel}` : rel);
  }
  return [...names].sort();
}

/**
 * The node that costs most on its own (its total minus its children's): by actual time over all
 * loops when the plan was analyzed, else by the planner's cost.
 */
export function costliestNode(root: PlanNode): PlanNode {
  const analyzed = root['Actual Total Time'] !== undefined;
  const total = (node: PlanNode) =>
    analyzed ? (node['Actual Total Time'] ?? 0) * (node['Actual Loops'] ?? 1) : node['Total Cost'];
  let best = { node: root, own: Number.NEGATIVE_INFINITY };
  for (const { node } of walkPlan(root)) {
    const own = total(node) - (node.Plans ?? []).reduce((sum, child) => sum + total(child), 0);
    if (own > best.own) best = { node, own };
  }
  return best.node;
}

/** Total number of rows a node produced over all its loops (ANALYZE only). */
export function actualRowsTotal(node: PlanNode): number | undefined {
  if (node['Actual Rows'] === undefined) return undefined;
  return node['Actual Rows'] * (node['Actual Loops'] ?? 1);
}

/** A one-line-per-node text rendering, like EXPLAIN's text format (for terminals and Markdown). */
export function renderPlanText(root: PlanNode): string {
  return walkPlan(root)
    .map(({ node, depth }) => {
      const indent = depth === 0 ? '' : `${'  '.repeat(depth - 1)}-> `;
      const cost = `(cost=${node['Startup Cost'].toFixed(2)}..${node['Total Cost'].toFixed(2)} rows=${node['Plan Rows']})`;
      const actual =
        node['Actual Rows'] !== undefined
          ? ` (actual rows=${node['Actual Rows']} loops=${node['Actual Loops'] ?? 1})`
          : '';
      const extras = ['Index Cond', 'Filter', 'Hash Cond', 'Join Filter', 'Sort Method']
        .filter((k) => node[k] !== undefined)
        .map((k) => `${'  '.repeat(depth + 1)}${k}: ${String(node[k])}`);
      return [`${indent}${nodeLabel(node)}  ${cost}${actual}`, ...extras].join('\n');
    })
    .join('\n');
}
