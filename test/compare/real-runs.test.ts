/**
 * The proof on a real PostgreSQL: the same workload against a schema with and without an index is
 * flagged with the scan downgrade; the same branch run several times is never a regression.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { compareReports } from '../../src/compare/compare.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const sql = (name: string) => readFileSync(fixture(name), 'utf8');

/** A database with the fixture schema and 30,000 orders, with or without orders_customer_idx. */
async function branchDatabase(index: boolean): Promise<string> {
  const url = await createTestDatabase(index ? 'cmp_main' : 'cmp_pr');
  await withSession(url, async (s) => {
    await s.query(sql('schema.sql'));
    if (index) await s.query(sql('index.sql'));
    await s.query(sql('seed.sql'));
    await s.query('ANALYZE');
  });
  return url;
}

async function run(url: string): Promise<Report> {
  const workload = loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 24, connections: 2, rounds: 3 });
  return runWorkload({ workload, databaseUrl: url });
}

describe('compare on real runs', () => {
  let main: string;
  let pr: string;
  beforeAll(async () => {
    await loadParser();
    [main, pr] = await Promise.all([branchDatabase(true), branchDatabase(false)]);
  });

  it('flags the statements that lost their index with the scan downgrade', async () => {
    const base = await run(main);
    const head = await run(pr);
    const c = compareReports(base, head);

    expect(c.verdict).toBe('regression');
    expect(c.counts).toMatchObject({ matched: 4, added: 0, removed: 0, regressions: 2 });
    const regressed = c.statements.filter((s) => s.verdict === 'regression');
    expect(regressed.map((s) => s.query).sort()).toEqual([
      expect.stringContaining('JOIN orders o ON o.customer_id = c.id'),
      expect.stringContaining('FROM orders WHERE customer_id = $1'),
    ]);
    for (const s of regressed) {
      const downgrade = s.regressions.find((r) => r.kind === 'scan-downgrade');
      expect(downgrade?.message).toMatch(/Scan.* on orders -> Seq Scan on orders/);
      expect(downgrade?.evidence.relation).toBe('public.orders');
      expect(s.planDiff?.changes.find((ch) => ch.kind === 'index-lost')?.message).toBe(
        'index orders_customer_idx on orders no longer used (it does not exist in head)',
      );
      expect(s.blocksPerCall.relative).toBeGreaterThan(0.5);
    }
    // The statements that do not read orders by customer keep their plans and are not flagged.
    for (const s of c.statements.filter((x) => x.verdict !== 'regression')) {
      expect(s.planDiff?.changed).toBe(false);
      expect(s.regressions).toEqual([]);
    }
  });

  it('never calls the same branch run again a regression', async () => {
    const runs: Report[] = [];
    for (let i = 0; i < 3; i++) runs.push(await run(pr));
    const pairs = [
      [runs[0]!, runs[1]!],
      [runs[1]!, runs[2]!],
      [runs[0]!, runs[2]!],
      [runs[2]!, runs[0]!],
    ] as const;
    for (const [base, head] of pairs) {
      const c = compareReports(base, head);
      const detail = c.statements.map((s) => `${s.verdict} ${s.timing.note}`).join('\n');
      expect(c.verdict, detail).toBe('ok');
      expect(c.counts).toMatchObject({ matched: 4, added: 0, removed: 0, regressions: 0 });
      for (const s of c.statements) {
        expect(s.planDiff?.changed).toBe(false);
        expect(s.regressions).toEqual([]);
        // Timing differences between identical runs are never more than noise.
        expect(['noise', 'inconclusive']).toContain(s.timing.verdict);
      }
    }
  });
});
