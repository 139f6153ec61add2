/**
 * The gate as `run` and `check` apply it: the budget's `rules:` section over the config's, the rules
 * re-run on a saved report when those settings differ from the ones it was made with, then
 * `evaluateBudget`. Pure.
 */
import { ADVISED_RULES } from '../advise/candidates.js';
import { applyRules, explainTimeByAdvice, mergeSameFixes } from '../analyze/engine.js';
import { resolveRules, type ResolvedRules, type RulesConfig } from '../config/config.js';
import type { Budget } from '../model/budget.js';
import type { Finding } from '../model/finding.js';
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
 * carried over as directives on the statement. The index advice the run validated on the planner is
 * carried over too (`keepRunAdvice`): the saved report has no database to validate against.
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
  const ruled = keepRunAdvice(report, applyRules(report, { rules, statements, registry }));
  // As the run settles its findings after advice: one finding per validated index, and a validated
  // index, rather than a timing rule, explaining a slow statement.
  return explainTimeByAdvice(mergeSameFixes(ruled), { rules, registry });
}

/**
 * The run's index advice on the findings of the rules run again. A rule's own suggestion is an
 * unvalidated guess; the run replaced it on every finding that gets index advice with what the
 * planner said of its candidates (the validated index, or why no index helps). Candidates come
 * from the finding's plan node and relation only, so a finding of the same rule on the same node and
 * relation of the same statement keeps the run's suggestion and advice: new rule settings change
 * whether and how severely a finding is reported, not what the planner said of its indexes. A
 * finding the run merged into another with the same fix (`evidence.sameFixAs`) gets that one's.
 * Findings the run did not have keep the rule's own suggestion.
 */
export function keepRunAdvice(run: Report, ruled: Report): Report {
  const before = new Map(run.queries.map((q) => [q.fingerprint, q]));
  return {
    ...ruled,
    queries: ruled.queries.map((query) => {
      const old = before.get(query.fingerprint)?.findings ?? [];
      if (old.length === 0) return query;
      let changed = false;
      const findings = query.findings.map((f): Finding => {
        if (!ADVISED_RULES.includes(f.rule)) return f;
        const sameNode = (o: Finding) => o.nodePath === f.nodePath && o.relation === f.relation;
        const from =
          old.find((o) => o.rule === f.rule && sameNode(o)) ??
          old.find(
            (o) =>
              sameNode(o) &&
              o.advice !== undefined &&
              String(o.evidence.sameFixAs ?? '')
                .split(', ')
                .includes(f.rule),
          );
        if (!from) return f;
        changed = true;
        const { suggestion: _own, advice: _none, ...rest } = f;
        return {
          ...rest,
          ...(from.suggestion !== undefined ? { suggestion: from.suggestion } : {}),
          ...(from.advice !== undefined ? { advice: from.advice } : {}),
        };
      });
      return changed ? { ...query, findings } : query;
    }),
  };
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
