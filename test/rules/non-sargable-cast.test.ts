/**
 * A cast to date of an indexed timestamp column (`::date`, or `date()` called as a function), on a
 * real PostgreSQL: flagged whether the planner reads the table or walks the whole index (an Index
 * Only Scan whose Filter holds the cast, with no Index Cond), and the range the fix proposes keeps
 * the same rows and turns into an Index Cond. No index on date() of a timestamptz is proposed:
 * PostgreSQL refuses it (date(timestamptz) is STABLE).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCandidates } from '../../src/advise/candidates.js';
import { loadParser } from '../../src/analyze/parser.js';
import { walkPlan } from '../../src/analyze/plan.js';
import type { PlanNode } from '../../src/model/plan.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, withSession } from '../support/db.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-cast-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Wide rows make the index far smaller than the table: with the visibility map set (VACUUM), the
// planner counts through the index rather than the table.
const SCHEMA = `
CREATE TABLE reviews (
  id         bigint PRIMARY KEY,
  created_at timestamp NOT NULL,
  posted_at  timestamptz NOT NULL,
  body       text NOT NULL
);
INSERT INTO reviews
SELECT g, timestamp '2024-03-01' + g * interval '1 minute', timestamptz '2024-03-01 00:00Z' + g * interval '1 minute',
       repeat('review text ', 20)
  FROM generate_series(1, 100000) AS g;
CREATE INDEX reviews_created_at_idx ON reviews (created_at);
CREATE INDEX reviews_posted_at_idx ON reviews (posted_at);
`;

const WORKLOAD = `
SELECT count(*) FROM reviews WHERE created_at::date = '2024-05-05';

SELECT count(*) FROM reviews WHERE posted_at::date = '2024-04-04';

-- date() runs the same function as the cast: pg_stat_statements would count these statements as the
-- ones above (the same queryid) if they differed only there.
SELECT count(id) FROM reviews WHERE date(posted_at) = '2024-04-05'::date;

SELECT count(id) FROM reviews WHERE date(created_at) = '2024-05-06';
`;

/** The SQL after "a range instead: " in a fix, without the note in parentheses. */
function rangeOf(suggestion: string | undefined): string {
  const match = /a range instead: (.*?< '[0-9-]+'::date \+ 1)/.exec(suggestion ?? '');
  if (!match) throw new Error(`no range in: ${suggestion}`);
  return match[1]!;
}

function nodesOf(plan: unknown): PlanNode[] {
  const [root] = plan as [{ Plan: PlanNode }];
  return walkPlan(root.Plan).map((v) => v.node);
}

describe('non-sargable-predicate: a cast to date of an indexed timestamp', () => {
  let url: string;
  let report: Report;
  const find = (text: string) => report.queries.find((q) => q.query.includes(text))!;

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('cast_date');
    await withSession(url, async (s) => {
      // Serial plans, so that the one the test is about does not depend on the workers available.
      await s.query(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET max_parallel_workers_per_gather = 0`);
      await s.query(SCHEMA);
      await s.query('VACUUM (FREEZE, ANALYZE) reviews');
      // The first VACUUM right after the load leaves the visibility map unset here; the second sets
      // it, and only then is an Index Only Scan cheaper than the table.
      await s.query('VACUUM reviews');
    });
    writeFileSync(join(dir, 'workload.sql'), WORKLOAD);
    const workload = loadSqlWorkload(join(dir, 'workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
    report = await runWorkload({ workload, databaseUrl: url });
  });

  it('flags the cast when the planner walks the whole index with it as a Filter, and proposes a range', () => {
    const query = find('created_at::date');
    const walk = walkPlan(query.plan!.root)
      .map((v) => v.node)
      .find((n) => n['Relation Name'] === 'reviews')!;
    expect(walk['Node Type']).toBe('Index Only Scan');
    expect(walk['Index Cond']).toBeUndefined();
    expect(walk.Filter).toContain('(created_at)::date');
    const finding = query.findings.find((f) => f.rule === 'non-sargable-predicate');
    expect(finding).toMatchObject({ messageId: 'cast', severity: 'error', relation: 'public.reviews' });
    expect(finding!.message).toContain('Index Only Scan using reviews_created_at_idx');
    // The rewrite needs no new index; index advice, unvalidated here, must not replace it.
    expect(finding!.suggestion).toContain(
      "compare the bare column with a range instead: created_at >= '2024-05-05'::date AND created_at < '2024-05-05'::date + 1",
    );
  });

  it('states the time zone the range of a timestamptz relies on', () => {
    const finding = find('posted_at::date').findings.find((f) => f.rule === 'non-sargable-predicate');
    expect(finding?.suggestion).toContain(
      "posted_at >= '2024-04-04'::date AND posted_at < '2024-04-04'::date + 1 (both use the session TimeZone, as the cast did)",
    );
  });

  it('rewrites date() of a timestamptz as the same range, and proposes no index PostgreSQL would refuse', () => {
    const finding = find('date(posted_at)').findings.find((f) => f.rule === 'non-sargable-predicate');
    expect(finding).toMatchObject({ messageId: 'function', severity: 'error' });
    // The rewrite first, then why no expression index is the alternative, from the catalog.
    expect(finding?.suggestion).toBe(
      "compare the bare column with a range instead: posted_at >= '2024-04-05'::date AND posted_at < '2024-04-05'::date + 1 " +
        '(both use the session TimeZone, as date() did); no index can hold date(posted_at): date(timestamp with time zone) is STABLE, ' +
        'not IMMUTABLE (its result may depend on settings such as TimeZone), and an index needs IMMUTABLE functions',
    );
    expect(finding?.suggestion).not.toMatch(/CREATE INDEX/);
    expect(find('posted_at::date').findings[0]?.suggestion).toMatch(
      /as the cast did\); no index can hold posted_at::date: date\(timestamp with time zone\) is STABLE/,
    );
  });

  it('gives index advice no candidate on an expression the catalog says PostgreSQL cannot index', () => {
    const keysOf = (text: string) => {
      const query = find(text);
      const finding = query.findings.find((f) => f.rule === 'non-sargable-predicate')!;
      return generateCandidates(query, finding, report, { trigram: false }).flatMap((c) => c.keys);
    };
    expect(report.relations.find((r) => r.name === 'public.reviews')?.indexableExpressions).toMatchObject({
      'date(posted_at)': false,
      'date(created_at)': true,
    });
    expect(keysOf('date(posted_at)')).not.toContain('(date(posted_at))');
    expect(keysOf('date(created_at)')).toContain('(date(created_at))');
  });

  it('rewrites date() of a timestamp as a range too, the rewrite first; an index on date() of it can be built', () => {
    const finding = find('date(created_at)').findings.find((f) => f.rule === 'non-sargable-predicate');
    // date(timestamp) is IMMUTABLE: index advice (not validated here) may offer the expression index after it.
    expect(finding?.suggestion).toBe(
      "compare the bare column with a range instead: created_at >= '2024-05-06'::date AND created_at < '2024-05-06'::date + 1" +
        ' -- or: CREATE INDEX CONCURRENTLY reviews_date_created_at_idx ON public.reviews ((date(created_at))); -- not validated on the planner',
    );
  });

  it('keeps the same rows with the range, in any session TimeZone, and the range is an Index Cond', async () => {
    const cases = [
      { column: 'created_at', day: '2024-05-05', suggestion: find('created_at::date').findings[0]?.suggestion },
      { column: 'posted_at', day: '2024-04-04', suggestion: find('posted_at::date').findings[0]?.suggestion },
      { column: 'posted_at', day: '2024-04-05', suggestion: find('date(posted_at)').findings[0]?.suggestion },
      { column: 'created_at', day: '2024-05-06', suggestion: find('date(created_at)').findings[0]?.suggestion },
    ];
    await withSession(url, async (s) => {
      for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
        await s.query(`SET TimeZone = '${zone}'`);
        for (const c of cases) {
          const range = rangeOf(c.suggestion);
          const cast = await s.query<{ id: string }>(
            `SELECT id FROM reviews WHERE ${c.column}::date = '${c.day}' ORDER BY id`,
          );
          const ranged = await s.query<{ id: string }>(`SELECT id FROM reviews WHERE ${range} ORDER BY id`);
          expect(cast.rows.length).toBeGreaterThan(1000);
          expect(ranged.rows).toEqual(cast.rows);
          const { rows } = await s.query<{ 'QUERY PLAN': unknown }>(
            `EXPLAIN (FORMAT JSON) SELECT count(*) FROM reviews WHERE ${range}`,
          );
          const scan = nodesOf(rows[0]!['QUERY PLAN']).find((n) => n['Relation Name'] === 'reviews')!;
          expect(scan['Index Name']).toBe(`reviews_${c.column}_idx`);
          expect(scan['Index Cond']).toContain(c.column);
          expect(scan.Filter).toBeUndefined();
        }
      }
    });
  });
});

describe('a cast to date of a timestamp column with a BRIN index', () => {
  // Readings in time order, indexed by BRIN alone: a range on ts uses it, the cast to date cannot.
  const BRIN_SCHEMA = `
CREATE TABLE readings (id bigint NOT NULL, ts timestamptz NOT NULL, value float8 NOT NULL);
INSERT INTO readings
SELECT g, timestamptz '2025-01-01 00:00Z' + g * interval '10 seconds', g % 97 FROM generate_series(1, 200000) AS g;
CREATE INDEX readings_ts_brin ON readings USING brin (ts);
`;
  let url: string;
  let suggestion: string | undefined;

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('cast_brin');
    await withSession(url, async (s) => {
      await s.query(BRIN_SCHEMA);
      await s.query('VACUUM ANALYZE readings');
    });
    writeFileSync(
      join(dir, 'brin.sql'),
      "SELECT count(*), avg(value) FROM readings WHERE ts::date = '2025-01-10'::date;",
    );
    const workload = loadSqlWorkload(join(dir, 'brin.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
    const report = await runWorkload({ workload, databaseUrl: url });
    const finding = report.queries[0]?.findings.find((f) => f.rule === 'seq-scan-large-table');
    expect(finding, JSON.stringify(report.queries[0]?.findings)).toBeDefined();
    suggestion = finding!.suggestion;
  });

  it('proposes the range alone, on the value as it is already cast, without indexing the column again', () => {
    // After the range, only why no index can hold the cast (ts::date of a timestamptz is STABLE).
    expect(suggestion).toBe(
      "compare the bare column with a range instead: ts >= '2025-01-10'::date AND ts < '2025-01-10'::date + 1 (both use the session TimeZone, as the cast did)" +
        '; no index can hold ts::date: date(timestamp with time zone) is STABLE, not IMMUTABLE (its result may depend on settings such as TimeZone), and an index needs IMMUTABLE functions',
    );
  });

  it('the range keeps the same rows and is served by the BRIN index', async () => {
    const range = rangeOf(suggestion);
    await withSession(url, async (s) => {
      const cast = await s.query<{ id: string }>(
        "SELECT id FROM readings WHERE ts::date = '2025-01-10'::date ORDER BY id",
      );
      const ranged = await s.query<{ id: string }>(`SELECT id FROM readings WHERE ${range} ORDER BY id`);
      expect(cast.rows.length).toBe(8640);
      expect(ranged.rows).toEqual(cast.rows);
      const { rows } = await s.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (FORMAT JSON) SELECT count(*) FROM readings WHERE ${range}`,
      );
      const index = nodesOf(rows[0]!['QUERY PLAN']).find((n) => n['Index Name'] !== undefined);
      expect(index?.['Index Name']).toBe('readings_ts_brin');
    });
  });
});
