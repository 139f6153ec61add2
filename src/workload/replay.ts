/**
 * SQL replay: runs a workload's statements over N connections, measuring client-side latency.
 * Statements are prepared once per connection and executed with the extended protocol, as
 * `pgbench -M prepared` does, so querygate's own overhead stays small next to the server's work.
 */
import { performance } from 'node:perf_hooks';
import { LatencyRecorder } from '../capture/latency.js';
import type { Workload } from '../model/workload.js';
import { asServerError } from '../target/pg.js';
import type { WireSession } from '../target/wire.js';
import { createRandom, createValueSources, createWeightedPicker, type ValueSource } from './generators.js';

export interface ReplayProgress {
  readonly phase: 'warmup' | 'measure';
  readonly round: number;
  readonly rounds: number;
  readonly done: number;
  /** Calls planned in total; null for a duration-bound run. */
  readonly total: number | null;
  readonly elapsedMs: number;
  /** Time the run is planned to take; null for a count-bound run. */
  readonly plannedMs: number | null;
  readonly errors: number;
}

export interface StatementOutcome {
  readonly latency: LatencyRecorder;
  errors: number;
  readonly errorSamples: string[];
  /** Parameter values of the first successful call: used to EXPLAIN with real values. */
  firstParams?: (string | null)[];
}

export interface ReplayResult {
  readonly statements: readonly StatementOutcome[];
  readonly calls: number;
  readonly errors: number;
  /** Wall time of the measured rounds, ms. */
  readonly measuredMs: number;
  /** Set when the replay stopped early. */
  readonly stoppedBy?: string;
}

export interface ReplayOptions {
  /** Opens one replay connection to the target. */
  readonly connect: () => Promise<WireSession>;
  /** Run writes inside BEGIN ... ROLLBACK. */
  readonly rollbackWrites: boolean;
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ReplayProgress) => void;
  /** Called once the warm-up is over, before the first measured round (take the first snapshot). */
  readonly beforeMeasure?: () => Promise<void>;
  /** Called after each measured round (take a snapshot). */
  readonly afterRound?: (round: number) => Promise<void>;
}

/** Splits `total` into `parts` near-equal integers. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor((total * (i + 1)) / parts) - Math.floor((total * i) / parts));
}

/** Replays the workload; resolves when it is done or stopped (never rejects on statement errors). */
export async function replayWorkload(workload: Workload, options: ReplayOptions): Promise<ReplayResult> {
  const { statements, load } = workload;
  const random = createRandom(options.seed);
  const sources: ValueSource[][] = statements.map((s) => createValueSources(s.params, random));
  const pick = createWeightedPicker(
    statements.map((s) => s.weight),
    random,
  );
  const outcomes: StatementOutcome[] = statements.map(() => ({ latency: new LatencyRecorder(), errors: 0, errorSamples: [] }));
  const sessions: WireSession[] = [];
  /** Statements prepared on each session (by index), prepared lazily on first use. */
  const prepared: Set<number>[] = [];
  try {
    for (let i = 0; i < load.connections; i++) {
      sessions.push(await options.connect());
      prepared.push(new Set());
    }
  } catch (error) {
    sessions.forEach((s) => s.close());
    throw error;
  }

  let calls = 0;
  let errors = 0;
  let stoppedBy: string | undefined;
  let lostConnections = 0;
  const stopped = () => options.signal?.aborted === true || stoppedBy !== undefined;

  const names = statements.map((_, i) => `querygate_${i}`);

  /** Records a call's outcome; returns false when the connection is gone. */
  const settle = (i: number, record: boolean, start: number, params: (string | null)[] | undefined, error?: unknown): boolean => {
    const outcome = outcomes[i]!;
    if (error === undefined) {
      if (record) {
        outcome.latency.record(performance.now() - start);
        if (!outcome.firstParams && params) outcome.firstParams = params;
        calls++;
      }
      return true;
    }
    const server = asServerError(error);
    if (record) {
      outcome.errors++;
      errors++;
      const message = server?.message ?? (error instanceof Error ? error.message : String(error));
      if (outcome.errorSamples.length < 3 && !outcome.errorSamples.includes(message)) outcome.errorSamples.push(message);
    }
    if (server) return true;
    // Not an SQL error: the connection is broken.
    lostConnections++;
    if (lostConnections >= sessions.length) stoppedBy = 'lost every connection to the database';
    return false;
  };

  /** The general path: first use of a statement on a connection (prepare), writes rolled back. */
  const executeSlowly = async (k: number, i: number, record: boolean): Promise<boolean> => {
    const session = sessions[k]!;
    const statement = statements[i]!;
    const params = statement.paramCount > 0 ? sources[i]!.map((next) => next()) : undefined;
    const start = performance.now();
    try {
      if (!prepared[k]!.has(i)) {
        await session.prepare(names[i]!, statement.sql);
        prepared[k]!.add(i);
      }
      if (statement.write && options.rollbackWrites) {
        await session.simple('BEGIN');
        try {
          await session.execute(names[i]!, params);
        } finally {
          await session.simple('ROLLBACK');
        }
      } else {
        await session.execute(names[i]!, params);
      }
      return settle(i, record, start, params);
    } catch (error) {
      return settle(i, record, start, params, error);
    }
  };

  /**
   * Runs session `k` until `next()` returns undefined. The common case (a prepared statement, no
   * rollback) goes through callbacks, without a promise per call.
   */
  const runSession = (k: number, next: () => number | undefined, record: boolean): Promise<void> =>
    new Promise((resolve) => {
      const session = sessions[k]!;
      const step = (): void => {
        if (stopped()) return resolve();
        const i = next();
        if (i === undefined) return resolve();
        const statement = statements[i]!;
        if (!prepared[k]!.has(i) || (statement.write && options.rollbackWrites)) {
          void executeSlowly(k, i, record).then((alive) => (alive ? step() : resolve()));
          return;
        }
        const params = statement.paramCount > 0 ? sources[i]!.map((source) => source()) : undefined;
        const start = performance.now();
        session.executeThen(names[i]!, params, (error) => (settle(i, record, start, params, error) ? step() : resolve()));
      };
      step();
    });

  const started = performance.now();
  let progressState: Omit<ReplayProgress, 'elapsedMs' | 'done' | 'errors'> = {
    phase: 'warmup',
    round: 0,
    rounds: load.rounds,
    total: null,
    plannedMs: null,
  };
  const timer = options.onProgress
    ? setInterval(() => options.onProgress?.({ ...progressState, done: calls, errors, elapsedMs: performance.now() - started }), 200)
    : undefined;

  /** Runs all sessions until `next()` returns undefined. */
  const drive = (next: () => number | undefined, record: boolean) =>
    Promise.all(sessions.map((_, k) => runSession(k, next, record)));

  const untilDeadline = (ms: number) => {
    const deadline = performance.now() + ms;
    return () => (performance.now() < deadline ? pick() : undefined);
  };

  let measuredMs = 0;
  try {
    if (load.warmupMs > 0) await drive(untilDeadline(load.warmupMs), false);
    if (!stopped()) await options.beforeMeasure?.();
    const shape = load.shape;
    const rounds = load.rounds;
    const total =
      shape.kind === 'repeat' ? shape.repeat * statements.length : shape.kind === 'count' ? shape.count : null;
    const perStatementRepeat = shape.kind === 'repeat' ? split(shape.repeat, rounds) : [];
    const perRoundCount = shape.kind === 'count' ? split(shape.count, rounds) : [];
    const measureStart = performance.now();
    for (let round = 0; round < rounds && !stopped(); round++) {
      progressState = {
        phase: 'measure',
        round: round + 1,
        rounds,
        total,
        plannedMs: shape.kind === 'duration' ? shape.durationMs : null,
      };
      if (shape.kind === 'repeat') {
        // Interleave statements so that they run concurrently, as in production.
        const n = perStatementRepeat[round] ?? 0;
        let k = 0;
        await drive(() => (k < n * statements.length ? k++ % statements.length : undefined), true);
      } else if (shape.kind === 'count') {
        let left = perRoundCount[round] ?? 0;
        await drive(() => (left-- > 0 ? pick() : undefined), true);
      } else {
        await drive(untilDeadline(shape.durationMs / rounds), true);
      }
      measuredMs = performance.now() - measureStart;
      if (stopped()) break;
      await options.afterRound?.(round);
    }
  } finally {
    if (timer) clearInterval(timer);
    sessions.forEach((s) => s.close());
  }
  if (options.signal?.aborted) stoppedBy ??= String(options.signal.reason ?? 'interrupted');
  return { statements: outcomes, calls, errors, measuredMs, ...(stoppedBy ? { stoppedBy } : {}) };
}
