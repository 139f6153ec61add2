/**
 * deep-offset: OFFSET n reads and throws away n rows on every call, so pages get slower the deeper
 * they are. The value comes from the literal, the replay's parameter value, or (with ANALYZE) the
 * rows the Limit node skipped.
 */
import { btreeLeadingWith } from '../analyze/column-predicates.js';
import { formatPath } from '../analyze/plan.js';
import { constantValue, expressionText, nodeType, queryLevels, type TreeNode } from '../analyze/sql-tree.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'deep-offset',
  severity: 'warning',
  category: 'pagination',
  description: 'A query pages with an OFFSET of 1,000 rows or more, which reads and discards them on every call.',
  messages: {
    offset: 'OFFSET {offset} ({source}) reads and discards {offset} rows on every call before returning a page',
  },
  defaultOptions: {
    /** Offsets from this value on are reported. */
    minOffset: 1000,
  },
  check({ query, sql, params, paramMax, tree, nodes, relationOf, options }) {
    const offsets = tree.flatMap((statement) => queryLevels(statement).filter((l) => l.node.limitOffset !== undefined));
    if (offsets.length === 0) return [];
    const limits = nodes.filter((n) => n.node['Node Type'] === 'Limit');
    const findings: RuleFinding[] = [];
    for (const level of offsets) {
      const expr = level.node.limitOffset;
      let value = numeric(constantValue(expr, params));
      const ref = nodeType(expr);
      let source = ref?.[0] === 'ParamRef' ? 'parameter value in the replay' : 'literal';
      // A parameter: the deepest page the replay asked for, not only the value that was planned.
      const deepest = ref?.[0] === 'ParamRef' ? paramMax?.[Number(ref[1].number) - 1] : undefined;
      if (typeof deepest === 'number' && (value === undefined || deepest > value)) {
        value = deepest;
        source = 'largest parameter value in the replay';
      }
      const limit = offsets.length === 1 && limits.length === 1 ? limits[0] : undefined;
      if (value === undefined && limit) {
        // EXPLAIN ANALYZE: the Limit's input produced offset + returned rows per loop.
        const plans = limit.node.Plans ?? [];
        const input = (plans.find((p) => p['Parent Relationship'] === 'Outer') ?? plans[0])?.['Actual Rows'];
        const output = limit.node['Actual Rows'];
        if (input !== undefined && output !== undefined) {
          value = Math.round(input - output);
          source = 'rows skipped in the analyzed plan';
        }
      }
      if (value === undefined || value < options.minOffset) continue;
      findings.push({
        messageId: 'offset',
        ...((limit ?? limits[0]) ? { nodePath: formatPath((limit ?? limits[0])!.path) } : {}),
        evidence: { offset: value, ...(query.meanMs ? { meanMs: query.meanMs } : {}) },
        data: { source },
        suggestion: keysetSuggestion(sql, level.node, (columns) => {
          // An index of a relation the plan reads that already leads with the keys serves the pages.
          for (const { node } of nodes) {
            const relation = relationOf(node);
            const index = relation ? btreeLeadingWith(relation, columns) : undefined;
            if (index) return index.name;
          }
          return undefined;
        }),
      });
    }
    return findings;
  },
});

function numeric(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Keyset pagination over the statement's ORDER BY keys. `existingIndex` names an index that already
 * leads with the key columns, if any, so that the fix does not ask for one that exists.
 */
function keysetSuggestion(
  sql: string,
  select: TreeNode,
  existingIndex: (columns: readonly string[]) => string | undefined,
): string {
  const keys = ((select.sortClause as unknown[] | undefined) ?? [])
    .map((item) => nodeType(item))
    .filter((t): t is [string, TreeNode] => t?.[0] === 'SortBy')
    .map(([, sortBy]) => ({
      text: expressionText(sql, sortBy.node) ?? '?',
      descending: sortBy.sortby_dir === 'SORTBY_DESC',
    }));
  if (keys.length === 0) {
    return 'add ORDER BY a unique key and page by it (keyset pagination): WHERE key > $last_key ORDER BY key LIMIT n';
  }
  const columns = keys.map((k) => k.text);
  const directions = new Set(keys.map((k) => k.descending));
  const tuple = columns.length === 1 ? columns[0]! : `(${columns.join(', ')})`;
  const last = columns.length === 1 ? '$last' : `(${columns.map((_, i) => `$last${i + 1}`).join(', ')})`;
  if (directions.size > 1) {
    return `use keyset pagination: remember the last row's ${columns.join(', ')} and filter on them instead of OFFSET (mixed ASC/DESC needs one comparison per key, or an index with matching directions)`;
  }
  const op = keys[0]!.descending ? '<' : '>';
  const orderBy = keys.map((k) => `${k.text}${k.descending ? ' DESC' : ''}`).join(', ');
  // Plain columns (`id`, `o.created_at`) can be matched against the index definitions.
  const bare = keys.map((k) => /^(?:[A-Za-z_][\w$]*\.)?([A-Za-z_][\w$]*)$/.exec(k.text)?.[1]);
  const existing = bare.every((c) => c !== undefined) ? existingIndex(bare as string[]) : undefined;
  const index = existing ? `, which the index ${existing} serves` : `, with an index on (${columns.join(', ')})`;
  return `use keyset pagination instead of OFFSET: WHERE ${tuple} ${op} ${last} ORDER BY ${orderBy} LIMIT n${index} (the ORDER BY must end in a unique key)`;
}
