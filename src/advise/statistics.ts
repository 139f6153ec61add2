/**
 * Statistics fixes, validated: a row-estimate-mismatch finding proposes statistics (`CREATE
 * STATISTICS ... ON (expr)`, a larger statistics target) from the filter the planner misjudged.
 * Whether they change the estimate is the planner's to say: inside a transaction that is rolled back,
 * the statistics are created and the table analyzed, the statement is explained again, and the
 * scan's new estimate is compared with the rows EXPLAIN ANALYZE counted. Statistics that leave the
 * estimate as it was are no fix, and the finding says so.
 */
import { planNodes } from '../analyze/plan-facts.js';
import { tryParse } from '../analyze/parser.js';
import { explainStatement } from '../capture/explain.js';
import { INTERNAL_MARK } from '../capture/statements.js';
import { FIX_OR, type Finding } from '../model/finding.js';
import type { PlanNode } from '../model/plan.js';
import type { QueryReport, Report } from '../model/report.js';
import { findRule } from '../rules/index.js';
import { asServerError, type Session } from '../target/pg.js';
import type { ExplainTarget, ValidationSettings } from './validate.js';

/** Statements a statistics fix is made of, which may run in the rolled-back transaction. */
const STATISTICS_STATEMENTS = new Set(['CreateStatsStmt', 'AlterTableStmt', 'VacuumStmt']);

/** The misestimate from which a node is reported: row-estimate-mismatch's default. */
const RATIO = Number(findRule('row-estimate-mismatch')?.defaultOptions.ratio ?? 10);

/** The statements of a statistics fix (`CREATE STATISTICS ...; ANALYZE ...;`), before its comment. */
export function statisticsStatements(suggestion: string): string[] | undefined {
  const sql = suggestion.split(FIX_OR)[0]!.replace(/\s--\s[\s\S]*$/, '');
  const parsed = tryParse(sql)?.stmts ?? [];
  if (parsed.length === 0) return undefined;
  const out: string[] = [];
  for (const s of parsed) {
    const type = s.stmt ? Object.keys(s.stmt)[0] : undefined;
    if (!type || !STATISTICS_STATEMENTS.has(type)) return undefined;
    const start = s.stmt_location ?? 0;
    const text = sql.slice(start, s.stmt_len ? start + s.stmt_len : undefined).trim();
    if (type === 'AlterTableStmt' && !/\bSET\s+STATISTICS\b/i.test(text)) return undefined;
    if (type === 'VacuumStmt' && !/^ANALYZE\b/i.test(text)) return undefined;
    out.push(text);
  }
  return out;
}

/** The rows a scan with this condition is expected to return, over all processes, in the plan. */
function estimateFor(root: PlanNode, table: string, condition: string, perLoop: boolean): number | undefined {
  for (const { node, parallelDivisor, rescanned } of planNodes(root)) {
    if (node['Relation Name'] !== table) continue;
    const conditions = [node.Filter, node['Index Cond'], node['Recheck Cond']];
    if (!conditions.includes(condition)) continue;
    return perLoop || rescanned ? node['Plan Rows'] : node['Plan Rows'] * parallelDivisor;
  }
  return undefined;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * The planner's estimate of the finding's scan with the statistics its suggestion proposes, inside
 * a transaction that is rolled back; undefined where it cannot be had (not allowed, refused, the
 * scan not found in the new plan).
 */
async function estimateWith(
  session: Session,
  statements: readonly string[],
  target: ExplainTarget,
  finding: Finding,
  settings: ValidationSettings,
): Promise<number | undefined> {
  const table = finding.relation?.replace(/^.*\./, '');
  const condition = finding.evidence.condition;
  if (!table || typeof condition !== 'string') return undefined;
  try {
    await session.query('BEGIN');
    await session.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(settings.buildTimeoutMs))}`);
    await session.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(settings.lockTimeoutMs))}`);
    // Marked as querygate's own after the first keyword, as every statement it sends.
    for (const sql of statements) await session.query(sql.replace(/^(\w+)/, `$1 ${INTERNAL_MARK}`));
    const result = await explainStatement(session, {
      sql: target.sql,
      ...(target.params ? { params: target.params } : {}),
      paramCount: target.paramCount,
      analyze: false,
      timeoutMs: settings.explainTimeoutMs,
      serverVersionNum: settings.serverVersionNum,
      savepoint: true,
      ...(settings.explainAs ? { as: settings.explainAs } : {}),
    });
    if (!result.ok) return undefined;
    return estimateFor(result.plan.root, table, condition, finding.evidence.rows === 'per loop');
  } catch (error) {
    if (asServerError(error) === undefined) throw error;
    return undefined;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * The finding with the planner's verdict on its statistics: validated (the estimate comes within
 * the reported ratio of the rows counted, or closer), or no fix (the estimate stays within a factor
 * of two of what it was: the finding becomes info, as one without a fix is).
 */
export function judgeStatistics(finding: Finding, estimate: number): Finding {
  const actual = Number(finding.evidence.actualRows);
  const before = Number(finding.evidence.estimatedRows);
  const ratio = (e: number) => Math.max(e, actual) / Math.max(1, Math.min(e, actual));
  const per = finding.evidence.rows === 'per loop' ? ' per loop' : '';
  const [fix, ...others] = (finding.suggestion ?? '').split(FIX_OR);
  const expected = `the planner expects ${count(estimate)} rows${per} where ${count(actual)} were counted`;
  if (ratio(estimate) >= ratio(before) / 2) {
    const sql = statisticsStatements(fix ?? '')?.join('; ') ?? fix;
    const still = expected.replace('the planner expects', 'the planner still expects');
    const verdict = `no statistics change this estimate: with ${sql}, ${still} (it expected ${count(before)}; validated with rollback-build)`;
    return { ...finding, severity: 'info', suggestion: [verdict, ...others].join(FIX_OR) };
  }
  const close = ratio(estimate) < RATIO ? '' : ', closer but still off';
  const validated = `${fix}; validated with rollback-build: with them ${expected} (it expected ${count(before)}${close})`;
  return { ...finding, suggestion: [validated, ...others].join(FIX_OR) };
}

/**
 * Validates the statistics each row-estimate-mismatch finding of a filter proposes (see the module
 * doc). Done where indexes may be built (the embedded database, `--allow-index-build`): creating
 * statistics and analyzing take a lock that conflicts with other DDL and with autovacuum.
 */
export async function adviseStatistics(
  session: Session,
  report: Report,
  options: {
    readonly allowBuild: boolean;
    readonly settings: ValidationSettings;
    readonly targetOf: (query: QueryReport) => ExplainTarget | undefined;
    readonly stopped?: () => boolean;
  },
): Promise<Report> {
  if (!options.allowBuild) return report;
  let changed = false;
  const queries: QueryReport[] = [];
  for (const query of report.queries) {
    let findings = query.findings;
    for (const [i, finding] of query.findings.entries()) {
      if (finding.rule !== 'row-estimate-mismatch' || finding.messageId !== 'filter' || !finding.suggestion) continue;
      if (options.stopped?.()) break;
      const statements = statisticsStatements(finding.suggestion);
      const target = statements ? options.targetOf(query) : undefined;
      if (!statements || !target) continue;
      const estimate = await estimateWith(session, statements, target, finding, options.settings);
      if (estimate === undefined) continue;
      const judged = judgeStatistics(finding, estimate);
      findings = findings.map((f, n) => (n === i ? judged : f));
    }
    if (findings !== query.findings) changed = true;
    queries.push(findings === query.findings ? query : { ...query, findings });
  }
  return changed ? { ...report, queries } : report;
}
