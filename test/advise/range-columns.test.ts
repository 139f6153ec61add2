/**
 * Index advice for ranges on two columns of one table (a bounding box), on a real PostgreSQL: a
 * B-tree on both, the more selective range first, checks the second inside the index, where an index
 * on one column leaves the other to a filter on the rows its range finds, which the next run flags.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 400,000 pings over lat 45..50 and lon 5..10 (5,000 values each, uncorrelated). The box keeps 0.5% of
// the latitudes and 1% of the longitudes, ~20 rows; the range on lat alone finds 2,000, spread over
// the whole table.
const TABLE = `
CREATE TABLE pings (id bigint PRIMARY KEY, lat double precision NOT NULL, lon double precision NOT NULL);
INSERT INTO pings SELECT g, 45 + ((g * 7919) % 5000) / 1000.0, 5 + ((g * 104729) % 4999) / 999.8
  FROM generate_series(1::bigint, 400000::bigint) g;
`;
// The wider range written first: the column statistics, not the text, decide which leads.
const WORKLOAD = `SELECT id, lat, lon FROM pings WHERE lon BETWEEN 6.0 AND 6.05 AND lat BETWEEN 46.0 AND 46.025;`;
const BOTH = 'CREATE INDEX CONCURRENTLY pings_lat_lon_idx ON public.pings (lat, lon);';

const findingsOf = (report: Report): readonly Finding[] => report.queries[0]?.findings ?? [];

describe('index advice for ranges on two columns of one table', () => {
  let bare: Report;

  beforeAll(async () => {
    await loadParser();
    bare = await runSqlText('box_bare', `${TABLE}ANALYZE pings;\n`, WORKLOAD, { allowIndexBuild: true });
  });

  it('proposes a B-tree on both columns, the more selective range first', () => {
    const finding = findingsOf(bare).find((f) => f.rule === 'seq-scan-large-table');
    expect(finding?.advice?.sql).toBe(BOTH);
    expect(finding?.advice?.improvement).toBeGreaterThanOrEqual(0.5);
  });

  it('following the advice, the next run reads the box through the index and flags nothing', async () => {
    const advice = findingsOf(bare).find((f) => f.advice)?.advice?.sql;
    expect(advice).toBeDefined();
    const next = await runSqlText(
      'box_advised',
      `${TABLE}${advice!.replace(' CONCURRENTLY', '')}\nANALYZE pings;\n`,
      WORKLOAD,
      { allowIndexBuild: true },
    );
    expect(findingsOf(next).filter((f) => f.severity !== 'info')).toEqual([]);
  });
});
