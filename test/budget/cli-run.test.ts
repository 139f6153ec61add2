import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/model/report.js';
import { runCli } from '../support/cli.js';
import { scratchDatabase } from '../support/db.js';

/** The outputs a pull request's checks read: GitHub annotations, JUnit and Markdown, in `dir`. */
const pullRequestFormats = (dir: string) => [
  '--format',
  'github',
  '--format',
  'junit',
  '--format',
  'markdown',
  '--output-dir',
  dir,
];

const sql = (name: string) => fileURLToPath(new URL(`../fixtures/sql/${name}`, import.meta.url));
const workload = ['--workload', sql('workload.sql'), '--repeat', '6', '--connections', '2'];

describe('querygate run --budget (built binary, real PostgreSQL)', () => {
  let url: string;
  let dir: string;
  let first: Report;

  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('budget_run'));
    const setup = await runCli(
      [
        'run',
        ...workload,
        '--schema',
        sql('schema.sql'),
        '--seed',
        sql('seed.sql'),
        '--setup',
        '--database-url',
        url,
        '--out',
        join(dir, 'first.json'),
        '--quiet',
      ],
      { cwd: dir },
    );
    expect(setup.stderr).toContain('report written');
    first = JSON.parse(readFileSync(join(dir, 'first.json'), 'utf8')) as Report;
  });

  /** A budget that the workload's full scan of events exceeds (100 blocks per call). */
  const tightBudget = (name: string) => {
    const budget = join(dir, `${name}.yaml`);
    writeFileSync(budget, `version: 1\nstatements:\n  - relation: events\n    maxBlocksPerCall: 100\naccepted: []\n`);
    return budget;
  };
  /** The workload gated on `budget` with --fail-on error, its report written to `out`. */
  const gatedRun = (budget: string, out: string, ...flags: string[]) =>
    runCli(
      [
        'run',
        ...workload,
        '--database-url',
        url,
        '--budget',
        budget,
        '--fail-on',
        'error',
        '--out',
        join(dir, out),
      ].concat(flags),
      { cwd: dir },
    );

  it('fails the run with exit 1 on a limit, writing the verdict into the report and the requested formats', async () => {
    const scan = first.queries.find((q) => q.query.includes('count(*)'))!;
    expect(scan.sharedBlksPerCall).toBeGreaterThan(100);
    const budget = tightBudget('tight');
    const out = join(dir, 'tight');
    const result = await gatedRun(budget, 'tight.json', '--format', 'table', '--format', 'junit', '--output-dir', out);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL statements\[0\]\.maxBlocksPerCall .*tight\.yaml:4\)/);
    expect(result.stdout).toMatch(/shared blocks per call \d+(\.\d+)? > 100/);
    const report = JSON.parse(readFileSync(join(dir, 'tight.json'), 'utf8')) as Report;
    expect(report.gate?.passed).toBe(false);
    const check = report.gate!.limits[0]!;
    expect(check.measurements.map((m) => (m.subject.kind === 'statement' ? m.subject.fingerprint : ''))).toEqual([
      scan.fingerprint,
    ]);
    expect(check.measurements[0]!.measured).toBe(
      report.queries.find((q) => q.fingerprint === scan.fingerprint)!.sharedBlksPerCall,
    );
    expect(readFileSync(join(out, 'querygate.junit.xml'), 'utf8')).toContain(
      '<failure message="shared blocks per call',
    );
  });

  it('run --quiet prints why the gate failed on stderr: the verdict and each violation', async () => {
    const budget = tightBudget('tight-quiet');
    const result = await gatedRun(budget, 'tight-quiet.json', '--quiet');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^Gate FAILED: 1 of 1 limit\(s\) exceeded/m);
    expect(result.stderr).toMatch(/FAIL statements\[0\]\.maxBlocksPerCall .*tight-quiet\.yaml:4\)/);
    expect(result.stderr).toMatch(/shared blocks per call \d+(\.\d+)? > 100/);
    // Other formats on stdout: the verdict still goes to stderr, the format stays clean.
    const json = await runCli(
      ['run', ...workload, '--database-url', url, '--budget', budget, '--out', join(dir, 'tight-json.json')].concat([
        '--format',
        'json',
      ]),
      { cwd: dir },
    );
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).gate.passed).toBe(false);
    expect(json.stderr).toMatch(/FAIL statements\[0\]\.maxBlocksPerCall/);
  });

  it('adopts a starting budget from a report: the next run finds it and passes; --no-budget ignores it', async () => {
    const init = await runCli(['budget', 'init', join(dir, 'first.json'), '--timing-headroom', '400'], { cwd: dir });
    expect(init.code).toBe(0);
    const pass = await runCli(['run', ...workload, '--database-url', url, '--out', join(dir, 'second.json'), '-v'], {
      cwd: dir,
    });
    expect(pass.stderr).toContain(`using budget ${join(dir, 'querygate.budget.yaml')}`);
    // The gate fails on error findings by default: -v says so, and where that comes from.
    expect(pass.stderr).toMatch(
      /^settings: .*budget=\S*querygate\.budget\.yaml fail-on=error \(the budget gate's default\) /m,
    );
    expect(pass.stdout).toContain('Gate PASSED');
    expect(pass.code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'second.json'), 'utf8')) as Report;
    expect(report.gate?.counts.limits).toBeGreaterThan(report.queries.length);

    writeFileSync(join(dir, 'querygate.budget.yaml'), 'version: 1\nlimits:\n  totalDbMs: 0.001\n');
    const ignored = await runCli(
      ['run', ...workload, '--database-url', url, '--no-budget', '--out', join(dir, 'third.json'), '--quiet'],
      { cwd: dir },
    );
    expect(ignored.code).toBe(0);
    expect(ignored.stderr).not.toContain('using budget');
    expect((JSON.parse(readFileSync(join(dir, 'third.json'), 'utf8')) as Report).gate).toBeUndefined();
  });

  it('names a plain SQL statement alike in run, budget init and check: by its leading comment', async () => {
    const name = 'A scan of the whole events table: no index on kind';
    const scan = first.queries.find((q) => q.query.includes('count(*) FROM events'))!;
    expect(scan.source).toBe(name);
    const budgetFile = join(dir, 'named.budget.yaml');
    const init = await runCli(['budget', 'init', join(dir, 'first.json'), '--out', budgetFile], { cwd: dir });
    expect(init.code, init.stderr).toBe(0);
    expect(readFileSync(budgetFile, 'utf8')).toContain(`- name: "${name}"`);
    // The scan's blocks per call halved in the budget: check names the statement by the same name.
    const budget = readFileSync(budgetFile, 'utf8').replace(
      new RegExp(`(- name: "${name}"[\\s\\S]*?maxBlocksPerCall: )(\\d+)`),
      (_all, head: string) => `${head}10`,
    );
    writeFileSync(budgetFile, budget);
    const checked = await runCli(['check', join(dir, 'first.json'), '--budget', budgetFile], { cwd: dir });
    expect(checked.code, checked.stdout).toBe(1);
    expect(checked.stdout).toContain(name);
    expect(checked.stdout).not.toMatch(/workload\.sql:5\b/);
  });

  it('check from another directory points annotations at the workload file from there', async () => {
    // A checkout: the workload in lib/, the budget in bud/; the run starts in lib/, check in the root.
    const repo = mkdtempSync(join(tmpdir(), 'qg-annotations-'));
    for (const d of ['.git', 'lib', 'bud']) mkdirSync(join(repo, d));
    copyFileSync(sql('workload.sql'), join(repo, 'lib', 'lib.sql'));
    writeFileSync(
      join(repo, 'bud', 'b2.yaml'),
      'version: 1\nstatements:\n  - relation: events\n    maxBlocksPerCall: 1\n',
    );
    const ran = await runCli(
      [
        'run',
        '--workload',
        'lib.sql',
        '--repeat',
        '3',
        '--database-url',
        url,
        '--no-budget',
        '--out',
        '../r1.json',
        '-q',
      ],
      { cwd: join(repo, 'lib') },
    );
    expect(ran.code, ran.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(repo, 'r1.json'), 'utf8')) as Report;
    expect(report.workload).toMatchObject({ source: 'lib.sql', sourceRepoPath: 'lib/lib.sql' });
    const scanLine = 5; // SELECT count(*) FROM events ... in the workload file

    const checked = await runCli(
      [
        'check',
        'r1.json',
        '--budget',
        'bud/b2.yaml',
        '--fail-on',
        'warning',
        '--format',
        'github',
        '--format',
        'sarif',
        '--output-dir',
        'out',
      ],
      { cwd: repo },
    );
    expect(checked.code, checked.stderr).toBe(1);
    const annotations = checked.stdout.split('\n').filter((l) => l.startsWith('::'));
    expect(annotations.some((l) => l.startsWith('::error file=bud/b2.yaml,line=4,'))).toBe(true);
    const findings = annotations.filter((l) => l.includes('title=querygate ') && !l.includes('budget'));
    expect(findings.length).toBeGreaterThan(0);
    for (const l of findings) expect(l).toMatch(/ file=lib\/lib\.sql(,line=\d+)?,/);
    expect(findings.some((l) => l.includes(`file=lib/lib.sql,line=${scanLine},`))).toBe(true);
    const sarif = readFileSync(join(repo, 'out', 'querygate.sarif'), 'utf8');
    expect(sarif).toContain('"uri": "lib/lib.sql"');
    expect(sarif).not.toContain('"uri": "lib.sql"');
  });

  it('run with an absolute --workload points annotations and SARIF at the file relative to the working directory', async () => {
    const root = mkdtempSync(join(tmpdir(), 'qg-absolute-'));
    mkdirSync(join(root, 'sql'));
    copyFileSync(sql('workload.sql'), join(root, 'sql', 'work.sql'));
    writeFileSync(join(root, 'b.yaml'), 'version: 1\nstatements:\n  - relation: events\n    maxBlocksPerCall: 1\n');
    const ran = await runCli(
      [
        'run',
        '--workload',
        join(root, 'sql', 'work.sql'),
        '--repeat',
        '3',
        '--database-url',
        url,
        '--budget',
        join(root, 'b.yaml'),
        '--fail-on',
        'warning',
        '--format',
        'github',
        '--format',
        'sarif',
        '--output-dir',
        'out',
        '--out',
        'r.json',
      ],
      { cwd: root },
    );
    expect(ran.code, ran.stderr).toBe(1);
    const annotations = ran.stdout.split('\n').filter((l) => l.startsWith('::') && l.includes(' file='));
    expect(annotations.some((l) => l.startsWith('::error file=b.yaml,line=4,'))).toBe(true);
    const findings = annotations.filter((l) => !l.includes('budget'));
    expect(findings.length).toBeGreaterThan(0);
    for (const l of findings) expect(l).toMatch(/ file=sql\/work\.sql(,line=\d+)?,/);
    const sarif = readFileSync(join(root, 'out', 'querygate.sarif'), 'utf8');
    expect(sarif).toContain('"uri": "sql/work.sql"');
    expect(sarif).not.toContain(root);
    // The report keeps the path as given, and where the file is.
    const report = JSON.parse(readFileSync(join(root, 'r.json'), 'utf8')) as Report;
    expect(report.workload.source).toBe(join(root, 'sql', 'work.sql'));
  });

  it('rejects a bad budget before running (exit 2)', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nstatements:\n  - fingerprint: "abc"\n    maxMeanMs: fast\n');
    const result = await runCli(
      ['run', ...workload, '--database-url', url, '--budget', bad, '--out', join(dir, 'never.json')],
      { cwd: dir },
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')[0]).toMatch(
      /^querygate: error: .*bad\.yaml:4:16: statements\[0\]\.maxMeanMs: must be number$/,
    );
    // Rejected before the replay: no report was written.
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
  });

  /** The severities of the findings of the first run (the workload's scans). */
  const severities = () => new Set(first.queries.flatMap((q) => q.findings.map((f) => f.severity)));

  it('without a budget or a threshold, gates nothing: exit 0, and no output shows a verdict or fails', async () => {
    expect(severities().has('error') || severities().has('warning')).toBe(true);
    const here = join(dir, 'ungated');
    mkdirSync(here, { recursive: true });
    const out = join(here, 'out');
    const result = await runCli(
      ['run', ...workload, '--database-url', url, '--no-budget', '--out', join(here, 'r.json'), '--quiet'].concat(
        pullRequestFormats(out),
      ),
      { cwd: here },
    );
    expect(result.code).toBe(0);
    const github = readFileSync(join(out, 'querygate.github.txt'), 'utf8');
    expect(github).not.toMatch(/PASSED|FAILED/);
    expect(github).not.toMatch(/^::error/m);
    expect(readFileSync(join(out, 'querygate.junit.xml'), 'utf8')).toMatch(/<testsuites [^>]*failures="0"/);
    expect(readFileSync(join(out, 'querygate.md'), 'utf8')).toMatch(/^## querygate report$/m);
  });

  it("a config's failOn gates a run without a budget, and every output and message tell the same verdict", async () => {
    // Out of the directory of the other tests, whose budget the run would find.
    const here = mkdtempSync(join(tmpdir(), 'qg-config-gated-'));
    writeFileSync(join(here, 'querygate.config.yaml'), 'failOn: warning\n');
    const out = join(here, 'out');
    const result = await runCli(
      ['run', ...workload, '--database-url', url, '--out', join(here, 'r.json'), '--quiet', '-v'].concat(
        pullRequestFormats(out),
      ),
      { cwd: here },
    );
    expect(result.code).toBe(1);
    const config = join(here, 'querygate.config.yaml');
    expect(result.stderr).toContain(`fail-on=warning (failOn of ${config})`);
    expect(result.stderr).toMatch(
      new RegExp(`finding\\(s\\) at or above warning \\(failOn of ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`),
    );
    expect(result.stderr).not.toContain('--fail-on warning');
    expect(readFileSync(join(out, 'querygate.github.txt'), 'utf8')).toMatch(/^::error title=querygate::FAILED: /m);
    expect(readFileSync(join(out, 'querygate.junit.xml'), 'utf8')).toMatch(/<testsuites [^>]*failures="[1-9]/);
    expect(readFileSync(join(out, 'querygate.md'), 'utf8')).toMatch(/^## ❌ querygate: findings at or above warning$/m);
    const report = JSON.parse(readFileSync(join(here, 'r.json'), 'utf8')) as Report;
    expect(report.gate?.passed).toBe(false);
    expect(report.gate?.budget).toBeUndefined();
  });

  it("the CI recipe: run --no-budget leaves the config's failOn to check, which accepts what the budget accepts", async () => {
    const here = join(dir, 'recipe');
    mkdirSync(here, { recursive: true });
    writeFileSync(join(here, 'querygate.config.yaml'), 'failOn: warning\n');
    const init = await runCli(['budget', 'init', join(dir, 'first.json'), '--timing-headroom', '400'], { cwd: here });
    expect(init.code).toBe(0);
    const ran = await runCli(
      ['run', ...workload, '--database-url', url, '--out', join(here, 'r.json'), '--no-budget', '--quiet', '-v'],
      { cwd: here },
    );
    expect(ran.stderr).toMatch(
      /fail-on=none \(--no-budget: the run gates nothing; warning \(failOn of .*querygate\.config\.yaml\) is check's\)/,
    );
    expect(ran.code).toBe(0);
    const checked = await runCli(['check', join(here, 'r.json'), '--quiet'], { cwd: here });
    expect(checked.stdout).toMatch(/Gate PASSED: .* at or above warning/);
    expect(checked.code).toBe(0);
    // A --fail-on given to the run itself still gates it.
    const flagged = await runCli(
      [
        'run',
        ...workload,
        '--database-url',
        url,
        '--out',
        join(here, 'r2.json'),
        '--no-budget',
        '--quiet',
        '--fail-on',
        'warning',
      ],
      { cwd: here },
    );
    expect(flagged.code).toBe(1);
    expect(flagged.stderr).toMatch(/finding\(s\) at or above warning \(--fail-on\)/);
  });
});
