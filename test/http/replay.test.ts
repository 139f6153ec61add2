import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { resolveRules } from '../../src/config/config.js';
import type { Report } from '../../src/model/report.js';
import { loadHttpScenario } from '../../src/workload/http/scenario.js';
import { runHttpWorkload, type HttpProgress } from '../../src/workload/http/phases.js';
import { createTestDatabase, withSession } from '../support/db.js';

const SHOP = fileURLToPath(new URL('./fixtures/shop.yaml', import.meta.url));

describe('HTTP replay through the sample application on a real PostgreSQL', () => {
  let url: string;
  let report: Report;
  const progress: HttpProgress[] = [];
  let shippedBefore: number;

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('http');
    const workload = loadHttpScenario(SHOP);
    // The first run creates the schema; count what the second changes.
    await runHttpWorkload({
      workload: { ...workload, routes: workload.routes.slice(0, 1), load: { ...workload.load, mixed: false } },
      databaseUrl: url,
      setup: true,
    });
    shippedBefore = await withSession(
      url,
      async (s) =>
        (await s.query<{ n: number }>(`SELECT count(*)::int AS n FROM shop.orders WHERE status = 'shipped'`)).rows[0]!
          .n,
    );
    // "ship order" writes: on a database given by URL that takes --allow-writes.
    report = await runHttpWorkload({
      workload,
      databaseUrl: url,
      allowWrites: true,
      onProgress: (p) => progress.push(p),
    });
  });

  it('runs each route in its own phase and counts its requests exactly', () => {
    expect(report.run.complete).toBe(true);
    expect(report.workload).toMatchObject({ kind: 'http', name: 'shop-http', connections: 2, count: 60 });
    const routes = report.routes!;
    expect(routes.map((r) => r.name)).toEqual(['order by id', 'customer by email', 'recent orders', 'ship order']);
    for (const r of routes) {
      expect(r.requests).toBe(60);
      expect(r.errors).toBe(0);
      expect(r.non2xx).toBe(0);
      expect(r.throughput).toBeGreaterThan(0);
      expect(r.latency.p50).toBeGreaterThan(0);
      expect(r.latency.p99).toBeGreaterThanOrEqual(r.latency.p50);
    }
  });

  it('attributes statements to routes with calls per request (the N+1 loop runs 20 lookups per request)', () => {
    const byName = new Map(report.routes!.map((r) => [r.name, r]));
    const text = (fingerprint: string) => report.queries.find((q) => q.fingerprint === fingerprint)?.query ?? '';
    const recent = byName.get('recent orders')!;
    expect(recent.statementsPerRequest).toBe(21);
    expect(recent.statements.map((s) => [text(s.fingerprint), s.callsPerRequest])).toEqual(
      expect.arrayContaining([
        ['SELECT id, name, email FROM shop.customers WHERE id = $1', 20],
        [expect.stringContaining('ORDER BY created_at DESC LIMIT'), 1],
      ]),
    );
    expect(recent.dbMsPerRequest).toBeGreaterThan(0);
    const orderById = byName.get('order by id')!;
    expect(orderById.statementsPerRequest).toBe(1);
    expect(text(orderById.statements[0]!.fingerprint)).toMatch(/FROM shop\.orders WHERE id = \$1$/);
    const ship = byName.get('ship order')!;
    expect(ship.statements.map((s) => [text(s.fingerprint), s.callsPerRequest])).toEqual([
      [expect.stringMatching(/^UPDATE shop\.orders/), 1],
    ]);

    // Each statement knows its routes.
    const lookup = report.queries.find((q) => q.query === 'SELECT id, name, email FROM shop.customers WHERE id = $1')!;
    expect(lookup.routes).toEqual([{ route: 'recent orders', callsPerRequest: 20 }]);
    // Totals cover every phase: 60 requests per route plus 60 mixed ones.
    expect(lookup.calls).toBeGreaterThanOrEqual(60 * 20);
    expect(report.queries.every((q) => !q.query.includes('querygate'))).toBe(true);
  });

  it('sent the POST bodies and seq values: orders 1, 4, 7, ... were shipped', async () => {
    const shipped = await withSession(url, async (s) =>
      (
        await s.query<{ id: number }>(
          `SELECT id FROM shop.orders WHERE status = 'shipped' AND id % 3 = 1 AND id <= 400 ORDER BY id`,
        )
      ).rows.map((r) => r.id),
    );
    const after = await withSession(
      url,
      async (s) =>
        (await s.query<{ n: number }>(`SELECT count(*)::int AS n FROM shop.orders WHERE status = 'shipped'`)).rows[0]!
          .n,
    );
    expect(after).toBeGreaterThan(shippedBefore);
    // Orders 1..10 with id % 10 in (1,2,3) were 'paid' (seed), so 1 and 61 etc. became shipped.
    expect(shipped).toContain(1);
    expect(shipped).toContain(61);
  });

  it('runs a mixed phase with every route at its weight and reports it per route', () => {
    const routes = report.routes!;
    const mixed = routes.map((r) => r.mixed!.requests);
    expect(mixed.reduce((s, n) => s + n, 0)).toBe(60);
    // order by id has weight 40 of 70.
    expect(mixed[0]).toBeGreaterThan(mixed[2]!);
    expect(mixed[0]).toBeGreaterThan(15);
  });

  it('reports progress per phase', () => {
    const phases = [...new Set(progress.map((p) => p.phase))];
    expect(phases).toEqual(['order by id', 'customer by email', 'recent orders', 'ship order', 'mixed']);
    expect(progress.every((p) => p.phases === 5 && p.plannedRequests === 60)).toBe(true);
  });

  it('produces plain JSON', () => {
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('without --analyze: findings on statements with parameters do not ask for it, which could not run them', async () => {
    const workload = loadHttpScenario(SHOP);
    const plain = await runHttpWorkload({
      workload: { ...workload, routes: workload.routes.slice(0, 1), load: { ...workload.load, mixed: false } },
      databaseUrl: url,
      // Every statement is slow: its timing findings say how to get actual rows.
      rules: resolveRules({ 'slow-mean': { severity: 'warning', thresholdMs: 0 } }),
    });
    const generic = plain.queries.filter((q) => q.plan?.mode === 'generic');
    expect(generic.length).toBeGreaterThan(0);
    const timing = generic.flatMap((q) => q.findings).filter((f) => f.rule === 'slow-mean');
    expect(timing.length).toBe(generic.length);
    for (const f of timing) {
      expect(f.suggestion).not.toMatch(/run with --analyze/);
      expect(f.suggestion).toMatch(
        /run with EXPLAIN \(ANALYZE, BUFFERS\) and real values, or in a SQL scenario with a generator for each \$n and --analyze \(--analyze cannot run it as captured: its parameter values are unknown/,
      );
    }
  });

  it('--analyze: statements with parameters cannot be analyzed in an HTTP run, and the report says so', async () => {
    const workload = loadHttpScenario(SHOP);
    const analyzed = await runHttpWorkload({
      workload: { ...workload, routes: workload.routes.slice(0, 1), load: { ...workload.load, mixed: false } },
      databaseUrl: url,
      analyze: true,
    });
    const planned = analyzed.queries.filter((q) => q.plan);
    expect(planned.length).toBeGreaterThan(0);
    expect(planned.every((q) => q.plan!.mode === 'generic')).toBe(true);
    expect(analyzed.workload.analyze).toBe(false);
    expect(analyzed.warnings).toContain(
      `--analyze: ${planned.length} of ${planned.length} planned statement(s) were not analyzed: an HTTP run does not know ` +
        'the parameter values the application sent, so statements with parameters get generic plans without ANALYZE, ' +
        'and rules that read parameter values or actual rows (deep-offset, row-estimate-mismatch, ...) cannot apply to them',
    );
  });
});
