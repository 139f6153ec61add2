/**
 * EXPLAIN, safely. Every EXPLAIN runs inside a transaction that is rolled back, with a
 * statement_timeout, so that even `--analyze` of a write leaves the database as it was.
 */
import { castTypedParams } from '../analyze/parser.js';
import type { CapturedPlan, ExplainAs, PlanNode, PlanSettings } from '../model/plan.js';
import { arithmeticParamSites, castParamsAt, untypedParamSites } from '../analyze/parser.js';
import { EnvironmentError, InputError } from '../errors.js';
import { asServerError, type Session } from '../target/pg.js';
import { INTERNAL_MARK } from './statements.js';

export interface ExplainRequest {
  readonly sql: string;
  /** Values the replay used; undefined when unknown (then a generic plan is made). */
  readonly params?: readonly (string | null)[];
  /** Number of $n parameters in `sql`. */
  readonly paramCount: number;
  readonly analyze: boolean;
  readonly timeoutMs: number;
  readonly serverVersionNum: number;
  /**
   * Run inside the caller's open transaction, under a savepoint instead of BEGIN/ROLLBACK, so that
   * what the caller did in it (e.g. build a candidate index) is visible to the planner.
   */
  readonly savepoint?: boolean;
  /** The role and settings to plan as, set inside the EXPLAIN's transaction (or savepoint). */
  readonly as?: ExplainAs;
}

/** A role name as SQL: always quoted, as the user gave it (role names are case-sensitive). */
const quoteRole = (role: string) => `"${role.replace(/"/g, '""')}"`;

/**
 * Takes on the role and the settings of `as` for the rest of the open transaction (or savepoint):
 * `SET LOCAL ROLE` first, then each setting with `set_config(name, value, true)`, as the role, as the
 * application sets them. A rollback (to the savepoint) undoes both.
 */
export async function planAs(session: Session, as: ExplainAs | undefined): Promise<void> {
  if (as?.role !== undefined) await session.query(`SET LOCAL ROLE ${quoteRole(as.role)}`);
  for (const [name, value] of Object.entries(as?.settings ?? {}))
    await session.query(`SELECT ${INTERNAL_MARK} set_config($1, $2, true)`, [name, value]);
}

/**
 * The text a captured statement is explained with, by the capture and by index advice alike (the
 * advice's plans must be those of the statement the capture explained): the client's own text where
 * querygate sent it, else pg_stat_statements' normalized text with its typed parameters made casts
 * (`date $3` -> `$3::date`), which the server rejects as written.
 */
export function explainableSql(normalized: string, client?: { readonly sql: string }): string {
  return client?.sql ?? castTypedParams(normalized);
}

/**
 * Checks, before the run, that statements can be planned as `as` says: the role exists and this
 * session may `SET ROLE` to it, and every setting takes its value. A role or a value PostgreSQL
 * refuses is an input error (exit 2), a permission it lacks an environment one (exit 3): found at
 * the first EXPLAIN instead, it would leave every statement without a plan.
 */
export async function checkExplainAs(session: Session, as: ExplainAs | undefined): Promise<void> {
  if (as === undefined || (as.role === undefined && Object.keys(as.settings ?? {}).length === 0)) return;
  const given = [
    ...(as.role !== undefined ? [`role "${as.role}"`] : []),
    ...Object.entries(as.settings ?? {}).map(([name, value]) => `${name}=${value}`),
  ].join(', ');
  try {
    await session.query('BEGIN');
    await planAs(session, as);
  } catch (error) {
    const server = asServerError(error);
    if (!server) throw error;
    const message = `cannot plan statements as given (${given}: --explain-role, --explain-setting or the scenario's explain): ${server.message}`;
    if (server.code === '42501') {
      throw new EnvironmentError('PG_PERMISSION_DENIED', message, [
        "hint: querygate's role must be a member of the role it plans as (GRANT app_role TO querygate_role), and a setting only a superuser may change cannot be given",
      ]);
    }
    if (server.code === '22023' || server.code === '42704' || server.code === '22P02')
      throw new InputError('EXPLAIN_AS_INVALID', message);
    throw new EnvironmentError('PG_SERVER_ERROR', message);
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * The result: a plan, or the reason there is none (one line, for the report); `timedOut` when
 * the EXPLAIN ran into its statement_timeout (`--explain-timeout`).
 */
export type ExplainResult =
  | { readonly ok: true; readonly plan: CapturedPlan }
  | {
      readonly ok: false;
      readonly note: string;
      readonly timedOut?: boolean;
      /**
       * Where in `sql` (0-based, in characters) the server found a name it could not resolve (a column
       * that does not exist, a table missing from FROM): in a statement run inside a function, a
       * variable of the function.
       */
      readonly unresolvedAt?: number;
    };

/** `200 ms`, `10 s`, `2.5 s`. */
const formatTimeout = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${Number((ms / 1000).toFixed(1))} s`);

/** undefined_column, undefined_table ("missing FROM-clause entry for table"). */
const UNRESOLVED = new Set(['42703', '42P01']);

/** The text last sent to the server and what preceded it there: where an error's position points. */
interface SentText {
  prefix: string;
  text: string;
}

type ExplainJson = [{ Plan: PlanNode; 'Planning Time'?: number; 'Execution Time'?: number }];

/**
 * SQLSTATEs of a statement whose parameters PostgreSQL could not type: ambiguous operator or function
 * (42725), none that fits the types tried (42883), a type mismatch (42804), inconsistent types
 * deduced for a parameter (42P08), a parameter of undeterminable type (42P18).
 */
const UNTYPED_PARAMS = new Set(['42725', '42883', '42804', '42P08', '42P18']);

/**
 * Types tried, in order, for parameters that are the only operands of arithmetic. They stand for
 * constants pg_stat_statements replaced: integer literals (`:h + 6`, `10 + 5`) first, whose type
 * also keeps a comparison with an integer column indexable; then a decimal literal's, a large
 * integer's, a float's.
 */
const ARITHMETIC_TYPES = ['integer', 'numeric', 'bigint', 'double precision'];

/** Plans one statement with the best method the server and the known parameters allow. */
export async function explainStatement(session: Session, request: ExplainRequest): Promise<ExplainResult> {
  const { sql, params, paramCount, analyze } = request;
  const known = paramCount === 0 || (params !== undefined && params.length >= paramCount);
  // What was last sent to the server around `sql`, for the position of an error in it.
  const sent: SentText = { prefix: '', text: sql };
  try {
    await session.query(request.savepoint ? 'SAVEPOINT querygate_explain' : 'BEGIN');
    await session.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(request.timeoutMs))}`);
    await planAs(session, request.as);
    const settings = await readPlanSettings(session);
    let json: ExplainJson;
    let mode: CapturedPlan['mode'];
    let assumedTypes: Record<string, string> | undefined;
    if (known) {
      mode = analyze ? 'analyze' : paramCount > 0 ? 'params' : 'literal';
      const options = analyze ? 'ANALYZE, BUFFERS, FORMAT JSON' : 'FORMAT JSON';
      sent.prefix = `EXPLAIN ${INTERNAL_MARK} (${options}) `;
      json = await explainRows(session, `${sent.prefix}${sql}`, paramCount > 0 ? params : undefined);
    } else {
      mode = 'generic';
      // Before 16 there is no GENERIC_PLAN: prepare the statement and force the generic plan.
      if (request.serverVersionNum < 160000) await session.query('SET LOCAL plan_cache_mode = force_generic_plan');
      ({ json, assumedTypes } = await explainGeneric(session, sql, paramCount, request.serverVersionNum, sent));
    }
    const top = json[0];
    const root = top.Plan;
    return {
      ok: true,
      plan: {
        mode,
        ...(known && paramCount > 0 && params ? { params: params.slice(0, paramCount) } : {}),
        ...(assumedTypes ? { assumedTypes } : {}),
        root,
        totalCost: root['Total Cost'],
        ...(top['Planning Time'] !== undefined ? { planningMs: top['Planning Time'] } : {}),
        ...(top['Execution Time'] !== undefined ? { executionMs: top['Execution Time'] } : {}),
        ...(settings ? { settings } : {}),
      },
    };
  } catch (error) {
    const server = asServerError(error);
    const message = server?.message ?? (error instanceof Error ? error.message : String(error));
    if (server?.code === '57014') {
      return {
        ok: false,
        note: `EXPLAIN${analyze ? ' ANALYZE' : ''} cancelled after ${formatTimeout(request.timeoutMs)} by --explain-timeout`,
        timedOut: true,
      };
    }
    // The server counts characters from 1, over the whole statement it was sent; a position in a
    // text that is not `sql` as given (a cast added to a parameter) is not one in `sql`.
    const at = server?.position !== undefined && sent.text === sql ? server.position - 1 - sent.prefix.length : -1;
    return {
      ok: false,
      note: `EXPLAIN failed: ${message}`,
      ...(server && UNRESOLVED.has(server.code) && at >= 0 && at < sql.length ? { unresolvedAt: at } : {}),
    };
  } finally {
    if (request.savepoint) {
      await session.query('ROLLBACK TO SAVEPOINT querygate_explain').catch(() => undefined);
      await session.query('RELEASE SAVEPOINT querygate_explain').catch(() => undefined);
    } else {
      await session.query('ROLLBACK').catch(() => undefined);
    }
  }
}

/**
 * A generic plan of `sql`, whose parameter values are unknown. When PostgreSQL cannot type its
 * parameters (a statement normalized by pg_stat_statements: `WHERE id < $1 + $2`, `$1 * $2`), the
 * parameters that are the only operands of arithmetic are given a type, tried in the order of
 * ARITHMETIC_TYPES, and a parameter whose type PostgreSQL cannot determine at all is given `text`
 * (what an untyped literal in its place resolves to). The types given are returned with the plan.
 * Each try runs under a savepoint of the caller's transaction.
 */
async function explainGeneric(
  session: Session,
  sql: string,
  paramCount: number,
  serverVersionNum: number,
  sent: SentText,
): Promise<{ json: ExplainJson; assumedTypes?: Record<string, string> }> {
  const plan = async (text: string): Promise<ExplainJson> => {
    await session.query('SAVEPOINT querygate_generic');
    let prepared = false;
    sent.text = text;
    try {
      let json: ExplainJson;
      if (serverVersionNum >= 160000) {
        sent.prefix = `EXPLAIN ${INTERNAL_MARK} (GENERIC_PLAN, FORMAT JSON) `;
        json = await explainRows(session, `${sent.prefix}${text}`);
      } else {
        sent.prefix = 'PREPARE querygate_explain AS ';
        await session.query(`${sent.prefix}${text}`);
        // An error past this point is not in `text`.
        sent.prefix = '';
        sent.text = '';
        prepared = true;
        const nulls = Array.from({ length: paramCount }, () => 'NULL').join(', ');
        json = await explainRows(
          session,
          `EXPLAIN ${INTERNAL_MARK} (FORMAT JSON) EXECUTE querygate_explain${paramCount > 0 ? `(${nulls})` : ''}`,
        );
      }
      await session.query('RELEASE SAVEPOINT querygate_generic');
      return json;
    } catch (error) {
      await session.query('ROLLBACK TO SAVEPOINT querygate_generic');
      await session.query('RELEASE SAVEPOINT querygate_generic');
      throw error;
    } finally {
      // Prepared statements are not transactional: a rollback keeps them.
      if (prepared) await session.query('DEALLOCATE querygate_explain');
    }
  };
  // The parameter PostgreSQL could not determine the type of (42P18), which `text` gives one.
  const undetermined = (error: unknown): number | undefined => {
    const server = asServerError(error);
    const number = server?.code === '42P18' ? /parameter \$(\d+)/.exec(server.message)?.[1] : undefined;
    return number === undefined ? undefined : Number(number);
  };
  let firstError: unknown;
  try {
    return { json: await plan(sql) };
  } catch (error) {
    if (!UNTYPED_PARAMS.has(asServerError(error)?.code ?? '')) throw error;
    firstError = error;
  }
  const arithmetic = arithmeticParamSites(sql);
  const text = new Set<number>();
  const first = undetermined(firstError);
  if (first !== undefined) text.add(first);
  for (const type of arithmetic.length > 0 ? ARITHMETIC_TYPES : [undefined]) {
    // Parameters PostgreSQL could not type at all, one at a time as it names them.
    for (let tries = 0; tries <= paramCount; tries++) {
      const assumed = new Map<number, string>();
      let typed = type ? castParamsAt(sql, arithmetic, type) : sql;
      if (type) for (const site of arithmetic) assumed.set(site.number, type);
      for (const number of text) {
        typed = castParamsAt(typed, untypedParamSites(typed, number), 'text');
        assumed.set(number, 'text');
      }
      if (assumed.size === 0) break;
      try {
        const json = await plan(typed);
        const types = [...assumed].sort(([a], [b]) => a - b).map(([n, t]) => [`$${n}`, t] as const);
        return { json, assumedTypes: Object.fromEntries(types) };
      } catch (error) {
        if (!UNTYPED_PARAMS.has(asServerError(error)?.code ?? '')) throw error;
        const number = undetermined(error);
        if (number === undefined || text.has(number)) break;
        text.add(number);
      }
    }
  }
  throw firstError;
}

/**
 * work_mem and hash_mem_multiplier as the planner sees them. pg_settings (rather than SHOW) gives
 * work_mem in kB on every version and a missing hash_mem_multiplier (before 13) as no row.
 */
async function readPlanSettings(session: Session): Promise<PlanSettings | undefined> {
  const { rows } = await session.query<{ name: string; setting: string }>(
    `SELECT ${INTERNAL_MARK} name, setting FROM pg_settings WHERE name IN ('work_mem', 'hash_mem_multiplier')`,
  );
  const value = (name: string) => Number(rows.find((r) => r.name === name)?.setting ?? Number.NaN);
  const workMemKb = value('work_mem');
  const hashMemMultiplier = value('hash_mem_multiplier');
  if (!(workMemKb > 0)) return undefined;
  return { workMemKb, ...(hashMemMultiplier > 0 ? { hashMemMultiplier } : {}) };
}

async function explainRows(session: Session, sql: string, params?: readonly (string | null)[]): Promise<ExplainJson> {
  const { rows } = await session.query<{ 'QUERY PLAN': ExplainJson | string }>(sql, params);
  const value = rows[0]?.['QUERY PLAN'];
  return (typeof value === 'string' ? JSON.parse(value) : value) as ExplainJson;
}
