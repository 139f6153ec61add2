import type { HttpProgress } from '../workload/http/phases.js';
import type { ReplayProgress } from '../workload/replay.js';

/** One live status line for a TTY (rewritten in place with \r). */
export function formatProgress(p: ReplayProgress | HttpProgress): string {
  if ('kind' in p) return formatHttpProgress(p);
  const seconds = p.elapsedMs / 1000;
  // The warm-up's calls are not counted (they are not measured): show its time only.
  if (p.phase === 'warmup') {
    const planned = p.plannedMs ? ` of ${(p.plannedMs / 1000).toFixed(0)}s` : '';
    return `  warm-up (not measured)  ${seconds.toFixed(1)}s${planned}`;
  }
  const rate = seconds > 0 ? Math.round(p.done / seconds) : 0;
  const phase = `round ${p.round}/${p.rounds}`;
  const done = p.total ? `${p.done}/${p.total} calls` : `${p.done} call${p.done === 1 ? '' : 's'}`;
  const planned = p.plannedMs ? ` of ${(p.plannedMs / 1000).toFixed(0)}s` : '';
  return `  ${phase}  ${done}  ${rate}/s  ${p.errors} error${p.errors === 1 ? '' : 's'}  ${seconds.toFixed(1)}s${planned}`;
}

/**
 * HTTP replay: one line per phase (warm-up, each route, mixed) with requests, rate and errors; fits 70
 * columns. `err` counts the failed requests: without a response, or answered with a status other
 * than 2xx and 3xx (a route answering 500 to everything is failing, though every request got an answer).
 */
export function formatHttpProgress(p: HttpProgress): string {
  const seconds = p.elapsedMs / 1000;
  // The warm-up's calls are not counted (they are not measured): show its time only.
  if (p.phase === 'warmup') {
    const planned = p.plannedMs ? ` of ${(p.plannedMs / 1000).toFixed(0)}s` : '';
    return `  warm-up (not measured)  ${seconds.toFixed(1)}s${planned}`;
  }
  const rate = seconds > 0 ? Math.round(p.responses / seconds) : 0;
  const name = p.phase.length > 24 ? `${p.phase.slice(0, 23)}…` : p.phase;
  const phase = p.index === 0 ? 'warm-up' : `${p.index}/${p.phases} ${name}`;
  const done = p.plannedRequests ? `${p.responses}/${p.plannedRequests} req` : `${p.responses} req`;
  const planned = p.plannedMs ? `/${(p.plannedMs / 1000).toFixed(0)}s` : 's';
  return `  ${phase}  ${done}  ${rate}/s  ${p.errors + p.failedResponses} err  ${seconds.toFixed(1)}${planned}`;
}
