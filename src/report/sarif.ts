/**
 * SARIF 2.1.0, for code-scanning views: one result per budget violation (located at the budget
 * file's line) and per finding (located at the workload statement); accepted findings are kept as
 * suppressed results with their reason. Pure: returns a string.
 */
import { evaluateBudget } from '../budget/evaluate.js';
import type { GatedFinding } from '../model/budget.js';
import type { Severity } from '../model/finding.js';
import type { Report } from '../model/report.js';
import { fixOptions } from './format.js';
import {
  describeMatchedByName,
  describeMeasurement,
  describeSubject,
  LIMIT_TITLES,
  matchedByName,
  statementLocation,
  type SourceLocation,
} from './gate-text.js';

export interface SarifOptions {
  /** Width of statement text in messages. */
  readonly width?: number;
}

type SarifLevel = 'error' | 'warning' | 'note';
const LEVELS: Readonly<Record<Severity, SarifLevel>> = { error: 'error', warning: 'warning', info: 'note' };

interface SarifRule {
  readonly id: string;
  readonly name: string;
  readonly shortDescription: { readonly text: string };
  readonly defaultConfiguration: { readonly level: SarifLevel | 'none' };
}

function location(where: SourceLocation | undefined): object[] {
  if (!where) return [];
  return [
    {
      physicalLocation: {
        artifactLocation: { uri: where.file.replace(/\\/g, '/') },
        ...(where.line !== undefined ? { region: { startLine: where.line } } : {}),
      },
    },
  ];
}

/** A rule id as a SARIF rule name (PascalCase, as SARIF recommends). */
function pascal(id: string): string {
  return id
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
}

/** The report's gate verdict as a SARIF 2.1.0 log. */
export function renderSarif(report: Report, options: SarifOptions = {}): string {
  const width = options.width ?? 100;
  const gate = report.gate ?? evaluateBudget(report, undefined, { date: report.createdAt });
  const rules: SarifRule[] = [];
  const ruleIndex = new Map<string, number>();
  const addRule = (rule: SarifRule) => {
    if (!ruleIndex.has(rule.id)) {
      ruleIndex.set(rule.id, rules.length);
      rules.push(rule);
    }
    return ruleIndex.get(rule.id)!;
  };
  for (const r of gate.rules) {
    addRule({
      id: r.rule,
      name: pascal(r.rule),
      shortDescription: { text: r.description ?? r.rule },
      defaultConfiguration: {
        level: r.severity === undefined ? 'warning' : r.severity === 'off' ? 'none' : LEVELS[r.severity],
      },
    });
  }
  const budgetFile = gate.budget !== undefined ? { file: gate.budget } : undefined;
  const results: object[] = [];
  for (const check of gate.limits) {
    // Violations, and values over their limit that the budget's reference explains (a note).
    for (const m of check.measurements.filter((x) => !x.passed || x.notCounted)) {
      const id = `budget/${check.limit}`;
      const index = addRule({
        id,
        name: pascal(`budget-${check.limit}`),
        shortDescription: { text: `Budget limit on ${LIMIT_TITLES[check.limit]}` },
        defaultConfiguration: { level: 'error' },
      });
      const subjectKey =
        m.subject.kind === 'statement'
          ? `${m.subject.fingerprint}${m.subject.route ?? ''}`
          : m.subject.kind === 'route'
            ? m.subject.route
            : 'run';
      results.push({
        ruleId: id,
        ruleIndex: index,
        level: m.notCounted ? 'note' : 'error',
        message: {
          text:
            `${check.field}: ${describeMeasurement(check, m)}: ${describeSubject(m.subject, width)}` +
            (m.notCounted ? ` (not counted: ${m.notCounted.reason})` : ''),
        },
        locations: location(
          budgetFile ? { ...budgetFile, ...(check.line !== undefined ? { line: check.line } : {}) } : undefined,
        ),
        partialFingerprints: { 'querygate/v1': `${check.field}:${subjectKey}` },
      });
    }
  }
  // Limits written for a statement's old text that gate its new one (a note, at the entry's fingerprint).
  for (const m of matchedByName(gate)) {
    const id = 'budget/matched-by-name';
    const index = addRule({
      id,
      name: 'BudgetMatchedByName',
      shortDescription: { text: "A budget entry held a statement by its name: the statement's text changed" },
      defaultConfiguration: { level: 'note' },
    });
    results.push({
      ruleId: id,
      ruleIndex: index,
      level: 'note',
      message: {
        text: `${m.entry}${m.label !== undefined ? ` "${m.label}"` : ''} ${describeMatchedByName(m, undefined, false)}`,
      },
      locations: location(
        budgetFile ? { ...budgetFile, ...(m.line !== undefined ? { line: m.line } : {}) } : undefined,
      ),
      partialFingerprints: { 'querygate/v1': `${m.entry}:matched-by-name:${m.fingerprint}` },
    });
  }
  const findingResult = (f: GatedFinding) => {
    const index = addRule({
      id: f.finding.rule,
      name: pascal(f.finding.rule),
      shortDescription: { text: f.finding.rule },
      defaultConfiguration: { level: LEVELS[f.finding.severity] },
    });
    // The fixes in the order to try them: a rule's rewrite may come before the validated index.
    const fixes = fixOptions(f.finding)
      .map((fix, n) => ` ${n === 0 ? 'Fix' : 'Or'}: ${fix.text}`)
      .join('');
    const subject = describeSubject(
      {
        kind: 'statement',
        fingerprint: f.fingerprint,
        query: f.query,
        ...(f.source !== undefined ? { source: f.source } : {}),
      },
      width,
    );
    return {
      ruleId: f.finding.rule,
      ruleIndex: index,
      level: f.status === 'failing' ? 'error' : LEVELS[f.finding.severity],
      message: { text: `${f.finding.message} Statement: ${subject}.${fixes}` },
      locations: location(statementLocation(report, f.source, f.fingerprint)),
      partialFingerprints: { 'querygate/v1': `${f.finding.rule}:${f.fingerprint}:${f.finding.nodePath ?? ''}` },
      properties: { fingerprint: f.fingerprint, messageId: f.finding.messageId, evidence: f.finding.evidence },
      ...(f.status === 'accepted' && f.acceptance
        ? { suppressions: [{ kind: 'external', status: 'accepted', justification: f.acceptance.reason }] }
        : {}),
    };
  };
  for (const f of gate.findings) results.push(findingResult(f));

  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: { name: 'querygate', version: report.tool.version, semanticVersion: report.tool.version, rules },
        },
        results,
        properties: {
          passed: gate.passed,
          failOn: gate.failOn,
          ...(gate.budget !== undefined ? { budget: gate.budget } : {}),
        },
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
