import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { adviseDetails, adviseReport, type AdvisedStatement } from '../../src/advise/advise.js';
import { candidateKey, generateCandidates } from '../../src/advise/candidates.js';
import { loadParser } from '../../src/analyze/parser.js';
import { formatPath, walkPlan } from '../../src/analyze/plan.js';
import type { Finding } from '../../src/model/finding.js';
import type { QueryReport, Report } from '../../src/model/report.js';
import { runWorkload } from '../../src/run/run.js';
import { openSession, type Session } from '../../src/target/pg.js';
import { loadScenario, loadSqlWorkload } from '../../src/workload/load.js';
import { createTestDatabase, loadSqlFiles, withSession } from '../support/db.js';
import { withoutOtherStatements } from '../support/advice.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** A finding as the rules would make it, about the first plan node that `match` accepts. */
function findingAt(
  query: QueryReport,
  rule: string,
  match: (label: string) => boolean,
  relation?: string,
  suggestion = "the rule's own suggestion",
): Finding {
  const node = walkPlan(query.plan!.root).find((v) => match(v.path[v.path.length - 1]!));
  if (!node) throw new Error(`no plan node for ${rule} in ${query.query}`);
  return {
    rule,
    severity: 'warning',
    messageId: 'constructed',
    message: 'constructed by the test',
    ...(relation ? { relation } : {}),
    nodePath: formatPath(node.path),
    evidence: {},
    suggestion,
  };
}

function withFindings(report: Report, findings: Readonly<Record<string, (q: QueryReport) => Finding>>): Report {
  return {
    ...report,
    queries: report.queries.map((q) => {
      const entry = Object.entries(findings).find(([needle]) => q.query.includes(needle));
      return entry ? { ...q, findings: [entry[1](q)] } : q;
    }),
  };
}

const byText = (report: Report, needle: string) => report.queries.find((q) => q.query.includes(needle))!;
/** The filter on kind without ORDER BY. */
const plainKind = (report: Report) => report.queries.find((q) => q.query.endsWith('kind = $1'))!;

async function indexNames(session: Session): Promise<string[]> {
  const { rows } = await session.query<{ name: string }>(
    `SELECT indexname AS name FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/** A session that records every statement sent through it (the database is real). */
function recording(session: Session): { session: Session; sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    session: {
      pid: session.pid,
      close: () => session.close(),
      query: (sql, params, name) => {
        sent.push(sql);
        return session.query(sql, params, name);
      },
    },
  };
}

describe('index advice validated on a real PostgreSQL', () => {
  let url: string;
  let captured: Report;
  let statements: AdvisedStatement[];
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('advise');
    await loadSqlFiles(url, fixture('schema.sql'), fixture('seed.sql'));
    const workload = loadSqlWorkload(fixture('workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
    statements = workload.statements.map((s) => ({ fingerprint: s.fingerprint, sql: s.sql, paramCount: s.paramCount }));
    captured = await runWorkload({ workload, databaseUrl: url });
    const seq = (label: string) => label.startsWith('Seq Scan');
    report = withFindings(captured, {
      'lower(email)': (q) => findingAt(q, 'non-sargable-predicate', seq, 'public.users'),
      'LIKE $1': (q) => findingAt(q, 'non-sargable-predicate', seq, 'public.users'),
      'ORDER BY amount': (q) => findingAt(q, 'seq-scan-large-table', seq, 'public.events'),
      'user_id = $1': (q) =>
        findingAt(q, 'seq-scan-large-table', seq, 'public.events', 'CREATE INDEX ON public.events (user_id);'),
      'kind = $1': (q) => findingAt(q, 'seq-scan-large-table', seq, 'public.events'),
      '::text = $1': (q) => findingAt(q, 'seq-scan-large-table', seq, 'public.events'),
      'OR created_at': (q) => findingAt(q, 'seq-scan-large-table', seq, 'public.users'),
      'JOIN events': (q) => findingAt(q, 'nested-loop-heavy', (l) => /Join|Nested Loop/.test(l)),
    });
  });

  let validated: Awaited<ReturnType<typeof adviseDetails>> | undefined;
  /** One validation with --allow-index-build, shared by the tests that only read its outcome. */
  async function validatedOnce() {
    validated ??= await advise({ allowIndexBuild: true });
    return validated;
  }

  async function advise(options: Parameters<typeof adviseDetails>[2], input: Report = report) {
    const session = await openSession(url);
    try {
      return await adviseDetails(session, input, { statements, ...options });
    } finally {
      await session.close();
    }
  }

  it('leaves a report without advisable findings as it is, without asking the database', async () => {
    const session = await openSession(url);
    const { session: spy, sent } = recording(session);
    try {
      const bare: Report = { ...captured, queries: captured.queries.map((q) => ({ ...q, findings: [] })) };
      expect(await adviseReport(spy, bare, { statements })).toBe(bare);
      expect(sent).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it('suggests an expression index for a function over an indexed column, and its cost is far lower', async () => {
    const { report: advised } = await validatedOnce();
    const query = byText(advised, 'lower(email)');
    const [finding] = query.findings;
    expect(finding?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY users_lower_email_idx ON public.users ((lower(email)));',
    );
    // The rule's own suggestion is another kind of fix (a rewrite): non-sargable-predicate's rewrite
    // lets the column's index serve the predicate, so it leads, and the validated index follows.
    expect(finding?.suggestion).toBe(`the rule's own suggestion -- or: ${finding?.advice?.sql}`);
    expect(finding?.advice?.method).toBe('rollback-build');
    // The cost before is the statement's cost as captured (statistics were fresh).
    expect(finding!.advice!.costBefore).toBeCloseTo(query.plan!.totalCost, -1);
    expect(finding!.advice!.costAfter).toBeLessThan(finding!.advice!.costBefore / 10);
    expect(finding!.advice!.improvement).toBeCloseTo(1 - finding!.advice!.costAfter / finding!.advice!.costBefore, 2);
  });

  it('suggests a pg_trgm GIN index for a leading-wildcard search when the extension is available', async () => {
    const available = await withSession(url, (s) =>
      s.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'`),
    );
    expect(available.rowCount).toBe(1); // the embedded PostgreSQL ships pg_trgm
    const { report: advised } = await validatedOnce();
    const advice = byText(advised, 'LIKE $1').findings[0]?.advice;
    expect(advice?.sql).toBe(
      'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY users_email_trgm_idx ON public.users USING gin (email gin_trgm_ops);',
    );
    expect(advice!.costAfter).toBeLessThan(advice!.costBefore / 2);
  });

  it('prefers an index that serves a search filter to one that serves only its ORDER BY ... LIMIT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'querygate-advise-search-'));
    const file = join(dir, 'search.yaml');
    writeFileSync(
      file,
      [
        'load: { connections: 1, repeat: 1, rounds: 1 }',
        'statements:',
        '  - sql: SELECT id FROM users WHERE name ILIKE $1 ORDER BY created_at DESC LIMIT 20',
        "    params: [{ pick: ['%ser 199%'] }]",
        '',
      ].join('\n'),
    );
    const workload = loadScenario(file, {});
    const search = await runWorkload({ workload, databaseUrl: url });
    // Planned generically, as an HTTP run's statements are: the planner then guesses that the
    // pattern keeps 0.5% of the rows.
    const generic: Report = {
      ...search,
      queries: search.queries.map((q) => (q.plan ? { ...q, plan: { ...q.plan, mode: 'generic' as const } } : q)),
    };
    const input = withFindings(generic, {
      ILIKE: (q) => findingAt(q, 'seq-scan-large-table', (l) => l.startsWith('Seq Scan'), 'public.users'),
    });
    const session = await openSession(url);
    let details: Awaited<ReturnType<typeof adviseDetails>>;
    try {
      details = await adviseDetails(session, input, {
        statements: workload.statements.map((s) => ({
          fingerprint: s.fingerprint,
          sql: s.sql,
          paramCount: s.paramCount,
        })),
        allowIndexBuild: true,
      });
    } finally {
      await session.close();
    }
    // Both lower the planner's cost enough, the ORDER BY index more: only because the planner guesses
    // that the LIMIT finds its 20 rows after 4,000, which a rare term turns into a walk of the whole index.
    const results = details.findings[0]!.results;
    const trigram = results.find((r) => r.candidate.method === 'gin')!;
    const sortOnly = results.find((r) => r.candidate.sortOnly)!;
    expect(trigram.improvement).toBeGreaterThan(0.5);
    expect(sortOnly.improvement).toBeGreaterThan(0.5);
    expect(sortOnly.costAfter).toBeLessThan(trigram.costAfter!);
    const advice = byText(details.report, 'ILIKE').findings[0]!.advice!;
    expect(advice.sql).toContain('gin_trgm_ops');
  });

  it("keeps each analyzed column's distinct values from pg_stats, a count or minus a share of the rows", () => {
    const events = report.relations.find((r) => r.name === 'public.events')!;
    expect(events.nDistinct?.kind).toBe(3);
    expect(events.nDistinct?.id).toBe(-1);
  });

  it("keeps how closely each analyzed column follows the table's order, from pg_stats", () => {
    const events = report.relations.find((r) => r.name === 'public.events')!;
    // Inserted in id order; user_id cycles through its values every 20,000 rows.
    expect(events.correlation?.id).toBeCloseTo(1, 2);
    expect(Math.abs(events.correlation?.user_id ?? 1)).toBeLessThan(0.9);
  });

  it('suggests a B-tree for a selective filter on an unindexed column, and on an unindexed join column', async () => {
    const { report: advised } = await validatedOnce();
    const filter = byText(advised, 'user_id = $1').findings[0]?.advice;
    expect(filter?.sql).toBe('CREATE INDEX CONCURRENTLY events_user_id_idx ON public.events (user_id);');
    // The rule's own, unvalidated index is replaced by the validated one.
    expect(withoutOtherStatements(byText(advised, 'user_id = $1').findings[0]?.suggestion)).toBe(filter?.sql);
    expect(filter!.costBefore).toBeGreaterThan(filter!.costAfter * 10);
    const join = byText(advised, 'JOIN events').findings[0]?.advice;
    expect(join?.sql).toBe(filter?.sql);
    expect(join!.costBefore).toBeGreaterThan(join!.costAfter * 2);
  });

  it('prefers a two-column index (equality, then the sort) when it lets a LIMIT stop early', async () => {
    const { report: advised, findings } = await validatedOnce();
    const advice = byText(advised, 'ORDER BY amount').findings[0]?.advice;
    expect(advice?.sql).toBe('CREATE INDEX CONCURRENTLY events_kind_amount_idx ON public.events (kind, amount);');
    // seq-scan-large-table's fix is the index: the rule's other fix follows it.
    expect(withoutOtherStatements(byText(advised, 'ORDER BY amount').findings[0]?.suggestion)).toBe(
      `${advice?.sql} -- or: the rule's own suggestion`,
    );
    const tried = findings.find((f) => f.fingerprint === byText(advised, 'ORDER BY amount').fingerprint)!.results;
    const single = tried.find((r) => r.candidate.keys.join() === 'kind')!;
    // The single-column index is cheaper than no index, but far from the two-column one.
    expect(single.costAfter!).toBeGreaterThan(advice!.costAfter * 1.1);
  });

  it('reads a text cast of an integer column as the expression it computes, and of a varchar as the column', async () => {
    const { report: advised } = await validatedOnce();
    const query = byText(advised, '::text = $1');
    expect(query.plan!.root.Plans?.[0]?.Filter ?? query.plan!.root.Filter).toContain('(user_id)::text');
    expect(report.relations.find((r) => r.name === 'public.events')?.columnTypes?.user_id).toBe('integer');
    expect(query.findings[0]?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY events_user_id_text_idx ON public.events (((user_id)::text));',
    );
    // The same plan text on a varchar column only relabels it: a B-tree on the column serves it.
    const finding = byText(report, '::text = $1').findings[0]!;
    const keys = (r: Report) =>
      generateCandidates(byText(r, '::text = $1'), finding, r, { trigram: false }).map((c) => c.keys.join(', '));
    expect(keys(report)).toEqual(['((user_id)::text)']);
    const varchar: Report = {
      ...report,
      relations: report.relations.map((r) =>
        r.name === 'public.events' ? { ...r, columnTypes: { ...r.columnTypes, user_id: 'character varying(12)' } } : r,
      ),
    };
    expect(keys(varchar)).toEqual(['user_id']);
  });

  it('validates one index per alternative of an OR filter, built and judged together', async () => {
    const { report: advised, findings } = await validatedOnce();
    const query = byText(advised, 'OR created_at');
    const advice = query.findings[0]?.advice;
    expect(advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY users_name_idx ON public.users (name); CREATE INDEX CONCURRENTLY users_created_at_idx ON public.users (created_at);',
    );
    expect(advice!.costAfter).toBeLessThan(advice!.costBefore / 10);
    // Either index alone leaves the other alternative to a sequential scan: the pair is the fix.
    const tried = findings.find((f) => f.fingerprint === query.fingerprint)!.results;
    expect(tried.map((r) => r.candidate.also?.length ?? 0)).toContain(1);
  });

  it('does not show a candidate that does not lower the cost by the minimum improvement', async () => {
    const { report: advised, findings } = await validatedOnce();
    const query = plainKind(advised);
    const [finding] = query.findings;
    expect(finding?.advice).toBeUndefined();
    expect(finding?.suggestion).toBe("the rule's own suggestion");
    const tried = findings.find((f) => f.fingerprint === query.fingerprint)!.results;
    expect(tried.map((r) => r.candidate.keys.join())).toEqual(['kind']);
    expect(tried[0]!.improvement!).toBeGreaterThan(0);
    expect(tried[0]!.improvement!).toBeLessThan(0.5);
    // The threshold is an option: below the candidate's improvement, it is shown.
    const lenient = await advise({ allowIndexBuild: true, minImprovement: tried[0]!.improvement! / 2 });
    expect(plainKind(lenient.report).findings[0]?.advice?.sql).toContain('(kind)');
  });

  it('builds on an external database only with the flag, and says the advice is unvalidated otherwise', async () => {
    expect(report.target.kind).toBe('external');
    const session = await openSession(url);
    const { session: spy, sent } = recording(session);
    let advised: Report;
    try {
      advised = await adviseReport(spy, report, { statements });
    } finally {
      await session.close();
    }
    // No extension is created, not even in a rolled-back transaction.
    expect(sent.filter((sql) => /CREATE\s+EXTENSION/i.test(sql))).toEqual([]);
    // Only the empty temporary copy used to check that a definition is valid gets an index.
    const builds = sent.filter((sql) => /^CREATE\b.*\bINDEX\b/s.test(sql));
    expect(builds.length).toBeGreaterThan(0);
    for (const sql of builds) expect(sql).toMatch(/ON querygate_candidate_probe\d+\b/);
    for (const q of advised.queries) for (const f of q.findings) expect(f.advice).toBeUndefined();
    expect(byText(advised, 'lower(email)').findings[0]?.suggestion).toBe(
      // The rule's own fix (here a placeholder for its rewrite) is kept, first, as beside a validated index.
      "the rule's own suggestion -- or: CREATE INDEX CONCURRENTLY users_lower_email_idx ON public.users ((lower(email))); -- not validated on the planner",
    );
    expect(advised.warnings.join('\n')).toMatch(
      /index advice for \d+ finding\(s\) is not validated: .*--allow-index-build/,
    );
  });

  it('with --allow-index-build as a role that does not own the tables: one warning saying why, advice unvalidated', async () => {
    await withSession(url, async (s) => {
      await s.query(
        "DO $$ BEGIN CREATE ROLE qg_notowner LOGIN PASSWORD 'notowner'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
      );
      await s.query('GRANT SELECT ON ALL TABLES IN SCHEMA public TO qg_notowner');
    });
    const role = new URL(url);
    role.username = 'qg_notowner';
    role.password = 'notowner';
    const session = await openSession(role.toString());
    let advised: Report;
    try {
      advised = await adviseReport(session, report, { statements, allowIndexBuild: true });
    } finally {
      await session.close();
    }
    for (const q of advised.queries) for (const f of q.findings) expect(f.advice).toBeUndefined();
    // The same advice as without the flag, marked unvalidated.
    expect(byText(advised, 'lower(email)').findings[0]?.suggestion).toBe(
      // The rule's own fix (here a placeholder for its rewrite) is kept, first, as beside a validated index.
      "the rule's own suggestion -- or: CREATE INDEX CONCURRENTLY users_lower_email_idx ON public.users ((lower(email))); -- not validated on the planner",
    );
    // Only this call's warnings: the captured report has those of the run without the flag.
    const warnings = advised.warnings.slice(report.warnings.length);
    expect(warnings, warnings.join('\n')).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^index advice could not be validated with --allow-index-build: the role may not build indexes on .*public\.users.* \(.*must be owner of table users.*\): only a table's owner/,
    );
    expect(warnings[0]).toMatch(/\d+ finding\(s\) keep unvalidated advice$/);
  });

  it('validates at most maxValidations distinct candidates and says so', async () => {
    const { report: advised, findings } = await advise({ allowIndexBuild: true, maxValidations: 1 });
    const tried = new Set(
      findings.flatMap((f) => f.results.filter((r) => r.method).map((r) => candidateKey(r.candidate))),
    );
    expect(tried.size).toBe(1);
    expect(advised.warnings.join('\n')).toMatch(/index candidate\(s\) not validated: over the limit of 1 candidates/);
  });

  it('stops at an interrupt and keeps the advice validated before it, sending nothing after', async () => {
    const full = await validatedOnce();
    const session = await openSession(url);
    const { session: spy, sent } = recording(session);
    // The interrupt comes as the first candidate's build is rolled back.
    const firstBuild = () => sent.findIndex((sql) => /^CREATE \/\*[^*]*\*\/ INDEX/.test(sql));
    const stopped = () => firstBuild() >= 0 && sent.slice(firstBuild()).includes('ROLLBACK');
    let cut: Awaited<ReturnType<typeof adviseDetails>>;
    try {
      cut = await adviseDetails(spy, report, { statements, allowIndexBuild: true, stopped });
    } finally {
      await session.close();
    }
    const afterStop = sent.slice(sent.indexOf('ROLLBACK', firstBuild()) + 1);
    expect(afterStop).toEqual([]);
    const tried = new Set(
      cut.findings.flatMap((f) => f.results.filter((r) => r.method).map((r) => candidateKey(r.candidate))),
    );
    expect(tried.size).toBe(1);
    const advised = cut.report.queries.flatMap((q) => q.findings.filter((f) => f.advice));
    // Which candidate comes first follows the statements' database time: whenever the one judged
    // helps (as the full run found), its advice is kept.
    const helped = full.findings.some((f) =>
      f.results.some((r) => tried.has(candidateKey(r.candidate)) && r.used && (r.improvement ?? 0) >= 0.5),
    );
    expect(advised.length > 0).toBe(helped);
    // What was kept is what the full run validated for the same finding.
    for (const q of cut.report.queries) {
      const whole = full.report.queries.find((w) => w.fingerprint === q.fingerprint)!;
      for (const [i, f] of q.findings.entries()) {
        if (f.advice) expect(f.advice.costBefore).toBe(whole.findings[i]!.advice?.costBefore);
        // A finding whose candidates were cut short is not told that no index helps.
        if (!f.advice) expect(f.suggestion).not.toMatch(/no index/i);
      }
    }
    expect(cut.report.warnings.join('\n')).toMatch(
      /index advice stopped by the interrupt with \d+ of \d+ candidate\(s\) not validated/,
    );
  });

  it('always builds on the embedded database', async () => {
    const embedded: Report = { ...report, target: { ...report.target, kind: 'embedded' } };
    const { report: advised } = await advise({}, embedded);
    expect(byText(advised, 'user_id = $1').findings[0]?.advice?.method).toBe('rollback-build');
    expect(advised.warnings).toEqual(report.warnings);
  });

  it('sees an index built while another transaction holds an old snapshot (indcheckxmin)', async () => {
    await withSession(url, async (s) => {
      await s.query(
        `CREATE TABLE hot (id integer PRIMARY KEY, status text NOT NULL, pad text NOT NULL) WITH (fillfactor = 70)`,
      );
      await s.query(
        `INSERT INTO hot SELECT g, (ARRAY['a', 'b', 'c', 'd'])[1 + g % 4], repeat('x', 50) FROM generate_series(1, 20000) g`,
      );
      await s.query('ANALYZE hot');
    });
    const workload = loadSqlWorkload(fixture('hot.sql'), {}, { repeat: 1, connections: 1, rounds: 1 });
    const hotCaptured = await runWorkload({ workload, databaseUrl: url });
    const hotReport = withFindings(hotCaptured, {
      'status = $1': (q) => findingAt(q, 'seq-scan-large-table', (l) => l.startsWith('Seq Scan'), 'public.hot'),
    });
    const reader = await openSession(url);
    const writer = await openSession(url);
    try {
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await reader.query('SELECT count(*) FROM hot');
      // HOT updates (status is not indexed) whose old versions the reader still sees.
      await writer.query(`UPDATE hot SET status = 'z' WHERE id % 1000 = 0`);
      await writer.query('ANALYZE hot');
      // PostgreSQL hides such an index from plans made in the transaction that built it.
      await writer.query('BEGIN');
      await writer.query('CREATE INDEX hot_probe ON hot (status)');
      const { rows } = await writer.query<{ c: boolean }>(
        `SELECT indcheckxmin AS c FROM pg_index WHERE indexrelid = 'hot_probe'::regclass`,
      );
      await writer.query('ROLLBACK');
      expect(rows[0]?.c).toBe(true);

      const advised = await adviseReport(writer, hotReport, {
        statements: workload.statements.map((s) => ({
          fingerprint: s.fingerprint,
          sql: s.sql,
          paramCount: s.paramCount,
        })),
        allowIndexBuild: true,
      });
      const advice = byText(advised, 'status = $1').findings[0]?.advice;
      expect(advice?.sql).toBe('CREATE INDEX CONCURRENTLY hot_status_idx ON public.hot (status);');
      expect(advice!.improvement).toBeGreaterThan(0.5);
    } finally {
      await reader.query('ROLLBACK').catch(() => undefined);
      await reader.close();
      await writer.close();
    }
  });

  it('leaves nothing behind: no index, no extension, no session state', async () => {
    const session = await openSession(url);
    try {
      const before = await indexNames(session);
      const extensions = async () =>
        (await session.query<{ extname: string }>('SELECT extname FROM pg_extension ORDER BY 1')).rows.map(
          (r) => r.extname,
        );
      const extensionsBefore = await extensions();
      expect(extensionsBefore).not.toContain('pg_trgm');
      const validated = await adviseReport(session, report, { statements, allowIndexBuild: true });
      expect(validated.queries.some((q) => q.findings.some((f) => f.advice))).toBe(true);
      await adviseReport(session, report, { statements }); // the unvalidated path: a temporary probe table
      expect(await indexNames(session)).toEqual(before);
      expect(await extensions()).toEqual(extensionsBefore);
      const temp = await session.query(`SELECT 1 FROM pg_class WHERE relname LIKE 'querygate_candidate%'`);
      expect(temp.rowCount).toBe(0);
      // The session is usable and outside any transaction.
      const status = await session.query<{ s: string }>(`SELECT current_setting('statement_timeout') AS s`);
      expect(status.rows[0]?.s).toBe('0');
      await session.query('BEGIN');
      await session.query('ROLLBACK');
    } finally {
      await session.close();
    }
  });
});
