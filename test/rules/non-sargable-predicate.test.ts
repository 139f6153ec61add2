import { beforeAll, describe, expect, it } from 'vitest';
import { columnPredicates } from '../../src/analyze/column-predicates.js';
import { loadParser, parseStatement } from '../../src/analyze/parser.js';
import rule from '../../src/rules/non-sargable-predicate.js';
import { predicateFix } from '../../src/rules/shared/predicate-fix.js';
import { ruleCases } from './harness.js';

const p = 'predicates';
ruleCases(rule, [
  {
    fixture: p,
    statement: 'bad: function on an indexed column',
    expect: [{ messageId: 'function', severity: 'error' }],
    // lower() is IMMUTABLE (the report says so): an expression index, with no condition on it.
    suggestion:
      /^CREATE INDEX ON public\.users \(lower\(email\)\); -- not validated on the planner; an expression index, or rewrite the predicate to compare email itself$/,
  },
  { fixture: p, statement: 'bad: cast of an indexed column', expect: [{ messageId: 'cast', severity: 'error' }] },
  {
    fixture: p,
    statement: 'bad: date_trunc of an indexed column',
    expect: [{ messageId: 'function', severity: 'error' }],
    suggestion:
      /^compare the bare column with a range instead: u\.created_at >= timestamptz '2024-03-05' AND u\.created_at < timestamptz '2024-03-05' \+ interval '1 day'; no index can hold date_trunc\('day', created_at\): date_trunc\(text,timestamp with time zone\) is STABLE, not IMMUTABLE/,
  },
  // The range first; no expression index is proposed: date(timestamptz) is STABLE, as the catalog says.
  {
    fixture: p,
    statement: 'bad: date() of an indexed timestamptz, which no index can hold',
    expect: [{ messageId: 'function', severity: 'error' }],
    suggestion:
      /^compare the bare column with a range instead: created_at >= \$1::date AND created_at < \$1::date \+ 1 \(both use the session TimeZone, as date\(\) did\); no index can hold date\(created_at\): date\(timestamp with time zone\) is STABLE, not IMMUTABLE \(its result may depend on settings such as TimeZone\), and an index needs IMMUTABLE functions$/,
  },
  {
    fixture: p,
    statement: 'bad: arithmetic on an indexed column',
    expect: [{ messageId: 'expression', severity: 'error' }],
  },
  { fixture: p, statement: 'bad: leading wildcard', expect: [{ messageId: 'leadingWildcard', severity: 'error' }] },
  {
    fixture: p,
    statement: 'bad: ILIKE on a btree-indexed column',
    expect: [{ messageId: 'ilike', severity: 'error' }],
  },
  // A range on a cast may match most rows; the selective filter here is on name: a milder case.
  {
    fixture: p,
    statement: 'mild: range cast beside a selective filter',
    expect: [{ messageId: 'cast', severity: 'warning' }],
  },
  { fixture: p, statement: 'ok: expression index serves the function', expect: [] },
  { fixture: p, statement: 'ok: bare indexed column', expect: [] },
  { fixture: p, statement: 'ok: function on a small table', expect: [] },
  { fixture: p, statement: 'ok: cast that keeps most rows', expect: [] },
  { fixture: p, statement: 'ok: another index narrows the rows first', expect: [] },
  { fixture: p, statement: 'bad: function on an indexed column', options: { minRows: 100_000 }, expect: [] },
  { fixture: p, statement: 'bad: cast of an indexed column', severity: 'off', expect: [] },
]);

describe('non-sargable-predicate: the fix of a date_trunc whose unit is a parameter', () => {
  beforeAll(loadParser);

  it('compares the bare column with a range whose length comes from the parameter', () => {
    // An application's statement: the unit is $1, unknown to querygate (HTTP runs have no values).
    const sql = 'SELECT id FROM orders o WHERE date_trunc($1, o.created_at) = date_trunc($2, now())';
    const [predicate] = columnPredicates(sql, undefined, () => true).filter((c) => c.wrapper === 'function');
    const fix = predicateFix(predicate!, 'public.orders', 'function');
    expect(fix).toBe(
      "compare the bare column with a range instead: o.created_at >= date_trunc($2, now()) AND o.created_at < date_trunc($2, now()) + ('1 ' || $1)::interval",
    );
    // The range is valid SQL, the unit bound as text.
    const range = fix.slice(fix.indexOf(': ') + 2);
    expect(() => parseStatement(`SELECT id FROM orders o WHERE ${range}`)).not.toThrow();
  });
});
