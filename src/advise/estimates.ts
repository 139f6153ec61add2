import { planNodes } from '../analyze/plan-facts.js';
import type { PlanNode } from '../model/plan.js';

/**
 * What a plan expects to read, in shared blocks per call, from its row estimates: every page of a
 * table it scans in full, and for an index scan the index's descent plus one heap block per row it
 * returns (or its cost, where higher), on every loop the plan expects. Rough by design, and high
 * rather than low (a row's block is often one read already), so that a run touching several times
 * more is a run whose rows the estimates got wrong, not a rounding of this model.
 *
 * `pages` gives a table's size in blocks (the report's `relations[].pages`) by its name in the plan
 * (`Relation Name`, and its `Schema` where the plan has one).
 */
export function expectedBlocks(
  root: PlanNode,
  pages: (relation: string, schema?: string) => number | undefined,
): number {
  const visit = (node: PlanNode, loops: number, processes: number): number => {
    const type = node['Node Type'];
    const parallel = node['Parallel Aware'] === true;
    const workers = Number(node['Workers Planned'] ?? 0);
    // Under a Gather, a node that is not parallel-aware runs in every process (the leader too).
    const inside = type === 'Gather' || type === 'Gather Merge' ? workers + 1 : processes;
    const times = loops * (parallel ? 1 : processes);
    const rows = Number(node['Plan Rows'] ?? 0) * (parallel ? processes : 1);
    const size = () => (node['Relation Name'] ? pages(node['Relation Name'], node.Schema) : undefined);
    let own = 0;
    if (type === 'Seq Scan' || type === 'Tid Range Scan') own = times * (size() ?? Number(node['Total Cost'] ?? 0));
    else if (type === 'Index Scan') own = times * Math.max(3 + rows, Number(node['Total Cost'] ?? 0));
    else if (type === 'Index Only Scan' || type === 'Bitmap Index Scan') own = times * (3 + rows / 100);
    else if (type === 'Bitmap Heap Scan') own = times * Math.min(size() ?? Number.POSITIVE_INFINITY, Math.max(1, rows));
    const children = node.Plans ?? [];
    let sum = own;
    for (const [i, child] of children.entries()) {
      // The inner side of a nested loop runs once per outer row; a subplan once per row of its node.
      const outer = children[0];
      const perRow =
        (type === 'Nested Loop' && i === 1 && outer ? Math.max(1, Number(outer['Plan Rows'] ?? 1)) : 1) *
        (child['Parent Relationship'] === 'SubPlan' ? Math.max(1, Number(node['Plan Rows'] ?? 1)) : 1);
      sum += visit(child, loops * perRow, inside);
    }
    return sum;
  };
  return visit(root, 1, 1);
}

/**
 * The rows the planner expects on the outer side of the nested loop that probes one of these
 * indexes once per outer row (the smallest, where several do), or undefined when no nested loop
 * probes them: a plan that wins by such probes rests on that estimate.
 */
export function probingOuterRows(root: PlanNode, indexNames: readonly string[]): number | undefined {
  let found: number | undefined;
  const reads = (node: PlanNode): boolean =>
    indexNames.includes(String(node['Index Name'])) || (node.Plans ?? []).some(reads);
  const visit = (node: PlanNode) => {
    const [outer, inner] = node.Plans ?? [];
    if (node['Node Type'] === 'Nested Loop' && outer && inner && reads(inner)) {
      const rows = Number(outer['Plan Rows'] ?? 0);
      found = found === undefined ? rows : Math.min(found, rows);
    }
    for (const child of node.Plans ?? []) visit(child);
  };
  visit(root);
  return found;
}

/** How many times the rows a scan keeps the planner must expect before its estimate is contradicted. */
const OVERESTIMATE = 10;
/** An estimate under this many rows costs an index little, however wrong it is. */
const OVERESTIMATE_MIN_ROWS = 100;

/**
 * The rows the planner expected the scans of a table to keep (over all processes and loops) and the
 * rows they kept, from a plan run with EXPLAIN ANALYZE, when the estimate is ten times what they kept
 * or more: conditions that are correlated (the planner multiplies their selectivities, as if each
 * narrowed the rows independently) or a value rarer than the statistics say. An index is costed for
 * the rows the planner expects it to fetch, so such an estimate undersells it. Undefined otherwise, or
 * when the plan was not run.
 */
export function overestimatedScan(
  root: PlanNode,
  table: string,
  schema?: string,
): { readonly estimated: number; readonly actual: number } | undefined {
  let estimated = 0;
  let actual = 0;
  let found = false;
  for (const { node, parallelDivisor, rescanned } of planNodes(root)) {
    if (node['Relation Name'] !== table || (schema && node.Schema && node.Schema !== schema)) continue;
    if (node['Actual Rows'] === undefined || !/Scan$/.test(node['Node Type'])) continue;
    found = true;
    const loops = node['Actual Loops'] ?? 1;
    // A parallel scan's estimate is per process, and each process is one of its loops; a rescanned
    // one's (the inner side of a nested loop, a subplan) is per loop.
    estimated += node['Plan Rows'] * (rescanned ? loops : parallelDivisor);
    actual += node['Actual Rows'] * loops;
  }
  if (!found || estimated < OVERESTIMATE_MIN_ROWS || estimated < OVERESTIMATE * Math.max(1, actual)) return undefined;
  return { estimated: Math.round(estimated), actual: Math.round(actual) };
}
