import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import { runWorkload } from '../src/run/run.js';
import { startEmbedded } from '../src/target/embedded.js';
import { applySetupFiles, markReadOnly, prepareDatabase } from '../src/run/setup.js';
import type { InputError } from '../src/errors.js';
import { loadScenario, loadSqlWorkload } from '../src/workload/load.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, loadSqlFiles, withSession } from './support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/sql/${name}`, import.meta.url));

/** The statements of a scenario with one primary-key lookup. */
const LOOKUP = [
  'statements:',
  '  - name: lookup',
  '    sql: SELECT owner FROM accounts WHERE id = $1',
  '    params: [{ int: { min: 1, max: 100 } }]',
];

/** A scenario file of `lines` in a fresh temporary directory. */
function scenarioFile(name: string, lines: readonly string[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'querygate-run-')), `${name}.yaml`);
  writeFileSync(file, [...lines, ''].join('\n'));
  return file;
}

describe('runWorkload on a real PostgreSQL', () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('run');
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
  });

  it('captures per-statement deltas, latency and plans of a SQL workload', async () => {
    const workload = loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 6, connections: 2, rounds: 2 });
    const report = await runWorkload({ workload, databaseUrl: url });

    expect(report.run.complete).toBe(true);
    expect(report.target.kind).toBe('external');
    // One entry per workload statement: querygate's own snapshot/EXPLAIN queries are not reported.
    expect(report.queries).toHaveLength(4);
    for (const q of report.queries) {
      expect(q.calls).toBe(6);
      expect(q.latency?.count).toBe(6);
      expect(q.rounds.map((r) => r.calls)).toEqual([3, 3]);
    }
    const scan = report.queries.find((q) => q.query.includes('count(*)'))!;
    // Named by its leading comment, as budget init names it; its line is that of its first keyword.
    expect(scan.source).toBe('A scan of the whole events table: no index on kind');
    expect(scan.line).toBe(5);
    // Without a comment: file:line.
    expect(report.queries.find((q) => q.query.startsWith('UPDATE'))?.source).toBe('workload.sql:10');
    expect(scan.plan?.root['Node Type']).toMatch(/Aggregate/);
    expect(scan.plan?.mode).toBe('literal'); // no parameters: planned as written
    expect(JSON.stringify(scan.plan?.root)).toContain('Seq Scan');
    expect(scan.sharedBlksPerCall).toBeGreaterThan(100);
    expect(scan.relations).toEqual(['public.events']);
    // Ranked by database time: the full scan costs more than the primary-key lookups.
    expect(report.queries[0]!.fingerprint).toBe(scan.fingerprint);
    const shares = report.queries.reduce((s, q) => s + q.dbTimeShare, 0);
    expect(shares).toBeGreaterThan(0.99);
    expect(shares).toBeLessThan(1.01);

    const lookup = report.queries.find((q) => q.query.includes('$1 AS text'));
    expect(lookup?.plan?.root['Node Type']).toMatch(/^Index/);

    const events = report.relations.find((r) => r.name === 'public.events')!;
    expect(events.estimatedRows).toBe(50000);
    expect(events.indexes.map((i) => i.name)).toEqual(['events_pkey']);
    expect(events.indexes[0]!.columns).toEqual(['id']);
    // The report is plain JSON.
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('rolls back writes on an external database unless allowed', async () => {
    const workload = loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 3, connections: 1, rounds: 1 });
    const before = await withSession(url, (s) =>
      s.query<{ balance: number }>('SELECT balance FROM accounts WHERE id = 1'),
    );
    const report = await runWorkload({ workload, databaseUrl: url });
    const after = await withSession(url, (s) =>
      s.query<{ balance: number }>('SELECT balance FROM accounts WHERE id = 1'),
    );
    expect(after.rows[0]!.balance).toBe(before.rows[0]!.balance);
    expect(report.workload.writesRolledBack).toBe(true);
    expect(report.queries.some((q) => /^BEGIN|^ROLLBACK/i.test(q.query))).toBe(false);

    await runWorkload({ workload, databaseUrl: url, allowWrites: true });
    const committed = await withSession(url, (s) =>
      s.query<{ balance: number }>('SELECT balance FROM accounts WHERE id = 1'),
    );
    expect(committed.rows[0]!.balance).toBe(before.rows[0]!.balance + 3);
  });

  it('rolls back what a SELECT writes through a function it calls on an external database unless allowed', async () => {
    await withSession(url, (s) =>
      s.query(
        `DROP TABLE IF EXISTS queue_jobs; CREATE TABLE queue_jobs (id bigserial PRIMARY KEY, queue text, state text);
         INSERT INTO queue_jobs (queue, state) SELECT 'invoice', 'queued' FROM generate_series(1, 50);
         CREATE OR REPLACE FUNCTION dequeue_job(q text) RETURNS bigint LANGUAGE sql AS $$
           UPDATE queue_jobs SET state = 'running'
            WHERE id = (SELECT id FROM queue_jobs WHERE queue = q AND state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING id $$;`,
      ),
    );
    const dir = mkdtempSync(join(tmpdir(), 'querygate-select-writes-'));
    const file = join(dir, 'dequeue.sql');
    writeFileSync(file, "SELECT dequeue_job('invoice');\nSELECT 1 / (id - 1) FROM queue_jobs WHERE id = 1;\n");
    const workload = loadSqlWorkload(file, {}, { repeat: 6, connections: 2, rounds: 2 });
    const running = () =>
      withSession(url, async (s) => {
        const { rows } = await s.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM queue_jobs WHERE state = 'running'`,
        );
        return rows[0]!.n;
      });
    const report = await runWorkload({ workload, databaseUrl: url });
    expect(await running()).toBe(0);
    expect(report.workload.writesRolledBack).toBe(true);
    const dequeue = report.queries.find((q) => q.query.includes('dequeue_job'))!;
    expect(dequeue.calls).toBe(6);
    expect(dequeue.rows).toBe(6);
    // A failing statement (division by zero) ends its transaction too: every call of the other ran.
    expect(report.totals.errors).toBe(6);
    expect(report.queries.some((q) => /^BEGIN|^ROLLBACK/i.test(q.query))).toBe(false);

    const allowed = await runWorkload({ workload, databaseUrl: url, allowWrites: true });
    expect(allowed.workload.writesRolledBack).toBe(false);
    expect(await running()).toBe(6);
  });

  it('runs a SELECT the catalog shows cannot write as it is, and every other statement rolled back', async () => {
    await withSession(url, (s) =>
      s.query(
        `CREATE OR REPLACE VIEW open_jobs AS SELECT id FROM queue_jobs WHERE state = 'queued';
         CREATE OR REPLACE FUNCTION job_label(id bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'job ' || id $$;`,
      ),
    );
    const sql = [
      'SELECT id, state FROM queue_jobs WHERE id = $1',
      'SELECT job_label(id), now() FROM queue_jobs WHERE id = 1',
      "SELECT dequeue_job('invoice')",
      'SELECT id FROM open_jobs LIMIT 1',
      "SELECT nextval('queue_jobs_id_seq')",
      'UPDATE queue_jobs SET state = state WHERE id = 1',
    ];
    const statements = await withSession(url, (s) =>
      markReadOnly(
        s,
        sql.map((text, i) => ({
          name: `s${i}`,
          sql: text,
          weight: 1,
          params: [],
          paramCount: text.includes('$1') ? 1 : 0,
          fingerprint: String(i),
          write: text.startsWith('UPDATE'),
        })),
      ),
    );
    // Immutable and stable functions cannot write; a volatile one, a view or a write may.
    expect(statements.map((st) => st.readOnly === true)).toEqual([true, true, false, false, false, false]);
  });

  it('stops on abort and returns an incomplete report of what was captured', async () => {
    const workload = loadSqlWorkload(fixture('workload.sql'), {}, { durationMs: 20_000, connections: 2, rounds: 1 });
    const controller = new AbortController();
    setTimeout(() => controller.abort('interrupted by SIGINT'), 1500);
    const started = Date.now();
    const report = await runWorkload({ workload, databaseUrl: url, signal: controller.signal });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(report.run.complete).toBe(false);
    expect(report.run.interruptedBy).toBe('interrupted by SIGINT');
    expect(report.totals.calls).toBeGreaterThan(0);
    expect(report.queries.length).toBeGreaterThan(0);
  });

  it('stops during index advice on abort: plans and findings kept, no candidate judged, marked incomplete', async () => {
    const workload = loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
    const controller = new AbortController();
    const report = await runWorkload({
      workload,
      databaseUrl: url,
      allowIndexBuild: true,
      signal: controller.signal,
      onStep: (message) => {
        if (message.startsWith('validating')) controller.abort('interrupted by SIGTERM');
      },
    });
    expect(controller.signal.aborted).toBe(true);
    expect(report.run).toMatchObject({ complete: false, interruptedBy: 'interrupted by SIGTERM' });
    const scan = report.queries.find((q) => q.query.includes('count(*)'))!;
    expect(scan.plan).not.toBeNull();
    const finding = scan.findings.find((f) => f.rule === 'seq-scan-large-table')!;
    expect(finding).toBeDefined();
    expect(finding.advice).toBeUndefined();
    expect(report.warnings).toContain(
      'run stopped during index advice (interrupted by SIGTERM): the report keeps the advice validated before the stop',
    );
    expect(report.warnings.join('\n')).toMatch(/index advice stopped by the interrupt with (\d+) of \1 candidate/);
    const left = await withSession(url, (s) =>
      s.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'querygate_candidate%'"),
    );
    expect(left.rows[0]!.n).toBe(0);
  });

  it('keeps the largest value sent per parameter, so a deep OFFSET is seen whatever value was planned', async () => {
    const file = scenarioFile('pages', [
      'load: { connections: 2, count: 60, rounds: 1 }',
      'statements:',
      '  - name: page',
      '    sql: SELECT id, owner FROM accounts ORDER BY owner LIMIT 20 OFFSET $1',
      '    params:',
      '      - pick: [0, 20, 40, 15000]',
    ]);
    const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url, seed: 3 });
    const page = report.queries.find((q) => q.source === 'page')!;
    expect(page.paramMax).toEqual([15000]);
    const offset = page.findings.find((f) => f.rule === 'deep-offset');
    expect(offset?.evidence.offset).toBe(15000);
  });

  it('leaves out what other sessions ran during the run, by another role or at top level by its own, and says so', async () => {
    const role = `other_${Date.now().toString(36)}`;
    await withSession(url, async (s) => {
      await s.query(`CREATE ROLE ${role} LOGIN PASSWORD 'other-secret'`);
      await s.query(`GRANT SELECT ON accounts TO ${role}`);
    });
    const otherUrl = new URL(url);
    otherUrl.username = role;
    otherUrl.password = 'other-secret';
    const file = scenarioFile('lookups', ['load: { connections: 1, duration: 2s, rounds: 1 }', ...LOOKUP]);
    // Other traffic while the replay runs: the workload's statement and another one by another
    // role, and another statement by the replay's own role from another session.
    let running = true;
    const busy = async (target: string, statements: string[]) => {
      await withSession(target, async (s) => {
        while (running) for (const sql of statements) await s.query(sql);
      });
    };
    const others = [
      busy(otherUrl.toString(), ['SELECT owner FROM accounts WHERE id = 7', 'SELECT count(*) FROM accounts']),
      busy(url, ['SELECT max(id) FROM accounts']),
    ];
    let report;
    try {
      report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
    } finally {
      running = false;
      await Promise.all(others);
    }
    expect(report.queries.map((q) => q.source ?? q.query)).toEqual(['lookup']);
    const lookup = report.queries[0]!;
    // pg_stat_statements counted exactly the replay's calls of the statement, not the other role's.
    expect(lookup.calls).toBe(lookup.latency!.count);
    expect(report.warnings.join('\n')).toMatch(/other sessions ran \d+ call\(s\) of [2-9] statement\(s\) in database/);
  });

  describe('a runaway statement', () => {
    const scenario = (name: string, load: string) =>
      scenarioFile(name, [`load: { ${load} }`, ...LOOKUP, '  - name: runaway', '    sql: SELECT pg_sleep(60)']);
    const running = () =>
      withSession(url, (s) =>
        s.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'",
        ),
      );

    for (const threads of [1, 2]) {
      it(`is cancelled ${threads === 1 ? 'on the calling thread' : 'on worker threads'} when it outlives --duration, and reported as failing`, async () => {
        const file = scenario('cut', `connections: 2, duration: 2s, rounds: 2, threads: ${threads}`);
        const started = Date.now();
        const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
        // 2 s of load, 1 s of grace per round, then the cancel: far from the statement's 60 s.
        expect(Date.now() - started).toBeLessThan(25_000);
        expect(report.run.complete).toBe(true);
        const runaway = report.queries.find((q) => q.source === 'runaway')!;
        expect(runaway.errors).toBeGreaterThan(0);
        // Rounds of 1 s: cut 1 s after the end of each, not 5 s.
        expect(runaway.errorSamples[0]).toMatch(
          /^cancelled by querygate after running \d.*: still running 1 s after the end of its round of --duration$/,
        );
        expect(runaway.findings.map((f) => [f.rule, f.severity])).toContainEqual(['statement-errors', 'error']);
        expect(runaway.findings.find((f) => f.rule === 'statement-errors')!.suggestion).toMatch(
          /^the statement ran longer than the run allows: it is the costliest one, not a broken one/,
        );
        // Explained (without ANALYZE) although no call completed: plan rules and budgets can judge it.
        expect(runaway.plan?.mode).toBe('literal');
        expect(runaway.planNote).toBeUndefined();
        expect(report.queries.find((q) => q.source === 'lookup')!.calls).toBeGreaterThan(0);
        expect((await running()).rows[0]!.n).toBe(0);
      });
    }

    it('fails at the statement timeout, which the report names', async () => {
      const file = scenario('timeout', 'connections: 1, repeat: 1, rounds: 1, statementTimeout: 500ms');
      const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
      const runaway = report.queries.find((q) => q.source === 'runaway')!;
      expect(runaway.errors).toBe(1);
      expect(runaway.errorSamples[0]).toBe(
        "canceling statement due to statement timeout (the replay's statement timeout of 0.5 s, --statement-timeout)",
      );
    });

    it('is explained with the values its failed calls were sent, as other statements are, not as a generic plan', async () => {
      const file = scenarioFile('timeout-values', [
        'load: { connections: 1, repeat: 2, rounds: 1, statementTimeout: 300ms }',
        'statements:',
        '  - name: slow lookup',
        '    sql: SELECT owner, pg_sleep($2) FROM accounts WHERE id = $1',
        '    params: [{ value: 7 }, { value: 5 }]',
      ]);
      const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
      const slow = report.queries.find((q) => q.source === 'slow lookup')!;
      expect([slow.calls, slow.errors]).toEqual([0, 2]);
      expect(slow.plan?.mode).toBe('params');
      expect(slow.plan?.params).toEqual(['7', '5']);
    });

    it('is cancelled at once on an interrupt, not left running on the server', async () => {
      const file = scenario('interrupt', 'connections: 2, duration: 30s, rounds: 1, threads: 2');
      const controller = new AbortController();
      setTimeout(() => controller.abort('interrupted by SIGINT'), 1500);
      const started = Date.now();
      const report = await runWorkload({
        workload: loadScenario(file, {}),
        databaseUrl: url,
        signal: controller.signal,
      });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(report.run.complete).toBe(false);
      expect((await running()).rows[0]!.n).toBe(0);
      // Cut short by the interrupt, not failed: no error, no statement-errors finding, but the report
      // says it was running, and for how long.
      const runaway = report.queries.find((q) => q.source === 'runaway')!;
      expect(runaway).toMatchObject({ calls: 0, errors: 0, errorSamples: [] });
      expect(runaway.cancelledAtStop?.calls).toBeGreaterThanOrEqual(1);
      expect(runaway.cancelledAtStop?.longestMs).toBeGreaterThan(500);
      expect(runaway.findings.map((f) => f.rule)).not.toContain('statement-errors');
      expect(report.totals.errors).toBe(0);
      expect(report.run.notCalled).toBeUndefined();
      expect(report.warnings.join('\n')).toMatch(
        /call\(s\) still running when the run stopped \(interrupted by SIGINT\) were cancelled, and are counted neither as calls nor as errors \(runaway: /,
      );
    });
  });

  describe('a duration load', () => {
    /** Statements of weight 1, each a call of at least `seconds`, and a busy one of weight 100. */
    const scenario = (name: string, load: string, seconds: number, light: number) =>
      scenarioFile(name, [
        `load: { ${load} }`,
        'statements:',
        '  - name: busy',
        `    sql: SELECT pg_sleep(${seconds})`,
        '    weight: 100',
        ...[
          'now()',
          'current_date',
          'version()',
          'pg_backend_pid()',
          'current_user',
          'clock_timestamp()',
          'timeofday()',
        ]
          .slice(0, light)
          .flatMap((f, k) => [`  - name: light ${k + 1}`, `    sql: SELECT pg_sleep(${seconds}), ${f}`]),
      ]);

    for (const threads of [1, 2]) {
      it(`calls every statement, light ones too, before honouring the weights (${threads} thread(s))`, async () => {
        // About 80 calls: picked at random by weight, each light statement had a chance of one in
        // two to get none.
        const file = scenario('deck', `connections: 2, duration: 2s, rounds: 2, threads: ${threads}`, 0.05, 6);
        const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
        expect(report.run.notCalled).toBeUndefined();
        expect(report.warnings.join('\n')).not.toMatch(/never called/);
        const calls = (name: string) => report.queries.find((q) => q.source === name)?.calls ?? 0;
        for (let k = 1; k <= 6; k++) expect(calls(`light ${k}`)).toBeGreaterThan(0);
        // The weights still rule the rest of the run.
        expect(calls('busy')).toBeGreaterThan(4 * Math.max(...[1, 2, 3, 4, 5, 6].map((k) => calls(`light ${k}`))));
      });
    }

    it('too short for one call of every statement names those never called, in the report and its warnings', async () => {
      const file = scenario('short', 'connections: 1, duration: 1s, rounds: 1', 0.4, 7);
      const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
      const notCalled = report.run.notCalled ?? [];
      // One connection, 0.4 s a call: 4 calls at most (the last one runs into the 1 s of grace).
      expect(notCalled.length).toBeGreaterThanOrEqual(4);
      expect(notCalled.length + report.queries.length).toBe(8);
      for (const s of notCalled) {
        expect(report.queries.some((q) => q.fingerprint === s.fingerprint)).toBe(false);
        expect(s.query).toMatch(/^SELECT pg_sleep\(\$1\)/);
        expect(s.line).toBeGreaterThan(0);
      }
      const warning = report.warnings.find((w) => w.includes('never called'));
      expect(warning).toMatch(
        new RegExp(
          `^${notCalled.length} of 8 statements were never called: the duration of 1 s had room for \\d+ call\\(s\\) over 1 connection\\(s\\): "`,
        ),
      );
      expect(warning).toContain(`"${notCalled[0]!.name}"`);
      expect(warning).toMatch(/give the run a longer --duration or more --connections, or use --repeat N/);
    });
  });

  it("says when another session of the run's own role ran its statements, which no filter can tell apart", async () => {
    const file = scenarioFile('lookups', ['load: { connections: 1, duration: 2s, rounds: 1 }', ...LOOKUP]);
    let running = true;
    // A second run of the same workload, as the same role: the same statement, from another session.
    const other = withSession(url, async (s) => {
      while (running) await s.query('SELECT owner FROM accounts WHERE id = $1', [7]);
    });
    let report;
    try {
      report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url });
    } finally {
      running = false;
      await other;
    }
    const lookup = report.queries.find((q) => q.source === 'lookup')!;
    expect(lookup.calls).toBeGreaterThan(lookup.latency!.count * 1.05 + 5);
    expect(report.warnings.join('\n')).toMatch(
      /pg_stat_statements counted more calls than this run sent for 1 statement\(s\) \(lookup: \d+ counted, \d+ sent\)/,
    );
  });

  it('counts the errors, latencies and names of workload statements of one fingerprint together', async () => {
    const file = scenarioFile('shapes', [
      'load: { connections: 2, repeat: 10, rounds: 1 }',
      'statements:',
      '  - name: untyped',
      '    sql: SELECT 1 / $1',
      '    params: [{ value: 1 }]',
      '  - name: zero',
      '    sql: SELECT 1 / $1::int',
      '    params: [{ value: 0 }]',
      '  - name: hot ids',
      '    sql: SELECT owner FROM accounts WHERE id = $1',
      '    params: [{ int: { min: 1, max: 10 } }]',
      '  - name: cold ids',
      '    sql: SELECT owner FROM accounts WHERE id = $1',
      '    params: [{ int: { min: 500, max: 900 } }]',
    ]);
    const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url, seed: 5 });
    expect(report.totals.errors).toBe(10);
    // Every failed call is in a statement of the report.
    expect(report.queries.reduce((sum, q) => sum + q.errors, 0)).toBe(report.totals.errors);
    const literal = report.queries.find((q) => q.source === 'untyped, zero')!;
    expect(literal.errors).toBe(10);
    expect(literal.errorSamples[0]).toMatch(/division by zero/);
    const lookup = report.queries.find((q) => q.source === 'hot ids, cold ids')!;
    expect(lookup.calls).toBe(20);
    expect(lookup.latency?.count).toBe(20);
    expect(lookup.paramMax![0]).toBeGreaterThanOrEqual(500);
    // The line of the first statement's sql in the scenario file, for annotations.
    expect(lookup.line).toBe(10);
  });

  it('plans texts of one shape that differ in cost with the text that was slowest in the replay', async () => {
    await withSession(url, async (session) => {
      await session.query(
        "CREATE TABLE parcels AS SELECT g AS id, CASE WHEN g % 1000 = 0 THEN 'lost' ELSE 'delivered' END AS status FROM generate_series(1, 200000) AS g",
      );
      // Only the rare status has an index: the same statement shape is cheap for it and a full scan otherwise.
      await session.query("CREATE INDEX parcels_lost_idx ON parcels (id) WHERE status = 'lost'");
      await session.query('ANALYZE parcels');
    });
    const dir = mkdtempSync(join(tmpdir(), 'querygate-run-'));
    const file = join(dir, 'shapes.sql');
    writeFileSync(
      file,
      "SELECT count(*) FROM parcels WHERE status = 'lost';\nSELECT count(*) FROM parcels WHERE status = 'delivered';\n",
    );
    const report = await runWorkload({
      workload: loadSqlWorkload(file, {}, { repeat: 6, connections: 1, rounds: 1 }),
      databaseUrl: url,
    });
    const merged = report.queries.find((q) => q.query.includes('parcels'))!;
    expect(merged.source).toBe('shapes.sql:1, shapes.sql:2');
    // The first text's plan is the partial index's; the slow text's plan is what the findings need.
    expect(JSON.stringify(merged.plan?.root)).toContain('Seq Scan');
    expect(JSON.stringify(merged.plan?.root)).not.toContain('parcels_lost_idx');
  });

  it('refuses before the replay a generator whose value does not fit its parameter, naming the statement and params[k], and writes nothing', async () => {
    const file = scenarioFile('params', [
      'load: { repeat: 5, rounds: 1 }',
      'statements:',
      '  - name: rename',
      '    sql: UPDATE accounts SET owner = $1 WHERE id = $2',
      '    params: [{ value: renamed }, { int: { min: 1, max: 1 } }]',
      '  - name: by id',
      '    sql: SELECT * FROM accounts WHERE id = $1',
      '    params:',
      '      - string: { length: 8 }',
      '  - name: one in range',
      '    sql: SELECT 1 / $1',
      '    params: [{ int: { min: 0, max: 0 } }]',
    ]);
    const owner = () =>
      withSession(
        url,
        async (s) => (await s.query<{ owner: string }>('SELECT owner FROM accounts WHERE id = 1')).rows[0]?.owner,
      );
    const before = await owner();
    const error = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url, allowWrites: true }).then(
      () => undefined,
      (e: unknown) => e as InputError,
    );
    expect(error?.code).toBe('PARAM_INVALID');
    expect(error?.message).toMatch(
      /^\S*\/params\.yaml:7:10: statement "by id": params\[0\] \(string\) gave "\w{8}" for \$1, which PostgreSQL refuses: invalid input syntax for type integer: "\w{8}"$/,
    );
    expect(error?.details[0]).toMatch(/^ {2}\S*\/params\.yaml:9:9: statements\[1\]\.params\[0\]: /);
    // A division by zero the planner folded depends on the values drawn: the replay counts it, no refusal.
    expect(error?.details).toHaveLength(1);
    // The UPDATE was planned with its values, never executed.
    expect(await owner()).toBe(before);
  });

  it('names file:line:column of the setup statement that failed, with or without a position from the server', async () => {
    const failure = async (sql: string) => {
      try {
        await withSession(url, (s) => applySetupFiles(s, [{ path: 'seed.sql', sql }]));
      } catch (error) {
        return error as InputError;
      }
      throw new Error('expected the setup to fail');
    };
    const runtime = await failure('SELECT 1;\n-- the second\nSELECT 1,\n  2147483647 + 1;\n');
    expect(runtime.code).toBe('SQL_FAILED');
    expect(runtime.message).toBe('seed.sql:3: setup failed: integer out of range');
    const positioned = await failure('SELECT 1;\nSELECT id,\n       nope\n  FROM accounts;\n');
    expect(positioned.message).toBe('seed.sql:3:8: setup failed: column "nope" does not exist');
    expect(positioned.details[0]).toBe('  3 |        nope');
  });

  it('applies setup files to an external database in one transaction: a failure leaves nothing behind', async () => {
    const files = [
      { path: 'schema.sql', sql: 'CREATE TABLE setup_partial (id int PRIMARY KEY);\n' },
      { path: 'seed.sql', sql: 'INSERT INTO setup_partial VALUES (1);\nINSERT INTO setup_partial VALUES (1);\n' },
    ];
    const exists = () =>
      withSession(url, async (s) => (await s.query(`SELECT to_regclass('setup_partial') AS t`)).rows[0]?.t ?? null);
    const error = await withSession(url, (s) => prepareDatabase(s, 'external', files, true, () => undefined)).then(
      () => undefined,
      (e: unknown) => e as InputError,
    );
    expect(error?.message).toMatch(
      /^seed\.sql:2: setup failed: duplicate key value .* \(rolled back: no setup file was applied\)$/,
    );
    expect(await exists()).toBeNull();
    // A statement that cannot run in a transaction (VACUUM): the files run one statement at a time.
    const vacuum = [...files, { path: 'after.sql', sql: 'VACUUM setup_partial;\n' }];
    await withSession(url, (s) => prepareDatabase(s, 'external', vacuum, true, () => undefined)).catch(() => undefined);
    expect(await exists()).toBe('setup_partial');
    await withSession(url, (s) => s.query('DROP TABLE setup_partial'));
  });

  it('vacuums the embedded database after setup, so plans do not depend on when autovacuum ran', async () => {
    // A private server: in the shared test cluster, other files' transactions hold the horizon back.
    const server = await startEmbedded();
    try {
      const visible = (kind: 'embedded' | 'external', table: string) =>
        withSession(server.url, async (s) => {
          const files = [
            { path: 'seed.sql', sql: `CREATE TABLE ${table} AS SELECT g AS id FROM generate_series(1, 20000) g;` },
          ];
          await prepareDatabase(s, kind, files, true, () => undefined);
          const rows = await s.query<{ relallvisible: number }>(
            `SELECT relallvisible FROM pg_class WHERE relname = '${table}'`,
          );
          return rows.rows[0]!.relallvisible;
        });
      expect(await visible('embedded', 'vacuumed')).toBeGreaterThan(0);
      expect(await visible('external', 'analyzed_only')).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('names the partitioned table of the partitions a plan reads', async () => {
    await withSession(url, (s) =>
      s.query(
        `DROP TABLE IF EXISTS measurements;
         CREATE TABLE measurements (id int, taken date) PARTITION BY RANGE (taken);
         CREATE TABLE measurements_2023 PARTITION OF measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
         CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         INSERT INTO measurements SELECT g, date '2023-01-01' + g % 700 FROM generate_series(1, 5000) g;
         ANALYZE measurements;`,
      ),
    );
    const dir = mkdtempSync(join(tmpdir(), 'querygate-partitions-'));
    const file = join(dir, 'partitions.sql');
    writeFileSync(file, "SELECT count(*) FROM measurements WHERE taken > date '2023-06-01';\n");
    const report = await runWorkload({ workload: loadSqlWorkload(file, {}, { repeat: 2 }), databaseUrl: url });
    const query = report.queries[0]!;
    expect(query.relations).toEqual(['public.measurements_2023', 'public.measurements_2024', 'public.measurements']);
    const partition = report.relations.find((r) => r.name === 'public.measurements_2024')!;
    expect(partition.partitionOf).toBe('public.measurements');
    const parent = report.relations.find((r) => r.name === 'public.measurements')!;
    expect(parent.kind).toBe('partitioned-table');
    expect(parent.partitionOf).toBeUndefined();
  });

  it("sums a partitioned table's size, rows and index sizes over its partitions, and lists it once", async () => {
    await withSession(url, async (s) => {
      await s.query(
        `DROP TABLE IF EXISTS readings;
         CREATE TABLE readings (id int, taken date, PRIMARY KEY (id, taken)) PARTITION BY RANGE (taken);
         CREATE TABLE readings_2023 PARTITION OF readings FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
         CREATE TABLE readings_2024 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         INSERT INTO readings SELECT g, date '2023-01-01' + g % 700 FROM generate_series(1, 20000) g;`,
      );
      await s.query('VACUUM ANALYZE readings_2023, readings_2024');
      await s.query('ANALYZE readings');
    });
    const dir = mkdtempSync(join(tmpdir(), 'querygate-partition-sizes-'));
    const file = join(dir, 'partitions.yaml');
    // The INSERT's plan names the partitioned table itself, the SELECT's its partitions.
    writeFileSync(
      file,
      [
        'load: { connections: 1, repeat: 2, rounds: 1 }',
        'statements:',
        "  - sql: SELECT count(*) FROM readings WHERE taken > date '2023-06-01'",
        "  - sql: INSERT INTO readings (id, taken) VALUES ($1, date '2024-03-01')",
        '    params: [{ seq: { start: 100000 } }]',
        '',
      ].join('\n'),
    );
    const report = await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url, allowWrites: true });
    expect(report.relations.filter((r) => r.name === 'public.readings')).toHaveLength(1);
    const parent = report.relations.find((r) => r.name === 'public.readings')!;
    const parts = report.relations.filter((r) => r.partitionOf === 'public.readings');
    expect(parts.map((r) => r.name)).toEqual(['public.readings_2023', 'public.readings_2024']);
    const sum = (f: (r: (typeof parts)[number]) => number) => parts.reduce((n, r) => n + f(r), 0);
    expect(parent.liveRows).toBeGreaterThanOrEqual(20000);
    expect(parent.liveRows).toBe(sum((r) => r.liveRows));
    expect(parent.pages).toBeGreaterThan(0);
    expect(parent.pages).toBe(sum((r) => r.pages));
    expect(parent.sizeBytes).toBe(sum((r) => r.sizeBytes));
    expect(parent.totalSizeBytes).toBe(sum((r) => r.totalSizeBytes));
    expect(parent.totalSizeBytes).toBeGreaterThan(parent.sizeBytes);
    const pkey = parent.indexes.find((i) => i.primary)!;
    expect(pkey.sizeBytes).toBeGreaterThan(0);
    expect(pkey.sizeBytes).toBe(sum((r) => r.indexes.find((i) => i.primary)!.sizeBytes));
  });

  it('reads the relation of the schema a statement names, not the same-named one on the search_path', async () => {
    await withSession(url, (s) =>
      s.query(
        `DROP SCHEMA IF EXISTS qg_app CASCADE; CREATE SCHEMA qg_app;
         DROP TABLE IF EXISTS public.dup_items;
         CREATE TABLE public.dup_items AS SELECT g AS id, 'pub ' || g AS name FROM generate_series(1, 30000) g;
         CREATE TABLE qg_app.dup_items AS SELECT g AS id, 'app ' || g AS name FROM generate_series(1, 60000) g;
         ANALYZE public.dup_items; ANALYZE qg_app.dup_items;`,
      ),
    );
    const dir = mkdtempSync(join(tmpdir(), 'querygate-schemas-'));
    const run = async (sql: string) => {
      const file = join(dir, 'schemas.sql');
      writeFileSync(file, `${sql}\n`);
      return runWorkload({ workload: loadSqlWorkload(file, {}, { repeat: 2 }), databaseUrl: url });
    };
    const app = await run("SELECT id FROM qg_app.dup_items WHERE name = 'app 77';");
    expect(app.queries[0]!.relations).toEqual(['qg_app.dup_items']);
    expect(app.relations.map((r) => [r.name, r.estimatedRows])).toEqual([['qg_app.dup_items', 60000]]);
    const scan = app.queries[0]!.findings.find((f) => f.rule === 'seq-scan-large-table');
    expect(scan?.relation).toBe('qg_app.dup_items');
    const both = await run('SELECT count(*) FROM qg_app.dup_items a JOIN public.dup_items b ON a.id = b.id;');
    expect([...both.queries[0]!.relations].sort()).toEqual(['public.dup_items', 'qg_app.dup_items']);
  });

  it('warns about statements that EXPLAIN could not plan, so a missing plan is not silent', async () => {
    await withSession(url, (s) => s.query('DROP TABLE IF EXISTS seen; CREATE TABLE seen (id int PRIMARY KEY)'));
    const dir = mkdtempSync(join(tmpdir(), 'querygate-explain-failed-'));
    const file = join(dir, 'inserts.yaml');
    writeFileSync(
      file,
      'load: { connections: 1, repeat: 4, rounds: 1 }\nstatements:\n  - name: insert\n    sql: INSERT INTO seen (id) VALUES ($1)\n    params: [{ seq: { start: 1 } }]\n',
    );
    const report = await runWorkload({
      workload: loadScenario(file, {}),
      databaseUrl: url,
      allowWrites: true,
      analyze: true,
    });
    const insert = report.queries.find((q) => q.source === 'insert')!;
    expect(insert.planNote).toMatch(/^EXPLAIN failed: duplicate key/);
    expect(report.warnings.some((w) => w.includes('have no plan') && w.includes('insert'))).toBe(true);
  });

  it('proposes an index per alternative of an OR filter, never a composite of its columns', async () => {
    await withSession(url, (s) =>
      s.query(
        `DROP TABLE IF EXISTS or_users;
         CREATE TABLE or_users (id int PRIMARY KEY, email text, name text);
         INSERT INTO or_users SELECT g, 'u' || g || '@ex.com', 'name ' || g FROM generate_series(1, 60000) g;
         CREATE INDEX or_users_email_idx ON or_users (email);
         ANALYZE or_users;`,
      ),
    );
    const dir = mkdtempSync(join(tmpdir(), 'querygate-or-'));
    const file = join(dir, 'or.sql');
    writeFileSync(file, "SELECT id FROM or_users WHERE email = 'u77@ex.com' OR name = 'name 77';\n");
    const report = await runWorkload({ workload: loadSqlWorkload(file, {}, { repeat: 2 }), databaseUrl: url });
    const scan = report.queries[0]!.findings.find((f) => f.rule === 'seq-scan-large-table')!;
    // email has an index: the alternative on name needs one of its own (unvalidated: an external
    // database without --allow-index-build).
    expect(scan.suggestion).toMatch(/^CREATE INDEX CONCURRENTLY or_users_name_idx ON public\.or_users \(name\);/);
    expect(scan.suggestion).toContain('-- not validated on the planner (one index per alternative of the OR');
    expect(scan.suggestion).not.toMatch(/\(email, name\)|\(name, email\)/);
  });

  it('judges the indexes of both sides of a join together when neither alone helps the filtered table (an unindexed foreign key)', async () => {
    await withSession(url, (s) =>
      s.query(
        `DROP TABLE IF EXISTS fk_items, fk_customers;
         CREATE TABLE fk_customers (id int PRIMARY KEY, grp int);
         CREATE TABLE fk_items (id int PRIMARY KEY, customer_id int, price int);
         INSERT INTO fk_customers SELECT g, g % 1000 FROM generate_series(1, 20000) g;
         INSERT INTO fk_items SELECT g, 1 + g % 20000, g % 97 FROM generate_series(1, 200000) g;
         ANALYZE fk_customers; ANALYZE fk_items;`,
      ),
    );
    const dir = mkdtempSync(join(tmpdir(), 'querygate-fk-'));
    const file = join(dir, 'fk.sql');
    writeFileSync(
      file,
      'SELECT i.price FROM fk_items i JOIN fk_customers c ON c.id = i.customer_id WHERE c.grp = 42;\n',
    );
    const report = await runWorkload({
      workload: loadSqlWorkload(file, {}, { repeat: 2 }),
      databaseUrl: url,
      allowIndexBuild: true,
    });
    const findings = report.queries[0]!.findings;
    // Either index alone falls short for the filtered table's finding ("no index helps"); judged
    // together, the index on the foreign key and the one on the filter are the fix of both findings.
    const items = findings.find((f) => f.relation === 'public.fk_items')!;
    const customers = findings.find((f) => f.relation === 'public.fk_customers')!;
    for (const f of [items, customers]) {
      expect(f.advice?.sql).toBe(
        'CREATE INDEX CONCURRENTLY fk_items_customer_id_idx ON public.fk_items (customer_id); CREATE INDEX CONCURRENTLY fk_customers_grp_idx ON public.fk_customers (grp);',
      );
      expect(f.advice!.improvement).toBeGreaterThan(0.5);
      expect(f.suggestion).not.toContain('no index helps');
    }
    // Nothing of the validation is left behind.
    const left = await withSession(url, (s) =>
      s.query(
        `SELECT indexname FROM pg_indexes WHERE tablename IN ('fk_items', 'fk_customers') AND indexname NOT LIKE '%pkey'`,
      ),
    );
    expect(left.rows).toEqual([]);
  });
});
