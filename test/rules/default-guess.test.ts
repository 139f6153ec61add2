/**
 * The planner's default guesses in generic plans (HTTP runs, `capture`), on a real PostgreSQL: a
 * `LIMIT $n` taken as a tenth of its input, an inequality on a parameter or on an expression taken to
 * keep a third of the rows. Findings say which figures are guesses, use the measured rows and blocks
 * per call instead, and advice does not let a guess decide that no index is worth naming.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { captureClientCalls } from '../support/capture.js';
import { createTestDatabase, withSession } from '../support/db.js';

// Two copies of 300,000 events over 30 days: one with no index on ts, one with it.
const SCHEMA = `
CREATE TABLE log_plain (seq bigint PRIMARY KEY, stream_id int NOT NULL, ts timestamptz NOT NULL, note text);
INSERT INTO log_plain
SELECT g, 1 + g % 5000, timestamptz '2024-01-01' + (g * interval '8 seconds'), repeat('x', 40)
  FROM generate_series(1, 300000) g;
CREATE TABLE log_indexed AS SELECT * FROM log_plain;
ALTER TABLE log_indexed ADD PRIMARY KEY (seq);
CREATE INDEX log_indexed_ts_idx ON log_indexed (ts);
ANALYZE log_plain, log_indexed;
`;
const SINCE = `SELECT seq, stream_id, ts FROM log_plain WHERE ts > $1 ORDER BY ts LIMIT 100`;
const DAY = `SELECT seq, stream_id, ts FROM log_indexed WHERE date_trunc('day', ts) >= $1::timestamptz ORDER BY ts LIMIT 100`;

const findingOf = (report: Report, text: string, rule: string): Finding | undefined =>
  report.queries.find((q) => q.query.includes(text))?.findings.find((f) => f.rule === rule);

describe('generic plans: default guesses are not taken as facts', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('default_guess');
    await withSession(url, (session) => session.query(SCHEMA));
    const days = ['2024-01-20T00:00:00Z', '2024-01-25T00:00:00Z'];
    report = await captureClientCalls(
      url,
      Array.from({ length: 3 }, () => days.flatMap((d) => [[SINCE, [d]] as const, [DAY, [d]] as const])).flat(),
    );
  }, 120_000);

  it('quotes the measured rows per call for LIMIT $n, and the filter estimate as a guess', () => {
    const since = report.queries.find((q) => q.query.includes('log_plain'))!;
    expect(since.plan?.mode).toBe('generic');
    const finding = findingOf(report, 'log_plain', 'seq-scan-large-table');
    expect(finding?.message).toMatch(
      /to return the first 100 by ts \(measured rows per call: the LIMIT is a parameter/,
    );
    expect(finding?.message).toMatch(/by the planner's default guess of a third of the rows/);
    expect(finding?.evidence).toMatchObject({ returnedRows: 100, removedShareBasis: 'default-guess' });
  });

  it('names the index for the ORDER BY under the LIMIT, unvalidated, instead of "no index named"', () => {
    const finding = findingOf(report, 'log_plain', 'seq-scan-large-table');
    expect(finding?.suggestion).not.toMatch(/no index named/);
    expect(finding?.suggestion).toMatch(
      /^CREATE INDEX .*ON public\.log_plain \(ts\);? -- not validated on the planner/,
    );
  });

  it('reports the wrapped column of a whole-index walk, by the share measured per call', () => {
    const day = report.queries.find((q) => q.query.includes('log_indexed'))!;
    expect(JSON.stringify(day.plan?.root)).toMatch(/"Index Name":"log_indexed_ts_idx"/);
    const finding = findingOf(report, 'log_indexed', 'non-sargable-predicate');
    expect(finding?.messageId).toBe('function');
    expect(finding?.evidence.removedShareBasis).toBe('measured');
    expect(finding?.evidence.removedShare).toBeGreaterThan(0.9);
  });
});
