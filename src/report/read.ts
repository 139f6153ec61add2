/**
 * Reads a saved report back (for check, compare, budget init, run --baseline): refuses other format
 * versions and anything that does not match schemas/report.schema.json, so a hand-edited or
 * truncated report fails loudly instead of being compared as if it were fine.
 */
import { readTextFile, validateWithSchema } from '../config/yaml.js';
import { InputError } from '../errors.js';
import { REPORT_VERSION, type Report } from '../model/report.js';
import { TOOL_VERSION } from '../version.js';

/** Schema problems named in the message: enough to find the spot, not a wall of text. */
const SHOWN_PROBLEMS = 5;

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
  const problems = validateWithSchema(data, 'report.schema.json');
  if (problems.length > 0) {
    const lines = problems.slice(0, SHOWN_PROBLEMS).map((p) => `${where}: ${p.field}: ${p.message}`);
    if (problems.length > SHOWN_PROBLEMS) lines.push(`${where}: … and ${problems.length - SHOWN_PROBLEMS} more`);
    throw new InputError(
      'REPORT_INVALID',
      `${where}: not a valid querygate report (schemas/report.schema.json): ${problems[0]!.field}: ${problems[0]!.message}`,
      lines.slice(1),
    );
  }
  return candidate as Report;
}

/** Reads and checks a report file. */
export function readReport(path: string): Report {
  return parseReport(readTextFile(path, 'report'), path);
}

/**
 * Refuses the report of an interrupted run where a complete one is needed (a budget, a
 * comparison): it has no plans and fewer calls, so limits or verdicts drawn from it would be
 * invented. `need` ends the message, e.g. "a budget needs the report of a complete run".
 */
export function requireCompleteReport(report: Report, where: string, need: string): void {
  if (report.run.complete) return;
  throw new InputError(
    'REPORT_INCOMPLETE',
    `${where}: the run was interrupted (${report.run.interruptedBy ?? 'incomplete'}): ${need}`,
  );
}

/**
 * A warning when the report was written by another querygate version than this one. The format
 * version (`version`) is what decides whether a report can be read; a report of the same format
 * from another querygate is read, but its findings and measurements are that version's.
 */
export function toolVersionWarning(report: Report, where: string, current: string = TOOL_VERSION): string | undefined {
  if (report.tool.version === current) return undefined;
  return (
    `${where} was written by querygate ${report.tool.version}, this is querygate ${current}: the report format is the same, ` +
    `but its findings and measurements come from ${report.tool.version} (run the workload again with this version to gate on its rules)`
  );
}
