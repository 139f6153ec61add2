import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 200,000 pings of 20,000 vehicles, with no index on vehicle_id. The last pings of one vehicle want
// (vehicle_id, recorded_at); the latest ping of each vehicle of a range wants (vehicle_id,
// recorded_at DESC): another index, from the same columns. An index of the table already has the
// name both would get first.
const SCHEMA = `
CREATE TABLE pings (id bigint PRIMARY KEY, vehicle_id int NOT NULL, recorded_at timestamptz NOT NULL, lat float8 NOT NULL);
INSERT INTO pings SELECT g, 1 + g % 20000, timestamptz '2024-01-01' + (g || ' seconds')::interval, g % 90 FROM generate_series(1, 200000) g;
CREATE INDEX pings_vehicle_id_recorded_at_idx ON pings (recorded_at);
ANALYZE pings;
`;
const WORKLOAD = `
SELECT recorded_at, lat FROM pings WHERE vehicle_id = 7 ORDER BY recorded_at DESC LIMIT 10;
SELECT DISTINCT ON (vehicle_id) vehicle_id, recorded_at, lat FROM pings WHERE vehicle_id BETWEEN 100 AND 150 ORDER BY vehicle_id, recorded_at DESC;
SELECT count(*) FROM pings WHERE vehicle_id = 9 AND recorded_at >= '2024-01-02';
`;

/** Every index the report's findings propose: its name and its definition after the name. */
function proposed(report: Report): { statement: string; name: string; definition: string }[] {
  return report.queries.flatMap((q) =>
    q.findings.flatMap((f) =>
      [...(f.suggestion ?? '').matchAll(/CREATE INDEX CONCURRENTLY (\S+) (ON [^;]+);/g)].map((m) => ({
        statement: q.query,
        name: m[1]!,
        definition: m[2]!,
      })),
    ),
  );
}

describe('names of the indexes one report proposes', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('index_names', SCHEMA, WORKLOAD);
  });

  it('gives two definitions two names, one definition one name, and none an existing index has', () => {
    const all = proposed(report);
    const definitions = new Set(all.map((p) => p.definition));
    expect(definitions).toEqual(
      new Set(['ON public.pings (vehicle_id, recorded_at)', 'ON public.pings (vehicle_id, recorded_at DESC)']),
    );
    // Each statement gets its index.
    expect(new Set(all.map((p) => p.statement)).size).toBe(3);
    const names = new Map<string, Set<string>>();
    for (const p of all) names.set(p.definition, (names.get(p.definition) ?? new Set()).add(p.name));
    for (const each of names.values()) expect(each.size).toBe(1);
    const distinct = [...names.values()].map((each) => [...each][0]!);
    expect(new Set(distinct).size).toBe(2);
    expect(distinct).not.toContain('pings_vehicle_id_recorded_at_idx');
  });
});
