import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseReport } from '../../src/report/read.js';
import { renderRoutesTable } from '../../src/report/routes.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';
import { compareReports } from '../../src/compare/compare.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderTable } from '../../src/report/table.js';
import { renderGithub } from '../../src/report/github.js';
import { renderJunit } from '../../src/report/junit.js';
import { renderSarif } from '../../src/report/sarif.js';
import { fitLines, formatCount } from '../../src/report/format.js';
import { fixtureReport } from '../budget/support.js';

const tableLines = (text: string) => text.split('\n').filter((l) => /^[│┌├└]/.test(l));

describe('the terminal summary table', () => {
  it('says in one line that no statement was recorded, instead of a table of headers alone', () => {
    const report = fixtureReport();
    const text = renderTable({ ...report, queries: [] }, { width: 120 });
    expect(tableLines(text)).toEqual([]);
    expect(text.split('\n')).toContain('no statement was recorded: no statements to list');
  });

  it('fits the terminal, leaving out the least needed columns first', () => {
    const report = fixtureReport();
    for (const width of [40, 50, 60, 70, 80, 100, 120, 160]) {
      const text = renderTable(report, { width });
      const lines = tableLines(text);
      expect(lines.length).toBeGreaterThan(3);
      // Every line, the findings' headlines and fixes included.
      expect(
        text.split('\n').filter((l) => l.length > width),
        `width ${width}`,
      ).toEqual([]);
    }
    const narrow = renderTable(report, { width: 80 });
    // Every line, the findings' headlines and fixes included.
    expect(narrow.split('\n').filter((l) => l.length > 80)).toEqual([]);
    expect(narrow).toContain('statement');
    expect(narrow).toContain('total');
    const header = (text: string) => text.split('\n').find((l) => l.includes('statement') && l.includes('total'))!;
    expect(header(narrow)).not.toContain('costliest plan node');
    // The columns a narrow terminal leaves out are named under the table.
    expect(narrow.replace(/\n\s*/g, ' ')).toContain(
      '(left out to fit 80 columns: p95, rows/call, blks/call, costliest plan node;',
    );
    const wide = renderTable(report, { width: 160 });
    for (const head of ['p95', 'rows/call', 'blks/call', 'costliest plan node']) expect(header(wide)).toContain(head);
    expect(wide).not.toContain('left out to fit');
    // Narrower than 80 columns: the share, the calls, then the mean go, the rank and total stay.
    const sixty = renderTable(report, { width: 60 });
    expect(header(sixty)).toMatch(/^│ # +│ total +│ mean +│ statement +│$/);
    expect(sixty.replace(/\n\s*/g, ' ')).toContain(
      '(left out to fit 60 columns: share, calls, p95, rows/call, blks/call, costliest plan node;',
    );
    // Narrower than querygate lays out: the narrowest it does, and the note says so.
    const thirty = renderTable(report, { width: 30 });
    expect(Math.max(...thirty.split('\n').map((l) => l.length))).toBeLessThanOrEqual(40);
    expect(thirty.replace(/\n\s*/g, ' ')).toContain(
      '(left out to fit 40 columns, the narrowest querygate lays out, not 30: share, calls, mean, p95,',
    );
  });

  it('shows statements whose every call failed first, as failed, with their failed calls counted in words', () => {
    const base = fixtureReport();
    const last = base.queries.length - 1;
    // The last by database time failed every call (a statement timeout); another failed once in 12.
    const report = {
      ...base,
      queries: base.queries.map((q, i) =>
        i === last
          ? { ...q, calls: 0, errors: 2, totalMs: 0, meanMs: 0, dbTimeShare: 0, rowsPerCall: 0, sharedBlksPerCall: 0 }
          : i === 1
            ? { ...q, calls: 11, errors: 1 }
            : q,
      ),
    };
    for (const width of [80, 160]) {
      const text = renderTable(report, { width, top: 3 });
      expect(text.split('\n').filter((l) => l.length > width)).toEqual([]);
      const rows = tableLines(text).filter((l) => /^│ \d/.test(l));
      // First, whatever --top, with its rank: the findings below say #N.
      expect(rows[0]).toMatch(new RegExp(`^│ ${last + 1} +│ failed +│ - +│ 0 +│ - +│`));
      expect(rows.map((l) => l.split('│')[1]!.trim())).toEqual([String(last + 1), '1', '2']);
      // On a line of its own, never cut in the middle.
      expect(text).toMatch(/│ all 2 calls failed +│/);
      expect(text).toMatch(/│ 1 of 12 calls failed +│/);
      expect(text).not.toMatch(/errors\]/);
      expect(text).toContain(`… and ${base.queries.length - 3} more statement(s) in the JSON report`);
    }
    const markdown = renderMarkdown(report, { top: 3 });
    expect(markdown).toMatch(
      new RegExp(`\\| ${last + 1} \\| \\*\\*failed\\*\\* \\| - \\| 0 \\| - \\|.*\\(all 2 calls failed\\) \\|`),
    );
    expect(markdown).toContain('(1 of 12 calls failed) |');
  });

  it('counts the calls in its header with those that failed, and says one call in the singular', () => {
    const base = fixtureReport();
    const sent = base.queries.filter((q) => !q.nested).reduce((s, q) => s + q.calls, 0);
    const failing = {
      ...base,
      queries: base.queries.map((q, i) => (i === 1 ? { ...q, calls: q.calls - 3, errors: 3 } : q)),
    };
    const header = (text: string) => text.split('\n').slice(0, 2).join(' ');
    expect(header(renderTable(failing, { width: 300 }))).toContain(`: ${formatCount(sent)} calls (3 failed), `);
    expect(renderMarkdown(failing, { top: 3 })).toContain(`· ${formatCount(sent)} calls (3 failed) ·`);
    const [one] = base.queries.filter((q) => !q.nested);
    const single = { ...base, queries: [{ ...one!, calls: 1, errors: 0 }], totals: { ...base.totals, statements: 1 } };
    expect(header(renderTable(single, { width: 300 }))).toMatch(/: 1 call, /);
    expect(renderMarkdown(single, { top: 3 })).toMatch(/ · 1 call · .* · 1 statement\b/);
  });

  it('shows the statements run inside functions under their caller, after the statements whose every call failed', () => {
    const base = fixtureReport();
    const last = base.queries.length - 1;
    const [first] = base.queries;
    // The costliest statement runs a function whose statement is recorded; the last failed every call.
    const inner = {
      ...first!,
      fingerprint: 'inner',
      query: 'SELECT sum(total) FROM orders WHERE customer_id = p_id',
      source: undefined,
      findings: [],
      nested: { functions: ['shop.customer_value'], callers: [first!.fingerprint] },
    };
    const report = {
      ...base,
      queries: [
        ...base.queries.map((q, i) =>
          i === last
            ? { ...q, calls: 0, errors: 2, totalMs: 0, meanMs: 0, dbTimeShare: 0, rowsPerCall: 0, sharedBlksPerCall: 0 }
            : q,
        ),
        inner,
      ],
    };
    const rows = tableLines(renderTable(report, { width: 160, top: 2 })).filter((l) => /^│ \d/.test(l));
    expect(rows.map((l) => l.split('│')[1]!.trim())).toEqual([String(last + 1), '1', String(report.queries.length)]);
    expect(rows[2]).toContain('↳ in shop.customer_value(): SELECT sum(total)');
    const markdown = renderMarkdown(report, { top: 2 });
    const lines = markdown.split('\n').filter((l) => /^\| \d/.test(l));
    expect(lines.map((l) => l.split('|')[1]!.trim())).toEqual([String(last + 1), '1', String(report.queries.length)]);
  });

  it('shows statements cut short by an interrupt first too, with nothing measured and their cancelled calls in words', () => {
    const base = fixtureReport();
    const last = base.queries.length - 1;
    // The interrupt found the last statement running on two connections, before any call of it
    // completed; another one it found running once, after 11 calls.
    const report = {
      ...base,
      run: { ...base.run, complete: false, interruptedBy: 'interrupted by SIGINT' },
      queries: base.queries.map((q, i) =>
        i === last
          ? {
              ...q,
              calls: 0,
              totalMs: 0,
              meanMs: 0,
              dbTimeShare: 0,
              rowsPerCall: 0,
              sharedBlksPerCall: 0,
              cancelledAtStop: { calls: 2, longestMs: 31_250 },
            }
          : i === 1
            ? { ...q, calls: 11, cancelledAtStop: { calls: 1, longestMs: 420 } }
            : q,
      ),
    };
    const text = renderTable(report, { width: 160, top: 3 });
    const rows = tableLines(text).filter((l) => /^│ \d/.test(l));
    expect(rows[0]).toMatch(new RegExp(`^│ ${last + 1} +│ - +│ - +│ 0 +│ - +│`));
    expect(text).toMatch(/│ 2 calls cut short by the stop, longest 31\.3 s +│/);
    expect(text).toMatch(/│ 1 call cut short by the stop, after 420 ms +│/);
    expect(text).not.toMatch(/calls? failed/);
    const markdown = renderMarkdown(report, { top: 3 });
    expect(markdown).toMatch(
      new RegExp(
        `\\| ${last + 1} \\| - \\| - \\| 0 \\| - \\|.*\\(2 calls cut short by the stop, longest 31\\.3 s\\) \\|`,
      ),
    );
    expect(markdown).toContain('(1 call cut short by the stop, after 420 ms) |');
  });

  it('fits the routes table to the terminal too', () => {
    const path = fileURLToPath(new URL('../compare/fixtures/reports/http-base.json', import.meta.url));
    const report = parseReport(readFileSync(path, 'utf8'), path);
    for (const width of [40, 60, 80, 100, 120, 160]) {
      const text = renderRoutesTable(report, { width });
      const lines = tableLines(text);
      expect(lines.length).toBeGreaterThan(3);
      expect(Math.max(...text.split('\n').map((l) => l.length)), `width ${width}`).toBeLessThanOrEqual(width);
    }
    expect(renderRoutesTable(report, { width: 200 })).toContain('p50');
    // The application sends an HTTP run's statements: no client latency per statement, no p95 column.
    expect(report.queries.every((q) => !q.latency)).toBe(true);
    expect(renderTable(report, { width: 200 })).not.toContain('p95');
    expect(renderRoutesTable(report, { width: 120 }).split('\n')[2]).not.toContain('p50');
    expect(renderRoutesTable(report, { width: 120 })).toContain('(left out to fit 120 columns: req/s, p50');
    // Below the width the statement column needs, each route's top statement is a line of its own.
    const narrow = renderRoutesTable(report, { width: 80 });
    expect(narrow).toContain('Top statement per route (calls per request):');
    for (const route of report.routes ?? [])
      if (route.statements.length > 0) expect(narrow).toContain(`  ${route.name}: `);
  });

  it('fits the comparison tables to the terminal, the verdict never cut', () => {
    const read = (name: string) => {
      const path = fileURLToPath(new URL(`../compare/fixtures/reports/${name}`, import.meta.url));
      return parseReport(readFileSync(path, 'utf8'), path);
    };
    const comparisons = [
      compareReports(read('http-base.json'), read('http-head.json')),
      compareReports(read('with-index.json'), read('without-index.json')),
      compareReports(read('without-index.json'), read('with-index.json')),
    ];
    for (const c of comparisons) {
      for (const width of [40, 60, 80, 120, 160]) {
        const text = renderComparisonTable(c, { width });
        const lines = tableLines(text);
        expect(lines.length).toBeGreaterThan(3);
        expect(Math.max(...lines.map((l) => l.length)), `width ${width}`).toBeLessThanOrEqual(width);
        expect(text).not.toMatch(/improveme…|regressi…/);
      }
    }
  });

  it('prints a fix once per statement when two rules give the same one', () => {
    const report = fixtureReport();
    const [first, ...rest] = report.queries;
    const finding = { ...first!.findings[0]!, suggestion: 'CREATE INDEX ON shop.orders (status);', advice: undefined };
    const twice = {
      ...report,
      queries: [{ ...first!, findings: [finding, { ...finding, rule: 'another-rule' }] }, ...rest],
    };
    const text = renderTable(twice, { width: 160 });
    expect(text.split('CREATE INDEX ON shop.orders (status);')).toHaveLength(2);
    expect(text).toContain(`fix: the same as for ${finding.rule} above`);
  });

  it("prints what a suggestion says beside its validated index: a note on the index, and the rule's other fix", () => {
    const report = fixtureReport();
    const [first, ...rest] = report.queries;
    const sql = 'CREATE INDEX orders_status_idx ON shop.orders (status);';
    const finding = {
      ...first!.findings[0]!,
      advice: { sql, method: 'rollback-build' as const, costBefore: 1000, costAfter: 10, improvement: 0.99 },
      suggestion: `${sql} -- on a partitioned table CONCURRENTLY is not available -- or: compare the bare column`,
    };
    const report2 = { ...report, queries: [{ ...first!, findings: [finding] }, ...rest] };
    const text = renderTable(report2, { width: 160 });
    expect(text).toContain(`fix: ${sql} (plan cost 1000 -> 10, validated with rollback-build)`);
    expect(text).toMatch(/^ +note: on a partitioned table CONCURRENTLY is not available$/m);
    expect(text).toMatch(/^ +or: compare the bare column$/m);
    const md = renderMarkdown(report2);
    expect(md).toContain('on a partitioned table CONCURRENTLY is not available');
    expect(md).toContain('Or: compare the bare column');
  });

  it('prints the fixes in the order of the suggestion: a rewrite before the validated index, its note under it', () => {
    const report = fixtureReport();
    const [first, ...rest] = report.queries;
    const sql = 'CREATE INDEX orders_status_idx ON shop.orders (status);';
    const finding = {
      ...first!.findings[0]!,
      advice: { sql, method: 'rollback-build' as const, costBefore: 1000, costAfter: 10, improvement: 0.99 },
      suggestion: `compare the bare column -- or: ${sql} -- on a partitioned table CONCURRENTLY is not available`,
    };
    const report2 = { ...report, queries: [{ ...first!, findings: [finding] }, ...rest] };
    const text = renderTable(report2, { width: 160 });
    expect(text).toMatch(
      /^ +fix: compare the bare column\n +or: CREATE INDEX orders_status_idx ON shop\.orders \(status\); \(plan cost 1000 -> 10, validated with rollback-build\)\n +note: on a partitioned table CONCURRENTLY is not available$/m,
    );
    const md = renderMarkdown(report2);
    expect(md).toMatch(
      /Fix: compare the bare column\n\s+Or \(plan cost 1000 → 10, validated with rollback-build\):\n\s+```sql\n +CREATE INDEX orders_status_idx/,
    );
    const junit = renderJunit(report2);
    expect(junit).toMatch(
      / {2}fix: compare the bare column\n {2}or: CREATE INDEX orders_status_idx .*\(plan cost 1000 -&gt; 10\)/,
    );
    expect(renderGithub(report2)).toContain(`fix: compare the bare column%0Aor: ${sql}`);
    expect(renderSarif(report2)).toContain(`Fix: compare the bare column Or: ${sql}`);
  });

  it('fits free text to the width: long lines wrap under their own indent, table lines stay whole', () => {
    const long = `  its query: ${'SELECT a, b FROM t WHERE c = $1 '.repeat(6)}`.trimEnd();
    const table = `│ ${'x'.repeat(100)} │`;
    const fitted = fitLines(['Culprit: short', long, table].join('\n'), 80).split('\n');
    expect(fitted[0]).toBe('Culprit: short');
    expect(fitted.filter((l) => l.length > 80)).toEqual([table]);
    expect(fitted.slice(1, -1).every((l, i) => l.startsWith(i === 0 ? '  its query:' : '    '))).toBe(true);
    expect(fitted.slice(1, -1).join(' ').replace(/\s+/g, ' ')).toBe(long.replace(/\s+/g, ' '));
  });
});
