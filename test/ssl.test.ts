import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type EmbeddedServer } from '../src/target/embedded.js';
import { runCli } from './support/cli.js';
import { scratchDatabase, withSession } from './support/db.js';

const tls = (name: string) => fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url));

/**
 * A server with SSL on and a self-signed certificate (test/fixtures/tls, for tests only). The key
 * must belong to the user the server runs as, with no access for others: as root, `postgres`.
 */
async function startSslServer(): Promise<EmbeddedServer> {
  const dir = mkdtempSync(join(tmpdir(), 'querygate-tls-'));
  chmodSync(dir, 0o755);
  for (const file of ['server.crt', 'server.key']) copyFileSync(tls(file), join(dir, file));
  chmodSync(join(dir, 'server.key'), 0o600);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']));
    const gid = Number(execFileSync('id', ['-g', 'postgres']));
    for (const file of ['server.crt', 'server.key']) chownSync(join(dir, file), uid, gid);
  }
  return startEmbedded({
    settings: { ssl: 'on', ssl_cert_file: join(dir, 'server.crt'), ssl_key_file: join(dir, 'server.key') },
  });
}

describe('sslmode in --database-url', () => {
  let dir: string;
  let url: string;
  let workload: string;
  let ssl: EmbeddedServer | undefined;
  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('ssl'));
    workload = join(dir, 'one.sql');
    writeFileSync(workload, 'SELECT 1 AS one;\n');
    ssl = await startSslServer();
    await withSession(ssl.url, (s) => s.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'));
  });
  afterAll(async () => {
    await ssl?.stop();
  });
  const run = (databaseUrl: string) =>
    runCli([
      'run',
      '--workload',
      workload,
      '--repeat',
      '1',
      '-c',
      '2',
      '--threads',
      '2',
      '-q',
      '--database-url',
      databaseUrl,
      '--out',
      join(dir, 'report.json'),
    ]);

  it('a server without SSL: one line of querygate, not node-postgres warning about sslmode', async () => {
    const address = `${new URL(url).hostname}:${new URL(url).port}`;
    const require = await run(`${url}?sslmode=require`);
    expect(require.code).toBe(3);
    expect(require.stderr).toBe(
      `querygate: error: cannot connect to PostgreSQL at ${address}: The server does not support SSL connections ` +
        '(the URL asks for SSL with sslmode=require: remove it, or set sslmode=disable, to connect without SSL)\n',
    );
    // libpq would fall back to a connection without SSL; node-postgres does not.
    const prefer = await run(`${url}?sslmode=prefer`);
    expect(prefer.code).toBe(3);
    expect(prefer.stderr.split('\n')).toHaveLength(2);
    expect(prefer.stderr).toContain('node-postgres does not fall back to a connection without SSL for sslmode=prefer');
  });

  it("a certificate node-postgres refuses for sslmode=require says why psql's URL fails, and the URL that works", async () => {
    const refused = await run(`${ssl!.url}?sslmode=require`);
    expect(refused.code).toBe(3);
    expect(refused.stderr.split('\n')).toHaveLength(2);
    expect(refused.stderr).toMatch(
      /^querygate: error: cannot connect to PostgreSQL at .*: self-signed certificate \(node-postgres checks the server's certificate and host name for sslmode=require, as psql does only for verify-full: add uselibpqcompat=true to the URL/,
    );
    // What the message proposes connects, over SSL, on every replay thread, without a warning.
    const accepted = await run(`${ssl!.url}?sslmode=require&uselibpqcompat=true`);
    expect(accepted.stderr).toBe(`report written to ${join(dir, 'report.json')}\n`);
    expect(accepted.code).toBe(0);
  });
});
