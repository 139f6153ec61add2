/**
 * Access-log import: the NCSA common and combined formats (nginx's default `combined`, Apache's
 * `common`/`combined`). Lines that do not parse are counted and skipped, never fatal; requests
 * that failed (4xx/5xx) are left out, since replaying them measures nothing.
 */
import { isHttpMethod, type ImportResult, type ObservedRequest } from './observed.js';

// host ident user [time] "METHOD target PROTOCOL" status bytes ["referer" "user-agent" ...]
const LINE = /^(\S+) (\S+) (\S+) \[([^\]]+)\] "([A-Z]+) (\S+)(?: HTTP\/[\d.]+)?" (\d{3}) (\d+|-)(?:\s.*)?$/;

/** Parses an access log; always succeeds (the caller decides what an empty result means). */
export function parseAccessLog(text: string): ImportResult {
  const requests: ObservedRequest[] = [];
  const skipped: Record<string, number> = {};
  let invalid = 0;
  let firstInvalid: string | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const m = LINE.exec(line);
    const method = m?.[5] ?? '';
    let target = m?.[6] ?? '';
    // Absolute-form targets (proxies log them): keep path and query.
    if (/^https?:\/\//i.test(target)) {
      try {
        const u = new URL(target);
        target = `${u.pathname}${u.search}`;
      } catch {
        target = '';
      }
    }
    if (!m || !isHttpMethod(method) || !target.startsWith('/')) {
      invalid++;
      firstInvalid ??= `line ${i + 1}`;
      return;
    }
    const status = Number(m[7]);
    if (status >= 400) {
      skipped['failed response'] = (skipped['failed response'] ?? 0) + 1;
      return;
    }
    requests.push({ method, target });
  });
  return { requests, invalid, ...(firstInvalid ? { firstInvalid } : {}), skipped };
}
