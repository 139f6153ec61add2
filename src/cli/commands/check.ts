/** `querygate check report.json --budget FILE`: gate a saved report (exit 1 when it fails). */
import type { Command } from 'commander';
import { loadParser } from '../../analyze/parser.js';
import { gateReport } from '../../budget/gate.js';
import { loadConfig } from '../../config/config.js';
import { renderGateText } from '../../report/gate-text.js';
import { readReport, toolVersionWarning } from '../../report/read.js';
import { relocateSource } from '../../report/source-paths.js';
import { EXIT, type CliIO } from '../io.js';
import { parseFailOn, type FailOn } from '../fail-on.js';
import {
  addBudgetOptions,
  addOutputOptions,
  checkOutputFlags,
  resolveBudget,
  tableOnStdout,
  writeOutputs,
  type BudgetFlags,
  type OutputFlags,
} from '../output.js';
import { parsePositiveInt } from '../options.js';

export interface CheckFlags extends OutputFlags, BudgetFlags {
  config?: string;
  failOn?: FailOn;
}

export function registerCheck(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const command = program
    .command('check')
    .description('gate a saved report against a budget: print each violation, exit 1 when a limit is exceeded')
    .argument('<report>', 'JSON report written by querygate run')
    .option(
      '--fail-on <severity>',
      "un-accepted findings at or above this severity fail the gate: error or warning (default: the config's failOn, else error)",
      parseFailOn,
    )
    .option(
      '--config <file>',
      'config file with a rules: section (default: querygate.config.yaml in this directory or a parent)',
    )
    .option('--top <n>', 'statements shown in the terminal summary', parsePositiveInt('--top'), 15)
    .option('-q, --quiet', 'print the verdict and each violation, without the statements table');
  addBudgetOptions(command, { required: true });
  addOutputOptions(command).action(async (reportPath: string, flags: CheckFlags) => {
    setExit(await checkCommand(reportPath, flags, io));
  });
}

/** Reads the report and the budget, gates, writes the outputs; returns the exit code. */
export async function checkCommand(reportPath: string, flags: CheckFlags, io: CliIO): Promise<number> {
  // Annotations point at the workload file from here, not from where the run was started.
  checkOutputFlags(flags);
  const read = relocateSource(readReport(reportPath), process.cwd());
  const version = toolVersionWarning(read, reportPath);
  // In every output (the JSON report, the Markdown, the table), and on stderr when no table is printed.
  const report = version ? { ...read, warnings: [...read.warnings, version] } : read;
  if (version && !tableOnStdout(flags)) io.err(`querygate: warning: ${version}`);
  const budget = resolveBudget(flags, io, { required: true });
  const config = loadConfig({ cwd: process.cwd(), ...(flags.config ? { file: flags.config } : {}) });
  await loadParser(); // the rules read statement text
  const failOn: FailOn = flags.failOn ?? config.config.failOn ?? 'error';
  const gated = gateReport(report, budget, {
    failOn,
    ...(config.config.rules ? { config: config.config.rules } : {}),
    // Rule settings may differ from the run's: run the rules again (a saved report keeps normalized
    // statement text, so the run's own findings are kept when nothing configures the rules).
    rerunRules: Object.keys(budget?.rules ?? {}).length > 0 || Object.keys(config.config.rules ?? {}).length > 0,
  });
  writeOutputs(gated, flags, io);
  const gate = gated.gate!;
  // The verdict and the violations are always printed: the table ends with them; without it they go
  // to stdout when it is free (--quiet, --output-dir), else to stderr, next to a document on stdout.
  if (!tableOnStdout(flags)) {
    const text = renderGateText(gate, { width: io.columns });
    const stdoutFree = flags.outputDir !== undefined || !(flags.format ?? []).some((f) => f !== 'table');
    if (stdoutFree) io.out(text);
    else io.err(text);
  }
  if (!report.run.complete) {
    // Limits on plans and findings were skipped for want of plans: an interrupted run never passes.
    io.err(
      `querygate: ${reportPath} is the report of an interrupted run (${report.run.interruptedBy ?? 'incomplete'}): the gate cannot pass on it`,
    );
    return EXIT.gateFailed;
  }
  return gate.passed ? EXIT.ok : EXIT.gateFailed;
}
