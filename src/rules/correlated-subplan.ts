/**
 * correlated-subplan: a SubPlan (a correlated subquery) that runs once per outer row and reads many
 * rows each time: rows read = runs x rows per run, all of it inside one node's expression, where a
 * plan that only shows joins and scans hides it. Many runs over many rows are one case; a few runs
 * that each read far more than they keep (a `max()` that walks an index backwards until its filter
 * matches) are the other, told by the shared blocks the subplans account for per call.
 */
import { btreeLeadingWith, proposeIndexSql } from '../analyze/column-predicates.js';
import { quoteIdentifier } from '../analyze/parser.js';
import { estimatedSubplanRuns, formatPath, isNegatedSubplan, subplanName, walkPlan } from '../analyze/plan.js';
import { expressionText, nodeType, nodesOf, notInSubqueries, type TreeNode } from '../analyze/sql-tree.js';
import { isIndexWalk, isSeqScan, isTrivial, relationRows, round, type PlanNodeFacts } from '../analyze/plan-facts.js';
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
    blocks:
      '{name} runs {loops} times ({basis}), each run reading {rowsPerLoop} rows of {relation} to keep {keptPerLoop}{others}: {subplanBlocks} shared blocks per call ({blocksBasis}), {sharePercent}% of the statement',
  },
  defaultOptions: {
    /** SubPlans that run fewer times per call are ignored (a handful of runs is not the problem). */
    minLoops: 10,
    /** Rows read over all runs (runs x rows per run) from which the subplan is reported. */
    minRowVisits: 1_000_000,
    /** The subplan's share of the statement (time with --analyze, else cost), 0..1. */
    minShare: 0.3,
    /**
     * Shared blocks per call the subplans account for (counted with --analyze, else the statement's
     * blocks per call times the subplans' share of its cost) from which subplans that run fewer than
     * minLoops times are reported, when each run reads minReadPerKept rows or more per row it keeps.
     */
    minBlocks: 10_000,
    /** Rows a run reads per row its scans keep, from which a run is wasteful (a filter or LIMIT discards the rest). */
    minReadPerKept: 10,
  },
  check({ query, nodes, sql, tree, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const root = query.plan.root;
    // A NOT IN (SELECT ...) too large to hash runs once per row too, but it is no correlated
    // subquery and a join that reads the table once is not its fix: not-in-subquery reports it.
    const notIn = tree.some((statement) => notInSubqueries(statement).length > 0);
    const analyzed = root['Actual Total Time'] !== undefined;
    // Several SubPlans of one statement are one problem with one fix (a join that reads the table
    // once), and often share a plan path: one finding, on the heaviest, counting them all.
    const factsOf = new Map(nodes.map((n) => [n.node, n]));
    const perRow: Heavy[] = [];
    for (const facts of nodes) {
      const { node, parent } = facts;
      // InitPlans and hashed SubPlans run once; estimatedSubplanRuns says 0 for them.
      if (node['Parent Relationship'] !== 'SubPlan' || !parent) continue;
      if (notIn && isNegatedSubplan(node, parent)) continue;
      const estimated = estimatedSubplanRuns(node, parent);
      if (estimated === 0) continue;
      const loops = analyzed ? Number(node['Actual Loops'] ?? 0) : estimated;
      if (loops < 1 || (loops < MIN_RUNS && loops < options.minLoops)) continue;
      const scans = walkPlan(node).filter(({ node: n }) => n['Relation Name'] !== undefined);
      const perLoop = scans.map(({ node: n }) => ({
        node: n,
        ...rowsPerRun(n, factsOf.get(n), relationOf(n), analyzed),
      }));
      const rowsPerLoop = perLoop.reduce((sum, s) => sum + s.read, 0);
      const keptPerLoop = perLoop.reduce((sum, s) => sum + s.kept, 0);
      const scan = [...perLoop].sort((a, b) => b.read - a.read)[0]?.node;
      const share = subplanShare(node, root, loops, analyzed);
      const blocks = analyzed ? (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0) : undefined;
      perRow.push({ facts, loops, rowsPerLoop, keptPerLoop, share, scan, blocks });
    }
    // Many runs over many rows: rows read = runs x rows per run, as the plan counts or estimates them.
    const heavy = perRow.filter((h) => h.loops >= options.minLoops);
    const rowVisits = heavy.reduce((sum, h) => sum + h.loops * h.rowsPerLoop, 0);
    const share = Math.min(
      1,
      heavy.reduce((sum, h) => sum + h.share, 0),
    );
    const byRows = rowVisits >= options.minRowVisits && share >= options.minShare;
    // Runs that each read far more than they keep, whatever their number: the shared blocks the
    // subplans account for per call say what they cost (a cheap lookup per outer row keeps what it reads).
    const wasteful = perRow.filter((h) => h.rowsPerLoop >= options.minReadPerKept * Math.max(1, h.keptPerLoop));
    const wastefulShare = Math.min(
      1,
      wasteful.reduce((sum, h) => sum + h.share, 0),
    );
    const blocks = subplanBlocks(wasteful, wastefulShare, query.calls > 0 ? query.sharedBlksPerCall : undefined);
    const byBlocks =
      !byRows && blocks !== undefined && blocks >= options.minBlocks && wastefulShare >= options.minShare;
    if (!byRows && !byBlocks) return [];
    const counted = byRows ? heavy : wasteful;
    const top = [...counted].sort((a, b) => b.loops * b.rowsPerLoop - a.loops * a.rowsPerLoop)[0];
    if (!top) return [];
    const { node } = top.facts;
    const relation = top.scan ? relationOf(top.scan) : undefined;
    const nodeBlocks = (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0);
    const others = counted.length - 1;
    const allVisits = counted.reduce((sum, h) => sum + h.loops * h.rowsPerLoop, 0);
    const allShare = byRows ? share : wastefulShare;
    const finding: RuleFinding = {
      messageId: byRows ? 'subplan' : 'blocks',
      nodePath: formatPath(top.facts.path),
      ...(relation ? { relation: relation.name } : {}),
      evidence: {
        loops: Math.round(top.loops),
        rowsPerLoop: Math.round(top.rowsPerLoop),
        keptPerLoop: round(top.keptPerLoop, 1),
        ...(analyzed && nodeBlocks > 0 && top.loops > 0 ? { blocksPerLoop: Math.round(nodeBlocks / top.loops) } : {}),
        subplans: counted.length,
        rowVisits: Math.round(allVisits),
        share: round(allShare),
        ...(blocks !== undefined && !byRows ? { subplanBlocks: Math.round(blocks) } : {}),
        ...(query.calls > 0 ? { statementBlocksPerCall: Math.round(query.sharedBlksPerCall) } : {}),
      },
      data: {
        name: subplanName(node),
        basis: analyzed ? 'counted' : 'estimated from the plan',
        relation: relation?.name ?? top.scan?.['Relation Name'] ?? 'its tables',
        others: others > 0 ? ` (with ${others} more correlated subplan${others === 1 ? '' : 's'})` : '',
        sharePercent: Math.round(allShare * 100),
        keptPerLoop: count(top.keptPerLoop),
        ...(blocks !== undefined ? { subplanBlocks: Math.round(blocks).toLocaleString('en-US') } : {}),
        blocksBasis: analyzed
          ? 'counted'
          : "measured: the statement's blocks per call times the subplans' share of its plan cost",
      },
      suggestion: suggestFix(top.scan, relation, relation ? aggregateOf(sql, tree, relation.table) : undefined),
    };
    return [finding];
  },
});

/** A SubPlan runs once per outer row: a subplan that runs once is a scan like any other, not a loop. */
const MIN_RUNS = 2;

interface Heavy {
  readonly facts: PlanNodeFacts;
  readonly loops: number;
  /** Rows its scans read per run, and keep per run (what their filters and a LIMIT let through). */
  readonly rowsPerLoop: number;
  readonly keptPerLoop: number;
  readonly share: number;
  readonly scan: PlanNode | undefined;
  /** Shared blocks over all runs (ANALYZE only). */
  readonly blocks: number | undefined;
}

/**
 * Rows a scan in the subplan reads and keeps each run. With ANALYZE: its rows plus those its filter
 * removed, per loop, and its rows. Without: a sequential scan, and an index scan with no condition
 * that walks its index for the order (`max(taken_at)` over an index on taken_at), read the table,
 * or the share of it a LIMIT above stops them at (`fraction`, from the costs); other index scans read
 * the rows they return.
 */
function rowsPerRun(
  scan: PlanNode,
  facts: PlanNodeFacts | undefined,
  relation: RelationInfo | undefined,
  analyzed: boolean,
): { read: number; kept: number } {
  if (analyzed && scan['Actual Rows'] !== undefined) {
    const kept = scan['Actual Rows'];
    return { read: kept + (scan['Rows Removed by Filter'] ?? 0) + (scan['Rows Removed by Index Recheck'] ?? 0), kept };
  }
  const fraction = facts?.fraction ?? 1;
  const kept = scan['Plan Rows'] * fraction;
  if ((isSeqScan(scan) || isIndexWalk(scan)) && relation) return { read: relationRows(relation) * fraction, kept };
  if (isSeqScan(scan)) return { read: scan['Plan Rows'], kept: scan['Plan Rows'] };
  return { read: kept, kept };
}

/**
 * Shared blocks per call the subplans account for: their counted buffers with ANALYZE, else the
 * statement's blocks per call (pg_stat_statements) times the subplans' share of the plan's cost.
 */
function subplanBlocks(
  subplans: readonly Heavy[],
  share: number,
  statementBlocksPerCall: number | undefined,
): number | undefined {
  if (subplans.length === 0) return undefined;
  if (subplans.every((h) => h.blocks !== undefined)) return subplans.reduce((sum, h) => sum + (h.blocks ?? 0), 0);
  return statementBlocksPerCall === undefined ? undefined : statementBlocksPerCall * share;
}

const count = (n: number) =>
  n >= 10 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);

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

function suggestFix(
  scan: PlanNode | undefined,
  relation: RelationInfo | undefined,
  aggregate: string | undefined,
): string {
  const column = scan ? correlationColumn(scan) : undefined;
  const table = relation?.name ?? scan?.['Relation Name'];
  const grouped =
    column && table
      ? `LEFT JOIN (SELECT ${quoteIdentifier(column)}, ${aggregate ?? 'count(*)'} ... FROM ${table} GROUP BY ${quoteIdentifier(column)})`
      : `LEFT JOIN (SELECT key, ${aggregate ?? 'count(*)'} ... GROUP BY key)`;
  const rewrite =
    `rewrite the subquery as a join that reads the table once: ${grouped} or LEFT JOIN LATERAL, ` +
    'and fold several subqueries over the same table into one aggregate with FILTER (WHERE ...)';
  if (!scan || !relation || !column || relation.columnTypes?.[column] === undefined) return rewrite;
  const keys = indexKeys(scan, relation, column);
  if (!keys || btreeLeadingWith(relation, keys)) return rewrite;
  // The index is a fix of its own, after FIX_OR: index advice replaces it with the index it
  // validated (or says why none helps), so that the suggestion names one index.
  const index = proposeIndexSql(relation.name, keys.map(quoteIdentifier), {
    note:
      keys.length > 1
        ? `the correlation column, then the order the scan walks ${String(scan['Index Name'])} for, so that each run reads only the rows it keeps`
        : 'an index on the correlation column keeps the subquery, each run an index lookup',
  });
  return `${rewrite}${FIX_OR}${index}`;
}

/**
 * The aggregate a scalar subquery over `table` returns (`max(taken_at)` of
 * `(SELECT max(r.taken_at) FROM readings r WHERE ...)`), qualifiers dropped, for the grouped join
 * that replaces it; undefined when the statement has several such subqueries with other aggregates.
 */
function aggregateOf(sql: string, tree: readonly TreeNode[], table: string): string | undefined {
  const found = new Set<string>();
  for (const link of nodesOf(tree, 'SubLink', { subqueries: true })) {
    if (link.subLinkType !== 'EXPR_SUBLINK') continue;
    const select = nodeType(link.subselect);
    if (select?.[0] !== 'SelectStmt') continue;
    const from = (select[1].fromClause as unknown[] | undefined) ?? [];
    const range = from.length === 1 ? nodeType(from[0]) : undefined;
    if (range?.[0] !== 'RangeVar' || range[1].relname !== table) continue;
    const targets = (select[1].targetList as unknown[] | undefined) ?? [];
    const value = targets.length === 1 ? nodeType(targets[0])?.[1].val : undefined;
    if (nodeType(value)?.[0] !== 'FuncCall') continue;
    const alias = nodeType(range[1].alias)?.[1].aliasname ?? (range[1].alias as TreeNode | undefined)?.aliasname;
    const text = expressionText(sql, value, typeof alias === 'string' ? [alias, table] : [table]);
    // `count(*)` has no location past its name: the text ends before its parentheses.
    if (text?.endsWith(')')) found.add(text);
    else return undefined;
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/**
 * The keys of an index that makes each run a lookup: the correlation column for a sequential scan;
 * for an index scan that walks its index for the order (no condition, a filter on the correlation
 * column), the correlation column and then the walked index's columns, so that the order is kept
 * (`max(taken_at) ... WHERE device_id = d.id` over an index on taken_at: `(device_id, taken_at)`).
 */
function indexKeys(scan: PlanNode, relation: RelationInfo, column: string): string[] | undefined {
  if (isSeqScan(scan)) return [column];
  if (!isIndexWalk(scan)) return undefined;
  const walked = relation.indexes.find((i) => i.name === scan['Index Name']);
  if (!walked || walked.method !== 'btree' || walked.columns.some((c) => c === null)) return undefined;
  return [column, ...(walked.columns as string[]).filter((c) => c !== column)];
}
