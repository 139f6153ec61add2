import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Workload, WorkloadStatement } from '../src/model/workload.js';
import type { WireSession } from '../src/target/wire.js';
import { createCallCounters, createShareReplay, replayThreads, type LatencySink } from '../src/workload/replay.js';
import { runCli, runCliInterrupted } from './support/cli.js';
import { scratchDatabase, withSession } from './support/db.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const sql = (name: string) => here(`./fixtures/sql/${name}`);

function statement(name: string, params: WorkloadStatement['params'], weight = 1): WorkloadStatement {
  return { name, sql: `SELECT ${name}`, weight, params, paramCount: params.length, fingerprint: name, write: false };
}

function workloadOf(statements: WorkloadStatement[], load: Partial<Workload['load']>): Workload {
  return {
    kind: 'scenario',
    name: 'threads',
    statements,
    setup: { schema: [], seed: [] },
    load: { connections: 4, shape: { kind: 'repeat', repeat: 1 }, warmupMs: 0, rounds: 1, ...load },
  };
}

type Call = { statement: number; params: readonly (string | null)[] | undefined };

/** A session that answers every call on the next tick and records what was executed. */
function fakeSession(calls: Call[]): WireSession {
  return {
    prepare: () => Promise.resolve(),
    execute: (name, params) => {
      calls.push({ statement: Number(name.split('_')[1]), params });
      return Promise.resolve();
    },
    encodeExecute: (name, params) => Buffer.from(JSON.stringify({ statement: Number(name.split('_')[1]), params })),
    sendThen: (message, done) => {
      calls.push(JSON.parse(message.toString()) as Call);
      setImmediate(done);
    },
    simple: () => Promise.resolve(),
    prepareRollback: () => Promise.resolve(),
    close: () => undefined,
  };
}

const noLatency = (): LatencySink => ({ record: () => undefined });

/** Runs every thread's share of `workload` one after the other, as the worker threads would. */
async function runShares(workload: Workload, threads: number, seed = 1): Promise<Call[][]> {
  const perThread: Call[][] = [];
  const callCounters = createCallCounters(workload.statements.length);
  for (let index = 0; index < threads; index++) {
    const calls: Call[] = [];
    const share = createShareReplay(workload, {
      sessions: [fakeSession(calls), fakeSession(calls)],
      rollback: false,
      seed,
      share: { index, count: threads },
      callCounters,
      isStopped: () => false,
      createLatency: noLatency,
    });
    for (let round = 0; round < workload.load.rounds; round++) await share.runRound(round);
    perThread.push(calls);
  }
  return perThread;
}

const countBy = (calls: readonly Call[], n: number) => {
  const counts = new Array<number>(n).fill(0);
  for (const c of calls) counts[c.statement]!++;
  return counts;
};

describe('shares of a replay split over threads', () => {
  it('uses one thread per core by default, never more than the connections', () => {
    expect(replayThreads(workloadOf([statement('a', [])], { connections: 1 }))).toBe(1);
    expect(replayThreads(workloadOf([statement('a', [])], { connections: 3, threads: 8 }))).toBe(3);
    expect(replayThreads(workloadOf([statement('a', [])], { connections: 4, threads: 2 }))).toBe(2);
  });

  it('covers each statement exactly `repeat` times over all threads', async () => {
    const workload = workloadOf([statement('a', []), statement('b', []), statement('c', [])], {
      shape: { kind: 'repeat', repeat: 7 },
    });
    for (const threads of [1, 2, 3, 4]) {
      const all = (await runShares(workload, threads)).flat();
      expect(countBy(all, 3), `${threads} thread(s)`).toEqual([7, 7, 7]);
    }
  });

  it('splits a count exactly over the threads', async () => {
    const workload = workloadOf([statement('a', [], 3), statement('b', [])], {
      shape: { kind: 'count', count: 101 },
      rounds: 2,
    });
    const shares = await runShares(workload, 3);
    expect(shares.map((s) => s.length)).toEqual([33, 34, 34]);
  });

  it('keeps seq values unique across threads and parameters deterministic for a seed', async () => {
    const workload = workloadOf(
      [
        statement('a', [
          { kind: 'seq', start: 5, step: 10 },
          { kind: 'int', min: 1, max: 1000000 },
        ]),
      ],
      {
        shape: { kind: 'repeat', repeat: 40 },
        rounds: 2,
      },
    );
    const shares = await runShares(workload, 3, 42);
    const seqs = shares.flat().map((c) => Number(c.params![0]));
    expect(new Set(seqs).size).toBe(40);
    expect(seqs.every((v) => (v - 5) % 10 === 0)).toBe(true);
    expect(await runShares(workload, 3, 42)).toEqual(shares);
    // Thread 0 of 1 replays what the single-threaded replay always did: seq from its start.
    const single = (await runShares(workload, 1, 42))[0]!.map((c) => Number(c.params![0]));
    expect(single.slice(0, 3)).toEqual([5, 15, 25]);
  });

  it('gives a statement the same values whatever the other statements, their order and weights, and the threads', async () => {
    const followed = statement('followed', [
      { kind: 'int', min: 1, max: 1000000 },
      { kind: 'string', length: 5, alphabet: 'abcdef' },
      { kind: 'seq', start: 1, step: 1 },
    ]);
    const valuesOf = (shares: Call[][], i: number) =>
      shares
        .flat()
        .filter((c) => c.statement === i)
        .map((c) => c.params!.join(' '))
        .sort();
    const alone = valuesOf(await runShares(workloadOf([followed], { shape: { kind: 'repeat', repeat: 30 } }), 1), 0);
    expect(new Set(alone).size).toBe(30);
    const others = [
      statement('x', [{ kind: 'int', min: 1, max: 9 }], 5),
      statement('y', [{ kind: 'pick', values: [1] }]),
    ];
    const mixed = workloadOf([others[0]!, followed, others[1]!], { shape: { kind: 'count', count: 210 }, rounds: 3 });
    for (const threads of [1, 3])
      expect(valuesOf(await runShares(mixed, threads), 1), `${threads} thread(s)`).toEqual(alone);
  });

  it('draws the warm-up from values of its own, and continues a seq after it', async () => {
    const params: WorkloadStatement['params'] = [
      { kind: 'int', min: 1, max: 1000000 },
      { kind: 'seq', start: 10, step: 2 },
    ];
    const workload = workloadOf([statement('a', params), statement('b', params)], {
      shape: { kind: 'repeat', repeat: 20 },
    });
    const measure = async (warmUpMs: number) => {
      const calls: Call[] = [];
      const share = createShareReplay(workload, {
        sessions: [fakeSession(calls), fakeSession(calls)],
        rollback: false,
        seed: 3,
        share: { index: 0, count: 1 },
        isStopped: () => false,
        createLatency: noLatency,
      });
      if (warmUpMs > 0) await share.warmUp(warmUpMs);
      const warmUp = calls.filter((c) => c.statement === 0).length;
      calls.length = 0;
      await share.runRound(0);
      const ofA = calls.filter((c) => c.statement === 0).map((c) => c.params!);
      // Calls go out on several connections, each with calls on the wire ahead of the others: the
      // values, not the order they were sent in, continue the seq.
      return { warmUp, ints: ofA.map((p) => p[0]).sort(), seqs: ofA.map((p) => Number(p[1])).sort((x, y) => x - y) };
    };
    const cold = await measure(0);
    const warm = await measure(30);
    expect(warm.warmUp).toBeGreaterThan(0);
    expect(warm.ints).toEqual(cold.ints);
    expect(cold.seqs).toEqual(Array.from({ length: 20 }, (_, j) => 10 + 2 * j));
    expect(warm.seqs).toEqual(Array.from({ length: 20 }, (_, j) => 10 + 2 * (warm.warmUp + j)));
  });
});

/** These run the built binary: worker threads load dist/workload/replay-worker.js. */
describe('querygate run --threads (CLI)', () => {
  let dir: string;
  let url: string;
  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('threads'));
  });

  it('gives exact call counts per statement and per round over 2 threads (the warm-up is not counted)', async () => {
    const out = join(dir, 'repeat.json');
    const result = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--schema',
      sql('schema.sql'),
      '--seed',
      sql('seed.sql'),
      '--database-url',
      url,
      '--setup',
      '--repeat',
      '6',
      '--rounds',
      '2',
      '--connections',
      '4',
      '--threads',
      '2',
      '--warmup',
      '500ms',
      '--out',
      out,
    ]);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run.complete).toBe(true);
    expect(report.totals.calls).toBe(24);
    expect(report.queries).toHaveLength(4);
    for (const q of report.queries) {
      expect(q.calls, q.source).toBe(6);
      expect(
        q.rounds.map((r: { calls: number }) => r.calls),
        q.source,
      ).toEqual([3, 3]);
      expect(q.latency.count, q.source).toBe(6);
    }
  });

  it('keeps seq values unique across threads (no duplicate key) and counts exactly', async () => {
    await withSession(url, (s) =>
      s.query('CREATE TABLE IF NOT EXISTS thread_rows (id integer PRIMARY KEY, note text)'),
    );
    const scenario = join(dir, 'inserts.yaml');
    writeFileSync(
      scenario,
      [
        'load:',
        '  connections: 4',
        '  threads: 2',
        '  count: 301',
        '  rounds: 3',
        'statements:',
        '  - name: insert row',
        '    sql: INSERT INTO thread_rows (id, note) VALUES ($1, $2)',
        '    params:',
        '      - seq: { start: 1, step: 1 }',
        '      - string: { length: 8 }',
        '',
      ].join('\n'),
    );
    const out = join(dir, 'inserts.json');
    const result = await runCli(['run', scenario, '--database-url', url, '--allow-writes', '--out', out]);
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.totals.errors).toBe(0);
    expect(report.totals.calls).toBe(301);
    const rows = await withSession(url, (s) =>
      s.query<{ n: number; max: number }>('SELECT count(*) AS n, max(id) AS max FROM thread_rows'),
    );
    expect(rows.rows[0]!.n).toBe(301);
  });

  it('gives every statement of a count load its share by weight in every round, and warns at load about one with fewer calls than rounds', async () => {
    const scenario = join(dir, 'weighted.yaml');
    writeFileSync(
      scenario,
      [
        'load:',
        '  connections: 4',
        '  threads: 2',
        '  count: 96',
        '  rounds: 3',
        'statements:',
        '  - name: frequent',
        '    sql: SELECT now()',
        '    weight: 30',
        '  - name: rare a',
        '    sql: SELECT current_user',
        '  - name: rare b',
        '    sql: SELECT pg_backend_pid()',
        '  - name: rarest',
        '    sql: SELECT version()',
        '    weight: 0.5',
        '',
      ].join('\n'),
    );
    const out = join(dir, 'weighted.json');
    const result = await runCli(['run', scenario, '--database-url', url, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    // 96 calls by weight (30 : 1 : 1 : 0.5) are 89, 3, 3 and 1: the last cannot run in 3 rounds.
    const warning =
      'count 96 gives 1 statement(s) fewer calls than the 3 rounds: "rarest" (weight 0.5: 1 call); a round without a call ' +
      'has no timing, so budgets take the median of fewer rounds and compare cannot test it: raise count to 195 or more, ' +
      'raise its weight, or use repeat (every statement as many calls)';
    expect(result.stderr.replace(/\s+/g, ' ')).toContain(`querygate: warning: ${warning}`);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.warnings).toContain(warning);
    const rounds = (name: string) =>
      report.queries.find((q: { source: string }) => q.source === name).rounds.map((r: { calls: number }) => r.calls);
    expect(rounds('frequent')).toEqual([29, 30, 30]);
    expect(rounds('rare a')).toEqual([1, 1, 1]);
    expect(rounds('rare b')).toEqual([1, 1, 1]);
    expect(rounds('rarest').reduce((a: number, b: number) => a + b, 0)).toBe(1);
    expect(report.totals.calls).toBe(96);
  });

  it('writes the partial report and exits 130 when interrupted with Ctrl-C', async () => {
    const out = join(dir, 'interrupted.json');
    // Interrupt once calls are being measured: after a fixed delay, a start slowed by other load had none yet.
    const lookups = () =>
      withSession(url, async (s) => {
        const r = await s.query<{ n: string }>(
          `SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = current_database() AND s.query = 'SELECT owner, balance FROM accounts WHERE id = $1'`,
        );
        return Number(r.rows[0]!.n);
      });
    const before = await lookups();
    const result = await runCliInterrupted(
      [
        'run',
        '--workload',
        sql('workload.sql'),
        '--duration',
        '60s',
        '--threads',
        '2',
        '--connections',
        '4',
        '--database-url',
        url,
        '--out',
        out,
      ],
      { until: async () => (await lookups()) >= before + 20, afterMs: 200 },
    );
    const interruptedAt = result.interruptedAt!;
    // The threads stop at their next call, not at the end of the round.
    expect(Date.now() - interruptedAt).toBeLessThan(20_000);
    expect(result.code).toBe(130);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run.complete).toBe(false);
    expect(report.run.interruptedBy).toBe('interrupted by SIGINT');
    expect(report.totals.calls).toBeGreaterThan(0);
    expect(result.stderr).toContain('(incomplete)');
  });
});
