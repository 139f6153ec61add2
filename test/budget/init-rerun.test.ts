/**
 * `budget init`'s headroom on a real PostgreSQL: the budget written from one run passes a rerun of
 * the same code whose small writes read more blocks because the table's state changed, and still
 * fails a real regression (a lost index).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import { renderInitialBudget } from '../../src/budget/init.js';
import { parseBudget } from '../../src/budget/load.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadScenario } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

const SCHEMA = `
CREATE TABLE devices (id int PRIMARY KEY, site int NOT NULL, last_seen timestamptz);
CREATE TABLE readings (
  device_id int NOT NULL, ts timestamptz NOT NULL, value float8 NOT NULL,
  PRIMARY KEY (device_id, ts)
);
CREATE INDEX readings_ts_idx ON readings (ts);
CREATE INDEX readings_value_idx ON readings (value);
CREATE INDEX readings_device_value_idx ON readings (device_id, value);
INSERT INTO devices SELECT g, g % 100 FROM generate_series(1, 40000) g;
INSERT INTO readings SELECT 1 + g % 40000, timestamptz '2026-01-01' + g * interval '1 second', g % 50
  FROM generate_series(1, 100000) g;
`;

// A single-row upsert of readings of one day (keys the data set does not hold yet) and a
// single-row update by primary key.
const SCENARIO = `
name: small writes
load: { connections: 1, repeat: 40, rounds: 1 }
statements:
  - name: upsert a reading
    sql: |
      INSERT INTO readings (device_id, ts, value)
      VALUES ($1, timestamptz '2026-03-01' + make_interval(secs => $2), $3)
      ON CONFLICT (device_id, ts) DO UPDATE SET value = EXCLUDED.value
    params:
      - int: { min: 1, max: 40000 }
      - int: { min: 0, max: 3 }
      - int: { min: 0, max: 40 }
  - name: touch a device
    sql: UPDATE devices SET last_seen = now() WHERE id = $1
    params:
      - int: { min: 1, max: 40000 }
`;

describe('budget init headroom against reruns on a real PostgreSQL', () => {
  let url: string;
  let file: string;
  const run = (seed: number): Promise<Report> =>
    runWorkload({ workload: loadScenario(file, {}), databaseUrl: url, allowWrites: true, seed });
  const blocks = (r: Report, name: string) => r.queries.find((q) => q.source === name)!.sharedBlksPerCall;

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('init_rerun');
    await withSession(url, async (s) => {
      await s.query(SCHEMA);
      await s.query('VACUUM ANALYZE devices');
      await s.query('VACUUM ANALYZE readings');
    });
    const dir = mkdtempSync(join(tmpdir(), 'qg-init-rerun-'));
    file = join(dir, 'writes.yaml');
    writeFileSync(file, SCENARIO);
  });

  it('passes an unchanged rerun whose writes met another table state, and fails a lost index', async () => {
    // The writes commit: the first run inserts its rows, a rerun of the same keys conflicts with them
    // and updates them in place (fewer blocks), a rerun with other keys inserts again (more blocks).
    await run(1);
    const base = await run(1);
    const budget = parseBudget(renderInitialBudget(base), 'querygate.budget.yaml');
    const rerun = await run(2);
    expect(blocks(rerun, 'upsert a reading')).toBeGreaterThan(blocks(base, 'upsert a reading') * 1.2);
    const same = evaluateBudget(rerun, budget, { failOn: 'never' });
    expect(
      same.limits.filter((l) => l.status === 'fail').map((l) => `${l.field}: ${JSON.stringify(l.measurements)}`),
    ).toEqual([]);

    // A real regression of the same statements: the update by id without its primary key index.
    await withSession(url, (s) => s.query('ALTER TABLE devices DROP CONSTRAINT devices_pkey; ANALYZE devices'));
    const lost = await run(3);
    expect(blocks(lost, 'touch a device')).toBeGreaterThan(blocks(base, 'touch a device') * 20);
    const gate = evaluateBudget(lost, budget, { failOn: 'never' });
    const failed = gate.limits.filter((l) => l.status === 'fail');
    // The budget lists statements by total time, which puts the two in either order: match by name.
    expect(failed.map((l) => `${l.field.replace(/^statements\[\d+\]/, 'statements[]')} ${l.label ?? ''}`)).toContain(
      'statements[].maxBlocksPerCall touch a device',
    );
  });
});
