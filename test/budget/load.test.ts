import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUDGET_FILE_NAME, findBudgetFile, loadBudget, parseBudget } from '../../src/budget/load.js';
import { InputError } from '../../src/errors.js';
import { RULES } from '../../src/rules/index.js';

const rule = RULES[0]!;
const option = Object.keys(rule.defaultOptions)[0];

function problem(text: string): InputError {
  try {
    parseBudget(text, 'budget.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected the budget to be rejected');
}

describe('parseBudget', () => {
  it('reads every section and remembers the line of every field', () => {
    const budget = parseBudget(
      [
        'version: 1',
        'limits:',
        '  totalDbMs: 2000',
        '  errorRate: 0.01',
        'statements:',
        '  - name: lookups',
        '    pattern: "WHERE id = \\\\$1"',
        '    maxMeanMs: 2',
        '  - relation: shop.orders',
        '    maxBlocksPerCall: 100',
        'rules:',
        `  ${rule.id}: warning`,
        'accepted:',
        `  - rule: ${rule.id}`,
        '    fingerprint: "00ff"',
        '    reason: known',
        '    expires: 2031-01-31',
      ].join('\n'),
      'budget.yaml',
    );
    expect(budget.limits).toEqual({ totalDbMs: 2000, errorRate: 0.01 });
    expect(budget.statements).toEqual([
      { name: 'lookups', pattern: 'WHERE id = \\$1', maxMeanMs: 2 },
      { relation: 'shop.orders', maxBlocksPerCall: 100 },
    ]);
    expect(budget.rules).toEqual({ [rule.id]: 'warning' });
    expect(budget.accepted).toEqual([{ rule: rule.id, fingerprint: '00ff', reason: 'known', expires: '2031-01-31' }]);
    expect(budget.lines['limits.totalDbMs']).toBe(3);
    expect(budget.lines['statements[0].maxMeanMs']).toBe(8);
    expect(budget.lines['statements[1].maxBlocksPerCall']).toBe(10);
    expect(budget.lines['accepted[0]']).toBe(14);
    expect(budget.source).toBe('budget.yaml');
  });

  it('accepts an empty file as an empty budget', () => {
    expect(parseBudget('', 'b.yaml')).toMatchObject({ limits: {}, statements: [], accepted: [], rules: {} });
    expect(parseBudget('# nothing yet\n', 'b.yaml')).toMatchObject({ limits: {}, statements: [] });
    expect(() => parseBudget('- 1\n', 'b.yaml')).toThrow(/b\.yaml:1:1: \(top level\): must be object/);
  });

  it.each([
    [
      'a negative limit',
      'statements:\n  - maxMeanMs: -1\n',
      /^budget\.yaml:2:16: statements\[0\]\.maxMeanMs: must be > 0/,
    ],
    ['an unknown limit', 'limits:\n  totalMs: 5\n', /^budget\.yaml:2:3: limits\.totalMs: unknown field/],
    [
      'an unquoted all-digit fingerprint',
      'statements:\n  - fingerprint: 123456\n    maxMeanMs: 1\n',
      /^budget\.yaml:2:18: statements\[0\]\.fingerprint: must be string/,
    ],
    [
      'an accepted finding without a reason',
      `accepted:\n  - rule: ${rule.id}\n    fingerprint: "ab"\n`,
      /^budget\.yaml:2:5: accepted\[0\]\.reason: is required/,
    ],
    [
      'an accepted finding matching everything',
      `accepted:\n  - rule: ${rule.id}\n    reason: x\n`,
      /^budget\.yaml:2:5: accepted\[0\]: give a fingerprint or a relation/,
    ],
    [
      'an impossible expiry date',
      `accepted:\n  - rule: ${rule.id}\n    relation: t\n    reason: x\n    expires: 2030-02-30\n`,
      /^budget\.yaml:5:5: accepted\[0\]\.expires: not a calendar date/,
    ],
    [
      'a broken regular expression',
      'statements:\n  - pattern: "(unclosed"\n    maxMeanMs: 1\n',
      /^budget\.yaml:2:5: statements\[0\]\.pattern: not a valid regular expression/,
    ],
    [
      'an unknown rule in rules',
      'rules:\n  no-such-rule: error\n',
      /^budget\.yaml:2:3: rules\.no-such-rule: unknown rule "no-such-rule" \(known rules: /,
    ],
    [
      'an unknown rule in accepted',
      'accepted:\n  - rule: no-such-rule\n    relation: t\n    reason: x\n',
      /^budget\.yaml:2:5: accepted\[0\]\.rule: unknown rule "no-such-rule"/,
    ],
    ['invalid YAML', 'limits: [\n', /^budget\.yaml:\d+:\d+: invalid YAML/],
  ])('rejects %s with file:line:col and the field', (_, text, message) => {
    const error = problem(text);
    expect(error.code).toBe('BUDGET_INVALID');
    expect(error.message).toMatch(message);
  });

  it("checks rule options with the config file's rules, naming the line", () => {
    const error = problem(`limits: {}\nrules:\n  ${rule.id}:\n    noSuchOption: 3\n`);
    expect(error.code).toBe('BUDGET_INVALID');
    expect(error.message).toMatch(new RegExp(`^budget\\.yaml:3:3: rules\\.${rule.id}\\.noSuchOption: unknown option`));
    if (option !== undefined) {
      const value = rule.defaultOptions[option];
      const wrong = typeof value === 'number' ? '"many"' : '42';
      expect(problem(`rules:\n  ${rule.id}: { ${option}: ${wrong} }\n`).message).toMatch(
        new RegExp(`rules\\.${rule.id}\\.${option}: must be`),
      );
      expect(
        parseBudget(`rules:\n  ${rule.id}: { severity: error, ${option}: ${JSON.stringify(value)} }\n`, 'b.yaml').rules[
          rule.id
        ],
      ).toEqual({
        severity: 'error',
        [option]: value,
      });
    }
  });

  it('reports every problem, the first in the message and the rest as details', () => {
    const error = problem('rules:\n  nope-a: error\n  nope-b: error\n');
    expect(error.message).toContain('nope-a');
    expect(error.details.join('\n')).toContain('nope-b');
  });
});

describe('finding and reading budget files', () => {
  it('walks up from the working directory to the nearest budget file', () => {
    const root = mkdtempSync(join(tmpdir(), 'qg-budget-'));
    const nested = join(root, 'a', 'b');
    mkdirSync(nested, { recursive: true });
    expect(findBudgetFile(nested)).toBeUndefined();
    writeFileSync(join(root, BUDGET_FILE_NAME), 'limits: { totalDbMs: 10 }\n');
    expect(findBudgetFile(nested)).toBe(join(root, BUDGET_FILE_NAME));
    writeFileSync(join(root, 'a', BUDGET_FILE_NAME), 'limits: { totalDbMs: 20 }\n');
    expect(findBudgetFile(nested)).toBe(join(root, 'a', BUDGET_FILE_NAME));
    expect(loadBudget(findBudgetFile(nested)!).limits.totalDbMs).toBe(20);
  });

  it('says when the file is missing', () => {
    expect(() => loadBudget('no/such/querygate.budget.yaml')).toThrow(
      /budget file not found: no\/such\/querygate\.budget\.yaml/,
    );
  });
});
