/**
 * Stored generated columns that hold an expression a statement computes: a filter written on the
 * column (`search @@ $1`) uses its index and its statistics, where the same expression written out
 * (`to_tsvector('english', name || ' ' || description) @@ $1`) uses neither. Pure: reads the report's
 * relation metadata (`generatedColumns`) and the statement's parse tree.
 */
import type { RelationInfo } from '../model/report.js';
import { quoteIdentifier } from './parser.js';
import {
  columnsIn,
  expressionSpan,
  nodeType,
  nodesOf,
  parseTree,
  queryLevels,
  sameExpression,
  type TreeNode,
} from './sql-tree.js';

/** The expression of `SELECT <expression>`, parsed; undefined when it does not parse. */
function parseExpression(text: string): unknown {
  const [statement] = parseTree(`SELECT ${text}`);
  const target = ((statement?.SelectStmt as TreeNode | undefined)?.targetList as unknown[] | undefined)?.[0];
  return (target as { ResTarget?: { val?: unknown } } | undefined)?.ResTarget?.val;
}

/** Node types an index expression is made of (a bare column is no expression to rewrite). */
const EXPRESSIONS = new Set(['FuncCall', 'A_Expr', 'TypeCast', 'CoalesceExpr']);

/**
 * Whether `node` computes what the generated column's expression does: the same tree, columns by
 * name, constants by value whatever casts the server printed around them. A parameter matches no
 * constant here: `to_tsvector($1, body)` may be another configuration than the column's.
 */
function computes(node: unknown, generated: unknown): boolean {
  return nodesOf(node, 'ParamRef').length === 0 && sameExpression(node, generated);
}

/** True when two expressions, as the server prints them (with or without pretty-printing), are the same. */
export function sameExpressionText(a: string, b: string): boolean {
  const ta = parseExpression(a);
  const tb = parseExpression(b);
  return ta !== undefined && tb !== undefined && computes(ta, tb);
}

/**
 * The stored generated column of `relation` that holds `expression` (as a plan prints it, without
 * qualifiers), if any.
 *
 * @example
 * // search tsvector GENERATED ALWAYS AS (to_tsvector('english', name || ' ' || description)) STORED
 * generatedColumnHolding(products, "to_tsvector('english'::regconfig, ((name || ' '::text) || description))")
 * // 'search'
 */
export function generatedColumnHolding(relation: RelationInfo, expression: string): string | undefined {
  const columns = Object.entries(relation.generatedColumns ?? {});
  if (columns.length === 0) return undefined;
  const tree = parseExpression(expression);
  if (tree === undefined) return undefined;
  return columns.find(([, held]) => {
    const generated = parseExpression(held);
    return generated !== undefined && computes(tree, generated);
  })?.[0];
}

/** A statement with the expressions stored generated columns hold written as those columns. */
export interface GeneratedColumnRewrite {
  /** The columns written, in the order they first appear. */
  readonly columns: readonly string[];
  /** The statement rewritten. */
  readonly sql: string;
  /** Each rewritten condition (the comparison around the expression), as the statement now writes it. */
  readonly conditions: readonly string[];
}

/**
 * Rewrites the conditions (WHERE, JOIN ... ON) of the query levels that read `relation`, replacing
 * each expression a stored generated column of it holds by the column (qualified as the expression's
 * columns are). Undefined when there is nothing to rewrite. Columns without a qualifier are the
 * relation's only in a level that reads no other table.
 *
 * @example
 * generatedColumnRewrite(
 *   "SELECT id FROM products WHERE to_tsvector('english', name || ' ' || description) @@ plainto_tsquery('english', $1)",
 *   products, // search: to_tsvector('english'::regconfig, ((name || ' '::text) || description))
 * )
 * // { columns: ['search'], sql: "SELECT id FROM products WHERE search @@ plainto_tsquery('english', $1)",
 * //   conditions: ["search @@ plainto_tsquery('english', $1)"] }
 */
export function generatedColumnRewrite(sql: string, relation: RelationInfo): GeneratedColumnRewrite | undefined {
  const generated = Object.entries(relation.generatedColumns ?? {}).flatMap(([column, text]) => {
    const tree = parseExpression(text);
    return tree === undefined ? [] : [{ column, tree }];
  });
  if (generated.length === 0) return undefined;
  const statements = parseTree(sql);
  if (statements.length !== 1) return undefined;
  const bytes = Buffer.from(sql, 'utf8');
  const replacements: { start: number; end: number; text: string; within?: { start: number; end: number } }[] = [];
  for (const level of queryLevels(statements[0]!)) {
    const ref = level.tables.find(
      (t) => t.table === relation.table && (t.schema === undefined || t.schema === relation.schema),
    );
    if (!ref) continue;
    const alias = ref.alias ?? ref.table;
    const ours = (node: unknown) =>
      columnsIn(node).every((c) => (c.qualifier === undefined ? level.tables.length === 1 : c.qualifier === alias));
    const visit = (value: unknown, comparison: unknown): void => {
      if (Array.isArray(value)) return value.forEach((v) => visit(v, comparison));
      const typed = nodeType(value);
      if (!typed) return;
      const [type, fields] = typed;
      if (type === 'SubLink' || type === 'SelectStmt') return; // another level
      if (EXPRESSIONS.has(type) && columnsIn(value).length > 0 && ours(value)) {
        const match = generated.find((g) => computes(value, g.tree));
        const span = match ? expressionSpan(sql, value) : undefined;
        if (match && span) {
          const qualifier = columnsIn(value).find((c) => c.qualifier !== undefined)?.qualifier;
          const column = `${qualifier ? `${quoteIdentifier(qualifier)}.` : ''}${quoteIdentifier(match.column)}`;
          const around = comparison !== undefined ? expressionSpan(sql, comparison) : undefined;
          if (!replacements.some((r) => r.start === span.start))
            replacements.push({ ...span, text: column, ...(around ? { within: around } : {}) });
          return;
        }
      }
      const next = type === 'A_Expr' ? value : comparison;
      for (const child of Object.values(fields)) visit(child, next);
    };
    visit(level.node.whereClause, undefined);
    for (const join of nodesOf(level.node.fromClause, 'JoinExpr')) visit(join.quals, undefined);
  }
  if (replacements.length === 0) return undefined;
  // Applied from the end, so that earlier offsets stay valid.
  const ordered = [...replacements].sort((a, b) => b.start - a.start);
  let out = bytes;
  for (const r of ordered) out = Buffer.concat([out.subarray(0, r.start), Buffer.from(r.text), out.subarray(r.end)]);
  const conditions = replacements.map((r) => {
    const around = r.within ?? r;
    const before = bytes.subarray(around.start, r.start).toString('utf8');
    const after = bytes.subarray(r.end, around.end).toString('utf8');
    return `${before}${r.text}${after}`.replace(/\s+/g, ' ').trim();
  });
  const columns = [...new Set(replacements.sort((a, b) => a.start - b.start).map((r) => r.text.replace(/^.*\./, '')))];
  return { columns, sql: out.toString('utf8'), conditions: [...new Set(conditions)] };
}
