import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDatabase } from './support/db.js';
import { runCli } from './support/cli.js';

const sql = (name: string) => fileURLToPath(new URL(`./fixtures/sql/${name}`, import.meta.url));

/** Passwords never reach stdout, stderr or the report, whatever form the connection string takes. */
describe('passwords in output and reports (CLI)', () => {
  let dir: string;
  let url: string;
  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('secrets'));
  });

  it('capture masks the passwords of its command line in the report, the warnings, the error and -v', async () => {
    const out = join(dir, 'capture.json');
    const password = new URL(url).password;
    // As a load tool is usually called: the target's URL on its command line, and other forms of
    // connection strings with passwords querygate does not know.
    const command = [
      process.execPath,
      '-e',
      'process.exit(1)',
      url,
      'host=db user=app password=kw-secret-1',
      'PGPASSWORD=env-secret-2',
      'postgres://app:url-secret-3@db/app',
      'postgres://app@db/app?sslmode=disable&password=param-secret-4',
      `-W${password}`,
    ];
    const result = await runCli([
      'capture',
      '--database-url',
      url,
      '--no-budget',
      '-v',
      '--out',
      out,
      '--',
      ...command,
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('the command exited with code 1');
    const report = readFileSync(out, 'utf8');
    const everything = result.stdout + result.stderr + report;
    for (const secret of [password, 'kw-secret-1', 'env-secret-2', 'url-secret-3', 'param-secret-4'])
      expect(everything).not.toContain(secret);
    const parsed = JSON.parse(report);
    expect(parsed.workload.command).toContain('PGPASSWORD=*****');
    expect(parsed.workload.command).toContain('host=db user=app password=*****');
    expect(parsed.warnings.join('\n')).toContain('postgres://app:*****@db/app');
    expect(result.stderr).toContain('password=*****');
  });

  it('-v masks a password given as a URL parameter', async () => {
    const out = join(dir, 'param.json');
    const u = new URL(url);
    const password = u.password;
    u.password = '';
    u.searchParams.set('password', password);
    const result = await runCli(
      [
        'run',
        '--workload',
        sql('workload.sql'),
        '--schema',
        sql('schema.sql'),
        '--seed',
        sql('seed.sql'),
        '--setup',
        '--repeat',
        '1',
        '--no-budget',
        '-v',
        '--out',
        out,
      ],
      { env: { DATABASE_URL: u.toString() } },
    );
    expect(result.stderr).toContain('?password=*****');
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr + readFileSync(out, 'utf8')).not.toContain(password);
  });
});
