import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isQuerygateError } from '../../src/errors.js';
import { createRandom } from '../../src/workload/generators.js';
import { parseAccessLog } from '../../src/workload/http/access-log.js';
import { parseHar } from '../../src/workload/http/har.js';
import { isProbe, routesFromRequests, templateOf } from '../../src/workload/http/observed.js';
import { compileRoute, parseTemplate, placeholders, renderTemplate } from '../../src/workload/http/template.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');

describe('request templates', () => {
  it('fills {name} placeholders and leaves JSON braces alone', () => {
    const parts = parseTemplate('{"qty": {qty}, "note": "{note}"}');
    expect(placeholders('{"qty": {qty}, "note": "{note}", "again": {qty}}')).toEqual(['qty', 'note']);
    expect(
      renderTemplate(
        parts,
        new Map([
          ['qty', '3'],
          ['note', 'a b'],
        ]),
        false,
      ),
    ).toBe('{"qty": 3, "note": "a b"}');
  });

  it('percent-encodes values in paths and keeps unknown names as written', () => {
    const parts = parseTemplate('/customers?email={email}&x={unknown}');
    expect(renderTemplate(parts, new Map([['email', 'a+b@example.com']]), true)).toBe(
      '/customers?email=a%2Bb%40example.com&x={unknown}',
    );
  });

  it('renders routes from their generators; seq routes are marked dynamic', () => {
    const random = createRandom(7);
    const byId = compileRoute(
      {
        name: 'by id',
        method: 'GET',
        path: '/orders/{id}',
        params: { id: { kind: 'int', min: 5, max: 9 } },
        headers: { 'x-trace': 't-{id}' },
        weight: 1,
      },
      random,
    );
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const r = byId.render();
      const id = Number(r.path.split('/')[2]);
      expect(id).toBeGreaterThanOrEqual(5);
      expect(id).toBeLessThanOrEqual(9);
      expect(r.headers['x-trace']).toBe(`t-${id}`);
      seen.add(r.path);
    }
    expect(seen.size).toBe(5);
    expect(byId.dynamic).toBe(false);
    const ship = compileRoute(
      {
        name: 'ship',
        method: 'POST',
        path: '/orders/{id}/ship',
        params: { id: { kind: 'seq', start: 10, step: 5 } },
        headers: {},
        body: '{"id": {id}}',
        weight: 1,
      },
      random,
    );
    expect(ship.dynamic).toBe(true);
    expect([ship.render(), ship.render()].map((r) => [r.path, r.body])).toEqual([
      ['/orders/10/ship', '{"id": 10}'],
      ['/orders/15/ship', '{"id": 15}'],
    ]);
  });
});

describe('path templates of recorded requests', () => {
  it('turns ids, UUIDs and query values into named parameters', () => {
    expect(templateOf('/orders/42')).toBe('/orders/{orderId}');
    expect(templateOf('/categories/7/products/3fa85f64-5717-4562-b3fc-2c963f66afa6')).toBe(
      '/categories/{categoryId}/products/{productId}',
    );
    expect(templateOf('/search?q=red%20shoes&page=2')).toBe('/search?page={page}&q={q}');
    expect(templateOf('/orders/recent')).toBe('/orders/recent');
    // A repeated key is one route parameter; the values are replayed as recorded (see below).
    expect(templateOf('/q?name=a%20b&tag=x&tag=y')).toBe('/q?name={name}&tag={tag}');
  });
});

describe('access-log import', () => {
  const result = parseAccessLog(fixture('access-log.txt'));

  it('parses common and combined lines, counts unreadable ones and skips failed requests', () => {
    expect(result.invalid).toBe(2);
    expect(result.firstInvalid).toBe('line 8');
    expect(result.skipped).toEqual({ 'failed response': 1 });
    expect(result.skippedMethods).toEqual({ POST: 1 });
    expect(result.requests).toHaveLength(8);
  });

  it('groups requests into weighted routes that replay the recorded targets', () => {
    const { routes, staticFiles } = routesFromRequests(result.requests, { top: 20, label: 'access.log' });
    expect(staticFiles).toBe(1);
    expect(routes.map((r) => [r.method, r.path, r.weight])).toEqual([
      ['GET', '/orders/{orderId}', 4],
      ['GET', '/customers/{customerId}/orders', 1],
      ['GET', '/customers?email={email}', 1],
      ['GET', '/orders/recent', 1],
    ]);
    expect(routes[0]!.recorded).toEqual([
      { target: '/orders/17', headers: {}, count: 2 },
      { target: '/orders/42', headers: {}, count: 1 },
      { target: '/orders/8', headers: {}, count: 1 },
    ]);
    expect(routes[0]!.params).toEqual({});
    expect(routes[2]!.recorded).toEqual([
      { target: '/customers?email=customer42%40example.com', headers: {}, count: 1 },
    ]);
    expect(routes[0]!.name).toBe('access.log: GET /orders/{orderId}');
  });

  it('keeps only the most frequent routes and honours include/exclude', () => {
    const top = routesFromRequests(result.requests, { top: 2 });
    expect(top.routes).toHaveLength(2);
    expect(top.dropped).toBe(2);
    const only = routesFromRequests(result.requests, { top: 20, include: /^\/customers/, exclude: /orders$/ });
    expect(only.routes.map((r) => r.path)).toEqual(['/customers?email={email}']);
    expect(only.filtered).toBe(6);
  });

  const library = parseAccessLog(fixture('library-access.txt'));

  it('keeps GET and HEAD only by default: no bodies in an access log, and no DELETE against a live application', () => {
    expect(library.skippedMethods).toEqual({ POST: 2, DELETE: 3, PUT: 1 });
    expect(new Set(library.requests.map((r) => r.method))).toEqual(new Set(['GET', 'HEAD']));
    const withPost = parseAccessLog(fixture('library-access.txt'), { methods: ['GET', 'HEAD', 'POST'] });
    expect(withPost.skippedMethods).toEqual({ DELETE: 3, PUT: 1 });
    expect(withPost.requests.filter((r) => r.method === 'POST')).toEqual([
      { method: 'POST', target: '/loans' },
      { method: 'POST', target: '/loans' },
    ]);
  });

  it('keeps repeated query keys and the recorded encoding', () => {
    const { routes } = routesFromRequests(library.requests, { top: 20 });
    const search = routes.find((r) => r.path === '/q?name={name}&tag={tag}')!;
    expect(search.recorded!.map((r) => r.target)).toEqual(['/q?name=a%20b&tag=x&tag=y', '/q?name=c&tag=z']);
    const random = createRandom(1);
    const compiled = compileRoute(search, random);
    const sent = new Set(Array.from({ length: 50 }, () => compiled.render().path));
    expect(sent).toEqual(new Set(['/q?name=a%20b&tag=x&tag=y', '/q?name=c&tag=z']));
  });

  it('leaves out absolute-form lines for other hosts when it knows the application host', () => {
    // No host to compare with: every line is kept.
    expect(library.requests.filter((r) => r.target === '/books/5')).toHaveLength(4);
    const known = parseAccessLog(fixture('library-access.txt'), { host: 'library.example.com' });
    expect(known.skipped['other host']).toBe(1);
    // `GET http://other.example.com/books/5` is gone; the own host's absolute form and origin-form lines stay.
    expect(known.requests.filter((r) => r.target === '/books/5')).toHaveLength(3);
    expect(known.requests.some((r) => r.target === '/books/9')).toBe(true);
  });

  it('leaves out health checks and monitoring probes, by user agent or path, unless asked to keep them', () => {
    expect(library.skipped['health check']).toBe(3);
    expect(library.requests.some((r) => /health|ready/.test(r.target))).toBe(false);
    const kept = parseAccessLog(fixture('library-access.txt'), { keepProbes: true });
    expect(kept.skipped['health check']).toBeUndefined();
    expect(kept.requests.map((r) => r.target)).toEqual(expect.arrayContaining(['/health', '/healthz', '/ready-check']));
    expect(isProbe('/healthz', undefined)).toBe(true);
    expect(isProbe('/actuator/health/liveness', undefined)).toBe(true);
    expect(isProbe('/books/health-guides', undefined)).toBe(false);
    expect(isProbe('/x', 'ELB-HealthChecker/2.0')).toBe(true);
    expect(isProbe('/x', 'Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)')).toBe(true);
    expect(isProbe('/x', 'Mozilla/5.0')).toBe(false);
  });
});

describe('HAR import', () => {
  it('keeps the most frequent origin, replayable headers and bodies; counts bad entries', () => {
    const result = parseHar(fixture('traffic.har'), 'traffic.har');
    expect(result.origin).toBe('https://shop.example.com');
    expect(result.invalid).toBe(2);
    expect(result.firstInvalid).toBe('log.entries[7]');
    expect(result.skipped).toEqual({ 'failed response': 1, 'other origin': 2 });
    expect(result.skippedMethods).toEqual({});
    const { routes } = routesFromRequests(result.requests, { top: 20 });
    const byPath = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));
    const orders = byPath.get('GET /orders/{orderId}')!;
    expect(orders.weight).toBe(2);
    // Each entry with its own headers: the second one was sent without Authorization and is replayed so.
    expect(orders.recorded).toEqual([
      {
        target: '/orders/17',
        headers: { accept: 'application/json', authorization: 'Bearer staging-token' },
        count: 1,
      },
      { target: '/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6', headers: {}, count: 1 },
    ]);
    expect(orders.headers).toEqual({});
    const ship = byPath.get('POST /orders/{orderId}/ship')!;
    expect(ship.recorded).toEqual([
      { target: '/orders/9/ship', headers: { 'content-type': 'application/json' }, body: '{"by":"web"}', count: 1 },
    ]);
    expect(byPath.has('GET /reports/refunds?daysAgo={daysAgo}')).toBe(true);
  });

  it("replays each entry of a route with its own body and headers, never another entry's credentials", () => {
    const result = parseHar(fixture('loans.har'), 'loans.har');
    expect(result.skipped).toEqual({ 'health check': 1 });
    const { routes } = routesFromRequests(result.requests, { top: 20 });
    const loans = routes.find((r) => r.method === 'POST' && r.path === '/api/loans')!;
    const compiled = compileRoute(loans, createRandom(2), { 'x-replay': 'querygate' });
    const sent = Array.from({ length: 100 }, () => compiled.render());
    const alice = sent.filter((r) => r.body === '{"bookId":1,"member":"alice"}');
    const bob = sent.filter((r) => r.body === '{"bookId":2,"member":"bob"}');
    expect(alice.length + bob.length).toBe(100);
    expect(alice.length).toBeGreaterThan(10);
    expect(bob.length).toBeGreaterThan(10);
    for (const r of alice)
      expect(r.headers).toEqual({
        'x-replay': 'querygate',
        'content-type': 'application/json',
        authorization: 'Bearer alice-token',
        cookie: 'session=alice',
      });
    for (const r of bob) expect(r.headers).toEqual({ 'x-replay': 'querygate' });
  });

  it('keeps only the methods asked for', () => {
    const result = parseHar(fixture('loans.har'), 'loans.har', { methods: ['GET', 'HEAD'] });
    expect(result.skippedMethods).toEqual({ POST: 2, DELETE: 1 });
    expect(result.requests.every((r) => r.method === 'GET')).toBe(true);
  });

  it('takes an explicit origin', () => {
    const result = parseHar(fixture('traffic.har'), 'traffic.har', { origin: 'https://analytics.example.org/' });
    expect(result.requests.map((r) => r.target)).toEqual(['/collect?v=1']);
  });

  it('rejects a file that is not a HAR with HAR_INVALID', () => {
    for (const text of ['{"log": {}}', 'not json']) {
      try {
        parseHar(text, 'bad.har');
        expect.unreachable();
      } catch (error) {
        expect(isQuerygateError(error) && error.code).toBe('HAR_INVALID');
        expect((error as Error).message).toMatch(/^bad\.har: not a HAR file/);
      }
    }
  });
});
