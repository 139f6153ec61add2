/**
 * Captures statements as an application sends them: a separate Node process with node-postgres
 * runs each call (a statement and its parameters) in order, and `captureCommand` records what the
 * database did. Their plans are generic, as in HTTP replay and `capture`.
 */
import { createRequire } from 'node:module';
import type { Report } from '../../src/model/report.js';
import { captureCommand, type CaptureOptions } from '../../src/workload/command.js';

/** One call of the client: a statement and its parameter values. */
export type ClientCall = readonly [sql: string, params: readonly unknown[]];

/** The client program, for `node -e`. */
function clientScript(calls: readonly ClientCall[]): string {
  const pg = createRequire(import.meta.url).resolve('pg');
  return `
const { Client } = require(${JSON.stringify(pg)});
(async () => {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  for (const [sql, params] of ${JSON.stringify(calls)}) await client.query(sql, params);
  await client.end();
})().catch((error) => { console.error(error); process.exit(1); });
`;
}

/** Runs `calls` from a client process on the database at `databaseUrl` and captures them. */
export function captureClientCalls(
  databaseUrl: string,
  calls: readonly ClientCall[],
  options: Omit<CaptureOptions, 'command' | 'databaseUrl'> = {},
): Promise<Report> {
  return captureCommand({
    command: [process.execPath, '-e', clientScript(calls)],
    databaseUrl,
    stdio: 'ignore',
    ...options,
  });
}
