import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOOL_VERSION } from '../../src/version.js';
import { runCli } from '../support/cli.js';
import { parseXml } from '../report/xml.js';
import { fixtureReport, FIXTURE_REPORT } from './support.js';

const BUDGET = fileURLToPath(new URL('../../fixtures/reports/outage-demo.budget.yaml', import.meta.url));

/** A fresh directory with no budget file above it, so nothing is found by walking up. */
const scratch = () => mkdtempSync(join(tmpdir(), 'qg-check-'));

function expectCleanError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('querygate check and budget init (built binary)', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = scratch();
  });

  it('fails the gate with exit 1 and prints each violation with its value, limit and statement', async () => {
    const result = await runCli(['check', FIXTURE_REPORT, '--budget', BUDGET], { cwd });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Gate FAILED');
    const report = fixtureReport();
    const refunds = report.queries.find((q) => q.fingerprint === 'f28d62bb102b41c8')!;
    expect(result.stdout).toMatch(
      /FAIL statements\[0\]\.maxMeanMs "top refunds of the day" \(.*outage-demo\.budget\.yaml:11\)/,
    );
    expect(result.stdout).toMatch(/mean time \d+(\.\d+)? ms > 50\.00 ms \(median of 3 rounds: /);
    expect(result.stdout).toContain(refunds.query.replace(/\s+/g, ' ').slice(0, 50));
    expect(result.stdout).toMatch(/skipped limits\.statementsPerRequest .*: no HTTP routes/);
  });

  it('lays out for a COLUMNS narrower than 80: every line fits, and the note names the width', async () => {
    const dir = scratch();
    copyFileSync(BUDGET, join(dir, 'budget.yaml'));
    const result = await runCli(['check', FIXTURE_REPORT, '--budget', 'budget.yaml'], {
      cwd: dir,
      env: { COLUMNS: '60' },
    });
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n').filter((l) => l.length > 60)).toEqual([]);
    expect(result.stdout.replace(/\n\s*/g, ' ')).toContain('(left out to fit 60 columns: share, calls,');
    expect(result.stdout).toContain('Gate FAILED');
  });

  it('--quiet keeps the verdict and every violation and drops only the statements table', async () => {
    const full = await runCli(['check', FIXTURE_REPORT, '--budget', BUDGET], { cwd });
    const quiet = await runCli(['check', FIXTURE_REPORT, '--budget', BUDGET, '-q'], { cwd });
    expect(quiet.code).toBe(1);
    expect(quiet.stdout).not.toContain('┌');
    const gateText = full.stdout.slice(full.stdout.indexOf('Gate FAILED')).trim();
    expect(gateText).toMatch(/^Gate FAILED: 3 of \d+ limit\(s\) exceeded/);
    expect(quiet.stdout.trim()).toBe(gateText);
    expect(quiet.stdout.match(/^ {2}FAIL /gm)).toHaveLength(4);
  });

  it('budget init writes a starting budget that the same report passes (exit 0)', async () => {
    const dir = scratch();
    const init = await runCli(['budget', 'init', FIXTURE_REPORT], { cwd: dir });
    expect(init.code).toBe(0);
    expect(init.stderr).toContain('wrote querygate.budget.yaml');
    const text = readFileSync(join(dir, 'querygate.budget.yaml'), 'utf8');
    expect(text).toContain('fingerprint: "f28d62bb102b41c8"');
    // Found by walking up from a subdirectory, without --budget.
    const check = await runCli(['check', FIXTURE_REPORT], { cwd: dir });
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('Gate PASSED');
    expect(check.stderr).toContain('using budget');
    // Every finding the budget accepted says so in the list: an accepted error is not a failing one.
    const errors = check.stdout.split('\n').filter((l) => /^ {2}ERROR /.test(l));
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) expect(line).toMatch(/, accepted by the budget$/);
    // A second init does not overwrite it.
    const again = await runCli(['budget', 'init', FIXTURE_REPORT], { cwd: dir });
    expect(again.code).toBe(2);
    expectCleanError(again.stderr, /querygate\.budget\.yaml exists: pass --force/);
  });

  it('writes every requested format to --output-dir and prints GitHub annotations on stdout', async () => {
    const out = join(scratch(), 'out');
    const result = await runCli(
      [
        'check',
        FIXTURE_REPORT,
        '--budget',
        BUDGET,
        '--format',
        'junit',
        '--format',
        'markdown',
        '--format',
        'github',
        '--format',
        'sarif',
        '--output-dir',
        out,
      ],
      { cwd },
    );
    expect(result.code).toBe(1);
    for (const file of ['querygate.junit.xml', 'querygate.md', 'querygate.github.txt', 'querygate.sarif'])
      expect(existsSync(join(out, file))).toBe(true);
    expect(existsSync(join(out, 'querygate.txt'))).toBe(false);
    expect(parseXml(readFileSync(join(out, 'querygate.junit.xml'), 'utf8')).name).toBe('testsuites');
    expect(readFileSync(join(out, 'querygate.md'), 'utf8')).toMatch(/^## ❌ querygate: budget exceeded/);
    expect(result.stdout).toMatch(/^::error file=.*outage-demo\.budget\.yaml,line=\d+,title=querygate budget/m);
    // stdout carries no document: the terminal summary is printed, ending with the verdict.
    expect(result.stdout).toMatch(/│ # +│ total +│/);
    expect(result.stdout).toContain('Gate FAILED');
    expect(result.stdout).toMatch(/^\s*FAIL /m);

    // A document on stdout stays parseable: the verdict goes to stderr.
    const json = await runCli(['check', FIXTURE_REPORT, '--budget', BUDGET, '--format', 'json'], { cwd });
    const parsed = JSON.parse(json.stdout) as { gate: { passed: boolean; limits: unknown[] }; queries: unknown[] };
    expect(parsed.gate.passed).toBe(false);
    expect(parsed.queries.length).toBe(fixtureReport().queries.length);
    expect(json.stderr).toContain('Gate FAILED');

    // Two documents on stdout would run together: refused, pointing at --output-dir.
    const two = await runCli(
      ['check', FIXTURE_REPORT, '--budget', BUDGET, '--format', 'markdown', '--format', 'junit'],
      {
        cwd,
      },
    );
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('pass --output-dir DIR');
    expect(two.stdout).toBe('');
  });

  it('never passes the report of an interrupted run, nor makes a budget from it', async () => {
    const dir = scratch();
    const interrupted = join(dir, 'interrupted.json');
    const report = fixtureReport();
    writeFileSync(
      interrupted,
      JSON.stringify({
        ...report,
        run: { ...report.run, complete: false, interruptedBy: 'interrupted by SIGINT' },
        // Interrupted before EXPLAIN: no plans, so no plan findings.
        queries: report.queries.map((q) => ({ ...q, plan: null, findings: [] })),
      }),
    );
    // A budget the complete report passes...
    expect((await runCli(['budget', 'init', FIXTURE_REPORT], { cwd: dir })).code).toBe(0);
    expect((await runCli(['check', FIXTURE_REPORT], { cwd: dir })).code).toBe(0);
    // ...does not pass the interrupted one, and says why, even with --quiet.
    const out = join(dir, 'out');
    const check = await runCli(
      ['check', interrupted, '-q', '--format', 'markdown', '--format', 'junit', '--output-dir', out],
      { cwd: dir },
    );
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(
      'is the report of an interrupted run (interrupted by SIGINT): the gate cannot pass on it',
    );
    // Every output says so: no "PASSED" verdict, green comment or JUnit file without a failure.
    expect(check.stdout).toContain(
      'Gate FAILED: the run was interrupted (interrupted by SIGINT), so the gate cannot pass',
    );
    expect(check.stdout).not.toContain('PASSED');
    expect(readFileSync(join(out, 'querygate.md'), 'utf8')).toMatch(/^## ❌ querygate: the run was interrupted/);
    const junit = readFileSync(join(out, 'querygate.junit.xml'), 'utf8');
    expect(junit).toMatch(/<testsuites name="querygate" tests="\d+" failures="1"/);
    expect(junit).toContain('<testcase name="the run completed" classname="querygate.run"');
    // The interrupted run's findings say nothing of which acceptances are still needed.
    expect(check.stdout + check.stderr).not.toContain('remove it?');
    const init = await runCli(['budget', 'init', interrupted, '--force'], { cwd: dir });
    expect(init.code).toBe(2);
    expect(init.stderr).toContain('a budget needs the report of a complete run');
    // Interrupted before its plans were made: its accepted findings match nothing, and that is no
    // reason to remove them from the budget.
    writeFileSync(
      interrupted,
      JSON.stringify({
        ...report,
        run: { ...report.run, complete: false, interruptedBy: 'interrupted by SIGINT' },
        queries: report.queries.map((q) => ({ ...q, plan: null, findings: [] })),
      }),
    );
    const unplanned = await runCli(['check', interrupted, '-q'], { cwd: dir });
    expect(unplanned.code).toBe(1);
    expect(unplanned.stdout).not.toContain('remove it?');
    expect(unplanned.stdout.replace(/\n\s+/g, ' ')).toContain(
      'accepted finding(s) matched no finding: this is the report of an interrupted run',
    );
  });

  it('an output path that cannot be written: one clear line and exit 2, before any work', async () => {
    const dir = scratch();
    const budget = join(dir, 'b.yaml');
    writeFileSync(budget, 'version: 1\nlimits:\n  totalDbMs: 100000\n');
    // A file where a directory is expected, and a directory nobody can create.
    const aFile = await runCli(['check', FIXTURE_REPORT, '--budget', budget, '--output-dir', budget], { cwd: dir });
    expect(aFile.code).toBe(2);
    expect(aFile.stdout).toBe('');
    expectCleanError(aFile.stderr, /^querygate: error: --output-dir .*b\.yaml: is a file, not a directory$/);
    const sys = await runCli(['check', FIXTURE_REPORT, '--budget', budget, '--output-dir', '/sys/qg'], { cwd: dir });
    expect(sys.code).toBe(2);
    expect(sys.stdout).toBe('');
    expectCleanError(sys.stderr, /^querygate: error: --output-dir \/sys\/qg: cannot create the directory: /);
    // A directory where one of the files is expected.
    const out = join(dir, 'out');
    mkdirSync(join(out, 'querygate.md'), { recursive: true });
    const inDir = await runCli(['check', FIXTURE_REPORT, '--budget', budget, '--output-dir', out], { cwd: dir });
    expect(inDir.code).toBe(2);
    expectCleanError(
      inDir.stderr,
      /^querygate: error: --output-dir .*out\/querygate\.md: is a directory; give a file path$/,
    );
    expect(readdirSync(out)).toEqual(['querygate.md']);

    const init = await runCli(['budget', 'init', FIXTURE_REPORT, '--out', '/sys/b.yaml'], { cwd: dir });
    expect(init.code).toBe(2);
    expectCleanError(init.stderr, /^querygate: error: --out \/sys\/b\.yaml: cannot write to \/sys\/b\.yaml: /);
    const initDir = await runCli(['budget', 'init', FIXTURE_REPORT, '--out', dir, '--force'], { cwd: dir });
    expect(initDir.code).toBe(2);
    expectCleanError(initDir.stderr, /^querygate: error: --out .*: is a directory; give a file path$/);
  });

  it('reads a report of the same format written by another querygate version, with a warning in every output', async () => {
    const dir = scratch();
    const other = join(dir, 'other-version.json');
    writeFileSync(other, JSON.stringify({ ...fixtureReport(), tool: { name: 'querygate', version: '0.0.9' } }));
    const warning =
      /other-version\.json was written by querygate 0\.0\.9, this is querygate \d+\.\d+\.\d+: the report format is the same/;
    const quiet = await runCli(['check', other, '--budget', BUDGET, '-q'], { cwd: dir });
    expect(quiet.code).toBe(1); // the fixture exceeds its budget: the version changes nothing
    expect(quiet.stderr).toMatch(new RegExp(`^querygate: warning: .*${warning.source}`, 'm'));
    const json = await runCli(['check', other, '--budget', BUDGET, '--format', 'json'], { cwd: dir });
    expect((JSON.parse(json.stdout) as { warnings: string[] }).warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(warning)]),
    );
    const table = await runCli(['check', other, '--budget', BUDGET], { cwd: dir });
    expect(table.stdout).toMatch(/^warning: .*other-version\.json was written by querygate 0\.0\.9/m);
    // Stamped with this version: no warning.
    const current = join(dir, 'this-version.json');
    writeFileSync(current, JSON.stringify({ ...fixtureReport(), tool: { name: 'querygate', version: TOOL_VERSION } }));
    const same = await runCli(['check', current, '--budget', BUDGET, '-q'], { cwd: dir });
    expect(same.stderr).not.toContain('was written by querygate');
  });

  it('check offers no --no-budget, and --budget with --no-budget is refused in either order', async () => {
    const help = await runCli(['check', '--help'], { cwd });
    expect(help.stdout).toContain('--budget <file>');
    expect(help.stdout).not.toContain('--no-budget');
    const workload = fileURLToPath(new URL('../fixtures/sql/workload.sql', import.meta.url));
    for (const flags of [
      ['--budget', BUDGET, '--no-budget'],
      ['--no-budget', '--budget', BUDGET],
    ]) {
      const both = await runCli(['run', '--workload', workload, ...flags], { cwd });
      expect(both.code).toBe(2);
      expect(both.stderr.trim()).toBe('querygate: error: --budget and --no-budget contradict each other: give one');
    }
  });

  it('bad input: one clear line and exit 2', async () => {
    const dir = scratch();
    const missing = await runCli(['check', FIXTURE_REPORT, '--budget', join(dir, 'nope.yaml')], { cwd: dir });
    expect(missing.code).toBe(2);
    expectCleanError(missing.stderr, /^querygate: error: budget file not found: .*nope\.yaml$/);

    const none = await runCli(['check', FIXTURE_REPORT], { cwd: dir });
    expect(none.code).toBe(2);
    expectCleanError(none.stderr, /^querygate: error: no budget file: pass --budget FILE/);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nlimits:\n  totalDbMs: 100\nrules:\n  not-a-rule: error\n');
    const unknown = await runCli(['check', FIXTURE_REPORT, '--budget', bad], { cwd: dir });
    expect(unknown.code).toBe(2);
    expectCleanError(
      unknown.stderr,
      /^querygate: error: .*bad\.yaml:5:3: rules\.not-a-rule: unknown rule "not-a-rule"/,
    );

    // An empty budget gates nothing: refused instead of "Gate FAILED: 0 of 0 limit(s)".
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, '# limits to come\n');
    const none0 = await runCli(['check', FIXTURE_REPORT, '--budget', empty], { cwd: dir });
    expect(none0.code).toBe(2);
    expect(none0.stdout).toBe('');
    expectCleanError(none0.stderr, /^querygate: error: .*empty\.yaml: the budget file is empty/);

    // Every problem is printed, in file order, not only the first.
    const several = join(dir, 'several.yaml');
    writeFileSync(
      several,
      'version: 2\nlimits:\n  totalDbMs: 0\n  routeP95Ms: -1\nrules: { slow-mean: { severity: fatal, thresholdMs: -5 } }\n',
    );
    const all = await runCli(['check', FIXTURE_REPORT, '--budget', several], { cwd: dir });
    expect(all.code).toBe(2);
    const lines = all.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^querygate: error: .*several\.yaml:1:10: version: must be 1, .*\(found 2\)$/);
    expect(lines.slice(1).map((l) => l.replace(/^.*several\.yaml:/, ''))).toEqual([
      '3:14: limits.totalDbMs: must be > 0',
      '4:15: limits.routeP95Ms: must be > 0',
      '5:33: rules.slow-mean.severity: must be one of "error", "warning", "info", "off"',
      '5:40: rules.slow-mean.thresholdMs: must be a non-negative number, got -5',
    ]);
    expect(all.stderr).not.toMatch(/^\s+at /m);

    const old = join(dir, 'old.json');
    writeFileSync(old, JSON.stringify({ ...fixtureReport(), version: 99 }));
    const version = await runCli(['check', old, '--budget', BUDGET], { cwd: dir });
    expect(version.code).toBe(2);
    expectCleanError(version.stderr, /^querygate: error: .*old\.json: report format version 99 is not supported/);

    const edited = fixtureReport() as unknown as { queries: Record<string, unknown>[] };
    edited.queries[0]!.meanMs = 'fast';
    const invalid = join(dir, 'edited.json');
    writeFileSync(invalid, JSON.stringify(edited));
    const schema = await runCli(['check', invalid, '--budget', BUDGET], { cwd: dir });
    expect(schema.code).toBe(2);
    expect(schema.stdout).toBe('');
    expectCleanError(
      schema.stderr,
      /^querygate: error: .*edited\.json: not a valid querygate report .*: queries\[0\]\.meanMs: must be number$/,
    );

    const format = await runCli(['check', FIXTURE_REPORT, '--budget', BUDGET, '--format', 'html'], { cwd: dir });
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('--format must be one of table, json, markdown, junit, github, sarif');
  });
});
