import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { Report } from '../../src/model/report.js';
import { runWorkload, type RunOptions } from '../../src/run/run.js';
import { openSession, type Session } from '../../src/target/pg.js';
import { loadSqlWorkload } from '../../src/workload/load.js';

/** A fresh database (with pg_stat_statements) in the shared embedded server; returns its URL. */
export async function createTestDatabase(prefix = 'test'): Promise<string> {
  const admin = inject('adminUrl');
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const session = await openSession(admin);
  try {
    await session.query(`CREATE DATABASE ${name}`);
  } finally {
    await session.close();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const db = await openSession(url.toString());
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } finally {
    await db.close();
  }
  return url.toString();
}

/** A scratch directory and a fresh test database, for a test file's `beforeAll`. */
export async function scratchDatabase(prefix: string): Promise<{ dir: string; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), `querygate-${prefix.replace(/_/g, '-')}-`));
  return { dir, url: await createTestDatabase(prefix) };
}

/** Runs `fn` with a session on `url`, closing it afterwards. */
export async function withSession<T>(url: string, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await openSession(url);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** Runs SQL files (a schema, its seed) on `url` in order, then ANALYZE, so plans see the data. */
export async function loadSqlFiles(url: string, ...files: string[]): Promise<void> {
  await withSession(url, async (session) => {
    for (const file of files) await session.query(readFileSync(file, 'utf8'));
    await session.query('ANALYZE');
  });
}

/**
 * Runs a SQL workload after a schema, both given as text, on a new test database, as `querygate run
 * --schema schema.sql --workload workload.sql --setup` does: each statement twice, on one connection.
 */
export async function runSqlText(
  prefix: string,
  schema: string,
  workload: string,
  options: Omit<RunOptions, 'workload' | 'databaseUrl' | 'setup'> = {},
): Promise<Report> {
  const url = await createTestDatabase(prefix);
  const dir = mkdtempSync(join(tmpdir(), `querygate-${prefix}-`));
  try {
    writeFileSync(join(dir, 'schema.sql'), schema);
    writeFileSync(join(dir, 'workload.sql'), workload);
    const loaded = loadSqlWorkload(
      join(dir, 'workload.sql'),
      { schema: [join(dir, 'schema.sql')] },
      { repeat: 2, connections: 1, rounds: 1 },
    );
    return await runWorkload({ ...options, workload: loaded, databaseUrl: url, setup: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
