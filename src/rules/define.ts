/**
 * The rule contract. A rule is pure: it reads one statement's statistics, plan and relation
 * metadata and returns findings; it does no I/O. See docs/rules/ and STYLE in CONTRIBUTING.md.
 */
import type { Finding, Severity } from '../model/finding.js';
import type { QueryReport, RelationInfo, Report } from '../model/report.js';

export type RuleCategory = 'scan' | 'predicate' | 'memory' | 'estimate' | 'join' | 'pagination' | 'volume' | 'time' | 'pattern';

/** Scalar options a user can override in the config or budget file. */
export type RuleOptions = Readonly<Record<string, number | string | boolean>>;

export interface RuleContext<O extends RuleOptions> {
  readonly query: QueryReport;
  readonly report: Report;
  /** Relations by schema-qualified name and by bare table name. */
  readonly relation: (name: string | undefined) => RelationInfo | undefined;
  readonly options: O;
}

/** What `check` returns; the engine adds `rule` and the configured `severity`. */
export interface RuleFinding extends Omit<Finding, 'rule' | 'severity' | 'message'> {
  /** Values substituted into the message template `{name}` placeholders. */
  readonly data?: Readonly<Record<string, string | number>>;
  /** Override the rule's severity for this finding (e.g. a milder case), else the configured one. */
  readonly severity?: Severity;
}

export interface Rule<O extends RuleOptions = RuleOptions> {
  /** Public, stable id; the file name under src/rules/ and docs/rules/. */
  readonly id: string;
  readonly severity: Severity;
  readonly category: RuleCategory;
  /** One line; docs/rules/<id>.md must start with the same sentence. */
  readonly description: string;
  /** Message templates by id, with `{name}` placeholders filled from `RuleFinding.data`. */
  readonly messages: Readonly<Record<string, string>>;
  readonly defaultOptions: O;
  readonly check: (context: RuleContext<O>) => readonly RuleFinding[];
}

/** Declares a rule (an identity function that pins the option types). */
export function defineRule<O extends RuleOptions>(rule: Rule<O>): Rule<O> {
  return rule;
}
