/**
 * The `http` section of a scenario file -> `HttpWorkload`. The file is validated against
 * schemas/scenario.schema.json (errors name file:line:field); what a schema cannot say (a
 * placeholder without a generator, a HAR file that is not one) is checked here, naming the field.
 */
import { basename, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDuration, parseValidatedYaml, readTextFile, yamlLocator } from '../../config/yaml.js';
import { InputError } from '../../errors.js';
import type { HttpApp, HttpLoad, HttpLoadShape, HttpRoute, HttpWorkload } from '../../model/workload.js';
import { scenarioSetupFiles, toGenerator } from '../load.js';
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

function regex(pattern: string | undefined, field: string): RegExp | undefined {
  if (pattern === undefined) return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new InputError('SCENARIO_INVALID', `${field}: invalid regular expression: ${(error as Error).message}`);
  }
}

function shapeOf(o: HttpLoadOverrides, load: HttpSection['load'], where: string): HttpLoadShape {
  if (o.durationMs !== undefined) return { kind: 'duration', durationMs: o.durationMs };
  if (o.requests !== undefined) return { kind: 'requests', requests: o.requests };
  if (load?.duration !== undefined && load.requests !== undefined) {
    throw new InputError('SCENARIO_INVALID', `${where}: http.load: give either duration or requests, not both`);
  }
  if (load?.requests !== undefined) return { kind: 'requests', requests: load.requests };
  const durationMs =
    load?.duration !== undefined ? parseDuration(load.duration, 'http.load.duration') : DEFAULT_PHASE_MS;
  if (durationMs < 1000) throw new InputError('SCENARIO_INVALID', `${where}: http.load.duration: must be at least 1s`);
  return { kind: 'duration', durationMs };
}

/** An http(s) URL, or an input error naming where it was given. */
function httpUrl(text: string, field: string, code: 'SCENARIO_INVALID' | 'USAGE' = 'SCENARIO_INVALID'): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || !url.host)
    throw new InputError(code, `${field}: not an http(s) URL: ${text}`);
  return url;
}

/** Routes written in the scenario, checked: every placeholder has a generator. */
function declaredRoutes(section: HttpSection, where: string): HttpRoute[] {
  return (section.routes ?? []).map((r, i): HttpRoute => {
    const field = `${where}: http.routes[${i}]`;
    const method = r.method ?? (r.body !== undefined ? 'POST' : 'GET');
    const params = Object.fromEntries(
      Object.entries(r.params ?? {}).map(([name, spec]) => [name, toGenerator(spec, `${field}.params.${name}`)]),
    );
    const headers = strings(r.headers);
    let body: string | undefined;
    if (typeof r.body === 'string') body = r.body;
    else if (r.body !== undefined) {
      body = JSON.stringify(r.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json';
    }
    const used: [string, string][] = [
      ['path', r.path],
      ...Object.entries(headers).map(([k, v]): [string, string] => [`headers.${k}`, v]),
      ...(body !== undefined ? [['body', body] as [string, string]] : []),
    ];
    for (const [part, text] of used) {
      const missing = placeholders(text).filter((p) => !(p in params));
      if (missing.length > 0) {
        throw new InputError(
          'SCENARIO_INVALID',
          `${field}.${part}: placeholder {${missing[0]}} has no generator: add it under http.routes[${i}].params`,
        );
      }
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

/** Reasons for skipping a recorded request, in the order the import summary lists them. */
const REASONS = ['failed response', 'other origin', 'other host', 'health check'];
const reasonRank = (why: string) => (REASONS.includes(why) ? REASONS.indexOf(why) : REASONS.length);

/**
 * Routes from HAR files and access logs; problems with single lines become warnings. `baseUrl`
 * (the scenario's or --base-url) names the application's host for access logs without `origin`.
 */
function importedRoutes(
  section: HttpSection,
  where: string,
  base: string,
  baseUrl: URL | undefined,
): { routes: HttpRoute[]; warnings: string[] } {
  const routes: HttpRoute[] = [];
  const warnings: string[] = [];
  (section.import ?? []).forEach((spec, i) => {
    const field = `${where}: http.import[${i}]`;
    if ((spec.har === undefined) === (spec.accessLog === undefined)) {
      throw new InputError('SCENARIO_INVALID', `${field}: give exactly one of har or accessLog`);
    }
    const file = (spec.har ?? spec.accessLog)!;
    const text = readTextFile(resolve(base, file), spec.har ? 'HAR file' : 'access log');
    const methods = spec.methods ?? (spec.har ? undefined : ACCESS_LOG_METHODS);
    const filters = { ...(methods ? { methods } : {}), keepProbes: spec.keepProbes ?? false };
    const app = spec.origin ? httpUrl(spec.origin, `${field}.origin`) : baseUrl;
    const result: ImportResult = spec.har
      ? parseHar(text, file, { ...filters, ...(spec.origin ? { origin: spec.origin } : {}) })
      : parseAccessLog(text, { ...filters, ...(app ? { host: app.host } : {}) });
    const grouped = routesFromRequests(result.requests, {
      top: spec.top ?? DEFAULT_TOP_ROUTES,
      ...(spec.include ? { include: regex(spec.include, `${field}.include`)! } : {}),
      ...(spec.exclude ? { exclude: regex(spec.exclude, `${field}.exclude`)! } : {}),
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
        `${file}: no request to replay${notes.length ? ` (${notes.join('; ')})` : ''}`,
      );
    }
    if (notes.length) warnings.push(`${file}: ${grouped.routes.length} route(s) imported; ${notes.join('; ')}`);
    routes.push(...grouped.routes);
  });
  return { routes, warnings };
}

/** Reads an HTTP scenario: setup files, the application, routes (written and imported) and the load. */
export function loadHttpScenario(path: string, overrides: HttpLoadOverrides = {}): HttpWorkload {
  const where = basename(path);
  const text = readTextFile(path, 'scenario file');
  const file = parseValidatedYaml<HttpScenarioFile>(text, where, 'scenario.schema.json', 'SCENARIO_INVALID');
  const at = yamlLocator(text, where);
  const section = file.http;
  if (!section) throw new InputError('SCENARIO_INVALID', `${where}: http: is required for an HTTP scenario`);
  if (file.statements !== undefined) {
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: statements: a scenario replays either SQL statements or HTTP routes (http), not both`,
    );
  }
  if (file.load !== undefined)
    throw new InputError('SCENARIO_INVALID', `${where}: load: an HTTP scenario sets its load under http.load`);
  const base = dirname(resolve(path));
  const declared = declaredRoutes(section, where);
  const given =
    overrides.baseUrl !== undefined
      ? httpUrl(overrides.baseUrl, '--base-url', 'USAGE')
      : section.baseUrl !== undefined
        ? httpUrl(section.baseUrl, `${where}: http.baseUrl`)
        : undefined;
  const imported = importedRoutes(section, where, base, given);
  const routes = [...declared, ...imported.routes];
  if (routes.length === 0)
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: http.routes: no route to replay (write routes or import a HAR file or access log)`,
    );
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
  if (!baseUrl && !app)
    throw new InputError(
      'SCENARIO_INVALID',
      `${where}: http.baseUrl: is required without http.app (the application to start)`,
    );

  const l = section.load;
  const load: HttpLoad = {
    connections: overrides.connections ?? l?.connections ?? DEFAULT_HTTP_CONNECTIONS,
    shape: shapeOf(overrides, l, where),
    ...((overrides.rate ?? l?.rate) !== undefined ? { rate: (overrides.rate ?? l?.rate)! } : {}),
    warmupMs: overrides.warmupMs ?? (l?.warmup !== undefined ? parseDuration(l.warmup, 'http.load.warmup') : 0),
    mixed: l?.mixed ?? true,
    timeoutMs: l?.timeout !== undefined ? parseDuration(l.timeout, 'http.load.timeout') : DEFAULT_REQUEST_TIMEOUT_MS,
  };
  return {
    kind: 'http',
    name: file.name ?? basename(path).replace(/\.ya?ml$/i, ''),
    source: path,
    setup: {
      schema: scenarioSetupFiles(file.setup?.schema, 'schema', base, at),
      seed: scenarioSetupFiles(file.setup?.seed, 'seed', base, at),
    },
    // An explicit base URL (flag) means the application is already running: do not start one.
    ...(app && overrides.baseUrl === undefined ? { app } : {}),
    ...(baseUrl ? { baseUrl: baseUrl.replace(/\/+$/, '') } : {}),
    routes: routes.map((r) => ({ ...r, headers: mergeHeaders(strings(section.headers), r.headers) })),
    load,
    warnings: imported.warnings,
  };
}
