/**
 * index-scan-filter with and without --analyze, on a real PostgreSQL: a bounding box over points
 * with an index on one coordinate. The index finds a few thousand rows spread over as many blocks,
 * and the filter on the other coordinate keeps a handful. Fewer rows than `minRows`, but thousands
 * of blocks for a few rows: both modes report the scan, so a gate does not pass or fail on the flag.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 400,000 points on a 5 x 5 degree square; lon in [6, 6.02] holds some 1,600 of them, on about as
// many of the table's ~2,550 blocks, and the box keeps about 6.
const SCHEMA = `
CREATE TABLE pings (id bigint PRIMARY KEY, lat double precision NOT NULL, lon double precision NOT NULL);
INSERT INTO pings SELECT g, 45 + ((g * 7919) % 100000) / 20000.0, 5 + ((g * 104729) % 100000) / 20000.0
  FROM generate_series(1::bigint, 400000::bigint) AS g;
CREATE INDEX pings_lon_idx ON pings (lon);
ANALYZE pings;
`;
const WORKLOAD = 'SELECT id, lat, lon FROM pings WHERE lat BETWEEN 46.0 AND 46.02 AND lon BETWEEN 6.0 AND 6.02;\n';

describe('index-scan-filter on a scan that reads few rows on many blocks', () => {
  let plain: Report;
  let analyzed: Report;

  beforeAll(async () => {
    await loadParser();
    plain = await runSqlText('filter_blocks', SCHEMA, WORKLOAD);
    analyzed = await runSqlText('filter_blocks_an', SCHEMA, WORKLOAD, { analyze: true });
  });

  const findingsOf = (report: Report) =>
    report.queries.find((q) => q.query.includes('FROM pings'))!.findings.filter((f) => f.rule === 'index-scan-filter');

  it('reports it without --analyze, on the blocks per call', () => {
    expect(findingsOf(plain).map((f) => [f.messageId, f.severity])).toEqual([['measured', 'error']]);
  });

  it('reports it with --analyze too, on the blocks the scan touched for the rows it kept', () => {
    const query = analyzed.queries.find((q) => q.query.includes('FROM pings'))!;
    const root = query.plan!.root;
    expect(root['Node Type']).toBe('Bitmap Heap Scan');
    // Fewer rows read than minRows: the rows alone would not report it.
    expect(Number(root['Actual Rows']) + Number(root['Rows Removed by Filter'])).toBeLessThan(10_000);
    const [finding, ...others] = findingsOf(analyzed);
    expect(others).toEqual([]);
    expect(finding?.messageId).toBe('countedBlocks');
    expect(finding?.severity).toBe('error');
    expect(Number(finding?.evidence.scanBlocks)).toBeGreaterThan(1000);
    expect(finding?.message).toMatch(
      /^Bitmap Heap Scan touches 1,\d{3} shared blocks of public\.pings through pings_lon_idx to read 1,\d{3} rows and keep \d+ \(99\.\d+% removed by its filter /,
    );
  });
});
