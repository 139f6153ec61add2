/**
 * External load: run any command (k6, wrk, a test suite, a script that starts a distributed load
 * generator) and capture what the database did meanwhile. querygate sends no load itself; it
 * snapshots pg_stat_statements before and after the command and reports like any other run.
 */
import { checkExplainAs } from '../capture/explain.js';
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { takeSnapshot } from '../capture/statements.js';
import { EnvironmentError, RunFailedError } from '../errors.js';
import type { Report, WorkloadInfo } from '../model/report.js';
import type { SetupFile } from '../model/workload.js';
import { finalizeReport, recordAnalyze, recordedNothing, type AnalysisOptions } from '../run/finalize.js';
import { setUpDatabase } from '../run/setup.js';
import type { Target } from '../target/target.js';
import { withTarget } from '../run/with-target.js';
import { describeExit, type AppExit } from './app.js';
import { groupAlive, killGroup, trackGroup, untrackGroup } from './process-group.js';
import { redactSecrets, urlSecrets } from '../redact.js';

export interface CaptureOptions extends AnalysisOptions {
  /** The command and its arguments (run without a shell). */
  readonly command: readonly string[];
  /** The database the command's load reaches; without it an embedded PostgreSQL is started. */
  readonly databaseUrl?: string;
  /** Files applied before the command (on an embedded target, or with `setup: true`). */
  readonly files?: { readonly schema: readonly SetupFile[]; readonly seed: readonly SetupFile[] };
  readonly setup?: boolean;
  readonly signal?: AbortSignal;
  readonly onStep?: (message: string) => void;
  /** Where the command's output goes: the same terminal (default), or ignored. */
  readonly stdio?: 'inherit' | 'ignore';
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** After Ctrl-C (passed on to the command), how long it may take to exit on its own before SIGTERM, ms. */
  readonly graceMs?: number;
}

/** How long the command's group has to exit after SIGTERM before it is killed, ms. */
const TERM_GRACE_MS = 5000;

/**
 * Stops the command's process group: Ctrl-C (SIGINT) is passed on first, as a terminal would, and
 * the command gets `graceMs` to stop on its own; then SIGTERM, and SIGKILL after TERM_GRACE_MS.
 */
async function stopGroup(pid: number, exited: Promise<unknown>, reason: string, graceMs: number): Promise<void> {
  const exitedWithin = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const done = await Promise.race([exited.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  };
  if (reason.includes('SIGINT')) {
    killGroup(pid, 'SIGINT');
    if (await exitedWithin(graceMs)) return;
  }
  killGroup(pid, 'SIGTERM');
  if (await exitedWithin(TERM_GRACE_MS)) return;
  killGroup(pid, 'SIGKILL');
}

/**
 * Runs the command with DATABASE_URL set to the target and returns the report of what the database
 * did until it exited. A command that fails still yields its report: it is thrown inside a
 * RunFailedError (COMMAND_FAILED), so that the caller can write it before reporting the failure.
 */
export async function captureCommand(options: CaptureOptions): Promise<Report> {
  const files = (options.files?.schema.length ?? 0) + (options.files?.seed.length ?? 0);
  return withTarget(options.databaseUrl, options.onStep, (target) => captureOnTarget(target, options), {
    ...(options.signal ? { signal: options.signal } : {}),
    setupFirst: Boolean(options.setup) && files > 0,
  });
}

/** Runs on an already opened target (the caller closes it). */
export async function captureOnTarget(target: Target, options: CaptureOptions): Promise<Report> {
  const step = options.onStep ?? (() => undefined);
  const [program, ...args] = options.command;
  if (!program) throw new EnvironmentError('COMMAND_FAILED', 'no command to run');
  // The command line often holds the target's URL (psql, pgbench): it is shown and stored masked.
  const secrets = [...urlSecrets(target.url), ...urlSecrets(options.databaseUrl)];
  const shown = options.command.map((arg) => redactSecrets(arg, secrets));
  const text = shown.join(' ');
  const warnings: string[] = [];
  const startedAt = new Date();
  const files = [...(options.files?.schema ?? []), ...(options.files?.seed ?? [])];
  const { skipped } = await setUpDatabase(target, files, {
    allowed: Boolean(options.setup),
    step,
    // pg_stat_statements installed: after the files, which may create it, before they commit.
    check: (session) => target.checkStatistics(session),
  });
  if (skipped) warnings.push(skipped);
  // Opened after the setup files, as the command's connections are: it sees what they see.
  const control = await target.connect('querygate-control');
  try {
    // The role and settings to plan as: refused before the load, not after it at every EXPLAIN.
    await checkExplainAs(control, options.explainAs);
    const before = await takeSnapshot(control, target.info.serverVersionNum);
    step(`running ${text}`);
    // A process group of its own: an interrupt stops the command and everything it started (a
    // shell's children, npm's scripts), even when only querygate's process was signalled, as a CI
    // runner or a supervisor does. The group is killed if querygate exits without stopping it.
    const child = spawn(program, args, {
      cwd: options.cwd ?? process.cwd(),
      env: { ...(options.env ?? process.env), DATABASE_URL: target.url },
      stdio: ['inherit', options.stdio ?? 'inherit', options.stdio ?? 'inherit'],
      detached: process.platform !== 'win32',
    });
    const pid = child.pid;
    if (pid) trackGroup(pid);
    const exited = new Promise<AppExit | Error>((resolve) => {
      child.on('error', resolve);
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    const onAbort = () => {
      if (pid) void stopGroup(pid, exited, String(options.signal?.reason ?? ''), options.graceMs ?? 5000);
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    const exit = await exited;
    options.signal?.removeEventListener('abort', onAbort);
    if (pid) {
      // What the command left running in its group (background jobs of a shell) stops with it, and
      // is killed when querygate exits if it is still there.
      killGroup(pid, 'SIGTERM');
      if (!groupAlive(pid)) untrackGroup(pid);
    }
    if (exit instanceof Error) {
      const code = (exit as { code?: string }).code;
      throw new EnvironmentError(
        'COMMAND_FAILED',
        code === 'ENOENT'
          ? `command not found: ${shown[0]}`
          : `cannot run ${text}: ${redactSecrets(exit.message, secrets)}`,
      );
    }
    const after = await takeSnapshot(control, target.info.serverVersionNum);
    const interrupted = options.signal?.aborted ? String(options.signal.reason ?? 'interrupted') : undefined;
    const failed = !interrupted && (exit.code !== 0 || exit.signal !== null);
    if (failed) warnings.push(`the command ${describeExit(exit)}: ${text}`);
    const finishedAt = Date.now();
    const workload: WorkloadInfo = {
      kind: 'external',
      name: basename(program),
      connections: 0,
      durationMs: finishedAt - startedAt.getTime(),
      rounds: 1,
      analyze: options.analyze ?? false,
      writesRolledBack: false,
      command: shown,
    };
    const finalized = await finalizeReport({
      target,
      control,
      snapshots: [before, after],
      client: [],
      dropTransactionControl: false,
      workload,
      startedAt,
      ...(interrupted ? { stoppedBy: interrupted } : {}),
      warnings,
      errors: 0,
      analysis: options,
      onStep: step,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const report = options.analyze ? recordAnalyze(finalized) : finalized;
    if (failed) throw new RunFailedError('COMMAND_FAILED', `the command ${describeExit(exit)}: ${text}`, report);
    if (recordedNothing(report)) {
      throw new RunFailedError(
        'NOTHING_RECORDED',
        `pg_stat_statements recorded no statement in database "${target.info.database}" while the command ran ` +
          `(${text}): the load did not reach this database, and the measurement is void`,
        report,
        [
          target.kind === 'embedded'
            ? 'hint: the command got DATABASE_URL of the embedded database querygate started; load that goes ' +
              'through an application with a database of its own needs that database, with --database-url'
            : 'hint: pass the database the load reaches as --database-url',
        ],
      );
    }
    return report;
  } finally {
    await control.close();
  }
}
