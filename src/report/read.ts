/** Reads a saved report back (for check, compare, budget init), refusing other format versions. */
import { readTextFile } from '../config/yaml.js';
import { InputError } from '../errors.js';
import { REPORT_VERSION, type Report } from '../model/report.js';

export function parseReport(text: string, where: string): Report {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError('REPORT_INVALID', `${where}: not a JSON report: ${(error as Error).message}`);
  }
  const candidate = data as Partial<Report> | null;
  if (!candidate || typeof candidate !== 'object' || candidate.tool?.name !== 'querygate') {
    throw new InputError('REPORT_INVALID', `${where}: not a querygate report`);
  }
  if (candidate.version !== REPORT_VERSION) {
    throw new InputError(
      'REPORT_INVALID',
      `${where}: report format version ${String(candidate.version)} is not supported by this querygate (reads version ${REPORT_VERSION}); re-run the workload with this version`,
    );
  }
  if (!Array.isArray(candidate.queries))
    throw new InputError('REPORT_INVALID', `${where}: the report has no queries array`);
  return candidate as Report;
}

/** Reads and checks a report file. */
export function readReport(path: string): Report {
  return parseReport(readTextFile(path, 'report'), path);
}
