import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { InputError } from '../../src/errors.js';
import { createRandom, createValueSources, createWeightedPicker } from '../../src/workload/generators.js';
import { loadScenario } from '../../src/workload/load.js';
import { split } from '../../src/workload/replay.js';

beforeAll(loadParser);
const dir = mkdtempSync(join(tmpdir(), 'querygate-scenario-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const errorOf = (fn: () => unknown): InputError => {
  try {
    fn();
  } catch (error) {
    return error as InputError;
  }
  throw new Error('expected an error');
};

describe('scenario files', () => {
  it('loads statements, generators and load settings; flags replace file values', () => {
    const path = write(
      'ok.yaml',
      'load:\n  connections: 3\n  duration: 2s\n  warmup: 500ms\nstatements:\n  - sql: SELECT $1::int\n    params:\n      - int: { min: 1, max: 5 }\n',
    );
    const w = loadScenario(path, {});
    expect(w.load).toEqual({ connections: 3, shape: { kind: 'duration', durationMs: 2000 }, warmupMs: 500, rounds: 3 });
    expect(w.statements[0]!.paramCount).toBe(1);
    expect(loadScenario(path, { connections: 8, repeat: 2 }).load.shape).toEqual({ kind: 'repeat', repeat: 2 });
  });

  it('names the field and line of each problem', () => {
    const path = write('bad.yaml', 'statements:\n  - sql: SELECT 1\n    weight: -1\n  - name: x\n');
    const error = errorOf(() => loadScenario(path, {}));
    expect(error.code).toBe('SCENARIO_INVALID');
    expect([error.message, ...error.details]).toEqual([
      'bad.yaml:3:13: statements[0].weight: must be > 0',
      'bad.yaml:4:5: statements[1].sql: is required',
    ]);
  });

  it('rejects YAML syntax errors with a position', () => {
    const error = errorOf(() => loadScenario(write('syntax.yaml', 'statements: [\n  - sql: x\n'), {}));
    expect(error.message).toMatch(/^syntax\.yaml:\d+:\d+: invalid YAML/);
  });

  it('requires a generator for every $n', () => {
    const error = errorOf(() =>
      loadScenario(
        write('params.yaml', 'statements:\n  - sql: SELECT $1::int + $2::int\n    params:\n      - value: 1\n'),
        {},
      ),
    );
    expect(error.message).toContain('uses $2 but only 1 parameter generator(s) are given');
  });
});

describe('parameter generators', () => {
  it('are deterministic for a seed and stay in range', () => {
    const gens = [
      { kind: 'int', min: 5, max: 7 } as const,
      { kind: 'seq', start: 10, step: 5 } as const,
      { kind: 'string', length: 4, alphabet: 'ab' } as const,
    ];
    const a = createValueSources(gens, createRandom(1));
    const b = createValueSources(gens, createRandom(1));
    const rowsA = Array.from({ length: 50 }, () => a.map((f) => f()));
    const rowsB = Array.from({ length: 50 }, () => b.map((f) => f()));
    expect(rowsA).toEqual(rowsB);
    expect(new Set(rowsA.map((r) => r[0]))).toEqual(new Set(['5', '6', '7']));
    expect(rowsA.slice(0, 3).map((r) => r[1])).toEqual(['10', '15', '20']);
    expect(rowsA.every((r) => /^[ab]{4}$/.test(r[2]!))).toBe(true);
  });

  it('picks by weight', () => {
    const pick = createWeightedPicker([1, 9], createRandom(7));
    const counts = [0, 0];
    for (let i = 0; i < 10_000; i++) counts[pick()]!++;
    expect(counts[1]! / 10_000).toBeGreaterThan(0.85);
    expect(counts[1]! / 10_000).toBeLessThan(0.95);
  });

  it('split distributes a total over rounds exactly', () => {
    expect(split(10, 3)).toEqual([3, 3, 4]);
    expect(split(2, 3).reduce((s, n) => s + n, 0)).toBe(2);
  });
});

describe('parameter maxima', () => {
  it('track the largest numeric value per position, null once a value is not a number', async () => {
    const { trackMax, mergeMax } = await import('../../src/workload/replay.js');
    let max = trackMax(undefined, ['5', 'a', null]);
    max = trackMax(max, ['50', '3', null]);
    max = trackMax(max, ['7', '4', null]);
    expect(max).toEqual([50, null, Number.NEGATIVE_INFINITY]);
    expect(mergeMax([1, null, 3], [2, 5, 1])).toEqual([2, null, 3]);
    expect(mergeMax(undefined, [2])).toEqual([2]);
  });
});
