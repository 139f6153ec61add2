/**
 * Deep pages behind an application, on a real PostgreSQL: the application pages with
 * `LIMIT $1 OFFSET $2`, so querygate never sees an offset, only what each statement read
 * (pg_stat_statements). A listing paged 20,000 rows deep and the first pages of a tenant run through
 * the whole pipeline (replay, capture, generic plans, rules): the deep pages get a deep-offset finding
 * that quotes the measured figures, the first pages none.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { runHttpWorkload } from '../../src/workload/http/phases.js';
import { loadHttpScenario } from '../../src/workload/http/scenario.js';
import { createTestDatabase } from '../support/db.js';

const SCENARIO = fileURLToPath(new URL('../../fixtures/plans/deep-offset/pages.yaml', import.meta.url));

describe('deep-offset on an HTTP run, whose offsets are parameters querygate does not see', () => {
  let report: Report;
  const statement = (text: string) => report.queries.find((q) => q.query === text)!;

  beforeAll(async () => {
    await loadParser();
    const scenario = loadHttpScenario(SCENARIO);
    const workload = {
      ...scenario,
      routes: scenario.routes.filter((r) => r.name === 'deep pages' || r.name === 'first pages of a tenant'),
      load: { ...scenario.load, shape: { kind: 'requests' as const, requests: 8 } },
    };
    report = await runHttpWorkload({
      workload,
      databaseUrl: await createTestDatabase('deep_offset_http'),
      setup: true,
    });
  });

  it('reports the deep pages from the blocks each call read, with the keyset fix', () => {
    const deep = statement('SELECT id, title FROM posts ORDER BY created_at LIMIT $1 OFFSET $2');
    // No parameter values: a generic plan, and nothing to compute the offset from.
    expect(deep.plan?.mode).toBe('generic');
    expect(deep.paramMax).toBeUndefined();
    const findings = deep.findings.filter((f) => f.rule === 'deep-offset');
    expect(findings.map((f) => [f.messageId, f.severity])).toEqual([['measured', 'warning']]);
    const [finding] = findings;
    expect(finding!.evidence).toMatchObject({ rowsPerCall: 20, calls: 8 });
    expect(Number(finding!.evidence.blocksPerCall)).toBeGreaterThan(10_000);
    expect(Number(finding!.evidence.discardedBlocks)).toBeGreaterThan(10_000);
    expect(finding!.message).toMatch(/^OFFSET \$2 \(its values are not known\): a call reads [\d,]+ shared blocks/);
    expect(finding!.suggestion).toMatch(
      /^use keyset pagination instead of OFFSET: WHERE \(created_at, id\) > \(\$last1, \$last2\) ORDER BY created_at, id /,
    );
  });

  it('leaves the first pages alone: their offset is a parameter too, but a call reads a page', () => {
    const first = statement('SELECT id, title FROM posts WHERE tenant_id = $1 ORDER BY created_at LIMIT $2 OFFSET $3');
    expect(first.sharedBlksPerCall).toBeLessThan(200);
    expect(first.findings.filter((f) => f.rule === 'deep-offset')).toEqual([]);
  });
});

describe('index advice for pages whose offsets querygate does not see', () => {
  // Pages by title: no index on title, so every call sorts the whole table, at any offset. An index
  // on title serves the ORDER BY, and the generic plan, which takes the unknown OFFSET as 10% of the
  // rows, finds it far cheaper; a deep page would walk it through every row it skips.
  const TITLES = 'SELECT id, title FROM posts ORDER BY title LIMIT $1 OFFSET $2';
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    const scenario = loadHttpScenario(SCENARIO);
    const workload = {
      ...scenario,
      routes: scenario.routes.filter((r) => r.name === 'pages by title'),
      load: { ...scenario.load, shape: { kind: 'requests' as const, requests: 4 } },
    };
    report = await runHttpWorkload({
      workload,
      databaseUrl: await createTestDatabase('deep_offset_advice'),
      setup: true,
      allowIndexBuild: true,
    });
  });

  it('puts the keyset rewrite first, and does not claim the index that serves the ORDER BY helps', () => {
    const query = report.queries.find((q) => q.query === TITLES)!;
    expect(query.plan?.mode).toBe('generic');
    const scan = query.findings.find((f) => f.rule === 'seq-scan-large-table');
    expect(scan, JSON.stringify(query.findings)).toBeDefined();
    expect(scan!.advice).toBeUndefined();
    const [keyset, index, ...rest] = scan!.suggestion!.split(' -- or: ');
    expect(keyset).toBe(
      'use keyset pagination instead of OFFSET: WHERE (title, id) > ($last1, $last2) ORDER BY title, id LIMIT n, with an index on (title, id) (id, the primary key of public.posts, ends the ORDER BY, so that no row is skipped or repeated between pages)',
    );
    expect(index).toMatch(
      /^CREATE INDEX CONCURRENTLY posts_title_idx ON public\.posts \(title\); -- not validated for this OFFSET, whose values are not known: the generic plan takes it as 10% of the rows \(plan cost \d+ -> \d+ with the index\), and every call walks the index through the rows it skips/,
    );
    expect(rest).toEqual([]);
    // --analyze cannot execute a statement whose values are unknown: the advice says what can.
    expect(index).toMatch(
      / measure deep pages with EXPLAIN \(ANALYZE, BUFFERS\) and real values, or in a SQL scenario with a generator for each \$n and --analyze \(--analyze cannot run it as captured: its parameter values are unknown: .*\) before relying on it$/,
    );
  });
});
