/**
 * deep-offset: OFFSET n reads and throws away n rows on every call, so pages get slower the deeper
 * they are. The value comes from the literal, the replay's parameter value, or (with ANALYZE) the
 * rows the Limit node skipped.
 */
import { quoteIdentifier } from '../analyze/parser.js';
import { formatPath } from '../analyze/plan.js';
import {
  columnsIn,
  constantValue,
  expressionText,
  nodeType,
  queryLevels,
  resolveColumn,
  wrapperOf,
  type QueryLevel,
  type TableRef,
  type TreeNode,
} from '../analyze/sql-tree.js';
import type { IndexInfo, RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'deep-offset',
  severity: 'warning',
  category: 'pagination',
  description: 'A query pages with an OFFSET of 1,000 rows or more, which reads and discards them on every call.',
  messages: {
    offset: 'OFFSET {offset} ({source}) reads and discards {offset} rows on every call before returning a page',
  },
  defaultOptions: {
    /** Offsets from this value on are reported. */
    minOffset: 1000,
  },
  check({ query, sql, params, paramMax, tree, nodes, relation, relationOf, options }) {
    const offsets = tree.flatMap((statement) => queryLevels(statement).filter((l) => l.node.limitOffset !== undefined));
    if (offsets.length === 0) return [];
    const limits = nodes.filter((n) => n.node['Node Type'] === 'Limit');
    const findings: RuleFinding[] = [];
    for (const level of offsets) {
      const expr = level.node.limitOffset;
      let value = numeric(constantValue(expr, params));
      const ref = nodeType(expr);
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
      if (value === undefined || value < options.minOffset) continue;
      findings.push({
        messageId: 'offset',
        ...((limit ?? limits[0]) ? { nodePath: formatPath((limit ?? limits[0])!.path) } : {}),
        evidence: { offset: value, ...(query.meanMs ? { meanMs: query.meanMs } : {}) },
        data: { source },
        // The table a column of the statement belongs to, as the plan read it.
        suggestion: keysetSuggestion(
          sql,
          level,
          (table) =>
            nodes
              .map((n) => relationOf(n.node))
              .find((r) => r?.table === table.table && (!table.schema || r.schema === table.schema)) ??
            relation(table.schema ? `${table.schema}.${table.table}` : table.table),
        ),
      });
    }
    return findings;
  },
});

function numeric(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** `column = constant` conjuncts of a level's WHERE (not under OR): the columns a page is taken within. */
function equalityColumns(where: unknown): { column: string; qualifier?: string }[] {
  const out: { column: string; qualifier?: string }[] = [];
  const visit = (expr: unknown): void => {
    const typed = nodeType(expr);
    if (!typed) return;
    const [type, fields] = typed;
    if (type === 'BoolExpr') {
      if (fields.boolop === 'AND_EXPR') for (const arg of (fields.args as unknown[] | undefined) ?? []) visit(arg);
      return;
    }
    if (type !== 'A_Expr' || fields.kind !== 'AEXPR_OP') return;
    const name = ((fields.name as unknown[] | undefined) ?? []).map((n) => nodeType(n)?.[1].sval);
    if (name.length !== 1 || name[0] !== '=') return;
    for (const [side, other] of [
      [fields.lexpr, fields.rexpr],
      [fields.rexpr, fields.lexpr],
    ]) {
      const [column] = columnsIn(side);
      if (wrapperOf(side).kind === 'column' && column && columnsIn(other).length === 0) out.push(column);
    }
  };
  visit(where);
  return out;
}

/**
 * Keyset pagination over the statement's ORDER BY keys. The page stays within the WHERE's
 * conditions, so the rewrite keeps them, and its equality columns (`tenant_id = 1`) lead the index
 * the pages need: an index on the sort keys alone would walk every other tenant's rows too.
 * `relationOf` finds the table a column belongs to, for its indexes.
 */
function keysetSuggestion(
  sql: string,
  level: QueryLevel,
  relationOf: (table: TableRef) => RelationInfo | undefined,
): string {
  const select = level.node;
  const keys = ((select.sortClause as unknown[] | undefined) ?? [])
    .map((item) => nodeType(item))
    .filter((t): t is [string, TreeNode] => t?.[0] === 'SortBy')
    .map(([, sortBy]) => ({
      text: expressionText(sql, sortBy.node) ?? '?',
      descending: sortBy.sortby_dir === 'SORTBY_DESC',
      column: wrapperOf(sortBy.node).kind === 'column' ? columnsIn(sortBy.node)[0] : undefined,
    }));
  if (keys.length === 0) {
    return 'add ORDER BY a unique key and page by it (keyset pagination): WHERE key > $last_key ORDER BY key LIMIT n';
  }
  const columns = keys.map((k) => k.text);
  const directions = new Set(keys.map((k) => k.descending));
  if (directions.size > 1) {
    return `use keyset pagination: remember the last row's ${columns.join(', ')} and filter on them instead of OFFSET (mixed ASC/DESC needs one comparison per key, or an index with matching directions)`;
  }
  const tuple = columns.length === 1 ? columns[0]! : `(${columns.join(', ')})`;
  const last = columns.length === 1 ? '$last' : `(${columns.map((_, i) => `$last${i + 1}`).join(', ')})`;
  const op = keys[0]!.descending ? '<' : '>';
  const orderBy = keys.map((k) => `${k.text}${k.descending ? ' DESC' : ''}`).join(', ');
  // The WHERE stays: an OR at its top needs parentheses before the keyset condition is ANDed to it.
  const whereText = select.whereClause ? expressionText(sql, select.whereClause) : undefined;
  const or = nodeType(select.whereClause)?.[1].boolop === 'OR_EXPR';
  const where = whereText ? `${or ? `(${whereText})` : whereText} AND ` : '';
  const rewrite = `use keyset pagination instead of OFFSET: WHERE ${where}${tuple} ${op} ${last} ORDER BY ${orderBy} LIMIT n`;

  // Plain columns of one table (`id`, `o.created_at`) can be matched against its index definitions.
  const knows = (t: TableRef, column: string) =>
    level.tables.length === 1 || relationOf(t)?.columnTypes?.[column] !== undefined;
  const sortTables = keys.map(
    (k) => k.column && resolveColumn(k.column, level.tables, (t) => knows(t, k.column!.column)),
  );
  const table = sortTables[0];
  if (!table || sortTables.some((t) => t !== table)) {
    return `${rewrite}, with an index on (${columns.join(', ')}) (the ORDER BY must end in a unique key)`;
  }
  const sortColumns = keys.map((k) => k.column!.column);
  const equality = [
    ...new Set(
      equalityColumns(select.whereClause)
        .filter((c) => resolveColumn(c, level.tables, (t) => knows(t, c.column)) === table)
        .map((c) => c.column),
    ),
  ].filter((c) => !sortColumns.includes(c));
  const wanted = [...equality, ...sortColumns];
  const relation = relationOf(table);
  const existing = relation ? servingIndex(relation, equality, sortColumns) : undefined;
  if (existing) return `${rewrite}, which the index ${existing.name} serves (the ORDER BY must end in a unique key)`;
  // An index with every key but the last (the unique tie-breaker) already finds the page's start.
  const partly = relation ? servingIndex(relation, equality, sortColumns.slice(0, -1)) : undefined;
  const near =
    partly && sortColumns.length > 1
      ? `; ${partly.name} has all but the last key, and with it as well the keyset condition is one index condition`
      : '';
  return `${rewrite}, with an index on (${wanted.map(quoteIdentifier).join(', ')})${near} (the ORDER BY must end in a unique key)`;
}

/**
 * A valid, non-partial B-tree that starts with the equality columns (in any order: each is one
 * value), then the sort columns in order.
 */
function servingIndex(
  relation: RelationInfo,
  equality: readonly string[],
  sort: readonly string[],
): IndexInfo | undefined {
  if (sort.length === 0) return undefined;
  return relation.indexes.find((i) => {
    if (i.method !== 'btree' || !i.valid || i.partial || i.columns.length < equality.length + sort.length) return false;
    const lead = i.columns.slice(0, equality.length);
    return equality.every((c) => lead.includes(c)) && sort.every((c, n) => i.columns[equality.length + n] === c);
  });
}
