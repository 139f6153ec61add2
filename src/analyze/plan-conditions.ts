/**
 * Conditions and sort keys as EXPLAIN prints them (`Filter`, `Hash Cond`, `Sort Key`, ...), read
 * with PostgreSQL's own parser rather than regexes. Pure: the index advisor uses these to know which
 * columns and expressions a statement filters, joins and sorts on, relation by relation.
 *
 * Why the plan's text rather than the statement's: EXPLAIN prints each condition on the scan of the
 * relation it applies to (so an unqualified column belongs to that relation), with the constants the
 * statement was planned with, deparsed by the server (`(date_trunc('day'::text, created_at) = ...)`),
 * while the report's statement text is normalized (`date_trunc($3, o.created_at)`), which cannot
 * become an index expression. Conditions the parser rejects (`(SubPlan 1)`) become opaque.
 */
import type { RelationInfo } from '../model/report.js';
import { CONTAINMENT } from './column-predicates.js';
import type { Node } from './parser.js';
import { quoteIdentifier, tryParse } from './parser.js';
import { patternLeadsWithWildcard } from './sql-tree.js';

/** A column as a plan names it: `status`, or `o.customer_id` qualified with its relation's alias. */
export interface PlanColumn {
  readonly qualifier?: string;
  readonly column: string;
  /**
   * The type of a text cast around the column (`(name)::text`). For a varchar column it only
   * relabels, and a B-tree on the column serves the comparison; for another type (`(id)::text` on an
   * integer) it converts, and only an index on the expression does: the column's type decides.
   */
  readonly castTo?: string;
}

/** An indexable expression over the columns of one relation, rendered without qualifiers. */
export interface IndexExpression {
  /** SQL of the expression, e.g. `lower(email)` or `(created_at)::date`. */
  readonly sql: string;
  readonly columns: readonly PlanColumn[];
  /** Words for an index name, e.g. ["lower", "email"]. */
  readonly nameParts: readonly string[];
}

/** How a column or expression is compared with a value (a constant, a parameter, an outer column). */
export type CompareOperator = 'eq' | 'in' | 'range' | 'null';

/** One conjunct of a plan condition, classified by what an index could do for it. */
export type PlanPredicate =
  /** `column op value`: a B-tree on the column can serve it. */
  | { readonly kind: 'column'; readonly column: PlanColumn; readonly operator: CompareOperator }
  /** `f(column) op value`: only an index on the same expression can serve it. */
  | { readonly kind: 'expression'; readonly expression: IndexExpression; readonly operator: CompareOperator }
  /** `a.x = b.y`: a join between two relations. */
  | { readonly kind: 'join'; readonly left: PlanColumn; readonly right: PlanColumn }
  /** `column [I]LIKE pattern` (also on an expression such as `lower(email)`). */
  | {
      readonly kind: 'pattern';
      readonly column?: PlanColumn;
      readonly expression?: IndexExpression;
      readonly caseInsensitive: boolean;
      /** The pattern when it is a constant; undefined for a parameter. */
      readonly pattern?: string;
      /**
       * True when the pattern starts with `%` or `_`, or is computed from parts whose leading part
       * may be one (`'%' || $1`): a B-tree cannot serve it. Undefined for a bare parameter.
       */
      readonly leadingWildcard?: boolean;
    }
  /**
   * `column @> value` (also `<@`, `&&`, `?`, `?|`, `?&`): a jsonb or array operator only a GIN index
   * serves. `valueType` is the type the server cast the value to (`jsonb`, `text[]`), which tells
   * the column's type when the report has none.
   */
  | {
      readonly kind: 'containment';
      readonly column: PlanColumn;
      readonly operator: string;
      readonly valueType?: string;
    }
  /**
   * `document @@ query`, a full-text search: a GIN index on the document serves it, a tsvector column
   * (`search @@ $1`) or the expression that computes one (`to_tsvector('english', body) @@ ...`).
   */
  | { readonly kind: 'textSearch'; readonly column?: PlanColumn; readonly expression?: IndexExpression }
  /** `a OR b`: each alternative's own conjuncts (an index per alternative can serve it, BitmapOr). */
  | { readonly kind: 'or'; readonly alternatives: readonly (readonly PlanPredicate[])[] }
  /** Anything else (`<>`, subplans, ...). */
  | { readonly kind: 'opaque' };

/** One key of a `Sort Key` list. */
export interface PlanSortKey {
  readonly column?: PlanColumn;
  readonly expression?: IndexExpression;
  readonly descending: boolean;
  /** Where NULLs go, when the plan prints it (only when it is not the direction's default). */
  readonly nulls?: 'first' | 'last';
}

type AnyNode = Record<string, unknown>;

/** The single key and value of a parse-tree node (`{ A_Expr: {...} }`). */
function unwrap(node: unknown): [string, AnyNode] | undefined {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return undefined;
  const entries = Object.entries(node as AnyNode);
  const first = entries[0];
  if (entries.length !== 1 || !first || !first[1] || typeof first[1] !== 'object') return undefined;
  return [first[0], first[1] as AnyNode];
}

function strings(nodes: unknown): string[] | undefined {
  if (!Array.isArray(nodes)) return undefined;
  const out: string[] = [];
  for (const n of nodes) {
    const u = unwrap(n);
    if (!u || u[0] !== 'String') return undefined;
    out.push(String(u[1].sval ?? ''));
  }
  return out;
}

/** Casts that only relabel (varchar -> text): a B-tree on the column still serves the comparison. */
const RELABEL_TYPES = new Set(['text', 'varchar', 'bpchar', 'name']);

function typeNameOf(typeName: unknown): string | undefined {
  const names = strings((typeName as AnyNode | undefined)?.names);
  return names && names.length > 0 ? names[names.length - 1] : undefined;
}

function columnOf(node: unknown): PlanColumn | undefined {
  const u = unwrap(node);
  if (!u) return undefined;
  const [type, body] = u;
  if (type === 'ColumnRef') {
    const fields = strings(body.fields);
    if (!fields || fields.length === 0 || fields.length > 2) return undefined;
    return fields.length === 2 ? { qualifier: fields[0]!, column: fields[1]! } : { column: fields[0]! };
  }
  if (type === 'TypeCast') {
    const name = typeNameOf(body.typeName);
    if (name && RELABEL_TYPES.has(name)) {
      const column = columnOf(body.arg);
      return column ? { ...column, castTo: column.castTo ?? name } : undefined;
    }
  }
  return undefined;
}

function columnsIn(node: unknown, out: PlanColumn[] = []): PlanColumn[] {
  if (Array.isArray(node)) {
    for (const n of node) columnsIn(n, out);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node as AnyNode)) {
      if (key === 'ColumnRef') {
        const c = columnOf({ ColumnRef: value });
        if (c) out.push(c);
      } else columnsIn(value, out);
    }
  }
  return out;
}

function hasNode(node: unknown, types: ReadonlySet<string>): boolean {
  if (Array.isArray(node)) return node.some((n) => hasNode(n, types));
  if (!node || typeof node !== 'object') return false;
  return Object.entries(node as AnyNode).some(([key, value]) => types.has(key) || hasNode(value, types));
}

const SUBQUERY = new Set(['SubLink']);
const NOT_IN_INDEX = new Set(['ParamRef', 'SubLink', 'A_Star']);

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function plainOrQuoted(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * Renders an expression back to SQL, dropping column qualifiers (an index names its table's columns
 * bare). Undefined for nodes outside the small set index expressions are made of.
 */
function render(node: unknown): string | undefined {
  const u = unwrap(node);
  if (!u) return undefined;
  const [type, body] = u;
  switch (type) {
    case 'ColumnRef': {
      const c = columnOf(node);
      return c ? quoteIdentifier(c.column) : undefined;
    }
    case 'A_Const': {
      // Protobuf JSON omits default values: `{ ival: {} }` is 0, `{ boolval: {} }` is false.
      if (body.isnull) return 'NULL';
      if (body.sval) return literal(String((body.sval as AnyNode).sval ?? ''));
      if (body.ival) return String((body.ival as AnyNode).ival ?? 0);
      if (body.fval) return String((body.fval as AnyNode).fval ?? '0');
      if (body.boolval) return (body.boolval as AnyNode).boolval ? 'true' : 'false';
      return undefined;
    }
    case 'TypeCast': {
      const arg = render(body.arg);
      const typ = renderType(body.typeName);
      if (!arg || !typ) return undefined;
      // As PostgreSQL prints them: `'day'::text`, `(created_at)::date`.
      return unwrap(body.arg)?.[0] === 'A_Const' ? `${arg}::${typ}` : `(${arg})::${typ}`;
    }
    case 'FuncCall': {
      if (body.agg_star || body.agg_distinct || body.over || body.agg_order || body.agg_filter) return undefined;
      const name = strings(body.funcname);
      if (!name || name.length === 0) return undefined;
      const args = ((body.args as unknown[] | undefined) ?? []).map(render);
      if (args.some((a) => a === undefined)) return undefined;
      // A qualified name may end in a keyword (`pg_catalog.extract`); a bare one is quoted if needed.
      const fn = name.length === 1 ? plainOrQuoted(name[0]!) : name.join('.');
      return `${fn}(${args.join(', ')})`;
    }
    case 'A_Expr': {
      if (body.kind !== 'AEXPR_OP') return undefined;
      const op = strings(body.name);
      if (!op || op.length !== 1) return undefined;
      const right = render(body.rexpr);
      if (!right) return undefined;
      if (body.lexpr === undefined) return `(${op[0]} ${right})`;
      const left = render(body.lexpr);
      return left ? `(${left} ${op[0]} ${right})` : undefined;
    }
    case 'CoalesceExpr': {
      const args = ((body.args as unknown[] | undefined) ?? []).map(render);
      return args.length > 0 && args.every((a) => a !== undefined) ? `COALESCE(${args.join(', ')})` : undefined;
    }
    default:
      return undefined;
  }
}

function renderType(typeName: unknown): string | undefined {
  const t = typeName as AnyNode | undefined;
  const names = strings(t?.names);
  if (!names || names.length === 0) return undefined;
  let out = (names[0] === 'pg_catalog' ? names.slice(1) : names).map(plainOrQuoted).join('.');
  const mods = (t?.typmods as unknown[] | undefined) ?? [];
  if (mods.length > 0) {
    const rendered = mods.map(render);
    if (rendered.some((m) => m === undefined)) return undefined;
    out += `(${rendered.join(', ')})`;
  }
  if (Array.isArray(t?.arrayBounds)) out += '[]'.repeat(t.arrayBounds.length);
  return out;
}

function nameParts(node: unknown, out: string[] = []): string[] {
  const u = unwrap(node);
  if (!u) return out;
  const [type, body] = u;
  if (type === 'FuncCall') {
    const name = strings(body.funcname);
    if (name) out.push(name[name.length - 1]!);
    for (const a of (body.args as unknown[] | undefined) ?? []) nameParts(a, out);
  } else if (type === 'TypeCast') {
    if (columnsIn(body.arg).length === 0) return out;
    nameParts(body.arg, out);
    const t = typeNameOf(body.typeName);
    if (t) out.push(t);
  } else if (type === 'ColumnRef') {
    const c = columnOf(node);
    if (c) out.push(c.column);
  } else if (type === 'A_Expr') {
    nameParts(body.lexpr, out);
    nameParts(body.rexpr, out);
  } else if (type === 'CoalesceExpr') {
    out.push('coalesce');
    for (const a of (body.args as unknown[] | undefined) ?? []) nameParts(a, out);
  }
  return out;
}

/** An expression over the columns of exactly one relation (one qualifier), without parameters. */
function indexExpression(node: unknown): IndexExpression | undefined {
  const u = unwrap(node);
  if (!u || u[0] === 'ColumnRef') return undefined;
  const columns = columnsIn(node);
  if (columns.length === 0) return undefined;
  if (new Set(columns.map((c) => c.qualifier ?? '')).size !== 1) return undefined;
  if (hasNode(node, NOT_IN_INDEX)) return undefined;
  const sql = render(node);
  if (!sql) return undefined;
  const seen = new Set<string>();
  const unique = columns.filter((c) => !seen.has(c.column) && seen.add(c.column));
  return { sql, columns: unique, nameParts: nameParts(node) };
}

/** A value an index lookup can use: constants, parameters, functions of them (no column, no subquery). */
function isValue(node: unknown): boolean {
  return node !== undefined && columnsIn(node).length === 0 && !hasNode(node, SUBQUERY);
}

const RANGE_OPERATORS = new Set(['<', '>', '<=', '>=']);
const PATTERN_OPERATORS: Readonly<Record<string, boolean>> = { '~~': false, '~~*': true };

function patternOf(node: unknown): string | undefined {
  const u = unwrap(node);
  if (!u) return undefined;
  if (u[0] === 'TypeCast') return patternOf(u[1].arg);
  if (u[0] === 'A_Const' && u[1].sval) return String((u[1].sval as AnyNode).sval ?? '');
  return undefined;
}

function classifyComparison(left: unknown, right: unknown, operator: CompareOperator): PlanPredicate {
  const lc = columnOf(left);
  const rc = columnOf(right);
  if (lc && rc) {
    if (operator === 'eq' && (lc.qualifier ?? '') !== (rc.qualifier ?? ''))
      return { kind: 'join', left: lc, right: rc };
    return { kind: 'opaque' };
  }
  for (const [side, other] of [
    [left, right],
    [right, left],
  ] as const) {
    const column = columnOf(side);
    if (column) {
      if (isValue(other)) return { kind: 'column', column, operator };
      // Compared with an expression over another relation's columns (`id = (o.customer_id + 1)`):
      // still a lookup on this column, once per outer row.
      const others = columnsIn(other);
      if (others.every((c) => (c.qualifier ?? '') !== (column.qualifier ?? '')) && !hasNode(other, SUBQUERY)) {
        return { kind: 'column', column, operator };
      }
    } else if (isValue(other)) {
      const expression = indexExpression(side);
      if (expression) return { kind: 'expression', expression, operator };
    }
  }
  return { kind: 'opaque' };
}

function classifyList(left: unknown, list: unknown, operator: CompareOperator): PlanPredicate {
  const values = Array.isArray(list) ? list : [list];
  if (!values.every(isValue)) return { kind: 'opaque' };
  const column = columnOf(left);
  if (column) return { kind: 'column', column, operator };
  const expression = indexExpression(left);
  return expression ? { kind: 'expression', expression, operator } : { kind: 'opaque' };
}

function classifyPattern(left: unknown, right: unknown, caseInsensitive: boolean): PlanPredicate {
  if (!isValue(right)) return { kind: 'opaque' };
  const pattern = patternOf(right);
  // A pattern the server computes (`('%'::text || $1) || '%'::text` in a generic plan) may lead with
  // a wildcard as well: a B-tree cannot be counted on to serve it.
  const leadingWildcard = patternLeadsWithWildcard(right);
  const known = {
    ...(pattern !== undefined ? { pattern } : {}),
    ...(leadingWildcard !== undefined ? { leadingWildcard } : {}),
  };
  const column = columnOf(left);
  if (column) return { kind: 'pattern', column, caseInsensitive, ...known };
  const expression = indexExpression(left);
  return expression ? { kind: 'pattern', expression, caseInsensitive, ...known } : { kind: 'opaque' };
}

/** The type of a value as the server prints it (`'{"a": 1}'::jsonb`, `'{x}'::text[]`). */
function valueTypeOf(node: unknown): string | undefined {
  const u = unwrap(node);
  return u && u[0] === 'TypeCast' ? renderType(u[1].typeName) : undefined;
}

function classifyContainment(left: unknown, right: unknown, operator: string): PlanPredicate {
  const sides: [unknown, unknown][] = [[left, right]];
  // `&&` is symmetric; the others read the column on their left.
  if (operator === '&&') sides.push([right, left]);
  for (const [side, other] of sides) {
    const column = columnOf(side);
    if (!column || !isValue(other)) continue;
    const valueType = valueTypeOf(other);
    return { kind: 'containment', column, operator, ...(valueType ? { valueType } : {}) };
  }
  return { kind: 'opaque' };
}

/** `document @@ query` (either way round: the operator commutes): the side with columns is the document. */
function classifyTextSearch(left: unknown, right: unknown): PlanPredicate {
  for (const [side, other] of [
    [left, right],
    [right, left],
  ] as const) {
    if (!isValue(other) || columnsIn(side).length === 0) continue;
    const column = columnOf(side);
    if (column) return { kind: 'textSearch', column };
    const expression = indexExpression(side);
    return expression ? { kind: 'textSearch', expression } : { kind: 'opaque' };
  }
  return { kind: 'opaque' };
}

function classify(node: unknown): PlanPredicate[] {
  const u = unwrap(node);
  if (!u) return [{ kind: 'opaque' }];
  const [type, body] = u;
  if (type === 'BoolExpr') {
    if (body.boolop === 'AND_EXPR') return ((body.args as unknown[] | undefined) ?? []).flatMap(classify);
    if (body.boolop === 'NOT_EXPR') {
      const column = columnOf(((body.args as unknown[] | undefined) ?? [])[0]);
      return [column ? { kind: 'column', column, operator: 'eq' } : { kind: 'opaque' }];
    }
    if (body.boolop === 'OR_EXPR') {
      return [{ kind: 'or', alternatives: ((body.args as unknown[] | undefined) ?? []).map(classify) }];
    }
    return [{ kind: 'opaque' }];
  }
  if (type === 'ColumnRef') {
    // A boolean column as a condition (`WHERE active`).
    const column = columnOf(node);
    return [column ? { kind: 'column', column, operator: 'eq' } : { kind: 'opaque' }];
  }
  if (type === 'NullTest') {
    if (body.nulltesttype !== 'IS_NULL') return [{ kind: 'opaque' }];
    const column = columnOf(body.arg);
    if (column) return [{ kind: 'column', column, operator: 'null' }];
    const expression = indexExpression(body.arg);
    return [expression ? { kind: 'expression', expression, operator: 'null' } : { kind: 'opaque' }];
  }
  if (type !== 'A_Expr') return [{ kind: 'opaque' }];
  const op = strings(body.name)?.[0] ?? '';
  switch (body.kind) {
    case 'AEXPR_OP':
      if (op === '=') return [classifyComparison(body.lexpr, body.rexpr, 'eq')];
      if (RANGE_OPERATORS.has(op)) return [classifyComparison(body.lexpr, body.rexpr, 'range')];
      if (op in PATTERN_OPERATORS) return [classifyPattern(body.lexpr, body.rexpr, PATTERN_OPERATORS[op]!)];
      if (CONTAINMENT.has(op)) return [classifyContainment(body.lexpr, body.rexpr, op)];
      if (op === '@@') return [classifyTextSearch(body.lexpr, body.rexpr)];
      return [{ kind: 'opaque' }];
    case 'AEXPR_LIKE':
    case 'AEXPR_ILIKE':
      return op.startsWith('!')
        ? [{ kind: 'opaque' }]
        : [classifyPattern(body.lexpr, body.rexpr, body.kind === 'AEXPR_ILIKE')];
    case 'AEXPR_OP_ANY':
      return op === '=' ? [classifyComparison(body.lexpr, body.rexpr, 'in')] : [{ kind: 'opaque' }];
    case 'AEXPR_IN':
      return op === '=' ? [classifyList(body.lexpr, body.rexpr, 'in')] : [{ kind: 'opaque' }];
    case 'AEXPR_BETWEEN':
      return [classifyList(body.lexpr, body.rexpr, 'range')];
    default:
      return [{ kind: 'opaque' }];
  }
}

/**
 * The base type of a column whose type is a domain (`RelationInfo.domainBaseTypes`: `bpchar`,
 * `int4`), by the name a plan gives the column; undefined for any other column.
 */
export type DomainBaseOf = (column: PlanColumn) => string | undefined;

/** Types a base type's values become by a relabel a plan prints as a cast (no conversion). */
const RELABELED_TO: Readonly<Record<string, readonly string[]>> = { varchar: ['text'] };

/**
 * The expression without the casts a plan prints around a domain-typed column to its base type:
 * PostgreSQL compares a domain's values with its base type's operators, so `country = 'DEU'` on a
 * domain over char(3) is printed `((country)::bpchar = 'DEU'::bpchar)`. That is a comparison on the
 * column itself, which an index on the column serves; a cast to another type (`(pieces)::text` on a
 * domain over integer) converts, and stays.
 */
function withoutDomainCasts(node: unknown, baseOf: DomainBaseOf): unknown {
  if (Array.isArray(node)) return node.map((n) => withoutDomainCasts(n, baseOf));
  if (!node || typeof node !== 'object') return node;
  const u = unwrap(node);
  if (u?.[0] === 'TypeCast' && unwrap(u[1].arg)?.[0] === 'ColumnRef') {
    const column = columnOf(u[1].arg);
    const base = column ? baseOf(column) : undefined;
    const target = typeNameOf(u[1].typeName);
    if (base && target && (target === base || RELABELED_TO[base]?.includes(target))) return u[1].arg;
  }
  return Object.fromEntries(Object.entries(node as AnyNode).map(([k, v]) => [k, withoutDomainCasts(v, baseOf)]));
}

/**
 * Splits a condition as EXPLAIN prints it into its AND-ed predicates, each classified. With
 * `domainBaseOf`, a cast of a domain-typed column to its base type is the column itself.
 *
 * @example
 * parseCondition("((status = 'refunded'::text) AND (lower(email) = $1))")
 * // [{ kind: 'column', column: { column: 'status' }, operator: 'eq' },
 * //  { kind: 'expression', expression: { sql: 'lower(email)', ... }, operator: 'eq' }]
 * parseCondition("((country)::bpchar = 'DEU'::bpchar)", (c) => (c.column === 'country' ? 'bpchar' : undefined))
 * // [{ kind: 'column', column: { column: 'country' }, operator: 'eq' }]
 */
export function parseCondition(text: string, domainBaseOf?: DomainBaseOf): PlanPredicate[] {
  const tree = tryParse(`SELECT 1 WHERE ${text}`);
  const where = (tree?.stmts?.[0]?.stmt as { SelectStmt?: { whereClause?: Node } } | undefined)?.SelectStmt
    ?.whereClause;
  if (!where) return [{ kind: 'opaque' }];
  return classify(domainBaseOf ? withoutDomainCasts(where, domainBaseOf) : where);
}

/**
 * Every column a condition as EXPLAIN prints it names, in order, without duplicates (empty when it
 * does not parse): for conditions `parseCondition` can only call opaque (`a = 1 OR b = 2`).
 */
export function conditionColumns(text: string): PlanColumn[] {
  const tree = tryParse(`SELECT 1 WHERE ${text}`);
  const where = (tree?.stmts?.[0]?.stmt as { SelectStmt?: { whereClause?: Node } } | undefined)?.SelectStmt
    ?.whereClause;
  const seen = new Set<string>();
  return columnsIn(where).filter((c) => {
    const key = `${c.qualifier ?? ''}.${c.column}`;
    return !seen.has(key) && seen.add(key);
  });
}

/** Operators that compare their operands (an operand of one may be a bare column), not compute a value. */
const COMPARISONS = new Set([
  '=',
  '<>',
  '!=',
  '<',
  '>',
  '<=',
  '>=',
  '~~',
  '~~*',
  '!~~',
  '!~~*',
  '~',
  '~*',
  '!~',
  '!~*',
]);

/**
 * The columns a condition as EXPLAIN prints it compares as they are (`a = 1`, `b <> 2`, `c IS NULL`,
 * under AND, OR and NOT, through relabelling casts), not those only inside a function or a
 * computation (`to_tsvector(..., name)`, `a + b`): the planner estimates a comparison of a bare
 * column from that column's statistics (extended statistics on several columns among them), and
 * any other expression from the expression's own, which no statistics on its columns give.
 */
export function bareConditionColumns(text: string): PlanColumn[] {
  const tree = tryParse(`SELECT 1 WHERE ${text}`);
  const where = (tree?.stmts?.[0]?.stmt as { SelectStmt?: { whereClause?: Node } } | undefined)?.SelectStmt
    ?.whereClause;
  const out: PlanColumn[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    const column = columnOf(node);
    if (column) {
      if (!out.some((c) => c.column === column.column && c.qualifier === column.qualifier)) out.push(column);
      return;
    }
    const u = unwrap(node);
    if (!u) return;
    const [type, body] = u;
    if (type === 'BoolExpr') return visit(body.args);
    if (type === 'NullTest' || type === 'BooleanTest') return visit(body.arg);
    if (type === 'A_Expr') {
      const op = strings(body.name)?.[0] ?? '';
      if (body.kind !== 'AEXPR_OP' || COMPARISONS.has(op)) {
        visit(body.lexpr);
        visit(body.rexpr);
      }
    }
  };
  visit(where);
  return out;
}

/**
 * Reads one `Sort Key` entry as EXPLAIN prints it (`o.total_cents DESC`, `(lower(name))`); with
 * `domainBaseOf`, a cast of a domain-typed column to its base type is the column itself.
 */
export function parseSortKey(text: string, domainBaseOf?: DomainBaseOf): PlanSortKey | undefined {
  const tree = tryParse(`SELECT 1 ORDER BY ${text}`);
  const first = (tree?.stmts?.[0]?.stmt as { SelectStmt?: { sortClause?: Node[] } } | undefined)?.SelectStmt
    ?.sortClause?.[0];
  const sort = first && domainBaseOf ? withoutDomainCasts(first, domainBaseOf) : first;
  const by = unwrap(sort);
  if (!by || by[0] !== 'SortBy' || by[1].useOp) return undefined;
  const descending = by[1].sortby_dir === 'SORTBY_DESC';
  const nulls =
    by[1].sortby_nulls === 'SORTBY_NULLS_FIRST'
      ? { nulls: 'first' as const }
      : by[1].sortby_nulls === 'SORTBY_NULLS_LAST'
        ? { nulls: 'last' as const }
        : {};
  const column = columnOf(by[1].node);
  if (column) return { column, descending, ...nulls };
  const expression = indexExpression(by[1].node);
  return expression ? { expression, descending, ...nulls } : undefined;
}

/** Column types a text cast only relabels (`format_type` spelling, without a length). */
const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'name']);

/**
 * The expression a text cast around a column computes, when the column's type makes it a conversion
 * (`(id)::text` on an integer): a B-tree on the column cannot serve it. Undefined for a relabel
 * (varchar to text) or when the report has no column types.
 */
export function conversionOf(column: PlanColumn, relation: RelationInfo): IndexExpression | undefined {
  const type = column.castTo ? relation.columnTypes?.[column.column] : undefined;
  if (!type || TEXT_TYPES.has(type.replace(/\(.*\)$/, ''))) return undefined;
  return {
    sql: `(${quoteIdentifier(column.column)})::${column.castTo}`,
    columns: [{ ...(column.qualifier !== undefined ? { qualifier: column.qualifier } : {}), column: column.column }],
    nameParts: [column.column, column.castTo!],
  };
}

/**
 * Every expression a condition as EXPLAIN prints it compares (`date(created_at) = ...`, a LIKE on
 * `lower(email)`, a text cast that converts its column, each alternative of an OR): what an index on
 * an expression would have to hold for the condition to use it. `relation` tells a converting cast
 * from a relabelling one (see conversionOf).
 */
export function conditionExpressions(text: string, relation?: RelationInfo): IndexExpression[] {
  const out: IndexExpression[] = [];
  const add = (e: IndexExpression | undefined) => {
    if (e && !out.some((o) => o.sql === e.sql)) out.push(e);
  };
  const visit = (p: PlanPredicate): void => {
    if (p.kind === 'expression' || p.kind === 'textSearch') add(p.expression);
    else if (p.kind === 'pattern')
      add(p.expression ?? (p.column && relation ? conversionOf(p.column, relation) : undefined));
    else if (p.kind === 'column' && relation) add(conversionOf(p.column, relation));
    else if (p.kind === 'or') p.alternatives.forEach((a) => a.forEach(visit));
  };
  parseCondition(text).forEach(visit);
  return out;
}
