/**
 * `querygate run`: replay a workload against the target and capture what the database did.
 * Every exit path closes the target (and so stops an embedded server); an interrupted run still
 * returns a report of what was captured, marked incomplete.
 */
import { checkExplainAs } from '../capture/explain.js';
import type { ClientStatement } from '../capture/assemble.js';
import { InputError, InterruptedError, type InputErrorCode } from '../errors.js';
import { INTERNAL_MARK, takeSnapshot, type Snapshot } from '../capture/statements.js';
import type { NotCalledStatement, Report, WorkloadInfo } from '../model/report.js';
import { normalizeStatement } from '../analyze/parser.js';
import { LatencyRecorder } from '../capture/latency.js';
import type { Workload, WorkloadStatement } from '../model/workload.js';
import type { Session } from '../target/pg.js';
import { checkConnectionSlots, type Target } from '../target/target.js';
import { interruptible } from '../target/interruptible.js';
import { withTarget } from './with-target.js';
import { replayWorkload, type ReplayProgress, type StatementOutcome, mergeMax } from '../workload/replay.js';
import { DEFAULT_EXPLAIN_TIMEOUT_MS, finalizeReport, type AnalysisOptions } from './finalize.js';
import { checkWorkloadStatements, markReadOnly, setUpDatabase, setupDigest, type SetupResult } from './setup.js';

export interface RunOptions extends AnalysisOptions {
  readonly workload: Workload;
  /** An existing database; without it an embedded PostgreSQL is started. */
  readonly databaseUrl?: string;
  /** Apply the workload's schema/seed files to an external database (always done on embedded). */
  readonly setup?: boolean;
  /** Let writes commit on an external database (by default they are rolled back). */
  readonly allowWrites?: boolean;
  readonly seed?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ReplayProgress) => void;
  /** Human-readable steps ("applying schema.sql"), for the terminal. */
  readonly onStep?: (message: string) => void;
}

/** Replays a workload and returns the report (incomplete if interrupted). */
export async function runWorkload(options: RunOptions): Promise<Report> {
  const { setup } = options.workload;
  return withTarget(options.databaseUrl, options.onStep, (target) => runOnTarget(target, options), {
    connections: options.workload.load.connections,
    ...(options.signal ? { signal: options.signal } : {}),
    setupFirst: Boolean(options.setup) && setup.schema.length + setup.seed.length > 0,
  });
}

/** Runs on an already opened target (the caller closes it). */
export async function runOnTarget(target: Target, options: RunOptions): Promise<Report> {
  const { workload } = options;
  const step = options.onStep ?? (() => undefined);
  const warnings: string[] = [...(workload.warnings ?? [])];
  const startedAt = new Date();
  const external = target.kind === 'external';
  const files = [...workload.setup.schema, ...workload.setup.seed];
  const interrupted = () => new InterruptedError(String(options.signal?.reason ?? 'interrupted'));
  let setup: SetupResult;
  try {
    setup = await setUpDatabase(target, files, {
      allowed: Boolean(options.setup),
      step,
      // pg_stat_statements installed: after the files, which may create it, before they commit.
      check: (session: Session) => target.checkStatistics(session),
      // A seed or VACUUM of a large table runs for a while: an interrupt cancels it rather than wait.
      ...(options.signal ? { signal: options.signal } : {}),
      // Before the setup files, which may run for a while: the replay could not start anyway.
      ...(external
        ? { before: (session: Session) => checkConnectionSlots(session, target.info, workload.load.connections) }
        : {}),
    });
  } catch (error) {
    // The statement in flight was cancelled: that is the interrupt, not a failure of a file.
    if (options.signal?.aborted) throw interrupted();
    throw error;
  }
  const { skipped } = setup;
  if (skipped) warnings.push(skipped);
  // Opened after the setup files, as the replay's connections are: it sees what they see.
  const control = await target.connect('querygate-control');
  try {
    // The role and settings to plan as: refused before the load, not after it at every EXPLAIN.
    await checkExplainAs(control, options.explainAs);
    const checks = options.signal
      ? interruptible(control, options.signal, () => target.connect('querygate-cancel'))
      : control;
    try {
      // Missing tables and values PostgreSQL refuses, of every statement, in one run.
      await checkWorkloadStatements(checks, workload.statements, {
        seed: options.seed ?? 1,
        timeoutMs: options.explainTimeoutMs ?? DEFAULT_EXPLAIN_TIMEOUT_MS,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(setup.session ? { setup: setup.session } : {}),
      });
    } catch (error) {
      if (options.signal?.aborted) throw interrupted();
      // The likely cause of a missing table: the setup files were not applied.
      if (skipped && error instanceof InputError) {
        throw new InputError(error.code as InputErrorCode, error.message, [
          ...error.details,
          `hint: the setup files were not applied to the external database: pass --setup to apply them`,
        ]);
      }
      throw error;
    }

    // Not only the writes: a SELECT may write through a function it calls (a job queue's
    // dequeue_job(), nextval()), which its parse tree does not show. BEGIN and ROLLBACK go in the
    // statement's own message, so the wrapping costs no round trip, but the server runs them for
    // every call: a SELECT the catalog shows cannot write (no volatile function, no view) runs as it is.
    const rollback = external && !options.allowWrites;
    const replayed = rollback
      ? { ...workload, statements: await markReadOnly(control, workload.statements) }
      : workload;
    const snapshots: Snapshot[] = [];
    const snapshot = async () => {
      snapshots.push(await takeSnapshot(control, target.info.serverVersionNum));
    };
    step(`replaying ${workload.statements.length} statement(s) over ${workload.load.connections} connection(s)`);
    const replay = await replayWorkload(replayed, {
      connect: () =>
        target.connectReplay('querygate-replay', {
          ...(workload.load.statementTimeoutMs !== undefined
            ? { statementTimeoutMs: workload.load.statementTimeoutMs }
            : {}),
        }),
      // Worker threads of the replay open their own connections.
      connectionUrl: target.url,
      applicationName: 'querygate-replay',
      rollback,
      seed: options.seed ?? 1,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      beforeMeasure: snapshot,
      afterRound: snapshot,
    });
    const complete = replay.stoppedBy === undefined;
    if (snapshots.length === 0) await snapshot(); // interrupted during warm-up
    if (!complete) await snapshot(); // the partial last round
    if (replay.errors > 0) {
      // Name what failed: the per-statement counts are in the report, the message belongs here too.
      const failing = workload.statements
        .map((s, i) => ({ s, o: replay.statements[i]! }))
        .filter(({ o }) => o.errors > 0)
        .map(({ s, o }) => `${s.name}: ${o.errors}x ${o.errorSamples[0] ?? 'failed'}`);
      const shown = failing.slice(0, 3).join('; ');
      const more = failing.length > 3 ? `; and ${failing.length - 3} more statement(s)` : '';
      warnings.push(`${replay.errors} statement call(s) failed during the replay (${shown}${more})`);
    }
    const cut = workload.statements.map((s, i) => ({ s, o: replay.statements[i]! })).filter(({ o }) => o.stopped > 0);
    if (cut.length > 0) {
      // Not failures: the statements the stop found running, and for how long (often why it was interrupted).
      const named = cut
        .slice(0, 3)
        .map(
          ({ s, o }) =>
            `${s.name}: ${o.stopped > 1 ? `${o.stopped} calls, the longest` : '1 call,'} after ${seconds(o.stoppedMs ?? 0)}`,
        );
      const calls = cut.reduce((sum, { o }) => sum + o.stopped, 0);
      warnings.push(
        `${calls} call(s) still running when the run stopped (${replay.stoppedBy ?? 'interrupted'}) were cancelled, ` +
          `and are counted neither as calls nor as errors (${named.join('; ')}${cut.length > 3 ? `; and ${cut.length - 3} more statement(s)` : ''})`,
      );
    }
    const notCalled = notCalledStatements(workload.statements, replay.statements, workload.kind === 'scenario');
    if (notCalled.length > 0 && complete && workload.load.shape.kind === 'duration')
      warnings.push(notCalledWarning(notCalled, workload, replay.calls + replay.errors));
    if (rollback && workload.statements.some((s) => s.write))
      warnings.push(
        'writes ran inside transactions that were rolled back, as every statement on an external database does ' +
          '(pass --allow-writes to commit them); sequences they advanced stay advanced',
      );

    const client = clientStatements(workload.statements, replay.statements);
    const load = workload.load;
    const workloadInfo: WorkloadInfo = {
      kind: workload.kind,
      name: workload.name,
      ...(workload.source ? { source: workload.source } : {}),
      connections: load.connections,
      ...(load.shape.kind === 'repeat' ? { repeat: load.shape.repeat } : {}),
      ...(load.shape.kind === 'count' ? { count: load.shape.count } : {}),
      ...(load.shape.kind === 'duration' ? { durationMs: load.shape.durationMs } : {}),
      ...(load.warmupMs ? { warmupMs: load.warmupMs } : {}),
      rounds: load.rounds,
      analyze: options.analyze ?? false,
      writesRolledBack: rollback,
      // The embedded database holds nothing but what the files made; an external one, anything.
      ...(external ? {} : { setupSha256: setupDigest(files) }),
    };
    // The replay connects as the control session's role: its statements are the run's own.
    const role = await control.query<{ oid: string }>(
      `SELECT ${INTERNAL_MARK} oid::text AS oid FROM pg_roles WHERE rolname = current_user`,
    );
    return await finalizeReport({
      target,
      control,
      snapshots,
      client,
      ...(role.rows[0] ? { replayUserId: role.rows[0].oid } : {}),
      dropTransactionControl: true,
      workload: workloadInfo,
      startedAt,
      ...(replay.stoppedBy !== undefined ? { stoppedBy: replay.stoppedBy } : {}),
      ...(notCalled.length > 0 ? { notCalled } : {}),
      warnings,
      errors: replay.errors,
      throughput: replay.measuredMs > 0 ? Math.round((replay.calls / replay.measuredMs) * 1000 * 10) / 10 : 0,
      analysis: options,
      onStep: step,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    await control.close();
  }
}

/**
 * The workload's statements the replay never called, one per fingerprint (statements of one shape
 * are one statement in the report: it is left out only when none of them got a call).
 */
function notCalledStatements(
  statements: readonly WorkloadStatement[],
  outcomes: readonly StatementOutcome[],
  scenario: boolean,
): NotCalledStatement[] {
  const called = new Set(
    statements
      .filter((_, i) => outcomes[i]!.latency.count + outcomes[i]!.errors + outcomes[i]!.stopped > 0)
      .map((s) => s.fingerprint),
  );
  const groups = new Map<string, WorkloadStatement[]>();
  for (const s of statements) {
    if (!called.has(s.fingerprint)) groups.set(s.fingerprint, [...(groups.get(s.fingerprint) ?? []), s]);
  }
  return [...groups.values()].map(([first, ...others]) => ({
    fingerprint: first!.fingerprint,
    name: [first!, ...others].map((s) => s.name).join(', '),
    query: normalizeStatement(first!.sql),
    ...(scenario && first!.line !== undefined ? { line: first!.line } : {}),
  }));
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;

/**
 * A duration-bound run that ended before every statement got a call: the statements left out have
 * no timing, plan or finding in the report, which would otherwise read as a smaller workload.
 */
function notCalledWarning(notCalled: readonly NotCalledStatement[], workload: Workload, calls: number): string {
  const { load } = workload;
  const durationMs = load.shape.kind === 'duration' ? load.shape.durationMs : 0;
  const named = notCalled.slice(0, 5).map((s) => `"${s.name}"`);
  const more = notCalled.length > 5 ? ` and ${notCalled.length - 5} more` : '';
  const them = notCalled.length === 1 ? 'it' : 'them';
  return (
    `${notCalled.length} of ${workload.statements.length} statements ${notCalled.length === 1 ? 'was' : 'were'} never called: the duration of ${seconds(durationMs)}` +
    (load.rounds > 1 ? ` (${load.rounds} rounds of ${seconds(durationMs / load.rounds)})` : '') +
    ` had room for ${calls} call(s) over ${load.connections} connection(s): ${named.join(', ')}${more}; ` +
    `the report has no timing, plan or finding for ${them}, and budgets cannot gate ${them}: ` +
    'give the run a longer --duration or more --connections, or use --repeat N (every statement N times)'
  );
}

/**
 * What the client knows per fingerprint. Workload statements of one shape (the same query with
 * other literals, or `$1` and `$1::uuid`) are one statement in the report, as the report is keyed by
 * fingerprint: their errors and latencies are counted together and every name is kept.
 */
function clientStatements(
  statements: readonly WorkloadStatement[],
  outcomes: readonly StatementOutcome[],
): ClientStatement[] {
  const groups = new Map<string, number[]>();
  statements.forEach((s, i) => groups.set(s.fingerprint, [...(groups.get(s.fingerprint) ?? []), i]));
  return [...groups.values()].map((indexes) => {
    const mine = indexes.map((i) => outcomes[i]!);
    // Texts of one shape may differ in cost (`status = 'shipped'` served by a partial index, `status =
    // 'returned'` not): the plan is made for the text that was slowest on average in the replay.
    const means = mine.map((o) => o.latency.summary()?.meanMs ?? -1);
    const slowest = means.indexOf(Math.max(...means));
    const first = statements[indexes[slowest]!]!;
    const latency = new LatencyRecorder();
    mine.forEach((o) => latency.absorb(o.latency));
    // The values of the slowest call; of the slowest failed call when none succeeded (a statement
    // that timed out every time is explained as the replay sent it, not as a generic plan).
    const params =
      mine.filter((o) => o.slowParams).sort((a, b) => b.slowMs! - a.slowMs!)[0]?.slowParams ??
      mine.filter((o) => o.failedParams).sort((a, b) => b.failedMs! - a.failedMs!)[0]?.failedParams;
    const paramMax = mine.reduce<(number | null)[] | undefined>(
      (max, o) => (o.paramMax ? mergeMax(max, o.paramMax) : max),
      undefined,
    );
    const written = statements[indexes[0]!]!;
    const line = written.line ?? written.origin?.line;
    const stopped = mine.reduce((sum, o) => sum + o.stopped, 0);
    return {
      fingerprint: first.fingerprint,
      name: indexes.map((i) => statements[i]!.name).join(', '),
      // The line of its sql in the scenario or SQL file: annotations point there whatever its name.
      ...(line !== undefined ? { line } : {}),
      sql: first.sql,
      paramCount: first.paramCount,
      ...(params ? { params } : {}),
      ...(paramMax ? { paramMax: paramMax.map((v) => (v === Number.NEGATIVE_INFINITY ? null : v)) } : {}),
      latency: latency.summary(),
      errors: mine.reduce((sum, o) => sum + o.errors, 0),
      // Three samples per statement, as the replay keeps them.
      errorSamples: [...new Set(mine.flatMap((o) => o.errorSamples))].slice(0, 3),
      ...(stopped > 0
        ? { cancelledAtStop: { calls: stopped, longestMs: Math.round(Math.max(...mine.map((o) => o.stoppedMs ?? 0))) } }
        : {}),
    };
  });
}
