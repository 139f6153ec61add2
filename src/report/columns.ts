/** Terminal tables that fit the terminal: the least needed columns are left out first. */

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
  return {
    columns: kept,
    lastWidth: Math.max(lastMinWidth, width - fixed()),
    left: columns.filter((c) => !kept.includes(c)).map((c) => c.head),
  };
}

/** The line under a table that had to leave columns out, naming them; '' when none was. */
export function leftOutNote(left: readonly string[], width: number): string {
  if (left.length === 0) return '';
  return `(left out to fit ${width} columns: ${left.join(', ')}; a wider COLUMNS shows them, and the JSON report has them all)`;
}
