/**
 * Sorts and hashes that spilled to disk. With EXPLAIN ANALYZE the plan says so itself (sort method,
 * hash batches, disk usage). Without it, pg_stat_statements' temp blocks say that something spilled,
 * and the spill is attributed to the spill-capable node with the largest estimated input. Pure.
 */
import type { PlanNode } from '../model/plan.js';
import type { QueryReport } from '../model/report.js';
import type { PlanNodeFacts } from './plan-facts.js';

export type SpillKind = 'sort' | 'hash' | 'hashagg';

export interface Spill {
  readonly kind: SpillKind;
  readonly node: PlanNodeFacts;
  /** `plan`: EXPLAIN ANALYZE showed it; `statistics`: temp blocks written, attributed by estimate. */
  readonly source: 'plan' | 'statistics';
  readonly evidence: Readonly<Record<string, number | string>>;
}

/** Blocks are 8 kB. */
export const BLOCK_KB = 8;

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function workers(node: PlanNode): PlanNode[] {
  return Array.isArray(node.Workers) ? (node.Workers as PlanNode[]) : [];
}

function sortSpill(node: PlanNode): Record<string, number | string> | undefined {
  const entries = [node, ...workers(node)];
  // Each parallel worker sorts within its own work_mem: the largest spill is the one to fit.
  const disk = entries
    .filter((e) => e['Sort Space Type'] === 'Disk' || String(e['Sort Method'] ?? '').startsWith('external'))
    .sort((a, b) => (num(b['Sort Space Used']) ?? 0) - (num(a['Sort Space Used']) ?? 0))[0];
  const groups = node['Full-sort Groups'] as Record<string, unknown> | undefined;
  const incrementalDisk = num(groups?.['Peak Sort Space Used']) !== undefined && groups?.['Sort Space Type'] === 'Disk';
  if (!disk && !incrementalDisk) return undefined;
  return {
    sortMethod: String(disk?.['Sort Method'] ?? 'external'),
    diskKb: num(disk?.['Sort Space Used']) ?? num(groups?.['Peak Sort Space Used']) ?? 0,
    ...(num(node['Temp Written Blocks']) ? { tempWrittenBlocks: num(node['Temp Written Blocks'])! } : {}),
    ...(node['Sort Key'] ? { sortKey: node['Sort Key'].join(', ') } : {}),
  };
}

function hashSpill(node: PlanNode): Record<string, number | string> | undefined {
  const batches = num(node['Hash Batches']) ?? 0;
  const original = num(node['Original Hash Batches']) ?? batches;
  if (batches <= 1 && original <= 1) return undefined;
  return {
    batches,
    originalBatches: original,
    peakMemoryKb: num(node['Peak Memory Usage']) ?? 0,
  };
}

function hashAggSpill(node: PlanNode): Record<string, number | string> | undefined {
  const entries = [node, ...workers(node)];
  const batches = Math.max(0, ...entries.map((e) => num(e['HashAgg Batches']) ?? 0));
  const disk = entries.reduce((s, e) => s + (num(e['Disk Usage']) ?? 0), 0);
  if (batches <= 1 && disk <= 0) return undefined;
  return { batches, diskKb: disk, peakMemoryKb: Math.max(0, ...entries.map((e) => num(e['Peak Memory Usage']) ?? 0)) };
}

const isHashAgg = (node: PlanNode): boolean =>
  (node['Node Type'] === 'Aggregate' || node['Node Type'] === 'SetOp') &&
  (node.Strategy === 'Hashed' || node.Strategy === 'Mixed');
const isSort = (node: PlanNode): boolean => node['Node Type'] === 'Sort' || node['Node Type'] === 'Incremental Sort';

/** Estimated bytes a node must hold: its input's rows times their width. */
function inputBytes(facts: PlanNodeFacts): number {
  const input = facts.node.Plans?.[0] ?? facts.node;
  return input['Plan Rows'] * facts.parallelDivisor * Math.max(1, input['Plan Width']);
}

/** The spills of a statement, from its plan (ANALYZE) or its temp-block statistics. */
export function findSpills(query: QueryReport, nodes: readonly PlanNodeFacts[]): Spill[] {
  if (!query.plan) return [];
  if (query.plan.mode === 'analyze') {
    const out: Spill[] = [];
    for (const facts of nodes) {
      const { node } = facts;
      const kind: SpillKind | undefined = isSort(node)
        ? 'sort'
        : node['Node Type'] === 'Hash'
          ? 'hash'
          : isHashAgg(node)
            ? 'hashagg'
            : undefined;
      if (!kind) continue;
      const evidence = kind === 'sort' ? sortSpill(node) : kind === 'hash' ? hashSpill(node) : hashAggSpill(node);
      if (evidence) out.push({ kind, node: facts, source: 'plan', evidence });
    }
    return out;
  }
  if (query.calls <= 0 || query.tempBlksWritten <= 0) return [];
  const candidates = nodes
    .filter(
      ({ node }) =>
        isSort(node) || node['Node Type'] === 'Hash' || isHashAgg(node) || node['Node Type'] === 'Materialize',
    )
    .sort((a, b) => inputBytes(b) - inputBytes(a));
  const top = candidates[0];
  if (!top || top.node['Node Type'] === 'Materialize') return [];
  const kind: SpillKind = isSort(top.node) ? 'sort' : top.node['Node Type'] === 'Hash' ? 'hash' : 'hashagg';
  const perCall = query.tempBlksWritten / query.calls;
  return [
    {
      kind,
      node: top,
      source: 'statistics',
      evidence: {
        tempWrittenBlocksPerCall: Math.round(perCall),
        diskKb: Math.round(perCall * BLOCK_KB),
        estimatedInputKb: Math.round(inputBytes(top) / 1024),
        ...(top.node['Sort Key'] ? { sortKey: top.node['Sort Key'].join(', ') } : {}),
      },
    },
  ];
}

/**
 * An in-memory sort needs more than its runs took on disk: each tuple in memory carries a sort slot
 * and allocation overhead that the tape format does not (measured on PostgreSQL 18: a 2,360 kB spill
 * sorted in memory with 6,145 kB). Three times the disk used covers that.
 */
export const SORT_MEMORY_PER_DISK_KB = 3;
/** Headroom over what a hash held in all its batches: its buckets and the next row's growth. */
const HASH_HEADROOM = 1.25;

/** Memory settings of the plan, where the report recorded them. */
export interface MemorySettings {
  readonly workMemKb?: number;
  readonly hashMemMultiplier?: number;
}

/**
 * A `work_mem` for `SET LOCAL` that would hold the spilled data: the memory it needs (in kB, for
 * hashes already divided by hash_mem_multiplier), and never less than twice the work_mem it spilled
 * at, since that one was shown too small; rounded up to a power of two, written as PostgreSQL reads
 * it ('8MB', '512kB', '1GB').
 */
export function suggestedWorkMem(neededKb: number, settings: MemorySettings = {}): string {
  const floor = settings.workMemKb !== undefined ? 2 * settings.workMemKb : 0;
  const kb = 2 ** Math.ceil(Math.log2(Math.max(64, neededKb, floor)));
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb % 1024 === 0) return `${kb / 1024}MB`;
  return `${kb}kB`;
}

/** The memory a sort needs to run in memory, in kB, from what it wrote to disk. */
export function sortMemoryKb(diskKb: number): number {
  return diskKb * SORT_MEMORY_PER_DISK_KB;
}

/**
 * The work_mem a hash needs, in kB: a hash join's table is what one batch held times the batches; a
 * hash aggregate's, what it held plus what it wrote; from temporary blocks alone, what they hold.
 * Hashes may use work_mem x hash_mem_multiplier (1 before PostgreSQL 13 and where unknown).
 */
export function hashWorkMemKb(
  evidence: Readonly<Record<string, number | string>>,
  kind: SpillKind,
  multiplier = 1,
): number {
  const peak = Number(evidence.peakMemoryKb ?? 0);
  const disk = Number(evidence.diskKb ?? 0);
  const held =
    kind === 'hash' && evidence.batches !== undefined ? peak * Number(evidence.batches) : Math.max(disk, peak + disk);
  return (held * HASH_HEADROOM) / Math.max(1, multiplier);
}

/** The plan's memory settings as evidence: `workMemKb` where the report recorded it. */
export function settingsEvidence(query: QueryReport): Record<string, number> {
  const workMemKb = query.plan?.settings?.workMemKb;
  return workMemKb !== undefined ? { workMemKb } : {};
}

/** What the suggestion is above: the work_mem the sort spilled at, where the report recorded it. */
export function spilledAt(workMemKb: number | undefined): string {
  if (workMemKb === undefined) return 'more than the work_mem in effect, which this report did not record';
  return `it spilled at work_mem ${workMemKb % 1024 === 0 ? `${workMemKb / 1024}MB` : `${workMemKb}kB`}`;
}
