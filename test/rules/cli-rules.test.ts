/**
 * The CLI around the rules, through the built binary: `querygate rules [id]`, `run --fail-on`,
 * `run --config`, the config file found from the working directory. Needs `npm run build`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULES } from '../../src/rules/index.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase } from '../support/db.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-rules-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at /m);

describe('querygate rules', () => {
  it('lists every rule with its default severity and description', async () => {
    const result = await runCli(['rules'], { env: { COLUMNS: '400' } });
    expect(result.code).toBe(0);
    for (const rule of RULES) {
      const line = result.stdout.split('\n').find((l) => l.startsWith(`${rule.id} `));
      expect(line, rule.id).toContain(rule.description);
      expect(line).toContain(rule.severity);
    }
    // At 80 columns a description wraps under itself.
    const narrow = await runCli(['rules'], { env: { COLUMNS: '80' } });
    const lines = narrow.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
    const at = lines.findIndex((l) => l.startsWith('row-estimate-mismatch '));
    const indent = lines[0]!.indexOf('description');
    let described = lines[at]!.slice(indent);
    for (let k = at + 1; lines[k]?.startsWith(' '.repeat(indent)); k++) described += ` ${lines[k]!.trim()}`;
    expect(described).toBe(RULES.find((r) => r.id === 'row-estimate-mismatch')!.description);
  });

  it("prints a rule's documentation and its defaults", async () => {
    const result = await runCli(['rules', 'non-sargable-predicate']);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe(RULES.find((r) => r.id === 'non-sargable-predicate')!.description);
    expect(result.stdout).toContain('## Fix');
    expect(result.stdout).toContain('Defaults: minRows=10000, indexableShare=0.667');
  });

  it('rejects an unknown rule with one line and exit code 2', async () => {
    const result = await runCli(['rules', 'no-such-rule']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(
      /^querygate: error: unknown rule "no-such-rule" \(known rules: seq-scan-large-table, /,
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('querygate run with rules', () => {
  let url: string;
  const args = () => [
    'run',
    '--workload',
    join(dir, 'workload.sql'),
    '--schema',
    join(dir, 'schema.sql'),
    '--setup',
    '--database-url',
    url,
    '--repeat',
    '2',
    '--rounds',
    '1',
    '--connections',
    '1',
    '--out',
    join(dir, 'report.json'),
    '--quiet',
  ];

  beforeAll(async () => {
    url = await createTestDatabase('rules_cli');
    writeFileSync(
      join(dir, 'schema.sql'),
      `DROP TABLE IF EXISTS invoices;
       CREATE TABLE invoices (id bigint PRIMARY KEY, customer integer NOT NULL, total integer NOT NULL);
       INSERT INTO invoices SELECT g, g % 1000, g % 97 FROM generate_series(1, 20000) AS g;`,
    );
    // A selective filter on an unindexed column of a 20,000-row table: seq-scan-large-table, error.
    writeFileSync(
      join(dir, 'workload.sql'),
      'SELECT sum(total) FROM invoices WHERE customer = 7;\nSELECT total FROM invoices WHERE id = 7;\n',
    );
  });

  it('--fail-on error exits 1 and names the failing rule', async () => {
    const result = await runCli([...args(), '--fail-on', 'error']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('finding(s) at or above error (--fail-on): seq-scan-large-table');
  });

  it('without --fail-on the run passes, and findings are in the summary', async () => {
    const result = await runCli(args().filter((a) => a !== '--quiet'));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Findings \(1 error/);
    expect(result.stdout).toContain('ERROR   seq-scan-large-table');
    // The rule's suggestion, or the index advice validated on the planner that replaces it.
    expect(result.stdout).toMatch(/fix: CREATE INDEX .*public\.invoices.* \(customer[,)]/);
  });

  it('--config can lower a rule below the gate', async () => {
    writeFileSync(join(dir, 'lenient.yaml'), 'rules:\n  seq-scan-large-table: info\n  high-db-time-share: off\n');
    const result = await runCli([...args(), '--fail-on', 'warning', '--config', join(dir, 'lenient.yaml')]);
    expect(result.code).toBe(0);
  });

  it('finds querygate.config.yaml above the working directory, with its failOn', async () => {
    const project = join(dir, 'project');
    mkdirSync(join(project, 'sub'), { recursive: true });
    writeFileSync(join(project, 'querygate.config.yaml'), 'failOn: error\n');
    const result = await runCli(args(), { cwd: join(project, 'sub') });
    expect(result.code).toBe(1);
    // The threshold came from the config, not from a flag: the message says which file.
    expect(result.stderr).toContain(
      `finding(s) at or above error (failOn of ${join(project, 'querygate.config.yaml')})`,
    );
    expect(result.stderr).not.toContain('--fail-on');
  });

  it('rejects a bad config file before running, naming file:line:field (exit 2)', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'rules:\n  slow-mean:\n    thresholdMs: fast\n');
    const result = await runCli([...args(), '--config', join(dir, 'bad.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/bad\.yaml:3:\d+: rules\.slow-mean\.thresholdMs: must be number/);
    noStack(result.stderr);
  });

  it('rejects a bad --fail-on value (exit 2)', async () => {
    const result = await runCli([...args(), '--fail-on', 'sometimes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--fail-on must be error or warning, got "sometimes"');
    noStack(result.stderr);
  });
});
