/**
 * Row-level security and the role plans are made as. A table with row security enabled filters
 * every query of a role its policies apply to (`tenant_id = current_setting('app.tenant')::int`),
 * and the planner plans that filter: an index on the policy's column serves the query. A
 * superuser, a role with BYPASSRLS and the table's owner (unless the table FORCEs row security) are
 * not filtered, so a plan they make has no policy in it: a sequential scan of every tenant's rows
 * where the application reads one tenant's through an index. This module finds the statements whose
 * plan was made that way while the role that ran them (pg_stat_statements' `userid`) is filtered.
 */
import { quoteIdentifier } from '../analyze/parser.js';
import { relationPrivileges } from '../analyze/sql-tree.js';
import type { ExplainAs } from '../model/plan.js';
import { statementKey, type QueryReport } from '../model/report.js';
import type { Session } from '../target/pg.js';
import { INTERNAL_MARK } from './statements.js';

/** Why a role is not filtered by a table's policies, as PostgreSQL decides it (`check_enable_rls`). */
export type RowSecurityBypass = 'superuser' | 'BYPASSRLS' | 'owner';

/** A statement planned by a role that bypasses the policies that filter the role that ran it. */
export interface BypassedRowSecurity {
  /** The role the plan was made as. */
  readonly planRole: string;
  /** The tables the statement names whose policies the plan left out, with why. */
  readonly tables: readonly { readonly name: string; readonly bypass: RowSecurityBypass }[];
  /** The roles that ran the statement and that the policies filter. */
  readonly ranAs: readonly string[];
  /** The settings the tables' policies read (`current_setting('app.tenant')`), to plan as the application does. */
  readonly settings: readonly string[];
}

interface RoleRow {
  name: string;
  forced: boolean;
  roleid: string;
  role: string;
  planner: boolean;
  bypass: RowSecurityBypass | null;
}

/**
 * The statements (by `statementKey`) whose plan leaves out row-level security that applied when they
 * ran. Only the tables a statement names are judged: a table read through a view is checked against
 * the view's owner, not the role that runs the statement. `roles` are the roles (OIDs) that ran each
 * statement (`statementRoles`); a statement none ran (every call failed) is not judged.
 */
export async function findBypassedRowSecurity(
  session: Session,
  queries: readonly QueryReport[],
  roles: ReadonlyMap<string, readonly string[]>,
  explainAs: ExplainAs | undefined,
): Promise<Map<string, BypassedRowSecurity>> {
  const named = new Map<string, string[]>();
  for (const q of queries) {
    if (!q.plan || !roles.get(statementKey(q))?.length) continue;
    let relations: ReturnType<typeof relationPrivileges>;
    try {
      relations = relationPrivileges(q.plan.sql ?? q.query);
    } catch {
      continue;
    }
    named.set(
      statementKey(q),
      relations.map((r) => (r.schema ? `${quoteIdentifier(r.schema)}.` : '') + quoteIdentifier(r.table)),
    );
  }
  const names = [...new Set([...named.values()].flat())];
  const roleIds = [...new Set([...roles.values()].flat())];
  const found = new Map<string, BypassedRowSecurity>();
  if (names.length === 0) return found;
  // One row per (table with row security enabled, role that ran a statement or plans them).
  const { rows } = await session.query<RoleRow & { relation: string }>(
    `SELECT ${INTERNAL_MARK} t.name AS relation, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
            c.relforcerowsecurity AS forced, r.oid::text AS roleid, r.rolname AS role,
            r.rolname = coalesce($3::text, current_user) AS planner,
            CASE WHEN r.rolsuper THEN 'superuser'
                 WHEN r.rolbypassrls THEN 'BYPASSRLS'
                 WHEN NOT c.relforcerowsecurity AND pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE') THEN 'owner'
            END AS bypass
       FROM unnest($1::text[]) AS t(name)
       JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN pg_catalog.pg_roles r
      WHERE c.relrowsecurity AND c.relkind IN ('r', 'p')
        AND (r.oid = ANY($2::oid[]) OR r.rolname = coalesce($3::text, current_user))`,
    [names, roleIds, explainAs?.role ?? null],
  );
  if (rows.length === 0) return found;
  const settings = await policySettings(session, [...new Set(rows.map((r) => r.name))]);
  for (const [key, relations] of named) {
    const ran = new Set(roles.get(key) ?? []);
    const mine = rows.filter((r) => relations.includes(r.relation));
    const tables: { name: string; bypass: RowSecurityBypass }[] = [];
    const filtered = new Set<string>();
    let planRole: string | undefined;
    for (const table of new Set(mine.map((r) => r.name))) {
      const planner = mine.find((r) => r.name === table && r.planner);
      if (!planner?.bypass) continue;
      // The runners its policies filter; a runner that bypasses them too ran what the plan shows.
      const runners = mine.filter((r) => r.name === table && ran.has(r.roleid) && r.bypass === null);
      if (runners.length === 0) continue;
      planRole = planner.role;
      tables.push({ name: table, bypass: planner.bypass });
      for (const r of runners) filtered.add(r.role);
    }
    if (planRole === undefined) continue;
    found.set(key, {
      planRole,
      tables,
      ranAs: [...filtered].sort(),
      settings: [...new Set(tables.flatMap((t) => settings.get(t.name) ?? []))].sort(),
    });
  }
  return found;
}

/** The settings each table's policies read with `current_setting('name')`, by quoted table name. */
async function policySettings(session: Session, tables: readonly string[]): Promise<Map<string, string[]>> {
  const { rows } = await session.query<{ name: string; setting: string }>(
    `SELECT DISTINCT ${INTERNAL_MARK} t.name, m[1] AS setting
       FROM unnest($1::text[]) AS t(name)
       JOIN pg_catalog.pg_policy p ON p.polrelid = pg_catalog.to_regclass(t.name)
       CROSS JOIN LATERAL regexp_matches(
         coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
         coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), ''),
         'current_setting\\(''([^'']+)''', 'g') AS m`,
    [tables],
  );
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.name, [...(out.get(r.name) ?? []), r.setting]);
  return out;
}

/** `--explain-role billing_app --explain-setting app.tenant=<value>`: how to plan as the runner does. */
export function explainAsHint(found: Pick<BypassedRowSecurity, 'ranAs' | 'settings'>): string {
  const role = found.ranAs[0];
  return [
    ...(role !== undefined ? [`--explain-role ${role}`] : []),
    ...found.settings.map((s) => `--explain-setting ${s}=<value>`),
  ].join(' ');
}

/** One line for a plan note, a finding's caveat and the run's warning. */
export function describeBypass(found: BypassedRowSecurity): string {
  const reasons = [...new Set(found.tables.map((t) => t.bypass))];
  const why = reasons
    .map((r) => (r === 'superuser' ? 'a superuser' : r === 'BYPASSRLS' ? 'a role with BYPASSRLS' : "the table's owner"))
    .join(', ');
  return (
    `planned as "${found.planRole}" (${why}), which bypasses the row-level security of ${found.tables.map((t) => t.name).join(', ')}, ` +
    `while the statement ran as ${found.ranAs.map((r) => `"${r}"`).join(', ')}, whose policies filter it: ` +
    `the plan, its findings and index advice may not be the application's; plan as it does with ${explainAsHint(found)} ` +
    '(or explain: in the scenario)'
  );
}
