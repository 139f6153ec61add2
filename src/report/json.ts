import type { Report } from '../model/report.js';

/** The report as pretty-printed JSON (the format `check` and `compare` read back). */
export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
