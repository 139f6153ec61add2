/**
 * The fix for a predicate no plain B-tree on its column can serve (a function, cast or computation
 * around the column, a leading wildcard, ILIKE): shared by non-sargable-predicate, where the column
 * has an index the predicate defeats, and seq-scan-large-table, where it has none. Pure.
 */
import { proposeIndexSql, type ColumnPredicate } from '../../analyze/column-predicates.js';
import { quoteIdentifier } from '../../analyze/parser.js';
import { cannotIndex, unindexableExpression, type ExpressionVerdict } from '../../analyze/expression-refusal.js';
import { constantValue, nodeType, wrapperOf } from '../../analyze/sql-tree.js';

export type Problem = 'function' | 'cast' | 'expression' | 'leadingWildcard' | 'ilike' | 'likeCollation';

/** What keeps a B-tree on the column from serving the predicate, from the predicate alone. */
export function problemOf(p: ColumnPredicate): Problem | undefined {
  if (p.use === 'containment') return undefined; // a GIN index's, not a B-tree's (see containmentIndex)
  if ((p.use === 'like' || p.use === 'ilike') && p.leadingWildcard) return 'leadingWildcard';
  if (p.wrapper === 'column') {
    if (p.use === 'ilike') return 'ilike';
    // A pattern not known when planning (a bare parameter) may start with a wildcard as well: a
    // B-tree serves only a pattern the planner knows to start with a literal prefix.
    return p.use === 'like' && !p.patternAnchored ? 'leadingWildcard' : undefined;
  }
  if (p.wrapper === 'function' || p.wrapper === 'cast' || p.wrapper === 'expression') return p.wrapper;
  return undefined;
}

/** The first argument of a function call, as a constant (`date_trunc('day', ...)` -> `day`). */
function firstArgument(node: unknown): string | undefined {
  const typed = nodeType(node);
  if (!typed || typed[0] !== 'FuncCall') return undefined;
  return constantValue((typed[1].args as unknown[] | undefined)?.[0]);
}

/** The text of the first argument of the wrapping function call, when it is a parameter (`$3`). */
function firstArgumentText(p: ColumnPredicate): string | undefined {
  const typed = nodeType(p.sideNode);
  if (!typed || typed[0] !== 'FuncCall') return undefined;
  const first = nodeType((typed[1].args as unknown[] | undefined)?.[0]);
  if (!first || first[0] !== 'ParamRef') return undefined;
  return `$${Number(first[1].number)}`;
}

/**
 * The other side as a value of `type`: `'2024-05-05'::date`, `$1::date`, `(now() - interval '1 day')::date`;
 * as written when it is a cast to that type already (`$1::date`, not `($1::date)::date`).
 */
function castText(text: string, node: unknown, type: string): string {
  const wrapper = wrapperOf(node);
  if (wrapper.kind === 'cast' && wrapper.name === type) return text;
  return /^(\$\d+|'(?:[^']|'')*')$/.test(text) ? `${text}::${type}` : `(${text})::${type}`;
}

/** True when the wrapping function call has exactly one argument (`date(created_at)`). */
function oneArgument(p: ColumnPredicate): boolean {
  const typed = nodeType(p.sideNode);
  return typed?.[0] === 'FuncCall' && ((typed[1].args as unknown[] | undefined) ?? []).length === 1;
}

/** What a rule knows beside the predicate, to word its fix. */
export interface PredicateFixContext {
  /**
   * An index that serves a range on the bare column exists (a B-tree or a BRIN index): a rewrite
   * then needs no new index (default true).
   */
  readonly indexed?: boolean;
  /** The column's type as `format_type` spells it, where the report has it. */
  readonly columnType?: string;
  /**
   * Whether PostgreSQL can index the predicate's expression, as the report says (checked on the
   * server when the plans were captured, see predicateVerdict); undefined when unknown.
   */
  readonly expression?: ExpressionVerdict;
}

/**
 * The fix, as SQL where there is one. `relation` is `schema.table` as the report names it. An index
 * on the expression is proposed only where PostgreSQL can build one, as far as the report knows:
 * refused (a function that is not IMMUTABLE, such as `date()` on a timestamptz), the fix says why.
 */
export function predicateFix(
  p: ColumnPredicate,
  relation: string,
  problem: Problem,
  context: PredicateFixContext = {},
): string {
  const col = p.columnText;
  const { indexed = true, columnType, expression } = context;
  const bareIndex = indexed ? '' : `, and index ${col}`;
  const refused = cannotIndex(expression) ? expression : undefined;
  // Why no index on the expression is the alternative, in the statement's words (`date(created_at)`).
  const noIndex = refused ? `; no index can hold ${unindexableExpression(p.indexText, refused.refusal)}` : '';
  // A pattern search on a computed value (`lower(description) LIKE '%discount%'`): comparing the bare
  // column instead would be a pattern search on it, which a B-tree on the column serves no better.
  if ((p.use === 'like' || p.use === 'ilike') && p.wrapper !== 'column' && !refused) return patternFix(p, relation);
  switch (problem) {
    case 'function': {
      const unit = p.wrapperName === 'date_trunc' ? firstArgument(p.sideNode) : undefined;
      if (unit && p.use === 'equality') {
        return `compare the bare column with a range instead: ${col} >= ${p.otherText} AND ${col} < ${p.otherText} + interval '1 ${unit}'${bareIndex}${noIndex}`;
      }
      // The unit is a parameter (`date_trunc($1, created_at)`): the interval is built from it.
      const unitText = p.wrapperName === 'date_trunc' ? firstArgumentText(p) : undefined;
      if (unitText && p.use === 'equality') {
        return `compare the bare column with a range instead: ${col} >= ${p.otherText} AND ${col} < ${p.otherText} + ('1 ' || ${unitText})::interval${bareIndex}${noIndex}`;
      }
      // `date(created_at)` is the cast to date written as a call: PostgreSQL runs the same function.
      if (p.wrapperName === 'date' && oneArgument(p) && p.use === 'equality')
        return dateRange(p, 'date()', columnType, bareIndex, noIndex);
      if (p.wrapperName === 'date' && oneArgument(p) && p.use === 'range') {
        const fix = dateBounds(p, 'date()', columnType, bareIndex, noIndex);
        if (fix) return fix;
      }
      if (refused)
        return `compare ${col} itself, moving the computation to the other side of the comparison${bareIndex}${noIndex}`;
      return proposeIndexSql(relation, [p.indexText], {
        note: `an expression index${expression?.indexable ? '' : ' (the function must be IMMUTABLE)'}, or rewrite the predicate to compare ${col} itself`,
      });
    }
    case 'cast':
      if (p.wrapperName === 'date' && p.use === 'equality')
        return dateRange(p, 'the cast', columnType, bareIndex, noIndex);
      if (p.wrapperName === 'date' && p.use === 'range') {
        const fix = dateBounds(p, 'the cast', columnType, bareIndex, noIndex);
        if (fix) return fix;
      }
      if (refused)
        return `compare ${col} itself with a value of its own type (cast the other side, not the column)${bareIndex}${noIndex}`;
      // Without the report's verdict: a cast of a timestamptz to a date or time type depends on the
      // time zone, which PostgreSQL refuses to index.
      return expression?.indexable === undefined &&
        (columnType === undefined || columnType === 'timestamp with time zone') &&
        /^(date|time|timestamp|timetz|timestamptz)$/.test(p.wrapperName ?? '')
        ? `compare ${col} itself with a value of its own type (cast the other side, not the column)${bareIndex}; an index on the expression ((${p.indexText})) needs an IMMUTABLE cast, which timestamptz to ${p.wrapperName} is not`
        : `compare ${col} itself with a value of its own type (cast the other side, not the column)${bareIndex}, or index the expression ((${p.indexText}))`;
    case 'expression':
      // A JSON field (`payload->>'city'`) has no other side to move to: index what the filter reads.
      if (/->|#>/.test(p.indexText) && !refused)
        return proposeIndexSql(relation, [`(${p.indexText})`], { note: 'an index on the JSON field the filter reads' });
      return refused
        ? `move the computation to the other side so that ${col} itself is compared${bareIndex}${noIndex}`
        : `move the computation to the other side so that ${col} itself is compared${bareIndex}, or index the expression ((${p.indexText}))`;
    case 'leadingWildcard':
    case 'ilike':
      return patternFix(p, relation);
    case 'likeCollation':
      return proposeIndexSql(relation, [`${quoteIdentifier(p.column)} text_pattern_ops`]);
  }
}

/**
 * The index for a LIKE or ILIKE on the column or on an expression of it: a B-tree (`text_pattern_ops`,
 * which serves a prefix whatever the collation) only for a case-sensitive LIKE whose pattern is known
 * to start with a literal prefix; otherwise a trigram GIN index, which serves a wildcard anywhere in
 * the pattern, and ILIKE.
 */
function patternFix(p: ColumnPredicate, relation: string): string {
  const key = p.wrapper === 'column' ? quoteIdentifier(p.column) : `(${p.indexText})`;
  if (p.use === 'like' && p.patternAnchored)
    return proposeIndexSql(relation, [`${key} text_pattern_ops`], {
      note: `a B-tree serves the pattern's literal prefix (text_pattern_ops, whatever the collation)`,
    });
  return `CREATE EXTENSION IF NOT EXISTS pg_trgm; ${proposeIndexSql(relation, [`${key} gin_trgm_ops`], { using: 'gin' })}`;
}

/**
 * `created_at::date = $1` and `date(created_at) = $1` as a range on the bare column: `date + 1` is
 * the next day. For a timestamptz column the bounds become timestamptz in the session's TimeZone,
 * the zone the cast to date (or date()) takes the day in: the range keeps the same rows as long as
 * the statement runs with the same TimeZone setting, on which the original depends as well.
 */
function dateRange(
  p: ColumnPredicate,
  what: string,
  columnType: string | undefined,
  bareIndex: string,
  noIndex: string,
): string {
  const col = p.columnText;
  const day = castText(p.otherText, p.otherNode, 'date');
  const zone = columnType === 'timestamp with time zone' ? ` (both use the session TimeZone, as ${what} did)` : '';
  return `compare the bare column with a range instead: ${col} >= ${day} AND ${col} < ${day} + 1${zone}${bareIndex}${noIndex}`;
}

/** `'2025-11-30'`, `'2025-11-30'::date` or `date '2025-11-30'`: the day, else undefined. */
function literalDay(text: string): Date | undefined {
  const m = /^(?:date\s*)?'(\d{4})-(\d{2})-(\d{2})'(?:::date)?$/i.exec(text.trim());
  if (!m) return undefined;
  const day = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return Number.isNaN(day.getTime()) || day.getUTCDate() !== Number(m[3]) ? undefined : day;
}

const dayLiteral = (day: Date) => `'${day.toISOString().slice(0, 10)}'`;

/** A day bound on the bare column: the day itself (`'2025-11-01'`), or the day after it. */
function dayBound(text: string, node: unknown, after: boolean): string {
  const day = literalDay(text);
  if (day) return dayLiteral(after ? new Date(day.getTime() + 86_400_000) : day);
  const value = castText(text, node, 'date');
  return after ? `${value} + 1` : value;
}

/**
 * A range over the day of a date or timestamp column (`created_at::date BETWEEN a AND b`,
 * `date(created_at) <= b`) as a range on the bare column: a day's upper bound becomes the next
 * day's start, exclusive (`created_at < '2025-12-01'` for `<= '2025-11-30'`), so that the column's
 * index and partition pruning can use it. Undefined when the comparison is not one of those.
 */
function dateBounds(
  p: ColumnPredicate,
  what: string,
  columnType: string | undefined,
  bareIndex: string,
  noIndex: string,
): string | undefined {
  const col = p.columnText;
  const zone = columnType === 'timestamp with time zone' ? ` (both use the session TimeZone, as ${what} did)` : '';
  const fix = (range: string) => `compare the bare column with a range instead: ${range}${zone}${bareIndex}${noIndex}`;
  if (p.bounds) {
    const [low, high] = p.bounds;
    return fix(`${col} >= ${dayBound(low.text, low.node, false)} AND ${col} < ${dayBound(high.text, high.node, true)}`);
  }
  switch (p.rangeOperator) {
    case '>=':
      return fix(`${col} >= ${dayBound(p.otherText, p.otherNode, false)}`);
    case '>':
      return fix(`${col} >= ${dayBound(p.otherText, p.otherNode, true)}`);
    case '<':
      return fix(`${col} < ${dayBound(p.otherText, p.otherNode, false)}`);
    case '<=':
      return fix(`${col} < ${dayBound(p.otherText, p.otherNode, true)}`);
    default:
      return undefined;
  }
}
