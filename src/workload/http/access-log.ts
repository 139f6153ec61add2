/**
 * Access-log import: the NCSA common and combined formats (nginx's default `combined`, Apache's
 * `common`/`combined`). Lines that do not parse are counted and skipped, never fatal; requests
 * that failed (4xx/5xx) are left out, since replaying them measures nothing. An access log holds
 * no bodies and no headers, so by default only GET and HEAD requests are kept.
 */
import { ACCESS_LOG_METHODS, isHttpMethod, isProbe, type ImportResult, type ObservedRequest } from './observed.js';

// host ident user [time] "METHOD target PROTOCOL" status bytes ["referer" "user-agent" ...]
const LINE = /^(\S+) (\S+) (\S+) \[([^\]]+)\] "([A-Z]+) (\S+)(?: HTTP\/[\d.]+)?" (\d{3}) (\d+|-)(\s.*)?$/;
// The combined format's quoted referer and user agent (nginx escapes `"` as \x22, Apache as \").
const AGENT = /^\s+"(?:[^"\\]|\\.)*"\s+"((?:[^"\\]|\\.)*)"/;

export interface AccessLogOptions {
  /** Methods to keep (default GET and HEAD); the others are counted by method. */
  readonly methods?: readonly string[];
  /**
   * The application's host (`shop.example.com`, `staging:8080`): absolute-form request lines
   * (`GET http://other.example.com/x`, as proxies and open-proxy scanners send them) naming another
   * host are left out. Without it they are kept. Lines in origin form (`GET /x`) are always kept.
   */
  readonly host?: string;
  /** Keep health checks and monitoring probes, left out by default. */
  readonly keepProbes?: boolean;
}

/** Parses an access log; always succeeds (the caller decides what an empty result means). */
export function parseAccessLog(text: string, options: AccessLogOptions = {}): ImportResult {
  const methods = options.methods ?? ACCESS_LOG_METHODS;
  const host = options.host?.toLowerCase();
  const requests: ObservedRequest[] = [];
  const skipped: Record<string, number> = {};
  const skippedMethods: Record<string, number> = {};
  const skip = (why: string) => (skipped[why] = (skipped[why] ?? 0) + 1);
  let invalid = 0;
  let firstInvalid: string | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const m = LINE.exec(line);
    const method = m?.[5] ?? '';
    let target = m?.[6] ?? '';
    let targetHost: string | undefined;
    // Absolute-form targets (proxies log them): keep path and query, and the host to compare.
    if (/^https?:\/\//i.test(target)) {
      try {
        const u = new URL(target);
        target = `${u.pathname}${u.search}`;
        targetHost = u.host.toLowerCase();
      } catch {
        target = '';
      }
    }
    if (!m || !isHttpMethod(method) || !target.startsWith('/')) {
      invalid++;
      firstInvalid ??= `line ${i + 1}`;
      return;
    }
    const agent = AGENT.exec(m[9] ?? '')?.[1];
    if (Number(m[7]) >= 400) skip('failed response');
    else if (host !== undefined && targetHost !== undefined && targetHost !== host) skip('other host');
    else if (!options.keepProbes && isProbe(target.split('?', 1)[0]!, agent)) skip('health check');
    else if (!methods.includes(method)) skippedMethods[method] = (skippedMethods[method] ?? 0) + 1;
    else requests.push({ method, target });
  });
  return { requests, invalid, ...(firstInvalid ? { firstInvalid } : {}), skipped, skippedMethods };
}
