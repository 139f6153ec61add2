/**
 * Column predicates of a statement, from its parse tree: which column of which table each
 * comparison constrains, how the column is wrapped (bare, in a function, a cast, an expression),
 * and whether an index of the table can serve it. Shared by the scan, predicate and join rules. Pure.
 */
import type { PlanNode } from '../model/plan.js';
import type { IndexInfo, RelationInfo } from '../model/report.js';
import { quoteIdentifier, scanTokens } from './parser.js';
import {
  columnsIn,
  comparisons,
  constantValue,
  expressionText,
  parseTree,
  patternLeadsWithWildcard,
  resolveColumn,
  wrapperOf,
  type Comparison,
  type TableRef,
  type TreeNode,
} from './sql-tree.js';

/** `containment`: a jsonb or array operator (`@>`, `<@`, `&&`, `?`, `?|`, `?&`) only a GIN index serves. */
export type PredicateUse = 'equality' | 'range' | 'in' | 'like' | 'ilike' | 'containment' | 'other';

/** One comparison seen from the column it constrains. */
export interface ColumnPredicate {
  readonly table: TableRef;
  readonly column: string;
  readonly use: PredicateUse;
  /** What wraps the column: `column` (bare: an index on it can serve the predicate), or not. */
  readonly wrapper: ReturnType<typeof wrapperOf>['kind'];
  /** Function or type name of the wrapper (`lower`, `date`). */
  readonly wrapperName?: string;
  /** The column side as written (`lower(c.email)`). */
  readonly text: string;
  /** The column side without table qualifiers, for CREATE INDEX (`lower(email)`). */
  readonly indexText: string;
  /** The other side as written (`$1`, `'%x'`, `o.customer_id`). */
  readonly otherText: string;
  /** The other side's value when it is a literal or a parameter with a known value. */
  readonly otherValue?: string;
  /** True when the other side reads another table's column (a join condition). */
  readonly join: boolean;
  /** Parse-tree nodes of the column side and the other side. */
  readonly sideNode: unknown;
  readonly otherNode: unknown;
  /** `alias.column` (or `column`) as written. */
  readonly columnText: string;
  /**
   * LIKE/ILIKE with a pattern that starts with `%` or `_`, or one computed from parts whose leading
   * part may be a wildcard (`'%' || $1 || '%'`): see patternLeadsWithWildcard.
   */
  readonly leadingWildcard: boolean;
  /**
   * LIKE/ILIKE with a pattern known to start with a literal character (a constant, or a parameter
   * whose value the replay knows): the only pattern a B-tree can serve. False for a pattern that
   * starts with a wildcard and for one not known when planning (a bare parameter of unknown value).
   */
  readonly patternAnchored: boolean;
  /** Under an OR: one alternative of the condition (an index serves it only next to the others'). */
  readonly alternative: boolean;
  /** The operator of a `containment` predicate (`@>`, `&&`, `?`, ...). */
  readonly operator?: string;
  /** The operator of a `range` comparison written with one (`<`, `<=`, `>`, `>=`), column side first. */
  readonly rangeOperator?: string;
  /** `column BETWEEN low AND high`: its bounds as written, with their parse-tree nodes. */
  readonly bounds?: readonly [PredicateBound, PredicateBound];
}

/** One bound of a BETWEEN. */
export interface PredicateBound {
  readonly text: string;
  readonly node: unknown;
}

/** `a < b` seen from b: `b > a`. */
const MIRROR: Readonly<Record<string, string>> = { '<': '>', '>': '<', '<=': '>=', '>=': '<=' };

const EQUALITY = new Set(['=']);
const RANGE = new Set(['<', '>', '<=', '>=']);

function useOf(c: Comparison): PredicateUse | undefined {
  switch (c.kind) {
    case 'in':
      return 'in';
    case 'between':
      return 'range';
    case 'like':
      return 'like';
    case 'ilike':
      return 'ilike';
    default:
      if (EQUALITY.has(c.operator)) return 'equality';
      if (RANGE.has(c.operator)) return 'range';
      // `~~` and `~~*` are LIKE and ILIKE spelled as operators.
      if (c.operator === '~~') return 'like';
      if (c.operator === '~~*') return 'ilike';
      if (CONTAINMENT.has(c.operator)) return 'containment';
      return undefined; // <>, ... : nothing an index serves
  }
}

const FLIP = new Set(['equality', 'range']);

/** Operators a GIN index serves, on jsonb (`@>`, `?`, `?|`, `?&`) or on arrays (`@>`, `<@`, `&&`). */
export const CONTAINMENT: ReadonlySet<string> = new Set(['@>', '<@', '&&', '?', '?|', '?&']);

/** The GIN operator class that serves an operator on a column of a type (`format_type` spelling). */
export type GinOperatorClass = 'jsonb_path_ops' | 'jsonb_ops' | 'array_ops';

/**
 * Which GIN operator class serves `column <operator> value`, from the column's type; undefined when
 * none does. `jsonb_path_ops` is smaller and faster for `@>` but serves no key-exists operator (`?`,
 * `?|`, `?&`), which need the default `jsonb_ops`; `<@` on jsonb is served by neither. `&&` on a
 * range or geometric type is GiST's, not GIN's: only arrays are considered.
 */
export function ginOperatorClass(operator: string, columnType: string | undefined): GinOperatorClass | undefined {
  if (columnType === 'jsonb') {
    if (operator === '@>') return 'jsonb_path_ops';
    return operator === '?' || operator === '?|' || operator === '?&' ? 'jsonb_ops' : undefined;
  }
  if (columnType?.endsWith('[]'))
    return operator === '@>' || operator === '<@' || operator === '&&' ? 'array_ops' : undefined;
  return undefined;
}

/** One operator class for every operator a statement applies to a column: `jsonb_ops` serves `@>` too. */
export function combineGinClasses(classes: readonly GinOperatorClass[]): GinOperatorClass | undefined {
  if (classes.includes('jsonb_ops')) return 'jsonb_ops';
  return classes[0];
}

/** The key of a GIN index with that operator class (`attributes jsonb_path_ops`, `tags`). */
export function ginKey(column: string, opclass: GinOperatorClass): string {
  return opclass === 'jsonb_path_ops' ? `${quoteIdentifier(column)} jsonb_path_ops` : quoteIdentifier(column);
}

/** A valid GIN index of the relation on the column that serves what `opclass` would. */
export function ginIndexFor(relation: RelationInfo, column: string, opclass: GinOperatorClass): IndexInfo | undefined {
  return relation.indexes.find(
    (i) =>
      i.valid &&
      !i.partial &&
      i.method === 'gin' &&
      i.columns[0] === column &&
      !i.definition.includes('trgm_ops') &&
      (opclass !== 'jsonb_ops' || !i.definition.includes('jsonb_path_ops')),
  );
}

function listItems(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  const list = (value as { List?: { items?: unknown[] } } | undefined)?.List;
  return list?.items ?? [];
}

/**
 * The column predicates of a SQL text. `knows(table, column)` tells whether a table has a column,
 * to place unqualified columns when a level reads several tables.
 */
export function columnPredicates(
  sql: string,
  params: readonly (string | null)[] | undefined,
  knows: (table: TableRef, column: string) => boolean,
  tree: readonly TreeNode[] = parseTree(sql),
): ColumnPredicate[] {
  const out: ColumnPredicate[] = [];
  for (const statement of tree) {
    for (const c of comparisons(statement)) {
      const use = useOf(c);
      if (!use) continue;
      const sides: [unknown, unknown][] = [[c.left, c.right]];
      // `&&` is symmetric: `ARRAY['x'] && tags` constrains tags as `tags && ARRAY['x']` does.
      if (FLIP.has(use) || c.operator === '&&') sides.push([c.right, c.left]);
      // `x BETWEEN a AND b` also constrains a and b (x >= a, x <= b): a range join's bounds.
      if (c.kind === 'between') for (const bound of listItems(c.right)) sides.push([bound, c.left]);
      for (const [side, other] of sides) {
        const columns = columnsIn(side);
        if (columns.length === 0) continue;
        const tables = columns.map((u) => resolveColumn(u, c.tables, (t) => knows(t, u.column)));
        const table = tables[0];
        if (!table || tables.some((t) => t !== table)) continue;
        const otherTables = columnsIn(other).map((u) => resolveColumn(u, c.tables, (t) => knows(t, u.column)));
        if (otherTables.some((t) => t === table)) continue; // both sides read the same table
        const wrapper = wrapperOf(side);
        const qualifiers = [table.alias ?? table.table, table.table, ...(table.schema ? [table.schema] : [])];
        const otherValue = constantValue(other, params);
        const items = c.kind === 'between' && c.operator === 'BETWEEN' && side === c.left ? listItems(c.right) : [];
        const bounds =
          items.length === 2
            ? (items.map((node) => ({ text: expressionText(sql, node) ?? '?', node })) as [
                PredicateBound,
                PredicateBound,
              ])
            : undefined;
        const rangeOperator =
          c.kind === 'op' && RANGE.has(c.operator) ? (side === c.left ? c.operator : MIRROR[c.operator]) : undefined;
        out.push({
          table,
          column: columns[0]!.column,
          use,
          wrapper: wrapper.kind,
          ...(wrapper.name ? { wrapperName: wrapper.name } : {}),
          text: expressionText(sql, side) ?? columns[0]!.column,
          indexText: expressionText(sql, side, qualifiers) ?? columns[0]!.column,
          otherText: expressionText(sql, other) ?? '?',
          ...(otherValue !== undefined ? { otherValue } : {}),
          join: otherTables.length > 0,
          sideNode: side,
          otherNode: other,
          columnText: columns[0]!.qualifier
            ? `${quoteIdentifier(columns[0]!.qualifier)}.${quoteIdentifier(columns[0]!.column)}`
            : quoteIdentifier(columns[0]!.column),
          leadingWildcard: (use === 'like' || use === 'ilike') && patternLeadsWithWildcard(other, params) === true,
          patternAnchored: (use === 'like' || use === 'ilike') && patternLeadsWithWildcard(other, params) === false,
          alternative: c.alternative,
          ...(use === 'containment' ? { operator: c.operator } : {}),
          ...(rangeOperator ? { rangeOperator } : {}),
          ...(bounds ? { bounds } : {}),
        });
      }
    }
  }
  return out;
}

/**
 * True when `node` scans `table` (matching its alias as the plan spells it). A scan of a partition
 * (`partitionOf`: its partitioned table, `schema.table`) scans the partitioned table the statement
 * names; the plan gives each partition's scan the statement's alias with a suffix (`orders_1`).
 */
export function scansTable(node: PlanNode, table: TableRef, partitionOf?: string): boolean {
  const alias = table.alias ?? table.table;
  if (node['Relation Name'] === table.table) {
    if (table.schema && node.Schema && node.Schema !== table.schema) return false;
    return (node.Alias ?? node['Relation Name']) === alias;
  }
  if (!partitionOf || node['Relation Name'] === undefined) return false;
  const dot = partitionOf.indexOf('.');
  if (partitionOf.slice(dot + 1) !== table.table) return false;
  if (table.schema && dot > 0 && partitionOf.slice(0, dot) !== table.schema) return false;
  const nodeAlias = String(node.Alias ?? '');
  return nodeAlias === alias || (nodeAlias.startsWith(`${alias}_`) && /^\d+$/.test(nodeAlias.slice(alias.length + 1)));
}

/** The identifiers in a plan expression (`Filter`, `Index Cond`), by PostgreSQL's scanner. */
export function identifiersIn(expression: string | undefined): Set<string> {
  return new Set(expression ? scanTokens(expression).map((t) => t.text.replace(/^"|"$/g, '')) : []);
}

/** True when the relation's index definitions or the plan's conditions on the table name the column. */
export function tableHasColumn(
  relation: RelationInfo | undefined,
  planNodes: readonly PlanNode[],
  table: TableRef,
  column: string,
): boolean {
  if (relation?.indexes.some((i) => i.columns.includes(column))) return true;
  return planNodes.some(
    (n) =>
      scansTable(n, table, relation?.partitionOf) &&
      ['Filter', 'Index Cond', 'Recheck Cond'].some((k) => identifiersIn(n[k] as string | undefined).has(column)),
  );
}

/** Valid indexes whose first key column is `column` (the ones a predicate on it could use). */
export function indexesLeadingWith(relation: RelationInfo, column: string): IndexInfo[] {
  return relation.indexes.filter((i) => i.valid && i.columns[0] === column);
}

/** Valid indexes with a key expression of the same function (or cast) over the same columns. */
export function expressionIndexFor(relation: RelationInfo, predicate: ColumnPredicate): IndexInfo | undefined {
  return relation.indexes.find((index) => {
    if (!index.valid) return false;
    return index.expressions.some((expression) => {
      // pg_get_indexdef's expression text, parsed as a SELECT list item.
      const [tree] = parseTree(`SELECT ${expression}`);
      const item = ((tree?.SelectStmt as TreeNode | undefined)?.targetList as unknown[] | undefined)?.[0];
      const value = (item as { ResTarget?: { val?: unknown } } | undefined)?.ResTarget?.val;
      if (value === undefined) return false;
      const wrapper = wrapperOf(value);
      const columns = new Set(columnsIn(value).map((c) => c.column));
      return (
        wrapper.kind === predicate.wrapper &&
        wrapper.name === predicate.wrapperName &&
        columns.has(predicate.column) &&
        columns.size === 1
      );
    });
  });
}

/** A trigram (pg_trgm) GIN or GiST index on the column, which serves LIKE/ILIKE '%...%'. */
export function trigramIndexFor(relation: RelationInfo, column: string): IndexInfo | undefined {
  return relation.indexes.find(
    (i) =>
      i.valid &&
      (i.method === 'gin' || i.method === 'gist') &&
      i.columns.includes(column) &&
      i.definition.includes('trgm_ops'),
  );
}

/** A btree index on the column that serves LIKE 'prefix%' whatever the collation (pattern_ops or C). */
export function patternIndexFor(relation: RelationInfo, column: string): IndexInfo | undefined {
  return relation.indexes.find(
    (i) =>
      i.valid &&
      i.method === 'btree' &&
      i.columns[0] === column &&
      (i.definition.includes('_pattern_ops') || i.definition.includes('COLLATE "C"')),
  );
}

/**
 * Marks an index that no planner has judged: rules propose indexes from the statement alone, and
 * only index advice (src/advise/) validates one, replacing the proposal with the index the planner
 * confirmed, or with why none helps.
 */
export const NOT_VALIDATED = '-- not validated on the planner';

/**
 * `CREATE INDEX ON schema.table (keys); -- not validated on the planner[; note]`. `relation` is
 * `schema.table` as the report names it (quoted here); `keys` are SQL already (quote column names
 * with `quoteIdentifier`).
 */
export function proposeIndexSql(
  relation: string,
  keys: readonly string[],
  options: { readonly using?: string; readonly note?: string } = {},
): string {
  const using = options.using ? ` USING ${options.using}` : '';
  const dot = relation.indexOf('.');
  const target =
    dot > 0
      ? `${quoteIdentifier(relation.slice(0, dot))}.${quoteIdentifier(relation.slice(dot + 1))}`
      : quoteIdentifier(relation);
  return `CREATE INDEX ON ${target}${using} (${keys.join(', ')}); ${NOT_VALIDATED}${options.note ? `; ${options.note}` : ''}`;
}

/**
 * A valid, non-partial index of the relation led by `column` that serves a range on it (`>=`, `<`):
 * a B-tree, or a BRIN index, whose block ranges a range on a column in the table's order narrows.
 * A rewrite of a wrapped column into a range on the bare column (`ts::date = $1` -> `ts >= ... AND
 * ts < ...`) needs no new index when there is one.
 */
export function rangeIndexLeadingWith(relation: RelationInfo, column: string): IndexInfo | undefined {
  return relation.indexes.find(
    (i) => (i.method === 'btree' || i.method === 'brin') && i.valid && !i.partial && i.columns[0] === column,
  );
}

/** A valid, non-partial B-tree of the relation whose leading columns are `columns`, in that order. */
export function btreeLeadingWith(relation: RelationInfo, columns: readonly string[]): IndexInfo | undefined {
  return relation.indexes.find(
    (i) =>
      i.method === 'btree' &&
      i.valid &&
      !i.partial &&
      columns.length <= i.columns.length &&
      columns.every((c, n) => i.columns[n] === c),
  );
}
