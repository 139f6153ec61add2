/**
 * `querygate demo` as a new user runs it: no arguments, the embedded PostgreSQL, one million orders
 * and HTTP traffic through the sample shop. It must name the costly endpoint and its query with a
 * fix, and the N+1 route. Needs `npm run build`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-demo-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface DemoReport {
  run: { complete: boolean };
  queries: { query: string; findings: { rule: string; severity: string }[] }[];
}

describe('querygate demo', () => {
  it("puts the new feature's query on top with its evidence and fix, and names the N+1 route", async () => {
    const result = await runCli(['demo'], { cwd: dir, timeoutMs: 590_000 });
    expect(result.stderr).toMatch(/^querygate: demo: loading 1,000,000 orders .* about a minute/m);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Culprit: the statement behind route "new feature: top refunds of the day"/m);
    expect(result.stdout).toMatch(/fix: .*created_at >= /);
    expect(result.stdout).toMatch(/n-plus-one/);

    const report = JSON.parse(readFileSync(join(dir, 'querygate-report.json'), 'utf8')) as DemoReport;
    expect(report.run.complete).toBe(true);
    const top = report.queries[0]!;
    expect(top.query).toMatch(/date_trunc/);
    expect(top.findings.map((f) => f.rule)).toContain('non-sargable-predicate');
    expect(report.queries.some((q) => q.findings.some((f) => f.rule === 'n-plus-one'))).toBe(true);
  }, 600_000);
});
