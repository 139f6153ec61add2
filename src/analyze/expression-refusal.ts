/**
 * Why PostgreSQL cannot index an expression, in words, from what the catalog said when the plans
 * were captured (`RelationInfo.expressionRefusals`). Shared by the rules whose fix would be an index,
 * or statistics, on an expression. Pure.
 */
import type { ExpressionRefusal, RefusingFunction, RelationInfo } from '../model/report.js';

/** The relation's verdict on an expression: indexable, refused (and why, where known), or unknown. */
export function expressionVerdict(
  relation: RelationInfo | undefined,
  sql: string,
): { readonly indexable?: boolean; readonly refusal?: ExpressionRefusal } {
  const indexable = relation?.indexableExpressions?.[sql];
  const refusal = relation?.expressionRefusals?.[sql];
  return { ...(indexable !== undefined ? { indexable } : {}), ...(refusal ? { refusal } : {}) };
}

const UPPER: Readonly<Record<NonNullable<RefusingFunction['volatility']>, string>> = {
  stable: 'STABLE',
  volatile: 'VOLATILE',
};

const named = (f: RefusingFunction) =>
  f.operator
    ? `the operator ${f.operator} (${f.function})`
    : f.conversion
      ? `the conversion ${f.conversion} (${f.function})`
      : f.function;

/**
 * `expression` followed by why no index can hold it: "sum(amount), an aggregate's result
 * (sum(numeric)): it is computed over many rows, and an index entry from one row", "date(created_at):
 * date(timestamp with time zone) is STABLE, not IMMUTABLE (its result may depend on settings such as
 * TimeZone)". Without the catalog's reason (an older report), only that the server refused it.
 */
export function unindexableExpression(expression: string, refusal: ExpressionRefusal | undefined): string {
  if (!refusal) return `${expression} (the server refused an index on it)`;
  if (refusal.reason === 'aggregate') {
    const window =
      refusal.functions.some((f) => f.kind === 'window') && !refusal.functions.some((f) => f.kind === 'aggregate');
    const which = refusal.functions.filter((f) => f.kind !== undefined).map(named);
    return (
      `${expression}, ${window ? "a window function's" : "an aggregate's"} result` +
      `${which.length > 0 ? ` (${which.join(', ')})` : ''}: it is computed over many rows, and an index entry from one row`
    );
  }
  const mutable = refusal.functions.filter((f) => f.volatility !== undefined);
  if (refusal.reason === 'mutable' && mutable.length > 0) {
    const parts = mutable.map((f) => `${named(f)} is ${UPPER[f.volatility!]}`);
    const volatile = mutable.some((f) => f.volatility === 'volatile');
    const why = volatile
      ? 'its result may change from one call to the next'
      : 'its result may depend on settings such as TimeZone';
    return `${expression}: ${parts.join(' and ')}, not IMMUTABLE (${why}), and an index needs IMMUTABLE functions`;
  }
  return `${expression}: ${refusal.message}`;
}
