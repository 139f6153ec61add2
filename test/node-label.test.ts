import { beforeAll, describe, expect, it } from 'vitest';
import { nodeLabel, walkPlan } from '../src/analyze/plan.js';
import type { PlanNode } from '../src/model/plan.js';
import { createTestDatabase, withSession } from './support/db.js';

/**
 * Node labels are EXPLAIN's own words: for each statement, the server's JSON plan is labelled node by
 * node and compared with the node lines of its text plan (`->  HashAggregate  (cost=...)`).
 */
describe('node labels', () => {
  let url: string;
  beforeAll(async () => {
    url = await createTestDatabase('node_label');
    await withSession(url, (s) =>
      s.query(`
        CREATE TABLE nl_a (id int PRIMARY KEY, g int, t timestamptz);
        CREATE TABLE nl_b (id int PRIMARY KEY, a_id int);
        INSERT INTO nl_a SELECT i, i % 50, '2024-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 200000) i;
        INSERT INTO nl_b SELECT i, i % 1000 FROM generate_series(1, 5000) i;
        ANALYZE nl_a, nl_b;`),
    );
  });

  /** The labels of the JSON plan, and the node names of the text plan (alias and costs left out). */
  async function labels(sql: string, settings = ''): Promise<{ json: string[]; text: string[] }> {
    return withSession(url, async (s) => {
      await s.query('BEGIN');
      try {
        if (settings) await s.query(settings);
        const json = (await s.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`)).rows[0]![
          'QUERY PLAN'
        ][0].Plan;
        const text = (await s.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows
          .map((r) => r['QUERY PLAN'])
          .filter((line) => / {2}\(cost=/.test(line))
          .map((line) => line.replace(/ {2}\(cost=.*$/, '').replace(/^\s*(->\s+)?/, ''));
        return { json: walkPlan(json).map((v) => nodeLabel(v.node)), text };
      } finally {
        await s.query('ROLLBACK');
      }
    });
  }

  /** Each label is the text line, the relation's alias aside (`Seq Scan on nl_a a`). */
  function expectSameNames({ json, text }: { json: string[]; text: string[] }): void {
    expect(json).toHaveLength(text.length);
    json.forEach((label, i) => expect(text[i] === label || text[i]!.startsWith(`${label} `)).toBe(true));
  }

  it('names aggregates by strategy and partial mode, as EXPLAIN does', async () => {
    const grouped = await labels(
      'SELECT g, count(*) FROM nl_a GROUP BY g ORDER BY g',
      'SET LOCAL enable_hashagg = off',
    );
    expectSameNames(grouped);
    expect(grouped.json.join(' > ')).toMatch(/GroupAggregate/);
    const hashed = await labels(
      'SELECT g, count(*) FROM nl_a GROUP BY g',
      'SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL enable_sort = off',
    );
    expectSameNames(hashed);
    expect(hashed.json[0]).toBe('HashAggregate');
    const parallel = await labels(
      'SELECT count(*) FROM nl_a',
      'SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0',
    );
    expectSameNames(parallel);
    expect(parallel.json).toEqual(['Finalize Aggregate', 'Gather', 'Partial Aggregate', 'Parallel Seq Scan on nl_a']);
    const plain = await labels(
      'SELECT max(id) FROM nl_b',
      'SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off',
    );
    expectSameNames(plain);
    expect(plain.json[0]).toBe('Aggregate');
    expect(plain.json.join(' > ')).not.toMatch(/Plain|Sorted|Hashed/);
  });

  it('names joins by join type, index scans by direction, and writes by operation', async () => {
    const anti = await labels(
      'SELECT * FROM nl_b b WHERE NOT EXISTS (SELECT 1 FROM nl_a a WHERE a.id = b.a_id)',
      'SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off',
    );
    expectSameNames(anti);
    expect(anti.json[0]).toMatch(/^Hash (Right )?Anti Join$/);
    const left = await labels(
      'SELECT * FROM nl_b b LEFT JOIN nl_a a ON a.id = b.a_id WHERE b.id < 10',
      'SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off',
    );
    expectSameNames(left);
    expect(left.json[0]).toBe('Nested Loop Left Join');
    const backward = await labels('SELECT * FROM nl_a ORDER BY id DESC LIMIT 5');
    expectSameNames(backward);
    expect(backward.json[1]).toBe('Index Scan Backward using nl_a_pkey on nl_a');
    const update = await labels('UPDATE nl_b SET a_id = 0 WHERE id = 1');
    expectSameNames(update);
    expect(update.json[0]).toBe('Update on nl_b');
  });
});
