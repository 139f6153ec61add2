/** `querygate budget init report.json`: write a starting budget (current values plus headroom). */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import {
  DEFAULT_HEADROOM,
  DEFAULT_TIMING_HEADROOM,
  renderInitialBudget,
  SINGLE_MEASUREMENT_TIMING_HEADROOM,
} from '../../budget/init.js';
import { BUDGET_FILE_NAME, parseBudget } from '../../budget/load.js';
import { loadConfig } from '../../config/config.js';
import { InputError } from '../../errors.js';
import { readReport, requireCompleteReport } from '../../report/read.js';
import { checkOutputFile, writeOutputFile } from '../files.js';
import { EXIT, type CliIO } from '../io.js';
import { parseNonNegativeInt } from '../options.js';

export interface BudgetInitFlags {
  out: string;
  force?: boolean;
  headroom?: number;
  timingHeadroom?: number;
  acceptFindings?: boolean;
  expiresIn?: number;
  stdout?: boolean;
}

function parsePercent(flag: string) {
  return (value: string): number => {
    const n = Number(value.replace(/%$/, ''));
    if (!Number.isFinite(n) || n < 0 || n > 1000)
      throw new InputError('USAGE', `${flag} must be a percentage between 0 and 1000, got "${value}"`);
    return n / 100;
  };
}

export function registerBudget(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const budget = program.command('budget').description('work with budget files (querygate.budget.yaml)');
  budget
    .command('init')
    .description('write a starting budget from a report: measured values plus headroom, current findings accepted')
    .argument('<report>', 'JSON report written by querygate run')
    .option('--out <file>', 'where to write the budget', BUDGET_FILE_NAME)
    .option('--stdout', 'print the budget instead of writing a file')
    .option('--force', 'replace an existing budget file')
    .option(
      '--headroom <percent>',
      `headroom on plan cost, blocks, rows and calls (default ${DEFAULT_HEADROOM * 100})`,
      parsePercent('--headroom'),
    )
    .option(
      '--timing-headroom <percent>',
      `headroom on timings, which are noisy (default ${DEFAULT_TIMING_HEADROOM * 100} on a median over rounds, ` +
        `${SINGLE_MEASUREMENT_TIMING_HEADROOM * 100} on a statement's time measured once: an HTTP run, a capture)`,
      parsePercent('--timing-headroom'),
    )
    .option('--no-accept-findings', 'do not accept the current findings (the first gate then fails on them)')
    .option('--expires-in <days>', 'accepted findings expire after this many days', parseNonNegativeInt('--expires-in'))
    .action((reportPath: string, flags: BudgetInitFlags) => {
      setExit(budgetInitCommand(reportPath, flags, io));
    });
  for (const command of budget.commands)
    command
      .exitOverride()
      .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
}

export function budgetInitCommand(reportPath: string, flags: BudgetInitFlags, io: CliIO): number {
  if (!flags.stdout) checkOutputFile(flags.out, '--out');
  const report = readReport(reportPath);
  // Limits derived from a run cut short (no plans, fewer calls) would gate the next run on that.
  requireCompleteReport(report, reportPath, 'a budget needs the report of a complete run');
  if (!flags.stdout && !flags.force && existsSync(flags.out)) {
    throw new InputError('USAGE', `${flags.out} exists: pass --force to replace it, or --out to write elsewhere`);
  }
  // A new statement may not run in a loop: from the calls per request the n-plus-one rule reports
  // one at, as configured.
  const loop = loadConfig({ cwd: process.cwd() }).rules['n-plus-one'];
  const text = renderInitialBudget(report, {
    ...(loop?.enabled && typeof loop.options.minCallsPerRequest === 'number'
      ? { loopCallsPerRequest: loop.options.minCallsPerRequest }
      : {}),
    ...(flags.headroom !== undefined ? { headroom: flags.headroom } : {}),
    ...(flags.timingHeadroom !== undefined ? { timingHeadroom: flags.timingHeadroom } : {}),
    acceptFindings: flags.acceptFindings !== false,
    ...(flags.expiresIn !== undefined ? { expiresInDays: flags.expiresIn } : {}),
  });
  // What we write must load: a broken starting budget would fail the first CI run for no reason.
  parseBudget(text, flags.out);
  if (flags.stdout) {
    io.out(text.trimEnd());
    return EXIT.ok;
  }
  writeOutputFile(flags.out, text, '--out');
  const statements = report.queries.filter((q) => q.calls > 0).length;
  io.err(`querygate: wrote ${flags.out}: limits for the run and ${statements} statement(s); review it and commit it`);
  return EXIT.ok;
}
