import rule from '../../src/rules/statement-errors.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  {
    fixture: 'cases',
    statement: 'bad: a division by zero on every call',
    expect: [{ messageId: 'failed', severity: 'error' }],
    message: /^failed on 12 of 12 calls \(100%\): division by zero$/,
    suggestion: /^fix the statement or the data it expects/,
  },
  {
    fixture: 'cases',
    statement: 'mild: a division by the stock, zero for a third of the items',
    expect: [{ messageId: 'failed', severity: 'warning' }],
    message: /^failed on 4 of 12 calls \(33\.3%\): division by zero$/,
  },
  {
    fixture: 'cases',
    statement: 'bad: an insert of keys that already exist',
    expect: [{ messageId: 'failed', severity: 'error' }],
    suggestion: /^the replay sent a key that already exists: draw unique columns from a `seq` generator/,
  },
  { fixture: 'cases', statement: 'ok: a lookup that never fails', expect: [] },
  // Options: a third of the calls failing is a clear case from failShare 0.3; nothing below minShare.
  {
    fixture: 'cases',
    statement: 'mild: a division by the stock, zero for a third of the items',
    options: { failShare: 0.3 },
    expect: [{ messageId: 'failed', severity: 'error' }],
  },
  {
    fixture: 'cases',
    statement: 'mild: a division by the stock, zero for a third of the items',
    options: { minShare: 0.5 },
    expect: [],
  },
]);
