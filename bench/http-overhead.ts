/**
 * Overhead of querygate's HTTP replay against plain autocannon: the same endpoint, the same number
 * of connections and the same duration, measured in one run, alternating the two so that both see
 * the same machine state.
 *
 *   npm run bench:http -- [--seconds 3] [--connections 10] [--pairs 7]
 *
 * The endpoint is a trivial Node HTTP server in its own process (a route with an id, a small JSON
 * answer): the cheapest possible request, so any per-request cost of the replay shows. querygate
 * replays `GET /orders/{id}` with random ids from a generator; autocannon sends `GET /orders/42`.
 * Prints both request rates (medians) and the ratio, the median of the per-pair ratios: on a busy
 * machine the rate drifts from one run to the next, and a pair's two runs are adjacent in time.
 * The target is >= 0.95x.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../src/target/port.js';
import { createRandom } from '../src/workload/generators.js';
import { runPhase } from '../src/workload/http/autocannon.js';
import { compileRoute } from '../src/workload/http/template.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '10' },
    pairs: { type: 'string', default: '7' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const pairs = Number(values.pairs);

const SERVER = `
import { createServer } from 'node:http';
createServer((request, response) => {
  const body = JSON.stringify({ id: Number(request.url.split('/')[2]), status: 'paid', total_cents: 4200 });
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
`;

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Measured {
  /** Requests per second. */
  readonly rate: number;
  /** CPU time of this (the load-generating) process per request, microseconds. */
  readonly cpuUs: number;
}

/** Runs `fn` and measures this process's CPU time around it. */
async function measure(fn: () => Promise<{ requests: number; seconds: number }>): Promise<Measured> {
  const before = process.cpuUsage();
  const { requests, seconds: elapsed } = await fn();
  const cpu = process.cpuUsage(before);
  return { rate: requests / elapsed, cpuUs: (cpu.user + cpu.system) / requests };
}

function plainAutocannon(baseUrl: string): Promise<Measured> {
  return measure(async () => {
    const result = await autocannon({ url: `${baseUrl}/orders/42`, connections, duration: seconds });
    return { requests: result.requests.total, seconds: result.duration };
  });
}

function querygateReplay(baseUrl: string): Promise<Measured> {
  return measure(() => replayOnce(baseUrl));
}

async function replayOnce(baseUrl: string): Promise<{ requests: number; seconds: number }> {
  const random = createRandom(1);
  const route = compileRoute(
    {
      name: 'order by id',
      method: 'GET',
      path: '/orders/{id}',
      params: { id: { kind: 'int', min: 1, max: 1_000_000 } },
      headers: {},
      weight: 1,
    },
    random,
  );
  const result = await runPhase({
    baseUrl,
    routes: [route],
    connections,
    shape: { kind: 'duration', durationMs: seconds * 1000 },
    timeoutMs: 10_000,
    random,
  });
  if (result.errors > 0 || result.non2xx > 0)
    throw new Error(`querygate replay saw ${result.errors} errors and ${result.non2xx} non-2xx`);
  return { requests: result.responses, seconds: result.durationMs / 1000 };
}

const port = await freePort();
const server = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
  env: { ...process.env, PORT: String(port) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  await once(server.stdout!, 'data');
  const baseUrl = `http://127.0.0.1:${port}`;
  console.log(`endpoint: trivial Node HTTP server, ${connections} connections, ${seconds}s per run, ${pairs} pair(s)`);
  // One short unmeasured run of each: JIT, sockets.
  await plainAutocannon(baseUrl);
  await querygateReplay(baseUrl);
  const plain: Measured[] = [];
  const replay: Measured[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate the order so that neither always runs on a warmer machine.
    if (i % 2 === 0) {
      plain.push(await plainAutocannon(baseUrl));
      replay.push(await querygateReplay(baseUrl));
    } else {
      replay.push(await querygateReplay(baseUrl));
      plain.push(await plainAutocannon(baseUrl));
    }
    const [a, q] = [plain[i]!, replay[i]!];
    console.log(
      `pair ${i + 1}: autocannon ${a.rate.toFixed(0)} req/s (${a.cpuUs.toFixed(1)} µs CPU/req), ` +
        `querygate ${q.rate.toFixed(0)} req/s (${q.cpuUs.toFixed(1)} µs CPU/req)`,
    );
  }
  const ratio = median(replay.map((q, i) => q.rate / plain[i]!.rate));
  const cpu = (xs: Measured[]) => median(xs.map((x) => x.cpuUs)).toFixed(1);
  console.log(
    `autocannon (plain):      ${median(plain.map((x) => x.rate)).toFixed(0)} req/s, ${cpu(plain)} µs CPU per request (medians)`,
  );
  console.log(
    `querygate HTTP replay:   ${median(replay.map((x) => x.rate)).toFixed(0)} req/s, ${cpu(replay)} µs CPU per request (medians)`,
  );
  console.log(`ratio:                   ${ratio.toFixed(3)}x, median of the pair ratios (target >= 0.95x)`);
} finally {
  server.kill();
}
