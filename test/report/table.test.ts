import { describe, expect, it } from 'vitest';
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
});
