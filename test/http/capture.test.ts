import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { resolveRules } from '../../src/config/config.js';
import { isQuerygateError, RunFailedError } from '../../src/errors.js';
import { captureCommand } from '../../src/workload/command.js';
import { createTestDatabase, withSession } from '../support/db.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const SCRIPT = fixture('load-script.mjs');

describe('capture around an external command on a real PostgreSQL', () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('capture');
    await withSession(url, async (s) => {
      await s.query(readFileSync(fixture('items.sql'), 'utf8'));
      await s.query('ANALYZE');
    });
  });

  it('reports what the command made the database do, like a run', async () => {
    const report = await captureCommand({ command: [process.execPath, SCRIPT], databaseUrl: url, stdio: 'ignore' });
    expect(report.run.complete).toBe(true);
    expect(report.workload).toMatchObject({
      kind: 'external',
      name: 'node',
      command: [process.execPath, SCRIPT],
      connections: 0,
    });
    const lookup = report.queries.find((q) => q.query === 'SELECT id, label FROM items WHERE id = $1')!;
    const scan = report.queries.find((q) => q.query.startsWith('SELECT count(*) FROM items'))!;
    expect(lookup.calls).toBe(30);
    expect(scan.calls).toBe(5);
    expect(scan.plan?.root).toBeTruthy();
    expect(JSON.stringify(scan.plan?.root)).toContain('Seq Scan');
    expect(lookup.plan?.mode).toBe('generic');
    // Ranked by database time; querygate's own statements are not reported.
    expect(report.queries[0]!.fingerprint).toBe(scan.fingerprint);
    expect(report.queries.some((q) => q.query.includes('pg_stat_statements'))).toBe(false);
    expect(report.routes).toBeUndefined();
  });

  it('plans statements whose constants became untyped parameters, arithmetic included', async () => {
    const report = await captureCommand({
      command: [process.execPath, fixture('arithmetic-load.mjs')],
      databaseUrl: url,
      stdio: 'ignore',
    });
    const byText = (text: string) => {
      const found = report.queries.find((q) => q.query.replace(/\s+/g, ' ') === text);
      expect(found, `${text} in ${report.queries.map((q) => q.query).join('\n')}`).toBeDefined();
      return found!;
    };
    const sum = byText('SELECT count(*) FROM items WHERE id < $1 + $2');
    expect(sum.plan?.mode).toBe('generic');
    expect(sum.plan?.assumedTypes).toEqual({ $1: 'integer', $2: 'integer' });
    // A string constant tested for NULL: a parameter of no determinable type, which PostgreSQL 15
    // cannot prepare (text, then: see the older-server test) and GENERIC_PLAN (16+) leaves untyped.
    const tagged = byText('SELECT label FROM items WHERE id = $1 * $2 AND ($3 IS NULL OR label <> $4)');
    expect(tagged.plan?.assumedTypes).toMatchObject({ $1: 'integer', $2: 'integer' });
    expect(JSON.stringify(tagged.plan?.root)).toContain('items_pkey');
    // The client's own parameter beside a constant: `$1 * $2 - $3` (the client sent $1).
    expect(byText('SELECT label FROM items WHERE id = $1 * $2 - $3').plan?.root).toBeTruthy();
    const upsert = report.queries.find((q) => q.query.startsWith('INSERT INTO items'))!;
    expect(upsert.plan?.assumedTypes).toEqual({ $1: 'integer', $2: 'integer' });
    // What still has no plan is named by its text, not only by its fingerprint.
    const scratch = byText('SELECT count(*) FROM scratch_rows WHERE id > $1');
    expect(scratch.plan).toBeNull();
    const warning = report.warnings.find((w) => w.includes('have no plan'));
    expect(warning).toContain(`"SELECT count(*) FROM scratch_rows WHERE id > $1" [${scratch.fingerprint}]`);
    expect(warning).toContain('scratch_rows" does not exist');
    expect(report.warnings.join('\n')).not.toContain('is not unique');
  });

  it('without --analyze: findings do not ask for it where it cannot run, and say what measures the statement', async () => {
    const report = await captureCommand({
      command: [process.execPath, SCRIPT],
      databaseUrl: url,
      stdio: 'ignore',
      // Every statement is slow: its timing findings say how to get actual rows.
      rules: resolveRules({ 'slow-mean': { severity: 'warning', thresholdMs: 0 } }),
    });
    const planned = report.queries.filter((q) => q.plan);
    expect(planned.length).toBeGreaterThanOrEqual(2);
    expect(planned.every((q) => q.plan?.mode === 'generic' && q.plan.notAnalyzed === undefined)).toBe(true);
    const findings = planned.flatMap((q) => q.findings);
    expect(findings.filter((f) => f.rule === 'slow-mean').length).toBe(planned.length);
    for (const f of findings) {
      const said = `${f.message} ${f.suggestion ?? ''}`;
      // A rerun with --analyze would only get "not analyzed".
      expect(said).not.toMatch(/(run|measure the statement|check the row estimates|measure deep pages) with --analyze/);
      if (f.rule === 'slow-mean' || f.rule === 'high-db-time-share')
        expect(said).toContain(
          'run with EXPLAIN (ANALYZE, BUFFERS) and real values, or in a SQL scenario with a generator for each $n and ' +
            '--analyze (--analyze cannot run it as captured: its parameter values are unknown',
        );
    }
  });

  it('--analyze: says which statements it could not analyze, and findings do not ask for it again', async () => {
    const report = await captureCommand({
      command: [process.execPath, SCRIPT],
      databaseUrl: url,
      stdio: 'ignore',
      analyze: true,
      // Every statement is slow: its timing finding says how to get actual rows.
      rules: resolveRules({ 'slow-mean': { severity: 'warning', thresholdMs: 0 } }),
    });
    const planned = report.queries.filter((q) => q.plan);
    expect(planned.length).toBeGreaterThanOrEqual(2);
    // pg_stat_statements keeps `$n` in place of the values the command sent: nothing to execute with.
    expect(planned.every((q) => q.plan!.mode === 'generic')).toBe(true);
    expect(planned.every((q) => q.plan!.notAnalyzed?.startsWith('its parameter values are unknown'))).toBe(true);
    expect(report.workload.analyze).toBe(false);
    expect(report.warnings).toContain(
      `--analyze: ${planned.length} of ${planned.length} planned statement(s) were not analyzed: capture does not know ` +
        'the values the command sent, which pg_stat_statements replaced with $n, so statements with parameters get ' +
        'generic plans without ANALYZE, and rules that read parameter values or actual rows (deep-offset, ' +
        'row-estimate-mismatch, ...) cannot apply to them',
    );
    const findings = report.queries.flatMap((q) => q.findings);
    expect(findings.some((f) => f.rule === 'slow-mean')).toBe(true);
    const said = findings.map((f) => `${f.message} ${f.suggestion ?? ''}`).join('\n');
    expect(said).not.toContain('run with --analyze');
    expect(said).toContain('could not be analyzed: its parameter values are unknown');
  });

  it('reports a statement that an earlier EXPLAIN recorded as nested too (pg_stat_statements.track = all)', async () => {
    // With track = all, EXPLAIN records the statement it plans inside it: an entry with the
    // statement's queryid and the EXPLAIN's text, which must not hide the statement's own entry.
    const all = await createTestDatabase('capture_all');
    await withSession(all, async (s) => {
      await s.query(`ALTER DATABASE ${new URL(all).pathname.slice(1)} SET pg_stat_statements.track = 'all'`);
      await s.query(readFileSync(fixture('items.sql'), 'utf8'));
      await s.query('ANALYZE');
    });
    for (let run = 0; run < 2; run++) {
      const report = await captureCommand({ command: [process.execPath, SCRIPT], databaseUrl: all, stdio: 'ignore' });
      const lookup = report.queries.find((q) => q.query === 'SELECT id, label FROM items WHERE id = $1');
      expect(lookup?.calls, `run ${run + 1}`).toBe(30);
      expect(lookup?.plan?.mode).toBe('generic');
    }
  });

  it('a command that fails still yields its report, inside COMMAND_FAILED', async () => {
    try {
      await captureCommand({
        command: [process.execPath, SCRIPT],
        databaseUrl: url,
        stdio: 'ignore',
        env: { ...process.env, EXIT_CODE: '4', LOOKUPS: '7' },
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RunFailedError);
      const failure = error as RunFailedError;
      expect(failure.code).toBe('COMMAND_FAILED');
      expect(failure.message).toBe(`the command exited with code 4: ${process.execPath} ${SCRIPT}`);
      expect(failure.report.run.complete).toBe(true);
      expect(failure.report.queries.find((q) => q.query === 'SELECT id, label FROM items WHERE id = $1')?.calls).toBe(
        7,
      );
      expect(failure.report.warnings).toContain(`the command exited with code 4: ${process.execPath} ${SCRIPT}`);
    }
  });

  it('a command that does not exist is an environment error without a report', async () => {
    try {
      await captureCommand({ command: ['querygate-no-such-load-tool', 'run'], databaseUrl: url });
      expect.unreachable();
    } catch (error) {
      expect(isQuerygateError(error) && [error.code, error.kind, error.message]).toEqual([
        'COMMAND_FAILED',
        'environment',
        'command not found: querygate-no-such-load-tool',
      ]);
    }
  });

  it('an interrupt stops the command and returns what was captured, marked incomplete', async () => {
    const controller = new AbortController();
    // Interrupt once the script has sent its statements and sleeps (a fixed delay raced a slow start).
    const lastStatement = () =>
      withSession(url, async (s) => {
        const r = await s.query<{ n: string }>(
          "SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements WHERE query = 'SELECT count(*) FROM items WHERE label LIKE $1'",
        );
        return Number(r.rows[0]!.n);
      });
    const before = await lastStatement();
    const watch = (async () => {
      while (!controller.signal.aborted) {
        if ((await lastStatement()) >= before + 5) return controller.abort('interrupted by SIGTERM');
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const started = Date.now();
    const report = await captureCommand({
      command: [process.execPath, SCRIPT],
      databaseUrl: url,
      stdio: 'ignore',
      env: { ...process.env, SLEEP_MS: '60000' },
      signal: controller.signal,
    });
    await watch;
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(report.run).toMatchObject({ complete: false, interruptedBy: 'interrupted by SIGTERM' });
    expect(report.queries.find((q) => q.query === 'SELECT id, label FROM items WHERE id = $1')?.calls).toBe(30);
  });
});
