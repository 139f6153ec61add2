import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseReport } from '../../src/report/read.js';
import { renderRoutesTable } from '../../src/report/routes.js';
import { renderTable } from '../../src/report/table.js';
import { fixtureReport } from '../budget/support.js';

const tableLines = (text: string) => text.split('\n').filter((l) => /^[│┌├└]/.test(l));

describe('the terminal summary table', () => {
  it('fits the terminal, leaving out the least needed columns first', () => {
    const report = fixtureReport();
    for (const width of [80, 100, 120, 160]) {
      const lines = tableLines(renderTable(report, { width }));
      expect(lines.length).toBeGreaterThan(3);
      expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(width);
    }
    const narrow = renderTable(report, { width: 80 });
    expect(narrow).toContain('statement');
    expect(narrow).toContain('total');
    expect(narrow).not.toContain('costliest plan node');
    const wide = renderTable(report, { width: 160 });
    for (const head of ['p95', 'rows/call', 'blks/call', 'costliest plan node']) expect(wide).toContain(head);
  });

  it('fits the routes table to the terminal too', () => {
    const path = fileURLToPath(new URL('../compare/fixtures/reports/http-base.json', import.meta.url));
    const report = parseReport(readFileSync(path, 'utf8'), path);
    for (const width of [120, 160]) {
      const lines = tableLines(renderRoutesTable(report, { width }));
      expect(lines.length).toBeGreaterThan(3);
      expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(width);
    }
    expect(renderRoutesTable(report, { width: 200 })).toContain('p50');
    expect(renderRoutesTable(report, { width: 120 })).not.toContain('p50');
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
});
