/**
 * n-plus-one: one request of an HTTP route runs the same statement many times, typically a lookup
 * per row of a list the route fetched first. Each call is cheap; the round trips, the per-call
 * overhead and the connection held across the loop are not, and they grow with the list. The calls
 * per request come from the route's own phase of an HTTP run (`query.routes`); SQL and external runs
 * have no routes and are never reported.
 */
import { defineRule, type RuleFinding } from './define.js';

/** `... WHERE id = $1` -> `... WHERE id = ANY($1)`, when the statement filters on a single parameter. */
export function batchedForm(sql: string): string | undefined {
  const flat = sql.replace(/\s+/g, ' ').trim();
  if ((flat.match(/\$\d+/g) ?? []).length !== 1) return undefined;
  const m = /^(.*\bWHERE\s+)([\w."]+)\s*=\s*(\$\d+)(.*)$/i.exec(flat);
  return m ? `${m[1]}${m[2]} = ANY(${m[3]})${m[4]}` : undefined;
}

export default defineRule({
  id: 'n-plus-one',
  severity: 'warning',
  category: 'pattern',
  description: 'A statement runs many times per request of one HTTP route: a query in a loop (N+1).',
  messages: {
    loop: 'runs {callsPerRequest} times per request of route "{route}" ({statementsPerRequest} statements per request in all): a query in a loop',
  },
  defaultOptions: {
    /** Calls of the statement per request of one route from which it is reported. */
    minCallsPerRequest: 10,
  },
  check({ query, report, options }) {
    const findings: RuleFinding[] = [];
    for (const { route, callsPerRequest } of query.routes ?? []) {
      if (callsPerRequest < options.minCallsPerRequest) continue;
      const info = report.routes?.find((r) => r.name === route);
      const batched = batchedForm(query.query);
      findings.push({
        messageId: 'loop',
        route,
        evidence: {
          callsPerRequest,
          statementsPerRequest: info?.statementsPerRequest ?? callsPerRequest,
          requests: info?.requests ?? 0,
          dbMsPerRequest: info?.statements.find((s) => s.fingerprint === query.fingerprint)?.dbMsPerRequest ?? 0,
        },
        data: { route },
        suggestion: batched
          ? `fetch the rows in one statement, with the list of values as an array: ${batched} (or join it into the query that produced the list)`
          : 'fetch the rows in one statement: pass the list of values as an array (= ANY($1)), or join it into the query that produced the list',
      });
    }
    return findings;
  },
});
