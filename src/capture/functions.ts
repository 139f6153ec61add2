/**
 * The database's own functions and triggers, read from the catalog, and the report's statements
 * linked to them (`analyze/functions.ts`): which functions a top-level statement runs, and which
 * function holds each statement that ran inside one.
 */
import {
  linkFunctions,
  readFunctionBody,
  type FunctionSource,
  type TriggerSource,
  type WriteEvent,
} from '../analyze/functions.js';
import type { QueryReport } from '../model/report.js';
import type { Session } from '../target/pg.js';
import { INTERNAL_MARK } from './statements.js';

/** At most this many functions are read: a schema with more is left to the first ones (by oid). */
const MAX_FUNCTIONS = 5000;

/**
 * The PL/pgSQL and SQL functions outside the system schemas and extensions, and the triggers that
 * run them (internal ones, such as foreign keys', and disabled ones left out).
 */
export async function readFunctions(
  session: Session,
): Promise<{ functions: FunctionSource[]; triggers: TriggerSource[] }> {
  const { rows } = await session.query<{
    oid: number;
    schema: string;
    name: string;
    language: string;
    definition: string | null;
    source: string | null;
    names: string[] | null;
    types: string[] | null;
  }>(
    `SELECT ${INTERNAL_MARK} p.oid::int AS oid, n.nspname AS schema, p.proname AS name, l.lanname AS language,
            CASE WHEN l.lanname = 'plpgsql' THEN pg_catalog.pg_get_functiondef(p.oid) END AS definition,
            p.prosrc AS source,
            -- proargnames names every argument, OUT ones too; proargtypes only the input ones.
            CASE WHEN p.proargmodes IS NULL THEN p.proargnames
                 ELSE ARRAY(SELECT p.proargnames[k] FROM pg_catalog.generate_subscripts(p.proargmodes, 1) AS k
                             WHERE p.proargmodes[k] IN ('i', 'b', 'v') ORDER BY k) END AS names,
            (SELECT pg_catalog.array_agg(pg_catalog.format_type(t.oid, NULL) ORDER BY t.i)
               FROM pg_catalog.unnest(p.proargtypes::oid[]) WITH ORDINALITY AS t(oid, i)) AS types
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      WHERE l.lanname IN ('plpgsql', 'sql') AND p.prokind IN ('f', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e')
      ORDER BY p.oid
      LIMIT ${MAX_FUNCTIONS}`,
  );
  const functions = rows.map((r): FunctionSource => {
    const types = r.types ?? [];
    return {
      oid: r.oid,
      schema: r.schema,
      name: r.name,
      language: r.language,
      definition: r.definition ?? '',
      source: r.source ?? '',
      parameters: types.map((type, i) => ({ name: r.names?.[i] ?? '', type })),
    };
  });
  const triggers = await session.query<{
    name: string;
    schema: string;
    table: string;
    type: number;
    fn: number;
    columns: Record<string, string> | null;
  }>(
    `SELECT ${INTERNAL_MARK} t.tgname AS name, n.nspname AS schema, c.relname AS table, t.tgtype::int AS type, t.tgfoid::int AS fn,
            (SELECT pg_catalog.jsonb_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
               FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'`,
  );
  return {
    functions,
    triggers: triggers.rows.map((t) => ({
      name: t.name,
      schema: t.schema,
      table: t.table,
      // pg_trigger.tgtype: bit 2 INSERT, bit 3 DELETE, bit 4 UPDATE.
      events: (
        [
          [4, 'insert'],
          [8, 'delete'],
          [16, 'update'],
        ] as const
      ).flatMap(([bit, event]): WriteEvent[] => ((t.type & bit) !== 0 ? [event] : [])),
      functionOid: t.fn,
      columns: t.columns ?? {},
    })),
  };
}

/**
 * The report's statements linked to the functions that run them (see `linkFunctions`), with the
 * declared types of the variables of each nested statement's functions (by fingerprint).
 */
export async function linkNestedStatements(
  session: Session,
  queries: readonly QueryReport[],
): Promise<{ queries: QueryReport[]; types: ReadonlyMap<string, ReadonlyMap<string, string>> }> {
  if (queries.length === 0) return { queries: [...queries], types: new Map() };
  const { functions, triggers } = await readFunctions(session);
  if (functions.length === 0) return { queries: [...queries], types: new Map() };
  return linkFunctions(queries, functions.map(readFunctionBody), triggers);
}
