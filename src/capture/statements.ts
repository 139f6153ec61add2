/**
 * pg_stat_statements snapshots and their deltas. querygate never resets statistics on a server it
 * did not start: it diffs a snapshot taken before the workload with one taken after, keyed by
 * (userid, dbid, queryid, toplevel) and restricted to the target database.
 *
 * Units: pg_stat_statements times are milliseconds; blocks are 8 kB pages; wal_bytes are bytes.
 */
import { EnvironmentError } from '../errors.js';
import type { Session } from '../target/pg.js';

/**
 * Marks querygate's own statements so they are never reported as part of the workload. It goes
 * after the first keyword: pg_stat_statements keeps the text from the statement's start, so a
 * leading comment would be cut off.
 */
export const INTERNAL_MARK = '/* querygate:internal */';

/** Cumulative counters of one pg_stat_statements entry. */
export interface StatEntry {
  readonly key: string;
  readonly queryid: string;
  readonly toplevel: boolean;
  readonly calls: number;
  readonly totalMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Sum of squared execution times, derived from mean and (population) stddev. */
  readonly sumSquares: number;
  readonly rows: number;
  readonly sharedBlksHit: number;
  readonly sharedBlksRead: number;
  readonly sharedBlksDirtied: number;
  readonly sharedBlksWritten: number;
  readonly tempBlksRead: number;
  readonly tempBlksWritten: number;
  readonly walBytes: number;
  readonly planMs: number;
  readonly plans: number;
}

export interface Snapshot {
  readonly entries: ReadonlyMap<string, StatEntry>;
  /** pg_stat_statements_info.dealloc (PostgreSQL 14+), null when not available. */
  readonly dealloc: number | null;
}

/** What one entry did between two snapshots. min/max are null when not attributable to the window. */
export interface StatDelta extends Omit<StatEntry, 'minMs' | 'maxMs' | 'key'> {
  readonly key: string;
  readonly minMs: number | null;
  readonly maxMs: number | null;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : v == null ? 0 : Number(v));

/** Builds a StatEntry from a `to_jsonb(pg_stat_statements row)`, whatever the server version. */
export function entryFromRow(row: Readonly<Record<string, unknown>>): StatEntry {
  // PostgreSQL 13 renamed total_time -> total_exec_time; 17 renamed blk_read_time -> shared_blk_read_time.
  const calls = num(row.calls);
  const mean = num(row.mean_exec_time ?? row.mean_time);
  const stddev = num(row.stddev_exec_time ?? row.stddev_time);
  const toplevel = row.toplevel === undefined ? true : Boolean(row.toplevel);
  const queryid = String(row.queryid);
  return {
    key: statKey(String(row.userid), String(row.dbid), queryid, toplevel),
    queryid,
    toplevel,
    calls,
    totalMs: num(row.total_exec_time ?? row.total_time),
    minMs: num(row.min_exec_time ?? row.min_time),
    maxMs: num(row.max_exec_time ?? row.max_time),
    sumSquares: calls * (stddev * stddev + mean * mean),
    rows: num(row.rows),
    sharedBlksHit: num(row.shared_blks_hit),
    sharedBlksRead: num(row.shared_blks_read),
    sharedBlksDirtied: num(row.shared_blks_dirtied),
    sharedBlksWritten: num(row.shared_blks_written),
    tempBlksRead: num(row.temp_blks_read),
    tempBlksWritten: num(row.temp_blks_written),
    walBytes: num(row.wal_bytes),
    planMs: num(row.total_plan_time),
    plans: num(row.plans),
  };
}

/** The schema of each session's pg_stat_statements, quoted: looked up once per session. */
const statsSchemas = new WeakMap<Session, Promise<string>>();

/**
 * The schema pg_stat_statements is installed in, quoted for SQL. querygate's own queries name it,
 * so that they do not depend on the search_path, which the user's role or a setup file may set
 * without the extension's schema (`ALTER ROLE app SET search_path = app`). Catalog objects are
 * named with pg_catalog for the same reason.
 */
export function statsSchema(session: Session): Promise<string> {
  let schema = statsSchemas.get(session);
  if (!schema) {
    schema = session
      .query<{ schema: string }>(
        `SELECT ${INTERNAL_MARK} pg_catalog.quote_ident(n.nspname) AS schema
           FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname = 'pg_stat_statements'`,
      )
      .then(({ rows }) => {
        const found = rows[0]?.schema;
        if (found === undefined) {
          throw new EnvironmentError(
            'PG_STAT_STATEMENTS_MISSING',
            'pg_stat_statements is not installed in this database (CREATE EXTENSION pg_stat_statements)',
          );
        }
        return found;
      });
    schema.catch(() => statsSchemas.delete(session));
    statsSchemas.set(session, schema);
  }
  return schema;
}

/** Reads the counters of every entry of the current database (without query texts: cheap). */
export async function takeSnapshot(session: Session, serverVersionNum: number): Promise<Snapshot> {
  const schema = await statsSchema(session);
  // queryid is a 64-bit integer: read it as text, a JSON number would lose precision.
  const { rows } = await session.query<{ qid: string; s: Record<string, unknown> }>(
    `SELECT ${INTERNAL_MARK} s.queryid::text AS qid, pg_catalog.to_jsonb(s) AS s FROM ${schema}.pg_stat_statements(false) s
      WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())`,
  );
  const entries = new Map<string, StatEntry>();
  for (const { qid, s } of rows) {
    const entry = entryFromRow({ ...s, queryid: qid });
    entries.set(entry.key, entry);
  }
  let dealloc: number | null = null;
  if (serverVersionNum >= 140000) {
    const info = await session.query<{ dealloc: number }>(
      `SELECT ${INTERNAL_MARK} dealloc FROM ${schema}.pg_stat_statements_info`,
    );
    dealloc = info.rows[0]?.dealloc ?? null;
  }
  return { entries, dealloc };
}

/**
 * The key of a pg_stat_statements entry: (userid, dbid, queryid, toplevel), as the server keys it.
 * One queryid has an entry per role and per level, and each keeps its own text: the first text seen
 * by that role at that level, which another role's may not match (`PREPARE p AS ... $1` against a
 * function's `... k`).
 */
export function statKey(userid: string, dbid: string, queryid: string, toplevel: boolean): string {
  return `${userid}:${dbid}:${queryid}:${toplevel ? 't' : 'f'}`;
}

/**
 * Query texts of the given entries, by their `key` (`statKey`): each entry's own text, never that
 * of another role's entry with the same queryid. The statement an EXPLAIN plans is recorded inside
 * it (toplevel false, with `track = all`), under the statement's own queryid and with the EXPLAIN's
 * text: when querygate's own EXPLAIN created that entry, the statement's later runs inside a
 * function are counted in it, and its text is the statement's.
 */
export async function fetchQueryTexts(
  session: Session,
  entries: readonly Pick<StatEntry, 'key' | 'queryid'>[],
): Promise<Map<string, string>> {
  if (entries.length === 0) return new Map();
  const wanted = new Set(entries.map((e) => e.key));
  const schema = await statsSchema(session);
  // pg_stat_statements has toplevel from PostgreSQL 14: read through to_jsonb, as on every version.
  // Other roles' entries of these queryids are read too (one query, no composite-key array), then left out.
  const { rows } = await session.query<{
    userid: string;
    dbid: string;
    queryid: string;
    query: string;
    toplevel: boolean;
  }>(
    `SELECT ${INTERNAL_MARK} s.userid::text AS userid, s.dbid::text AS dbid, s.queryid::text AS queryid, s.query,
            coalesce((pg_catalog.to_jsonb(s) ->> 'toplevel')::boolean, true) AS toplevel
       FROM ${schema}.pg_stat_statements(true) s
      WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
        AND s.queryid = ANY($1::bigint[])`,
    [[...new Set(entries.map((e) => e.queryid))]],
  );
  const texts = new Map<string, string>();
  for (const r of rows) {
    const key = statKey(r.userid, r.dbid, r.queryid, r.toplevel);
    if (!wanted.has(key)) continue;
    texts.set(key, r.toplevel ? r.query : (explainedStatement(r.query) ?? r.query));
  }
  return texts;
}

/** The statement querygate's own EXPLAIN planned (`EXPLAIN <mark> (options) <statement>`), else undefined. */
function explainedStatement(text: string): string | undefined {
  const prefix = `EXPLAIN ${INTERNAL_MARK} (`;
  if (!text.startsWith(prefix)) return undefined;
  // querygate's EXPLAIN options are words and commas: the first ')' closes them.
  const close = text.indexOf(')', prefix.length);
  return close < 0 ? undefined : text.slice(close + 1).trim();
}

/**
 * Entries that ran between `before` and `after`. An entry whose call count went down was evicted
 * and re-created in between: its `after` counters are all from the window.
 */
export function diffSnapshots(before: Snapshot, after: Snapshot): StatDelta[] {
  const deltas: StatDelta[] = [];
  for (const [key, a] of after.entries) {
    const b = before.entries.get(key);
    if (!b || a.calls < b.calls) {
      if (a.calls > 0) deltas.push({ ...a, minMs: a.minMs, maxMs: a.maxMs });
      continue;
    }
    const calls = a.calls - b.calls;
    if (calls <= 0) continue;
    deltas.push({
      key,
      queryid: a.queryid,
      toplevel: a.toplevel,
      calls,
      totalMs: a.totalMs - b.totalMs,
      // Lifetime extremes: only a new extreme is known to come from the window.
      minMs: null,
      maxMs: a.maxMs > b.maxMs ? a.maxMs : null,
      sumSquares: Math.max(0, a.sumSquares - b.sumSquares),
      rows: a.rows - b.rows,
      sharedBlksHit: a.sharedBlksHit - b.sharedBlksHit,
      sharedBlksRead: a.sharedBlksRead - b.sharedBlksRead,
      sharedBlksDirtied: a.sharedBlksDirtied - b.sharedBlksDirtied,
      sharedBlksWritten: a.sharedBlksWritten - b.sharedBlksWritten,
      tempBlksRead: a.tempBlksRead - b.tempBlksRead,
      tempBlksWritten: a.tempBlksWritten - b.tempBlksWritten,
      walBytes: a.walBytes - b.walBytes,
      planMs: a.planMs - b.planMs,
      plans: a.plans - b.plans,
    });
  }
  return deltas;
}

/** Entries evicted between two snapshots (pg_stat_statements.max reached), or null if unknown. */
export function evictedBetween(before: Snapshot, after: Snapshot): number | null {
  if (before.dealloc === null || after.dealloc === null) return null;
  return after.dealloc - before.dealloc;
}

/** The sum of several deltas of the same statement (e.g. several pg_stat_statements entries). */
export interface StatTotals {
  readonly calls: number;
  readonly totalMs: number;
  readonly minMs: number | null;
  readonly maxMs: number | null;
  readonly stddevMs: number;
  readonly rows: number;
  readonly sharedBlksHit: number;
  readonly sharedBlksRead: number;
  readonly sharedBlksDirtied: number;
  readonly sharedBlksWritten: number;
  readonly tempBlksRead: number;
  readonly tempBlksWritten: number;
  readonly walBytes: number;
  readonly planMs: number;
  readonly plans: number;
}

/** Adds up deltas; the standard deviation is pooled exactly from the sums of squares. */
export function sumDeltas(deltas: readonly StatDelta[]): StatTotals {
  const add = (f: (d: StatDelta) => number) => deltas.reduce((s, d) => s + f(d), 0);
  const calls = add((d) => d.calls);
  const totalMs = add((d) => d.totalMs);
  const sumSquares = add((d) => d.sumSquares);
  const mean = calls ? totalMs / calls : 0;
  const variance = calls ? Math.max(0, sumSquares / calls - mean * mean) : 0;
  const mins = deltas.map((d) => d.minMs);
  const maxs = deltas.map((d) => d.maxMs);
  return {
    calls,
    totalMs,
    minMs: mins.every((m) => m !== null) && mins.length ? Math.min(...(mins as number[])) : null,
    maxMs: maxs.some((m) => m !== null) ? Math.max(...maxs.filter((m): m is number => m !== null)) : null,
    stddevMs: Math.sqrt(variance),
    rows: add((d) => d.rows),
    sharedBlksHit: add((d) => d.sharedBlksHit),
    sharedBlksRead: add((d) => d.sharedBlksRead),
    sharedBlksDirtied: add((d) => d.sharedBlksDirtied),
    sharedBlksWritten: add((d) => d.sharedBlksWritten),
    tempBlksRead: add((d) => d.tempBlksRead),
    tempBlksWritten: add((d) => d.tempBlksWritten),
    walBytes: add((d) => d.walBytes),
    planMs: add((d) => d.planMs),
    plans: add((d) => d.plans),
  };
}
