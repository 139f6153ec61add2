import { describe, expect, it } from 'vitest';
import { parseDurationFlag, resolveExplainAs } from '../../src/cli/options.js';

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
};

describe('duration flags', () => {
  it('read a bare number as seconds, and say so when a value is not a duration', () => {
    const duration = parseDurationFlag('--duration', { positive: true });
    expect(duration('5')).toBe(5000);
    expect(duration('250ms')).toBe(250);
    expect(duration('2m')).toBe(120_000);
    expect(messageOf(() => duration('5x'))).toBe(
      '--duration: invalid duration "5x" (a number of seconds, or a number with a unit: e.g. 500ms, 10s, 2m)',
    );
  });

  it('refuse zero where it would mean a run of no calls or no timeout, and allow it for a warm-up', () => {
    for (const value of ['0', '0s', '0ms']) {
      expect(messageOf(() => parseDurationFlag('--duration', { positive: true })(value))).toBe(
        `--duration must be more than 0, got "${value}"`,
      );
    }
    expect(messageOf(() => parseDurationFlag('--explain-timeout', { positive: true })('0s'))).toBe(
      '--explain-timeout must be more than 0, got "0s"',
    );
    expect(parseDurationFlag('--warmup')('0')).toBe(0);
  });
});

describe('the role and settings to plan as', () => {
  const scenario = { role: 'app', settings: { 'app.tenant': '1', work_mem: '64MB' } };

  it("take the scenario's explain section, which each flag replaces as a whole", () => {
    expect(resolveExplainAs({}, scenario)).toEqual(scenario);
    expect(resolveExplainAs({ explainRole: 'reporting' }, scenario)).toEqual({ ...scenario, role: 'reporting' });
    expect(resolveExplainAs({ explainSetting: ['app.tenant=2', 'app.note=a=b', 'app.empty='] }, scenario)).toEqual({
      role: 'app',
      settings: { 'app.tenant': '2', 'app.note': 'a=b', 'app.empty': '' },
    });
    expect(resolveExplainAs({}, undefined)).toBeUndefined();
  });

  it('refuse a setting without a name', () => {
    expect(messageOf(() => resolveExplainAs({ explainSetting: ['=2'] }, undefined))).toBe(
      '--explain-setting must be name=value (e.g. app.tenant=2), got "=2"',
    );
    expect(messageOf(() => resolveExplainAs({ explainSetting: ['app.tenant'] }, undefined))).toContain(
      'must be name=value',
    );
  });
});
