import type { Command } from 'commander';
import {
  EnvironmentError,
  InputError,
  InterruptedError,
  isQuerygateError,
  RunFailedError,
  type InputErrorCode,
  type QuerygateError,
} from '../../errors.js';
import type { Report } from '../../model/report.js';
import { renderJson } from '../../report/json.js';
import { runWorkload } from '../../run/run.js';
import { replayThreads } from '../../workload/replay.js';
import {
  loadScenario,
  loadSqlWorkload,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  NO_ZERO_STATEMENT_TIMEOUT,
  type LoadOverrides,
} from '../../workload/load.js';
import { formatProgress } from '../progress.js';
import { watchInterrupts, type Interrupt } from '../interrupt.js';
import { EXIT, type CliIO } from '../io.js';
import { checkOutputFile, writeFallbackReport, writeOutputFile } from '../files.js';
import {
  collect,
  databaseUrlOf,
  parseDurationFlag,
  parseNonNegativeInt,
  parsePositiveInt,
  resolveExplainAs,
} from '../options.js';
import type { ExplainAs } from '../../model/plan.js';
import { loadParser } from '../../analyze/parser.js';
import { redactSecrets } from '../../redact.js';
import {
  describeFailOn,
  failingFindingsMessage,
  parseFailOn,
  resolveRunConfig,
  type FailOn,
  type RunConfig,
} from '../fail-on.js';
import { describeRules } from '../../config/config.js';
import { recordSourceLocation, relocateSource } from '../../report/source-paths.js';
import { compareWithBaseline, readComparableReport } from './compare.js';
import { runHttpCommand } from './run-http.js';
import { isHttpScenario } from '../../workload/http/scenario.js';
import { budgetRules, gateReport } from '../../budget/gate.js';
import { renderGateText } from '../../report/gate-text.js';
import type { Budget } from '../../model/budget.js';
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

export interface RunFlags extends OutputFlags, BudgetFlags {
  workload?: string;
  schema?: string[];
  seed?: string[];
  databaseUrl?: string;
  setup?: boolean;
  allowWrites?: boolean;
  /** Validate index advice on an external database by building candidates in rolled-back transactions. */
  allowIndexBuild?: boolean;
  repeat?: number;
  connections?: number;
  duration?: number;
  count?: number;
  warmup?: number;
  statementTimeout?: number;
  rounds?: number;
  threads?: number;
  analyze?: boolean;
  explainTimeout?: number;
  /** The role EXPLAIN plans as (SET LOCAL ROLE in its transaction). */
  explainRole?: string;
  /** `name=value` settings EXPLAIN plans with (set_config(name, value, true) in its transaction). */
  explainSetting?: string[];
  out: string;
  randomSeed?: number;
  quiet?: boolean;
  verbose?: boolean;
  top?: number;
  /** Config file (default: the nearest querygate.config.yaml). */
  config?: string;
  /** Exit 1 when an unsuppressed finding at this severity or worse exists. */
  failOn?: FailOn;
  /** A saved report to compare this run with (exit 1 on regression). */
  baseline?: string;
  /** Also write the report here, for later `--baseline` use. */
  saveBaseline?: string;
  /** HTTP scenarios: an already running application (its `app` is not started). */
  baseUrl?: string;
  /** HTTP scenarios: requests per second over all connections. */
  rate?: number;
}

/** Adds the options shared by `run` and `demo`. */
export function addTargetOptions(command: Command): Command {
  addBudgetOptions(command);
  addOutputOptions(command);
  return command
    .option(
      '--database-url <url>',
      'existing PostgreSQL to run against (default: $DATABASE_URL, else an embedded server)',
    )
    .option('--out <file>', 'where to write the JSON report', 'querygate-report.json')
    .option('--analyze', 'EXPLAIN (ANALYZE, BUFFERS) each statement inside a rolled-back transaction')
    .option(
      '--explain-timeout <duration>',
      'statement_timeout of each EXPLAIN, more than 0 (default 10s; a bare number is seconds)',
      parseDurationFlag('--explain-timeout', { positive: true }),
    )
    .option(
      '--explain-role <role>',
      "plan statements (EXPLAIN, index advice) as this role, as the application runs them: its row-level security policies apply (SET LOCAL ROLE in each EXPLAIN's rolled-back transaction)",
    )
    .option(
      '--explain-setting <name=value>',
      "a session setting to plan statements with, e.g. app.tenant=2 for a policy that reads current_setting('app.tenant') (repeatable; set_config(name, value, true) in each EXPLAIN's transaction)",
      collect,
    )
    .option(
      '--allow-index-build',
      'validate index advice on an external database by building each candidate in a rolled-back transaction (the build blocks writes to the table; embedded: always)',
    )
    .option('--top <n>', 'statements shown in the terminal summary', parsePositiveInt('--top'), 15)
    .option(
      '-q, --quiet',
      'print no summary (the report file is still written; a failed gate still prints its violations on stderr)',
    )
    .option('-v, --verbose', 'print the resolved settings and each step')
    .option('--config <file>', 'config file with rule settings (default: the nearest querygate.config.yaml)')
    .option(
      '--fail-on <severity>',
      "exit 1 when an un-accepted finding of this severity or worse exists: error or warning (default: the config's failOn, except with --no-budget; with a budget, error)",
      parseFailOn,
    );
}

export function registerRun(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const command = program
    .command('run')
    .description('replay a SQL workload or a scenario, capture statistics and plans, write a report')
    .argument('[scenario]', 'scenario file (YAML)')
    .option('-w, --workload <file>', 'plain SQL workload: statements separated by ;')
    .option('--schema <file>', 'SQL applied before the run (repeatable)', collect)
    .option('--seed <file>', 'SQL applied after the schema (repeatable)', collect)
    .option('--setup', 'apply schema/seed files to an external database too (embedded: always)')
    .option(
      '--allow-writes',
      'let writes commit on an external database (SQL: by default every statement runs in a rolled-back transaction; HTTP: write routes refused without it)',
    )
    .option('--repeat <n>', 'calls per statement (default 10)', parsePositiveInt('--repeat'))
    .option(
      '--count <n>',
      'SQL: total calls, shared by weight and spread over every round; HTTP: requests per phase (each route, and the mixed phase)',
      parsePositiveInt('--count'),
    )
    .option(
      '--duration <duration>',
      'SQL: run for a time instead, more than 0; HTTP: length of each phase, at least 1s (e.g. 30s, 500ms, 2m; a bare number is seconds)',
      parseDurationFlag('--duration', { positive: true }),
    )
    .option(
      '-c, --connections <n>',
      'concurrent connections (default 4, at most 1000)',
      parsePositiveInt('--connections'),
    )
    .option('--warmup <duration>', 'unmeasured warm-up before the run', parseDurationFlag('--warmup'))
    .option(
      '--statement-timeout <duration>',
      'statement_timeout of each replayed statement, more than 0 (default 60s; a bare number is seconds)',
      parseDurationFlag('--statement-timeout', { positive: true, why: NO_ZERO_STATEMENT_TIMEOUT }),
    )
    .option('--rounds <n>', 'measurement rounds, for timing spread (default 3)', parsePositiveInt('--rounds'))
    .option(
      '--threads <n>',
      'threads the connections are split over (default: one per core, at most one per connection)',
      parsePositiveInt('--threads'),
    )
    .option('--random-seed <n>', 'seed of the parameter generators', parseNonNegativeInt('--random-seed'))
    .option('--baseline <report>', "compare with a saved report (e.g. main's) and exit 1 on regression")
    .option('--save-baseline <file>', 'also write the report to this file, for a later --baseline')
    .option(
      '--base-url <url>',
      'HTTP scenario: send the traffic to this running application instead of starting its app',
    )
    .option('--rate <n>', 'HTTP scenario: requests per second over all connections', parsePositiveInt('--rate'));
  addTargetOptions(command).action(async (scenario: string | undefined, flags: RunFlags) => {
    setExit(await runCommand(scenario, flags, io));
  });
}

/** As the scenario schema allows. */
const MAX_ROUNDS = 100;
/** As the scenario schema allows: each connection is a server process (the embedded server is sized for them). */
const MAX_CONNECTIONS = 1000;

/** Resolves flags, runs, writes the report and the summary; returns the exit code. */
export async function runCommand(scenario: string | undefined, flags: RunFlags, io: CliIO): Promise<number> {
  if (scenario && flags.workload) throw new InputError('USAGE', 'give either a scenario file or --workload, not both');
  if (!scenario && !flags.workload) {
    throw new InputError(
      'USAGE',
      'nothing to run: give a scenario file (querygate run scenarios/x.yaml) or --workload file.sql',
    );
  }
  const shapes = [flags.repeat, flags.count, flags.duration].filter((v) => v !== undefined).length;
  if (shapes > 1) throw new InputError('USAGE', '--repeat, --count and --duration are mutually exclusive');
  if (flags.rounds !== undefined && flags.rounds > MAX_ROUNDS)
    throw new InputError('USAGE', `--rounds must be at most ${MAX_ROUNDS}, got ${flags.rounds}`);
  if (flags.connections !== undefined && flags.connections > MAX_CONNECTIONS)
    throw new InputError('USAGE', `--connections must be at most ${MAX_CONNECTIONS}, got ${flags.connections}`);
  checkRunOutputs(flags);
  await loadParser();
  const overrides: LoadOverrides = {
    ...(flags.connections !== undefined ? { connections: flags.connections } : {}),
    ...(flags.repeat !== undefined ? { repeat: flags.repeat } : {}),
    ...(flags.count !== undefined ? { count: flags.count } : {}),
    ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
    ...(flags.warmup !== undefined ? { warmupMs: flags.warmup } : {}),
    ...(flags.statementTimeout !== undefined ? { statementTimeoutMs: flags.statementTimeout } : {}),
    ...(flags.rounds !== undefined ? { rounds: flags.rounds } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
  };
  if (scenario && (flags.schema || flags.seed)) {
    throw new InputError('USAGE', '--schema/--seed apply to --workload; a scenario names its setup files itself');
  }
  if (scenario && isHttpScenario(scenario)) return runHttpCommand(scenario, flags, io);
  if (flags.baseUrl !== undefined || flags.rate !== undefined)
    throw new InputError('USAGE', '--base-url and --rate apply to HTTP scenarios (with an http: section)');
  const workload = scenario
    ? loadScenario(scenario, overrides)
    : loadSqlWorkload(flags.workload!, { schema: flags.schema ?? [], seed: flags.seed ?? [] }, overrides);
  // Before a long run rather than in its summary only: the load can be fixed at once.
  if (!flags.quiet) for (const w of workload.warnings ?? []) io.err(`querygate: warning: ${w}`);
  const databaseUrl = databaseUrlOf(flags.databaseUrl, io.env);
  const runConfig = resolveRunConfig(flags, process.cwd());
  const config = runConfig.loaded;
  // Read the budget first too: a bad file fails before the run.
  const budget = resolveBudget(flags, io);
  if (flags.verbose) {
    io.err(
      `settings: config=${config.path ?? 'defaults'} budget=${budget?.source ?? 'none'} fail-on=${describeFailOn(runConfig, budget !== undefined)} target=${databaseUrl ? redactSecrets(databaseUrl) : 'embedded'} workload=${workload.name} ` +
        `statements=${workload.statements.length} connections=${workload.load.connections} threads=${replayThreads(workload)} ` +
        `load=${JSON.stringify(workload.load.shape)} rounds=${workload.load.rounds} warmup=${workload.load.warmupMs}ms ` +
        `statement-timeout=${workload.load.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS}ms ` +
        `analyze=${Boolean(flags.analyze)} out=${flags.out}`,
    );
    io.err(describeRules(config.rules));
  }
  // Read the baseline first: a bad file should fail before a long run, not after it.
  const baseline = flags.baseline ? readBaseline(flags.baseline) : undefined;
  return executeRun(
    io,
    { ...flags, ...gateThreshold(runConfig) },
    (signal, onProgress, onStep) =>
      runWorkload({
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
      }),
    baseline,
    budget,
  );
}

/** The threshold of a run's gate and where it comes from, as `executeRun` takes them. */
export function gateThreshold(config: RunConfig): { failOn?: FailOn; failOnFrom?: string } {
  return config.failOn
    ? { failOn: config.failOn, ...(config.failOnFrom ? { failOnFrom: config.failOnFrom } : {}) }
    : {};
}

/** Checks, before anything runs, every file a run will write: a measurement is never lost to a typo. */
export function checkRunOutputs(
  flags: Pick<RunFlags, 'out' | 'saveBaseline' | 'format' | 'outputDir' | 'quiet'>,
): void {
  checkOutputFile(flags.out, '--out');
  checkOutputFlags(flags);
  checkOutputFile(flags.saveBaseline, '--save-baseline');
}

/** The report of --baseline; a problem with it names the flag, as the file is not the run's input. */
function readBaseline(path: string): Report {
  try {
    return readComparableReport(path);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new InputError(error.code as InputErrorCode, `--baseline: ${error.message}`, error.details);
  }
}

/** The run options every kind of run takes from the same flags. */
export function sharedRunOptions<R>(
  flags: RunFlags,
  databaseUrl: string | undefined,
  rules: R,
  scenarioExplain?: ExplainAs,
) {
  const explainAs = resolveExplainAs(flags, scenarioExplain);
  return {
    ...(explainAs ? { explainAs } : {}),
    ...(databaseUrl ? { databaseUrl } : {}),
    setup: Boolean(flags.setup),
    allowIndexBuild: Boolean(flags.allowIndexBuild),
    analyze: Boolean(flags.analyze),
    rules,
    ...(flags.explainTimeout !== undefined ? { explainTimeoutMs: flags.explainTimeout } : {}),
    ...(flags.randomSeed !== undefined ? { seed: flags.randomSeed } : {}),
  };
}

type Runner = (
  signal: AbortSignal,
  onProgress: ((p: Parameters<typeof formatProgress>[0]) => void) | undefined,
  onStep: (message: string) => void,
) => Promise<Report>;

/**
 * Runs with Ctrl-C handling (first: stop and write what was captured; second: quit now),
 * a live progress line on a TTY, then writes the report and the summary.
 */
export async function executeRun(
  io: CliIO,
  flags: Pick<RunFlags, 'out' | 'quiet' | 'verbose' | 'top' | 'saveBaseline' | 'failOn' | 'format' | 'outputDir'> & {
    /** Where `failOn` comes from (`--fail-on`, `failOn of <config file>`), for the message of a failed gate. */
    failOnFrom?: string;
  },
  runner: Runner,
  baseline?: Report,
  budget?: Budget,
): Promise<number> {
  const controller = new AbortController();
  let interrupt: Interrupt | undefined;
  const stopWatching = watchInterrupts((next) => {
    if (interrupt) {
      // A launcher that a signal to the whole group ended leaves querygate on its own too: that
      // is the same interrupt, not a second one asking to quit now.
      if (next.kind === 'orphaned') return;
      io.err('interrupted again: quitting without a report');
      process.exit(next.exitCode);
    }
    interrupt = next;
    // Only a terminal's Ctrl-C is pressed; SIGTERM and SIGHUP come from a process manager or a closed terminal.
    const again =
      next.kind === 'SIGINT'
        ? 'press Ctrl-C again to quit now'
        : next.kind === 'orphaned'
          ? 'send SIGTERM to quit now'
          : `send ${next.kind} again to quit now`;
    const what = next.kind === 'orphaned' ? `querygate: ${next.reason.replace(/^interrupted: /, '')}` : next.kind;
    io.err(`\n${what}: stopping the run, then writing what was captured, if anything (${again})`);
    controller.abort(next.reason);
  });
  let progressShown = false;
  const onProgress =
    io.isTTY && !flags.quiet
      ? (p: Parameters<typeof formatProgress>[0]) => {
          progressShown = true;
          process.stderr.write(`\r${formatProgress(p).padEnd(70)}`);
        }
      : undefined;
  const clearProgress = () => {
    if (progressShown) process.stderr.write(`\r${' '.repeat(72)}\r`);
    progressShown = false;
  };
  const onStep = (message: string) => {
    clearProgress();
    if (flags.verbose || (io.isTTY && !flags.quiet)) io.err(`querygate: ${message}`);
  };
  let report: Report;
  // A run that failed half-way (the application exited, the load command failed) still has a report.
  let failure: RunFailedError | undefined;
  try {
    report = await runner(controller.signal, onProgress, onStep);
  } catch (error) {
    // Interrupted before the replay began (setup, checks): nothing was measured, no report. The same
    // Ctrl-C reaches the processes of the foreground group too: an initdb it ended fails the embedded
    // server's start, which is the interrupt, not an error of its own.
    const interruptedBy =
      error instanceof InterruptedError
        ? error.reason
        : controller.signal.aborted && error instanceof EnvironmentError && !(error instanceof RunFailedError)
          ? String(controller.signal.reason ?? 'interrupted')
          : undefined;
    if (interruptedBy !== undefined) {
      clearProgress();
      io.err(`querygate: ${interruptedBy} before the replay began: nothing was measured, no report written`);
      return interrupt?.exitCode ?? EXIT.interrupted;
    }
    if (!(error instanceof RunFailedError)) throw error;
    failure = error;
    report = error.report;
  } finally {
    clearProgress();
    stopWatching();
  }
  // Where the workload file is, so that a later `check` from another directory can point at it.
  report = recordSourceLocation(report, process.cwd());
  // The run's gate: with a budget, its limits and un-accepted findings (at or above error unless
  // --fail-on or the config's failOn say otherwise); without one, the findings at or above a threshold
  // given (--fail-on, failOn). The report carries the verdict, so that every output tells the one
  // the exit code does. Without either, the run gates nothing, and no output shows a verdict.
  const threshold = flags.failOn ?? (budget ? 'error' : undefined);
  const gated = threshold && report.run.complete ? gateReport(report, budget, { failOn: threshold }) : report;
  // The outputs were checked before the run; a write that fails now (disk full, a directory removed
  // meanwhile) must not lose the measurement: the report goes to the temporary directory instead.
  const json = renderJson(gated);
  let writeError: QuerygateError | undefined;
  try {
    writeOutputFile(flags.out, json, '--out');
    io.err(`report written to ${flags.out}${report.run.complete ? '' : ' (incomplete)'}`);
  } catch (error) {
    if (!isQuerygateError(error)) throw error;
    writeError = error;
    try {
      const fallback = writeFallbackReport(json);
      io.err(`querygate: error: ${error.message}; the report was written to ${fallback} instead`);
    } catch (fallbackError) {
      if (!isQuerygateError(fallbackError)) throw fallbackError;
      io.err(`querygate: error: ${error.message}; ${fallbackError.message}`);
    }
  }
  try {
    // Annotations, SARIF and the other outputs name the workload file as check would from here:
    // relative to the working directory (where CI checks out the repository), not by the absolute
    // path of this machine that --workload may have been given.
    // A failed run's error (the load command exited non-zero) is printed once, as the error.
    writeOutputs(relocateSource(gated, process.cwd()), flags, io, failure ? { printedAsError: failure.message } : {});
    if (flags.saveBaseline && !writeError) {
      writeOutputFile(flags.saveBaseline, json, '--save-baseline');
      io.err(`baseline written to ${flags.saveBaseline}`);
    }
  } catch (error) {
    if (!isQuerygateError(error)) throw error;
    writeError ??= error;
    io.err(`querygate: error: ${error.message}`);
  }
  if (failure) throw failure;
  if (writeError) return EXIT.environment;
  if (!report.run.complete) return interrupt?.exitCode ?? EXIT.interrupted;
  // A failed gate always says why: the terminal table ends with the verdict and the violations;
  // without it (--quiet, other formats on stdout) they go to stderr, as `check --quiet` prints them.
  if (gated.gate && !gated.gate.passed && !tableOnStdout(flags)) {
    io.err(renderGateText(gated.gate, { width: io.columns }));
  }
  // Which findings failed it, and where the threshold they failed comes from.
  const failingFindings =
    gated.gate && !gated.gate.passed && threshold
      ? failingFindingsMessage(
          gated,
          threshold,
          flags.failOnFrom ?? (flags.failOn ? '--fail-on' : "the budget gate's default"),
        )
      : undefined;
  if (failingFindings) io.err(failingFindings);
  const findingsExit = gated.gate && !gated.gate.passed ? EXIT.gateFailed : EXIT.ok;
  if (baseline) {
    const compared = compareWithBaseline(baseline, report, { format: 'table' }, io, budget, Boolean(flags.quiet));
    return compared !== EXIT.ok ? compared : findingsExit;
  }
  return findingsExit;
}
