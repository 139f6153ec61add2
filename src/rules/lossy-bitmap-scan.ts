/**
 * lossy-bitmap-scan: a bitmap heap scan that reads most of a large table's blocks through an index
 * and throws most of their rows away in its recheck. The plan shows an index, but the read is a
 * sequential scan's: a BRIN index whose block ranges match everything (never summarized after a
 * bulk load, or a column that does not follow the table's physical order), or a bitmap that outgrew
 * work_mem and went lossy, so every row of its blocks is rechecked. Graded on the heap blocks and
 * the rows removed by the index recheck that EXPLAIN ANALYZE counts, or, without it, on the shared
 * blocks per call the statement touched when this scan is the only relation the plan reads,
 * against the table's blocks and the rows the planner expects the scan to return.
 */
import { btreeLeadingWith, proposeIndexSql } from '../analyze/column-predicates.js';
import { measureWith } from '../analyze/measure.js';
import { quoteIdentifier } from '../analyze/parser.js';
import { formatPath, inputsOf } from '../analyze/plan.js';
import { isTrivial, relationRows, round, rowsKept, scanKind, type PlanNodeFacts } from '../analyze/plan-facts.js';
import { suggestedWorkMem } from '../analyze/spill.js';
import type { PlanNode } from '../model/plan.js';
import type { IndexInfo, RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'lossy-bitmap-scan',
  severity: 'error',
  category: 'scan',
  description:
    'A bitmap scan reads most blocks of a large table through an index that does not narrow them, and its recheck throws most of their rows away.',
  messages: {
    counted:
      '{scan} on {relation} reads {blocksRead} through {index} to keep {keptRows} of the {rowsRead} rows on them ({removedPercent}% removed by the index recheck{lossy})',
    measured:
      "{scan} on {relation} through {index} touches {blocks} shared blocks per call, {blockPercent}% of the table's {tableBlocks}, to return an estimated {keptRows} of its {tableRows} rows",
  },
  defaultOptions: {
    /** Tables with fewer rows are never reported. */
    minRows: 10_000,
    /** Share of the table's blocks a scan reads from which it is reported. */
    minBlockShare: 0.5,
    /** Blocks a scan reads per call (its heap blocks with --analyze) under which it is never reported. */
    minBlocks: 1_000,
    /** Share of the rows read that the recheck removes from which the scan is reported (one step milder). */
    indexableShare: 2 / 3,
    /** Share removed from which it is a clear case. */
    selectiveShare: 0.9,
  },
  check({ query, nodes, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const findings: RuleFinding[] = [];
    for (const facts of nodes) {
      const { node, path } = facts;
      if (node['Node Type'] !== 'Bitmap Heap Scan') continue;
      const relation = relationOf(node);
      const tableRows = relation ? relationRows(relation) : 0;
      if (!relation || tableRows < options.minRows || relation.pages <= 0) continue;
      // The bitmap's own index scans (and the BitmapAnd/BitmapOr over them), not the subplans that
      // EXPLAIN nests under the scan because its target list or filter runs them.
      const inputs = inputsOf(node);
      const below = nodes.filter((n) => n.node !== node && inputs.has(n.node));
      const indexes = below
        .map((n) => n.node['Index Name'])
        .filter((name): name is string => typeof name === 'string')
        .map((name) => relation.indexes.find((i) => i.name === name) ?? { name, method: undefined });
      if (indexes.length === 0) continue;
      const brin = indexes.find((i): i is IndexInfo => i.method === 'brin');
      const names = indexes.map((i) => i.name);
      const indexText = brin
        ? `the BRIN index ${brin.name}`
        : names.length === 1
          ? names[0]!
          : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
      const base = {
        relation: relation.name,
        nodePath: formatPath(path),
      };
      const data = {
        scan: scanKind(node),
        relation: relation.name,
        index: indexText,
        tableBlocks: count(relation.pages),
      };

      const read = countedRead(facts);
      if (read) {
        const rowsRead = read.kept + read.recheckRemoved + read.filterRemoved;
        const removed = rowsRead > 0 ? read.recheckRemoved / rowsRead : 0;
        const blockShare = read.heapBlocks / relation.pages;
        if (read.heapBlocks * read.runs < options.minBlocks) continue;
        if (blockShare < options.minBlockShare || removed < options.indexableShare) continue;
        const cause = suggest(relation, brin, {
          blockShare,
          counted: read,
          workMemKb: query.plan.settings?.workMemKb,
          measure: measureWith(query),
        });
        findings.push({
          ...base,
          messageId: 'counted',
          ...(removed < options.selectiveShare ? { level: 'mild' as const } : {}),
          evidence: {
            tableRows: Math.round(tableRows),
            tableBlocks: relation.pages,
            heapBlocks: Math.round(read.heapBlocks),
            ...(read.lossyBlocks > 0 ? { lossyBlocks: Math.round(read.lossyBlocks) } : {}),
            blockShare: round(Math.min(1, blockShare)),
            rowsRead: Math.round(rowsRead),
            keptRows: Math.round(read.kept),
            removedShare: round(removed, 4),
            ...(read.runs > 1 ? { loops: read.runs } : {}),
            ...cause.evidence,
          },
          data: {
            ...data,
            blocksRead:
              read.heapBlocks >= relation.pages
                ? `all ${count(relation.pages)} blocks of the table`
                : `${count(read.heapBlocks)} of the table's ${count(relation.pages)} blocks (${Math.round(blockShare * 100)}%)`,
            keptRows: count(read.kept),
            rowsRead: count(rowsRead),
            removedPercent: percentRemoved(removed),
            lossy:
              !brin && read.lossyBlocks > 0
                ? `: ${count(read.lossyBlocks)} of the blocks were lossy, every row on them rechecked`
                : '',
          },
          suggestion: cause.text,
        });
        continue;
      }

      // Without ANALYZE the statement's shared blocks per call measure this scan only when no other
      // relation or index is read (the bitmap's own index scans aside; a subplan under the scan
      // reads its own relations, and its blocks count in the statement's). A filter that throws rows
      // away is index-scan-filter's finding, unless the index is a BRIN index, whose ranges are
      // what the blocks measure.
      if (!brin && node.Filter !== undefined) continue;
      const onlyReader = nodes.every(
        (n) =>
          n.node === node ||
          below.includes(n) ||
          (n.node['Relation Name'] === undefined && n.node['Index Name'] === undefined),
      );
      if (!onlyReader || facts.rescanned || query.calls <= 0) continue;
      const blocks = query.sharedBlksPerCall;
      const blockShare = blocks / relation.pages;
      const kept = rowsKept(facts);
      const removed = 1 - kept / (Math.min(1, blockShare) * tableRows);
      if (blocks < options.minBlocks || blockShare < options.minBlockShare || removed < options.indexableShare)
        continue;
      const workMemKb = query.plan.settings?.workMemKb;
      const generic = query.plan.mode === 'generic';
      // A B-tree's or GIN's bitmap goes lossy only when the blocks it marks outgrow work_mem. A
      // generic plan is not the plan each call ran (a value that matches most rows gets a Seq Scan),
      // so its blocks per call are not this scan's: only the planner's own estimate of the blocks
      // the bitmap marks tells that it goes lossy.
      const lossy = brin ? undefined : lossyAtWorkMem(Math.min(blocks, relation.pages), workMemKb);
      const estimatedLossy = brin ? undefined : lossyAtWorkMem(estimatedBitmapBlocks(below, relation.pages), workMemKb);
      if (generic && lossy === 'no') continue;
      // A B-tree's bitmap that fits in work_mem is exact: it marks rows, and no row is rechecked.
      // Blocks per call that one such bitmap holds are the blocks its matches lie on, read once
      // each: the table's rows spread over them, not the problem this rule names. Other methods
      // (GIN, GiST, hash) may return candidates their recheck rejects even in an exact bitmap.
      if (lossy === 'no' && indexes.every((i) => i.method === 'btree')) continue;
      // Never an error on a guess: blocks that one exact bitmap holds, or a generic plan's blocks
      // without an estimate that outgrows work_mem.
      const guess = generic ? brin !== undefined || estimatedLossy !== 'clearly' : lossy === 'no';
      const cause = suggest(relation, brin, {
        blockShare,
        workMemKb,
        measure: measureWith(query),
        ...(lossy !== undefined ? { lossy } : {}),
        generic,
        methods: [...new Set(indexes.map((i) => i.method ?? 'unknown'))],
      });
      findings.push({
        ...base,
        messageId: 'measured',
        ...(removed < options.selectiveShare || guess ? { level: 'mild' as const } : {}),
        evidence: {
          tableRows: Math.round(tableRows),
          tableBlocks: relation.pages,
          sharedBlksPerCall: round(blocks, 1),
          blockShare: round(Math.min(1, blockShare)),
          estimatedScanRows: Math.round(kept),
          ...(!brin && workMemKb !== undefined ? { workMemKb } : {}),
          ...(generic ? { genericPlan: 'yes' } : {}),
          ...cause.evidence,
        },
        data: {
          ...data,
          blocks: count(blocks),
          blockPercent: Math.round(Math.min(1, blockShare) * 100),
          keptRows: count(kept),
          tableRows: count(tableRows),
        },
        suggestion: cause.text,
      });
    }
    return findings;
  },
});

const count = (n: number) => Math.round(n).toLocaleString('en-US');

const percentRemoved = (share: number) =>
  // Floored near 100% so that "100%" means every row was removed.
  share >= 0.99 ? Math.floor(share * 10000) / 100 : Math.round(share * 1000) / 10;

/** What EXPLAIN ANALYZE counted of one bitmap heap scan, per run (a rescanned scan runs per outer row). */
interface CountedRead {
  readonly heapBlocks: number;
  readonly lossyBlocks: number;
  readonly kept: number;
  readonly recheckRemoved: number;
  readonly filterRemoved: number;
  readonly runs: number;
}

const blocksOf = (node: PlanNode): number =>
  Number(node['Shared Hit Blocks'] ?? 0) + Number(node['Shared Read Blocks'] ?? 0);

/**
 * The heap blocks and rows of an analyzed bitmap heap scan, per run. Rows are per loop (and, in a
 * parallel scan, per process), so totals multiply by the loops. The heap blocks of a parallel scan
 * are the leader's, with each worker's under `Workers` from PostgreSQL 18 on; before, only the
 * shared blocks the node touched beyond its index scans tell what all processes read.
 */
function countedRead(facts: PlanNodeFacts): CountedRead | undefined {
  const { node } = facts;
  if (node['Actual Rows'] === undefined) return undefined;
  const loops = Number(node['Actual Loops'] ?? 1);
  const workers = Array.isArray(node.Workers) ? (node.Workers as Readonly<Record<string, unknown>>[]) : [];
  const exact = [node, ...workers].reduce((sum, w) => sum + Number(w['Exact Heap Blocks'] ?? 0), 0);
  const lossy = [node, ...workers].reduce((sum, w) => sum + Number(w['Lossy Heap Blocks'] ?? 0), 0);
  // Every child, subplans included: a subplan run by the scan's target list or filter counts in the
  // scan's shared blocks too.
  const children = (node.Plans ?? []).reduce((sum, child) => sum + blocksOf(child), 0);
  const touched = Math.max(0, blocksOf(node) - children);
  // Where the plan counts the heap blocks of every process, they are what the scan read; the shared
  // blocks also count a block that two processes touched.
  const perProcess = node['Parallel Aware'] !== true || workers.some((w) => w['Lossy Heap Blocks'] !== undefined);
  const heapTotal = perProcess && exact + lossy > 0 ? exact + lossy : Math.max(exact + lossy, touched);
  // A parallel scan's loops are its processes, which share one read of the table.
  const runs = node['Parallel Aware'] === true ? 1 : Math.max(1, loops);
  return {
    heapBlocks: heapTotal / runs,
    lossyBlocks: lossy / runs,
    kept: (node['Actual Rows'] * loops) / runs,
    recheckRemoved: (Number(node['Rows Removed by Index Recheck'] ?? 0) * loops) / runs,
    filterRemoved: (Number(node['Rows Removed by Filter'] ?? 0) * loops) / runs,
    runs,
  };
}

/**
 * Whether a bitmap that marks `blocks` heap blocks outgrows `work_mem`: 'no' when they fit, 'clearly'
 * when they need twice as much or more, 'maybe' in between or when the plan does not say its
 * work_mem. PostgreSQL sizes the bitmap's page table from work_mem (tbm_calculate_entries) and
 * keeps whole blocks, not rows, beyond it.
 */
function lossyAtWorkMem(blocks: number, workMemKb: number | undefined): 'no' | 'maybe' | 'clearly' {
  if (workMemKb === undefined) return 'maybe';
  const neededKb = (blocks * BITMAP_BYTES_PER_BLOCK) / 1024;
  return neededKb <= workMemKb ? 'no' : neededKb >= 2 * workMemKb ? 'clearly' : 'maybe';
}

/**
 * The heap blocks the planner expects a bitmap to mark: at most one per row its bitmap index scans
 * return (the largest of them: an AND keeps fewer, an OR about their sum, which the largest
 * understates), never more than the table has.
 */
function estimatedBitmapBlocks(below: readonly PlanNodeFacts[], tableBlocks: number): number {
  const rows = below
    .filter((n) => n.node['Node Type'] === 'Bitmap Index Scan')
    .reduce((max, n) => Math.max(max, Number(n.node['Plan Rows'] ?? 0)), 0);
  return Math.min(tableBlocks, rows);
}

/** pg_stats.correlation from which a column follows the table's order closely enough for BRIN. */
const ORDERED = 0.9;
/** The memory a bitmap needs per heap block it keeps exact (a page table entry and its pointers). */
const BITMAP_BYTES_PER_BLOCK = 64;

/**
 * The fix, by cause: a BRIN index whose ranges are not summarized or whose column does not follow
 * the table's order, which pg_stats.correlation tells apart; a bitmap that went lossy under
 * work_mem; else an index whose matches lie on most blocks.
 */
function suggest(
  relation: RelationInfo,
  brin: IndexInfo | undefined,
  read: {
    blockShare: number;
    counted?: CountedRead;
    workMemKb?: number | undefined;
    measure: string;
    /** Without --analyze: whether the blocks per call, as one bitmap, outgrow work_mem. */
    lossy?: 'no' | 'maybe' | 'clearly';
    /** The plan is generic: the calls may have run other plans. */
    generic?: boolean;
    /** Without --analyze: the access methods of the bitmap's indexes. */
    methods?: readonly string[];
  },
): { text: string; evidence: Record<string, string | number> } {
  const share = `${Math.round(Math.min(1, read.blockShare) * 100)}%`;
  if (brin) {
    const index = `${quoteIdentifier(relation.schema)}.${quoteIdentifier(brin.name)}`;
    const column = brin.columns[0] ?? undefined;
    const correlation = column !== undefined ? relation.correlation?.[column] : undefined;
    const evidence = {
      indexMethod: 'brin',
      ...(column !== undefined ? { column } : {}),
      ...(correlation !== undefined ? { correlation: round(correlation) } : {}),
    };
    const btree = column !== undefined ? btreeLeadingWith(relation, [column]) : undefined;
    const alternative =
      column === undefined
        ? 'a B-tree on the expression serves the condition instead'
        : btree
          ? `the B-tree ${btree.name} on ${column} serves the condition instead`
          : `a B-tree serves the condition instead: ${proposeIndexSql(relation.name, [quoteIdentifier(column)])}`;
    if (correlation !== undefined && Math.abs(correlation) < ORDERED) {
      return {
        evidence,
        text:
          `${column} does not follow the table's physical order (pg_stats.correlation ${correlation.toFixed(2)}): each block range of ${brin.name} ` +
          `spans most of its values, so the index skips few blocks: ${alternative}; or keep the table in ${column} order ` +
          `(rewrite it sorted, CLUSTER on a B-tree, and append in that order) for the BRIN index to work`,
      };
    }
    const ordered =
      correlation !== undefined
        ? ` although ${column} follows the table's order (pg_stats.correlation ${correlation.toFixed(2)})`
        : '';
    const autosummarize = /autosummarize\s*=\s*'?(on|true|1)/i.test(brin.definition)
      ? ''
      : `, and ALTER INDEX ${index} SET (autosummarize = on) so that autovacuum summarizes each range once it fills`;
    return {
      evidence,
      text:
        `${brin.name} matched ${share} of the table's blocks${ordered}: its block ranges are likely not summarized ` +
        `(a range filled after CREATE INDEX stays unsummarized until VACUUM summarizes it, and matches every condition): ` +
        `SELECT brin_summarize_new_values('${index}'); after bulk loads${autosummarize}; if its ranges are summarized, ` +
        `rows far out of ${column !== undefined ? `${column} ` : ''}order widen every range: ${alternative}`,
    };
  }
  const counted = read.counted;
  if (!counted) {
    if (read.lossy === 'no') {
      // Only an index that answers its condition approximately (not a B-tree: see check) gets here.
      const at = read.workMemKb !== undefined ? ` (${formatKb(read.workMemKb)})` : '';
      const methods = (read.methods ?? []).filter((m) => m !== 'btree' && m !== 'unknown');
      const index = methods.length > 0 ? `its ${methods.join(' and ')} index` : 'its index';
      return {
        evidence: {},
        text:
          `the bitmap cannot have gone lossy: the blocks it marks fit in work_mem${at}; ${index} may return candidates that its recheck rejects ` +
          `(a condition it answers only approximately), or its matches lie on ${share} of the table's blocks: ` +
          `run ${read.measure} to see its heap blocks and the rows its recheck removes`,
      };
    }
    const other = read.generic
      ? ` (the plan is generic: calls whose values match many rows may run another plan, such as a Seq Scan, and their blocks count here too)`
      : '';
    return {
      evidence: {},
      text:
        `the bitmap reads ${share} of the table's blocks${other}: its matches lie on most of them, or it outgrew work_mem and went lossy, ` +
        `rechecking every row of its blocks: run ${read.measure} to see its heap blocks (exact and lossy) and the rows its recheck removes`,
    };
  }
  if (counted.lossyBlocks > 0) {
    const neededKb = (counted.heapBlocks * BITMAP_BYTES_PER_BLOCK) / 1024;
    const workMem = suggestedWorkMem(neededKb, read.workMemKb !== undefined ? { workMemKb: read.workMemKb } : {});
    const at = read.workMemKb !== undefined ? ` (${formatKb(read.workMemKb)})` : '';
    return {
      evidence: read.workMemKb !== undefined ? { workMemKb: read.workMemKb } : {},
      text:
        `the bitmap outgrew work_mem${at} and went lossy: it keeps whole blocks instead of rows, and every row on them is rechecked: ` +
        `SET LOCAL work_mem = '${workMem}' for this statement keeps it exact (about ${BITMAP_BYTES_PER_BLOCK} bytes per block); ` +
        `the blocks that hold matches (${share} of the table) are read even then: when they are most of it, ` +
        `only rows stored in the index's order (CLUSTER) or an index-only scan (an index that covers the columns the statement reads) reads fewer`,
    };
  }
  return {
    evidence: {},
    text:
      `the rows the index returns are candidates that its recheck mostly rejects, on ${share} of the table's blocks: ` +
      `the index does not narrow this condition: one that serves it exactly, or a more selective condition, reads fewer blocks`,
  };
}

const formatKb = (kb: number) => (kb % 1024 === 0 ? `${kb / 1024}MB` : `${kb}kB`);
