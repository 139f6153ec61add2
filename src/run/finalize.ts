/**
 * The common tail of every kind of run (SQL replay, HTTP replay, external command): from
 * statistics snapshots to a finished report with plans, relations and findings.
 */
import {
  assembleQueries,
  capturePlans,
  statementRoles,
  overcounted,
  ownTraffic,
  PLANNED_WITHOUT_ANALYZE,
  type ClientStatement,
} from '../capture/assemble.js';
import { diffSnapshots, evictedBetween, fetchQueryTexts, type Snapshot } from '../capture/statements.js';
import {
  REPORT_VERSION,
  statementKey,
  topLevel,
  type NotCalledStatement,
  type QueryReport,
  type Report,
  type RouteReport,
  type TargetInfo,
  type WorkloadInfo,
} from '../model/report.js';
import { linkNestedStatements } from '../capture/functions.js';
import {
  describeBypass,
  explainAsHint,
  findBypassedRowSecurity,
  type BypassedRowSecurity,
} from '../capture/row-security.js';
import type { ExplainAs } from '../model/plan.js';
import type { Session } from '../target/pg.js';
import type { Target } from '../target/target.js';
import { TOOL_VERSION } from '../version.js';
import { applyRules, explainTimeByAdvice, mergeSameFixes } from '../analyze/engine.js';
import type { ResolvedRules } from '../config/config.js';
import { adviseReport } from '../advise/advise.js';
import { interruptible } from '../target/interruptible.js';
import { clip } from '../text.js';
import { EVERY_CALL_FAILED_NOT_ANALYZED } from '../analyze/measure.js';

export const DEFAULT_EXPLAIN_TIMEOUT_MS = 10_000;
export const DEFAULT_EXPLAIN_LIMIT = 100;

/** How statements are explained and analyzed; shared by every run kind. */
export interface AnalysisOptions {
  /** EXPLAIN (ANALYZE, BUFFERS) inside a rolled-back transaction. */
  readonly analyze?: boolean;
  /** statement_timeout for each EXPLAIN, ms. */
  readonly explainTimeoutMs?: number;
  /** Explain at most this many statements. */
  readonly explainLimit?: number;
  /** Rule settings (config file); default: every rule at its defaults. */
  readonly rules?: ResolvedRules;
  /**
   * Validate index advice by building candidates (in a rolled-back transaction) on an external
   * database too; always done on the embedded one. The build blocks writes to the table while it runs.
   */
  readonly allowIndexBuild?: boolean;
  /**
   * The role and session settings to plan as (`--explain-role`, `--explain-setting`, a scenario's
   * `explain:`), in each EXPLAIN's own transaction: the capture's plans and the advice's alike.
   */
  readonly explainAs?: ExplainAs;
}

export interface FinalizeInput {
  readonly target: Target;
  /** A session on the target for catalog and EXPLAIN queries. */
  readonly control: Session;
  /** Snapshot before the measured window, after each round (at least two in all). */
  readonly snapshots: readonly Snapshot[];
  /** Statements the client sent itself (SQL replay), to attach latency and real parameters. */
  readonly client: readonly ClientStatement[];
  /** Drop BEGIN/ROLLBACK that querygate itself sent. */
  readonly dropTransactionControl: boolean;
  readonly workload: WorkloadInfo;
  readonly startedAt: Date;
  /** Undefined when the run completed; else why it stopped (the report is then partial). */
  readonly stoppedBy?: string;
  readonly warnings: readonly string[];
  /** Statements of a SQL replay's workload that were never called (`run.notCalled`). */
  readonly notCalled?: readonly NotCalledStatement[];
  readonly errors: number;
  readonly throughput?: number;
  readonly routes?: readonly RouteReport[];
  readonly analysis: AnalysisOptions;
  readonly onStep?: (message: string) => void;
  /**
   * A SQL replay's role (pg_roles.oid): the report keeps that role's statements the replay sent,
   * and leaves out what other sessions ran meanwhile (see `ownTraffic`).
   */
  readonly replayUserId?: string;
  /**
   * The run's interrupt: when it aborts while statements are explained or index advice is
   * validated, the statement in flight is cancelled and the report holds what was done until then,
   * marked incomplete.
   */
  readonly signal?: AbortSignal;
  /**
   * Explain the statements even though the run stopped early (`stoppedBy`), when what stopped it
   * was not an interrupt but the load (the application exited or stopped answering): the database
   * is still there, and the partial report's plan findings may say why.
   */
  readonly planWhenStopped?: boolean;
}

/** Diffs the snapshots, groups by fingerprint, explains, describes relations and builds the report. */
export async function finalizeReport(input: FinalizeInput): Promise<Report> {
  const { control, snapshots, target } = input;
  const step = input.onStep ?? (() => undefined);
  const warnings = [...input.warnings];
  const first = snapshots[0]!;
  const last = snapshots[snapshots.length - 1]!;
  let deltas = diffSnapshots(first, last);
  let roundDeltas = snapshots.slice(1).map((s, i) => diffSnapshots(snapshots[i]!, s));
  const evicted = evictedBetween(first, last);
  if (evicted) {
    warnings.push(
      `${evicted} pg_stat_statements entries were evicted during the run: statistics may be incomplete (raise pg_stat_statements.max)`,
    );
  }
  const texts = await fetchQueryTexts(control, deltas);
  if (input.replayUserId !== undefined) {
    const own = ownTraffic(deltas, texts, input.client, input.replayUserId);
    if (own.foreign.calls > 0) {
      const keys = new Set(own.deltas.map((d) => d.key));
      deltas = own.deltas;
      roundDeltas = roundDeltas.map((round) => round.filter((d) => keys.has(d.key)));
      warnings.push(
        `other sessions ran ${own.foreign.calls} call(s) of ${own.foreign.statements} statement(s) in database "${target.info.database}" during the run: ` +
          'left out of the report, but they shared the server with the replay (timings may be higher than on a quiet database)',
      );
    }
  }
  let queries = assembleQueries({
    deltas,
    roundDeltas,
    texts,
    client: input.client,
    dropTransactionControl: input.dropTransactionControl,
  });
  if (input.replayUserId !== undefined) {
    const doubled = overcounted(queries, input.client);
    if (doubled.length > 0) {
      const [first] = doubled;
      warnings.push(
        `pg_stat_statements counted more calls than this run sent for ${doubled.length} statement(s) ` +
          `(${first!.name}: ${first!.counted} counted, ${first!.sent} sent): another session of the same role ran them ` +
          'during the run (another querygate run on this database?), and their calls and times are in this report',
      );
    }
  }
  if (input.routes) queries = attachRoutes(queries, input.routes);
  let relations: Report['relations'] = [];
  // Statements whose plan was made by a role that bypasses the row-level security they ran under.
  let rowSecurity = new Map<string, BypassedRowSecurity>();
  let stoppedBy = input.stoppedBy;
  const signal = input.signal;
  // After the replay, an interrupt cancels the EXPLAIN or index build in flight and stops there.
  const interrupted = () => signal?.aborted === true;
  const explain = stoppedBy === undefined || (input.planWhenStopped === true && !interrupted());
  const session =
    signal && explain ? interruptible(control, signal, () => target.connect('querygate-cancel')) : undefined;
  if (explain) {
    if (stoppedBy !== undefined)
      warnings.push(`run stopped early (${stoppedBy}): the report holds what was captured until then`);
    const limit = input.analysis.explainLimit ?? DEFAULT_EXPLAIN_LIMIT;
    // Which functions each statement runs, and which function each nested statement ran in. What
    // cannot be read leaves the statements unlinked: it costs the links, not the report.
    let variableTypes: Awaited<ReturnType<typeof linkNestedStatements>>['types'] = new Map();
    if (!interrupted()) {
      try {
        const linked = await linkNestedStatements(session ?? control, queries);
        queries = linked.queries;
        variableTypes = linked.types;
      } catch (error) {
        if (!interrupted())
          warnings.push(
            `could not read the database's functions, so statements are not linked to the functions they run: ${error instanceof Error ? error.message : String(error)}`,
          );
      }
    }
    step(`explaining ${Math.min(queries.length, limit)} statement(s)${input.analysis.analyze ? ' with ANALYZE' : ''}`);
    const planned = await capturePlans(session ?? control, queries, {
      variableTypes,
      analyze: input.analysis.analyze ?? false,
      timeoutMs: input.analysis.explainTimeoutMs ?? DEFAULT_EXPLAIN_TIMEOUT_MS,
      serverVersionNum: target.info.serverVersionNum,
      limit,
      client: input.client,
      ...(signal ? { signal } : {}),
      ...(input.analysis.explainAs ? { explainAs: input.analysis.explainAs } : {}),
    });
    queries = planned.queries;
    relations = planned.relations;
    if (!interrupted()) {
      try {
        const roles = statementRoles({
          deltas,
          roundDeltas: [],
          texts,
          client: input.client,
          dropTransactionControl: input.dropTransactionControl,
        });
        rowSecurity = await findBypassedRowSecurity(session ?? control, queries, roles, input.analysis.explainAs);
      } catch (error) {
        if (!interrupted())
          warnings.push(
            `could not read the row-level security of the tables the statements read: ${error instanceof Error ? error.message : String(error)}`,
          );
      }
      queries = queries.map((q) => {
        const found = rowSecurity.get(statementKey(q));
        return found && !q.planNote ? { ...q, planNote: describeBypass(found) } : q;
      });
      warnings.push(...rowSecurityWarnings(queries, rowSecurity));
    }
    if (interrupted()) {
      stoppedBy = String(signal!.reason ?? 'interrupted');
      const explained = queries.filter((q) => q.plan).length;
      warnings.push(
        `run stopped while explaining statements (${stoppedBy}): ${explained} of ${queries.length} statement(s) ` +
          'have a plan, and there is no index advice',
      );
    }
    // Rules need plans: say which statements have none because EXPLAIN itself failed or timed out.
    const failed = queries.filter((q) => !q.plan && /EXPLAIN (ANALYZE )?(failed|cancelled)/.test(q.planNote ?? ''));
    if (failed.length > 0) {
      const timedOut = failed.some((q) => q.planNote?.includes('--explain-timeout'));
      warnings.push(
        `${failed.length} statement(s) have no plan, so no plan rule saw them: ` +
          failed
            .slice(0, 3)
            .map((q) => `${statementLabel(q)} (${q.planNote})`)
            .join('; ') +
          (failed.length > 3 ? `; and ${failed.length - 3} more` : '') +
          (timedOut ? '; a longer --explain-timeout gives them time to be planned' : ''),
      );
    }
    // With --analyze, a statement too heavy to run within the timeout keeps its plain plan.
    const unanalyzed = queries.filter((q) => q.plan && q.planNote?.endsWith(PLANNED_WITHOUT_ANALYZE));
    if (unanalyzed.length > 0) {
      const timeoutMs = input.analysis.explainTimeoutMs ?? DEFAULT_EXPLAIN_TIMEOUT_MS;
      warnings.push(
        `${unanalyzed.length} statement(s) could not be analyzed within the --explain-timeout of ${Number((timeoutMs / 1000).toFixed(1))} s: ` +
          unanalyzed
            .slice(0, 5)
            .map((q) => q.source ?? q.fingerprint)
            .join(', ') +
          (unanalyzed.length > 5 ? ` and ${unanalyzed.length - 5} more` : '') +
          ': their plans were made without ANALYZE (estimates, no actual rows or times); raise --explain-timeout to analyze them',
      );
    }
    // With --analyze, a statement none of whose calls succeeded is not executed again: say so, as
    // the plan (`notAnalyzed`) does, so that the terminal does not leave --analyze unanswered.
    const neverSucceeded = queries.filter((q) => q.plan?.notAnalyzed === EVERY_CALL_FAILED_NOT_ANALYZED);
    if (neverSucceeded.length > 0) {
      warnings.push(
        `--analyze: ${neverSucceeded.length} statement(s) were not analyzed, as every call failed and executing ` +
          `it would fail or run away again: ` +
          neverSucceeded
            .slice(0, 5)
            .map((q) => q.source ?? q.fingerprint)
            .join(', ') +
          (neverSucceeded.length > 5 ? ` and ${neverSucceeded.length - 5} more` : '') +
          ': their plans were made without ANALYZE (estimates, no actual rows or times)',
      );
    }
  } else {
    warnings.push(`run stopped early (${stoppedBy}): the report holds what was captured until then, without plans`);
  }
  const complete = stoppedBy === undefined;

  if (queries.length === 0 && complete) {
    warnings.push(
      `pg_stat_statements recorded no statement in database "${target.info.database}" during the run: ` +
        'is the load reaching this database?' +
        // The load had DATABASE_URL of the embedded database; an application it drives may not.
        (target.kind === 'embedded'
          ? ' It is the embedded database querygate started: load that reaches a database of its own ' +
            '(through an application) needs that database, with --database-url'
          : ''),
    );
  }
  warnings.push(...nestedWarnings(target.info, queries));
  const finishedAt = new Date();
  // A nested statement's time is in its caller's: the totals are the top-level statements'.
  const counted = topLevel(queries);
  const totalMs = counted.reduce((s, q) => s + q.totalMs, 0);
  const report: Report = {
    version: REPORT_VERSION,
    tool: { name: 'querygate', version: TOOL_VERSION },
    createdAt: finishedAt.toISOString(),
    target: target.info,
    workload: input.analysis.explainAs ? { ...input.workload, explainAs: input.analysis.explainAs } : input.workload,
    run: {
      startedAt: input.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - input.startedAt.getTime(),
      complete,
      ...(complete ? {} : { interruptedBy: stoppedBy }),
      ...(input.notCalled && input.notCalled.length > 0 ? { notCalled: input.notCalled } : {}),
    },
    totals: {
      statements: counted.length,
      calls: counted.reduce((s, q) => s + q.calls, 0),
      totalMs: Math.round(totalMs * 1000) / 1000,
      errors: input.errors,
      ...(input.throughput !== undefined ? { throughput: input.throughput } : {}),
    },
    queries,
    relations,
    ...(input.routes ? { routes: input.routes } : {}),
    warnings,
  };
  // Analysis steps (rules, index advice) are applied here, in this order.
  const analyzed = applyRules(report, {
    ...(input.analysis.rules ? { rules: input.analysis.rules } : {}),
    statements: input.client.map((c) => ({
      fingerprint: c.fingerprint,
      sql: c.sql,
      ...(c.params ? { params: c.params } : {}),
    })),
  });
  // A run the load stopped early (the application exited or stopped answering) still has its
  // database, and the plans of what ran: its index advice is validated as a complete run's is. An
  // interrupt stops before advice.
  if (!complete && !(explain && !interrupted())) {
    await session?.cancelled;
    return cautionRowSecurity(analyzed, rowSecurity);
  }
  let advised: Report | undefined;
  try {
    advised = await adviseReport(session ?? control, analyzed, {
      statements: input.client,
      ...(input.analysis.allowIndexBuild ? { allowIndexBuild: true } : {}),
      ...(input.analysis.explainTimeoutMs !== undefined ? { explainTimeoutMs: input.analysis.explainTimeoutMs } : {}),
      onStep: step,
      stopped: interrupted,
      ...(input.analysis.explainAs ? { explainAs: input.analysis.explainAs } : {}),
    });
  } catch (error) {
    if (!interrupted()) throw error;
  }
  // After advice: a validated index can be what explains a slow statement's time.
  const settle = (report: Report) =>
    cautionRowSecurity(
      explainTimeByAdvice(mergeSameFixes(report), input.analysis.rules ? { rules: input.analysis.rules } : {}),
      rowSecurity,
    );
  if (advised && !interrupted()) return settle(advised);
  // Interrupted during index advice: advice stops at the interrupt and keeps what was validated
  // before it (a candidate cut short is not judged, so it never reads as refused by the planner).
  await session?.cancelled;
  const reason = String(signal!.reason ?? 'interrupted');
  const kept = advised ? settle(advised) : cautionRowSecurity(analyzed, rowSecurity);
  return {
    ...kept,
    run: { ...kept.run, complete: false, interruptedBy: reason },
    warnings: [
      ...kept.warnings,
      advised
        ? `run stopped during index advice (${reason}): the report keeps the advice validated before the stop`
        : `run stopped during index advice (${reason}): the report has plans and findings, without index advice`,
    ],
  };
}

/**
 * True when a run that completed has no statement at all: pg_stat_statements recorded nothing in
 * the target database, so the load never reached it (an application or a command using a database of
 * its own). For load querygate does not send itself (HTTP replay, `capture`) the measurement is void;
 * a SQL replay always reaches the database it connects to.
 */
export function recordedNothing(report: Report): boolean {
  return report.run.complete && report.queries.length === 0;
}

/**
 * `--analyze` where querygate did not send the load (an HTTP run, `capture`): the load's client
 * sent the statements' values, and pg_stat_statements keeps only the normalized text (literals
 * and parameters as `$n`), so a statement with parameters has nothing to execute with: it gets a
 * generic plan, without ANALYZE, which says why (`plan.notAnalyzed`), and only statements without
 * parameters are analyzed. The report says what was done: `workload.analyze` is true only when a
 * plan was analyzed, and a warning counts what was not.
 */
export function recordAnalyze(report: Report): Report {
  const planned = report.queries.filter((q) => q.plan);
  const analyzed = planned.filter((q) => q.plan?.mode === 'analyze').length;
  const generic = planned.length - analyzed;
  const why =
    report.workload.kind === 'http'
      ? 'an HTTP run does not know the parameter values the application sent'
      : 'capture does not know the values the command sent, which pg_stat_statements replaced with $n';
  return {
    ...report,
    workload: { ...report.workload, analyze: analyzed > 0 },
    warnings:
      generic > 0
        ? [
            ...report.warnings,
            `--analyze: ${generic} of ${planned.length} planned statement(s) were not analyzed: ${why}, ` +
              `so statements with parameters get generic plans without ` +
              `ANALYZE, and rules that read parameter values or actual rows (deep-offset, row-estimate-mismatch, ...) ` +
              `cannot apply to them`,
          ]
        : report.warnings,
  };
}

/**
 * A statement as a warning names it: its name where it has one, else its text (clipped to one
 * line) with its fingerprint, which `budget` and `compare` key it by.
 */
export function statementLabel(q: Pick<QueryReport, 'source' | 'query' | 'fingerprint'>): string {
  return q.source ?? `"${clip(q.query.replace(/\s+/g, ' ').trim(), 80)}" [${q.fingerprint}]`;
}

/**
 * What the run's nested statements (those run inside functions) leave out or count twice:
 * PostgreSQL 13's pg_stat_statements records them with `track = all` but does not say which they
 * are (no `toplevel` column), so their time is counted with their callers'.
 */
export function nestedWarnings(target: TargetInfo, queries: readonly QueryReport[]): string[] {
  if (target.pgStatStatementsTrack !== 'all' || target.serverVersionNum >= 140000 || queries.length === 0) return [];
  return [
    `pg_stat_statements.track is 'all' on PostgreSQL ${target.serverVersion}, whose pg_stat_statements does not say which ` +
      'statements ran inside functions (the toplevel column is PostgreSQL 14+): they are reported as statements of ' +
      "their own, and their time is counted both in them and in their callers' (set pg_stat_statements.track = 'top' " +
      'for totals without them)',
  ];
}

/** Each statement learns which routes run it and how often per request (HTTP runs). */
function attachRoutes(queries: QueryReport[], routes: readonly RouteReport[]): QueryReport[] {
  return queries.map((q) => {
    // A route's statements are the top-level ones the application sent.
    if (q.nested) return q;
    const mine = routes.flatMap((r) =>
      r.statements
        .filter((s) => s.fingerprint === q.fingerprint)
        .map((s) => ({ route: r.name, callsPerRequest: s.callsPerRequest })),
    );
    return mine.length > 0 ? { ...q, routes: mine.sort((a, b) => b.callsPerRequest - a.callsPerRequest) } : q;
  });
}

/**
 * Every finding of a statement planned past the row-level security it ran under says so
 * (`caveat`): the plan it judges may not be the one the application gets.
 */
export function cautionRowSecurity(report: Report, found: ReadonlyMap<string, BypassedRowSecurity>): Report {
  if (found.size === 0) return report;
  return {
    ...report,
    queries: report.queries.map((q) => {
      const bypassed = found.get(statementKey(q));
      if (!bypassed || !q.plan) return q;
      const caveat =
        `its plan was made as "${bypassed.planRole}", which bypasses the row-level security of ` +
        `${bypassed.tables.map((t) => t.name).join(', ')} that filters ${bypassed.ranAs.map((r) => `"${r}"`).join(', ')}: ` +
        `this may not be the application's plan (plan as it does: ${explainAsHint(bypassed)})`;
      return { ...q, findings: q.findings.map((f) => (f.caveat ? f : { ...f, caveat })) };
    }),
  };
}

/** The SQLSTATE-free text of an EXPLAIN that failed on a setting nothing in its transaction set. */
const MISSING_SETTING = /unrecognized configuration parameter "([^"]+)"/;

/**
 * The run's warnings on row-level security: statements planned by a role that bypasses the
 * policies they ran under, and statements that could not be planned at all because a setting
 * their policies (or functions) read with current_setting() is set by the application in its own
 * transactions, not in querygate's EXPLAIN.
 */
export function rowSecurityWarnings(
  queries: readonly QueryReport[],
  found: ReadonlyMap<string, BypassedRowSecurity>,
): string[] {
  const warnings: string[] = [];
  const bypassed = queries.filter((q) => found.has(statementKey(q)));
  if (bypassed.length > 0) {
    const all = bypassed.map((q) => found.get(statementKey(q))!);
    const tables = [...new Set(all.flatMap((b) => b.tables.map((t) => t.name)))].sort();
    const merged: BypassedRowSecurity = {
      planRole: all[0]!.planRole,
      tables: [],
      ranAs: [...new Set(all.flatMap((b) => b.ranAs))].sort(),
      settings: [...new Set(all.flatMap((b) => b.settings))].sort(),
    };
    warnings.push(
      `${bypassed.length} statement(s) were planned as "${merged.planRole}", which bypasses the row-level security of ` +
        `${tables.join(', ')}, while they ran as ${merged.ranAs.map((r) => `"${r}"`).join(', ')}, whose policies filter them: ` +
        `their plans, findings and index advice may not be the application's (` +
        bypassed
          .slice(0, 3)
          .map((q) => statementLabel(q))
          .join('; ') +
        (bypassed.length > 3 ? `; and ${bypassed.length - 3} more` : '') +
        `). Plan as the application does: ${explainAsHint(merged)} (or explain: { role, settings } in the scenario)`,
    );
  }
  const missing = new Map<string, number>();
  for (const q of queries) {
    const name = q.plan ? undefined : MISSING_SETTING.exec(q.planNote ?? '')?.[1];
    if (name !== undefined) missing.set(name, (missing.get(name) ?? 0) + 1);
  }
  for (const [name, count] of missing) {
    warnings.push(
      `${count} statement(s) could not be planned: they read the setting "${name}" (current_setting() in a row-level ` +
        "security policy or a function), which the application sets in its own transactions and querygate's EXPLAIN " +
        `does not: give it with --explain-setting ${name}=<value> (and the application's role with --explain-role), ` +
        `or explain: { settings: { ${name}: <value> } } in the scenario`,
    );
  }
  return warnings;
}
