/**
 * EXPLAIN plans with the settings the replay ran with. A setup file that sets work_mem for the role
 * (`ALTER ROLE ... SET`, the way docs/scenarios.md recommends) changes sessions opened afterwards
 * only: the replay's, and so the session EXPLAIN runs in must be one of them too.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import { walkPlan } from '../src/analyze/plan.js';
import { runWorkload } from '../src/run/run.js';
import { loadScenario } from '../src/workload/load.js';
import { createTestDatabase } from './support/db.js';

/** A scenario whose seed gives the role 64 kB of work_mem in this database only, and sorts 30,000 rows. */
function spillScenario(database: string, extraSeed: readonly string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'querygate-explain-settings-'));
  writeFileSync(
    join(dir, 'schema.sql'),
    'CREATE TABLE readings (id int PRIMARY KEY, sensor int NOT NULL, value double precision NOT NULL);\n',
  );
  writeFileSync(
    join(dir, 'seed.sql'),
    [
      'INSERT INTO readings SELECT g, g % 50, (g * 7919) % 30011 FROM generate_series(1, 30000) g;',
      `ALTER ROLE CURRENT_USER IN DATABASE ${database} SET work_mem = '64kB';`,
      ...extraSeed,
      '',
    ].join('\n'),
  );
  const file = join(dir, 'spill.yaml');
  writeFileSync(
    file,
    [
      'name: spill',
      'setup: { schema: schema.sql, seed: seed.sql }',
      'load: { connections: 1, repeat: 3, rounds: 1 }',
      'statements:',
      '  - name: all readings by value',
      '    sql: SELECT id, sensor, value FROM readings WHERE sensor >= $1 ORDER BY value',
      '    params: [{ int: { min: 0, max: 0 } }]',
      '',
    ].join('\n'),
  );
  return file;
}

describe('EXPLAIN after setup files that change settings', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('plans and analyzes with the work_mem a setup file gave the role, as the replay ran', async () => {
    const url = await createTestDatabase('explain_settings');
    const database = new URL(url).pathname.slice(1);
    const report = await runWorkload({
      workload: loadScenario(spillScenario(database), {}),
      databaseUrl: url,
      setup: true,
      analyze: true,
    });
    const q = report.queries.find((x) => x.source === 'all readings by value')!;
    // The replay spilled: its sessions were opened after the setup file.
    expect(q.tempBlksWritten).toBeGreaterThan(0);
    expect(q.plan?.mode).toBe('analyze');
    expect(q.plan?.settings?.workMemKb).toBe(64);
    const sort = walkPlan(q.plan!.root).find((v) => v.node['Node Type'] === 'Sort')!.node;
    expect(sort['Sort Method']).toMatch(/^external/);
    expect(q.findings.map((f) => f.rule)).toContain('sort-spill');
  });

  it('does not plan with a SET that a setup file made in its own session', async () => {
    const url = await createTestDatabase('explain_set');
    const database = new URL(url).pathname.slice(1);
    const report = await runWorkload({
      workload: loadScenario(spillScenario(database, ["SET work_mem = '256MB';"]), {}),
      databaseUrl: url,
      setup: true,
    });
    const q = report.queries.find((x) => x.source === 'all readings by value')!;
    expect(q.tempBlksWritten).toBeGreaterThan(0);
    expect(q.plan?.settings?.workMemKb).toBe(64);
  });
});
