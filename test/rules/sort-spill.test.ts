import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import rule from '../../src/rules/sort-spill.js';
import { loadFixture, ruleCases, runRule } from './harness.js';

// fixtures/plans/sort-spill/tenants.json: an HTTP run, its statement named by its text.
const TENANTS =
  'SELECT t.id, t.title, t.due_date, p.name AS project FROM pm.tasks t JOIN pm.projects p ON p.id = t.project_id WHERE t.org_id = $1 AND t.status <> $2 ORDER BY t.due_date';

ruleCases(rule, [
  // With EXPLAIN ANALYZE the plan shows the external merge.
  {
    fixture: 'sort.analyze',
    statement: 'bad: window over a sort of the whole table',
    expect: [{ messageId: 'plan', severity: 'warning' }],
    // The fixture's database runs at work_mem 64kB: the fix names it and goes above it.
    suggestion: /^SET LOCAL work_mem = '(\d+MB|(128|256|512)kB)' for this statement \(it spilled at work_mem 64kB\)/,
  },
  { fixture: 'sort.analyze', statement: 'ok: top-N sort fits in memory', expect: [] },
  { fixture: 'sort.analyze', statement: 'ok: index order, no sort', expect: [] },
  // Without it, temp blocks in pg_stat_statements point at the plan's largest sort.
  {
    fixture: 'sort',
    statement: 'bad: window over a sort of the whole table',
    expect: [{ messageId: 'statistics', severity: 'warning' }],
    suggestion: /it spilled at work_mem 64kB/,
  },
  // A generic plan (an HTTP run): the sort's input is sized for a typical organization, a few kB, the
  // hash of every project is larger; but the hash's size is known and fits in memory, while the sort's
  // rows depend on the parameter the application sent (organization 1, 30,000 rows).
  {
    fixture: 'tenants',
    statement: TENANTS,
    expect: [{ messageId: 'statistics', severity: 'warning' }],
    message:
      /^the statement wrote \d+ temp blocks \([\d,]+ kB\) per call; the sort on t\.due_date is the likely spill: its input depends on the parameter values, which the generic plan sizes for a typical one \(an estimated \d+ kB\); the hash of projects, of a known size, fits in memory \(run with EXPLAIN \(ANALYZE, BUFFERS\) and real values, or in a SQL scenario with a generator for each \$n and --analyze \(--analyze cannot run it as captured: its parameter values are unknown: pg_stat_statements keeps the statement with \$n in place of its literals and parameters\) to confirm\)$/,
    suggestion: /it spilled at work_mem 1MB\), sort fewer rows/,
  },
  { fixture: 'sort', statement: 'ok: top-N sort fits in memory', expect: [] },
  { fixture: 'sort', statement: 'ok: index order, no sort', expect: [] },
  {
    fixture: 'sort.analyze',
    statement: 'bad: window over a sort of the whole table',
    options: { minDiskKb: 100_000 },
    expect: [],
  },
  // A sort on an expression: an index in its order is named only when PostgreSQL can build it
  // (the report says so per relation, checked on the server when the plans were captured).
  ...(['keys', 'keys.analyze'] as const).flatMap((fixture) => [
    {
      fixture,
      statement: 'bad: grouped by month of a timestamptz, an order no index can give',
      expect: [{ messageId: fixture === 'keys' ? 'statistics' : 'plan', severity: 'warning' as const }],
      // Why, as the catalog says (the function resolved for the column's type, and its volatility).
      suggestion:
        /^SET LOCAL work_mem = '[^']+' for this statement \(it spilled at work_mem 64kB\), sort fewer rows \(filter or LIMIT first\); no index can give this order: PostgreSQL cannot index date_trunc\('month'::text, paid_at\): date_trunc\(text,timestamp with time zone\) is STABLE, not IMMUTABLE \(its result may depend on settings such as TimeZone\), and an index needs IMMUTABLE functions$/,
    },
    {
      fixture,
      statement: "bad: ranked by a sum, an aggregate's order no index can give",
      expect: [{ messageId: fixture === 'keys' ? 'statistics' : 'plan', severity: 'warning' as const }],
      // An aggregate is not a function that could be IMMUTABLE: its value comes from many rows.
      suggestion:
        /; no index can give this order: PostgreSQL cannot index sum\(amount\), an aggregate's result \(sum\(numeric\)\): it is computed over many rows, and an index entry from one row$/,
    },
    {
      fixture,
      statement: 'bad: grouped by month of a timestamp, an order an index on the expression gives',
      expect: [{ messageId: fixture === 'keys' ? 'statistics' : 'plan', severity: 'warning' as const }],
      suggestion:
        /, or an index in the order of \(date_trunc\('month'::text, paid_local\)\) so that no sort is needed$/,
    },
  ]),
]);

describe('sort-spill: an expression the report did not check', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('names the index with the condition that its functions be IMMUTABLE', () => {
    const fixture = loadFixture(rule.id, 'keys');
    const report: Report = {
      ...fixture.report,
      relations: fixture.report.relations.map(({ indexableExpressions: _checked, ...r }) => r),
    };
    const query = runRule(rule, { ...fixture, report }).queries.find(
      (q) => q.source === 'bad: grouped by month of a timestamptz, an order no index can give',
    )!;
    expect(query.findings[0]!.suggestion).toMatch(
      /, or an index in the order of \(date_trunc\('month'::text, paid_at\)\) so that no sort is needed \(an index on an expression needs IMMUTABLE functions\)$/,
    );
  });
});

describe('sort-spill: a plan that --analyze could not analyze', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('says why instead of asking for --analyze again', () => {
    const fixture = loadFixture(rule.id, 'sort');
    const name = 'bad: window over a sort of the whole table';
    const asked = runRule(rule, fixture).queries.find((q) => q.source === name)!;
    expect(asked.findings[0]!.message).toMatch(/is the likely spill: .* \(run with --analyze to confirm\)$/);
    const report: Report = {
      ...fixture.report,
      queries: fixture.report.queries.map((q) =>
        q.plan ? { ...q, plan: { ...q.plan, notAnalyzed: 'its parameter values are unknown' } } : q,
      ),
    };
    const query = runRule(rule, { ...fixture, report }).queries.find((q) => q.source === name)!;
    expect(query.findings[0]!.message).toMatch(
      /is the likely spill: .* \(run with EXPLAIN \(ANALYZE, BUFFERS\) and real values \(--analyze could not run it: its parameter values are unknown\) to confirm\)$/,
    );
  });
});
