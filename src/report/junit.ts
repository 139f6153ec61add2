/**
 * JUnit XML, the test view every CI system reads: one test case per budget limit and one per rule,
 * failures carrying the evidence. Follows the junit-4 schema (testsuites > testsuite > testcase with
 * skipped/failure/system-out in that order). Pure: returns a string.
 */
import type { Severity } from '../model/finding.js';
import { evaluateBudget } from '../budget/evaluate.js';
import type { GatedFinding, GateResult, LimitCheck } from '../model/budget.js';
import type { Report } from '../model/report.js';
import { fixOptions } from './format.js';
import { describeField, describeMeasurement, describeSubject, formatLimitValue, LIMIT_TITLES } from './gate-text.js';

export interface JunitOptions {
  /** Width of statement text in messages. */
  readonly width?: number;
  /** Without a gate in the report: the severity from which a finding fails (default `error`). */
  readonly failOn?: Severity | 'never';
}

/** Characters XML 1.0 does not allow at all, even escaped. */
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text content. */
export function xmlText(value: string): string {
  return value.replace(INVALID_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escapes an attribute value (quotes, and line breaks that parsers would otherwise fold into spaces). */
export function xmlAttr(value: string): string {
  return xmlText(value)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

function attrs(values: Readonly<Record<string, string | number | undefined>>): string {
  return Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');
}

interface Case {
  readonly name: string;
  readonly classname: string;
  readonly failure?: { readonly message: string; readonly type: string; readonly body: string };
  readonly skipped?: string;
  readonly out?: string;
}

function renderCase(c: Case): string {
  const open = `    <testcase${attrs({ name: c.name, classname: c.classname, time: '0' })}`;
  const children: string[] = [];
  if (c.skipped !== undefined) children.push(`      <skipped${attrs({ message: c.skipped })}/>`);
  if (c.failure)
    children.push(
      `      <failure${attrs({ message: c.failure.message, type: c.failure.type })}>${xmlText(c.failure.body)}</failure>`,
    );
  if (c.out) children.push(`      <system-out>${xmlText(c.out)}</system-out>`);
  return children.length === 0 ? `${open}/>` : `${open}>\n${children.join('\n')}\n    </testcase>`;
}

function renderSuite(
  name: string,
  timestamp: string,
  cases: readonly Case[],
  properties: Readonly<Record<string, string>>,
): string {
  const failures = cases.filter((c) => c.failure).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const props = Object.entries(properties);
  return [
    `  <testsuite${attrs({ name, tests: cases.length, failures, errors: 0, skipped, time: '0', timestamp })}>`,
    ...(props.length > 0
      ? [
          '    <properties>',
          ...props.map(([k, v]) => `      <property${attrs({ name: k, value: v })}/>`),
          '    </properties>',
        ]
      : []),
    ...cases.map(renderCase),
    '  </testsuite>',
  ].join('\n');
}

function limitCase(check: LimitCheck, gate: GateResult, width: number): Case {
  const name = `${check.field}: ${LIMIT_TITLES[check.limit]} <= ${formatLimitValue(check.limit, check.threshold)}${check.label !== undefined ? ` (${check.label})` : ''}`;
  const classname = 'querygate.budget';
  const evidence = check.measurements.map(
    (m) =>
      `${m.notCounted ? 'NOT COUNTED' : m.passed ? 'ok  ' : 'FAIL'} ${describeMeasurement(check, m)}: ${describeSubject(m.subject, width)}` +
      (m.notCounted ? `\n  not counted: ${m.notCounted.reason}` : ''),
  );
  const where = [
    `budget: ${describeField(check, gate.budget)}`,
    ...(check.matchedByName !== undefined && check.note !== undefined ? [check.note] : []),
  ].join('\n');
  if (check.status === 'skipped') return { name, classname, skipped: check.note ?? 'nothing to measure' };
  if (check.status === 'pass') return { name, classname, out: [where, ...evidence].join('\n') };
  const failing = check.measurements.filter((m) => !m.passed);
  const first = failing[0]!;
  return {
    name,
    classname,
    failure: {
      message: `${describeMeasurement(check, first)}: ${describeSubject(first.subject, width)}${failing.length > 1 ? ` (and ${failing.length - 1} more)` : ''}`,
      type: `budget.${check.limit}`,
      body: [where, ...evidence].join('\n'),
    },
  };
}

function findingEvidence(f: GatedFinding, width: number): string {
  const lines = [
    `${f.finding.severity} ${f.finding.rule} [${f.finding.messageId}]: ${f.finding.message}`,
    `  statement: ${describeSubject({ kind: 'statement', fingerprint: f.fingerprint, query: f.query, ...(f.source !== undefined ? { source: f.source } : {}) }, width)}`,
  ];
  if (f.finding.nodePath !== undefined) lines.push(`  plan node: ${f.finding.nodePath}`);
  const evidence = Object.entries(f.finding.evidence);
  if (evidence.length > 0) lines.push(`  evidence: ${evidence.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  for (const [n, fix] of fixOptions(f.finding).entries()) {
    const costs = fix.advice
      ? ` (plan cost ${fix.advice.costBefore.toFixed(0)} -> ${fix.advice.costAfter.toFixed(0)})`
      : '';
    lines.push(`  ${n === 0 ? 'fix' : 'or'}: ${fix.text}${costs}`);
    if (fix.note) lines.push(`  note: ${fix.note}`);
  }
  if (f.acceptance)
    lines.push(
      `  ${f.acceptance.expired ? 'acceptance expired' : 'accepted'}: ${f.acceptance.reason}${f.acceptance.expires !== undefined ? ` (until ${f.acceptance.expires})` : ''}`,
    );
  return lines.join('\n');
}

/**
 * The report's gate verdict as JUnit XML; without a gate in the report, findings are gated at
 * `options.failOn` (default `error`).
 */
export function renderJunit(report: Report, options: JunitOptions = {}): string {
  const width = options.width ?? 100;
  const gate =
    report.gate ??
    evaluateBudget(report, undefined, {
      date: report.createdAt,
      ...(options.failOn ? { failOn: options.failOn } : {}),
    });
  const timestamp = report.createdAt.replace(/\.\d+Z$|Z$/, '');
  const suites: string[] = [];
  const common = { workload: report.workload.name, postgresql: report.target.serverVersion, 'fail-on': gate.failOn };

  // An interrupted run fails the gate whatever its limits say: one failing case says so.
  const runCases: Case[] =
    gate.incomplete !== undefined
      ? [
          {
            name: 'the run completed',
            classname: 'querygate.run',
            failure: {
              message: `the run was interrupted (${gate.incomplete}): its results are partial, so the gate cannot pass`,
              type: 'run.incomplete',
              body: 'Statements without a plan were not judged on their plan limits or plan findings. Run the workload again to the end.',
            },
          },
        ]
      : [];
  if (runCases.length > 0) suites.push(renderSuite('querygate.run', timestamp, runCases, common));
  if (gate.budget !== undefined || gate.limits.length > 0) {
    suites.push(
      renderSuite(
        'querygate.budget',
        timestamp,
        gate.limits.map((l) => limitCase(l, gate, width)),
        { ...common, ...(gate.budget !== undefined ? { budget: gate.budget } : {}) },
      ),
    );
  }
  const ruleCases = gate.rules.map((r): Case => {
    const mine = gate.findings.filter((f) => f.finding.rule === r.rule);
    const failing = mine.filter((f) => f.status === 'failing');
    const name = `${r.rule}${r.description !== undefined ? `: ${r.description}` : ''}`;
    const classname = 'querygate.rules';
    if (failing.length > 0) {
      return {
        name,
        classname,
        failure: {
          message: `${failing.length} finding(s) at or above ${gate.failOn}: ${failing[0]!.finding.message}`,
          type: `rule.${r.rule}`,
          body: failing.map((f) => findingEvidence(f, width)).join('\n\n'),
        },
        ...(mine.length > failing.length
          ? {
              out: mine
                .filter((f) => f.status !== 'failing')
                .map((f) => findingEvidence(f, width))
                .join('\n\n'),
            }
          : {}),
      };
    }
    if (r.severity === 'off') return { name, classname, skipped: 'rule turned off' };
    return {
      name,
      classname,
      ...(mine.length > 0 ? { out: mine.map((f) => findingEvidence(f, width)).join('\n\n') } : {}),
    };
  });
  suites.push(renderSuite('querygate.rules', timestamp, ruleCases, common));

  const cases = runCases.length + gate.limits.length + ruleCases.length;
  const failures =
    runCases.length + gate.limits.filter((l) => l.status === 'fail').length + ruleCases.filter((c) => c.failure).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'querygate', tests: cases, failures, errors: 0, time: '0' })}>`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
