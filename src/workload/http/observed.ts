/**
 * Recorded traffic (a HAR file, an access log) turned into routes: requests are grouped by method
 * and path template (numeric, UUID and long hex segments become parameters; query string values
 * too), each group becomes one route weighted by how often it was seen, and its parameters pick
 * from the values that were actually requested.
 */
import type { HttpRoute, ParamGenerator } from '../../model/workload.js';

/** One request as recorded. */
export interface ObservedRequest {
  readonly method: string;
  /** Path with query string, e.g. `/orders/42?expand=items`. */
  readonly target: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** What an importer read: the requests it kept and what it counted and skipped. */
export interface ImportResult {
  readonly requests: readonly ObservedRequest[];
  /** Lines or entries that could not be parsed, and where the first one was. */
  readonly invalid: number;
  readonly firstInvalid?: string;
  /** Parsed but left out (failed responses, other origins, static files), with why. */
  readonly skipped: Readonly<Record<string, number>>;
}

export interface GroupOptions {
  /** Keep the most frequent routes only. */
  readonly top: number;
  /** Regular expressions on the path. */
  readonly include?: RegExp;
  readonly exclude?: RegExp;
  /** Keep requests for static files (.js, .css, images, fonts), left out by default. */
  readonly keepStatic?: boolean;
  /** Prefix of generated route names, e.g. the file name. */
  readonly label?: string;
}

/** Distinct observed values kept per parameter. */
export const MAX_PICK_VALUES = 1000;
export const DEFAULT_TOP_ROUTES = 20;

const STATIC = /\.(js|mjs|css|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|eot|otf|txt|html?)$/i;
const VARIABLE_SEGMENT = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,})$/i;
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function isHttpMethod(method: string): boolean {
  return HTTP_METHODS.has(method);
}

/** Headers worth replaying; hop-by-hop, length, encoding and pseudo headers are recomputed or dropped. */
const KEPT_HEADERS = new Set(['accept', 'accept-language', 'authorization', 'content-type', 'cookie']);

export function keepHeader(name: string): boolean {
  const n = name.toLowerCase();
  return KEPT_HEADERS.has(n) || (n.startsWith('x-') && n !== 'x-forwarded-for' && n !== 'x-real-ip');
}

/** `orders` -> `orderId`; a name for the parameter that follows a literal segment. */
function paramName(previous: string | undefined, taken: Set<string>): string {
  const base =
    previous && /^[A-Za-z][A-Za-z0-9_-]*$/.test(previous)
      ? `${previous
          .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
          .replace(/ies$/, 'y')
          .replace(/s$/, '')}Id`
      : 'id';
  let name = base.replace(/[^A-Za-z0-9_]/g, '_');
  for (let i = 2; taken.has(name); i++) name = `${base}${i}`;
  taken.add(name);
  return name;
}

interface Group {
  method: string;
  template: string;
  count: number;
  values: Map<string, Set<string>>;
  headers?: Readonly<Record<string, string>>;
  body?: string;
}

/** Splits a request target into a path template, the parameter names in it and their values. */
export function templateOf(target: string): { template: string; values: Map<string, string> } {
  const [rawPath = '/', query = ''] = target.split('?', 2) as [string?, string?];
  const taken = new Set<string>();
  const values = new Map<string, string>();
  const segments = rawPath.split('/');
  const out = segments.map((segment, i) => {
    if (i === 0 || !VARIABLE_SEGMENT.test(segment)) return segment;
    const name = paramName(segments[i - 1], taken);
    values.set(name, safeDecode(segment));
    return `{${name}}`;
  });
  let template = out.join('/') || '/';
  if (query) {
    const params = new URLSearchParams(query);
    const keys = [...new Set(params.keys())].sort();
    const parts = keys.map((key) => {
      let name = key.replace(/[^A-Za-z0-9_]/g, '_');
      if (!/^[A-Za-z_]/.test(name)) name = `q_${name}`;
      while (taken.has(name)) name = `${name}_`;
      taken.add(name);
      values.set(name, params.get(key) ?? '');
      return `${encodeURIComponent(key)}={${name}}`;
    });
    if (parts.length) template += `?${parts.join('&')}`;
  }
  return { template, values };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A pick of observed values; numbers stay numbers so that the YAML form reads naturally. */
function generatorOf(values: ReadonlySet<string>): ParamGenerator {
  const list = [...values];
  return { kind: 'pick', values: list.every((v) => /^-?\d{1,15}$/.test(v)) ? list.map(Number) : list };
}

/** Groups recorded requests into weighted routes; `dropped` counts requests of routes beyond `top`. */
export function routesFromRequests(
  requests: readonly ObservedRequest[],
  options: GroupOptions,
): { routes: HttpRoute[]; filtered: number; staticFiles: number; dropped: number } {
  const groups = new Map<string, Group>();
  let filtered = 0;
  let staticFiles = 0;
  for (const request of requests) {
    const path = request.target.split('?', 1)[0] ?? '/';
    if (!options.keepStatic && STATIC.test(path)) {
      staticFiles++;
      continue;
    }
    if ((options.include && !options.include.test(path)) || options.exclude?.test(path)) {
      filtered++;
      continue;
    }
    const { template, values } = templateOf(request.target);
    const key = `${request.method} ${template}`;
    let group = groups.get(key);
    if (!group) {
      group = { method: request.method, template, count: 0, values: new Map() };
      groups.set(key, group);
    }
    group.count++;
    for (const [name, value] of values) {
      const seen = group.values.get(name) ?? new Set<string>();
      if (seen.size < MAX_PICK_VALUES) seen.add(value);
      group.values.set(name, seen);
    }
    if (!group.headers && request.headers) group.headers = request.headers;
    if (group.body === undefined && request.body) group.body = request.body;
  }
  const key = (g: Group) => `${g.template} ${g.method}`;
  // Ties in a fixed, locale-independent order.
  const ranked = [...groups.values()].sort(
    (a, b) => b.count - a.count || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0),
  );
  const kept = ranked.slice(0, options.top);
  const dropped = ranked.slice(options.top).reduce((s, g) => s + g.count, 0);
  const routes = kept.map((g): HttpRoute => ({
    name: `${options.label ? `${options.label}: ` : ''}${g.method} ${g.template}`,
    method: g.method,
    path: g.template,
    params: Object.fromEntries([...g.values].map(([name, values]) => [name, generatorOf(values)])),
    headers: g.headers ?? {},
    ...(g.body !== undefined ? { body: g.body } : {}),
    weight: g.count,
  }));
  return { routes, filtered, staticFiles, dropped };
}
