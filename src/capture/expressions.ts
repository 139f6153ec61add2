/**
 * Whether PostgreSQL can index the expressions the captured plans sort or group by. An index in a
 * sort's order, or statistics on a grouping expression, must be built on the expression, and
 * PostgreSQL refuses one whose functions are not IMMUTABLE (`date_trunc('month', ts)` on a
 * timestamptz depends on the session's TimeZone). The rules are pure and cannot ask, so the answer is
 * part of the report (`RelationInfo.indexableExpressions`).
 */
import { planKeys } from '../analyze/plan-keys.js';
import { walkPlan } from '../analyze/plan.js';
import type { QueryReport, RelationInfo } from '../model/report.js';
import { asServerError, type Session } from '../target/pg.js';
import { INTERNAL_MARK } from './statements.js';

const PROBE = 'querygate_expression_probe';

/** `schema.table`, each part quoted. */
const quoted = (r: RelationInfo) => `${quoteName(r.schema)}.${quoteName(r.table)}`;
const quoteName = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The relations, each with `indexableExpressions` for the expressions over its columns that a
 * captured plan sorts or groups by: each is tried as an index on an empty temporary copy of the
 * table's columns, in a transaction that is rolled back (the table itself is not touched, and no
 * lock is taken on it). A relation whose copy cannot be made (no TEMP privilege, a read-only
 * server) is left without the field: unknown.
 */
export async function checkKeyExpressions(
  session: Session,
  queries: readonly QueryReport[],
  relations: readonly RelationInfo[],
): Promise<RelationInfo[]> {
  const wanted = new Map<string, Set<string>>();
  for (const query of queries) {
    if (!query.plan) continue;
    for (const { node } of walkPlan(query.plan.root)) {
      for (const key of planKeys(node)) {
        if (!key.expression || !key.scan) continue;
        const relation = relationOfScan(key.scan, query, relations);
        if (!relation) continue;
        const set = wanted.get(relation.name) ?? new Set<string>();
        set.add(key.expression.sql);
        wanted.set(relation.name, set);
      }
    }
  }
  const out: RelationInfo[] = [];
  for (const relation of relations) {
    const expressions = wanted.get(relation.name);
    const checked = expressions ? await tryIndexes(session, relation, [...expressions]) : undefined;
    out.push(checked ? { ...relation, indexableExpressions: checked } : relation);
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

/** Each expression: true when an index on it can be created, false when PostgreSQL refuses it. */
async function tryIndexes(
  session: Session,
  relation: RelationInfo,
  expressions: readonly string[],
): Promise<Record<string, boolean> | undefined> {
  const result: Record<string, boolean> = {};
  try {
    await session.query('BEGIN');
    await session.query(`SET LOCAL lock_timeout = 1000`);
    await session.query(`CREATE ${INTERNAL_MARK} TEMPORARY TABLE ${PROBE} (LIKE ${quoted(relation)}) ON COMMIT DROP`);
    for (const expression of expressions) {
      await session.query('SAVEPOINT querygate_expression');
      try {
        await session.query(`CREATE ${INTERNAL_MARK} INDEX ON ${PROBE} ((${expression}))`);
        result[expression] = true;
      } catch (error) {
        const server = asServerError(error);
        // A cancelled statement (an interrupt, a timeout) says nothing of the expression.
        if (server === undefined || server.code === '57014' || server.code === '55P03') throw error;
        result[expression] = false;
      }
      await session.query('ROLLBACK TO SAVEPOINT querygate_expression');
    }
    return result;
  } catch (error) {
    if (asServerError(error) === undefined) throw error;
    return undefined;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}
