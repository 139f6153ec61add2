/**
 * Sorts and hashes that spilled to disk. With EXPLAIN ANALYZE the plan says so itself (sort method,
 * hash batches, disk usage). Without it, pg_stat_statements' temp blocks say that something spilled,
 * and the spill is attributed to the spill-capable node most likely to outgrow the memory it may use
 * (work_mem, times hash_mem_multiplier for hashes), by its estimated input. In a generic plan the
 * rows under a parameter are estimated for a typical value, which the values the statement ran with
 * may far exceed: there a node sized by parameters is more likely than one whose known size fits.
 * An aggregate with DISTINCT or ORDER BY in its call (`count(DISTINCT x)`, `string_agg(x, ',' ORDER
 * BY y)`, `percentile_cont(...) WITHIN GROUP`) sorts each group's rows itself, a sort that is no plan
 * node: its Aggregate node is a candidate too, sized by its input per group. A node whose estimated
 * input is far below its memory is not blamed; where no candidate is likely, the site is unknown.
 * Pure.
 */
import type { PlanNode } from '../model/plan.js';
import type { QueryReport } from '../model/report.js';
import type { PlanNodeFacts } from './plan-facts.js';
import { nodesOf, nodeType, type TreeNode } from './sql-tree.js';

/** `unknown`: temp blocks were written, and no node of the plan is likely to have written them. */
export type SpillKind = 'sort' | 'hash' | 'hashagg' | 'unknown';

export interface Spill {
  readonly kind: SpillKind;
  readonly node: PlanNodeFacts;
  /** `plan`: EXPLAIN ANALYZE showed it; `statistics`: temp blocks written, attributed by estimate. */
  readonly source: 'plan' | 'statistics';
  readonly evidence: Readonly<Record<string, number | string>>;
  /**
   * From statistics: why this node is the likely spill. `estimate`: its estimated input is the
   * largest for the memory it may use; `parameters`: a generic plan sizes its input for a typical
   * parameter value, and the spill-capable nodes of a known size (`fitting`) fit in their memory;
   * `aggregate`: the node is an Aggregate whose DISTINCT or ORDER BY aggregates (`aggregates`) sort
   * each group's rows, and its input per group is the largest for work_mem.
   */
  readonly basis?: 'estimate' | 'parameters' | 'aggregate';
  /** With `aggregate`: the calls that sort, as `count(DISTINCT …)`. */
  readonly aggregates?: readonly string[];
  /** With `parameters`: the spill-capable nodes whose size does not depend on parameters, and fits. */
  readonly fitting?: readonly PlanNodeFacts[];
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

/** PostgreSQL's default work_mem, kB: the limit where the report did not record the setting. */
const DEFAULT_WORK_MEM_KB = 4096;
/**
 * Bytes a row takes in memory beyond its width: a sort slot or hash entry, the tuple header and the
 * allocation's own header. An estimate that ignores them puts a sort of narrow rows at a third of
 * what it holds.
 */
const ROW_OVERHEAD_BYTES = 64;

/**
 * How far a node's estimated input would fill the memory it may use before it spills (1: full).
 * Per process: each parallel worker sorts or hashes within its own work_mem (a parallel hash shares
 * the participants' memory, which comes to the same).
 */
function memoryShare(facts: PlanNodeFacts, settings: MemorySettings): number {
  const { node } = facts;
  const input = node.Plans?.[0] ?? node;
  const bytes = input['Plan Rows'] * (Math.max(1, input['Plan Width']) + ROW_OVERHEAD_BYTES);
  const workMemKb = settings.workMemKb ?? DEFAULT_WORK_MEM_KB;
  const limitKb =
    isSort(node) || node['Node Type'] === 'Materialize' ? workMemKb : workMemKb * (settings.hashMemMultiplier ?? 1);
  return bytes / 1024 / limitKb;
}

/** A parameter symbol (`$1`) in a plan's conditions, as a generic plan prints them. */
const PARAMETER = /\$\d/;

/**
 * True when a node's input is sized by parameter values: a condition below it compares with a
 * parameter, so a generic plan estimates its rows for a typical value.
 */
function sizedByParameters(node: PlanNode): boolean {
  return (node.Plans ?? []).some((child) => PARAMETER.test(JSON.stringify(child)));
}

/**
 * A node whose estimated input fills less than this share of its memory is not taken for the spill:
 * estimates are rarely off by that much for a node of a known size, and the spill has another source.
 */
const FAR_BELOW_SHARE = 0.25;

/**
 * The aggregate calls of a statement that sort their input per group: DISTINCT, ORDER BY or WITHIN
 * GROUP in the call (window functions excluded: their sort is a plan node), as `count(DISTINCT …)`.
 */
export function sortingAggregates(tree: readonly TreeNode[]): string[] {
  const out = new Set<string>();
  for (const call of nodesOf(tree, 'FuncCall', { subqueries: true })) {
    if (call.over) continue;
    const marker = call.agg_within_group
      ? 'WITHIN GROUP'
      : call.agg_distinct
        ? 'DISTINCT'
        : Array.isArray(call.agg_order) && call.agg_order.length > 0
          ? 'ORDER BY'
          : undefined;
    if (!marker) continue;
    const names = Array.isArray(call.funcname) ? call.funcname : [];
    const last = nodeType(names[names.length - 1]);
    const name = last?.[0] === 'String' && typeof last[1].sval === 'string' ? last[1].sval : 'aggregate';
    out.add(marker === 'WITHIN GROUP' ? `${name}(…) WITHIN GROUP (ORDER BY …)` : `${name}(${marker} …)`);
  }
  return [...out];
}

/** An Aggregate node that sorts each group (not hashed: a hashed aggregate has no such calls). */
const isSortingAggregate = (node: PlanNode): boolean =>
  node['Node Type'] === 'Aggregate' && node.Strategy !== 'Hashed' && node.Strategy !== 'Mixed';

/** How far one group's estimated input would fill work_mem: the input over the estimated groups. */
function groupShare(facts: PlanNodeFacts, settings: MemorySettings): { group: number; whole: number } {
  const { node } = facts;
  const input = node.Plans?.[0] ?? node;
  const bytes = input['Plan Rows'] * (Math.max(1, input['Plan Width']) + ROW_OVERHEAD_BYTES);
  const whole = bytes / 1024 / (settings.workMemKb ?? DEFAULT_WORK_MEM_KB);
  return { group: whole / Math.max(1, node['Plan Rows']), whole };
}

/**
 * The spills of a statement, from its plan (ANALYZE) or its temp-block statistics. `tree`, the
 * statement's parse tree, tells which aggregates sort their groups (a sort that is no plan node).
 */
export function findSpills(
  query: QueryReport,
  nodes: readonly PlanNodeFacts[],
  tree: readonly TreeNode[] = [],
): Spill[] {
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
  const settings = query.plan.settings ?? {};
  const generic = query.plan.mode === 'generic';
  const aggregates = sortingAggregates(tree);
  // Tiers, most likely first: 0, the estimated input outgrows the memory (for an aggregate, one
  // group's); 1, it may: a node sized by parameters in a generic plan, or an aggregate whose whole
  // input outgrows work_mem (its groups may be uneven); 2, it nearly fits (estimates err). A node
  // far below its memory is no candidate; in a generic plan neither is one of a known size that fits.
  // Within a tier, in order of how full it would be.
  const candidates = nodes
    .filter(
      ({ node }) =>
        isSort(node) || node['Node Type'] === 'Hash' || isHashAgg(node) || node['Node Type'] === 'Materialize',
    )
    .map((facts) => {
      const share = memoryShare(facts, settings);
      const byParameters = generic && share < 1 && sizedByParameters(facts.node);
      const tier = share >= 1 ? 0 : byParameters ? 1 : !generic && share >= FAR_BELOW_SHARE ? 2 : undefined;
      return { facts, share, tier, aggregate: false };
    });
  if (aggregates.length > 0)
    for (const facts of nodes.filter(({ node }) => isSortingAggregate(node))) {
      const { group, whole } = groupShare(facts, settings);
      candidates.push({ facts, share: group, tier: group >= 1 ? 0 : whole >= 1 ? 1 : undefined, aggregate: true });
    }
  const ranked = candidates.filter((c) => c.tier !== undefined).sort((a, b) => a.tier! - b.tier! || b.share - a.share);
  const chosen = ranked[0];
  const perCall = query.tempBlksWritten / query.calls;
  const written = { tempWrittenBlocksPerCall: Math.round(perCall), diskKb: Math.round(perCall * BLOCK_KB) };
  const spillable = candidates.filter((c) => !c.aggregate && c.facts.node['Node Type'] !== 'Materialize');
  if (!chosen) {
    // Temp blocks, and no node of the plan likely to have written them: say so rather than blame one
    // that fits (other writers: a CTE or window's tuplestore, a per-group sort estimated small).
    const root = nodes[0];
    if (!root) return [];
    return [
      {
        kind: 'unknown',
        node: root,
        source: 'statistics',
        evidence: written,
        fitting: spillable.map((c) => c.facts),
        ...(aggregates.length > 0 ? { aggregates } : {}),
      },
    ];
  }
  if (chosen.facts.node['Node Type'] === 'Materialize') return [];
  const top = chosen.facts;
  if (chosen.aggregate)
    return [
      {
        kind: 'sort',
        node: top,
        source: 'statistics',
        evidence: {
          ...written,
          estimatedInputKb: Math.round(inputBytes(top) / 1024),
          estimatedGroups: top.node['Plan Rows'],
        },
        basis: 'aggregate',
        aggregates,
        fitting: spillable.filter((c) => c.tier === undefined).map((c) => c.facts),
      },
    ];
  const kind: SpillKind = isSort(top.node) ? 'sort' : top.node['Node Type'] === 'Hash' ? 'hash' : 'hashagg';
  const byParameters = chosen.tier === 1;
  const fitting = spillable.filter((c) => c.tier === undefined);
  return [
    {
      kind,
      node: top,
      source: 'statistics',
      evidence: {
        ...written,
        estimatedInputKb: Math.round(inputBytes(top) / 1024),
        ...(top.node['Sort Key'] ? { sortKey: top.node['Sort Key'].join(', ') } : {}),
        ...(byParameters ? { sizedBy: 'parameters' } : {}),
      },
      basis: byParameters ? 'parameters' : 'estimate',
      ...(byParameters && fitting.length > 0 ? { fitting: fitting.map((c) => c.facts) } : {}),
    },
  ];
}

/** "the sort on created_at DESC", "the hash of parts", "the hash aggregate on label": as a reader finds it in the plan. */
export function describeSpillNode(facts: PlanNodeFacts): string {
  const { node } = facts;
  if (isSort(node))
    return node['Sort Key']
      ? `the sort on ${node['Sort Key'].join(', ')}`
      : (facts.path[facts.path.length - 1] ?? 'Sort');
  if (isSortingAggregate(node))
    return `the ${node.Strategy === 'Sorted' ? 'GroupAggregate' : 'Aggregate'}${node['Group Key'] ? ` on ${String(node['Group Key'])}` : ''}`;
  if (node['Node Type'] !== 'Hash')
    return `the hash aggregate${node['Group Key'] ? ` on ${String(node['Group Key'])}` : ''}`;
  const scan = node.Plans?.[0];
  return scan?.['Relation Name'] ? `the hash of ${scan['Relation Name']}` : 'the hash';
}

/**
 * Why a spill found from temporary blocks is put on its node, for the finding's message: `{why}`.
 *
 * @example
 * // "its input depends on the parameter values, which the generic plan sizes for a typical one
 * //  (an estimated 7 kB); the hash of projects, of a known size, fits in memory"
 */
export function spillReason(spill: Spill): string {
  const estimated = `an estimated ${Number(spill.evidence.estimatedInputKb ?? 0).toLocaleString('en-US')} kB`;
  const calls = (spill.aggregates ?? []).join(', ');
  const fitting = (spill.fitting ?? []).map(describeSpillNode);
  const list = (items: readonly string[]): string =>
    items.length === 1 ? items[0]! : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
  if (spill.kind === 'unknown') {
    const nodes =
      fitting.length === 0
        ? 'the plan has no sort or hash'
        : `${list(fitting)}, estimated far below the memory ${fitting.length === 1 ? 'it' : 'they'} may use, ${fitting.length === 1 ? 'is' : 'are'} unlikely`;
    return calls
      ? `${nodes}; ${calls} ${spill.aggregates!.length === 1 ? 'sorts' : 'sort'} each group in the aggregate, which the estimate also puts below work_mem`
      : nodes;
  }
  if (spill.basis === 'aggregate') {
    const groups = Number(spill.evidence.estimatedGroups ?? 1).toLocaleString('en-US');
    const others =
      fitting.length === 0
        ? ''
        : `; ${list(fitting)}, estimated far below ${fitting.length === 1 ? 'its' : 'their'} memory, ${fitting.length === 1 ? 'fits' : 'fit'}`;
    return `${calls} ${spill.aggregates!.length === 1 ? 'sorts' : 'sort'} each group's rows inside the aggregate, a sort that is no plan node, and a group's share of its input (${estimated} over ${groups} estimated ${groups === '1' ? 'group' : 'groups'}) would fill the most of work_mem${others}`;
  }
  if (spill.basis !== 'parameters')
    return `of the plan's sorts and hashes, its input (${estimated}) would fill the most of the memory it may use`;
  const others =
    fitting.length === 0
      ? ''
      : `; ${list(fitting)}, of a known size, ${fitting.length === 1 ? 'fits' : 'fit'} in memory`;
  return `its input depends on the parameter values, which the generic plan sizes for a typical one (${estimated})${others}`;
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
