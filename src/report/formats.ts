/** The output formats `--format` accepts, their file names under `--output-dir`, and one entry point. */
import type { Severity } from '../model/finding.js';
import type { Report } from '../model/report.js';
import { renderGateText } from './gate-text.js';
import { renderGithub } from './github.js';
import { renderJson } from './json.js';
import { renderJunit } from './junit.js';
import { renderMarkdown } from './markdown.js';
import { renderSarif } from './sarif.js';
import { renderTable } from './table.js';

export const OUTPUT_FORMATS = ['table', 'json', 'markdown', 'junit', 'github', 'sarif'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** File written for each format under `--output-dir`. */
export const FORMAT_FILES: Readonly<Record<OutputFormat, string>> = {
  table: 'querygate.txt',
  json: 'querygate-report.json',
  markdown: 'querygate.md',
  junit: 'querygate.junit.xml',
  github: 'querygate.github.txt',
  sarif: 'querygate.sarif',
};

export function isOutputFormat(value: string): value is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(value);
}

export interface RenderOptions {
  readonly color?: boolean;
  readonly width?: number;
  readonly top?: number;
  /**
   * For a report without a gate verdict: the severity from which JUnit counts a finding as a failure
   * (the run's --fail-on; `never` when the run gates nothing, so the file agrees with its exit code).
   */
  readonly failOn?: Severity | 'never';
}

/** The report (with its gate verdict, if any) in one format. */
export function renderFormat(format: OutputFormat, report: Report, options: RenderOptions = {}): string {
  switch (format) {
    case 'table': {
      const table = renderTable(report, {
        ...(options.color !== undefined ? { color: options.color } : {}),
        ...(options.width !== undefined ? { width: options.width } : {}),
        ...(options.top !== undefined ? { top: options.top } : {}),
      });
      return report.gate
        ? `${table}\n\n${renderGateText(report.gate, { width: options.width ?? 120 })}\n`
        : `${table}\n`;
    }
    case 'json':
      return renderJson(report);
    case 'markdown':
      return renderMarkdown(report, options.top !== undefined ? { top: Math.min(options.top, 25) } : {});
    case 'junit':
      return renderJunit(report, options.failOn ? { failOn: options.failOn } : {});
    case 'github':
      return renderGithub(report);
    case 'sarif':
      return renderSarif(report);
  }
}
