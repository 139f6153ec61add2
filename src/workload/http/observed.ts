/**
 * Recorded traffic (a HAR file, an access log) turned into routes: requests are grouped by method
 * and path template (numeric, UUID and long hex segments become parameters; query string values
 * too), each group becomes one route weighted by how often it was seen. A route replays its
 * recorded requests themselves, each with its own target, headers and body: never a mix of two
 * (the credentials of one entry with the body of another).
 */
import type { HttpRoute, RecordedRequest } from '../../model/workload.js';

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
  /** Parsed but left out (failed responses, other origins or hosts, health checks), with why. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Requests left out because their method is not replayed, by method. */
  readonly skippedMethods: Readonly<Record<string, number>>;
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

/** Distinct recorded requests kept per route (the first ones seen; later ones still count in the weight). */
export const MAX_RECORDED_REQUESTS = 1000;
export const DEFAULT_TOP_ROUTES = 20;

const STATIC = /\.(js|mjs|css|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|eot|otf|txt|html?)$/i;
const VARIABLE_SEGMENT = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,})$/i;
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function isHttpMethod(method: string): boolean {
  return HTTP_METHODS.has(method);
}

/**
 * Methods replayed from an access log unless the import says otherwise: an access log holds no
 * bodies and no headers, so a POST would be sent empty, and replaying a DELETE for a whole phase
 * against a staging application destroys data.
 */
export const ACCESS_LOG_METHODS: readonly string[] = ['GET', 'HEAD'];

// Load balancers, orchestrators and uptime monitors: they poll an endpoint that says nothing about
// the database work of real traffic, and in a log they are frequent enough to get a phase.
const PROBE_AGENTS =
  /kube-probe\/|ELB-HealthChecker\/|GoogleHC\/|Consul Health Check|Amazon-Route53-Health-Check-Service|GoogleStackdriverMonitoring-UptimeChecks|Azure Traffic Manager Endpoint Monitor|Blackbox Exporter\/|Prometheus\/|UptimeRobot\/|Pingdom\.com_bot|StatusCake|NewRelicPinger/i;
const PROBE_PATHS =
  /^\/(?:_?health(?:z|check|-check)?|livez|readyz|ping|actuator\/health|-\/(?:healthy|ready))(?:\/[^?]*)?\/?$/i;

/** True for a health check or monitoring probe: a well-known probe user agent or health-check path. */
export function isProbe(path: string, userAgent: string | undefined): boolean {
  return PROBE_PATHS.test(path) || (userAgent !== undefined && PROBE_AGENTS.test(userAgent));
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
  recorded: Map<string, { target: string; headers: Readonly<Record<string, string>>; body?: string; count: number }>;
}

/**
 * The path template of a request target: `/orders/42?expand=items` -> `/orders/{orderId}?expand={expand}`.
 * Requests with the same template are one route. A query key given several times appears once.
 */
export function templateOf(target: string): string {
  const [rawPath = '/', query = ''] = target.split('?', 2) as [string?, string?];
  const taken = new Set<string>();
  const segments = rawPath.split('/');
  const out = segments.map((segment, i) => {
    if (i === 0 || !VARIABLE_SEGMENT.test(segment)) return segment;
    return `{${paramName(segments[i - 1], taken)}}`;
  });
  let template = out.join('/') || '/';
  if (query) {
    const keys = [...new Set(new URLSearchParams(query).keys())].sort();
    const parts = keys.map((key) => {
      let name = key.replace(/[^A-Za-z0-9_]/g, '_');
      if (!/^[A-Za-z_]/.test(name)) name = `q_${name}`;
      while (taken.has(name)) name = `${name}_`;
      taken.add(name);
      return `${encodeURIComponent(key)}={${name}}`;
    });
    if (parts.length) template += `?${parts.join('&')}`;
  }
  return template;
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
    const template = templateOf(request.target);
    const key = `${request.method} ${template}`;
    let group = groups.get(key);
    if (!group) {
      group = { method: request.method, template, count: 0, recorded: new Map() };
      groups.set(key, group);
    }
    group.count++;
    const headers = request.headers ?? {};
    const identity = JSON.stringify([request.target, Object.entries(headers).sort(), request.body ?? null]);
    const seen = group.recorded.get(identity);
    if (seen) seen.count++;
    else if (group.recorded.size < MAX_RECORDED_REQUESTS) {
      group.recorded.set(identity, {
        target: request.target,
        headers,
        ...(request.body !== undefined ? { body: request.body } : {}),
        count: 1,
      });
    }
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
    params: {},
    headers: {},
    weight: g.count,
    recorded: [...g.recorded.values()] satisfies RecordedRequest[],
  }));
  return { routes, filtered, staticFiles, dropped };
}
