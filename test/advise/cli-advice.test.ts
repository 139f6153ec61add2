import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runCli } from '../support/cli.js';
import { scratchDatabase, loadSqlFiles, withSession } from '../support/db.js';
import { validateReport } from '../support/report-schema.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const fixture = (name: string) => here(`./fixtures/${name}`);

/** Findings of the rules (not constructed by hand) on the statement that contains `needle`. */
function findingsOf(report: Report, needle: string): readonly Finding[] {
  return report.queries.find((q) => q.query.includes(needle))?.findings ?? [];
}

describe('querygate run: index advice (CLI, real rules, external database)', () => {
  let dir: string;
  let url: string;
  const indexes = () =>
    withSession(url, async (s) =>
      (
        await s.query<{ n: string }>(`SELECT indexname AS n FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`)
      ).rows.map((r) => r.n),
    );

  beforeAll(async () => {
    ({ dir, url } = await scratchDatabase('cli_advice'));
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
  });

  const run = (out: string, ...extra: string[]) =>
    runCli([
      'run',
      '--workload',
      fixture('workload.sql'),
      '--database-url',
      url,
      '--repeat',
      '2',
      '--connections',
      '1',
      '--rounds',
      '1',
      '--no-budget',
      '--quiet',
      '--out',
      out,
      ...extra,
    ]);

  it("with --allow-index-build, validates the index for the rules' findings by building it in a rolled-back transaction", async () => {
    const before = await indexes();
    const out = join(dir, 'allowed.json');
    const result = await run(out, '--allow-index-build');
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    const scan = findingsOf(report, 'user_id = $1').find((f) => f.rule === 'seq-scan-large-table');
    expect(scan?.advice).toMatchObject({
      sql: 'CREATE INDEX CONCURRENTLY events_user_id_idx ON public.events (user_id);',
      method: 'rollback-build',
    });
    expect(scan!.advice!.costAfter).toBeLessThan(scan!.advice!.costBefore / 2);
    const nonSargable = findingsOf(report, 'lower(email)').find((f) => f.rule === 'non-sargable-predicate');
    expect(nonSargable?.advice?.sql).toContain('((lower(email)))');
    // Nothing was left behind on the external database.
    expect(await indexes()).toEqual(before);
  });

  it('without the flag, builds nothing on an external database and says the advice is unvalidated', async () => {
    const out = join(dir, 'refused.json');
    const result = await run(out);
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
    const all = report.queries.flatMap((q) => q.findings);
    expect(all.some((f) => f.rule === 'seq-scan-large-table')).toBe(true);
    expect(all.filter((f) => f.advice)).toEqual([]);
    const scan = findingsOf(report, 'user_id = $1').find((f) => f.rule === 'seq-scan-large-table');
    expect(scan?.suggestion).toBe(
      'CREATE INDEX CONCURRENTLY events_user_id_idx ON public.events (user_id); -- not validated on the planner',
    );
    expect(report.warnings.join('\n')).toMatch(/is not validated: .*--allow-index-build/);
  });
});
