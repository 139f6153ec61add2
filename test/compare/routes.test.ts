/**
 * HTTP reports: round counts and timing advice that fit the report, and the per-route comparison
 * (statements per request and failed requests as measured; database time and p99 of one phase,
 * judged against thresholds relative to the other routes).
 */
import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/compare/compare.js';
import { resolveCompareThresholds } from '../../src/compare/thresholds.js';
import type { Report, RouteReport } from '../../src/model/report.js';
import { renderComparisonJson } from '../../src/report/comparison-json.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';
import { httpBase, httpHead, withIndex } from './support.js';

const CUSTOMER_ORDERS = 'orders of a customer';
const RECENT = 'recent orders';

/** A copy of `report` with `change` applied to the routes it names (or every route). */
function mapRoutes(report: Report, change: (r: RouteReport) => Partial<RouteReport> | undefined): Report {
  return { ...report, routes: (report.routes ?? []).map((r) => ({ ...r, ...change(r) })) };
}

const route = (c: ReturnType<typeof compareReports>, name: string) => c.routes.find((r) => r.route === name)!;

/** Route timings counted, as a budget on a dedicated runner may ask (`compare.routes.timingRegressions: true`). */
const counting = resolveCompareThresholds({ routes: { timingRegressions: true } });

describe('compareReports on HTTP reports: rounds and timing advice', () => {
  const c = compareReports(httpBase, httpHead);

  it('counts the rounds the header shows, and gives advice an HTTP run can follow', () => {
    expect(c.base.rounds).toBe(1);
    expect(c.head.rounds).toBe(1);
    expect(c.base.kind).toBe('http');
    for (const s of c.statements) {
      expect(s.timing).toMatchObject({ verdict: 'inconclusive', baseRounds: 1, headRounds: 1 });
      expect(s.timing.note).toBe('one measurement per report (HTTP run): not tested');
    }
    const text = [...c.statements.map((s) => s.timing.note), ...c.warnings].join('\n');
    // `run --rounds` is refused for HTTP scenarios: never advised for them.
    expect(text).not.toContain('--rounds');
    expect(text).not.toMatch(/\b0 round/);
    expect(c.warnings.join('\n')).toMatch(
      /HTTP runs replay each route in one phase, without rounds: statement timings are shown, not tested\. Route timings .* without a significance test/,
    );
  });

  it('a SQL report of one round: the same count as its header, and the advice to run more rounds', () => {
    const one = (r: Report): Report => ({
      ...r,
      workload: { ...r.workload, rounds: 1 },
      queries: r.queries.map((q) => ({ ...q, rounds: [] })),
    });
    const sql = compareReports(one(withIndex), one(withIndex));
    for (const s of sql.statements) {
      expect(s.timing).toMatchObject({ verdict: 'inconclusive', baseRounds: 1, headRounds: 1 });
      expect(s.timing.note).toBe('1 round(s) in base, 1 in head: timing needs 3 on each side (run --rounds 3)');
    }
    expect(sql.warnings).toContain(
      'statement timings are not tested with fewer than 3 rounds per report (base 1, head 1): run --rounds 3 on both sides',
    );
  });
});

describe('compareReports: routes', () => {
  it('route timings are shown, never counted by default: identical code on a busy machine is not a regression', () => {
    // Two runs of the same code on a shared runner: a neighbour's load hit two routes' phases.
    const noisy = mapRoutes(httpBase, (r) =>
      r.name === CUSTOMER_ORDERS
        ? { dbMsPerRequest: r.dbMsPerRequest * 2.02 + 1, latency: { ...r.latency, p99: r.latency.p99 * 2.04 + 60 } }
        : r.name === RECENT
          ? { latency: { ...r.latency, p99: r.latency.p99 * 3.03 } }
          : undefined,
    );
    const c = compareReports(httpBase, noisy);
    expect(c.verdict).toBe('ok');
    expect(c.counts).toMatchObject({ routeRegressions: 0, routeImprovements: 0 });
    for (const name of [CUSTOMER_ORDERS, RECENT]) {
      expect(route(c, name)).toMatchObject({ verdict: 'unchanged', regressions: [] });
    }
    // Beyond the thresholds, and still only shown.
    const r = route(c, CUSTOMER_ORDERS);
    expect(r.timing.verdict).toBe('slower');
    expect(r.timing.note).toContain('not counted: compare.routes.timingRegressions is false');
    const text = renderComparisonTable(c, { width: 160 });
    expect(text).toMatch(/^OK: no regression/m);
    expect(text).toContain('slower (not counted)');
    expect(text).toContain('and they are shown, never counted (compare.routes.timingRegressions: true counts them)');

    // The reverse: a cold first phase in base (p99 395 ms) is not an improvement of head either.
    const cold = mapRoutes(httpBase, (r) => (r.name === RECENT ? { latency: { ...r.latency, p99: 395 } } : undefined));
    const warm = compareReports(cold, httpBase);
    expect(route(warm, RECENT)).toMatchObject({ verdict: 'unchanged', improvements: [] });
    expect(route(warm, RECENT).timing.verdict).toBe('faster');
    expect(warm.counts.routeImprovements).toBe(0);
    expect(renderComparisonTable(warm, { width: 160 })).toContain('faster (not counted)');
  });

  it('names the route whose database time per request went up far more than the others (timings counted)', () => {
    const c = compareReports(httpBase, httpHead, counting);
    expect(c.verdict).toBe('regression');
    expect(c.counts).toMatchObject({ routesMatched: 4, routesAdded: 0, routesRemoved: 0, routeRegressions: 1 });
    const r = route(c, CUSTOMER_ORDERS);
    expect(r).toMatchObject({ verdict: 'regression', method: 'GET', path: '/customers/{id}/orders' });
    // Its timing, and the statement that lost its index (which regresses the route whatever its timing).
    expect(r.regressions.map((x) => x.messageId)).toEqual(['route-db-time-up', 'route-statement-regressed']);
    expect(r.regressions[0]!.kind).toBe('route-timing');
    expect(r.timing.verdict).toBe('slower');
    expect(r.timing.dbMsPerRequest.head).toBeGreaterThan(r.timing.dbMsPerRequest.base * 20);
    // Deterministic measures did not change and are reported apart from the timing.
    expect(r.statementsPerRequest.delta).toBe(0);
    expect(r.errorRate.delta).toBe(0);
    // The overall change is estimated from the three routes that do the same work in both.
    expect(c.routeSpeed?.routes).toBe(3);
    // p99 moved by up to x1.9 on the other routes: noise, not a regression.
    for (const other of c.routes.filter((x) => x.route !== CUSTOMER_ORDERS)) {
      expect(other.verdict, other.timing.note).toBe('unchanged');
      expect(other.timing.verdict).toBe('noise');
    }
  });

  it('never calls the same report a regression, nor a machine that is slower on every route', () => {
    expect(compareReports(httpHead, httpHead).counts.routeRegressions).toBe(0);
    const slowMachine = mapRoutes(httpBase, (r) => ({
      dbMsPerRequest: r.dbMsPerRequest * 4,
      latency: { ...r.latency, p99: r.latency.p99 * 4 },
    }));
    const c = compareReports(httpBase, slowMachine, counting);
    expect(c.routeSpeed).toMatchObject({ dbTime: 4, latency: 4, routes: 4 });
    expect(c.routes.map((r) => r.verdict)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
  });

  it('a route that slowed down: 0.375 ms -> 1253 ms of database time and p99 124 ms -> 1480 ms on one route', () => {
    const before = mapRoutes(httpBase, (r) =>
      r.name === RECENT ? { dbMsPerRequest: 0.375, latency: { ...r.latency, p99: 124 } } : undefined,
    );
    const after = mapRoutes(httpBase, (r) =>
      r.name === RECENT ? { dbMsPerRequest: 1253, latency: { ...r.latency, p99: 1480 } } : undefined,
    );
    const c = compareReports(before, after, counting);
    expect(route(c, RECENT).regressions.map((x) => x.messageId)).toEqual(['route-db-time-up', 'route-p99-up']);
    expect(renderComparisonTable(c)).toContain('route "recent orders" (GET /orders/recent)');
    expect(renderComparisonMarkdown(c)).toContain('**route "recent orders" (GET /orders/recent)**');
  });

  it('statements per request are judged as measured, apart from timings (a new statement in a loop)', () => {
    const n1 = mapRoutes(httpHead, (r) =>
      r.name === RECENT
        ? {
            statementsPerRequest: 41,
            statements: [
              ...r.statements,
              { fingerprint: 'feedfacecafe0001', callsPerRequest: 20, dbMsPerRequest: 0.2 },
            ],
          }
        : undefined,
    );
    const c = compareReports(httpHead, n1);
    const r = route(c, RECENT);
    expect(r.regressions.map((x) => [x.kind, x.messageId])).toEqual([
      ['route-statements', 'route-statements-per-request-up'],
    ]);
    expect(r.regressions[0]!.message).toBe('statements per request 21 -> 41 on "recent orders"');
    expect(r.timing.verdict).toBe('noise');
    // The reverse is an improvement.
    expect(route(compareReports(n1, httpHead), RECENT).improvements.map((x) => x.messageId)).toEqual([
      'route-statements-per-request-down',
    ]);
    // A small change is not: 21 -> 21.5 (background statements) stays below the absolute floor.
    const wobble = mapRoutes(httpHead, (r) => (r.name === RECENT ? { statementsPerRequest: 21.5 } : undefined));
    expect(route(compareReports(httpHead, wobble), RECENT).verdict).toBe('unchanged');
  });

  it('failed requests: a rise of the error rate beyond the threshold is a regression', () => {
    const failing = mapRoutes(httpHead, (r) => (r.name === RECENT ? { non2xx: 10, status5xx: 10 } : undefined));
    const r = route(compareReports(httpHead, failing), RECENT);
    expect(r.regressions.map((x) => x.messageId)).toEqual(['route-error-rate-up']);
    expect(r.regressions[0]!.message).toBe(
      'failed requests 0.0% -> 5.0% (200 vs 200 requests, p=0.00068) on "recent orders"',
    );
    const one = mapRoutes(httpHead, (r) => (r.name === RECENT ? { errors: 1 } : undefined));
    expect(route(compareReports(httpHead, one), RECENT).verdict).toBe('unchanged'); // 0.5%
  });

  it('failed requests: a difference that the sample sizes explain is not a regression', () => {
    // The same deterministic 500s (id % 4 == 0) measured on 5678 requests, then on 333.
    const rate = (requests: number, failed: number) =>
      mapRoutes(httpHead, (r) => (r.name === RECENT ? { requests, non2xx: failed, status5xx: failed } : undefined));
    const c = compareReports(rate(5678, 1414), rate(333, 90));
    const r = route(c, RECENT);
    expect(r.errorRate.delta).toBeGreaterThan(0.02); // 24.9% -> 27.0%: above the 1-point threshold ...
    expect(r.verdict).toBe('unchanged'); // ... but p = 0.19
    expect(c.verdict).toBe('ok');
    // The same rates on large samples are significant.
    const large = route(compareReports(rate(50_000, 12_450), rate(50_000, 13_500)), RECENT);
    expect(large.regressions.map((x) => x.messageId)).toEqual(['route-error-rate-up']);
    expect(large.regressions[0]!.evidence.p).toBeLessThan(0.01);
    // A significant change below the absolute threshold is not one either: 0.5% -> 0.9% of 50000.
    expect(route(compareReports(rate(50_000, 250), rate(50_000, 450)), RECENT).verdict).toBe('unchanged');
  });

  it('a statement new on an existing route counts from 0 calls per request', () => {
    const extra = {
      ...httpBase.queries.find((q) => q.fingerprint === '14422f3c271a2f9f')!,
      fingerprint: 'feedfacecafe0002',
      query: 'SELECT name FROM shop.settings WHERE id = $1',
      findings: [],
      routes: [{ route: RECENT, callsPerRequest: 1 }],
    };
    const withExtra = (callsPerRequest: number, on = RECENT): Report => ({
      ...mapRoutes(httpBase, (r) =>
        r.name === on
          ? {
              statementsPerRequest: r.statementsPerRequest + callsPerRequest,
              statements: [...r.statements, { fingerprint: extra.fingerprint, callsPerRequest, dbMsPerRequest: 0.01 }],
            }
          : undefined,
      ),
      queries: [...httpBase.queries, { ...extra, routes: [{ route: on, callsPerRequest }] }],
    });
    const c = compareReports(httpBase, withExtra(1));
    expect(c.verdict).toBe('regression');
    expect(c.counts.regressions).toBe(1);
    // 21 -> 22 statements per request is below the route's relative threshold: the route regressed by
    // the statement it now runs, which it names.
    expect(route(c, RECENT).regressions.map((x) => [x.messageId, x.message])).toEqual([
      [
        'route-statement-regressed',
        'new statement regressed: SELECT name FROM shop.settings WHERE id = $1: 0 -> 1 calls per request',
      ],
    ]);
    const [added] = c.added;
    expect(added!.regressions.map((x) => [x.kind, x.messageId, x.evidence])).toEqual([
      ['calls-per-request', 'calls-per-request-up', { route: RECENT, base: 0, head: 1 }],
    ]);
    expect(added!.regressions[0]!.message).toBe(
      '0 -> 1 calls per request on recent orders (a statement new on this route)',
    );
    const text = renderComparisonTable(c, { width: 160 });
    expect(text).toMatch(/^REGRESSION: 1 statement\(s\) and 1 route\(s\) regressed/m);
    expect(text).toMatch(
      /^Regressions:\n {2}new statement: SELECT name FROM shop\.settings WHERE id = \$1 .*\n {4}calls-per-request: 0 -> 1 calls per request on recent orders \(a statement new on this route\)$/m,
    );
    expect(renderComparisonMarkdown(c)).toContain(
      '- **calls-per-request**: 0 -> 1 calls per request on recent orders (a statement new on this route)',
    );
    // Below the threshold (run on every other request), or on a route new in head: not counted.
    expect(compareReports(httpBase, withExtra(0.5)).verdict).toBe('ok');
    const newRoute = withExtra(1, 'brand new');
    expect(compareReports(httpBase, newRoute).added[0]!.regressions).toEqual([]);
  });

  it('takes its thresholds from the compare: section: route timings are counted only when asked', () => {
    // The route regressed by the statement that lost its index, never by its timing.
    const timingKinds = (c: ReturnType<typeof compareReports>) =>
      route(c, CUSTOMER_ORDERS)
        .regressions.map((x) => x.kind)
        .filter((k) => k === 'route-timing');
    const shown = compareReports(httpBase, httpHead);
    const r = route(shown, CUSTOMER_ORDERS);
    expect(r.regressions.map((x) => x.kind)).toEqual(['route-statement']);
    expect(r.timing.verdict).toBe('slower');
    expect(r.timing.note).toContain('not counted: compare.routes.timingRegressions is false');
    expect(renderComparisonTable(shown)).toContain('slower (not counted)');

    expect(timingKinds(compareReports(httpBase, httpHead, counting))).toEqual(['route-timing']);
    const floor = compareReports(
      httpBase,
      httpHead,
      resolveCompareThresholds({ routes: { dbMsPerRequest: { absolute: 10 }, timingRegressions: true } }),
    );
    expect(timingKinds(floor)).toEqual([]);
    expect(floor.thresholds.routes.dbMsPerRequest).toEqual({ relative: 1, absolute: 10 });
  });

  it('lists routes only in one report, and compares nothing when only one report has routes', () => {
    const renamed = mapRoutes(httpHead, (r) => (r.name === RECENT ? { name: 'dashboard' } : undefined));
    const c = compareReports(httpBase, renamed);
    expect(c.addedRoutes).toEqual(['dashboard']);
    expect(c.removedRoutes).toEqual([RECENT]);
    expect(renderComparisonTable(c)).toContain('New routes: "dashboard"');
    const mixed = compareReports(withIndex, httpHead);
    expect(mixed.routes).toEqual([]);
    expect(mixed.warnings).toContain('only one of the reports is an HTTP run: routes are not compared');
  });
});

describe('route comparison in the reporters', () => {
  const c = compareReports(httpBase, httpHead, counting);

  it('table: the routes with work per request apart from timings, and the route among the regressions', () => {
    const text = renderComparisonTable(c, { width: 160 });
    expect(text).toContain('REGRESSION: 1 statement(s) and 1 route(s) regressed');
    // Lines wider than the terminal wrap: read them unwrapped.
    expect(text.replace(/\n {2,}(?=[a-z])/g, ' ')).toMatch(
      /Routes \(4\): statements per request and failed requests are judged as measured; database time per request and p99 come from one phase per report, so there is no significance test/,
    );
    expect(text.split('\n').filter((line) => line.length > 160)).toEqual([]);
    const narrow = renderComparisonTable(c, { width: 80 });
    expect(narrow.split('\n').filter((line) => line.length > 80)).toEqual([]);
    expect(text).toMatch(/│ statements\/req +│ failed requests +│ db time\/req \(timing\) +│ p99 \(timing\) +│ timing/);
    expect(text).toMatch(
      /^ {2}route "orders of a customer" \(GET \/customers\/\{id\}\/orders\)\n {4}route-timing: database time per request 0\.056 ms -> 3\.83 ms/m,
    );
    // The untested statement timings are said once, not once per statement.
    expect(text).toContain('  5 statement(s): one measurement per report (HTTP run): not tested');
  });

  it('markdown: a routes section and the route among the regressions', () => {
    const md = renderComparisonMarkdown(c);
    expect(md.split('\n')[0]).toBe('## ❌ querygate: 2 regression(s)');
    expect(md).toContain('### Routes');
    expect(md).toContain(
      '| verdict | route | statements/request | failed requests | db time/request (timing) | p99 (timing) | timing |',
    );
    expect(md).toMatch(
      /^\| \*\*regression\*\* \| orders of a customer `GET \/customers\/\{id\}\/orders` \| 1 \| 0\.0% \| 0\.056 ms → 3\.83 ms \(\+6743%\) \|/m,
    );
    expect(md).toContain('- **route-timing**: database time per request 0.056 ms -> 3.83 ms');
    expect(md).toContain('statement timings are shown, not tested');
    expect(md).not.toContain('needs 3+ rounds');
  });

  it('json: routes, their verdicts and the thresholds used', () => {
    const json = JSON.parse(renderComparisonJson(c)) as typeof c;
    expect(json).toEqual(c);
    expect(json.thresholds.routes).toEqual({
      statementsPerRequest: { relative: 0.5, absolute: 1 },
      errorRate: 0.01,
      dbMsPerRequest: { relative: 1, absolute: 1 },
      latencyP99Ms: { relative: 1, absolute: 50 },
      timingRegressions: true,
    });
  });
});
