/** `--fail-on error|warning` and the config's `failOn`: the severity from which findings fail a run's gate. */
import { loadConfig, type LoadedConfig } from '../config/config.js';
import { InputError } from '../errors.js';
import type { Report } from '../model/report.js';

export type FailOn = 'error' | 'warning';

/** Commander parser of `--fail-on`. */
export function parseFailOn(value: string): FailOn {
  if (value === 'error' || value === 'warning') return value;
  throw new InputError('USAGE', `--fail-on must be error or warning, got "${value}"`);
}

/** The config file (`--config`, else the nearest querygate.config.yaml) and the gate's threshold of a run. */
export interface RunConfig {
  readonly loaded: LoadedConfig;
  /** Un-accepted findings at or above it fail the run (with a budget, the gate defaults to `error`). */
  readonly failOn?: FailOn;
  /** Where `failOn` comes from, in the words messages use: `--fail-on`, `failOn of <config file>`. */
  readonly failOnFrom?: string;
  /** The config's `failOn` that this run leaves to `check` (`--no-budget`), for `-v`. */
  readonly leftToCheck?: string;
}

/**
 * The config file and the threshold of the run's gate: `--fail-on`, else the config's `failOn`.
 * `--no-budget` says the run only measures and `check` gates its report: the config's `failOn` is
 * then the threshold of that `check` (which also applies the budget's accepted findings), and only
 * a `--fail-on` given to the run itself gates the run.
 */
export function resolveRunConfig(
  flags: { config?: string; failOn?: FailOn; budget?: string | false },
  cwd: string,
): RunConfig {
  const loaded = loadConfig({ ...(flags.config ? { file: flags.config } : {}), cwd });
  if (flags.failOn) return { loaded, failOn: flags.failOn, failOnFrom: '--fail-on' };
  const configured = loaded.config.failOn;
  if (!configured) return { loaded };
  const from = `failOn of ${loaded.path ?? 'the config'}`;
  if (flags.budget === false) return { loaded, leftToCheck: `${configured} (${from})` };
  return { loaded, failOn: configured, failOnFrom: from };
}

/**
 * How `-v` names the run's threshold: the one in effect and where it comes from (with a budget, the
 * gate's default `error`), or `none`, naming a config `failOn` left to `check`.
 */
export function describeFailOn(config: RunConfig, budget: boolean): string {
  if (config.failOn) return `${config.failOn} (${config.failOnFrom})`;
  if (budget) return "error (the budget gate's default)";
  return config.leftToCheck ? `none (--no-budget: the run gates nothing; ${config.leftToCheck} is check's)` : 'none';
}

/** Says which findings failed a run's gate and where its threshold came from (stderr). */
export function failingFindingsMessage(report: Report, threshold: FailOn, from: string): string | undefined {
  const failing = (report.gate?.findings ?? []).filter((f) => f.status === 'failing');
  if (failing.length === 0) return undefined;
  const rules = [...new Set(failing.map((f) => f.finding.rule))].join(', ');
  return `querygate: ${failing.length} finding(s) at or above ${threshold} (${from}): ${rules}`;
}
