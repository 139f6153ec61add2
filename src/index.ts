/**
 * querygate's library API. The CLI (src/cli/) is a thin layer over these functions.
 *
 * @example
 * ```ts
 * import { loadScenario, runWorkload, renderTable } from 'querygate';
 * const report = await runWorkload({ workload: loadScenario('scenarios/outage-demo.yaml', {}) });
 * console.log(renderTable(report));
 * ```
 */
export * from './errors.js';
export type * from './model/report.js';
export type * from './model/plan.js';
export type * from './model/finding.js';
export type * from './model/workload.js';
export type * from './model/comparison.js';
export type * from './model/budget.js';
export { isAtLeast, SEVERITIES } from './model/finding.js';
export { REPORT_VERSION, statementKey, topLevel } from './model/report.js';
export { loadParser, fingerprintStatement, splitStatements } from './analyze/parser.js';
export { walkPlan, renderPlanText, nodeLabel } from './analyze/plan.js';
export { openTarget, type Target, type OpenTargetOptions } from './target/target.js';
export { loadScenario, loadSqlWorkload, type LoadOverrides } from './workload/load.js';
export { runWorkload, runOnTarget, type RunOptions } from './run/run.js';
export { finalizeReport, type AnalysisOptions } from './run/finalize.js';
export { renderJson } from './report/json.js';
export { readReport, parseReport } from './report/read.js';
export { renderTable } from './report/table.js';
export { renderCulprit } from './report/culprit.js';
export { compareReports } from './compare/compare.js';
export { diffPlans, renderPlanDiff, type PlanDiffContext } from './compare/plan-diff.js';
export { DEFAULT_COMPARE_THRESHOLDS, resolveCompareThresholds } from './compare/thresholds.js';
export { welchTTest, holmAdjust, type WelchResult } from './compare/stats.js';
export { COMPARISON_VERSION } from './model/comparison.js';
export { renderComparisonTable, type ComparisonTableOptions } from './report/comparison-table.js';
export { renderComparisonMarkdown, type ComparisonMarkdownOptions } from './report/comparison-markdown.js';
export { renderComparisonJson } from './report/comparison-json.js';
export {
  defineRule,
  type AnyRule,
  type Rule,
  type RuleContext,
  type RuleFinding,
  type RuleOptions,
} from './rules/define.js';
export { RULES, findRule } from './rules/index.js';
export {
  applyRules,
  findingsAtLeast,
  ignoreDirectives,
  type RuleSettings,
  type SourceStatement,
} from './analyze/engine.js';
export {
  loadConfig,
  findConfigFile,
  resolveRules,
  defaultRules,
  describeRules,
  type QuerygateConfig,
  type LoadedConfig,
  type RulesConfig,
  type RuleSetting,
  type RuleLevel,
  type ResolvedRule,
  type ResolvedRules,
} from './config/config.js';
export {
  adviseReport,
  adviseDetails,
  DEFAULT_MIN_IMPROVEMENT,
  type AdviseOptions,
  type AdvisedStatement,
  type CandidateResult,
  type FindingAdvice,
} from './advise/advise.js';
export { generateCandidates, type IndexCandidate } from './advise/candidates.js';
export {
  evaluateBudget,
  median,
  statementMeanMs,
  totalDbMs,
  DEFAULT_FAIL_ON,
  GLOBAL_LIMITS,
  STATEMENT_LIMITS,
  ROUTE_LIMITS,
  type GateOptions,
} from './budget/evaluate.js';
export { loadBudget, parseBudget, findBudgetFile, BUDGET_FILE_NAME, type BudgetLoadOptions } from './budget/load.js';
export { gateReport, budgetRules, reapplyRules, type GateReportOptions } from './budget/gate.js';
export { initialBudget, renderInitialBudget, LOOP_CALLS_PER_REQUEST, type InitOptions } from './budget/init.js';
export { renderMarkdown, MARKDOWN_MAX_CHARS, type MarkdownOptions } from './report/markdown.js';
export { renderJunit, type JunitOptions } from './report/junit.js';
export { renderGithub, type GithubOptions } from './report/github.js';
export { renderSarif, type SarifOptions } from './report/sarif.js';
export { renderGateText, type GateTextOptions } from './report/gate-text.js';
export { renderFormat, OUTPUT_FORMATS, FORMAT_FILES, type OutputFormat, type RenderOptions } from './report/formats.js';
export { loadHttpScenario, isHttpScenario, type HttpLoadOverrides } from './workload/http/scenario.js';
export { runHttpWorkload, runHttpOnTarget, type HttpRunOptions, type HttpProgress } from './workload/http/phases.js';
export { parseHar, type HarOptions } from './workload/http/har.js';
export { parseAccessLog, type AccessLogOptions } from './workload/http/access-log.js';
export {
  routesFromRequests,
  type ObservedRequest,
  type ImportResult,
  type GroupOptions,
} from './workload/http/observed.js';
export { captureCommand, captureOnTarget, type CaptureOptions } from './workload/command.js';
export { renderRoutesTable, renderRouteCulprits, findNPlusOne, type RoutesTableOptions } from './report/routes.js';
