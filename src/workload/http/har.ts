/**
 * HAR import (HTTP Archive 1.2, as browsers' developer tools and proxies save it). Entries are
 * kept for one origin (by default the most frequent one: a page's traffic also holds CDNs and
 * analytics); entries that cannot be read are counted and skipped, never fatal.
 */
import { InputError } from '../../errors.js';
import { isHttpMethod, keepHeader, type ImportResult, type ObservedRequest } from './observed.js';

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
}

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
  const skipped: Record<string, number> = {};
  const parsed: { origin: string; request: ObservedRequest }[] = [];
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
    const status = Number(raw.response?.status ?? 200);
    if (status === 0 || status >= 400) {
      skipped['failed response'] = (skipped['failed response'] ?? 0) + 1;
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of request?.headers ?? []) {
      if (typeof h?.name === 'string' && typeof h.value === 'string' && keepHeader(h.name))
        headers[h.name.toLowerCase()] = h.value;
    }
    const body =
      typeof request?.postData?.text === 'string' && request.postData.text !== '' ? request.postData.text : undefined;
    parsed.push({
      origin: url.origin,
      request: { method, target: `${url.pathname}${url.search}`, headers, ...(body !== undefined ? { body } : {}) },
    });
  });
  const counts = new Map<string, number>();
  for (const p of parsed) counts.set(p.origin, (counts.get(p.origin) ?? 0) + 1);
  const origin = options.origin?.replace(/\/+$/, '') ?? [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  const requests = parsed.filter((p) => p.origin === origin).map((p) => p.request);
  const others = parsed.length - requests.length;
  if (others > 0) skipped['other origin'] = others;
  return { requests, invalid, ...(firstInvalid ? { firstInvalid } : {}), skipped, origin };
}
