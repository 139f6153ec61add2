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
  },
  { fixture: p, statement: 'bad: cast of an indexed column', expect: [{ messageId: 'cast', severity: 'error' }] },
  {
    fixture: p,
    statement: 'bad: date_trunc of an indexed column',
    expect: [{ messageId: 'function', severity: 'error' }],
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
