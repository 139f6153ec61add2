/**
 * row-estimate-mismatch (EXPLAIN ANALYZE only): the planner expected far more or far fewer rows than
 * a node produced. A misestimate propagates up the plan, so only the lowest mismatching nodes (the
 * causes) are reported, with the relation and the predicate the planner misjudged, and the
 * statistics that would let it judge better: on the column, on correlated columns, or on the
 * expression the filter computes.
 *
 * Rows are compared as totals over all the processes of a parallel plan (EXPLAIN prints actual rows
 * per loop and planned rows per process), and per run for a node that runs once per outer row or
 * once per level of a recursive CTE (the planner estimates one run).
 */
import { NOT_VALIDATED } from '../analyze/column-predicates.js';
import { unindexableExpression } from '../analyze/expression-refusal.js';
import { quoteIdentifier } from '../analyze/parser.js';
import {
  bareConditionColumns,
  conditionColumns,
  conversionOf,
  parseCondition,
  type IndexExpression,
} from '../analyze/plan-conditions.js';
import { formatPath } from '../analyze/plan.js';
import { keyTexts, planKeys } from '../analyze/plan-keys.js';
import { actualRows, isTrivial, round } from '../analyze/plan-facts.js';
import type { PlanNode } from '../model/plan.js';
import type { RelationInfo } from '../model/report.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'row-estimate-mismatch',
  severity: 'warning',
  category: 'estimate',
  description:
    "The planner's row estimate for a plan node is off by 10x or more from the actual rows (with --analyze).",
  messages: {
    filter:
      '{node}: the planner expected {expected} but got {got} ({ratio}x {direction}): it misjudged the filter {condition}',
    staleStatistics:
      '{node}: the planner expected {expected} but got {got} ({ratio}x {direction}): the statistics of {relation} are stale (it estimates {statRows} rows, it holds {liveRows})',
    join: '{node}: the planner expected {expected} but got {got} ({ratio}x {direction}): it misjudged the join condition {condition}',
    groups:
      '{node}: the planner expected {expected} but got {got} ({ratio}x {direction}): it misjudged the number of groups of {groupKey}',
    node: '{node}: the planner expected {expected} but got {got} ({ratio}x {direction})',
  },
  defaultOptions: {
    /** A misestimate at least this large is reported (as info below `strongRatio`). */
    ratio: 10,
    /** A misestimate at least this large is a clear case. */
    strongRatio: 100,
    /** Nodes whose estimated and actual rows (over all loops) both stay below this are ignored. */
    minRows: 1000,
  },
  check({ query, report, nodes, relationOf, options }) {
    if (!query.plan || query.plan.mode !== 'analyze' || isTrivial(query)) return [];
    const mismatched = new Map<PlanNode, Mismatch>();
    const earlyStop = earlyStoppingNodes(query.plan.root);
    for (const { node, parent, parallelDivisor, rescanned } of nodes) {
      const actual = node['Actual Rows'];
      const loops = Number(node['Actual Loops'] ?? 0);
      if (actual === undefined || loops <= 0) continue;
      // EXPLAIN prints actual rows per loop, and under a Gather planned rows per process: both sides
      // become totals, except for a node run once per outer row or per level of a recursive CTE,
      // whose estimate is per run.
      const estimated = rescanned ? node['Plan Rows'] : node['Plan Rows'] * parallelDivisor;
      const got = rescanned ? actual : (actualRows(node, parent) ?? actual * loops);
      const perLoop = rescanned && loops > 1;
      if (Math.max(node['Plan Rows'] * (rescanned ? loops : parallelDivisor), actual * loops) < options.minRows)
        continue;
      // Under a Limit, a semi/anti join or a merge join a node may stop early: producing fewer rows
      // than estimated there is not a misestimate.
      if (got < estimated && earlyStop.has(node)) continue;
      const ratio = Math.max(estimated, got) / Math.max(1, Math.min(estimated, got));
      if (ratio >= options.ratio) mismatched.set(node, { ratio, estimated, actual: got, loops, perLoop });
    }
    const findings: RuleFinding[] = [];
    for (const facts of nodes) {
      const m = mismatched.get(facts.node);
      if (!m || hasMismatchedDescendant(facts.node, mismatched)) continue;
      const { node } = facts;
      const relation = relationOf(node);
      const per = m.perLoop ? ' per loop' : '';
      const base = {
        nodePath: formatPath(facts.path),
        ...(relation ? { relation: relation.name } : {}),
        evidence: {
          estimatedRows: Math.round(m.estimated),
          actualRows: round(m.actual, 2),
          loops: m.loops,
          rows: m.perLoop ? 'per loop' : 'total',
          ratio: Math.round(m.ratio),
          direction: m.actual > m.estimated ? 'under' : 'over',
        },
        data: {
          node: facts.path[facts.path.length - 1] ?? node['Node Type'],
          direction: m.actual > m.estimated ? 'more' : 'fewer',
          expected: `${rowCount(m.estimated)}${per}`,
          got: `${count(m.actual)}${per}${m.perLoop ? ` (${count(m.loops)} loops)` : ''}`,
        },
        ...(m.ratio < options.strongRatio ? { level: 'note' as const } : {}),
      };
      const condition = joinCondition(node);
      if (relation && isStale(relation.estimatedRows, relation.liveRows, options.ratio)) {
        findings.push({
          ...base,
          messageId: 'staleStatistics',
          evidence: { ...base.evidence, statRows: Math.round(relation.estimatedRows), liveRows: relation.liveRows },
          data: { ...base.data, relation: relation.name },
          suggestion: `ANALYZE ${relation.name};`,
        });
      } else if (relation && node.Filter) {
        const fix = statisticsFix(relation, node, node.Filter, report.target.serverVersionNum);
        findings.push({
          ...base,
          messageId: 'filter',
          evidence: { ...base.evidence, condition: node.Filter },
          data: { ...base.data, condition: node.Filter },
          // A filter no statistics describe, on fresh statistics: context, never a warning without a fix.
          ...(fix.actionable ? {} : { level: 'note' as const }),
          suggestion: fix.suggestion,
        });
      } else if (condition) {
        findings.push({
          ...base,
          messageId: 'join',
          evidence: { ...base.evidence, condition },
          data: { ...base.data, condition },
          suggestion: 'ANALYZE the joined tables; for correlated join columns, CREATE STATISTICS on them',
        });
      } else if (keyTexts(node).length > 0 && Array.isArray(node['Group Key'])) {
        const groupKey = keyTexts(node).join(', ');
        const fix = groupsFix(node, relationOf, report.target.serverVersionNum);
        findings.push({
          ...base,
          messageId: 'groups',
          evidence: {
            ...base.evidence,
            groupKey,
            ...(fix.unindexable ? { unindexableKey: fix.unindexable } : {}),
          },
          data: { ...base.data, groupKey },
          // What no statistics can describe is context, not a problem to act on.
          ...(fix.actionable ? {} : { level: 'note' as const }),
          suggestion: fix.suggestion,
        });
      } else {
        // Nothing to suggest (the statistics are fresh: ANALYZE would not change the estimate):
        // context, never a warning without a fix.
        findings.push({ ...base, messageId: 'node', level: 'note' });
      }
    }
    return findings;
  },
});

interface Mismatch {
  readonly ratio: number;
  /** Rows the planner expected and the node produced: in all, or per loop (`perLoop`). */
  readonly estimated: number;
  readonly actual: number;
  readonly loops: number;
  readonly perLoop: boolean;
}

const count = (n: number) =>
  n >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 100) / 100);
const rowCount = (n: number) => (Math.round(n) === 1 ? '1 row' : `${count(n)} rows`);

/** PostgreSQL 14 added statistics on expressions (`CREATE STATISTICS ... ON (expr)`). */
const EXPRESSION_STATISTICS = 140000;

/**
 * The statistics that let the planner judge a scan's filter, read from the filter as the plan
 * prints it (constants and expressions as the server deparsed them):
 * - one plain column: a larger statistics target (more common values, a finer histogram);
 * - several columns: extended statistics, since the planner multiplies their selectivities as if
 *   they were independent;
 * - an expression (`date_trunc('day', ts)`, `(doc ->> 'n')::int`): a column's statistics say nothing
 *   about it, and the planner falls back to fixed guesses (0.5% for an equality, a third for a
 *   range); extended statistics on the expression (PostgreSQL 14+), else an expression index, whose
 *   expression ANALYZE also samples.
 */
function statisticsFix(
  relation: RelationInfo,
  node: PlanNode,
  filter: string,
  serverVersionNum: number,
): { suggestion: string; actionable: boolean } {
  const suggestion = filterStatistics(relation, node, filter, serverVersionNum);
  if (suggestion !== undefined) return { suggestion, actionable: true };
  // No column of the table in it: a subquery's result (`NOT (hashed SubPlan 1)`), a parameter. The
  // statistics are fresh (a stale table is named first), and no statistics describe the condition.
  const subquery = /\bSubPlan \d+/.test(filter)
    ? ': a subquery written as a join (NOT EXISTS, EXISTS, a JOIN) is estimated from the statistics of the tables it joins'
    : '';
  return {
    suggestion: `no statistics describe this filter: it compares no column of ${relation.name}${inside(filter, node, relation)}, so the planner estimates it with a fixed guess, and ANALYZE would not change that (the statistics of ${relation.name} are up to date: it estimates ${count(relation.estimatedRows)} rows, it holds ${count(relation.liveRows)})${subquery}`,
    actionable: false,
  };
}

/** ` as it is, only inside expressions` when the filter names columns of the table only inside expressions. */
function inside(filter: string, node: PlanNode, relation: RelationInfo): string {
  const alias = String(node.Alias ?? node['Relation Name'] ?? relation.table);
  const named = conditionColumns(filter).filter((c) => c.qualifier === undefined || c.qualifier === alias);
  return named.length > 0 ? ` as it is, only inside expressions` : '';
}

/** The statistics fix for a filter, or undefined when the filter names no column or expression of the table. */
function filterStatistics(
  relation: RelationInfo,
  node: PlanNode,
  filter: string,
  serverVersionNum: number,
): string | undefined {
  const alias = String(node.Alias ?? node['Relation Name'] ?? relation.table);
  const mine = (c: { readonly qualifier?: string }) => c.qualifier === undefined || c.qualifier === alias;
  const columns: string[] = [];
  const expressions: IndexExpression[] = [];
  const addColumn = (column: string) => {
    if (!columns.includes(column)) columns.push(column);
  };
  let opaque = false;
  // A plan casts a domain-typed column to its base type (`(country)::bpchar`): the column itself.
  for (const p of parseCondition(filter, (c) => (mine(c) ? relation.domainBaseTypes?.[c.column] : undefined))) {
    // `(id)::text` on an integer converts: statistics on id say nothing of the text it compares.
    const conversion = p.kind === 'column' ? conversionOf(p.column, relation) : undefined;
    const expression =
      conversion ??
      (p.kind === 'expression' || p.kind === 'pattern' || p.kind === 'textSearch' ? p.expression : undefined);
    const column = conversion
      ? undefined
      : p.kind === 'column' || p.kind === 'pattern' || p.kind === 'textSearch'
        ? p.column
        : undefined;
    if (column && mine(column)) addColumn(column.column);
    else if (expression && expression.columns.every(mine)) {
      if (!expressions.some((e) => e.sql === expression.sql)) expressions.push(expression);
    } else if (p.kind === 'opaque' || p.kind === 'or') opaque = true;
  }
  // An OR, a `<>`, ... : the columns it compares as they are are still what the statistics must
  // describe; a column only inside a function or a computation (`to_tsvector(..., name) @@ ...`) is
  // not: statistics on it say nothing of the expression's values.
  if (opaque) for (const c of bareConditionColumns(filter)) if (mine(c)) addColumn(c.column);
  const table = relation.name;
  const analyze = `ANALYZE ${table};`;
  if (expressions.length === 0) {
    if (columns.length === 0) return undefined;
    if (columns.length === 1)
      return `ALTER TABLE ${table} ALTER COLUMN ${quoteIdentifier(columns[0]!)} SET STATISTICS 1000; ${analyze}`;
    const name = statisticsName(relation, columns);
    return `CREATE STATISTICS ${name} ON ${columns.map(quoteIdentifier).join(', ')} FROM ${table}; ${analyze} -- the columns are correlated: the planner multiplies their selectivities`;
  }
  if (serverVersionNum >= EXPRESSION_STATISTICS) {
    const elements = [...expressions.map((e) => `(${e.sql})`), ...columns.map(quoteIdentifier)];
    const name = statisticsName(relation, [...expressions.flatMap((e) => e.nameParts), ...columns]);
    return `CREATE STATISTICS ${name} ON ${elements.join(', ')} FROM ${table}; ${analyze} -- statistics on the expression, which a column's statistics do not describe (its functions must be IMMUTABLE)`;
  }
  const indexes = expressions.map((e) => `CREATE INDEX ON ${table} ((${e.sql}));`).join(' ');
  return `${indexes} ${analyze} ${NOT_VALIDATED}; ANALYZE samples an index's expression, and PostgreSQL 13 has no statistics on expressions (its functions must be IMMUTABLE)`;
}

/**
 * The statistics from which the planner would estimate an aggregate's groups, read from its group
 * keys as the plan prints them: it estimates the groups of one column from that column's distinct
 * values, of several columns as the product of theirs (correlated columns multiply far beyond the
 * real groups), and of an expression from the distinct values of the columns in it (a month of a
 * timestamp has as many "groups" as the timestamp has values). Statistics on the columns together
 * (ndistinct), or on the expression (PostgreSQL 14+, where an expression index before), correct
 * that. An expression PostgreSQL cannot index (a function that is not IMMUTABLE, as the report's
 * `indexableExpressions` says) can have no statistics either: nothing is actionable then, and the
 * suggestion says why. Keys over several tables, or over a subquery's output, have no fix either.
 */
function groupsFix(
  node: PlanNode,
  relationOf: (node: PlanNode) => RelationInfo | undefined,
  serverVersionNum: number,
): { suggestion: string; actionable: boolean; unindexable?: string } {
  const keys = planKeys(node);
  const relations = new Set(keys.map((k) => (k.scan ? relationOf(k.scan) : undefined)));
  const [relation] = relations;
  if (!relation || relations.size !== 1)
    return {
      suggestion:
        'no statistics object can describe these groups: their keys are not the columns or expressions of one table the aggregate reads',
      actionable: false,
    };
  const table = relation.name;
  const analyze = `ANALYZE ${table};`;
  const refused = keys.find((k) => k.expression && relation.indexableExpressions?.[k.expression.sql] === false);
  if (refused?.expression)
    return {
      suggestion: `no statistics can describe ${refused.expression.sql}: PostgreSQL builds statistics (and indexes) only on expressions it can index, and it cannot index ${unindexableExpression(refused.expression.sql, relation.expressionRefusals?.[refused.expression.sql])}; the planner estimates its groups from the distinct values of its columns`,
      actionable: false,
      unindexable: refused.expression.sql,
    };
  const expressions = keys.flatMap((k) => (k.expression ? [k.expression] : []));
  const columns = [...new Set(keys.flatMap((k) => (k.column ? [k.column.column] : [])))];
  if (expressions.length === 0) {
    if (columns.length === 1)
      return {
        suggestion: `ALTER TABLE ${table} ALTER COLUMN ${quoteIdentifier(columns[0]!)} SET STATISTICS 1000; ${analyze} -- a larger sample counts the column's distinct values better`,
        actionable: true,
      };
    const name = statisticsName(relation, columns);
    return {
      suggestion: `CREATE STATISTICS ${name} (ndistinct) ON ${columns.map(quoteIdentifier).join(', ')} FROM ${table}; ${analyze} -- the columns are correlated: the planner multiplies their distinct values`,
      actionable: true,
    };
  }
  const unchecked = expressions.some((e) => relation.indexableExpressions?.[e.sql] === undefined);
  const immutable = unchecked ? ' (its functions must be IMMUTABLE)' : '';
  if (serverVersionNum >= EXPRESSION_STATISTICS) {
    const elements = [...expressions.map((e) => `(${e.sql})`), ...columns.map(quoteIdentifier)];
    const name = statisticsName(relation, [...expressions.flatMap((e) => e.nameParts), ...columns]);
    return {
      suggestion: `CREATE STATISTICS ${name} ON ${elements.join(', ')} FROM ${table}; ${analyze} -- statistics on the grouping expression, whose distinct values a column's statistics do not count${immutable}`,
      actionable: true,
    };
  }
  const indexes = expressions.map((e) => `CREATE INDEX ON ${table} ((${e.sql}));`).join(' ');
  return {
    suggestion: `${indexes} ${analyze} ${NOT_VALIDATED}; ANALYZE samples an index's expression, and PostgreSQL 13 has no statistics on expressions${immutable}`,
    actionable: true,
  };
}

/** `schema.table_parts_stats`: a statistics object lives in a schema, like the table. */
function statisticsName(relation: RelationInfo, parts: readonly string[]): string {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '');
  const base = [clean(relation.table), ...parts.map(clean)].filter(Boolean).join('_').slice(0, 57);
  return `${quoteIdentifier(relation.schema)}.${quoteIdentifier(`${base}_stats`)}`;
}

function isStale(statRows: number, liveRows: number, ratio: number): boolean {
  if (statRows < 0) return liveRows > 0; // never analyzed
  return Math.max(statRows, liveRows) / Math.max(1, Math.min(statRows, liveRows)) >= ratio;
}

function joinCondition(node: PlanNode): string | undefined {
  for (const key of ['Hash Cond', 'Merge Cond', 'Join Filter', 'Index Cond'] as const) {
    const value = node[key];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

function hasMismatchedDescendant(node: PlanNode, mismatched: ReadonlyMap<PlanNode, unknown>): boolean {
  return (node.Plans ?? []).some((child) => mismatched.has(child) || hasMismatchedDescendant(child, mismatched));
}

/** Nodes below something that may stop pulling rows early (Limit, semi/anti join, merge join). */
function earlyStoppingNodes(root: PlanNode): Set<PlanNode> {
  const out = new Set<PlanNode>();
  const visit = (node: PlanNode, below: boolean): void => {
    if (below) out.add(node);
    const stops =
      node['Node Type'] === 'Limit' ||
      node['Node Type'] === 'Merge Join' ||
      node['Join Type'] === 'Semi' ||
      node['Join Type'] === 'Anti' ||
      node['Parent Relationship'] === 'SubPlan' ||
      node['Parent Relationship'] === 'InitPlan';
    for (const child of node.Plans ?? []) visit(child, below || stops);
  };
  visit(root, false);
  return out;
}
