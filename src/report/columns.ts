/** Terminal tables that fit the terminal: the least needed columns are left out first. */

/**
 * The narrowest output querygate lays out: a rank, a time and some statement text still fit. A
 * narrower terminal or `COLUMNS` gets this width (and the note under a table says so).
 */
export const MIN_WIDTH = 40;

/** The free-text column's width when even the columns that are never left out leave it less room. */
const LAST_FLOOR = 12;

/** The width to lay out for: `requested` (a terminal's, `COLUMNS`), else `fallback`, at least `MIN_WIDTH`. */
export function layoutWidth(requested: number | undefined, fallback = 120): number {
  return Math.max(MIN_WIDTH, requested ?? fallback);
}

export interface Column<Row> {
  readonly head: string;
  /** Width in characters, padding included. */
  readonly width: number;
  /** Order in which the column is left out when the table is too wide; 0: always shown. */
  readonly dropOrder: number;
  readonly cell: (row: Row, index: number) => string;
}

/**
 * The columns that fit `width` next to a last, free-text column of at least `lastMinWidth`, that
 * last column's width, and the heads of the columns left out. Each column takes its width plus one border; the table adds two more.
 */
export function fitColumns<Row>(
  columns: readonly Column<Row>[],
  width: number,
  lastMinWidth: number,
): { columns: Column<Row>[]; lastWidth: number; left: string[] } {
  const kept = [...columns];
  const fixed = () => kept.reduce((sum, c) => sum + c.width + 1, 0) + 2;
  const orders = [...new Set(kept.map((c) => c.dropOrder).filter((o) => o > 0))].sort((a, b) => a - b);
  for (const order of orders) {
    if (fixed() + lastMinWidth <= width) break;
    kept.splice(
      kept.findIndex((c) => c.dropOrder === order),
      1,
    );
  }
  const room = width - fixed();
  return {
    columns: kept,
    // Every column that may be left out is, and the last still lacks its minimum: it takes what is left.
    lastWidth: room >= lastMinWidth ? room : Math.max(LAST_FLOOR, room),
    left: columns.filter((c) => !kept.includes(c)).map((c) => c.head),
  };
}

/**
 * The line under a table that had to leave columns out, naming them; '' when none was. `requested`:
 * the width asked for, when narrower than the `width` laid out (`MIN_WIDTH`).
 */
export function leftOutNote(left: readonly string[], width: number, requested?: number): string {
  if (left.length === 0) return '';
  const fit =
    requested !== undefined && requested < width
      ? `${width} columns, the narrowest querygate lays out, not ${requested}`
      : `${width} columns`;
  return `(left out to fit ${fit}: ${left.join(', ')}; a wider COLUMNS shows them, and the JSON report has them all)`;
}
