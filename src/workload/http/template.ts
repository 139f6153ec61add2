/**
 * Request templates: `{name}` placeholders in a route's path, headers and body, filled from the
 * route's parameter generators. Only `{identifier}` is a placeholder, so JSON bodies need no
 * escaping: `{"qty": {qty}}` fills `{qty}` and leaves the object braces alone.
 */
import type { HttpRoute, RecordedRequest } from '../../model/workload.js';
import type { ValueSource } from '../generators.js';
import { createValueSources, createWeightedPicker } from '../generators.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** A template split into literal text (even indexes) and placeholder names (odd indexes). */
export type TemplateParts = readonly string[];

export function parseTemplate(text: string): TemplateParts {
  return text.split(PLACEHOLDER);
}

/** Placeholder names in order of appearance, without duplicates. */
export function placeholders(text: string): string[] {
  return [...new Set(parseTemplate(text).filter((_, i) => i % 2 === 1))];
}

/** Fills a template; `encode` percent-encodes values (for paths and query strings). */
export function renderTemplate(parts: TemplateParts, values: ReadonlyMap<string, string>, encode: boolean): string {
  if (parts.length === 1) return parts[0]!;
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 0) out += part;
    else {
      const value = values.get(part);
      // Unknown names stay as written: imported bodies may hold braces that are not placeholders.
      if (value === undefined) out += `{${part}}`;
      else out += encode ? encodeURIComponent(value) : value;
    }
  }
  return out;
}

/** One request as sent: method, path with query string, headers and body. */
export interface RenderedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/**
 * Header sets merged left to right, names compared without case (HTTP header names are
 * case-insensitive: `Authorization` in one set replaces `authorization` in an earlier one).
 */
export function mergeHeaders(...sets: readonly Readonly<Record<string, string>>[]): Record<string, string> {
  const merged = new Map<string, [string, string]>();
  for (const set of sets)
    for (const [name, value] of Object.entries(set)) merged.set(name.toLowerCase(), [name, value]);
  return Object.fromEntries(merged.values());
}

/** A route ready to produce requests; `dynamic` routes hold generators whose values must never repeat (`seq`). */
export interface CompiledRoute {
  readonly route: HttpRoute;
  readonly dynamic: boolean;
  render(): RenderedRequest;
}

/**
 * Compiles a route with its own value sources (so `seq` counters are per route). `defaults` are
 * headers sent with every request; the route's own headers win. An imported route (`recorded`)
 * replays its recorded requests instead of rendering its path template.
 */
export function compileRoute(
  route: HttpRoute,
  random: () => number,
  defaults: Readonly<Record<string, string>> = {},
): CompiledRoute {
  if (route.recorded && route.recorded.length > 0) return compileRecorded(route, route.recorded, random, defaults);
  const names = Object.keys(route.params);
  const sources: ValueSource[] = createValueSources(
    names.map((n) => route.params[n]!),
    random,
  );
  const path = parseTemplate(route.path);
  const headerEntries = Object.entries(mergeHeaders(defaults, route.headers)).map(
    ([k, v]) => [k, parseTemplate(v)] as const,
  );
  const body = route.body !== undefined ? parseTemplate(route.body) : undefined;
  const dynamic = Object.values(route.params).some((g) => g.kind === 'seq');
  return {
    route,
    dynamic,
    render() {
      const values = new Map<string, string>();
      names.forEach((name, i) => values.set(name, sources[i]!() ?? ''));
      const headers: Record<string, string> = {};
      for (const [k, v] of headerEntries) headers[k] = renderTemplate(v, values, false);
      return {
        method: route.method,
        path: renderTemplate(path, values, true),
        headers,
        ...(body ? { body: renderTemplate(body, values, false) } : {}),
      };
    },
  };
}

/**
 * An imported route: each request is one recorded request, picked by how often it was seen, sent
 * with its own target, headers and body (the defaults and the route's headers under them).
 */
function compileRecorded(
  route: HttpRoute,
  recorded: readonly RecordedRequest[],
  random: () => number,
  defaults: Readonly<Record<string, string>>,
): CompiledRoute {
  const pick = createWeightedPicker(
    recorded.map((r) => r.count),
    random,
  );
  const base = mergeHeaders(defaults, route.headers);
  return {
    route,
    dynamic: false,
    render() {
      const r = recorded[pick()]!;
      return {
        method: route.method,
        path: r.target,
        headers: mergeHeaders(base, r.headers),
        ...(r.body !== undefined ? { body: r.body } : {}),
      };
    },
  };
}
