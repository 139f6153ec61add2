import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadParser } from '../../analyze/parser.js';
import { renderCulprit } from '../../report/culprit.js';
import { runWorkload } from '../../run/run.js';
import { loadScenario } from '../../workload/load.js';
import type { CliIO } from '../io.js';
import { resolveRunConfig } from '../fail-on.js';
import { budgetRules } from '../../budget/gate.js';
import { resolveBudget } from '../output.js';
import { addTargetOptions, executeRun, type RunFlags } from './run.js';

/** The scenario that reproduces the outage, shipped with the package. */
export const DEMO_SCENARIO = fileURLToPath(new URL('../../../scenarios/outage-demo.yaml', import.meta.url));

export function registerDemo(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const command = program
    .command('demo')
    .description('reproduce the outage on an embedded PostgreSQL: 1M orders, normal traffic, one costly new query');
  addTargetOptions(command).action(async (flags: RunFlags) => {
    await loadParser();
    const workload = loadScenario(DEMO_SCENARIO, {});
    const databaseUrl = flags.databaseUrl ?? (io.env.DATABASE_URL || undefined);
    if (databaseUrl) io.err('querygate: the demo creates (and replaces) schema "shop" in the given database');
    const { loaded: config, failOn } = resolveRunConfig(flags, process.cwd());
    const budget = resolveBudget(flags, io);
    let culprit = '';
    const code = await executeRun(io, { ...flags, ...(failOn ? { failOn } : {}) }, async (signal, onProgress, onStep) => {
      const report = await runWorkload({
        workload,
        ...(databaseUrl ? { databaseUrl, setup: true, allowWrites: true, allowIndexBuild: true } : {}),
        analyze: Boolean(flags.analyze),
        rules: budget ? budgetRules(config.config.rules, budget) : config.rules,
        signal,
        ...(onProgress ? { onProgress } : {}),
        onStep,
      });
      culprit = renderCulprit(report);
      return report;
    }, undefined, budget);
    if (!flags.quiet && culprit) io.out(`\n${culprit}`);
    setExit(code);
  });
}
