/**
 * Plan-shape diff: aligns two EXPLAIN trees of the same statement and names what changed
 * ("Index Scan using orders_customer_idx on orders -> Seq Scan on orders", "new Sort, spills to
 * disk", "Hash Join -> Nested Loop", "index orders_customer_idx no longer used (dropped)").
 *
 * Nodes are compared by type, relation and index name only: costs, row estimates and OIDs differ
 * between databases and server versions and say nothing about the shape.
 */
import { nodeLabel, walkPlan } from '../analyze/plan.js';
import type { PlanChange, PlanDiff, PlanDiffLine } from '../model/comparison.js';
import type { CapturedPlan, PlanNode } from '../model/plan.js';
import type { RelationInfo } from '../model/report.js';

/** What the diff needs to know about the relations of each side. */
export interface PlanDiffContext {
  readonly baseRelations: readonly RelationInfo[];
  readonly headRelations: readonly RelationInfo[];
  /** Schema-qualified relations of the statement (to resolve unqualified plan names). */
  readonly queryRelations?: readonly string[];
  readonly baseServerVersionNum?: number;
  readonly headServerVersionNum?: number;
}

const JOINS = new Set(['Nested Loop', 'Hash Join', 'Merge Join']);

/**
 * How good an access path to a relation is. Index-based reads rank above 1; Seq Scan is 1.
 * Other scans (function, CTE, foreign) are not ranked.
 */
const SCAN_RANK: Readonly<Record<string, number>> = {
  'Seq Scan': 1,
  'Sample Scan': 1,
  'Bitmap Heap Scan': 2,
  'Index Scan': 3,
  'Index Only Scan': 4,
  'Tid Scan': 4,
  'Tid Range Scan': 3,
};

/** Nodes that are only part of another node's shape; their changes are named by the parent. */
const DEPENDENT = new Set(['Bitmap Index Scan', 'BitmapAnd', 'BitmapOr', 'Hash']);

/** Two nodes are "comparable" (a change in place) when they play the same role. */
function family(node: PlanNode): string {
  const type = node['Node Type'];
  const relation = node['Relation Name'];
  if (relation) return `scan:${node.Schema ?? ''}.${relation}:${node.Alias ?? ''}`;
  if (JOINS.has(type)) return 'join';
  if (type === 'Sort' || type === 'Incremental Sort') return 'sort';
  if (type === 'Gather' || type === 'Gather Merge') return 'gather';
  if (type === 'Materialize' || type === 'Memoize') return 'cache';
  if (type === 'Bitmap Index Scan' || type === 'BitmapAnd' || type === 'BitmapOr') return 'bitmap';
  return type;
}

/** Describes how a node spills to disk (ANALYZE plans only), or undefined. */
export function spillOf(node: PlanNode): string | undefined {
  const method = node['Sort Method'];
  if (node['Sort Space Type'] === 'Disk' || (typeof method === 'string' && method.startsWith('external'))) {
    return `spills to disk (${method ?? 'sort'}${node['Sort Space Used'] !== undefined ? `, ${node['Sort Space Used']} kB` : ''})`;
  }
  const batches = node['Hash Batches'];
  if (batches !== undefined && batches > 1) return `spills to disk (${batches} hash batches)`;
  const aggBatches = node['HashAgg Batches'];
  if (aggBatches !== undefined && aggBatches > 1) return `spills to disk (${aggBatches} hash aggregate batches)`;
  return undefined;
}

type Match = 'same' | 'comparable' | 'none';

function match(a: PlanNode, b: PlanNode): Match {
  if (nodeLabel(a) === nodeLabel(b)) return 'same';
  return family(a) === family(b) ? 'comparable' : 'none';
}

/** True when `outer` directly wraps a node that matches `inner` (an inserted Sort, Hash, Materialize). */
function wraps(outer: PlanNode, inner: PlanNode): boolean {
  return (outer.Plans ?? []).some((c) => match(c, inner) !== 'none');
}

/** A diff line with the nodes behind it. */
interface DiffRow {
  readonly op: PlanDiffLine['op'];
  readonly depth: number;
  readonly a?: PlanNode;
  readonly b?: PlanNode;
  readonly note?: string;
  /** A changed node of another kind (not the same role): named as removed + added. */
  readonly replaced?: boolean;
}

/** Line-by-line tree diff of two plans, head's order. */
function diffTree(base: PlanNode, head: PlanNode): DiffRow[] {
  const lines: DiffRow[] = [];
  const emitSubtree = (node: PlanNode, depth: number, op: 'added' | 'removed') => {
    for (const v of walkPlan(node)) {
      const spill = op === 'added' ? spillOf(v.node) : undefined;
      lines.push({
        op,
        depth: depth + v.depth,
        ...(op === 'added' ? { b: v.node } : { a: v.node }),
        ...(spill ? { note: spill } : {}),
      });
    }
  };
  const diffNode = (a: PlanNode, b: PlanNode, depth: number) => {
    const m = match(a, b);
    if (m === 'none' && wraps(b, a)) {
      // A node inserted above an existing one.
      const spill = spillOf(b);
      lines.push({ op: 'added', depth, b, ...(spill ? { note: spill } : {}) });
      diffChildren([a], b.Plans ?? [], depth + 1);
      return;
    }
    if (m === 'none' && wraps(a, b)) {
      lines.push({ op: 'removed', depth, a });
      diffChildren(a.Plans ?? [], [b], depth + 1);
      return;
    }
    const spill = spillOf(b);
    const note = spill && !spillOf(a) ? spill : undefined;
    lines.push({
      op: m === 'same' ? 'same' : 'changed',
      depth,
      a,
      b,
      ...(m === 'none' ? { replaced: true } : {}),
      ...(note ? { note } : {}),
    });
    diffChildren(a.Plans ?? [], b.Plans ?? [], depth + 1);
  };
  const diffChildren = (as: readonly PlanNode[], bs: readonly PlanNode[], depth: number) => {
    // Anchor identical children with a longest common subsequence, then pair what is left between
    // anchors: comparable nodes first, then wrappers; the rest is removed or added.
    const pairs = lcs(as, bs, (x, y) => match(x, y) === 'same');
    let ai = 0;
    let bi = 0;
    for (const [pa, pb] of [...pairs, [as.length, bs.length] as const]) {
      gap(as.slice(ai, pa), bs.slice(bi, pb), depth);
      if (pa < as.length && pb < bs.length) diffNode(as[pa]!, bs[pb]!, depth);
      ai = pa + 1;
      bi = pb + 1;
    }
  };
  const gap = (as: readonly PlanNode[], bs: readonly PlanNode[], depth: number) => {
    const pairedB = new Map<number, PlanNode>();
    const unpairedA: PlanNode[] = [];
    for (const a of as) {
      let j = bs.findIndex((b, k) => !pairedB.has(k) && match(a, b) === 'comparable');
      if (j < 0) j = bs.findIndex((b, k) => !pairedB.has(k) && (wraps(b, a) || wraps(a, b)));
      if (j < 0 && as.length === 1 && bs.length === 1) j = 0; // one node replaced by another
      if (j >= 0) pairedB.set(j, a);
      else unpairedA.push(a);
    }
    for (const a of unpairedA) emitSubtree(a, depth, 'removed');
    bs.forEach((b, k) => {
      const a = pairedB.get(k);
      if (a) diffNode(a, b, depth);
      else emitSubtree(b, depth, 'added');
    });
  };
  diffNode(base, head, 0);
  return lines;
}

/** Index pairs of a longest common subsequence, in order. */
function lcs<T>(as: readonly T[], bs: readonly T[], eq: (a: T, b: T) => boolean): (readonly [number, number])[] {
  const n = as.length;
  const m = bs.length;
  const table = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i]![j] = eq(as[i]!, bs[j]!) ? table[i + 1]![j + 1]! + 1 : Math.max(table[i + 1]![j]!, table[i]![j + 1]!);
    }
  }
  const out: (readonly [number, number])[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (eq(as[i]!, bs[j]!)) {
      out.push([i, j]);
      i++;
      j++;
    } else if (table[i + 1]![j]! >= table[i]![j + 1]!) i++;
    else j++;
  }
  return out;
}

/** Access methods per relation of a plan: relation key -> node types and indexes used. */
interface RelationAccess {
  readonly relation: string;
  readonly schema?: string;
  readonly methods: Set<string>;
  readonly labels: Set<string>;
  /** The labels without the relation and index names: what the scans of partitions share. */
  readonly shapes: Set<string>;
}

function accessByRelation(root: PlanNode): Map<string, RelationAccess> {
  const out = new Map<string, RelationAccess>();
  for (const { node } of walkPlan(root)) {
    const relation = node['Relation Name'];
    const type = node['Node Type'];
    if (!relation || SCAN_RANK[type] === undefined) continue;
    const key = `${node.Schema ?? ''}.${relation}`;
    let entry = out.get(key);
    if (!entry) {
      entry = {
        relation,
        ...(node.Schema ? { schema: node.Schema } : {}),
        methods: new Set(),
        labels: new Set(),
        shapes: new Set(),
      };
      out.set(key, entry);
    }
    entry.methods.add(type);
    entry.labels.add(nodeLabel(node));
    entry.shapes.add(shapeOf(node));
  }
  return out;
}

/** Index names read by a plan, with the relation they belong to where the plan says so. */
function indexesUsed(root: PlanNode): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const { node, parent } of walkPlan(root)) {
    const index = node['Index Name'];
    if (!index) continue;
    // A Bitmap Index Scan names no relation; its Bitmap Heap Scan parent (maybe via BitmapAnd/Or) does.
    out.set(index, node['Relation Name'] ?? parent?.['Relation Name'] ?? out.get(index));
  }
  return out;
}

/** Finds a relation of a report by the (usually unqualified) name a plan node gives. */
export function resolveRelation(
  relations: readonly RelationInfo[],
  table: string,
  schema: string | undefined,
  preferred: readonly string[] = [],
): RelationInfo | undefined {
  const candidates = relations.filter((r) => r.table === table && (schema === undefined || r.schema === schema));
  return candidates.find((r) => preferred.includes(r.name)) ?? candidates[0];
}

function rowsOf(relation: RelationInfo | undefined): number | undefined {
  if (!relation) return undefined;
  // reltuples is -1 before the first ANALYZE; live rows are the next best guess.
  return relation.estimatedRows >= 0 ? relation.estimatedRows : relation.liveRows;
}

/**
 * Diffs two captured plans of the same statement.
 *
 * @example
 * const diff = diffPlans(base.plan, head.plan, { baseRelations: base.relations, headRelations: head.relations });
 * diff.changes.filter((c) => c.kind === 'scan-downgrade'); // [{ message: 'Index Scan using ... -> Seq Scan on orders', ... }]
 */
export function diffPlans(base: CapturedPlan, head: CapturedPlan, context: PlanDiffContext): PlanDiff {
  const rows = diffTree(base.root, head.root);
  const changes: Tagged[] = [];
  const preferred = context.queryRelations ?? [];
  const headRelation = (table: string, schema?: string) =>
    resolveRelation(context.headRelations, table, schema, preferred) ??
    resolveRelation(context.baseRelations, table, schema, preferred);
  const partitioned = (name: string) =>
    context.headRelations.find((r) => r.name === name) ?? context.baseRelations.find((r) => r.name === name);
  const nodeRelation = (node: PlanNode) =>
    node['Relation Name'] ? headRelation(node['Relation Name'], node.Schema) : undefined;
  const lines = foldPartitionLines(rows, nodeRelation, partitioned);
  /** A change of a scan node: the partition it reads travels along, for folding. */
  const ofNode = (change: PlanChange, node: PlanNode, side: 'base' | 'head', note?: string): Tagged => {
    const rel = nodeRelation(node);
    if (!rel?.partitionOf) return { change };
    return {
      change,
      partition: rel,
      shape: `${shapeOf(node)}${note ? `, ${note}` : ''}`,
      [side]: stripRelation(nodeLabel(node), rel),
      ...(note ? { note } : {}),
    };
  };

  // Access paths per relation, independent of how the trees align: a rewritten plan still
  // reveals that `orders` went from an index to a sequential scan.
  const baseAccess = accessByRelation(base.root);
  const headAccess = accessByRelation(head.root);
  // Relations whose access path is named below: their scan nodes removed or added are not named again.
  const named = new Set<string>();
  for (const [key, b] of baseAccess) {
    const h = headAccess.get(key);
    if (!h) continue;
    const rel = headRelation(b.relation, b.schema);
    const rows = rowsOf(rel);
    const relation = rel?.name ?? b.relation;
    const baseLabels = [...b.labels].join(', ');
    const headLabels = [...h.labels].join(', ');
    if (baseLabels === headLabels) continue;
    const baseIndexed = [...b.methods].some((m) => (SCAN_RANK[m] ?? 0) >= 2);
    const headIndexed = [...h.methods].some((m) => (SCAN_RANK[m] ?? 0) >= 2);
    const baseSeq = [...b.methods].some((m) => SCAN_RANK[m] === 1);
    const headSeq = [...h.methods].some((m) => SCAN_RANK[m] === 1);
    const kind =
      baseIndexed && !baseSeq && headSeq
        ? 'scan-downgrade'
        : baseSeq && !headSeq && headIndexed
          ? 'scan-upgrade'
          : 'scan-change';
    named.add(key);
    const change: PlanChange = {
      kind,
      message: `${baseLabels} -> ${headLabels}${rows !== undefined ? ` (a table of ${formatRows(rows)} rows)` : ''}`,
      relation,
      ...(rows !== undefined ? { relationRows: rows } : {}),
      base: baseLabels,
      head: headLabels,
    };
    changes.push(
      rel?.partitionOf
        ? {
            change,
            partition: rel,
            shape: `${[...b.shapes].join(', ')} -> ${[...h.shapes].join(', ')}`,
            base: stripRelation(baseLabels, rel),
            head: stripRelation(headLabels, rel),
          }
        : { change },
    );
  }
  const namedScan = (node: PlanNode) =>
    node['Relation Name'] !== undefined && named.has(`${node.Schema ?? ''}.${node['Relation Name']}`);

  for (const row of rows) {
    const { a, b, note } = row;
    if (row.op === 'changed' && a && b && row.replaced) {
      if (!DEPENDENT.has(a['Node Type']) && !namedScan(a))
        changes.push(
          ofNode({ kind: 'node-removed', message: `${nodeLabel(a)} removed`, base: nodeLabel(a) }, a, 'base'),
        );
      if (!DEPENDENT.has(b['Node Type']) && !namedScan(b))
        changes.push(ofNode({ kind: 'node-added', message: `new ${nodeLabel(b)}`, head: nodeLabel(b) }, b, 'head'));
    } else if (row.op === 'changed' && a && b) {
      // Scans of the same relation are named above, per relation.
      if (!(a['Relation Name'] && b['Relation Name'])) {
        const join = JOINS.has(a['Node Type']) && JOINS.has(b['Node Type']);
        changes.push({
          change: {
            kind: join ? 'join-change' : 'node-change',
            message: `${nodeLabel(a)} -> ${nodeLabel(b)}`,
            base: nodeLabel(a),
            head: nodeLabel(b),
          },
        });
      }
    } else if (row.op === 'added' && b && !DEPENDENT.has(b['Node Type']) && !namedScan(b)) {
      const change: PlanChange = {
        kind: 'node-added',
        message: `new ${nodeLabel(b)}${note ? `, ${note}` : ''}`,
        head: nodeLabel(b),
      };
      changes.push(ofNode(change, b, 'head', note));
    } else if (row.op === 'removed' && a && !DEPENDENT.has(a['Node Type']) && !namedScan(a)) {
      changes.push(ofNode({ kind: 'node-removed', message: `${nodeLabel(a)} removed`, base: nodeLabel(a) }, a, 'base'));
    }
    if (note && row.op !== 'added' && b)
      changes.push(ofNode({ kind: 'spill', message: `${nodeLabel(b)} ${note}`, head: nodeLabel(b) }, b, 'head', note));
  }

  const baseIndexes = indexesUsed(base.root);
  const headIndexes = indexesUsed(head.root);
  for (const [index, table] of baseIndexes) {
    if (headIndexes.has(index)) continue;
    const rel = table
      ? headRelation(table)
      : context.headRelations.find((r) => r.indexes.some((i) => i.name === index));
    const inHead = table ? resolveRelation(context.headRelations, table, undefined, preferred) : undefined;
    const dropped = inHead !== undefined && !inHead.indexes.some((i) => i.name === index);
    const change: PlanChange = {
      kind: 'index-lost',
      message: `index ${index}${table ? ` on ${table}` : ''} no longer used${dropped ? ' (it does not exist in head)' : ''}`,
      ...(rel ? { relation: rel.name } : {}),
      base: index,
    };
    changes.push(
      rel?.partitionOf ? { change, partition: rel, shape: dropped ? 'dropped' : 'unused', base: index } : { change },
    );
  }

  const notes: string[] = [];
  if (base.mode !== head.mode) notes.push(`plans were made differently (${base.mode} in base, ${head.mode} in head)`);
  const baseMajor = context.baseServerVersionNum ? Math.floor(context.baseServerVersionNum / 10000) : undefined;
  const headMajor = context.headServerVersionNum ? Math.floor(context.headServerVersionNum / 10000) : undefined;
  if (baseMajor && headMajor && baseMajor !== headMajor) {
    notes.push(`plans come from PostgreSQL ${baseMajor} and ${headMajor}: costs are not strictly comparable`);
  }
  return { changed: lines.some((l) => l.op !== 'same'), lines, changes: foldPartitions(changes, partitioned), notes };
}

/** A change, with the partition it names (if it names one) and what it has in common with its siblings. */
interface Tagged {
  readonly change: PlanChange;
  readonly partition?: RelationInfo;
  /** Same for the same change on another partition: node types, without relation and index names. */
  readonly shape?: string;
  /** The labels without the relation's name (index names kept), to name a group of partitions by. */
  readonly base?: string;
  readonly head?: string;
  /** How the node spills to disk (part of the shape: partitions that spill alike are one change). */
  readonly note?: string;
}

/** A node's label without its relation and index names ("Index Scan using *"). */
function shapeOf(node: PlanNode): string {
  const label = nodeLabel(node);
  const index = node['Index Name'];
  const relation = node['Relation Name'];
  let shape = relation && label.endsWith(` on ${relation}`) ? label.slice(0, -` on ${relation}`.length) : label;
  if (index) shape = shape.replace(` using ${index}`, ' using *').replace(` on ${index}`, ' on *');
  return shape;
}

/** Labels ("A on t, B on t", as accessByRelation joins them) without " on <the relation>". */
function stripRelation(labels: string, relation: RelationInfo): string {
  const suffix = ` on ${relation.table}`;
  return labels
    .split(', ')
    .map((l) => (l.endsWith(suffix) ? l.slice(0, -suffix.length) : l))
    .join(', ');
}

/** The names as one pattern: their common beginning and end around a `*` ("events_*_pkey"). */
function globOf(values: readonly string[]): string {
  const distinct = [...new Set(values)];
  if (distinct.length <= 1) return distinct[0] ?? '';
  const shortest = Math.min(...distinct.map((v) => v.length));
  let prefix = 0;
  while (prefix < shortest && distinct.every((v) => v[prefix] === distinct[0]![prefix])) prefix++;
  let suffix = 0;
  while (
    suffix < shortest - prefix &&
    distinct.every((v) => v[v.length - 1 - suffix] === distinct[0]![distinct[0]!.length - 1 - suffix])
  )
    suffix++;
  const first = distinct[0]!;
  return `${first.slice(0, prefix)}*${first.slice(first.length - suffix)}`;
}

/**
 * One change per partitioned table: the planner scans each partition the query does not prune as a
 * child of one Append, so dropping an index on the parent (which drops it on every partition) makes
 * the same change on each of them. The same change on two or more partitions of one table becomes
 * one, about the table, at the place of the first: "13 partitions of analytics.events: Index Scan
 * using events_*_pkey -> Seq Scan (3.0M rows in all)". Its rows are the sum over those partitions
 * (what the whole scan reads), so many small partitions of a large table are judged as the table.
 */
function foldPartitions(tagged: readonly Tagged[], relation: (name: string) => RelationInfo | undefined): PlanChange[] {
  const groups = new Map<string, Tagged[]>();
  for (const t of tagged) {
    if (!t.partition?.partitionOf || t.shape === undefined) continue;
    const key = `${t.change.kind}\n${t.partition.partitionOf}\n${t.shape}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const out: PlanChange[] = [];
  const done = new Set<Tagged[]>();
  for (const t of tagged) {
    const key =
      t.partition?.partitionOf && t.shape !== undefined
        ? `${t.change.kind}\n${t.partition.partitionOf}\n${t.shape}`
        : '';
    const group = groups.get(key);
    if (!group || new Set(group.map((g) => g.partition!.name)).size < 2) {
      out.push(t.change);
      continue;
    }
    if (done.has(group)) continue;
    done.add(group);
    out.push(foldGroup(group, relation(t.partition!.partitionOf!)));
  }
  return out;
}

function foldGroup(group: readonly Tagged[], parent: RelationInfo | undefined): PlanChange {
  const first = group[0]!;
  const parentName = first.partition!.partitionOf!;
  const count = new Set(group.map((g) => g.partition!.name)).size;
  const total = parent?.partitionCount;
  const partitions = `${count}${total !== undefined && total > count ? ` of ${total}` : ''} partitions of ${parentName}`;
  const base = globOf(group.map((g) => g.base ?? ''));
  const head = globOf(group.map((g) => g.head ?? ''));
  const rows = group.every((g) => g.change.relationRows !== undefined)
    ? group.reduce((n, g) => n + g.change.relationRows!, 0)
    : undefined;
  const kind = first.change.kind;
  const detail =
    kind === 'scan-downgrade' || kind === 'scan-upgrade' || kind === 'scan-change'
      ? `${base} -> ${head}${rows !== undefined ? ` (${formatRows(rows)} rows in all)` : ''}`
      : kind === 'node-added'
        ? `new ${head}${first.note ? `, ${first.note}` : ''}`
        : kind === 'node-removed'
          ? `${base} removed`
          : kind === 'spill'
            ? `${head} ${first.note ?? ''}`
            : `indexes ${base} no longer used${first.shape === 'dropped' ? ' (they do not exist in head)' : ''}`;
  return {
    kind,
    message: `${partitions}: ${detail}`,
    relation: parentName,
    ...(rows !== undefined ? { relationRows: rows } : {}),
    ...(base ? { base } : {}),
    ...(head ? { head } : {}),
  };
}

/** A diff row as a line of the tree. */
const lineOf = (r: DiffRow): PlanDiffLine => ({
  op: r.op,
  depth: r.depth,
  ...(r.a ? { base: nodeLabel(r.a) } : {}),
  ...(r.b ? { head: nodeLabel(r.b) } : {}),
  ...(r.note ? { note: r.note } : {}),
});

/**
 * The diff rows as lines, a run of sibling scans of partitions of one table folded into one line
 * per node of their shape, as the changes are: "6 partitions of public.events: Seq Scan". Siblings
 * fold when their subtrees have the same nodes, ops and notes but for relation and index names
 * (a Bitmap Heap Scan folds with its Bitmap Index Scan, whose index names become one pattern).
 */
function foldPartitionLines(
  rows: readonly DiffRow[],
  relationOf: (node: PlanNode) => RelationInfo | undefined,
  relation: (name: string) => RelationInfo | undefined,
): PlanDiffLine[] {
  const subtreeEnd = (i: number) => {
    let end = i + 1;
    while (end < rows.length && rows[end]!.depth > rows[i]!.depth) end++;
    return end;
  };
  /** The partition a row scans, when both its sides scan partitions of the same table. */
  const partitionOf = (r: DiffRow): RelationInfo | undefined => {
    const a = r.a ? relationOf(r.a) : undefined;
    const b = r.b ? relationOf(r.b) : undefined;
    if ((r.a && !a?.partitionOf) || (r.b && !b?.partitionOf)) return undefined;
    if (a && b && a.partitionOf !== b.partitionOf) return undefined;
    return b ?? a;
  };
  const signature = (start: number, end: number) =>
    rows
      .slice(start, end)
      .map((r) =>
        [r.op, r.depth - rows[start]!.depth, r.a ? shapeOf(r.a) : '', r.b ? shapeOf(r.b) : '', r.note ?? ''].join('|'),
      )
      .join('\n');
  const out: PlanDiffLine[] = [];
  let i = 0;
  while (i < rows.length) {
    const first = rows[i]!;
    const partition = partitionOf(first);
    const end = subtreeEnd(i);
    if (!partition) {
      out.push(lineOf(first));
      i++;
      continue;
    }
    // The run of siblings with the same shape, on partitions of the same table.
    const shape = signature(i, end);
    const group: { start: number; partition: RelationInfo }[] = [{ start: i, partition }];
    let next = end;
    while (next < rows.length && rows[next]!.depth === first.depth) {
      const sibling = partitionOf(rows[next]!);
      const after = subtreeEnd(next);
      if (!sibling || sibling.partitionOf !== partition.partitionOf || signature(next, after) !== shape) break;
      group.push({ start: next, partition: sibling });
      next = after;
    }
    const count = new Set(group.map((g) => g.partition.name)).size;
    if (count < 2) {
      out.push(...rows.slice(i, end).map(lineOf));
      i = end;
      continue;
    }
    const parent = partition.partitionOf!;
    const total = relation(parent)?.partitionCount;
    const named = `${count}${total !== undefined && total > count ? ` of ${total}` : ''} partitions of ${parent}: `;
    for (let k = 0; k < end - i; k++) {
      const members = group.map((g) => rows[g.start + k]!);
      // The scans themselves are named by the table; what they hold (an index scan) by a pattern.
      const label = (side: 'a' | 'b') => {
        const labels = members.map((m, n) =>
          k === 0
            ? stripRelation(nodeLabel(m[side]!), relationOf(m[side]!) ?? group[n]!.partition)
            : nodeLabel(m[side]!),
        );
        return `${k === 0 ? named : ''}${globOf(labels)}`;
      };
      const row = members[0]!;
      out.push({
        op: row.op,
        depth: row.depth,
        ...(row.a ? { base: label('a') } : {}),
        ...(row.b ? { head: label('b') } : {}),
        ...(row.note ? { note: row.note } : {}),
      });
    }
    i = next;
  }
  return out;
}

function formatRows(rows: number): string {
  if (rows >= 1e6) return `${(rows / 1e6).toFixed(1)}M`;
  if (rows >= 1e4) return `${(rows / 1e3).toFixed(0)}k`;
  return String(Math.round(rows));
}

/** The diff as text lines, EXPLAIN-like, prefixed for a ```diff block: "-" base, "+" head, " " both. */
export function renderPlanDiff(diff: PlanDiff): string {
  const out: string[] = [];
  const indent = (depth: number) => (depth === 0 ? '' : `${'   '.repeat(depth - 1)}-> `);
  for (const line of diff.lines) {
    const note = line.note ? `  [${line.note}]` : '';
    if (line.op === 'same') out.push(`  ${indent(line.depth)}${line.head}${note}`);
    else if (line.op === 'added') out.push(`+ ${indent(line.depth)}${line.head}${note}`);
    else if (line.op === 'removed') out.push(`- ${indent(line.depth)}${line.base}`);
    else {
      out.push(`- ${indent(line.depth)}${line.base}`);
      out.push(`+ ${indent(line.depth)}${line.head}${note}`);
    }
  }
  return out.join('\n');
}
