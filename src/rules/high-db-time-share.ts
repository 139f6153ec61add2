/**
 * high-db-time-share: one statement takes a large share of all database time in the run, out of
 * proportion to its share of the calls (a statement that is simply called most often is not
 * reported: it is cheap per call). Top-level statements only: a statement run inside a function is
 * part of its caller's time and calls.
 */
import { round } from '../analyze/plan-facts.js';
import { topLevel } from '../model/report.js';
import { defineRule } from './define.js';

export default defineRule({
  id: 'high-db-time-share',
  severity: 'warning',
  category: 'time',
  description:
    'One statement takes more than 30% of all database time in the run, far more than its share of the calls.',
  messages: {
    share:
      'takes {sharePercent}% of all database time with {callPercent}% of the calls: one call costs {costRatio}x an average call',
  },
  defaultOptions: {
    /** Share of the run's database time from which a statement is reported (0..1). */
    share: 0.3,
    /** Its time share must be at least this many times its share of the calls. */
    minCostRatio: 2,
    /** Statements with a mean below this (ms) are cheap per call and never reported. */
    minMeanMs: 1,
  },
  check({ query, report, options }) {
    // A statement run inside a function is part of its caller's share and calls: the caller is judged.
    if (query.nested) return [];
    if (topLevel(report.queries).length < 2 || report.totals.calls <= 0 || query.calls <= 0) return [];
    if (query.dbTimeShare <= options.share || query.meanMs < options.minMeanMs) return [];
    const callShare = query.calls / report.totals.calls;
    const costRatio = query.dbTimeShare / callShare;
    if (costRatio < options.minCostRatio) return [];
    return [
      {
        messageId: 'share',
        evidence: {
          dbTimeShare: query.dbTimeShare,
          callShare: round(callShare, 4),
          costRatio: Math.round(costRatio),
          totalMs: query.totalMs,
          runTotalMs: report.totals.totalMs,
        },
        data: {
          sharePercent: Math.round(query.dbTimeShare * 1000) / 10,
          callPercent: Math.round(callShare * 1000) / 10,
        },
        suggestion: "this statement is where the database's time goes: fix its plan findings first",
      },
    ];
  },
});
