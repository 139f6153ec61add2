/**
 * Output into a pipe whose reader stops reading (`querygate rules sort-spill | head -30`): the
 * process ends quietly, as other command-line tools do, with its own exit code. Needs `npm run build`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from './support/cli.js';
import { loadSqlFiles, scratchDatabase } from './support/db.js';

const REPORT = fileURLToPath(new URL('../fixtures/reports/outage-demo.json', import.meta.url));
const sql = (name: string) => fileURLToPath(new URL(`./fixtures/sql/${name}`, import.meta.url));

/** Runs the binary with its stdout (or stderr) pipe closed by the reader before it writes. */
function runIntoClosedPipe(
  args: readonly string[],
  closed: 'stdout' | 'stderr',
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, CI: 'true', NO_COLOR: '1', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // The reader goes away before the process has even started: its first write meets a closed pipe.
    if (closed === 'stdout') child.stdout.destroy();
    else child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    if (closed === 'stderr') child.stderr.destroy();
    else child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, stdout }));
  });
}

describe('output into a closed pipe', () => {
  it.each([
    { args: ['rules', 'sort-spill'], code: 0 },
    { args: ['rules'], code: 0 },
    { args: ['--help'], code: 0 },
    { args: ['compare', REPORT, REPORT], code: 0 },
  ])('ends `querygate $args` quietly with its own exit code $code', async ({ args, code }) => {
    const result = await runIntoClosedPipe(args, 'stdout');
    expect(result.stderr).not.toMatch(/EPIPE|Unhandled 'error' event|^\s+at /m);
    expect(result.code).toBe(code);
  });

  it('lets a run finish when its summary meets a closed pipe: the report is written, the exit code is 0', async () => {
    const { dir, url } = await scratchDatabase('pipe');
    await loadSqlFiles(url, sql('schema.sql'), sql('seed.sql'));
    const out = join(dir, 'report.json');
    const args = ['run', '--workload', sql('workload.sql'), '--database-url', url, '--repeat', '1', '--out', out];
    const result = await runIntoClosedPipe(args, 'stdout');
    expect(result.stderr).not.toMatch(/EPIPE|Unhandled 'error' event|^\s+at /m);
    expect(result.code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('ends quietly when the reader of stderr is gone', async () => {
    const result = await runIntoClosedPipe(['rules', 'no-such-rule'], 'stderr');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
  });
});
