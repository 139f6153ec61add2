import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/querygate.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built binary (npm test builds first) and collects its output and exit code. */
export function runCli(
  args: readonly string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    onSpawn?: (pid: number) => void;
    onStderr?: (text: string) => void;
    /** In a process group of its own, as a shell runs a foreground job: `process.kill(-pid)` signals the group. */
    ownProcessGroup?: boolean;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, CI: 'true', NO_COLOR: '1', DATABASE_URL: '', COLUMNS: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.ownProcessGroup ?? false,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      options.onStderr?.(stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
    if (child.pid) options.onSpawn?.(child.pid);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs the CLI with --verbose and sends SIGINT (or `signal`) `afterMs` after it says the replay
 * started (or prints `when`): to the process, or (`group`) to its whole process group, as a
 * terminal's Ctrl-C does.
 */
export async function runCliInterrupted(
  args: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    group?: boolean;
    afterMs?: number;
    when?: string;
    signal?: NodeJS.Signals;
    /** Polled after `when` appears (every 100 ms, 60 s at most) before the delay starts: a slow start under load does not race the interrupt. */
    until?: () => Promise<boolean>;
  } = {},
): Promise<CliResult & { interruptedAt: number | undefined }> {
  let pid = 0;
  let interruptedAt: number | undefined;
  let armed = false;
  const result = await runCli([...args, '--verbose'], {
    ...(options.env ? { env: options.env } : {}),
    ownProcessGroup: options.group ?? false,
    onSpawn: (p) => (pid = p),
    onStderr: (text) => {
      if (armed || !text.includes(options.when ?? 'querygate: replaying')) return;
      armed = true;
      void (async () => {
        const deadline = Date.now() + 60_000;
        while (options.until && Date.now() < deadline && !(await options.until().catch(() => false))) {
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, options.afterMs ?? 1000));
        try {
          process.kill(options.group ? -pid : pid, options.signal ?? 'SIGINT');
          interruptedAt = Date.now();
        } catch {
          // It had already exited: interruptedAt stays undefined, which the test then reports.
        }
      })();
    },
  });
  return { ...result, interruptedAt };
}
