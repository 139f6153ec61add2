/**
 * SQL replay: runs a workload's statements over N connections, measuring client-side latency.
 * Statements are prepared once per connection and executed with the extended protocol, as
 * `pgbench -M prepared` does, so querygate's own overhead stays small next to the server's work.
 *
 * The connections are split over worker threads (replay-worker.ts): each write to a socket wakes a
 * PostgreSQL backend, which on a machine with few cores preempts the writing thread, so a single
 * Node thread driving every connection stalls them all at once. The main thread keeps the round
 * barriers (snapshots are taken between rounds, with every thread idle), the progress line and the
 * merge of the threads' raw latencies, so percentiles stay exact.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EnvironmentError, type EnvironmentErrorCode } from '../errors.js';
import { LatencyRecorder } from '../capture/latency.js';
import type { Workload } from '../model/workload.js';
import { asServerError } from '../target/pg.js';
import type { WireSession } from '../target/wire.js';
import { countPerRound, roundOrder, split } from './count.js';
import { createDeck } from './deck.js';
import { createRandom, createStatementValues } from './generators.js';

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
  /**
   * Parameter values of the slowest successful call, and its latency (ms): the statement is
   * explained with them, so that its plan shows why its costly calls are costly (a lucky value can
   * make a plan look cheap that most calls are not).
   */
  slowParams?: (string | null)[];
  slowMs?: number;
  /**
   * Parameter values of the slowest failed call, and its latency (ms): a statement whose every call
   * failed (timed out) is explained with them, as the statement the replay sent, not as a generic plan.
   */
  failedParams?: (string | null)[];
  failedMs?: number;
  /** Largest numeric value sent per parameter (null: a value was not a number). */
  paramMax?: (number | null)[];
  /**
   * Calls still running when the run stopped early (an interrupt, lost connections), cancelled by
   * querygate: not the statement's failure, so counted neither as calls nor as errors.
   */
  stopped: number;
  /** How long the longest of them had run, ms. */
  stoppedMs?: number;
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
  /** Opens one replay connection to the target (the single-threaded replay). */
  readonly connect: () => Promise<WireSession>;
  /**
   * Connection URL of the target: worker threads open their own connections with it. Without it
   * the replay runs every connection on the calling thread.
   */
  readonly connectionUrl?: string;
  /** application_name of the connections opened by worker threads. */
  readonly applicationName?: string;
  /** Run every statement inside a transaction that is rolled back (an external database without --allow-writes). */
  readonly rollback: boolean;
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ReplayProgress) => void;
  /** Called once the warm-up is over, before the first measured round (take the first snapshot). */
  readonly beforeMeasure?: () => Promise<void>;
  /** Called after each measured round (take a snapshot). */
  readonly afterRound?: (round: number) => Promise<void>;
}

/** Splits `total` into `parts` near-equal integers. */
export { split };

/** Threads a replay of `workload` uses: `load.threads`, else one per core, never more than connections. */
export function replayThreads(workload: Workload): number {
  const { connections, threads } = workload.load;
  return Math.max(1, Math.min(connections, threads ?? availableParallelism()));
}

/** The worker's compiled entry; absent when querygate runs from its TypeScript sources (tests). */
const WORKER_URL = new URL('./replay-worker.js', import.meta.url);

/** Replays the workload; resolves when it is done or stopped (never rejects on statement errors). */
export async function replayWorkload(workload: Workload, options: ReplayOptions): Promise<ReplayResult> {
  const threads = replayThreads(workload);
  if (threads > 1 && options.connectionUrl !== undefined && existsSync(fileURLToPath(WORKER_URL))) {
    return replayOnThreads(workload, options, threads, options.connectionUrl);
  }
  return replayInProcess(workload, options);
}

// ---------------------------------------------------------------------------------------------
// One thread's share of the work (shared by the in-process replay and the worker threads).

/** SQLSTATE of a statement cancelled by a cancel request or by statement_timeout. */
const QUERY_CANCELED = '57014';
/**
 * How long a statement may run on after the end of a duration-bound round (or warm-up) before it is
 * cancelled: the round's length, at least `MIN_GRACE_MS` and at most `CUT_OFF_GRACE_MS`.
 */
const CUT_OFF_GRACE_MS = 5_000;
const MIN_GRACE_MS = 1_000;
/** How often a running replay checks for a statement to cut off. */
const WATCHDOG_MS = 200;
/**
 * Calls on the wire at once per connection. With two, the replay ran at 0.75x of pgbench on 2
 * shared cores, as with one; with four, at 1.03-1.13x (bench/README.md): the backend finds its next
 * calls waiting while the client reads a batch of answers.
 */
export const PIPELINE_DEPTH = 4;

const formatSeconds = (ms: number) => `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;

/**
 * Why querygate cancelled a call: `late`, still running the grace time after the end of a
 * duration-bound round (or warm-up), a failure of the statement; `stopped`, still running when the
 * run stopped early, which is not.
 */
type CutOff = 'late' | 'stopped';

/** Where latencies go: a LatencyRecorder in process, a growable Float64Array in a worker. */
export interface LatencySink {
  record(ms: number): void;
}

export interface ShareOutcome<L extends LatencySink> {
  readonly latency: L;
  errors: number;
  readonly errorSamples: string[];
  slowParams?: (string | null)[];
  slowMs?: number;
  failedParams?: (string | null)[];
  failedMs?: number;
  paramMax?: (number | null)[];
  stopped: number;
  stoppedMs?: number;
}

/** Thread `index` of `count`. */
export interface ThreadShare {
  readonly index: number;
  readonly count: number;
}

export interface ShareReplayOptions<L extends LatencySink> {
  readonly sessions: readonly WireSession[];
  /** Run every statement inside a transaction that is rolled back. */
  readonly rollback: boolean;
  readonly seed: number;
  readonly share: ThreadShare;
  /**
   * Call counters (`createCallCounters`), shared with the other threads of the replay; a share of
   * its own when absent (the replay runs on one thread).
   */
  readonly callCounters?: Uint32Array;
  /** Checked before every call. */
  readonly isStopped: () => boolean;
  readonly createLatency: () => L;
  /** Called for every connection found broken. */
  readonly onConnectionLost?: () => void;
}

export interface ShareReplay<L extends LatencySink> {
  readonly outcomes: readonly ShareOutcome<L>[];
  readonly calls: number;
  readonly errors: number;
  readonly lostConnections: number;
  /** Runs unmeasured calls, picked by weight, for `ms`. */
  warmUp(ms: number): Promise<void>;
  /** Runs this share of measured round `round`. */
  runRound(round: number): Promise<void>;
}

/** Seed of a thread's deck (which statement comes next); parameter values do not depend on it. */
function seedOfShare(seed: number, share: ThreadShare): number {
  return (seed + Math.imul(share.index, 0x9e3779b9)) >>> 0;
}

/**
 * Call counters of a replay, two per statement (`2i`: warm-up calls of statement i, `2i + 1`: its
 * measured calls), shared by every thread: each call takes the next number of its statement, which
 * gives its parameter values (`createStatementValues`).
 */
export function createCallCounters(statements: number, shared = false): Uint32Array {
  const bytes = 2 * statements * Uint32Array.BYTES_PER_ELEMENT;
  return new Uint32Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
}

/**
 * Replays a share of the workload over `sessions`: the warm-up runs for its duration, a `repeat`
 * round runs its slice of the interleaved calls (slices of all threads cover each statement exactly
 * `repeat` times), a `count` round its slice of the round's calls (each statement's share of the
 * count by weight, spread evenly over the rounds: count.ts), a `duration` round until its deadline,
 * from a deck dealt anew for each round (deck.ts).
 */
export function createShareReplay<L extends LatencySink>(
  workload: Workload,
  options: ShareReplayOptions<L>,
): ShareReplay<L> {
  const { statements, load } = workload;
  const { sessions, share } = options;
  // In a rolled-back transaction unless the statement is known not to write.
  const wrapped = (i: number) => options.rollback && statements[i]!.readOnly !== true;
  const random = createRandom(seedOfShare(options.seed, share));
  // A statement's values come from its own call numbers, not from a stream shared with the other
  // statements: adding a statement, or changing the weights or the deal, left every other
  // statement with other values (a bound drawn anew, twice the rows) and compare called it a
  // regression. The numbers are shared by the threads, so a seq never repeats and the values of N
  // calls are those of calls 0 .. N-1 however many threads and connections sent them.
  const measuredValues = createStatementValues(statements, options.seed, 'measured');
  const warmUpValues = createStatementValues(statements, options.seed, 'warm-up');
  const counters = options.callCounters ?? createCallCounters(statements.length);
  /** Parameter values of the next call of statement `i`. */
  const drawMeasured = (i: number): (string | null)[] => {
    const call = Atomics.add(counters, 2 * i + 1, 1);
    // The warm-up is over on every thread when a measured round starts: its count is final.
    return measuredValues[i]!(call, Atomics.load(counters, 2 * i) + call);
  };
  const drawWarmUp = (i: number): (string | null)[] => {
    const call = Atomics.add(counters, 2 * i, 1);
    return warmUpValues[i]!(call, call);
  };
  // A duration-bound drive (and the warm-up) picks from a deck by weight whose first cards reach
  // every statement (deck.ts): random picks left statements of a low weight out of a short run.
  const deck = createDeck(
    statements.map((s) => s.weight),
    options.seed,
    random,
    share,
  );
  const outcomes: ShareOutcome<L>[] = statements.map(() => ({
    latency: options.createLatency(),
    errors: 0,
    errorSamples: [],
    stopped: 0,
  }));
  /** Statements prepared on each session (by index), prepared lazily on first use. */
  const prepared: Set<number>[] = sessions.map(() => new Set());
  const names = statements.map((_, i) => `querygate_${i}`);

  let calls = 0;
  let errors = 0;
  let lostConnections = 0;
  const stopped = () => lostConnections >= sessions.length || options.isStopped();
  /**
   * Sessions with a call on the server, and why the call of each was cancelled (cut off): it ran on
   * too long after the end of a duration-bound drive, or the run stopped (an interrupt).
   */
  const busy = sessions.map(() => false);
  /**
   * When the session's oldest call on the wire started to run (performance.now()): when it was sent,
   * or when the call ahead of it in the pipeline was answered.
   */
  const runningSince = sessions.map(() => 0);
  const cutOff = sessions.map((): CutOff | undefined => undefined);
  /** End of the current duration-bound drive (warm-up or round), performance.now() time. */
  let deadline: number | undefined;
  /** How long a statement may run on after `deadline` before it is cut off. */
  let graceMs = CUT_OFF_GRACE_MS;
  const timeoutMs = load.statementTimeoutMs;

  /** Records a call's outcome (`ms`: its latency); returns false when the connection is gone. */
  const settle = (
    k: number,
    i: number,
    record: boolean,
    ms: number,
    params: (string | null)[] | undefined,
    error?: unknown,
  ): boolean => {
    const outcome = outcomes[i]!;
    if (error === undefined) {
      if (record) {
        outcome.latency.record(ms);
        if (params) {
          if (!(ms <= outcome.slowMs!)) {
            outcome.slowParams = params;
            outcome.slowMs = ms;
          }
          outcome.paramMax = trackMax(outcome.paramMax, params);
        }
        calls++;
      }
      return true;
    }
    const server = asServerError(error);
    const cancelled = server?.code === QUERY_CANCELED ? cutOff[k] : undefined;
    cutOff[k] = undefined;
    if (cancelled === 'stopped') {
      // Cut short by the stop, not failed: how long it had run is all there is to say.
      outcome.stopped++;
      if (!(ms <= outcome.stoppedMs!)) outcome.stoppedMs = ms;
      return true;
    }
    if (record || cancelled === 'late') {
      outcome.errors++;
      errors++;
      if (params && !(ms <= outcome.failedMs!)) {
        outcome.failedParams = params;
        outcome.failedMs = ms;
      }
      const message =
        cancelled === 'late'
          ? `cancelled by querygate after running ${formatSeconds(ms)}: still running ${formatSeconds(graceMs)} after the end of ${record ? 'its round of --duration' : 'the warm-up'}`
          : server?.code === QUERY_CANCELED && timeoutMs !== undefined && /statement timeout/.test(server.message)
            ? `${server.message} (the replay's statement timeout of ${formatSeconds(timeoutMs)}, --statement-timeout)`
            : (server?.message ?? (error instanceof Error ? error.message : String(error)));
      if (outcome.errorSamples.length < 3 && !outcome.errorSamples.includes(message))
        outcome.errorSamples.push(message);
    }
    if (server) return true;
    // Not an SQL error: the connection is broken.
    lostConnections++;
    options.onConnectionLost?.();
    return false;
  };

  /** The general path: first use of a statement on a connection (prepare). */
  const executeSlowly = async (
    k: number,
    i: number,
    params: (string | null)[] | undefined,
    record: boolean,
  ): Promise<boolean> => {
    const session = sessions[k]!;
    const statement = statements[i]!;
    const start = performance.now();
    busy[k] = true;
    runningSince[k] = start;
    try {
      if (!prepared[k]!.has(i)) {
        if (wrapped(i)) await session.prepareRollback();
        await session.prepare(names[i]!, statement.sql);
        prepared[k]!.add(i);
      }
      await session.execute(names[i]!, params, wrapped(i));
      busy[k] = false;
      return settle(k, i, record, performance.now() - start, params);
    } catch (error) {
      busy[k] = false;
      return settle(k, i, record, performance.now() - start, params, error);
    }
  };

  /**
   * Runs session `k` until `next()` returns undefined. The common case (a prepared statement, rolled
   * back or not: BEGIN and ROLLBACK go in the same message) goes through callbacks, without a
   * promise per call. Calls are pipelined: up to `PIPELINE_DEPTH` of them are on the wire at once,
   * each with its own Sync, so the server runs them one after the other as before, and a backend
   * that finishes one finds the next waiting instead of going to sleep until the client answers
   * (on a machine shared with the database, the wake-up costs more than the statement). An error
   * ends only its own call. A rolled-back call goes alone: its failure leaves a failed transaction
   * block that the wire client ends with a ROLLBACK, which nothing may overtake. A call's latency
   * runs from when it was sent, or from the previous answer when it waited behind that call.
   */
  const runSession = (k: number, next: () => number | undefined, record: boolean): Promise<void> =>
    new Promise((resolve) => {
      const session = sessions[k]!;
      const draw = record ? drawMeasured : drawWarmUp;
      // The planned call: statement, parameters, and its message if it can take the fast path.
      let i: number | undefined;
      let params: (string | null)[] | undefined;
      let message: Buffer | undefined;
      const plan = (): void => {
        i = next();
        if (i === undefined) return;
        const statement = statements[i]!;
        params = statement.paramCount > 0 ? draw(i) : undefined;
        message = prepared[k]!.has(i) ? session.encodeExecute(names[i]!, params, wrapped(i)) : undefined;
      };
      // The calls on the wire, oldest first, in a ring of PIPELINE_DEPTH slots. One callback
      // serves them all: the wire client answers calls in the order they were sent.
      const flightStatement = new Array<number>(PIPELINE_DEPTH).fill(0);
      const flightParams = new Array<(string | null)[] | undefined>(PIPELINE_DEPTH).fill(undefined);
      const flightSent = new Array<number>(PIPELINE_DEPTH).fill(0);
      let head = 0;
      let inFlight = 0;
      let lastWrapped = false;
      let lastAnswer = 0;
      /** The connection is gone (the calls still on the wire fail with it, counted once) or the slow path runs. */
      let lost = false;
      let slow = false;
      let ended = false;
      const end = (): void => {
        if (!ended && inFlight === 0 && !slow) {
          ended = true;
          resolve();
        }
      };
      const answered = (error?: Error): void => {
        const now = performance.now();
        const slot = head;
        head = (head + 1) % PIPELINE_DEPTH;
        inFlight--;
        busy[k] = inFlight > 0;
        runningSince[k] = now;
        const ms = now - Math.max(flightSent[slot]!, lastAnswer);
        lastAnswer = now;
        const done = flightStatement[slot]!;
        const doneParams = flightParams[slot];
        flightParams[slot] = undefined;
        if (lost) return end();
        if (error === undefined) {
          fill();
          settle(k, done, record, ms, doneParams);
        } else if (settle(k, done, record, ms, doneParams, error)) {
          fill();
        } else {
          lost = true;
          end();
        }
      };
      /** Sends planned calls while the pipeline has room and the call may join it. */
      const fill = (): void => {
        while (!lost && !slow) {
          if (i === undefined || stopped()) return end();
          if (!message) {
            // First use of the statement on this connection: prepared on an idle session.
            if (inFlight > 0) return;
            slow = true;
            void executeSlowly(k, i, params, record).then((alive) => {
              slow = false;
              if (!alive) {
                lost = true;
                return end();
              }
              plan();
              fill();
            });
            return;
          }
          const isWrapped = wrapped(i);
          if (inFlight > 0 && (inFlight >= PIPELINE_DEPTH || isWrapped || lastWrapped)) return;
          const slot = (head + inFlight) % PIPELINE_DEPTH;
          flightStatement[slot] = i;
          flightParams[slot] = params;
          flightSent[slot] = performance.now();
          if (inFlight === 0) runningSince[k] = flightSent[slot]!;
          inFlight++;
          lastWrapped = isWrapped;
          busy[k] = true;
          session.sendThen(message, answered);
          plan();
        }
      };
      plan();
      fill();
    });

  /**
   * Runs all sessions until `next()` returns undefined. A statement still running when the run
   * stopped (an interrupt, a lost connection elsewhere) or `graceMs` after the end of a
   * duration-bound drive is cancelled: a runaway statement must not hold the run, nor keep running on the
   * server after it. Past its round it is recorded as a failed call, so that the report shows it; cut
   * short by the stop, it is counted apart (`stopped`), as it is not the statement's failure.
   */
  const drive = async (next: () => number | undefined, record: boolean): Promise<void> => {
    cutOff.fill(undefined);
    const watchdog = setInterval(() => {
      // The stop first: a statement that was late when the run was interrupted is cancelled by the interrupt.
      const reason: CutOff | undefined = stopped()
        ? 'stopped'
        : deadline !== undefined && performance.now() > deadline + graceMs
          ? 'late'
          : undefined;
      if (reason === undefined) return;
      sessions.forEach((session, k) => {
        if (!busy[k] || cutOff[k] || !session.cancel) return;
        // A call that waited behind a cut-off one in the pipeline gets its own grace once it runs.
        if (reason === 'late' && performance.now() - runningSince[k]! <= graceMs) return;
        cutOff[k] = reason;
        void session.cancel();
      });
    }, WATCHDOG_MS);
    try {
      await Promise.all(sessions.map((_, k) => runSession(k, next, record)));
    } finally {
      clearInterval(watchdog);
      deadline = undefined;
    }
  };

  const untilDeadline = (ms: number) => {
    const end = performance.now() + ms;
    deadline = end;
    // The length of the drive, 1 to 5 s: a run of several short rounds does not wait 5 s for each.
    graceMs = Math.min(CUT_OFF_GRACE_MS, Math.max(MIN_GRACE_MS, ms));
    return () => (performance.now() < end ? deck.next() : undefined);
  };

  const shape = load.shape;
  const perStatementRepeat = shape.kind === 'repeat' ? split(shape.repeat, load.rounds) : [];
  const perRoundCount =
    shape.kind === 'count'
      ? countPerRound(
          statements.map((s) => s.weight),
          shape.count,
          load.rounds,
        )
      : [];

  return {
    outcomes,
    get calls() {
      return calls;
    },
    get errors() {
      return errors;
    },
    get lostConnections() {
      return lostConnections;
    },
    warmUp: (ms) => drive(untilDeadline(ms), false),
    runRound(round) {
      if (shape.kind === 'repeat') {
        // Interleave statements so that they run concurrently, as in production. The round's calls
        // are numbered 0 .. n*statements-1 and each thread takes a contiguous slice of the numbers.
        const total = (perStatementRepeat[round] ?? 0) * statements.length;
        let k = Math.floor((total * share.index) / share.count);
        const end = Math.floor((total * (share.index + 1)) / share.count);
        return drive(() => (k < end ? k++ % statements.length : undefined), true);
      }
      if (shape.kind === 'count') {
        // Every thread orders the round's calls alike and takes its contiguous slice of them.
        const order = roundOrder(perRoundCount[round] ?? []);
        let k = Math.floor((order.length * share.index) / share.count);
        const end = Math.floor((order.length * (share.index + 1)) / share.count);
        return drive(() => (k < end ? order[k++] : undefined), true);
      }
      deck.deal();
      return drive(untilDeadline(shape.durationMs / load.rounds), true);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The round loop, common to both ways of running.

/** What the round loop drives: every connection, on this thread or on worker threads. */
interface ReplayEngine {
  warmUp(ms: number): Promise<void>;
  runRound(round: number): Promise<void>;
  /** Calls and errors so far (for the progress line). */
  counts(): { calls: number; errors: number };
  stopped(): boolean;
}

/** Warm-up, then the measured rounds with their callbacks; returns the measured time, ms. */
async function runRounds(workload: Workload, options: ReplayOptions, engine: ReplayEngine): Promise<number> {
  const { statements, load } = workload;
  const started = performance.now();
  let progressState: Omit<ReplayProgress, 'elapsedMs' | 'done' | 'errors'> = {
    phase: 'warmup',
    round: 0,
    rounds: load.rounds,
    total: null,
    plannedMs: load.warmupMs,
  };
  const timer = options.onProgress
    ? setInterval(() => {
        const { calls, errors } = engine.counts();
        options.onProgress?.({ ...progressState, done: calls, errors, elapsedMs: performance.now() - started });
      }, 200)
    : undefined;
  let measuredMs = 0;
  try {
    if (load.warmupMs > 0) await engine.warmUp(load.warmupMs);
    if (!engine.stopped()) await options.beforeMeasure?.();
    const shape = load.shape;
    const rounds = load.rounds;
    const total =
      shape.kind === 'repeat' ? shape.repeat * statements.length : shape.kind === 'count' ? shape.count : null;
    const measureStart = performance.now();
    for (let round = 0; round < rounds && !engine.stopped(); round++) {
      progressState = {
        phase: 'measure',
        round: round + 1,
        rounds,
        total,
        plannedMs: shape.kind === 'duration' ? shape.durationMs : null,
      };
      await engine.runRound(round);
      measuredMs = performance.now() - measureStart;
      if (engine.stopped()) break;
      await options.afterRound?.(round);
    }
  } finally {
    if (timer) clearInterval(timer);
  }
  return measuredMs;
}

const LOST_EVERY_CONNECTION = 'lost every connection to the database';

/** Every connection on the calling thread. */
async function replayInProcess(workload: Workload, options: ReplayOptions): Promise<ReplayResult> {
  const sessions: WireSession[] = [];
  try {
    for (let i = 0; i < workload.load.connections; i++) sessions.push(await options.connect());
  } catch (error) {
    sessions.forEach((s) => s.close());
    throw error;
  }
  const share = createShareReplay(workload, {
    sessions,
    rollback: options.rollback,
    seed: options.seed,
    share: { index: 0, count: 1 },
    isStopped: () => options.signal?.aborted === true,
    createLatency: () => new LatencyRecorder(),
  });
  const lostAll = () => share.lostConnections >= sessions.length;
  let measuredMs = 0;
  try {
    measuredMs = await runRounds(workload, options, {
      warmUp: (ms) => share.warmUp(ms),
      runRound: (round) => share.runRound(round),
      counts: () => ({ calls: share.calls, errors: share.errors }),
      stopped: () => options.signal?.aborted === true || lostAll(),
    });
  } finally {
    sessions.forEach((s) => s.close());
  }
  let stoppedBy = lostAll() ? LOST_EVERY_CONNECTION : undefined;
  if (options.signal?.aborted) stoppedBy ??= String(options.signal.reason ?? 'interrupted');
  return {
    statements: share.outcomes,
    calls: share.calls,
    errors: share.errors,
    measuredMs,
    ...(stoppedBy ? { stoppedBy } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Worker threads. The protocol (replay-worker.ts is the other side):
//   main -> worker: { type: 'warmup', ms } | { type: 'round', round } | { type: 'finish' }
//   worker -> main: ready | failed (could not connect) | done (after warmup/round) | result (after finish)

/** Slots of the shared control array. */
export const CONTROL_STOP = 0;
export const CONTROL_LOST = 1;

/** What a worker thread is started with (`workerData`). */
export interface ReplayWorkerData {
  readonly workload: Workload;
  readonly url: string;
  readonly applicationName: string;
  readonly connections: number;
  /** Run every statement inside a transaction that is rolled back. */
  readonly rollback: boolean;
  readonly seed: number;
  readonly share: ThreadShare;
  /** Uint32Array: the call counters of every statement (`createCallCounters`). */
  readonly callCounters: SharedArrayBuffer;
  /** Int32Array: [stop flag, connections lost]; any thread or the main thread may set stop. */
  readonly control: SharedArrayBuffer;
  /** Float64Array: calls and errors of each thread, 2 slots per thread, for the progress line. */
  readonly counters: SharedArrayBuffer;
}

export type ReplayWorkerRequest =
  | { readonly type: 'warmup'; readonly ms: number }
  | { readonly type: 'round'; readonly round: number }
  | { readonly type: 'finish' };

export interface WorkerStatementOutcome {
  /** Raw latencies, ms (transferred, not copied). */
  readonly latencies: Float64Array;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly slowParams?: (string | null)[];
  readonly slowMs?: number;
  readonly failedParams?: (string | null)[];
  readonly failedMs?: number;
  readonly paramMax?: (number | null)[];
  readonly stopped: number;
  readonly stoppedMs?: number;
}

export type ReplayWorkerReply =
  | { readonly type: 'ready' }
  | {
      readonly type: 'failed';
      readonly error: {
        readonly name: string;
        readonly code?: string;
        readonly message: string;
        readonly details?: readonly string[];
      };
    }
  | { readonly type: 'done' }
  | {
      readonly type: 'result';
      readonly statements: readonly WorkerStatementOutcome[];
      readonly calls: number;
      readonly errors: number;
    };

/** A worker thread and its replies, one at a time, in order. */
interface ReplayThread {
  post(request: ReplayWorkerRequest): void;
  /** The next reply; rejects when the thread dies. */
  next(): Promise<ReplayWorkerReply>;
  /** Asks the thread to finish (if it runs) and waits for it to exit, terminating it if it does not. */
  close(): Promise<void>;
}

function startReplayThread(data: ReplayWorkerData): ReplayThread {
  const worker = new Worker(WORKER_URL, { workerData: data });
  const replies: ReplayWorkerReply[] = [];
  const waiting: { resolve: (r: ReplayWorkerReply) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  let finishing = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (reply: ReplayWorkerReply) => {
    const waiter = waiting.shift();
    if (waiter) waiter.resolve(reply);
    else replies.push(reply);
  });
  const fail = (error: Error) => {
    failure ??= error;
    while (waiting.length) waiting.shift()!.reject(failure);
  };
  worker.on('error', fail);
  worker.once('exit', (code) => fail(new Error(`replay thread ${data.share.index} exited (code ${code})`)));
  return {
    post(request) {
      if (request.type === 'finish') finishing = true;
      worker.postMessage(request);
    },
    next() {
      const reply = replies.shift();
      if (reply) return Promise.resolve(reply);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    async close() {
      if (!finishing && !failure) {
        finishing = true;
        worker.postMessage({ type: 'finish' } satisfies ReplayWorkerRequest);
      }
      let timeout: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timeout = setTimeout(() => resolve('late'), 5000)));
      if ((await Promise.race([exited, late])) === 'late') await worker.terminate();
      clearTimeout(timeout);
    },
  };
}

/** Rebuilds a connection failure reported by a worker as the error the single-threaded path throws. */
function errorOfWorker(error: Extract<ReplayWorkerReply, { type: 'failed' }>['error']): Error {
  if (error.name === 'EnvironmentError' && error.code) {
    return new EnvironmentError(error.code as EnvironmentErrorCode, error.message, error.details ?? []);
  }
  return new Error(error.message);
}

async function expectReply<T extends ReplayWorkerReply['type']>(
  thread: ReplayThread,
  type: T,
): Promise<Extract<ReplayWorkerReply, { type: T }>> {
  const reply = await thread.next();
  if (reply.type === 'failed') throw errorOfWorker(reply.error);
  if (reply.type !== type) throw new Error(`replay thread: expected ${type}, got ${reply.type}`);
  return reply as Extract<ReplayWorkerReply, { type: T }>;
}

/** The connections split over `threads` worker threads. */
async function replayOnThreads(
  workload: Workload,
  options: ReplayOptions,
  threads: number,
  url: string,
): Promise<ReplayResult> {
  const control = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const counters = new Float64Array(new SharedArrayBuffer(2 * threads * Float64Array.BYTES_PER_ELEMENT));
  const stop = () => Atomics.store(control, CONTROL_STOP, 1);
  options.signal?.addEventListener('abort', stop);
  if (options.signal?.aborted) stop();
  const connections = split(workload.load.connections, threads);
  const callCounters = createCallCounters(workload.statements.length, true);
  const pool = connections.map((n, index) =>
    startReplayThread({
      workload,
      url,
      applicationName: options.applicationName ?? 'querygate-replay',
      connections: n,
      rollback: options.rollback,
      seed: options.seed,
      share: { index, count: threads },
      callCounters: callCounters.buffer as SharedArrayBuffer,
      control: control.buffer as SharedArrayBuffer,
      counters: counters.buffer as SharedArrayBuffer,
    }),
  );
  const all = async (request: ReplayWorkerRequest) => {
    pool.forEach((t) => t.post(request));
    await Promise.all(pool.map((t) => expectReply(t, 'done')));
  };
  const counts = () => {
    let calls = 0;
    let errors = 0;
    for (let k = 0; k < threads; k++) {
      calls += counters[2 * k]!;
      errors += counters[2 * k + 1]!;
    }
    return { calls, errors };
  };
  const stopped = () => Atomics.load(control, CONTROL_STOP) !== 0;
  try {
    const ready = await Promise.allSettled(pool.map((t) => expectReply(t, 'ready')));
    const failed = ready.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    const measuredMs = await runRounds(workload, options, {
      warmUp: (ms) => all({ type: 'warmup', ms }),
      runRound: (round) => all({ type: 'round', round }),
      counts,
      stopped,
    });

    pool.forEach((t) => t.post({ type: 'finish' }));
    const results = await Promise.all(pool.map((t) => expectReply(t, 'result')));
    // Merged in thread order, so that a given seed and thread count give the same report.
    const statements: StatementOutcome[] = workload.statements.map((_, i) => {
      const outcome: StatementOutcome = { latency: new LatencyRecorder(), errors: 0, errorSamples: [], stopped: 0 };
      for (const result of results) {
        const part = result.statements[i]!;
        for (const ms of part.latencies) outcome.latency.record(ms);
        outcome.errors += part.errors;
        for (const message of part.errorSamples) {
          if (outcome.errorSamples.length < 3 && !outcome.errorSamples.includes(message))
            outcome.errorSamples.push(message);
        }
        if (part.slowParams && !(part.slowMs! <= outcome.slowMs!)) {
          outcome.slowParams = part.slowParams;
          outcome.slowMs = part.slowMs!;
        }
        if (part.failedParams && !(part.failedMs! <= outcome.failedMs!)) {
          outcome.failedParams = part.failedParams;
          outcome.failedMs = part.failedMs!;
        }
        if (part.paramMax) outcome.paramMax = mergeMax(outcome.paramMax, part.paramMax);
        outcome.stopped += part.stopped;
        if (part.stoppedMs !== undefined && !(part.stoppedMs <= outcome.stoppedMs!)) outcome.stoppedMs = part.stoppedMs;
      }
      return outcome;
    });
    const calls = results.reduce((sum, r) => sum + r.calls, 0);
    const errors = results.reduce((sum, r) => sum + r.errors, 0);
    const lost = Atomics.load(control, CONTROL_LOST);
    let stoppedBy: string | undefined;
    if (options.signal?.aborted) stoppedBy = String(options.signal.reason ?? 'interrupted');
    else if (lost >= workload.load.connections) stoppedBy = LOST_EVERY_CONNECTION;
    // A thread that lost all of its connections stops the others: its share of the work is lost.
    else if (stopped()) stoppedBy = `lost ${lost} of ${workload.load.connections} connections to the database`;
    return { statements, calls, errors, measuredMs, ...(stoppedBy ? { stoppedBy } : {}) };
  } finally {
    stop();
    options.signal?.removeEventListener('abort', stop);
    await Promise.all(pool.map((t) => t.close()));
  }
}

/** Updates the per-parameter maximum with one call's values (null once a value is not a number). */
export function trackMax(max: (number | null)[] | undefined, params: readonly (string | null)[]): (number | null)[] {
  const out = max ?? params.map(() => Number.NEGATIVE_INFINITY);
  for (let k = 0; k < params.length; k++) {
    const current = out[k];
    const value = params[k]!;
    if (current === null || value === null) continue;
    const n = Number(value);
    // Number('') and Number(' ') are 0: blank text is not a number.
    if (Number.isFinite(n) && (n !== 0 || value.trim() !== '')) {
      if (current === undefined || n > current) out[k] = n;
    } else {
      out[k] = null;
    }
  }
  return out;
}

/** Merges two per-parameter maxima. */
export function mergeMax(a: (number | null)[] | undefined, b: readonly (number | null)[]): (number | null)[] {
  if (!a) return [...b];
  return b.map((v, i) => {
    const w = a[i];
    return v === null || w === null || w === undefined ? (w === undefined ? v : null) : Math.max(v, w);
  });
}
