/**
 * Temp blocks written by an aggregate's own per-group sort (`count(DISTINCT x)` in a GroupAggregate),
 * which is no plan node, in a plan whose only Hash is small: without --analyze the spill must be put
 * on the aggregate, not on the Hash. On a real PostgreSQL: EXPLAIN ANALYZE shows the Hash in one
 * batch and the temp blocks on the GroupAggregate. The database sorts DISTINCT aggregates' groups
 * inside the aggregate (enable_presorted_aggregate off, as PostgreSQL did before 16, and does for all
 * but one of several DISTINCT aggregates).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { planNodes } from '../../src/analyze/plan-facts.js';
import { findSpills, spillReason } from '../../src/analyze/spill.js';
import { parseTree } from '../../src/analyze/sql-tree.js';
import { resolveRules } from '../../src/config/config.js';
import type { PlanNode } from '../../src/model/plan.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { scratchDatabase, withSession } from '../support/db.js';

// 10 customers with 20,000 distinct pages each: one group's sort outgrows work_mem 256kB; the hash
// of 1,000 customers fits in a batch.
const SCHEMA = `
CREATE TABLE customers (id integer NOT NULL, region text NOT NULL);
INSERT INTO customers SELECT g, 'region ' || (g % 5) FROM generate_series(1, 1000) AS g;
CREATE TABLE visits (customer_id integer NOT NULL, page text NOT NULL);
INSERT INTO visits SELECT g / 20000 + 1, md5(g::text) FROM generate_series(0, 199999) AS g;
CREATE INDEX ON visits (customer_id);
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '256kB');
  EXECUTE format('ALTER DATABASE %I SET enable_presorted_aggregate = off', current_database());
END $$;
`;
const STATEMENT =
  "SELECT c.id, c.region, a.pages FROM (SELECT customer_id, count(DISTINCT page) AS pages FROM visits GROUP BY customer_id) AS a JOIN customers c ON c.id = a.customer_id WHERE c.region <> 'none'";

function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

describe('spill of a DISTINCT aggregate, without --analyze', () => {
  let dir: string;
  let url: string;
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    ({ dir, url } = await scratchDatabase('spill_aggregate'));
    writeFileSync(join(dir, 'schema.sql'), SCHEMA);
    writeFileSync(join(dir, 'workload.sql'), `${STATEMENT};\n`);
    const workload = loadSqlWorkload(
      join(dir, 'workload.sql'),
      { schema: [join(dir, 'schema.sql')] },
      { repeat: 1, connections: 1, rounds: 1 },
    );
    report = await runWorkload({ workload, databaseUrl: url, setup: true, rules: resolveRules(undefined) });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the plan spills in the aggregate, and its Hash fits (EXPLAIN ANALYZE)', async () => {
    const plan = await withSession(url, async (session) => {
      const { rows } = await session.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${STATEMENT}`,
      );
      return nodesOf(rows[0]!['QUERY PLAN'][0].Plan);
    });
    const hash = plan.find((n) => n['Node Type'] === 'Hash')!;
    expect(hash['Hash Batches']).toBe(1);
    const aggregate = plan.find((n) => n['Node Type'] === 'Aggregate')!;
    expect(aggregate.Strategy).toBe('Sorted');
    expect(aggregate['Temp Written Blocks']).toBeGreaterThan(0);
    expect(plan.some((n) => n['Node Type'] === 'Sort' || n['Node Type'] === 'Incremental Sort')).toBe(false);
  });

  it('puts the temp blocks on the aggregate, not on the Hash', () => {
    const query = report.queries.find((q) => q.query.includes('count(DISTINCT page)'))!;
    expect(query.plan?.mode).not.toBe('analyze');
    expect(query.tempBlksWritten).toBeGreaterThan(0);
    expect(query.findings.filter((f) => f.rule === 'hash-spill')).toEqual([]);
    const finding = query.findings.find((f) => f.rule === 'sort-spill')!;
    expect(finding.message).toMatch(
      /; the GroupAggregate on visits\.customer_id is the likely spill: count\(DISTINCT …\) sorts each group's rows inside the aggregate, a sort that is no plan node, .*; the hash of customers, estimated far below its memory, fits \(run with --analyze to confirm\)$/,
    );
  });

  it('without the aggregate to blame, says the site is unknown rather than blame the Hash', () => {
    const query = report.queries.find((q) => q.query.includes('count(DISTINCT page)'))!;
    const nodes = planNodes(query.plan!.root);
    const tree = parseTree(STATEMENT);
    expect(findSpills(query, nodes, tree)[0]).toMatchObject({ kind: 'sort', basis: 'aggregate' });
    // The same temp blocks without the parse tree: no DISTINCT aggregate known, and the Hash fits.
    const [spill] = findSpills(query, nodes, []);
    expect(spill?.kind).toBe('unknown');
    expect(spillReason(spill!)).toBe('the hash of customers, estimated far below the memory it may use, is unlikely');
  });
});
