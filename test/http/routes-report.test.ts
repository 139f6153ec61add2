import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyRules } from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import { formatHttpProgress, formatProgress } from '../../src/cli/progress.js';
import type { RouteComparison } from '../../src/model/comparison.js';
import type { Report } from '../../src/model/report.js';
import { describeRoute } from '../../src/report/comparison-table.js';
import { findNPlusOne, renderRouteCulprits, renderRoutesTable } from '../../src/report/routes.js';
import { renderTable } from '../../src/report/table.js';

// A report captured from an HTTP run of the sample application (see fixtures/plans/n-plus-one/).
const CAPTURED = fileURLToPath(new URL('../../fixtures/plans/n-plus-one/loop.json', import.meta.url));

describe('route reporters on a captured HTTP report', () => {
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    const fixture = JSON.parse(readFileSync(CAPTURED, 'utf8')) as { report: Report };
    // Without the names the fixture gives statements, as a real HTTP report has them.
    const raw: Report = { ...fixture.report, queries: fixture.report.queries.map(({ source: _source, ...q }) => q) };
    report = applyRules(raw, { statements: [] });
  });

  it('lists routes by database time per request, with the top statement and its calls per request', () => {
    const text = renderRoutesTable(report, { width: 160 });
    const rows = ['recent orders', 'order by id', 'recent orders of a customer'].map((name) =>
      text.indexOf(`│ ${name} `),
    );
    expect(rows.every((i) => i > 0)).toBe(true);
    const byDbTime = [...report.routes!]
      .sort((a, b) => b.dbMsPerRequest - a.dbMsPerRequest)
      .map((r) => text.indexOf(`│ ${r.name} `));
    expect(byDbTime).toEqual([...byDbTime].sort((a, b) => a - b));
    expect(text.split('\n')[0]).toBe('Routes (3), by database time per request:');
    // The N+1 route's top statement is the lookup, 20 calls per request.
    const recentRow = text.slice(text.indexOf('│ recent orders '), text.indexOf('├', text.indexOf('│ recent orders ')));
    expect(recentRow).toContain('SELECT id, name, email');
    expect(recentRow).toContain('(20)');
    // The statements table of the terminal summary carries the routes table.
    expect(renderTable(report, { width: 160 })).toContain('Routes (3), by database time per request:');
  });

  it('shows the request of an imported or unnamed route once: its name already says it', () => {
    const [first, second, third] = report.routes!;
    const routes = [
      { ...first!, name: 'traffic.har: GET /search?q={q}', method: 'GET', path: '/search?q={q}' },
      { ...second!, name: 'GET /orders/{id}', method: 'GET', path: '/orders/{id}' },
      third!,
    ];
    const renamed: Report = { ...report, routes };
    const text = renderRoutesTable(renamed, { width: 160 });
    // Once each (the long name wraps in its cell).
    expect(text.split('/search?q={q}')).toHaveLength(2);
    expect(text.split('GET /orders/{id}')).toHaveLength(2);
    // A route named by the user keeps its request below the name.
    expect(text).toContain(`${third!.method} ${third!.path}`);
    const culprits = renderRouteCulprits({
      ...renamed,
      routes: routes.map((r, i) => ({ ...r, dbMsPerRequest: i === 0 ? 1000 : r.dbMsPerRequest })),
    });
    expect(culprits).toMatch(/^Slowest endpoint: "traffic\.har: GET \/search\?q=\{q\}" costs /);
    // The comparison's lines too.
    const compared = (route: string) => ({ route, method: 'GET', path: '/search?q={q}' }) as RouteComparison;
    expect(describeRoute(compared('traffic.har: GET /search?q={q}'))).toBe('route "traffic.har: GET /search?q={q}"');
    expect(describeRoute(compared('search'))).toBe('route "search" (GET /search?q={q})');
  });

  it('renders nothing for a run without routes', () => {
    expect(renderRoutesTable({ ...report, routes: undefined } as Report)).toBe('');
    expect(renderRouteCulprits({ ...report, routes: [] })).toBe('');
  });

  it("names the most expensive route and the N+1 route with the rule finding's fix", () => {
    const found = findNPlusOne(report);
    expect(found.map((n) => [n.route.name, n.query.query, n.callsPerRequest])).toEqual([
      ['recent orders', 'SELECT id, name, email FROM shop.customers WHERE id = $1', 20],
    ]);
    const text = renderRouteCulprits(report);
    expect(text).toMatch(
      /^Slowest endpoint: "recent orders" \(GET \/orders\/recent\) costs [\d.]+ ms of database time per request/,
    );
    expect(text).toContain(
      'N+1: "recent orders" (GET /orders/recent) runs 20 times per request: SELECT id, name, email FROM shop.customers WHERE id = $1 (21 statements per request in all)',
    );
    expect(text).toContain(
      'fix: fetch the rows in one statement, with the list of values as an array: SELECT id, name, email FROM shop.customers WHERE id = ANY($1)',
    );
  });
});

describe('the HTTP progress line', () => {
  it('shows the phase, requests, rate and errors within 70 columns', () => {
    const line = formatProgress({
      kind: 'http',
      phase: 'new feature: top refunds of the day',
      index: 6,
      phases: 7,
      responses: 2210,
      errors: 3,
      failedResponses: 0,
      elapsedMs: 2000,
      plannedMs: 5000,
      plannedRequests: null,
    });
    expect(line).toBe('  6/7 new feature: top refund…  2210 req  1105/s  3 err  2.0/5s');
    expect(line.length).toBeLessThanOrEqual(70);
    expect(
      formatHttpProgress({
        kind: 'http',
        phase: 'warm-up',
        index: 0,
        phases: 3,
        responses: 10,
        errors: 0,
        failedResponses: 0,
        elapsedMs: 500,
        plannedMs: null,
        plannedRequests: 60,
      }),
    ).toBe('  warm-up  10/60 req  20/s  0 err  0.5s');
  });

  it('counts responses with a failure status (4xx, 5xx) as errors, not only requests without a response', () => {
    const line = formatHttpProgress({
      kind: 'http',
      phase: 'monthly report',
      index: 2,
      phases: 3,
      responses: 1800,
      errors: 2,
      failedResponses: 1800,
      elapsedMs: 3000,
      plannedMs: 5000,
      plannedRequests: null,
    });
    expect(line).toBe('  2/3 monthly report  1800 req  600/s  1802 err  3.0/5s');
    expect(line.length).toBeLessThanOrEqual(70);
  });
});
