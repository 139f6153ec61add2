import { beforeAll, describe, expect, it } from 'vitest';
import { fingerprintStatement, loadParser } from '../../src/analyze/parser.js';
import { assembleQueries } from '../../src/capture/assemble.js';
import { entryFromRow, INTERNAL_MARK, type StatDelta } from '../../src/capture/statements.js';
import type { TargetInfo } from '../../src/model/report.js';
import { nestedWarnings } from '../../src/run/finalize.js';

beforeAll(loadParser);

const delta = (queryid: string, toplevel: boolean, calls: number, totalMs: number): StatDelta => {
  const entry = entryFromRow({
    userid: 10,
    dbid: 5,
    queryid,
    toplevel,
    calls,
    total_exec_time: totalMs,
    mean_exec_time: totalMs / calls,
    stddev_exec_time: 0,
  });
  return { ...entry, minMs: null, maxMs: null };
};

describe('statements run inside functions (pg_stat_statements.track = all)', () => {
  // A function's caller, the statement inside the function, and one statement run both at top level
  // and inside a function (one queryid, two entries).
  const deltas = [delta('1', true, 2, 100), delta('2', false, 2, 90), delta('3', true, 4, 20), delta('3', false, 6, 5)];
  const texts = new Map([
    [deltas[0]!.key, 'SELECT app.customer_value($1)'],
    [deltas[1]!.key, 'SELECT sum(amount)        FROM app.sales WHERE customer_id = p_id'],
    [deltas[2]!.key, 'SELECT name FROM app.customers WHERE id = $1'],
    [deltas[3]!.key, 'SELECT name FROM app.customers WHERE id = $1'],
  ]);
  const queries = assembleQueries({ deltas, roundDeltas: [], texts, client: [], dropTransactionControl: false });

  it('are statements of their own, after the top-level ones, with shares of the top-level time', () => {
    expect(queries.map((q) => [q.calls, q.totalMs, q.dbTimeShare, q.nested !== undefined])).toEqual([
      [2, 100, 0.833, false],
      [4, 20, 0.167, false],
      [2, 90, 0.75, true],
      [6, 5, 0.042, true],
    ]);
    // The same statement at both levels: one fingerprint, two statements.
    expect(queries[3]!.fingerprint).toBe(queries[1]!.fingerprint);
  });

  it('count twice on PostgreSQL 13, which does not tell them apart: the run says so', () => {
    const target = (serverVersionNum: number, track?: 'top' | 'all'): TargetInfo => ({
      kind: 'external',
      serverVersion: `${Math.floor(serverVersionNum / 10000)}.${serverVersionNum % 100}`,
      serverVersionNum,
      database: 'app',
      address: 'db:5432',
      pgStatStatementsVersion: '1.8',
      ...(track ? { pgStatStatementsTrack: track } : {}),
    });
    expect(nestedWarnings(target(130012, 'all'), queries)[0]).toMatch(
      /^pg_stat_statements\.track is 'all' on PostgreSQL 13\.12, whose pg_stat_statements does not say which statements ran inside functions/,
    );
    expect(nestedWarnings(target(130012, 'top'), queries)).toEqual([]);
    expect(nestedWarnings(target(140000, 'all'), queries)).toEqual([]);
  });
});

describe('a workload statement whose entry carries the text of one of querygate’s own checks', () => {
  // pg_stat_statements keeps the first text it saw for a query id: querygate's `SELECT current_user
  // AS role` check and a workload's `SELECT current_user` have one, and the check may come first.
  const deltas = [delta('7', true, 3, 1), delta('8', true, 1, 1)];
  const texts = new Map([
    [deltas[0]!.key, `SELECT ${INTERNAL_MARK} current_user AS role`],
    [deltas[1]!.key, `SELECT ${INTERNAL_MARK} rolsuper FROM pg_roles WHERE rolname = current_user`],
  ]);
  const client = (sql: string) => ({
    fingerprint: fingerprintStatement(sql),
    name: 'who',
    sql,
    paramCount: 0,
    latency: null,
    errors: 0,
    errorSamples: [],
  });

  it('is the workload statement, with its own text; querygate’s other checks stay out', () => {
    const queries = assembleQueries({
      deltas,
      roundDeltas: [],
      texts,
      client: [client('SELECT current_user')],
      dropTransactionControl: false,
    });
    expect(queries.map((q) => [q.query, q.calls])).toEqual([['SELECT current_user', 3]]);
  });

  it('stays out when the workload sent no statement of that shape', () => {
    expect(assembleQueries({ deltas, roundDeltas: [], texts, client: [], dropTransactionControl: false })).toEqual([]);
  });
});
