/**
 * `check` with a `rules:` section runs the rules again over a saved report: the index advice the run
 * validated on the planner must survive it (reports of real runs, fixtures/payments/README.md).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { gateReport } from '../../src/budget/gate.js';
import type { Budget } from '../../src/model/budget.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { renderFormat } from '../../src/report/formats.js';

const load = (name: string) =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`./fixtures/payments/${name}.json`, import.meta.url)), 'utf8'),
  ) as Report;

function budget(parts: Partial<Budget>): Budget {
  return { source: 'querygate.budget.yaml', limits: {}, statements: [], rules: {}, accepted: [], lines: {}, ...parts };
}

const advised = (report: Report) =>
  report.queries.flatMap((q) =>
    q.findings.filter((f) => f.advice !== undefined).map((f) => ({ fingerprint: q.fingerprint, finding: f })),
  );

const findingOf = (report: Report, fingerprint: string, rule: string): Finding | undefined =>
  report.queries.find((q) => q.fingerprint === fingerprint)?.findings.find((f) => f.rule === rule);

describe('rules run again over a saved report keep the run’s validated index advice', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('keeps the validated index and its costs, with rule settings from the budget or the config', () => {
    const report = load('main');
    const before = advised(report);
    expect(before.length).toBeGreaterThan(0);
    const settings = { 'seq-scan-large-table': { minRows: 5000 }, 'slow-mean': { thresholdMs: 150 } };
    for (const gated of [
      gateReport(report, budget({ rules: settings }), { rerunRules: true, failOn: 'never' }),
      gateReport(report, undefined, { config: settings, rerunRules: true, failOn: 'never' }),
    ]) {
      for (const { fingerprint, finding } of before) {
        const again = findingOf(gated, fingerprint, finding.rule);
        expect(again?.advice).toEqual(finding.advice);
        expect(again?.suggestion).toBe(finding.suggestion);
        expect(again?.suggestion).not.toContain('not validated');
      }
      // And what the pull-request comment and the annotations print is that index.
      const markdown = renderFormat('markdown', gated);
      for (const { finding } of before) expect(markdown).toContain(finding.advice!.sql);
    }
  });

  it('keeps what the planner said when no index helps, instead of proposing the rejected index', () => {
    const report = load('main');
    const [{ fingerprint, finding }] = advised(report) as [{ fingerprint: string; finding: Finding }];
    // The form a run saves when every candidate was judged and none helped: no advice, the verdict.
    const verdict =
      'no index helps: the best candidate, an index on (lower(customer_ref)), lowers the plan cost only from 2334 to 2100 (10%, validated with rollback-build)';
    const judged: Report = {
      ...report,
      queries: report.queries.map((q) =>
        q.fingerprint !== fingerprint
          ? q
          : {
              ...q,
              findings: q.findings.map((f) => {
                if (f !== finding) return f;
                const { advice: _advice, ...rest } = f;
                return { ...rest, suggestion: verdict };
              }),
            },
      ),
    };
    const gated = gateReport(judged, undefined, {
      config: { 'slow-mean': { thresholdMs: 150 } },
      rerunRules: true,
      failOn: 'never',
    });
    const again = findingOf(gated, fingerprint, finding.rule);
    expect(again?.suggestion).toBe(verdict);
    expect(again?.advice).toBeUndefined();
  });

  it('still applies the new settings: severities and thresholds of the rules run again', () => {
    const report = load('main');
    const [{ fingerprint, finding }] = advised(report) as [{ fingerprint: string; finding: Finding }];
    const gated = gateReport(report, budget({ rules: { [finding.rule]: 'warning', 'seq-scan-large-table': 'off' } }), {
      rerunRules: true,
      failOn: 'never',
    });
    const again = findingOf(gated, fingerprint, finding.rule);
    expect(again?.severity).toBe('warning');
    expect(again?.advice).toEqual(finding.advice);
  });

  it('gives the validated index to the finding that now leads on the same scan', () => {
    // The run kept non-sargable-predicate and merged seq-scan-large-table into it (same fix): with
    // the former at info, the latter leads, and the index the run validated is its fix.
    const report = load('main');
    const [{ fingerprint, finding }] = advised(report) as [{ fingerprint: string; finding: Finding }];
    expect(finding.evidence.sameFixAs).toBe('seq-scan-large-table');
    const gated = gateReport(report, budget({ rules: { [finding.rule]: 'info' } }), {
      rerunRules: true,
      failOn: 'never',
    });
    const lead = findingOf(gated, fingerprint, 'seq-scan-large-table');
    expect(lead?.advice).toEqual(finding.advice);
    expect(lead?.suggestion).toContain(finding.advice!.sql);
    expect(lead?.suggestion).not.toContain('not validated');
  });
});
