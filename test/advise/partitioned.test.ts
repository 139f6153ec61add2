import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles, withSession } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/partitioned/${name}`, import.meta.url));

/** The findings of a rule for the statement that matches `needle`. */
function findingsOf(report: Report, needle: string | RegExp, rule: string): Finding[] {
  const query = report.queries.find((q) =>
    typeof needle === 'string' ? q.query.includes(needle) : needle.test(q.query),
  );
  expect(query, String(needle)).toBeDefined();
  return query!.findings.filter((f) => f.rule === rule);
}

describe('a declaratively partitioned table (four partitions, indexes on the parent)', () => {
  let url: string;
  let plain: Report;
  let analyzed: Report;

  const run = (analyze: boolean) =>
    runWorkload({
      workload: loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 }),
      databaseUrl: url,
      allowIndexBuild: true,
      ...(analyze ? { analyze } : {}),
    });

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('partitioned');
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
    plain = await run(false);
    analyzed = await run(true);
  });

  it('reports the scans of every partition under one Append as one finding about the parent', () => {
    for (const report of [plain, analyzed]) {
      const [finding, ...more] = findingsOf(report, /WHERE status = \$1$/, 'seq-scan-large-table');
      expect(more).toEqual([]);
      expect(finding!.relation).toBe('public.orders');
      expect(finding!.nodePath).toBe('Append');
      expect(finding!.evidence).toMatchObject({ partitionsScanned: 4, rowsReadInAll: 120_000 });
      expect(finding!.evidence.worstPartition).toMatch(/^public\.orders_2024_0[1-4]$/);
      expect(finding!.message).toMatch(
        /^4 partitions of public\.orders \(120,000 rows read in all\); the worst: Seq Scan on public\.orders_2024_0\d reads/,
      );
      // A cast on the partition key: the predicate's finding and the scans' are one, on the parent.
      const cast = findingsOf(report, 'ordered_at::date', 'non-sargable-predicate');
      expect(cast).toHaveLength(1);
      expect(cast[0]).toMatchObject({ relation: 'public.orders', nodePath: 'Aggregate > Append' });
      expect(cast[0]!.evidence).toMatchObject({ partitionsScanned: 4, sameFixAs: 'seq-scan-large-table' });
      expect(findingsOf(report, 'ordered_at::date', 'seq-scan-large-table')).toEqual([]);
    }
    // --analyze: the misestimate of each partition's scan is one finding too.
    const [mismatch, ...more] = findingsOf(analyzed, 'buyer_id %', 'row-estimate-mismatch');
    expect(more).toEqual([]);
    expect(mismatch!.relation).toBe('public.orders');
    expect(mismatch!.evidence).toMatchObject({ partitionsScanned: 4, actualRowsInAll: 12_000 });
    expect(mismatch!.suggestion).toMatch(/likewise on each of the 4 partitions of public\.orders/);
  });

  it('names an index that exists when the planner chose the scans over it', () => {
    const [finding] = findingsOf(plain, 'total_cents < $1', 'seq-scan-large-table');
    expect(finding!.relation).toBe('public.orders');
    // The partitions' indexes are named after them; the parent's (orders_by_total) is not.
    expect(finding!.suggestion).toMatch(
      /^the index orders_2024_0\d_total_cents_idx already leads with total_cents, and the planner chose this scan over it/,
    );
  });

  it('proposes and validates an index on the parent, once, not one per partition', () => {
    const [finding, ...more] = findingsOf(plain, /WHERE status = \$1$/, 'seq-scan-large-table');
    expect(more).toEqual([]);
    expect(finding!.advice).toMatchObject({ method: 'rollback-build' });
    expect(finding!.advice!.sql).toBe('CREATE INDEX orders_status_idx ON public.orders (status);');
    expect(finding!.advice!.improvement).toBeGreaterThan(0.5);
    expect(finding!.suggestion).toMatch(
      /^CREATE INDEX orders_status_idx ON public\.orders \(status\); -- on a partitioned table CONCURRENTLY is not available: CREATE INDEX \.\.\. ON ONLY/,
    );
    expect(plain.warnings.join('\n')).not.toMatch(/not validated/);
  });

  it('without --analyze, judges an index scan per partition by the blocks the statement reads from the table', () => {
    const [finding, ...more] = findingsOf(plain, 'ORDER BY total_cents', 'index-scan-filter');
    expect(more).toEqual([]);
    expect(finding).toMatchObject({ messageId: 'measuredPartition', severity: 'error', relation: 'public.orders' });
    // The blocks per call and the rows are the statement's, and named so; the worst scan is a partition's.
    expect(finding!.message).toMatch(
      /; the worst: Index Scan on public\.orders_2024_0\d through .*: its filter .* throws away what the index finds; the statement's scans of the 4 partitions of public\.orders touch [\d,]+ shared blocks per call to return an estimated 20 rows$/,
    );
    // The index that serves both the filter and the order, validated on the parent.
    expect(finding!.advice?.sql).toBe(
      'CREATE INDEX orders_status_total_cents_idx ON public.orders (status, total_cents);',
    );
    expect(finding!.advice!.improvement).toBeGreaterThan(0.5);
  });

  it('leaves no index behind', async () => {
    await withSession(url, async (session) => {
      const { rows } = await session.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_indexes WHERE tablename LIKE 'orders%'`,
      );
      // orders_ordered_at_idx and orders_total_cents_idx, on the parent and on each partition.
      expect(rows[0]!.n).toBe(10);
    });
  });
});
