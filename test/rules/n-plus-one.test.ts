import { describe, expect, it } from 'vitest';
import rule, { batchedForm } from '../../src/rules/n-plus-one.js';
import { loadFixture, ruleCases, runRule } from './harness.js';

// fixtures/plans/n-plus-one/loop.json: an HTTP run of the sample application; statements are named
// by their text (an application's statements have no name).
const LOOKUP = 'SELECT id, name, email FROM shop.customers WHERE id = $1';
const LIST =
  'SELECT id, customer_id, status, total_cents, created_at FROM shop.orders ORDER BY created_at DESC LIMIT $1';
const BY_ID = 'SELECT id, customer_id, status, total_cents, created_at FROM shop.orders WHERE id = $1';
const OF_CUSTOMER =
  'SELECT id, status, total_cents, created_at FROM shop.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2';

ruleCases(rule, [
  // 20 customer lookups per request of "recent orders": one per order of the list.
  { fixture: 'loop', statement: LOOKUP, expect: [{ messageId: 'loop', severity: 'warning' }] },
  { fixture: 'loop', statement: LIST, expect: [] },
  { fixture: 'loop', statement: BY_ID, expect: [] },
  { fixture: 'loop', statement: OF_CUSTOMER, expect: [] },
  { fixture: 'loop', statement: LOOKUP, options: { minCallsPerRequest: 21 }, expect: [] },
  {
    fixture: 'loop',
    statement: BY_ID,
    options: { minCallsPerRequest: 1 },
    expect: [{ messageId: 'loop', severity: 'warning' }],
  },
  { fixture: 'loop', statement: LOOKUP, severity: 'error', expect: [{ messageId: 'loop', severity: 'error' }] },
]);

describe('rule n-plus-one: the finding', () => {
  it('names the route and the statement, with the numbers and a batched rewrite', () => {
    const report = runRule(rule, loadFixture('n-plus-one', 'loop'));
    const finding = report.queries.find((q) => q.source === LOOKUP)!.findings[0]!;
    expect(finding.route).toBe('recent orders');
    expect(finding.message).toBe(
      'runs 20 times per request of route "recent orders" (21 statements per request in all): a query in a loop',
    );
    expect(finding.evidence).toMatchObject({ callsPerRequest: 20, statementsPerRequest: 21, requests: 20 });
    expect(finding.suggestion).toContain('SELECT id, name, email FROM shop.customers WHERE id = ANY($1)');
  });

  it('rewrites single-parameter lookups only', () => {
    expect(batchedForm('SELECT * FROM t\n WHERE t.id = $1')).toBe('SELECT * FROM t WHERE t.id = ANY($1)');
    expect(batchedForm('SELECT * FROM t WHERE a = $1 AND b = $2')).toBeUndefined();
    expect(batchedForm('SELECT * FROM t WHERE a > $1')).toBeUndefined();
  });
});
