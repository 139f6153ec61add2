/**
 * GitHub Actions workflow commands (`::error file=…,line=…::message`): budget violations point at
 * the budget file's line, findings at the workload statement. The runner reads them from stdout.
 * Pure: returns a string.
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
  matchedByName,
  statementLocation,
  verdictLine,
} from './gate-text.js';

export interface GithubOptions {
  /** Width of statement text in messages. */
  readonly width?: number;
}

/** Escapes a command's message (the runner decodes %25, %0D, %0A). */
export function escapeData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a property value (also `:` and `,`, which delimit properties). */
export function escapeProperty(value: string): string {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

type Level = 'error' | 'warning' | 'notice';

function command(level: Level, message: string, props: { file?: string; line?: number; title?: string }): string {
  const list = [
    props.file !== undefined ? `file=${escapeProperty(props.file)}` : '',
    props.line !== undefined ? `line=${props.line}` : '',
    props.title !== undefined ? `title=${escapeProperty(props.title)}` : '',
  ].filter(Boolean);
  return `::${level}${list.length > 0 ? ` ${list.join(',')}` : ''}::${escapeData(message)}`;
}

const LEVELS: Readonly<Record<Severity, Level>> = { error: 'error', warning: 'warning', info: 'notice' };

function findingCommand(report: Report, f: GatedFinding, width: number): string {
  const where = statementLocation(report, f.source, f.fingerprint);
  // Red is for what fails the job: a finding the gate lets through (below its threshold, or a run
  // that gates nothing) is a warning at most, its severity in the title.
  const failing = f.status === 'failing';
  const level: Level = failing ? 'error' : f.finding.severity === 'error' ? 'warning' : LEVELS[f.finding.severity];
  // The fixes in the order to try them: a rule's rewrite may come before the validated index.
  const fixes = fixOptions(f.finding).map((fix, n) => `${n === 0 ? 'fix' : 'or'}: ${fix.text}`);
  const message = [
    f.finding.message,
    `statement: ${describeSubject({ kind: 'statement', fingerprint: f.fingerprint, query: f.query, ...(f.source !== undefined ? { source: f.source } : {}) }, width)}`,
    ...fixes,
    ...(f.acceptance?.expired ? [`acceptance expired on ${f.acceptance.expires ?? '?'}: ${f.acceptance.reason}`] : []),
  ].join('\n');
  return command(level, message, {
    ...(where ? { file: where.file, ...(where.line !== undefined ? { line: where.line } : {}) } : {}),
    title: `querygate ${f.finding.rule}${!failing && f.finding.severity === 'error' ? ' (error, not failing the gate)' : ''}`,
  });
}

/**
 * Annotations for violations and un-accepted findings, then one line with the verdict. A report
 * without a gate (a run that gates nothing) has no verdict, and no finding fails in it.
 */
export function renderGithub(report: Report, options: GithubOptions = {}): string {
  const width = options.width ?? 100;
  const gate = report.gate ?? evaluateBudget(report, undefined, { date: report.createdAt, failOn: 'never' });
  const lines: string[] = [];
  for (const check of gate.limits) {
    for (const m of check.measurements.filter((x) => !x.passed)) {
      lines.push(
        command('error', `${describeMeasurement(check, m)}\n${describeSubject(m.subject, width)}`, {
          ...(gate.budget !== undefined
            ? { file: gate.budget, ...(check.line !== undefined ? { line: check.line } : {}) }
            : {}),
          title: `querygate budget ${check.field}`,
        }),
      );
    }
  }
  // Over a limit but explained by the budget's reference: shown, without failing the job.
  for (const check of gate.limits) {
    for (const m of check.measurements.filter((x) => x.notCounted)) {
      lines.push(
        command(
          'warning',
          `${describeMeasurement(check, m)}\nnot counted: ${m.notCounted!.reason}\n${describeSubject(m.subject, width)}`,
          {
            ...(gate.budget !== undefined
              ? { file: gate.budget, ...(check.line !== undefined ? { line: check.line } : {}) }
              : {}),
            title: `querygate budget ${check.field} (not counted)`,
          },
        ),
      );
    }
  }
  // Limits written for a statement's old text that gate its new one: at the entry's fingerprint.
  for (const m of matchedByName(gate)) {
    lines.push(
      command('notice', describeMatchedByName(m, undefined, false), {
        ...(gate.budget !== undefined ? { file: gate.budget, ...(m.line !== undefined ? { line: m.line } : {}) } : {}),
        title: `querygate budget ${m.entry} (matched by name)`,
      }),
    );
  }
  for (const f of gate.findings) {
    if (f.status === 'accepted') continue;
    lines.push(findingCommand(report, f, width));
  }
  for (const a of gate.unusedAcceptances) {
    lines.push(
      command('notice', `accepted ${a.rule} matched no finding: remove the entry?`, {
        ...(gate.budget !== undefined ? { file: gate.budget, ...(a.line !== undefined ? { line: a.line } : {}) } : {}),
        title: 'querygate unused acceptance',
      }),
    );
  }
  if (report.gate) lines.push(command(gate.passed ? 'notice' : 'error', verdictLine(gate), { title: 'querygate' }));
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
