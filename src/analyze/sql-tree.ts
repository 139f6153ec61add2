/**
 * Reading statements through their parse tree (libpg-query, via parser.ts): the relations a statement
 * names and their aliases, its comparison predicates, LIMIT/OFFSET and ORDER BY. Pure; the parser
 * must be loaded (`loadParser()`).
 *
 * The tree is PostgreSQL's raw parse tree as JSON (`{ SelectStmt: { whereClause: ... } }`); it is
 * walked structurally here so the rules never look at SQL text with regexes.
 */
import { scanTokens, tryParse, type SqlToken } from './parser.js';

/** A raw parse-tree node: `{ NodeType: { ...fields } }`. */
export type TreeNode = Readonly<Record<string, unknown>>;

/** A table named in a FROM/JOIN/UPDATE/DELETE clause. */
export interface TableRef {
  readonly schema?: string;
  readonly table: string;
  /** The alias, or undefined when the table is referred to by its own name. */
  readonly alias?: string;
}

/** A column reference, `alias.column` or `column`. */
export interface ColumnUse {
  readonly qualifier?: string;
  readonly column: string;
}

/** One comparison in a WHERE clause or JOIN condition, with its two sides. */
export interface Comparison {
  /** `=`, `<`, `~~` (LIKE), `~~*` (ILIKE), `IN`, `BETWEEN`, ... */
  readonly operator: string;
  readonly kind: 'op' | 'in' | 'like' | 'ilike' | 'between';
  readonly left: TreeNode;
  /** The right side (for BETWEEN: the list of bounds). */
  readonly right: unknown;
  /** The tables visible where the comparison appears (its query level). */
  readonly tables: readonly TableRef[];
  /** True under an OR: one alternative of the condition, not a constraint every row meets. */
  readonly alternative: boolean;
}

/** A query level: one SELECT/UPDATE/DELETE with what it reads and its clauses. */
export interface QueryLevel {
  readonly kind: 'select' | 'update' | 'delete';
  readonly node: TreeNode;
  readonly tables: readonly TableRef[];
  readonly depth: number;
}

const unwrap = (value: unknown, type: string): TreeNode | undefined => {
  if (!value || typeof value !== 'object') return undefined;
  const inner = (value as Record<string, unknown>)[type];
  return inner && typeof inner === 'object' ? (inner as TreeNode) : undefined;
};

/** The node's type name (`FuncCall`, `ColumnRef`, ...) and fields. */
export function nodeType(value: unknown): [string, TreeNode] | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length !== 1) return undefined;
  const [type, fields] = entries[0]!;
  return fields && typeof fields === 'object' && !Array.isArray(fields) ? [type, fields as TreeNode] : undefined;
}

const stringValue = (value: unknown): string | undefined => {
  const s = unwrap(value, 'String');
  return typeof s?.sval === 'string' ? s.sval : undefined;
};

/** The statements of `sql` as parse-tree nodes; empty when the parser rejects the text. */
export function parseTree(sql: string): TreeNode[] {
  const result = tryParse(sql);
  return (result?.stmts ?? []).map((s) => s.stmt as TreeNode | undefined).filter((s): s is TreeNode => s !== undefined);
}

function tablesOf(from: unknown, out: TableRef[]): void {
  if (Array.isArray(from)) {
    for (const item of from) tablesOf(item, out);
    return;
  }
  const typed = nodeType(from);
  if (!typed) return;
  const [type, fields] = typed;
  if (type === 'RangeVar') {
    const alias = unwrap(fields.alias, 'Alias') ?? (fields.alias as TreeNode | undefined);
    const aliasName = typeof alias?.aliasname === 'string' ? alias.aliasname : undefined;
    out.push({
      table: String(fields.relname),
      ...(typeof fields.schemaname === 'string' ? { schema: fields.schemaname } : {}),
      ...(aliasName ? { alias: aliasName } : {}),
    });
  } else if (type === 'JoinExpr') {
    tablesOf(fields.larg, out);
    tablesOf(fields.rarg, out);
  }
}

/** Every SELECT/UPDATE/DELETE level in the statement (subqueries, CTEs, set operations), outermost first. */
export function queryLevels(statement: TreeNode): QueryLevel[] {
  const levels: QueryLevel[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, depth);
      return;
    }
    if (!value || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (!child || typeof child !== 'object') continue;
      if (key === 'SelectStmt' || key === 'UpdateStmt' || key === 'DeleteStmt') {
        const fields = child as TreeNode;
        const tables: TableRef[] = [];
        if (key !== 'SelectStmt') tablesOf({ RangeVar: fields.relation }, tables);
        tablesOf(fields.fromClause, tables);
        tablesOf(fields.usingClause, tables);
        levels.push({
          kind: key === 'SelectStmt' ? 'select' : key === 'UpdateStmt' ? 'update' : 'delete',
          node: fields,
          tables,
          depth,
        });
        visit(child, depth + 1);
      } else {
        visit(child, depth);
      }
    }
  };
  visit(statement, 0);
  return levels;
}

/** The conditions of one level: WHERE and the ON clauses of its joins. */
function conditionsOf(level: QueryLevel): unknown[] {
  const out: unknown[] = [];
  if (level.node.whereClause) out.push(level.node.whereClause);
  const joins = (from: unknown): void => {
    if (Array.isArray(from)) return from.forEach(joins);
    const join = unwrap(from, 'JoinExpr');
    if (!join) return;
    if (join.quals) out.push(join.quals);
    joins(join.larg);
    joins(join.rarg);
  };
  joins(level.node.fromClause);
  return out;
}

const KIND_BY_AEXPR: Readonly<Record<string, Comparison['kind']>> = {
  AEXPR_OP: 'op',
  AEXPR_IN: 'in',
  AEXPR_LIKE: 'like',
  AEXPR_ILIKE: 'ilike',
  AEXPR_BETWEEN: 'between',
  AEXPR_NOT_BETWEEN: 'between',
  AEXPR_BETWEEN_SYM: 'between',
  AEXPR_NOT_BETWEEN_SYM: 'between',
};

/**
 * The comparisons of every query level, with AND/OR/NOT flattened (a predicate under OR cannot use
 * an index on its column either). Comparisons inside subqueries belong to the subquery's level.
 */
export function comparisons(statement: TreeNode): Comparison[] {
  const out: Comparison[] = [];
  for (const level of queryLevels(statement)) {
    const visit = (expr: unknown, alternative: boolean): void => {
      const typed = nodeType(expr);
      if (!typed) return;
      const [type, fields] = typed;
      if (type === 'BoolExpr') {
        const or = alternative || fields.boolop === 'OR_EXPR';
        for (const arg of (fields.args as unknown[] | undefined) ?? []) visit(arg, or);
      } else if (type === 'A_Expr') {
        const kind = KIND_BY_AEXPR[String(fields.kind)];
        const name = ((fields.name as unknown[] | undefined) ?? []).map(stringValue).filter(Boolean).join('.');
        if (kind && fields.lexpr) {
          out.push({
            // BETWEEN, NOT BETWEEN, BETWEEN SYMMETRIC as the parser names them.
            operator: kind === 'in' ? 'IN' : kind === 'between' ? name.toUpperCase() || 'BETWEEN' : name,
            kind,
            left: fields.lexpr as TreeNode,
            right: fields.rexpr,
            tables: level.tables,
            alternative,
          });
        }
      }
    };
    for (const condition of conditionsOf(level)) visit(condition, false);
  }
  return out;
}

/** The column references in an expression, not descending into subqueries. */
export function columnsIn(expr: unknown): ColumnUse[] {
  const out: ColumnUse[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!value || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'SubLink' || key === 'SelectStmt') continue;
      if (key === 'ColumnRef') {
        const names = (((child as TreeNode).fields as unknown[] | undefined) ?? []).map(stringValue);
        if (names.some((n) => n === undefined)) continue; // `t.*`
        const column = names[names.length - 1]!;
        const qualifier = names.length >= 2 ? names[names.length - 2] : undefined;
        out.push({ column, ...(qualifier ? { qualifier } : {}) });
      } else {
        visit(child);
      }
    }
  };
  visit(expr);
  return out;
}

/** The table a column reference belongs to: by qualifier, or the only table when unqualified. */
export function resolveColumn(
  use: ColumnUse,
  tables: readonly TableRef[],
  hasColumn: (t: TableRef) => boolean,
): TableRef | undefined {
  if (use.qualifier) return tables.find((t) => (t.alias ?? t.table) === use.qualifier);
  const candidates = tables.filter(hasColumn);
  return candidates.length === 1 ? candidates[0] : undefined;
}

/** A literal or parameter: its value as text, `$n` resolved from `params`; undefined otherwise. */
export function constantValue(expr: unknown, params?: readonly (string | null)[]): string | undefined {
  const typed = nodeType(expr);
  if (!typed) return undefined;
  const [type, fields] = typed;
  if (type === 'TypeCast') return constantValue(fields.arg, params);
  if (type === 'ParamRef') {
    const value = params?.[Number(fields.number) - 1];
    return value === null ? undefined : value;
  }
  if (type !== 'A_Const' || fields.isnull) return undefined;
  for (const [key, inner] of Object.entries(fields)) {
    if (!inner || typeof inner !== 'object') continue;
    const v = inner as Record<string, unknown>;
    if (key === 'ival') return String(v.ival ?? 0);
    if (key === 'fval' || key === 'sval' || key === 'bsval') {
      const text = v[key];
      if (typeof text === 'string') return text;
    }
    if (key === 'boolval') return String(v.boolval ?? false);
  }
  return undefined;
}

/**
 * Whether a LIKE pattern may start with a wildcard, so that no B-tree can serve it: a constant (or a
 * parameter whose value is known) that starts with `%` or `_`, and a pattern computed at run time
 * (`'%' || $1 || '%'`, `concat($1, '%')`) whose leading part is such a constant or is not known at
 * all. A B-tree serves a LIKE only for a pattern the planner knows to start with a literal prefix,
 * and PostgreSQL folds a computed pattern into one only when all of it is known when planning; a
 * leading part that is a parameter or a column may be `%` for all the plan can tell.
 *
 * `false` for a pattern known to start with a literal; `undefined` for a bare parameter whose value
 * is unknown (the value decides, and the statement's author chooses it).
 */
export function patternLeadsWithWildcard(expr: unknown, params?: readonly (string | null)[]): boolean | undefined {
  const whole = constantValue(expr, params);
  if (whole !== undefined) return whole.startsWith('%') || whole.startsWith('_');
  let bare = nodeType(expr);
  while (bare?.[0] === 'TypeCast') bare = nodeType(bare[1].arg);
  if (!bare || bare[0] === 'ParamRef') return undefined;
  return patternStart(expr, params) !== 'literal';
}

/** How a pattern expression starts: with a wildcard, a literal character, nothing, or unknown. */
function patternStart(
  expr: unknown,
  params: readonly (string | null)[] | undefined,
): 'wildcard' | 'literal' | 'empty' | 'unknown' {
  const value = constantValue(expr, params);
  if (value !== undefined)
    return value === '' ? 'empty' : value.startsWith('%') || value.startsWith('_') ? 'wildcard' : 'literal';
  const typed = nodeType(expr);
  if (!typed) return 'unknown';
  const [type, fields] = typed;
  if (type === 'TypeCast') return patternStart(fields.arg, params);
  // `a || b` (the plan prints `(a || b)`; nested for more parts): the first part that is not empty.
  const operator = Array.isArray(fields.name) && fields.name.length === 1 ? stringValue(fields.name[0]) : undefined;
  if (type === 'A_Expr' && fields.kind === 'AEXPR_OP' && operator === '||' && fields.lexpr !== undefined)
    return leadOf([fields.lexpr, fields.rexpr], params);
  const name = type === 'FuncCall' && Array.isArray(fields.funcname) ? stringValue(fields.funcname.at(-1)) : undefined;
  if (name === 'concat' && Array.isArray(fields.args)) return leadOf(fields.args, params);
  return 'unknown';
}

function leadOf(parts: readonly unknown[], params: readonly (string | null)[] | undefined) {
  for (const part of parts) {
    const start = patternStart(part, params);
    if (start !== 'empty') return start;
  }
  return 'empty';
}

/** True when the expression is a NULL constant (e.g. `LIMIT ALL`, `LIMIT NULL`). */
export function isNullConstant(expr: unknown): boolean {
  const c = unwrap(expr, 'A_Const');
  return Boolean(c?.isnull);
}

/** The outermost expression kind of a predicate side: what wraps the column. */
export function wrapperOf(expr: unknown): {
  kind: 'column' | 'function' | 'cast' | 'expression' | 'other';
  name?: string;
} {
  const typed = nodeType(expr);
  if (!typed) return { kind: 'other' };
  const [type, fields] = typed;
  switch (type) {
    case 'ColumnRef':
      return { kind: 'column' };
    case 'FuncCall': {
      const name = ((fields.funcname as unknown[] | undefined) ?? []).map(stringValue).filter(Boolean).pop();
      return { kind: 'function', ...(name ? { name } : {}) };
    }
    case 'CoalesceExpr':
      return { kind: 'function', name: 'coalesce' };
    case 'MinMaxExpr':
      return { kind: 'function', name: fields.op === 'IS_LEAST' ? 'least' : 'greatest' };
    case 'TypeCast': {
      const names =
        ((unwrap(fields.typeName, 'TypeName') ?? (fields.typeName as TreeNode | undefined))?.names as
          unknown[] | undefined) ?? [];
      const name = names
        .map(stringValue)
        .filter((n) => n && n !== 'pg_catalog')
        .pop();
      return { kind: 'cast', ...(name ? { name } : {}) };
    }
    case 'A_Expr':
    case 'CollateClause':
    case 'CaseExpr':
      return { kind: 'expression' };
    default:
      return { kind: 'other' };
  }
}

function locations(value: unknown, out: number[]): void {
  if (Array.isArray(value)) return value.forEach((v) => locations(v, out));
  if (!value || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'location' && typeof child === 'number' && child >= 0) out.push(child);
    else locations(child, out);
  }
}

/** The smallest and largest parse-tree location under `value` (byte offsets), if any. */
export function locationRange(value: unknown): { min: number; max: number } | undefined {
  const found: number[] = [];
  locations(value, found);
  return found.length > 0 ? { min: Math.min(...found), max: Math.max(...found) } : undefined;
}

/**
 * Every node of type `type` under `value` (found nodes are searched too). Subqueries (`SubLink`)
 * are left out unless `subqueries` is set.
 */
export function nodesOf(value: unknown, type: string, options: { subqueries?: boolean } = {}): TreeNode[] {
  const out: TreeNode[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    for (const [key, child] of Object.entries(v as Record<string, unknown>)) {
      if (key === 'SubLink' && !options.subqueries) continue;
      if (key === type && child && typeof child === 'object') out.push(child as TreeNode);
      visit(child);
    }
  };
  visit(value);
  return out;
}

/** The relations a statement names with their schema, as sorted unique `schema.table` names. */
export function qualifiedRelations(sql: string): string[] {
  const names = nodesOf(parseTree(sql), 'RangeVar', { subqueries: true }).flatMap((r) =>
    typeof r.schemaname === 'string' && typeof r.relname === 'string' ? [`${r.schemaname}.${r.relname}`] : [],
  );
  return [...new Set(names)].sort();
}

/**
 * The scanner tokens of the expression that starts at byte `start` and whose last located node is
 * at `last`: through `a.b.c` and any parentheses still open. An expression whose first located node
 * is inside parentheses (`(a OR b) AND c`, located from `a`) gets the parentheses it opens with.
 */
function expressionTokens(tokens: readonly SqlToken[], start: number, last: number): SqlToken[] {
  const first = tokens.findIndex((t) => t.start >= start);
  if (first < 0) return [];
  const pick = (from: number): { picked: SqlToken[]; lowest: number } => {
    const picked: SqlToken[] = [];
    let depth = 0;
    let lowest = 0;
    for (let i = from; i < tokens.length; i++) {
      const t = tokens[i]!;
      const next = tokens[i + 1];
      picked.push(t);
      if (t.text === '(') depth++;
      if (t.text === ')') depth--;
      lowest = Math.min(lowest, depth);
      if (t.start < last) continue;
      // Past the last located node: finish `a.b.c` and any open parentheses.
      if (next && (next.text === '.' || t.text === '.')) continue;
      if (depth > 0) continue;
      // A call is located at its name, and a call without arguments (`now()`, `count(*)`) has no
      // located node inside its parentheses: finish its argument list.
      if (next?.text === '(' && /^[\p{L}_"]/u.test(t.text)) continue;
      // `x IS [NOT] NULL` (TRUE, FALSE, UNKNOWN) is located at IS.
      if (/^(is|not)$/i.test(t.text) && next && /^(not|null|true|false|unknown)$/i.test(next.text)) continue;
      break;
    }
    return { picked, lowest };
  };
  const { picked, lowest } = pick(first);
  // Closing parentheses the expression did not open: it began with as many opening ones.
  const opened = first + lowest;
  if (lowest < 0 && opened >= 0 && tokens.slice(opened, first).every((t) => t.text === '(')) return pick(opened).picked;
  return picked;
}

/** Byte offsets where an expression of `sql` starts and ends (see expressionTokens). */
export function expressionSpan(sql: string, expr: unknown): { start: number; end: number } | undefined {
  const range = locationRange(expr);
  if (!range) return undefined;
  const picked = expressionTokens(scanTokens(sql), range.min, range.max);
  const first = picked[0];
  const last = picked.at(-1);
  return first && last ? { start: first.start, end: last.end } : undefined;
}

/** Byte offset where the expression of `expressionTokens` ends. */
export function expressionEnd(tokens: readonly SqlToken[], start: number, last: number): number | undefined {
  return expressionTokens(tokens, start, last).at(-1)?.end;
}

/**
 * The statement without the row count of its outermost LIMIT (or FETCH FIRST): the count becomes
 * `(NULL::bigint + (count))`, which PostgreSQL folds to NULL (the addition is strict), and a NULL
 * count is no limit. Parameters the count referenced stay referenced, so the statement is planned
 * with the same parameters, and generically as well. Undefined when the statement has no such
 * count (no LIMIT, `LIMIT ALL`, `WITH TIES`, which refuses a NULL count, several statements).
 *
 * @example
 * withoutLimit('SELECT id FROM t ORDER BY a LIMIT $2 OFFSET 40')
 * // 'SELECT id FROM t ORDER BY a LIMIT (NULL::bigint + ($2)) OFFSET 40'
 */
export function withoutLimit(sql: string): string | undefined {
  const statements = parseTree(sql);
  const select = statements.length === 1 ? unwrap(statements[0], 'SelectStmt') : undefined;
  const count = select?.limitCount;
  if (!select || count === undefined || isNullConstant(count) || select.limitOption === 'LIMIT_OPTION_WITH_TIES')
    return undefined;
  const range = locationRange(count);
  if (!range) return undefined;
  const picked = expressionTokens(scanTokens(sql), range.min, range.max);
  const first = picked[0];
  const last = picked.at(-1);
  if (!first || !last) return undefined;
  const bytes = Buffer.from(sql, 'utf8');
  const text = bytes.subarray(first.start, last.end).toString('utf8');
  return `${bytes.subarray(0, first.start).toString('utf8')}(NULL::bigint + (${text}))${bytes.subarray(last.end).toString('utf8')}`;
}

/**
 * The source text of an expression, cut from `sql` using the parse tree's locations and PostgreSQL's
 * scanner (for where the expression ends: closing parentheses, `alias.column`). Qualifiers in
 * `dropQualifiers` are removed (`o.created_at` -> `created_at`), for CREATE INDEX.
 */
export function expressionText(sql: string, expr: unknown, dropQualifiers: readonly string[] = []): string | undefined {
  const range = locationRange(expr);
  if (!range) return undefined;
  const picked = expressionTokens(scanTokens(sql), range.min, range.max);
  if (picked.length === 0) return undefined;
  const bytes = Buffer.from(sql, 'utf8');
  let text = '';
  let previousEnd = -1;
  let gapBefore = false;
  for (let k = 0; k < picked.length; k++) {
    const t = picked[k]!;
    const spaced: boolean = gapBefore || (previousEnd >= 0 && t.start > previousEnd);
    gapBefore = false;
    if (dropQualifiers.includes(t.text) && picked[k + 1]?.text === '.') {
      k++; // skip the qualifier and its dot; keep the space that preceded it
      gapBefore = spaced;
      previousEnd = -1;
      continue;
    }
    text += (spaced ? ' ' : '') + bytes.subarray(t.start, t.end).toString('utf8');
    previousEnd = t.end;
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** A table privilege a statement may need. */
export type TablePrivilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/** A relation a statement names, with the privileges it needs on it. */
export interface RelationPrivileges {
  readonly schema?: string;
  readonly table: string;
  /** In the order GRANT lists them: SELECT, INSERT, UPDATE, DELETE. */
  readonly privileges: readonly TablePrivilege[];
}

const PRIVILEGE_ORDER: readonly TablePrivilege[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

/**
 * The table privileges a statement needs, per relation it names, from its parse tree, as PostgreSQL
 * checks them: a relation read anywhere (FROM, a join, a subquery, USING) needs SELECT; an INSERT's
 * target INSERT, and UPDATE with ON CONFLICT DO UPDATE, and SELECT with a conflict target (its
 * columns are read) or RETURNING; an UPDATE's or DELETE's target UPDATE or DELETE, and SELECT when
 * it reads the table's columns (WHERE, SET from columns, FROM/USING, RETURNING); a MERGE's target
 * SELECT (its join condition) and the privilege of each action; SELECT ... FOR UPDATE/SHARE also
 * UPDATE on the locked tables. Names of common table expressions are not relations.
 */
export function relationPrivileges(sql: string): RelationPrivileges[] {
  const needed = new Map<string, { schema?: string; table: string; privileges: Set<TablePrivilege> }>();
  const [statement] = parseTree(sql);
  if (!statement) return [];
  const ctes = new Set(nodesOf(statement, 'CommonTableExpr', { subqueries: true }).map((c) => String(c.ctename)));
  const add = (relation: unknown, ...privileges: TablePrivilege[]) => {
    const node = unwrap(relation, 'RangeVar') ?? (relation as TreeNode | undefined);
    if (!node || typeof node.relname !== 'string') return;
    const schema = typeof node.schemaname === 'string' ? node.schemaname : undefined;
    if (schema === undefined && ctes.has(node.relname)) return;
    const key = `${schema ?? ''}.${node.relname}`;
    const entry = needed.get(key) ?? { ...(schema ? { schema } : {}), table: node.relname, privileges: new Set() };
    for (const p of privileges) entry.privileges.add(p);
    needed.set(key, entry);
  };
  const hasAny = (value: unknown, type: string) => nodesOf(value, type, { subqueries: true }).length > 0;
  const returning = (fields: TreeNode) => {
    const clause =
      unwrap(fields.returningClause, 'ReturningClause') ?? (fields.returningClause as TreeNode | undefined);
    const list = clause?.exprs ?? fields.returningList;
    return Array.isArray(list) && list.length > 0;
  };
  // Everything but the fields already judged: relations read there need SELECT.
  const visitRest = (fields: TreeNode, skip: readonly string[]) => {
    for (const [key, child] of Object.entries(fields)) if (!skip.includes(key)) visit(child);
  };
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!value || typeof value !== 'object') return;
    const typed = nodeType(value);
    if (!typed) {
      Object.values(value as Record<string, unknown>).forEach(visit);
      return;
    }
    const [type, fields] = typed;
    if (type === 'RangeVar') return add(fields, 'SELECT');
    if (type === 'InsertStmt') {
      const conflict = unwrap(fields.onConflictClause, 'OnConflictClause') ?? (fields.onConflictClause as TreeNode);
      add(fields.relation, 'INSERT');
      if (conflict?.action === 'ONCONFLICT_UPDATE') add(fields.relation, 'UPDATE');
      if ((conflict && (conflict.infer || conflict.action === 'ONCONFLICT_UPDATE')) || returning(fields))
        add(fields.relation, 'SELECT');
      return visitRest(fields, ['relation']);
    }
    if (type === 'UpdateStmt' || type === 'DeleteStmt') {
      add(fields.relation, type === 'UpdateStmt' ? 'UPDATE' : 'DELETE');
      const reads =
        fields.whereClause !== undefined ||
        (Array.isArray(fields.fromClause) && fields.fromClause.length > 0) ||
        (Array.isArray(fields.usingClause) && fields.usingClause.length > 0) ||
        returning(fields) ||
        hasAny(fields.targetList, 'ColumnRef');
      if (reads) add(fields.relation, 'SELECT');
      return visitRest(fields, ['relation']);
    }
    if (type === 'MergeStmt') {
      add(fields.relation, 'SELECT');
      for (const when of nodesOf(fields.mergeWhenClauses, 'MergeWhenClause')) {
        const command = String(when.commandType);
        if (command === 'CMD_INSERT') add(fields.relation, 'INSERT');
        if (command === 'CMD_UPDATE') add(fields.relation, 'UPDATE');
        if (command === 'CMD_DELETE') add(fields.relation, 'DELETE');
      }
      return visitRest(fields, ['relation']);
    }
    if (type === 'SelectStmt' && Array.isArray(fields.lockingClause) && fields.lockingClause.length > 0) {
      const tables: TableRef[] = [];
      tablesOf(fields.fromClause, tables);
      for (const locking of nodesOf(fields.lockingClause, 'LockingClause')) {
        const named = nodesOf(locking.lockedRels, 'RangeVar').map((r) => String(r.relname));
        for (const t of tables) {
          if (named.length > 0 && !named.includes(t.alias ?? t.table)) continue;
          add({ relname: t.table, ...(t.schema ? { schemaname: t.schema } : {}) }, 'UPDATE');
        }
      }
      return visitRest(fields, ['lockingClause']);
    }
    visit(fields);
  };
  visit(statement);
  return [...needed.values()].map((e) => ({
    ...(e.schema ? { schema: e.schema } : {}),
    table: e.table,
    privileges: PRIVILEGE_ORDER.filter((p) => e.privileges.has(p)),
  }));
}

/** Columns of a table whose defaults a statement evaluates. */
export interface DefaultedColumns {
  readonly schema?: string;
  readonly table: string;
  /**
   * `all-but`: an INSERT, which evaluates the default of every column it gives no value, that is
   * every column but those it names (a column list) or, without one, the leading ones at
   * `positions` (1-based, dropped columns aside); a column given DEFAULT in any row is not given a
   * value. `only`: an UPDATE's (or ON CONFLICT's) `SET column = DEFAULT`, on those `names`.
   */
  readonly evaluated: 'all-but' | 'only';
  readonly names: readonly string[];
  readonly positions: readonly number[];
}

/** A sequence function a statement calls on a sequence it names by a constant (`nextval('app.s')`). */
export interface SequenceCall {
  readonly function: 'nextval' | 'currval' | 'setval';
  /** The name as written, resolved by the server through the search_path as the call does. */
  readonly sequence: string;
}

/** What a statement may draw from sequences: column defaults it evaluates, sequence functions it calls. */
export interface SequenceUses {
  readonly defaults: readonly DefaultedColumns[];
  readonly calls: readonly SequenceCall[];
}

const SEQUENCE_FUNCTIONS: readonly SequenceCall['function'][] = ['nextval', 'currval', 'setval'];

/**
 * The column defaults a statement evaluates and the sequence functions it calls, from its parse
 * tree: a `serial` column's default calls nextval, whose privilege (USAGE or UPDATE on the
 * sequence) PostgreSQL checks only when the default is evaluated, so neither PREPARE nor EXPLAIN
 * reports it. Which defaults call which sequence is the catalog's to say; an INSERT whose SELECT
 * list has a `*` gives an unknown number of columns and is left out.
 */
export function sequenceUses(sql: string): SequenceUses {
  const [statement] = parseTree(sql);
  if (!statement) return { defaults: [], calls: [] };
  const defaults: DefaultedColumns[] = [];
  const isDefault = (value: unknown) => unwrap(value, 'SetToDefault') !== undefined;
  const relationOf = (relation: unknown) => {
    const node = unwrap(relation, 'RangeVar') ?? (relation as TreeNode | undefined);
    if (!node || typeof node.relname !== 'string') return undefined;
    return { ...(typeof node.schemaname === 'string' ? { schema: node.schemaname } : {}), table: node.relname };
  };
  // An INSERT's target columns (a column list) and rows of values (VALUES, or one SELECT list).
  const addInsert = (relation: unknown, columns: unknown, rows: readonly unknown[][] | undefined) => {
    const target = relationOf(relation);
    if (!target || rows === undefined) return;
    const named = nodesOf(columns, 'ResTarget').map((c) => String(c.name));
    const width = named.length > 0 ? named.length : Math.max(0, ...rows.map((r) => r.length));
    const given: number[] = [];
    for (let k = 0; k < width; k++) if (!rows.some((r) => isDefault(r[k]))) given.push(k);
    defaults.push({
      ...target,
      evaluated: 'all-but',
      names: named.length > 0 ? given.map((k) => named[k]!) : [],
      positions: named.length > 0 ? [] : given.map((k) => k + 1),
    });
  };
  const addSetDefault = (relation: unknown, targets: unknown) => {
    const target = relationOf(relation);
    const names = nodesOf(targets, 'ResTarget')
      .filter((t) => isDefault(t.val))
      .map((t) => String(t.name));
    if (target && names.length > 0) defaults.push({ ...target, evaluated: 'only', names, positions: [] });
  };
  // The rows an INSERT's query gives: VALUES lists, or the SELECT list of its leftmost branch.
  const rowsOf = (select: unknown): unknown[][] | undefined => {
    let query = unwrap(select, 'SelectStmt');
    if (!query) return select === undefined ? [] : undefined; // DEFAULT VALUES: no row of values
    while (query.larg) query = (unwrap(query.larg, 'SelectStmt') ?? query.larg) as TreeNode;
    if (Array.isArray(query.valuesLists))
      return query.valuesLists.map((l) => (unwrap(l, 'List')?.items as unknown[]) ?? []);
    const list = nodesOf(query.targetList, 'ResTarget');
    if (list.some((t) => nodesOf(t.val, 'A_Star').length > 0)) return undefined;
    return [list.map((t) => t.val)];
  };
  for (const insert of nodesOf(statement, 'InsertStmt', { subqueries: true })) {
    addInsert(insert.relation, insert.cols, rowsOf(insert.selectStmt));
    const conflict = unwrap(insert.onConflictClause, 'OnConflictClause');
    if (conflict) addSetDefault(insert.relation, conflict.targetList);
  }
  for (const update of nodesOf(statement, 'UpdateStmt', { subqueries: true }))
    addSetDefault(update.relation, update.targetList);
  for (const merge of nodesOf(statement, 'MergeStmt', { subqueries: true })) {
    for (const when of nodesOf(merge.mergeWhenClauses, 'MergeWhenClause')) {
      if (when.commandType === 'CMD_INSERT')
        addInsert(merge.relation, when.targetList, [Array.isArray(when.values) ? when.values : []]);
      if (when.commandType === 'CMD_UPDATE') addSetDefault(merge.relation, when.targetList);
    }
  }
  const calls: SequenceCall[] = [];
  for (const call of nodesOf(statement, 'FuncCall', { subqueries: true })) {
    const name = (Array.isArray(call.funcname) ? call.funcname : []).map(stringValue);
    const fn = name[name.length - 1] as SequenceCall['function'];
    if (!SEQUENCE_FUNCTIONS.includes(fn) || (name.length === 2 && name[0] !== 'pg_catalog') || name.length > 2)
      continue;
    // A parameter's value is not known here (undefined): its call fails, if it does, during the replay.
    const sequence = constantValue(Array.isArray(call.args) ? call.args[0] : undefined);
    if (sequence !== undefined) calls.push({ function: fn, sequence });
  }
  return { defaults, calls };
}

/** A constant or parameter, under any casts (`'day'::text`, `$1::date`). */
function constantNode(value: unknown): [string, TreeNode] | undefined {
  let typed = nodeType(value);
  while (typed?.[0] === 'TypeCast') typed = nodeType(typed[1].arg);
  return typed && (typed[0] === 'A_Const' || typed[0] === 'ParamRef') ? typed : undefined;
}

/**
 * True when two expression trees are the same expression, as a statement writes it and as a plan
 * prints it (`extract(year FROM o.created_at) = $1` and `EXTRACT(year FROM created_at) = 2021`):
 * columns by name (qualifiers aside), constants by value whatever casts the server added, and a
 * parameter for any constant.
 */
export function sameExpression(a: unknown, b: unknown): boolean {
  const ca = constantNode(a);
  const cb = constantNode(b);
  if (ca || cb) {
    if (!ca || !cb) return false;
    if (ca[0] === 'ParamRef' || cb[0] === 'ParamRef') return true;
    return constantValue({ A_Const: ca[1] }) === constantValue({ A_Const: cb[1] });
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameExpression(x, b[i]));
  }
  const ta = nodeType(a);
  const tb = nodeType(b);
  if (ta && tb) {
    if (ta[0] !== tb[0]) return false;
    if (ta[0] === 'ColumnRef') return columnsIn(a)[0]?.column === columnsIn(b)[0]?.column;
    return sameFields(ta[1], tb[1]);
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') return sameFields(a as TreeNode, b as TreeNode);
  return a === b;
}

/** Fields that say where or how an expression was written, not what it computes. */
const WRITING = new Set(['location', 'funcformat']);

function sameFields(a: TreeNode, b: TreeNode): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => !WRITING.has(k)));
  return [...keys].every((k) => sameExpression(a[k], b[k]));
}

/** One `x NOT IN (SELECT ...)` of a statement, from its parse tree. */
export interface NotInSubquery {
  /** The compared expression (`c.customer_id`), or a row of them (`(a, b) NOT IN (SELECT x, y ...)`). */
  readonly tested: readonly TreeNode[];
  /** The subquery (a SelectStmt's fields). */
  readonly subquery: TreeNode;
  /** The tables of the query level the NOT IN is in (the outer side). */
  readonly tables: readonly TableRef[];
}

/**
 * The `NOT IN (subquery)` predicates of a statement, in the order they are written: a negated
 * `IN (SELECT ...)` in a WHERE or JOIN ... ON, at any query level.
 */
export function notInSubqueries(statement: TreeNode): NotInSubquery[] {
  const out: NotInSubquery[] = [];
  for (const level of queryLevels(statement)) {
    const visit = (expr: unknown): void => {
      const typed = nodeType(expr);
      if (!typed || typed[0] !== 'BoolExpr') return;
      const args = (typed[1].args as unknown[] | undefined) ?? [];
      if (typed[1].boolop !== 'NOT_EXPR') return args.forEach(visit);
      const link = unwrap(args[0], 'SubLink');
      const subquery = unwrap(link?.subselect, 'SelectStmt');
      if (!link || !subquery || link.subLinkType !== 'ANY_SUBLINK') return;
      const row = unwrap(link.testexpr, 'RowExpr');
      const tested = row ? ((row.args as TreeNode[] | undefined) ?? []) : [link.testexpr as TreeNode];
      out.push({ tested, subquery, tables: level.tables });
    };
    for (const condition of conditionsOf(level)) visit(condition);
  }
  return out;
}

/** Replaces byte ranges of `sql`, which must not overlap. */
function editBytes(sql: string, edits: readonly { start: number; end: number; text: string }[]): string {
  let out = Buffer.from(sql, 'utf8');
  for (const edit of [...edits].sort((a, b) => b.start - a.start))
    out = Buffer.concat([out.subarray(0, edit.start), Buffer.from(edit.text, 'utf8'), out.subarray(edit.end)]);
  return out.toString('utf8');
}

/**
 * The statement with its parameters numbered $1, $2, ... without gaps, in the order of their
 * numbers. A statement that ran inside a PL/pgSQL function has gaps: pg_stat_statements numbers the
 * constants it replaced after the function's own parameters (`status = $2` where the function's
 * variable took $1), and a server before 16 cannot plan a statement whose $1 it never sees.
 */
export function renumberParams(sql: string): { sql: string; count: number } {
  const refs = nodesOf(parseTree(sql), 'ParamRef', { subqueries: true });
  const numbers = [...new Set(refs.map((r) => Number(r.number)))].sort((a, b) => a - b);
  const dense = new Map(numbers.map((n, i) => [n, i + 1]));
  const edits = refs
    .filter((r) => typeof r.location === 'number' && dense.get(Number(r.number)) !== Number(r.number))
    .map((r) => {
      const start = r.location as number;
      return { start, end: start + `$${Number(r.number)}`.length, text: `$${dense.get(Number(r.number))}` };
    });
  return { sql: edits.length > 0 ? editBytes(sql, edits) : sql, count: numbers.length };
}

/**
 * Replaces the column reference that starts at byte `offset`, and every reference spelled with the
 * same names, by the next parameter (`$count+1`), cast to `type(names)` when it gives one. It is how
 * a variable of a function (`p_id`, `customer_value.p_id`, `NEW.amount`) that EXPLAIN cannot resolve
 * becomes a parameter: PL/pgSQL passes it to the statement as one. Undefined when no column
 * reference starts at `offset`.
 */
export function columnRefToParam(
  sql: string,
  offset: number,
  count: number,
  type: (names: readonly string[]) => string | undefined,
): { sql: string; names: readonly string[] } | undefined {
  const refs = nodesOf(parseTree(sql), 'ColumnRef', { subqueries: true });
  const namesOf = (ref: TreeNode) => (Array.isArray(ref.fields) ? ref.fields.map((f) => stringValue(f)) : [undefined]);
  const hit = refs.find((r) => r.location === offset);
  if (!hit) return undefined;
  const names = namesOf(hit);
  if (names.some((n) => n === undefined)) return undefined;
  const key = names.join('.');
  const tokens = scanTokens(sql);
  const cast = type(names as string[]);
  const param = `$${count + 1}${cast ? `::${cast}` : ''}`;
  const edits = refs
    .filter((r) => typeof r.location === 'number' && namesOf(r).join('.') === key)
    .flatMap((r) => {
      const first = tokens.findIndex((t) => t.start === r.location);
      if (first < 0) return [];
      // `a . b . c`: one name per token, a dot between each two.
      const last = tokens[first + 2 * (names.length - 1)];
      return last ? [{ start: r.location as number, end: last.end, text: param }] : [];
    });
  return edits.length > 0 ? { sql: editBytes(sql, edits), names: names as string[] } : undefined;
}
