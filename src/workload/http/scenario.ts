/**
 * The `http` section of a scenario file -> `HttpWorkload`. The file is validated against
 * schemas/scenario.schema.json; what a schema cannot say (a placeholder without a generator, a
 * load too short, a HAR file that cannot be read) is checked here on the same data, and every
 * problem is reported at once, in file order, naming file:line:column and the field.
 */
import { basename, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  closest,
  misspelt,
  parseDuration,
  problemFromError,
  type ProblemAt,
  readTextFile,
  throwProblems,
  validateYaml,
  type YamlProblem,
} from '../../config/yaml.js';
import { InputError } from '../../errors.js';
import type { HttpApp, HttpLoad, HttpLoadShape, HttpRoute, HttpWorkload } from '../../model/workload.js';
import {
  isRecord,
  readScenarioSetup,
  scenarioExplainAs,
  shownPath,
  toGenerator,
  type ExplainSection,
} from '../load.js';
import { parseAccessLog } from './access-log.js';
import { parseHar } from './har.js';
import { ACCESS_LOG_METHODS, DEFAULT_TOP_ROUTES, routesFromRequests, type ImportResult } from './observed.js';
import { mergeHeaders, placeholders } from './template.js';

/** Load settings given on the command line; each one replaces the file's value. */
export interface HttpLoadOverrides {
  readonly connections?: number;
  readonly durationMs?: number;
  readonly requests?: number;
  readonly rate?: number;
  readonly warmupMs?: number;
  /** Use an already running application: the scenario's `app` is not started. */
  readonly baseUrl?: string;
}

export const DEFAULT_HTTP_CONNECTIONS = 8;
export const DEFAULT_PHASE_MS = 5_000;
/**
 * The shortest phase, from the file (`http.load.duration`) or the flag (`--duration`) alike: a
 * phase shorter than a second measures too few requests for its route's latency percentiles.
 */
export const MIN_PHASE_MS = 1_000;
/** Why a phase length is refused, named by where it was given (`http.load.duration`, `--duration`). */
export const phaseTooShort = (ms: number): string | undefined =>
  ms < MIN_PHASE_MS ? 'must be at least 1s' : undefined;
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
export const DEFAULT_STOP_TIMEOUT_MS = 5_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

type Scalar = string | number | boolean;

interface HttpSection {
  app?: {
    command: string | string[];
    cwd?: string;
    env?: Record<string, Scalar>;
    port?: number | 'auto';
    ready?: string;
    readyTimeout?: string | number;
    stopTimeout?: string | number;
  };
  baseUrl?: string;
  headers?: Record<string, Scalar>;
  routes?: {
    name?: string;
    method?: string;
    path: string;
    params?: Record<string, Record<string, unknown>>;
    headers?: Record<string, Scalar>;
    body?: string | object;
    weight?: number;
  }[];
  import?: {
    har?: string;
    accessLog?: string;
    origin?: string;
    include?: string;
    exclude?: string;
    top?: number;
    keepStatic?: boolean;
    methods?: string[];
    keepProbes?: boolean;
  }[];
  load?: {
    connections?: number;
    duration?: string | number;
    requests?: number;
    rate?: number;
    warmup?: string | number;
    mixed?: boolean;
    timeout?: string | number;
  };
}

interface HttpScenarioFile {
  name?: string;
  explain?: ExplainSection;
  setup?: { schema?: string | string[]; seed?: string | string[] };
  load?: unknown;
  statements?: unknown[];
  http?: HttpSection;
}

/** True when the file is a scenario with an `http` section (false for anything unreadable: the loader reports it). */
export function isHttpScenario(path: string): boolean {
  try {
    const data: unknown = parseYaml(readTextFile(path, 'scenario file'));
    return Boolean(data && typeof data === 'object' && 'http' in data);
  } catch {
    return false;
  }
}

const strings = (record: Record<string, Scalar> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, String(v)]));

/** Why `pattern` is not a regular expression, or undefined when it is one. */
function regexError(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The load shape: a flag's, else the file's (checked by httpChecks), else the default duration. */
function shapeOf(o: HttpLoadOverrides, load: HttpSection['load']): HttpLoadShape {
  if (o.durationMs !== undefined) return { kind: 'duration', durationMs: o.durationMs };
  if (o.requests !== undefined) return { kind: 'requests', requests: o.requests };
  if (load?.requests !== undefined) return { kind: 'requests', requests: load.requests };
  const durationMs =
    load?.duration !== undefined ? parseDuration(load.duration, 'http.load.duration') : DEFAULT_PHASE_MS;
  return { kind: 'duration', durationMs };
}

/** An http(s) URL with a host, or undefined. */
function asHttpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return /^https?:$/.test(url.protocol) && url.host ? url : undefined;
  } catch {
    return undefined;
  }
}

/** An http(s) URL, or an input error naming where it was given. */
function httpUrl(text: string, field: string, code: 'SCENARIO_INVALID' | 'USAGE' = 'SCENARIO_INVALID'): URL {
  const url = asHttpUrl(text);
  if (!url) throw new InputError(code, `${field}: not an http(s) URL: ${text}`);
  return url;
}

/** A route's body as the replay sends it: a string as written, anything else as JSON. */
const bodyText = (body: unknown): string | undefined =>
  body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);

/** Routes written in the scenario (checked by httpChecks: every placeholder has a generator). */
function declaredRoutes(section: HttpSection, where: string): HttpRoute[] {
  return (section.routes ?? []).map((r, i): HttpRoute => {
    const field = `${where}: http.routes[${i}]`;
    const method = r.method ?? (r.body !== undefined ? 'POST' : 'GET');
    const params = Object.fromEntries(
      Object.entries(r.params ?? {}).map(([name, spec]) => [name, toGenerator(spec, `${field}.params.${name}`)]),
    );
    const headers = strings(r.headers);
    const body = bodyText(r.body);
    if (body !== undefined && typeof r.body !== 'string') {
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json';
    }
    return {
      name: r.name ?? `${method} ${r.path}`,
      method,
      path: r.path,
      params,
      headers,
      ...(body !== undefined ? { body } : {}),
      weight: r.weight ?? 1,
    };
  });
}

/**
 * A placeholder without a generator. A generator that no placeholder uses is likely the one meant
 * (`{uid}` in the path, `id` under params): it is named, with its line, as the likely typo.
 */
function missingGenerator(
  missing: string,
  route: number,
  unused: readonly string[],
  onlyMissing: boolean,
  problemAt: ProblemAt,
): string {
  const params = `http.routes[${route}].params`;
  const guess = closest(missing, unused) ?? (onlyMissing && unused.length === 1 ? unused[0] : undefined);
  if (guess !== undefined) {
    const line = problemAt(['http', 'routes', route, 'params', guess], '').line;
    return (
      `placeholder {${missing}} has no generator, and ${params}.${guess} (line ${line}) is used by no placeholder: ` +
      `if it is meant for {${missing}}, rename it ${missing}; else add ${missing} under ${params}`
    );
  }
  const spare = unused.length > 0 ? ` (no placeholder uses its ${unused.join(', ')})` : '';
  return `placeholder {${missing}} has no generator: add it under ${params}${spare}`;
}

/** Checks of one written route: its placeholders against its generators, its generators' bounds. */
function routeChecks(
  route: unknown,
  i: number,
  problemAt: ProblemAt,
  schemaProblems: readonly YamlProblem[],
): YamlProblem[] {
  if (!isRecord(route)) return [];
  const problems: YamlProblem[] = [];
  const params = isRecord(route.params) ? route.params : {};
  for (const [name, spec] of Object.entries(params)) {
    const int = isRecord(spec) && isRecord(spec.int) ? spec.int : undefined;
    if (int && typeof int.min === 'number' && typeof int.max === 'number' && int.min > int.max)
      problems.push(
        problemAt(['http', 'routes', i, 'params', name], `int.min (${int.min}) is greater than int.max (${int.max})`),
      );
  }
  // Where placeholders are filled: the path, each header, the body.
  const headers = isRecord(route.headers) ? route.headers : {};
  const body = bodyText(route.body);
  const templates: { path: (string | number)[]; text: string }[] = [
    ...(typeof route.path === 'string' ? [{ path: ['path'], text: route.path }] : []),
    ...Object.entries(headers).map(([k, v]) => ({ path: ['headers', k], text: String(v) })),
    ...(body !== undefined ? [{ path: ['body'], text: body }] : []),
  ];
  const used = new Set(templates.flatMap((t) => placeholders(t.text)));
  const unused = Object.keys(params).filter((name) => !used.has(name));
  const missing = templates.flatMap((t) =>
    placeholders(t.text)
      .filter((p) => !(p in params))
      .map((name) => ({ ...t, name })),
  );
  // A misspelt params (`parmas:`) leaves every placeholder without its generator: the schema's
  // "did you mean params?" says it once.
  if (route.params === undefined && misspelt(schemaProblems, `/http/routes/${i}`, 'params')) return problems;
  for (const m of missing) {
    const field = `http.routes[${i}].${m.path.join('.')}`;
    problems.push(
      problemAt(
        ['http', 'routes', i, ...m.path],
        missingGenerator(m.name, i, unused, missing.length === 1, problemAt),
        field,
      ),
    );
  }
  return problems;
}

/** What an import section yields: its routes and warnings, once read. */
type Imported = { routes: HttpRoute[]; warnings: string[] };

/**
 * The checks the schema cannot say, on the same data as the schema's (which it may have refused):
 * routes and their placeholders, route names, imports (read here, so that a HAR file that cannot
 * be read is named at its field too), the base URL, the load. Returns the imports' routes.
 */
function httpChecks(
  data: unknown,
  problemAt: ProblemAt,
  base: string,
  overrides: HttpLoadOverrides,
  flagUrl: URL | undefined,
  schemaProblems: readonly YamlProblem[],
): { problems: YamlProblem[]; imported: Imported } {
  const imported: Imported = { routes: [], warnings: [] };
  if (!isRecord(data)) return { problems: [], imported };
  const problems: YamlProblem[] = [];
  if (data.statements !== undefined)
    problems.push(
      problemAt(
        ['statements'],
        'a scenario replays either SQL statements or HTTP routes (http), not both',
        'statements',
        true,
      ),
    );
  if (data.load !== undefined)
    problems.push(problemAt(['load'], 'an HTTP scenario sets its load under http.load', 'load', true));
  const http = data.http;
  if (!isRecord(http)) {
    if (http === undefined) problems.push(problemAt([], 'is required for an HTTP scenario', 'http'));
    return { problems, imported };
  }

  const routes = Array.isArray(http.routes) ? http.routes : [];
  routes.forEach((r, i) => problems.push(...routeChecks(r, i, problemAt, schemaProblems)));
  const named = new Map<string, number>();
  routes.forEach((r, i) => {
    if (!isRecord(r) || typeof r.path !== 'string') return;
    const method = typeof r.method === 'string' ? r.method : r.body !== undefined ? 'POST' : 'GET';
    const name = typeof r.name === 'string' ? r.name : `${method} ${r.path}`;
    const first = named.get(name);
    if (first === undefined) named.set(name, i);
    else
      problems.push(
        problemAt(
          ['http', 'routes', i, typeof r.name === 'string' ? 'name' : 'path'],
          `route "${name}" is also http.routes[${first}]'s name: route names must be unique`,
          `http.routes[${i}].name`,
        ),
      );
  });

  let fileUrl: URL | undefined;
  if (typeof http.baseUrl === 'string') {
    fileUrl = asHttpUrl(http.baseUrl);
    if (!fileUrl) problems.push(problemAt(['http', 'baseUrl'], `not an http(s) URL: ${http.baseUrl}`));
  }
  // A misspelt field (`ap:`, `baseURL:`) is said once, by the schema's "did you mean".
  const typo = (field: string) => misspelt(schemaProblems, '/http', field);
  if (
    overrides.baseUrl === undefined &&
    http.baseUrl === undefined &&
    http.app === undefined &&
    !typo('app') &&
    !typo('baseUrl')
  )
    problems.push(problemAt(['http'], 'is required without http.app (the application to start)', 'http.baseUrl', true));

  const imports = Array.isArray(http.import) ? http.import : [];
  imports.forEach((spec, i) => {
    if (!isRecord(spec)) return;
    const field = `http.import[${i}]`;
    const at = (key: string, message: string) => problemAt(['http', 'import', i, key], message, `${field}.${key}`);
    let ok = true;
    if ((spec.har === undefined) === (spec.accessLog === undefined)) {
      problems.push(problemAt(['http', 'import', i], 'give exactly one of har or accessLog', field));
      ok = false;
    }
    for (const key of ['include', 'exclude'] as const) {
      const pattern = spec[key];
      const why = typeof pattern === 'string' ? regexError(pattern) : undefined;
      if (why !== undefined) {
        problems.push(at(key, `invalid regular expression: ${why}`));
        ok = false;
      }
    }
    let origin: URL | undefined;
    if (typeof spec.origin === 'string') {
      origin = asHttpUrl(spec.origin);
      if (!origin) {
        problems.push(at('origin', `not an http(s) URL: ${spec.origin}`));
        ok = false;
      }
    }
    const kind = spec.har !== undefined ? 'har' : 'accessLog';
    // An import the schema refused (a misspelt option) is not read: what it yields would mislead.
    const pointer = `/http/import/${i}`;
    if (!ok || schemaProblems.some((p) => p.pointer === pointer || p.pointer.startsWith(`${pointer}/`))) return;
    try {
      const one = importRoutes(spec as ImportSpec, base, origin ?? flagUrl ?? fileUrl);
      imported.routes.push(...one.routes);
      imported.warnings.push(...one.warnings);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      // Named at its field, like a setup file: the file's own name and place follow.
      problems.push(problemFromError(problemAt, ['http', 'import', i, kind], `${field}.${kind}`, error));
    }
  });
  if (routes.length === 0 && imports.length === 0 && !typo('routes') && !typo('import'))
    problems.push(
      problemAt(
        http.routes !== undefined ? ['http', 'routes'] : ['http'],
        'no route to replay (write routes or import a HAR file or access log)',
        'http.routes',
        http.routes === undefined,
      ),
    );

  // The load: a flag for the shape replaces the file's, and so its problems.
  const load = isRecord(http.load) ? http.load : {};
  if (overrides.durationMs === undefined && overrides.requests === undefined) {
    if (load.duration !== undefined && load.requests !== undefined)
      problems.push(problemAt(['http', 'load', 'requests'], 'give either duration or requests, not both', 'http.load'));
    else if (typeof load.duration === 'number' || typeof load.duration === 'string') {
      let ms: number | undefined;
      try {
        ms = parseDuration(load.duration, 'http.load.duration');
      } catch {
        ms = undefined; // the schema names it
      }
      const tooShort = ms !== undefined ? phaseTooShort(ms) : undefined;
      if (tooShort) problems.push(problemAt(['http', 'load', 'duration'], tooShort));
    }
  }
  return { problems, imported };
}

/** Reasons for skipping a recorded request, in the order the import summary lists them. */
const REASONS = ['failed response', 'other origin', 'other host', 'health check'];
const reasonRank = (why: string) => (REASONS.includes(why) ? REASONS.indexOf(why) : REASONS.length);

/** One entry of `http.import`. */
type ImportSpec = NonNullable<HttpSection['import']>[number];

/**
 * Routes from one HAR file or access log (`spec` checked: exactly one of them, valid patterns);
 * problems with single lines become warnings. `app` names the application's host for an access log
 * (its `origin`, else --base-url or the scenario's baseUrl).
 */
function importRoutes(spec: ImportSpec, base: string, app: URL | undefined): Imported {
  const file = (spec.har ?? spec.accessLog)!;
  // Messages name the file as error locations do (relative to the working directory); routes, by its base name.
  const where = shownPath(resolve(base, file));
  const text = readTextFile(resolve(base, file), spec.har ? 'HAR file' : 'access log');
  const methods = spec.methods ?? (spec.har ? undefined : ACCESS_LOG_METHODS);
  const filters = { ...(methods ? { methods } : {}), keepProbes: spec.keepProbes ?? false };
  const result: ImportResult = spec.har
    ? parseHar(text, where, { ...filters, ...(spec.origin ? { origin: spec.origin } : {}) })
    : parseAccessLog(text, { ...filters, ...(app ? { host: app.host } : {}) });
  const grouped = routesFromRequests(result.requests, {
    top: spec.top ?? DEFAULT_TOP_ROUTES,
    ...(spec.include ? { include: new RegExp(spec.include) } : {}),
    ...(spec.exclude ? { exclude: new RegExp(spec.exclude) } : {}),
    keepStatic: spec.keepStatic ?? false,
    label: basename(file),
  });
  const notes: string[] = [];
  if (result.invalid > 0)
    notes.push(
      `${result.invalid} unreadable ${spec.har ? 'entries' : 'lines'} skipped (first: ${result.firstInvalid})`,
    );
  const reasons = Object.entries(result.skipped).sort((a, b) => reasonRank(a[0]) - reasonRank(b[0]));
  for (const [why, n] of reasons) notes.push(`${n} skipped (${why})`);
  const byMethod = Object.entries(result.skippedMethods).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (byMethod.length > 0) {
    const n = byMethod.reduce((s, [, c]) => s + c, 0);
    const list = byMethod.map(([m, c]) => `${m} ${c}`).join(', ');
    notes.push(`${n} request(s) skipped by method (${list}; replayed: ${methods!.join(', ')})`);
  }
  if (grouped.staticFiles) notes.push(`${grouped.staticFiles} static file request(s) skipped`);
  if (grouped.filtered) notes.push(`${grouped.filtered} left out by include/exclude`);
  if (grouped.dropped)
    notes.push(`${grouped.dropped} request(s) of routes beyond the top ${spec.top ?? DEFAULT_TOP_ROUTES} left out`);
  if (grouped.routes.length === 0) {
    throw new InputError(
      spec.har ? 'HAR_INVALID' : 'ACCESS_LOG_INVALID',
      `${where}: no request to replay${notes.length ? ` (${notes.join('; ')})` : ''}`,
    );
  }
  const warnings = notes.length ? [`${where}: ${grouped.routes.length} route(s) imported; ${notes.join('; ')}`] : [];
  return { routes: grouped.routes, warnings };
}

/**
 * Reads an HTTP scenario: setup files, the application, routes (written and imported) and the load.
 * Every problem of the file is reported at once, in file order, each at its line.
 */
export function loadHttpScenario(path: string, overrides: HttpLoadOverrides = {}): HttpWorkload {
  const where = shownPath(path);
  const text = readTextFile(path, 'scenario file');
  const flagUrl = overrides.baseUrl !== undefined ? httpUrl(overrides.baseUrl, '--base-url', 'USAGE') : undefined;
  const base = dirname(resolve(path));
  const { data, problems, problemAt } = validateYaml(text, where, 'scenario.schema.json', 'SCENARIO_INVALID');
  const checks = httpChecks(data, problemAt, base, overrides, flagUrl, problems);
  const setup = readScenarioSetup(data, base, problemAt);
  throwProblems([...problems, ...checks.problems, ...setup.problems], 'SCENARIO_INVALID');
  const file = data as HttpScenarioFile;
  const section = file.http!;
  const routes = [...declaredRoutes(section, where), ...checks.imported.routes];
  // Written routes were checked at their lines; an imported route is named after its file.
  const names = new Set<string>();
  for (const r of routes) {
    if (names.has(r.name))
      throw new InputError(
        'SCENARIO_INVALID',
        `${where}: http.routes: two routes are named "${r.name}": route names must be unique`,
      );
    names.add(r.name);
  }

  const app: HttpApp | undefined = section.app && {
    command: section.app.command,
    cwd: resolve(base, section.app.cwd ?? '.'),
    env: strings(section.app.env),
    port: section.app.port ?? 'auto',
    ready: section.app.ready ?? '/',
    readyTimeoutMs:
      section.app.readyTimeout !== undefined
        ? parseDuration(section.app.readyTimeout, 'http.app.readyTimeout')
        : DEFAULT_READY_TIMEOUT_MS,
    stopTimeoutMs:
      section.app.stopTimeout !== undefined
        ? parseDuration(section.app.stopTimeout, 'http.app.stopTimeout')
        : DEFAULT_STOP_TIMEOUT_MS,
  };
  const baseUrl =
    overrides.baseUrl ?? section.baseUrl ?? (app && app.port !== 'auto' ? `http://127.0.0.1:${app.port}` : undefined);

  const l = section.load;
  const load: HttpLoad = {
    connections: overrides.connections ?? l?.connections ?? DEFAULT_HTTP_CONNECTIONS,
    shape: shapeOf(overrides, l),
    ...((overrides.rate ?? l?.rate) !== undefined ? { rate: (overrides.rate ?? l?.rate)! } : {}),
    warmupMs: overrides.warmupMs ?? (l?.warmup !== undefined ? parseDuration(l.warmup, 'http.load.warmup') : 0),
    mixed: l?.mixed ?? true,
    timeoutMs: l?.timeout !== undefined ? parseDuration(l.timeout, 'http.load.timeout') : DEFAULT_REQUEST_TIMEOUT_MS,
  };
  return {
    kind: 'http',
    name: file.name ?? basename(path).replace(/\.ya?ml$/i, ''),
    source: path,
    setup: setup.files,
    // An explicit base URL (flag) means the application is already running: do not start one.
    ...(app && overrides.baseUrl === undefined ? { app } : {}),
    ...(baseUrl ? { baseUrl: baseUrl.replace(/\/+$/, '') } : {}),
    routes: routes.map((r) => ({ ...r, headers: mergeHeaders(strings(section.headers), r.headers) })),
    load,
    warnings: checks.imported.warnings,
    ...(file.explain ? { explain: scenarioExplainAs(file.explain)! } : {}),
  };
}
