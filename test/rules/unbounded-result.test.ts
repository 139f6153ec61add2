import rule from '../../src/rules/unbounded-result.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  {
    fixture: 'results',
    statement: 'bad: thousands of rows without LIMIT',
    expect: [{ messageId: 'unbounded', severity: 'warning' }],
  },
  {
    fixture: 'results',
    statement: 'bad: LIMIT ALL is no limit',
    expect: [{ messageId: 'unbounded', severity: 'warning' }],
  },
  { fixture: 'results', statement: 'ok: same rows with a LIMIT', expect: [] },
  { fixture: 'results', statement: 'ok: few rows without LIMIT', expect: [] },
  { fixture: 'results', statement: 'bad: LIMIT ALL is no limit', options: { maxRows: 5000 }, expect: [] },
]);
