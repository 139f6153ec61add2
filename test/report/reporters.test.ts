import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { gateReport } from '../../src/budget/gate.js';
import { loadBudget } from '../../src/budget/load.js';
import type { Budget } from '../../src/model/budget.js';
import type { Report } from '../../src/model/report.js';
import { renderFormat } from '../../src/report/formats.js';
import { renderGateText } from '../../src/report/gate-text.js';
import { escapeData, renderGithub } from '../../src/report/github.js';
import { renderJunit } from '../../src/report/junit.js';
import { MARKDOWN_MAX_CHARS, renderMarkdown } from '../../src/report/markdown.js';
import { renderSarif } from '../../src/report/sarif.js';
import { fixtureReport } from '../budget/support.js';
import { parseXml, type XmlElement } from './xml.js';

const BUDGET = fileURLToPath(new URL('../../fixtures/reports/outage-demo.budget.yaml', import.meta.url));
const DATE = '2030-06-01';

/** The shared fixture report, gated with the fixture budget (path relative, as a CI run names it). */
function gated(report: Report = fixtureReport(), failOn: 'error' | 'warning' = 'error'): Report {
  const budget = { ...loadBudget(BUDGET), source: 'querygate.budget.yaml' };
  return gateReport(report, budget, { failOn, date: DATE });
}

const snapshot = (name: string) => `./__snapshots__/${name}`;

describe('reporters on the shared fixture report', () => {
  // Markdown asks PostgreSQL's parser whether a fix is SQL, as the commands that write it do.
  beforeAll(async () => {
    await loadParser();
  });
  const report = gated();
  const gate = report.gate!;

  it('the fixture exercises every outcome: failures, passes, skipped limits, findings', () => {
    const statuses = new Set(gate.limits.map((l) => l.status));
    expect([...statuses].sort()).toEqual(['fail', 'pass', 'skipped']);
    expect(gate.passed).toBe(false);
    expect(report.queries.some((q) => q.findings.length > 0)).toBe(true);
  });

  it('table: the terminal summary ends with the verdict and each violation', async () => {
    const verdict = renderGateText(gate, { width: 120 });
    await expect(`${verdict}\n`).toMatchFileSnapshot(snapshot('outage-demo.gate.txt'));
    expect(verdict.split('\n')[0]).toMatch(/^Gate FAILED: 3 of \d+ limit\(s\) exceeded/);
    for (const check of gate.limits.filter((l) => l.status === 'fail'))
      expect(verdict).toContain(`FAIL ${check.field}`);
    for (const check of gate.limits.filter((l) => l.status === 'skipped'))
      expect(verdict).toContain(`skipped ${check.field}`);
    // The statements table (its own reporter) comes first, then the verdict.
    const text = renderFormat('table', report, { width: 120 });
    expect(text.trimEnd().endsWith(verdict)).toBe(true);
    expect(text.indexOf('┌')).toBeLessThan(text.indexOf('Gate FAILED'));
  });

  it('json: the report plus the gate result, readable again', async () => {
    const text = renderFormat('json', report);
    await expect(text).toMatchFileSnapshot(snapshot('outage-demo.json'));
    expect(JSON.parse(text)).toEqual(report);
  });

  it('markdown: verdict first, violations, top statements, findings with fixes, folded plans', async () => {
    const md = renderMarkdown(report);
    await expect(md).toMatchFileSnapshot(snapshot('outage-demo.md'));
    expect(md.split('\n')[0]).toBe('## ❌ querygate: budget exceeded');
    const order = ['### Violations', '### Top statements by database time', '### Plans'].map((h) => md.indexOf(h));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const violations = gate.limits.flatMap((l) => l.measurements.filter((m) => !m.passed));
    const table = md.slice(md.indexOf('### Violations'), md.indexOf('\n\n', md.indexOf('|---|')));
    expect(table.split('\n').filter((l) => l.startsWith('| `'))).toHaveLength(violations.length);
    expect((md.match(/<details><summary>#/g) ?? []).length).toBe(
      Math.min(5, report.queries.filter((q) => q.plan).length),
    );
    expect((md.match(/<details>/g) ?? []).length).toBe((md.match(/<\/details>/g) ?? []).length);
    expect(md.length).toBeLessThan(MARKDOWN_MAX_CHARS);
  });

  it('markdown: only SQL goes in a sql block, not words that start like a statement', () => {
    const base = fixtureReport();
    const [first, ...rest] = base.queries;
    const finding = (rule: string, suggestion: string) => ({
      rule,
      severity: 'warning' as const,
      messageId: 'plan',
      message: `${rule} finding`,
      evidence: {},
      suggestion,
    });
    const md = renderMarkdown({
      ...base,
      queries: [
        {
          ...first!,
          findings: [
            finding(
              'sort-spill',
              "SET LOCAL work_mem = '1GB' for this statement (it spilled at work_mem 4MB), sort fewer rows (filter or LIMIT first)",
            ),
            finding('row-estimate-mismatch', 'ANALYZE shop.orders; -- and check that autovacuum keeps up'),
          ],
        },
        ...rest,
      ],
    });
    expect(md).toContain(
      "Fix: SET LOCAL work\\_mem = '1GB' for this statement (it spilled at work\\_mem 4MB), sort fewer rows (filter or LIMIT first)",
    );
    expect(md).toContain('```sql\n    ANALYZE shop.orders; -- and check that autovacuum keeps up\n    ```');
    expect(md).not.toMatch(/```sql\s+SET LOCAL work_mem = '1GB' for this statement/);
  });

  it('markdown: stays under the comment limit on a huge report and says what it left out', () => {
    const base = fixtureReport();
    const many = Array.from({ length: 3000 }, (_, i) =>
      base.queries.map((q) => ({ ...q, fingerprint: `${q.fingerprint.slice(0, 10)}${String(i).padStart(6, '0')}` })),
    ).flat();
    const huge = gated({ ...base, queries: many }, 'warning');
    const md = renderMarkdown(huge, { top: 5000, plans: 5000 });
    expect(md.length).toBeLessThanOrEqual(MARKDOWN_MAX_CHARS);
    expect(md).toMatch(/more (violations|statements|findings|plans) left out/);
    expect(md.split('\n')[0]).toBe('## ❌ querygate: budget exceeded');
    expect(md.trimEnd().endsWith('</sub>')).toBe(true);
    // Small limits truncate too, keeping the verdict.
    const small = renderMarkdown(huge, { maxChars: 3000 });
    expect(small.length).toBeLessThanOrEqual(3000);
    expect(small).toContain('**FAILED');
  });

  it('junit: one test case per budget limit and per rule, failures with evidence, counts that add up', async () => {
    const xml = renderJunit(report);
    await expect(xml).toMatchFileSnapshot(snapshot('outage-demo.junit.xml'));
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    const suites = root.children;
    expect(suites.map((s) => s.name)).toEqual(['testsuite', 'testsuite']);
    const [budget, rules] = suites as [XmlElement, XmlElement];
    expect(budget.attributes.name).toBe('querygate.budget');
    expect(budget.children.filter((c) => c.name === 'testcase')).toHaveLength(gate.limits.length);
    expect(rules.children.filter((c) => c.name === 'testcase')).toHaveLength(gate.rules.length);
    let total = 0;
    let failures = 0;
    for (const suite of suites) {
      const cases = suite.children.filter((c) => c.name === 'testcase');
      const failed = cases.filter((c) => c.children.some((x) => x.name === 'failure'));
      const skipped = cases.filter((c) => c.children.some((x) => x.name === 'skipped'));
      expect(Number(suite.attributes.tests)).toBe(cases.length);
      expect(Number(suite.attributes.failures)).toBe(failed.length);
      expect(Number(suite.attributes.skipped)).toBe(skipped.length);
      expect(suite.attributes.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
      for (const c of cases) {
        expect(c.attributes.name).toBeTruthy();
        expect(c.attributes.classname).toMatch(/^querygate\./);
        // junit-4 order inside a testcase: skipped, error, failure, system-out.
        const order = c.children.map((x) =>
          ['skipped', 'error', 'failure', 'system-out', 'system-err'].indexOf(x.name),
        );
        expect(order.every((v) => v >= 0)).toBe(true);
        expect([...order].sort()).toEqual(order);
      }
      total += cases.length;
      failures += failed.length;
    }
    expect(Number(root.attributes.tests)).toBe(total);
    expect(Number(root.attributes.failures)).toBe(failures);
    expect(failures).toBe(
      gate.limits.filter((l) => l.status === 'fail').length + gate.rules.filter((r) => r.failing > 0).length,
    );
    const failure = budget.children.flatMap((c) => c.children).find((x) => x.name === 'failure')!;
    expect(failure.attributes.message).toMatch(/ > /);
    expect(failure.text).toMatch(/^budget: (limits|statements)\S* .*\(querygate\.budget\.yaml:\d+\)\nFAIL /);
  });

  it("junit: a report without a budget verdict fails on the run's --fail-on, and on nothing without it", () => {
    const { gate: _gate, ...ungated } = fixtureReport();
    const failures = (xml: string) => Number(parseXml(xml).attributes.failures);
    // The run exits 0 without --fail-on: its JUnit file must not say otherwise.
    expect(failures(renderFormat('junit', ungated, { failOn: 'never' }))).toBe(0);
    expect(failures(renderFormat('junit', ungated, { failOn: 'error' }))).toBeGreaterThan(0);
  });

  it('junit: escapes statement text and drops characters XML cannot hold', () => {
    const nasty = `SELECT '<b>&amp;"x"' || $1 AS "a'b" -- \u0001 ]]> </failure>`;
    const base = fixtureReport();
    const report2 = gated({ ...base, queries: base.queries.map((q, i) => (i === 0 ? { ...q, query: nasty } : q)) });
    const root = parseXml(renderJunit(report2));
    const texts = root.children.flatMap((s) =>
      s.children.flatMap((c) => c.children.map((x) => `${x.attributes.message ?? ''}\n${x.text}`)),
    );
    expect(texts.some((t) => t.includes(`SELECT '<b>&amp;"x"' || $1 AS "a'b" -- \uFFFD ]]> </failure>`))).toBe(true);
  });

  it('github: one workflow command per violation and un-accepted finding, pointing at the budget line', async () => {
    const text = renderGithub(report);
    await expect(text).toMatchFileSnapshot(snapshot('outage-demo.github.txt'));
    const lines = text.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^::(error|warning|notice)( [a-z]+=[^:]*)?::\S/);
    const violations = gate.limits.flatMap((l) => l.measurements.filter((m) => !m.passed).map(() => l));
    const budgetLines = lines.filter((l) => l.includes('title=querygate budget'));
    expect(budgetLines).toHaveLength(violations.length);
    for (const [i, check] of violations.entries()) {
      expect(budgetLines[i]).toContain(`file=querygate.budget.yaml,line=${check.line},`);
    }
    const unaccepted = gate.findings.filter((f) => f.status !== 'accepted').length;
    expect(
      lines.filter((l) => /title=querygate [a-z-]+::/.test(l) && !l.includes('budget') && !l.includes('unused')),
    ).toHaveLength(unaccepted);
    expect(lines[lines.length - 1]).toMatch(/^::error title=querygate::FAILED/);
    expect(escapeData('50% done\r\nnext')).toBe('50%25 done%0D%0Anext');
    // A scenario's statement with its line: the annotation points at it, in SARIF too.
    const culprit = report.queries[0]!;
    const placed = { ...report, queries: report.queries.map((q) => (q === culprit ? { ...q, line: 14 } : q)) };
    const annotations = renderGithub(placed)
      .split('\n')
      .filter((l) => l.includes(`title=querygate non-sargable-predicate`));
    expect(annotations[0]).toContain(`file=${report.workload.source},line=14,`);
    expect(renderSarif(placed)).toContain('"startLine": 14');
  });

  it('sarif: a 2.1.0 log whose results point at rules and locations', async () => {
    const text = renderSarif(report);
    await expect(text).toMatchFileSnapshot(snapshot('outage-demo.sarif'));
    const log = JSON.parse(text) as {
      version: string;
      runs: {
        tool: { driver: { name: string; rules: { id: string }[] } };
        results: {
          ruleId: string;
          ruleIndex: number;
          level: string;
          message: { text: string };
          locations: { physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number } } }[];
          suppressions?: { kind: string; justification: string }[];
        }[];
      }[];
    };
    expect(log.version).toBe('2.1.0');
    expect(log.runs).toHaveLength(1);
    const run = log.runs[0]!;
    expect(run.tool.driver.name).toBe('querygate');
    const ids = run.tool.driver.rules.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of run.results) {
      expect(run.tool.driver.rules[r.ruleIndex]!.id).toBe(r.ruleId);
      expect(['error', 'warning', 'note']).toContain(r.level);
      expect(r.message.text.length).toBeGreaterThan(0);
      expect(r.locations.length).toBe(1);
    }
    const violations = gate.limits.flatMap((l) => l.measurements.filter((m) => !m.passed));
    expect(run.results.filter((r) => r.ruleId.startsWith('budget/'))).toHaveLength(violations.length);
    expect(run.results.filter((r) => r.suppressions?.length)).toHaveLength(gate.counts.acceptedFindings);
    expect(run.results.filter((r) => !r.ruleId.startsWith('budget/'))).toHaveLength(gate.findings.length);
  });

  it('every format says when an entry held a statement by its name, passing or failing', () => {
    // The statement was rewritten: another fingerprint, the name its entry was made with.
    const base = fixtureReport();
    const old = base.queries.find((q) => q.source !== undefined && q.plan)!;
    const rewritten = {
      ...base,
      queries: base.queries.map((q) => (q === old ? { ...q, fingerprint: 'f0000000000000aa' } : q)),
    };
    const said = "matched by its name: the statement's text changed since fingerprint";
    for (const maxPlanCost of [old.plan!.totalCost * 2, old.plan!.totalCost / 2]) {
      const budget: Budget = {
        source: 'querygate.budget.yaml',
        limits: {},
        statements: [{ name: old.source!, fingerprint: old.fingerprint, maxPlanCost }],
        rules: {},
        accepted: [],
        lines: { 'statements[0].fingerprint': 5, 'statements[0].maxPlanCost': 6 },
      };
      const byName = gateReport(rewritten, budget, { failOn: 'never', date: DATE });
      expect(byName.gate!.limits[0]!.matchedByName).toEqual({ fingerprint: old.fingerprint, line: 5 });
      expect(renderGateText(byName.gate!, { width: 400 })).toContain(said);
      expect(renderMarkdown(byName)).toContain(said);
      expect(renderJunit(byName)).toContain(said);
      expect(renderGithub(byName)).toContain(said);
      const sarif = JSON.parse(renderSarif(byName)) as { runs: { results: { message: { text: string } }[] }[] };
      expect(sarif.runs[0]!.results.map((r) => r.message.text).join('\n')).toContain(said);
    }
  });

  it('a passing gate reads as passing in every format', () => {
    const passing = gateReport(fixtureReport(), undefined, { failOn: 'never', date: DATE });
    expect(renderMarkdown(passing).split('\n')[0]).toBe('## ✅ querygate: within budget');
    expect(renderGithub(passing).trimEnd().split('\n').pop()).toMatch(/^::notice title=querygate::PASSED/);
    expect(parseXml(renderJunit(passing)).attributes.failures).toBe('0');
    expect(renderFormat('table', passing)).toContain('Gate PASSED');
  });
});
