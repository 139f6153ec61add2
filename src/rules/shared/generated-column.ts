/**
 * The fix for a condition that computes what a stored generated column holds: write it on the
 * column, whose index and statistics the expression written out cannot use. Shared by
 * seq-scan-large-table, which proposes it from the statement, and index advice, which validates it
 * on the planner. Pure.
 */
import type { GeneratedColumnRewrite } from '../../analyze/generated-columns.js';
import type { RelationInfo } from '../../model/report.js';

/** How the fix starts, to tell it among a suggestion's fixes. */
export const GENERATED_COLUMN_FIX = 'write the condition on the generated column';

/**
 * @example
 * generatedColumnFix(rewrite, products)
 * // "write the condition on the generated column search, which holds its expression: search @@
 * //  plainto_tsquery('english', $1) (the index products_search_gin serves the column)"
 */
export function generatedColumnFix(
  rewrite: GeneratedColumnRewrite,
  relation: RelationInfo,
  /** The statement's plan cost as written and rewritten, when the planner validated it. */
  validated?: { readonly costBefore: number; readonly costAfter: number },
): string {
  const indexes = rewrite.columns.flatMap((column) =>
    relation.indexes.filter((i) => i.valid && !i.partial && i.columns[0] === column).map((i) => i.name),
  );
  const serves =
    indexes.length > 0
      ? `the index ${indexes.join(', ')} serves the column`
      : 'the column has statistics of its own, which the expression has not';
  const planned = validated
    ? `; plan cost ${validated.costBefore.toFixed(0)} -> ${validated.costAfter.toFixed(0)} with the condition rewritten, validated on the planner`
    : '';
  const columns = rewrite.columns.length === 1 ? rewrite.columns[0]! : rewrite.columns.join(', ');
  return `${GENERATED_COLUMN_FIX}${rewrite.columns.length > 1 ? 's' : ''} ${columns}, which ${rewrite.columns.length > 1 ? 'hold' : 'holds'} its expression: ${rewrite.conditions.join(' AND ')} (${serves}${planned})`;
}
