/**
 * A statement's reference in a budget: what the run the budget was made from measured, beside the
 * limits (`StatementBudget.reference`). Pure.
 */
import { planShape } from '../analyze/plan.js';
import { parameterDraws } from '../compare/work-spread.js';
import type { StatementReference } from '../model/budget.js';
import type { QueryReport, Report } from '../model/report.js';
import { statementMeanMs } from './evaluate.js';

const significant = (n: number) => Number(n.toPrecision(4));
const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** What `budget init` records of a statement next to its limits. */
export function statementReference(q: QueryReport, report: Report): StatementReference {
  const plan = q.plan ? { planCost: q.plan.totalCost, planShape: planShape(q.plan.root) } : {};
  // pg_stat_statements records only the calls that complete: a statement every call of which failed
  // measured no time, blocks or rows (its zeros are no measurement), only its plan.
  if (q.calls === 0) return { calls: 0, ...plan };
  const draws = parameterDraws(q, report.routes);
  return {
    calls: q.calls,
    ...(draws < q.calls ? { requests: draws } : {}),
    meanMs: significant(statementMeanMs(q).value),
    stddevMs: significant(q.stddevMs),
    blocksPerCall: round3(q.sharedBlksPerCall),
    rowsPerCall: round3(q.rowsPerCall),
    ...plan,
  };
}
