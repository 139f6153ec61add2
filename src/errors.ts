/**
 * querygate's error hierarchy. Every error the user can cause or fix carries a stable `code`;
 * the CLI maps the class to an exit code (input: 2, environment: 3). A finding is a value, never
 * an error. Anything else that escapes is a bug and is printed with its stack.
 */
import type { Report } from './model/report.js';

/** Stable codes for errors caused by what the user passed in (exit code 2). */
export type InputErrorCode =
  | 'USAGE'
  | 'FILE_NOT_FOUND'
  | 'FILE_UNREADABLE'
  | 'FILE_NOT_UTF8'
  | 'REPORT_INCOMPLETE'
  | 'CONFIG_INVALID'
  | 'SCENARIO_INVALID'
  | 'BUDGET_INVALID'
  | 'REPORT_INVALID'
  | 'SQL_PARSE_FAILED'
  | 'SQL_FAILED'
  | 'SQL_NOT_REPLAYABLE'
  | 'PARAM_INVALID'
  | 'HAR_INVALID'
  | 'ACCESS_LOG_INVALID'
  | 'WRITES_REFUSED'
  | 'ROUTE_NOT_FOUND'
  | 'DATABASE_URL_REQUIRED'
  | 'OUTPUT_UNWRITABLE'
  | 'REPORTS_UNRELATED'
  | 'EXPLAIN_AS_INVALID';

/** Stable codes for errors caused by the environment (exit code 3). */
export type EnvironmentErrorCode =
  | 'PG_UNREACHABLE'
  | 'PG_AUTH_FAILED'
  | 'PG_STAT_STATEMENTS_MISSING'
  | 'PG_PERMISSION_DENIED'
  | 'PG_TOO_MANY_CONNECTIONS'
  | 'PG_VERSION_UNSUPPORTED'
  /** The server could not run a setup statement for a reason of its own: out of disk or memory, shutting down, a lock, an extension it does not have. */
  | 'PG_SERVER_ERROR'
  | 'EMBEDDED_START_FAILED'
  | 'APP_START_FAILED'
  | 'APP_UNREACHABLE'
  | 'APP_EXITED'
  | 'APP_FAILING'
  | 'COMMAND_FAILED'
  | 'NOTHING_RECORDED'
  | 'OUTPUT_WRITE_FAILED';

export type ErrorCode = InputErrorCode | EnvironmentErrorCode;

/** Base class: a message meant for the user, a stable code, and optional detail lines. */
export abstract class QuerygateError extends Error {
  abstract readonly kind: 'input' | 'environment';
  readonly code: ErrorCode;
  /** Extra lines printed under the message (e.g. the offending SQL with a caret). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, details: readonly string[] = []) {
    super(message);
    this.code = code;
    this.details = details;
    this.name = new.target.name;
  }
}

/** The user's input (flags, files, SQL) is wrong. Exit code 2. */
export class InputError extends QuerygateError {
  readonly kind = 'input' as const;
  constructor(code: InputErrorCode, message: string, details: readonly string[] = []) {
    super(code, message, details);
  }
}

/** The database, an extension, a permission or a process is not as needed. Exit code 3. */
export class EnvironmentError extends QuerygateError {
  readonly kind = 'environment' as const;
  constructor(code: EnvironmentErrorCode, message: string, details: readonly string[] = []) {
    super(code, message, details);
  }
}

/**
 * A run that failed but still left a report of what was captured: the CLI writes the report, then
 * reports the error. Mostly the environment (the application exited, answered mostly 5xx, the load
 * command failed: exit 3); with kind `input`, input that only the run could show wrong (a
 * scenario's route that the application does not have: exit 2).
 */
export class RunFailedError extends QuerygateError {
  readonly kind: 'input' | 'environment';
  constructor(code: EnvironmentErrorCode, message: string, report: Report, details?: readonly string[]);
  constructor(code: InputErrorCode, message: string, report: Report, details: readonly string[], kind: 'input');
  constructor(
    code: ErrorCode,
    message: string,
    readonly report: Report,
    details: readonly string[] = [],
    kind: 'input' | 'environment' = 'environment',
  ) {
    super(code, message, details);
    this.kind = kind;
  }
}

/**
 * A statement refused because the run was interrupted (Ctrl-C, SIGTERM): `reason` is the abort
 * reason, e.g. "interrupted by SIGINT". The run stops and reports what it captured until then.
 */
export class InterruptedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InterruptedError';
  }
}

export function isQuerygateError(error: unknown): error is QuerygateError {
  return error instanceof QuerygateError;
}
