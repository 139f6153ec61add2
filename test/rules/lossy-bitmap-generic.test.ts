/**
 * lossy-bitmap-scan on a generic plan, on a real PostgreSQL: a trigram index for `ILIKE '%' || $1 || '%'`
 * that the generic plan reads as a bitmap, while the calls whose term matches most rows ran a Seq Scan
 * with their values. Their blocks per call are not the bitmap's, and a bitmap over a table whose blocks
 * all fit in work_mem never goes lossy: no finding, let alone an error.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { captureClientCalls } from '../support/capture.js';
import { createTestDatabase, withSession } from '../support/db.js';

// 40,000 events, one in eight titled "Rock ...", every one "... night ...": "night" matches them all.
const SCHEMA = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA tix;
CREATE TABLE tix.events (id int PRIMARY KEY, title text NOT NULL, starts_at timestamptz NOT NULL, description text);
INSERT INTO tix.events
SELECT g, (ARRAY['Rock','Jazz','Opera','Comedy','Ballet','Symphony','Indie','Metal'])[1 + g % 8] || ' night ' || md5(g::text),
       timestamptz '2026-01-01' + (g % 365) * interval '1 day', repeat('lorem ipsum ', 10)
  FROM generate_series(1, 40000) AS g;
CREATE INDEX events_title_trgm_idx ON tix.events USING gin (title gin_trgm_ops);
ANALYZE tix.events;
`;
const SEARCH = `SELECT id, title, starts_at FROM tix.events WHERE title ILIKE '%' || $1 || '%' ORDER BY starts_at LIMIT 20`;

describe('lossy-bitmap-scan on a generic plan of a trigram search', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('lossy_generic');
    await withSession(url, (session) => session.query(SCHEMA));
    report = await captureClientCalls(
      url,
      Array.from({ length: 4 }, () =>
        ['rock', 'jazz', 'night', '3fa', 'opera', 'zzz'].map((term) => [SEARCH, [term]] as const),
      ).flat(),
    );
  });

  it('reports nothing: the calls that read most blocks ran a Seq Scan, and the bitmap fits work_mem', () => {
    const search = report.queries.find((q) => q.query.includes('ILIKE'))!;
    expect(search.plan?.mode).toBe('generic');
    // The generic plan's bitmap, and blocks per call that are most of the table.
    expect(JSON.stringify(search.plan?.root)).toContain('Bitmap Heap Scan');
    const table = report.relations.find((r) => r.name === 'tix.events')!;
    expect(search.sharedBlksPerCall / table.pages).toBeGreaterThan(0.5);
    expect(search.findings.map((f) => f.rule)).not.toContain('lossy-bitmap-scan');
  });
});
