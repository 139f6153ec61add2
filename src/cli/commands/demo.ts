import { databaseUrlOf } from '../options.js';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadParser } from '../../analyze/parser.js';
import { renderCulprit } from '../../report/culprit.js';
import { fitLines } from '../../report/format.js';
import { renderRouteCulprits } from '../../report/routes.js';
import { runHttpWorkload } from '../../workload/http/phases.js';
import { loadHttpScenario } from '../../workload/http/scenario.js';
import type { CliIO } from '../io.js';
import { resolveRunConfig } from '../fail-on.js';
import { budgetRules } from '../../budget/gate.js';
import { resolveBudget } from '../output.js';
import { addTargetOptions, checkRunOutputs, executeRun, gateThreshold, type RunFlags } from './run.js';

/** The SQL scenario that reproduces the outage, shipped with the package (an example for `querygate run`). */
export const DEMO_SCENARIO = fileURLToPath(new URL('../../../scenarios/outage-demo.yaml', import.meta.url));
/** What `querygate demo` runs: the same outage as HTTP traffic through the sample application. */
export const DEMO_HTTP_SCENARIO = fileURLToPath(new URL('../../../fixtures/app/demo.yaml', import.meta.url));

export function registerDemo(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const command = program
    .command('demo')
    .description(
      'reproduce the outage on an embedded PostgreSQL: 1M orders, HTTP traffic through a sample shop app, one costly new endpoint, one N+1 loop',
    );
  addTargetOptions(command).action(async (flags: RunFlags) => {
    checkRunOutputs(flags);
    await loadParser();
    const scenario = loadHttpScenario(DEMO_HTTP_SCENARIO);
    // Start the sample app with this very Node: the scenario's `node` may not be on the PATH.
    const workload = {
      ...scenario,
      ...(scenario.app ? { app: { ...scenario.app, command: [process.execPath, 'server.js'] } } : {}),
    };
    const databaseUrl = databaseUrlOf(flags.databaseUrl, io.env);
    if (databaseUrl) io.err('querygate: the demo creates (and replaces) schema "shop" in the given database');
    // Off a terminal the steps are silent (a CI log): say once what the next minute is spent on.
    if (!io.isTTY && !flags.quiet && !flags.verbose) {
      io.err(
        'querygate: demo: loading 1,000,000 orders and replaying HTTP traffic, about a minute (-v shows each step)',
      );
    }
    const runConfig = resolveRunConfig(flags, process.cwd());
    const config = runConfig.loaded;
    const budget = resolveBudget(flags, io);
    let culprit = '';
    const code = await executeRun(
      io,
      { ...flags, ...gateThreshold(runConfig) },
      async (signal, onProgress, onStep) => {
        const report = await runHttpWorkload({
          workload,
          // The demo's schema is its own (created and replaced by the demo): its writes may commit.
          ...(databaseUrl ? { databaseUrl, setup: true, allowIndexBuild: true, allowWrites: true } : {}),
          analyze: Boolean(flags.analyze),
          rules: budget ? budgetRules(config.config.rules, budget) : config.rules,
          signal,
          ...(onProgress ? { onProgress } : {}),
          onStep,
          ...(flags.verbose ? { onAppOutput: (line: string) => io.err(`app: ${line}`) } : {}),
        });
        culprit = [renderCulprit(report), renderRouteCulprits(report)].filter(Boolean).join('\n\n');
        return report;
      },
      undefined,
      budget,
    );
    if (!flags.quiet && culprit) io.out(`\n${fitLines(culprit, io.columns)}`);
    setExit(code);
  });
}
