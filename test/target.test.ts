import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../src/errors.js';
import { startEmbedded } from '../src/target/embedded.js';
import { connectTimeoutSeconds } from '../src/target/pg.js';
import { openTarget } from '../src/target/target.js';
import { createTestDatabase, withSession } from './support/db.js';

describe('target checks', () => {
  it('describes a usable external database', async () => {
    const url = await createTestDatabase('target');
    const target = await openTarget({ databaseUrl: url });
    expect(target.kind).toBe('external');
    expect(target.info.serverVersionNum).toBeGreaterThanOrEqual(130000);
    expect(target.info.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(JSON.stringify(target.info)).not.toContain(new URL(url).password);
    await target.close();
  });

  it('says a superuser must create pg_stat_statements when the role is not one', async () => {
    const url = await createTestDatabase('no_ext');
    await withSession(url, async (s) => {
      await s.query('DROP EXTENSION pg_stat_statements');
      await s.query(
        "DO $$ BEGIN CREATE ROLE qg_plain LOGIN PASSWORD 'plain'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
      );
    });
    const plain = new URL(url);
    plain.username = 'qg_plain';
    plain.password = 'plain';
    await expect(openTarget({ databaseUrl: plain.toString() })).rejects.toThrow(
      /not installed in database "no_ext_\w+" .*: have a superuser run CREATE EXTENSION pg_stat_statements; in that database \(it is not a trusted extension: .*ask your DBA\)$/,
    );
    // The superuser is told to run it.
    await expect(openTarget({ databaseUrl: url })).rejects.toThrow(
      /not installed in database "no_ext_\w+" .*: run CREATE EXTENSION pg_stat_statements; in that database$/,
    );
  });

  it('with setup files to run first, leaves the check that pg_stat_statements is installed until after them', async () => {
    const url = await createTestDatabase('setup_first');
    await withSession(url, (s) => s.query('DROP EXTENSION pg_stat_statements'));
    const target = await openTarget({ databaseUrl: url, setupFirst: true });
    try {
      expect(target.info.pgStatStatementsVersion).toBe('');
      const session = await target.connect();
      try {
        // Still missing after the setup: the error openTarget gives without setup files.
        await expect(target.checkStatistics(session)).rejects.toThrow(
          /^pg_stat_statements is loaded but not installed in database "setup_first_\w+" .*: run CREATE EXTENSION pg_stat_statements; in that database$/,
        );
        await session.query('CREATE EXTENSION pg_stat_statements');
        await target.checkStatistics(session);
      } finally {
        await session.close();
      }
      expect(target.info.pgStatStatementsVersion).toMatch(/^\d+\.\d+$/);
    } finally {
      await target.close();
    }
  });

  it('refuses a database where pg_stat_statements would record nothing', async () => {
    const off = await createTestDatabase('track_none');
    const name = new URL(off).pathname.slice(1);
    await withSession(off, (s) => s.query(`ALTER DATABASE ${name} SET pg_stat_statements.track = 'none'`));
    await expect(openTarget({ databaseUrl: off })).rejects.toThrow(
      /pg_stat_statements\.track is 'none'.*set it to 'top'/,
    );

    const noIds = await createTestDatabase('no_query_id');
    const other = new URL(noIds).pathname.slice(1);
    await withSession(noIds, (s) => s.query(`ALTER DATABASE ${other} SET compute_query_id = off`));
    await expect(openTarget({ databaseUrl: noIds })).rejects.toThrow(
      /compute_query_id is off.*set compute_query_id = auto/,
    );
  });
});

describe('embedded server start-up', () => {
  /** Pids of processes whose command line names `dir` (initdb, postgres and its children). */
  const processesOf = (dir: string) =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
        } catch {
          return false;
        }
      });

  it('stops at once when the run is interrupted during initdb: nothing left running, its directory removed', async () => {
    const controller = new AbortController();
    let dataDir: string | undefined;
    const started = startEmbedded({
      signal: controller.signal,
      onLog: (line) => {
        // initdb names the data directory in its first lines; stop it there.
        const named =
          /directory "?([^"\s]+\/data)"?/.exec(line)?.[1] ?? /(\/\S+\/querygate-[^/\s]+)\/data/.exec(line)?.[1];
        if (named && !dataDir) {
          dataDir = named.replace(/\/data$/, '');
          controller.abort('interrupted by SIGINT');
        }
      },
    });
    const error = await started.then(
      (server) => server.stop().then(() => undefined),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InterruptedError);
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
    expect(processesOf(dataDir!)).toEqual([]);
  });
});

describe('connection timeout', () => {
  it("is the URL's connect_timeout, else PGCONNECT_TIMEOUT, else 30 s, as libpq reads them", () => {
    const url = 'postgres://app@db:5432/app';
    expect(connectTimeoutSeconds(url, {})).toBe(30);
    expect(connectTimeoutSeconds(url, { PGCONNECT_TIMEOUT: '5' })).toBe(5);
    expect(connectTimeoutSeconds(`${url}?connect_timeout=12`, { PGCONNECT_TIMEOUT: '5' })).toBe(12);
    // libpq: under 2 s is 2 s, 0 waits for ever; a value that is no number is not a timeout.
    expect(connectTimeoutSeconds(`${url}?connect_timeout=1`, {})).toBe(2);
    expect(connectTimeoutSeconds(`${url}?connect_timeout=0`, {})).toBe(0);
    expect(connectTimeoutSeconds(url, { PGCONNECT_TIMEOUT: 'soon' })).toBe(30);
  });

  it('is named in the message when a server does not answer in time', async () => {
    // A listener that accepts the connection and never answers the start-up message.
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const started = Date.now();
      await expect(openTarget({ databaseUrl: `postgres://u@127.0.0.1:${port}/db?connect_timeout=2` })).rejects.toThrow(
        `cannot connect to PostgreSQL at 127.0.0.1:${port}: connection timed out after 2 s (connect_timeout in the URL or PGCONNECT_TIMEOUT sets how long to wait)`,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      sockets.forEach((s) => s.destroy());
      server.close();
    }
  });
});
