/**
 * querygate's own sessions and the user's search_path: its own queries (pg_stat_statements, the
 * catalogs) must not depend on it, while the checks and EXPLAIN of the user's statements must see the
 * search_path (and only what) the replay's connections see, setup files included.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import type { InputError } from '../src/errors.js';
import { runWorkload } from '../src/run/run.js';
import { captureCommand } from '../src/workload/command.js';
import { loadSqlWorkload } from '../src/workload/load.js';
import { createTestDatabase, withSession } from './support/db.js';

const LOAD_SCRIPT = fileURLToPath(new URL('./http/fixtures/load-script.mjs', import.meta.url));

/** Files in a fresh temporary directory; returns their paths by name. */
function files(entries: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'querygate-search-path-'));
  return Object.fromEntries(
    Object.entries(entries).map(([name, text]) => {
      writeFileSync(join(dir, name), text);
      return [name, join(dir, name)];
    }),
  );
}

/** `url` with another role (created if missing, as LOGIN with `password`). */
async function roleUrl(url: string, role: string, password: string): Promise<string> {
  await withSession(url, (s) =>
    s.query(
      `DO $$ BEGIN CREATE ROLE ${role} LOGIN PASSWORD '${password}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    ),
  );
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return u.toString();
}

const errorOf = (promise: Promise<unknown>): Promise<InputError> =>
  promise.then(
    () => {
      throw new Error('expected the run to fail');
    },
    (error: unknown) => error as InputError,
  );

describe("querygate's sessions and the user's search_path", () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('search_path');
  });

  it('reads pg_stat_statements in its own schema, for a role whose search_path has neither it nor public', async () => {
    await withSession(url, (s) =>
      s.query(
        `DROP EXTENSION pg_stat_statements; CREATE SCHEMA stats; CREATE EXTENSION pg_stat_statements SCHEMA stats;
         CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, name text);
         INSERT INTO app.items SELECT g, 'n' || g FROM generate_series(1, 1000) g; ANALYZE app.items;`,
      ),
    );
    const app = await roleUrl(url, 'qg_app_path', 'apppath');
    await withSession(url, (s) =>
      s.query(
        `GRANT USAGE ON SCHEMA app, stats TO qg_app_path; GRANT SELECT ON app.items TO qg_app_path;
         ALTER ROLE qg_app_path SET search_path = app`,
      ),
    );
    const paths = files({ 'workload.sql': 'SELECT name FROM items WHERE id = 5;\n' });
    const report = await runWorkload({
      workload: loadSqlWorkload(paths['workload.sql']!, {}, { repeat: 4, connections: 2, rounds: 2 }),
      databaseUrl: app,
    });
    expect(report.run.complete).toBe(true);
    expect(report.target.pgStatStatementsVersion).toBeTruthy();
    expect(report.queries).toHaveLength(1);
    const query = report.queries[0]!;
    expect(query.calls).toBe(4);
    // The statement is explained with the role's search_path.
    expect(query.plan?.root['Node Type']).toMatch(/Index/);
    expect(query.relations).toEqual(['app.items']);
  });

  it('sees a search_path set by a setup file with ALTER ROLE, on the embedded database', async () => {
    const paths = files({
      'schema.sql': [
        'CREATE SCHEMA app;',
        'ALTER ROLE CURRENT_USER SET search_path = app;',
        'CREATE TABLE app.items (id int PRIMARY KEY, name text);',
        "INSERT INTO app.items SELECT g, 'n' || g FROM generate_series(1, 1000) g;",
        '',
      ].join('\n'),
      'workload.sql': 'SELECT name FROM items WHERE id = 5;\n',
    });
    const report = await runWorkload({
      workload: loadSqlWorkload(
        paths['workload.sql']!,
        { schema: [paths['schema.sql']!] },
        { repeat: 2, connections: 1 },
      ),
    });
    expect(report.run.complete).toBe(true);
    expect(report.totals.errors).toBe(0);
    const query = report.queries[0]!;
    expect(query.calls).toBe(2);
    expect(query.relations).toEqual(['app.items']);
  });

  it('reports a temporary table made by a setup file as missing before the run, and why', async () => {
    const paths = files({
      'temp-setup.sql': 'CREATE TEMP TABLE tmp_ids AS SELECT g AS id FROM generate_series(1, 10) g;\n',
      'temp-use.sql': 'SELECT 1;\nSELECT count(*) FROM tmp_ids;\n',
    });
    const error = await errorOf(
      runWorkload({
        workload: loadSqlWorkload(paths['temp-use.sql']!, { seed: [paths['temp-setup.sql']!] }, { repeat: 2 }),
        databaseUrl: url,
        setup: true,
      }),
    );
    expect(error.code).toBe('SQL_FAILED');
    // A file outside the working directory is named by its absolute path.
    expect(error.message).toBe(`${paths['temp-use.sql']}:2:22: relation "tmp_ids" does not exist`);
    expect(error.details).toEqual([
      '  2 | SELECT count(*) FROM tmp_ids',
      '    |                      ^',
      "hint: tmp_ids is a temporary table made by a setup file: temporary objects belong to the session that made them and do not reach the replay's connections; create a regular table instead (CREATE TABLE, or CREATE UNLOGGED TABLE)",
    ]);
  });

  it('says that a SET search_path in a setup file holds for its own session only', async () => {
    const paths = files({
      'schema.sql': 'CREATE SCHEMA set_only;\nCREATE TABLE set_only.things (id int);\nSET search_path = set_only;\n',
      'workload.sql': 'SELECT count(*) FROM things;\n',
    });
    const error = await errorOf(
      runWorkload({
        workload: loadSqlWorkload(paths['workload.sql']!, { schema: [paths['schema.sql']!] }, { repeat: 2 }),
        databaseUrl: url,
        setup: true,
      }),
    );
    expect(error.message).toBe(`${paths['workload.sql']}:1:22: relation "things" does not exist`);
    expect(error.details.at(-1)).toBe(
      "hint: the setup files left search_path at set_only with SET, which holds for their own session only; the replay's " +
        'connections use "$user", public: set it in a setup file with ALTER ROLE CURRENT_USER SET search_path = set_only',
    );
  });

  it('explains what a command ran with the search_path a setup file gave its role', async () => {
    await withSession(url, (s) =>
      s.query(
        `CREATE SCHEMA capapp; CREATE TABLE capapp.items (id bigint PRIMARY KEY, label text NOT NULL);
         INSERT INTO capapp.items SELECT g, 'item ' || g FROM generate_series(1, 5000) g; ANALYZE capapp.items;`,
      ),
    );
    const role = await roleUrl(url, 'qg_capture_path', 'capturepath');
    await withSession(url, (s) =>
      s.query(
        'GRANT USAGE ON SCHEMA capapp, stats TO qg_capture_path; GRANT SELECT ON capapp.items TO qg_capture_path',
      ),
    );
    const report = await captureCommand({
      command: [process.execPath, LOAD_SCRIPT],
      databaseUrl: role,
      stdio: 'ignore',
      files: { schema: [{ path: 'role.sql', sql: 'ALTER ROLE CURRENT_USER SET search_path = capapp;\n' }], seed: [] },
      setup: true,
    });
    const scan = report.queries.find((q) => q.query.startsWith('SELECT count(*) FROM items'))!;
    expect(scan.calls).toBe(5);
    expect(scan.planNote).toBeUndefined();
    expect(scan.relations).toEqual(['capapp.items']);
  });
});
