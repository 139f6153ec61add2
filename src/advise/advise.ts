/**
 * Index advice, validated: for findings about scans that an index could avoid, propose concrete
 * indexes (candidates.ts), let the real planner judge each one (validate.ts), and attach the best
 * one to the finding when it lowers the statement's plan cost enough. A candidate the planner does
 * not use, or that saves too little, is never shown as a fix.
 */
import { measureWith, whyNotAnalyzable } from '../analyze/measure.js';
import { tryParse } from '../analyze/parser.js';
import { walkPlan } from '../analyze/plan.js';
import { relationRows } from '../analyze/plan-facts.js';
import { parseTree, withoutLimit } from '../analyze/sql-tree.js';
import { countParams } from '../workload/load.js';
import { findRule } from '../rules/index.js';
import { keysetSuggestion, outerOffset } from '../rules/shared/keyset.js';
import { existingIndexFix, type ScanChoice } from '../rules/shared/unused-index.js';
import { GENERATED_COLUMN_FIX, generatedColumnFix } from '../rules/shared/generated-column.js';
import { generatedColumnRewrite } from '../analyze/generated-columns.js';
import { adviseStatistics } from './statistics.js';
import { otherStatementPlan, otherStatementsNote, statementsReading, type CandidateTable } from './side-effects.js';
import { expectedBlocks, overestimatedScan } from './estimates.js';
import { FIX_OR, type Finding, type IndexAdvice, type OtherStatementPlan } from '../model/finding.js';
import type { ExplainAs, PlanNode } from '../model/plan.js';
import { statementKey, type QueryReport, type RelationInfo, type Report } from '../model/report.js';
import { explainableSql } from '../capture/explain.js';
import { asServerError, type Session } from '../target/pg.js';
import {
  ADVISED_RULES,
  DEFAULT_MAX_CANDIDATES,
  candidateKey,
  quoteRelation,
  generateCandidates,
  nameCandidates,
  candidateIndexes,
  indexDefinition,
  proposalOrder,
  typicalRows,
  unusedPartialIndexes,
  type IndexCandidate,
} from './candidates.js';
import {
  checkDefinition,
  correlationStatistics,
  explainCosts,
  measureWithBuild,
  runStatement,
  validateWithStatistics,
  probeCapabilities,
  validateWithBuild,
  validateWithHypopg,
  type ExplainTarget,
  type StatementCost,
  type ValidationCapabilities,
  type IndexUse,
  type ValidationOutcome,
  type ValidationSettings,
} from './validate.js';

/** A statement as the client sent it, to explain it exactly as the capture did. */
export interface AdvisedStatement {
  readonly fingerprint: string;
  readonly sql: string;
  readonly paramCount: number;
  readonly params?: readonly (string | null)[];
}

export interface AdviseOptions {
  /**
   * Build candidates (inside a rolled-back transaction) on an external database. Always done on the
   * embedded one. The build blocks writes to the table while it runs.
   */
  readonly allowIndexBuild?: boolean;
  /** Show a candidate as a fix only if it lowers the plan cost by at least this share (default 0.5). */
  readonly minImprovement?: number;
  /** The statements as the client sent them (SQL replay); else the report's normalized text is used. */
  readonly statements?: readonly AdvisedStatement[];
  /** statement_timeout of each EXPLAIN, ms (default 10 s). */
  readonly explainTimeoutMs?: number;
  /** statement_timeout of each index build, ms (default 60 s). */
  readonly buildTimeoutMs?: number;
  /** lock_timeout of each index build, ms (default 2 s). */
  readonly lockTimeoutMs?: number;
  /** Candidates per finding (default 10). */
  readonly maxCandidates?: number;
  /** Distinct candidates validated per report (default 40); the rest stay unvalidated. */
  readonly maxValidations?: number;
  /** Time for validating candidates per report, ms (default 2 min); the rest stay unvalidated. */
  readonly maxValidationMs?: number;
  readonly onStep?: (message: string) => void;
  /**
   * True once the run was interrupted (its statement in flight is then cancelled): advice stops
   * there and keeps what was validated before, sending nothing more to the server.
   */
  readonly stopped?: () => boolean;
  /** The role and settings the capture planned as: every plan of the advice is made as they are. */
  readonly explainAs?: ExplainAs;
}

export const DEFAULT_MIN_IMPROVEMENT = 0.5;
export const DEFAULT_BUILD_TIMEOUT_MS = 60_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 2_000;
export const DEFAULT_MAX_VALIDATIONS = 40;
export const DEFAULT_MAX_VALIDATION_MS = 120_000;
const DEFAULT_EXPLAIN_TIMEOUT_MS = 10_000;
/** A candidate with fewer key columns wins when its cost is within this factor of the best one. */
const SIMPLER_WITHIN = 1.1;

/** How one candidate fared for one statement. */
export interface CandidateResult {
  readonly candidate: IndexCandidate;
  /** The CREATE INDEX to show (CONCURRENTLY: no write lock in production). */
  readonly sql: string;
  readonly costBefore?: number;
  /** Undefined when not validated. */
  readonly costAfter?: number;
  readonly used?: boolean;
  readonly improvement?: number;
  readonly method?: IndexAdvice['method'];
  /**
   * The same without the statement's LIMIT (a statement with one): whether the planner would use the
   * index to return every row the filter keeps, and what that costs with and without it.
   */
  readonly unlimited?: {
    readonly costBefore: number;
    readonly costAfter: number;
    readonly used: boolean;
    readonly improvement: number;
  };
  /**
   * Under the statement's LIMIT, the plan reads the index with a Filter of its own (IndexUse.filtered):
   * what the index finds is thrown away until the filter has kept the rows the LIMIT asks for.
   */
  readonly filteredWalk?: true;
  /**
   * For an expression candidate validated with extended statistics on its expression (see
   * validateWithBuild): the statement's cost with those statistics and no index, against its cost
   * under the statistics it was captured with. A large cut is a fix that needs no index.
   */
  readonly statistics?: {
    readonly expressions: readonly string[];
    readonly captured: number;
    readonly cost: number;
    readonly improvement: number;
  };
  /**
   * The statement run (EXPLAIN ANALYZE, in the rolled-back transaction) with the index built and
   * without it: a candidate the planner puts short of `minImprovement` is measured (see measureWithBuild).
   */
  readonly measured?: Measured;
  /**
   * The rows the plan with the index expects on the outer side of a nested loop that probes it once
   * per outer row, where one does: its cost rests on that estimate.
   */
  readonly probedPer?: number;
  /**
   * The plan reads the index only by walking it whole, with no Index Cond on its leading key, which
   * serves none of what it was proposed for (see servesAsProposed): not counted as used.
   */
  readonly walked?: true;
  /**
   * The rows the planner expected the scan of the candidate's table to keep, and the rows it kept,
   * run as it is (EXPLAIN ANALYZE), where the first is ten times the second or more (see
   * overestimatedScan): the index is costed for rows the statement does not find.
   */
  readonly overestimate?: { readonly estimated: number; readonly actual: number };
  /**
   * The candidate judged with extended statistics on its keys (validateWithStatistics), where with
   * them it lowers the plan cost by `minImprovement`: the statistics to create, and the statement's
   * cost under them without and with the index.
   */
  readonly correlated?: {
    readonly sql: string;
    readonly costBefore: number;
    readonly costAfter: number;
    readonly improvement: number;
  };
  /** Why it was not validated or not usable. */
  readonly note?: string;
}

/** Shared blocks and execution time of a statement run without and with an index. */
export interface Measured {
  readonly blocksBefore: number;
  readonly blocksAfter: number;
  readonly msBefore: number;
  readonly msAfter: number;
}

/**
 * True when a measured run says the index is a fix: it touches `minImprovement` fewer shared blocks
 * (the work an index saves, steadier than time on a busy machine), and runs no slower.
 */
export function measuredFix(measured: Measured, minImprovement: number): boolean {
  return (
    measured.blocksBefore > 0 &&
    1 - measured.blocksAfter / measured.blocksBefore >= minImprovement &&
    measured.msAfter <= measured.msBefore
  );
}

/** `touches 330 shared blocks instead of 11,102 and runs in 23 ms instead of 534 ms`. */
export function measuredWords(measured: Measured): string {
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  const ms = (v: number) => (v >= 10 ? n(v) : String(Math.round(v * 10) / 10));
  return `touches ${n(measured.blocksAfter)} shared blocks instead of ${n(measured.blocksBefore)} and runs in ${ms(measured.msAfter)} ms instead of ${ms(measured.msBefore)} ms`;
}

interface WorkItem {
  readonly queryIndex: number;
  readonly findingIndex: number;
  readonly candidates: readonly IndexCandidate[];
}

interface Group {
  readonly candidate: IndexCandidate;
  readonly queries: number[];
  /**
   * Other statements reading the candidate's table, planned with it in the same validation (after
   * `queries`): what the index changes beside the statements it is proposed for (side-effects.ts).
   */
  readonly watched: number[];
  outcome?: ValidationOutcome;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * A statement that pages with a deep OFFSET under its LIMIT, or one whose values are not known: an
 * index that serves its ORDER BY is walked through every row the OFFSET skips, on every call.
 */
interface PagedOffset {
  /** The offset the statement is explained with, where known. */
  readonly value?: number;
  /** The value is the largest the replay sent for the offset's parameter (not the planned one). */
  readonly deepest: boolean;
  /** The offset's values are not known (a generic plan): the planner takes it as 10% of the rows. */
  readonly unknown: boolean;
  /** The keyset rewrite that replaces the OFFSET (deep-offset's fix), which leads the suggestion. */
  readonly keyset: string;
}

/** The offset from which paging is deep: deep-offset's default. */
const DEEP_OFFSET = Number(findRule('deep-offset')?.defaultOptions.minOffset ?? 1000);

/**
 * The statement to explain, as the capture explained it: same text, same parameters or generic plan;
 * except that an OFFSET parameter is given the largest value the replay sent for it (the report's
 * `paramMax`), so that a candidate is judged at the deepest page, not at the planned one.
 */
function explainTarget(
  query: QueryReport,
  statements: readonly AdvisedStatement[],
  report: Report,
): { target: ExplainTarget; offset?: PagedOffset } | undefined {
  // What the replay sent is a top-level statement; a nested one is explained as the capture did,
  // with its function's variables made parameters (`plan.sql`).
  const client = query.nested ? undefined : statements.find((s) => s.fingerprint === query.fingerprint);
  const sql = query.plan?.sql ?? explainableSql(query.query, client);
  let paramCount: number;
  try {
    paramCount = client?.paramCount ?? countParams(sql);
  } catch {
    return undefined;
  }
  let params = query.plan?.mode === 'generic' ? undefined : (client?.params ?? query.plan?.params);
  const outer = outerOffset(parseTree(sql));
  let offset: PagedOffset | undefined;
  if (outer) {
    let value = outer.constant;
    let deepest = false;
    if (params && outer.param !== undefined) {
      const index = outer.param - 1;
      const planned = Number(params[index]);
      const max = query.paramMax?.[index];
      value = Number.isFinite(planned) ? planned : undefined;
      if (typeof max === 'number' && (value === undefined || max > value)) {
        value = max;
        deepest = true;
        params = params.map((p, i) => (i === index ? String(max) : p));
      }
    } else if (params && outer.parameterized && query.plan) {
      value = skippedRows(query.plan.root);
    }
    const unknown = outer.parameterized && !params;
    if (unknown || (value !== undefined && value >= DEEP_OFFSET)) {
      const relationOf = (t: { table: string; schema?: string }) =>
        report.relations.find((r) => r.table === t.table && (!t.schema || r.schema === t.schema));
      offset = {
        ...(value !== undefined ? { value } : {}),
        deepest,
        unknown,
        keyset: keysetSuggestion(sql, outer.level, relationOf),
      };
    }
  }
  const unlimited = withoutLimit(sql);
  return {
    target: { sql, paramCount, ...(params ? { params } : {}), ...(unlimited ? { withoutLimit: unlimited } : {}) },
    ...(offset ? { offset } : {}),
  };
}

/** With EXPLAIN ANALYZE: the rows the outermost Limit skipped (its input's rows less its own). */
function skippedRows(root: PlanNode): number | undefined {
  const limit = walkPlan(root).find((v) => v.node['Node Type'] === 'Limit')?.node;
  const input = limit?.Plans?.find((p) => p['Parent Relationship'] === 'Outer') ?? limit?.Plans?.[0];
  const read = input?.['Actual Rows'];
  const returned = limit?.['Actual Rows'];
  return read !== undefined && returned !== undefined ? Math.max(0, Math.round(read - returned)) : undefined;
}

/** True when a rule's suggestion is itself an index (or several): the validated one replaces it. */
function suggestsIndex(suggestion: string): boolean {
  const statements = tryParse(suggestion)?.stmts ?? [];
  return (
    statements.length > 0 &&
    statements.every((s) => s.stmt !== undefined && ('IndexStmt' in s.stmt || 'CreateExtensionStmt' in s.stmt))
  );
}

/** The fixes of a suggestion, in order (`<fix> -- or: <fix>`). */
const fixesOf = (suggestion: string | undefined): string[] => (suggestion ? suggestion.split(FIX_OR) : []);

/**
 * The index advice chose, and the rule's own fixes of another kind (a rewrite of a non-sargable
 * predicate that lets an existing index serve it needs no new index at all), in the order the rule
 * asks for (`firstFix`: the index first unless the rule's rewrite leads). An index the rule proposed
 * itself, from the statement alone, gives way to this one: the suggestion names one index.
 */
function combineSuggestions(index: string, finding: Finding): string {
  const rewrites = fixesOf(finding.suggestion).filter((fix) => !suggestsIndex(fix));
  const rewriteFirst = findRule(finding.rule)?.firstFix === 'rewrite';
  return (rewriteFirst ? [...rewrites, index] : [index, ...rewrites]).join(FIX_OR);
}

/** True when the candidate's build was refused for lack of privilege: its advice stays unvalidated. */
function buildDenied(outcome: ValidationOutcome | undefined): boolean {
  return outcome !== undefined && !outcome.ok && outcome.code === '42501';
}

/**
 * True when the planner's verdict on a candidate is final: validated, or refused for a reason that
 * another try would not change (a non-IMMUTABLE expression). Not when it was left out (over the
 * limits) or gave up on a timeout or a lock.
 */
function decided(outcome: ValidationOutcome | undefined): boolean {
  if (!outcome) return false;
  return outcome.ok || (outcome.code !== '57014' && outcome.code !== '55P03');
}

const percent = (share: number) =>
  share >= 0.095 ? `${Math.round(share * 100)}%` : `${Math.round(share * 1000) / 10}%`;

/** A kept share from which a B-tree rarely beats a sequential scan (random reads cost 4x sequential). */
const WIDE_FILTER = 0.05;

/**
 * Whether a plan's use of a candidate serves what the candidate was proposed for. A walk of the whole
 * index (no Index Cond on its leading key) serves an ORDER BY under a LIMIT, which stops the walk
 * early, and a join (a merge join reads its input in the index's order), but no filter: built, the
 * index gives the full read non-sargable-predicate reports, only of the index. `limited`: the plan
 * has a LIMIT over the walk; false for the statement planned without it.
 */
export function servesAsProposed(candidate: IndexCandidate, use: IndexUse, limited = true): boolean {
  if (!use.used) return false;
  if (!use.walk || candidate.joinKey) return true;
  return Boolean(candidate.sortOnly) && (use.walk === 'ordered' || !limited);
}

/** The note of a candidate the planner only walks whole (see servesAsProposed). */
export function wholeWalkNote(candidate: IndexCandidate): string {
  return `the planner only walks the whole index, with no Index Cond on ${candidate.keys[0] ?? 'its leading key'}: it serves no condition of the filter, and built it would be read in full as the table is`;
}

/**
 * Why no index is the fix, when every candidate was validated and none lowered the plan cost enough:
 * the planner's verdict on the best one, and, when the finding's evidence says so, that the filter
 * keeps too many rows for an index to pay off.
 *
 * @example
 * // "no index helps: with an index on (mood) the planner keeps its plan (cost 7592, validated with
 * //  rollback-build); by the planner's estimate the filter keeps ~30% of the rows, so a sequential
 * //  scan is what the planner will choose: reduce the rows read instead"
 */
export function noIndexHelps(
  finding: Finding,
  results: readonly CandidateResult[],
  counted: boolean,
  /** The share of its ordered walk the statement's LIMIT expects to read (limitShare), if any. */
  walkShare?: number,
  /** The plan is generic: made for a typical parameter value, the values the statement ran with unknown. */
  generic = false,
  /** How to measure the statement (`with --analyze`, or why --analyze cannot: measureWith). */
  measure = 'with --analyze',
  /** What the LIMIT stops: an index walked in the ORDER BY's order, or a scan (limitWalk). */
  walk: 'ordered walk' | 'scan' = 'ordered walk',
): string {
  const validated = results.filter((r) => r.costAfter !== undefined && r.costBefore !== undefined);
  const keys = (r: CandidateResult) =>
    candidateIndexes(r.candidate)
      .map((index) => `(${index.keys.join(', ')})`)
      .join(' + ');
  const used = validated.filter((r) => r.used).sort((a, b) => a.costAfter! - b.costAfter!);
  const best = used[0];
  const method = (best ?? validated[0])?.method;
  const how = method ? `, validated with ${method}` : '';
  // Floored: 49.7% is not "50%" when the bar is half.
  const saved = `${Math.floor(Math.max(0, best?.improvement ?? 0) * 100)}%`;
  const verdict = best
    ? `the best candidate, an index on ${keys(best)}, lowers the plan cost only from ${best.costBefore!.toFixed(0)} to ${best.costAfter!.toFixed(0)} (${saved}${how})`
    : `with an index on ${validated
        .slice(0, 3)
        .map(keys)
        .join(' or ')} the planner keeps its plan (cost ${validated[0]!.costBefore!.toFixed(0)}${how})`;
  const removed = finding.evidence.removedShare;
  const kept = typeof removed === 'number' ? 1 - removed : undefined;
  const estimate = guessedShare(finding)
    ? "by the planner's default guess for a value it does not know (not an estimate from the data) "
    : "by the planner's estimate ";
  // A scan without a filter (the inner side of a join) keeps every row because it has nothing to remove.
  const why =
    kept !== undefined && kept >= WIDE_FILTER && typeof finding.evidence.filter === 'string'
      ? `; ${counted ? '' : estimate}the filter keeps ~${percent(kept)} of the rows, so ${best ? 'an index saves little' : 'a sequential scan is what the planner will choose'}: reduce the rows read instead`
      : '';
  // A large cut that misses the bar is worth measuring: the planner undersells some indexes (a GIN
  // index's bitmap scan, say), and "no index helps" would hide one that runs several times faster.
  // Why the cut is small (a filter that keeps many rows) is said after the bar it misses; "reduce
  // the rows read instead" would contradict the advice to build and measure the index.
  if (best && ((best.improvement ?? 0) >= WORTH_MEASURING || best.measured)) {
    const wide =
      kept !== undefined && kept >= WIDE_FILTER && typeof finding.evidence.filter === 'string'
        ? ` (${counted ? '' : estimate}the filter keeps ~${percent(kept)} of the rows)`
        : '';
    const bar = `${Math.round(DEFAULT_MIN_IMPROVEMENT * 100)}%`;
    // Measured already (the statement run with the index built, rolled back): what it saved.
    if (best.measured)
      return `no index clearly helps: ${verdict}, and run with it (EXPLAIN ANALYZE in the rolled-back transaction) the statement ${measuredWords(best.measured)}: under the ${bar} the advice asks for, in the work it does too${wide}: ${best.sql}`;
    return `no index clearly helps: ${verdict}, under the ${bar} the advice asks for${wide}: build it and measure the statement ${measure} before relying on it: ${best.sql}`;
  }
  // Under a LIMIT the planner keeps an ordered walk when it expects the filter's rows early in it, a
  // guess a rare value belies: an index the planner would use to return every row the filter keeps
  // (planned without the LIMIT) is worth measuring.
  const served = validated
    .filter((r) => r.unlimited?.used && r.unlimited.improvement >= WORTH_MEASURING)
    .sort((a, b) => a.unlimited!.costAfter - b.unlimited!.costAfter)[0];
  if (served?.unlimited) {
    const all = served.unlimited;
    const validatedWith = served.method ? `, validated with ${served.method}` : '';
    const kept = served.used
      ? `the plan cost falls only from ${served.costBefore!.toFixed(0)} to ${served.costAfter!.toFixed(0)} (${Math.floor(Math.max(0, served.improvement ?? 0) * 100)}%${validatedWith})`
      : `the planner keeps its plan (cost ${served.costBefore!.toFixed(0)}${validatedWith})`;
    const early =
      walkShare !== undefined && walkShare < 0.5
        ? `to stop its ${walk} after ~${percent(walkShare)} of it`
        : 'to stop early';
    return (
      `no index clearly helps under the LIMIT: with an index on ${keys(served)} ${kept}: ` +
      `it expects the LIMIT ${early}. Without the LIMIT the index lowers the cost from ${all.costBefore.toFixed(0)} ` +
      `to ${all.costAfter.toFixed(0)} (${Math.floor(all.improvement * 100)}%), and a filter that keeps fewer rows than the planner ` +
      `expects makes the ${walk === 'scan' ? 'scan' : 'walk'} read far more: build it and measure the statement ${measure} before relying on it: ${served.sql}`
    );
  }
  // A generic plan's verdict is for a typical parameter value. When the statement read far more than
  // that plan expects (the blocks it touched against the rows its scan returns), the values it ran
  // with are not typical, and an index the planner sees no use for may be what they need.
  const blocks = finding.evidence.sharedBlksPerCall;
  const rows = finding.evidence.estimatedScanRows;
  const first = validated[0];
  if (generic && first && typeof blocks === 'number' && typeof rows === 'number') {
    return (
      `no index helps a typical parameter value: ${verdict}${why}. That plan is generic, made for a typical value, ` +
      `and the statement touched ${Math.round(blocks).toLocaleString('en-US')} shared blocks per call where it expects ` +
      `${Math.round(rows).toLocaleString('en-US')} rows: the values it ran with find far more. Measure the statement with ` +
      `such a value (EXPLAIN ANALYZE) and an index on ${keys(first)} before ruling the index out: ${first.sql}`
    );
  }
  return `no index helps: ${verdict}${why}`;
}

/** How many times what a generic plan expects a statement touched, from which its estimates are wrong. */
const CONTRADICTED = 5;
/** Fewer shared blocks per call than this say nothing against a plan: catalog reads, a few probes. */
const CONTRADICTED_MIN_BLOCKS = 1000;

/**
 * The shared blocks per call a statement touched and those its generic plan expects (expectedBlocks),
 * when the first is several times the second: the values it ran with find far more rows than the
 * typical value the plan was made for. Undefined for a plan made with known values, or a run that
 * does not contradict it.
 */
export function contradictedEstimates(
  query: Pick<QueryReport, 'plan' | 'sharedBlksPerCall'>,
  relations: readonly Pick<RelationInfo, 'name' | 'pages'>[],
): { readonly measured: number; readonly expected: number } | undefined {
  if (query.plan?.mode !== 'generic') return undefined;
  const measured = query.sharedBlksPerCall;
  if (!(measured >= CONTRADICTED_MIN_BLOCKS)) return undefined;
  const pages = (name: string, schema?: string) =>
    relations.find((r) => (schema ? r.name === `${schema}.${name}` : r.name.endsWith(`.${name}`) || r.name === name))
      ?.pages;
  const expected = expectedBlocks(query.plan.root, pages);
  return measured > CONTRADICTED * Math.max(1, expected) ? { measured, expected } : undefined;
}

/**
 * What a candidate the planner validated on a generic plan becomes when its plan probes the index
 * from a nested loop, once per outer row, and the statement touched several times the blocks that
 * plan expects: the outer side's estimate, which the index's win rests on, is not what the values
 * the statement ran with find, and each extra outer row is one more probe.
 */
export function contradictedIndex(
  result: CandidateResult,
  contradiction: { readonly measured: number; readonly expected: number },
  measure: string,
): string {
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  return (
    `${result.sql} -- not validated for the values the statement ran with: the planner puts the plan cost at ` +
    `${result.costBefore!.toFixed(0)} -> ${result.costAfter!.toFixed(0)} with it (${result.method}), on a generic plan made for a typical value, ` +
    `where a nested loop probes the index once for each of an estimated ${n(result.probedPer ?? 0)} outer row(s); ` +
    `the statement touched ${n(contradiction.measured)} shared blocks per call where that plan expects ~${n(contradiction.expected)}: ` +
    `the values it ran with find far more rows, and each one is another probe. Measure the statement, with and without ` +
    `the index, ${measure}, before relying on it`
  );
}

/**
 * True when index advice may run the statement to measure a candidate: on querygate's own database,
 * or where the run executed it already (`--analyze`), and only a statement `--analyze` can execute
 * (whyNotAnalyzable): values known, and not one whose every call failed, which would fail or run
 * away again.
 */
export function mayRunToMeasure(
  query: Pick<QueryReport, 'plan' | 'calls' | 'errors'>,
  target: Report['target']['kind'],
): boolean {
  if (!query.plan || whyNotAnalyzable(query) !== undefined) return false;
  return target === 'embedded' || query.plan.mode === 'analyze';
}

/**
 * The candidate the planner uses that lowers the plan cost, but by less than `minImprovement` (the
 * cheapest such), and serves the filter (not only a LIMIT's order): worth a look at the planner's
 * estimate of the rows its scan keeps, for which the index is costed.
 */
export function shortOfBar(results: readonly CandidateResult[], minImprovement: number): CandidateResult | undefined {
  return cheapestCutting(
    results.filter((r) => !r.candidate.sortOnly && !limitBound(r)),
    Number.MIN_VALUE,
    minImprovement,
  );
}

/**
 * The cheapest candidate the planner uses whose cut of the plan cost is at least `from` and below
 * `below`.
 */
function cheapestCutting(
  results: readonly CandidateResult[],
  from: number,
  below: number,
): CandidateResult | undefined {
  return results
    .filter(
      (r) =>
        r.used &&
        r.costAfter !== undefined &&
        r.improvement !== undefined &&
        r.improvement >= from &&
        r.improvement < below,
    )
    .sort((a, b) => a.costAfter! - b.costAfter!)[0];
}

/**
 * What the suggestion says beside an index chosen against the planner's estimate of the rows its scan
 * keeps: the estimate and the rows counted, and the extended statistics that let the planner see
 * correlated conditions, with its costs under them.
 */
export function estimateNote(result: CandidateResult, relation?: string): string | undefined {
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  const over = result.overestimate;
  const stats = result.correlated;
  const keys = `(${result.candidate.keys.join(', ')})`;
  const estimate = over
    ? `the planner expects the scan of ${relation ?? result.candidate.relation} to keep ~${n(over.estimated)} rows where it keeps ${n(over.actual)}, and costs the index for the rows it expects`
    : undefined;
  if (!stats)
    return estimate && `${estimate}: its conditions may be correlated, which statistics on their columns tell it`;
  const judged = `plan cost ${stats.costBefore.toFixed(0)} -> ${stats.costAfter.toFixed(0)} (${Math.floor(stats.improvement * 100)}%) with the index, validated with ${result.method}`;
  if (estimate)
    return `${estimate}: its conditions are correlated (it multiplies their selectivities), and with extended statistics on ${keys} it sees that (${judged}): ${stats.sql}`;
  return (
    `validated with extended statistics on ${keys}, which tell the planner that its conditions are correlated (${judged}); ` +
    `without them it multiplies their selectivities and puts the cut at ${Math.floor(Math.max(0, result.improvement ?? 0) * 100)}% ` +
    `(plan cost ${result.costBefore!.toFixed(0)} -> ${result.costAfter!.toFixed(0)}), though it uses the index: ${stats.sql}`
  );
}

/** The share of plan cost a rejected candidate cuts from which it is still named, to be measured. */
const WORTH_MEASURING = 0.25;

/**
 * The candidate the planner uses that cuts the plan cost by a quarter or more but less than
 * `minImprovement` (the cheapest such): worth running the statement with, to see the work it saves.
 */
export function nearMiss(results: readonly CandidateResult[], minImprovement: number): CandidateResult | undefined {
  return cheapestCutting(results, WORTH_MEASURING, minImprovement);
}

/**
 * True when a candidate's plan cost rests on the statement's LIMIT stopping early. An index that
 * leads with equality columns of the filter serves the filter, unless those columns narrow a typical
 * lookup to a wide share of the table (a status that most rows have) while the rest of the filter
 * stays a Filter on the walk: the index then gives the order, and the walk reads the whole lookup
 * for a value the rest of the filter rarely keeps. One that leads with a range, a sort key or an
 * expression serves it only if the planner would use it to return every row the filter keeps (the
 * statement planned without its LIMIT): a range that keeps every row (`due_at < now()`) leaves it an
 * index for the ORDER BY. Where that plan is unknown, an index on the sort key alone.
 */
export function limitBound(
  result: CandidateResult,
  relationNamed?: (name: string) => RelationInfo | undefined,
): boolean {
  const equality = result.candidate.equality ?? [];
  if (equality.length > 0 && !wideLookup(result, relationNamed)) return false;
  return result.unlimited ? !result.unlimited.used : Boolean(result.candidate.sortOnly) || equality.length > 0;
}

/**
 * A candidate walked under the LIMIT with a Filter whose equality columns find, for a typical value
 * (the table's rows over their distinct values), WIDE_FILTER of the table or more.
 */
function wideLookup(
  result: CandidateResult,
  relationNamed: ((name: string) => RelationInfo | undefined) | undefined,
): boolean {
  if (!result.filteredWalk || !relationNamed || !result.candidate.equality?.length) return false;
  const relation = relationNamed(result.candidate.relation);
  const rows = relation ? relationRows(relation) : 0;
  const typical = relation ? typicalRows(relation, result.candidate.equality) : undefined;
  return typical !== undefined && rows > 0 && typical >= WIDE_FILTER * rows;
}

/**
 * What the suggestion says beside an index on the first of several ORDER BY keys: it gives the order
 * of that key, and the rows of each of its values are sorted by the other keys as they come (an
 * incremental sort). Undefined for an index that gives the whole order.
 *
 * @example
 * incrementalSortNote({ sortOnly: true, keys: ['customer_id'], sortedAfter: ['amount DESC'], ... })
 * // "it gives the order of customer_id, and the rows of each customer_id are sorted by amount DESC
 * //  as they come (an incremental sort)"
 */
export function incrementalSortNote(candidate: IndexCandidate): string | undefined {
  // The keys after its equality columns: the order it gives the rows of one lookup.
  const key = candidate.keys.slice(candidate.equality?.length ?? 0).join(', ');
  const rest = candidate.sortedAfter ?? [];
  return rest.length > 0 && key
    ? `it gives the order of ${key}, and the rows of each ${key} are sorted by ${rest.join(', ')} as they come (an incremental sort)`
    : undefined;
}

/**
 * For candidates the table has already (`existing`), what the suggestion says instead of proposing
 * them: the index by name, and why the planner chose the scan over it, from the finding's evidence
 * (a LIMIT it expects to stop the scan early, a filter that keeps too many rows). Left out when the
 * suggestion names the index already.
 */
function existingIndexNotes(
  candidates: readonly IndexCandidate[],
  finding: Finding,
  query: QueryReport,
  relationNamed: (name: string) => RelationInfo | undefined,
): string[] {
  const e = finding.evidence;
  const num = (key: string) => (typeof e[key] === 'number' ? e[key] : undefined);
  const counted = query.plan?.mode === 'analyze';
  const removed = num('removedShare');
  const planned = num('plannedRowsRead');
  const rowsRead = num('rowsRead');
  const choice: ScanChoice = {
    tableRows: num('tableRows') ?? 0,
    ...(planned !== undefined ? { plannedRows: planned } : {}),
    ...(rowsRead !== undefined ? { rowsRead } : {}),
    basis: counted ? 'counted' : num('sharedBlksPerCall') !== undefined ? 'measured' : 'planned',
    ...(removed !== undefined ? { keptShare: 1 - removed } : {}),
    counted,
    measure: measureWith(query),
  };
  const notes: string[] = [];
  for (const candidate of candidates) {
    if (!candidate.existing || finding.suggestion?.includes(candidate.existing)) continue;
    const index = relationNamed(candidate.relation)?.indexes.find((i) => i.name === candidate.existing);
    if (!index) continue;
    const note = existingIndexFix(index, `this condition (${candidate.reason})`, choice);
    if (!notes.includes(note)) notes.push(note);
  }
  return notes;
}

/**
 * Candidates with the keys of the index a rewrite the finding proposes needs (deep-offset's keyset
 * pagination: `with an index on (starts_at)`) first, in their order otherwise: an unvalidated
 * proposal should be the index the rewrite leading the suggestion relies on. That index is taken
 * from `pool` (all the candidates, before any was ranked out) when `candidates` left it out: the
 * rewrite needs it however many rows the filter keeps.
 */
export function rewriteFirst(
  candidates: readonly IndexCandidate[],
  suggestion: string | undefined,
  pool: readonly IndexCandidate[] = candidates,
): IndexCandidate[] {
  const wanted = suggestion?.match(/, with an index on \(([^()]*)\)/)?.[1]?.split(', ');
  if (!wanted) return [...candidates];
  // A candidate on the rewrite's leading keys stands for it, completed with the keys the rewrite
  // adds (the primary key that makes the order unique).
  const leads = (c: IndexCandidate) =>
    c.method === 'btree' && c.keys.length <= wanted.length && c.keys.every((k, i) => k === wanted[i]);
  const completed = pool.filter(leads).map((c): IndexCandidate => {
    const added = wanted.slice(c.keys.length);
    if (added.length === 0) return c;
    return {
      ...c,
      keys: wanted,
      name: c.name.replace(/_idx(\d*)$/, `_${added.map((k) => k.replace(/\W+/g, '_')).join('_')}_idx$1`),
      reason: `${c.reason}, then ${added.join(', ')} (the keyset rewrite's unique tie-breaker)`,
    };
  });
  const needed = completed.filter((c, i) => completed.findIndex((o) => o.name === c.name) === i);
  return [...needed, ...candidates.filter((c) => !leads(c))];
}

/**
 * The expression candidate whose statistics alone, with no index, cut the statement's plan cost by
 * `minImprovement` against its cost under the statistics it was captured with (the cheapest such).
 */
export function statisticsFix(
  results: readonly CandidateResult[],
  minImprovement: number,
): CandidateResult | undefined {
  return results
    .filter((r) => r.statistics && r.statistics.improvement >= minImprovement)
    .sort((a, b) => a.statistics!.cost - b.statistics!.cost)[0];
}

/** `CREATE STATISTICS schema.<table>_<parts>_stats ON (expr) FROM schema.table; ANALYZE schema.table;` */
export function statisticsSql(candidate: IndexCandidate, expressions: readonly string[]): string {
  const name = quoteRelation({
    ...(candidate.schema ? { schema: candidate.schema } : {}),
    table: candidate.name.replace(/_idx\d*$/, '_stats'),
  });
  const table = quoteRelation(candidate);
  return `CREATE STATISTICS ${name} ON ${expressions.join(', ')} FROM ${table}; ANALYZE ${table};`;
}

/**
 * What the suggestion says after extended statistics chosen as the fix: what they do, and the
 * candidate index they were judged with, when it serves the statement planned without its LIMIT
 * (values that match few rows).
 */
export function statisticsNote(result: CandidateResult): string {
  const what =
    `-- statistics on the expression, which no column's statistics describe: with them the planner ` +
    `estimates the filter instead of guessing, and chooses a plan that needs no new index`;
  const all = result.unlimited;
  if (!all?.used || all.improvement < WORTH_MEASURING) return what;
  return (
    `${what}; the index ${result.candidate.name} adds little under the LIMIT, and lowers the cost of the statement ` +
    `without it from ${all.costBefore.toFixed(0)} to ${all.costAfter.toFixed(0)} (${Math.floor(all.improvement * 100)}%): ` +
    `for values that match few rows, measure the statement with such a value (EXPLAIN ANALYZE) and the index${FIX_OR}${result.sql}`
  );
}

/**
 * True when a chosen candidate gives the statement's ORDER BY under its LIMIT while a filter of the
 * table stays on the walk (limitBound, sortOnly): the LIMIT stops it early only when the filter keeps
 * many rows. Not for a table without a condition of its own, whose index serves the whole statement.
 */
function orderWalk(
  result: CandidateResult,
  finding: Finding,
  relationNamed: (name: string) => RelationInfo | undefined,
): boolean {
  if (result.candidate.unfiltered) return false;
  if (finding.rule === 'seq-scan-large-table' && typeof finding.evidence.filter !== 'string') return false;
  return Boolean(result.candidate.sortOnly) || limitBound(result, relationNamed);
}

/**
 * The cheapest candidate that serves the filter (not limitBound) and that the planner uses: under the
 * LIMIT, cutting its cost, or without it, cutting the cost of returning every row the filter keeps
 * by a quarter or more.
 */
export function filterServing(
  results: readonly CandidateResult[],
  relationNamed: (name: string) => RelationInfo | undefined,
): CandidateResult | undefined {
  const cut = (r: CandidateResult) =>
    r.used && (r.improvement ?? 0) > 0
      ? r.costAfter!
      : r.unlimited?.used && r.unlimited.improvement >= WORTH_MEASURING
        ? r.costBefore! // not used under the LIMIT: the statement's cost is unchanged
        : undefined;
  return results
    .filter(
      (r) =>
        !r.candidate.sortOnly &&
        !r.candidate.joinKey &&
        r.costAfter !== undefined &&
        r.costBefore !== undefined &&
        !limitBound(r, relationNamed) &&
        cut(r) !== undefined,
    )
    .sort((a, b) => cut(a)! - cut(b)!)[0];
}

/**
 * What the suggestion says of an index that serves the filter, named beside one that only gives the
 * order: its costs under the LIMIT and without it, and what it saved when measured.
 */
export function filterIndexNote(result: CandidateResult): string {
  const all = result.unlimited;
  const limited = result.used
    ? `plan cost ${result.costBefore!.toFixed(0)} -> ${result.costAfter!.toFixed(0)} with it`
    : `the planner keeps its plan under the LIMIT (cost ${result.costBefore!.toFixed(0)})`;
  const unlimited =
    all?.used && all.improvement > 0
      ? `, and without the LIMIT it lowers the cost from ${all.costBefore.toFixed(0)} to ${all.costAfter.toFixed(0)}`
      : '';
  const measured = result.measured
    ? `; run with it (EXPLAIN ANALYZE in the rolled-back transaction) the statement ${measuredWords(result.measured)}`
    : '';
  return (
    `${result.sql} -- it serves the filter, whatever the values (${limited}${unlimited}, validated with ${result.method})${measured}: ` +
    'the walk for the ORDER BY reads the whole index for a value the filter keeps rarely or never, so measure both with such a value before relying on the ORDER BY index alone'
  );
}

/** A typical equality lookup that finds at most this many rows is cheap whatever index serves it. */
const FEW_ROWS = 100;
/** A candidate whose typical lookup finds this many times the rows of the narrowest one loses to it. */
const NARROWER = 2;

/**
 * The fix among validated candidates, or undefined when none lowers the plan cost by
 * `minImprovement`. An index that serves the filter wins over one whose cost rests on the LIMIT
 * stopping early (limitBound): the LIMIT finds its rows early only when the filter keeps many, and
 * a rare value (a search term, a small tenant) walks the whole index. Among those, the cheapest plan
 * wins, except that a candidate with fewer key columns wins when its cost is within 10% of the
 * cheapest, unless it leaves out equality columns that narrow a typical lookup several-fold: the
 * plan's parameters may be a common value (a tenant with a third of the rows), for which the planner
 * sees no use in a column that narrows every other value's lookup (typicalRows).
 */
export function chooseBest(
  results: readonly CandidateResult[],
  minImprovement: number,
  relationNamed: (name: string) => RelationInfo | undefined,
  /**
   * The statement's OFFSET has values that are not known (a generic plan takes it as 10% of the
   * rows): a candidate that serves only the ORDER BY, or whose cost rests on the LIMIT stopping
   * early, is then no fix at all: its cost is for that guess, and a deep page walks it through
   * every row it skips.
   */
  options: { readonly offsetUnknown?: boolean | undefined } = {},
): CandidateResult | undefined {
  const enough = results.filter(
    (r) =>
      r.used &&
      r.costAfter !== undefined &&
      r.improvement !== undefined &&
      r.improvement >= minImprovement &&
      !(options.offsetUnknown && (r.candidate.sortOnly || limitBound(r, relationNamed))),
  );
  const servesFilter = enough.filter((r) => !limitBound(r, relationNamed));
  const helpful = servesFilter.length > 0 ? servesFilter : enough;
  if (helpful.length === 0) return undefined;
  const cheapest = Math.min(...helpful.map((r) => r.costAfter!));
  const near = helpful.filter((r) => r.costAfter! <= cheapest * SIMPLER_WITHIN);
  const typical = (r: CandidateResult) => {
    const relation = relationNamed(r.candidate.relation);
    return relation && r.candidate.equality && !r.candidate.also
      ? typicalRows(relation, r.candidate.equality)
      : undefined;
  };
  const known = near.map(typical).filter((t): t is number => t !== undefined);
  const narrowest = known.length > 0 ? Math.min(...known) : undefined;
  const narrow = near.filter((r) => {
    const rows = typical(r);
    return rows === undefined || narrowest === undefined || rows <= Math.max(FEW_ROWS, NARROWER * narrowest);
  });
  // An index that gives only the first keys of the ORDER BY leaves the rest to an incremental sort
  // of each run of equal values, which the plan's cost underrates when runs are long: one that gives
  // the whole order wins when its cost is as near.
  const partial = (r: CandidateResult) => (r.candidate.sortedAfter?.length ? 1 : 0);
  return [...narrow].sort(
    (a, b) => partial(a) - partial(b) || keyCount(a.candidate) - keyCount(b.candidate) || a.costAfter! - b.costAfter!,
  )[0];
}

/**
 * The share of its input's cost that the statement's outermost LIMIT expects to pay: where it stops
 * an ordered walk early, how early. Undefined without a Limit.
 */
export function limitShare(root: PlanNode): number | undefined {
  const limit = walkPlan(root).find((v) => v.node['Node Type'] === 'Limit')?.node;
  const input = limit?.Plans?.[0];
  if (!limit || !input) return undefined;
  const span = input['Total Cost'] - input['Startup Cost'];
  if (!(span > 0)) return undefined;
  const share = (limit['Total Cost'] - input['Startup Cost']) / span;
  return share >= 0 && share < 1 ? share : undefined;
}

/**
 * What the statement's outermost LIMIT stops, in words: an index walked in the ORDER BY's order (an
 * index scan under it), or a scan that returns rows in no particular order (a sequential scan).
 */
export function limitWalk(root: PlanNode): 'ordered walk' | 'scan' {
  const limit = walkPlan(root).find((v) => v.node['Node Type'] === 'Limit')?.node;
  const input = limit?.Plans?.[0]?.['Node Type'] ?? '';
  return /Seq Scan|Bitmap Heap Scan/.test(input) ? 'scan' : 'ordered walk';
}

/** Key columns in all, of a candidate and the indexes judged with it: the simpler, the fewer. */
const keyCount = (candidate: IndexCandidate) =>
  candidateIndexes(candidate).reduce((n, index) => n + index.keys.length, 0);

/**
 * CREATE INDEX CONCURRENTLY is refused on a partitioned table, and a plain CREATE INDEX on it blocks
 * writes to every partition while it builds.
 */
export const PARTITIONED_NOTE =
  '-- on a partitioned table CONCURRENTLY is not available: CREATE INDEX ... ON ONLY the table, then CREATE INDEX CONCURRENTLY on each partition and ALTER INDEX ... ATTACH PARTITION each to it, or run the plain CREATE INDEX (it builds on every partition, blocking writes) in a maintenance window';

/** The SQL shown to users for a candidate. */
export function suggestionSql(
  candidate: IndexCandidate,
  capabilities: Pick<ValidationCapabilities, 'trigram'>,
): string {
  const create = candidateIndexes(candidate)
    .map((index) => `${indexDefinition(index, { concurrently: !index.partitioned })};`)
    .join(' ');
  return candidate.extension && capabilities.trigram !== 'installed'
    ? `CREATE EXTENSION IF NOT EXISTS ${candidate.extension}; ${create}`
    : create;
}

/** What the suggestion adds to a candidate's SQL: how to build it where CONCURRENTLY is refused. */
function partitionNote(candidate: IndexCandidate): string {
  return candidateIndexes(candidate).some((index) => index.partitioned) ? ` ${PARTITIONED_NOTE}` : '';
}

/**
 * Validates index candidates for the report's findings on the real planner and attaches the best
 * one to each finding (`finding.advice`, and its SQL as `finding.suggestion`). The database is left
 * as it was: hypothetical indexes (HypoPG) or builds inside transactions that are rolled back.
 *
 * @example
 * ```ts
 * const advised = await adviseReport(session, report, { statements: client, allowIndexBuild: true });
 * advised.queries[0].findings[0].advice
 * // { sql: 'CREATE INDEX CONCURRENTLY orders_status_total_cents_idx ON shop.orders (status, total_cents);',
 * //   method: 'rollback-build', costBefore: 19884.86, costAfter: 1520.3, improvement: 0.924 }
 * ```
 */
export async function adviseReport(session: Session, report: Report, options: AdviseOptions = {}): Promise<Report> {
  const details = await adviseDetails(session, report, options);
  return details.report;
}

/** The candidates considered for one finding and how each fared. */
export interface FindingAdvice {
  readonly fingerprint: string;
  readonly rule: string;
  readonly relation?: string;
  readonly results: readonly CandidateResult[];
}

/** `adviseReport`, with every candidate's outcome per finding (for tests and verbose output). */
export async function adviseDetails(
  session: Session,
  report: Report,
  options: AdviseOptions = {},
): Promise<{ report: Report; findings: readonly FindingAdvice[] }> {
  const details = await validateAdvice(session, report, options);
  const rewritten = await adviseGeneratedColumns(session, details.report, options);
  const statistics = await adviseStatistics(session, rewritten, {
    allowBuild: report.target.kind === 'embedded' || Boolean(options.allowIndexBuild),
    settings: validationSettings(report, options),
    targetOf: (query) => explainTarget(query, options.statements ?? [], report)?.target,
    ...(options.stopped ? { stopped: options.stopped } : {}),
  });
  return { ...details, report: notePartialIndexes(statistics) };
}

/** Timeouts of the advice's EXPLAINs and builds, from the options. */
function validationSettings(report: Report, options: AdviseOptions): ValidationSettings {
  return {
    serverVersionNum: report.target.serverVersionNum,
    explainTimeoutMs: options.explainTimeoutMs ?? DEFAULT_EXPLAIN_TIMEOUT_MS,
    buildTimeoutMs: options.buildTimeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS,
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    ...(options.explainAs ? { explainAs: options.explainAs } : {}),
  };
}

/**
 * Findings whose statement computes, in a condition, what a stored generated column of the scanned
 * table holds (`to_tsvector('english', body) @@ $1` beside `search tsvector GENERATED ALWAYS AS
 * (to_tsvector('english', body)) STORED`): the statement is explained with the condition written on
 * the column, which has an index and statistics of its own. When that lowers the plan cost by
 * `minImprovement`, the rewrite leads the suggestion, with its costs; when the planner sees no gain
 * in it, a rewrite the rule proposed is dropped. Only EXPLAIN: nothing is built.
 */
async function adviseGeneratedColumns(session: Session, report: Report, options: AdviseOptions): Promise<Report> {
  const stopped = options.stopped ?? (() => false);
  const minImprovement = options.minImprovement ?? DEFAULT_MIN_IMPROVEMENT;
  const settings = validationSettings(report, options);
  const relationNamed = (name: string) =>
    report.relations.find((r) => r.name === name) ?? report.relations.find((r) => r.table === name);
  let changed = false;
  const queries = [...report.queries];
  for (const [queryIndex, query] of report.queries.entries()) {
    if (!query.plan || stopped()) continue;
    // Per relation: the rewrite and the planner's verdict on it (undefined: not explained).
    const verdicts = new Map<string, { fix: string; helps?: boolean } | undefined>();
    let findings = query.findings;
    for (const [findingIndex, finding] of query.findings.entries()) {
      if (!ADVISED_RULES.includes(finding.rule) || !finding.relation) continue;
      const relation = relationNamed(finding.relation);
      if (!relation?.generatedColumns) continue;
      if (!verdicts.has(relation.name)) {
        const explained = explainTarget(query, options.statements ?? [], report);
        const rewrite = explained ? generatedColumnRewrite(explained.target.sql, relation) : undefined;
        let verdict: { fix: string; helps?: boolean } | undefined;
        if (explained && rewrite) {
          const { withoutLimit: _unlimited, ...target } = explained.target;
          const [before, after] = await explainCosts(session, [target, { ...target, sql: rewrite.sql }], settings);
          if (before && after && !('note' in before) && !('note' in after)) {
            const helps = before.cost > 0 && 1 - after.cost / before.cost >= minImprovement;
            verdict = {
              fix: generatedColumnFix(rewrite, relation, { costBefore: before.cost, costAfter: after.cost }),
              helps,
            };
          } else verdict = { fix: generatedColumnFix(rewrite, relation) };
        }
        verdicts.set(relation.name, verdict);
      }
      const verdict = verdicts.get(relation.name);
      if (!verdict) continue;
      const others = fixesOf(finding.suggestion).filter((fix) => !fix.startsWith(GENERATED_COLUMN_FIX));
      // Validated: it leads. Not explained: the rule's own proposal stays as it was.
      const fixes = verdict.helps === true ? [verdict.fix, ...others] : verdict.helps === false ? others : undefined;
      if (!fixes) continue;
      const suggestion = fixes.join(FIX_OR);
      if (suggestion === (finding.suggestion ?? '')) continue;
      findings = findings.map((f, i) => {
        if (i !== findingIndex) return f;
        const { suggestion: _old, ...rest } = f;
        return suggestion ? { ...rest, suggestion } : rest;
      });
    }
    if (findings !== query.findings) {
      queries[queryIndex] = { ...query, findings };
      changed = true;
    }
  }
  return changed ? { ...report, queries } : report;
}

/**
 * What a finding adds when an existing partial index has the keys its scan needs but cannot be used,
 * because the statement's conditions do not imply the index's WHERE.
 */
export function partialIndexNote(index: { name: string; keys: readonly string[]; predicate: string }): string {
  return (
    `the partial index ${index.name} on (${index.keys.join(', ')}) would serve this query, but its WHERE (${index.predicate}) ` +
    `is not implied by the query's conditions, so the planner cannot use it: add that condition to the query if it is what is meant, ` +
    `or build the index without its WHERE`
  );
}

/** Names, on each advised finding, the partial indexes its statement cannot use (see unusedPartialIndexes). */
function notePartialIndexes(report: Report): Report {
  let changed = false;
  const queries = report.queries.map((query) => {
    if (!query.plan) return query;
    let noted = false;
    const findings = query.findings.map((finding) => {
      if (!ADVISED_RULES.includes(finding.rule)) return finding;
      const note = unusedPartialIndexes(query, finding, report).map(partialIndexNote).join(' -- or: ');
      if (!note) return finding;
      noted = true;
      return { ...finding, suggestion: finding.suggestion ? `${finding.suggestion} -- or: ${note}` : note };
    });
    changed ||= noted;
    return noted ? { ...query, findings } : query;
  });
  // Nothing to say: the report as it came (adviseReport returns its input when it has no advice).
  return changed ? { ...report, queries } : report;
}

async function validateAdvice(
  session: Session,
  report: Report,
  options: AdviseOptions,
): Promise<{ report: Report; findings: readonly FindingAdvice[] }> {
  const results: FindingAdvice[] = [];
  const relevant = report.queries.some((q) => q.plan && q.findings.some((f) => ADVISED_RULES.includes(f.rule)));
  if (!relevant) return { report, findings: results };

  const allowBuild = report.target.kind === 'embedded' || Boolean(options.allowIndexBuild);
  let capabilities: ValidationCapabilities;
  try {
    capabilities = await probeCapabilities(session, allowBuild);
  } catch (error) {
    const server = asServerError(error);
    if (!server) throw error;
    return {
      report: { ...report, warnings: [...report.warnings, `no index advice: ${server.message}`] },
      findings: results,
    };
  }
  const found: WorkItem[] = [];
  // Findings whose rule proposed an index (from the statement's text, unvalidated) for which the
  // plan's conditions give no candidate: nothing judges that index, and a warning says so.
  const uncandidated: { query: QueryReport; finding: Finding; why: string }[] = [];
  for (const [queryIndex, query] of report.queries.entries()) {
    if (!query.plan) continue;
    for (const [findingIndex, finding] of query.findings.entries()) {
      if (!ADVISED_RULES.includes(finding.rule) || finding.advice) continue;
      const generate = (trigram: boolean) =>
        generateCandidates(query, finding, report, {
          trigram,
          max: options.maxCandidates ?? DEFAULT_MAX_CANDIDATES,
          existing: true,
        });
      const candidates = generate(capabilities.trigram !== 'none');
      if (candidates.length > 0) found.push({ queryIndex, findingIndex, candidates });
      else if (finding.suggestion && fixesOf(finding.suggestion).some(suggestsIndex))
        uncandidated.push({
          query,
          finding,
          why:
            capabilities.trigram === 'none' && generate(true).length > 0
              ? 'the trigram index its pattern search needs cannot be judged: the server has no pg_trgm'
              : `the conditions its plan prints for ${finding.relation ?? 'the relation'} give no index candidate to ask the planner about`,
        });
    }
  }
  // One name per index across the report, none an existing index's.
  const named = nameCandidates(
    found.map((w) => w.candidates),
    report,
  );
  const work = found.map((w, i): WorkItem => ({ ...w, candidates: named[i]! }));
  const uncandidatedWarning = uncandidatedWarnings(uncandidated);
  if (work.length === 0)
    return uncandidatedWarning.length > 0
      ? { report: { ...report, warnings: [...report.warnings, ...uncandidatedWarning] }, findings: results }
      : { report, findings: results };

  const step = options.onStep ?? (() => undefined);
  const settings = validationSettings(report, options);
  const statements = options.statements ?? [];
  const stopped = options.stopped ?? (() => false);
  const targets = new Map<number, ExplainTarget>();
  const before = new Map<number, StatementCost>();
  // Statements the advice could not explain, and why: their candidates cannot be judged, so their
  // findings get the first candidate unvalidated, and a warning says why.
  const unexplained = new Map<number, string>();
  const offsets = new Map<number, PagedOffset>();
  for (const queryIndex of new Set(work.map((w) => w.queryIndex))) {
    if (stopped()) continue;
    const explained = explainTarget(report.queries[queryIndex]!, statements, report);
    if (!explained) {
      unexplained.set(queryIndex, 'its text could not be parsed');
      continue;
    }
    const target = explained.target;
    if (explained.offset) offsets.set(queryIndex, explained.offset);
    let cost: StatementCost | { readonly note: string } | undefined;
    try {
      [cost] = await explainCosts(session, [target], settings);
    } catch (error) {
      if (!stopped()) throw error;
      continue;
    }
    if (cost === undefined || stopped()) continue;
    if ('note' in cost) {
      unexplained.set(queryIndex, cost.note);
      continue;
    }
    targets.set(queryIndex, target);
    before.set(queryIndex, cost);
  }

  // Each distinct index is validated once, for every statement it was proposed for.
  const groups = new Map<string, Group>();
  for (const item of work) {
    if (!targets.has(item.queryIndex)) continue;
    for (const candidate of item.candidates) {
      if (candidate.existing) continue; // it is there: nothing to build or judge
      const key = candidateKey(candidate);
      const group = groups.get(key) ?? { candidate, queries: [], watched: [] };
      if (!group.queries.includes(item.queryIndex)) group.queries.push(item.queryIndex);
      groups.set(key, group);
    }
  }
  const warnings: string[] = [];
  // HypoPG simulates B-trees only; a rolled-back build validates any index where it is allowed.
  // Nor partitioned tables: an index on one is judged by building it (on every partition).
  const hypothetical = (c: IndexCandidate) =>
    capabilities.hypopg !== 'none' &&
    candidateIndexes(c).every((index) => index.method === 'btree' && !index.partitioned);
  const canValidate = (c: IndexCandidate) => hypothetical(c) || capabilities.build;
  /** The planner's verdict on a candidate (and the indexes judged with it) for these statements. */
  const validate = async (c: IndexCandidate, statements: readonly ExplainTarget[]) => {
    let outcome: ValidationOutcome | undefined;
    if (hypothetical(c)) outcome = await validateWithHypopg(session, c, statements, capabilities, settings);
    if ((!outcome || !outcome.ok) && capabilities.build)
      outcome = await validateWithBuild(session, c, statements, capabilities, settings);
    return outcome;
  };
  const limit = options.maxValidations ?? DEFAULT_MAX_VALIDATIONS;
  const toValidate = [...groups.values()].filter((g) => canValidate(g.candidate));
  // The other statements reading each candidate's table (at most MAX_OTHER_STATEMENTS, the costliest
  // first) are planned with it too, in the same validation: an index may change their plans as well.
  const readersOf = new Map<string, number[]>();
  for (const group of toValidate.slice(0, limit)) {
    if (stopped()) break;
    const relations = [...new Set(candidateIndexes(group.candidate).map((index) => index.relation))];
    const key = relations.join('\n');
    if (!readersOf.has(key)) {
      const readers: number[] = [];
      for (const queryIndex of statementsReading(report.queries, relations, report.relations)) {
        if (!targets.has(queryIndex) && !unexplained.has(queryIndex) && !stopped()) {
          const explained = explainTarget(report.queries[queryIndex]!, statements, report);
          if (!explained) continue;
          let cost: StatementCost | { readonly note: string } | undefined;
          try {
            [cost] = await explainCosts(session, [explained.target], settings);
          } catch (error) {
            if (!stopped()) throw error;
            break;
          }
          if (!cost || 'note' in cost) continue;
          targets.set(queryIndex, explained.target);
          before.set(queryIndex, cost);
        }
        if (targets.has(queryIndex)) readers.push(queryIndex);
      }
      readersOf.set(key, readers);
    }
    group.watched.push(...readersOf.get(key)!.filter((q) => !group.queries.includes(q)));
  }
  if (toValidate.length > 0) {
    const how = capabilities.build ? 'building each in a rolled-back transaction' : 'as HypoPG hypothetical indexes';
    step(
      `validating ${Math.min(limit, toValidate.length)} index candidate(s) on the planner (${capabilities.hypopg !== 'none' ? 'HypoPG where possible, else ' : ''}${how})`,
    );
  }
  let skipped = 0;
  // Builds the server refused for lack of privilege (only a table's owner may index it): the
  // relations, and the server's reasons.
  const denied = { relations: new Set<string>(), reasons: new Set<string>() };
  const deadline = Date.now() + (options.maxValidationMs ?? DEFAULT_MAX_VALIDATION_MS);
  let unfinished = 0;
  for (const [n, group] of toValidate.entries()) {
    if (stopped()) {
      unfinished = toValidate.length - n;
      break;
    }
    // Statements come most expensive first, so a limit leaves out the least important candidates.
    if (n >= limit || Date.now() > deadline) {
      skipped++;
      continue;
    }
    let outcome: ValidationOutcome | undefined;
    try {
      outcome = await validate(
        group.candidate,
        [...group.queries, ...group.watched].map((i) => targets.get(i)!),
      );
    } catch (error) {
      if (!stopped()) throw error;
      unfinished = toValidate.length - n;
      break;
    }
    // A validation the interrupt cancelled says nothing of the candidate.
    if (stopped() && !outcome?.ok) {
      unfinished = toValidate.length - n;
      break;
    }
    group.outcome = outcome;
    if (outcome && !outcome.ok && outcome.code === '42501') {
      denied.relations.add(group.candidate.relation);
      denied.reasons.add(outcome.note.replace(/^index build failed: /, ''));
    } else if (outcome && !outcome.ok && (outcome.code === '57014' || outcome.code === '55P03')) {
      warnings.push(
        `index candidate ${group.candidate.name} on ${group.candidate.relation} not validated: ${outcome.note}`,
      );
    }
  }
  if (skipped > 0) {
    const seconds = Math.round((options.maxValidationMs ?? DEFAULT_MAX_VALIDATION_MS) / 1000);
    warnings.push(
      `${skipped} index candidate(s) not validated: over the limit of ${limit} candidates or ${seconds} s per run`,
    );
  }

  const minImprovement = options.minImprovement ?? DEFAULT_MIN_IMPROVEMENT;
  const relationNamed = (name: string) => report.relations.find((r) => r.name === name);
  const queries = [...report.queries];
  let unvalidated = 0;
  const unexplainedFindings: number[] = [];
  const noIndex: { queryIndex: number; findingIndex: number }[] = [];
  const tried = new Map<WorkItem, CandidateResult[]>();
  /** The table a candidate is on, as plans name it, with its rows. */
  const candidateTable = (candidate: IndexCandidate): CandidateTable => {
    const indexes = candidateIndexes(candidate);
    const relations = indexes.map((index) => relationNamed(index.relation));
    const partitions = report.relations.filter(
      (r) => r.partitionOf && indexes.some((i) => i.relation === r.partitionOf),
    );
    // The planner's count (reltuples); the counted live rows only for a table never analyzed: they
    // can count a load twice when its statistics reach the server after an ANALYZE.
    const first = relations[0];
    const rows = first ? (first.estimatedRows >= 0 ? first.estimatedRows : first.liveRows) : undefined;
    return {
      tables: [...new Set([...indexes.map((index) => index.table), ...partitions.map((r) => r.table)])],
      indexes: indexes.map((index) => index.name),
      ...(rows !== undefined && rows > 0 ? { rows } : {}),
    };
  };
  /** The other statements whose plans use a validated candidate, from the validation that judged it. */
  const otherStatements = (candidate: IndexCandidate, queryIndex: number): OtherStatementPlan[] => {
    const group = groups.get(candidateKey(candidate));
    const outcome = group?.outcome;
    if (!group || !outcome?.ok) return [];
    const table = candidateTable(candidate);
    const out: OtherStatementPlan[] = [];
    for (const [position, other] of [...group.queries, ...group.watched].entries()) {
      if (other === queryIndex) continue;
      const after = outcome.costs[position];
      // Under the statistics the candidate was judged with (an expression's, see validateWithBuild).
      const base = outcome.costsBefore?.[position] ?? before.get(other);
      if (!after?.root || !base?.root) continue;
      const change = otherStatementPlan(
        {
          query: report.queries[other]!,
          before: { cost: base.cost, root: base.root },
          after: { cost: after.cost, root: after.root, used: after.used },
        },
        table,
      );
      if (change) out.push(change);
    }
    return out;
  };
  for (const item of work) {
    const query = queries[item.queryIndex]!;
    const finding = query.findings[item.findingIndex]!;
    const statementCost = before.get(item.queryIndex);
    const costBefore = statementCost?.cost;
    const perCandidate: CandidateResult[] = item.candidates.map((candidate) => {
      const sql = suggestionSql(candidate, capabilities);
      if (candidate.existing) return { candidate, sql, note: `the index ${candidate.existing} exists already` };
      const group = groups.get(candidateKey(candidate));
      const outcome = group?.outcome;
      if (costBefore === undefined || !group) return { candidate, sql, note: 'the statement could not be explained' };
      if (!outcome) return { candidate, sql, costBefore, note: 'not validated' };
      if (!outcome.ok) return { candidate, sql, costBefore, note: outcome.note };
      const position = group.queries.indexOf(item.queryIndex);
      const after = outcome.costs[position];
      if (!after)
        return {
          candidate,
          sql,
          costBefore,
          method: outcome.method,
          note: 'the statement could not be explained with the index',
        };
      const base = outcome.costsBefore?.[position] ?? statementCost!;
      const unlimitedBefore = base.unlimited;
      const captured = statementCost!.cost;
      return {
        candidate,
        sql,
        costBefore: base.cost,
        costAfter: after.cost,
        used: servesAsProposed(candidate, after),
        ...(after.used && !servesAsProposed(candidate, after) ? { walked: true as const } : {}),
        ...(after.filtered ? { filteredWalk: true as const } : {}),
        improvement: base.cost > 0 ? 1 - after.cost / base.cost : 0,
        method: outcome.method,
        ...(outcome.statistics && outcome.costsBefore?.[position]
          ? {
              statistics: {
                expressions: outcome.statistics,
                captured,
                cost: base.cost,
                improvement: captured > 0 ? 1 - base.cost / captured : 0,
              },
            }
          : {}),
        ...(after.unlimited && unlimitedBefore !== undefined
          ? {
              unlimited: {
                costBefore: unlimitedBefore,
                costAfter: after.unlimited.cost,
                used: servesAsProposed(candidate, after.unlimited, false),
                improvement: unlimitedBefore > 0 ? 1 - after.unlimited.cost / unlimitedBefore : 0,
              },
            }
          : {}),
        ...(after.probedPer !== undefined ? { probedPer: after.probedPer } : {}),
        ...(servesAsProposed(candidate, after)
          ? {}
          : { note: after.used ? wholeWalkNote(candidate) : 'the planner does not use it' }),
      };
    });
    tried.set(item, perCandidate);
    results.push({
      fingerprint: query.fingerprint,
      rule: finding.rule,
      ...(finding.relation ? { relation: finding.relation } : {}),
      results: perCandidate,
    });

    const offset = offsets.get(item.queryIndex);
    // A deep OFFSET is read through whatever index serves the ORDER BY: keyset pagination leads.
    const paged = (suggestion: string) => (offset ? [offset.keyset, suggestion].join(FIX_OR) : suggestion);
    let best = chooseBest(perCandidate, minImprovement, relationNamed, { offsetUnknown: offset?.unknown });
    // The best candidate only gives the order, its walk applying the filter row by row: the planner
    // costs it for matches spread evenly, and a value the filter rarely keeps (or never) walks the
    // whole index. A candidate that serves the filter is measured against it where the statement
    // may be run, and named beside it where it may not.
    const target = targets.get(item.queryIndex);
    const walked =
      best && orderWalk(best, finding, relationNamed) ? filterServing(perCandidate, relationNamed) : undefined;
    let alternative: CandidateResult | undefined = walked;
    if (
      best &&
      walked &&
      target &&
      capabilities.build &&
      !offset &&
      mayRunToMeasure(query, report.target.kind) &&
      Date.now() < deadline &&
      !stopped()
    ) {
      const measure = async (result: CandidateResult): Promise<CandidateResult | undefined> => {
        const outcome = await measureWithBuild(session, result.candidate, target, capabilities, settings);
        if (!outcome.ok || !servesAsProposed(result.candidate, outcome)) return undefined;
        const measured: Measured = {
          blocksBefore: outcome.before.blocks,
          blocksAfter: outcome.after.blocks,
          msBefore: round(outcome.before.ms, 3),
          msAfter: round(outcome.after.ms, 3),
        };
        return { ...result, measured };
      };
      const order = await measure(best);
      const filter = stopped() ? undefined : await measure(walked);
      if (order) perCandidate[perCandidate.indexOf(best)] = order;
      if (filter) perCandidate[perCandidate.indexOf(walked)] = filter;
      if (filter?.measured && filter.measured.blocksAfter < filter.measured.blocksBefore) {
        if (!order?.measured || filter.measured.blocksAfter <= order.measured.blocksAfter) {
          best = filter;
          alternative = undefined;
        } else {
          best = order;
          alternative = filter;
        }
      } else if (order) best = order;
    }
    // The planner puts the best candidate short of the bar, but not far: its cost model undersells
    // some indexes (the rows a range finds lie together in the table; the visibility map lets an
    // index-only scan skip the heap). Where the statement may be run (querygate's own database, or
    // --analyze), it is run with the index built and without it, and the blocks it touches decide.
    const near = best ? undefined : nearMiss(perCandidate, minImprovement);
    if (
      near &&
      target &&
      capabilities.build &&
      !offset &&
      mayRunToMeasure(query, report.target.kind) &&
      Date.now() < deadline &&
      !stopped()
    ) {
      const index = perCandidate.indexOf(near);
      const outcome = await measureWithBuild(session, near.candidate, target, capabilities, settings);
      if (outcome.ok && servesAsProposed(near.candidate, outcome)) {
        const measured: Measured = {
          blocksBefore: outcome.before.blocks,
          blocksAfter: outcome.after.blocks,
          msBefore: round(outcome.before.ms, 3),
          msAfter: round(outcome.after.ms, 3),
        };
        perCandidate[index] = { ...near, measured };
        if (measuredFix(measured, minImprovement)) best = perCandidate[index];
      }
    }
    // The planner puts the best candidate it uses far short of the bar, on its estimate of the rows
    // the scan keeps: for conditions that are correlated it multiplies their selectivities and
    // expects far more rows than the statement finds, and costs the index for all of them.
    const short = best || near ? undefined : shortOfBar(perCandidate, minImprovement);
    if (short && target && capabilities.build && !offset && Date.now() < deadline && !stopped()) {
      const index = perCandidate.indexOf(short);
      const runnable = mayRunToMeasure(query, report.target.kind);
      // Where the statement may be run, its counted rows say whether the estimate is wrong: run
      // once as it is (the run's own plan where it was made with --analyze), then with the index.
      let overestimate: CandidateResult['overestimate'];
      if (runnable) {
        const plan = query.plan?.mode === 'analyze' ? query.plan : await runStatement(session, target, settings);
        overestimate = plan ? overestimatedScan(plan.root, short.candidate.table, short.candidate.schema) : undefined;
      }
      let updatedShort: CandidateResult = { ...short, ...(overestimate ? { overestimate } : {}) };
      if (overestimate && !stopped()) {
        const outcome = await measureWithBuild(session, short.candidate, target, capabilities, settings);
        if (outcome.ok && servesAsProposed(short.candidate, outcome)) {
          updatedShort = {
            ...updatedShort,
            measured: {
              blocksBefore: outcome.before.blocks,
              blocksAfter: outcome.after.blocks,
              msBefore: round(outcome.before.ms, 3),
              msAfter: round(outcome.after.ms, 3),
            },
          };
        }
      }
      // Statistics on the candidate's keys tell the planner that its conditions are correlated:
      // judged where the statement may not be run, and beside an estimate its run contradicted.
      if ((!runnable || overestimate) && !stopped()) {
        const judged = await validateWithStatistics(session, short.candidate, target, capabilities, settings);
        const improvement = judged && judged.costBefore > 0 ? 1 - judged.costAfter / judged.costBefore : 0;
        const sql = correlationStatistics(
          short.candidate,
          settings.serverVersionNum,
          short.candidate.name.replace(/_idx\d*$/, '_stats'),
        );
        if (judged && servesAsProposed(short.candidate, judged) && improvement >= minImprovement && sql) {
          updatedShort = {
            ...updatedShort,
            correlated: {
              sql: `${sql}; ANALYZE ${quoteRelation(short.candidate)};`,
              costBefore: judged.costBefore,
              costAfter: judged.costAfter,
              improvement,
            },
          };
        }
      }
      perCandidate[index] = updatedShort;
      if (updatedShort.measured ? measuredFix(updatedShort.measured, minImprovement) : updatedShort.correlated)
        best = updatedShort;
    }
    // A generic plan (values unknown) that the run contradicts, touching several times the blocks it
    // expects: a candidate whose plan probes the index from a nested loop wins by an outer estimate
    // the values the statement ran with belie, each extra outer row one more probe. Not a fix.
    let contradicted: string | undefined;
    if (best && !best.measured && best.probedPer !== undefined) {
      const contradiction = contradictedEstimates(query, report.relations);
      if (contradiction) {
        contradicted = contradictedIndex(best, contradiction, measureWith(query));
        best = undefined;
      }
    }
    // The candidate the planner would use under the LIMIT at an offset it guesses, when the offset's
    // values are unknown: not a fix, named after the keyset rewrite with why.
    const guessed = offset?.unknown
      ? chooseBest(perCandidate, minImprovement, relationNamed, { offsetUnknown: false })
      : undefined;
    // Candidates the table has already: named with why the planner chose the scan over them, where
    // the suggestion does not name them yet, instead of being proposed again.
    const existingNotes = existingIndexNotes(item.candidates, finding, query, relationNamed);
    const fresh = item.candidates.filter((c) => !c.existing);
    let updated: Finding | undefined;
    if (fresh.length === 0) {
      if (existingNotes.length > 0) {
        const own = fixesOf(finding.suggestion).filter((fix) => !suggestsIndex(fix));
        updated = { ...finding, suggestion: paged([...own, ...existingNotes].join(FIX_OR)) };
      }
    } else if (best) {
      // Judged by the statistics alone (not run): the costs under them are the planner's verdict.
      const judged = best.correlated && !best.measured ? best.correlated : undefined;
      let advice: IndexAdvice = {
        sql: best.sql,
        method: best.method!,
        costBefore: round(judged?.costBefore ?? best.costBefore!, 2),
        costAfter: round(judged?.costAfter ?? best.costAfter!, 2),
        improvement: round(judged?.improvement ?? best.improvement!, 3),
        ...(best.measured ? { measured: best.measured } : {}),
      };
      // Without a condition on the table, an index on the ORDER BY serves the whole statement: no
      // rare value to walk for.
      const filtered =
        !best.candidate.unfiltered &&
        (finding.rule !== 'seq-scan-large-table' || typeof finding.evidence.filter === 'string');
      const ordered = best.candidate.sortOnly || limitBound(best, relationNamed);
      const walk =
        offset && ordered
          ? `validated at OFFSET ${(offset.value ?? 0).toLocaleString('en-US')}${offset.deepest ? ', the deepest the replay sent' : ''}: every call still walks the index through the rows it skips`
          : !filtered
            ? undefined
            : best.candidate.sortOnly
              ? 'it serves the ORDER BY only: the LIMIT stops early when the filter keeps many rows, and a rare value walks the whole index'
              : limitBound(best, relationNamed)
                ? 'the planner would not use it to return every row the filter keeps (without the LIMIT): the LIMIT stops early when the filter keeps many rows, and a rare value reads much more of it'
                : undefined;
      const undersold = best.measured
        ? `the planner puts the cut at ${Math.floor((best.improvement ?? 0) * 100)}% of the plan cost, short of the ${Math.round(minImprovement * 100)}% asked for, but run with the index (EXPLAIN ANALYZE in the rolled-back transaction) the statement ${measuredWords(best.measured)}`
        : undefined;
      const others = otherStatements(best.candidate, item.queryIndex);
      if (others.length > 0) advice = { ...advice, otherStatements: others };
      const notes = [undersold, estimateNote(best, finding.relation), walk, incrementalSortNote(best.candidate)].filter(
        (note) => note !== undefined,
      );
      // Last, after how to build it: what it changes beside its own statement.
      const othersNote = otherStatementsNote(
        others,
        best.candidate.relation,
        report.queries,
        candidateTable(best.candidate),
      );
      const caveat = notes.length > 0 ? ` -- ${notes.join('; ')}` : '';
      const beside = alternative ? `${FIX_OR}${filterIndexNote(alternative)}` : '';
      updated = {
        ...finding,
        suggestion: paged(
          combineSuggestions(
            `${advice.sql}${caveat}${partitionNote(best.candidate)}${othersNote ? ` -- ${othersNote}` : ''}${beside}`,
            finding,
          ),
        ),
        advice,
      };
    } else if (contradicted) {
      const others = fixesOf(finding.suggestion).filter((fix) => !suggestsIndex(fix));
      updated = { ...finding, suggestion: paged([...others, contradicted, ...existingNotes].join(FIX_OR)) };
    } else if (guessed && offset) {
      // Only the LIMIT, at the offset the generic plan guesses, makes the index pay: deeper pages walk
      // it through every row they skip, and the planner would not use it to return them all.
      const others = fixesOf(finding.suggestion).filter((fix) => !suggestsIndex(fix));
      const all = guessed.unlimited;
      const deepest = !all
        ? ''
        : all.used
          ? ` (for every row, the deepest page, the planner puts the plan cost at ${all.costAfter.toFixed(0)} with it and ${all.costBefore.toFixed(0)} without)`
          : ' (for every row, the deepest page, the planner would not use it)';
      const unvalidatedIndex =
        `${guessed.sql} -- not validated for this OFFSET, whose values are not known: the generic plan takes it as 10% of the rows ` +
        `(plan cost ${guessed.costBefore!.toFixed(0)} -> ${guessed.costAfter!.toFixed(0)} with the index), and every call walks the index ` +
        `through the rows it skips, one table access per row, so a deep page reads far more blocks than one near the start${deepest}: ` +
        `measure deep pages ${measureWith(query)} before relying on it`;
      updated = { ...finding, suggestion: [offset.keyset, unvalidatedIndex, ...others].join(FIX_OR) };
    } else if (statisticsFix(perCandidate, minImprovement)) {
      // No index helps enough, but the statistics an expression candidate was judged with do: with
      // them the planner estimates the filter and picks a plan that needs no new index.
      const fix = statisticsFix(perCandidate, minImprovement)!;
      const stats = fix.statistics!;
      const advice: IndexAdvice = {
        sql: statisticsSql(fix.candidate, stats.expressions),
        method: fix.method!,
        kind: 'statistics',
        costBefore: round(stats.captured, 2),
        costAfter: round(stats.cost, 2),
        improvement: round(stats.improvement, 3),
      };
      updated = {
        ...finding,
        suggestion: paged(combineSuggestions(`${advice.sql} ${statisticsNote(fix)}`, finding)),
        advice,
      };
    } else if (
      perCandidate.some((r) => r.costAfter !== undefined) &&
      fresh.every((c) => decided(groups.get(candidateKey(c))?.outcome))
    ) {
      // Every candidate was judged by the planner and none helps enough: an index the rule proposed
      // is no fix, so say why instead of printing it, after the rule's fixes of another kind.
      const own = fixesOf(finding.suggestion);
      if (own.length === 0 || own.some(suggestsIndex)) {
        const verdict = noIndexHelps(
          finding,
          perCandidate,
          query.plan?.mode === 'analyze',
          query.plan ? limitShare(query.plan.root) : undefined,
          query.plan?.mode === 'generic',
          measureWith(query),
          query.plan ? limitWalk(query.plan.root) : undefined,
        );
        const others = own.filter((fix) => !suggestsIndex(fix));
        updated = { ...finding, suggestion: paged([...others, verdict, ...existingNotes].join(FIX_OR)) };
        noIndex.push({ queryIndex: item.queryIndex, findingIndex: item.findingIndex });
      }
    } else if (!perCandidate.some((r) => r.method !== undefined) && !stopped()) {
      // Nothing could be validated for this finding: name one candidate that can at least be created.
      const statementUnexplained = unexplained.has(item.queryIndex);
      if (statementUnexplained) unexplainedFindings.push(item.queryIndex);
      // A share the planner guessed by default decides nothing: the candidates are named unvalidated.
      const keptShare =
        typeof finding.evidence.removedShare === 'number' && !guessedShare(finding)
          ? 1 - finding.evidence.removedShare
          : undefined;
      const unjudged = fresh.filter(
        (c) => statementUnexplained || !canValidate(c) || buildDenied(groups.get(candidateKey(c))?.outcome),
      );
      const unchecked = rewriteFirst(
        proposalOrder(unjudged, relationNamed, keptShare),
        offset?.keyset ?? finding.suggestion,
        unjudged,
      );
      if (unchecked.length === 0 && unjudged.length > 0 && keptShare !== undefined && keptShare >= WIDE_FILTER) {
        // Every candidate serves only the filter, which keeps too many rows for an index to pay.
        const counted = query.plan?.mode === 'analyze';
        updated = {
          ...finding,
          suggestion: paged(
            [
              ...fixesOf(finding.suggestion).filter((fix) => !suggestsIndex(fix)),
              `no index named: ${counted ? '' : "by the planner's estimate "}the filter keeps ~${percent(keptShare)} ` +
                `of the rows, and an index on any of its conditions keeps at least as many, which a sequential scan ` +
                `reads as cheaply: reduce the rows read instead (not validated on the planner)`,
            ].join(FIX_OR),
          ),
        };
        if (!statementUnexplained) unvalidated++;
      }
      for (const candidate of unchecked.slice(0, 3)) {
        if (!(await checkDefinition(session, candidate, capabilities))) continue;
        updated = {
          ...finding,
          // An OR's indexes say why there is one per alternative, not one composite index.
          // A rewrite the rule proposed needs no index at all: keep it beside the unvalidated one.
          suggestion: paged(
            combineSuggestions(
              `${suggestionSql(candidate, capabilities)} -- not validated on the planner${candidate.reason.includes(' OR ') ? ` (${candidate.reason})` : ''}${partitionNote(candidate)}`,
              finding,
            ),
          ),
        };
        if (!statementUnexplained) unvalidated++;
        break;
      }
    }
    if (updated) {
      const findings = [...query.findings];
      findings[item.findingIndex] = updated;
      queries[item.queryIndex] = { ...query, findings };
    }
  }
  // Candidates are judged one at a time. A join may need an index on each side at once (an unindexed
  // foreign key, and a filter on the other table), which neither alone shows: where a finding of a
  // statement got "no index helps", the best candidate of each relation is judged together.
  const combined = new Set<string>();
  for (const queryIndex of new Set(noIndex.map((n) => n.queryIndex))) {
    if (stopped()) break;
    const items = work.filter((w) => w.queryIndex === queryIndex && tried.has(w));
    const bestByRelation = new Map<string, CandidateResult>();
    for (const item of items) {
      for (const r of tried.get(item)!) {
        if (r.costAfter === undefined || !r.used) continue;
        const current = bestByRelation.get(r.candidate.relation);
        if (!current || r.costAfter < current.costAfter!) bestByRelation.set(r.candidate.relation, r);
      }
    }
    const target = targets.get(queryIndex);
    const costBefore = before.get(queryIndex)?.cost;
    if (bestByRelation.size < 2 || !target || costBefore === undefined) continue;
    const picks = [...bestByRelation.values()].sort((a, b) => a.costAfter! - b.costAfter!);
    const [first, ...rest] = picks.map((p) => p.candidate);
    const candidate: IndexCandidate = {
      ...first!,
      also: rest.flatMap(candidateIndexes),
      reason: `indexes on ${picks.map((p) => p.candidate.relation).join(' and ')} judged together`,
    };
    if (!canValidate(candidate) || Date.now() > deadline) continue;
    let outcome: ValidationOutcome | undefined;
    try {
      outcome = await validate(candidate, [target]);
    } catch (error) {
      if (!stopped()) throw error;
      break;
    }
    if (stopped()) break;
    const after = outcome?.ok ? outcome.costs[0] : undefined;
    if (!outcome?.ok || !after || !servesAsProposed(candidate, after)) continue;
    const base = outcome.costsBefore?.[0]?.cost ?? costBefore;
    const improvement = base > 0 ? 1 - after.cost / base : 0;
    // Worth it only if the pair does clearly better than the best index alone.
    if (improvement < minImprovement || after.cost > picks[0]!.costAfter! * 0.8) continue;
    const advice: IndexAdvice = {
      sql: suggestionSql(candidate, capabilities),
      method: outcome.method,
      costBefore: round(base, 2),
      costAfter: round(after.cost, 2),
      improvement: round(improvement, 3),
    };
    const query = queries[queryIndex]!;
    const findings = query.findings.map((f, i) => {
      if (!items.some((w) => w.findingIndex === i)) return f;
      combined.add(`${queryIndex}:${i}`);
      const own = report.queries[queryIndex]!.findings[i]!;
      return { ...f, suggestion: combineSuggestions(`${advice.sql}${partitionNote(candidate)}`, own), advice };
    });
    queries[queryIndex] = { ...query, findings };
  }
  // Where no pair did better, an index on this table alone may still not help while another
  // finding's index on the other table does (an unindexed foreign key). Point to it.
  for (const { queryIndex, findingIndex } of noIndex) {
    if (combined.has(`${queryIndex}:${findingIndex}`)) continue;
    const query = queries[queryIndex]!;
    const other = query.findings
      .filter(
        (f, i) => i !== findingIndex && f.advice !== undefined && f.relation !== query.findings[findingIndex]!.relation,
      )
      .sort((a, b) => a.advice!.costAfter - b.advice!.costAfter)[0];
    if (!other?.advice) continue;
    const findings = [...query.findings];
    const finding = findings[findingIndex]!;
    findings[findingIndex] = {
      ...finding,
      suggestion:
        `${finding.suggestion}. That is for an index on this table alone: ${other.relation ?? 'another relation'} ` +
        `(${other.rule}) has a validated index that lowers the statement's plan cost from ` +
        `${other.advice.costBefore.toFixed(0)} to ${other.advice.costAfter.toFixed(0)}: ${other.advice.sql}`,
    };
    queries[queryIndex] = { ...query, findings };
  }
  if (unexplainedFindings.length > 0) {
    const statementsOf = [...new Set(unexplainedFindings)];
    const first = queries[statementsOf[0]!]!;
    warnings.push(
      `index advice for ${unexplainedFindings.length} finding(s) is not validated: ${statementsOf.length} statement(s) ` +
        `could not be explained for it (${statementName(first)}: ${unexplained.get(statementsOf[0]!)})`,
    );
  }
  if (unfinished > 0) {
    warnings.push(
      `index advice stopped by the interrupt with ${unfinished} of ${toValidate.length} candidate(s) not validated: ` +
        'the advice shown was validated before it, and findings whose candidates were not all judged say nothing of them',
    );
  }
  if (denied.relations.size > 0) {
    warnings.push(
      `index advice could not be validated with --allow-index-build: the role may not build indexes on ` +
        `${[...denied.relations].join(', ')} (${[...denied.reasons].join('; ')}): only a table's owner (or a member of its owning role) ` +
        `can build an index on it, so run as the owner to validate` +
        (unvalidated > 0 ? `; ${unvalidated} finding(s) keep unvalidated advice` : ''),
    );
  } else if (unvalidated > 0) {
    const why =
      capabilities.hypopg === 'none'
        ? 'the server has no HypoPG, and querygate builds indexes on an external database only with --allow-index-build (the build blocks writes to the table while it runs)'
        : 'HypoPG cannot simulate these indexes (GIN), and querygate builds indexes on an external database only with --allow-index-build';
    warnings.push(`index advice for ${unvalidated} finding(s) is not validated: ${why}`);
  }
  warnings.push(...uncandidatedWarning);
  return { report: { ...report, queries, warnings: [...report.warnings, ...warnings] }, findings: results };
}

/** The statement as a warning names it: its scenario name, or where it ran and its fingerprint. */
function statementName(query: QueryReport): string {
  if (query.source) return query.source;
  const inside = query.nested?.functions.length ? ` in ${query.nested.functions.join(', ')}()` : '';
  return `${query.fingerprint}${inside}`;
}

/**
 * `index advice for 1 finding(s) is not validated: ...`: for findings whose rule proposed an index
 * that no candidate stands for, naming the first statement and why.
 */
function uncandidatedWarnings(items: readonly { query: QueryReport; finding: Finding; why: string }[]): string[] {
  const first = items[0];
  if (!first) return [];
  const statements = new Set(items.map((i) => statementKey(i.query))).size;
  return [
    `index advice for ${items.length} finding(s) is not validated: the index the rule proposes for ` +
      `${statements} statement(s) is not one the advice could judge (${statementName(first.query)}, ` +
      `${first.finding.rule}: ${first.why}), so it stays marked not validated on the planner`,
  ];
}

/**
 * True when the share a finding's filter removes is the planner's default guess (a parameter of a
 * generic plan, an expression without statistics: see `scanGuess`), not an estimate from the data.
 */
function guessedShare(finding: Finding): boolean {
  return finding.evidence.removedShareBasis === 'default-guess';
}
