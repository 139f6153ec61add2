/** The config file's rules section: resolution over the registry, discovery, errors naming file:line:field. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultRules, describeRules, findConfigFile, loadConfig, resolveRules } from '../../src/config/config.js';
import { InputError } from '../../src/errors.js';
import { RULES } from '../../src/rules/index.js';

const dir = mkdtempSync(join(tmpdir(), 'querygate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error('expected an InputError');
}

describe('resolveRules', () => {
  it('starts from every rule at its defaults', () => {
    const rules = defaultRules();
    expect(Object.keys(rules).sort()).toEqual(RULES.map((r) => r.id).sort());
    expect(rules['slow-mean']).toEqual({ enabled: true, severity: 'warning', options: { thresholdMs: 100 } });
  });

  it('turns rules off, changes severities and options, keeping the other options', () => {
    const rules = resolveRules({
      'deep-offset': 'off',
      'unbounded-result': 'info',
      'slow-mean': { severity: 'error', thresholdMs: 50 },
      'seq-scan-large-table': { minRows: 100000 },
      'sort-spill': { severity: 'off' },
    });
    expect(rules['deep-offset']!.enabled).toBe(false);
    expect(rules['sort-spill']!.enabled).toBe(false);
    expect(rules['unbounded-result']).toMatchObject({ enabled: true, severity: 'info' });
    expect(rules['slow-mean']).toEqual({ enabled: true, severity: 'error', options: { thresholdMs: 50 } });
    expect(rules['seq-scan-large-table']!.options).toMatchObject({ minRows: 100000, selectiveShare: 0.9 });
    expect(rules['seq-scan-large-table']!.severity).toBe('error');
  });

  it('describes what differs from the defaults, for --verbose', () => {
    expect(describeRules(defaultRules())).toBe('rules: defaults');
    // In registry order.
    expect(
      describeRules(resolveRules({ 'slow-mean': { severity: 'error', thresholdMs: 50 }, 'deep-offset': 'off' })),
    ).toBe('rules: deep-offset=off, slow-mean=error thresholdMs=50');
  });

  it('rejects unknown rules, unknown options and values of the wrong type, naming the field', () => {
    const unknownRule = inputError(() => resolveRules({ 'no-such-rule': 'off' }, { where: 'q.yaml' }));
    expect(unknownRule.code).toBe('CONFIG_INVALID');
    expect(unknownRule.message).toMatch(/^q\.yaml: rules\.no-such-rule: unknown rule \(known rules: .*slow-mean/);
    expect(inputError(() => resolveRules({ 'slow-mean': { threshold: 5 } })).message).toContain(
      'rules.slow-mean.threshold: unknown option (options of slow-mean: severity, thresholdMs)',
    );
    expect(inputError(() => resolveRules({ 'slow-mean': { thresholdMs: 'fast' } })).message).toContain(
      'rules.slow-mean.thresholdMs: must be a non-negative number, got "fast"',
    );
    expect(inputError(() => resolveRules({ 'slow-mean': { thresholdMs: -1 } })).message).toContain(
      'must be a non-negative number',
    );
    expect(inputError(() => resolveRules({ 'slow-mean': { severity: 'fatal' as never } })).message).toContain(
      'rules.slow-mean.severity: must be one of',
    );
    const budget = inputError(() => resolveRules({ nope: 'off' }, { code: 'BUDGET_INVALID', section: 'budget.rules' }));
    expect(budget.code).toBe('BUDGET_INVALID');
    expect(budget.message).toContain('budget.rules.nope');
  });
});

describe('loadConfig', () => {
  it('finds querygate.config.yaml by walking up from the working directory', () => {
    const project = join(dir, 'project');
    const nested = join(project, 'src', 'deep');
    mkdirSync(nested, { recursive: true });
    writeFileSync(
      join(project, 'querygate.config.yaml'),
      'failOn: warning\nrules:\n  slow-mean: { thresholdMs: 20 }\n',
    );
    expect(findConfigFile(nested)).toBe(join(project, 'querygate.config.yaml'));
    const loaded = loadConfig({ cwd: nested });
    expect(loaded.path).toBe(join(project, 'querygate.config.yaml'));
    expect(loaded.config.failOn).toBe('warning');
    expect(loaded.rules['slow-mean']!.options.thresholdMs).toBe(20);
  });

  it('uses the defaults without a config file, and --config names one explicitly', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    const explicit = join(dir, 'other.yaml');
    writeFileSync(explicit, 'rules:\n  deep-offset: off\n');
    expect(loadConfig({ cwd: empty, file: explicit }).rules['deep-offset']!.enabled).toBe(false);
    const missing = inputError(() => loadConfig({ cwd: empty, file: 'nowhere.yaml' }));
    expect(missing.code).toBe('FILE_NOT_FOUND');
  });

  it('names file:line:field for a bad value, an unknown rule and an unknown top-level key', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'rules:\n  deep-offset: warning\n  slow-mean:\n    thresholdMs: fast\n');
    const typeError = inputError(() => loadConfig({ cwd: dir, file: bad }));
    expect(typeError.code).toBe('CONFIG_INVALID');
    expect(typeError.message).toMatch(/bad\.yaml:4:\d+: rules\.slow-mean\.thresholdMs: must be number/);
    writeFileSync(bad, 'rules:\n  no-such-rule: off\n');
    expect(inputError(() => loadConfig({ cwd: dir, file: bad })).message).toMatch(
      /bad\.yaml:2:3: rules\.no-such-rule: unknown field/,
    );
    writeFileSync(bad, 'rules:\n  deep-ofset: off\n');
    expect(inputError(() => loadConfig({ cwd: dir, file: bad })).message).toBe(
      `${bad}:2:3: rules.deep-ofset: unknown field: did you mean deep-offset? (known: ${RULES.map((r) => r.id)
        .sort()
        .join(', ')})`,
    );
    writeFileSync(bad, 'failOn: sometimes\n');
    expect(inputError(() => loadConfig({ cwd: dir, file: bad })).message).toMatch(
      /bad\.yaml:1:\d+: failOn: must be one of "error", "warning"/,
    );
  });

  it('names an infinite threshold at its line, with the schema problems, all at once', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'rules:\n  slow-mean: { thresholdMs: .inf }\n  deep-offset: { severity: loud }\n');
    const error = inputError(() => loadConfig({ cwd: dir, file: bad }));
    expect([error.message, ...error.details]).toEqual([
      `${bad}:2:29: rules.slow-mean.thresholdMs: must be a finite number, got Infinity`,
      `${bad}:3:28: rules.deep-offset.severity: must be one of "off", "error", "warning", "info"`,
    ]);
  });
});
