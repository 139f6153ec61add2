/** Parsing of option values shared by commands; every failure is a USAGE error naming the flag. */
import { InputError } from '../errors.js';
import { parseDuration } from '../config/yaml.js';
import type { ExplainAs } from '../model/plan.js';

export function parsePositiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InputError('USAGE', `${flag} must be a positive integer, got "${value}"`);
    return n;
  };
}

export function parseNonNegativeInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InputError('USAGE', `${flag} must be a non-negative integer, got "${value}"`);
    return n;
  };
}

/**
 * A duration flag: a bare number is seconds (`--duration 5`), else `500ms`, `10s`, `2m`.
 * `positive`: zero is refused (a run of no time, an EXPLAIN timeout of none), with `why` when given.
 */
export function parseDurationFlag(flag: string, options: { positive?: boolean; why?: string } = {}) {
  return (value: string): number => {
    const ms = parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value, flag);
    if (options.positive && ms <= 0)
      throw new InputError(
        'USAGE',
        `${flag} must be more than 0, got "${value}"${options.why !== undefined ? ` (${options.why})` : ''}`,
      );
    return ms;
  };
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The target's URL from --database-url or DATABASE_URL; undefined for the embedded default. */
export function databaseUrlOf(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const url = flag ?? (env.DATABASE_URL || undefined);
  if (url === undefined) return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    // The value is not echoed: it may hold a password.
    throw new InputError(
      'USAGE',
      `${flag !== undefined ? '--database-url' : 'DATABASE_URL'} is not a PostgreSQL URL: ` +
        'expected postgres://user:password@host:5432/database',
    );
  }
  return url;
}

/**
 * The role and settings to plan as: `--explain-role` replaces the scenario's `explain.role`, and
 * `--explain-setting name=value` (repeatable) all of its `explain.settings`, as a flag replaces a
 * file's value, never merges with it. Undefined when neither gives anything.
 */
export function resolveExplainAs(
  flags: { readonly explainRole?: string; readonly explainSetting?: readonly string[] },
  scenario: ExplainAs | undefined,
): ExplainAs | undefined {
  const settings =
    flags.explainSetting !== undefined
      ? Object.fromEntries(flags.explainSetting.map(parseSettingFlag))
      : (scenario?.settings ?? {});
  const role = flags.explainRole ?? scenario?.role;
  if (role === undefined && Object.keys(settings).length === 0) return undefined;
  return { ...(role !== undefined ? { role } : {}), ...(Object.keys(settings).length > 0 ? { settings } : {}) };
}

/** `app.tenant=2` -> [`app.tenant`, `2`]: the name up to the first `=`, the value after it (may be empty). */
function parseSettingFlag(value: string): [string, string] {
  const at = value.indexOf('=');
  const name = at > 0 ? value.slice(0, at).trim() : '';
  if (name === '')
    throw new InputError('USAGE', `--explain-setting must be name=value (e.g. app.tenant=2), got "${value}"`);
  return [name, value.slice(at + 1)];
}
