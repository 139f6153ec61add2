/** sort-spill: a sort that did not fit in work_mem and used temporary files. */
import { expressionVerdict, unindexableExpression } from '../analyze/expression-refusal.js';
import { formatPath } from '../analyze/plan.js';
import { planKeys } from '../analyze/plan-keys.js';
import {
  describeSpillNode,
  findSpills,
  settingsEvidence,
  sortMemoryKb,
  spilledAt,
  spillReason,
  suggestedWorkMem,
} from '../analyze/spill.js';
import type { PlanNode } from '../model/plan.js';
import type { RelationInfo } from '../model/report.js';
import { measureWith } from '../analyze/measure.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'sort-spill',
  severity: 'warning',
  category: 'memory',
  description: 'A sort did not fit in work_mem and spilled to disk.',
  messages: {
    plan: '{node} spilled to disk ({sortMethod}, {diskKb} kB written)',
    statistics:
      'the statement wrote {tempWrittenBlocksPerCall} temp blocks ({diskKb} kB) per call; {node} is the likely spill: {why} ({confirm})',
    unknown:
      'the statement wrote {tempWrittenBlocksPerCall} temp blocks ({diskKb} kB) per call, and which node spilled is not known without a measured plan: {why} (run {measure} to see it)',
  },
  defaultOptions: {
    /** Spills smaller than this (kB per call) are ignored. */
    minDiskKb: 0,
  },
  check({ query, nodes, tree, relationOf, options }) {
    const findings: RuleFinding[] = [];
    for (const spill of findSpills(query, nodes, tree)) {
      if (spill.kind !== 'sort' && spill.kind !== 'unknown') continue;
      const diskKb = Number(spill.evidence.diskKb ?? 0);
      if (diskKb < options.minDiskKb) continue;
      if (spill.kind === 'unknown') {
        // No node to name: the plan's sorts and hashes are estimated to fit, so none is blamed.
        findings.push({
          messageId: 'unknown',
          evidence: { ...spill.evidence, ...settingsEvidence(query) },
          data: { why: spillReason(spill), measure: measureWith(query) },
          suggestion: `find the spill in the measured plan (a Sort, Hash or HashAggregate that went to disk; an aggregate's own per-group sort shows only as the temp blocks of its node), then raise work_mem for this statement with SET LOCAL or make its input smaller`,
        });
        continue;
      }
      const sortKey = spill.evidence.sortKey;
      const settings = query.plan?.settings;
      const workMem = suggestedWorkMem(sortMemoryKb(diskKb), settings);
      const order = sortKey ? indexOrder(spill.node.node, sortKey, relationOf) : undefined;
      findings.push({
        messageId: spill.source,
        nodePath: formatPath(spill.node.path),
        evidence: {
          ...spill.evidence,
          ...settingsEvidence(query),
          ...(order?.unindexable ? { unindexableKey: order.unindexable } : {}),
        },
        data: {
          node: describeSpillNode(spill.node),
          ...(spill.source === 'statistics' ? { why: spillReason(spill) } : {}),
          confirm: `run ${measureWith(query)} to confirm`,
        },
        suggestion: `SET LOCAL work_mem = '${workMem}' for this statement (${spilledAt(settings?.workMemKb)}), sort fewer rows (filter or LIMIT first)${order?.text ?? ''}`,
      });
    }
    return findings;
  },
});

/**
 * The index that would give the sort's order, as the end of the suggestion: an index on an
 * expression exists only when PostgreSQL accepts it (its functions IMMUTABLE, no aggregate), which
 * the report says per relation (`indexableExpressions`, checked on the server when the plans were
 * captured, with the catalog's reason in `expressionRefusals`). A key PostgreSQL refuses to index
 * means no index gives this order, and the suggestion says why, as it does for keys that read more
 * than one table (a sort above a join); a key that was not checked is named with that condition.
 */
function indexOrder(
  sort: PlanNode,
  sortKey: string | number,
  relationOf: (node: PlanNode) => RelationInfo | undefined,
): { text: string; unindexable?: string } {
  let unchecked = false;
  const keys = planKeys(sort);
  for (const key of keys) {
    if (!key.expression) continue;
    const { indexable, refusal } = expressionVerdict(key.scan ? relationOf(key.scan) : undefined, key.expression.sql);
    if (indexable === false)
      return {
        text: `; no index can give this order: PostgreSQL cannot index ${unindexableExpression(key.expression.sql, refusal)}`,
        unindexable: key.expression.sql,
      };
    if (indexable === undefined) unchecked = true;
  }
  // An index covers one table: keys read from several (a join's) cannot come out of one in order.
  const tables = new Set<string>();
  for (const key of keys) {
    const columns = key.column ? [key.column] : (key.expression?.columns ?? []);
    const qualifiers = new Set(columns.map((c) => c.qualifier));
    if (qualifiers.size > 1) for (const q of qualifiers) tables.add(q ?? '?');
    else if (key.scan) tables.add(relationOf(key.scan)?.name ?? key.scan['Relation Name'] ?? '?');
  }
  if (tables.size > 1)
    return {
      text: `; no index can give this order: its keys read more than one table (${[...tables].sort().join(', ')}), and an index covers one`,
      unindexable: String(sortKey),
    };
  const condition = unchecked ? ' (an index on an expression needs IMMUTABLE functions)' : '';
  return { text: `, or an index in the order of ${sortKey} so that no sort is needed${condition}` };
}
