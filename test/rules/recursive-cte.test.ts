/**
 * A recursive CTE that loads a comment thread level by level, captured on PostgreSQL 15 with
 * --analyze: its recursive term scans the whole 300,000-row table once per level (10 levels), and
 * the scan of its non-recursive term is parallel, one row kept of three processes (which PostgreSQL
 * before 18 prints as 0 rows per process).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyRules } from '../../src/analyze/engine.js';
import { loadParser } from '../../src/analyze/parser.js';
import { costliestNode, nodeLabel, walkPlan } from '../../src/analyze/plan.js';
import { resolveRules } from '../../src/config/config.js';
import type { PlanNode } from '../../src/model/plan.js';
import type { Report } from '../../src/model/report.js';
import type { AnyRule } from '../../src/rules/define.js';
import rowEstimateMismatch from '../../src/rules/row-estimate-mismatch.js';
import seqScanLargeTable from '../../src/rules/seq-scan-large-table.js';

const report = JSON.parse(
  readFileSync(new URL('../fixtures/plans/recursive-thread.pg15.json', import.meta.url), 'utf8'),
) as Report;
const root = report.queries[0]!.plan!.root;

function findingsOf(rule: AnyRule) {
  const out = applyRules(report, { registry: [rule], rules: resolveRules(undefined, { registry: [rule] }) });
  return out.queries[0]!.findings;
}

/** The plan as plain EXPLAIN (without ANALYZE) gives it: the same tree without what was counted. */
function withoutAnalyze(node: PlanNode): PlanNode {
  const plain = Object.fromEntries(
    Object.entries(node).filter(([k]) => !k.startsWith('Actual') && !k.startsWith('Rows Removed') && k !== 'Workers'),
  ) as unknown as PlanNode;
  return { ...plain, ...(node.Plans ? { Plans: node.Plans.map(withoutAnalyze) } : {}) };
}

describe('a recursive CTE', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('compares the rows of a scan run once per level per level: the estimate was exact', () => {
    expect(findingsOf(rowEstimateMismatch)).toEqual([]);
  });

  it('reports the scan repeated per level at the rule severity, and the parallel scan keeping its one row', () => {
    const findings = findingsOf(seqScanLargeTable);
    expect(findings.map((f) => [f.messageId, f.severity])).toEqual([
      ['recursive', 'error'],
      ['minor', 'info'],
    ]);
    expect(findings[1]!.message).toMatch(
      / reads all 300,000 rows of the table to keep 1 \(99\.99% removed by its filter\)/,
    );
    expect(findings[1]!.evidence.keptRows).toBe(1);
    expect(findings[0]!.message).toMatch(
      /^Seq Scan on cms\.comments reads 3,000,000 rows in 10 scans of the 300,000-row table, once per level of the recursive CTE thread, for its join on parent_id to keep 10 \(99\.99% unmatched\), 60% of the statement$/,
    );
    expect(findings[0]!.suggestion).toMatch(/^CREATE INDEX ON cms\.comments \(parent_id\); /);
  });

  it('names the scan of the recursive term as the costliest node, by time and by cost', () => {
    const scan = walkPlan(root).find((v) => v.node['Node Type'] === 'Seq Scan' && v.node.Alias === 'c')!.node;
    expect(costliestNode(root)).toBe(scan);
    expect(nodeLabel(costliestNode(withoutAnalyze(root)))).toBe('Seq Scan on comments');
    expect(costliestNode(withoutAnalyze(root))['Plan Rows']).toBe(300000);
  });
});
