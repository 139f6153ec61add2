import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import { capturePlans } from '../src/capture/assemble.js';
import { explainStatement } from '../src/capture/explain.js';
import type { QueryReport } from '../src/model/report.js';
import { runWorkload } from '../src/run/run.js';
import { openSession } from '../src/target/pg.js';
import { openTarget } from '../src/target/target.js';
import { loadScenario, loadSqlWorkload } from '../src/workload/load.js';
import { findSystemPostgres, startSystemPostgres, type SystemPostgres } from './support/system-postgres.js';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The machine's own older server (PostgreSQL 13-15), where there is one: pg_stat_statements
// columns and EXPLAIN options differ from the embedded (newest) server.
describe.runIf(findSystemPostgres())('an older PostgreSQL server', () => {
  let server: SystemPostgres;
  beforeAll(async () => {
    await loadParser();
    server = (await startSystemPostgres({ preload: true }))!;
    const s = await openSession(server.url);
    await s.query('CREATE EXTENSION pg_stat_statements');
    await s.close();
  });
  afterAll(async () => server?.stop());

  it('runs a scenario and captures statistics and plans', async () => {
    const workload = loadScenario(fileURLToPath(new URL('./fixtures/scenarios/valid.yaml', import.meta.url)), {});
    const report = await runWorkload({ workload, databaseUrl: server.url, setup: true });
    expect(report.target.serverVersionNum).toBeLessThan(160000);
    expect(report.totals.calls).toBe(60);
    const byId = report.queries.find((q) => q.source === 'account by id')!;
    expect(byId.plan?.root['Node Type']).toMatch(/^Index/);
    expect(byId.meanMs).toBeGreaterThan(0);
    expect(byId.sharedBlksHit + byId.sharedBlksRead).toBeGreaterThan(0);
  });

  it('makes a generic plan without GENERIC_PLAN (PostgreSQL < 16), leaving nothing prepared', async () => {
    const s = await openSession(server.url);
    try {
      const result = await explainStatement(s, {
        sql: 'SELECT owner FROM accounts WHERE id = $1',
        paramCount: 1,
        analyze: false,
        timeoutMs: 5000,
        serverVersionNum: 150000,
      });
      expect(result.ok).toBe(true);
      if (result.ok) {
        expect(result.plan.mode).toBe('generic');
        expect(result.plan.root['Node Type']).toMatch(/^Index/);
      }
      const prepared = await s.query('SELECT count(*)::int AS n FROM pg_prepared_statements');
      expect(prepared.rows[0]).toEqual({ n: 0 });
    } finally {
      await s.close();
    }
  });

  it('types the parameters of a normalized statement that PostgreSQL cannot prepare untyped', async () => {
    // pg_stat_statements turns `id < 10 + 5` into `id < $1 + $2` and `'all' IS NULL` into `$3 IS NULL`.
    const s = await openSession(server.url);
    try {
      const result = await explainStatement(s, {
        sql: 'SELECT owner FROM accounts WHERE id = $1 * $2 AND ($3 IS NULL OR owner <> $4)',
        paramCount: 4,
        analyze: false,
        timeoutMs: 5000,
        serverVersionNum: 150000,
      });
      expect(result.ok ? result.plan.assumedTypes : result.note).toEqual({ $1: 'integer', $2: 'integer', $3: 'text' });
      if (result.ok) expect(result.plan.root['Node Type']).toMatch(/^Index/);
      const prepared = await s.query('SELECT count(*)::int AS n FROM pg_prepared_statements');
      expect(prepared.rows[0]).toEqual({ n: 0 });
    } finally {
      await s.close();
    }
  });

  it('names, from the catalog, why an expression cannot be indexed', async () => {
    const s = await openSession(server.url);
    try {
      await s.query(
        `CREATE TABLE stamped (id int PRIMARY KEY, at timestamptz NOT NULL);
         INSERT INTO stamped SELECT g, now() + g * interval '1 hour' FROM generate_series(1, 100) g;
         ANALYZE stamped`,
      );
      const statement = (sql: string) =>
        ({ fingerprint: sql, query: sql, kind: 'select', plan: null, relations: [] }) as unknown as QueryReport;
      const { relations } = await capturePlans(
        s,
        [
          statement("SELECT count(*) FROM stamped WHERE date(at) = '2024-01-01' OR at::text LIKE '2024%'"),
          statement('SELECT id, rank() OVER (ORDER BY sum(id) DESC) FROM stamped GROUP BY id'),
        ],
        { analyze: false, timeoutMs: 5000, serverVersionNum: 150000, limit: 10, client: [] },
      );
      const refusals = relations.find((r) => r.name === 'public.stamped')?.expressionRefusals;
      expect(refusals?.['date(at)']?.functions).toEqual([
        { function: 'date(timestamp with time zone)', volatility: 'stable' },
      ]);
      expect(refusals?.['(at)::text']?.functions).toEqual([
        {
          function: 'timestamptz_out(timestamp with time zone)',
          volatility: 'stable',
          conversion: 'of timestamp with time zone to text',
        },
      ]);
      expect(refusals?.['sum(id)']).toMatchObject({
        reason: 'aggregate',
        functions: [{ function: 'sum(integer)', kind: 'aggregate' }],
      });
    } finally {
      await s.close();
    }
  });

  it('plans a statement run inside a function without GENERIC_PLAN, its parameters numbered from $1', async () => {
    const s = await openSession(server.url);
    const dir = mkdtempSync(join(tmpdir(), 'querygate-older-'));
    try {
      await s.query(`ALTER DATABASE postgres SET pg_stat_statements.track = 'all'`);
      await s.query(`
        CREATE TABLE ledger (id int PRIMARY KEY, account int NOT NULL, kind text NOT NULL, amount int NOT NULL);
        INSERT INTO ledger SELECT g, g % 100, CASE WHEN g % 2 = 0 THEN 'credit' ELSE 'debit' END, g FROM generate_series(1, 20000) g;
        ANALYZE ledger;
        CREATE FUNCTION account_credit(p_account int) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
        DECLARE v bigint;
        BEGIN
          SELECT sum(amount) INTO v FROM ledger WHERE account = p_account AND kind = 'credit';
          RETURN v;
        END $$;`);
      writeFileSync(join(dir, 'workload.sql'), 'SELECT account_credit(7);\n');
      const workload = loadSqlWorkload(join(dir, 'workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
      const report = await runWorkload({ workload, databaseUrl: server.url });
      expect(report.target.pgStatStatementsTrack).toBe('all');
      const caller = report.queries.find((q) => !q.nested)!;
      const inner = report.queries.find((q) => q.nested)!;
      expect(inner.nested).toEqual({ functions: ['public.account_credit'], callers: [caller.fingerprint] });
      // The constant is $2 in the recorded text (the function's variable took $1): $1 once explained.
      expect(inner.query).toMatch(/account = p_account AND kind = \$2$/);
      expect(inner.plan?.sql).toMatch(/account = \$2::integer AND kind = \$1$/);
      expect(inner.plan?.mode).toBe('generic');
      expect(JSON.stringify(inner.plan?.root)).toContain('"Relation Name":"ledger"');
      expect(report.totals).toMatchObject({ statements: 1, calls: 2, totalMs: caller.totalMs });
    } finally {
      await s.query('ALTER DATABASE postgres RESET pg_stat_statements.track');
      await s.query('DROP FUNCTION IF EXISTS account_credit(int); DROP TABLE IF EXISTS ledger');
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says how to load pg_stat_statements when it is not preloaded', async () => {
    const bare = (await startSystemPostgres({ preload: false }))!;
    try {
      await expect(openTarget({ databaseUrl: bare.url })).rejects.toThrow(
        /pg_stat_statements is not loaded on 127\.0\.0\.1:\d+: add it to shared_preload_libraries .*, then run CREATE EXTENSION pg_stat_statements; in database "postgres"$/,
      );
      // Created already: only the preload is missing, and nothing else is asked.
      const s = await openSession(bare.url);
      await s.query('CREATE EXTENSION pg_stat_statements');
      await s.close();
      const created = openTarget({ databaseUrl: bare.url });
      await expect(created).rejects.toThrow(
        /pg_stat_statements is not loaded on 127\.0\.0\.1:\d+: add it to shared_preload_libraries .* and restart the server \(the extension is already created in database "postgres"\)$/,
      );
      await expect(created).rejects.not.toThrow(/run CREATE EXTENSION/);
    } finally {
      await bare.stop();
    }
  });
});
