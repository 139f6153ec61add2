/**
 * What an advised index does to the report's other statements that read its table. An index is
 * validated for the statement it is proposed for, but the planner may use it for any statement on
 * the table: a `DISTINCT ON (vehicle_id) ... ORDER BY vehicle_id, recorded_at DESC` over the whole
 * table can trade its sequential scan and sort for a walk of a new index on `(vehicle_id, ...)`,
 * one table access per row, which the planner costs lower and which touches a hundred times the
 * blocks. The other statements are planned with the candidate in the same rolled-back build (or
 * hypothetical index) that validated it; this module judges their plans. Pure: no I/O.
 */
import { actualRowsTotal, nodeLabel, walkPlan } from '../analyze/plan.js';
import type { OtherStatementPlan } from '../model/finding.js';
import type { PlanNode } from '../model/plan.js';
import type { QueryReport, RelationInfo } from '../model/report.js';

/** At most this many other statements reading a candidate's table are planned with it, the costliest first. */
export const MAX_OTHER_STATEMENTS = 8;

/** Shared blocks per call from which a statement is large: a full walk of an index is then a risk. */
export const LARGE_STATEMENT_BLOCKS = 1000;

/** The report's statements (by index) that read one of these relations, the costliest first, at most `max`. */
export function statementsReading(
  queries: readonly QueryReport[],
  relations: readonly string[],
  allRelations: readonly RelationInfo[],
  max = MAX_OTHER_STATEMENTS,
): number[] {
  // A partitioned table is read through its partitions, which its statements' plans name.
  const names = new Set(relations);
  for (const r of allRelations) if (r.partitionOf && names.has(r.partitionOf)) names.add(r.name);
  return queries
    .map((query, index) => ({ query, index }))
    .filter(({ query }) => query.plan !== null && query.relations.some((name) => names.has(name)))
    .sort((a, b) => b.query.totalMs - a.query.totalMs || a.index - b.index)
    .slice(0, max)
    .map(({ index }) => index);
}

/** A plan of another statement without and with the candidate. */
export interface PlansOfStatement {
  readonly query: QueryReport;
  readonly before: { readonly cost: number; readonly root: PlanNode };
  readonly after: { readonly cost: number; readonly root: PlanNode; readonly used: boolean };
}

/** The table a candidate is on: its bare name as plans print it, its partitions', and its rows. */
export interface CandidateTable {
  /** `Relation Name`s of its scans in a plan (the table, or its partitions). */
  readonly tables: readonly string[];
  /** The index names of the candidate, as the plans with it name them. */
  readonly indexes: readonly string[];
  /** The table's rows (pg_class.reltuples, or the live rows counted), where known. */
  readonly rows?: number;
}

const isScanOf = (node: PlanNode, table: CandidateTable) =>
  node['Relation Name'] !== undefined && table.tables.includes(node['Relation Name']);

/**
 * The plan's scans of the table as EXPLAIN labels them, each after the sort over it where one sorts
 * its rows (`Sort > Seq Scan on pings`).
 */
export function scanWords(root: PlanNode, table: CandidateTable): string {
  const words: string[] = [];
  for (const { node, parent } of walkPlan(root)) {
    if (!isScanOf(node, table)) continue;
    let label = nodeLabel(node);
    const sort = parent && /Sort$/.test(parent['Node Type']) ? parent : undefined;
    if (sort) label = `${nodeLabel(sort)} > ${label}`;
    if (!words.includes(label)) words.push(label);
  }
  if (words.length <= 2) return words.join(', ') || 'no scan of the table';
  // Many scans (a partition each): their kinds, counted, without the partitions' and indexes' names.
  const kinds = new Map<string, number>();
  for (const word of words) {
    const kind = word.replace(/ (using|on) \S+/g, '');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return `${words.length} scans (${[...kinds].map(([kind, n]) => (n > 1 ? `${kind} x${n}` : kind)).join(', ')})`;
}

/**
 * A scan that walks a candidate index whole, in its order: an Index Scan with no Index Cond, not under
 * a LIMIT (which may stop it early). Each row it returns is one table access, wherever it lies.
 */
function fullWalk(root: PlanNode, table: CandidateTable): PlanNode | undefined {
  return walkPlan(root).find(
    ({ node, path }) =>
      node['Node Type'] === 'Index Scan' &&
      typeof node['Index Name'] === 'string' &&
      table.indexes.includes(node['Index Name']) &&
      node['Index Cond'] === undefined &&
      !path.slice(0, -1).includes('Limit'),
  )?.node;
}

/** The rows a sequential scan of the table read, by the run's counts (`--analyze`), where the plan has them. */
function countedRows(plan: QueryReport['plan'], table: CandidateTable): number | undefined {
  if (plan?.mode !== 'analyze') return undefined;
  let rows: number | undefined;
  for (const { node } of walkPlan(plan.root)) {
    if (!isScanOf(node, table) || !/Seq Scan$/.test(node['Node Type'])) continue;
    const kept = actualRowsTotal(node);
    if (kept === undefined) continue;
    const removed = (node['Rows Removed by Filter'] ?? 0) * (node['Actual Loops'] ?? 1);
    rows = (rows ?? 0) + kept + removed;
  }
  return rows;
}

/** The change an index makes to another statement's plan, or undefined when the plan does not use it. */
export function otherStatementPlan(plans: PlansOfStatement, table: CandidateTable): OtherStatementPlan | undefined {
  const { query, before, after } = plans;
  if (!after.used) return undefined;
  const blocks = query.sharedBlksPerCall;
  const walked = countedRows(query.plan, table) ?? table.rows;
  const sequential = walkPlan(before.root).some(
    ({ node }) => isScanOf(node, table) && /Seq Scan$/.test(node['Node Type']),
  );
  // A walk in index order reads the table a row at a time: where its rows do not lie in that order,
  // one block per row, against the pages a sequential scan reads once.
  const walkRisk =
    sequential &&
    fullWalk(after.root, table) !== undefined &&
    blocks >= LARGE_STATEMENT_BLOCKS &&
    walked !== undefined &&
    walked > blocks;
  const risk: OtherStatementPlan['risk'] = walkRisk
    ? 'full-index-walk'
    : after.cost > before.cost
      ? 'cost-rises'
      : undefined;
  return {
    fingerprint: query.fingerprint,
    ...(query.nested ? { nested: true as const } : {}),
    ...(query.source ? { source: query.source } : {}),
    planBefore: scanWords(before.root, table),
    planAfter: scanWords(after.root, table),
    costBefore: Math.round(before.cost * 100) / 100,
    costAfter: Math.round(after.cost * 100) / 100,
    ...(risk ? { risk } : {}),
  };
}

/** A statement as the advice names it: its name, else the start of its text. */
function statementWords(other: OtherStatementPlan, query: QueryReport | undefined): string {
  if (other.source) return `"${other.source}"`;
  const text = (query?.query ?? other.fingerprint).replace(/\s+/g, ' ').trim();
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** Why a change is a risk, in words. */
function riskWords(other: OtherStatementPlan, query: QueryReport | undefined, table: CandidateTable): string {
  if (other.risk === 'cost-rises') return 'at risk: the planner puts its cost higher with the index';
  const sorted = /Sort > (Parallel )?Seq Scan/.test(other.planBefore);
  const walked = (query ? countedRows(query.plan, table) : undefined) ?? table.rows;
  return (
    `at risk: a walk of the whole index in its order (no Index Cond) replaces a sequential scan${sorted ? ' and a sort' : ''} ` +
    `of the table, and reads the table a row at a time: up to one block for each of ~${count(walked ?? 0)} rows where they ` +
    `do not lie in the index's order, against the ${count(query?.sharedBlksPerCall ?? 0)} shared blocks per call it touches now`
  );
}

/**
 * The note an index's advice carries about the other statements it changes, the ones at risk first,
 * at most three named: `2 other statement(s) reading fleet.pings use it too: "latest ping per vehicle"
 * (Sort > Seq Scan on pings -> Incremental Sort > Index Scan using ... on pings, plan cost ...), at risk: ...`.
 */
export function otherStatementsNote(
  others: readonly OtherStatementPlan[],
  relation: string,
  queries: readonly QueryReport[],
  table: CandidateTable,
): string | undefined {
  if (others.length === 0) return undefined;
  const ordered = [...others].sort((a, b) => Number(b.risk !== undefined) - Number(a.risk !== undefined));
  const queryOf = (o: OtherStatementPlan) =>
    queries.find((q) => q.fingerprint === o.fingerprint && Boolean(q.nested) === Boolean(o.nested));
  const named = ordered.slice(0, 3).map((o) => {
    const query = queryOf(o);
    const change = `${statementWords(o, query)} (${o.planBefore} -> ${o.planAfter}, plan cost ${o.costBefore.toFixed(0)} -> ${o.costAfter.toFixed(0)})`;
    return o.risk ? `${change}, ${riskWords(o, query, table)}` : change;
  });
  const more = others.length > 3 ? ` and ${others.length - 3} more (advice.otherStatements)` : '';
  const atRisk = others.some((o) => o.risk !== undefined);
  return (
    `${others.length} other statement(s) reading ${relation} use it too: ` +
    `${named.join('; ')}${more}` +
    (atRisk ? ': measure those at risk with the index (EXPLAIN (ANALYZE, BUFFERS)) before deploying it' : '')
  );
}
