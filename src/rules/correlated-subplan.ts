/**
 * correlated-subplan: a SubPlan (a correlated subquery) that runs once per outer row and reads many
 * rows each time: rows read = runs x rows per run, all of it inside one node's expression, where a
 * plan that only shows joins and scans hides it.
 */
import { btreeLeadingWith, proposeIndexSql } from '../analyze/column-predicates.js';
import { quoteIdentifier } from '../analyze/parser.js';
import { estimatedSubplanRuns, formatPath, isNegatedSubplan, subplanName, walkPlan } from '../analyze/plan.js';
import { notInSubqueries } from '../analyze/sql-tree.js';
import { isSeqScan, isTrivial, relationRows, round, type PlanNodeFacts } from '../analyze/plan-facts.js';
import { FIX_OR } from '../model/finding.js';
import type { PlanNode } from '../model/plan.js';
import type { RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'correlated-subplan',
  severity: 'warning',
  category: 'join',
  description: 'A correlated subquery runs once per outer row and re-reads a table each time.',
  messages: {
    subplan:
      '{name} runs {loops} times ({basis}), reading {rowsPerLoop} rows of {relation} per run{others}: {rowVisits} rows in all, {sharePercent}% of the statement',
  },
  defaultOptions: {
    /** SubPlans that run fewer times per call are ignored (a handful of runs is not the problem). */
    minLoops: 10,
    /** Rows read over all runs (runs x rows per run) from which the subplan is reported. */
    minRowVisits: 1_000_000,
    /** The subplan's share of the statement (time with --analyze, else cost), 0..1. */
    minShare: 0.3,
  },
  check({ query, nodes, tree, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const root = query.plan.root;
    // A NOT IN (SELECT ...) too large to hash runs once per row too, but it is no correlated
    // subquery and a join that reads the table once is not its fix: not-in-subquery reports it.
    const notIn = tree.some((statement) => notInSubqueries(statement).length > 0);
    const analyzed = root['Actual Total Time'] !== undefined;
    // Several SubPlans of one statement are one problem with one fix (a join that reads the table
    // once), and often share a plan path: one finding, on the heaviest, counting them all.
    const heavy: Heavy[] = [];
    for (const facts of nodes) {
      const { node, parent } = facts;
      // InitPlans and hashed SubPlans run once; estimatedSubplanRuns says 0 for them.
      if (node['Parent Relationship'] !== 'SubPlan' || !parent) continue;
      if (notIn && isNegatedSubplan(node, parent)) continue;
      const estimated = estimatedSubplanRuns(node, parent);
      if (estimated === 0) continue;
      const loops = analyzed ? Number(node['Actual Loops'] ?? 0) : estimated;
      if (loops < options.minLoops) continue;
      const scans = walkPlan(node).filter(({ node: n }) => n['Relation Name'] !== undefined);
      const perLoop = scans.map(({ node: n }) => ({ node: n, rows: rowsReadPerRun(n, relationOf(n), analyzed) }));
      const rowsPerLoop = perLoop.reduce((sum, s) => sum + s.rows, 0);
      const scan = [...perLoop].sort((a, b) => b.rows - a.rows)[0]?.node;
      heavy.push({ facts, loops, rowsPerLoop, share: subplanShare(node, root, loops, analyzed), scan });
    }
    const rowVisits = heavy.reduce((sum, h) => sum + h.loops * h.rowsPerLoop, 0);
    const share = Math.min(
      1,
      heavy.reduce((sum, h) => sum + h.share, 0),
    );
    const top = [...heavy].sort((a, b) => b.loops * b.rowsPerLoop - a.loops * a.rowsPerLoop)[0];
    if (!top || rowVisits < options.minRowVisits || share < options.minShare) return [];
    const { node } = top.facts;
    const relation = top.scan ? relationOf(top.scan) : undefined;
    const blocks = (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0);
    const others = heavy.length - 1;
    const finding: RuleFinding = {
      messageId: 'subplan',
      nodePath: formatPath(top.facts.path),
      ...(relation ? { relation: relation.name } : {}),
      evidence: {
        loops: Math.round(top.loops),
        rowsPerLoop: Math.round(top.rowsPerLoop),
        ...(analyzed && blocks > 0 && top.loops > 0 ? { blocksPerLoop: Math.round(blocks / top.loops) } : {}),
        subplans: heavy.length,
        rowVisits: Math.round(rowVisits),
        share: round(share),
        ...(query.calls > 0 ? { statementBlocksPerCall: Math.round(query.sharedBlksPerCall) } : {}),
      },
      data: {
        name: subplanName(node),
        basis: analyzed ? 'counted' : 'estimated from the plan',
        relation: relation?.name ?? top.scan?.['Relation Name'] ?? 'its tables',
        others: others > 0 ? ` (with ${others} more correlated subplan${others === 1 ? '' : 's'})` : '',
        sharePercent: Math.round(share * 100),
      },
      suggestion: suggestFix(top.scan, relation),
    };
    return [finding];
  },
});

interface Heavy {
  readonly facts: PlanNodeFacts;
  readonly loops: number;
  readonly rowsPerLoop: number;
  readonly share: number;
  readonly scan: PlanNode | undefined;
}

/**
 * Rows a scan in the subplan reads each run. With ANALYZE: its rows plus those its filter removed,
 * per loop. Without: a sequential scan reads the table; an index scan the rows it returns.
 */
function rowsReadPerRun(scan: PlanNode, relation: RelationInfo | undefined, analyzed: boolean): number {
  if (analyzed && scan['Actual Rows'] !== undefined)
    return scan['Actual Rows'] + (scan['Rows Removed by Filter'] ?? 0) + (scan['Rows Removed by Index Recheck'] ?? 0);
  if (isSeqScan(scan)) return relation ? relationRows(relation) : scan['Plan Rows'];
  return scan['Plan Rows'];
}

/** The subplan's share of the statement: its time over all runs, else its cost times its runs. */
function subplanShare(node: PlanNode, root: PlanNode, loops: number, analyzed: boolean): number {
  const rootTime = root['Actual Total Time'];
  if (analyzed && rootTime !== undefined && rootTime > 0)
    return Math.min(1, ((node['Actual Total Time'] ?? 0) * loops) / (rootTime * (root['Actual Loops'] ?? 1)));
  return root['Total Cost'] > 0 ? Math.min(1, (node['Total Cost'] * loops) / root['Total Cost']) : 0;
}

/**
 * The column a scan inside a subplan compares with the outer row: `seat_id` in `(seat_id = s.id)`
 * (PostgreSQL 16+ prints the outer column by its alias) or `(seat_id = $0)` (older servers).
 */
export function correlationColumn(scan: PlanNode): string | undefined {
  const alias = scan.Alias ?? scan['Relation Name'];
  for (const key of ['Filter', 'Index Cond', 'Recheck Cond'] as const) {
    const text = scan[key];
    if (typeof text !== 'string') continue;
    for (const [, qualifier, column, , outerAlias] of text.matchAll(/(?:\b(\w+)\.)?\b(\w+) = (\$\d+|(\w+)\.\w+)/g)) {
      if (qualifier !== undefined && qualifier !== alias) continue;
      if (outerAlias !== undefined && outerAlias === alias) continue;
      if (column) return column;
    }
  }
  return undefined;
}

function suggestFix(scan: PlanNode | undefined, relation: RelationInfo | undefined): string {
  const column = scan ? correlationColumn(scan) : undefined;
  const table = relation?.name ?? scan?.['Relation Name'];
  const grouped =
    column && table
      ? `LEFT JOIN (SELECT ${quoteIdentifier(column)}, count(*) ... FROM ${table} GROUP BY ${quoteIdentifier(column)})`
      : 'LEFT JOIN (SELECT key, count(*) ... GROUP BY key)';
  const rewrite =
    `rewrite the subquery as a join that reads the table once: ${grouped} or LEFT JOIN LATERAL, ` +
    'and fold several subqueries over the same table into one aggregate with FILTER (WHERE ...)';
  if (!scan || !relation || !column || !isSeqScan(scan)) return rewrite;
  if (relation.columnTypes?.[column] === undefined || btreeLeadingWith(relation, [column])) return rewrite;
  // The index is a fix of its own, after FIX_OR: index advice replaces it with the index it
  // validated (or says why none helps), so that the suggestion names one index.
  const index = proposeIndexSql(relation.name, [quoteIdentifier(column)], {
    note: 'an index on the correlation column keeps the subquery, each run an index lookup',
  });
  return `${rewrite}${FIX_OR}${index}`;
}
