/**
 * non-sargable-predicate: a predicate on an indexed column written so that the index cannot serve it
 * (a function, cast or arithmetic around the column, a leading-wildcard LIKE, ILIKE on a btree
 * column). Found in the parse tree, checked against the relation's index definitions, and confirmed
 * by the plan: only reported when the relation was read in full, by a sequential scan or by a walk of
 * a whole index (an Index Only Scan with a Filter and no Index Cond), whose filter removes most rows,
 * i.e. when the index would have been worth using as a lookup.
 */
import {
  columnPredicates,
  expressionIndexFor,
  identifiersIn,
  indexesLeadingWith,
  patternIndexFor,
  scansTable,
  tableHasColumn,
  trigramIndexFor,
  type ColumnPredicate,
} from '../analyze/column-predicates.js';
import { scanGuess } from '../analyze/default-guess.js';
import { predicateVerdict } from '../analyze/expression-refusal.js';
import { formatPath } from '../analyze/plan.js';
import {
  isIndexWalk,
  isSeqScan,
  isTrivial,
  measuredRemovedShare,
  relationRows,
  removedShare,
  round,
  scanKind,
  seqScanRead,
  type ScanRead,
} from '../analyze/plan-facts.js';
import type { PlanNodeFacts } from '../analyze/plan-facts.js';
import type { PlanNode } from '../model/plan.js';
import type { IndexInfo, RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';
import { predicateFix, type Problem } from './shared/predicate-fix.js';

export default defineRule({
  id: 'non-sargable-predicate',
  severity: 'error',
  category: 'predicate',
  description:
    'A predicate wraps an indexed column in a function, cast or leading wildcard, so the index cannot be used.',
  messages: {
    function:
      '{expression} wraps {column} in {function}(), so the index {index} on {column} cannot serve it: {scan} reads {reads}{pruning}',
    cast: '{expression} casts {column} to {type}, so the index {index} on {column} cannot serve it: {scan} reads {reads}{pruning}',
    expression:
      '{expression} computes on {column}, so the index {index} on {column} cannot serve it: {scan} reads {reads}{pruning}',
    leadingWildcard:
      "{expression} LIKE '{pattern}' starts with a wildcard, so the btree index {index} on {column} cannot serve it: {scan} reads {reads}{pruning}",
    ilike: 'ILIKE on {column} cannot use the btree index {index}: {scan} reads {reads}{pruning}',
    likeCollation:
      "LIKE '{pattern}' on {column} cannot use the index {index}, whose collation does not support prefix matching: {scan} reads {reads}{pruning}",
  },
  defaultOptions: {
    /** Tables with fewer rows are never reported; scans that read fewer are reported as info. */
    minRows: 10_000,
    /** Share of the rows read that the scan's filter must remove for an index to be worth it. */
    indexableShare: 2 / 3,
  },
  // The rewrite lets the column's index serve the predicate: a new index is the alternative.
  firstFix: 'rewrite',
  check({ query, nodes, sql, params, tree, relation: relation_, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const planNodes = nodes.map((n) => n.node);
    // A predicate the index cannot serve still lets the planner walk the whole index when that is
    // cheaper than the table (`count(*)` over an Index Only Scan whose Filter holds the cast): the
    // same full read, only of the index.
    const seqScans = nodes.filter((n) => isSeqScan(n.node) || isIndexWalk(n.node));
    if (seqScans.length === 0) return [];
    const relationFor = (table: { table: string; alias?: string }) => {
      const scan = planNodes.find((n) => scansTable(n, table, relationOf(n)?.partitionOf));
      return scan ? relationOf(scan) : undefined;
    };
    const predicates = columnPredicates(sql, params, (t, c) => tableHasColumn(relationFor(t), planNodes, t, c), [
      ...tree,
    ]);
    const findings: RuleFinding[] = [];
    const seen = new Set<string>();
    for (const predicate of predicates) {
      // Every full read of the table: one per partition of a partitioned table, which the engine
      // makes one finding about the table. None: the relation was read through an index, and the
      // predicate is a residual filter.
      const scans = seqScans.filter(
        (s) =>
          scansTable(s.node, predicate.table, relationOf(s.node)?.partitionOf) &&
          (isSeqScan(s.node) || identifiersIn(s.node.Filter as string | undefined).has(predicate.column)),
      );
      for (const scan of scans) {
        const relation = relationOf(scan.node);
        if (!relation) continue;
        const tableRows = relationRows(relation);
        if (tableRows < options.minRows) continue;
        const read = seqScanRead(scan, query, tableRows, relation, nodes);
        if (read.rows <= 0) continue; // never executed
        // The planner's default guess for the filter (a third for an inequality on a parameter or an
        // expression without statistics) is no estimate: what the statement measurably read and
        // returned per call tells the share, where the plan's shape lets it.
        const guessed = scanGuess(scan.node, scan.parallelDivisor, tableRows) !== undefined;
        const measured = guessed ? measuredRemovedShare(scan, nodes, query, read) : undefined;
        const removed = measured ?? removedShare(scan.node, scan.parallelDivisor, tableRows);
        if (removed < options.indexableShare) continue; // most rows match: a sequential scan is right
        const diagnosis = diagnose(predicate, relation);
        if (!diagnosis) continue;
        const key = `${relation.name}:${predicate.text}:${diagnosis.problem}`;
        if (seen.has(key)) continue;
        seen.add(key);
        // The scan's filter is selective, but a range (`created_at::date > ...`) may match most rows
        // while another predicate on the table does the filtering: then it is a milder case.
        const others = predicates.filter(
          (q) =>
            q !== predicate &&
            !q.join &&
            scansTable(scan.node, q.table, relation.partitionOf) &&
            q.text !== predicate.text,
        );
        // The partition key wrapped in a function or cast: the planner cannot prune partitions by it.
        const pruning = unprunedPartitions(predicate, scan, relation, relation_, nodes);
        const mild = predicate.use === 'range' && others.length > 0 && pruning === undefined;
        // A LIMIT that stops the scan before it has read a large table's worth of rows: context only.
        const small = read.rows < options.minRows;
        findings.push({
          messageId: diagnosis.problem,
          ...(small ? { level: 'note' as const } : mild ? { level: 'mild' as const } : {}),
          relation: relation.name,
          nodePath: formatPath(scan.path),
          evidence: {
            column: predicate.column,
            expression: predicate.text,
            index: diagnosis.index.name,
            tableRows: Math.round(tableRows),
            rowsRead: Math.round(read.rows),
            removedShare: round(removed, 4),
            ...(measured !== undefined
              ? { removedShareBasis: 'measured' }
              : guessed
                ? { removedShareBasis: 'default-guess' }
                : {}),
            ...(pruning ? { partitionsNotPruned: pruning.scanned } : {}),
          },
          data: {
            scan: isSeqScan(scan.node)
              ? scanKind(scan.node)
              : `${scanKind(scan.node)} using ${String(scan.node['Index Name'])} (no Index Cond: a walk of the whole index)`,
            relation: relation.name,
            reads: describeRead(read, tableRows, relation.name),
            function: predicate.wrapperName ?? 'a function',
            type: predicate.wrapperName ?? 'another type',
            pattern: predicate.otherValue ?? '',
            pruning: pruning
              ? `; and the planner cannot prune the partitions of ${pruning.parent} by it (${predicate.column} is its partition key): it scans all ${count(pruning.scanned)}, where a comparison on ${predicate.column} itself reads only the partitions its bounds reach`
              : '',
          },
          suggestion: predicateFix(predicate, relation.name, diagnosis.problem, {
            ...(relation.columnTypes?.[predicate.column] ? { columnType: relation.columnTypes[predicate.column] } : {}),
            ...verdictOf(scan.node, predicate, relation),
          }),
        });
      }
    }
    return findings;
  },
});

const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** "all 1,000,000 rows of shop.orders", "an estimated 4,000 of the 300,000 rows of inv.accounts (...)" */
function describeRead(read: ScanRead, tableRows: number, relation: string): string {
  if (read.loops > 1) return `${count(read.rows)} rows of ${relation} in ${count(read.loops)} scans`;
  if (read.rows >= tableRows * 0.9) return `all ${count(tableRows)} rows of ${relation}`;
  const rows = `${count(read.rows)} of the ${count(tableRows)} rows of ${relation}`;
  if (read.basis === 'measured')
    return `about ${rows} (measured: ${count(read.blocksPerCall ?? 0)} of its ${count(read.tableBlocks ?? 0)} blocks per call)`;
  if (read.basis === 'planned') return `an estimated ${rows} (the LIMIT stops it early)`;
  return rows;
}

/** What keeps the index from serving the predicate, and which index that is; undefined if nothing. */
function diagnose(p: ColumnPredicate, relation: RelationInfo): { problem: Problem; index: IndexInfo } | undefined {
  if (p.join || p.use === 'containment') return undefined; // no B-tree serves @>, &&, ?: a GIN index does
  const btree = indexesLeadingWith(relation, p.column).filter((i) => i.method === 'btree');
  const index = btree[0];
  if (!index) return undefined; // no index on the column: seq-scan-large-table's case, not this rule's
  if (p.wrapper === 'column') {
    if (p.use === 'ilike') return trigramIndexFor(relation, p.column) ? undefined : { problem: 'ilike', index };
    if (p.use === 'like' && p.leadingWildcard)
      return trigramIndexFor(relation, p.column) ? undefined : { problem: 'leadingWildcard', index };
    if (p.use === 'like' && p.otherValue !== undefined && !patternIndexFor(relation, p.column))
      return { problem: 'likeCollation', index };
    return undefined;
  }
  if (expressionIndexFor(relation, p)) return undefined;
  if ((p.use === 'like' || p.use === 'ilike') && p.leadingWildcard) return { problem: 'leadingWildcard', index };
  if (p.wrapper === 'function') return { problem: 'function', index };
  if (p.wrapper === 'cast') return { problem: 'cast', index };
  if (p.wrapper === 'expression') return { problem: 'expression', index };
  return undefined;
}

/** `{ expression }`: whether the report says PostgreSQL can index the predicate's expression. */
function verdictOf(scan: PlanNode, predicate: ColumnPredicate, relation: RelationInfo) {
  const expression = predicateVerdict(scan, predicate, relation);
  return expression ? { expression } : {};
}

/**
 * The partitions a scan's Append reads when `predicate` wraps a column of the partition key (a cast
 * or function the planner cannot prune by) and none was pruned: every partition of the table is
 * scanned. Undefined otherwise (the column is no key column, or pruning excluded some by another
 * predicate).
 */
function unprunedPartitions(
  predicate: ColumnPredicate,
  scan: PlanNodeFacts,
  partition: RelationInfo,
  relation: (name: string | undefined) => RelationInfo | undefined,
  nodes: readonly PlanNodeFacts[],
): { parent: string; scanned: number } | undefined {
  if (predicate.wrapper === 'column' || predicate.join || predicate.alternative) return undefined;
  if (predicate.use !== 'equality' && predicate.use !== 'range' && predicate.use !== 'in') return undefined;
  const parent = relation(partition.partitionOf);
  if (!parent?.partitionKey?.includes(predicate.column) || !parent.partitionCount) return undefined;
  if (!scan.parent) return undefined;
  const scanned = new Set(
    nodes
      .filter((n) => n.parent === scan.parent && n.node['Relation Name'] !== undefined)
      .map((n) => relation(n.node.Schema ? `${n.node.Schema}.${n.node['Relation Name']}` : n.node['Relation Name']))
      .filter((r) => r?.partitionOf === parent.name)
      .map((r) => r!.name),
  ).size;
  // Partitions run-time pruning removed are not in the plan (`Subplans Removed`).
  const removed = Number(scan.parent['Subplans Removed'] ?? 0);
  return scanned > 1 && removed === 0 && scanned >= parent.partitionCount
    ? { parent: parent.name, scanned }
    : undefined;
}
