import { describe, expect, it } from 'vitest';
import { diffSnapshots, entryFromRow, sumDeltas, type Snapshot } from '../../src/capture/statements.js';

const row = (queryid: string, calls: number, mean: number, stddev: number, extra: Record<string, unknown> = {}) => ({
  userid: 10,
  dbid: 5,
  queryid,
  toplevel: true,
  calls,
  total_exec_time: calls * mean,
  mean_exec_time: mean,
  stddev_exec_time: stddev,
  min_exec_time: mean - stddev,
  max_exec_time: mean + stddev,
  rows: calls,
  shared_blks_hit: calls * 3,
  shared_blks_read: calls,
  ...extra,
});
const snapshot = (...rows: ReturnType<typeof row>[]): Snapshot => ({
  entries: new Map(
    rows.map((r) => {
      const e = entryFromRow(r);
      return [e.key, e];
    }),
  ),
  dealloc: null,
});

describe('pg_stat_statements deltas', () => {
  it('subtracts counters of entries that existed before and keeps new entries whole', () => {
    const before = snapshot(row('1', 10, 2, 0));
    const after = snapshot(row('1', 30, 3, 1), row('2', 5, 1, 0));
    const deltas = diffSnapshots(before, after);
    const d1 = deltas.find((d) => d.queryid === '1')!;
    expect(d1.calls).toBe(20);
    expect(d1.totalMs).toBeCloseTo(90 - 20);
    expect(d1.sharedBlksHit).toBe(60);
    expect(d1.minMs).toBeNull(); // a lifetime minimum cannot be attributed to the window
    const d2 = deltas.find((d) => d.queryid === '2')!;
    expect(d2.calls).toBe(5);
    expect(d2.minMs).toBe(1);
  });

  it('ignores entries that did not run and treats a shrunken entry as evicted and re-created', () => {
    const before = snapshot(row('1', 10, 2, 0), row('3', 100, 1, 0));
    const after = snapshot(row('1', 10, 2, 0), row('3', 4, 1, 0));
    const deltas = diffSnapshots(before, after);
    expect(deltas.map((d) => [d.queryid, d.calls])).toEqual([['3', 4]]);
  });

  it('reads the pre-13 and post-17 column names', () => {
    const old = entryFromRow({
      userid: 1,
      dbid: 1,
      queryid: '9',
      calls: 2,
      total_time: 4,
      mean_time: 2,
      stddev_time: 0,
    });
    expect(old.totalMs).toBe(4);
    expect(old.toplevel).toBe(true);
  });

  it('pools the standard deviation of several entries exactly', () => {
    // Two entries with values {1,1} and {3,3}: combined {1,1,3,3} has mean 2 and stddev 1.
    const deltas = diffSnapshots(snapshot(), snapshot(row('a', 2, 1, 0), row('b', 2, 3, 0)));
    const total = sumDeltas(deltas);
    expect(total.calls).toBe(4);
    expect(total.totalMs).toBe(8);
    expect(total.stddevMs).toBeCloseTo(1, 6);
    expect(total.minMs).toBe(1);
    expect(total.maxMs).toBe(3);
  });
});
