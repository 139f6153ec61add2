/**
 * deep-offset in a run on a real PostgreSQL: the keyset rewrite keeps the WHERE as valid SQL (a
 * call without arguments such as now() included) and ends the ORDER BY in the table's primary key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

const SCHEMA = `
CREATE TABLE events (id bigint PRIMARY KEY, title text NOT NULL, starts_at timestamptz NOT NULL);
INSERT INTO events SELECT g, 'event ' || g, now() + (g % 5000) * interval '1 hour' FROM generate_series(1, 50000) AS g;
ANALYZE events;
`;
const LISTING =
  'SELECT e.id, e.title FROM events e WHERE (e.starts_at > now()) ORDER BY e.starts_at LIMIT 50 OFFSET 20000';

const dir = mkdtempSync(join(tmpdir(), 'querygate-deep-offset-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('deep-offset on a real PostgreSQL', () => {
  let url: string;
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('deep_offset_run');
    writeFileSync(join(dir, 'schema.sql'), SCHEMA);
    writeFileSync(join(dir, 'workload.sql'), `${LISTING};\n`);
    const workload = loadSqlWorkload(
      join(dir, 'workload.sql'),
      { schema: [join(dir, 'schema.sql')] },
      { repeat: 2, connections: 1, rounds: 1 },
    );
    report = await runWorkload({ workload, databaseUrl: url, setup: true });
  });

  it('keeps now() in the rewritten WHERE, adds the primary key to the ORDER BY, and the rewrite runs', async () => {
    const finding = report.queries[0]!.findings.find((f) => f.rule === 'deep-offset')!;
    expect(finding.suggestion).toMatch(
      /^use keyset pagination instead of OFFSET: WHERE e\.starts_at > now\(\) AND \(e\.starts_at, e\.id\) > \(\$last1, \$last2\) ORDER BY e\.starts_at, e\.id LIMIT n, with an index on \(starts_at, id\) \(id, the primary key of public\.events, ends the ORDER BY, so that no row is skipped or repeated between pages\)$/,
    );
    const rewrite = /^use keyset pagination instead of OFFSET: (WHERE .* LIMIT) n,/.exec(finding.suggestion!)![1]!;
    const sql = `SELECT e.id, e.title FROM events e ${rewrite.replace(/\$last(\d)/g, '$$$1')} 50`;
    await withSession(url, async (s) => {
      const { rows } = await s.query(sql, [new Date(), 17]);
      expect(rows.length).toBe(50);
    });
  });
});
