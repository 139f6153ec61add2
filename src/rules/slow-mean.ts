/** slow-mean: the statement's mean execution time (pg_stat_statements, ms) is above a threshold. */
import { measureWith } from '../analyze/measure.js';
import { defineRule } from './define.js';

export default defineRule({
  id: 'slow-mean',
  severity: 'warning',
  category: 'time',
  description: 'A statement whose mean execution time is above a threshold (100 ms by default).',
  messages: {
    slow: 'mean execution time {meanMs} ms over {calls} calls is above {thresholdMs} ms',
  },
  defaultOptions: {
    /** Mean execution time (ms) above which a statement is reported. */
    thresholdMs: 100,
  },
  check({ query, report, options }) {
    if (query.calls <= 0 || query.meanMs <= options.thresholdMs) return [];
    return [
      {
        messageId: 'slow',
        evidence: {
          meanMs: query.meanMs,
          calls: query.calls,
          thresholdMs: options.thresholdMs,
          ...(query.maxMs !== null ? { maxMs: query.maxMs } : {}),
          ...(query.latency ? { p95Ms: query.latency.p95 } : {}),
        },
        // --analyze cannot say more of a statement run inside a function: it is planned without its values.
        suggestion:
          query.plan?.mode === 'analyze' || query.nested
            ? 'see the plan findings of this statement'
            : report.workload.analyze
              ? // The run used --analyze: this statement's EXPLAIN ANALYZE did not finish (its note says why).
                `see the plan findings of this statement${query.planNote ? ` (${query.planNote})` : ''}`
              : `see the plan findings of this statement; run ${measureWith(query)} for actual row counts and timings per plan node`,
      },
    ];
  },
});
