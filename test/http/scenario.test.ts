import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { isQuerygateError } from '../../src/errors.js';
import { loadScenario } from '../../src/workload/load.js';
import { isHttpScenario, loadHttpScenario } from '../../src/workload/http/scenario.js';
import { checkWriteRoutes, writeRoutes } from '../../src/workload/http/phases.js';
import { BAD_HTTP_SCENARIO, badHttpScenarioProblems } from './support.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('the http section of a scenario', () => {
  const cwd = process.cwd();
  let dir: string;
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const failure = (text: string): { code: string; message: string; details: readonly string[] } => {
    const path = write('bad.yaml', text);
    try {
      loadHttpScenario(path);
    } catch (error) {
      if (isQuerygateError(error)) return { code: error.code, message: error.message, details: error.details };
      throw error;
    }
    throw new Error('expected the scenario to be rejected');
  };

  beforeAll(async () => {
    await loadParser();
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'querygate-http-scenario-')));
    // Messages name a scenario relative to the working directory: run from the scenarios' directory.
    process.chdir(dir);
    copyFileSync(fixture('traffic.har'), join(dir, 'traffic.har'));
    copyFileSync(fixture('access-log.txt'), join(dir, 'access.log'));
  });
  afterAll(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads routes, app, load and defaults', () => {
    const workload = loadHttpScenario(fixture('shop.yaml'));
    expect(workload.kind).toBe('http');
    expect(workload.routes.map((r) => [r.name, r.method, r.path, r.weight])).toEqual([
      ['order by id', 'GET', '/orders/{id}', 40],
      ['customer by email', 'GET', '/customers?email={email}', 20],
      ['recent orders', 'GET', '/orders/recent', 5],
      ['ship order', 'POST', '/orders/{id}/ship', 5],
    ]);
    const ship = workload.routes[3]!;
    expect(ship.body).toBe('{"by":"querygate"}');
    expect(ship.headers).toEqual({ 'content-type': 'application/json' });
    expect(ship.params).toEqual({ id: { kind: 'seq', start: 1, step: 3 } });
    expect(workload.app).toMatchObject({
      command: ['node', '../../../fixtures/app/server.js'],
      port: 'auto',
      ready: '/health',
      readyTimeoutMs: 20_000,
    });
    expect(workload.app!.env).toEqual({ POOL_SIZE: '4' });
    expect(workload.baseUrl).toBeUndefined();
    expect(workload.load).toEqual({
      connections: 2,
      shape: { kind: 'requests', requests: 60 },
      warmupMs: 0,
      mixed: true,
      timeoutMs: 10_000,
    });
    // Named as error locations name files: from the working directory (here outside it, so absolute).
    expect(workload.setup.seed.map((f) => f.path)).toEqual([fixture('seed.sql')]);
    expect(isHttpScenario(fixture('shop.yaml'))).toBe(true);
  });

  it('applies command-line overrides; --base-url means the app is already running', () => {
    const workload = loadHttpScenario(fixture('shop.yaml'), {
      durationMs: 2000,
      connections: 3,
      rate: 50,
      baseUrl: 'http://127.0.0.1:9999/',
    });
    expect(workload.load).toMatchObject({ connections: 3, shape: { kind: 'duration', durationMs: 2000 }, rate: 50 });
    expect(workload.app).toBeUndefined();
    expect(workload.baseUrl).toBe('http://127.0.0.1:9999');
    try {
      loadHttpScenario(fixture('shop.yaml'), { baseUrl: 'staging:8080' });
      expect.unreachable();
    } catch (error) {
      expect(isQuerygateError(error) && [error.code, error.message]).toEqual([
        'USAGE',
        '--base-url: not an http(s) URL: staging:8080',
      ]);
    }
  });

  it('imports routes from HAR files and access logs, with warnings for what it skipped', () => {
    const path = write(
      'imported.yaml',
      `http:
  baseUrl: http://127.0.0.1:3000
  headers: { x-replay: querygate }
  import:
    - har: traffic.har
    - accessLog: access.log
      top: 2
  load: { duration: 2s }
`,
    );
    const workload = loadHttpScenario(path);
    expect(workload.routes.map((r) => r.name)).toEqual([
      'traffic.har: GET /orders/{orderId}',
      'traffic.har: POST /orders/{orderId}/ship',
      'traffic.har: GET /reports/refunds?daysAgo={daysAgo}',
      'access.log: GET /orders/{orderId}',
      'access.log: GET /customers/{customerId}/orders',
    ]);
    expect(workload.routes.every((r) => r.headers['x-replay'] === 'querygate')).toBe(true);
    expect(workload.warnings).toEqual([
      'traffic.har: 3 route(s) imported; 2 unreadable entries skipped (first: log.entries[7]); 1 skipped (failed response); 2 skipped (other origin)',
      'access.log: 2 route(s) imported; 2 unreadable lines skipped (first: line 8); 1 skipped (failed response); 1 request(s) skipped by method (POST 1; replayed: GET, HEAD); 1 static file request(s) skipped; 2 request(s) of routes beyond the top 2 left out',
    ]);
  });

  it('imports only GET and HEAD from an access log unless methods says otherwise, and says what it skipped', () => {
    copyFileSync(fixture('library-access.txt'), join(dir, 'library.log'));
    const load = (importSpec: string, baseUrl = 'http://library.example.com') =>
      loadHttpScenario(write('library.yaml', `http:\n  baseUrl: ${baseUrl}\n  import:\n    - ${importSpec}\n`));
    const byDefault = load('accessLog: library.log');
    expect(byDefault.routes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /books/{bookId}',
      'GET /q?name={name}&tag={tag}',
      'HEAD /books/{bookId}',
    ]);
    expect(byDefault.warnings).toEqual([
      'library.log: 3 route(s) imported; 1 skipped (failed response); 1 skipped (other host); 3 skipped (health check); 6 request(s) skipped by method (DELETE 3, POST 2, PUT 1; replayed: GET, HEAD)',
    ]);
    // The host comes from the base URL (file or --base-url), or from origin.
    const staging = loadHttpScenario(
      write('library.yaml', 'http:\n  baseUrl: http://staging:8080\n  import:\n    - accessLog: library.log\n'),
      {
        baseUrl: 'http://other.example.com',
      },
    );
    expect(staging.warnings[0]).toContain('; 1 skipped (other host);');
    // --base-url wins over the file: now the library.example.com line is the other host's.
    expect(staging.routes[0]!.recorded!.map((r) => r.target)).toEqual(['/books/5']);
    const byOrigin = load('{ accessLog: library.log, origin: "https://library.example.com" }', 'http://staging:8080');
    expect(byOrigin.routes[0]!.recorded!.map((r) => r.target)).toEqual(['/books/5', '/books/9']);

    const opted = load('{ accessLog: library.log, methods: [GET, POST], keepProbes: true }');
    expect(opted.routes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /books/{bookId}',
      'POST /loans',
      'GET /q?name={name}&tag={tag}',
      'GET /health',
      'GET /healthz',
      'GET /ready-check',
    ]);
    expect(opted.warnings[0]).toContain(
      '5 request(s) skipped by method (DELETE 3, HEAD 1, PUT 1; replayed: GET, POST)',
    );
    expect(opted.warnings[0]).not.toContain('health check');
  });

  it('names the field of every mistake', () => {
    expect(failure('http:\n  baseUrl: http://x\n  routes:\n    - path: orders\n')).toMatchObject({
      code: 'SCENARIO_INVALID',
      message: 'bad.yaml:4:13: http.routes[0].path: must be a path starting with / (e.g. /orders/{id})',
    });
    expect(failure('http:\n  baseUrl: http://x\n  routes:\n    - path: /orders/{id}\n')).toMatchObject({
      message:
        'bad.yaml:4:13: http.routes[0].path: placeholder {id} has no generator: add it under http.routes[0].params',
    });
    expect(failure('http:\n  routes:\n    - path: /\n')).toMatchObject({
      message: 'bad.yaml:1:1: http.baseUrl: is required without http.app (the application to start)',
    });
    expect(failure('http:\n  baseUrl: http://x\n  routes: []\n')).toMatchObject({
      message: 'bad.yaml:3:11: http.routes: no route to replay (write routes or import a HAR file or access log)',
    });
    expect(failure('http:\n  baseUrl: http://x\n  routes: [{ path: /, method: FETCH }]\n').message).toMatch(
      /^bad\.yaml:3:\d+: http\.routes\[0\]\.method: must be one of "GET"/,
    );
    expect(
      failure('http:\n  baseUrl: http://x\n  routes: [{ path: / }]\n  load: { duration: 2s, requests: 5 }\n').message,
    ).toBe('bad.yaml:4:35: http.load: give either duration or requests, not both');
    expect(failure('http:\n  baseUrl: http://x\n  routes: [{ path: / }]\n  lod: {}\n').message).toBe(
      'bad.yaml:4:3: http.lod: unknown field: did you mean load? (known: app, baseUrl, headers, routes, import, load)',
    );
    expect(
      failure('statements: [{ sql: SELECT 1 }]\nhttp:\n  baseUrl: http://x\n  routes: [{ path: / }]\n').message,
    ).toMatch(/^bad\.yaml:1:1: statements: a scenario replays either SQL statements or HTTP routes/);
    write('schema.sql', 'CREATE TABLE t (id int);\n');
    expect(
      failure('setup:\n  schema: [schema.sql, nope.sql]\nhttp:\n  baseUrl: http://x\n  routes: [{ path: / }]\n')
        .message,
    ).toMatch(/^bad\.yaml:2:24: setup\.schema: setup file not found: .*nope\.sql$/);
    expect(failure('http:\n  baseUrl: http://x\n  import: [{ har: missing.har }]\n')).toMatchObject({
      code: 'FILE_NOT_FOUND',
      message: expect.stringMatching(/^bad\.yaml:3:19: http\.import\[0\]\.har: HAR file not found: .*missing\.har$/),
    });
    expect(failure('http:\n  baseUrl: http://x\n  import: [{ har: access.log }]\n')).toMatchObject({
      code: 'HAR_INVALID',
      message: expect.stringMatching(/^bad\.yaml:3:19: http\.import\[0\]\.har: access\.log: not a HAR file/),
    });
    expect(
      failure('http:\n  baseUrl: http://x\n  import: [{ accessLog: access.log, methods: [GET, FETCH] }]\n').message,
    ).toMatch(/^bad\.yaml:3:\d+: http\.import\[0\]\.methods\[1\]: must be one of "GET"/);
    expect(failure('http:\n  baseUrl: http://x\n  import: [{ accessLog: access.log, methods: [] }]\n').message).toMatch(
      /^bad\.yaml:3:\d+: http\.import\[0\]\.methods: must NOT have fewer than 1 items/,
    );
    expect(
      failure('http:\n  baseUrl: http://x\n  import: [{ accessLog: access.log, origin: "http://" }]\n'),
    ).toMatchObject({
      code: 'SCENARIO_INVALID',
      message: 'bad.yaml:3:45: http.import[0].origin: not an http(s) URL: http://',
    });
    write('writes.log', '10.0.0.2 - - [12/Mar/2027:09:00:03 +0000] "DELETE /loans/5 HTTP/1.1" 204 0\n');
    expect(failure('http:\n  baseUrl: http://x\n  import: [{ accessLog: writes.log }]\n')).toMatchObject({
      code: 'ACCESS_LOG_INVALID',
      message:
        'bad.yaml:3:25: http.import[0].accessLog: writes.log: no request to replay (1 request(s) skipped by method (DELETE 1; replayed: GET, HEAD))',
    });
    write('empty.log', 'garbage\nmore garbage\n');
    expect(failure('http:\n  baseUrl: http://x\n  import: [{ accessLog: empty.log }]\n')).toMatchObject({
      code: 'ACCESS_LOG_INVALID',
      message:
        'bad.yaml:3:25: http.import[0].accessLog: empty.log: no request to replay (2 unreadable lines skipped (first: line 1))',
    });
  });

  it("reports every problem at once, in file order, each at its line: the schema's and the checks after it", () => {
    // The file is named relative to the working directory, as SQL scenarios and budgets are:
    // two scenarios of one name in different folders are told apart.
    mkdirSync(join(dir, 'billing'), { recursive: true });
    write(join('billing', 'many.yaml'), BAD_HTTP_SCENARIO);
    let error: unknown;
    try {
      loadHttpScenario(join('billing', 'many.yaml'));
    } catch (e) {
      error = e;
    }
    expect(isQuerygateError(error) && error.code).toBe('SCENARIO_INVALID');
    const { message, details } = error as { message: string; details: readonly string[] };
    expect([message, ...details]).toEqual(
      badHttpScenarioProblems(join('billing', 'many.yaml'), join(dir, 'billing', 'nowhere.har')),
    );
    // A flag replaces the file's load, and so its problems.
    const short = write(
      'short.yaml',
      'http:\n  baseUrl: http://x\n  routes: [{ path: / }]\n  load: { duration: 0s }\n',
    );
    expect(loadHttpScenario(short, { durationMs: 2000 }).load.shape).toEqual({ kind: 'duration', durationMs: 2000 });
  });

  it('says a misspelt field once, not again through what it leaves missing', () => {
    const params = failure(
      'http:\n  baseUrl: http://x\n  routes:\n    - path: /streams/{id}\n      parmas:\n        id: { value: 1 }\n',
    );
    expect([params.message, ...params.details]).toEqual([
      'bad.yaml:5:7: http.routes[0].parmas: unknown field: did you mean params? (known: name, method, path, params, headers, body, weight)',
    ]);
    const sections = failure('http:\n  ap:\n    command: [node, server.js]\n  rutes:\n    - path: /\n');
    expect([sections.message, ...sections.details]).toEqual([
      'bad.yaml:2:3: http.ap: unknown field: did you mean app? (known: app, baseUrl, headers, routes, import, load)',
      'bad.yaml:4:3: http.rutes: unknown field: did you mean routes? (known: app, baseUrl, headers, routes, import, load)',
    ]);
  });

  it('names every unused generator when none is clearly the one a placeholder misses', () => {
    const message = failure(
      'http:\n  baseUrl: http://x\n  routes:\n    - path: /a/{x}/{y}\n      params:\n        p: { value: 1 }\n        q: { value: 2 }\n',
    ).message;
    expect(message).toBe(
      'bad.yaml:4:13: http.routes[0].path: placeholder {x} has no generator: add it under http.routes[0].params (no placeholder uses its p, q)',
    );
  });

  it('keeps SQL scenarios apart: loadScenario refuses an http scenario with a clear message', () => {
    expect(() => loadScenario(fixture('shop.yaml'), {})).toThrow(/has an http section/);
  });
});

describe('write routes and where their writes go', () => {
  beforeAll(loadParser);
  const workload = () => loadHttpScenario(fixture('shop.yaml'));

  it('names the routes whose method may write', () => {
    expect(writeRoutes(workload()).map((r) => `${r.method} ${r.path}`)).toEqual(['POST /orders/{id}/ship']);
  });

  it('refuses them against an external database or a running application, never on the embedded one', () => {
    const shop = workload();
    // The embedded database (the default, with the app started by querygate) is thrown away.
    expect(() => checkWriteRoutes(shop, undefined, false)).not.toThrow();
    for (const [w, url] of [
      [shop, 'postgres://staging/app'],
      [{ ...shop, app: undefined, baseUrl: 'http://staging:8080' }, undefined],
    ] as const) {
      let error: unknown;
      try {
        checkWriteRoutes(w, url, false);
      } catch (e) {
        error = e;
      }
      expect(isQuerygateError(error) && error.kind === 'input' && error.code === 'WRITES_REFUSED').toBe(true);
      expect(() => checkWriteRoutes(w, url, true)).not.toThrow();
    }
    // Reads only: nothing to refuse.
    const reads = { ...shop, routes: shop.routes.filter((r) => r.method === 'GET') };
    expect(() => checkWriteRoutes(reads, 'postgres://staging/app', false)).not.toThrow();
  });
});
