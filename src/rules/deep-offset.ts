/**
 * deep-offset: OFFSET n reads and throws away n rows on every call, so pages get slower the deeper
 * they are. The value comes from the literal, the replay's parameter value, or (with ANALYZE) the
 * rows the Limit node skipped. When none of these is known (an application's `OFFSET $2`, an offset
 * computed from parameters), what the statement did is: the shared blocks a call read beyond those
 * its page needs, where the rows under the Limit stream from scans in order.
 */
import { formatPath } from '../analyze/plan.js';
import { relationRows, round, type PlanNodeFacts } from '../analyze/plan-facts.js';
import { constantValue, expressionText, nodeType, queryLevels } from '../analyze/sql-tree.js';
import type { PlanNode } from '../model/plan.js';
import type { QueryReport, RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';
import { keysetSuggestion } from './shared/keyset.js';

export default defineRule({
  id: 'deep-offset',
  severity: 'warning',
  category: 'pagination',
  description:
    'A query pages with a deep OFFSET (1,000 rows or more, or calls that read far more blocks than their page needs), which reads and discards the skipped rows on every call.',
  messages: {
    offset: 'OFFSET {offset} ({source}) reads and discards {offset} rows on every call before returning a page',
    measured:
      'OFFSET {expression} (its values are not known): a call reads {blocksPerCall} shared blocks to return {rowsPerCall} rows ({calls} calls), {discardedBlocks} more than such a page needs through this plan: rows read and discarded before the page',
  },
  defaultOptions: {
    /** Offsets from this value on are reported. */
    minOffset: 1000,
    /**
     * For an offset whose value is not known: shared blocks per call beyond those the page itself
     * needs (of 8 kB on a default build), from which the statement is reported.
     */
    minDiscardedBlocks: 1000,
  },
  check({ query, sql, params, paramMax, tree, nodes, relation, relationOf, options }) {
    const offsets = tree.flatMap((statement) => queryLevels(statement).filter((l) => l.node.limitOffset !== undefined));
    if (offsets.length === 0) return [];
    const limits = nodes.filter((n) => n.node['Node Type'] === 'Limit');
    const findings: RuleFinding[] = [];
    for (const level of offsets) {
      const expr = level.node.limitOffset;
      let value = numeric(constantValue(expr, params));
      // `OFFSET $2::int` is the parameter too.
      const ref = nodeType(withoutCasts(expr));
      let source = ref?.[0] === 'ParamRef' ? 'parameter value in the replay' : 'literal';
      // A parameter: the deepest page the replay asked for, not only the value that was planned.
      const deepest = ref?.[0] === 'ParamRef' ? paramMax?.[Number(ref[1].number) - 1] : undefined;
      if (typeof deepest === 'number' && (value === undefined || deepest > value)) {
        value = deepest;
        source = 'largest parameter value in the replay';
      }
      const limit = offsets.length === 1 && limits.length === 1 ? limits[0] : undefined;
      if (value === undefined && limit) {
        // EXPLAIN ANALYZE: the Limit's input produced offset + returned rows per loop.
        const plans = limit.node.Plans ?? [];
        const input = (plans.find((p) => p['Parent Relationship'] === 'Outer') ?? plans[0])?.['Actual Rows'];
        const output = limit.node['Actual Rows'];
        if (input !== undefined && output !== undefined) {
          value = Math.round(input - output);
          source = 'rows skipped in the analyzed plan';
        }
      }
      // The table a column of the statement belongs to, as the plan read it.
      const suggestion = () =>
        keysetSuggestion(
          sql,
          level,
          (table) =>
            nodes
              .map((n) => relationOf(n.node))
              .find((r) => r?.table === table.table && (!table.schema || r.schema === table.schema)) ??
            relation(table.schema ? `${table.schema}.${table.table}` : table.table),
        );
      if (value === undefined) {
        // Nothing says which offsets were asked for: what the calls read does.
        const measured = limit && level.depth === 0 ? measuredDiscard(query, limit, nodes, relationOf) : undefined;
        if (!measured || measured.discardedBlocks < options.minDiscardedBlocks) continue;
        findings.push({
          messageId: 'measured',
          nodePath: formatPath(limit!.path),
          evidence: {
            blocksPerCall: round(query.sharedBlksPerCall, 1),
            rowsPerCall: round(query.rowsPerCall, 1),
            calls: query.calls,
            pageBlocks: Math.round(measured.pageBlocks),
            discardedBlocks: Math.round(measured.discardedBlocks),
            ...(query.meanMs ? { meanMs: query.meanMs } : {}),
          },
          data: { expression: expressionText(sql, expr) ?? 'expression' },
          suggestion: suggestion(),
        });
        continue;
      }
      if (value < options.minOffset) continue;
      findings.push({
        messageId: 'offset',
        ...((limit ?? limits[0]) ? { nodePath: formatPath((limit ?? limits[0])!.path) } : {}),
        evidence: { offset: value, ...(query.meanMs ? { meanMs: query.meanMs } : {}) },
        data: { source },
        suggestion: suggestion(),
      });
    }
    return findings;
  },
});

function withoutCasts(expr: unknown): unknown {
  const typed = nodeType(expr);
  return typed?.[0] === 'TypeCast' ? withoutCasts(typed[1].arg) : expr;
}

/**
 * Shared blocks a row costs at most as a scan returns it: its heap page, and its share of an index's
 * leaf pages (one more at worst). Rows of a table stored in index order cost far less (one page holds
 * many), so the page's blocks are never underestimated.
 */
const BLOCKS_PER_ROW = 2;
/** Blocks a B-tree descent reads from the root to a leaf (its levels: four hold billions of entries). */
const DESCENT_BLOCKS = 5;

/** What the rows of a plan node cost in shared blocks, as they stream: per row it returns, and once per run. */
interface StreamCost {
  readonly perRow: number;
  readonly fixed: number;
}

/**
 * Nodes that pass their one input's rows up as they come, without reading ahead: a LIMIT above them
 * stops their input when it has its rows. A node that keeps fewer rows than it reads (Unique, a
 * grouping of sorted rows) costs its input's rows per row it returns.
 */
const PASSING = new Set([
  'Result',
  'Subquery Scan',
  'LockRows',
  'Limit',
  'Unique',
  'Memoize',
  'Materialize',
  'Gather',
  'Gather Merge',
  'ProjectSet',
  'Group',
]);

/**
 * The blocks the rows of a plan node cost, from the plan's shape and the planner's row estimates, as
 * an upper bound: undefined where the node reads what it reads regardless of how many rows are pulled
 * from it (a Sort, a hashed aggregate, a bitmap, a function), or where nothing bounds it.
 */
function streamCost(
  node: PlanNode,
  facts: ReadonlyMap<PlanNode, PlanNodeFacts>,
  relationOf: (node: PlanNode) => RelationInfo | undefined,
): StreamCost | undefined {
  const rows = (n: PlanNode) => Math.max(1, n['Plan Rows']);
  const children = node.Plans ?? [];
  const inputs = children.filter(
    (c) => c['Parent Relationship'] !== 'InitPlan' && c['Parent Relationship'] !== 'SubPlan',
  );
  // An InitPlan runs once; a SubPlan once per row (of those the node reads, for a scan's filter).
  let once = 0;
  let each = 0;
  for (const child of children) {
    const relationship = child['Parent Relationship'];
    if (relationship !== 'InitPlan' && relationship !== 'SubPlan') continue;
    const cost = streamCost(child, facts, relationOf);
    if (!cost) return undefined;
    const all = cost.fixed + cost.perRow * rows(child);
    if (relationship === 'InitPlan') once += all;
    else each += all;
  }
  const type = node['Node Type'];
  const costOf = (child: PlanNode | undefined) => (child ? streamCost(child, facts, relationOf) : undefined);
  const outer = inputs.find((c) => c['Parent Relationship'] === 'Outer') ?? inputs[0];
  const inner = inputs.find((c) => c['Parent Relationship'] === 'Inner');
  // Rows of a child per row of the node: more than one where the node discards or groups rows.
  const per = (child: PlanNode) => Math.max(1, rows(child) / rows(node));
  let own: StreamCost | undefined;
  if (type === 'Seq Scan' || type === 'Index Scan' || type === 'Index Only Scan') {
    if (inputs.length > 0) return undefined;
    const relation = relationOf(node);
    const tableRows = relation ? relationRows(relation) : 0;
    // The share of the rows it reads that its filter keeps: at least its rows out of the table's.
    let kept = 1;
    if (node.Filter !== undefined) {
      if (!(tableRows > 0)) return undefined;
      const divisor = facts.get(node)?.parallelDivisor ?? 1;
      kept = Math.min(1, Math.max(1 / tableRows, (node['Plan Rows'] * divisor) / tableRows));
    }
    // A sequential scan reads each page once, for every row on it.
    const perRead =
      type === 'Seq Scan' && relation && relation.pages > 0 && tableRows > 0
        ? Math.min(1, relation.pages / tableRows) * BLOCKS_PER_ROW
        : BLOCKS_PER_ROW;
    return { perRow: (perRead + each) / kept, fixed: once + (type === 'Seq Scan' ? 1 : DESCENT_BLOCKS) };
  } else if (PASSING.has(type) || (type === 'Aggregate' && node.Strategy === 'Sorted')) {
    if (inputs.length > 1) return undefined;
    const child = inputs[0];
    if (!child) return { perRow: each, fixed: once };
    const cost = costOf(child);
    if (!cost) return undefined;
    // Each process of a Gather descends the indexes on its own.
    const processes = type === 'Gather' || type === 'Gather Merge' ? 1 + Number(node['Workers Planned'] ?? 0) : 1;
    own = { perRow: cost.perRow * per(child), fixed: cost.fixed * processes };
  } else if (type === 'Append' || type === 'Merge Append') {
    // Each row comes from one member; a Merge Append starts every member.
    const costs = inputs.map(costOf);
    if (costs.length === 0 || costs.some((c) => c === undefined)) return undefined;
    own = {
      perRow: Math.max(...costs.map((c) => c!.perRow)),
      fixed: costs.reduce((sum, c) => sum + c!.fixed, 0),
    };
  } else if (type === 'Nested Loop') {
    // The inner side runs once per outer row.
    const [o, i] = [costOf(outer), costOf(inner)];
    if (!o || !i || !outer || !inner) return undefined;
    own = { perRow: (o.perRow + i.fixed + i.perRow * rows(inner)) * per(outer), fixed: o.fixed };
  } else if (type === 'Merge Join') {
    const [o, i] = [costOf(outer), costOf(inner)];
    if (!o || !i || !outer || !inner) return undefined;
    own = { perRow: o.perRow * per(outer) + i.perRow * per(inner), fixed: o.fixed + i.fixed };
  } else if (type === 'Hash Join') {
    // The hash table is built from the whole inner side before the first row.
    const build = inner?.['Node Type'] === 'Hash' ? inner.Plans?.[0] : undefined;
    const [o, b] = [costOf(outer), costOf(build)];
    if (!o || !b || !outer || !build) return undefined;
    own = { perRow: o.perRow * per(outer), fixed: o.fixed + b.fixed + b.perRow * rows(build) };
  }
  if (!own) return undefined;
  return { perRow: own.perRow + each, fixed: own.fixed + once };
}

/**
 * What the calls of a statement read beyond its pages, when the offset's value is not known: the
 * statement's shared blocks per call (pg_stat_statements) less the blocks a page of the rows it
 * returned costs through the plan under its Limit (an upper bound, see `streamCost`). Only for a Limit
 * at the top of the plan (its rows are the statement's) whose input streams: under a Sort or a hash
 * aggregate, a call reads as much whatever the offset.
 */
function measuredDiscard(
  query: QueryReport,
  limit: PlanNodeFacts,
  nodes: readonly PlanNodeFacts[],
  relationOf: (node: PlanNode) => RelationInfo | undefined,
): { pageBlocks: number; discardedBlocks: number } | undefined {
  if (limit.depth !== 0 || !(query.calls > 0)) return undefined;
  const facts = new Map(nodes.map((n) => [n.node, n]));
  let pageBlocks = 0;
  for (const child of limit.node.Plans ?? []) {
    const cost = streamCost(child, facts, relationOf);
    if (!cost) return undefined;
    // The input's rows up to the page's (the OFFSET's are what is measured); an InitPlan (the
    // offset's subquery) runs once.
    const rows = child['Parent Relationship'] === 'InitPlan' ? Math.max(1, child['Plan Rows']) : query.rowsPerCall;
    pageBlocks += cost.fixed + cost.perRow * rows;
  }
  return { pageBlocks, discardedBlocks: query.sharedBlksPerCall - pageBlocks };
}

function numeric(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}
