import { InterruptedError } from '../errors.js';
import type { Session } from './pg.js';

/** Statements that end what was begun (a transaction, a savepoint, a prepared statement): always let through. */
const CLEANUP = /^\s*(ROLLBACK|RELEASE|DEALLOCATE)\b/i;

/**
 * A view of `session` that stops when `signal` aborts: the statement in flight is cancelled (with
 * pg_cancel_backend from a session `openCanceller` opens, as psql's Ctrl-C does), and every later
 * statement is refused with an InterruptedError, except those that close a transaction, so that the
 * session is left as it was. Without it a long EXPLAIN ANALYZE or index build would run to its
 * timeout after Ctrl-C.
 */
export function interruptible(
  session: Session,
  signal: AbortSignal,
  openCanceller: () => Promise<Session>,
): Session & { readonly cancelled: Promise<void> } {
  let inFlight = 0;
  let cancelled: Promise<void> = Promise.resolve();
  const reason = () => String(signal.reason ?? 'interrupted');
  const cancel = async () => {
    const canceller = await openCanceller();
    try {
      await canceller.query('SELECT pg_catalog.pg_cancel_backend($1)', [session.pid]);
    } finally {
      await canceller.close();
    }
  };
  signal.addEventListener(
    'abort',
    () => {
      // A cancel that reaches an idle backend is ignored by the server, so only a running statement
      // is cancelled, and no statement is started after the abort (cleanup aside).
      if (inFlight > 0) cancelled = cancel().catch(() => undefined);
    },
    { once: true },
  );
  return {
    pid: session.pid,
    get cancelled() {
      return cancelled;
    },
    async query<R>(sql: string, params?: readonly unknown[], name?: string) {
      const cleanup = CLEANUP.test(sql);
      if (signal.aborted && !cleanup) throw new InterruptedError(reason());
      if (cleanup) return session.query<R>(sql, params, name);
      inFlight++;
      try {
        return await session.query<R>(sql, params, name);
      } finally {
        inFlight--;
      }
    },
    close: () => session.close(),
  };
}
