/**
 * A lean PostgreSQL extended-protocol client for the replay hot path. `pg` opens and authenticates
 * the connection (src/target/pg.ts hands over its socket); from then on each call is one
 * Bind/Execute/Sync round trip on a statement prepared once, with no per-row decoding: the replay
 * needs latency and errors, not result values (pg_stat_statements counts the rows). This keeps
 * querygate's client cost per statement close to pgbench's, so the database, not the tool, is
 * what a run measures.
 */
import type { Duplex } from 'node:stream';
import type { ServerError } from './pg.js';

/** Error raised for an ErrorResponse from the server (fields as in ServerError). */
export class WireServerError extends Error implements ServerError {
  constructor(
    readonly code: string,
    message: string,
    readonly position?: number,
  ) {
    super(message);
    this.name = 'WireServerError';
  }
}

/** One connection speaking the extended protocol directly. */
export interface WireSession {
  /** Parses `sql` as the named statement (once per connection). */
  prepare(name: string, sql: string): Promise<void>;
  /** Binds text parameters to a prepared statement, executes it and discards the rows. */
  execute(name: string, params: readonly (string | null)[] | undefined): Promise<void>;
  /**
   * The same as `execute`, with a callback instead of a promise: the replay's hot loop, where a
   * promise and its microtask per call are a measurable share of the client's cost.
   */
  executeThen(name: string, params: readonly (string | null)[] | undefined, done: (error?: Error) => void): void;
  /** Runs a statement with the simple protocol (BEGIN, ROLLBACK). */
  simple(sql: string): Promise<void>;
  close(): void;
}

type Pending = { done: (error?: Error) => void; error?: WireServerError };

function cstringLength(s: string): number {
  return Buffer.byteLength(s) + 1;
}

/** Wraps an authenticated, idle socket. */
export function createWireSession(socket: Duplex): WireSession {
  let buffer: Buffer = Buffer.alloc(0);
  const queue: Pending[] = [];
  let closedError: Error | undefined;

  const fail = (error: Error) => {
    closedError ??= error;
    while (queue.length) queue.shift()!.done(closedError);
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    let offset = 0;
    while (buffer.length - offset >= 5) {
      const type = buffer[offset]!;
      const length = buffer.readInt32BE(offset + 1);
      if (buffer.length - offset < 1 + length) break;
      const body = offset + 5;
      const end = offset + 1 + length;
      if (type === 0x45 /* E: ErrorResponse */) {
        const fields: Record<string, string> = {};
        let p = body;
        while (p < end && buffer[p] !== 0) {
          const key = String.fromCharCode(buffer[p]!);
          const zero = buffer.indexOf(0, p + 1);
          fields[key] = buffer.toString('utf8', p + 1, zero);
          p = zero + 1;
        }
        const pending = queue[0];
        if (pending)
          pending.error = new WireServerError(
            fields.C ?? 'XX000',
            fields.M ?? 'unknown error',
            fields.P ? Number(fields.P) : undefined,
          );
      } else if (type === 0x5a /* Z: ReadyForQuery */) {
        const pending = queue.shift();
        if (pending) pending.done(pending.error);
      }
      // Everything else (BindComplete, DataRow, CommandComplete, notices, ...) carries nothing the
      // replay needs.
      offset = end;
    }
    buffer = offset === buffer.length ? Buffer.alloc(0) : buffer.subarray(offset);
  });
  socket.on('error', (error) => fail(error));
  socket.on('close', () => fail(new Error('connection closed')));

  const sendThen = (message: Buffer, done: (error?: Error) => void): void => {
    if (closedError) {
      done(closedError);
      return;
    }
    queue.push({ done });
    socket.write(message);
  };
  const send = (message: Buffer): Promise<void> =>
    new Promise((resolve, reject) => sendThen(message, (error) => (error ? reject(error) : resolve())));

  const sync = Buffer.from([0x53, 0, 0, 0, 4]); // S: Sync
  // E: Execute the unnamed portal, all rows; then S: Sync.
  const tail = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4]);

  /** Bind (text parameters; results in text and ignored), Execute and Sync, in one buffer. */
  const bindExecuteSync = (name: string, params: readonly (string | null)[] | undefined): Buffer => {
    const values = params ?? [];
    // One allocation per call: Bind, then Execute and Sync copied from a constant tail.
    let length = 4 + 1 /* unnamed portal */ + cstringLength(name) + 2 + 2 + 2;
    for (const v of values) length += 4 + (v === null ? 0 : Buffer.byteLength(v));
    const message = Buffer.allocUnsafe(1 + length + tail.length);
    message[0] = 0x42; // B: Bind
    message.writeInt32BE(length, 1);
    let p = 5;
    message[p++] = 0; // unnamed portal
    p += message.write(name, p);
    message[p++] = 0;
    message.writeInt16BE(0, p); // all parameters in text format
    p += 2;
    message.writeInt16BE(values.length, p);
    p += 2;
    for (const v of values) {
      if (v === null) {
        message.writeInt32BE(-1, p);
        p += 4;
      } else {
        const n = message.write(v, p + 4);
        message.writeInt32BE(n, p);
        p += 4 + n;
      }
    }
    message.writeInt16BE(0, p); // results in text format (and ignored)
    tail.copy(message, p + 2);
    return message;
  };

  return {
    prepare(name, sql) {
      const length = 4 + cstringLength(name) + cstringLength(sql) + 2;
      const parse = Buffer.alloc(1 + length);
      parse[0] = 0x50; // P: Parse
      parse.writeInt32BE(length, 1);
      let p = 5;
      p += parse.write(name, p) + 1;
      p += parse.write(sql, p) + 1;
      parse.writeInt16BE(0, p); // no parameter types: the server infers them, as for pg
      return send(Buffer.concat([parse, sync]));
    },
    execute(name, params) {
      return send(bindExecuteSync(name, params));
    },
    executeThen(name, params, done) {
      sendThen(bindExecuteSync(name, params), done);
    },
    simple(sql) {
      const length = 4 + cstringLength(sql);
      const query = Buffer.alloc(1 + length);
      query[0] = 0x51; // Q: Query
      query.writeInt32BE(length, 1);
      query.write(sql, 5);
      return send(query);
    },
    close() {
      if (!closedError) socket.end(Buffer.from([0x58, 0, 0, 0, 4])); // X: Terminate
      fail(new Error('connection closed'));
    },
  };
}
