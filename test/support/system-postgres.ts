/**
 * Starts an older PostgreSQL from the machine's own packages (e.g. Debian's postgresql-15), for
 * tests of the code paths that differ before PostgreSQL 16/17. Returns undefined where none exists.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, chmodSync, chownSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface SystemPostgres {
  readonly version: number;
  readonly url: string;
  stop(): Promise<void>;
}

export function findSystemPostgres(): { version: number; bin: string } | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .map(Number)
    .filter((v) => v >= 13 && v < 16 && existsSync(join(base, String(v), 'bin', 'postgres')))
    .sort((a, b) => a - b);
  const version = versions[0];
  return version ? { version, bin: join(base, String(version), 'bin') } : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export async function startSystemPostgres(options: { preload: boolean }): Promise<SystemPostgres | undefined> {
  const found = findSystemPostgres();
  if (!found) return undefined;
  const root = mkdtempSync(join(tmpdir(), 'querygate-pg-'));
  chmodSync(root, 0o755);
  const dir = join(root, 'data');
  // PostgreSQL refuses to run as root: use the postgres system user (created by the embedded server).
  const ids =
    userInfo().uid === 0
      ? {
          uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
          gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
        }
      : {};
  if ('uid' in ids) chownSync(root, ids.uid!, ids.gid!);
  execFileSync(join(found.bin, 'initdb'), ['-D', dir, '-U', 'postgres', '--auth=trust', '--no-instructions'], {
    ...ids,
    stdio: 'ignore',
  });
  const port = await freePort();
  const args = [
    '-D',
    dir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'fsync=off',
  ];
  if (options.preload) args.push('-c', 'shared_preload_libraries=pg_stat_statements');
  const child: ChildProcess = spawn(join(found.bin, 'postgres'), args, { ...ids, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('ready to accept connections')) resolve();
    });
    child.on('exit', () => reject(new Error(`postgres ${found.version} exited: ${log}`)));
  });
  return {
    version: found.version,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
      rmSync(root, { recursive: true, force: true });
    },
  };
}
