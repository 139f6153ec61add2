import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isQuerygateError } from '../../src/errors.js';
import { createRandom } from '../../src/workload/generators.js';
import { parseAccessLog } from '../../src/workload/http/access-log.js';
import { parseHar } from '../../src/workload/http/har.js';
import { routesFromRequests, templateOf } from '../../src/workload/http/observed.js';
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
    expect(templateOf('/orders/42')).toEqual({ template: '/orders/{orderId}', values: new Map([['orderId', '42']]) });
    expect(templateOf('/categories/7/products/3fa85f64-5717-4562-b3fc-2c963f66afa6').template).toBe(
      '/categories/{categoryId}/products/{productId}',
    );
    const q = templateOf('/search?q=red%20shoes&page=2');
    expect(q.template).toBe('/search?page={page}&q={q}');
    expect(q.values.get('q')).toBe('red shoes');
    expect(templateOf('/orders/recent').template).toBe('/orders/recent');
  });
});

describe('access-log import', () => {
  const result = parseAccessLog(fixture('access-log.txt'));

  it('parses common and combined lines, counts unreadable ones and skips failed requests', () => {
    expect(result.invalid).toBe(2);
    expect(result.firstInvalid).toBe('line 8');
    expect(result.skipped).toEqual({ 'failed response': 1 });
    expect(result.requests).toHaveLength(9);
  });

  it('groups requests into weighted routes whose parameters pick observed values', () => {
    const { routes, staticFiles } = routesFromRequests(result.requests, { top: 20, label: 'access.log' });
    expect(staticFiles).toBe(1);
    expect(routes.map((r) => [r.method, r.path, r.weight])).toEqual([
      ['GET', '/orders/{orderId}', 4],
      ['GET', '/customers/{customerId}/orders', 1],
      ['GET', '/customers?email={email}', 1],
      ['GET', '/orders/recent', 1],
      ['POST', '/orders/{orderId}/ship', 1],
    ]);
    expect(routes[0]!.params).toEqual({ orderId: { kind: 'pick', values: [17, 42, 8] } });
    expect(routes[2]!.params).toEqual({ email: { kind: 'pick', values: ['customer42@example.com'] } });
    expect(routes[0]!.name).toBe('access.log: GET /orders/{orderId}');
  });

  it('keeps only the most frequent routes and honours include/exclude', () => {
    const top = routesFromRequests(result.requests, { top: 2 });
    expect(top.routes).toHaveLength(2);
    expect(top.dropped).toBe(3);
    const only = routesFromRequests(result.requests, { top: 20, include: /^\/customers/, exclude: /orders$/ });
    expect(only.routes.map((r) => r.path)).toEqual(['/customers?email={email}']);
    expect(only.filtered).toBe(7);
  });
});

describe('HAR import', () => {
  it('keeps the most frequent origin, replayable headers and bodies; counts bad entries', () => {
    const result = parseHar(fixture('traffic.har'), 'traffic.har');
    expect(result.origin).toBe('https://shop.example.com');
    expect(result.invalid).toBe(2);
    expect(result.firstInvalid).toBe('log.entries[7]');
    expect(result.skipped).toEqual({ 'failed response': 1, 'other origin': 2 });
    const { routes } = routesFromRequests(result.requests, { top: 20 });
    const byPath = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));
    const orders = byPath.get('GET /orders/{orderId}')!;
    expect(orders.weight).toBe(2);
    expect(orders.params.orderId).toEqual({ kind: 'pick', values: ['17', '3fa85f64-5717-4562-b3fc-2c963f66afa6'] });
    expect(orders.headers).toEqual({ accept: 'application/json', authorization: 'Bearer staging-token' });
    const ship = byPath.get('POST /orders/{orderId}/ship')!;
    expect(ship.body).toBe('{"by":"web"}');
    expect(ship.headers['content-type']).toBe('application/json');
    expect(byPath.has('GET /reports/refunds?daysAgo={daysAgo}')).toBe(true);
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
