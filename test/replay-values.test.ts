/**
 * A statement's parameter values depend on the seed, its own text and its call numbers only: adding,
 * removing or reordering other statements, changing their weights, the connections or the threads
 * leaves them alone, so budgets and compare see the same rows for an unchanged statement.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/model/report.js';
import { runWorkload } from '../src/run/run.js';
import { loadScenario } from '../src/workload/load.js';
import { runCli } from './support/cli.js';
import { scratchDatabase, withSession } from './support/db.js';

/** The statement whose values are followed: every call logs its values (it sleeps 5 ms, so a short run has few calls). */
const LOGGED = [
  '  - name: logged',
  "    sql: INSERT INTO value_log (who, n, word, tag, k) SELECT 'a', $1, $2, $3, $4 FROM pg_sleep(0.005)",
  '    params:',
  '      - int: { min: 1, max: 1000000 }',
  '      - string: { length: 6 }',
  '      - pick: [red, green, blue, null]',
  '      - seq: { start: 100, step: 3 }',
];
/** Another statement, added, reordered, weighted. */
const other = (weight: number) => [
  '  - name: other',
  "    sql: INSERT INTO value_log (who, n) VALUES ('b', $1)",
  `    weight: ${weight}`,
  '    params:',
  '      - int: { min: 1, max: 1000000 }',
];

describe('parameter values of a statement', () => {
  let dir: string;
  let url: string;
  /** The logged statement's values, call by call, of a run of 250 calls on one connection. */
  let reference: string[];

  const scenario = (name: string, lines: readonly string[]): string => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, [...lines, ''].join('\n'));
    return file;
  };

  /** The logged statement's values in the log, in the order they were inserted, and empties the log. */
  const takeLogged = () =>
    withSession(url, async (s) => {
      const rows = await s.query<{ v: string }>(
        "SELECT concat_ws('|', n, word, coalesce(tag, 'null'), k) AS v FROM value_log WHERE who = 'a' ORDER BY id",
      );
      await s.query('TRUNCATE value_log');
      return rows.rows.map((r) => r.v);
    });

  const run = async (file: string) => {
    await runWorkload({ workload: loadScenario(file, {}), databaseUrl: url, allowWrites: true, seed: 7 });
    return takeLogged();
  };

  const sorted = (values: readonly string[]) => [...values].sort();

  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('replay_values'));
    await withSession(url, (s) =>
      s.query(`CREATE TABLE value_log (id bigserial PRIMARY KEY, who text NOT NULL, n int, word text, tag text, k bigint);
               CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL);
               INSERT INTO items SELECT g, g % 100 FROM generate_series(1, 20000) g;
               ANALYZE items;`),
    );
    reference = await run(
      scenario('alone', ['load: { connections: 1, repeat: 250, rounds: 1 }', 'statements:', ...LOGGED]),
    );
    expect(reference).toHaveLength(250);
    expect(new Set(reference).size).toBe(250);
  });

  it('are the same with another statement added, whatever the connections, rounds and load shape', async () => {
    const values = await run(
      scenario('added', ['load: { connections: 3, count: 480, rounds: 3 }', 'statements:', ...LOGGED, ...other(3)]),
    );
    // 480 calls by weight 1 : 3 give the logged statement 120.
    expect(sorted(values)).toEqual(sorted(reference.slice(0, 120)));
    expect(values.map((v) => Number(v.split('|')[3])).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 120 }, (_, j) => 100 + 3 * j),
    );
  });

  it('are the same with the statements reordered and weighted otherwise', async () => {
    const values = await run(
      scenario('reordered', [
        'load: { connections: 2, repeat: 40, rounds: 2 }',
        'statements:',
        ...other(0.5),
        ...LOGGED,
      ]),
    );
    expect(sorted(values)).toEqual(sorted(reference.slice(0, 40)));
  });

  it('are the first of the same values in a duration-bound run over two threads (built binary)', async () => {
    const file = scenario('threads', [
      'load: { connections: 4, threads: 2, duration: 300ms, rounds: 1 }',
      'statements:',
      ...other(1),
      ...LOGGED,
    ]);
    const out = join(dir, 'threads.json');
    const result = await runCli([
      'run',
      file,
      '--database-url',
      url,
      '--allow-writes',
      '--random-seed',
      '7',
      '--out',
      out,
      '-q',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const values = await takeLogged();
    // 4 connections sleeping 5 ms per call for 300 ms (and the round's grace): fewer than 250 calls.
    expect(values.length).toBeGreaterThan(0);
    expect(values.length).toBeLessThanOrEqual(reference.length);
    expect(sorted(values)).toEqual(sorted(reference.slice(0, values.length)));
    const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
    expect(report.queries.find((q) => q.source === 'logged')?.calls).toBe(values.length);
  });

  it('give an unchanged statement the same rows when another is added, so its rows budget still passes (built binary)', async () => {
    const bound = [
      '  - name: items up to a bound',
      '    sql: SELECT id FROM items WHERE id <= $1',
      '    params:',
      '      - int: { min: 1, max: 20000 }',
    ];
    const unrelated = [
      '  - name: an unrelated new statement',
      '    sql: SELECT qty FROM items WHERE id = $1',
      '    params:',
      '      - int: { min: 1, max: 20000 }',
    ];
    const load = 'load: { connections: 1, repeat: 3 }';
    const runs = {
      before: scenario('bound', [load, 'statements:', ...bound]),
      after: scenario('bound-added', [load, 'statements:', ...bound, ...unrelated]),
      reordered: scenario('bound-reordered', [
        'load: { connections: 4, threads: 2, repeat: 3 }',
        'statements:',
        ...unrelated,
        ...bound,
      ]),
    };
    const rows: Record<string, number | undefined> = {};
    for (const [name, file] of Object.entries(runs)) {
      const out = join(dir, `${name}.json`);
      const result = await runCli(['run', file, '--database-url', url, '--no-budget', '-q', '--out', out]);
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
      rows[name] = report.queries.find((q) => q.source === 'items up to a bound')?.rows;
    }
    expect(rows.before).toBeGreaterThan(0);
    expect(rows.after).toBe(rows.before);
    expect(rows.reordered).toBe(rows.before);

    const budget = join(dir, 'bound.budget.yaml');
    const init = await runCli(['budget', 'init', join(dir, 'before.json'), '--out', budget]);
    expect(init.code, init.stderr).toBe(0);
    expect(readFileSync(budget, 'utf8')).toMatch(/maxRowsPerCall: \d+/);
    // Only the rows are asserted: the plan is made for the values of the slowest call, which timing picks.
    const check = await runCli(['check', join(dir, 'after.json'), '--budget', budget]);
    expect(check.stdout + check.stderr).toMatch(/limit\(s\) within budget/);
    expect(check.stdout + check.stderr).not.toMatch(/FAIL \S*maxRowsPerCall/);
  });
});
