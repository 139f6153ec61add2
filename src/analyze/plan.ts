/** Walking EXPLAIN plan trees: pure helpers shared by capture, rules and compare. */
import { createHash } from 'node:crypto';
import type { PlanNode } from '../model/plan.js';

/** A node with its position in the tree. */
export interface VisitedNode {
  readonly node: PlanNode;
  /** Labels from the root to this node, e.g. ["Limit", "Sort", "Seq Scan on orders"]. */
  readonly path: readonly string[];
  readonly depth: number;
  readonly parent?: PlanNode;
}

/**
 * Short label of a node: its name as EXPLAIN's text format prints it, and the relation or index it
 * reads (`Parallel Seq Scan on orders`, `Index Scan Backward using orders_pkey on orders`,
 * `Partial HashAggregate`, `Hash Left Join`), so that it can be found in a psql EXPLAIN.
 */
export function nodeLabel(node: PlanNode): string {
  const type = explainName(node);
  if (node['Index Name'] && node['Relation Name'])
    return `${type} using ${node['Index Name']} on ${node['Relation Name']}`;
  if (node['Relation Name']) return `${type} on ${node['Relation Name']}`;
  if (node['Index Name']) return `${type} on ${node['Index Name']}`;
  return type;
}

/** EXPLAIN's text format names an Aggregate (and a SetOp) by its strategy. */
const STRATEGY_NAMES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  Aggregate: { Plain: 'Aggregate', Sorted: 'GroupAggregate', Hashed: 'HashAggregate', Mixed: 'MixedAggregate' },
  SetOp: { Sorted: 'SetOp', Hashed: 'HashSetOp' },
};
const JOIN_NAMES: Readonly<Record<string, string>> = { 'Hash Join': 'Hash', 'Merge Join': 'Merge' };

/**
 * The node's name as EXPLAIN's text format prints it, where the JSON format splits it into `Node
 * Type` and other keys (explain.c, ExplainNode): the strategy and partial mode of an aggregate, the
 * join type of a join, the operation of a ModifyTable, the direction of an index scan, and the
 * `Parallel` or `Async` prefix.
 */
function explainName(node: PlanNode): string {
  const type = node['Node Type'];
  const strategy = typeof node.Strategy === 'string' ? STRATEGY_NAMES[type]?.[node.Strategy] : undefined;
  const partial = node['Partial Mode'];
  let name = strategy ?? type;
  if (type === 'Aggregate' && (partial === 'Partial' || partial === 'Finalize')) name = `${partial} ${name}`;
  const joinType = node['Join Type'];
  if (typeof joinType === 'string' && (type === 'Nested Loop' || JOIN_NAMES[type] !== undefined)) {
    if (joinType !== 'Inner') name = `${JOIN_NAMES[type] ?? type} ${joinType} Join`;
  }
  if (type === 'ModifyTable' && typeof node.Operation === 'string') name = node.Operation;
  if (type === 'Custom Scan' && typeof node['Custom Plan Provider'] === 'string')
    name = `Custom Scan (${node['Custom Plan Provider']})`;
  if (node['Scan Direction'] === 'Backward' && (type === 'Index Scan' || type === 'Index Only Scan'))
    name = `${type} Backward`;
  if (node['Async Capable'] === true) name = `Async ${name}`;
  if (node['Parallel Aware'] === true && !name.startsWith('Parallel ')) name = `Parallel ${name}`;
  return name;
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

/**
 * The plan's shape as a short hash: each node's type, relation and index (its `nodeLabel`) and its
 * depth, so the same tree of nodes gives the same hash whatever its costs and row estimates, which
 * move with ANALYZE's sample. Two plans with the same hash are the same plan to `compare`'s diff.
 */
export function planShape(root: PlanNode): string {
  const text = walkPlan(root)
    .map((v) => `${v.depth} ${nodeLabel(v.node)}`)
    .join('\n');
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
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
 * The node that costs most on its own (its total minus its inputs'): by actual time over all loops
 * when the plan was analyzed, else by the planner's cost.
 *
 * Two parts of a plan are not where EXPLAIN nests them. A CTE's plan hangs off the node that uses it
 * as an InitPlan (`CTE name`), but with ANALYZE its time is counted in the CTE Scan that reads it, as
 * it runs when the scan pulls its rows: the CTE Scan's own time is its time less the CTE's, and the
 * parent's own time leaves the CTE out. And the recursive term of a Recursive Union runs once per
 * level: with ANALYZE its loops count the levels; without, its costs are those of one level, which
 * the Recursive Union's cost counts as many times as the planner assumes levels (ten), so each node
 * in it weighs that many times its cost.
 */
export function costliestNode(root: PlanNode): PlanNode {
  const analyzed = root['Actual Total Time'] !== undefined;
  const visited = walkPlan(root);
  const cteTime = new Map<string, number>();
  const isCte = (node: PlanNode) =>
    analyzed &&
    node['Parent Relationship'] === 'InitPlan' &&
    typeof node['Subplan Name'] === 'string' &&
    node['Subplan Name'].startsWith('CTE ');
  const time = (node: PlanNode) => (node['Actual Total Time'] ?? 0) * (node['Actual Loops'] ?? 1);
  for (const { node } of visited) if (isCte(node)) cteTime.set(String(node['Subplan Name']).slice(4), time(node));
  const weight = new Map<PlanNode, number>([[root, 1]]);
  let best = { node: root, own: Number.NEGATIVE_INFINITY };
  for (const { node } of visited) {
    const w = weight.get(node) ?? 1;
    const levels = analyzed ? 1 : plannedLevels(node);
    const children = node.Plans ?? [];
    for (const child of children)
      weight.set(child, child['Parent Relationship'] === 'Inner' && levels > 1 ? w * levels : w);
    let own: number;
    if (analyzed) {
      own = time(node) - children.filter((c) => !isCte(c)).reduce((sum, c) => sum + time(c), 0);
      const cte = node['Node Type'] === 'CTE Scan' ? cteTime.get(String(node['CTE Name'])) : undefined;
      if (cte !== undefined) {
        // The first scans of a CTE run it; later ones read what is stored.
        const spent = Math.min(cte, Math.max(0, own));
        own -= spent;
        cteTime.set(String(node['CTE Name']), cte - spent);
      }
    } else {
      own = w * node['Total Cost'] - children.reduce((sum, c) => sum + (weight.get(c) ?? w) * c['Total Cost'], 0);
    }
    if (own > best.own) best = { node, own };
  }
  return best.node;
}

/**
 * How many levels the planner's cost of a Recursive Union counts its recursive term for (PostgreSQL
 * assumes ten: its total is the non-recursive term's plus ten times the recursive term's), read back
 * from the costs; 1 for any other node.
 */
function plannedLevels(node: PlanNode): number {
  if (node['Node Type'] !== 'Recursive Union') return 1;
  const outer = node.Plans?.find((c) => c['Parent Relationship'] === 'Outer');
  const inner = node.Plans?.find((c) => c['Parent Relationship'] === 'Inner');
  if (!outer || !inner || !(inner['Total Cost'] > 0)) return 1;
  return Math.max(1, Math.floor((node['Total Cost'] - outer['Total Cost']) / inner['Total Cost']));
}

/** Total number of rows a node produced over all its loops (ANALYZE only). */
export function actualRowsTotal(node: PlanNode): number | undefined {
  if (node['Actual Rows'] === undefined) return undefined;
  return node['Actual Rows'] * (node['Actual Loops'] ?? 1);
}

/** True for an InitPlan or SubPlan: a node that hangs off an expression of its parent, not a plan input. */
export const isSubplan = (node: PlanNode): boolean =>
  node['Parent Relationship'] === 'SubPlan' || node['Parent Relationship'] === 'InitPlan';

/**
 * A node and the nodes under it that feed it rows, through its inputs only: the InitPlans and
 * SubPlans hanging off its expressions (or off theirs) are left out, with everything under them.
 * EXPLAIN nests a subplan under the node whose expression runs it, although it reads other relations.
 */
export function inputsOf(node: PlanNode): ReadonlySet<PlanNode> {
  const out = new Set<PlanNode>();
  const visit = (at: PlanNode): void => {
    out.add(at);
    for (const child of at.Plans ?? []) if (!isSubplan(child)) visit(child);
  };
  visit(node);
  return out;
}

/** "SubPlan 1", "InitPlan 2": the name the parent's expressions use for a subplan. */
export const subplanName = (node: PlanNode): string =>
  typeof node['Subplan Name'] === 'string' ? node['Subplan Name'] : String(node['Parent Relationship'] ?? 'SubPlan');

/**
 * True for a SubPlan its parent runs once and probes as a hash table (`(hashed SubPlan 1)` in the
 * parent's condition, e.g. `NOT IN (SELECT ...)`), rather than once per row.
 */
export function isHashedSubplan(node: PlanNode, parent: PlanNode | undefined): boolean {
  if (node['Parent Relationship'] !== 'SubPlan' || !parent) return false;
  const name = subplanName(node).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const hashed = new RegExp(`hashed ${name}(?!\\d)`);
  return Object.values(parent).some((v) => typeof v === 'string' && hashed.test(v));
}

/**
 * True for a SubPlan its parent's condition negates: `(NOT (hashed SubPlan 1))`, `(NOT (SubPlan 1))`,
 * or, as PostgreSQL 17 and later print it, `(NOT (ANY (id = (hashed SubPlan 1).col1)))`. That is how a
 * `NOT IN (SELECT ...)` the planner could not turn into an anti-join appears in a plan.
 */
export function isNegatedSubplan(node: PlanNode, parent: PlanNode | undefined): boolean {
  if (node['Parent Relationship'] !== 'SubPlan' || !parent) return false;
  const name = new RegExp(`\\b${subplanName(node).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?!\\d)`);
  return Object.values(parent).some((v) => {
    if (typeof v !== 'string') return false;
    // Each `NOT (...)`, to its closing parenthesis.
    for (let at = v.indexOf('NOT ('); at >= 0; at = v.indexOf('NOT (', at + 1)) {
      let depth = 0;
      let end = v.length;
      for (let i = at + 4; i < v.length; i++) {
        if (v[i] === '(') depth++;
        else if (v[i] === ')' && --depth === 0) {
          end = i + 1;
          break;
        }
      }
      if (name.test(v.slice(at, end))) return true;
    }
    return false;
  });
}

/**
 * How many times the planner expects a SubPlan to run per run of its parent (0 for an InitPlan or a
 * hashed SubPlan, which run once). PostgreSQL charges a correlated SubPlan's cost to its parent for
 * every row that evaluates it, so the parent's own cost (its total minus its inputs' and the
 * once-only subplans') divided by its per-row subplans' costs counts the evaluations, whether the
 * SubPlan sits in the output or in a filter. Falls back to the parent's rows.
 */
export function estimatedSubplanRuns(node: PlanNode, parent: PlanNode | undefined): number {
  if (node['Parent Relationship'] !== 'SubPlan' || !parent || isHashedSubplan(node, parent)) return 0;
  const children = parent.Plans ?? [];
  const perRow = children.filter((c) => c['Parent Relationship'] === 'SubPlan' && !isHashedSubplan(c, parent));
  const perRunCost = perRow.reduce((sum, c) => sum + c['Total Cost'], 0);
  const inputs = children.filter((c) => !perRow.includes(c)).reduce((sum, c) => sum + c['Total Cost'], 0);
  const own = parent['Total Cost'] - inputs;
  if (perRunCost > 0 && own > 0) return Math.max(1, Math.round(own / perRunCost));
  return Math.max(1, Math.round(parent['Plan Rows']));
}

/**
 * A one-line-per-node text rendering, like EXPLAIN's text format (for terminals and Markdown):
 * InitPlans and SubPlans appear under a `SubPlan 1` line, as EXPLAIN prints them, with how often
 * they run where the plan says so or the planner's costs imply it.
 */
export function renderPlanText(root: PlanNode): string {
  const lines: string[] = [];
  const render = (node: PlanNode, level: number, parent: PlanNode | undefined): void => {
    let depth = level;
    if (isSubplan(node) && parent) {
      // Aligned with the parent's conditions, its plan one step further in, as EXPLAIN prints it.
      lines.push(`${'  '.repeat(depth)}${subplanName(node)}${subplanNote(node, parent)}`);
      depth += 2;
    }
    const indent = depth === 0 ? '' : `${'  '.repeat(depth - 1)}-> `;
    const cost = `(cost=${node['Startup Cost'].toFixed(2)}..${node['Total Cost'].toFixed(2)} rows=${node['Plan Rows']})`;
    const actual =
      node['Actual Rows'] !== undefined
        ? ` (actual rows=${node['Actual Rows']} loops=${node['Actual Loops'] ?? 1})`
        : '';
    lines.push(`${indent}${nodeLabel(node)}  ${cost}${actual}`);
    for (const k of ['Index Cond', 'Filter', 'Hash Cond', 'Join Filter', 'Sort Method'])
      if (node[k] !== undefined) lines.push(`${'  '.repeat(depth + 1)}${k}: ${String(node[k])}`);
    for (const child of node.Plans ?? []) render(child, depth + 1, node);
  };
  render(root, 0, undefined);
  return lines.join('\n');
}

/** " (runs once)", " (hashed: runs once)", " (estimated runs=20)": how often a subplan runs. */
function subplanNote(node: PlanNode, parent: PlanNode): string {
  if (node['Parent Relationship'] === 'InitPlan') return ' (runs once)';
  if (isHashedSubplan(node, parent)) return ' (hashed: runs once)';
  if (node['Actual Loops'] !== undefined) return '';
  const runs = estimatedSubplanRuns(node, parent);
  return ` (estimated runs=${runs})`;
}
