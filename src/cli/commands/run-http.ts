/** `querygate run <scenario>` when the scenario has an `http` section: HTTP replay through the application. */
import { databaseUrlOf } from '../options.js';
import { InputError } from '../../errors.js';
import { budgetRules } from '../../budget/gate.js';
import { redactSecrets, urlSecrets } from '../../redact.js';
import { runHttpWorkload } from '../../workload/http/phases.js';
import { loadHttpScenario, phaseTooShort, type HttpLoadOverrides } from '../../workload/http/scenario.js';
import { describeFailOn, resolveRunConfig } from '../fail-on.js';
import type { CliIO } from '../io.js';
import { resolveBudget } from '../output.js';
import { executeRun, gateThreshold, sharedRunOptions, type RunFlags } from './run.js';
import { readComparableReport } from './compare.js';

/** Resolves the flags that apply to HTTP replay, runs, writes the report; returns the exit code. */
export async function runHttpCommand(scenario: string, flags: RunFlags, io: CliIO): Promise<number> {
  const sqlOnly = [
    ['--repeat', flags.repeat],
    ['--rounds', flags.rounds],
  ].filter(([, v]) => v !== undefined);
  if (sqlOnly.length > 0) {
    throw new InputError(
      'USAGE',
      `${sqlOnly.map(([f]) => f).join(', ')}: not for an HTTP scenario, which runs one phase per route (use --duration, or --count requests per phase)`,
    );
  }
  const tooShort = flags.duration !== undefined ? phaseTooShort(flags.duration) : undefined;
  if (tooShort)
    throw new InputError(
      'USAGE',
      `--duration ${tooShort} in an HTTP run (the length of each route's phase), got ${flags.duration}ms`,
    );
  const overrides: HttpLoadOverrides = {
    ...(flags.connections !== undefined ? { connections: flags.connections } : {}),
    ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
    ...(flags.count !== undefined ? { requests: flags.count } : {}),
    ...(flags.warmup !== undefined ? { warmupMs: flags.warmup } : {}),
    ...(flags.rate !== undefined ? { rate: flags.rate } : {}),
    ...(flags.baseUrl !== undefined ? { baseUrl: flags.baseUrl } : {}),
  };
  const workload = loadHttpScenario(scenario, overrides);
  const databaseUrl = databaseUrlOf(flags.databaseUrl, io.env);
  const runConfig = resolveRunConfig(flags, process.cwd());
  const config = runConfig.loaded;
  const budget = resolveBudget(flags, io);
  if (flags.verbose) {
    const load = workload.load;
    io.err(
      `settings: config=${config.path ?? 'defaults'} budget=${budget?.source ?? 'none'} fail-on=${describeFailOn(runConfig, budget !== undefined)} ` +
        `target=${databaseUrl ? redactSecrets(databaseUrl) : 'embedded'} workload=${workload.name} routes=${workload.routes.length} ` +
        `app=${workload.app ? redactSecrets(JSON.stringify(workload.app.command), urlSecrets(databaseUrl)) : 'none'} base-url=${workload.baseUrl ?? 'from the app'} ` +
        `connections=${load.connections} phase=${JSON.stringify(load.shape)} rate=${load.rate ?? 'unlimited'} ` +
        `warmup=${load.warmupMs}ms mixed=${load.mixed} analyze=${Boolean(flags.analyze)} out=${flags.out}`,
    );
    for (const w of workload.warnings) io.err(`querygate: ${w}`);
  }
  const baseline = flags.baseline ? readComparableReport(flags.baseline) : undefined;
  return executeRun(
    io,
    { ...flags, ...gateThreshold(runConfig) },
    (signal, onProgress, onStep) =>
      runHttpWorkload({
        workload,
        ...sharedRunOptions(
          flags,
          databaseUrl,
          budget ? budgetRules(config.config.rules, budget) : config.rules,
          workload.explain,
        ),
        allowWrites: Boolean(flags.allowWrites),
        signal,
        ...(onProgress ? { onProgress } : {}),
        onStep,
        ...(flags.verbose ? { onAppOutput: (line: string) => io.err(`app: ${line}`) } : {}),
      }),
    baseline,
    budget,
  );
}
