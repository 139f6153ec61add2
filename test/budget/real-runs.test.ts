/**
 * The gate on reports of real CI runs (fixtures/payments/README.md, fixtures/pm-http/README.md):
 * what a busy machine, another mix of parameters or ANALYZE's sample does to a statement whose work
 * did not change fails no gate, and a real regression still does.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gateReport } from '../../src/budget/gate.js';
import type { Budget } from '../../src/model/budget.js';
import type { Report } from '../../src/model/report.js';
import { renderFormat } from '../../src/report/formats.js';

const load = (dir: string, name: string) =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`./fixtures/${dir}/${name}.json`, import.meta.url)), 'utf8')) as Report;

function budget(parts: Partial<Budget>): Budget {
  return { source: 'querygate.budget.yaml', limits: {}, statements: [], rules: {}, accepted: [], lines: {}, ...parts };
}

describe('a violation never reads like a pass', () => {
  it('shows the digits that tell the measured value from the limit, in every output', () => {
    // The limit of a budget made before: 190 ms, against a median of 190.17 ms over 5 rounds.
    const gated = gateReport(
      load('payments', 'index-dropped'),
      budget({
        statements: [{ name: 'account by customer ref', fingerprint: 'bcfbd2dbb0318129', maxMeanMs: 190 }],
        lines: { 'statements[0].maxMeanMs': 14 },
      }),
      { failOn: 'never' },
    );
    const m = gated.gate!.limits[0]!.measurements[0]!;
    expect(m.passed).toBe(false);
    expect(m.measured).toBeGreaterThan(190);
    expect(m.measured).toBeLessThan(190.5);
    for (const format of ['table', 'markdown', 'junit', 'github', 'sarif'] as const) {
      const out = renderFormat(format, gated, { width: 160 });
      expect(out, format).toContain('190.166 ms');
      expect(out, format).not.toMatch(/190 ms (>|&gt;) 190 ms/);
    }
  });
});
