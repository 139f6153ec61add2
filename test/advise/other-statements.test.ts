import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 200,000 readings in time order, from 2,000 devices in turn: a device's readings lie 2,000 rows
// apart, so a walk in device order reads the table a row at a time. One statement looks up a device;
// another takes the latest reading of every device, with a sequential scan and a sort of the table;
// a third counts an hour's readings, which an index on the device does not serve; a fourth reads
// another table.
const SCHEMA = `
CREATE TABLE readings (id bigint PRIMARY KEY, device_id int NOT NULL, taken_at timestamptz NOT NULL, kind text NOT NULL, value real);
INSERT INTO readings SELECT g, 1 + g % 2000, timestamptz '2024-01-01' + g * interval '1 minute',
  (ARRAY['temp', 'hum', 'co2', 'door'])[1 + g % 4], (g % 500) / 10.0
  FROM generate_series(1, 200000) AS g;
CREATE TABLE devices (id int PRIMARY KEY, site int NOT NULL);
INSERT INTO devices SELECT g, g % 40 FROM generate_series(1, 2000) AS g;
ANALYZE readings;
ANALYZE devices;
`;
const WORKLOAD = `
-- door events of a device
SELECT count(*) FROM readings WHERE device_id = 17 AND kind = 'door';
-- latest reading per device
SELECT DISTINCT ON (device_id) device_id, taken_at, value FROM readings ORDER BY device_id, taken_at DESC;
-- readings of an hour
SELECT count(*) FROM readings WHERE taken_at >= timestamptz '2024-02-01' AND taken_at < timestamptz '2024-02-01 01:00';
-- devices of a site
SELECT id FROM devices WHERE site = 3;
`;

const findingOf = (report: Report, source: string): Finding | undefined =>
  report.queries.find((q) => q.source === source)?.findings.find((f) => f.advice !== undefined);

describe('a validated index that another statement of the report would use', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('other_statements', SCHEMA, WORKLOAD, { allowIndexBuild: true });
  });

  it('names the statement whose plan switches to it, with its plans and costs, and flags the full walk as a risk', () => {
    const finding = findingOf(report, 'door events of a device');
    expect(finding?.advice?.sql).toMatch(/ON public\.readings \(device_id/);
    const name = /INDEX CONCURRENTLY (\S+) ON/.exec(finding!.advice!.sql)![1]!;
    const latest = report.queries.find((q) => q.source === 'latest reading per device')!;
    expect(latest.sharedBlksPerCall).toBeGreaterThan(1000);
    const others = finding?.advice?.otherStatements ?? [];
    expect(others).toHaveLength(1);
    const other = others[0]!;
    expect(other).toMatchObject({ fingerprint: latest.fingerprint, source: 'latest reading per device' });
    expect(other.planBefore).toMatch(/Sort > (Parallel )?Seq Scan on readings/);
    expect(other.planAfter).toContain(`Index Scan using ${name} on readings`);
    expect(other.costBefore).toBeGreaterThan(0);
    expect(other.costAfter).toBeGreaterThan(0);
    expect(other.risk).toBe('full-index-walk');
    const note = finding!.suggestion!.slice(finding!.advice!.sql.length);
    expect(note).toContain('1 other statement(s) reading public.readings use it too: "latest reading per device"');
    expect(note).toContain(`-> ${other.planAfter}`);
    expect(note).toMatch(
      /at risk: a walk of the whole index in its order \(no Index Cond\) replaces a sequential scan and a sort/,
    );
    expect(note).toMatch(/~200,000 rows/);
    expect(note).toContain('before deploying it');
  });

  it('names no statement of another table, nor one that does not use the index', () => {
    for (const query of report.queries)
      for (const finding of query.findings)
        for (const other of finding.advice?.otherStatements ?? []) {
          expect(other.source).not.toBe('devices of a site');
          expect(other.fingerprint).not.toBe(query.fingerprint);
        }
    const door = findingOf(report, 'door events of a device');
    expect(door?.advice?.otherStatements?.map((o) => o.source)).toEqual(['latest reading per device']);
    // The index for the hour's readings serves no other statement: its advice says nothing of them.
    const hour = findingOf(report, 'readings of an hour');
    expect(hour?.advice?.sql).toMatch(/\(taken_at\)/);
    expect(hour?.advice?.otherStatements).toBeUndefined();
    expect(hour?.suggestion).toBe(hour?.advice?.sql);
  });
});
