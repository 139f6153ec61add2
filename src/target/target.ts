import { INTERNAL_MARK, statsSchema } from '../capture/statements.js';
import { EnvironmentError } from '../errors.js';
import type { TargetInfo } from '../model/report.js';
import { startEmbedded, type StartOptions } from './embedded.js';
import { asServerError, describeUrl, openSession, openWireSession, type Session } from './pg.js';
import type { WireSession } from './wire.js';

/** The database a run talks to: an embedded throwaway cluster or the user's own server. */
export interface Target {
  readonly kind: 'embedded' | 'external';
  readonly info: TargetInfo;
  /** Connection URL of the target database, with credentials (for an application under test): never print it. */
  readonly url: string;
  /** Opens another session on the target database. */
  connect(applicationName?: string): Promise<Session>;
  /** Opens a lean connection for replaying statements (see wire.ts). */
  connectReplay(applicationName?: string, options?: { readonly statementTimeoutMs?: number }): Promise<WireSession>;
  /**
   * The checks `openTarget` left until the setup files had run (`setupFirst`): pg_stat_statements
   * installed in the database and readable. Run on `session` (inside the setup's transaction, a
   * failure rolls the files back); throws what `openTarget` would have thrown, and completes
   * `info`. A no-op when nothing was left.
   */
  checkStatistics(session: Session): Promise<void>;
  /** Stops the embedded server (and removes its files); no-op for an external one. */
  close(): Promise<void>;
}

export interface OpenTargetOptions {
  /** An existing database. Without it, an embedded PostgreSQL is started. */
  readonly databaseUrl?: string;
  /** The run's interrupt: an embedded server's start-up stops at once (InterruptedError). */
  readonly signal?: AbortSignal;
  readonly embedded?: StartOptions;
  /** Connections the replay opens: the embedded server is started with room for them. */
  readonly connections?: number;
  /**
   * Setup files will run on the external database before anything is measured (`--setup`). A
   * setup file may create the extension, so pg_stat_statements missing from the database is then
   * refused only if it is still missing after them (`Target.checkStatistics`); until then `info`
   * has no `pgStatStatementsVersion`. A library that is not loaded is refused at once: no setup
   * file can load it.
   */
  readonly setupFirst?: boolean;
}

/**
 * Sessions querygate opens besides the replay's: the control session, one that cancels a statement
 * on an interrupt, and room for a reconnect. Counted into the embedded server's max_connections.
 */
export const OWN_SESSIONS = 10;

/** PostgreSQL's default max_connections, which the embedded server keeps for smaller runs. */
const DEFAULT_MAX_CONNECTIONS = 100;

/** Oldest server querygate supports: pg_stat_statements renamed its timing columns in 13. */
export const MIN_SERVER_VERSION = 130000;

/**
 * Connects to (or starts) the target and checks that it can be measured: server version,
 * pg_stat_statements loaded and installed, and readable.
 */
export async function openTarget(options: OpenTargetOptions): Promise<Target> {
  if (options.databaseUrl) return openExternal(options.databaseUrl, options.setupFirst ?? false);
  const maxConnections = Math.max(DEFAULT_MAX_CONNECTIONS, (options.connections ?? 0) + OWN_SESSIONS);
  const server = await startEmbedded({
    ...options.embedded,
    ...(options.signal ? { signal: options.signal } : {}),
    settings: { max_connections: String(maxConnections), ...options.embedded?.settings },
  });
  try {
    const session = await openSession(server.url);
    try {
      await session.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const info = await describeTarget(session, 'embedded', server.url);
      return {
        kind: 'embedded',
        info,
        url: server.url,
        connect: (name) => openSession(server.url, name),
        connectReplay: (name, options) => openWireSession(server.url, name, options),
        checkStatistics: async () => undefined,
        close: () => server.stop(),
      };
    } finally {
      await session.close();
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function openExternal(url: string, setupFirst: boolean): Promise<Target> {
  const session = await openSession(url);
  let info: TargetInfo;
  // The server as checked before the setup files, while the extension's checks wait for them.
  let pending: ServerFacts | undefined;
  try {
    const server = await checkServer(session, url);
    if (setupFirst && server.extensionVersion === undefined) {
      pending = server;
      info = targetInfo('external', server, '');
    } else {
      info = targetInfo('external', server, await checkExtension(session, server));
    }
  } finally {
    await session.close();
  }
  return {
    kind: 'external',
    get info() {
      return info;
    },
    url,
    connect: (name) => openSession(url, name),
    connectReplay: (name, options) => openWireSession(url, name, options),
    checkStatistics: async (control) => {
      if (!pending) return;
      info = targetInfo('external', pending, await checkExtension(control, pending));
      pending = undefined;
    },
    close: async () => undefined,
  };
}

async function describeTarget(session: Session, kind: 'embedded' | 'external', url: string): Promise<TargetInfo> {
  const server = await checkServer(session, url);
  return targetInfo(kind, server, await checkExtension(session, server));
}

/** What the server checks learned, for the extension's checks and the report. */
interface ServerFacts {
  readonly address: string;
  readonly version: string;
  readonly num: number;
  readonly db: string;
  /** pg_stat_statements's version, when it was created in the database as the server was checked. */
  readonly extensionVersion?: string;
  readonly superuser: boolean;
  /** pg_stat_statements.track for this connection. */
  readonly track?: 'top' | 'all';
}

function targetInfo(kind: 'embedded' | 'external', server: ServerFacts, extensionVersion: string): TargetInfo {
  return {
    kind,
    serverVersion: server.version.split(' ')[0] ?? server.version,
    serverVersionNum: server.num,
    database: server.db,
    address: server.address,
    pgStatStatementsVersion: extensionVersion,
    ...(server.track ? { pgStatStatementsTrack: server.track } : {}),
  };
}

/** `CREATE EXTENSION pg_stat_statements` and who may run it. */
function createExtension(server: ServerFacts, where: string): string {
  // pg_stat_statements is not a trusted extension: only a superuser may create it.
  return server.superuser
    ? `run CREATE EXTENSION pg_stat_statements; ${where}`
    : `have a superuser run CREATE EXTENSION pg_stat_statements; ${where} (it is not a trusted extension: ` +
        `the role querygate connects as cannot create it; ask your DBA)`;
}

function notLoaded(server: ServerFacts): EnvironmentError {
  return new EnvironmentError(
    'PG_STAT_STATEMENTS_MISSING',
    `pg_stat_statements is not loaded on ${server.address}: add it to shared_preload_libraries ` +
      `(postgresql.conf: shared_preload_libraries = 'pg_stat_statements') and restart the server` +
      (server.extensionVersion !== undefined
        ? ` (the extension is already created in database "${server.db}")`
        : `, then ${createExtension(server, `in database "${server.db}"`)}`),
  );
}

/**
 * The checks no setup file can make pass: a supported server version, pg_stat_statements loaded
 * (`shared_preload_libraries`), and recording statements for this connection.
 */
async function checkServer(session: Session, url: string): Promise<ServerFacts> {
  const { address } = describeUrl(url);
  // shared_preload_libraries is not readable without privileges; the module's own setting
  // pg_stat_statements.max exists exactly when the library is loaded, and anyone may read it.
  const [row] = (
    await session.query<{ version: string; num: number; db: string; loaded: boolean }>(
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num,
              current_database() AS db, current_setting('pg_stat_statements.max', true) IS NOT NULL AS loaded`,
    )
  ).rows;
  if (!row) throw new EnvironmentError('PG_UNREACHABLE', `no answer from PostgreSQL at ${address}`);
  if (row.num < MIN_SERVER_VERSION) {
    throw new EnvironmentError(
      'PG_VERSION_UNSUPPORTED',
      `PostgreSQL ${row.version} at ${address} is not supported: querygate needs PostgreSQL 13 or newer`,
    );
  }
  const installed = await extensionVersion(session);
  const server: ServerFacts = {
    address,
    version: row.version,
    num: row.num,
    db: row.db,
    ...(installed !== undefined ? { extensionVersion: installed } : {}),
    superuser:
      (await session.query<{ on: boolean }>(`SELECT current_setting('is_superuser') = 'on' AS on`)).rows[0]?.on ??
      false,
  };
  if (!row.loaded) throw notLoaded(server);
  // Loaded and installed, yet recording nothing: the run would end with an empty report.
  const tracking = (
    await session.query<{ track: string | null; queryId: string | null }>(
      `SELECT current_setting('pg_stat_statements.track', true) AS track,
              current_setting('compute_query_id', true) AS "queryId"`,
    )
  ).rows[0];
  if (tracking?.track === 'none') {
    throw new EnvironmentError(
      'PG_STAT_STATEMENTS_MISSING',
      `pg_stat_statements.track is 'none' for this connection on ${address}, so nothing would be recorded: ` +
        `set it to 'top' (ALTER ROLE <user> SET pg_stat_statements.track = 'top'; or in postgresql.conf)`,
    );
  }
  if (tracking?.queryId === 'off') {
    throw new EnvironmentError(
      'PG_STAT_STATEMENTS_MISSING',
      `compute_query_id is off for this connection on ${address}, so pg_stat_statements records nothing: ` +
        `set compute_query_id = auto (or on)`,
    );
  }
  const track = tracking?.track;
  return track === 'top' || track === 'all' ? { ...server, track } : server;
}

async function extensionVersion(session: Session): Promise<string | undefined> {
  const { rows } = await session.query<{ extversion: string }>(
    `SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements'`,
  );
  return rows[0]?.extversion;
}

/**
 * The checks a setup file can make pass (`CREATE EXTENSION pg_stat_statements`): the extension
 * created in the database, and readable by this role. Returns its version.
 */
async function checkExtension(session: Session, server: ServerFacts): Promise<string> {
  const { address } = server;
  // Looked up again when it was missing: a setup file may have created it since.
  const version = server.extensionVersion ?? (await extensionVersion(session));
  if (version === undefined) {
    throw new EnvironmentError(
      'PG_STAT_STATEMENTS_MISSING',
      `pg_stat_statements is loaded but not installed in database "${server.db}" on ${address}: ` +
        createExtension(server, 'in that database'),
    );
  }
  const schema = await statsSchema(session);
  try {
    await session.query(`SELECT 1 FROM ${schema}.pg_stat_statements(false) LIMIT 1`);
  } catch (error) {
    const failure = asServerError(error);
    if (failure?.code === '55000') throw notLoaded({ ...server, extensionVersion: version });
    if (failure?.code === '42501') {
      throw new EnvironmentError(
        'PG_PERMISSION_DENIED',
        `cannot read pg_stat_statements on ${address}: ${failure.message}; ` +
          `grant access (GRANT SELECT ON ${schema}.pg_stat_statements TO <user>; GRANT EXECUTE ON FUNCTION ${schema}.pg_stat_statements(boolean) TO <user>;) ` +
          `and membership in pg_read_all_stats to see every role's statements`,
      );
    }
    throw new EnvironmentError(
      'PG_STAT_STATEMENTS_MISSING',
      `cannot read pg_stat_statements on ${address}: ${failure?.message ?? String(error)}`,
    );
  }
  if (server.num >= 140000) {
    // Each snapshot reads the eviction counter (PostgreSQL 14+): the view's grant is separate. Marked
    // as the snapshot's own query is: both have one queryid, and the first text seen is kept.
    try {
      await session.query(`SELECT ${INTERNAL_MARK} dealloc FROM ${schema}.pg_stat_statements_info`);
    } catch (error) {
      const failure = asServerError(error);
      if (failure?.code !== '42501') throw error;
      const role =
        (await session.query<{ role: string }>(`SELECT ${INTERNAL_MARK} current_user AS role`)).rows[0]?.role ??
        '<user>';
      throw new EnvironmentError(
        'PG_PERMISSION_DENIED',
        `cannot read pg_stat_statements_info on ${address}: ${failure.message}; ` +
          `grant access (as its owner or a superuser): GRANT SELECT ON ${schema}.pg_stat_statements_info TO ${role};`,
      );
    }
  }
  return version;
}

/**
 * Refuses a run whose replay cannot get its connections on an external server: the free slots are
 * max_connections less the client sessions already open, less the slots reserved for superusers
 * (and, on PostgreSQL 16+, for pg_use_reserved_connections) when the role may not use them. Without
 * this check the replay would open connections one by one and fail at the first refused.
 */
export async function checkConnectionSlots(session: Session, info: TargetInfo, needed: number): Promise<void> {
  const [row] = (
    await session.query<{ max: number; used: number; superuser: boolean; su: number; reserved: number | null }>(
      `SELECT ${INTERNAL_MARK} current_setting('max_connections')::int AS max,
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS used,
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
              current_setting('superuser_reserved_connections')::int AS su,
              current_setting('reserved_connections', true)::int AS reserved`,
    )
  ).rows;
  if (!row) return;
  let reserved = row.superuser ? 0 : row.su;
  if (!row.superuser && row.reserved) {
    const may = await session.query<{ may: boolean }>(
      `SELECT ${INTERNAL_MARK} pg_has_role(current_user, 'pg_use_reserved_connections', 'MEMBER') AS may`,
    );
    if (!may.rows[0]?.may) reserved += row.reserved;
  }
  const free = row.max - row.used - reserved;
  if (needed <= free) return;
  throw new EnvironmentError(
    'PG_TOO_MANY_CONNECTIONS',
    `the replay needs ${needed} connection(s) but ${info.address} has ${Math.max(0, free)} free ` +
      `(max_connections ${row.max}, ${row.used} in use` +
      (reserved > 0 ? `, ${reserved} reserved for superusers or roles that may use reserved connections` : '') +
      `): lower --connections or raise max_connections on the server`,
  );
}
