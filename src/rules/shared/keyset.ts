/**
 * The keyset rewrite of a query that pages with OFFSET: shared by deep-offset, and by index advice,
 * which puts it before an index that serves the ORDER BY of such a query (under OFFSET the index is
 * walked through every skipped row). Pure.
 */
import { quoteIdentifier } from '../../analyze/parser.js';
import {
  columnsIn,
  constantValue,
  expressionText,
  nodeType,
  nodesOf,
  queryLevels,
  resolveColumn,
  wrapperOf,
  type QueryLevel,
  type TableRef,
  type TreeNode,
} from '../../analyze/sql-tree.js';
import type { IndexInfo, RelationInfo } from '../../model/report.js';

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
export function keysetSuggestion(
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
  if (new Set(keys.map((k) => k.descending)).size > 1) {
    const columns = keys.map((k) => k.text);
    return `use keyset pagination: remember the last row's ${columns.join(', ')} and filter on them instead of OFFSET (mixed ASC/DESC needs one comparison per key, or an index with matching directions)`;
  }

  // Plain columns of one table (`id`, `o.created_at`) can be matched against its index definitions.
  const knows = (t: TableRef, column: string) =>
    level.tables.length === 1 || relationOf(t)?.columnTypes?.[column] !== undefined;
  const sortTables = keys.map(
    (k) => k.column && resolveColumn(k.column, level.tables, (t) => knows(t, k.column!.column)),
  );
  const table = sortTables[0] && sortTables.every((t) => t === sortTables[0]) ? sortTables[0] : undefined;
  const relation = table ? relationOf(table) : undefined;
  const equality = table
    ? [
        ...new Set(
          equalityColumns(select.whereClause)
            .filter((c) => resolveColumn(c, level.tables, (t) => knows(t, c.column)) === table)
            .map((c) => c.column),
        ),
      ].filter((c) => !keys.some((k) => k.column?.column === c))
    : [];
  // Pages in an order with ties skip or repeat rows at their edges: the table's primary key ends
  // the ORDER BY unless the keys (with the page's equality columns) are unique already.
  const tieBreak = relation
    ? uniqueTieBreak(
        relation,
        equality,
        keys.map((k) => k.column!.column),
      )
    : undefined;
  const qualifier = keys[0]!.column?.qualifier;
  for (const column of tieBreak ?? []) {
    const name = quoteIdentifier(column);
    keys.push({
      text: qualifier ? `${qualifier}.${name}` : name,
      descending: keys[0]!.descending,
      column: { column, ...(qualifier ? { qualifier } : {}) },
    });
  }
  const unique =
    tieBreak === undefined
      ? ' (the ORDER BY must end in a unique key)'
      : tieBreak.length > 0
        ? ` (${tieBreak.join(', ')}, the primary key of ${relation!.name}, ends the ORDER BY, so that no row is skipped or repeated between pages)`
        : '';

  const columns = keys.map((k) => k.text);
  const tuple = columns.length === 1 ? columns[0]! : `(${columns.join(', ')})`;
  const last = columns.length === 1 ? '$last' : `(${columns.map((_, i) => `$last${i + 1}`).join(', ')})`;
  const op = keys[0]!.descending ? '<' : '>';
  const orderBy = keys.map((k) => `${k.text}${k.descending ? ' DESC' : ''}`).join(', ');
  // The WHERE stays: an OR at its top needs parentheses before the keyset condition is ANDed to it.
  const whereText = select.whereClause ? expressionText(sql, select.whereClause) : undefined;
  const or = nodeType(select.whereClause)?.[1].boolop === 'OR_EXPR';
  const where = whereText ? `${or ? `(${whereText})` : whereText} AND ` : '';
  const rewrite = `use keyset pagination instead of OFFSET: WHERE ${where}${tuple} ${op} ${last} ORDER BY ${orderBy} LIMIT n`;

  if (!table) {
    return `${rewrite}, with an index on (${columns.join(', ')})${unique}`;
  }
  const sortColumns = keys.map((k) => k.column!.column);
  const wanted = [...equality, ...sortColumns];
  // An index on the ORDER BY as written still serves the pages when the tie-breaker is added: it
  // finds the page's start, and only rows of equal keys are sorted by the tie-breaker.
  const existing = relation
    ? (servingIndex(relation, equality, sortColumns) ??
      servingIndex(relation, equality, sortColumns.slice(0, sortColumns.length - (tieBreak?.length ?? 0))))
    : undefined;
  if (existing) return `${rewrite}, which the index ${existing.name} serves${unique}`;
  // An index with every key but the last (the unique tie-breaker) already finds the page's start.
  const partly = relation ? servingIndex(relation, equality, sortColumns.slice(0, -1)) : undefined;
  const near =
    partly && sortColumns.length > 1
      ? `; ${partly.name} has all but the last key, and with it as well the keyset condition is one index condition`
      : '';
  return `${rewrite}, with an index on (${wanted.map(quoteIdentifier).join(', ')})${near}${unique}`;
}

/**
 * The columns that make the sort keys unique, from the catalog: none when a unique index (valid,
 * not partial, on plain columns) is within the keys and the page's equality columns, else the
 * primary key's columns the keys lack; undefined without a primary key (a unique index's columns
 * may hold several NULLs, which tie).
 */
function uniqueTieBreak(
  relation: RelationInfo,
  equality: readonly string[],
  sort: readonly string[],
): readonly string[] | undefined {
  const plain = relation.indexes.filter(
    (i) => i.unique && i.valid && !i.partial && i.columns.length > 0 && i.columns.every((c) => c !== null),
  );
  const within = [...equality, ...sort];
  if (plain.some((i) => i.columns.every((c) => within.includes(c!)))) return [];
  const primary = plain.find((i) => i.primary);
  return primary ? primary.columns.map((c) => c!).filter((c) => !within.includes(c)) : undefined;
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

/** The OFFSET of a statement's outermost SELECT (`... ORDER BY created_at OFFSET $1 LIMIT 50`). */
export interface OuterOffset {
  /** The outermost SELECT, for the keyset rewrite. */
  readonly level: QueryLevel;
  /** Its value, for a constant offset. */
  readonly constant?: number;
  /**
   * For an offset that is one parameter (`OFFSET $2`, `OFFSET $2::int`) used nowhere else in the
   * statement, its number (1-based).
   */
  readonly param?: number;
  /** True when the offset reads a parameter (alone or in an expression). */
  readonly parameterized: boolean;
}

function withoutCasts(expr: unknown): unknown {
  const typed = nodeType(expr);
  return typed?.[0] === 'TypeCast' ? withoutCasts(typed[1].arg) : expr;
}

/** The OFFSET of the outermost SELECT of a one-statement tree, if it has one. */
export function outerOffset(tree: readonly TreeNode[]): OuterOffset | undefined {
  const [statement] = tree;
  if (tree.length !== 1 || !statement) return undefined;
  const level = queryLevels(statement).find((l) => l.depth === 0);
  const expr = level?.kind === 'select' ? level.node.limitOffset : undefined;
  if (!level || expr === undefined) return undefined;
  const ref = nodeType(withoutCasts(expr));
  const constant = Number(constantValue(expr));
  const parameterized = nodesOf(expr, 'ParamRef', { subqueries: true }).length > 0;
  // A parameter that appears elsewhere too (`WHERE n > $1 ... OFFSET $1`) is more than the offset.
  const param = ref?.[0] === 'ParamRef' ? Number(ref[1].number) : undefined;
  const once =
    param !== undefined &&
    nodesOf(statement, 'ParamRef', { subqueries: true }).filter((p) => Number(p.number) === param).length === 1;
  return {
    level,
    ...(Number.isFinite(constant) && !parameterized ? { constant } : {}),
    ...(once ? { param } : {}),
    parameterized,
  };
}
