/**
 * The work_mem a spill finding suggests, applied on a real PostgreSQL: the sort it names must stop
 * spilling. The database runs at the server's usual 4MB, set explicitly so the test does not depend
 * on the server's configuration.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { resolveRules } from '../../src/config/config.js';
import type { Finding } from '../../src/model/finding.js';
import type { PlanNode } from '../../src/model/plan.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-spill-fix-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 100,000 narrow rows sorted with both columns: about 1.8 MB on disk at 4MB, 5.4 MB in memory.
const SCHEMA = `
CREATE TABLE readings (id integer NOT NULL, v integer NOT NULL);
INSERT INTO readings SELECT g, (g::bigint * 7919 % 1000003)::integer FROM generate_series(1, 100000) AS g;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '4MB'); END $$;
`;
const STATEMENT = 'SELECT id, v FROM readings ORDER BY v OFFSET 1000000';

function findSort(node: PlanNode): PlanNode | undefined {
  if (node['Node Type'] === 'Sort') return node;
  for (const child of node.Plans ?? []) {
    const sort = findSort(child);
    if (sort) return sort;
  }
  return undefined;
}

describe('sort-spill suggests a work_mem that stops the spill', () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('spill_fix');
    writeFileSync(join(dir, 'schema.sql'), SCHEMA);
    writeFileSync(join(dir, 'workload.sql'), `${STATEMENT};\n`);
  });

  for (const analyze of [true, false]) {
    it(`${analyze ? 'with' : 'without'} --analyze`, async () => {
      const workload = loadSqlWorkload(
        join(dir, 'workload.sql'),
        { schema: [join(dir, 'schema.sql')] },
        { repeat: 1, connections: 1, rounds: 1 },
      );
      const report = await runWorkload({
        workload,
        databaseUrl: url,
        setup: analyze, // the first run loads the table
        analyze,
        rules: resolveRules(undefined),
      });
      const query = report.queries.find((q) => q.query.includes('readings'))!;
      expect(query.plan?.settings?.workMemKb).toBe(4096);
      const finding = query.findings.find((f) => f.rule === 'sort-spill') as Finding;
      expect(finding.evidence.workMemKb).toBe(4096);
      const setting = /work_mem = '(\d+MB)'/.exec(finding.suggestion ?? '')?.[1];
      expect(setting, finding.suggestion).toBeDefined();
      expect(Number.parseInt(setting!, 10)).toBeGreaterThanOrEqual(8);

      const [before, after] = await withSession(url, async (session) => {
        const sortOf = async () => {
          const { rows } = await session.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
            `EXPLAIN (ANALYZE, FORMAT JSON) ${STATEMENT}`,
          );
          return findSort(rows[0]!['QUERY PLAN'][0].Plan)!;
        };
        await session.query('BEGIN');
        const spilled = await sortOf();
        await session.query(`SET LOCAL work_mem = '${setting!}'`);
        const fixed = await sortOf();
        await session.query('ROLLBACK');
        return [spilled, fixed];
      });
      expect(before['Sort Space Type']).toBe('Disk');
      expect(after['Sort Space Type']).toBe('Memory');
      expect(after['Sort Method']).toBe('quicksort');
    });
  }
});
