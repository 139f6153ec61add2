/**
 * Index advice for a listing paged with OFFSET, on a real PostgreSQL: an index on the ORDER BY's
 * column makes a page near the start cheap, and is walked through every row a deep page skips. The
 * advice is judged at the deepest offset the replay sent, and the keyset rewrite leads it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adviseDetails } from '../../src/advise/advise.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { QueryReport, Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadScenario, loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-offset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 100,000 items stored in an order unrelated to their rank: an index on rank reads rows from all over
// the table, and without it every page sorts the whole table.
const SCHEMA = `
CREATE TABLE items (id bigint PRIMARY KEY, rank integer NOT NULL, title text NOT NULL);
INSERT INTO items SELECT g, (g * 7919) % 100000, 'item ' || g || repeat('x', 60) FROM generate_series(1, 100000) AS g;
`;
const LISTING = 'SELECT id, title FROM items ORDER BY rank OFFSET $1 LIMIT 20';
const KEYSET =
  'use keyset pagination instead of OFFSET: WHERE (rank, id) > ($last1, $last2) ORDER BY rank, id LIMIT n, with an index on (rank, id) (id, the primary key of public.items, ends the ORDER BY, so that no row is skipped or repeated between pages)';

let url: string;
let report: Report;

const listing = (r: Report): QueryReport => r.queries.find((q) => q.query.startsWith('SELECT id, title FROM items'))!;
const scanFinding = (r: Report): Finding | undefined =>
  listing(r).findings.find((f) => f.rule === 'seq-scan-large-table');

/** The statement's plan cost at a literal offset, without and with an index on rank. */
async function costs(offset: number): Promise<{ without: number; with: number }> {
  const sql = `EXPLAIN (FORMAT JSON) SELECT id, title FROM items ORDER BY rank OFFSET ${offset} LIMIT 20`;
  const cost = async (s: { query: (sql: string) => Promise<{ rows: Record<string, unknown>[] }> }) => {
    const { rows } = await s.query(sql);
    return (rows[0]!['QUERY PLAN'] as [{ Plan: { 'Total Cost': number } }])[0].Plan['Total Cost'];
  };
  return withSession(url, async (s) => {
    const without = await cost(s);
    await s.query('BEGIN');
    try {
      await s.query('CREATE INDEX ON items (rank)');
      return { without, with: await cost(s) };
    } finally {
      await s.query('ROLLBACK');
    }
  });
}

beforeAll(async () => {
  await loadParser();
  url = await createTestDatabase('offset_advice');
  await withSession(url, async (s) => {
    await s.query(SCHEMA);
    await s.query('ANALYZE items');
  });
  // Pages near the start and one 60,000 rows deep.
  writeFileSync(
    join(dir, 'listing.yaml'),
    [
      'name: listing',
      'load: { connections: 1, repeat: 8, rounds: 1 }',
      'statements:',
      `  - sql: ${LISTING}`,
      '    params:',
      '      - pick: [0, 20, 40, 60000]',
    ].join('\n'),
  );
  report = await runWorkload({ workload: loadScenario(join(dir, 'listing.yaml'), {}), databaseUrl: url, seed: 3 });
});

describe('index advice under a deep OFFSET', () => {
  it('puts the keyset rewrite before the index in the run', () => {
    const [keyset, index] = (scanFinding(report)?.suggestion ?? '').split(' -- or: ');
    expect(keyset).toBe(KEYSET);
    // The index the rewrite needs: the ORDER BY's column, then the primary key that makes it unique.
    expect(index).toMatch(/^CREATE INDEX CONCURRENTLY items_rank_id_idx ON public\.items \(rank, id\);/);
  });

  it('judges the index at the deepest offset the replay sent, after the keyset rewrite', async () => {
    const query = listing(report);
    expect(query.paramMax).toEqual([60000]);
    // The slowest call, whose values the plan was made with, may be a shallow page: advise as if it were.
    const shallow: Report = {
      ...report,
      queries: report.queries.map((q) =>
        q === query
          ? {
              ...q,
              plan: { ...q.plan!, params: ['20'] },
              findings: q.findings.map(({ advice: _advice, ...f }) =>
                f.rule === 'seq-scan-large-table' ? { ...f, suggestion: 'CREATE INDEX ON public.items (rank);' } : f,
              ),
            }
          : q,
      ),
    };
    const { report: advised } = await withSession(url, (session) =>
      adviseDetails(session, shallow, {
        allowIndexBuild: true,
        statements: [{ fingerprint: query.fingerprint, sql: LISTING, paramCount: 1, params: ['20'] }],
      }),
    );
    const finding = scanFinding(advised)!;
    const deep = await costs(60000);
    expect(finding.advice?.costBefore).toBeCloseTo(deep.without, 0);
    expect(finding.advice?.costAfter).toBeCloseTo(deep.with, 0);
    const [keyset, index] = finding.suggestion!.split(' -- or: ');
    expect(keyset).toBe(KEYSET);
    expect(index).toBe(
      'CREATE INDEX CONCURRENTLY items_rank_idx ON public.items (rank); -- validated at OFFSET 60,000, the deepest the replay sent: every call still walks the index through the rows it skips',
    );
  });
});

describe('index advice for the first page', () => {
  it('names the index on the ORDER BY without the caveats of a deep page or of a rare filter value', async () => {
    writeFileSync(join(dir, 'first.sql'), 'SELECT id, title FROM items ORDER BY rank LIMIT 20;');
    const first = await runWorkload({
      workload: loadSqlWorkload(join(dir, 'first.sql'), {}, { repeat: 2, connections: 1, rounds: 1 }),
      databaseUrl: url,
      allowIndexBuild: true,
    });
    const finding = scanFinding(first);
    expect(finding?.advice?.sql).toBe('CREATE INDEX CONCURRENTLY items_rank_idx ON public.items (rank);');
    // No filter: the index serves the whole statement, and there is no OFFSET to walk through.
    expect(finding?.suggestion).toBe(finding?.advice?.sql);
  });
});
