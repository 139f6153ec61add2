/**
 * n-plus-one: one request of an HTTP route runs the same statement many times, typically a lookup
 * per row of a list the route fetched first. Each call is cheap; the round trips, the per-call
 * overhead and the connection held across the loop are not, and they grow with the list. The calls
 * per request come from the route's own phase of an HTTP run (`query.routes`); SQL and external runs
 * have no routes and are never reported.
 */
import { scanTokens } from '../analyze/parser.js';
import {
  expressionEnd,
  expressionText,
  locationRange,
  nodeType,
  nodesOf,
  parseTree,
  type TreeNode,
} from '../analyze/sql-tree.js';
import { defineRule, type RuleFinding } from './define.js';

/** A statement rewritten to serve every item of the loop at once. */
export interface BatchedForm {
  readonly sql: string;
  /** True for an aggregate: the rewrite groups by the key, one row per key that has rows. */
  readonly grouped: boolean;
}

// Aggregate functions of PostgreSQL's catalog, by name: the parse tree does not say which functions
// aggregate (that takes the catalog), but a call with `*`, DISTINCT, ORDER BY, FILTER or WITHIN
// GROUP is one whatever its name.
const AGGREGATES = new Set([
  'any_value',
  'array_agg',
  'avg',
  'bit_and',
  'bit_or',
  'bit_xor',
  'bool_and',
  'bool_or',
  'corr',
  'count',
  'covar_pop',
  'covar_samp',
  'every',
  'json_agg',
  'json_object_agg',
  'jsonb_agg',
  'jsonb_object_agg',
  'max',
  'min',
  'mode',
  'percentile_cont',
  'percentile_disc',
  'range_agg',
  'range_intersect_agg',
  'stddev',
  'stddev_pop',
  'stddev_samp',
  'string_agg',
  'sum',
  'var_pop',
  'var_samp',
  'variance',
  'xmlagg',
]);

/** Keywords that start the clause after WHERE in a SELECT: where GROUP BY goes in. */
const AFTER_WHERE = new Set(['GROUP', 'HAVING', 'WINDOW', 'ORDER', 'LIMIT', 'OFFSET', 'FETCH', 'FOR']);

const fields = (value: unknown, type: string): TreeNode | undefined => {
  const typed = nodeType(value);
  return typed && typed[0] === type ? typed[1] : undefined;
};

const funcName = (call: TreeNode) => {
  const names = (call.funcname as unknown[] | undefined) ?? [];
  const last = fields(names[names.length - 1], 'String');
  return typeof last?.sval === 'string' ? last.sval.toLowerCase() : '';
};

const isAggregateCall = (call: TreeNode) =>
  !call.over &&
  Boolean(
    call.agg_star ||
    call.agg_distinct ||
    call.agg_order ||
    call.agg_filter ||
    call.agg_within_group ||
    AGGREGATES.has(funcName(call)),
  );

/** The conjuncts of a WHERE clause: `a AND (b AND c)` -> a, b, c (nothing under OR or NOT). */
function conjuncts(expr: unknown): unknown[] {
  const bool = fields(expr, 'BoolExpr');
  if (bool?.boolop === 'AND_EXPR') return ((bool.args as unknown[] | undefined) ?? []).flatMap(conjuncts);
  return [expr];
}

/** The tree without locations, to compare two expressions as written. */
const shape = (value: unknown): string =>
  JSON.stringify(value, (key, v: unknown) => (key === 'location' ? undefined : v));

/**
 * The statement rewritten to take the list of keys as one array parameter, built from the parse
 * tree: the key equality `key = $1` (one parameter in the whole statement, a conjunct of WHERE)
 * becomes `key = ANY($1)`, the key joins the select list (each row must say which item it
 * belongs to), and an aggregate is grouped by the key (else it would return one total for all the
 * items instead of one value per item). Undefined when the statement is not of that shape.
 *
 * @example
 * batchedForm('SELECT count(*) AS n FROM lib.loans WHERE book_id = $1')
 * // { sql: 'SELECT book_id, count(*) AS n FROM lib.loans WHERE book_id = ANY($1) GROUP BY book_id', grouped: true }
 */
export function batchedForm(sql: string, tree: readonly TreeNode[] = parseTree(sql)): BatchedForm | undefined {
  if (tree.length !== 1) return undefined;
  const select = fields(tree[0], 'SelectStmt');
  if (!select || (select.op && select.op !== 'SETOP_NONE') || select.limitCount || select.limitOffset) return undefined;
  if (select.windowClause || (select.distinctClause as unknown[] | undefined)?.some((d) => nodeType(d)))
    return undefined;
  const params = nodesOf(tree[0], 'ParamRef', { subqueries: true });
  if (params.length !== 1) return undefined;

  // The key equality: `key = $n` or `$n = key` (or `$n::type`), not under OR or NOT.
  const param = params[0]!;
  const isParam = (side: unknown) => {
    const cast = fields(side, 'TypeCast');
    return fields(cast ? cast.arg : side, 'ParamRef') === param;
  };
  let key: unknown;
  let value: unknown;
  for (const conjunct of conjuncts(select.whereClause)) {
    const e = fields(conjunct, 'A_Expr');
    const names = (e?.name as unknown[] | undefined) ?? [];
    if (!e || e.kind !== 'AEXPR_OP' || names.length !== 1 || fields(names[0], 'String')?.sval !== '=') continue;
    if (isParam(e.rexpr)) [key, value] = [e.lexpr, e.rexpr];
    else if (isParam(e.lexpr)) [key, value] = [e.rexpr, e.lexpr];
  }
  if (!key || shape(key).includes('"SubLink"')) return undefined;
  const keyText = expressionText(sql, key);
  const keyAt = locationRange(key);
  if (!keyText || !keyAt) return undefined;

  const targets = ((select.targetList as unknown[] | undefined) ?? []).map((t) => fields(t, 'ResTarget')!);
  const calls = nodesOf([select.targetList, select.havingClause], 'FuncCall');
  if (calls.some((c) => c.over)) return undefined;
  const grouped = Boolean(select.groupClause || select.havingClause || calls.some(isAggregateCall));
  const groupItems = (select.groupClause as unknown[] | undefined) ?? [];
  if (groupItems.some((g) => fields(g, 'GroupingSet'))) return undefined;

  const tokens = scanTokens(sql);
  if (tokens[0]?.text === '(') return undefined;
  const edits: { at: number; end: number; text: string }[] = [];

  // `key = $n` -> `key = ANY($n)`, `$n = key` -> `key = ANY($n)`, `$n::int` -> `ANY($n::int[])`.
  const paramAt = Number(param.location);
  const valueAt = locationRange(value)!;
  const valueEnd = expressionEnd(tokens, valueAt.min, valueAt.max);
  const valueText = expressionText(sql, value);
  if (valueEnd === undefined || !valueText) return undefined;
  let array = `ANY(${valueText})`;
  if (fields(value, 'TypeCast')) {
    // Only the `$n::type` form: `CAST($n AS type)[]` is not valid.
    const after = tokens.find((t) => t.start > paramAt);
    const typeName =
      fields(fields(value, 'TypeCast')!.typeName, 'TypeName') ?? (fields(value, 'TypeCast')!.typeName as TreeNode);
    if (after?.text !== '::' || (typeName?.arrayBounds as unknown[] | undefined)?.length) return undefined;
    array = `ANY(${valueText}[])`;
  }
  if (keyAt.min < paramAt) edits.push({ at: paramAt, end: valueEnd, text: array });
  else {
    const keyEnd = expressionEnd(tokens, keyAt.min, keyAt.max);
    if (keyEnd === undefined) return undefined;
    edits.push({ at: paramAt, end: keyEnd, text: `${keyText} = ${array}` });
  }

  const sameAsKey = (expr: unknown) => {
    if (shape(expr) === shape(key)) return true;
    const a = fields(expr, 'ColumnRef')?.fields as unknown[] | undefined;
    const b = fields(key, 'ColumnRef')?.fields as unknown[] | undefined;
    // `id` and `c.id`: the same column when the statement reads one table, which a lookup does.
    return Boolean(a && b && shape(a[a.length - 1]) === shape(b[b.length - 1]));
  };
  const star = targets.some((t) => fields(t.val, 'ColumnRef') && shape(t.val).includes('"A_Star"'));
  if (!targets.some((t) => sameAsKey(t.val)) && !(star && !grouped)) {
    const first = targets[0];
    if (!first || typeof first.location !== 'number') return undefined;
    edits.push({ at: first.location, end: first.location, text: `${keyText}, ` });
  }

  if (grouped && !groupItems.some(sameAsKey)) {
    if (groupItems.length > 0) {
      const at = locationRange(groupItems[0])?.min;
      if (at === undefined) return undefined;
      edits.push({ at, end: at, text: `${keyText}, ` });
    } else {
      // GROUP BY goes before the first clause that follows WHERE at the statement's own level.
      const whereAt = locationRange(select.whereClause)?.min ?? 0;
      let depth = 0;
      let at = Buffer.byteLength(sql.replace(/[\s;]+$/, ''), 'utf8');
      let clause = false;
      for (const t of tokens) {
        if (t.text === '(') depth++;
        else if (t.text === ')') depth--;
        else if (depth === 0 && t.start > whereAt && (AFTER_WHERE.has(t.text.toUpperCase()) || t.text === ';')) {
          at = t.start;
          clause = t.text !== ';';
          break;
        }
      }
      edits.push({ at, end: at, text: clause ? `GROUP BY ${keyText} ` : ` GROUP BY ${keyText}` });
    }
  }

  let out = Buffer.from(sql, 'utf8');
  for (const edit of edits.sort((a, b) => b.at - a.at)) {
    out = Buffer.concat([out.subarray(0, edit.at), Buffer.from(edit.text, 'utf8'), out.subarray(edit.end)]);
  }
  return { sql: out.toString('utf8').replace(/\s+/g, ' ').trim(), grouped };
}

/**
 * The statement run once per key in one statement with a LATERAL join over the array of keys, for
 * statements the batched form cannot take (a LIMIT, an OFFSET, DISTINCT, window functions: "the
 * latest row per item"), since `= ANY($1)` would apply them to all the items together. The key
 * parameter (`$n` of the WHERE's `key = $n`) becomes `k.key`; other parameters stay. `typeOf`
 * gives a column's type, for the array when the parameter has no cast. Undefined when the
 * statement is not a single SELECT with such a key.
 *
 * @example
 * lateralForm('SELECT id FROM readings WHERE vehicle_id = $1 ORDER BY at DESC LIMIT 1', () => 'integer')
 * // 'SELECT k.key, t.* FROM unnest($1::integer[]) AS k(key) CROSS JOIN LATERAL (SELECT id FROM readings WHERE vehicle_id = k.key ORDER BY at DESC LIMIT 1) AS t'
 */
export function lateralForm(
  sql: string,
  typeOf: (column: string) => string | undefined,
  tree: readonly TreeNode[] = parseTree(sql),
): string | undefined {
  if (tree.length !== 1) return undefined;
  const select = fields(tree[0], 'SelectStmt');
  if (!select || (select.op && select.op !== 'SETOP_NONE')) return undefined;
  let key: { number: number; column?: string; cast?: string } | undefined;
  for (const conjunct of conjuncts(select.whereClause)) {
    const e = fields(conjunct, 'A_Expr');
    const names = (e?.name as unknown[] | undefined) ?? [];
    if (!e || e.kind !== 'AEXPR_OP' || names.length !== 1 || fields(names[0], 'String')?.sval !== '=') continue;
    for (const [side, other] of [
      [e.rexpr, e.lexpr],
      [e.lexpr, e.rexpr],
    ]) {
      const cast = fields(side, 'TypeCast');
      const param = fields(cast ? cast.arg : side, 'ParamRef');
      if (!param) continue;
      const columnFields = (fields(other, 'ColumnRef')?.fields as unknown[] | undefined) ?? [];
      const column = fields(columnFields[columnFields.length - 1], 'String')?.sval as string | undefined;
      const typeName = cast ? expressionText(sql, cast.typeName) : undefined;
      key = {
        number: Number(param.number),
        ...(column ? { column } : {}),
        ...(typeName ? { cast: typeName } : {}),
      };
    }
    if (key) break;
  }
  if (!key) return undefined;
  const type = key.cast ?? (key.column ? typeOf(key.column) : undefined);
  if (!type) return undefined;
  // Every `$n` token of the key parameter, by PostgreSQL's scanner (not inside strings or comments).
  const bytes = Buffer.from(sql, 'utf8');
  const edits = scanTokens(sql).filter((t) => t.text === `$${key.number}`);
  if (edits.length === 0) return undefined;
  let out = bytes;
  for (const t of edits.sort((a, b) => b.start - a.start)) {
    out = Buffer.concat([out.subarray(0, t.start), Buffer.from('k.key', 'utf8'), out.subarray(t.end)]);
  }
  const inner = out
    .toString('utf8')
    .replace(/[\s;]+$/, '')
    .replace(/\s+/g, ' ')
    .trim();
  return `SELECT k.key, t.* FROM unnest($${key.number}::${type}[]) AS k(key) CROSS JOIN LATERAL (${inner}) AS t`;
}

export default defineRule({
  id: 'n-plus-one',
  severity: 'warning',
  category: 'pattern',
  description: 'A statement runs many times per request of one HTTP route: a query in a loop (N+1).',
  messages: {
    loop: 'runs {callsPerRequest} times per request of route "{route}" ({statementsPerRequest} statements per request in all): a query in a loop',
  },
  defaultOptions: {
    /** Calls of the statement per request of one route from which it is reported. */
    minCallsPerRequest: 10,
  },
  check({ query, report, options, sql, tree, relation }) {
    const findings: RuleFinding[] = [];
    for (const { route, callsPerRequest } of query.routes ?? []) {
      if (callsPerRequest < options.minCallsPerRequest) continue;
      const info = report.routes?.find((r) => r.name === route);
      // The rewrite is of the statement as the application sends it, with its $n parameters.
      const parsed = sql === query.query ? tree : undefined;
      const batched = batchedForm(query.query, parsed);
      // A statement with a LIMIT or OFFSET per item keeps them per item: a LATERAL join over the keys.
      const typeOf = (column: string) =>
        query.relations.map((name) => relation(name)?.columnTypes?.[column]).find((t) => t !== undefined);
      const lateral = batched ? undefined : lateralForm(query.query, typeOf, parsed);
      findings.push({
        messageId: 'loop',
        route,
        evidence: {
          callsPerRequest,
          statementsPerRequest: info?.statementsPerRequest ?? callsPerRequest,
          requests: info?.requests ?? 0,
          dbMsPerRequest: info?.statements.find((s) => s.fingerprint === query.fingerprint)?.dbMsPerRequest ?? 0,
        },
        data: { route },
        suggestion: lateral
          ? `run it for every item in one statement, with the list of keys as an array, keeping its LIMIT per item: ${lateral} (or join it into the query that produced the list)`
          : !batched
            ? 'fetch the rows in one statement: pass the list of values as an array (= ANY($1)), or a LATERAL join over unnest($1) when it has a LIMIT per item, or join it into the query that produced the list'
            : batched.grouped
              ? `compute it for every item in one statement, grouped by the key, with the list of keys as an array: ${batched.sql} (a key without rows gets no row: count 0, or NULL for the other aggregates), or join it into the query that produced the list`
              : `fetch the rows in one statement, with the list of values as an array: ${batched.sql} (or join it into the query that produced the list)`,
      });
    }
    return findings;
  },
});
