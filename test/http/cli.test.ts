import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/target/port.js';
import { probeUrl } from '../../src/workload/app.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, scratchDatabase, withSession } from '../support/db.js';
import type { Report } from '../../src/model/report.js';
import { validateReport } from '../support/report-schema.js';
import { BAD_HTTP_SCENARIO, badHttpScenarioProblems } from './support.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const fixture = (name: string) => here(`./fixtures/${name}`);
const NO_STACK = /\n\s+at .*:\d+:\d+/;

/** The test application, on a free port with `url` as its database, once it says it listens. */
async function startApp(url: string): Promise<{ app: ChildProcess; port: number }> {
  const port = await freePort();
  const app = spawn(process.execPath, [fixture('test-app.mjs')], {
    env: { ...process.env, MODE: 'ok', PORT: String(port), DATABASE_URL: url, QUERY: 'SELECT count(*) FROM pg_class' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(app.stdout!, 'data');
  return { app, port };
}
describe('querygate run <http scenario> and querygate capture (CLI)', () => {
  let dir: string;
  let url: string;
  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('http_cli'));
  });

  it('replays routes through the app, prints the per-route table and fails --fail-on warning on the N+1', async () => {
    const out = join(dir, 'shop.json');
    const result = await runCli([
      'run',
      fixture('shop.yaml'),
      '--database-url',
      url,
      '--setup',
      '--allow-writes',
      '--no-budget',
      '--fail-on',
      'warning',
      '--out',
      out,
    ]);
    expect(result.stderr).not.toMatch(NO_STACK);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Routes (4), by database time per request:');
    expect(result.stdout).toMatch(/recent orders\s+│ 60\s+│/);
    expect(result.stdout).toContain('n-plus-one');
    expect(result.stdout).toContain('runs 20 times per request of route "recent orders"');
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.workload.kind).toBe('http');
    expect(report.routes.map((r: { name: string }) => r.name)).toEqual([
      'order by id',
      'customer by email',
      'recent orders',
      'ship order',
    ]);
    expect(report.warnings).toContain(
      'write requests were replayed with --allow-writes and their changes committed: "ship order" (POST /orders/{id}/ship)',
    );
    // The password of the database never reaches the output or the report.
    expect(result.stdout + result.stderr + readFileSync(out, 'utf8')).not.toContain(new URL(url).password);
  });

  it('--allow-writes for an application whose role may only read: the warning says its writes most likely changed nothing', async () => {
    const db = await createTestDatabase('http_read_only');
    const role = `qg_read_only_${process.pid}`;
    await withSession(db, async (s) => {
      for (const file of [here('../../scenarios/outage/schema.sql'), fixture('seed.sql')])
        await s.query(readFileSync(file, 'utf8'));
      await s.query('ANALYZE');
      await s.query(`DROP ROLE IF EXISTS ${role}`);
      await s.query(`CREATE ROLE ${role} LOGIN PASSWORD 'read-only'`);
      await s.query(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    });
    const readOnly = new URL(db);
    readOnly.username = role;
    readOnly.password = 'read-only';
    const out = join(dir, 'read-only.json');
    const result = await runCli([
      'run',
      fixture('shop.yaml'),
      '--database-url',
      readOnly.toString(),
      '--allow-writes',
      '--no-budget',
      '--out',
      out,
    ]);
    expect(result.stderr).not.toMatch(NO_STACK);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { warnings: string[] };
    expect(report.warnings).toContain(
      'write requests were replayed with --allow-writes, but the database recorded no completed INSERT, UPDATE, ' +
        'DELETE or MERGE of theirs, so they most likely changed nothing: "ship order" (POST /orders/{id}/ship)',
    );
    expect(report.warnings.join('\n')).not.toContain('their changes committed');
  });

  it('write routes against an external database or a running application: refused, exit 2, unless --allow-writes', async () => {
    const refused = await runCli(['run', fixture('shop.yaml'), '--database-url', url, '--setup', '--no-budget']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      'querygate: error: 1 route(s) send write requests to an external database, whose changes are committed and cannot be rolled back: ' +
        '"ship order" (POST /orders/{id}/ship); pass --allow-writes to replay them anyway, or leave them out (imports: methods: [GET, HEAD])',
    );

    // A HAR import replays its recorded POST and DELETE against a running application: refused too,
    // before a single request is sent.
    const port = await freePort();
    const app = spawn(process.execPath, [fixture('test-app.mjs')], {
      env: {
        ...process.env,
        MODE: 'ok',
        PORT: String(port),
        DATABASE_URL: url,
        QUERY: 'SELECT count(*) FROM pg_class',
      },
      stdio: 'ignore',
    });
    try {
      while (!('status' in (await probeUrl(`http://127.0.0.1:${port}/__counts`))))
        await new Promise((r) => setTimeout(r, 50));
      const path = join(dir, 'har-writes.yaml');
      copyFileSync(fixture('loans.har'), join(dir, 'loans.har'));
      writeFileSync(
        path,
        `http:
  baseUrl: http://127.0.0.1:${port}
  import:
    - har: loans.har
`,
      );
      // Without --database-url the database comes first, and the same error names the write routes
      // that --allow-writes would be needed for next.
      const har = await runCli(['run', path, '--no-budget', '--out', join(dir, 'har-writes.json')]);
      expect(har.code).toBe(2);
      expect(har.stderr.split('\n')[0]).toMatch(
        /^querygate: error: the application at http:\/\/127\.0\.0\.1:\d+ is already running and uses a database of its own/,
      );
      expect(har.stderr.split('\n')[1]).toMatch(
        /^also: 2 route\(s\) send write requests to a running application \(baseUrl\), .*"loans\.har: POST \/api\/loans" \(POST \/api\/loans\), "loans\.har: DELETE \/api\/loans\/\{loanId\}" \(DELETE \/api\/loans\/\{loanId\}\); pass --allow-writes/,
      );
      const refused = await runCli([
        'run',
        path,
        '--database-url',
        url,
        '--no-budget',
        '--out',
        join(dir, 'har-writes.json'),
      ]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(
        /^querygate: error: 2 route\(s\) send write requests to an external database, .*"loans\.har: POST \/api\/loans" \(POST \/api\/loans\), .*; pass --allow-writes/,
      );
      const seen = (await (await fetch(`http://127.0.0.1:${port}/__seen`)).json()) as unknown[];
      expect(seen).toEqual([]);
      // Reads only: replayed.
      writeFileSync(
        path,
        `http:
  baseUrl: http://127.0.0.1:${port}
  import:
    - { har: loans.har, methods: [GET, HEAD] }
  load: { connections: 1, requests: 5 }
`,
      );
      const reads = await runCli([
        'run',
        path,
        '--database-url',
        url,
        '--no-budget',
        '--out',
        join(dir, 'har-reads.json'),
      ]);
      expect(reads.code, reads.stderr).toBe(0);
    } finally {
      app.kill('SIGKILL');
    }
  });

  it('bad scenario: one line naming the field, exit 2', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'http:\n  baseUrl: http://127.0.0.1:1\n  routes:\n    - path: /orders/{id}\n');
    const result = await runCli(['run', path, '--database-url', url, '--out', join(dir, 'bad.json')], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'querygate: error: bad.yaml:4:13: http.routes[0].path: placeholder {id} has no generator: add it under http.routes[0].params',
    );
  });

  it('bad scenario: every problem at once, in file order, each with its line and the file relative to the working directory, exit 2', async () => {
    // Two scenarios of one name in different folders: each message says which one.
    for (const folder of ['billing', 'shop']) {
      mkdirSync(join(dir, folder), { recursive: true });
      writeFileSync(join(dir, folder, 'bad-many.yaml'), BAD_HTTP_SCENARIO);
    }
    const file = join('shop', 'bad-many.yaml');
    const result = await runCli(['run', file, '--database-url', url, '--out', join(dir, 'bad.json')], { cwd: dir });
    expect(result.code).toBe(2);
    const [first, ...others] = badHttpScenarioProblems(file, join(dir, 'shop', 'nowhere.har'));
    expect(result.stderr.trim().split('\n')).toEqual([`querygate: error: ${first}`, ...others]);
  });

  it('a phase under 1s is refused alike from the file and from --duration, exit 2', async () => {
    const path = join(dir, 'short.yaml');
    writeFileSync(
      path,
      'http:\n  baseUrl: http://127.0.0.1:1\n  routes:\n    - path: /orders\n  load:\n    duration: 500ms\n',
    );
    const file = await runCli(['run', path, '--database-url', url, '--out', join(dir, 'short.json')], { cwd: dir });
    expect(file.code).toBe(2);
    expect(file.stderr.trim()).toBe('querygate: error: short.yaml:6:15: http.load.duration: must be at least 1s');
    const flag = await runCli([
      'run',
      path,
      '--duration',
      '500ms',
      '--database-url',
      url,
      '--out',
      join(dir, 'short.json'),
    ]);
    expect(flag.code).toBe(2);
    expect(flag.stderr.trim()).toBe(
      "querygate: error: --duration must be at least 1s in an HTTP run (the length of each route's phase), got 500ms",
    );
  });

  it('HTTP flags on a SQL scenario are a usage error', async () => {
    const result = await runCli([
      'run',
      here('../../scenarios/outage-demo.yaml'),
      '--rate',
      '10',
      '--database-url',
      url,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--base-url and --rate apply to HTTP scenarios');
  });

  it('a running application without --database-url: refused before anything, exit 2, naming --database-url', async () => {
    // Nothing listens on the port: the refusal comes before any request or database.
    const port = await freePort();
    const path = join(dir, 'running-app.yaml');
    writeFileSync(
      path,
      `http:
  app:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('test-app.mjs'))}]
  routes:
    - { name: a, path: /a }
`,
    );
    const expected =
      `querygate: error: the application at http://127.0.0.1:${port} is already running and uses a database of its own, ` +
      'which querygate cannot know: pass that database with --database-url (or DATABASE_URL); without it querygate ' +
      'would measure an empty embedded database that the load never reaches';
    const out = join(dir, 'running-app.json');
    const flag = await runCli(['run', path, '--base-url', `http://127.0.0.1:${port}`, '--no-budget', '--out', out]);
    expect(flag.code).toBe(2);
    expect(flag.stderr.trim()).toBe(expected);
    writeFileSync(path, `http:\n  baseUrl: http://127.0.0.1:${port}\n  routes:\n    - { name: a, path: /a }\n`);
    const scenario = await runCli(['run', path, '--no-budget', '--out', out]);
    expect(scenario.code).toBe(2);
    expect(scenario.stderr.trim()).toBe(expected);
    // With a write route too: the missing database first, and the write route in the same error,
    // not one refusal after the other.
    const writes = await runCli([
      'run',
      fixture('shop.yaml'),
      '--base-url',
      `http://127.0.0.1:${port}`,
      '--no-budget',
      '--out',
      out,
    ]);
    expect(writes.code).toBe(2);
    expect(writes.stderr.trim()).toBe(
      `${expected}\nalso: 1 route(s) send write requests to a running application (baseUrl), whose changes are ` +
        'committed and cannot be rolled back: "ship order" (POST /orders/{id}/ship); pass --allow-writes to replay ' +
        'them anyway, or leave them out (imports: methods: [GET, HEAD])',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('an unreachable application: exit 3, one clear line', async () => {
    const port = await freePort();
    const result = await runCli([
      'run',
      fixture('shop.yaml'),
      '--base-url',
      `http://127.0.0.1:${port}`,
      '--database-url',
      url,
      '--allow-writes',
      '--no-budget',
      '--out',
      join(dir, 'unreachable.json'),
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `querygate: error: cannot reach the application at http://127.0.0.1:${port}: connection refused`,
    );
    expect(result.stderr).not.toMatch(NO_STACK);
  });

  it('an application that exits during the run: partial report written, exit 3 with its last output', async () => {
    const path = join(dir, 'exits.yaml');
    writeFileSync(
      path,
      `http:
  app:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('test-app.mjs'))}]
    env: { MODE: exit-after, EXIT_AFTER: 40 }
    ready: /health
  routes:
    - { name: a, path: /a }
    - { name: b, path: /b }
  load: { connections: 2, duration: 20s }
`,
    );
    const out = join(dir, 'exits.json');
    const result = await runCli(['run', path, '--database-url', url, '--no-budget', '--out', out]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`report written to ${out} (incomplete)`);
    expect(result.stderr).toContain('querygate: error: the application exited with code 3 during the run');
    expect(result.stderr).toContain('  app: test app: giving up after 40 requests');
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.run).toMatchObject({ complete: false, interruptedBy: 'the application exited with code 3' });
    expect(report.routes[0].requests).toBeGreaterThanOrEqual(39);
  });

  it('an application that hangs during the run: partial report written, exit 3 (APP_UNREACHABLE)', async () => {
    const path = join(dir, 'hangs.yaml');
    writeFileSync(
      path,
      `http:
  app:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('test-app.mjs'))}]
    env: { MODE: freeze-after, FREEZE_AFTER: 40 }
    ready: /health
  routes:
    - { name: a, path: /a }
    - { name: b, path: /b }
  load: { connections: 2, duration: 20s, timeout: 4s }
`,
    );
    const out = join(dir, 'hangs.json');
    const result = await runCli(['run', path, '--database-url', url, '--no-budget', '--out', out]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`report written to ${out} (incomplete)`);
    expect(result.stderr).toMatch(
      /querygate: error: the application stopped answering \(no response for \d+\.\d s\) at http/,
    );
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(result.stderr).toContain('no request was answered within the request timeout (4 s)');
    expect(report.run.complete).toBe(false);
    // Both connections' requests, and those sent again after they timed out.
    expect(report.routes[0].errors).toBeGreaterThanOrEqual(2);
    expect(report.routes[0].errors).toBeLessThanOrEqual(4);
  });

  it('an access log against a running application: reads only, says what it skipped and why', async () => {
    const { app, port } = await startApp(url);
    try {
      copyFileSync(fixture('library-access.txt'), join(dir, 'library.log'));
      const path = join(dir, 'library.yaml');
      writeFileSync(path, 'http:\n  import:\n    - accessLog: library.log\n  load: { connections: 2, requests: 30 }\n');
      const result = await runCli(
        [
          'run',
          path,
          '--base-url',
          `http://127.0.0.1:${port}`,
          '--database-url',
          url,
          '--no-budget',
          '--out',
          join(dir, 'library.json'),
        ],
        { cwd: dir },
      );
      expect(result.stderr).not.toMatch(NO_STACK);
      expect(result.code).toBe(0);
      // Warnings wrap at the output's width: read them unwrapped.
      expect(result.stdout.replace(/\n {2,}/g, ' ')).toContain(
        'warning: library.log: 3 route(s) imported; 1 skipped (failed response); 2 skipped (other host); 3 skipped (health check); 6 request(s) skipped by method (DELETE 3, POST 2, PUT 1; replayed: GET, HEAD)',
      );
      const seen = (await (await fetch(`http://127.0.0.1:${port}/__seen`)).json()) as { method: string; url: string }[];
      // Three phases of 30 requests and a mixed one, after the check that the application answers
      // (GET /); nothing but reads reached the application.
      expect(seen.filter((r) => r.url !== '/')).toHaveLength(120);
      expect(new Set(seen.map((r) => r.method))).toEqual(new Set(['GET', 'HEAD']));
      expect(
        seen.filter((r) => r.url.startsWith('/q?')).every((r) => /^\/q\?name=(a%20b&tag=x&tag=y|c&tag=z)$/.test(r.url)),
      ).toBe(true);
    } finally {
      app.kill();
    }
  });

  it('a run whose database recorded no statement: report written, exit 3 (NOTHING_RECORDED); a route without statements is fine', async () => {
    // The application uses its own database; --database-url names another one, which the load never reaches.
    const other = await createTestDatabase('http_cli_other');
    const { app, port } = await startApp(url);
    try {
      const path = join(dir, 'reads.yaml');
      writeFileSync(
        path,
        `http:\n  routes:\n    - { name: books, path: /books }\n    - { name: logo, path: /static/logo }\n  load: { connections: 2, requests: 30 }\n`,
      );
      const out = join(dir, 'wrong-db.json');
      const run = (databaseUrl: string) =>
        runCli([
          'run',
          path,
          '--base-url',
          `http://127.0.0.1:${port}`,
          '--database-url',
          databaseUrl,
          '--no-budget',
          '-q',
          '--out',
          out,
        ]);
      const wrong = await run(other);
      expect(wrong.stderr).not.toMatch(NO_STACK);
      expect(wrong.code).toBe(3);
      expect(wrong.stderr).toContain(`report written to ${out}\n`);
      expect(wrong.stderr).toMatch(
        new RegExp(
          `querygate: error: pg_stat_statements recorded no statement in database "${new URL(other).pathname.slice(1)}" during the run, ` +
            `although the routes got \\d+ response\\(s\\): the load does not reach this database, and the measurement is void\n` +
            `hint: --database-url must name the database that the application at http://127\\.0\\.0\\.1:${port} uses\n`,
        ),
      );
      const report = JSON.parse(readFileSync(out, 'utf8'));
      expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
      expect(report.queries).toEqual([]);
      expect(report.routes.map((r: { requests: number }) => r.requests)).toEqual([30, 30]);

      // The right database: one route runs a statement per request, the other none, and that is fine.
      const right = await run(url);
      expect(right.code, right.stderr).toBe(0);
      const ok = JSON.parse(readFileSync(out, 'utf8'));
      expect(ok.routes.map((r: { statementsPerRequest: number }) => r.statementsPerRequest)).toEqual([1, 0]);
    } finally {
      app.kill('SIGKILL');
    }
  });

  it('a route the application answers only with 404: report written, exit 2 (ROUTE_NOT_FOUND) naming the route and its path', async () => {
    const { app, port } = await startApp(url);
    try {
      const path = join(dir, 'wrong-path.yaml');
      writeFileSync(
        path,
        'http:\n  routes:\n    - { name: books, path: /books }\n    - { name: book by id, path: "/book/{id}?status=404", params: { id: { int: { min: 1, max: 9 } } } }\n' +
          '  load: { connections: 2, requests: 20, mixed: false }\n',
      );
      const out = join(dir, 'wrong-path.json');
      const result = await runCli([
        'run',
        path,
        '--base-url',
        `http://127.0.0.1:${port}`,
        '--database-url',
        url,
        '--no-budget',
        '-q',
        '--out',
        out,
      ]);
      expect(result.stderr).not.toMatch(NO_STACK);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`report written to ${out}\n`);
      expect(result.stderr).toContain(
        'querygate: error: route "book by id" (GET /book/{id}?status=404): all 20 responses were 404 Not Found: ' +
          'the application has no such route, so nothing was measured for it\n',
      );
      const report = JSON.parse(readFileSync(out, 'utf8'));
      expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
      expect(report.routes.map((r: { non2xx: number }) => r.non2xx)).toEqual([0, 20]);
    } finally {
      app.kill('SIGKILL');
    }
  });

  it('Ctrl-C stops the load and the application, writes the partial report, exit 130', async () => {
    const port = await freePort();
    const path = join(dir, 'interrupt.yaml');
    writeFileSync(
      path,
      `http:
  app:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('test-app.mjs'))}]
    port: ${port}
    ready: /health
  routes: [{ name: a, path: /a }]
  load: { connections: 2, duration: 60s }
`,
    );
    const out = join(dir, 'interrupt.json');
    let pid = 0;
    const running = runCli(['run', path, '--database-url', url, '--no-budget', '--out', out], {
      onSpawn: (p) => (pid = p),
    });
    // Interrupt once the load is under way: the application has answered requests of the route (a
    // fixed delay after it started raced the load's start on a busy machine).
    const answered = async () => {
      try {
        const counts = (await (await fetch(`http://127.0.0.1:${port}/__counts`)).json()) as Record<string, number>;
        return counts['/a'] ?? 0;
      } catch {
        return 0;
      }
    };
    for (let i = 0; i < 600 && (await answered()) < 20; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGINT');
    const result = await running;
    expect(result.code).toBe(130);
    expect(result.stderr).toContain('(incomplete)');
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run).toMatchObject({ complete: false, interruptedBy: 'interrupted by SIGINT' });
    expect(report.routes[0].requests).toBeGreaterThan(0);
    expect(await probeUrl(`http://127.0.0.1:${port}/health`)).toEqual({ error: 'connection refused' });
  });

  it('capture -- <command> on the embedded database: the command gets DATABASE_URL, its output passes through', async () => {
    const out = join(dir, 'capture.json');
    const result = await runCli([
      'capture',
      '--schema',
      fixture('items.sql'),
      '--no-budget',
      '--out',
      out,
      '--',
      process.execPath,
      fixture('load-script.mjs'),
    ]);
    expect(result.stderr).not.toMatch(NO_STACK);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('load-script: 35 statements sent');
    expect(result.stdout).toContain('Index Scan using');
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.target.kind).toBe('embedded');
    expect(report.workload).toMatchObject({
      kind: 'external',
      command: [process.execPath, fixture('load-script.mjs')],
    });
    expect(
      report.queries.find((q: { query: string }) => q.query === 'SELECT id, label FROM items WHERE id = $1').calls,
    ).toBe(30);
  });

  it('capture with a failing command writes the report, then exits 3', async () => {
    await withSession(url, (s) => s.query(readFileSync(fixture('items.sql'), 'utf8')));
    const out = join(dir, 'capture-failed.json');
    const result = await runCli(
      [
        'capture',
        '--database-url',
        url,
        '--no-budget',
        '--out',
        out,
        '--',
        process.execPath,
        fixture('load-script.mjs'),
      ],
      {
        env: { EXIT_CODE: '9' },
      },
    );
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`report written to ${out}`);
    expect(result.stderr).toContain(
      `querygate: error: the command exited with code 9: ${process.execPath} ${fixture('load-script.mjs')}`,
    );
    // Said once: the terminal summary leaves out the warning the error repeats; the report keeps it.
    expect(`${result.stdout}\n${result.stderr}`.split('the command exited with code 9')).toHaveLength(2);
    expect(existsSync(out)).toBe(true);
    expect((JSON.parse(readFileSync(out, 'utf8')) as Report).warnings).toContain(
      `the command exited with code 9: ${process.execPath} ${fixture('load-script.mjs')}`,
    );
  });

  it('capture of a command that reaches no database: report written, exit 3 (NOTHING_RECORDED), naming --database-url', async () => {
    const out = join(dir, 'capture-empty.json');
    const result = await runCli(['capture', '--no-budget', '-q', '--out', out, '--', process.execPath, '-e', '']);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(`report written to ${out}\n`);
    expect(result.stderr).toContain(
      `querygate: error: pg_stat_statements recorded no statement in database "querygate" while the command ran ` +
        `(${process.execPath} -e ): the load did not reach this database, and the measurement is void\n` +
        'hint: the command got DATABASE_URL of the embedded database querygate started; load that goes through an ' +
        'application with a database of its own needs that database, with --database-url',
    );
    const report = JSON.parse(readFileSync(out, 'utf8')) as { warnings: string[]; run: { complete: boolean } };
    expect(report.run.complete).toBe(true);
    expect(report.warnings.find((w) => w.startsWith('pg_stat_statements recorded no statement'))).toMatch(
      /is the load reaching this database\? It is the embedded database querygate started: load that reaches a database of its own \(through an application\) needs that database, with --database-url$/,
    );
  });

  it('capture with -- forgotten: the parser error has the usual prefix, and a hint to put -- first', async () => {
    const forgot = await runCli(['capture', '--database-url', url, 'sh', '-c', 'true']);
    expect(forgot.code).toBe(2);
    expect(forgot.stderr.split('\n').slice(0, 2)).toEqual([
      "querygate: error: unknown option '-c'",
      "querygate: hint: put -- before the load command, so that its options are not read as querygate's: querygate capture [options] -- <command...>",
    ]);
    // A mistyped option of querygate's own gets its suggestion, and no hint about the load command.
    const typo = await runCli(['capture', '--databse-url', url, '--', 'sh', '-c', 'true']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^querygate: error: unknown option '--databse-url'\n\(Did you mean --database-url\?\)/);
    expect(typo.stderr).not.toContain('hint');
  });

  it('capture without a command, and with one that does not exist', async () => {
    const none = await runCli(['capture', '--database-url', url]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("missing required argument 'command'");
    const missing = await runCli([
      'capture',
      '--database-url',
      url,
      '--no-budget',
      '--out',
      join(dir, 'missing.json'),
      '--',
      'querygate-no-such-load-tool',
    ]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('querygate: error: command not found: querygate-no-such-load-tool');
  });
});
