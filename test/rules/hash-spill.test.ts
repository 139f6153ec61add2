import rule from '../../src/rules/hash-spill.js';
import { ruleCases } from './harness.js';

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
