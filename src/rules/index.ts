/**
 * The rule registry: every rule querygate runs, in the order findings are computed. Explicit on
 * purpose (no directory scanning): `npm run new-rule -- <id>` adds a line at the marker below.
 */
import type { AnyRule } from './define.js';
import deepOffset from './deep-offset.js';
import hashSpill from './hash-spill.js';
import highDbTimeShare from './high-db-time-share.js';
import nestedLoopHeavy from './nested-loop-heavy.js';
import nonSargablePredicate from './non-sargable-predicate.js';
import rowEstimateMismatch from './row-estimate-mismatch.js';
import seqScanLargeTable from './seq-scan-large-table.js';
import slowMean from './slow-mean.js';
import sortSpill from './sort-spill.js';
import unboundedResult from './unbounded-result.js';
import nPlusOne from './n-plus-one.js';
import indexScanFilter from './index-scan-filter.js';
import statementErrors from './statement-errors.js';
import correlatedSubplan from './correlated-subplan.js';
import lossyBitmapScan from './lossy-bitmap-scan.js';
import notInSubquery from './not-in-subquery.js';
import topNOverJoin from './top-n-over-join.js';
// querygate:rules-imports

export const RULES: readonly AnyRule[] = [
  seqScanLargeTable,
  nonSargablePredicate,
  sortSpill,
  hashSpill,
  rowEstimateMismatch,
  nestedLoopHeavy,
  deepOffset,
  unboundedResult,
  highDbTimeShare,
  slowMean,
  nPlusOne,
  indexScanFilter,
  statementErrors,
  correlatedSubplan,
  lossyBitmapScan,
  notInSubquery,
  topNOverJoin,
  // querygate:rules-registry
];

/** The rule with this id, if registered. */
export function findRule(id: string): AnyRule | undefined {
  return RULES.find((r) => r.id === id);
}
