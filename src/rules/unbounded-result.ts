/** unbounded-result: a SELECT without LIMIT that returns many rows per call (pg_stat_statements rows / calls). */
import { isNullConstant } from '../analyze/sql-tree.js';
import { defineRule } from './define.js';

export default defineRule({
  id: 'unbounded-result',
  severity: 'warning',
  category: 'volume',
  description: 'A query without LIMIT returns many rows per call.',
  messages: {
    unbounded: 'returns {rowsPerCall} rows per call with no LIMIT: every row is read, sent and held by the client',
  },
  defaultOptions: {
    /** Rows per call from which the statement is reported. */
    maxRows: 1000,
  },
  check({ query, tree, options }) {
    if (query.kind !== 'select' || query.calls <= 0 || query.rowsPerCall < options.maxRows) return [];
    const select = tree[0]?.SelectStmt as Readonly<Record<string, unknown>> | undefined;
    if (!select) return [];
    if (select.limitCount !== undefined && !isNullConstant(select.limitCount)) return [];
    return [
      {
        messageId: 'unbounded',
        evidence: { rowsPerCall: query.rowsPerCall, calls: query.calls, maxRows: options.maxRows },
        suggestion:
          'add LIMIT and page with keyset pagination, or aggregate in SQL; for a deliberate export, stream it (a cursor or COPY) and suppress the rule for this statement',
      },
    ];
  },
});
