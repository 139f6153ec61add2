import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { scratchDatabase } from '../support/db.js';

/** A process that writes its pid to `file`, then runs for a minute (ignoring SIGTERM with `stubborn`). */
function sleeper(file: string, stubborn = false): string {
  return (
    `${stubborn ? "process.on('SIGTERM', () => {});" : ''}` +
    `require('fs').writeFileSync(${JSON.stringify(file)}, String(process.pid)); setTimeout(() => {}, 60000);`
  );
}

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

async function waitForFile(file: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!existsSync(file) || readFileSync(file, 'utf8') === '') {
    if (Date.now() > deadline) throw new Error(`${file} never appeared`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `capture` and signals querygate's own process (not its group) once the command runs. */
async function captureSignalled(url: string, out: string, command: string[], pidFile: string, signals: number) {
  let pid = 0;
  let signalledAt = 0;
  const sent = (async () => {
    await waitForFile(pidFile);
    signalledAt = Date.now();
    for (let i = 0; i < signals; i++) {
      process.kill(pid, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  const result = await runCli(['capture', '--database-url', url, '--no-budget', '-q', '--out', out, '--', ...command], {
    onSpawn: (p) => (pid = p),
  });
  await sent;
  // The output pipes close when the last process holding them ends: a command left running would
  // hold them until it ends on its own, a minute later.
  return { ...result, child: Number(readFileSync(pidFile, 'utf8')), stoppedAfterMs: Date.now() - signalledAt };
}

describe('capture stops its command on every exit path (built binary)', () => {
  let url: string;
  let dir: string;
  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('capture_stop'));
  });

  it('SIGTERM to querygate alone stops what the command started too (a shell and its background job)', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const out = join(dir, 'term.json');
    const script = `"${process.execPath}" -e "${sleeper(pidFile).replace(/"/g, '\\"')}" & wait`;
    const result = await captureSignalled(url, out, ['sh', '-c', script], pidFile, 1);
    expect(result.code).toBe(143);
    expect(result.stoppedAfterMs).toBeLessThan(20_000);
    expect(JSON.parse(readFileSync(out, 'utf8')).run.complete).toBe(false);
    expect(await goneWithin(result.child, 3000)).toBe(true);
  });

  it('a second signal quits at once and still kills a command that ignores SIGTERM', async () => {
    const pidFile = join(dir, 'stubborn.pid');
    const result = await captureSignalled(
      url,
      join(dir, 'twice.json'),
      [process.execPath, '-e', sleeper(pidFile, true)],
      pidFile,
      2,
    );
    expect(result.code).toBe(143);
    expect(result.stderr).toContain('interrupted again: quitting without a report');
    expect(result.stoppedAfterMs).toBeLessThan(20_000);
    expect(await goneWithin(result.child, 3000)).toBe(true);
  });
});
