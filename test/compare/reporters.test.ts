import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/compare/compare.js';
import { renderComparisonJson } from '../../src/report/comparison-json.js';
import { renderComparisonMarkdown } from '../../src/report/comparison-markdown.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';
import { withIndex, withoutIndex } from './support.js';

const regression = compareReports(withIndex, withoutIndex);
const same = compareReports(withIndex, withIndex);

describe('renderComparisonTable', () => {
  const text = renderComparisonTable(regression, { width: 140 });

  it('leads with the verdict and names each regression with its plan diff', () => {
    expect(text).toMatch(/^querygate compare\n {2}base: workload on PostgreSQL 18\.\d+/);
    expect(text).toContain('REGRESSION: 2 statement(s) regressed');
    expect(
      text.match(/^ {4}scan-downgrade: .*Scan on orders -> Seq Scan on orders \(a table of 30k rows\)$/gm),
    ).toHaveLength(2);
    expect(text.match(/^ {6}\+ +-> Seq Scan on orders$/gm)).toHaveLength(2);
    expect(text).toContain('index orders_customer_idx on orders no longer used (it does not exist in head)');
    expect(text).toContain('2 matched statement(s) unchanged (--all lists them)');
    expect(text).not.toContain(String.fromCharCode(27)); // no colour unless asked
  });

  it('lists unchanged statements with --all and says OK when nothing regressed', () => {
    const ok = renderComparisonTable(same, { all: true });
    expect(ok).toContain('OK: no regression (4 matched, 0 new, 0 removed');
    expect(ok).not.toContain('Regressions:');
    expect(ok.match(/│ unchanged/g)).toHaveLength(4);
  });
});

describe('renderComparisonMarkdown', () => {
  const md = renderComparisonMarkdown(regression);

  it('is a pull-request comment: title, table, regressions with diff blocks', () => {
    expect(md.split('\n')[0]).toBe('## ❌ querygate: 2 regression(s)');
    expect(md).toContain('| verdict | statement | plan cost | blocks/call | rows/call | mean time | calls/request |');
    expect(md.match(/^\| \*\*regression\*\* \|/gm)).toHaveLength(2);
    expect(md).toContain('### Regressions');
    expect(md.match(/^```diff$/gm)).toHaveLength(2);
    expect(md.match(/^- \*\*scan-downgrade\*\*: /gm)).toHaveLength(2);
    // Every fence and <details> is closed.
    expect(md.match(/^```/gm)!.length % 2).toBe(0);
    expect(md.match(/<details>/g)?.length).toBe(md.match(/<\/details>/g)?.length);
    expect(md.endsWith('\n')).toBe(true);
  });

  it('keeps table rows intact when the SQL contains pipes and backticks', () => {
    const piped = {
      ...withoutIndex,
      queries: withoutIndex.queries.map((q, i) =>
        i === 0 ? { ...q, query: `SELECT a || b AS "x\`y" FROM orders WHERE ${q.query}` } : q,
      ),
    };
    const rows = renderComparisonMarkdown(compareReports(withIndex, piped))
      .split('\n')
      .filter((l) => l.startsWith('| '));
    expect(rows.length).toBeGreaterThan(2);
    for (const row of rows) expect(row.replace(/\\\|/g, '').split('|')).toHaveLength(9); // 7 cells
  });

  it('writes SQL in code spans outside tables as it is: GFM shows a backslash there', () => {
    const piped = {
      ...withoutIndex,
      queries: withoutIndex.queries.map((q, i) =>
        i === 0 ? { ...q, query: `SELECT a || b FROM (${q.query}) AS s` } : q,
      ),
    };
    const md = renderComparisonMarkdown(compareReports(withIndex, piped));
    const outside = md.split('\n').filter((l) => !l.startsWith('|') && l.includes('SELECT a'));
    expect(outside.length).toBeGreaterThan(0);
    for (const line of outside) {
      expect(line).toContain('SELECT a || b');
      expect(line).not.toContain('\\|');
    }
    // In table rows the pipe is escaped, as GFM needs there.
    expect(md.split('\n').filter((l) => l.startsWith('| ') && l.includes('SELECT a'))[0]).toContain('a \\|\\| b');
  });

  it('says so when there is no regression', () => {
    const ok = renderComparisonMarkdown(same, { headingLevel: 3 });
    expect(ok.split('\n')[0]).toBe('### ✅ querygate: no regression');
    expect(ok).not.toContain('Regressions');
    expect(ok).toContain('4 matched statement(s) unchanged.');
  });
});

describe('renderComparisonJson', () => {
  it('round-trips the comparison', () => {
    expect(JSON.parse(renderComparisonJson(regression))).toEqual(regression);
  });
});
