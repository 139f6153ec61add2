/**
 * Two real HTTP runs of a social application (fixtures/http-runs): head adds an N+1 loop behind both
 * feed routes and lost the index behind "follower count". What the comparison says about the new
 * statement's calls per request, its fix, and the routes that run the statements that regressed.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/compare/compare.js';
import { resolveCompareThresholds } from '../../src/compare/thresholds.js';
import type { Report } from '../../src/model/report.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { renderComparisonTable, rowCells, statementRows } from '../../src/report/comparison-table.js';

const load = (name: string) =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`./fixtures/http-runs/${name}.json`, import.meta.url)), 'utf8'),
  ) as Report;

const base = load('social-base');
const head = load('social-head');
const c = compareReports(base, head);
const route = (name: string) => c.routes.find((r) => r.route === name)!;

const LOOKUP = '4d4d0d2ee68c29cd'; // SELECT username FROM users WHERE id = $1, new, in a loop on both feeds
const FOLLOWERS = '8f2f5eeb3d90486e'; // SELECT count(*) ... FROM follows WHERE followee_id = $1, index dropped
const KEYSET = 'home feed (keyset)';
const OFFSET = 'home feed (offset)';

describe('a new statement run in a loop on two routes', () => {
  const added = c.added.find((a) => a.fingerprint === LOOKUP)!;

  it('has its calls per request on each route, from 0, in the model and in the statements table', () => {
    expect(added.callsPerRequest).toEqual([
      { route: KEYSET, base: 0, head: 18.273 },
      { route: OFFSET, base: 0, head: 12.069 },
    ]);
    const row = statementRows(c).find((r) => r.statement.fingerprint === LOOKUP)!;
    expect(rowCells(row).calls).toBe('home feed (keyset) 0 → 18.3; home feed (offset) 0 → 12.1');
    expect(renderComparisonMarkdown(c)).toMatch(
      /^\| \*\*regression\*\* \(new\) \| `SELECT username FROM users WHERE id = \$1` \| .* \| home feed \(keyset\) 0 → 18\.3; home feed \(offset\) 0 → 12\.1 \|$/m,
    );
  });

  it('prints its fix once, naming the two routes, in the terminal and in the Markdown', () => {
    expect(added.findings.filter((f) => f.rule === 'n-plus-one')).toHaveLength(2);
    const text = renderComparisonTable(c, { width: 400 });
    expect(text.match(/fix \(n-plus-one/g)).toHaveLength(1);
    expect(text).toContain(
      `    fix (n-plus-one, on "${KEYSET}", "${OFFSET}"): fetch the rows in one statement, with the list of values as an array: SELECT id, username FROM users WHERE id = ANY($1)`,
    );
    const md = renderComparisonMarkdown(c);
    expect(md.match(/fix \(n-plus-one/g)).toHaveLength(1);
    expect(md).toContain(`- fix (n-plus-one, on "${KEYSET}", "${OFFSET}"): fetch the rows in one statement`);
  });

  it('prints a fix per route when the fixes differ', () => {
    const other = 'SELECT id, username FROM users WHERE id IN (SELECT unnest($1::int[]))';
    const differing: Report = {
      ...head,
      queries: head.queries.map((q) =>
        q.fingerprint === LOOKUP
          ? {
              ...q,
              findings: q.findings.map((f) => (f.route === OFFSET ? { ...f, suggestion: other } : f)),
            }
          : q,
      ),
    };
    const text = renderComparisonTable(compareReports(base, differing), { width: 400 });
    expect(text.match(/fix \(n-plus-one/g)).toHaveLength(2);
    expect(text).toContain(`fix (n-plus-one, on "${KEYSET}"): fetch the rows in one statement`);
    expect(text).toContain(`fix (n-plus-one, on "${OFFSET}"): ${other}`);
  });
});

describe('routes that run a statement that regressed', () => {
  it('a route whose only statement regressed in work regressed with it, and says which statement and why', () => {
    const r = route('follower count');
    // Its own measures: one statement per request, no failed request, timings not counted.
    expect(r.statementsPerRequest.delta).toBe(0);
    expect(r.timing.verdict).toBe('slower');
    expect(r.verdict).toBe('regression');
    expect(r.regressions.map((x) => [x.kind, x.messageId, x.evidence])).toEqual([
      [
        'route-statement',
        'route-statement-regressed',
        { route: 'follower count', fingerprint: FOLLOWERS, callsPerRequest: 1 },
      ],
    ]);
    expect(r.regressions[0]!.message).toBe(
      'statement regressed: SELECT count(*)::int AS n FROM follows WHERE followee_id = $1 (1 call per request): ' +
        'plan cost 5.92 -> 24,156 (+408k%); shared blocks per call 47.57 -> 12,739 (+27k%); ' +
        'Index Only Scan using follows_followee_idx on follows -> Parallel Seq Scan on follows (a table of 2.0M rows); ' +
        'new error finding seq-scan-large-table on public.follows; ' +
        'database time per request 6.07 ms -> 408 ms (x67.23, x1.28 for the other routes)',
    );
    expect(c.counts).toMatchObject({ regressions: 2, routeRegressions: 3 });
    // Routes whose statements did not regress stay unchanged, slower timings or not.
    for (const name of ['profile', 'search', 'who to follow', 'like a post', 'health']) {
      expect(route(name), name).toMatchObject({ verdict: 'unchanged', regressions: [] });
    }
    // The statement thresholds decide: a statement that does not regress under them takes no route with it.
    const lenient = resolveCompareThresholds({
      planCost: { relative: 1e6, absolute: 1e9 },
      blocksPerCall: { relative: 1e6, absolute: 1e9 },
      newFindingSeverity: 'none',
    });
    const l = compareReports(base, head, lenient);
    expect(l.statements.find((s) => s.fingerprint === FOLLOWERS)!.verdict).toBe('unchanged');
    expect(l.routes.find((x) => x.route === 'follower count')).toMatchObject({ verdict: 'unchanged', regressions: [] });
  });

  it('a route names the new statement it runs in a loop, with its calls per request on that route only', () => {
    for (const [name, calls] of [
      [KEYSET, '18.27'],
      [OFFSET, '12.07'],
    ] as const) {
      const r = route(name);
      expect(r.regressions.map((x) => x.messageId)).toEqual([
        'route-statements-per-request-up',
        'route-statement-regressed',
      ]);
      const message = r.regressions[1]!.message;
      expect(message).toMatch(
        new RegExp(
          `^new statement regressed: SELECT username FROM users WHERE id = \\$1: 0 -> ${calls} calls per request`,
        ),
      );
      expect(message).not.toContain(name === KEYSET ? '12.07' : '18.27');
    }
  });

  it('the statement regression names the route it runs on, in the terminal and in the Markdown', () => {
    const text = renderComparisonTable(c, { width: 400 });
    expect(text).toMatch(
      /^ {2}SELECT count\(\*\)::int AS n FROM follows WHERE followee_id = \$1\n {4}on route "follower count" \(GET \/users\/\{uid\}\/followers\/count\): 1 call per request\n {4}plan-cost: /m,
    );
    expect(text).toContain(
      '  route "follower count" (GET /users/{uid}/followers/count)\n    route-statement: statement regressed: SELECT count(*)::int',
    );
    // The routes its calls-per-request reasons name are not repeated.
    expect(text).not.toMatch(/^ {4}on route "home feed/m);
    const md = renderComparisonMarkdown(c);
    expect(md).toMatch(
      /^\*\*`SELECT count\(\*\)::int AS n FROM follows WHERE followee_id = \$1`\*\*\n\n- on route "follower count" \(GET \/users\/\{uid\}\/followers\/count\): 1 call per request$/m,
    );
    expect(md).toMatch(/^\| \*\*regression\*\* \| follower count `GET \/users\/\{uid\}\/followers\/count` \| 1 \|/m);
  });
});
