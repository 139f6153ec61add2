import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseReport } from '../../src/report/read.js';
import type { Report } from '../../src/model/report.js';

/** The one shared fixture report, captured from a real run of scenarios/outage-demo.yaml. */
export const FIXTURE_REPORT = fileURLToPath(new URL('../../fixtures/reports/outage-demo.json', import.meta.url));

export function fixtureReport(): Report {
  return parseReport(readFileSync(FIXTURE_REPORT, 'utf8'), FIXTURE_REPORT);
}
