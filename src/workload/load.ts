/** Turns a plain SQL file or a YAML scenario into a `Workload`. */
import { basename, dirname, resolve } from 'node:path';
import {
  isEmptyYaml,
  parseDuration,
  parseValidatedYaml,
  type ProblemAt,
  readTextFile,
  scalarOrigin,
  yamlPositions,
  type YamlProblem,
  yamlLocator,
} from '../config/yaml.js';
import { InputError, type InputErrorCode } from '../errors.js';
import {
  COPY_FROM_STDIN,
  fingerprintStatement,
  isWrite,
  notReplayable,
  parseStatement,
  splitStatements,
  statementNameOf,
} from '../analyze/parser.js';
import { nodesOf } from '../analyze/sql-tree.js';
import type { LoadShape, ParamGenerator, SetupFile, Workload, WorkloadStatement } from '../model/workload.js';
import { statementsShortOfRounds } from './count.js';

/** Load settings given on the command line; each one replaces the file's value. */
export interface LoadOverrides {
  readonly connections?: number;
  readonly repeat?: number;
  readonly durationMs?: number;
  readonly count?: number;
  readonly warmupMs?: number;
  readonly rounds?: number;
  readonly threads?: number;
  readonly statementTimeoutMs?: number;
}

export const DEFAULT_CONNECTIONS = 4;
/** statement_timeout of replayed statements: a statement this slow in a pre-deploy run is the finding. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;
export const DEFAULT_REPEAT = 10;
export const DEFAULT_ROUNDS = 3;

/** Highest $n parameter number in a statement, from its parse tree. */
export function countParams(sql: string): number {
  const refs = nodesOf(parseStatement(sql).stmts, 'ParamRef', { subqueries: true });
  return refs.reduce((max, r) => Math.max(max, Number(r.number ?? 0)), 0);
}

function shapeOf(o: LoadOverrides, file: { repeat?: number; count?: number; durationMs?: number }): LoadShape {
  if (o.durationMs !== undefined) return { kind: 'duration', durationMs: o.durationMs };
  if (o.count !== undefined) return { kind: 'count', count: o.count };
  if (o.repeat !== undefined) return { kind: 'repeat', repeat: o.repeat };
  if (file.durationMs !== undefined) return { kind: 'duration', durationMs: file.durationMs };
  if (file.count !== undefined) return { kind: 'count', count: file.count };
  return { kind: 'repeat', repeat: file.repeat ?? DEFAULT_REPEAT };
}

/**
 * Every measured round needs at least one call of every statement (repeat) or one call (count):
 * fewer calls than the default rounds lower the rounds; rounds asked for explicitly are an error.
 */
function checkRounds(load: Workload['load'], explicit: boolean): Workload['load'] {
  const { shape } = load;
  const calls = shape.kind === 'repeat' ? shape.repeat : shape.kind === 'count' ? shape.count : undefined;
  if (calls === undefined || load.rounds <= calls) return load;
  if (!explicit) return { ...load, rounds: calls };
  const needs =
    shape.kind === 'repeat'
      ? `${load.rounds} rounds need at least ${load.rounds} calls of every statement, but repeat is ${calls}`
      : `${load.rounds} rounds need at least ${load.rounds} calls, but count is ${calls}`;
  throw new InputError(
    'USAGE',
    `${needs}: lower rounds to ${calls} or fewer, or raise ${shape.kind} to ${load.rounds} or more`,
  );
}

/**
 * A `count` load gives each statement its share of the calls by weight, spread over the rounds: a
 * statement whose share is smaller than the rounds misses some, and without a call in every round
 * its timing has fewer round means (budgets take the median of fewer, `compare` cannot test it).
 */
function countWarnings(statements: readonly WorkloadStatement[], load: Workload['load'], weighted: boolean): string[] {
  const { shape, rounds } = load;
  if (shape.kind !== 'count') return [];
  const short = statementsShortOfRounds(
    statements.map((s) => s.weight),
    shape.count,
    rounds,
  );
  if (short.length === 0) return [];
  const named = short.map(({ index, calls }) => {
    const s = statements[index]!;
    return `"${s.name}" (${weighted ? `weight ${s.weight}: ` : ''}${calls} call${calls === 1 ? '' : 's'})`;
  });
  const needed = Math.max(...short.map((s) => s.countNeeded));
  const them = short.length === 1 ? 'its' : 'their';
  return [
    `count ${shape.count} gives ${short.length} statement(s) fewer calls than the ${rounds} rounds: ${named.join(', ')}; ` +
      `a round without a call has no timing, so budgets take the median of fewer rounds and compare cannot test ${short.length === 1 ? 'it' : 'them'}: ` +
      `raise count to ${needed} or more${weighted ? `, raise ${them} weight` : ''}, or use repeat (every statement as many calls)`,
  ];
}

export function readSetupFiles(paths: readonly string[], base: string): SetupFile[] {
  return paths.map((p) => {
    const path = resolve(base, p);
    const sql = readTextFile(path, 'setup file');
    splitStatements(sql, p); // syntax errors are reported with file:line:column before anything runs
    return { path: p, sql };
  });
}

/** A scenario's `setup.schema` or `setup.seed` files; a file that cannot be read is named by its field's line. */
export function scenarioSetupFiles(
  value: string | string[] | undefined,
  kind: 'schema' | 'seed',
  base: string,
  at: (path: readonly (string | number)[]) => string,
): SetupFile[] {
  return asList(value).flatMap((p, j) => {
    try {
      return readSetupFiles([p], base);
    } catch (error) {
      if (!(error instanceof InputError) || error.code === 'SQL_PARSE_FAILED') throw error;
      const field = Array.isArray(value) ? ['setup', kind, j] : ['setup', kind];
      throw new InputError(
        error.code as InputErrorCode,
        `${at(field)}: setup.${kind}: ${error.message}`,
        error.details,
      );
    }
  });
}

/** A workload file's statements; COPY with inline data is refused as any COPY is (not replayed). */
function splitWorkload(text: string, where: string) {
  try {
    return splitStatements(text, where);
  } catch (error) {
    if (!(error instanceof InputError) || !error.message.endsWith(COPY_FROM_STDIN)) throw error;
    throw new InputError(
      'SQL_NOT_REPLAYABLE',
      error.message.replace(COPY_FROM_STDIN, notReplayable('COPY t FROM STDIN') ?? COPY_FROM_STDIN),
      error.details,
    );
  }
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
  const parsed = text.trim() === '' ? [] : splitWorkload(text, where);
  if (parsed.length === 0) throw new InputError('SQL_PARSE_FAILED', `${where}: the workload holds no SQL statement`);
  // Every statement that cannot be replayed is reported at once, in file order.
  const problems = parsed.flatMap((s): { code: InputErrorCode; message: string }[] => {
    const reason = notReplayable(s.sql);
    if (reason) return [{ code: 'SQL_NOT_REPLAYABLE', message: `${where}:${s.line}: ${reason}` }];
    const paramCount = countParams(s.sql);
    if (paramCount === 0) return [];
    const message =
      `${where}:${s.line}: statement uses $${paramCount} but a plain SQL workload has no parameter values; ` +
      `write literal values or use a scenario file with params`;
    return [{ code: 'SQL_PARSE_FAILED', message }];
  });
  const [first, ...others] = problems;
  if (first)
    throw new InputError(
      first.code,
      first.message,
      others.map((p) => p.message),
    );
  // Named by the leading comment, as `budget init` names them; else, or when two share one, file:line.
  const commentNames = parsed.map((s) => statementNameOf(s.sql));
  const statements = parsed.map((s, i): WorkloadStatement => ({
    name:
      commentNames[i] !== undefined &&
      commentNames.indexOf(commentNames[i]) === commentNames.lastIndexOf(commentNames[i])
        ? commentNames[i]
        : `${where}:${s.line}`,
    line: s.line,
    sql: s.sql,
    weight: 1,
    params: [],
    paramCount: 0,
    fingerprint: fingerprintStatement(s.sql),
    write: isWrite(s.sql),
    origin: { file: where, ...s.start },
  }));
  const files = {
    schema: readSetupFiles(setup.schema ?? [], process.cwd()),
    seed: readSetupFiles(setup.seed ?? [], process.cwd()),
  };
  const load = checkRounds(
    {
      connections: overrides.connections ?? DEFAULT_CONNECTIONS,
      shape: shapeOf(overrides, {}),
      warmupMs: overrides.warmupMs ?? 0,
      rounds: overrides.rounds ?? DEFAULT_ROUNDS,
      statementTimeoutMs: overrides.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      ...(overrides.threads !== undefined ? { threads: overrides.threads } : {}),
    },
    overrides.rounds !== undefined,
  );
  const warnings = countWarnings(statements, load, false);
  return {
    kind: 'sql',
    name: basename(workloadPath).replace(/\.sql$/i, ''),
    source: workloadPath,
    statements,
    setup: files,
    load,
    ...(warnings.length > 0 ? { warnings } : {}),
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
    statementTimeout?: string | number;
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

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The checks the schema cannot say, made on the same data as the schema's so that every problem is
 * listed at once (the data may be what the schema refuses).
 */
function scenarioChecks(data: unknown, problemAt: ProblemAt): YamlProblem[] {
  if (!isRecord(data)) return [];
  const problems: YamlProblem[] = [];
  const load = isRecord(data.load) ? data.load : {};
  const shapes = (['repeat', 'count', 'duration'] as const).filter((k) => load[k] !== undefined);
  if (shapes.length > 1)
    problems.push(
      problemAt(['load', shapes[1]!], `give one of repeat, count or duration (found ${shapes.join(' and ')})`, 'load'),
    );
  const statements = Array.isArray(data.statements) ? data.statements : [];
  statements.forEach((s, i) => {
    const params = isRecord(s) && Array.isArray(s.params) ? s.params : [];
    params.forEach((p, j) => {
      const int = isRecord(p) && isRecord(p.int) ? p.int : undefined;
      if (int && typeof int.min === 'number' && typeof int.max === 'number' && int.min > int.max)
        problems.push(
          problemAt(
            ['statements', i, 'params', j],
            `int.min (${int.min}) is greater than int.max (${int.max})`,
            `statements[${i}].params[${j}]`,
          ),
        );
    });
  });
  return problems;
}

export const asList = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** A YAML scenario: setup files, load shape and weighted statements with parameter generators. */
export function loadScenario(path: string, overrides: LoadOverrides): Workload {
  const where = basename(path);
  const text = readTextFile(path, 'scenario file');
  if (isEmptyYaml(text)) {
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: the scenario file is empty: give it statements (see docs/scenarios.md) or an http section (docs/http.md)`,
    );
  }
  const file = parseValidatedYaml<ScenarioFile>(
    text,
    where,
    'scenario.schema.json',
    'SCENARIO_INVALID',
    scenarioChecks,
  );
  const at = yamlLocator(text, where);
  const positionIn = yamlPositions(text);
  const invalid = (field: (string | number)[], name: string, message: string) =>
    new InputError('SCENARIO_INVALID', `${at(field)}: ${name}: ${message}`);
  if (file.http !== undefined || !file.statements) {
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: has an http section: load it with loadHttpScenario (querygate run does so)`,
    );
  }
  const base = dirname(resolve(path));
  const scenarioStatement = (s: NonNullable<ScenarioFile['statements']>[number], i: number): WorkloadStatement => {
    const label = `statements[${i}]`;
    const origin = scalarOrigin(text, ['statements', i, 'sql']);
    const parsed = splitStatements(
      s.sql,
      origin ? { file: where, field: `${label}.sql`, origin } : `${where}: ${label}.sql`,
    );
    if (parsed.length !== 1) {
      throw invalid(
        ['statements', i, 'sql'],
        `${label}.sql`,
        `must hold exactly one statement (found ${parsed.length})`,
      );
    }
    const sql = parsed[0]!.sql;
    const rejected = notReplayable(sql);
    if (rejected) throw invalid(['statements', i, 'sql'], `${label}.sql`, rejected);
    const paramCount = countParams(sql);
    const paramsAt = (s.params ?? []).map((_, j) => `${at(['statements', i, 'params', j])}: ${label}.params[${j}]`);
    const params = (s.params ?? []).map((p, j) => toGenerator(p, paramsAt[j]!));
    if (params.length < paramCount) {
      throw invalid(
        ['statements', i, 'params'],
        `${label}.params`,
        `the statement uses $${paramCount} but only ${params.length} parameter generator(s) are given`,
      );
    }
    if (params.length > paramCount) {
      throw invalid(
        ['statements', i, 'params', paramCount],
        `${label}.params`,
        `${params.length} parameter generator(s) are given but the statement uses ` +
          (paramCount === 0 ? 'no $n parameter' : `$1..$${paramCount} only`),
      );
    }
    // Where the statement (after any comment lines of the field) begins in the scenario file.
    const start = parsed[0]!.start;
    const begins = origin && {
      file: where,
      line: origin.line + start.line - 1,
      column: start.line === 1 ? origin.column + start.column - 1 : origin.indent + start.column,
      indent: origin.indent,
    };
    return {
      name: s.name ?? `statement ${i + 1}`,
      sql,
      ...(begins ? { origin: begins } : {}),
      line: begins?.line ?? positionIn(['statements', i, 'sql']).line,
      field: `${label}.sql`,
      weight: s.weight ?? 1,
      params,
      paramCount,
      ...(paramsAt.length > 0 ? { paramsAt } : {}),
      fingerprint: fingerprintStatement(sql),
      write: isWrite(sql),
    };
  };
  // Every statement is checked, and every problem reported at once, in file order.
  const problems: InputError[] = [];
  const statements = file.statements.flatMap((s, i): WorkloadStatement[] => {
    try {
      return [scenarioStatement(s, i)];
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(error);
      return [];
    }
  });
  const [first, ...others] = problems;
  if (first) {
    throw new InputError(first.code as InputErrorCode, first.message, [
      ...first.details,
      ...others.flatMap((p) => [p.message, ...p.details]),
    ]);
  }
  const load = file.load ?? {};
  const shapes = (['repeat', 'count', 'duration'] as const).filter((k) => load[k] !== undefined);
  if (shapes.length > 1) {
    throw invalid(
      ['load', shapes[1]!],
      'load',
      `give one of repeat, count or duration (found ${shapes.join(' and ')})`,
    );
  }
  const durationMs = load.duration !== undefined ? parseDuration(load.duration, 'load.duration') : undefined;
  // A run of no time makes no calls, and would pass any gate.
  if (durationMs === 0 && overrides.durationMs === undefined)
    throw invalid(['load', 'duration'], 'load.duration', 'must be more than 0');
  const setup = {
    schema: scenarioSetupFiles(file.setup?.schema, 'schema', base, at),
    seed: scenarioSetupFiles(file.setup?.seed, 'seed', base, at),
  };
  const checked = checkRounds(
    {
      connections: overrides.connections ?? load.connections ?? DEFAULT_CONNECTIONS,
      shape: shapeOf(overrides, {
        ...(load.repeat !== undefined ? { repeat: load.repeat } : {}),
        ...(load.count !== undefined ? { count: load.count } : {}),
        ...(durationMs !== undefined ? { durationMs } : {}),
      }),
      warmupMs: overrides.warmupMs ?? (load.warmup !== undefined ? parseDuration(load.warmup, 'load.warmup') : 0),
      rounds: overrides.rounds ?? load.rounds ?? DEFAULT_ROUNDS,
      statementTimeoutMs:
        overrides.statementTimeoutMs ??
        (load.statementTimeout !== undefined
          ? parseDuration(load.statementTimeout, 'load.statementTimeout')
          : DEFAULT_STATEMENT_TIMEOUT_MS),
      ...((overrides.threads ?? load.threads) !== undefined ? { threads: overrides.threads ?? load.threads } : {}),
    },
    (overrides.rounds ?? load.rounds) !== undefined,
  );
  const warnings = countWarnings(statements, checked, true);
  return {
    kind: 'scenario',
    name: file.name ?? basename(path).replace(/\.ya?ml$/i, ''),
    source: path,
    statements,
    setup,
    load: checked,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
