/**
 * compare on real runs, for changes that plan cost and shared blocks do not show: a sort that starts
 * spilling to disk.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { compareReports } from '../../src/compare/compare.js';
import { resolveCompareThresholds } from '../../src/compare/thresholds.js';
import type { Report } from '../../src/model/report.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

/**
 * 40,000 events (12 MB) in a database whose sessions get `workMem`: sorting every event's payload
 * (about 4 MB) fits in 16MB and spills at 1MB.
 */
async function eventsDatabase(prefix: string, workMem: string): Promise<string> {
  const url = await createTestDatabase(prefix);
  await withSession(url, async (s) => {
    await s.query(
      `CREATE TABLE events (
         id int PRIMARY KEY, category int NOT NULL, code text NOT NULL UNIQUE, payload text NOT NULL, note text NOT NULL
       );
       INSERT INTO events
         SELECT g, g % 50, 'c' || g, md5(g::text) || md5((g + 1)::text), repeat('x', 200)
         FROM generate_series(1, 40000) g;
       ANALYZE events;`,
    );
    // For the sessions the replay and EXPLAIN open afterwards, as a setup file's ALTER would.
    await s.query(
      `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '${workMem}'); END $$`,
    );
  });
  return url;
}

const dir = mkdtempSync(join(tmpdir(), 'querygate-spills-'));

/** Runs the statements (one per line, so that each keeps its line as its source) against `url`. */
async function run(url: string, statements: readonly string[]): Promise<Report> {
  const file = join(dir, 'workload.sql');
  writeFileSync(file, `${statements.join('\n')}\n`);
  const workload = loadSqlWorkload(file, {}, { repeat: 4, connections: 1, rounds: 1 });
  return runWorkload({ workload, databaseUrl: url });
}

beforeAll(async () => {
  await loadParser();
});

describe('compare on real runs: a sort that starts spilling', () => {
  const statements = ['SELECT id, payload FROM events ORDER BY payload;', 'SELECT payload FROM events WHERE id = 42;'];
  let base: Report;
  let head: Report;
  beforeAll(async () => {
    const [roomy, tight] = await Promise.all([
      eventsDatabase('spill_roomy', '16MB'),
      eventsDatabase('spill_tight', '1MB'),
    ]);
    base = await run(roomy, statements);
    head = await run(tight, statements);
  });

  it('is a regression on temp blocks written per call, which plan cost and shared blocks do not show', () => {
    const c = compareReports(base, head);
    const sort = c.statements.find((s) => s.query.includes('ORDER BY payload'))!;
    expect(sort.verdict).toBe('regression');
    expect(c.verdict).toBe('regression');
    expect(sort.regressions.map((r) => r.messageId)).toEqual(['temp-blocks-per-call-up']);
    expect(sort.regressions[0]!.message).toMatch(
      /^temp blocks written per call 0 -> \d+ \(new; a sort or hash spills to disk beyond work_mem\)$/,
    );
    // The same plan, the same shared blocks, a plan cost a third higher for the disk (below +50%):
    // by those, unchanged.
    expect(sort.planDiff?.changed).toBe(false);
    expect(sort.blocksPerCall.delta).toBe(0);
    expect(sort.planCost!.relative!).toBeLessThan(0.5);
    expect(sort.tempBlocksPerCall.base).toBe(0);
    expect(sort.tempBlocksPerCall.head).toBeGreaterThan(100);
    // The lookup wrote no temp blocks on either side.
    expect(c.statements.find((s) => s.query.includes('id = $1'))!.verdict).toBe('unchanged');

    // In the table and the pull-request comment, in a column of its own.
    expect(renderComparisonTable(c, { width: 200 })).toMatch(/│ temp blocks\/call +│/);
    expect(renderComparisonTable(c, { width: 200 })).toMatch(/│ 0 → \d+ \(new\) +│/);
    const md = renderComparisonMarkdown(c);
    expect(md).toContain('| verdict | statement | plan cost | blocks/call | temp blocks/call | rows/call |');
    expect(md).toMatch(
      /^\| \*\*regression\*\* \| `SELECT id, payload FROM events ORDER BY payload` \| .* \| 0 → \d+ \(new\) \|/m,
    );
  });

  it('is judged against compare.tempBlocksPerCall, and the other way is an improvement', () => {
    const lenient = compareReports(base, head, resolveCompareThresholds({ tempBlocksPerCall: { absolute: 1e6 } }));
    expect(lenient.verdict).toBe('ok');
    const back = compareReports(head, base);
    const sort = back.statements.find((s) => s.query.includes('ORDER BY payload'))!;
    expect(sort.verdict).toBe('improvement');
    expect(sort.improvements.map((r) => r.messageId)).toEqual(['temp-blocks-per-call-down']);
    // No spill on either side: no temp blocks column.
    const same = renderComparisonTable(compareReports(base, base), { width: 200, all: true });
    expect(same).toContain('│ unchanged');
    expect(same).not.toContain('temp blocks/call');
  });
});
