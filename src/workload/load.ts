/** Turns a plain SQL file or a YAML scenario into a `Workload`. */
import { basename, dirname, resolve } from 'node:path';
import { parseDuration, parseValidatedYaml, readTextFile } from '../config/yaml.js';
import { InputError } from '../errors.js';
import { fingerprintStatement, isWrite, parseStatement, splitStatements } from '../analyze/parser.js';
import type { LoadShape, ParamGenerator, SetupFile, Workload, WorkloadStatement } from '../model/workload.js';

/** Load settings given on the command line; each one replaces the file's value. */
export interface LoadOverrides {
  readonly connections?: number;
  readonly repeat?: number;
  readonly durationMs?: number;
  readonly count?: number;
  readonly warmupMs?: number;
  readonly rounds?: number;
  readonly threads?: number;
}

export const DEFAULT_CONNECTIONS = 4;
export const DEFAULT_REPEAT = 10;
export const DEFAULT_ROUNDS = 3;

/** Highest $n parameter number in a statement, from its parse tree. */
export function countParams(sql: string): number {
  let max = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'ParamRef') max = Math.max(max, Number((value as { number?: number }).number ?? 0));
        else visit(value);
      }
    }
  };
  visit(parseStatement(sql).stmts);
  return max;
}

function shapeOf(o: LoadOverrides, file: { repeat?: number; count?: number; durationMs?: number }): LoadShape {
  if (o.durationMs !== undefined) return { kind: 'duration', durationMs: o.durationMs };
  if (o.count !== undefined) return { kind: 'count', count: o.count };
  if (o.repeat !== undefined) return { kind: 'repeat', repeat: o.repeat };
  if (file.durationMs !== undefined) return { kind: 'duration', durationMs: file.durationMs };
  if (file.count !== undefined) return { kind: 'count', count: file.count };
  return { kind: 'repeat', repeat: file.repeat ?? DEFAULT_REPEAT };
}

export function readSetupFiles(paths: readonly string[], base: string): SetupFile[] {
  return paths.map((p) => {
    const path = resolve(base, p);
    const sql = readTextFile(path, 'setup file');
    splitStatements(sql, p); // syntax errors are reported with file:line:column before anything runs
    return { path: p, sql };
  });
}

/**
 * A SQL file: statements separated by `;`, each replayed `repeat` times (or for a duration).
 * Statements may hold literal values; `$n` parameters are not allowed here (no generator for them).
 */
export function loadSqlWorkload(
  workloadPath: string,
  setup: { schema?: readonly string[]; seed?: readonly string[] },
  overrides: LoadOverrides,
): Workload {
  const text = readTextFile(workloadPath, 'workload file');
  const where = basename(workloadPath);
  const parsed = splitStatements(text, where);
  if (parsed.length === 0) throw new InputError('SQL_PARSE_FAILED', `${where}: the workload holds no SQL statement`);
  const statements = parsed.map((s): WorkloadStatement => {
    const paramCount = countParams(s.sql);
    if (paramCount > 0) {
      throw new InputError(
        'SQL_PARSE_FAILED',
        `${where}:${s.line}: statement uses $${paramCount} but a plain SQL workload has no parameter values; ` +
          `write literal values or use a scenario file with params`,
      );
    }
    return {
      name: `${where}:${s.line}`,
      sql: s.sql,
      weight: 1,
      params: [],
      paramCount: 0,
      fingerprint: fingerprintStatement(s.sql),
      write: isWrite(s.sql),
    };
  });
  return {
    kind: 'sql',
    name: basename(workloadPath).replace(/\.sql$/i, ''),
    source: workloadPath,
    statements,
    setup: {
      schema: readSetupFiles(setup.schema ?? [], process.cwd()),
      seed: readSetupFiles(setup.seed ?? [], process.cwd()),
    },
    load: {
      connections: overrides.connections ?? DEFAULT_CONNECTIONS,
      shape: shapeOf(overrides, {}),
      warmupMs: overrides.warmupMs ?? 0,
      rounds: overrides.rounds ?? DEFAULT_ROUNDS,
      ...(overrides.threads !== undefined ? { threads: overrides.threads } : {}),
    },
  };
}

interface ScenarioFile {
  name?: string;
  description?: string;
  setup?: { schema?: string | string[]; seed?: string | string[] };
  load?: {
    connections?: number;
    duration?: string | number;
    count?: number;
    repeat?: number;
    warmup?: string | number;
    rounds?: number;
    threads?: number;
  };
  statements?: { name?: string; sql: string; weight?: number; params?: Record<string, unknown>[] }[];
  /** HTTP replay (src/workload/http/scenario.ts reads it). */
  http?: unknown;
}

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** One `params` entry of a scenario (`{ int: { min, max } }`, `{ pick: [...] }`, ...) as a generator. */
export function toGenerator(raw: Record<string, unknown>, where: string): ParamGenerator {
  const [kind, spec] = Object.entries(raw)[0] as [string, Record<string, unknown> | unknown[] | unknown];
  switch (kind) {
    case 'int': {
      const { min, max } = spec as { min: number; max: number };
      if (min > max)
        throw new InputError('SCENARIO_INVALID', `${where}: int.min (${min}) is greater than int.max (${max})`);
      return { kind: 'int', min, max };
    }
    case 'pick':
      return { kind: 'pick', values: spec as (string | number | boolean | null)[] };
    case 'seq': {
      const s = (spec ?? {}) as { start?: number; step?: number };
      return { kind: 'seq', start: s.start ?? 1, step: s.step ?? 1 };
    }
    case 'string': {
      const s = spec as { length: number; alphabet?: string };
      return { kind: 'string', length: s.length, alphabet: s.alphabet ?? ALPHANUMERIC };
    }
    default:
      return { kind: 'value', value: spec as string | number | boolean | null };
  }
}

export const asList = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** A YAML scenario: setup files, load shape and weighted statements with parameter generators. */
export function loadScenario(path: string, overrides: LoadOverrides): Workload {
  const where = basename(path);
  const file = parseValidatedYaml<ScenarioFile>(
    readTextFile(path, 'scenario file'),
    where,
    'scenario.schema.json',
    'SCENARIO_INVALID',
  );
  if (file.http !== undefined || !file.statements) {
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: has an http section: load it with loadHttpScenario (querygate run does so)`,
    );
  }
  const base = dirname(resolve(path));
  const statements = file.statements.map((s, i): WorkloadStatement => {
    const label = `${where}: statements[${i}]`;
    const parsed = splitStatements(s.sql, `${label}.sql`);
    if (parsed.length !== 1) {
      throw new InputError(
        'SCENARIO_INVALID',
        `${label}.sql: must hold exactly one statement (found ${parsed.length})`,
      );
    }
    const sql = parsed[0]!.sql;
    const paramCount = countParams(sql);
    const params = (s.params ?? []).map((p, j) => toGenerator(p, `${label}.params[${j}]`));
    if (params.length < paramCount) {
      throw new InputError(
        'SCENARIO_INVALID',
        `${label}.params: the statement uses $${paramCount} but only ${params.length} parameter generator(s) are given`,
      );
    }
    return {
      name: s.name ?? `statement ${i + 1}`,
      sql,
      weight: s.weight ?? 1,
      params,
      paramCount,
      fingerprint: fingerprintStatement(sql),
      write: isWrite(sql),
    };
  });
  const load = file.load ?? {};
  return {
    kind: 'scenario',
    name: file.name ?? basename(path).replace(/\.ya?ml$/i, ''),
    source: path,
    statements,
    setup: {
      schema: readSetupFiles(asList(file.setup?.schema), base),
      seed: readSetupFiles(asList(file.setup?.seed), base),
    },
    load: {
      connections: overrides.connections ?? load.connections ?? DEFAULT_CONNECTIONS,
      shape: shapeOf(overrides, {
        ...(load.repeat !== undefined ? { repeat: load.repeat } : {}),
        ...(load.count !== undefined ? { count: load.count } : {}),
        ...(load.duration !== undefined ? { durationMs: parseDuration(load.duration, 'load.duration') } : {}),
      }),
      warmupMs: overrides.warmupMs ?? (load.warmup !== undefined ? parseDuration(load.warmup, 'load.warmup') : 0),
      rounds: overrides.rounds ?? load.rounds ?? DEFAULT_ROUNDS,
      ...((overrides.threads ?? load.threads) !== undefined ? { threads: overrides.threads ?? load.threads } : {}),
    },
  };
}
