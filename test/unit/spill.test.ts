import { describe, expect, it } from 'vitest';
import { hashWorkMemKb, sortMemoryKb, suggestedWorkMem } from '../../src/analyze/spill.js';

/** '8MB' -> 8192 (kB), as PostgreSQL reads a work_mem. */
const kb = (setting: string): number => {
  const [, n, unit] = /^(\d+)(kB|MB|GB)$/.exec(setting) ?? [];
  return Number(n) * (unit === 'GB' ? 1024 * 1024 : unit === 'MB' ? 1024 : 1);
};

describe('the work_mem a spill finding suggests', () => {
  it('is above the work_mem the sort spilled at, even when the disk used is small', () => {
    // A sort that spilled at 4MB with 1,216 kB on disk: three times the disk is still under 4MB.
    const at4MB = { workMemKb: 4096 };
    expect(kb(suggestedWorkMem(sortMemoryKb(1216), at4MB))).toBeGreaterThanOrEqual(2 * 4096);
    // 2,464 kB spilled at 4MB and sorted in memory with 5,443 kB at 8MB.
    expect(kb(suggestedWorkMem(sortMemoryKb(2464), at4MB))).toBeGreaterThan(5443);
  });

  it('is sized from the spill when that is more than twice the setting, rounded up to a readable value', () => {
    expect(suggestedWorkMem(sortMemoryKb(40_000), { workMemKb: 4096 })).toBe('128MB');
    expect(suggestedWorkMem(sortMemoryKb(100), { workMemKb: 64 })).toBe('512kB');
    expect(suggestedWorkMem(sortMemoryKb(400_000), { workMemKb: 65536 })).toBe('2GB');
    // Without the setting (an older report) it still goes by the spill.
    expect(suggestedWorkMem(sortMemoryKb(2464))).toBe('8MB');
  });

  it('divides a hash by hash_mem_multiplier and never goes below twice the setting', () => {
    // A hash join in 8 batches of 2,048 kB, at work_mem 1MB x 2: the table is about 16MB.
    const hash = hashWorkMemKb({ batches: 8, originalBatches: 8, peakMemoryKb: 2048 }, 'hash', 2);
    expect(kb(suggestedWorkMem(hash, { workMemKb: 1024, hashMemMultiplier: 2 })) * 2).toBeGreaterThan(16384);
    // A hash aggregate that spilled little at 4MB still gets twice that.
    const agg = hashWorkMemKb({ batches: 5, diskKb: 1552, peakMemoryKb: 7473 }, 'hashagg', 2);
    expect(suggestedWorkMem(agg, { workMemKb: 4096, hashMemMultiplier: 2 })).toBe('8MB');
  });
});
