/**
 * How much a statement's per-call work (shared blocks or rows per call) can differ between two runs
 * that drew other parameters for it. Pure; used by `compare` and by the budget gate.
 */
import type { QueryReport, RouteReport } from '../model/report.js';

/**
 * How many independent parameter draws a statement's per-call figures average over: its calls, or
 * in an HTTP run the requests of the routes that ran it, when fewer (the 20 calls of a loop in one
 * request share that request's parameters).
 */
export function parameterDraws(q: QueryReport, routes: readonly RouteReport[] | undefined): number {
  const running = new Set((q.routes ?? []).filter((r) => r.callsPerRequest > 0).map((r) => r.route));
  if (running.size === 0 || !routes) return q.calls;
  const requests = routes.filter((r) => running.has(r.name)).reduce((s, r) => s + r.requests, 0);
  return requests > 0 ? Math.min(q.calls, requests) : q.calls;
}
