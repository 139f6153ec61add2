/**
 * compare on real runs, for changes that plan cost and shared blocks do not show (a sort that starts
 * spilling to disk), and for statements rewritten in a branch (a new fingerprint replacing a removed
 * statement).
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
async function run(
  url: string,
  statements: readonly string[],
  options: { allowIndexBuild?: boolean } = {},
): Promise<Report> {
  const file = join(dir, 'workload.sql');
  writeFileSync(file, `${statements.join('\n')}\n`);
  const workload = loadSqlWorkload(file, {}, { repeat: 4, connections: 1, rounds: 1 });
  return runWorkload({ ...options, workload, databaseUrl: url });
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

describe('compare on real runs: rewritten statements', () => {
  // Each of the first three statements rewritten in place: a new fingerprint on the same line of the
  // workload, on the same relation, replacing the removed one. The lookup stays as it was.
  const lookup = 'SELECT payload FROM events WHERE id = 42;';
  const before = [
    'SELECT id, payload FROM events ORDER BY id;',
    'SELECT id FROM events WHERE category = 7;',
    "SELECT id, payload FROM events WHERE code = 'c123';",
    lookup,
  ];
  const after = [
    'SELECT id, payload FROM events ORDER BY payload;',
    'SELECT id, code FROM events WHERE category = 7;',
    "SELECT id, payload FROM events WHERE lower(code) = 'c123';",
    lookup,
  ];
  let c: ReturnType<typeof compareReports>;
  let base: Report;
  let head: Report;
  beforeAll(async () => {
    const url = await eventsDatabase('rewrites', '1MB');
    base = await run(url, before, { allowIndexBuild: true });
    head = await run(url, after, { allowIndexBuild: true });
    c = compareReports(base, head);
  });
  const added = (text: string) => c.added.find((a) => a.query.includes(text))!;

  it('judges each rewrite against the statement it replaces, on the same line of the workload', () => {
    expect(c.counts).toMatchObject({ matched: 1, added: 3, removed: 3 });
    for (const [i, text] of ['ORDER BY payload', 'SELECT id, code', 'lower(code)'].entries()) {
      expect(added(text).replaces).toMatchObject({ source: `workload.sql:${i + 1}` });
      expect(c.removed.find((r) => r.source === `workload.sql:${i + 1}`)!.replacedBy).toBe(added(text).fingerprint);
    }
  });

  it('counts only the findings the removed statement did not have', () => {
    // Both scan the whole table for one category in fifty: the error was there before the rewrite.
    const category = added('SELECT id, code');
    expect(category.findings.map((f) => `${f.severity} ${f.rule}`)).toContain('error seq-scan-large-table');
    expect(category.regressions).toEqual([]);
    expect(category.replaces?.newFindings).toEqual([]);
    // A rewrite that wraps the indexed column: a new error, with the scan downgrade it causes.
    const login = added('lower(code)');
    expect(login.replaces!.newFindings.map((f) => f.rule)).toContain('non-sargable-predicate');
    expect(login.regressions.map((r) => r.messageId)).toEqual(
      expect.arrayContaining(['plan-cost-up', 'blocks-per-call-up', 'scan-downgrade', 'new-finding']),
    );
    // A sort that spills where the rewritten statement read the index in order.
    expect(added('ORDER BY payload').regressions.map((r) => r.messageId)).toContain('temp-blocks-per-call-up');
    expect(c.counts.regressions).toBe(2);
  });

  it('leads the statements table with the rewrites that regressed, with their plan diff and fix', () => {
    const md = renderComparisonMarkdown(c);
    const rows = md.split('\n').filter((l) => l.startsWith('| **regression** (new) |'));
    expect(rows).toHaveLength(2);
    // Right under the header.
    expect(md.split('\n').filter((l) => l.startsWith('| '))[1]).toBe(rows[0]);
    expect(md).toMatch(
      /^\| \*\*regression\*\* \(new\) \| `SELECT id, payload FROM events WHERE lower\(code\) = \$1` replacing `SELECT id, payload FROM events WHERE code = \$1` \| [\d.]+ → [\d.]+ /m,
    );
    expect(md).toContain('<details><summary>Plan diff (- removed statement, + new statement)</summary>');
    expect(md).toMatch(/^- Index Scan using events_code_key on events\n\+ Seq Scan on events$/m);
    expect(md).toMatch(
      /^- fix \(non-sargable-predicate, plan cost [\d.]+ → [\d.]+, validated with rollback-build\): `CREATE INDEX CONCURRENTLY \w+ ON public\.events \(\(lower\(code\)\)\);`$/m,
    );
    expect(md).toMatch(/^- fix \(sort-spill\): SET LOCAL work_mem = '\w+' for this statement/m);

    const text = renderComparisonTable(c, { width: 200, all: true });
    const verdicts = text.split('\n').flatMap((l) => /^│ (\S+)/.exec(l)?.[1] ?? []);
    expect(verdicts).toEqual(['verdict', 'regression', '(new)', 'regression', '(new)', 'unchanged']);
    expect(text).toContain('replaces: SELECT id, payload FROM events WHERE code = $1');
    expect(text).toContain('plan diff (- removed statement, + new statement):');
    expect(text).toMatch(/^ {4}fix \(non-sargable-predicate\): CREATE INDEX CONCURRENTLY \w+ ON public\.events/m);
    expect(text).toMatch(/^ {2}SELECT id FROM events WHERE category = \$1 .*\(replaced by a new statement\)$/m);
  });

  it('reports a rewrite that cut the work as an improvement, judged against the statement it replaces', () => {
    // The other way: the indexed column unwrapped again, the sort back on the index's order.
    const back = compareReports(head, base);
    expect(back.verdict).toBe('ok');
    const unwrapped = back.added.find((a) => a.query.includes('WHERE code = $1'))!;
    expect(unwrapped.replaces?.query).toContain('lower(code)');
    expect(unwrapped.regressions).toEqual([]);
    expect(unwrapped.improvements?.map((r) => r.messageId)).toEqual(
      expect.arrayContaining(['plan-cost-down', 'blocks-per-call-down', 'scan-upgrade', 'resolved-finding']),
    );
    expect(unwrapped.improvements?.find((r) => r.messageId === 'plan-cost-down')?.message).toContain(
      'against the removed statement it replaces',
    );
    const improvedRewrites = back.added.filter((a) => a.improvements);
    expect(back.counts.improvements).toBe(
      back.statements.filter((s) => s.verdict === 'improvement').length + improvedRewrites.length,
    );

    const text = renderComparisonTable(back, { width: 200 });
    expect(text).toMatch(/^│ improvement .*│ SELECT id, payload FROM events WHERE code = \$1/m);
    expect(text).toMatch(/^Improvements:\n(?:.*\n)*? {2}new: SELECT id, payload FROM events WHERE code = \$1/m);
    // Listed once: among the improvements, not again among the new statements.
    expect(text).not.toMatch(
      /^New statements[^\n]*\n(?: {2}.*\n)* {2}SELECT id, payload FROM events WHERE code = \$1/m,
    );
    const md = renderComparisonMarkdown(back);
    expect(md).toMatch(
      /^- `SELECT id, payload FROM events WHERE code = \$1` \(new; replaces `SELECT id, payload FROM events WHERE lower\(code\) = \$1`\): plan cost/m,
    );
  });
});
