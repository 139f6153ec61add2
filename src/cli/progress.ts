import type { ReplayProgress } from '../workload/replay.js';

/** One live status line for a TTY (rewritten in place with \r). */
export function formatProgress(p: ReplayProgress): string {
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? Math.round(p.done / seconds) : 0;
  const phase = p.phase === 'warmup' ? 'warm-up' : `round ${p.round}/${p.rounds}`;
  const done = p.total ? `${p.done}/${p.total} calls` : `${p.done} calls`;
  const planned = p.plannedMs ? ` of ${(p.plannedMs / 1000).toFixed(0)}s` : '';
  return `  ${phase}  ${done}  ${rate}/s  ${p.errors} errors  ${seconds.toFixed(1)}s${planned}`;
}
