/**
 * What stops a run before its end: a signal, or the loss of the process that started querygate.
 * Only the CLI deals with the process; the library takes an AbortSignal.
 */

/** The signals that stop a run. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * Exit codes of an interrupted run: 128 + the signal's number, as a shell reports a process a signal
 * ended (and as `npx` exits when the signal reaches it). Losing the parent process is a hang-up.
 */
export const INTERRUPT_EXIT: Readonly<Record<StopSignal | 'orphaned', number>> = {
  SIGINT: 130,
  SIGTERM: 143,
  SIGHUP: 129,
  orphaned: 129,
};

export interface Interrupt {
  readonly kind: StopSignal | 'orphaned';
  /** Why the run stopped, as the report's `run.interruptedBy` says it. */
  readonly reason: string;
  readonly exitCode: number;
}

/** How often the parent process is checked, ms. */
export const PARENT_CHECK_MS = 500;

/**
 * The parent process querygate started with, read as early as possible: a launcher stopped during
 * start-up (argument parsing, loading the SQL parser) is noticed too. A process started detached
 * (`setsid -f`, `(querygate ... &)`) has already been handed to init by then, and stays with it.
 */
const STARTING_PARENT = process.ppid;

/**
 * Calls `onInterrupt` for every stop signal, and once when querygate's parent process exits: the
 * process that started it (a CI step, a supervisor, `npx`) is gone, and nobody waits for the run
 * any more. `npx querygate` runs querygate under `sh -c`, which npm sends SIGTERM to and which does
 * not pass it on: npm and the shell exit at once, and querygate, left to init, would otherwise
 * replay to the end. Returns a function that stops watching.
 */
export function watchInterrupts(onInterrupt: (interrupt: Interrupt) => void): () => void {
  const onSignal = (signal: StopSignal) =>
    onInterrupt({ kind: signal, reason: `interrupted by ${signal}`, exitCode: INTERRUPT_EXIT[signal] });
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  const parent = STARTING_PARENT;
  const timer = setInterval(() => {
    // The parent's exit reparents querygate (to init or a subreaper): its ppid changes.
    if (process.ppid === parent) return;
    clearInterval(timer);
    onInterrupt({
      kind: 'orphaned',
      reason: `interrupted: its parent process (pid ${parent}) exited`,
      exitCode: INTERRUPT_EXIT.orphaned,
    });
  }, PARENT_CHECK_MS);
  // The check never keeps querygate alive by itself.
  timer.unref();
  return () => {
    clearInterval(timer);
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  };
}
