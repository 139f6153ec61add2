/**
 * seq-scan-large-table: a (parallel) sequential scan over a large relation. Its severity follows how
 * much of what it reads the filter throws away: that share is what an index would save.
 */
import { columnPredicates, createIndexSql, scansTable, tableHasColumn } from '../analyze/column-predicates.js';
import { formatPath } from '../analyze/plan.js';
import {
  isSeqScan,
  isTrivial,
  nodeShare,
  relationRows,
  removedShare,
  round,
  rowsOut,
  scanKind,
} from '../analyze/plan-facts.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'seq-scan-large-table',
  severity: 'error',
  category: 'scan',
  description: 'A sequential scan reads a large table, and its filter throws most of the rows away.',
  messages: {
    selective: '{scan} on {relation} reads {reads} to keep {keptRows} ({removedPercent}% removed by its filter)',
    full: '{scan} on {relation} reads all {tableRows} rows of the table ({nodePercent}% of the statement)',
  },
  defaultOptions: {
    /** Tables with fewer rows are never reported. */
    minRows: 10_000,
    /** Share of the rows read that the filter removes from which an index could help (mild). */
    indexableShare: 2 / 3,
    /** Share removed from which the scan is a clear case. */
    selectiveShare: 0.9,
    /** Share of the statement's cost or time from which an unfiltered scan is noted (info). */
    minNodeShare: 0.4,
  },
  check({ query, nodes, sql, params, tree, relationOf, options }) {
    if (!query.plan || isTrivial(query)) return [];
    const root = query.plan.root;
    const findings: RuleFinding[] = [];
    for (const { node, path, parallelDivisor } of nodes) {
      if (!isSeqScan(node)) continue;
      const relation = relationOf(node);
      const removedActual = node['Rows Removed by Filter'];
      const fallbackRows =
        removedActual !== undefined && node['Actual Rows'] !== undefined
          ? (removedActual + node['Actual Rows']) * parallelDivisor
          : node['Plan Rows'] * parallelDivisor;
      const tableRows = relation ? relationRows(relation) : fallbackRows;
      if (tableRows < options.minRows) continue;
      const removed = removedShare(node, parallelDivisor, tableRows);
      const share = nodeShare(node, root);
      const loops = node['Actual Loops'] !== undefined && parallelDivisor === 1 ? Number(node['Actual Loops']) : 1;
      const keptRows = Math.round(rowsOut(node, parallelDivisor));
      // With ANALYZE, the rows actually read (a LIMIT above may stop the scan early; a nested loop
      // may run it many times); else the whole table once.
      const rowsRead =
        removedActual !== undefined && node['Actual Rows'] !== undefined
          ? Math.round((removedActual + node['Actual Rows']) * Number(node['Actual Loops'] ?? 1))
          : Math.round(tableRows);
      const evidence = {
        tableRows: Math.round(tableRows),
        rowsRead,
        keptRows,
        removedShare: round(removed),
        nodeShare: round(share),
        ...(loops > 1 ? { loops } : {}),
        ...(node.Filter ? { filter: node.Filter } : {}),
      };
      const name = relation?.name ?? node['Relation Name'] ?? '?';
      const base = {
        relation: name,
        nodePath: formatPath(path),
        evidence,
        data: {
          scan: scanKind(node),
          relation: name,
          reads: describeRead(rowsRead, tableRows, loops),
          // Floored near 100% so that "100%" means every row was removed.
          removedPercent: removed >= 0.99 ? Math.floor(removed * 10000) / 100 : Math.round(removed * 1000) / 10,
          nodePercent: Math.round(share * 100),
        },
      };
      if (node.Filter !== undefined && removed >= options.indexableShare) {
        const planNodes = nodes.map((n) => n.node);
        const predicates = columnPredicates(
          sql,
          params,
          (t, c) => scansTable(node, t) && tableHasColumn(relation, planNodes, t, c),
          [...tree],
        ).filter((p) => scansTable(node, p.table) && !p.join);
        const suggestion = suggestIndex(name, predicates);
        findings.push({
          ...base,
          messageId: 'selective',
          ...(removed < options.selectiveShare ? { level: 'mild' as const } : {}),
          ...(suggestion ? { suggestion } : {}),
        });
      } else if (share >= options.minNodeShare) {
        findings.push({ ...base, messageId: 'full', level: 'note' });
      }
    }
    return findings;
  },
});

const count = (n: number) => Math.round(n).toLocaleString('en-US');

function describeRead(rowsRead: number, tableRows: number, loops: number): string {
  if (loops > 1) return `${count(rowsRead)} rows in ${count(loops)} scans of the ${count(tableRows)}-row table`;
  if (rowsRead >= tableRows * 0.9) return `all ${count(tableRows)} rows of the table`;
  return `${count(rowsRead)} of the table's ${count(tableRows)} rows`;
}

/** An index on the bare columns the filter compares: equality columns first, then one range column. */
function suggestIndex(relation: string, predicates: ReturnType<typeof columnPredicates>): string | undefined {
  const bare = predicates.filter((p) => p.wrapper === 'column');
  const equality = [...new Set(bare.filter((p) => p.use === 'equality' || p.use === 'in').map((p) => p.column))];
  const range = [
    ...new Set(bare.filter((p) => p.use === 'range' || (p.use === 'like' && !p.leadingWildcard)).map((p) => p.column)),
  ].filter((c) => !equality.includes(c));
  const keys = [...equality.slice(0, 2), ...range.slice(0, 1)].slice(0, 3);
  const unservable = predicates.filter((p) => p.wrapper !== 'column' || p.use === 'ilike' || p.leadingWildcard);
  const wrapped = [...new Set(unservable.map((p) => p.column))];
  const note = wrapped.length
    ? `the filter uses ${wrapped.join(', ')} in a way no plain btree index serves (see non-sargable-predicate)`
    : '';
  if (keys.length > 0) return `${createIndexSql(relation, keys)}${note ? ` -- ${note}` : ''}`;
  if (note) return note;
  return undefined;
}
