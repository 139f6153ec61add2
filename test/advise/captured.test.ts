import { beforeAll, describe, expect, it } from 'vitest';
import { adviseDetails } from '../../src/advise/advise.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { openSession } from '../../src/target/pg.js';
import { captureClientCalls } from '../support/capture.js';
import { createTestDatabase, withSession } from '../support/db.js';

// Statements as an application sends them: parameters, and typed literals (`date '...'`) that
// pg_stat_statements normalizes to `date $3`, a text the server refuses to plan as it is. Their
// plans are generic. Tasks of org 1 are 60% of the table; comments have no index on task_id.
const SCHEMA = `
CREATE SCHEMA pm;
CREATE TABLE pm.tasks (id bigint PRIMARY KEY, org_id int NOT NULL, status text NOT NULL, due_date date NOT NULL, title text NOT NULL);
CREATE INDEX tasks_org_idx ON pm.tasks (org_id);
CREATE TABLE pm.comments (id bigint PRIMARY KEY, task_id bigint NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO pm.tasks
SELECT g, CASE WHEN g % 10 < 6 THEN 1 ELSE 2 + g % 2000 END, (ARRAY['todo', 'doing', 'done', 'done'])[1 + g % 4],
       date '2026-01-01' + g % 400, 'task ' || g
  FROM generate_series(1, 200000) AS g;
INSERT INTO pm.comments
SELECT g, 1 + (g * 7) % 200000, 'a comment on the task, number ' || g, timestamptz '2025-06-01' + g * interval '1 minute'
  FROM generate_series(1, 400000) AS g;
ANALYZE;
`;
const OVERDUE = `SELECT count(*) AS n FROM pm.tasks WHERE org_id = $1 AND status <> 'done' AND due_date < date '2026-06-01'`;
const RECENT = `SELECT count(*) AS n FROM pm.comments c JOIN pm.tasks t ON t.id = c.task_id WHERE t.org_id = $1 AND c.created_at > timestamptz '2025-12-01'`;

const statementOf = (report: Report, needle: string) => report.queries.find((q) => q.query.includes(needle))!;

describe('index advice for statements captured from pg_stat_statements (HTTP replay, capture)', () => {
  let url: string;
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('advise_captured');
    await withSession(url, (session) => session.query(SCHEMA));
    report = await captureClientCalls(
      url,
      Array.from(
        { length: 3 },
        () =>
          [
            [OVERDUE, [1]],
            [RECENT, [17]],
          ] as const,
      ).flat(),
      { allowIndexBuild: true },
    );
  });

  it('explains them as the capture did, with typed parameters made casts, and validates their candidates', () => {
    const overdue = statementOf(report, 'due_date < date $');
    const recent = statementOf(report, 'c.created_at > timestamptz $');
    expect(overdue.plan?.mode).toBe('generic');
    expect(recent.plan?.mode).toBe('generic');
    expect(report.warnings.join('\n')).not.toContain('not validated');
    // The index scan's filter: the index on the filter's columns, validated; never the index the
    // scan already walks.
    const tasks = overdue.findings.find((f) => f.rule === 'index-scan-filter')!;
    expect(tasks.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY tasks_org_id_due_date_idx ON pm.tasks (org_id, due_date);',
    );
    expect(tasks.suggestion).not.toMatch(/\(org_id\);/);
    // The join: an index on the join key of the side the hash join probes, chosen by plan cost over
    // one on the filter's column.
    const comments = recent.findings.find((f) => f.relation === 'pm.comments')!;
    expect(comments.advice?.sql).toBe('CREATE INDEX CONCURRENTLY comments_task_id_idx ON pm.comments (task_id);');
    expect(comments.advice!.method).toBe('rollback-build');
    expect(comments.advice!.costAfter).toBeLessThan(comments.advice!.costBefore / 2);
  });

  /** The report as the rules left it: the rule's own index proposals, no advice. */
  const unadvised = (edit: (query: Report['queries'][number]) => Report['queries'][number] = (q) => q): Report => ({
    ...report,
    warnings: [],
    queries: report.queries.map((q) =>
      edit({
        ...q,
        findings: q.findings.map(({ advice: _advice, ...f }) => ({
          ...f,
          suggestion: `CREATE INDEX ON ${f.relation} (created_at); -- not validated on the planner`,
        })),
      }),
    ),
  });

  it('judges every candidate of the join, the join key among them, and keeps the cheapest plan', async () => {
    const session = await openSession(url);
    let details: Awaited<ReturnType<typeof adviseDetails>>;
    try {
      details = await adviseDetails(session, unadvised(), { allowIndexBuild: true });
    } finally {
      await session.close();
    }
    const recent = statementOf(details.report, 'c.created_at > timestamptz $');
    const results = details.findings.find((f) => f.fingerprint === recent.fingerprint)!.results;
    const byKeys = (keys: string) => results.find((r) => r.candidate.keys.join(', ') === keys)!;
    expect(byKeys('task_id').costAfter).toBeLessThan(byKeys('created_at').costAfter!);
    expect(recent.findings[0]!.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY comments_task_id_idx ON pm.comments (task_id);',
    );
  });

  it('a statement that cannot be explained for advice: the first candidate, unvalidated, and a warning saying why', async () => {
    const broken = unadvised((q) =>
      q.query.includes('c.created_at') ? { ...q, query: `${q.query} AND c.no_such_column = $3` } : q,
    );
    const session = await openSession(url);
    let advised: Report;
    try {
      ({ report: advised } = await adviseDetails(session, broken, { allowIndexBuild: true }));
    } finally {
      await session.close();
    }
    const recent = statementOf(advised, 'no_such_column');
    expect(recent.findings[0]!.suggestion).toBe(
      'CREATE INDEX CONCURRENTLY comments_task_id_idx ON pm.comments (task_id); -- not validated on the planner',
    );
    expect(advised.warnings).toEqual([
      `index advice for 1 finding(s) is not validated: 1 statement(s) could not be explained for it (${recent.fingerprint}: EXPLAIN failed: column c.no_such_column does not exist)`,
    ]);
    // The other statement is validated as before.
    expect(statementOf(advised, 'due_date < date $').findings[0]!.advice?.method).toBe('rollback-build');
  });
});
