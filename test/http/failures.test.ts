import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { RunFailedError } from '../../src/errors.js';
import type { HttpApp, HttpWorkload } from '../../src/model/workload.js';
import { freePort } from '../../src/target/port.js';
import { renderRoutesTable } from '../../src/report/routes.js';
import { probeUrl } from '../../src/workload/app.js';
import { runHttpWorkload } from '../../src/workload/http/phases.js';
import { createTestDatabase, withSession } from '../support/db.js';
import { failure } from './support.js';

const TEST_APP = fileURLToPath(new URL('./fixtures/test-app.mjs', import.meta.url));

function app(mode: string, extra: Partial<HttpApp> = {}, env: Record<string, string> = {}): HttpApp {
  return {
    command: [process.execPath, TEST_APP],
    cwd: process.cwd(),
    env: { MODE: mode, ...env },
    port: 'auto',
    ready: '/health',
    readyTimeoutMs: 10_000,
    stopTimeoutMs: 2000,
    ...extra,
  };
}

/** A GET route without parameters, of weight 1. */
function get(name: string, path: string): HttpWorkload['routes'][number] {
  return { name, method: 'GET', path, params: {}, headers: {}, weight: 1 };
}

function workload(overrides: Partial<HttpWorkload>, load: Partial<HttpWorkload['load']> = {}): HttpWorkload {
  return {
    kind: 'http',
    name: 'failures',
    setup: { schema: [], seed: [] },
    routes: [get('root', '/x')],
    load: {
      connections: 2,
      shape: { kind: 'requests', requests: 50 },
      warmupMs: 0,
      mixed: false,
      timeoutMs: 5000,
      ...load,
    },
    warnings: [],
    ...overrides,
  };
}

describe('HTTP replay when the application misbehaves', () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('http_failures');
  });

  it('a readiness timeout names the URL, the last answer and the application output', async () => {
    const error = await failure(
      runHttpWorkload({ workload: workload({ app: app('never-ready', { readyTimeoutMs: 1000 }) }), databaseUrl: url }),
    );
    expect(error.code).toBe('APP_START_FAILED');
    expect(error.kind).toBe('environment');
    expect(error.message).toMatch(
      /^the application was not ready within 1s: GET http:\/\/127\.0\.0\.1:\d+\/health did not answer 2xx \(last: HTTP 503\); if it needs longer to start, raise http\.app\.readyTimeout in the scenario$/,
    );
    expect(error.details).toContain('  app: test app (never-ready) listening');
  });

  it('an application that exits during start-up is reported with its exit code and output', async () => {
    const error = await failure(runHttpWorkload({ workload: workload({ app: app('crash') }), databaseUrl: url }));
    expect(error.code).toBe('APP_START_FAILED');
    expect(error.message).toMatch(/^the application exited with code 1 before it was ready/);
    expect(error.details).toContain('  app: test app: cannot load configuration: missing SECRET_KEY');
  });

  it('a command that does not exist', async () => {
    const error = await failure(
      runHttpWorkload({
        workload: workload({ app: { ...app('ok'), command: ['querygate-no-such-command'] } }),
        databaseUrl: url,
      }),
    );
    expect(error).toMatchObject({
      code: 'APP_START_FAILED',
      message: 'cannot start the application: command not found: querygate-no-such-command',
    });
  });

  it('an unreachable base URL fails before any load (APP_UNREACHABLE)', async () => {
    const port = await freePort();
    const error = await failure(
      runHttpWorkload({ workload: workload({ baseUrl: `http://127.0.0.1:${port}` }), databaseUrl: url }),
    );
    expect(error).toMatchObject({ code: 'APP_UNREACHABLE', kind: 'environment' });
    expect(error.message).toBe(
      `cannot reach the application at http://127.0.0.1:${port}: connection refused (GET http://127.0.0.1:${port}/)`,
    );
  });

  it('an application that exits during the run stops the load; the error carries the partial report', async () => {
    const error = await failure(
      runHttpWorkload({
        workload: workload(
          {
            app: app(
              'exit-after',
              {},
              { EXIT_AFTER: '100', QUERY: "SELECT count(*) FROM pg_class WHERE relkind = 'r'" },
            ),
            routes: [get('a', '/a'), get('b', '/b')],
          },
          { shape: { kind: 'duration', durationMs: 20_000 } },
        ),
        databaseUrl: url,
      }),
    );
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error.code).toBe('APP_EXITED');
    expect(error.message).toBe('the application exited with code 3 during the run');
    expect(error.details).toContain('  app: test app: giving up after 100 requests');
    const report = (error as RunFailedError).report;
    expect(report.run.complete).toBe(false);
    expect(report.run.interruptedBy).toBe('the application exited with code 3');
    // Stopped within the first route's phase, long before its 20 s.
    expect(report.routes).toHaveLength(1);
    expect(report.routes![0]!.requests).toBeGreaterThanOrEqual(90);
    expect(report.routes![0]!.phaseMs).toBeLessThan(10_000);
    // A few: the requests it held when it died (one per connection), and at most one more per
    // connection sent while it was closing (reset rather than refused: 3 with 2 connections in one
    // run of the whole suite). The connections refused once it was gone carried no request to it,
    // and are not its failures (there were about 190 of them before).
    expect(report.routes![0]!.errors).toBeLessThanOrEqual(4);
    expect(report.warnings.join('\n')).not.toMatch(/\d{2,} request\(s\) got no response/);
    // The database is still there: what ran until then is explained, so plan findings can say why.
    expect(report.queries.length).toBeGreaterThan(0);
    expect(report.queries.every((q) => q.plan?.root !== undefined)).toBe(true);
    expect(report.warnings.join('\n')).not.toContain('without plans');
  });

  it('an application that exits during the run still gets index advice validated on the database', async () => {
    const db = await createTestDatabase('http_exit_advice');
    await withSession(db, async (session) => {
      await session.query(
        'CREATE TABLE exit_events AS SELECT g AS id, g % 1000 AS stream_id FROM generate_series(1, 60000) g',
      );
      await session.query('ANALYZE exit_events');
    });
    const error = await failure(
      runHttpWorkload({
        workload: workload({
          app: app('exit-after', {}, { EXIT_AFTER: '20', QUERY: 'SELECT id FROM exit_events WHERE stream_id = 42' }),
          routes: [get('a', '/a')],
        }),
        databaseUrl: db,
        allowIndexBuild: true,
      }),
    );
    expect(error.code).toBe('APP_EXITED');
    const report = (error as RunFailedError).report;
    expect(report.run.complete).toBe(false);
    const scan = report.queries.flatMap((q) => q.findings).find((f) => f.rule === 'seq-scan-large-table');
    expect(scan, JSON.stringify(report.warnings)).toBeDefined();
    // The database is still there: the advice is validated as after a complete run.
    expect(scan!.suggestion).not.toContain('not validated');
    expect(scan!.advice!.sql).toMatch(/^CREATE INDEX CONCURRENTLY \S+ ON public\.exit_events \(stream_id\);/);
    expect(scan!.advice!.costAfter).toBeLessThan(scan!.advice!.costBefore / 2);
    expect(report.warnings.join('\n')).not.toContain('is not validated');
  });

  it('an application that hangs during the run stops the load: APP_UNREACHABLE, partial report, unanswered requests counted', async () => {
    const started = Date.now();
    const error = await failure(
      runHttpWorkload({
        workload: workload(
          {
            app: app('freeze-after', {}, { FREEZE_AFTER: '100' }),
            routes: [get('a', '/a'), get('b', '/b')],
          },
          { shape: { kind: 'duration', durationMs: 20_000 }, mixed: true, timeoutMs: 4000 },
        ),
        databaseUrl: url,
      }),
    );
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error).toMatchObject({ code: 'APP_UNREACHABLE', kind: 'environment' });
    expect(error.message).toMatch(
      /^the application stopped answering \(no response for \d+\.\d s\) at http:\/\/127\.0\.0\.1:\d+$/,
    );
    expect(error.details).toHaveLength(2);
    expect(error.details[0]).toMatch(/^ {2}phase "a": \d+ response\(s\), \d+ request\(s\) without one$/);
    expect(error.details[1]).toBe(
      '  no request was answered within the request timeout (4 s): the application hangs, or its requests take longer than that (http.load.timeout)',
    );
    // Stopped when the requests the hung application holds outlast the request timeout (4 s), long
    // before the end of the phase's 20 s.
    expect(Date.now() - started).toBeLessThan(12_000);
    const report = (error as RunFailedError).report;
    expect(report.run.complete).toBe(false);
    expect(report.routes).toHaveLength(1);
    expect(report.routes![0]!.requests).toBeGreaterThanOrEqual(95);
    // Both connections' requests, and the one sent again after a timeout when there was one.
    expect(report.routes![0]!.errors).toBeGreaterThanOrEqual(2);
    expect(report.routes![0]!.errors).toBeLessThanOrEqual(4);
  });

  it('a route slower than the request timeout: APP_UNREACHABLE names the statements still running, without their values', async () => {
    const db = await createTestDatabase('http_running');
    const error = await failure(
      runHttpWorkload({
        workload: workload(
          {
            app: app('ok', {}, { QUERY: "SELECT pg_sleep(6), 'tenant-42' AS tenant" }),
            routes: [get('stats', '/stats')],
          },
          { timeoutMs: 2000 },
        ),
        databaseUrl: db,
      }),
    );
    expect(error).toMatchObject({ code: 'APP_UNREACHABLE', kind: 'environment' });
    const running = error.details.findIndex((l) => l.startsWith('  statements of the application still running'));
    expect(running, error.details.join('\n')).toBeGreaterThan(0);
    // The test application's pool has two connections: both run the statement.
    expect(error.details[running + 1]).toMatch(
      /^ {4}2 sessions, running for \d+(\.\d)? s \(the longest\): SELECT pg_sleep\(\$1\), \$2 AS tenant$/,
    );
    expect(error.details.at(-1)).toBe(
      '  no request was answered within the request timeout (2 s): the requests wait for these statements; ' +
        'raise timeout: under http.load to let them finish and be measured',
    );
    const report = (error as RunFailedError).report;
    const warning = report.warnings.find((w) => w.startsWith('when the application stopped answering'));
    expect(warning).toMatch(
      /^when the application stopped answering in phase "stats", its sessions were still running 1 statement\(s\) on the database: 2 sessions, running for [\d.]+ s \(the longest\): SELECT pg_sleep\(\$1\), \$2 AS tenant: the requests waited for them past the request timeout \(2 s\); raise timeout: under http\.load/,
    );
    expect(JSON.stringify(report)).not.toContain('tenant-42');
  });

  it('a route whose requests all go unanswered fails the run against a running application (baseUrl), not "p99 0"', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [TEST_APP], {
      env: { ...process.env, MODE: 'ok', PORT: String(port) },
      stdio: 'ignore',
    });
    try {
      for (let i = 0; i < 100 && !('status' in (await probeUrl(`http://127.0.0.1:${port}/__counts`))); i++)
        await new Promise((r) => setTimeout(r, 50));
      const error = await failure(
        runHttpWorkload({
          workload: workload(
            {
              baseUrl: `http://127.0.0.1:${port}`,
              routes: [
                get('a', '/a'),
                // Never answered within the run, as if the application hung on it.
                get('b', '/b?delay=600000'),
              ],
            },
            { shape: { kind: 'duration', durationMs: 2000 }, timeoutMs: 10_000 },
          ),
          databaseUrl: url,
        }),
      );
      expect(error).toMatchObject({ code: 'APP_UNREACHABLE', kind: 'environment' });
      expect(error.message).toMatch(/^the application stopped answering \(no response in \d+\.\d s\) at /);
      expect(error.details[0]).toMatch(/^ {2}phase "b": 0 response\(s\), [2-4] request\(s\) without one$/);
      expect(error.details[1]).toMatch(/^ {2}no request was answered within the request timeout \(10 s\)/);
      const report = (error as RunFailedError).report;
      expect(report.run.complete).toBe(false);
      expect(report.routes![0]!.requests).toBeGreaterThan(0);
      expect(report.routes![1]).toMatchObject({ name: 'b', requests: 0 });
      expect(report.routes![1]!.errors).toBeGreaterThanOrEqual(2);
      const table = renderRoutesTable(report, { width: 160 });
      const rowB = table.split('\n').find((l) => /^│ b /.test(l))!;
      expect(rowB).toBeDefined();
      const cells = rowB.split('│').map((c) => c.trim());
      const head = table
        .split('\n')
        .find((l) => l.includes('│ route'))!
        .split('│')
        .map((c) => c.trim());
      expect(cells[head.indexOf('p50')]).toBe('-');
      expect(cells[head.indexOf('p99')]).toBe('-');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a route that never answers fails the run when the request timeout is no longer than the phase', async () => {
    // The requests time out within the phase, which then drains at once: nothing is left waiting,
    // and the phase ends with every request failed and no response.
    const error = await failure(
      runHttpWorkload({
        workload: workload(
          {
            app: app('ok', {}, { QUERY: "SELECT count(*) FROM pg_class WHERE relkind = 'r'" }),
            routes: [get('a', '/a'), get('b', '/b?delay=600000'), get('c', '/c')],
          },
          { shape: { kind: 'duration', durationMs: 2000 }, timeoutMs: 2000, mixed: true },
        ),
        databaseUrl: url,
      }),
    );
    expect(error).toMatchObject({ code: 'APP_UNREACHABLE', kind: 'environment' });
    expect(error.message).toMatch(/^the application stopped answering \(no response in \d+\.\d s\) at /);
    expect(error.details[0]).toMatch(/^ {2}phase "b": 0 response\(s\), [2-4] request\(s\) without one$/);
    expect(error.details[1]).toBe(
      '  no request was answered within the request timeout (2 s): the application hangs, or its requests take longer than that (http.load.timeout)',
    );
    const report = (error as RunFailedError).report;
    expect(report.run.complete).toBe(false);
    // The run stopped at the route that lost its measurements.
    expect(report.routes!.map((r) => r.name)).toEqual(['a', 'b']);
    expect(report.routes![1]).toMatchObject({ requests: 0 });
    expect(report.routes![1]!.errors).toBeGreaterThanOrEqual(2);
  });

  it('more than half of few requests without a response fails the run (APP_FAILING)', async () => {
    // The first request is answered, every later one waits ten minutes: a short phase with a
    // request timeout as long sends five or so requests, and one of them is answered.
    const error = await failure(
      runHttpWorkload({
        workload: workload(
          {
            app: app('ok'),
            routes: [
              {
                name: 'c',
                method: 'GET',
                path: '/c?delay={d}',
                params: { d: { kind: 'seq', start: 0, step: 600_000 } },
                headers: {},
                weight: 1,
              },
            ],
          },
          { connections: 4, shape: { kind: 'duration', durationMs: 1000 }, timeoutMs: 1000 },
        ),
        databaseUrl: url,
      }),
    );
    expect(error.code).toBe('APP_FAILING');
    const report = (error as RunFailedError).report;
    const route = report.routes![0]!;
    expect(route.requests).toBe(1);
    expect(route.errors).toBeGreaterThanOrEqual(4);
    expect(route.requests + route.errors).toBeLessThan(10);
    // They were awaited for the request timeout again, in vain.
    expect(report.warnings).toContain(
      `route "c": ${route.errors} request(s) were still unanswered 1 s after they timed out, when querygate stopped ` +
        'waiting: statements the application still ran for them may be counted in the next phase',
    );
    expect(error.message).toBe(
      `the application is failing: route "c": ${Math.round((route.errors / (route.errors + 1)) * 100)}% of ${route.errors + 1} requests failed (5xx or no response); the measurement is not meaningful`,
    );
  });

  it('a route slower than the request timeout is told apart from a hung one, and its statements are its own', async () => {
    // Every request of the second route waits 3 s in the application, outside the database, then runs
    // its statement: longer than the request timeout (2 s), which is as long as the phase.
    const error = await failure(
      runHttpWorkload({
        workload: workload(
          {
            app: app('ok', {}, { QUERY: "SELECT count(*) FROM pg_class WHERE relkind = 'r'" }),
            routes: [get('a', '/a'), get('report', '/report?wait=3000&sleep=0')],
          },
          { shape: { kind: 'duration', durationMs: 2000 }, timeoutMs: 2000 },
        ),
        databaseUrl: url,
      }),
    );
    expect(error).toMatchObject({ code: 'APP_UNREACHABLE', kind: 'environment' });
    // One request per connection, unless one timed out before the phase's end and another was sent.
    expect(error.details[0]).toMatch(/^ {2}phase "report": 0 response\(s\), [2-4] request\(s\) without one$/);
    expect(error.details[1]).toMatch(
      /^ {2}no request was answered within the request timeout \(2 s\); [2-4] were answered later: the application is slower than the timeout, raise it \(http\.load\.timeout\)$/,
    );
    const report = (error as RunFailedError).report;
    const sleep = report.queries.find((q) => q.query.includes('pg_sleep'))!;
    expect(report.routes![1]!.statements).toEqual([
      expect.objectContaining({ fingerprint: sleep.fingerprint, callsPerRequest: 1 }),
    ]);
  });

  it('a request that outlasts the request timeout is awaited before the next phase, which does not get its statements', async () => {
    // Only the first request of the first route waits 3 s in the application, outside the database,
    // then runs its statement: after the request timeout (2 s) and the end of the phase (2 s).
    const report = await runHttpWorkload({
      workload: workload(
        {
          app: app('ok', {}, { QUERY: "SELECT count(*) FROM pg_class WHERE relkind = 'r'" }),
          routes: [
            {
              name: 'tasks',
              method: 'GET',
              // wait: 3000, 0, -3000, ...: only the first request waits.
              path: '/tasks?wait={w}&sleep=0',
              params: { w: { kind: 'seq', start: 3000, step: -3000 } },
              headers: {},
              weight: 1,
            },
            get('next', '/next'),
          ],
        },
        { shape: { kind: 'duration', durationMs: 2000 }, timeoutMs: 2000 },
      ),
      databaseUrl: url,
    });
    expect(report.run.complete).toBe(true);
    const sleep = report.queries.find((q) => q.query.includes('pg_sleep'))!;
    expect(sleep).toBeDefined();
    const [tasks, next] = report.routes!;
    expect(tasks).toMatchObject({ name: 'tasks', errors: 1 });
    expect(tasks!.requests).toBeGreaterThan(10);
    // Every request of the route ran its statement once, the late one included, in its own phase.
    expect(tasks!.statements.find((s) => s.fingerprint === sleep.fingerprint)?.callsPerRequest).toBe(1);
    expect(sleep.calls).toBe(tasks!.requests + 1);
    expect(next!.statements.map((s) => s.fingerprint)).not.toContain(sleep.fingerprint);
    expect(report.warnings).toContain(
      'route "tasks": 1 request(s) were answered only after the request timeout (2 s): counted as failed and left out ' +
        'of the latency; the phase waited for their answers, so their statements count in it',
    );
  });

  it('a route slower than its phase is awaited and measured, not taken for a hung application', async () => {
    const report = await runHttpWorkload({
      workload: workload(
        {
          app: app('ok'),
          routes: [get('user', '/users/1'), get('monthly report', '/report?sleep=2.5')],
        },
        { shape: { kind: 'duration', durationMs: 1000 }, timeoutMs: 10_000 },
      ),
      databaseUrl: url,
    });
    expect(report.run.complete).toBe(true);
    expect(report.routes).toHaveLength(2);
    // One request per connection, sent at once and answered after 2.5 s: nothing more is sent after 1 s.
    const slow = report.routes![1]!;
    expect(slow).toMatchObject({ name: 'monthly report', requests: 2, errors: 0, non2xx: 0 });
    expect(slow.latency.p50).toBeGreaterThanOrEqual(2400);
    expect(slow.phaseMs).toBeGreaterThanOrEqual(2400);
    expect(slow.statementsPerRequest).toBe(1);
    expect(slow.dbMsPerRequest).toBeGreaterThanOrEqual(2400);
    expect(report.warnings.join('\n')).not.toContain('monthly report');
  });

  it('requests slower than 3 s after fast ones are awaited up to the request timeout and measured, not taken for a hang', async () => {
    // A route whose cost depends on its parameter (a large tenant): the first request is answered at
    // once, the next keeps the connection busy for 4 s, longer than the 3 s of silence that ends a
    // phase after connection errors.
    const report = await runHttpWorkload({
      workload: workload(
        {
          app: app('ok'),
          routes: [
            {
              name: 'open tasks of org',
              method: 'GET',
              path: '/orgs/tasks?sleep={s}',
              params: { s: { kind: 'seq', start: 0, step: 4 } },
              headers: {},
              weight: 1,
            },
          ],
        },
        { connections: 1, shape: { kind: 'duration', durationMs: 1000 }, timeoutMs: 10_000 },
      ),
      databaseUrl: url,
    });
    expect(report.run.complete).toBe(true);
    const route = report.routes![0]!;
    expect(route).toMatchObject({ requests: 2, errors: 0, non2xx: 0 });
    expect(route.latency.maxMs).toBeGreaterThanOrEqual(3900);
    expect(route.phaseMs).toBeGreaterThanOrEqual(3900);
    expect(route.dbMsPerRequest).toBeGreaterThanOrEqual(1900);
    expect(report.warnings.join('\n')).not.toContain('stopped');
  });

  it('a 5xx storm completes the run and fails it with APP_FAILING, report attached', async () => {
    const error = await failure(runHttpWorkload({ workload: workload({ app: app('errors') }), databaseUrl: url }));
    expect(error.code).toBe('APP_FAILING');
    expect(error.message).toBe(
      'the application is failing: route "root": 100% of 50 requests failed (5xx or no response); the measurement is not meaningful',
    );
    const report = (error as RunFailedError).report;
    expect(report.run.complete).toBe(true);
    expect(report.routes![0]).toMatchObject({ requests: 50, non2xx: 50, status5xx: 50 });
    expect(report.warnings).toContain(
      'route "root": 50 of 50 responses were not 2xx: 50 server errors (5xx), 0 client errors (4xx); by status: 500 ×50',
    );
  });

  it('an application that never uses the database it was started with: NOTHING_RECORDED with the report', async () => {
    // It answers 200 to everything and runs no statement: thousands of 2xx, nothing measured.
    const error = await failure(runHttpWorkload({ workload: workload({ app: app('ok') }), databaseUrl: url }));
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error).toMatchObject({ code: 'NOTHING_RECORDED', kind: 'environment' });
    expect(error.message).toBe(
      `pg_stat_statements recorded no statement in database "${new URL(url).pathname.slice(1)}" during the run, ` +
        'although the routes got 50 response(s): the load does not reach this database, and the measurement is void',
    );
    expect(error.details).toEqual([
      'hint: the application was started with DATABASE_URL of the target database: it must connect with it, not with a database of its own',
    ]);
    const report = (error as RunFailedError).report;
    expect(report.run.complete).toBe(true);
    expect(report.routes![0]).toMatchObject({ requests: 50, statementsPerRequest: 0 });
  });

  it('a route answered only 404 or 405 is a wrong route in the scenario: ROUTE_NOT_FOUND (input), report attached', async () => {
    const error = await failure(
      runHttpWorkload({
        workload: workload({
          app: app('ok', {}, { QUERY: "SELECT count(*) FROM pg_class WHERE relkind = 'r'" }),
          routes: [
            get('customer by id', '/customers/1'),
            get('customer typo', '/customer/1?status=404'),
            get('wrong method', '/customers/2?status=405'),
            // Some 404 among 2xx (an id the seed lacks) stays a warning.
            {
              ...get('some missing', '/customers/{id}?status={status}'),
              params: { id: { kind: 'value', value: 3 }, status: { kind: 'pick', values: [200, 404] } },
            },
          ],
        }),
        databaseUrl: url,
      }),
    );
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error).toMatchObject({ code: 'ROUTE_NOT_FOUND', kind: 'input' });
    expect(error.message).toBe(
      'route "customer typo" (GET /customer/1?status=404): all 50 responses were 404 Not Found: ' +
        'the application has no such route, so nothing was measured for it',
    );
    expect(error.details).toEqual([
      '  route "wrong method" (GET /customers/2?status=405): all 50 responses were 405 Method Not Allowed',
      'hint: check the path and the method of the route in the scenario (404: no such path, or no such resource ' +
        'for any of its parameter values; 405: the path does not take that method)',
    ]);
    const report = (error as RunFailedError).report;
    expect(report.run.complete).toBe(true);
    expect(report.routes!.map((r) => [r.name, r.requests, r.non2xx])).toEqual([
      ['customer by id', 50, 0],
      ['customer typo', 50, 50],
      ['wrong method', 50, 50],
      ['some missing', 50, expect.any(Number)],
    ]);
    expect(report.warnings).toContain(
      'route "customer typo": 50 of 50 responses were not 2xx: 0 server errors (5xx), 50 client errors (4xx); by status: 404 ×50',
    );
  });

  it('the warning for non-2xx responses tells server errors from client errors, with the status codes', async () => {
    const report = await runHttpWorkload({
      workload: workload(
        {
          // Each request runs a statement: a run that records none fails (NOTHING_RECORDED).
          app: app('ok', {}, { QUERY: "SELECT count(*) FROM pg_class WHERE relkind = 'r'" }),
          routes: [
            {
              name: 'some fail',
              method: 'GET',
              path: '/x?status={status}',
              params: { status: { kind: 'pick', values: [404, 500, 503, 200, 200, 200] } },
              headers: {},
              weight: 1,
            },
          ],
        },
        { shape: { kind: 'requests', requests: 120 } },
      ),
      databaseUrl: url,
    });
    const route = report.routes![0]!;
    const warning = report.warnings.find((w) => w.startsWith('route "some fail"'))!;
    const m =
      /^route "some fail": (\d+) of 120 responses were not 2xx: (\d+) server errors \(5xx\), (\d+) client errors \(4xx\); by status: (.*)$/.exec(
        warning,
      );
    expect(m, warning).not.toBeNull();
    const [, non2xx, server, client, codes] = m!;
    expect(Number(non2xx)).toBe(route.non2xx);
    expect(Number(server)).toBe(route.status5xx);
    expect(Number(client)).toBe(route.non2xx - route.status5xx);
    expect(Number(server)).toBeGreaterThan(0);
    expect(Number(client)).toBeGreaterThan(0);
    // Codes by count, each with its count; they add up to the non-2xx responses.
    const byCode = codes!.split(', ').map((c) => /^(\d{3}) ×(\d+)$/.exec(c)!);
    expect(byCode.map((c) => c[1]).sort()).toEqual(['404', '500', '503']);
    expect(byCode.reduce((s, c) => s + Number(c[2]), 0)).toBe(route.non2xx);
  });

  it('stops the application after the run, and an interrupt returns an incomplete report', async () => {
    const port = await freePort();
    const controller = new AbortController();
    // Interrupt once the load is under way (a busy machine may take seconds to start the application).
    void (async () => {
      for (let i = 0; i < 600; i++) {
        const counts = await fetch(`http://127.0.0.1:${port}/__counts`).then(
          (r) => r.json() as Promise<Record<string, number>>,
          () => ({}) as Record<string, number>,
        );
        if ((counts['/x'] ?? 0) > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      setTimeout(() => controller.abort('interrupted by SIGINT'), 300);
    })();
    const report = await runHttpWorkload({
      workload: workload({ app: app('ok', { port }) }, { shape: { kind: 'duration', durationMs: 30_000 } }),
      databaseUrl: url,
      signal: controller.signal,
    });
    expect(report.run).toMatchObject({ complete: false, interruptedBy: 'interrupted by SIGINT' });
    expect(report.routes![0]!.requests).toBeGreaterThan(0);
    expect(report.routes![0]!.phaseMs).toBeLessThan(10_000);
    expect(await probeUrl(`http://127.0.0.1:${port}/health`)).toEqual({ error: 'connection refused' });
  });
});
