import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpRoute } from '../../src/model/workload.js';
import { freePort } from '../../src/target/port.js';
import { createRandom } from '../../src/workload/generators.js';
import { runPhase, type PhaseProgress } from '../../src/workload/http/autocannon.js';
import { parseHar } from '../../src/workload/http/har.js';
import { routesFromRequests } from '../../src/workload/http/observed.js';
import { compileRoute } from '../../src/workload/http/template.js';

const TEST_APP = fileURLToPath(new URL('./fixtures/test-app.mjs', import.meta.url));
const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');

const route = (name: string, path: string, weight: number, extra: Partial<HttpRoute> = {}): HttpRoute => ({
  name,
  method: 'GET',
  path,
  params: {},
  headers: {},
  weight,
  ...extra,
});

describe('one phase of HTTP load (autocannon adapter)', () => {
  let app: ChildProcess;
  let baseUrl: string;
  beforeAll(async () => {
    const port = await freePort();
    app = spawn(process.execPath, [TEST_APP], {
      env: { ...process.env, MODE: 'ok', PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(app.stdout!, 'data');
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(() => {
    app.kill();
  });
  const counts = async () => (await (await fetch(`${baseUrl}/__counts`)).json()) as Record<string, number>;

  it('attributes every response of a mixed phase to the route that sent it, exactly as the app saw them', async () => {
    const before = await counts();
    const random = createRandom(3);
    const routes = [
      route('a', '/a/{n}', 3, { params: { n: { kind: 'int', min: 1, max: 3 } } }),
      route('b', '/b', 1),
      route('c', '/c', 1, { method: 'POST', body: '{"x": 1}', headers: { 'content-type': 'application/json' } }),
    ].map((r) => compileRoute(r, random));
    const result = await runPhase({
      baseUrl,
      routes,
      connections: 4,
      shape: { kind: 'requests', requests: 400 },
      timeoutMs: 5000,
      random,
    });
    const after = await counts();
    const seen = (prefix: string) =>
      Object.entries(after)
        .filter(([path]) => path.startsWith(prefix))
        .reduce((s, [path, n]) => s + n - (before[path] ?? 0), 0);
    expect(result.responses).toBe(400);
    expect(result.inFlight).toBe(0);
    expect(result.perRoute.map((o) => o.responses)).toEqual([seen('/a/'), seen('/b'), seen('/c')]);
    expect(result.perRoute.map((o) => o.latencies.length)).toEqual(result.perRoute.map((o) => o.responses));
    // Weights 3:1:1.
    expect(result.perRoute[0]!.responses).toBeGreaterThan(result.perRoute[1]!.responses);
    expect(result.statusCounts).toEqual({ 200: 400 });
  });

  it('reads the answer to HEAD as headers only, though it announces a Content-Length', async () => {
    const random = createRandom(8);
    const result = await runPhase({
      baseUrl,
      routes: [
        compileRoute(route('head', '/books/5', 1, { method: 'HEAD' }), random),
        compileRoute(route('b', '/b', 1), random),
      ],
      connections: 2,
      shape: { kind: 'requests', requests: 100 },
      timeoutMs: 2000,
      random,
    });
    expect(result.errors).toBe(0);
    expect(result.responses).toBe(100);
    expect(result.perRoute[0]!.responses).toBeGreaterThan(10);
    expect(result.statusCounts).toEqual({ 200: 100 });
  });

  it('holds a rate limit over all connections', async () => {
    const random = createRandom(4);
    const result = await runPhase({
      baseUrl,
      routes: [compileRoute(route('b', '/b', 1), random)],
      connections: 4,
      shape: { kind: 'duration', durationMs: 2000 },
      rate: 40,
      timeoutMs: 5000,
      random,
    });
    // 40 requests per second for about 2 s (autocannon refills its budget every second).
    expect(result.responses).toBeGreaterThanOrEqual(40);
    expect(result.responses).toBeLessThanOrEqual(130);
  });

  it('waits for the requests in flight when a duration phase ends, and counts their responses', async () => {
    const before = await counts();
    const random = createRandom(5);
    const result = await runPhase({
      baseUrl,
      routes: [compileRoute(route('slow', '/slow-end?delay=400', 1), random)],
      connections: 3,
      shape: { kind: 'duration', durationMs: 1000 },
      timeoutMs: 5000,
      random,
    });
    const sent = (await counts())['/slow-end']! - (before['/slow-end'] ?? 0);
    // Every request the application received was answered within the phase or awaited after it.
    expect(result.responses).toBe(sent);
    expect(result).toMatchObject({ inFlight: 0, errors: 0, timeouts: 0 });
    expect(result.stoppedBy).toBeUndefined();
    expect(result.perRoute[0]!.latencies.every((ms) => ms >= 390)).toBe(true);
    expect(result.durationMs).toBeGreaterThanOrEqual(1000);
  });

  it('sends nothing more once it is stopped, not until the next sample of autocannon', async () => {
    // Stopped from the application's side at its 50th request, as when the application exits.
    const controller = new AbortController();
    let seen = 0;
    const server = createServer((_request, response) => {
      if (++seen === 50) controller.abort('the application exited with code 1');
      response.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const random = createRandom(9);
      const result = await runPhase({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        routes: [compileRoute(route('a', '/a', 1), random)],
        connections: 4,
        shape: { kind: 'duration', durationMs: 10_000 },
        timeoutMs: 5000,
        random,
        signal: controller.signal,
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(result.stoppedBy).toBe('the application exited with code 1');
      // Only the requests the other connections had sent already.
      expect(seen - 50).toBeLessThanOrEqual(3);
    } finally {
      server.close();
    }
  });

  it('reports the responses with a failure status in its progress, apart from requests without one', async () => {
    const random = createRandom(7);
    const seen: PhaseProgress[] = [];
    const result = await runPhase({
      baseUrl,
      routes: [
        compileRoute(
          route('some fail', '/f?status={status}', 1, {
            params: { status: { kind: 'pick', values: [200, 302, 404, 500] } },
          }),
          random,
        ),
      ],
      connections: 2,
      shape: { kind: 'duration', durationMs: 1000 },
      timeoutMs: 5000,
      random,
      onProgress: (p) => seen.push(p),
    });
    const last = seen.at(-1)!;
    expect(last.errors).toBe(0);
    expect(last.failedResponses).toBeGreaterThan(0);
    // 404 and 500 are failures; 200 and 302 are not.
    const failed = (result.statusCounts['404'] ?? 0) + (result.statusCounts['500'] ?? 0);
    expect(last.failedResponses).toBeLessThanOrEqual(failed);
    expect(last.failedResponses).toBeLessThan(last.responses);
  });

  it('replays imported routes request by request as recorded: own body, own headers, repeated query keys', async () => {
    interface Seen {
      method: string;
      url: string;
      authorization?: string;
      cookie?: string;
      body: string;
    }
    const seen = async () => (await (await fetch(`${baseUrl}/__seen`)).json()) as Seen[];
    const before = (await seen()).length;
    const { requests } = parseHar(fixture('loans.har'), 'loans.har');
    const random = createRandom(6);
    const routes = routesFromRequests(requests, { top: 20 }).routes;
    for (const route of routes) {
      const result = await runPhase({
        baseUrl,
        routes: [compileRoute(route, random)],
        connections: 2,
        shape: { kind: 'requests', requests: 40 },
        timeoutMs: 5000,
        random,
      });
      expect(result.responses).toBe(40);
    }
    const sent = (await seen()).slice(before);
    expect(sent).toHaveLength(40 * routes.length);
    const loans = sent.filter((r) => r.url === '/api/loans');
    expect(loans).toHaveLength(40);
    const alice = { method: 'POST', url: '/api/loans', authorization: 'Bearer alice-token', cookie: 'session=alice' };
    const asAlice = loans.filter((r) => r.body === '{"bookId":1,"member":"alice"}');
    const asBob = loans.filter((r) => r.body === '{"bookId":2,"member":"bob"}');
    expect(asAlice.length).toBeGreaterThan(0);
    expect(asBob.length).toBeGreaterThan(0);
    expect(asAlice.length + asBob.length).toBe(40);
    for (const r of asAlice) expect(r).toEqual({ ...alice, body: '{"bookId":1,"member":"alice"}' });
    // Bob's entry had no headers: none of Alice's credentials go with it.
    for (const r of asBob)
      expect(r).toEqual({ method: 'POST', url: '/api/loans', body: '{"bookId":2,"member":"bob"}' });
    expect(sent.filter((r) => r.url.startsWith('/q?')).map((r) => r.url)).toEqual(
      Array.from({ length: 40 }, () => '/q?name=a%20b&tag=x&tag=y'),
    );
    expect(sent.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual(
      Array.from({ length: 40 }, () => '/api/loans/5'),
    );
  });
});
