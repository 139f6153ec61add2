import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { scratchDatabase, loadSqlFiles } from '../support/db.js';

/** A budget file whose compare: thresholds let every change of the fixture workload through. */
const LENIENT_COMPARE = [
  'version: 1',
  'compare:',
  '  planCost: { relative: 100 }',
  '  blocksPerCall: { relative: 100 }',
  '  scanDowngradeMinRows: 1000000',
  '  newFindingSeverity: none',
  '  timing: { minRelativeChange: 1000 }',
  '',
].join('\n');

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const withIndex = fixture('reports/with-index.json');
const withoutIndex = fixture('reports/without-index.json');
const noStack = /at .*\.js:\d+/;

describe('querygate compare (CLI)', () => {
  let dir: string;
  // No budget file is picked up from the directory or its parents unless a test passes one.
  const cli = (args: readonly string[]) =>
    runCli(args.includes('--budget') ? args : [...args, '--no-budget'], { cwd: dir });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'querygate-compare-'));
  });

  it('exits 1 and names the scan downgrade when head regressed', async () => {
    const r = await cli(['compare', withIndex, withoutIndex]);
    expect(r.stderr).toBe('');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('REGRESSION: 2 statement(s) regressed');
    expect(r.stdout).toMatch(/scan-downgrade: .*on orders -> Seq Scan on orders/);
  });

  it('exits 0 when nothing regressed', async () => {
    const r = await cli(['compare', withoutIndex, withIndex]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('OK: no regression');
    expect(r.stdout).toContain('Improvements:');
    // Each improvement is named as one: an index scan where a sequential scan was, a finding gone.
    expect(r.stdout).toMatch(/scan-upgrade: Seq Scan on orders -> .*on orders/);
    expect(r.stdout).toMatch(/resolved-finding: seq-scan-large-table on public\.orders resolved/);
    expect(r.stdout).not.toMatch(/scan-downgrade|new-finding/);
  });

  it('exits 2 with one line when --out cannot be written', async () => {
    const isDir = await cli(['compare', withIndex, withoutIndex, '--out', dir]);
    expect(isDir.code).toBe(2);
    expect(isDir.stdout).toBe('');
    expect(isDir.stderr.trim()).toMatch(/^querygate: error: --out .*: is a directory; give a file path$/);
    const sys = await cli(['compare', withIndex, withoutIndex, '--out', '/sys/x.md']);
    expect(sys.code).toBe(2);
    expect(sys.stdout).toBe('');
    expect(sys.stderr.trim()).toMatch(/^querygate: error: --out \/sys\/x\.md: cannot write to \/sys\/x\.md: [^\n]+$/);
  });

  it('writes Markdown for a pull request and JSON for tools', async () => {
    const out = join(dir, 'comment.md');
    const md = await cli(['compare', withIndex, withoutIndex, '--format', 'markdown', '--out', out]);
    expect(md.code, md.stderr).toBe(1);
    expect(md.stdout.startsWith('## ❌ querygate: 2 regression(s)')).toBe(true);
    expect(readFileSync(out, 'utf8').trim()).toBe(md.stdout.trim());

    const json = await cli(['compare', withIndex, withoutIndex, '--format', 'json']);
    expect(json.code, json.stderr).toBe(1);
    const parsed = JSON.parse(json.stdout) as { verdict: string; counts: { regressions: number } };
    expect(parsed.verdict).toBe('regression');
    expect(parsed.counts.regressions).toBe(2);
  });

  it('takes its thresholds from the compare: section of the budget file', async () => {
    const budget = join(dir, 'lenient.budget.yaml');
    writeFileSync(budget, LENIENT_COMPARE);
    const r = await cli(['compare', withIndex, withoutIndex, '--budget', budget]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('OK: no regression');

    const bad = join(dir, 'bad.budget.yaml');
    writeFileSync(bad, ['version: 1', 'compare:', '  planCost: { relativ: 1 }', ''].join('\n'));
    const e = await cli(['compare', withIndex, withoutIndex, '--budget', bad]);
    expect(e.code, e.stderr).toBe(2);
    expect(e.stderr).toMatch(
      /^querygate: error: .*bad\.budget\.yaml:3:\d+: compare\.planCost\.relativ: unknown field/m,
    );
    expect(e.stderr).not.toMatch(noStack);
  });

  it('compares HTTP reports route by route; the compare: section decides whether route timings count', async () => {
    const httpBase = fixture('reports/http-base.json');
    const httpHead = fixture('reports/http-head.json');
    const r = await cli(['compare', httpBase, httpHead]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('base: shop-routes on PostgreSQL');
    expect(r.stdout).toContain(', 1 round, ');
    // The statement that lost its index regressed, and the route that runs it with it; the route's
    // timing is shown, not counted.
    expect(r.stdout).toContain('REGRESSION: 1 statement(s) and 1 route(s) regressed');
    expect(r.stdout).toMatch(/│ regression +│ .*│ slower \(not counted\) +│ orders of a customer +│/);
    expect(r.stdout).toMatch(/^ {4}route-statement: statement regressed: SELECT id, status, total_cents/m);
    expect(r.stdout).not.toContain('--rounds');
    expect(r.stdout).not.toMatch(/\b0 round/);

    // Statement thresholds out of the way: route timings alone never fail the comparison ...
    const lenient = join(dir, 'lenient-statements.budget.yaml');
    writeFileSync(lenient, LENIENT_COMPARE);
    const ok = await cli(['compare', httpBase, httpHead, '--budget', lenient, '--format', 'markdown']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^\| unchanged \| orders of a customer .*\| slower \(not counted\) \|$/m);
    // ... unless the budget asks for them to be counted.
    const counted = join(dir, 'routes-counted.budget.yaml');
    writeFileSync(counted, `${LENIENT_COMPARE}  routes: { timingRegressions: true }\n`);
    const routeOnly = await cli(['compare', httpBase, httpHead, '--budget', counted]);
    expect(routeOnly.code, routeOnly.stderr).toBe(1);
    expect(routeOnly.stdout).toContain('REGRESSION: 1 route(s) regressed');
    expect(routeOnly.stdout).toMatch(/^ {2}route "orders of a customer" \(GET \/customers\/\{id\}\/orders\)$/m);

    const bad = join(dir, 'bad-routes.budget.yaml');
    writeFileSync(bad, 'version: 1\ncompare:\n  routes: { dbMsPerRequest: { relative: -1 }, p95: 3 }\n');
    const e = await cli(['compare', httpBase, httpHead, '--budget', bad]);
    expect(e.code, e.stderr).toBe(2);
    expect(e.stderr).toMatch(/bad-routes\.budget\.yaml:3:\d+: compare\.routes\.dbMsPerRequest\.relative: must be >= 0/);
    expect(e.stderr).toMatch(/bad-routes\.budget\.yaml:3:\d+: compare\.routes\.p95: unknown field/);
  });

  it('refuses the report of an interrupted run on either side (exit 2), as budget init does', async () => {
    // An interrupted run captured no plans, hence no plan findings: compared, they would look resolved.
    const report = JSON.parse(readFileSync(withoutIndex, 'utf8')) as {
      run: Record<string, unknown>;
      queries: Record<string, unknown>[];
    };
    const interrupted = join(dir, 'interrupted.json');
    writeFileSync(
      interrupted,
      JSON.stringify({
        ...report,
        run: { ...report.run, complete: false, interruptedBy: 'interrupted by SIGINT' },
        queries: report.queries.map((q) => ({ ...q, plan: null, findings: [] })),
      }),
    );
    const head = await cli(['compare', withoutIndex, interrupted]);
    expect(head.code, head.stdout).toBe(2);
    expect(head.stdout).toBe('');
    expect(head.stderr.trim()).toBe(
      `querygate: error: ${interrupted}: the run was interrupted (interrupted by SIGINT): compare needs the reports of complete runs`,
    );
    const base = await cli(['compare', interrupted, withoutIndex]);
    expect(base.code, base.stdout).toBe(2);
    expect(base.stderr).toContain(`${interrupted}: the run was interrupted`);
  });

  it('refuses two reports with no statement and no route in common (exit 2): different workloads', async () => {
    const r = await cli(['compare', withIndex, fixture('reports/http-head.json')]);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(
      'querygate: error: the reports share no statement or route (base: 4 statement(s) of "workload", head: 5 of "shop-routes"): different workloads? compare two reports of the same workload',
    );
  });

  it('rejects missing and invalid reports and unknown formats with exit 2 and one line', async () => {
    const missing = await cli(['compare', join(dir, 'nope.json'), withIndex]);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr.trim()).toBe(`querygate: error: report not found: ${join(dir, 'nope.json')}`);

    const notReport = join(dir, 'not-a-report.json');
    writeFileSync(notReport, '{"hello": 1}');
    const invalid = await cli(['compare', withIndex, notReport]);
    expect(invalid.code, invalid.stderr).toBe(2);
    expect(invalid.stderr.trim()).toBe(`querygate: error: ${notReport}: not a querygate report`);

    // A report that parses but does not match the report schema: refused, naming the JSON path.
    const broken = JSON.parse(readFileSync(withoutIndex, 'utf8')) as { queries: Record<string, unknown>[] };
    broken.queries[1]!.calls = 'many';
    broken.queries[2]!.fingerprint = 12;
    const badHead = join(dir, 'bad-head.json');
    writeFileSync(badHead, JSON.stringify(broken));
    const schema = await cli(['compare', withIndex, badHead]);
    expect(schema.code, schema.stderr).toBe(2);
    expect(schema.stdout).toBe('');
    expect(schema.stderr.trim().split('\n')).toEqual([
      `querygate: error: ${badHead}: not a valid querygate report (schemas/report.schema.json): queries[1].calls: must be number`,
      `${badHead}: queries[2].fingerprint: must be string`,
    ]);

    const format = await cli(['compare', withIndex, withoutIndex, '--format', 'xml']);
    expect(format.code, format.stderr).toBe(2);
    expect(format.stderr).toContain("argument 'xml' is invalid");
    for (const r of [missing, invalid, schema, format]) expect(r.stderr).not.toMatch(noStack);
  });
});

describe('querygate run --baseline (CLI)', () => {
  let dir: string;
  let url: string;
  beforeAll(async () => {
    // The pull request's database: the schema without orders_customer_idx.
    ({ dir, url } = await scratchDatabase('cmp_cli'));
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
  });

  const run = (extra: readonly string[], out = join(dir, 'report.json'), quiet = false) =>
    runCli(
      [
        'run',
        '--workload',
        fixture('workload.sql'),
        '--database-url',
        url,
        '--repeat',
        '12',
        '--connections',
        '2',
        '--out',
        out,
        ...(quiet ? ['-q'] : []),
        ...extra,
        ...(extra.some((x) => x.endsWith('budget')) ? [] : ['--no-budget']),
      ],
      { cwd: dir },
    );

  it('runs, compares with the saved main report and exits 1 on the regression; saves a baseline', async () => {
    const saved = join(dir, 'pr-baseline.json');
    const r = await run(['--baseline', withIndex, '--save-baseline', saved]);
    expect(r.stderr).not.toMatch(noStack);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('REGRESSION: 2 statement(s) regressed');
    expect(r.stdout).toMatch(/scan-downgrade: .*on orders -> Seq Scan on orders/);
    // The saved main report replayed each statement 30 times, this run 12.
    expect(r.stdout).toContain(
      'warning: base and head ran different loads (base: repeat 30, 3 rounds, 2 connections; head: repeat 12, 3 rounds, 2 connections)',
    );
    expect(r.stderr).toContain(`baseline written to ${saved}`);
    expect(JSON.parse(readFileSync(saved, 'utf8'))).toEqual(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')));

    // The same branch against its own baseline: no regression.
    const again = await run(['--baseline', saved]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('OK: no regression (4 matched, 0 new, 0 removed');
    // Same load, same querygate: the comparison warns of nothing (the run may warn of its own advice).
    expect(again.stdout).not.toMatch(/warning: (base and head|base was written|statement timings)/);
  });

  it('-q: prints no comparison; a regression prints only its verdict and reasons, on stderr', async () => {
    const r = await run(['--baseline', withIndex], join(dir, 'quiet.json'), true);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^report written to .*quiet\.json\nREGRESSION: 2 statement\(s\) regressed .*\nRegressions:\n/,
    );
    expect(r.stderr).toMatch(/scan-downgrade: .*on orders -> Seq Scan on orders/);
    // Not the rest of the comparison: its heading, table, improvements and notes.
    expect(r.stderr).not.toContain('querygate compare');
    expect(r.stderr).not.toContain('│');
    const same = await run(['--baseline', join(dir, 'quiet.json')], join(dir, 'quiet-again.json'), true);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toBe('');
    expect(same.stderr.trim()).toBe(`report written to ${join(dir, 'quiet-again.json')}`);
  });

  it("judges with the compare: section of the run's budget, and the defaults with --no-budget", async () => {
    const budget = join(dir, 'compare-only.budget.yaml');
    writeFileSync(budget, LENIENT_COMPARE);
    // The budget's own gate may fail on findings; the comparison must not call anything a regression.
    const lenient = await run(['--baseline', withIndex, '--budget', budget], join(dir, 'lenient.json'));
    expect(lenient.stderr).not.toMatch(noStack);
    expect(lenient.stdout).toContain('OK: no regression');
    const strict = await run(['--baseline', withIndex, '--no-budget'], join(dir, 'strict.json'));
    expect(strict.code, strict.stderr).toBe(1);
    expect(strict.stdout).toContain('REGRESSION: 2 statement(s) regressed');
  });

  it('checks the baseline before running', async () => {
    const out = join(dir, 'never-written.json');
    const r = await run(['--baseline', join(dir, 'missing.json')], out);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`querygate: error: --baseline: report not found: ${join(dir, 'missing.json')}`);
    expect(existsSync(out)).toBe(false);

    const broken = JSON.parse(readFileSync(withIndex, 'utf8')) as { queries: Record<string, unknown>[] };
    broken.queries[0]!.sharedBlksPerCall = null;
    const invalid = join(dir, 'invalid-baseline.json');
    writeFileSync(invalid, JSON.stringify(broken));
    const bad = await run(['--baseline', invalid], out);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr.trim()).toBe(
      `querygate: error: --baseline: ${invalid}: not a valid querygate report (schemas/report.schema.json): queries[0].sharedBlksPerCall: must be number`,
    );
    expect(existsSync(out)).toBe(false);

    const cut = JSON.parse(readFileSync(withIndex, 'utf8')) as { run: Record<string, unknown> };
    const interrupted = join(dir, 'interrupted-baseline.json');
    writeFileSync(interrupted, JSON.stringify({ ...cut, run: { ...cut.run, complete: false } }));
    const partial = await run(['--baseline', interrupted], out);
    expect(partial.code, partial.stderr).toBe(2);
    expect(partial.stderr.trim()).toBe(
      `querygate: error: --baseline: ${interrupted}: the run was interrupted (incomplete): compare needs the reports of complete runs`,
    );
    expect(existsSync(out)).toBe(false);
  });
});
