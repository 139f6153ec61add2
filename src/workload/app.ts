/**
 * The application under test as a child process: started with DATABASE_URL of the target and PORT
 * in its environment, polled until its readiness URL answers 2xx, and stopped on every exit path
 * (SIGTERM to its process group, SIGKILL after a grace period, and a synchronous kill if querygate
 * itself exits without stopping it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { acceptsConnections, freePort, portInUse } from '../target/port.js';
import { EnvironmentError } from '../errors.js';
import { redactSecrets } from '../redact.js';
import { killGroup, trackGroup, untrackGroup } from './process-group.js';
import type { HttpApp } from '../model/workload.js';

export interface AppExit {
  readonly code: number | null;
  readonly signal: string | null;
}

export interface RunningApp {
  /** e.g. http://127.0.0.1:41234 */
  readonly baseUrl: string;
  readonly port: number;
  readonly pid: number;
  /** Resolves when the process exits, for whatever reason. */
  readonly exited: Promise<AppExit>;
  /** Set once the process has exited. */
  exit(): AppExit | undefined;
  /** The last lines the application printed (stdout and stderr). */
  outputTail(): string[];
  /** Stops the application (idempotent). */
  stop(): Promise<void>;
}

export interface StartAppOptions {
  /** Connection URL of the target database, given to the app as DATABASE_URL. */
  readonly databaseUrl: string;
  readonly signal?: AbortSignal;
  /** Receives each line the application prints. */
  readonly onOutput?: (line: string) => void;
  /** Where the load will be sent (`http.baseUrl`), when not at the application's own port: nothing may answer there before it starts. */
  readonly loadUrl?: string;
}

const TAIL_LINES = 20;
/**
 * How long the process must stay alive after its first 2xx on `ready`: one that exits at once
 * (it could not listen, EADDRINUSE; it crashed right after answering) gets no load.
 */
const READY_SETTLE_MS = 500;

/** `exited with code 1` / `was killed by SIGKILL`. */
export function describeExit(exit: AppExit): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? 'unknown'}`;
}

/** A command as shown in messages: its passwords masked (see redactSecrets). */
export function commandText(command: string | readonly string[]): string {
  return redactSecrets(typeof command === 'string' ? command : command.join(' '));
}

/** The URL polled until it answers 2xx: `ready` as given when absolute, else below `baseUrl`. */
function readyUrlOf(app: HttpApp, baseUrl: string): string {
  return /^https?:\/\//.test(app.ready) ? app.ready : `${baseUrl}${app.ready.startsWith('/') ? '' : '/'}${app.ready}`;
}

/**
 * Checks, before anything is started (a database, setup files that may run for minutes), that no
 * other process listens where querygate will look for the application: its fixed port, an absolute
 * ready URL, `loadUrl`. startApp checks again right before it starts the process (see
 * checkNothingListens).
 */
export async function checkAppEndpoints(app: HttpApp, loadUrl?: string): Promise<void> {
  const fixed = app.port === 'auto' ? undefined : app.port;
  const readyUrl =
    fixed !== undefined || /^https?:\/\//.test(app.ready) ? readyUrlOf(app, `http://127.0.0.1:${fixed}`) : undefined;
  await checkNothingListens(fixed, readyUrl, loadUrl);
}

/** Starts the application and waits until it is ready; throws APP_START_FAILED with its last output otherwise. */
export async function startApp(app: HttpApp, options: StartAppOptions): Promise<RunningApp> {
  const port = app.port === 'auto' ? await freePort() : app.port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const readyUrl = readyUrlOf(app, baseUrl);
  await checkNothingListens(app.port === 'auto' ? undefined : port, readyUrl, options.loadUrl);
  const env = { ...process.env, ...app.env, DATABASE_URL: options.databaseUrl, PORT: String(port) };
  const text = commandText(app.command);
  // detached: its own process group, so that stopping it also stops what a shell command started.
  const child: ChildProcess =
    typeof app.command === 'string'
      ? spawn(app.command, { cwd: app.cwd, env, shell: true, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(app.command[0]!, app.command.slice(1), {
          cwd: app.cwd,
          env,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    options.onOutput?.(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    stream?.on('end', () => {
      if (partial) onLine(partial);
      partial = '';
    });
  }
  let exitState: AppExit | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<AppExit>((resolve) => {
    child.on('error', (error) => {
      spawnError = error;
      exitState ??= { code: null, signal: null };
      resolve(exitState);
    });
    child.on('exit', (code, signal) => {
      exitState = { code, signal };
      resolve(exitState);
    });
  });
  const pid = child.pid ?? 0;
  if (pid) trackGroup(pid);
  void exited.then(() => untrackGroup(pid));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitState || !pid) return;
      killGroup(pid, 'SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), app.stopTimeoutMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        killGroup(pid, 'SIGKILL');
        await exited;
      }
      // Children of a shell command may outlive the shell: make sure the group is gone.
      killGroup(pid, 'SIGKILL');
      untrackGroup(pid);
    })();
    return stopping;
  };

  const handle: RunningApp = { baseUrl, port, pid, exited, exit: () => exitState, outputTail: () => [...tail], stop };
  try {
    await waitUntilReady(readyUrl, {
      timeoutMs: app.readyTimeoutMs,
      exited,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // The answer may have come from the application's last breath, or from another process that
    // took its port meanwhile: the process querygate started must still be running a moment later.
    if (!options.signal?.aborted) {
      await Promise.race([exited, new Promise((r) => setTimeout(r, READY_SETTLE_MS))]);
      if (exitState) {
        throw new EnvironmentError(
          'APP_START_FAILED',
          `the application ${describeExit(exitState)} right after GET ${readyUrl} answered 2xx: ` +
            'either it stopped at once, or another process answered in its place; no load was sent',
        );
      }
    }
  } catch (error) {
    await stop();
    if (spawnError) {
      const code = (spawnError as { code?: string }).code;
      throw new EnvironmentError(
        'APP_START_FAILED',
        code === 'ENOENT'
          ? `cannot start the application: command not found: ${typeof app.command === 'string' ? text : redactSecrets(app.command[0]!)}`
          : `cannot start the application (${text}): ${spawnError.message}`,
      );
    }
    if (error instanceof EnvironmentError) {
      const lines = tail.slice(-10).map((l) => `  app: ${l}`);
      throw new EnvironmentError(
        'APP_START_FAILED',
        error.message,
        lines.length ? ['last lines of the application output:', ...lines] : [],
      );
    }
    throw error;
  }
  return handle;
}

/**
 * Before the application starts, nothing may listen where querygate will look for it: at its fixed
 * port, at the ready URL, at the URL the load goes to. Otherwise the ready check passes on the other
 * process's answer (while the application fails to listen, EADDRINUSE, or listens elsewhere), and
 * the load, write routes included, goes to that process and to whatever database it uses.
 */
async function checkNothingListens(
  fixedPort: number | undefined,
  readyUrl: string | undefined,
  loadUrl?: string,
): Promise<void> {
  // What the other process answers where querygate would poll (it is polled anyway): a GET of
  // the ready URL only, never of the load's URL.
  const answer = async (url: string | undefined) => {
    if (url === undefined || url !== readyUrl) return '';
    const probe = await probeUrl(url);
    return probe.status !== undefined ? ` (GET ${url} answers HTTP ${probe.status})` : '';
  };
  const onPort = (url: string | undefined) => {
    const endpoint = url === undefined ? undefined : endpointOf(url);
    return endpoint?.local === true && endpoint.port === fixedPort;
  };
  if (fixedPort !== undefined && ((await acceptsConnections('127.0.0.1', fixedPort)) || (await portInUse(fixedPort)))) {
    throw new EnvironmentError(
      'APP_START_FAILED',
      `port ${fixedPort} (http.app.port) is already in use: another process listens on it` +
        `${onPort(readyUrl) ? await answer(readyUrl) : ''}; querygate would take that ` +
        'process for the application, whose own listen fails, and send it the load, writes included: stop that ' +
        'process, or give the application another port (port: auto picks a free one)',
    );
  }
  for (const url of [readyUrl, loadUrl]) {
    if (url === undefined || onPort(url)) continue;
    const { host, port } = endpointOf(url);
    if (await acceptsConnections(host, port)) {
      throw new EnvironmentError(
        'APP_START_FAILED',
        `another process already listens at ${new URL(url).origin}, before the application was started` +
          `${await answer(url)}; querygate cannot tell its answers from the application's, and would send it the ` +
          'load, writes included: stop that process, or make http.app.ready and http.baseUrl name where only the ' +
          'application listens',
      );
    }
  }
}

/** The host and port a URL connects to; `local` for the loopback addresses. */
function endpointOf(url: string): { host: string; port: number; local: boolean } {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
  return { host, port, local: ['127.0.0.1', 'localhost', '::1'].includes(host) };
}

export interface ReadyOptions {
  readonly timeoutMs: number;
  /** Stop waiting when the process exits. */
  readonly exited?: Promise<AppExit>;
  readonly signal?: AbortSignal;
  readonly intervalMs?: number;
}

/** Polls `url` until it answers 2xx; throws APP_START_FAILED on timeout or when the process exits. */
export async function waitUntilReady(url: string, options: ReadyOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let exit: AppExit | undefined;
  void options.exited?.then((e) => (exit = e));
  let last = 'no answer yet';
  for (;;) {
    if (exit)
      throw new EnvironmentError(
        'APP_START_FAILED',
        `the application ${describeExit(exit)} before it was ready (${url})`,
      );
    // Interrupted: the caller sees the aborted signal and stops before sending any load.
    if (options.signal?.aborted) return;
    const probe = await probeUrl(url, Math.min(2000, Math.max(100, deadline - Date.now())));
    if (probe.status !== undefined && probe.status >= 200 && probe.status < 300) return;
    last = probe.status !== undefined ? `HTTP ${probe.status}` : probe.error;
    if (Date.now() >= deadline) {
      throw new EnvironmentError(
        'APP_START_FAILED',
        `the application was not ready within ${(options.timeoutMs / 1000).toFixed(0)}s: GET ${url} did not answer 2xx (last: ${last}); ` +
          'if it needs longer to start, raise http.app.readyTimeout in the scenario',
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/** One GET: the status, or why there was none (in words, e.g. "connection refused"). */
export function probeUrl(
  url: string,
  timeoutMs = 2000,
): Promise<{ status: number; error?: undefined } | { status?: undefined; error: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (value: { status: number } | { error: string }) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    let request: ReturnType<typeof httpGet>;
    try {
      // agent: false, so that no kept-alive socket outlives the probe.
      request = (url.startsWith('https:') ? httpsGet : httpGet)(
        url,
        { agent: false, timeout: timeoutMs },
        (response) => {
          response.resume();
          done({ status: response.statusCode ?? 0 });
          request.destroy();
        },
      );
    } catch (error) {
      done({ error: (error as Error).message });
      return;
    }
    request.on('timeout', () => {
      done({ error: 'timed out' });
      request.destroy();
    });
    request.on('error', (error: Error & { code?: string }) => {
      const reason =
        error.code === 'ECONNREFUSED'
          ? 'connection refused'
          : error.code === 'ENOTFOUND'
            ? 'unknown host'
            : error.code === 'ECONNRESET'
              ? 'connection reset'
              : error.message;
      done({ error: reason });
    });
  });
}

/** Checks that an already running application answers at all (any status counts). */
export async function checkReachable(baseUrl: string, path = '/'): Promise<void> {
  const url = /^https?:\/\//.test(path) ? path : `${baseUrl}${path.startsWith('/') ? '' : '/'}${path}`;
  const probe = await probeUrl(url, 5000);
  if (probe.status === undefined) {
    throw new EnvironmentError(
      'APP_UNREACHABLE',
      `cannot reach the application at ${baseUrl}: ${probe.error} (GET ${url})`,
    );
  }
}
