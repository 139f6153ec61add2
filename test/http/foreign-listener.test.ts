import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { HttpApp, HttpRoute, HttpWorkload } from '../../src/model/workload.js';
import { freePort, portInUse } from '../../src/target/port.js';
import { runHttpWorkload } from '../../src/workload/http/phases.js';
import { createTestDatabase, withSession } from '../support/db.js';
import { failure } from './support.js';

const TEST_APP = fileURLToPath(new URL('./fixtures/test-app.mjs', import.meta.url));

const ROUTES: HttpRoute[] = [
  { name: 'read', method: 'GET', path: '/books', params: {}, headers: {}, weight: 1 },
  { name: 'borrow', method: 'POST', path: '/loans', params: {}, headers: {}, body: '{"bookId": 1}', weight: 1 },
];

function app(extra: Partial<HttpApp> = {}, env: Record<string, string> = {}): HttpApp {
  return {
    command: [process.execPath, TEST_APP],
    cwd: process.cwd(),
    env: { MODE: 'ok', QUERY: 'SELECT count(*) FROM pg_class', ...env },
    port: 'auto',
    ready: '/health',
    readyTimeoutMs: 10_000,
    stopTimeoutMs: 2000,
    ...extra,
  };
}

function workload(overrides: Partial<HttpWorkload>): HttpWorkload {
  return {
    kind: 'http',
    name: 'foreign-listener',
    setup: { schema: [], seed: [] },
    routes: ROUTES,
    load: { connections: 2, shape: { kind: 'requests', requests: 20 }, warmupMs: 500, mixed: false, timeoutMs: 5000 },
    warnings: [],
    ...overrides,
  };
}

describe('HTTP replay never sends its load to a process it did not start', () => {
  let url: string;
  /** The database of the other application: every request it serves writes a row there. */
  let foreignUrl: string;
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('foreign_run');
    foreignUrl = await createTestDatabase('foreign_app');
    await withSession(foreignUrl, (s) => s.query('CREATE TABLE hits (id serial PRIMARY KEY)'));
  });
  afterEach(() => {
    for (const child of started.splice(0)) child.kill('SIGKILL');
  });

  /** Another application, already listening on `port` with a database of its own. */
  async function foreignApp(port: number): Promise<void> {
    const child = spawn(process.execPath, [TEST_APP], {
      env: {
        ...process.env,
        MODE: 'ok',
        PORT: String(port),
        DATABASE_URL: foreignUrl,
        QUERY: 'INSERT INTO hits DEFAULT VALUES',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    started.push(child);
    await once(child.stdout!, 'data');
  }

  /** What reached the other application, and the rows it wrote. */
  async function foreignSaw(port: number): Promise<{ requests: string[]; rows: number }> {
    const seen = (await (await fetch(`http://127.0.0.1:${port}/__seen`)).json()) as { method: string; url: string }[];
    const rows = await withSession(foreignUrl, (s) => s.query<{ n: number }>('SELECT count(*)::int AS n FROM hits'));
    return { requests: seen.map((r) => `${r.method} ${r.url}`), rows: rows.rows[0]!.n };
  }

  it('a fixed app.port another process listens on: APP_START_FAILED before the application starts, nothing sent', async () => {
    // The application honours PORT (it would fail with EADDRINUSE), or listens on a port of its own
    // (querygate would wait on the other process): either way the other process answers /health.
    const ownPort: Record<string, string> = { LISTEN_PORT: String(await freePort()) };
    for (const env of [{}, ownPort]) {
      const port = await freePort();
      await foreignApp(port);
      const before = await foreignSaw(port);
      const output: string[] = [];
      const error = await failure(
        runHttpWorkload({
          workload: workload({
            app: app({ port }, env),
            baseUrl: `http://127.0.0.1:${port}`,
            setup: { schema: [{ path: 'schema.sql', sql: 'CREATE TABLE setup_ran (id int)' }], seed: [] },
          }),
          databaseUrl: url,
          setup: true,
          // Writes allowed: only the port check stands between the POST route and the other database.
          allowWrites: true,
          onAppOutput: (line) => output.push(line),
        }),
      );
      expect(error).toMatchObject({ code: 'APP_START_FAILED', kind: 'environment' });
      expect(error.message).toBe(
        `port ${port} (http.app.port) is already in use: another process listens on it ` +
          `(GET http://127.0.0.1:${port}/health answers HTTP 200); querygate would take that process for the ` +
          'application, whose own listen fails, and send it the load, writes included: stop that process, or give ' +
          'the application another port (port: auto picks a free one)',
      );
      // Refused before the setup files (which may run for minutes) and the application; the other
      // process got nothing but that one look at /health.
      const setupRan = await withSession(url, (s) =>
        s.query<{ t: string | null }>("SELECT to_regclass('setup_ran')::text AS t"),
      );
      expect(setupRan.rows[0]!.t).toBeNull();
      expect(output).toEqual([]);
      const after = await foreignSaw(port);
      expect(after.requests.slice(before.requests.length)).toEqual(['GET /health']);
      expect(after.rows).toBe(before.rows);
    }
  });

  it('a port held on another address than the one querygate checks is in use too', async () => {
    const listen = (host: string) =>
      new Promise<Server>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, host, () => resolve(server));
      });
    for (const host of ['127.0.0.1', '::1']) {
      const server = await listen(host);
      const { port } = server.address() as { port: number };
      expect(await portInUse(port)).toBe(true);
      await new Promise((r) => server.close(r));
      expect(await portInUse(port)).toBe(false);
    }
  });

  it('a base URL another process answers at before the application starts: APP_START_FAILED, nothing sent', async () => {
    // The application's port is picked, but the load would go to baseUrl, where the other process is.
    const port = await freePort();
    await foreignApp(port);
    const before = await foreignSaw(port);
    const error = await failure(
      runHttpWorkload({
        workload: workload({ app: app(), baseUrl: `http://127.0.0.1:${port}` }),
        databaseUrl: url,
        allowWrites: true,
      }),
    );
    expect(error).toMatchObject({ code: 'APP_START_FAILED' });
    expect(error.message).toBe(
      `another process already listens at http://127.0.0.1:${port}, before the application was started; querygate ` +
        "cannot tell its answers from the application's, and would send it the load, writes included: stop that " +
        'process, or make http.app.ready and http.baseUrl name where only the application listens',
    );
    const after = await foreignSaw(port);
    expect(after).toEqual(before);
  });

  it('an application that exits right after answering ready: APP_START_FAILED, no load', async () => {
    const error = await failure(
      runHttpWorkload({
        workload: workload({ app: app({}, { MODE: 'ready-exit' }) }),
        databaseUrl: url,
        allowWrites: true,
      }),
    );
    expect(error).toMatchObject({ code: 'APP_START_FAILED', kind: 'environment' });
    expect(error.message).toMatch(
      /^the application exited with code 4 right after GET http:\/\/127\.0\.0\.1:\d+\/health answered 2xx: either it stopped at once, or another process answered in its place; no load was sent$/,
    );
    expect(error.details).toContain('  app: test app (ready-exit) listening');
  });
});
