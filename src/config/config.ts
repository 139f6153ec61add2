/**
 * The config file, `querygate.config.yaml`: found by walking up from the working directory, or
 * named with `--config FILE`. Its `rules:` section turns rules off, changes their severity and their
 * thresholds:
 *
 * ```yaml
 * failOn: error                 # like --fail-on (the flag wins)
 * rules:
 *   deep-offset: off
 *   unbounded-result: info
 *   slow-mean: { severity: error, thresholdMs: 50 }
 * ```
 *
 * The budget file reuses the same `rules:` shape: `RulesConfig` and `resolveRules` are its API.
 */
import { resolve } from 'node:path';
import { InputError, type InputErrorCode } from '../errors.js';
import { findUp } from './find-up.js';
import { SEVERITIES, type Severity } from '../model/finding.js';
import type { AnyRule, RuleOptions } from '../rules/define.js';
import { RULES } from '../rules/index.js';
import { parseValidatedYaml, type ProblemAt, readTextFile, type YamlProblem } from './yaml.js';

export const CONFIG_FILE_NAMES = ['querygate.config.yaml', 'querygate.config.yml'] as const;

/** `off`, or the severity of a clear case. */
export type RuleLevel = 'off' | Severity;

/** One rule's entry: a level, or `{ severity?, <option>: value }`. */
export type RuleSetting =
  RuleLevel | { readonly severity?: RuleLevel; readonly [option: string]: number | string | boolean | undefined };

/** The `rules:` section, by rule id. */
export type RulesConfig = Readonly<Record<string, RuleSetting>>;

/** A rule as the engine runs it. */
export interface ResolvedRule {
  readonly enabled: boolean;
  readonly severity: Severity;
  readonly options: RuleOptions;
}

/** Every registered rule's resolved setting, by id (plain JSON). */
export type ResolvedRules = Readonly<Record<string, ResolvedRule>>;

/** The config file's content. */
export interface QuerygateConfig {
  readonly failOn?: 'error' | 'warning';
  readonly rules?: RulesConfig;
}

export interface LoadedConfig {
  /** The file read, if any. */
  readonly path?: string;
  readonly config: QuerygateConfig;
  readonly rules: ResolvedRules;
}

export interface ResolveOptions {
  /** File name used in messages. */
  readonly where?: string;
  /** Error code for problems (the budget file uses BUDGET_INVALID). */
  readonly code?: InputErrorCode;
  /** Rules to resolve against (default: the registry). */
  readonly registry?: readonly AnyRule[];
  /** Prefix of the section in messages (default `rules`). */
  readonly section?: string;
}

/** Every rule at its defaults. */
export function defaultRules(registry: readonly AnyRule[] = RULES): ResolvedRules {
  return Object.fromEntries(
    registry.map((r) => [r.id, { enabled: true, severity: r.severity, options: { ...r.defaultOptions } }]),
  );
}

const isLevel = (value: unknown): value is RuleLevel => value === 'off' || SEVERITIES.includes(value as Severity);

/**
 * Validates a `rules:` section against the registry and merges it over the defaults. Unknown rule
 * ids, unknown options and values of the wrong type are errors naming the field.
 */
export function resolveRules(config: RulesConfig | undefined, options: ResolveOptions = {}): ResolvedRules {
  const registry = options.registry ?? RULES;
  const code = options.code ?? 'CONFIG_INVALID';
  const where = options.where ? `${options.where}: ` : '';
  const section = options.section ?? 'rules';
  const resolved: Record<string, ResolvedRule> = { ...defaultRules(registry) };
  if (config === undefined || config === null) return resolved;
  if (typeof config !== 'object' || Array.isArray(config))
    throw new InputError(code, `${where}${section}: must be a map of rule id to setting`);
  const byId = new Map(registry.map((r) => [r.id, r]));
  for (const [id, setting] of Object.entries(config)) {
    const rule = byId.get(id);
    if (!rule) {
      throw new InputError(
        code,
        `${where}${section}.${id}: unknown rule (known rules: ${[...byId.keys()].join(', ')})`,
      );
    }
    const base = resolved[id]!;
    if (isLevel(setting)) {
      resolved[id] = setting === 'off' ? { ...base, enabled: false } : { ...base, severity: setting };
      continue;
    }
    if (!setting || typeof setting !== 'object' || Array.isArray(setting)) {
      throw new InputError(code, `${where}${section}.${id}: must be off, error, warning, info or a map of options`);
    }
    let enabled = true;
    let severity = base.severity;
    const merged: Record<string, number | string | boolean> = { ...base.options };
    for (const [key, value] of Object.entries(setting)) {
      if (key === 'severity') {
        if (!isLevel(value))
          throw new InputError(
            code,
            `${where}${section}.${id}.severity: must be one of "off", "error", "warning", "info"`,
          );
        if (value === 'off') enabled = false;
        else severity = value;
        continue;
      }
      const fallback = rule.defaultOptions[key];
      if (fallback === undefined) {
        const known = Object.keys(rule.defaultOptions);
        throw new InputError(
          code,
          `${where}${section}.${id}.${key}: unknown option${known.length ? ` (options of ${id}: severity, ${known.join(', ')})` : ` (${id} has no options besides severity)`}`,
        );
      }
      if (typeof value !== typeof fallback || (typeof value === 'number' && (!Number.isFinite(value) || value < 0))) {
        throw new InputError(
          code,
          `${where}${section}.${id}.${key}: must be ${typeof fallback === 'number' ? 'a non-negative number' : `a ${typeof fallback}`}, got ${JSON.stringify(value)}`,
        );
      }
      merged[key] = value as number | string | boolean;
    }
    resolved[id] = { enabled, severity, options: merged };
  }
  return resolved;
}

/**
 * The settings that differ from the rules' defaults, for `--verbose`:
 * `rules: deep-offset=off, slow-mean=error thresholdMs=50` (or `rules: defaults`).
 */
export function describeRules(rules: ResolvedRules, registry: readonly AnyRule[] = RULES): string {
  const defaults = defaultRules(registry);
  const changed = Object.entries(rules).flatMap(([id, rule]) => {
    const base = defaults[id];
    if (!base) return [];
    if (!rule.enabled) return [`${id}=off`];
    const options = Object.entries(rule.options)
      .filter(([k, v]) => base.options[k] !== v)
      .map(([k, v]) => `${k}=${String(v)}`);
    if (rule.severity === base.severity && options.length === 0) return [];
    return [[`${id}=${rule.severity}`, ...options].join(' ')];
  });
  return `rules: ${changed.length ? changed.join(', ') : 'defaults'}`;
}

/** The nearest `querygate.config.yaml` from `cwd` upwards, if any. */
export function findConfigFile(cwd: string): string | undefined {
  return findUp(cwd, CONFIG_FILE_NAMES);
}

/**
 * What the schema lets through: YAML reads `.inf` and `1e999` as Infinity, which its minimums
 * accept, and a threshold nothing can reach turns its rule off without saying so.
 */
function configChecks(data: unknown, problemAt: ProblemAt): YamlProblem[] {
  const rules = isPlainObject(data) && isPlainObject(data.rules) ? data.rules : {};
  return Object.entries(rules).flatMap(([id, setting]) =>
    Object.entries(isPlainObject(setting) ? setting : {}).flatMap(([key, value]) =>
      typeof value === 'number' && !Number.isFinite(value)
        ? [problemAt(['rules', id, key], `must be a finite number, got ${String(value)}`)]
        : [],
    ),
  );
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the config: `file` when given (it must exist), else the nearest config file from `cwd`,
 * else the defaults. Throws CONFIG_INVALID naming file:line:field.
 */
export function loadConfig(options: {
  readonly file?: string;
  readonly cwd: string;
  readonly registry?: readonly AnyRule[];
}): LoadedConfig {
  const path = options.file ? resolve(options.cwd, options.file) : findConfigFile(options.cwd);
  if (!path) return { config: {}, rules: defaultRules(options.registry) };
  const text = readTextFile(path, 'config file');
  const where = options.file ?? path;
  const config =
    parseValidatedYaml<QuerygateConfig | null>(text, where, 'config.schema.json', 'CONFIG_INVALID', configChecks) ?? {};
  return {
    path,
    config,
    rules: resolveRules(config.rules, { where, ...(options.registry ? { registry: options.registry } : {}) }),
  };
}

/**
 * The `rules` part of schemas/config.schema.json for a registry: every rule id with its options and
 * their types. The committed schema is checked against this by a test (`npm run new-rule` keeps it
 * in sync), so editors complete rule ids and options and errors name the line.
 */
export function rulesJsonSchema(registry: readonly AnyRule[] = RULES): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const rule of [...registry].sort((a, b) => a.id.localeCompare(b.id))) {
    const optionProps: Record<string, unknown> = { severity: { $ref: '#/definitions/level' } };
    for (const [key, value] of Object.entries(rule.defaultOptions)) {
      optionProps[key] =
        typeof value === 'number'
          ? { type: 'number', minimum: 0, default: value }
          : { type: typeof value, default: value };
    }
    // if/then/else rather than anyOf: errors then come from the branch the value is in, e.g.
    // `rules.slow-mean.thresholdMs: must be number` rather than "must be one of off, error, ...".
    properties[rule.id] = {
      description: rule.description,
      type: ['string', 'object'],
      if: { type: 'string' },
      then: { $ref: '#/definitions/level' },
      else: { type: 'object', additionalProperties: false, properties: optionProps },
    };
  }
  return { type: 'object', additionalProperties: false, properties };
}
