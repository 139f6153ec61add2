/**
 * HAR import (HTTP Archive 1.2, as browsers' developer tools and proxies save it). Entries are
 * kept for one origin (by default the most frequent one: a page's traffic also holds CDNs and
 * analytics); entries that cannot be read are counted and skipped, never fatal.
 */
import { InputError } from '../../errors.js';
import { isHttpMethod, isProbe, keepHeader, type ImportResult, type ObservedRequest } from './observed.js';

interface HarEntry {
  request?: {
    method?: unknown;
    url?: unknown;
    headers?: { name?: unknown; value?: unknown }[];
    postData?: { text?: unknown };
  };
  response?: { status?: unknown };
}

export interface HarOptions {
  /** Keep entries of this origin (e.g. `https://shop.example.com`); default: the most frequent. */
  readonly origin?: string;
  /** Methods to keep (default: all); the others are counted by method. */
  readonly methods?: readonly string[];
  /** Keep health checks and monitoring probes, left out by default. */
  readonly keepProbes?: boolean;
}

/** 0: the browser got no response (blocked, aborted). */
const failed = (status: number) => status === 0 || status >= 400;

/** Parses HAR text; throws HAR_INVALID only when the file as a whole is not a HAR. */
export function parseHar(text: string, where: string, options: HarOptions = {}): ImportResult & { origin: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError('HAR_INVALID', `${where}: not a HAR file: ${(error as Error).message}`);
  }
  const entries = (data as { log?: { entries?: unknown } } | null)?.log?.entries;
  if (!Array.isArray(entries)) throw new InputError('HAR_INVALID', `${where}: not a HAR file: log.entries is missing`);

  let invalid = 0;
  let firstInvalid: string | undefined;
  const parsed: { origin: string; method: string; status: number; agent?: string; request: ObservedRequest }[] = [];
  entries.forEach((raw: HarEntry, i) => {
    const request = raw?.request;
    const method = typeof request?.method === 'string' ? request.method.toUpperCase() : '';
    let url: URL | undefined;
    try {
      url = typeof request?.url === 'string' ? new URL(request.url) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || !isHttpMethod(method) || !/^https?:$/.test(url.protocol)) {
      invalid++;
      firstInvalid ??= `log.entries[${i}]`;
      return;
    }
    // Each entry keeps its own headers and body: they are replayed together, never mixed with another entry's.
    const headers: Record<string, string> = {};
    let agent: string | undefined;
    for (const h of request?.headers ?? []) {
      if (typeof h?.name !== 'string' || typeof h.value !== 'string') continue;
      if (keepHeader(h.name)) headers[h.name.toLowerCase()] = h.value;
      if (h.name.toLowerCase() === 'user-agent') agent = h.value;
    }
    const body =
      typeof request?.postData?.text === 'string' && request.postData.text !== '' ? request.postData.text : undefined;
    parsed.push({
      origin: url.origin,
      method,
      status: Number(raw.response?.status ?? 200),
      ...(agent !== undefined ? { agent } : {}),
      request: { method, target: `${url.pathname}${url.search}`, headers, ...(body !== undefined ? { body } : {}) },
    });
  });
  const counts = new Map<string, number>();
  for (const p of parsed.filter((p) => !failed(p.status))) counts.set(p.origin, (counts.get(p.origin) ?? 0) + 1);
  const origin = options.origin?.replace(/\/+$/, '') ?? [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  const skipped: Record<string, number> = {};
  const skippedMethods: Record<string, number> = {};
  const skip = (why: string) => (skipped[why] = (skipped[why] ?? 0) + 1);
  const requests: ObservedRequest[] = [];
  for (const p of parsed) {
    if (failed(p.status)) skip('failed response');
    else if (p.origin !== origin) skip('other origin');
    else if (!options.keepProbes && isProbe(p.request.target.split('?', 1)[0]!, p.agent)) skip('health check');
    else if (options.methods && !options.methods.includes(p.method))
      skippedMethods[p.method] = (skippedMethods[p.method] ?? 0) + 1;
    else requests.push(p.request);
  }
  return { requests, invalid, ...(firstInvalid ? { firstInvalid } : {}), skipped, skippedMethods, origin };
}
