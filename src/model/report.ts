import type { CapturedPlan, ExplainAs } from './plan.js';
import type { Finding, Suppression } from './finding.js';
import type { GateResult } from './budget.js';

/** Version of the report format. Bump on incompatible change; readers reject other versions. */
export const REPORT_VERSION = 1;

/**
 * Everything querygate learned in one run. Plain JSON: it survives a round trip through a file,
 * because `check`, `compare` and `budget init` read saved reports.
 */
export interface Report {
  readonly version: typeof REPORT_VERSION;
  readonly tool: { readonly name: 'querygate'; readonly version: string };
  readonly createdAt: string;
  readonly target: TargetInfo;
  readonly workload: WorkloadInfo;
  readonly run: RunInfo;
  readonly totals: Totals;
  /**
   * Statements ranked by total database time, most expensive first: the top-level ones (what the
   * workload sent), then those that ran inside functions and triggers (`nested`), whose time is part
   * of their callers' and is not counted again in `totals`.
   */
  readonly queries: readonly QueryReport[];
  /** Every relation that appears in a captured plan. */
  readonly relations: readonly RelationInfo[];
  /** Per HTTP route, when the workload was HTTP traffic. */
  readonly routes?: readonly RouteReport[];
  readonly warnings: readonly string[];
  /** The budget gate's verdict, when the run or `check` evaluated one. */
  readonly gate?: GateResult;
}

export interface TargetInfo {
  readonly kind: 'embedded' | 'external';
  /** e.g. "18.1". */
  readonly serverVersion: string;
  /** e.g. 180001 (server_version_num). */
  readonly serverVersionNum: number;
  readonly database: string;
  /** host:port with no credentials. */
  readonly address: string;
  readonly pgStatStatementsVersion: string;
  /**
   * `pg_stat_statements.track` for querygate's connection: `all` records the statements run inside
   * functions and triggers too (reported as `nested` statements), `top` only what clients sent.
   * Absent in reports made before it was recorded.
   */
  readonly pgStatStatementsTrack?: 'top' | 'all';
}

export interface WorkloadInfo {
  readonly kind: 'sql' | 'scenario' | 'http' | 'external';
  readonly name: string;
  /** Path of the workload or scenario file, as given (relative to where the run was started). */
  readonly source?: string;
  /** The same file's absolute path on the machine that ran the workload. */
  readonly sourcePath?: string;
  /**
   * The same file's path from the root of its repository (`/`-separated), when it is in one: how
   * `check` points annotations at it from another directory or another checkout.
   */
  readonly sourceRepoPath?: string;
  readonly connections: number;
  /** Calls per statement (SQL file mode). */
  readonly repeat?: number;
  /** Total statement count (scenario count mode). */
  readonly count?: number;
  readonly durationMs?: number;
  readonly warmupMs?: number;
  /** Measurement rounds: statistics are snapshotted after each, so timings have a spread. */
  readonly rounds: number;
  readonly analyze: boolean;
  /**
   * Whether every replayed statement ran inside a transaction that was rolled back (SQL replay on an
   * external database without --allow-writes), so that what it wrote, itself or through a function
   * it calls, was undone; sequences advanced all the same.
   */
  readonly writesRolledBack: boolean;
  /**
   * SHA-256 of the schema and seed files' contents, in the order applied, when querygate built the
   * database from them alone (SQL and scenario runs on the embedded server). Two reports with the
   * same digest planned against the same schema and data, up to ANALYZE's random sample.
   */
  readonly setupSha256?: string;
  /** The external command, for `capture -- <command>`, with passwords masked (`*****`). */
  readonly command?: readonly string[];
  /** The role and settings statements were planned as (`--explain-role`, `--explain-setting`, `explain:`). */
  readonly explainAs?: ExplainAs;
}

export interface RunInfo {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** False when the run was interrupted: the report holds what was captured so far. */
  readonly complete: boolean;
  readonly interruptedBy?: string;
  /**
   * Statements of a SQL replay's workload that were never called (a `duration` too short for one
   * call of each, a `count` whose share by weight gave one none, an interrupted run): nothing was
   * measured of them, so they have no entry in `queries`. Absent when every statement was called.
   */
  readonly notCalled?: readonly NotCalledStatement[];
}

/** A workload statement the replay never called. */
export interface NotCalledStatement {
  readonly fingerprint: string;
  /** Scenario statement name(s), or `file:line`. */
  readonly name: string;
  /** Its text, normalized like `queries[].query`. */
  readonly query: string;
  /** A scenario statement's line in its file. */
  readonly line?: number;
}

/**
 * The run's figures, over its top-level statements: a statement run inside a function or a trigger
 * (`QueryReport.nested`) is part of its caller's calls and time, so it is not counted again.
 */
export interface Totals {
  /** Top-level statements. */
  readonly statements: number;
  readonly calls: number;
  /** Database execution time of all top-level statements in the run, ms (pg_stat_statements). */
  readonly totalMs: number;
  /** Client-side statement errors during the replay. */
  readonly errors: number;
  /** Statements replayed per second by the client (SQL replay only). */
  readonly throughput?: number;
}

export type StatementKind = 'select' | 'insert' | 'update' | 'delete' | 'merge' | 'utility' | 'other';

/** Client-side latency of a statement as seen by the replaying connection, ms. */
export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly maxMs: number;
}

/** One measurement round of a statement (delta between two statistics snapshots). */
export interface RoundStats {
  readonly calls: number;
  readonly totalMs: number;
  readonly meanMs: number;
}

/** One statement, aggregated over every pg_stat_statements entry with the same fingerprint. */
export interface QueryReport {
  /** libpg-query fingerprint: stable across databases, branches and servers (unlike queryid). */
  readonly fingerprint: string;
  /** Normalized text as pg_stat_statements stores it ($1 for constants). */
  readonly query: string;
  readonly kind: StatementKind;
  /** Name given in a scenario, or `file:line` of a workload statement. */
  readonly source?: string;
  /** Line of a scenario's statement in its file (where its `sql` begins), for annotations. */
  readonly line?: number;
  readonly calls: number;
  /** pg_stat_statements times are milliseconds. */
  readonly totalMs: number;
  readonly meanMs: number;
  /** Exact only for entries first seen in this run; null otherwise. */
  readonly minMs: number | null;
  readonly maxMs: number | null;
  readonly stddevMs: number;
  /**
   * Share of the run's database time (`totals.totalMs`), 0..1. A nested statement's share is of the
   * same total, and is part of its callers' shares.
   */
  readonly dbTimeShare: number;
  readonly rows: number;
  readonly rowsPerCall: number;
  readonly sharedBlksHit: number;
  readonly sharedBlksRead: number;
  readonly sharedBlksDirtied: number;
  readonly sharedBlksWritten: number;
  /** (hit + read) / calls. */
  readonly sharedBlksPerCall: number;
  readonly tempBlksRead: number;
  readonly tempBlksWritten: number;
  readonly walBytes: number;
  /** Planning time (only when pg_stat_statements.track_planning is on), ms. */
  readonly planMs: number | null;
  readonly latency: LatencySummary | null;
  readonly errors: number;
  /** Up to three distinct error messages seen by the client. */
  readonly errorSamples: readonly string[];
  /**
   * Calls still running when the run stopped early (an interrupt), which querygate cancelled: not
   * failures of the statement, so counted neither in `calls` nor in `errors`. Absent when none.
   */
  readonly cancelledAtStop?: CancelledAtStop;
  /**
   * Largest numeric value the replay sent for each `$n` (null where a value was not a number),
   * for rules that care about the worst case, such as a deep OFFSET.
   */
  readonly paramMax?: readonly (number | null)[];
  readonly rounds: readonly RoundStats[];
  readonly plan: CapturedPlan | null;
  /** Why there is no plan (utility statement, EXPLAIN failed, ...). */
  readonly planNote?: string;
  /** Schema-qualified relations in the plan. */
  readonly relations: readonly string[];
  readonly findings: readonly Finding[];
  readonly suppressed: readonly SuppressedFinding[];
  /** Per HTTP route: how often one request runs this statement. */
  readonly routes?: readonly { readonly route: string; readonly callsPerRequest: number }[];
  /**
   * Set on a statement that ran inside a function or a trigger (pg_stat_statements' `toplevel` is
   * false): its time is part of its callers' time. Absent on the statements the workload sent.
   */
  readonly nested?: NestedInfo;
  /**
   * The functions of the database (PL/pgSQL, SQL) a top-level statement runs: those it calls, those
   * they call, and the trigger functions of the tables they write. Absent when it runs none.
   */
  readonly functions?: readonly CalledFunction[];
}

/** Where a statement that ran inside a function comes from. */
export interface NestedInfo {
  /**
   * The functions (`schema.name`) whose body holds the statement; empty when none does as far as
   * querygate can see (a statement built at run time, `EXECUTE`, or a function it does not read).
   */
  readonly functions: readonly string[];
  /** Fingerprints of the run's top-level statements that run one of those functions. */
  readonly callers: readonly string[];
}

/** A function a top-level statement runs. */
export interface CalledFunction {
  /** `schema.name`. */
  readonly name: string;
  /** `plpgsql`, `sql`. */
  readonly language: string;
  /** How the statement reaches it, when not by calling it: `trigger audit on retail.sales`, `retail.outer()`. */
  readonly via?: string;
}

/** Statements with the same fingerprint at top level and inside a function are two statements: the key of either. */
export function statementKey(query: Pick<QueryReport, 'fingerprint' | 'nested'>): string {
  return query.nested ? `${query.fingerprint}:nested` : query.fingerprint;
}

/** The statements the workload sent (not the ones run inside functions): what totals and shares add up. */
export function topLevel<T extends Pick<QueryReport, 'nested'>>(queries: readonly T[]): T[] {
  return queries.filter((q) => !q.nested);
}

/** Calls of a statement cut short by the stop of an interrupted run. */
export interface CancelledAtStop {
  readonly calls: number;
  /** How long the longest of them had run when it was cancelled, ms (client time). */
  readonly longestMs: number;
}

export interface SuppressedFinding extends Suppression {
  readonly finding: Finding;
}

export interface IndexInfo {
  readonly name: string;
  /** pg_get_indexdef(). */
  readonly definition: string;
  readonly method: string;
  /** Key columns in order; an expression key is null here and spelled out in `expressions`. */
  readonly columns: readonly (string | null)[];
  readonly expressions: readonly string[];
  readonly unique: boolean;
  readonly primary: boolean;
  readonly partial: boolean;
  readonly valid: boolean;
  readonly sizeBytes: number;
}

/** A function (or the function of an operator) that keeps an expression from being indexed. */
export interface RefusingFunction {
  /** As the catalog names it (`regprocedure`): `date(timestamp with time zone)`. */
  readonly function: string;
  /** `pg_proc.provolatile`, where it is not IMMUTABLE; absent for an aggregate or window function. */
  readonly volatility?: 'stable' | 'volatile';
  /** `pg_proc.prokind` of an aggregate or window function. */
  readonly kind?: 'aggregate' | 'window';
  /** The operator the function implements (`+`), when the expression uses it as one. */
  readonly operator?: string;
  /**
   * A conversion through text the function performs (the input function of the target type, the
   * output function of the source): `to date`, `of timestamp with time zone to text`.
   */
  readonly conversion?: string;
}

/**
 * Why PostgreSQL refuses an index on an expression: `aggregate`, it holds an aggregate or window
 * function, whose value comes from many rows, where an index entry is computed from one; `mutable`,
 * a function, operator or cast in it is not IMMUTABLE (its result may change with settings such as
 * TimeZone, or between calls); `other`, the server's message says why.
 */
export interface ExpressionRefusal {
  readonly reason: 'aggregate' | 'mutable' | 'other';
  /** What the catalog names as the cause (empty when it names none: a conversion through text). */
  readonly functions: readonly RefusingFunction[];
  /** The server's message when it refused the index. */
  readonly message: string;
}

export interface RelationInfo {
  /** schema.table */
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  readonly kind: 'table' | 'partitioned-table' | 'materialized-view' | 'other';
  /** pg_class.reltuples: the planner's estimate (-1 when never analyzed). */
  readonly estimatedRows: number;
  /**
   * pg_stat_user_tables.n_live_tup. A partitioned table stores nothing itself: its `liveRows`,
   * `pages`, `sizeBytes` and `totalSizeBytes` (and its indexes' `sizeBytes`) are the sums over its
   * leaf partitions.
   */
  readonly liveRows: number;
  readonly pages: number;
  readonly sizeBytes: number;
  readonly totalSizeBytes: number;
  readonly lastAnalyzed: string | null;
  /** For a partition: the partitioned table at the root of its tree (schema.table). */
  readonly partitionOf?: string;
  /** For a partitioned table: how many leaf partitions it has (the default partition included). */
  readonly partitionCount?: number;
  /** For a partitioned table: the columns of its partition key (absent for a key of expressions only). */
  readonly partitionKey?: readonly string[];
  /** Column name -> type as `format_type` prints it (`integer`, `character varying(80)`); absent in older reports. */
  readonly columnTypes?: Readonly<Record<string, string>>;
  /**
   * For the columns whose type is a domain (`CREATE DOMAIN code AS char(3)`): column name -> the
   * domain's base type as `pg_type.typname` names it (`bpchar`, `int4`, `text`; through domains over
   * domains). A plan prints a comparison on such a column with a cast to that type
   * (`((country)::bpchar = 'DEU'::bpchar)`), which an index on the column serves. Absent when no
   * column is a domain, and in older reports.
   */
  readonly domainBaseTypes?: Readonly<Record<string, string>>;
  /**
   * Expressions over the table's columns that a captured plan sorts or groups by, or that a scan's
   * condition compares, keyed by their SQL without qualifiers (`date_trunc('month'::text, paid_at)`):
   * true when PostgreSQL accepts an index on the expression, false when it refuses one (a function
   * that is not IMMUTABLE, such as `date_trunc` on a timestamptz, or an aggregate). Absent when none
   * was checked.
   */
  readonly indexableExpressions?: Readonly<Record<string, boolean>>;
  /**
   * Why PostgreSQL refuses an index on each expression `indexableExpressions` says false of, read
   * from the catalog; absent in older reports, or when the catalog could not be read.
   */
  readonly expressionRefusals?: Readonly<Record<string, ExpressionRefusal>>;
  /**
   * Column name -> `pg_stats.n_distinct` of the analyzed columns: the number of distinct values, or,
   * when negative, minus their share of the rows (-1: every row differs). Absent in older reports.
   */
  readonly nDistinct?: Readonly<Record<string, number>>;
  /**
   * Column name -> `pg_stats.correlation` of the analyzed columns (-1..1): how closely the column's
   * values follow the table's physical order, which decides how many blocks a BRIN index on it can
   * skip. Absent for a partitioned table, and in older reports.
   */
  readonly correlation?: Readonly<Record<string, number>>;
  /**
   * Column name -> `pg_stats.null_frac` of the analyzed columns: the share of the rows whose value is
   * NULL. Absent in older reports.
   */
  readonly nullFraction?: Readonly<Record<string, number>>;
  /** The columns declared NOT NULL (`pg_attribute.attnotnull`). Absent in older reports. */
  readonly notNullColumns?: readonly string[];
  /**
   * Stored generated columns: column name -> the expression it holds, as the server prints it
   * (`to_tsvector('english'::regconfig, body)`). A filter that computes the same expression can be
   * written on the column, and use its index and statistics. Absent when there are none, and in
   * older reports.
   */
  readonly generatedColumns?: Readonly<Record<string, string>>;
  readonly indexes: readonly IndexInfo[];
}

export interface RouteReport {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  /** Responses received in the route's own phase (any status). */
  readonly requests: number;
  /** Requests without a response: connection errors and timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  /** Responses with a 5xx status (included in non2xx). */
  readonly status5xx: number;
  /** Responses per second in the route's own phase. */
  readonly throughput: number;
  /** Length of the route's own phase, ms, with the wait for the requests in flight at its end. */
  readonly phaseMs: number;
  /** Client-side latency in the route's own phase, ms. */
  readonly latency: RouteLatency;
  /** Database execution time per request, ms (pg_stat_statements, route's own phase). */
  readonly dbMsPerRequest: number;
  readonly statementsPerRequest: number;
  /** Statements the route ran, by database time per request, most expensive first. */
  readonly statements: readonly {
    readonly fingerprint: string;
    readonly callsPerRequest: number;
    readonly dbMsPerRequest: number;
  }[];
  /** The same route in the mixed phase, under the concurrency of every route at its weight. */
  readonly mixed?: {
    readonly requests: number;
    readonly non2xx: number;
    readonly throughput: number;
    readonly latency: RouteLatency;
  };
}

export interface RouteLatency {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly meanMs: number;
  readonly maxMs: number;
}
