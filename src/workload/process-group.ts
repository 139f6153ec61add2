/**
 * Child processes querygate starts (the application under test, a `capture` command) run in a
 * process group of their own, so that stopping one also stops what it started (a shell's children,
 * npm's scripts), and every group still running is killed if querygate exits without stopping it
 * (a second Ctrl-C, an unexpected error).
 */

/** Process groups still running; killed synchronously if querygate exits without stopping them. */
const running = new Set<number>();
let exitHookInstalled = false;

/** Kills the group led by `pid` when querygate exits, unless `untrackGroup` was called first. */
export function trackGroup(pid: number): void {
  running.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of running) killGroup(p, 'SIGKILL');
  });
}

export function untrackGroup(pid: number): void {
  running.delete(pid);
}

/** Signals the process group led by `pid` (or the process alone where there is no group). */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** True while any process of the group led by `pid` exists. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
