/**
 * Table-driven rule tests over real captured plans (fixtures/plans/<rule-id>/, regenerated with
 * `npm run fixtures:plans`). Each case names a fixture and a statement of its scenario and lists the
 * findings expected, by message id and severity (`[]`: none at all). A rule's cases must cover every
 * statement of every fixture in its folder.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { NOT_VALIDATED } from '../../src/analyze/column-predicates.js';
import { applyRules } from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import { formatPath, walkPlan } from '../../src/analyze/plan.js';
import { resolveRules, type RuleLevel } from '../../src/config/config.js';
import type { Severity } from '../../src/model/finding.js';
import type { QueryReport, Report } from '../../src/model/report.js';
import type { AnyRule } from '../../src/rules/define.js';
// Type only: importing the script's type does not run it.
import type { PlanFixture } from '../../scripts/capture-plan-fixtures.js';

export const PLANS_DIR = fileURLToPath(new URL('../../fixtures/plans/', import.meta.url));

export interface RuleCase {
  /** Fixture in fixtures/plans/<rule-id>/, without `.json`. */
  readonly fixture: string;
  /** The statement's name in the fixture's scenario. */
  readonly statement: string;
  /** Findings expected, by message id and severity; `[]` for none at all. */
  readonly expect: readonly { readonly messageId: string; readonly severity: Severity }[];
  /** Rule options and severity, as a config file would set them. */
  readonly options?: Readonly<Record<string, number | string | boolean>>;
  readonly severity?: RuleLevel;
  /** The reason of a `querygate-ignore` comment expected to suppress the findings. */
  readonly suppressedBecause?: string;
  /** What every finding's message and suggestion must match, where the case is about them. */
  readonly message?: RegExp;
  readonly suggestion?: RegExp;
}

const fixtures = new Map<string, PlanFixture>();

export function loadFixture(ruleId: string, name: string): PlanFixture {
  const path = `${PLANS_DIR}${ruleId}/${name}.json`;
  let fixture = fixtures.get(path);
  if (!fixture) {
    fixture = JSON.parse(readFileSync(path, 'utf8')) as PlanFixture;
    fixtures.set(path, fixture);
  }
  return fixture;
}

/** Fixture names (without `.json`) in a rule's folder. */
export function fixtureNames(ruleId: string): string[] {
  const dir = `${PLANS_DIR}${ruleId}`;
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
        .sort()
    : [];
}

/** Runs one rule over a fixture, as the engine does in a run. */
export function runRule(rule: AnyRule, fixture: PlanFixture, c: Pick<RuleCase, 'options' | 'severity'> = {}): Report {
  const setting =
    c.options || c.severity
      ? { [rule.id]: { ...(c.severity ? { severity: c.severity } : {}), ...(c.options ?? {}) } }
      : undefined;
  return applyRules(fixture.report, {
    registry: [rule],
    rules: resolveRules(setting, { registry: [rule] }),
    statements: fixture.statements,
  });
}

function statementOf(report: Report, name: string): QueryReport {
  const query = report.queries.find((q) => q.source === name);
  if (!query)
    throw new Error(`no statement "${name}" in the fixture (have: ${report.queries.map((q) => q.source).join(' | ')})`);
  return query;
}

/** Declares the tests of one rule. */
export function ruleCases(rule: AnyRule, cases: readonly RuleCase[]): void {
  describe(`rule ${rule.id}`, () => {
    beforeAll(async () => {
      await loadParser();
    });

    for (const c of cases) {
      const how = [c.severity ? `severity ${c.severity}` : '', c.options ? JSON.stringify(c.options) : '']
        .filter(Boolean)
        .join(' ');
      const outcome = c.suppressedBecause
        ? 'suppressed'
        : c.expect.length
          ? c.expect.map((e) => `${e.severity} ${e.messageId}`).join(', ')
          : 'no finding';
      it(`${c.fixture}: "${c.statement}"${how ? ` (${how})` : ''} -> ${outcome}`, () => {
        const fixture = loadFixture(rule.id, c.fixture);
        const report = runRule(rule, fixture, c);
        const query = statementOf(report, c.statement);
        const got = (c.suppressedBecause ? query.suppressed.map((s) => s.finding) : query.findings).map((f) => ({
          messageId: f.messageId,
          severity: f.severity,
        }));
        const order = (a: { messageId: string; severity: string }, b: { messageId: string; severity: string }) =>
          `${a.severity}${a.messageId}`.localeCompare(`${b.severity}${b.messageId}`);
        expect(got.sort(order)).toEqual([...c.expect].sort(order));
        if (c.suppressedBecause) {
          expect(query.findings).toEqual([]);
          expect(query.suppressed.map((s) => [s.rule, s.source, s.reason])).toEqual(
            query.suppressed.map(() => [rule.id, 'comment', c.suppressedBecause]),
          );
        }
        const paths = query.plan
          ? new Set(walkPlan(query.plan.root).map((v) => formatPath(v.path)))
          : new Set<string>();
        for (const f of [...query.findings, ...query.suppressed.map((s) => s.finding)]) {
          expect(f.rule).toBe(rule.id);
          expect(f.message, 'every placeholder of the message is filled').not.toMatch(/\{\w+\}/);
          expect(Object.keys(f.evidence).length, 'a finding carries the numbers behind it').toBeGreaterThan(0);
          if (f.severity !== 'info') expect(f.suggestion, 'an error or warning says what to do').toBeTruthy();
          if (f.relation) expect(report.relations.map((r) => r.name)).toContain(f.relation);
          if (f.nodePath) expect(paths.has(f.nodePath), `node path ${f.nodePath} exists in the plan`).toBe(true);
          expect(f.suggestion ?? '', 'a suggestion leaves no placeholder to fill').not.toMatch(/<[a-z][a-z _-]*>/i);
          // Rules propose indexes from the statement alone; only index advice validates one.
          if (/\bCREATE\s+INDEX\b/i.test(f.suggestion ?? ''))
            expect(f.suggestion, 'a proposed index says it is not validated').toContain(NOT_VALIDATED);
          if (c.message) expect(f.message).toMatch(c.message);
          if (c.suggestion) expect(f.suggestion ?? '').toMatch(c.suggestion);
        }
      });
    }

    it('covers every statement of every fixture in its folder, in both directions', () => {
      const names = fixtureNames(rule.id);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        const fixture = loadFixture(rule.id, name);
        for (const q of fixture.report.queries) {
          expect(
            cases.some((c) => c.fixture === name && c.statement === q.source),
            `a case for "${q.source}" in ${name}.json`,
          ).toBe(true);
        }
      }
      const flagged = cases.filter((c) => c.expect.length > 0 && !c.options && !c.severity);
      const clean = cases.filter((c) => c.expect.length === 0 && !c.options && !c.severity);
      expect(flagged.length, 'at least one case where the rule reports at its defaults').toBeGreaterThan(0);
      expect(clean.length, 'at least one case where it does not').toBeGreaterThan(0);
    });
  });
}
