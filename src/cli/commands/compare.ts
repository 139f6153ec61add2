/**
 * `querygate compare base.json head.json`: which statements and plans got worse. Exit 1 on any
 * regression, 0 otherwise.
 */
import { Option, type Command } from 'commander';
import { compareReports } from '../../compare/compare.js';
import { InputError } from '../../errors.js';
import { resolveCompareThresholds } from '../../compare/thresholds.js';
import type { Budget } from '../../model/budget.js';
import type { Comparison } from '../../model/comparison.js';
import type { Report } from '../../model/report.js';
import { renderComparisonJson } from '../../report/comparison-json.js';
import { renderComparisonMarkdown } from '../../report/comparison-markdown.js';
import { renderComparisonTable, renderComparisonVerdict } from '../../report/comparison-table.js';
import { readReport, requireCompleteReport } from '../../report/read.js';
import { checkOutputFile, writeOutputFile } from '../files.js';
import { EXIT, type CliIO } from '../io.js';
import { resolveBudget } from '../output.js';

export type ComparisonFormat = 'table' | 'markdown' | 'json';

export interface CompareFlags {
  format: ComparisonFormat;
  out?: string;
  all?: boolean;
  /** A path, `false` for --no-budget, undefined to look for querygate.budget.yaml. */
  budget?: string | false;
}

export function registerCompare(program: Command, io: CliIO, setExit: (code: number) => void): void {
  program
    .command('compare')
    .description(
      'compare two reports (e.g. main vs. a pull request): new, removed and regressed statements, plan diffs',
    )
    .argument('<base>', "the reference report (JSON), e.g. main's")
    .argument('<head>', "the report to judge (JSON), e.g. the pull request's")
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'markdown', 'json']).default('table'))
    .option('--out <file>', 'also write the output to this file (e.g. a pull-request comment)')
    .option('--all', 'list unchanged statements too (table format)')
    .option(
      '--budget <file>',
      'budget file whose compare: section sets the thresholds (default: querygate.budget.yaml in this directory or a parent)',
    )
    .option('--no-budget', 'use the default thresholds')
    .action((base: string, head: string, flags: CompareFlags) => {
      setExit(compareCommand(base, head, flags, io));
    });
}

/** Reads both reports, compares them, writes the output; returns the exit code. */
export function compareCommand(basePath: string, headPath: string, flags: CompareFlags, io: CliIO): number {
  checkOutputFile(flags.out, '--out');
  const base = readComparableReport(basePath);
  const head = readComparableReport(headPath);
  // The same budget resolution as run and check: --budget FILE, else the nearest querygate.budget.yaml.
  const budget = resolveBudget(flags.budget === undefined ? {} : { budget: flags.budget }, io);
  const comparison = compareReports(base, head, resolveCompareThresholds(budget?.compare));
  return writeComparison(comparison, flags, io);
}

/**
 * Reads a report to compare. An interrupted run's report is refused: it has no plans and fewer
 * calls, so every finding of the other side would look new or resolved, as `budget init` refuses it.
 */
export function readComparableReport(path: string): Report {
  const report = readReport(path);
  requireCompleteReport(report, path, 'compare needs the reports of complete runs');
  return report;
}

/**
 * Compares a fresh report with a saved baseline (`run --baseline`), with the thresholds of the
 * budget the run already resolved (none: the defaults); returns the exit code.
 */
export function compareWithBaseline(
  baseline: Report,
  head: Report,
  flags: CompareFlags,
  io: CliIO,
  budget?: Budget,
  quiet = false,
): number {
  const comparison = compareReports(baseline, head, resolveCompareThresholds(budget?.compare));
  if (!quiet) return writeComparison(comparison, flags, io);
  // -q: no comparison on stdout; a regression still prints its verdict and reasons, on stderr.
  refuseUnrelated(comparison);
  const verdict = renderComparisonVerdict(comparison, { width: io.columns });
  if (verdict) io.err(verdict);
  return comparison.verdict === 'regression' ? EXIT.gateFailed : EXIT.ok;
}

/** Renders in the chosen format, prints it (and writes it to --out), returns 1 on regression. */
export function writeComparison(comparison: Comparison, flags: CompareFlags, io: CliIO): number {
  refuseUnrelated(comparison);
  const text =
    flags.format === 'json'
      ? renderComparisonJson(comparison)
      : flags.format === 'markdown'
        ? renderComparisonMarkdown(comparison)
        : renderComparisonTable(comparison, {
            color: io.color,
            width: io.columns,
            ...(flags.all ? { all: true } : {}),
          });
  if (flags.out) writeOutputFile(flags.out, text.endsWith('\n') ? text : `${text}\n`, '--out');
  io.out(text);
  return comparison.verdict === 'regression' ? EXIT.gateFailed : EXIT.ok;
}

/**
 * Two reports with no statement and no route in common are of different workloads: every statement
 * would be "new" or "removed", and a verdict on that means nothing (an input error, not a regression).
 */
function refuseUnrelated(c: Comparison): void {
  if (c.counts.matched > 0 || c.counts.routesMatched > 0) return;
  if (c.base.statements === 0 && c.head.statements === 0) return;
  throw new InputError(
    'REPORTS_UNRELATED',
    `the reports share no statement or route (base: ${c.base.statements} statement(s) of "${c.base.workload}", ` +
      `head: ${c.head.statements} of "${c.head.workload}"): different workloads? compare two reports of the same workload`,
  );
}
