/**
 * compare on a range-partitioned table, on a real PostgreSQL: dropping the primary key of the
 * partitioned table drops it on every partition, and the statement that looked rows up by id scans
 * every partition instead. That is one change of one table, named once: not one scan downgrade,
 * one lost index and one removed and added node per partition.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { compareReports } from '../../src/compare/compare.js';
import type { Report } from '../../src/model/report.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';
import { partitionedEventsSql } from '../support/partitioned.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-compare-partitions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Five monthly partitions and a default one of ~8,000 rows each: every partition is below the
// 10,000 rows a scan downgrade needs to be named among a regression's reasons; the table is not.
const table = (dropKey: boolean) =>
  partitionedEventsSql({
    months: ['2025-01', '2025-02', '2025-03', '2025-04', '2025-05'],
    defaultPartition: true,
    primaryKey: true,
    rows: { total: 48000, days: 180 },
    tenant: 'g % 50',
    payloadWidth: 200,
    ...(dropKey ? { extraDdl: 'ALTER TABLE events DROP CONSTRAINT events_pkey;' } : {}),
  });

async function database(name: string, dropKey: boolean): Promise<string> {
  const url = await createTestDatabase(name);
  await withSession(url, async (s) => {
    await s.query(table(dropKey));
    await s.query('VACUUM events');
  });
  return url;
}

describe('compare on a partitioned table', () => {
  let base: Report;
  let head: Report;

  beforeAll(async () => {
    await loadParser();
    const file = join(dir, 'workload.sql');
    writeFileSync(file, 'SELECT * FROM events WHERE id = 4242;\n');
    const load = { repeat: 3, connections: 1, rounds: 3 };
    const [main, pr] = await Promise.all([database('cmp_part_main', false), database('cmp_part_pr', true)]);
    base = await runWorkload({ workload: loadSqlWorkload(file, {}, load), databaseUrl: main });
    head = await runWorkload({ workload: loadSqlWorkload(file, {}, load), databaseUrl: pr });
  }, 180_000);

  it('names the scan downgrade of every partition once, as a change of the partitioned table', () => {
    const c = compareReports(base, head);
    const s = c.statements.find((x) => x.query.includes('WHERE id ='))!;
    expect(s.verdict).toBe('regression');
    const downgrades = s.regressions.filter((r) => r.kind === 'scan-downgrade');
    expect(downgrades.map((r) => r.message)).toEqual([
      expect.stringMatching(
        /^6 partitions of public\.events: Index (Only )?Scan using events_\*_pkey -> (Parallel )?Seq Scan \(48k rows in all\)$/,
      ),
    ]);
    expect(downgrades[0]!.evidence).toMatchObject({ relation: 'public.events', rows: 48000 });
    const changes = s.planDiff!.changes;
    expect(changes.filter((ch) => ch.kind === 'index-lost').map((ch) => ch.message)).toEqual([
      '6 partitions of public.events: indexes events_*_pkey no longer used (they do not exist in head)',
    ]);
    // No change names a partition.
    expect(changes.filter((ch) => /events_(2025|default)/.test(ch.message))).toEqual([]);
    const table = renderComparisonTable(c, { width: 400 });
    const markdown = renderComparisonMarkdown(c);
    for (const out of [table, markdown]) {
      // The downgrade once (the plan tree shows the two sides on lines of their own).
      expect(out.match(/6 partitions of public\.events: Index (Only )?Scan using events_\*_pkey -> /g)?.length).toBe(1);
      expect(out).not.toMatch(/scan-downgrade\**: Index/);
    }
  });

  it('folds the scans of the partitions into one line of the plan tree, as the changes are', () => {
    const c = compareReports(base, head);
    const s = c.statements.find((x) => x.query.includes('WHERE id ='))!;
    const lines = s.planDiff!.lines;
    // Under the Append, one line for the six partitions' scans: not one per partition.
    expect(lines.filter((l) => /events_(2025|default)/.test(`${l.base ?? ''} ${l.head ?? ''}`))).toEqual([]);
    const scans = lines.filter((l) => l.depth > 0 && /partitions of/.test(`${l.base ?? ''}${l.head ?? ''}`));
    expect(scans).toEqual([
      {
        op: 'changed',
        depth: expect.any(Number),
        base: expect.stringMatching(/^6 partitions of public\.events: Index (Only )?Scan using events_\*_pkey$/),
        head: expect.stringMatching(/^6 partitions of public\.events: (Parallel )?Seq Scan$/),
      },
    ]);
    const markdown = renderComparisonMarkdown(c);
    expect(markdown).toMatch(/\+ +-> 6 partitions of public\.events: (Parallel )?Seq Scan/);
    expect(markdown).not.toMatch(/-> (Parallel )?Seq Scan on events_/);
  });
});
