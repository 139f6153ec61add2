/**
 * The rule contract. A rule is pure: it reads one statement's statistics, plan, parse tree and
 * relation metadata and returns findings; it does no I/O. One rule per file (`src/rules/<id>.ts`),
 * registered in `src/rules/index.ts`, documented in `docs/rules/<id>.md`.
 *
 * @example
 * ```ts
 * export default defineRule({
 *   id: 'slow-mean',
 *   severity: 'warning',
 *   category: 'time',
 *   description: 'A statement whose mean execution time is above a threshold.',
 *   messages: { slow: 'mean execution time {meanMs} ms is above {thresholdMs} ms' },
 *   defaultOptions: { thresholdMs: 100 },
 *   check: ({ query, options }) =>
 *     query.meanMs > options.thresholdMs
 *       ? [{ messageId: 'slow', evidence: { meanMs: query.meanMs, thresholdMs: options.thresholdMs } }]
 *       : [],
 * });
 * ```
 */
import type { PlanNodeFacts } from '../analyze/plan-facts.js';
import type { TreeNode } from '../analyze/sql-tree.js';
import type { Finding, Severity } from '../model/finding.js';
import type { PlanNode } from '../model/plan.js';
import type { QueryReport, RelationInfo, Report } from '../model/report.js';

export type RuleCategory =
  'scan' | 'predicate' | 'memory' | 'estimate' | 'join' | 'pagination' | 'volume' | 'time' | 'pattern';

/** Scalar options a user can override in the config or budget file. */
export type RuleOptions = Readonly<Record<string, number | string | boolean>>;

export interface RuleContext<O extends RuleOptions> {
  readonly query: QueryReport;
  /** The whole report: totals, other statements, relations, HTTP routes (`report.routes`). */
  readonly report: Report;
  /** The statement as the client sent it (literals intact) where known, else `query.query`. */
  readonly sql: string;
  /** Values of `$1..$n` in `sql`, as text, where known (the plan's or the replay's). */
  readonly params?: readonly (string | null)[];
  /** Largest numeric value the replay sent per `$n` (null: not a number), where known. */
  readonly paramMax?: readonly (number | null)[];
  /** Parse tree of `sql` (one node per statement; empty when it does not parse). */
  readonly tree: readonly TreeNode[];
  /** The plan's nodes, depth first, with their paths (empty without a plan). */
  readonly nodes: readonly PlanNodeFacts[];
  /** Relations by schema-qualified name and by bare table name. */
  readonly relation: (name: string | undefined) => RelationInfo | undefined;
  /** The relation a plan node reads, if any. */
  readonly relationOf: (node: PlanNode) => RelationInfo | undefined;
  readonly options: O;
}

/**
 * What `check` returns; the engine adds `rule`, the message and the severity.
 *
 * Severity: the configured severity (the rule's default unless the config changes it) is the
 * severity of a clear case. `level: 'mild'` reports one step below it (error -> warning -> info),
 * `level: 'note'` always as info: context worth seeing, never a gate.
 */
export interface RuleFinding extends Omit<Finding, 'rule' | 'severity' | 'message'> {
  /** Values for the message template's `{name}` placeholders, in addition to `evidence`. */
  readonly data?: Readonly<Record<string, string | number>>;
  readonly level?: 'mild' | 'note';
}

export interface Rule<O extends RuleOptions = RuleOptions> {
  /** Public, stable id; the file name under src/rules/ and docs/rules/. */
  readonly id: string;
  /** Severity of a clear case. */
  readonly severity: Severity;
  readonly category: RuleCategory;
  /** One line; docs/rules/<id>.md starts with the same sentence. */
  readonly description: string;
  /** Message templates by id, with `{name}` placeholders filled from `data` and `evidence`. */
  readonly messages: Readonly<Record<string, string>>;
  /** Every option with its default; a config value must have the same type. */
  readonly defaultOptions: O;
  /**
   * Which fix leads when index advice puts a validated index beside the rule's own fix of another
   * kind (a rewrite): `'index'` (the default) or `'rewrite'`, for a rule whose rewrite is the fix
   * and an index the alternative (a non-sargable predicate, once rewritten, is served by the index
   * the column already has).
   */
  readonly firstFix?: 'index' | 'rewrite';
  /** Pure: the findings for one statement (method syntax keeps rules assignable to `AnyRule`). */
  check(context: RuleContext<O>): readonly RuleFinding[];
}

/** Declares a rule (an identity function that pins the option types). */
export function defineRule<O extends RuleOptions>(rule: Rule<O>): Rule<O> {
  return rule;
}

/** A rule with its options type erased, as the registry holds it. */
export type AnyRule = Rule<RuleOptions>;
