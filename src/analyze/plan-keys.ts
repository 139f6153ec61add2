/**
 * The sort and group keys of plan nodes, each read as a column or an expression over the columns of
 * one table (`date_trunc('month'::text, paid_at)`), with the scan of that table: what an index in
 * their order, or statistics on them, would have to cover. Pure.
 */
import type { PlanNode } from '../model/plan.js';
import { isSubplan } from './plan.js';
import { parseSortKey, type IndexExpression, type PlanColumn } from './plan-conditions.js';

/** One key of a node, as the plan prints it and as a column or expression. */
export interface PlanKey {
  /** The key as EXPLAIN prints it (`(date_trunc('month'::text, paid_at))`, `o.total DESC`). */
  readonly text: string;
  readonly column?: PlanColumn;
  readonly expression?: IndexExpression;
  readonly descending: boolean;
  /** The scan of the table whose columns the key reads, when that is one table the node reads. */
  readonly scan?: PlanNode;
}

/** Nodes whose keys are a sort order (`Sort Key`) or a grouping (`Group Key`). */
const KEY_FIELDS = ['Sort Key', 'Group Key'] as const;

/** The node's sort or group keys as they are printed (empty for other nodes). */
export function keyTexts(node: PlanNode): string[] {
  for (const field of KEY_FIELDS) {
    const keys = node[field];
    if (Array.isArray(keys) && keys.length > 0) return keys.map(String);
  }
  return [];
}

/**
 * The node's sort or group keys, each with the scan of the table it reads: the scan under the node
 * (not under a subplan) whose alias the key's columns are qualified with, or the only table the
 * node reads when they are not qualified. A key over a subquery's or a CTE's output, or over
 * columns of several tables, has no scan.
 */
export function planKeys(node: PlanNode): PlanKey[] {
  const scans: PlanNode[] = [];
  const collect = (n: PlanNode): void => {
    if (n['Relation Name'] !== undefined) scans.push(n);
    for (const child of n.Plans ?? []) if (!isSubplan(child)) collect(child);
  };
  for (const child of node.Plans ?? []) if (!isSubplan(child)) collect(child);
  const tables = new Set(scans.map((s) => `${s.Schema ?? ''}.${s['Relation Name']}`));
  return keyTexts(node).flatMap((text): PlanKey[] => {
    const key = parseSortKey(text);
    if (!key) return [{ text, descending: false }];
    const columns = key.column ? [key.column] : (key.expression?.columns ?? []);
    const qualifiers = new Set(columns.map((c) => c.qualifier));
    let scan: PlanNode | undefined;
    if (columns.length > 0 && qualifiers.size === 1) {
      const [qualifier] = qualifiers;
      scan =
        qualifier === undefined
          ? tables.size === 1
            ? scans[0]
            : undefined
          : scans.find((s) => (s.Alias ?? s['Relation Name']) === qualifier);
    }
    return [
      {
        text,
        ...(key.column ? { column: key.column } : {}),
        ...(key.expression ? { expression: key.expression } : {}),
        descending: key.descending,
        ...(scan ? { scan } : {}),
      },
    ];
  });
}
