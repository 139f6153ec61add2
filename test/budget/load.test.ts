import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BUDGET_FILE_NAME,
  findBudgetFile,
  loadBudget,
  MAX_BUDGET_PROBLEMS,
  parseBudget,
} from '../../src/budget/load.js';
import { resolveCompareThresholds } from '../../src/compare/thresholds.js';
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
    expect(budget.routes).toBeUndefined();
    expect(budget.lines['limits.totalDbMs']).toBe(3);
    expect(budget.lines['statements[0].maxMeanMs']).toBe(8);
    expect(budget.lines['statements[1].maxBlocksPerCall']).toBe(10);
    expect(budget.lines['accepted[0]']).toBe(14);
    expect(budget.source).toBe('budget.yaml');
  });

  it('reads per-route limits and the calls per request of per-call limits', () => {
    const budget = parseBudget(
      [
        'version: 1',
        'routes:',
        '  - route: list books',
        '    maxStatementsPerRequest: 26',
        '    maxP99Ms: 800',
        '  - route: GET /books/{id}',
        '    maxDbMsPerRequest: 5',
        'statements:',
        '  - fingerprint: "346a5a135f96ef33"',
        '    maxBlocksPerCall: 7',
        '    callsPerRequest: 20',
      ].join('\n'),
      'budget.yaml',
    );
    expect(budget.routes).toEqual([
      { route: 'list books', maxStatementsPerRequest: 26, maxP99Ms: 800 },
      { route: 'GET /books/{id}', maxDbMsPerRequest: 5 },
    ]);
    expect(budget.statements).toEqual([{ fingerprint: '346a5a135f96ef33', maxBlocksPerCall: 7, callsPerRequest: 20 }]);
    expect(budget.lines['routes[1].maxDbMsPerRequest']).toBe(7);
  });

  it('refuses an empty or comment-only file: it gates nothing', () => {
    for (const text of ['', '\n\n', '# nothing yet\n', '---\n# only comments\n', '~\n']) {
      const error = problem(text);
      expect(error.code).toBe('BUDGET_INVALID');
      expect(error.message).toMatch(/^budget\.yaml: the budget file is empty: start it with "version: 1"/);
    }
    expect(() => parseBudget('- 1\n', 'b.yaml')).toThrow(/b\.yaml:1:1: \(top level\): must be object/);
  });

  it('refuses a budget that sets no limit: it would pass anything', () => {
    for (const text of [
      'version: 1\n',
      'version: 1\nlimits: {}\nstatements: []\n',
      'version: 1\nrules: {}\n',
      'version: 1\nroutes: []\n',
    ]) {
      const error = problem(text);
      expect(error.code).toBe('BUDGET_INVALID');
      expect(error.message).toMatch(/^budget\.yaml: the budget sets no limit: add limits, statements, rules/);
    }
    // Thresholds for compare alone are a use of the file.
    expect(parseBudget('version: 1\ncompare:\n  callsPerRequest: 2\n', 'b.yaml').compare).toEqual({
      callsPerRequest: 2,
    });
  });

  it('reads the compare threshold of temp blocks per call, and resolves it over the defaults', () => {
    const budget = parseBudget('version: 1\ncompare:\n  tempBlocksPerCall: { absolute: 50 }\n', 'b.yaml');
    expect(budget.compare).toEqual({ tempBlocksPerCall: { absolute: 50 } });
    expect(resolveCompareThresholds(budget.compare).tempBlocksPerCall).toEqual({ relative: 0.5, absolute: 50 });
    expect(problem('version: 1\ncompare:\n  tempBlocksPerCall: { absolute: -1 }\n').message).toMatch(
      /compare\.tempBlocksPerCall\.absolute: must be >= 0/,
    );
  });

  it('refuses limits that are not finite numbers (YAML reads 1e999 and .inf as Infinity)', () => {
    const error = problem(
      'version: 1\nlimits:\n  totalDbMs: 1e999\nstatements:\n  - pattern: orders\n    maxPlanCost: .inf\n',
    );
    expect(error.code).toBe('BUDGET_INVALID');
    expect([error.message, ...error.details]).toEqual([
      'budget.yaml:3:3: limits.totalDbMs: must be a finite number, got Infinity',
      'budget.yaml:6:5: statements[0].maxPlanCost: must be a finite number, got Infinity',
    ]);
  });

  it('requires version: 1 and says so, with the value found', () => {
    expect(problem('limits:\n  totalDbMs: 5\n').message).toBe(
      'budget.yaml:1:1: version: is required: start the file with "version: 1" (the budget format version)',
    );
    expect(problem('version: 2\nlimits:\n  totalDbMs: 5\n').message).toBe(
      'budget.yaml:1:10: version: must be 1, the only budget format version this querygate reads (found 2)',
    );
    expect(problem('version: "1"\n').message).toMatch(/version: must be 1, .*\(found "1"\)$/);
  });

  it('names the bad option of a rule setting, not the other form of a setting', () => {
    const error = problem('version: 1\nrules: { slow-mean: { severity: fatal, thresholdMs: -5 } }\n');
    expect([error.message, ...error.details]).toEqual([
      'budget.yaml:2:33: rules.slow-mean.severity: must be one of "error", "warning", "info", "off"',
      'budget.yaml:2:40: rules.slow-mean.thresholdMs: must be a non-negative number, got -5',
    ]);
    expect(problem('version: 1\nrules:\n  slow-mean: 5\n').message).toBe(
      'budget.yaml:3:14: rules.slow-mean: must be string or object',
    );
  });

  it('reports every problem in file order, schema and other checks alike, up to a cap', () => {
    const error = problem(
      [
        'version: 1',
        'limits:',
        '  totalDbMs: 0',
        '  routeP95Ms: -1',
        'statements:',
        '  - pattern: "(unclosed"',
        'rules:',
        '  slow-mean: { thresholdMs: -5 }',
        '  no-such-rule: error',
        '',
      ].join('\n'),
    );
    expect([error.message, ...error.details]).toEqual([
      'budget.yaml:3:14: limits.totalDbMs: must be > 0',
      'budget.yaml:4:15: limits.routeP95Ms: must be > 0',
      'budget.yaml:6:5: statements[0].pattern: not a valid regular expression: Invalid regular expression: /(unclosed/i: Unterminated group',
      'budget.yaml:8:16: rules.slow-mean.thresholdMs: must be a non-negative number, got -5',
      expect.stringMatching(/^budget\.yaml:9:3: rules\.no-such-rule: unknown rule "no-such-rule"/),
    ]);
    const many = problem(
      ['version: 1', 'statements:', ...Array.from({ length: 30 }, () => '  - maxMeanMs: -1'), ''].join('\n'),
    );
    expect(many.details).toHaveLength(MAX_BUDGET_PROBLEMS);
    expect(many.details.at(-2)).toMatch(/^budget\.yaml:22:16: statements\[19\]\.maxMeanMs: must be > 0$/);
    expect(many.details.at(-1)).toBe('budget.yaml: … and 10 more problem(s)');
  });

  it.each([
    [
      'a negative limit',
      'statements:\n  - maxMeanMs: -1\n',
      /^budget\.yaml:3:16: statements\[0\]\.maxMeanMs: must be > 0/,
    ],
    ['an unknown limit', 'limits:\n  totalMs: 5\n', /^budget\.yaml:3:3: limits\.totalMs: unknown field/],
    [
      'an unquoted all-digit fingerprint',
      'statements:\n  - fingerprint: 123456\n    maxMeanMs: 1\n',
      /^budget\.yaml:3:18: statements\[0\]\.fingerprint: must be string/,
    ],
    [
      'an accepted finding without a reason',
      `accepted:\n  - rule: ${rule.id}\n    fingerprint: "ab"\n`,
      /^budget\.yaml:3:5: accepted\[0\]\.reason: is required/,
    ],
    [
      'an accepted finding matching everything',
      `accepted:\n  - rule: ${rule.id}\n    reason: x\n`,
      /^budget\.yaml:3:5: accepted\[0\]: give a fingerprint or a relation/,
    ],
    [
      'an impossible expiry date',
      `accepted:\n  - rule: ${rule.id}\n    relation: t\n    reason: x\n    expires: 2030-02-30\n`,
      /^budget\.yaml:6:5: accepted\[0\]\.expires: not a calendar date/,
    ],
    [
      'a broken regular expression',
      'statements:\n  - pattern: "(unclosed"\n    maxMeanMs: 1\n',
      /^budget\.yaml:3:5: statements\[0\]\.pattern: not a valid regular expression/,
    ],
    [
      'an unknown rule in rules',
      'rules:\n  no-such-rule: error\n',
      /^budget\.yaml:3:3: rules\.no-such-rule: unknown rule "no-such-rule" \(known rules: /,
    ],
    [
      'an unknown rule in accepted',
      'accepted:\n  - rule: no-such-rule\n    relation: t\n    reason: x\n',
      /^budget\.yaml:3:5: accepted\[0\]\.rule: unknown rule "no-such-rule"/,
    ],
    [
      'a route entry without its route',
      'routes:\n  - maxStatementsPerRequest: 3\n',
      /^budget\.yaml:3:5: routes\[0\]\.route: is required/,
    ],
    [
      'an unknown route limit',
      'routes:\n  - route: list books\n    statementsPerRequest: 3\n',
      /^budget\.yaml:4:5: routes\[0\]\.statementsPerRequest: unknown field/,
    ],
    [
      'calls per request of 0 for per-call limits',
      'statements:\n  - fingerprint: "ab"\n    maxBlocksPerCall: 7\n    callsPerRequest: 0\n',
      /^budget\.yaml:5:22: statements\[0\]\.callsPerRequest: must be > 0/,
    ],
    ['invalid YAML', 'limits: [\n', /^budget\.yaml:\d+:\d+: invalid YAML/],
    [
      'an expiry that is not a date',
      `accepted:\n  - rule: ${rule.id}\n    relation: t\n    reason: x\n    expires: next week\n`,
      /^budget\.yaml:6:14: accepted\[0\]\.expires: must be a date written YYYY-MM-DD/,
    ],
    [
      'an empty reason',
      `accepted:\n  - rule: ${rule.id}\n    relation: t\n    reason: ""\n`,
      /^budget\.yaml:5:13: accepted\[0\]\.reason: must not be empty$/,
    ],
    [
      'a fingerprint that is not hexadecimal',
      'statements:\n  - fingerprint: "xyz"\n    maxMeanMs: 1\n',
      /^budget\.yaml:3:18: statements\[0\]\.fingerprint: must be a fingerprint: 1 to 32 lowercase hexadecimal digits/,
    ],
  ])('rejects %s with file:line:col and the field', (_, text, message) => {
    const error = problem(`version: 1\n${text}`);
    expect(error.code).toBe('BUDGET_INVALID');
    expect(error.message).toMatch(message);
  });

  it('lists every YAML syntax error, with a hint where the indentation is the likely cause', () => {
    const error = problem(
      'version: 1\nlimits:\n  totalDbMs: 42000\n   errorRate: 0.01\nstatements:\n  - name: "account balance\n    maxMeanMs: 5\n',
    );
    expect(error.code).toBe('BUDGET_INVALID');
    expect(error.message).toMatch(
      /^budget\.yaml:3:\d+: invalid YAML: .*\(check the indentation of this line and the next\)$/,
    );
    expect(error.details).toEqual([
      expect.stringMatching(/^budget\.yaml:\d+:\d+: invalid YAML: the "quote that opens here is never closed$/),
    ]);
  });

  it("checks rule options with the config file's rules, naming the line", () => {
    const error = problem(`version: 1\nlimits: {}\nrules:\n  ${rule.id}:\n    noSuchOption: 3\n`);
    expect(error.code).toBe('BUDGET_INVALID');
    expect(error.message).toMatch(new RegExp(`^budget\\.yaml:5:5: rules\\.${rule.id}\\.noSuchOption: unknown option`));
    if (option !== undefined) {
      const value = rule.defaultOptions[option];
      const wrong = typeof value === 'number' ? '"many"' : '42';
      expect(problem(`version: 1\nrules:\n  ${rule.id}: { ${option}: ${wrong} }\n`).message).toMatch(
        new RegExp(`rules\\.${rule.id}\\.${option}: must be`),
      );
      expect(
        parseBudget(
          `version: 1\nrules:\n  ${rule.id}: { severity: error, ${option}: ${JSON.stringify(value)} }\n`,
          'b.yaml',
        ).rules[rule.id],
      ).toEqual({
        severity: 'error',
        [option]: value,
      });
    }
  });

  it('reports every problem, the first in the message and the rest as details', () => {
    const error = problem('version: 1\nrules:\n  nope-a: error\n  nope-b: error\n');
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
    writeFileSync(join(root, BUDGET_FILE_NAME), 'version: 1\nlimits: { totalDbMs: 10 }\n');
    expect(findBudgetFile(nested)).toBe(join(root, BUDGET_FILE_NAME));
    writeFileSync(join(root, 'a', BUDGET_FILE_NAME), 'version: 1\nlimits: { totalDbMs: 20 }\n');
    expect(findBudgetFile(nested)).toBe(join(root, 'a', BUDGET_FILE_NAME));
    expect(loadBudget(findBudgetFile(nested)!).limits.totalDbMs).toBe(20);
  });

  it('says when the file is missing', () => {
    expect(() => loadBudget('no/such/querygate.budget.yaml')).toThrow(
      /budget file not found: no\/such\/querygate\.budget\.yaml/,
    );
  });
});
