/**
 * The gate as `run` and `check` apply it: the budget's `rules:` section over the config's, the rules
 * re-run on a saved report when those settings differ from the ones it was made with, then
 * `evaluateBudget`. Pure.
 */
import { applyRules } from '../analyze/engine.js';
import { resolveRules, type ResolvedRules, type RulesConfig } from '../config/config.js';
import type { Budget } from '../model/budget.js';
import type { Report } from '../model/report.js';
import type { AnyRule } from '../rules/define.js';
import { RULES } from '../rules/index.js';
import { evaluateBudget, type GateOptions } from './evaluate.js';

/** The config's `rules:` with the budget's entries replacing them rule by rule, resolved. */
export function budgetRules(
  config: RulesConfig | undefined,
  budget: Budget | undefined,
  registry: readonly AnyRule[] = RULES,
): ResolvedRules {
  return resolveRules({ ...(config ?? {}), ...(budget?.rules ?? {}) }, { registry, code: 'BUDGET_INVALID' });
}

/**
 * Runs the rules again over a saved report. Comments before a statement are gone from the saved
 * text (pg_stat_statements drops them), so `querygate-ignore` suppressions the run found are
 * carried over as directives on the statement.
 */
export function reapplyRules(report: Report, rules: ResolvedRules, registry: readonly AnyRule[] = RULES): Report {
  const statements = report.queries.map((q) => {
    const directives = q.suppressed
      .filter((s) => s.source === 'comment')
      .map((s) => `/* querygate-ignore: ${s.rule} ${s.reason.replace(/\*\//g, '* /')} */`);
    return {
      fingerprint: q.fingerprint,
      sql: `${directives.join('\n')}${directives.length > 0 ? '\n' : ''}${q.query}`,
    };
  });
  return applyRules(report, { rules, statements, registry });
}

export interface GateReportOptions extends GateOptions {
  /** The config file's `rules:` section. */
  readonly config?: RulesConfig;
  /** Run the rules again with the merged settings (for saved reports; a fresh run already did). */
  readonly rerunRules?: boolean;
  readonly registry?: readonly AnyRule[];
}

/** The report with the gate's verdict in `gate` (and findings as the budget's rule settings make them). */
export function gateReport(report: Report, budget: Budget | undefined, options: GateReportOptions = {}): Report {
  const registry = options.registry ?? RULES;
  const rules = budgetRules(options.config, budget, registry);
  const ruled = options.rerunRules ? reapplyRules(report, rules, registry) : report;
  const { gate: _previous, ...plain } = ruled;
  const gate = evaluateBudget(plain, budget, {
    ...options,
    rules: registry.map((r) => {
      const setting = rules[r.id];
      return {
        id: r.id,
        severity: setting && !setting.enabled ? 'off' : (setting?.severity ?? r.severity),
        description: r.description,
        // Its findings come and go with the machine's speed and the rest of the workload.
        ...(r.category === 'time' ? { timing: true } : {}),
      };
    }),
  });
  return { ...plain, gate };
}
