import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, scratchDatabase, withSession } from './support/db.js';
import { runCli, runCliInterrupted } from './support/cli.js';
import { validateReport } from './support/report-schema.js';

/** Creates a login role unless it exists (roles are shared by the databases of a server). */
const createRoleSql = (name: string, password: string) =>
  `DO $$ BEGIN CREATE ROLE ${name} LOGIN PASSWORD '${password}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`;

/** The URL of database `db` for a role of its own. */
function roleUrl(db: string, name: string, password: string): URL {
  const url = new URL(db);
  url.username = name;
  url.password = password;
  return url;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const sql = (name: string) => here(`./fixtures/sql/${name}`);
const scenario = (name: string) => here(`./fixtures/scenarios/${name}`);

describe('querygate run (CLI)', () => {
  let dir: string;
  let url: string;
  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('cli'));
  });

  it('runs a SQL workload on the embedded default and writes a schema-valid report', async () => {
    const out = join(dir, 'embedded.json');
    const scratch = mkdtempSync(join(tmpdir(), 'querygate-tmp-'));
    chmodSync(scratch, 0o755);
    const result = await runCli(
      [
        'run',
        '--workload',
        sql('workload.sql'),
        '--schema',
        sql('schema.sql'),
        '--seed',
        sql('seed.sql'),
        '--repeat',
        '4',
        '--connections',
        '2',
        '--out',
        out,
      ],
      { env: { TMPDIR: scratch } },
    );
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.target.kind).toBe('embedded');
    // The database was built from these files alone: their digest, in the order applied.
    const digest = createHash('sha256');
    for (const file of ['schema.sql', 'seed.sql']) digest.update(readFileSync(sql(file), 'utf8')).update('\0');
    expect(report.workload.setupSha256).toBe(digest.digest('hex'));
    expect(report.queries).toHaveLength(4);
    expect(result.stdout).toContain('count(*) FROM events');
    // The embedded server's temporary directory is gone.
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('runs a scenario against --database-url, never printing the password', async () => {
    const out = join(dir, 'external.json');
    const result = await runCli(['run', scenario('valid.yaml'), '--database-url', url, '--setup', '--out', out]);
    expect(result.code).toBe(0);
    const password = new URL(url).password;
    expect(result.stdout + result.stderr + readFileSync(out, 'utf8')).not.toContain(password);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.target.kind).toBe('external');
    // A database querygate did not build: its setup files say nothing of everything else in it.
    expect(report.workload.setupSha256).toBeUndefined();
    expect(report.workload.kind).toBe('scenario');
    expect(report.totals.calls).toBe(60);
    const events = report.queries.find((q: { source?: string }) => q.source === 'events of a kind');
    expect(events.plan.mode).toBe('params');
    expect(events.plan.params).toHaveLength(2);
  });

  it('reads DATABASE_URL from the environment, and COLUMNS for the width of output that is not a terminal', async () => {
    const out = join(dir, 'env.json');
    const result = await runCli(['run', '--workload', sql('workload.sql'), '--repeat', '1', '--out', out], {
      env: { DATABASE_URL: url, COLUMNS: '80' },
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).target.kind).toBe('external');
    const lines = result.stdout.split('\n');
    expect(lines.some((line) => line.includes('Findings'))).toBe(true);
    expect(lines.filter((line) => line.length > 80)).toEqual([]);
  });

  it('exits 2 naming the field and line of an invalid scenario', async () => {
    const result = await runCli(['run', scenario('bad-field.yaml'), '--database-url', url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bad-field.yaml:9:5: statements[1].wieght: unknown field');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 naming the extra argument, and the option that took the next flag as its value', async () => {
    // `--database-url $DBURL --statement-timeout 8s` with DBURL unset.
    const result = await runCli(['run', 'lateral.yaml', '--database-url', '--statement-timeout', '8s']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n').slice(0, 2)).toEqual([
      "querygate: error: too many arguments for 'run'. Expected 1 argument but got 2. The extra argument is '8s'.",
      "querygate: hint: --database-url took '--statement-timeout' as its value: is its value missing (an unset environment variable)?",
    ]);
    const two = await runCli(['run', 'a.yaml', 'b.yaml']);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(
      /^querygate: error: too many arguments for 'run'\. .* The extra argument is 'b\.yaml'\.\n\(run/,
    );
  });

  it('exits 2 for a missing scenario file', async () => {
    const result = await runCli(['run', join(dir, 'nope.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/scenario file not found: .*nope\.yaml/);
  });

  it('exits 2 with file:line:column and a caret for invalid SQL', async () => {
    const result = await runCli(['run', '--workload', sql('bad-workload.sql'), '--database-url', url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bad-workload.sql:4:10: invalid SQL: syntax error at or near "FORM"');
    expect(result.stderr).toContain('  4 | SELECT * FORM accounts;');
    const inScenario = await runCli(['run', scenario('bad-sql.yaml'), '--database-url', url]);
    expect(inScenario.code).toBe(2);
    // Placed in the scenario file: line 7 is the statement's third line, indented by its block.
    expect(inScenario.stderr).toContain(
      'bad-sql.yaml:7:13: statements[0].sql: invalid SQL: syntax error at or near "id"',
    );
    expect(inScenario.stderr).toContain('  7 |  WHRE id = 1');
  });

  it('exits 2 listing every scenario statement that cannot be replayed or has the wrong number of generators, each at its line', async () => {
    const file = join(dir, 'refused.yaml');
    writeFileSync(
      file,
      [
        'statements:',
        '  - name: set',
        "    sql: SET work_mem = '1GB'",
        '  - name: into',
        '    sql: SELECT * INTO TEMP t FROM accounts',
        '  - name: too few params',
        '    sql: SELECT * FROM accounts WHERE id = $1 AND balance > $2',
        '    params: [{ int: { min: 1, max: 10 } }]',
        '  - name: too many params',
        '    sql: SELECT 1 FROM accounts WHERE id = $1',
        '    params: [{ int: { min: 1, max: 10 } }, { value: 3 }]',
        '  - name: unclosed',
        '    sql: |',
        '      SELECT owner, sum(balance)',
        '        FROM accounts',
        '       GROUP BY ROLLUP (owner',
        '  - name: last',
        '    sql: SELECT 1',
        '',
      ].join('\n'),
    );
    // Run from the file's directory: error locations name it relative to the working directory.
    const result = await runCli(['run', file, '--database-url', url], { cwd: dir });
    expect(result.code).toBe(2);
    const errors = result.stderr.split('\n').filter((l) => /^(querygate: error: )?refused\.yaml:/.test(l));
    expect(errors.map((l) => l.replace('querygate: error: ', '').split(': ').slice(0, 2).join(': '))).toEqual([
      'refused.yaml:3:10: statements[0].sql',
      'refused.yaml:5:10: statements[1].sql',
      'refused.yaml:8:13: statements[2].params',
      'refused.yaml:11:44: statements[3].params',
      'refused.yaml:16:30: statements[4].sql',
    ]);
    // The unclosed parenthesis at the end of its own text, not on the next item's line.
    expect(result.stderr).toContain('refused.yaml:16:30: statements[4].sql: invalid SQL: syntax error at end of input');
    expect(result.stderr).toContain('  16 |  GROUP BY ROLLUP (owner\n');
    expect(result.stdout).toBe('');
  });

  it('exits 2 naming the field and name of every scenario statement with a missing table or column, and the values PostgreSQL refuses, in one run', async () => {
    const db = await createTestDatabase('cli_missing');
    await withSession(db, (s) => s.query(readFileSync(sql('schema.sql'), 'utf8')));
    const file = join(dir, 'missing.yaml');
    writeFileSync(
      file,
      [
        'statements:',
        '  - name: missing table',
        '    sql: |',
        '      SELECT a.owner, count(*)',
        '        FROM accounts a JOIN account_owners o ON o.id = a.id',
        '       GROUP BY 1',
        '  - name: missing column',
        '    sql: "SELECT owner, ballance FROM accounts WHERE id = $1"',
        '    params: [{ int: { min: 1, max: 10 } }]',
        '  - name: bad param type',
        '    sql: SELECT * FROM events WHERE created_at > $1',
        '    params: [{ string: { length: 5 } }]',
        '',
      ].join('\n'),
    );
    const result = await runCli(['run', file, '--database-url', db]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'missing.yaml:5:30: statements[0].sql: statement "missing table": relation "account_owners" does not exist',
    );
    expect(result.stderr).toContain(
      'missing.yaml:8:25: statements[1].sql: statement "missing column": column "ballance" does not exist',
    );
    expect(result.stderr).toMatch(
      /missing\.yaml:11:10: statement "bad param type": params\[0\] \(string\) gave "\w+" for \$1/,
    );
  });

  it('places a missing column or privilege of a folded (>-) statement at its line and column in the scenario file, every problem in file order', async () => {
    const db = await createTestDatabase('cli_folded');
    await withSession(db, async (s) => {
      await s.query(readFileSync(sql('schema.sql'), 'utf8'));
      await s.query(createRoleSql('qg_folded', 'folded'));
    });
    const file = join(dir, 'folded.yaml');
    writeFileSync(
      file,
      [
        'statements:',
        '  - name: bad param type',
        '    sql: SELECT * FROM accounts WHERE id = $1',
        '    params: [{ pick: [one, two] }]',
        '  - name: typo column',
        '    sql: >-',
        '      SELECT id FROM accounts',
        '       WHERE id = $1 ORDER BY ownr',
        '    params: [{ int: { min: 1, max: 5 } }]',
        '  - name: upsert',
        '    sql: >-',
        '      INSERT INTO accounts VALUES ($1, $2, 0)',
        '      ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner',
        '    params: [{ int: { min: 1, max: 5 } }, { value: x }]',
        '',
      ].join('\n'),
    );
    const result = await runCli(['run', file, '--database-url', db], { cwd: dir });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.split('\n').filter((l) => l.trim() !== '')).toEqual([
      'querygate: error: folded.yaml:3:10: statement "bad param type": params[0] (pick) gave "two" for $1, which PostgreSQL refuses: invalid input syntax for type integer: "two"',
      '  folded.yaml:4:14: statements[0].params[0]: its values must be valid input for the type PostgreSQL infers for $1',
      'folded.yaml:8:31: statements[1].sql: statement "typo column": column "ownr" does not exist',
      '  8 |  WHERE id = $1 ORDER BY ownr',
      '    |                         ^',
    ]);
    // A role without privileges: every statement is named at its place in the file, folded ones too.
    const role = roleUrl(db, 'qg_folded', 'folded');
    writeFileSync(file, readFileSync(file, 'utf8').replace('ORDER BY ownr', 'ORDER BY owner'));
    const denied = await runCli(['run', file, '--database-url', role.toString()], { cwd: dir });
    expect(denied.code, denied.stderr).toBe(3);
    expect(denied.stderr).toContain(
      'querygate: error: folded.yaml:3:10: statements[0].sql: statement "bad param type": permission denied for table accounts',
    );
    expect(denied.stderr).toContain(
      '  folded.yaml:7:7: statements[1].sql: statement "typo column": permission denied for table accounts\n',
    );
    expect(denied.stderr).toContain(
      '  folded.yaml:12:7: statements[2].sql: statement "upsert": permission denied for table accounts\n',
    );
  });

  it('refuses a workload that is not UTF-8 with the line and column of its first foreign byte, and reads one with a byte order mark', async () => {
    const latin1 = join(dir, 'latin1.sql');
    writeFileSync(latin1, Buffer.from("SELECT 1;\nSELECT 'caf\xe9' AS name;\n", 'latin1'));
    const refused = await runCli(['run', '--workload', latin1, '--database-url', url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${latin1}:2:12: workload file is not UTF-8 (byte 0xe9): save it as UTF-8`);
    expect(refused.stdout).toBe('');
    const bom = join(dir, 'bom.sql');
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('SELECT 1 AS one;\n')]));
    const out = join(dir, 'bom.json');
    const read = await runCli(['run', '--workload', bom, '--database-url', url, '--repeat', '1', '--out', out]);
    expect(read.stderr).not.toContain('syntax error');
    expect(read.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).totals.calls).toBe(1);
  });

  it('exits 2 naming file:line:column of every statement that references a missing table or column, before replaying anything', async () => {
    const result = await runCli(['run', '--workload', sql('missing-table.sql'), '--database-url', url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('missing-table.sql:3:8: column "no_such_column" does not exist');
    expect(result.stderr).toContain('  3 |        no_such_column');
    expect(result.stderr).toContain('missing-table.sql:5:15: relation "no_such_table" does not exist');
    expect(result.stdout).toBe('');
  });

  it('creates the directory of --out, and exits 2 before running when it cannot be written', async () => {
    const nested = join(dir, 'reports', 'pr', 'report.json');
    const ok = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--repeat',
      '1',
      '--database-url',
      url,
      '--out',
      nested,
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(readFileSync(nested, 'utf8')).run.complete).toBe(true);
    const notADirectory = join(dir, 'reports', 'pr', 'report.json', 'x.json');
    const bad = await runCli(['run', '--workload', sql('workload.sql'), '--database-url', url, '--out', notADirectory]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^querygate: error: --out .*x\.json: cannot write to /m);
    expect(bad.stdout).toBe('');
  });

  it('exits 2 before running when --out or --output-dir cannot be written, and leaves no file behind', async () => {
    const run = (...flags: string[]) =>
      runCli(['run', '--workload', sql('workload.sql'), '--database-url', url, '--verbose', ...flags]);
    const existing = mkdtempSync(join(dir, 'out-'));
    const isDir = await run('--out', existing);
    expect(isDir.code).toBe(2);
    expect(isDir.stderr).toMatch(/^querygate: error: --out .*out-\w+: is a directory; give a file path$/m);
    expect(isDir.stderr).not.toContain('replaying');
    const proc = await run('--out', '/proc/querygate-report.json');
    expect(proc.code).toBe(2);
    expect(proc.stderr).toMatch(/^querygate: error: --out \/proc\/querygate-report\.json: cannot write to /m);
    expect(proc.stderr).not.toContain('replaying');
    const outputDir = await run('--out', join(existing, 'r.json'), '--output-dir', sql('workload.sql'));
    expect(outputDir.code).toBe(2);
    expect(outputDir.stderr).toMatch(/^querygate: error: --output-dir .*workload\.sql: is a file, not a directory$/m);
    expect(outputDir.stderr).not.toMatch(/^\s+at /m);
    // The check opened nothing it leaves behind.
    expect(readdirSync(existing)).toEqual([]);
  });

  it('keeps the measurement when the report cannot be written after the run: saved to the temporary directory, exit 3', async () => {
    const temp = mkdtempSync(join(dir, 'tmp-'));
    // /dev/full opens for writing, so the check passes, and every write to it fails with ENOSPC.
    const result = await runCli(
      ['run', '--workload', sql('workload.sql'), '--repeat', '1', '--database-url', url, '--out', '/dev/full', '-q'],
      { env: { TMPDIR: temp } },
    );
    expect(result.code, result.stderr).toBe(3);
    const saved = readdirSync(temp).filter((f) => /^querygate-report-.*\.json$/.test(f));
    expect(saved).toHaveLength(1);
    expect(result.stderr.trim()).toBe(
      `querygate: error: --out /dev/full: cannot write to it: no space left on the device (ENOSPC); the report was written to ${join(temp, saved[0]!)} instead`,
    );
    expect(JSON.parse(readFileSync(join(temp, saved[0]!), 'utf8')).run.complete).toBe(true);
  });

  it('sizes the embedded server for the connections asked for, and refuses more than 1000', async () => {
    const out = join(dir, 'many.json');
    const many = await runCli(
      [
        'run',
        '--workload',
        sql('workload.sql'),
        '--schema',
        sql('schema.sql'),
        '--connections',
        '120',
        '--repeat',
        '1',
        '--rounds',
        '1',
        '--out',
        out,
        '-q',
      ],
      { timeoutMs: 120_000 },
    );
    expect(many.stderr).not.toContain('too many clients');
    expect(many.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).workload.connections).toBe(120);
    const tooMany = await runCli(['run', '--workload', sql('workload.sql'), '--connections', '1001']);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('--connections must be at most 1000, got 1001');
  });

  it('exits 3 before the replay when the external server has fewer free connections than asked for', async () => {
    const result = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--database-url',
      url,
      '--connections',
      '1000',
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      /querygate: error: the replay needs 1000 connection\(s\) but 127\.0\.0\.1:\d+ has \d+ free \(max_connections \d+, \d+ in use.*\): lower --connections or raise max_connections on the server/,
    );
  });

  it('names --baseline when its report cannot be read', async () => {
    const result = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--database-url',
      url,
      '--baseline',
      'nope.json',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('querygate: error: --baseline: report not found: nope.json');
  });

  it('exits 2 for rounds that cannot all have calls', async () => {
    const tooMany = await runCli(['run', '--workload', sql('workload.sql'), '--rounds', '101', '--database-url', url]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('--rounds must be at most 100');
    const empty = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--rounds',
      '5',
      '--repeat',
      '2',
      '--database-url',
      url,
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain(
      'querygate: error: 5 rounds need at least 5 calls of every statement, but repeat is 2: lower rounds to 2 or fewer, or raise repeat to 5 or more',
    );
  });

  it('hints at --setup when a statement misses a table of setup files that were not applied', async () => {
    const empty = await createTestDatabase('nosetup');
    const result = await runCli(['run', scenario('valid.yaml'), '--database-url', empty]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/does not exist/);
    expect(result.stderr).toContain('hint: the setup files were not applied to the external database: pass --setup');
  });

  it('exits 2 for bad flags', async () => {
    expect((await runCli(['run', '--workload', sql('workload.sql'), '--repeat', 'many'])).code).toBe(2);
    expect((await runCli(['run'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const notAUrl = await runCli(['run', '--workload', sql('workload.sql')], { env: { DATABASE_URL: 'secret@db' } });
    expect(notAUrl.code).toBe(2);
    expect(notAUrl.stderr).toContain('DATABASE_URL is not a PostgreSQL URL');
    expect(notAUrl.stderr).not.toContain('secret');
  });

  it('refuses a statement timeout of 0 (PostgreSQL: none) with exit 2, and -v prints the one in force', async () => {
    for (const value of ['0', '0s', '0ms']) {
      const zero = await runCli(['run', '--workload', sql('workload.sql'), '--statement-timeout', value]);
      expect(zero.code).toBe(2);
      expect(zero.stderr).toContain(
        `querygate: error: --statement-timeout must be more than 0, got "${value}" (to PostgreSQL, 0 means no timeout`,
      );
    }
    const out = join(dir, 'timeout-setting.json');
    const one = join(dir, 'one.sql');
    writeFileSync(one, 'SELECT 1 AS one;\n');
    const args = ['run', '--workload', one, '--repeat', '1', '--database-url', url, '--out', out];
    const verbose = await runCli([...args, '--statement-timeout', '1.5s', '-v', '-q']);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stderr).toMatch(/^settings: .* statement-timeout=1500ms /m);
    // --threads is clamped to the connections: the settings show the threads the replay uses.
    const byDefault = await runCli([...args, '-c', '2', '--threads', '8', '-v', '-q']);
    expect(byDefault.stderr).toMatch(/^settings: .* statement-timeout=60000ms /m);
    expect(byDefault.stderr).toMatch(/^settings: .* connections=2 threads=2 /m);
  });

  it('exits 3 when the database is unreachable', async () => {
    const result = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--database-url',
      'postgres://u:secret@127.0.0.1:1/db',
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('cannot connect to PostgreSQL at 127.0.0.1:1: connection refused');
    expect(result.stderr).not.toContain('secret');
  });

  it('exits 3 saying what to run when pg_stat_statements is not installed in the database', async () => {
    const bare = await createTestDatabase('bare');
    await withSession(bare, (s) => s.query('DROP EXTENSION pg_stat_statements'));
    const result = await runCli(['run', '--workload', sql('workload.sql'), '--database-url', bare]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      /pg_stat_statements is loaded but not installed in database "bare_\w+".*CREATE EXTENSION pg_stat_statements/,
    );
  });

  it('applies --setup files before checking that pg_stat_statements is installed: a setup file may create it', async () => {
    const bare = await createTestDatabase('setup_ext');
    await withSession(bare, (s) => s.query('DROP EXTENSION pg_stat_statements'));
    const extension = join(dir, 'extension.sql');
    writeFileSync(extension, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n');
    const out = join(dir, 'setup-ext.json');
    const result = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--schema',
      extension,
      '--schema',
      sql('schema.sql'),
      '--seed',
      sql('seed.sql'),
      '--database-url',
      bare,
      '--setup',
      '--repeat',
      '2',
      '--out',
      out,
    ]);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.target.pgStatStatementsVersion).toMatch(/^\d+\.\d+$/);
    expect(report.queries).toHaveLength(4);
  });

  it('checks pg_stat_statements after the --setup files, and when they did not create it refuses with the same message, rolling them back', async () => {
    const bare = await createTestDatabase('setup_no_ext');
    await withSession(bare, (s) => s.query('DROP EXTENSION pg_stat_statements'));
    const result = await runCli([
      'run',
      '--workload',
      sql('workload.sql'),
      '--schema',
      sql('schema.sql'),
      '--seed',
      sql('seed.sql'),
      '--database-url',
      bare,
      '--setup',
      '--verbose',
    ]);
    expect(result.code).toBe(3);
    // The files were applied first.
    // Named relative to the working directory, as error locations name files.
    const applied = result.stderr.indexOf('querygate: applying test/fixtures/sql/schema.sql');
    expect(applied, result.stderr).toBeGreaterThanOrEqual(0);
    expect(result.stderr.indexOf('pg_stat_statements is loaded but not installed')).toBeGreaterThan(applied);
    expect(result.stderr).toMatch(
      /^querygate: error: pg_stat_statements is loaded but not installed in database "setup_no_ext_\w+" on 127\.0\.0\.1:\d+: run CREATE EXTENSION pg_stat_statements; in that database$/m,
    );
    // The files ran in one transaction, which the refusal rolled back.
    const tables = await withSession(bare, (s) => s.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'public'`));
    expect(tables.rowCount).toBe(0);
  });

  it('exits 3 when the user may not read pg_stat_statements', async () => {
    const db = await createTestDatabase('perm');
    await withSession(db, async (s) => {
      await s.query('REVOKE ALL ON pg_stat_statements FROM PUBLIC');
      await s.query('REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC');
      await s.query(createRoleSql('qg_limited', 'limited'));
    });
    const limited = roleUrl(db, 'qg_limited', 'limited');
    const result = await runCli(['run', '--workload', sql('workload.sql'), '--database-url', limited.toString()]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('cannot read pg_stat_statements');
    expect(result.stderr).toContain('GRANT EXECUTE ON FUNCTION public.pg_stat_statements(boolean)');
  });

  it('exits 3 naming the GRANT when the role may not use a schema or read a table of the workload', async () => {
    const db = await createTestDatabase('grants');
    await withSession(db, async (s) => {
      await s.query(createRoleSql('qg_nogrant', 'nogrant'));
      await s.query(`CREATE SCHEMA locked;
        CREATE TABLE locked.items (id int PRIMARY KEY);
        CREATE TABLE public.secrets (id int PRIMARY KEY, owner text)`);
    });
    const role = roleUrl(db, 'qg_nogrant', 'nogrant');
    const files = mkdtempSync(join(tmpdir(), 'querygate-grants-'));
    writeFileSync(join(files, 'schema.sql'), 'SELECT count(*) FROM locked.items;\n');
    writeFileSync(
      join(files, 'table.sql'),
      '-- Geheimnis lesen\n  SELECT owner FROM secrets WHERE id = 1;\n/* löschen */\nDELETE FROM secrets WHERE id = 2;\n',
    );
    const schema = await runCli(['run', '--workload', join(files, 'schema.sql'), '--database-url', role.toString()]);
    expect(schema.stderr).toContain('schema.sql:1:22: permission denied for schema locked');
    expect(schema.stderr).toContain('GRANT USAGE ON SCHEMA locked TO qg_nogrant;');
    expect(schema.code).toBe(3);
    const table = await runCli(['run', '--workload', join(files, 'table.sql'), '--database-url', role.toString()]);
    // At the statement's first token, not at the comment before it (the error has no position).
    expect(table.stderr).toContain('table.sql:2:3: permission denied for table secrets');
    expect(table.stderr).toContain('table.sql:4:1: permission denied for table secrets');
    // One GRANT per relation, schema-qualified, with every privilege the statements need on it.
    expect(table.stderr).toContain(
      'grant it (as the owner or a superuser): GRANT SELECT, DELETE ON public.secrets TO qg_nogrant;\n',
    );
    expect(table.code).toBe(3);
    expect(table.stdout).toBe('');
  });

  it('names a workload file in error locations as given, relative to the working directory, and keeps its statement names', async () => {
    const db = await createTestDatabase('grants_sub');
    await withSession(db, async (s) => {
      await s.query(createRoleSql('qg_nogrant_sub', 'nogrant'));
      await s.query('CREATE TABLE public.secrets (id int PRIMARY KEY, owner text)');
    });
    const role = roleUrl(db, 'qg_nogrant_sub', 'nogrant');
    const parent = mkdtempSync(join(tmpdir(), 'querygate-sub-'));
    mkdirSync(join(parent, 'sub'));
    writeFileSync(join(parent, 'sub', 'syntax.sql'), 'SELECT 1;\nSELECT id FORM secrets;\n');
    writeFileSync(join(parent, 'sub', 'denied.sql'), 'SELECT 1;\n  SELECT owner FROM secrets WHERE id = 1;\n');
    writeFileSync(
      join(parent, 'sub', 'scenario.yaml'),
      'statements:\n  - name: bad\n    sql: SELECT id FORM secrets\n',
    );
    const syntax = await runCli(['run', '--workload', 'sub/syntax.sql', '--database-url', db], { cwd: parent });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain(
      'querygate: error: sub/syntax.sql:2:16: invalid SQL: syntax error at or near "secrets"',
    );
    const inScenario = await runCli(['run', 'sub/scenario.yaml', '--database-url', db], { cwd: parent });
    expect(inScenario.code).toBe(2);
    expect(inScenario.stderr).toContain('sub/scenario.yaml:3:25: statements[0].sql: invalid SQL: syntax error');
    // A scenario's setup file is given relative to the scenario, and named relative to the working directory.
    writeFileSync(join(parent, 'sub', 'broken.sql'), 'CREATE TABLE t (id int;\n');
    writeFileSync(
      join(parent, 'sub', 'with-setup.yaml'),
      'setup:\n  schema: broken.sql\nstatements:\n  - sql: SELECT 1\n',
    );
    const inSetup = await runCli(['run', 'sub/with-setup.yaml', '--database-url', db], { cwd: parent });
    expect(inSetup.code).toBe(2);
    expect(inSetup.stderr).toContain('querygate: error: sub/broken.sql:1:23: invalid SQL: syntax error at or near ";"');
    const denied = await runCli(['run', '--workload', 'sub/denied.sql', '--database-url', role.toString()], {
      cwd: parent,
    });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toContain('sub/denied.sql:2:3: permission denied for table secrets');
    // Statement names stay `file:line` of the base name: budgets match on them wherever the run starts.
    const out = join(parent, 'report.json');
    const ok = await runCli(
      ['run', '--workload', 'sub/denied.sql', '--database-url', db, '--repeat', '3', '--out', out],
      { cwd: parent },
    );
    expect(ok.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { queries: { source?: string }[] };
    expect(report.queries.map((q) => q.source).sort()).toEqual(['denied.sql:1', 'denied.sql:2']);
  });

  it('exits 3 when a setup file needs a privilege the role lacks or an extension the server does not have, 2 when its SQL is wrong', async () => {
    const db = await createTestDatabase('setup_grants');
    await withSession(db, (s) => s.query(createRoleSql('qg_setup', 'setup')));
    const role = roleUrl(db, 'qg_setup', 'setup');
    const files = mkdtempSync(join(tmpdir(), 'querygate-setup-grants-'));
    const write = (name: string, text: string) => {
      writeFileSync(join(files, name), text);
      return join(files, name);
    };
    const workload = write('workload.sql', 'SELECT 1;\n');
    const setup = (schema: string, url: string) =>
      runCli(['run', '--workload', workload, '--schema', schema, '--setup', '--database-url', url, '--repeat', '1']);
    // PostgreSQL 15+ gives PUBLIC no CREATE on schema public: the role may not create a table there.
    const denied = await setup(
      write('schema.sql', '-- items\nCREATE TABLE public.items (id int PRIMARY KEY);\n'),
      role.toString(),
    );
    expect(denied.code, denied.stderr).toBe(3);
    expect(denied.stderr).toContain(
      'schema.sql:2:14: setup failed: permission denied for schema public: role qg_setup lacks a privilege the setup files need',
    );
    expect(denied.stderr).toContain('(rolled back: no setup file was applied)');
    const extension = await setup(write('extension.sql', 'CREATE EXTENSION querygate_no_such_extension;\n'), db);
    expect(extension.code, extension.stderr).toBe(3);
    expect(extension.stderr).toContain(
      'extension.sql:1: setup failed: extension "querygate_no_such_extension" is not available: the server does not have this extension',
    );
    // The SQL of the file itself: an input error.
    const wrong = await setup(write('wrong.sql', 'CREATE TABLE things (id int, kind no_such_type);\n'), db);
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toContain('wrong.sql:1:35: setup failed: type "no_such_type" does not exist');
  });

  it('names only the privileges a role lacks, derived from each statement, on schema-qualified relations', async () => {
    const db = await createTestDatabase('grants_upsert');
    await withSession(db, async (s) => {
      await s.query(createRoleSql('qg_writer', 'writer'));
      await s.query(`CREATE SCHEMA "Tele";
        CREATE TABLE "Tele".readings (device_id int, ts timestamptz, value float8, PRIMARY KEY (device_id, ts));
        CREATE TABLE "Tele".devices (id int PRIMARY KEY, last_seen timestamptz);
        GRANT USAGE ON SCHEMA "Tele" TO qg_writer;
        GRANT SELECT, INSERT ON "Tele".readings TO qg_writer;
        GRANT UPDATE ON "Tele".devices TO qg_writer`);
    });
    const role = roleUrl(db, 'qg_writer', 'writer');
    const files = mkdtempSync(join(tmpdir(), 'querygate-grants-'));
    writeFileSync(
      join(files, 'writes.sql'),
      [
        'INSERT INTO "Tele".readings VALUES (1, now(), 2) ON CONFLICT (device_id, ts) DO UPDATE SET value = EXCLUDED.value;',
        'UPDATE "Tele".devices SET last_seen = now() WHERE id = 1 RETURNING id;',
        '',
      ].join('\n'),
    );
    const args = ['run', '--workload', join(files, 'writes.sql'), '--database-url', role.toString(), '--repeat', '1'];
    const denied = await runCli(args);
    expect(denied.code, denied.stderr).toBe(3);
    // The upsert needs UPDATE too (it has SELECT and INSERT); the UPDATE with WHERE and RETURNING needs SELECT.
    expect(denied.stderr).toContain(
      'grant it (as the owner or a superuser): GRANT UPDATE ON "Tele".readings TO qg_writer; GRANT SELECT ON "Tele".devices TO qg_writer;\n',
    );
    // The GRANTs as printed are what the workload needs.
    const grants = /superuser\): (.*)\n/.exec(denied.stderr)![1]!;
    await withSession(db, (s) => s.query(grants));
    const granted = await runCli(args);
    expect(granted.stderr).not.toContain('permission denied');
    expect(granted.code, granted.stderr).toBe(0);
  });

  it('names the sequences an INSERT draws from, whose privilege only the replay would check', async () => {
    const db = await createTestDatabase('grants_sequence');
    await withSession(db, async (s) => {
      await s.query(createRoleSql('qg_sequence', 'sequence'));
      await s.query(`CREATE SCHEMA app;
        CREATE TABLE app.devices (id int PRIMARY KEY, last_seen timestamptz);
        CREATE TABLE app.readings (id bigserial PRIMARY KEY, device_id int, value float8);
        CREATE TABLE app.events (id bigint GENERATED ALWAYS AS IDENTITY, device_id int);
        CREATE SEQUENCE app.batch_seq;
        INSERT INTO app.devices VALUES (1, now());
        GRANT USAGE ON SCHEMA app TO qg_sequence;
        GRANT SELECT ON app.devices TO qg_sequence;
        GRANT SELECT, INSERT ON app.events TO qg_sequence`);
    });
    const role = roleUrl(db, 'qg_sequence', 'sequence');
    const files = mkdtempSync(join(tmpdir(), 'querygate-grants-'));
    writeFileSync(
      join(files, 'writes.sql'),
      [
        'INSERT INTO app.readings (device_id, value) VALUES (1, 2);',
        'UPDATE app.devices SET last_seen = now() WHERE id = 1;',
        // An identity column draws from its sequence with no privilege check.
        'INSERT INTO app.events (device_id) VALUES (1);',
        "SELECT nextval('app.batch_seq');",
        '',
      ].join('\n'),
    );
    const args = ['run', '--workload', join(files, 'writes.sql'), '--database-url', role.toString(), '--repeat', '1'];
    const denied = await runCli(args);
    expect(denied.code, denied.stderr).toBe(3);
    expect(denied.stderr).toContain(
      'grant it (as the owner or a superuser): GRANT INSERT ON app.readings TO qg_sequence; ' +
        'GRANT UPDATE ON app.devices TO qg_sequence; GRANT USAGE ON SEQUENCE app.readings_id_seq TO qg_sequence; ' +
        'GRANT USAGE ON SEQUENCE app.batch_seq TO qg_sequence;\n',
    );
    // With the table privileges alone, the sequences still stop the run before it starts.
    await withSession(db, (s) =>
      s.query('GRANT INSERT ON app.readings TO qg_sequence; GRANT UPDATE ON app.devices TO qg_sequence'),
    );
    const tablesOnly = await runCli(args);
    expect(tablesOnly.code, tablesOnly.stderr).toBe(3);
    expect(tablesOnly.stderr).toContain('writes.sql:1:1: permission denied for sequence app.readings_id_seq');
    expect(tablesOnly.stderr).toContain(
      'grant it (as the owner or a superuser): GRANT USAGE ON SEQUENCE app.readings_id_seq TO qg_sequence; ' +
        'GRANT USAGE ON SEQUENCE app.batch_seq TO qg_sequence;\n',
    );
    // The GRANTs as printed are what the workload needs.
    const grants = /superuser\): (.*)\n/.exec(tablesOnly.stderr)![1]!;
    await withSession(db, (s) => s.query(grants));
    const out = join(files, 'report.json');
    const granted = await runCli([...args, '--out', out]);
    expect(granted.stderr).not.toContain('permission denied');
    expect(granted.code, granted.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).totals.errors).toBe(0);
  });

  it('exits 3 naming the GRANT when the role may not read pg_stat_statements_info', async () => {
    const db = await createTestDatabase('info');
    await withSession(db, async (s) => {
      await s.query('REVOKE SELECT ON pg_stat_statements_info FROM PUBLIC');
      await s.query(createRoleSql('qg_noinfo', 'noinfo'));
    });
    const role = roleUrl(db, 'qg_noinfo', 'noinfo');
    const files = mkdtempSync(join(tmpdir(), 'querygate-info-'));
    writeFileSync(join(files, 'one.sql'), 'SELECT 1 AS one;\n');
    const result = await runCli(['run', '--workload', join(files, 'one.sql'), '--database-url', role.toString()]);
    expect(result.stderr).toContain('cannot read pg_stat_statements_info');
    expect(result.stderr).toContain('GRANT SELECT ON public.pg_stat_statements_info TO qg_noinfo;');
    expect(result.code).toBe(3);
  });

  it('prints only the interrupt when Ctrl-C reaches initdb while the embedded server starts', async () => {
    // The same Ctrl-C ends initdb (it is in the foreground group): the start fails because of the
    // interrupt, which is all there is to say. Later (setup), the outcome is the same line.
    const scratch = mkdtempSync(join(tmpdir(), 'querygate-tmp-'));
    chmodSync(scratch, 0o755);
    const result = await runCliInterrupted(['run', '--workload', sql('workload.sql'), '--schema', sql('schema.sql')], {
      env: { TMPDIR: scratch },
      group: true,
      when: 'starting an embedded PostgreSQL',
      // Well inside initdb, which takes a second or more even on a quiet machine.
      afterMs: 300,
    });
    expect(result.interruptedAt).toBeDefined();
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).not.toMatch(/error|initdb/);
    expect(result.stderr).toMatch(
      /querygate: interrupted by SIGINT before the replay began: nothing was measured, no report written\n$/,
    );
    expect(readdirSync(scratch).filter((f) => f.startsWith('querygate-'))).toEqual([]);
  });

  it('writes the partial report of an embedded run when Ctrl-C reaches its whole process group', async () => {
    // A terminal's Ctrl-C signals every process of the foreground job; the embedded server must not
    // shut down with it before the final snapshot.
    const out = join(dir, 'interrupted-embedded.json');
    const scratch = mkdtempSync(join(tmpdir(), 'querygate-tmp-'));
    chmodSync(scratch, 0o755);
    const result = await runCliInterrupted(
      ['run', '--workload', sql('workload.sql'), '--schema', sql('schema.sql'), '--seed', sql('seed.sql')].concat([
        '--duration',
        '60s',
        '--out',
        out,
      ]),
      // The replay's threads start and connect after "replaying" is printed: on a busy machine a
      // second was not always enough for a call to complete.
      { env: { TMPDIR: scratch }, group: true, afterMs: 4000 },
    );
    expect(result.interruptedAt).toBeDefined();
    expect(result.code).toBe(130);
    expect(result.stderr).not.toMatch(/unexpected error|setup failed/);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run.complete).toBe(false);
    expect(report.totals.calls).toBeGreaterThan(0);
    expect(readdirSync(scratch).filter((f) => f.startsWith('querygate-'))).toEqual([]);
  });

  it('writes the partial report and exits 130 when interrupted with Ctrl-C', async () => {
    const out = join(dir, 'interrupted.json');
    const result = await runCliInterrupted(
      ['run', '--workload', sql('workload.sql'), '--duration', '60s', '--database-url', url, '--out', out],
      // Time for the replay threads to start and make calls on a busy machine.
      { afterMs: 3000 },
    );
    expect(result.code).toBe(130);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run.complete).toBe(false);
    expect(report.run.interruptedBy).toBe('interrupted by SIGINT');
    expect(report.totals.calls).toBeGreaterThan(0);
    expect(result.stderr).toContain('(incomplete)');
  });

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`writes the partial report and exits ${code} (128 + the signal's number) on ${signal}`, async () => {
      const out = join(dir, `interrupted-${signal}.json`);
      const one = join(dir, 'one.sql');
      writeFileSync(one, 'SELECT 1 AS one;\n');
      const result = await runCliInterrupted(
        ['run', '--workload', one, '--duration', '60s', '--database-url', url, '--out', out],
        { afterMs: 3000, signal },
      );
      expect(result.code, result.stderr).toBe(code);
      const report = JSON.parse(readFileSync(out, 'utf8'));
      expect(report.run).toMatchObject({ complete: false, interruptedBy: `interrupted by ${signal}` });
      expect(report.totals.calls).toBeGreaterThan(0);
    });
  }

  it('does not count the calls an interrupt cancels as failures: no statement-errors finding, no error rate for check to fail', async () => {
    const workload = join(dir, 'sleepy.sql');
    writeFileSync(workload, '-- nap\nSELECT pg_sleep(30);\n-- quick\nSELECT 1 AS one;\n');
    const out = join(dir, 'interrupted-sleep.json');
    const result = await runCliInterrupted(
      ['run', '--workload', workload, '-c', '2', '--threads', '2', '--database-url', url, '--out', out, '--no-budget'],
      { afterMs: 2000 },
    );
    expect(result.code, result.stderr).toBe(130);
    expect(result.stdout).not.toContain('statement-errors');
    expect(result.stdout).toMatch(/\d+ calls? cut short by the stop,/);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    const nap = report.queries.find((q: { source?: string }) => q.source === 'nap');
    expect(nap).toMatchObject({ calls: 0, errors: 0, errorSamples: [] });
    expect(nap.cancelledAtStop.calls).toBeGreaterThanOrEqual(1);
    expect(report.totals.errors).toBe(0);
    // The gate fails because the run was interrupted, and for nothing else.
    const budget = join(dir, 'error-rate.budget.yaml');
    writeFileSync(budget, 'version: 1\nlimits:\n  errorRate: 0.01\n');
    const check = await runCli(['check', out, '--budget', budget]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(
      'Gate FAILED: the run was interrupted (interrupted by SIGINT), so the gate cannot pass; 0 of 1 limit(s) exceeded',
    );
    expect(check.stdout).not.toMatch(/FAIL limits\.errorRate/);
  });

  it('cancels a long seed on Ctrl-C instead of waiting for it: exit 130, no report of nothing measured', async () => {
    const seed = join(dir, 'slow-seed.sql');
    writeFileSync(
      seed,
      "SELECT 1;\nSELECT pg_sleep(30) WHERE current_setting('application_name') = 'querygate-setup';\n",
    );
    const out = join(dir, 'interrupted-setup.json');
    const started = Date.now();
    const result = await runCliInterrupted(
      ['run', '--workload', sql('workload.sql'), '--seed', seed, '--setup', '--database-url', url, '--out', out],
      { when: 'applying', afterMs: 1500 },
    );
    expect(result.code).toBe(130);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.stderr).toContain('before the replay began: nothing was measured, no report written');
    expect(result.stderr).not.toContain('setup failed');
    expect(() => readFileSync(out)).toThrow();
    const sleeping = await withSession(url, (s) =>
      s.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND pid <> pg_backend_pid()`),
    );
    expect(sleeping.rows).toEqual([]);
  });

  it('stops an EXPLAIN ANALYZE in flight on SIGTERM: exit 143, the report written and marked incomplete', async () => {
    const out = join(dir, 'interrupted-explain.json');
    const result = await runCliInterrupted(
      [
        'run',
        '--workload',
        sql('slow-explain.sql'),
        '--repeat',
        '1',
        '-c',
        '1',
        '--rounds',
        '1',
        '--analyze',
        '--explain-timeout',
        '60s',
        '--no-budget',
        '--database-url',
        url,
        '--out',
        out,
      ],
      { when: 'with ANALYZE', signal: 'SIGTERM' },
    );
    expect(result.interruptedAt).toBeDefined();
    // Promptly: not after the 30 s the EXPLAIN ANALYZE takes.
    expect(Date.now() - result.interruptedAt!).toBeLessThan(10_000);
    expect(result.code).toBe(143);
    expect(result.stderr).toContain('(incomplete)');
    // A SIGTERM comes from a process manager, not a keyboard: nothing about Ctrl-C.
    expect(result.stderr).toContain(
      'SIGTERM: stopping the run, then writing what was captured, if anything (send SIGTERM again to quit now)',
    );
    expect(result.stderr).not.toContain('Ctrl-C');
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run).toMatchObject({ complete: false, interruptedBy: 'interrupted by SIGTERM' });
    expect(report.totals.calls).toBe(1);
    expect(report.queries[0].plan).toBeNull();
    expect(report.queries[0].planNote).toBe('not explained: the run was interrupted');
    expect(report.warnings.join('\n')).toContain('run stopped while explaining statements (interrupted by SIGTERM)');
    // Nothing left running on the server.
    const running = await withSession(url, (s) =>
      s.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep(CASE%' AND pid <> pg_backend_pid()",
      ),
    );
    expect(running.rows[0]!.n).toBe(0);
  });
});
