/**
 * Index candidates for a finding: pure. Reads the statement's captured plan (the conditions the
 * server printed for the scans of the relation the finding is about, the join conditions and sort
 * keys above them) and proposes single- and multi-column B-trees, expression indexes for function
 * predicates, trigram GIN indexes for leading-wildcard searches and GIN indexes for jsonb and array
 * operators (`@>`, `&&`, `?`). Which candidate is worth it is
 * decided by the planner (see validate.ts), not here.
 */
import {
  conversionOf,
  parseCondition,
  parseSortKey,
  type DomainBaseOf,
  type IndexExpression,
  type PlanColumn,
  type PlanPredicate,
} from '../analyze/plan-conditions.js';
import {
  btreeLeadingWith,
  trigramIndexFor,
  combineGinClasses,
  ginIndexFor,
  ginKey,
  ginOperatorClass,
  type GinOperatorClass,
} from '../analyze/column-predicates.js';
import { cannotIndex, expressionVerdict } from '../analyze/expression-refusal.js';
import { generatedColumnHolding } from '../analyze/generated-columns.js';
import { quoteIdentifier } from '../analyze/parser.js';
import { formatPath, walkPlan, type VisitedNode } from '../analyze/plan.js';
import { expressionText, nodeType, parseTree } from '../analyze/sql-tree.js';
import { relationRows } from '../analyze/plan-facts.js';
import type { Finding } from '../model/finding.js';
import type { PlanNode } from '../model/plan.js';
import type { IndexInfo, QueryReport, RelationInfo, Report } from '../model/report.js';

/** One index that might help a statement. */
export interface IndexCandidate {
  /** Schema-qualified table, as the report names it. */
  readonly relation: string;
  readonly schema?: string;
  readonly table: string;
  readonly method: 'btree' | 'gin';
  /** Key definitions as written between the parentheses: `status`, `(lower(email))`, `email gin_trgm_ops`. */
  readonly keys: readonly string[];
  /** A suggested name, unique among the indexes the report knows in that schema. */
  readonly name: string;
  /** Extension the operator class needs. */
  readonly extension?: 'pg_trgm';
  /** Why it was proposed, e.g. "equality on status, then the sort on total_cents". */
  readonly reason: string;
  /**
   * Its leading key columns that the filter compares with one value (`=`, `IN`): how narrow a
   * typical lookup is (see typicalRows). Absent for expression and GIN keys.
   */
  readonly equality?: readonly string[];
  /**
   * Indexes built and judged together with this one (same relation, B-trees): one per alternative of
   * an OR filter, which the planner combines (BitmapOr). Each alone leaves the other alternatives to
   * a sequential scan.
   */
  readonly also?: readonly IndexCandidate[];
  /**
   * The index serves only the ORDER BY, not the filter: a LIMIT stops its walk early only when the
   * filter keeps many rows, and a rare value walks it whole. Its validated cost rests on the
   * planner's guess of the filter's selectivity.
   */
  readonly sortOnly?: true;
  /**
   * It leads with a join column: a lookup per outer row, whose rows the scan's own filter does not
   * tell.
   */
  readonly joinKey?: true;
  /**
   * For an index that serves only the ORDER BY: the statement has no condition on the relation (no
   * filter, no join), so the walk in index order stops as soon as the LIMIT has its rows, whatever
   * the values.
   */
  readonly unfiltered?: true;
  /**
   * For an index that serves only the ORDER BY: the sort keys it leaves to a sort within each run of
   * equal values of its key (an incremental sort), as the plan prints them (`amount DESC`).
   */
  readonly sortedAfter?: readonly string[];
  /**
   * The name of an index the relation has that is this candidate already (see existingIndexLike;
   * returned only when CandidateOptions.existing asks): nothing to build or validate, since the
   * planner made the captured plan with it there. Index advice names it instead of proposing it.
   */
  readonly existing?: string;
  /**
   * The relation is a partitioned table: the index is proposed on it, where one CREATE INDEX builds
   * it on every partition (HypoPG cannot simulate it there, and CONCURRENTLY is not allowed).
   */
  readonly partitioned?: true;
}

export interface CandidateOptions {
  /** Propose pg_trgm GIN indexes (the extension is installed or can be). */
  readonly trigram: boolean;
  /** At most this many candidates per finding (most promising first). */
  readonly max?: number;
  /**
   * Also return the candidates an index of the table already is, marked `existing` (index advice
   * names such an index, with why the planner chose the scan over it, instead of proposing it).
   */
  readonly existing?: boolean;
}

export const DEFAULT_MAX_CANDIDATES = 10;

/**
 * Rules whose findings get index advice; `nested-loop-heavy` for joins on unindexed columns,
 * `correlated-subplan` for the correlation column of the table a subquery scans per outer row.
 */
export const ADVISED_RULES: readonly string[] = [
  'seq-scan-large-table',
  'non-sargable-predicate',
  'nested-loop-heavy',
  'correlated-subplan',
  'index-scan-filter',
];

const SEQ_SCANS = new Set(['Seq Scan', 'Parallel Seq Scan']);
const CONDITION_KEYS = ['Filter', 'Index Cond', 'Recheck Cond'] as const;
const JOIN_KEYS = ['Hash Cond', 'Merge Cond', 'Join Filter'] as const;

/** The CREATE INDEX statement of a candidate (`concurrently` for the suggestion shown to users). */
export function indexDefinition(
  candidate: IndexCandidate,
  options: { name?: string; concurrently?: boolean; mark?: string } = {},
): string {
  const target = quoteRelation(candidate);
  const name = quoteIdentifier(options.name ?? candidate.name);
  const using = candidate.method === 'btree' ? '' : ` USING ${candidate.method}`;
  const create = options.mark ? `CREATE ${options.mark} INDEX` : 'CREATE INDEX';
  return `${create}${options.concurrently ? ' CONCURRENTLY' : ''} ${name} ON ${target}${using} (${candidate.keys.join(', ')})`;
}

/** A stable key of what a candidate builds (its name aside), to validate each index once. */
export function candidateKey(candidate: IndexCandidate): string {
  const own = `${candidate.relation}|${candidate.method}|${candidate.keys.join(',')}`;
  return [own, ...(candidate.also ?? []).map(candidateKey)].join('+');
}

/** The candidate and the indexes judged with it (`also`), in order. */
export function candidateIndexes(candidate: IndexCandidate): IndexCandidate[] {
  return [candidate, ...(candidate.also ?? [])];
}

/** `schema.table`, each part quoted where needed. */
export function quoteRelation(relation: { readonly schema?: string; readonly table: string }): string {
  const table = quoteIdentifier(relation.table);
  return relation.schema ? `${quoteIdentifier(relation.schema)}.${table}` : table;
}

/**
 * The distinct values of a column by the table's statistics (`pg_stats.n_distinct`, a count or,
 * negative, minus a share of the rows); undefined when the column was never analyzed.
 */
export function distinctValues(relation: RelationInfo, column: string): number | undefined {
  const n = relation.nDistinct?.[column];
  if (n === undefined || n === 0) return undefined;
  return n > 0 ? n : -n * Math.max(1, relationRows(relation));
}

/**
 * The rows a typical equality lookup on these columns finds: the table's rows over each column's
 * distinct values (taken as independent). The plan's own parameters may be a common value (a tenant
 * with a third of the rows), for which a column looks as if it narrowed nothing; a typical value of
 * a column with many distinct values is rare. Undefined without statistics on every column.
 */
export function typicalRows(relation: RelationInfo, columns: readonly string[]): number | undefined {
  let rows = Math.max(1, relationRows(relation));
  for (const column of columns) {
    const distinct = distinctValues(relation, column);
    if (distinct === undefined) return undefined;
    rows /= Math.max(1, distinct);
  }
  return rows;
}

/** The relation a scan node reads, schema-qualified through the report's relation metadata. */
function scanRelation(node: PlanNode, query: QueryReport, report: Report): RelationInfo | undefined {
  const table = node['Relation Name'];
  if (!table) return undefined;
  if (node.Schema) return report.relations.find((r) => r.schema === node.Schema && r.table === table);
  const matches = report.relations.filter((r) => r.table === table);
  return matches.find((r) => query.relations.includes(r.name)) ?? matches[0];
}

/**
 * The relation an index for a scan goes on: a partition's partitioned table (at the root of its
 * tree), where one CREATE INDEX reaches every partition, else the scanned relation itself.
 */
function indexedRelation(scanned: RelationInfo, report: Report): RelationInfo {
  if (!scanned.partitionOf) return scanned;
  return report.relations.find((r) => r.name === scanned.partitionOf) ?? scanned;
}

/**
 * The scan nodes a finding is about: of its relation (of its partitions, for a partitioned table),
 * else the sequential scans under its plan node.
 */
function targetScans(
  visited: readonly VisitedNode[],
  finding: Pick<Finding, 'relation' | 'nodePath'>,
  query: QueryReport,
  report: Report,
): VisitedNode[] {
  const scans = visited.filter((v) => v.node['Relation Name'] !== undefined);
  if (finding.relation) {
    const wanted = finding.relation;
    return scans.filter((v) => {
      const rel = scanRelation(v.node, query, report);
      return rel
        ? rel.name === wanted || rel.table === wanted || rel.partitionOf === wanted
        : v.node['Relation Name'] === wanted;
    });
  }
  if (!finding.nodePath) return [];
  const at = visited.find((v) => formatPath(v.path) === finding.nodePath);
  if (!at) return [];
  if (at.node['Relation Name'] !== undefined) return [at];
  const below = scans.filter((v) => v.path.length > at.path.length && at.path.every((p, i) => v.path[i] === p));
  const seq = below.filter((v) => SEQ_SCANS.has(v.node['Node Type']));
  return seq.length > 0 ? seq : below;
}

interface Collected {
  eq: string[];
  range: string[];
  expressions: { expression: IndexExpression; operator: string }[];
  patterns: { key: string; nameParts: string[] }[];
  prefixes: { key: string; nameParts: string[] }[];
  joins: string[];
  sort: string[];
  /** OR filters whose every alternative an index can serve: per alternative, its key. */
  ors: OrAlternative[][];
  /** Columns under jsonb or array operators: the GIN operator class each operator needs, and the operators. */
  gins: Map<string, { classes: GinOperatorClass[]; operators: string[] }>;
  /** The keys after the first of the sort that `sort` comes from, as the plan prints them. */
  sortRest: string[];
  /**
   * The keys of the first sort above the scans, as long as they are this relation's columns or
   * expressions (the whole ORDER BY of a one-table statement): a B-tree on all of them returns the
   * rows in that order, where one on the first leaves the rest to an incremental sort.
   */
  order: OrderKey[];
  /** Full-text searches (`@@`): the document, a tsvector column or the expression that computes one. */
  textSearches: { key: string; nameParts: readonly string[]; column?: string }[];
  /** Whether the scans have a condition of their own (a filter, an index or join condition). */
  filtered: boolean;
}

/** One key of an ORDER BY, as an index key. */
interface OrderKey {
  /** The key without its direction: a quoted column, or `(expression)`. */
  readonly key: string;
  readonly nameParts: readonly string[];
  /** The bare column, when the key is one. */
  readonly column?: string;
  readonly expression?: IndexExpression;
  readonly descending: boolean;
  readonly nulls?: 'first' | 'last';
  /** As the plan prints it (`valid_from DESC`). */
  readonly printed: string;
}

/** One alternative of an OR filter, as an index key. */
interface OrAlternative {
  readonly key: string;
  readonly nameParts: readonly string[];
  /** The bare column, when the key is one. */
  readonly column?: string;
  /** A pattern search no B-tree serves: the key is a trigram GIN index's (`name gin_trgm_ops`). */
  readonly trigram?: true;
}

function addUnique<T extends string>(list: T[], value: T): void {
  if (!list.includes(value)) list.push(value);
}

/** The filter, join and sort columns of one relation, from every place the plan names them. */
function collect(
  visited: readonly VisitedNode[],
  scans: readonly VisitedNode[],
  relationCount: number,
  relation: RelationInfo,
  /** The relations the scans read (the partitions, for a partitioned table), for their indexes. */
  scanned: readonly RelationInfo[] = [relation],
  /** The relation a plan's alias names, for the types of other relations' columns in joins. */
  relationOfAlias: (alias: string) => RelationInfo | undefined = () => undefined,
): Collected {
  const aliases = new Set(scans.map((v) => String(v.node.Alias ?? v.node['Relation Name'])));
  // A plan casts a domain-typed column to its base type (`(country)::bpchar`): the column itself.
  const ownerOf = (c: PlanColumn, local: boolean): RelationInfo | undefined => {
    if (c.qualifier === undefined) return local ? relation : undefined;
    return aliases.has(c.qualifier) ? relation : relationOfAlias(c.qualifier);
  };
  const domainBaseOf =
    (local: boolean): DomainBaseOf =>
    (c) =>
      ownerOf(c, local)?.domainBaseTypes?.[c.column];
  const out: Collected = {
    eq: [],
    range: [],
    expressions: [],
    patterns: [],
    prefixes: [],
    joins: [],
    sort: [],
    ors: [],
    gins: new Map(),
    sortRest: [],
    order: [],
    textSearches: [],
    filtered: false,
  };
  const mine = (c: PlanColumn, local: boolean) => (c.qualifier !== undefined ? aliases.has(c.qualifier) : local);
  // An expression PostgreSQL refused to index when the plans were captured (a function that is not
  // IMMUTABLE, as the catalog says): no candidate may hold it.
  const refused = (e: IndexExpression) => [relation, ...scanned].some((r) => cannotIndex(expressionVerdict(r, e.sql)));

  /**
   * The key of an index on what a pattern or a text search compares: this table's column, or an
   * expression of its columns that PostgreSQL may index.
   */
  const searchedKey = (
    p: { readonly column?: PlanColumn; readonly expression?: IndexExpression },
    local: boolean,
  ): OrAlternative | undefined =>
    p.column
      ? mine(p.column, local)
        ? { key: quoteIdentifier(p.column.column), nameParts: [p.column.column], column: p.column.column }
        : undefined
      : p.expression && p.expression.columns.every((c) => mine(c, local)) && !refused(p.expression)
        ? { key: `(${p.expression.sql})`, nameParts: p.expression.nameParts }
        : undefined;

  const take = (p: PlanPredicate, local: boolean, perRow = false) => {
    switch (p.kind) {
      case 'column': {
        if (!mine(p.column, local)) return;
        const conversion = conversionOf(p.column, relation);
        if (conversion) return take({ kind: 'expression', expression: conversion, operator: p.operator }, local);
        addUnique(p.operator === 'range' ? out.range : out.eq, p.column.column);
        return;
      }
      case 'expression':
        if (!p.expression.columns.every((c) => mine(c, local)) || refused(p.expression)) return;
        if (!out.expressions.some((e) => e.expression.sql === p.expression.sql))
          out.expressions.push({ expression: p.expression, operator: p.operator });
        return;
      case 'join': {
        const own =
          mine(p.left, false) && !mine(p.right, false)
            ? p.left
            : mine(p.right, false) && !mine(p.left, false)
              ? p.right
              : local && p.left.qualifier === undefined
                ? p.left
                : local && p.right.qualifier === undefined
                  ? p.right
                  : undefined;
        if (!own) return;
        addUnique(out.joins, own.column);
        // In a scan's own condition the other side is the outer row's value (a correlated subquery,
        // a LATERAL subquery, a parameterized join): one equality lookup per outer row, as `col = $1`
        // is, so the column counts among the equality columns an index combines.
        if (perRow) addUnique(out.eq, own.column);
        return;
      }
      case 'pattern': {
        const searched = searchedKey(p, local);
        if (!searched) return;
        const target = searched.key;
        const nameParts = [...searched.nameParts];
        // A B-tree serves only a LIKE whose pattern the planner knows to start with a literal prefix;
        // one that starts with a wildcard, or is not known when planning (a parameter in a generic
        // plan), and ILIKE are a trigram index's.
        if (p.leadingWildcard !== false || p.caseInsensitive) {
          if (!out.patterns.some((x) => x.key === target)) out.patterns.push({ key: target, nameParts });
        } else if (!out.prefixes.some((x) => x.key === target)) {
          out.prefixes.push({ key: target, nameParts });
        }
        return;
      }
      case 'containment': {
        if (!mine(p.column, local)) return;
        // The column's type from the report; else the type the server cast the value to.
        const opclass = ginOperatorClass(p.operator, relation.columnTypes?.[p.column.column] ?? p.valueType);
        if (!opclass) return;
        const gin = out.gins.get(p.column.column) ?? { classes: [], operators: [] };
        addUnique(gin.classes, opclass);
        addUnique(gin.operators, p.operator);
        out.gins.set(p.column.column, gin);
        return;
      }
      case 'textSearch': {
        const search = searchedKey(p, local);
        if (search && !out.textSearches.some((t) => t.key === search.key)) out.textSearches.push(search);
        return;
      }
      case 'or': {
        const alternatives = p.alternatives.map((alternative) => orKey(alternative, local));
        if (alternatives.length > 1 && alternatives.every((a) => a !== undefined))
          out.ors.push(alternatives as OrAlternative[]);
        return;
      }
      case 'opaque':
        return;
    }
  };
  // The key an index needs to serve one alternative of an OR: its first column or expression.
  const orKey = (alternative: readonly PlanPredicate[], local: boolean): OrAlternative | undefined => {
    for (const p of alternative) {
      if (p.kind === 'column' && p.operator !== 'null' && mine(p.column, local)) {
        const conversion = conversionOf(p.column, relation);
        if (conversion)
          return refused(conversion) ? undefined : { key: `(${conversion.sql})`, nameParts: conversion.nameParts };
        return { key: quoteIdentifier(p.column.column), nameParts: [p.column.column], column: p.column.column };
      }
      if (p.kind === 'expression' && p.expression.columns.every((c) => mine(c, local)))
        return refused(p.expression) ? undefined : { key: `(${p.expression.sql})`, nameParts: p.expression.nameParts };
      if (p.kind === 'pattern') {
        const own = searchedKey(p, local);
        if (!own) continue;
        // As for a pattern alone (see take): a B-tree only for a LIKE known to start with a literal.
        return p.leadingWildcard !== false || p.caseInsensitive
          ? { ...own, key: `${own.key} gin_trgm_ops`, nameParts: [...own.nameParts, 'trgm'], trigram: true }
          : { ...own, key: `${own.key} text_pattern_ops`, nameParts: [...own.nameParts, 'pattern'] };
      }
    }
    return undefined;
  };

  for (const scan of scans) {
    for (const key of CONDITION_KEYS) {
      const text = scan.node[key];
      if (typeof text !== 'string') continue;
      out.filtered = true;
      for (const p of parseCondition(text, domainBaseOf(true))) take(p, true, true);
    }
  }
  for (const { node } of visited) {
    if (keepsProbeRows(node, scans)) continue;
    for (const key of JOIN_KEYS) {
      const text = node[key];
      if (typeof text !== 'string') continue;
      const joins = out.joins.length;
      for (const p of parseCondition(text, domainBaseOf(relationCount === 1))) take(p, relationCount === 1);
      if (out.joins.length > joins) out.filtered = true;
    }
  }
  // The first sort key above one of the scans: with an equality column first, a B-tree returns
  // rows already in order and a LIMIT stops early.
  // A Merge Append merges its inputs in its keys' order (the partitions' scans, each walking an index
  // for it): an index in that order serves it as it serves a sort. It names the partitioned table
  // (`events.created_at`, or the alias `e` whose partitions' scans are `e_1`, `e_2`).
  const parentOf = (c: PlanColumn) =>
    c.qualifier !== undefined &&
    (c.qualifier === relation.table || [...aliases].some((a) => a.startsWith(`${c.qualifier}_`)))
      ? { column: c.column }
      : c;
  for (const v of visited) {
    const rawKeys = v.node['Sort Key'];
    const merge = v.node['Node Type'] === 'Merge Append';
    if (!Array.isArray(rawKeys) || !(/Sort$/.test(v.node['Node Type']) || merge)) continue;
    if (!scans.some((s) => v.path.length < s.path.length && v.path.every((p, i) => s.path[i] === p))) continue;
    const local = relationCount === 1 || merge;
    const keys = merge
      ? rawKeys.map((k) =>
          String(k).replace(/^(\w+)\.(\w+)/, (whole, alias: string, column: string) => {
            const c = parentOf({ qualifier: alias, column });
            return c.qualifier === undefined ? column : whole;
          }),
        )
      : rawKeys;
    const first = parseSortKey(String(keys[0] ?? ''), domainBaseOf(local));
    if (first?.column && mine(first.column, local)) {
      if (out.sort.length === 0) out.sortRest = keys.slice(1).map(String);
      addUnique(out.sort, first.column.column);
    }
    if (out.order.length > 0) continue;
    // The sort's keys, as far as they are this relation's: what a B-tree returns rows in order of.
    for (const text of keys.map(String)) {
      const key = parseSortKey(text, domainBaseOf(local));
      if (key?.column && mine(key.column, local)) {
        out.order.push({
          key: quoteIdentifier(key.column.column),
          nameParts: [key.column.column],
          column: key.column.column,
          descending: key.descending,
          ...(key.nulls ? { nulls: key.nulls } : {}),
          printed: text,
        });
      } else if (key?.expression && key.expression.columns.every((c) => mine(c, local)) && !refused(key.expression)) {
        out.order.push({
          key: `(${key.expression.sql})`,
          nameParts: key.expression.nameParts,
          expression: key.expression,
          descending: key.descending,
          ...(key.nulls ? { nulls: key.nulls } : {}),
          printed: text,
        });
      } else break;
    }
  }
  // An index scan with a filter right under a LIMIT (through the Append of a partitioned table's
  // scans) walks its index for the ORDER BY, its condition a range on the same column, if any: the
  // index's leading column, in the scan's direction, is the order a new index must keep after the
  // filter's equality columns.
  if (out.order.length === 0) {
    for (const scan of scans) {
      const type = scan.node['Node Type'];
      if ((type !== 'Index Scan' && type !== 'Index Only Scan') || scan.node.Filter === undefined) continue;
      const limit = scan.path.findLastIndex((label) => label.startsWith('Limit'));
      const between = scan.path.slice(limit + 1, -1);
      if (limit < 0 || !between.every((label) => /^(Merge )?Append\b/.test(label))) continue;
      const index = scanned.flatMap((r) => r.indexes).find((i) => i.name === scan.node['Index Name']);
      const leading = index?.expressions.length === 0 ? index.columns[0] : undefined;
      if (!leading || out.eq.includes(leading)) continue;
      const cond = scan.node['Index Cond'];
      if (cond !== undefined && !parseCondition(cond).every((p) => p.kind === 'column' && p.column.column === leading))
        continue;
      const descending = scan.node['Scan Direction'] === 'Backward';
      out.order.push({
        key: quoteIdentifier(leading),
        nameParts: [leading],
        column: leading,
        descending,
        printed: `${leading}${descending ? ' DESC' : ''}`,
      });
      break;
    }
  }
  // An index scan with a filter and no condition walks its index for the order (ORDER BY ... LIMIT):
  // that order is a sort key the new index should keep, after the filter's columns.
  for (const scan of scans) {
    const type = scan.node['Node Type'];
    if ((type !== 'Index Scan' && type !== 'Index Only Scan') || scan.node['Index Cond'] !== undefined) continue;
    if (scan.node.Filter === undefined) continue;
    const leading = scanned.flatMap((r) => r.indexes).find((i) => i.name === scan.node['Index Name'])?.columns[0];
    if (leading) addUnique(out.sort, leading);
  }
  return out;
}

/**
 * A hash join that keeps about every row of the relation's scans on its probe side (half of them or
 * more): the hashed side (a small table read whole) matches nearly all of them, so an index on the
 * join column would be probed for each of those rows, and cannot read fewer than the scan does.
 */
function keepsProbeRows(node: PlanNode, scans: readonly VisitedNode[]): boolean {
  if (node['Node Type'] !== 'Hash Join') return false;
  const [probe, hashed] = node.Plans ?? [];
  if (!probe || !hashed) return false;
  const under = (root: PlanNode): PlanNode[] => [root, ...(root.Plans ?? []).flatMap(under)];
  const mine = new Set(scans.map((s) => s.node));
  if (under(hashed).some((n) => mine.has(n))) return false;
  const rows = under(probe)
    .filter((n) => mine.has(n))
    .reduce((sum, n) => sum + n['Plan Rows'], 0);
  return rows > 0 && node['Plan Rows'] >= rows / 2;
}

/** A valid unique B-tree whose key columns are the first of `columns` (in any order), fewer than all. */
function uniqueLeading(relation: RelationInfo, columns: readonly string[]): IndexInfo | undefined {
  return relation.indexes.find((i) => {
    const keys = i.columns;
    if (!i.unique || !i.valid || i.partial || i.method !== 'btree' || keys.length >= columns.length) return false;
    const leading = columns.slice(0, keys.length);
    return keys.every((k) => k !== null && leading.includes(k));
  });
}

/** The leading key columns that are equality columns of the filter. */
function leadingEquality(columns: readonly string[], equality: readonly string[]): string[] {
  const end = columns.findIndex((col) => !equality.includes(col));
  return columns.slice(0, end < 0 ? columns.length : end);
}

function indexName(table: string, parts: readonly string[], taken: ReadonlySet<string>): string {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '');
  const base = [clean(table), ...parts.map(clean)].filter(Boolean).join('_').slice(0, 55);
  let name = `${base}_idx`;
  for (let i = 1; taken.has(name); i++) name = `${base}_idx${i}`;
  return name;
}

/**
 * Names the indexes proposed for the findings of a report, each list a finding's candidates:
 * `generateCandidates` names one finding's alone, so two statements could get one name for two
 * indexes (`(vehicle_id, recorded_at)` and `(vehicle_id, recorded_at DESC)`), and applying both
 * would fail. Here each distinct index keeps one name across the report (the same index proposed
 * for two statements is one index to build), and no name is another's or that of an index the
 * schema has (PostgreSQL names indexes per schema). The first to be proposed keeps the plain name.
 */
export function nameCandidates(
  lists: readonly (readonly IndexCandidate[])[],
  report: Pick<Report, 'relations'>,
): IndexCandidate[][] {
  const qualified = (schema: string | undefined, name: string) => `${schema ?? ''}.${name}`;
  const taken = new Set(report.relations.flatMap((r) => r.indexes.map((i) => qualified(r.schema, i.name))));
  const names = new Map<string, string>();
  const nameOf = (c: IndexCandidate): string => {
    const key = candidateKey({ ...c, also: [] });
    const known = names.get(key);
    if (known !== undefined) return known;
    const base = c.name.replace(/_idx\d*$/, '');
    let name = `${base}_idx`;
    for (let i = 1; taken.has(qualified(c.schema, name)); i++) name = `${base}_idx${i}`;
    taken.add(qualified(c.schema, name));
    names.set(key, name);
    return name;
  };
  return lists.map((list) =>
    list.map((c) =>
      c.existing !== undefined
        ? c
        : { ...c, name: nameOf(c), ...(c.also ? { also: c.also.map((a) => ({ ...a, name: nameOf(a) })) } : {}) },
    ),
  );
}

/**
 * Proposes indexes for one finding of a statement, most promising first. Empty when the plan does
 * not tell which columns would help (no plan, no condition on the relation).
 *
 * @example
 * // Filter: ((status = 'refunded'::text) AND ...) under Sort Key: total_cents DESC, LIMIT 20
 * generateCandidates(query, finding, report, { trigram: true })
 * // [{ keys: ['status'], ... }, { keys: ['status', 'total_cents'], reason: 'equality on status, then the sort on total_cents' }, ...]
 */
export function generateCandidates(
  query: QueryReport,
  finding: Pick<Finding, 'relation' | 'nodePath'>,
  report: Report,
  options: CandidateOptions,
): IndexCandidate[] {
  if (!query.plan) return [];
  const visited = walkPlan(query.plan.root);
  const scans = targetScans(visited, finding, query, report);
  const out: IndexCandidate[] = [];
  // Scans of the partitions of one table are one relation: their candidates go on the parent, once.
  const byRelation = new Map<string, { relation: RelationInfo; scans: VisitedNode[]; scanned: RelationInfo[] }>();
  for (const scan of scans) {
    const rel = scanRelation(scan.node, query, report);
    if (!rel) continue;
    const target = indexedRelation(rel, report);
    const entry = byRelation.get(target.name) ?? { relation: target, scans: [], scanned: [] };
    entry.scans.push(scan);
    if (!entry.scanned.includes(rel)) entry.scanned.push(rel);
    byRelation.set(target.name, entry);
  }
  // Each alias of the plan, and the relation it reads.
  const byAlias = new Map<string, RelationInfo>();
  for (const { node } of visited) {
    const rel = node['Relation Name'] ? scanRelation(node, query, report) : undefined;
    const alias = String(node.Alias ?? node['Relation Name']);
    if (rel && !byAlias.has(alias)) byAlias.set(alias, rel);
  }
  const relationCount = new Set(
    visited.flatMap(({ node }) => {
      const name = node['Relation Name'];
      if (!name) return [];
      const rel = scanRelation(node, query, report);
      return [rel ? indexedRelation(rel, report).name : name];
    }),
  ).size;
  for (const { relation, scans: relScans, scanned } of byRelation.values()) {
    const taken = new Set(
      report.relations.filter((r) => r.schema === relation.schema).flatMap((r) => r.indexes.map((i) => i.name)),
    );
    const c = collect(visited, relScans, relationCount, relation, scanned, (alias) => byAlias.get(alias));
    // Equality columns most distinct values first (by the table's statistics, where every one has
    // them): a lookup narrows fastest on them, and (a, b) and (b, a) serve the same equalities.
    if (c.eq.every((col) => distinctValues(relation, col) !== undefined))
      c.eq.sort((a, b) => distinctValues(relation, b)! - distinctValues(relation, a)!);
    const proposals: {
      method: 'btree' | 'gin';
      keys: string[];
      nameParts: string[];
      reason: string;
      extension?: 'pg_trgm';
      columns?: string[];
      /** The leading bare columns of keys that are not all bare columns (an expression after them). */
      lead?: string[];
      also?: { keys: string[]; nameParts: string[]; method: 'btree' | 'gin' }[];
      sortOnly?: true;
      sortedAfter?: string[];
    }[] = [];
    const q = quoteIdentifier;
    const btree = (columns: string[], reason: string) =>
      proposals.push({ method: 'btree', keys: columns.map(q), nameParts: columns, reason, columns });

    // An OR: one index per alternative that no index serves yet, judged together.
    // A pattern search is a trigram GIN index's (ILIKE, a wildcard first): the planner combines its
    // bitmap with the others' as well.
    for (const alternatives of c.ors) {
      if (!options.trigram && alternatives.some((a) => a.trigram)) continue;
      const served = (a: OrAlternative) =>
        a.column !== undefined &&
        (a.trigram ? trigramIndexFor(relation, a.column) : btreeLeadingWith(relation, [a.column])) !== undefined;
      const needed = alternatives.filter((a, i) => !served(a) && alternatives.findIndex((b) => b.key === a.key) === i);
      const [first, ...rest] = needed;
      if (!first) continue;
      const method = (a: OrAlternative) => (a.trigram ? ('gin' as const) : ('btree' as const));
      proposals.push({
        method: method(first),
        keys: [first.key],
        nameParts: [...first.nameParts],
        reason: `one index per alternative of the OR on ${alternatives.map((a) => a.key).join(', ')} (BitmapOr)`,
        ...(needed.some((a) => a.trigram) ? { extension: 'pg_trgm' as const } : {}),
        ...(rest.length > 0
          ? { also: rest.map((a) => ({ keys: [a.key], nameParts: [...a.nameParts], method: method(a) })) }
          : {}),
      });
    }

    // An expression a stored generated column holds, and an index on that column: the fix is to write
    // the condition on the column (index advice validates that rewrite), not a second index.
    const heldByIndexedColumn = (expression: string, method: string) => {
      const column = generatedColumnHolding(relation, expression);
      return (
        column !== undefined &&
        relation.indexes.some((i) => i.valid && !i.partial && i.method === method && i.columns[0] === column)
      );
    };
    for (const { expression, operator } of c.expressions) {
      if (heldByIndexedColumn(expression.sql, 'btree')) continue;
      proposals.push({
        method: 'btree',
        keys: [`(${expression.sql})`],
        nameParts: [...expression.nameParts],
        reason: `${operator === 'range' ? 'range' : 'equality'} on the expression ${expression.sql}`,
      });
    }
    // GIN cannot be simulated by HypoPG: these are validated by a rolled-back build, as the trigram ones.
    for (const [col, gin] of c.gins) {
      const opclass = combineGinClasses(gin.classes)!;
      if (ginIndexFor(relation, col, opclass)) continue;
      proposals.push({
        method: 'gin',
        keys: [ginKey(col, opclass)],
        nameParts: [col, opclass === 'jsonb_path_ops' ? 'path' : 'gin'],
        reason: `${gin.operators.join(', ')} on ${col}`,
      });
    }
    // A full-text search: GIN on the tsvector column, or on the expression that computes the document
    // (the default operator class, tsvector_ops). A column of another type (text @@ ...) is searched
    // through a to_tsvector with the session's configuration, which no index can hold.
    for (const t of c.textSearches) {
      if (t.column === undefined && heldByIndexedColumn(t.key.slice(1, -1), 'gin')) continue;
      if (t.column !== undefined) {
        if (relation.columnTypes?.[t.column] !== 'tsvector') continue;
        if (relation.indexes.some((i) => i.valid && !i.partial && i.method === 'gin' && i.columns[0] === t.column))
          continue;
      }
      proposals.push({
        method: 'gin',
        keys: [t.key],
        nameParts: [...t.nameParts],
        reason: `full-text search on ${t.key}`,
      });
    }
    if (options.trigram) {
      for (const p of c.patterns) {
        proposals.push({
          method: 'gin',
          keys: [`${p.key} gin_trgm_ops`],
          nameParts: [...p.nameParts, 'trgm'],
          reason: `wildcard search on ${p.key}`,
          extension: 'pg_trgm',
        });
      }
    }
    // The index an expert builds: every equality column (at most three), then the range or sort
    // column. Proposed first among the B-trees, so that the limit of candidates never leaves it out,
    // and so that unvalidated advice names it. (Equality columns come most distinct values first.)
    // Without a range column the sort column comes after the equality columns (the rows come out in
    // order); the equality columns alone are proposed further down.
    const equality = c.eq.slice(0, 3);
    // The ORDER BY's keys after the equality columns (a column compared with one value is constant
    // in the rows an equality lookup finds, so it orders nothing). Directions are written only where
    // a B-tree read one way cannot give them (mixed directions, NULLS placed against the default).
    const orderRest = c.order.filter((k) => !(k.column && c.eq.includes(k.column)));
    const directed = orderRest.some((k) => k.nulls) || new Set(orderRest.map((k) => k.descending)).size > 1;
    const orderKey = (k: OrderKey) =>
      directed ? `${k.key}${k.descending ? ' DESC' : ''}${k.nulls ? ` NULLS ${k.nulls.toUpperCase()}` : ''}` : k.key;
    /** An index on `lead` (equality columns), then the ORDER BY's keys in order: at most four keys. */
    const ordered = (lead: readonly string[], keys: readonly OrderKey[], reason: string) => {
      const used = keys.slice(0, Math.max(0, 4 - lead.length));
      if (used.length === 0 || (lead.length + used.length < 2 && !used[0]!.expression)) return;
      const bare = !directed && used.every((k) => k.column !== undefined);
      proposals.push({
        method: 'btree',
        keys: [...lead.map(q), ...used.map(orderKey)],
        nameParts: [...lead, ...used.flatMap((k) => k.nameParts)],
        reason,
        ...(bare ? { columns: [...lead, ...used.map((k) => k.column!)] } : { lead: [...lead] }),
        ...(lead.length === 0 ? { sortOnly: true as const } : {}),
      });
    };
    const sortWords = (keys: readonly OrderKey[]) =>
      keys
        .slice(0, 4)
        .map((k) => k.printed)
        .join(', ');
    // Equality on expressions too (`properties ->> 'campaign' = $2`), then the ORDER BY: the rows a
    // lookup on all of them finds come out in order, and a LIMIT stops after the first.
    const equalExpressions = c.expressions
      .filter((e) => e.operator !== 'range')
      .slice(0, Math.max(0, 3 - equality.length));
    if (orderRest.length > 0 && equalExpressions.length > 0) {
      const used = orderRest.slice(0, Math.max(1, 4 - equality.length - equalExpressions.length));
      proposals.push({
        method: 'btree',
        keys: [...equality.map(q), ...equalExpressions.map((e) => `(${e.expression.sql})`), ...used.map(orderKey)],
        nameParts: [
          ...equality,
          ...equalExpressions.flatMap((e) => e.expression.nameParts),
          ...used.flatMap((k) => k.nameParts),
        ],
        reason: `equality on ${[...equality, ...equalExpressions.map((e) => e.expression.sql)].join(', ')}, then the sort on ${sortWords(used)}`,
        lead: [...equality],
      });
    }
    const rangeLast = c.range.find((r) => !c.eq.includes(r));
    const sortLast = c.sort.find((r) => !c.eq.includes(r));
    if (rangeLast && equality.length > 0)
      btree([...equality, rangeLast], `equality on ${equality.join(', ')}, then the range on ${rangeLast}`);
    // Ranges on two columns or more (a bounding box, `lat BETWEEN .. AND lon BETWEEN ..`): an index on
    // one leaves the others to a filter on the heap rows its range finds, and one per column to a
    // BitmapAnd of both ranges' bitmaps. A B-tree on all of them descends on the first range and
    // checks the others inside the index (Index Cond on every key), fetching only the rows kept. Only
    // the leading range narrows the index's walk, and which one narrows it most depends on the values:
    // each range column leads one candidate, the others after it, and the planner's costs, from each
    // column's histogram, decide between them.
    const ranges = c.range.filter((r) => !c.eq.includes(r));
    if (ranges.length > 1 && equality.length <= 2) {
      const used = ranges.slice(0, Math.min(3, 4 - equality.length));
      for (const lead of used) {
        const rest = used.filter((r) => r !== lead);
        btree(
          [...equality, lead, ...rest],
          `${equality.length > 0 ? `equality on ${equality.join(', ')}, then ` : ''}the range on ${lead}, then the range${rest.length > 1 ? 's' : ''} on ${rest.join(', ')} checked inside the index`,
        );
      }
    }
    if (orderRest.length > 0)
      ordered(
        equality,
        orderRest,
        `${equality.length > 0 ? `equality on ${equality.join(', ')}, then ` : ''}the sort on ${sortWords(orderRest)}`,
      );
    else if (sortLast && equality.length > 0)
      btree([...equality, sortLast], `equality on ${equality.join(', ')}, then the sort on ${sortLast}`);
    if (!rangeLast && !sortLast && orderRest.length === 0 && equality.length > 1)
      btree(equality, `equality on ${equality.join(', ')}`);
    for (const col of c.eq) btree([col], `equality on ${col}`);
    for (const col of c.eq)
      for (const s of c.sort)
        if (s !== col && !c.eq.includes(s)) btree([col, s], `equality on ${col}, then the sort on ${s}`);
    // One equality column, then the whole ORDER BY (or its expression).
    if (orderRest.length > 1 || orderRest[0]?.expression)
      for (const col of c.eq) ordered([col], orderRest, `equality on ${col}, then the sort on ${sortWords(orderRest)}`);
    for (const [i, a] of c.eq.entries()) for (const b of c.eq.slice(i + 1)) btree([a, b], `equality on ${a} and ${b}`);
    // Two equality columns and the sort: the rows come out in order for the LIMIT, with no filter left.
    for (const [i, a] of c.eq.entries())
      for (const b of c.eq.slice(i + 1))
        for (const srt of c.sort)
          if (srt !== a && srt !== b) btree([a, b, srt], `equality on ${a} and ${b}, then the sort on ${srt}`);
    for (const a of c.eq)
      for (const r of c.range) if (r !== a) btree([a, r], `equality on ${a}, then the range on ${r}`);
    for (const a of c.eq) {
      for (const { expression } of c.expressions) {
        proposals.push({
          method: 'btree',
          keys: [q(a), `(${expression.sql})`],
          nameParts: [a, ...expression.nameParts],
          reason: `equality on ${a}, then the expression ${expression.sql}`,
          lead: [a],
        });
      }
    }
    for (const col of c.joins) btree([col], `join on ${col}`);
    for (const col of c.joins)
      for (const e of c.eq) if (e !== col) btree([col, e], `join on ${col}, then equality on ${e}`);
    for (const col of c.range) btree([col], `range on ${col}`);
    for (const p of c.prefixes) {
      proposals.push({
        method: 'btree',
        keys: [`${p.key} text_pattern_ops`],
        nameParts: [...p.nameParts, 'pattern'],
        reason: `prefix search on ${p.key}`,
      });
    }
    // The whole ORDER BY alone (the filter's equality columns left out): rows in order, no sort.
    if (equality.length > 0 && (orderRest.length > 1 || orderRest[0]?.expression))
      ordered([], orderRest, `the sort on ${sortWords(orderRest)}`);
    for (const col of c.sort)
      if (!c.eq.includes(col))
        proposals.push({
          method: 'btree',
          keys: [q(col)],
          nameParts: [col],
          reason: `the sort on ${col}`,
          columns: [col],
          sortOnly: true,
          ...(col === c.sort[0] && c.order.length === 0 && c.sortRest.length > 0 ? { sortedAfter: c.sortRest } : {}),
        });
    // An ORDER BY on an expression (`price_cents * 1.2 + 100`): only an index on it gives that order.
    if (orderRest[0]?.expression) ordered([], orderRest.slice(0, 1), `the sort on ${orderRest[0].printed}`);
    /**
     * The ORDER BY keys an index leaves to an incremental sort: its keys after its leading equality
     * columns are the first of the ORDER BY's, not all of them.
     */
    const unsortedAfter = (keys: readonly string[]): string[] | undefined => {
      let start = 0;
      while (start < keys.length && c.eq.some((e) => q(e) === keys[start])) start++;
      const tail = keys.slice(start);
      if (tail.length === 0 || tail.length >= orderRest.length) return undefined;
      const follows = tail.every((k, n) => k === orderRest[n]!.key || k === orderKey(orderRest[n]!));
      return follows ? orderRest.slice(tail.length).map((k) => k.printed) : undefined;
    };

    const seen = new Set<string>();
    for (const p of proposals) {
      // An existing valid B-tree already starts with these columns (in this order).
      if (p.columns && btreeLeadingWith(relation, p.columns)) continue;
      // Its leading columns are a unique key: a lookup finds one row, which more keys neither narrow
      // nor order (a join on the primary key, then the filter's boolean).
      if (p.columns && uniqueLeading(relation, p.columns)) continue;
      const candidate: IndexCandidate = {
        relation: relation.name,
        schema: relation.schema,
        table: relation.table,
        method: p.method,
        keys: p.keys,
        name: '',
        ...(p.extension ? { extension: p.extension } : {}),
        reason: p.reason,
        ...(p.columns || p.lead ? { equality: leadingEquality(p.columns ?? p.lead!, c.eq) } : {}),
        ...(p.sortOnly ? { sortOnly: true as const, ...(c.filtered ? {} : { unfiltered: true as const }) } : {}),
        ...(c.joins.some((j) => quoteIdentifier(j) === p.keys[0]) ? { joinKey: true as const } : {}),
        ...(p.sortedAfter ? { sortedAfter: p.sortedAfter } : {}),
        ...(!p.sortedAfter && p.method === 'btree' && !p.also && unsortedAfter(p.keys)
          ? { sortedAfter: unsortedAfter(p.keys)! }
          : {}),
        ...(relation.kind === 'partitioned-table' ? { partitioned: true as const } : {}),
      };
      const key = candidateKey({
        ...candidate,
        ...(p.also ? { also: p.also.map((a) => ({ ...candidate, ...a, name: '' })) } : {}),
      });
      if (seen.has(key)) continue;
      // An index the table already has (an expression, a GIN operator class, ...) is no candidate;
      // asked for, it comes marked as existing, for index advice to name instead of proposing.
      const existing = p.also ? undefined : existingIndexLike(relation, candidate);
      if (existing && !options.existing) continue;
      seen.add(key);
      if (existing) {
        out.push({ ...candidate, name: existing.name, existing: existing.name });
        continue;
      }
      const name = indexName(relation.table, p.nameParts, taken);
      taken.add(name);
      const also = (p.also ?? []).map((a) => {
        const companion = indexName(relation.table, a.nameParts, taken);
        taken.add(companion);
        return { ...candidate, keys: a.keys, method: a.method, name: companion };
      });
      out.push({ ...candidate, name, ...(also.length > 0 ? { also } : {}) });
    }
  }
  // The limit counts the candidates to build: one the table has is named, never built.
  let fresh = 0;
  const max = options.max ?? DEFAULT_MAX_CANDIDATES;
  return out.filter((c) => c.existing !== undefined || ++fresh <= max);
}

/** An index definition's method and key list as parsed (locations left out), to compare indexes. */
function indexShape(definition: string): string | undefined {
  const [statement] = parseTree(definition);
  const index = statement?.IndexStmt as Readonly<Record<string, unknown>> | undefined;
  if (!index) return undefined;
  return JSON.stringify([index.accessMethod ?? 'btree', index.indexParams], (key, value: unknown) =>
    key === 'location' ? undefined : value,
  );
}

/**
 * A valid index of the relation with the candidate's method and exactly its keys (operator classes
 * and expressions included), whatever its name and INCLUDE columns; not a partial one, whose WHERE
 * makes it another index.
 */
export function existingIndexLike(relation: RelationInfo, candidate: IndexCandidate): IndexInfo | undefined {
  const shape = indexShape(indexDefinition(candidate, { name: 'querygate_candidate' }));
  if (shape === undefined) return undefined;
  return relation.indexes.find((i) => i.valid && !i.partial && indexShape(i.definition) === shape);
}

/** A typical value of a column with fewer distinct values than one in this finds this share of rows or more. */
const WIDE_SHARE = 0.05;

/**
 * The candidates in the order they are named without the planner's verdict (unvalidated advice, and
 * a rule's own proposal): as generated, except that an index on a column with few distinct values
 * (a status, a boolean) alone, which would find a large share of the rows for a typical value, is
 * left out: where a candidate combines that column with others, and where the filter keeps a large
 * share of the rows as well (`keptShare`, the finding's; unknown counts as large). A rare value of
 * such a column (a filter that keeps 1% of the rows) is what an index on it alone serves.
 */
export function proposalOrder(
  candidates: readonly IndexCandidate[],
  relationNamed: (name: string) => RelationInfo | undefined,
  keptShare?: number,
): IndexCandidate[] {
  return candidates.filter((c) => {
    // An index serves only some of the filter's conditions, which keep at least the rows the whole
    // filter keeps: from 5% of the table a sequential scan reads them as cheaply, and the planner
    // keeps it. Not an index for the ORDER BY (a LIMIT stops its walk) nor one for a join.
    if (keptShare !== undefined && keptShare >= WIDE_SHARE && !c.sortOnly && !c.joinKey) return false;
    const column = c.equality?.length === 1 && c.keys.length === 1 && !c.also ? c.equality[0]! : undefined;
    const relation = relationNamed(c.relation);
    if (!column || !relation) return true;
    // A typical value of a column with 20 distinct values or fewer finds 5% of the rows or more.
    const distinct = distinctValues(relation, column);
    if (distinct === undefined || 1 / distinct < WIDE_SHARE) return true;
    if (keptShare === undefined || keptShare >= WIDE_SHARE) return false;
    return !candidates.some(
      (o) => o !== c && o.relation === c.relation && (o.equality?.length ?? 0) > 1 && o.equality!.includes(column),
    );
  });
}

/** An existing partial index that has the keys a scan needs, and a WHERE the statement does not state. */
export interface UnusedPartialIndex {
  readonly relation: string;
  readonly name: string;
  /** Its key columns. */
  readonly keys: readonly string[];
  /** Its WHERE, as the server prints it (`status <> 'void'::invoice_status`). */
  readonly predicate: string;
}

/**
 * The conjuncts of a partial index's WHERE, from its definition (`pg_get_indexdef`), each as the
 * server deparses it, as EXPLAIN prints conditions.
 */
function predicateConjuncts(index: IndexInfo): string[] | undefined {
  const [statement] = parseTree(index.definition);
  const where = (statement?.IndexStmt as Readonly<Record<string, unknown>> | undefined)?.whereClause;
  if (!where) return undefined;
  const typed = nodeType(where);
  const parts = typed?.[0] === 'BoolExpr' && typed[1].boolop === 'AND_EXPR' ? (typed[1].args as unknown[]) : [where];
  const texts = parts.map((p) => expressionText(index.definition, p));
  return texts.every((t): t is string => t !== undefined) ? texts : undefined;
}

/**
 * Partial B-trees of the finding's relation whose leading key columns the scan compares (equality
 * or range: two of them, or all the index has), which the plan does not use, and whose WHERE is not among the scan's
 * conditions: the planner uses a partial index only when the statement's conditions imply its
 * predicate. Pure: reads the plan and the index definitions of the report.
 *
 * @example
 * // Filter: ((tenant_id = 1) AND (number = 'INV-1'::text)); index (tenant_id, number) WHERE (status <> 'void')
 * unusedPartialIndexes(query, finding, report)
 * // [{ name: 'invoices_tenant_number_live_idx', keys: ['tenant_id', 'number'], predicate: "status <> 'void'::..." }]
 */
export function unusedPartialIndexes(query: QueryReport, finding: Finding, report: Report): UnusedPartialIndex[] {
  if (!query.plan) return [];
  const visited = walkPlan(query.plan.root);
  const scans = targetScans(visited, finding, query, report);
  const usedIndexes = new Set(visited.map((v) => v.node['Index Name']).filter((n) => n !== undefined));
  const out: UnusedPartialIndex[] = [];
  for (const scan of scans) {
    const relation = scanRelation(scan.node, query, report);
    if (!relation) continue;
    const conditions = CONDITION_KEYS.map((k) => scan.node[k])
      .filter((t): t is string => typeof t === 'string')
      .join(' ');
    const c = collect(visited, [scan], 1, relation);
    for (const index of relation.indexes) {
      if (!index.partial || !index.valid || index.method !== 'btree') continue;
      // Its leading key columns the scan compares: two of them, or all it has.
      const compared = index.columns.findIndex(
        (col) => col === null || (!c.eq.includes(col) && !c.range.includes(col)),
      );
      const prefix = compared < 0 ? index.columns.length : compared;
      if (prefix === 0 || prefix < Math.min(2, index.columns.length)) continue;
      if (usedIndexes.has(index.name) || out.some((o) => o.name === index.name)) continue;
      const conjuncts = predicateConjuncts(index);
      if (!conjuncts || conjuncts.every((p) => conditions.includes(p))) continue;
      out.push({
        relation: relation.name,
        name: index.name,
        keys: index.columns.map((k) => k ?? '(expression)'),
        predicate: conjuncts.length === 1 ? conjuncts[0]! : conjuncts.map((p) => `(${p})`).join(' AND '),
      });
    }
  }
  return out;
}
