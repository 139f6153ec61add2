/** A workload as querygate replays it, whether it came from a SQL file or a scenario. */
import type { ExplainAs } from './plan.js';

/** Produces the value of one `$n` parameter for each call. */
export type ParamGenerator =
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'pick'; readonly values: readonly (string | number | boolean | null)[] }
  | { readonly kind: 'seq'; readonly start: number; readonly step: number }
  | { readonly kind: 'string'; readonly length: number; readonly alphabet: string }
  | { readonly kind: 'value'; readonly value: string | number | boolean | null };

export interface WorkloadStatement {
  /** Scenario name; in a plain SQL workload, the leading comment, else `file:line` (`statementNameOf`). */
  readonly name: string;
  /**
   * The line of the statement's first keyword in its file (past the comments that belong to it),
   * whatever the YAML style of a scenario's `sql` (the line of the field itself for a string whose
   * source querygate cannot place character by character).
   */
  readonly line?: number;
  /** The file it is in, as messages name it (a scenario's, where `origin` cannot place it). */
  readonly file?: string;
  readonly sql: string;
  readonly weight: number;
  readonly params: readonly ParamGenerator[];
  /** Highest $n in the statement. */
  readonly paramCount: number;
  readonly fingerprint: string;
  readonly write: boolean;
  /**
   * Known not to write (a SELECT that calls no volatile function and reads no view), from the
   * target's catalog before the replay: it runs as it is, outside the rolled-back transaction that
   * every other statement runs in on an external database without --allow-writes.
   */
  readonly readOnly?: boolean;
  /**
   * Where the statement's text (leading comments included) begins in its file: a plain SQL
   * workload's, or a scenario's (its `sql` field, whatever its YAML style).
   */
  readonly origin?: {
    readonly file: string;
    readonly line: number;
    readonly column: number;
    readonly indent?: number;
    readonly map?: TextMap;
  };
  /** Scenario statements: the field of the statement's text, `statements[i].sql`, named in errors. */
  readonly field?: string;
  /** Scenario statements: where each `params` entry is, `file:line:column: statements[i].params[k]`. */
  readonly paramsAt?: readonly string[];
}

/**
 * Where the characters of a text lie in its file, for text whose lines are not the file's lines
 * less an indentation: a folded (`>`) YAML block, whose lines are joined, or a string written over
 * several lines. Plain data: it travels with the statement.
 */
export interface TextMap {
  /**
   * In increasing `offset`: from `offset` (into the text) on, characters lie one after another on
   * `line` of the file, from `column` on (1-based, in UTF-16 code units as JavaScript counts them).
   */
  readonly runs: readonly { readonly offset: number; readonly line: number; readonly column: number }[];
  /** The line of the file of `lines[0]`. */
  readonly line: number;
  /** The file's lines the text spans, each from where the text (or its indentation) begins on it, shown under an error. */
  readonly lines: readonly string[];
  /** The column of the file each of `lines` starts at. */
  readonly columns: readonly number[];
}

export type LoadShape =
  | { readonly kind: 'repeat'; readonly repeat: number }
  | { readonly kind: 'count'; readonly count: number }
  | { readonly kind: 'duration'; readonly durationMs: number };

export interface SetupFile {
  readonly path: string;
  readonly sql: string;
}

export interface Workload {
  readonly kind: 'sql' | 'scenario';
  readonly name: string;
  readonly source?: string;
  readonly statements: readonly WorkloadStatement[];
  readonly setup: { readonly schema: readonly SetupFile[]; readonly seed: readonly SetupFile[] };
  readonly load: {
    readonly connections: number;
    readonly shape: LoadShape;
    readonly warmupMs: number;
    readonly rounds: number;
    /**
     * statement_timeout of every replayed statement, ms: a runaway statement fails (and is reported)
     * instead of holding the run and the database. Undefined in reports written before it existed.
     */
    readonly statementTimeoutMs?: number;
    /** Threads the connections are split over; undefined: one per core, at most one per connection. */
    readonly threads?: number;
  };
  /** What the run should know of the workload as loaded (a statement that cannot run in every round). */
  readonly warnings?: readonly string[];
  /** The scenario's `explain:` section: the role and settings to plan as. */
  readonly explain?: ExplainAs;
}

/** One HTTP endpoint of an HTTP workload. `{name}` placeholders in path, headers and body take values from `params`. */
export interface HttpRoute {
  readonly name: string;
  /** Upper case, e.g. GET. */
  readonly method: string;
  /** Path template with query string, e.g. `/orders/{id}?expand={expand}`. */
  readonly path: string;
  readonly params: Readonly<Record<string, ParamGenerator>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly weight: number;
  /**
   * Imported routes: the requests as they were recorded. Each replayed request is one of them,
   * picked by how often it was seen, with its own target, headers and body; `path` is then the
   * route's template, for reading only, and `params` is empty.
   */
  readonly recorded?: readonly RecordedRequest[];
}

/** One distinct request of an imported route, as recorded in a HAR file or an access log. */
export interface RecordedRequest {
  /** Path with query string, as recorded (already percent-encoded), e.g. `/q?tag=a&tag=b`. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** How many times it was seen. */
  readonly count: number;
}

/** The application under test, started and stopped by querygate. */
export interface HttpApp {
  /** A shell command (string) or an argv list. */
  readonly command: string | readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** Port given to the app as PORT; `auto` picks a free one. */
  readonly port: number | 'auto';
  /** Path or absolute URL polled until it answers 2xx. */
  readonly ready: string;
  readonly readyTimeoutMs: number;
  readonly stopTimeoutMs: number;
}

export type HttpLoadShape =
  { readonly kind: 'duration'; readonly durationMs: number } | { readonly kind: 'requests'; readonly requests: number };

export interface HttpLoad {
  readonly connections: number;
  /** Length of each phase (one per route, then the mixed phase). */
  readonly shape: HttpLoadShape;
  /** Requests per second over all connections; undefined: as fast as the app answers. */
  readonly rate?: number;
  readonly warmupMs: number;
  /** Run the mixed phase (all routes at their weights) after the per-route phases. */
  readonly mixed: boolean;
  /** Per-request timeout, ms. */
  readonly timeoutMs: number;
}

/** An HTTP workload: traffic replayed against an application that talks to the target database. */
export interface HttpWorkload {
  readonly kind: 'http';
  readonly name: string;
  readonly source?: string;
  readonly setup: { readonly schema: readonly SetupFile[]; readonly seed: readonly SetupFile[] };
  /** Started with DATABASE_URL of the target; without it, `baseUrl` must point at a running app. */
  readonly app?: HttpApp;
  /** Undefined only with an app on an `auto` port (known once the port is picked). */
  readonly baseUrl?: string;
  readonly routes: readonly HttpRoute[];
  readonly load: HttpLoad;
  /** Problems found while importing HAR files or access logs (bad lines are counted and skipped). */
  readonly warnings: readonly string[];
  /** The scenario's `explain:` section: the role and settings to plan as. */
  readonly explain?: ExplainAs;
}
