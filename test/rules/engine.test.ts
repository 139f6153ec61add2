/** The rule engine over a captured report: severities, suppression comments, robustness. Pure. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyRules,
  explainTimeByAdvice,
  findingsAtLeast,
  ignoreDirectives,
  mergeSameFixes,
} from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import { resolveRules } from '../../src/config/config.js';
import type { QueryReport } from '../../src/model/report.js';
import { defineRule } from '../../src/rules/define.js';
import { RULES } from '../../src/rules/index.js';
import seqScan from '../../src/rules/seq-scan-large-table.js';
import { loadFixture } from './harness.js';

beforeAll(async () => {
  await loadParser();
});

const scan = () => loadFixture('seq-scan-large-table', 'scan');
const bySource = (report: ReturnType<typeof applyRules>, name: string) =>
  report.queries.find((q) => q.source === name)!;

describe('ignoreDirectives', () => {
  it('reads rule ids and the reason from line and block comments', () => {
    expect(ignoreDirectives(['-- querygate-ignore: seq-scan-large-table nightly report'])).toEqual([
      { rules: ['seq-scan-large-table'], reason: 'nightly report' },
    ]);
    expect(
      ignoreDirectives(['/* querygate-ignore: deep-offset, unbounded-result export, paged by the client */']),
    ).toEqual([{ rules: ['deep-offset', 'unbounded-result'], reason: 'export, paged by the client' }]);
    expect(ignoreDirectives(['/* querygate-ignore slow-mean */'])).toEqual([{ rules: ['slow-mean'], reason: '' }]);
    expect(ignoreDirectives(['-- an ordinary comment', '/* querygate-ignore: */'])).toEqual([]);
  });
});

describe('applyRules', () => {
  it('leaves its input unchanged and returns plain JSON', () => {
    const fixture = scan();
    const before = JSON.stringify(fixture.report);
    const report = applyRules(fixture.report, { statements: fixture.statements });
    expect(JSON.stringify(fixture.report)).toBe(before);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(report.queries.some((q) => q.findings.length > 0)).toBe(true);
  });

  it('reports a clear case at the configured severity and a milder one a step below', () => {
    const fixture = scan();
    const rules = resolveRules({ 'seq-scan-large-table': 'warning' });
    const report = applyRules(fixture.report, { rules, statements: fixture.statements, registry: [seqScan] });
    expect(bySource(report, 'bad: selective filter on an unindexed column').findings.map((f) => f.severity)).toEqual([
      'warning',
    ]);
    expect(bySource(report, 'mild: filter removes three quarters').findings.map((f) => f.severity)).toEqual(['info']);
    const off = applyRules(fixture.report, {
      rules: resolveRules({ 'seq-scan-large-table': 'off' }),
      statements: fixture.statements,
    });
    expect(off.queries.flatMap((q) => q.findings).some((f) => f.rule === 'seq-scan-large-table')).toBe(false);
  });

  it('suppresses with a querygate-ignore comment in the SQL the client sent (a comment before the statement)', () => {
    const fixture = scan();
    const target = bySource(fixture.report, 'bad: selective filter on an unindexed column');
    const statements = fixture.statements.map((s) =>
      s.fingerprint === target.fingerprint
        ? { ...s, sql: `-- querygate-ignore: seq-scan-large-table, no-such-rule one account only\n${s.sql}` }
        : s,
    );
    const report = applyRules(fixture.report, { statements, registry: RULES });
    const query = bySource(report, 'bad: selective filter on an unindexed column');
    expect(query.findings.map((f) => f.rule)).not.toContain('seq-scan-large-table');
    expect(query.suppressed).toEqual([
      expect.objectContaining({
        rule: 'seq-scan-large-table',
        reason: 'one account only',
        source: 'comment',
        finding: expect.objectContaining({ messageId: 'selective' }),
      }),
    ]);
    expect(report.warnings.some((w) => w.includes('unknown rule "no-such-rule"'))).toBe(true);
  });

  it('keeps the report when a rule throws, and says so in the warnings', () => {
    const broken = defineRule({
      id: 'broken-rule',
      severity: 'warning',
      category: 'pattern',
      description: 'Throws.',
      messages: { x: 'x' },
      defaultOptions: {},
      check: () => {
        throw new Error('boom');
      },
    });
    const fixture = scan();
    const report = applyRules(fixture.report, { statements: fixture.statements, registry: [seqScan, broken] });
    expect(report.warnings.some((w) => w.startsWith('rule broken-rule failed') && w.includes('boom'))).toBe(true);
    expect(bySource(report, 'bad: selective filter on an unindexed column').findings).toHaveLength(1);
  });

  it('fills message templates from evidence and data', () => {
    const fixture = scan();
    const report = applyRules(fixture.report, { statements: fixture.statements, registry: [seqScan] });
    const finding = bySource(report, 'bad: selective filter on an unindexed column').findings[0]!;
    expect(finding.message).toContain('30,000 rows');
    expect(finding.message).toContain('public.events');
    expect(finding.evidence.tableRows).toBe(30000);
  });
});

describe('findingsAtLeast', () => {
  it('selects unsuppressed findings at the threshold or worse, most severe first', () => {
    const fixture = scan();
    const report = applyRules(fixture.report, { statements: fixture.statements, registry: [seqScan] });
    const all = report.queries.flatMap((q) => q.findings);
    const errors = findingsAtLeast(report, 'error');
    const warnings = findingsAtLeast(report, 'warning');
    expect(errors.length).toBe(all.filter((f) => f.severity === 'error').length);
    expect(errors.length).toBeGreaterThan(0);
    expect(warnings.length).toBe(all.filter((f) => f.severity !== 'info').length);
    expect(warnings.length).toBeGreaterThan(errors.length);
    expect(warnings.map((w) => w.finding.severity)).toEqual([
      ...errors.map(() => 'error'),
      ...warnings.slice(errors.length).map(() => 'warning'),
    ]);
    // The suppressed one is not among them.
    expect(warnings.every((e) => e.query.source !== 'suppressed: selective filter with an ignore comment')).toBe(true);
  });
});

describe('one finding per fix', () => {
  it('keeps the more specific finding when two rules see one scan and give the same fix', () => {
    const fixture = loadFixture('non-sargable-predicate', 'predicates');
    const report = applyRules(fixture.report, { statements: fixture.statements });
    for (const q of report.queries) {
      const keys = q.findings.filter((f) => f.nodePath && f.suggestion).map((f) => `${f.nodePath}\n${f.suggestion}`);
      expect(new Set(keys).size, `${q.source}: one finding per plan node and fix`).toBe(keys.length);
    }
    const wrapped = bySource(report, 'bad: function on an indexed column');
    const nonSargable = wrapped.findings.find((f) => f.rule === 'non-sargable-predicate')!;
    expect(nonSargable.evidence.sameFixAs).toBe('seq-scan-large-table');
    expect(wrapped.findings.some((f) => f.rule === 'seq-scan-large-table' && f.nodePath === nonSargable.nodePath)).toBe(
      false,
    );
    // Each rule alone still reports the scan: the engine, not the rules, keeps one of the two.
    const alone = applyRules(fixture.report, { statements: fixture.statements, registry: [seqScan] });
    expect(bySource(alone, 'bad: function on an indexed column').findings.map((f) => f.rule)).toEqual([
      'seq-scan-large-table',
    ]);
  });
});

describe('timing findings as context', () => {
  const slowScan = () => {
    const fixture = scan();
    const report = {
      ...fixture.report,
      queries: fixture.report.queries.map((q) =>
        q.source === 'bad: selective filter on an unindexed column' ? { ...q, meanMs: 500 } : q,
      ),
    };
    return { fixture, report };
  };

  it('reports a slow mean as info when a plan finding of the statement says why', () => {
    const { fixture, report } = slowScan();
    const applied = applyRules(report, { statements: fixture.statements });
    const findings = bySource(applied, 'bad: selective filter on an unindexed column').findings;
    expect(findings.find((f) => f.rule === 'seq-scan-large-table')?.severity).toBe('error');
    const slow = findings.find((f) => f.rule === 'slow-mean')!;
    expect(slow.severity).toBe('info');
    expect(slow.evidence.explainedBy).toBe('seq-scan-large-table');
    expect(slow.suggestion).toContain('see the plan findings');
    // Without the plan finding, the slow mean is a warning of its own, and says where the plan spends.
    const alone = applyRules(report, {
      statements: fixture.statements,
      rules: resolveRules({ 'seq-scan-large-table': 'off' }),
    });
    const own = bySource(alone, 'bad: selective filter on an unindexed column').findings;
    expect(own.map((f) => f.severity)).toEqual(['warning']);
    expect(own[0]!.suggestion).not.toContain('see the plan findings');
    // The plan was made with the replay's parameters: the words say so, not "the generic plan".
    expect(own[0]!.suggestion).toMatch(
      /^no rule explains its time from its plan \(made with the parameters of the replay's slowest call\), whose costliest node is Seq Scan on events/,
    );
  });

  it('reports an unexplained slow statement as one timing warning, with the other timing findings as its context', () => {
    const fixture = scan();
    const report = {
      ...fixture.report,
      queries: fixture.report.queries.map((q) =>
        q.source === 'bad: selective filter on an unindexed column' ? { ...q, meanMs: 500, dbTimeShare: 0.9 } : q,
      ),
    };
    const applied = applyRules(report, {
      statements: fixture.statements,
      rules: resolveRules({ 'seq-scan-large-table': 'off' }),
    });
    const findings = bySource(applied, 'bad: selective filter on an unindexed column').findings;
    expect(findings.map((f) => f.rule).sort()).toEqual(['high-db-time-share', 'slow-mean']);
    expect(findings.filter((f) => f.severity === 'warning')).toHaveLength(1);
    const context = findings.find((f) => f.severity === 'info')!;
    expect(context.evidence.explainedBy).toBe(findings.find((f) => f.severity === 'warning')!.rule);
  });

  it('keeps the severity the configuration gave a timing rule', () => {
    const { fixture, report } = slowScan();
    const applied = applyRules(report, {
      statements: fixture.statements,
      rules: resolveRules({ 'slow-mean': 'error' }),
    });
    const slow = bySource(applied, 'bad: selective filter on an unindexed column').findings.find(
      (f) => f.rule === 'slow-mean',
    )!;
    expect(slow.severity).toBe('error');
    expect(slow.evidence.explainedBy).toBeUndefined();
  });
});

describe('mergeSameFixes', () => {
  it('merges findings that index advice gave the same validated index', () => {
    const fixture = scan();
    const report = applyRules(fixture.report, { statements: fixture.statements });
    const query = bySource(report, 'bad: selective filter on an unindexed column');
    const finding = query.findings.find((f) => f.rule === 'seq-scan-large-table')!;
    // Two findings about one scan whose own suggestions differed, both given the same index by advice.
    const advice = {
      sql: 'CREATE INDEX CONCURRENTLY events_account_id_idx ON public.events (account_id);',
      method: 'rollback-build' as const,
      costBefore: 500,
      costAfter: 5,
      improvement: 0.99,
    };
    const advised = {
      ...report,
      queries: report.queries.map((q) =>
        q === query
          ? {
              ...q,
              findings: [
                { ...finding, advice, suggestion: advice.sql },
                {
                  ...finding,
                  rule: 'non-sargable-predicate',
                  severity: 'error' as const,
                  advice,
                  // Its own rewrite kept next to the index: the same fix all the same.
                  suggestion: `${advice.sql} -- or: compare the bare column`,
                },
              ],
            }
          : q,
      ),
    };
    const merged = bySource(mergeSameFixes(advised), 'bad: selective filter on an unindexed column').findings;
    expect(merged.map((f) => f.rule)).toEqual(['non-sargable-predicate']);
    expect(merged[0]!.evidence.sameFixAs).toBe('seq-scan-large-table');
    expect(merged[0]!.suggestion).toContain('-- or: compare the bare column');
    // Statements without such a pair are left as they were.
    expect(mergeSameFixes(report).queries).toEqual(report.queries);
  });
});

describe('explainTimeByAdvice', () => {
  const WHOLE = 'note: aggregate over the whole table';
  /** The slow aggregate over the whole table, its scan given a validated index by advice. */
  const advised = (rules = resolveRules({})) => {
    const fixture = scan();
    const slow = {
      ...fixture.report,
      queries: fixture.report.queries.map((q) => (q.source === WHOLE ? { ...q, meanMs: 500 } : q)),
    };
    const report = applyRules(slow, { rules, statements: fixture.statements });
    const advice = {
      sql: 'CREATE INDEX CONCURRENTLY events_kind_idx ON public.events (kind);',
      method: 'rollback-build' as const,
      costBefore: 46705,
      costAfter: 253,
      improvement: 0.995,
    };
    return {
      rules,
      report: {
        ...report,
        queries: report.queries.map((q) =>
          q.source === WHOLE
            ? {
                ...q,
                findings: q.findings.map((f) =>
                  f.rule === 'seq-scan-large-table' ? { ...f, advice, suggestion: advice.sql } : f,
                ),
              }
            : q,
        ),
      },
    };
  };

  it('before advice, the timing warning of a literal plan says so, and the scan is context', () => {
    const { report } = advised();
    const findings = bySource(report, WHOLE).findings;
    expect(findings.map((f) => `${f.severity} ${f.rule}`)).toEqual(['warning slow-mean', 'info seq-scan-large-table']);
    expect(findings[0]!.suggestion).toMatch(
      /^no rule explains its time from its plan \(made with the statement as written\), whose costliest node is /,
    );
  });

  it('makes the finding with a validated index the explanation: raised to the timing warning, which becomes its context', () => {
    const { report, rules } = advised();
    const findings = bySource(explainTimeByAdvice(report, { rules }), WHOLE).findings;
    expect(findings.map((f) => `${f.severity} ${f.rule}`)).toEqual(['warning seq-scan-large-table', 'info slow-mean']);
    expect(findings[0]!.evidence.raisedBy).toBe('slow-mean');
    expect(findings[1]!.evidence.explainedBy).toBe('seq-scan-large-table');
    expect(findings[1]!.suggestion).toBe(
      'seq-scan-large-table on public.events has a validated index that lowers its plan cost from 46705 to 253 (99%): CREATE INDEX CONCURRENTLY events_kind_idx ON public.events (kind);',
    );
    // Statements without advice are left as they were.
    const others = (r: { readonly queries: readonly QueryReport[] }) => r.queries.filter((q) => q.source !== WHOLE);
    expect(others(explainTimeByAdvice(report, { rules }))).toEqual(others(report));
  });

  it("never raises a finding above its rule's configured severity: the timing warning points to its fix", () => {
    const { report, rules } = advised(resolveRules({ 'seq-scan-large-table': 'info' }));
    const findings = bySource(explainTimeByAdvice(report, { rules }), WHOLE).findings;
    expect(findings.map((f) => `${f.severity} ${f.rule}`)).toEqual(['warning slow-mean', 'info seq-scan-large-table']);
    expect(findings[0]!.suggestion).toMatch(
      /^no finding at warning or above explains its time, but seq-scan-large-table on public\.events \(info\) has a validated index that lowers its plan cost from 46705 to 253/,
    );
  });
});
