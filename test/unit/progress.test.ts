import { describe, expect, it } from 'vitest';
import { formatProgress } from '../../src/cli/progress.js';

describe('the SQL replay progress line', () => {
  it('shows the warm-up by its time (its calls are not measured), then calls, rate and errors per round', () => {
    const base = { round: 0, rounds: 3, total: null, errors: 0 } as const;
    expect(formatProgress({ ...base, phase: 'warmup', done: 0, elapsedMs: 1200, plannedMs: 2000 })).toBe(
      '  warm-up (not measured)  1.2s of 2s',
    );
    expect(
      formatProgress({
        ...base,
        phase: 'measure',
        round: 2,
        total: 600,
        done: 300,
        elapsedMs: 2000,
        plannedMs: null,
        errors: 1,
      }),
    ).toBe('  round 2/3  300/600 calls  150/s  1 error  2.0s');
  });
});
