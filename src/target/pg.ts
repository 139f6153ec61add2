/**
 * The only module that imports `pg`. Everything else talks to PostgreSQL through `Session`, a
 * small structural interface, so that the core never depends on the driver package.
 */
import pg from 'pg';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { EnvironmentError } from '../errors.js';
import { createWireSession, WireServerError, type WireOptions, type WireSession } from './wire.js';

// int8 and numeric arrive as strings by default; querygate's counters (calls, blocks, bytes) fit in
// a double long before they lose precision, so parse them as numbers.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

/** One connection to PostgreSQL. */
export interface Session {
  /**
   * Runs one statement. With `name`, the statement is prepared once per session and reused
   * (extended protocol, like `pgbench -M prepared`).
   */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[], name?: string): Promise<QueryResult<R>>;
  /** Backend process id, to cancel a running statement from another session. */
  readonly pid: number;
  close(): Promise<void>;
}

/** A PostgreSQL error as the server sent it. */
export interface ServerError {
  readonly code: string;
  readonly message: string;
  /** 1-based character position in the statement, when the server gives one. */
  readonly position?: number;
  /** The server's context lines (`unnamed portal parameter $1 = '...'`), when it gives them. */
  readonly where?: string;
}

/** Returns the server-side error fields of `error`, or undefined when it is not a server error. */
export function asServerError(error: unknown): ServerError | undefined {
  if (error instanceof WireServerError) {
    return { code: error.code, message: error.message, ...(error.position ? { position: error.position } : {}) };
  }
  if (error instanceof pg.DatabaseError && typeof error.code === 'string') {
    const position = error.position ? Number(error.position) : undefined;
    return {
      code: error.code,
      message: error.message,
      ...(position ? { position } : {}),
      ...(error.where ? { where: error.where } : {}),
    };
  }
  return undefined;
}

/** host:port/database of a URL, without credentials. */
export function describeUrl(url: string): { address: string; database: string } {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return { address: `${host}:${u.port || '5432'}`, database: decodeURIComponent(u.pathname.slice(1)) || 'postgres' };
  } catch {
    return { address: 'unknown', database: 'unknown' };
  }
}

/**
 * Opens a session. Connection failures become an `EnvironmentError` with one clear line
 * (PG_UNREACHABLE or PG_AUTH_FAILED), never a stack trace.
 */
export async function openSession(url: string, applicationName = 'querygate'): Promise<Session> {
  const client = await connectClient(url, applicationName);
  const pid = (client as unknown as { processID?: number }).processID ?? 0;
  return {
    pid,
    async query<R>(sql: string, params?: readonly unknown[], name?: string) {
      const result = await client.query({
        text: sql,
        values: params ? [...params] : undefined,
        ...(name ? { name } : {}),
      });
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

/**
 * Opens a connection for the replay hot path: `pg` connects and authenticates (every auth method
 * and TLS it supports), then hands its idle socket over to the lean protocol client in wire.ts.
 */
export async function openWireSession(
  url: string,
  applicationName = 'querygate',
  options: WireOptions & {
    /** statement_timeout of every statement on the connection, ms. */
    readonly statementTimeoutMs?: number;
  } = {},
): Promise<WireSession> {
  const client = await connectClient(url, applicationName);
  try {
    if (options.statementTimeoutMs !== undefined)
      await client.query(`SET statement_timeout = ${Math.max(1, Math.round(options.statementTimeoutMs))}`);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  const socket = (client as unknown as { connection: { stream: Duplex } }).connection.stream;
  // pg's own parser stops reading; the socket is ours from here on.
  socket.removeAllListeners('data');
  const { processID, secretKey, host, port } = client as unknown as {
    processID?: number;
    secretKey?: number;
    host: string;
    port: number;
  };
  const cancel =
    typeof processID === 'number' && typeof secretKey === 'number'
      ? () => sendCancelRequest(host, port, processID, secretKey)
      : undefined;
  return createWireSession(socket, { ...options, ...(cancel ? { cancel } : {}) });
}

/**
 * A CancelRequest for backend `pid` (protocol 3.0: length, code 80877102, pid, secret key) on a
 * connection of its own, as libpq's PQcancel sends it. Resolves when the server closed it, or after
 * 2 s; never rejects (a cancel that cannot be sent leaves the statement to its statement_timeout).
 */
function sendCancelRequest(host: string, port: number, pid: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(pid, 8);
    packet.writeInt32BE(secretKey, 12);
    const socket = host.startsWith('/') ? net.connect(`${host}/.s.PGSQL.${port}`) : net.connect(port, host);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 2000);
    socket.once('connect', () => socket.write(packet));
    socket.once('close', done);
    socket.once('error', done);
  });
}

/** The warning node-postgres prints (several lines, once per process) when a URL has one of these sslmodes. */
const SSL_MODE_WARNING = /^SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca'/;
/** The sslmodes node-postgres reads as `verify-full`: it checks the certificate where libpq may not. */
const VERIFYING_SSL_MODES: ReadonlySet<string> = new Set(['prefer', 'require', 'verify-ca']);

/**
 * Runs `create` without node-postgres' multi-line warning about `sslmode=require` (and `prefer`,
 * `verify-ca`), which it emits while parsing the URL: querygate's output is its own one-line
 * messages, and what the warning says (the certificate is checked, as for `verify-full`) is told
 * where it matters, when a connection fails because of it (`describeConnectError`).
 */
function withoutSslModeWarning<T>(create: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    if (SSL_MODE_WARNING.test(typeof warning === 'string' ? warning : warning.message)) return;
    (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return create();
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** How long a connection may take when neither the URL nor the environment says: a busy server is slow to fork. */
const DEFAULT_CONNECT_TIMEOUT_S = 30;

/**
 * The connection timeout, seconds, as libpq takes it: the URL's `connect_timeout`, else
 * `PGCONNECT_TIMEOUT`; 0 or less waits for ever. Else `DEFAULT_CONNECT_TIMEOUT_S`.
 */
export function connectTimeoutSeconds(url: string, env: NodeJS.ProcessEnv = process.env): number {
  let given: string | null | undefined;
  try {
    given = new URL(url).searchParams.get('connect_timeout');
  } catch {
    given = undefined;
  }
  given ??= env.PGCONNECT_TIMEOUT;
  const seconds = given !== undefined && given.trim() !== '' ? Number(given) : NaN;
  if (!Number.isFinite(seconds)) return DEFAULT_CONNECT_TIMEOUT_S;
  // libpq: a timeout under 2 s is 2 s.
  return seconds <= 0 ? 0 : Math.max(2, Math.floor(seconds));
}

async function connectClient(url: string, applicationName: string): Promise<pg.Client> {
  const timeout = connectTimeoutSeconds(url);
  // The URL is parsed here, synchronously: the warning is emitted (or not) before this returns.
  const client = withoutSslModeWarning(
    () =>
      new pg.Client({
        connectionString: url,
        application_name: applicationName,
        connectionTimeoutMillis: timeout * 1000,
      }),
  );
  // A connection that dies later surfaces as a rejected query; without this listener the
  // 'error' event would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw describeConnectError(error, url, timeout);
  }
  return client;
}

function describeConnectError(error: unknown, url: string, timeoutS: number): EnvironmentError {
  const where = describeUrl(url);
  const server = asServerError(error);
  if (server) {
    if (server.code === '28P01' || server.code === '28000') {
      return new EnvironmentError(
        'PG_AUTH_FAILED',
        `cannot log in to PostgreSQL at ${where.address}: ${server.message}`,
      );
    }
    if (server.code === '3D000') {
      return new EnvironmentError('PG_UNREACHABLE', `database "${where.database}" does not exist on ${where.address}`);
    }
    return new EnvironmentError(
      'PG_UNREACHABLE',
      `cannot connect to PostgreSQL at ${where.address}: ${server.message}`,
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const reason =
    code === 'ECONNREFUSED'
      ? 'connection refused (is the server running and listening on that port?)'
      : code === 'ENOTFOUND'
        ? 'unknown host'
        : message.includes('timeout')
          ? `connection timed out after ${timeoutS} s (connect_timeout in the URL or PGCONNECT_TIMEOUT sets how long to wait)`
          : message;
  return new EnvironmentError(
    'PG_UNREACHABLE',
    `cannot connect to PostgreSQL at ${where.address}: ${reason}${sslHint(url, message, code)}`,
  );
}

/**
 * What to change in the URL when SSL is why the connection failed. node-postgres does not give
 * `sslmode` libpq's meaning: `prefer` does not fall back to a connection without SSL, and `prefer`,
 * `require` and `verify-ca` check the server's certificate and host name, as `verify-full` does.
 */
function sslHint(url: string, message: string, code: string | undefined): string {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    return '';
  }
  const mode = params.get('sslmode');
  const asked = mode !== null ? `sslmode=${mode}` : params.has('ssl') ? `ssl=${params.get('ssl') ?? ''}` : undefined;
  if (asked === undefined) return '';
  if (/does not support SSL/i.test(message)) {
    return (
      ` (the URL asks for SSL with ${asked}: remove it, or set sslmode=disable, to connect without SSL` +
      `${mode === 'prefer' ? '; node-postgres does not fall back to a connection without SSL for sslmode=prefer as psql does' : ''})`
    );
  }
  const certificate = code !== undefined && /CERT|SIGNATURE|ALTNAME/.test(code);
  if (certificate && mode !== null && VERIFYING_SSL_MODES.has(mode) && params.get('uselibpqcompat') !== 'true') {
    return (
      ` (node-postgres checks the server's certificate and host name for sslmode=${mode}, as psql does only for ` +
      `verify-full: add uselibpqcompat=true to the URL for libpq's sslmode=${mode} (encrypted, the certificate ` +
      "not checked), or sslrootcert=FILE with the certificate of the CA that signed the server's)"
    );
  }
  return '';
}
