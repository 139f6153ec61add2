import rule from '../../src/rules/non-sargable-predicate.js';
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
