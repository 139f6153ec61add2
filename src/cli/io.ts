/** Where the CLI writes: injected so commands can be tested without a real terminal. */
export interface CliIO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly isTTY: boolean;
  readonly columns: number;
  readonly color: boolean;
  readonly env: NodeJS.ProcessEnv;
}

export function processIO(): CliIO {
  const isTTY = Boolean(process.stdout.isTTY) && !process.env.CI;
  const closed = { out: false, err: false };
  whenReaderCloses(process.stdout, () => (closed.out = true));
  whenReaderCloses(process.stderr, () => (closed.err = true));
  return {
    out: (text) => {
      if (!closed.out) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    err: (text) => {
      if (!closed.err) process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    isTTY,
    columns: outputColumns(process.stdout.columns, process.env.COLUMNS),
    color: isTTY && !process.env.NO_COLOR,
    env: process.env,
  };
}

/**
 * A reader that stops reading (`querygate rules sort-spill | head -30`) closes the pipe, and the next
 * write fails with EPIPE, an 'error' event that nothing handled: a crash with a stack trace. As other
 * command-line tools do, querygate then stops writing to that stream, quietly, and ends as it would
 * have (a run still writes its report and stops its server; the exit code is the command's own).
 */
function whenReaderCloses(stream: NodeJS.WriteStream, onClosed: () => void): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // ERR_STREAM_DESTROYED: a write after the pipe closed (the progress line writes to stderr itself).
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') {
      onClosed();
      return;
    }
    throw error;
  });
}

/**
 * The width output is laid out for: the terminal's; else `COLUMNS` when it is set (a CI log or a
 * pager of a known width); else wide enough for every column of the summary.
 */
export function outputColumns(terminal: number | undefined, env: string | undefined): number {
  if (terminal) return terminal;
  const fromEnv = Number(env);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 160;
}

/** Exit codes, documented in README.md. */
export const EXIT = {
  ok: 0,
  gateFailed: 1,
  input: 2,
  environment: 3,
  /**
   * Interrupted by Ctrl-C; the partial report was written. SIGTERM and SIGHUP give 143 and 129
   * (128 + the signal's number: `INTERRUPT_EXIT` in interrupt.ts).
   */
  interrupted: 130,
} as const;
