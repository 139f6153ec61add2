/**
 * Why the planner scans a table although an index that serves the scan's condition exists: shared
 * by the scan rules (which know the index from the report's definitions) and index advice (whose
 * candidate turns out to be an index the table has). Another index like it is no fix. Pure.
 */
import type { IndexInfo } from '../../model/report.js';

/** What the plan and the statistics tell of the scan the planner chose. */
export interface ScanChoice {
  readonly tableRows: number;
  /** Rows the planner expects the scan to read before a LIMIT above stops it, when it expects that. */
  readonly plannedRows?: number;
  /** Rows the scan read per call, and how that is known. */
  readonly rowsRead?: number;
  readonly basis?: 'counted' | 'measured' | 'planned';
  /** Share of the rows read that the filter keeps. */
  readonly keptShare?: number;
  /** True when the rows were counted (EXPLAIN ANALYZE), not estimated. */
  readonly counted: boolean;
  /** How to measure the statement (`with --analyze`, see measureWith); that by default. */
  readonly measure?: string;
}

/** A kept share from which a B-tree rarely beats a sequential scan (random reads cost 4x sequential). */
const WIDE_FILTER = 0.05;

const count = (n: number) => Math.round(n).toLocaleString('en-US');

const percent = (share: number) =>
  share >= 0.01 ? `~${Math.round(share * 100)}%` : share >= 0.001 ? `~${Math.round(share * 1000) / 10}%` : 'under 0.1%';

/**
 * Why the planner keeps the scan, as far as the plan tells: a LIMIT it expects to stop the scan
 * early (cheaper than reading the index first), a filter that keeps too many rows for an index, or,
 * when neither, a misestimate or a condition the index cannot take as it is written.
 */
export function whyScanOverIndex(choice: ScanChoice): string {
  const { plannedRows, rowsRead, tableRows, keptShare, counted, measure = 'with --analyze' } = choice;
  const estimate = counted ? '' : "by the planner's estimate ";
  if (plannedRows !== undefined && plannedRows < tableRows * 0.9) {
    const read =
      rowsRead !== undefined && choice.basis !== 'planned' && rowsRead > plannedRows * 2
        ? `; it read ${choice.basis === 'measured' ? 'about ' : ''}${count(rowsRead)}, more than it expected`
        : '';
    return (
      `it expects the LIMIT to stop the scan after ~${count(plannedRows)} of the table's ${count(tableRows)} rows, ` +
      `which costs less than reading the index first${read}: a filter that keeps fewer rows than the planner estimates ` +
      `makes the scan read far more${counted ? '' : `, so measure the statement ${measure}`}`
    );
  }
  if (keptShare !== undefined && keptShare >= WIDE_FILTER)
    return `${estimate}the filter keeps ${percent(keptShare)} of the rows, too many for the index to pay off: reduce the rows read`;
  const few = keptShare !== undefined ? `, although ${estimate}the filter keeps ${percent(keptShare)} of the rows` : '';
  return `it judged the scan cheaper${few}: ${checkEstimates(counted, measure)}, and that the condition can use the index as written (the same expression, operator class and collation)`;
}

/**
 * What to do about the planner's row estimates: measure them (`check the row estimates with
 * --analyze`), or, in a plan whose rows were counted (the run had --analyze), compare them with the
 * counts, which asking for --analyze again would not add to.
 */
export function checkEstimates(counted: boolean, measure: string): string {
  return counted
    ? "compare the planner's row estimates with the rows counted in the plan (EXPLAIN ANALYZE)"
    : `check the row estimates ${measure}`;
}

/** `product_name_trgm_idx (USING gin (name gin_trgm_ops))`, from the index's definition. */
export function describeIndex(index: IndexInfo): string {
  const at = index.definition.indexOf(' USING ');
  return at >= 0 ? `${index.name} (${index.definition.slice(at + 1)})` : index.name;
}

/**
 * The fix when an index that serves the condition exists and the planner chose the scan over it:
 * name it, and why, instead of proposing it again.
 */
export function existingIndexFix(index: IndexInfo, serves: string, choice: ScanChoice): string {
  return `the index ${describeIndex(index)} exists and serves ${serves}, but the planner chose this scan over it: ${whyScanOverIndex(choice)}`;
}
