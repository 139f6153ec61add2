/**
 * Validating index candidates on the real planner: the statement is explained with the candidate
 * in place and its plan cost compared with the cost without it.
 *
 * Two methods, nothing left behind by either:
 * - HypoPG: a hypothetical index (planner-only, nothing is built), when the server has the extension
 *   installed, or available and creatable (it is then created inside the transaction that is rolled
 *   back). HypoPG knows B-tree but not GIN.
 * - rollback-build: `CREATE INDEX` inside a transaction that is rolled back, with a statement_timeout
 *   and a lock_timeout. The build holds a lock that blocks writes to the table, so querygate does it
 *   on its embedded database, and on an external one only when allowed (`--allow-index-build`).
 */
import { INTERNAL_MARK } from '../capture/statements.js';
import { explainStatement, type ExplainResult } from '../capture/explain.js';
import { identifiersIn } from '../analyze/column-predicates.js';
import { scanTokens } from '../analyze/parser.js';
import { walkPlan } from '../analyze/plan.js';
import { probingOuterRows } from './estimates.js';
import type { CapturedPlan, ExplainAs, PlanNode } from '../model/plan.js';
import { asServerError, type Session } from '../target/pg.js';
import { candidateIndexes, indexDefinition, quoteRelation, type IndexCandidate } from './candidates.js';

/** What the server lets querygate do to validate candidates. */
export interface ValidationCapabilities {
  /** HypoPG: installed, creatable inside a rolled-back transaction, or absent. */
  readonly hypopg: 'installed' | 'transient' | 'none';
  /** Whether candidates may be built in a rolled-back transaction. */
  readonly build: boolean;
  /** pg_trgm: installed, available (created with the candidate, rolled back), or absent. */
  readonly trigram: 'installed' | 'available' | 'none';
  /** Superuser: may make a freshly built index visible in its own transaction (see below). */
  readonly superuser: boolean;
}

/** A statement to explain, exactly as the capture explained it. */
export interface ExplainTarget {
  readonly sql: string;
  readonly params?: readonly (string | null)[];
  readonly paramCount: number;
  /**
   * The statement without the row count of its outermost LIMIT (see `withoutLimit`), same
   * parameters: what it costs to return every row the filter keeps, which an index that serves
   * only the order (and a LIMIT that stops early) does not lower.
   */
  readonly withoutLimit?: string;
}

/** A statement's plan cost, and without its LIMIT where it has one. */
export interface StatementCost {
  readonly cost: number;
  readonly unlimited?: number;
  /** The plan, to tell what an index changes in it (see side-effects.ts). */
  readonly root?: PlanNode;
}

/**
 * How a plan reads a candidate: `used` when any node reads one of its indexes; `walk` when none of
 * those nodes has an Index Cond on the index's leading key, so that the plan reads the whole index
 * (narrower than the table, or in the order it gives): `ordered` when such a walk is under a LIMIT,
 * which may stop it early, else `whole`.
 */
export interface IndexUse {
  readonly used: boolean;
  readonly walk?: 'ordered' | 'whole';
  /**
   * A node under a LIMIT reads the index with a Filter of its own: the index finds rows the filter
   * then throws away, and the LIMIT stops the walk only once the filter has kept enough of them.
   */
  readonly filtered?: true;
}

/** A statement's plan cost with a candidate, whether the plan uses it, and the same without the LIMIT. */
export interface CandidateCost extends IndexUse {
  readonly cost: number;
  readonly unlimited?: IndexUse & { readonly cost: number };
  /**
   * The rows the plan expects on the outer side of a nested loop that probes the candidate once per
   * outer row (probingOuterRows), where one does: the plan's cost then rests on that estimate.
   */
  readonly probedPer?: number;
  /**
   * The plan with the candidate, its indexes named as the advice names them (not by the temporary
   * or hypothetical names they had while judged), to tell what it changes (see side-effects.ts).
   */
  readonly root?: PlanNode;
}

export interface ValidationSettings {
  readonly serverVersionNum: number;
  /** statement_timeout of each EXPLAIN, ms. */
  readonly explainTimeoutMs: number;
  /** statement_timeout of each index build, ms. */
  readonly buildTimeoutMs: number;
  /** lock_timeout of each index build, ms: never queue behind the application's locks for long. */
  readonly lockTimeoutMs: number;
  /** The role and settings every EXPLAIN plans as, as the capture's did. */
  readonly explainAs?: ExplainAs;
}

/** The plan cost of each statement with the candidate, or why there is none. */
export type ValidationOutcome =
  | {
      readonly ok: true;
      readonly method: 'hypopg' | 'rollback-build';
      /** Per statement: the plan's total cost with the candidate, and whether the plan uses it. */
      readonly costs: readonly (CandidateCost | undefined)[];
      /**
       * Per statement: the cost without the candidate under the same, refreshed statistics (expression
       * candidates, see validateWithBuild); undefined when the capture's statistics were used.
       */
      readonly costsBefore?: readonly (StatementCost | undefined)[];
      /**
       * The expression keys (`(expr)`) that got extended statistics for `costsBefore`, per index of
       * the candidate: `costsBefore` is then the statement's cost with those statistics and no index.
       */
      readonly statistics?: readonly string[];
    }
  | { readonly ok: false; readonly note: string; readonly code?: string };

const TEMP_NAME = 'querygate_candidate';

/**
 * Finds out how candidates can be validated on this server.
 * `allowBuild`: building is allowed (embedded target, or `--allow-index-build`).
 */
export async function probeCapabilities(session: Session, allowBuild: boolean): Promise<ValidationCapabilities> {
  const { rows } = await session.query<{ name: string; installed: string | null; superuser: boolean }>(
    `SELECT ${INTERNAL_MARK} name, installed_version AS installed, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
       FROM pg_available_extensions WHERE name IN ('hypopg', 'pg_trgm')`,
  );
  const superuser = Boolean(rows[0]?.superuser) || (await isSuperuser(session));
  const ext = (name: string) => rows.find((r) => r.name === name);
  let hypopg: ValidationCapabilities['hypopg'] = 'none';
  const hypo = ext('hypopg');
  if (hypo?.installed) hypopg = 'installed';
  else if (hypo && (await canCreateExtension(session, 'hypopg'))) hypopg = 'transient';
  const trgm = ext('pg_trgm');
  return {
    hypopg,
    build: allowBuild,
    trigram: trgm?.installed ? 'installed' : trgm ? 'available' : 'none',
    superuser,
  };
}

async function isSuperuser(session: Session): Promise<boolean> {
  const { rows } = await session.query<{ s: boolean }>(
    `SELECT ${INTERNAL_MARK} rolsuper AS s FROM pg_roles WHERE rolname = current_user`,
  );
  return Boolean(rows[0]?.s);
}

async function canCreateExtension(session: Session, name: string): Promise<boolean> {
  try {
    await session.query('BEGIN');
    await session.query(`CREATE EXTENSION ${name}`);
    return true;
  } catch {
    return false;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * How the plan reads the indexes named (the candidate's, see IndexUse). A B-tree the planner walks
 * whole, with a Filter and no Index Cond on its leading key (an Index Only Scan for a count, a walk
 * for an ORDER BY), serves no condition: built, the scan it gives is the full read
 * non-sargable-predicate reports.
 */
export function indexUse(root: PlanNode, names: readonly string[], candidate: IndexCandidate): IndexUse {
  const nodes = walkPlan(root).filter(({ node }) => names.includes(String(node['Index Name'])));
  if (nodes.length === 0) return { used: false };
  const leading = new Set(candidateIndexes(candidate).flatMap((index) => keyColumns(index.keys[0] ?? '')));
  const served = ({ node }: { node: PlanNode }) => {
    const cond = node['Index Cond'] as string | undefined;
    if (cond === undefined) return false;
    // Where the key's columns cannot be told (the parser not loaded), any condition counts.
    if (leading.size === 0) return true;
    const named = identifiersIn(cond);
    return [...leading].some((column) => named.has(column));
  };
  const underLimit = ({ path }: { path: readonly string[] }) =>
    path.slice(0, -1).some((label) => label.startsWith('Limit'));
  // A bitmap index scan has no filter: its heap scan, its parent, has it.
  const filtered = walkPlan(root).some(
    ({ node, path }) =>
      underLimit({ path }) &&
      typeof node.Filter === 'string' &&
      (names.includes(String(node['Index Name'])) ||
        (node.Plans ?? []).some((child) => names.includes(String(child['Index Name'])))),
  );
  const filter = filtered ? { filtered: true as const } : {};
  if (nodes.some(served)) return { used: true, ...filter };
  const limited = nodes.some(underLimit);
  return { used: true, walk: limited ? 'ordered' : 'whole', ...filter };
}

/**
 * The columns an index key reads: `name` for `name gin_trgm_ops` or `"name" DESC`, `email` for
 * `(lower(email))` (a function's name and a cast's type left out).
 */
function keyColumns(key: string): string[] {
  const tokens = scanTokens(key);
  const unquote = (text: string) => (text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text);
  const identifier = (text: string) => /^([A-Za-z_\u0080-\uffff]|")/.test(text);
  if (!key.startsWith('(')) return tokens[0] && identifier(tokens[0].text) ? [unquote(tokens[0].text)] : [];
  return tokens
    .filter((t, i) => identifier(t.text) && tokens[i + 1]?.text !== '(' && tokens[i - 1]?.text !== '::')
    .map((t) => unquote(t.text));
}

/**
 * The plan with the indexes a candidate had while judged named as the advice names them: by position
 * where each index has one name, else (a partitioned table's indexes, one per partition) all by the
 * first index's name.
 */
function renameIndexes(root: PlanNode, indexNames: readonly string[], shownNames: readonly string[]): PlanNode {
  const shown = (name: string) => {
    const at = indexNames.indexOf(name);
    if (at < 0) return name;
    return (indexNames.length === shownNames.length ? shownNames[at] : shownNames[0]) ?? name;
  };
  const rename = (node: PlanNode): PlanNode => {
    const name = node['Index Name'];
    return {
      ...node,
      ...(typeof name === 'string' ? { 'Index Name': shown(name) } : {}),
      ...(node.Plans ? { Plans: node.Plans.map(rename) } : {}),
    };
  };
  return rename(root);
}

async function explainAll(
  session: Session,
  statements: readonly ExplainTarget[],
  settings: ValidationSettings,
  indexNames: readonly string[],
  candidate: IndexCandidate,
  shownNames: readonly string[],
): Promise<(CandidateCost | undefined)[]> {
  const plans = await explainPlans(session, statements, settings, true);
  const unlimited = await explainPlans(session, statements.map(unlimitedTarget), settings, true);
  return plans.map((plan, i) => {
    if (!plan) return undefined;
    const all = unlimited[i];
    const probedPer = probingOuterRows(plan.root, indexNames);
    return {
      cost: plan.totalCost,
      ...indexUse(plan.root, indexNames, candidate),
      root: renameIndexes(plan.root, indexNames, shownNames),
      ...(probedPer !== undefined ? { probedPer } : {}),
      ...(all ? { unlimited: { cost: all.totalCost, ...indexUse(all.root, indexNames, candidate) } } : {}),
    };
  });
}

/** The statement without its LIMIT, or undefined (nothing to explain) when it has none. */
function unlimitedTarget(target: ExplainTarget): ExplainTarget | undefined {
  if (!target.withoutLimit) return undefined;
  return {
    sql: target.withoutLimit,
    paramCount: target.paramCount,
    ...(target.params ? { params: target.params } : {}),
  };
}

/** Names of a candidate's indexes while they are judged: the candidate's, then its companions'. */
const tempNames = (candidate: IndexCandidate): string[] =>
  candidateIndexes(candidate).map((_, i) => (i === 0 ? TEMP_NAME : `${TEMP_NAME}_${i + 1}`));

/** The names the advice gives a candidate's indexes. */
const adviceNames = (candidate: IndexCandidate): string[] => candidateIndexes(candidate).map((index) => index.name);

/**
 * Plans each statement as the capture did (same parameters or generic plan); undefined where it
 * fails, or where there is no statement.
 */
async function explainPlans(
  session: Session,
  statements: readonly (ExplainTarget | undefined)[],
  settings: ValidationSettings,
  savepoint: boolean,
): Promise<(CapturedPlan | undefined)[]> {
  return (await explainResults(session, statements, settings, savepoint)).map((r) => (r?.ok ? r.plan : undefined));
}

/** `explainPlans`, with the reason where a statement could not be explained. */
async function explainResults(
  session: Session,
  statements: readonly (ExplainTarget | undefined)[],
  settings: ValidationSettings,
  savepoint: boolean,
): Promise<(ExplainResult | undefined)[]> {
  const out: (ExplainResult | undefined)[] = [];
  for (const s of statements) {
    if (!s) {
      out.push(undefined);
      continue;
    }
    const result = await explainStatement(session, {
      sql: s.sql,
      ...(s.params ? { params: s.params } : {}),
      paramCount: s.paramCount,
      analyze: false,
      timeoutMs: settings.explainTimeoutMs,
      serverVersionNum: settings.serverVersionNum,
      savepoint,
      ...(settings.explainAs ? { as: settings.explainAs } : {}),
    });
    out.push(result);
  }
  return out;
}

function failure(error: unknown, what: string): ValidationOutcome {
  const server = asServerError(error);
  const message = server?.message ?? (error instanceof Error ? error.message : String(error));
  const code = server?.code;
  if (code === '57014') return { ok: false, note: `${what} cancelled by statement_timeout`, code };
  if (code === '55P03') return { ok: false, note: `${what} gave up waiting for a lock (lock_timeout)`, code };
  return { ok: false, note: `${what} failed: ${message}`, ...(code ? { code } : {}) };
}

/** Validates with a hypothetical index (HypoPG): nothing is built. */
export async function validateWithHypopg(
  session: Session,
  candidate: IndexCandidate,
  statements: readonly ExplainTarget[],
  capabilities: ValidationCapabilities,
  settings: ValidationSettings,
): Promise<ValidationOutcome> {
  try {
    await session.query('BEGIN');
    await session.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(settings.explainTimeoutMs))}`);
    if (capabilities.hypopg === 'transient') await session.query('CREATE EXTENSION hypopg');
    const names: string[] = [];
    const temp = tempNames(candidate);
    for (const [i, index] of candidateIndexes(candidate).entries()) {
      const { rows } = await session.query<{ indexname: string }>(
        `SELECT ${INTERNAL_MARK} indexname FROM hypopg_create_index($1)`,
        [indexDefinition(index, { name: temp[i]! })],
      );
      const name = rows[0]?.indexname;
      if (!name) return { ok: false, note: 'HypoPG created no index' };
      names.push(name);
    }
    const costs = await explainAll(session, statements, settings, names, candidate, adviceNames(candidate));
    return { ok: true, method: 'hypopg', costs };
  } catch (error) {
    return failure(error, 'hypothetical index');
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
    await resetHypopg(session, capabilities);
  }
}

/**
 * Hypothetical indexes live in the session, not in the transaction: they would outlive the ROLLBACK
 * (and even a rolled-back CREATE EXTENSION) and skew every later EXPLAIN of this session.
 */
async function resetHypopg(session: Session, capabilities: ValidationCapabilities): Promise<void> {
  if (capabilities.hypopg === 'installed') {
    await session.query(`SELECT ${INTERNAL_MARK} hypopg_reset()`).catch(() => undefined);
    return;
  }
  try {
    await session.query('BEGIN');
    await session.query('CREATE EXTENSION hypopg');
    await session.query(`SELECT ${INTERNAL_MARK} hypopg_reset()`);
  } catch {
    // Nothing more can be done; the session is closed at the end of the run.
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/** A candidate built in the open transaction: the names plans give its indexes, and how it was built. */
interface Built {
  /** The names a plan gives the indexes (each partition's, on a partitioned table). */
  readonly names: readonly string[];
  /** The indexes, schema-qualified, to drop them again. */
  readonly qualified: readonly string[];
  /** An expression key: the table was analyzed, with extended statistics on the expressions. */
  readonly expression: boolean;
  readonly statistics: readonly string[];
}

/**
 * Builds a candidate inside a transaction it opens (BEGIN, with a statement_timeout and a
 * lock_timeout); the caller rolls it back. A failure is returned, or thrown by the server.
 */
async function buildInTransaction(
  session: Session,
  candidate: IndexCandidate,
  capabilities: ValidationCapabilities,
  settings: ValidationSettings,
  /** Statements run in the transaction before the build (extended statistics to judge it with). */
  prelude: readonly string[] = [],
): Promise<Built | Extract<ValidationOutcome, { ok: false }>> {
  const temp = tempNames(candidate);
  // Each index in the schema of its own table (indexes judged together may be on two tables).
  const qualified = candidateIndexes(candidate).map((index, i) =>
    quoteRelation({ ...(index.schema ? { schema: index.schema } : {}), table: temp[i]! }),
  );
  await session.query('BEGIN');
  await session.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(settings.buildTimeoutMs))}`);
  await session.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(settings.lockTimeoutMs))}`);
  if (candidate.extension && capabilities.trigram === 'available')
    await session.query(`CREATE EXTENSION IF NOT EXISTS ${candidate.extension}`);
  for (const sql of prelude) await session.query(sql);
  for (const [i, index] of candidateIndexes(candidate).entries()) {
    await session.query(indexDefinition(index, { name: temp[i]!, mark: INTERNAL_MARK }));
    const { rows } = await session.query<{ oid: number; checkxmin: boolean }>(
      `SELECT ${INTERNAL_MARK} indexrelid::int8 AS oid, indcheckxmin AS checkxmin FROM pg_index WHERE indexrelid = to_regclass($1)`,
      [qualified[i]],
    );
    const built = rows[0];
    if (built?.checkxmin) {
      // The build met HOT chains that another transaction may still see (an open snapshot during
      // the build): PostgreSQL then hides the index from plans made in the building transaction.
      // This transaction is rolled back and the plan is never executed, so showing it is safe.
      if (!capabilities.superuser) {
        return {
          ok: false,
          note: 'the index is not visible to the planner in its own transaction (indcheckxmin: a concurrent snapshot)',
        };
      }
      await session.query(`UPDATE ${INTERNAL_MARK} pg_index SET indcheckxmin = false WHERE indexrelid = $1`, [
        built.oid,
      ]);
    }
  }
  // The planner has no statistics on a new index expression until ANALYZE and assumes that 0.5%
  // of the rows match it, which understates a selective expression. Analyze inside the transaction
  // (rolled back like the index), and compare with the statement's cost under the same statistics,
  // the index dropped again, so that fresher table statistics do not pass for the index's effect.
  // The expression's own statistics would go with the index, so they are kept as extended
  // statistics (createExpressionStatistics): else the cost without the index would rest on the
  // default guess, which makes a LIMIT over a sequential scan look cheaper than it is.
  const indexes = candidateIndexes(candidate);
  const expression = prelude.length > 0 || indexes.some((index) => index.keys.some((k) => k.startsWith('(')));
  const statistics: string[] = [];
  if (expression) {
    for (const [i, index] of indexes.entries())
      statistics.push(...(await createExpressionStatistics(session, index, settings, i)));
    for (const table of new Set(indexes.map((index) => quoteRelation(index))))
      await session.query(`ANALYZE ${INTERNAL_MARK} ${table}`);
  }
  // On a partitioned table, plans name the index each partition got, not the parent's.
  const names = candidateIndexes(candidate).some((index) => index.partitioned)
    ? await partitionIndexNames(session, qualified)
    : temp;
  return { names, qualified, expression, statistics };
}

/** Validates by building the index inside a transaction that is rolled back. */
export async function validateWithBuild(
  session: Session,
  candidate: IndexCandidate,
  statements: readonly ExplainTarget[],
  capabilities: ValidationCapabilities,
  settings: ValidationSettings,
): Promise<ValidationOutcome> {
  try {
    const built = await buildInTransaction(session, candidate, capabilities, settings);
    if ('ok' in built) return built;
    const costs = await explainAll(session, statements, settings, built.names, candidate, adviceNames(candidate));
    if (!built.expression) return { ok: true, method: 'rollback-build', costs };
    for (const name of built.qualified) await session.query(`DROP ${INTERNAL_MARK} INDEX ${name}`);
    const costsBefore = (await explainCosts(session, statements, settings, true)).map((c) =>
      'note' in c ? undefined : c,
    );
    return {
      ok: true,
      method: 'rollback-build',
      costs,
      costsBefore,
      ...(built.statistics.length > 0 ? { statistics: built.statistics } : {}),
    };
  } catch (error) {
    return failure(error, 'index build');
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/** What one run of a statement did, by EXPLAIN (ANALYZE, BUFFERS). */
export interface MeasuredRun {
  /** Shared blocks the statement touched (hit and read), all processes. */
  readonly blocks: number;
  /** Execution time, ms. */
  readonly ms: number;
}

/** A statement run without and with a candidate, or why it could not be measured. */
export type MeasureOutcome =
  | ({ readonly ok: true; readonly before: MeasuredRun; readonly after: MeasuredRun } & IndexUse)
  | { readonly ok: false; readonly note: string; readonly code?: string };

function measuredRun(plan: CapturedPlan): MeasuredRun {
  const root = plan.root;
  return {
    blocks: (root['Shared Hit Blocks'] ?? 0) + (root['Shared Read Blocks'] ?? 0),
    ms: plan.executionMs ?? 0,
  };
}

/**
 * Runs the statement (EXPLAIN ANALYZE, BUFFERS) with the candidate built and again with it dropped,
 * inside one transaction that is rolled back: the work the index saves, where the planner's cost
 * model undersells it (the rows a range finds lie together in the table, the visibility map lets an
 * index-only scan skip the heap). The statement runs for real, writes included, and is rolled back.
 */
export async function measureWithBuild(
  session: Session,
  candidate: IndexCandidate,
  statement: ExplainTarget,
  capabilities: ValidationCapabilities,
  settings: ValidationSettings,
): Promise<MeasureOutcome> {
  const run = () => analyzeOnce(session, statement, settings, true);
  try {
    const built = await buildInTransaction(session, candidate, capabilities, settings);
    if ('ok' in built) return built;
    const after = await run();
    if (!after.ok) return { ok: false, note: after.note };
    for (const name of built.qualified) await session.query(`DROP ${INTERNAL_MARK} INDEX ${name}`);
    const before = await run();
    if (!before.ok) return { ok: false, note: before.note };
    return {
      ok: true,
      before: measuredRun(before.plan),
      after: measuredRun(after.plan),
      ...indexUse(after.plan.root, built.names, candidate),
    };
  } catch (error) {
    const failed = failure(error, 'index build');
    return failed.ok ? { ok: false, note: 'not measured' } : failed;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * Runs the statement once (EXPLAIN ANALYZE, BUFFERS) in a transaction that is rolled back, as it is:
 * the rows each node of its plan counted, against those the planner expected. Undefined where it
 * fails or runs out of time.
 */
export async function runStatement(
  session: Session,
  statement: ExplainTarget,
  settings: ValidationSettings,
): Promise<CapturedPlan | undefined> {
  const result = await analyzeOnce(session, statement, settings, false);
  return result.ok ? result.plan : undefined;
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statement with its values, as the application's role and
 * settings where given (`--explain-role`), inside a savepoint of the open transaction or a
 * transaction of its own.
 */
function analyzeOnce(session: Session, statement: ExplainTarget, settings: ValidationSettings, savepoint: boolean) {
  return explainStatement(session, {
    sql: statement.sql,
    ...(statement.params ? { params: statement.params } : {}),
    paramCount: statement.paramCount,
    analyze: true,
    timeoutMs: settings.explainTimeoutMs,
    serverVersionNum: settings.serverVersionNum,
    savepoint,
    ...(settings.explainAs ? { as: settings.explainAs } : {}),
  });
}

/**
 * Extended statistics on the keys of a B-tree candidate (`CREATE STATISTICS ... (dependencies, mcv)
 * ON a, (expr) FROM t`): what tells the planner that conditions on those columns are correlated,
 * where it otherwise multiplies their selectivities. Undefined for a candidate with fewer than two
 * keys, keys the statistics cannot name (an operator class, a direction), or a server without them
 * (MCV lists from PostgreSQL 12, expressions from 14).
 */
export function correlationStatistics(
  candidate: IndexCandidate,
  serverVersionNum: number,
  name: string,
): string | undefined {
  if (candidate.method !== 'btree' || candidate.also?.length || candidate.keys.length < 2) return undefined;
  const expression = (k: string) => k.startsWith('(') && k.endsWith(')');
  if (!candidate.keys.every((k) => expression(k) || /^("[^"]+"|[a-z_][a-z0-9_$]*)$/.test(k))) return undefined;
  if (serverVersionNum < (candidate.keys.some(expression) ? 140000 : 120000)) return undefined;
  const stats = quoteRelation({ ...(candidate.schema ? { schema: candidate.schema } : {}), table: name });
  return `CREATE STATISTICS ${stats} (dependencies, mcv) ON ${candidate.keys.join(', ')} FROM ${quoteRelation(candidate)}`;
}

/**
 * The candidate judged on the planner with extended statistics on its keys (correlationStatistics),
 * created and the table analyzed in the transaction that is rolled back: its cost without and with
 * the index, both under those statistics.
 */
export async function validateWithStatistics(
  session: Session,
  candidate: IndexCandidate,
  statement: ExplainTarget,
  capabilities: ValidationCapabilities,
  settings: ValidationSettings,
): Promise<({ readonly costBefore: number; readonly costAfter: number } & IndexUse) | undefined> {
  const create = correlationStatistics(candidate, settings.serverVersionNum, `${TEMP_NAME}_correlation`);
  if (!create) return undefined;
  try {
    const built = await buildInTransaction(session, candidate, capabilities, settings, [
      create.replace(/^CREATE /, `CREATE ${INTERNAL_MARK} `),
    ]);
    if ('ok' in built) return undefined;
    const [after] = await explainAll(session, [statement], settings, built.names, candidate, adviceNames(candidate));
    for (const name of built.qualified) await session.query(`DROP ${INTERNAL_MARK} INDEX ${name}`);
    const [before] = await explainCosts(session, [statement], settings, true);
    if (!after || !before || 'note' in before) return undefined;
    return {
      costBefore: before.cost,
      costAfter: after.cost,
      used: after.used,
      ...(after.walk ? { walk: after.walk } : {}),
    };
  } catch (error) {
    if (asServerError(error) === undefined) throw error;
    return undefined;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/** The indexes built by CREATE INDEX on partitioned tables: each one and its partitions' indexes. */
async function partitionIndexNames(session: Session, indexes: readonly string[]): Promise<string[]> {
  const { rows } = await session.query<{ name: string }>(
    `SELECT ${INTERNAL_MARK} c.relname AS name FROM unnest($1::text[]) AS i(name)
       CROSS JOIN LATERAL pg_partition_tree(to_regclass(i.name)) AS t
       JOIN pg_class c ON c.oid = t.relid`,
    [indexes],
  );
  return rows.map((r) => r.name);
}

/**
 * Extended statistics on each expression key of a candidate (PostgreSQL 14 and later), in the
 * candidate's transaction, so that the plan without the index is costed with what ANALYZE learns of
 * the expression, as the plan with the index is. Best effort: where the statistics cannot be created
 * (an older server, a type without the operators statistics need), the comparison goes on without.
 */
async function createExpressionStatistics(
  session: Session,
  candidate: IndexCandidate,
  settings: ValidationSettings,
  set = 0,
): Promise<string[]> {
  if (settings.serverVersionNum < 140000) return [];
  const created: string[] = [];
  const expressions = candidate.keys.filter((k) => k.startsWith('(') && k.endsWith(')'));
  for (const [i, key] of expressions.entries()) {
    const name = quoteRelation({
      ...(candidate.schema ? { schema: candidate.schema } : {}),
      table: `${TEMP_NAME}_stats${set}_${i}`,
    });
    await session.query('SAVEPOINT querygate_statistics');
    try {
      await session.query(`CREATE ${INTERNAL_MARK} STATISTICS ${name} ON ${key} FROM ${quoteRelation(candidate)}`);
      await session.query('RELEASE SAVEPOINT querygate_statistics');
      created.push(key);
    } catch (error) {
      if (asServerError(error) === undefined) throw error;
      await session.query('ROLLBACK TO SAVEPOINT querygate_statistics');
    }
  }
  return created;
}

/**
 * Explains statements as they are (and without their LIMIT), for the cost before any candidate; where
 * one cannot be explained, why (`note`, as the capture's plan note says it).
 */
export async function explainCosts(
  session: Session,
  statements: readonly ExplainTarget[],
  settings: ValidationSettings,
  savepoint = false,
): Promise<(StatementCost | { readonly note: string })[]> {
  const results = await explainResults(session, statements, settings, savepoint);
  const unlimited = await explainPlans(session, statements.map(unlimitedTarget), settings, savepoint);
  return results.map((result, i) => {
    if (!result?.ok) return { note: result?.note ?? 'not explained' };
    const all = unlimited[i];
    return { cost: result.plan.totalCost, ...(all ? { unlimited: all.totalCost } : {}), root: result.plan.root };
  });
}

/**
 * Checks, without touching the table, that a candidate can be created at all (an expression must be
 * IMMUTABLE, an operator class must exist): builds it on an empty temporary copy of the table's
 * columns inside a transaction that is rolled back. Used when a candidate cannot be validated.
 */
export async function checkDefinition(
  session: Session,
  candidate: IndexCandidate,
  capabilities: ValidationCapabilities,
): Promise<boolean> {
  try {
    await session.query('BEGIN');
    await session.query(`SET LOCAL lock_timeout = 1000`);
    if (candidate.extension && capabilities.trigram === 'available') {
      // Without leave to build (an external database without --allow-index-build) querygate runs
      // no DDL on the user's objects: not even a rolled-back CREATE EXTENSION, which leaves an
      // ERROR in the server log for a role that may not create it. The operator class is unchecked.
      if (!capabilities.build) return true;
      await session.query('SAVEPOINT querygate_extension');
      try {
        await session.query(`CREATE EXTENSION IF NOT EXISTS ${candidate.extension}`);
      } catch {
        // Not allowed to create it here: the operator class cannot be checked (the suggestion
        // tells the user to create the extension).
        return true;
      }
    }
    for (const [i, index] of candidateIndexes(candidate).entries()) {
      const probe = `${TEMP_NAME}_probe${i}`;
      await session.query(
        `CREATE ${INTERNAL_MARK} TEMPORARY TABLE ${probe} (LIKE ${quoteRelation(index)}) ON COMMIT DROP`,
      );
      const copy: IndexCandidate = { ...index, relation: probe, table: probe, name: `${probe}_idx` };
      delete (copy as { schema?: string }).schema; // temporary tables live in their own schema
      await session.query(indexDefinition(copy, { mark: INTERNAL_MARK }));
    }
    return true;
  } catch (error) {
    if (asServerError(error) === undefined) throw error;
    return false;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}
