/**
 * Reading saved reports back: every report check, compare and run --baseline read is validated
 * against schemas/report.schema.json, and a bad one is refused naming the file and the JSON path.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { parseReport } from '../../src/report/read.js';

const fixture = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const REPORTS = [
  fixture('../../fixtures/reports/outage-demo.json'),
  fixture('../compare/fixtures/reports/with-index.json'),
  fixture('../compare/fixtures/reports/without-index.json'),
];

/** A fixture report, parsed as plain JSON so a test can break it. */
const raw = () =>
  JSON.parse(readFileSync(REPORTS[1]!, 'utf8')) as Record<string, unknown> & { queries: Record<string, unknown>[] };

function rejection(data: unknown): InputError {
  try {
    parseReport(JSON.stringify(data), 'head.json');
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected the report to be rejected');
}

describe('parseReport', () => {
  it.each(REPORTS)('reads the committed fixture report %s', (path) => {
    expect(parseReport(readFileSync(path, 'utf8'), path).queries.length).toBeGreaterThan(0);
  });

  it('refuses a statement with a wrong type, naming the file and the JSON path', () => {
    const data = raw();
    data.queries[1]!.calls = 'many';
    const error = rejection(data);
    expect(error.code).toBe('REPORT_INVALID');
    expect(error.message).toBe(
      'head.json: not a valid querygate report (schemas/report.schema.json): queries[1].calls: must be number',
    );
  });

  it('names the first few problems, one per line, and counts the rest', () => {
    const data = raw();
    data.queries[0]!.fingerprint = 12;
    data.queries[1]!.calls = 'many';
    data.queries[2]!.kind = 'drop';
    delete data.queries[3]!.meanMs;
    (data.totals as Record<string, unknown>).totalMs = -1;
    (data.workload as Record<string, unknown>).rounds = '3';
    (data.target as Record<string, unknown>).kind = 'cloud';
    const error = rejection(data);
    expect(error.message).toMatch(/^head\.json: not a valid querygate report \(schemas\/report\.schema\.json\): \S+: /);
    // The message names the first problem; the details the next four, then how many more there are.
    expect(error.details).toHaveLength(5);
    for (const line of error.details.slice(0, 4)) expect(line).toMatch(/^head\.json: [\w.[\]]+: /);
    const named = [error.message.replace(/^.*\): /, 'head.json: '), ...error.details.slice(0, 4)];
    const expected = [
      'head.json: queries[0].fingerprint: must be string',
      'head.json: queries[1].calls: must be number',
      'head.json: queries[2].kind: must be one of "select", "insert", "update", "delete", "merge", "utility", "other"',
      'head.json: queries[3].meanMs: is required',
      'head.json: totals.totalMs: must be >= 0',
      'head.json: workload.rounds: must be integer',
      'head.json: target.kind: must be one of "embedded", "external"',
    ];
    expect(
      named.every((line) => expected.includes(line)),
      named.join('\n'),
    ).toBe(true);
    expect(error.details[4]).toBe('head.json: … and 2 more');
  });

  it('keeps the earlier checks: not JSON, not a querygate report, another version', () => {
    expect(() => parseReport('{', 'x.json')).toThrow(/^x\.json: not a JSON report/);
    expect(() => parseReport('{"a":1}', 'x.json')).toThrow(/^x\.json: not a querygate report$/);
    expect(() => parseReport(JSON.stringify({ ...raw(), version: 2 }), 'x.json')).toThrow(
      /^x\.json: report format version 2 is not supported/,
    );
  });
});
