/**
 * Output options shared by `run`, `demo` and `check`: `--format` (repeatable), `--output-dir`,
 * `--budget`/`--no-budget` and `--fail-on`, and writing the chosen formats.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { findBudgetFile, loadBudget } from '../budget/load.js';
import { InputError } from '../errors.js';
import type { Budget } from '../model/budget.js';
import type { Report } from '../model/report.js';
import { FORMAT_FILES, isOutputFormat, OUTPUT_FORMATS, renderFormat, type OutputFormat } from '../report/formats.js';
import { checkOutputDirectory, writeOutputFile } from './files.js';
import type { CliIO } from './io.js';

export interface OutputFlags {
  format?: OutputFormat[];
  outputDir?: string;
  quiet?: boolean;
  top?: number;
  /** The run's --fail-on: what a report without a budget verdict fails on in JUnit (else nothing). */
  failOn?: 'error' | 'warning';
}

export interface BudgetFlags {
  /** A path, `false` for --no-budget, undefined to look for querygate.budget.yaml. */
  budget?: string | false;
}

export function parseFormat(value: string, previous: OutputFormat[] | undefined): OutputFormat[] {
  if (!isOutputFormat(value)) {
    throw new InputError('USAGE', `--format must be one of ${OUTPUT_FORMATS.join(', ')}, got "${value}"`);
  }
  return [...(previous ?? []), value];
}

/** Adds `--format` and `--output-dir`. */
export function addOutputOptions(command: Command): Command {
  return command
    .option(
      '--format <format>',
      `output format, repeatable: ${OUTPUT_FORMATS.join(', ')} (default: table; with --output-dir all but github)`,
      parseFormat,
    )
    .option(
      '--output-dir <dir>',
      'write each --format to a file in this directory (the terminal summary and github annotations still go to stdout)',
    );
}

/**
 * Adds `--budget` and, unless `required` (check always gates with a budget), `--no-budget`. Both
 * given is refused: commander would keep whichever came last without a word.
 */
export function addBudgetOptions(command: Command, options: { required?: boolean } = {}): Command {
  command.option('--budget <file>', 'budget file (default: querygate.budget.yaml in this directory or a parent)');
  if (options.required) return command;
  const given = new Set<string>();
  command.on('option:budget', () => given.add('--budget'));
  command.on('option:no-budget', () => given.add('--no-budget'));
  command.hook('preAction', () => {
    if (given.size > 1) throw new InputError('USAGE', '--budget and --no-budget contradict each other: give one');
  });
  return command.option('--no-budget', 'do not look for a budget file');
}

/**
 * The budget to gate with: the given file, else the nearest querygate.budget.yaml, else none.
 * `required`: no budget at all is a usage error (for `check`).
 */
export function resolveBudget(
  flags: BudgetFlags,
  io: CliIO,
  options: { cwd?: string; required?: boolean } = {},
): Budget | undefined {
  const load = (path: string) => loadBudget(path);
  if (typeof flags.budget === 'string') return load(flags.budget);
  if (flags.budget === false) {
    if (options.required) throw new InputError('USAGE', '--no-budget: check needs a budget to gate with');
    return undefined;
  }
  const found = findBudgetFile(options.cwd ?? process.cwd());
  if (found) {
    io.err(`querygate: using budget ${found}`);
    return load(found);
  }
  if (options.required) {
    throw new InputError(
      'USAGE',
      'no budget file: pass --budget FILE, or create querygate.budget.yaml (querygate budget init report.json writes one)',
    );
  }
  return undefined;
}

/** Formats that are whole documents: two of them on stdout would run together into neither. */
const DOCUMENT_FORMATS: ReadonlySet<OutputFormat> = new Set(['json', 'markdown', 'junit', 'sarif']);

/** The formats written: those requested, else every file format with --output-dir, else the table. */
function outputFormats(flags: OutputFlags): readonly OutputFormat[] {
  const requested = flags.format && flags.format.length > 0 ? [...new Set(flags.format)] : undefined;
  return requested ?? (flags.outputDir ? OUTPUT_FORMATS.filter((f) => f !== 'github') : flags.quiet ? [] : ['table']);
}

/**
 * Refuses, before anything runs, output flags whose result no tool could read, and an --output-dir
 * whose files cannot be written.
 */
export function checkOutputFlags(flags: OutputFlags): void {
  if (flags.outputDir) {
    const files = outputFormats(flags).map((format) => FORMAT_FILES[format]);
    checkOutputDirectory(flags.outputDir, files, '--output-dir');
    return;
  }
  const documents = [...new Set(flags.format ?? [])].filter((f) => DOCUMENT_FORMATS.has(f));
  if (documents.length > 1) {
    throw new InputError(
      'USAGE',
      `--format ${documents.join(', ')}: more than one document on stdout would run together; pass --output-dir DIR to write each to its own file`,
    );
  }
}

/**
 * True when the terminal table goes to stdout (it ends with the gate's verdict and violations): the
 * default without --quiet, or asked for with --format table.
 */
export function tableOnStdout(flags: OutputFlags): boolean {
  const requested = flags.format && flags.format.length > 0 ? flags.format : undefined;
  // With --output-dir, stdout carries no document: the summary goes there whatever the formats.
  if (flags.outputDir) return !flags.quiet;
  return requested ? requested.includes('table') : !flags.quiet;
}

/**
 * Writes the report in every requested format: to stdout, or with --output-dir to files (every
 * format when none is given). With --output-dir the terminal table is printed too, whatever the
 * formats (unless --quiet),
 * and requested GitHub annotations as well, because the runner reads them from stdout only.
 * `printedAsError` is a warning of the report that the command prints as its error: the terminal
 * table leaves it out, so that it is said once; files and other formats keep it.
 */
export function writeOutputs(
  report: Report,
  flags: OutputFlags,
  io: CliIO,
  { printedAsError }: { printedAsError?: string } = {},
): void {
  const requested = flags.format && flags.format.length > 0 ? [...new Set(flags.format)] : undefined;
  const formats = outputFormats(flags);
  const options = {
    color: io.color,
    width: io.columns,
    ...(flags.top !== undefined ? { top: flags.top } : {}),
    failOn: flags.failOn ?? ('never' as const),
  };
  const terminal =
    printedAsError === undefined
      ? report
      : { ...report, warnings: report.warnings.filter((w) => w !== printedAsError) };
  if (flags.outputDir) {
    for (const format of formats) {
      const file = join(flags.outputDir, FORMAT_FILES[format]);
      // Files get no colour: they are read by other tools.
      writeOutputFile(file, renderFormat(format, report, { ...options, color: false }), '--output-dir');
      io.err(`querygate: wrote ${file}`);
    }
    if (!flags.quiet) io.out(renderFormat('table', terminal, options).trimEnd());
    if (requested?.includes('github')) io.out(renderFormat('github', report, options).trimEnd());
    return;
  }
  for (const format of formats) io.out(renderFormat(format, format === 'table' ? terminal : report, options).trimEnd());
}
