/**
 * Turns raw capture (statistics deltas, query texts, client outcomes) into the report's queries,
 * then adds plans and relation metadata. Used by every kind of run (SQL, HTTP, external command).
 */
import {
  castTypedParams,
  expressionAsStatement,
  fingerprintStatement,
  normalizeStatement,
  statementKind,
  unwrapPrepare,
} from '../analyze/parser.js';
import { nestedFingerprint } from '../analyze/functions.js';
import {
  ANALYZE_TIMED_OUT,
  EVERY_CALL_FAILED_NOT_ANALYZED,
  NESTED_VALUES,
  UNKNOWN_VALUES,
} from '../analyze/measure.js';
import { planRelations } from '../analyze/plan.js';
import { columnRefToParam, qualifiedRelations, renumberParams } from '../analyze/sql-tree.js';
import {
  statementKey,
  type CancelledAtStop,
  type LatencySummary,
  type NestedInfo,
  type QueryReport,
  type RelationInfo,
  type RoundStats,
} from '../model/report.js';
import type { ExplainAs } from '../model/plan.js';
import type { Session } from '../target/pg.js';
import { explainableSql, explainStatement, type ExplainResult } from './explain.js';
import { checkKeyExpressions } from './expressions.js';
import { describeRelations } from './relations.js';
import { INTERNAL_MARK, sumDeltas, type StatDelta } from './statements.js';
import { countParams } from '../workload/load.js';

/** What the client knows about a statement it sent itself. */
export interface ClientStatement {
  readonly fingerprint: string;
  readonly name: string;
  readonly sql: string;
  readonly paramCount: number;
  readonly params?: readonly (string | null)[];
  /** Largest numeric value sent per parameter. */
  readonly paramMax?: readonly (number | null)[];
  readonly latency: LatencySummary | null;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** Calls still running when the run stopped early, cancelled by querygate (neither calls nor errors). */
  readonly cancelledAtStop?: CancelledAtStop;
  /** Line of a scenario's statement in its file. */
  readonly line?: number;
}

export interface AssembleInput {
  /** Deltas over the whole measured window. */
  readonly deltas: readonly StatDelta[];
  /** Deltas per measured round (may be empty). */
  readonly roundDeltas: readonly (readonly StatDelta[])[];
  /** Query texts by entry key (`fetchQueryTexts`): each entry's own, never another role's. */
  readonly texts: ReadonlyMap<string, string>;
  readonly client: readonly ClientStatement[];
  /** Drop transaction control (BEGIN/ROLLBACK) that querygate itself sent. */
  readonly dropTransactionControl: boolean;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/**
 * The deltas of a SQL replay's own traffic: statements run by the replay's role, at top level only
 * when the replay sent them (nested statements of the functions it called stay). On a shared
 * database other sessions run statements too, the same ones or others; counted together with the
 * replay's they would skew its timings, budgets and comparisons. Also returns what was left out.
 */
export function ownTraffic(
  deltas: readonly StatDelta[],
  texts: ReadonlyMap<string, string>,
  client: readonly ClientStatement[],
  userid: string,
): { deltas: StatDelta[]; foreign: { statements: number; calls: number } } {
  const mine = new Set(client.map((c) => c.fingerprint));
  const kept: StatDelta[] = [];
  const foreign = new Set<string>();
  let calls = 0;
  for (const delta of deltas) {
    const raw = texts.get(delta.key);
    if (raw === undefined || raw.includes(INTERNAL_MARK)) {
      kept.push(delta);
      continue;
    }
    const ours = delta.key.startsWith(`${userid}:`);
    let sent = true;
    if (ours && delta.toplevel) {
      const text = unwrapPrepare(raw);
      sent =
        /^\s*(BEGIN|ROLLBACK|COMMIT|START TRANSACTION)\s*;?\s*$/i.test(text) || mine.has(fingerprintStatement(text));
    }
    if (ours && sent) kept.push(delta);
    else {
      foreign.add(delta.key);
      calls += delta.calls;
    }
  }
  return { deltas: kept, foreign: { statements: foreign.size, calls } };
}

/**
 * Statements pg_stat_statements counted more calls of than the replay sent (a few over: the last
 * calls of a round straddle its snapshot): another session of the same role ran them too, which
 * the role-based filter cannot tell apart.
 */
export function overcounted(
  queries: readonly QueryReport[],
  client: readonly ClientStatement[],
): { name: string; counted: number; sent: number }[] {
  const sent = new Map<string, { name: string; calls: number }>();
  for (const c of client) {
    const entry = sent.get(c.fingerprint) ?? { name: c.name, calls: 0 };
    entry.calls += c.latency?.count ?? 0;
    sent.set(c.fingerprint, entry);
  }
  return queries.flatMap((q) => {
    const mine = q.nested ? undefined : sent.get(q.fingerprint);
    if (!mine || q.calls <= mine.calls * 1.05 + 5) return [];
    return [{ name: mine.name, counted: q.calls, sent: mine.calls }];
  });
}

/**
 * The statement (`statementKey`) a pg_stat_statements entry counts for, with its fingerprint and
 * text; undefined for querygate's own statements, the transaction control it sent, and entries
 * without a text.
 */
function statementOf(
  delta: StatDelta,
  input: Pick<AssembleInput, 'texts' | 'dropTransactionControl'>,
  clientByFingerprint: ReadonlyMap<string, ClientStatement>,
): { key: string; fingerprint: string; nested: boolean; text: string } | undefined {
  const raw = input.texts.get(delta.key);
  if (raw === undefined) return undefined;
  // pg_stat_statements keeps the text it saw first for a query id. One of querygate's own small
  // checks (`SELECT current_user AS role`) shares its query id with a workload statement of that
  // shape; when the check came first, the entry carries its text, and its counts are the replay's.
  const sent =
    raw.includes(INTERNAL_MARK) && delta.toplevel ? clientByFingerprint.get(fingerprintStatement(raw)) : undefined;
  if (raw.includes(INTERNAL_MARK) && !sent) return undefined;
  const text = sent ? sent.sql : unwrapPrepare(raw);
  if (input.dropTransactionControl && /^\s*(BEGIN|ROLLBACK|COMMIT|START TRANSACTION)\s*;?\s*$/i.test(text))
    return undefined;
  const nested = !delta.toplevel;
  const fingerprint = nested ? nestedFingerprint(text) : fingerprintStatement(text);
  return { key: statementKey({ fingerprint, ...(nested ? { nested: NOT_LINKED } : {}) }), fingerprint, nested, text };
}

/**
 * The roles (pg_stat_statements `userid`, an OID as text) that ran each statement, by
 * `statementKey`: the role a statement's row-level security policies were checked against, which
 * is the role in effect when it ran (after an application's `SET ROLE`), not the one that connected.
 */
export function statementRoles(input: AssembleInput): Map<string, string[]> {
  const clientByFingerprint = new Map(input.client.map((c) => [c.fingerprint, c]));
  const roles = new Map<string, string[]>();
  for (const delta of input.deltas) {
    const grouped = statementOf(delta, input, clientByFingerprint);
    if (!grouped || delta.calls <= 0) continue;
    const userid = delta.key.slice(0, delta.key.indexOf(':'));
    const list = roles.get(grouped.key) ?? [];
    if (!list.includes(userid)) list.push(userid);
    roles.set(grouped.key, list);
  }
  return roles;
}

/**
 * Groups statistics by fingerprint and ranks statements by total database time: the top-level
 * statements first, then those that ran inside functions and triggers (pg_stat_statements records
 * them with `toplevel` false when `pg_stat_statements.track` is `all`). A nested statement's time is
 * already in its caller's, so shares are of the top-level time alone, and a statement run both ways
 * is two statements.
 */
export function assembleQueries(input: AssembleInput): QueryReport[] {
  const groups = new Map<string, { fingerprint: string; nested: boolean; text: string; deltas: StatDelta[] }>();
  const groupOf = new Map<string, string>();
  const clientByFingerprint = new Map(input.client.map((c) => [c.fingerprint, c]));
  for (const delta of input.deltas) {
    const grouped = statementOf(delta, input, clientByFingerprint);
    if (!grouped) continue;
    const { key, fingerprint, nested, text } = grouped;
    groupOf.set(delta.key, key);
    const group = groups.get(key) ?? { fingerprint, nested, text, deltas: [] };
    group.deltas.push(delta);
    groups.set(key, group);
  }
  const totalMs = [...groups.values()].filter((g) => !g.nested).reduce((s, g) => s + sumDeltas(g.deltas).totalMs, 0);
  const queries = [...groups.entries()].map(([key, group]): QueryReport => {
    const { fingerprint, nested } = group;
    const t = sumDeltas(group.deltas);
    // The replay sent its statements at top level; one with the same text inside a function is not its own.
    const client = nested ? undefined : clientByFingerprint.get(fingerprint);
    const rounds: RoundStats[] = input.roundDeltas.map((deltas) => {
      const mine = deltas.filter((d) => groupOf.get(d.key) === key);
      const r = sumDeltas(mine);
      return { calls: r.calls, totalMs: round3(r.totalMs), meanMs: round3(r.calls ? r.totalMs / r.calls : 0) };
    });
    return {
      fingerprint,
      // For statements querygate sent itself, its own text (normalized like pg_stat_statements does):
      // the server keeps the text of the first statement with that queryid, which may be another
      // client's or a PREPARE.
      query: client ? normalizeStatement(client.sql) : group.text,
      kind: statementKind(nested ? (expressionAsStatement(group.text) ?? group.text) : group.text),
      ...(client ? { source: client.name } : {}),
      ...(client?.line !== undefined ? { line: client.line } : {}),
      calls: t.calls,
      totalMs: round3(t.totalMs),
      meanMs: round3(t.calls ? t.totalMs / t.calls : 0),
      minMs: t.minMs === null ? null : round3(t.minMs),
      maxMs: t.maxMs === null ? null : round3(t.maxMs),
      stddevMs: round3(t.stddevMs),
      dbTimeShare: totalMs > 0 ? round3(t.totalMs / totalMs) : 0,
      rows: t.rows,
      rowsPerCall: round3(t.calls ? t.rows / t.calls : 0),
      sharedBlksHit: t.sharedBlksHit,
      sharedBlksRead: t.sharedBlksRead,
      sharedBlksDirtied: t.sharedBlksDirtied,
      sharedBlksWritten: t.sharedBlksWritten,
      sharedBlksPerCall: round3(t.calls ? (t.sharedBlksHit + t.sharedBlksRead) / t.calls : 0),
      tempBlksRead: t.tempBlksRead,
      tempBlksWritten: t.tempBlksWritten,
      walBytes: t.walBytes,
      planMs: t.plans > 0 ? round3(t.planMs) : null,
      latency: client?.latency ?? null,
      errors: client?.errors ?? 0,
      errorSamples: client?.errorSamples ?? [],
      ...(client?.cancelledAtStop ? { cancelledAtStop: client.cancelledAtStop } : {}),
      ...(client?.paramMax ? { paramMax: client.paramMax } : {}),
      rounds: input.roundDeltas.length > 1 ? rounds : [],
      plan: null,
      relations: [],
      findings: [],
      suppressed: [],
      ...(nested ? { nested: NOT_LINKED } : {}),
    };
  });
  // Statements the client sent that never completed (every call failed, or the one running was cut
  // short by the stop) still belong in the report.
  for (const c of input.client) {
    if (groups.has(statementKey(c)) || (c.errors === 0 && !c.cancelledAtStop)) continue;
    queries.push({
      fingerprint: c.fingerprint,
      query: c.sql,
      kind: statementKind(c.sql),
      source: c.name,
      ...(c.line !== undefined ? { line: c.line } : {}),
      calls: 0,
      totalMs: 0,
      meanMs: 0,
      minMs: null,
      maxMs: null,
      stddevMs: 0,
      dbTimeShare: 0,
      rows: 0,
      rowsPerCall: 0,
      sharedBlksHit: 0,
      sharedBlksRead: 0,
      sharedBlksDirtied: 0,
      sharedBlksWritten: 0,
      sharedBlksPerCall: 0,
      tempBlksRead: 0,
      tempBlksWritten: 0,
      walBytes: 0,
      planMs: null,
      latency: c.latency,
      errors: c.errors,
      errorSamples: c.errorSamples,
      ...(c.cancelledAtStop ? { cancelledAtStop: c.cancelledAtStop } : {}),
      rounds: [],
      plan: null,
      ...(c.errors > 0 ? { planNote: EVERY_CALL_FAILED } : {}),
      relations: [],
      findings: [],
      suppressed: [],
    });
  }
  return queries.sort(
    (a, b) => Number(Boolean(a.nested)) - Number(Boolean(b.nested)) || b.totalMs - a.totalMs || b.calls - a.calls,
  );
}

/** A nested statement before `linkNestedStatements` has looked for its functions and callers. */
const NOT_LINKED: NestedInfo = { functions: [], callers: [] };

export interface PlanOptions {
  readonly analyze: boolean;
  readonly timeoutMs: number;
  readonly serverVersionNum: number;
  /** Explain at most this many statements (by total time). */
  readonly limit: number;
  readonly client: readonly ClientStatement[];
  /** Stops explaining when it aborts: the statements not explained yet get a note, not a plan. */
  readonly signal?: AbortSignal;
  /**
   * Per nested statement (by fingerprint), the declared types of its functions' variables
   * (`linkNestedStatements`), to cast the parameters that stand for them.
   */
  readonly variableTypes?: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** The role and settings to plan as (`--explain-role`, `--explain-setting`). */
  readonly explainAs?: ExplainAs;
}

/**
 * The plan note of a statement whose every call failed, until it is explained: without ANALYZE, since
 * a statement that failed (or was cancelled as a runaway) would fail or run away again.
 */
export const EVERY_CALL_FAILED = 'every call failed';

/**
 * The end of the plan note of a statement whose EXPLAIN ANALYZE ran into the timeout: its plan is
 * the one EXPLAIN made without ANALYZE.
 */
export const PLANNED_WITHOUT_ANALYZE = 'planned without ANALYZE; a longer --explain-timeout analyzes it';

/** The plan note of statements left unexplained by an interrupt. */
export const INTERRUPTED_NOTE = 'not explained: the run was interrupted';

/** Adds a plan to each data statement (with the replay's parameters where known), then relations. */
export async function capturePlans(
  session: Session,
  queries: readonly QueryReport[],
  options: PlanOptions,
): Promise<{ queries: QueryReport[]; relations: RelationInfo[] }> {
  const clientByFingerprint = new Map(options.client.map((c) => [c.fingerprint, c]));
  const out: QueryReport[] = [];
  for (const [index, query] of queries.entries()) {
    const failed = query.planNote === EVERY_CALL_FAILED;
    if (query.plan || (query.planNote && !failed)) {
      out.push(query);
      continue;
    }
    if (options.signal?.aborted) {
      out.push({ ...query, planNote: INTERRUPTED_NOTE });
      continue;
    }
    if (query.kind === 'utility' || query.kind === 'other') {
      out.push({
        ...query,
        planNote: query.kind === 'utility' ? 'utility statement: no plan' : 'not parseable: no plan',
      });
      continue;
    }
    if (index >= options.limit) {
      out.push({ ...query, planNote: `not explained: beyond the top ${options.limit} statements` });
      continue;
    }
    const analyze = options.analyze && !failed;
    // The text explained, and how: a nested statement is explained with its function's variables
    // made parameters (`explainNested`), a top-level one as the client sent it where it did.
    let sql: string;
    let explain: (analyze: boolean) => Promise<ExplainResult>;
    if (query.nested) {
      const types = options.variableTypes?.get(query.fingerprint);
      sql = query.query;
      explain = (analyze) => explainNested(session, query.query, types, { ...options, analyze });
    } else {
      const client = clientByFingerprint.get(query.fingerprint);
      // Prefer the statement as the client sent it, with its real values; else the normalized text.
      sql = explainableSql(query.query, client);
      let paramCount: number;
      try {
        paramCount = client?.paramCount ?? countParams(sql);
      } catch {
        out.push({ ...query, planNote: 'not parseable: no plan' });
        continue;
      }
      const request = {
        sql,
        ...(client?.params ? { params: client.params } : {}),
        paramCount,
        timeoutMs: options.timeoutMs,
        serverVersionNum: options.serverVersionNum,
        ...(options.explainAs ? { as: options.explainAs } : {}),
      };
      explain = (analyze) => explainStatement(session, { ...request, analyze });
    }
    let result = await explain(analyze);
    let analyzeNote: string | undefined;
    if (!result.ok && result.timedOut && analyze && !options.signal?.aborted) {
      // A statement too heavy to run within the timeout still has the plan the run would have made
      // without --analyze: its plan findings (a sort that spills) must not vanish with ANALYZE.
      const plain = await explain(false);
      if (plain.ok) {
        analyzeNote = `${result.note}: ${PLANNED_WITHOUT_ANALYZE}`;
        result = plain;
      }
    }
    if (result.ok) {
      const { planNote: _failed, ...explained } = query;
      // Asked for --analyze and not analyzed: the plan says why, so that no finding asks for it again.
      const notAnalyzed =
        options.analyze && result.plan.mode !== 'analyze'
          ? analyzeNote
            ? ANALYZE_TIMED_OUT
            : failed
              ? EVERY_CALL_FAILED_NOT_ANALYZED
              : query.nested
                ? NESTED_VALUES
                : UNKNOWN_VALUES
          : undefined;
      const plan = notAnalyzed ? { ...result.plan, notAnalyzed } : result.plan;
      out.push({
        ...explained,
        plan,
        ...(analyzeNote ? { planNote: analyzeNote } : {}),
        relations: qualifyAsWritten(planRelations(result.plan.root), result.plan.sql ?? sql),
      });
    } else {
      // An EXPLAIN cancelled by the interrupt did not fail: it was not finished.
      const note = options.signal?.aborted ? INTERRUPTED_NOTE : result.note;
      out.push({ ...query, planNote: failed ? `${EVERY_CALL_FAILED}; ${note}` : note });
    }
  }
  // Interrupted: no more statements on the session (the catalog is not read for relations).
  if (options.signal?.aborted) return { queries: out, relations: [] };
  // Plans name relations without their schema; a statement that names the schema says which one.
  const names = [...new Set(out.flatMap((q) => q.relations))];
  const bare = await describeRelations(
    session,
    names.filter((n) => !n.includes('.')),
  );
  const named = await describeRelations(
    session,
    names.filter((n) => n.includes('.')),
  );
  const scanned = [...bare, ...named.filter((r) => !bare.some((b) => b.name === r.name))];
  // Plans name partitions: the partitioned tables they belong to are described too, and listed with
  // each statement, so that a budget or a reader can name the table the statement was written for.
  // A plan that names the partitioned table itself (an INSERT into it) has it described already.
  const roots = [...new Set(scanned.flatMap((r) => (r.partitionOf ? [r.partitionOf] : [])))].filter(
    (root) => !scanned.some((r) => r.name === root),
  );
  const described = [...scanned, ...(await describeRelations(session, roots))].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  // Bare names: qualify them with what the catalog resolved through the search_path.
  const byTable = new Map(bare.map((r) => [r.table, r]));
  const byName = new Map(scanned.map((r) => [r.name, r]));
  const statementRelations = (planned: readonly string[]) => {
    const found = planned.map((r) => (r.includes('.') ? byName.get(r) : byTable.get(r)));
    return [
      ...new Set([
        ...planned.map((r, i) => found[i]?.name ?? r),
        ...found.flatMap((r) => (r?.partitionOf ? [r.partitionOf] : [])),
      ]),
    ];
  };
  const planned = out.map((q) => ({ ...q, relations: statementRelations(q.relations) }));
  // Whether the expressions the plans sort or group by can be indexed: a rule's fix may need it.
  const relations = options.signal?.aborted ? described : await checkKeyExpressions(session, planned, described);
  return { queries: planned, relations };
}

/** Names of a function's variables that a statement of it may use; more are not looked for. */
const MAX_VARIABLES = 16;

/**
 * Explains a statement recorded inside a function. pg_stat_statements keeps its text as the
 * function wrote it: with the function's variables (`p_id`, `customer_value.p_id`, `NEW.amount`),
 * which PL/pgSQL passes to it as parameters, and, for an expression or an assignment, without the
 * `SELECT` PL/pgSQL runs it with. Each name the server cannot resolve becomes a parameter, cast to
 * the variable's declared type where the function's body gives one, and the statement is explained
 * again: a generic plan, as PL/pgSQL itself ends up using for a statement it runs often.
 */
async function explainNested(
  session: Session,
  text: string,
  types: ReadonlyMap<string, string> | undefined,
  options: Omit<PlanOptions, 'limit' | 'client'>,
): Promise<ExplainResult> {
  let { sql, count } = renumberParams(castTypedParams(expressionAsStatement(text) ?? text));
  for (let attempt = 0; ; attempt++) {
    const result = await explainStatement(session, {
      sql,
      paramCount: count,
      analyze: options.analyze,
      timeoutMs: options.timeoutMs,
      serverVersionNum: options.serverVersionNum,
      ...(options.explainAs ? { as: options.explainAs } : {}),
    });
    if (result.ok) return sql === text ? result : { ok: true, plan: { ...result.plan, sql } };
    if (result.unresolvedAt === undefined || attempt >= MAX_VARIABLES || options.signal?.aborted) return result;
    const offset = Buffer.byteLength(sql.slice(0, result.unresolvedAt), 'utf8');
    const next = columnRefToParam(sql, offset, count, (names) => types?.get(names.join('.').toLowerCase()));
    if (!next) return result;
    sql = next.sql;
    count += 1;
  }
}

/**
 * The plan's relation names, with the schema where the statement wrote one: a plan names `items`
 * for `app.items` as for `public.items`.
 */
function qualifyAsWritten(planned: readonly string[], sql: string): string[] {
  const written = qualifiedRelations(sql);
  return [
    ...new Set(
      planned.flatMap((name) => {
        if (name.includes('.')) return [name];
        const matches = written.filter((w) => w.slice(w.indexOf('.') + 1) === name);
        return matches.length > 0 ? matches : [name];
      }),
    ),
  ];
}
