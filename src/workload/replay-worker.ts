/**
 * A replay worker thread: opens its share of the connections and runs its share of each round
 * when the main thread asks (replay.ts holds the protocol and the round loop). Latencies are kept
 * raw and handed back at the end, so the merged percentiles are exact.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { QuerygateError } from '../errors.js';
import { openWireSession } from '../target/pg.js';
import type { WireSession } from '../target/wire.js';
import {
  CONTROL_LOST,
  CONTROL_STOP,
  createShareReplay,
  type LatencySink,
  type ReplayWorkerData,
  type ReplayWorkerReply,
  type ReplayWorkerRequest,
} from './replay.js';

/** Latencies, ms, in a growable Float64Array: cheap to record, transferred without a copy of each value. */
class LatencyBuffer implements LatencySink {
  private values = new Float64Array(1024);
  private length = 0;

  record(ms: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = ms;
  }

  take(): Float64Array {
    return this.values.slice(0, this.length);
  }
}

const port = parentPort;
if (!port) throw new Error('replay-worker.js runs as a worker thread of the SQL replay');
const data = workerData as ReplayWorkerData;
const control = new Int32Array(data.control);
const counters = new Float64Array(data.counters);
const reply = (message: ReplayWorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

const sessions: WireSession[] = [];
try {
  const timeout = data.workload.load.statementTimeoutMs;
  for (let i = 0; i < data.connections; i++)
    sessions.push(
      await openWireSession(
        data.url,
        data.applicationName,
        timeout !== undefined ? { statementTimeoutMs: timeout } : {},
      ),
    );
} catch (error) {
  sessions.forEach((s) => s.close());
  const failure =
    error instanceof QuerygateError
      ? { name: error.name, code: error.code, message: error.message, details: error.details }
      : {
          name: error instanceof Error ? error.name : 'Error',
          message: error instanceof Error ? error.message : String(error),
        };
  reply({ type: 'failed', error: failure });
  port.close();
}

if (sessions.length === data.connections) {
  const share = createShareReplay(data.workload, {
    sessions,
    rollback: data.rollback,
    seed: data.seed,
    share: data.share,
    callCounters: new Uint32Array(data.callCounters),
    isStopped: () => Atomics.load(control, CONTROL_STOP) !== 0,
    createLatency: () => new LatencyBuffer(),
    onConnectionLost: () => {
      Atomics.add(control, CONTROL_LOST, 1);
      // Without connections this thread cannot do its share: stop every thread.
      if (share.lostConnections >= sessions.length) Atomics.store(control, CONTROL_STOP, 1);
    },
  });
  const slot = 2 * data.share.index;
  const publish = () => {
    counters[slot] = share.calls;
    counters[slot + 1] = share.errors;
  };
  const timer = setInterval(publish, 100);

  port.on('message', (request: ReplayWorkerRequest) => {
    if (request.type === 'finish') {
      clearInterval(timer);
      publish();
      sessions.forEach((s) => s.close());
      const statements = share.outcomes.map((o) => ({
        latencies: o.latency.take(),
        errors: o.errors,
        errorSamples: o.errorSamples,
        ...(o.slowParams ? { slowParams: o.slowParams, slowMs: o.slowMs! } : {}),
        ...(o.failedParams ? { failedParams: o.failedParams, failedMs: o.failedMs! } : {}),
        ...(o.paramMax ? { paramMax: o.paramMax } : {}),
        stopped: o.stopped,
        ...(o.stoppedMs !== undefined ? { stoppedMs: o.stoppedMs } : {}),
      }));
      reply(
        { type: 'result', statements, calls: share.calls, errors: share.errors },
        statements.map((s) => s.latencies.buffer as ArrayBuffer),
      );
      port.close();
      return;
    }
    const run = request.type === 'warmup' ? share.warmUp(request.ms) : share.runRound(request.round);
    void run.then(() => {
      publish();
      reply({ type: 'done' });
    });
  });
  reply({ type: 'ready' });
}
