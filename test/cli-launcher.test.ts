import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './support/cli.js';

/**
 * `npx querygate` (npm exec) runs querygate under `sh -c`, and passes SIGINT and SIGTERM to that
 * shell only, which does not pass them on. This runs the built binary the same way, in a process
 * group of its own, and signals the shell alone (`launcher`) or the whole group (`group`) once the
 * replay has started.
 */
async function runUnderShell(
  args: readonly string[],
  target: 'launcher' | 'group',
  env: NodeJS.ProcessEnv,
): Promise<{ stderr: string; shellExit: number | string; signalledAt: number; closedAt: number }> {
  // Two commands: the shell stays, as npm's does, instead of exec'ing querygate.
  const shell = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" "$@"; exit $?`, 'sh', ...args, '--verbose'], {
    env: { ...process.env, CI: 'true', NO_COLOR: '1', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  let signalledAt = 0;
  let shellExit: number | string = 'running';
  shell.stdout.resume();
  shell.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (signalledAt === 0 && stderr.includes('querygate: replaying')) {
      signalledAt = Date.now();
      // Time for the replay to connect and make calls, even on a loaded machine (the run lasts 60 s).
      setTimeout(() => process.kill(target === 'group' ? -shell.pid! : shell.pid!, 'SIGTERM'), 3000);
    }
  });
  shell.on('exit', (code, signal) => (shellExit = code ?? signal ?? 'unknown'));
  const timer = setTimeout(() => process.kill(-shell.pid!, 'SIGKILL'), 110_000);
  // The pipes close when the last process holding them, querygate, has exited.
  await new Promise<void>((resolve) => shell.on('close', () => resolve()));
  clearTimeout(timer);
  return { stderr, shellExit, signalledAt, closedAt: Date.now() };
}

describe('a run whose launcher does not pass signals on (npx)', () => {
  let dir: string;
  let workload: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'querygate-launcher-'));
    workload = join(dir, 'one.sql');
    writeFileSync(workload, 'SELECT 1 AS one;\n');
  });
  const scratch = () => {
    const tmp = mkdtempSync(join(tmpdir(), 'querygate-tmp-'));
    chmodSync(tmp, 0o755);
    return tmp;
  };

  it('stops when the launcher exits: the partial report is written, the embedded server stopped', async () => {
    const out = join(dir, 'orphaned.json');
    const tmp = scratch();
    const result = await runUnderShell(['run', '--workload', workload, '--duration', '60s', '--out', out], 'launcher', {
      TMPDIR: tmp,
    });
    // The shell is gone at once (as npx is), querygate a moment later, not after its 60 s.
    expect(result.shellExit).toBe('SIGTERM');
    expect(result.closedAt - result.signalledAt, result.stderr).toBeLessThan(20_000);
    expect(result.stderr).toMatch(
      /querygate: its parent process \(pid \d+\) exited: stopping the run, then writing what was captured/,
    );
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run.complete).toBe(false);
    expect(report.run.interruptedBy).toMatch(/^interrupted: its parent process \(pid \d+\) exited$/);
    expect(report.totals.calls).toBeGreaterThan(0);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a signal to the whole group is one interrupt, though the launcher exits with it: the report is written', async () => {
    const out = join(dir, 'group.json');
    const tmp = scratch();
    const result = await runUnderShell(['run', '--workload', workload, '--duration', '60s', '--out', out], 'group', {
      TMPDIR: tmp,
    });
    expect(result.stderr).not.toContain('interrupted again');
    expect(result.stderr).toContain('(incomplete)');
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.run).toMatchObject({ complete: false, interruptedBy: 'interrupted by SIGTERM' });
    expect(readdirSync(tmp)).toEqual([]);
  });
});
