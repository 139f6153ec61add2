/**
 * A lean PostgreSQL extended-protocol client for the replay hot path. `pg` opens and authenticates
 * the connection (src/target/pg.ts hands over its socket); from then on each call is one
 * Bind/Execute/Sync round trip on a statement prepared once, with no per-row decoding: the replay
 * needs latency and errors, not result values (pg_stat_statements counts the rows). This keeps
 * querygate's client cost per statement close to pgbench's, so the database, not the tool, is
 * what a run measures.
 */
import type { Duplex } from 'node:stream';
import util from 'node:util';
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
  /**
   * Binds text parameters to a prepared statement, executes it and discards the rows. `rolledBack`:
   * inside a transaction that is rolled back (`prepareRollback` first).
   */
  execute(name: string, params: readonly (string | null)[] | undefined, rolledBack?: boolean): Promise<void>;
  /**
   * Encodes what `execute` sends, for `sendThen`: the replay's hot loop encodes its next call while
   * the current one runs on the server, so that an answer is followed by the next call at once.
   * The buffer may be the session's own: it is valid until the next encode or `execute`.
   */
  encodeExecute(name: string, params: readonly (string | null)[] | undefined, rolledBack?: boolean): Buffer;
  /**
   * Prepares the BEGIN and ROLLBACK that a rolled-back call sends around its statement (once per
   * session; later calls resolve at once).
   */
  prepareRollback(): Promise<void>;
  /**
   * Sends an encoded call, with a callback instead of a promise (in the hot loop a promise and its
   * microtask per call are a measurable share of the client's cost).
   */
  sendThen(message: Buffer, done: (error?: Error) => void): void;
  /** Runs a statement with the simple protocol (BEGIN, ROLLBACK). */
  simple(sql: string): Promise<void>;
  /**
   * Asks the server to cancel the statement running on this connection (a CancelRequest, as
   * psql's Ctrl-C sends); the call then fails with SQLSTATE 57014. Absent when the session was
   * not opened with what a cancel needs.
   */
  readonly cancel?: () => Promise<void>;
  close(): void;
}

type Pending = { done: (error?: Error) => void; error?: WireServerError };

/** The statements a rolled-back call is wrapped in, prepared by `prepareRollback`. */
const BEGIN_STATEMENT = 'querygate_begin';
const ROLLBACK_STATEMENT = 'querygate_rollback';

function cstringLength(s: string): number {
  return Buffer.byteLength(s) + 1;
}

/**
 * The parts of Node's stream handle (TCPWrap, PipeWrap) and of its `stream_wrap` binding that the
 * fast path uses. They are internal to Node: every use is guarded, and a socket without them goes
 * through the ordinary stream API ('data' events and `socket.write`).
 */
interface StreamHandle {
  writeBuffer?: (req: WriteRequest, data: Uint8Array) => number;
  useUserBuffer?: (buffer: Uint8Array) => void;
  onread?: (this: StreamHandle, arrayBuffer?: ArrayBuffer) => unknown;
}
interface WriteRequest {
  handle?: StreamHandle;
  buffer?: Uint8Array;
  oncomplete?: (status: number) => void;
}
interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

let streamWrapBinding: StreamWrapBinding | null | undefined;

function loadStreamWrap(): StreamWrapBinding | null {
  if (streamWrapBinding !== undefined) return streamWrapBinding;
  streamWrapBinding = null;
  try {
    const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
    const b = typeof binding === 'function' ? (binding.call(process, 'stream_wrap') as Partial<StreamWrapBinding>) : {};
    if (
      typeof b.WriteWrap === 'function' &&
      b.streamBaseState instanceof Int32Array &&
      typeof b.kReadBytesOrError === 'number' &&
      typeof b.kArrayBufferOffset === 'number' &&
      typeof b.kLastWriteWasAsync === 'number'
    )
      streamWrapBinding = b as StreamWrapBinding;
  } catch {
    // No binding (a runtime without it, or a permission model refusing it): the stream API it is.
  }
  return streamWrapBinding;
}

/** Size of the buffer the socket reads into on the fast path (Node's own default read size). */
const READ_BUFFER_SIZE = 64 * 1024;

export interface WireOptions {
  /**
   * Use the socket's handle directly when Node offers what that needs (default true). False keeps
   * the public stream API: the path every runtime has, and the one TLS connections take.
   */
  readonly direct?: boolean;
  /** Sends a CancelRequest for this connection's backend (`WireSession.cancel`). */
  readonly cancel?: () => Promise<void>;
}

/**
 * Parameter values are short (ids, codes, small strings): below this length they are measured and
 * copied in JavaScript, which costs less than a call into the runtime per value.
 */
const SHORT_TEXT = 32;

/** UTF-8 length of a parameter value (0 for null, which is sent as length -1). */
function byteLength(value: string | null): number {
  if (value === null) return 0;
  if (value.length < SHORT_TEXT) {
    let ascii = true;
    for (let i = 0; i < value.length && ascii; i++) ascii = value.charCodeAt(i) < 0x80;
    if (ascii) return value.length;
  }
  return Buffer.byteLength(value);
}

/** Writes `value` as UTF-8 at `offset`; returns the number of bytes written. */
function writeText(value: string, target: Buffer, offset: number): number {
  if (value.length < SHORT_TEXT) {
    let i = 0;
    for (; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      target[offset + i] = c;
    }
    if (i === value.length) return i;
  }
  return target.write(value, offset);
}

/** Copies a few bytes (a name, a constant tail) at `offset`; returns the offset after them. */
function copyBytes(source: Buffer, target: Buffer, offset: number): number {
  for (let i = 0; i < source.length; i++) target[offset + i] = source[i]!;
  return offset + source.length;
}

/** Wraps an authenticated, idle socket. */
export function createWireSession(socket: Duplex, options: WireOptions = {}): WireSession {
  const queue: Pending[] = [];
  let closedError: Error | undefined;

  const fail = (error: Error) => {
    closedError ??= error;
    while (queue.length) queue.shift()!.done(closedError);
  };

  // Incoming messages. Only ErrorResponse and ReadyForQuery matter; everything else
  // (BindComplete, DataRow, CommandComplete, notices, ...) is skipped without being buffered, so a
  // large result costs no copies.
  let skip = 0; // bytes of a skipped message still to come
  let carry: Buffer | undefined; // the start of a message (or header) split across reads, copied
  const receive = (chunk: Buffer, start: number, limit: number): void => {
    let data = chunk;
    let offset = start;
    if (skip > 0) {
      const n = Math.min(skip, limit - offset);
      skip -= n;
      offset += n;
      if (offset === limit) return;
    }
    if (carry) {
      data = Buffer.concat([carry, chunk.subarray(offset, limit)]);
      carry = undefined;
      offset = 0;
      limit = data.length;
    }
    while (limit - offset >= 5) {
      const type = data[offset]!;
      const end = offset + 1 + data.readInt32BE(offset + 1);
      if (type === 0x5a /* Z: ReadyForQuery */) {
        if (end > limit) break;
        // The transaction status: 'E' is a transaction block that failed, which only a rolled-back
        // call whose statement failed (an error skips the rest of it, its ROLLBACK included)
        // leaves. It is ended before the call completes, so that the session is idle again.
        const failedBlock = data[offset + 5] === 0x45;
        offset = end;
        const pending = queue.shift();
        if (pending && failedBlock) {
          // A lost connection is what the call reports then: the session is gone with it.
          queue.unshift({
            done: (error) => pending.done(error && !(error instanceof WireServerError) ? error : pending.error),
          });
          write(rollbackQuery);
        } else if (pending) pending.done(pending.error);
      } else if (type === 0x45 /* E: ErrorResponse */) {
        if (end > limit) break;
        const fields: Record<string, string> = {};
        let p = offset + 5;
        while (p < end && data[p] !== 0) {
          const key = String.fromCharCode(data[p]!);
          const zero = data.indexOf(0, p + 1);
          fields[key] = data.toString('utf8', p + 1, zero);
          p = zero + 1;
        }
        offset = end;
        const pending = queue[0];
        if (pending)
          pending.error = new WireServerError(
            fields.C ?? 'XX000',
            fields.M ?? 'unknown error',
            fields.P ? Number(fields.P) : undefined,
          );
      } else if (end > limit) {
        skip = end - limit;
        offset = limit;
      } else {
        offset = end;
      }
    }
    // The chunk may be a read buffer the socket reuses: keep a copy of what is left.
    if (offset < limit) carry = Buffer.from(data.subarray(offset, limit));
  };

  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  const binding = loadStreamWrap();
  // The fast path talks to the socket's handle directly: reads land in one reused buffer and are
  // parsed in place (no Buffer, stream push or 'data' event per read), writes go to the handle
  // without the Writable stream's bookkeeping. Only for a plain, idle socket (TLS keeps the
  // stream API) whose handle has the methods the fast path needs.
  const fast =
    options.direct !== false &&
    binding !== null &&
    handle != null &&
    typeof handle.writeBuffer === 'function' &&
    typeof handle.useUserBuffer === 'function' &&
    typeof handle.onread === 'function' &&
    !(socket as { encrypted?: boolean }).encrypted &&
    socket.readableLength === 0 &&
    socket.writableLength === 0;

  let write: (message: Buffer) => void;
  /** A per-session buffer for Bind messages, reused while no write still refers to it. */
  let scratch: Buffer | undefined;
  let scratchView: Buffer | undefined;

  if (fast) {
    const state = binding.streamBaseState;
    const { kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync, WriteWrap } = binding;
    const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    const streamOnRead = handle.onread!;
    handle.useUserBuffer!(readBuffer);
    handle.onread = function (this: StreamHandle, arrayBuffer?: ArrayBuffer) {
      const nread = state[kReadBytesOrError]!;
      if (nread > 0) {
        if (socket.destroyed) return;
        if (arrayBuffer) receive(Buffer.from(arrayBuffer, state[kArrayBufferOffset]!, nread), 0, nread);
        else receive(readBuffer, 0, nread);
        return;
      }
      // End of stream and read errors: Node's own handling ('end', 'error', 'close').
      return streamOnRead.call(this, arrayBuffer);
    };
    let request: WriteRequest | undefined;
    const lost = (status: number) => {
      const error = new Error(`connection lost: write ${util.getSystemErrorName(status)}`);
      fail(error);
      socket.destroy(error);
    };
    const onWriteComplete = (status: number) => {
      if (status < 0) lost(status);
    };
    write = (message) => {
      // Something queued on the stream goes first; the stream may keep the buffer.
      if (socket.writableLength > 0 || socket.destroyed) {
        socket.write(message);
        if (scratch && message.buffer === scratch.buffer) scratch = undefined;
        return;
      }
      let req = request;
      if (!req) {
        req = request = new WriteWrap();
        req.handle = handle;
        req.oncomplete = onWriteComplete;
      }
      const status = handle.writeBuffer!(req, message);
      if (status !== 0) {
        lost(status);
        return;
      }
      if (state[kLastWriteWasAsync]) {
        // The kernel took only part of it: the handle keeps the request and the buffer until the
        // rest is written. Neither may be reused.
        req.buffer = message;
        request = undefined;
        if (scratch && message.buffer === scratch.buffer) scratch = undefined;
      }
    };
  } else {
    socket.on('data', (chunk: Buffer) => receive(chunk, 0, chunk.length));
    write = (message) => {
      socket.write(message);
    };
  }
  socket.on('error', (error) => fail(error));
  socket.on('close', () => fail(new Error('connection closed')));

  const sendThen = (message: Buffer, done: (error?: Error) => void): void => {
    if (closedError) {
      done(closedError);
      return;
    }
    queue.push({ done });
    write(message);
  };
  const send = (message: Buffer): Promise<void> =>
    new Promise((resolve, reject) => sendThen(message, (error) => (error ? reject(error) : resolve())));

  const sync = Buffer.from([0x53, 0, 0, 0, 4]); // S: Sync
  const executeAll = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0]); // E: Execute the unnamed portal, all rows
  const tail = Buffer.concat([executeAll, sync]);
  /** Bind of a prepared statement without parameters, then Execute. */
  const bindExecute = (name: string): Buffer => {
    const bind = Buffer.alloc(1 + 4 + 1 + cstringLength(name) + 6);
    bind[0] = 0x42; // B: Bind
    bind.writeInt32BE(bind.length - 1, 1);
    bind.write(name, 6); // after the unnamed portal's zero; the zeros after it: no formats, no parameters
    return Buffer.concat([bind, executeAll]);
  };
  // A rolled-back call is one pipeline, one round trip: BEGIN, the statement, ROLLBACK, Sync. When
  // the statement fails the server skips to the Sync, and the failed block is ended (above).
  const beginHead = bindExecute(BEGIN_STATEMENT);
  const rollbackTail = Buffer.concat([bindExecute(ROLLBACK_STATEMENT), sync]);
  const rollbackQuery = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 13]), Buffer.from('ROLLBACK\0')]); // Q: Query
  let rollbackPrepared: Promise<void> | undefined;

  /** Statement names as bytes with their terminating zero, encoded once per name. */
  const names = new Map<string, Buffer>();
  const nameBytes = (name: string): Buffer => {
    let bytes = names.get(name);
    if (!bytes) names.set(name, (bytes = Buffer.from(`${name}\0`)));
    return bytes;
  };

  /**
   * Bind (text parameters; results in text and ignored), Execute and Sync, in one buffer;
   * `rolledBack`: after BEGIN, and with ROLLBACK before the Sync.
   */
  const bindExecuteSync = (
    name: string,
    params: readonly (string | null)[] | undefined,
    rolledBack = false,
  ): Buffer => {
    const values = params ?? [];
    const statement = nameBytes(name);
    const head = rolledBack ? beginHead.length : 0;
    const end = rolledBack ? rollbackTail : tail;
    // Bind, then Execute and Sync copied from a constant tail, in one buffer: the session's scratch
    // buffer on the fast path (reallocated only when it is too small or a write kept it), else a
    // new one.
    let length = 4 + 1 /* unnamed portal */ + statement.length + 2 + 2 + 2;
    for (let k = 0; k < values.length; k++) length += 4 + byteLength(values[k] ?? null);
    const size = head + 1 + length + (rolledBack ? executeAll.length + end.length : end.length);
    let message: Buffer;
    if (fast) {
      // The write either completes at once (the buffer is free again) or takes it over.
      if (!scratch || scratch.length < size) {
        scratch = Buffer.allocUnsafeSlow(Math.max(256, size));
        scratchView = scratch.subarray(0, size);
      } else if (scratchView!.length !== size) {
        scratchView = scratch.subarray(0, size);
      }
      message = scratchView!;
    } else {
      message = Buffer.allocUnsafe(size);
    }
    let p = rolledBack ? copyBytes(beginHead, message, 0) : 0;
    message[p++] = 0x42; // B: Bind
    message.writeInt32BE(length, p);
    p += 4;
    message[p++] = 0; // unnamed portal
    p = copyBytes(statement, message, p);
    message[p++] = 0; // all parameters in text format: no format codes
    message[p++] = 0;
    message.writeInt16BE(values.length, p);
    p += 2;
    for (let k = 0; k < values.length; k++) {
      const v = values[k] ?? null;
      if (v === null) {
        message.writeInt32BE(-1, p);
        p += 4;
      } else {
        const n = writeText(v, message, p + 4);
        message.writeInt32BE(n, p);
        p += 4 + n;
      }
    }
    message[p++] = 0; // results in text format (and ignored): no format codes
    message[p++] = 0;
    if (rolledBack) p = copyBytes(executeAll, message, p);
    copyBytes(end, message, p);
    return message;
  };

  const prepare = (name: string, sql: string): Promise<void> => {
    const length = 4 + cstringLength(name) + cstringLength(sql) + 2;
    const parse = Buffer.alloc(1 + length);
    parse[0] = 0x50; // P: Parse
    parse.writeInt32BE(length, 1);
    let p = 5;
    p += parse.write(name, p) + 1;
    p += parse.write(sql, p) + 1;
    parse.writeInt16BE(0, p); // no parameter types: the server infers them, as for pg
    return send(Buffer.concat([parse, sync]));
  };

  return {
    prepare,
    execute(name, params, rolledBack) {
      return send(bindExecuteSync(name, params, rolledBack));
    },
    encodeExecute: bindExecuteSync,
    prepareRollback() {
      rollbackPrepared ??= prepare(BEGIN_STATEMENT, 'BEGIN').then(() => prepare(ROLLBACK_STATEMENT, 'ROLLBACK'));
      return rollbackPrepared;
    },
    sendThen,
    simple(sql) {
      const length = 4 + cstringLength(sql);
      const query = Buffer.alloc(1 + length);
      query[0] = 0x51; // Q: Query
      query.writeInt32BE(length, 1);
      query.write(sql, 5);
      return send(query);
    },
    ...(options.cancel ? { cancel: options.cancel } : {}),
    close() {
      if (!closedError) socket.end(Buffer.from([0x58, 0, 0, 0, 4])); // X: Terminate
      fail(new Error('connection closed'));
    },
  };
}
