/**
 * seq-scan-large-table: a (parallel) sequential scan over a large relation. Its severity follows how
 * much of what it reads the filter throws away (that share is what an index would save) and how much
 * it actually reads: a LIMIT above may stop it long before the end of the table.
 */
import {
  btreeLeadingWith,
  columnPredicates,
  combineGinClasses,
  expressionIndexFor,
  ginIndexFor,
  ginKey,
  ginOperatorClass,
  NOT_VALIDATED,
  proposeIndexSql,
  rangeIndexLeadingWith,
  scansTable,
  tableHasColumn,
  trigramIndexFor,
  type ColumnPredicate,
  type GinOperatorClass,
} from '../analyze/column-predicates.js';
import { guessWords, scanGuess } from '../analyze/default-guess.js';
import { measureWith } from '../analyze/measure.js';
import { conditionColumns } from '../analyze/plan-conditions.js';
import { formatPath } from '../analyze/plan.js';
import {
  actualRows,
  isSeqScan,
  isTrivial,
  measuredRemovedShare,
  nodeShare,
  relationRows,
  removedShare,
  round,
  rowsKept,
  scanKind,
  seqScanRead,
  shareIsLowerBound,
  topNAbove,
  type PlanNodeFacts,
  type ScanRead,
} from '../analyze/plan-facts.js';
import { parseCondition, parseSortKey } from '../analyze/plan-conditions.js';
import { generatedColumnRewrite, sameExpressionText } from '../analyze/generated-columns.js';
import { predicateVerdict } from '../analyze/expression-refusal.js';
import type { PlanNode } from '../model/plan.js';
import type { IndexInfo, RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';
import { generatedColumnFix } from './shared/generated-column.js';
import { predicateFix, problemOf } from './shared/predicate-fix.js';
import { checkEstimates, existingIndexFix, type ScanChoice } from './shared/unused-index.js';
import { quoteIdentifier } from '../analyze/parser.js';

export default defineRule({
  id: 'seq-scan-large-table',
  severity: 'error',
  category: 'scan',
  description: 'A sequential scan reads a large table, and its filter throws most of the rows away.',
  messages: {
    selective: '{scan} on {relation} reads {reads} to keep {keptRows} ({removed})',
    full: '{scan} on {relation} reads {reads} ({nodePercent}% of the statement)',
    topN: '{scan} on {relation} reads {reads}{kept} to return the first {returnedRows} by {sortKey}{returnedBasis}: the sort under the LIMIT must see every row first',
    minor:
      '{scan} on {relation} reads {reads} to keep {keptRows} ({removed}), {nodePercent}% of the statement: an index on it would save little of the whole',
    recursive:
      '{scan} on {relation} reads {reads}, once per level of the recursive CTE {cte}, for its join on {joinKey} to keep {joinRows} ({unmatchedPercent}% unmatched), {nodePercent}% of the statement',
  },
  defaultOptions: {
    /** Tables with fewer rows are never reported; scans that read fewer are reported as info. */
    minRows: 10_000,
    /** Share of the rows read that the filter removes from which an index could help (mild). */
    indexableShare: 2 / 3,
    /** Share removed from which the scan is a clear case. */
    selectiveShare: 0.9,
    /** Share of the statement's cost or time from which an unfiltered scan is noted (info). */
    minNodeShare: 0.4,
    /**
     * Share of the statement's cost or time under which a selective scan run once (the build side
     * of a hash join beside a far larger probe) is context (info): an index on it saves at most that.
     */
    minStatementShare: 0.1,
  },
  check({ query, nodes, sql, params, tree, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const root = query.plan.root;
    const findings: RuleFinding[] = [];
    for (const facts of nodes) {
      const { node, path, parallelDivisor } = facts;
      if (!isSeqScan(node)) continue;
      const relation = relationOf(node);
      const removedActual = node['Rows Removed by Filter'];
      const fallbackRows =
        removedActual !== undefined && node['Actual Rows'] !== undefined
          ? (removedActual + node['Actual Rows']) * parallelDivisor
          : node['Plan Rows'] * parallelDivisor;
      const tableRows = relation ? relationRows(relation) : fallbackRows;
      if (tableRows < options.minRows) continue;
      const read = seqScanRead(facts, query, tableRows, relation, nodes);
      if (read.rows <= 0) continue; // never executed (ANALYZE), or a LIMIT the planner expects to stop it at once
      // Graded on what the scan reads, not on the table's size: a scan that a LIMIT stops after fewer
      // rows than a large table has costs no more than reading a small table.
      const small = read.rows < options.minRows;
      // A kept share that is the planner's default guess (a parameter, an expression without
      // statistics) is no estimate from the data: measured where the plan's shape lets the statement's
      // blocks and rows per call tell it, else said as a guess, and not taken as a fact by advice.
      const guessed = scanGuess(node, parallelDivisor, tableRows);
      const measuredRemoved = guessed ? measuredRemovedShare(facts, nodes, query, read) : undefined;
      const guess = measuredRemoved === undefined ? guessed : undefined;
      const removed = measuredRemoved ?? removedShare(node, parallelDivisor, tableRows, facts.parent);
      const share = nodeShare(node, root, facts.fraction);
      const atLeast = shareIsLowerBound(facts) ? 'at least ' : '';
      // Stale statistics can estimate more rows than the table has.
      const keptRows = Math.round(Math.min(rowsKept(facts), tableRows));
      const keptEstimated = node['Actual Rows'] === undefined;
      // Under ORDER BY ... LIMIT, what the statement keeps of what the scan reads is the LIMIT's rows.
      const topN = topNAbove(facts, nodes, query);
      const returnedRows = topN ? Math.min(keptRows, Math.round(topN.returned)) : keptRows;
      const wasted = topN && read.rows > 0 ? Math.max(removed, 1 - returnedRows / read.rows) : removed;
      const evidence = {
        tableRows: Math.round(tableRows),
        rowsRead: Math.round(read.rows),
        ...(read.basis !== 'counted' && read.stopsEarly ? { plannedRowsRead: Math.round(read.plannedRows) } : {}),
        ...(read.blocksPerCall !== undefined
          ? { sharedBlksPerCall: round(read.blocksPerCall, 1), tableBlocks: read.tableBlocks ?? 0 }
          : {}),
        keptRows,
        ...(topN ? { returnedRows, sortKey: topN.sortKey.join(', ') } : {}),
        removedShare: round(removed, 4),
        ...(measuredRemoved !== undefined
          ? { removedShareBasis: 'measured' }
          : guess
            ? { removedShareBasis: 'default-guess' }
            : {}),
        ...(topN?.returnedBasis ? { returnedRowsBasis: topN.returnedBasis } : {}),
        nodeShare: round(share),
        // Without ANALYZE, a scan in a recursive term is costed for one level of the recursion.
        ...(atLeast ? { nodeShareBound: 'lower' } : {}),
        ...(read.loops > 1 ? { loops: read.loops } : {}),
        ...(node.Filter ? { filter: node.Filter } : {}),
      };
      const name = relation?.name ?? node['Relation Name'] ?? '?';
      const reads = describeRead(read, tableRows);
      const base = {
        relation: name,
        nodePath: formatPath(path),
        evidence,
        data: {
          scan: scanKind(node),
          relation: name,
          reads,
          // The planner's estimate of what the filter keeps is a guess for a parameter or a pattern
          // (said once: a read already given as an estimate says so for the sentence).
          keptRows: `${keptEstimated && !reads.includes('estimated') ? 'an estimated ' : ''}${count(keptRows)}`,
          // Floored near 100% so that "100%" means every row was removed.
          removed: `${percent(removed)}% removed by its filter${guess ? `, by the planner's default guess of ${guessWords(guess)}: not an estimate from the data` : ''}`,
          nodePercent: `${atLeast}${Math.round(share * 100)}`,
        },
      };
      const recursion = recursiveJoin(facts, nodes, read);
      if (recursion && !small && recursion.unmatched >= options.indexableShare) {
        findings.push({
          ...base,
          messageId: 'recursive',
          evidence: {
            ...evidence,
            cte: recursion.cte,
            joinCondition: recursion.condition,
            joinRows: round(recursion.joinRows, 2),
            joinRowsPer: recursion.perLevel ? 'level' : 'call',
            unmatchedShare: round(recursion.unmatched, 4),
          },
          ...(recursion.unmatched < options.selectiveShare ? { level: 'mild' as const } : {}),
          suggestion: recursiveIndex(name, relation, recursion.keys),
          data: {
            ...base.data,
            cte: recursion.cte,
            joinKey: recursion.keys.join(', '),
            joinRows: `${recursion.perLevel ? 'an estimated ' : ''}${count(recursion.joinRows)}${recursion.perLevel ? ' per level' : ''}`,
            unmatchedPercent: percent(recursion.unmatched),
          },
        });
        continue;
      }
      const planNodes = nodes.map((n) => n.node);
      const compared = columnPredicates(
        sql,
        params,
        (t, c) => scansTable(node, t, relation?.partitionOf) && tableHasColumn(relation, planNodes, t, c),
        [...tree],
      ).filter((p) => scansTable(node, p.table, relation?.partitionOf));
      const predicates = compared.filter((p) => !p.join);
      // A join condition in the scan's own filter (a LATERAL subquery, a parameterized scan) is part of
      // the share it keeps, but compares with another table's row: no index on the filter serves it.
      const joinsInFilter = compared.filter(
        (p) =>
          p.join &&
          node.Filter !== undefined &&
          mentions(node.Filter, p.column) &&
          mentions(node.Filter, p.otherText.split('.').pop() ?? p.otherText),
      );
      // A filter on a subquery's result alone (`NOT (hashed SubPlan 1)`, a NOT IN) compares no column
      // an index on this table could serve: the subquery is the problem (not-in-subquery,
      // correlated-subplan), not this scan, which an anti-join would read whole too.
      const subqueryOnly = node.Filter !== undefined && /\bSubPlan \d+/.test(node.Filter) && predicates.length === 0;
      const selective = node.Filter !== undefined && removed >= options.indexableShare && !subqueryOnly;
      if (selective || (topN && wasted >= options.indexableShare)) {
        // A filter that keeps few rows is the problem to name; the sort matters when it throws most away.
        // A filter of pattern searches whose pattern is not known to lead with a literal keeps a
        // share that depends on the pattern: an index in the ORDER BY's order walks the whole table
        // for a rare one, so the index that serves the searches comes first (index-advice.md).
        const patternsOnly =
          predicates.length > 0 &&
          predicates.every((p) => (p.use === 'like' || p.use === 'ilike') && !p.patternAnchored);
        const sortMatters = topN !== undefined && keptRows > 10 * returnedRows && !patternsOnly;
        // A scan run once that is a small part of the statement: whatever an index saves of it is a
        // small part of the whole. A scan run per outer row weighs its cost times its runs, which the
        // plan's cost of one run does not show.
        const minor = !facts.rescanned && read.loops <= 1 && share < options.minStatementShare;
        // An index in the ORDER BY's order that the table has already is no fix: the filter is.
        const suggestion =
          (sortMatters ? suggestTopNIndex(name, relation, predicates, topN.sortKey) : undefined) ??
          suggestIndex(
            name,
            relation,
            predicates,
            {
              tableRows,
              ...(read.stopsEarly ? { plannedRows: read.plannedRows } : {}),
              rowsRead: read.rows,
              basis: read.basis,
              ...(guess ? {} : { keptShare: 1 - removed }),
              counted: !keptEstimated,
              measure: measureWith(query),
            },
            node,
            sql,
            joinsInFilter,
          );
        findings.push({
          ...base,
          messageId: minor ? 'minor' : sortMatters && removed < options.selectiveShare ? 'topN' : 'selective',
          ...(small || minor
            ? { level: 'note' as const }
            : wasted < options.selectiveShare
              ? { level: 'mild' as const }
              : {}),
          ...(suggestion ? { suggestion } : {}),
          ...(!minor && sortMatters && removed < options.selectiveShare
            ? {
                data: {
                  ...base.data,
                  returnedRows: count(returnedRows),
                  sortKey: topN.sortKey.join(', '),
                  kept: node.Filter !== undefined ? ` and keeps ${base.data.keptRows} (${base.data.removed})` : '',
                  returnedBasis:
                    topN.returnedBasis === 'measured'
                      ? ' (measured rows per call: the LIMIT is a parameter, which the generic plan takes as a tenth of its input)'
                      : topN.returnedBasis === 'guessed'
                        ? " (the generic plan's guess for a LIMIT whose value it does not know: a tenth of its input)"
                        : '',
                },
              }
            : {}),
        });
      } else if (share >= options.minNodeShare && !small) {
        findings.push({ ...base, messageId: 'full', level: 'note' });
      }
    }
    return findings;
  },
});

const count = (n: number) => Math.round(n).toLocaleString('en-US');
/** Floored near 100% so that "100%" means all of it. */
const percent = (share: number) => (share >= 0.99 ? Math.floor(share * 10000) / 100 : Math.round(share * 1000) / 10);

/** Nodes that pass a scan's rows on to a join unchanged (a Hash builds its table from them). */
const TO_JOIN = new Set(['Gather', 'Gather Merge', 'Result', 'Subquery Scan', 'Hash', 'Materialize', 'Sort']);
const JOIN_CONDITIONS = ['Hash Cond', 'Merge Cond', 'Join Filter'] as const;

/** A scan in a recursive term joined with the rows of the previous level (the WorkTable Scan). */
interface RecursiveJoin {
  readonly cte: string;
  readonly condition: string;
  /** The scan's columns in the join condition: what an index would look the previous level's rows up by. */
  readonly keys: readonly string[];
  /** Rows the join keeps: counted over all levels with ANALYZE, else the planner's per level. */
  readonly joinRows: number;
  readonly perLevel: boolean;
  /** The share of the rows the scan reads that the join finds no match for, 0..1. */
  readonly unmatched: number;
}

/**
 * For a scan in the recursive term of a `WITH RECURSIVE`, whose rows go (through nodes that pass them
 * on) into a join with the previous level's rows: the join, and how much of what the scan reads it
 * keeps. The scan reads the whole table on every level to find the rows that join with a few: an
 * index on its join columns would look them up instead.
 */
function recursiveJoin(
  facts: PlanNodeFacts,
  nodes: readonly PlanNodeFacts[],
  read: ScanRead,
): RecursiveJoin | undefined {
  if (!facts.recursive) return undefined;
  const parentOf = new Map(nodes.map((n) => [n.node, n.parent]));
  let child: PlanNode = facts.node;
  let join = facts.parent;
  while (join && TO_JOIN.has(join['Node Type']) && join.Filter === undefined)
    [child, join] = [join, parentOf.get(join)];
  if (!join || !(join.Plans ?? []).includes(child)) return undefined;
  const other = (join.Plans ?? []).find((p) => p !== child);
  const workTable = other ? findNode(other, (n) => n['Node Type'] === 'WorkTable Scan') : undefined;
  const condition = JOIN_CONDITIONS.map((k) => join[k]).find((c): c is string => typeof c === 'string');
  if (!workTable || !condition) return undefined;
  const alias = String(facts.node.Alias ?? facts.node['Relation Name'] ?? '');
  const keys = [
    ...new Set(
      conditionColumns(condition)
        .filter((c) => c.qualifier === alias)
        .map((c) => c.column),
    ),
  ];
  if (keys.length === 0) return undefined;
  const counted = actualRows(join, parentOf.get(join));
  const joinRows = counted ?? join['Plan Rows'];
  // Per level without ANALYZE: the join's estimate and the scan's read are both the planner's for one.
  const readRows = counted !== undefined ? read.rows : read.plannedRows;
  if (!(readRows > 0)) return undefined;
  return {
    cte: String(workTable['CTE Name'] ?? '?'),
    condition,
    keys,
    joinRows,
    perLevel: counted === undefined,
    unmatched: Math.max(0, 1 - joinRows / readRows),
  };
}

function findNode(root: PlanNode, test: (node: PlanNode) => boolean): PlanNode | undefined {
  if (test(root)) return root;
  for (const child of root.Plans ?? []) {
    const found = findNode(child, test);
    if (found) return found;
  }
  return undefined;
}

/** An index on the scan's join columns; when one leads with them, the planner chose the scan over it. */
function recursiveIndex(name: string, relation: RelationInfo | undefined, keys: readonly string[]): string {
  const existing = relation ? btreeLeadingWith(relation, keys) : undefined;
  if (existing)
    return `the index ${existing.name} already leads with ${keys.join(', ')}, and the planner chose this scan over it: it expects each level to match too many rows for the index to pay off; check the row estimates of the recursive term with --analyze`;
  return proposeIndexSql(name, keys.map(quoteIdentifier), {
    note: "the recursive term looks up the previous level's rows by it, once per level",
  });
}

/** "all 30,000 rows of the table", "an estimated 4,000 of the table's 300,000 rows (...)", ... */
function describeRead(read: ScanRead, tableRows: number): string {
  if (read.loops > 1)
    return `${count(read.rows)} rows in ${count(read.loops)} scans of the ${count(tableRows)}-row table`;
  const all = read.rows >= tableRows * 0.9;
  const rows = all
    ? `all ${count(tableRows)} rows of the table`
    : `${count(read.rows)} of the table's ${count(tableRows)} rows`;
  switch (read.basis) {
    case 'counted':
      return rows;
    case 'measured':
      return `${all ? '' : 'about '}${rows} (measured: ${count(read.blocksPerCall ?? 0)} of its ${count(read.tableBlocks ?? 0)} blocks per call; the planner estimated ${count(read.plannedRows)} under the LIMIT)`;
    case 'planned':
      return read.stopsEarly && !all ? `an estimated ${rows} (the LIMIT stops it early)` : rows;
  }
}

/**
 * An index on the bare columns the filter compares (equality columns first, then one range column),
 * marked as not validated: index advice judges it on the planner. When an index already leads with
 * those columns, the planner chose the scan over it, and another index is no fix.
 */
function suggestIndex(
  name: string,
  relation: RelationInfo | undefined,
  predicates: ReturnType<typeof columnPredicates>,
  /** What the plan tells of the scan: why the planner may have chosen it over an index. */
  choice: ScanChoice,
  /** The scan, whose conditions name the predicates' expressions as the report keys them. */
  scan: PlanNode,
  /** The statement, for a condition a generated column holds (written on the column instead). */
  sql: string,
  /** Join conditions in the scan's filter: they keep part of the share, and no index here serves them. */
  joins: readonly ColumnPredicate[] = [],
): string | undefined {
  // Undefined when the planner's estimate of the filter is a default guess.
  const keptShare = choice.keptShare;
  const counted = choice.counted;
  const measure = choice.measure ?? 'with --analyze';
  const bare = predicates.filter((p) => p.wrapper === 'column' && !p.alternative);
  const equality = [...new Set(bare.filter((p) => p.use === 'equality' || p.use === 'in').map((p) => p.column))];
  const range = [
    ...new Set(bare.filter((p) => p.use === 'range' || (p.use === 'like' && p.patternAnchored)).map((p) => p.column)),
  ].filter((c) => !equality.includes(c));
  const keys = [...equality.slice(0, 2), ...range.slice(0, 1)].slice(0, 3);
  const unservable = predicates.filter((p) => problemOf(p) !== undefined);
  const wrapped = [...new Set(unservable.map((p) => p.text))];
  const note = wrapped.length ? `a plain B-tree cannot serve ${wrapped.join(', ')}` : '';
  const existing = relation && keys.length > 0 ? btreeLeadingWith(relation, keys) : undefined;
  if (existing)
    return chosenOverIndex(existing.name, keys, predicates, {
      keptShare: keptShare === undefined ? undefined : servedShare(keptShare, joins, relation),
      counted,
      measure,
      joins: [...new Set(joins.map((p) => `${p.text} = ${p.otherText}`))],
    });
  if (keys.length > 0) return proposeIndexSql(name, keys.map(quoteIdentifier), note ? { note } : {});
  const alternatives = orIndexes(name, relation, predicates);
  if (alternatives) return alternatives;
  const gin = containmentIndex(name, relation, predicates);
  if (gin) return gin;
  // The filter computes what a stored generated column holds: the column has an index, statistics.
  const rewrite = relation ? generatedColumnRewrite(sql, relation) : undefined;
  if (rewrite && relation) return generatedColumnFix(rewrite, relation);
  const search = textSearchIndex(name, relation, scan);
  if (search) return search;
  const first = unservable[0];
  // An index that serves it exists (a trigram index for a wildcard search, an index on the
  // expression): the planner chose the scan over it, and another one like it is no fix.
  const serving = first && relation ? servingIndex(relation, first) : undefined;
  if (first && serving) return existingIndexFix(serving, servedText(first), choice);
  if (first) {
    const indexed = relation !== undefined && rangeIndexLeadingWith(relation, first.column) !== undefined;
    const columnType = relation?.columnTypes?.[first.column];
    const expression = predicateVerdict(scan, first, relation);
    return predicateFix(first, name, problemOf(first)!, {
      indexed,
      ...(columnType ? { columnType } : {}),
      ...(expression ? { expression } : {}),
    });
  }
  return undefined;
}

/** A kept share from which a B-tree rarely beats a sequential scan (random reads cost 4x sequential). */
const WIDE_FILTER = 0.05;

/** A valid index of the relation that serves what no plain B-tree on the column can. */
function servingIndex(relation: RelationInfo, p: ColumnPredicate): IndexInfo | undefined {
  switch (problemOf(p)) {
    case 'leadingWildcard':
    case 'ilike':
      return p.wrapper === 'column' ? trigramIndexFor(relation, p.column) : undefined;
    case 'function':
    case 'cast':
    case 'expression':
      return expressionIndexFor(relation, p);
    default:
      return undefined;
  }
}

/** The predicate as the statement writes it: `name LIKE '%00%'`, `lower(email)`. */
function servedText(p: ColumnPredicate): string {
  if (p.use !== 'like' && p.use !== 'ilike') return p.text;
  const pattern = p.otherValue !== undefined ? `'${p.otherValue.replace(/'/g, "''")}'` : p.otherText;
  return `${p.text} ${p.use === 'ilike' ? 'ILIKE' : 'LIKE'} ${pattern}`;
}

/**
 * Why the planner scans although an index leads with the filter's columns, saying what each share
 * measures: the share the filter keeps is that of the whole filter, while the index serves only its
 * leading columns. When the rest of the filter (other columns, a wildcard search, a function) is
 * what keeps few rows, the planner judged the index's own condition to match too many.
 */
function chosenOverIndex(
  index: string,
  keys: readonly string[],
  predicates: readonly ColumnPredicate[],
  share: {
    /** Of the conditions the index can serve (join conditions left out); undefined when unknown. */
    readonly keptShare: number | undefined;
    readonly counted: boolean;
    readonly measure: string;
    /** Join conditions of the filter, as written. */
    readonly joins: readonly string[];
  },
): string {
  const { keptShare, counted, measure, joins } = share;
  const served = keys.join(', ');
  const rest = [
    ...new Set(predicates.filter((p) => p.wrapper !== 'column' || !keys.includes(p.column)).map((p) => p.text)),
  ];
  const check = checkEstimates(counted, measure);
  const basis = joins.length > 0 ? "by the table's statistics " : counted ? '' : "by the planner's estimate ";
  const whole = joins.length > 0 ? 'the filter without its join condition' : 'the whole filter';
  const kept = keptShare === undefined ? undefined : `${basis}${whole} keeps ${percentOf(keptShare)} of the rows`;
  const join =
    joins.length > 0 ? `the join condition ${joins.join(', ')}, which compares with another table's column` : undefined;
  const start = `the index ${index} already leads with ${served}, and the planner chose this scan over it`;
  if (rest.length > 0 || (join && kept === undefined)) {
    const unserved = [...(rest.length > 0 ? [`the conditions on ${rest.join(', ')}`] : []), ...(join ? [join] : [])];
    return `${start}: it expects the condition on ${served} alone, all that the index serves, to match too many rows for the index to pay off; ${kept ? `${kept}, with` : 'the filter has'} ${unserved.join(', and ')}, which the index does not serve: reduce the rows read, or ${check}`;
  }
  const left = join ? ` (${join}, which the index does not serve, left out)` : '';
  if (keptShare !== undefined && keptShare >= WIDE_FILTER)
    return `${start}: ${kept}${left}, too many for the index to pay off: reduce the rows read, or ${check}`;
  const although = kept === undefined ? '' : `, although ${kept}${left}`;
  return `${start}${although}: ${check}, and that the comparison can use the index (the same type and collation as the column)`;
}

const percentOf = (share: number) =>
  share >= 0.01 ? `~${Math.round(share * 100)}%` : share >= 0.001 ? `~${Math.round(share * 1000) / 10}%` : 'under 0.1%';

/**
 * The share of the rows the filter keeps without its join conditions: each equality with another
 * table's column is taken to keep one value of the column's (`pg_stats.n_distinct`), independently
 * of the rest, as the planner takes it. Undefined when a joined column has no statistics, or a join
 * condition is not an equality.
 */
function servedShare(
  keptShare: number,
  joins: readonly ColumnPredicate[],
  relation: RelationInfo | undefined,
): number | undefined {
  let share = keptShare;
  for (const column of new Set(joins.map((p) => p.column))) {
    if (joins.some((p) => p.column === column && p.use !== 'equality')) return undefined;
    const n = relation?.nDistinct?.[column];
    if (!relation || n === undefined || n === 0) return undefined;
    share *= n > 0 ? n : -n * Math.max(1, relationRows(relation));
  }
  return Math.min(1, share);
}

/** Whether a plan condition names the column (as a whole word). */
function mentions(condition: string, column: string): boolean {
  return new RegExp(`(^|[^\\w.])(\\w+\\.)?"?${column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?($|[^\\w])`).test(
    condition,
  );
}

/**
 * For ORDER BY ... LIMIT over a scan: a B-tree on the equality columns of the filter, then the sort
 * keys in their order and direction, returns the rows in order and lets the LIMIT stop after the
 * first. A random order has no index: it is sampled instead.
 */
function suggestTopNIndex(
  name: string,
  relation: RelationInfo | undefined,
  predicates: ReturnType<typeof columnPredicates>,
  sortKey: readonly string[],
): string | undefined {
  if (sortKey.some((k) => /\brandom\s*\(/i.test(k)))
    return 'ORDER BY random() reads and sorts every row to pick a few, and no index can serve it: sample instead (TABLESAMPLE SYSTEM, or start from a random key: WHERE id >= a random id ORDER BY id LIMIT n)';
  const keys: string[] = [];
  const columns: string[] = [];
  for (const text of sortKey) {
    const key = parseSortKey(text);
    if (!key) return undefined;
    const direction = key.descending ? ' DESC' : '';
    keys.push(
      key.column ? `${quoteIdentifier(key.column.column)}${direction}` : `(${key.expression?.sql})${direction}`,
    );
    if (key.column) columns.push(key.column.column);
  }
  const equality = [
    ...new Set(
      predicates
        .filter((p) => p.wrapper === 'column' && !p.alternative && p.use === 'equality')
        .map((p) => p.column)
        .filter((c) => !sortKey.some((k) => parseSortKey(k)?.column?.column === c)),
    ),
  ];
  // The table has an index in that order already (the primary key for ORDER BY id): the planner
  // chose the scan over it, and the filter is what an index must serve.
  if (relation && equality.length === 0 && columns.length === keys.length && btreeLeadingWith(relation, columns))
    return undefined;
  return proposeIndexSql(name, [...equality.slice(0, 2).map(quoteIdentifier), ...keys].slice(0, 4), {
    note: 'rows come out of the index in the ORDER BY order, so the scan stops after the LIMIT',
  });
}

/**
 * A GIN index for a full-text search (`document @@ query`) on a tsvector column or on the expression
 * that computes the document, which no B-tree serves; undefined when the scan has none, or when the
 * table has such an index already.
 */
function textSearchIndex(name: string, relation: RelationInfo | undefined, scan: PlanNode): string | undefined {
  for (const p of parseCondition(scan.Filter ?? '')) {
    if (p.kind !== 'textSearch') continue;
    if (p.column) {
      const column = p.column.column;
      if (relation?.columnTypes?.[column] !== 'tsvector') continue;
      if (relation.indexes.some((i) => i.valid && !i.partial && i.method === 'gin' && i.columns[0] === column))
        continue;
      return proposeIndexSql(name, [quoteIdentifier(column)], { using: 'gin' });
    }
    if (!p.expression) continue;
    const held = relation?.indexes.some(
      (i) =>
        i.valid &&
        !i.partial &&
        i.method === 'gin' &&
        i.expressions.some((e) => sameExpressionText(e, p.expression!.sql)),
    );
    if (held) continue;
    return proposeIndexSql(name, [`(${p.expression.sql})`], { using: 'gin' });
  }
  return undefined;
}

/**
 * For a filter that is an OR (`a = 1 OR b = 2`): a composite index serves no alternative alone, but
 * one index per alternative lets the planner combine them (BitmapOr). Proposes an index on an
 * alternative's column that no index leads with.
 */
function orIndexes(
  name: string,
  relation: RelationInfo | undefined,
  predicates: ReturnType<typeof columnPredicates>,
): string | undefined {
  const servable = (p: (typeof predicates)[number]) =>
    p.alternative &&
    p.wrapper === 'column' &&
    (p.use === 'equality' || p.use === 'in' || p.use === 'range' || p.use === 'like' || p.use === 'ilike');
  // A pattern that a B-tree cannot serve (ILIKE, a wildcard first or a pattern unknown when planning)
  // needs a trigram index; the alternatives' indexes are combined the same way.
  const trigram = (p: ColumnPredicate) => (p.use === 'like' || p.use === 'ilike') && problemOf(p) !== undefined;
  const keys = new Map<string, { trigram: boolean }>();
  for (const p of predicates.filter(servable)) {
    const entry = keys.get(p.column);
    keys.set(p.column, { trigram: (entry?.trigram ?? false) || trigram(p) });
  }
  const missing = [...keys].filter(
    ([c, k]) => !relation || !(k.trigram ? trigramIndexFor(relation, c) : btreeLeadingWith(relation, [c])),
  );
  if (missing.length === 0) return undefined;
  // One CREATE INDEX per alternative, the marker and note after the last.
  const creates = missing.map(([c, k]) =>
    (k.trigram
      ? proposeIndexSql(name, [`${quoteIdentifier(c)} gin_trgm_ops`], { using: 'gin' })
      : proposeIndexSql(name, [quoteIdentifier(c)])
    ).replace(/ -- .*$/, ''),
  );
  const extension = missing.some(([, k]) => k.trigram) ? 'CREATE EXTENSION IF NOT EXISTS pg_trgm; ' : '';
  return `${extension}${creates.join(' ')} ${NOT_VALIDATED}; the filter is an OR: each alternative needs an index of its own, so that the planner can combine them (BitmapOr); a composite index serves none of them alone`;
}

/**
 * A GIN index for a jsonb or array operator on a bare column (`attributes @> $1`, `tags && $1`),
 * which no B-tree serves; the column's type (from the report) picks the operator class. Undefined
 * when there is none, or when a GIN index on the column exists already (the planner chose the scan
 * over it).
 */
function containmentIndex(
  name: string,
  relation: RelationInfo | undefined,
  predicates: readonly ColumnPredicate[],
): string | undefined {
  const byColumn = new Map<string, GinOperatorClass[]>();
  for (const p of predicates) {
    if (p.use !== 'containment' || p.wrapper !== 'column' || p.alternative || !p.operator) continue;
    const opclass = ginOperatorClass(p.operator, relation?.columnTypes?.[p.column]);
    if (opclass) byColumn.set(p.column, [...(byColumn.get(p.column) ?? []), opclass]);
  }
  for (const [column, classes] of byColumn) {
    const opclass = combineGinClasses(classes)!;
    if (relation && ginIndexFor(relation, column, opclass)) continue;
    return proposeIndexSql(name, [ginKey(column, opclass)], { using: 'gin' });
  }
  return undefined;
}
