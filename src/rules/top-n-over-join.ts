/**
 * top-n-over-join: `ORDER BY ... LIMIT n` over a join, sorted by columns of one side (posts) and
 * joined on an equality with the other (the accounts a user follows). The sort must see every row
 * the join produces before the LIMIT keeps n, so every post of every followed account is read, and
 * one account with many posts makes the call read thousands of rows to return 20. Only n rows of
 * each account can be among the first n: a LATERAL subquery with its own ORDER BY and LIMIT, over
 * an index on (join column, sort keys), reads at most n per account.
 *
 * Reported when the statement touches many shared blocks per call (a small join that legitimately
 * returns a few rows costs little) and that rewrite would read many times less: fewer rows than the
 * join produces (counted with ANALYZE, else estimated), or fewer blocks than a call touched. The
 * blocks tell what the planner's estimate of an average group does not: a generic plan cannot know
 * that some users follow an account with thousands of posts.
 */
import { proposeIndexSql } from '../analyze/column-predicates.js';
import { quoteIdentifier } from '../analyze/parser.js';
import { parseCondition, parseSortKey, type PlanColumn } from '../analyze/plan-conditions.js';
import { formatPath, isSubplan } from '../analyze/plan.js';
import {
  isIndexWalk,
  isSeqScan,
  isTrivial,
  limitShare,
  relationRows,
  round,
  rowsKept,
  type PlanNodeFacts,
} from '../analyze/plan-facts.js';
import { constantValue, queryLevels, type TreeNode } from '../analyze/sql-tree.js';
import type { PlanNode } from '../model/plan.js';
import type { IndexInfo, RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'top-n-over-join',
  severity: 'warning',
  category: 'join',
  description:
    'A LIMIT keeps the first rows of a sort over a join that produces far more rows than it returns: every row of every group is read and sorted to keep a few.',
  messages: {
    topN: '{sort} orders all {joinRows} rows {join} produces ({basis}) for {groups} rows of {driver} so that Limit keeps {returned}: {blocks} shared blocks per call, {blocksPerRow} per row returned',
  },
  defaultOptions: {
    /** Shared blocks per call (pg_stat_statements; with --analyze, those of the analyzed call if more) from which the statement is reported. */
    minBlocks: 1_000,
    /**
     * How many times fewer rows, or shared blocks, the rewrite must read than the statement does (the
     * rows the join produces, the blocks a call touches) for the statement to be reported: the rewrite
     * reads at most the rows a call keeps for each row of the other side.
     */
    minSaving: 5,
  },
  check({ query, nodes, tree, params, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const analyzed = query.plan.root['Actual Total Time'] !== undefined;
    const findings: RuleFinding[] = [];
    const factsOf = new Map(nodes.map((n) => [n.node, n]));
    for (const facts of nodes) {
      const shape = topNOverJoin(facts);
      if (!shape) continue;
      const { limit, sort, join, side } = shape;
      if (!side) continue;
      const driverFacts = factsOf.get(side.driver);
      const driverRelation = relationOf(side.driver);
      const sortedRelation = relationOf(side.sorted);
      if (!driverFacts || !sortedRelation) continue;
      const atRoot = reachesRoot(facts, factsOf);
      // Rows the statement returns per call: counted, else measured (when the LIMIT is the
      // statement's output), else the planner's.
      const returned =
        limit['Actual Rows'] !== undefined
          ? limit['Actual Rows'] * (limit['Actual Loops'] ?? 1)
          : atRoot && query.calls > 0
            ? query.rowsPerCall
            : limit['Plan Rows'];
      // Rows the join produces: counted; else estimated, of which a LIMIT over an incremental sort
      // (input sorted by the leading keys) pulls only the share its cost says.
      const joinFacts = factsOf.get(join)!;
      const produced =
        join['Actual Rows'] !== undefined
          ? join['Actual Rows'] * (join['Actual Loops'] ?? 1)
          : join['Plan Rows'] *
            joinFacts.parallelDivisor *
            (sort['Node Type'] === 'Incremental Sort' ? limitShare(limit, sort) : 1);
      const groups = Math.max(1, rowsKept(driverFacts));
      const window = atRoot ? limitWindow(tree, params) : undefined;
      const perGroup = Math.max(1, windowRows(window) ?? returned);
      const analyzedBlocks = analyzed
        ? (limit['Shared Hit Blocks'] ?? 0) + (limit['Shared Read Blocks'] ?? 0)
        : undefined;
      const measuredBlocks = atRoot && query.calls > 0 ? query.sharedBlksPerCall : undefined;
      const blocks = Math.max(analyzedBlocks ?? 0, measuredBlocks ?? 0);
      if (blocks < options.minBlocks) continue;
      // The rewrite reads at most perGroup rows of each group, walking an index: compared with the
      // rows the join produces (counted or estimated), or with the blocks the calls touched, which
      // tell what the planner's estimate of the groups' sizes does not (a few accounts with
      // thousands of posts, among thousands with a few).
      const rewriteRows = groups * perGroup;
      const rewriteBlocks = groups * (DESCENT_BLOCKS + perGroup * BLOCKS_PER_ROW);
      const byRows = produced >= options.minSaving * rewriteRows;
      const byBlocks = blocks >= options.minSaving * rewriteBlocks;
      if (!byRows && !byBlocks) continue;
      // Where reading the other side explains the blocks (a scan of a large table for a few groups),
      // reading fewer rows per group is not the fix.
      if (driverBlocks(side.driver, driverRelation, factsOf) >= blocks / 2) continue;
      const sortKey = sort['Sort Key']?.map(String) ?? [];
      const driverName = driverRelation?.name ?? String(side.driver['Relation Name']);
      const index = servingIndex(sortedRelation, side.sortedColumn, side.keys);
      findings.push({
        messageId: 'topN',
        nodePath: formatPath(facts.path),
        relation: sortedRelation.name,
        evidence: {
          joinRows: Math.round(produced),
          returnedRows: round(returned, 1),
          driverRows: round(groups, 1),
          sharedBlksPerCall: round(blocks, 1),
          blocksPerReturnedRow: round(blocks / Math.max(1, returned), 1),
          rewriteRows: Math.round(rewriteRows),
          ...(measuredBlocks !== undefined ? { statementBlocksPerCall: round(measuredBlocks, 1) } : {}),
          ...(analyzedBlocks !== undefined ? { analyzedBlocks } : {}),
          joinColumn: `${side.sortedAlias}.${side.sortedColumn} = ${side.driverAlias}.${side.driverColumn}`,
          sortKey: sortKey.join(', '),
          ...(index ? { index: index.name } : {}),
        },
        data: {
          sort: sort['Node Type'],
          join: joinFacts.path[joinFacts.path.length - 1] ?? join['Node Type'],
          basis: join['Actual Rows'] !== undefined ? 'counted' : 'estimated',
          groups: count(groups),
          driver: driverName,
          returned: count(returned),
          joinRows: count(produced),
          blocks: count(blocks),
          blocksPerRow: count(blocks / Math.max(1, returned)),
        },
        suggestion: suggest(side, sortedRelation, driverName, sortKey, window, index),
      });
    }
    return findings;
  },
});

/**
 * What the rewrite reads per group: a B-tree descent to the first leaf (three levels hold millions
 * of entries) and a heap page per row it keeps (the leaf pages hold hundreds of entries each).
 */
const BLOCKS_PER_ROW = 1;
const DESCENT_BLOCKS = 4;

/**
 * Shared blocks the other side's scan reads per call: counted with ANALYZE; else at most the table
 * for a sequential scan, the index and a heap fetch per row of the table for an index scan that
 * walks a whole index with a filter, or its rows through an index, over all its runs (the inner side
 * of a nested loop runs once per outer row).
 */
function driverBlocks(
  scan: PlanNode,
  relation: RelationInfo | undefined,
  factsOf: ReadonlyMap<PlanNode, PlanNodeFacts>,
): number {
  if (scan['Actual Rows'] !== undefined) return (scan['Shared Hit Blocks'] ?? 0) + (scan['Shared Read Blocks'] ?? 0);
  let runs = 1;
  let child = scan;
  let parent = factsOf.get(scan)?.parent;
  while (parent) {
    if (parent['Node Type'] === 'Nested Loop' && child['Parent Relationship'] === 'Inner') {
      const outer = (parent.Plans ?? []).find((p) => p['Parent Relationship'] === 'Outer');
      runs *= Math.max(1, outer?.['Plan Rows'] ?? 1);
    }
    child = parent;
    parent = factsOf.get(parent)?.parent;
  }
  if (isSeqScan(scan)) return (relation?.pages ?? 0) * runs;
  if (isIndexWalk(scan)) {
    const index = relation?.indexes.find((i) => i.name === scan['Index Name']);
    return ((index?.sizeBytes ?? 0) / BLOCK_SIZE + (relation ? relationRows(relation) : 0)) * runs;
  }
  return (DESCENT_BLOCKS + scan['Plan Rows'] * BLOCKS_PER_ROW) * runs;
}

/** PostgreSQL's default block size: index sizes are in bytes. */
const BLOCK_SIZE = 8192;

/** Nodes between a LIMIT, its sort and the join under it that pass rows on unchanged. */
const PASS_THROUGH = new Set(['Result', 'Subquery Scan', 'Gather', 'Gather Merge']);
const SORTS = new Set(['Sort', 'Incremental Sort']);
const JOINS = new Set(['Nested Loop', 'Hash Join', 'Merge Join']);

/** The one input of a node that is not an InitPlan or SubPlan. */
function inputOf(node: PlanNode): PlanNode | undefined {
  const inputs = (node.Plans ?? []).filter((p) => !isSubplan(p));
  return inputs.length === 1 ? inputs[0] : undefined;
}

function below(node: PlanNode | undefined): PlanNode | undefined {
  let at = node;
  while (at && PASS_THROUGH.has(at['Node Type']) && at.Filter === undefined) at = inputOf(at);
  return at;
}

interface Sides {
  /** The scan whose columns the sort orders by, and the column it is joined on. */
  readonly sorted: PlanNode;
  readonly sortedAlias: string;
  readonly sortedColumn: string;
  /** The scan on the other side of that equality: its rows are the groups. */
  readonly driver: PlanNode;
  readonly driverAlias: string;
  readonly driverColumn: string;
  /** The sort's keys, all columns of the sorted scan. */
  readonly keys: readonly { readonly column: string; readonly descending: boolean }[];
}

/**
 * A Limit whose input is a sort (through nodes that pass rows on) of a join: the shape, and the two
 * sides of its equality when the sort keys are all columns of one scanned relation that no LIMIT
 * under the join already cuts per outer row (the rewrite itself).
 */
function topNOverJoin(
  facts: PlanNodeFacts,
): { limit: PlanNode; sort: PlanNode; join: PlanNode; side: Sides | undefined } | undefined {
  const limit = facts.node;
  if (limit['Node Type'] !== 'Limit') return undefined;
  const sort = below(inputOf(limit));
  if (!sort || !SORTS.has(sort['Node Type'])) return undefined;
  const join = below(inputOf(sort));
  if (!join || !JOINS.has(join['Node Type'])) return undefined;
  return { limit, sort, join, side: sidesOf(sort, join) };
}

function sidesOf(sort: PlanNode, join: PlanNode): Sides | undefined {
  const keys = (sort['Sort Key'] ?? []).map((k) => parseSortKey(String(k)));
  if (keys.length === 0 || keys.some((k) => !k?.column?.qualifier)) return undefined;
  const alias = keys[0]!.column!.qualifier!;
  if (keys.some((k) => k!.column!.qualifier !== alias)) return undefined;
  const under = inputsUnder(join);
  const aliasOf = (n: PlanNode) => String(n.Alias ?? n['Relation Name'] ?? '');
  const sorted = under.filter((v) => v.node['Relation Name'] !== undefined && aliasOf(v.node) === alias);
  // A LIMIT between the join and the sorted scan already keeps a few rows per outer row.
  if (sorted.length !== 1 || sorted[0]!.underLimit) return undefined;
  const sortedScan = sorted[0]!.node;
  const key = joinKey(under, sortedScan, alias);
  if (!key) return undefined;
  const driver = under.find((v) => v.node['Relation Name'] !== undefined && aliasOf(v.node) === key.otherAlias);
  if (!driver) return undefined;
  return {
    sorted: sortedScan,
    sortedAlias: alias,
    sortedColumn: key.column,
    driver: driver.node,
    driverAlias: key.otherAlias,
    driverColumn: key.otherColumn,
    keys: keys.map((k) => ({ column: k!.column!.column, descending: k!.descending })),
  };
}

interface Input {
  readonly node: PlanNode;
  readonly parent?: PlanNode;
  /** A Limit stands between the join and this node. */
  readonly underLimit: boolean;
}

/** The join and the nodes under it that feed it rows (not its InitPlans and SubPlans). */
function inputsUnder(join: PlanNode): Input[] {
  const out: Input[] = [];
  const visit = (node: PlanNode, parent: PlanNode | undefined, underLimit: boolean): void => {
    out.push({ node, ...(parent ? { parent } : {}), underLimit });
    for (const child of node.Plans ?? [])
      if (!isSubplan(child)) visit(child, node, underLimit || node['Node Type'] === 'Limit');
  };
  visit(join, undefined, false);
  return out;
}

const CONDITIONS = ['Index Cond', 'Recheck Cond', 'Filter', 'Hash Cond', 'Merge Cond', 'Join Filter'] as const;

/**
 * The equality that joins the sorted scan to another relation: in the sorted scan's own conditions
 * (a parameterized index scan, `author_id = f.followee_id`, where the unqualified column is its own,
 * also in its bitmap index scan's) or in a join's (`p.author_id = f.followee_id`).
 */
function joinKey(
  under: readonly Input[],
  sorted: PlanNode,
  alias: string,
): { column: string; otherAlias: string; otherColumn: string } | undefined {
  for (const { node, parent } of under) {
    const local = node === sorted || (parent === sorted && node['Relation Name'] === undefined);
    for (const key of CONDITIONS) {
      const text = node[key];
      if (typeof text !== 'string') continue;
      for (const p of parseCondition(withoutSubplanRefs(text))) {
        if (p.kind !== 'join') continue;
        const mine = (c: PlanColumn) => c.qualifier === alias || (c.qualifier === undefined && local);
        const other = (c: PlanColumn) => c.qualifier !== undefined && c.qualifier !== alias;
        if (mine(p.left) && other(p.right))
          return { column: p.left.column, otherAlias: p.right.qualifier!, otherColumn: p.right.column };
        if (mine(p.right) && other(p.left))
          return { column: p.right.column, otherAlias: p.left.qualifier!, otherColumn: p.left.column };
      }
    }
  }
  return undefined;
}

/**
 * PostgreSQL 17 and later print a subplan's output in a condition as `(InitPlan 1).col1`, which is
 * no SQL and would make the whole condition unreadable: a constant stands in for it (older servers
 * print a parameter, `$0`).
 */
const withoutSubplanRefs = (text: string) =>
  text.replace(/\((?:hashed )?(?:InitPlan|SubPlan) \d+\)(?:\.col\d+)?/g, 'NULL');

/** True when only nodes that pass rows on stand between this node and the plan's root. */
function reachesRoot(facts: PlanNodeFacts, factsOf: ReadonlyMap<PlanNode, PlanNodeFacts>): boolean {
  let parent = facts.parent;
  let child = facts.node;
  while (parent) {
    if (!PASS_THROUGH.has(parent['Node Type']) || isSubplan(child)) return false;
    child = parent;
    parent = factsOf.get(parent)?.parent;
  }
  return true;
}

/** The statement's LIMIT and OFFSET: their values where known (literals, or the replay's parameters). */
interface LimitWindow {
  readonly limit?: number;
  readonly offset?: number;
  readonly hasOffset: boolean;
}

function limitWindow(
  tree: readonly TreeNode[],
  params: readonly (string | null)[] | undefined,
): LimitWindow | undefined {
  const top = tree[0] ? queryLevels(tree[0]).find((l) => l.depth === 0) : undefined;
  if (!top?.node.limitCount) return undefined;
  const value = (expr: unknown) => {
    const n = Number(constantValue(expr, params));
    return Number.isFinite(n) ? n : undefined;
  };
  const limit = value(top.node.limitCount);
  const hasOffset = top.node.limitOffset !== undefined;
  const offset = hasOffset ? value(top.node.limitOffset) : 0;
  return { ...(limit !== undefined ? { limit } : {}), ...(offset !== undefined ? { offset } : {}), hasOffset };
}

/** The rows the rewrite keeps per group: LIMIT plus OFFSET, where both are known. */
const windowRows = (window: LimitWindow | undefined): number | undefined =>
  window?.limit !== undefined && window.offset !== undefined ? window.limit + window.offset : undefined;

/**
 * A B-tree of the sorted relation that returns one join key's rows in the sort's order: the join
 * column, then the sort keys, each in the sort's direction or all reversed (a backward scan).
 */
function servingIndex(
  relation: RelationInfo,
  column: string,
  keys: readonly { readonly column: string; readonly descending: boolean }[],
): IndexInfo | undefined {
  const wanted = [column, ...keys.map((k) => k.column)];
  return relation.indexes.find((index) => {
    if (index.method !== 'btree' || !index.valid || index.partial) return false;
    if (!wanted.every((c, i) => index.columns[i] === c)) return false;
    const directions = keyDirections(index.definition);
    if (directions.length < wanted.length) return false;
    const same = keys.every((k, i) => directions[i + 1] === k.descending);
    const reversed = keys.every((k, i) => directions[i + 1] !== k.descending);
    return same || reversed;
  });
}

/** Whether each key of an index definition (`pg_get_indexdef`) is DESC. */
function keyDirections(definition: string): boolean[] {
  const open = definition.indexOf('(', definition.indexOf(' USING '));
  const close = definition.lastIndexOf(')');
  if (open < 0 || close < open) return [];
  return definition
    .slice(open + 1, close)
    .split(',')
    .map((key) => /\bDESC\b/i.test(key));
}

function suggest(
  side: Sides,
  relation: RelationInfo,
  driverName: string,
  sortKey: readonly string[],
  window: LimitWindow | undefined,
  index: IndexInfo | undefined,
): string {
  const q = quoteIdentifier;
  const rows = windowRows(window);
  const inner = rows !== undefined ? String(rows) : 'n';
  const outer = window?.limit !== undefined ? String(window.limit) : 'n';
  const order = sortKey.join(', ');
  const offset = !window
    ? ' (with OFFSET, the inner LIMIT is OFFSET + LIMIT)'
    : !window.hasOffset || window.offset === 0
      ? ''
      : rows !== undefined
        ? ` (the inner LIMIT is OFFSET + LIMIT, ${inner})`
        : ' (the inner LIMIT is OFFSET + LIMIT)';
  const rewrite =
    `keep the first rows of each ${side.driverAlias}.${side.driverColumn} before sorting them all: ` +
    `SELECT ... FROM ${driverName} ${q(side.driverAlias)} CROSS JOIN LATERAL (SELECT ... FROM ${relation.name} ${q(side.sortedAlias)} ` +
    `WHERE ${q(side.sortedAlias)}.${q(side.sortedColumn)} = ${q(side.driverAlias)}.${q(side.driverColumn)} ` +
    `ORDER BY ${order} LIMIT ${inner}) ${q(side.sortedAlias)} WHERE ... ORDER BY ${order} LIMIT ${outer}, ` +
    `with the statement's other conditions on ${side.sortedAlias} inside the subquery${offset}: ` +
    `each row of ${driverName} then reads at most ${inner} rows`;
  if (index) return `${rewrite}, in the order of the index ${index.name}, which serves it`;
  const keys = [q(side.sortedColumn), ...side.keys.map((k) => `${q(k.column)}${k.descending ? ' DESC' : ''}`)];
  return `${rewrite}, in index order, with an index that returns each ${side.sortedColumn}'s rows sorted: ${proposeIndexSql(relation.name, keys)}`;
}

const count = (n: number) =>
  n >= 10 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);
