import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import rule from '../../src/rules/hash-spill.js';
import { loadFixture, ruleCases, runRule } from './harness.js';

ruleCases(rule, [
  {
    fixture: 'hash.analyze',
    statement: 'bad: hash join of two large tables',
    expect: [{ messageId: 'hash', severity: 'warning' }],
    suggestion: /^SET LOCAL work_mem = '\w+' for this statement \(it spilled at work_mem \w+;/,
  },
  {
    fixture: 'hash.analyze',
    statement: 'bad: hash aggregate with many groups',
    expect: [{ messageId: 'hashagg', severity: 'warning' }],
  },
  { fixture: 'hash.analyze', statement: 'ok: hash of a small table', expect: [] },
  {
    fixture: 'hash',
    statement: 'bad: hash join of two large tables',
    expect: [{ messageId: 'statistics', severity: 'warning' }],
  },
  {
    fixture: 'hash',
    statement: 'bad: hash aggregate with many groups',
    expect: [{ messageId: 'statistics', severity: 'warning' }],
  },
  { fixture: 'hash', statement: 'ok: hash of a small table', expect: [] },
  {
    fixture: 'hash.analyze',
    statement: 'bad: hash aggregate with many groups',
    options: { minDiskKb: 100_000 },
    expect: [],
  },
]);

describe('hash-spill: temp blocks of a generic plan', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('does not put them on a hash whose known size fits in memory, however larger than the estimate of a sort sized by parameters', () => {
    // fixtures/plans/sort-spill/tenants.json: the hash of every project (4,000 rows) under a sort
    // estimated for a typical organization; the sort spilled (see sort-spill's cases).
    const report = runRule(rule, loadFixture('sort-spill', 'tenants'));
    expect(report.queries[0]!.tempBlksWritten).toBeGreaterThan(0);
    expect(report.queries[0]!.findings).toEqual([]);
  });
});
