/** Applies schema and seed files, and checks workload statements against the target before the run. */
import { createHash } from 'node:crypto';
import {
  caretLines,
  caretLinesInFile,
  positionInFile,
  quoteIdentifier,
  splitStatements,
  statementKind,
  statementPosition,
} from '../analyze/parser.js';
import { INTERNAL_MARK } from '../capture/statements.js';
import { EnvironmentError, type EnvironmentErrorCode, InputError, type InputErrorCode } from '../errors.js';
import {
  nodesOf,
  parseTree,
  relationPrivileges,
  sequenceUses,
  type SequenceCall,
  type TablePrivilege,
} from '../analyze/sql-tree.js';
import type { SetupFile, WorkloadStatement } from '../model/workload.js';
import { interruptible } from '../target/interruptible.js';
import { asServerError, type ServerError, type Session } from '../target/pg.js';
import type { Target } from '../target/target.js';
import { createStatementValues } from '../workload/generators.js';

/**
 * Applies a workload's schema and seed files, then VACUUM ANALYZE (embedded) or ANALYZE (external):
 * always on the embedded database, on an external one only when the user asked (`--setup`);
 * otherwise returns a warning for the report. `check` runs once the files are applied (whether or
 * not there were any), before their transaction commits where they run in one: the checks a setup
 * file can make pass (`Target.checkStatistics`), whose failure then leaves nothing behind.
 */
export async function prepareDatabase(
  control: Session,
  kind: 'embedded' | 'external',
  files: readonly SetupFile[],
  allowed: boolean,
  step: (message: string) => void,
  check: () => Promise<void> = async () => undefined,
): Promise<string | undefined> {
  if (files.length === 0) {
    await check();
    return undefined;
  }
  if (kind === 'external' && !allowed) {
    await check();
    return `setup files not applied to the external database (${files.map((f) => f.path).join(', ')}): pass --setup to apply them`;
  }
  for (const file of files) step(`applying ${file.path}`);
  if (kind === 'external') {
    // On a database of the user's, a file that fails half-way should leave nothing behind: the
    // files run in one transaction, unless a statement cannot run in one (VACUUM, CONCURRENTLY...).
    const atomic = files.every((f) => splitStatements(f.sql, f.path).every((st) => transactional(st.sql)));
    if (atomic) await control.query('BEGIN');
    let applied = false;
    try {
      await applySetupFiles(control, files);
      applied = true;
      await check();
      if (atomic) await control.query('COMMIT');
    } catch (error) {
      if (!atomic) throw error;
      await control.query('ROLLBACK').catch(() => undefined);
      const rolledBack = (message: string) => `${message} (rolled back: no setup file was applied)`;
      if (error instanceof InputError)
        throw new InputError(error.code as InputErrorCode, rolledBack(error.message), error.details);
      // A statement of the files that failed for its environment (a privilege); the checks after
      // the files say what to change themselves.
      if (!applied && error instanceof EnvironmentError)
        throw new EnvironmentError(error.code as EnvironmentErrorCode, rolledBack(error.message), error.details);
      throw error;
    }
    step('analyzing tables');
    await control.query('ANALYZE');
    return undefined;
  }
  // On the throwaway database, VACUUM too: it sets the visibility map, without which the planner's
  // choice between an index-only scan and a bitmap scan depends on when autovacuum last ran, and two
  // runs of one workload could differ in plan. VACUUM marks a page all-visible only once the commit
  // of its rows is flushed, which the embedded server's synchronous_commit=off would delay.
  await control.query('SET synchronous_commit = on');
  await applySetupFiles(control, files);
  await control.query('RESET synchronous_commit');
  await check();
  step('vacuuming and analyzing tables');
  await control.query('VACUUM ANALYZE');
  return undefined;
}

/**
 * SHA-256 of the setup files' contents, in the order they are applied (not of their paths, which
 * differ between checkouts). Two runs on the embedded server with the same digest built the same
 * schema and data: `compare` tells a plan that changed with them from one that only ANALYZE's random
 * sample changed.
 */
export function setupDigest(files: readonly SetupFile[]): string {
  const hash = createHash('sha256');
  // A NUL cannot occur in PostgreSQL text: it separates the files unambiguously.
  for (const file of files) hash.update(file.sql).update('\0');
  return hash.digest('hex');
}

/** State of the session that ran the setup files, which no other session sees. */
export interface SetupSessionState {
  /** Temporary relations the setup files made (they live and die with that session). */
  readonly temporaryRelations: readonly string[];
  /** Its search_path when the files were done (a `SET search_path` of a file holds there only). */
  readonly searchPath: string;
}

export interface SetupResult {
  /** The warning of a setup that was not applied (an external database without --setup). */
  readonly skipped?: string;
  /** Undefined when no setup file ran. */
  readonly session?: SetupSessionState;
}

/**
 * Applies the setup files (`prepareDatabase`) on a session of their own, closed before the run
 * opens the sessions that check, explain and measure statements. Those are then like the
 * connections that replay the statements (or the application's): a role or database setting a file
 * made (`ALTER ROLE CURRENT_USER SET search_path = app`) applies to them, and nothing of the setup
 * session's own state does (a `SET`, a temporary table). `before` runs first, on the same session.
 * With `signal`, an interrupt cancels the statement in flight (a long seed or VACUUM).
 */
export async function setUpDatabase(
  target: Target,
  files: readonly SetupFile[],
  options: {
    readonly allowed: boolean;
    readonly step: (message: string) => void;
    readonly signal?: AbortSignal;
    readonly before?: (session: Session) => Promise<void>;
    /** Checks made after the files, before their transaction commits (`prepareDatabase`'s `check`). */
    readonly check?: (session: Session) => Promise<void>;
  },
): Promise<SetupResult> {
  if (files.length === 0 && !options.before && !options.check) return {};
  const session = await target.connect('querygate-setup');
  try {
    await options.before?.(session);
    const setup = options.signal
      ? interruptible(session, options.signal, () => target.connect('querygate-cancel'))
      : session;
    const check = options.check;
    const skipped = await prepareDatabase(
      setup,
      target.kind,
      files,
      options.allowed,
      options.step,
      check ? () => check(session) : undefined,
    );
    if (skipped !== undefined || files.length === 0) return skipped !== undefined ? { skipped } : {};
    const { rows } = await session.query<{ relname: string | null; path: string }>(
      `SELECT ${INTERNAL_MARK} pg_catalog.current_setting('search_path') AS path, c.relname
         FROM (SELECT 1) AS one
         LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = pg_catalog.pg_my_temp_schema()
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')`,
    );
    return {
      session: {
        temporaryRelations: rows.map((r) => r.relname).filter((name): name is string => name !== null),
        searchPath: rows[0]?.path ?? '',
      },
    };
  } finally {
    await session.close();
  }
}

/** Statements PostgreSQL refuses inside a transaction block, and transaction control itself. */
const NOT_IN_TRANSACTION = new Set([
  'VacuumStmt',
  'CreatedbStmt',
  'DropdbStmt',
  'AlterSystemStmt',
  'CreateTableSpaceStmt',
  'DropTableSpaceStmt',
  'TransactionStmt',
  'CreateSubscriptionStmt',
  'DropSubscriptionStmt',
]);

/** True when the statement can run inside BEGIN ... COMMIT. */
function transactional(sql: string): boolean {
  const [statement] = parseTree(sql);
  if (!statement) return true;
  const [type, body] = Object.entries(statement)[0] as [string, Record<string, unknown>];
  if (NOT_IN_TRANSACTION.has(type)) return false;
  // CREATE INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY.
  if (type === 'IndexStmt' && body.concurrent) return false;
  if (type === 'ReindexStmt' && JSON.stringify(body.params ?? []).includes('concurrently')) return false;
  return true;
}

/**
 * Runs each file statement by statement (simple protocol; not through psql, so its meta-commands and
 * COPY FROM STDIN data are refused when the file is read), so that a failure names the file, line and
 * column of the statement (and of the error, where the server gives a position). A failure of the
 * SQL itself is an input error (exit 2); one of the environment the statement ran in (a privilege
 * the role lacks, an extension the server does not have, the server out of disk or memory: see
 * `environmentFailure`) is an environment error (exit 3), as the same failure of a workload
 * statement is.
 */
export async function applySetupFiles(session: Session, files: readonly SetupFile[]): Promise<void> {
  // Asked before the files: a failed statement aborts the transaction they may run in.
  let role: string | undefined;
  if (files.length > 0) {
    const { rows } = await session.query<{ role: string }>(`SELECT ${INTERNAL_MARK} current_user AS role`);
    role = rows[0]?.role;
  }
  for (const file of files) {
    for (const statement of splitStatements(file.sql, file.path)) {
      try {
        await session.query(statement.sql);
      } catch (error) {
        const server = asServerError(error);
        if (!server) throw error;
        const offset = server.position ? server.position - 1 : undefined;
        // A run-time error has no position: name the statement.
        const at =
          offset === undefined
            ? `${file.path}:${statement.line}`
            : (({ line, column }) => `${file.path}:${line}:${column}`)(
                positionInFile(statement.sql, offset, statement.start),
              );
        const details = offset === undefined ? [] : caretLines(statement.sql, offset, statement.start.line);
        const environment = environmentFailure(server, statement.sql, role);
        if (environment) {
          throw new EnvironmentError(
            environment.code,
            `${at}: setup failed: ${server.message}${environment.advice ? `: ${environment.advice}` : ''}`,
            details,
          );
        }
        throw new InputError('SQL_FAILED', `${at}: setup failed: ${server.message}`, details);
      }
    }
  }
}

/** SQLSTATE classes of failures of the server or its resources, not of the SQL sent. */
const ENVIRONMENT_CLASSES: ReadonlySet<string> = new Set([
  '08', // connection exception
  '53', // insufficient resources: disk full, out of memory, too many connections
  '57', // operator intervention: the server shutting down, a statement cancelled or timed out
  '58', // system error: a file the server cannot read or write, an I/O error
  'XX', // internal error: a corrupted page, a bug of the server
]);

/**
 * Why a setup statement that failed with `server` failed for its environment rather than its SQL,
 * with what to do; undefined for a genuine error of the SQL (a syntax error, a missing column, a
 * duplicate key). A privilege the role lacks (42501), an extension the server does not have
 * (CREATE EXTENSION failing as not supported), a lock held by another session or a deadlock with
 * one, and the classes in `ENVIRONMENT_CLASSES`.
 */
export function environmentFailure(
  server: ServerError,
  sql: string,
  role: string | undefined,
): { code: EnvironmentErrorCode; advice?: string } | undefined {
  if (server.code === '42501') {
    return {
      code: 'PG_PERMISSION_DENIED',
      advice:
        `role ${role ?? 'of the connection'} lacks a privilege the setup files need: apply them as a role that has it ` +
        `(the owner of the objects they change, or a superuser), or grant it`,
    };
  }
  const [statement] = parseTree(sql);
  if (server.code === '0A000' && statement && 'CreateExtensionStmt' in statement) {
    return {
      code: 'PG_SERVER_ERROR',
      advice: 'the server does not have this extension: install its package on the server, or remove the statement',
    };
  }
  if (server.code === '55P03' || server.code.startsWith('40') || ENVIRONMENT_CLASSES.has(server.code.slice(0, 2))) {
    return { code: 'PG_SERVER_ERROR' };
  }
  return undefined;
}

/**
 * The GRANT that lifts a "permission denied for schema|function|sequence <name>" error, for `role`.
 * Table privileges are derived from the statements instead (`missingTableGrants`).
 */
export function missingGrant(message: string, role: string): string | undefined {
  const match = /permission denied for (schema|sequence|function) (\S+)/.exec(message);
  if (!match) return undefined;
  const [, kind, name] = match;
  const grantee = quoteIdentifier(role);
  if (kind === 'schema') return `GRANT USAGE ON SCHEMA ${quoteIdentifier(name!)} TO ${grantee};`;
  if (kind === 'function') return `GRANT EXECUTE ON FUNCTION ${name} TO ${grantee};`;
  return `GRANT USAGE ON SEQUENCE ${name} TO ${grantee};`;
}

/**
 * The GRANTs that give the current role the table privileges `statements` need and it lacks: the
 * privileges each statement needs on each relation, from its parse tree (`relationPrivileges`:
 * ON CONFLICT DO UPDATE needs UPDATE, RETURNING needs SELECT, ...), checked with
 * has_table_privilege, one GRANT per relation, schema-qualified as the catalog resolves the name.
 */
export async function missingTableGrants(
  session: Session,
  statements: readonly string[],
  role: string,
): Promise<string[]> {
  const wanted = new Map<string, Set<TablePrivilege>>();
  for (const sql of statements) {
    for (const r of relationPrivileges(sql)) {
      const name = r.schema ? `${quoteIdentifier(r.schema)}.${quoteIdentifier(r.table)}` : quoteIdentifier(r.table);
      const set = wanted.get(name) ?? new Set();
      for (const p of r.privileges) set.add(p);
      wanted.set(name, set);
    }
  }
  const missing = new Map<string, { name: string; privileges: Set<TablePrivilege> }>();
  for (const [name, privileges] of wanted) {
    // to_regclass resolves through the search_path, as the statement did, and needs no privilege on the table.
    const rows = await session
      .query<{ schema: string; table: string; privilege: TablePrivilege; granted: boolean }>(
        `SELECT ${INTERNAL_MARK} n.nspname AS schema, c.relname AS table, p.privilege,
              pg_catalog.has_table_privilege(c.oid, p.privilege) AS granted
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
              pg_catalog.unnest($2::text[]) AS p(privilege)
        WHERE c.oid = pg_catalog.to_regclass($1)`,
        [name, [...privileges]],
      )
      .then((r) => r.rows)
      // A schema the role may not use: its GRANT USAGE comes from the error's own message.
      .catch(() => []);
    for (const row of rows) {
      if (row.granted) continue;
      const qualified = `${quoteIdentifier(row.schema)}.${quoteIdentifier(row.table)}`;
      const entry = missing.get(qualified) ?? { name: qualified, privileges: new Set() };
      entry.privileges.add(row.privilege);
      missing.set(qualified, entry);
    }
  }
  const grantee = quoteIdentifier(role);
  return [...missing.values()].map(
    (m) => `GRANT ${PRIVILEGE_ORDER.filter((p) => m.privileges.has(p)).join(', ')} ON ${m.name} TO ${grantee};`,
  );
}

const PRIVILEGE_ORDER: readonly TablePrivilege[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

/** A sequence privilege the current role lacks for a statement, and the one to grant. */
interface MissingSequencePrivilege {
  /** Schema-qualified, quoted as needed. */
  readonly sequence: string;
  readonly privilege: 'USAGE' | 'UPDATE';
}

// What each sequence function accepts (has_sequence_privilege: any of them), and what to grant.
const SEQUENCE_PRIVILEGES: Record<SequenceCall['function'], { accepted: string; grant: 'USAGE' | 'UPDATE' }> = {
  nextval: { accepted: 'USAGE, UPDATE', grant: 'USAGE' },
  currval: { accepted: 'USAGE, SELECT', grant: 'USAGE' },
  setval: { accepted: 'UPDATE', grant: 'UPDATE' },
};

/**
 * The sequence privileges `sql` needs and the current role lacks: those of the sequences the
 * defaults it evaluates call (`serial` columns; an identity column draws from its sequence with no
 * privilege check) and of the sequence functions it calls by name (`sequenceUses`). PostgreSQL
 * checks them only when the call runs, so neither PREPARE nor EXPLAIN finds them missing.
 */
async function missingSequencePrivileges(session: Session, sql: string): Promise<MissingSequencePrivilege[]> {
  const { defaults, calls } = sequenceUses(sql);
  const found: MissingSequencePrivilege[] = [];
  const collect = (rows: readonly { schema: string; sequence: string; privilege: 'USAGE' | 'UPDATE' }[]) => {
    for (const row of rows)
      found.push({
        sequence: `${quoteIdentifier(row.schema)}.${quoteIdentifier(row.sequence)}`,
        privilege: row.privilege,
      });
  };
  for (const use of defaults) {
    const table = use.schema
      ? `${quoteIdentifier(use.schema)}.${quoteIdentifier(use.table)}`
      : quoteIdentifier(use.table);
    // A default's dependency on a sequence is recorded in pg_depend (nextval('s'::regclass)).
    // CASE: has_sequence_privilege fails on a relation that is not a sequence.
    await session
      .query<{ schema: string; sequence: string; privilege: 'USAGE' }>(
        `SELECT DISTINCT ${INTERNAL_MARK} n.nspname AS schema, s.relname AS sequence, 'USAGE' AS privilege
           FROM (SELECT a.attnum, a.attname, pg_catalog.row_number() OVER (ORDER BY a.attnum) AS position
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped) a
           JOIN pg_catalog.pg_attrdef d ON d.adrelid = pg_catalog.to_regclass($1) AND d.adnum = a.attnum
           JOIN pg_catalog.pg_depend p ON p.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                AND p.objid = d.oid AND p.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
           JOIN pg_catalog.pg_class s ON s.oid = p.refobjid
           JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace
          WHERE CASE WHEN $2 THEN NOT (a.attname = ANY ($3::text[]) OR a.position = ANY ($4::bigint[]))
                     ELSE a.attname = ANY ($3::text[]) END
            AND CASE WHEN s.relkind = 'S' THEN NOT pg_catalog.has_sequence_privilege(s.oid, 'USAGE, UPDATE') END`,
        [table, use.evaluated === 'all-but', [...use.names], [...use.positions]],
      )
      .then((r) => collect(r.rows))
      // A schema the role may not use: PREPARE reported it.
      .catch(() => undefined);
  }
  for (const call of calls) {
    const { accepted, grant } = SEQUENCE_PRIVILEGES[call.function];
    await session
      .query<{ schema: string; sequence: string; privilege: 'USAGE' | 'UPDATE' }>(
        `SELECT ${INTERNAL_MARK} n.nspname AS schema, s.relname AS sequence, $3::text AS privilege
           FROM pg_catalog.pg_class s JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace
          WHERE s.oid = pg_catalog.to_regclass($1)
            AND CASE WHEN s.relkind = 'S' THEN NOT pg_catalog.has_sequence_privilege(s.oid, $2) END`,
        [call.sequence, accepted, grant],
      )
      .then((r) => collect(r.rows))
      .catch(() => undefined);
  }
  return found;
}

/** One GRANT per sequence, with the privileges `missing` lists for it. */
function sequenceGrants(missing: readonly MissingSequencePrivilege[], role: string): string[] {
  const wanted = new Map<string, Set<string>>();
  for (const m of missing) wanted.set(m.sequence, (wanted.get(m.sequence) ?? new Set()).add(m.privilege));
  const grantee = quoteIdentifier(role);
  return [...wanted].map(
    ([name, privileges]) =>
      `GRANT ${['USAGE', 'UPDATE'].filter((p) => privileges.has(p)).join(', ')} ON SEQUENCE ${name} TO ${grantee};`,
  );
}

/** A problem of one workload statement found before the run: the statement's index, and what to print. */
interface StatementProblem {
  readonly index: number;
  readonly code: InputErrorCode;
  readonly message: string;
  readonly lines: readonly string[];
}

/**
 * Checks every workload statement against the target before the run: that it prepares and plans
 * (`statementProblems`: a missing table or column, a privilege the role lacks) and that its
 * generators' first values are accepted (`parameterProblems`). A missing privilege is an
 * environment error naming the GRANTs; every other problem of every statement is reported at once,
 * in file order (the order of the statements), the first in the message and the others in the
 * details.
 */
export async function checkWorkloadStatements(
  session: Session,
  statements: readonly WorkloadStatement[],
  options: ParameterCheckOptions & { readonly setup?: SetupSessionState },
): Promise<void> {
  const problems = [
    ...(await statementProblems(session, statements, options.setup)),
    ...(await parameterProblems(session, statements, options)),
  ].sort((a, b) => a.index - b.index);
  const [first, ...rest] = problems;
  if (first) {
    throw new InputError(first.code, first.message, [...first.lines, ...rest.flatMap((p) => [p.message, ...p.lines])]);
  }
}

/**
 * Prepares every statement once (parse analysis, no execution) and plans it (EXPLAIN, which checks
 * table privileges, still without executing), so that a missing table or column is reported before
 * the run, with the statement's name and position, and a missing privilege as an environment error
 * naming the GRANT (thrown, with every statement that lacks one).
 */
async function statementProblems(
  session: Session,
  statements: readonly WorkloadStatement[],
  setup?: SetupSessionState,
): Promise<StatementProblem[]> {
  const prefix = 'PREPARE querygate_check AS ';
  const problems: StatementProblem[] = [];
  // `refused`: the server's own refusal, whose GRANT comes from its message or the statement's
  // relations; `sequences`: the sequence privileges it lacks, which only the replay would meet.
  const denied: { message: string; sql: string; refused: boolean; sequences: MissingSequencePrivilege[] }[] = [];
  // An error without a position (a missing privilege) points at the statement's first token, past
  // the comments that belong to it.
  const whereOf = (statement: WorkloadStatement, offset: number) => {
    const origin = statement.origin;
    const at = origin
      ? (({ line, column }) => `${origin.file}:${line}:${column}`)(
          offset >= 0 ? positionInFile(statement.sql, offset, origin) : statementPosition(statement.sql, origin),
        )
      : statement.file !== undefined && statement.line !== undefined
        ? `${statement.file}:${statement.line}`
        : statement.name;
    // A scenario's statement is named as its syntax errors name it: its field, and its name.
    return statement.field ? `${at}: ${statement.field}: statement "${statement.name}"` : at;
  };
  for (const [index, statement] of statements.entries()) {
    try {
      await session.query(`${prefix}${statement.sql}`);
      try {
        // Parse analysis checks schema USAGE; table privileges are checked when a plan starts.
        // Any value does for planning: NULL for every parameter.
        const nulls = Array.from({ length: statement.paramCount }, () => 'NULL').join(', ');
        await session.query(
          `EXPLAIN ${INTERNAL_MARK} (FORMAT JSON) EXECUTE querygate_check${statement.paramCount > 0 ? `(${nulls})` : ''}`,
        );
      } catch (error) {
        // Anything else the replay will meet with the real values, and count.
        if (asServerError(error)?.code === '42501') throw error;
      } finally {
        await session.query('DEALLOCATE querygate_check');
      }
      const sequences = await missingSequencePrivileges(session, statement.sql);
      if (sequences.length > 0) {
        denied.push({
          message: `${whereOf(statement, -1)}: permission denied for sequence ${sequences[0]!.sequence}`,
          sql: statement.sql,
          refused: false,
          sequences,
        });
      }
    } catch (error) {
      const server = asServerError(error);
      if (!server) throw error;
      const offset = server.position ? server.position - 1 - prefix.length : -1;
      const origin = statement.origin;
      const where = whereOf(statement, offset);
      if (server.code === '42501') {
        // The sequences too, so that one round of GRANTs is enough.
        const sequences = await missingSequencePrivileges(session, statement.sql);
        denied.push({ message: `${where}: ${server.message}`, sql: statement.sql, refused: true, sequences });
        continue;
      }
      problems.push({
        index,
        code: 'SQL_FAILED',
        message: `${where}: ${server.message}`,
        lines: [
          ...(offset >= 0
            ? origin
              ? caretLinesInFile(statement.sql, offset, origin)
              : caretLines(statement.sql, offset)
            : [`  ${statement.sql.split('\n')[0] ?? ''}`]),
          ...(server.code === UNDEFINED_TABLE && setup ? await setupHints(session, statement.sql, setup) : []),
        ],
      });
    }
  }
  if (denied.length > 0) {
    const { rows } = await session.query<{ role: string }>(`SELECT ${INTERNAL_MARK} current_user AS role`);
    const role = rows[0]?.role ?? '<role>';
    const refused = denied.filter((d) => d.refused);
    const grants = [
      ...new Set(refused.map((d) => missingGrant(d.message, role) ?? '')),
      ...(await missingTableGrants(
        session,
        refused.filter((d) => !missingGrant(d.message, role)).map((d) => d.sql),
        role,
      )),
      ...sequenceGrants(
        denied.flatMap((d) => d.sequences),
        role,
      ),
    ].filter(Boolean);
    throw new EnvironmentError(
      'PG_PERMISSION_DENIED',
      `${denied[0]!.message}: role ${role} lacks a privilege the workload needs` +
        (grants.length > 0 ? `; grant it (as the owner or a superuser): ${grants.join(' ')}` : ''),
      denied.slice(1).map((d) => `  ${d.message}`),
    );
  }
  return problems;
}

/** SQLSTATE of a relation that does not exist. */
const UNDEFINED_TABLE = '42P01';

/**
 * Why a relation the setup files made may be missing from the sessions after them: it is a
 * temporary table of the setup's session, or the files changed the search_path with SET, which held
 * for that session only.
 */
async function setupHints(session: Session, sql: string, setup: SetupSessionState): Promise<string[]> {
  const named = nodesOf(parseTree(sql), 'RangeVar', { subqueries: true })
    .filter((r) => r.schemaname === undefined || r.schemaname === 'pg_temp')
    .map((r) => String(r.relname));
  const temporary = setup.temporaryRelations.filter((name) => named.includes(name));
  if (temporary.length > 0) {
    return [
      `hint: ${temporary.join(', ')} ${temporary.length > 1 ? 'are temporary tables' : 'is a temporary table'} made by a setup file: ` +
        "temporary objects belong to the session that made them and do not reach the replay's connections; " +
        'create a regular table instead (CREATE TABLE, or CREATE UNLOGGED TABLE)',
    ];
  }
  const { rows } = await session.query<{ path: string }>(
    `SELECT ${INTERNAL_MARK} pg_catalog.current_setting('search_path') AS path`,
  );
  const path = rows[0]?.path;
  if (path === undefined || path === setup.searchPath) return [];
  return [
    `hint: the setup files left search_path at ${setup.searchPath} with SET, which holds for their own session only; ` +
      `the replay's connections use ${path}: set it in a setup file with ALTER ROLE CURRENT_USER SET search_path = ${setup.searchPath}`,
  ];
}

/** What `parameterProblems` needs besides the statements. */
export interface ParameterCheckOptions {
  /** The replay's seed: the values checked are the first the replay's generators would give. */
  readonly seed: number;
  /** statement_timeout of each EXPLAIN, ms. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * Binds one set of generated values per statement with parameters and plans it (EXPLAIN, never
 * executed, in a transaction rolled back), so that a generator whose values do not fit their column
 * (`string` for an integer id) is refused before the run, instead of a replay in which every call
 * fails. Only errors the server ties to a parameter (its `parameter $n` context, or the value in a
 * data exception's message) refuse the run: any other error may depend on the values drawn (a
 * division by zero folded by the planner), and the replay counts it.
 */
async function parameterProblems(
  session: Session,
  statements: readonly WorkloadStatement[],
  options: ParameterCheckOptions,
): Promise<StatementProblem[]> {
  const problems: StatementProblem[] = [];
  // The values of each statement's first measured call.
  const valuesOf = createStatementValues(statements, options.seed);
  for (const [index, statement] of statements.entries()) {
    if (statement.paramCount === 0) continue;
    const values = valuesOf[index]!(0, 0);
    await session.query('BEGIN');
    try {
      await session.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(options.timeoutMs))}`);
      await session.query(`EXPLAIN ${INTERNAL_MARK} ${statement.sql}`, values);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const server = asServerError(error);
      if (!server) throw error;
      const k = refusedParameter(server, values);
      if (k !== undefined) {
        const [message, ...lines] = describeRefusedValue(statement, k, values[k] ?? null, server.message);
        problems.push({ index, code: 'PARAM_INVALID', message: message!, lines });
      }
    } finally {
      await session.query('ROLLBACK').catch(() => undefined);
    }
  }
  return problems;
}

/** The index of the parameter the server refused, when it says which one (or its value shows it). */
function refusedParameter(server: ServerError, values: readonly (string | null)[]): number | undefined {
  // PostgreSQL 14+: `unnamed portal parameter $1 = '...'` in the context of an error at Bind.
  const context = /parameter \$(\d+)/.exec(server.where ?? '');
  if (context) {
    const k = Number(context[1]) - 1;
    return k < values.length ? k : undefined;
  }
  // Older servers: a data exception that quotes the value (`invalid input syntax for type integer: "x"`).
  if (!server.code.startsWith('22')) return undefined;
  const k = values.findIndex((v) => v !== null && server.message.includes(`"${v}"`));
  return k >= 0 ? k : undefined;
}

function describeRefusedValue(
  statement: WorkloadStatement,
  k: number,
  value: string | null,
  message: string,
): string[] {
  const at = statement.paramsAt?.[k];
  const origin = statement.origin;
  const where = origin
    ? (({ line, column }) => `${origin.file}:${line}:${column}`)(statementPosition(statement.sql, origin))
    : (at?.split(': ')[0] ?? statement.name);
  const generator = statement.params[k]?.kind ?? 'value';
  return [
    `${where}: statement "${statement.name}": params[${k}] (${generator}) gave ${JSON.stringify(value)} for $${k + 1}, ` +
      `which PostgreSQL refuses: ${message}`,
    ...(at ? [`  ${at}: its values must be valid input for the type PostgreSQL infers for $${k + 1}`] : []),
  ];
}

/**
 * The workload's statements, each SELECT that cannot write marked `readOnly`: one that calls no
 * function with a volatile variant (by name, in any schema: `nextval`, a job queue's
 * `dequeue_job()`) and reads no view (whose definition may call one). Looked up in the target's
 * catalog; anything the catalog cannot vouch for stays unmarked, and runs in the rolled-back
 * transaction of an external database.
 */
export async function markReadOnly(
  control: Session,
  statements: readonly WorkloadStatement[],
): Promise<WorkloadStatement[]> {
  // One query at a time: the session runs one.
  const marked: WorkloadStatement[] = [];
  for (const statement of statements) marked.push(await markOne(control, statement));
  return marked;
}

async function markOne(control: Session, statement: WorkloadStatement): Promise<WorkloadStatement> {
  if (statement.write || statementKind(statement.sql) !== 'select') return statement;
  const tree = parseTree(statement.sql);
  if (tree.length !== 1) return statement;
  const functions = nodesOf(tree, 'FuncCall', { subqueries: true }).map((f) => {
    const parts = ((f.funcname as unknown[] | undefined) ?? []).map(
      (p) => (p as { String?: { sval?: string } }).String?.sval ?? '',
    );
    return parts[parts.length - 1] ?? '';
  });
  const relations = nodesOf(tree, 'RangeVar', { subqueries: true }).map((r) =>
    [r.schemaname, r.relname]
      .filter((part): part is string => typeof part === 'string')
      .map((part) => `"${part.replace(/"/g, '""')}"`)
      .join('.'),
  );
  const { rows } = await control.query<{ volatile: boolean; view: boolean }>(
    `SELECT ${INTERNAL_MARK}
            EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.proname = ANY($1::text[]) AND p.provolatile = 'v') AS volatile,
            EXISTS (SELECT 1 FROM pg_catalog.unnest($2::text[]) AS n(name)
                      JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(n.name)
                     WHERE c.relkind NOT IN ('r', 'p', 'm', 'f')) AS view`,
    [functions, relations],
  );
  const row = rows[0];
  return row && !row.volatile && !row.view ? { ...statement, readOnly: true } : statement;
}
