import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/compare/compare.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { renderComparisonTable } from '../../src/report/comparison-table.js';
import { relabelBase, relabelHead } from './support.js';

/** A copy of `report` with `change` applied to every finding. */
function withFindings(report: Report, change: (f: Finding) => Finding): Report {
  return { ...report, queries: report.queries.map((q) => ({ ...q, findings: q.findings.map(change) })) };
}

const unmerged = (f: Finding): Finding => {
  const { sameFixAs: _merged, ...evidence } = f.evidence;
  return { ...f, evidence };
};

const rulesOf = (r: Report) =>
  r.queries.flatMap((q) => q.findings.map((f) => `${f.rule} ${f.evidence.sameFixAs ?? ''}`));

describe('compareReports: a problem another rule names once an index exists', () => {
  it("is no new finding when head merged base's rule into it as the same fix", () => {
    // The same scans, named by another rule in head.
    expect(rulesOf(relabelBase)).toEqual(['seq-scan-large-table ', 'seq-scan-large-table ']);
    expect(rulesOf(relabelHead)).toEqual([
      'non-sargable-predicate seq-scan-large-table',
      'non-sargable-predicate seq-scan-large-table',
    ]);
    const c = compareReports(relabelBase, relabelHead);
    expect(c.verdict).toBe('ok');
    expect(c.counts.regressions).toBe(0);
    for (const s of c.statements) {
      expect(s.newFindings).toEqual([]);
      expect(s.resolvedFindings).toEqual([]);
      expect(s.regressions).toEqual([]);
      expect(s.improvements.map((r) => r.messageId)).not.toContain('resolved-finding');
      expect(s.findingNotes).toEqual([
        "error finding non-sargable-predicate on public.readings in head is base's seq-scan-large-table finding, " +
          'named by another rule: the same problem with the same fix (evidence.sameFixAs), not a new finding',
      ]);
    }
    const table = renderComparisonTable(c, { width: 400 });
    expect(table).toContain('OK: no regression');
    expect(table).not.toContain('new-finding');
  });

  it('is no new or resolved finding the other way either (the index dropped)', () => {
    const c = compareReports(relabelHead, relabelBase);
    expect(c.counts.regressions).toBe(0);
    for (const s of c.statements) {
      expect(s.newFindings).toEqual([]);
      expect(s.resolvedFindings).toEqual([]);
    }
  });

  it('matches any rule merged into a finding, whichever rule keeps it, and only those', () => {
    const merged = withFindings(relabelHead, (f) => ({
      ...f,
      rule: 'nested-loop-heavy',
      evidence: { ...f.evidence, sameFixAs: 'index-scan-filter, seq-scan-large-table' },
    }));
    const c = compareReports(relabelBase, merged);
    expect(c.counts.regressions).toBe(0);
    expect(c.statements.flatMap((s) => s.newFindings)).toEqual([]);
    // Another rule on the relation, into which the run merged no rule of base's, is a new finding.
    const other = compareReports(relabelBase, withFindings(relabelHead, unmerged));
    expect(other.verdict).toBe('regression');
    for (const s of other.statements) expect(s.newFindings.map((f) => f.rule)).toEqual(['non-sargable-predicate']);
  });
});
