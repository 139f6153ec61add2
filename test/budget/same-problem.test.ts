import { describe, expect, it } from 'vitest';
import { evaluateBudget } from '../../src/budget/evaluate.js';
import { renderInitialBudget } from '../../src/budget/init.js';
import { parseBudget } from '../../src/budget/load.js';
import type { Report } from '../../src/model/report.js';
import { findingStatusText, renderGateText } from '../../src/report/gate-text.js';
import { relabelBase, relabelHead } from '../compare/support.js';

const date = '2030-01-01';

describe('evaluateBudget: an accepted problem another rule names once an index exists', () => {
  // Base: seq-scan-large-table on each statement; head (indexes the predicates cannot use):
  // non-sargable-predicate on the same scans, with seq-scan-large-table merged into it (sameFixAs).
  const budget = parseBudget(renderInitialBudget(relabelBase, { date }), 'querygate.budget.yaml');

  it('covers the finding with the acceptance of the rule merged into it, and says so', () => {
    expect(budget.accepted.map((a) => a.rule)).toEqual(['seq-scan-large-table', 'seq-scan-large-table']);
    const gate = evaluateBudget(relabelHead, budget, { date });
    expect(gate.counts.failingFindings).toBe(0);
    expect(gate.unusedAcceptances).toEqual([]);
    expect(gate.passed).toBe(true);
    for (const f of gate.findings) {
      expect(f).toMatchObject({
        status: 'accepted',
        finding: { rule: 'non-sargable-predicate' },
        acceptance: { rule: 'seq-scan-large-table' },
      });
      expect(findingStatusText(f)).toMatch(/^accepted as seq-scan-large-table \(the same problem\): present when/);
    }
    const text = renderGateText(gate, { width: 200 });
    expect(text).not.toContain('FAIL finding');
    expect(text).not.toContain('remove it?');

    // After the merged rule's entries, an entry of the finding's own rule still wins.
    const own = {
      ...budget,
      accepted: [
        ...budget.accepted,
        { rule: 'non-sargable-predicate', relation: 'public.readings', reason: 'its own' },
      ],
    };
    const byOwn = evaluateBudget(relabelHead, own, { date });
    expect(byOwn.findings.map((f) => f.acceptance?.reason)).toEqual(['its own', 'its own']);
    expect(byOwn.findings.every((f) => f.acceptance?.rule === undefined)).toBe(true);
    expect(byOwn.unusedAcceptances.map((a) => a.rule)).toEqual(['seq-scan-large-table', 'seq-scan-large-table']);

    // A finding into which the run merged no accepted rule still fails.
    const unmerged: Report = {
      ...relabelHead,
      queries: relabelHead.queries.map((q) => ({
        ...q,
        findings: q.findings.map((f) => {
          const { sameFixAs: _merged, ...evidence } = f.evidence;
          return { ...f, evidence };
        }),
      })),
    };
    expect(evaluateBudget(unmerged, budget, { date }).counts.failingFindings).toBe(2);
  });
});
