/**
 * not-in-subquery: `x NOT IN (SELECT y ...)` that the planner kept as a subplan. NOT IN is true only
 * when x differs from every value the subquery yields, and unknown (so false) as soon as one of them
 * is NULL: PostgreSQL cannot turn it into an anti-join, which would ignore those NULLs. It hashes the
 * subquery's result and probes it for each row when the hash fits in work_mem, and otherwise runs
 * the subquery once per row, reading its result until it finds the value (all of it for a value that
 * is not there). And when y can be NULL and is, the statement returns no row at all. Found in the
 * parse tree, confirmed by the plan (a SubPlan that a condition negates), the NULLs read from the
 * catalog (NOT NULL) and the statistics (`pg_stats.null_frac`).
 */
import { scansTable } from '../analyze/column-predicates.js';
import { quoteIdentifier, scanTokens, type SqlToken } from '../analyze/parser.js';
import {
  estimatedSubplanRuns,
  formatPath,
  isHashedSubplan,
  isNegatedSubplan,
  subplanName,
  walkPlan,
} from '../analyze/plan.js';
import { isTrivial, round, type PlanNodeFacts } from '../analyze/plan-facts.js';
import {
  columnsIn,
  expressionText,
  locationRange,
  nodeType,
  notInSubqueries,
  queryLevels,
  type NotInSubquery,
  type TableRef,
  type TreeNode,
} from '../analyze/sql-tree.js';
import type { PlanNode } from '../model/plan.js';
import type { RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'not-in-subquery',
  severity: 'warning',
  category: 'join',
  description:
    'A NOT IN (subquery) that the planner cannot turn into an anti-join, and that returns no row once the subquery yields a NULL.',
  messages: {
    perRow:
      "{tested} NOT IN (SELECT ...) cannot become an anti-join: {subplan} runs once per row of {outer} ({runs} times, {basis}), reading the subquery's {innerRows} rows each time a value is not among them{nulls}",
    hashed:
      "{tested} NOT IN (SELECT ...) cannot become an anti-join: the planner keeps the subquery's {innerRows} rows in a hash table ({subplan}) and probes it for each row of {outer}; a hash that would not fit in work_mem makes it run the subquery once per row instead{nulls}",
  },
  defaultOptions: {},
  check({ query, sql, tree, nodes, relationOf }) {
    if (!query.plan) return [];
    const written = tree.flatMap((statement) => notInSubqueries(statement));
    if (written.length === 0) return [];
    // The plan's negated subplans, in the order the planner numbered them (the order it met the
    // NOT INs in). None at all: the planner made anti-joins of them.
    const negated = nodes
      .filter((n) => isNegatedSubplan(n.node, n.parent))
      .sort((a, b) => subplanNumber(a.node) - subplanNumber(b.node));
    const trivial = isTrivial(query);
    const analyzed = query.plan.mode === 'analyze';
    const findings: RuleFinding[] = [];
    for (const [i, item] of written.entries()) {
      const subplan = negated[i];
      const parent = subplan ? nodes.find((n) => n.node === subplan.parent) : undefined;
      if (!subplan || !parent) break;
      const hashed = isHashedSubplan(subplan.node, subplan.parent);
      const inner = innerColumn(item, subplan.node, relationOf);
      const outer = outerColumn(item, nodes, relationOf);
      const nullShare = inner?.nullable ? (inner.relation?.nullFraction?.[inner.column] ?? 0) : 0;
      const holdsNulls = inner?.nullable === true && nullShare > 0;
      // A trivial statement is reported only for the rows NOT IN loses.
      if (trivial && !holdsNulls) continue;
      const runs = analyzed
        ? Number(subplan.node['Actual Loops'] ?? 0)
        : estimatedSubplanRuns(subplan.node, subplan.parent);
      const innerRows = subplan.node['Actual Rows'] ?? subplan.node['Plan Rows'];
      const kept = analyzed ? parent.node['Actual Rows'] : undefined;
      const testedText = item.tested.map((t) => expressionText(sql, t) ?? '?');
      const tested = testedText.length === 1 ? testedText[0]! : `(${testedText.join(', ')})`;
      const outerName = String(parent.node.Alias ?? parent.node['Relation Name'] ?? parent.node['Node Type']);
      const nulls = holdsNulls
        ? `; ${named(inner!)} can be NULL and ${percent(nullShare)} of its rows are (by its statistics), so NOT IN returns no row at all whenever the subquery yields one${kept === 0 ? ` (here ${outerName} kept 0 rows)` : ''}`
        : inner?.nullable
          ? `; ${named(inner)} can be NULL: once the subquery yields one, NOT IN returns no row at all`
          : '';
      findings.push({
        messageId: hashed ? 'hashed' : 'perRow',
        // Per row: the clear case. Hashed: a clear case only for the rows it loses to NULLs.
        ...(hashed && !holdsNulls ? { level: inner?.nullable ? ('mild' as const) : ('note' as const) } : {}),
        ...(parent.node['Relation Name'] !== undefined && relationOf(parent.node)
          ? { relation: relationOf(parent.node)!.name }
          : {}),
        nodePath: formatPath(parent.path),
        evidence: {
          subplan: subplanName(subplan.node),
          hashed: hashed ? 'yes' : 'no',
          innerRows: Math.round(innerRows),
          ...(hashed ? {} : { runs: Math.round(runs) }),
          ...(inner ? { column: inner.text, nullable: inner.nullable ? 'yes' : 'no' } : {}),
          ...(inner?.nullable ? { nullShare: round(nullShare, 4) } : {}),
          ...(kept !== undefined ? { actualRows: kept } : {}),
        },
        data: {
          tested,
          subplan: subplanName(subplan.node),
          outer: outerName,
          runs: Math.round(runs),
          basis: analyzed ? 'counted' : 'estimated from the plan',
          innerRows: Math.round(innerRows),
          nulls,
        },
        suggestion: suggestFix(sql, item, tested, inner, outer),
      });
    }
    return findings;
  },
});

/** `customer_id of retail.sales`, or as the statement names it when the relation is unknown. */
const named = (side: SideColumn) => (side.relation ? `${side.column} of ${side.relation.name}` : side.text);

const percent = (share: number) =>
  share >= 0.095 ? `${Math.round(share * 100)}%` : `${Math.max(0.1, Math.round(share * 1000) / 10)}%`;

/** `SubPlan 2` -> 2. */
function subplanNumber(node: PlanNode): number {
  const match = /(\d+)$/.exec(subplanName(node));
  return match ? Number(match[1]) : 0;
}

/** A column the NOT IN compares, with the relation that holds it and whether it can be NULL there. */
interface SideColumn {
  /** As the statement names it (`customer_id`, `v.customer_id`). */
  readonly text: string;
  readonly column: string;
  readonly table?: TableRef;
  readonly relation?: RelationInfo;
  readonly nullable: boolean;
}

/** The tables of a query level's FROM. */
const levelTables = (select: TreeNode): readonly TableRef[] => queryLevels({ SelectStmt: select })[0]?.tables ?? [];

/** The table a column reference belongs to: by qualifier, or the only table of the level. */
function tableOf(qualifier: string | undefined, tables: readonly TableRef[]): TableRef | undefined {
  if (qualifier !== undefined) return tables.find((t) => (t.alias ?? t.table) === qualifier);
  return tables.length === 1 ? tables[0] : undefined;
}

/**
 * The subquery's column, when it yields one (`SELECT customer_id FROM ...`), with its relation (the
 * scan of its table inside the subplan): NULL when the column is not declared NOT NULL and the
 * subquery's WHERE does not rule NULL out (`customer_id IS NOT NULL`, or any comparison of it).
 */
function innerColumn(
  item: NotInSubquery,
  subplan: PlanNode,
  relationOf: (node: PlanNode) => RelationInfo | undefined,
): SideColumn | undefined {
  const targets = (item.subquery.targetList as unknown[] | undefined) ?? [];
  if (targets.length !== 1 || item.tested.length !== 1) return undefined;
  const value = (targets[0] as { ResTarget?: { val?: unknown } }).ResTarget?.val;
  if (nodeType(value)?.[0] !== 'ColumnRef') return undefined;
  const [use] = columnsIn(value);
  if (!use) return undefined;
  const table = tableOf(use.qualifier, levelTables(item.subquery));
  const scan = table ? walkPlan(subplan).find(({ node }) => scansTable(node, table)) : undefined;
  const relation = scan ? relationOf(scan.node) : undefined;
  const declared = relation?.notNullColumns?.includes(use.column) ?? false;
  const text = use.qualifier ? `${use.qualifier}.${use.column}` : use.column;
  return {
    text,
    column: use.column,
    ...(table ? { table } : {}),
    ...(relation ? { relation } : {}),
    nullable: !declared && !rejectsNull(item.subquery.whereClause, use.column),
  };
}

/** True when a WHERE keeps no row whose `column` is NULL: one of its AND-ed conditions tests it. */
function rejectsNull(where: unknown, column: string): boolean {
  const typed = nodeType(where);
  if (!typed) return false;
  const [type, fields] = typed;
  if (type === 'BoolExpr')
    return fields.boolop === 'AND_EXPR' && ((fields.args as unknown[]) ?? []).some((a) => rejectsNull(a, column));
  if (type === 'NullTest') return fields.nulltesttype === 'IS_NOT_NULL' && isColumn(fields.arg, column);
  // A comparison is not true for a NULL (`customer_id = 7`, `customer_id > 0`, IN, LIKE).
  if (type === 'A_Expr') return isColumn(fields.lexpr, column) || isColumn(fields.rexpr, column);
  return false;
}

const isColumn = (node: unknown, column: string) =>
  nodeType(node)?.[0] === 'ColumnRef' && columnsIn(node)[0]?.column === column;

/** The compared column of the outer query, with the relation that holds it, when it is one. */
function outerColumn(
  item: NotInSubquery,
  nodes: readonly PlanNodeFacts[],
  relationOf: (node: PlanNode) => RelationInfo | undefined,
): SideColumn | undefined {
  const [tested] = item.tested;
  if (item.tested.length !== 1 || nodeType(tested)?.[0] !== 'ColumnRef') return undefined;
  const [use] = columnsIn(tested);
  if (!use) return undefined;
  const relationFor = (t: TableRef) => {
    const scan = nodes.find((n) => scansTable(n.node, t));
    return scan ? relationOf(scan.node) : undefined;
  };
  const table =
    tableOf(use.qualifier, item.tables) ??
    // Unqualified among several tables: the one whose columns include it.
    (() => {
      const holding = item.tables.filter((t) => relationFor(t)?.columnTypes?.[use.column] !== undefined);
      return holding.length === 1 ? holding[0] : undefined;
    })();
  const relation = table ? relationFor(table) : undefined;
  return {
    text: use.qualifier ? `${use.qualifier}.${use.column}` : use.column,
    column: use.column,
    ...(table ? { table } : {}),
    ...(relation ? { relation } : {}),
    nullable: !(relation?.notNullColumns?.includes(use.column) ?? false),
  };
}

/** Keywords after which a subquery is no plain `SELECT ... FROM ... WHERE ...`. */
const CLAUSES = new Set([
  'group',
  'having',
  'order',
  'limit',
  'offset',
  'fetch',
  'window',
  'union',
  'intersect',
  'except',
]);

/** The subquery's tokens, from SELECT to its closing parenthesis (excluded). */
function subqueryTokens(
  sql: string,
  item: NotInSubquery,
): { tokens: SqlToken[]; open: number; close: number } | undefined {
  const range = locationRange(item.subquery);
  if (!range) return undefined;
  const tokens = scanTokens(sql);
  let select = tokens.findIndex((t) => t.start >= range.min);
  while (select >= 0 && tokens[select]!.text.toLowerCase() !== 'select') select--;
  const open = select - 1;
  if (open < 0 || tokens[open]!.text !== '(') return undefined;
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i]!.text === '(') depth++;
    else if (tokens[i]!.text === ')' && --depth === 0) return { tokens, open, close: i };
  }
  return undefined;
}

/**
 * `NOT EXISTS (...)` for the NOT IN, correlated on the same columns: the subquery's own FROM and
 * WHERE, with the compared columns equal (`NOT EXISTS (SELECT 1 FROM retail.sales WHERE store_id = $1
 * AND sales.customer_id = c.customer_id)`). The outer column is qualified, so that the subquery's
 * tables cannot capture it. A subquery that is more than SELECT ... FROM ... WHERE (DISTINCT, GROUP
 * BY, a set operation, a LIMIT) is wrapped whole: `NOT EXISTS (SELECT 1 FROM (<subquery>) AS
 * not_in(v1) WHERE not_in.v1 = c.customer_id)`. Undefined when the text cannot be cut from the
 * statement.
 */
export function notExistsText(sql: string, item: NotInSubquery, outer: readonly string[]): string | undefined {
  const cut = subqueryTokens(sql, item);
  if (!cut) return undefined;
  const { tokens, open, close } = cut;
  const text = (from: number, to: number) =>
    Buffer.from(sql, 'utf8').subarray(tokens[from]!.start, tokens[to]!.end).toString('utf8');
  // Depth-0 keywords of the subquery.
  const top: { at: number; word: string }[] = [];
  let depth = 0;
  for (let i = open + 1; i < close; i++) {
    const t = tokens[i]!.text;
    if (t === '(') depth++;
    else if (t === ')') depth--;
    else if (depth === 0) top.push({ at: i, word: t.toLowerCase() });
  }
  const from = top.find((k) => k.word === 'from')?.at;
  const where = top.find((k) => k.word === 'where')?.at;
  const targets = (item.subquery.targetList as unknown[] | undefined) ?? [];
  const plain =
    from !== undefined &&
    tokens[open + 2]!.text.toLowerCase() !== 'distinct' &&
    !top.some((k) => CLAUSES.has(k.word)) &&
    targets.length === outer.length;
  const tables = levelTables(item.subquery);
  // The outer columns' qualifiers must not name a table of the subquery (it would capture them).
  const captured = outer.some((o) => tables.some((t) => o.startsWith(`${t.alias ?? t.table}.`)));
  if (plain && !captured) {
    const values = targets.map((target) => {
      const value = (target as { ResTarget?: { val?: unknown } }).ResTarget?.val;
      const own = expressionText(sql, value) ?? '?';
      const bare = nodeType(value)?.[0] === 'ColumnRef' && columnsIn(value)[0]?.qualifier === undefined;
      const only = tables.length === 1 ? tables[0]! : undefined;
      return bare && only ? `${quoteIdentifier(only.alias ?? only.table)}.${own}` : own;
    });
    const pairs = values.map((v, i) => `${v} = ${outer[i]}`).join(' AND ');
    const fromText = text(from + 1, (where ?? close) - 1);
    if (where === undefined) return `NOT EXISTS (SELECT 1 FROM ${fromText} WHERE ${pairs})`;
    const or = nodeType(item.subquery.whereClause)?.[1].boolop === 'OR_EXPR';
    const condition = text(where + 1, close - 1);
    return `NOT EXISTS (SELECT 1 FROM ${fromText} WHERE ${or ? `(${condition})` : condition} AND ${pairs})`;
  }
  const names = outer.map((_, i) => `v${i + 1}`);
  const pairs = names.map((n, i) => `not_in.${n} = ${outer[i]}`).join(' AND ');
  return `NOT EXISTS (SELECT 1 FROM (${text(open + 1, close - 1)}) AS not_in(${names.join(', ')}) WHERE ${pairs})`;
}

/** The outer column as the rewrite needs it: qualified with its table, so that no inner table captures it. */
function qualifiedOuter(sql: string, tested: TreeNode, outer: SideColumn | undefined): string | undefined {
  const own = expressionText(sql, tested);
  if (nodeType(tested)?.[0] !== 'ColumnRef') return own;
  const [use] = columnsIn(tested);
  if (!use || use.qualifier !== undefined) return own;
  const table = outer?.table;
  return table ? `${quoteIdentifier(table.alias ?? table.table)}.${quoteIdentifier(use.column)}` : undefined;
}

/**
 * The rewrite, with how its rows differ from NOT IN's: NOT IN returns no row once the subquery yields
 * a NULL, and drops a row whose compared value is NULL; NOT EXISTS ignores the subquery's NULLs and
 * keeps such a row.
 */
function suggestFix(
  sql: string,
  item: NotInSubquery,
  tested: string,
  inner: SideColumn | undefined,
  outer: SideColumn | undefined,
): string {
  const outers = item.tested.map((t, i) =>
    i === 0 && item.tested.length === 1 ? qualifiedOuter(sql, t, outer) : expressionText(sql, t),
  );
  const rewrite = outers.every((o): o is string => o !== undefined) ? notExistsText(sql, item, outers) : undefined;
  const cut = subqueryTokens(sql, item);
  const original = cut
    ? `${tested} NOT IN (${Buffer.from(sql, 'utf8')
        .subarray(cut.tokens[cut.open + 1]!.start, cut.tokens[cut.close - 1]!.end)
        .toString('utf8')})`
    : `${tested} NOT IN (...)`;
  const how = rewrite
    ? `write ${rewrite} in place of ${original}`
    : `write the NOT IN as NOT EXISTS (SELECT 1 FROM ... WHERE <the subquery's column> = ${tested})`;
  const differences: string[] = [];
  if (inner?.nullable !== false)
    differences.push(
      `NOT IN returns no row at all once the subquery yields a NULL${inner ? ` (${named(inner)} can be NULL)` : ''}, NOT EXISTS ignores the subquery's NULLs, which is almost always what is meant`,
    );
  if (outer?.nullable !== false && item.tested.length === 1)
    differences.push(
      `a row whose ${tested} is NULL is dropped by NOT IN and kept by NOT EXISTS (add ${tested} IS NOT NULL to keep NOT IN's rows)`,
    );
  const rows =
    differences.length > 0
      ? `; the rows differ where there are NULLs: ${differences.join('; and ')}`
      : ': the same rows, since neither side can be NULL';
  return `${how}: the planner makes an anti-join of it (a hash or merge join, which can run in parallel and spill to disk instead of running the subquery per row)${rows}`;
}
