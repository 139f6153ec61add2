/**
 * HTTP replay: drives the application with load, one phase per route and then one mixed phase, and
 * attributes what the database did to routes.
 *
 * Attribution works by isolation, not by tracing: during a route's own phase only that route is
 * requested, so the pg_stat_statements delta between the snapshots around the phase is what its
 * requests cost. A phase waits for the answers to its requests that timed out (runPhase), as the
 * application may be working on them outside the database; then querygate waits until the
 * application's sessions are idle, so that requests still in flight when a phase ends are counted
 * in it and not in the next one.
 */
import { checkExplainAs } from '../../capture/explain.js';
import { assembleQueries } from '../../capture/assemble.js';
import { summarizeLatencies } from '../../capture/latency.js';
import {
  diffSnapshots,
  fetchQueryTexts,
  INTERNAL_MARK,
  takeSnapshot,
  type Snapshot,
} from '../../capture/statements.js';
import { normalizeStatement, tryParse } from '../../analyze/parser.js';
import { InputError, RunFailedError } from '../../errors.js';
import { redactSecrets } from '../../redact.js';
import { clip } from '../../text.js';
import { topLevel, type Report, type RouteLatency, type RouteReport, type WorkloadInfo } from '../../model/report.js';
import type { HttpLoadShape, HttpRoute, HttpWorkload } from '../../model/workload.js';
import { finalizeReport, recordAnalyze, recordedNothing, type AnalysisOptions } from '../../run/finalize.js';
import { setUpDatabase } from '../../run/setup.js';
import type { Session } from '../../target/pg.js';
import type { Target } from '../../target/target.js';
import { withTarget } from '../../run/with-target.js';
import {
  checkAppEndpoints,
  checkReachable,
  commandText,
  describeExit,
  startApp,
  type AppExit,
  type RunningApp,
} from '../app.js';
import { createRandom } from '../generators.js';
import { runPhase, type PhaseResult } from './autocannon.js';
import { compileRoute, type CompiledRoute } from './template.js';

/** A live status line's data: one per phase, refreshed a few times a second. */
export interface HttpProgress {
  readonly kind: 'http';
  /** `warm-up`, a route name, or `mixed`. */
  readonly phase: string;
  /** 1-based number of the phase, warm-up excluded. */
  readonly index: number;
  readonly phases: number;
  readonly responses: number;
  /** Requests without a response: connection errors and timeouts. */
  readonly errors: number;
  /** Responses with a status other than 2xx and 3xx. */
  readonly failedResponses: number;
  readonly elapsedMs: number;
  readonly plannedMs: number | null;
  readonly plannedRequests: number | null;
}

export interface HttpRunOptions extends AnalysisOptions {
  readonly workload: HttpWorkload;
  /** An existing database; without it an embedded PostgreSQL is started. */
  readonly databaseUrl?: string;
  /** Apply the workload's schema/seed files to an external database too (always done on embedded). */
  readonly setup?: boolean;
  /** Seed of the parameter generators. */
  readonly seed?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: HttpProgress) => void;
  readonly onStep?: (message: string) => void;
  /** Receives each line the application prints. */
  readonly onAppOutput?: (line: string) => void;
  /** Share of a route's requests answered 5xx or failed above which the run fails (APP_FAILING). */
  readonly maxFailureShare?: number;
  /**
   * Replay routes with write methods (POST, PUT, PATCH, DELETE, ...) against an external target.
   * The application commits what they write, and querygate cannot roll that back: without this
   * such a run is refused (WRITES_REFUSED). Runs on the embedded (throwaway) database need nothing.
   */
  readonly allowWrites?: boolean;
}

/** Methods that never change data by HTTP's definition; a route with any other method may write. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** The routes whose method may write (POST, PUT, PATCH, DELETE, ...). */
export function writeRoutes(workload: HttpWorkload): HttpRoute[] {
  return workload.routes.filter((r) => !SAFE_METHODS.has(r.method.toUpperCase()));
}

/**
 * Whether the application writes to a database that outlives the run: an external database
 * (`--database-url`), or a running application at `baseUrl` (it uses its own database).
 */
export function writesOutliveRun(workload: HttpWorkload, databaseUrl: string | undefined): boolean {
  return databaseUrl !== undefined || workload.app === undefined;
}

/**
 * Refuses write routes against an external target unless `allowWrites`: the application commits its
 * writes, and unlike SQL replay querygate has no transaction around them to roll back.
 */
export function checkWriteRoutes(workload: HttpWorkload, databaseUrl: string | undefined, allowWrites: boolean): void {
  const refusal = writesRefusal(workload, databaseUrl, allowWrites);
  if (refusal) throw new InputError('WRITES_REFUSED', refusal);
}

/** Why write routes are refused (WRITES_REFUSED), or undefined when they are not. */
function writesRefusal(
  workload: HttpWorkload,
  databaseUrl: string | undefined,
  allowWrites: boolean,
): string | undefined {
  if (allowWrites || !writesOutliveRun(workload, databaseUrl)) return undefined;
  const writes = writeRoutes(workload);
  if (writes.length === 0) return undefined;
  const target = databaseUrl !== undefined ? 'an external database' : 'a running application (baseUrl)';
  return (
    `${writes.length} route(s) send write requests to ${target}, whose changes are committed and cannot be rolled back: ` +
    `${writes.map(describeRoute).join(', ')}; pass --allow-writes to replay them anyway, or leave them out ` +
    `(imports: methods: [GET, HEAD])`
  );
}

const describeRoute = (r: HttpRoute) => `"${r.name}" (${r.method} ${r.path})`;

const WRITE_KINDS: ReadonlySet<string> = new Set(['insert', 'update', 'delete', 'merge']);

/**
 * What write routes replayed with --allow-writes did to a database that outlives the run, as far as
 * pg_stat_statements knows: a route with a completed INSERT, UPDATE, DELETE or MERGE may have
 * committed changes; one without (its writes refused, say for a read-only role: a failed statement
 * is not recorded) is said apart, so that the warning does not claim changes that never happened.
 */
export function writeWarnings(writes: readonly HttpRoute[], report: Report): string[] {
  const completed = new Map(
    report.queries.filter((q) => WRITE_KINDS.has(q.kind) && q.calls > 0).map((q) => [q.fingerprint, q.calls]),
  );
  const wrote = (r: HttpRoute) =>
    (report.routes ?? []).some(
      (route) => route.name === r.name && route.statements.some((s) => completed.has(s.fingerprint)),
    );
  const done = writes.filter(wrote);
  const none = writes.filter((r) => !wrote(r));
  return [
    ...(done.length > 0
      ? [
          `write requests were replayed with --allow-writes and their changes committed: ${done.map(describeRoute).join(', ')}`,
        ]
      : []),
    ...(none.length > 0
      ? [
          `write requests were replayed with --allow-writes, but the database recorded no completed INSERT, UPDATE, ` +
            `DELETE or MERGE of theirs, so they most likely changed nothing: ${none.map(describeRoute).join(', ')}`,
        ]
      : []),
  ];
}

/**
 * Refuses a running application (`baseUrl` without `app`) on the embedded database: the application
 * uses a database of its own, which querygate cannot know, and would measure an empty database the
 * load never reaches (an empty report that passes every gate). Write routes that would be refused
 * next are named in the same error, so that one attempt tells both.
 */
export function checkAppDatabase(workload: HttpWorkload, databaseUrl: string | undefined, allowWrites = true): void {
  if (workload.app !== undefined || databaseUrl !== undefined) return;
  const writes = writesRefusal(workload, databaseUrl, allowWrites);
  throw new InputError(
    'DATABASE_URL_REQUIRED',
    `the application at ${workload.baseUrl ?? 'baseUrl'} is already running and uses a database of its own, ` +
      `which querygate cannot know: pass that database with --database-url (or DATABASE_URL); without it ` +
      `querygate would measure an empty embedded database that the load never reaches`,
    writes ? [`also: ${writes}`] : [],
  );
}

/**
 * The checks before anything is started or sent, the more fundamental first: the database of a
 * running application (DATABASE_URL_REQUIRED, which names refused write routes too), then write
 * routes (WRITES_REFUSED).
 */
export function checkHttpTarget(workload: HttpWorkload, databaseUrl: string | undefined, allowWrites: boolean): void {
  checkAppDatabase(workload, databaseUrl, allowWrites);
  checkWriteRoutes(workload, databaseUrl, allowWrites);
}

export const DEFAULT_MAX_FAILURE_SHARE = 0.5;
/** How long to wait for the application's sessions to go idle after a phase. */
const QUIET_TIMEOUT_MS = 3000;

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const round1 = (v: number) => Math.round(v * 10) / 10;
/** `2 s`, `1.5 s`: a request timeout as messages give it. */
const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

/** Starts (or connects to) the target, runs the HTTP workload and returns the report. */
export async function runHttpWorkload(options: HttpRunOptions): Promise<Report> {
  // Before any database or application is started.
  checkHttpTarget(options.workload, options.databaseUrl, options.allowWrites ?? false);
  if (options.workload.app) await checkAppEndpoints(options.workload.app, options.workload.baseUrl);
  const { setup } = options.workload;
  return withTarget(options.databaseUrl, options.onStep, (target) => runHttpOnTarget(target, options), {
    ...(options.signal ? { signal: options.signal } : {}),
    setupFirst: Boolean(options.setup) && setup.schema.length + setup.seed.length > 0,
  });
}

interface PhaseRecord {
  readonly before: Snapshot;
  readonly after: Snapshot;
  readonly result: PhaseResult;
}

/** Runs on an already opened target (the caller closes it). */
export async function runHttpOnTarget(target: Target, options: HttpRunOptions): Promise<Report> {
  const { workload } = options;
  const external = target.kind === 'external' ? target.url : undefined;
  checkHttpTarget(workload, external, options.allowWrites ?? false);
  // Before the setup files, which may run for minutes: the application could not start anyway.
  if (workload.app) await checkAppEndpoints(workload.app, workload.baseUrl);
  const step = options.onStep ?? (() => undefined);
  const warnings: string[] = [...workload.warnings];
  // Said after the run, from what the database recorded: whether the writes completed.
  const writes = writesOutliveRun(workload, external) ? writeRoutes(workload) : [];
  const startedAt = new Date();
  const files = [...workload.setup.schema, ...workload.setup.seed];
  const { skipped } = await setUpDatabase(target, files, {
    allowed: Boolean(options.setup),
    step,
    // pg_stat_statements installed: after the files, which may create it, before they commit.
    check: (session) => target.checkStatistics(session),
  });
  if (skipped) warnings.push(skipped);
  // Opened after the setup files, as the application's connections are: it sees what they see.
  const control = await target.connect('querygate-control');
  let app: RunningApp | undefined;
  try {
    // The role and settings to plan as: refused before the load, not after it at every EXPLAIN.
    await checkExplainAs(control, options.explainAs);
    let baseUrl: string;
    if (workload.app) {
      step(`starting the application: ${commandText(workload.app.command)}`);
      app = await startApp(workload.app, {
        databaseUrl: target.url,
        ...(workload.baseUrl ? { loadUrl: workload.baseUrl } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onAppOutput ? { onOutput: options.onAppOutput } : {}),
      });
      baseUrl = workload.baseUrl ?? app.baseUrl;
    } else {
      baseUrl = workload.baseUrl!;
      step(`checking that the application answers at ${baseUrl}`);
      await checkReachable(baseUrl);
    }

    // Stop the load as soon as the user interrupts or the application exits.
    const stopper = new AbortController();
    // Aborted first when the application exits: the phase then knows why the load stops.
    const gone = new AbortController();
    let appExit: AppExit | undefined;
    const onUserAbort = () => stopper.abort(options.signal?.reason ?? 'interrupted');
    if (options.signal?.aborted) onUserAbort();
    options.signal?.addEventListener('abort', onUserAbort, { once: true });
    void app?.exited.then((exit) => {
      appExit = exit;
      gone.abort();
      stopper.abort(`the application ${describeExit(exit)}`);
    });

    const random = createRandom(options.seed ?? 1);
    const compiled = workload.routes.map((r) => compileRoute(r, random));
    const load = workload.load;
    const mixed = load.mixed && compiled.length > 1;
    const phases = compiled.length + (mixed ? 1 : 0);
    // What the database runs at the moment the application stops answering: the statements its
    // requests wait for (a query slower than the request timeout looks like a hang from outside).
    let runningAtStall: Promise<RunningStatement[]> | undefined;
    const phase = (name: string, index: number, routes: readonly CompiledRoute[], shape: HttpLoadShape) =>
      runPhase({
        baseUrl,
        routes,
        connections: load.connections,
        shape,
        ...(load.rate !== undefined ? { rate: load.rate } : {}),
        timeoutMs: load.timeoutMs,
        random,
        signal: stopper.signal,
        appExited: gone.signal,
        onStall: () => {
          runningAtStall ??= runningStatements(control).catch(() => []);
        },
        ...(options.onProgress
          ? { onProgress: (p) => options.onProgress?.({ kind: 'http', phase: name, index, phases, ...p }) }
          : {}),
      });

    if (load.warmupMs > 0) {
      step(`warming up for ${(load.warmupMs / 1000).toFixed(1)}s`);
      await phase('warm-up', 0, compiled, { kind: 'duration', durationMs: load.warmupMs });
      await waitForQuiet(control, QUIET_TIMEOUT_MS);
    }
    const snapshot = () => takeSnapshot(control, target.info.serverVersionNum);
    const first = await snapshot();
    let previous = first;
    const records: PhaseRecord[] = [];
    let noisy = false;
    let stalledIn: { readonly phase: string; readonly result: PhaseResult } | undefined;
    const runMeasured = async (name: string, index: number, routes: readonly CompiledRoute[]) => {
      step(`phase ${index}/${phases}: ${name}`);
      const result = await phase(name, index, routes, load.shape);
      if (result.stalled) stalledIn = { phase: name, result };
      if (!(await waitForQuiet(control, QUIET_TIMEOUT_MS))) noisy = true;
      const after = await snapshot();
      records.push({ before: previous, after, result });
      previous = after;
      return result;
    };
    let stoppedBy: string | undefined;
    for (const [i, route] of compiled.entries()) {
      const result = await runMeasured(route.route.name, i + 1, [route]);
      stoppedBy = result.stoppedBy;
      if (stoppedBy) break;
    }
    let mixedResult: PhaseResult | undefined;
    if (mixed && !stoppedBy) {
      mixedResult = await runMeasured('mixed', phases, compiled);
      stoppedBy = mixedResult.stoppedBy;
      if (stoppedBy) mixedResult = undefined;
    }
    options.signal?.removeEventListener('abort', onUserAbort);
    const running = stalledIn && !options.signal?.aborted ? await (runningAtStall ?? []) : [];
    if (running.length > 0) warnings.push(runningWarning(stalledIn!.phase, running, load.timeoutMs));
    if (noisy) {
      warnings.push(
        'other sessions stayed busy between phases: statements of other clients may be attributed to routes',
      );
    }

    const routes = await attributeRoutes(control, workload, records, mixedResult);
    for (const [i, r] of routes.entries()) {
      if (r.non2xx > 0) warnings.push(non2xxWarning(r, records[i]!.result.statusCounts));
      if (r.errors > 0)
        warnings.push(`route "${r.name}": ${r.errors} request(s) got no response (connection errors or timeouts)`);
      warnings.push(...lateWarnings(r.name, records[i]!.result, load.timeoutMs));
      if (r.requests === 0 && !stoppedBy) warnings.push(`route "${r.name}": no response in its phase`);
    }
    const shape = load.shape;
    const info: WorkloadInfo = {
      kind: 'http',
      name: workload.name,
      ...(workload.source ? { source: workload.source } : {}),
      connections: load.connections,
      ...(shape.kind === 'duration' ? { durationMs: shape.durationMs } : { count: shape.requests }),
      ...(load.warmupMs ? { warmupMs: load.warmupMs } : {}),
      rounds: 1,
      analyze: options.analyze ?? false,
      writesRolledBack: false,
    };
    const finalized = await finalizeReport({
      target,
      control,
      snapshots: [first, previous],
      client: [],
      dropTransactionControl: false,
      workload: info,
      startedAt,
      ...(stoppedBy !== undefined ? { stoppedBy } : {}),
      warnings,
      errors: records.reduce((s, r) => s + r.result.errors, 0),
      routes,
      analysis: options,
      onStep: step,
      ...(options.signal ? { signal: options.signal } : {}),
      // The application exited or stopped answering: the database is still there to explain what ran.
      planWhenStopped: true,
    });
    const analyzed = options.analyze ? recordAnalyze(finalized) : finalized;
    const report =
      writes.length > 0
        ? { ...analyzed, warnings: [...writeWarnings(writes, analyzed), ...analyzed.warnings] }
        : analyzed;

    if (appExit) {
      const tail =
        app
          ?.outputTail()
          .slice(-10)
          .map((l) => `  app: ${l}`) ?? [];
      throw new RunFailedError(
        'APP_EXITED',
        `the application ${describeExit(appExit)} during the run`,
        report,
        tail.length ? ['last lines of the application output:', ...tail] : [],
      );
    }
    if (stoppedBy && !options.signal?.aborted) {
      // A hang and a route slower than the request timeout look the same from outside: nothing
      // answered within it. The timeout is the scenario's to raise.
      const timeout = seconds(load.timeoutMs);
      const late = stalledIn?.result.lateResponses ?? 0;
      const unanswered = stalledIn
        ? [
            `  phase "${stalledIn.phase}": ${stalledIn.result.responses} response(s), ` +
              `${stalledIn.result.errors} request(s) without one`,
            ...(running.length > 0
              ? [
                  '  statements of the application still running on the database when it stopped answering (pg_stat_activity):',
                  ...running.slice(0, RUNNING_SHOWN).map((r) => `    ${describeRunning(r)}`),
                  ...(running.length > RUNNING_SHOWN ? [`    and ${running.length - RUNNING_SHOWN} more`] : []),
                  `  no request was answered within the request timeout (${timeout}): the requests wait for these ` +
                    'statements; raise timeout: under http.load to let them finish and be measured',
                ]
              : late > 0
                ? [
                    `  no request was answered within the request timeout (${timeout}); ${late} were answered later: ` +
                      'the application is slower than the timeout, raise it (http.load.timeout)',
                  ]
                : [
                    `  no request was answered within the request timeout (${timeout}): ` +
                      'the application hangs, or its requests take longer than that (http.load.timeout)',
                  ]),
          ]
        : [];
      throw new RunFailedError('APP_UNREACHABLE', `${stoppedBy} at ${baseUrl}`, report, unanswered);
    }
    if (!stoppedBy && report.run.complete) {
      // Checked before the application's failures: the scenario is to be fixed first, and a run
      // whose every route is missing records nothing, which would otherwise read as the wrong database.
      const missing = routes.flatMap((r, i) => {
        const answered = notFound(records[i]!.result.statusCounts);
        return answered && answered.total === r.requests ? [{ route: r, answered }] : [];
      });
      if (missing.length > 0) {
        const describe = ({ route: r, answered }: (typeof missing)[number]) =>
          `route "${r.name}" (${r.method} ${r.path}): all ${r.requests} responses were ${answered.codes}`;
        throw new RunFailedError(
          'ROUTE_NOT_FOUND',
          `${describe(missing[0]!)}: the application has no such route, so nothing was measured for it`,
          report,
          [
            ...missing.slice(1).map((m) => `  ${describe(m)}`),
            'hint: check the path and the method of the route in the scenario (404: no such path, or no such ' +
              'resource for any of its parameter values; 405: the path does not take that method)',
          ],
          'input',
        );
      }
      const limit = options.maxFailureShare ?? DEFAULT_MAX_FAILURE_SHARE;
      // Whatever the number of requests: a short phase or a long request timeout sends few of them.
      const failing = routes.filter(
        (r) => r.requests + r.errors > 0 && (r.status5xx + r.errors) / (r.requests + r.errors) > limit,
      );
      if (failing.length > 0) {
        const describe = (r: RouteReport) =>
          `route "${r.name}": ${Math.round(((r.status5xx + r.errors) / (r.requests + r.errors)) * 100)}% of ${r.requests + r.errors} requests failed (5xx or no response)`;
        throw new RunFailedError(
          'APP_FAILING',
          `the application is failing: ${describe(failing[0]!)}; the measurement is not meaningful`,
          report,
          failing.slice(1).map((r) => `  ${describe(r)}`),
        );
      }
    }
    if (recordedNothing(report)) {
      const responses = routes.reduce((s, r) => s + r.requests, 0);
      throw new RunFailedError(
        'NOTHING_RECORDED',
        `pg_stat_statements recorded no statement in database "${target.info.database}" during the run, ` +
          `although the routes got ${responses} response(s): the load does not reach this database, and the ` +
          'measurement is void',
        report,
        [
          app
            ? `hint: the application was started with DATABASE_URL of ${target.kind === 'embedded' ? 'the embedded database querygate started' : 'the target database'}: ` +
              'it must connect with it, not with a database of its own'
            : `hint: --database-url must name the database that the application at ${baseUrl} uses`,
        ],
      );
    }
    return report;
  } finally {
    await app?.stop();
    await control.close();
  }
}

/**
 * A route's own phase answered only with 404 Not Found and 405 Method Not Allowed (the statuses of a
 * route the application does not have): how many, and which (`404 Not Found`, `405 Method Not
 * Allowed`, or both). Undefined when it had no response or any other status.
 */
function notFound(statusCounts: Readonly<Record<string, number>>): { total: number; codes: string } | undefined {
  const entries = Object.entries(statusCounts).filter(([, n]) => n > 0);
  if (entries.length === 0 || entries.some(([code]) => code !== '404' && code !== '405')) return undefined;
  const names: Record<string, string> = { '404': '404 Not Found', '405': '405 Method Not Allowed' };
  return {
    total: entries.reduce((sum, [, n]) => sum + n, 0),
    codes: entries
      .map(([code]) => code)
      .sort()
      .map((code) => names[code]!)
      .join(' or '),
  };
}

/**
 * The warning for a route's responses that were not 2xx, in classes (5xx: the application failed;
 * 4xx: the request was refused, often a replay problem such as a missing body or stale credentials)
 * and by status code. `statusCounts` are the route's own phase's, which requested only that route.
 */
export function non2xxWarning(route: RouteReport, statusCounts: Readonly<Record<string, number>>): string {
  const count = (from: number, to: number) =>
    Object.entries(statusCounts).reduce((s, [code, n]) => (Number(code) >= from && Number(code) < to ? s + n : s), 0);
  const clientErrors = count(400, 500);
  const other = route.non2xx - route.status5xx - clientErrors;
  const codes = Object.entries(statusCounts)
    .filter(([code]) => Number(code) < 200 || Number(code) >= 300)
    .sort((a, b) => b[1] - a[1] || Number(a[0]) - Number(b[0]))
    .slice(0, 5)
    .map(([code, n]) => `${code} ×${n}`);
  return (
    `route "${route.name}": ${route.non2xx} of ${route.requests} responses were not 2xx: ` +
    `${route.status5xx} server errors (5xx), ${clientErrors} client errors (4xx)` +
    (other > 0 ? `, ${other} other (1xx, 3xx)` : '') +
    (codes.length > 0 ? `; by status: ${codes.join(', ')}` : '')
  );
}

/**
 * What became of a route's requests that timed out: the phase waited for their answers (up to the
 * request timeout again), so that the statements the application ran for them count in it.
 */
function lateWarnings(route: string, result: PhaseResult, timeoutMs: number): string[] {
  const timeout = seconds(timeoutMs);
  const warnings: string[] = [];
  if (result.lateResponses > 0) {
    warnings.push(
      `route "${route}": ${result.lateResponses} request(s) were answered only after the request timeout (${timeout}): ` +
        'counted as failed and left out of the latency; the phase waited for their answers, so their statements count in it',
    );
  }
  // A phase that stopped the run has no next phase to count them in.
  if (result.abandoned > 0 && !result.stoppedBy) {
    warnings.push(
      `route "${route}": ${result.abandoned} request(s) were still unanswered ${timeout} after they timed out, when ` +
        'querygate stopped waiting: statements the application still ran for them may be counted in the next phase',
    );
  }
  return warnings;
}

/** Per-route figures: HTTP side from each route's own phase, database side from its snapshot delta. */
async function attributeRoutes(
  control: Session,
  workload: HttpWorkload,
  records: readonly PhaseRecord[],
  mixed: PhaseResult | undefined,
): Promise<RouteReport[]> {
  const deltas = records.map((r) => diffSnapshots(r.before, r.after));
  const texts = await fetchQueryTexts(control, deltas.flat());
  return workload.routes.slice(0, Math.min(workload.routes.length, records.length)).map((route, i): RouteReport => {
    const { result } = records[i]!;
    // What the application sent: a statement run inside a function is in its caller's time.
    const queries = topLevel(
      assembleQueries({
        deltas: deltas[i]!,
        roundDeltas: [],
        texts,
        client: [],
        dropTransactionControl: false,
      }),
    );
    // Requests the application received: answered, timed out, or still running when the phase stopped.
    const served = result.responses + result.timeouts + result.inFlight;
    const per = (v: number) => (served > 0 ? round3(v / served) : 0);
    const own = result.perRoute[0]!;
    const mixedOutcome = mixed?.perRoute[i];
    return {
      name: route.name,
      method: route.method,
      path: route.path,
      requests: result.responses,
      errors: result.errors,
      non2xx: result.non2xx,
      status5xx: result.status5xx,
      throughput: result.durationMs > 0 ? round1((result.responses / result.durationMs) * 1000) : 0,
      phaseMs: result.durationMs,
      latency: routeLatency(own.latencies),
      dbMsPerRequest: per(queries.reduce((s, q) => s + q.totalMs, 0)),
      statementsPerRequest: per(queries.reduce((s, q) => s + q.calls, 0)),
      statements: queries
        .map((q) => ({ fingerprint: q.fingerprint, callsPerRequest: per(q.calls), dbMsPerRequest: per(q.totalMs) }))
        .sort((a, b) => b.dbMsPerRequest - a.dbMsPerRequest || b.callsPerRequest - a.callsPerRequest),
      ...(mixed && mixedOutcome
        ? {
            mixed: {
              requests: mixedOutcome.responses,
              non2xx: mixedOutcome.non2xx,
              throughput: mixed.durationMs > 0 ? round1((mixedOutcome.responses / mixed.durationMs) * 1000) : 0,
              latency: routeLatency(mixedOutcome.latencies),
            },
          }
        : {}),
    };
  });
}

function routeLatency(latencies: readonly number[]): RouteLatency {
  const s = summarizeLatencies(latencies);
  return s
    ? { p50: s.p50, p90: s.p90, p99: s.p99, meanMs: s.meanMs, maxMs: s.maxMs }
    : { p50: 0, p90: 0, p99: 0, meanMs: 0, maxMs: 0 };
}

/** Statements shown under APP_UNREACHABLE; the report's warning names as many. */
const RUNNING_SHOWN = 3;

/**
 * A statement the application's sessions were running on the database (pg_stat_activity), its
 * text normalized: constants become `$n`, as in pg_stat_statements, so no value is printed.
 */
export interface RunningStatement {
  readonly query: string;
  /** Sessions running it. */
  readonly sessions: number;
  /** How long the longest of them had run, ms. */
  readonly longestMs: number;
  /** The lock it waits for (pg_stat_activity.wait_event of type Lock), when one does. */
  readonly waitingFor?: string;
}

/**
 * The statements other sessions of the database (the application's; not querygate's own) are
 * running now, longest first, one entry per normalized text.
 */
export async function runningStatements(control: Session): Promise<RunningStatement[]> {
  const { rows } = await control.query<{ query: string; running_ms: number; lock: string | null }>(
    `SELECT ${INTERNAL_MARK} query,
            (extract(epoch FROM clock_timestamp() - query_start) * 1000)::float8 AS running_ms,
            CASE WHEN wait_event_type = 'Lock' THEN wait_event END AS lock
       FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
        AND state = 'active' AND query_start IS NOT NULL AND application_name NOT LIKE 'querygate%'
      ORDER BY query_start`,
  );
  const byText = new Map<string, { sessions: number; longestMs: number; waitingFor?: string }>();
  for (const row of rows) {
    const query = redactSecrets(hideConstants(row.query));
    const seen = byText.get(query) ?? { sessions: 0, longestMs: 0 };
    byText.set(query, {
      sessions: seen.sessions + 1,
      longestMs: Math.max(seen.longestMs, row.running_ms),
      ...(seen.waitingFor ? { waitingFor: seen.waitingFor } : row.lock ? { waitingFor: row.lock } : {}),
    });
  }
  return [...byText].map(([query, r]) => ({ query, ...r })).sort((a, b) => b.longestMs - a.longestMs);
}

/**
 * A statement's text with its constants replaced by `$n`; text the parser cannot read (cut at
 * track_activity_query_size) with its quoted strings and numbers replaced by `?`.
 */
function hideConstants(sql: string): string {
  if (tryParse(sql)) return normalizeStatement(sql);
  return sql.replace(/'(?:[^']|'')*'?/g, '?').replace(/(?<![\w$])\d+(?:\.\d+)?/g, '?');
}

/** `2 sessions, running for 12.3 s: SELECT ...` */
function describeRunning(r: RunningStatement): string {
  return (
    `${r.sessions === 1 ? '1 session' : `${r.sessions} sessions`}, running for ${seconds(r.longestMs)}` +
    `${r.sessions > 1 ? ' (the longest)' : ''}${r.waitingFor ? `, waiting for a lock (${r.waitingFor})` : ''}: ` +
    clip(r.query.replace(/\s+/g, ' ').trim(), 200)
  );
}

/** The report's warning: what the database ran when the application stopped answering. */
function runningWarning(phase: string, running: readonly RunningStatement[], timeoutMs: number): string {
  return (
    `when the application stopped answering in phase "${phase}", its sessions were still running ` +
    `${running.length} statement(s) on the database: ` +
    running
      .slice(0, RUNNING_SHOWN)
      .map((r) => describeRunning(r))
      .join('; ') +
    (running.length > RUNNING_SHOWN ? `; and ${running.length - RUNNING_SHOWN} more` : '') +
    `: the requests waited for them past the request timeout (${seconds(timeoutMs)}); ` +
    'raise timeout: under http.load to let them finish and be measured'
  );
}

/**
 * Waits until no other session of the database runs a statement or holds a transaction open, seen
 * three times in a row (the application may be between two statements of one request). Returns
 * false when other sessions stayed busy until the timeout.
 */
export async function waitForQuiet(control: Session, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (Date.now() < deadline) {
    const { rows } = await control.query<{ busy: number }>(
      `SELECT ${INTERNAL_MARK} count(*)::int AS busy FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          AND state <> 'idle' AND application_name NOT LIKE 'querygate%'`,
    );
    quiet = (rows[0]?.busy ?? 0) === 0 ? quiet + 1 : 0;
    if (quiet >= 3) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}
