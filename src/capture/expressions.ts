/**
 * Whether PostgreSQL can index the expressions the captured plans sort or group by, or compare in
 * a scan's condition. An index in a sort's order, an index that serves a predicate on an expression,
 * or statistics on a grouping expression must be built on the expression, and PostgreSQL refuses one
 * whose functions are not IMMUTABLE (`date_trunc('month', ts)` and `date(ts)` on a timestamptz depend
 * on the session's TimeZone), or one that holds an aggregate. The rules are pure and cannot ask, so
 * the answer is part of the report (`RelationInfo.indexableExpressions`), with the catalog's reason
 * for each refusal (`RelationInfo.expressionRefusals`).
 */
import { conditionExpressions } from '../analyze/plan-conditions.js';
import { planKeys } from '../analyze/plan-keys.js';
import { walkPlan } from '../analyze/plan.js';
import type { ExpressionRefusal, QueryReport, RefusingFunction, RelationInfo } from '../model/report.js';
import { asServerError, type Session } from '../target/pg.js';
import { INTERNAL_MARK } from './statements.js';

const PROBE = 'querygate_expression_probe';
const VIEW = 'querygate_expression_view';

/** Conditions of a scan that may compare an expression an index could serve. */
const CONDITION_KEYS = ['Filter', 'Index Cond', 'Recheck Cond'] as const;

/** `schema.table`, each part quoted. */
const quoted = (r: RelationInfo) => `${quoteName(r.schema)}.${quoteName(r.table)}`;
const quoteName = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The relations, each with `indexableExpressions` (and `expressionRefusals`) for the expressions
 * over its columns that a captured plan sorts or groups by, or compares in a scan's condition: each
 * is tried as an index on an empty temporary copy of the table's columns, in a transaction that is
 * rolled back (the table itself is not touched, and no lock is taken on it), and a refused one is
 * looked up in the catalog. A relation whose copy cannot be made (no TEMP privilege, a read-only
 * server) is left without the fields: unknown.
 */
export async function checkKeyExpressions(
  session: Session,
  queries: readonly QueryReport[],
  relations: readonly RelationInfo[],
): Promise<RelationInfo[]> {
  const wanted = new Map<string, Set<string>>();
  const want = (relation: RelationInfo | undefined, sql: string) => {
    if (!relation) return;
    const set = wanted.get(relation.name) ?? new Set<string>();
    set.add(sql);
    wanted.set(relation.name, set);
  };
  for (const query of queries) {
    if (!query.plan) continue;
    for (const { node } of walkPlan(query.plan.root)) {
      for (const key of planKeys(node)) {
        if (key.expression && key.scan) want(relationOfScan(key.scan, query, relations), key.expression.sql);
      }
      if (node['Relation Name'] === undefined) continue;
      const relation = relationOfScan(node, query, relations);
      for (const field of CONDITION_KEYS) {
        const text = node[field];
        if (typeof text !== 'string') continue;
        for (const expression of conditionExpressions(text, relation)) want(relation, expression.sql);
      }
    }
  }
  const out: RelationInfo[] = [];
  for (const relation of relations) {
    const expressions = wanted.get(relation.name);
    const checked = expressions ? await tryIndexes(session, relation, [...expressions]) : undefined;
    out.push(
      checked
        ? {
            ...relation,
            indexableExpressions: checked.indexable,
            ...(Object.keys(checked.refusals).length > 0 ? { expressionRefusals: checked.refusals } : {}),
          }
        : relation,
    );
  }
  return out;
}

/** The report's relation a scan reads (plans name tables without their schema). */
function relationOfScan(
  scan: { readonly 'Relation Name'?: string; readonly Schema?: string },
  query: QueryReport,
  relations: readonly RelationInfo[],
): RelationInfo | undefined {
  const table = scan['Relation Name'];
  const matches = relations.filter((r) => r.table === table && (scan.Schema === undefined || r.schema === scan.Schema));
  return matches.find((r) => query.relations.includes(r.name)) ?? matches[0];
}

/**
 * SQLSTATEs of CREATE INDEX refusing an expression: an aggregate (grouping_error), a window function
 * (windowing_error), a function that is not IMMUTABLE (invalid_object_definition).
 */
const AGGREGATE = new Set(['42803', '42P20']);
const MUTABLE = '42P17';

/**
 * Each expression: true when an index on it can be created, false when PostgreSQL refuses it, and
 * for each refusal why, from the catalog.
 */
async function tryIndexes(
  session: Session,
  relation: RelationInfo,
  expressions: readonly string[],
): Promise<{ indexable: Record<string, boolean>; refusals: Record<string, ExpressionRefusal> } | undefined> {
  const indexable: Record<string, boolean> = {};
  const refusals: Record<string, ExpressionRefusal> = {};
  try {
    await session.query('BEGIN');
    await session.query(`SET LOCAL lock_timeout = 1000`);
    await session.query(`CREATE ${INTERNAL_MARK} TEMPORARY TABLE ${PROBE} (LIKE ${quoted(relation)}) ON COMMIT DROP`);
    for (const expression of expressions) {
      await session.query('SAVEPOINT querygate_expression');
      try {
        await session.query(`CREATE ${INTERNAL_MARK} INDEX ON ${PROBE} ((${expression}))`);
        indexable[expression] = true;
      } catch (error) {
        const server = asServerError(error);
        // A cancelled statement (an interrupt, a timeout) says nothing of the expression.
        if (server === undefined || server.code === '57014' || server.code === '55P03') throw error;
        indexable[expression] = false;
        await session.query('ROLLBACK TO SAVEPOINT querygate_expression');
        refusals[expression] = await refusalOf(session, expression, server.code, server.message);
      }
      await session.query('ROLLBACK TO SAVEPOINT querygate_expression');
    }
    return { indexable, refusals };
  } catch (error) {
    if (asServerError(error) === undefined) throw error;
    return undefined;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

const VOLATILITY: Readonly<Record<string, RefusingFunction['volatility']>> = { s: 'stable', v: 'volatile' };
const KIND: Readonly<Record<string, RefusingFunction['kind']>> = { a: 'aggregate', w: 'window' };

/**
 * Why PostgreSQL refused an index on the expression: the functions it calls (directly, as a cast, as
 * the function of an operator, or to convert a value through text) that are not IMMUTABLE, or that
 * are aggregates or window functions, as the catalog says. The server resolves them: the expression
 * becomes a temporary view over the empty copy, and the view's stored query tree
 * (`pg_rewrite.ev_action`, PostgreSQL's node format) names every function (`:funcid`, `:aggfnoid`,
 * `:winfnoid`) and operator (`:opno`) it resolved, and the types of each conversion through text
 * (`COERCEVIAIO`); pg_proc says what each is. (The view's pg_depend rows would not do: built-in
 * functions are pinned, and no dependency on them is recorded.) Where the tree names none (the
 * source of a conversion that is not a plain column), the server's message stands alone.
 */
async function refusalOf(
  session: Session,
  expression: string,
  code: string | undefined,
  message: string,
): Promise<ExpressionRefusal> {
  const reason: ExpressionRefusal['reason'] = AGGREGATE.has(code ?? '')
    ? 'aggregate'
    : code === MUTABLE
      ? 'mutable'
      : 'other';
  let functions: RefusingFunction[] = [];
  try {
    await session.query(`CREATE ${INTERNAL_MARK} TEMPORARY VIEW ${VIEW} AS SELECT (${expression}) AS e FROM ${PROBE}`);
    const { rows } = await session.query<{
      function: string;
      volatility: string;
      kind: string;
      operator: string | null;
      conversion: string | null;
    }>(
      `WITH ${INTERNAL_MARK} tree AS (
         SELECT ev_action::text AS nodes FROM pg_catalog.pg_rewrite WHERE ev_class = 'pg_temp.${VIEW}'::regclass),
       calls AS (
         SELECT m[1] AS field, m[2]::oid AS id FROM tree, regexp_matches(tree.nodes, ':(funcid|aggfnoid|winfnoid|opno) ([0-9]+)', 'g') AS m),
       conversions AS (
         -- a conversion through text: the target type's input function, and the source's output
         -- function when the source is a column
         SELECT t.typinput::oid AS id, 'to ' || pg_catalog.format_type(t.oid, NULL) AS conversion
           FROM tree, regexp_matches(tree.nodes, ':resulttype ([0-9]+) :resultcollid [0-9]+ :coerceformat', 'g') AS m
           JOIN pg_catalog.pg_type t ON t.oid = m[1]::oid
         UNION
         SELECT s.typoutput::oid, 'of ' || pg_catalog.format_type(s.oid, NULL) || ' to ' || pg_catalog.format_type(t.oid, NULL)
           FROM tree, regexp_matches(tree.nodes, '[{]COERCEVIAIO :arg [{]VAR [^{}]*:vartype ([0-9]+)[^{}]*[}] :resulttype ([0-9]+)', 'g') AS m
           JOIN pg_catalog.pg_type s ON s.oid = m[1]::oid
           JOIN pg_catalog.pg_type t ON t.oid = m[2]::oid)
       SELECT DISTINCT p.oid::regprocedure::text AS function, p.provolatile::text AS volatility,
              p.prokind::text AS kind, o.oprname::text AS operator, NULL::text AS conversion
         FROM calls c
         LEFT JOIN pg_catalog.pg_operator o ON c.field = 'opno' AND o.oid = c.id
         JOIN pg_catalog.pg_proc p ON p.oid = CASE WHEN c.field = 'opno' THEN o.oprcode::oid ELSE c.id END
       UNION
       SELECT p.oid::regprocedure::text, p.provolatile::text, p.prokind::text, NULL, c.conversion
         FROM conversions c JOIN pg_catalog.pg_proc p ON p.oid = c.id
       ORDER BY 1`,
    );
    functions = rows.flatMap((r): RefusingFunction[] => {
      const kind = KIND[r.kind];
      const volatility = VOLATILITY[r.volatility];
      if (!kind && !volatility) return []; // IMMUTABLE: not the cause
      return [
        {
          function: r.function,
          ...(kind ? { kind } : { volatility: volatility! }),
          ...(r.operator ? { operator: r.operator } : {}),
          ...(r.conversion ? { conversion: r.conversion } : {}),
        },
      ];
    });
  } catch (error) {
    const server = asServerError(error);
    if (server === undefined || server.code === '57014' || server.code === '55P03') throw error;
  }
  return { reason, functions, message };
}
