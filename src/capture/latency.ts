import type { LatencySummary } from '../model/report.js';

/** Collects client-side latencies (ms) and summarizes them with exact percentiles. */
export class LatencyRecorder {
  private values: number[] = [];

  record(ms: number): void {
    this.values.push(ms);
  }

  /** Adds every latency another recorder holds. */
  absorb(other: LatencyRecorder): void {
    for (const ms of other.values) this.values.push(ms);
  }

  get count(): number {
    return this.values.length;
  }

  /** Null when nothing was recorded. */
  summary(): LatencySummary | null {
    return summarizeLatencies(this.values);
  }
}

/** Nearest-rank percentile of sorted values, p in 0..100. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? 0;
}

export function summarizeLatencies(values: readonly number[]): LatencySummary | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    count: sorted.length,
    meanMs: round(sorted.reduce((s, v) => s + v, 0) / sorted.length),
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
  };
}
