/** Turns a plain SQL file or a YAML scenario into a `Workload`. */
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import {
  isEmptyYaml,
  misspelt,
  parseDuration,
  problemFromError,
  type ProblemAt,
  readTextFile,
  scalarOrigin,
  type TextOrigin,
  throwProblems,
  validateYaml,
  type YamlProblem,
  yamlLocator,
  yamlPositions,
} from '../config/yaml.js';
import { InputError, type InputErrorCode } from '../errors.js';
import {
  COPY_FROM_STDIN,
  fingerprintStatement,
  isWrite,
  notReplayable,
  parseStatement,
  splitStatements,
  splitStatementsRecovering,
  statementNameOf,
  statementPosition,
} from '../analyze/parser.js';
import { nodesOf } from '../analyze/sql-tree.js';
import type { LoadShape, ParamGenerator, SetupFile, TextMap, Workload, WorkloadStatement } from '../model/workload.js';
import type { ExplainAs } from '../model/plan.js';
import { statementsShortOfRounds } from './count.js';

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

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

/**
 * Why a statement timeout of 0 is refused. PostgreSQL reads `statement_timeout = 0` as none; a
 * replayed statement must never hold a run (a `--repeat` or `--count` run has no deadline to cut it
 * off at), so querygate has no "none": a long timeout says the same and keeps that promise.
 */
export const NO_ZERO_STATEMENT_TIMEOUT =
  'to PostgreSQL, 0 means no timeout, and a replayed statement must never hold the run: give a long one instead, e.g. 30m';
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

/** Calls a round can have at most: per statement (repeat) or in all (count); none for a duration. */
const callsOf = (shape: LoadShape): number | undefined =>
  shape.kind === 'repeat' ? shape.repeat : shape.kind === 'count' ? shape.count : undefined;

/**
 * Why `rounds` cannot all have a call under `shape`: every round needs at least one call of every
 * statement (repeat) or one call (count). Undefined when they can.
 */
function roundsShortfall(shape: LoadShape, rounds: number): string | undefined {
  const calls = callsOf(shape);
  if (calls === undefined || rounds <= calls) return undefined;
  const needs =
    shape.kind === 'repeat'
      ? `${rounds} rounds need at least ${rounds} calls of every statement, but repeat is ${calls}`
      : `${rounds} rounds need at least ${rounds} calls, but count is ${calls}`;
  return `${needs}: lower rounds to ${calls} or fewer, or raise ${shape.kind} to ${rounds} or more`;
}

/**
 * Every measured round needs at least one call of every statement (repeat) or one call (count):
 * fewer calls than the default rounds lower the rounds; rounds asked for explicitly are an error.
 */
function checkRounds(load: Workload['load'], explicit: boolean): Workload['load'] {
  const shortfall = roundsShortfall(load.shape, load.rounds);
  if (shortfall === undefined) return load;
  if (explicit) throw new InputError('USAGE', shortfall);
  return { ...load, rounds: callsOf(load.shape)! };
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

/**
 * A file as error locations name it (`file:line:column`): relative to the working directory, so a
 * terminal or an editor opens it from there; an absolute path outside the working directory stays
 * absolute. Statement names keep the base name: budgets match on them wherever the run starts.
 */
export function shownPath(path: string, cwd = process.cwd()): string {
  const shown = relative(cwd, resolve(cwd, path));
  if (shown === '') return basename(path);
  return isAbsolute(path) && shown.startsWith('..') ? path : shown;
}

/**
 * Setup files (`paths` relative to `base`: a scenario's directory, or the working directory for
 * flags), each named as error locations name files, so that an error in one opens from where the run starts.
 */
export function readSetupFiles(paths: readonly string[], base: string): SetupFile[] {
  return paths.map((p) => {
    const path = resolve(base, p);
    const sql = readTextFile(path, 'setup file');
    const shown = shownPath(path);
    splitStatements(sql, shown); // syntax errors are reported with file:line:column before anything runs
    return { path: shown, sql };
  });
}

/** A scenario's setup files, by kind. */
export interface ScenarioSetup {
  readonly schema: SetupFile[];
  readonly seed: SetupFile[];
}

/**
 * A scenario's `setup.schema` and `setup.seed` files, read (with `data` as the schema may have
 * refused it). Each file that cannot be read is a problem at its field; invalid SQL in one, a
 * problem at its field that names its own file, line and column.
 */
export function readScenarioSetup(
  data: unknown,
  base: string,
  problemAt: ProblemAt,
): { files: ScenarioSetup; problems: YamlProblem[] } {
  const setup = isRecord(data) && isRecord(data.setup) ? data.setup : {};
  const problems: YamlProblem[] = [];
  const read = (kind: 'schema' | 'seed'): SetupFile[] => {
    const value = setup[kind];
    const list: unknown[] = Array.isArray(value) ? value : [value];
    return list.flatMap((p, j) => {
      if (typeof p !== 'string' || p === '') return [];
      try {
        return readSetupFiles([p], base);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        const field = Array.isArray(value) ? ['setup', kind, j] : ['setup', kind];
        problems.push(problemFromError(problemAt, field, `setup.${kind}`, error, error.code === 'SQL_PARSE_FAILED'));
        return [];
      }
    });
  };
  return { files: { schema: read('schema'), seed: read('seed') }, problems };
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
  const file = basename(workloadPath);
  const where = shownPath(workloadPath);
  const { statements: parsed, errors } =
    text.trim() === '' ? { statements: [], errors: [] } : splitStatementsRecovering(text, where);
  if (parsed.length === 0 && errors.length === 0)
    throw new InputError('SQL_PARSE_FAILED', `${where}: the workload holds no SQL statement`);
  // Every syntax error and every statement that cannot be replayed is reported at once, in file order.
  type Problem = { code: InputErrorCode; message: string; details: readonly string[]; line: number; column: number };
  const problems: Problem[] = [
    ...errors.map(({ error, line, column, copy }): Problem => ({
      // COPY with inline data is refused as any COPY is (not replayed).
      code: copy ? 'SQL_NOT_REPLAYABLE' : 'SQL_PARSE_FAILED',
      message: copy
        ? error.message.replace(COPY_FROM_STDIN, notReplayable('COPY t FROM STDIN') ?? COPY_FROM_STDIN)
        : error.message,
      details: error.details,
      line,
      column,
    })),
    ...parsed.flatMap((s): Problem[] => {
      const at = { details: [], line: s.line, column: s.column };
      const reason = notReplayable(s.sql);
      if (reason) return [{ code: 'SQL_NOT_REPLAYABLE', message: `${where}:${s.line}: ${reason}`, ...at }];
      const paramCount = countParams(s.sql);
      if (paramCount === 0) return [];
      const message =
        `${where}:${s.line}: statement uses $${paramCount} but a plain SQL workload has no parameter values; ` +
        `write literal values or use a scenario file with params`;
      return [{ code: 'SQL_PARSE_FAILED', message, ...at }];
    }),
  ].sort((a, b) => a.line - b.line || a.column - b.column);
  const [first, ...others] = problems;
  if (first)
    throw new InputError(first.code, first.message, [
      ...first.details,
      ...others.flatMap((p) => [p.message, ...p.details]),
    ]);
  // Named by the leading comment, as `budget init` names them; else, or when two share one, file:line.
  const commentNames = parsed.map((s) => statementNameOf(s.sql));
  const statements = parsed.map((s, i): WorkloadStatement => ({
    name:
      commentNames[i] !== undefined &&
      commentNames.indexOf(commentNames[i]) === commentNames.lastIndexOf(commentNames[i])
        ? commentNames[i]
        : `${file}:${s.line}`,
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
    name: file.replace(/\.sql$/i, ''),
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
  explain?: ExplainSection;
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

/**
 * What a scenario statement's SQL turned out to be: the one statement, its `$n` count and where its
 * text begins in the file.
 */
interface CheckedSql {
  readonly sql: string;
  readonly paramCount: number;
  readonly origin: TextOrigin | undefined;
  readonly start: { readonly line: number; readonly column: number };
}

/** The effective load shape (a flag replaces the file's), and the file's duration; undefined when invalid. */
function fileShape(
  load: Record<string, unknown>,
  overrides: LoadOverrides,
): { shape: LoadShape; durationMs?: number } | undefined {
  const number = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isInteger(v) && v > 0);
  if (!number(load.repeat) || !number(load.count)) return undefined;
  let durationMs: number | undefined;
  if (load.duration !== undefined) {
    if (typeof load.duration !== 'number' && typeof load.duration !== 'string') return undefined;
    try {
      durationMs = parseDuration(load.duration, 'load.duration');
    } catch {
      return undefined;
    }
  }
  const shape = shapeOf(overrides, {
    ...(load.repeat !== undefined ? { repeat: load.repeat as number } : {}),
    ...(load.count !== undefined ? { count: load.count as number } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
  });
  return { shape, ...(durationMs !== undefined ? { durationMs } : {}) };
}

/**
 * The checks the schema cannot say, made on the same data as the schema's so that every problem is
 * listed at once, in file order (the data may be what the schema refuses): the load shape, the
 * generators' bounds, and each statement's SQL (one replayable statement, one generator per `$n`).
 * Returns the statements' SQL as checked, by index, for the loader to build them from.
 */
function scenarioChecks(
  data: unknown,
  problemAt: ProblemAt,
  text: string,
  where: string,
  overrides: LoadOverrides,
  schemaProblems: readonly YamlProblem[],
): { problems: YamlProblem[]; checked: (CheckedSql | undefined)[] } {
  if (!isRecord(data)) return { problems: [], checked: [] };
  const problems: YamlProblem[] = [];
  const load = isRecord(data.load) ? data.load : {};
  const shapes = (['repeat', 'count', 'duration'] as const).filter((k) => load[k] !== undefined);
  if (shapes.length > 1)
    problems.push(
      problemAt(['load', shapes[1]!], `give one of repeat, count or duration (found ${shapes.join(' and ')})`, 'load'),
    );
  const effective = shapes.length > 1 ? undefined : fileShape(load, overrides);
  // A run of no time makes no calls, and would pass any gate.
  if (effective?.durationMs === 0 && overrides.durationMs === undefined)
    problems.push(problemAt(['load', 'duration'], 'must be more than 0'));
  // PostgreSQL's 0 (no timeout) would leave a runaway statement running: refused, as on the command line.
  if (overrides.statementTimeoutMs === undefined && load.statementTimeout !== undefined) {
    let zero = false;
    try {
      zero = parseDuration(load.statementTimeout as string | number, 'load.statementTimeout') === 0;
    } catch {
      // A malformed value: the schema reports it.
    }
    if (zero)
      problems.push(problemAt(['load', 'statementTimeout'], `must be more than 0 (${NO_ZERO_STATEMENT_TIMEOUT})`));
  }
  // Rounds the file asks for that its calls cannot fill (rounds given as a flag: checkRounds says so).
  const rounds = load.rounds;
  if (effective && overrides.rounds === undefined && typeof rounds === 'number') {
    const shortfall = roundsShortfall(effective.shape, rounds);
    if (shortfall) problems.push(problemAt(['load', 'rounds'], shortfall));
  }
  const statements = Array.isArray(data.statements) ? data.statements : [];
  const positionIn = yamlPositions(text);
  const checked = statements.map((s, i): CheckedSql | undefined => {
    if (!isRecord(s)) return undefined;
    const params = Array.isArray(s.params) ? s.params : [];
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
    if (typeof s.sql !== 'string' || s.sql === '') return undefined;
    const label = `statements[${i}]`;
    const at = (path: (string | number)[], message: string, field: string) => {
      problems.push(problemAt(['statements', i, ...path], message, field));
      return undefined;
    };
    const origin = scalarOrigin(text, ['statements', i, 'sql']);
    const fieldLine = positionIn(['statements', i, 'sql']).line;
    let parsed: ReturnType<typeof splitStatements>;
    try {
      parsed = splitStatements(
        s.sql,
        origin
          ? { file: where, field: `${label}.sql`, origin }
          : { file: where, field: `${label}.sql`, line: fieldLine },
      );
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      // Invalid SQL names its own line and column, with the source line and a caret.
      problems.push(problemFromError(problemAt, ['statements', i, 'sql'], `${label}.sql`, error, true));
      return undefined;
    }
    if (parsed.length !== 1)
      return at(['sql'], `must hold exactly one statement (found ${parsed.length})`, `${label}.sql`);
    const { sql, start } = parsed[0]!;
    const rejected = notReplayable(sql);
    if (rejected) return at(['sql'], rejected, `${label}.sql`);
    const paramCount = countParams(sql);
    // A misspelt params (`parms:`) leaves the statement without generators: the schema's "did you
    // mean params?" says it once.
    if (s.params === undefined && misspelt(schemaProblems, `/statements/${i}`, 'params')) return undefined;
    if (params.length < paramCount)
      return at(
        ['params'],
        `the statement uses $${paramCount} but only ${params.length} parameter generator(s) are given`,
        `${label}.params`,
      );
    if (params.length > paramCount)
      return at(
        ['params', paramCount],
        `${params.length} parameter generator(s) are given but the statement uses ` +
          (paramCount === 0 ? 'no $n parameter' : `$1..$${paramCount} only`),
        `${label}.params`,
      );
    return { sql, paramCount, origin, start };
  });
  return { problems, checked };
}

/**
 * Where a statement that begins at `start` (line and column in the text of its field) begins in
 * the file, for a field whose characters `map` places (a folded block): the map, from there on.
 */
function mappedStart(
  text: string,
  start: { readonly line: number; readonly column: number },
  file: string,
  map: TextMap,
): NonNullable<WorkloadStatement['origin']> {
  const lineStart = text
    .split('\n')
    .slice(0, start.line - 1)
    .reduce((n, l) => n + l.length + 1, 0);
  const skip = lineStart + start.column - 1;
  const runs = map.runs.flatMap((run, i) => {
    const next = map.runs[i + 1];
    if (next && next.offset <= skip) return [];
    return run.offset >= skip
      ? [{ ...run, offset: run.offset - skip }]
      : [{ offset: 0, line: run.line, column: run.column + skip - run.offset }];
  });
  const first = runs[0] ?? { line: map.line, column: map.columns[0] ?? 1 };
  return { file, line: first.line, column: first.column, indent: 0, map: { ...map, runs } };
}

/** A scenario's `explain:` section, as the schema checked it. */
export interface ExplainSection {
  role?: string;
  settings?: Record<string, string | number | boolean>;
}

/** The `explain:` section of a scenario as the run takes it: every setting's value as text. */
export function scenarioExplainAs(section: ExplainSection | undefined): ExplainAs | undefined {
  if (!section) return undefined;
  const settings = Object.entries(section.settings ?? {}).map(([name, value]) => [name, String(value)] as const);
  return {
    ...(section.role !== undefined ? { role: section.role } : {}),
    ...(settings.length > 0 ? { settings: Object.fromEntries(settings) } : {}),
  };
}

/**
 * A YAML scenario: setup files, load shape and weighted statements with parameter generators. Every
 * problem of the file (its schema, its statements' SQL and generators, its load, its setup files) is
 * reported at once, in file order, each at its line.
 */
export function loadScenario(path: string, overrides: LoadOverrides): Workload {
  const where = shownPath(path);
  const text = readTextFile(path, 'scenario file');
  if (isEmptyYaml(text)) {
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: the scenario file is empty: give it statements (see docs/scenarios.md) or an http section (docs/http.md)`,
    );
  }
  const base = dirname(resolve(path));
  const { data, problems, problemAt } = validateYaml(text, where, 'scenario.schema.json', 'SCENARIO_INVALID');
  if (isRecord(data) && data.http !== undefined) {
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: has an http section: load it with loadHttpScenario (querygate run does so)`,
    );
  }
  const checks = scenarioChecks(data, problemAt, text, where, overrides, problems);
  const setup = readScenarioSetup(data, base, problemAt);
  throwProblems([...problems, ...checks.problems, ...setup.problems], 'SCENARIO_INVALID');
  const file = data as ScenarioFile;
  const at = yamlLocator(text, where);
  const positionIn = yamlPositions(text);
  const statements = file.statements!.map((s, i): WorkloadStatement => {
    const { sql, paramCount, origin, start } = checks.checked[i]!;
    const label = `statements[${i}]`;
    const fieldLine = positionIn(['statements', i, 'sql']).line;
    const paramsAt = (s.params ?? []).map((_, j) => `${at(['statements', i, 'params', j])}: ${label}.params[${j}]`);
    // Where the statement (after any comment lines of the field) begins in the scenario file.
    const begins =
      origin &&
      (origin.map
        ? mappedStart(s.sql, start, where, origin.map)
        : {
            file: where,
            line: origin.line + start.line - 1,
            column: start.line === 1 ? origin.column + start.column - 1 : origin.indent + start.column,
            indent: origin.indent,
          });
    return {
      name: s.name ?? `statement ${i + 1}`,
      sql,
      ...(begins ? { origin: begins } : {}),
      file: where,
      line: begins ? statementPosition(sql, begins).line : fieldLine,
      field: `${label}.sql`,
      weight: s.weight ?? 1,
      params: (s.params ?? []).map((p, j) => toGenerator(p, paramsAt[j]!)),
      paramCount,
      ...(paramsAt.length > 0 ? { paramsAt } : {}),
      fingerprint: fingerprintStatement(sql),
      write: isWrite(sql),
    };
  });
  const load = file.load ?? {};
  const durationMs = load.duration !== undefined ? parseDuration(load.duration, 'load.duration') : undefined;
  const statementTimeoutMs =
    load.statementTimeout !== undefined ? parseDuration(load.statementTimeout, 'load.statementTimeout') : undefined;
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
      statementTimeoutMs: overrides.statementTimeoutMs ?? statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
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
    setup: setup.files,
    load: checked,
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(file.explain ? { explain: scenarioExplainAs(file.explain)! } : {}),
  };
}
