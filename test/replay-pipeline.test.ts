/**
 * Calls pipelined on a connection: up to PIPELINE_DEPTH on the wire, each with its own Sync, so that an error
 * ends only its own call; a call in a transaction rolled back for it goes alone, since its failure
 * leaves a failed transaction block that nothing may overtake.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import type { Workload, WorkloadStatement } from '../src/model/workload.js';
import { runWorkload } from '../src/run/run.js';
import type { WireSession } from '../src/target/wire.js';
import { createShareReplay, PIPELINE_DEPTH } from '../src/workload/replay.js';
import { loadScenario } from '../src/workload/load.js';
import { createTestDatabase, withSession } from './support/db.js';

function statement(name: string, readOnly: boolean): WorkloadStatement {
  return {
    name,
    sql: `SELECT ${name}`,
    weight: 1,
    params: [],
    paramCount: 0,
    fingerprint: name,
    write: !readOnly,
    readOnly,
  };
}

/** A session answering each call on a later turn, recording how many calls were on its wire at once. */
function countingSession(log: { calls: string[]; wire: string[][] }): WireSession {
  const onWire: string[] = [];
  return {
    prepare: () => Promise.resolve(),
    execute: () => Promise.resolve(),
    encodeExecute: (name) => Buffer.from(name),
    sendThen: (message, done) => {
      onWire.push(message.toString());
      log.calls.push(message.toString());
      log.wire.push([...onWire]);
      setImmediate(() => {
        onWire.shift();
        done();
      });
    },
    simple: () => Promise.resolve(),
    prepareRollback: () => Promise.resolve(),
    close: () => undefined,
  };
}

describe('pipelined calls', () => {
  it('keeps PIPELINE_DEPTH calls on the wire, and a rolled-back call alone', async () => {
    const workload: Workload = {
      kind: 'scenario',
      name: 'pipeline',
      statements: [statement('reads', true), statement('writes', false), statement('reads_too', true)],
      setup: { schema: [], seed: [] },
      load: { connections: 1, shape: { kind: 'repeat', repeat: 30 }, warmupMs: 0, rounds: 1 },
    };
    const run = async (rollback: boolean) => {
      const log = { calls: [] as string[], wire: [] as string[][] };
      const share = createShareReplay(workload, {
        sessions: [countingSession(log)],
        rollback,
        seed: 1,
        share: { index: 0, count: 1 },
        isStopped: () => false,
        createLatency: () => ({ record: () => undefined }),
      });
      // Prepared on first use: the first call of each statement goes the slow way.
      await share.runRound(0);
      return { count: share.calls, wire: log.wire };
    };

    const plain = await run(false);
    expect(plain.count).toBe(90);
    expect(PIPELINE_DEPTH).toBeGreaterThan(1);
    expect(Math.max(...plain.wire.map((w) => w.length))).toBe(PIPELINE_DEPTH);

    const rolledBack = await run(true);
    expect(rolledBack.count).toBe(90);
    expect(Math.max(...rolledBack.wire.map((w) => w.length))).toBe(2);
    // The write (statement 1, rolled back) never shares the wire with another call.
    for (const wire of rolledBack.wire) if (wire.length > 1) expect(wire).not.toContain('querygate_1');
    expect(rolledBack.wire.filter((w) => w.includes('querygate_1')).length).toBeGreaterThan(0);
  });
});

describe('pipelined calls on a real PostgreSQL', () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('pipeline');
    await withSession(url, (s) =>
      s.query('CREATE TABLE seen (v int PRIMARY KEY); INSERT INTO seen SELECT g FROM generate_series(1, 40, 2) g'),
    );
  });

  const scenario = (lines: string[]) => {
    const file = join(mkdtempSync(join(tmpdir(), 'querygate-pipeline-')), 'pipeline.yaml');
    writeFileSync(file, [...lines, ''].join('\n'));
    return file;
  };

  it('fails only the calls that fail, not the call behind them on the connection', async () => {
    const file = scenario([
      'load: { connections: 1, repeat: 40, rounds: 1 }',
      'statements:',
      '  - name: odd only',
      '    sql: SELECT 1 / ($1::int % 2)',
      '    params: [{ seq: { start: 1, step: 1 } }]',
      '  - name: echo',
      '    sql: SELECT $1::int',
      '    params: [{ seq: { start: 1, step: 1 } }]',
    ]);
    const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
    const bySource = (name: string) => report.queries.find((q) => q.source === name)!;
    expect([bySource('odd only').calls, bySource('odd only').errors]).toEqual([20, 20]);
    expect(bySource('odd only').errorSamples).toEqual(['division by zero']);
    expect([bySource('echo').calls, bySource('echo').errors]).toEqual([40, 0]);
  });

  it('fails only the rolled-back writes that fail, not the reads after them', async () => {
    // Without --allow-writes on an external database the insert runs in a transaction rolled back
    // for it; one that violates the primary key leaves a failed transaction block behind it.
    const file = scenario([
      'load: { connections: 1, repeat: 40, rounds: 1 }',
      'statements:',
      '  - name: insert',
      '    sql: INSERT INTO seen VALUES ($1)',
      '    params: [{ seq: { start: 1, step: 1 } }]',
      '  - name: count',
      '    sql: SELECT count(*) FROM seen WHERE v < $1',
      '    params: [{ seq: { start: 1, step: 1 } }]',
    ]);
    const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
    const bySource = (name: string) => report.queries.find((q) => q.source === name)!;
    expect(report.workload.writesRolledBack).toBe(true);
    expect([bySource('insert').calls, bySource('insert').errors]).toEqual([20, 20]);
    expect(bySource('insert').errorSamples[0]).toMatch(/duplicate key value violates unique constraint "seen_pkey"/);
    expect([bySource('count').calls, bySource('count').errors]).toEqual([40, 0]);
    // Nothing was written.
    const rows = await withSession(url, (s) => s.query<{ n: number }>('SELECT count(*)::int AS n FROM seen'));
    expect(rows.rows[0]!.n).toBe(20);
  });
});
