/**
 * SQL replay throughput of `querygate run` against pgbench (PostgreSQL's own client) on the same
 * database, the same select-only statement and the same connection count, measured in one run.
 *
 *   npm run bench:sql -- [--seconds 10] [--connections 4] [--scale 10] [--pairs 2]
 *
 * Needs `pgbench` on the PATH (PostgreSQL client tools). Prints both rates and the ratio; the
 * target is querygate >= 0.8x pgbench.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startEmbedded } from '../src/target/embedded.js';
import { openSession } from '../src/target/pg.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '4' },
    scale: { type: 'string', default: '10' },
    pairs: { type: 'string', default: '2' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const scale = Number(values.scale);
const pairs = Number(values.pairs);
const bin = fileURLToPath(new URL('../bin/querygate.js', import.meta.url));
const statement = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function runPgbench(url: string, dir: string): number {
  const script = join(dir, 'select.sql');
  writeFileSync(script, `\\set aid random(1, ${100000 * scale})\n${statement.replace('$1', ':aid')};\n`);
  // -M prepared: querygate also prepares each statement once per connection.
  const out = execFileSync(
    'pgbench',
    [
      '-n',
      '-M',
      'prepared',
      '-c',
      String(connections),
      '-j',
      String(Math.min(connections, 2)),
      '-T',
      String(seconds),
      '-f',
      script,
      url,
    ],
    { encoding: 'utf8' },
  );
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  if (!tps) throw new Error(`cannot read pgbench output:\n${out}`);
  return Number(tps[1]);
}

function runQuerygate(url: string, dir: string): number {
  const scenario = join(dir, 'select.yaml');
  writeFileSync(
    scenario,
    [
      'name: pgbench-select',
      'load:',
      `  connections: ${connections}`,
      `  duration: ${seconds}s`,
      '  rounds: 1',
      'statements:',
      `  - sql: ${statement}`,
      '    params:',
      `      - int: { min: 1, max: ${100000 * scale} }`,
      '',
    ].join('\n'),
  );
  const out = join(dir, 'report.json');
  const result = spawnSync(process.execPath, [bin, 'run', scenario, '--database-url', url, '--out', out, '--quiet'], {
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
  if (result.status !== 0) throw new Error(`querygate run failed (${result.status}):\n${result.stderr}`);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { totals: { throughput: number } };
  return report.totals.throughput;
}

const server = await startEmbedded();
const dir = mkdtempSync(join(tmpdir(), 'querygate-bench-'));
try {
  console.log(`initializing pgbench data, scale ${scale} (${100000 * scale} accounts)`);
  execFileSync('pgbench', ['-i', '-q', '-s', String(scale), server.url], { stdio: 'ignore' });
  const session = await openSession(server.url);
  await session.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await session.close();
  const pg: number[] = [];
  const qg: number[] = [];
  // Alternate the two clients so that drift of a shared machine hits both alike.
  for (let i = 0; i < pairs; i++) {
    pg.push(runPgbench(server.url, dir));
    qg.push(runQuerygate(server.url, dir));
    console.log(`pair ${i + 1}: pgbench ${pg[i]!.toFixed(0)} tps, querygate ${qg[i]!.toFixed(0)} statements/s`);
  }
  const ratio = median(qg) / median(pg);
  console.log('');
  console.log(`statement:   ${statement}`);
  console.log(`connections: ${connections}, ${seconds}s per measurement, ${pairs} pair(s), medians:`);
  console.log(`pgbench:     ${median(pg).toFixed(0)} statements/s`);
  console.log(`querygate:   ${median(qg).toFixed(0)} statements/s`);
  console.log(`ratio:       ${ratio.toFixed(2)}x (target >= 0.80x)`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
