/**
 * querygate's own sessions and the user's search_path: its own queries (pg_stat_statements, the
 * catalogs) must not depend on it, while the checks and EXPLAIN of the user's statements must see the
 * search_path (and only what) the replay's connections see, setup files included.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import { runWorkload } from '../src/run/run.js';
import { loadSqlWorkload } from '../src/workload/load.js';
import { createTestDatabase, withSession } from './support/db.js';

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
});
