/** `--fail-on error|warning`: exit 1 when an unsuppressed finding of that severity or worse exists. */
import { findingsAtLeast } from '../analyze/engine.js';
import { loadConfig, type LoadedConfig } from '../config/config.js';
import { InputError } from '../errors.js';
import type { Report } from '../model/report.js';
import { EXIT, type CliIO } from './io.js';

export type FailOn = 'error' | 'warning';

/** Commander parser of `--fail-on`. */
export function parseFailOn(value: string): FailOn {
  if (value === 'error' || value === 'warning') return value;
  throw new InputError('USAGE', `--fail-on must be error or warning, got "${value}"`);
}

/** The config file (`--config`, else the nearest querygate.config.yaml) and the effective --fail-on (the flag wins). */
export function resolveRunConfig(
  flags: { config?: string; failOn?: FailOn },
  cwd: string,
): { loaded: LoadedConfig; failOn?: FailOn } {
  const loaded = loadConfig({ ...(flags.config ? { file: flags.config } : {}), cwd });
  const failOn = flags.failOn ?? loaded.config.failOn;
  return { loaded, ...(failOn ? { failOn } : {}) };
}

/** Prints the findings that fail the gate and returns the exit code. */
export function failOnExit(report: Report, threshold: FailOn, io: CliIO): number {
  const failing = findingsAtLeast(report, threshold);
  if (failing.length === 0) return EXIT.ok;
  const rules = [...new Set(failing.map((f) => f.finding.rule))].join(', ');
  io.err(`querygate: ${failing.length} finding(s) at or above ${threshold} (--fail-on ${threshold}): ${rules}`);
  return EXIT.gateFailed;
}
