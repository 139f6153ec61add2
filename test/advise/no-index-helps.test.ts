import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { noIndexHelps } from '../../src/advise/advise.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles, withSession } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/wide/${name}`, import.meta.url));

/** The seq-scan-large-table finding the real rules made for the statement that contains `needle`. */
function scanFinding(report: Report, needle: string): Finding | undefined {
  return report.queries.find((q) => q.query.includes(needle))?.findings.find((f) => f.rule === 'seq-scan-large-table');
}

describe('index advice when no index helps (real rules, validated on the planner)', () => {
  let url: string;
  let validated: Report;

  const run = (allowIndexBuild: boolean) =>
    runWorkload({
      workload: loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 }),
      databaseUrl: url,
      ...(allowIndexBuild ? { allowIndexBuild } : {}),
    });

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('no_index_helps');
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
    validated = await run(true);
  });

  it('says why instead of printing an index the planner rejected, for a filter that keeps ~30% of the rows', () => {
    for (const needle of ['mood = $1 AND active', 'handle_len = $1']) {
      const finding = scanFinding(validated, needle);
      expect(finding, needle).toBeDefined();
      expect(finding!.advice, needle).toBeUndefined();
      expect(finding!.suggestion, needle).not.toMatch(/CREATE INDEX/);
      expect(finding!.suggestion, needle).toMatch(/^no index helps: .*validated with rollback-build/);
      // The planner's estimate rests on ANALYZE's random sample: about 30%, a point either way.
      expect(finding!.suggestion, needle).toMatch(
        /the filter keeps ~(29|30|31)% of the rows, so .*: reduce the rows read instead$/,
      );
    }
  });

  it('speaks of a filter only when the scan has one', () => {
    const finding = scanFinding(validated, 'mood = $1 AND active')!;
    const results = [
      {
        candidate: {
          relation: 'public.t',
          table: 't',
          method: 'btree' as const,
          keys: ['a'],
          name: 't_a_idx',
          reason: '',
        },
        sql: 'CREATE INDEX t_a_idx ON public.t (a);',
        costBefore: 100,
        costAfter: 90,
        used: true,
        improvement: 0.1,
        method: 'rollback-build' as const,
      },
    ];
    expect(noIndexHelps(finding, results, false)).toMatch(/the filter keeps ~\d+% of the rows/);
    const { filter: _filter, ...unfiltered } = finding.evidence;
    const joinSide = { ...finding, evidence: { ...unfiltered, removedShare: 0 } };
    expect(noIndexHelps(joinSide, results, false)).toBe(
      'no index helps: the best candidate, an index on (a), lowers the plan cost only from 100 to 90 (10%, validated with rollback-build)',
    );
  });

  it('names a rejected candidate that cuts the cost by a quarter or more, to be measured', () => {
    const finding = scanFinding(validated, 'mood = $1 AND active')!;
    const candidate = (improvement: number) => [
      {
        candidate: {
          relation: 'public.t',
          table: 't',
          method: 'gin' as const,
          keys: ['a'],
          name: 't_a_idx',
          reason: '',
        },
        sql: 'CREATE INDEX CONCURRENTLY t_a_idx ON public.t USING gin (a);',
        costBefore: 100,
        costAfter: 100 * (1 - improvement),
        used: true,
        improvement,
        method: 'rollback-build' as const,
      },
    ];
    const close = noIndexHelps(finding, candidate(0.49), false);
    expect(close).toMatch(
      /^no index clearly helps: the best candidate, an index on \(a\), lowers the plan cost only from 100 to 51 \(49%/,
    );
    expect(close).toMatch(
      /under the 50% the advice asks for \(by the planner's estimate the filter keeps ~\d+% of the rows\): build it and measure the statement with --analyze before relying on it: CREATE INDEX CONCURRENTLY t_a_idx ON public\.t USING gin \(a\);$/,
    );
    // Building and measuring the index is the advice: nothing says to reduce the rows read instead.
    expect(close).not.toContain('reduce the rows read instead');
    expect(noIndexHelps(finding, candidate(0.1), false)).toMatch(/^no index helps: /);
    expect(noIndexHelps(finding, candidate(0.1), false)).not.toContain('CREATE INDEX');
  });

  it('on a generic plan contradicted by the blocks the statement read, says the verdict is for a typical value and names the index to measure', () => {
    // An index scan whose filter throws away what it finds, planned generically (an HTTP run): the
    // planner expects 62 rows of a typical organization, the statement touched the whole table.
    const finding: Finding = {
      rule: 'index-scan-filter',
      severity: 'error',
      messageId: 'measured',
      message: 'constructed by the test',
      relation: 'pm.tasks',
      evidence: {
        tableRows: 500_000,
        tableBlocks: 6561,
        sharedBlksPerCall: 6561,
        estimatedScanRows: 62,
        index: 'tasks_org_idx',
        filter: '((status <> $2) AND (due_date < $3))',
      },
    };
    const kept = (keys: string[], name: string) => ({
      candidate: { relation: 'pm.tasks', table: 'tasks', method: 'btree' as const, keys, name, reason: '' },
      sql: `CREATE INDEX CONCURRENTLY ${name} ON pm.tasks (${keys.join(', ')});`,
      costBefore: 138.71,
      costAfter: 138.71,
      used: false,
      improvement: 0,
      method: 'rollback-build' as const,
    });
    const results = [
      kept(['org_id', 'due_date'], 'tasks_org_id_due_date_idx'),
      kept(['due_date'], 'tasks_due_date_idx'),
    ];
    expect(noIndexHelps(finding, results, false, undefined, true)).toBe(
      'no index helps a typical parameter value: with an index on (org_id, due_date) or (due_date) the planner keeps its plan (cost 139, validated with rollback-build). ' +
        'That plan is generic, made for a typical value, and the statement touched 6,561 shared blocks per call where it expects 62 rows: the values it ran with find far more. ' +
        'Measure the statement with such a value (EXPLAIN ANALYZE) and an index on (org_id, due_date) before ruling the index out: ' +
        'CREATE INDEX CONCURRENTLY tasks_org_id_due_date_idx ON pm.tasks (org_id, due_date);',
    );
    // A plan made with the statement's own values says no index helps, as before.
    expect(noIndexHelps(finding, results, false)).toMatch(/^no index helps: with an index on \(org_id, due_date\)/);
  });

  it('without validation (an external database, no --allow-index-build), names no index for a filter that keeps ~30% of the rows', async () => {
    const unvalidated = await run(false);
    const finding = scanFinding(unvalidated, 'handle_len = $1');
    expect(finding?.advice).toBeUndefined();
    // The validated verdict on the same statement is "no index helps": an unvalidated index would be
    // one the planner does not use.
    expect(finding?.suggestion).toMatch(
      /^no index named: by the planner's estimate the filter keeps ~\d+% of the rows/,
    );
    expect(finding?.suggestion).not.toMatch(/CREATE INDEX/);
  });

  it('compares an expression index with the plan under statistics on the expression, so a LIMIT scan is not undersold', () => {
    const query = validated.queries.find((q) => q.query.includes('LIMIT'))!;
    const finding = scanFinding(validated, 'LIMIT');
    expect(finding?.advice?.sql).toBe(
      "CREATE INDEX CONCURRENTLY accounts_profile_idx ON public.accounts (((profile ->> 'city'::text)));",
    );
    // Without statistics on the expression, the planner expects the LIMIT to stop the scan after
    // 4,000 rows; with them, after ~12,000 or more: the cost without the index is higher than the
    // captured plan's, and the index saves most of it.
    expect(finding!.advice!.costBefore).toBeGreaterThan(query.plan!.totalCost * 2);
    expect(finding!.advice!.improvement).toBeGreaterThan(0.5);
  });

  it('leaves no index and no statistics object behind', async () => {
    await withSession(url, async (session) => {
      const indexes = await session.query(
        `SELECT 1 FROM pg_indexes WHERE tablename = 'accounts' AND indexname <> 'accounts_pkey'`,
      );
      expect(indexes.rowCount).toBe(0);
      const statistics = await session.query('SELECT 1 FROM pg_statistic_ext');
      expect(statistics.rowCount).toBe(0);
    });
  });
});
