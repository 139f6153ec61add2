/** Default regression thresholds of `compare`, and merging overrides from the budget file. */
import type { CompareThresholdOverrides, CompareThresholds } from '../model/comparison.js';

export type { CompareThresholdOverrides };

/**
 * The defaults. Relative thresholds come with an absolute floor so that a primary-key lookup going
 * from 3 to 5 blocks (+67%) is not a regression while a scan going from 300 to 3,000 blocks is.
 */
export const DEFAULT_COMPARE_THRESHOLDS: CompareThresholds = {
  planCost: { relative: 0.5, absolute: 100 },
  blocksPerCall: { relative: 0.5, absolute: 20 },
  // A sort or hash spilling 160 kB more per call than before: what plan cost and shared blocks miss.
  tempBlocksPerCall: { relative: 0.5, absolute: 20 },
  callsPerRequest: 1,
  scanDowngradeMinRows: 10_000,
  newFindingSeverity: 'error',
  newStatement: { share: 0.2, minMeanMs: 1 },
  timing: {
    minRounds: 3,
    alpha: 0.01,
    minRelativeChange: 0.5,
    minAbsoluteMs: 0.5,
    normalize: true,
    // Two runs of identical code on a shared 2-core machine: the statements that run for tens of ms
    // were x1.5-2 slower in one (significant over 5 rounds), sub-ms lookups unchanged. Without a
    // change in the work a statement did, one run per side cannot tell that from the statement.
    sameWorkRegressions: false,
  },
  routes: {
    statementsPerRequest: { relative: 0.5, absolute: 1 },
    errorRate: 0.01,
    // One phase per report, no rounds: nothing to test a timing change for significance with, and a
    // busy neighbour during one route's phase moves its p99 by x3 between identical runs. Route
    // timings are shown, never counted, unless a budget opts in (a dedicated, quiet runner).
    dbMsPerRequest: { relative: 1, absolute: 1 },
    latencyP99Ms: { relative: 1, absolute: 50 },
    timingRegressions: false,
  },
};

/** The defaults with `overrides` applied field by field (an override replaces, never merges). */
export function resolveCompareThresholds(
  overrides: CompareThresholdOverrides = {},
  defaults: CompareThresholds = DEFAULT_COMPARE_THRESHOLDS,
): CompareThresholds {
  return {
    planCost: { ...defaults.planCost, ...overrides.planCost },
    blocksPerCall: { ...defaults.blocksPerCall, ...overrides.blocksPerCall },
    tempBlocksPerCall: { ...defaults.tempBlocksPerCall, ...overrides.tempBlocksPerCall },
    callsPerRequest: overrides.callsPerRequest ?? defaults.callsPerRequest,
    scanDowngradeMinRows: overrides.scanDowngradeMinRows ?? defaults.scanDowngradeMinRows,
    newFindingSeverity: overrides.newFindingSeverity ?? defaults.newFindingSeverity,
    newStatement: { ...defaults.newStatement, ...overrides.newStatement },
    timing: { ...defaults.timing, ...overrides.timing },
    routes: {
      statementsPerRequest: { ...defaults.routes.statementsPerRequest, ...overrides.routes?.statementsPerRequest },
      errorRate: overrides.routes?.errorRate ?? defaults.routes.errorRate,
      dbMsPerRequest: { ...defaults.routes.dbMsPerRequest, ...overrides.routes?.dbMsPerRequest },
      latencyP99Ms: { ...defaults.routes.latencyP99Ms, ...overrides.routes?.latencyP99Ms },
      timingRegressions: overrides.routes?.timingRegressions ?? defaults.routes.timingRegressions,
    },
  };
}
