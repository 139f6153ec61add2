import { beforeAll, describe, expect, it } from 'vitest';
import { capturePlans } from '../src/capture/assemble.js';
import { explainStatement } from '../src/capture/explain.js';
import type { QueryReport } from '../src/model/report.js';
import { loadParser } from '../src/analyze/parser.js';
import { openSession } from '../src/target/pg.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkload } from '../src/run/run.js';
import { loadScenario } from '../src/workload/load.js';
import { createTestDatabase, withSession } from './support/db.js';

describe('EXPLAIN capture', () => {
  let url: string;
  let version: number;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('explain');
    version = await withSession(url, async (s) => {
      await s.query(
        'CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g % 10 FROM generate_series(1, 5000) g; ANALYZE t',
      );
      return (await s.query<{ n: number }>("SELECT current_setting('server_version_num')::int AS n")).rows[0]!.n;
    });
  });

  it('plans with the real parameter values when known', async () => {
    const s = await openSession(url);
    const r = await explainStatement(s, {
      sql: 'SELECT * FROM t WHERE id = $1',
      params: ['42'],
      paramCount: 1,
      analyze: false,
      timeoutMs: 5000,
      serverVersionNum: version,
    });
    await s.close();
    expect(r.ok && r.plan.mode).toBe('params');
    expect(r.ok && r.plan.params).toEqual(['42']);
  });

  it('makes a generic plan when the values are unknown', async () => {
    const s = await openSession(url);
    const r = await explainStatement(s, {
      sql: 'SELECT * FROM t WHERE v = $1',
      paramCount: 1,
      analyze: false,
      timeoutMs: 5000,
      serverVersionNum: version,
    });
    await s.close();
    expect(r.ok && r.plan.mode).toBe('generic');
    expect(r.ok && r.plan.root['Node Type']).toBe('Seq Scan');
  });

  it('ANALYZE runs inside a transaction that is rolled back', async () => {
    const s = await openSession(url);
    const r = await explainStatement(s, {
      sql: 'DELETE FROM t WHERE id <= 100',
      paramCount: 0,
      analyze: true,
      timeoutMs: 5000,
      serverVersionNum: version,
    });
    const left = await s.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
    await s.close();
    expect(r.ok && r.plan.mode).toBe('analyze');
    expect(r.ok && r.plan.executionMs).toBeGreaterThan(0);
    expect(r.ok && r.plan.root['Actual Rows']).toBe(0);
    expect(left.rows[0]!.n).toBe(5000);
  });

  it('gives up after the statement timeout with a note, not an error', async () => {
    const s = await openSession(url);
    const r = await explainStatement(s, {
      sql: 'SELECT count(*) FROM t a, t b, t c',
      paramCount: 0,
      analyze: true,
      timeoutMs: 200,
      serverVersionNum: version,
    });
    // The session is still usable afterwards.
    const ok = await s.query('SELECT 1 AS one');
    await s.close();
    expect(r).toEqual({
      ok: false,
      note: 'EXPLAIN ANALYZE cancelled after 200 ms by --explain-timeout',
      timedOut: true,
    });
    expect(ok.rows).toEqual([{ one: 1 }]);
  });

  it('keeps the plain plan of a statement whose EXPLAIN ANALYZE runs into --explain-timeout, and its spill findings with it', async () => {
    const db = await createTestDatabase('analyze_timeout');
    await withSession(db, async (s) => {
      await s.query(
        'CREATE TABLE notes AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g; ANALYZE notes',
      );
      // A sort of 20,000 rows spills in 64 kB.
      await s.query(`ALTER DATABASE ${new URL(db).pathname.slice(1)} SET work_mem = '64kB'`);
    });
    const dir = mkdtempSync(join(tmpdir(), 'querygate-analyze-timeout-'));
    const file = join(dir, 'heavy.yaml');
    writeFileSync(
      file,
      [
        'load: { connections: 1, repeat: 1, rounds: 1 }',
        'statements:',
        '  - name: sorted after a pause',
        '    sql: SELECT n.id, n.body FROM notes n, pg_sleep(1) ORDER BY n.body',
        '',
      ].join('\n'),
    );
    const report = await runWorkload({
      workload: loadScenario(file, {}),
      databaseUrl: db,
      analyze: true,
      explainTimeoutMs: 300,
    });
    const q = report.queries.find((x) => x.source === 'sorted after a pause')!;
    // ANALYZE runs the statement, a second at least: cancelled. The plan the run makes without it stays.
    expect(q.plan?.mode).toBe('literal');
    expect(q.planNote).toBe(
      'EXPLAIN ANALYZE cancelled after 300 ms by --explain-timeout: planned without ANALYZE; a longer --explain-timeout analyzes it',
    );
    expect(q.findings.map((f) => f.rule)).toContain('sort-spill');
    expect(report.warnings).toContainEqual(
      expect.stringMatching(
        /^1 statement\(s\) could not be analyzed within the --explain-timeout of 0\.3 s: sorted after a pause: their plans were made without ANALYZE/,
      ),
    );
    // The run used --analyze: no finding tells it to.
    for (const f of q.findings) expect(f.suggestion ?? '').not.toContain('run with --analyze');
    expect(q.findings.find((f) => f.rule === 'slow-mean')?.suggestion).toContain('by --explain-timeout');
  });

  it('says when --analyze skips a statement every call of which failed (timed out)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'querygate-analyze-failed-'));
    const file = join(dir, 'timeouts.yaml');
    writeFileSync(
      file,
      [
        'load: { connections: 1, repeat: 2, rounds: 1, statementTimeout: 200ms }',
        'statements:',
        '  - name: always too slow',
        '    sql: SELECT t.id FROM t, pg_sleep(1) WHERE t.v = $1',
        '    params: [{ int: { min: 1, max: 3 } }]',
        '',
      ].join('\n'),
    );
    const report = await runWorkload({
      workload: loadScenario(file, {}),
      databaseUrl: url,
      analyze: true,
      explainTimeoutMs: 120_000,
    });
    const q = report.queries.find((x) => x.source === 'always too slow')!;
    expect(q.plan?.notAnalyzed).toMatch(/^every call failed/);
    expect(report.warnings).toContainEqual(
      '--analyze: 1 statement(s) were not analyzed, as every call failed and executing it would fail or run away ' +
        'again: always too slow: their plans were made without ANALYZE (estimates, no actual rows or times)',
    );
  });

  it('plans a statement seen only in pg_stat_statements, typed literals included', async () => {
    // As pg_stat_statements normalizes `v = 3 AND now() - interval '1 day' < now()`.
    const seen = {
      fingerprint: 'x',
      query: 'SELECT count(*) FROM t WHERE v = $1 AND now() - interval $2 < now()',
      kind: 'select',
      plan: null,
      relations: [],
    } as unknown as QueryReport;
    const s = await openSession(url);
    const { queries, relations } = await capturePlans(s, [seen], {
      analyze: false,
      timeoutMs: 5000,
      serverVersionNum: version,
      limit: 10,
      client: [],
    });
    await s.close();
    expect(queries[0]!.planNote).toBeUndefined();
    expect(queries[0]!.plan?.mode).toBe('generic');
    expect(queries[0]!.relations).toEqual(['public.t']);
    expect(relations.map((r) => r.name)).toEqual(['public.t']);
  });

  it('records whether PostgreSQL can index the expressions a plan sorts or groups by, leaving nothing behind', async () => {
    await withSession(url, (s) =>
      s.query(
        `CREATE TABLE paid (id int PRIMARY KEY, at timestamptz NOT NULL, local timestamp NOT NULL);
         INSERT INTO paid SELECT g, now() + g * interval '1 hour', localtimestamp + g * interval '1 hour' FROM generate_series(1, 500) g;
         ANALYZE paid`,
      ),
    );
    const statement = (sql: string) =>
      ({ fingerprint: sql, query: sql, kind: 'select', plan: null, relations: [] }) as unknown as QueryReport;
    const s = await openSession(url);
    const { relations } = await capturePlans(
      s,
      [
        statement("SELECT date_trunc('month', at), count(*) FROM paid GROUP BY 1"),
        statement("SELECT id FROM paid ORDER BY date_trunc('day', local), id"),
        // Expressions a scan's filter compares, which an index on the expression would serve.
        statement("SELECT count(*) FROM paid WHERE date(at) = '2024-01-01' OR at::text LIKE '2024%'"),
        statement("SELECT count(*) FROM paid WHERE at + interval '1 day' > now() AND date(local) = '2024-01-01'"),
        statement('SELECT id, rank() OVER (ORDER BY sum(id) DESC) FROM paid GROUP BY id'),
      ],
      { analyze: false, timeoutMs: 5000, serverVersionNum: version, limit: 10, client: [] },
    );
    const left = await s.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'querygate%' OR (relname LIKE 'paid%' AND relname NOT IN ('paid', 'paid_pkey'))",
    );
    await s.close();
    const paid = relations.find((r) => r.name === 'public.paid');
    // date_trunc() of a timestamptz depends on the TimeZone (not IMMUTABLE); of a timestamp it does not.
    expect(paid?.indexableExpressions).toEqual({
      "date_trunc('month'::text, at)": false,
      "date_trunc('day'::text, local)": true,
      'date(at)': false,
      '(at)::text': false,
      "(at + '1 day'::interval)": false,
      'date(local)': true,
      'sum(id)': false,
    });
    // Why, from the catalog: the function (of a cast, an operator, a conversion through text) the
    // server resolved, and its volatility; an aggregate is no function of one row.
    const mutable = (functions: unknown[]) => ({
      reason: 'mutable',
      functions,
      message: 'functions in index expression must be marked IMMUTABLE',
    });
    expect(paid?.expressionRefusals).toEqual({
      "date_trunc('month'::text, at)": mutable([
        { function: 'date_trunc(text,timestamp with time zone)', volatility: 'stable' },
      ]),
      'date(at)': mutable([{ function: 'date(timestamp with time zone)', volatility: 'stable' }]),
      '(at)::text': mutable([
        {
          function: 'timestamptz_out(timestamp with time zone)',
          volatility: 'stable',
          conversion: 'of timestamp with time zone to text',
        },
      ]),
      "(at + '1 day'::interval)": mutable([
        { function: 'timestamptz_pl_interval(timestamp with time zone,interval)', volatility: 'stable', operator: '+' },
      ]),
      'sum(id)': {
        reason: 'aggregate',
        functions: [{ function: 'sum(integer)', kind: 'aggregate' }],
        message: 'aggregate functions are not allowed in index expressions',
      },
    });
    expect(left.rows[0]!.n).toBe(0);
  });
});
