/**
 * `querygate capture [options] -- <command...>`: capture the database side of any load (k6, wrk, a
 * test suite, a distributed load generator) and report like `run`. The command inherits the
 * terminal (its output passes through) and gets DATABASE_URL of the target in its environment.
 */
import type { Command } from 'commander';
import { loadParser } from '../../analyze/parser.js';
import { budgetRules } from '../../budget/gate.js';
import { InputError } from '../../errors.js';
import { redactSecrets, urlSecrets } from '../../redact.js';
import { captureCommand } from '../../workload/command.js';
import { readSetupFiles } from '../../workload/load.js';
import { describeFailOn, resolveRunConfig } from '../fail-on.js';
import type { CliIO } from '../io.js';
import { collect, databaseUrlOf, resolveExplainAs } from '../options.js';
import { resolveBudget } from '../output.js';
import { addTargetOptions, checkRunOutputs, executeRun, gateThreshold, type RunFlags } from './run.js';
import { readComparableReport } from './compare.js';

export function registerCapture(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const command = program
    .command('capture')
    .usage('[options] -- <command...>')
    .description(
      'capture what the database does while a command runs (k6, wrk, a test suite, ...): querygate capture -- k6 run load.js',
    )
    .argument('<command...>', 'the command that sends the load, after --; it gets DATABASE_URL of the target')
    .option('--schema <file>', 'SQL applied before the command (repeatable; external database: with --setup)', collect)
    .option('--seed <file>', 'SQL applied after the schema (repeatable)', collect)
    .option('--setup', 'apply schema/seed files to an external database too (embedded: always)')
    .option('--baseline <report>', "compare with a saved report (e.g. main's) and exit 1 on regression")
    .option('--save-baseline <file>', 'also write the report to this file, for a later --baseline');
  addTargetOptions(command).action(async (args: string[], flags: RunFlags) => {
    setExit(await captureCliCommand(args, flags, io));
  });
}

/**
 * The hint for an unknown option met after the load command's first word (`capture sh -c 'true'`,
 * `--` forgotten): the option is the load command's, not querygate's. An unknown option before any
 * command word is a mistyped querygate option, and commander's message (with its suggestion) is enough.
 */
export function captureUsageHint(command: Command, message: string): string | undefined {
  const flag = /^error: unknown option '(.*)'/.exec(message)?.[1];
  if (flag === undefined) return undefined;
  const words = command.args;
  const at = words.indexOf(flag);
  if (at <= 0 || words.slice(0, at).includes('--')) return undefined;
  return "put -- before the load command, so that its options are not read as querygate's: querygate capture [options] -- <command...>";
}

/** Runs the command under capture; returns the exit code (a failing command: exit 3, report written). */
export async function captureCliCommand(args: readonly string[], flags: RunFlags, io: CliIO): Promise<number> {
  if (args.length === 0) throw new InputError('USAGE', 'capture needs a command: querygate capture -- <command...>');
  const databaseUrl = databaseUrlOf(flags.databaseUrl, io.env);
  checkRunOutputs(flags);
  await loadParser(); // setup files are split and checked before anything runs
  const files = {
    schema: readSetupFiles(flags.schema ?? [], process.cwd()),
    seed: readSetupFiles(flags.seed ?? [], process.cwd()),
  };
  const runConfig = resolveRunConfig(flags, process.cwd());
  const config = runConfig.loaded;
  const budget = resolveBudget(flags, io);
  if (flags.verbose) {
    io.err(
      `settings: config=${config.path ?? 'defaults'} budget=${budget?.source ?? 'none'} fail-on=${describeFailOn(runConfig, budget !== undefined)} ` +
        `target=${databaseUrl ? redactSecrets(databaseUrl) : 'embedded'} command=${JSON.stringify(args.map((a) => redactSecrets(a, urlSecrets(databaseUrl))))} ` +
        `analyze=${Boolean(flags.analyze)} out=${flags.out}`,
    );
  }
  const baseline = flags.baseline ? readComparableReport(flags.baseline) : undefined;
  const explainAs = resolveExplainAs(flags, undefined);
  return executeRun(
    io,
    { ...flags, ...gateThreshold(runConfig) },
    (signal, _onProgress, onStep) =>
      captureCommand({
        command: args,
        ...(databaseUrl ? { databaseUrl } : {}),
        files,
        setup: Boolean(flags.setup),
        allowIndexBuild: Boolean(flags.allowIndexBuild),
        analyze: Boolean(flags.analyze),
        rules: budget ? budgetRules(config.config.rules, budget) : config.rules,
        ...(flags.explainTimeout !== undefined ? { explainTimeoutMs: flags.explainTimeout } : {}),
        ...(explainAs ? { explainAs } : {}),
        signal,
        onStep,
      }),
    baseline,
    budget,
  );
}
