import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import { compareReports } from '../src/compare/compare.js';
import { resolveRules } from '../src/config/config.js';
import type { QueryReport, Report } from '../src/model/report.js';
import { formatMs } from '../src/report/format.js';
import { renderComparisonMarkdown } from '../src/report/comparison-markdown.js';
import { renderComparisonTable } from '../src/report/comparison-table.js';
import { renderCulprit } from '../src/report/culprit.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { renderSarif } from '../src/report/sarif.js';
import { renderTable } from '../src/report/table.js';
import { runWorkload } from '../src/run/run.js';
import { loadSqlWorkload } from '../src/workload/load.js';
import { createTestDatabase, withSession } from './support/db.js';
import { validateReport } from './support/report-schema.js';

// A shop whose statements do their work inside the database's functions: a PL/pgSQL function that
// scans sales by customer, SQL functions (one PostgreSQL runs as a statement of its own, one it
// inlines into the caller) and a trigger on the sales table.
const SCHEMA = `
CREATE SCHEMA retail;
CREATE TABLE retail.customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE retail.sales (id bigserial PRIMARY KEY, customer_id int NOT NULL, amount numeric NOT NULL, status text NOT NULL);
CREATE TABLE retail.totals (customer_id int PRIMARY KEY, total numeric NOT NULL DEFAULT 0);
CREATE FUNCTION retail.customer_value(p_id int) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
DECLARE v numeric;
BEGIN
  SELECT sum(amount) INTO v FROM retail.sales WHERE customer_id = p_id AND status = 'paid';
  RETURN coalesce(v, 0);
END $$;
-- VOLATILE: run as a statement of its own. Its body names its parameter $1, like a workload statement below.
CREATE FUNCTION retail.sales_count(int) RETURNS bigint LANGUAGE sql VOLATILE AS $$
  SELECT count(*) FROM retail.sales WHERE customer_id = $1
$$;
-- STABLE, one SELECT, called in FROM: inlined into the calling statement.
CREATE FUNCTION retail.sales_of(p int) RETURNS SETOF retail.sales LANGUAGE sql STABLE AS $$
  SELECT * FROM retail.sales WHERE customer_id = p
$$;
CREATE FUNCTION retail.record_sale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE retail.totals SET total = total + NEW.amount WHERE customer_id = NEW.customer_id;
  PERFORM 1 FROM retail.sales WHERE customer_id = NEW.customer_id AND amount > NEW.amount * 100;
  RETURN NEW;
END $$;
CREATE TRIGGER sales_totals AFTER INSERT ON retail.sales FOR EACH ROW EXECUTE FUNCTION retail.record_sale();
ALTER TABLE retail.sales DISABLE TRIGGER sales_totals;
INSERT INTO retail.customers SELECT g, 'customer ' || g FROM generate_series(1, 5000) g;
INSERT INTO retail.sales (customer_id, amount, status)
  SELECT g % 5000 + 1, g % 1000, CASE WHEN g % 10 = 0 THEN 'refunded' ELSE 'paid' END FROM generate_series(1, 300000) g;
INSERT INTO retail.totals (customer_id) SELECT id FROM retail.customers;
ALTER TABLE retail.sales ENABLE TRIGGER sales_totals;
`;

const WORKLOAD = [
  'SELECT retail.customer_value(42);',
  'SELECT name FROM retail.customers WHERE id = 7;',
  'SELECT retail.sales_count(43);',
  'SELECT count(*) FROM retail.sales_of(44);',
  "INSERT INTO retail.sales (customer_id, amount, status) VALUES (45, 10, 'paid');",
  'SELECT count(*) FROM retail.sales WHERE customer_id = 46;',
].join('\n');

// Every statement of this workload takes a few ms: a low threshold makes each slow.
const RULES = resolveRules({ 'slow-mean': { thresholdMs: 1 } });

/** Runs the workload after the schema on `url`, as `querygate run --setup` does: each statement twice. */
async function run(url: string, workload = WORKLOAD, analyze = false): Promise<Report> {
  const dir = mkdtempSync(join(tmpdir(), 'querygate-nested-'));
  try {
    writeFileSync(join(dir, 'schema.sql'), SCHEMA);
    writeFileSync(join(dir, 'workload.sql'), workload);
    const loaded = loadSqlWorkload(
      join(dir, 'workload.sql'),
      { schema: [join(dir, 'schema.sql')] },
      { repeat: 2, connections: 1, rounds: 1 },
    );
    return await runWorkload({
      workload: loaded,
      databaseUrl: url,
      setup: true,
      rules: RULES,
      allowIndexBuild: true,
      analyze,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const top = (report: Report, line: number) => report.queries.find((q) => q.source === `workload.sql:${line}`)!;
const inside = (report: Report, fn: string) => report.queries.filter((q) => q.nested?.functions.includes(fn));
const finding = (q: QueryReport, rule: string) => q.findings.find((f) => f.rule === rule);

describe('statements run inside functions and triggers, on a real PostgreSQL', () => {
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    // The test server records nested statements (pg_stat_statements.track = all), as the embedded one does.
    report = await run(await createTestDatabase('nested'));
  }, 120_000);

  it('gives the statement inside a PL/pgSQL function its plan, finding and validated index', () => {
    expect(report.target.pgStatStatementsTrack).toBe('all');
    const caller = top(report, 1);
    expect(caller.functions).toEqual([{ name: 'retail.customer_value', language: 'plpgsql' }]);
    const [inner, ...others] = inside(report, 'retail.customer_value');
    expect(others).toEqual([]);
    expect(inner!.query).toMatch(
      /^SELECT sum\(amount\)\s+FROM retail\.sales WHERE customer_id = p_id AND status = \$\d$/,
    );
    expect(inner!.nested).toEqual({ functions: ['retail.customer_value'], callers: [caller.fingerprint] });
    expect(inner!.calls).toBe(2);
    // p_id is a parameter of its declared type in the text that was explained.
    expect(inner!.plan?.mode).toBe('generic');
    expect(inner!.plan?.sql).toMatch(/customer_id = \$2::integer AND status = \$1$/);
    const scan = finding(inner!, 'seq-scan-large-table')!;
    expect(scan.severity).toBe('error');
    expect(scan.advice?.sql).toMatch(/ON retail\.sales \(customer_id/);
    expect(scan.advice!.improvement).toBeGreaterThan(0.5);
  });

  it("points the caller's timing finding to the statement inside its function, and to its fix", () => {
    const caller = top(report, 1);
    const [inner] = inside(report, 'retail.customer_value');
    const slow = finding(caller, 'slow-mean')!;
    // One problem, reported on the query inside the function: the caller's slowness is its context.
    expect(slow.severity).toBe('info');
    expect(slow.evidence).toMatchObject({
      explainedBy: 'seq-scan-large-table',
      insideFunction: 'retail.customer_value',
      nestedStatement: inner!.fingerprint,
    });
    expect(slow.suggestion).toContain('its time is spent inside retail.customer_value()');
    expect(slow.suggestion).toContain(finding(inner!, 'seq-scan-large-table')!.advice!.sql);
    expect(caller.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it("places a SARIF result of the statement inside a function at its caller's line", () => {
    const [inner] = inside(report, 'retail.customer_value');
    expect(inner!.line).toBeUndefined();
    const sarif = JSON.parse(renderSarif(report)) as {
      runs: {
        results: {
          ruleId: string;
          properties: { fingerprint: string };
          locations: { physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number } } }[];
        }[];
      }[];
    };
    const result = sarif.runs[0]!.results.find(
      (r) => r.ruleId === 'seq-scan-large-table' && r.properties.fingerprint === inner!.fingerprint,
    )!;
    expect(result.locations[0]!.physicalLocation.region).toEqual({ startLine: 1 });
    expect(result.locations[0]!.physicalLocation.artifactLocation.uri).toBe(report.workload.source);
  });

  it('--analyze: a statement run inside a function says why it was not analyzed, and is not told to use it', async () => {
    const analyzed = await run(await createTestDatabase('nested_analyze'), 'SELECT retail.customer_value(42);', true);
    expect(analyzed.queries.find((q) => !q.nested)?.plan?.mode).toBe('analyze');
    const [inner] = inside(analyzed, 'retail.customer_value');
    // Its text names the function's variable: planned generic, without its values.
    expect(inner!.plan?.mode).toBe('generic');
    expect(inner!.plan?.notAnalyzed).toMatch(/^it ran inside a function: /);
    const said = inner!.findings.map((f) => `${f.message} ${f.suggestion ?? ''}`).join('\n');
    expect(said).not.toContain('run with --analyze');
    expect(said).not.toContain('$n in place of its literals and parameters');
  }, 120_000);

  it('keeps totals and shares to the statements the workload sent: nested time is not counted twice', () => {
    const sent = report.queries.filter((q) => !q.nested);
    expect(sent).toHaveLength(6);
    expect(report.queries.length).toBeGreaterThan(sent.length);
    expect(report.totals.statements).toBe(6);
    expect(report.totals.calls).toBe(12);
    const sum = sent.reduce((s, q) => s + q.totalMs, 0);
    expect(report.totals.totalMs).toBeCloseTo(sum, 2);
    // The caller's time already holds the time of the statement inside its function.
    const caller = top(report, 1);
    const [inner] = inside(report, 'retail.customer_value');
    expect(inner!.totalMs).toBeLessThanOrEqual(caller.totalMs);
    expect(report.totals.totalMs).toBeLessThan(sum + inner!.totalMs);
    expect(sent.reduce((s, q) => s + q.dbTimeShare, 0)).toBeCloseTo(1, 1);
    // The top-level statements come first, then the nested ones.
    expect(report.queries.findIndex((q) => q.nested)).toBe(sent.length);
    // The summary's total is the top-level one, and the nested statement sits under its caller.
    const table = renderTable(report, { width: 160 });
    expect(table).toContain(`${formatMs(report.totals.totalMs)} database time`);
    const lines = table.split('\n');
    const at = lines.findIndex((l) => l.includes('SELECT retail.customer_value($1)'));
    expect(lines[at + 2]).toContain('↳ in retail.customer_value(): SELECT sum(amount)');
    expect(table).toContain("its time is part of its caller's, and not counted again in the total");
    expect(validateReport(JSON.parse(JSON.stringify(report))), JSON.stringify(validateReport.errors)).toBe(true);
    // The demo's conclusion names the statement inside the culprit's function, with its finding.
    const culprit = renderCulprit({
      ...report,
      queries: report.queries.filter((q) => q === caller || q === inner || q === top(report, 2)),
    });
    expect(culprit).toMatch(/^Culprit: "workload\.sql:1" takes/);
    expect(culprit).toContain('  in retail.customer_value(): SELECT sum(amount) FROM retail.sales');
    expect(culprit).toContain('flagged by seq-scan-large-table:');
    const markdown = renderMarkdown(report);
    expect(markdown).toContain(`${formatMs(report.totals.totalMs)} database time · 6 statements (and `);
    expect(markdown).toMatch(/\| ↳ in retail\.customer_value\(\): `SELECT sum\(amount\)/);
  });

  it('reports the statement a SQL function runs unless inlined, apart from the same statement sent at top level', () => {
    const caller = top(report, 3);
    const [inner, ...others] = inside(report, 'retail.sales_count');
    expect(others).toEqual([]);
    expect(inner!.nested?.callers).toEqual([caller.fingerprint]);
    expect(finding(inner!, 'seq-scan-large-table')?.advice?.sql).toMatch(/ON retail\.sales \(customer_id\)/);
    // The same statement sent by the workload: the same fingerprint, two statements.
    const sent = top(report, 6);
    expect(sent.fingerprint).toBe(inner!.fingerprint);
    expect(sent.nested).toBeUndefined();
    expect(sent.calls).toBe(2);
    expect(sent.latency?.count).toBe(2);
    expect(inner!.calls).toBe(2);
    expect(inner!.source).toBeUndefined();
    expect(inner!.latency).toBeNull();
    // A SQL function PostgreSQL inlines runs nothing of its own: its query is in the caller's plan,
    // and so is the finding.
    const inlined = top(report, 4);
    expect(inside(report, 'retail.sales_of')).toEqual([]);
    expect(report.queries.some((q) => q.nested?.callers.includes(inlined.fingerprint))).toBe(false);
    expect(JSON.stringify(inlined.plan?.root)).toContain('"Relation Name":"sales"');
    expect(finding(inlined, 'seq-scan-large-table')?.advice?.sql).toMatch(/ON retail\.sales \(customer_id\)/);
  });

  it("reports a trigger's statements under the write that fires it, typed by the trigger's table", () => {
    const insert = top(report, 5);
    expect(insert.functions).toEqual([
      { name: 'retail.record_sale', language: 'plpgsql', via: 'trigger sales_totals on retail.sales' },
    ]);
    const statements = inside(report, 'retail.record_sale');
    expect(statements).toHaveLength(2);
    for (const q of statements) expect(q.nested?.callers).toEqual([insert.fingerprint]);
    // NEW.amount and NEW.customer_id are parameters of the table's column types.
    const update = statements.find((q) => q.kind === 'update')!;
    expect(update.plan?.sql).toMatch(/SET total = total \+ \$\d::numeric WHERE customer_id = \$\d::integer$/);
    expect(JSON.stringify(update.plan?.root)).toContain('totals_pkey');
    expect(update.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    const perform = statements.find((q) => q.kind === 'select')!;
    expect(finding(perform, 'seq-scan-large-table')?.advice?.sql).toMatch(/ON retail\.sales \(customer_id/);
    const slow = finding(insert, 'slow-mean')!;
    expect(slow.evidence).toMatchObject({ insideFunction: 'retail.record_sale', nestedStatement: perform.fingerprint });
    expect(slow.suggestion).toContain('inside retail.record_sale() (trigger sales_totals on retail.sales)');
  });

  it('compares nested statements with nested ones only, and not as new against a report that did not record them', () => {
    const same = compareReports(report, report);
    expect(same.counts).toMatchObject({ matched: report.queries.length, added: 0, removed: 0, regressions: 0 });
    const before: Report = {
      ...report,
      target: { ...report.target, pgStatStatementsTrack: 'top' },
      queries: report.queries.filter((q) => !q.nested),
    };
    const comparison = compareReports(before, report);
    expect(comparison.verdict).toBe('ok');
    expect(comparison.added.length).toBe(report.queries.length - before.queries.length);
    for (const added of comparison.added) {
      expect(added.nested).toBeDefined();
      expect(added.regressions).toEqual([]);
      expect(added.note).toMatch(/^ran inside a function: base's report does not record such statements/);
    }
    expect(comparison.warnings.join('\n')).toMatch(
      /head records the statements run inside functions and triggers, base does not/,
    );
    // Shown as what they are, where they ran.
    const table = renderComparisonTable(comparison, { width: 160 });
    expect(table).toContain('↳ in retail.customer_value(): SELECT sum(amount)');
    expect(table).toContain("note: ran inside a function: base's report does not record such statements");
    const [inner] = inside(report, 'retail.customer_value');
    const indexed: Report = {
      ...report,
      queries: report.queries.map((q) => (q === inner ? { ...q, sharedBlksPerCall: 3 } : q)),
    };
    const improved = compareReports(report, indexed);
    expect(improved.statements.find((m) => m.nested)?.verdict).toBe('improvement');
    expect(renderComparisonTable(improved, { width: 160 })).toMatch(/│ ↳ in retail\.customer_value\(\): SELECT sum/);
    expect(renderComparisonMarkdown(improved)).toContain(
      '| improvement | ↳ in retail.customer_value(): `SELECT sum(amount)',
    );
    expect(renderComparisonMarkdown(comparison)).toMatch(/- ↳ in retail\.customer\\?_value\(\): `SELECT sum\(amount\)/);
  });
});

describe('a server that records only top-level statements (pg_stat_statements.track = top)', () => {
  it('names the function a slow statement calls, and the setting that would show what it runs', async () => {
    await loadParser();
    const url = await createTestDatabase('nested_top');
    const database = new URL(url).pathname.slice(1);
    await withSession(url, (s) => s.query(`ALTER DATABASE ${database} SET pg_stat_statements.track = 'top'`));
    const report = await run(url, 'SELECT retail.customer_value(42);\nSELECT name FROM retail.customers WHERE id = 7;');
    expect(report.target.pgStatStatementsTrack).toBe('top');
    expect(report.queries.filter((q) => q.nested)).toEqual([]);
    const caller = top(report, 1);
    // Unexplained by its plan: one timing finding is the warning, and each says where the time goes.
    const timing = caller.findings.filter((f) => f.rule === 'slow-mean' || f.rule === 'high-db-time-share');
    expect(timing.map((f) => f.severity)).toContain('warning');
    for (const f of timing)
      expect(f.suggestion).toMatch(
        /^its time is likely spent inside retail\.customer_value\(\) \(plpgsql\), whose statements pg_stat_statements does not record on this server \(pg_stat_statements\.track = top\): set it to all \(ALTER SYSTEM SET pg_stat_statements\.track = 'all'; SELECT pg_reload_conf\(\);\)/,
      );
  }, 120_000);
});

describe('a statement another role ran with other text (one queryid, an entry per role)', () => {
  it("takes each statement's text from the replay role's own entry, so it stays linked to its function", async () => {
    await loadParser();
    const url = await createTestDatabase('nested_roles');
    await withSession(url, (s) => s.query(SCHEMA));
    // Other roles run the function's statement as a PREPARE of their own, with other text: the
    // server keeps one entry (and one text) per role, and lists them in hash order. Several, so that
    // the replay role's entry is unlikely to be the one that happens to come last.
    const suffix = Date.now().toString(36);
    for (let n = 1; n <= 8; n++) {
      const role = `other_${n}_${suffix}`;
      await withSession(url, async (s) => {
        await s.query(`CREATE ROLE ${role} LOGIN PASSWORD 'other-secret'`);
        await s.query(`GRANT USAGE ON SCHEMA retail TO ${role}`);
        await s.query(`GRANT SELECT ON retail.sales TO ${role}`);
      });
      const other = new URL(url);
      other.username = role;
      other.password = 'other-secret';
      await withSession(other.toString(), async (s) => {
        await s.query(
          `PREPARE p${n}(int) AS select SUM(amount) from retail.sales  where customer_id = $1 and status = 'paid'`,
        );
        await s.query(`EXPLAIN EXECUTE p${n}(${n})`);
      });
    }
    const dir = mkdtempSync(join(tmpdir(), 'querygate-nested-roles-'));
    let report: Report;
    try {
      writeFileSync(join(dir, 'workload.sql'), 'SELECT retail.customer_value(42);');
      const loaded = loadSqlWorkload(join(dir, 'workload.sql'), {}, { repeat: 2, connections: 1, rounds: 1 });
      report = await runWorkload({ workload: loaded, databaseUrl: url, rules: RULES });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const caller = top(report, 1);
    const nested = report.queries.filter((q) => q.nested);
    expect(nested.map((q) => q.query)).toEqual([
      expect.stringMatching(/^SELECT sum\(amount\)\s+FROM retail\.sales WHERE customer_id = p_id AND status = \$\d$/),
    ]);
    expect(nested[0]!.nested).toEqual({ functions: ['retail.customer_value'], callers: [caller.fingerprint] });
    expect(nested[0]!.calls).toBe(2);
  }, 120_000);
});
