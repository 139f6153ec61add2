/**
 * Why PostgreSQL cannot index an expression, in words, from what the catalog said when the plans
 * were captured (`RelationInfo.expressionRefusals`). Shared by the rules whose fix would be an index,
 * or statistics, on an expression. Pure.
 */
import type { PlanNode } from '../model/plan.js';
import type { ExpressionRefusal, RefusingFunction, RelationInfo } from '../model/report.js';
import type { ColumnPredicate } from './column-predicates.js';
import { conditionExpressions, type IndexExpression } from './plan-conditions.js';
import { parseTree, sameExpression, type TreeNode } from './sql-tree.js';

/** Whether PostgreSQL can index an expression (undefined: not checked), and why not. */
export interface ExpressionVerdict {
  /** The expression as the server deparsed it, without qualifiers (`date(created_at)`). */
  readonly sql: string;
  readonly indexable?: boolean;
  readonly refusal?: ExpressionRefusal;
}

/** The relation's verdict on an expression: indexable, refused (and why, where known), or unknown. */
export function expressionVerdict(relation: RelationInfo | undefined, sql: string): ExpressionVerdict {
  const indexable = relation?.indexableExpressions?.[sql];
  const refusal = relation?.expressionRefusals?.[sql];
  return { sql, ...(indexable !== undefined ? { indexable } : {}), ...(refusal ? { refusal } : {}) };
}

/**
 * True when no index of any kind can hold the expression: PostgreSQL refused a B-tree on it for its
 * functions (not IMMUTABLE) or an aggregate, which no access method accepts either. A refusal for
 * another reason (a type without a B-tree operator class) leaves GIN or GiST possible.
 */
export function cannotIndex(verdict: Pick<ExpressionVerdict, 'indexable' | 'refusal'> | undefined): boolean {
  return verdict?.indexable === false && verdict.refusal?.reason !== 'other';
}

const CONDITION_KEYS = ['Filter', 'Index Cond', 'Recheck Cond'] as const;

/**
 * The expression of a statement's predicate as the plan's scan prints it (`date(created_at)` for
 * `date(c.created_at) = $1`), which is how the report keys its verdicts: the expressions over the
 * predicate's column in the scan's conditions, the one whose function or cast the predicate names
 * where there are several. Undefined when none, or several alike.
 */
export function scanExpressionOf(
  scan: PlanNode,
  predicate: ColumnPredicate,
  relation: RelationInfo | undefined,
): IndexExpression | undefined {
  const alias = String(scan.Alias ?? scan['Relation Name'] ?? '');
  const found: IndexExpression[] = [];
  for (const key of CONDITION_KEYS) {
    const text = scan[key];
    if (typeof text !== 'string') continue;
    for (const e of conditionExpressions(text, relation)) {
      if (found.some((f) => f.sql === e.sql)) continue;
      if (!e.columns.some((c) => c.column === predicate.column)) continue;
      if (e.columns.some((c) => c.qualifier !== undefined && c.qualifier !== alias)) continue;
      found.push(e);
    }
  }
  // The one the statement writes, by its tree (`extract(year FROM ...)`, not `extract(doy FROM ...)`).
  const same = found.filter((e) => sameExpression(predicate.sideNode, expressionTree(e.sql)));
  if (same.length === 1) return same[0];
  if (found.length <= 1) return found[0];
  const named = found.filter((e) => predicate.wrapperName !== undefined && e.nameParts.includes(predicate.wrapperName));
  return named.length === 1 ? named[0] : undefined;
}

/** The parse tree of an expression's SQL (a SELECT list item). */
function expressionTree(sql: string): unknown {
  const [statement] = parseTree(`SELECT ${sql}`);
  const item = ((statement?.SelectStmt as TreeNode | undefined)?.targetList as unknown[] | undefined)?.[0];
  return (item as { ResTarget?: { val?: unknown } } | undefined)?.ResTarget?.val;
}

/** The relation's verdict on the expression of a predicate, read through the scan that applies it. */
export function predicateVerdict(
  scan: PlanNode | undefined,
  predicate: ColumnPredicate,
  relation: RelationInfo | undefined,
): ExpressionVerdict | undefined {
  const expression = scan ? scanExpressionOf(scan, predicate, relation) : undefined;
  return expression ? expressionVerdict(relation, expression.sql) : undefined;
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
